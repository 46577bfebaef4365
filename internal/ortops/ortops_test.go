package ortops_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/internal/fusedcase"
	"github.com/mhcc-dev/mhcc/internal/ortops"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
	mhrt "github.com/mhcc-dev/mhcc/runtime"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
)

var (
	libOnce sync.Once
	lib     *ortops.Lib
	libErr  error
	ortPath string
	libDir  string // the library built by the tests, removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	if libDir != "" {
		os.RemoveAll(libDir)
	}
	os.Exit(code)
}

// needLib returns the custom-op library, built by scripts/build-ortops into
// a temporary folder unless MHCC_ORTOPS_LIB names one, with onnxruntime
// initialised. Without gcc or onnxruntime the test skips (fails under CI).
func needLib(t testing.TB) *ortops.Lib {
	t.Helper()
	ortPath = testenv.NeedORT(t)
	path := os.Getenv(ortops.EnvLib)
	if path == "" {
		if _, err := exec.LookPath("gcc"); err != nil {
			if testenv.InCI() {
				t.Fatalf("gcc missing: the custom-op library cannot be built (CI=true, so this fails instead of skipping)")
			}
			t.Skip("gcc missing: the custom-op library cannot be built")
		}
	}
	libOnce.Do(func() {
		if libErr = ortrun.Init(ortPath); libErr != nil {
			return
		}
		if path == "" {
			root, err := testenv.RepoRoot()
			if err != nil {
				libErr = err
				return
			}
			dir, err := os.MkdirTemp("", "mhcc-ortops-")
			if err != nil {
				libErr = err
				return
			}
			libDir = dir
			path = filepath.Join(dir, "libmhcc_ortops.so")
			if libErr = ortops.Build(root, path); libErr != nil {
				return
			}
		}
		lib, libErr = ortops.Open(path)
	})
	if libErr != nil {
		t.Fatal(libErr)
	}
	return lib
}

// A fusedCase is internal/fusedcase's graph of the seven fused ONNX ops
// (options Merged, Head and Entry), each reading graph inputs only (so the
// implementations are compared op by op, without one's rounding feeding
// another).
type fusedCase struct{ *fusedcase.Case }

func newFusedCase(t testing.TB, dt ir.DType, lead []int64, n, c int64, seed uint64) *fusedCase {
	return &fusedCase{fusedcase.New(t, dt, lead, n, c, false, seed, fusedcase.Merged, fusedcase.Head, fusedcase.Entry)}
}

// inputNames is the case's graph inputs, in the order sessions take them.
func inputNames(fc *fusedcase.Case) []string {
	names := []string{"x", "fn", "base", "y", "post", "pre", "comb", "w"}
	if fc.Head {
		names = append(names, "hfn", "hbase", "hscale")
		if fc.Static {
			names = append(names, "hpost")
		}
	}
	if fc.Entry {
		names = append(names, "e")
	}
	return names
}

func (fc *fusedCase) outShape(name string) []int64 {
	for _, v := range fc.G.Outputs {
		if v.Name == name {
			var s []int64
			for _, d := range v.Type.Shape {
				s = append(s, d.Size)
			}
			return s
		}
	}
	return nil
}

// reference runs the float64 reference lowering in the Go runtime.
func (fc *fusedCase) reference(t *testing.T) map[string][]float64 {
	t.Helper()
	m, err := export.Encode(fc.G, export.Options{Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := mhrt.DecodeProto(m)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*mhrt.Tensor{}
	for name, v := range fc.Inputs {
		in[name] = mhrt.NewFloat64(fc.Shapes[name], v)
	}
	out, err := rt.Run(in)
	if err != nil {
		t.Fatalf("float64 reference: %v", err)
	}
	res := map[string][]float64{}
	for _, o := range fc.Outputs {
		res[o] = out[o].Float64s()
	}
	return res
}

// goRuntime runs the fused graph in mhcc's Go runtime: with its own kernels
// for the fused ops, or with their function bodies.
func (fc *fusedCase) goRuntime(t *testing.T, data []byte, bodies bool) map[string][]float64 {
	t.Helper()
	rt, err := mhrt.DecodeWith(data, mhrt.DecodeOptions{FunctionBodies: bodies})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*mhrt.Tensor{}
	for name, v := range fc.Inputs {
		f := make([]float32, len(v))
		for i := range v {
			f[i] = float32(v[i])
		}
		if fc.DT == ir.Float16 && fc.IsT(name) {
			in[name] = mhrt.NewFloat16(fc.Shapes[name], f)
		} else {
			in[name] = mhrt.NewFloat32(fc.Shapes[name], f)
		}
	}
	out, err := rt.Run(in)
	if err != nil {
		t.Fatalf("Go runtime: %v", err)
	}
	res := map[string][]float64{}
	for _, o := range fc.Outputs {
		f := out[o].Float32s()
		v := make([]float64, len(f))
		for i := range f {
			v[i] = float64(f[i])
		}
		res[o] = v
	}
	return res
}

// session opens data in onnxruntime, with the library registered or not.
func session(t testing.TB, data []byte, ins, outs []string, withLib bool, threads int) (*ort.DynamicAdvancedSession, error) {
	t.Helper()
	if !withLib {
		return sessionWith(t, nil, data, ins, outs, threads)
	}
	return sessionWith(t, lib, data, ins, outs, threads)
}

// sessionWith opens data in onnxruntime with the library l registered
// (none if nil).
func sessionWith(t testing.TB, l *ortops.Lib, data []byte, ins, outs []string, threads int) (*ort.DynamicAdvancedSession, error) {
	t.Helper()
	opts, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		t.Fatal(err)
	}
	if l != nil {
		if err := l.Register(opts, ortPath); err != nil {
			t.Fatal(err)
		}
	}
	return ort.NewDynamicAdvancedSessionWithONNXData(data, ins, outs, opts)
}

func f16Bytes(v []float64) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], half.Float32ToFloat16(float32(x)))
	}
	return b
}

// inputTensor is the case's input name as an onnxruntime tensor: float16
// for the case's T inputs when f16, else float32.
func inputTensor(fc *fusedcase.Case, name string, f16 bool) (ort.Value, error) {
	v, shape := fc.Inputs[name], ort.Shape(fc.Shapes[name])
	if f16 && fc.IsT(name) {
		return ort.NewCustomDataTensor(shape, f16Bytes(v), ort.TensorElementDataTypeFloat16)
	}
	f := make([]float32, len(v))
	for i := range v {
		f[i] = float32(v[i])
	}
	return ort.NewTensor(shape, f)
}

// onnxruntime runs the fused graph in onnxruntime: with the library (the
// kernels) or without (the function bodies).
func (fc *fusedCase) onnxruntime(t *testing.T, data []byte, withLib bool, threads int) map[string][]float64 {
	t.Helper()
	p := fc.prepare(t, data, withLib, threads)
	defer p.close()
	return p.results(t)
}

// widened is the run's outputs vals (float32 or float16 tensors) by their
// names, as float64.
func widened(names []string, vals []ort.Value) map[string][]float64 {
	res := map[string][]float64{}
	for i, o := range names {
		var v []float64
		switch val := vals[i].(type) {
		case *ort.Tensor[float32]:
			for _, x := range val.GetData() {
				v = append(v, float64(x))
			}
		case *ort.CustomDataTensor:
			b := val.GetData()
			for j := 0; j+1 < len(b); j += 2 {
				v = append(v, float64(half.Float16ToFloat32(binary.LittleEndian.Uint16(b[j:]))))
			}
		}
		res[o] = v
	}
	return res
}

// A prepared run is a session with its input and output tensors; names
// are its outputs'.
type prepared struct {
	s         *ort.DynamicAdvancedSession
	names     []string
	ins, outs []ort.Value
}

// prepare opens data in onnxruntime with the library l registered (none if
// nil) and makes its tensors: the inputs named ins, each from input, and an
// empty tensor for each output outs[i], of shape(i), float16 where f16(i),
// else float32.
func prepare(t testing.TB, l *ortops.Lib, data []byte, ins []string, input func(name string) (ort.Value, error), outs []string, shape func(i int) []int64, f16 func(i int) bool, threads int) *prepared {
	t.Helper()
	s, err := sessionWith(t, l, data, ins, outs, threads)
	if err != nil {
		t.Fatalf("onnxruntime session (library %v): %v", l != nil, err)
	}
	p := &prepared{s: s, names: outs}
	for _, name := range ins {
		v, err := input(name)
		if err != nil {
			t.Fatalf("input %s: %v", name, err)
		}
		p.ins = append(p.ins, v)
	}
	for i, o := range outs {
		sh := ort.Shape(shape(i))
		var v ort.Value
		if f16(i) {
			v, err = ort.NewCustomDataTensor(sh, make([]byte, 2*sh.FlattenedSize()), ort.TensorElementDataTypeFloat16)
		} else {
			v, err = ort.NewEmptyTensor[float32](sh)
		}
		if err != nil {
			t.Fatalf("output %s: %v", o, err)
		}
		p.outs = append(p.outs, v)
	}
	return p
}

// results runs p once and returns its outputs widened to float64.
func (p *prepared) results(t testing.TB) map[string][]float64 {
	t.Helper()
	if err := p.s.Run(p.ins, p.outs); err != nil {
		t.Fatalf("onnxruntime run: %v", err)
	}
	return widened(p.names, p.outs)
}

// cpuRun runs p once and returns the calling thread's CPU ms.
func (p *prepared) cpuRun(t testing.TB) float64 {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	t0 := threadCPU()
	if err := p.s.Run(p.ins, p.outs); err != nil {
		t.Fatal(err)
	}
	return float64(threadCPU()-t0) / 1e6
}

func (p *prepared) close() {
	for _, v := range append(p.ins, p.outs...) {
		v.Destroy()
	}
	p.s.Destroy()
}

// prepare is fc's graph data with fc's inputs, with the library or
// without it (the function bodies).
func (fc *fusedCase) prepare(t testing.TB, data []byte, withLib bool, threads int) *prepared {
	t.Helper()
	l := lib
	if !withLib {
		l = nil
	}
	f16 := fc.DT == ir.Float16
	return prepare(t, l, data, inputNames(fc.Case), func(name string) (ort.Value, error) { return inputTensor(fc.Case, name, f16) },
		fc.Outputs, func(i int) []int64 { return fc.outShape(fc.Outputs[i]) }, func(i int) bool { return f16 && fc.OutIsT(fc.Outputs[i]) }, threads)
}

// close reports whether got is within tolerance of want: 1e-5 relative
// (|got−want| ≤ 1e-5·max(|want|, 1)) for float32 values; for float16
// outputs, within one float16 unit in the last place of want rounded to
// float16, plus the float32 tolerance (the rounding of the output alone is
// half a unit; a value near zero after cancellation carries the float32
// sums' absolute error, which in float16's subnormal range exceeds a unit).
func closeTo(got, want float64, f16 bool) bool {
	if f16 {
		w := float64(half.Float16ToFloat32(half.Float32ToFloat16(float32(want))))
		ulp := math.Max(math.Abs(w)*math.Pow(2, -10), math.Pow(2, -24))
		return math.Abs(got-w) <= ulp+1e-5*math.Max(math.Abs(want), 1)
	}
	return math.Abs(got-want) <= 1e-5*math.Max(math.Abs(want), 1)
}

func (fc *fusedCase) compare(t *testing.T, who string, got, want map[string][]float64) {
	t.Helper()
	for _, o := range fc.Outputs {
		g, w := got[o], want[o]
		if len(g) != len(w) {
			t.Fatalf("%s: %s: %s has %d values, want %d", fc, who, o, len(g), len(w))
		}
		bad := 0
		for i := range w {
			if !closeTo(g[i], w[i], fc.DT == ir.Float16 && fc.OutIsT(o)) {
				if bad < 3 {
					t.Errorf("%s: %s: %s[%d] = %.9g, want %.9g", fc, who, o, i, g[i], w[i])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %s: %s: %d of %d values off", fc, who, o, bad, len(w))
		}
	}
}

// TestKernelsMatchBodiesAndReference runs the seven fused ops in onnxruntime
// with the library (checking from its counters that its kernels ran, once
// per node), in onnxruntime without it (the function bodies) and in mhcc's
// Go runtime (its own kernels, held to the library's, and the function
// bodies), and compares them with the float64 reference lowering: float32 and float16 states, n = 2..8 streams, 1 to 4096 tokens,
// on 1 and 2 threads.
func TestKernelsMatchBodiesAndReference(t *testing.T) {
	l := needLib(t)
	type shape struct {
		lead    []int64
		c       int64
		threads int
	}
	shapes := []shape{{[]int64{1}, 32, 1}, {[]int64{2, 9}, 24, 2}}
	for _, dt := range []ir.DType{ir.Float32, ir.Float16} {
		for n := int64(2); n <= 8; n++ {
			cases := shapes
			if n == 2 || n == 4 || n == 8 {
				cases = append(cases, shape{[]int64{4096}, 16, 2}, shape{[]int64{1, 4096}, 8, 1})
			}
			for _, s := range cases {
				fc := newFusedCase(t, dt, s.lead, n, s.c, uint64(n))
				t.Run(fc.String(), func(t *testing.T) {
					// the Go runtime's bodies are slow at 4096 tokens
					fc.check(t, l, s.threads, s.lead[len(s.lead)-1] < 4096 || n == 4)
				})
			}
		}
	}
}

// check runs fc's graph in onnxruntime with the library (checking from its
// counters that its kernels ran, once per node), without it, in mhcc's Go
// runtime with its kernels and, if goBodies, with the function bodies, and
// compares each with the float64 reference and the kernels with the bodies.
func (fc *fusedCase) check(t *testing.T, l *ortops.Lib, threads int, goBodies bool) {
	data := fc.ONNX(t)
	want := fc.reference(t)
	before := l.Calls()
	kern := fc.onnxruntime(t, data, true, threads)
	after := l.Calls()
	nodes := mhccNodes(t, data)
	if len(nodes) < 4 || fc.Head && nodes["HCHead"] != 1 || fc.Entry && nodes["HCEntry"] != 1 {
		t.Errorf("the case's graph has ai.mhcc nodes %v; want the four fused ops at least (and one HCHead with the option Head, one HCEntry with Entry)", nodes)
	}
	for _, op := range export.FusedOpTypes {
		if d := after[op] - before[op]; d != nodes[op] {
			t.Errorf("library kernel %s ran %d times in one run of a graph with %d such nodes", op, d, nodes[op])
		}
	}
	body := fc.onnxruntime(t, data, false, threads)
	for op, n := range l.Calls() {
		if d := n - after[op]; d != 0 {
			t.Errorf("without the library, its %s kernel ran %d times", op, d)
		}
	}
	fc.compare(t, "kernels vs float64 reference", kern, want)
	fc.compare(t, "onnxruntime function bodies vs float64 reference", body, want)
	fc.compare(t, "kernels vs onnxruntime function bodies", kern, body)
	fc.compare(t, "Go runtime kernels vs library kernels", fc.goRuntime(t, data, false), kern)
	if goBodies {
		goBody := fc.goRuntime(t, data, true)
		fc.compare(t, "kernels vs Go runtime function bodies", kern, goBody)
	}
}

// TestKernelsProjectionBlocks covers what the shapes of
// TestKernelsMatchBodiesAndReference leave out of the coefficient ops'
// token-tiled projection (coeffs_gemm in ortops/mhcc_ortops.c): states
// longer than one reduction block (n·C > 256) whose blocks straddle two
// streams (C = 200), token blocks cut short at the end of a task (37 tokens
// in two tasks), and its kernels: the 16-lane ones (AVX-512, where the CPU
// has it: micro16p for n = 4 and micro16, which MHCC_ORTOPS_NO_PAIRS=1
// makes n = 4 use too) and the 8-lane one (MHCC_ORTOPS_NO_AVX512=1); the
// library reads both variables at each call.
func TestKernelsProjectionBlocks(t *testing.T) {
	l := needLib(t)
	for _, env := range []struct{ noWide, noPairs string }{{"", ""}, {"", "1"}, {"1", ""}} {
		for _, dt := range []ir.DType{ir.Float32, ir.Float16} {
			for _, n := range []int64{3, 4, 5, 8} {
				if env.noPairs != "" && n != 4 {
					continue
				}
				fc := newFusedCase(t, dt, []int64{1, 37}, n, 200, uint64(n))
				t.Run(fmt.Sprintf("%s/no_avx512=%q/no_pairs=%q", fc, env.noWide, env.noPairs), func(t *testing.T) {
					t.Setenv("MHCC_ORTOPS_NO_AVX512", env.noWide)
					t.Setenv("MHCC_ORTOPS_NO_PAIRS", env.noPairs)
					fc.check(t, l, 2, false)
				})
			}
		}
	}
}

// TestUnsupportedFailsAtSessionCreation: a fused op with a stream count
// outside 2..8 or a float64 state is refused by the library's kernel
// creation, so the session fails to open, naming the node, and by mhcc's Go
// runtime when it decodes the model; HCHead's and HCEntry's kernels refuse
// it too (the graph cut down to that node; HCEntry's n is its streams
// attribute, its state input e).
func TestUnsupportedFailsAtSessionCreation(t *testing.T) {
	needLib(t)
	for _, tc := range []struct {
		dt   ir.DType
		n    int64
		want string
	}{
		{ir.Float32, 9, "x has 9 streams; the kernels support n = 2 to 8"},
		{ir.Float32, 1, "x has 1 streams; the kernels support n = 2 to 8"},
		{ir.Float64, 4, "input x has element type 11; the kernels take float32 (1) or float16 (10)"},
	} {
		fc := newFusedCase(t, tc.dt, []int64{3}, tc.n, 8, 1)
		t.Run(fc.String(), func(t *testing.T) {
			data := fc.ONNX(t)
			s, err := session(t, data, inputNames(fc.Case), fc.Outputs, true, 1)
			if err == nil {
				s.Destroy()
				t.Fatalf("session opened; want an error naming the node")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, `mhcc ortops: node "pa/1_HCCoeffsSinkhorn" (ai.mhcc.HCCoeffsSinkhorn)`) &&
				!strings.Contains(msg, `mhcc ortops: node "na/1_HCPremixNorm"`) && !strings.Contains(msg, `node "pb/`) && !strings.Contains(msg, `node "nb/`) {
				t.Errorf("error %q does not name a fused node with %q", msg, tc.want)
			}
			// mhcc's Go runtime refuses it too, when it decodes the model.
			if _, err := mhrt.Decode(data); err == nil || !strings.Contains(err.Error(), `node "pa/1_HCCoeffsSinkhorn" (ai.mhcc.HCCoeffsSinkhorn)`) {
				t.Errorf("Go runtime: got %v, want an error naming node pa/1_HCCoeffsSinkhorn", err)
			}
			// Without the library the same graph runs its bodies.
			s, err = session(t, data, inputNames(fc.Case), fc.Outputs, false, 1)
			if err != nil {
				t.Errorf("without the library: %v", err)
			} else {
				s.Destroy()
			}
			// The graph cut down to its HCHead node: that kernel refuses it
			// too, naming its node.
			head := onlyOp(t, data, "HCHead")
			s, err = session(t, head, inputNames(fc.Case), []string{"nh", "sh"}, true, 1)
			if err == nil {
				s.Destroy()
				t.Fatalf("HCHead alone: session opened; want an error naming the node")
			}
			if msg := err.Error(); !strings.Contains(msg, `mhcc ortops: node "`) || !strings.Contains(msg, `(ai.mhcc.HCHead): `+tc.want) {
				t.Errorf("HCHead alone: error %q does not name the HCHead node with %q", msg, tc.want)
			}
			entry := onlyOp(t, data, "HCEntry")
			s, err = session(t, entry, inputNames(fc.Case), []string{"pe", "qe", "ce", "ne", "me"}, true, 1)
			if err == nil {
				s.Destroy()
				t.Fatalf("HCEntry alone: session opened; want an error naming the node")
			}
			want := strings.Replace(tc.want, "input x", "input e", 1)
			if msg := err.Error(); !strings.Contains(msg, `mhcc ortops: node "`) || !strings.Contains(msg, `(ai.mhcc.HCEntry): `+want) {
				t.Errorf("HCEntry alone: error %q does not name the HCEntry node with %q", msg, want)
			}
		})
	}
}

// onlyOp is the ONNX model data with only its ai.mhcc nodes of type op
// (their model-local functions and every graph input kept), whose
// outputs become the graph's outputs.
func onlyOp(t *testing.T, data []byte, op string) []byte {
	t.Helper()
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	g := m.GetGraph()
	outs := map[string]*onnxpb.ValueInfoProto{}
	for _, v := range g.GetOutput() {
		outs[v.GetName()] = v
	}
	var nodes []*onnxpb.NodeProto
	var keep []*onnxpb.ValueInfoProto
	for _, nd := range g.GetNode() {
		if nd.GetDomain() != "ai.mhcc" || nd.GetOpType() != op {
			continue
		}
		nodes = append(nodes, nd)
		for _, o := range nd.GetOutput() {
			if v := outs[o]; v != nil {
				keep = append(keep, v)
			}
		}
	}
	if len(nodes) == 0 {
		t.Fatalf("the model has no ai.mhcc %s node", op)
	}
	g.Node, g.Output = nodes, keep
	b, err := proto.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
