// Package onnxgo cross-checks mhcc's "minimal" target with
// github.com/owulveryck/onnx-go, an independent ONNX decoder and executor
// (its Gorgonia backend runs 42 operators). It holds only tests, in a module
// of its own so that onnx-go, gogo/protobuf and Gorgonia never become
// dependencies of mhcc (RATIONALE.md, "Why does onnx-go live only in
// interop/onnxgo?"). scripts/test runs it after the main module.
package onnxgo
