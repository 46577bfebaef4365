package export

import (
	"fmt"

	"github.com/mhcc-dev/mhcc/ir"
)

// The attention lowerings "webgpu" (listed in opmap.go's alternatives) are
// the reference computation with the causal (and, with a KV cache, padding)
// mask built from float32 positions instead of int64 Range, Greater,
// Equal, And and Or, which onnxruntime-web's WebGPU execution provider has
// no kernels for and runs on the CPU (bench/webgpu.md).

// positions returns the float32 constant [0, 1, …, rows-1].
func (e *emitter) positions(rows int64) string {
	v := make([]float64, rows)
	for i := range v {
		v[i] = float64(i)
	}
	return e.floats(fmt.Sprintf("positions.%d", rows), []int64{rows}, v)
}

// Attention, lowering "webgpu": the reference (expandAttention) with the
// causal mask as Greater(cols, rows) of float positions sliced from a
// [max_sequence] constant by the sequence length (a Shape, no arithmetic on
// int64). The mask is placed where causalMask finds it.
func expandAttentionWebGPU(e *emitter, n *ir.Node, in, out []string) {
	seq := e.seqLen(in[0], n.Inputs[0].Type.Shape[1])
	if key := "mask:" + seq; e.memo[key] == "" {
		pos := e.slice2(e.positions(n.Inputs[5].Type.Shape[0].Size), e.i64s(0), seq)
		rows := e.op("Unsqueeze", "", ins(pos, e.i64s(1))) // [S, 1]
		cols := e.op("Unsqueeze", "", ins(pos, e.i64s(0))) // [1, S]
		e.memo[key] = e.op("Greater", "", ins(cols, rows))
	}
	expandAttention(e, n, in, out)
}

// slice2 is x[start:end] along axis 0, start and end 1-D int64 tensors.
func (e *emitter) slice2(x, start, end string) string {
	return e.op("Slice", "", ins(x, start, end, e.i64s(0)))
}

// AttentionKV, lowering "webgpu": the reference (expandAttentionKV) with
// the total length T read from attention_mask's shape rather than added up
// (P + S), and the mask paddedMask computes made of float32 ops: with rows
// the positions P…T-1 of the queries, cols 0…T-1 of the keys, d = cols -
// rows and pad = 1 where attention_mask is 0 (a Gather from [1, 0]), a key
// is hidden where max(d, -pad·d) > 0: d > 0 (causal) or, for a padded key,
// d ≠ 0 (every key but the query's own slot). attention_mask must hold 0
// and 1 only (the Gather fails on other values).
func expandAttentionKVWebGPU(e *emitter, n *ir.Node, in, out []string) {
	seq := e.seqLen(in[0], n.Inputs[0].Type.Shape[1])
	past := e.pastLen(in[7], n.Inputs[7].Type.Shape[2])
	// pad [B, T] is float32, and T is read from its Shape: a Shape of the
	// int64 attention_mask itself runs on the CPU.
	padKey := "webgpu.pad:" + in[9]
	pad := e.memo[padKey]
	if pad == "" {
		pad = e.op("Gather", "", ins(e.floats("pad.of.mask", []int64{2}, []float64{1, 0}), in[9]), aInt("axis", 0))
		e.memo[padKey] = pad
	}
	totalKey := "total:" + past + ":" + seq
	total := e.memo[totalKey]
	if total == "" {
		total = e.dimLen(pad, n.Inputs[9].Type.Shape[1], 1)
		e.memo[totalKey] = total
	}
	if key := "paddedmask:" + past + ":" + total + ":" + in[9]; e.memo[key] == "" {
		pos := e.positions(n.Inputs[5].Type.Shape[0].Size)
		rows := e.op("Unsqueeze", "", ins(e.slice2(pos, past, total), e.i64s(1)))      // [S, 1]
		cols := e.op("Unsqueeze", "", ins(e.slice2(pos, e.i64s(0), total), e.i64s(0))) // [1, T]
		d := e.op("Sub", "", ins(cols, rows))                                          // [S, T]
		pad := e.op("Unsqueeze", "", ins(pad, e.i64s(1, 2)))                           // [B, 1, 1, T]
		hide := e.op("Max", "", ins(d, e.op("Mul", "", ins(pad, e.op("Neg", "", ins(d))))))
		e.memo[key] = e.op("Greater", "", ins(hide, e.floats("half", []int64{1}, []float64{0.5})))
	}
	expandAttentionKV(e, n, in, out)
}
