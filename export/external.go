package export

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"github.com/mhcc-dev/mhcc/internal/atomicfile"
	"github.com/mhcc-dev/mhcc/ir"
	onnxpb "github.com/mhcc-dev/mhcc/onnx/pb"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
	"google.golang.org/protobuf/proto"
)

// External places large initializers in a separate data file (ONNX's
// external data: each TensorProto carries location, offset and length
// instead of raw_data). A model file is one protobuf message, which cannot
// exceed 2 GiB; the weights of a real model do.
type External struct {
	// Location is the data file's name, relative to the model file's folder
	// (by convention "<model>.onnx.data").
	Location string
	// Threshold: initializers of at least this many bytes go to the data
	// file; 0 means DefaultThreshold. Smaller ones stay in the model.
	Threshold int64
}

// DefaultThreshold is onnx's own default size_threshold (1 KiB).
const DefaultThreshold = 1024

// AutoExternalBytes: when a model's weights take more than this, mhcc writes
// them as external data even if not asked to. A protobuf message cannot
// exceed 2 GiB; the margin leaves room for the graph.
const AutoExternalBytes = 2<<30 - 256<<20

// Offsets in the data file are aligned so that runtimes can memory-map each
// tensor: to the page size (4 KiB), and tensors of 1 MiB or more to 64 KiB,
// Windows' allocation granularity, as onnx's own external-data writer does.
const (
	pageAlign  = 4 << 10
	largeAlign = 64 << 10
	largeBytes = 1 << 20
)

// A placement is one initializer in the data file.
type placement struct {
	v              *ir.Value
	offset, length int64
}

// A Layout is where Encode put each external initializer; Data writes the
// file it describes.
type Layout struct {
	Location string
	f64      bool
	places   []placement
	byValue  map[*ir.Value]placement
	size     int64
}

// Size is the data file's length in bytes.
func (l *Layout) Size() int64 {
	if l == nil {
		return 0
	}
	return l.size
}

// Tensors is the number of initializers in the data file.
func (l *Layout) Tensors() int {
	if l == nil {
		return 0
	}
	return len(l.places)
}

func align(off, to int64) int64 { return (off + to - 1) / to * to }

// planExternal lays out g's constants of at least the threshold's size, in
// graph order.
func planExternal(g *ir.Graph, ext *External, f64 bool) (*Layout, error) {
	if ext.Location == "" {
		return nil, fmt.Errorf("export: external data needs a file name (Location)")
	}
	th := ext.Threshold
	if th <= 0 {
		th = DefaultThreshold
	}
	l := &Layout{Location: ext.Location, f64: f64, byValue: map[*ir.Value]placement{}}
	for _, v := range g.Consts {
		n := constBytes(v.Const, f64)
		if n < th || !streamable(v.Const) {
			continue
		}
		a := int64(pageAlign)
		if n >= largeBytes {
			a = largeAlign
		}
		p := placement{v: v, offset: align(l.size, a), length: n}
		l.places = append(l.places, p)
		l.byValue[v] = p
		l.size = p.offset + n
	}
	return l, nil
}

// streamable reports whether c can be written chunk by chunk (a float
// constant, the only kind weights are).
func streamable(c *ir.Tensor) bool {
	switch c.DType {
	case ir.Float32, ir.Float16, ir.BFloat16:
		return true
	}
	return false
}

// constBytes is the size of c's initializer.
func constBytes(c *ir.Tensor, f64 bool) int64 {
	switch c.DType {
	case ir.Float32, ir.Float16, ir.BFloat16:
		return int64(elemSize(c.DType, f64)) * c.Len()
	}
	return 8 * c.Len() // float64, int64
}

// elemSize is the bytes per element of a float constant as written: float64
// for the reference, 2 for a half-precision constant (apply_precision),
// else float32 (weights read from F16/BF16 files are widened).
func elemSize(dt ir.DType, f64 bool) int { return externalType(dt, f64).Size() }

// externalType is the dtype of a float constant as written (see elemSize).
func externalType(dt ir.DType, f64 bool) ir.DType {
	switch {
	case f64:
		return ir.Float64
	case dt == ir.Float16 || dt == ir.BFloat16:
		return dt
	}
	return ir.Float32
}

// constInitializer converts constant v: a reference into the data file if
// the layout placed it there, else raw data (reading a streamed weight).
func constInitializer(v *ir.Value, opts Options, l *Layout) (*onnxpb.TensorProto, error) {
	if p, ok := l.lookup(v); ok {
		dt := externalType(v.Const.DType, opts.Float64)
		kv := func(k, v string) *onnxpb.StringStringEntryProto {
			return &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)}
		}
		return &onnxpb.TensorProto{
			Name:         proto.String(v.Name),
			Dims:         append([]int64{}, v.Const.Shape...),
			DataType:     proto.Int32(dt.ONNX()),
			DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
			ExternalData: []*onnxpb.StringStringEntryProto{
				kv("location", l.Location),
				kv("offset", strconv.FormatInt(p.offset, 10)),
				kv("length", strconv.FormatInt(p.length, 10)),
			},
		}, nil
	}
	if v.Const.IsLazy() {
		// Below the threshold, or no external data asked for: read it now.
		c := *v.Const
		if err := c.Materialize(); err != nil {
			return nil, fmt.Errorf("export: constant %v: %w", v, err)
		}
		cv := *v
		cv.Const = &c
		return initializer(&cv, opts.Float64)
	}
	return initializer(v, opts.Float64)
}

func (l *Layout) lookup(v *ir.Value) (placement, bool) {
	if l == nil {
		return placement{}, false
	}
	p, ok := l.byValue[v]
	return p, ok
}

// Progress is reported while the data file is written: after each chunk,
// and once more when a tensor is complete.
type Progress struct {
	Tensor         string // the tensor being written
	Index, Tensors int    // its position (0-based) and the number of tensors
	Bytes, Total   int64  // bytes of tensor data written so far, and in all
}

// WriteData writes the data file the layout describes to w: each tensor at
// its offset (zero padding between), little-endian, streamed chunk by chunk
// from its source, so memory use stays at a few chunks whatever the model's
// size. A goroutine produces (generates or reads, and encodes) the next
// chunks while w writes the current one. report, if not nil, is called as it
// goes.
func (l *Layout) WriteData(w io.Writer, report func(Progress)) error {
	var total int64
	for _, p := range l.places {
		total += p.length
	}
	size := 8 // the largest element: buffers fit any tensor's chunk
	type chunk struct {
		place int
		b     []byte
		err   error
	}
	const buffers = 4
	free := make(chan []byte, buffers)
	for range buffers {
		free <- make([]byte, size*ir.ChunkElems)
	}
	full := make(chan chunk, buffers)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(full)
		for i, p := range l.places {
			written := int64(0)
			err := p.v.Const.Stream(func(c []float32) error {
				var b []byte
				select {
				case b = <-free:
				case <-stop:
					return errStopped
				}
				dt := p.v.Const.DType
				b = b[:elemSize(dt, l.f64)*len(c)]
				switch {
				case l.f64:
					for j, f := range c {
						binary.LittleEndian.PutUint64(b[8*j:], math.Float64bits(float64(f)))
					}
				case dt == ir.Float16:
					for j, f := range c {
						binary.LittleEndian.PutUint16(b[2*j:], half.Float32ToFloat16(f))
					}
				case dt == ir.BFloat16:
					for j, f := range c {
						binary.LittleEndian.PutUint16(b[2*j:], half.Float32ToBFloat16(f))
					}
				default:
					for j, f := range c {
						binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(f))
					}
				}
				written += int64(len(b))
				select {
				case full <- chunk{place: i, b: b}:
					return nil
				case <-stop:
					return errStopped
				}
			})
			if err == nil && written != p.length {
				err = fmt.Errorf("gave %d bytes, want %d", written, p.length)
			}
			if err != nil {
				if err != errStopped {
					select {
					case full <- chunk{place: i, err: err}:
					case <-stop:
					}
				}
				return
			}
		}
	}()
	var pos, done int64
	var pad []byte
	last := -1
	for c := range full {
		p := l.places[c.place]
		if c.err != nil {
			return fmt.Errorf("export: writing %v: %w", p.v, c.err)
		}
		if c.place != last {
			if gap := p.offset - pos; gap > 0 {
				if int64(len(pad)) < gap {
					pad = make([]byte, largeAlign)
				}
				if _, err := w.Write(pad[:gap]); err != nil {
					return err
				}
				pos = p.offset
			}
			last = c.place
		}
		if _, err := w.Write(c.b); err != nil {
			return err
		}
		pos += int64(len(c.b))
		done += int64(len(c.b))
		free <- c.b[:cap(c.b)]
		if report != nil {
			report(Progress{Tensor: p.v.Name, Index: c.place, Tensors: len(l.places), Bytes: done, Total: total})
		}
	}
	if pos != l.size {
		return fmt.Errorf("export: wrote %d bytes of external data, want %d", pos, l.size)
	}
	return nil
}

var errStopped = errors.New("export: stopped")

// MaxModelBytes is the largest model file protobuf readers accept.
const MaxModelBytes = 2<<30 - 1

// WriteFiles writes a model and, if l places tensors in a data file, that
// file (l.Location, in path's folder) too. Both are written to temporary
// files first and renamed only when both are complete: a failure leaves
// neither behind and changes no existing file.
func WriteFiles(path string, model []byte, l *Layout, report func(Progress)) error {
	if len(model) > MaxModelBytes {
		return fmt.Errorf("export: %s would be %d bytes, over protobuf's 2 GiB limit; write the weights as external data (--external-data)", path, len(model))
	}
	// A compile killed while writing the conventional data file (SIGKILL
	// cannot be caught) left its temporary; this compile removes it even
	// if it writes no data file itself.
	atomicfile.Sweep(dataPath(path, DataLocation(path)))
	if l.Tensors() == 0 {
		return WriteFile(path, model)
	}
	dataPath := dataPath(path, l.Location)
	data, err := atomicfile.Create(dataPath)
	if err != nil {
		return fmt.Errorf("export: writing %s: %w", dataPath, err)
	}
	defer data.Abort()
	if err := l.WriteData(data.W, report); err != nil {
		return fmt.Errorf("%w (nothing written)", err)
	}
	if err := data.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	mf, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("export: writing %s: %w", path, err)
	}
	defer mf.Abort()
	if _, err := mf.W.Write(model); err != nil {
		return fmt.Errorf("export: writing %s: %w", path, err)
	}
	if err := mf.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	// The data first: a model file never names data that is not there. Both
	// renames under one lock: two compiles to the same output leave the
	// pair of one of them, not the model of one and the data of the other.
	if err := atomicfile.CommitAll(data, mf); err != nil {
		return fmt.Errorf("export: writing %s and %s: %w", path, dataPath, err)
	}
	return nil
}

// dataPath is where the data file named location lives for a model at path.
func dataPath(path, location string) string {
	return filepath.Join(filepath.Dir(path), filepath.FromSlash(location))
}

// DataLocation is the conventional data file name for a model written to
// path: its base name with ".data" appended ("model.onnx.data").
func DataLocation(path string) string { return filepath.Base(path) + ".data" }

// MarshalExternal is Marshal that also returns the layout of the data file
// when opts.External is set (nil otherwise); the model bytes then hold only
// references to it, so they stay small whatever the weights' size.
func MarshalExternal(g *ir.Graph, opts Options) ([]byte, *Layout, error) {
	if opts.External != nil {
		l, err := planExternal(g, opts.External, opts.Float64)
		if err != nil {
			return nil, nil, err
		}
		opts.layout = l
	}
	b, err := Marshal(g, opts)
	return b, opts.layout, err
}
