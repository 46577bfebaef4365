package main

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/atomicfile"
	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/internal/npy"
	"github.com/mhcc-dev/mhcc/model"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/runtime/feed"
	"github.com/spf13/cobra"
)

// runFlags are the options of `mhcc run`.
type runFlags struct {
	inputs  []string // name=file.npy
	dims    []string // name=N
	outputs []string // extra values to write
	seed    uint64
	outDir  string
	profile int // extra runs to profile
	limits  runtimeLimits
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run model.onnx [--input name=file.npy]... [--dim name=N]... [--output name]...",
		Short: "Run an ONNX model with mhcc's Go runtime and write its outputs as .npy files",
		Long: `Run loads an ONNX model into mhcc's pure-Go runtime, runs it once, and
writes each graph output as a NumPy file <out-dir>/<name>.npy. In the file
name, characters other than ASCII letters, digits, '.', '_' and '-' become
'_' ("layers.0/Add" → layers.0_Add.npy); the summary shows each file.

Each input comes from a .npy file (--input name=file.npy; with a one-input
model the name may be left out) whose dtype must be the model's and whose
shape must fit the declared one, or is generated from --seed:
  floats          N(0, 1)
  integer inputs  uniform in [0, rows) when they index an embedding table
                  (a Gather on an initializer), else in [0, 100)
  *mask* inputs   all ones (true)
  other bools     random
The same seed gives the same inputs. A symbolic dim (batch, sequence …)
takes its value from --dim, else from an input file that has it, else 1
(the summary notes each default).

--output asks for more values by name, written alongside the graph outputs:
intermediate values (such as the mHC mixing matrix "layers.0.attn.comb"),
initializers, or a generated input, to reuse it with another runtime.

The summary on stdout gives, for every input and output, its dtype and
shape, min, max, mean and std, whether it has NaN or Inf, and the wall time
of the run. Output files are written only when the whole run succeeds,
each atomically. --profile N runs the model N more times on the same inputs
and prints where the time went, per operator (calls, milliseconds per run,
share, microseconds per call), as onnxruntime's profiler would sum it up.
NumPy has no bfloat16: bfloat16 outputs are written as
float32, and a bfloat16 input is read from a float32 file and rounded.`,
		Example: `  mhcc compile testdata/models/tiny-mhc.yaml -o tiny-mhc.onnx
  mhcc run tiny-mhc.onnx --dim batch=2 --dim sequence=7 --out-dir out/
  mhcc run tiny-mhc.onnx --input input_ids=ids.npy --output layers.0.attn.comb
  mhcc run mlp-mhc.onnx --dim batch=4 --seed 7 --output x   # also save the generated x
  mhcc run tiny-mhc.onnx --dim sequence=128 --profile 20      # time per operator`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runModel(cmd.OutOrStdout(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.inputs, "input", "i", nil, "read input `name=file.npy` (repeatable); other inputs are generated from --seed")
	fl.StringSliceVar(&f.dims, "dim", nil, "set a symbolic dim, `name=N` (repeatable or comma-separated); unset dims are 1")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the generated inputs")
	fl.StringVar(&f.outDir, "out-dir", ".", "folder for the .npy files (created if missing)")
	fl.IntVar(&f.profile, "profile", 0, "run `N` more times and print the time per operator")
	fl.StringArrayVar(&f.outputs, "output", nil, "also write this value, an intermediate, initializer or input, by `name` (repeatable)")
	addLimitFlags(fl, &f.limits)
	return cmd
}

// runModel is `mhcc run`: everything is checked before the model runs, and
// nothing is written unless it runs.
func runModel(stdout io.Writer, path string, f runFlags) error {
	if f.profile < 0 {
		return fmt.Errorf("--profile %d: want a number of runs, 0 or more", f.profile)
	}
	if err := f.limits.apply(); err != nil {
		return err
	}
	start := time.Now()
	data, err := inputfile.ReadFile(path, inputfile.MaxModelBytes, "an ONNX model file")
	if err != nil {
		return err // names the file
	}
	// The session reads the graph's declarations (inputs, initializer names
	// and dims, Gathers); parsed first and without the initializers' data,
	// so the weights are not held once more next to the decoded model.
	var mp onnxpb.ModelProto
	perr := proto.Unmarshal(data, &mp)
	for _, t := range mp.GetGraph().GetInitializer() {
		t.RawData, t.FloatData, t.DoubleData, t.Int32Data, t.Int64Data, t.Uint64Data, t.StringData = nil, nil, nil, nil, nil, nil, nil
	}
	if g := mp.GetGraph(); g != nil {
		// Nor the nodes the feed never reads: the decoded model has them.
		g.Node = slices.Clip(slices.DeleteFunc(g.Node, func(n *onnxpb.NodeProto) bool { return !feed.EmbeddingNode(n) }))
		if cap(g.Node) > 2*len(g.Node)+16 {
			g.Node = slices.Clone(g.Node)
		}
	}
	if len(data) >= mhrt.BigModelBytes {
		goruntime.GC() // the stripped data, before decoding makes a copy of the weights
	}
	m, err := mhrt.DecodeDir(data, filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if perr != nil { // cannot fail after Decode
		return fmt.Errorf("%s: %w", path, perr)
	}
	data = nil
	if len(m.Nodes()) >= mhrt.ManyNodes {
		// A run allocates each step's outputs anew: on a graph this large
		// that is hundreds of MB of garbage next to the plan, which the
		// default 100% growth between collections would let pile up.
		defer debug.SetGCPercent(debug.SetGCPercent(25))
	}
	s := &runSession{
		path:    path,
		model:   m,
		graph:   mp.GetGraph(),
		feed:    feed.New(mp.GetGraph(), f.seed),
		inFiles: map[string]string{},
	}
	loadTime := time.Since(start)

	if err := s.parseDims(f.dims); err != nil {
		return err
	}
	files, err := s.parseInputs(f.inputs)
	if err != nil {
		return err
	}
	for _, v := range m.Inputs { // files first: they fix dims for the generated inputs
		if p, ok := files[v.Name]; ok {
			if err := s.readInput(v, p); err != nil {
				return err
			}
		}
	}
	for _, v := range m.Inputs {
		if _, ok := files[v.Name]; !ok {
			if err := s.generateInput(v); err != nil {
				return err
			}
		}
	}
	want, err := s.wantedOutputs(f.outputs)
	if err != nil {
		return err
	}
	outFiles, err := s.outputFiles(f.outDir, want)
	if err != nil {
		return err
	}

	t0 := time.Now()
	res, err := m.RunWith(s.feed.Inputs, mhrt.RunOptions{Outputs: want})
	elapsed := time.Since(t0)
	if err != nil {
		err = fmt.Errorf("%s: %w", path, err)
		if strings.Contains(err.Error(), "internal error") { // a runtime bug, not the input's fault
			return &compile.InternalError{Err: err}
		}
		return err
	}
	arrays := make([]*npy.Array, len(want))
	for i, name := range want {
		t := res[name]
		if t.DType == mhrt.BFloat16 {
			arrays[i] = &npy.Array{DType: "float32", Shape: t.Shape, Data: t.Float32s()}
			s.notef("%s is bfloat16, written as float32 (npy has no bfloat16; the widening is exact)", name)
		} else {
			arrays[i] = &npy.Array{DType: t.DType.String(), Shape: t.Shape, Data: t.Data()}
		}
		if w := s.feed.CheckOutput(name, t.Shape); w != "" {
			s.notef("warning: %s", w)
		}
	}
	if err := runWriteAll(f.outDir, outFiles, arrays); err != nil {
		return err
	}
	if err := s.summary(stdout, want, res, outFiles, loadTime, elapsed); err != nil || f.profile <= 0 {
		return err
	}
	prof := &mhrt.Profile{}
	t1 := time.Now()
	for range f.profile {
		if _, err := m.RunWith(s.feed.Inputs, mhrt.RunOptions{Outputs: want, Profile: prof}); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	fmt.Fprintf(stdout, "\nprofile: %d runs, %.3f ms per run (wall)\n", f.profile, time.Since(t1).Seconds()*1e3/float64(f.profile))
	return prof.Write(stdout)
}

// A runSession holds what one run decided about the model's inputs (in
// feed) and what the summary says.
type runSession struct {
	path  string
	model *mhrt.Model
	graph *onnxpb.GraphProto
	feed  *feed.Feed

	inFiles   map[string]string // input → .npy file
	notes     []string
	feedNotes int // feed.Notes already turned into notes
}

func (s *runSession) notef(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

func (s *runSession) parseDims(flags []string) error {
	for _, f := range flags {
		name, val, ok := strings.Cut(f, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return fmt.Errorf("--dim %q: want name=N, such as batch=2", f)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("--dim %s: %q is not a positive integer", name, val)
		}
		if b := s.feed.Dim(name); b != nil && b.Value != n {
			return fmt.Errorf("--dim %s given twice, as %d and %d", name, b.Value, n)
		}
		if !slices.Contains(s.feed.DimNames(), name) {
			// Not an error, so that one command line serves several models;
			// a typo still shows, here and as a default in the dims line.
			if len(s.feed.DimNames()) == 0 {
				s.notef("warning: --dim %s ignored: the model's inputs have no symbolic dims", name)
			} else {
				s.notef("warning: --dim %s ignored: the model's inputs have no dim named %q (they have %s)", name, name, strings.Join(s.feed.DimNames(), ", "))
			}
			continue
		}
		if _, err := s.feed.Bind(name, n, "--dim"); err != nil {
			return err // cannot happen: checked above
		}
	}
	return nil
}

// parseInputs maps input names to files; "file.npy" alone names the only input.
func (s *runSession) parseInputs(flags []string) (map[string]string, error) {
	names := make([]string, len(s.model.Inputs))
	for i, v := range s.model.Inputs {
		names[i] = v.Name
	}
	files := map[string]string{}
	for _, f := range flags {
		name, file, ok := strings.Cut(f, "=")
		if !ok {
			if len(names) != 1 {
				return nil, fmt.Errorf("--input %q: want name=file.npy; the model's inputs are %s", f, strings.Join(names, ", "))
			}
			name, file = names[0], f
		}
		if !slices.Contains(names, name) {
			if len(names) == 0 {
				return nil, fmt.Errorf("--input %s: the model has no inputs", name)
			}
			return nil, fmt.Errorf("--input %s: the model has no input %q; its inputs are %s", name, name, strings.Join(names, ", "))
		}
		if file == "" {
			return nil, fmt.Errorf("--input %s: no file given", name)
		}
		if prev, dup := files[name]; dup {
			return nil, fmt.Errorf("--input %s given twice (%s and %s)", name, prev, file)
		}
		files[name] = file
	}
	return files, nil
}

// runDTypes maps npy's dtype names to the runtime's (they share numpy's names).
var runDTypes = func() map[string]mhrt.DType {
	m := map[string]mhrt.DType{}
	for _, dt := range []mhrt.DType{mhrt.Float32, mhrt.Float64, mhrt.Float16, mhrt.Int64, mhrt.Int32, mhrt.Int16,
		mhrt.Int8, mhrt.Uint8, mhrt.Uint16, mhrt.Uint32, mhrt.Uint64, mhrt.Bool} {
		m[dt.String()] = dt
	}
	return m
}()

// readInput reads input v from file and checks it against the declaration.
func (s *runSession) readInput(v mhrt.ValueInfo, file string) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("input %q (%s): %s", v.Name, file, fmt.Sprintf(format, args...))
	}
	a, err := npy.Read(file)
	if err != nil {
		return fmt.Errorf("input %q: %w", v.Name, err) // names the file
	}
	dt, ok := runDTypes[a.DType]
	if !ok {
		return fail("dtype %s is not supported by the runtime", a.DType)
	}
	var t *mhrt.Tensor
	switch {
	case v.DType == mhrt.BFloat16 && dt == mhrt.Float32:
		t = mhrt.NewBFloat16(a.Shape, a.Data.([]float32))
		s.notef("%s is bfloat16: read float32 from %s and rounded to nearest even", v.Name, file)
	case v.DType == mhrt.BFloat16:
		return fail("holds %s, the model wants bfloat16; npy has no bfloat16, so give float32 values (they are rounded)", a.DType)
	case v.DType != mhrt.Undefined && dt != v.DType:
		return fail("holds %s, the model wants %s (convert with numpy: a.astype(numpy.%s))", a.DType, v.DType, v.DType)
	default:
		if t, err = mhrt.New(dt, a.Shape, a.Data); err != nil {
			return fail("%v", err)
		}
	}
	if err := s.feed.Set(v, t, file); err != nil {
		return fail("%v", err)
	}
	s.inFiles[v.Name] = file
	return nil
}

// generateInput makes input v from the seed (feed.Generate), and notes the
// dims it chose.
func (s *runSession) generateInput(v mhrt.ValueInfo) error {
	_, err := s.feed.Generate(v)
	for _, n := range s.feed.Notes[s.feedNotes:] {
		switch n.Kind {
		case feed.DefaultDim:
			s.notef("%s (set it with --dim %s=N)", n, n.Dim)
		case feed.UnnamedDim:
			s.notef("%s (give the input as a file to choose)", n)
		}
	}
	s.feedNotes = len(s.feed.Notes)
	var ge *feed.GenerateError
	if !errors.As(err, &ge) {
		return err
	}
	switch ge.Reason {
	case feed.TooLarge:
		return fmt.Errorf("%w; lower the --dim values", err)
	case feed.OverBudget:
		return fmt.Errorf("%w; lower the --dim values or raise --max-memory", err)
	}
	return fmt.Errorf("%w; give it with --input %s=file.npy", err, v.Name)
}

// wantedOutputs is the graph outputs, then the --output values not among them.
func (s *runSession) wantedOutputs(extra []string) ([]string, error) {
	var want []string
	for _, v := range s.model.Outputs {
		if !slices.Contains(want, v.Name) {
			want = append(want, v.Name)
		}
	}
	if len(extra) == 0 {
		return want, nil
	}
	defined := map[string]bool{}
	var all []string
	add := func(name string) {
		if name != "" && !defined[name] {
			defined[name] = true
			all = append(all, name)
		}
	}
	for _, v := range s.model.Inputs {
		add(v.Name)
	}
	for _, t := range s.graph.GetInitializer() {
		add(t.GetName())
	}
	for _, n := range s.model.Nodes() {
		for _, o := range n.Outputs {
			add(o)
		}
	}
	for _, name := range extra {
		if !defined[name] {
			return nil, fmt.Errorf("--output %s: the model has no value named %q%s", name, name, runSuggest(name, all))
		}
		if !slices.Contains(want, name) {
			want = append(want, name)
		}
	}
	return want, nil
}

// runSuggest lists up to 8 value names containing name, or else the nearest
// spelling (model.Nearest, as the model-file errors use), for an error message.
func runSuggest(name string, all []string) string {
	q := strings.ToLower(name)
	var hits []string
	for _, a := range all {
		if strings.Contains(strings.ToLower(a), q) {
			hits = append(hits, a)
		}
	}
	slices.SortStableFunc(hits, func(a, b string) int { return len(a) - len(b) }) // closest first
	if len(hits) == 0 {
		if near := model.Nearest(name, all); near != "" { // the model file's spelling suggestion
			return fmt.Sprintf("; did you mean %q?", near)
		}
		return " (values are graph inputs, initializers and node outputs; see `mhcc ir` for names)"
	}
	more := ""
	if len(hits) > 8 {
		more = fmt.Sprintf(" and %d more", len(hits)-8)
		hits = hits[:8]
	}
	return "; values with that in their name: " + strings.Join(hits, ", ") + more
}

// outputFiles names a file in dir for each value, distinct even on
// case-insensitive file systems, and refuses to overwrite an input file.
func (s *runSession) outputFiles(dir string, want []string) ([]string, error) {
	taken := map[string]bool{}
	files := make([]string, len(want))
	for i, name := range want {
		base := runFileName(name)
		if taken[strings.ToLower(base)] {
			h := fnv.New32a()
			h.Write([]byte(name))
			base = fmt.Sprintf("%s~%08x", base, h.Sum32())
		}
		taken[strings.ToLower(base)] = true
		files[i] = filepath.Join(dir, base+".npy")
		out, err := os.Stat(files[i])
		if err != nil {
			continue
		}
		if out.IsDir() {
			return nil, fmt.Errorf("output %q: %s is a folder", name, files[i])
		}
		for in, file := range s.inFiles {
			if fi, err := os.Stat(file); err == nil && os.SameFile(fi, out) {
				return nil, fmt.Errorf("output %q would overwrite %s, the file of input %q; choose another --out-dir", name, file, in)
			}
		}
	}
	return files, nil
}

// runFileName makes a value name safe as a file name: ASCII letters, digits,
// '.', '_' and '-' are kept, anything else becomes '_'; a leading '.' or '-'
// gets a '_' before it, and long names are cut to 200 bytes.
func runFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 0x80 && (r == '.' || r == '_' || r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || s[0] == '.' || s[0] == '-' {
		s = "_" + s
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// runWriteAll writes the arrays to files, all at once (atomicfile.WriteAll):
// a failure leaves no output file, and no folder if it made one.
func runWriteAll(dir string, files []string, arrays []*npy.Array) error {
	made := ""
	if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		made = dir
	}
	err := atomicfile.WriteAll(files, func(i int, w io.Writer) error { return npy.Encode(w, arrays[i]) })
	if err != nil && made != "" {
		os.Remove(made) // only if still empty
	}
	return err
}

// summary prints the inputs, outputs, notes and timing.
func (s *runSession) summary(w io.Writer, want []string, res map[string]*mhrt.Tensor, files []string, load, run time.Duration) error {
	m := s.model
	fmt.Fprintf(w, "model %s: %s, %s, %d nodes (opset %d)\n", s.path,
		runPlural(len(m.Inputs), "input"), runPlural(len(m.Outputs), "output"), len(m.Nodes()), m.Opsets[""])
	var dims []string
	for _, name := range s.feed.DimNames() {
		if b := s.feed.Dim(name); b != nil {
			dims = append(dims, fmt.Sprintf("%s=%d (%s)", name, b.Value, b.Source))
		}
	}
	if len(dims) > 0 {
		fmt.Fprintf(w, "dims  %s\n", strings.Join(dims, ", "))
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	if len(m.Inputs) > 0 {
		fmt.Fprintln(tw, "inputs:\t\t\t\t")
		for _, v := range m.Inputs {
			t := s.feed.Inputs[v.Name]
			fmt.Fprintf(tw, "  %s\t%v\t%v\t%s\t%s\n", v.Name, t.DType, runShape(t.Shape), runStats(t), s.feed.Sources[v.Name])
		}
	}
	fmt.Fprintln(tw, "outputs:\t\t\t\t")
	for i, name := range want {
		t := res[name]
		fmt.Fprintf(tw, "  %s\t%v\t%v\t%s\t→ %s\n", name, t.DType, runShape(t.Shape), runStats(t), files[i])
	}
	tw.Flush()
	for line := range strings.Lines(table.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
	if len(s.notes) > 0 {
		fmt.Fprintln(w, "notes:")
		for _, n := range s.notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	_, err := fmt.Fprintf(w, "ran in %v (loaded in %v)\n", run.Round(10*time.Microsecond), load.Round(10*time.Microsecond))
	return err
}

func runPlural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func runShape(s []int64) string { return "[" + strings.Trim(fmt.Sprint(s), "[]") + "]" }

// runStats summarises a tensor's values: min, max, mean, std (over the
// finite values) and NaN/Inf counts for floats; min and max for integers;
// the count of true for bools. It reads the storage in place: an output
// may be most of the memory budget, and a float64 copy of it would be twice
// that.
func runStats(t *mhrt.Tensor) string {
	if t.Len() == 0 {
		return "empty"
	}
	switch d := t.Data().(type) {
	case []bool:
		n := 0
		for _, b := range d {
			if b {
				n++
			}
		}
		return fmt.Sprintf("%d of %d true", n, t.Len())
	case []uint64:
		return fmt.Sprintf("min %d  max %d", slices.Min(d), slices.Max(d))
	case []int64:
		return fmt.Sprintf("min %d  max %d", slices.Min(d), slices.Max(d))
	case []int32:
		return fmt.Sprintf("min %d  max %d", slices.Min(d), slices.Max(d))
	case []int16:
		return fmt.Sprintf("min %d  max %d", slices.Min(d), slices.Max(d))
	case []int8:
		return fmt.Sprintf("min %d  max %d", slices.Min(d), slices.Max(d))
	case []uint32:
		return fmt.Sprintf("min %d  max %d", slices.Min(d), slices.Max(d))
	case []uint8:
		return fmt.Sprintf("min %d  max %d", slices.Min(d), slices.Max(d))
	case []float32:
		return floatStats(len(d), func(i int) float64 { return float64(d[i]) })
	case []float64:
		return floatStats(len(d), func(i int) float64 { return d[i] })
	case []uint16:
		switch t.DType {
		case mhrt.Float16:
			return floatStats(len(d), func(i int) float64 { return float64(half.Float16ToFloat32(d[i])) })
		case mhrt.BFloat16:
			return floatStats(len(d), func(i int) float64 { return float64(half.BFloat16ToFloat32(d[i])) })
		}
		return fmt.Sprintf("min %d  max %d", slices.Min(d), slices.Max(d))
	}
	return ""
}

// floatStats is runStats for n floating-point values read by at.
func floatStats(count int, at func(int) float64) string {
	var n, nan, inf int
	lo, hi := math.Inf(1), math.Inf(-1)
	var mean, m2 float64 // Welford
	for i := range count {
		x := at(i)
		switch {
		case math.IsNaN(x):
			nan++
			continue
		case math.IsInf(x, 0):
			inf++
			continue
		}
		n++
		lo, hi = min(lo, x), max(hi, x)
		d := x - mean
		mean += d / float64(n)
		m2 += d * (x - mean)
	}
	bad := "no NaN/Inf"
	if nan > 0 || inf > 0 {
		bad = fmt.Sprintf("HAS %d NaN, %d Inf", nan, inf)
	}
	if n == 0 {
		return bad
	}
	return fmt.Sprintf("min %.4g  max %.4g  mean %.4g  std %.4g  %s", lo, hi, mean, math.Sqrt(m2/float64(n)), bad)
}
