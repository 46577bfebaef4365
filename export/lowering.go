package export

import (
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/target"
)

// lowering finds the expansion of op called name.
func lowering(op ir.Op, name string) (expansion, bool) {
	if name == "" || name == "reference" {
		x, ok := opmap[op]
		return x, ok
	}
	x, ok := alternatives[op][name]
	return x, ok
}

// Lowerings lists the lowering names known for op, "reference" first.
func Lowerings(op ir.Op) []string {
	var names []string
	for n := range alternatives[op] {
		names = append(names, n)
	}
	sort.Strings(names)
	if _, ok := opmap[op]; ok {
		names = append([]string{"reference"}, names...)
	}
	return names
}

// CheckProfile reports lowerings a profile names that the exporter does not
// know, so a profile file with a typo fails before any model is compiled.
func CheckProfile(p *target.Profile) error {
	var bad []string
	for opName, l := range p.Lowering {
		op, ok := ir.OpByName(opName)
		if !ok {
			bad = append(bad, "lowering."+opName+": unknown IR op")
			continue
		}
		if _, ok := lowering(op, l); !ok {
			bad = append(bad, "lowering."+opName+": unknown lowering "+quote(l)+"; known: "+strings.Join(Lowerings(op), ", "))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return &profileError{p.Source, bad}
	}
	return nil
}

type profileError struct {
	file string
	msgs []string
}

func (e *profileError) Error() string { return e.file + ": " + strings.Join(e.msgs, "; ") }

func quote(s string) string { return "\"" + s + "\"" }

// loweringSummary lists "Op=lowering" for the non-reference lowerings used,
// sorted; "reference" if none.
func loweringSummary(g *ir.Graph, p *target.Profile) string {
	set := map[string]bool{}
	for _, n := range g.Nodes {
		if l := loweringName(n, p); l != "reference" {
			set[n.Op.String()+"="+l] = true
		}
	}
	if len(set) == 0 {
		return "reference"
	}
	var parts []string
	for k := range set {
		parts = append(parts, k)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
