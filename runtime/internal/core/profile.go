package core

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// A Profile adds up where runs spend their time, per operator: pass the same
// one to several RunWith calls (not concurrently) and print it with Write.
// Timing costs two clock reads per node, so a profiled run is a little
// slower than an unprofiled one; the shares are what to read.
type Profile struct {
	Runs int                // RunWith calls that used it
	Ops  map[string]*OpTime // by operator, "Domain.OpType" outside ai.onnx
}

// OpTime is one operator's share of a Profile.
type OpTime struct {
	Calls int           // kernel calls, over all runs
	Total time.Duration // their wall time, over all runs
}

// Add records one call of n taking d.
func (p *Profile) Add(n *Node, d time.Duration) {
	if p.Ops == nil {
		p.Ops = map[string]*OpTime{}
	}
	key := n.OpType
	if n.Domain != "" {
		key = n.Domain + "." + n.OpType
	}
	t := p.Ops[key]
	if t == nil {
		t = &OpTime{}
		p.Ops[key] = t
	}
	t.Calls++
	t.Total += d
}

// Write prints the profile as a table, per run, the most expensive operator
// first: calls, milliseconds, share of the kernels' time and microseconds
// per call.
func (p *Profile) Write(w io.Writer) error {
	runs := max(p.Runs, 1)
	keys := make([]string, 0, len(p.Ops))
	var total time.Duration
	for k, t := range p.Ops {
		keys = append(keys, k)
		total += t.Total
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(p.Ops[b].Total, p.Ops[a].Total), cmp.Compare(a, b))
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "operator\tcalls/run\tms/run\tshare\tµs/call\t\n")
	for _, k := range keys {
		t := p.Ops[k]
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.1f%%\t%.1f\t\n", k, t.Calls/runs,
			t.Total.Seconds()*1e3/float64(runs), 100*float64(t.Total)/float64(max(total, 1)),
			t.Total.Seconds()*1e6/float64(max(t.Calls, 1)))
	}
	fmt.Fprintf(tw, "all kernels\t\t%.3f\t\t\t\n", total.Seconds()*1e3/float64(runs))
	return tw.Flush()
}
