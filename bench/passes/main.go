// Command passes measures, side by side in one run, the latency of mHC
// decoders in onnxruntime as mhcc compiles them for each target, against the
// same models with plain residual connections and against torch.onnx
// exports of the independent PyTorch reference with the same weights. It
// writes a Markdown table (bench/passes.md). scripts/bench-passes prepares
// the torch exports and runs it; see bench/README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mhcc-dev/mhcc/bench/internal/benchenv"
	"github.com/mhcc-dev/mhcc/bench/internal/benchort"
	"github.com/mhcc-dev/mhcc/lower"

	goruntime "runtime"

	"github.com/mhcc-dev/mhcc/compile"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/feed"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"
)

type options struct {
	work, out, ortLib, command string
	targets                    []string
	threads                    []int
	reps                       int
	minSample                  time.Duration
	sizes                      []string
}

// A contender is one ONNX model in one onnxruntime session.
type contender struct {
	size, label, family string // family: "mhcc <target>" or "torch.onnx"
	mhc                 bool
	threads             int
	nodes, calls        int
	session             *ort.DynamicAdvancedSession
	in, out             []ort.Value
	samples             []time.Duration
	cpu                 []time.Duration // thread CPU time per call (1 thread only)
	result              []float32
}

func main() {
	var o options
	var targets, threads, sizes string
	flag.StringVar(&o.work, "work", "", "folder with the torch exports made by scripts/bench-passes (<size>[-residual].torch.onnx and .yaml)")
	flag.StringVar(&o.out, "out", "", "write the Markdown report here as well as to stdout")
	flag.StringVar(&o.ortLib, "ort-lib", os.Getenv("MHCC_ORT_LIB"), "onnxruntime shared library")
	flag.StringVar(&o.command, "command", "", "command line shown in the report")
	flag.StringVar(&targets, "targets", "onnx,ort,compact,bench/profiles/reference.yaml", "mhcc targets to compile for")
	flag.StringVar(&threads, "threads", "1,2", "onnxruntime intra-op thread counts")
	flag.StringVar(&sizes, "sizes", "decoder-256:128,decoder-1024:256", "model:sequence pairs")
	flag.IntVar(&o.reps, "reps", 9, "measured rounds (median reported)")
	flag.DurationVar(&o.minSample, "min-sample", 200*time.Millisecond, "a sample repeats a call until it lasts this long")
	flag.Parse()
	o.targets = strings.Split(targets, ",")
	o.sizes = strings.Split(sizes, ",")
	for _, f := range strings.Split(threads, ",") {
		t, err := strconv.Atoi(f)
		if err != nil || t < 1 {
			fmt.Fprintf(os.Stderr, "bench/passes: bad -threads %q\n", threads)
			os.Exit(2)
		}
		o.threads = append(o.threads, t)
	}
	if o.work == "" || o.ortLib == "" {
		fmt.Fprintln(os.Stderr, "bench/passes: -work and -ort-lib (or $MHCC_ORT_LIB) are required; run scripts/bench-passes")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/passes:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ort.SetSharedLibraryPath(o.ortLib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return err
	}
	start := time.Now()
	var report strings.Builder
	writeHeader(&report, o)
	for _, sz := range o.sizes {
		name, seqText, _ := strings.Cut(sz, ":")
		seq, err := strconv.Atoi(seqText)
		if err != nil {
			return fmt.Errorf("-sizes: %q", sz)
		}
		cs, err := contenders(o, name, seq)
		if err != nil {
			return err
		}
		if err := measure(o, name, cs); err != nil {
			return err
		}
		writeSection(&report, o, name, seq, cs)
		for _, c := range cs {
			c.close()
		}
	}
	fmt.Fprintf(&report, "\nTotal benchmark time %v.\n", time.Since(start).Round(time.Second))
	fmt.Print(report.String())
	if o.out != "" {
		return os.WriteFile(o.out, []byte(report.String()), 0o644)
	}
	return nil
}

// contenders compiles and loads every model of one size.
func contenders(o options, name string, seq int) ([]*contender, error) {
	var cs []*contender
	ids := make([]int64, seq)
	r := feed.NewRand(7, uint64(seq))
	for i := range ids {
		ids[i] = int64(r.IntN(1024))
	}
	for _, twin := range []string{"", "-residual"} {
		yaml := filepath.Join(o.work, name+twin+".torch.yaml")
		torchONNX := filepath.Join(o.work, name+twin+".torch.onnx")
		data, err := os.ReadFile(torchONNX)
		if err != nil {
			return nil, err
		}
		models := []struct {
			family string
			data   []byte
		}{{"torch.onnx", data}}
		for _, tg := range o.targets {
			res, err := compile.Compile(yaml, compile.Options{Target: tg})
			if err != nil {
				return nil, fmt.Errorf("compile %s for %s: %w", yaml, tg, err)
			}
			label := strings.TrimSuffix(filepath.Base(tg), ".yaml")
			models = append(models, struct {
				family string
				data   []byte
			}{"mhcc " + label, res.ONNX})
		}
		for _, m := range models {
			nodes, err := countNodes(m.data)
			if err != nil {
				return nil, err
			}
			for _, th := range o.threads {
				c, err := newContender(m.data, ids, th)
				if err != nil {
					return nil, fmt.Errorf("%s %s%s: %w", m.family, name, twin, err)
				}
				c.size, c.family, c.mhc, c.nodes = name, m.family, twin == "", nodes
				c.label = m.family
				cs = append(cs, c)
			}
		}
	}
	return cs, nil
}

// countNodes counts the nodes onnxruntime is given: the graph's, plus those
// of the bodies of the model-local functions each call inlines (subgraphs of
// Loop count once).
func countNodes(data []byte) (int, error) {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return 0, err
	}
	body := map[string]int{}
	for _, f := range m.Functions {
		body[f.GetDomain()+"/"+f.GetName()] = countGraphNodes(f.Node)
	}
	n := 0
	for _, nd := range m.Graph.Node {
		if b, ok := body[nd.GetDomain()+"/"+nd.GetOpType()]; ok {
			n += b
		} else {
			n += countGraphNodes([]*onnxpb.NodeProto{nd})
		}
	}
	return n, nil
}

func countGraphNodes(nodes []*onnxpb.NodeProto) int {
	n := 0
	for _, nd := range nodes {
		n++
		for _, a := range nd.Attribute {
			if a.G != nil {
				n += countGraphNodes(a.G.Node)
			}
		}
	}
	return n
}

func newContender(data []byte, ids []int64, threads int) (*contender, error) {
	in, err := ort.NewTensor(ort.NewShape(1, int64(len(ids))), slices.Clone(ids))
	if err != nil {
		return nil, err
	}
	s, err := benchort.Session(data, []string{lower.InputIDs}, []string{lower.Logits}, threads, nil)
	if err != nil {
		return nil, err
	}
	return &contender{threads: threads, session: s, in: []ort.Value{in}, out: make([]ort.Value, 1)}, nil
}

func (c *contender) call(n int) (time.Duration, error) {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	c0 := benchenv.ThreadCPU()
	t0 := time.Now()
	defer func() {
		if c.threads == 1 {
			c.cpu = append(c.cpu, (benchenv.ThreadCPU()-c0)/time.Duration(n))
		}
	}()
	for range n {
		if c.out[0] != nil {
			c.out[0].Destroy()
			c.out[0] = nil
		}
		if err := c.session.Run(c.in, c.out); err != nil {
			return 0, fmt.Errorf("%s (%d threads): %w", c.label, c.threads, err)
		}
	}
	return time.Since(t0) / time.Duration(n), nil
}

func (c *contender) close() {
	if c.out[0] != nil {
		c.out[0].Destroy()
	}
	c.in[0].Destroy()
	c.session.Destroy()
}

func (c *contender) median() time.Duration { return benchenv.Median(c.samples) }

// cpuMedian is the median thread CPU time per call, or 0 when not recorded.
func (c *contender) cpuMedian() time.Duration {
	if c.threads != 1 || len(c.cpu) == 0 {
		return 0
	}
	return benchenv.Median(c.cpu)
}

// measure: one call each (result kept), one warm-up call that sets the
// calls per sample, then reps rounds with the contenders interleaved in a
// rotating order so drifts in machine load hit all of them alike.
func measure(o options, name string, cs []*contender) error {
	fmt.Fprintf(os.Stderr, "bench/passes: %s:", name)
	defer fmt.Fprintln(os.Stderr)
	for _, c := range cs {
		if _, err := c.call(1); err != nil {
			return err
		}
		t, ok := c.out[0].(*ort.Tensor[float32])
		if !ok {
			return errors.New("logits is not float32")
		}
		c.result = slices.Clone(t.GetData())
		d, err := c.call(1)
		if err != nil {
			return err
		}
		c.calls = benchenv.CallsPerSample(o.minSample, d)
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

func writeHeader(w io.Writer, o options) {
	fmt.Fprintf(w, "# mHC decoders in onnxruntime 1.30 CPU: mhcc's targets, residual twins and torch.onnx\n\n")
	cmd := o.command
	if cmd == "" {
		cmd = strings.Join(os.Args, " ")
	}
	fmt.Fprintf(w, "Generated by `%s` on %s; %s. Batch 1; medians of %d interleaved rounds, each sample at least %v of repeated calls.\n",
		cmd, time.Now().UTC().Format("2006-01-02 15:04 MST"), "load average "+benchenv.LoadAvg(" ")+" at start", o.reps, o.minSample)
	fmt.Fprintf(w, "Same weights everywhere: scripts/reference/export_onnx.py draws them, exports the PyTorch reference with torch.onnx (opset 17) and writes them as safetensors for mhcc.\n")
	fmt.Fprintf(w, "\"nodes\" counts what onnxruntime is given (a model-local function's body once per call, a Loop body once). \"mHC/residual\" is each family's mHC model over its own residual twin; \"vs torch\" is torch.onnx's mHC latency over this one's.\n")
}

func writeSection(w io.Writer, o options, name string, seq int, cs []*contender) {
	fmt.Fprintf(w, "\n## %s, sequence %d\n\n", name, seq)
	for _, th := range o.threads {
		fmt.Fprintf(w, "### %d thread(s)\n\n", th)
		fmt.Fprintf(w, "| model | mHC nodes | mHC ms | residual nodes | residual ms | mHC/residual | vs torch.onnx mHC | max abs diff vs torch |\n|---|---|---|---|---|---|---|---|\n")
		var torch *contender
		if th == 1 {
			defer writeCPUTable(w, cs)
		}
		for _, c := range cs {
			if c.threads == th && c.mhc && c.family == "torch.onnx" {
				torch = c
			}
		}
		var fams []string
		for _, c := range cs {
			if !slices.Contains(fams, c.family) {
				fams = append(fams, c.family)
			}
		}
		for _, f := range fams {
			var m, r *contender
			for _, c := range cs {
				if c.threads == th && c.family == f {
					if c.mhc {
						m = c
					} else {
						r = c
					}
				}
			}
			if m == nil || r == nil {
				continue
			}
			fmt.Fprintf(w, "| %s | %d | %s | %d | %s | %+.1f%% | %.2f× | %.2g |\n", f, m.nodes, ms(m.median()), r.nodes, ms(r.median()),
				100*(float64(m.median())/float64(r.median())-1), float64(torch.median())/float64(m.median()), maxDiff(m.result, torch.result))
		}
		fmt.Fprintln(w)
	}
}

// writeCPUTable repeats the 1-thread comparison in thread CPU time.
func writeCPUTable(w io.Writer, cs []*contender) {
	fmt.Fprintf(w, "1 thread, in CPU time of the calling thread (robust to other load on the machine):\n\n")
	fmt.Fprintf(w, "| model | mHC CPU ms | residual CPU ms | mHC/residual | vs torch.onnx mHC |\n|---|---|---|---|---|\n")
	var torch *contender
	var fams []string
	for _, c := range cs {
		if c.threads == 1 && c.mhc && c.family == "torch.onnx" {
			torch = c
		}
		if !slices.Contains(fams, c.family) {
			fams = append(fams, c.family)
		}
	}
	for _, f := range fams {
		var m, r *contender
		for _, c := range cs {
			if c.threads == 1 && c.family == f {
				if c.mhc {
					m = c
				} else {
					r = c
				}
			}
		}
		if m == nil || r == nil || torch == nil {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %+.1f%% | %.2f× |\n", f, ms(m.cpuMedian()), ms(r.cpuMedian()),
			100*(float64(m.cpuMedian())/float64(r.cpuMedian())-1), float64(torch.cpuMedian())/float64(m.cpuMedian()))
	}
	fmt.Fprintln(w)
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }
