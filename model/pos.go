package model

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
)

// An Error is one problem in a model file: where it is (Pos), which key it
// concerns (Path, dotted, as in "hyper_connections.streams") and what is wrong
// (Msg, lower case without a final period, usually "got …, want …").
type Error struct {
	Pos  ir.Pos
	Path string
	Msg  string
	// more, on the last error of a full ErrorList, counts the problems
	// found past MaxErrors and not kept.
	more int
}

// MaxErrors is how many problems an ErrorList keeps. A file with millions
// of bad keys would otherwise spend gigabytes on messages (and their
// did-you-mean suggestions) nobody reads; the rest are counted.
const MaxErrors = 100

// maxMsg bounds one message: a value quoted in it is cut (quoteShort), and
// what still exceeds this is cut here.
const maxMsg = 1000

// Error formats e as file:line:col: path: message.
func (e *Error) Error() string {
	if e.more > 0 {
		s := fmt.Sprintf("and %d more problems (only the first %d are reported)", e.more, MaxErrors)
		if e.Pos.File != "" {
			s = e.Pos.File + ": " + s
		}
		return s
	}
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// An ErrorList is every problem found in one model file, reported together.
type ErrorList []*Error

// Add appends an error at pos for the key path.
//
// Past MaxErrors it only counts: the last element then says how many more
// there were (its Error is "and N more problems"), and Sort keeps it last.
func (l *ErrorList) Add(pos ir.Pos, path, format string, args ...any) {
	if n := len(*l); n >= MaxErrors {
		if last := (*l)[n-1]; last.more > 0 {
			last.more++
		} else {
			*l = append(*l, &Error{Pos: ir.Pos{File: pos.File}, more: 1})
		}
		return
	}
	msg := fmt.Sprintf(format, args...)
	if len(msg) > maxMsg {
		msg = strings.ToValidUTF8(msg[:maxMsg], "") + fmt.Sprintf("… (%d bytes more)", len(msg)-maxMsg)
	}
	*l = append(*l, &Error{Pos: pos, Path: path, Msg: msg})
}

// Full reports whether the list keeps no more errors, so that a caller can
// skip work that only a kept message needs (a did-you-mean search).
func (l ErrorList) Full() bool { return len(l) >= MaxErrors }

// Sort orders the list by file, line and column; errors at one position keep
// their order.
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		if (l[i].more > 0) != (l[j].more > 0) {
			return l[j].more > 0
		}
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Error prints every error, one per line.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Err returns nil for an empty list and the sorted list otherwise.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}
