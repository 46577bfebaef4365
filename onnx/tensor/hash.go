package tensor

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"github.com/mhcc-dev/mhcc/onnx/pb"
)

// Hash returns "sha256:" and the 64 hex digits of the SHA-256 of a
// tensor's dtype, shape and data, independent of how the producer encoded
// the data: raw_data or the typed fields (float_data, int32_data, …) give
// the same hash for the same values. The name is not hashed. It is mhcc's
// one content hash of a tensor: mhcc fmt prints it for elided initializers,
// the text goldens hold it, and onnx/diff compares tensors by it.
//
// The hashed bytes are: data_type as a little-endian uint32; the number of
// dims as a little-endian uint64, then each dim as a little-endian int64;
// then the data in canonical form, which is raw_data's layout (see Raw) or,
// for strings, each element's length as a little-endian uint64 followed by
// its bytes. Values are hashed bit for bit: 0.0 and -0.0, or two NaNs with
// different payloads, hash differently.
//
// The error wraps ErrExternalData for external data (see HashReader), and
// otherwise says why the data does not match the dtype and shape (wrong
// raw_data length, wrong number of typed values, unknown dtype, negative
// dim).
func Hash(t *onnxpb.TensorProto) (string, error) {
	if IsExternal(t) {
		return "", fmt.Errorf("%w (%s)", ErrExternalData, ExternalSummary(t))
	}
	h := sha256.New()
	hashHeader(h, t)
	var buf [8]byte
	if t.GetDataType() == String {
		strs, err := Strings(t)
		if err != nil {
			return "", err
		}
		for _, s := range strs {
			binary.LittleEndian.PutUint64(buf[:], uint64(len(s)))
			h.Write(buf[:])
			h.Write(s)
		}
	} else {
		data, err := Raw(t)
		if err != nil {
			return "", err
		}
		h.Write(data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// hashHeader writes what Hash hashes before the data: the data type and
// the dims.
func hashHeader(h hash.Hash, t *onnxpb.TensorProto) {
	var buf [8]byte
	binary.LittleEndian.PutUint32(buf[:4], uint32(t.GetDataType()))
	h.Write(buf[:4])
	binary.LittleEndian.PutUint64(buf[:], uint64(len(t.Dims)))
	h.Write(buf[:])
	for _, d := range t.Dims {
		binary.LittleEndian.PutUint64(buf[:], uint64(d))
		h.Write(buf[:])
	}
}

// HashReader is Hash of t with its data read from r, the bytes raw_data
// would hold (an external data file's section): the hash the same tensor
// has when stored inline. r must give exactly the bytes t's data type and
// dims need; it is read once, in chunks, whatever its size.
func HashReader(t *onnxpb.TensorProto, r io.Reader) (string, error) {
	dt := t.GetDataType()
	bits := Bits(dt)
	if bits == 0 {
		return "", fmt.Errorf("data type %d cannot be stored as raw bytes", dt)
	}
	n, err := NumElements(t.Dims)
	if err != nil {
		return "", err
	}
	want := (n*int64(bits) + 7) / 8
	h := sha256.New()
	hashHeader(h, t)
	got, err := io.Copy(h, io.LimitReader(r, want+1))
	if err != nil {
		return "", err
	}
	if got != want {
		return "", fmt.Errorf("%d bytes of data, want %d for %s", got, want, Describe(dt, t.Dims))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
