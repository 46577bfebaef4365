package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
	"github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// Hostile inputs, the memory and CPU half (issue 17, point 8): models of a
// few hundred bytes that ask for gigabytes, loops that never end, files
// nested or repeated until the tools' work or memory grows past bounds.
// Each case runs under hostileMemCap (4 GiB of address space), where the
// runtime's default budget is half of that: a correct mhcc refuses with an
// error that names the node and the option to raise, and is never killed.

// hm* build small ONNX models for the cases.

func hmNode(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{Name: proto.String(out[0] + "_" + op), OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
}

func hmI64(name string, v ...int64) *onnxpb.TensorProto {
	return mhrt.NewInt64([]int64{int64(len(v))}, v).Proto(name)
}

func hmScalarI64(name string, v int64) *onnxpb.TensorProto {
	return mhrt.NewInt64([]int64{}, []int64{v}).Proto(name)
}

func hmGraphAttr(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: g}
}

func hmModel(g *onnxpb.GraphProto) *onnxpb.ModelProto {
	if g.Name == nil {
		g.Name = proto.String("hostile")
	}
	return onnxbuild.Model(g)
}

// hmWrite writes m to dir/name and returns name.
func hmWrite(t *testing.T, dir, name string, m *onnxpb.ModelProto) string {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// hmRun is a setup that writes g's model and runs it.
func hmRun(g func() *onnxpb.GraphProto, extra ...string) func(t *testing.T, dir string) []string {
	return func(t *testing.T, dir string) []string {
		return append([]string{"run", hmWrite(t, dir, "m.onnx", hmModel(g())), "--out-dir", "out"}, extra...)
	}
}

// hmBomb is a graph of initializers and nodes with one float output y.
func hmBomb(inits []*onnxpb.TensorProto, nodes ...*onnxpb.NodeProto) func() *onnxpb.GraphProto {
	return func() *onnxpb.GraphProto {
		return &onnxpb.GraphProto{Initializer: inits, Node: nodes, Output: []*onnxpb.ValueInfoProto{onnxbuild.Output("y", onnxpb.TensorProto_FLOAT)}}
	}
}

// hmLoop is a Loop with no trip count whose condition stays true; with
// scanLen > 0 each iteration scans out a float tensor of scanLen elements.
func hmLoop(scanLen int64) func() *onnxpb.GraphProto {
	return func() *onnxpb.GraphProto {
		f, b, i64 := onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_BOOL, onnxpb.TensorProto_INT64
		body := &onnxpb.GraphProto{
			Name:   proto.String("body"),
			Input:  []*onnxpb.ValueInfoProto{onnxbuild.Info("i", i64), onnxbuild.Info("c", b), onnxbuild.Info("x", f, 1)},
			Node:   []*onnxpb.NodeProto{hmNode("Identity", []string{"c"}, []string{"c2"}), hmNode("Identity", []string{"x"}, []string{"x2"})},
			Output: []*onnxpb.ValueInfoProto{onnxbuild.Info("c2", b), onnxbuild.Info("x2", f, 1)},
		}
		outs := []string{"y"}
		if scanLen > 0 {
			body.Node = append(body.Node, hmNode("ConstantOfShape", []string{"scanshape"}, []string{"s"}))
			body.Output = append(body.Output, onnxbuild.Output("s", f))
			outs = append(outs, "ys")
		}
		g := &onnxpb.GraphProto{
			Initializer: []*onnxpb.TensorProto{
				mhrt.NewBool([]int64{}, []bool{true}).Proto("cond"),
				mhrt.NewFloat32([]int64{1}, []float32{1}).Proto("x0"),
				hmI64("scanshape", scanLen),
			},
			Node:   []*onnxpb.NodeProto{hmNode("Loop", []string{"", "cond", "x0"}, outs, hmGraphAttr("body", body))},
			Output: []*onnxpb.ValueInfoProto{onnxbuild.Output("y", f)},
		}
		if scanLen > 0 {
			g.Output = append(g.Output, onnxbuild.Output("ys", f))
		}
		return g
	}
}

const (
	hmBudgetErr = `memory budget of .*--max-memory`
	g30         = int64(1) << 30
)

func init() {
	one := mhrt.NewFloat32([]int64{1}, []float32{1}).Proto("one")
	hostileCases = append(hostileCases,
		hostileCase{
			name:   "mem/constantofshape-2^30",
			setup:  hmRun(hmBomb([]*onnxpb.TensorProto{hmI64("shape", g30)}, hmNode("ConstantOfShape", []string{"shape"}, []string{"y"}))),
			exit:   1,
			stderr: `node "y_ConstantOfShape" \(ConstantOfShape\): .*` + hmBudgetErr,
		},
		hostileCase{
			name:   "mem/expand-2^30",
			setup:  hmRun(hmBomb([]*onnxpb.TensorProto{one, hmI64("shape", 1<<15, 1<<15)}, hmNode("Expand", []string{"one", "shape"}, []string{"y"}))),
			exit:   1,
			stderr: `\(Expand\): .*` + hmBudgetErr,
		},
		hostileCase{
			name:   "mem/tile-2^30",
			setup:  hmRun(hmBomb([]*onnxpb.TensorProto{one, hmI64("rep", g30)}, hmNode("Tile", []string{"one", "rep"}, []string{"y"}))),
			exit:   1,
			stderr: `\(Tile\): .*` + hmBudgetErr,
		},
		hostileCase{
			name: "mem/range-2^30",
			setup: hmRun(hmBomb([]*onnxpb.TensorProto{hmScalarI64("a", 0), hmScalarI64("b", g30-1), hmScalarI64("d", 1)},
				hmNode("Range", []string{"a", "b", "d"}, []string{"r"}),
				hmNode("Cast", []string{"r"}, []string{"y"}, &onnxpb.AttributeProto{Name: proto.String("to"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}))),
			exit:   1,
			stderr: `\(Range\): .*` + hmBudgetErr,
		},
		hostileCase{
			// Under the 4 GiB cap the default budget is about 1.3 GiB (half
			// of what the Go runtime's own reservations leave): the first
			// link (1 GiB) fits, the second does not fit beside it.
			name: "mem/chain-of-expands",
			setup: hmRun(hmBomb([]*onnxpb.TensorProto{one, hmI64("shape", 1<<14, 1<<14)},
				hmNode("Expand", []string{"one", "shape"}, []string{"a"}),
				hmNode("Expand", []string{"one", "shape"}, []string{"b"}),
				hmNode("Add", []string{"a", "b"}, []string{"y"}))),
			exit:   1,
			stderr: `node "b_Expand" \(Expand\): .*needs 1 GiB, past the memory budget of .* \(1 GiB already held\)`,
		},
		hostileCase{
			name: "mem/matmul-outer-product",
			setup: hmRun(hmBomb([]*onnxpb.TensorProto{one, hmI64("col", 1<<15, 1), hmI64("row", 1, 1<<15)},
				hmNode("Expand", []string{"one", "col"}, []string{"a"}),
				hmNode("Expand", []string{"one", "row"}, []string{"b"}),
				hmNode("MatMul", []string{"a", "b"}, []string{"y"}))),
			exit:   1,
			stderr: `\(MatMul\): .*` + hmBudgetErr,
		},
		hostileCase{
			name: "mem/gather-2^30",
			setup: hmRun(hmBomb([]*onnxpb.TensorProto{one, hmI64("dshape", 1, 1<<15), hmI64("ishape", 1<<15)},
				hmNode("Expand", []string{"one", "dshape"}, []string{"data"}),
				hmNode("ConstantOfShape", []string{"ishape"}, []string{"idx"}, &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: hmI64("v", 0)}),
				hmNode("Gather", []string{"data", "idx"}, []string{"y"}))),
			exit:   1,
			stderr: `\(Gather\): .*` + hmBudgetErr,
		},
		hostileCase{
			name:   "mem/loop-scan-grows",
			setup:  hmRun(hmLoop(1 << 20)),
			exit:   1,
			stderr: `\(Loop\): .*` + hmBudgetErr,
		},
		hostileCase{
			name:    "cpu/loop-never-ends",
			setup:   hmRun(hmLoop(0)),
			exit:    1,
			stderr:  `\(Loop\): still running after 1000000 iterations, the limit; raise it with --max-loop-iterations`,
			timeout: 120 * time.Second,
		},
		hostileCase{
			name:   "cpu/loop-limit-flag",
			setup:  hmRun(hmLoop(0), "--max-loop-iterations", "10"),
			exit:   1,
			stderr: `still running after 10 iterations`,
		},
		hostileCase{
			// 2^28 float32 (1 GiB) fits the default budget and not 512 MiB.
			name:   "mem/max-memory-flag-lowers",
			setup:  hmRun(hmBomb([]*onnxpb.TensorProto{hmI64("shape", 1<<20)}, hmNode("ConstantOfShape", []string{"shape"}, []string{"y"})), "--max-memory", "1MiB"),
			exit:   1,
			stderr: `memory budget of 1 MiB`,
		},
		hostileCase{
			name:  "mem/max-memory-flag-fits",
			setup: hmRun(hmBomb([]*onnxpb.TensorProto{hmI64("shape", 1<<20)}, hmNode("ConstantOfShape", []string{"shape"}, []string{"y"})), "--max-memory", "5MiB"),
			exit:  0,
			check: func(t *testing.T, dir, stdout, stderr string) {
				if fi, err := os.Stat(filepath.Join(dir, "out", "y.npy")); err != nil || fi.Size() < 4<<20 {
					t.Errorf("y.npy: %v", err)
				}
			},
		},
		hostileCase{
			name:   "mem/max-memory-flag-bad",
			setup:  hmRun(hmBomb(nil, hmNode("Constant", nil, []string{"y"})), "--max-memory", "lots"),
			exit:   1,
			stderr: `--max-memory "lots": `,
		},
		hostileCase{
			name: "mem/dim-batch-89478485",
			setup: func(t *testing.T, dir string) []string {
				f := onnxpb.TensorProto_FLOAT
				g := &onnxpb.GraphProto{
					Input:  []*onnxpb.ValueInfoProto{onnxbuild.Info("x", f, "batch", 12)},
					Node:   []*onnxpb.NodeProto{hmNode("Relu", []string{"x"}, []string{"y"})},
					Output: []*onnxpb.ValueInfoProto{onnxbuild.Output("y", f)},
				}
				return []string{"run", hmWrite(t, dir, "m.onnx", hmModel(g)), "--dim", "batch=89478485", "--out-dir", "out"}
			},
			exit:   1,
			stderr: `input "x": shape \[89478485 12\] needs .* past the memory budget of .*; lower the --dim values or raise --max-memory`,
		},
	)
}

// hmRopeModel is a small decoder with head_dim and max_sequence set.
func hmRopeModel(headDim, maxSeq int) string {
	return fmt.Sprintf(`format: 1
name: rope
architecture:
  kind: decoder
  vocab_size: 97
  hidden_size: 32
  layers: 1
  heads: 1
  head_dim: %d
  ffn_hidden_size: 64
hyper_connections:
  kind: mhc
  streams: 2
weights:
  source: random
inputs:
  max_sequence: %d
`, headDim, maxSeq)
}

func hmYAML(text string, args ...string) func(t *testing.T, dir string) []string {
	return func(t *testing.T, dir string) []string {
		if !strings.Contains(text, "head_dim") {
			t.Fatal("model text lost its head_dim")
		}
		if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return args
	}
}

func init() {
	// Within every per-key bound, 128 GiB of RoPE tables together.
	huge := hmRopeModel(16384, 1<<20)
	for _, cmd := range [][]string{{"check", "m.yaml"}, {"inspect", "m.yaml"}, {"compile", "m.yaml", "-o", "m.onnx"}} {
		hostileCases = append(hostileCases, hostileCase{
			name:   "mem/rope-128GiB-" + cmd[0],
			setup:  hmYAML(huge, cmd...),
			exit:   1,
			stderr: `m.yaml:\d+:\d+: inputs.max_sequence: max_sequence × head_dim = 1048576 × 16384 makes RoPE tables .* of 128 GiB`,
			check: func(t *testing.T, dir, stdout, stderr string) {
				if _, err := os.Stat(filepath.Join(dir, "m.onnx")); err == nil {
					t.Error("m.onnx written")
				}
			},
		})
	}
	// At the bound (1 GiB of tables): check and inspect compute neither
	// table, so they stay small and quick.
	edge := hmRopeModel(128, 1<<20)
	for _, cmd := range []string{"check", "inspect"} {
		hostileCases = append(hostileCases, hostileCase{
			name:    "mem/rope-1GiB-" + cmd,
			setup:   hmYAML(edge, cmd, "m.yaml"),
			exit:    0,
			mem:     1 << 30,
			timeout: 20 * time.Second,
		})
	}
}

// hmKeys is the default model followed by n unknown top-level keys.
func hmKeys(n int) func(t *testing.T, dir string) []string {
	return func(t *testing.T, dir string) []string {
		f, err := os.Create(filepath.Join(dir, "m.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w := bufio.NewWriter(f)
		w.WriteString(goodModel)
		for i := range n {
			fmt.Fprintf(w, "unknown_key_%d: 1\n", i)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return []string{"check", "m.yaml"}
	}
}

func init() {
	hostileCases = append(hostileCases,
		hostileCase{
			// Under the file bound: 100 problems reported, the rest counted.
			name:   "mem/yaml-45k-unknown-keys",
			setup:  hmKeys(45000),
			exit:   1,
			stderr: `m.yaml: and 44900 more problems \(only the first 100 are reported\)`,
			mem:    1 << 30,
			check: func(t *testing.T, dir, stdout, stderr string) {
				if n := strings.Count(stderr, "\n"); n > 110 {
					t.Errorf("%d lines on stderr", n)
				}
			},
		},
		hostileCase{
			name:   "mem/yaml-3M-unknown-keys",
			setup:  hmKeys(3_000_000),
			exit:   1,
			stderr: `m.yaml: \d+ bytes, more than a model file may have \(1 MiB\); refused`,
			mem:    1 << 30,
		},
	)
}

func init() {
	hostileCases = append(hostileCases, hostileCase{
		// The error quotes the attribute: its ends and length, not 15 MB.
		name: "mem/attribute-2M-entries-in-error",
		setup: func(t *testing.T, dir string) []string {
			perm := make([]int64, 2_000_000)
			for i := range perm {
				perm[i] = int64(i)
			}
			f := onnxpb.TensorProto_FLOAT
			g := &onnxpb.GraphProto{
				Input:  []*onnxpb.ValueInfoProto{onnxbuild.Info("x", f, 2, 3)},
				Node:   []*onnxpb.NodeProto{hmNode("Transpose", []string{"x"}, []string{"y"}, &onnxpb.AttributeProto{Name: proto.String("perm"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: perm})},
				Output: []*onnxpb.ValueInfoProto{onnxbuild.Output("y", f)},
			}
			return []string{"run", hmWrite(t, dir, "m.onnx", hmModel(g)), "--out-dir", "out"}
		},
		exit:   1,
		stderr: `perm \[0 1 2 3 4 5 6 7 … 1999998 1999999\] \(2000000 values\) for rank 2`,
		check: func(t *testing.T, dir, stdout, stderr string) {
			if len(stderr) > 4096 {
				t.Errorf("%d bytes on stderr", len(stderr))
			}
		},
	})
}

// hmNestedIf is a model whose If nodes nest depth deep: each then branch
// holds the next If, the innermost returns the input.
func hmNestedIf(depth int) *onnxpb.ModelProto {
	f, b := onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_BOOL
	leaf := func() *onnxpb.GraphProto {
		return &onnxpb.GraphProto{Name: proto.String("leaf"), Node: []*onnxpb.NodeProto{hmNode("Identity", []string{"x"}, []string{"r"})}, Output: []*onnxpb.ValueInfoProto{onnxbuild.Output("r", f)}}
	}
	g := leaf()
	for range depth {
		g = &onnxpb.GraphProto{
			Name:   proto.String("branch"),
			Node:   []*onnxpb.NodeProto{hmNode("If", []string{"c"}, []string{"r"}, hmGraphAttr("then_branch", g), hmGraphAttr("else_branch", leaf()))},
			Output: []*onnxpb.ValueInfoProto{onnxbuild.Output("r", f)},
		}
	}
	g.Name = proto.String("main")
	g.Input = []*onnxpb.ValueInfoProto{onnxbuild.Info("c", b), onnxbuild.Info("x", f, 2)}
	return hmModel(g)
}

func init() {
	nest := func(depth int, cmd ...string) func(t *testing.T, dir string) []string {
		return func(t *testing.T, dir string) []string {
			hmWrite(t, dir, "m.onnx", hmNestedIf(depth))
			return cmd
		}
	}
	deep := `m.onnx: subgraphs \(If, Loop, Scan bodies\) nest more than 100 deep`
	hostileCases = append(hostileCases,
		hostileCase{name: "cpu/if-nested-3000-fmt", setup: nest(3000, "fmt", "m.onnx"), exit: 1, stderr: deep},
		hostileCase{name: "cpu/if-nested-3000-diff", setup: nest(3000, "diff", "m.onnx", "m.onnx"), exit: 2, stderr: deep},
		hostileCase{name: "cpu/if-nested-3000-graph", setup: nest(3000, "graph", "m.onnx"), exit: 1, stderr: deep},
		hostileCase{
			// Under the bound: printed, and quickly.
			name: "cpu/if-nested-100-fmt", setup: nest(99, "fmt", "m.onnx"), exit: 0, timeout: 20 * time.Second,
			check: func(t *testing.T, dir, stdout, stderr string) {
				if n := strings.Count(stdout, "= If"); n != 99 {
					t.Errorf("%d If nodes printed, want 99", n)
				}
			},
		},
		hostileCase{
			// Two chains of a million nodes that share nothing: the
			// alignment works piecewise (onnx/diff alignCells).
			name: "cpu/diff-two-1M-node-chains",
			setup: func(t *testing.T, dir string) []string {
				hmWrite(t, dir, "a.onnx", hmModel(onnxbuild.Chain(1_000_000, "Relu")))
				hmWrite(t, dir, "b.onnx", hmModel(onnxbuild.Chain(1_000_000, "Sigmoid")))
				return []string{"diff", "a.onnx", "b.onnx"}
			},
			exit:    1,
			stderr:  `a.onnx and b.onnx differ`,
			timeout: 300 * time.Second,
		},
	)
}
