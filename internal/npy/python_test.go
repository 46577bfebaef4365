package npy

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mhcc-dev/mhcc/internal/testenv"
)

// pyCheck gets a JSON list of cases {name, dtype, shape, bits} (each element
// as the unsigned integer of its bytes, so NaN payloads and -0 survive). For
// each it builds the array with numpy, saves it with numpy.save as
// py/<name>.npy, loads go/<name>.npy (written by Write) with numpy.load and
// compares dtype, shape and bytes, and compares the two files byte for byte.
// It prints a JSON object of problems by case name.
const pyCheck = `
import json, sys
import numpy as np

cases = json.load(open(sys.argv[1]))
root = sys.argv[2]
bits = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}
problems = {}
for c in cases:
    dt = np.dtype(c["descr"])
    want = np.array(c["bits"], dtype=bits[dt.itemsize]).view(dt).reshape(c["shape"])
    np.save(f"{root}/py/{c['name']}.npy", want)
    got = np.load(f"{root}/go/{c['name']}.npy", allow_pickle=False)
    p = []
    if got.dtype != want.dtype:
        p.append(f"dtype {got.dtype}, want {want.dtype}")
    if got.shape != want.shape:
        p.append(f"shape {got.shape}, want {want.shape}")
    if not got.flags.c_contiguous:
        p.append("not C-contiguous")
    if got.tobytes() != want.tobytes():
        p.append("elements differ")
    if open(f"{root}/go/{c['name']}.npy", "rb").read() != open(f"{root}/py/{c['name']}.npy", "rb").read():
        p.append("file bytes differ from numpy.save's")
    if p:
        problems[c["name"]] = p
print(json.dumps(problems))
`

// pyOdd writes files numpy can write but Write never does: other versions,
// big-endian, and arrays Read must reject with a clear message.
const pyOdd = `
import sys
import numpy as np
from numpy.lib import format as fmt

d = sys.argv[1]
a = np.arange(6, dtype="<f4").reshape(2, 3) / 4
for v in [(1, 0), (2, 0), (3, 0)]:
    with open(f"{d}/v{v[0]}.npy", "wb") as f:
        fmt.write_array(f, a, version=v)
np.save(f"{d}/big.npy", a.astype(">f8"))
np.save(f"{d}/bigint.npy", np.array([[-5, 7, 1 << 40]], dtype=">i8"))
np.save(f"{d}/fortran.npy", np.asfortranarray(a))
np.save(f"{d}/structured.npy", np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]))
np.save(f"{d}/unicode.npy", np.array(["ab", "c"]))
np.save(f"{d}/complex.npy", np.array([1 + 2j], dtype="<c8"))
np.save(f"{d}/object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
np.save(f"{d}/datetime.npy", np.array(["2024-01-01"], dtype="datetime64[D]"))
np.save(f"{d}/longdouble.npy", np.zeros(2, dtype=np.longdouble))
`

// TestNumpy checks Read and Write against numpy: arrays written by Write load
// in numpy and are byte-identical to numpy.save's files; numpy.save's files
// read back equal; and numpy's other versions, byte orders and unsupported
// arrays are read or rejected as documented. It skips when /usr/bin/python3
// or numpy is missing, except under CI=true, where it fails.
func TestNumpy(t *testing.T) {
	py := testenv.NeedPython(t, "numpy")
	root := t.TempDir()
	for _, d := range []string{"go", "py", "odd"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("both ways", func(t *testing.T) {
		cases := roundTripCases()
		type pyCase struct {
			Name  string   `json:"name"`
			Descr string   `json:"descr"`
			Shape []int64  `json:"shape"`
			Bits  []uint64 `json:"bits"`
		}
		var list []pyCase
		for name, a := range cases {
			if err := Write(filepath.Join(root, "go", name+".npy"), a); err != nil {
				t.Fatal(err)
			}
			list = append(list, pyCase{name, dtypes[a.DType].descr(), a.Shape, elementBits(t, a)})
		}
		spec := filepath.Join(root, "cases.json")
		js, _ := json.Marshal(list)
		os.WriteFile(spec, js, 0o644)
		out, err := exec.Command(py, "-c", pyCheck, spec, root).Output()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, stderrOf(err))
		}
		var problems map[string][]string
		if err := json.Unmarshal(out, &problems); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		for name, p := range problems {
			t.Errorf("%s: numpy: %s", name, strings.Join(p, "; "))
		}
		for name, a := range cases {
			got, err := Read(filepath.Join(root, "py", name+".npy"))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			sameArray(t, got, a)
		}
	})

	t.Run("numpy's other files", func(t *testing.T) {
		d := filepath.Join(root, "odd")
		if out, err := exec.Command(py, "-c", pyOdd, d).CombinedOutput(); err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		want := &Array{"float32", []int64{2, 3}, []float32{0, 0.25, 0.5, 0.75, 1, 1.25}}
		for _, v := range []string{"v1", "v2", "v3"} {
			got, err := Read(filepath.Join(d, v+".npy"))
			if err != nil {
				t.Errorf("%s: %v", v, err)
				continue
			}
			sameArray(t, got, want)
		}
		if got, err := Read(filepath.Join(d, "big.npy")); err != nil {
			t.Error(err)
		} else {
			sameArray(t, got, &Array{"float64", []int64{2, 3}, []float64{0, 0.25, 0.5, 0.75, 1, 1.25}})
		}
		if got, err := Read(filepath.Join(d, "bigint.npy")); err != nil {
			t.Error(err)
		} else {
			sameArray(t, got, &Array{"int64", []int64{1, 3}, []int64{-5, 7, 1 << 40}})
		}
		rejects := map[string]string{
			"fortran":    "Fortran (column-major) order",
			"structured": "structured dtypes",
			"unicode":    "strings",
			"complex":    "complex numbers",
			"object":     "Python objects",
			"datetime":   "dates and times",
			"longdouble": "no 16-byte float type",
		}
		for name, msg := range rejects {
			path := filepath.Join(d, name+".npy")
			_, err := Read(path)
			if err == nil || !strings.Contains(err.Error(), msg) || !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("%s: error %v, want one naming the file and containing %q", name, err, msg)
			}
		}
	})
}

// elementBits returns each element's little-endian bytes as an unsigned int.
func elementBits(t *testing.T, a *Array) []uint64 {
	t.Helper()
	raw := encode(t, a)
	size := dtypes[a.DType].size()
	data := raw[len(raw)-int(a.NumElements())*size:]
	out := make([]uint64, 0, a.NumElements())
	for i := 0; i < len(data); i += size {
		var b [8]byte
		copy(b[:], data[i:i+size])
		out = append(out, binary.LittleEndian.Uint64(b[:]))
	}
	return out
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}
