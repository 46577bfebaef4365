"""Independent PyTorch reference for mhcc, written from the specification
(docs/spec.md §2-§5) only, not from mhcc's Go code.

Everything here is meant to be read against docs/spec.md, not to be fast: sizes are tiny and
the computation is float64 by default. Module attribute names are chosen so that
``model.state_dict()`` keys are exactly the docs/spec.md §4 safetensors names, e.g.
``layers.0.attn.wq.weight`` or ``layers.1.hc_ffn_base``.

No Python control flow depends on tensor *values* (only on config constants such as the
number of streams or Sinkhorn iterations), and the sequence-dependent tables (RoPE, causal
mask) are precomputed for ``max_sequence`` positions and sliced, so ``torch.onnx.export``
can trace the models with dynamic batch/sequence axes.

Shapes (docs/spec.md names): B batch, S sequence, n streams, C hidden_size.
"""

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as Fn


# ---------------------------------------------------------------------------
# Configuration (docs/spec.md §5)
# ---------------------------------------------------------------------------

@dataclass
class Config:
    # architecture
    kind: str = "decoder"            # decoder | mlp
    hidden_size: int = 32            # C
    layers: int = 2
    ffn_hidden_size: int = 64
    norm_eps: float = 1e-6
    vocab_size: Optional[int] = None  # decoder only
    heads: Optional[int] = None       # decoder only
    kv_heads: Optional[int] = None    # decoder only; default heads
    head_dim: Optional[int] = None    # decoder only; default hidden_size / heads
    rope_theta: float = 10000.0       # decoder only
    input_size: Optional[int] = None  # mlp only
    output_size: Optional[int] = None  # mlp only
    # dense options of the decoder (docs/spec.md §3.1, §5.1); defaults: Llama-style
    norm: str = "rmsnorm"             # rmsnorm | layernorm
    norm_bias: bool = False           # layernorm only
    activation: str = "swiglu"        # swiglu | geglu | gelu | gelu_tanh | relu2
    positions: str = "rope"           # rope | learned | none
    tie_embeddings: bool = False
    qkv_bias: bool = False
    out_bias: bool = False
    mlp_bias: bool = False
    # hyper_connections
    hc_kind: str = "mhc"             # mhc | residual
    streams: int = 4                 # n
    dynamic: bool = True
    sinkhorn_iterations: int = 20
    eps: float = 1e-6
    rms_eps: float = 1e-6
    collapse: str = "head"           # head | sum | mean
    # architecture.moe (decoder only; None: a dense FFN in every layer)
    moe: Optional[dict] = None
    # inputs
    max_sequence: int = 4096         # size of the RoPE tables (decoder only)

    def __post_init__(self):
        if self.kind not in ("decoder", "mlp"):
            raise ValueError("architecture.kind: %r" % self.kind)
        if self.hc_kind not in ("mhc", "residual"):
            raise ValueError("hyper_connections.kind: %r" % self.hc_kind)
        if self.collapse not in ("head", "sum", "mean"):
            raise ValueError("hyper_connections.collapse: %r" % self.collapse)
        if self.hc_kind == "residual":
            self.streams = 1  # docs/spec.md §2: the residual baseline has one stream
        if self.kind == "decoder":
            if self.kv_heads is None:
                self.kv_heads = self.heads
            if self.head_dim is None:
                if self.hidden_size % self.heads:
                    raise ValueError("hidden_size not divisible by heads and no head_dim")
                self.head_dim = self.hidden_size // self.heads
            if self.heads % self.kv_heads:
                raise ValueError("heads must be a multiple of kv_heads")
            if self.positions == "rope" and self.head_dim % 2:
                raise ValueError("rotate-half RoPE needs an even head_dim")
            if self.norm not in ("rmsnorm", "layernorm"):
                raise ValueError("architecture.norm: %r" % self.norm)
            if self.norm_bias and self.norm != "layernorm":
                raise ValueError("norm_bias needs norm: layernorm")
            if self.activation not in ("swiglu", "geglu", "gelu", "gelu_tanh", "relu2"):
                raise ValueError("architecture.activation: %r" % self.activation)
            if self.positions not in ("rope", "learned", "none"):
                raise ValueError("architecture.positions: %r" % self.positions)
        if self.sinkhorn_iterations < 1:
            raise ValueError("sinkhorn_iterations must be >= 1")
        if self.moe is not None:
            m = dict(self.moe)
            unknown = set(m) - set(MOE_DEFAULTS) - {"experts", "experts_per_token", "expert_ffn_hidden_size"}
            if unknown:
                raise ValueError("architecture.moe: unknown keys %s" % sorted(unknown))
            full = dict(MOE_DEFAULTS, expert_ffn_hidden_size=self.ffn_hidden_size)
            full.update(m)
            if not 1 <= full["experts_per_token"] <= full["experts"]:
                raise ValueError("architecture.moe: experts_per_token must be in 1..experts")
            if full["router"] not in ("softmax", "sigmoid"):
                raise ValueError("architecture.moe.router: %r" % full["router"])
            full["routed_scaling_factor"] = float(full["routed_scaling_factor"])
            self.moe = full

    @property
    def is_mhc(self):
        return self.hc_kind == "mhc"

    @property
    def gated(self):
        """swiglu and geglu multiply by a second projection, w3."""
        return self.activation in ("swiglu", "geglu")

    @classmethod
    def from_yaml_dict(cls, doc):
        """Build a Config from a parsed docs/spec.md §5 model file (format 1)."""
        if doc.get("format") != 1:
            raise ValueError("format must be 1")
        a = doc["architecture"]
        h = doc.get("hyper_connections", {}) or {}
        i = doc.get("inputs", {}) or {}
        kw = dict(kind=a["kind"], hidden_size=a["hidden_size"], layers=a["layers"],
                  ffn_hidden_size=a["ffn_hidden_size"])
        for key in ("norm_eps", "vocab_size", "heads", "kv_heads", "head_dim", "rope_theta",
                    "input_size", "output_size", "moe", "norm", "norm_bias", "activation",
                    "positions", "tie_embeddings", "qkv_bias", "out_bias", "mlp_bias"):
            if key in a:
                kw[key] = a[key]
        if "kind" in h:
            kw["hc_kind"] = h["kind"]
        for key in ("streams", "dynamic", "sinkhorn_iterations", "eps", "rms_eps", "collapse"):
            if key in h:
                kw[key] = h[key]
        if "max_sequence" in i:
            kw["max_sequence"] = i["max_sequence"]
        for key in ("norm_eps", "rope_theta", "eps", "rms_eps"):
            if key in kw:
                kw[key] = float(kw[key])
        return cls(**kw)


# ---------------------------------------------------------------------------
# mHC math (docs/spec.md §2), as plain functions
# ---------------------------------------------------------------------------

def sinkhorn(logits, iters, eps):
    """docs/spec.md §2 Sinkhorn on the last two axes; logits[..., j, k] (row j, column k).

        comb = softmax(comb, axis=-1) + eps
        comb = comb / (sum(comb, axis=-2) + eps)
        repeat iters-1 times:
            comb = comb / (sum(comb, axis=-1) + eps)
            comb = comb / (sum(comb, axis=-2) + eps)
    """
    comb = torch.softmax(logits, dim=-1) + eps
    comb = comb / (comb.sum(dim=-2, keepdim=True) + eps)
    for _ in range(iters - 1):
        comb = comb / (comb.sum(dim=-1, keepdim=True) + eps)
        comb = comb / (comb.sum(dim=-2, keepdim=True) + eps)
    return comb


def weightless_rms_inverse(xf, rms_eps):
    """r = 1 / sqrt(mean(xf², axis=-1) + rms_eps), kept as [..., 1]."""
    return torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + rms_eps)


def mhc_coefficients(x, base, fn, scale, n, iters, eps, rms_eps):
    """docs/spec.md §2: (pre [..., n], post [..., n], comb [..., n, n]) for state x [..., n, C].

    Static mHC passes fn=None, scale=None: mixes is zero, so the coefficients depend on
    `base` only and come back without the leading batch axes (they broadcast).
    """
    if fn is None:
        pre_logit = base[0:n]
        post_logit = base[n:2 * n]
        comb_logit = base[2 * n:]
    else:
        xf = x.flatten(-2)                                   # [..., n*C]
        r = weightless_rms_inverse(xf, rms_eps)              # [..., 1]
        mixes = torch.matmul(xf, fn.t()) * r                 # [..., n²+2n]
        pre_logit = scale[0] * mixes[..., 0:n] + base[0:n]
        post_logit = scale[1] * mixes[..., n:2 * n] + base[n:2 * n]
        comb_logit = scale[2] * mixes[..., 2 * n:] + base[2 * n:]
    pre = torch.sigmoid(pre_logit) + eps
    post = 2 * torch.sigmoid(post_logit)
    comb = split_last(comb_logit, n, n)                  # row-major: index j*n+k -> [j, k]
    comb = sinkhorn(comb, iters, eps)
    return pre, post, comb


def split_last(t, a, b):
    """Reshape the last axis (a*b) into [a, b], row-major (unflatten does not export to ONNX)."""
    return t.reshape(t.shape[:-1] + (a, b))


def stream_collapse(x, weights):
    """h = Σ_i w[i] * x[i]; x [..., n, C], weights [..., n] (or [n]) -> [..., C]."""
    n = x.shape[-2]
    h = weights[..., 0:1] * x[..., 0, :]
    for i in range(1, n):
        h = h + weights[..., i:i + 1] * x[..., i, :]
    return h


def stream_mix(x, y, post, comb):
    """x'[k] = post[k] * y + Σ_j comb[j, k] * x[j]  (H_res = combᵀ: column k feeds stream k).

    x [..., n, C], y [..., C], post [..., n], comb [..., n, n] -> [..., n, C].
    """
    n = x.shape[-2]
    out = []
    for k in range(n):
        xk = post[..., k:k + 1] * y
        for j in range(n):
            xk = xk + comb[..., j, k:k + 1] * x[..., j, :]
        out.append(xk)
    return torch.stack(out, dim=-2)


def stream_expand(e, n):
    """Repeat e [..., C] into n streams: [..., n, C]."""
    return torch.stack([e] * n, dim=-2)


def mhc_sublayer(x, sublayer, base, fn, scale, n, iters, eps, rms_eps):
    """One mHC sublayer: x [..., n, C] -> [..., n, C], F = `sublayer` (with its own pre-norm)."""
    pre, post, comb = mhc_coefficients(x, base, fn, scale, n, iters, eps, rms_eps)
    h = stream_collapse(x, pre)
    y = sublayer(h)
    return stream_mix(x, y, post, comb)


def head_collapse(x, fn, base, scale, eps, rms_eps):
    """docs/spec.md §2 collapse `head`: pre = sigmoid(scale[0]*(xf·fnᵀ)*r + base) + eps; y = Σ pre[i] x[i]."""
    xf = x.flatten(-2)
    r = weightless_rms_inverse(xf, rms_eps)
    pre = torch.sigmoid(scale[0] * torch.matmul(xf, fn.t()) * r + base) + eps
    return stream_collapse(x, pre)


# ---------------------------------------------------------------------------
# Building blocks (docs/spec.md §3)
# ---------------------------------------------------------------------------

class RMSNorm(nn.Module):
    """rmsnorm(v, w) = v / sqrt(mean(v², -1) + norm_eps) * w."""

    def __init__(self, dim, eps, dtype=torch.float64):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, dtype=dtype))

    def forward(self, v):
        return v / torch.sqrt(v.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


class LayerNorm(nn.Module):
    """layernorm(v, w, b) = (v - mean) / sqrt(var + norm_eps) * w + b, by
    torch.nn.functional.layer_norm (torch's own kernel, biased variance); the
    bias parameter exists only with norm_bias (docs/spec.md §3.1)."""

    def __init__(self, dim, eps, bias, dtype=torch.float64):
        super().__init__()
        self.eps = eps
        self.shape = (dim,)          # a constant, so torch.onnx.export traces no Shape op
        self.weight = nn.Parameter(torch.ones(dim, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(dim, dtype=dtype)) if bias else None
        # Without a bias, a zero one (not a weight): torch.onnx.export writes
        # bias=None as LayerNormalization's input "" (omitted), on which
        # onnxruntime 1.30's CPU session creation crashes (segfault); + 0 is exact.
        self.register_buffer("zero_bias", torch.zeros(dim, dtype=dtype), persistent=False)

    def forward(self, v):
        b = self.bias if self.bias is not None else self.zero_bias
        return Fn.layer_norm(v, self.shape, self.weight, b, self.eps)


def make_norm(cfg, dim, dtype):
    """The decoder's norm (architecture.norm); the mlp's is always RMSNorm."""
    if cfg.kind == "decoder" and cfg.norm == "layernorm":
        return LayerNorm(dim, cfg.norm_eps, cfg.norm_bias, dtype)
    return RMSNorm(dim, cfg.norm_eps, dtype)


def linear(in_features, out_features, dtype, bias=False):
    """Linear; weight is [out, in] as in docs/spec.md §4 (bias [out] when asked)."""
    return nn.Linear(in_features, out_features, bias=bias, dtype=dtype)


class RoPE(nn.Module):
    """Rotate-half rotary embedding; positions 0..max_sequence-1 precomputed (float64)."""

    def __init__(self, head_dim, theta, max_sequence, dtype=torch.float64):
        super().__init__()
        half = head_dim // 2
        i = torch.arange(half, dtype=torch.float64)
        inv_freq = torch.tensor(float(theta), dtype=torch.float64) ** (-2.0 * i / head_dim)
        pos = torch.arange(max_sequence, dtype=torch.float64)
        angle = pos[:, None] * inv_freq[None, :]             # [max_sequence, head_dim/2]
        angle = torch.cat([angle, angle], dim=-1)            # duplicated over both halves
        self.register_buffer("cos", angle.cos().to(dtype), persistent=False)
        self.register_buffer("sin", angle.sin().to(dtype), persistent=False)
        self.half = half

    def forward(self, v, offset=0, positions=None):
        """v [B, H, S, head_dim]; rot(v) = v*cos + [-v2, v1]*sin at positions
        offset..offset+S-1 (offset > 0: tokens after `offset` cached ones), or at
        positions [B, S] (int64) per sequence when given."""
        s = v.shape[-2]
        if positions is not None:
            if int(positions.max()) >= self.cos.shape[0]:
                raise ValueError("position %d is past max_sequence %d" % (int(positions.max()), self.cos.shape[0]))
            cos = self.cos[positions].unsqueeze(1)          # [B,1,S,D]
            sin = self.sin[positions].unsqueeze(1)
        else:
            cos = self.cos[offset:offset + s]
            sin = self.sin[offset:offset + s]
        v1 = v[..., :self.half]
        v2 = v[..., self.half:]
        return v * cos + torch.cat([-v2, v1], dim=-1) * sin


class Attention(nn.Module):
    """Causal GQA attention: query head h reads kv head h // (heads / kv_heads)."""

    def __init__(self, cfg, dtype=torch.float64):
        super().__init__()
        C, H, KV, D = cfg.hidden_size, cfg.heads, cfg.kv_heads, cfg.head_dim
        self.heads, self.kv_heads, self.head_dim = H, KV, D
        self.wq = linear(C, H * D, dtype, cfg.qkv_bias)
        self.wk = linear(C, KV * D, dtype, cfg.qkv_bias)
        self.wv = linear(C, KV * D, dtype, cfg.qkv_bias)
        self.wo = linear(H * D, C, dtype, cfg.out_bias)
        # positions learned or none: no rotation (learned ones are added to the embedding)
        self.rope = RoPE(D, cfg.rope_theta, cfg.max_sequence, dtype) if cfg.positions == "rope" else None
        group = H // KV
        self.register_buffer("kv_index", torch.tensor([h // group for h in range(H)]),
                             persistent=False)
        mask = torch.ones(cfg.max_sequence, cfg.max_sequence, dtype=torch.bool).tril()
        self.register_buffer("causal", mask, persistent=False)  # causal[t, u] = u <= t

    def forward(self, h):
        """h [B, S, C] -> [B, S, C]."""
        q = split_last(self.wq(h), self.heads, self.head_dim).transpose(1, 2)     # [B,H,S,D]
        k = split_last(self.wk(h), self.kv_heads, self.head_dim).transpose(1, 2)  # [B,KV,S,D]
        v = split_last(self.wv(h), self.kv_heads, self.head_dim).transpose(1, 2)
        if self.rope is not None:
            q = self.rope(q)
            k = self.rope(k)
        k = k.index_select(1, self.kv_index)                 # [B,H,S,D]: head h <- kv h//group
        v = v.index_select(1, self.kv_index)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # [B,H,S,S]
        s = scores.shape[-1]
        scores = scores.masked_fill(~self.causal[:s, :s], float("-inf"))
        p = torch.softmax(scores, dim=-1)
        o = torch.matmul(p, v).transpose(1, 2).flatten(-2)   # [B,S,H*D]
        return self.wo(o)

    def forward_cached(self, h, past_k, past_v, mask=None, positions=None):
        """Generation step: h [B, S, C] holds S new tokens after P cached ones, whose
        keys (after RoPE) and values are past_k, past_v [B, KV, P, D]. The new tokens sit
        at positions P..P+S-1; each attends to all cached tokens and, causally, to the new
        ones. With mask [B, P+S] (0: padding) and positions [B, S], as Hugging Face's
        generation sends them for left-padded batches, the tokens sit at `positions` and
        no query attends to a padded key (a padding query, which has nothing else to see,
        gets the uniform average, as transformers' finfo.min fill gives).
        Returns (out [B, S, C], keys [B, KV, P+S, D], values [B, KV, P+S, D])."""
        P = past_k.shape[-2]
        q = split_last(self.wq(h), self.heads, self.head_dim).transpose(1, 2)     # [B,H,S,D]
        k = split_last(self.wk(h), self.kv_heads, self.head_dim).transpose(1, 2)  # [B,KV,S,D]
        v = split_last(self.wv(h), self.kv_heads, self.head_dim).transpose(1, 2)
        if self.rope is not None:
            q = self.rope(q, offset=P, positions=positions)
            k = self.rope(k, offset=P, positions=positions)
        k = torch.cat([past_k, k], dim=-2)                  # [B,KV,P+S,D]
        v = torch.cat([past_v, v], dim=-2)
        kh = k.index_select(1, self.kv_index)
        vh = v.index_select(1, self.kv_index)
        scores = torch.matmul(q, kh.transpose(-1, -2)) / math.sqrt(self.head_dim)  # [B,H,S,P+S]
        s = q.shape[-2]
        if mask is not None:
            pad = (mask == 0)[:, None, None, :]                                   # [B,1,1,P+S]
            scores = scores.masked_fill(pad, torch.finfo(scores.dtype).min)
        scores = scores.masked_fill(~self.causal[P:P + s, :P + s], float("-inf"))
        p = torch.softmax(scores, dim=-1)
        o = torch.matmul(p, vh).transpose(1, 2).flatten(-2)  # [B,S,H*D]
        return self.wo(o), k, v


# Defaults of architecture.moe (docs/spec.md §5.1); expert_ffn_hidden_size defaults to
# ffn_hidden_size.
MOE_DEFAULTS = dict(shared_experts=0, router="softmax", normalize_top_k=False,
                    routed_scaling_factor=1.0, dense_layers=0)


class MoE(nn.Module):
    """Mixture-of-experts FFN (docs/spec.md §3.1), per token h [..., C]:

        scores  = softmax(h·gateᵀ) or sigmoid(h·gateᵀ)            # [..., E]
        w, top  = torch.topk(scores, k)                            # the k largest and their experts
        w       = w / Σ w  (normalize_top_k)  · routed_scaling_factor
        y       = Σ_j w[j] · expert_{top[j]}(h)  +  shared(h)

    Each expert (and the shared one) is the model's FFN: its activation, its biases
    with mlp_bias. Every expert runs on every token and the k chosen outputs are picked with
    torch.gather (no value-dependent control flow, so torch.onnx can trace it)."""

    def __init__(self, cfg, dtype=torch.float64):
        super().__init__()
        m = cfg.moe
        C, F = cfg.hidden_size, m["expert_ffn_hidden_size"]
        self.k, self.router = m["experts_per_token"], m["router"]
        self.normalize, self.scaling = m["normalize_top_k"], m["routed_scaling_factor"]
        self.gate = linear(C, m["experts"], dtype)
        self.experts = nn.ModuleList([FFN(cfg, dtype, F) for _ in range(m["experts"])])
        self.shared_experts = FFN(cfg, dtype, m["shared_experts"] * F) if m["shared_experts"] else None

    def forward(self, h):
        logits = self.gate(h)
        scores = torch.softmax(logits, dim=-1) if self.router == "softmax" else torch.sigmoid(logits)
        w, top = torch.topk(scores, self.k, dim=-1)                          # [..., k]
        if self.normalize:
            w = w / w.sum(dim=-1, keepdim=True)
        w = w * self.scaling
        every = torch.stack([e(h) for e in self.experts], dim=-2)            # [..., E, C]
        index = top.unsqueeze(-1).expand(*top.shape, every.shape[-1])        # [..., k, C]
        chosen = torch.gather(every, -2, index)                              # [..., k, C]
        y = (w.unsqueeze(-1) * chosen).sum(dim=-2)
        if self.shared_experts is not None:
            y = y + self.shared_experts(h)
        return y
class FFN(nn.Module):
    """The decoder's feed-forward by architecture.activation (docs/spec.md §3.1), with
    torch's own activations: gated act(h·w1ᵀ) * (h·w3ᵀ) for swiglu (F.silu) and geglu
    (F.gelu, erf); act(h·w1ᵀ) for gelu (F.gelu), gelu_tanh (F.gelu approximate='tanh')
    and relu2 (F.relu squared); then ·w2ᵀ. Biases on every projection with mlp_bias.
    ffn is the width, ffn_hidden_size unless given (an MoE expert's, MoE below)."""

    def __init__(self, cfg, dtype=torch.float64, ffn=None):
        super().__init__()
        C, b = cfg.hidden_size, cfg.mlp_bias
        ffn = cfg.ffn_hidden_size if ffn is None else ffn
        self.activation = cfg.activation
        self.w1 = linear(C, ffn, dtype, b)
        self.w2 = linear(ffn, C, dtype, b)
        if cfg.gated:
            self.w3 = linear(C, ffn, dtype, b)

    def act(self, t):
        a = self.activation
        if a == "swiglu":
            return Fn.silu(t)
        if a in ("geglu", "gelu"):
            return Fn.gelu(t, approximate="none")
        if a == "gelu_tanh":
            return Fn.gelu(t, approximate="tanh")
        return Fn.relu(t) ** 2                              # relu2

    def forward(self, h):
        a = self.act(self.w1(h))
        if hasattr(self, "w3"):
            a = a * self.w3(h)
        return self.w2(a)


class MlpBody(nn.Module):
    """mlp architecture sublayer body: w2 · silu(w1 · v)."""

    def __init__(self, C, ffn, dtype=torch.float64):
        super().__init__()
        self.w1 = linear(C, ffn, dtype)
        self.w2 = linear(ffn, C, dtype)

    def forward(self, h):
        return self.w2(Fn.silu(self.w1(h)))


def _hc_params(module, prefix, cfg, dtype):
    """Register `{prefix}_base` (+ `_fn`, `_scale` when dynamic) on `module`."""
    n, C = cfg.streams, cfg.hidden_size
    m = n * n + 2 * n
    setattr(module, prefix + "_base", nn.Parameter(torch.zeros(m, dtype=dtype)))
    if cfg.dynamic:
        setattr(module, prefix + "_fn", nn.Parameter(torch.zeros(m, n * C, dtype=dtype)))
        setattr(module, prefix + "_scale", nn.Parameter(torch.ones(3, dtype=dtype)))


class _HCModel(nn.Module):
    """Shared pieces: stream handling, collapse, weight loading."""

    def _apply_hc(self, layer, prefix, x, sublayer):
        cfg = self.cfg
        if not cfg.is_mhc:
            return x + sublayer(x)                            # residual baseline: x + F(x)
        base = getattr(layer, prefix + "_base")
        fn = getattr(layer, prefix + "_fn") if cfg.dynamic else None
        scale = getattr(layer, prefix + "_scale") if cfg.dynamic else None
        return mhc_sublayer(x, sublayer, base, fn, scale, cfg.streams,
                            cfg.sinkhorn_iterations, cfg.eps, cfg.rms_eps)

    def _expand(self, e):
        return stream_expand(e, self.cfg.streams) if self.cfg.is_mhc else e

    def _collapse(self, x):
        cfg = self.cfg
        if not cfg.is_mhc:
            return x
        if cfg.collapse == "head":
            return head_collapse(x, self.hc_head_fn, self.hc_head_base, self.hc_head_scale,
                                 cfg.eps, cfg.rms_eps)
        if cfg.collapse == "sum":
            return x.sum(dim=-2)
        return x.sum(dim=-2) / cfg.streams                   # mean

    def _head_params(self, dtype):
        cfg = self.cfg
        if cfg.is_mhc and cfg.collapse == "head":
            n, C = cfg.streams, cfg.hidden_size
            self.hc_head_fn = nn.Parameter(torch.zeros(n, n * C, dtype=dtype))
            self.hc_head_base = nn.Parameter(torch.zeros(n, dtype=dtype))
            self.hc_head_scale = nn.Parameter(torch.ones(1, dtype=dtype))

    def expected_weights(self):
        """{docs/spec.md §4 name: shape} for this configuration."""
        return {k: tuple(v.shape) for k, v in self.state_dict().items()}

    def load_weights(self, tensors):
        """Load {name: tensor}; reject missing, unexpected and wrongly shaped tensors.

        Values are converted to the model dtype exactly (F16/BF16 -> float64 is exact)."""
        expected = self.expected_weights()
        missing = sorted(set(expected) - set(tensors))
        unexpected = sorted(set(tensors) - set(expected))
        errors = ["missing tensor %s (expected shape %s)" % (k, list(expected[k])) for k in missing]
        errors += ["unexpected tensor %s (shape %s)" % (k, list(tensors[k].shape)) for k in unexpected]
        for k in sorted(set(expected) & set(tensors)):
            if tuple(tensors[k].shape) != expected[k]:
                errors.append("tensor %s: expected shape %s, found %s"
                              % (k, list(expected[k]), list(tensors[k].shape)))
        if errors:
            raise ValueError("; ".join(errors))
        params = dict(self.named_parameters())
        with torch.no_grad():
            for k in expected:
                params[k].copy_(tensors[k].to(params[k].dtype))
        return self


class DecoderLayer(nn.Module):
    def __init__(self, cfg, dtype, index=0):
        super().__init__()
        C = cfg.hidden_size
        self.attn_norm = make_norm(cfg, C, dtype)
        self.attn = Attention(cfg, dtype)
        self.ffn_norm = make_norm(cfg, C, dtype)
        if cfg.moe is not None and index >= cfg.moe["dense_layers"]:
            self.ffn = MoE(cfg, dtype)
        else:
            self.ffn = FFN(cfg, dtype)
        if cfg.is_mhc:
            _hc_params(self, "hc_attn", cfg, dtype)
            _hc_params(self, "hc_ffn", cfg, dtype)

    def attn_sublayer(self, h):
        return self.attn(self.attn_norm(h))

    def ffn_sublayer(self, h):
        return self.ffn(self.ffn_norm(h))


class Decoder(_HCModel):
    """input_ids [B, S] int64 -> logits [B, S, vocab]."""

    def __init__(self, cfg, dtype=torch.float64):
        super().__init__()
        assert cfg.kind == "decoder"
        self.cfg = cfg
        C = cfg.hidden_size
        self.embed = nn.Embedding(cfg.vocab_size, C, dtype=dtype)
        if cfg.positions == "learned":
            self.pos_embed = nn.Embedding(cfg.max_sequence, C, dtype=dtype)
        self.layers = nn.ModuleList([DecoderLayer(cfg, dtype, i) for i in range(cfg.layers)])
        self._head_params(dtype)
        self.norm = make_norm(cfg, C, dtype)
        if not cfg.tie_embeddings:
            self.head = linear(C, cfg.vocab_size, dtype)

    def _embed(self, input_ids, positions=None, offset=0):
        """Token embeddings, plus the learned position rows (positions [B, S], or
        offset..offset+S-1) with positions: learned."""
        e = self.embed(input_ids)
        if self.cfg.positions == "learned":
            if positions is None:
                s = input_ids.shape[-1]
                positions = torch.arange(offset, offset + s, dtype=torch.int64)
            e = e + self.pos_embed(positions)
        return e

    def _logits(self, y):
        """norm, then the head: embed.weight with tie_embeddings, else head.weight."""
        y = self.norm(y)
        if self.cfg.tie_embeddings:
            return Fn.linear(y, self.embed.weight)
        return self.head(y)

    def forward(self, input_ids):
        x = self._expand(self._embed(input_ids))               # [B,S,n,C] (or [B,S,C])
        for layer in self.layers:
            x = self._apply_hc(layer, "hc_attn", x, layer.attn_sublayer)
            x = self._apply_hc(layer, "hc_ffn", x, layer.ffn_sublayer)
        y = self._collapse(x)                                  # [B,S,C]
        return self._logits(y)

    def forward_cached(self, input_ids, past, mask=None, positions=None):
        """One generation step: input_ids [B, S] are the tokens after those whose keys and
        values `past` holds (a list of (keys, values) [B, KV, P, D] per layer; P may be 0).
        mHC needs no state across tokens: its coefficients are per token, so only the
        attention caches. mask [B, P+S] and positions [B, S]: see Attention.forward_cached.
        Returns (logits [B, S, vocab], presents: the extended list)."""
        x = self._expand(self._embed(input_ids, positions, past[0][0].shape[-2] if past else 0))
        presents = []
        for i, layer in enumerate(self.layers):
            def attn(h, layer=layer, i=i):
                y, k, v = layer.attn.forward_cached(layer.attn_norm(h), *past[i], mask=mask, positions=positions)
                presents.append((k, v))
                return y
            x = self._apply_hc(layer, "hc_attn", x, attn)
            x = self._apply_hc(layer, "hc_ffn", x, layer.ffn_sublayer)
        y = self._collapse(x)
        return self._logits(y), presents

    def greedy(self, prompts, max_new_tokens, eos=None, pad=0):
        """Greedy generation of a batch of prompts (lists of ids, any lengths), left-padded
        with `pad` and masked as Hugging Face's generate does: the argmax of each sequence's
        last logits is its next token; a sequence that produced `eos` stops (it is padded
        with `pad` afterwards, as transformers pads finished rows). Returns the new ids of
        each sequence (without the prompt, up to and including eos)."""
        n = max(len(p) for p in prompts)
        ids = torch.tensor([[pad] * (n - len(p)) + list(p) for p in prompts], dtype=torch.int64)
        mask = torch.tensor([[0] * (n - len(p)) + [1] * len(p) for p in prompts], dtype=torch.int64)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = self.empty_cache(len(prompts))
        out = [[] for _ in prompts]
        done = [False] * len(prompts)
        with torch.no_grad():
            logits, cache = self.forward_cached(ids, cache, mask=mask, positions=pos)
            for step in range(max_new_tokens):
                nxt = logits[:, -1, :].argmax(-1).tolist()
                for b, t in enumerate(nxt):
                    if not done[b]:
                        out[b].append(t)
                        done[b] = eos is not None and t == eos
                if all(done) or step == max_new_tokens - 1:
                    break
                pos = mask.sum(-1, keepdim=True)
                mask = torch.cat([mask, torch.ones(len(prompts), 1, dtype=torch.int64)], dim=-1)
                new = torch.tensor([[t] for t in nxt], dtype=torch.int64)
                logits, cache = self.forward_cached(new, cache, mask=mask, positions=pos)
        return out

    def empty_cache(self, batch):
        """The cache before the first token: P = 0 for every layer."""
        cfg = self.cfg
        dtype = self.embed.weight.dtype
        z = torch.zeros(batch, cfg.kv_heads, 0, cfg.head_dim, dtype=dtype)
        return [(z, z) for _ in range(cfg.layers)]


class MlpLayer(nn.Module):
    def __init__(self, cfg, dtype):
        super().__init__()
        self.norm = RMSNorm(cfg.hidden_size, cfg.norm_eps, dtype)
        self.mlp = MlpBody(cfg.hidden_size, cfg.ffn_hidden_size, dtype)
        if cfg.is_mhc:
            _hc_params(self, "hc", cfg, dtype)

    def sublayer(self, h):
        return self.mlp(self.norm(h))


class Mlp(_HCModel):
    """x [B, input_size] -> y [B, output_size]; state [B, n, C] (no sequence axis)."""

    def __init__(self, cfg, dtype=torch.float64):
        super().__init__()
        assert cfg.kind == "mlp"
        self.cfg = cfg
        C = cfg.hidden_size
        self.in_proj = linear(cfg.input_size, C, dtype)
        self.layers = nn.ModuleList([MlpLayer(cfg, dtype) for _ in range(cfg.layers)])
        self._head_params(dtype)
        self.norm = RMSNorm(C, cfg.norm_eps, dtype)
        self.out_proj = linear(C, cfg.output_size, dtype)

    def forward(self, x):
        s = self._expand(self.in_proj(x))                     # [B,n,C] (or [B,C])
        for layer in self.layers:
            s = self._apply_hc(layer, "hc", s, layer.sublayer)
        y = self._collapse(s)
        return self.out_proj(self.norm(y))


def build(cfg, dtype=torch.float64):
    """Model for `cfg` (weights uninitialised; call load_weights)."""
    return Decoder(cfg, dtype) if cfg.kind == "decoder" else Mlp(cfg, dtype)


def load_yaml_model(path, dtype=torch.float64):
    """Load a docs/spec.md §5 model file whose weights come from safetensors; returns (cfg, model)."""
    import os
    import yaml
    with open(path) as f:
        doc = yaml.safe_load(f)
    cfg = Config.from_yaml_dict(doc)
    model = build(cfg, dtype)
    w = doc["weights"]
    if w.get("source") != "safetensors":
        raise ValueError("only weights.source: safetensors is supported by the reference")
    from checkpoint_io import load_weights
    model.load_weights(load_weights(path, w))
    return cfg, model
