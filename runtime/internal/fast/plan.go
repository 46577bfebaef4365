package fast

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

// The execution plan of the Fast engine. Decode turns the sorted graph into
// a list of steps over numbered value slots, so a run indexes a slice
// instead of hashing names, and knows in advance after which step each
// intermediate is dead. makePlan does it in stages, each a function:
//
//  1. fuse: the fusions table below, tried on every node;
//  2. packWeights: constant MatMul weights packed once for the GEMM, and
//     packHCProjections: the fused mHC ops' constant fn likewise;
//  3. slots and liveness: a slot per value, freed after its last reader;
//  4. planRecycling: which float32 buffers go back to the pool, and when.
//
// A fused-away value's slot is never filled; RunWith falls back to the
// graph as written when RunOptions.Outputs asks for one. The Reference
// engine never runs the plan: it walks the graph as written (the runtime
// package's runGraph).

// A fusionRule is one row of the fusions table: a pattern of nodes the fast
// engine runs as one.
type fusionRule struct {
	Name string
	// Match returns d's fused copy and the producers it absorbs (their
	// outputs then have no slot), or nil when d does not match. A fused copy
	// runs kernel.
	Match  func(g *planGraph, d *core.Node) (fused *core.Node, absorbed []*core.Node)
	Kernel core.KernelFunc
	Reason string // why the fusion pays, and why it computes the same thing
}

// Fusions is the plan's table of fusions. A node takes the first row that
// matches; the patterns are disjoint (a matched op is never an absorbed one),
// so the order of the rows does not change the plan.
var Fusions = []fusionRule{
	{
		Name: "matmul_transpose", Match: matchMatMulTranspose, Kernel: matMulFused,
		Reason: "MatMul(Transpose(x, perm swapping the last two dims), …), either operand: " +
			"the MatMul reads x transposed (its packing step does that for free) and the Transpose never runs; " +
			"this is how the exporter writes every linear layer (x · Wᵀ) and attention's Q·Kᵀ",
	},
	{
		Name: "sinkhorn_half_step", Match: matchHalfStep, Kernel: normSum,
		Reason: "Div(x, Add(ReduceSum(x, one axis, keepdims), ε)), ε a constant scalar: one Sinkhorn half-step, " +
			"x / (Σ_axis x + ε), in one pass with the same roundings as the three nodes; " +
			"an mHC sublayer has 2 per iteration, so this turns 3·2·20 nodes into 40",
	},
	{
		Name: "sinkhorn_gemm_half_step", Match: matchGemmHalfStep, Kernel: normSum,
		Reason: "Div(x, Gemm(x, M, ε)), M the 0/1 matrix summing rows or columns of flattened n×n matrices " +
			"(the \"gemm\" Sinkhorn lowering): the same half-step; a GEMM with 16 columns is mostly overhead " +
			"(on decoder-256 its 312 Gemms took 1.2 ms of a 10.8 ms run)",
	},
	{
		Name: "mean_square", Match: matchMeanSquare, Kernel: ref.Reduce(ref.MeanSquareR),
		Reason: "ReduceMean(Pow(x, 2)), the RMS pattern of the norms and the mHC coefficients " +
			"(onnxruntime fuses it too): one reduction of x's squares, without the squared tensor",
	},
}

// planGraph is what the fusion rules look at: the graph as written, the
// producer of each value, which values a caller sees, and how often each
// value is read as a MatMul operand.
type planGraph struct {
	m        *core.Model
	prod     []int32 // by value number: the index in m.TopoNodes of its producer, -1 for none
	isOutput map[string]bool
	mmReads  map[string]int
}

// producer is the node that computes the value called name, or nil (a
// graph input, an initializer or a capture).
func (g *planGraph) producer(name string) *core.Node {
	if id, ok := g.m.ID[name]; ok && g.prod[id] >= 0 {
		return g.m.TopoNodes[g.prod[id]]
	}
	return nil
}

// single reports whether the value has exactly one reader and is no graph
// output: a fusion may absorb its producer.
func (g *planGraph) single(name string) bool { return g.m.UsesOf(name) == 1 && !g.isOutput[name] }

// fuse applies the fusions table to m.nodes and returns the nodes to run,
// fused copies in place of the nodes they rewrite, absorbed nodes left out;
// it marks the absorbed nodes' outputs gone in p.
func fuse(m *core.Model, p *Plan, isOutput map[string]bool) []*core.Node {
	g := &planGraph{m: m, prod: make([]int32, len(m.Types)), isOutput: isOutput, mmReads: map[string]int{}}
	for i := range g.prod {
		g.prod[i] = -1
	}
	for i, n := range m.TopoNodes {
		for _, o := range n.Outputs {
			if id, ok := m.ID[o]; ok && o != "" {
				g.prod[id] = int32(i)
			}
		}
		if n.OpType == "MatMul" && n.Domain == "" {
			for _, in := range n.Inputs[:2] {
				g.mmReads[in]++
			}
		}
	}
	rewritten := map[*core.Node]*core.Node{}
	absorbed := map[*core.Node]bool{}
	for _, d := range m.TopoNodes {
	rules:
		for _, r := range Fusions {
			f, abs := r.Match(g, d)
			if f == nil {
				continue
			}
			for _, a := range abs {
				if rewritten[a] != nil {
					continue rules // one node in two fusions: keep the first
				}
			}
			k := *f.K
			k.Fn = r.Kernel
			f.K = &k
			rewritten[d] = f
			for _, a := range abs {
				absorbed[a] = true
				for _, o := range a.Outputs {
					if o != "" {
						p.Gone[o] = true
					}
				}
			}
			break
		}
	}
	order := make([]*core.Node, 0, len(m.TopoNodes)-len(absorbed))
	for _, n := range m.TopoNodes {
		if absorbed[n] {
			continue
		}
		if f := rewritten[n]; f != nil {
			n = f
		}
		order = append(order, n)
	}
	return order
}

// fusedCopy is a copy of d, with its own kernel entry, reading inputs.
func fusedCopy(d *core.Node, inputs []string) *core.Node {
	c := *d
	c.Inputs = inputs
	k := *d.K
	c.K = &k
	f := *fusionOf(d)
	c.Fused = &f
	return &c
}

// fusionOf is what the plan fused into n: the zero fusion for a node as
// written.
func fusionOf(n *core.Node) *fusion {
	if f, ok := n.Fused.(*fusion); ok {
		return f
	}
	return &fusion{}
}

// matchMatMulTranspose matches a MatMul reading, as operand 0 or 1, a
// Transpose swapping the last two dims whose output every reader reads so
// (and no caller sees): the fused copy reads the Transpose's input with
// fz.transA or fz.transB set.
func matchMatMulTranspose(g *planGraph, d *core.Node) (*core.Node, []*core.Node) {
	if d.OpType != "MatMul" || d.Domain != "" {
		return nil, nil
	}
	var c *core.Node
	var abs []*core.Node
	for i := range 2 {
		in := d.Inputs[i]
		t := g.producer(in)
		if t == nil || !swapsLast2(t) || g.mmReads[in] != g.m.UsesOf(in) || g.isOutput[in] {
			continue
		}
		if c == nil {
			c = fusedCopy(d, slices.Clone(d.Inputs))
		}
		c.Inputs[i] = t.Inputs[0]
		if i == 0 {
			fusionOf(c).transA = true
		} else {
			fusionOf(c).transB = true
		}
		abs = append(abs, t)
	}
	return c, abs
}

// A fusion is what the plan folded into a node.
type fusion struct {
	transA, transB bool     // MatMul: read operand 0 or 1 transposed
	packed         *packedB // MatMul: operand 1, a constant, packed for the GEMM (gemm.go)

	// Div as a Sinkhorn half-step: y = x / (Σ_sumAxis x + sumEps).
	sumAxis int64
	sumEps  float32
	// sumSquare > 0: x is [T, n²] (the "gemm" lowering's flattened n×n
	// matrices, n = sumSquare) and the sum runs along axis sumAxis of x
	// viewed as [T, n, n].
	sumSquare int
}

// A Plan is the fused, slot-indexed form of a model's graph.
type Plan struct {
	groups [][]int // storage groups: slots whose values may share a buffer (see recycle)
	steps  []step
	// The steps' slot and group lists, each step's a window (step.at …).
	slots, frees, recycles []int32
	nslots                 int
	// value name → slot: the model's value numbers (core.Model.ID), one
	// slot per value, so the plan holds no map of its own.
	slot  map[string]int32
	inits []slotTensor // initializers that are not graph inputs
	Gone  map[string]bool
	// Constant weights the plan keeps only in packed form (MatMul's B);
	// runGraph unpacks them when it needs them.
	Packed map[string]packedWeight
}

type packedWeight struct {
	Pk     *packedB
	TransB bool
	Dtype  core.DType
	Shape  []int64
}

type slotTensor struct {
	slot int32
	t    *core.Tensor
}

// A step runs one node, c.N (possibly a fused copy of it). Its lists are
// windows of the plan's arrays, read through p.in, p.out, p.free and
// p.recycle: a graph of 10^6 nodes has as many steps, and four slice
// headers would be most of a step's size (issue 17).
type step struct {
	c     core.Call // the call of c.N, made once
	fresh bool      // the op's outputs never share storage with its inputs
	// p.slots[at:at+nin]: input slots (-1 for an omitted input), then nout
	// output slots (-1 for an omitted output).
	at, nin, nout uint32
	fr, nfree     uint32 // p.frees[fr:fr+nfree]: slots no later step reads, ascending
	// p.recycles[rc:rc+nrec]: storage groups whose last member dies at
	// this step; their buffers made by fresh-output ops go back to the pool.
	rc, nrec uint32
}

// in is st's input slots; -1 for an omitted input.
func (p *Plan) in(st *step) []int32 { return p.slots[st.at : st.at+st.nin] }

// out is st's output slots; -1 for an omitted output.
func (p *Plan) out(st *step) []int32 {
	return p.slots[st.at+st.nin : st.at+st.nin+st.nout]
}

// free is the slots no step after st reads, ascending.
func (p *Plan) free(st *step) []int32 { return p.frees[st.fr : st.fr+st.nfree] }

// recycle is the storage groups (p.groups) whose last member dies at st.
func (p *Plan) recycle(st *step) []int32 { return p.recycles[st.rc : st.rc+st.nrec] }

// Computes reports whether the plan has every value of want.
func (p *Plan) Computes(want []string) bool {
	for _, name := range want {
		if p.Gone[name] {
			return false
		}
	}
	return true
}

// MakePlan builds m's plan from m.nodes (topologically sorted).
func MakePlan(m *core.Model) *Plan {
	p := &Plan{Gone: map[string]bool{}}
	isOutput := map[string]bool{}
	for _, v := range m.Outputs {
		isOutput[v.Name] = true
	}
	order := fuse(m, p, isOutput)
	order = packWeights(m, p, order, isOutput)
	packHCProjections(m, order)
	last, pinned := assignSlots(m, p, order)
	p.planRecycling(last, pinned)
	p.setOutTypes(m)
	return p
}

// setOutTypes gives each step's call the inferred types of its outputs, so
// that RunCall checks them without a lookup by name per output and call
// (7% of a hidden-256 decode step's CPU time went to those lookups).
func (p *Plan) setOutTypes(m *core.Model) {
	total := 0
	for i := range p.steps {
		total += len(p.steps[i].c.N.Outputs)
	}
	// One array for every step's types: a graph of 10^6 nodes would
	// otherwise add as many small allocations to its plan.
	all := make([]core.DType, total)
	for i := range p.steps {
		st := &p.steps[i]
		k := len(st.c.N.Outputs)
		st.c.OutTypes, all = all[:k:k], all[k:]
		for j, name := range st.c.N.Outputs {
			if name != "" {
				st.c.OutTypes[j] = m.TypeOf(name)
			}
		}
	}
}

// assignSlots gives every value of order a slot (its number in m's value
// table) and makes p's steps, each freeing the slots no later step reads.
// It returns, for each slot, the index of the last step reading it (-1 for
// none), and which slots stay for the whole run (initializers and graph
// inputs). The steps and their slot lists are allocated once, at their
// final size: a graph of 10^6 nodes has as many steps.
func assignSlots(m *core.Model, p *Plan, order []*core.Node) (last []int32, pinned []bool) {
	slotOf := func(name string) int32 {
		if name == "" {
			return -1
		}
		s, ok := m.ID[name]
		if !ok { // not reached: decoding defined every name a node reads
			s = m.AddValue(name, core.Undefined)
		}
		return s
	}
	for name, t := range m.Inits {
		if _, isInput := m.DeclIn[name]; !isInput {
			p.inits = append(p.inits, slotTensor{slotOf(name), t})
		}
	}
	nargs := 0
	for _, n := range order {
		nargs += len(n.Inputs) + len(n.Outputs)
		for _, name := range n.Inputs {
			slotOf(name)
		}
		for _, name := range n.Outputs {
			slotOf(name)
		}
	}
	p.slot = m.ID
	p.nslots = len(m.Types)
	last = make([]int32, p.nslots)
	for i := range last {
		last[i] = -1
	}
	p.slots = make([]int32, 0, nargs)
	p.steps = make([]step, len(order))
	for i, n := range order {
		st := &p.steps[i]
		*st = step{c: core.Call{N: n, Nout: len(n.Outputs), Ops: Ops{}, Fn: Kernel(n.K)},
			at: uint32(len(p.slots)), nin: uint32(len(n.Inputs)), nout: uint32(len(n.Outputs))}
		for _, in := range n.Inputs {
			s := slotOf(in)
			p.slots = append(p.slots, s)
			if s >= 0 {
				last[s] = int32(i)
			}
		}
		for _, o := range n.Outputs {
			s := slotOf(o)
			p.slots = append(p.slots, s)
			if s >= 0 && last[s] < 0 {
				last[s] = int32(i) // never read: dead right after it is made
			}
		}
	}
	// Initializers and graph inputs stay; every other slot is freed after
	// its last reader (RunWith keeps the ones the caller asked for).
	pinned = make([]bool, p.nslots)
	for _, it := range p.inits {
		pinned[it.slot] = true
	}
	for name := range m.DeclIn {
		pinned[p.slot[name]] = true
	}
	total := uint32(0)
	for s, i := range last {
		if i >= 0 && !pinned[s] {
			p.steps[i].nfree++
			total++
		}
	}
	p.frees = make([]int32, total)
	at := uint32(0)
	for i := range p.steps {
		p.steps[i].fr = at
		at += p.steps[i].nfree
		p.steps[i].nfree = 0 // counts again as the list fills
	}
	for s, i := range last { // ascending slots: each list comes out sorted
		if i >= 0 && !pinned[s] {
			st := &p.steps[i]
			p.frees[st.fr+st.nfree] = int32(s)
			st.nfree++
		}
	}
	return last, pinned
}

// freshOps are ops whose kernels always return new storage for every
// output; viewOps may return input 0's storage (a reshaped view, or the
// input itself) for output 0 and fresh storage otherwise. Any other op is
// assumed to return storage shared with any of its inputs.
var (
	freshOps = map[string]bool{
		"Add": true, "Sub": true, "Mul": true, "Div": true, "MatMul": true,
		"Softmax": true, "Sigmoid": true, "Where": true, "Concat": true,
		"Transpose": true, "Slice": true, "Expand": true, "Neg": true,
		"Sqrt": true, "Reciprocal": true, "Exp": true, "Gather": true,
		"Shape": true, "Range": true, "Equal": true, "Less": true, "Greater": true,
		"Pow": true, "Gemm": true,
	}
	viewOps = map[string]bool{
		"Reshape": true, "Flatten": true, "Squeeze": true, "Unsqueeze": true,
		"Identity": true, "Cast": true, "CastLike": true,
		"ReduceSum": true, "ReduceMean": true, "ReduceMax": true, "ReduceMin": true,
		"ReduceProd": true, "ReduceSumSquare": true, "ReduceL1": true, "ReduceL2": true,
		"ReduceLogSum": true, "ReduceLogSumExp": true,
	}
)

// freshKernel reports whether n is an ai.mhcc fused op running the
// runtime's kernel (not its function body), whose outputs are always new
// storage (hcfused.go).
func freshKernel(n *core.Node) bool {
	_, fused := ref.FusedHCOps[n.OpType]
	return fused && n.Domain == ref.MhccDomain && n.Fn == nil
}

// planRecycling groups the slots whose values may share storage (a view and
// what it views, every input and output of an op not known to be fresh or a
// view) and finds the step after which each group is dead. A group with a
// pinned slot (an initializer or graph input) never dies. At a group's death
// runPlan returns the float32 buffers its fresh-op members were made with to
// the pool (pool.go), unless the caller asked for one of its values.
func (p *Plan) planRecycling(last []int32, pinned []bool) {
	parent := make([]int32, p.nslots)
	for i := range parent {
		parent[i] = int32(i)
	}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	union := func(a, b int32) {
		if a >= 0 && b >= 0 {
			parent[find(a)] = find(b)
		}
	}
	for i := range p.steps {
		st := &p.steps[i]
		n, in, out := st.c.N, p.in(st), p.out(st)
		switch {
		case n.Domain == "" && freshOps[n.OpType], freshKernel(n):
			st.fresh = true
		case n.Domain == "" && viewOps[n.OpType]:
			if len(in) > 0 && len(out) > 0 {
				union(out[0], in[0])
			}
		default:
			for _, o := range out {
				for _, s := range in {
					union(o, s)
				}
				union(o, out[0])
			}
		}
	}
	// A group dies at the last step reading any member, unless a member is
	// pinned or never made by a step. death is indexed by the group's root;
	// parent is reused for each slot's root.
	death := make([]int32, p.nslots)
	for s := range death {
		death[s] = -1
	}
	const never = -2 // a pinned or never-made member: the group never dies
	for s := range parent {
		r := find(int32(s))
		switch {
		case death[r] == never:
		case pinned[s] || last[s] < 0:
			death[r] = never
		default:
			death[r] = max(death[r], last[s])
		}
	}
	for s := range parent {
		parent[s] = find(int32(s))
	}
	// Members of each dying group, in ascending slot order, in one array;
	// the groups in the order of their smallest slot.
	size := make(map[int32]int)
	total := 0
	for _, r := range parent {
		if death[r] >= 0 {
			size[r]++
			total++
		}
	}
	members := make([]int, total)
	group := make(map[int32]int, len(size))
	for s, r := range parent {
		if death[r] < 0 {
			continue
		}
		g, ok := group[r]
		if !ok {
			g = len(p.groups)
			group[r] = g
			k := size[r]
			p.groups = append(p.groups, members[:0:k])
			members = members[k:]
			p.steps[death[r]].nrec++
		}
		p.groups[g] = append(p.groups[g], s)
	}
	// Each step's dying groups, in group order, as a window of p.recycles.
	p.recycles = make([]int32, len(p.groups))
	at := uint32(0)
	for i := range p.steps {
		p.steps[i].rc = at
		at += p.steps[i].nrec
		p.steps[i].nrec = 0
	}
	for g, ms := range p.groups {
		st := &p.steps[death[parent[ms[0]]]]
		p.recycles[st.rc+st.nrec] = int32(g)
		st.nrec++
	}
}

// packWeights packs, once, the constant float32 matrices that MatMuls
// multiply by (x·W and, fused, x·Wᵀ), when there is an AVX-512 GEMM:
// on a decoder, repacking the weights on every call costs about as much as
// a sixth of the multiply itself. A weight every reader of which is such a
// MatMul moves out of m.inits into the plan in packed form only, so the
// model holds one copy of it.
func packWeights(m *core.Model, p *Plan, order []*core.Node, isOutput map[string]bool) []*core.Node {
	if SIMDKernel == nil {
		return order
	}
	readers := map[string]int{}
	var cand []int
	for i, n := range order {
		if n.OpType != "MatMul" || n.Domain != "" || fusionOf(n).transA {
			continue
		}
		w := constantOf(m, n.Inputs[1])
		if w == nil || w.DType != core.Float32 || len(w.Shape) != 2 || w.Len() == 0 {
			continue
		}
		readers[n.Inputs[1]]++
		cand = append(cand, i)
	}
	p.Packed = map[string]packedWeight{}
	converted := map[string]int{}
	for _, i := range cand {
		n := order[i]
		name := n.Inputs[1]
		pw, ok := p.Packed[name]
		if !ok {
			w := m.Inits[name]
			k, cols := int(w.Shape[0]), int(w.Shape[1])
			if fusionOf(n).transB {
				k, cols = cols, k
			}
			pw = packedWeight{Pk: &packedB{PackConstB(w.Float32s(), k, cols, fusionOf(n).transB)}, TransB: fusionOf(n).transB, Dtype: w.DType, Shape: w.Shape}
			p.Packed[name] = pw
		} else if pw.TransB != fusionOf(n).transB {
			continue // read both ways: this reader multiplies as usual
		}
		c := *n
		c.Inputs = []string{n.Inputs[0], ""}
		f := *fusionOf(n)
		f.transB, f.packed = false, pw.Pk
		c.Fused = &f
		k := *n.K
		k.Fn = matMulFused
		c.K = &k
		order[i] = &c
		converted[name]++
	}
	for name := range p.Packed {
		if converted[name] == m.UsesOf(name) && !isOutput[name] {
			delete(m.Inits, name) // the packed form is the only copy
			p.Gone[name] = true
		} else {
			delete(p.Packed, name) // still read as a tensor too; it stays in m.inits
		}
	}
	return order
}

// hcProjectionOps are the fused mHC ops whose input 1, fn, is the
// projection that many tokens' states multiply by as one GEMM.
var hcProjectionOps = map[string]bool{"HCCoeffsSinkhorn": true, "HCPostCoeffsSinkhorn": true, "HCCoeffsBoundary": true, "HCHead": true}

// packHCProjections packs, once, the constant fn of the fused mHC ops for
// the GEMM that projects a prefill's states (hcfused.go), as packWeights
// does for MatMul: otherwise each call packed its [T, n·C] states, 0.7 ms
// of a 4.4 ms HCCoeffsBoundary at hidden 1024 and 256 tokens. fn stays in
// m.inits too: the ops read it as a tensor (a decode step's
// matrix-vector products, the input checks).
func packHCProjections(m *core.Model, order []*core.Node) {
	if RowsKernel == nil {
		return
	}
	packed := map[string]*packedB{}
	for i, n := range order {
		if n.Domain != ref.MhccDomain || !hcProjectionOps[n.OpType] || len(n.Inputs) < 2 {
			continue
		}
		name := n.Inputs[1]
		w := constantOf(m, name)
		if w == nil || w.DType != core.Float32 || len(w.Shape) != 2 || w.Len() == 0 {
			continue
		}
		pk := packed[name]
		if pk == nil {
			rows, cols := int(w.Shape[0]), int(w.Shape[1])
			pk = &packedB{PackConstB(w.Float32s(), cols, rows, true)}
			packed[name] = pk
		}
		c := *n
		f := *fusionOf(n)
		f.packed = pk
		c.Fused = &f
		order[i] = &c
	}
}

// divOf returns x and the producer of y if d is a float32 Div(x, y) and y
// comes from an op of type op (default domain), else "" and nil.
func (g *planGraph) divOf(d *core.Node, op string) (x string, den *core.Node) {
	if d.OpType != "Div" || d.Domain != "" || len(d.Inputs) != 2 || len(d.Outputs) != 1 || g.m.TypeOf(d.Outputs[0]) != core.Float32 {
		return "", nil
	}
	den = g.producer(d.Inputs[1])
	if d.Inputs[0] == "" || den == nil || den.OpType != op || den.Domain != "" {
		return "", nil
	}
	return d.Inputs[0], den
}

// matchHalfStep returns a fused copy of d, and the Add and ReduceSum it
// absorbs, if d is Div(x, Add(ReduceSum(x, axes = [a], keepdims = 1), ε))
// (either order of Add's operands) on float32, ε a constant float32 scalar,
// and neither the sum nor the Add is read elsewhere or is a graph output;
// else nils.
func matchHalfStep(g *planGraph, d *core.Node) (*core.Node, []*core.Node) {
	m := g.m
	x, add := g.divOf(d, "Add")
	if add == nil || len(add.Inputs) != 2 || len(add.Outputs) != 1 {
		return nil, nil
	}
	if !g.single(add.Outputs[0]) {
		return nil, nil
	}
	for i := range 2 {
		red, eps := g.producer(add.Inputs[i]), add.Inputs[1-i]
		if red == nil || red.OpType != "ReduceSum" || red.Domain != "" || len(red.Outputs) != 1 || red.Inputs[0] != x || !g.single(red.Outputs[0]) {
			continue
		}
		e, ok := scalarF32(m, eps)
		if !ok {
			continue
		}
		if a := red.Attrs["keepdims"]; a != nil && a.GetI() != 1 {
			continue
		}
		var axes []int64
		if red.Opset < 13 {
			if a := red.Attrs["axes"]; a != nil {
				axes = a.GetInts()
			}
		} else if len(red.Inputs) > 1 && red.Inputs[1] != "" {
			if t := constantOf(m, red.Inputs[1]); t != nil && t.DType == core.Int64 {
				axes = t.Int64s()
			}
		}
		if len(axes) != 1 {
			continue
		}
		return halfStepOf(d, x, fusion{sumAxis: axes[0], sumEps: e}), []*core.Node{add, red}
	}
	return nil, nil
}

// matchGemmHalfStep returns a fused copy of d, and the Gemm it absorbs, if d
// is Div(x, Gemm(x, M, ε)) on float32 with Gemm's default attributes, ε a
// constant float32 scalar, and M a constant [n², n²] 0/1 matrix that sums
// each row of the n×n matrices x's rows flatten (M[a][b] = 1 exactly when
// a/n = b/n) or each column (a%n = b%n): the exporter's "gemm" Sinkhorn
// lowering (export/sinkhorn.go). The fused copy is normSum over x viewed as
// [T, n, n]; it sums the n terms in another order than the GEMM, which moves
// the result by an ulp at most. Else nils.
func matchGemmHalfStep(pg *planGraph, d *core.Node) (*core.Node, []*core.Node) {
	m := pg.m
	x, g := pg.divOf(d, "Gemm")
	if g == nil || len(g.Inputs) != 3 || len(g.Outputs) != 1 ||
		g.Inputs[0] != x || !pg.single(g.Outputs[0]) {
		return nil, nil
	}
	for name, a := range g.Attrs {
		switch name {
		case "alpha", "beta":
			if a.GetF() != 1 {
				return nil, nil
			}
		case "transA", "transB":
			if a.GetI() != 0 {
				return nil, nil
			}
		default:
			return nil, nil
		}
	}
	e, ok := scalarF32(m, g.Inputs[2])
	if !ok {
		return nil, nil
	}
	mt := constantOf(m, g.Inputs[1])
	if mt == nil || mt.DType != core.Float32 || len(mt.Shape) != 2 || mt.Shape[0] != mt.Shape[1] {
		return nil, nil
	}
	dim := int(mt.Shape[0])
	n := int(math.Sqrt(float64(dim)))
	if n*n != dim || n < 1 {
		return nil, nil
	}
	mv := mt.Float32s()
	rows, cols := true, true
	for a := range dim {
		for b := range dim {
			v := mv[a*dim+b]
			if v != 0 && v != 1 {
				return nil, nil
			}
			rows = rows && (v == 1) == (a/n == b/n)
			cols = cols && (v == 1) == (a%n == b%n)
		}
	}
	if !rows && !cols {
		return nil, nil
	}
	// The sum of each row runs along j of [T, i, j]; of each column, along i.
	axis := int64(2)
	if !rows {
		axis = 1
	}
	return halfStepOf(d, x, fusion{sumAxis: axis, sumEps: e, sumSquare: n}), []*core.Node{g}
}

// halfStepOf is Div node d turned into one normSum pass over x with fz.
func halfStepOf(d *core.Node, x string, fz fusion) *core.Node {
	c := fusedCopy(d, []string{x})
	c.Fused = &fz
	c.K.MinIn, c.K.MaxIn = 1, 1
	return c
}

// scalarF32 is the value of the constant float32 scalar (or one-element
// vector) called name, if it is one.
func scalarF32(m *core.Model, name string) (float32, bool) {
	e := constantOf(m, name)
	if e == nil || e.DType != core.Float32 || e.Len() != 1 || len(e.Shape) > 1 {
		return 0, false
	}
	return e.Float32s()[0], true
}

// matchMeanSquare recognises ReduceMean(Pow(x, 2)) with x float32, the
// exponent a constant scalar 2 and the square read by nothing else (the RMS
// pattern the exporter writes, as onnxruntime fuses it). It returns the
// ReduceMean's fused copy, which reduces x's squares in one pass (summed in
// float64 from the exact squares: at least as accurate as the two nodes),
// and the Pow it absorbs.
func matchMeanSquare(g *planGraph, d *core.Node) (*core.Node, []*core.Node) {
	m := g.m
	if d.OpType != "ReduceMean" || d.Domain != "" || len(d.Inputs) == 0 || len(d.Outputs) != 1 {
		return nil, nil
	}
	pw := g.producer(d.Inputs[0])
	if pw == nil || pw.OpType != "Pow" || pw.Domain != "" || len(pw.Inputs) != 2 || m.TypeOf(pw.Inputs[0]) != core.Float32 ||
		!g.single(pw.Outputs[0]) {
		return nil, nil
	}
	e := constantOf(m, pw.Inputs[1])
	if e == nil || !e.DType.IsFloat() || e.Len() != 1 || len(e.Shape) > 0 || e.Float64s()[0] != 2 {
		return nil, nil
	}
	c := fusedCopy(d, slices.Clone(d.Inputs))
	c.Inputs[0] = pw.Inputs[0]
	return c, []*core.Node{pw}
}

// constant returns the initializer called name if a caller cannot override
// it (it is not a graph input), else nil.
func constantOf(m *core.Model, name string) *core.Tensor {
	if _, isInput := m.DeclIn[name]; isInput {
		return nil
	}
	return m.Inits[name]
}

// swapsLast2 reports whether n is a Transpose whose perm swaps the last two
// dims and keeps the others.
func swapsLast2(n *core.Node) bool {
	if n.OpType != "Transpose" || n.Domain != "" || len(n.Inputs) != 1 {
		return false
	}
	a := n.Attrs["perm"]
	if a == nil {
		return false
	}
	perm := a.GetInts()
	r := len(perm)
	if r < 2 || perm[r-2] != int64(r-1) || perm[r-1] != int64(r-2) {
		return false
	}
	for i := range r - 2 {
		if perm[i] != int64(i) {
			return false
		}
	}
	return true
}

// A runState is the per-run scratch of RunPlan, kept in runStates between
// runs: a decode step is a thousand small kernel calls, and making these
// slices (one entry per slot) afresh each step was a few tens of kilobytes
// of allocation per token for nothing.
type runState struct {
	vals []*core.Tensor
	keep []bool
	// made[s]: slot s holds a float32 buffer a fresh-output op made this run.
	made [][]float32
	// held[s]: the bytes slot s adds to the budget's live total.
	held []int64
	args []*core.Tensor
}

var runStates = sync.Pool{New: func() any { return new(runState) }}

// getRunState returns a cleared runState for n slots.
func getRunState(n int) *runState {
	r := runStates.Get().(*runState)
	if cap(r.vals) < n {
		r.vals, r.keep, r.made, r.held = make([]*core.Tensor, n), make([]bool, n), make([][]float32, n), make([]int64, n)
	}
	r.vals, r.keep, r.made, r.held = r.vals[:n], r.keep[:n], r.made[:n], r.held[:n]
	return r
}

// put clears r (so the pool holds no tensor alive) and returns it.
func (r *runState) put() {
	clear(r.vals)
	clear(r.keep)
	clear(r.made)
	clear(r.held)
	clear(r.args[:cap(r.args)])
	r.args = r.args[:0]
	runStates.Put(r)
}

// RunPlan is RunWith over the plan.
func RunPlan(m *core.Model, inputs map[string]*core.Tensor, opt core.RunOptions) (map[string]*core.Tensor, error) {
	p := m.Plan.(*Plan)
	if err := m.CheckInputs(inputs); err != nil {
		return nil, err
	}
	rs := getRunState(p.nslots)
	defer rs.put()
	vals, keep, made, held := rs.vals, rs.keep, rs.made, rs.held
	for _, it := range p.inits {
		vals[it.slot] = it.t
	}
	for name := range m.DeclIn {
		t, ok := inputs[name]
		if !ok {
			t = m.Inits[name] // an input with a default
		}
		vals[p.slot[name]] = t
	}
	want := opt.Outputs
	if len(want) == 0 {
		for _, v := range m.Outputs {
			s, ok := p.slot[v.Name]
			if !ok {
				return nil, fmt.Errorf("runtime: no value named %q", v.Name)
			}
			keep[s] = true
		}
	}
	for _, name := range want {
		s, ok := p.slot[name]
		if !ok {
			return nil, fmt.Errorf("runtime: no value named %q", name)
		}
		keep[s] = true
	}
	defer func() {
		for _, n := range held {
			core.DropBytes(n)
		}
	}()
	args := rs.args
	for i := range p.steps {
		st := &p.steps[i]
		args = args[:0]
		for _, s := range p.in(st) {
			var t *core.Tensor
			if s >= 0 {
				t = vals[s]
			}
			args = append(args, t)
		}
		var t0 time.Time
		if opt.Profile != nil {
			t0 = time.Now()
		}
		outs, err := m.RunCall(&st.c, args)
		if opt.Profile != nil {
			opt.Profile.Add(st.c.N, time.Since(t0))
		}
		if err != nil {
			rs.args = args
			return nil, err
		}
		for j, s := range p.out(st) {
			if s >= 0 && outs[j] != nil {
				vals[s] = outs[j]
				core.DropBytes(held[s])
				held[s] = core.HoldBytes(outs[j])
				if b, ok := outs[j].Elems.([]float32); ok && st.fresh {
					made[s] = b
				}
			}
		}
		for _, s := range p.free(st) {
			if !keep[s] {
				vals[s] = nil
				core.DropBytes(held[s])
				held[s] = 0
			}
		}
	groups:
		for _, g := range p.recycle(st) {
			for _, s := range p.groups[g] {
				if keep[s] {
					continue groups
				}
			}
			for _, s := range p.groups[g] {
				if made[s] != nil {
					PutF32(made[s])
					made[s] = nil
				}
			}
		}
	}
	rs.args = args
	if opt.Profile != nil {
		opt.Profile.Runs++
	}
	if len(want) == 0 {
		res := make(map[string]*core.Tensor, len(m.Outputs))
		for _, v := range m.Outputs {
			t := vals[p.slot[v.Name]]
			if t == nil {
				return nil, fmt.Errorf("runtime: value %q was not computed (an omitted optional output?)", v.Name)
			}
			res[v.Name] = t
		}
		return res, nil
	}
	res := make(map[string]*core.Tensor, len(want))
	for _, name := range want {
		t := vals[p.slot[name]]
		if t == nil {
			return nil, fmt.Errorf("runtime: value %q was not computed (an omitted optional output?)", name)
		}
		res[name] = t
	}
	return res, nil
}
