package graphdiff

// The aligner: a weighted longest common subsequence of two canonical node
// sequences. Two nodes may be paired only when their weak keys agree (same
// op, domain and arity). A pair scores
//
//	1  for the weak key,
//	+2 when the local keys agree (same attributes, same kinds of inputs),
//	+4 when the deep hashes agree (the same computation upstream),
//	+4 when the downstream hashes agree (the same role downstream),
//	+2 when the node names agree, else +1 when their mhcc IR node names do.
//
// and the alignment maximises the total. Exact matches anchor it, so
// repeated structure (layers, Sinkhorn iterations) aligns with its true
// counterpart and an insertion shows up as one gap; the upstream and
// downstream hashes weigh the same, so where the graph itself cannot tell
// two explanations apart (the first nodes of an inserted layer compute what
// the following head computed before) the names decide. Remaining ties go
// to the alignment that pairs nodes as early as possible.
//
// Time is O(n·m) for what is left after trimming the common prefix and
// suffix; memory is O(n·m) int32 cells up to dpLimit cells and linear beyond
// (Hirschberg's divide and conquer).

// alignCells bounds the cells one alignment fills in total. Past it (two
// chains of a million nodes that share little would need 10^12), rec cuts
// both sides into as many equal pieces as keep each piece's table near
// pieceCells and aligns piece k with piece k: work near-linear in the
// length, an alignment still valid and exact within each piece, optimal no
// longer across them (the diff of graphs that different is mostly "all
// replaced" anyway).
var alignCells = int64(1) << 28

// pieceCells is the table size of one piece past alignCells.
var pieceCells = int64(1) << 16

// dpLimit is the largest table the quadratic-memory DP fills (16 MiB);
// tests lower it to exercise the linear-memory path.
var dpLimit = 1 << 22

type seqKey struct {
	deep, down [2]uint64
	local      uint64
	weak       uint64
	name, ir   uint64 // 0: unnamed
}

func score(a, b *seqKey) int32 {
	if a.weak != b.weak {
		return 0
	}
	s := int32(1)
	if a.local == b.local {
		s += 2
	}
	if a.deep == b.deep {
		s += 4
	}
	if a.down == b.down {
		s += 4
	}
	switch {
	case a.name != 0 && a.name == b.name:
		s += 2
	case a.ir != 0 && a.ir == b.ir:
		s++
	}
	return s
}

// sure reports whether pairing a with b is part of some optimal alignment
// whatever surrounds them: no pair involving either can score more.
func sure(a, b *seqKey) bool {
	return a.weak == b.weak && a.deep == b.deep && a.down == b.down && a.name == b.name
}

// A step of an alignment: a pair (both ≥ 0), a deletion (j < 0) or an
// insertion (i < 0); indices are sequence positions.
type step struct{ i, j int }

// align returns the steps of an optimal alignment of a and b, in order.
func align(a, b []seqKey) []step {
	steps := make([]step, 0, len(a)+len(b)) // the most an alignment has: growing it would copy
	p := 0
	for p < len(a) && p < len(b) && sure(&a[p], &b[p]) {
		steps = append(steps, step{p, p})
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && sure(&a[len(a)-1-s], &b[len(b)-1-s]) {
		s++
	}
	al := aligner{a: a, b: b}
	if n, m := int64(len(a)-s-p), int64(len(b)-s-p); n*m > alignCells {
		al.pieces(p, len(a)-s, p, len(b)-s, &steps)
	} else {
		al.rec(p, len(a)-s, p, len(b)-s, &steps)
	}
	for k := s; k > 0; k-- {
		steps = append(steps, step{len(a) - k, len(b) - k})
	}
	return steps
}

type aligner struct {
	a, b []seqKey
	buf  []int32 // full's table, reused from piece to piece
}

// pieces aligns a[i0:i1] with b[j0:j1] piecewise (see alignCells).
func (al *aligner) pieces(i0, i1, j0, j1 int, out *[]step) {
	n, m := int64(i1-i0), int64(j1-j0)
	k := int64(1)
	for (n/k+1)*(m/k+1) > pieceCells && k < max(n, m) {
		k *= 2
	}
	for p := range k {
		al.rec(i0+int(n*p/k), i0+int(n*(p+1)/k), j0+int(m*p/k), j0+int(m*(p+1)/k), out)
	}
}

// rec aligns a[i0:i1] with b[j0:j1], appending the steps.
func (al *aligner) rec(i0, i1, j0, j1 int, out *[]step) {
	n, m := i1-i0, j1-j0
	switch {
	case n == 0:
		for j := j0; j < j1; j++ {
			*out = append(*out, step{-1, j})
		}
		return
	case m == 0:
		for i := i0; i < i1; i++ {
			*out = append(*out, step{i, -1})
		}
		return
	case n <= 1 || m <= 1 || (n+1)*(m+1) <= dpLimit:
		al.full(i0, i1, j0, j1, out)
		return
	}
	mid := i0 + n/2
	f := al.forward(i0, mid, j0, j1)
	g := al.backward(mid, i1, j0, j1)
	best, k := int32(-1), 0
	for x := 0; x <= m; x++ {
		if v := f[x] + g[x]; v >= best { // ties: give the first half room to pair early
			best, k = v, x
		}
	}
	al.rec(i0, mid, j0, j0+k, out)
	al.rec(mid, i1, j0+k, j1, out)
}

// forward returns f[x] = best score of a[i0:i1] against b[j0:j0+x].
func (al *aligner) forward(i0, i1, j0, j1 int) []int32 {
	m := j1 - j0
	prev, cur := make([]int32, m+1), make([]int32, m+1)
	for i := i0; i < i1; i++ {
		cur[0] = 0
		for x := 1; x <= m; x++ {
			v := max(prev[x], cur[x-1])
			if s := score(&al.a[i], &al.b[j0+x-1]); s > 0 {
				v = max(v, prev[x-1]+s)
			}
			cur[x] = v
		}
		prev, cur = cur, prev
	}
	return prev
}

// backward returns g[x] = best score of a[i0:i1] against b[j0+x:j1].
func (al *aligner) backward(i0, i1, j0, j1 int) []int32 {
	m := j1 - j0
	prev, cur := make([]int32, m+1), make([]int32, m+1)
	for i := i1 - 1; i >= i0; i-- {
		cur[m] = 0
		for x := m - 1; x >= 0; x-- {
			v := max(prev[x], cur[x+1])
			if s := score(&al.a[i], &al.b[j0+x]); s > 0 {
				v = max(v, prev[x+1]+s)
			}
			cur[x] = v
		}
		prev, cur = cur, prev
	}
	return prev
}

// full is the quadratic-memory DP over suffixes, traced forwards so that
// among optimal alignments the earliest pairs win.
func (al *aligner) full(i0, i1, j0, j1 int, out *[]step) {
	n, m := i1-i0, j1-j0
	w := m + 1
	if cap(al.buf) < (n+1)*w {
		al.buf = make([]int32, (n+1)*w)
	}
	suf := al.buf[:(n+1)*w] // suf[i*w+j]: best score of a[i0+i:i1] against b[j0+j:j1]
	clear(suf[n*w:])        // the last row and, below, the last column: the loop writes the rest
	for i := n - 1; i >= 0; i-- {
		row, down := suf[i*w:], suf[(i+1)*w:]
		row[m] = 0
		for j := m - 1; j >= 0; j-- {
			v := max(down[j], row[j+1])
			if s := score(&al.a[i0+i], &al.b[j0+j]); s > 0 {
				v = max(v, down[j+1]+s)
			}
			row[j] = v
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		if i < n && j < m {
			if s := score(&al.a[i0+i], &al.b[j0+j]); s > 0 && suf[i*w+j] == suf[(i+1)*w+j+1]+s {
				*out = append(*out, step{i0 + i, j0 + j})
				i, j = i+1, j+1
				continue
			}
		}
		if i < n && suf[i*w+j] == suf[(i+1)*w+j] {
			*out = append(*out, step{i0 + i, -1})
			i++
		} else {
			*out = append(*out, step{-1, j0 + j})
			j++
		}
	}
}
