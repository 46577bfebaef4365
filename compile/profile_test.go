package compile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every built-in profile names only lowerings and passes mhcc knows; a
// profile file with an unknown lowering or pass is refused before compiling.
func TestProfiles(t *testing.T) {
	for _, name := range Targets {
		if _, err := Profile(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	dir := t.TempDir()
	for _, c := range []struct{ text, want string }{
		{"lowering: {Sinkhorn: fast}", `lowering.Sinkhorn: unknown lowering "fast"; known: reference, custom`},
		{"lowering: {Frob: x}", "lowering.Frob: unknown IR op"},
		{"disable: [fold_everything]", `disable: unknown pass "fold_everything"`},
	} {
		path := filepath.Join(dir, "p.yaml")
		text := "name: p\nir_version: 8\nopsets: {\"\": 17}\nops: {\"\": [\"*\"]}\n" + c.text + "\n"
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Profile(path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.text, err, c.want)
		}
		if _, err := Compile("../testdata/models/tiny-mhc.yaml", Options{Target: path}); err == nil || IsInternal(err) {
			t.Errorf("%s: compile gave %v, want a user error", c.text, err)
		}
	}
	if _, err := Compile("../testdata/models/tiny-mhc.yaml", Options{Disabled: map[string]bool{"select_lowerings": true}}); err == nil || !strings.Contains(err.Error(), "required") {
		t.Errorf("disabling a required pass: %v", err)
	}
}
