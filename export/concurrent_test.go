package export_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/export"
	"github.com/mhcc-dev/mhcc/model"
)

// Issue 17, point 8: two compiles of different models to the same output
// could leave the model of one next to the data of the other (each renamed
// its data, then its model; the renames interleaved). Two writers race here
// for many rounds; after each, the folder must hold one writer's pair whole.
func TestWriteFilesConcurrentPairs(t *testing.T) {
	src, err := os.ReadFile("../testdata/models/tiny-mhc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	type pair struct{ model, data []byte }
	var results [2]*compile.Result
	var want [2]pair
	for i, edit := range []string{"seed: 1", "seed: 2"} {
		m, err := model.LoadBytes("m.yaml", []byte(strings.Replace(strings.Replace(string(src), "seed: 1", edit, 1), "name: tiny-mhc", "name: m"+edit[len(edit)-1:], 1)))
		if err != nil {
			t.Fatal(err)
		}
		w, err := model.LoadWeights(m)
		if err != nil {
			t.Fatal(err)
		}
		res, err := compile.CompileModel(m, w, compile.Options{External: compile.ExternalAlways, DataLocation: export.DataLocation(out), ExternalThreshold: 1024})
		if err != nil {
			t.Fatal(err)
		}
		var data bytes.Buffer
		if err := res.Layout.WriteData(&data, nil); err != nil {
			t.Fatal(err)
		}
		results[i], want[i] = res, pair{res.ONNX, data.Bytes()}
	}
	if bytes.Equal(want[0].model, want[1].model) || bytes.Equal(want[0].data, want[1].data) {
		t.Fatal("the two models must differ in both files")
	}
	rounds := 200 // today's main mixed about 1 round in 40 here
	if testing.Short() {
		rounds = 40
	}
	mixed := 0
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		for _, res := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := export.WriteFiles(out, res.ONNX, res.Layout, nil); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		model, _ := os.ReadFile(out)
		data, _ := os.ReadFile(out + ".data")
		ok := false
		for _, w := range want {
			ok = ok || bytes.Equal(model, w.model) && bytes.Equal(data, w.data)
		}
		if !ok {
			mixed++
		}
	}
	if mixed > 0 {
		t.Errorf("%d of %d rounds left a model and a data file of different compiles", mixed, rounds)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %v, want out.onnx and out.onnx.data only", names)
	}
}
