package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/npy"
	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// runCLI runs `mhcc args...` and returns the exit status and both outputs.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// runCompiled compiles testdata/models/<name>.yaml into dir and returns the
// .onnx path.
func runCompiled(t *testing.T, dir, name string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	res, err := compile.Compile(filepath.Join(root, "testdata", "models", name+".yaml"), compile.Options{})
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".onnx")
	if err := os.WriteFile(path, res.ONNX, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runModels are the two compiled test models, their input, their output's
// shape for batch 3 and sequence 5, and their number of streams.
var runModels = []struct {
	name, input, output string
	shape               []int64
}{
	{"mlp-mhc", "x", "y", []int64{3, 5}},
	{"tiny-mhc", "input_ids", "logits", []int64{3, 5, 97}},
}

// readNPY reads a .npy file the test expects to exist.
func readNPY(t *testing.T, path string) *npy.Array {
	t.Helper()
	a, err := npy.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// noFiles checks that dir does not exist or is empty.
func noFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err == nil && len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v, want nothing", dir, names)
	}
}

func TestRunRandomInputs(t *testing.T) {
	dir := t.TempDir()
	for _, m := range runModels {
		t.Run(m.name, func(t *testing.T) {
			model := runCompiled(t, dir, m.name)
			out := filepath.Join(dir, m.name+"-out")
			code, stdout, stderr := runCLI(t, "run", model, "--dim", "batch=3", "--dim", "sequence=5", "--out-dir", out)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			a := readNPY(t, filepath.Join(out, m.output+".npy"))
			if a.DType != "float32" || !slices.Equal(a.Shape, m.shape) {
				t.Errorf("%s.npy is %s %v, want float32 %v", m.output, a.DType, a.Shape, m.shape)
			}
			for _, v := range a.Data.([]float32) {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s has %v", m.output, v)
				}
			}
			for _, want := range []string{"batch=3 (--dim)", m.input, m.output, "float32", runShape(m.shape), "no NaN/Inf", "mean", "std", "ran in", "→ " + filepath.Join(out, m.output+".npy")} {
				if !strings.Contains(stdout, want) {
					t.Errorf("summary lacks %q:\n%s", want, stdout)
				}
			}
			switch m.name {
			case "mlp-mhc": // no sequence dim: the flag is ignored, visibly
				if !strings.Contains(stdout, `warning: --dim sequence ignored: the model's inputs have no dim named "sequence" (they have batch)`) {
					t.Errorf("no warning about --dim sequence:\n%s", stdout)
				}
				if !strings.Contains(stdout, "random N(0, 1), seed 1") {
					t.Errorf("summary does not say how x was made:\n%s", stdout)
				}
			case "tiny-mhc": // ids index the 97-row embedding
				if !strings.Contains(stdout, "random ids in [0, 97) (rows of embed.weight), seed 1") {
					t.Errorf("summary does not give the id range:\n%s", stdout)
				}
			}

			// Same seed, same bytes; another seed, other bytes.
			again := filepath.Join(dir, m.name+"-again")
			other := filepath.Join(dir, m.name+"-other")
			runCLI(t, "run", model, "--dim", "batch=3,sequence=5", "--out-dir", again)
			runCLI(t, "run", model, "--dim", "batch=3,sequence=5", "--out-dir", other, "--seed", "2")
			first, _ := os.ReadFile(filepath.Join(out, m.output+".npy"))
			if b, _ := os.ReadFile(filepath.Join(again, m.output+".npy")); !bytes.Equal(first, b) {
				t.Error("the same seed gave different outputs")
			}
			if b, _ := os.ReadFile(filepath.Join(other, m.output+".npy")); len(b) != len(first) || bytes.Equal(first, b) {
				t.Error("another seed gave the same outputs")
			}
		})
	}
}

// Dims default to 1, with a note.
func TestRunDefaultDims(t *testing.T) {
	dir := t.TempDir()
	model := runCompiled(t, dir, "tiny-mhc")
	code, stdout, stderr := runCLI(t, "run", model, "--out-dir", dir, "--dim", "sequence=4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "batch=1 (default), sequence=4 (--dim)") || !strings.Contains(stdout, "batch not given: using batch=1 (set it with --dim batch=N)") {
		t.Errorf("summary does not note the default:\n%s", stdout)
	}
	if a := readNPY(t, filepath.Join(dir, "logits.npy")); !slices.Equal(a.Shape, []int64{1, 4, 97}) {
		t.Errorf("logits shape %v", a.Shape)
	}
}

// runInputFile writes the model's input for batch 3 (and sequence 5) with
// values that depend on k, and returns its path.
func runInputFile(t *testing.T, dir, model string, k int) string {
	t.Helper()
	var a *npy.Array
	switch model {
	case "mlp-mhc":
		x := make([]float32, 3*12)
		for i := range x {
			x[i] = float32(math.Sin(float64(i*(k+1)))) * 2
		}
		a = &npy.Array{DType: "float32", Shape: []int64{3, 12}, Data: x}
	case "tiny-mhc":
		ids := make([]int64, 3*5)
		for i := range ids {
			ids[i] = int64((i*31 + k*7) % 97)
		}
		a = &npy.Array{DType: "int64", Shape: []int64{3, 5}, Data: ids}
	}
	path := filepath.Join(dir, model+"-in.npy")
	if err := npy.Write(path, a); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunNPYInputs(t *testing.T) {
	dir := t.TempDir()
	for _, m := range runModels {
		t.Run(m.name, func(t *testing.T) {
			model := runCompiled(t, dir, m.name)
			in := runInputFile(t, dir, m.name, 0)
			var outs [][]byte
			for i, seed := range []string{"1", "1", "99"} { // the seed does not matter with every input given
				out := filepath.Join(dir, m.name+"-"+string(rune('a'+i)))
				code, stdout, stderr := runCLI(t, "run", model, "--input", m.input+"="+in, "--out-dir", out, "--seed", seed)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				if !strings.Contains(stdout, "from "+in) || !strings.Contains(stdout, "batch=3 (from "+in+")") {
					t.Errorf("summary does not name the input file:\n%s", stdout)
				}
				a := readNPY(t, filepath.Join(out, m.output+".npy"))
				if !slices.Equal(a.Shape, m.shape) {
					t.Errorf("output shape %v, want %v", a.Shape, m.shape)
				}
				b, _ := os.ReadFile(filepath.Join(out, m.output+".npy"))
				outs = append(outs, b)
			}
			if !bytes.Equal(outs[0], outs[1]) || !bytes.Equal(outs[0], outs[2]) {
				t.Error("the same inputs gave different output bytes")
			}
			// Other inputs, other outputs.
			in2 := runInputFile(t, t.TempDir(), m.name, 1)
			out := filepath.Join(dir, m.name+"-k1")
			if code, _, stderr := runCLI(t, "run", model, "-i", in2, "--out-dir", out); code != 0 { // one input: the name may be left out
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if b, _ := os.ReadFile(filepath.Join(out, m.output+".npy")); bytes.Equal(b, outs[0]) {
				t.Error("other inputs gave the same outputs")
			}
		})
	}
}

func TestRunBadInputFiles(t *testing.T) {
	dir := t.TempDir()
	mlp := runCompiled(t, dir, "mlp-mhc")
	tiny := runCompiled(t, dir, "tiny-mhc")
	write := func(name string, a *npy.Array) string {
		path := filepath.Join(dir, name)
		if err := npy.Write(path, a); err != nil {
			t.Fatal(err)
		}
		return path
	}
	narrow := write("narrow.npy", &npy.Array{DType: "float32", Shape: []int64{3, 11}, Data: make([]float32, 33)})
	rank1 := write("rank1.npy", &npy.Array{DType: "int64", Shape: []int64{5}, Data: make([]int64, 5)})
	f64 := write("f64.npy", &npy.Array{DType: "float64", Shape: []int64{3, 12}, Data: make([]float64, 36)})
	x3 := write("x3.npy", &npy.Array{DType: "float32", Shape: []int64{3, 12}, Data: make([]float32, 36)})
	garbage := filepath.Join(dir, "garbage.npy")
	os.WriteFile(garbage, []byte("\x93NUMPY\x01\x00\x11\x00{'descr': '<f4'}\n"), 0o644)

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"wrong dim", []string{mlp, "--input", "x=" + narrow}, []string{`input "x"`, narrow, "shape [3 11] does not fit [batch 12]: dim 1 is 11, want 12"}},
		{"wrong rank", []string{tiny, "--input", "input_ids=" + rank1}, []string{`input "input_ids"`, rank1, "shape [5] has rank 1, the model wants rank 2: [batch sequence]"}},
		{"wrong dtype", []string{mlp, "--input", "x=" + f64}, []string{`input "x"`, f64, "holds float64, the model wants float32", "astype(numpy.float32)"}},
		{"dim conflict", []string{mlp, "--input", "x=" + x3, "--dim", "batch=2"}, []string{`input "x"`, x3, "batch is 3 here but 2 (--dim)"}},
		{"corrupt file", []string{mlp, "--input", "x=" + garbage}, []string{`input "x"`, garbage, `key "fortran_order" is missing`}},
		{"missing file", []string{mlp, "--input", "x=" + filepath.Join(dir, "none.npy")}, []string{`input "x"`, "none.npy", "no such file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out")
			code, stdout, stderr := runCLI(t, append([]string{"run", "--out-dir", out}, c.args...)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr: %s", code, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			noFiles(t, out)
		})
	}
}

func TestRunIntermediate(t *testing.T) {
	dir := t.TempDir()
	for _, m := range runModels {
		t.Run(m.name, func(t *testing.T) {
			model := runCompiled(t, dir, m.name)
			rt, err := mhrt.Load(model)
			if err != nil {
				t.Fatal(err)
			}
			// The mixing matrix of the first sublayer (the last Sinkhorn
			// step's output), and one of the steps before it.
			var comb, step string
			for _, n := range rt.Nodes() {
				for _, o := range n.Outputs {
					if comb == "" && strings.HasSuffix(o, ".comb") {
						comb = o
					}
					if step == "" && strings.Contains(o, "comb/") {
						step = o
					}
				}
			}
			if comb == "" || step == "" {
				t.Fatalf("no comb values among the nodes' outputs (%q, %q)", comb, step)
			}
			out := filepath.Join(dir, m.name+"-out")
			code, stdout, stderr := runCLI(t, "run", model, "--dim", "batch=3", "--dim", "sequence=5",
				"--out-dir", out, "--output", comb, "--output", step, "--output", m.output)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, comb) || !strings.Contains(stdout, step) {
				t.Errorf("summary lacks the intermediates:\n%s", stdout)
			}
			// The graph output once, then the intermediates; "/" is not kept in file names.
			want := []string{m.output + ".npy", comb + ".npy", strings.ReplaceAll(step, "/", "_") + ".npy"}
			var got []string
			ents, _ := os.ReadDir(out)
			for _, e := range ents {
				got = append(got, e.Name())
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("files %v, want %v", got, want)
			}
			a := readNPY(t, filepath.Join(out, comb+".npy"))
			r := len(a.Shape)
			if r < 2 || a.Shape[0] != 3 || a.Shape[r-1] != 4 || a.Shape[r-2] != 4 {
				t.Fatalf("%s shape %v, want [3 … 4 4]", comb, a.Shape)
			}
			// Sinkhorn-Knopp makes it doubly stochastic: rows and columns sum to 1.
			v := a.Data.([]float32)
			for k := 0; k < len(v); k += 16 {
				for i := range 4 {
					var row, col float64
					for j := range 4 {
						row += float64(v[k+4*i+j])
						col += float64(v[k+4*j+i])
					}
					if math.Abs(row-1) > 1e-3 || math.Abs(col-1) > 1e-3 {
						t.Fatalf("%s matrix %d: row %d sums to %v, column to %v", comb, k/16, i, row, col)
					}
				}
			}
		})
	}
}

func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	mlp := runCompiled(t, dir, "mlp-mhc")
	yaml := filepath.Join(dir, "m.yaml")
	os.WriteFile(yaml, []byte(runNotONNX), 0o644)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown output", []string{mlp, "--output", "Comb"}, `--output Comb: the model has no value named "Comb"; values with that in their name: layers.0.mlp.comb,`},
		{"unknown output, no hint", []string{mlp, "--output", "zzz"}, `no value named "zzz" (values are graph inputs, initializers and node outputs`},
		{"unknown output, misspelt", []string{mlp, "--output", "layers.0.mlp.cmob"}, `no value named "layers.0.mlp.cmob"; did you mean "layers.0.mlp.comb"?`},
		{"unknown input", []string{mlp, "--input", "z=a.npy"}, `--input z: the model has no input "z"; its inputs are x`},
		{"no file", []string{mlp, "--input", "x="}, "--input x: no file given"},
		{"input twice", []string{mlp, "-i", "x=a.npy", "-i", "x=b.npy"}, "--input x given twice (a.npy and b.npy)"},
		{"bad dim", []string{mlp, "--dim", "batch"}, `--dim "batch": want name=N`},
		{"zero dim", []string{mlp, "--dim", "batch=0"}, `--dim batch: "0" is not a positive integer`},
		{"dim twice", []string{mlp, "--dim", "batch=2", "--dim", "batch=3"}, "--dim batch given twice, as 2 and 3"},
		{"huge dims", []string{mlp, "--dim", "batch=9223372036854775807"}, `input "x": shape [9223372036854775807 12] has more than 1073741824 elements`},
		{"no model", []string{filepath.Join(dir, "none.onnx")}, "none.onnx: no such file"},
		{"not ONNX", []string{yaml}, "m.yaml: runtime: decode model"},
		{"no args", nil, "accepts 1 arg(s), received 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out")
			code, _, stderr := runCLI(t, append([]string{"run", "--out-dir", out}, c.args...)...)
			want := 1 // a problem with the input; a usage error exits 2
			if c.name == "no args" {
				want = 2
			}
			if code != want || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, want, c.want)
			}
			noFiles(t, out)
		})
	}
}

const runNotONNX = "format: 1\nname: not-onnx\n"

// --output of an input must not replace the file it was read from.
func TestRunKeepsInputFile(t *testing.T) {
	dir := t.TempDir()
	mlp := runCompiled(t, dir, "mlp-mhc")
	in := filepath.Join(dir, "x.npy")
	npy.Write(in, &npy.Array{DType: "float32", Shape: []int64{1, 12}, Data: make([]float32, 12)})
	before, _ := os.ReadFile(in)
	code, _, stderr := runCLI(t, "run", mlp, "-i", "x="+in, "--out-dir", dir, "--output", "x")
	if code != 1 || !strings.Contains(stderr, `output "x" would overwrite `+in+`, the file of input "x"`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if after, _ := os.ReadFile(in); !bytes.Equal(before, after) {
		t.Error("input file changed")
	}
}

// runHandModel writes a small hand-made model that exercises what the
// compiled ones do not: several inputs sharing "batch", a mask, bfloat16 in
// and out, an index input into a 7-row table, and output names that need
// sanitising and collide once sanitised.
//
//	out/sum = a * float(attention_mask) + float(h)    [batch 3] float32
//	hb      = h                                       [batch 3] bfloat16
//	emb     = Gather(table[7 2], tok)                 [batch 2] float32
//	OUT_sum = a                                       [batch 3] float32
func runHandModel(t *testing.T, path string) {
	t.Helper()
	vi := onnxbuild.Info[onnxpb.TensorProto_DataType]
	node := func(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
	}
	toFloat := &onnxpb.AttributeProto{Name: proto.String("to"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(onnxpb.TensorProto_FLOAT))}
	f32, i64, bf16 := onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_INT64, onnxpb.TensorProto_BFLOAT16
	m := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("hand"),
			Node: []*onnxpb.NodeProto{
				node("Cast", []string{"attention_mask"}, []string{"m"}, toFloat),
				node("Mul", []string{"a", "m"}, []string{"am"}),
				node("Cast", []string{"h"}, []string{"hf"}, toFloat),
				node("Add", []string{"am", "hf"}, []string{"out/sum"}),
				node("Identity", []string{"h"}, []string{"hb"}),
				node("Gather", []string{"table", "tok"}, []string{"emb"}),
				node("Identity", []string{"a"}, []string{"OUT_sum"}),
			},
			Initializer: []*onnxpb.TensorProto{mhrt.NewFloat32([]int64{7, 2}, make([]float32, 14)).Proto("table")},
			Input: []*onnxpb.ValueInfoProto{
				vi("a", f32, "batch", 3), vi("attention_mask", i64, "batch", 3), vi("h", bf16, "batch", 3), vi("tok", i64, "batch"),
			},
			Output: []*onnxpb.ValueInfoProto{
				vi("out/sum", f32, "batch", 3), vi("hb", bf16, "batch", 3), vi("emb", f32, "batch", 2), vi("OUT_sum", f32, "batch", 3),
			},
		},
	}
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRunHandModel(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "hand.onnx")
	runHandModel(t, model)

	t.Run("generated", func(t *testing.T) {
		out := filepath.Join(dir, "gen")
		code, stdout, stderr := runCLI(t, "run", model, "--dim", "batch=4", "--out-dir", out,
			"--output", "a", "--output", "h", "--output", "attention_mask", "--output", "tok")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, w := range []string{"all ones (a mask)", "random ids in [0, 7) (rows of table)", "hb is bfloat16, written as float32",
			"→ " + filepath.Join(out, "out_sum.npy"), "→ " + filepath.Join(out, "OUT_sum~")} {
			if !strings.Contains(stdout, w) {
				t.Errorf("summary lacks %q:\n%s", w, stdout)
			}
		}
		mask := readNPY(t, filepath.Join(out, "attention_mask.npy")).Data.([]int64)
		if !slices.Equal(mask, []int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}) {
			t.Errorf("mask %v", mask)
		}
		for _, id := range readNPY(t, filepath.Join(out, "tok.npy")).Data.([]int64) {
			if id < 0 || id >= 7 {
				t.Errorf("id %d outside the table", id)
			}
		}
		a := readNPY(t, filepath.Join(out, "a.npy")).Data.([]float32)
		h := readNPY(t, filepath.Join(out, "h.npy"))
		hb := readNPY(t, filepath.Join(out, "hb.npy"))
		if h.DType != "float32" || hb.DType != "float32" || !slices.Equal(h.Data.([]float32), hb.Data.([]float32)) {
			t.Errorf("h %s, hb %s: want equal float32", h.DType, hb.DType)
		}
		sum := readNPY(t, filepath.Join(out, "out_sum.npy")).Data.([]float32)
		for i := range sum {
			hv := h.Data.([]float32)[i]
			if math.Float32bits(hv)&0xffff != 0 || sum[i] != a[i]+hv { // h holds bfloat16 values
				t.Fatalf("element %d: a %v, h %v, sum %v", i, a[i], hv, sum[i])
			}
		}
		ents, _ := os.ReadDir(out)
		if len(ents) != 8 { // 4 graph outputs, 4 inputs
			t.Errorf("%d files, want 8", len(ents))
		}
	})

	t.Run("files", func(t *testing.T) {
		aFile := filepath.Join(dir, "a.npy")
		hFile := filepath.Join(dir, "h.npy")
		npy.Write(aFile, &npy.Array{DType: "float32", Shape: []int64{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}})
		npy.Write(hFile, &npy.Array{DType: "float32", Shape: []int64{2, 3}, Data: []float32{1.00390625, 1.01171875, -3, 0, 0.5, 1e-3}})
		out := filepath.Join(dir, "files")
		code, stdout, stderr := runCLI(t, "run", model, "-i", "a="+aFile, "-i", "h="+hFile, "--out-dir", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "batch=2 (from "+aFile+")") || !strings.Contains(stdout, "h is bfloat16: read float32 from "+hFile+" and rounded to nearest even") {
			t.Errorf("summary:\n%s", stdout)
		}
		hb := readNPY(t, filepath.Join(out, "hb.npy")).Data.([]float32)
		want := []float32{1, 1.015625, -3, 0, 0.5, half.BFloat16ToFloat32(half.Float32ToBFloat16(1e-3))} // ties to even
		if !slices.Equal(hb, want) {
			t.Errorf("hb %v, want %v", hb, want)
		}
		if emb := readNPY(t, filepath.Join(out, "emb.npy")); !slices.Equal(emb.Shape, []int64{2, 2}) {
			t.Errorf("emb shape %v: the generated tok did not take batch from a.npy", emb.Shape)
		}

		npy.Write(hFile, &npy.Array{DType: "float16", Shape: []int64{2, 3}, Data: make([]uint16, 6)})
		code, _, stderr = runCLI(t, "run", model, "-i", "a="+aFile, "-i", "h="+hFile, "--out-dir", filepath.Join(dir, "bad"))
		if code != 1 || !strings.Contains(stderr, `input "h" (`+hFile+`): holds float16, the model wants bfloat16; npy has no bfloat16, so give float32 values`) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		code, _, stderr = runCLI(t, "run", model, "-i", "a=", "--out-dir", filepath.Join(dir, "bad"))
		if code != 1 || !strings.Contains(stderr, "--input a: no file given") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		code, _, stderr = runCLI(t, "run", model, "-i", aFile)
		if code != 1 || !strings.Contains(stderr, "want name=file.npy; the model's inputs are a, attention_mask, h, tok") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		noFiles(t, filepath.Join(dir, "bad"))
	})
}

func TestRunFileNames(t *testing.T) {
	for name, want := range map[string]string{
		"logits":                    "logits",
		"layers.0.attn.comb/Div_19": "layers.0.attn.comb_Div_19",
		"a b:c*d?<e>|f\\g\"h":       "a_b_c_d__e__f_g_h",
		"..":                        "_..",
		".hidden":                   "_.hidden",
		"-rf":                       "_-rf",
		"":                          "_",
		"héllo":                     "h_llo",
		strings.Repeat("x", 300):    strings.Repeat("x", 200),
	} {
		if got := runFileName(name); got != want {
			t.Errorf("runFileName(%q) = %q, want %q", name, got, want)
		}
	}
	s := &runSession{}
	files, err := s.outputFiles("d", []string{"a/b", "a_b", "A_B", "c"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if seen[strings.ToLower(f)] {
			t.Errorf("files %v collide", files)
		}
		seen[strings.ToLower(f)] = true
	}
	if files[0] != filepath.Join("d", "a_b.npy") || files[3] != filepath.Join("d", "c.npy") || !strings.HasPrefix(files[1], filepath.Join("d", "a_b~")) {
		t.Errorf("files %v", files)
	}
}

func TestRunHelp(t *testing.T) {
	code, stdout, _ := runCLI(t, "run", "--help")
	for _, w := range []string{"mhcc run model.onnx", "--input", "--dim", "--seed", "--out-dir", "--output", "Examples:", "N(0, 1)", "bfloat16"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("help lacks %q", w)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	if _, stdout, _ := runCLI(t, "--help"); !strings.Contains(stdout, "run ") {
		t.Error("mhcc --help does not list run")
	}
}

// --profile prints a per-operator table whose calls per run are the graph's
// node counts (the plan's, after its fusions), and refuses a negative count.
func TestRunProfile(t *testing.T) {
	dir := t.TempDir()
	model := runCompiled(t, dir, "tiny-mhc")
	code, stdout, stderr := runCLI(t, "run", model, "--dim", "sequence=8", "--out-dir", filepath.Join(dir, "out"), "--profile", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"profile: 3 runs", "operator", "calls/run", "µs/call", "all kernels"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("profile lacks %q:\n%s", want, stdout)
		}
	}
	// The MatMul row counts calls.
	var matmul []string
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[0] == "MatMul" {
			matmul = f
		}
	}
	if matmul == nil {
		t.Fatalf("no MatMul row:\n%s", stdout)
	}
	if n, err := strconv.Atoi(matmul[1]); err != nil || n <= 0 {
		t.Errorf("MatMul calls/run %q", matmul[1])
	}
	code, _, stderr = runCLI(t, "run", model, "--profile", "-1")
	if code == 0 || !strings.Contains(stderr, "--profile -1") {
		t.Errorf("--profile -1: exit %d, %s", code, stderr)
	}
}
