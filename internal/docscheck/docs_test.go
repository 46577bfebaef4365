package docscheck

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/compile"
	"github.com/mhcc-dev/mhcc/internal/testmodels"
)

const root = "../.."

// outside are references to documents outside the repository. They are
// split so that this file does not contain them.
var outside = []string{
	"../" + "shared",
	"/work/" + "shared",
	"SPEC" + ".md",
	"SPEC" + " §",
}

// textFile reports whether a file is one whose text people read: sources,
// docs, scripts, test data written by hand.
func textFile(path string) bool {
	switch filepath.Ext(path) {
	case ".go", ".md", ".py", ".yaml", ".yml", ".txtar", ".sh", ".proto", ".txt", ".toml", ".json":
		return true
	case "":
		return strings.Contains(filepath.ToSlash(path), "scripts/") || strings.HasPrefix(filepath.Base(path), ".ci")
	}
	return false
}

// repoFiles lists the repository's files, without .git and caches.
func repoFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("found only %d files under %s", len(files), root)
	}
	return files
}

// No file refers to the specification outside the repository: its place
// is docs/spec.md.
func TestNoReferencesOutside(t *testing.T) {
	checked := 0
	for _, path := range repoFiles(t) {
		if !textFile(path) {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for i, line := range bytes.Split(data, []byte("\n")) {
			for _, o := range outside {
				if bytes.Contains(line, []byte(o)) {
					rel, _ := filepath.Rel(root, path)
					t.Errorf("%s:%d: refers to %q, outside the repository; refer to docs/spec.md", rel, i+1, o)
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("checked only %d text files", checked)
	}
}

// An mdMatch is one match of a pattern in a Markdown file of the
// repository: the file, "rel/path.md:line" and the submatches.
type mdMatch struct {
	path, at string
	sub      []string
}

// markdownMatches returns every match of re, line by line, in every
// Markdown file of the repository.
func markdownMatches(t *testing.T, re *regexp.Regexp) []mdMatch {
	t.Helper()
	var out []mdMatch
	for _, path := range repoFiles(t) {
		if filepath.Ext(path) != ".md" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, path)
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				out = append(out, mdMatch{path: path, at: fmt.Sprintf("%s:%d", rel, i+1), sub: m})
			}
		}
	}
	return out
}

// mdLink matches an inline Markdown link's target.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Every relative link of every Markdown file names a file or folder of the
// repository.
func TestMarkdownLinks(t *testing.T) {
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	links := 0
	for _, m := range markdownMatches(t, mdLink) {
		target := m.sub[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		target, _, _ = strings.Cut(target, "#")
		links++
		p, err := filepath.Abs(filepath.Join(filepath.Dir(m.path), target))
		if err != nil {
			t.Fatal(err)
		}
		if p != abs && !strings.HasPrefix(p, abs+string(filepath.Separator)) {
			t.Errorf("%s: link %s leaves the repository", m.at, m.sub[1])
			continue
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: link %s: %v", m.at, m.sub[1], err)
		}
	}
	if links < 10 {
		t.Errorf("checked only %d links", links)
	}
}

// specMetadata reads the metadata_props table of docs/spec.md §6: key →
// when it is present ("always", "mHC", or a phrase for a special case), in
// the table's order.
func specMetadata(t *testing.T) (keys []string, when map[string]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "docs/spec.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i := strings.Index(s, "\n## 6. ")
	if i < 0 {
		t.Fatal("docs/spec.md has no §6")
	}
	s = s[i:]
	if j := strings.Index(s[1:], "\n## "); j >= 0 {
		s = s[:j+1]
	}
	when = map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "| `mhcc.") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		k := strings.Trim(cells[0], "`")
		keys = append(keys, k)
		when[k] = cells[len(cells)-1]
	}
	if len(keys) == 0 {
		t.Fatal("docs/spec.md §6 has no metadata_props table")
	}
	return keys, when
}

// The metadata_props table of docs/spec.md §6 names every key the exporter
// writes, in its order, and says rightly when each is present.
func TestSpecMetadata(t *testing.T) {
	keys, when := specMetadata(t)
	cases := []struct {
		model string
		opts  compile.Options
		mhc   bool
	}{
		{"tiny-mhc", compile.Options{}, true},
		{"tiny-residual", compile.Options{}, false},
		{"mlp-mhc", compile.Options{Target: "kernel"}, true},
		{"tiny-mhc-static", compile.Options{Float64: true}, true},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		m := testmodels.Compile(t, filepath.Join(root, "testdata/models", c.model+".yaml"), c.opts)
		var got []string
		for _, p := range m.GetMetadataProps() {
			got = append(got, p.GetKey())
			seen[p.GetKey()] = true
			if _, ok := when[p.GetKey()]; !ok {
				t.Errorf("%s: writes %s, which docs/spec.md §6 does not list", c.model, p.GetKey())
			}
		}
		var order []string
		for _, k := range keys {
			if slices.Contains(got, k) {
				order = append(order, k)
			}
			present := slices.Contains(got, k)
			switch w := when[k]; {
			case w == "always" && !present:
				t.Errorf("%s: %s is documented as always present, and is not", c.model, k)
			case w == "mHC" && present != c.mhc:
				t.Errorf("%s: %s present: %v; documented for mHC models only", c.model, k, present)
			case k == "mhcc.precision" && present != c.opts.Float64:
				t.Errorf("%s: %s present: %v; documented for the float64 reference only", c.model, k, present)
			}
		}
		if !slices.Equal(order, got) {
			t.Errorf("%s: writes the keys in the order %v, docs/spec.md §6 lists %v", c.model, got, order)
		}
	}
	for _, k := range keys {
		if !seen[k] {
			t.Errorf("docs/spec.md §6 lists %s, which no compile wrote", k)
		}
	}
}

// goInstallMhcc matches a command that installs mhcc.
var goInstallMhcc = regexp.MustCompile(`go install\s+(\S*cmd/mhcc\S*)`)

// The docs install mhcc the way that works, from a clone (`go install
// ./cmd/mhcc`): the module is not published, so `go install
// github.com/mhcc-dev/mhcc/cmd/mhcc@latest` cannot fetch it. The command is
// run, into a temporary GOBIN, and the binary answers `mhcc version`.
func TestInstallFromClone(t *testing.T) {
	found := 0
	for _, m := range markdownMatches(t, goInstallMhcc) {
		found++
		if m.sub[1] != "./cmd/mhcc" {
			t.Errorf("%s: installs mhcc with %q; only `go install ./cmd/mhcc` in a clone works", m.at, m.sub[0])
		}
	}
	if found == 0 {
		t.Error("no Markdown file says how to install mhcc (go install ./cmd/mhcc)")
	}
	if testing.Short() {
		t.Skip("-short: not running go install")
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "install", "./cmd/mhcc")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install ./cmd/mhcc: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(bin, "mhcc"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "mhcc ") {
		t.Errorf("installed mhcc version: %v: %s", err, out)
	}
}
