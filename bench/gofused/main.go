// Command gofused measures mhcc's Go runtime on the fused target's KV-cache
// graph (docs/fused-ops.md): the time of one decode step (batch 1, one new
// token on a cache of 0 and 512 tokens) with the runtime's own kernels for
// the fused mHC ops against the same graph run with the ops' function
// bodies (runtime.DecodeOptions.FunctionBodies), interleaved in one process,
// at hidden 256 and 1024. It checks that the two give the same logits, and
// takes profiled steps of each to report the fused ops' own share.
//
// It writes a Markdown report (bench/gofused.md; see bench/README.md).
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mhcc-dev/mhcc/bench/internal/benchenv"
	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/runtime/feed"
)

type options struct {
	reps      int
	minSample time.Duration
	pasts     []int
	models    []string
	out       string
	root      string
	command   string
}

func main() {
	var o options
	var pasts, models, ortLib string
	flag.IntVar(&o.reps, "reps", 9, "interleaved rounds")
	flag.DurationVar(&o.minSample, "min", 100*time.Millisecond, "least duration of one sample (back-to-back steps)")
	flag.StringVar(&pasts, "pasts", "0,512", "cache lengths")
	flag.StringVar(&models, "models", "bench/models/decoder-256.yaml,bench/models/decoder-1024.yaml", "model files")
	flag.StringVar(&o.out, "o", "", "write the Markdown report here (default stdout)")
	flag.StringVar(&o.root, "root", "", "repository root (default: found from the working directory)")
	flag.StringVar(&o.command, "command", "", "the command line the report shows (default: this one)")
	flag.Parse()
	if err := benchenv.Defaults(&o.root, &ortLib, &o.command); err != nil {
		fail(err)
	}
	for _, p := range strings.Split(pasts, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 {
			fail(fmt.Errorf("-pasts: %q", p))
		}
		o.pasts = append(o.pasts, v)
	}
	o.models = strings.Split(models, ",")
	if err := run(o); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/gofused:", err)
	os.Exit(1)
}

// A contender is one decoded graph with its inputs for one step.
type contender struct {
	name string
	m    *mhrt.Model
	in   map[string]*mhrt.Tensor
}

func (c *contender) step() (map[string]*mhrt.Tensor, error) { return c.m.Run(c.in) }

type row struct {
	model                string
	past                 int
	kern, body           time.Duration // median sample: mean time of one step
	kernMin, kernMax     time.Duration
	bodyMin, bodyMax     time.Duration
	kernCPU, bodyCPU     time.Duration // median sample of the process's CPU time per step
	kernFused, bodyFused time.Duration // the ai.mhcc nodes' time per step (profiled pass)
	nodes                int
}

func run(o options) error {
	start := time.Now()
	load := benchenv.LoadAvg(", ")
	var rows []row
	var descs []string
	for _, file := range o.models {
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
		maxPast := 0
		for _, p := range o.pasts {
			maxPast = max(maxPast, p)
		}
		m.Inputs.MaxSequence = max(m.Inputs.MaxSequence, maxPast+1)
		fmt.Fprintf(os.Stderr, "bench/gofused: compiling %s for fused\n", file)
		res, err := compile.CompileModel(m, w, compile.Options{Target: "fused", KVCache: true})
		if err != nil {
			return err
		}
		a := m.Arch
		rel, _ := filepath.Rel(o.root, file)
		descs = append(descs, fmt.Sprintf("`%s`: hidden %d, %d layers, %d heads (head_dim %d), n = %d streams", rel, a.HiddenSize, a.Layers, a.Heads, a.HeadDim, m.HC.Streams))
		kern, err := mhrt.Decode(res.ONNX)
		if err != nil {
			return err
		}
		body, err := mhrt.DecodeWith(res.ONNX, mhrt.DecodeOptions{FunctionBodies: true})
		if err != nil {
			return err
		}
		for _, past := range o.pasts {
			in := inputs(m, kern, past)
			cs := []*contender{{"kernels", kern, in}, {"bodies", body, in}}
			r := row{model: rel, past: past, nodes: len(kern.Nodes())}
			if err := check(cs); err != nil {
				return fmt.Errorf("%s, past %d: %w", rel, past, err)
			}
			fmt.Fprintf(os.Stderr, "bench/gofused: %s past %d:", rel, past)
			samples := make([][]time.Duration, len(cs))
			cpu := make([][]time.Duration, len(cs))
			calls := make([]int, len(cs))
			for i, c := range cs {
				t0 := time.Now()
				if _, err := c.step(); err != nil {
					return err
				}
				calls[i] = benchenv.CallsPerSample(o.minSample, time.Since(t0))
			}
			err := benchenv.Interleave(o.reps, len(cs), func(i int) error {
				t0, c0 := time.Now(), processCPU()
				for range calls[i] {
					if _, err := cs[i].step(); err != nil {
						return err
					}
				}
				samples[i] = append(samples[i], time.Since(t0)/time.Duration(calls[i]))
				cpu[i] = append(cpu[i], (processCPU()-c0)/time.Duration(calls[i]))
				return nil
			})
			fmt.Fprintln(os.Stderr)
			if err != nil {
				return err
			}
			r.kern, r.kernMin, r.kernMax = stats(samples[0])
			r.body, r.bodyMin, r.bodyMax = stats(samples[1])
			r.kernCPU, r.bodyCPU = benchenv.Median(cpu[0]), benchenv.Median(cpu[1])
			for i, c := range cs {
				var steps []time.Duration
				for range 31 {
					prof := &mhrt.Profile{}
					if _, err := c.m.RunWith(c.in, mhrt.RunOptions{Profile: prof}); err != nil {
						return err
					}
					var d time.Duration
					for op, t := range prof.Ops {
						if strings.HasPrefix(op, "ai.mhcc.") {
							d += t.Total
						}
					}
					steps = append(steps, d)
				}
				fused := benchenv.Median(steps)
				if i == 0 {
					r.kernFused = fused
				} else {
					r.bodyFused = fused
				}
			}
			rows = append(rows, r)
		}
	}
	return report(o, rows, descs, load, time.Since(start))
}

// inputs makes one decode step's feeds: token 1 at position past, a mask of
// ones, and N(0, 1) keys and values for the cache.
func inputs(m *model.Model, g *mhrt.Model, past int) map[string]*mhrt.Tensor {
	a := m.Arch
	rng := feed.NewRand(1, uint64(past))
	in := map[string]*mhrt.Tensor{}
	for _, v := range g.Inputs {
		switch v.Name {
		case lower.InputIDs:
			in[v.Name] = mhrt.NewInt64([]int64{1, 1}, []int64{1})
		case lower.AttentionMask:
			ones := make([]int64, past+1)
			for i := range ones {
				ones[i] = 1
			}
			in[v.Name] = mhrt.NewInt64([]int64{1, int64(past + 1)}, ones)
		case lower.PositionIDs:
			in[v.Name] = mhrt.NewInt64([]int64{1, 1}, []int64{int64(past)})
		default:
			data := make([]float32, a.KVHeads*past*a.HeadDim)
			for i := range data {
				data[i] = float32(rng.Normal())
			}
			in[v.Name] = mhrt.NewFloat32([]int64{1, int64(a.KVHeads), int64(past), int64(a.HeadDim)}, data)
		}
	}
	return in
}

// check runs one step of each contender and requires the same logits
// (within 1e-4 relative to the largest) and the fused nodes' kinds: kernels
// without function bodies, bodies with.
func check(cs []*contender) error {
	var want []float64
	for i, c := range cs {
		for _, n := range c.m.Nodes() {
			if n.Domain == "ai.mhcc" && (n.Fn != nil) != (i == 1) {
				return fmt.Errorf("%s: %v has function body %v", c.name, n, n.Fn != nil)
			}
		}
		out, err := c.step()
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		got := out[lower.Logits].Float64s()
		if want == nil {
			want = got
			continue
		}
		scale, d := 0.0, 0.0
		for j := range want {
			scale = max(scale, math.Abs(want[j]))
			d = max(d, math.Abs(got[j]-want[j]))
		}
		if !(d <= 1e-4*max(scale, 1)) {
			return fmt.Errorf("%s: logits differ from %s's by %g", c.name, cs[0].name, d)
		}
	}
	return nil
}

// processCPU is the CPU time of the whole process (every thread: the
// helpers, the garbage collector), user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func stats(v []time.Duration) (med, lo, hi time.Duration) {
	lo, hi = v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return benchenv.Median(v), lo, hi
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()*1e3) }

func report(o options, rows []row, descs []string, load string, elapsed time.Duration) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# The Go runtime on the fused target: kernels against function bodies\n\n")
	p("Written by `bench/gofused` (see [README.md](README.md)). Time of one decode step of the fused target's KV-cache graph (`mhcc compile --target fused`, `inputs.kv_cache: true`) in mhcc's Go runtime (Fast engine), batch 1, one new token on a cache of `past` tokens: ")
	p("with the runtime's kernels for the fused mHC ops (the default) and with the ops' function bodies (`runtime.DecodeOptions{FunctionBodies: true}`), the same graph and inputs, interleaved in one process, %d rounds; each figure is the median sample, a sample being the mean of back-to-back steps lasting at least %v. ", o.reps, o.minSample)
	p("**CPU ms** is the process's CPU time per step (all threads: the runtime's helper goroutines, which spin a while before sleeping, and the garbage collector), which the other processes on a loaded machine do not inflate as they do the wall time. ")
	p("Both give the same logits (checked, within 1e-4). **fused ops** is the time per step of the `ai.mhcc` nodes alone (the median of 31 profiled steps; a body's time is its caller node's). Compare the ratios: the machine is shared.\n\n")
	p("| | |\n|---|---|\n")
	p("| CPU | %s |\n", benchenv.CPUModel())
	p("| GOMAXPROCS | %d |\n", goruntime.GOMAXPROCS(0))
	p("| load average (1, 5, 15 min) | before %s; after %s |\n", load, benchenv.LoadAvg(", "))
	p("| date | %s |\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	p("| mhcc | %s |\n", benchenv.GitDescribe(o.root, "runtime", "export", "passes", "bench/models"))
	p("| command | `%s` |\n", o.command)
	p("| wall time | %s |\n\n", elapsed.Round(time.Second))
	p("Models (random weights, seed 1; mHC dynamic, 20 Sinkhorn iterations):\n\n")
	for _, d := range descs {
		p("- %s\n", d)
	}
	p("\n| model | past | nodes | kernels wall ms | bodies wall ms | bodies / kernels (wall) | kernels CPU ms | bodies CPU ms | bodies / kernels (CPU) | kernels wall range | bodies wall range | fused ops ms, kernels | fused ops ms, bodies | fused ops bodies / kernels |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		p("| %s | %d | %d | %s | %s | %.2f× | %s | %s | %.2f× | %s–%s | %s–%s | %s | %s | %.1f× |\n", r.model, r.past, r.nodes,
			ms(r.kern), ms(r.body), float64(r.body)/float64(r.kern),
			ms(r.kernCPU), ms(r.bodyCPU), float64(r.bodyCPU)/float64(max(r.kernCPU, 1)),
			ms(r.kernMin), ms(r.kernMax), ms(r.bodyMin), ms(r.bodyMax),
			ms(r.kernFused), ms(r.bodyFused), float64(r.bodyFused)/float64(max(r.kernFused, 1)))
	}
	if o.out == "" {
		_, err := os.Stdout.WriteString(b.String())
		return err
	}
	return os.WriteFile(o.out, []byte(b.String()), 0o644)
}
