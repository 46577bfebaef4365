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
		if p := e.problem(WeightSpec{name, []int64{rows, cols}}); p != "" {
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
		if got := e.problem(WeightSpec{name, e.Shape}); got != want {
			t.Errorf("%s: %s\nwant %s", name, got, want)
		}
	}
}
