// Command big benchmarks compiling real model sizes: it compiles the paper's
// dense model dimensions (bench/models/paper-*.yaml) with random weights into
// ONNX external data, with the mhcc binary as a child process, and records
// the wall time and the child's peak resident memory (getrusage's ru_maxrss)
// of each compile; then it checks the output: onnxruntime loads it and runs
// one batch (in a child process, so its memory is measured apart), onnx's
// checker accepts it, and for models small enough the Go runtime runs it.
// scripts/bench-big builds and runs it and writes bench/big.md.
//
// With -ort-check MODEL it is that child: it loads MODEL in onnxruntime, runs
// input_ids [1, 4] and prints the logits' shape and whether all are finite.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"github.com/mhcc-dev/mhcc/bench/internal/benchenv"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"

	"github.com/mhcc-dev/mhcc/internal/ortrun"
)

type options struct {
	mhcc, dir, out, ortLib, root, command string
	models, stModels, shardedModels       []string
	reps                                  int
	goMax                                 int64
	keep                                  bool
}

func main() {
	var o options
	var models, stModels, shardedModels, ortCheck string
	flag.StringVar(&o.mhcc, "mhcc", "", "the mhcc binary to benchmark (required)")
	flag.StringVar(&o.dir, "dir", filepath.Join(os.TempDir(), "mhcc-bench-big"), "folder for the compiled models (needs ~15 GB free)")
	flag.StringVar(&o.out, "out", "", "write the Markdown report here too")
	flag.StringVar(&o.ortLib, "ort-lib", os.Getenv("MHCC_ORT_LIB"), "onnxruntime shared library")
	flag.StringVar(&o.root, "root", ".", "the mhcc repository")
	flag.StringVar(&o.command, "command", "", "the command line to show in the report")
	flag.StringVar(&models, "models", "bench/models/paper-3b.yaml,bench/models/paper-9b.yaml,bench/models/paper-27b.yaml", "model files, comma-separated")
	flag.StringVar(&stModels, "safetensors-models", "bench/models/paper-3b.yaml,bench/models/paper-27b.yaml", "model files also compiled from a BF16 safetensors file of their weights (written first, not timed); \"\" for none")
	flag.StringVar(&shardedModels, "sharded-models", "bench/models/paper-3b.yaml", "model files also compiled from a Hugging Face-style checkpoint of their weights: BF16 shards of at most 512 MiB with HF Llama names, an index, names: {preset: hf-llama} (written first, not timed); \"\" for none")
	flag.IntVar(&o.reps, "reps", 3, "compiles per model; the median is reported")
	flag.Int64Var(&o.goMax, "go-runtime-max", 3<<30, "run the Go runtime on models whose data file has at most this many bytes")
	flag.BoolVar(&o.keep, "keep", false, "keep the compiled models")
	flag.StringVar(&ortCheck, "ort-check", "", "child mode: load this model in onnxruntime and run it once")
	flag.Parse()
	if ortCheck != "" {
		if err := ortChild(o.ortLib, ortCheck); err != nil {
			fmt.Fprintln(os.Stderr, "bench/big:", err)
			os.Exit(1)
		}
		return
	}
	if models != "" {
		o.models = strings.Split(models, ",")
	}
	if shardedModels != "" {
		o.shardedModels = strings.Split(shardedModels, ",")
	}
	if stModels != "" {
		o.stModels = strings.Split(stModels, ",")
	}
	if o.mhcc == "" {
		fmt.Fprintln(os.Stderr, "bench/big: -mhcc is required")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/big:", err)
		os.Exit(1)
	}
}

type row struct {
	name                 string
	source               string
	params, weights      int64
	walls                []time.Duration
	rss                  []int64
	dataBytes, onnxBytes int64
	ort                  benchenv.Child
	checker              benchenv.Child
	goRun                *benchenv.Child
}

func run(o options) error {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	loadBefore := benchenv.LoadAvg(" ")
	commit := "?" // read now: the binaries were built from this tree
	if out, err := exec.Command("git", "-C", o.root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	var rows []row
	type job struct{ name, path, source string }
	var jobs []job
	for _, path := range o.models {
		jobs = append(jobs, job{path, filepath.Join(o.root, path), "random"})
	}
	for _, path := range o.stModels {
		jobs = append(jobs, job{path, "", "BF16 safetensors"})
	}
	for _, path := range o.shardedModels {
		jobs = append(jobs, job{path, "", "sharded"})
	}
	for _, j := range jobs {
		path := j.path
		var stFile, shardDir string
		if path == "" && j.source == "sharded" {
			fmt.Fprintf(os.Stderr, "bench/big: writing a sharded Hugging Face checkpoint for %s\n", j.name)
			p, size, n, err := writeBF16Sharded(filepath.Join(o.root, j.name), o.dir, 512<<20)
			if err != nil {
				return err
			}
			path, shardDir = p, strings.TrimSuffix(p, ".yaml")
			j.source = fmt.Sprintf("BF16 HF-named shards (%d files, %s; preset hf-llama)", n, gib(size))
		} else if path == "" {
			fmt.Fprintf(os.Stderr, "bench/big: writing a BF16 safetensors file for %s\n", j.name)
			p, size, err := writeBF16Model(filepath.Join(o.root, j.name), o.dir)
			if err != nil {
				return err
			}
			path = p
			stFile = strings.TrimSuffix(p, "-bf16.yaml") + ".bf16.safetensors"
			j.source = fmt.Sprintf("BF16 safetensors (%s)", gib(size))
		}
		m, err := model.Load(path)
		if err != nil {
			return err
		}
		r := row{name: j.name, source: j.source, weights: model.WeightBytes(m), params: model.WeightBytes(m) / 4}
		out := filepath.Join(o.dir, m.Name+".onnx")
		for i := 0; i < o.reps; i++ {
			os.Remove(out)
			os.Remove(out + ".data")
			fmt.Fprintf(os.Stderr, "bench/big: compiling %s (%d/%d)\n", path, i+1, o.reps)
			c := benchenv.Run(o.mhcc, "compile", path, "-o", out, "--external-data", "--quiet")
			if c.Err != nil {
				return fmt.Errorf("compiling %s: %v: %s", path, c.Err, c.Out)
			}
			r.walls = append(r.walls, c.Wall)
			r.rss = append(r.rss, c.MaxRSS)
		}
		if fi, err := os.Stat(out); err == nil {
			r.onnxBytes = fi.Size()
		}
		if fi, err := os.Stat(out + ".data"); err == nil {
			r.dataBytes = fi.Size()
		}
		fmt.Fprintf(os.Stderr, "bench/big: onnxruntime on %s\n", out)
		r.ort = benchenv.Run(self, "-ort-lib", o.ortLib, "-ort-check", out)
		fmt.Fprintf(os.Stderr, "bench/big: onnx checker on %s\n", out)
		r.checker = benchenv.Run("/usr/bin/python3", filepath.Join(o.root, "scripts", "check_onnx.py"), out)
		if r.dataBytes <= o.goMax {
			fmt.Fprintf(os.Stderr, "bench/big: Go runtime on %s\n", out)
			g := benchenv.Run(o.mhcc, "run", out, "--dim", "batch=1", "--dim", "sequence=4", "--out-dir", o.dir)
			r.goRun = &g
		}
		if !o.keep {
			os.Remove(out)
			os.Remove(out + ".data")
			os.Remove(filepath.Join(o.dir, "logits.npy"))
		}
		if stFile != "" {
			os.Remove(stFile)
			os.Remove(path)
		}
		if shardDir != "" {
			os.RemoveAll(shardDir)
			os.Remove(path)
		}
		rows = append(rows, r)
	}
	report := render(o, rows, commit, loadBefore, benchenv.LoadAvg(" "))
	fmt.Print(report)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(report), 0o644)
	}
	return nil
}

func gib(n int64) string { return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30)) }
func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func status(c benchenv.Child) string {
	if c.Err != nil {
		msg := c.Out
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return "FAIL: " + msg
	}
	return "ok"
}

func render(o options, rows []row, commit, before, after string) string {
	var b strings.Builder
	cpu := "?"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	fmt.Fprintf(&b, "# Compiling real model sizes\n\n")
	fmt.Fprintf(&b, "- machine: %s, %d cores (nproc), %s\n", cpu, goruntime.NumCPU(), goruntime.GOOS+"/"+goruntime.GOARCH)
	fmt.Fprintf(&b, "- date: %s; mhcc commit %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), commit)
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) before: %s; after: %s\n", before, after)
	fmt.Fprintf(&b, "- command: `%s`\n", o.command)
	fmt.Fprintf(&b, "- each compile: `mhcc compile MODEL -o OUT --external-data --quiet` as a child process, weights streamed to `OUT.data` from the random generator (seed 1) or from a BF16 safetensors file of the same weights (written beforehand, untimed; widened to float32 on the way); %d compiles per model, median (min–max); peak RSS is the child's `ru_maxrss`\n\n", o.reps)
	b.WriteString("| model | weights from | parameters | weights (f32) | model file | data file | compile wall, median (min–max) | compile peak RSS, median (max) | onnxruntime load + run [1,4] | onnxruntime peak RSS | onnx checker | Go runtime run [1,4] |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		goCell := "skipped (data > " + gib(o.goMax) + ")"
		if r.goRun != nil {
			goCell = fmt.Sprintf("%s, %.1f s, %s", status(*r.goRun), r.goRun.Wall.Seconds(), mib(r.goRun.MaxRSS))
		}
		ortCell := fmt.Sprintf("%s, %.1f s", status(r.ort), r.ort.Wall.Seconds())
		if r.ort.Err == nil {
			ortCell += " (" + r.ort.Out + ")"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %.2fB | %s | %s | %s | %.1f s (%.1f–%.1f) | %s (%s) | %s | %s | %s, %.1f s | %s |\n",
			r.name, r.source, float64(r.params)/1e9, gib(r.weights), mib(r.onnxBytes), gib(r.dataBytes),
			benchenv.Median(r.walls).Seconds(), slices.Min(r.walls).Seconds(), slices.Max(r.walls).Seconds(),
			mib(benchenv.Median(r.rss)), mib(slices.Max(r.rss)), ortCell, mib(r.ort.MaxRSS), status(r.checker), r.checker.Wall.Seconds(), goCell)
	}
	b.WriteString(notes)
	return b.String()
}

const notes = `
Goal (issue 6): the 27B-dims model compiles with peak RSS under 2 GB and in
under a minute on this 2-core machine, and onnxruntime loads the output.

- **compile peak RSS** is the whole mhcc process: graph, passes, the 4 MiB
  chunks in flight, Go's heap overhead. It grows with the graph (layers), not
  with the weights: the weights never are in memory whole.
- **compile wall** includes generating (or reading and widening) every
  weight, writing the data file and fsync-ing it; the 27B data file is
  8.5 GiB, so the disk (and the other agents on it) sets much of the time.
  The BF16 safetensors file was written just before its compiles, so it is
  likely in the page cache: those rows show the conversion cost, not a cold
  disk read.
- **onnxruntime** is onnxruntime 1.30 through internal/ortrun in a child
  process with default session options; its peak RSS is about the weights'
  size.
- **Go runtime** is ` + "`mhcc run`" + ` (batch 1, sequence 4). It reads the data file
  into memory, transposes weights at run time, and Go's collector lets the
  heap grow to about twice the live data: about 3× the weights. It is a
  verification runtime; it is skipped above -go-runtime-max.
- Load averages above 2 mean other agents were running; medians of 3.
`

// ortChild loads path in onnxruntime and runs input_ids [1, 4].
func ortChild(lib, path string) error {
	if err := ortrun.Init(lib); err != nil {
		return err
	}
	in := ortrun.Tensor{Name: lower.InputIDs, DType: "int64", Shape: []int64{1, 4}, I64: []int64{1, 2, 3, 4}}
	outs, err := ortrun.Run(path, []ortrun.Tensor{in}, 0)
	if err != nil {
		return err
	}
	if len(outs) != 1 {
		return fmt.Errorf("%d outputs, want 1", len(outs))
	}
	finite := true
	for _, v := range outs[0].F32 {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			finite = false
		}
	}
	fmt.Printf("logits %v, all finite: %v", outs[0].Shape, finite)
	if !finite {
		return fmt.Errorf("logits have a NaN or Inf")
	}
	return nil
}
