package model

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/ir"
)

// e4m3Python computes the 256 E4M3 values from the OCP 8-bit floating
// point specification's formula (v1.0, §5.1: E4M3, bias 7, no infinities,
// S.1111.111 NaN), in Python's float64, independently of the Go decoder.
const e4m3Python = `
import json, math
out = []
for b in range(256):
    s = -1.0 if b & 0x80 else 1.0
    e = (b >> 3) & 0xF
    m = b & 7
    if e == 15 and m == 7:
        out.append("nan")
    elif e == 0:
        out.append(s * 2.0 ** (1 - 7) * (m / 8.0))
    else:
        out.append(s * 2.0 ** (e - 7) * (1 + m / 8.0))
print(json.dumps(out))
`

func e4m3Reference(t *testing.T) []float64 {
	python := testenv.NeedPython(t)
	b, err := exec.Command(python, "-c", e4m3Python).Output()
	if err != nil {
		t.Fatal(err)
	}
	var raw []any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(raw))
	for i, v := range raw {
		if s, ok := v.(string); ok && s == "nan" {
			out[i] = math.NaN()
			continue
		}
		out[i] = v.(float64)
	}
	return out
}

// Every E4M3 code decodes to the OCP formula's value (448 the largest,
// 2^-9 the smallest subnormal, ±0, NaN for 0x7F and 0xFF).
func TestE4M3MatchesOCP(t *testing.T) {
	ref := e4m3Reference(t)
	if len(ref) != 256 {
		t.Fatalf("python gave %d values", len(ref))
	}
	for b, want := range ref {
		got := float64(E4M3ToFloat32(byte(b)))
		if math.IsNaN(want) != math.IsNaN(got) || !math.IsNaN(want) && got != want {
			t.Errorf("E4M3ToFloat32(%#02x) = %v, want %v", b, got, want)
		}
	}
	if ref[0x7E] != 448 || ref[0x01] != math.Ldexp(1, -9) {
		t.Errorf("python reference: max %v, min subnormal %v", ref[0x7E], ref[0x01])
	}
}

// An FP8 weight with 128×128 block scales, under both scale names, loads as
// value × its block's scale; the blocks at the edges are partial.
func TestFP8BlockScales(t *testing.T) {
	ref := e4m3Reference(t)
	const rows, cols = 130, 260 // blocks 2 × 3, the last ones partial
	codes := make([]byte, rows*cols)
	for i := range codes {
		codes[i] = byte((i*37 + i/cols) % 256)
		if codes[i]&0x7F == 0x7F {
			codes[i] = 0x42 // not NaN
		}
	}
	scale := []float32{0.5, 2, 0.125, 3, 1e-3, 7}
	dir := t.TempDir()
	path := filepath.Join(dir, "fp8.safetensors")
	err := safetensors.Write(path, []safetensors.Tensor{
		{Name: "a.weight", DType: safetensors.F8E4M3, Shape: []int64{rows, cols}, Data: codes},
		{Name: "a.weight_scale_inv", DType: safetensors.F32, Shape: []int64{2, 3}, Data: safetensors.Float32Bytes(scale)},
		{Name: "b.weight", DType: safetensors.F8E4M3, Shape: []int64{rows, cols}, Data: codes},
		{Name: "b.scale", DType: safetensors.F32, Shape: []int64{2, 3}, Data: safetensors.Float32Bytes(scale)},
		{Name: "c.weight", DType: safetensors.F8E4M3, Shape: []int64{rows, cols}, Data: codes},
		{Name: "d.weight", DType: safetensors.I32, Shape: []int64{2}, Data: make([]byte, 8)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ck, problems := openCheckpoint(path)
	if problems != nil {
		t.Fatal(problems)
	}
	m := &Model{}
	var errs ErrorList
	nm := mapNames(m, ck, &errs)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if strings.Join(nm.Scales, " ") != "a.weight_scale_inv b.scale" {
		t.Errorf("scales %v, want a.weight_scale_inv b.scale", nm.Scales)
	}
	for _, name := range []string{"a.weight", "b.weight"} {
		e := nm.target[name]
		if p := e.problem(WeightSpec{Name: name, Shape: []int64{rows, cols}}); p != "" {
			t.Fatal(p)
		}
		var got []float32
		if err := (&entrySource{e}).Stream(func(v []float32) error { got = append(got, v...); return nil }); err != nil {
			t.Fatal(err)
		}
		for i, c := range codes {
			r, col := i/cols, i%cols
			want := float32(ref[c]) * scale[(r/128)*3+col/128]
			if got[i] != want {
				t.Fatalf("%s[%d][%d] = %v, want %v (code %#02x)", name, r, col, got[i], want, c)
			}
		}
	}
	for name, want := range map[string]string{
		"c.weight": `tensor "c.weight" has dtype F8_E4M3 and no block scale ("c.weight_scale_inv" or "c.scale"); mhcc reads F32, F16, BF16, or F8_E4M3 with a block scale`,
		"d.weight": `tensor "d.weight" has dtype I32; mhcc reads F32, F16, BF16, or F8_E4M3 with a block scale`,
	} {
		e := nm.target[name]
		if got := e.problem(WeightSpec{Name: name, Shape: e.Shape}); got != want {
			t.Errorf("%s: %s\nwant %s", name, got, want)
		}
	}
}

// An FP8 checkpoint loads through LoadWeights and StreamWeights: the
// scales are found, attached and not reported as unexpected tensors.
func TestFP8LoadWeights(t *testing.T) {
	m := loadString(t, "format: 1\narchitecture: {kind: mlp, input_size: 4, output_size: 2, hidden_size: 8, layers: 1, ffn_hidden_size: 8}\n"+
		"hyper_connections: {kind: residual}\nweights: WEIGHTS\n", "{source: random, seed: 9}")
	ref := RandomWeights(m)
	var ts []safetensors.Tensor
	want := Weights{}
	for _, s := range WeightSpecs(m) {
		if s.Name != "layers.0.mlp.w1.weight" {
			ts = append(ts, safetensors.Tensor{Name: s.Name, DType: safetensors.F32, Shape: s.Shape, Data: safetensors.Float32Bytes(ref[s.Name].F32)})
			want[s.Name] = ref[s.Name]
			continue
		}
		// 0x38 is 1.0 and 0xB8 is -1.0 in E4M3; the one block's scale is 0.25.
		codes := make([]byte, 64)
		vals := make([]float32, 64)
		for i := range codes {
			codes[i], vals[i] = 0x38, 0.25
			if i%3 == 0 {
				codes[i], vals[i] = 0xB8, -0.25
			}
		}
		ts = append(ts, safetensors.Tensor{Name: s.Name, DType: safetensors.F8E4M3, Shape: s.Shape, Data: codes},
			safetensors.Tensor{Name: "layers.0.mlp.w1.weight_scale_inv", DType: safetensors.F32, Shape: []int64{1, 1}, Data: safetensors.Float32Bytes([]float32{0.25})})
		want[s.Name] = &ir.Tensor{DType: ir.Float32, Shape: s.Shape, F32: vals}
	}
	path := filepath.Join(t.TempDir(), "fp8.safetensors")
	if err := safetensors.Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	m = loadString(t, "format: 1\narchitecture: {kind: mlp, input_size: 4, output_size: 2, hidden_size: 8, layers: 1, ffn_hidden_size: 8}\n"+
		"hyper_connections: {kind: residual}\nweights: WEIGHTS\n", "{source: safetensors, path: "+path+"}")
	got, err := LoadWeights(m)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "LoadWeights", got, want)
	streamed, err := StreamWeights(m, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !streamed["layers.0.mlp.w1.weight"].IsLazy() {
		t.Error("the FP8 weight is not streamed")
	}
	sameBits(t, "StreamWeights", streamed, want)
}
