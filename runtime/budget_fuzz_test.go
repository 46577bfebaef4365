package runtime

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// FuzzRunBudget builds a small graph from the fuzz data, a chain of the ops
// whose output size comes from data (ConstantOfShape, Expand, Tile, Range,
// Concat, Gather, MatMul, broadcasting Add, Where), with shape inputs taken
// from the data too, and runs it under a 1 MiB memory budget. Any run may
// fail, but only with an error: no panic, no internal error, no output past
// the budget, and the live total back at zero afterwards; under both
// engines, which agree where both finish.
func FuzzRunBudget(f *testing.F) {
	f.Add([]byte{0, 4, 0, 0, 0, 1, 2, 8, 3, 1})
	f.Add([]byte{1, 255, 255, 255, 127, 6, 1, 7, 5})
	f.Add([]byte{2, 0, 0, 16, 0, 3, 0, 0, 1, 0, 4, 2})
	f.Add([]byte{3, 0, 0, 0, 64, 0, 0, 0, 64})
	f.Fuzz(func(t *testing.T, data []byte) {
		g, ok := budgetGraph(data)
		if !ok {
			return
		}
		m, err := Decode(encode(t, modelProto(17, g)))
		if err != nil {
			return
		}
		const budget = 1 << 20
		old := core.SetMaxBytes(budget)
		defer core.SetMaxBytes(old)
		// Both engines, each held to the budget; where both finish, their
		// outputs agree (either may run out first: their live sets differ).
		var runs [2]map[string]*core.Tensor
		for i, e := range []core.Engine{core.Fast, core.Reference} {
			res, err := m.RunWith(map[string]*core.Tensor{}, core.RunOptions{Engine: e})
			if err != nil {
				if strings.Contains(err.Error(), "internal error") {
					t.Fatalf("%v engine: %v", e, err)
				}
			} else {
				for name, r := range res {
					if b := core.TensorBytes(r); b > budget {
						t.Fatalf("%v engine: output %s holds %d bytes, budget %d", e, name, b, budget)
					}
				}
				runs[i] = res
			}
			if n := core.LiveBytes.Load(); n != 0 {
				t.Fatalf("%v engine: live total %d after the run", e, n)
			}
		}
		if runs[0] != nil && runs[1] != nil {
			enginesAgree(t, m, runs[0], nil, runs[1], nil)
		}
	})
}

// budgetGraph reads ops and their sizes from data: each op takes one byte
// to choose it and up to two int32 sizes.
func budgetGraph(data []byte) (*onnxpb.GraphProto, bool) {
	next := func() int64 {
		if len(data) < 4 {
			if len(data) == 0 {
				return 1
			}
			v := int64(data[0])
			data = data[1:]
			return v
		}
		v := int64(int32(binary.LittleEndian.Uint32(data)))
		data = data[4:]
		return v
	}
	g := &onnxpb.GraphProto{Output: ins(untypedInfo("v0"))}
	g.Initializer = append(g.Initializer, f32(sh(1), 1).Proto("one"))
	cur := "one" // a float tensor the next op builds on
	for k := 0; len(data) > 0 && k < 6; k++ {
		op := data[0] % 9
		data = data[1:]
		out := fmt.Sprintf("t%d", k)
		c := func(name string, v ...int64) string {
			n := fmt.Sprintf("c%d_%s", k, name)
			g.Initializer = append(g.Initializer, i64(sh(int64(len(v))), v...).Proto(n))
			return n
		}
		switch op {
		case 0:
			g.Node = append(g.Node, node(out, "ConstantOfShape", []string{c("s", next(), next())}, []string{out}))
		case 1:
			g.Node = append(g.Node, node(out, "Expand", []string{cur, c("s", next(), next())}, []string{out}))
		case 2:
			g.Node = append(g.Node, node(out+"f", "Flatten", []string{cur}, []string{out + "f"}))
			g.Node = append(g.Node, node(out, "Tile", []string{out + "f", c("r", next(), next())}, []string{out}))
		case 3:
			lim := fmt.Sprintf("c%d_lim", k)
			g.Initializer = append(g.Initializer, i64(nil, next()).Proto(lim), i64(nil, 0).Proto(lim+"0"), i64(nil, 1).Proto(lim+"1"))
			g.Node = append(g.Node, node(out+"r", "Range", []string{lim + "0", lim, lim + "1"}, []string{out + "r"}))
			g.Node = append(g.Node, node(out, "Cast", []string{out + "r"}, []string{out}, aInt("to", int64(core.Float32))))
		case 4:
			g.Node = append(g.Node, node(out, "Concat", []string{cur, cur, cur}, []string{out}, aInt("axis", 0)))
		case 5:
			g.Node = append(g.Node, node(out, "Gather", []string{cur, c("i", next()%4, 0)}, []string{out}))
		case 6:
			g.Node = append(g.Node, node(out+"t", "Transpose", []string{cur}, []string{out + "t"}))
			g.Node = append(g.Node, node(out, "MatMul", []string{cur, out + "t"}, []string{out}))
		case 7:
			g.Node = append(g.Node, node(out+"u", "Unsqueeze", []string{cur, c("a", 0)}, []string{out + "u"}))
			g.Node = append(g.Node, node(out+"v", "Unsqueeze", []string{cur, c("b", 1)}, []string{out + "v"}))
			g.Node = append(g.Node, node(out, "Add", []string{out + "u", out + "v"}, []string{out}))
		case 8:
			g.Node = append(g.Node, node(out+"b", "Cast", []string{cur}, []string{out + "b"}, aInt("to", int64(core.Bool))))
			g.Node = append(g.Node, node(out, "Where", []string{out + "b", cur, "one"}, []string{out}))
		}
		cur = out
	}
	if len(g.Node) == 0 {
		return nil, false
	}
	g.Node = append(g.Node, node("last", "Identity", []string{cur}, []string{"v0"}))
	return g, true
}
