package graphdiff

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Schema identifies the JSON report format (see the package documentation).
const Schema = "mhcc.diff/v1"

// The levels of a Change, in the order reports list them.
const (
	LevelModel     = "model"
	LevelInterface = "interface"
	LevelGraph     = "graph"
)

var levels = []string{LevelModel, LevelInterface, LevelGraph}

// A Severity ranks changes by how much they can break a consumer of the
// model: Metadata < Attribute < Structure < Interface.
type Severity int

const (
	// Metadata: descriptive only (metadata_props, producer, mHC settings read
	// from names); the computation is the same or its change is reported
	// again at a higher severity.
	Metadata Severity = iota
	// Attribute: same graph, different numbers (node attributes,
	// initializer values beyond tolerance).
	Attribute
	// Structure: nodes inserted, deleted or rewired, op types or
	// initializer shapes changed, functions added or removed.
	Structure
	// Interface: what callers see: inputs, outputs, their types and
	// shapes, IR version, opset imports.
	Interface
)

var severityNames = [...]string{"metadata", "attribute", "structure", "interface"}

// String returns the lower-case name ("structure").
func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity is the inverse of String; case and surrounding space are ignored.
func ParseSeverity(s string) (Severity, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for i, n := range severityNames {
		if n == t {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("graphdiff: unknown severity %q (want %s)", s, strings.Join(severityNames[:], ", "))
}

// MarshalText writes the name, so JSON holds "structure" rather than 2.
func (s Severity) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(severityNames) {
		return nil, fmt.Errorf("graphdiff: invalid severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a name written by MarshalText.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// A Change is one difference between the two models.
type Change struct {
	Level    string   `json:"level"`    // "model", "interface", "graph"
	Severity Severity `json:"severity"` // "metadata", "attribute", "structure", "interface"
	Kind     string   `json:"kind"`     // "sinkhorn_iterations", "dim", "node_inserted", … (see doc.go)
	Path     string   `json:"path"`     // where: "graph/layers.7.ffn.comb/3_Div", "input input_ids", …
	Message  string   `json:"message"`  // one line for people
	Before   string   `json:"before,omitempty"`
	After    string   `json:"after,omitempty"`
	// Count is the number of nodes a grouped change covers (inserted or
	// deleted nodes, nodes sharing one attribute change).
	Count int `json:"count,omitempty"`
	// Nodes names those nodes (A's names for deletions, B's otherwise).
	Nodes []string `json:"nodes,omitempty"`
	// Consumers names the matched nodes (in B) and graph outputs whose
	// inputs were rewired to or away from an inserted or deleted group.
	Consumers []string `json:"consumers,omitempty"`
}

// Options of Compare.
type Options struct {
	// Initializer and tensor-attribute values a (in A) and b (in B) count
	// as equal when |a-b| ≤ ATol + RTol·|b|. Both zero: exact comparison.
	// Integer and boolean tensors are always compared exactly.
	RTol, ATol float64
}

// Stats counts the nodes of the main graphs (not of subgraphs or
// functions). NodesA = Matched + Deleted and NodesB = Matched + Inserted;
// Changed counts matched nodes with a reported difference (attribute, op
// type, rewired input or changed initializer input).
type Stats struct {
	NodesA   int `json:"nodes_a"`
	NodesB   int `json:"nodes_b"`
	Matched  int `json:"matched"`
	Inserted int `json:"inserted"`
	Deleted  int `json:"deleted"`
	Changed  int `json:"changed"`
}

// A Report is the result of Compare. A and B label the two models in the
// renderings; Compare leaves them empty ("A", "B" are shown) and callers set
// them, typically to the file names.
type Report struct {
	Schema  string   `json:"schema"`
	A       string   `json:"a"`
	B       string   `json:"b"`
	Changes []Change `json:"changes"`
	Stats   Stats    `json:"stats"`
}

// Max returns the highest severity among the changes; false if there are none.
func (r *Report) Max() (Severity, bool) {
	if len(r.Changes) == 0 {
		return 0, false
	}
	m := r.Changes[0].Severity
	for _, c := range r.Changes[1:] {
		m = max(m, c.Severity)
	}
	return m, true
}

// Equal reports whether no change was found.
func (r *Report) Equal() bool { return len(r.Changes) == 0 }

// MarshalJSON writes the mhcc.diff/v1 document: the fields of Report plus
// "equal" and, when not equal, "max".
func (r *Report) MarshalJSON() ([]byte, error) {
	changes := r.Changes
	if changes == nil {
		changes = []Change{}
	}
	schema := r.Schema
	if schema == "" {
		schema = Schema
	}
	doc := struct {
		Schema  string    `json:"schema"`
		A       string    `json:"a"`
		B       string    `json:"b"`
		Equal   bool      `json:"equal"`
		Max     *Severity `json:"max,omitempty"`
		Stats   Stats     `json:"stats"`
		Changes []Change  `json:"changes"`
	}{Schema: schema, A: r.A, B: r.B, Equal: r.Equal(), Stats: r.Stats, Changes: changes}
	if m, ok := r.Max(); ok {
		doc.Max = &m
	}
	return json.Marshal(doc)
}

// byLevel returns the changes of one level, in report order.
func (r *Report) byLevel(level string) []Change {
	var out []Change
	for _, c := range r.Changes {
		if c.Level == level {
			out = append(out, c)
		}
	}
	return out
}

// levelsPresent lists model, interface and graph, then any other level the
// changes use, in order of appearance.
func (r *Report) levelsPresent() []string {
	out := append([]string(nil), levels...)
	for _, c := range r.Changes {
		known := false
		for _, l := range out {
			known = known || l == c.Level
		}
		if !known {
			out = append(out, c.Level)
		}
	}
	return out
}

func (r *Report) labels() (string, string) {
	a, b := r.A, r.B
	if a == "" {
		a = "A"
	}
	if b == "" {
		b = "B"
	}
	return a, b
}
