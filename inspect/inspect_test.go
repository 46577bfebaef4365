package inspect

import (
	"testing"

	"github.com/mhcc-dev/mhcc/model"
)

// FLOPs of mlp-mhc, worked out by hand from the model file and the counting
// rules in CountFLOPs' comments: in_proj 2·12·16, three layers of norm
// (4C) + SiLU MLP (2·2·C·F + 4F), the final norm, out_proj 2·16·5, and the
// mHC wrappers and head collapse for n = 4, C = 16, 20 Sinkhorn iterations.
func TestCountFLOPsMLP(t *testing.T) {
	m, err := model.Load("../testdata/models/mlp-mhc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const c, f, n, k = 16, 32, 4, 4*4 + 2*4
	wrapper := 2*n*c + 2 + 2*n*c*k + 2*k + k + 4*2*n + 3*n*n + 2*n*n + 20*4*n*n + 2*n*c + 2*n*n*c + 2*n*c
	collapse := 2*n*c + 2*n*c*n + 4*n + 2*n*c
	mhc := int64(3*wrapper + collapse)
	total := int64(2*12*c+3*(4*c+2*2*c*f+4*f)+4*c+2*c*5) + mhc
	got := CountFLOPs(m, 1)
	if got.Total != total || got.MHC != mhc {
		t.Errorf("mlp-mhc: %d FLOPs (mHC %d), want %d (mHC %d)", got.Total, got.MHC, total, mhc)
	}
	// A plain residual twin adds C per wrapper and has no mHC share.
	r := *m
	r.HC.Kind, r.HC.Streams = model.HCResidual, 1
	got = CountFLOPs(&r, 1)
	if want := total - mhc + 3*c; got.Total != want || got.MHC != 0 {
		t.Errorf("mlp-residual twin: %d FLOPs (mHC %d), want %d (mHC 0)", got.Total, got.MHC, want)
	}
}

// The measured traffic of a plain residual is exactly one Add: 2C reads, C
// writes per token, which checks the measuring itself.
func TestMeasureTrafficResidual(t *testing.T) {
	m, err := model.Load("../testdata/models/mlp-residual.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := MeasureTraffic(m, "onnx")
	if err != nil {
		t.Fatal(err)
	}
	c := int64(m.Arch.HiddenSize)
	if got != (RW{Reads: 2 * c, Writes: c}) {
		t.Errorf("measured %+v, want reads %d, writes %d", got, 2*c, c)
	}
}
