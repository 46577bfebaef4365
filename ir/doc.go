// Package ir is mhcc's intermediate representation: a typed dataflow Graph
// of Values and Nodes (graph.go), one table of ops with their shape rules
// (op.go, infer.go), types and constant tensors (types.go; stream.go for
// weights produced on demand), Verify, and a text form that Print writes
// and Parse reads back. Positions (Pos) point into the model file a node was
// lowered from.
//
// ir imports no stage: package model reads model files, package lower builds
// graphs from them, passes transform graphs and export encodes them as ONNX
// (RATIONALE.md, "Package boundaries: stages").
package ir
