// Command runtime benchmarks mhcc's pure-Go ONNX runtime (runtime/) against
// gonum's blas32.Gemm and onnxruntime, side by side in one process, and writes
// a Markdown report. See bench/README.md for what it measures and how to read
// the tables; scripts/bench-runtime builds and runs it.
//
// Every contender of a section runs in the same rounds: after the warm-up,
// round r runs each contender once (one sample), starting at a different
// contender each round, so that load from the rest of a shared machine hits
// all of them alike. A sample is the mean of enough back-to-back calls to last
// at least -min-sample; the report gives each contender's median sample and
// the ratios of medians, which are far steadier than the absolute times.
//
//	cd bench && CGO_ENABLED=1 go run ./runtime -out runtime.md
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mhcc-dev/mhcc/bench/internal/benchenv"
	"github.com/mhcc-dev/mhcc/bench/internal/benchort"
	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
	"github.com/mhcc-dev/mhcc/lower"

	ort "github.com/yalue/onnxruntime_go"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/runtime/feed"
)

// options are the command-line flags.
type options struct {
	reps      int
	warmup    int
	minSample time.Duration
	quick     bool
	out       string
	ortLib    string
	root      string
	command   string
	threads   []int
}

func main() {
	var o options
	var threads string
	flag.IntVar(&o.reps, "reps", 15, "measured rounds; each contender's median over them is reported")
	flag.IntVar(&o.warmup, "warmup", 1, "unmeasured rounds after each contender's first call (at least 1)")
	flag.DurationVar(&o.minSample, "min-sample", 50*time.Millisecond, "a sample repeats a call until it lasts this long")
	flag.BoolVar(&o.quick, "quick", false, "smoke run: 3 reps, 1 warm-up, MatMul 256³ and the tiny decoders only")
	flag.StringVar(&o.out, "out", "", "write the Markdown report to this file as well as to stdout")
	flag.StringVar(&o.ortLib, "ort-lib", "", "onnxruntime shared library (default $MHCC_ORT_LIB, else <root>/.cache/onnxruntime-1.30.0/libonnxruntime.so.1)")
	flag.StringVar(&o.root, "root", "", "the mhcc repository (default: found from the working directory)")
	flag.StringVar(&o.command, "command", "", "the command line to show in the report (default: this program's own)")
	flag.StringVar(&threads, "threads", "1,2", "thread counts to run every contender at (GOMAXPROCS for Go, intra-op threads for onnxruntime)")
	flag.Parse()
	if err := o.finish(threads); err != nil {
		fmt.Fprintln(os.Stderr, "bench/runtime:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/runtime:", err)
		os.Exit(1)
	}
}

// finish checks the flags and fills in the defaults that depend on others.
func (o *options) finish(threads string) error {
	if o.quick {
		o.reps, o.warmup = min(o.reps, 3), 1
	}
	if o.reps < 1 || o.warmup < 1 {
		return errors.New("-reps and -warmup must be at least 1")
	}
	for f := range strings.SplitSeq(threads, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || t < 1 {
			return fmt.Errorf("-threads: bad thread count %q", f)
		}
		o.threads = append(o.threads, t)
	}
	return benchenv.Defaults(&o.root, &o.ortLib, &o.command)
}

func run(o options) error {
	start := time.Now()
	loadBefore := benchenv.LoadAvg(" ")
	ortErr := initORT(o.ortLib)
	if ortErr != nil {
		fmt.Fprintf(os.Stderr, "bench/runtime: onnxruntime contenders skipped: %v\n", ortErr)
	}
	hwmReset := resetPeakRSS() == nil

	sizes := []int{256, 1024}
	decoders := []decoderCase{
		{"testdata/models/tiny-mhc.yaml", 16},
		{"testdata/models/tiny-residual.yaml", 16},
		{"testdata/golden/decoder-mhc-dynamic/model.yaml", 16},
		{"bench/models/decoder-256.yaml", 128},
		{"bench/models/decoder-256-residual.yaml", 128},
		{"bench/models/decoder-1024.yaml", 256},
		{"bench/models/decoder-1024-residual.yaml", 256},
	}
	if o.quick {
		sizes, decoders = sizes[:1], decoders[:3]
	}

	var mm []section
	for _, n := range sizes {
		s, err := matmulSection(o, n, ortErr == nil)
		if err != nil {
			return err
		}
		mm = append(mm, s)
	}
	var dec []section
	for _, d := range decoders {
		s, err := decoderSection(o, d, ortErr == nil)
		if err != nil {
			return err
		}
		dec = append(dec, s)
	}

	var b strings.Builder
	writeReport(&b, o, mm, dec, reportInfo{loadBefore: loadBefore, ortErr: ortErr, hwmReset: hwmReset, elapsed: time.Since(start)})
	fmt.Print(b.String())
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(b.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench/runtime: wrote %s\n", o.out)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Contenders and the measuring loop.

// A contender is one way of computing a section's result.
type contender struct {
	name    string // "mhcc Go", "gonum blas32", "onnxruntime"
	threads int
	procs   int                       // GOMAXPROCS while it runs; 0 leaves it alone
	run     func() error              // one call
	result  func() ([]float32, error) // the last call's result, for the cross-check
	close   func()

	// Filled in by measure.
	calls     int             // calls per sample
	samples   []time.Duration // time per call, one per measured round
	rssGrowth int64           // peak RSS growth over the first call, bytes (-1: unknown)
	goAlloc   uint64          // bytes the Go heap allocated during the first call
	maxDiff   float64         // max |result - reference contender's result|
}

func (c *contender) median() time.Duration {
	s := slices.Clone(c.samples)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// call runs c n times under its GOMAXPROCS and returns the time per call.
func (c *contender) call(n int) (time.Duration, error) {
	if c.procs > 0 {
		prev := goruntime.GOMAXPROCS(c.procs)
		defer goruntime.GOMAXPROCS(prev)
	}
	t0 := time.Now()
	for range n {
		if err := c.run(); err != nil {
			return 0, fmt.Errorf("%s (%d threads): %w", c.name, c.threads, err)
		}
	}
	return time.Since(t0) / time.Duration(n), nil
}

// measure runs the contenders of one section: each one's first call alone,
// with its peak RSS growth recorded and its result checked against the first
// contender's; then o.warmup rounds of one call each, the last of which sets
// the calls per sample; then o.reps measured rounds, interleaved.
func measure(o options, label string, cs []*contender) error {
	fmt.Fprintf(os.Stderr, "bench/runtime: %s:", label)
	defer fmt.Fprintln(os.Stderr)
	var ref []float32
	for i, c := range cs {
		var m0, m1 goruntime.MemStats
		growth, err := peakRSSGrowth(func() error {
			goruntime.ReadMemStats(&m0)
			_, err := c.call(1)
			goruntime.ReadMemStats(&m1)
			return err
		})
		if err != nil {
			return err
		}
		c.rssGrowth, c.goAlloc = growth, m1.TotalAlloc-m0.TotalAlloc
		res, err := c.result()
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if i == 0 {
			ref = slices.Clone(res)
		}
		if c.maxDiff, err = maxAbsDiff(ref, res); err != nil {
			return fmt.Errorf("%s (%d threads) against %s: %w", c.name, c.threads, cs[0].name, err)
		}
	}
	for range o.warmup {
		for _, c := range cs {
			d, err := c.call(1)
			if err != nil {
				return err
			}
			c.calls = benchenv.CallsPerSample(o.minSample, d)
		}
	}
	return benchenv.Interleave(o.reps, len(cs), func(i int) error {
		c := cs[i]
		d, err := c.call(c.calls)
		if err != nil {
			return err
		}
		c.samples = append(c.samples, d)
		return nil
	})
}

// goContender runs a model with mhcc's Go runtime at GOMAXPROCS procs. The
// model is decoded before anything is timed.
func goContender(onnx []byte, inputs map[string]*mhrt.Tensor, output string, procs int) (*contender, error) {
	m, err := mhrt.Decode(onnx)
	if err != nil {
		return nil, err
	}
	var last map[string]*mhrt.Tensor
	return &contender{
		name: "mhcc Go", threads: procs, procs: procs,
		run: func() (err error) {
			last, err = m.Run(inputs)
			return err
		},
		result: func() ([]float32, error) {
			t, ok := last[output]
			if !ok {
				return nil, fmt.Errorf("no output %q", output)
			}
			return t.Float32s(), nil
		},
		close: func() {},
	}, nil
}

// gonumContender computes C = A·B for n×n matrices with gonum's blas32.Gemm
// (pure Go, its goroutines bounded by GOMAXPROCS = procs) into a C allocated
// once: unlike the two runtimes, it allocates nothing per call.
func gonumContender(n int, a, b []float32, procs int) *contender {
	ma := blas32.General{Rows: n, Cols: n, Stride: n, Data: a}
	mb := blas32.General{Rows: n, Cols: n, Stride: n, Data: b}
	mc := blas32.General{Rows: n, Cols: n, Stride: n, Data: make([]float32, n*n)}
	for i := range mc.Data { // touch C now, or its first call's RSS growth counts it
		mc.Data[i] = 1
	}
	return &contender{
		name: "gonum blas32", threads: procs, procs: procs,
		run: func() error {
			blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, ma, mb, 0, mc)
			return nil
		},
		result: func() ([]float32, error) { return mc.Data, nil },
		close:  func() {},
	}
}

// ortContender runs a model with onnxruntime through a session created once
// with `threads` intra-op threads (inter-op 1, default graph optimisations).
// onnxruntime allocates the outputs of each call, as mhcc's runtime does; the
// previous call's outputs are released at the start of the next.
func ortContender(onnx []byte, inputs map[string]*mhrt.Tensor, output string, threads int) (*contender, error) {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(onnx)
	if err != nil {
		return nil, err
	}
	var inNames, outNames []string
	var inVals []ort.Value
	for _, info := range ins {
		v, err := ortValue(inputs[info.Name])
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", info.Name, err)
		}
		inNames, inVals = append(inNames, info.Name), append(inVals, v)
	}
	outIdx := -1
	for i, info := range outs {
		outNames = append(outNames, info.Name)
		if info.Name == output {
			outIdx = i
		}
	}
	if outIdx < 0 {
		return nil, fmt.Errorf("no output %q", output)
	}
	s, err := benchort.Session(onnx, inNames, outNames, threads, nil)
	if err != nil {
		return nil, err
	}
	outVals := make([]ort.Value, len(outNames))
	release := func() {
		for i, v := range outVals {
			if v != nil {
				v.Destroy()
				outVals[i] = nil
			}
		}
	}
	return &contender{
		name: "onnxruntime", threads: threads,
		run: func() error {
			release()
			return s.Run(inVals, outVals)
		},
		result: func() ([]float32, error) {
			t, ok := outVals[outIdx].(*ort.Tensor[float32])
			if !ok {
				return nil, fmt.Errorf("output %q is %T, not a float32 tensor", output, outVals[outIdx])
			}
			return t.GetData(), nil
		},
		close: func() {
			release()
			s.Destroy()
			for _, v := range inVals {
				v.Destroy()
			}
		},
	}, nil
}

// ortValue copies a float32 or int64 tensor of mhcc's runtime into onnxruntime.
func ortValue(t *mhrt.Tensor) (ort.Value, error) {
	if t == nil {
		return nil, errors.New("not given")
	}
	shape := ort.NewShape(t.Shape...)
	switch t.DType {
	case mhrt.Float32:
		return ort.NewTensor(shape, slices.Clone(t.Float32s()))
	case mhrt.Int64:
		return ort.NewTensor(shape, slices.Clone(t.Int64s()))
	}
	return nil, fmt.Errorf("element type %v not supported here", t.DType)
}

// initORT loads onnxruntime once for the process.
func initORT(lib string) error {
	if _, err := os.Stat(lib); err != nil {
		return err
	}
	ort.SetSharedLibraryPath(lib)
	return ort.InitializeEnvironment(ort.WithLogLevelError())
}

// ---------------------------------------------------------------------------
// Sections.

// A section is one problem and its measured contenders.
type section struct {
	title string
	file  string  // the model file, for decoders
	flops float64 // per call; 0 when not counted
	cs    []*contender
}

// matmulSection measures C = A·B for n×n float32 matrices: mhcc's runtime on
// a one-node ONNX model, gonum, and onnxruntime on the same model, at each
// thread count.
func matmulSection(o options, n int, withORT bool) (section, error) {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	a, b := randFloats(rng, n*n), randFloats(rng, n*n)
	onnx, err := matmulModel(n)
	if err != nil {
		return section{}, err
	}
	shape := []int64{int64(n), int64(n)}
	inputs := map[string]*mhrt.Tensor{"A": mhrt.NewFloat32(shape, a), "B": mhrt.NewFloat32(shape, b)}
	s := section{title: fmt.Sprintf("%d×%d×%d", n, n, n), flops: 2 * float64(n) * float64(n) * float64(n)}
	for _, t := range o.threads {
		g, err := goContender(onnx, inputs, "C", t)
		if err != nil {
			return s, fmt.Errorf("MatMul %d: %w", n, err)
		}
		s.cs = append(s.cs, g, gonumContender(n, a, b, t))
		if withORT {
			c, err := ortContender(onnx, inputs, "C", t)
			if err != nil {
				return s, fmt.Errorf("MatMul %d: onnxruntime: %w", n, err)
			}
			s.cs = append(s.cs, c)
		}
	}
	defer closeAll(s.cs)
	return s, measure(o, "MatMul "+s.title, s.cs)
}

// matmulModel is a one-node ONNX model (IR 8, opset 17): C = MatMul(A, B)
// with A and B n×n float32 graph inputs.
func matmulModel(n int) ([]byte, error) {
	vi := func(name string) *onnxpb.ValueInfoProto { return onnxbuild.Info(name, tensor.Float, n, n) }
	m := &onnxpb.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("mhcc bench/runtime"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name:   proto.String("matmul"),
			Node:   []*onnxpb.NodeProto{{Name: proto.String("mm"), OpType: proto.String("MatMul"), Input: []string{"A", "B"}, Output: []string{"C"}}},
			Input:  []*onnxpb.ValueInfoProto{vi("A"), vi("B")},
			Output: []*onnxpb.ValueInfoProto{vi("C")},
		},
	}
	return proto.Marshal(m)
}

// A decoderCase is a model file (relative to the repository) and the
// sequence length to run it at, batch 1.
type decoderCase struct {
	path string
	seq  int
}

// decoderSection compiles a decoder with mhcc and runs it on random token ids
// with mhcc's runtime and onnxruntime, at each thread count.
func decoderSection(o options, d decoderCase, withORT bool) (section, error) {
	res, err := compile.Compile(filepath.Join(o.root, d.path), compile.Options{})
	if err != nil {
		return section{}, err
	}
	// Token ids in [0, vocab), batch 1, as mhcc run makes them.
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(res.ONNX, &mp); err != nil {
		return section{}, err
	}
	in := feed.New(mp.GetGraph(), 1)
	if ok, err := in.Bind("sequence", int64(d.seq), "bench"); !ok || err != nil {
		return section{}, fmt.Errorf("%s: no sequence dim to set (%v)", d.path, err)
	}
	inputs, err := in.GenerateAll()
	if err != nil {
		return section{}, fmt.Errorf("%s: %w", d.path, err)
	}
	s := section{title: fmt.Sprintf("%s, seq %d", res.Model.Name, d.seq), file: d.path}
	for _, t := range o.threads {
		g, err := goContender(res.ONNX, inputs, lower.Logits, t)
		if err != nil {
			return s, fmt.Errorf("%s: %w", d.path, err)
		}
		s.cs = append(s.cs, g)
		if withORT {
			c, err := ortContender(res.ONNX, inputs, lower.Logits, t)
			if err != nil {
				return s, fmt.Errorf("%s: onnxruntime: %w", d.path, err)
			}
			s.cs = append(s.cs, c)
		}
	}
	defer closeAll(s.cs)
	return s, measure(o, res.Model.Name, s.cs)
}

func closeAll(cs []*contender) {
	for _, c := range cs {
		c.close()
	}
}

func randFloats(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return v
}

func maxAbsDiff(a, b []float32) (float64, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("%d elements, want %d", len(b), len(a))
	}
	var m float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.Inf(1), nil
		}
		m = max(m, d)
	}
	return m, nil
}

// ---------------------------------------------------------------------------
// Peak RSS.

// peakRSSGrowth runs f and returns how far the process's peak resident set
// (VmHWM) rose above where it stood before: after a GC that returns free
// memory to the OS and, where the kernel allows, a reset of VmHWM to the
// current RSS (writing 5 to /proc/self/clear_refs). It is -1 where
// /proc/self/status cannot be read.
func peakRSSGrowth(f func() error) (int64, error) {
	goruntime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	before, errB := procStatus("VmHWM")
	err := f()
	after, errA := procStatus("VmHWM")
	if errB != nil || errA != nil {
		return -1, err
	}
	return after - before, err
}

// resetPeakRSS sets VmHWM to the current RSS (Linux 4.0 and later).
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// procStatus returns a "kB" field of /proc/self/status in bytes.
func procStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// ---------------------------------------------------------------------------
// The report.

type reportInfo struct {
	loadBefore string
	ortErr     error
	hwmReset   bool
	elapsed    time.Duration
}

func writeReport(w io.Writer, o options, mm, dec []section, info reportInfo) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Runtime benchmark\n\n")
	p("Written by `bench/runtime` (see [README.md](README.md) for what each number means). ")
	p("Contenders ran interleaved in one process; times are medians of %d samples after %d warm-up round(s), ", o.reps, o.warmup)
	p("a sample being the mean of back-to-back calls lasting at least %v. ", o.minSample)
	p("Compare ratios, not absolute times: the machine is shared.\n\n")

	ortVersion := "not loaded: " + fmt.Sprint(info.ortErr)
	if info.ortErr == nil {
		ortVersion = ort.GetVersion() + " (`" + displayPath(o.root, o.ortLib) + "`)"
	}
	p("| | |\n|---|---|\n")
	p("| CPU | %s (%s) |\n", benchenv.CPUModel(), cpuFlags("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"))
	p("| nproc | %d |\n", goruntime.NumCPU())
	p("| date | %s |\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("| Go | %s %s/%s |\n", goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
	p("| onnxruntime | %s, via onnxruntime_go %s |\n", ortVersion, benchenv.ModuleVersion("github.com/yalue/onnxruntime_go"))
	p("| gonum | %s (blas32.Gemm, pure Go) |\n", benchenv.ModuleVersion("gonum.org/v1/gonum"))
	p("| mhcc kernels | %s |\n", mhrt.Kernels())
	p("| GOEXPERIMENT | %s |\n", buildSetting("GOEXPERIMENT"))
	p("| load average before | %s |\n", info.loadBefore)
	p("| load average after | %s |\n", benchenv.LoadAvg(" "))
	p("| mhcc | %s |\n", benchenv.GitDescribe(o.root, "runtime"))
	p("| command | `%s` |\n", o.command)
	p("| wall time | %s |\n\n", info.elapsed.Round(time.Second))

	p("## MatMul, float32, C = A·B (n×n×n)\n\n")
	p("`× mhcc` is mhcc Go's median time over this row's at the same thread count: how many times faster than mhcc's runtime it is.\n\n")
	p("| n | contender | threads | median ms | min–max ms | GFLOP/s | × mhcc | peak RSS growth | Go alloc/call | max \\|Δ\\| vs mhcc |\n")
	p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range mm {
		for _, c := range s.cs {
			med := c.median()
			p("| %s | %s | %d | %s | %s | %.1f | %s | %s | %s | %s |\n", s.title, c.name, c.threads, ms(med), spread(c),
				s.flops/med.Seconds()/1e9, ratio(s.cs, c), mib(c.rssGrowth), mib(int64(c.goAlloc)), diff(c.maxDiff))
		}
	}
	p("\n")

	p("## Decoders, batch 1\n\n")
	p("`mhcc ÷ this` is mhcc Go's median time over this row's at the same thread count; on an onnxruntime row it is the Go/ORT latency ratio.\n\n")
	p("| model | contender | threads | median ms | min–max ms | mhcc ÷ this | peak RSS growth | Go alloc/call | max \\|Δ\\| logits vs mhcc |\n")
	p("|---|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range dec {
		for _, c := range s.cs {
			p("| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", s.title, c.name, c.threads, ms(c.median()), spread(c),
				ratio(s.cs, c), mib(c.rssGrowth), mib(int64(c.goAlloc)), diff(c.maxDiff))
		}
	}
	p("\nModel files: ")
	for i, s := range dec {
		if i > 0 {
			p(", ")
		}
		p("%s `%s`", strings.Split(s.title, ",")[0], s.file)
	}
	p(". Compiled with mhcc at start-up; random token ids, batch 1.\n\n")

	p("## Summary: mhcc Go is this many times slower\n\n")
	p("Goal (issue 7): at 2 threads, within 2× of onnxruntime on the decoders and within 1.5× on MatMul 1024³.\n\n")
	p("| problem | threads | mhcc Go ms | than gonum | than onnxruntime | goal |\n|---|--:|--:|--:|--:|---|\n")
	for _, s := range append(slices.Clone(mm), dec...) {
		for _, t := range o.threads {
			g := find(s.cs, "mhcc Go", t)
			if g == nil {
				continue
			}
			cell := func(name string) string {
				if c := find(s.cs, name, t); c != nil {
					return fmt.Sprintf("%.2f×", g.median().Seconds()/c.median().Seconds())
				}
				return "–"
			}
			title := s.title
			limit := 2.0
			if s.flops > 0 {
				title = "MatMul " + title
				limit = 1.5
			}
			goal := ""
			if c := find(s.cs, "onnxruntime", t); c != nil && t == 2 && (s.flops == 0 || strings.HasPrefix(s.title, "1024×")) {
				if r := g.median().Seconds() / c.median().Seconds(); r <= limit {
					goal = fmt.Sprintf("met (≤ %.1f×)", limit)
				} else {
					goal = fmt.Sprintf("**missed** (> %.1f×)", limit)
				}
			}
			p("| %s | %d | %s | %s | %s | %s |\n", title, t, ms(g.median()), cell("gonum blas32"), cell("onnxruntime"), goal)
		}
	}
	p("\n")

	p("**Peak RSS growth** is VmHWM from /proc/self/status read just before and just after the contender's first call, ")
	if info.hwmReset {
		p("with VmHWM reset to the current RSS first (`echo 5 > /proc/self/clear_refs`) and Go's free memory returned to the OS, ")
		p("so it is the extra resident memory that one call needed at its peak: ")
	} else {
		p("without a reset of VmHWM (the kernel refused it), so it only shows memory beyond the process's earlier peak and is often 0: ")
	}
	p("outputs and intermediates (for Go, including the garbage the collector had not yet reclaimed; for onnxruntime, its arena's first allocations), ")
	p("not the model's weights or the session, which exist before it. It is a first-call figure: later calls reuse memory. ")
	p("It cannot see memory that C's allocator (onnxruntime) freed earlier and reuses, so it understates onnxruntime; see README.md. ")
	p("**Go alloc/call** is the Go heap's TotalAlloc growth over that first call: bytes allocated, whether or not they were live at once.\n")
}

func find(cs []*contender, name string, threads int) *contender {
	for _, c := range cs {
		if c.name == name && c.threads == threads {
			return c
		}
	}
	return nil
}

// ratio is mhcc Go's median over c's, at c's thread count.
func ratio(cs []*contender, c *contender) string {
	g := find(cs, "mhcc Go", c.threads)
	if g == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", g.median().Seconds()/c.median().Seconds())
}

func ms(d time.Duration) string {
	v := d.Seconds() * 1e3
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func spread(c *contender) string {
	return ms(slices.Min(c.samples)) + "–" + ms(slices.Max(c.samples))
}

func mib(b int64) string {
	if b < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func diff(d float64) string {
	if d == 0 {
		return "0"
	}
	return fmt.Sprintf("%.1e", d)
}

func displayPath(root, p string) string {
	if rel, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

// cpuFlags lists which of the wanted /proc/cpuinfo flags the CPU has.
func cpuFlags(want ...string) string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	var have []string
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			flags := strings.Fields(v)
			for _, w := range want {
				if slices.Contains(flags, w) {
					have = append(have, w)
				}
			}
			break
		}
	}
	if len(have) == 0 {
		return "no AVX2"
	}
	return strings.Join(have, " ")
}

// buildSetting is a setting the Go toolchain recorded in the binary ("–" if absent).
func buildSetting(key string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == key && s.Value != "" {
				return s.Value
			}
		}
	}
	return "–"
}
