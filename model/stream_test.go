package model

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/ir"
)

// bigModel is a decoder whose embedding and head (4099×512, 2.1M elements)
// span three chunks of ChunkElems, with an odd last chunk.
const bigModel = `format: 1
name: big
architecture: {kind: decoder, vocab_size: 4099, hidden_size: 512, layers: 1, heads: 4, head_dim: 8, ffn_hidden_size: 16}
hyper_connections: {kind: mhc, streams: 2}
weights: WEIGHTS
inputs: {max_sequence: 16}
`

func loadString(t *testing.T, src, weights string) *Model {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(src, "WEIGHTS", weights, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// oracleRandom is RandomWeights as first written: one rand.Rand per tensor
// and its Float64/NormFloat64, element by element. The fast generator must
// give the same bits.
func oracleRandom(m *Model) Weights {
	w := Weights{}
	for _, s := range WeightSpecs(m) {
		h := fnv.New64a()
		h.Write([]byte(s.Name))
		r := rand.New(rand.NewPCG(m.Weights.Seed, h.Sum64()))
		t := &ir.Tensor{DType: ir.Float32, Shape: s.Shape}
		t.F32 = make([]float32, t.Len())
		for i := range t.F32 {
			switch name := s.Name; {
			case name == "embed.weight" || strings.HasSuffix(name, "_base"):
				t.F32[i] = float32(r.NormFloat64())
			case strings.HasSuffix(name, "norm.weight"):
				t.F32[i] = float32(1 + 0.1*r.NormFloat64())
			case strings.HasSuffix(name, "_scale"):
				t.F32[i] = float32(0.5 + r.Float64())
			default:
				t.F32[i] = float32((2*r.Float64() - 1) * (1 / math.Sqrt(float64(s.Shape[1]))))
			}
		}
		w[s.Name] = t
	}
	return w
}

func sameBits(t *testing.T, what string, got, want Weights) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for name, wt := range want {
		gt := got[name]
		if gt == nil {
			t.Fatalf("%s: %q missing", what, name)
		}
		if err := gt.Materialize(); err != nil {
			t.Fatalf("%s: %q: %v", what, name, err)
		}
		if len(gt.F32) != len(wt.F32) {
			t.Fatalf("%s: %q has %d elements, want %d", what, name, len(gt.F32), len(wt.F32))
		}
		for i := range wt.F32 {
			if math.Float32bits(gt.F32[i]) != math.Float32bits(wt.F32[i]) {
				t.Fatalf("%s: %q[%d] = %v, want %v", what, name, i, gt.F32[i], wt.F32[i])
			}
		}
	}
}

func TestRandomWeightsMatchDefinition(t *testing.T) {
	for _, file := range []string{"tiny-mhc.yaml", "mlp-mhc.yaml", "tiny-mhc-static.yaml"} {
		m, err := Load(filepath.Join("..", "testdata", "models", file))
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, file, RandomWeights(m), oracleRandom(m))
	}
}

func TestStreamWeightsRandom(t *testing.T) {
	m := loadString(t, bigModel, "{source: random, seed: 7}")
	w, err := StreamWeights(m, LazyMinBytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"embed.weight", "head.weight"} {
		if !w[name].IsLazy() {
			t.Errorf("%s (8 MiB) is not streamed", name)
		}
	}
	for _, name := range []string{"layers.0.hc_attn_fn", "norm.weight"} {
		if w[name].IsLazy() {
			t.Errorf("%s is streamed; want it read (small or mHC)", name)
		}
	}
	// Chunks arrive in order and cover the tensor once.
	chunks, n := 0, int64(0)
	if err := w["embed.weight"].Stream(func(c []float32) error { chunks++; n += int64(len(c)); return nil }); err != nil {
		t.Fatal(err)
	}
	if chunks != 3 || n != 4099*512 {
		t.Errorf("embed.weight streamed as %d chunks, %d elements; want 3, %d", chunks, n, 4099*512)
	}
	sameBits(t, "streamed", w, RandomWeights(m))
}

func TestStreamWeightsSafetensors(t *testing.T) {
	m := loadString(t, bigModel, "{source: random, seed: 3}")
	ref := RandomWeights(m)
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	var ts []safetensors.Tensor
	for i, s := range WeightSpecs(m) {
		// Alternate the dtypes; F16 and BF16 values are rounded, so the
		// reference is what LoadWeights reads back.
		dt, data := safetensors.F32, safetensors.Float32Bytes(ref[s.Name].F32)
		switch i % 3 {
		case 1:
			dt, data = safetensors.F16, safetensors.Float16Bytes(ref[s.Name].F32)
		case 2:
			dt, data = safetensors.BF16, safetensors.BFloat16Bytes(ref[s.Name].F32)
		}
		ts = append(ts, safetensors.Tensor{Name: s.Name, DType: dt, Shape: s.Shape, Data: data})
	}
	if err := safetensors.Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	m = loadString(t, bigModel, fmt.Sprintf("{source: safetensors, path: %s}", path))
	want, err := LoadWeights(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := StreamWeights(m, LazyMinBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !got["embed.weight"].IsLazy() {
		t.Fatal("embed.weight is not streamed")
	}
	sameBits(t, "safetensors", got, want)

	// The file shrinks after the check: streaming fails and names the tensor.
	got, err = StreamWeights(m, LazyMinBytes)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	err = got["head.weight"].Stream(func([]float32) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "w.safetensors") {
		t.Errorf("streaming from a truncated file: got %v, want an error naming the file", err)
	}
}
