package fast

import (
	goruntime "runtime"
	"sync"
)

// A packed, blocked float32 GEMM in the style of BLIS/GotoBLAS: C = A·B with
// A m×k and B k×n (either given as its transpose, transA or transB), summing in
// float32 as onnxruntime's MLAS does. The loops block C into NR-column
// panels of B (packed, kc×NR, contiguous) and MR-row panels of A (packed,
// kc×MR), and a micro-kernel multiplies one A panel by one B panel into an
// MR×NR tile of C held in registers. Which micro-kernel runs is decided once,
// at start-up: on an amd64 CPU with AVX-512, the assembly kernel
// (gemm_amd64.s; not with -tags purego), else the simd/archsimd one in a
// GOEXPERIMENT=simd build (gemm_simd.go), else none, and float32 products go
// to gonum (matmul.go).
// MicroGeneric is the portable kernel the tests also drive the packed
// driver with, so the blocking and edge handling are checked in every build.
// matMulNaive (float64 sums) is the oracle for all of them.

const (
	gemmMR = 8           // rows of a micro-tile
	gemmNR = 32          // columns of a micro-tile (two 16-lane vectors)
	gemmKC = 256         // depth of a packed panel: kc×NR floats of B stay in L1
	gemmMC = 32 * gemmMR // rows of A packed at once (stays in L2)
	gemmNC = 64 * gemmNR // columns of B packed at once
)

// A MicroKernel computes the MR×NR tile c (row stride ldc) as the product of
// an A panel a (kc×MR, a[p*MR+i] = A[i,p]) and a B panel b (kc×NR,
// b[p*NR+j] = B[p,j]); with acc it adds the product to c, else it overwrites c.
type MicroKernel func(kc int, a, b, c []float32, ldc int, acc bool)

// SIMDKernel is the hardware micro-kernel the runtime uses, nil where there
// is none: the assembly one (gemm_amd64.s) where it is built and the CPU has
// AVX-512, else the simd/archsimd one (gemm_simd.go) in a GOEXPERIMENT=simd
// build. AsmKernel and ArchsimdKernel are each of them, for the tests.
var SIMDKernel, AsmKernel, ArchsimdKernel MicroKernel

// A RowsMicroKernel is a MicroKernel that reads A in place: the MR rows
// start at a, lda floats apart, and the tile is A[0:MR, 0:kc] · b.
type RowsMicroKernel func(kc int, a []float32, lda int, b, c []float32, ldc int, acc bool)

// RowsKernel is the assembly RowsMicroKernel where there is one (amd64 with
// AVX-512, not purego), else nil. The product with pre-packed weights
// (SgemmPacked) uses it for every full MR-row tile.
var RowsKernel RowsMicroKernel

// A RowKernel computes one row of C against panels NR-column panels of B:
// C[0, 0:NR·panels] = (or += with acc) Σ_p A[p]·B[p, ·], with A[p] at
// a[p·as] and B[p, q·NR + j] at b[p·brs + q·bps + j]. Each element is the
// micro-kernel's chain of fused multiply-adds (from zero, p in order, then
// plus C with acc), so a row computed by it equals the same row of a
// MicroKernel tile bit for bit.
type RowKernel1 func(kc int, a []float32, as int, b []float32, brs, bps int, c []float32, panels int, acc bool)

// RowKernel is the assembly RowKernel1 where there is one (amd64 with
// AVX-512, not purego), else nil. macro uses it for blocks of at most
// rowKernelRows rows, where the 8-row micro-kernel would spend most of its
// multiply-adds on the zero rows packA pads the block with: a decode step
// multiplies one token's row by every weight, so without it 7/8 of the
// step's GEMM work was padding (half the CPU time of a hidden-256 decode
// step, measured with go test ./runtime -bench DecodeStep -cpuprofile).
var RowKernel RowKernel1

// rowKernelRows is the most rows a block may have for macro to compute it
// row by row with RowKernel: each row reads the packed B block again (from
// cache), against the 8-row kernel's MR/rows-fold excess multiply-adds.
const rowKernelRows = 4

// gemmOp is one product to compute with the packed driver.
type gemmOp struct {
	m, n, k int
	a       []float32 // m×k with row stride lda, or k×m with transA
	lda     int
	transA  bool
	b       []float32 // k×n with row stride ldb, or n×k with transB
	ldb     int
	transB  bool
	c       []float32 // m×n, row stride ldc
	ldc     int
	kern    MicroKernel
	pa, pb  []float32       // packing buffers (per goroutine)
	pre     *PackedB        // B packed beforehand (then b is unused), or nil
	rows    RowsMicroKernel // with pre: reads full row tiles of A in place, or nil
	preJ0   int             // the first column of B this product covers
	tile    [gemmMR * gemmNR]float32
}

var gemmBufs = sync.Pool{New: func() any { return new(gemmOp) }}

// grow returns buf with room for n floats, reallocating only when it is short.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// Sgemm computes c = a·b with kern, a stored transposed (k×m) if transA and
// b (n×k) if transB, splitting the work among up to workers goroutines by
// columns or by rows, whichever has more micro-tiles.
func Sgemm(kern MicroKernel, m, n, k int, a []float32, lda int, transA bool, b []float32, ldb int, transB bool, c []float32, ldc int, workers int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	run := func(i0, i1, j0, j1 int) {
		g := gemmBufs.Get().(*gemmOp)
		g.m, g.n, g.k = i1-i0, j1-j0, k
		if transA {
			g.a = a[i0:]
		} else {
			g.a = a[i0*lda:]
		}
		g.lda, g.transA = lda, transA
		if transB {
			g.b = b[j0*ldb:]
		} else {
			g.b = b[j0:]
		}
		g.ldb, g.transB = ldb, transB
		g.c, g.ldc = c[i0*ldc+j0:], ldc
		g.kern = kern
		g.run()
		g.a, g.b, g.c = nil, nil, nil
		gemmBufs.Put(g)
	}
	// Below ~64k multiply-adds per goroutine, starting one costs more than it saves.
	workers = min(workers, max(1, m*n*k/(1<<16)))
	if workers <= 1 {
		run(0, m, 0, n)
		return
	}
	if rowTiles := (m + gemmMR - 1) / gemmMR; rowTiles >= 2*workers {
		sgemmShared(kern, m, n, k, a, lda, transA, b, ldb, transB, c, ldc, workers)
		return
	}
	var wg sync.WaitGroup
	if colTiles := (n + gemmNR - 1) / gemmNR; colTiles >= (m+gemmMR-1)/gemmMR {
		workers = min(workers, colTiles)
		per := (colTiles + workers - 1) / workers * gemmNR
		for j := 0; j < n; j += per {
			wg.Go(func() { run(0, m, j, min(n, j+per)) })
		}
	} else {
		rowTiles := (m + gemmMR - 1) / gemmMR
		workers = min(workers, rowTiles)
		per := (rowTiles + workers - 1) / workers * gemmMR
		for i := 0; i < m; i += per {
			wg.Go(func() { run(i, min(m, i+per), 0, n) })
		}
	}
	wg.Wait()
}

// sgemmShared is Sgemm for workers goroutines that share each packed block
// of B: for every kc×nc block they first pack its panels together, then each
// multiplies its own rows of A by it. Splitting C into independent products
// instead would have every goroutine pack all of B.
func sgemmShared(kern MicroKernel, m, n, k int, a []float32, lda int, transA bool, b []float32, ldb int, transB bool, c []float32, ldc int, workers int) {
	gs := make([]*gemmOp, workers)
	for w := range gs {
		g := gemmBufs.Get().(*gemmOp)
		g.m, g.n, g.k = m, n, k
		g.a, g.lda, g.transA = a, lda, transA
		g.b, g.ldb, g.transB = b, ldb, transB
		g.c, g.ldc, g.kern = c, ldc, kern
		g.pa = grow(g.pa, min(gemmKC, k)*(min(gemmMC, m)+gemmMR-1)/gemmMR*gemmMR)
		gs[w] = g
	}
	shared := gs[0].pb
	shared = grow(shared, min(gemmKC, k)*(min(gemmNC, n)+gemmNR-1)/gemmNR*gemmNR)
	rowTiles := (m + gemmMR - 1) / gemmMR
	rowsPer := (rowTiles + workers - 1) / workers * gemmMR
	var wg sync.WaitGroup
	for jc := 0; jc < n; jc += gemmNC {
		nc := min(gemmNC, n-jc)
		panels := (nc + gemmNR - 1) / gemmNR
		panelsPer := (panels + workers - 1) / workers
		for pc := 0; pc < k; pc += gemmKC {
			kc := min(gemmKC, k-pc)
			for w, g := range gs {
				q0, q1 := w*panelsPer, min(panels, (w+1)*panelsPer)
				if q0 >= q1 {
					continue
				}
				wg.Go(func() {
					own := g.pb
					g.pb = shared[q0*kc*gemmNR:]
					g.packB(pc, kc, jc+q0*gemmNR, min(nc, q1*gemmNR)-q0*gemmNR)
					g.pb = own
				})
			}
			wg.Wait()
			for w, g := range gs {
				i0, i1 := w*rowsPer, min(m, (w+1)*rowsPer)
				if i0 >= i1 {
					continue
				}
				wg.Go(func() {
					own := g.pb
					g.pb = shared
					for ic := i0; ic < i1; ic += gemmMC {
						mc := min(gemmMC, i1-ic)
						g.packA(ic, mc, pc, kc)
						g.macro(ic, mc, jc, nc, kc, pc > 0)
					}
					g.pb = own
				})
			}
			wg.Wait()
		}
	}
	gs[0].pb = shared
	for _, g := range gs {
		g.a, g.b, g.c = nil, nil, nil
		gemmBufs.Put(g)
	}
}

// run is the serial blocked product of g.
func (g *gemmOp) run() {
	if g.pre != nil {
		g.runPacked()
		return
	}
	if g.m <= rowKernelRows && !g.transB && RowKernel != nil {
		g.runRowsInPlace()
		return
	}
	kc, mc, nc := min(gemmKC, g.k), min(gemmMC, g.m), min(gemmNC, g.n)
	g.pa = grow(g.pa, kc*(mc+gemmMR-1)/gemmMR*gemmMR)
	g.pb = grow(g.pb, kc*(nc+gemmNR-1)/gemmNR*gemmNR)
	for jc := 0; jc < g.n; jc += gemmNC {
		nc := min(gemmNC, g.n-jc)
		for pc := 0; pc < g.k; pc += gemmKC {
			kc := min(gemmKC, g.k-pc)
			g.packB(pc, kc, jc, nc)
			for ic := 0; ic < g.m; ic += gemmMC {
				mc := min(gemmMC, g.m-ic)
				g.packA(ic, mc, pc, kc)
				g.macro(ic, mc, jc, nc, kc, pc > 0)
			}
		}
	}
}

// runRowsInPlace is run for at most rowKernelRows rows of A and a B not
// transposed: RowKernel reads A's rows and B's full NR-column panels where
// they are (B's rows are ldb floats apart, a panel NR floats from the
// next), and only a last, partial panel is packed. Packing B would copy all
// of it for a product that reads it once per row: the attention of a
// decode step (the weights by the cache's values, a row by k × 64).
func (g *gemmOp) runRowsInPlace() {
	full := g.n / gemmNR
	w := g.n - full*gemmNR
	for pc := 0; pc < g.k; pc += gemmKC {
		kc := min(gemmKC, g.k-pc)
		acc := pc > 0
		if w > 0 {
			g.pb = grow(g.pb, kc*gemmNR)
			g.packB(pc, kc, full*gemmNR, w)
		}
		for i := range g.m {
			var a []float32
			as := 1
			if g.transA {
				a, as = g.a[pc*g.lda+i:], g.lda
			} else {
				a = g.a[i*g.lda+pc:]
			}
			off := i * g.ldc
			if full > 0 {
				RowKernel(kc, a, as, g.b[pc*g.ldb:], g.ldb, gemmNR, g.c[off:], full, acc)
			}
			if w > 0 {
				RowKernel(kc, a, as, g.pb, gemmNR, kc*gemmNR, g.tile[:gemmNR], 1, false)
				g.putTile(off+full*gemmNR, 1, w, acc)
			}
		}
	}
}

// runPacked is run with B packed beforehand: no B packing, and all columns
// in one sweep, so each A block is packed once.
func (g *gemmOp) runPacked() {
	if g.rows != nil && !g.transA {
		g.runPackedRows()
		return
	}
	own := g.pb
	pk := g.pre
	g.pa = grow(g.pa, min(gemmKC, g.k)*(min(gemmMC, g.m)+gemmMR-1)/gemmMR*gemmMR)
	for pc := 0; pc < g.k; pc += gemmKC {
		kc := min(gemmKC, g.k-pc)
		g.pb = pk.data[pc*pk.panels*gemmNR+(g.preJ0/gemmNR)*kc*gemmNR:]
		for ic := 0; ic < g.m; ic += gemmMC {
			mc := min(gemmMC, g.m-ic)
			g.packA(ic, mc, pc, kc)
			g.macro(ic, mc, 0, g.n, kc, pc > 0)
		}
	}
	g.pb = own
}

// packedRowsNB is how many columns of a packed B block runPackedRows
// multiplies each A tile by before it moves to the next tile: kc×NB floats,
// 256 KB at kc = 256, which stay in L2 while every tile of A meets them.
// Sweeping all of B's columns per tile instead streamed the block from L3
// once per 8 rows wherever it was larger than L2: an FFN weight (kc × 2816
// floats, 2.9 MB) ran at 112 GFLOP/s against 165–169 blocked, on an Intel
// Xeon with 2 MB of L2 per core (BenchmarkSgemmPacked; 4 to 8 panels were
// the fastest of 1 to 32).
const packedRowsNB = 8 * gemmNR

// runPackedRows is runPacked with the full MR-row tiles of A read in place
// by g.rows; only a last, partial tile is packed. Each tile of A rows meets
// every panel of B in turn, so its kc×MR floats stay in L1.
func (g *gemmOp) runPackedRows() {
	own := g.pb
	pk := g.pre
	full := g.m / gemmMR * gemmMR
	if full < g.m {
		g.pa = grow(g.pa, min(gemmKC, g.k)*gemmMR)
	}
	for pc := 0; pc < g.k; pc += gemmKC {
		kc := min(gemmKC, g.k-pc)
		bp := pk.data[pc*pk.panels*gemmNR+(g.preJ0/gemmNR)*kc*gemmNR:]
		acc := pc > 0
		for jb := 0; jb < g.n; jb += packedRowsNB {
			jend := min(g.n, jb+packedRowsNB)
			for i0 := 0; i0 < full; i0 += gemmMR {
				a := g.a[i0*g.lda+pc:]
				for j0 := jb; j0 < jend; j0 += gemmNR {
					panel := bp[(j0/gemmNR)*kc*gemmNR:][:kc*gemmNR]
					off := i0*g.ldc + j0
					w := min(gemmNR, g.n-j0)
					if w == gemmNR {
						g.rows(kc, a, g.lda, panel, g.c[off:], g.ldc, acc)
						continue
					}
					g.rows(kc, a, g.lda, panel, g.tile[:], gemmNR, false)
					g.putTile(off, gemmMR, w, acc)
				}
			}
		}
		if rest := g.m - full; rest > 0 && rest <= rowKernelRows && RowKernel != nil {
			// The last rows in place, without packing them: what macroRows
			// computes from the packed copy, the same bits.
			panels := g.n / gemmNR
			w := g.n - panels*gemmNR
			for i := full; i < g.m; i++ {
				a, off := g.a[i*g.lda+pc:], i*g.ldc
				if panels > 0 {
					RowKernel(kc, a, 1, bp, gemmNR, kc*gemmNR, g.c[off:], panels, acc)
				}
				if w > 0 {
					RowKernel(kc, a, 1, bp[panels*kc*gemmNR:], gemmNR, kc*gemmNR, g.tile[:gemmNR], 1, false)
					g.putTile(off+panels*gemmNR, 1, w, acc)
				}
			}
		} else if full < g.m {
			g.pb = bp
			g.packA(full, g.m-full, pc, kc)
			g.macro(full, g.m-full, 0, g.n, kc, acc)
		}
	}
	g.pb = own
}

// A PackedB is a constant B (k×n) packed once, when the plan is made, in
// the layout the micro-kernels read: for each KC-row block, its NR-column
// panels in order, each kc×NR row-major, the last padded with zeros. It
// replaces the weight matrix it was made from (unpack gives that back).
type PackedB struct {
	K, N   int // B is K×N
	panels int // ⌈n/NR⌉
	data   []float32
}

// PackConstB packs b (k×n, or n×k if transB).
func PackConstB(b []float32, k, n int, transB bool) *PackedB {
	pk := &PackedB{K: k, N: n, panels: (n + gemmNR - 1) / gemmNR}
	pk.data = make([]float32, k*pk.panels*gemmNR)
	g := &gemmOp{n: n, k: k, b: b, ldb: n, transB: transB}
	if transB {
		g.ldb = k
	}
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		g.pb = pk.data[pc*pk.panels*gemmNR:][:kc*pk.panels*gemmNR]
		g.packB(pc, kc, 0, n)
	}
	return pk
}

// Unpack returns the matrix pk was packed from: k×n, or n×k if transB.
func (pk *PackedB) Unpack(transB bool) []float32 {
	k, n := pk.K, pk.N
	out := make([]float32, k*n)
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		block := pk.data[pc*pk.panels*gemmNR:]
		for q := 0; q < pk.panels; q++ {
			panel := block[q*kc*gemmNR:][:kc*gemmNR]
			for p := 0; p < kc; p++ {
				for j := 0; j < gemmNR && q*gemmNR+j < n; j++ {
					col, v := q*gemmNR+j, panel[p*gemmNR+j]
					if transB {
						out[col*k+pc+p] = v
					} else {
						out[(pc+p)*n+col] = v
					}
				}
			}
		}
	}
	return out
}

// SgemmPacked is Sgemm with B packed beforehand.
func SgemmPacked(kern MicroKernel, rows RowsMicroKernel, m int, a []float32, lda int, pk *PackedB, c []float32, ldc int, workers int) {
	n, k := pk.N, pk.K
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	run := func(i0, i1, j0, j1 int) {
		g := gemmBufs.Get().(*gemmOp)
		g.m, g.n, g.k = i1-i0, j1-j0, k
		g.a, g.lda, g.transA = a[i0*lda:], lda, false
		g.pre, g.preJ0, g.rows = pk, j0, rows
		g.c, g.ldc = c[i0*ldc+j0:], ldc
		g.kern = kern
		g.run()
		g.a, g.c, g.pre, g.rows = nil, nil, nil, nil
		gemmBufs.Put(g)
	}
	workers = min(workers, max(1, m*n*k/(1<<16)))
	if workers <= 1 {
		run(0, m, 0, n)
		return
	}
	// Each chunk (ParallelFor makes several per worker) reads all of the
	// operand it does not split, so split the one whose other is smaller:
	// the columns of B while A has fewer rows than B has columns (a
	// prefill's tokens against the weights), each chunk then reading only
	// its part of B and all of A, which is cached. Split by rows, every
	// chunk read all of the weights, from memory: at hidden 1024 and 256
	// tokens two workers spent 39% more CPU time in the GEMM than one, and
	// a 256×1024×2816 product whose weights were not cached ran at
	// 222 GFLOP/s on two workers against 296 split by columns
	// (BenchmarkSgemmPackedCold).
	rowTiles := (m + gemmMR - 1) / gemmMR
	if pk.panels < workers || m > n && rowTiles >= workers {
		ParallelFor(rowTiles, workers, func(t0, t1 int) {
			run(t0*gemmMR, min(m, t1*gemmMR), 0, n)
		})
		return
	}
	ParallelFor(pk.panels, workers, func(q0, q1 int) {
		run(0, m, q0*gemmNR, min(n, q1*gemmNR))
	})
}

// packB copies B[pc:pc+kc, jc:jc+nc] into g.pb as NR-column panels, each
// kc×NR row-major, the last one padded with zeros.
func (g *gemmOp) packB(pc, kc, jc, nc int) {
	pb := g.pb
	for j0 := 0; j0 < nc; j0 += gemmNR {
		w := min(gemmNR, nc-j0)
		panel := pb[(j0/gemmNR)*kc*gemmNR:][:kc*gemmNR]
		if g.transB {
			// B[p, j] = Bt[j, p]: walk Bt's rows, writing a column of the panel each.
			for j := 0; j < w; j++ {
				src := g.b[(jc+j0+j)*g.ldb+pc:][:kc]
				for p, v := range src {
					panel[p*gemmNR+j] = v
				}
			}
			if w < gemmNR {
				for p := 0; p < kc; p++ {
					clear(panel[p*gemmNR+w : (p+1)*gemmNR])
				}
			}
			continue
		}
		for p := 0; p < kc; p++ {
			dst := panel[p*gemmNR : (p+1)*gemmNR]
			copy(dst, g.b[(pc+p)*g.ldb+jc+j0:][:w])
			clear(dst[w:])
		}
	}
}

// packA copies A[ic:ic+mc, pc:pc+kc] into g.pa as MR-row panels, each
// kc×MR with a[p*MR+i] = A[i, p], the last one padded with zeros.
func (g *gemmOp) packA(ic, mc, pc, kc int) {
	pa := g.pa
	for i0 := 0; i0 < mc; i0 += gemmMR {
		h := min(gemmMR, mc-i0)
		panel := pa[(i0/gemmMR)*kc*gemmMR:][:kc*gemmMR]
		if g.transA {
			// A[i, p] = At[p, i]: rows of At are rows of the panel.
			for p := 0; p < kc; p++ {
				copy(panel[p*gemmMR:][:h], g.a[(pc+p)*g.lda+ic+i0:][:h])
			}
		} else {
			for i := 0; i < h; i++ {
				src := g.a[(ic+i0+i)*g.lda+pc:][:kc]
				for p, v := range src {
					panel[p*gemmMR+i] = v
				}
			}
		}
		if h < gemmMR {
			for p := 0; p < kc; p++ {
				clear(panel[p*gemmMR+h : (p+1)*gemmMR])
			}
		}
	}
}

// macro runs the micro-kernel over every tile of the packed blocks; edge
// tiles go through g.tile and only their valid part reaches C.
func (g *gemmOp) macro(ic, mc, jc, nc, kc int, acc bool) {
	if mc <= rowKernelRows && RowKernel != nil {
		g.macroRows(ic, mc, jc, nc, kc, acc)
		return
	}
	for j0 := 0; j0 < nc; j0 += gemmNR {
		w := min(gemmNR, nc-j0)
		bp := g.pb[(j0/gemmNR)*kc*gemmNR:][:kc*gemmNR]
		for i0 := 0; i0 < mc; i0 += gemmMR {
			h := min(gemmMR, mc-i0)
			ap := g.pa[(i0/gemmMR)*kc*gemmMR:][:kc*gemmMR]
			off := (ic+i0)*g.ldc + jc + j0
			if h == gemmMR && w == gemmNR {
				g.kern(kc, ap, bp, g.c[off:], g.ldc, acc)
				continue
			}
			g.kern(kc, ap, bp, g.tile[:], gemmNR, false)
			g.putTile(off, h, w, acc)
		}
	}
}

// macroRows is macro for a block of mc ≤ rowKernelRows rows (one packed A
// panel): each row against all of the block's panels with RowKernel, the
// last partial panel through g.tile.
func (g *gemmOp) macroRows(ic, mc, jc, nc, kc int, acc bool) {
	full := nc / gemmNR
	w := nc - full*gemmNR
	for i := range mc {
		a := g.pa[i:]
		off := (ic+i)*g.ldc + jc
		if full > 0 {
			RowKernel(kc, a, gemmMR, g.pb, gemmNR, kc*gemmNR, g.c[off:], full, acc)
		}
		if w > 0 {
			RowKernel(kc, a, gemmMR, g.pb[full*kc*gemmNR:], gemmNR, kc*gemmNR, g.tile[:gemmNR], 1, false)
			g.putTile(off+full*gemmNR, 1, w, acc)
		}
	}
}

// putTile writes the h×w corner of g.tile (an edge tile, computed whole)
// into C at off, adding it with acc.
func (g *gemmOp) putTile(off, h, w int, acc bool) {
	for i := range h {
		dst := g.c[off+i*g.ldc:][:w]
		src := g.tile[i*gemmNR:][:w]
		if acc {
			for j, v := range src {
				dst[j] += v
			}
		} else {
			copy(dst, src)
		}
	}
}

// MicroGeneric is the portable micro-kernel: plain Go, float32 sums.
func MicroGeneric(kc int, a, b, c []float32, ldc int, acc bool) {
	var t [gemmMR * gemmNR]float32
	for p := 0; p < kc; p++ {
		bp := (*[gemmNR]float32)(b[p*gemmNR:])
		ap := (*[gemmMR]float32)(a[p*gemmMR:])
		for i, av := range ap {
			row := (*[gemmNR]float32)(t[i*gemmNR:])
			for j, bv := range bp {
				row[j] += av * bv
			}
		}
	}
	for i := 0; i < gemmMR; i++ {
		dst := c[i*ldc:][:gemmNR]
		src := t[i*gemmNR:][:gemmNR]
		if acc {
			for j, v := range src {
				dst[j] += v
			}
		} else {
			copy(dst, src)
		}
	}
}

// MicroRowsGeneric is the portable RowsMicroKernel, the tests' check of
// runPackedRows in every build.
func MicroRowsGeneric(kc int, a []float32, lda int, b, c []float32, ldc int, acc bool) {
	var pa [gemmKC * gemmMR]float32
	for p := range kc {
		for i := range gemmMR {
			pa[p*gemmMR+i] = a[i*lda+p]
		}
	}
	MicroGeneric(kc, pa[:kc*gemmMR], b, c, ldc, acc)
}

// Workers is how many goroutines a product may use.
func Workers() int { return goruntime.GOMAXPROCS(0) }

// GEMMKernel describes the float32 GEMM micro-kernel this build runs on
// this CPU, for benchmark reports (runtime.Kernels).
func GEMMKernel() string {
	switch {
	case AsmKernel != nil:
		return "AVX-512 assembly GEMM micro-kernel"
	case ArchsimdKernel != nil:
		return "AVX-512 GEMM micro-kernel (simd/archsimd)"
	}
	return "gonum blas32 GEMM"
}
