// Package benchort opens the onnxruntime sessions of the benchmarks'
// contenders, so that every benchmark measures onnxruntime set up the same
// way. It is apart from benchenv because it needs cgo (onnxruntime_go) and
// not every benchmark does.
package benchort

import ort "github.com/yalue/onnxruntime_go"

// Session opens onnx in onnxruntime with threads intra-op threads and one
// inter-op thread, default graph optimisations. setup, when not nil,
// adjusts the options first (a benchmark registers a custom-op library
// there). The caller has initialised the onnxruntime environment.
func Session(onnx []byte, in, out []string, threads int, setup func(*ort.SessionOptions) error) (*ort.DynamicAdvancedSession, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	if setup != nil {
		if err := setup(opts); err != nil {
			return nil, err
		}
	}
	return ort.NewDynamicAdvancedSessionWithONNXData(onnx, in, out, opts)
}
