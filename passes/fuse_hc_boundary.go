package passes

import (
	"strings"

	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/target"
)

// FuseHCBoundary forms the fused mHC ops of docs/fused-ops.md for targets
// that allow them (ai.mhcc HCBoundary in the profile's ops: the fused
// profile), so each sublayer is two nodes besides its block F:
//
//   - HCCoeffsSinkhorn: the coefficients (HCCoeffs, scales already folded
//     into fn) and the Sinkhorn of the mixing matrix;
//   - HCBoundary: the previous sublayer's post-mix (x = mixed + post ⊗ y),
//     this sublayer's collapse and stream mixing (HCPremix) and the RMSNorm
//     that reads the collapse.
//
// The post-mix is recomputed by both ops rather than written out between
// them (it is n·C multiply-adds per token), so the state after sublayer L
// is one of HCBoundary's outputs. The new values take the old ones' names
// (pre, post, comb, the norm's output, the state), so mhcc verify and the
// mhcc.sublayers record find them under the names of the reference.
//
// Where the target also allows ai.mhcc HCCoeffsBoundary (the fused
// profile), a second step (mergeCoeffsBoundary) merges the two ops of every
// sublayer after the first into one HCCoeffsBoundary: both read x and y and
// form the state x + post ⊗ y, which the merged op forms once. The first
// sublayer (no post-mix) keeps its two ops.
//
// Where the target allows ai.mhcc HCEntry, the first sublayer's two ops
// and the HCExpand of the embedding they read become one HCEntry, and
// where it allows ai.mhcc HCHead, the end of the model (the last post-mix,
// HCHeadCoeffs, the collapse and the final RMSNorm) one HCHead.
//
// It runs after apply_precision and looks through its Casts: the fused ops
// read the half-precision state and the float32 coefficients directly and
// accumulate in float32. A sublayer whose nodes do not have the expected
// shape (no RMSNorm after the collapse, a projection not fused, half
// precision constants of static mHC, a bfloat16 state, which the fused
// ops' kernels do not take) is left as it is.
var FuseHCBoundary = &Pass{
	Name: "fuse_hc_boundary",
	Doc:  "fuse each sublayer's coefficients+Sinkhorn, and post-mix+pre-mix+norm at each boundary, into ai.mhcc ops (targets allowing them; both in one HCCoeffsBoundary after the first sublayer where allowed)",
	Run: func(g *ir.Graph, cx *Context) (bool, error) {
		if !cx.Target.Allows(target.DomainMHCC, ir.OpHCBoundary.String()) {
			return false, nil
		}
		changed := false
		for _, p := range append([]*ir.Node(nil), g.Nodes...) {
			if p.Op != ir.OpHCPremix {
				continue
			}
			ok, err := fuseBoundary(g, cx, p)
			if err != nil {
				return changed, err
			}
			changed = changed || ok
		}
		// The merges of an HCCoeffsSinkhorn with the HCBoundary reading it:
		// HCCoeffsBoundary for a sublayer with the post-mix, HCEntry for
		// the first one.
		for _, merge := range []struct {
			op  ir.Op
			run func(*ir.Graph, *Context, *ir.Node, map[*ir.Node]bool) (bool, error)
		}{{ir.OpHCCoeffsBoundary, mergeCoeffsBoundary}, {ir.OpHCEntry, fuseEntry}} {
			if !cx.Target.Allows(target.DomainMHCC, merge.op.String()) {
				continue
			}
			if changed && !g.Toposort() {
				return changed, errCycle
			}
			dead := deadNodes(g) // the nodes replaced above still read pre
			for _, cs := range append([]*ir.Node(nil), g.Nodes...) {
				if cs.Op != ir.OpHCCoeffsSinkhorn || dead[cs] {
					continue
				}
				ok, err := merge.run(g, cx, cs, dead)
				if err != nil {
					return changed, err
				}
				changed = changed || ok
			}
		}
		if cx.Target.Allows(target.DomainMHCC, ir.OpHCHead.String()) {
			for _, hc := range append([]*ir.Node(nil), g.Nodes...) {
				if hc.Op != ir.OpHCHeadCoeffs {
					continue
				}
				ok, err := fuseHead(g, cx, hc)
				if err != nil {
					return changed, err
				}
				changed = changed || ok
			}
		}
		if changed && !g.Toposort() {
			return changed, errCycle
		}
		return changed, nil
	},
}

// fuseEntry replaces cs, an HCCoeffsSinkhorn without the post-mix whose
// state is the embedding expanded into streams (HCExpand), and the one
// HCBoundary without the post-mix reading its pre and comb with the same
// state, by one HCEntry reading the embedding (docs/fused-ops.md): the
// first sublayer of a model. It applies when nothing else (no node outside
// dead) reads pre, no output of the two is a graph output, the boundary's
// state output is unread and its norm weight does not depend on cs. The
// new node's outputs take the old ones' names.
func fuseEntry(g *ir.Graph, cx *Context, cs *ir.Node, dead map[*ir.Node]bool) (bool, error) {
	if len(cs.Inputs) != 3 {
		return false, nil
	}
	x := cs.Inputs[0]
	ex := x.Def
	if ex == nil || ex.Op != ir.OpHCExpand || ex.Attrs.Int("streams") != cs.Attrs.Int("streams") {
		return false, nil
	}
	pre, comb := cs.Outputs[0], cs.Outputs[2]
	b := liveReader(g, pre, dead)
	if b == nil || b.Op != ir.OpHCBoundary || len(b.Inputs) != 4 || b.Inputs[0] != x || b.Inputs[1] != pre || b.Inputs[2] != comb ||
		b.Outputs[2].Uses > 0 || g.IsOutput(b.Outputs[2]) {
		return false, nil
	}
	olds := append(append([]*ir.Value(nil), cs.Outputs...), b.Outputs[:2]...)
	for _, v := range olds {
		if g.IsOutput(v) {
			return false, nil
		}
	}
	e, w := ex.Inputs[0], b.Inputs[3]
	if dependsOn(w, cs) || e.Type.DType != x.Type.DType {
		return false, nil
	}
	a := cs.Attrs
	names := make([]string, len(olds))
	for i, v := range olds {
		names[i] = v.Name + ".entry"
	}
	n, err := g.NewNode(ir.OpHCEntry, strings.TrimSuffix(cs.Name, ".fused")+".entry", cs.Pos,
		ir.Attrs{"streams": a.Int("streams"), "eps": a.Float("eps"), "rms_eps": a.Float("rms_eps"), "iters": a.Int("iters"), "norm_eps": b.Attrs.Float("eps")},
		[]*ir.Value{e, cs.Inputs[1], cs.Inputs[2], w}, names...)
	if err != nil {
		return false, nodeError(cs, "%v", err)
	}
	for i, old := range olds {
		g.ReplaceUses(old, n.Outputs[i])
		ir.SwapNames(old, n.Outputs[i])
	}
	cx.Fire("entry")
	return true, nil
}

// fuseHead replaces the end of an mHC model, the last sublayer's post-mix
// (an HCMix of already mixed streams), the head's coefficients hc, the
// weighted collapse reading them and the RMSNorm reading the collapse, by
// one HCHead (docs/fused-ops.md), when the collapse and hc read that HCMix's
// state, pre is read by the collapse only (through its Cast in half
// precision) and the collapse by the norm only. The norm's output and the
// state keep their names; whatever else reads the state reads HCHead's
// state output.
func fuseHead(g *ir.Graph, cx *Context, hc *ir.Node) (bool, error) {
	x := uncast(hc.Inputs[0])
	pre := hc.Outputs[0]
	mix := x.Def
	if mix == nil || mix.Op != ir.OpHCMix || (len(mix.Inputs) > 3 && mix.Inputs[3] != nil) || pre.Uses != 1 || g.IsOutput(pre) {
		return false, nil
	}
	col := onlyReader(g, pre)
	if col != nil && col.Op == ir.OpCast {
		col = onlyReader(g, col.Outputs[0])
	}
	if col == nil || col.Op != ir.OpHCCollapse || col.Attrs.String("mode") != "weighted" || col.Inputs[0] != x || uncast(col.Inputs[1]) != pre {
		return false, nil
	}
	norm := onlyReader(g, col.Outputs[0])
	if norm == nil || norm.Op != ir.OpRMSNorm || norm.Inputs[0] != col.Outputs[0] {
		return false, nil
	}
	xm, y, post, w := mix.Inputs[0], mix.Inputs[1], uncast(mix.Inputs[2]), norm.Inputs[1]
	dt := x.Type.DType
	if dt != ir.Float32 && dt != ir.Float16 {
		return false, nil // T is float32 or float16 (docs/fused-ops.md)
	}
	if xm.Type.DType != dt || y.Type.DType != dt || w.Type.DType != dt || post.Type.DType != ir.Float32 {
		return false, nil
	}
	for _, v := range hc.Inputs[1:] {
		if v.Type.DType != ir.Float32 {
			return false, nil
		}
	}
	a := hc.Attrs
	h, err := g.NewNode(ir.OpHCHead, "hc_head.fused", hc.Pos,
		ir.Attrs{"streams": a.Int("streams"), "eps": a.Float("eps"), "rms_eps": a.Float("rms_eps"), "norm_eps": norm.Attrs.Float("eps")},
		[]*ir.Value{xm, hc.Inputs[1], hc.Inputs[2], hc.Inputs[3], w, y, post},
		norm.Outputs[0].Name+".fused", x.Name+".fused")
	if err != nil {
		return false, nodeError(hc, "%v", err)
	}
	for i, old := range []*ir.Value{norm.Outputs[0], x} {
		g.ReplaceUses(old, h.Outputs[i])
		if !g.IsOutput(old) {
			ir.SwapNames(old, h.Outputs[i])
		}
	}
	cx.Fire("head")
	return true, nil
}

// uncast returns the value a Cast node reads, or v.
func uncast(v *ir.Value) *ir.Value {
	if v != nil && v.Def != nil && v.Def.Op == ir.OpCast {
		return v.Def.Inputs[0]
	}
	return v
}

// onlyReader returns the one node reading v, if v has exactly one use and
// is not a graph output.
func onlyReader(g *ir.Graph, v *ir.Value) *ir.Node {
	if v.Uses != 1 || g.IsOutput(v) {
		return nil
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in == v {
				return n
			}
		}
	}
	return nil
}

func fuseBoundary(g *ir.Graph, cx *Context, p *ir.Node) (bool, error) {
	x, pre, comb := p.Inputs[0], uncast(p.Inputs[1]), uncast(p.Inputs[2])
	norm := onlyReader(g, p.Outputs[0])
	if norm == nil || norm.Op != ir.OpRMSNorm || norm.Inputs[0] != p.Outputs[0] {
		return false, nil
	}
	if pre.Type.DType != ir.Float32 || comb.Type.DType != ir.Float32 {
		return false, nil
	}
	if x.Type.DType != ir.Float32 && x.Type.DType != ir.Float16 {
		return false, nil // the fused ops' T is float32 or float16 (docs/fused-ops.md): a bfloat16 state stays unfused
	}
	// The coefficients: HCCoeffs (scale folded) + Sinkhorn, or constants.
	var coeffs, sink *ir.Node
	if pre.Def != nil || comb.Def != nil {
		sink, coeffs = comb.Def, pre.Def
		if sink == nil || sink.Op != ir.OpSinkhorn || coeffs == nil || coeffs.Op != ir.OpHCCoeffs ||
			len(coeffs.Inputs) != 3 || sink.Inputs[0] != coeffs.Outputs[2] || pre != coeffs.Outputs[0] ||
			uncast(coeffs.Inputs[1]) != x || sink.Attrs.Float("eps") != coeffs.Attrs.Float("eps") {
			return false, nil
		}
	}
	// The state: the previous sublayer's post-mix, fused in when x is one.
	state := []*ir.Value{x}
	if d := x.Def; d != nil && d.Op == ir.OpHCMix && (len(d.Inputs) == 3 || d.Inputs[3] == nil) {
		if post := uncast(d.Inputs[2]); post.Type.DType == ir.Float32 {
			state = []*ir.Value{d.Inputs[0], d.Inputs[1], post}
		}
	}
	with := func(first []*ir.Value, rest ...*ir.Value) []*ir.Value {
		ins := append(append([]*ir.Value{first[0]}, rest...), first[1:]...)
		return ins
	}
	if coeffs != nil {
		a := coeffs.Attrs
		cs, err := g.NewNode(ir.OpHCCoeffsSinkhorn, coeffs.Name+".fused", coeffs.Pos,
			ir.Attrs{"streams": a.Int("streams"), "eps": a.Float("eps"), "rms_eps": a.Float("rms_eps"), "iters": sink.Attrs.Int("iters")},
			with(state, coeffs.Inputs[2], coeffs.Inputs[0]),
			coeffs.Outputs[0].Name+".fused", coeffs.Outputs[1].Name+".fused", sink.Outputs[0].Name+".fused")
		if err != nil {
			return false, nodeError(p, "%v", err)
		}
		for i, old := range []*ir.Value{coeffs.Outputs[0], coeffs.Outputs[1], sink.Outputs[0]} {
			g.ReplaceUses(old, cs.Outputs[i])
			if !g.IsOutput(old) {
				ir.SwapNames(old, cs.Outputs[i])
			}
		}
		pre, comb = cs.Outputs[0], cs.Outputs[2]
		cx.Fire("coeffs_sinkhorn")
	}
	stateName := x.Name + ".state"
	if len(state) > 1 {
		stateName = x.Name + ".fused"
	}
	b, err := g.NewNode(ir.OpHCBoundary, p.Name+".boundary", p.Pos, ir.Attrs{"eps": norm.Attrs.Float("eps")},
		with(state, pre, comb, norm.Inputs[1]),
		norm.Outputs[0].Name+".fused", p.Outputs[1].Name+".fused", stateName)
	if err != nil {
		return false, nodeError(p, "%v", err)
	}
	for i, old := range []*ir.Value{norm.Outputs[0], p.Outputs[1]} {
		g.ReplaceUses(old, b.Outputs[i])
		if !g.IsOutput(old) {
			ir.SwapNames(old, b.Outputs[i])
		}
	}
	if len(state) > 1 {
		g.ReplaceUses(x, b.Outputs[2])
		if !g.IsOutput(x) {
			ir.SwapNames(x, b.Outputs[2])
		}
		cx.Fire("boundary")
	} else {
		cx.Fire("premix_norm")
	}
	return true, nil
}

// mergeCoeffsBoundary replaces cs, an HCCoeffsSinkhorn with the post-mix,
// and the one HCBoundary b reading its pre and comb with the same state
// (x, y, post) by one HCCoeffsBoundary, when nothing else (no node outside
// dead, the nodes already replaced) reads pre, no
// output of the two is a graph output (a graph output keeps its node) and
// b's norm weight does not depend on cs. The new node's outputs take the
// old ones' names.
func mergeCoeffsBoundary(g *ir.Graph, cx *Context, cs *ir.Node, dead map[*ir.Node]bool) (bool, error) {
	if len(cs.Inputs) != 5 {
		return false, nil // the first sublayer: no post-mix to share
	}
	pre, comb := cs.Outputs[0], cs.Outputs[2]
	b := liveReader(g, pre, dead)
	if b == nil || g.IsOutput(pre) || b.Op != ir.OpHCBoundary || len(b.Inputs) != 6 || b.Inputs[1] != pre || b.Inputs[2] != comb ||
		b.Inputs[0] != cs.Inputs[0] || b.Inputs[4] != cs.Inputs[3] || b.Inputs[5] != cs.Inputs[4] {
		return false, nil
	}
	if !cs.Inputs[4].Type.Shape.Equal(cs.Outputs[1].Type.Shape) {
		return false, nil // HCCoeffsBoundary takes post per token
	}
	olds := append(append([]*ir.Value(nil), cs.Outputs...), b.Outputs...)
	for _, v := range olds {
		if g.IsOutput(v) {
			return false, nil
		}
	}
	w := b.Inputs[3]
	if dependsOn(w, cs) {
		return false, nil
	}
	a := cs.Attrs
	names := make([]string, len(olds))
	for i, v := range olds {
		names[i] = v.Name + ".merged"
	}
	m, err := g.NewNode(ir.OpHCCoeffsBoundary, strings.TrimSuffix(cs.Name, ".fused")+".merged", cs.Pos,
		ir.Attrs{"streams": a.Int("streams"), "eps": a.Float("eps"), "rms_eps": a.Float("rms_eps"), "iters": a.Int("iters"), "norm_eps": b.Attrs.Float("eps")},
		[]*ir.Value{cs.Inputs[0], cs.Inputs[1], cs.Inputs[2], w, cs.Inputs[3], cs.Inputs[4]}, names...)
	if err != nil {
		return false, nodeError(cs, "%v", err)
	}
	for i, old := range olds {
		g.ReplaceUses(old, m.Outputs[i])
		ir.SwapNames(old, m.Outputs[i])
	}
	cx.Fire("coeffs_boundary")
	return true, nil
}

// liveReader returns the one node outside dead reading v, if it reads v
// once and no other such node reads it; else nil.
func liveReader(g *ir.Graph, v *ir.Value, dead map[*ir.Node]bool) *ir.Node {
	var r *ir.Node
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in == v && !dead[n] {
				if r != nil {
					return nil
				}
				r = n
			}
		}
	}
	return r
}

// dependsOn reports whether v is computed from an output of n.
func dependsOn(v *ir.Value, n *ir.Node) bool {
	seen := map[*ir.Node]bool{}
	var walk func(d *ir.Node) bool
	walk = func(d *ir.Node) bool {
		if d == nil || seen[d] {
			return false
		}
		if d == n {
			return true
		}
		seen[d] = true
		for _, in := range d.Inputs {
			if in != nil && walk(in.Def) {
				return true
			}
		}
		return false
	}
	return walk(v.Def)
}
