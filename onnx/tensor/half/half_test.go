package half

import (
	"math"
	"testing"
)

func TestFloat16Known(t *testing.T) {
	cases := []struct {
		bits uint16
		f    float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504},
		{0x0001, 5.9604645e-08}, {0x03ff, 6.097555e-05}, {0x0400, 6.1035156e-05},
		{0x3555, 0.33325195}, {0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	}
	for _, c := range cases {
		if got := Float16ToFloat32(c.bits); got != c.f {
			t.Errorf("Float16ToFloat32(%#04x) = %g, want %g", c.bits, got, c.f)
		}
		if got := Float32ToFloat16(c.f); got != c.bits {
			t.Errorf("Float32ToFloat16(%g) = %#04x, want %#04x", c.f, got, c.bits)
		}
	}
}

// Every binary16 value widens and narrows back to itself, and the midpoint
// between two neighbours rounds to the even one.
func TestFloat16RoundTripAll(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := Float16ToFloat32(h)
		if f != f {
			if g := Float32ToFloat16(f); Float16ToFloat32(g) == Float16ToFloat32(g) {
				t.Fatalf("NaN %#04x narrowed to non-NaN %#04x", h, g)
			}
			continue
		}
		if g := Float32ToFloat16(f); g != h && !(f == 0 && g&0x7fff == 0) {
			t.Fatalf("round trip %#04x -> %g -> %#04x", h, f, g)
		}
		if h&0x7fff >= 0x7bff { // no finite upper neighbour
			continue
		}
		mid := (float64(f) + float64(Float16ToFloat32(h+1))) / 2
		want := h
		if h&1 == 1 {
			want = h + 1
		}
		if math.Signbit(float64(f)) { // h+1 is further from zero; even rule is on bits all the same
			want = h
			if h&1 == 1 {
				want = h + 1
			}
		}
		if got := Float32ToFloat16(float32(mid)); float64(float32(mid)) == mid && got != want {
			t.Fatalf("midpoint %g of %#04x/%#04x rounded to %#04x, want %#04x", mid, h, h+1, got, want)
		}
	}
}

func TestBFloat16(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := BFloat16ToFloat32(h)
		if f != f {
			continue
		}
		if g := Float32ToBFloat16(f); g != h {
			t.Fatalf("round trip %#04x -> %g -> %#04x", h, f, g)
		}
	}
	if got := Float32ToBFloat16(1.00390625); got != 0x3f80 { // exactly halfway between 1 and 1+2^-7: ties to even
		t.Errorf("tie rounded to %#04x, want 0x3f80", got)
	}
	if got := Float32ToBFloat16(float32(math.NaN())); BFloat16ToFloat32(got) == BFloat16ToFloat32(got) {
		t.Errorf("NaN narrowed to %#04x, not a NaN", got)
	}
}
