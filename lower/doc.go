// Package lower turns a model file (a model.Model and its model.Weights)
// into mhcc's IR (docs/spec.md §3): the decoder or the mlp, each sublayer
// wrapped in mHC or a plain residual, in the reference form the passes start
// from. names.go holds every name of a compiled graph's interface (inputs,
// outputs, KV-cache pairs) and the ONNX metadata keys mhcc writes.
package lower
