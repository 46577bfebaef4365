package safetensors

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/testenv"
)

// pyWrite writes a safetensors file by hand, with json/struct/numpy only (no
// safetensors package): entries in non-alphabetical order, data in another
// order still, an unpadded header with json.dumps' default spacing.
const pyWrite = `
import json, struct, sys
import numpy as np

def bf16(values):
    bits = np.array(values, dtype=np.float32).view(np.uint32)
    assert (bits & 0xffff == 0).all(), "values must be exact in bfloat16"
    return (bits >> 16).astype("<u2")

tensors = [  # (name, dtype, array), in data order
    ("zeta.i64", "I64", np.array([[1, -2, 3], [2**62, -(2**63), 0]], dtype="<i8")),
    ("alpha.f32", "F32", np.array([[0.1, -1.5], [3.0e38, 1e-45]], dtype="<f4")),
    ("mid.f16", "F16", np.array([1.0, -2.0, 65504.0, 2.0**-24, 0.333251953125], dtype="<f2")),
    ("mid.bf16", "BF16", bf16([1.0, -3.0, 0.333984375, 2.0**100])),
    ("f64", "F64", np.array([0.1, -1e300], dtype="<f8")),
    ("i32", "I32", np.array([-7, 2**31 - 1], dtype="<i4")),
    ("u8", "U8", np.array([0, 255, 7], dtype="u1")),
    ("i8", "I8", np.array([-128, 127], dtype="i1")),
    ("mask", "BOOL", np.array([True, False, True], dtype=np.bool_)),
    ("scalar", "F32", np.array(2.5, dtype="<f4")),
    ("nothing", "F32", np.zeros((0, 4), dtype="<f4")),
]
header, data, off = {}, b"", 0
for name, dtype, arr in tensors:
    raw = arr.tobytes()
    header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
    data += raw
    off += len(raw)
header = dict(sorted(header.items(), key=lambda kv: kv[0][::-1]))  # yet another order
header["__metadata__"] = {"format": "np", "by": "python"}
h = json.dumps(header).encode("utf-8")
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data)
`

// pyRead reads a safetensors file by hand and prints it as JSON, checking
// the layout the reference implementation produces.
const pyRead = `
import json, struct, sys
import numpy as np

b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
assert n % 8 == 0, "header not padded to 8"
text = b[8:8 + n].decode("utf-8")
assert text == text.rstrip() + " " * (len(text) - len(text.rstrip())), "padding is not spaces"
header = json.loads(text)
meta = header.pop("__metadata__", {})
data = b[8 + n:]
dtypes = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1", "I8": "i1"}
out, end = {}, 0
for name in sorted(header, key=lambda k: header[k]["data_offsets"]):
    e = header[name]
    lo, hi = e["data_offsets"]
    assert lo == end, "not contiguous"
    end = hi
    raw = data[lo:hi]
    if e["dtype"] == "BF16":
        arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        arr = np.frombuffer(raw, dtypes[e["dtype"]])
    assert arr.size == int(np.prod(e["shape"])), "size mismatch"
    out[name] = {"dtype": e["dtype"], "shape": e["shape"], "values": [repr(float(x)) if arr.dtype.kind == "f" else str(int(x)) for x in arr]}
assert end == len(data), "trailing data"
assert list(header) == sorted(header), "tensor keys not sorted"
print(json.dumps({"metadata": meta, "tensors": out}))
`

// TestPythonCrossCheck checks the reader and the writer against a tiny,
// independent implementation in Python (json, struct, numpy). It skips when
// /usr/bin/python3 or numpy is missing, except under CI=true, where it fails.
func TestPythonCrossCheck(t *testing.T) {
	py := testenv.NeedPython(t, "numpy")

	t.Run("python writes, Go reads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "py.safetensors")
		if out, err := exec.Command(py, "-c", pyWrite, path).CombinedOutput(); err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		f := mustOpen(t, path)
		if m := f.Metadata(); !reflect.DeepEqual(m, map[string]string{"format": "np", "by": "python"}) {
			t.Errorf("metadata %v", m)
		}
		var names []string
		for _, info := range f.Tensors() {
			names = append(names, info.Name)
		}
		want := []string{"alpha.f32", "f64", "i32", "i8", "mask", "mid.bf16", "mid.f16", "nothing", "scalar", "u8", "zeta.i64"}
		if !slices.Equal(names, want) {
			t.Errorf("tensors %v, want %v", names, want)
		}
		floats := map[string][]float32{
			"alpha.f32": {0.1, -1.5, 3.0e38, 1e-45},
			"mid.f16":   {1, -2, 65504, 5.9604645e-08, 0.333251953125},
			"mid.bf16":  {1, -3, 0.333984375, 0x1p100},
			"f64":       {0.1, float32(math.Inf(-1))},
			"scalar":    {2.5},
			"nothing":   {},
		}
		for name, w := range floats {
			got, err := f.ReadFloat32(name)
			if err != nil || !slices.Equal(got, w) {
				t.Errorf("%s: ReadFloat32 = %v, %v; want %v", name, got, err, w)
			}
		}
		if got, err := f.ReadFloat64("f64"); err != nil || !slices.Equal(got, []float64{0.1, -1e300}) {
			t.Errorf("f64: ReadFloat64 = %v, %v", got, err)
		}
		ints := map[string][]int64{
			"zeta.i64": {1, -2, 3, 1 << 62, math.MinInt64, 0},
			"i32":      {-7, math.MaxInt32},
			"u8":       {0, 255, 7},
			"i8":       {-128, 127},
		}
		for name, w := range ints {
			got, err := f.ReadInt64(name)
			if err != nil || !slices.Equal(got, w) {
				t.Errorf("%s: ReadInt64 = %v, %v; want %v", name, got, err, w)
			}
		}
		if info, _ := f.Lookup("zeta.i64"); !slices.Equal(info.Shape, []int64{2, 3}) || info.DType != I64 {
			t.Errorf("zeta.i64: %+v", info)
		}
		if info, _ := f.Lookup("scalar"); len(info.Shape) != 0 || f.NumElements("scalar") != 1 {
			t.Errorf("scalar: %+v", info)
		}
		if info, _ := f.Lookup("mask"); info.DType != Bool || info.ByteSize() != 3 {
			t.Errorf("mask: %+v", info)
		}
	})

	t.Run("Go writes, python reads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "go.safetensors")
		f32 := []float32{0.1, -1.5, 3e38, float32(math.Inf(1))}
		f16 := []float32{1, -2, 65504, 0.333251953125}
		bf := []float32{1, -3, 0.333984375, 0x1p100}
		err := Write(path, []Tensor{
			{"w.f32", F32, []int64{2, 2}, Float32Bytes(f32)},
			{"w.f16", F16, []int64{4}, Float16Bytes(f16)},
			{"w.bf16", BF16, []int64{2, 1, 2}, BFloat16Bytes(bf)},
			{"a.f64", F64, []int64{1}, Float64Bytes([]float64{-1e300})},
			{"ids", I64, []int64{3}, Int64Bytes([]int64{math.MinInt64, -1, 1 << 62})},
			{"n32", I32, []int64{}, Int32Bytes([]int32{-9})},
			{"Z<&>", U8, []int64{0}, nil},
		}, map[string]string{"format": "pt", "quote": `"<&>"`})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-c", pyRead, path).Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				t.Fatalf("python: %v\n%s", err, ee.Stderr)
			}
			t.Fatal(err)
		}
		type pyTensor struct {
			DType  string   `json:"dtype"`
			Shape  []int64  `json:"shape"`
			Values []string `json:"values"` // Python's repr or str
		}
		var got struct {
			Metadata map[string]string   `json:"metadata"`
			Tensors  map[string]pyTensor `json:"tensors"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if !reflect.DeepEqual(got.Metadata, map[string]string{"format": "pt", "quote": `"<&>"`}) {
			t.Errorf("metadata %v", got.Metadata)
		}
		checkF := func(name string, dtype string, shape []int64, want []float64) {
			t.Helper()
			p, ok := got.Tensors[name]
			if !ok || p.DType != dtype || !slices.Equal(p.Shape, shape) || len(p.Values) != len(want) {
				t.Errorf("%s: python saw %+v", name, p)
				return
			}
			for i, raw := range p.Values {
				v, err := strconv.ParseFloat(raw, 64)
				if err != nil {
					t.Errorf("%s[%d]: %v", name, i, err)
					continue
				}
				if v != want[i] {
					t.Errorf("%s[%d]: python read %v, want %v", name, i, v, want[i])
				}
			}
		}
		widen := func(v []float32) []float64 {
			out := make([]float64, len(v))
			for i, x := range v {
				out[i] = float64(x)
			}
			return out
		}
		checkF("w.f32", "F32", []int64{2, 2}, widen(f32))
		checkF("w.f16", "F16", []int64{4}, widen(f16))
		checkF("w.bf16", "BF16", []int64{2, 1, 2}, widen(bf))
		checkF("a.f64", "F64", []int64{1}, []float64{-1e300})
		checkF("ids", "I64", []int64{3}, []float64{math.MinInt64, -1, 1 << 62})
		checkF("n32", "I32", []int64{}, []float64{-9})
		checkF("Z<&>", "U8", []int64{0}, []float64{})
	})
}
