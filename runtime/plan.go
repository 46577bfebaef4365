package runtime

import (
	"fmt"
	"slices"
)

// The execution plan. Decode turns the sorted graph into a list of steps over
// numbered value slots, so a run indexes a slice instead of hashing names,
// and knows in advance after which step each intermediate is dead. While
// making it, it fuses patterns the kernels can run in one go:
//
//   - MatMul(Transpose(x, perm swapping the last two dims), …) and the same
//     for the second operand: the MatMul reads x transposed (its packing step
//     does that for free) and the Transpose never runs. This is how the
//     exporter writes every linear layer (x · Wᵀ) and attention's Q·Kᵀ.
//
// A fused-away value has no slot; RunWith falls back to the graph as written
// when RunOptions.Outputs asks for one.

// A plan is the fused, slot-indexed form of a model's graph.
type plan struct {
	steps  []step
	nslots int
	slot   map[string]int // value name → slot, for every value the plan computes or reads
	inits  []slotTensor   // initializers that are not graph inputs
	gone   map[string]bool
}

type slotTensor struct {
	slot int
	t    *Tensor
}

// A step runs one node (possibly a fused copy of it).
type step struct {
	n    *Node
	in   []int // slots; -1 for an omitted input
	out  []int // slots; -1 for an omitted output
	free []int // slots no later step reads
}

// computes reports whether the plan has every value of want.
func (p *plan) computes(want []string) bool {
	for _, name := range want {
		if p.gone[name] {
			return false
		}
	}
	return true
}

// makePlan builds m's plan from m.nodes (topologically sorted).
func (m *Model) makePlan() *plan {
	p := &plan{slot: map[string]int{}, gone: map[string]bool{}}
	slotOf := func(name string) int {
		if name == "" {
			return -1
		}
		s, ok := p.slot[name]
		if !ok {
			s = p.nslots
			p.slot[name] = s
			p.nslots++
		}
		return s
	}
	isOutput := map[string]bool{}
	for _, v := range m.Outputs {
		isOutput[v.Name] = true
	}

	// Fusion: which Transposes vanish into the MatMuls reading them.
	producer := map[string]*Node{}
	for _, n := range m.nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	readers := map[string]int{} // fusable reads of each Transpose output
	for _, n := range m.nodes {
		if n.OpType != "MatMul" || n.Domain != "" {
			continue
		}
		for _, in := range n.Inputs[:2] {
			if t := producer[in]; t != nil && swapsLast2(t) {
				readers[in]++
			}
		}
	}
	fused := map[*Node]bool{}
	for name, r := range readers {
		if r == m.uses[name] && !isOutput[name] {
			fused[producer[name]] = true
			p.gone[name] = true
		}
	}

	var order []*Node
	for _, n := range m.nodes {
		if fused[n] {
			continue
		}
		if n.OpType == "MatMul" && n.Domain == "" && (p.gone[n.Inputs[0]] || p.gone[n.Inputs[1]]) {
			c := *n
			c.Inputs = slices.Clone(n.Inputs)
			for i := range 2 {
				if p.gone[n.Inputs[i]] {
					c.Inputs[i] = producer[n.Inputs[i]].Inputs[0]
					if i == 0 {
						c.transA = true
					} else {
						c.transB = true
					}
				}
			}
			n = &c
		}
		order = append(order, n)
	}

	for name, t := range m.inits {
		if _, isInput := m.declIn[name]; !isInput {
			p.inits = append(p.inits, slotTensor{slotOf(name), t})
		}
	}
	for name := range m.declIn {
		slotOf(name)
	}
	last := map[int]int{} // slot → index of the last step reading it
	for i, n := range order {
		st := step{n: n}
		for _, in := range n.Inputs {
			s := slotOf(in)
			st.in = append(st.in, s)
			if s >= 0 {
				last[s] = i
			}
		}
		for _, o := range n.Outputs {
			s := slotOf(o)
			st.out = append(st.out, s)
			if _, read := last[s]; s >= 0 && !read {
				last[s] = i // never read: dead right after it is made
			}
		}
		p.steps = append(p.steps, st)
	}
	// Initializers and graph inputs stay; every other slot is freed after
	// its last reader (RunWith keeps the ones the caller asked for).
	pinned := make([]bool, p.nslots)
	for _, it := range p.inits {
		pinned[it.slot] = true
	}
	for name := range m.declIn {
		pinned[p.slot[name]] = true
	}
	for s, i := range last {
		if !pinned[s] {
			p.steps[i].free = append(p.steps[i].free, s)
		}
	}
	for i := range p.steps {
		slices.Sort(p.steps[i].free)
	}
	return p
}

// swapsLast2 reports whether n is a Transpose whose perm swaps the last two
// dims and keeps the others.
func swapsLast2(n *Node) bool {
	if n.OpType != "Transpose" || n.Domain != "" || len(n.Inputs) != 1 {
		return false
	}
	a := n.attrs["perm"]
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

// runPlan is RunWith over the plan.
func (m *Model) runPlan(inputs map[string]*Tensor, opt RunOptions) (map[string]*Tensor, error) {
	p := m.plan
	if err := m.checkInputs(inputs); err != nil {
		return nil, err
	}
	vals := make([]*Tensor, p.nslots)
	for _, it := range p.inits {
		vals[it.slot] = it.t
	}
	for name := range m.declIn {
		t, ok := inputs[name]
		if !ok {
			t = m.inits[name] // an input with a default
		}
		vals[p.slot[name]] = t
	}
	want := opt.Outputs
	if len(want) == 0 {
		for _, v := range m.Outputs {
			want = append(want, v.Name)
		}
	}
	keep := make([]bool, p.nslots)
	for _, name := range want {
		s, ok := p.slot[name]
		if !ok {
			return nil, fmt.Errorf("runtime: no value named %q", name)
		}
		keep[s] = true
	}
	var args []*Tensor
	for i := range p.steps {
		st := &p.steps[i]
		args = args[:0]
		for _, s := range st.in {
			var t *Tensor
			if s >= 0 {
				t = vals[s]
			}
			args = append(args, t)
		}
		outs, err := m.runNode(st.n, args)
		if err != nil {
			return nil, err
		}
		for j, s := range st.out {
			if s >= 0 && outs[j] != nil {
				vals[s] = outs[j]
			}
		}
		for _, s := range st.free {
			if !keep[s] {
				vals[s] = nil
			}
		}
	}
	res := make(map[string]*Tensor, len(want))
	for _, name := range want {
		t := vals[p.slot[name]]
		if t == nil {
			return nil, fmt.Errorf("runtime: value %q was not computed (an omitted optional output?)", name)
		}
		res[name] = t
	}
	return res, nil
}
