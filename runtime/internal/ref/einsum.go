package ref

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mhcc-dev/mhcc/runtime/internal/core"
)

// Einsum by index iteration: every combination of the output and summed
// labels is visited once, multiplying one element of each operand. This is the
// reference; it is O(Π of all label sizes) and fine for the equations
// torch.onnx emits ("bhqd,bhkd->bhqk", "bij,bjk->bik", "...ij,...jk->...ik").

// An einsumSpec is a parsed equation: per operand, its axis labels (letters
// and "..."), and the output's.
type einsumSpec struct {
	ins      [][]rune // '.' stands for the ellipsis
	out      []rune
	explicit bool
}

func parseEinsum(eq string, nIn int) (*einsumSpec, error) {
	eq = strings.ReplaceAll(eq, " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	s := &einsumSpec{explicit: explicit}
	term := func(t string) ([]rune, error) {
		var labels []rune
		dots := 0
		for i := 0; i < len(t); i++ {
			switch ch := rune(t[i]); {
			case strings.HasPrefix(t[i:], "..."):
				dots++
				labels = append(labels, '.')
				i += 2
			case ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z':
				labels = append(labels, ch)
			default:
				return nil, fmt.Errorf("equation %q: bad character %q", eq, ch)
			}
		}
		if dots > 1 {
			return nil, fmt.Errorf("equation %q: more than one ellipsis in a term", eq)
		}
		return labels, nil
	}
	for _, t := range strings.Split(lhs, ",") {
		l, err := term(t)
		if err != nil {
			return nil, err
		}
		s.ins = append(s.ins, l)
	}
	if len(s.ins) != nIn {
		return nil, fmt.Errorf("equation %q has %d operands, the node %d inputs", eq, len(s.ins), nIn)
	}
	if explicit {
		l, err := term(rhs)
		if err != nil {
			return nil, err
		}
		seen := map[rune]bool{}
		for _, ch := range l {
			if seen[ch] {
				return nil, fmt.Errorf("equation %q: output label %q repeated", eq, ch)
			}
			seen[ch] = true
			if !strings.ContainsRune(lhs, ch) && ch != '.' {
				return nil, fmt.Errorf("equation %q: output label %q is not an input label", eq, ch)
			}
		}
		s.out = l
		return s, nil
	}
	// Implicit output: the ellipsis, then the labels used once, alphabetically.
	count := map[rune]int{}
	dots := false
	for _, l := range s.ins {
		for _, ch := range l {
			if ch == '.' {
				dots = true
			} else {
				count[ch]++
			}
		}
	}
	if dots {
		s.out = append(s.out, '.')
	}
	var once []rune
	for ch, n := range count {
		if n == 1 {
			once = append(once, ch)
		}
	}
	sort.Slice(once, func(i, j int) bool { return once[i] < once[j] })
	s.out = append(s.out, once...)
	return s, nil
}

func checkEinsum(n *core.Node) error {
	a := n.Attrs["equation"]
	if a == nil {
		return core.Errorf("attribute \"equation\" is required")
	}
	_, err := parseEinsum(string(a.GetS()), len(n.Inputs))
	return err
}

// einsum is y[out labels] = Σ over the other labels of Π_k x_k[its labels].
func einsum(c *core.Call, in []*core.Tensor) []*core.Tensor {
	s, err := parseEinsum(c.Str("equation", ""), len(in))
	if err != nil {
		panic(core.KernelError(err.Error()))
	}
	for _, t := range in[1:] {
		if t.DType != in[0].DType {
			panic(core.ErrType)
		}
	}
	// Expand the ellipsis of each operand into labels −1, −2, … (right-aligned,
	// so they broadcast like numpy's batch dims).
	ell := 0
	for k, l := range s.ins {
		if n := len(in[k].Shape) - (len(l) - 1); containsDots(l) {
			if n < 0 {
				core.Failf("operand %d of shape %v has too few dims for %q", k, in[k].Shape, string(l))
			}
			ell = max(ell, n)
		} else if len(l) != len(in[k].Shape) {
			core.Failf("operand %d of shape %v does not match %q", k, in[k].Shape, string(l))
		}
	}
	expandDots := func(l []rune, n int) []rune {
		var out []rune
		for _, ch := range l {
			if ch != '.' {
				out = append(out, ch)
				continue
			}
			for i := ell - n; i < ell; i++ {
				out = append(out, rune(-1-i))
			}
		}
		return out
	}
	size := map[rune]int64{}
	labels := make([][]rune, len(in))
	for k, l := range s.ins {
		labels[k] = expandDots(l, len(in[k].Shape)-(len(l)-1))
		for i, ch := range labels[k] {
			d := in[k].Shape[i]
			old, ok := size[ch]
			switch {
			case !ok || old == d:
				size[ch] = d
			case ch < 0 && old == 1:
				size[ch] = d
			case ch < 0 && d == 1:
			default:
				core.Failf("label %q has sizes %d and %d", ch, old, d)
			}
		}
	}
	out := expandDots(s.out, ell)
	// The walk: output labels, then the summed ones (innermost).
	walk := append([]rune{}, out...)
	inOut := map[rune]bool{}
	for _, ch := range out {
		inOut[ch] = true
	}
	for _, l := range labels {
		for _, ch := range l {
			if !inOut[ch] {
				inOut[ch] = true
				walk = append(walk, ch)
			}
		}
	}
	shape := make([]int64, len(walk))
	pos := map[rune]int{}
	for i, ch := range walk {
		shape[i] = size[ch]
		pos[ch] = i
	}
	strides := make([][]int, len(in))
	vals := make([][]float64, len(in))
	for k, t := range in {
		strides[k] = make([]int, len(walk))
		st := rowStrides(t.Shape)
		for i, ch := range labels[k] {
			if t.Shape[i] != 1 || size[ch] == 1 {
				strides[k][pos[ch]] += st[i] // a repeated label walks the diagonal
			}
		}
		vals[k] = t.Float64s()
	}
	oshape := shape[:len(out)]
	acc := make([]float64, core.CheckSizeOf(oshape, 8))
	inner := Product(shape[len(out):])
	walkStrides(shape, strides, func(o int, idx []int) {
		p := 1.0
		for k, v := range vals {
			p *= v[idx[k]]
		}
		acc[o/inner] += p
	})
	return []*core.Tensor{core.FromFloat64s(in[0].DType, append([]int64{}, oshape...), acc)}
}

func containsDots(l []rune) bool {
	for _, ch := range l {
		if ch == '.' {
			return true
		}
	}
	return false
}
