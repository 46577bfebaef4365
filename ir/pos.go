package ir

import (
	"fmt"
)

// A Pos is a position in a model file. Line and Col are 1-based; the zero
// value means "unknown".
type Pos struct {
	File      string
	Line, Col int
}

// IsKnown reports whether p names a line.
func (p Pos) IsKnown() bool { return p.Line > 0 }

// String formats p as file:line:col, dropping what is unknown.
func (p Pos) String() string {
	s := p.File
	if p.Line > 0 {
		if s != "" {
			s += ":"
		}
		s += fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return s
}
