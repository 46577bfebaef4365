// Package model is mhcc's frontend: it reads a model file (YAML, format 1,
// docs/spec.md §5) into a validated Model with every default filled and the
// position of every key kept, and it reads or generates the model's weights
// (docs/spec.md §4): random from the file's seed, or from a safetensors file,
// whole (LoadWeights) or streamed (StreamWeights) for models too large to
// hold in memory.
//
// Every problem in a model file is reported, not just the first, as an
// ErrorList of Errors with a file:line:col position (an ir.Pos) and the
// dotted path of the key. Package lower turns a Model and its Weights into
// an ir.Graph; package model does not import lower or any later stage.
package model
