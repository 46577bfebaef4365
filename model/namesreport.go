package model

import (
	"fmt"
	"slices"

	"github.com/mhcc-dev/mhcc/internal/safetensors"
)

// A NamesReport compares the tensors a model expects (docs/spec.md §4.1)
// with its checkpoint under weights.names: what mhcc names prints.
type NamesReport struct {
	Expected []WeightSpec
	// Checkpoint is the checkpoint compared, "" for random weights.
	Checkpoint string
	Sharded    bool
	Tensors    int // in the checkpoint
	Found      []NameFound
	Ignored    []string // dropped by weights.names.ignore or the preset
	Scales     []string // FP8 block scales, read with their tensors
	// Problems are every problem, as LoadWeights reports them.
	Problems ErrorList
}

// A NameFound is an expected tensor and where the checkpoint has it.
type NameFound struct {
	Name   string // the §4.1 name
	Shape  []int64
	Source string // the checkpoint's name
	Shard  string // the file holding it
	DType  string // as stored
	Via    string // how the name was mapped: "", "preset hf-llama", "weights.names.rules[0]", with split, transpose, FP8 scale
}

// Names compares m's expected tensors with its checkpoint. Only headers
// are read. A checkpoint file that does not open is an error, as for
// LoadWeights; the problems of one that does are in the report.
func Names(m *Model) (*NamesReport, error) {
	r := &NamesReport{Expected: WeightSpecs(m)}
	if m.Weights.Source != WeightsSafetensors {
		return r, nil
	}
	if !IsShardIndex(m.Weights.Path) {
		f, err := safetensors.Open(m.Weights.Path)
		if err != nil {
			return nil, fmt.Errorf("%v: weights.path: %w", m.Weights.PathPos, err)
		}
		f.Close()
	}
	r.Checkpoint = m.Weights.Path
	ck, problems := openCheckpoint(m.Weights.Path)
	r.Sharded, r.Tensors = ck.sharded, len(ck.tensors)+len(ck.broken)
	for _, p := range problems {
		addAll(&r.Problems, m.Weights.PathPos, "weights.path", "%s", p)
	}
	nm := mapNames(m, ck, &r.Problems)
	r.Ignored, r.Scales = nm.Ignored, nm.Scales
	for _, c := range checkNames(m, nm) {
		if c.problem != "" {
			addAll(&r.Problems, m.Weights.PathPos, "weights.path", "%s", c.problem)
			continue
		}
		e := c.entry
		r.Found = append(r.Found, NameFound{Name: c.spec.Name, Shape: c.spec.Shape, Source: e.Source.Name, Shard: e.Source.Shard, DType: string(e.Source.Info.DType), Via: e.describeVia()})
	}
	r.Problems.Sort()
	return r, nil
}

// Found returns where the checkpoint has the expected tensor name.
func (r *NamesReport) Lookup(name string) (NameFound, bool) {
	i := slices.IndexFunc(r.Found, func(f NameFound) bool { return f.Name == name })
	if i < 0 {
		return NameFound{}, false
	}
	return r.Found[i], true
}

// Summary is a one-line account: "24 of 24 tensors found in … (3 shards,
// 25 tensors; 1 ignored)".
func (r *NamesReport) Summary() string {
	if r.Checkpoint == "" {
		return fmt.Sprintf("%d tensors, generated from the seed (weights.source: random)", len(r.Expected))
	}
	files := "one file"
	if r.Sharded {
		files = "sharded"
	}
	s := fmt.Sprintf("%d of %d tensors found in %s (%s, %d tensors", len(r.Found), len(r.Expected), r.Checkpoint, files, r.Tensors)
	if len(r.Ignored) > 0 {
		s += fmt.Sprintf("; %d ignored", len(r.Ignored))
	}
	if len(r.Scales) > 0 {
		s += fmt.Sprintf("; %d FP8 block scales", len(r.Scales))
	}
	s += ")"
	if len(r.Problems) > 0 {
		s += fmt.Sprintf("; %d problems", len(r.Problems))
	}
	return s
}
