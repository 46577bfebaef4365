package benchort

import (
	"fmt"
	"slices"

	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// FusedNodes counts a model's top-level nodes of domain and one of
// opTypes, per op type: with target.DomainMHCC and export.FusedOpTypes
// (which the caller passes: this package does not depend on the compiler),
// the calls of mhcc's custom-op library's kernels that one run of the
// model makes when the kernels, not the function bodies, run. Nil if the
// bytes are not a model.
func FusedNodes(onnx []byte, domain string, opTypes []string) map[string]int64 {
	var m onnxpb.ModelProto
	if proto.Unmarshal(onnx, &m) != nil {
		return nil
	}
	out := map[string]int64{}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetDomain() == domain && slices.Contains(opTypes, n.GetOpType()) {
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
