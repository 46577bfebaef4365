package main

import (
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
	"github.com/mhcc-dev/mhcc/verify"
)

var generatedRE = regexp.MustCompile(`(?m)^generated: \d+ tokens \[([\d ]*)\]$`)

// mhcc generate's ids are greedy decoding: each is the argmax of the last
// logits of the full forward graph (no cache) over the prompt and the ids
// before it. So the cache path and the position bookkeeping of generate are
// checked against the plain graph.
func TestGenerateIsGreedyFullForward(t *testing.T) {
	const model = "../../testdata/kv/tiny-mhc-kv.yaml"
	prompt := []int64{5, 17, 42, 3}
	code, stdout, stderr := mhcc(t, "generate", model, "--prompt-ids", "5,17,42,3", "--max-new-tokens", "12")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m := generatedRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no generated ids in\n%s", stdout)
	}
	var got []int64
	for _, f := range strings.Fields(m[1]) {
		v, _ := strconv.ParseInt(f, 10, 64)
		got = append(got, v)
	}
	if len(got) != 12 {
		t.Fatalf("generated %d ids, want 12", len(got))
	}

	res, err := compile.Compile("../../testdata/models/tiny-mhc.yaml", compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	full, err := mhrt.Decode(res.ONNX)
	if err != nil {
		t.Fatal(err)
	}
	seq := append([]int64{}, prompt...)
	for i, id := range got {
		out, err := full.Run(map[string]*mhrt.Tensor{"input_ids": mhrt.NewInt64([]int64{1, int64(len(seq))}, seq)})
		if err != nil {
			t.Fatal(err)
		}
		if want := verify.Argmax(out["logits"])[0]; id != want {
			t.Fatalf("token %d: generate gave %d, the full forward's argmax is %d (ids so far %v)", i, id, want, got[:i])
		}
		seq = append(seq, id)
	}
}

// A half-precision cache graph (compile --precision fp16 --kv-cache) runs in
// the step runner: its caches start as empty float16 tensors, and each step's
// logits stay within the fp16 tolerance of the float32 graph's.
func TestGenerateHalfPrecisionCache(t *testing.T) {
	const model = "../../testdata/kv/tiny-mhc-kv.yaml"
	session := func(precision string) *verify.Session {
		res, err := compile.Compile(model, compile.Options{KVCache: true, Precision: precision})
		if err != nil {
			t.Fatal(err)
		}
		m, err := mhrt.Decode(res.ONNX)
		if err != nil {
			t.Fatal(err)
		}
		s, err := verify.NewSession(m, 1)
		if err != nil {
			t.Fatalf("%s: %v", precision, err)
		}
		return s
	}
	half, full := session("fp16"), session("fp32")
	for i, ids := range [][]int64{{5, 17, 42}, {3}, {9}} {
		h, err := half.Step(ids)
		if err != nil {
			t.Fatal(err)
		}
		f, err := full.Step(ids)
		if err != nil {
			t.Fatal(err)
		}
		if h.DType != mhrt.Float16 {
			t.Fatalf("step %d: logits are %v, want float16", i, h.DType)
		}
		hv, fv := h.Float32s(), f.Float32s()
		for j := range fv {
			if d := float64(hv[j] - fv[j]); d > 2e-2 || d < -2e-2 {
				t.Fatalf("step %d: logit %d is %g in fp16, %g in fp32", i, j, hv[j], fv[j])
			}
		}
	}
}

// sample draws from softmax(logits / temperature) cut to the top-k ids and
// to the top-p mass: checked on one row of known probabilities.
func TestSampleTopKTopP(t *testing.T) {
	logits := mhrt.NewFloat32([]int64{1, 1, 4}, []float32{0, 1, 2, 3}) // softmax: .032 .087 .237 .644
	cases := []struct {
		name string
		f    generateFlags
		want map[int64]float64 // id → frequency
	}{
		{"top-k 1 is greedy", generateFlags{temperature: 1, topK: 1, topP: 1}, map[int64]float64{3: 1}},
		{"top-p 0.5 keeps the first id", generateFlags{temperature: 1, topP: 0.5}, map[int64]float64{3: 1}},
		{"top-k 2", generateFlags{temperature: 1, topK: 2, topP: 1}, map[int64]float64{3: 0.731, 2: 0.269}},
		{"top-p 0.9 keeps three ids", generateFlags{temperature: 1, topP: 0.9}, map[int64]float64{3: 0.665, 2: 0.245, 1: 0.090}},
		{"temperature 2 flattens", generateFlags{temperature: 2, topP: 1}, map[int64]float64{3: 0.455, 2: 0.276, 1: 0.167, 0: 0.102}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			const n = 20000
			count := map[int64]float64{}
			for range n {
				count[sample(logits, c.f, rng)[0]]++
			}
			for id, want := range c.want {
				if got := count[id] / n; math.Abs(got-want) > 0.015 {
					t.Errorf("id %d drawn %.3f of the time, want %.3f", id, got, want)
				}
			}
			for id, k := range count {
				if _, ok := c.want[id]; !ok {
					t.Errorf("id %d drawn %d times, want never", id, int(k))
				}
			}
		})
	}
}
