// Command verify benchmarks `mhcc verify` on decoders of 100–200 M
// parameters: the wall time and the peak resident memory (getrusage's
// ru_maxrss) of each run, the mhcc binary a child process. With -baseline,
// a second mhcc binary (scripts/bench-verify builds one from a git
// revision) runs the same models in the same rounds, alternating, so the
// two are compared side by side on one machine state. scripts/bench-verify
// builds and runs it and writes bench/verify.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mhcc-dev/mhcc/bench/internal/benchenv"
	"github.com/mhcc-dev/mhcc/model"
)

type options struct {
	mhcc, baseline, baseRev, root, out, command string
	models                                      []string
	reps                                        int
}

func main() {
	var o options
	var models string
	flag.StringVar(&o.mhcc, "mhcc", "", "the mhcc binary to benchmark (required)")
	flag.StringVar(&o.baseline, "baseline", "", "another mhcc binary to run side by side (optional)")
	flag.StringVar(&o.baseRev, "baseline-rev", "", "the revision the baseline was built from, for the report")
	flag.StringVar(&o.root, "root", ".", "the mhcc repository")
	flag.StringVar(&o.out, "out", "", "write the Markdown report here too")
	flag.StringVar(&o.command, "command", "", "the command line to show in the report")
	flag.StringVar(&models, "models", "bench/models/decoder-1024.yaml,bench/models/decoder-1024-deep.yaml", "model files, comma-separated")
	flag.IntVar(&o.reps, "reps", 3, "runs per model and binary; the median wall time and the largest peak RSS are reported")
	flag.Parse()
	o.models = strings.Split(models, ",")
	if o.mhcc == "" {
		fmt.Fprintln(os.Stderr, "bench/verify: -mhcc is required")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/verify:", err)
		os.Exit(1)
	}
}

// A sample is one `mhcc verify` run.
type sample struct {
	wall   time.Duration
	maxRSS int64 // bytes
}

func verifyOnce(bin, model string) (sample, error) {
	c := benchenv.Run(bin, "verify", model)
	s := sample{wall: c.Wall, maxRSS: c.MaxRSS}
	if c.Err != nil {
		msg := c.Out
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return s, fmt.Errorf("%s verify %s: %v: %s", bin, model, c.Err, msg)
	}
	return s, nil
}

type row struct {
	model           string
	params, weights int64
	cur, base       []sample
	baseErr         error
}

func run(o options) error {
	commit := benchenv.GitDescribe(o.root, "verify", "runtime", "compile", "export")
	before := benchenv.LoadAvg(" ")
	var rows []row
	for _, path := range o.models {
		m, err := model.Load(filepath.Join(o.root, path))
		if err != nil {
			return err
		}
		r := row{model: path, weights: model.WeightBytes(m), params: model.WeightBytes(m) / 4}
		for i := range o.reps {
			// Alternate which binary goes first, so neither always runs on
			// a machine the other just warmed (or filled).
			bins := []string{o.mhcc, o.baseline}
			if i%2 == 1 {
				bins[0], bins[1] = bins[1], bins[0]
			}
			for _, bin := range bins {
				if bin == "" || bin == o.baseline && r.baseErr != nil {
					continue
				}
				fmt.Fprintf(os.Stderr, "bench/verify: %s on %s (%d/%d)\n", filepath.Base(filepath.Dir(bin))+"/"+filepath.Base(bin), path, i+1, o.reps)
				s, err := verifyOnce(bin, filepath.Join(o.root, path))
				if bin == o.mhcc {
					if err != nil {
						return err
					}
					r.cur = append(r.cur, s)
				} else if err != nil {
					r.baseErr = err
				} else {
					r.base = append(r.base, s)
				}
			}
		}
		rows = append(rows, r)
	}
	report := render(o, rows, commit, before, benchenv.LoadAvg(" "))
	fmt.Print(report)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(report), 0o644)
	}
	return nil
}

func medianWall(ss []sample) time.Duration {
	var w []time.Duration
	for _, s := range ss {
		w = append(w, s.wall)
	}
	return benchenv.Median(w)
}

func peakRSS(ss []sample) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.maxRSS)
	}
	return m
}

func gib(n int64) string { return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30)) }

func render(o options, rows []row, commit, before, after string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# `mhcc verify` on 100–200 M-parameter decoders\n\n")
	fmt.Fprintf(&b, "Written by `bench/verify`. Each run is `mhcc verify MODEL` (compile for the `onnx` target, run it in the Go runtime next to the float64 reference at the default shapes 1x1, 2x7 and 3x16, check the mHC invariants) as a child process; **wall** is the median of %d runs, **peak RSS** the largest `ru_maxrss` of them.", o.reps)
	if o.baseline != "" {
		fmt.Fprintf(&b, " The baseline binary ran the same models in the same rounds, alternating which went first.")
	}
	fmt.Fprintf(&b, "\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %s |\n| date | %s |\n| mhcc | %s |\n", benchenv.CPUModel(), time.Now().UTC().Format("2006-01-02 15:04 UTC"), commit)
	if o.baseline != "" {
		fmt.Fprintf(&b, "| baseline | %s |\n", o.baseRev)
	}
	fmt.Fprintf(&b, "| load average before | %s |\n| load average after | %s |\n| command | `%s` |\n\n", before, after, o.command)
	if o.baseline != "" {
		fmt.Fprintf(&b, "| model | parameters | float32 weights | mhcc wall | mhcc peak RSS | baseline wall | baseline peak RSS | time ÷ | memory ÷ |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	} else {
		fmt.Fprintf(&b, "| model | parameters | float32 weights | wall | peak RSS | peak RSS ÷ weights |\n|---|--:|--:|--:|--:|--:|\n")
	}
	for _, r := range rows {
		w, rss := medianWall(r.cur), peakRSS(r.cur)
		head := fmt.Sprintf("| `%s` | %.0f M | %s | %.1f s | %s |", r.model, float64(r.params)/1e6, gib(r.weights), w.Seconds(), gib(rss))
		if o.baseline == "" {
			fmt.Fprintf(&b, "%s %.1f× |\n", head, float64(rss)/float64(r.weights))
			continue
		}
		if r.baseErr != nil || len(r.base) == 0 {
			fmt.Fprintf(&b, "%s failed: %v | | | |\n", head, r.baseErr)
			continue
		}
		bw, brss := medianWall(r.base), peakRSS(r.base)
		fmt.Fprintf(&b, "%s %.1f s | %s | %.2f× | %.2f× |\n", head, bw.Seconds(), gib(brss), bw.Seconds()/w.Seconds(), float64(brss)/float64(rss))
	}
	if o.baseline != "" {
		fmt.Fprintf(&b, "\n**time ÷** and **memory ÷** are the baseline's wall time and peak RSS over mhcc's: how many times faster and smaller this mhcc is.\n")
	}
	return b.String()
}
