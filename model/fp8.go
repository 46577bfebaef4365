package model

import (
	"math"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/safetensors"
)

// FP8 weights (docs/spec.md §4.2): DeepSeek-V3/V4 checkpoints store most
// linear weights as float8 E4M3 (torch.float8_e4m3fn: no infinities, one
// NaN pattern per sign) with one float32 scale per 128×128 block of the
// weight, in a companion tensor. mhcc multiplies each value by its block's
// scale on load (as DeepSeek's weight_dequant does) and computes in float32.

// fp8Block is the side of a block sharing one scale.
const fp8Block = 128

// E4M3ToFloat32 decodes one float8 E4M3 (the OCP 8-bit floating point
// specification's E4M3, torch's float8_e4m3fn): sign, 4 exponent bits of
// bias 7, 3 mantissa bits; exponent 0 is subnormal (2^-6·m/8), and
// S.1111.111 is NaN (there are no infinities).
func E4M3ToFloat32(b byte) float32 {
	sign := float32(1)
	if b&0x80 != 0 {
		sign = -1
	}
	e := int(b>>3) & 0xF
	m := float32(b & 7)
	switch {
	case e == 0xF && b&7 == 7:
		return float32(math.NaN())
	case e == 0:
		return sign * m / 8 * (1.0 / 64)
	}
	return sign * (1 + m/8) * float32(math.Ldexp(1, e-7))
}

// e4m3Table is E4M3ToFloat32 of every byte.
var e4m3Table = func() (t [256]float32) {
	for i := range t {
		t[i] = E4M3ToFloat32(byte(i))
	}
	return t
}()

// fp8ScaleNames are the names a block scale of the FP8 tensor name may
// have: Hugging Face's "<name>_scale_inv" ("….weight_scale_inv") and the
// DeepSeek reference code's "….scale" beside "….weight".
func fp8ScaleNames(name string) []string {
	names := []string{name + "_scale_inv"}
	if base, ok := strings.CutSuffix(name, ".weight"); ok {
		names = append(names, base+".scale")
	}
	return names
}

// fp8ScaleShape is the shape a block scale of an FP8 tensor of shape must
// have: one scale per 128×128 block, the last blocks partial.
func fp8ScaleShape(shape []int64) []int64 {
	out := make([]int64, len(shape))
	for i, d := range shape {
		out[i] = (d + fp8Block - 1) / fp8Block
	}
	return out
}

// scaleDTypes are the dtypes a block scale may have.
func scaleDType(dt safetensors.DType) bool {
	return dt == safetensors.F32 || dt == safetensors.BF16 || dt == safetensors.F16
}
