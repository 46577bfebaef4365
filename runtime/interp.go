package runtime

import (
	"fmt"
	"time"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
	"github.com/mhcc-dev/mhcc/runtime/internal/fast"
	"github.com/mhcc-dev/mhcc/runtime/internal/ref"
)

func init() { core.Execute = run }

// run is Model.RunWith: the Fast engine's plan where there is one and it
// computes what opt asks for, else the graph as written (runGraph).
func run(m *core.Model, inputs map[string]*core.Tensor, opt core.RunOptions) (map[string]*core.Tensor, error) {
	if p, ok := m.Plan.(*fast.Plan); ok && opt.Engine == core.Fast && p.Computes(opt.Outputs) {
		return fast.RunPlan(m, inputs, opt)
	}
	return runGraph(m, inputs, opt)
}

// runGraph is RunWith over the graph as written, values kept by name.
func runGraph(m *core.Model, inputs map[string]*core.Tensor, opt core.RunOptions) (map[string]*core.Tensor, error) {
	env := make(map[string]*core.Tensor, len(m.Inits)+len(inputs))
	for name, t := range m.Inits {
		env[name] = t
	}
	if p, ok := m.Plan.(*fast.Plan); ok {
		for name, pw := range p.Packed {
			env[name] = &core.Tensor{DType: pw.Dtype, Shape: pw.Shape, Elems: pw.Pk.Matrix(pw.TransB)}
		}
	}
	if err := m.CheckInputs(inputs); err != nil {
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
		if !m.IsDefined(name) {
			return nil, fmt.Errorf("runtime: no value named %q", name)
		}
		keep[name] = true
	}
	remaining := make(map[string]int, len(m.ID))
	for name, n := range m.UseCounts() {
		remaining[name] = n
	}

	// held: the bytes each value this run made adds to the budget's live total.
	held := map[string]int64{}
	defer func() {
		for _, n := range held {
			core.DropBytes(n)
		}
	}()
	release := func(name string) {
		delete(env, name)
		core.DropBytes(held[name])
		delete(held, name)
	}
	args := []*core.Tensor{}
	for _, n := range m.TopoNodes {
		args = args[:0]
		for _, in := range n.Inputs {
			var t *core.Tensor
			if in != "" {
				t = env[in]
			}
			args = append(args, t)
		}
		var t0 time.Time
		if opt.Profile != nil {
			t0 = time.Now()
		}
		c := &core.Call{N: n, Nout: len(n.Outputs), Ops: ref.Ops{}, Fn: n.K.Fn}
		if opt.Engine == core.Fast {
			c.Ops, c.Fn = fast.Ops{}, fast.Kernel(n.K)
		}
		outs, err := m.RunCall(c, args)
		if opt.Profile != nil {
			opt.Profile.Add(n, time.Since(t0))
		}
		if err != nil {
			return nil, err
		}
		for i, name := range n.Outputs {
			if name != "" && outs[i] != nil {
				env[name] = outs[i]
				core.DropBytes(held[name])
				held[name] = core.HoldBytes(outs[i])
			}
		}
		// Release what no later node reads.
		for _, in := range n.Inputs {
			if in == "" {
				continue
			}
			remaining[in]--
			if remaining[in] == 0 && !keep[in] && m.Inits[in] == nil {
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
	res := make(map[string]*core.Tensor, len(want))
	for _, name := range want {
		t, ok := env[name]
		if !ok {
			return nil, fmt.Errorf("runtime: value %q was not computed (an omitted optional output?)", name)
		}
		res[name] = t
	}
	return res, nil
}

// Recycle gives the float32 storage of dead tensors, ones a run returned
// that the caller is done with, back to the Fast engine's buffer pool,
// where later runs take their intermediates' and outputs' buffers from;
// storage that one of live shares is kept. A generation loop calls it on
// the cache a step replaced (the previous step's presents): without it each
// decode step allocates a buffer as long as the cache per layer afresh, and
// the collector zeroes every one of them. Nothing may use a dead tensor, or
// a tensor sharing its storage, afterwards. Other element types are left to
// the collector.
func Recycle(dead []*core.Tensor, live ...*core.Tensor) {
	keep := map[*float32]bool{}
	for _, t := range live {
		if t == nil {
			continue
		}
		if b, ok := t.Elems.([]float32); ok && cap(b) > 0 {
			keep[&b[:1][0]] = true
		}
	}
	for _, t := range dead {
		if t == nil {
			continue
		}
		if b, ok := t.Elems.([]float32); ok && cap(b) > 0 && !keep[&b[:1][0]] {
			keep[&b[:1][0]] = true // once, however often it is listed
			fast.PutF32(b)
		}
	}
}
