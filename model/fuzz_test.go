package model_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/lower"
	"github.com/mhcc-dev/mhcc/model"
)

// FuzzLoad is an external test (package model_test) because it lowers what
// loads, and lower imports model.

// FuzzLoad checks that no input makes Load panic, that every error names a
// position, and that what loads is within the documented ranges and, when
// small, lowers to a graph that verifies.
func FuzzLoad(f *testing.F) {
	filepath.WalkDir("../testdata", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yaml") {
			if data, err := os.ReadFile(path); err == nil {
				f.Add(data)
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := model.LoadBytes("fuzz.yaml", data)
		if err != nil {
			var list model.ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("got %T %v, want an ErrorList", err, err)
			}
			for _, e := range list {
				if e.Pos.File != "fuzz.yaml" || e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
					t.Fatalf("bad error %#v", e)
				}
			}
			return
		}
		model.CheckInvariants(t, m)
		if model.ApproxParams(m) <= 1<<16 && m.Arch.Layers <= 4 {
			if _, err := lower.Lower(m, model.RandomWeights(m)); err != nil {
				t.Fatalf("a loaded model does not lower: %v", err)
			}
		}
	})
}
