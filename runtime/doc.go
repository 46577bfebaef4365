// Package runtime is mhcc's ONNX interpreter: it executes decoded ONNX graphs
// in pure Go so that tests and `mhcc run` can check a compiled model's numerics
// without onnxruntime. It is a reference, not a production engine: every
// kernel is first a plain loop whose doc comment states its semantics; the
// hot ones have fast forms (# Speed) and their plain loop stays as the test
// oracle (the go/ssa/interp idea, with gonum's kernel files).
//
// The package name shadows the standard library's runtime; import it as
// mhrt where both are needed.
//
// # Using it
//
//	m, err := runtime.Load("model.onnx") // decode and check the whole graph
//	out, err := m.Run(map[string]*runtime.Tensor{"x": runtime.NewFloat32([]int64{2, 3}, xs)})
//
// [Decode] checks before anything runs: every node must have a kernel for its
// (domain, op_type) at the opset the model imports, with the right number of
// inputs and outputs; every input must be defined and every value defined
// once; the graph must be acyclic (a cycle is reported with its nodes); and
// element types must agree where they are known statically. Initializers are
// decoded from raw_data or the typed fields, and a tensor's dims must match
// the data it holds, so a hostile file cannot make Decode allocate more than
// its own size. Errors name the node: `runtime: node "Mul_3" (Mul): …`.
//
// [Model.Run] executes nodes in topological order and drops each intermediate
// tensor after its last reader (reference counting). A kernel whose
// precondition fails panics with a constant such as "runtime: shape mismatch"
// or a formatted message; Run recovers it and returns an error naming the
// node. Every allocation goes through a size check, so a shape computed from
// data (ConstantOfShape, Range, Expand, Tile) cannot exhaust memory. A Model
// is immutable once decoded: Run may be called from several goroutines.
//
// # Numbers
//
// Tensors hold float32, float64, float16, bfloat16, the signed and unsigned
// integers from 8 to 64 bits, and bool. Float16 and bfloat16 are stored as
// their 16-bit patterns and computed in float32, rounding once per result.
// The plain elementwise kernels compute floats in float64 per element and
// round once (exact for + − × ÷ √); reductions, normalizations, Einsum and
// MatMul accumulate in float64. The float32 fast forms compute + − × ÷ in
// float32 (the same results), exp with their own float32 polynomial, and
// GEMM sums in float32 as onnxruntime's MLAS does. Integers compute in int64 and wrap to their width.
//
// # Layers
//
// The package is the public API over four internal packages, each
// importing only those before it (internal/stages' TestImportDirections
// holds them to it; RATIONALE.md, "Package boundaries: the runtime", says
// why):
//
//   - internal/core: the types (Tensor, DType from onnx/tensor's table,
//     Model, Node, the kernel row, the call and its Ops), the memory budget,
//     type inference and the checks around a kernel call. This package's
//     Tensor, Model, Node … are aliases of them.
//   - internal/decode: ONNX ModelProto → a checked Model: nodes, attributes,
//     initializers (external data confined to the model's folder),
//     model-local functions, subgraphs and scopes, topological order. It
//     has no kernels; it checks each node against the op table.
//   - internal/ref: the op table and the reference kernels, plain loops with
//     no engine switch anywhere: a kernel is written once against core.Ops,
//     the steps kernels share, and the Reference engine passes ref.Ops.
//   - internal/fast: the Fast engine: its forms of those steps (Ops),
//     whole-kernel fast forms (KernelForms, each falling back to the table's
//     kernel), the plan and its table of fusions, the packed GEMM, SIMD, the
//     buffer pool and the parallel loops.
//
// This package decodes (api.go: decode, then the plan) and executes
// (interp.go: the graph as written for Reference, the plan for Fast).
//
// Adding an op: a row in internal/ref/kernels.go and its kernel in the
// family file (an ai.mhcc op in internal/ref/mhcc_ops.go, its row under the
// mhcc_ops.go comment of the table), written against core.Ops; then, only
// if it pays, a fast form in internal/fast's KernelForms (kernels.go) or a
// row of the plan's fusions (plan.go), each tested against the reference.
//
// # What runs
//
// internal/ref/kernels.go holds the one table of kernels, keyed by (domain, op_type) with
// the opset range each row implements; opset-dependent behaviour (Softmax's
// 2-D coercion before 13, axes as attributes or inputs, Split's num_outputs)
// lives in the kernel, selected by the node's opset. Rows of other domains
// are keyed by that domain ("ai.mhcc", "com.microsoft"), and a model must
// import the domain for its nodes to resolve. The families (files of
// internal/ref):
//
//   - elementwise.go: arithmetic, math, comparison and logic with numpy
//     broadcasting; Where, Clip, Cast, CastLike, Identity, Dropout (inference).
//   - matmul.go: MatMul (batched, broadcasting) and Gemm.
//   - reduce.go: Reduce{Sum,Mean,Max,Min,Prod,SumSquare,LogSumExp,LogSum,L1,L2}, ArgMax, ArgMin.
//   - shape.go: Shape, Size, Reshape, Flatten, Transpose, (Un)Squeeze, Concat,
//     Split, Slice, Gather, GatherElements, Expand, Tile, Trilu,
//     ConstantOfShape, Constant, Range.
//   - norm.go: Softmax, LogSoftmax, Hardmax, LayerNormalization.
//   - einsum.go: Einsum by index iteration.
//   - mhcc_ops.go: mhcc's own ops, domain "ai.mhcc" version 1, for models
//     that carry no function body for them: Sinkhorn (docs/spec.md §2) on logits
//     [..., n, n] of float, double or float16, with attributes iters (≥ 1)
//     and eps (≥ 0), computed in float32 (float64 for double) with sums in
//     index order.
//   - contrib.go: what onnxruntime's ort target may emit, with onnxruntime
//     1.30's CPU semantics (checked against it in contrib_test.go):
//     SimplifiedLayerNormalization (RMSNorm; domain "", where onnxruntime
//     registers it, version 1; inv_std_var in float), and in
//     "com.microsoft" version 1 SkipSimplifiedLayerNormalization and
//     RotaryEmbedding (3-D [B, S, N·H] or 4-D [B, N, S, H] input, start
//     position or [B, S] position ids, interleaved or not, partial rotary
//     dim; not is_packed_batching). Attention ops are not in this file.
//   - control.go: Loop and If. Their graph attributes are decoded and checked
//     like the main graph; a name a subgraph reads but does not define
//     resolves in the enclosing graphs (innermost first) and becomes a
//     capture: an extra input of the subgraph, and of the node after its own
//     inputs, so it stays alive and orders the node after its producer.
//     Loop follows onnxruntime where ONNX's text differs: the body's
//     condition output stops the loop even when the node omits cond.
//   - function.go: model-local functions (ModelProto.functions). A node whose
//     (domain, op_type) names one runs its body, even where the table has a
//     kernel of that name. Decode expands the body once per calling node:
//     ref_attr_name attributes take the caller's value or the function's
//     default or are dropped, omitted inputs stay omitted, and the body
//     resolves ops under the function's own opset imports (which, as in
//     onnxruntime, must import the domain of any function it calls). Nested
//     calls are fine; recursion, and expansion past 2²⁰ nodes, are errors.
//
// Loop and Sinkhorn run as many iterations as the model asks: Run bounds
// memory, not time.
//
// # Speed
//
// A run uses one of two engines, chosen per run by RunOptions.Engine.
// Reference walks the graph as written with the plain kernels above: they
// are the semantics and the oracle. Fast, the default, goes through faster
// forms where they apply (all in internal/fast) (README.md, "The Go runtime's speed";
// RATIONALE.md says why each is built the way it is), and the differential
// tests (engine_test.go, fastpath_test.go, the conformance and fuzz tests)
// hold it to Reference within stated tolerances:
//
//   - plan.go: Decode makes an execution plan: values in numbered slots,
//     a table of fusions (Transposes read in place by MatMul, each Sinkhorn
//     half-step, the ReduceSum and the Gemm form, and the RMS pattern in one
//     pass), constant weights packed once, float32 buffers recycled through
//     a pool.
//   - gemm.go, pool.go, parallel.go: a packed, blocked float32 GEMM with an
//     AVX-512 assembly micro-kernel (gemm_amd64.s; simd/archsimd in a purego GOEXPERIMENT=simd
//     build; gonum where there is none), the buffer pool, and loops split in
//     chunks among the caller and a pool of helper goroutines that wait for
//     work for a moment before they sleep.
//   - kernels.go, kernels_simd.go, matmul.go: float32 elementwise,
//     reductions, Softmax, Sigmoid and data movement (Ops and
//     KernelForms), vectorised with simd/archsimd in a GOEXPERIMENT=simd
//     build, and the MatMul forms; only the Fast engine passes them.
//
// RunOptions.Profile adds up the time per operator (`mhcc run --profile`).
// [DecodeDir] reads external data; [DecodeProto] decodes a message in memory
// without holding its weights twice.
//
// Not supported: Scan and GRAPHS attributes, sequence, map and optional
// types, strings, sparse tensors, and the convolution,
// pooling, recurrent, quantized and random ops. conformance_test.go runs
// ONNX's own node tests (Debian's libonnx-testdata) for every case whose ops
// are in the table, subgraphs included.
package runtime
