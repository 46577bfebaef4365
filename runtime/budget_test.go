package runtime

import (
	"strings"
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// withBudget runs f with the memory budget set to n bytes. Tests that call
// it must not be parallel: the budget is the process's.
func withBudget(t *testing.T, n int64, f func()) {
	t.Helper()
	old := core.SetMaxBytes(n)
	defer core.SetMaxBytes(old)
	f()
}

// TestMemoryBudget: each op asked for more than the budget fails with an
// error that names the node and says how to raise the budget, before it
// allocates; the same op under the budget runs. Every run leaves the live
// total where it found it.
func TestMemoryBudget(t *testing.T) {
	const budget = 1 << 20 // 1 MiB
	big := int64(1 << 19)  // 512 Ki elements: 2 MiB of float32
	cases := []struct {
		name  string
		op    string
		attrs []*onnxpb.AttributeProto
		ins   []*core.Tensor
		fits  []*core.Tensor // the same op with inputs that fit
	}{
		{"ConstantOfShape", "ConstantOfShape", []*onnxpb.AttributeProto{aTensor("value", f32(sh(1), 2))},
			[]*core.Tensor{i64(sh(1), big)}, []*core.Tensor{i64(sh(1), 1000)}},
		{"Expand", "Expand", nil, []*core.Tensor{f32(sh(1), 1), i64(sh(2), 512, 1024)}, []*core.Tensor{f32(sh(1), 1), i64(sh(2), 10, 10)}},
		{"Tile", "Tile", nil, []*core.Tensor{f32(sh(1), 1), i64(sh(1), big)}, []*core.Tensor{f32(sh(1), 1), i64(sh(1), 100)}},
		{"Range int64", "Range", nil, []*core.Tensor{i64Scalar(0), i64Scalar(big), i64Scalar(1)}, []*core.Tensor{i64Scalar(0), i64Scalar(100), i64Scalar(1)}},
		{"Range float", "Range", nil, []*core.Tensor{f32Scalar(0), f32Scalar(float32(big)), f32Scalar(1)}, []*core.Tensor{f32Scalar(0), f32Scalar(100), f32Scalar(1)}},
		{"Add broadcast", "Add", nil, []*core.Tensor{f32(sh(1024, 1), make([]float32, 1024)...), f32(sh(1, 1024), make([]float32, 1024)...)},
			[]*core.Tensor{f32(sh(16, 1), make([]float32, 16)...), f32(sh(1, 16), make([]float32, 16)...)}},
		{"MatMul outer", "MatMul", nil, []*core.Tensor{f32(sh(1024, 1), make([]float32, 1024)...), f32(sh(1, 1024), make([]float32, 1024)...)},
			[]*core.Tensor{f32(sh(16, 1), make([]float32, 16)...), f32(sh(1, 16), make([]float32, 16)...)}},
		{"Where", "Where", nil, []*core.Tensor{core.NewBool(sh(1024, 1), make([]bool, 1024)), f32(sh(1, 1024), make([]float32, 1024)...), f32(sh(1), 0)},
			[]*core.Tensor{core.NewBool(sh(16, 1), make([]bool, 16)), f32(sh(1, 16), make([]float32, 16)...), f32(sh(1), 0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := core.LiveBytes.Load()
			withBudget(t, budget, func() {
				_, err := runOp(t, 17, tc.op, tc.attrs, 1, tc.ins...)
				if err == nil {
					t.Fatal("no error past the budget")
				}
				for _, want := range []string{`node "n"`, "memory budget of 1 MiB", "--max-memory"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if _, err := runOp(t, 17, tc.op, tc.attrs, 1, tc.fits...); err != nil {
					t.Errorf("under the budget: %v", err)
				}
			})
			if got := core.LiveBytes.Load(); got != before {
				t.Errorf("live total %d after the runs, %d before", got, before)
			}
		})
	}
}

// TestMemoryBudgetLive: the budget counts what the run already holds, not
// only the tensor being made: two 600 KiB values fit a 1 MiB budget one at
// a time but not together.
func TestMemoryBudgetLive(t *testing.T) {
	g := &onnxpb.GraphProto{
		Input:  ins(tensorInfo("s", core.Int64, sh(1))),
		Output: ins(untypedInfo("y")),
		Node: []*onnxpb.NodeProto{
			node("a", "ConstantOfShape", []string{"s"}, []string{"a"}),
			node("b", "ConstantOfShape", []string{"s"}, []string{"b"}),
			node("add", "Add", []string{"a", "b"}, []string{"y"}),
		},
	}
	m, err := Decode(encode(t, modelProto(17, g)))
	if err != nil {
		t.Fatal(err)
	}
	withBudget(t, 1<<20, func() {
		_, err := m.Run(map[string]*core.Tensor{"s": i64(sh(1), 150_000)})
		if err == nil || !strings.Contains(err.Error(), `node "b"`) || !strings.Contains(err.Error(), "already held") {
			t.Errorf("got %v, want node b past the budget with a held", err)
		}
		if _, err := m.Run(map[string]*core.Tensor{"s": i64(sh(1), 50_000)}); err != nil {
			t.Error(err)
		}
	})
	if got := core.LiveBytes.Load(); got != 0 {
		t.Errorf("live total %d after the runs, want 0", got)
	}
}

// TestLoopIterationLimit: a Loop whose condition never turns false stops at
// the limit with an error naming the node and the option; within the limit
// it runs.
func TestLoopIterationLimit(t *testing.T) {
	m, err := Decode(encode(t, loopModel(false, true)))
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*core.Tensor{"x": f32(sh(2, 3), 0, 0, 0, 0, 0, 0), "w": f32(sh(3), 0, 0, 0), "limit": f32Scalar(1), "c0": boolScalar(true)}
	old := core.SetMaxLoopIterations(50)
	defer core.SetMaxLoopIterations(old)
	_, err = m.Run(feeds)
	if err == nil || !strings.Contains(err.Error(), `node "loop"`) || !strings.Contains(err.Error(), "50 iterations") || !strings.Contains(err.Error(), "--max-loop-iterations") {
		t.Errorf("got %v, want the loop stopped at 50 iterations", err)
	}
	feeds["w"] = f32(sh(3), 1, 1, 1) // the sum passes 1 at once
	if _, err := m.Run(feeds); err != nil {
		t.Error(err)
	}
	if core.LiveBytes.Load() != 0 {
		t.Errorf("live total %d after the runs", core.LiveBytes.Load())
	}
}

func TestDefaultMaxBytes(t *testing.T) {
	if d := core.DefaultMaxBytes(); d < 64<<20 {
		t.Errorf("DefaultMaxBytes() = %d", d)
	}
	if got := core.FormatBytes(3 << 29); got != "1.5 GiB" {
		t.Errorf("FormatBytes = %q", got)
	}
}

// TestShortMessages: a kernel error quoting a 2-million-entry attribute
// prints its ends and its length, not 15 MB of numbers.
func TestShortMessages(t *testing.T) {
	perm := make([]int64, 2_000_000)
	for i := range perm {
		perm[i] = int64(i)
	}
	_, err := runOp(t, 17, "Transpose", []*onnxpb.AttributeProto{aInts("perm", perm...)}, 1, f32(sh(2, 3), 1, 2, 3, 4, 5, 6))
	if err == nil {
		t.Fatal("no error")
	}
	if len(err.Error()) > 300 || !strings.Contains(err.Error(), "perm [0 1 2 3 4 5 6 7 … 1999998 1999999] (2000000 values) for rank 2") {
		t.Errorf("got %d bytes: %.400s", len(err.Error()), err)
	}
	if got := core.ClipMsg(strings.Repeat("é", 5000)); len(got) > core.MsgMax+40 || !strings.HasSuffix(got, "bytes more)") {
		t.Errorf("clipMsg: %d bytes, ends %q", len(got), got[len(got)-20:])
	}
}
