// Package ortrun runs ONNX models with onnxruntime, for tests: it loads the
// shared library (onnxruntime 1.30, see internal/testenv and
// scripts/install-deps) through github.com/yalue/onnxruntime_go, feeds plain Go
// slices in and returns every graph output, letting onnxruntime allocate
// outputs whose shapes are only known at run time.
//
// Values travel in two slices whatever the element type: Tensor.F32 holds
// float32, float16, bfloat16 and float64 elements (16-bit floats widen
// exactly; float64 narrows), Tensor.I64 holds integer and bool elements (bool
// as 0 or 1).
//
// Workarounds for onnxruntime_go v1.27.0, which Run applies itself:
//   - it copies an onnxruntime-allocated float16 or bfloat16 output with one
//     byte per element, so Run appends a Cast to float32 (exact) behind each
//     such graph output and loads the changed model from memory (external
//     data is still found next to the model file);
//   - it cannot take over an onnxruntime-allocated scalar, so Run allocates
//     outputs declared with rank 0 itself.
//
// Inputs it cannot build: float16/bfloat16 scalars and float16/bfloat16
// tensors with no elements (onnxruntime_go's custom-data tensors need a rank
// and a byte). Non-tensor inputs and outputs (sequences, maps) and string
// tensors are not supported.
package ortrun

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
)

// A Tensor is a named, typed, dense tensor with its elements in row-major
// order in F32 (float types) or I64 (integer and bool types); see the package
// comment. From IOInfo, Shape has -1 for each dimension not fixed in the model
// and F32/I64 are nil.
type Tensor struct {
	Name  string
	DType string // "float32", "float16", "bfloat16", "float64", "int8" … "int64", "uint8" … "uint64", "bool"
	Shape []int64
	F32   []float32
	I64   []int64
}

// Elements returns the number of elements Shape holds (1 for a scalar).
func (t Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// DTypeName returns the DType string of an ONNX TensorProto.DataType value:
// its name in onnx/tensor's table ("float32", "bfloat16"), "dtype(N)" for a
// code the table does not know.
func DTypeName(onnxType int) string { return tensor.Name(int32(onnxType)) }

// isFloat reports whether a DType's elements travel in F32.
func isFloat(dtype string) bool {
	d, ok := tensor.ByName(dtype)
	return ok && d.IsFloat()
}

var (
	initMu   sync.Mutex
	initPath string
)

// Init loads the onnxruntime shared library at libPath and creates the
// process's onnxruntime environment. Later calls with the same path return
// nil; a different path is an error, since a process holds one environment.
// A failed Init may be retried.
func Init(libPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if initPath != "" {
		if libPath != initPath {
			return fmt.Errorf("ortrun: already initialized with %s, not %s", initPath, libPath)
		}
		return nil
	}
	if libPath == "" {
		return errors.New("ortrun: empty onnxruntime library path")
	}
	if _, err := os.Stat(libPath); err != nil {
		return fmt.Errorf("ortrun: %w", err)
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("ortrun: loading %s: %w", libPath, err)
	}
	initPath = libPath
	return nil
}

// Version returns the loaded onnxruntime's version, such as "1.30.0", or ""
// before Init.
func Version() string {
	initMu.Lock()
	defer initMu.Unlock()
	if initPath == "" {
		return ""
	}
	return ort.GetVersion()
}

func checkInit() error {
	initMu.Lock()
	defer initMu.Unlock()
	if initPath == "" {
		return errors.New("ortrun: Init has not been called")
	}
	return nil
}

// IOInfo returns the graph inputs (without initializers) and outputs as
// onnxruntime sees them, with names, DTypes and shapes (-1 for a dimension
// that is not fixed). A tensor of unknown rank has an empty Shape, like a
// scalar.
func IOInfo(modelPath string) (inputs, outputs []Tensor, err error) {
	if err := checkInit(); err != nil {
		return nil, nil, err
	}
	ins, outs, err := ort.GetInputOutputInfo(modelPath)
	if err != nil {
		return nil, nil, fmt.Errorf("ortrun: %s: %w", modelPath, err)
	}
	conv := func(infos []ort.InputOutputInfo) ([]Tensor, error) {
		ts := make([]Tensor, len(infos))
		for i, info := range infos {
			if info.OrtValueType != ort.ONNXTypeTensor {
				return nil, fmt.Errorf("ortrun: %s: %q is a %s, not a tensor", modelPath, info.Name, info.OrtValueType)
			}
			ts[i] = Tensor{Name: info.Name, DType: DTypeName(int(info.DataType)), Shape: append([]int64{}, info.Dimensions...)}
		}
		return ts, nil
	}
	if inputs, err = conv(ins); err != nil {
		return nil, nil, err
	}
	if outputs, err = conv(outs); err != nil {
		return nil, nil, err
	}
	return inputs, outputs, nil
}

// graphOutput is what Run needs of a declared graph output.
type graphOutput struct {
	name     string
	elemType int  // ONNX data type as declared (0 if none)
	scalar   bool // declared with a shape of rank 0
	runName  string
	runType  int // element type onnxruntime returns (float32 after a Cast)
}

// Run runs the model at modelPath on inputs and returns all graph outputs in
// graph order, with names, DTypes and shapes filled in. Inputs are matched by
// Name; if no input has a Name, they are taken in the order of the graph's
// inputs (initializers excluded). threads > 0 sets onnxruntime's intra-op
// thread count; otherwise onnxruntime chooses.
func Run(modelPath string, inputs []Tensor, threads int) ([]Tensor, error) {
	if err := checkInit(); err != nil {
		return nil, err
	}
	data, err := inputfile.ReadFile(modelPath, inputfile.MaxModelBytes, "an ONNX model file")
	if err != nil {
		return nil, fmt.Errorf("ortrun: %w", err)
	}
	var model onnxpb.ModelProto
	if err := proto.Unmarshal(data, &model); err != nil {
		return nil, fmt.Errorf("ortrun: parsing %s: %w", modelPath, err)
	}
	g := model.GetGraph()
	if g == nil {
		return nil, fmt.Errorf("ortrun: %s has no graph", modelPath)
	}

	inputs, err = matchInputs(g, inputs)
	if err != nil {
		return nil, fmt.Errorf("ortrun: %s: %w", modelPath, err)
	}
	outs, changed := planOutputs(&model)

	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ortrun: %w", err)
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			return nil, fmt.Errorf("ortrun: %w", err)
		}
	}

	inNames := make([]string, len(inputs))
	for i, t := range inputs {
		inNames[i] = t.Name
	}
	outNames := make([]string, len(outs))
	for i, o := range outs {
		outNames[i] = o.runName
	}
	var sess *ort.DynamicAdvancedSession
	if changed {
		dir, err := filepath.Abs(filepath.Dir(modelPath))
		if err != nil {
			return nil, fmt.Errorf("ortrun: %w", err)
		}
		// Loaded from memory, the model's external data would be looked for
		// in the working directory.
		if err := opts.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", dir); err != nil {
			return nil, fmt.Errorf("ortrun: %w", err)
		}
		mdata, err := proto.Marshal(&model)
		if err != nil {
			return nil, fmt.Errorf("ortrun: %w", err)
		}
		sess, err = ort.NewDynamicAdvancedSessionWithONNXData(mdata, inNames, outNames, opts)
		if err != nil {
			return nil, fmt.Errorf("ortrun: %s: %w", modelPath, err)
		}
	} else {
		sess, err = ort.NewDynamicAdvancedSession(modelPath, inNames, outNames, opts)
		if err != nil {
			return nil, fmt.Errorf("ortrun: %s: %w", modelPath, err)
		}
	}
	defer sess.Destroy()

	var values []ort.Value
	defer func() {
		for _, v := range values {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	inVals := make([]ort.Value, len(inputs))
	for i, t := range inputs {
		v, err := newValue(t)
		if err != nil {
			return nil, fmt.Errorf("ortrun: %s: input %q: %w", modelPath, t.Name, err)
		}
		inVals[i] = v
		values = append(values, v)
	}
	outVals := make([]ort.Value, len(outs))
	for i, o := range outs {
		if !o.scalar {
			continue // onnxruntime allocates it
		}
		v, err := newScalarValue(o.runType)
		if err != nil {
			return nil, fmt.Errorf("ortrun: %s: output %q: %w", modelPath, o.name, err)
		}
		outVals[i] = v
		values = append(values, v)
	}
	runErr := sess.Run(inVals, outVals)
	for i, o := range outs {
		if outVals[i] != nil && !o.scalar {
			values = append(values, outVals[i]) // allocated by onnxruntime
		}
	}
	if runErr != nil {
		return nil, fmt.Errorf("ortrun: %s: %w", modelPath, runErr)
	}

	results := make([]Tensor, len(outs))
	for i, o := range outs {
		t, err := fromValue(outVals[i])
		if err != nil {
			return nil, fmt.Errorf("ortrun: %s: output %q: %w", modelPath, o.name, err)
		}
		t.Name = o.name
		if o.runType != o.elemType && o.elemType != 0 {
			t.DType = DTypeName(o.elemType) // values were widened by the Cast
		}
		results[i] = t
	}
	return results, nil
}

// matchInputs orders inputs as the graph's non-initializer inputs, naming
// them when none is named.
func matchInputs(g *onnxpb.GraphProto, inputs []Tensor) ([]Tensor, error) {
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	var want []string
	for _, vi := range g.GetInput() {
		if !inits[vi.GetName()] {
			want = append(want, vi.GetName())
		}
	}
	named := 0
	for _, t := range inputs {
		if t.Name != "" {
			named++
		}
	}
	if named == 0 {
		if len(inputs) != len(want) {
			return nil, fmt.Errorf("got %d unnamed inputs, the graph has %d (%q)", len(inputs), len(want), want)
		}
		out := make([]Tensor, len(inputs))
		for i, t := range inputs {
			t.Name = want[i]
			out[i] = t
		}
		return out, nil
	}
	if named != len(inputs) {
		return nil, errors.New("either all inputs or none must have a Name")
	}
	byName := map[string]Tensor{}
	for _, t := range inputs {
		if _, dup := byName[t.Name]; dup {
			return nil, fmt.Errorf("input %q given twice", t.Name)
		}
		byName[t.Name] = t
	}
	out := make([]Tensor, 0, len(inputs))
	for _, name := range want {
		t, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("missing input %q", name)
		}
		out = append(out, t)
		delete(byName, name)
	}
	// What is left may override initializers that are also graph inputs.
	for _, vi := range g.GetInput() {
		if t, ok := byName[vi.GetName()]; ok {
			out = append(out, t)
			delete(byName, vi.GetName())
		}
	}
	for name := range byName {
		return nil, fmt.Errorf("the graph has no input %q", name)
	}
	return out, nil
}

// planOutputs lists the graph outputs and appends a Cast to float32 behind
// each float16 or bfloat16 one (see the package comment), reporting whether it
// changed the model.
func planOutputs(m *onnxpb.ModelProto) ([]graphOutput, bool) {
	g := m.GetGraph()
	used := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, s := range n.GetInput() {
			used[s] = true
		}
		for _, s := range n.GetOutput() {
			used[s] = true
		}
	}
	for _, vi := range g.GetInput() {
		used[vi.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		used[t.GetName()] = true
	}
	for _, vi := range g.GetOutput() {
		used[vi.GetName()] = true
	}

	changed := false
	outs := make([]graphOutput, len(g.GetOutput()))
	for i, vi := range g.GetOutput() {
		o := graphOutput{name: vi.GetName(), runName: vi.GetName()}
		if tt := vi.GetType().GetTensorType(); tt != nil {
			o.elemType = int(tt.GetElemType())
			o.scalar = tt.Shape != nil && len(tt.GetShape().GetDim()) == 0
		}
		o.runType = o.elemType
		if int32(o.elemType) == tensor.Float16 || int32(o.elemType) == tensor.BFloat16 {
			name := o.name + "__ortrun_f32"
			for k := 2; used[name]; k++ {
				name = fmt.Sprintf("%s__ortrun_f32_%d", o.name, k)
			}
			used[name] = true
			g.Node = append(g.Node, &onnxpb.NodeProto{
				Input:     []string{o.name},
				Output:    []string{name},
				Name:      proto.String(name),
				OpType:    proto.String("Cast"),
				Attribute: []*onnxpb.AttributeProto{{Name: proto.String("to"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(tensor.Float))}},
			})
			nvi := proto.Clone(vi).(*onnxpb.ValueInfoProto)
			nvi.Name = proto.String(name)
			nvi.GetType().GetTensorType().ElemType = proto.Int32(tensor.Float)
			g.Output[i] = nvi
			o.runName, o.runType = name, int(tensor.Float)
			changed = true
		}
		outs[i] = o
	}
	if changed {
		hasDefault := false
		for _, op := range m.GetOpsetImport() {
			if op.GetDomain() == "" || op.GetDomain() == "ai.onnx" {
				hasDefault = true
			}
		}
		if !hasDefault {
			m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(""), Version: proto.Int64(13)})
		}
	}
	return outs, changed
}

// newValue makes an onnxruntime value holding t.
func newValue(t Tensor) (ort.Value, error) {
	for _, d := range t.Shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
	}
	n := t.Elements()
	if isFloat(t.DType) {
		if int64(len(t.F32)) != n || t.I64 != nil {
			return nil, fmt.Errorf("%s shape %v needs %d elements in F32, got %d (and %d in I64)", t.DType, t.Shape, n, len(t.F32), len(t.I64))
		}
	} else if int64(len(t.I64)) != n || t.F32 != nil {
		return nil, fmt.Errorf("%s shape %v needs %d elements in I64, got %d (and %d in F32)", t.DType, t.Shape, n, len(t.I64), len(t.F32))
	}
	shape := ort.NewShape(t.Shape...)
	switch t.DType {
	case "float32":
		return newTyped(shape, t.F32)
	case "float64":
		return newTyped(shape, convert[float64](t.F32))
	case "float16", "bfloat16":
		if len(shape) == 0 || n == 0 {
			return nil, fmt.Errorf("%s scalars and empty %s tensors are not supported (onnxruntime_go)", t.DType, t.DType)
		}
		buf := make([]byte, 2*n)
		for i, f := range t.F32 {
			var h uint16
			if t.DType == "float16" {
				h = half.Float32ToFloat16(f)
			} else {
				h = half.Float32ToBFloat16(f)
			}
			buf[2*i], buf[2*i+1] = byte(h), byte(h>>8)
		}
		typ := ort.TensorElementDataType(ort.TensorElementDataTypeFloat16)
		if t.DType == "bfloat16" {
			typ = ort.TensorElementDataTypeBFloat16
		}
		return ort.NewCustomDataTensor(shape, buf, typ)
	case "int8":
		return newInts[int8](shape, t.I64)
	case "int16":
		return newInts[int16](shape, t.I64)
	case "int32":
		return newInts[int32](shape, t.I64)
	case "int64":
		return newTyped(shape, t.I64)
	case "uint8":
		return newInts[uint8](shape, t.I64)
	case "uint16":
		return newInts[uint16](shape, t.I64)
	case "uint32":
		return newInts[uint32](shape, t.I64)
	case "uint64":
		return newInts[uint64](shape, t.I64)
	case "bool":
		b := make([]bool, len(t.I64))
		for i, v := range t.I64 {
			b[i] = v != 0
		}
		return newTyped(shape, b)
	}
	return nil, fmt.Errorf("unsupported DType %q", t.DType)
}

type number interface {
	~float32 | ~float64 | ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

func convert[T, S number](s []S) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = T(v)
	}
	return out
}

// newInts narrows int64 values to T, failing on a value T cannot hold.
func newInts[T ~int8 | ~int16 | ~int32 | ~uint8 | ~uint16 | ~uint32 | ~uint64](shape ort.Shape, v []int64) (ort.Value, error) {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
		if int64(out[i]) != x || (x < 0) != (out[i] < 0) {
			return nil, fmt.Errorf("element %d (%d) out of range", i, x)
		}
	}
	return newTyped(shape, out)
}

func newTyped[T ort.TensorData](shape ort.Shape, data []T) (ort.Value, error) {
	if len(shape) == 0 {
		return ort.NewScalar(data[0])
	}
	return ort.NewTensor(shape, data)
}

// newScalarValue makes a scalar for onnxruntime to write an output into.
func newScalarValue(onnxType int) (ort.Value, error) {
	switch int32(onnxType) {
	case tensor.Float:
		return ort.NewEmptyScalar[float32]()
	case tensor.Double:
		return ort.NewEmptyScalar[float64]()
	case tensor.Int8:
		return ort.NewEmptyScalar[int8]()
	case tensor.Int16:
		return ort.NewEmptyScalar[int16]()
	case tensor.Int32:
		return ort.NewEmptyScalar[int32]()
	case tensor.Int64:
		return ort.NewEmptyScalar[int64]()
	case tensor.Uint8:
		return ort.NewEmptyScalar[uint8]()
	case tensor.Uint16:
		return ort.NewEmptyScalar[uint16]()
	case tensor.Uint32:
		return ort.NewEmptyScalar[uint32]()
	case tensor.Uint64:
		return ort.NewEmptyScalar[uint64]()
	case tensor.Bool:
		return ort.NewEmptyScalar[bool]()
	}
	return nil, fmt.Errorf("unsupported scalar output type %s", DTypeName(onnxType))
}

// fromValue copies an onnxruntime value into a Tensor.
func fromValue(v ort.Value) (Tensor, error) {
	if v == nil {
		return Tensor{}, errors.New("onnxruntime returned no value")
	}
	if v.GetONNXType() != ort.ONNXTypeTensor {
		return Tensor{}, fmt.Errorf("a %s, not a tensor, is not supported", v.GetONNXType())
	}
	t := Tensor{DType: DTypeName(int(v.DataType())), Shape: append([]int64{}, v.GetShape()...)}
	switch x := v.(type) {
	case *ort.Tensor[float32]:
		t.F32 = append([]float32{}, x.GetData()...)
	case *ort.Tensor[float64]:
		t.F32 = convert[float32](x.GetData())
	case *ort.Tensor[int8]:
		t.I64 = convert[int64](x.GetData())
	case *ort.Tensor[int16]:
		t.I64 = convert[int64](x.GetData())
	case *ort.Tensor[int32]:
		t.I64 = convert[int64](x.GetData())
	case *ort.Tensor[int64]:
		t.I64 = append([]int64{}, x.GetData()...)
	case *ort.Tensor[uint8]:
		t.I64 = convert[int64](x.GetData())
	case *ort.Tensor[uint16]:
		t.I64 = convert[int64](x.GetData())
	case *ort.Tensor[uint32]:
		t.I64 = convert[int64](x.GetData())
	case *ort.Tensor[uint64]:
		t.I64 = convert[int64](x.GetData())
	case *ort.Tensor[bool]:
		t.I64 = boolsToInts(x.GetData())
	case *ort.Scalar[float32]:
		t.F32 = []float32{x.GetData()}
	case *ort.Scalar[float64]:
		t.F32 = []float32{float32(x.GetData())}
	case *ort.Scalar[int8]:
		t.I64 = []int64{int64(x.GetData())}
	case *ort.Scalar[int16]:
		t.I64 = []int64{int64(x.GetData())}
	case *ort.Scalar[int32]:
		t.I64 = []int64{int64(x.GetData())}
	case *ort.Scalar[int64]:
		t.I64 = []int64{x.GetData()}
	case *ort.Scalar[uint8]:
		t.I64 = []int64{int64(x.GetData())}
	case *ort.Scalar[uint16]:
		t.I64 = []int64{int64(x.GetData())}
	case *ort.Scalar[uint32]:
		t.I64 = []int64{int64(x.GetData())}
	case *ort.Scalar[uint64]:
		t.I64 = []int64{int64(x.GetData())}
	case *ort.Scalar[bool]:
		t.I64 = boolsToInts([]bool{x.GetData()})
	default:
		return Tensor{}, fmt.Errorf("unsupported output type %s", t.DType)
	}
	if t.F32 == nil && t.I64 == nil {
		// An empty tensor: keep the slice non-nil so callers can tell F32 from I64.
		if isFloat(t.DType) {
			t.F32 = []float32{}
		} else {
			t.I64 = []int64{}
		}
	}
	if len(t.Shape) == 0 {
		t.Shape = []int64{}
	}
	return t, nil
}

func boolsToInts(b []bool) []int64 {
	out := make([]int64, len(b))
	for i, v := range b {
		if v {
			out[i] = 1
		}
	}
	return out
}

// MaxAbsDiff returns the largest |a[i]-b[i]|, +Inf if the lengths differ, and
// NaN if exactly one side of a pair is NaN.
func MaxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		if math.IsNaN(x) || math.IsNaN(y) {
			if math.IsNaN(x) != math.IsNaN(y) {
				return math.NaN()
			}
			continue
		}
		if x == y { // equal infinities
			continue
		}
		if d := math.Abs(x - y); d > m || math.IsNaN(d) {
			m = d
		}
	}
	return m
}
