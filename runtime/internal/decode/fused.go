package decode

import (
	"fmt"
	"math"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

// NativeKernels gives the fused mHC ops of m (ai.mhcc's HCCoeffsSinkhorn,
// HCPostCoeffsSinkhorn, HCPremixNorm, HCBoundary, HCCoeffsBoundary,
// HCEntry, HCHead: docs/fused-ops.md) the
// runtime's own kernels, in m's graph and its subgraphs. A node that calls
// the model-local function of that name runs the kernel instead of the
// body (the exception to "the model's definition wins", function.go),
// unless bodies is set: then it keeps running the body, which takes any
// stream count and type. A node on the kernel is checked as the kernel
// needs, each failure naming the node: its attributes, a state (x, y, w)
// of float32 or float16 with float32 coefficients, and a stream count of
// 2…8 where the graph says it statically (x's declared shape, the
// projection fn's rows, the coefficient op feeding a boundary, the fused
// op whose state x is, or HCEntry's attribute streams, always static); an
// unknown count is checked when the node runs.
func NativeKernels(m *core.Model, bodies bool) error {
	var errs core.ErrorList
	nativeKernels(m, bodies, &errs)
	return errs.Err()
}

func nativeKernels(m *core.Model, bodies bool, errs *core.ErrorList) {
	var st *streamInfo
	for _, n := range m.TopoNodes {
		for _, sub := range n.Graphs {
			nativeKernels(sub, bodies, errs)
		}
		if _, fused := ref.FusedHCOps[n.OpType]; !fused || n.Domain != ref.MhccDomain {
			continue
		}
		k := ref.LookupKernel(n.Domain, n.OpType, n.Opset)
		if k == nil || n.Fn != nil && bodies {
			continue
		}
		if n.Fn != nil {
			if err := useKernel(m, n, k); err != nil {
				*errs = append(*errs, fmt.Errorf("runtime: %v: %s", n, core.TrimPrefix(err)))
				continue
			}
		}
		if st == nil {
			st = newStreamInfo(m)
		}
		if s := st.of(n); s >= 0 && (s < ref.MinStreams || s > ref.MaxStreams) {
			errs.Add("%v: x has %d streams; the kernels support n = %d to %d", n, s, ref.MinStreams, ref.MaxStreams)
		}
	}
}

// useKernel switches n, a call of a model-local function, to kernel k,
// after the checks resolve makes for a node of k: arity, attributes, types.
func useKernel(m *core.Model, n *core.Node, k *core.Kernel) error {
	nin := n.Nformal
	for nin > 0 && n.Inputs[nin-1] == "" {
		nin--
	}
	if nin < k.MinIn || nin > k.MaxIn {
		return fmt.Errorf("got %d inputs, want %s", nin, arity(k.MinIn, k.MaxIn))
	}
	for i := range k.MinIn {
		if n.Inputs[i] == "" {
			return fmt.Errorf("input %d is required", i)
		}
	}
	if len(n.Outputs) > k.MaxOut {
		return fmt.Errorf("got %d outputs, want %s", len(n.Outputs), arity(1, k.MaxOut))
	}
	if err := k.Check(n); err != nil {
		return err
	}
	in := make([]core.DType, len(n.Inputs))
	for i, name := range n.Inputs {
		if name != "" {
			in[i] = m.TypeOf(name)
		}
	}
	outs, err := k.Types(n, in)
	if err != nil {
		return err
	}
	for i, t := range outs {
		o := n.Outputs[i]
		if o == "" || t == core.Undefined {
			continue
		}
		if got := m.TypeOf(o); got != core.Undefined && got != t {
			return fmt.Errorf("output %d is %v in the function body, %v in the kernel", i, got, t)
		}
		m.SetType(o, t)
	}
	n.K, n.Fn = k, nil
	return nil
}

// streamInfo finds the stream count of fused nodes from what the graph
// states: declared shapes, initializers, and the fused node producing a
// coefficient or the state.
type streamInfo struct {
	m        *core.Model
	shapes   map[string][]int64 // declared shapes (graph inputs, value_info)
	producer map[string]*core.Node
	memo     map[*core.Node]int
}

func newStreamInfo(m *core.Model) *streamInfo {
	st := &streamInfo{m: m, shapes: map[string][]int64{}, producer: map[string]*core.Node{}, memo: map[*core.Node]int{}}
	for _, v := range m.DeclIn {
		if v.Ranked {
			st.shapes[v.Name] = v.Shape
		}
	}
	for _, vi := range m.ValueInfo {
		if v, err := core.ValueInfoOf(vi); err == nil && v.Ranked {
			st.shapes[v.Name] = v.Shape
		}
	}
	for _, n := range m.TopoNodes {
		for _, o := range n.Outputs {
			if o != "" {
				st.producer[o] = n
			}
		}
	}
	return st
}

// of returns the stream count of fused node n, or -1 when the graph does
// not say it statically.
func (st *streamInfo) of(n *core.Node) int {
	if s, ok := st.memo[n]; ok {
		return s
	}
	st.memo[n] = -1 // a cycle through n says nothing
	s := st.find(n)
	st.memo[n] = s
	return s
}

func (st *streamInfo) find(n *core.Node) int {
	in := func(i int) string {
		if i < len(n.Inputs) {
			return n.Inputs[i]
		}
		return ""
	}
	kind := ref.FusedHCOps[n.OpType]
	if kind == ref.HCEntry {
		// e [lead, C] has no stream axis: the attribute says the count.
		if a := n.Attrs["streams"]; a != nil {
			return int(a.GetI())
		}
		return -1
	}
	if sh := st.shapes[in(0)]; len(sh) >= 2 && sh[len(sh)-2] >= 0 {
		return int(sh[len(sh)-2])
	}
	if kind == ref.HCHead {
		// fn is [n, n·C], base [n].
		if fn := st.m.Inits[in(1)]; fn != nil && len(fn.Shape) == 2 {
			return int(fn.Shape[0])
		}
		if base := st.m.Inits[in(2)]; base != nil && len(base.Shape) == 1 {
			return int(base.Shape[0])
		}
	} else if kind.IsCoeffs() {
		if fn := st.m.Inits[in(1)]; fn != nil && len(fn.Shape) == 2 {
			// fn is [n² + 2n, n·C]: n = sqrt(rows + 1) − 1.
			s := int(math.Round(math.Sqrt(float64(fn.Shape[0]+1)))) - 1
			if int64(s*s+2*s) == fn.Shape[0] {
				return s
			}
		}
	} else {
		for i, tail := range []int{1, 2} { // pre [.., n], comb [.., n, n]
			if t := st.m.Inits[in(1+i)]; t != nil && len(t.Shape) >= tail {
				return int(t.Shape[len(t.Shape)-1])
			}
		}
		if p := st.producer[in(1)]; p != nil && p.Domain == ref.MhccDomain && ref.FusedHCOps[p.OpType].IsCoeffs() {
			return st.of(p)
		}
	}
	// x as another fused node's state output (a boundary's mixed or state,
	// HCHead's state).
	if p := st.producer[in(0)]; p != nil && p.Domain == ref.MhccDomain {
		if k, ok := ref.FusedHCOps[p.OpType]; ok {
			for i, o := range p.Outputs {
				if o != "" && o == in(0) && k.StreamOut(i) {
					return st.of(p)
				}
			}
		}
	}
	return -1
}
