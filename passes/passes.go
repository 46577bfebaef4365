package passes

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
)

// A Pass is one transformation of a Graph.
type Pass struct {
	Name     string // lower_snake; used by --disable-pass and dump file names
	Doc      string // one line: what it does
	Run      func(g *ir.Graph) (changed bool, err error)
	Required bool // cannot be disabled
}

// Pipeline is the default order of passes; each row says why it sits there.
var Pipeline = []*Pass{
	EliminateDead, // the lowering is already minimal; this keeps the graph honest after edits
}

// Config are the options of Run, kept out of package globals.
type Config struct {
	Verify   bool            // run ir.Verify before the first pass and after each
	Disabled map[string]bool // names of passes to skip (Required ones still run)
	DumpDir  string          // if set, write <graph>_<NN>_<pass>.ir after each pass
	Log      io.Writer       // if set, one line of statistics per pass
}

// A Stat records what one pass did.
type Stat struct {
	Pass                    string
	NodesBefore, NodesAfter int
	Changed                 bool
}

// Run applies ps to g in order. A pass's error or panic, or a failed Verify
// after it, is returned as an internal error naming the pass.
func Run(g *ir.Graph, ps []*Pass, cfg Config) (stats []Stat, err error) {
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
		changed, err := runOne(g, p)
		if err != nil {
			return stats, err
		}
		if cfg.Verify {
			if err := ir.Verify(g); err != nil {
				return stats, fmt.Errorf("passes: after %s: %w", p.Name, err)
			}
		}
		st := Stat{Pass: p.Name, NodesBefore: before, NodesAfter: len(g.Nodes), Changed: changed}
		stats = append(stats, st)
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "pass %-24s nodes %d -> %d\n", p.Name, st.NodesBefore, st.NodesAfter)
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

func runOne(g *ir.Graph, p *Pass) (changed bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("passes: %s panicked: %v", p.Name, r)
		}
	}()
	changed, err = p.Run(g)
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
