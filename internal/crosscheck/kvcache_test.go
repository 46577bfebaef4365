package crosscheck

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/build"
	"github.com/mhcc-dev/mhcc/internal/kvcache"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/ir"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/target"
)

// kvSchedule is how TestKVCacheMatchesFullForward feeds a sequence of 10
// tokens to the cache graph: a prefill of 5 (past 0), a chunk of 2 (past 5,
// new > 1 on a non-empty cache), then three single-token decode steps.
var kvSchedule = []int{5, 2, 1, 1, 1}

// kvBatch is the batch of those runs: two sequences, so that a mix-up of
// batch rows in the cache shows.
const kvBatch = 2

// decoderModels returns the decoder model files among the examples, the
// golden cases and the KV-cache examples (testdata/kv).
func decoderModels(t *testing.T) []string {
	t.Helper()
	var out []string
	kv, _ := filepath.Glob("../../testdata/kv/*.yaml")
	for _, path := range append(append(exampleModels(t), goldenModels(t)...), kv...) {
		m, err := ir.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Arch.Kind == ir.ArchDecoder {
			out = append(out, path)
		}
	}
	return out
}

// compileKV compiles the model at path twice for target tg: the full
// forward graph and the KV-cache graph, both with a dynamic batch and
// sequence (a size fixed in the file is made dynamic: the test needs other
// lengths) and RoPE tables for at least the test's sequence.
func compileKV(t *testing.T, path, tg string) (m *ir.Model, full, kv []byte) {
	t.Helper()
	m, err := ir.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ir.LoadWeights(m)
	if err != nil {
		t.Fatal(err)
	}
	m.Inputs.Batch, m.Inputs.Sequence = 0, 0
	m.Inputs.KVCache = false // the full forward; the option below makes the cache graph
	_, total := kvTokens(m)
	m.Inputs.MaxSequence = max(m.Inputs.MaxSequence, total) // longer RoPE tables, same rows
	f, err := build.CompileModel(m, w, build.Options{Target: tg, Verify: true})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	k, err := build.CompileModel(m, w, build.Options{Target: tg, Verify: true, KVCache: true})
	if err != nil {
		t.Fatalf("compile with kv_cache: %v", err)
	}
	return m, f.ONNX, k.ONNX
}

// kvTokens draws kvBatch sequences of sum(kvSchedule) token ids, [batch, T]
// row-major, seeded by the model name.
func kvTokens(m *ir.Model) (ids []int64, total int) {
	for _, n := range kvSchedule {
		total += n
	}
	r := rand.New(rand.NewPCG(uint64(len(m.Name)), 0x6b76))
	ids = make([]int64, kvBatch*total)
	for i := range ids {
		ids[i] = int64(r.IntN(m.Arch.VocabSize))
	}
	return ids, total
}

// columns returns ids[:, from:to] of ids [batch, total], row-major.
func columns(ids []int64, total, from, to int) []int64 {
	var out []int64
	for b := 0; b < len(ids)/total; b++ {
		out = append(out, ids[b*total+from:b*total+to]...)
	}
	return out
}

// logitColumns returns logits[:, from:to, :] of a [batch, T, V] output.
func logitColumns(o output, from, to int) output {
	b, tt, v := int(o.shape[0]), int(o.shape[1]), int(o.shape[2])
	var data []float32
	for i := range b {
		data = append(data, o.data[(i*tt+from)*v:(i*tt+to)*v]...)
	}
	return output{[]int64{int64(b), int64(to - from), int64(v)}, data}
}

// An ortCache runs a KV-cache graph step by step in onnxruntime, feeding
// each step's presents back as the next step's pasts.
type ortCache struct {
	path  string
	names []string // past input names, graph order
	past  []ortrun.Tensor
}

func newORTCache(path string, m *ir.Model) *ortCache {
	c := &ortCache{path: path}
	shape := []int64{kvBatch, int64(m.Arch.KVHeads), 0, int64(m.Arch.HeadDim)}
	for i := range m.Arch.Layers {
		for _, name := range []string{ir.PastKey(i), ir.PastValue(i)} {
			c.names = append(c.names, name)
			c.past = append(c.past, ortrun.Tensor{Name: name, DType: "float32", Shape: shape, F32: []float32{}})
		}
	}
	return c
}

func (c *ortCache) step(ids []int64) (output, error) {
	n := int64(len(ids) / kvBatch)
	in := append([]ortrun.Tensor{{Name: kvcache.InputIDs, DType: "int64", Shape: []int64{kvBatch, n}, I64: ids}}, c.past...)
	outs, err := ortrun.Run(c.path, in, 1)
	if err != nil {
		return output{}, err
	}
	byName := map[string]ortrun.Tensor{}
	for _, o := range outs {
		byName[o.Name] = o
	}
	for j, name := range c.names {
		p, ok := byName[kvcache.PresentFor(name)]
		if !ok {
			return output{}, fmt.Errorf("no output %s", kvcache.PresentFor(name))
		}
		p.Name = name
		c.past[j] = p
	}
	l := byName[kvcache.Logits]
	return output{l.Shape, l.F32}, nil
}

// TestKVCacheMatchesFullForward is the proof that the KV-cache graphs are
// right: for every decoder model and target, feeding a random sequence to
// the cache graph in chunks (kvSchedule: prefill, a multi-token chunk on a
// non-empty cache, single-token decode steps) gives, at every position, the
// logits of the full forward graph over the whole sequence, within 1e-4, in
// mhcc's Go runtime. The cache must hold every token fed.
func TestKVCacheMatchesFullForward(t *testing.T) {
	for _, tg := range target.Names() {
		for _, path := range decoderModels(t) {
			name := tg + "/" + caseName(path)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				m, fullBytes, kvBytes := compileKV(t, path, tg)
				ids, total := kvTokens(m)
				fullIn := idsInput([]int64{kvBatch, int64(total)}, ids)
				goFull, err := mhrt.Decode(fullBytes)
				if err != nil {
					// Not this test's concern: TestTargetsPreserveNumerics
					// reports the target's full graph failing.
					t.Skipf("the Go runtime does not run target %s: %v", tg, err)
				}
				goKV, err := mhrt.Decode(kvBytes)
				if err != nil {
					t.Fatal(err)
				}
				want, err := runGo(goFull, fullIn, "input_ids", "logits")
				if err != nil {
					t.Fatal(err)
				}
				sess, err := kvcache.NewSession(goKV, kvBatch)
				if err != nil {
					t.Fatal(err)
				}
				at, worst := 0, 0.0
				for _, n := range kvSchedule {
					got, err := sess.Step(columns(ids, total, at, at+n))
					if err != nil {
						t.Fatalf("step at %d: %v", at, err)
					}
					d, where := diff(output{got.Shape, got.Float32s()}, logitColumns(want, at, at+n))
					worst = max(worst, d)
					if !(d <= tol) {
						t.Errorf("positions %d..%d (past %d): max |cache - full| = %.3g > %g (%s)", at, at+n-1, at, d, tol, where)
					}
					at += n
				}
				if sess.Len() != total {
					t.Errorf("cache holds %d tokens, want %d", sess.Len(), total)
				}
				t.Logf("Go runtime: max |cache - full| over chunks %v = %.2g", kvSchedule, worst)
			})
		}
	}
}

// TestKVCacheMatchesFullForwardORT is TestKVCacheMatchesFullForward in
// onnxruntime, for the targets it runs; the present outputs must grow by
// the chunk length each step.
func TestKVCacheMatchesFullForwardORT(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	for _, tg := range target.Names() {
		for _, path := range decoderModels(t) {
			name := tg + "/" + caseName(path)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				m, fullBytes, kvBytes := compileKV(t, path, tg)
				runs, err := ortRuns(kvBytes)
				if err != nil {
					t.Fatal(err)
				}
				if !runs {
					t.Skipf("onnxruntime cannot run target %s", tg)
				}
				ids, total := kvTokens(m)
				fullIn := idsInput([]int64{kvBatch, int64(total)}, ids)
				fullPath := filepath.Join(dir, fileName(name)+".onnx")
				kvPath := filepath.Join(dir, fileName(name)+"-kv.onnx")
				if err := os.WriteFile(fullPath, fullBytes, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(kvPath, kvBytes, 0o644); err != nil {
					t.Fatal(err)
				}
				want, err := runORT(fullPath, fullIn)
				if err != nil {
					t.Fatalf("full forward: %v", err)
				}
				oc := newORTCache(kvPath, m)
				at, worst := 0, 0.0
				for _, n := range kvSchedule {
					got, err := oc.step(columns(ids, total, at, at+n))
					if err != nil {
						t.Fatalf("step at %d: %v", at, err)
					}
					d, where := diff(got, logitColumns(want, at, at+n))
					worst = max(worst, d)
					if !(d <= tol) {
						t.Errorf("positions %d..%d (past %d): max |cache - full| = %.3g > %g (%s)", at, at+n-1, at, d, tol, where)
					}
					if l := oc.past[0].Shape[2]; l != int64(at+n) {
						t.Errorf("present length %d after the step at %d, want %d", l, at, at+n)
					}
					at += n
				}
				t.Logf("onnxruntime: max |cache - full| over chunks %v = %.2g", kvSchedule, worst)
			})
		}
	}
}

// TestKVCacheMatchesTorch checks the cache graphs against the independent
// PyTorch reference (scripts/reference, float64): for each golden decoder
// (safetensors weights), the logits of the chunked cache run (kvSchedule) in
// onnxruntime and in the Go runtime must equal, within 1e-4, the reference's
// full forward over the whole sequence; the reference's own cache path
// (kv_reference.py, Decoder.forward_cached) must agree with its full forward
// too, and its final cache with onnxruntime's presents.
func TestKVCacheMatchesTorch(t *testing.T) {
	python := testenv.NeedPython(t, "torch")
	initORT(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, path := range goldenModels(t) {
		m, err := ir.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Arch.Kind != ir.ArchDecoder {
			continue
		}
		name := caseName(path)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, _, kvBytes := compileKV(t, path, "onnx")
			ids, total := kvTokens(m)
			base := filepath.Join(dir, fileName(name))
			if err := os.WriteFile(base+"-kv.onnx", kvBytes, 0o644); err != nil {
				t.Fatal(err)
			}
			sched := make([]int64, len(kvSchedule))
			for i, n := range kvSchedule {
				sched[i] = int64(n)
			}
			err := safetensors.Write(base+"-in.safetensors", []safetensors.Tensor{
				{Name: "ids", DType: safetensors.I64, Shape: []int64{kvBatch, int64(total)}, Data: safetensors.Int64Bytes(ids)},
				{Name: "schedule", DType: safetensors.I64, Shape: []int64{int64(len(sched))}, Data: safetensors.Int64Bytes(sched)},
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(python, filepath.Join(root, "scripts", "reference", "kv_reference.py"), path,
				base+"-in.safetensors", base+"-torch.safetensors", "--max-sequence", fmt.Sprint(m.Inputs.MaxSequence))
			cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "PYTHONDONTWRITEBYTECODE=1")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kv_reference.py: %v\n%s", err, b)
			}
			ref, err := safetensors.Open(base + "-torch.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			read := func(name string) output {
				info, ok := ref.Lookup(name)
				if !ok {
					t.Fatalf("the reference wrote no %s", name)
				}
				v, err := ref.ReadFloat64(name)
				if err != nil {
					t.Fatal(err)
				}
				f := make([]float32, len(v))
				for i, x := range v {
					f[i] = float32(x)
				}
				return output{info.Shape, f}
			}
			full, cached := read("full.logits"), read("cached.logits")
			if d, where := diff(cached, full); !(d <= tol) {
				t.Errorf("torch: cache path vs full forward: max |diff| = %.3g (%s)", d, where)
			} else {
				t.Logf("torch: max |cache path - full forward| = %.2g", d)
			}

			goKV, err := mhrt.Decode(kvBytes)
			if err != nil {
				t.Fatal(err)
			}
			sess, err := kvcache.NewSession(goKV, kvBatch)
			if err != nil {
				t.Fatal(err)
			}
			oc := newORTCache(base+"-kv.onnx", m)
			at, worstORT, worstGo := 0, 0.0, 0.0
			for _, n := range kvSchedule {
				chunk := columns(ids, total, at, at+n)
				want := logitColumns(full, at, at+n)
				got, err := oc.step(chunk)
				if err != nil {
					t.Fatalf("onnxruntime, step at %d: %v", at, err)
				}
				d, where := diff(got, want)
				worstORT = max(worstORT, d)
				if !(d <= tol) {
					t.Errorf("onnxruntime: positions %d..%d: max |cache step - torch full forward| = %.3g > %g (%s)", at, at+n-1, d, tol, where)
				}
				gt, err := sess.Step(chunk)
				if err != nil {
					t.Fatalf("Go runtime, step at %d: %v", at, err)
				}
				d, where = diff(output{gt.Shape, gt.Float32s()}, want)
				worstGo = max(worstGo, d)
				if !(d <= tol) {
					t.Errorf("Go runtime: positions %d..%d: max |cache step - torch full forward| = %.3g > %g (%s)", at, at+n-1, d, tol, where)
				}
				at += n
			}
			for j, name := range oc.names {
				want := read("cached." + kvcache.PresentFor(name))
				if d, where := diff(output{oc.past[j].Shape, oc.past[j].F32}, want); !(d <= tol) {
					t.Errorf("onnxruntime %s vs torch's cache: max |diff| = %.3g (%s)", kvcache.PresentFor(name), d, where)
				}
			}
			t.Logf("max |cache steps - torch full forward|: onnxruntime %.2g, Go runtime %.2g", worstORT, worstGo)
		})
	}
}
