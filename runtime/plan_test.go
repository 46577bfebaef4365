package runtime

import (
	"fmt"
	"testing"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/fast"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

// TestPlanFusesTranspose runs x·Wᵀ and Q·Kᵀ written with explicit Transposes
// (as the exporter writes them) through the plan, where the MatMuls read
// their operands transposed, and through the graph as written; the results
// must agree to float32 summation order. A Transpose with a reader other
// than a MatMul stays, and asking for a fused-away value still works.
func TestPlanFusesTranspose(t *testing.T) {
	g := &onnxpb.GraphProto{
		Input: []*onnxpb.ValueInfoProto{
			tensorInfo("x", core.Float32, sh(2, 5, 7)),
			tensorInfo("w", core.Float32, sh(9, 7)),
			tensorInfo("q", core.Float32, sh(2, 3, 5, 4)),
			tensorInfo("k", core.Float32, sh(2, 3, 6, 4)),
			tensorInfo("a", core.Float32, sh(4, 3)),
		},
		Output: []*onnxpb.ValueInfoProto{untypedInfo("y"), untypedInfo("s"), untypedInfo("z"), untypedInfo("u")},
		Node: []*onnxpb.NodeProto{
			node("wt", "Transpose", []string{"w"}, []string{"wT"}, aInts("perm", 1, 0)),
			node("lin", "MatMul", []string{"x", "wT"}, []string{"y"}),
			node("kt", "Transpose", []string{"k"}, []string{"kT"}, aInts("perm", 0, 1, 3, 2)),
			node("qk", "MatMul", []string{"q", "kT"}, []string{"s"}),
			node("at", "Transpose", []string{"a"}, []string{"aT"}, aInts("perm", 1, 0)),
			node("aa", "MatMul", []string{"aT", "a"}, []string{"z"}), // transA
			node("use", "Neg", []string{"aT"}, []string{"u"}),        // keeps aT
		},
	}
	m, err := Decode(encode(t, modelProto(17, g)))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Plan.(*fast.Plan).Gone["wT"] || !m.Plan.(*fast.Plan).Gone["kT"] || m.Plan.(*fast.Plan).Gone["aT"] {
		t.Fatalf("fused away: %v; want wT and kT only", m.Plan.(*fast.Plan).Gone)
	}
	in := map[string]*core.Tensor{
		"x": randTensor(1, 2, 5, 7), "w": randTensor(2, 9, 7),
		"q": randTensor(3, 2, 3, 5, 4), "k": randTensor(4, 2, 3, 6, 4), "a": randTensor(5, 4, 3),
	}
	planned, err := m.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := runGraph(m, in, core.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"y", "s", "z", "u"} {
		if err := compareTensors(planned[name], plain[name], 1e-6, 1e-6); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	got, err := m.RunWith(in, core.RunOptions{Outputs: []string{"kT", "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := compareTensors(got["kT"], swapLast2(in["k"]), 0, 0); err != nil {
		t.Errorf("kT: %v", err)
	}
}

// TestPlanFusesHalfSteps runs a Sinkhorn written as the exporter writes it
// (ReduceSum, Add ε, Div, over axes −2 and −1 in turn) through the plan,
// where each triple is one normSum step, and through the graph as written:
// the fused step rounds as the three nodes do, so they agree exactly, or
// (the AVX-512 form for four streams, which sums in float32) to about an
// ulp. A
// triple whose sum is read elsewhere, or whose ε is a graph input, stays.
func TestPlanFusesHalfSteps(t *testing.T) {
	eps := core.NewFloat32(sh(), []float32{1e-6})
	g := &onnxpb.GraphProto{
		Input: []*onnxpb.ValueInfoProto{
			tensorInfo("x", core.Float32, sh(2, 3, 4, 4)),
			tensorInfo("e2", core.Float32, sh()),
		},
		Initializer: []*onnxpb.TensorProto{
			eps.Proto("eps"), i64(sh(1), -2).Proto("ax2"), i64(sh(1), -1).Proto("ax1"),
		},
		Output: []*onnxpb.ValueInfoProto{untypedInfo("y3"), untypedInfo("s4")},
		Node: []*onnxpb.NodeProto{
			node("r0", "ReduceSum", []string{"x", "ax2"}, []string{"s0"}),
			node("a0", "Add", []string{"s0", "eps"}, []string{"t0"}),
			node("d0", "Div", []string{"x", "t0"}, []string{"y0"}),
			node("r1", "ReduceSum", []string{"y0", "ax1"}, []string{"s1"}),
			node("a1", "Add", []string{"eps", "s1"}, []string{"t1"}),
			node("d1", "Div", []string{"y0", "t1"}, []string{"y1"}),
			node("r2", "ReduceSum", []string{"y1", "ax2"}, []string{"s2"}),
			node("a2", "Add", []string{"s2", "e2"}, []string{"t2"}), // ε not constant
			node("d2", "Div", []string{"y1", "t2"}, []string{"y2"}),
			node("r3", "ReduceSum", []string{"y2", "ax1"}, []string{"s4"}), // sum also an output
			node("a3", "Add", []string{"s4", "eps"}, []string{"t3"}),
			node("d3", "Div", []string{"y2", "t3"}, []string{"y3"}),
		},
	}
	m, err := Decode(encode(t, modelProto(13, g)))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"s0", "t0", "s1", "t1"} {
		if !m.Plan.(*fast.Plan).Gone[name] {
			t.Errorf("%s not fused away", name)
		}
	}
	if len(m.Plan.(*fast.Plan).Gone) != 4 {
		t.Errorf("fused away %v, want s0 t0 s1 t1", m.Plan.(*fast.Plan).Gone)
	}
	x := randTensor(1, 2, 3, 4, 4)
	for i, v := range x.Float32s() {
		x.Float32s()[i] = v*v + 0.01
	}
	in := map[string]*core.Tensor{"x": x, "e2": core.NewFloat32(sh(), []float32{1e-6})}
	planned, err := m.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := runGraph(m, in, core.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tol := 0.0
	if fast.NormSum4SIMD != nil {
		tol = 3e-7
	}
	for _, name := range []string{"y3", "s4"} {
		if err := compareTensors(planned[name], plain[name], tol, 0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestPlanRecycling runs a graph whose intermediates are big enough to be
// pooled, with views (Reshape) of them read after the value they view is
// dead, several times with different inputs: each run must match the graph
// as written, and the outputs a caller holds from one run must not change
// when the next run reuses buffers.
func TestPlanRecycling(t *testing.T) {
	shape := i64(sh(2), 64, 64)
	g := &onnxpb.GraphProto{
		Input:       []*onnxpb.ValueInfoProto{tensorInfo("x", core.Float32, sh(4096))},
		Initializer: []*onnxpb.TensorProto{shape.Proto("shape")},
		Output:      []*onnxpb.ValueInfoProto{untypedInfo("out"), untypedInfo("view")},
		Node: []*onnxpb.NodeProto{
			node("sq", "Mul", []string{"x", "x"}, []string{"a"}),
			node("r", "Reshape", []string{"a", "shape"}, []string{"b"}),
			node("e", "Sigmoid", []string{"x"}, []string{"s"}),
			node("t", "Transpose", []string{"b"}, []string{"bt"}, aInts("perm", 1, 0)),
			node("m", "MatMul", []string{"b", "bt"}, []string{"c"}),
			node("n", "Neg", []string{"c"}, []string{"d"}),
			node("r2", "Reshape", []string{"s", "shape"}, []string{"s2"}),
			node("add", "Add", []string{"d", "s2"}, []string{"out"}),
			node("v", "Reshape", []string{"out", "shape"}, []string{"view"}),
		},
	}
	m, err := Decode(encode(t, modelProto(17, g)))
	if err != nil {
		t.Fatal(err)
	}
	var held []map[string]*core.Tensor
	var copies []map[string][]float32
	for run := range 4 {
		in := map[string]*core.Tensor{"x": randTensor(uint64(run), 4096)}
		got, err := m.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := runGraph(m, in, core.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"out", "view"} {
			if err := compareTensors(got[name], want[name], 1e-5, 1e-5); err != nil {
				t.Errorf("run %d: %s: %v", run, name, err)
			}
		}
		held = append(held, got)
		copies = append(copies, map[string][]float32{"out": append([]float32{}, got["out"].Float32s()...)})
	}
	for run, got := range held {
		if err := compareTensors(got["out"], core.NewFloat32(sh(64, 64), copies[run]["out"]), 0, 0); err != nil {
			t.Errorf("run %d's output changed later: %v", run, err)
		}
	}
}

// TestPlanPacksWeights: with the AVX-512 GEMM, MatMuls by constant matrices
// (x·W, x·Wᵀ through a fused Transpose) use a copy packed once; a weight
// read only that way leaves m.inits, and asking for it (or running the graph
// as written) unpacks it exactly. A weight also read by another op stays.
func TestPlanPacksWeights(t *testing.T) {
	w1, w2, w3 := randTensor(1, 300, 40), randTensor(2, 33, 300), randTensor(3, 300, 17)
	g := &onnxpb.GraphProto{
		Input:       []*onnxpb.ValueInfoProto{tensorInfo("x", core.Float32, sh(2, 5, 300))},
		Initializer: []*onnxpb.TensorProto{w1.Proto("w1"), w2.Proto("w2"), w3.Proto("w3")},
		Output:      []*onnxpb.ValueInfoProto{untypedInfo("y1"), untypedInfo("y2"), untypedInfo("y3"), untypedInfo("n3")},
		Node: []*onnxpb.NodeProto{
			node("m1", "MatMul", []string{"x", "w1"}, []string{"y1"}),
			node("t2", "Transpose", []string{"w2"}, []string{"w2T"}, aInts("perm", 1, 0)),
			node("m2", "MatMul", []string{"x", "w2T"}, []string{"y2"}),
			node("m3", "MatMul", []string{"x", "w3"}, []string{"y3"}),
			node("n3", "Neg", []string{"w3"}, []string{"n3"}),
		},
	}
	m, err := Decode(encode(t, modelProto(17, g)))
	if err != nil {
		t.Fatal(err)
	}
	if fast.SIMDKernel != nil {
		if m.Inits["w1"] != nil || m.Inits["w2"] != nil || m.Inits["w3"] == nil {
			t.Errorf("inits after packing: w1 %v, w2 %v, w3 %v; want only w3", m.Inits["w1"] != nil, m.Inits["w2"] != nil, m.Inits["w3"] != nil)
		}
	}
	in := map[string]*core.Tensor{"x": randTensor(4, 2, 5, 300)}
	got, err := m.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := runGraph(m, in, core.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"y1", "y2", "y3", "n3"} {
		if err := compareTensors(got[name], plain[name], 1e-5, 1e-5); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	ref := ref.MatmulRef(in["x"], w1)
	if err := compareTensors(got["y1"], ref, 1e-5, 1e-5); err != nil {
		t.Errorf("y1 against the reference: %v", err)
	}
	back, err := m.RunWith(in, core.RunOptions{Outputs: []string{"w1", "w2", "y2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := compareTensors(back["w1"], w1, 0, 0); err != nil {
		t.Errorf("w1 unpacked: %v", err)
	}
	if err := compareTensors(back["w2"], w2, 0, 0); err != nil {
		t.Errorf("w2 unpacked: %v", err)
	}
}

// TestPlanFusesMeanSquare: ReduceMean(Pow(x, 2)) (the RMS pattern) runs as
// one reduction of x's squares, matching the two nodes within float32
// rounding; a Pow with another exponent, or whose square is also an
// output, is left alone.
func TestPlanFusesMeanSquare(t *testing.T) {
	g := &onnxpb.GraphProto{
		Input: []*onnxpb.ValueInfoProto{tensorInfo("x", core.Float32, sh(5, 3, 37))},
		Initializer: []*onnxpb.TensorProto{
			core.NewFloat32(sh(), []float32{2}).Proto("two"), core.NewFloat32(sh(), []float32{3}).Proto("three"),
		},
		Output: []*onnxpb.ValueInfoProto{untypedInfo("m0"), untypedInfo("m1"), untypedInfo("m2"), untypedInfo("q2")},
		Node: []*onnxpb.NodeProto{
			node("p0", "Pow", []string{"x", "two"}, []string{"q0"}),
			node("r0", "ReduceMean", []string{"q0"}, []string{"m0"}, aInts("axes", -1)),
			node("p1", "Pow", []string{"x", "three"}, []string{"q1"}), // not a square
			node("r1", "ReduceMean", []string{"q1"}, []string{"m1"}, aInts("axes", -1)),
			node("p2", "Pow", []string{"x", "two"}, []string{"q2"}), // also an output
			node("r2", "ReduceMean", []string{"q2"}, []string{"m2"}, aInts("axes", 1)),
		},
	}
	m, err := Decode(encode(t, modelProto(17, g)))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Plan.(*fast.Plan).Gone["q0"] || len(m.Plan.(*fast.Plan).Gone) != 1 {
		t.Errorf("fused away %v, want q0", m.Plan.(*fast.Plan).Gone)
	}
	in := map[string]*core.Tensor{"x": randTensor(4, 5, 3, 37)}
	planned, err := m.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := runGraph(m, in, core.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"m0", "m1", "m2", "q2"} {
		if err := compareTensors(planned[name], plain[name], 1e-6, 0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestPlanFusesGemmHalfSteps runs the "gemm" Sinkhorn lowering's half-steps,
// Div(x, Gemm(x, M, ε)) with M summing the rows or the columns of the n×n
// matrices x's rows flatten, through the plan (one normSum each) and through
// the graph as written; they agree to float32 rounding of the n-term sums.
// A Gemm with another M, alpha ≠ 1 or transB, or read elsewhere, stays.
func TestPlanFusesGemmHalfSteps(t *testing.T) {
	for _, n := range []int{2, 3, 4} {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			d := n * n
			rows, cols, other := make([]float32, d*d), make([]float32, d*d), make([]float32, d*d)
			for a := range d {
				for b := range d {
					if a/n == b/n {
						rows[a*d+b] = 1
					}
					if a%n == b%n {
						cols[a*d+b] = 1
					}
					if a == b || a == (b+1)%d {
						other[a*d+b] = 1
					}
				}
			}
			g := &onnxpb.GraphProto{
				Input: []*onnxpb.ValueInfoProto{tensorInfo("x", core.Float32, sh(5, int64(d)))},
				Initializer: []*onnxpb.TensorProto{
					core.NewFloat32(sh(), []float32{1e-6}).Proto("eps"),
					core.NewFloat32(sh(int64(d), int64(d)), rows).Proto("rows"),
					core.NewFloat32(sh(int64(d), int64(d)), cols).Proto("cols"),
					core.NewFloat32(sh(int64(d), int64(d)), other).Proto("other"),
				},
				Output: []*onnxpb.ValueInfoProto{untypedInfo("y5"), untypedInfo("g4")},
				Node: []*onnxpb.NodeProto{
					node("g0", "Gemm", []string{"x", "cols", "eps"}, []string{"g0"}),
					node("d0", "Div", []string{"x", "g0"}, []string{"y0"}),
					node("g1", "Gemm", []string{"y0", "rows", "eps"}, []string{"g1"}, aFloat("alpha", 1), aInt("transA", 0)),
					node("d1", "Div", []string{"y0", "g1"}, []string{"y1"}),
					node("g2", "Gemm", []string{"y1", "other", "eps"}, []string{"g2"}), // not a half-step
					node("d2", "Div", []string{"y1", "g2"}, []string{"y2"}),
					node("g3", "Gemm", []string{"y2", "rows", "eps"}, []string{"g3"}, aInt("transB", 1)), // Mᵀ: stays
					node("d3", "Div", []string{"y2", "g3"}, []string{"y3"}),
					node("g4", "Gemm", []string{"y3", "cols", "eps"}, []string{"g4"}), // also an output
					node("d4", "Div", []string{"y3", "g4"}, []string{"y4"}),
					node("g5", "Gemm", []string{"y4", "cols", "eps"}, []string{"g5"}, aFloat("alpha", 2)),
					node("d5", "Div", []string{"y4", "g5"}, []string{"y5"}),
				},
			}
			m, err := Decode(encode(t, modelProto(13, g)))
			if err != nil {
				t.Fatal(err)
			}
			if !m.Plan.(*fast.Plan).Gone["g0"] || !m.Plan.(*fast.Plan).Gone["g1"] || len(m.Plan.(*fast.Plan).Gone) != 2 {
				t.Errorf("fused away %v, want g0 g1", m.Plan.(*fast.Plan).Gone)
			}
			x := randTensor(1, 5, int64(d))
			for i, v := range x.Float32s() {
				x.Float32s()[i] = v*v + 0.01
			}
			in := map[string]*core.Tensor{"x": x}
			planned, err := m.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := runGraph(m, in, core.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"y5", "g4"} {
				if err := compareTensors(planned[name], plain[name], 1e-6, 1e-6); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			// The fused step itself, against its definition in float64.
			y1, err := m.RunWith(in, core.RunOptions{Outputs: []string{"y1"}})
			if err != nil {
				t.Fatal(err)
			}
			want := x.Float64s()
			for _, pass := range []string{"cols", "rows"} {
				for r := range 5 {
					row := want[r*d : (r+1)*d]
					sums := make([]float64, d)
					for a := range d {
						for b := range d {
							if pass == "rows" && a/n == b/n || pass == "cols" && a%n == b%n {
								sums[b] += row[a]
							}
						}
					}
					for b := range d {
						row[b] /= sums[b] + 1e-6
					}
				}
			}
			w32 := make([]float32, len(want))
			for i, v := range want {
				w32[i] = float32(v)
			}
			if err := compareTensors(y1["y1"], core.NewFloat32(sh(5, int64(d)), w32), 1e-6, 1e-6); err != nil {
				t.Errorf("y1 against float64: %v", err)
			}
		})
	}
}

// TestFusionTable: every row of the fusions table has a distinct name, a
// matcher, a kernel and a reason.
func TestFusionTable(t *testing.T) {
	seen := map[string]bool{}
	for i, r := range fast.Fusions {
		if r.Name == "" || seen[r.Name] || r.Match == nil || r.Kernel == nil || len(r.Reason) < 20 {
			t.Errorf("fusions[%d] (%q): want a distinct name, a matcher, a kernel and a reason", i, r.Name)
		}
		seen[r.Name] = true
	}
}
