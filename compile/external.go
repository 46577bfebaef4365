package compile

import (
	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/model"
)

// ExternalMode says when Compile writes the weights as ONNX external data.
type ExternalMode int

const (
	// ExternalAuto: when the weights exceed export.AutoExternalBytes (a model
	// file cannot exceed 2 GiB); in memory and inline otherwise.
	ExternalAuto ExternalMode = iota
	// ExternalAlways: always, for initializers of at least the threshold.
	ExternalAlways
	// ExternalNever: never; a model too large for one file is an error.
	ExternalNever
)

// UsesExternal reports whether Compile will write m's weights as external
// data under opts (and so stream them instead of loading them).
func (o Options) UsesExternal(m *model.Model) bool {
	if o.Message {
		return false
	}
	switch o.External {
	case ExternalAlways:
		return true
	case ExternalNever:
		return false
	}
	n := model.WeightBytes(m)
	if o.Float64 {
		n *= 2
	}
	return n > export.AutoExternalBytes
}

// external is the exporter's setting for m: nil for inline weights.
func (o Options) external(m *model.Model) *export.External {
	if !o.UsesExternal(m) {
		return nil
	}
	loc := o.DataLocation
	if loc == "" {
		loc = m.Name + ".onnx.data"
	}
	return &export.External{Location: loc, Threshold: o.ExternalThreshold}
}

// loadWeights reads m's weights; with external data the large ones are
// streamed (model.StreamWeights) and read only when the data file is written,
// so memory stays near a chunk plus the graph whatever the model's size.
func (o Options) loadWeights(m *model.Model) (model.Weights, error) {
	if o.UsesExternal(m) {
		return model.StreamWeights(m, model.LazyMinBytes)
	}
	return model.LoadWeights(m)
}
