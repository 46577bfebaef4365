package crosscheck

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/internal/onnxbuild"
	"github.com/mhcc-dev/mhcc/internal/ortrun"
	"github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// A gqaCase is one GroupQueryAttention node and its inputs.
type gqaCase struct {
	name              string
	b, s, nh, nkv, hd int
	pastBuf           int     // P of the past inputs; -1: omitted
	seqlens           []int32 // total length - 1 per sequence
	total             int32
	packed            bool
	attrs             []*onnxpb.AttributeProto
	bias              []int // attention_bias shape [B or 1, N or 1, S, T]; nil: omitted
}

// TestGroupQueryAttentionMatchesOnnxruntime checks the Go runtime's
// com.microsoft.GroupQueryAttention (runtime/contrib_gqa.go) against
// onnxruntime's on one-node models: a prompt without a cache, decode steps
// on a full and on a right-padded cache (sequences of different lengths),
// a past buffer longer than the total (present keeps its length), a chunk
// on a non-empty cache at batch 1, packed QKV, MQA, and the scale, softcap
// and local_window_size attributes. Outputs and presents must agree within
// 1e-5.
func TestGroupQueryAttentionMatchesOnnxruntime(t *testing.T) {
	initORT(t)
	dir := t.TempDir()
	cases := []gqaCase{
		{name: "prompt", b: 2, s: 5, nh: 4, nkv: 2, hd: 8, pastBuf: -1, seqlens: []int32{4, 4}, total: 5},
		{name: "prompt with empty past", b: 2, s: 5, nh: 4, nkv: 2, hd: 8, pastBuf: 0, seqlens: []int32{4, 4}, total: 5},
		{name: "decode", b: 2, s: 1, nh: 4, nkv: 2, hd: 16, pastBuf: 6, seqlens: []int32{6, 6}, total: 7},
		{name: "decode, padded cache", b: 3, s: 1, nh: 4, nkv: 1, hd: 8, pastBuf: 6, seqlens: []int32{6, 3, 0}, total: 7},
		{name: "decode, past buffer longer", b: 1, s: 1, nh: 2, nkv: 2, hd: 8, pastBuf: 9, seqlens: []int32{4}, total: 5},
		{name: "chunk on a cache", b: 1, s: 3, nh: 4, nkv: 2, hd: 8, pastBuf: 4, seqlens: []int32{6}, total: 7},
		{name: "packed prompt", b: 2, s: 4, nh: 4, nkv: 2, hd: 8, pastBuf: -1, seqlens: []int32{3, 3}, total: 4, packed: true},
		{name: "packed decode", b: 1, s: 1, nh: 2, nkv: 1, hd: 8, pastBuf: 3, seqlens: []int32{3}, total: 4, packed: true},
		{name: "scale and softcap", b: 1, s: 4, nh: 2, nkv: 1, hd: 8, pastBuf: 2, seqlens: []int32{5}, total: 6,
			attrs: []*onnxpb.AttributeProto{aFloat("scale", 0.3), aFloat("softcap", 1.5)}},
		{name: "local window", b: 1, s: 1, nh: 2, nkv: 2, hd: 8, pastBuf: 7, seqlens: []int32{7}, total: 8,
			attrs: []*onnxpb.AttributeProto{aIntAttr("local_window_size", 3)}},
		// attention_bias, as mhcc's KV-cache graphs hide left padding with it
		// (0 or −inf per key, here mixed with finite values).
		{name: "bias, prompt", b: 2, s: 5, nh: 4, nkv: 2, hd: 8, pastBuf: 0, seqlens: []int32{4, 4}, total: 5, bias: []int{2, 1, 5, 5}},
		{name: "bias per head, decode", b: 2, s: 1, nh: 4, nkv: 2, hd: 8, pastBuf: 6, seqlens: []int32{6, 6}, total: 7, bias: []int{2, 4, 1, 7}},
		{name: "bias broadcast over batch", b: 3, s: 1, nh: 2, nkv: 1, hd: 16, pastBuf: 4, seqlens: []int32{4, 4, 4}, total: 5, bias: []int{1, 1, 1, 5}},
		{name: "bias and softcap", b: 1, s: 4, nh: 2, nkv: 1, hd: 8, pastBuf: 2, seqlens: []int32{5}, total: 6, bias: []int{1, 2, 4, 6},
			attrs: []*onnxpb.AttributeProto{aFloat("softcap", 1.5)}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, fileName(c.name)+".onnx")
			data := c.model()
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			ortIn, goIn := c.inputs(uint64(i))
			want, err := ortrun.Run(path, ortIn, 1)
			if err != nil {
				t.Fatalf("onnxruntime: %v", err)
			}
			m, err := mhrt.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Run(goIn)
			if err != nil {
				t.Fatalf("Go runtime: %v", err)
			}
			for _, w := range want {
				g := got[w.Name]
				if g == nil {
					t.Fatalf("Go runtime: no output %s", w.Name)
				}
				d, where := diff(output{g.Shape, g.Float32s()}, output{w.Shape, w.F32})
				if !(d <= 1e-5) {
					t.Errorf("%s: max |Go - onnxruntime| = %.3g (%s)", w.Name, d, where)
				}
				t.Logf("%s %v: max |Go - onnxruntime| = %.2g", w.Name, w.Shape, d)
			}
		})
	}
}

func aFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func aIntAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func (c gqaCase) qWidth() int {
	if c.packed {
		return (c.nh + 2*c.nkv) * c.hd
	}
	return c.nh * c.hd
}

func (c gqaCase) model() []byte {
	vi := func(name string, elem onnxpb.TensorProto_DataType, dims ...int) *onnxpb.ValueInfoProto {
		d := make([]any, len(dims))
		for i, n := range dims {
			d[i] = n
		}
		return onnxbuild.Info(name, elem, d...)
	}
	f32, i32 := onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_INT32
	inputs := []*onnxpb.ValueInfoProto{vi("query", f32, c.b, c.s, c.qWidth())}
	names := []string{"query", "", ""}
	if !c.packed {
		inputs = append(inputs, vi("key", f32, c.b, c.s, c.nkv*c.hd), vi("value", f32, c.b, c.s, c.nkv*c.hd))
		names = []string{"query", "key", "value"}
	}
	if c.pastBuf >= 0 {
		inputs = append(inputs, vi("past_key", f32, c.b, c.nkv, c.pastBuf, c.hd), vi("past_value", f32, c.b, c.nkv, c.pastBuf, c.hd))
		names = append(names, "past_key", "past_value")
	} else {
		names = append(names, "", "")
	}
	inputs = append(inputs, vi("seqlens_k", i32, c.b), vi("total_sequence_length", i32))
	names = append(names, "seqlens_k", "total_sequence_length")
	if c.bias != nil {
		inputs = append(inputs, vi("attention_bias", f32, c.bias...))
		names = append(names, "", "", "", "attention_bias")
	}
	present := max(int(c.total), max(c.pastBuf, 0))
	attrs := append([]*onnxpb.AttributeProto{aIntAttr("num_heads", int64(c.nh)), aIntAttr("kv_num_heads", int64(c.nkv))}, c.attrs...)
	m := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}, {Domain: proto.String("com.microsoft"), Version: proto.Int64(1)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("gqa"),
			Node: []*onnxpb.NodeProto{{Name: proto.String("gqa"), OpType: proto.String("GroupQueryAttention"), Domain: proto.String("com.microsoft"),
				Input: names, Output: []string{"output", "present_key", "present_value"}, Attribute: attrs}},
			Input: inputs,
			Output: []*onnxpb.ValueInfoProto{vi("output", f32, c.b, c.s, c.nh*c.hd),
				vi("present_key", f32, c.b, c.nkv, present, c.hd), vi("present_value", f32, c.b, c.nkv, present, c.hd)},
		},
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	return data
}

// inputs draws N(0,1) activations and caches, the same for both engines.
func (c gqaCase) inputs(seed uint64) ([]ortrun.Tensor, map[string]*mhrt.Tensor) {
	r := rand.New(rand.NewPCG(seed, 0x677161))
	var ortIn []ortrun.Tensor
	goIn := map[string]*mhrt.Tensor{}
	float := func(name string, dims ...int64) {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		xs := make([]float32, n)
		for i := range xs {
			xs[i] = float32(r.NormFloat64())
		}
		ortIn = append(ortIn, ortrun.Tensor{Name: name, DType: "float32", Shape: dims, F32: xs})
		goIn[name] = mhrt.NewFloat32(dims, xs)
	}
	b, s := int64(c.b), int64(c.s)
	float("query", b, s, int64(c.qWidth()))
	if !c.packed {
		float("key", b, s, int64(c.nkv*c.hd))
		float("value", b, s, int64(c.nkv*c.hd))
	}
	if c.pastBuf >= 0 {
		float("past_key", b, int64(c.nkv), int64(c.pastBuf), int64(c.hd))
		float("past_value", b, int64(c.nkv), int64(c.pastBuf), int64(c.hd))
	}
	if c.bias != nil {
		n := 1
		for _, d := range c.bias {
			n *= d
		}
		xs := make([]float32, n)
		for i := range xs {
			switch r.IntN(4) {
			case 0: // a hidden key; never the first, so no row is all hidden
				if i%c.bias[3] != 0 {
					xs[i] = float32(math.Inf(-1))
				}
			case 1:
				xs[i] = float32(r.NormFloat64())
			}
		}
		dims := make([]int64, 4)
		for i, d := range c.bias {
			dims[i] = int64(d)
		}
		ortIn = append(ortIn, ortrun.Tensor{Name: "attention_bias", DType: "float32", Shape: dims, F32: xs})
		goIn["attention_bias"] = mhrt.NewFloat32(dims, xs)
	}
	lens := make([]int64, len(c.seqlens))
	for i, v := range c.seqlens {
		lens[i] = int64(v)
	}
	ortIn = append(ortIn, ortrun.Tensor{Name: "seqlens_k", DType: "int32", Shape: []int64{b}, I64: lens},
		ortrun.Tensor{Name: "total_sequence_length", DType: "int32", Shape: []int64{}, I64: []int64{int64(c.total)}})
	goIn["seqlens_k"] = mhrt.NewInt32([]int64{b}, c.seqlens)
	goIn["total_sequence_length"] = mhrt.NewInt32([]int64{}, []int32{c.total})
	return ortIn, goIn
}
