// Package feed makes the inputs of an ONNX model for one run of mhcc's
// runtime: it binds the symbolic dims of the graph's inputs (batch,
// sequence …), checks given tensors against the declared shapes, and
// generates the other inputs from a seed, reproducibly across Go releases:
//
//	floats          N(0, 1)
//	integer inputs  uniform in [0, rows) when they index an embedding table
//	                (a Gather on a constant), else in [0, 100)
//	*mask* inputs   all ones (true)
//	other bools     random
//
// Each input draws from its own stream (seed, FNV-1a of its name), so giving
// one input does not change the values generated for another. `mhcc run`,
// verification and the benchmarks share it.
package feed

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/mhcc-dev/mhcc/onnx/pb"
	mhrt "github.com/mhcc-dev/mhcc/runtime"
)

// A Dim is one declared dim of a graph input: a fixed Value, or a symbolic
// Param, or neither (Value -1 and Param "").
type Dim struct {
	Value int64 // -1 unless fixed
	Param string
}

// A Binding is the value of a symbolic dim and where it came from.
type Binding struct {
	Value  int64
	Source string // such as "--dim", "from x.npy", "default"
}

// A Feed holds what one run decided about a model's inputs.
type Feed struct {
	Seed    uint64
	Inputs  map[string]*mhrt.Tensor // the inputs set or generated so far
	Sources map[string]string       // input → how it was made ("from x.npy", "random N(0, 1), seed 1")
	Notes   []Note                  // decisions taken for want of a value, in order

	graph    *onnxpb.GraphProto
	decl     map[string][]Dim
	dimNames []string
	dims     map[string]*Binding
}

// New reads the declared inputs of graph. Only the declarations are read
// (input shapes, initializer dims, nodes): the initializers' data may have
// been dropped.
func New(graph *onnxpb.GraphProto, seed uint64) *Feed {
	f := &Feed{
		Seed:    seed,
		Inputs:  map[string]*mhrt.Tensor{},
		Sources: map[string]string{},
		graph:   graph,
		decl:    map[string][]Dim{},
		dims:    map[string]*Binding{},
	}
	seen := map[string]bool{}
	for _, vi := range graph.GetInput() {
		var dims []Dim
		for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && d.GetDimValue() >= 0 {
				dims = append(dims, Dim{Value: d.GetDimValue()})
				continue
			}
			dims = append(dims, Dim{Value: -1, Param: d.GetDimParam()})
			if p := d.GetDimParam(); p != "" && !seen[p] {
				seen[p] = true
				f.dimNames = append(f.dimNames, p)
			}
		}
		f.decl[vi.GetName()] = dims
	}
	return f
}

// DimNames are the symbolic dims of the inputs, first appearance first.
func (f *Feed) DimNames() []string { return f.dimNames }

// Dim returns the binding of a symbolic dim, or nil while it has none.
func (f *Feed) Dim(name string) *Binding { return f.dims[name] }

// Declared returns the declared dims of an input.
func (f *Feed) Declared(input string) []Dim { return f.decl[input] }

// DeclString prints the declared shape of an input: [batch 12], "?" for a
// dim with neither a size nor a name.
func (f *Feed) DeclString(input string) string {
	parts := []string{}
	for _, d := range f.decl[input] {
		switch {
		case d.Value >= 0:
			parts = append(parts, strconv.FormatInt(d.Value, 10))
		case d.Param != "":
			parts = append(parts, d.Param)
		default:
			parts = append(parts, "?")
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Bind sets symbolic dim name to n (> 0). It fails if the dim is bound to
// another value already, and returns false, binding nothing, if no input
// has a dim of that name.
func (f *Feed) Bind(name string, n int64, source string) (bool, error) {
	if n < 1 {
		return false, fmt.Errorf("dim %s: %d is not a positive integer", name, n)
	}
	if b := f.dims[name]; b != nil && b.Value != n {
		return false, fmt.Errorf("dim %s is %d (%s), not %d", name, b.Value, b.Source, n)
	}
	if !slices.Contains(f.dimNames, name) {
		return false, nil
	}
	if f.dims[name] == nil {
		f.dims[name] = &Binding{Value: n, Source: source}
	}
	return true, nil
}

// Set gives input v the tensor t, read from source (such as a file name).
// A ranked declaration must fit t's shape; its symbolic dims not yet bound
// are bound to t's, as "from <source>".
func (f *Feed) Set(v mhrt.ValueInfo, t *mhrt.Tensor, source string) error {
	if v.Ranked {
		decl := f.decl[v.Name]
		got := shapeString(t.Shape)
		if len(t.Shape) != len(decl) {
			return fmt.Errorf("shape %s has rank %d, the model wants rank %d: %s", got, len(t.Shape), len(decl), f.DeclString(v.Name))
		}
		for i, d := range decl {
			n := t.Shape[i]
			switch {
			case d.Value >= 0 && n != d.Value:
				return fmt.Errorf("shape %s does not fit %s: dim %d is %d, want %d", got, f.DeclString(v.Name), i, n, d.Value)
			case d.Param != "":
				b := f.dims[d.Param]
				if b == nil {
					f.dims[d.Param] = &Binding{Value: n, Source: "from " + source}
				} else if b.Value != n {
					return fmt.Errorf("shape %s does not fit %s: %s is %d here but %d (%s)", got, f.DeclString(v.Name), d.Param, n, b.Value, b.Source)
				}
			}
		}
	}
	f.Inputs[v.Name] = t
	f.Sources[v.Name] = "from " + source
	return nil
}

// A NoteKind says what a Note is about.
type NoteKind int

const (
	// DefaultDim: symbolic dim Note.Dim had no value and was set to 1.
	DefaultDim NoteKind = iota
	// UnnamedDim: dim Note.Index of Note.Input has neither a size nor a
	// name and was set to 1.
	UnnamedDim
)

// A Note records a value the feed chose for want of one.
type Note struct {
	Kind  NoteKind
	Input string
	Dim   string
	Index int
}

func (n Note) String() string {
	if n.Kind == DefaultDim {
		return fmt.Sprintf("%s not given: using %s=1", n.Dim, n.Dim)
	}
	return fmt.Sprintf("input %s: dim %d has neither a size nor a name: using 1", n.Input, n.Index)
}

// Shape returns the shape of input v from its declaration and the bound
// dims; an unbound symbolic dim is bound to 1 ("default"), and it and an
// unnamed dim (also 1) are noted.
func (f *Feed) Shape(v mhrt.ValueInfo) []int64 {
	shape := make([]int64, len(f.decl[v.Name]))
	for i, d := range f.decl[v.Name] {
		switch {
		case d.Value >= 0:
			shape[i] = d.Value
		case d.Param != "":
			b := f.dims[d.Param]
			if b == nil {
				b = &Binding{Value: 1, Source: "default"}
				f.dims[d.Param] = b
				f.Notes = append(f.Notes, Note{Kind: DefaultDim, Input: v.Name, Dim: d.Param})
			}
			shape[i] = b.Value
		default:
			shape[i] = 1
			f.Notes = append(f.Notes, Note{Kind: UnnamedDim, Input: v.Name, Index: i})
		}
	}
	return shape
}

func shapeString(s []int64) string { return "[" + strings.Trim(fmt.Sprint(s), "[]") + "]" }

// streamOf is the PCG stream of an input: FNV-1a of its name.
func streamOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// Declarations returns the graph inputs as the runtime describes them
// (mhrt.Model.Inputs), read from the graph: the inputs that an initializer
// of the same name does not feed, with their element types (ONNX's type
// numbers are the runtime's DTypes; 0 is Undefined) and shapes, -1 for a
// dim without a fixed size.
func (f *Feed) Declarations() []mhrt.ValueInfo {
	inits := map[string]bool{}
	for _, t := range f.graph.GetInitializer() {
		inits[t.GetName()] = true
	}
	var vs []mhrt.ValueInfo
	for _, vi := range f.graph.GetInput() {
		if inits[vi.GetName()] {
			continue
		}
		tt := vi.GetType().GetTensorType()
		v := mhrt.ValueInfo{Name: vi.GetName(), DType: mhrt.DType(tt.GetElemType()), Ranked: tt.GetShape() != nil}
		for _, d := range f.decl[v.Name] {
			v.Shape = append(v.Shape, d.Value)
		}
		vs = append(vs, v)
	}
	return vs
}

// GenerateAll generates every graph input (Declarations) not yet Set, and
// returns all the inputs.
func (f *Feed) GenerateAll() (map[string]*mhrt.Tensor, error) {
	for _, v := range f.Declarations() {
		if f.Inputs[v.Name] != nil {
			continue
		}
		if _, err := f.Generate(v); err != nil {
			return nil, err
		}
	}
	return f.Inputs, nil
}

// CheckOutput compares the shape of graph output name after a run with its
// declaration: it returns a warning when the rank, a fixed dim or a symbolic
// dim bound by the inputs disagrees, and "" otherwise (also for a value
// that is not a graph output, or an output without a declared shape).
func (f *Feed) CheckOutput(name string, shape []int64) string {
	for _, vi := range f.graph.GetOutput() {
		if vi.GetName() != name || vi.GetType().GetTensorType().GetShape() == nil {
			continue
		}
		dims := vi.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) != len(shape) {
			return fmt.Sprintf("output %s has shape %v, the model declares rank %d", name, shape, len(dims))
		}
		for i, d := range dims {
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && d.GetDimValue() >= 0 && d.GetDimValue() != shape[i] {
				return fmt.Sprintf("output %s has shape %v, the model declares dim %d = %d", name, shape, i, d.GetDimValue())
			}
			if b := f.dims[d.GetDimParam()]; d.GetDimParam() != "" && b != nil && b.Value != shape[i] {
				return fmt.Sprintf("output %s has shape %v, the model declares dim %d = %s = %d", name, shape, i, d.GetDimParam(), b.Value)
			}
		}
	}
	return ""
}
