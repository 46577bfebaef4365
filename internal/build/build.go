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

	// External data (external.go): when to use it, the data file's name
	// relative to the model file ("" = "<model name>.onnx.data") and the
	// size from which an initializer goes there (0 = export's default).
	External          ExternalMode
	DataLocation      string
	ExternalThreshold int64
}

// Result is what Compile produced.
type Result struct {
	Model *ir.Model
	Graph *ir.Graph
	ONNX  []byte
	Stats []passes.Stat
	// Layout is the external data file ONNX refers to (nil if none); write
	// both with export.WriteFiles.
	Layout *export.Layout
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
	if err := opts.check(); err != nil {
		return nil, err
	}
	m, err := ir.Load(path)
	if err != nil {
		return nil, err
	}
	w, err := opts.loadWeights(m)
	if err != nil {
		return nil, err
	}
	return CompileModel(m, w, opts)
}

// CompileModel is Compile for a model already loaded with its weights; the
// weights are only read, so a caller may lower them again (mhcc verify builds
// its reference from the same weights).
func CompileModel(m *ir.Model, w ir.Weights, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	g, err := ir.Lower(m, w)
	if err != nil {
		return nil, &InternalError{fmt.Errorf("lowering %s: %w", m.File, err)}
	}
	stats, err := passes.Run(g, passes.Pipeline, passes.Config{Verify: opts.Verify, Disabled: opts.Disabled, DumpDir: opts.DumpDir, Log: opts.Log})
	if err != nil {
		return nil, &InternalError{err}
	}
	data, layout, err := export.MarshalExternal(g, export.Options{Target: opts.target(), Float64: opts.Float64, External: opts.external(m)})
	if err != nil {
		return nil, &InternalError{err}
	}
	return &Result{Model: m, Graph: g, ONNX: data, Stats: stats, Layout: layout}, nil
}

func (o Options) target() string {
	if o.Target == "" {
		return "onnx"
	}
	return o.Target
}

// check reports options no model could satisfy: an unknown target or pass.
func (o Options) check() error {
	if !known(o.target()) {
		return fmt.Errorf("unknown target %q; want one of %s", o.Target, strings.Join(Targets, ", "))
	}
	for name := range o.Disabled {
		if passes.ByName(name) == nil {
			return fmt.Errorf("--disable-pass: unknown pass %q; see mhcc passes", name)
		}
	}
	return nil
}

func known(target string) bool {
	i := sort.SearchStrings(Targets, target)
	return i < len(Targets) && Targets[i] == target
}
