package passes

// Pipeline is the default order of passes; each row says why it sits there.
// TestPipelineOrder checks the constraints of order.
var Pipeline = []*Pass{
	SelectLowerings, // last decision before export: each node gets its target's lowering
	EliminateDead,   // keeps the graph honest after the edits above
}

// order lists the constraints on Pipeline: before must run before after.
var order = []struct{ before, after, why string }{
	{"select_lowerings", "dce", "dce cleans up after every rewrite"},
}
