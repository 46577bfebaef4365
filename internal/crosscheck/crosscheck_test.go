package crosscheck

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/verify"
)

// tol bounds every max absolute difference these tests measure.
const tol = 1e-4

// shapes are the (batch, sequence) pairs TestRuntimeMatchesOnnxruntime runs;
// a size fixed in the model's inputs section replaces the one here, and mlp
// models ignore the sequence.
var shapes = [][2]int{{1, 3}, {2, 7}}

func initORT(t *testing.T) {
	t.Helper()
	if err := ortrun.Init(testenv.NeedORT(t)); err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
}

func exampleModels(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("../../testdata/models/*.yaml")
	if len(files) == 0 {
		t.Fatal("no model files in testdata/models")
	}
	return files
}

func goldenModels(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("../../testdata/golden/*/model.yaml")
	if len(files) == 0 {
		t.Fatal("no golden cases in testdata/golden")
	}
	return files
}

// caseName is "models/tiny-mhc" for testdata/models/tiny-mhc.yaml and
// "golden/mlp-mhc" for testdata/golden/mlp-mhc/model.yaml (both folders have
// an mlp-mhc).
func caseName(path string) string {
	if filepath.Base(path) == "model.yaml" {
		return "golden/" + filepath.Base(filepath.Dir(path))
	}
	return "models/" + strings.TrimSuffix(filepath.Base(path), ".yaml")
}

// fileName turns a case name into a file name: "golden-mlp-mhc".
func fileName(name string) string { return strings.ReplaceAll(name, "/", "-") }

// ioNames are the graph input and output names of an architecture (docs/spec.md §3).
func ioNames(kind string) (in, out string) {
	if kind == model.ArchMLP {
		return lower.MLPInput, lower.MLPOutput
	}
	return lower.InputIDs, lower.Logits
}

// An input is one graph input, built once for each engine.
type input struct {
	ort ortrun.Tensor
	rt  *mhrt.Tensor
}

func idsInput(shape []int64, ids []int64) input {
	return input{
		ort: ortrun.Tensor{Name: lower.InputIDs, DType: "int64", Shape: shape, I64: ids},
		rt:  mhrt.NewInt64(shape, ids),
	}
}

func floatInput(name string, shape []int64, xs []float32) input {
	return input{
		ort: ortrun.Tensor{Name: name, DType: "float32", Shape: shape, F32: xs},
		rt:  mhrt.NewFloat32(shape, xs),
	}
}

func (in input) String() string { return fmt.Sprint(in.ort.Shape) }

// seededInput draws the input of m at batch b and sequence s (sizes fixed in
// the model file win): token ids uniform over the vocabulary, or N(0,1)
// features for mlp. The same model, b and s give the same values.
func seededInput(m *model.Model, b, s int) input {
	if m.Inputs.Batch > 0 {
		b = m.Inputs.Batch
	}
	if m.Inputs.Sequence > 0 {
		s = m.Inputs.Sequence
	}
	h := fnv.New64a()
	h.Write([]byte(m.Name))
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(b)<<32|uint64(s)))
	if m.Arch.Kind == model.ArchMLP {
		xs := make([]float32, b*m.Arch.InputSize)
		for i := range xs {
			xs[i] = float32(r.NormFloat64())
		}
		return floatInput("x", []int64{int64(b), int64(m.Arch.InputSize)}, xs)
	}
	ids := make([]int64, b*s)
	for i := range ids {
		ids[i] = int64(r.IntN(m.Arch.VocabSize))
	}
	return idsInput([]int64{int64(b), int64(s)}, ids)
}

// An output is an engine's result for one graph output.
type output struct {
	shape []int64
	data  []float32
}

func runGo(m *mhrt.Model, in input, inName, outName string) (output, error) {
	res, err := m.Run(map[string]*mhrt.Tensor{inName: in.rt})
	if err != nil {
		return output{}, err
	}
	y, ok := res[outName]
	if !ok {
		return output{}, fmt.Errorf("no output %q among %v", outName, slices.Sorted(maps.Keys(res)))
	}
	return output{y.Shape, y.Float32s()}, nil
}

func runORT(path string, in input) (output, error) {
	outs, err := ortrun.Run(path, []ortrun.Tensor{in.ort}, 1)
	if err != nil {
		return output{}, err
	}
	if len(outs) != 1 {
		return output{}, fmt.Errorf("%d outputs, want 1", len(outs))
	}
	return output{outs[0].Shape, outs[0].F32}, nil
}

// diff returns max |got - want| over all elements (+Inf if a value is NaN or
// the shapes differ) and a description of the worst element.
func diff(got, want output) (float64, string) {
	if !slices.Equal(got.shape, want.shape) || len(got.data) != len(want.data) {
		return math.Inf(1), fmt.Sprintf("shape %v (%d values), want %v (%d values)", got.shape, len(got.data), want.shape, len(want.data))
	}
	worst, at := 0.0, -1
	for i := range want.data {
		d := math.Abs(float64(got.data[i]) - float64(want.data[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if at < 0 || d > worst {
			worst, at = d, i
		}
	}
	if at < 0 {
		return 0, "no elements"
	}
	return worst, fmt.Sprintf("element %d: %v vs %v", at, got.data[at], want.data[at])
}

// compare checks one difference against tol, logs it and returns it.
func compare(t *testing.T, what string, in input, got, want output) float64 {
	t.Helper()
	d, where := diff(got, want)
	t.Logf("%v: max |%s| = %.3g", in, what, d)
	if !(d <= tol) {
		t.Errorf("%v: max |%s| = %.3g > %g (%s)", in, what, d, tol, where)
	}
	return d
}

// nodeRE finds the op of a runtime error that names a node:
// `node "Mul_3" (Mul): …` or `node #12 (Mul → "x"): …`.
var (
	nodeRE    = regexp.MustCompile(`node (?:"[^"]*"|#\d+) \(([\w.]+)(?: → "[^"]*")?\): (.*)`)
	missingRE = regexp.MustCompile(`^(unknown op |op \S+ is implemented for opsets)`)
)

// runtimeGaps sorts the problems of a failed Decode or Run by op: ops the
// runtime has no kernel for (missing), and other problems per op.
func runtimeGaps(err error) (missing []string, other map[string]string) {
	errs := []error{err}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if multi, ok := e.(interface{ Unwrap() []error }); ok {
			errs = multi.Unwrap()
			break
		}
	}
	other = map[string]string{}
	for _, e := range errs {
		m := nodeRE.FindStringSubmatch(e.Error())
		switch {
		case m == nil:
			other["?"] = e.Error()
		case missingRE.MatchString(m[2]):
			if !slices.Contains(missing, m[1]) {
				missing = append(missing, m[1])
			}
		default:
			if _, ok := other[m[1]]; !ok {
				other[m[1]] = m[2]
			}
		}
	}
	sort.Strings(missing)
	return missing, other
}

// reportGaps fails t with the runtime's problems with the graph at path.
func reportGaps(t *testing.T, stage, path string, err error) {
	t.Helper()
	missing, other := runtimeGaps(err)
	if len(missing) > 0 {
		t.Errorf("runtime gap: the Go runtime has no kernel for %s, which %s uses", strings.Join(missing, ", "), filepath.Base(path))
	}
	for _, op := range slices.Sorted(maps.Keys(other)) {
		t.Errorf("runtime gap: %s of %s fails at op %s: %s", stage, filepath.Base(path), op, other[op])
	}
	t.Logf("%s error: %v", stage, err)
}

// opCounts counts the node op types of the ONNX model in data.
func opCounts(data []byte) (map[string]int, error) {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	ops := map[string]int{}
	for _, n := range m.GetGraph().GetNode() {
		op := n.GetOpType()
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			op = d + "." + op
		}
		ops[op]++
	}
	return ops, nil
}

func formatOps(ops map[string]int) string {
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		parts = append(parts, fmt.Sprintf("%s×%d", op, ops[op]))
	}
	return strings.Join(parts, " ")
}

func formatDiffs(d []float64) string {
	var parts []string
	for _, v := range d {
		parts = append(parts, fmt.Sprintf("%.3g", v))
	}
	return strings.Join(parts, " ")
}

// runBoth runs the model file out in onnxruntime and, decoded as m, in the
// Go runtime on the same input, failing t on an error of either (with the
// ops the Go runtime lacks, if that is the error).
func runBoth(t *testing.T, m *mhrt.Model, out string, in input, inName, outName string) (goOut, ortOut output) {
	t.Helper()
	ortOut, err := runORT(out, in)
	if err != nil {
		t.Fatalf("%v: onnxruntime: %v", in, err)
	}
	goOut, err = runGo(m, in, inName, outName)
	if err != nil {
		reportGaps(t, "Run", out, err)
		t.FailNow()
	}
	return goOut, ortOut
}

// loadGo decodes an ONNX file into the Go runtime, failing t with the ops it
// lacks when it cannot.
func loadGo(t *testing.T, path string) *mhrt.Model {
	t.Helper()
	m, err := mhrt.Load(path)
	if err != nil {
		reportGaps(t, "Decode", path, err)
		t.FailNow()
	}
	return m
}

// goVsORT writes res's ONNX to dir (named for the case name) and runs it
// in the Go runtime and in onnxruntime on the same seeded inputs at each of
// shapes: the decoded model and each shape's largest difference.
func goVsORT(t *testing.T, dir, name string, res *compile.Result) (*mhrt.Model, []float64) {
	t.Helper()
	out := filepath.Join(dir, fileName(name)+".onnx")
	if err := os.WriteFile(out, res.ONNX, 0o644); err != nil {
		t.Fatal(err)
	}
	m := loadGo(t, out)
	inName, outName := ioNames(res.Model.Arch.Kind)
	var diffs []float64
	for _, bs := range shapes {
		in := seededInput(res.Model, bs[0], bs[1])
		got, want := runBoth(t, m, out, in, inName, outName)
		diffs = append(diffs, compare(t, "Go runtime - onnxruntime", in, got, want))
	}
	return m, diffs
}

// TestRuntimeMatchesOnnxruntime runs mhcc's compile of every model in the Go
// runtime and in onnxruntime on the same seeded inputs at two shapes.
func TestRuntimeMatchesOnnxruntime(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	files := append(exampleModels(t), goldenModels(t)...)
	var sum summary
	t.Run("cases", func(t *testing.T) {
		for _, path := range files {
			name := caseName(path)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				res, err := compile.Compile(path, compile.Options{Verify: true})
				if err != nil {
					t.Fatalf("compile %s: %v", path, err)
				}
				m, diffs := goVsORT(t, dir, name, res)
				line := fmt.Sprintf("%-27s %4d nodes  max |Go runtime - onnxruntime| %s  (%v)",
					name, len(m.Nodes()), formatDiffs(diffs), time.Since(start).Round(time.Millisecond))
				sum.add(t, name, line)
			})
		}
	})
	sum.log(t)
}

// exportTorch runs scripts/reference/export_onnx.py on the model file at path
// and returns the ONNX file it wrote into dir.
func exportTorch(t *testing.T, python, path, dir string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, fileName(caseName(path))+".torch.onnx")
	cmd := exec.Command(python, filepath.Join(root, "scripts", "reference", "export_onnx.py"), path, out)
	// The models are tiny: one torch thread each leaves the CPUs to the
	// subtests running beside it. No __pycache__ in scripts/reference.
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "PYTHONDONTWRITEBYTECODE=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("export_onnx.py %s: %v\n%s", path, err, b)
	}
	return out
}

// goldenRun is run k of a golden case's io.safetensors.
type goldenRun struct {
	in   input
	want output
}

func readGolden(t *testing.T, caseDir, kind string) []goldenRun {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(caseDir, "io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inName, outName := ioNames(kind)
	var runs []goldenRun
	for k := 0; ; k++ {
		info, ok := f.Lookup(fmt.Sprintf("run%d.%s", k, inName))
		if !ok {
			break
		}
		var r goldenRun
		if inName == lower.InputIDs {
			ids, err := f.ReadInt64(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			r.in = idsInput(info.Shape, ids)
		} else {
			xs, err := f.ReadFloat32(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			r.in = floatInput(inName, info.Shape, xs)
		}
		wantInfo, ok := f.Lookup(fmt.Sprintf("run%d.%s", k, outName))
		if !ok {
			t.Fatalf("io.safetensors has run%d.%s but no run%d.%s", k, inName, k, outName)
		}
		if r.want.data, err = f.ReadFloat32(wantInfo.Name); err != nil {
			t.Fatal(err)
		}
		r.want.shape = wantInfo.Shape
		runs = append(runs, r)
	}
	if len(runs) < 2 {
		t.Fatalf("%d runs in %s/io.safetensors, want at least 2", len(runs), caseDir)
	}
	return runs
}

// opTally collects the ops of every torch export for the final log line.
type opTally struct {
	mu  sync.Mutex
	ops map[string]int
}

func (o *opTally) add(ops map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ops == nil {
		o.ops = map[string]int{}
	}
	for op, n := range ops {
		o.ops[op] += n
	}
}

// TestRuntimeRunsTorchExport exports the PyTorch reference of each golden
// case with torch.onnx.export and runs it in the Go runtime and in
// onnxruntime on the golden inputs; both must reproduce the golden outputs.
// This is a graph mhcc did not write: torch's Shape/Gather/Concat shape
// arithmetic, Slice, Where, Cast, Softmax and friends.
func TestRuntimeRunsTorchExport(t *testing.T) {
	python := testenv.NeedPython(t, "torch", "onnx")
	initORT(t)
	dir := t.TempDir()
	var tally opTally
	var sum summary
	t.Run("cases", func(t *testing.T) {
		for _, path := range goldenModels(t) {
			name := caseName(path)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				out := exportTorch(t, python, path, dir)
				data, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				ops, err := opCounts(data)
				if err != nil {
					t.Fatal(err)
				}
				tally.add(ops)
				t.Logf("torch.onnx.export emitted %s", formatOps(ops))
				exported := time.Since(start)

				mod, err := model.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				runs := readGolden(t, filepath.Dir(path), mod.Arch.Kind)
				m := loadGo(t, out)
				inName, outName := ioNames(mod.Arch.Kind)
				var goDiffs, ortDiffs []float64
				for _, r := range runs {
					want, err := runORT(out, r.in)
					if err != nil {
						t.Fatalf("%v: onnxruntime: %v", r.in, err)
					}
					ortDiffs = append(ortDiffs, compare(t, "onnxruntime - torch golden", r.in, want, r.want))
					got, err := runGo(m, r.in, inName, outName)
					if err != nil {
						reportGaps(t, "Run", out, err)
						t.FailNow()
					}
					goDiffs = append(goDiffs, compare(t, "Go runtime - torch golden", r.in, got, r.want))
				}
				line := fmt.Sprintf("%-27s %4d nodes  max |Go runtime - golden| %s  max |onnxruntime - golden| %s  (export %v, total %v)",
					name, len(m.Nodes()), formatDiffs(goDiffs), formatDiffs(ortDiffs),
					exported.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
				sum.add(t, name, line)
			})
		}
	})
	sum.log(t)
	t.Logf("summary: ops torch.onnx.export emitted (all cases): %s", formatOps(tally.ops))
}

// TestTorchExportRandomWeights covers export_onnx.py's other weight source:
// for each random-weight example of testdata/models it draws torch weights,
// writes them with a model file that points at them, and mhcc compiles that
// file. The torch graph (in the Go runtime and in onnxruntime) and mhcc's
// graph (in onnxruntime) must then agree on seeded inputs.
func TestTorchExportRandomWeights(t *testing.T) {
	python := testenv.NeedPython(t, "torch", "onnx")
	initORT(t)
	dir := t.TempDir()
	var sum summary
	t.Run("cases", func(t *testing.T) {
		for _, path := range exampleModels(t) {
			name := caseName(path)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				mod, err := model.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				if mod.Weights.Source != model.WeightsRandom {
					t.Skipf("weights from %s, not random", mod.Weights.Source)
				}
				out := exportTorch(t, python, path, dir)
				stem := strings.TrimSuffix(out, ".onnx")
				if _, err := os.Stat(stem + ".safetensors"); err != nil {
					t.Fatalf("export_onnx.py did not write the weights it drew: %v", err)
				}
				res, err := compile.Compile(stem+".yaml", compile.Options{Verify: true})
				if err != nil {
					t.Fatalf("compile the model file export_onnx.py wrote: %v", err)
				}
				mhccOut := filepath.Join(dir, fileName(name)+".mhcc.onnx")
				if err := os.WriteFile(mhccOut, res.ONNX, 0o644); err != nil {
					t.Fatal(err)
				}
				m := loadGo(t, out)
				inName, outName := ioNames(mod.Arch.Kind)
				var goDiffs, ortDiffs []float64
				for _, bs := range shapes {
					in := seededInput(mod, bs[0], bs[1])
					want, err := runORT(mhccOut, in)
					if err != nil {
						t.Fatalf("%v: onnxruntime on mhcc's graph: %v", in, err)
					}
					torchORT, err := runORT(out, in)
					if err != nil {
						t.Fatalf("%v: onnxruntime on torch's graph: %v", in, err)
					}
					ortDiffs = append(ortDiffs, compare(t, "onnxruntime(torch) - onnxruntime(mhcc)", in, torchORT, want))
					got, err := runGo(m, in, inName, outName)
					if err != nil {
						reportGaps(t, "Run", out, err)
						t.FailNow()
					}
					goDiffs = append(goDiffs, compare(t, "Go runtime(torch) - onnxruntime(mhcc)", in, got, want))
				}
				line := fmt.Sprintf("%-27s max |Go runtime(torch) - ORT(mhcc)| %s  max |ORT(torch) - ORT(mhcc)| %s",
					name, formatDiffs(goDiffs), formatDiffs(ortDiffs))
				sum.add(t, name, line)
			})
		}
	})
	sum.log(t)
}

// A summary collects one line per case from parallel subtests, logged as
// it comes and again, sorted by case, once all have run.
type summary struct {
	mu    sync.Mutex
	lines map[string]string
}

func (s *summary) add(t *testing.T, name, line string) {
	t.Helper()
	t.Log(line)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lines == nil {
		s.lines = map[string]string{}
	}
	s.lines[name] = line
}

func (s *summary) log(t *testing.T) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(s.lines)) {
		t.Logf("summary: %s", s.lines[name])
	}
}

// TestRuntimeGaps checks the gap report itself, so that a change of the
// runtime's error messages cannot hide a missing op: a graph with an op the
// runtime has no kernel for (Conv) must be reported as such.
func TestRuntimeGaps(t *testing.T) {
	tensorType := func(dims ...int64) *onnxpb.TypeProto {
		var shape onnxpb.TensorShapeProto
		for _, d := range dims {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: &shape}}}
	}
	m := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("gap"),
			Node: []*onnxpb.NodeProto{
				{Name: proto.String("conv"), OpType: proto.String("Conv"), Input: []string{"X", "X"}, Output: []string{"Y"}},
				{OpType: proto.String("Relu"), Input: []string{"Y"}, Output: []string{"Z"}},
			},
			Input:  []*onnxpb.ValueInfoProto{{Name: proto.String("X"), Type: tensorType(1, 1, 3, 3)}},
			Output: []*onnxpb.ValueInfoProto{{Name: proto.String("Z"), Type: tensorType(1, 1, 1, 1)}},
		},
	}
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mhrt.Decode(data)
	if err == nil {
		t.Fatal("the runtime gained a Conv kernel; pick another op it lacks for this test")
	}
	missing, other := runtimeGaps(err)
	t.Logf("Decode: %v; missing %v, other %v", err, missing, other)
	if !slices.Equal(missing, []string{"Conv"}) {
		t.Errorf("runtimeGaps(%v) = missing %v, other %v; want missing [Conv]", err, missing, other)
	}
}

// mhcc verify --against: a torch.onnx export of the independent reference,
// with the golden weights, verifies against the golden model file.
func TestVerifyTorchExport(t *testing.T) {
	python := testenv.NeedPython(t, "torch", "onnx")
	dir := t.TempDir()
	for _, name := range []string{"decoder-mhc-dynamic", "mlp-mhc"} {
		path := filepath.Join("..", "..", "testdata", "golden", name, "model.yaml")
		out := exportTorch(t, python, path, dir)
		rep, err := verify.ONNX(out, path, verify.Options{Seed: 3})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !rep.OK || len(rep.Runs) < 2 || rep.Gain == nil {
			t.Errorf("%s: verify --against failed:\n%s", name, rep.Text())
		}
		t.Logf("%s: torch export vs float64 reference: max abs %.3g", name, rep.Runs[len(rep.Runs)-1].MaxAbs)
	}
}
