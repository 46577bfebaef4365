// Command decode measures the per-token decode latency of mhcc's KV-cache
// graphs in onnxruntime: batch 1, one new token on a cache of 0, 512 and
// 2048 tokens, an mHC decoder against its residual twin (the same model file
// with kind: residual), at hidden 256 and 1024, for the ort target
// (GroupQueryAttention) and the portable onnx target (reference attention).
// The ratio mHC / residual is the price of mHC at decode time, where the
// per-token Sinkhorn has no long sequence to hide behind.
//
// The fused target (docs/fused-ops.md) runs with mhcc's custom-op library
// (ortops/, -ortops-lib) registered in its sessions; a run checks from the
// library's counters that its kernels, not the function bodies, ran.
// -prefill N measures one prefill step of N tokens (past 0) instead of
// decoding.
//
// -go LIST adds mhcc's Go runtime (its Fast engine) on the graphs of those
// targets as contenders in the same rounds, on -threads threads
// (GOMAXPROCS during its calls); -mhc-only leaves out the residual twins.
// scripts/bench-go-decode writes bench/go-decode.md with them.
//
// It writes a Markdown report (bench/decode.md through scripts/bench-decode).
// See bench/README.md.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/mhcc-dev/mhcc/bench/internal/benchenv"
	"github.com/mhcc-dev/mhcc/bench/internal/benchort"
	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
	"github.com/mhcc-dev/mhcc/target"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/ortops"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/runtime/feed"
)

type options struct {
	reps      int
	minSample time.Duration
	threads   int
	pasts     []int
	targets   []string
	pairs     []pair
	out       string
	ortLib    string
	root      string
	command   string
	ortopsLib string // the custom-op library, for the fused target
	prefill   int    // > 0: one step of this many tokens on an empty cache
	lib       *ortops.Lib
	goTargets []string // targets whose graphs mhcc's Go runtime runs too
	mhcOnly   bool     // no residual twins
	processes int      // > 1: that many child processes of o.reps rounds each, their rounds pooled
	child     bool     // a child of -processes: print the samples as JSON, no report
}

// engines are the contenders' labels per model, in order: onnxruntime on
// each of o.targets, then the Go runtime on each of o.goTargets.
func (o *options) engines() []engine {
	var es []engine
	for _, t := range o.targets {
		es = append(es, engine{label: t, target: t})
	}
	for _, t := range o.goTargets {
		es = append(es, engine{label: "Go " + t, target: t, goRT: true})
	}
	return es
}

// An engine is a target's graph in onnxruntime or in mhcc's Go runtime.
type engine struct {
	label, target string
	goRT          bool
}

// A pair is an mHC model file and its residual twin.
type pair struct {
	label       string
	mhc, resid  string
	description string
}

var defaultPairs = []pair{
	{"hidden 256", "bench/models/decoder-256.yaml", "bench/models/decoder-256-residual.yaml",
		"hidden 256, 4 layers, 4 heads (head_dim 64), FFN 1024, vocab 1024"},
	{"hidden 1024", "bench/models/decoder-1024.yaml", "bench/models/decoder-1024-residual.yaml",
		"hidden 1024, 8 layers, 16 heads (head_dim 64), FFN 2816, vocab 1024"},
}

func main() {
	var o options
	var pasts, targets string
	var quick bool
	flag.IntVar(&o.reps, "reps", 15, "measured rounds; each contender's median over them is reported")
	flag.DurationVar(&o.minSample, "min-sample", 100*time.Millisecond, "a sample repeats a decode step until it lasts this long")
	flag.IntVar(&o.threads, "threads", 1, "onnxruntime intra-op threads")
	flag.StringVar(&pasts, "pasts", "0,512,2048", "cache lengths to decode on")
	flag.StringVar(&targets, "targets", "ort,onnx", "targets to compile for and run in onnxruntime")
	var goTargets string
	flag.StringVar(&goTargets, "go", "", "targets whose graphs mhcc's Go runtime (Fast engine) runs too, in the same rounds, e.g. fused,ort,onnx")
	flag.BoolVar(&o.mhcOnly, "mhc-only", false, "measure the mHC models only, not their residual twins")
	flag.IntVar(&o.processes, "processes", 1, "run the measurement in this many fresh processes one after another, -reps rounds each, and pool their rounds: every process opens its own sessions, so which session got the luckier memory varies between processes instead of favouring one contender for the whole run")
	flag.BoolVar(&o.child, "child", false, "internal: run as one process of -processes, writing the samples as JSON to stdout")
	flag.BoolVar(&quick, "quick", false, "smoke run: 3 reps, 20ms samples, hidden 256 only")
	flag.StringVar(&o.out, "out", "", "write the Markdown report to this file as well as to stdout")
	flag.StringVar(&o.ortLib, "ort-lib", "", "onnxruntime shared library (default $MHCC_ORT_LIB, else <root>/.cache/onnxruntime-1.30.0/libonnxruntime.so.1)")
	flag.StringVar(&o.root, "root", "", "the mhcc repository (default: found from the working directory)")
	flag.StringVar(&o.command, "command", "", "the command line to show in the report")
	flag.StringVar(&o.ortopsLib, "ortops-lib", os.Getenv(ortops.EnvLib), "mhcc's custom-op library for onnxruntime (scripts/build-ortops), registered for the fused target")
	flag.IntVar(&o.prefill, "prefill", 0, "measure a prefill of this many tokens (past 0) instead of decode steps")
	var pairsFlag string
	flag.StringVar(&pairsFlag, "pairs", "", "comma-separated labels of the default pairs to run (e.g. \"hidden 1024\"); default all")
	var pairFlag string
	flag.StringVar(&pairFlag, "pair", "", "label:first.yaml:second.yaml: measure this pair (in the mHC and residual columns) instead of the default ones, e.g. a model against a variant of it")
	flag.Parse()
	o.pairs = defaultPairs
	if pairFlag != "" {
		f := strings.Split(pairFlag, ":")
		if len(f) != 3 {
			fmt.Fprintln(os.Stderr, "bench/decode: -pair: want label:first.yaml:second.yaml")
			os.Exit(2)
		}
		o.pairs = []pair{{f[0], f[1], f[2], "given by -pair"}}
	}
	if pairsFlag != "" {
		var keep []pair
		for _, p := range o.pairs {
			if slices.Contains(strings.Split(pairsFlag, ","), p.label) {
				keep = append(keep, p)
			}
		}
		o.pairs = keep
	}
	if quick {
		o.reps, o.minSample, o.pairs = min(o.reps, 3), 20*time.Millisecond, o.pairs[:1]
	}
	for f := range strings.SplitSeq(goTargets, ",") {
		if f = strings.TrimSpace(f); f != "" {
			o.goTargets = append(o.goTargets, f)
		}
	}
	if err := o.finish(pasts, targets); err != nil {
		fmt.Fprintln(os.Stderr, "bench/decode:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/decode:", err)
		os.Exit(1)
	}
}

func (o *options) finish(pasts, targets string) error {
	if o.reps < 1 {
		return errors.New("-reps must be at least 1")
	}
	if o.processes < 1 {
		return errors.New("-processes must be at least 1")
	}
	for f := range strings.SplitSeq(pasts, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 0 {
			return fmt.Errorf("-pasts: bad cache length %q", f)
		}
		o.pasts = append(o.pasts, p)
	}
	for f := range strings.SplitSeq(targets, ",") {
		if f = strings.TrimSpace(f); f != "" {
			o.targets = append(o.targets, f)
		}
	}
	if len(o.targets)+len(o.goTargets) == 0 {
		return errors.New("no contenders: give -targets or -go")
	}
	if o.prefill > 0 {
		o.pasts = []int{0}
	}
	if slices.Contains(o.targets, "fused") && o.ortopsLib == "" {
		return errors.New("target fused: give the custom-op library (-ortops-lib or $MHCC_ORTOPS_LIB; scripts/build-ortops builds it)")
	}
	return benchenv.Defaults(&o.root, &o.ortLib, &o.command)
}

// A contender is one compiled cache graph in one onnxruntime session, or in
// mhcc's Go runtime, with its inputs for one cache length.
type contender struct {
	name       string  // mHC or residual, and the engine
	lastFaults float64 // page faults per step in the last call
	sess       *ort.DynamicAdvancedSession
	in         []ort.Value
	out        []ort.Value
	calls      int // per sample
	seq        int // new tokens per step
	fused      bool
	kernels    map[string]int64 // the library's kernel calls one call must make, per op type
	samples    []time.Duration
	cpu        []time.Duration // thread CPU time per step, per sample
	pcpu       []time.Duration // process CPU time per step, per sample
	faults     []float64       // the calling thread's minor page faults per step, per sample

	// The Go runtime's model, inputs and last outputs, and its GOMAXPROCS.
	gm      *mhrt.Model
	feeds   map[string]*mhrt.Tensor
	goOut   map[string]*mhrt.Tensor
	threads int
	logits  []float32 // the warm-up step's, to compare contenders
}

func (c *contender) release() {
	for i, v := range c.out {
		if v != nil {
			v.Destroy()
			c.out[i] = nil
		}
	}
}

func (c *contender) close() {
	c.release()
	for _, v := range c.in {
		v.Destroy()
	}
}

// call runs n decode steps on the same inputs and returns the wall time,
// the calling thread's CPU time and the process's CPU time per step; the
// thread's minor page faults per step go to c.lastFaults. The
// Go runtime runs with GOMAXPROCS set to its thread count (set before the
// clock starts); its process CPU time includes the collector's threads.
func (c *contender) call(n int) (wall, cpu, pcpu time.Duration, err error) {
	if c.gm != nil {
		defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(c.threads))
	}
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	f0 := threadFaults()
	c0, p0, t0 := benchenv.ThreadCPU(), processCPU(), time.Now()
	for range n {
		if c.gm != nil {
			c.recycle()
			if c.goOut, err = c.gm.Run(c.feeds); err != nil {
				return 0, 0, 0, fmt.Errorf("%s: %w", c.name, err)
			}
			continue
		}
		c.release()
		if err := c.sess.Run(c.in, c.out); err != nil {
			return 0, 0, 0, fmt.Errorf("%s: %w", c.name, err)
		}
	}
	d := time.Duration(n)
	c.lastFaults = float64(threadFaults()-f0) / float64(n)
	return time.Since(t0) / d, (benchenv.ThreadCPU() - c0) / d, (processCPU() - p0) / d, nil
}

// recycle gives the Go runtime's last outputs back to its buffer pool, as
// release does onnxruntime's (a generation loop does so with the cache a
// step replaced: mhrt.Recycle), keeping any storage an input shares.
func (c *contender) recycle() {
	if c.goOut == nil {
		return
	}
	var dead, live []*mhrt.Tensor
	for _, t := range c.goOut {
		dead = append(dead, t)
	}
	for _, t := range c.feeds {
		live = append(live, t)
	}
	mhrt.Recycle(dead, live...)
	c.goOut = nil
}

// threadFaults is the calling thread's minor page faults so far. On this
// project's virtual machines a fault on memory the process gave back to
// the system costs about 12 µs (measured: 8196 faults took 100 ms of
// system time in one decode step), so a step whose allocations miss the
// allocator's free memory can take several times as long.
func threadFaults() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru) != nil {
		return 0
	}
	return ru.Minflt
}

// processCPU is the CPU time of the whole process (all threads).
func processCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 2 /* CLOCK_PROCESS_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// A graph is one compiled model: its session and shapes.
type graph struct {
	model             *model.Model
	sess              *ort.DynamicAdvancedSession
	gm                *mhrt.Model // the Go runtime's, for a Go contender
	goThreads         int
	inNames, outNames []string
	nodes             int
	fused             bool             // runs the library's kernels
	mhccNodes         map[string]int64 // the ai.mhcc nodes per op type (export.FusedOpTypes)
}

func (g *graph) destroy() {
	if g != nil && g.sess != nil {
		g.sess.Destroy()
	}
}

// compileGraph builds the KV-cache graph of the model file for target, with RoPE
// tables long enough for the longest cache, and opens its session (with
// e.goRT, decodes it in the Go runtime instead).
func compileGraph(o options, file string, e engine) (*graph, error) {
	tg := e.target
	if !filepath.IsAbs(file) {
		file = filepath.Join(o.root, file)
	}
	m, err := model.Load(file)
	if err != nil {
		return nil, err
	}
	w, err := model.LoadWeights(m)
	if err != nil {
		return nil, err
	}
	m.Inputs.MaxSequence = max(m.Inputs.MaxSequence, slices.Max(o.pasts)+max(1, o.prefill))
	res, err := compile.CompileModel(m, w, compile.Options{Target: tg, KVCache: true})
	if err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(res.ONNX)
	if err != nil {
		return nil, err
	}
	g := &graph{model: m, nodes: countNodes(res.ONNX), mhccNodes: benchort.FusedNodes(res.ONNX, target.DomainMHCC, export.FusedOpTypes)}
	for _, i := range ins {
		g.inNames = append(g.inNames, i.Name)
	}
	for _, i := range outs {
		g.outNames = append(g.outNames, i.Name)
	}
	if e.goRT {
		g.gm, err = mhrt.Decode(res.ONNX)
		g.goThreads = o.threads
		return g, err
	}
	var setup func(*ort.SessionOptions) error
	if tg == "fused" {
		setup = func(opts *ort.SessionOptions) error { return o.lib.Register(opts, o.ortLib) }
	}
	if g.sess, err = benchort.Session(res.ONNX, g.inNames, g.outNames, o.threads, setup); err != nil {
		return nil, err
	}
	g.fused = tg == "fused"
	return g, nil
}

// contender makes g's inputs for one decode step on a cache of past tokens:
// token id 1, and N(0, 1) keys and values (their values do not change the
// work).
func (g *graph) contender(name string, past, seq int) (*contender, error) {
	a := g.model.Arch
	rng := feed.NewRand(1, uint64(past))
	c := &contender{name: name, sess: g.sess, out: make([]ort.Value, len(g.outNames)), seq: seq, fused: g.fused, kernels: g.mhccNodes, gm: g.gm, threads: g.goThreads}
	if c.gm != nil {
		c.feeds = map[string]*mhrt.Tensor{}
	}
	ids, pos := make([]int64, seq), make([]int64, seq)
	for i := range seq {
		ids[i], pos[i] = int64(1+i%7), int64(past+i)
	}
	i64 := func(in string, shape []int64, v []int64) (ort.Value, error) {
		if c.gm != nil {
			c.feeds[in] = mhrt.NewInt64(shape, v)
			return nil, nil
		}
		return ort.NewTensor(ort.NewShape(shape...), v)
	}
	for _, in := range g.inNames {
		var v ort.Value
		var err error
		switch in {
		case lower.InputIDs:
			v, err = i64(in, []int64{1, int64(seq)}, ids)
		case lower.AttentionMask: // no padding: ones over the cache and the new tokens
			ones := make([]int64, past+seq)
			for i := range ones {
				ones[i] = 1
			}
			v, err = i64(in, []int64{1, int64(past + seq)}, ones)
		case lower.PositionIDs:
			v, err = i64(in, []int64{1, int64(seq)}, pos)
		default:
			data := make([]float32, a.KVHeads*past*a.HeadDim)
			for i := range data {
				data[i] = float32(rng.Normal())
			}
			shape := []int64{1, int64(a.KVHeads), int64(past), int64(a.HeadDim)}
			if c.gm != nil {
				c.feeds[in] = mhrt.NewFloat32(shape, data)
			} else {
				v, err = ort.NewTensor(ort.NewShape(shape...), data)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: input %s: %w", name, in, err)
		}
		if v != nil {
			c.in = append(c.in, v)
		}
	}
	return c, nil
}

// A row is one measured (pair, engine, past) case.
type row struct {
	pair, target     string // target: the engine's label (onnxruntime's target, or "Go " + target)
	goRT             bool
	past             int
	mhc, resid       time.Duration
	mhcCPU, resCPU   time.Duration // thread CPU time (meaningful at 1 thread)
	mhcPCPU, resPCPU time.Duration // process CPU time
	mhcMin, mhcMax   time.Duration
	resMin, resMax   time.Duration
	mhcNodes, rNodes int
	delta            float64 // max |Δ logits| of the mHC model against the first onnxruntime contender's
	// Paired ratios (benchenv.PairedRatio of thread CPU at one thread, of
	// wall time at more): mHC over its residual twin; and, for a target
	// whose residual twin is the same graph as the onnx target's (fused),
	// the A/A control (this target's residual session over the onnx
	// target's) and the mHC graph over the onnx target's residual session.
	// NaN where they do not apply.
	paired, aa, overOnnx float64
	// Minor page faults per measured step, the mean over the samples, and
	// the samples with more than 100 a step (residual: -1 with -mhc-only).
	mhcFaults, resFaults   float64
	mhcFaulted, resFaulted int
}

func run(o options) error {
	start := time.Now()
	ort.SetSharedLibraryPath(o.ortLib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("onnxruntime %s: %w", o.ortLib, err)
	}
	defer ort.DestroyEnvironment()
	if o.ortopsLib != "" {
		var err error
		if o.lib, err = ortops.Open(o.ortopsLib); err != nil {
			return err
		}
	}
	load := benchenv.LoadAvg(", ")
	var cases []*measuredCase
	var err error
	var perProcess [][]*measuredCase // with -processes, each child's cases
	if o.processes > 1 && !o.child {
		cases, perProcess, err = runProcesses(o)
	} else {
		cases, err = measureAll(o)
	}
	if err != nil {
		return err
	}
	if o.child {
		return json.NewEncoder(os.Stdout).Encode(cases)
	}
	var rows []row
	for _, mc := range cases {
		rows = append(rows, rowsOf(o, mc)...)
	}
	report := writeReport(o, rows, load, benchenv.LoadAvg(", "), time.Since(start))
	if perProcess != nil {
		report += processTable(o, perProcess)
	}
	return benchenv.Publish(report, o.root, o.out)
}

// measureAll compiles and measures every pair at every cache length in
// this process.
func measureAll(o options) ([]*measuredCase, error) {
	var cases []*measuredCase
	for _, p := range o.pairs {
		var gms, grs []*graph
		for _, e := range o.engines() {
			fmt.Fprintf(os.Stderr, "bench/decode: compiling %s for %s\n", p.label, e.label)
			gm, err := compileGraph(o, p.mhc, e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.mhc, err)
			}
			var gr *graph
			if !o.mhcOnly {
				if gr, err = compileGraph(o, p.resid, e); err != nil {
					return nil, fmt.Errorf("%s: %w", p.resid, err)
				}
			}
			gms, grs = append(gms, gm), append(grs, gr)
		}
		for _, past := range o.pasts {
			mc, err := measure(o, p, past, gms, grs)
			if err != nil {
				return nil, err
			}
			cases = append(cases, mc)
		}
		for i := range gms {
			gms[i].destroy()
			grs[i].destroy()
		}
		gms, grs = nil, nil
		goruntime.GC()
	}
	return cases, nil
}

// runProcesses runs this program o.processes times in a row with the same
// flags as a -child and pools the rounds the children measured.
func runProcesses(o options) (pooled []*measuredCase, each [][]*measuredCase, err error) {
	for k := range o.processes {
		fmt.Fprintf(os.Stderr, "bench/decode: process %d of %d\n", k+1, o.processes)
		cmd := exec.Command(os.Args[0], append(slices.Clone(os.Args[1:]), "-child")...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, nil, fmt.Errorf("process %d of %d: %w", k+1, o.processes, err)
		}
		var got []*measuredCase
		if err := json.Unmarshal(out, &got); err != nil {
			return nil, nil, fmt.Errorf("process %d of %d: its samples: %w", k+1, o.processes, err)
		}
		each = append(each, got)
		pooled = pool(pooled, got)
	}
	return pooled, each, nil
}

// processTable is the report's table of the paired ratios each process of
// -processes measured on its own, for the targets with an A/A control
// (fused): how far apart whole runs land.
func processTable(o options, each [][]*measuredCase) string {
	var b strings.Builder
	b.WriteString("\n**Each process on its own** (paired ratios of its own rounds, as above; targets with an A/A control):\n\n")
	b.WriteString("| model | target | past | process | mHC / residual | A/A | mHC / residual (onnx session) |\n|---|---|---:|---:|---:|---:|---:|\n")
	for i := range each[0] { // every process measured the same cases in the same order
		for j := range rowsOf(o, each[0][i]) {
			for k := range each {
				r := rowsOf(o, each[k][i])[j]
				if !math.IsNaN(r.aa) {
					fmt.Fprintf(&b, "| %s | %s | %d | %d | %.3f× | %.3f× | %.3f× |\n", r.pair, r.target, r.past, k+1, r.paired, r.aa, r.overOnnx)
				}
			}
		}
	}
	return b.String()
}

// measure interleaves, at one cache length, the mHC and residual graphs of
// every engine (gms[i], grs[i] for o.engines()[i]; grs[i] nil with
// -mhc-only): a warm-up call each that also sets the calls per sample, then
// o.reps rounds taking one sample of each, rotating which goes first. So
// the mHC / residual ratios and the engine against engine comparisons are
// all taken side by side.
func measure(o options, p pair, past int, gms, grs []*graph) (*measuredCase, error) {
	fmt.Fprintf(os.Stderr, "bench/decode: %s, past %d:", p.label, past)
	defer fmt.Fprintln(os.Stderr)
	engines := o.engines()
	var cs []*contender
	cm := make([]*contender, len(gms)) // the mHC contender of each engine
	cr := make([]*contender, len(gms))
	for i := range gms {
		for _, g := range []*graph{gms[i], grs[i]} {
			if g == nil {
				continue
			}
			name := "mHC"
			if g == grs[i] {
				name = "residual"
			}
			c, err := g.contender(name+" "+engines[i].label, past, max(1, o.prefill))
			if err != nil {
				return nil, err
			}
			defer c.close()
			cs = append(cs, c)
			if g == gms[i] {
				cm[i] = c
			} else {
				cr[i] = c
			}
		}
	}
	for _, c := range cs {
		for range 2 {
			d, _, _, err := c.call(1)
			if err != nil {
				return nil, err
			}
			c.calls = benchenv.CallsPerSample(o.minSample, d)
		}
		var err error
		if c.logits, err = checkOutputs(c, gms[0].outNames, past); err != nil {
			return nil, err
		}
		if c.fused && c.gm == nil && !strings.HasPrefix(c.name, "residual") {
			before := o.lib.Calls()
			if _, _, _, err := c.call(1); err != nil {
				return nil, err
			}
			if err := benchort.CheckKernels(c.name, before, o.lib.Calls(), c.kernels, 1); err != nil {
				return nil, err
			}
		}
	}
	err := benchenv.Interleave(o.reps, len(cs), func(i int) error {
		c := cs[i]
		d, cpu, pcpu, err := c.call(c.calls)
		if err != nil {
			return err
		}
		c.samples = append(c.samples, d)
		c.cpu = append(c.cpu, cpu)
		c.pcpu = append(c.pcpu, pcpu)
		c.faults = append(c.faults, c.lastFaults)
		return nil
	})
	if err != nil {
		return nil, err
	}
	mc := &measuredCase{Pair: p.label, Past: past}
	for i := range gms {
		e := measuredEngine{MHC: cm[i].sampled(), Logits: cm[i].logits, MHCNodes: gms[i].nodes}
		if cr[i] != nil {
			r := cr[i].sampled()
			e.Resid, e.RNodes = &r, grs[i].nodes
		}
		mc.Engines = append(mc.Engines, e)
	}
	return mc, nil
}

// A measuredCase is what one process measured at one (pair, past): each
// engine's samples in round order (o.engines()' order), so that -processes
// can pool the rounds of several processes before taking ratios. It goes
// from a child process to its parent as JSON.
type measuredCase struct {
	Pair    string
	Past    int
	Engines []measuredEngine
}

type measuredEngine struct {
	MHC              samples
	Resid            *samples // nil with -mhc-only
	Logits           []float32
	MHCNodes, RNodes int
}

// samples are one contender's samples, one per round: wall, thread CPU and
// process CPU time per step.
type samples struct {
	Wall, CPU, PCPU []time.Duration
	Faults          []float64 // minor page faults per step
}

func (c *contender) sampled() samples { return samples{c.samples, c.cpu, c.pcpu, c.faults} }

// pool appends b's rounds to a's, case by case and engine by engine, into
// new slices (b is left as it is); a case b has that a lacks is added as a
// copy.
func pool(a, b []*measuredCase) []*measuredCase {
	for _, cb := range b {
		i := slices.IndexFunc(a, func(ca *measuredCase) bool { return ca.Pair == cb.Pair && ca.Past == cb.Past })
		if i < 0 {
			c := *cb
			c.Engines = slices.Clone(cb.Engines)
			a = append(a, &c)
			continue
		}
		for k := range a[i].Engines {
			ea, eb := &a[i].Engines[k], cb.Engines[k]
			ea.MHC = ea.MHC.join(eb.MHC)
			if ea.Resid != nil && eb.Resid != nil {
				r := ea.Resid.join(*eb.Resid)
				ea.Resid = &r
			}
		}
	}
	return a
}

func (a samples) join(b samples) samples {
	return samples{slices.Concat(a.Wall, b.Wall), slices.Concat(a.CPU, b.CPU), slices.Concat(a.PCPU, b.PCPU), slices.Concat(a.Faults, b.Faults)}
}

// faultStats is the mean of page faults per step over the samples and how
// many samples had more than 100 a step.
func faultStats(f []float64) (mean float64, over100 int) {
	for _, v := range f {
		mean += v
		if v > 100 {
			over100++
		}
	}
	return mean / float64(max(1, len(f))), over100
}

// rowsOf makes the report's rows of one measured case.
func rowsOf(o options, mc *measuredCase) []row {
	engines := o.engines()
	measured := func(s samples) []time.Duration {
		if o.threads == 1 {
			return s.CPU
		}
		return s.Wall
	}
	onnxResid := -1 // the onnx target's residual contender, the A/A reference
	for i, e := range engines {
		if e.target == "onnx" && !e.goRT && mc.Engines[i].Resid != nil {
			onnxResid = i
		}
	}
	var rs []row
	for i, e := range engines {
		me := mc.Engines[i]
		m := me.MHC
		r := row{pair: mc.Pair, target: e.label, goRT: e.goRT, past: mc.Past,
			mhc: benchenv.Median(m.Wall), mhcCPU: benchenv.Median(m.CPU), mhcPCPU: benchenv.Median(m.PCPU),
			mhcMin: slices.Min(m.Wall), mhcMax: slices.Max(m.Wall), mhcNodes: me.MHCNodes, delta: -1, resFaults: -1}
		r.mhcFaults, r.mhcFaulted = faultStats(m.Faults)
		if c := me.Resid; c != nil {
			r.resid, r.resCPU, r.resPCPU = benchenv.Median(c.Wall), benchenv.Median(c.CPU), benchenv.Median(c.PCPU)
			r.resMin, r.resMax, r.rNodes = slices.Min(c.Wall), slices.Max(c.Wall), me.RNodes
			r.resFaults, r.resFaulted = faultStats(c.Faults)
			r.paired, r.aa, r.overOnnx = benchenv.PairedRatio(measured(m), measured(*c)), math.NaN(), math.NaN()
			if e.target == "fused" && !e.goRT && onnxResid >= 0 { // its residual twin is the onnx graph
				onnx := *mc.Engines[onnxResid].Resid
				r.aa = benchenv.PairedRatio(measured(*c), measured(onnx))
				r.overOnnx = benchenv.PairedRatio(measured(m), measured(onnx))
			}
		}
		for j, f := range engines {
			if !f.goRT && j != i {
				r.delta = maxAbsDiff(me.Logits, mc.Engines[j].Logits)
				break
			}
		}
		rs = append(rs, r)
	}
	return rs
}

// maxAbsDiff is max |a − b| over two equally long vectors, NaN if their
// lengths differ.
func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.NaN()
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// checkOutputs makes sure a step did what a decode step does: finite
// logits for the new tokens and presents as long as the cache and the new
// tokens. It returns the logits.
func checkOutputs(c *contender, names []string, past int) ([]float32, error) {
	var logits []float32
	for i, name := range names {
		var sh []int64
		var data []float32
		if c.gm != nil {
			t := c.goOut[name]
			if t == nil || t.DType != mhrt.Float32 {
				return nil, fmt.Errorf("%s: output %s is %v", c.name, name, t)
			}
			sh, data = t.Shape, t.Float32s()
		} else {
			t, ok := c.out[i].(*ort.Tensor[float32])
			if !ok {
				return nil, fmt.Errorf("%s: output %s is %T", c.name, name, c.out[i])
			}
			sh, data = t.GetShape(), t.GetData()
		}
		if name == lower.Logits {
			if sh[1] != int64(c.seq) {
				return nil, fmt.Errorf("%s: logits %v, want %d positions", c.name, sh, c.seq)
			}
			for _, x := range data {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return nil, fmt.Errorf("%s: logits hold %v", c.name, x)
				}
			}
			logits = slices.Clone(data)
		} else if sh[2] != int64(past+c.seq) {
			return nil, fmt.Errorf("%s: %s has shape %v, want %d cached tokens", c.name, name, sh, past+c.seq)
		}
	}
	return logits, nil
}

// countNodes is the number of top-level ONNX nodes of a model.
func countNodes(onnx []byte) int {
	var m onnxpb.ModelProto
	if proto.Unmarshal(onnx, &m) != nil {
		return 0
	}
	return len(m.GetGraph().GetNode())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }

func writeReport(o options, rows []row, loadBefore, loadAfter string, elapsed time.Duration) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	if o.prefill > 0 {
		p("# Prefill benchmark: mHC on %d tokens\n\n", o.prefill)
		p("Written by `bench/decode -prefill %d` (see [README.md](README.md)). Latency of one step of the KV-cache graph on %d new tokens and an empty cache (a prefill) in onnxruntime, batch 1. ", o.prefill, o.prefill)
	} else {
		p("# Decode benchmark: mHC at one token per step\n\n")
		p("Written by `bench/decode` (see [README.md](README.md)). Per-token latency of the KV-cache graph ")
		p("(`inputs.kv_cache: true`) in onnxruntime, batch 1, one new token on a cache of `past` tokens. ")
	}
	if o.processes > 1 {
		p("mHC and its residual twin ran interleaved, %d rounds in each of %d processes run one after another (each compiling the graphs and opening its own sessions), the %d rounds pooled; each figure is the median ", o.reps, o.processes, o.reps*o.processes)
	} else {
		p("mHC and its residual twin ran interleaved in one process, %d rounds; each figure is the median ", o.reps)
	}
	p("sample, a sample being the mean of back-to-back steps lasting at least %v. ", o.minSample)
	p("Compare the ratios, not absolute times: the machine is shared.\n\n")
	p("| | |\n|---|---|\n")
	p("| CPU | %s |\n", benchenv.CPUModel())
	p("| nproc | %d |\n", goruntime.NumCPU())
	p("| load average (1, 5, 15 min) | before %s; after %s |\n", loadBefore, loadAfter)
	p("| date | %s |\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("| onnxruntime | %s, %d intra-op thread(s), via onnxruntime_go %s |\n", ort.GetVersion(), o.threads, benchenv.ModuleVersion("github.com/yalue/onnxruntime_go"))
	p("| mhcc | %s |\n", benchenv.GitDescribe(o.root, "export", "ir", "passes", "target", "bench/models"))
	p("| command | `%s` |\n", o.command)
	p("| wall time | %s |\n\n", elapsed.Round(time.Second))
	p("The mHC graphs and their residual twins of every target ran interleaved in the same rounds. ")
	p("Models (random weights, seed 1; mHC: n = 4 streams, 20 Sinkhorn iterations, dynamic, collapse head):\n\n")
	for _, pr := range o.pairs {
		p("- %s: `%s` and `%s`: %s\n", pr.label, pr.mhc, pr.resid, pr.description)
	}
	p("\nTargets: `ort` lowers the cached attention to `com.microsoft.GroupQueryAttention`; ")
	p("`onnx` uses the reference lowering (MatMul/Softmax over past + new, `Concat` of the cache). ")
	p("Both use the `gemm` Sinkhorn and mhcc's default passes.")
	if slices.Contains(o.targets, "fused") {
		p(" `fused` has per sublayer one `ai.mhcc.HCCoeffsBoundary` (docs/fused-ops.md; the first sublayer has `HCCoeffsSinkhorn` and `HCPremixNorm`, the end of the model one `HCHead`), run by mhcc's custom-op library (`ortops/`, built by `scripts/build-ortops`, registered with `RegisterCustomOpsLibrary_V2`; the run checked from the library's call counters that its kernel ran once per `ai.mhcc` node), and the reference attention like `onnx`; its residual twin is the same graph as `onnx`'s.")
	}
	p("\n\n")
	if len(o.goTargets) > 0 {
		p("**Go** rows: mhcc's Go runtime (`mhrt.Decode` of the same ONNX bytes, `Model.Run`, its Fast engine: the fused plan, packed weights, %s) on the graph of the named target, with GOMAXPROCS = %d during its calls, inputs made once as Go tensors, in the same rounds as onnxruntime. ", mhrt.Kernels(), o.threads)
		p("Its **process CPU** time (`CLOCK_PROCESS_CPUTIME_ID`) includes the Go collector's background threads, which its thread CPU time misses; for onnxruntime at one intra-op thread the two are nearly equal. **max |Δ logits|** is against the first onnxruntime contender on the same model (another graph of the same function where the targets differ).\n\n")
	}
	cpu := o.threads == 1
	if o.mhcOnly {
		p("| model | engine | past | CPU ms | process CPU ms | wall ms | wall range | max |Δ logits| |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			d := "—"
			if r.delta >= 0 {
				d = fmt.Sprintf("%.2g", r.delta)
			}
			p("| %s | %s | %d | %s | %s | %s | %s–%s | %s |\n", r.pair, r.target, r.past, ms(r.mhcCPU), ms(r.mhcPCPU), ms(r.mhc), ms(r.mhcMin), ms(r.mhcMax), d)
		}
	} else if cpu {
		p("**CPU ms** is the calling thread's CPU time per step (`CLOCK_THREAD_CPUTIME_ID`): with one intra-op thread onnxruntime runs every node on the caller's thread, so it is the step's work without the time the loaded machine gave to other processes; **wall ms** is the elapsed time. The ratio and overhead are given for both.\n\n")
		p("| model | target | past | mHC CPU ms | residual CPU ms | mHC / residual (CPU) | overhead CPU ms | mHC wall ms | residual wall ms | mHC / residual (wall) | mHC wall range | residual wall range |\n")
		p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			p("| %s | %s | %d | %s | %s | %.2f× | %s | %s | %s | %.2f× | %s–%s | %s–%s |\n", r.pair, r.target, r.past,
				ms(r.mhcCPU), ms(r.resCPU), float64(r.mhcCPU)/float64(r.resCPU), ms(r.mhcCPU-r.resCPU),
				ms(r.mhc), ms(r.resid), float64(r.mhc)/float64(r.resid), ms(r.mhcMin), ms(r.mhcMax), ms(r.resMin), ms(r.resMax))
		}
	} else {
		p("| model | target | past | mHC ms/token | residual ms/token | mHC / residual | mHC overhead ms | mHC range ms | residual range ms |\n")
		p("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			p("| %s | %s | %d | %s | %s | %.2f× | %s | %s–%s | %s–%s |\n", r.pair, r.target, r.past, ms(r.mhc), ms(r.resid),
				float64(r.mhc)/float64(r.resid), ms(r.mhc-r.resid), ms(r.mhcMin), ms(r.mhcMax), ms(r.resMin), ms(r.resMax))
		}
	}
	if !o.mhcOnly {
		kind := "thread CPU"
		if !cpu {
			kind = "wall"
		}
		p("\n**Paired ratios** (%s time): each is the median over the %d rounds of the ratio within a round, so a slow moment of the shared machine weighs on both sides of it. ", kind, o.reps*o.processes)
		p("For `fused`, whose residual twin is the same graph as `onnx`'s, the two residual sessions are an **A/A control**: their ratio is what two identical contenders differ by in this run. The fused mHC graph is given over each of them; a goal holds in this run when it holds against both.\n\n")
		p("| model | target | past | mHC / residual | A/A: residual / residual (onnx session) | mHC / residual (onnx session) |\n|---|---|---:|---:|---:|---:|\n")
		ratio := func(v float64) string {
			if math.IsNaN(v) {
				return "—"
			}
			return fmt.Sprintf("%.3f×", v)
		}
		for _, r := range rows {
			if !r.goRT {
				p("| %s | %s | %d | %s | %s | %s |\n", r.pair, r.target, r.past, ratio(r.paired), ratio(r.aa), ratio(r.overOnnx))
			}
		}
	}
	if cpu && !o.mhcOnly && slices.Contains(o.targets, "ort") && slices.Contains(o.targets, "onnx") {
		p("\n**GroupQueryAttention against the reference attention**: the `ort` graph's CPU time over the `onnx` graph's, measured in the same rounds (below 1: GroupQueryAttention is faster).\n\n")
		p("| model | past | mHC: ort / onnx | residual: ort / onnx |\n|---|---:|---:|---:|\n")
		for _, a := range rows {
			if a.target != "ort" {
				continue
			}
			for _, b := range rows {
				if b.target == "onnx" && b.pair == a.pair && b.past == a.past {
					p("| %s | %d | %.2f× | %.2f× |\n", a.pair, a.past, float64(a.mhcCPU)/float64(b.mhcCPU), float64(a.resCPU)/float64(b.resCPU))
				}
			}
		}
	}
	if len(o.goTargets) > 0 && len(o.targets) > 0 {
		p("\n**mhcc's Go runtime against onnxruntime** (mHC models): the Go contender's time over onnxruntime's, same rounds; below 1 the Go runtime is faster.")
		if cpu {
			p(" Thread CPU, process CPU and wall time.\n\n| model | past | Go on | onnxruntime on | Go / ort (thread CPU) | Go / ort (process CPU) | Go / ort (wall) |\n|---|---:|---|---|---:|---:|---:|\n")
		} else {
			p(" Wall time (at %d threads the CPU times sum several threads).\n\n| model | past | Go on | onnxruntime on | Go / ort (wall) |\n|---|---:|---|---|---:|\n", o.threads)
		}
		for _, g := range rows {
			if !g.goRT {
				continue
			}
			for _, r := range rows {
				if r.goRT || r.pair != g.pair || r.past != g.past {
					continue
				}
				if cpu {
					p("| %s | %d | %s | %s | %.2f× | %.2f× | %.2f× |\n", g.pair, g.past, strings.TrimPrefix(g.target, "Go "), r.target,
						float64(g.mhcCPU)/float64(r.mhcCPU), float64(g.mhcPCPU)/float64(r.mhcPCPU), float64(g.mhc)/float64(r.mhc))
				} else {
					p("| %s | %d | %s | %s | %.2f× |\n", g.pair, g.past, strings.TrimPrefix(g.target, "Go "), r.target, float64(g.mhc)/float64(r.mhc))
				}
			}
		}
	}
	p("\n**Page faults** in the measured steps (the calling thread's minor faults, `getrusage`): on this project's virtual machines a fault on memory the process had given back to the system costs about 12 µs, so a sample whose allocations missed the allocator's free memory is slow for reasons neither graph controls. Mean faults per step over the samples, and the samples with more than 100 a step:\n\n")
	p("| model | target | past | mHC faults/step | residual faults/step | mHC samples > 100 | residual samples > 100 |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if r.resFaults < 0 {
			p("| %s | %s | %d | %.1f | — | %d | — |\n", r.pair, r.target, r.past, r.mhcFaults, r.mhcFaulted)
			continue
		}
		p("| %s | %s | %d | %.1f | %.1f | %d | %d |\n", r.pair, r.target, r.past, r.mhcFaults, r.resFaults, r.mhcFaulted, r.resFaulted)
	}
	p("\nONNX nodes per graph (mHC / residual), and per sublayer (mHC graph's nodes / sublayers; mHC's extra nodes over the twin / sublayers):\n\n")
	p("| model | target | mHC nodes | residual nodes | nodes per sublayer | extra nodes per sublayer |\n|---|---|---:|---:|---:|---:|\n")
	seenRow := map[string]bool{}
	for _, r := range rows {
		k := r.pair + " " + strings.TrimPrefix(r.target, "Go ")
		if seenRow[k] {
			continue
		}
		seenRow[k] = true
		subs := 0
		for _, pr := range o.pairs {
			if pr.label == r.pair {
				if m, err := model.Load(filepath.Join(o.root, pr.mhc)); err == nil {
					subs = 2 * m.Arch.Layers
				}
			}
		}
		tg := strings.TrimPrefix(r.target, "Go ")
		switch {
		case subs > 0 && o.mhcOnly:
			p("| %s | %s | %d | — | %.1f | — |\n", r.pair, tg, r.mhcNodes, float64(r.mhcNodes)/float64(subs))
		case subs > 0:
			p("| %s | %s | %d | %d | %.1f | %.1f |\n", r.pair, tg, r.mhcNodes, r.rNodes, float64(r.mhcNodes)/float64(subs), float64(r.mhcNodes-r.rNodes)/float64(subs))
		}
	}
	p("\nThe same counts in one line (mHC / residual):")
	seen := map[string]bool{}
	for _, r := range rows {
		k := r.pair + " " + strings.TrimPrefix(r.target, "Go ")
		if !seen[k] {
			seen[k] = true
			p(" %s %s: %d / %d;", r.pair, strings.TrimPrefix(r.target, "Go "), r.mhcNodes, r.rNodes)
		}
	}
	p("\n")
	return b.String()
}
