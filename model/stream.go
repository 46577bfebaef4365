package model

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/mhcc-dev/mhcc/internal/safetensors"
	"github.com/mhcc-dev/mhcc/ir"
)

// LazyMinBytes is the default size from which StreamWeights leaves a weight
// unread: smaller tensors are cheap to hold, and passes may fold them.
const LazyMinBytes = 1 << 20

// StreamWeights is LoadWeights for models too large to hold in memory: every
// tensor of at least minBytes (as float32) is a streamed weight (Tensor.Lazy)
// whose data is generated or read only when it is written out. mHC
// parameters (hc_*) are always read: passes fold them. The checks are those
// of LoadWeights, all done now, and the values are the same.
func StreamWeights(m *Model, minBytes int64) (Weights, error) {
	lazy := func(s WeightSpec) bool {
		if strings.Contains(s.Name, "hc_") {
			return false
		}
		n := int64(4)
		for _, d := range s.Shape {
			n *= d
		}
		return n >= minBytes
	}
	switch m.Weights.Source {
	case WeightsRandom:
		w := Weights{}
		for _, s := range WeightSpecs(m) {
			if lazy(s) {
				w[s.Name] = &ir.Tensor{DType: ir.Float32, Shape: s.Shape, Lazy: &randomSource{seed: m.Weights.Seed, spec: s}}
				continue
			}
			w[s.Name] = randomTensor(m.Weights.Seed, s)
		}
		return w, nil
	case WeightsSafetensors:
		return readSafetensors(m, lazy)
	}
	return nil, fmt.Errorf("%v: weights.source: got %q, want random or safetensors", m.WeightsPos, m.Weights.Source)
}

// WeightBytes is the size of m's weights as float32, the size of the
// initializers mhcc writes for them.
func WeightBytes(m *Model) int64 {
	total := int64(0)
	for _, s := range WeightSpecs(m) {
		n := int64(4)
		for _, d := range s.Shape {
			n *= d
		}
		total += n
	}
	return total
}

// randomGen returns the generator of weight s (see RandomWeights).
func randomGen(seed uint64, s WeightSpec) *rand.PCG {
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	return rand.NewPCG(seed, h.Sum64())
}

func randomTensor(seed uint64, s WeightSpec) *ir.Tensor {
	t := &ir.Tensor{DType: ir.Float32, Shape: s.Shape}
	t.F32 = make([]float32, t.Len())
	p := randomGen(seed, s)
	randomFill(s, p, rand.New(p), t.F32)
	return t
}

// randomFill writes the next len(dst) values of weight s's generator, with
// the distribution RandomWeights documents. p is r's source: uniform values
// are drawn from it directly (rand.Rand.Float64's formula, the same numbers
// without an interface call per element), normal ones through r.
func randomFill(s WeightSpec, p *rand.PCG, r *rand.Rand, dst []float32) {
	switch name := s.Name; {
	case name == "embed.weight" && !s.Tied || strings.HasSuffix(name, "_base"):
		for i := range dst {
			dst[i] = float32(r.NormFloat64())
		}
	case strings.HasSuffix(name, "norm.weight"):
		for i := range dst {
			dst[i] = float32(1 + 0.1*r.NormFloat64())
		}
	case strings.HasSuffix(name, ".bias") || name == "pos_embed.weight":
		for i := range dst {
			dst[i] = float32(0.1 * r.NormFloat64())
		}
	case strings.HasSuffix(name, "_scale"):
		for i := range dst {
			dst[i] = float32(0.5 + float64(p.Uint64()<<11>>11)/(1<<53))
		}
	default: // [out, in] matrices, including hc_*_fn
		a := 1 / math.Sqrt(float64(s.Shape[1]))
		for i := range dst {
			dst[i] = float32((2*(float64(p.Uint64()<<11>>11)/(1<<53)) - 1) * a)
		}
	}
}

// randomSource generates a random weight chunk by chunk.
type randomSource struct {
	seed uint64
	spec WeightSpec
}

func (s *randomSource) String() string {
	return fmt.Sprintf("random weight %q (seed %d)", s.spec.Name, s.seed)
}

func (s *randomSource) Stream(fn func([]float32) error) error {
	n := int64(1)
	for _, d := range s.spec.Shape {
		n *= d
	}
	p := randomGen(s.seed, s.spec)
	r := rand.New(p)
	buf := make([]float32, min(n, ir.ChunkElems))
	for done := int64(0); done < n; {
		k := min(int64(len(buf)), n-done)
		randomFill(s.spec, p, r, buf[:k])
		if err := fn(buf[:k]); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// safetensorsSource reads one tensor of a safetensors file chunk by chunk,
// widening F16 and BF16 exactly. The file is opened for each Stream, so a
// Weights holds no open file.
type safetensorsSource struct {
	path, name string
}

func (s *safetensorsSource) String() string {
	return fmt.Sprintf("tensor %q of %s", s.name, s.path)
}

func (s *safetensorsSource) Stream(fn func([]float32) error) error {
	f, err := safetensors.Open(s.path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.StreamFloat32(s.name, ir.ChunkElems, fn)
}
