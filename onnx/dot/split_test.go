package dot

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	onnxtext "github.com/mhcc-dev/mhcc/onnx/text"
)

// RenderSplit draws what Render draws, in every view, whole and per layer,
// on the repository's torch exports and on a layered chain; a refusal
// (too many boxes, no such layer) is the same error.
func TestRenderSplitMatchesRender(t *testing.T) {
	paths, _ := filepath.Glob("../../testdata/foreign/*.onnx")
	if len(paths) == 0 {
		t.Fatal("no torch exports in testdata/foreign")
	}
	models := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		models[p] = data
	}
	data, err := proto.Marshal(chain(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	models["chain"] = data
	for name, data := range models {
		m := &onnxpb.ModelProto{}
		if err := proto.Unmarshal(data, m); err != nil {
			t.Fatal(err)
		}
		for _, view := range []string{"layers", "ops", "nodes"} {
			for _, o := range []Options{{View: view, Layer: -1, MaxBoxes: 100000}, {View: view, Layer: 1, MaxBoxes: 300}, {View: view, Layer: 7, MaxBoxes: 300}, {View: view, Layer: -1, MaxBoxes: 2}} {
				want, errW := Render(m, o)
				s, ok := onnxtext.SplitModel(data)
				if !ok {
					t.Fatalf("%s: does not split", name)
				}
				got, errG := RenderSplit(s, o)
				if got != want || (errW == nil) != (errG == nil) || (errW != nil && errW.Error() != errG.Error()) {
					t.Errorf("%s %+v: RenderSplit differs from Render (errors %v, %v)", name, o, errG, errW)
				}
			}
		}
	}
}
