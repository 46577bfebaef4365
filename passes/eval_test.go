package passes

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
)

// TestNoExportOrRuntimeImport: passes folds through its Evaluator, so it
// depends on neither the ONNX exporter nor the runtime (tests aside).
func TestNoExportOrRuntimeImport(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool: %v", err) // go test runs with it on PATH
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 3 {
		t.Fatalf("go list -deps gave %q", out)
	}
	for _, d := range deps {
		const mod = "github.com/mhcc-dev/mhcc/"
		if rest, ok := strings.CutPrefix(d, mod); ok && (rest == "export" || strings.HasPrefix(rest, "export/") || rest == "runtime" || strings.HasPrefix(rest, "runtime/")) {
			t.Errorf("passes depends on %s", d)
		}
	}
}

// constGraph is c = a + b with a and b constants; c is read by an output node.
func constGraph(t *testing.T) (*ir.Graph, *ir.Node) {
	t.Helper()
	g := ir.NewGraph("g")
	x := g.AddInput("x", ir.T(ir.Float32, ir.D(2)))
	a := g.AddConst("a", &ir.Tensor{DType: ir.Float32, Shape: []int64{2}, F32: []float32{1, 2}})
	b := g.AddConst("b", &ir.Tensor{DType: ir.Float32, Shape: []int64{2}, F32: []float32{10, 20}})
	sum, err := g.NewNode(ir.OpAdd, "sum", ir.Pos{}, nil, []*ir.Value{a, b}, "c")
	if err != nil {
		t.Fatal(err)
	}
	y, err := g.NewNode(ir.OpAdd, "use", ir.Pos{}, nil, []*ir.Value{x, sum.Outputs[0]}, "y")
	if err != nil {
		t.Fatal(err)
	}
	g.AddOutput(y.Outputs[0])
	return g, sum
}

// recorder is an Evaluator that records what it was given and answers
// with fixed values.
type recorder struct {
	got    []string
	f64    bool
	answer []*ir.Tensor
	err    error
}

func (r *recorder) Evaluate(g *ir.Graph, f64 bool) ([]*ir.Tensor, error) {
	r.got = append(r.got, g.String())
	r.f64 = f64
	return r.answer, r.err
}

// FoldConstants hands the Evaluator a graph of the node and its constants,
// and folds in what it answers.
func TestFoldThroughEvaluator(t *testing.T) {
	g, _ := constGraph(t)
	ev := &recorder{answer: []*ir.Tensor{{DType: ir.Float32, Shape: []int64{2}, F32: []float32{7, 8}}}}
	if _, err := Run(g, []*Pass{FoldConstants, EliminateDead}, Config{Verify: true, Eval: ev}); err != nil {
		t.Fatal(err)
	}
	wantIn := "graph fold\nconst %a: f32[2] = [1,2]\nconst %b: f32[2] = [10,20]\n%c = Add<f32[2]> %a, %b\noutput %c\n"
	if len(ev.got) != 1 || ev.got[0] != wantIn || ev.f64 {
		t.Errorf("evaluator got %q (f64 %v), want one call with\n%s", ev.got, ev.f64, wantIn)
	}
	if s := g.String(); !strings.Contains(s, "const %c.folded: f32[2] = [7,8]") || strings.Contains(s, "%c = Add") {
		t.Errorf("folded graph:\n%s", s)
	}
}

// A missing Evaluator, an error or a wrong answer fails the pass, naming the node.
func TestFoldEvaluatorErrors(t *testing.T) {
	for _, c := range []struct {
		ev   Evaluator
		want string
	}{
		{nil, "node sum (Add at "},
		{nil, "passes.Config.Eval is nil"},
		{&recorder{err: errors.New("boom")}, "boom"},
		{&recorder{}, "the evaluator gave 0 values for 1 outputs"},
		{&recorder{answer: []*ir.Tensor{{DType: ir.Int64, Shape: []int64{2}, I64: []int64{1, 2}}}}, "gave i64, want f32"},
	} {
		g, _ := constGraph(t)
		_, err := Run(g, []*Pass{FoldConstants}, Config{Eval: c.ev})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("evaluator %v: got %v, want %q", c.ev, err, c.want)
		}
	}
}
