package runtime_test

import (
	"fmt"
	"maps"
	"slices"
	"math/rand/v2"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// kvStep compiles the model file with the KV cache for target (RoPE tables
// raised to cover past+seq positions) and returns it with the feeds of one
// step of seq new tokens, batch 1, on a cache of past random tokens.
func kvStep(tb testing.TB, file, target string, past, seq int) (*mhrt.Model, map[string]*mhrt.Tensor) {
	tb.Helper()
	m, err := model.Load(file)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := model.LoadWeights(m)
	if err != nil {
		tb.Fatal(err)
	}
	m.Inputs.MaxSequence = max(m.Inputs.MaxSequence, past+seq)
	res, err := compile.CompileModel(m, w, compile.Options{Target: target, KVCache: true})
	if err != nil {
		tb.Fatal(err)
	}
	rm, err := mhrt.Decode(res.ONNX)
	if err != nil {
		tb.Fatal(err)
	}
	a := m.Arch
	rng := rand.New(rand.NewPCG(1, uint64(past)))
	feeds := map[string]*mhrt.Tensor{}
	for _, in := range rm.Inputs {
		switch in.Name {
		case lower.InputIDs, lower.PositionIDs:
			ids := make([]int64, seq)
			for i := range ids {
				ids[i] = int64(3 + i)
				if in.Name == lower.PositionIDs {
					ids[i] = int64(past + i)
				}
			}
			feeds[in.Name] = mhrt.NewInt64([]int64{1, int64(seq)}, ids)
		case lower.AttentionMask:
			ones := make([]int64, past+seq)
			for i := range ones {
				ones[i] = 1
			}
			feeds[in.Name] = mhrt.NewInt64([]int64{1, int64(past + seq)}, ones)
		default:
			kv := make([]float32, a.KVHeads*past*a.HeadDim)
			for i := range kv {
				kv[i] = float32(rng.NormFloat64())
			}
			feeds[in.Name] = mhrt.NewFloat32([]int64{1, int64(a.KVHeads), int64(past), int64(a.HeadDim)}, kv)
		}
	}
	return rm, feeds
}

// BenchmarkDecodeStep is one decode step of bench/models' decoders in the
// Fast engine on one thread (go test -bench DecodeStep -cpuprofile …).
func BenchmarkDecodeStep(b *testing.B) {
	for _, file := range []string{"decoder-256", "decoder-1024"} {
		for _, tg := range []string{"onnx", "ort", "fused"} {
			for _, past := range []int{0, 512, 2048} {
				b.Run(fmt.Sprintf("%s/%s/past%d", file, tg, past), func(b *testing.B) {
					m, feeds := kvStep(b, filepath.Join("..", "bench", "models", file+".yaml"), tg, past, 1)
					defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
					b.ReportAllocs()
					var live []*mhrt.Tensor
					for _, t := range feeds {
						live = append(live, t)
					}
					for b.Loop() {
						out, err := m.Run(feeds)
						if err != nil {
							b.Fatal(err)
						}
						mhrt.Recycle(slices.Collect(maps.Values(out)), live...)
					}
				})
			}
		}
	}
}

// TestEnginesAgreeOnKVSteps is TestEnginesAgreeOnModels for the KV-cache
// graphs, which testdata/models does not compile: tiny-mhc-kv for the onnx,
// ort (GroupQueryAttention, whose Fast form is gqaFast) and fused targets,
// a decode step on caches of 0, 1 and 37 random tokens, a prefill of 6
// tokens and a chunk of 3 on a cache of 5, Fast engine against Reference
// within modelTol("fp32").
func TestEnginesAgreeOnKVSteps(t *testing.T) {
	for _, tg := range []string{"onnx", "ort", "fused"} {
		for _, c := range [][2]int{{0, 1}, {1, 1}, {37, 1}, {0, 6}, {5, 3}} {
			past, seq := c[0], c[1]
			t.Run(fmt.Sprintf("%s/past%d/seq%d", tg, past, seq), func(t *testing.T) {
				m, feeds := kvStep(t, "../testdata/kv/tiny-mhc-kv.yaml", tg, past, seq)
				fast, err := m.RunWith(feeds, mhrt.RunOptions{Engine: mhrt.Fast})
				if err != nil {
					t.Fatalf("fast: %v", err)
				}
				ref, err := m.RunWith(feeds, mhrt.RunOptions{Engine: mhrt.Reference})
				if err != nil {
					t.Fatalf("reference: %v", err)
				}
				rtol, atol := modelTol("fp32")
				for _, v := range m.Outputs {
					d, err := maxExcess(fast[v.Name], ref[v.Name], rtol, atol)
					if err != nil {
						t.Errorf("output %q: %v", v.Name, err)
						continue
					}
					t.Logf("output %q: max |fast − reference| / (atol + rtol·|reference|) = %.3g", v.Name, d)
				}
			})
		}
	}
}
