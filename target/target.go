// Package target declares mhcc's target profiles: what a runtime or
// accelerator accepts (IR version, opsets, operators) and how mhcc lowers the
// mHC operators for it (a lowering name per IR op) and at which precision.
//
// A profile is data, not code: the built-in profiles are the YAML files of
// profiles/, embedded in the binary, and `mhcc compile --target file.yaml`
// reads a user's own. Adding an accelerator means writing a profile that picks
// among the lowerings the exporter knows (`mhcc targets` lists both).
package target

import (
	"bytes"
	"embed"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/inputfile"
	"go.yaml.in/yaml/v3"
)

// A Profile describes one target.
type Profile struct {
	Name string `yaml:"name"`
	Doc  string `yaml:"doc"` // one line, shown by mhcc targets

	IRVersion int64            `yaml:"ir_version"`
	Opsets    map[string]int64 `yaml:"opsets"` // domain ("" is ai.onnx) -> version
	// Ops lists the operator types allowed per domain; "*" allows every
	// operator of that domain's opset. The exporter refuses to emit others.
	Ops map[string][]string `yaml:"ops"`
	// Lowering picks, per IR op name (Sinkhorn, HCMix, RMSNorm, ...), one of
	// the exporter's lowerings; an op not listed gets "reference".
	Lowering map[string]string `yaml:"lowering"`
	// Precision is the default floating-point type of the graph's
	// activations and weights: fp32, fp16 or bf16. The mHC coefficient path
	// (projection, RMS, sigmoids, Sinkhorn) stays float32 whatever it is.
	Precision string `yaml:"precision"`
	// Passes disabled for this target, by name (e.g. a target that wants
	// every Sinkhorn step visible turns off nothing but may list some).
	Disable []string `yaml:"disable"`

	Source string `yaml:"-"` // where it was read from: "builtin" or a path
}

// Domains used by mhcc's graphs.
const (
	DomainONNX      = ""
	DomainMicrosoft = "com.microsoft"
	DomainMHCC      = "ai.mhcc"
)

//go:embed profiles/*.yaml
var builtin embed.FS

// Names lists the built-in profiles, sorted.
func Names() []string {
	entries, _ := builtin.ReadDir("profiles")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Builtin returns the built-in profiles in name order.
func Builtin() []*Profile {
	var ps []*Profile
	for _, n := range Names() {
		p, err := Get(n)
		if err != nil {
			panic(err) // the embedded files are tested
		}
		ps = append(ps, p)
	}
	return ps
}

// Get returns a built-in profile by name, or reads a profile file when
// nameOrPath ends in .yaml or .yml.
func Get(nameOrPath string) (*Profile, error) {
	if ext := path.Ext(nameOrPath); ext == ".yaml" || ext == ".yml" {
		data, err := inputfile.ReadFile(nameOrPath, inputfile.MaxYAMLBytes, "a target profile")
		if err != nil {
			return nil, fmt.Errorf("target profile: %w", err)
		}
		return Parse(nameOrPath, data)
	}
	if nameOrPath == "" {
		nameOrPath = "onnx"
	}
	data, err := builtin.ReadFile("profiles/" + nameOrPath + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown target %q; want one of %s, or a profile file (.yaml)", nameOrPath, strings.Join(Names(), ", "))
	}
	p, err := Parse("builtin:"+nameOrPath, data)
	if err != nil {
		return nil, err
	}
	p.Source = "builtin"
	return p, nil
}

// Parse reads a profile. Unknown keys are errors, so a misspelt key cannot
// silently fall back to a default.
func Parse(file string, data []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	p := &Profile{}
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	p.Source = file
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return p, nil
}

func (p *Profile) check() error {
	var errs []string
	if p.Name == "" {
		errs = append(errs, "name: missing")
	}
	if p.IRVersion < 3 || p.IRVersion > 10 {
		errs = append(errs, fmt.Sprintf("ir_version: got %d, want 3..10", p.IRVersion))
	}
	if p.Opsets[DomainONNX] < 7 {
		errs = append(errs, fmt.Sprintf(`opsets."": got %d, want the ai.onnx opset (>= 7)`, p.Opsets[DomainONNX]))
	}
	for d := range p.Ops {
		if _, ok := p.Opsets[d]; !ok {
			errs = append(errs, fmt.Sprintf("ops.%q: domain has no opsets entry", d))
		}
	}
	switch p.Precision {
	case "":
		p.Precision = "fp32"
	case "fp32", "fp16", "bf16":
	default:
		errs = append(errs, fmt.Sprintf("precision: got %q, want fp32, fp16 or bf16", p.Precision))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// Allows reports whether the profile lets a graph use op_type op of domain.
func (p *Profile) Allows(domain, op string) bool {
	if _, ok := p.Opsets[domain]; !ok {
		return false
	}
	allowed := p.Ops[domain]
	return slices.Contains(allowed, "*") || slices.Contains(allowed, op)
}

// LoweringOf returns the lowering the profile picks for an IR op name.
func (p *Profile) LoweringOf(op string) string {
	if l := p.Lowering[op]; l != "" {
		return l
	}
	return "reference"
}
