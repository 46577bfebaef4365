package verify

import (
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// FailureReport is the report of a verification that could not run (the
// model file is wrong, the ONNX file does not decode, a run fails): OK false,
// the error, and the ops the Go runtime lacks when that is the cause. So
// `mhcc verify --json` prints a JSON document on every outcome, and a tool
// reading it needs no second parser for stderr.
func FailureReport(model, checked string, err error) *Report {
	return &Report{
		Model:          model,
		Checked:        checked,
		Runs:           []RunReport{},
		Sublayers:      []SublayerReport{},
		Error:          err.Error(),
		UnsupportedOps: mhrt.UnsupportedOps(err),
	}
}
