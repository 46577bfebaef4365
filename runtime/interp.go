package runtime

import (
	"fmt"
	"time"
)

func init() { execute = run }

// run is Model.RunWith: the Fast engine's plan where there is one and it
// computes what opt asks for, else the graph as written (runGraph).
func run(m *Model, inputs map[string]*Tensor, opt RunOptions) (map[string]*Tensor, error) {
	if p, ok := m.plan.(*plan); ok && opt.Engine == Fast && p.computes(opt.Outputs) {
		return runPlan(m, inputs, opt)
	}
	return runGraph(m, inputs, opt)
}

// runGraph is RunWith over the graph as written, values kept by name.
func runGraph(m *Model, inputs map[string]*Tensor, opt RunOptions) (map[string]*Tensor, error) {
	env := make(map[string]*Tensor, len(m.inits)+len(inputs))
	for name, t := range m.inits {
		env[name] = t
	}
	if p, ok := m.plan.(*plan); ok {
		for name, pw := range p.packed {
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
