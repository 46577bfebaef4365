package runtime

import (
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/decode"
	"github.com/mhcc-dev/mhcc/runtime/internal/fast"

	"github.com/mhcc-dev/mhcc/internal/inputfile"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// Load reads and decodes an ONNX model file (see [Decode]); external data
// is read from files next to it ([DecodeDir]).
func Load(path string) (*core.Model, error) {
	data, err := inputfile.ReadFile(path, inputfile.MaxModelBytes, "an ONNX model file")
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	m, err := DecodeDir(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Decode parses a serialized ModelProto and checks its graph before anything
// runs: every op must have a kernel at the imported opset, input and output
// counts must fit the op, every input must be defined, every value defined
// once, the graph acyclic, and element types must agree where they are known
// statically. Loop bodies, If branches and the bodies of model-local
// functions are checked the same way, each in its scope. Errors name the
// node: `runtime: node "Mul_3" (Mul): …`.
func Decode(data []byte) (*core.Model, error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("runtime: decode model: %w", err)
	}
	return load(&mp, nil, decode.ConsumeAll, DecodeOptions{}) // mp is ours: its initializers and nodes can go as they are decoded
}

// DecodeOptions adjusts how a model is decoded ([DecodeWith]).
type DecodeOptions struct {
	// FunctionBodies runs the function bodies of the ops the runtime also
	// has kernels for: mhcc's fused mHC ops (docs/fused-ops.md), which run
	// their kernels by default, as in onnxruntime with mhcc's custom-op
	// library. The bodies take any stream count and state type; the tests
	// compare them with the kernels.
	FunctionBodies bool
}

// DecodeWith is [Decode] with options.
func DecodeWith(data []byte, opt DecodeOptions) (*core.Model, error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("runtime: decode model: %w", err)
	}
	return load(&mp, nil, decode.ConsumeAll, opt)
}

// DecodeProto is Decode for a model already in memory as a ModelProto (an
// exporter's output), without serialising it, and it consumes mp: each
// initializer message is emptied as soon as its tensor is decoded, so the
// weights are held about once, where Decode of a freshly marshalled model
// holds them three times at its peak (bytes, parsed message, tensors).
// mp must not be used afterwards. External data is not read (use DecodeDir).
func DecodeProto(mp *onnxpb.ModelProto) (*core.Model, error) {
	return load(mp, nil, decode.ConsumeInits, DecodeOptions{})
}

// DecodeDir is Decode for a model whose initializers may keep their data in
// external files (ONNX external data: location, offset, length), which are
// read relative to dir, the model file's folder. [Load] uses it. Each
// external tensor is read and decoded on its own, so the raw bytes of only
// one are in memory at a time.
func DecodeDir(data []byte, dir string) (*core.Model, error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("runtime: decode model: %w", err)
	}
	ext := &decode.ExternalFiles{Dir: dir}
	defer ext.Files.Close()
	return load(&mp, ext, decode.ConsumeAll, DecodeOptions{}) // mp is ours: its initializers and nodes can go as they are decoded
}

// BigModelBytes is the size of model data from which a forced garbage
// collection between loading stages pays for itself: decoding collects
// when the initializers are this large, and mhcc run when the file is.
const BigModelBytes = 64 << 20

// ManyNodes is the node count from which decoding collects garbage between
// stages, as for BigModelBytes of weights (a node and its plan step take a
// few hundred bytes), and mhcc run collects more often while it runs.
const ManyNodes = 1 << 17

// load decodes mp (decodeModel) and makes the Fast engine's plan of its
// main graph; subgraphs and function bodies run as written. The fused mHC
// ops get the runtime's kernels unless opt asks for their function bodies
// (decode.NativeKernels).
func load(mp *onnxpb.ModelProto, ext *decode.ExternalFiles, mode decode.ConsumeMode, opt DecodeOptions) (*core.Model, error) {
	many := len(mp.GetGraph().GetNode()) >= ManyNodes
	if many {
		// Decoding builds several structures per node, each live till the
		// end: letting the heap grow 25% (not 100%) between collections
		// keeps the peak near what is live, for a little more GC time.
		defer debug.SetGCPercent(debug.SetGCPercent(25))
	}
	m, err := decode.DecodeModel(mp, ext, mode)
	if err != nil {
		return nil, err
	}
	if err := decode.NativeKernels(m, opt.FunctionBodies); err != nil {
		return nil, err
	}
	// A large model's decoding leaves its weights behind as garbage twice:
	// the emptied messages, then (packing) the unpacked matrices. Collecting
	// before and after packing keeps the peak near one copy of the weights
	// plus the one being made, instead of letting the heap double first.
	// A graph of many nodes is the same with the node messages and the
	// decoding's maps in place of the weights.
	big := mode >= decode.ConsumeInits && (m.InitBytes() >= BigModelBytes || many)
	if big {
		goruntime.GC()
	}
	// The main graph runs through an execution plan (plan.go); subgraphs
	// and function bodies run as written.
	m.Plan = fast.MakePlan(m)
	if big {
		goruntime.GC()
	}
	return m, nil
}
