package main

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/export/onnxpb"
	"github.com/mhcc-dev/mhcc/internal/atomicfile"
	"github.com/mhcc-dev/mhcc/internal/half"
	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"github.com/mhcc-dev/mhcc/internal/npy"
	"github.com/mhcc-dev/mhcc/model"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
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
	s := &runSession{
		path:     path,
		model:    m,
		graph:    mp.GetGraph(),
		seed:     f.seed,
		decl:     map[string][]runDim{},
		dims:     map[string]*runBinding{},
		inputs:   map[string]*mhrt.Tensor{},
		inFiles:  map[string]string{},
		inSource: map[string]string{},
	}
	s.declare()
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
	res, err := m.RunWith(s.inputs, mhrt.RunOptions{Outputs: want})
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
		s.checkOutputShape(name, t.Shape)
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
		if _, err := m.RunWith(s.inputs, mhrt.RunOptions{Outputs: want, Profile: prof}); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	fmt.Fprintf(stdout, "\nprofile: %d runs, %.3f ms per run (wall)\n", f.profile, time.Since(t1).Seconds()*1e3/float64(f.profile))
	return prof.Write(stdout)
}

// A runSession holds what one run decided about the model's inputs.
type runSession struct {
	path  string
	model *mhrt.Model
	graph *onnxpb.GraphProto
	seed  uint64

	decl     map[string][]runDim    // declared dims of each graph input
	dimNames []string               // symbolic dims of the inputs, first appearance first
	dims     map[string]*runBinding // symbolic dim → value
	inputs   map[string]*mhrt.Tensor
	inFiles  map[string]string // input → .npy file
	inSource map[string]string // input → how it was made, for the summary
	notes    []string
}

// A runDim is one declared dim: a value, or a symbolic name, or neither.
type runDim struct {
	value int64 // -1 unless fixed
	param string
}

// A runBinding is the value of a symbolic dim and where it came from.
type runBinding struct {
	value  int64
	source string // "--dim", "from x.npy", "default"
}

func (s *runSession) notef(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// declare reads the inputs' declared dims, with names, from the file.
func (s *runSession) declare() {
	seen := map[string]bool{}
	for _, vi := range s.graph.GetInput() {
		shape := vi.GetType().GetTensorType().GetShape()
		var dims []runDim
		for _, d := range shape.GetDim() {
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && d.GetDimValue() >= 0 {
				dims = append(dims, runDim{value: d.GetDimValue()})
				continue
			}
			dims = append(dims, runDim{value: -1, param: d.GetDimParam()})
			if p := d.GetDimParam(); p != "" && !seen[p] {
				seen[p] = true
				s.dimNames = append(s.dimNames, p)
			}
		}
		s.decl[vi.GetName()] = dims
	}
}

// declString prints a declared shape: [batch 12], "?" for an unnamed dim.
func (s *runSession) declString(name string) string {
	parts := []string{}
	for _, d := range s.decl[name] {
		switch {
		case d.value >= 0:
			parts = append(parts, strconv.FormatInt(d.value, 10))
		case d.param != "":
			parts = append(parts, d.param)
		default:
			parts = append(parts, "?")
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
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
		if b, dup := s.dims[name]; dup && b.value != n {
			return fmt.Errorf("--dim %s given twice, as %d and %d", name, b.value, n)
		}
		if !slices.Contains(s.dimNames, name) {
			// Not an error, so that one command line serves several models;
			// a typo still shows, here and as a default in the dims line.
			if len(s.dimNames) == 0 {
				s.notef("warning: --dim %s ignored: the model's inputs have no symbolic dims", name)
			} else {
				s.notef("warning: --dim %s ignored: the model's inputs have no dim named %q (they have %s)", name, name, strings.Join(s.dimNames, ", "))
			}
			continue
		}
		s.dims[name] = &runBinding{value: n, source: "--dim"}
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
	if v.Ranked {
		decl := s.decl[v.Name]
		got := "[" + strings.Trim(fmt.Sprint(a.Shape), "[]") + "]"
		if len(a.Shape) != len(decl) {
			return fail("shape %s has rank %d, the model wants rank %d: %s", got, len(a.Shape), len(decl), s.declString(v.Name))
		}
		for i, d := range decl {
			n := a.Shape[i]
			switch {
			case d.value >= 0 && n != d.value:
				return fail("shape %s does not fit %s: dim %d is %d, want %d", got, s.declString(v.Name), i, n, d.value)
			case d.param != "":
				b := s.dims[d.param]
				if b == nil {
					s.dims[d.param] = &runBinding{value: n, source: "from " + file}
				} else if b.value != n {
					return fail("shape %s does not fit %s: %s is %d here but %d (%s)", got, s.declString(v.Name), d.param, n, b.value, b.source)
				}
			}
		}
	}
	s.inputs[v.Name] = t
	s.inFiles[v.Name] = file
	s.inSource[v.Name] = "from " + file
	return nil
}

// runMaxElements bounds a generated input, as the runtime bounds its tensors.
const runMaxElements = 1 << 30

// generateInput makes input v from the seed.
func (s *runSession) generateInput(v mhrt.ValueInfo) error {
	if !v.Ranked {
		return fmt.Errorf("input %q has no declared shape, so it cannot be generated; give it with --input %s=file.npy", v.Name, v.Name)
	}
	if v.DType == mhrt.Undefined {
		return fmt.Errorf("input %q has no declared element type, so it cannot be generated; give it with --input %s=file.npy", v.Name, v.Name)
	}
	shape := make([]int64, len(s.decl[v.Name]))
	n := int64(1)
	for i, d := range s.decl[v.Name] {
		switch {
		case d.value >= 0:
			shape[i] = d.value
		case d.param != "":
			b := s.dims[d.param]
			if b == nil {
				b = &runBinding{value: 1, source: "default"}
				s.dims[d.param] = b
				s.notef("%s not given: using %s=1 (set it with --dim %s=N)", d.param, d.param, d.param)
			}
			shape[i] = b.value
		default:
			shape[i] = 1
			s.notef("input %s: dim %d has neither a size nor a name: using 1 (give the input as a file to choose)", v.Name, i)
		}
	}
	for _, d := range shape {
		if d > 0 && n > runMaxElements/d {
			return fmt.Errorf("input %q: shape %v has more than %d elements; lower the --dim values", v.Name, shape, runMaxElements)
		}
		n *= d
	}
	// Generating holds the values as float64 or int64 next to the tensor.
	if need := n * int64(8+v.DType.Size()); need > mhrt.MaxBytes() {
		return fmt.Errorf("input %q: shape %v needs %s to generate, past the memory budget of %s; lower the --dim values or raise --max-memory",
			v.Name, shape, mhrt.FormatBytes(need), mhrt.FormatBytes(mhrt.MaxBytes()))
	}

	h := fnv.New64a()
	h.Write([]byte(v.Name))
	g := &runRand{src: rand.NewPCG(s.seed, h.Sum64())} // one stream per input: files for others do not shift it
	count := int(n)
	var t *mhrt.Tensor
	var err error
	mask := strings.Contains(strings.ToLower(v.Name), "mask")
	switch {
	case v.DType.IsFloat():
		if mask {
			t, err = runFromInt64s(v.DType, shape, slices.Repeat([]int64{1}, count))
			s.inSource[v.Name] = "all ones (a mask)"
			break
		}
		f := make([]float64, count)
		for i := range f {
			f[i] = g.normal()
		}
		t, err = runFromFloat64s(v.DType, shape, f)
		s.inSource[v.Name] = fmt.Sprintf("random N(0, 1), seed %d", s.seed)
	case v.DType == mhrt.Bool:
		b := make([]bool, count)
		for i := range b {
			b[i] = mask || g.src.Uint64()&1 == 1
		}
		t, err = mhrt.New(mhrt.Bool, shape, b)
		s.inSource[v.Name] = fmt.Sprintf("random true/false, seed %d", s.seed)
		if mask {
			s.inSource[v.Name] = "all true (a mask)"
		}
	case v.DType.IsInt():
		vals := make([]int64, count)
		if mask {
			for i := range vals {
				vals[i] = 1
			}
			s.inSource[v.Name] = "all ones (a mask)"
		} else {
			hi, from := s.indexRange(v.Name)
			if top := runIntMax(v.DType); hi-1 > top {
				hi = top + 1
			}
			for i := range vals {
				vals[i] = int64(g.intn(uint64(hi)))
			}
			if from != "" {
				s.inSource[v.Name] = fmt.Sprintf("random ids in [0, %d) (rows of %s), seed %d", hi, from, s.seed)
			} else {
				s.inSource[v.Name] = fmt.Sprintf("random in [0, %d), seed %d", hi, s.seed)
			}
		}
		t, err = runFromInt64s(v.DType, shape, vals)
	default:
		return fmt.Errorf("input %q: cannot generate %v values; give it with --input %s=file.npy", v.Name, v.DType, v.Name)
	}
	if err != nil {
		return fmt.Errorf("input %q: %w", v.Name, err)
	}
	s.inputs[v.Name] = t
	return nil
}

// indexRange finds the first Gather that takes input as its indices from a
// constant table (an initializer or Constant, possibly through Identity or
// Cast): ids are then in [0, rows of the table). Otherwise [0, 100).
func (s *runSession) indexRange(input string) (int64, string) {
	for _, n := range s.graph.GetNode() {
		if n.GetOpType() != "Gather" || (n.GetDomain() != "" && n.GetDomain() != "ai.onnx") ||
			len(n.GetInput()) < 2 || n.GetInput()[1] != input {
			continue
		}
		table := n.GetInput()[0]
		dims, ok := s.constDims(table)
		if !ok {
			continue
		}
		axis := int64(0)
		for _, a := range n.GetAttribute() {
			if a.GetName() == "axis" {
				axis = a.GetI()
			}
		}
		if axis < 0 {
			axis += int64(len(dims))
		}
		if axis >= 0 && axis < int64(len(dims)) && dims[axis] > 0 {
			return dims[axis], table
		}
	}
	return 100, ""
}

// constDims returns the dims of a constant value.
func (s *runSession) constDims(name string) ([]int64, bool) {
	for range 8 { // follow at most a few Identity or Cast nodes
		for _, t := range s.graph.GetInitializer() {
			if t.GetName() == name {
				return t.GetDims(), true
			}
		}
		var next string
		for _, n := range s.graph.GetNode() {
			if !slices.Contains(n.GetOutput(), name) {
				continue
			}
			switch n.GetOpType() {
			case "Constant":
				for _, a := range n.GetAttribute() {
					if a.GetName() == "value" && a.GetT() != nil {
						return a.GetT().GetDims(), true
					}
				}
			case "Identity", "Cast":
				if len(n.GetInput()) > 0 {
					next = n.GetInput()[0]
				}
			}
		}
		if next == "" {
			return nil, false
		}
		name = next
	}
	return nil, false
}

// runIntMax is the largest value of an integer type, capped at MaxInt64.
func runIntMax(dt mhrt.DType) int64 {
	switch dt {
	case mhrt.Int8:
		return math.MaxInt8
	case mhrt.Uint8:
		return math.MaxUint8
	case mhrt.Int16:
		return math.MaxInt16
	case mhrt.Uint16:
		return math.MaxUint16
	case mhrt.Int32:
		return math.MaxInt32
	case mhrt.Uint32:
		return math.MaxUint32
	}
	return math.MaxInt64
}

// runFromFloat64s makes a float tensor of type dt.
func runFromFloat64s(dt mhrt.DType, shape []int64, v []float64) (*mhrt.Tensor, error) {
	if dt == mhrt.Float64 {
		return mhrt.New(dt, shape, v)
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	switch dt {
	case mhrt.Float16:
		return mhrt.NewFloat16(shape, f), nil
	case mhrt.BFloat16:
		return mhrt.NewBFloat16(shape, f), nil
	}
	return mhrt.New(dt, shape, f)
}

// runFromInt64s makes a tensor of numeric type dt from values that fit it.
func runFromInt64s(dt mhrt.DType, shape []int64, v []int64) (*mhrt.Tensor, error) {
	var data any
	switch dt {
	case mhrt.Int64:
		data = v
	case mhrt.Int32:
		data = runConvert[int32](v)
	case mhrt.Int16:
		data = runConvert[int16](v)
	case mhrt.Int8:
		data = runConvert[int8](v)
	case mhrt.Uint64:
		data = runConvert[uint64](v)
	case mhrt.Uint32:
		data = runConvert[uint32](v)
	case mhrt.Uint16:
		data = runConvert[uint16](v)
	case mhrt.Uint8:
		data = runConvert[uint8](v)
	default:
		if !dt.IsFloat() {
			return nil, fmt.Errorf("cannot make %v values", dt)
		}
		f := make([]float64, len(v))
		for i, x := range v {
			f[i] = float64(x)
		}
		return runFromFloat64s(dt, shape, f)
	}
	return mhrt.New(dt, shape, data)
}

func runConvert[T int8 | int16 | int32 | uint8 | uint16 | uint32 | uint64](v []int64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// runRand draws the generated inputs. It uses only the PCG source's raw
// bits, so that the same seed gives the same inputs with every Go release.
type runRand struct {
	src   *rand.PCG
	spare float64
	has   bool
}

// normal draws from N(0, 1) by the Box-Muller transform.
func (r *runRand) normal() float64 {
	if r.has {
		r.has = false
		return r.spare
	}
	u1 := (float64(r.src.Uint64()>>11) + 1) / (1 << 53) // (0, 1]
	u2 := float64(r.src.Uint64()>>11) / (1 << 53)       // [0, 1)
	rad := math.Sqrt(-2 * math.Log(u1))
	sin, cos := math.Sincos(2 * math.Pi * u2)
	r.spare, r.has = rad*sin, true
	return rad * cos
}

// intn draws uniformly from [0, n), n > 0, without modulo bias (Lemire).
func (r *runRand) intn(n uint64) uint64 {
	hi, lo := bits.Mul64(r.src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.src.Uint64(), n)
		}
	}
	return hi
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

// runWriteAll writes every array to a temporary file in dir, then renames
// them all into place (atomicfile.CommitAll: a signal does not stop mhcc
// between two renames, and its handler removes the temporaries): a failure
// leaves no output file, and no folder if it made one.
func runWriteAll(dir string, files []string, arrays []*npy.Array) (err error) {
	made := ""
	if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		made = dir
	}
	pending := make([]*atomicfile.Pending, 0, len(files))
	defer func() {
		for _, p := range pending {
			p.Abort() // nothing once committed
		}
		if err != nil && made != "" {
			os.Remove(made) // only if still empty
		}
	}()
	for i, file := range files {
		p, err := atomicfile.Create(file)
		if err != nil {
			return fmt.Errorf("writing %s: %w", file, err)
		}
		pending = append(pending, p)
		err = npy.Encode(p.W, arrays[i])
		if cerr := p.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", file, err)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	return atomicfile.CommitAll(pending...)
}

// checkOutputShape notes a graph output whose shape contradicts its
// declaration (a fixed dim, or a symbolic dim bound by the inputs).
func (s *runSession) checkOutputShape(name string, shape []int64) {
	for _, vi := range s.graph.GetOutput() {
		if vi.GetName() != name || vi.GetType().GetTensorType().GetShape() == nil {
			continue
		}
		dims := vi.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) != len(shape) {
			s.notef("warning: output %s has shape %v, the model declares rank %d", name, shape, len(dims))
			return
		}
		for i, d := range dims {
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && d.GetDimValue() >= 0 && d.GetDimValue() != shape[i] {
				s.notef("warning: output %s has shape %v, the model declares dim %d = %d", name, shape, i, d.GetDimValue())
				return
			}
			if b := s.dims[d.GetDimParam()]; d.GetDimParam() != "" && b != nil && b.value != shape[i] {
				s.notef("warning: output %s has shape %v, the model declares dim %d = %s = %d", name, shape, i, d.GetDimParam(), b.value)
				return
			}
		}
	}
}

// summary prints the inputs, outputs, notes and timing.
func (s *runSession) summary(w io.Writer, want []string, res map[string]*mhrt.Tensor, files []string, load, run time.Duration) error {
	m := s.model
	fmt.Fprintf(w, "model %s: %s, %s, %d nodes (opset %d)\n", s.path,
		runPlural(len(m.Inputs), "input"), runPlural(len(m.Outputs), "output"), len(m.Nodes()), m.Opsets[""])
	var dims []string
	for _, name := range s.dimNames {
		if b := s.dims[name]; b != nil {
			dims = append(dims, fmt.Sprintf("%s=%d (%s)", name, b.value, b.source))
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
			t := s.inputs[v.Name]
			fmt.Fprintf(tw, "  %s\t%v\t%v\t%s\t%s\n", v.Name, t.DType, runShape(t.Shape), runStats(t), s.inSource[v.Name])
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
