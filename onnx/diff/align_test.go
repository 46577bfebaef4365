package graphdiff

import (
	"math/rand/v2"
	"testing"
)

func total(a, b []seqKey, steps []step) int32 {
	var s int32
	for _, st := range steps {
		if st.i >= 0 && st.j >= 0 {
			s += score(&a[st.i], &b[st.j])
		}
	}
	return s
}

func validAlignment(t *testing.T, n, m int, steps []step) {
	t.Helper()
	i, j := 0, 0
	for _, st := range steps {
		if st.i >= 0 {
			if st.i != i {
				t.Fatalf("a index %d, want %d", st.i, i)
			}
			i++
		}
		if st.j >= 0 {
			if st.j != j {
				t.Fatalf("b index %d, want %d", st.j, j)
			}
			j++
		}
		if st.i < 0 && st.j < 0 {
			t.Fatal("empty step")
		}
	}
	if i != n || j != m {
		t.Fatalf("covered %d/%d and %d/%d", i, n, j, m)
	}
}

func randomSeq(r *rand.Rand, n int) []seqKey {
	s := make([]seqKey, n)
	for i := range s {
		s[i] = seqKey{weak: uint64(r.IntN(3)), local: uint64(r.IntN(4)), deep: [2]uint64{uint64(r.IntN(6))}, down: [2]uint64{uint64(r.IntN(6))}, name: uint64(r.IntN(5))}
	}
	return s
}

// The linear-memory path finds alignments as good as the full DP.
func TestAlignHirschberg(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	saved := dpLimit
	defer func() { dpLimit = saved }()
	for trial := 0; trial < 200; trial++ {
		a, b := randomSeq(r, r.IntN(60)), randomSeq(r, r.IntN(60))
		dpLimit = 1 << 30
		full := align(a, b)
		dpLimit = 16
		hb := align(a, b)
		validAlignment(t, len(a), len(b), full)
		validAlignment(t, len(a), len(b), hb)
		if x, y := total(a, b, full), total(a, b, hb); x != y {
			t.Fatalf("trial %d: full DP scores %d, Hirschberg %d", trial, x, y)
		}
	}
}

// An insertion into a repeated sequence is one gap when the deep keys tell
// the copies apart.
func TestAlignInsertion(t *testing.T) {
	var a []seqKey
	for i := 0; i < 300; i++ {
		a = append(a, seqKey{weak: uint64(i % 3), local: uint64(i % 3), deep: [2]uint64{uint64(i)}, down: [2]uint64{uint64(i)}})
	}
	b := append(append(append([]seqKey(nil), a[:150]...), a[0:30]...), a[150:]...)
	for i := 150; i < 180; i++ {
		b[i].deep[1] = 1 // new values
	}
	steps := align(a, b)
	gaps, inGap := 0, false
	for _, st := range steps {
		if st.i < 0 || st.j < 0 {
			if !inGap {
				gaps++
			}
			inGap = true
		} else {
			inGap = false
		}
	}
	if gaps != 1 || len(steps) != 330 {
		t.Errorf("gaps %d, steps %d", gaps, len(steps))
	}
}

func BenchmarkAlign3000(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randomSeq(r, 3000), randomSeq(r, 3000)
	for b.Loop() {
		align(x, y)
	}
}
