// Package compile runs mhcc's stages in order: load the model file, read or
// generate the weights, lower to IR, run the passes, encode ONNX. It is what
// mhcc compile does, as a library:
//
//	res, err := compile.Compile("model.yaml", compile.Options{Target: "onnx"})
//	if err != nil { ... }
//	os.WriteFile("model.onnx", res.ONNX, 0o644)
//
// Errors come in three kinds: problems with the input (the model file, its
// weights, an option; a model file's problems as a model.ErrorList with
// positions), a target that cannot express the model (Refused reports it)
// and failures of mhcc itself (an *InternalError; IsInternal reports it).
package compile

import (
	"errors"
	"fmt"
	"io"

	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/internal/foldeval"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/passes"
	"github.com/mhcc-dev/mhcc/target"
)

// Targets lists the built-in --target profiles; "onnx" is the portable
// default. A path to a profile file (.yaml) is accepted too.
var Targets = target.Names()

// Options control Compile. The zero value compiles for the portable "onnx"
// profile at the profile's precision, with every pass and inline weights
// unless they exceed what one ONNX file can hold.
type Options struct {
	Target    string          // a built-in profile name or a profile file; "" means "onnx"
	Precision string          // fp32, fp16 or bf16; "" means the profile's
	Verify    bool            // verify the IR after every pass
	PrintIR   io.Writer       // print the IR after every pass
	Disabled  map[string]bool // passes to skip
	DumpDir   string          // dump the IR after each pass here
	Log       io.Writer       // per-pass statistics
	Float64   bool            // emit every float tensor as float64 (the verification reference)
	KVCache   bool            // emit the KV-cache decoder graph, as inputs.kv_cache: true does
	// Message: return the model as Result.Message, the ONNX message not
	// marshalled, with every weight inline whatever its size (no external
	// data: a message in memory has no 2 GiB limit), for callers that run
	// it at once (mhcc verify, with runtime.DecodeProto).
	Message bool

	// External data (external.go): when to use it, the data file's name
	// relative to the model file ("" = "<model name>.onnx.data") and the
	// size from which an initializer goes there (0 = export's default).
	External          ExternalMode
	DataLocation      string
	ExternalThreshold int64
}

// Result is what Compile produced.
type Result struct {
	Model   *model.Model       // the model file, defaults filled (with KV-cache inputs if Options.KVCache)
	Graph   *ir.Graph          // the IR after the passes, as exported
	ONNX    []byte             // the model file's bytes (nil with Options.Message)
	Message *onnxpb.ModelProto // with Options.Message, instead of ONNX
	Stats   []passes.Stat      // what each pass did, in pipeline order
	// Layout is the external data file ONNX refers to (nil if none); write
	// both with export.WriteFiles.
	Layout *export.Layout
}

// An InternalError is a failure of mhcc itself (a pass or the exporter), not
// of the user's input; the CLI exits with status 2 for it.
type InternalError struct{ Err error }

// Error prefixes the failure with "internal error: ".
func (e *InternalError) Error() string { return "internal error: " + e.Err.Error() }

// Unwrap returns the failure, for errors.Is and errors.As.
func (e *InternalError) Unwrap() error { return e.Err }

// Refused reports whether err says the target cannot express the model (an
// export.TargetError: an operator its profile does not allow, a shape its
// lowerings do not take), as opposed to any other problem. Tests that run
// every model × target skip exactly these combinations.
func Refused(err error) bool {
	var te *export.TargetError
	return errors.As(err, &te)
}

// IsInternal reports whether err is an InternalError.
func IsInternal(err error) bool {
	var ie *InternalError
	return errors.As(err, &ie)
}

// Compile turns the model file at path into ONNX bytes (or, with
// Options.Message, an ONNX message). The weights are read as the model file
// says (random from a seed, or a safetensors file); with external data the
// large ones are streamed and Result.Layout says how to write them.
func Compile(path string, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	m, err := model.Load(path)
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
func CompileModel(m *model.Model, w model.Weights, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	if opts.KVCache && !m.Inputs.KVCache {
		if m.Arch.Kind != model.ArchDecoder {
			return nil, fmt.Errorf("%s: --kv-cache: architecture kind %s has no attention cache (decoder only)", m.File, m.Arch.Kind)
		}
		kv := *m
		kv.Inputs.KVCache = true
		m = &kv
	}
	g, err := lower.Lower(m, w)
	if err != nil {
		return nil, &InternalError{fmt.Errorf("lowering %s: %w", m.File, err)}
	}
	prof, err := Profile(opts.Target)
	if err != nil {
		return nil, err
	}
	disabled := map[string]bool{}
	for _, d := range prof.Disable {
		disabled[d] = true
	}
	for d := range opts.Disabled {
		disabled[d] = true
	}
	stats, err := passes.Run(g, passes.Pipeline, passes.Config{Eval: foldeval.Runtime{}, Target: prof, Precision: opts.Precision, Verify: opts.Verify, Disabled: disabled, DumpDir: opts.DumpDir, PrintIR: opts.PrintIR, Log: opts.Log})
	if err != nil {
		return nil, &InternalError{err}
	}
	if opts.Message {
		mp, err := export.Encode(g, export.Options{Profile: prof, Float64: opts.Float64})
		if Refused(err) {
			return nil, fmt.Errorf("%s: target %s: %w", m.File, prof.Name, err)
		}
		if err != nil {
			return nil, &InternalError{err}
		}
		return &Result{Model: m, Graph: g, Message: mp, Stats: stats}, nil
	}
	data, layout, err := export.MarshalExternal(g, export.Options{Profile: prof, Float64: opts.Float64, External: opts.external(m)})
	if Refused(err) {
		return nil, fmt.Errorf("%s: target %s: %w", m.File, prof.Name, err)
	}
	if err != nil {
		return nil, &InternalError{err}
	}
	return &Result{Model: m, Graph: g, ONNX: data, Stats: stats, Layout: layout}, nil
}

// Profile resolves a --target value: a built-in profile name or a profile
// file, checked against the lowerings and passes mhcc knows.
func Profile(nameOrPath string) (*target.Profile, error) {
	p, err := target.Get(nameOrPath)
	if err != nil {
		return nil, err
	}
	if err := export.CheckProfile(p); err != nil {
		return nil, err
	}
	for _, name := range p.Disable {
		if passes.ByName(name) == nil {
			return nil, fmt.Errorf("%s: disable: unknown pass %q; see mhcc passes", p.Source, name)
		}
	}
	return p, nil
}

// check reports options no model could satisfy: an unknown target or pass.
func (o Options) check() error {
	if _, err := Profile(o.Target); err != nil {
		return err
	}
	switch o.Precision {
	case "", "fp32", "fp16", "bf16":
	default:
		return fmt.Errorf("--precision: got %q, want fp32, fp16 or bf16", o.Precision)
	}
	for name := range o.Disabled {
		if p := passes.ByName(name); p == nil {
			return fmt.Errorf("--disable-pass: unknown pass %q; see mhcc passes", name)
		} else if p.Required {
			return fmt.Errorf("--disable-pass: pass %q is required and cannot be disabled", name)
		}
	}
	return nil
}
