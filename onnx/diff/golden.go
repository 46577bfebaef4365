package graphdiff

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/text"
)

// Text goldens. A model read back from mhcc fmt's text by onnxtext.Parse
// has its initializers as hashes only (onnxtext.HashOnly): Compare matches
// them by that hash, like any tensor, and when the hashes differ there are
// no values to count or to hold to --rtol/--atol, so the change says only
// that the values changed, with both hashes.

// hashOnly reports whether t has a hash and no values.
func hashOnly(t *onnxpb.TensorProto) bool {
	_, ok := onnxtext.HashOnly(t)
	return ok
}

// hashOnlyChange fills ch for two initializers of the same dtype and shape
// whose hashes differ, one of them known only by its hash.
func hashOnlyChange(ch *Change, name string, a, b *tensorInfo) {
	ch.Severity, ch.Kind = Attribute, "initializer_value"
	ch.Before, ch.After = shortHash(a.hash), shortHash(b.hash)
	ch.Message = fmt.Sprintf("initializer %s: values changed (%s → %s)", name, ch.Before, ch.After)
}
