package feed

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/mhcc-dev/mhcc/onnx/tensor"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// FromFloat64s makes a tensor of float type dt from v, rounding each value
// once to dt (float32, float16 and bfloat16 go through float32).
func FromFloat64s(dt mhrt.DType, shape []int64, v []float64) (*mhrt.Tensor, error) {
	if dt == mhrt.Float64 {
		return mhrt.New(dt, shape, v)
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return FromFloat32s(dt, shape, f)
}

// FromFloat32s makes a tensor of float type dt from v: float16 and
// bfloat16 round to nearest even, float64 widens exactly. v is kept (not
// copied) for float32.
func FromFloat32s(dt mhrt.DType, shape []int64, v []float32) (*mhrt.Tensor, error) {
	switch dt {
	case mhrt.Float16:
		return mhrt.NewFloat16(shape, v), nil
	case mhrt.BFloat16:
		return mhrt.NewBFloat16(shape, v), nil
	case mhrt.Float64:
		d := make([]float64, len(v))
		for i, x := range v {
			d[i] = float64(x)
		}
		return mhrt.New(dt, shape, d)
	}
	return mhrt.New(dt, shape, v)
}

// FromInt64s makes a tensor of numeric type dt from values that fit it.
func FromInt64s(dt mhrt.DType, shape []int64, v []int64) (*mhrt.Tensor, error) {
	if data, err := tensor.FromInt64s(int32(dt), v); err == nil {
		return mhrt.New(dt, shape, data)
	}
	if !dt.IsFloat() {
		return nil, fmt.Errorf("cannot make %v values", dt)
	}
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return FromFloat64s(dt, shape, f)
}

// A Rand draws generated inputs. It uses only the PCG source's raw bits, so
// that the same seed and stream give the same values with every Go release
// (math/rand/v2's derived methods may change).
type Rand struct {
	src   *rand.PCG
	spare float64
	has   bool
}

// NewRand returns a Rand on PCG stream (seed, stream).
func NewRand(seed, stream uint64) *Rand { return &Rand{src: rand.NewPCG(seed, stream)} }

// Normal draws from N(0, 1) by the Box-Muller transform.
func (r *Rand) Normal() float64 {
	if r.has {
		r.has = false
		return r.spare
	}
	u1 := (float64(r.src.Uint64()>>11) + 1) / (1 << 53) // (0, 1]
	u2 := float64(r.src.Uint64()>>11) / (1 << 53)       // [0, 1)
	rad := math.Sqrt(-2 * math.Log(u1))
	sin, cos := math.Sincos(2 * math.Pi * u2)
	r.spare, r.has = rad*sin, true
	return rad * cos
}

// IntN draws uniformly from [0, n), n > 0, without modulo bias (Lemire).
func (r *Rand) IntN(n uint64) uint64 {
	hi, lo := bits.Mul64(r.src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.src.Uint64(), n)
		}
	}
	return hi
}

// Bit draws a fair coin from the low bit of the source.
func (r *Rand) Bit() bool { return r.src.Uint64()&1 == 1 }
