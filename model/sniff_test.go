package model

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/testenv"
)

// A binary file given as a model file is named for what it is, not reported
// as a YAML syntax error; text, UTF-16 YAML included, still goes to the
// YAML parser.
func TestLoadBinaryFile(t *testing.T) {
	// Written by Python's safetensors package (the PyTorch reference's
	// fixtures), and by onnx's test suite (an exporter other than mhcc's).
	weights, err := os.ReadFile("../testdata/golden/mlp-mhc/weights.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	onnx, err := os.ReadFile(testenv.NeedPath(t, "/usr/share/libonnx-testdata/data/pytorch-operator/test_operator_add_broadcast/model.onnx", "libonnx-testdata"))
	if err != nil {
		t.Fatal(err)
	}
	elf := []byte("\x7fELF\x02\x01\x01\x00\x00\x00")
	utf16 := []byte{0xFF, 0xFE}
	for _, r := range "format: 2\n" {
		utf16 = append(utf16, byte(r), 0)
	}
	for _, c := range []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"safetensors", "w.safetensors", weights, "w.safetensors:1:1: got a safetensors weights file, want a model file (YAML text); a model file names its weights file in weights.path, with source: safetensors"},
		{"onnx", "m.onnx", onnx, "m.onnx:1:1: got an ONNX model, want a model file (YAML text); an ONNX model is what a model file compiles to"},
		{"elf", "a.out", elf, "a.out:1:1: got a binary file (a NUL byte at offset 7), want a model file (YAML text)"},
		// Text in another encoding than UTF-8 is no binary file.
		{"latin-1", "m.yaml", []byte("format: 1\nname: caf\xe9 au lait\n"), "m.yaml:2:10: invalid YAML: invalid trailing UTF-8 octet"},
		// Text with a control character is YAML's to report, at its place.
		{"control character", "m.yaml", []byte("format: 1\nname: a\x01b\n"), "m.yaml:2:8: invalid YAML: control characters are not allowed"},
		{"utf-16", "m.yaml", utf16, "m.yaml:1:9: format: got 2, want 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadBytes(c.file, c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}

// A large safetensors file (a real model's, whose JSON header alone is
// longer than the 8 KiB Load reads of a file past MaxFileBytes) is named
// as one too.
func TestLoadLargeSafetensors(t *testing.T) {
	const header = 64 << 10
	data := make([]byte, MaxFileBytes+header)
	binary.LittleEndian.PutUint64(data, header)
	copy(data[8:], `{"__metadata__":{"x":"`+strings.Repeat("y", header-30)+`"}}`)
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if want := "got a safetensors weights file"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
