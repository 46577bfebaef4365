package export

import (
	"github.com/mhcc-dev/mhcc/ir"
)

// An expansion writes the ONNX nodes (opset 17, domain ai.onnx) computing one
// IR node. in holds the ONNX names of the node's inputs ("" for an omitted
// one) and out the names its outputs must get.
type expansion func(e *emitter, n *ir.Node, in, out []string)

// opmap is the single table from IR op to its ONNX form. Every expansion is
// the straightforward reading of docs/spec.md §2–3, step by step, in float32: it is
// the reference lowering that optimised lowerings are compared against.
// TestOpmapComplete fails when an IR op has no row.
var opmap = map[ir.Op]expansion{
	ir.OpGather:       expandGather,
	ir.OpLinear:       expandLinear,
	ir.OpAdd:          expandAdd,
	ir.OpRMSNorm:      expandRMSNorm,
	ir.OpAttention:    expandAttention,
	ir.OpSwiGLU:       expandSwiGLU,
	ir.OpSiluMLP:      expandSiluMLP,
	ir.OpHCExpand:     expandHCExpand,
	ir.OpHCCoeffs:     expandHCCoeffs,
	ir.OpHCHeadCoeffs: expandHCHeadCoeffs,
	ir.OpSinkhorn:     expandSinkhorn,
	ir.OpHCCollapse:   expandHCCollapse,
	ir.OpHCMix:        expandHCMix,
	ir.OpHCPremix:     expandHCPremix,
	ir.OpAttentionKV:  expandAttentionKV,
	ir.OpCast:         expandCast,
	ir.OpAddRMSNorm:   expandAddRMSNorm,

	ir.OpHCCoeffsSinkhorn: expandHCCoeffsSinkhorn, // op_hcfused.go
	ir.OpHCBoundary:       expandHCBoundary,
	ir.OpMoE:              expandMoE,
	ir.OpLayerNorm:        expandLayerNorm,
	ir.OpMLP:              expandMLP,
	ir.OpAddPositions:     expandAddPositions,
	ir.OpHCCoeffsBoundary: expandHCCoeffsBoundary,
	ir.OpHCHead:           expandHCHead,  // op_hchead.go
	ir.OpHCEntry:          expandHCEntry, // op_hcentry.go
}

// alternatives holds, per IR op, the lowerings other than "reference" (the
// op's row in opmap). A target profile picks one by name (a name is a key,
// so it is unique per op); each is documented at its function, in the op's
// file op_<op>.go next to the reference, and measured in bench/passes.md.
// "minimal" is the form of the minimal target (minimal.go).
var alternatives = map[ir.Op]map[string]expansion{
	ir.OpLinear:       {"minimal": minimalLinear},
	ir.OpAdd:          {"minimal": minimalAdd},
	ir.OpRMSNorm:      {"fusable": expandRMSNormFusable, "minimal": minimalRMSNorm},
	ir.OpAddRMSNorm:   {"skip": expandAddRMSNormSkip},
	ir.OpSiluMLP:      {"minimal": minimalSiluMLP},
	ir.OpAttention:    {"webgpu": expandAttentionWebGPU},
	ir.OpAttentionKV:  {"gqa": expandAttentionKVGQA, "webgpu": expandAttentionKVWebGPU},
	ir.OpHCExpand:     {"minimal": minimalHCExpand},
	ir.OpHCCoeffs:     {"minimal": minimalHCCoeffs},
	ir.OpHCHeadCoeffs: {"minimal": minimalHCHeadCoeffs},
	ir.OpSinkhorn: {
		"gemm":     expandSinkhornGEMM,
		"log":      expandSinkhornLog,
		"loop":     expandSinkhornLoop,
		"function": expandSinkhornFunction,
		"custom":   expandSinkhornCustom,
		"minimal":  minimalSinkhorn,
	},
	ir.OpHCCollapse: {"matmul": expandHCCollapseMatMul, "minimal": minimalHCCollapse},
	ir.OpHCMix:      {"concat_matmul": expandHCMixConcatMatMul, "minimal": minimalHCMix},
	ir.OpHCPremix:   {"two_matmul": expandHCPremixTwoMatMul},

	ir.OpHCCoeffsSinkhorn: {"function": expandHCCoeffsSinkhornFunction, "custom": expandHCCoeffsSinkhornCustom},
	ir.OpHCBoundary:       {"function": expandHCBoundaryFunction, "custom": expandHCBoundaryCustom},
	ir.OpHCCoeffsBoundary: {"function": expandHCCoeffsBoundaryFunction, "custom": expandHCCoeffsBoundaryCustom},
	ir.OpHCHead:           {"function": expandHCHeadFunction, "custom": expandHCHeadCustom},
	ir.OpHCEntry:          {"function": expandHCEntryFunction, "custom": expandHCEntryCustom},
	ir.OpMoE:              {"gather": expandMoEGather, "webgpu": expandMoEWebGPU},
	ir.OpLayerNorm:        {"fused": expandLayerNormFused},
	ir.OpMLP:              {"webgpu": expandMLPWebGPU},
}
