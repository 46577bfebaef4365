package graphdiff

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/onnxtext"
	"github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// A tensorInfo is an initializer (or tensor attribute) with its content hash.
type tensorInfo struct {
	name  string
	t     *onnxpb.TensorProto
	dtype int32
	dims  []int64
	hash  string
}

func newTensorInfo(t *onnxpb.TensorProto) *tensorInfo {
	return &tensorInfo{name: t.GetName(), t: t, dtype: t.GetDataType(), dims: t.GetDims(), hash: tensorHash(t)}
}

// tensorHash is a content hash of t that ignores its name and whether the
// elements sit in raw_data, in the typed fields or, once ResolveExternal has
// read it, in an external file: onnxtext.TensorHash ("sha256:…", the hash
// mhcc fmt prints), or, for the tensors it refuses (unresolved external
// data, data that does not match the shape), ownHash.
func tensorHash(t *onnxpb.TensorProto) string {
	if h, ok := contentHash(t); ok {
		return h
	}
	if h, err := onnxtext.TensorHash(t); err == nil {
		return h
	}
	return "sha256:" + ownHash(t)
}

// shortHash is a hash cut for messages: "sha256:" and 12 hex digits.
func shortHash(h string) string {
	if len(h) > 19 {
		return h[:19]
	}
	return h
}

// ownHash is sha256 over a version tag, the data type, the dims and the
// elements in canonical little-endian bytes (strings as length-prefixed
// bytes; external data by its location entries), whatever the encoding.
func ownHash(t *onnxpb.TensorProto) string {
	h := sha256.New()
	var b [8]byte
	le := binary.LittleEndian
	put64 := func(v uint64) { le.PutUint64(b[:], v); h.Write(b[:8]) }
	put32 := func(v uint32) { le.PutUint32(b[:], v); h.Write(b[:4]) }
	put16 := func(v uint16) { le.PutUint16(b[:], v); h.Write(b[:2]) }
	h.Write([]byte("onnx.tensor/v1\x00"))
	put32(uint32(t.GetDataType()))
	put64(uint64(len(t.GetDims())))
	for _, d := range t.GetDims() {
		put64(uint64(d))
	}
	switch {
	case t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(t.GetExternalData()) > 0:
		h.Write([]byte("external\x00"))
		for _, kv := range t.GetExternalData() {
			writeStr(h, kv.GetKey())
			writeStr(h, kv.GetValue())
		}
	case t.RawData != nil:
		h.Write(t.GetRawData())
	default:
		switch dt := onnxpb.TensorProto_DataType(t.GetDataType()); dt {
		case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_COMPLEX64:
			for _, v := range t.GetFloatData() {
				put32(math.Float32bits(v))
			}
		case onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_COMPLEX128:
			for _, v := range t.GetDoubleData() {
				put64(math.Float64bits(v))
			}
		case onnxpb.TensorProto_INT64:
			for _, v := range t.GetInt64Data() {
				put64(uint64(v))
			}
		case onnxpb.TensorProto_UINT32:
			for _, v := range t.GetUint64Data() {
				put32(uint32(v))
			}
		case onnxpb.TensorProto_UINT64:
			for _, v := range t.GetUint64Data() {
				put64(v)
			}
		case onnxpb.TensorProto_INT32:
			for _, v := range t.GetInt32Data() {
				put32(uint32(v))
			}
		case onnxpb.TensorProto_INT16, onnxpb.TensorProto_UINT16, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
			for _, v := range t.GetInt32Data() {
				put16(uint16(v))
			}
		case onnxpb.TensorProto_INT8, onnxpb.TensorProto_UINT8, onnxpb.TensorProto_BOOL:
			for _, v := range t.GetInt32Data() {
				h.Write([]byte{byte(v)})
			}
		case onnxpb.TensorProto_STRING:
			for _, s := range t.GetStringData() {
				put64(uint64(len(s)))
				h.Write(s)
			}
		default: // types without a canonical layout here: every typed field, tagged
			h.Write([]byte("typed\x00"))
			for _, v := range t.GetFloatData() {
				put32(math.Float32bits(v))
			}
			h.Write([]byte{1})
			for _, v := range t.GetInt32Data() {
				put32(uint32(v))
			}
			h.Write([]byte{2})
			for _, v := range t.GetInt64Data() {
				put64(uint64(v))
			}
			h.Write([]byte{3})
			for _, v := range t.GetDoubleData() {
				put64(math.Float64bits(v))
			}
			h.Write([]byte{4})
			for _, v := range t.GetUint64Data() {
				put64(v)
			}
			h.Write([]byte{5})
			for _, s := range t.GetStringData() {
				put64(uint64(len(s)))
				h.Write(s)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeStr(h hash.Hash, s string) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(len(s)))
	h.Write(b[:])
	h.Write([]byte(s))
}

// dtypeName is numpy's name of an ONNX element type.
func dtypeName(dt int32) string { return mhrt.DType(dt).String() }

func isFloatType(dt int32) bool {
	switch onnxpb.TensorProto_DataType(dt) {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		return true
	}
	return false
}

func dimsString(d []int64) string {
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = strconv.FormatInt(v, 10)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// valueDiff compares two tensors of equal type and shape element by element.
type valueDiff struct {
	differ, total int
	maxAbs        float64
	before, after string // the values themselves, for tensors of one element
}

// compareValues compares the elements of a and b (same dtype and dims) with
// the tolerance of opts for floats and exactly otherwise.
func compareValues(a, b *onnxpb.TensorProto, opts Options) (valueDiff, error) {
	a, err := inlined(a)
	if err != nil {
		return valueDiff{}, err
	}
	if b, err = inlined(b); err != nil {
		return valueDiff{}, err
	}
	ta, err := mhrt.FromProto(a)
	if err != nil {
		return valueDiff{}, err
	}
	tb, err := mhrt.FromProto(b)
	if err != nil {
		return valueDiff{}, err
	}
	if ta.Len() != tb.Len() {
		return valueDiff{}, fmt.Errorf("element counts %d and %d", ta.Len(), tb.Len())
	}
	d := valueDiff{total: ta.Len()}
	if isFloatType(a.GetDataType()) {
		fa, fb := ta.Float64s(), tb.Float64s()
		for i := range fa {
			x, y := fa[i], fb[i]
			if x == y || (math.IsNaN(x) && math.IsNaN(y)) {
				continue
			}
			diff := math.Abs(x - y)
			if diff <= opts.ATol+opts.RTol*math.Abs(y) {
				continue
			}
			d.differ++
			if math.IsNaN(diff) || diff > d.maxAbs || math.IsNaN(d.maxAbs) {
				d.maxAbs = diff
			}
		}
		if d.total == 1 {
			d.before, d.after = fmtFloat(fa[0]), fmtFloat(fb[0])
		}
		return d, nil
	}
	ia, ib := ta.Int64s(), tb.Int64s()
	for i := range ia {
		if ia[i] != ib[i] {
			d.differ++
			d.maxAbs = max(d.maxAbs, math.Abs(float64(ia[i])-float64(ib[i])))
		}
	}
	if d.total == 1 {
		d.before, d.after = strconv.FormatInt(ia[0], 10), strconv.FormatInt(ib[0], 10)
	}
	return d, nil
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// tensorSummary shows a tensor in a message: type, shape and, when small,
// its values; otherwise a prefix of its hash.
func tensorSummary(t *onnxpb.TensorProto) string {
	s := dtypeName(t.GetDataType()) + dimsString(t.GetDims())
	if tt, err := mhrt.FromProto(t); err == nil && tt.Len() <= 8 {
		var vals []string
		if isFloatType(t.GetDataType()) {
			for _, v := range tt.Float64s() {
				vals = append(vals, fmtFloat(v))
			}
		} else {
			for _, v := range tt.Int64s() {
				vals = append(vals, strconv.FormatInt(v, 10))
			}
		}
		return s + "{" + strings.Join(vals, ", ") + "}"
	}
	return s + " " + shortHash(tensorHash(t))
}
