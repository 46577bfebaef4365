// mhcc's custom-op library for onnxruntime: CPU kernels for the fused mHC
// ops of docs/fused-ops.md (domain ai.mhcc, version 1), written against
// onnxruntime's C API only, so one build serves onnxruntime 1.24 and later (the API version of its header).
//
// Build: scripts/build-ortops (gcc -O2 -shared -fPIC; writes
// .cache/ortops/libmhcc_ortops.so). Load: SessionOptions
// register_custom_ops_library / OrtApi::RegisterCustomOpsLibrary_V2, which
// calls RegisterCustomOps below.
//
// Ops (inputs -> outputs; T is float32 or float16, the rest float32):
//
//	HCCoeffsSinkhorn     (x:T[..,n,C], fn[m,n·C], base[m])               -> pre[..,n], post[..,n], comb[..,n,n]
//	HCPostCoeffsSinkhorn (x, fn, base, y:T[..,C], post[..,n])            -> same, of the state x + post⊗y
//	HCPremixNorm         (x:T[..,n,C], pre, comb, w:T[C])                -> normed:T[..,C], mixed:T[..,n,C]
//	HCBoundary           (x, pre, comb, w, y:T[..,C], post[..,n])        -> normed, mixed, state:T[..,n,C]
//	HCCoeffsBoundary     (x, fn, base, w, y, post)                       -> pre, post, comb, normed, mixed, state
//	                     (HCPostCoeffsSinkhorn then HCBoundary on its pre and comb, reading x and y once)
//	HCHead               (x, fn[n,n·C], base[n], scale[1], w, y, post)   -> normed:T[..,C], state:T[..,n,C]
//	                     (the end of the model: the last post-mix, the head's pre, collapse and final RMSNorm)
//	HCEntry              (e:T[..,C], fn, base, w)                        -> pre, post, comb, normed, mixed
//	                     (the start of the model: HCCoeffsSinkhorn and HCPremixNorm of x = n copies of e,
//	                     n the streams attribute)
//
// with m = n²+2n, n = 2..8. Every sum is accumulated in float32 (the
// Sinkhorn's n×n steps in double, which costs nothing at this size);
// float16 values are widened on load and rounded to nearest even on store.
//
// Threads: a call splits its tokens over onnxruntime's intra-op thread
// pool (OrtApi::KernelContext_ParallelFor) in chunks of at least
// MIN_CHUNK tokens (GEMM_MIN_CHUNK for the tiled projection, up to
// CB_SWAP_CHUNK for HCCoeffsBoundary's swap pass), so one decode
// token runs on the calling thread with no hand-off, and a prefill uses the
// threads the session was given (intra_op_num_threads), like onnxruntime's
// own kernels; the kernels keep no state between calls (a constant fn is
// packed once, at kernel creation) and are safe to run concurrently.
//
// Prefill: the coefficient ops run the projection of 16 tokens or more as
// a tiled GEMM (coeffs_gemm), the boundary ops make one pass over each
// token's state (boundary_row), HCCoeffsBoundary does both on a tile of
// tokens whose state it builds once (cb_range; for n = 4 with AVX-512 the
// swap pass, cb_swap_range), HCHead makes two passes over each token's x
// and y, a tile of tokens at a time (head_range), HCEntry projects e on fn's
// stream blocks summed (entry_range); see those for the layout.
//
// Errors: a node with a stream count outside 2..8, a type other than
// float32/float16 or inconsistent input types fails when the session
// creates its kernel, with a message naming the node; shapes that
// disagree at run time fail the run, naming the node. An input whose
// shape onnxruntime did not infer (a graph input declared without one,
// the output of a function body it inlined) is not refused at creation:
// compute checks its shape on every call.

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h> // micro16p's AVX-512 intrinsics
#endif

#include "onnxruntime_c_api.h"


#define MAX_STREAMS 8
#define MIN_STREAMS 2
#define MIN_CHUNK 8 // tokens per thread-pool task
// The coefficient ops of at least GEMM_MIN_TOKENS tokens pack fn and run
// the projection as a tiled GEMM (coeffs_gemm), in tasks of at least
// GEMM_MIN_CHUNK tokens (each task reads all of the packed fn once).
#define GEMM_MIN_TOKENS 16
#define GEMM_MIN_CHUNK 32

// VECTOR marks the few hot loops that gcc compiles twice, for AVX2 and for
// the baseline (SSE2 on x86-64), picking one at load time (an ifunc), so
// one -O2 build is portable and still uses 8-wide vectors where it can.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR __attribute__((target_clones("fma", "default")))
#else
#define VECTOR
#endif

static const OrtApi *api;

enum kind { COEFFS, POST_COEFFS, PREMIX_NORM, BOUNDARY, COEFFS_BOUNDARY, HEAD, ENTRY, NKINDS };

static const char *const op_names[NKINDS] = {"HCCoeffsSinkhorn", "HCPostCoeffsSinkhorn", "HCPremixNorm", "HCBoundary", "HCCoeffsBoundary", "HCHead", "HCEntry"};
static const size_t n_inputs[NKINDS] = {3, 5, 4, 6, 6, 7, 4};
static const size_t n_outputs[NKINDS] = {3, 3, 2, 3, 6, 2, 5};

// has_coeffs: the op computes pre, post and comb (outputs 0..2) from fn.
static int has_coeffs(enum kind kind) { return kind == COEFFS || kind == POST_COEFFS || kind == COEFFS_BOUNDARY; }

// calls counts the kernel invocations per op, for tests that must tell a
// kernel run from a function-body run (mhcc_ortops_calls).
static volatile int64_t calls[NKINDS];

int64_t mhcc_ortops_calls(int kind) {
	return kind >= 0 && kind < NKINDS ? __atomic_load_n(&calls[kind], __ATOMIC_SEQ_CST) : -1;
}

const char *mhcc_ortops_op_name(int kind) { return kind >= 0 && kind < NKINDS ? op_names[kind] : NULL; }

// ---- float16 <-> float32 (IEEE binary16, round to nearest even) ----

static float half_to_float(uint16_t h) {
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	if (exp == 0x1f) {
		bits = sign | 0x7f800000 | (man << 13);
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign;
	} else { // subnormal: normalise
		exp = 113;
		while (!(man & 0x400)) {
			man <<= 1;
			exp--;
		}
		bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
	}
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

static uint16_t float_to_half(float f) {
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000, abs = x & 0x7fffffff;
	if (abs >= 0x7f800000) // inf or NaN
		return (uint16_t)(sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 | ((abs >> 13) & 0x3ff) : 0));
	if (abs >= 0x477ff000) // rounds to ≥ 65520: infinity
		return (uint16_t)(sign | 0x7c00);
	if (abs < 0x38800000) { // subnormal or zero in half
		if (abs < 0x33000000) // < 2^-25: rounds to zero
			return (uint16_t)sign;
		uint32_t e = abs >> 23, m = (abs & 0x7fffff) | 0x800000;
		uint32_t shift = 126 - e; // 14..24
		uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
		if (rem > half || (rem == half && (r & 1)))
			r++;
		return (uint16_t)(sign | r);
	}
	uint32_t r = abs - 0x38000000; // rebias exponent 127 -> 15 (in place, mantissa 23 bits)
	uint32_t rem = r & 0x1fff;
	r >>= 13;
	if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
		r++;
	return (uint16_t)(sign | r);
}

// ---- kernels ----

// Scratch buffers: a kernel call's buffers of at most STACK_FLOATS floats
// live on the stack, larger ones come from malloc. A decode step makes
// dozens of calls, each of which would otherwise allocate and free
// (measured: freeing a 68-KB buffer per call let the heap shrink and grow
// back, page faults included, about 3% of a decode step at hidden 1024).
#define STACK_FLOATS 8192

static float *scratch(float *stack, size_t floats) {
	if (floats <= STACK_FLOATS)
		return stack;
	float *p = malloc(floats * sizeof(float));
	if (p == NULL)
		abort(); // out of memory in a task: nothing sensible to return
	return p;
}

static void unscratch(float *stack, float *p) {
	if (p != stack)
		free(p);
}

typedef struct {
	enum kind kind;
	float eps, rms_eps;
	float norm_eps; // HCCoeffsBoundary, HCHead: the RMSNorm's eps (the boundary ops' eps)
	int64_t iters;
	ONNXTensorElementDataType type; // of x (and y, w and the T outputs)
	char node[256];
	// The coefficient ops' fn packed for the token-tiled projection when
	// fn is a constant (an initializer, as in every compiled model): packed
	// once when the session creates the kernel, read-only afterwards.
	float *packed;
	size_t packed_m, packed_nc, packed_qw;
	// HCEntry: the streams attribute, and fsum [m, C] (fn's n blocks of C
	// columns summed) when fn is a constant, computed at kernel creation
	// (packed then holds fsum packed).
	int64_t streams;
	float *fsum;
	size_t fsum_m, fsum_c;
} kernel;

static OrtStatus *fail(const kernel *k, const char *format, ...) __attribute__((format(printf, 2, 3)));

static OrtStatus *fail(const kernel *k, const char *format, ...) {
	char msg[1024], detail[384];
	va_list ap;
	va_start(ap, format);
	vsnprintf(detail, sizeof detail, format, ap);
	va_end(ap);
	snprintf(msg, sizeof msg, "mhcc ortops: node \"%s\" (ai.mhcc.%s): %s", k->node, op_names[k->kind], detail);
	return api->CreateStatus(ORT_INVALID_ARGUMENT, msg);
}

// load widens count values of a T tensor at src[offset...] into dst.
static void load(float *dst, const void *src, size_t offset, size_t count, ONNXTensorElementDataType t) {
	if (t == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
		memcpy(dst, (const float *)src + offset, count * sizeof(float));
		return;
	}
	const uint16_t *h = (const uint16_t *)src + offset;
	for (size_t i = 0; i < count; i++)
		dst[i] = half_to_float(h[i]);
}

static void store(void *dst, size_t offset, const float *src, size_t count, ONNXTensorElementDataType t) {
	if (t == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
		memcpy((float *)dst + offset, src, count * sizeof(float));
		return;
	}
	uint16_t *h = (uint16_t *)dst + offset;
	for (size_t i = 0; i < count; i++)
		h[i] = float_to_half(src[i]);
}

// v8 is eight floats, gcc's generic vector: one AVX register in the avx2
// clone, two SSE registers in the baseline.
typedef float v8 __attribute__((vector_size(32)));

static inline v8 load8(const float *p) {
	v8 v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline float sum8(v8 a) { return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])); }

// dot is Σ a[i]·b[i] in float32 with 32 partial sums in four vector
// registers (four independent chains of additions).
VECTOR static float dot(const float *a, const float *b, size_t len) {
	v8 acc = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
	size_t i = 0;
	for (; i + 32 <= len; i += 32) { // four independent chains
		acc += load8(a + i) * load8(b + i);
		acc1 += load8(a + i + 8) * load8(b + i + 8);
		acc2 += load8(a + i + 16) * load8(b + i + 16);
		acc3 += load8(a + i + 24) * load8(b + i + 24);
	}
	acc = (acc + acc1) + (acc2 + acc3);
	for (; i + 8 <= len; i += 8)
		acc += load8(a + i) * load8(b + i);
	float s = 0;
	for (; i < len; i++)
		s += a[i] * b[i];
	return s + sum8(acc);
}

// axpy is y[i] += a·x[i], eight lanes at a time
// (gcc's loop vectorizer, at -O2, leaves loops with a remainder scalar).
static inline void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

VECTOR static void axpy(float *restrict y, const float *restrict x, float a, size_t len) {
	size_t i = 0;
	for (; i + 8 <= len; i += 8)
		store8(y + i, load8(y + i) + a * load8(x + i));
	for (; i < len; i++)
		y[i] += a * x[i];
}

// A job is one call's tensors, shared by the thread-pool tasks.
typedef struct {
	const kernel *k;
	size_t tokens, n, c;
	const void *x, *y;
	const float *post_in, *fn, *base, *pre, *comb;
	const void *w;
	size_t post_stride, pre_stride, comb_stride; // 0: broadcast (static mHC)
	float *pre_out, *post_out, *comb_out;
	void *normed, *mixed, *state;
	const float *wf; // w as float32 (widened if float16)
	float scale;     // HCHead: scale[0]
	const float *packed; // fn packed in panels for the token-tiled projection (NULL: per-token projection)
	size_t qw;           // rows per panel of packed: QW or QW16
	int pairs;           // n = 4 with AVX-512: micro16p, on panels of QW
	int block;           // tokens per block of the tiled projection: BLOCK or BLOCK16
	int wide;            // AVX-512 (wide()): the 16-lane forms of block_state and boundary_row
	size_t chunk;
} job;

// state_of writes the float32 state of token t into s[n·C]: x (+ post⊗y).
static void state_of(const job *j, size_t t, float *s, float *ybuf) {
	size_t nc = j->n * j->c;
	load(s, j->x, t * nc, nc, j->k->type);
	if (j->y == NULL)
		return;
	load(ybuf, j->y, t * j->c, j->c, j->k->type);
	const float *p = j->post_in + t * j->post_stride;
	for (size_t k = 0; k < j->n; k++)
		axpy(s + k * j->c, ybuf, p[k], j->c);
}

// sinkhorn: docs/spec.md §2 on one n×n matrix of logits, in double (each
// division by a sum as a multiplication by its reciprocal: in double the
// difference is far below float32's rounding).
static void sinkhorn(const float *logits, size_t n, int64_t iters, double eps, float *out) {
	double c[MAX_STREAMS * MAX_STREAMS];
	for (size_t r = 0; r < n; r++) { // softmax over each row, + eps
		double mx = logits[r * n];
		for (size_t k = 1; k < n; k++)
			if (logits[r * n + k] > mx)
				mx = logits[r * n + k];
		double sum = 0;
		for (size_t k = 0; k < n; k++)
			sum += c[r * n + k] = exp((double)logits[r * n + k] - mx);
		double inv = 1 / sum;
		for (size_t k = 0; k < n; k++)
			c[r * n + k] = c[r * n + k] * inv + eps;
	}
	for (int64_t it = 0; it < iters; it++) {
		if (it > 0)
			for (size_t r = 0; r < n; r++) { // rows
				double sum = 0;
				for (size_t k = 0; k < n; k++)
					sum += c[r * n + k];
				double inv = 1 / (sum + eps);
				for (size_t k = 0; k < n; k++)
					c[r * n + k] *= inv;
			}
		for (size_t k = 0; k < n; k++) { // columns
			double sum = 0;
			for (size_t r = 0; r < n; r++)
				sum += c[r * n + k];
			double inv = 1 / (sum + eps);
			for (size_t r = 0; r < n; r++)
				c[r * n + k] *= inv;
		}
	}
	for (size_t i = 0; i < n * n; i++)
		out[i] = (float)c[i];
}

#define BLOCK 4 // tokens whose projections share each row of fn
#define MAX_ZW 96 // ≥ panels · qw for every m ≤ n²+2n, both packed layouts (coeffs_gemm)

// project4 is z[b][q] = s_b · fn_q for 4 tokens b (rows of s, stride nc)
// and every row q of fn: a 4-token × 2-row register block of 8-lane
// partial sums, so each chunk of fn is loaded once per 4 tokens and each
// chunk of a token's state once per 2 rows.
VECTOR static void project4(const float *restrict s, size_t nc, const float *restrict fn, size_t m,
                            float z[BLOCK][MAX_STREAMS * MAX_STREAMS + 2 * MAX_STREAMS]) {
	size_t q = 0;
	for (; q + 2 <= m; q += 2) {
		const float *f0 = fn + q * nc, *f1 = f0 + nc;
		v8 a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
		size_t i = 0;
		for (; i + 8 <= nc; i += 8) {
			v8 g0 = load8(f0 + i), g1 = load8(f1 + i), v;
			v = load8(s + i);
			a00 += v * g0, a01 += v * g1;
			v = load8(s + nc + i);
			a10 += v * g0, a11 += v * g1;
			v = load8(s + 2 * nc + i);
			a20 += v * g0, a21 += v * g1;
			v = load8(s + 3 * nc + i);
			a30 += v * g0, a31 += v * g1;
		}
		v8 acc[BLOCK][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
		for (int b = 0; b < BLOCK; b++)
			for (int r = 0; r < 2; r++) {
				const float *f = r ? f1 : f0;
				float t = 0;
				for (size_t k = i; k < nc; k++)
					t += s[b * nc + k] * f[k];
				z[b][q + r] = t + sum8(acc[b][r]);
			}
	}
	for (; q < m; q++)
		for (int b = 0; b < BLOCK; b++)
			z[b][q] = dot(s + b * nc, fn + q * nc, nc);
}

// project1 is z[q] = s · fn_q for one token: four rows at a time, so four
// chains of additions run side by side (decode's case).
VECTOR static void project1(const float *restrict s, size_t nc, const float *restrict fn, size_t m, float *z) {
	size_t q = 0;
	for (; q + 4 <= m; q += 4) {
		const float *f0 = fn + q * nc, *f1 = f0 + nc, *f2 = f1 + nc, *f3 = f2 + nc;
		v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
		size_t i = 0;
		for (; i + 8 <= nc; i += 8) {
			v8 v = load8(s + i);
			a0 += v * load8(f0 + i), a1 += v * load8(f1 + i);
			a2 += v * load8(f2 + i), a3 += v * load8(f3 + i);
		}
		float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
		for (; i < nc; i++)
			t0 += s[i] * f0[i], t1 += s[i] * f1[i], t2 += s[i] * f2[i], t3 += s[i] * f3[i];
		z[q] = t0 + sum8(a0), z[q + 1] = t1 + sum8(a1), z[q + 2] = t2 + sum8(a2), z[q + 3] = t3 + sum8(a3);
	}
	for (; q < m; q++)
		z[q] = dot(s, fn + q * nc, nc);
}

// ---- the coefficients of many tokens: the projection as a tiled GEMM ----
//
// At prefill the projection z = s · fnᵀ of T tokens is a [T, n·C] × [n·C, m]
// matrix product. fn is packed once per call into panels of qw rows
// transposed (panel g holds fn rows qw·g … qw·g+qw−1 as [n·C][qw], zeros
// past row m−1), and the product is an outer-product kernel: for each k,
// the vectors of a panel row times the broadcast s[t][k] of a block of
// tokens, the accumulators in registers, no horizontal sums. Two kernels:
// 8-lane vectors (AVX2 with FMA, or the baseline), panels of 24 rows (three
// vectors) and 4 tokens (12 accumulators of the 16 registers); and on CPUs
// with AVX-512, 16-lane vectors, panels of 32 rows and 8 tokens (16 of the
// 32 registers), picked at run time. A task takes its tokens a block at a
// time and the reduction KC values at a time: the block's state for KC
// values (x + post⊗y, widened) is built once in a buffer in L1 (or read in
// place), then multiplied with that stretch of every panel (from L2), so x
// and y are read once and fn once per block of tokens.

#define QW 24     // fn rows per packed panel, 8-lane kernel: three vectors
#define QW16 32   // the same, 16-lane kernel: two vectors
#define BLOCK16 8 // tokens per block, 16-lane kernel
#define KC 256    // reduction block (values of n·C)

static size_t panels_of(size_t m, size_t qw) { return (m + qw - 1) / qw; }

// pack_fn writes fn [m][nc] as panels_of(m, qw) panels [nc][qw] into p,
// 16 columns of fn at a time (so its reads and writes stay in L1). Rows
// past m−1 are zeros.
static void pack_fn(const float *fn, size_t m, size_t nc, size_t qw, float *p) {
	for (size_t g = 0; g < panels_of(m, qw); g++) {
		float *pg = p + g * nc * qw;
		for (size_t k0 = 0; k0 < nc; k0 += 16) {
			size_t kl = nc - k0 < 16 ? nc - k0 : 16;
			for (size_t r = 0; r < qw; r++) {
				size_t q = g * qw + r;
				const float *f = fn + q * nc + k0;
				for (size_t k = 0; k < kl; k++)
					pg[(k0 + k) * qw + r] = q < m ? f[k] : 0;
			}
		}
	}
}

// micro adds to z[t][0 … 8·nv) the products of nt tokens' state values
// a[t][0 … kl) with kl rows of a panel p (stride QW): nt ≤ 4 tokens × nv ≤ 3
// vectors of accumulators. Inlined with constant nt and nv, the loops unroll
// and the accumulators stay in registers.
static inline __attribute__((always_inline)) void micro(int nt, int nv, const float *const *a, size_t kl, const float *restrict p, float *const *z) {
	v8 acc[BLOCK][3];
#pragma GCC unroll 4
	for (int t = 0; t < nt; t++)
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			acc[t][v] = load8(z[t] + 8 * v);
	for (size_t k = 0; k < kl; k++) {
		v8 b[3];
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			b[v] = load8(p + k * QW + 8 * v);
#pragma GCC unroll 4
		for (int t = 0; t < nt; t++) {
			float s = a[t][k]; // broadcast once (vbroadcastss)
#pragma GCC unroll 3
			for (int v = 0; v < nv; v++)
				acc[t][v] += s * b[v];
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < nt; t++)
#pragma GCC unroll 3
		for (int v = 0; v < nv; v++)
			store8(z[t] + 8 * v, acc[t][v]);
}

VECTOR static void micro_any(int nt, int nv, const float *const *a, size_t kl, const float *restrict p, float *const *z) {
	if (nt == BLOCK) {
		if (nv == 3)
			micro(BLOCK, 3, a, kl, p, z);
		else if (nv == 2)
			micro(BLOCK, 2, a, kl, p, z);
		else
			micro(BLOCK, 1, a, kl, p, z);
		return;
	}
	for (int t = 0; t < nt; t++) { // the last tokens of a range, one at a time
		if (nv == 3)
			micro(1, 3, a + t, kl, p, z + t);
		else if (nv == 2)
			micro(1, 2, a + t, kl, p, z + t);
		else
			micro(1, 1, a + t, kl, p, z + t);
	}
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HAVE_WIDE 1
typedef float v16 __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) v16 load16(const float *p) {
	v16 v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline __attribute__((always_inline)) void store16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

static inline __attribute__((always_inline)) float sum16(v16 a) {
	v8 lo = {a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]}, hi = {a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]};
	return sum8(lo + hi);
}

// micro16 is micro with 16-lane vectors: nt ≤ 8 tokens × nv ≤ 2 vectors,
// panel stride QW16.
static inline __attribute__((always_inline)) void micro16(int nt, int nv, const float *const *a, size_t kl, const float *restrict p, float *const *z) {
	v16 acc[BLOCK16][2];
#pragma GCC unroll 8
	for (int t = 0; t < nt; t++)
#pragma GCC unroll 2
		for (int v = 0; v < nv; v++)
			acc[t][v] = load16(z[t] + 16 * v);
	for (size_t k = 0; k < kl; k++) {
		v16 b[2];
#pragma GCC unroll 2
		for (int v = 0; v < nv; v++)
			b[v] = load16(p + k * QW16 + 16 * v);
#pragma GCC unroll 8
		for (int t = 0; t < nt; t++) {
			float s = a[t][k];
#pragma GCC unroll 2
			for (int v = 0; v < nv; v++)
				acc[t][v] += s * b[v];
		}
	}
#pragma GCC unroll 8
	for (int t = 0; t < nt; t++)
#pragma GCC unroll 2
		for (int v = 0; v < nv; v++)
			store16(z[t] + 16 * v, acc[t][v]);
}

__attribute__((target("avx512f"))) static void micro16_any(int nt, int nv, const float *const *a, size_t kl, const float *restrict p, float *const *z) {
	if (nt == BLOCK16) {
		if (nv == 2)
			micro16(BLOCK16, 2, a, kl, p, z);
		else
			micro16(BLOCK16, 1, a, kl, p, z);
		return;
	}
	for (int t = 0; t < nt; t++) {
		if (nv == 2)
			micro16(1, 2, a + t, kl, p, z + t);
		else
			micro16(1, 1, a + t, kl, p, z + t);
	}
}

// micro16p is micro16 for a block of 8 tokens and m = 24 rows (n = 4)
// without the padding's idle lanes: micro16 gives each token two vectors,
// rows 0…15 and rows 16…31 of which 24…31 are padding (a quarter of its
// multiply-adds wasted); micro16p gives each pair of tokens (u, v) three:
// u's rows 0…15, v's rows 0…15, and u's rows 16…23 beside v's (rows 16…23
// of the panel loaded into both halves of a vector, the two broadcast
// state values joined by a lane shuffle, u's in lanes 0…7, v's in 8…15).
// 12 multiply-adds per k instead of 16, each lane the same sum in the same
// order as micro16's, so z is the same to the bit. Its panels are the
// 8-lane kernel's, 24 rows (QW), no padding; a block of fewer than 8
// tokens runs the 8-lane kernel on them. Measured (n = 4, C = 1024, 256
// tokens, bench/fused-kernels.md): HCPostCoeffsSinkhorn 0.89–0.92×
// micro16's time, HCCoeffsBoundary 0.92–0.94× (on panels of 32 rows whose
// rows 24…31 repeat 16…23: 0.92–0.93× and 0.94–0.95×; with a masked
// broadcast (vbroadcastss {k}) instead of the shuffle, 1.04–1.05×).
__attribute__((target("avx512f"))) static void micro16p(const float *const *a, size_t kl, const float *restrict p, float *const *z) {
	__m512 acc[4][3];
	for (int i = 0; i < 4; i++) {
		const float *zu = z[2 * i], *zv = z[2 * i + 1];
		acc[i][0] = _mm512_loadu_ps(zu);
		acc[i][2] = _mm512_loadu_ps(zv);
		acc[i][1] = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm256_loadu_ps(zu + 16))),
		                                                _mm256_castps_pd(_mm256_loadu_ps(zv + 16)), 1));
	}
	for (size_t k = 0; k < kl; k++) {
		__m512 b0 = _mm512_loadu_ps(p + k * QW);
		__m512 b1 = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(p + k * QW + 16))));
#pragma GCC unroll 4
		for (int i = 0; i < 4; i++) {
			__m512 u = _mm512_set1_ps(a[2 * i][k]), v = _mm512_set1_ps(a[2 * i + 1][k]);
			acc[i][0] = _mm512_fmadd_ps(u, b0, acc[i][0]);
			acc[i][1] = _mm512_fmadd_ps(_mm512_shuffle_f32x4(u, v, 0xe4), b1, acc[i][1]);
			acc[i][2] = _mm512_fmadd_ps(v, b0, acc[i][2]);
		}
	}
	for (int i = 0; i < 4; i++) {
		float *zu = z[2 * i], *zv = z[2 * i + 1];
		_mm512_storeu_ps(zu, acc[i][0]);
		_mm512_storeu_ps(zv, acc[i][2]);
		_mm256_storeu_ps(zu + 16, _mm512_castps512_ps256(acc[i][1]));
		_mm256_storeu_ps(zv + 16, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[i][1]), 1)));
	}
}

// pairs reports whether micro16p runs for n = 4 (MHCC_ORTOPS_NO_PAIRS=1
// turns it off, for measuring and testing micro16 on the same shapes; a
// kernel created under the other setting packs fn for each call).
static int pairs(void) {
	const char *e = getenv("MHCC_ORTOPS_NO_PAIRS");
	return e == NULL || *e == 0 || strcmp(e, "0") == 0;
}

// wide reports whether the 16-lane kernel runs: the CPU has AVX-512F and
// the environment does not set MHCC_ORTOPS_NO_AVX512 (read at each call,
// so a test can run both kernels in one process).
static int wide(void) {
	const char *e = getenv("MHCC_ORTOPS_NO_AVX512");
	return __builtin_cpu_supports("avx512f") && (e == NULL || *e == 0 || strcmp(e, "0") == 0);
}

// project1_16 is project1 in 16-lane vectors (AVX-512), eight rows at a
// time (eight chains of additions, enough to keep both FMA units busy):
// decode's projection. Measured (n = 4, C = 1024, one token, against
// project1 in the same iterations): the pair's time 0.95–0.99× (its A/A
// control 0.98–1.01×).
__attribute__((target("avx512f,fma"))) static void project1_16(const float *restrict s, size_t nc, const float *restrict fn, size_t m,
                                                               float *z) {
	size_t q = 0;
	for (; q + 8 <= m; q += 8) {
		const float *f = fn + q * nc;
		v16 acc[8];
#pragma GCC unroll 8
		for (int r = 0; r < 8; r++)
			acc[r] = (v16){0};
		size_t i = 0;
		for (; i + 16 <= nc; i += 16) {
			v16 v = load16(s + i);
#pragma GCC unroll 8
			for (int r = 0; r < 8; r++)
				acc[r] += v * load16(f + (size_t)r * nc + i);
		}
#pragma GCC unroll 8
		for (int r = 0; r < 8; r++) {
			float t = 0;
			for (size_t k = i; k < nc; k++)
				t += s[k] * f[(size_t)r * nc + k];
			z[q + (size_t)r] = t + sum16(acc[r]);
		}
	}
	for (; q < m; q++) {
		const float *f = fn + q * nc;
		v16 acc = {0};
		size_t i = 0;
		for (; i + 16 <= nc; i += 16)
			acc += load16(s + i) * load16(f + i);
		float t = 0;
		for (; i < nc; i++)
			t += s[i] * f[i];
		z[q] = t + sum16(acc);
	}
}
#else
#define HAVE_WIDE 0
static int wide(void) { return 0; }
static int pairs(void) { return 0; }
#endif

// project_one is project1 of token state s into z, in 16-lane vectors if
// j->wide: z[q] = s · fn_q.
static void project_one(const job *j, const float *s, float *z) {
	size_t nc = j->n * j->c, m = j->n * j->n + 2 * j->n;
#if HAVE_WIDE
	if (j->wide) {
		project1_16(s, nc, j->fn, m, z);
		return;
	}
#endif
	project1(s, nc, j->fn, m, z);
}

// sumsq is Σ a[i]², eight lanes at a time.
VECTOR static float sumsq(const float *a, size_t len) {
	v8 acc = {0}, acc1 = {0};
	size_t i = 0;
	for (; i + 16 <= len; i += 16) {
		v8 u = load8(a + i), v = load8(a + i + 8);
		acc += u * u, acc1 += v * v;
	}
	float r = 0;
	for (; i < len; i++)
		r += a[i] * a[i];
	return r + sum8(acc + acc1);
}

#if HAVE_WIDE
// block_state16 writes d[l] = x[l] + p·y[l] for l < len in 16-lane
// vectors (AVX-512) and returns Σ d². d may be x (float16: x widened in
// place).
__attribute__((target("avx512f,fma"))) static float block_state16(const float *x, const float *restrict y, float p, size_t len, float *d) {
	v16 acc = {0};
	size_t l = 0;
	for (; l + 16 <= len; l += 16) {
		v16 v = load16(x + l) + p * load16(y + l);
		store16(d + l, v);
		acc += v * v;
	}
	float r = 0;
	for (; l < len; l++) {
		d[l] = x[l] + p * y[l];
		r += d[l] * d[l];
	}
	return r + sum16(acc);
}
#endif

// block_state writes the float32 state of token t at values [k0, k0+kl) of
// its n·C into dst (x + post⊗y, widened) and returns Σ dst², in one pass
// for float32.
VECTOR static float block_state(const job *j, size_t t, size_t k0, size_t kl, float *restrict dst, float *restrict ybuf) {
	size_t c = j->c, nc = j->n * c;
	int f32 = j->k->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
	v8 acc = {0};
	float r = 0;
	for (size_t i = k0, end = k0 + kl; i < end;) { // one stream's part at a time
		size_t q = i / c, o = i % c, len = end - i < c - o ? end - i : c - o;
		float *d = dst + (i - k0);
		const float *xv = d;
		if (f32)
			xv = (const float *)j->x + t * nc + i;
		else
			load(d, j->x, t * nc + i, len, j->k->type);
		if (j->y == NULL) { // float16 x alone (float32 x alone is read in place)
			r += sumsq(d, len);
			i += len;
			continue;
		}
		float p = j->post_in[t * j->post_stride + q];
		const float *yv = (const float *)j->y + t * c + o;
		if (!f32) {
			load(ybuf, j->y, t * c + o, len, j->k->type);
			yv = ybuf;
		}
#if HAVE_WIDE
		if (j->wide) {
			r += block_state16(xv, yv, p, len, d);
			i += len;
			continue;
		}
#endif
		size_t l = 0;
		for (; l + 8 <= len; l += 8) {
			v8 v = load8(xv + l) + p * load8(yv + l);
			store8(d + l, v);
			acc += v * v;
		}
		for (; l < len; l++) {
			d[l] = xv[l] + p * yv[l];
			r += d[l] * d[l];
		}
		i += len;
	}
	return r + sum8(acc);
}

// prepare turns a token's projection z[m] and mean square into pre and
// post, and z[2n…] into the Sinkhorn's logits.
static void prepare(const job *j, size_t t, float *z, float meansq) {
	size_t n = j->n, m = n * n + 2 * n;
	float r = 1.0f / sqrtf(meansq + j->k->rms_eps);
	for (size_t q = 0; q < m; q++)
		z[q] = z[q] * r + j->base[q];
	for (size_t k = 0; k < n; k++) {
		j->pre_out[t * n + k] = 1.0f / (1.0f + expf(-z[k])) + j->k->eps;
		j->post_out[t * n + k] = 2.0f / (1.0f + expf(-z[n + k]));
	}
}

// finish is prepare and the Sinkhorn of one token.
static void finish(const job *j, size_t t, float *z, float meansq) {
	prepare(j, t, z, meansq);
	sinkhorn(z + 2 * j->n, j->n, j->k->iters, j->k->eps, j->comb_out + t * j->n * j->n);
}

typedef double v4d __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));

// SINKHORN_LANES defines NAME: sinkhorn for LANES tokens at once, one per
// lane of the double vectors VT (the same operations in the same order as
// sinkhorn on each lane): logits[b] and out[b] for token b.
#define SINKHORN_LANES(ATTR, NAME, VT, LANES)                                                                                   \
ATTR static void NAME(const float *const logits[LANES], size_t n, int64_t iters, double eps, float *const out[LANES]) { \
	VT c[MAX_STREAMS * MAX_STREAMS];                                                                                        \
	for (size_t r = 0; r < n; r++) { /* softmax over each row, + eps */                                                     \
		VT mx, sum = {0};                                                                                               \
		for (int b = 0; b < LANES; b++) {                                                                               \
			mx[b] = logits[b][r * n];                                                                               \
			for (size_t k = 1; k < n; k++)                                                                          \
				if (logits[b][r * n + k] > mx[b])                                                               \
					mx[b] = logits[b][r * n + k];                                                           \
		}                                                                                                               \
		for (size_t k = 0; k < n; k++) {                                                                                \
			for (int b = 0; b < LANES; b++)                                                                         \
				c[r * n + k][b] = exp((double)logits[b][r * n + k] - mx[b]);                                    \
			sum += c[r * n + k];                                                                                    \
		}                                                                                                               \
		VT inv = 1 / sum;                                                                                               \
		for (size_t k = 0; k < n; k++)                                                                                  \
			c[r * n + k] = c[r * n + k] * inv + eps;                                                                \
	}                                                                                                                       \
	for (int64_t it = 0; it < iters; it++) {                                                                                \
		if (it > 0)                                                                                                     \
			for (size_t r = 0; r < n; r++) { /* rows */                                                             \
				VT sum = {0};                                                                                   \
				for (size_t k = 0; k < n; k++)                                                                  \
					sum += c[r * n + k];                                                                    \
				VT inv = 1 / (sum + eps);                                                                       \
				for (size_t k = 0; k < n; k++)                                                                  \
					c[r * n + k] *= inv;                                                                    \
			}                                                                                                       \
		for (size_t k = 0; k < n; k++) { /* columns */                                                                  \
			VT sum = {0};                                                                                           \
			for (size_t r = 0; r < n; r++)                                                                          \
				sum += c[r * n + k];                                                                            \
			VT inv = 1 / (sum + eps);                                                                               \
			for (size_t r = 0; r < n; r++)                                                                          \
				c[r * n + k] *= inv;                                                                            \
		}                                                                                                               \
	}                                                                                                                       \
	for (int b = 0; b < LANES; b++)                                                                                         \
		for (size_t i = 0; i < n * n; i++)                                                                              \
			out[b][i] = (float)c[i][b];                                                                             \
}

// sinkhorn4: four tokens in 4-double vectors (AVX with FMA or the baseline).
SINKHORN_LANES(VECTOR, sinkhorn4, v4d, 4)

#if HAVE_WIDE
// sinkhorn8 is sinkhorn4 for eight tokens, in AVX-512's eight-double
// vectors, the same operations on each lane (the steps form one chain of
// dependent operations per group of tokens, so a group of eight takes
// about the time of a group of four). Measured (n = 4, C = 1024, 256
// tokens, 20 iterations): HCPostCoeffsSinkhorn 0.96× its time with
// sinkhorn4, HCCoeffsBoundary 0.97×.
SINKHORN_LANES(__attribute__((target("avx512f"))), sinkhorn8, v8d, 8)
#endif

// finish_block is finish for tokens t … t+bn−1 (z[b] of stride MAX_ZW),
// their Sinkhorns eight at a time with the 16-lane GEMM (AVX-512), else
// four.
static void finish_block(const job *j, size_t t, int bn, float (*z)[MAX_ZW], const float *ss) {
	size_t n = j->n, nc = n * j->c;
	for (int b = 0; b < bn; b++)
		prepare(j, t + (size_t)b, z[b], ss[b] / (float)nc);
	int b = 0;
#if HAVE_WIDE
	for (; j->wide && b + 8 <= bn; b += 8) {
		const float *in[8];
		float *out[8];
		for (int i = 0; i < 8; i++)
			in[i] = z[b + i] + 2 * n, out[i] = j->comb_out + (t + (size_t)(b + i)) * n * n;
		sinkhorn8(in, n, j->k->iters, j->k->eps, out);
	}
#endif
	for (; b + 4 <= bn; b += 4) {
		const float *in[4];
		float *out[4];
		for (int i = 0; i < 4; i++)
			in[i] = z[b + i] + 2 * n, out[i] = j->comb_out + (t + (size_t)(b + i)) * n * n;
		sinkhorn4(in, n, j->k->iters, j->k->eps, out);
	}
	for (; b < bn; b++)
		sinkhorn(z[b] + 2 * n, n, j->k->iters, j->k->eps, j->comb_out + (t + (size_t)b) * n * n);
}

// gemm_kblock adds to z[b] (b < bn) the products of the bn tokens' state
// values a[b][0 … kl), at values [k0, k0+kl) of nc (n·C; HCEntry's C),
// with every packed panel of fn (j->qw: the packing, 24 or 32).
static void gemm_kblock(const job *j, const float *const *a, int bn, size_t nc, size_t k0, size_t kl, float (*z)[MAX_ZW]) {
	size_t m = j->n * j->n + 2 * j->n, qw = j->qw, np = panels_of(m, qw);
	for (size_t g = 0; g < np; g++) {
		size_t rows = m - g * qw < qw ? m - g * qw : qw;
		float *zt[BLOCK16];
		for (int b = 0; b < bn; b++)
			zt[b] = z[b] + g * qw;
		const float *pg = j->packed + (g * nc + k0) * qw;
#if HAVE_WIDE
		if (j->pairs && bn == BLOCK16) {
			micro16p(a, kl, pg, zt);
			continue;
		}
		if (qw == QW16) {
			micro16_any(bn, (int)((rows + 15) / 16), a, kl, pg, zt);
			continue;
		}
#endif
		micro_any(bn, (int)((rows + 7) / 8), a, kl, pg, zt);
	}
}

// coeffs_gemm is coeffs_range for a range of tokens with fn packed
// (j->qw: the packing, 24 or 32), a block of tokens at a time.
static void coeffs_gemm(const job *j, size_t t0, size_t t1) {
	size_t nc = j->n * j->c;
	int block = j->block;
	float stack[STACK_FLOATS], *buf = scratch(stack, BLOCK16 * KC + KC);
	float *ybuf = buf + BLOCK16 * KC;
	int direct = j->k->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && j->y == NULL; // read x in place
	for (size_t tb = t0; tb < t1; tb += (size_t)block) {
		int bn = t1 - tb < (size_t)block ? (int)(t1 - tb) : block;
		float z[BLOCK16][MAX_ZW] __attribute__((aligned(64))) = {{0}}, ss[BLOCK16] = {0};
		for (size_t k0 = 0; k0 < nc; k0 += KC) {
			size_t kl = nc - k0 < KC ? nc - k0 : KC;
			const float *a[BLOCK16];
			for (int b = 0; b < bn; b++) {
				size_t t = tb + (size_t)b;
				// x comes from memory (a prefill's state is written long
				// before): ask for the token's next block while this one is
				// multiplied (measured: about 10% off the op at hidden 1024).
				size_t es = j->k->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT ? 4 : 2;
				size_t next = nc - k0 - kl < KC ? nc - k0 - kl : KC; // values in the next block
				for (size_t l = 0; l < next * es; l += 64)
					__builtin_prefetch((const char *)j->x + (t * nc + k0 + kl) * es + l);
				if (direct) {
					a[b] = (const float *)j->x + t * nc + k0;
					ss[b] += sumsq(a[b], kl);
				} else {
					a[b] = buf + (size_t)b * KC;
					ss[b] += block_state(j, t, k0, kl, buf + (size_t)b * KC, ybuf);
				}
			}
			gemm_kblock(j, a, bn, nc, k0, kl, z);
		}
		finish_block(j, tb, bn, z, ss);
	}
	unscratch(stack, buf);
}

// coeffs_block is the per-token path (fn not packed, or decode) for the
// bn ≤ BLOCK tokens from tb: each token's state into s (stride n·C), its
// mean square, the projection (four tokens at once when bn is BLOCK), then
// prepare and the Sinkhorn. HCCoeffsBoundary's decode tile keeps s for its
// boundary.
static void coeffs_block(const job *j, size_t tb, size_t bn, float *s, float *ybuf) {
	size_t n = j->n, nc = n * j->c, m = n * n + 2 * n;
	float r[BLOCK], z[BLOCK][MAX_STREAMS * MAX_STREAMS + 2 * MAX_STREAMS];
	for (size_t b = 0; b < bn; b++) {
		float *sb = s + b * nc;
		state_of(j, tb + b, sb, ybuf);
		r[b] = dot(sb, sb, nc) / (float)nc;
	}
	if (bn == BLOCK)
		project4(s, nc, j->fn, m, z);
	else
		for (size_t b = 0; b < bn; b++)
			project_one(j, s + b * nc, z[b]);
	for (size_t b = 0; b < bn; b++)
		finish(j, tb + b, z[b], r[b]);
}

static void coeffs_range(const job *j, size_t t0, size_t t1) {
	if (j->packed != NULL) {
		coeffs_gemm(j, t0, t1);
		return;
	}
	size_t n = j->n, nc = n * j->c, rows = t1 - t0 < BLOCK ? t1 - t0 : BLOCK;
	float stack[STACK_FLOATS], *s = scratch(stack, rows * nc + j->c); // one token's state at decode
	float *ybuf = s + rows * nc;
	for (size_t tb = t0; tb < t1; tb += BLOCK) {
		size_t bn = t1 - tb < BLOCK ? t1 - tb : BLOCK;
		coeffs_block(j, tb, bn, s, ybuf);
	}
	unscratch(stack, s);
}

// ---- the boundary: one pass over the state per token ----

// boundary_tail is boundary_row's values i … c−1, one at a time; it
// returns r plus their Σ h².
static inline __attribute__((always_inline)) float boundary_tail(size_t n, size_t c, size_t i, const float *restrict x, const float *restrict y,
                                                                 const float *post, const float *pre, const float *comb, float *restrict h,
                                                                 float *restrict mixed, float *restrict state, float r) {
	for (; i < c; i++) {
		float s[MAX_STREAMS], hv = 0;
		for (size_t q = 0; q < n; q++) {
			s[q] = x[q * c + i];
			if (y != NULL)
				s[q] += post[q] * y[i];
			if (state != NULL)
				state[q * c + i] = s[q];
		}
		hv = pre[0] * s[0];
		for (size_t q = 1; q < n; q++)
			hv += pre[q] * s[q];
		h[i] = hv;
		r += hv * hv;
		for (size_t k = 0; k < n; k++) {
			float mv = comb[k] * s[0];
			for (size_t q = 1; q < n; q++)
				mv += comb[q * n + k] * s[q];
			mixed[k * c + i] = mv;
		}
	}
	return r;
}

// boundary_row computes, for one token, from x [n][c] (float32), y [c]
// (or NULL) and the coefficients, in one pass over C eight lanes at a
// time: the state s = x + post⊗y (written to state if not NULL), the
// collapse h = Σ pre[i]·s[i] into h, mixed[k] = Σ comb[i,k]·s[i], and
// returns Σ h². Inlined with a constant n, the n state vectors stay in
// registers.
static inline __attribute__((always_inline)) float boundary_row(size_t n, size_t c, const float *restrict x, const float *restrict y,
                                                                const float *post, const float *pre, const float *comb,
                                                                float *restrict h, float *restrict mixed, float *restrict state) {
	v8 hh = {0};
	size_t i = 0;
	for (; i + 8 <= c; i += 8) {
		v8 s[MAX_STREAMS], hv = {0};
		v8 yv = y != NULL ? load8(y + i) : (v8){0};
#pragma GCC unroll 8
		for (size_t q = 0; q < n; q++) {
			s[q] = load8(x + q * c + i);
			if (y != NULL)
				s[q] += post[q] * yv;
			if (state != NULL)
				store8(state + q * c + i, s[q]);
		}
		hv = pre[0] * s[0];
#pragma GCC unroll 8
		for (size_t q = 1; q < n; q++)
			hv += pre[q] * s[q];
		store8(h + i, hv);
		hh += hv * hv;
#pragma GCC unroll 8
		for (size_t k = 0; k < n; k++) {
			v8 mv = comb[k] * s[0];
#pragma GCC unroll 8
			for (size_t q = 1; q < n; q++)
				mv += comb[q * n + k] * s[q];
			store8(mixed + k * c + i, mv);
		}
	}
	return boundary_tail(n, c, i, x, y, post, pre, comb, h, mixed, state, sum8(hh));
}

// BY_STREAMS returns F(n) with n a constant 2 … 8 (n > 8 as 8: the kernels
// refuse it earlier), so F, inlined, unrolls its loops over the streams.
#define BY_STREAMS(n, F)          \
	switch (n) {              \
	case 2:                   \
		return F(2);      \
	case 3:                   \
		return F(3);      \
	case 4:                   \
		return F(4);      \
	case 5:                   \
		return F(5);      \
	case 6:                   \
		return F(6);      \
	case 7:                   \
		return F(7);      \
	default:                  \
		return F(8);      \
	}

#define ROW(N) boundary_row(N, c, x, y, post, pre, comb, h, mixed, state)

// boundary_any is boundary_row for any n.
VECTOR static float boundary_any(size_t n, size_t c, const float *restrict x, const float *restrict y, const float *post, const float *pre,
                                 const float *comb, float *restrict h, float *restrict mixed, float *restrict state) {
	BY_STREAMS(n, ROW);
}

#if HAVE_WIDE
// collapse16 and mix16 are the boundary's arithmetic on 16 values of each
// of the n state vectors s, in boundary_row's order: the collapse
// h = Σ pre[q]·s[q], and stream k of the mixing, Σ comb[q,k]·s[q] (one
// stream at a time, so that only one is live).
static inline __attribute__((always_inline)) v16 collapse16(size_t n, const v16 *s, const float *pre) {
	v16 hv = pre[0] * s[0];
#pragma GCC unroll 8
	for (size_t q = 1; q < n; q++)
		hv += pre[q] * s[q];
	return hv;
}

static inline __attribute__((always_inline)) v16 mix16(size_t n, size_t k, const v16 *s, const float *comb) {
	v16 mv = comb[k] * s[0];
#pragma GCC unroll 8
	for (size_t q = 1; q < n; q++)
		mv += comb[q * n + k] * s[q];
	return mv;
}

// boundary_row16 is boundary_row in 16-lane vectors (AVX-512), the same
// values of h, mixed and state; Σ h² in 16 partial sums. Measured with
// block_state16 against the 8-lane forms (n = 4, C = 1024, 256 tokens, the
// same session, interleaved): HCCoeffsBoundary 0.93–0.95× the time,
// HCPostCoeffsSinkhorn (block_state16 only) 0.94–0.98×.
static inline __attribute__((always_inline)) float boundary_row16(size_t n, size_t c, const float *restrict x, const float *restrict y,
                                                                  const float *post, const float *pre, const float *comb, float *restrict h,
                                                                  float *restrict mixed, float *restrict state) {
	v16 hh = {0};
	size_t i = 0;
	for (; i + 16 <= c; i += 16) {
		v16 s[MAX_STREAMS];
		v16 yv = y != NULL ? load16(y + i) : (v16){0};
#pragma GCC unroll 8
		for (size_t q = 0; q < n; q++) {
			s[q] = load16(x + q * c + i);
			if (y != NULL)
				s[q] += post[q] * yv;
			if (state != NULL)
				store16(state + q * c + i, s[q]);
		}
		v16 hv = collapse16(n, s, pre);
		store16(h + i, hv);
		hh += hv * hv;
#pragma GCC unroll 8
		for (size_t k = 0; k < n; k++)
			store16(mixed + k * c + i, mix16(n, k, s, comb));
	}
	return boundary_tail(n, c, i, x, y, post, pre, comb, h, mixed, state, sum16(hh));
}

#define ROW16(N) boundary_row16(N, c, x, y, post, pre, comb, h, mixed, state)

__attribute__((target("avx512f,fma"))) static float boundary_any16(size_t n, size_t c, const float *restrict x, const float *restrict y,
                                                                  const float *post, const float *pre, const float *comb, float *restrict h,
                                                                  float *restrict mixed, float *restrict state) {
	BY_STREAMS(n, ROW16);
}
#endif

// boundary is boundary_any, in 16-lane vectors if wide (j->wide).
static float boundary(int wide, size_t n, size_t c, const float *restrict x, const float *restrict y, const float *post, const float *pre,
                      const float *comb, float *restrict h, float *restrict mixed, float *restrict state) {
#if HAVE_WIDE
	if (wide)
		return boundary_any16(n, c, x, y, post, pre, comb, h, mixed, state);
#endif
	(void)wide;
	return boundary_any(n, c, x, y, post, pre, comb, h, mixed, state);
}

// norm_row writes out[i] = h[i]·inv·w[i].
VECTOR static void norm_row(float *out, const float *h, float inv, const float *restrict w, size_t c) { // out may be h
	size_t i = 0;
	for (; i + 8 <= c; i += 8)
		store8(out + i, load8(h + i) * inv * load8(w + i));
	for (; i < c; i++)
		out[i] = h[i] * inv * w[i];
}

// put_normed writes token t's normed from its collapse h (c floats) and
// h's sum of squares hh: the RMSNorm with eps and the weight, straight
// into a float32 output, else in h and then stored in x's type.
static void put_normed(const job *j, size_t t, float *h, float hh, float eps) {
	size_t c = j->c;
	float inv = 1.0f / sqrtf(hh / (float)c + eps);
	if (j->k->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
		norm_row((float *)j->normed + t * c, h, inv, j->wf, c);
		return;
	}
	norm_row(h, h, inv, j->wf, c);
	store(j->normed, t * c, h, c, j->k->type);
}

static void boundary_range(const job *j, size_t t0, size_t t1) {
	size_t n = j->n, c = j->c, nc = n * c;
	int f32 = j->k->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
	// float16: x, y widened into buffers, mixed and state computed into
	// buffers and rounded on store; float32: read and written in place.
	float stack[STACK_FLOATS], *buf = scratch(stack, f32 ? c : 3 * nc + 2 * c);
	float *h = buf, *xb = h + c, *yb = xb + nc, *mb = yb + c, *sb = mb + nc;
	for (size_t t = t0; t < t1; t++) {
		const float *pre = j->pre + t * j->pre_stride, *comb = j->comb + t * j->comb_stride;
		const float *post = j->y != NULL ? j->post_in + t * j->post_stride : NULL;
		const float *x, *y = NULL;
		float *mixed, *state = NULL;
		if (f32) {
			x = (const float *)j->x + t * nc;
			if (j->y != NULL)
				y = (const float *)j->y + t * c;
			mixed = (float *)j->mixed + t * nc;
			if (j->state != NULL)
				state = (float *)j->state + t * nc;
		} else {
			load(xb, j->x, t * nc, nc, j->k->type);
			if (j->y != NULL)
				load(yb, j->y, t * c, c, j->k->type), y = yb;
			x = xb, mixed = mb;
			if (j->state != NULL)
				state = sb;
		}
		float hh = boundary(j->wide, n, c, x, y, post, pre, comb, h, mixed, state);
		put_normed(j, t, h, hh, j->k->eps);
		if (!f32) {
			store(j->mixed, t * nc, mb, nc, j->k->type);
			if (j->state != NULL)
				store(j->state, t * nc, sb, nc, j->k->type);
		}
	}
	unscratch(stack, buf);
}

// ---- HCCoeffsBoundary: the coefficients and the boundary of a tile ----
//
// The two ops of a sublayer in one pass over x and y: a tile of tokens'
// state s = x + post⊗y (float32, unrounded) is built once into a scratch
// buffer that stays in L2 (CB_TILE_BYTES), with each token's Σ s²; the
// projection of the tile (the tiled GEMM with fn packed, or at decode
// project4/project_one on fn), prepare and the Sinkhorns write pre, post
// and comb; then the boundary (collapse, mixing, RMSNorm, state) reads the
// tile's s from the buffer. Every step is the one HCPostCoeffsSinkhorn and
// HCBoundary make, in the same order, so the outputs are theirs bit for
// bit (TestCoeffsBoundaryMatchesPair).
//
// Speed against the pair (n = 4, C = 1024, 1 thread, bench/fused-kernels.md):
// one token 0.95–0.99×; 256 tokens, with the swap pass below, 0.79–0.80×
// with x and y coming from memory, 0.81–0.85× with them in the caches
// (in three phases, tile built, projected, then read by the boundary:
// 0.99–1.00× and 1.04–1.05× — the pair's second read of x hits L3 and
// costs about what the tile's writes and reads do). Tile size (before
// the 16-lane forms, the op over the pair): 32 tokens (512 KB) 0.96–0.97×, 16 (256 KB) 0.985–0.995×, 8 (128 KB)
// 0.97–1.01×. Building the state a GEMM block at a time into the tile,
// interleaved with the projection as coeffs_gemm does in L1, measured
// 1.03–1.12×: its writes into the tile slow the GEMM.

#ifndef CB_TILE_BYTES                 // -D: for measuring other sizes
#define CB_TILE_BYTES (512 * 1024) // the tile's state, at most (or one GEMM block)
#endif
#define CB_MAX_TILE 32 // tokens per tile, at most (GEMM_MIN_CHUNK: a task's tokens at 1 thread)

// cb_tile is the tokens per tile of the prefill (GEMM) path: as many whole
// GEMM blocks as fit CB_TILE_BYTES, at least one.
static size_t cb_tile(size_t nc, size_t block) {
	size_t t = CB_TILE_BYTES / (nc * sizeof(float)) / block * block;
	if (t < block)
		t = block;
	return t > CB_MAX_TILE ? CB_MAX_TILE : t;
}

// cb_boundary is the boundary of token t from its state s (float32 [n·C]):
// HCBoundary's boundary_range on x = s with the post-mix already applied.
static void cb_boundary(const job *j, size_t t, const float *s, float *h, float *mb) {
	size_t n = j->n, c = j->c, nc = n * c;
	int f32 = j->k->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
	const float *pre = j->pre_out + t * n, *comb = j->comb_out + t * n * n;
	float *mixed = f32 ? (float *)j->mixed + t * nc : mb;
	float *state = f32 && j->state != NULL ? (float *)j->state + t * nc : NULL;
	float hh = boundary(j->wide, n, c, s, NULL, NULL, pre, comb, h, mixed, state);
	put_normed(j, t, h, hh, j->k->norm_eps);
	if (f32)
		return;
	store(j->mixed, t * nc, mb, nc, j->k->type);
	if (j->state != NULL)
		store(j->state, t * nc, s, nc, j->k->type);
}

// cb_state writes the state of token t into s (float32 [n·C]), a GEMM
// block at a time as coeffs_gemm builds it, and returns its Σ s².
static float cb_state(const job *j, size_t t, float *s, float *ybuf) {
	size_t nc = j->n * j->c;
	float ss = 0;
	for (size_t k0 = 0; k0 < nc; k0 += KC)
		ss += block_state(j, t, k0, nc - k0 < KC ? nc - k0 : KC, s + k0, ybuf);
	return ss;
}

// cb_project is the projection, prepare and Sinkhorns of the bn tokens
// from tb whose state is in the tile s (stride n·C; Σ s² in ss), a GEMM
// block of tokens at a time.
static void cb_project(const job *j, size_t tb, size_t bn, const float *s, const float *ss) {
	size_t nc = j->n * j->c;
	int block = j->block;
	float z[CB_MAX_TILE][MAX_ZW] __attribute__((aligned(64)));
	for (size_t g = 0; g < bn; g += (size_t)block) {
		int gn = bn - g < (size_t)block ? (int)(bn - g) : block;
		memset(z[g], 0, (size_t)gn * sizeof z[0]);
		for (size_t k0 = 0; k0 < nc; k0 += KC) {
			const float *a[BLOCK16];
			for (int b = 0; b < gn; b++)
				a[b] = s + (g + (size_t)b) * nc + k0;
			gemm_kblock(j, a, gn, nc, k0, nc - k0 < KC ? nc - k0 : KC, z + g);
		}
		finish_block(j, tb + g, gn, z + g, ss + g);
	}
}

// ---- the swap: one tile's boundary and the next tile's state in one pass ----
//
// At prefill the op reads x and y (from memory in a model) and writes mixed
// and normed; with the tile built, projected and then read by the
// boundary, the reads and the writes happen in separate phases. The swap
// pass instead takes each token slot of the tile in turn and, 16 values
// at a time, computes the boundary of the tile's token from its state and
// then the next tile's token's state from x and y into the same place: the
// writes of mixed and the reads of x and y go on together, and the next
// tile is built while this one's state is read. Tiles of 8 tokens (one
// GEMM block, 128 KB of state at n = 4, C = 1024) and tasks of 128 tokens
// (so a task has tiles to chain; the first tile of a task is built alone,
// its last boundary done alone), or two tasks below 256 tokens so that a
// shorter prefill still uses two threads (cb_swap_chunk). For n = 4 with
// AVX-512, float32, y given and the state output left out (as in every compiled model), C a
// multiple of KC (≤ CB_SWAP_MAX_C); otherwise tiles of CB_TILE_BYTES in
// three phases. The swap writes mixed with non-temporal stores (when
// it is 64-byte aligned, as onnxruntime's buffers are): mixed is next
// read by the following sublayer's op, after its block has streamed its
// weights through the caches, so writing it around the caches saves the
// reads for ownership of its lines; normed, read next, is stored as
// usual. Measured (n = 4, C = 1024, 256 tokens, 1 thread,
// BenchmarkCoeffsBoundary's cold case, merged-b against merged in the same
// iterations; bench/fused-kernels.md): 0.83–0.86× the three-phase op;
// tiles of 16 or 32 tokens 0.86–0.90×, tasks of 64 tokens 0.87–0.88×,
// the whole call as one task 0.82–0.85×; in the model, per call, 0.89–0.93×.
// The non-temporal stores of mixed, against the swap pass without them:
// 0.86–0.92× (cold), 0.87–0.90× (caches warm), in the model 0.89–0.91× (they
// were slower in the three-phase op, where mixed's lines were written
// from a tile in L2). Tile i's boundary and tile i+1's state token by
// token (each its own pass over C) was slower (1.07×), and so was the
// swap of tile i interleaved with tile i+1's GEMM (two tiles, 1.03–1.05×).

#define CB_SWAP_TILE BLOCK16 // tokens per tile, swap pass
#define CB_SWAP_CHUNK 128    // tokens per thread-pool task, swap pass
#define CB_SWAP_MAX_C 8192   // C at most (swap pass: part's size)

// cb_swap_chunk is the tokens per task of the swap pass: CB_SWAP_CHUNK, or
// half the tokens (at least GEMM_MIN_CHUNK) when that would make one task.
static size_t cb_swap_chunk(size_t tokens) {
	if (tokens >= 2 * CB_SWAP_CHUNK)
		return CB_SWAP_CHUNK;
	size_t half = (tokens + 1) / 2;
	return half < GEMM_MIN_CHUNK ? GEMM_MIN_CHUNK : half;
}

#if HAVE_WIDE
// cb_swap16 is, for n = 4, cb_boundary of token to from its state s and,
// in the same pass over C, cb_state of token tn into s (each 16 values of
// the old state read before the new ones are written there). The same
// operations in the same order as boundary_row16 and block_state16 (Σ s²
// in partial sums of KC values, added stream by stream), so the same bits.
// Returns tn's Σ s²; h is a buffer of C floats. If nt, mixed (64-byte
// aligned) is written with non-temporal stores (cb_swap_range fences).
__attribute__((target("avx512f,fma"))) static float cb_swap16(const job *j, size_t to, size_t tn, float *restrict s, float *restrict h, int nt) {
	enum { N = 4 };
	size_t c = j->c, nc = N * c;
	const float *pre = j->pre_out + to * N, *comb = j->comb_out + to * N * N;
	float *restrict mixed = (float *)j->mixed + to * nc;
	const float *restrict x = (const float *)j->x + tn * nc, *restrict y = (const float *)j->y + tn * c;
	const float *post = j->post_in + tn * j->post_stride;
	float part[N][CB_SWAP_MAX_C / KC]; // Σ s² of each stream's blocks of KC values
	v16 hh = {0}, acc[N];
	for (int q = 0; q < N; q++)
		acc[q] = (v16){0};
	for (size_t i = 0; i < c; i += 16) {
		v16 so[N];
#pragma GCC unroll 4
		for (int q = 0; q < N; q++)
			so[q] = load16(s + q * c + i);
		v16 hv = collapse16(N, so, pre);
		store16(h + i, hv);
		hh += hv * hv;
#pragma GCC unroll 4
		for (int k = 0; k < N; k++) {
			v16 mv = mix16(N, (size_t)k, so, comb);
			if (nt)
				_mm512_stream_ps(mixed + k * c + i, (__m512)mv);
			else
				store16(mixed + k * c + i, mv);
		}
		v16 yv = load16(y + i);
#pragma GCC unroll 4
		for (int q = 0; q < N; q++) {
			v16 v = load16(x + q * c + i) + post[q] * yv;
			store16(s + q * c + i, v);
			acc[q] += v * v;
		}
		if ((i + 16) % KC == 0)
			for (int q = 0; q < N; q++) {
				part[q][i / KC] = sum16(acc[q]);
				acc[q] = (v16){0};
			}
	}
	float inv = 1.0f / sqrtf(sum16(hh) / (float)c + j->k->norm_eps);
	norm_row((float *)j->normed + to * c, h, inv, j->wf, c);
	float ss = 0;
	for (int q = 0; q < N; q++)
		for (size_t b = 0; b < c / KC; b++)
			ss += part[q][b];
	return ss;
}
#endif

// cb_swaps reports whether the swap pass runs for the call (see above).
static int cb_swaps(const job *j) {
	return HAVE_WIDE && j->wide && j->packed != NULL && j->n == 4 && j->c % KC == 0 && j->c <= CB_SWAP_MAX_C &&
	       j->k->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && j->y != NULL && j->state == NULL;
}

// cb_swap_range is cb_range by the swap pass: the first tile's state, then
// for each tile its projection and the swap into the next.
static void cb_swap_range(const job *j, size_t t0, size_t t1) {
#if HAVE_WIDE
	size_t nc = j->n * j->c, tile = t1 - t0 < CB_SWAP_TILE ? t1 - t0 : CB_SWAP_TILE;
	float stack[STACK_FLOATS], *s = scratch(stack, tile * nc + j->c), *h = s + tile * nc;
	float ss[CB_SWAP_TILE];
	int nt = ((uintptr_t)j->mixed & 63) == 0; // _mm512_stream_ps needs 64-byte alignment
	for (size_t b = 0; b < tile; b++)
		ss[b] = cb_state(j, t0 + b, s + b * nc, NULL);
	for (size_t tb = t0; tb < t1; tb += tile) {
		size_t bn = t1 - tb < tile ? t1 - tb : tile, next = tb + bn;
		size_t nbn = t1 - next < tile ? t1 - next : tile;
		cb_project(j, tb, bn, s, ss);
		for (size_t b = 0; b < bn; b++) {
			if (b < nbn)
				ss[b] = cb_swap16(j, tb + b, next + b, s + b * nc, h, nt);
			else
				cb_boundary(j, tb + b, s + b * nc, h, NULL);
		}
	}
	_mm_sfence(); // the non-temporal stores are visible before the task ends
	unscratch(stack, s);
#else
	(void)j, (void)t0, (void)t1;
#endif
}

static void cb_range(const job *j, size_t t0, size_t t1) {
	if (cb_swaps(j)) {
		cb_swap_range(j, t0, t1);
		return;
	}
	size_t n = j->n, c = j->c, nc = n * c;
	int block = j->packed == NULL ? BLOCK : j->block;
	size_t tile = j->packed == NULL ? BLOCK : cb_tile(nc, (size_t)block);
	if (tile > t1 - t0)
		tile = t1 - t0;
	float stack[STACK_FLOATS], *buf = scratch(stack, tile * nc + 2 * c + nc);
	float *s = buf, *ybuf = s + tile * nc, *h = ybuf + c, *mb = h + c; // mb: float16's mixed
	for (size_t tb = t0; tb < t1; tb += tile) {
		size_t bn = t1 - tb < tile ? t1 - tb : tile;
		if (j->packed != NULL) {
			float ss[CB_MAX_TILE];
			for (size_t b = 0; b < bn; b++) // the tile's state, as coeffs_gemm builds it
				ss[b] = cb_state(j, tb + b, s + b * nc, ybuf);
			cb_project(j, tb, bn, s, ss);
		} else { // decode: coeffs_range's steps
			coeffs_block(j, tb, bn, s, ybuf);
		}
		for (size_t b = 0; b < bn; b++)
			cb_boundary(j, tb + b, s + b * nc, h, mb);
	}
	unscratch(stack, buf);
}

// ---- HCHead: the last post-mix, the head's coefficients, collapse and RMSNorm ----
//
// A tile of up to HEAD_TILE tokens at a time (their x, n·C values each,
// stays in L2 between the passes), in two passes over each token's x and y:
//   1. over n·C, HEAD_KC values of a stream at a time, token after token
//      (so the n rows of fn for those values, read from L2 once per tile,
//      stay in L1 for the tile's tokens): s = x + post⊗y (stored only for
//      the state output), Σ s² and the n dot products s · fn_r (fn read as
//      is, [n, n·C], not pre-scaled); then z = scale·((s·fnᵀ)·r) + base,
//      pre = sigmoid(z) + eps;
//   2. per token, over C: s again (the first pass's expression, recomputed),
//      h = Σ pre[q]·s[q] (into a buffer of C floats) and Σ h²; then
//      normed = h·inv·w.
// Every sum in float32; each token's partial sums are formed in the same
// order whatever the tile and the thread count. Below 5 streams the first
// pass keeps two sets of partial sums (n + 1 chains of multiply-adds would
// leave the FMA units waiting on latency). Measured (n = 4, C = 1024, one
// thread, BenchmarkHead): 256 tokens 0.29 ms (16-lane) / 0.33 ms (8-lane)
// with x in the caches, 0.37 / 0.40 ms from memory; a first version (one
// token at a time, its state stored in L1 and re-read, fn's rows read from
// L2 for every token) 0.35 / 0.34 and 0.56 / 0.60 ms. Tiles of 4 or 16
// tokens, steps of 128 or 512 values: within the noise of these.

#define HEAD_TILE 8   // tokens per tile, at most
#define HEAD_KC 256   // values of a stream per step of the first pass
#define HEAD_TILE_BYTES (256 * 1024) // the tile's x, at most (or one token)
#define HEAD_ACC (2 * MAX_STREAMS + 2) // partial sums per token: a[n], b[n], Σ s² (two)

// head_tile is the tokens per tile for x of nc values a token.
static size_t head_tile(size_t nc) {
	size_t t = HEAD_TILE_BYTES / (nc * sizeof(float));
	return t < 1 ? 1 : t > HEAD_TILE ? HEAD_TILE : t;
}

// HEAD_PASSES defines PROJ and COLLAPSE in vectors VT of W lanes (LD, ST,
// SUM: their load, store and horizontal sum).
//
// PROJ is the first pass for the bn tokens of a tile: from token b's x[b]
// (float32: the input, or float16's widened), y[b] and post[b], its pre
// into pre[b] and, if s[b] is not NULL, its state into s[b]; acc holds
// bn · HEAD_ACC vectors (the partial sums between steps).
//
// COLLAPSE is the second pass of one token: h from its x, y, post and
// pre; it returns Σ h².
#define HEAD_PASSES(PROJ, COLLAPSE, VT, W, LD, ST, SUM)                                                                                \
	static inline __attribute__((always_inline)) int PROJ(size_t n, size_t c, const job *j, size_t bn, const float *const *x,        \
	                                                      const float *const *y, const float *const *post, float *const *s,       \
	                                                      VT (*acc)[HEAD_ACC], float (*pre)[MAX_STREAMS]) {                         \
		size_t nc = n * c;                                                                                                          \
		const float *restrict fn = j->fn;                                                                                           \
		int two = n <= 4;                                                                                                           \
		float tail[HEAD_TILE][MAX_STREAMS + 1];                                                                                     \
		for (size_t t = 0; t < bn; t++) {                                                                                           \
			for (size_t r = 0; r < HEAD_ACC; r++)                                                                               \
				acc[t][r] = (VT){0};                                                                                        \
			for (size_t r = 0; r <= n; r++)                                                                                     \
				tail[t][r] = 0;                                                                                             \
		}                                                                                                                           \
		for (size_t q = 0; q < n; q++)                                                                                              \
			for (size_t i0 = 0; i0 < c; i0 += HEAD_KC) {                                                                        \
				size_t end = c - i0 < HEAD_KC ? c : i0 + HEAD_KC;                                                           \
				const float *restrict fq = fn + q * c;                                                                      \
				for (size_t t = 0; t < bn; t++) {                                                                           \
					const float *xq = x[t] + q * c, *restrict yt = y[t];                                                \
					float *sq_ = s[t] != NULL ? s[t] + q * c : NULL, p = post[t][q];                                    \
					VT a[MAX_STREAMS], b[MAX_STREAMS], sq = acc[t][2 * MAX_STREAMS], sq1 = acc[t][2 * MAX_STREAMS + 1]; \
					_Pragma("GCC unroll 8") for (size_t r = 0; r < n; r++) a[r] = acc[t][r],                            \
					                                                      b[r] = acc[t][MAX_STREAMS + r];           \
					size_t i = i0;                                                                                      \
					if (two)                                                                                            \
						for (; i + 2 * W <= end; i += 2 * W) {                                                      \
							VT u = LD(xq + i) + p * LD(yt + i), v = LD(xq + i + W) + p * LD(yt + i + W);        \
							if (sq_ != NULL)                                                                    \
								ST(sq_ + i, u), ST(sq_ + i + W, v);                                         \
							sq += u * u, sq1 += v * v;                                                          \
							_Pragma("GCC unroll 8") for (size_t r = 0; r < n; r++) {                           \
								a[r] += u * LD(fq + r * nc + i);                                            \
								b[r] += v * LD(fq + r * nc + i + W);                                        \
							}                                                                                   \
						}                                                                                           \
					for (; i + W <= end; i += W) {                                                                      \
						VT u = LD(xq + i) + p * LD(yt + i);                                                         \
						if (sq_ != NULL)                                                                            \
							ST(sq_ + i, u);                                                                     \
						sq += u * u;                                                                                \
						_Pragma("GCC unroll 8") for (size_t r = 0; r < n; r++) a[r] += u * LD(fq + r * nc + i);    \
					}                                                                                                   \
					for (; i < end; i++) {                                                                              \
						float v = xq[i] + p * yt[i];                                                                \
						if (sq_ != NULL)                                                                            \
							sq_[i] = v;                                                                         \
						tail[t][n] += v * v;                                                                        \
						for (size_t r = 0; r < n; r++)                                                              \
							tail[t][r] += v * fq[r * nc + i];                                                   \
					}                                                                                                   \
					_Pragma("GCC unroll 8") for (size_t r = 0; r < n; r++) acc[t][r] = a[r],                            \
					                                                      acc[t][MAX_STREAMS + r] = b[r];           \
					acc[t][2 * MAX_STREAMS] = sq, acc[t][2 * MAX_STREAMS + 1] = sq1;                                    \
				}                                                                                                           \
			}                                                                                                                   \
		for (size_t t = 0; t < bn; t++) {                                                                                           \
			float ss = tail[t][n] + SUM(acc[t][2 * MAX_STREAMS] + acc[t][2 * MAX_STREAMS + 1]);                                 \
			float rr = 1.0f / sqrtf(ss / (float)nc + j->k->rms_eps);                                                            \
			for (size_t r = 0; r < n; r++) {                                                                                    \
				float z = j->scale * ((tail[t][r] + SUM(acc[t][r] + acc[t][MAX_STREAMS + r])) * rr) + j->base[r];           \
				pre[t][r] = 1.0f / (1.0f + expf(-z)) + j->k->eps;                                                           \
			}                                                                                                                   \
		}                                                                                                                           \
		return 0;                                                                                                                   \
	}                                                                                                                                   \
                                                                                                                                            \
	static inline __attribute__((always_inline)) float COLLAPSE(size_t n, size_t c, const float *restrict x, const float *restrict y,  \
	                                                            const float *post, const float *pre, float *restrict h) {          \
		VT hh = {0};                                                                                                                \
		float th = 0;                                                                                                               \
		size_t i = 0;                                                                                                               \
		for (; i + W <= c; i += W) {                                                                                                \
			VT yv = LD(y + i), hv = pre[0] * (LD(x + i) + post[0] * yv);                                                        \
			_Pragma("GCC unroll 8") for (size_t q = 1; q < n; q++) hv += pre[q] * (LD(x + q * c + i) + post[q] * yv);          \
			ST(h + i, hv);                                                                                                      \
			hh += hv * hv;                                                                                                      \
		}                                                                                                                           \
		for (; i < c; i++) {                                                                                                        \
			float hv = pre[0] * (x[i] + post[0] * y[i]);                                                                        \
			for (size_t q = 1; q < n; q++)                                                                                      \
				hv += pre[q] * (x[q * c + i] + post[q] * y[i]);                                                             \
			h[i] = hv;                                                                                                          \
			th += hv * hv;                                                                                                      \
		}                                                                                                                           \
		return th + SUM(hh);                                                                                                        \
	}

HEAD_PASSES(head_proj, head_collapse, v8, 8, load8, store8, sum8)

#define HEAD_PROJ(N) head_proj(N, c, j, bn, x, y, post, s, acc, pre)
#define HEAD_COLLAPSE(N) head_collapse(N, c, x, y, post, pre, h)

// head_proj_any and head_collapse_any are head_proj and head_collapse for any n.
VECTOR static int head_proj_any(size_t n, size_t c, const job *j, size_t bn, const float *const *x, const float *const *y,
                                const float *const *post, float *const *s, float (*pre)[MAX_STREAMS]) {
	v8 acc[HEAD_TILE][HEAD_ACC];
	BY_STREAMS(n, HEAD_PROJ);
}

VECTOR static float head_collapse_any(size_t n, size_t c, const float *restrict x, const float *restrict y, const float *post, const float *pre,
                                      float *restrict h) {
	BY_STREAMS(n, HEAD_COLLAPSE);
}

#if HAVE_WIDE
HEAD_PASSES(head_proj16, head_collapse16, v16, 16, load16, store16, sum16)

#define HEAD_PROJ16(N) head_proj16(N, c, j, bn, x, y, post, s, acc, pre)
#define HEAD_COLLAPSE16(N) head_collapse16(N, c, x, y, post, pre, h)

// head_proj_any16 and head_collapse_any16: the same in 16-lane vectors (AVX-512).
__attribute__((target("avx512f,fma"))) static int head_proj_any16(size_t n, size_t c, const job *j, size_t bn, const float *const *x,
                                                                 const float *const *y, const float *const *post, float *const *s,
                                                                 float (*pre)[MAX_STREAMS]) {
	v16 acc[HEAD_TILE][HEAD_ACC];
	BY_STREAMS(n, HEAD_PROJ16);
}

__attribute__((target("avx512f,fma"))) static float head_collapse_any16(size_t n, size_t c, const float *restrict x, const float *restrict y,
                                                                       const float *post, const float *pre, float *restrict h) {
	BY_STREAMS(n, HEAD_COLLAPSE16);
}
#endif

// head_range is HCHead for tokens t0 … t1−1, a tile at a time.
static void head_range(const job *j, size_t t0, size_t t1) {
	size_t n = j->n, c = j->c, nc = n * c, tile = head_tile(nc);
	if (tile > t1 - t0)
		tile = t1 - t0;
	int f32 = j->k->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, keep = j->state != NULL;
	// h; float16: the tile's x and y widened, and its states if kept
	float stack[STACK_FLOATS], *buf = scratch(stack, c + (f32 ? 0 : tile * (nc + c + (keep ? nc : 0))));
	float *h = buf, *xb = h + c, *yb = xb + tile * nc, *sb = yb + tile * c;
	for (size_t tb = t0; tb < t1; tb += tile) {
		size_t bn = t1 - tb < tile ? t1 - tb : tile;
		const float *x[HEAD_TILE], *y[HEAD_TILE], *post[HEAD_TILE];
		float *s[HEAD_TILE], pre[HEAD_TILE][MAX_STREAMS];
		for (size_t b = 0; b < bn; b++) {
			size_t t = tb + b;
			post[b] = j->post_in + t * j->post_stride;
			s[b] = NULL;
			if (f32) {
				x[b] = (const float *)j->x + t * nc;
				y[b] = (const float *)j->y + t * c;
				if (keep) // the state straight into the output
					s[b] = (float *)j->state + t * nc;
			} else {
				load(xb + b * nc, j->x, t * nc, nc, j->k->type);
				load(yb + b * c, j->y, t * c, c, j->k->type);
				x[b] = xb + b * nc, y[b] = yb + b * c;
				if (keep)
					s[b] = sb + b * nc;
			}
		}
#if HAVE_WIDE
		if (j->wide)
			head_proj_any16(n, c, j, bn, x, y, post, s, pre);
		else
#endif
			head_proj_any(n, c, j, bn, x, y, post, s, pre);
		for (size_t b = 0; b < bn; b++) {
			size_t t = tb + b;
			float hh;
#if HAVE_WIDE
			if (j->wide)
				hh = head_collapse_any16(n, c, x[b], y[b], post[b], pre[b], h);
			else
#endif
				hh = head_collapse_any(n, c, x[b], y[b], post[b], pre[b], h);
			put_normed(j, t, h, hh, j->k->norm_eps);
			if (f32)
				continue;
			if (keep)
				store(j->state, t * nc, s[b], nc, j->k->type);
		}
	}
	unscratch(stack, buf);
}

// ---- HCEntry: the start of the model, from the embedding alone ----
//
// The state is n copies of e, so the op never builds it: Σ sf² = n·Σ e²,
// sf · fn_qᵀ = e · fsum_qᵀ with fsum [m, C] the sum of fn's n blocks of C
// columns (fsum[q, i] = Σ_k fn[q, k·C + i], summed once when the session
// creates the kernel if fn is a constant, else per call), h = (Σ pre)·e
// (so Σ h² = (Σ pre)²·Σ e²) and mixed[k] = (Σ_j comb[j, k])·e. A call
// reads C values per token and writes normed and mixed. At prefill the
// projection is the coefficient ops' tiled GEMM (gemm_kblock) over fsum
// packed, a block of tokens at a time (4, or 8 with AVX-512): the block's
// rows of e (read in place for float32) are multiplied with the packed
// fsum (m·C floats, 96 KB at n = 4, C = 1024, in L2), KC values at a time;
// then prepare and the Sinkhorns (finish_block), then one pass per token
// writing normed and mixed (with AVX-512, float32 and C a multiple of 16,
// mixed with non-temporal stores: the next sublayer reads it after its
// block has been through the caches). At decode (fewer than
// GEMM_MIN_TOKENS tokens) each token's projection is project4/project1 on
// the unpacked fsum. Every sum in float32, in another order than the
// ordinary lowering's (within the tests' 1e-5). Measured (n = 4,
// C = 1024, one thread, BenchmarkEntry, a 2-core machine shared with
// other work): 256 tokens 0.40-0.41 ms (16-lane) / 0.44-0.45 ms (8-lane),
// e from memory 0.46 / 0.48-0.50 ms (the Expand, HCCoeffsSinkhorn and
// HCPremixNorm it replaces: 2.2 ms in onnxruntime's profile); 16 tokens
// 0.023 ms; one token 0.005 ms. Of the 256-token call (perf, before the
// non-temporal stores) 40% is the pass writing normed and mixed (5 MB),
// 20% the projection, 10% the Sinkhorns.

// entry_fsum writes fsum [m, C] of fn [m, n·C] into out.
static void entry_fsum(const float *fn, size_t m, size_t n, size_t c, float *out) {
	for (size_t q = 0; q < m; q++) {
		float *o = out + q * c;
		const float *f = fn + q * n * c;
		memcpy(o, f, c * sizeof(float));
		for (size_t k = 1; k < n; k++)
			axpy(o, f + k * c, 1.0f, c);
	}
}

// entry_row writes one token's normed = e·a·w and mixed[k] = cs[k]·e
// (float32).
VECTOR static void entry_row(const float *restrict e, const float *restrict w, float a, const float *cs, size_t n, size_t c,
                             float *restrict normed, float *restrict mixed) {
	size_t i = 0;
	for (; i + 8 <= c; i += 8) {
		v8 v = load8(e + i);
		store8(normed + i, v * a * load8(w + i));
		for (size_t k = 0; k < n; k++)
			store8(mixed + k * c + i, cs[k] * v);
	}
	for (; i < c; i++) {
		normed[i] = e[i] * a * w[i];
		for (size_t k = 0; k < n; k++)
			mixed[k * c + i] = cs[k] * e[i];
	}
}

#if HAVE_WIDE
// entry_row16 is entry_row in 16-lane vectors (AVX-512) for C a multiple
// of 16, mixed (64-byte aligned) written with non-temporal stores.
__attribute__((target("avx512f,fma"))) static void entry_row16(const float *restrict e, const float *restrict w, float a, const float *cs, size_t n,
                                                               size_t c, float *restrict normed, float *restrict mixed) {
	for (size_t i = 0; i < c; i += 16) {
		v16 v = load16(e + i);
		store16(normed + i, v * a * load16(w + i));
		for (size_t k = 0; k < n; k++)
			_mm512_stream_ps(mixed + k * c + i, (__m512)(cs[k] * v));
	}
}
#endif

// entry_out is the boundary of token t from its e (float32, Σ e² in ss):
// normed and mixed from pre and comb (already written); buf holds C floats
// (float16's outputs before rounding).
static void entry_out(const job *j, size_t t, const float *e, float ss, float *buf) {
	size_t n = j->n, c = j->c;
	const float *pre = j->pre_out + t * n, *comb = j->comb_out + t * n * n;
	float p = 0, cs[MAX_STREAMS];
	for (size_t i = 0; i < n; i++)
		p += pre[i];
	for (size_t k = 0; k < n; k++) {
		cs[k] = comb[k];
		for (size_t i = 1; i < n; i++)
			cs[k] += comb[i * n + k];
	}
	float a = p / sqrtf(p * p * ss / (float)c + j->k->norm_eps); // h·inv = e·(Σ pre)·inv
	if (j->k->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
#if HAVE_WIDE
		if (j->wide && c % 16 == 0 && ((uintptr_t)j->mixed & 63) == 0) {
			entry_row16(e, j->wf, a, cs, n, c, (float *)j->normed + t * c, (float *)j->mixed + t * n * c);
			return;
		}
#endif
		entry_row(e, j->wf, a, cs, n, c, (float *)j->normed + t * c, (float *)j->mixed + t * n * c);
		return;
	}
	for (size_t i = 0; i < c; i++)
		buf[i] = e[i] * a * j->wf[i];
	store(j->normed, t * c, buf, c, j->k->type);
	for (size_t k = 0; k < n; k++) {
		for (size_t i = 0; i < c; i++)
			buf[i] = cs[k] * e[i];
		store(j->mixed, (t * n + k) * c, buf, c, j->k->type);
	}
}

// entry_range is HCEntry for tokens t0 … t1−1 (j->fn is fsum [m, C]).
static void entry_range(const job *j, size_t t0, size_t t1) {
	size_t n = j->n, c = j->c, m = n * n + 2 * n;
	int f32 = j->k->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
	size_t block = j->packed != NULL ? (size_t)j->block : BLOCK;
	// float16: the block's e widened; the output row buffer
	float stack[STACK_FLOATS], *buf = scratch(stack, (f32 ? 0 : block * c) + c);
	float *eb = buf, *ob = buf + (f32 ? 0 : block * c);
	for (size_t tb = t0; tb < t1; tb += block) {
		size_t bn = t1 - tb < block ? t1 - tb : block;
		const float *e[BLOCK16];
		float ss[BLOCK16];
		for (size_t b = 0; b < bn; b++) {
			if (f32) {
				e[b] = (const float *)j->x + (tb + b) * c;
			} else {
				load(eb + b * c, j->x, (tb + b) * c, c, j->k->type);
				e[b] = eb + b * c;
			}
			ss[b] = sumsq(e[b], c);
		}
		if (j->packed != NULL) {
			float z[BLOCK16][MAX_ZW] __attribute__((aligned(64))) = {{0}}, ssn[BLOCK16];
			for (size_t k0 = 0; k0 < c; k0 += KC) {
				const float *a[BLOCK16];
				for (size_t b = 0; b < bn; b++)
					a[b] = e[b] + k0;
				gemm_kblock(j, a, (int)bn, c, k0, c - k0 < KC ? c - k0 : KC, z);
			}
			for (size_t b = 0; b < bn; b++)
				ssn[b] = (float)n * ss[b]; // finish_block divides by n·C
			finish_block(j, tb, (int)bn, z, ssn);
		} else {
			float z[BLOCK][MAX_STREAMS * MAX_STREAMS + 2 * MAX_STREAMS];
			if (bn == BLOCK) // the block's rows are contiguous (e, or float16's eb)
				project4(e[0], c, j->fn, m, z);
			else
				for (size_t b = 0; b < bn; b++) {
#if HAVE_WIDE
					if (j->wide) {
						project1_16(e[b], c, j->fn, m, z[b]);
						continue;
					}
#endif
					project1(e[b], c, j->fn, m, z[b]);
				}
			for (size_t b = 0; b < bn; b++)
				finish(j, tb + b, z[b], ss[b] / (float)c);
		}
		for (size_t b = 0; b < bn; b++)
			entry_out(j, tb + b, e[b], ss[b], ob);
	}
#if HAVE_WIDE
	if (j->wide)
		_mm_sfence(); // entry_row16's non-temporal stores are visible before the task ends
#endif
	unscratch(stack, buf);
}

static void task(void *data, size_t i) {
	const job *j = data;
	size_t t0 = i * j->chunk, t1 = t0 + j->chunk;
	if (t1 > j->tokens)
		t1 = j->tokens;
	if (j->k->kind == COEFFS_BOUNDARY)
		cb_range(j, t0, t1);
	else if (j->k->kind == HEAD)
		head_range(j, t0, t1);
	else if (j->k->kind == ENTRY)
		entry_range(j, t0, t1);
	else if (j->k->kind == COEFFS || j->k->kind == POST_COEFFS)
		coeffs_range(j, t0, t1);
	else
		boundary_range(j, t0, t1);
}

// tiled_projection sets up the token-tiled projection of a call whose
// projection matrix j->fn is [m, nc]: the micro-kernel (pairs, the panel
// width, tokens per block) and the packed matrix, the kernel's packing of
// a constant fn when it fits, else j->fn packed into *packed for this call
// (the caller frees it).
static OrtStatus *tiled_projection(const kernel *k, job *j, size_t m, size_t nc, float **packed) {
	j->pairs = j->wide && m == 24 && pairs();
	j->qw = j->wide && !j->pairs ? QW16 : QW;
	j->block = j->wide ? BLOCK16 : BLOCK;
	if (k->packed != NULL && k->packed_m == m && k->packed_nc == nc && k->packed_qw == j->qw) {
		j->packed = k->packed;
		return NULL;
	}
	// fn is not a constant (or MHCC_ORTOPS_NO_AVX512 changed)
	if ((*packed = malloc(panels_of(m, j->qw) * j->qw * nc * sizeof(float))) == NULL)
		return fail(k, "out of memory");
	pack_fn(j->fn, m, nc, j->qw, *packed);
	j->packed = *packed;
	return NULL;
}

// run_tasks runs a call's tokens as tasks of at least min_chunk tokens:
// on the calling thread when there is one, else over the session's
// intra-op thread pool.
static OrtStatus *run_tasks(OrtKernelContext *ctx, job *j, size_t min_chunk) {
	if (j->tokens == 0)
		return NULL;
	size_t tasks = (j->tokens + min_chunk - 1) / min_chunk;
	j->chunk = (j->tokens + tasks - 1) / tasks;
	if (tasks == 1) {
		task(j, 0);
		return NULL;
	}
	return api->KernelContext_ParallelFor(ctx, task, tasks, 0, j);
}

// ---- the OrtCustomOp glue ----

typedef struct {
	size_t rank;
	int64_t dims[8];
	ONNXTensorElementDataType type;
	const void *data;
} tensor;

// widen_w points j->wf at the norm weight w as float32: w itself, or a
// copy widened once per call into *owned (the caller frees it).
static OrtStatus *widen_w(const kernel *k, job *j, const tensor *w, float **owned) {
	if (w->type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
		j->wf = w->data;
		return NULL;
	}
	if ((*owned = malloc(j->c * sizeof(float))) == NULL)
		return fail(k, "out of memory");
	load(*owned, w->data, 0, j->c, w->type);
	j->wf = *owned;
	return NULL;
}

#define CHECK(expr)                      \
	do {                                 \
		OrtStatus *status_ = (expr);     \
		if (status_ != NULL)             \
			return status_;              \
	} while (0)

static OrtStatus *input(OrtKernelContext *ctx, size_t i, tensor *t) {
	const OrtValue *v;
	OrtTensorTypeAndShapeInfo *info;
	void *data;
	CHECK(api->KernelContext_GetInput(ctx, i, &v));
	CHECK(api->GetTensorTypeAndShape(v, &info));
	OrtStatus *st = api->GetDimensionsCount(info, &t->rank);
	if (st == NULL && t->rank > 8)
		st = api->CreateStatus(ORT_INVALID_ARGUMENT, "mhcc ortops: rank above 8");
	if (st == NULL)
		st = api->GetDimensions(info, t->dims, t->rank);
	if (st == NULL)
		st = api->GetTensorElementType(info, &t->type);
	api->ReleaseTensorTypeAndShapeInfo(info);
	CHECK(st);
	CHECK(api->GetTensorMutableData((OrtValue *)v, &data));
	t->data = data;
	return NULL;
}

static OrtStatus *output(OrtKernelContext *ctx, size_t i, const int64_t *dims, size_t rank, void **data) {
	OrtValue *v = NULL;
	*data = NULL;
	CHECK(api->KernelContext_GetOutput(ctx, i, dims, rank, &v));
	if (v == NULL) // an omitted optional output
		return NULL;
	return api->GetTensorMutableData(v, data);
}

// coeff checks a float32 coefficient of shape lead+tail, or tail alone
// (static mHC, stride 0), and returns its per-token stride.
static OrtStatus *coeff(const kernel *k, const tensor *t, const char *name, const tensor *x, size_t tail, size_t *stride) {
	size_t lead = x->rank - 2, n = (size_t)x->dims[x->rank - 2];
	if (t->type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
		return fail(k, "input %s must be float32", name);
	int full = t->rank == lead + tail, alone = t->rank == tail;
	for (size_t i = 0; full && i < lead; i++)
		full = t->dims[i] == x->dims[i];
	for (size_t i = 0; i < tail && (full || alone); i++)
		if (t->dims[t->rank - 1 - i] != (int64_t)n)
			full = alone = 0;
	if (!full && !alone)
		return fail(k, "input %s has a shape that fits neither x's leading dims and %zu stream axes nor %zu stream axes alone", name, tail, tail);
	*stride = full ? (tail == 1 ? n : n * n) : 0;
	return NULL;
}

// entry_compute is compute for HCEntry: e [lead, C], fn [m, n·C], base [m],
// w [C] -> pre, post [lead, n], comb [lead, n, n], normed [lead, C],
// mixed [lead, n, C], n the streams attribute.
static OrtStatus *entry_compute(const kernel *k, OrtKernelContext *ctx) {
	tensor e, fn, base, w;
	CHECK(input(ctx, 0, &e));
	if (e.rank < 1 || e.rank > 7)
		return fail(k, "input e has rank %zu, want [..., C] of rank 1 to 7", e.rank);
	if (e.type != k->type)
		return fail(k, "input e has element type %d, the kernel was made for %d", (int)e.type, (int)k->type);
	size_t n = (size_t)k->streams, c = (size_t)e.dims[e.rank - 1], m = n * n + 2 * n, lr = e.rank - 1;
	job j = {.k = k, .n = n, .c = c, .x = e.data, .wide = wide(), .tokens = 1};
	for (size_t i = 0; i < lr; i++)
		j.tokens *= (size_t)e.dims[i];
	CHECK(input(ctx, 1, &fn));
	CHECK(input(ctx, 2, &base));
	CHECK(input(ctx, 3, &w));
	if (fn.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || fn.rank != 2 || fn.dims[0] != (int64_t)m || fn.dims[1] != (int64_t)(n * c))
		return fail(k, "input fn must be float32 [%zu, %zu]", m, n * c);
	if (base.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || base.rank != 1 || base.dims[0] != (int64_t)m)
		return fail(k, "input base must be float32 [%zu]", m);
	if (w.type != e.type || w.rank != 1 || w.dims[0] != (int64_t)c)
		return fail(k, "input w must have e's type and shape [%zu]", c);
	j.base = base.data;
	int64_t dims[10];
	memcpy(dims, e.dims, lr * sizeof(int64_t));
	void *p;
	dims[lr] = (int64_t)n;
	CHECK(output(ctx, 0, dims, lr + 1, &p));
	j.pre_out = p;
	CHECK(output(ctx, 1, dims, lr + 1, &p));
	j.post_out = p;
	dims[lr + 1] = (int64_t)n;
	CHECK(output(ctx, 2, dims, lr + 2, &p));
	j.comb_out = p;
	CHECK(output(ctx, 3, e.dims, e.rank, &j.normed));
	dims[lr + 1] = (int64_t)c;
	CHECK(output(ctx, 4, dims, lr + 2, &j.mixed));
	if (j.pre_out == NULL || j.post_out == NULL || j.comb_out == NULL || j.normed == NULL || j.mixed == NULL)
		return fail(k, "all five outputs are required");
	float *wf_owned = NULL, *fsum_owned = NULL, *packed = NULL;
	CHECK(widen_w(k, &j, &w, &wf_owned));
	if (k->fsum != NULL && k->fsum_m == m && k->fsum_c == c) {
		j.fn = k->fsum;
	} else { // fn is not a constant: sum it for this call
		if ((fsum_owned = malloc(m * c * sizeof(float))) == NULL) {
			free(wf_owned);
			return fail(k, "out of memory");
		}
		entry_fsum(fn.data, m, n, c, fsum_owned);
		j.fn = fsum_owned;
	}
	__atomic_add_fetch(&calls[k->kind], 1, __ATOMIC_SEQ_CST);
	size_t min_chunk = MIN_CHUNK;
	OrtStatus *st = NULL;
	if (j.tokens >= GEMM_MIN_TOKENS) {
		st = tiled_projection(k, &j, m, c, &packed);
		min_chunk = GEMM_MIN_CHUNK;
	}
	if (st == NULL)
		st = run_tasks(ctx, &j, min_chunk);
	free(packed);
	free(fsum_owned);
	free(wf_owned);
	return st;
}

static OrtStatus *ORT_API_CALL compute(void *op_kernel, OrtKernelContext *ctx) {
	const kernel *k = op_kernel;
	if (k->kind == ENTRY)
		return entry_compute(k, ctx);
	tensor x;
	CHECK(input(ctx, 0, &x));
	if (x.rank < 2)
		return fail(k, "input x has rank %zu, want ≥ 2", x.rank);
	if (x.type != k->type)
		return fail(k, "input x has element type %d, the kernel was made for %d", (int)x.type, (int)k->type);
	job j = {.k = k, .n = (size_t)x.dims[x.rank - 2], .c = (size_t)x.dims[x.rank - 1], .x = x.data};
	float *wf_owned = NULL; // w widened (float16)
	j.wide = wide();
	if (j.n < MIN_STREAMS || j.n > MAX_STREAMS)
		return fail(k, "x has %zu streams, want %d to %d", j.n, MIN_STREAMS, MAX_STREAMS);
	j.tokens = 1;
	for (size_t i = 0; i + 2 < x.rank; i++)
		j.tokens *= (size_t)x.dims[i];
	size_t iy = k->kind == POST_COEFFS ? 3 : k->kind == BOUNDARY || k->kind == COEFFS_BOUNDARY ? 4 : k->kind == HEAD ? 5 : 0;
	if (iy) {
		tensor y, post;
		CHECK(input(ctx, iy, &y));
		CHECK(input(ctx, iy + 1, &post));
		int ok = y.type == x.type && y.rank == x.rank - 1 && y.dims[y.rank - 1] == x.dims[x.rank - 1];
		for (size_t i = 0; ok && i + 2 < x.rank; i++)
			ok = y.dims[i] == x.dims[i];
		if (!ok)
			return fail(k, "input y must have x's type and shape without the stream axis");
		CHECK(coeff(k, &post, "post", &x, 1, &j.post_stride));
		j.y = y.data;
		j.post_in = post.data;
	}
	int64_t lead[8];
	memcpy(lead, x.dims, (x.rank - 2) * sizeof(int64_t));
	if (has_coeffs(k->kind)) {
		tensor fn, base;
		CHECK(input(ctx, 1, &fn));
		CHECK(input(ctx, 2, &base));
		size_t m = j.n * j.n + 2 * j.n;
		if (fn.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || fn.rank != 2 || fn.dims[0] != (int64_t)m || fn.dims[1] != (int64_t)(j.n * j.c))
			return fail(k, "input fn must be float32 [%zu, %zu]", m, j.n * j.c);
		if (base.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || base.rank != 1 || base.dims[0] != (int64_t)m)
			return fail(k, "input base must be float32 [%zu]", m);
		j.fn = fn.data;
		j.base = base.data;
		int64_t dims[8];
		memcpy(dims, lead, sizeof lead);
		dims[x.rank - 2] = (int64_t)j.n;
		void *p;
		CHECK(output(ctx, 0, dims, x.rank - 1, &p));
		j.pre_out = p;
		CHECK(output(ctx, 1, dims, x.rank - 1, &p));
		j.post_out = p;
		dims[x.rank - 1] = (int64_t)j.n;
		CHECK(output(ctx, 2, dims, x.rank, &p));
		j.comb_out = p;
	}
	if (k->kind == HEAD) { // fn [n, n·C], base [n], scale [1], w [C] -> normed [lead, C], state [lead, n, C] (optional)
		tensor fn, base, scale, w;
		CHECK(input(ctx, 1, &fn));
		CHECK(input(ctx, 2, &base));
		CHECK(input(ctx, 3, &scale));
		CHECK(input(ctx, 4, &w));
		if (fn.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || fn.rank != 2 || fn.dims[0] != (int64_t)j.n || fn.dims[1] != (int64_t)(j.n * j.c))
			return fail(k, "input fn must be float32 [%zu, %zu]", j.n, j.n * j.c);
		if (base.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || base.rank != 1 || base.dims[0] != (int64_t)j.n)
			return fail(k, "input base must be float32 [%zu]", j.n);
		if (scale.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || scale.rank > 1 || (scale.rank == 1 && scale.dims[0] != 1))
			return fail(k, "input scale must be float32 [1]");
		if (w.type != x.type || w.rank != 1 || w.dims[0] != (int64_t)j.c)
			return fail(k, "input w must have x's type and shape [%zu]", j.c);
		j.fn = fn.data;
		j.base = base.data;
		j.scale = *(const float *)scale.data;
		CHECK(widen_w(k, &j, &w, &wf_owned));
		int64_t dims[8];
		memcpy(dims, lead, sizeof lead);
		dims[x.rank - 2] = (int64_t)j.c;
		OrtStatus *st = output(ctx, 0, dims, x.rank - 1, &j.normed);
		size_t outs = 0;
		if (st == NULL && (st = api->KernelContext_GetOutputCount(ctx, &outs)) == NULL && outs > 1)
			st = output(ctx, 1, x.dims, x.rank, &j.state); // NULL if omitted ("")
		if (st == NULL && j.normed == NULL)
			st = fail(k, "output normed is required");
		if (st != NULL) {
			free(wf_owned);
			return st;
		}
	} else if (k->kind != COEFFS && k->kind != POST_COEFFS) { // the boundary's inputs and outputs
		tensor w;
		CHECK(input(ctx, 3, &w));
		if (w.type != x.type || w.rank != 1 || w.dims[0] != (int64_t)j.c)
			return fail(k, "input w must have x's type and shape [%zu]", j.c);
		if (k->kind == COEFFS_BOUNDARY) { // pre and comb are this op's own
			j.pre = j.pre_out, j.pre_stride = j.n;
			j.comb = j.comb_out, j.comb_stride = j.n * j.n;
		} else {
			tensor pre, comb;
			CHECK(input(ctx, 1, &pre));
			CHECK(input(ctx, 2, &comb));
			CHECK(coeff(k, &pre, "pre", &x, 1, &j.pre_stride));
			CHECK(coeff(k, &comb, "comb", &x, 2, &j.comb_stride));
			j.pre = pre.data;
			j.comb = comb.data;
		}
		CHECK(widen_w(k, &j, &w, &wf_owned));
		int64_t dims[8];
		memcpy(dims, lead, sizeof lead);
		dims[x.rank - 2] = (int64_t)j.c;
		size_t o = k->kind == COEFFS_BOUNDARY ? 3 : 0; // normed, mixed, state: outputs o, o+1, o+2
		OrtStatus *st = output(ctx, o, dims, x.rank - 1, &j.normed);
		if (st == NULL)
			st = output(ctx, o + 1, x.dims, x.rank, &j.mixed);
		size_t outs = 0;
		if (st == NULL && k->kind != PREMIX_NORM && (st = api->KernelContext_GetOutputCount(ctx, &outs)) == NULL && outs > o + 2)
			st = output(ctx, o + 2, x.dims, x.rank, &j.state); // NULL if omitted ("")
		if (st == NULL && (j.normed == NULL || j.mixed == NULL))
			st = fail(k, "outputs normed and mixed are required");
		if (st != NULL) {
			free(wf_owned);
			return st;
		}
	}
	__atomic_add_fetch(&calls[k->kind], 1, __ATOMIC_SEQ_CST);
	float *packed = NULL;
	size_t min_chunk = MIN_CHUNK;
	OrtStatus *st = NULL;
	if (has_coeffs(k->kind) && j.tokens >= GEMM_MIN_TOKENS) {
		st = tiled_projection(k, &j, j.n * j.n + 2 * j.n, j.n * j.c, &packed);
		min_chunk = k->kind == COEFFS_BOUNDARY && cb_swaps(&j) ? cb_swap_chunk(j.tokens) : GEMM_MIN_CHUNK;
	}
	if (st == NULL)
		st = run_tasks(ctx, &j, min_chunk);
	free(packed);
	free(wf_owned);
	return st;
}

typedef struct {
	OrtCustomOp op; // first: ORT hands back this pointer
	enum kind kind;
} custom_op;

static const char *ORT_API_CALL get_name(const OrtCustomOp *op) { return op_names[((const custom_op *)op)->kind]; }
static const char *ORT_API_CALL get_ep(const OrtCustomOp *op) {
	(void)op;
	return "CPUExecutionProvider";
}
static size_t ORT_API_CALL input_count(const OrtCustomOp *op) { return n_inputs[((const custom_op *)op)->kind]; }
static size_t ORT_API_CALL output_count(const OrtCustomOp *op) { return n_outputs[((const custom_op *)op)->kind]; }

// isT reports whether input i of an op has the state's type T (x, y, w),
// which the schema leaves open (UNDEFINED: onnxruntime then gives the T
// outputs the type of these inputs); the coefficients are float32.
static int isT(enum kind kind, size_t i) {
	switch (kind) {
	case COEFFS:
		return i == 0;
	case POST_COEFFS:
		return i == 0 || i == 3;
	case HEAD:
		return i == 0 || i == 4 || i == 5;
	case ENTRY:
		return i == 0 || i == 3;
	default:
		return i == 0 || i == 3 || i == 4;
	}
}

static ONNXTensorElementDataType ORT_API_CALL input_type(const OrtCustomOp *op, size_t i) {
	return isT(((const custom_op *)op)->kind, i) ? ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
}

static ONNXTensorElementDataType ORT_API_CALL output_type(const OrtCustomOp *op, size_t i) {
	enum kind kind = ((const custom_op *)op)->kind;
	return kind == COEFFS || kind == POST_COEFFS || ((kind == COEFFS_BOUNDARY || kind == ENTRY) && i < 3) ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT
	                                                                                  : ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
}

static OrtCustomOpInputOutputCharacteristic ORT_API_CALL required(const OrtCustomOp *op, size_t i) {
	(void)op, (void)i;
	return INPUT_OUTPUT_REQUIRED;
}

// The state output (HCBoundary's third, HCCoeffsBoundary's sixth, HCHead's
// second) is optional: a graph that does not read it leaves it out, and the
// kernel does not write it.
static OrtCustomOpInputOutputCharacteristic ORT_API_CALL output_characteristic(const OrtCustomOp *op, size_t i) {
	enum kind kind = ((const custom_op *)op)->kind;
	return (kind == BOUNDARY && i == 2) || (kind == COEFFS_BOUNDARY && i == 5) || (kind == HEAD && i == 1) ? INPUT_OUTPUT_OPTIONAL
	                                                                                                      : INPUT_OUTPUT_REQUIRED;
}

static OrtMemType ORT_API_CALL mem_type(const OrtCustomOp *op, size_t i) {
	(void)op, (void)i;
	return OrtMemTypeDefault;
}

static int ORT_API_CALL one(const OrtCustomOp *op) {
	(void)op;
	return 1;
}

static int ORT_API_CALL start_version(const OrtCustomOp *op) {
	(void)op;
	return 1;
}

static int ORT_API_CALL end_version(const OrtCustomOp *op) {
	(void)op;
	return 2147483647;
}

// input_info reads the element type and shape of input i at kernel
// creation (dims -1 where symbolic); type UNDEFINED if unknown, *shaped 0
// (and rank 0) if the shape is unknown: not inferred, as for a graph input
// declared without one or the output of a function body onnxruntime
// inlined (TensorTypeAndShape_HasShape, onnxruntime 1.24, this library's
// floor), or of rank above 8.
static void input_info(const OrtKernelInfo *info, size_t i, ONNXTensorElementDataType *type, size_t *rank, int64_t *dims, int *shaped) {
	OrtTypeInfo *ti = NULL;
	const OrtTensorTypeAndShapeInfo *tt;
	*type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
	*rank = 0;
	*shaped = 0;
	if (api->KernelInfo_GetInputTypeInfo(info, i, &ti) != NULL || ti == NULL)
		return;
	if (api->CastTypeInfoToTensorInfo(ti, &tt) == NULL && tt != NULL) {
		if (api->GetTensorElementType(tt, type) != NULL)
			*type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
		*shaped = api->TensorTypeAndShape_HasShape(tt);
		if (!*shaped || api->GetDimensionsCount(tt, rank) != NULL || *rank > 8 || api->GetDimensions(tt, dims, *rank) != NULL)
			*rank = 0, *shaped = 0;
	}
	api->ReleaseTypeInfo(ti);
}

// constant_fn sets *data to fn (input 1) and dims to its shape if fn is a
// constant float32 [m ≥ 1, n·C ≥ 1], else *data to NULL.
static OrtStatus *constant_fn(const OrtKernelInfo *info, void **data, int64_t dims[2]) {
	int constant = 0;
	const OrtValue *v = NULL;
	*data = NULL;
	if (api->KernelInfoGetConstantInput_tensor(info, 1, &constant, &v) != NULL || !constant || v == NULL)
		return NULL; // not a constant, or a runtime without the call: pack per call
	tensor fn;
	OrtTensorTypeAndShapeInfo *ti;
	CHECK(api->GetTensorTypeAndShape(v, &ti));
	OrtStatus *st = api->GetDimensionsCount(ti, &fn.rank);
	if (st == NULL && fn.rank == 2)
		st = api->GetDimensions(ti, fn.dims, 2);
	if (st == NULL)
		st = api->GetTensorElementType(ti, &fn.type);
	api->ReleaseTensorTypeAndShapeInfo(ti);
	CHECK(st);
	if (fn.rank != 2 || fn.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || fn.dims[0] < 1 || fn.dims[1] < 1)
		return NULL; // compute reports the bad shape
	dims[0] = fn.dims[0], dims[1] = fn.dims[1];
	return api->GetTensorMutableData((OrtValue *)v, data);
}

// pack_constant packs the coefficient op's fn into k->packed if fn is a
// constant float32 [m, n·C] (else leaves it NULL: each prefill call packs).
static OrtStatus *pack_constant(kernel *k, const OrtKernelInfo *info) {
	void *data;
	int64_t dims[2];
	CHECK(constant_fn(info, &data, dims));
	if (data == NULL)
		return NULL;
	size_t m = (size_t)dims[0], nc = (size_t)dims[1], qw = wide() && !(m == 24 && pairs()) ? QW16 : QW; // as compute picks it
	if (m > MAX_STREAMS * MAX_STREAMS + 2 * MAX_STREAMS)
		return NULL;
	if ((k->packed = malloc(panels_of(m, qw) * qw * nc * sizeof(float))) == NULL)
		return fail(k, "out of memory");
	pack_fn(data, m, nc, qw, k->packed);
	k->packed_m = m, k->packed_nc = nc, k->packed_qw = qw;
	return NULL;
}

// entry_constant is pack_constant for HCEntry: if fn is a constant
// float32 [n²+2n, n·C], its fsum into k->fsum and that packed into
// k->packed (else both NULL: each call sums fn, and a prefill packs).
static OrtStatus *entry_constant(kernel *k, const OrtKernelInfo *info) {
	void *data;
	int64_t dims[2];
	CHECK(constant_fn(info, &data, dims));
	size_t n = (size_t)k->streams, m = n * n + 2 * n;
	if (data == NULL || dims[0] != (int64_t)m || dims[1] % (int64_t)n != 0)
		return NULL; // compute reports a bad shape
	size_t c = (size_t)dims[1] / n, qw = wide() && !(m == 24 && pairs()) ? QW16 : QW; // as compute picks it
	if ((k->fsum = malloc(m * c * sizeof(float))) == NULL || (k->packed = malloc(panels_of(m, qw) * qw * c * sizeof(float))) == NULL)
		return fail(k, "out of memory");
	entry_fsum(data, m, n, c, k->fsum);
	pack_fn(k->fsum, m, c, qw, k->packed);
	k->fsum_m = m, k->fsum_c = c;
	k->packed_m = m, k->packed_nc = c, k->packed_qw = qw;
	return NULL;
}

static OrtStatus *ORT_API_CALL create_kernel(const OrtCustomOp *op, const OrtApi *a, const OrtKernelInfo *info, void **out) {
	(void)a;
	kernel *k = calloc(1, sizeof *k);
	if (k == NULL)
		return api->CreateStatus(ORT_FAIL, "mhcc ortops: out of memory");
	k->kind = ((const custom_op *)op)->kind;
	size_t size = sizeof k->node;
	if (api->KernelInfo_GetNodeName(info, k->node, &size) != NULL)
		snprintf(k->node, sizeof k->node, "?");
	OrtStatus *st = NULL;
	int64_t dims[8];
	size_t rank;
	int shaped, entry = k->kind == ENTRY;
	// x's shape, when known: a rank below 2 or a stream count outside
	// 2..8 is refused here; unknown (not inferred), the checks wait for
	// compute, which makes them on every call. HCEntry: e [..., C], n its
	// streams attribute.
	input_info(info, 0, &k->type, &rank, dims, &shaped);
	if (entry && (st = api->KernelInfoGetAttribute_int64(info, "streams", &k->streams)) == NULL &&
	    (k->streams < MIN_STREAMS || k->streams > MAX_STREAMS))
		st = fail(k, "x has %lld streams; the kernels support n = %d to %d", (long long)k->streams, MIN_STREAMS, MAX_STREAMS);
	if (st != NULL)
		;
	else if (k->type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && k->type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16)
		st = fail(k, "input %s has element type %d; the kernels take float32 (1) or float16 (10)", entry ? "e" : "x", (int)k->type);
	else if (entry && shaped && rank < 1)
		st = fail(k, "input e has rank %zu, want [..., C]", rank);
	else if (!entry && shaped && rank < 2)
		st = fail(k, "input x has rank %zu, want [..., n, C]", rank);
	else if (!entry && shaped && dims[rank - 2] >= 0 && (dims[rank - 2] < MIN_STREAMS || dims[rank - 2] > MAX_STREAMS))
		st = fail(k, "x has %lld streams; the kernels support n = %d to %d", (long long)dims[rank - 2], MIN_STREAMS, MAX_STREAMS);
	for (size_t i = 1; st == NULL && i < n_inputs[k->kind]; i++) {
		ONNXTensorElementDataType t;
		size_t r;
		int64_t d[8];
		int sh;
		input_info(info, i, &t, &r, d, &sh);
		ONNXTensorElementDataType want = isT(k->kind, i) ? k->type : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
		if (t != want)
			st = fail(k, "input %zu has element type %d, want %d", i, (int)t, (int)want);
	}
	if (st == NULL && k->kind == HEAD)
		st = api->KernelInfoGetAttribute_float(info, "rms_eps", &k->rms_eps);
	if (st == NULL && (has_coeffs(k->kind) || entry)) {
		st = api->KernelInfoGetAttribute_int64(info, "iters", &k->iters);
		if (st == NULL)
			st = api->KernelInfoGetAttribute_float(info, "rms_eps", &k->rms_eps);
		if (st == NULL && k->iters < 1)
			st = fail(k, "attribute iters is %lld, want ≥ 1", (long long)k->iters);
	}
	if (st == NULL)
		st = api->KernelInfoGetAttribute_float(info, "eps", &k->eps);
	if (st == NULL && (k->kind == COEFFS_BOUNDARY || k->kind == HEAD || entry))
		st = api->KernelInfoGetAttribute_float(info, "norm_eps", &k->norm_eps);
	if (st == NULL && has_coeffs(k->kind))
		st = pack_constant(k, info);
	if (st == NULL && entry)
		st = entry_constant(k, info);
	if (st != NULL) {
		free(k->packed);
		free(k->fsum);
		free(k);
		return st;
	}
	*out = k;
	return NULL;
}

static void ORT_API_CALL destroy_kernel(void *op_kernel) {
	kernel *k = op_kernel;
	free(k->packed);
	free(k->fsum);
	free(k);
}

// infer_shape gives onnxruntime the outputs' types and shapes (it needs
// them for the outputs typed T, which follow x): the coefficients are
// float32 [lead, n] and [lead, n, n], normed is T [lead, C], mixed and
// state have x's type and shape (HCHead: normed, state). Symbolic dims of
// x are kept. HCEntry: from e [lead, C] and its streams attribute n, pre
// and post [lead, n], comb [lead, n, n], normed [lead, C], mixed
// [lead, n, C]. If x's shape is unknown (onnxruntime passes an empty one)
// it sets nothing: the outputs' types follow from the schema, their
// shapes stay unknown, and compute checks the shapes at run time
// (onnxruntime 1.30 ignores, and leaks, a status returned from here).
//
// HCEntry's and HCCoeffsBoundary's normed is left without a shape on
// purpose. With it, onnxruntime knows every shape of the sublayer that
// reads normed (attention, FFN), and its allocation planner gives each of
// their outputs, at plan time, a freed buffer of exactly the same shape
// (allocation_planner.cc, FindReusableTensor): from the second layer on
// no tensor is allocated at run time (the first run's arena use stays
// flat, 36.6 MiB above the weights at sequence 256, against 12 to 16 for
// the onnx target's graph), and the RoPE's Split, Neg, Concat, the Muls,
// Adds and Transposes run up to twice as slow, likely because those
// buffers are cold (bench/fused-kernels.md). Without it, those outputs
// are allocated at run time, as in the onnx target's graph.
// shape_normed reports whether MHCC_ORTOPS_SHAPE_NORMED=1 asks for
// normed's shape after all (read at session creation), for measuring the
// difference in the same process (bench/fusedpair -env-b).
static int shape_normed(void) {
	const char *e = getenv("MHCC_ORTOPS_SHAPE_NORMED");
	return e != NULL && *e != 0 && strcmp(e, "0") != 0;
}

static OrtStatus *ORT_API_CALL infer_shape(const OrtCustomOp *op, OrtShapeInferContext *ctx) {
	enum kind kind = ((const custom_op *)op)->kind;
	OrtTensorTypeAndShapeInfo *xi;
	CHECK(api->ShapeInferContext_GetInputTypeShape(ctx, 0, &xi));
	ONNXTensorElementDataType type;
	size_t rank;
	int64_t d[10], n = 0;
	const char *sym[10];
	OrtStatus *st = api->GetTensorElementType(xi, &type);
	if (st == NULL)
		st = api->GetDimensionsCount(xi, &rank);
	if (st != NULL || rank < (kind == ENTRY ? 1u : 2u) || rank > (kind == ENTRY ? 7u : 8u)) {
		if (st != NULL)
			api->ReleaseStatus(st);
		return NULL; // unknown (or refused when the kernel is created)
	}
	st = api->GetDimensions(xi, d, rank);
	if (st == NULL)
		st = api->GetSymbolicDimensions(xi, sym, rank);
	if (st == NULL && kind == ENTRY) { // as if x [lead, n, C]: insert the stream axis
		const OrtOpAttr *attr;
		size_t len;
		st = api->ShapeInferContext_GetAttribute(ctx, "streams", &attr);
		if (st == NULL)
			st = api->ReadOpAttr(attr, ORT_OP_ATTR_INT, &n, sizeof n, &len);
		if (st == NULL) {
			d[rank] = d[rank - 1], sym[rank] = sym[rank - 1];
			d[rank - 1] = n, sym[rank - 1] = "";
			rank++;
		}
	}
	for (size_t i = 0; st == NULL && i < n_outputs[kind]; i++) {
		int64_t od[10];
		const char *os[10];
		size_t orank = rank;
		memcpy(od, d, sizeof od);
		memcpy(os, sym, sizeof os);
		ONNXTensorElementDataType ot = type;
		size_t first = kind == COEFFS_BOUNDARY || kind == ENTRY ? 3 : 0; // the boundary's outputs: normed, mixed, state
		if (kind == COEFFS || kind == POST_COEFFS || i < first) {
			ot = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
			od[rank - 1] = d[rank - 2], os[rank - 1] = sym[rank - 2]; // [lead, n, n]
			if (i < 2)
				orank = rank - 1; // [lead, n]
		} else if (i == first && first == 3 && !shape_normed()) {
			continue; // HCEntry's and HCCoeffsBoundary's normed: no shape (above)
		} else if (i == first) { // normed: [lead, C]
			od[rank - 2] = d[rank - 1], os[rank - 2] = sym[rank - 1];
			orank = rank - 1;
		}
		OrtTensorTypeAndShapeInfo *oi;
		st = api->CreateTensorTypeAndShapeInfo(&oi);
		if (st != NULL)
			break;
		st = api->SetTensorElementType(oi, ot);
		if (st == NULL)
			st = api->SetDimensions(oi, od, orank);
		if (st == NULL)
			st = api->SetSymbolicDimensions(oi, os, orank);
		if (st == NULL)
			st = api->ShapeInferContext_SetOutputTypeShape(ctx, i, oi);
		api->ReleaseTensorTypeAndShapeInfo(oi);
	}
	return st; // xi belongs to ctx (releasing it is a double free in onnxruntime 1.30)
}


static custom_op ops[NKINDS];
static OrtCustomOpDomain *domain;

static OrtStatus *init_status;

// init builds the op table and the domain once per process (sessions that
// register the library refer to the same domain, which is never freed).
static void init(void) {
	for (int i = 0; i < NKINDS; i++) {
		OrtCustomOp *op = &ops[i].op;
		ops[i].kind = (enum kind)i;
		op->version = ORT_API_VERSION;
		op->GetName = get_name;
		op->GetExecutionProviderType = get_ep;
		op->GetInputType = input_type;
		op->GetInputTypeCount = input_count;
		op->GetOutputType = output_type;
		op->GetOutputTypeCount = output_count;
		op->GetInputCharacteristic = required;
		op->GetOutputCharacteristic = output_characteristic;
		op->GetInputMemoryType = mem_type;
		op->GetVariadicInputMinArity = one;
		op->GetVariadicInputHomogeneity = one;
		op->GetVariadicOutputMinArity = one;
		op->GetVariadicOutputHomogeneity = one;
		op->CreateKernelV2 = create_kernel;
		op->KernelComputeV2 = compute;
		op->KernelDestroy = destroy_kernel;
		op->GetStartVersion = start_version;
		op->GetEndVersion = end_version;
		op->InferOutputShapeFn = infer_shape;
	}
	OrtCustomOpDomain *d;
	if ((init_status = api->CreateCustomOpDomain("ai.mhcc", &d)) != NULL)
		return;
	for (int i = 0; i < NKINDS; i++)
		if ((init_status = api->CustomOpDomain_Add(d, &ops[i].op)) != NULL)
			return;
	domain = d;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

// RegisterCustomOps is what RegisterCustomOpsLibrary_V2 calls: it adds the
// ai.mhcc domain with the seven kernels to the session options.
OrtStatus *ORT_API_CALL RegisterCustomOps(OrtSessionOptions *options, const OrtApiBase *base) {
	// The header this library is built with (API version 24, from
	// onnxruntime_go v1.27.0) is the floor; newer runtimes serve older
	// API versions, so onnxruntime 1.24 and later load it.
	const OrtApi *a = base->GetApi(ORT_API_VERSION);
	if (a == NULL)
		return NULL; // the runtime predates this API and cannot take a status from it
	__atomic_store_n(&api, a, __ATOMIC_SEQ_CST);
	pthread_once(&once, init);
	if (domain == NULL)
		return init_status != NULL ? init_status : api->CreateStatus(ORT_FAIL, "mhcc ortops: could not create the ai.mhcc domain");
	return api->AddCustomOpDomain(options, domain);
}

// mhcc_ortops_register_library registers the library at path into options
// the standard way (OrtApi::RegisterCustomOpsLibrary_V2: onnxruntime opens
// path and calls RegisterCustomOps), for callers whose binding lacks that
// call, such as onnxruntime_go v1.27 (mhcc's tests and benchmarks, through
// internal/ortops). get_base is the runtime's OrtGetApiBase. It returns
// NULL, or an error message the caller must free.
char *mhcc_ortops_register_library(const OrtApiBase *(*get_base)(void), OrtSessionOptions *options, const char *path) {
	const OrtApi *a = get_base()->GetApi(ORT_API_VERSION);
	if (a == NULL)
		return strdup("mhcc ortops: the onnxruntime library does not serve API version " "24");
	OrtStatus *st = a->RegisterCustomOpsLibrary_V2(options, path);
	if (st == NULL)
		return NULL;
	char *msg = strdup(a->GetErrorMessage(st));
	a->ReleaseStatus(st);
	return msg;
}
