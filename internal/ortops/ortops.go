// Package ortops builds and loads mhcc's custom-op library for onnxruntime
// (ortops/mhcc_ortops.c: kernels for the fused ai.mhcc ops of
// docs/fused-ops.md) for the tests and benchmarks, which reach onnxruntime
// through github.com/yalue/onnxruntime_go v1.27. That binding has no
// RegisterCustomOpsLibrary, so Register asks the library's own helper
// (mhcc_ortops_register_library) to call OrtApi::RegisterCustomOpsLibrary_V2
// on the binding's session options: the registration is the standard one
// (onnxruntime opens the library and calls RegisterCustomOps), only the
// call is made from C.
package ortops

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

typedef char *(*register_fn)(void *, void *, const char *);
typedef int64_t (*calls_fn)(int);
typedef const char *(*name_fn)(int);

static char *call_register(void *f, void *get_base, void *opts, const char *path) {
	return ((register_fn)f)(get_base, opts, path);
}
static int64_t call_calls(void *f, int k) { return ((calls_fn)f)(k); }
static const char *call_name(void *f, int k) { return ((name_fn)f)(k); }
static void *open_lib(const char *path) { return dlopen(path, RTLD_NOW | RTLD_LOCAL); }
static void *open_loaded(const char *path) { return dlopen(path, RTLD_LAZY | RTLD_NOLOAD); }
*/
import "C"

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// EnvLib names the environment variable that points at a built library; the
// tests and scripts/bench-decode build one when it is unset.
const EnvLib = "MHCC_ORTOPS_LIB"

// Build compiles the library with scripts/build-ortops (gcc) into out.
func Build(root, out string) error {
	cmd := exec.Command(filepath.Join(root, "scripts", "build-ortops"), out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ortops: scripts/build-ortops: %v\n%s", err, b)
	}
	return nil
}

// A Lib is the library opened in this process, for registering it and
// reading its kernel-call counters.
type Lib struct {
	Path                  string
	register, calls, name unsafe.Pointer
}

// Open opens the library at path.
func Open(path string) (*Lib, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("ortops: %w", err)
	}
	cp := C.CString(abs)
	defer C.free(unsafe.Pointer(cp))
	h := C.open_lib(cp)
	if h == nil {
		return nil, fmt.Errorf("ortops: dlopen %s: %s", abs, C.GoString(C.dlerror()))
	}
	l := &Lib{Path: abs}
	for _, s := range []struct {
		name string
		p    *unsafe.Pointer
	}{{"mhcc_ortops_register_library", &l.register}, {"mhcc_ortops_calls", &l.calls}, {"mhcc_ortops_op_name", &l.name}} {
		cs := C.CString(s.name)
		*s.p = C.dlsym(h, cs)
		C.free(unsafe.Pointer(cs))
		if *s.p == nil {
			return nil, fmt.Errorf("ortops: %s has no symbol %s", abs, s.name)
		}
	}
	return l, nil
}

// Register adds the library's ai.mhcc kernels to opts, by
// RegisterCustomOpsLibrary_V2. ortLib is the onnxruntime library the
// binding loaded (ort.SetSharedLibraryPath), already initialised.
func (l *Lib) Register(opts *ort.SessionOptions, ortLib string) error {
	// onnxruntime_go keeps the C pointer in SessionOptions's one unexported
	// field; check the layout rather than trust it.
	t := reflect.TypeOf(ort.SessionOptions{})
	if t.NumField() != 1 || t.Field(0).Name != "o" || t.Field(0).Type.Kind() != reflect.Pointer {
		return fmt.Errorf("ortops: onnxruntime_go's SessionOptions is not {o *C.OrtSessionOptions}; update internal/ortops")
	}
	cOpts := *(*unsafe.Pointer)(unsafe.Pointer(opts))
	if cOpts == nil {
		return fmt.Errorf("ortops: session options already destroyed")
	}
	cl := C.CString(ortLib)
	defer C.free(unsafe.Pointer(cl))
	h := C.open_loaded(cl)
	if h == nil {
		return fmt.Errorf("ortops: onnxruntime %s is not loaded in this process", ortLib)
	}
	defer C.dlclose(h)
	sym := C.CString("OrtGetApiBase")
	defer C.free(unsafe.Pointer(sym))
	getBase := C.dlsym(h, sym)
	if getBase == nil {
		return fmt.Errorf("ortops: %s has no OrtGetApiBase", ortLib)
	}
	cp := C.CString(l.Path)
	defer C.free(unsafe.Pointer(cp))
	if msg := C.call_register(l.register, getBase, cOpts, cp); msg != nil {
		defer C.free(unsafe.Pointer(msg))
		return fmt.Errorf("ortops: registering %s: %s", l.Path, C.GoString(msg))
	}
	return nil
}

// Calls returns, per ai.mhcc op type, how many times its kernel has run in
// this process (the library counts each call).
func (l *Lib) Calls() map[string]int64 {
	out := map[string]int64{}
	for k := C.int(0); ; k++ {
		name := C.call_name(l.name, k)
		if name == nil {
			return out
		}
		out[C.GoString(name)] = int64(C.call_calls(l.calls, k))
	}
}
