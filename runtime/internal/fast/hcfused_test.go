package fast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

// TestHCFastAllocatesOnlyOutputs: a decode-sized call of each fused op (one
// token, n = 4, C = 256, float32) allocates its outputs (a Tensor, a shape
// and Elems' slice header each, the data of the small ones, and the slice
// holding them; the other data comes from the pool, which the test refills
// as the plan would) and nothing else: its scratch
// comes from the pool too and it stays on the calling goroutine.
func TestHCFastAllocatesOnlyOutputs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (see raceEnabled)")
	}
	const n, C = 4, 256
	m := n*n + 2*n
	f := func(shape ...int64) *core.Tensor {
		size := 1
		for _, d := range shape {
			size *= int(d)
		}
		v := make([]float32, size)
		for i := range v {
			v[i] = float32(i%7)*0.1 + 0.05
		}
		return core.NewFloat32(shape, v)
	}
	attr := func(name string, typ onnxpb.AttributeProto_AttributeType, fv float32, iv int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: typ.Enum(), F: proto.Float32(fv), I: proto.Int64(iv)}
	}
	eps := attr("eps", onnxpb.AttributeProto_FLOAT, 1e-6, 0)
	coeffAttrs := map[string]*onnxpb.AttributeProto{"eps": eps, "rms_eps": attr("rms_eps", onnxpb.AttributeProto_FLOAT, 1e-6, 0), "iters": attr("iters", onnxpb.AttributeProto_INT, 0, 20)}
	x, y, post := f(1, n, C), f(1, C), f(1, n)
	for _, tc := range []struct {
		op   string
		in   []*core.Tensor
		outs []string
	}{
		{"HCCoeffsSinkhorn", []*core.Tensor{x, f(int64(m), n*C), f(int64(m))}, []string{"pre", "post", "comb"}},
		{"HCPostCoeffsSinkhorn", []*core.Tensor{x, f(int64(m), n*C), f(int64(m)), y, post}, []string{"pre", "post", "comb"}},
		{"HCPremixNorm", []*core.Tensor{x, f(1, n), f(1, n, n), f(C)}, []string{"normed", "mixed"}},
		{"HCBoundary", []*core.Tensor{x, f(1, n), f(1, n, n), f(C), y, post}, []string{"normed", "mixed", ""}},
		{"HCCoeffsBoundary", []*core.Tensor{x, f(int64(m), n*C), f(int64(m)), f(C), y, post}, []string{"pre", "post", "comb", "normed", "mixed", ""}},
		{"HCHead", []*core.Tensor{x, f(n, n*C), f(n), f(1), f(C), y, post}, []string{"normed", ""}},
		{"HCHead", []*core.Tensor{x, f(n, n*C), f(n), f(1), f(C), y, f(n)}, []string{"normed", ""}}, // post shared
		// HCEntry: e is [1, C], y's shape.
		{"HCEntry", []*core.Tensor{y, f(int64(m), n*C), f(int64(m)), f(C)}, []string{"pre", "post", "comb", "normed", "mixed"}},
	} {
		attrs := map[string]*onnxpb.AttributeProto{"eps": eps}
		switch tc.op {
		case "HCCoeffsBoundary":
			attrs = map[string]*onnxpb.AttributeProto{"norm_eps": attr("norm_eps", onnxpb.AttributeProto_FLOAT, 1e-5, 0)}
			for k, v := range coeffAttrs {
				attrs[k] = v
			}
		case "HCCoeffsSinkhorn", "HCPostCoeffsSinkhorn":
			attrs = coeffAttrs
		case "HCHead":
			attrs = map[string]*onnxpb.AttributeProto{"eps": eps, "rms_eps": coeffAttrs["rms_eps"], "norm_eps": attr("norm_eps", onnxpb.AttributeProto_FLOAT, 1e-2, 0)}
		case "HCEntry":
			attrs = map[string]*onnxpb.AttributeProto{"norm_eps": attr("norm_eps", onnxpb.AttributeProto_FLOAT, 1e-2, 0), "streams": attr("streams", onnxpb.AttributeProto_INT, 0, n)}
			for k, v := range coeffAttrs {
				attrs[k] = v
			}
		}
		c := &core.Call{N: &core.Node{Domain: "ai.mhcc", OpType: tc.op, Outputs: tc.outs, Attrs: attrs}, Nout: len(tc.outs), Ops: Ops{}, Fn: hcFast}
		run := func() {
			for _, o := range hcFast(c, tc.in) {
				if o != nil {
					PutF32(o.Elems.([]float32))
				}
			}
		}
		want := 1.0 // the slice of outputs
		for _, o := range hcFast(c, tc.in) {
			if o != nil {
				want += 3 // the Tensor, its shape, Elems' boxed slice header
				if o.Len() < PoolMin {
					want++ // the pool does not keep buffers this small
				}
			}
		}
		if got := testing.AllocsPerRun(100, run); got > want {
			t.Errorf("%s: %.0f allocations per call, want at most %.0f (the outputs)", tc.op, got, want)
		}
	}
}

// A shape is a test call's tokens T and channels C.
type shape struct{ T, C int }

// hcTestShapes is the calls the kernels are tested on at n streams: few
// tokens and a GEMM's worth, with 4096 tokens (which the helper goroutines
// split) at n = 2 and 8.
func hcTestShapes(n int) []shape {
	shapes := []shape{{1, 24}, {3, 16}, {8, 24}, {37, 8}}
	if n == 2 || n == 8 {
		shapes = append(shapes, shape{4096, 16})
	}
	return shapes
}

// TestHCHeadKernelsMatchFloat64: HCHead's Fast form (per token and through
// the GEMM, on the calling goroutine and split over the helpers) and its
// Reference kernel against the op's definition (docs/fused-ops.md) in
// float64 on the same inputs, within 1e-5 relative (a float16 output
// within one float16 ulp of the float64 value rounded, plus that): float32
// and float16, n = 2…8, per-token and shared post, with and without the
// state output.
func TestHCHeadKernelsMatchFloat64(t *testing.T) {
	refHead := ref.LookupKernel(ref.MhccDomain, "HCHead", 1).Fn
	attr := func(name string, v float32) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
	}
	const eps, rmsEps, normEps = 1e-6, 1e-6, 1e-2
	attrs := map[string]*onnxpb.AttributeProto{"eps": attr("eps", eps), "rms_eps": attr("rms_eps", rmsEps), "norm_eps": attr("norm_eps", normEps)}
	for _, f16 := range []bool{false, true} {
		for n := 2; n <= 8; n++ {
			for _, sh := range hcTestShapes(n) {
				for _, shared := range []bool{false, true} {
					T, C := sh.T, sh.C
					r := rand.New(rand.NewPCG(uint64(n), uint64(T*1000+C)))
					draw := func(size int, f func() float64, isT bool) []float64 {
						v := make([]float64, size)
						for i := range v {
							x := float32(f())
							if isT && f16 {
								x = half.Float16ToFloat32(half.Float32ToFloat16(x))
							}
							v[i] = float64(x)
						}
						return v
					}
					fnScale := 1 / math.Sqrt(float64(n*C))
					x := draw(T*n*C, r.NormFloat64, true)
					fn := draw(n*n*C, func() float64 { return r.NormFloat64() * fnScale }, false)
					base := draw(n, func() float64 { return r.NormFloat64() * 0.5 }, false)
					scale := draw(1, func() float64 { return 0.5 + r.Float64() }, false)
					w := draw(C, func() float64 { return 1 + 0.1*r.NormFloat64() }, true)
					y := draw(T*C, r.NormFloat64, true)
					postT := T
					if shared {
						postT = 1
					}
					post := draw(postT*n, func() float64 { return 2 * r.Float64() }, false)

					// The definition in float64.
					wantN, wantS := make([]float64, T*C), make([]float64, T*n*C)
					for tk := range T {
						s := wantS[tk*n*C:][:n*C]
						p := post[(tk%postT)*n:][:n]
						ss := 0.0
						for k := range n {
							for i := range C {
								s[k*C+i] = x[tk*n*C+k*C+i] + p[k]*y[tk*C+i]
								ss += s[k*C+i] * s[k*C+i]
							}
						}
						rinv := 1 / math.Sqrt(ss/float64(n*C)+rmsEps)
						h := make([]float64, C)
						for k := range n {
							dot := 0.0
							for i, v := range s {
								dot += v * fn[k*n*C+i]
							}
							z := scale[0]*(dot*rinv) + base[k]
							pre := 1/(1+math.Exp(-z)) + eps
							for i := range C {
								h[i] += pre * s[k*C+i]
							}
						}
						hh := 0.0
						for _, v := range h {
							hh += v * v
						}
						inv := 1 / math.Sqrt(hh/float64(C)+normEps)
						for i := range C {
							wantN[tk*C+i] = h[i] * inv * w[i]
						}
					}

					tensor := func(v []float64, isT bool, shape ...int64) *core.Tensor {
						f := make([]float32, len(v))
						for i := range v {
							f[i] = float32(v[i])
						}
						if isT && f16 {
							return core.NewFloat16(shape, f)
						}
						return core.NewFloat32(shape, f)
					}
					postShape := []int64{int64(T), int64(n)}
					if shared {
						postShape = []int64{int64(n)}
					}
					in := []*core.Tensor{
						tensor(x, true, int64(T), int64(n), int64(C)), tensor(fn, false, int64(n), int64(n*C)),
						tensor(base, false, int64(n)), tensor(scale, false, 1), tensor(w, true, int64(C)),
						tensor(y, true, int64(T), int64(C)), tensor(post, false, postShape...),
					}
					for _, outs := range [][]string{{"normed", "state"}, {"normed", ""}} {
						name := fmt.Sprintf("f16=%v/n=%d/T=%d/C=%d/shared=%v/state=%v", f16, n, T, C, shared, outs[1] != "")
						c := &core.Call{N: &core.Node{Domain: ref.MhccDomain, OpType: "HCHead", Outputs: outs, Attrs: attrs}, Nout: len(outs), Ops: Ops{}, Fn: hcFast}
						for _, e := range []struct {
							name string
							fn   func(*core.Call, []*core.Tensor) []*core.Tensor
						}{{"Fast", hcFast}, {"Reference", refHead}} {
							got := e.fn(c, in)
							if len(got) != 2 || (got[1] != nil) != (outs[1] != "") {
								t.Fatalf("%s %s: outputs %v", e.name, name, got)
							}
							check := func(o string, g *core.Tensor, want []float64, shape ...int64) {
								if !slices.Equal(g.Shape, shape) || g.DType != in[0].DType {
									t.Fatalf("%s %s: %s is %v%v, want %v%v", e.name, name, o, g.DType, g.Shape, in[0].DType, shape)
								}
								gv := core.Widen(g).Elems.([]float32)
								bad := 0
								for i, wv := range want {
									tol := 1e-5 * math.Max(math.Abs(wv), 1)
									ref := wv
									if f16 {
										ref = float64(half.Float16ToFloat32(half.Float32ToFloat16(float32(wv))))
										tol += math.Max(math.Abs(ref)*math.Pow(2, -10), math.Pow(2, -24))
									}
									if d := math.Abs(float64(gv[i]) - ref); !(d <= tol) {
										if bad < 3 {
											t.Errorf("%s %s: %s[%d] = %.9g, want %.9g", e.name, name, o, i, gv[i], wv)
										}
										bad++
									}
								}
							}
							check("normed", got[0], wantN, int64(T), int64(C))
							if got[1] != nil {
								check("state", got[1], wantS, int64(T), int64(n), int64(C))
							}
						}
					}
				}
			}
		}
	}
}

// TestHCEntryKernelsMatchExpanded: HCEntry's Fast form (per token and
// through the GEMM, on the calling goroutine and split over the helpers)
// and its Reference kernel, which use that the n streams are equal, against
// its definition (docs/fused-ops.md): the Reference kernels of
// HCCoeffsSinkhorn and HCPremixNorm on the state x of n copies of e, within
// 1e-5 relative (a float16 output within one float16 ulp of the other,
// plus that): float32 and float16, n = 2…8.
func TestHCEntryKernelsMatchExpanded(t *testing.T) {
	refCoeffs := ref.LookupKernel(ref.MhccDomain, "HCCoeffsSinkhorn", 1).Fn
	refPremix := ref.LookupKernel(ref.MhccDomain, "HCPremixNorm", 1).Fn
	refEntry := ref.LookupKernel(ref.MhccDomain, "HCEntry", 1).Fn
	fattr := func(name string, v float32) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
	}
	iattr := func(name string, v int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
	}
	call := func(op string, outs []string, attrs ...*onnxpb.AttributeProto) *core.Call {
		a := map[string]*onnxpb.AttributeProto{}
		for _, v := range attrs {
			a[v.GetName()] = v
		}
		return &core.Call{N: &core.Node{Domain: ref.MhccDomain, OpType: op, Outputs: outs, Attrs: a}, Nout: len(outs), Ops: Ops{}, Fn: hcFast}
	}
	eps, rmsEps, iters, normEps := fattr("eps", 1e-6), fattr("rms_eps", 1e-6), iattr("iters", 20), fattr("norm_eps", 1e-2)
	for _, f16 := range []bool{false, true} {
		for n := 2; n <= 8; n++ {
			for _, sh := range hcTestShapes(n) {
				T, C, m := sh.T, sh.C, n*n+2*n
				r := rand.New(rand.NewPCG(uint64(n), uint64(T*1000+C)))
				vals := func(size int, f func() float64) []float32 {
					v := make([]float32, size)
					for i := range v {
						v[i] = float32(f())
					}
					return v
				}
				tensor := func(v []float32, isT bool, shape ...int64) *core.Tensor {
					if isT && f16 {
						return core.NewFloat16(shape, v)
					}
					return core.NewFloat32(shape, v)
				}
				fnScale := 1 / math.Sqrt(float64(n*C))
				e := vals(T*C, r.NormFloat64)
				x := make([]float32, 0, T*n*C) // n copies of each token's e
				for tk := range T {
					for range n {
						x = append(x, e[tk*C:][:C]...)
					}
				}
				fn := tensor(vals(m*n*C, func() float64 { return r.NormFloat64() * fnScale }), false, int64(m), int64(n*C))
				base := tensor(vals(m, func() float64 { return r.NormFloat64() * 0.5 }), false, int64(m))
				w := tensor(vals(C, func() float64 { return 1 + 0.1*r.NormFloat64() }), true, int64(C))
				et, xt := tensor(e, true, int64(T), int64(C)), tensor(x, true, int64(T), int64(n), int64(C))

				coeffs := refCoeffs(call("HCCoeffsSinkhorn", []string{"pre", "post", "comb"}, eps, rmsEps, iters), []*core.Tensor{xt, fn, base})
				premix := refPremix(call("HCPremixNorm", []string{"normed", "mixed"}, fattr("eps", normEps.GetF())), []*core.Tensor{xt, coeffs[0], coeffs[2], w})
				want := append(coeffs, premix...)
				names := []string{"pre", "post", "comb", "normed", "mixed"}
				c := call("HCEntry", names, iattr("streams", int64(n)), eps, rmsEps, iters, normEps)
				for _, k := range []struct {
					name string
					fn   func(*core.Call, []*core.Tensor) []*core.Tensor
				}{{"Fast", hcFast}, {"Reference", refEntry}} {
					name := fmt.Sprintf("%s f16=%v/n=%d/T=%d/C=%d", k.name, f16, n, T, C)
					got := k.fn(c, []*core.Tensor{et, fn, base, w})
					if len(got) != 5 {
						t.Fatalf("%s: %d outputs, want 5", name, len(got))
					}
					for i, g := range got {
						if !slices.Equal(g.Shape, want[i].Shape) || g.DType != want[i].DType {
							t.Fatalf("%s: %s is %v%v, want %v%v", name, names[i], g.DType, g.Shape, want[i].DType, want[i].Shape)
						}
						gv, wv := core.Widen(g).Elems.([]float32), core.Widen(want[i]).Elems.([]float32)
						bad := 0
						for q := range wv {
							tol := 1e-5 * math.Max(math.Abs(float64(wv[q])), 1)
							if g.DType == core.Float16 {
								tol += math.Max(math.Abs(float64(wv[q]))*math.Pow(2, -10), math.Pow(2, -24))
							}
							if d := math.Abs(float64(gv[q] - wv[q])); !(d <= tol) {
								if bad < 3 {
									t.Errorf("%s: %s[%d] = %.9g, want %.9g", name, names[i], q, gv[q], wv[q])
								}
								bad++
							}
						}
					}
				}
			}
		}
	}
}
