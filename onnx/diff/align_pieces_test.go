package graphdiff

import (
	"math/rand/v2"
	"testing"
)

// TestAlignPieces: past alignCells the alignment is piecewise, still valid,
// filling about pieceCells per piece: cells near-linear in the length, not
// n·m. Identical sequences still align fully (they are trimmed first).
func TestAlignPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	savedA, savedP := alignCells, pieceCells
	defer func() { alignCells, pieceCells = savedA, savedP }()
	alignCells, pieceCells = 1<<12, 1<<8
	for trial := 0; trial < 50; trial++ {
		a, b := randomSeq(r, 100+r.IntN(400)), randomSeq(r, 100+r.IntN(400))
		steps := align(a, b)
		validAlignment(t, len(a), len(b), steps)
		if total(a, b, steps) == 0 {
			t.Fatalf("trial %d: nothing paired", trial)
		}
	}
	a := randomSeq(r, 5000)
	steps := align(a, a)
	validAlignment(t, len(a), len(a), steps)
	for _, s := range steps {
		if s.i != s.j {
			t.Fatalf("identical sequences: step %v", s)
		}
	}
}
