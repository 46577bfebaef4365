package passes

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/target"
)

// A Pass is one transformation of a Graph.
type Pass struct {
	Name     string // lower_snake; used by --disable-pass and dump file names
	Doc      string // one line: what it does
	Run      func(g *ir.Graph, cx *Context) (changed bool, err error)
	Required bool // cannot be disabled
}

// A Context is what a pass may know besides the graph: the target profile,
// and a counter of the rewrite rules it fired (reported by --stats).
type Context struct {
	Target    *target.Profile // never nil inside Run
	Precision string          // fp32, fp16 or bf16: Config.Precision, else the profile's
	Eval      Evaluator       // Config.Eval; nil makes the folding passes fail
	fired     map[string]int
}

// Fire counts one application of a named rewrite rule.
func (cx *Context) Fire(rule string) {
	if cx.fired == nil {
		cx.fired = map[string]int{}
	}
	cx.fired[rule]++
}

// Config are the options of Run, kept out of package globals.
type Config struct {
	Target    *target.Profile // nil means the built-in "onnx" profile
	Precision string          // overrides the profile's precision if set
	Verify    bool            // run ir.Verify before the first pass and after each
	Disabled  map[string]bool // names of passes to skip (Required ones still run)
	DumpDir   string          // if set, write <graph>_<NN>_<pass>.ir after each pass
	PrintIR   io.Writer       // if set, print the IR after each pass (--print-ir-after-all)
	Log       io.Writer       // if set, one line of statistics per pass
	Eval      Evaluator       // computes folded constants; needed by fold_constants and fold_static_hc
}

// A Stat records what one pass did.
type Stat struct {
	Pass                    string
	NodesBefore, NodesAfter int
	Changed                 bool
	Rules                   map[string]int // rewrite rule -> times fired
}

// RulesString formats Rules as "rule×N, ..." in name order.
func (s Stat) RulesString() string {
	var keys []string
	for k := range s.Rules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, s.Rules[k])
	}
	return strings.Join(parts, ", ")
}

// Run applies ps to g in order. A pass's error or panic, or a failed Verify
// after it, is returned as an error naming the pass.
func Run(g *ir.Graph, ps []*Pass, cfg Config) (stats []Stat, err error) {
	prof := cfg.Target
	if prof == nil {
		if prof, err = target.Get("onnx"); err != nil {
			return nil, err
		}
	}
	prec := cfg.Precision
	if prec == "" {
		prec = prof.Precision
	}
	if cfg.Verify {
		if err := ir.Verify(g); err != nil {
			return nil, fmt.Errorf("passes: before the first pass: %w", err)
		}
	}
	for i, p := range ps {
		if cfg.Disabled[p.Name] && !p.Required {
			continue
		}
		before := len(g.Nodes)
		cx := &Context{Target: prof, Precision: prec, Eval: cfg.Eval}
		changed, err := runOne(g, p, cx)
		if err != nil {
			return stats, err
		}
		if cfg.Verify {
			if err := ir.Verify(g); err != nil {
				return stats, fmt.Errorf("passes: after %s: %w", p.Name, err)
			}
		}
		st := Stat{Pass: p.Name, NodesBefore: before, NodesAfter: len(g.Nodes), Changed: changed, Rules: cx.fired}
		stats = append(stats, st)
		if cfg.Log != nil {
			line := fmt.Sprintf("pass %-20s nodes %4d -> %4d", p.Name, st.NodesBefore, st.NodesAfter)
			if r := st.RulesString(); r != "" {
				line += "  " + r
			}
			fmt.Fprintln(cfg.Log, line)
		}
		if cfg.PrintIR != nil {
			fmt.Fprintf(cfg.PrintIR, "# IR after %s (pass %d)\n%s\n", p.Name, i+1, g.String())
		}
		if cfg.DumpDir != "" {
			name := fmt.Sprintf("%s_%02d_%s.ir", strings.ReplaceAll(g.Name, "/", "_"), i+1, p.Name)
			if err := os.WriteFile(filepath.Join(cfg.DumpDir, name), []byte(g.String()), 0o644); err != nil {
				return stats, fmt.Errorf("passes: dump after %s: %w", p.Name, err)
			}
		}
	}
	return stats, nil
}

func runOne(g *ir.Graph, p *Pass, cx *Context) (changed bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("passes: %s panicked: %v", p.Name, r)
		}
	}()
	changed, err = p.Run(g, cx)
	if err != nil {
		err = fmt.Errorf("passes: %s: %w", p.Name, err)
	}
	return changed, err
}

// ByName finds a pass of the pipeline.
func ByName(name string) *Pass {
	for _, p := range Pipeline {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// nodeError names a node in a pass's error: "node n12 (MatMul at model.yaml:14:5): ...".
func nodeError(n *ir.Node, format string, args ...any) error {
	return fmt.Errorf("node %s (%v at %v): %s", n.Name, n.Op, n.Pos, fmt.Sprintf(format, args...))
}

var errCycle = fmt.Errorf("the rewrite made the graph cyclic")
