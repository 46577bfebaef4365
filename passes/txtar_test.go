package passes

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/foldeval"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/target"
	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the out.ir sections of testdata/*/*.txtar")

// TestPasses runs each testdata/<pass>/*.txtar: the graph of in.ir, the pass
// named by the folder (or the comma-separated list in a "passes" section)
// with Verify before and after, and the printed result compared with out.ir.
// A "target" section names the profile (default onnx), a "precision"
// section overrides its precision. go test -update
// rewrites out.ir; read the diff before committing it.
func TestPasses(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.txtar")
	if len(files) == 0 {
		t.Fatal("no testdata/*/*.txtar")
	}
	seen := map[string]bool{}
	for _, file := range files {
		dir := filepath.Base(filepath.Dir(file))
		seen[dir] = true
		t.Run(dir+"/"+strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sections := map[string]string{}
			for _, f := range ar.Files {
				sections[f.Name] = string(f.Data)
			}
			if strings.TrimSpace(string(ar.Comment)) == "" {
				t.Errorf("%s: no one-line purpose before the first section", file)
			}
			names := []string{dir}
			if s := strings.TrimSpace(sections["passes"]); s != "" {
				names = strings.Split(s, ",")
			}
			var ps []*Pass
			for _, n := range names {
				p := ByName(strings.TrimSpace(n))
				if p == nil {
					t.Fatalf("unknown pass %q", n)
				}
				ps = append(ps, p)
			}
			prof, err := target.Get(strings.TrimSpace(sections["target"]))
			if err != nil {
				t.Fatal(err)
			}
			g, err := ir.Parse(sections["in.ir"])
			if err != nil {
				t.Fatalf("in.ir: %v", err)
			}
			cfg := Config{Eval: foldeval.Runtime{}, Target: prof, Precision: strings.TrimSpace(sections["precision"]), Verify: true}
			if _, err := Run(g, ps, cfg); err != nil {
				t.Fatal(err)
			}
			got := g.String()
			if *update {
				for i := range ar.Files {
					if ar.Files[i].Name == "out.ir" {
						ar.Files[i].Data = []byte(got)
					}
				}
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, ok := sections["out.ir"]
			if !ok {
				t.Fatalf("%s: no out.ir section", file)
			}
			if got != want {
				t.Errorf("after %s:\n%s\nwant:\n%s\n(go test ./passes -update rewrites out.ir)", strings.Join(names, ","), got, want)
			}
			// out.ir itself must parse and print back unchanged.
			back, err := ir.Parse(want)
			if err != nil {
				t.Fatalf("out.ir: %v", err)
			}
			if !bytes.Equal([]byte(back.String()), []byte(want)) {
				t.Errorf("out.ir does not print back as itself")
			}
		})
	}
	for _, p := range Pipeline {
		if !seen[p.Name] {
			t.Errorf("pass %s has no testdata/%s/*.txtar", p.Name, p.Name)
		}
	}
}

// TestPipelineOrder checks the ordering constraints of order against
// Pipeline, and that every pass name is unique and documented.
func TestPipelineOrder(t *testing.T) {
	at := map[string]int{}
	for i, p := range Pipeline {
		if _, dup := at[p.Name]; dup {
			t.Errorf("pass %s appears twice", p.Name)
		}
		at[p.Name] = i
		if p.Doc == "" || strings.Contains(p.Doc, "\n") {
			t.Errorf("pass %s: want a one-line Doc", p.Name)
		}
	}
	for _, c := range order {
		b, ok1 := at[c.before]
		a, ok2 := at[c.after]
		if !ok1 || !ok2 {
			t.Errorf("order names a pass not in Pipeline: %s, %s", c.before, c.after)
			continue
		}
		if b >= a {
			t.Errorf("%s must run before %s: %s", c.before, c.after, c.why)
		}
	}
}
