package runtime

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

// RunOptions adjusts one [Model.RunWith].
type RunOptions struct {
	// Outputs names the values to return, graph outputs or intermediates
	// (useful to bisect a numerical difference). Empty means the graph outputs.
	Outputs []string
	// Profile, when set, gets each kernel call's time added to it.
	Profile *Profile
	// Engine chooses the kernels (engine.go); the zero value is Fast.
	Engine Engine
}

// Run executes the graph on inputs, keyed by graph input name, and returns
// the graph outputs by name. It is RunWith with zero options.
func (m *Model) Run(inputs map[string]*Tensor) (map[string]*Tensor, error) {
	return m.RunWith(inputs, RunOptions{})
}

// RunWith executes the nodes in topological order. Each intermediate tensor is
// dropped after its last reader has run (reference counting), so peak memory
// is the live set, not the whole graph. A kernel failure comes back as an error
// naming the node: `runtime: node "Mul_3" (Mul): shape mismatch`.
//
// It runs the plan Decode made (plan.go: values in numbered slots, a
// Transpose read by MatMul fused into it) unless opt.Outputs asks for a value
// the plan does not compute, or opt.Engine is Reference; then it walks the
// graph as written (runGraph).
func (m *Model) RunWith(inputs map[string]*Tensor, opt RunOptions) (map[string]*Tensor, error) {
	if opt.Engine == Fast && m.plan != nil && m.plan.computes(opt.Outputs) {
		return m.runPlan(inputs, opt)
	}
	return m.runGraph(inputs, opt)
}

// runGraph is RunWith over the graph as written, values kept by name.
func (m *Model) runGraph(inputs map[string]*Tensor, opt RunOptions) (map[string]*Tensor, error) {
	env := make(map[string]*Tensor, len(m.inits)+len(inputs))
	for name, t := range m.inits {
		env[name] = t
	}
	if m.plan != nil {
		for name, pw := range m.plan.packed {
			env[name] = &Tensor{DType: pw.dtype, Shape: pw.shape, data: pw.pk.unpack(pw.transB)}
		}
	}
	if err := m.checkInputs(inputs); err != nil {
		return nil, err
	}
	for name, t := range inputs {
		env[name] = t
	}

	want := opt.Outputs
	if len(want) == 0 {
		for _, v := range m.Outputs {
			want = append(want, v.Name)
		}
	}
	keep := map[string]bool{}
	for _, name := range want {
		if !m.defined[name] {
			return nil, fmt.Errorf("runtime: no value named %q", name)
		}
		keep[name] = true
	}
	remaining := make(map[string]int, len(m.uses))
	for name, n := range m.uses {
		remaining[name] = n
	}

	// held: the bytes each value this run made adds to the budget's live total.
	held := map[string]int64{}
	defer func() {
		for _, n := range held {
			dropBytes(n)
		}
	}()
	release := func(name string) {
		delete(env, name)
		dropBytes(held[name])
		delete(held, name)
	}
	args := []*Tensor{}
	for _, n := range m.nodes {
		args = args[:0]
		for _, in := range n.Inputs {
			var t *Tensor
			if in != "" {
				t = env[in]
			}
			args = append(args, t)
		}
		var t0 time.Time
		if opt.Profile != nil {
			t0 = time.Now()
		}
		c := &call{n: n, nout: len(n.Outputs), ops: plainOps{}, fn: n.k.fn}
		if opt.Engine == Fast {
			c.ops, c.fn = fastOps{}, fastKernel(n.k)
		}
		outs, err := m.runCall(c, args)
		if opt.Profile != nil {
			opt.Profile.add(n, time.Since(t0))
		}
		if err != nil {
			return nil, err
		}
		for i, name := range n.Outputs {
			if name != "" && outs[i] != nil {
				env[name] = outs[i]
				dropBytes(held[name])
				held[name] = holdBytes(outs[i])
			}
		}
		// Release what no later node reads.
		for _, in := range n.Inputs {
			if in == "" {
				continue
			}
			remaining[in]--
			if remaining[in] == 0 && !keep[in] && m.inits[in] == nil {
				release(in)
			}
		}
		for _, name := range n.Outputs {
			if name != "" && remaining[name] == 0 && !keep[name] {
				release(name)
			}
		}
	}
	if opt.Profile != nil {
		opt.Profile.Runs++
	}
	res := make(map[string]*Tensor, len(want))
	for _, name := range want {
		t, ok := env[name]
		if !ok {
			return nil, fmt.Errorf("runtime: value %q was not computed (an omitted optional output?)", name)
		}
		res[name] = t
	}
	return res, nil
}

// checkInputs checks the caller's inputs against the graph's declarations.
func (m *Model) checkInputs(inputs map[string]*Tensor) error {
	for name, t := range inputs {
		v, ok := m.declIn[name]
		if !ok {
			return fmt.Errorf("runtime: %q is not a graph input", name)
		}
		if err := checkInput(v, t); err != nil {
			return err
		}
	}
	for _, v := range m.Inputs {
		if _, ok := inputs[v.Name]; !ok {
			return fmt.Errorf("runtime: missing graph input %q", v.Name)
		}
	}
	return nil
}

// runCall calls c's kernel, turning a panic into an error that names its
// node (the plan keeps one call per step, so a run allocates none).
func (m *Model) runCall(c *call, args []*Tensor) (outs []*Tensor, err error) {
	n := c.n
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		var msg string
		switch r := r.(type) {
		case kernelError:
			msg = string(r)
		case string:
			msg = r
		case error:
			// Not a documented precondition: a kernel bug. Keep the stack.
			msg = fmt.Sprintf("internal error: %v\n%s", r, debug.Stack())
		default:
			msg = fmt.Sprintf("internal error: %v", r)
		}
		outs, err = nil, fmt.Errorf("runtime: %v: %s", n, clipMsg(strings.TrimPrefix(msg, "runtime: ")))
	}()
	outs = c.fn(c, args)
	if len(outs) < len(n.Outputs) {
		outs = append(outs, make([]*Tensor, len(n.Outputs)-len(outs))...)
	}
	for i, name := range n.Outputs {
		if name == "" {
			continue
		}
		if outs[i] == nil {
			return nil, fmt.Errorf("runtime: %v: internal error: output %d %q not computed", n, i, name)
		}
		if want := m.types[name]; want != Undefined && outs[i].DType != want {
			return nil, fmt.Errorf("runtime: %v: internal error: output %d is %v, type inference said %v", n, i, outs[i].DType, want)
		}
	}
	return outs, nil
}

// checkInput compares a caller's tensor with the graph input's declaration.
func checkInput(v ValueInfo, t *Tensor) error {
	if t == nil {
		return fmt.Errorf("runtime: graph input %q is nil", v.Name)
	}
	if t.DType.IsSequence() || v.DType.IsSequence() {
		return checkSeqInput(v, t)
	}
	if !t.DType.Supported() || sliceLen(t.data) < 0 || storageKind(t.DType) != fmt.Sprintf("%T", t.data) {
		return fmt.Errorf("runtime: graph input %q: malformed %v tensor", v.Name, t.DType)
	}
	if n, err := numElements(t.Shape); err != nil || n != t.Len() {
		return fmt.Errorf("runtime: graph input %q: shape %v does not match its %d elements", v.Name, t.Shape, t.Len())
	}
	if v.DType != Undefined && t.DType != v.DType {
		return fmt.Errorf("runtime: graph input %q: got %v, want %v", v.Name, t.DType, v.DType)
	}
	if !v.Ranked {
		return nil
	}
	if len(t.Shape) != len(v.Shape) {
		return fmt.Errorf("runtime: graph input %q: got shape %v, want rank %d", v.Name, t.Shape, len(v.Shape))
	}
	for i, d := range v.Shape {
		if d >= 0 && t.Shape[i] != d {
			return fmt.Errorf("runtime: graph input %q: got shape %v, want %v", v.Name, t.Shape, fmtShape(v.Shape))
		}
	}
	return nil
}

// fmtShape prints a declared shape with "?" for unknown dims.
func fmtShape(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}
