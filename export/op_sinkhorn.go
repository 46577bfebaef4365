package export

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/target"
	"google.golang.org/protobuf/proto"
)

// The Sinkhorn lowerings. All compute docs/spec.md §2 exactly (the same sums and
// divisions, in float32); they differ in the operators they use, which on a
// CPU runtime decides the cost (small-axis ReduceSums are slow in
// onnxruntime; bench/passes.md measures the targets' lowerings).

// Sinkhorn (docs/spec.md §2): c = softmax(logits, -1) + eps; c /= colsum(c) + eps;
// then iters-1 times: c /= rowsum(c) + eps; c /= colsum(c) + eps.
func expandSinkhorn(e *emitter, n *ir.Node, in, out []string) {
	iters := n.Attrs.Int("iters")
	eps := e.f32(n.Attrs.Float("eps"))
	normalise := func(c string, axis int64, name string) string {
		sum := e.op("ReduceSum", "", ins(c, e.i64s(axis)), aInt("keepdims", 1))
		return e.op("Div", name, ins(c, e.op("Add", "", ins(sum, eps))))
	}
	c := e.op("Add", "", ins(e.op("Softmax", "", ins(in[0]), aInt("axis", -1)), eps))
	for i := int64(1); i <= iters; i++ {
		if i > 1 {
			c = normalise(c, -1, "")
		}
		name := ""
		if i == iters {
			name = out[0]
		}
		c = normalise(c, -2, name)
	}
}

// sumMatrices returns, for n×n matrices flattened row-major to n² entries
// (entry j·n+k is row j, column k), the [n², n²] 0/1 matrices R and C with
// (c·R)[j·n+k] = Σ_k' c[j,k'] (its row's sum) and (c·C)[j·n+k] = Σ_j' c[j',k]
// (its column's sum).
func (e *emitter) sumMatrices(n int64) (rows, cols string) {
	r := make([]float64, n*n*n*n)
	c := make([]float64, n*n*n*n)
	for a := int64(0); a < n*n; a++ {
		for b := int64(0); b < n*n; b++ {
			if a/n == b/n {
				r[a*n*n+b] = 1
			}
			if a%n == b%n {
				c[a*n*n+b] = 1
			}
		}
	}
	dims := []int64{n * n, n * n}
	return e.floats(fmt.Sprintf("sinkhorn.rowsum.%d", n), dims, r), e.floats(fmt.Sprintf("sinkhorn.colsum.%d", n), dims, c)
}

// sinkhornStart emits c = softmax(logits, -1) + eps flattened to [T, n²]
// (T = every leading dim) and returns it with n.
func (e *emitter) sinkhornStart(n *ir.Node, logits string, eps string) (string, int64) {
	s := n.Inputs[0].Type.Shape[n.Inputs[0].Type.Shape.Rank()-1].Size
	c := e.op("Add", "", ins(e.op("Softmax", "", ins(logits), aInt("axis", -1)), eps))
	return e.op("Reshape", "", ins(c, e.i64s(-1, s*s))), s
}

// sinkhornEnd reshapes c [T, n²] back to the shape of logits, into out.
func (e *emitter) sinkhornEnd(c, logits, out string) {
	e.op("Reshape", out, ins(c, e.op("Shape", "", ins(logits))))
}

// normalise emits c / (c·M + eps) as Gemm (c·M + eps in one node) and Div.
func (e *emitter) normalise(c, m, eps string) string {
	return e.op("Div", "", ins(c, e.op("Gemm", "", ins(c, m, eps))))
}

// Sinkhorn, lowering "gemm": the fewest and cheapest standard nodes. The
// n×n matrices of all tokens are flattened to one [T, n²] matrix, so every
// row or column sum of every token is one 2-D Gemm with a constant 0/1
// [n², n²] matrix (which adds eps too), followed by one Div: 2 nodes per
// half-iteration instead of ReduceSum, Add, Div.
func expandSinkhornGEMM(e *emitter, n *ir.Node, in, out []string) {
	eps := e.floats(fmt.Sprintf("eps.%g", n.Attrs.Float("eps")), []int64{1}, []float64{n.Attrs.Float("eps")}) // [1]: a rank-0 Gemm C aborts onnxruntime-web's WebGPU EP
	c, s := e.sinkhornStart(n, in[0], eps)
	rows, cols := e.sumMatrices(s)
	for i := int64(1); i <= n.Attrs.Int("iters"); i++ {
		if i > 1 {
			c = e.normalise(c, rows, eps)
		}
		c = e.normalise(c, cols, eps)
	}
	e.sinkhornEnd(c, in[0], out[0])
}

// Sinkhorn, lowering "log": the same iteration on L = log(c), each
// normalisation L -= log(exp(L)·M + eps). It is the form that stays finite
// when a runtime computes in half precision and c underflows; in float32 it
// costs two more nodes per half-iteration than "gemm".
func expandSinkhornLog(e *emitter, n *ir.Node, in, out []string) {
	eps := e.floats(fmt.Sprintf("eps.%g", n.Attrs.Float("eps")), []int64{1}, []float64{n.Attrs.Float("eps")}) // [1]: a rank-0 Gemm C aborts onnxruntime-web's WebGPU EP
	c, s := e.sinkhornStart(n, in[0], eps)
	l := e.op("Log", "", ins(c))
	rows, cols := e.sumMatrices(s)
	step := func(l, m string) string {
		sum := e.op("Gemm", "", ins(e.op("Exp", "", ins(l)), m, eps))
		return e.op("Sub", "", ins(l, e.op("Log", "", ins(sum))))
	}
	for i := int64(1); i <= n.Attrs.Int("iters"); i++ {
		if i > 1 {
			l = step(l, rows)
		}
		l = step(l, cols)
	}
	e.sinkhornEnd(e.op("Exp", "", ins(l)), in[0], out[0])
}

// Sinkhorn, lowering "loop": the first column normalisation, then an ONNX
// Loop running iters-1 times a body with the row and the column
// normalisation of the "gemm" form. The graph stays small whatever iters is.
func expandSinkhornLoop(e *emitter, n *ir.Node, in, out []string) {
	eps := e.floats(fmt.Sprintf("eps.%g", n.Attrs.Float("eps")), []int64{1}, []float64{n.Attrs.Float("eps")}) // [1]: a rank-0 Gemm C aborts onnxruntime-web's WebGPU EP
	c, s := e.sinkhornStart(n, in[0], eps)
	rows, cols := e.sumMatrices(s)
	c = e.normalise(c, cols, eps)
	if iters := n.Attrs.Int("iters"); iters > 1 {
		iter, cond, state := e.fresh(n.Name+"/loop.i"), e.fresh(n.Name+"/loop.cond"), e.fresh(n.Name+"/loop.c")
		var condOut, stateOut string
		body := e.subgraph(func() {
			condOut = e.op("Identity", "", ins(cond))
			stateOut = e.normalise(e.normalise(state, rows, eps), cols, eps)
		})
		elem := int32(onnxpb.TensorProto_FLOAT)
		if e.f64 {
			elem = int32(onnxpb.TensorProto_DOUBLE)
		}
		g := &onnxpb.GraphProto{
			Name: proto.String(n.Name + "/sinkhorn_body"),
			Node: body,
			Input: []*onnxpb.ValueInfoProto{
				scalarInfo(iter, int32(onnxpb.TensorProto_INT64)),
				scalarInfo(cond, int32(onnxpb.TensorProto_BOOL)),
				matrixInfo(state, elem, s*s),
			},
			Output: []*onnxpb.ValueInfoProto{
				scalarInfo(condOut, int32(onnxpb.TensorProto_BOOL)),
				matrixInfo(stateOut, elem, s*s),
			},
		}
		c = e.opd("", "Loop", "", ins(e.i64(iters-1), "", c), aGraph("body", g))
	}
	e.sinkhornEnd(c, in[0], out[0])
}

func scalarInfo(name string, elem int32) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(elem), Shape: &onnxpb.TensorShapeProto{}}}}}
}

// anyShapeInfo is a tensor of any shape.
func anyShapeInfo(name string, elem int32) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(elem)}}}}
}

// matrixInfo is a [T, cols] tensor with T unnamed.
func matrixInfo(name string, elem int32, cols int64) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(elem), Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
			{}, {Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: cols}}}}}}}}
}

// Sinkhorn, lowering "custom": one node ai.mhcc.Sinkhorn{iters, eps} and no
// function body, for a runtime or accelerator that ships the kernel (mhcc's
// Go runtime does). Other runtimes reject the model, so only a profile for
// such a runtime should pick it.
func expandSinkhornCustom(e *emitter, n *ir.Node, in, out []string) {
	e.opd(target.DomainMHCC, "Sinkhorn", out[0], ins(in[0]),
		aInt("iters", n.Attrs.Int("iters")), aFloat("eps", n.Attrs.Float("eps")))
}

// Sinkhorn, lowering "function": the same ai.mhcc.Sinkhorn node as
// "custom", plus a model-local function of that name whose body computes it
// with standard operators (a Loop over the iterations; the sums as
// ReduceSum, since the body must work for any n). A runtime with a kernel
// may use it; every other runtime inlines the body. The graph shows one
// node per Sinkhorn.
func expandSinkhornFunction(e *emitter, n *ir.Node, in, out []string) {
	if e.f64 {
		panic("export: the function lowering of Sinkhorn has no float64 form")
	}
	e.function(target.DomainMHCC, "Sinkhorn", sinkhornFunction)
	expandSinkhornCustom(e, n, in, out)
}

// sinkhornFunction builds ai.mhcc.Sinkhorn(logits) -> comb with attributes
// iters and eps, for any [..., n, n] float input.
func sinkhornFunction() *onnxpb.FunctionProto {
	var nodes []*onnxpb.NodeProto
	node := func(op string, in []string, out string, attrs ...*onnxpb.AttributeProto) string {
		nodes = append(nodes, &onnxpb.NodeProto{Name: proto.String(out), OpType: proto.String(op), Input: in, Output: []string{out}, Attribute: attrs})
		return out
	}
	constInts := func(name string, v ...int64) string {
		return node("Constant", nil, name, &onnxpb.AttributeProto{Name: proto.String("value_ints"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v})
	}
	eps := node("Constant", nil, "eps", aRef("value_float", onnxpb.AttributeProto_FLOAT, "eps"))
	iters := node("Constant", nil, "iters", aRef("value_int", onnxpb.AttributeProto_INT, "iters"))
	one := node("Constant", nil, "one", &onnxpb.AttributeProto{Name: proto.String("value_int"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)})
	rowAxis, colAxis := constInts("axis_rows", -1), constInts("axis_cols", -2)
	norm := func(c, axis, prefix string) string {
		sum := node("ReduceSum", ins(c, axis), prefix+"_sum", aInt("keepdims", 1))
		return node("Div", ins(c, node("Add", ins(sum, eps), prefix+"_den")), prefix+"_out")
	}
	c0 := node("Add", ins(node("Softmax", ins("logits"), "softmax", aInt("axis", -1)), eps), "c0")
	c1 := norm(c0, colAxis, "c1")
	trip := node("Sub", ins(iters, one), "trip")

	outer := nodes
	nodes = nil
	condOut := node("Identity", ins("body_cond"), "body_cond_out")
	cOut := norm(norm("body_c", rowAxis, "body_rows"), colAxis, "body_cols")
	body := sinkhornLoopBody(nodes, condOut, cOut)
	nodes = outer
	nodes = append(nodes, &onnxpb.NodeProto{Name: proto.String("loop"), OpType: proto.String("Loop"),
		Input: ins(trip, "", c1), Output: []string{"comb"}, Attribute: []*onnxpb.AttributeProto{aGraph("body", body)}})
	return &onnxpb.FunctionProto{
		Name:        proto.String("Sinkhorn"),
		Domain:      proto.String(target.DomainMHCC),
		Input:       []string{"logits"},
		Output:      []string{"comb"},
		Attribute:   []string{"iters", "eps"},
		Node:        nodes,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		DocString:   proto.String("mHC's Sinkhorn-Knopp projection (docs/spec.md §2): softmax(logits, -1) + eps, then columns, rows and columns normalised with eps added to each sum, iters column normalisations in all."),
	}
}

// Sinkhorn: softmax over the last axis (axis = rank-1), then the n×n
// matrices flattened to [B, n²] (static mHC: [1, n²]) and each half-iteration
// c / (c·M + eps) with the 0/1 row-sum or column-sum matrix M of the "gemm"
// lowering, as MatMul, Add and Div.
func minimalSinkhorn(e *emitter, n *ir.Node, in, out []string) {
	shape := needRank(n, 0, 2, 3)
	r := int64(shape.Rank())
	s := lastSize(n, 0)
	eps := e.scalar2(n.Attrs.Float("eps"))
	lead := int64(1) // static mHC: one matrix, no batch
	if r == 3 {
		lead = 0
	}
	sm := e.op("Softmax", "", ins(in[0]), aInt("axis", r-1))
	c := e.op("Add", "", ins(e.reshape(sm, lead, s*s), eps))
	rows, cols := e.sumMatrices(s)
	norm := func(c, m string) string {
		return e.op("Div", "", ins(c, e.op("Add", "", ins(e.op("MatMul", "", ins(c, m)), eps))))
	}
	for i := int64(1); i <= n.Attrs.Int("iters"); i++ {
		if i > 1 {
			c = norm(c, rows)
		}
		c = norm(c, cols)
	}
	if r == 3 {
		e.op("Reshape", out[0], ins(c, e.i64s(0, s, s)))
	} else {
		e.op("Reshape", out[0], ins(c, e.i64s(s, s)))
	}
}

// sinkhornLoopBody is the body graph of a Sinkhorn Loop: inputs the
// iteration number, the condition and the matrix body_c (float32, any
// shape); outputs condOut and cOut, computed by nodes.
func sinkhornLoopBody(nodes []*onnxpb.NodeProto, condOut, cOut string) *onnxpb.GraphProto {
	return &onnxpb.GraphProto{
		Name: proto.String("sinkhorn_body"),
		Node: nodes,
		Input: []*onnxpb.ValueInfoProto{
			scalarInfo("body_i", int32(onnxpb.TensorProto_INT64)),
			scalarInfo("body_cond", int32(onnxpb.TensorProto_BOOL)),
			anyShapeInfo("body_c", int32(onnxpb.TensorProto_FLOAT)),
		},
		Output: []*onnxpb.ValueInfoProto{
			scalarInfo(condOut, int32(onnxpb.TensorProto_BOOL)),
			anyShapeInfo(cOut, int32(onnxpb.TensorProto_FLOAT)),
		},
	}
}
