// Package build runs mhcc's stages in order: load the model file, read or
// generate the weights, lower to IR, run the passes, encode ONNX.
package build

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/passes"
)

// Targets lists the --target values; "onnx" is the portable default.
var Targets = []string{"onnx"}

// Options of Compile.
type Options struct {
	Target   string          // "" means "onnx"
	Verify   bool            // verify the IR after every pass
	Disabled map[string]bool // passes to skip
	DumpDir  string          // dump the IR after each pass here
	Log      io.Writer       // per-pass statistics
	Float64  bool            // emit every float tensor as float64 (the verification reference)
}

// Result is what Compile produced.
type Result struct {
	Model *ir.Model
	Graph *ir.Graph
	ONNX  []byte
	Stats []passes.Stat
}

// An InternalError is a failure of mhcc itself (a pass or the exporter), not
// of the user's input; the CLI exits with status 2 for it.
type InternalError struct{ Err error }

func (e *InternalError) Error() string { return "internal error: " + e.Err.Error() }
func (e *InternalError) Unwrap() error { return e.Err }

// IsInternal reports whether err is an InternalError.
func IsInternal(err error) bool {
	var ie *InternalError
	return errors.As(err, &ie)
}

// Compile turns the model file at path into ONNX bytes.
func Compile(path string, opts Options) (*Result, error) {
	if opts.Target == "" {
		opts.Target = "onnx"
	}
	if !known(opts.Target) {
		return nil, fmt.Errorf("unknown target %q; want one of %s", opts.Target, strings.Join(Targets, ", "))
	}
	for name := range opts.Disabled {
		if passes.ByName(name) == nil {
			return nil, fmt.Errorf("--disable-pass: unknown pass %q; see mhcc passes", name)
		}
	}
	m, err := ir.Load(path)
	if err != nil {
		return nil, err
	}
	w, err := ir.LoadWeights(m)
	if err != nil {
		return nil, err
	}
	g, err := ir.Lower(m, w)
	if err != nil {
		return nil, &InternalError{fmt.Errorf("lowering %s: %w", path, err)}
	}
	stats, err := passes.Run(g, passes.Pipeline, passes.Config{Verify: opts.Verify, Disabled: opts.Disabled, DumpDir: opts.DumpDir, Log: opts.Log})
	if err != nil {
		return nil, &InternalError{err}
	}
	data, err := export.Marshal(g, export.Options{Target: opts.Target, Float64: opts.Float64})
	if err != nil {
		return nil, &InternalError{err}
	}
	return &Result{Model: m, Graph: g, ONNX: data, Stats: stats}, nil
}

func known(target string) bool {
	i := sort.SearchStrings(Targets, target)
	return i < len(Targets) && Targets[i] == target
}
