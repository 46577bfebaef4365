package export

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
	"google.golang.org/protobuf/proto"
)

// An emitter accumulates the ONNX nodes and initializers of one graph. Names
// of IR values are kept; the intermediate values of an expansion are named
// "<node>/<step>", and constants the expansions need are shared by value.
type emitter struct {
	nodes  []*onnxpb.NodeProto
	inits  []*onnxpb.TensorProto
	names  map[string]bool
	next   map[string]int    // fresh: the first suffix of a base not yet tried
	consts map[string]string // constant key -> value name
	memo   map[string]string // shared subgraphs (sequence length, RoPE slices, mask) -> value name

	// f64 makes every float tensor float64 (the verification reference).
	f64 bool

	funcs   []*onnxpb.FunctionProto // model-local functions, in order of first use
	funcSet map[string]bool         // "domain/name" of funcs

	// per IR node being expanded
	node *ir.Node
	step int
	ft   ir.DType // float type of the node's scalar constants (its computing type)
}

func newEmitter(f64 bool) *emitter {
	return &emitter{names: map[string]bool{}, next: map[string]int{}, consts: map[string]string{}, memo: map[string]string{}, f64: f64}
}

// reserve claims name for a value; IR names are unique, so a clash is a bug.
func (e *emitter) reserve(name string) {
	if e.names[name] {
		panic("export: duplicate value name " + strconv.Quote(name))
	}
	e.names[name] = true
}

// fresh returns an unused name built from base: base itself, else base_i
// with the smallest i free. Names are never released, so the search for a
// base resumes where its last one ended: without that, a node expanded into
// k values of one base (a Sinkhorn of 10000 iterations: 30000 Divs named
// "<node>/Div") cost O(k²) map lookups, minutes of compile time.
func (e *emitter) fresh(base string) string {
	name := base
	for i := max(e.next[base], 1); e.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
		e.next[base] = i + 1
	}
	e.names[name] = true
	return name
}

// op appends one ONNX node of the ai.onnx domain with a single output. out
// names the output; "" makes a fresh "<node>/<op_type>" name.
func (e *emitter) op(opType, out string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	return e.opd("", opType, out, inputs, attrs...)
}

// opd is op for an operator of any domain.
func (e *emitter) opd(domain, opType, out string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	if out == "" {
		out = e.fresh(e.node.Name + "/" + opType)
	}
	e.add(domain, opType, inputs, []string{out}, attrs...)
	return out
}

// add appends one ONNX node with the given outputs ("" for an omitted one).
func (e *emitter) add(domain, opType string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	e.step++
	n := &onnxpb.NodeProto{
		Name:      proto.String(fmt.Sprintf("%s/%d_%s", e.node.Name, e.step, opType)),
		OpType:    proto.String(opType),
		Input:     inputs,
		Output:    outputs,
		Attribute: attrs,
	}
	if domain != "" {
		n.Domain = proto.String(domain)
	}
	e.nodes = append(e.nodes, n)
	return n
}

// function adds a model-local function once; build is called only the first
// time a (domain, name) is asked for.
func (e *emitter) function(domain, name string, build func() *onnxpb.FunctionProto) {
	key := domain + "/" + name
	if e.funcSet[key] {
		return
	}
	if e.funcSet == nil {
		e.funcSet = map[string]bool{}
	}
	e.funcSet[key] = true
	e.funcs = append(e.funcs, build())
}

// ins is shorthand for an input list.
func ins(names ...string) []string { return names }

func aInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func aInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// i64s returns a 1-D int64 constant holding vals.
func (e *emitter) i64s(vals ...int64) string {
	return e.i64const(vals, []int64{int64(len(vals))})
}

// i64 returns a scalar int64 constant.
func (e *emitter) i64(v int64) string { return e.i64const([]int64{v}, nil) }

func (e *emitter) i64const(vals, dims []int64) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = strconv.FormatInt(v, 10)
	}
	key := fmt.Sprintf("i64%v:%s", dims, strings.Join(parts, "_"))
	if name, ok := e.consts[key]; ok {
		return name
	}
	base := "const.i64." + strings.Join(parts, "_")
	if dims == nil {
		base = "const.i64.scalar." + strings.Join(parts, "_")
	}
	name := e.fresh(base)
	raw := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	e.inits = append(e.inits, &onnxpb.TensorProto{Name: proto.String(name), Dims: dims,
		DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), RawData: raw})
	e.consts[key] = name
	return name
}

// f32 returns a scalar constant of the node's float type (float32, float16
// or bfloat16 by the node's precision; float64 for the reference).
func (e *emitter) f32(v float64) string {
	if !e.f64 && (e.ft == ir.Float16 || e.ft == ir.BFloat16) {
		return e.halfScalar(v, e.ft)
	}
	if e.f64 {
		key := fmt.Sprintf("f64:%016x", math.Float64bits(v))
		if name, ok := e.consts[key]; ok {
			return name
		}
		name := e.fresh("const.f64." + strconv.FormatFloat(v, 'g', -1, 64))
		raw := make([]byte, 8)
		binary.LittleEndian.PutUint64(raw, math.Float64bits(v))
		e.inits = append(e.inits, &onnxpb.TensorProto{Name: proto.String(name),
			DataType: proto.Int32(int32(onnxpb.TensorProto_DOUBLE)), RawData: raw})
		e.consts[key] = name
		return name
	}
	f := float32(v)
	key := fmt.Sprintf("f32:%08x", math.Float32bits(f))
	if name, ok := e.consts[key]; ok {
		return name
	}
	name := e.fresh("const.f32." + strconv.FormatFloat(float64(f), 'g', -1, 32))
	raw := make([]byte, 4)
	binary.LittleEndian.PutUint32(raw, math.Float32bits(f))
	e.inits = append(e.inits, &onnxpb.TensorProto{Name: proto.String(name),
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw})
	e.consts[key] = name
	return name
}

// initializer converts an IR constant. Weights read from F16 or BF16 files
// are widened to float32 when read (the IR types them Float32), so they are
// stored as float32 (exactly the values the source held); a Float16 or
// BFloat16 constant (made by apply_precision) is stored in that type. With
// f64 every float constant is stored as float64 (exactly, too).
func initializer(v *ir.Value, f64 bool) (*onnxpb.TensorProto, error) {
	c := v.Const
	t := &onnxpb.TensorProto{Name: proto.String(v.Name), Dims: append([]int64{}, c.Shape...)}
	if !f64 && (c.DType == ir.Float16 || c.DType == ir.BFloat16) {
		raw := make([]byte, 2*len(c.F32))
		typ := onnxpb.TensorProto_FLOAT16
		if c.DType == ir.BFloat16 {
			typ = onnxpb.TensorProto_BFLOAT16
		}
		for i, f := range c.F32 {
			var b uint16
			if c.DType == ir.Float16 {
				b = half.Float32ToFloat16(f)
			} else {
				b = half.Float32ToBFloat16(f)
			}
			binary.LittleEndian.PutUint16(raw[2*i:], b)
		}
		t.DataType, t.RawData = proto.Int32(int32(typ)), raw
		return t, nil
	}
	switch c.DType {
	case ir.Float32, ir.Float16, ir.BFloat16:
		if f64 {
			raw := make([]byte, 8*len(c.F32))
			for i, f := range c.F32 {
				binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(float64(f)))
			}
			t.DataType = proto.Int32(int32(onnxpb.TensorProto_DOUBLE))
			t.RawData = raw
			break
		}
		raw := make([]byte, 4*len(c.F32))
		for i, f := range c.F32 {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
		}
		t.DataType = proto.Int32(int32(onnxpb.TensorProto_FLOAT))
		t.RawData = raw
	case ir.Float64:
		raw := make([]byte, 8*len(c.F64))
		for i, f := range c.F64 {
			binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(f))
		}
		t.DataType = proto.Int32(int32(onnxpb.TensorProto_DOUBLE))
		t.RawData = raw
	case ir.Int64:
		raw := make([]byte, 8*len(c.I64))
		for i, x := range c.I64 {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
		}
		t.DataType = proto.Int32(int32(onnxpb.TensorProto_INT64))
		t.RawData = raw
	default:
		return nil, fmt.Errorf("export: constant %v: dtype %v has no ONNX encoding here", v, c.DType)
	}
	return t, nil
}

// elemType maps an IR dtype to ONNX's TensorProto.DataType.
func elemType(d ir.DType) (int32, error) {
	if et := d.ONNX(); et != 0 {
		return et, nil
	}
	return 0, fmt.Errorf("export: dtype %v has no ONNX element type", d)
}

func valueInfo(v *ir.Value, f64 bool) (*onnxpb.ValueInfoProto, error) {
	dt := v.Type.DType
	if f64 && dt.IsFloat() {
		dt = ir.Float64
	}
	et, err := elemType(dt)
	if err != nil {
		return nil, err
	}
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range v.Type.Shape {
		if d.Known() {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Size}})
		} else {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}})
		}
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(v.Name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(et), Shape: shape}}},
	}, nil
}

func aFloat(name string, v float64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(float32(v))}
}

func aGraph(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: g}
}

// aRef is an attribute of a function body node that takes the value of the
// calling node's attribute ref.
func aRef(name string, typ onnxpb.AttributeProto_AttributeType, ref string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: typ.Enum(), RefAttrName: proto.String(ref)}
}

// floats returns a float constant (float32, or float64 for the reference)
// of the given dims, shared by key.
func (e *emitter) floats(key string, dims []int64, vals []float64) string {
	key = fmt.Sprintf("floats:%v:%v:%s", e.f64, dims, key)
	if name, ok := e.consts[key]; ok {
		return name
	}
	name := e.fresh("const." + strings.SplitN(key, ":", 4)[3])
	t := &onnxpb.TensorProto{Name: proto.String(name), Dims: dims}
	if e.f64 {
		raw := make([]byte, 8*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(v))
		}
		t.DataType, t.RawData = proto.Int32(int32(onnxpb.TensorProto_DOUBLE)), raw
	} else {
		raw := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(v)))
		}
		t.DataType, t.RawData = proto.Int32(int32(onnxpb.TensorProto_FLOAT)), raw
	}
	e.inits = append(e.inits, t)
	e.consts[key] = name
	return name
}

// subgraph runs body with a fresh node list and returns the nodes it
// emitted, for a Loop body or a function.
func (e *emitter) subgraph(body func()) []*onnxpb.NodeProto {
	saved := e.nodes
	e.nodes = nil
	body()
	nodes := e.nodes
	e.nodes = saved
	return nodes
}

// halfScalar is a float16 or bfloat16 scalar constant.
func (e *emitter) halfScalar(v float64, dt ir.DType) string {
	var bits uint16
	typ := onnxpb.TensorProto_FLOAT16
	if dt == ir.Float16 {
		bits = half.Float32ToFloat16(float32(v))
	} else {
		bits, typ = half.Float32ToBFloat16(float32(v)), onnxpb.TensorProto_BFLOAT16
	}
	key := fmt.Sprintf("%v:%04x", dt, bits)
	if name, ok := e.consts[key]; ok {
		return name
	}
	name := e.fresh("const." + dt.String() + "." + strconv.FormatFloat(v, 'g', 5, 64))
	raw := []byte{byte(bits), byte(bits >> 8)}
	e.inits = append(e.inits, &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(typ)), RawData: raw})
	e.consts[key] = name
	return name
}

// nodeFloatType is the type a node computes in: its first float output's.
func nodeFloatType(n *ir.Node) ir.DType {
	for _, v := range n.Outputs {
		if v.Type.DType.IsFloat() {
			return v.Type.DType
		}
	}
	for _, v := range n.Inputs {
		if v != nil && v.Type.DType.IsFloat() {
			return v.Type.DType
		}
	}
	return ir.Float32
}

// transposeLast emits x with its last two of rank axes exchanged (combᵀ).
func (e *emitter) transposeLast(x string, rank int) string {
	perm := make([]int64, rank)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[rank-2], perm[rank-1] = perm[rank-1], perm[rank-2]
	return e.op("Transpose", "", ins(x), aInts("perm", perm...))
}
