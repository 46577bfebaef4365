package runtime

import (
	"slices"
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

// seqFlag marks a sequence type; the low bits are the element type.
const seqFlag DType = 1 << 12

// sequenceKernels are the rows of the kernel table for sequences (opset 11
// on; Identity of a sequence is Identity's own row).
var sequenceKernels = []kernel{
	{op: "SequenceEmpty", since: 11, minIn: 0, fn: sequenceEmpty, types: sequenceEmptyTypes},
	{op: "SequenceConstruct", since: 11, minIn: 1, maxIn: -1, fn: sequenceConstruct, types: sequenceConstructTypes},
	{op: "SequenceInsert", since: 11, minIn: 2, maxIn: 3, fn: sequenceInsert, types: seqRule(true, anyIndex)},
	{op: "SequenceAt", since: 11, minIn: 2, fn: sequenceAt, types: seqRule(false, anyIndex)},
	{op: "SequenceErase", since: 11, minIn: 1, maxIn: 2, fn: sequenceErase, types: seqRule(true, anyIndex)},
	{op: "SequenceLength", since: 11, minIn: 1, fn: sequenceLength, types: sequenceLengthTypes},
	{op: "SplitToSequence", since: 11, minIn: 1, maxIn: 2, fn: splitToSequence, types: splitToSequenceTypes},
	{op: "ConcatFromSequence", since: 11, minIn: 1, fn: concatFromSequence, types: concatFromSequenceTypes, check: checkConcatFromSequence},
}

// seqArg returns input i, which must be a sequence.
func seqArg(in []*Tensor, i int) *Tensor {
	if in[i] == nil || !in[i].DType.IsSequence() {
		failf("input %d must be a sequence, got %v", i, in[i])
	}
	return in[i]
}

// seqPosition reads a position input (a one-element int32 or int64) and
// checks it against [-n, n-1], or [-n, n] when end is allowed (insertion).
func seqPosition(t *Tensor, n int, end bool) int {
	if t.DType != Int32 && t.DType != Int64 {
		panic(errType)
	}
	p := scalarInt(t, "position")
	hi := int64(n) - 1
	if end {
		hi = int64(n)
	}
	if p < -int64(n) || p > hi {
		failf("position %d out of range for a sequence of %d", p, n)
	}
	if p < 0 {
		p += int64(n)
	}
	return int(p)
}

func sequenceEmpty(c *call, in []*Tensor) []*Tensor {
	return []*Tensor{newSeq(DType(c.int("dtype", int64(Float32))), nil)}
}

func sequenceEmptyTypes(n *Node, in []DType) ([]DType, error) {
	dt := Float32
	if a := n.attrs["dtype"]; a != nil {
		dt = DType(a.GetI())
	}
	if !dt.Supported() {
		return nil, errorf("dtype %v is not a supported element type", dt)
	}
	return []DType{SequenceOf(dt)}, nil
}

func sequenceConstruct(c *call, in []*Tensor) []*Tensor {
	for _, t := range in {
		if t.DType != in[0].DType || t.DType.IsSequence() {
			failf("sequence items must be tensors of one type, got %v and %v", in[0].DType, t.DType)
		}
	}
	return []*Tensor{newSeq(in[0].DType, slices.Clone(in))}
}

func sequenceConstructTypes(n *Node, in []DType) ([]DType, error) {
	t, err := common(in, isAny)
	if err != nil {
		return nil, err
	}
	if t == Undefined {
		return []DType{Undefined}, nil
	}
	return []DType{SequenceOf(t)}, nil
}

// seqRule checks input 0 is a sequence, input 1 (if listed in rest as
// Undefined: any; the element type is checked by the kernel) and the index
// inputs; the output is the sequence type (toSeq) or its element type.
func seqRule(toSeq bool, index DType) typeRule {
	return func(n *Node, in []DType) ([]DType, error) {
		s := in[0]
		if s != Undefined && !s.IsSequence() {
			return nil, errorf("input 0 has type %v, want a sequence", s)
		}
		for i := 1; i < len(in); i++ {
			if in[i] == Undefined || in[i] == Int32 || in[i] == Int64 {
				continue
			}
			if n.OpType == "SequenceInsert" && i == 1 {
				if s != Undefined && in[i] != s.Elem() {
					return nil, errorf("input 1 has type %v, the sequence holds %v", in[i], s.Elem())
				}
				continue
			}
			return nil, errorf("input %d has type %v, want int32 or int64", i, in[i])
		}
		if s == Undefined || toSeq {
			return []DType{s}, nil
		}
		return []DType{s.Elem()}, nil
	}
}

func sequenceInsert(c *call, in []*Tensor) []*Tensor {
	s := seqArg(in, 0)
	t := in[1]
	if t.DType != s.DType.Elem() {
		failf("cannot insert a %v tensor into a sequence of %v", t.DType, s.DType.Elem())
	}
	pos := len(s.seq)
	if len(in) > 2 && in[2] != nil {
		pos = seqPosition(in[2], len(s.seq), true)
	}
	items := make([]*Tensor, 0, len(s.seq)+1)
	items = append(append(append(items, s.seq[:pos]...), t), s.seq[pos:]...)
	return []*Tensor{newSeq(t.DType, items)}
}

func sequenceAt(c *call, in []*Tensor) []*Tensor {
	s := seqArg(in, 0)
	return []*Tensor{s.seq[seqPosition(in[1], len(s.seq), false)]}
}

func sequenceErase(c *call, in []*Tensor) []*Tensor {
	s := seqArg(in, 0)
	if len(s.seq) == 0 {
		failf("cannot erase from an empty sequence")
	}
	pos := len(s.seq) - 1
	if len(in) > 1 && in[1] != nil {
		pos = seqPosition(in[1], len(s.seq), false)
	}
	items := slices.Delete(slices.Clone(s.seq), pos, pos+1)
	return []*Tensor{newSeq(s.DType.Elem(), items)}
}

func sequenceLength(c *call, in []*Tensor) []*Tensor {
	s := seqArg(in, 0)
	return []*Tensor{{DType: Int64, Shape: []int64{}, data: []int64{int64(len(s.seq))}}}
}

func sequenceLengthTypes(n *Node, in []DType) ([]DType, error) {
	if in[0] != Undefined && !in[0].IsSequence() {
		return nil, errorf("input 0 has type %v, want a sequence", in[0])
	}
	return []DType{Int64}, nil
}

// splitToSequence splits input 0 along axis into pieces: of size 1 without
// split (squeezed away unless keepdims), of size split (the last one
// smaller) for a scalar split, of the listed sizes for a 1-D split.
func splitToSequence(c *call, in []*Tensor) []*Tensor {
	x := in[0]
	if x.DType.IsSequence() {
		failf("input 0 must be a tensor")
	}
	r := len(x.Shape)
	if r == 0 {
		failf("cannot split a scalar")
	}
	axis := normAxis(c.int("axis", 0), r)
	dim := x.Shape[axis]
	var sizes []int64
	squeeze := false
	switch {
	case len(in) < 2 || in[1] == nil:
		sizes = make([]int64, dim)
		for i := range sizes {
			sizes[i] = 1
		}
		squeeze = c.int("keepdims", 1) == 0
	case len(in[1].Shape) == 0:
		if in[1].DType != Int32 && in[1].DType != Int64 {
			panic(errType)
		}
		chunk := in[1].Int64s()[0]
		if chunk <= 0 {
			failf("split size %d is not positive", chunk)
		}
		for start := int64(0); start < dim; start += chunk {
			sizes = append(sizes, min(chunk, dim-start))
		}
	case len(in[1].Shape) == 1:
		if in[1].DType != Int32 && in[1].DType != Int64 {
			panic(errType)
		}
		sizes = in[1].Int64s()
	default:
		failf("split must be a scalar or 1-D, got shape %v", in[1].Shape)
	}
	items := splitPieces(x, axis, sizes)
	if squeeze {
		for i, t := range items {
			items[i] = reshaped(t, slices.Delete(slices.Clone(t.Shape), axis, axis+1))
		}
	}
	return []*Tensor{newSeq(x.DType, items)}
}

func splitToSequenceTypes(n *Node, in []DType) ([]DType, error) {
	if in[0] != Undefined && !isAny(in[0]) {
		return nil, errorf("input 0 has type %v, want a tensor", in[0])
	}
	if len(in) > 1 && in[1] != Undefined && in[1] != Int32 && in[1] != Int64 {
		return nil, errorf("input 1 (split) has type %v, want int32 or int64", in[1])
	}
	if in[0] == Undefined {
		return []DType{Undefined}, nil
	}
	return []DType{SequenceOf(in[0])}, nil
}

// concatFromSequence concatenates the items along axis, or stacks them
// along a new axis with new_axis=1 (axis then ranges over [-r-1, r]).
func concatFromSequence(c *call, in []*Tensor) []*Tensor {
	s := seqArg(in, 0)
	if len(s.seq) == 0 {
		failf("cannot concatenate an empty sequence")
	}
	items := s.seq
	if c.int("new_axis", 0) == 1 {
		r := len(items[0].Shape)
		axis := normAxis(c.int("axis", 0), r+1)
		items = make([]*Tensor, len(s.seq))
		for i, t := range s.seq {
			if len(t.Shape) != r {
				panic(errRank)
			}
			items[i] = reshaped(t, slices.Insert(slices.Clone(t.Shape), axis, 1))
		}
	}
	// concat reads the same "axis" attribute; for stacking, normalised
	// against the items' new rank it is the new axis.
	return concat(c, items)
}

func checkConcatFromSequence(n *Node) error {
	if n.attrs["axis"] == nil {
		return errorf("attribute \"axis\" is required")
	}
	if a := n.attrs["new_axis"]; a != nil && a.GetI() != 0 && a.GetI() != 1 {
		return errorf("new_axis is %d, want 0 or 1", a.GetI())
	}
	return nil
}

func concatFromSequenceTypes(n *Node, in []DType) ([]DType, error) {
	if in[0] != Undefined && !in[0].IsSequence() {
		return nil, errorf("input 0 has type %v, want a sequence", in[0])
	}
	return []DType{in[0].Elem()}, nil
}
