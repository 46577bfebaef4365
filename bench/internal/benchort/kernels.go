package benchort

import (
	"fmt"
	"slices"

	"github.com/mhcc-dev/mhcc/export"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/target"
	"google.golang.org/protobuf/proto"
)

// FusedNodes counts a model's top-level ai.mhcc nodes per fused op type
// (export.FusedOpTypes): the calls of mhcc's custom-op library's kernels
// that one run of the model makes when the kernels, not the function
// bodies, run. Nil if the bytes are not a model.
func FusedNodes(onnx []byte) map[string]int64 {
	var m onnxpb.ModelProto
	if proto.Unmarshal(onnx, &m) != nil {
		return nil
	}
	out := map[string]int64{}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetDomain() == target.DomainMHCC && slices.Contains(export.FusedOpTypes, n.GetOpType()) {
			out[n.GetOpType()]++
		}
	}
	return out
}

// CheckKernels reports, for contender name, whether runs runs of a graph
// with the fused nodes nodes (FusedNodes) ran the library's kernels: its
// call counters before and after (ortops.Lib.Calls) must show some kernel
// ran, and each op's kernel exactly runs times per node, so that a
// function body running in place of some kernels is caught too.
func CheckKernels(name string, before, after, nodes map[string]int64, runs int64) error {
	ran := int64(0)
	for op, n := range after {
		ran += n - before[op]
	}
	if ran == 0 {
		return fmt.Errorf("%s: no kernel of the custom-op library ran (the function bodies did)", name)
	}
	for op, n := range nodes {
		if d := after[op] - before[op]; d != runs*n {
			return fmt.Errorf("%s: the library's %s kernel ran %d times in %d run(s) of a graph with %d such nodes (a function body ran instead?)", name, op, d, runs, n)
		}
	}
	return nil
}
