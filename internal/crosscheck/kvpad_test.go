package crosscheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/model"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/verify"
)

// padPrompts are the prompt lengths of the padded batch: different, so two
// rows are left-padded, one of them by more than half its length.
var padPrompts = []int{5, 2, 7}

// padDecode is the number of decode steps after the padded prefill.
const padDecode = 3

// A padEngine runs one cache graph: a prefill of ids [batch, n] with a mask
// (0: padding), then single-token steps.
type padEngine interface {
	stepMasked(ids, mask []int64) (output, error)
}

type goPad struct{ s *verify.Session }

func (g goPad) stepMasked(ids, mask []int64) (output, error) {
	l, err := g.s.StepMasked(ids, mask)
	if err != nil {
		return output{}, err
	}
	return output{l.Shape, l.Float32s()}, nil
}

// lastRow returns logits[b, pos, :] of a [batch, n, vocab] output.
func lastRow(o output, b, pos int) output {
	n, v := int(o.shape[1]), int(o.shape[2])
	return output{[]int64{int64(v)}, o.data[(b*n+pos)*v : (b*n+pos+1)*v]}
}

// TestKVCachePaddedMatchesUnpadded is the proof that KV-cache graphs honour
// attention_mask and position_ids: a batch of three prompts of different
// lengths, left-padded as transformers.js pads them, then three decode
// steps, must give for each row the logits of the same prompt run alone
// (batch 1, no padding) at its last prompt position and at every decode
// step, in the Go runtime and in onnxruntime, for the reference lowering
// (target onnx) and GroupQueryAttention (target ort), float32 and float16
// (float16 in the Go runtime only, see below).
// Without the mask the pad tokens are attended and the rows differ by O(1).
func TestKVCachePaddedMatchesUnpadded(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	for _, tg := range []string{"onnx", "ort"} {
		for _, prec := range []string{"fp32", "fp16"} {
			for _, path := range decoderModels(t) {
				name := tg + "/" + prec + "/" + kvCaseName(path)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					m, w := loadDynamic(t, path, 16)
					res, err := compile.CompileModel(m, w, compile.Options{Target: tg, Precision: prec, KVCache: true})
					if err != nil {
						t.Fatalf("compile: %v", err)
					}
					kvPath := filepath.Join(dir, fileName(name)+".onnx")
					if err := os.WriteFile(kvPath, res.ONNX, 0o644); err != nil {
						t.Fatal(err)
					}
					goKV, err := mhrt.Decode(res.ONNX)
					if err != nil {
						t.Fatal(err)
					}
					tolerance := tol
					if prec == "fp16" {
						tolerance = 2e-2 // batch rows may take other kernels' summation orders
					}
					prompts := padBatch(m)
					steps := padSteps(m)
					engines := map[string]func(batch int) padEngine{
						"Go runtime": func(batch int) padEngine {
							s, err := verify.NewSession(goKV, batch)
							if err != nil {
								t.Fatal(err)
							}
							return goPad{s}
						},
						"onnxruntime": func(batch int) padEngine { return newORTCache(kvPath, m, batch) },
					}
					names := []string{"Go runtime", "onnxruntime"}
					if prec == "fp16" {
						// onnxruntime_go makes no empty float16 tensor (the first
						// step's pasts); the node test (interop/js) runs fp16 in
						// onnxruntime through transformers.js.
						names = names[:1]
					}
					for _, engName := range names {
						mk := engines[engName]
						// Alone: each prompt at batch 1, then the decode tokens.
						var alone [][]output
						for b, p := range prompts {
							e := mk(1)
							o, err := e.stepMasked(p, nil)
							if err != nil {
								t.Fatalf("%s, prompt %d alone: %v", engName, b, err)
							}
							rows := []output{lastRow(o, 0, len(p)-1)}
							for _, st := range steps {
								o, err := e.stepMasked([]int64{st[b]}, nil)
								if err != nil {
									t.Fatalf("%s, prompt %d alone, decode: %v", engName, b, err)
								}
								rows = append(rows, lastRow(o, 0, 0))
							}
							alone = append(alone, rows)
						}
						// Together, left-padded with id 0.
						e := mk(len(prompts))
						ids, mask := leftPad(prompts)
						o, err := e.stepMasked(ids, mask)
						if err != nil {
							t.Fatalf("%s, padded prefill: %v", engName, err)
						}
						n := len(ids) / len(prompts)
						worst := 0.0
						check := func(o output, b, pos, step int) {
							d, where := diff(lastRow(o, b, pos), alone[b][step])
							worst = max(worst, d)
							if !(d <= tolerance) {
								t.Errorf("%s: row %d (prompt of %d), step %d: max |padded - alone| = %.3g > %g (%s)", engName, b, len(prompts[b]), step, d, tolerance, where)
							}
						}
						for b := range prompts {
							check(o, b, n-1, 0)
						}
						for i, st := range steps {
							o, err := e.stepMasked(st, nil)
							if err != nil {
								t.Fatalf("%s, padded decode step %d: %v", engName, i+1, err)
							}
							for b := range prompts {
								check(o, b, 0, i+1)
							}
						}
						t.Logf("%s: max |padded - alone| = %.2g", engName, worst)
					}
				})
			}
		}
	}
}

// padBatch draws the prompts of padPrompts' lengths, seeded by the model.
func padBatch(m *model.Model) [][]int64 {
	var out [][]int64
	for i, n := range padPrompts {
		r := kvRun{batch: 1, schedule: []int{n}}
		ids := r.tokens(m)
		for j := range ids {
			ids[j] = (ids[j] + int64(7*i+1)) % int64(m.Arch.VocabSize)
		}
		out = append(out, ids)
	}
	return out
}

// padSteps draws the decode tokens: padDecode steps of one id per row.
func padSteps(m *model.Model) [][]int64 {
	var out [][]int64
	for s := range padDecode {
		var row []int64
		for b := range padPrompts {
			row = append(row, int64((13*s+5*b+3)%m.Arch.VocabSize))
		}
		out = append(out, row)
	}
	return out
}

// leftPad pads prompts on the left with id 0 to the longest: ids and mask
// [batch, longest], row-major.
func leftPad(prompts [][]int64) (ids, mask []int64) {
	n := 0
	for _, p := range prompts {
		n = max(n, len(p))
	}
	for _, p := range prompts {
		for range n - len(p) {
			ids, mask = append(ids, 0), append(mask, 0)
		}
		ids = append(ids, p...)
		for range p {
			mask = append(mask, 1)
		}
	}
	if len(ids) == 0 {
		panic(fmt.Sprint("no prompts"))
	}
	return ids, mask
}

// TestKVCachePastMaxSequence checks the error of a step past the RoPE
// tables: a token at position max_sequence must fail, in onnxruntime and
// in the Go runtime, with a message naming inputs.max_sequence (the Gather
// of the RoPE rows is named for it), not with a broadcast error deep in the
// graph as the mask-free graph gave.
func TestKVCachePastMaxSequence(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	for _, tg := range []string{"onnx", "ort"} {
		t.Run(tg, func(t *testing.T) {
			m, err := model.Load("../../testdata/kv/tiny-mhc-kv.yaml")
			if err != nil {
				t.Fatal(err)
			}
			w, err := model.LoadWeights(m)
			if err != nil {
				t.Fatal(err)
			}
			m.Inputs.MaxSequence = 6
			res, err := compile.CompileModel(m, w, compile.Options{Target: tg, KVCache: true})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tg+".onnx")
			if err := os.WriteFile(path, res.ONNX, 0o644); err != nil {
				t.Fatal(err)
			}
			goKV, err := mhrt.Decode(res.ONNX)
			if err != nil {
				t.Fatal(err)
			}
			s, err := verify.NewSession(goKV, 1)
			if err != nil {
				t.Fatal(err)
			}
			engines := []struct {
				name string
				e    padEngine
			}{{"Go runtime", goPad{s}}, {"onnxruntime", newORTCache(path, m, 1)}}
			for _, e := range engines {
				if _, err := e.e.stepMasked([]int64{1, 2, 3, 4, 5, 6}, nil); err != nil {
					t.Fatalf("%s: a prompt of max_sequence tokens: %v", e.name, err)
				}
				_, err := e.e.stepMasked([]int64{7}, nil)
				if err == nil || !strings.Contains(err.Error(), "max_sequence") {
					t.Errorf("%s: step at position 6 of max_sequence 6: got %v, want an error naming max_sequence", e.name, err)
				} else {
					t.Logf("%s: %v", e.name, err)
				}
			}
		})
	}
}
