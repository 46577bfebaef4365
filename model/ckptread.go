package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/ir"
	"github.com/mhcc-dev/mhcc/onnx/tensor/half"
)

// readSafetensors reads and checks m's checkpoint (one safetensors file or
// a sharded one's index) under weights.names; tensors for which lazy
// returns true are not read but streamed when written (nil: read all).
// Every problem is reported, none left out: the names problems at the rule
// that has them, the tensors' at weights.path.
func readSafetensors(m *Model, lazy func(WeightSpec) bool) (Weights, error) {
	path := m.Weights.Path
	if !IsShardIndex(path) {
		// A file that does not open fails as it always did.
		f, err := safetensors.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%v: weights.path: %w", m.Weights.PathPos, err)
		}
		f.Close()
	}
	ck, problems := openCheckpoint(path)
	var errs ErrorList
	for _, p := range problems {
		addAll(&errs, m.Weights.PathPos, "weights.path", "%s", p)
	}
	nm := mapNames(m, ck, &errs)
	files := map[string]*safetensors.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	w := Weights{}
	for _, r := range checkNames(m, nm) {
		if r.problem != "" {
			addAll(&errs, m.Weights.PathPos, "weights.path", "%s", r.problem)
			continue
		}
		s, e := r.spec, r.entry
		if e.plain() {
			if lazy != nil && lazy(s) {
				w[s.Name] = &ir.Tensor{DType: ir.Float32, Shape: s.Shape, Lazy: &safetensorsSource{path: e.Source.Shard, name: e.Source.Name}}
				continue
			}
			f := files[e.Source.Shard]
			if f == nil {
				var err error
				if f, err = safetensors.Open(e.Source.Shard); err != nil {
					addAll(&errs, m.Weights.PathPos, "weights.path", "%v", err)
					continue
				}
				files[e.Source.Shard] = f
			}
			data, err := f.ReadFloat32(e.Source.Name)
			if err != nil {
				addAll(&errs, m.Weights.PathPos, "weights.path", "%v", err)
				continue
			}
			// The model computes in float32: F16 and BF16 values are widened
			// exactly and the tensor is float32 from here on.
			w[s.Name] = &ir.Tensor{DType: ir.Float32, Shape: s.Shape, F32: data}
			continue
		}
		src := &entrySource{e: e}
		t := &ir.Tensor{DType: ir.Float32, Shape: s.Shape, Lazy: src}
		if lazy == nil || !lazy(s) {
			if err := t.Materialize(); err != nil {
				addAll(&errs, m.Weights.PathPos, "weights.path", "%v", err)
				continue
			}
			t.Lazy = nil
		}
		w[s.Name] = t
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return w, nil
}

// addAll appends an error without ErrorList's cap: a checkpoint's problems
// are all listed (docs/spec.md §4.2), however many.
func addAll(l *ErrorList, pos ir.Pos, path, format string, args ...any) {
	*l = append(*l, &Error{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// A nameCheck is one line of the comparison of a checkpoint with the
// model: an expected tensor found (entry set), or a problem.
type nameCheck struct {
	spec    WeightSpec
	entry   *NameEntry
	problem string
}

// supportedDTypes names what mhcc reads, for messages.
const supportedDTypes = "F32, F16, BF16, or F8_E4M3 with a block scale"

// checkNames compares the mapped checkpoint with WeightSpecs(m): every
// expected tensor found with its shape and a dtype mhcc reads, in the order
// of WeightSpecs, then every problem (missing tensors with a did-you-mean,
// unexpected ones).
func checkNames(m *Model, nm *NameMap) []nameCheck {
	specs := WeightSpecs(m)
	want := map[string]bool{}
	var out []nameCheck
	var missing []WeightSpec
	for _, s := range specs {
		want[s.Name] = true
		e, ok := nm.target[s.Name]
		if !ok {
			missing = append(missing, s)
			continue
		}
		if e.broken {
			continue // reported where it broke
		}
		if p := e.problem(s); p != "" {
			out = append(out, nameCheck{spec: s, problem: p})
			continue
		}
		out = append(out, nameCheck{spec: s, entry: e})
	}
	var extra []*NameEntry
	for _, e := range nm.Entries {
		if !want[e.Target] && !e.broken {
			extra = append(extra, e)
		}
	}
	suggest := len(missing)*len(extra) <= 4_000_000
	for _, s := range missing {
		msg := fmt.Sprintf("tensor %q is missing (want shape %v)", s.Name, s.Shape)
		if suggest {
			if e := suggestTensor(s, extra); e != nil {
				msg += fmt.Sprintf("; did you mean %q%s?", e.Target, e.fromText())
			}
		}
		out = append(out, nameCheck{spec: s, problem: msg})
	}
	for _, e := range extra {
		out = append(out, nameCheck{problem: fmt.Sprintf("unexpected tensor %q%s (not used by a %s/%s model with these settings)", e.Target, e.fromText(), m.Arch.Kind, m.HC.Kind)})
	}
	if len(missing) > 0 && m.Weights.Names == nil {
		if p := GuessPreset(nm); p != "" {
			out = append(out, nameCheck{problem: fmt.Sprintf("the checkpoint's names look like %s's: add names: {preset: %s} under weights (mhcc names %s shows the mapping)", p, p, m.File)})
		}
	}
	return out
}

// suggestTensor picks, for the missing tensor s, the unexpected tensor it
// most likely is: one of the same shape with the same numbers in its name
// (layer, expert) that contains every word of s's name ("hc_head_fn" in
// "model.hc_head_fn"), the shortest such; else the nearest spelling among
// those of the same shape and numbers.
func suggestTensor(s WeightSpec, extra []*NameEntry) *NameEntry {
	digits := regexp.MustCompile(`[0-9]+`)
	nums := strings.Join(digits.FindAllString(s.Name, -1), ".")
	var words []string
	for _, w := range strings.FieldsFunc(s.Name, func(r rune) bool { return r == '.' || r == '_' }) {
		if !digits.MatchString(w) && w != "weight" && w != "bias" {
			words = append(words, w)
		}
	}
	var best *NameEntry
	var names []string
	byName := map[string]*NameEntry{}
	for _, e := range extra {
		if !slices.Equal(e.Shape, s.Shape) || strings.Join(digits.FindAllString(e.Target, -1), ".") != nums {
			continue
		}
		names = append(names, e.Target)
		byName[e.Target] = e
		all := len(words) > 0
		for _, w := range words {
			all = all && strings.Contains(e.Target, w)
		}
		if all && (best == nil || len(e.Target) < len(best.Target)) {
			best = e
		}
	}
	if best != nil {
		return best
	}
	return byName[Nearest(s.Name, names)]
}

// fromText is " (checkpoint name …)" for an entry renamed from another
// name, "" otherwise.
func (e *NameEntry) fromText() string {
	if e.Source.Name == e.Target {
		return ""
	}
	return fmt.Sprintf(" (from %q)", e.Source.Name)
}

// plain reports whether the entry is a whole tensor of a dtype the
// safetensors reader widens: no split, transpose or FP8 scale.
func (e *NameEntry) plain() bool {
	switch e.Source.Info.DType {
	case safetensors.F32, safetensors.F16, safetensors.BF16:
		return !e.split && !e.Transpose && e.Scale == nil
	}
	return false
}

// problem is why the entry cannot give the tensor s, or "".
func (e *NameEntry) problem(s WeightSpec) string {
	name := fmt.Sprintf("tensor %q%s", s.Name, e.fromText())
	if !slices.Equal(e.Shape, s.Shape) {
		how := ""
		if e.split || e.Transpose {
			how = fmt.Sprintf(" (checkpoint shape %v, %s)", e.Source.Info.Shape, e.describeVia())
		}
		return fmt.Sprintf("%s has shape %v%s, want %v", name, e.Shape, how, s.Shape)
	}
	switch dt := e.Source.Info.DType; dt {
	case safetensors.F32, safetensors.F16, safetensors.BF16:
	case safetensors.F8E4M3:
		if e.Scale == nil {
			return fmt.Sprintf("%s has dtype F8_E4M3 and no block scale (%s); mhcc reads %s", name, strings.Join(quoteAll(fp8ScaleNames(e.Source.Name)), " or "), supportedDTypes)
		}
		if len(e.Source.Info.Shape) != 2 {
			return fmt.Sprintf("%s has dtype F8_E4M3 and shape %v; block scales are for matrices", name, e.Source.Info.Shape)
		}
		if want := fp8ScaleShape(e.Source.Info.Shape); !slices.Equal(e.Scale.Info.Shape, want) || !scaleDType(e.Scale.Info.DType) {
			return fmt.Sprintf("%s: block scale %q has %s %v, want F32 (or BF16, F16) %v (one per %d×%d block)", name, e.Scale.Name, e.Scale.Info.DType, e.Scale.Info.Shape, want, fp8Block, fp8Block)
		}
	default:
		return fmt.Sprintf("%s has dtype %s; mhcc reads %s", name, dt, supportedDTypes)
	}
	return ""
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// GuessPreset names the preset whose layout the checkpoint's names follow,
// or "" when none does.
func GuessPreset(nm *NameMap) string {
	count := map[string]int{}
	for _, e := range nm.Entries {
		n := e.Source.Name
		switch {
		case strings.Contains(n, ".self_attn.") || strings.HasSuffix(n, "embed_tokens.weight"):
			count[PresetHFLlama]++
		case strings.Contains(n, ".c_attn.") || strings.HasSuffix(n, "wte.weight"):
			count[PresetNanoGPT]++
		}
	}
	best := ""
	for _, p := range []string{PresetHFLlama, PresetNanoGPT} {
		if count[p] > count[best] {
			best = p
		}
	}
	return best
}

// entrySource reads a tensor that is transformed on load: a part of a
// split, a transposed matrix, FP8 values times their block scales. The
// files are opened for each Stream, so a Weights holds no open file; a
// transposed tensor is held whole while it is streamed, the others one
// chunk at a time.
type entrySource struct {
	e *NameEntry
}

func (s *entrySource) String() string {
	return fmt.Sprintf("tensor %q of %s (%s)", s.e.Source.Name, s.e.Source.Shard, s.e.describeVia())
}

func (s *entrySource) Stream(fn func([]float32) error) error {
	e := s.e
	f, err := safetensors.Open(e.Source.Shard)
	if err != nil {
		return err
	}
	defer f.Close()
	var scale []float32
	if e.Scale != nil {
		sf, err := safetensors.Open(e.Scale.Shard)
		if err != nil {
			return err
		}
		scale, err = sf.ReadFloat32(e.Scale.Name)
		sf.Close()
		if err != nil {
			return err
		}
	}
	shape := e.Source.Info.Shape
	cols := int64(1)
	for _, d := range shape[min(1, len(shape)):] {
		cols *= d
	}
	scaleCols := (cols + fp8Block - 1) / fp8Block
	dt := e.Source.Info.DType
	size := int64(dt.Size())
	// read decodes elements [at, at+len(dst)) of the source into dst.
	raw := make([]byte, 0)
	read := func(at int64, dst []float32) error {
		n := int64(len(dst))
		if int64(cap(raw)) < n*size {
			raw = make([]byte, n*size)
		}
		b := raw[:n*size]
		if err := f.ReadRawAt(e.Source.Name, at*size, b); err != nil {
			return err
		}
		for i := range dst {
			switch dt {
			case safetensors.F32:
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			case safetensors.F16:
				dst[i] = half.Float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
			case safetensors.BF16:
				dst[i] = half.BFloat16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
			case safetensors.F8E4M3:
				k := at + int64(i)
				r, c := k/cols, k%cols
				dst[i] = e4m3Table[b[i]] * scale[(r/fp8Block)*scaleCols+c/fp8Block]
			default:
				return fmt.Errorf("tensor %q of %s: dtype %s; mhcc reads %s", e.Source.Name, e.Source.Shard, dt, supportedDTypes)
			}
		}
		return nil
	}
	n := int64(1)
	for _, d := range e.Shape {
		n *= d
	}
	buf := make([]float32, min(n, ir.ChunkElems))
	if !e.Transpose {
		// Rows Row0… of the source are consecutive elements.
		start := e.Row0 * cols
		for done := int64(0); done < n; {
			k := min(int64(len(buf)), n-done)
			if err := read(start+done, buf[:k]); err != nil {
				return err
			}
			if err := fn(buf[:k]); err != nil {
				return err
			}
			done += k
		}
		return nil
	}
	// Transposed: target row t is source column t.
	rows := shape[0]
	all := make([]float32, rows*cols)
	for done := int64(0); done < int64(len(all)); {
		k := min(int64(ir.ChunkElems), int64(len(all))-done)
		if err := read(done, all[done:done+k]); err != nil {
			return err
		}
		done += k
	}
	k := 0
	for t := e.Row0; t < e.Row0+e.Shape[0]; t++ {
		for j := int64(0); j < rows; j++ {
			buf[k] = all[j*cols+t]
			if k++; k == len(buf) {
				if err := fn(buf); err != nil {
					return err
				}
				k = 0
			}
		}
	}
	if k > 0 {
		return fn(buf[:k])
	}
	return nil
}
