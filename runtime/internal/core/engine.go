package core

// An Engine is the set of kernels a run uses. Both compute the same function
// of the same graph; the tests run them side by side (engine_test.go) and
// hold the fast one to the reference within stated tolerances.
type Engine uint8

const (
	// Fast runs the plan Decode made (plan.go: fused patterns, packed
	// constant weights, numbered slots) with the fast kernels: row-wise
	// float32 loops, SIMD where the build has it, the packed GEMM, and work
	// split among goroutines. It is the zero value: what Run uses.
	Fast Engine = iota
	// Reference walks the graph as written, node by node, with the plain
	// reference loops (float64 sums, one index walk per element, one
	// goroutine per kernel): the oracle the fast engine is tested against.
	Reference
)

func (e Engine) String() string {
	switch e {
	case Fast:
		return "fast"
	case Reference:
		return "reference"
	}
	return "Engine(?)"
}
