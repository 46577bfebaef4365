package model

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/mhcc-dev/mhcc/internal/safetensors"
)

// BinaryKind names what data is when it is not text: "a safetensors
// weights file", "an ONNX model" or "a binary file (…)" (a NUL byte in the
// first 8 KiB); "" for data that may be YAML text. A model file is text, and the files most often given in
// its place are the model's weights and its compiled ONNX: naming them says
// what went wrong where the YAML parser would only see a control character.
func BinaryKind(data []byte) string {
	if isSafetensors(data) {
		return "a safetensors weights file"
	}
	if isONNX(data) {
		return "an ONNX model"
	}
	// UTF-16 (or UTF-32) text with a byte-order mark has NULs; YAML reads
	// the former and reports the latter. Text in another encoding than
	// UTF-8 is YAML's to report too, at its line.
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0, 0, 0xFE, 0xFF}) {
		return ""
	}
	if i := bytes.IndexByte(data[:min(len(data), 8<<10)], 0); i >= 0 {
		return fmt.Sprintf("a binary file (a NUL byte at offset %d)", i)
	}
	return ""
}

// isSafetensors reports whether data starts as a safetensors file does: a
// little-endian uint64 header length within the cap the safetensors reader
// keeps (safetensors.MaxHeaderSize), then a JSON object. The length is not checked against len(data): Load sniffs
// only the first 8 KiB of a file too large to be a model file, and a real
// model's header is longer than that. (Text cannot match: a length under
// the cap has NUL bytes.)
func isSafetensors(data []byte) bool {
	if len(data) < 10 {
		return false
	}
	n := binary.LittleEndian.Uint64(data)
	return n >= 2 && n <= safetensors.MaxHeaderSize && data[8] == '{'
}

// isONNX reports whether data starts as the ONNX files mhcc, torch and
// onnx write do: field 1 (ir_version) as a varint of 1 to 20, then the tag
// of another ModelProto field. YAML text cannot start with byte 0x08.
func isONNX(data []byte) bool {
	if len(data) < 3 || data[0] != 0x08 || data[1] < 1 || data[1] > 20 {
		return false
	}
	field, wire := data[2]>>3, data[2]&7
	return field >= 2 && field <= 20 && (wire == 0 || wire == 2)
}

// binaryHint is what to do instead, for the kinds of file BinaryKind
// recognises.
func binaryHint(kind string) string {
	switch kind {
	case "a safetensors weights file":
		return "; a model file names its weights file in weights.path, with source: safetensors"
	case "an ONNX model":
		return "; an ONNX model is what a model file compiles to"
	}
	return ""
}
