package crosscheck

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/internal/testenv"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/target"
	"github.com/mhcc-dev/mhcc/verify"
)

// A kvRun is one way of feeding a sequence to a cache graph: batch sequences,
// in chunks of the schedule's lengths (the first chunk is the prefill on an
// empty cache).
type kvRun struct {
	batch    int
	schedule []int
}

// kvRuns are the runs every cache graph gets: a prefill, a multi-token chunk
// on a non-empty cache (new > 1, past > 0), then single-token decode steps,
// at batch 2 (a mix-up of batch rows in the cache shows) and 1; and a plain
// prefill + decode at batch 2.
var kvRuns = []kvRun{{2, []int{5, 2, 1, 1, 1}}, {1, []int{5, 2, 1, 1, 1}}, {2, []int{6, 1, 1, 1, 1}}}

// kvMaxTotal is the longest sequence of kvRuns.
const kvMaxTotal = 10

func (r kvRun) total() int {
	n := 0
	for _, c := range r.schedule {
		n += c
	}
	return n
}

func (r kvRun) String() string { return fmt.Sprintf("batch %d, chunks %v", r.batch, r.schedule) }

// chunked reports whether the run feeds more than one token on a non-empty
// cache at batch > 1, which onnxruntime's GroupQueryAttention refuses.
func (r kvRun) chunked() bool {
	for i, n := range r.schedule {
		if i > 0 && n > 1 && r.batch > 1 {
			return true
		}
	}
	return false
}

// gqaChunkErr is onnxruntime's refusal of such a run (group_query_attention_helper.h),
// which the Go runtime's kernel repeats.
const gqaChunkErr = "batch_size must be 1 when sequence_length > 1 and past context is given"

// usesGQA reports whether target tg lowers m's AttentionKV to
// GroupQueryAttention: the profile asks for it and the head size is one
// onnxruntime's kernel takes (a multiple of 8; else the reference stays).
func usesGQA(t *testing.T, tg string, m *model.Model) bool {
	p, err := compile.Profile(tg)
	if err != nil {
		t.Fatal(err)
	}
	return p.LoweringOf(ir.OpAttentionKV.String()) == "gqa" && m.Arch.HeadDim%8 == 0
}

// decoderModels returns the decoder model files among the examples, the
// golden cases and the KV-cache examples (testdata/kv).
func decoderModels(t *testing.T) []string {
	t.Helper()
	var out []string
	kv, _ := filepath.Glob("../../testdata/kv/*.yaml")
	for _, path := range append(append(exampleModels(t), goldenModels(t)...), kv...) {
		m, err := model.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Arch.Kind == model.ArchDecoder {
			out = append(out, path)
		}
	}
	return out
}

// kvCaseName is caseName, with "kv/" for the files of testdata/kv.
func kvCaseName(path string) string {
	if filepath.Base(filepath.Dir(path)) == "kv" {
		return "kv/" + strings.TrimSuffix(filepath.Base(path), ".yaml")
	}
	return caseName(path)
}

// loadDynamic loads the model at path and its weights with a dynamic batch
// and sequence (a size fixed in the file is made dynamic: the tests need
// other lengths) and RoPE tables for at least positions rows (longer
// tables, same rows).
func loadDynamic(t *testing.T, path string, positions int) (*model.Model, model.Weights) {
	t.Helper()
	m, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := model.LoadWeights(m)
	if err != nil {
		t.Fatal(err)
	}
	m.Inputs.Batch, m.Inputs.Sequence = 0, 0
	m.Inputs.MaxSequence = max(m.Inputs.MaxSequence, positions)
	return m, w
}

// compileKV compiles the model at path twice for target tg: the full
// forward graph and the KV-cache graph, both with a dynamic batch and
// sequence and RoPE tables for at least the test's sequence (loadDynamic).
func compileKV(t *testing.T, path, tg string) (m *model.Model, full, kv []byte) {
	t.Helper()
	m, w := loadDynamic(t, path, kvMaxTotal)
	m.Inputs.KVCache = false // the full forward; the option below makes the cache graph
	f, err := compile.CompileModel(m, w, compile.Options{Target: tg, Verify: true})
	if compile.Refused(err) {
		t.Skipf("target %s does not take this model: %v", tg, err)
	}
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	k, err := compile.CompileModel(m, w, compile.Options{Target: tg, Verify: true, KVCache: true})
	if err != nil {
		t.Fatalf("compile with kv_cache: %v", err)
	}
	return m, f.ONNX, k.ONNX
}

// tokens draws r.batch sequences of r.total() token ids, [batch, T]
// row-major, seeded by the model name.
func (r kvRun) tokens(m *model.Model) []int64 {
	rng := rand.New(rand.NewPCG(uint64(len(m.Name)), uint64(r.batch)<<8|uint64(r.total())))
	ids := make([]int64, r.batch*r.total())
	for i := range ids {
		ids[i] = int64(rng.IntN(m.Arch.VocabSize))
	}
	return ids
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
	path   string
	batch  int
	names  []string // past input names, graph order
	past   []ortrun.Tensor
	masked bool      // the graph takes attention_mask and position_ids
	mask   [][]int64 // per row: 1 for a cached token, 0 for padding
	seen   []int64   // per row: tokens fed, the next position
}

func newORTCache(path string, m *model.Model, batch int) *ortCache {
	c := &ortCache{path: path, batch: batch, masked: true, mask: make([][]int64, batch), seen: make([]int64, batch)}
	shape := []int64{int64(batch), int64(m.Arch.KVHeads), 0, int64(m.Arch.HeadDim)}
	dtype := "float32"
	if ins, _, err := ortrun.IOInfo(path); err == nil {
		for _, in := range ins {
			if in.Name == lower.PastKey(0) {
				dtype = in.DType // float16 at --precision fp16
			}
		}
	}
	for i := range m.Arch.Layers {
		for _, name := range []string{lower.PastKey(i), lower.PastValue(i)} {
			c.names = append(c.names, name)
			c.past = append(c.past, ortrun.Tensor{Name: name, DType: dtype, Shape: shape, F32: []float32{}})
		}
	}
	return c
}

func (c *ortCache) step(ids []int64) (output, error) { return c.stepMasked(ids, nil) }

// stepMasked feeds ids [batch, n] with mask [batch, n] (0: padding; nil: no
// padding), positions counting each row's tokens only, as verify.Session.
func (c *ortCache) stepMasked(ids, mask []int64) (output, error) {
	n := int64(len(ids) / c.batch)
	in := append([]ortrun.Tensor{{Name: lower.InputIDs, DType: "int64", Shape: []int64{int64(c.batch), n}, I64: ids}}, c.past...)
	if c.masked {
		var full, pos []int64
		for b := range c.batch {
			for i := range int(n) {
				m := int64(1)
				if mask != nil {
					m = mask[b*int(n)+i]
				}
				c.mask[b] = append(c.mask[b], m)
				pos = append(pos, c.seen[b])
				if m == 1 {
					c.seen[b]++
				} else {
					pos[len(pos)-1] = 0
				}
			}
			full = append(full, c.mask[b]...)
		}
		in = append(in, ortrun.Tensor{Name: lower.AttentionMask, DType: "int64", Shape: []int64{int64(c.batch), int64(len(c.mask[0]))}, I64: full},
			ortrun.Tensor{Name: lower.PositionIDs, DType: "int64", Shape: []int64{int64(c.batch), n}, I64: pos})
	}
	outs, err := ortrun.Run(c.path, in, 1)
	if err != nil {
		return output{}, err
	}
	byName := map[string]ortrun.Tensor{}
	for _, o := range outs {
		byName[o.Name] = o
	}
	for j, name := range c.names {
		p, ok := byName[verify.PresentFor(name)]
		if !ok {
			return output{}, fmt.Errorf("no output %s", verify.PresentFor(name))
		}
		p.Name = name
		c.past[j] = p
	}
	l := byName[lower.Logits]
	return output{l.Shape, l.F32}, nil
}

// A stepper is one engine running a cache graph: onnxruntime or the Go
// runtime. cached is the number of tokens in its cache.
type stepper interface {
	step(ids []int64) (output, error)
	cached() int64
}

func (c *ortCache) cached() int64 { return c.past[0].Shape[2] }

type goCache struct{ s *verify.Session }

func (c goCache) step(ids []int64) (output, error) {
	l, err := c.s.Step(ids)
	if err != nil {
		return output{}, err
	}
	return output{l.Shape, l.Float32s()}, nil
}

func (c goCache) cached() int64 { return int64(c.s.Len()) }

// checkRun feeds run r's ids to the cache engine chunk by chunk and compares
// each chunk's logits with want, the full forward's [batch, T, V] logits.
// With gqa, a run onnxruntime refuses must fail with its message. It returns
// the largest difference.
func checkRun(t *testing.T, engine string, r kvRun, gqa bool, c stepper, ids []int64, want output) float64 {
	t.Helper()
	total, at, worst := r.total(), 0, 0.0
	for i, n := range r.schedule {
		got, err := c.step(columns(ids, total, at, at+n))
		if gqa && r.chunked() && i > 0 && n > 1 {
			if err == nil || !strings.Contains(err.Error(), gqaChunkErr) {
				t.Errorf("%s, %v: chunk at %d: got error %v, want GroupQueryAttention's %q", engine, r, at, err, gqaChunkErr)
			}
			return worst
		}
		if err != nil {
			t.Fatalf("%s, %v: step at %d: %v", engine, r, at, err)
		}
		d, where := diff(got, logitColumns(want, at, at+n))
		worst = max(worst, d)
		if !(d <= tol) {
			t.Errorf("%s, %v: positions %d..%d (past %d): max |cache - full| = %.3g > %g (%s)", engine, r, at, at+n-1, at, d, tol, where)
		}
		if l := c.cached(); l != int64(at+n) {
			t.Errorf("%s, %v: cache holds %d tokens after the step at %d, want %d", engine, r, l, at, at+n)
		}
		at += n
	}
	return worst
}

// TestKVCacheMatchesFullForward is the proof that the KV-cache graphs are
// right: for every decoder model and target, feeding random sequences to the
// cache graph in chunks (kvRuns: prefill, a multi-token chunk on a non-empty
// cache, single-token decode steps) gives, at every position, the logits of
// the full forward graph over the whole sequence, within 1e-4, in mhcc's Go
// runtime. The cache must hold every token fed.
func TestKVCacheMatchesFullForward(t *testing.T) {
	for _, tg := range target.Names() {
		for _, path := range decoderModels(t) {
			name := tg + "/" + kvCaseName(path)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				m, fullBytes, kvBytes := compileKV(t, path, tg)
				gqa := usesGQA(t, tg, m)
				goFull, err := mhrt.Decode(fullBytes)
				if err != nil {
					t.Fatalf("the Go runtime does not run target %s: %v", tg, err)
				}
				goKV, err := mhrt.Decode(kvBytes)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range kvRuns {
					ids := r.tokens(m)
					want, err := runGo(goFull, idsInput([]int64{int64(r.batch), int64(r.total())}, ids), lower.InputIDs, lower.Logits)
					if err != nil {
						t.Fatal(err)
					}
					sess, err := verify.NewSession(goKV, r.batch)
					if err != nil {
						t.Fatal(err)
					}
					worst := checkRun(t, "Go runtime", r, gqa, goCache{sess}, ids, want)
					t.Logf("Go runtime, %v: max |cache - full| = %.2g", r, worst)
				}
			})
		}
	}
}

// TestKVCacheMatchesFullForwardORT is TestKVCacheMatchesFullForward in
// onnxruntime, for the targets it runs.
func TestKVCacheMatchesFullForwardORT(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	for _, tg := range target.Names() {
		for _, path := range decoderModels(t) {
			name := tg + "/" + kvCaseName(path)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				m, fullBytes, kvBytes := compileKV(t, path, tg)
				gqa := usesGQA(t, tg, m)
				runs, err := ortRuns(kvBytes)
				if err != nil {
					t.Fatal(err)
				}
				if !runs {
					t.Skipf("onnxruntime cannot run target %s", tg)
				}
				fullPath := filepath.Join(dir, fileName(name)+".onnx")
				kvPath := filepath.Join(dir, fileName(name)+"-cache.onnx")
				if err := os.WriteFile(fullPath, fullBytes, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(kvPath, kvBytes, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, r := range kvRuns {
					ids := r.tokens(m)
					want, err := runORT(fullPath, idsInput([]int64{int64(r.batch), int64(r.total())}, ids))
					if err != nil {
						t.Fatalf("full forward: %v", err)
					}
					worst := checkRun(t, "onnxruntime", r, gqa, newORTCache(kvPath, m, r.batch), ids, want)
					t.Logf("onnxruntime, %v: max |cache - full| = %.2g", r, worst)
				}
			})
		}
	}
}

// TestKVCacheMatchesTorch checks the cache graphs against the independent
// PyTorch reference (scripts/reference, float64): for each golden decoder
// (safetensors weights) and the onnx and ort targets, the logits of the
// chunked cache runs in onnxruntime and in the Go runtime must equal, within
// 1e-4, the reference's full forward over the whole sequence; the
// reference's own cache path (kv_reference.py, Decoder.forward_cached) must
// agree with its full forward too, and its final cache with onnxruntime's
// presents.
func TestKVCacheMatchesTorch(t *testing.T) {
	python := testenv.NeedPython(t, "torch")
	initORT(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, path := range goldenModels(t) {
		m, err := model.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if m.Arch.Kind != model.ArchDecoder {
			continue
		}
		name := caseName(path)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base := filepath.Join(dir, fileName(name))
			var in []safetensors.Tensor
			for i, r := range kvRuns {
				sched := make([]int64, len(r.schedule))
				for j, n := range r.schedule {
					sched[j] = int64(n)
				}
				in = append(in,
					safetensors.Tensor{Name: fmt.Sprintf("run%d.ids", i), DType: safetensors.I64, Shape: []int64{int64(r.batch), int64(r.total())}, Data: safetensors.Int64Bytes(r.tokens(m))},
					safetensors.Tensor{Name: fmt.Sprintf("run%d.schedule", i), DType: safetensors.I64, Shape: []int64{int64(len(sched))}, Data: safetensors.Int64Bytes(sched)})
			}
			if err := safetensors.Write(base+"-in.safetensors", in, nil); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(python, filepath.Join(root, "scripts", "reference", "kv_reference.py"), path,
				base+"-in.safetensors", base+"-torch.safetensors", "--max-sequence", fmt.Sprint(kvMaxTotal))
			cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "PYTHONDONTWRITEBYTECODE=1")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kv_reference.py: %v\n%s", err, b)
			}
			ref, err := safetensors.Open(base + "-torch.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			type compiled struct {
				m    *model.Model
				kv   []byte
				path string
			}
			graphs := map[string]compiled{}
			for _, tg := range []string{"onnx", "ort"} {
				m, _, kv := compileKV(t, path, tg)
				p := fmt.Sprintf("%s-%s-cache.onnx", base, tg)
				if err := os.WriteFile(p, kv, 0o644); err != nil {
					t.Fatal(err)
				}
				graphs[tg] = compiled{m, kv, p}
			}
			for i, r := range kvRuns {
				ids := r.tokens(m)
				read := func(name string) output {
					name = fmt.Sprintf("run%d.%s", i, name)
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
					t.Errorf("torch, %v: cache path vs full forward: max |diff| = %.3g (%s)", r, d, where)
				}
				for _, tg := range []string{"onnx", "ort"} {
					m, kvBytes, kvPath := graphs[tg].m, graphs[tg].kv, graphs[tg].path
					gqa := usesGQA(t, tg, m)
					oc := newORTCache(kvPath, m, r.batch)
					dORT := checkRun(t, tg+" in onnxruntime vs torch", r, gqa, oc, ids, full)
					if !(gqa && r.chunked()) {
						for j, name := range oc.names {
							want := read("cached." + verify.PresentFor(name))
							if d, where := diff(output{oc.past[j].Shape, oc.past[j].F32}, want); !(d <= tol) {
								t.Errorf("%s, %v: onnxruntime's %s vs torch's cache: max |diff| = %.3g (%s)", tg, r, verify.PresentFor(name), d, where)
							}
						}
					}
					goKV, err := mhrt.Decode(kvBytes)
					if err != nil {
						t.Fatal(err)
					}
					sess, err := verify.NewSession(goKV, r.batch)
					if err != nil {
						t.Fatal(err)
					}
					dGo := checkRun(t, tg+" in the Go runtime vs torch", r, gqa, goCache{sess}, ids, full)
					t.Logf("%s, %v: max |cache steps - torch full forward|: onnxruntime %.2g, Go runtime %.2g", tg, r, dORT, dGo)
				}
			}
		})
	}
}
