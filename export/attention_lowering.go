package export

import "github.com/mhcc-dev/mhcc/ir"

// attentionLowerings holds the alternative lowerings of Attention (e.g. the
// onnxruntime contrib operators).
var attentionLowerings = map[ir.Op]map[string]expansion{}
