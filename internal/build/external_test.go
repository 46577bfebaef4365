package build

import (
	"testing"

	"github.com/mhcc-dev/mhcc/ir"
)

// The automatic switch to external data: past 1.75 GiB of weights (float32,
// or float64 for the verification reference), never for small models.
func TestUsesExternal(t *testing.T) {
	load := func(path string) *ir.Model {
		m, err := ir.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tiny, p3 := load("../../testdata/models/tiny-mhc.yaml"), load("../../bench/models/paper-3b.yaml")
	for _, c := range []struct {
		m    *ir.Model
		opts Options
		want bool
	}{
		{tiny, Options{}, false},
		{tiny, Options{External: ExternalAlways}, true},
		{p3, Options{}, true}, // 1.87 GiB
		{p3, Options{External: ExternalNever}, false},
	} {
		if got := c.opts.UsesExternal(c.m); got != c.want {
			t.Errorf("%s with %+v: UsesExternal = %v, want %v", c.m.Name, c.opts, got, c.want)
		}
	}
	// A large model compiles without generating its weights: only the
	// layout of the data file is made, and the data file would hold them all.
	res, err := Compile("../../bench/models/paper-27b.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Layout == nil || res.Layout.Size() < ir.WeightBytes(res.Model) || len(res.ONNX) > 4<<20 {
		t.Errorf("paper-27b: layout %v, model %d bytes; want a data file of at least %d bytes and a small model", res.Layout.Size(), len(res.ONNX), ir.WeightBytes(res.Model))
	}
	if res.Layout.Location != "paper-27b.onnx.data" {
		t.Errorf("default data file name %q, want paper-27b.onnx.data", res.Layout.Location)
	}
}
