package passes

// Pipeline is the default order of passes; each row says why it sits there.
// TestPipelineOrder checks the constraints of order.
var Pipeline = []*Pass{
	FoldStaticHC,                  // first: static sublayers' coefficients become float64-exact constants
	FoldConstants,                 // then anything else computable now (in the graph's precision)
	EliminateCommonSubexpressions, // merges equal constants and duplicate nodes the folding exposed
	FuseHCProjection,              // scales into fn; needs the static sublayers folded away first
	FuseStreamMix,                 // collapse + mixing in one pass over the state
	FuseAddRMSNorm,                // residual add + next norm (plain residual models)
	ApplyPrecision,                // types last: the rewrites above work on the float32 graph
	FuseHCBoundary,                // fused ai.mhcc ops (fused target only); reads through apply_precision's casts
	SelectLowerings,               // last decision before export: each node gets its target's lowering
	EliminateDead,                 // removes what the rewrites above left unread
}

// order lists the constraints on Pipeline: before must run before after.
var order = []struct{ before, after, why string }{
	{"fold_static_hc", "fold_constants", "folding the static coefficients in float64 first keeps fold_constants from computing them in float32"},
	{"fold_static_hc", "fuse_stream_mix", "a static sublayer's premix then reads constant coefficients"},
	{"fold_constants", "cse", "folded values can be merged"},
	{"fuse_hc_projection", "select_lowerings", "lowerings are chosen for the final nodes"},
	{"fuse_stream_mix", "select_lowerings", "lowerings are chosen for the final nodes"},
	{"select_lowerings", "dce", "dce cleans up after every rewrite"},
	{"fuse_stream_mix", "apply_precision", "the casts go where the final nodes read the coefficients"},
	{"fuse_add_rmsnorm", "select_lowerings", "lowerings are chosen for the final nodes"},
	{"fuse_add_rmsnorm", "dce", "the replaced Add and RMSNorm are dead until dce removes them"},
	{"fold_static_hc", "apply_precision", "static coefficients fold in float64 and are then narrowed with the weights"},
	{"fuse_stream_mix", "dce", "the replaced collapse nodes are dead until dce removes them"},
	{"fuse_stream_mix", "fuse_hc_boundary", "the boundary op absorbs HCPremix and the HCMix that fuse_stream_mix leaves"},
	{"fuse_hc_projection", "fuse_hc_boundary", "the fused coefficients op takes the scales folded into fn"},
	{"apply_precision", "fuse_hc_boundary", "the fused ops take the narrowed state and the float32 coefficients, so the casts must be in place"},
	{"fuse_hc_boundary", "select_lowerings", "lowerings are chosen for the final nodes"},
	{"fuse_hc_boundary", "dce", "the replaced nodes are dead until dce removes them"},
}
