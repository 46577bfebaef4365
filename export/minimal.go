package export

import "github.com/mhcc-dev/mhcc/ir"

// minimalLowerings holds the lowerings of the "minimal" target: every IR op
// expressed through the small operator set of constrained runtimes.
var minimalLowerings = map[ir.Op]map[string]expansion{}
