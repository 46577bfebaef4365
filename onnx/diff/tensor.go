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

	"google.golang.org/protobuf/proto"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor"
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

// tensorHash is t's content hash, whether its elements sit in raw_data, in
// the typed fields or, once ResolveExternal has read it, in an external
// file: tensor.Hash ("sha256:…", the hash mhcc fmt prints). A tensor that
// has no content hash (unresolved external data, data that does not match
// its shape) is identified by its encoding instead: "proto:" and the
// SHA-256 of its deterministic wire form without the name, so that two such
// tensors compare equal only when they are encoded alike.
func tensorHash(t *onnxpb.TensorProto) string {
	if h, ok := contentHash(t); ok {
		return h
	}
	if h, err := tensor.Hash(t); err == nil {
		return h
	}
	c := proto.Clone(t).(*onnxpb.TensorProto)
	c.Name = nil
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	s := sha256.Sum256(b)
	return "proto:" + hex.EncodeToString(s[:])
}

// shortHash is a hash cut for messages: its scheme and 12 hex digits.
func shortHash(h string) string {
	if i := strings.IndexByte(h, ':'); i >= 0 && len(h) > i+13 {
		return h[:i+13]
	}
	return h
}

func writeStr(h hash.Hash, s string) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(len(s)))
	h.Write(b[:])
	h.Write([]byte(s))
}

// A strHasher feeds length-prefixed strings to a hash as writeStr does,
// through one reused buffer: the per-node hashes of a large graph would
// otherwise allocate a copy of every string they write.
type strHasher struct {
	h   hash.Hash
	buf []byte
}

func (w *strHasher) str(s string) {
	w.buf = binary.LittleEndian.AppendUint64(w.buf[:0], uint64(len(s)))
	w.buf = append(w.buf, s...)
	w.h.Write(w.buf)
}

// nodeToken writes what deepToken returns for output out of a node whose
// deep hash is d (hex, '#', the output index) without building the string.
func (w *strHasher) nodeToken(d [16]byte, out int) {
	var tok [48]byte
	t := hex.AppendEncode(tok[:0], d[:])
	t = append(t, '#')
	t = strconv.AppendInt(t, int64(out), 10)
	w.buf = binary.LittleEndian.AppendUint64(w.buf[:0], uint64(len(t)))
	w.buf = append(w.buf, t...)
	w.h.Write(w.buf)
}

func isFloatType(dt int32) bool {
	d, _ := tensor.Lookup(dt)
	return d.IsFloat()
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
	fa, ia, err := elements(a)
	if err != nil {
		return valueDiff{}, err
	}
	fb, ib, err := elements(b)
	if err != nil {
		return valueDiff{}, err
	}
	na, nb := len(fa)+len(ia), len(fb)+len(ib)
	if na != nb {
		return valueDiff{}, fmt.Errorf("element counts %d and %d", na, nb)
	}
	d := valueDiff{total: na}
	if isFloatType(a.GetDataType()) {
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

// elements returns t's elements as float64 for the float types, else as
// int64 (integers and bool).
func elements(t *onnxpb.TensorProto) ([]float64, []int64, error) {
	if isFloatType(t.GetDataType()) {
		f, err := tensor.Float64s(t)
		return f, nil, err
	}
	i, err := tensor.Int64s(t)
	return nil, i, err
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// tensorSummary shows a tensor in a message: type, shape and, when small,
// its values; otherwise a prefix of its hash.
func tensorSummary(t *onnxpb.TensorProto) string {
	s := tensor.Name(t.GetDataType()) + dimsString(t.GetDims())
	if f, i, err := elements(t); err == nil && len(f)+len(i) <= 8 {
		var vals []string
		for _, v := range f {
			vals = append(vals, fmtFloat(v))
		}
		for _, v := range i {
			vals = append(vals, strconv.FormatInt(v, 10))
		}
		return s + "{" + strings.Join(vals, ", ") + "}"
	}
	return s + " " + shortHash(tensorHash(t))
}
