package core

// A BinFn is one elementwise binary function for floats and for integers.
type BinFn struct {
	F    func(x, y float64) float64
	I    func(x, y int64) int64
	Kind BinKind // the float32 fast path (internal/fast), or BinOther
}

// A BinKind names the binary ops with a float32 fast path: for + − × ÷ the
// float32 result equals the float64 one rounded once, as the general kernel
// computes.
type BinKind uint8

const (
	BinOther BinKind = iota
	BinAdd
	BinSub
	BinMul
	BinDiv
)

// A Reducer folds the elements of one output position: acc starts at init,
// takes step for each element and ends as final(acc, count) (nil: acc).
// The i-fields are the integer form.
type Reducer struct {
	Init   float64
	Step   func(acc, x float64) float64
	Final  func(acc float64, n int) float64
	IInit  int64
	IStep  func(acc, x int64) int64
	IFinal func(acc int64, n int) int64
	Kind   RedKind // the float32 fast path (internal/fast), or RedOther
}

// A RedKind names the reductions with a float32 fast path.
type RedKind uint8

const (
	RedOther RedKind = iota
	RedSum
	RedMean
	RedSumSquare
	RedMeanSquare // Σx²/n: ReduceMean(Pow(x, 2)) as the plan fuses it (internal/fast/plan.go)
)

// SeqFlag marks a sequence type; the low bits are the element type.
const SeqFlag DType = 1 << 12
