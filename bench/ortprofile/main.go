// Command ortprofile runs an ONNX model in onnxruntime with its profiler on
// and prints where the time goes: per operator type, and per group of nodes
// named by the prefix of their names up to the first "/" with layer numbers
// dropped (so "layers.3.attn.comb/12_Div" counts as "layers.*.attn.comb").
// It is the measurement behind the choice of lowerings (bench/README.md).
//
//	go run ./bench/ortprofile -model m.onnx -seq 128 [-runs 20] [-threads 1]
//
// -ortops-lib registers mhcc's custom-op library (the fused target's
// graphs); -mem-pattern=false and -cpu-arena=false turn off onnxruntime's
// memory pattern and CPU arena, to see what a difference in per-node times
// owes to how onnxruntime places the tensors (bench/fused-kernels.md).
// -order FILE writes the nodes in the order the first run executed them,
// each with its mean time over the later runs.
//
// Environment switches for digging further: ORTPROFILE_VERBOSE=1 turns on
// onnxruntime's verbose log (it prints the memory pattern's block sizes);
// ORTPROFILE_OPTIMIZED=PATH saves the optimized model there;
// ORTPROFILE_KEEP=PATH keeps the JSON profile there (its node events carry
// mem_bytes_in_use); ORTPROFILE_MEMSTATS=PATH has onnxruntime write its
// per-node memory statistics there.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/ortops"
	"github.com/mhcc-dev/mhcc/lower"
	ort "github.com/yalue/onnxruntime_go"
)

type event struct {
	Cat  string            `json:"cat"`
	Name string            `json:"name"`
	Dur  float64           `json:"dur"`
	Args map[string]any    `json:"args"`
	_    map[string]string `json:"-"`
}

func main() {
	model := flag.String("model", "", "ONNX model with input input_ids [1, seq]")
	seq := flag.Int("seq", 128, "sequence length")
	runs := flag.Int("runs", 20, "profiled runs")
	threads := flag.Int("threads", 1, "intra-op threads")
	top := flag.Int("top", 25, "rows per table")
	lib := flag.String("ort-lib", os.Getenv("MHCC_ORT_LIB"), "onnxruntime shared library")
	flag.BoolVar(&cpuArena, "cpu-arena", true, "onnxruntime's CPU memory arena; false allocates every tensor with the system allocator")
	flag.BoolVar(&memPattern, "mem-pattern", true, "onnxruntime's memory pattern (planned offsets in one block per run); false turns it off, to see what its absence costs")
	flag.StringVar(&orderFile, "order", "", "write the nodes in the first run's execution order, each with its mean time over the later runs (name, op, µs), to this file")
	flag.StringVar(&opsLib, "ortops-lib", "", "mhcc's custom-op library (scripts/build-ortops) to register, for the fused target's graphs")
	flag.Parse()
	if err := run(*model, *lib, *seq, *runs, *threads, *top); err != nil {
		fmt.Fprintln(os.Stderr, "ortprofile:", err)
		os.Exit(1)
	}
}

var (
	opsLib     string
	orderFile  string
	memPattern bool
	cpuArena   bool
)

func run(model, lib string, seq, runs, threads, top int) error {
	ort.SetSharedLibraryPath(lib)
	level := ort.WithLogLevelError()
	if os.Getenv("ORTPROFILE_VERBOSE") != "" {
		level = ort.WithLogLevelVerbose()
	}
	if err := ort.InitializeEnvironment(level); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ortprofile")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return err
	}
	defer opts.Destroy()
	opts.SetIntraOpNumThreads(threads)
	opts.SetInterOpNumThreads(1)
	if err := opts.SetMemPattern(memPattern); err != nil {
		return err
	}
	if err := opts.SetCpuMemArena(cpuArena); err != nil {
		return err
	}
	if opsLib != "" {
		l, err := ortops.Open(opsLib)
		if err != nil {
			return err
		}
		if err := l.Register(opts, lib); err != nil {
			return err
		}
	}
	if p := os.Getenv("ORTPROFILE_MEMSTATS"); p != "" {
		if err := opts.AddSessionConfigEntry("session.collect_node_memory_stats_to_file", p); err != nil {
			return err
		}
	}
	if p := os.Getenv("ORTPROFILE_OPTIMIZED"); p != "" {
		if err := opts.SetOptimizedModelFilePath(p); err != nil {
			return err
		}
		opts.AddSessionConfigEntry("session.optimized_model_external_initializers_file_name", filepath.Base(p)+".data")
		opts.AddSessionConfigEntry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
	}
	if err := opts.EnableProfiling(filepath.Join(dir, "p")); err != nil {
		return err
	}
	ids := make([]int64, seq)
	for i := range ids {
		ids[i] = int64(i % 7)
	}
	in, err := ort.NewTensor(ort.NewShape(1, int64(seq)), ids)
	if err != nil {
		return err
	}
	s, err := ort.NewDynamicAdvancedSession(model, []string{lower.InputIDs}, []string{lower.Logits}, opts)
	if err != nil {
		return err
	}
	for range runs + 1 {
		out := []ort.Value{nil}
		if err := s.Run([]ort.Value{in}, out); err != nil {
			return err
		}
		out[0].Destroy()
	}
	s.Destroy() // writes the profile
	files, _ := filepath.Glob(filepath.Join(dir, "p*.json"))
	if len(files) != 1 {
		return fmt.Errorf("found %d profile files", len(files))
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	if p := os.Getenv("ORTPROFILE_KEEP"); p != "" {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	var events []event
	if err := json.Unmarshal(data, &events); err != nil {
		return err
	}
	if orderFile != "" {
		// the first run's order; each node's mean time over the later runs
		// (the first run allocates and is slower)
		var order []string
		ops := map[string]string{}
		sum := map[string]float64{}
		cnt := map[string]int{}
		for _, e := range events {
			if e.Cat != "Node" || !strings.HasSuffix(e.Name, "_kernel_time") {
				continue
			}
			name := strings.TrimSuffix(e.Name, "_kernel_time")
			if _, ok := ops[name]; !ok {
				order = append(order, name)
				ops[name], _ = e.Args["op_name"].(string)
			} else {
				sum[name] += e.Dur
			}
			cnt[name]++
		}
		var b strings.Builder
		for _, name := range order {
			mean := 0.0
			if cnt[name] > 1 {
				mean = sum[name] / float64(cnt[name]-1)
			}
			fmt.Fprintf(&b, "%s\t%s\t%.1f\n", name, ops[name], mean)
		}
		if err := os.WriteFile(orderFile, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	byOp, byGroup, byNode := map[string]float64{}, map[string]float64{}, map[string]float64{}
	count := map[string]int{}
	total := 0.0
	layer := regexp.MustCompile(`\.\d+\.`)
	for _, e := range events {
		if e.Cat != "Node" || !strings.HasSuffix(e.Name, "_kernel_time") {
			continue
		}
		op, _ := e.Args["op_name"].(string)
		name := strings.TrimSuffix(e.Name, "_kernel_time")
		group, _, _ := strings.Cut(name, "/")
		group = layer.ReplaceAllString(group, ".*.")
		byOp[op] += e.Dur
		count[op]++
		byGroup[group] += e.Dur
		byNode[layer.ReplaceAllString(name, ".*.")+" ("+op+")"] += e.Dur
		total += e.Dur
	}
	per := float64(runs + 1)
	fmt.Printf("%s, sequence %d, %d thread(s): %.2f ms of kernel time per run\n\n", model, seq, threads, total/per/1000)
	print := func(title string, m map[string]float64, counts map[string]int) {
		fmt.Printf("%-40s %10s %7s %8s\n", title, "ms/run", "share", "nodes")
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
		for i, k := range keys {
			if i == top {
				break
			}
			n := ""
			if counts != nil {
				n = fmt.Sprint(counts[k] / (runs + 1))
			}
			fmt.Printf("%-40s %10.3f %6.1f%% %8s\n", k, m[k]/per/1000, 100*m[k]/total, n)
		}
		fmt.Println()
	}
	print("operator", byOp, count)
	print("node group", byGroup, nil)
	print("node (layers merged)", byNode, nil)
	return nil
}
