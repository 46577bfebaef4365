package ref

import (
	"slices"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// Sequences. torch.onnx writes them for repeat_interleave on a dynamic axis
// (SplitToSequence, then a Loop that SequenceAt's each piece and
// SequenceInsert's its expansion into a SequenceEmpty, then
// ConcatFromSequence), so a graph exported from ordinary Llama code needs
// them.
//
// A sequence travels through the interpreter as a *Tensor whose DType has
// the sequence flag (SequenceOf(elem)) and whose items are in seq; it has no
// shape and no data. Keeping one value type spares every map, slot and
// signature of the interpreter a second kind, and the flag keeps sequences
// out of tensor ops: the type classes (isAny and the rest) reject a sequence
// type, so a graph that feeds one to Add fails at Decode, not at Run.
// Sequences are immutable like tensors: SequenceInsert and SequenceErase
// make a new item list.

// sequenceKernels are the rows of the kernel table for sequences (opset 11
// on; Identity of a sequence is Identity's own row).
var sequenceKernels = []core.Kernel{
	{Op: "SequenceEmpty", Since: 11, MinIn: 0, Fn: sequenceEmpty, Types: sequenceEmptyTypes},
	{Op: "SequenceConstruct", Since: 11, MinIn: 1, MaxIn: -1, Fn: sequenceConstruct, Types: sequenceConstructTypes},
	{Op: "SequenceInsert", Since: 11, MinIn: 2, MaxIn: 3, Fn: sequenceInsert, Types: seqRule(true, anyIndex)},
	{Op: "SequenceAt", Since: 11, MinIn: 2, Fn: sequenceAt, Types: seqRule(false, anyIndex)},
	{Op: "SequenceErase", Since: 11, MinIn: 1, MaxIn: 2, Fn: sequenceErase, Types: seqRule(true, anyIndex)},
	{Op: "SequenceLength", Since: 11, MinIn: 1, Fn: sequenceLength, Types: sequenceLengthTypes},
	{Op: "SplitToSequence", Since: 11, MinIn: 1, MaxIn: 2, Fn: splitToSequence, Types: splitToSequenceTypes},
	{Op: "ConcatFromSequence", Since: 11, MinIn: 1, Fn: concatFromSequence, Types: concatFromSequenceTypes, Check: checkConcatFromSequence},
}

// seqArg returns input i, which must be a sequence.
func seqArg(in []*core.Tensor, i int) *core.Tensor {
	if in[i] == nil || !in[i].DType.IsSequence() {
		core.Failf("input %d must be a sequence, got %v", i, in[i])
	}
	return in[i]
}

// seqPosition reads a position input (a one-element int32 or int64) and
// checks it against [-n, n-1], or [-n, n] when end is allowed (insertion).
func seqPosition(t *core.Tensor, n int, end bool) int {
	if t.DType != core.Int32 && t.DType != core.Int64 {
		panic(core.ErrType)
	}
	p := scalarInt(t, "position")
	hi := int64(n) - 1
	if end {
		hi = int64(n)
	}
	if p < -int64(n) || p > hi {
		core.Failf("position %d out of range for a sequence of %d", p, n)
	}
	if p < 0 {
		p += int64(n)
	}
	return int(p)
}

func sequenceEmpty(c *core.Call, in []*core.Tensor) []*core.Tensor {
	return []*core.Tensor{core.NewSeq(core.DType(c.Int("dtype", int64(core.Float32))), nil)}
}

func sequenceEmptyTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	dt := core.Float32
	if a := n.Attrs["dtype"]; a != nil {
		dt = core.DType(a.GetI())
	}
	if !dt.Supported() {
		return nil, core.Errorf("dtype %v is not a supported element type", dt)
	}
	return []core.DType{core.SequenceOf(dt)}, nil
}

func sequenceConstruct(c *core.Call, in []*core.Tensor) []*core.Tensor {
	for _, t := range in {
		if t.DType != in[0].DType || t.DType.IsSequence() {
			core.Failf("sequence items must be tensors of one type, got %v and %v", in[0].DType, t.DType)
		}
	}
	return []*core.Tensor{core.NewSeq(in[0].DType, slices.Clone(in))}
}

func sequenceConstructTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	t, err := common(in, isAny)
	if err != nil {
		return nil, err
	}
	if t == core.Undefined {
		return []core.DType{core.Undefined}, nil
	}
	return []core.DType{core.SequenceOf(t)}, nil
}

// seqRule checks input 0 is a sequence, input 1 (if listed in rest as
// Undefined: any; the element type is checked by the kernel) and the index
// inputs; the output is the sequence type (toSeq) or its element type.
func seqRule(toSeq bool, index core.DType) core.TypeRule {
	return func(n *core.Node, in []core.DType) ([]core.DType, error) {
		s := in[0]
		if s != core.Undefined && !s.IsSequence() {
			return nil, core.Errorf("input 0 has type %v, want a sequence", s)
		}
		for i := 1; i < len(in); i++ {
			if in[i] == core.Undefined || in[i] == core.Int32 || in[i] == core.Int64 {
				continue
			}
			if n.OpType == "SequenceInsert" && i == 1 {
				if s != core.Undefined && in[i] != s.Elem() {
					return nil, core.Errorf("input 1 has type %v, the sequence holds %v", in[i], s.Elem())
				}
				continue
			}
			return nil, core.Errorf("input %d has type %v, want int32 or int64", i, in[i])
		}
		if s == core.Undefined || toSeq {
			return []core.DType{s}, nil
		}
		return []core.DType{s.Elem()}, nil
	}
}

func sequenceInsert(c *core.Call, in []*core.Tensor) []*core.Tensor {
	s := seqArg(in, 0)
	t := in[1]
	if t.DType != s.DType.Elem() {
		core.Failf("cannot insert a %v tensor into a sequence of %v", t.DType, s.DType.Elem())
	}
	pos := len(s.Seq)
	if len(in) > 2 && in[2] != nil {
		pos = seqPosition(in[2], len(s.Seq), true)
	}
	items := make([]*core.Tensor, 0, len(s.Seq)+1)
	items = append(append(append(items, s.Seq[:pos]...), t), s.Seq[pos:]...)
	return []*core.Tensor{core.NewSeq(t.DType, items)}
}

func sequenceAt(c *core.Call, in []*core.Tensor) []*core.Tensor {
	s := seqArg(in, 0)
	return []*core.Tensor{s.Seq[seqPosition(in[1], len(s.Seq), false)]}
}

func sequenceErase(c *core.Call, in []*core.Tensor) []*core.Tensor {
	s := seqArg(in, 0)
	if len(s.Seq) == 0 {
		core.Failf("cannot erase from an empty sequence")
	}
	pos := len(s.Seq) - 1
	if len(in) > 1 && in[1] != nil {
		pos = seqPosition(in[1], len(s.Seq), false)
	}
	items := slices.Delete(slices.Clone(s.Seq), pos, pos+1)
	return []*core.Tensor{core.NewSeq(s.DType.Elem(), items)}
}

func sequenceLength(c *core.Call, in []*core.Tensor) []*core.Tensor {
	s := seqArg(in, 0)
	return []*core.Tensor{{DType: core.Int64, Shape: []int64{}, Elems: []int64{int64(len(s.Seq))}}}
}

func sequenceLengthTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	if in[0] != core.Undefined && !in[0].IsSequence() {
		return nil, core.Errorf("input 0 has type %v, want a sequence", in[0])
	}
	return []core.DType{core.Int64}, nil
}

// splitToSequence splits input 0 along axis into pieces: of size 1 without
// split (squeezed away unless keepdims), of size split (the last one
// smaller) for a scalar split, of the listed sizes for a 1-D split.
func splitToSequence(c *core.Call, in []*core.Tensor) []*core.Tensor {
	x := in[0]
	if x.DType.IsSequence() {
		core.Failf("input 0 must be a tensor")
	}
	r := len(x.Shape)
	if r == 0 {
		core.Failf("cannot split a scalar")
	}
	axis := NormAxis(c.Int("axis", 0), r)
	dim := x.Shape[axis]
	var sizes []int64
	squeeze := false
	switch {
	case len(in) < 2 || in[1] == nil:
		sizes = make([]int64, dim)
		for i := range sizes {
			sizes[i] = 1
		}
		squeeze = c.Int("keepdims", 1) == 0
	case len(in[1].Shape) == 0:
		if in[1].DType != core.Int32 && in[1].DType != core.Int64 {
			panic(core.ErrType)
		}
		chunk := in[1].Int64s()[0]
		if chunk <= 0 {
			core.Failf("split size %d is not positive", chunk)
		}
		for start := int64(0); start < dim; start += chunk {
			sizes = append(sizes, min(chunk, dim-start))
		}
	case len(in[1].Shape) == 1:
		if in[1].DType != core.Int32 && in[1].DType != core.Int64 {
			panic(core.ErrType)
		}
		sizes = in[1].Int64s()
	default:
		core.Failf("split must be a scalar or 1-D, got shape %v", in[1].Shape)
	}
	items := splitPieces(x, axis, sizes)
	if squeeze {
		for i, t := range items {
			items[i] = core.Reshaped(t, slices.Delete(slices.Clone(t.Shape), axis, axis+1))
		}
	}
	return []*core.Tensor{core.NewSeq(x.DType, items)}
}

func splitToSequenceTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	if in[0] != core.Undefined && !isAny(in[0]) {
		return nil, core.Errorf("input 0 has type %v, want a tensor", in[0])
	}
	if len(in) > 1 && in[1] != core.Undefined && in[1] != core.Int32 && in[1] != core.Int64 {
		return nil, core.Errorf("input 1 (split) has type %v, want int32 or int64", in[1])
	}
	if in[0] == core.Undefined {
		return []core.DType{core.Undefined}, nil
	}
	return []core.DType{core.SequenceOf(in[0])}, nil
}

// concatFromSequence concatenates the items along axis, or stacks them
// along a new axis with new_axis=1 (axis then ranges over [-r-1, r]).
func concatFromSequence(c *core.Call, in []*core.Tensor) []*core.Tensor {
	s := seqArg(in, 0)
	if len(s.Seq) == 0 {
		core.Failf("cannot concatenate an empty sequence")
	}
	items := s.Seq
	if c.Int("new_axis", 0) == 1 {
		r := len(items[0].Shape)
		axis := NormAxis(c.Int("axis", 0), r+1)
		items = make([]*core.Tensor, len(s.Seq))
		for i, t := range s.Seq {
			if len(t.Shape) != r {
				panic(core.ErrRank)
			}
			items[i] = core.Reshaped(t, slices.Insert(slices.Clone(t.Shape), axis, 1))
		}
	}
	// concat reads the same "axis" attribute; for stacking, normalised
	// against the items' new rank it is the new axis.
	return concat(c, items)
}

func checkConcatFromSequence(n *core.Node) error {
	if n.Attrs["axis"] == nil {
		return core.Errorf("attribute \"axis\" is required")
	}
	if a := n.Attrs["new_axis"]; a != nil && a.GetI() != 0 && a.GetI() != 1 {
		return core.Errorf("new_axis is %d, want 0 or 1", a.GetI())
	}
	return nil
}

func concatFromSequenceTypes(n *core.Node, in []core.DType) ([]core.DType, error) {
	if in[0] != core.Undefined && !in[0].IsSequence() {
		return nil, core.Errorf("input 0 has type %v, want a sequence", in[0])
	}
	return []core.DType{in[0].Elem()}, nil
}
