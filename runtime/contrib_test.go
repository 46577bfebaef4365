package runtime

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

func randT(r *rand.Rand, dt core.DType, shape ...int64) *core.Tensor {
	v := make([]float64, ref.Product(shape))
	for i := range v {
		v[i] = r.Float64()*4 - 2
	}
	return core.FromFloat64s(dt, shape, v)
}

// contribModel is a one-node model of op (domain dom) importing opset 17 and
// com.microsoft 1; an empty name in ins or outs is an omitted input or output.
func contribModel(dom, op string, attrs []*onnxpb.AttributeProto, ins map[string]*core.Tensor, inNames, outNames []string) *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{Name: strp("main")}
	for _, name := range inNames {
		if name != "" {
			g.Input = append(g.Input, tensorInfo(name, ins[name].DType, ins[name].Shape))
		}
	}
	for _, name := range outNames {
		if name != "" {
			g.Output = append(g.Output, untypedInfo(name))
		}
	}
	g.Node = []*onnxpb.NodeProto{dnode(dom, "op", op, inNames, outNames, attrs...)}
	mp := modelProto(17, g)
	mp.OpsetImport = append(mp.OpsetImport, opsetID(ref.MsDomain, 1))
	return mp
}

// typedOutputs declares the graph outputs' types (onnxruntime needs them).
func typedOutputs(mp *onnxpb.ModelProto, types ...core.DType) *onnxpb.ModelProto {
	for i, t := range types {
		mp.Graph.Output[i] = typedInfo(mp.Graph.Output[i].GetName(), t)
	}
	return mp
}

// rmsRef is RMSNorm over rows of length h, in float64.
func rmsRef(x []float64, h int, eps float64, gamma []float64) (y, inv []float64) {
	for o := 0; o < len(x); o += h {
		var ss float64
		for _, e := range x[o : o+h] {
			ss += e * e
		}
		iv := 1 / math.Sqrt(ss/float64(h)+eps)
		inv = append(inv, iv)
		for j, e := range x[o : o+h] {
			y = append(y, e*iv*gamma[j%len(gamma)])
		}
	}
	return y, inv
}

func TestSimplifiedLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x, scale := randT(r, core.Float32, 2, 3, 8), randT(r, core.Float32, 8)
	outs, err := runOp(t, 17, "SimplifiedLayerNormalization", []*onnxpb.AttributeProto{aFloat("epsilon", 1e-3)}, 2, x, scale)
	if err != nil {
		t.Fatal(err)
	}
	y, inv := rmsRef(x.Float64s(), 8, float64(float32(1e-3)), scale.Float64s())
	if err := compareTensors(outs[0], core.FromFloat64s(core.Float32, x.Shape, y), 1e-6, 1e-7); err != nil {
		t.Errorf("Y: %v", err)
	}
	if err := compareTensors(outs[1], core.FromFloat64s(core.Float32, sh(2, 3, 1), inv), 1e-6, 0); err != nil {
		t.Errorf("inv_std_var: %v", err)
	}
}

func TestSimplifiedLayerNormORT(t *testing.T) {
	needORT(t)
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		dt    core.DType
		x, sc []int64
		attrs []*onnxpb.AttributeProto
		rtol  float64
	}{
		{core.Float32, sh(2, 3, 8), sh(8), nil, 1e-5},
		{core.Float32, sh(2, 3, 8), sh(3, 8), []*onnxpb.AttributeProto{aInt("axis", 1), aFloat("epsilon", 0.5)}, 1e-5},
		{core.Float32, sh(4, 16), sh(1), []*onnxpb.AttributeProto{aFloat("epsilon", 1e-6)}, 1e-5},
		{core.Float64, sh(2, 5), sh(5), nil, 1e-5},
		{core.Float16, sh(3, 8), sh(8), nil, 2e-3},
	} {
		feeds := map[string]*core.Tensor{"x": randT(r, tc.dt, tc.x...), "scale": randT(r, tc.dt, tc.sc...)}
		mp := contribModel("", "SimplifiedLayerNormalization", tc.attrs, feeds, []string{"x", "scale"}, []string{"y", "inv"})
		diffORT(t, typedOutputs(mp, tc.dt, core.Float32), feeds, tc.rtol, 1e-6)
	}
}

func TestSkipSimplifiedLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x, skip := randT(r, core.Float32, 2, 3, 4), randT(r, core.Float32, 3, 4)
	gamma, bias := randT(r, core.Float32, 4), randT(r, core.Float32, 4)
	feeds := map[string]*core.Tensor{"x": x, "skip": skip, "gamma": gamma, "bias": bias}
	mp := contribModel(ref.MsDomain, "SkipSimplifiedLayerNormalization", []*onnxpb.AttributeProto{aFloat("epsilon", 1e-5)},
		feeds, []string{"x", "skip", "gamma", "bias"}, []string{"y", "mean", "inv", "sum"})
	m, err := Decode(encode(t, mp))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	xv, sv, bv := x.Float64s(), skip.Float64s(), bias.Float64s()
	sum := make([]float64, len(xv))
	for i := range xv {
		sum[i] = xv[i] + sv[i%12] + bv[i%4]
	}
	y, inv := rmsRef(sum, 4, float64(float32(1e-5)), gamma.Float64s())
	for name, want := range map[string]*core.Tensor{
		"y":    core.FromFloat64s(core.Float32, x.Shape, y),
		"mean": core.Alloc(core.Float32, sh(2, 3, 1)),
		"inv":  core.FromFloat64s(core.Float32, sh(2, 3, 1), inv),
		"sum":  core.FromFloat64s(core.Float32, x.Shape, sum),
	} {
		if err := compareTensors(got[name], want, 1e-6, 1e-7); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSkipSimplifiedLayerNormORT(t *testing.T) {
	needORT(t)
	r := rand.New(rand.NewPCG(11, 12))
	eps := []*onnxpb.AttributeProto{aFloat("epsilon", 1e-6)}
	for _, tc := range []struct {
		name    string
		dt      core.DType
		x, skip []int64
		bias    bool
		attrs   []*onnxpb.AttributeProto
		outs    []string
		rtol    float64
	}{
		{"3-D, bias, all outputs", core.Float32, sh(2, 3, 8), sh(2, 3, 8), true, eps, []string{"y", "mean", "inv", "sum"}, 1e-5},
		{"skip [S, H]", core.Float32, sh(2, 3, 8), sh(3, 8), false, eps, []string{"y", "", "", "sum"}, 1e-5},
		{"skip [1, S, H]", core.Float32, sh(2, 3, 8), sh(1, 3, 8), true, eps, []string{"y"}, 1e-5},
		{"2-D", core.Float32, sh(5, 16), sh(5, 16), true, eps, []string{"y", "", "inv"}, 1e-5},
		{"default epsilon", core.Float32, sh(2, 4), sh(2, 4), false, nil, []string{"y"}, 1e-5}, // small inputs, see below
		{"bfloat16", core.BFloat16, sh(2, 2, 8), sh(2, 2, 8), true, eps, []string{"y", "", "inv", "sum"}, 1e-2},
		{"float16", core.Float16, sh(2, 2, 8), sh(2, 2, 8), true, eps, []string{"y", "", "inv", "sum"}, 2e-3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			feeds := map[string]*core.Tensor{
				"x": randT(r, tc.dt, tc.x...), "skip": randT(r, tc.dt, tc.skip...),
				"gamma": randT(r, tc.dt, tc.x[len(tc.x)-1]),
			}
			if tc.attrs == nil { // mean(s²) ≈ 1e-8: the default epsilon decides the result
				for _, k := range []string{"x", "skip"} {
					feeds[k] = core.FromFloat64s(tc.dt, feeds[k].Shape, scaled(feeds[k].Float64s(), 1e-4))
				}
			}
			ins := []string{"x", "skip", "gamma"}
			if tc.bias {
				feeds["bias"] = randT(r, tc.dt, tc.x[len(tc.x)-1])
				ins = append(ins, "bias")
			}
			mp := contribModel(ref.MsDomain, "SkipSimplifiedLayerNormalization", tc.attrs, feeds, ins, tc.outs)
			var types []core.DType
			for _, o := range tc.outs {
				switch o {
				case "y", "sum":
					types = append(types, tc.dt)
				case "mean", "inv":
					types = append(types, core.Float32)
				}
			}
			diffORT(t, typedOutputs(mp, types...), feeds, tc.rtol, 1e-6)
		})
	}
}

// ropeRef rotates each head of a [B, S, N·H] input by the non-interleaved
// (rotate-half) convention at positions start+s, with angles pos·θ_k given
// as cos/sin tables [P, H/2].
func ropeRef(x []float64, b, s, n, h int, start int, cos, sin []float64) []float64 {
	out := make([]float64, len(x))
	half := h / 2
	for bi := 0; bi < b; bi++ {
		for si := 0; si < s; si++ {
			p := start + si
			for ni := 0; ni < n; ni++ {
				off := ((bi*s+si)*n + ni) * h
				for k := 0; k < half; k++ {
					re, im := x[off+k], x[off+k+half]
					c, sn := cos[p*half+k], sin[p*half+k]
					out[off+k] = re*c - im*sn
					out[off+k+half] = re*sn + im*c
				}
			}
		}
	}
	return out
}

// ropeCaches are cos and sin of pos·10000^(−2k/dim), [positions, dim/2].
func ropeCaches(dt core.DType, positions, dim int) (*core.Tensor, *core.Tensor) {
	var c, s []float64
	for p := 0; p < positions; p++ {
		for k := 0; k < dim/2; k++ {
			a := float64(p) * math.Pow(10000, -2*float64(k)/float64(dim))
			c, s = append(c, math.Cos(a)), append(s, math.Sin(a))
		}
	}
	sh := []int64{int64(positions), int64(dim / 2)}
	return core.FromFloat64s(dt, sh, c), core.FromFloat64s(dt, sh, s)
}

func TestRotaryEmbedding(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const b, s, n, h, start = 2, 3, 2, 8, 4
	x := randT(r, core.Float32, b, s, n*h)
	cos, sin := ropeCaches(core.Float32, 16, h)
	mp := contribModel(ref.MsDomain, "RotaryEmbedding", nil,
		map[string]*core.Tensor{"x": x, "pos": i64Scalar(start), "cos": cos, "sin": sin},
		[]string{"x", "pos", "cos", "sin"}, []string{"y"})
	m, err := Decode(encode(t, mp))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Run(map[string]*core.Tensor{"x": x, "pos": i64Scalar(start), "cos": cos, "sin": sin})
	if err != nil {
		t.Fatal(err)
	}
	want := ropeRef(x.Float64s(), b, s, n, h, start, cos.Float64s(), sin.Float64s())
	if err := compareTensors(got["y"], core.FromFloat64s(core.Float32, x.Shape, want), 1e-6, 1e-7); err != nil {
		t.Error(err)
	}
	// The 4-D layout [B, N, S, H] gives the same numbers, transposed.
	x4 := transpose4(x, b, s, n, h)
	mp4 := contribModel(ref.MsDomain, "RotaryEmbedding", nil,
		map[string]*core.Tensor{"x": x4, "pos": i64Scalar(start), "cos": cos, "sin": sin},
		[]string{"x", "pos", "cos", "sin"}, []string{"y"})
	m4, err := Decode(encode(t, mp4))
	if err != nil {
		t.Fatal(err)
	}
	got4, err := m4.Run(map[string]*core.Tensor{"x": x4, "pos": i64Scalar(start), "cos": cos, "sin": sin})
	if err != nil {
		t.Fatal(err)
	}
	if err := compareTensors(got4["y"], transpose4(core.FromFloat64s(core.Float32, x.Shape, want), b, s, n, h), 1e-6, 1e-7); err != nil {
		t.Errorf("4-D: %v", err)
	}
}

// transpose4 turns [B, S, N·H] into [B, N, S, H].
func transpose4(x *core.Tensor, b, s, n, h int) *core.Tensor {
	v := x.Float64s()
	out := make([]float64, len(v))
	for bi := 0; bi < b; bi++ {
		for si := 0; si < s; si++ {
			for ni := 0; ni < n; ni++ {
				copy(out[((bi*n+ni)*s+si)*h:][:h], v[((bi*s+si)*n+ni)*h:][:h])
			}
		}
	}
	return core.FromFloat64s(x.DType, []int64{int64(b), int64(n), int64(s), int64(h)}, out)
}

func TestRotaryEmbeddingORT(t *testing.T) {
	needORT(t)
	r := rand.New(rand.NewPCG(15, 16))
	ids := core.NewInt64(sh(2, 3), []int64{0, 5, 2, 7, 7, 1})
	for _, tc := range []struct {
		name  string
		x     []int64
		pos   *core.Tensor
		rot   int // cache covers rot dims
		attrs []*onnxpb.AttributeProto
	}{
		{"3-D, start position", sh(2, 3, 16), i64Scalar(3), 8, nil},
		{"3-D, position ids", sh(2, 3, 16), ids, 8, nil},
		{"4-D", sh(2, 2, 3, 8), ids, 8, nil},
		{"4-D, start [1]", sh(1, 4, 5, 4), core.NewInt64(sh(1), []int64{2}), 4, nil},
		{"interleaved", sh(2, 3, 16), ids, 8, []*onnxpb.AttributeProto{aInt("interleaved", 1)}},
		{"4-D interleaved", sh(2, 2, 3, 8), i64Scalar(1), 8, []*onnxpb.AttributeProto{aInt("interleaved", 1)}},
		{"partial rotary dim", sh(2, 3, 16), ids, 4, []*onnxpb.AttributeProto{aInt("num_heads", 2), aInt("rotary_embedding_dim", 4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cos, sin := ropeCaches(core.Float32, 12, tc.rot)
			feeds := map[string]*core.Tensor{"x": randT(r, core.Float32, tc.x...), "pos": tc.pos, "cos": cos, "sin": sin}
			mp := contribModel(ref.MsDomain, "RotaryEmbedding", tc.attrs, feeds, []string{"x", "pos", "cos", "sin"}, []string{"y"})
			diffORT(t, typedOutputs(mp, core.Float32), feeds, 1e-5, 1e-6)
		})
	}
}

func TestContribErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	x := randT(r, core.Float32, 1, 2, 8)
	cos, sin := ropeCaches(core.Float32, 4, 8)
	rope := func(pos *core.Tensor, c *core.Tensor, attrs ...*onnxpb.AttributeProto) error {
		feeds := map[string]*core.Tensor{"x": x, "pos": pos, "cos": c, "sin": c}
		m, err := Decode(encode(t, contribModel(ref.MsDomain, "RotaryEmbedding", attrs, feeds, []string{"x", "pos", "cos", "sin"}, []string{"y"})))
		if err == nil {
			_, err = m.Run(feeds)
		}
		return err
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"position past the cache", rope(i64Scalar(3), cos), `position 4 (batch 0, token 1) is outside the cache's 4 positions`},
		{"negative position", rope(i64Scalar(-1), cos), `position -1 (batch 0, token 0)`},
		{"cache width", rope(i64Scalar(0), cos, aInt("num_heads", 1), aInt("rotary_embedding_dim", 6)), `rotary dim 6 must be even, at most the head size 8 and twice the cache width 4`},
		{"rotary dim without heads", rope(i64Scalar(0), cos, aInt("rotary_embedding_dim", 8)), `num_heads must be given with rotary_embedding_dim`},
		{"packed batching", rope(i64Scalar(0), cos, aInt("is_packed_batching", 1)), `is_packed_batching=1 (ragged batches) is not supported`},
		{"position ids shape", rope(core.NewInt64(sh(2), []int64{0, 1}), cos), `position_ids must have one element or shape [1 2], got [2]`},
		{"cache rank", rope(i64Scalar(0), f32(sh(4), 1, 2, 3, 4)), `cos_cache and sin_cache must have the same 2-D shape`},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, tc.err, tc.want)
		}
	}
	_ = sin

	// Types and attributes onnxruntime has no kernel for.
	d := map[string]*core.Tensor{"x": randT(r, core.Float64, 2, 4), "skip": randT(r, core.Float64, 2, 4), "gamma": randT(r, core.Float64, 4)}
	_, err := Decode(encode(t, contribModel(ref.MsDomain, "SkipSimplifiedLayerNormalization", nil, d, []string{"x", "skip", "gamma"}, []string{"y"})))
	if want := `input 0 has type float64, which the op does not accept`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("double SkipSimplifiedLayerNormalization: got %v, want %q", err, want)
	}
	_, err = Decode(encode(t, contribModel("", "SimplifiedLayerNormalization", []*onnxpb.AttributeProto{aInt("stash_type", 11)}, d, []string{"x", "gamma"}, []string{"y"})))
	if want := `attribute "stash_type": got 11, want 1`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("stash_type 11: got %v, want %q", err, want)
	}

	// The contrib domain must be imported.
	feeds := map[string]*core.Tensor{"x": x, "pos": i64Scalar(0), "cos": cos, "sin": sin}
	mp := contribModel(ref.MsDomain, "RotaryEmbedding", nil, feeds, []string{"x", "pos", "cos", "sin"}, []string{"y"})
	mp.OpsetImport = mp.OpsetImport[:1]
	if _, err := Decode(encode(t, mp)); err == nil || !strings.Contains(err.Error(), `domain "com.microsoft" is not imported by the model`) {
		t.Errorf("no com.microsoft import: got %v", err)
	}
	for _, c := range []struct {
		domain, op string
		want       bool
	}{
		{"", "SimplifiedLayerNormalization", true},
		{"ai.onnx", "SimplifiedLayerNormalization", true},
		{"com.microsoft", "SimplifiedLayerNormalization", false},
		{"com.microsoft", "SkipSimplifiedLayerNormalization", true},
		{"com.microsoft", "RotaryEmbedding", true},
		{"", "RotaryEmbedding", false},
		{"", "Loop", true},
		{"", "If", true},
	} {
		v := int64(17)
		if c.domain == "com.microsoft" {
			v = 1
		}
		if got := ref.Implements(c.domain, c.op, v); got != c.want {
			t.Errorf("Implements(%q, %q, %d) = %v, want %v", c.domain, c.op, v, got, c.want)
		}
	}
}

func scaled(v []float64, k float64) []float64 {
	for i := range v {
		v[i] *= k
	}
	return v
}
