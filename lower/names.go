package lower

import (
	"fmt"
)

// The interface of a lowered graph: the names of its inputs and outputs, and
// the ONNX metadata keys mhcc writes. Everything that feeds, reads or checks
// a graph mhcc compiled (the runtime's drivers, verify, generate, the
// exporter, the browser package) uses these, so a name is spelled in one
// place. The names follow Hugging Face's ONNX exports, which transformers.js
// and onnxruntime-genai expect.

// Graph inputs and outputs.
const (
	InputIDs      = "input_ids"      // decoder: token ids, int64 [batch, sequence]
	AttentionMask = "attention_mask" // KV-cache decoder: int64 [batch, total_sequence], 1 = attend
	PositionIDs   = "position_ids"   // KV-cache decoder: int64 [batch, sequence]
	Logits        = "logits"         // decoder: float [batch, sequence, vocab]
	MLPInput      = "x"              // mlp: float [batch, input_size]
	MLPOutput     = "y"              // mlp: float [batch, output_size]
)

// Prefixes and suffixes of the KV-cache inputs and outputs: layer i's past
// key comes in as PastKey(i), its extended key goes out as PresentKey(i).
const (
	PastPrefix    = "past_key_values."
	PresentPrefix = "present."
	KeySuffix     = ".key"
	ValueSuffix   = ".value"
)

// PastKey is the name of layer i's past-key input of a KV-cache graph.
func PastKey(i int) string { return fmt.Sprintf(PastPrefix+"%d"+KeySuffix, i) }

// PastValue is the name of layer i's past-value input of a KV-cache graph.
func PastValue(i int) string { return fmt.Sprintf(PastPrefix+"%d"+ValueSuffix, i) }

// PresentKey is the name of layer i's present-key output of a KV-cache graph.
func PresentKey(i int) string { return fmt.Sprintf(PresentPrefix+"%d"+KeySuffix, i) }

// PresentValue is the name of layer i's present-value output of a KV-cache
// graph.
func PresentValue(i int) string { return fmt.Sprintf(PresentPrefix+"%d"+ValueSuffix, i) }
