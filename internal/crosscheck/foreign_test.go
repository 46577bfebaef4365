package crosscheck

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/lower"
)

// TestForeignExportsMatchOnnxruntime runs the torch.onnx exports of
// testdata/foreign (user-style Llama and GPT mHC models, opsets 14 and 17;
// scripts/reference/export_foreign.py) in the Go runtime and in
// onnxruntime on the inputs torch ran, and compares both with torch's
// outputs. The GPT-style model has no mhcc architecture, so this is its only
// check: LayerNormalization (opset 17) or its decomposition (14), Erf-GELU,
// learned positions through Range, a tied head.
func TestForeignExportsMatchOnnxruntime(t *testing.T) {
	initORT(t)
	const dir = "../../testdata/foreign"
	f, err := safetensors.Open(filepath.Join(dir, "io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	read := func(name string) (output, bool) {
		info, ok := f.Lookup(name)
		if !ok {
			return output{}, false
		}
		xs, err := f.ReadFloat32(name)
		if err != nil {
			t.Fatal(err)
		}
		return output{info.Shape, xs}, true
	}
	for _, file := range []string{"llama-opset14.onnx", "llama-opset17.onnx", "gpt-opset14.onnx", "gpt-opset17.onnx"} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(dir, file)
			m := loadGo(t, path)
			model := strings.SplitN(file, "-", 2)[0]
			runs := 0
			for k := 0; ; k++ {
				info, ok := f.Lookup(fmt.Sprintf("run%d.input_ids", k))
				if !ok {
					break
				}
				ids, err := f.ReadInt64(info.Name)
				if err != nil {
					t.Fatal(err)
				}
				if model == "gpt" {
					for i := range ids {
						ids[i] %= 37 // the GPT model's vocabulary
					}
				}
				want, ok := read(fmt.Sprintf("run%d.%s", k, model))
				if !ok {
					t.Fatalf("io.safetensors has no run%d.%s", k, model)
				}
				in := idsInput(info.Shape, ids)
				goOut, ortOut := runBoth(t, m, path, in, lower.InputIDs, lower.Logits)
				compare(t, "Go runtime - onnxruntime", in, goOut, ortOut)
				compare(t, "Go runtime - torch", in, goOut, want)
				compare(t, "onnxruntime - torch", in, ortOut, want)
				runs++
			}
			if runs < 2 {
				t.Fatalf("%d runs in io.safetensors, want 2", runs)
			}
		})
	}
}
