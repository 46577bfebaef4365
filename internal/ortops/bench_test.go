package ortops_test

import (
	"fmt"
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// BenchmarkFusedOps times one onnxruntime run of the four-op graph of
// TestKernelsMatchBodiesAndReference at decode size (one token, n = 4,
// C = 256 and 1024), with the library's kernels and with the function
// bodies, on one thread, and one run of the same graph in mhcc's Go runtime
// with its kernels (go-kernels).
func BenchmarkFusedOps(b *testing.B) {
	needLib(b)
	for _, c := range []int64{256, 1024} {
		benchFused(b, []int64{1}, c)
	}
}

// BenchmarkFusedOpsPrefill is the same at prefill size: 256 tokens at
// C = 1024 (bench/fused.md's prefill), kernels on 1 and 2 threads.
func BenchmarkFusedOpsPrefill(b *testing.B) {
	needLib(b)
	fc := newFusedCase(b, ir.Float32, []int64{1, 256}, 4, 1024, 1)
	data := fc.ONNX(b)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("%s/kernels/threads%d", fc, threads), func(b *testing.B) {
			p := fc.prepare(b, data, true, threads)
			defer p.close()
			for b.Loop() {
				if err := p.s.Run(p.ins, p.outs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchFused(b *testing.B, lead []int64, c int64) {
	{
		fc := newFusedCase(b, ir.Float32, lead, 4, c, 1)
		data := fc.ONNX(b)
		b.Run(fc.String()+"/go-kernels", func(b *testing.B) {
			m, err := mhrt.Decode(data)
			if err != nil {
				b.Fatal(err)
			}
			in := map[string]*mhrt.Tensor{}
			for name, v := range fc.Inputs {
				f := make([]float32, len(v))
				for i := range v {
					f[i] = float32(v[i])
				}
				in[name] = mhrt.NewFloat32(fc.Shapes[name], f)
			}
			for b.Loop() {
				if _, err := m.Run(in); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, withLib := range []bool{true, false} {
			name := fc.String() + "/bodies"
			if withLib {
				name = fc.String() + "/kernels"
			}
			b.Run(name, func(b *testing.B) {
				p := fc.prepare(b, data, withLib, 1)
				defer p.close()
				for b.Loop() {
					if err := p.s.Run(p.ins, p.outs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
