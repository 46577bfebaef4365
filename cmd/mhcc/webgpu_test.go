package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mhcc-dev/mhcc/internal/npy"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/internal/testmodels"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
	"google.golang.org/protobuf/proto"
)

// chromiumFlags give headless Chromium a WebGPU adapter without a GPU: Dawn
// on SwiftShader's Vulkan (the adapter reports vendor "google", architecture
// "swiftshader", isFallbackAdapter). --no-sandbox: CI runs as root.
var chromiumFlags = []string{
	"--headless=new", "--no-sandbox", "--disable-gpu-sandbox",
	"--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
	"--use-webgpu-adapter=swiftshader", "--enable-features=Vulkan",
	"--disable-crash-reporter", "--disable-breakpad", "--no-first-run",
	"--disable-background-networking", "--disable-component-update",
}

// A browserJob is one session of interop/js/webgpu.html: a model, an
// execution provider and the inputs.
type browserJob struct {
	ID        string         `json:"id"`
	Model     string         `json:"model"`
	EP        string         `json:"ep"` // webgpu or wasm
	Inputs    []browserInput `json:"inputs"`
	Repeat    int            `json:"repeat"`
	TimeoutMs int            `json:"timeoutMs"`
	F16       bool           `json:"f16"` // a float16 graph: WebGPU needs shader-f16

	want  map[string]*npy.Array // the Go runtime's outputs
	case_ webgpuCase
}

type browserInput struct {
	Name  string    `json:"name"`
	DType string    `json:"dtype"`
	Dims  []int64   `json:"dims"`
	Data  []float64 `json:"data"`
}

// A browserResult is what the page POSTs for a job.
type browserResult struct {
	ID      string `json:"id"`
	Error   string `json:"error"`
	Skipped string `json:"skipped"`
	Outputs map[string]struct {
		Dims []int64   `json:"dims"`
		Data []float64 `json:"data"`
	} `json:"outputs"`
	Dispatches int      `json:"dispatches"`
	Ms         float64  `json:"ms"`
	Log        []string `json:"log"`
}

// A webgpuCase is one compiled graph.
type webgpuCase struct {
	Model, Target, Kind string // Kind: full or kv
	Precision           string // "" (the target's) or fp16
	Nodes               int
}

func (c webgpuCase) name() string {
	n := c.Model + "." + c.Target
	if c.Precision != "" {
		n += "-" + c.Precision
	}
	if c.Kind == "kv" {
		n += ".kv"
	}
	return n
}

// browserTools returns chromium and onnxruntime-web's dist folder, or skips
// (fails under CI=true).
func browserTools(t *testing.T) (chromium, ortDist, page string) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	chromium, err = exec.LookPath("chromium")
	if err != nil {
		chromium = testenv.NeedPath(t, "/usr/bin/chromium", "chromium (Debian package, for the WebGPU browser test)")
	}
	ortDist = testenv.NeedPath(t, filepath.Join(root, "interop", "js", "node_modules", "onnxruntime-web", "dist"), "onnxruntime-web (scripts/install-deps runs npm ci in interop/js)")
	page = filepath.Join(root, "interop", "js", "webgpu.html")
	return chromium, ortDist, page
}

// webgpuCases compiles every testdata model for each target, full-sequence
// and (decoders) KV-cache, into dir, with the inputs and the Go runtime's
// outputs from mhcc run.
func webgpuCases(t *testing.T, dir string, targets []string) []*browserJob {
	t.Helper()
	models := testmodels.Paths(t)
	var jobs []*browserJob
	for _, m := range models {
		base := strings.TrimSuffix(filepath.Base(m), ".yaml")
		src, _ := os.ReadFile(m)
		decoder := strings.Contains(string(src), "kind: decoder")
		kinds := []string{"full"}
		if decoder {
			kinds = append(kinds, "kv")
		}
		for _, tg := range targets {
			target, prec, _ := strings.Cut(tg, ":")
			for _, kind := range kinds {
				c := webgpuCase{Model: base, Target: strings.TrimSuffix(filepath.Base(target), ".yaml"), Kind: kind, Precision: prec}
				file := filepath.Join(dir, c.name()+".onnx")
				args := []string{"compile", m, "--target", target, "-o", file, "--quiet"}
				if kind == "kv" {
					args = append(args, "--kv-cache")
				}
				if prec != "" {
					args = append(args, "--precision", prec)
				}
				if code, _, stderr := mhcc(t, args...); code != 0 {
					t.Fatalf("mhcc %v: exit %d: %s", args, code, stderr)
				}
				if kind == "kv" && target == "ort" && strings.Contains(string(src), "batch: 2") {
					// onnxruntime's GroupQueryAttention takes a chunk of
					// more than one new token on a cache only at batch 1
					// (README, KV-cache graphs); this model's batch is 2.
					continue
				}
				jobs = append(jobs, goRun(t, c, file, dir))
			}
		}
	}
	return jobs
}

// goRun runs file in mhcc run (seed 1; batch 2 × sequence 5 for full graphs,
// batch 1 × 3 new tokens on 4 cached ones for KV-cache graphs) and returns
// the job with the inputs it generated and the outputs it computed.
func goRun(t *testing.T, c webgpuCase, file, dir string) *browserJob {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, c.name()+".io")
	args := []string{"run", file, "--seed", "1", "--out-dir", out}
	var inputs []string
	params := map[string]bool{}
	seq := int64(3)
	for _, in := range m.GetGraph().GetInput() {
		inputs = append(inputs, in.GetName())
		args = append(args, "--output", in.GetName())
		for i, d := range in.GetType().GetTensorType().GetShape().GetDim() {
			params[d.GetDimParam()] = true
			if in.GetName() == "input_ids" && i == 1 && d.GetDimValue() > 0 {
				seq = d.GetDimValue()
			}
		}
	}
	// Full graphs: batch 2 × sequence 5. KV-cache graphs: batch 1, 3 new
	// tokens on 4 cached ones (a fixed-shape model keeps its own batch and
	// sequence).
	dims := map[string]int64{"batch": 2, "sequence": 5, "batch_size": 1, "past_sequence": 4}
	if c.Kind == "kv" {
		dims["sequence"] = 3
		dims["total_sequence"] = dims["past_sequence"] + seq
		if params["sequence"] {
			dims["total_sequence"] = dims["past_sequence"] + 3
		}
	}
	for name, v := range dims {
		if params[name] {
			args = append(args, "--dim", fmt.Sprintf("%s=%d", name, v))
		}
	}
	if code, _, stderr := mhcc(t, args...); code != 0 {
		t.Fatalf("mhcc %v: exit %d: %s", args, code, stderr)
	}
	read := func(name string) *npy.Array {
		a, err := npy.Read(filepath.Join(out, npyName(name)))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	job := &browserJob{Model: "/models/" + filepath.Base(file), want: map[string]*npy.Array{}, case_: c}
	job.case_.Nodes = len(m.GetGraph().GetNode())
	for _, name := range inputs {
		a := read(name)
		job.Inputs = append(job.Inputs, browserInput{Name: name, DType: a.DType, Dims: a.Shape, Data: floats(t, a)})
	}
	for _, o := range m.GetGraph().GetOutput() {
		job.want[o.GetName()] = read(o.GetName())
	}
	return job
}

// npyName is the file name mhcc run gives a value.
func npyName(name string) string {
	return regexp.MustCompile(`[^A-Za-z0-9._-]`).ReplaceAllString(name, "_") + ".npy"
}

// floats returns a's elements as float64 (float16 as its bit patterns,
// which the page hands to onnxruntime-web as a Uint16Array).
func floats(t *testing.T, a *npy.Array) []float64 {
	var out []float64
	switch d := a.Data.(type) {
	case []float32:
		for _, v := range d {
			out = append(out, float64(v))
		}
	case []int64:
		for _, v := range d {
			out = append(out, float64(v))
		}
	case []uint16:
		for _, v := range d {
			out = append(out, float64(v))
		}
	default:
		t.Fatalf("input dtype %s not handled", a.DType)
	}
	return out
}

// wantFloats returns an expected output as float64 values.
func wantFloats(t *testing.T, a *npy.Array) []float64 {
	if d, ok := a.Data.([]uint16); ok && a.DType == "float16" {
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(half.Float16ToFloat32(v))
		}
		return out
	}
	return floats(t, a)
}

// runInBrowser serves the page, onnxruntime-web and the models from
// 127.0.0.1 with the cross-origin isolation headers (COOP/COEP) and runs
// the jobs in one headless Chromium, one page load per job.
func runInBrowser(t *testing.T, chromium, ortDist, page, modelDir string, jobs []*browserJob, timeout time.Duration) map[string]*browserResult {
	t.Helper()
	jobsJSON, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	results := map[string]*browserResult{}
	done := make(chan struct{})
	var doneOnce sync.Once
	mux := http.NewServeMux()
	mux.Handle("/ort/", http.StripPrefix("/ort/", http.FileServer(http.Dir(ortDist))))
	mux.Handle("/models/", http.StripPrefix("/models/", http.FileServer(http.Dir(modelDir))))
	mux.HandleFunc("/run.html", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, page) })
	mux.HandleFunc("/jobs.json", func(w http.ResponseWriter, r *http.Request) { w.Write(jobsJSON) })
	mux.HandleFunc("/result", func(w http.ResponseWriter, r *http.Request) {
		var res browserResult
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &res); err != nil {
			t.Errorf("page posted a bad result: %v", err)
			return
		}
		mu.Lock()
		if results[res.ID] == nil { // the first word on a job counts (a late watchdog does not)
			results[res.ID] = &res
		}
		mu.Unlock()
	})
	mux.HandleFunc("/done", func(w http.ResponseWriter, r *http.Request) { doneOnce.Do(func() { close(done) }) })
	isolated := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		w.Header().Set("Cache-Control", "no-store")
		if strings.HasSuffix(r.URL.Path, ".mjs") {
			w.Header().Set("Content-Type", "text/javascript")
		}
		mux.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: isolated}
	go srv.Serve(ln)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir(),
		fmt.Sprintf("http://%s/run.html?job=0", ln.Addr()))
	cmd := exec.Command(chromium, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own process group, ended as one
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-done:
	case err := <-exited:
		t.Errorf("chromium exited before the last job: %v\n%s", err, lastChars(stderr.String(), 2000))
	case <-ctx.Done():
		t.Errorf("jobs not done after %v (%d of %d results)\n%s", timeout, len(results), len(jobs), lastChars(stderr.String(), 2000))
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	return results
}

func lastChars(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// placementRE matches onnxruntime's node placement summary (verbose log of
// the session's graph partitioning): "Node(s) placed on
// [WebGpuExecutionProvider]. Number of nodes: 612" and "All nodes placed on
// [...]. Number of nodes: N".
var placementRE = regexp.MustCompile(`(?:All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)`)

// placement sums the nodes per execution provider from the log.
func placement(log []string) map[string]int {
	p := map[string]int{}
	for _, line := range log {
		for _, m := range placementRE.FindAllStringSubmatch(line, -1) {
			n, _ := strconv.Atoi(m[2])
			p[m[1]] += n
		}
	}
	return p
}

func maxDiff(got, want []float64) float64 {
	d := 0.0
	for i := range want {
		if math.IsNaN(got[i]) != math.IsNaN(want[i]) {
			return math.Inf(1)
		}
		d = max(d, math.Abs(got[i]-want[i]))
	}
	return d
}

// TestWebGPUInBrowser runs every testdata model, compiled for the onnx, ort
// and webgpu targets (full-sequence and KV-cache graphs), in onnxruntime-web
// 1.30 inside headless Chromium, on the native WebGPU execution provider
// (SwiftShader's software adapter) and on WASM: every session must load and
// run (no abort), its outputs must be within 1e-4 of mhcc's Go runtime, and
// onnxruntime's verbose node placement log must show every node of a webgpu
// target graph on the WebGPU provider (no CPU fallback). MHCC_WEBGPU_TABLE
// names a file to write the measurements to (bench/webgpu.md), with 5 timed
// runs per session; MHCC_WEBGPU_TARGETS replaces the targets (names or
// profile files, "name:fp16" for that precision); MHCC_WEBGPU_LOGS names a
// folder for onnxruntime's log of each session.
func TestWebGPUInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs Chromium")
	}
	chromium, ortDist, page := browserTools(t)
	dir := t.TempDir()
	targets := []string{"onnx", "ort", "webgpu", "webgpu:fp16"}
	if s := os.Getenv("MHCC_WEBGPU_TARGETS"); s != "" { // e.g. webgpu,webgpu:fp16
		targets = strings.Split(s, ",")
	}
	cases := webgpuCases(t, dir, targets)
	repeat := 0
	if os.Getenv("MHCC_WEBGPU_TABLE") != "" {
		repeat = 5
	}
	var jobs []*browserJob
	for _, c := range cases {
		for _, ep := range []string{"webgpu", "wasm"} {
			j := *c
			j.EP, j.ID, j.Repeat, j.TimeoutMs = ep, c.case_.name()+"@"+ep, repeat, 120000
			j.F16 = c.case_.Precision == "fp16"
			jobs = append(jobs, &j)
		}
	}
	results := runInBrowser(t, chromium, ortDist, page, dir, jobs, 8*time.Minute)
	var rows []tableRow
	for _, j := range jobs {
		r := results[j.ID]
		if r == nil {
			t.Errorf("%s: no result", j.ID)
			continue
		}
		if d := os.Getenv("MHCC_WEBGPU_LOGS"); d != "" {
			os.WriteFile(filepath.Join(d, j.ID+".log"), []byte(strings.Join(r.Log, "\n")), 0o644)
		}
		if r.Skipped != "" {
			// SwiftShader's adapter has no shader-f16: the fp16 graphs run
			// on WASM only there.
			t.Logf("%s: not run: %s", j.ID, r.Skipped)
			continue
		}
		if r.Error != "" {
			t.Errorf("%s: %s\n%s", j.ID, r.Error, lastChars(strings.Join(r.Log, "\n"), 3000))
			continue
		}
		worst := 0.0
		for name, want := range j.want {
			got, ok := r.Outputs[name]
			if !ok {
				t.Errorf("%s: no output %s", j.ID, name)
				continue
			}
			w := wantFloats(t, want)
			if len(got.Data) != len(w) {
				t.Errorf("%s: output %s has %d elements (dims %v), want %d (%v)", j.ID, name, len(got.Data), got.Dims, len(w), want.Shape)
				continue
			}
			worst = max(worst, maxDiff(got.Data, w))
		}
		tol := 1e-4
		if j.case_.Precision == "fp16" {
			tol = 1e-2 // the same fp16 graph: accumulation order and fp16 rounding differ
		}
		if worst > tol {
			t.Errorf("%s: outputs differ from mhcc run by %.3g (tolerance %g)", j.ID, worst, tol)
		}
		p := placement(r.Log)
		if j.EP == "webgpu" {
			if p["WebGpuExecutionProvider"] == 0 {
				t.Errorf("%s: no node placement on WebGpuExecutionProvider in onnxruntime's log (placements %v)", j.ID, p)
			}
			if j.case_.Target == "webgpu" && p["CPUExecutionProvider"] != 0 {
				t.Errorf("%s: %d nodes fall back to the CPU on the webgpu target", j.ID, p["CPUExecutionProvider"])
			}
		}
		rows = append(rows, tableRow{j.case_, j.EP, p, r.Dispatches, r.Ms, worst})
	}
	if path := os.Getenv("MHCC_WEBGPU_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(webgpuTable(rows)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type tableRow struct {
	c          webgpuCase
	ep         string
	placement  map[string]int
	dispatches int
	ms         float64
	diff       float64
}

// webgpuTable formats the WebGPU rows: per graph the ONNX nodes, the nodes
// onnxruntime placed on the CPU, the compute dispatches of one run and the
// median run time relative to the onnx target's graph of the same model.
func webgpuTable(rows []tableRow) string {
	base := map[string]float64{}
	for _, r := range rows {
		if r.ep == "webgpu" && r.c.Target == "onnx" {
			base[r.c.Model+"."+r.c.Kind] = r.ms
		}
	}
	sort.SliceStable(rows, func(a, b int) bool { return rows[a].c.name() < rows[b].c.name() })
	var b strings.Builder
	b.WriteString("| model | graph | target | ONNX nodes | on WebGPU | CPU fallbacks | dispatches | time vs onnx | max diff vs mhcc run |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if r.ep != "webgpu" {
			continue
		}
		rel := "–"
		if bt := base[r.c.Model+"."+r.c.Kind]; bt > 0 {
			rel = fmt.Sprintf("%.2f", r.ms/bt)
		}
		tg := r.c.Target
		if r.c.Precision != "" {
			tg += " " + r.c.Precision
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %d | %s | %.1e |\n", r.c.Model, r.c.Kind, tg, r.c.Nodes,
			r.placement["WebGpuExecutionProvider"], r.placement["CPUExecutionProvider"], r.dispatches, rel, r.diff)
	}
	return b.String()
}
