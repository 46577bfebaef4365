package runtime

import (
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

func aGraph(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_GRAPH
	return &onnxpb.AttributeProto{Name: &name, Type: &t, G: g}
}

// typedInfo declares an element type and no shape.
func typedInfo(name string, dt core.DType) *onnxpb.ValueInfoProto {
	et := int32(dt)
	return &onnxpb.ValueInfoProto{Name: &name, Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: &et}},
	}}
}

func boolScalar(v bool) *core.Tensor { return core.NewBool([]int64{}, []bool{v}) }
func i64Scalar(v int64) *core.Tensor { return core.NewInt64([]int64{}, []int64{v}) }
func f32Scalar(v float32) *core.Tensor {
	return core.NewFloat32([]int64{}, []float32{v})
}

// accumulateBody is a Loop body: acc ← acc + w (w from the enclosing graph),
// continue while sum(acc) < limit (also from outside), scan out acc·i.
func accumulateBody() *onnxpb.GraphProto {
	return &onnxpb.GraphProto{
		Name:  strp("body"),
		Input: []*onnxpb.ValueInfoProto{tensorInfo("i", core.Int64, nil), tensorInfo("c_in", core.Bool, nil), typedInfo("acc", core.Float32)},
		Node: []*onnxpb.NodeProto{
			node("add", "Add", []string{"acc", "w"}, []string{"acc2"}),
			node("sum", "ReduceSum", []string{"acc2"}, []string{"s"}, aInt("keepdims", 0)),
			node("less", "Less", []string{"s", "limit"}, []string{"c_out"}),
			node("cast", "Cast", []string{"i"}, []string{"fi"}, aInt("to", int64(core.Float32))),
			node("mul", "Mul", []string{"acc2", "fi"}, []string{"scan"}),
		},
		Output: []*onnxpb.ValueInfoProto{tensorInfo("c_out", core.Bool, nil), typedInfo("acc2", core.Float32), tensorInfo("scan", core.Float32, []int64{2, 3})},
	}
}

func strp(s string) *string { return &s }

// loopModel wraps accumulateBody in a Loop whose inputs M and cond are
// graph inputs or omitted.
func loopModel(withM, withCond bool) *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{
		Name: strp("main"),
		Input: []*onnxpb.ValueInfoProto{
			tensorInfo("x", core.Float32, []int64{2, 3}), tensorInfo("w", core.Float32, []int64{3}), tensorInfo("limit", core.Float32, nil),
		},
		Output: []*onnxpb.ValueInfoProto{typedInfo("y", core.Float32), typedInfo("ys", core.Float32)},
	}
	m, c := "", ""
	if withM {
		m = "M"
		g.Input = append(g.Input, tensorInfo("M", core.Int64, nil))
	}
	if withCond {
		c = "c0"
		g.Input = append(g.Input, tensorInfo("c0", core.Bool, nil))
	}
	g.Node = []*onnxpb.NodeProto{node("loop", "Loop", []string{m, c, "x"}, []string{"y", "ys"}, aGraph("body", accumulateBody()))}
	return modelProto(17, g)
}

// loopRef is loopModel computed by hand: the final acc and the scan rows.
func loopRef(x, w []float32, limit float32, trip int64, cond bool) ([]float32, [][]float32) {
	acc := append([]float32{}, x...)
	var scans [][]float32
	for i := int64(0); (trip < 0 || i < trip) && cond; i++ {
		var s float32
		for j := range acc {
			acc[j] += w[j%3]
			s += acc[j]
		}
		cond = s < limit
		row := make([]float32, len(acc))
		for j := range acc {
			row[j] = acc[j] * float32(i)
		}
		scans = append(scans, row)
	}
	return acc, scans
}

func TestLoop(t *testing.T) {
	x := []float32{1, -2, 3, 0.5, 0, -1}
	w := []float32{0.25, 1, -0.5}
	cases := []struct {
		name            string
		withM, withCond bool
		trip            int64
		cond            bool
		limit           float32
	}{
		{"M only", true, false, 4, true, 100},
		{"M only, body stops", true, false, 4, true, 9}, // the body's condition counts, as in onnxruntime
		{"cond only", false, true, -1, true, 12},        // stops when the sum reaches 12
		{"M and cond, M first", true, true, 2, true, 100},
		{"M and cond, cond first", true, true, 50, true, 9},
		{"initial cond false", true, true, 5, false, 100}, // no iteration
		{"M zero", true, false, 0, true, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(encode(t, loopModel(tc.withM, tc.withCond)))
			if err != nil {
				t.Fatal(err)
			}
			feeds := map[string]*core.Tensor{"x": f32(sh(2, 3), x...), "w": f32(sh(3), w...), "limit": f32Scalar(tc.limit)}
			if tc.withM {
				feeds["M"] = i64Scalar(tc.trip)
			}
			if tc.withCond {
				feeds["c0"] = boolScalar(tc.cond)
			}
			got, err := m.Run(feeds)
			if err != nil {
				t.Fatal(err)
			}
			acc, scans := loopRef(x, w, tc.limit, tc.trip, tc.cond)
			var flat []float32
			for _, r := range scans {
				flat = append(flat, r...)
			}
			if err := compareTensors(got["y"], f32(sh(2, 3), acc...), 0, 0); err != nil {
				t.Errorf("y: %v", err)
			}
			// With no iteration the scan output takes the body's declared shape.
			if err := compareTensors(got["ys"], f32(sh(int64(len(scans)), 2, 3), flat...), 0, 0); err != nil {
				t.Errorf("ys: %v", err)
			}
		})
	}
}

func TestLoopORT(t *testing.T) {
	needORT(t)
	x := f32(sh(2, 3), 1, -2, 3, 0.5, 0, -1)
	w := f32(sh(3), 0.25, 1, -0.5)
	for _, tc := range []struct {
		withM, withCond bool
		trip            int64
		cond            bool
		limit           float32
	}{
		{true, false, 4, true, -100},
		{false, true, -1, true, 12},
		{true, true, 2, true, 100},
		{true, true, 50, true, 9},
		{true, true, 3, false, 9},
	} {
		feeds := map[string]*core.Tensor{"x": x, "w": w, "limit": f32Scalar(tc.limit)}
		if tc.withM {
			feeds["M"] = i64Scalar(tc.trip)
		}
		if tc.withCond {
			feeds["c0"] = boolScalar(tc.cond)
		}
		diffORT(t, loopModel(tc.withM, tc.withCond), feeds, 1e-6, 1e-6)
	}
}

// nestedLoopModel: an outer Loop (M rounds) whose body runs an inner Loop
// (K rounds) that adds w (a main-graph input) and the outer iteration
// number to a carried value; the outer body scans the inner result.
func nestedLoopModel() *onnxpb.ModelProto {
	inner := &onnxpb.GraphProto{
		Name:  strp("inner"),
		Input: []*onnxpb.ValueInfoProto{tensorInfo("j", core.Int64, nil), tensorInfo("cj", core.Bool, nil), typedInfo("v", core.Float32)},
		Node: []*onnxpb.NodeProto{
			node("iadd", "Add", []string{"v", "w"}, []string{"v1"}),
			node("iadd2", "Add", []string{"v1", "fi"}, []string{"v2"}), // fi: the outer body's value
			node("icond", "Identity", []string{"cj"}, []string{"cj2"}),
		},
		Output: []*onnxpb.ValueInfoProto{tensorInfo("cj2", core.Bool, nil), typedInfo("v2", core.Float32)},
	}
	outer := &onnxpb.GraphProto{
		Name:  strp("outer"),
		Input: []*onnxpb.ValueInfoProto{tensorInfo("i", core.Int64, nil), tensorInfo("ci", core.Bool, nil), typedInfo("acc", core.Float32)},
		Node: []*onnxpb.NodeProto{
			node("cast", "Cast", []string{"i"}, []string{"fi"}, aInt("to", int64(core.Float32))),
			node("inner", "Loop", []string{"K", "", "acc"}, []string{"acc2"}, aGraph("body", inner)),
			node("ocond", "Identity", []string{"ci"}, []string{"ci2"}),
			node("scan", "Mul", []string{"acc2", "two"}, []string{"sc"}),
		},
		Output: []*onnxpb.ValueInfoProto{tensorInfo("ci2", core.Bool, nil), typedInfo("acc2", core.Float32), typedInfo("sc", core.Float32)},
	}
	two := f32Scalar(2)
	g := &onnxpb.GraphProto{
		Name: strp("main"),
		Input: []*onnxpb.ValueInfoProto{
			tensorInfo("x", core.Float32, []int64{4}), tensorInfo("w", core.Float32, []int64{4}),
			tensorInfo("M", core.Int64, nil), tensorInfo("K", core.Int64, nil),
		},
		Initializer: []*onnxpb.TensorProto{two.Proto("two")},
		Node: []*onnxpb.NodeProto{
			node("outer", "Loop", []string{"M", "", "x"}, []string{"y", "ys"}, aGraph("body", outer)),
		},
		Output: []*onnxpb.ValueInfoProto{typedInfo("y", core.Float32), typedInfo("ys", core.Float32)},
	}
	return modelProto(17, g)
}

func TestNestedLoop(t *testing.T) {
	m, err := Decode(encode(t, nestedLoopModel()))
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 2, 3, 4}
	w := []float32{0.5, -1, 0, 2}
	const M, K = 3, 2
	got, err := m.Run(map[string]*core.Tensor{"x": f32(sh(4), x...), "w": f32(sh(4), w...), "M": i64Scalar(M), "K": i64Scalar(K)})
	if err != nil {
		t.Fatal(err)
	}
	acc := append([]float32{}, x...)
	var ys []float32
	for i := 0; i < M; i++ {
		for j := 0; j < K; j++ {
			for k := range acc {
				acc[k] = acc[k] + w[k] + float32(i)
			}
		}
		for _, v := range acc {
			ys = append(ys, 2*v)
		}
	}
	if err := compareTensors(got["y"], f32(sh(4), acc...), 0, 0); err != nil {
		t.Errorf("y: %v", err)
	}
	if err := compareTensors(got["ys"], f32(sh(M, 4), ys...), 0, 0); err != nil {
		t.Errorf("ys: %v", err)
	}
	// The outer Loop node reads w and two for its body, so both are inputs.
	loopNode := m.Nodes()[0]
	if caps := loopNode.Inputs[loopNode.Nformal:]; strings.Join(caps, ",") != "K,w,two" {
		t.Errorf("captures %q, want K, w and two", caps)
	}
}

func TestNestedLoopORT(t *testing.T) {
	needORT(t)
	feeds := map[string]*core.Tensor{"x": f32(sh(4), 1, 2, 3, 4), "w": f32(sh(4), 0.5, -1, 0, 2), "M": i64Scalar(3), "K": i64Scalar(4)}
	diffORT(t, nestedLoopModel(), feeds, 1e-6, 1e-6)
}

func ifModel() *onnxpb.ModelProto {
	branch := func(name, op string) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{
			Name:   strp(name),
			Node:   []*onnxpb.NodeProto{node(name+"_op", op, []string{"x", "w"}, []string{name + "_y"})},
			Output: []*onnxpb.ValueInfoProto{typedInfo(name+"_y", core.Float32)},
		}
	}
	g := &onnxpb.GraphProto{
		Name:  strp("main"),
		Input: []*onnxpb.ValueInfoProto{tensorInfo("c", core.Bool, nil), tensorInfo("x", core.Float32, []int64{2, 2}), tensorInfo("w", core.Float32, []int64{2})},
		Node: []*onnxpb.NodeProto{node("if", "If", []string{"c"}, []string{"y"},
			aGraph("then_branch", branch("then", "Add")), aGraph("else_branch", branch("else", "Mul")))},
		Output: []*onnxpb.ValueInfoProto{typedInfo("y", core.Float32)},
	}
	return modelProto(17, g)
}

func TestIf(t *testing.T) {
	m, err := Decode(encode(t, ifModel()))
	if err != nil {
		t.Fatal(err)
	}
	x, w := f32(sh(2, 2), 1, 2, 3, 4), f32(sh(2), 10, -1)
	for _, c := range []bool{true, false} {
		got, err := m.Run(map[string]*core.Tensor{"c": boolScalar(c), "x": x, "w": w})
		if err != nil {
			t.Fatal(err)
		}
		want := f32(sh(2, 2), 11, 1, 13, 3)
		if !c {
			want = f32(sh(2, 2), 10, -2, 30, -4)
		}
		if err := compareTensors(got["y"], want, 0, 0); err != nil {
			t.Errorf("cond %v: %v", c, err)
		}
	}
}

func TestIfORT(t *testing.T) {
	needORT(t)
	for _, c := range []bool{true, false} {
		diffORT(t, ifModel(), map[string]*core.Tensor{"c": boolScalar(c), "x": f32(sh(2, 2), 1, 2, 3, 4), "w": f32(sh(2), 10, -1)}, 0, 0)
	}
}

func TestControlFlowErrors(t *testing.T) {
	noStop := loopModel(false, false)
	wrongArity := loopModel(true, true)
	wrongArity.Graph.Node[0].Attribute[0].G.Input = append(wrongArity.Graph.Node[0].Attribute[0].G.Input, typedInfo("extra", core.Float32))
	undefined := loopModel(true, false)
	undefined.Graph.Node[0].Attribute[0].G.Node[0].Input[1] = "nowhere"
	typeChange := loopModel(true, false)
	typeChange.Graph.Node[0].Attribute[0].G.Node = append(typeChange.Graph.Node[0].Attribute[0].G.Node,
		node("c64", "Cast", []string{"acc2"}, []string{"acc64"}, aInt("to", int64(core.Float64))))
	typeChange.Graph.Node[0].Attribute[0].G.Output[1] = typedInfo("acc64", core.Float64)
	noBody := loopModel(true, false)
	noBody.Graph.Node[0].Attribute = nil
	ifCount := ifModel()
	ifCount.Graph.Node[0].Output = []string{"y", "z"}
	ifTypes := ifModel()
	ifTypes.Graph.Node[0].Attribute[1].G.Node = append(ifTypes.Graph.Node[0].Attribute[1].G.Node,
		node("c", "Cast", []string{"else_y"}, []string{"else_64"}, aInt("to", int64(core.Float64))))
	ifTypes.Graph.Node[0].Attribute[1].G.Output[0] = typedInfo("else_64", core.Float64)
	for _, tc := range []struct {
		name string
		mp   *onnxpb.ModelProto
		want string
	}{
		{"no M, no cond", noStop, `node "loop" (Loop): the loop has neither a trip count M nor a condition`},
		{"body inputs", wrongArity, `body has 4 inputs, want 3 (iteration number, condition and 1 loop-carried values)`},
		{"undefined in body", undefined, `attribute "body": node "add" (Add): input 1 "nowhere" is not defined`},
		{"carried type", typeChange, `loop-carried value 0 enters the body as float32 and leaves it as float64`},
		{"no body", noBody, `attribute "body" (a graph) is required`},
		{"If outputs", ifCount, `then_branch has 1 outputs, the node 2`},
		{"If types", ifTypes, `output 0 is float32 in then_branch and float64 in else_branch`},
	} {
		_, err := Decode(encode(t, tc.mp))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}

	// Run-time failures name the Loop node and the iteration.
	scanShape := loopModel(true, false)
	body := scanShape.Graph.Node[0].Attribute[0].G
	body.Output[2] = typedInfo("grow", core.Float32)
	body.Node = append(body.Node, node("tile", "Tile", []string{"scan", "reps"}, []string{"grow"}),
		node("reps", "Concat", []string{"one", "i1"}, []string{"reps"}, aInt("axis", 0)),
		node("one", "Constant", nil, []string{"one"}, aTensor("value", i64(sh(1), 1))),
		node("i1", "Unsqueeze", []string{"ip1", "zero"}, []string{"i1"}),
		node("ip1", "Add", []string{"i", "onei"}, []string{"ip1"}),
		node("onei", "Constant", nil, []string{"onei"}, aTensor("value", i64Scalar(1))),
		node("zero", "Constant", nil, []string{"zero"}, aTensor("value", i64(sh(1), 0))))
	scanShape.Graph.Input[3] = typedInfo("M", core.Int64) // any shape, for the M check below
	m, err := Decode(encode(t, scanShape))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Run(map[string]*core.Tensor{"x": f32(sh(2, 3), 1, 2, 3, 4, 5, 6), "w": f32(sh(3), 1, 1, 1), "limit": f32Scalar(1000), "M": i64Scalar(3)})
	want := `node "loop" (Loop): scan output 0: iteration 1 gives float32 [2 6], iteration 0 gave float32 [2 3]`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("scan shape: got %v, want %q", err, want)
		t.Log(got)
	}
	_, err = m.Run(map[string]*core.Tensor{"x": f32(sh(2, 3), 1, 2, 3, 4, 5, 6), "w": f32(sh(3), 1, 1, 1), "limit": f32Scalar(0), "M": core.NewInt64(sh(2), []int64{1, 2})})
	if want := `node "loop" (Loop): M must have one element`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("M shape: got %v, want %q", err, want)
	}
}
