// Command moe measures mhcc's two standard-ONNX lowerings of the
// mixture-of-experts FFN (export/op_moe.go) against each other: "reference"
// (every expert on every token, combined with a dense routing-weight
// matrix) and "gather" (each expert on the tokens routed to it only), in
// onnxruntime and in mhcc's Go runtime, for a prefill (the full graph on a
// batch-1 sequence) and a decode step (the KV-cache graph, one token on a
// cache). Every contender runs interleaved in the same rounds; the report
// gives medians and the gather / reference ratios.
//
// scripts/bench-moe builds and runs it and writes bench/moe.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mhcc-dev/mhcc/bench/internal/benchenv"
	"github.com/mhcc-dev/mhcc/bench/internal/benchort"
	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/runtime/feed"
)

type options struct {
	model, out, ortLib, root, command string
	reps, seq, past, threads          int
	minSample                         time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.model, "model", "bench/models/decoder-moe.yaml", "the MoE model file")
	flag.IntVar(&o.reps, "reps", 9, "measured rounds; the median sample of each contender is reported")
	flag.DurationVar(&o.minSample, "min-sample", 100*time.Millisecond, "a sample repeats a run until it lasts this long")
	flag.IntVar(&o.seq, "seq", 128, "prefill length (batch 1)")
	flag.IntVar(&o.past, "past", 128, "cache length of the decode step")
	flag.IntVar(&o.threads, "threads", 1, "onnxruntime intra-op threads")
	flag.StringVar(&o.out, "out", "", "write the Markdown report here too")
	flag.StringVar(&o.ortLib, "ort-lib", os.Getenv("MHCC_ORT_LIB"), "onnxruntime shared library")
	flag.StringVar(&o.root, "root", ".", "the mhcc repository")
	flag.StringVar(&o.command, "command", "", "the command line to show in the report")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/moe:", err)
		os.Exit(1)
	}
}

// A contender is one (lowering, engine, phase) combination.
type contender struct {
	lowering, engine, phase string
	nodes                   int
	call                    func() error
	samples, cpu            []time.Duration
	calls                   int
}

var lowerings = []string{"reference", "gather"}

func run(o options) error {
	start := time.Now()
	ort.SetSharedLibraryPath(o.ortLib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("onnxruntime %s: %w", o.ortLib, err)
	}
	defer ort.DestroyEnvironment()
	load := benchenv.LoadAvg(", ")
	file := o.model
	if !filepath.IsAbs(file) {
		file = filepath.Join(o.root, file)
	}
	m, err := model.Load(file)
	if err != nil {
		return err
	}
	w, err := model.LoadWeights(m)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mhcc-bench-moe")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var cs []*contender
	for _, l := range lowerings {
		profile := filepath.Join(dir, l+".yaml")
		text := fmt.Sprintf("name: onnx-moe-%s\nir_version: 8\nopsets: {\"\": 17}\nops: {\"\": [\"*\"]}\nlowering: {Sinkhorn: gemm, HCPremix: two_matmul, RMSNorm: fusable, MoE: %s}\n", l, l)
		if err := os.WriteFile(profile, []byte(text), 0o644); err != nil {
			return err
		}
		for _, phase := range []string{"prefill", "decode"} {
			fmt.Fprintf(os.Stderr, "bench/moe: compiling %s, %s\n", l, phase)
			res, err := compile.CompileModel(m, w, compile.Options{Target: profile, KVCache: phase == "decode"})
			if err != nil {
				return err
			}
			in := inputs(m, phase, o)
			c, err := ortContender(res.ONNX, in, o.threads)
			if err != nil {
				return err
			}
			g, err := goContender(res.ONNX, in)
			if err != nil {
				return err
			}
			nodes := countNodes(res.ONNX)
			for i, x := range []*contender{c, g} {
				x.lowering, x.phase, x.nodes = l, phase, nodes
				x.engine = []string{"onnxruntime", "Go runtime"}[i]
				cs = append(cs, x)
			}
		}
	}
	// Warm up and size each sample, then interleave the rounds, rotating
	// which contender goes first.
	for _, c := range cs {
		t0 := time.Now()
		if err := c.call(); err != nil {
			return fmt.Errorf("%s %s %s: %w", c.lowering, c.engine, c.phase, err)
		}
		c.calls = max(1, int(o.minSample/max(time.Since(t0), time.Microsecond)))
	}
	for r := 0; r < o.reps; r++ {
		fmt.Fprintf(os.Stderr, "bench/moe: round %d of %d\n", r+1, o.reps)
		for k := range cs {
			c := cs[(k+r)%len(cs)]
			wall, cpu, err := sample(c)
			if err != nil {
				return err
			}
			c.samples, c.cpu = append(c.samples, wall), append(c.cpu, cpu)
		}
	}
	report := writeReport(o, cs, load, time.Since(start))
	return benchenv.Publish(report, o.root, o.out)
}

// sample runs c.calls calls and returns the wall and thread CPU time per call.
func sample(c *contender) (wall, cpu time.Duration, err error) {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	c0, t0 := benchenv.ThreadCPU(), time.Now()
	for range c.calls {
		if err := c.call(); err != nil {
			return 0, 0, err
		}
	}
	n := time.Duration(c.calls)
	return time.Since(t0) / n, (benchenv.ThreadCPU() - c0) / n, nil
}

// An input is one graph input: its name, shape and data (int64 or float32).
type input struct {
	name  string
	shape []int64
	i64   []int64
	f32   []float32
}

// inputs are the prefill's tokens [1, seq], or a decode step: one token on
// a cache of past N(0, 1) keys and values.
func inputs(m *model.Model, phase string, o options) []input {
	rng := feed.NewRand(1, uint64(o.seq))
	if phase == "prefill" {
		ids := make([]int64, o.seq)
		for i := range ids {
			ids[i] = int64(rng.IntN(uint64(m.Arch.VocabSize)))
		}
		return []input{{name: lower.InputIDs, shape: []int64{1, int64(o.seq)}, i64: ids}}
	}
	ones := make([]int64, o.past+1)
	for i := range ones {
		ones[i] = 1
	}
	in := []input{
		{name: lower.InputIDs, shape: []int64{1, 1}, i64: []int64{1}},
		{name: lower.AttentionMask, shape: []int64{1, int64(o.past + 1)}, i64: ones},
		{name: lower.PositionIDs, shape: []int64{1, 1}, i64: []int64{int64(o.past)}},
	}
	a := m.Arch
	for i := 0; i < a.Layers; i++ {
		for _, name := range []string{lower.PastKey(i), lower.PastValue(i)} {
			data := make([]float32, a.KVHeads*o.past*a.HeadDim)
			for j := range data {
				data[j] = float32(rng.Normal())
			}
			in = append(in, input{name: name, shape: []int64{1, int64(a.KVHeads), int64(o.past), int64(a.HeadDim)}, f32: data})
		}
	}
	return in
}

func ortContender(onnx []byte, in []input, threads int) (*contender, error) {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(onnx)
	if err != nil {
		return nil, err
	}
	var inNames, outNames []string
	for _, i := range ins {
		inNames = append(inNames, i.Name)
	}
	for _, i := range outs {
		outNames = append(outNames, i.Name)
	}
	sess, err := benchort.Session(onnx, inNames, outNames, threads, nil)
	if err != nil {
		return nil, err
	}
	byName := map[string]input{}
	for _, x := range in {
		byName[x.name] = x
	}
	var vals []ort.Value
	for _, name := range inNames {
		x := byName[name]
		var v ort.Value
		if x.i64 != nil {
			v, err = ort.NewTensor(ort.NewShape(x.shape...), x.i64)
		} else {
			v, err = ort.NewTensor(ort.NewShape(x.shape...), x.f32)
		}
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	out := make([]ort.Value, len(outNames))
	return &contender{call: func() error {
		for i, v := range out {
			if v != nil {
				v.Destroy()
				out[i] = nil
			}
		}
		return sess.Run(vals, out)
	}}, nil
}

func goContender(onnx []byte, in []input) (*contender, error) {
	m, err := mhrt.Decode(onnx)
	if err != nil {
		return nil, err
	}
	feeds := map[string]*mhrt.Tensor{}
	for _, x := range in {
		if x.i64 != nil {
			feeds[x.name] = mhrt.NewInt64(x.shape, x.i64)
		} else {
			feeds[x.name] = mhrt.NewFloat32(x.shape, x.f32)
		}
	}
	return &contender{call: func() error {
		_, err := m.Run(feeds)
		return err
	}}, nil
}

func countNodes(onnx []byte) int {
	m, err := mhrt.Decode(onnx)
	if err != nil {
		return 0
	}
	return len(m.Nodes())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }

func writeReport(o options, cs []*contender, load string, wall time.Duration) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# MoE lowerings: every expert (reference) against the routed experts only (gather)")
	p("")
	p("Written by `bench/moe` (`scripts/bench-moe`). mhcc's two standard-ONNX lowerings of the mixture-of-experts FFN (`export/op_moe.go`), compiled for the `onnx` target's other lowerings with only `MoE` switched, run in onnxruntime and in mhcc's Go runtime: a **prefill** (the full graph, batch 1, %d tokens) and a **decode** step (the KV-cache graph, batch 1, one token on a cache of %d). All %d contenders ran interleaved in %d rounds; each figure is the median sample, a sample being the mean of back-to-back runs lasting at least %v. Compare the ratios, not absolute times: the machine is shared.", o.seq, o.past, len(cs), o.reps, o.minSample)
	p("")
	p("| | |")
	p("|---|---|")
	p("| CPU | %s |", benchenv.CPUModel())
	p("| nproc | %d |", goruntime.NumCPU())
	p("| load average (1, 5, 15 min) | before %s; after %s |", load, benchenv.LoadAvg(", "))
	p("| date | %s |", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	p("| onnxruntime | 1.30.0, %d intra-op thread(s) |", o.threads)
	p("| mhcc | %s |", benchenv.GitDescribe(o.root, "export", "runtime", "bench"))
	p("| command | `%s` |", o.command)
	p("| model | `%s` |", o.model)
	p("| wall time | %v |", wall.Round(time.Second))
	p("")
	p("**CPU ms** is the calling thread's CPU time per run (onnxruntime with one intra-op thread runs every node on it; the Go runtime may use other goroutines, so its CPU column undercounts and its wall column is the one to read).")
	p("")
	p("| phase | engine | lowering | ONNX nodes | wall ms | CPU ms | range (wall ms) |")
	p("|---|---|---|---:|---:|---:|---:|")
	for _, c := range cs {
		lo, hi := c.samples[0], c.samples[0]
		for _, s := range c.samples {
			lo, hi = min(lo, s), max(hi, s)
		}
		p("| %s | %s | %s | %d | %s | %s | %s–%s |", c.phase, c.engine, c.lowering, c.nodes, ms(benchenv.Median(c.samples)), ms(benchenv.Median(c.cpu)), ms(lo), ms(hi))
	}
	p("")
	p("**gather / reference** (below 1: computing only the routed experts is faster). For onnxruntime the CPU ratio is the work itself, which a loaded machine does not change; the Go runtime's wall ratio is the one to read:")
	p("")
	p("| phase | engine | gather / reference (wall) | gather / reference (CPU) |")
	p("|---|---|---:|---:|")
	find := func(l, e, ph string) *contender {
		for _, c := range cs {
			if c.lowering == l && c.engine == e && c.phase == ph {
				return c
			}
		}
		return nil
	}
	for _, ph := range []string{"prefill", "decode"} {
		for _, e := range []string{"onnxruntime", "Go runtime"} {
			g, r := find("gather", e, ph), find("reference", e, ph)
			p("| %s | %s | %.2f× | %.2f× |", ph, e, float64(benchenv.Median(g.samples))/float64(benchenv.Median(r.samples)),
				float64(benchenv.Median(g.cpu))/float64(benchenv.Median(r.cpu)))
		}
	}
	return b.String()
}
