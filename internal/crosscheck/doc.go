// Package crosscheck holds only tests: they check mhcc's pure-Go ONNX runtime
// (package runtime) against onnxruntime 1.30 and against the independent
// PyTorch reference (scripts/reference).
//
//   - TestRuntimeMatchesOnnxruntime compiles every model of testdata/models
//     and testdata/golden and runs it in both engines on the same seeded
//     inputs at two shapes.
//   - TestRuntimeRunsTorchExport exports the PyTorch reference of each golden
//     case with scripts/reference/export_onnx.py (torch.onnx.export, opset 17)
//     and runs that graph — Shape, Gather, Slice, Where, … as torch emits
//     them — in both engines on the golden inputs, comparing with the golden
//     outputs. It also exports the random-weight examples of testdata/models
//     and compares the torch graph with mhcc's compile of the same weights.
//
// Every comparison allows a max absolute difference of 1e-4 and logs the one
// it measured. The tests need onnxruntime and Debian's python3 with torch and
// onnx (internal/testenv): missing tools skip them, or fail them under CI=true.
package crosscheck
