"""Generate the golden fixtures in testdata/golden/<case>/ with the independent reference.

    /usr/bin/python3 scripts/reference/make_golden.py [--out testdata/golden] [case ...]

Each case directory gets:
    model.yaml          docs/spec.md §5 format 1 model file (weights from weights.safetensors)
    weights.safetensors random weights with docs/spec.md §4 names/shapes in the case dtype
                        (a case with `shards` has instead model.safetensors.index.json and
                        model-0000k-of-0000n.safetensors with Hugging Face names, read with
                        weights.names.preset)
    io.safetensors      run{k}.input_ids (I64) + run{k}.logits (F32)   for decoders,
                        run{k}.x (F32)         + run{k}.y (F32)        for mlp;
                        outputs computed in float64 from the stored (rounded) weights
                        and inputs, then stored as F32.
Everything is deterministic: the generator is seeded per case.
"""

import argparse
import math
import os
import sys

import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import mhc_reference as ref  # noqa: E402
import safetensors_io as st  # noqa: E402
import checkpoint_io  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}

# Each case: YAML content (as ordered sections), weight dtype, runs (input shapes), seed.
# Keys left out of a YAML section are left out on purpose to exercise the defaults of docs/spec.md §5
# (noted in `covers`).
CASES = [
    dict(
        name="decoder-mhc-dynamic",
        covers="dynamic mHC decoder, n=4, GQA (heads 4 / kv_heads 2), 20 Sinkhorn iterations, "
               "collapse head, F32 weights, dynamic batch and sequence",
        seed=101,
        dtype="F32",
        architecture=dict(kind="decoder", vocab_size=97, hidden_size=32, layers=2, heads=4,
                          kv_heads=2, head_dim=8, ffn_hidden_size=64, norm_eps=1e-6,
                          rope_theta=10000),
        hyper_connections=dict(kind="mhc", streams=4, dynamic=True, sinkhorn_iterations=20,
                               eps=1e-6, rms_eps=1e-6, collapse="head"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=64),
        runs=[(1, 5), (3, 9), (2, 1)],
    ),
    dict(
        name="decoder-mhc-static",
        covers="static mHC decoder (no fn/scale, coefficients from base only), n=2, "
               "5 Sinkhorn iterations, collapse sum, kv_heads and head_dim omitted "
               "(defaults: kv_heads = heads = 4, head_dim = 32/4 = 8), F16 weights",
        seed=202,
        dtype="F16",
        architecture=dict(kind="decoder", vocab_size=97, hidden_size=32, layers=2, heads=4,
                          ffn_hidden_size=64, norm_eps=1e-6, rope_theta=10000),
        hyper_connections=dict(kind="mhc", streams=2, dynamic=False, sinkhorn_iterations=5,
                               eps=1e-6, rms_eps=1e-6, collapse="sum"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=64),
        runs=[(1, 5), (3, 9), (2, 1)],
    ),
    dict(
        name="decoder-residual",
        covers="residual baseline decoder (kind residual: x + F(x), one stream, no hc "
               "weights), MQA (kv_heads 1), head_dim 16 != hidden/heads = 8, BF16 weights",
        seed=303,
        dtype="BF16",
        architecture=dict(kind="decoder", vocab_size=97, hidden_size=32, layers=2, heads=4,
                          kv_heads=1, head_dim=16, ffn_hidden_size=64, norm_eps=1e-6,
                          rope_theta=10000),
        hyper_connections=dict(kind="residual"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=64),
        runs=[(1, 5), (3, 9), (2, 1)],
    ),
    dict(
        name="decoder-mhc-n3-fixed",
        covers="dynamic mHC decoder with n=3, 7 Sinkhorn iterations, collapse mean, "
               "eps/rms_eps/norm_eps 1e-5, rope_theta 500, odd sizes (vocab 61, hidden 24, "
               "head_dim 6, ffn 40), fixed input shape batch 2 x sequence 6, F32 weights",
        seed=404,
        dtype="F32",
        architecture=dict(kind="decoder", vocab_size=61, hidden_size=24, layers=2, heads=4,
                          kv_heads=2, head_dim=6, ffn_hidden_size=40, norm_eps=1e-5,
                          rope_theta=500),
        hyper_connections=dict(kind="mhc", streams=3, dynamic=True, sinkhorn_iterations=7,
                               eps=1e-5, rms_eps=1e-5, collapse="mean"),
        inputs=dict(batch=2, sequence=6, max_sequence=8),
        runs=[(2, 6), (2, 6), (2, 6)],
    ),
    dict(
        name="decoder-hf-sharded",
        covers="a checkpoint as Hugging Face writes it: Llama/Qwen2 module names "
               "(model.layers.{i}.self_attn.q_proj, mlp.gate_proj, lm_head, ...; mHC parameters "
               "under model.) read with weights.names preset hf-llama, in three shards behind "
               "model.safetensors.index.json; dynamic mHC n=4, GQA (heads 4 / kv_heads 2), "
               "rope_theta 1e6, F32 weights",
        seed=707,
        dtype="F32",
        architecture=dict(kind="decoder", vocab_size=89, hidden_size=32, layers=2, heads=4,
                          kv_heads=2, head_dim=8, ffn_hidden_size=48, norm_eps=1e-6,
                          rope_theta=1000000.0),
        hyper_connections=dict(kind="mhc", streams=4, dynamic=True, sinkhorn_iterations=20,
                               eps=1e-6, rms_eps=1e-6, collapse="head"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=64),
        runs=[(1, 5), (3, 9), (2, 1)],
        names="hf-llama",
        shards=3,
    ),
    dict(
        name="decoder-moe",
        covers="mixture-of-experts mHC decoder: 3 layers, the first dense (dense_layers 1), then "
               "8 experts of width 16, top-2, 1 shared expert, sigmoid router with normalize_top_k, "
               "routed_scaling_factor 2.5; dynamic mHC n=4, GQA, F32 weights",
        seed=707,
        dtype="F32",
        architecture=dict(kind="decoder", vocab_size=97, hidden_size=32, layers=3, heads=4,
                          kv_heads=2, head_dim=8, ffn_hidden_size=64, norm_eps=1e-6,
                          rope_theta=10000,
                          moe=dict(experts=8, experts_per_token=2, shared_experts=1,
                                   expert_ffn_hidden_size=16, router="sigmoid",
                                   normalize_top_k=True, routed_scaling_factor=2.5,
                                   dense_layers=1)),
        hyper_connections=dict(kind="mhc", streams=4, dynamic=True, sinkhorn_iterations=20,
                               eps=1e-6, rms_eps=1e-6, collapse="head"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=64),
        runs=[(1, 5), (3, 9), (2, 1)],
    ),
    dict(
        name="decoder-moe-gelu",
        covers="mixture-of-experts with a non-gated activation and biases: gelu_tanh experts "
               "(no w3) with mlp_bias, layernorm with bias, 2 layers, 4 experts of width 24, "
               "top-2, 1 shared expert, softmax router; dynamic mHC n=2, GQA, F32 weights",
        seed=1313,
        dtype="F32",
        architecture=dict(kind="decoder", vocab_size=71, hidden_size=24, layers=2, heads=4,
                          kv_heads=2, head_dim=6, ffn_hidden_size=48, norm_eps=1e-5,
                          rope_theta=10000, norm="layernorm", norm_bias=True,
                          activation="gelu_tanh", mlp_bias=True,
                          moe=dict(experts=4, experts_per_token=2, shared_experts=1,
                                   expert_ffn_hidden_size=24)),
        hyper_connections=dict(kind="mhc", streams=2, dynamic=True, sinkhorn_iterations=20,
                               eps=1e-6, rms_eps=1e-6, collapse="head"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=32),
        runs=[(1, 5), (3, 9), (2, 1)],
    ),
    dict(
        name="decoder-nanogpt",
        covers="nanoGPT/GPT-2-shaped mHC decoder: layernorm with bias, gelu_tanh MLP (no w3), "
               "learned positions, tied embeddings (no head.weight), biases on wq/wk/wv, wo, "
               "w1, w2, MHA (heads 4), dynamic mHC n=4, F32 weights",
        seed=707,
        dtype="F32",
        architecture=dict(kind="decoder", vocab_size=97, hidden_size=32, layers=2, heads=4,
                          ffn_hidden_size=128, norm_eps=1e-5, norm="layernorm", norm_bias=True,
                          activation="gelu_tanh", positions="learned", tie_embeddings=True,
                          qkv_bias=True, out_bias=True, mlp_bias=True),
        hyper_connections=dict(kind="mhc", streams=4, dynamic=True, sinkhorn_iterations=20,
                               eps=1e-6, rms_eps=1e-6, collapse="head"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=64),
        runs=[(1, 5), (3, 9), (2, 1)],
    ),
    dict(
        name="decoder-qwen2",
        covers="Qwen2-style mHC decoder: rmsnorm, swiglu, RoPE (theta 1e6), biases on "
               "wq/wk/wv only, GQA (heads 4, kv_heads 2, head_dim 8), untied head, "
               "dynamic mHC n=2, BF16 weights",
        seed=808,
        dtype="BF16",
        architecture=dict(kind="decoder", vocab_size=89, hidden_size=32, layers=2, heads=4,
                          kv_heads=2, head_dim=8, ffn_hidden_size=48, norm_eps=1e-6,
                          rope_theta=1000000, qkv_bias=True),
        hyper_connections=dict(kind="mhc", streams=2, dynamic=True, sinkhorn_iterations=20,
                               eps=1e-6, rms_eps=1e-6, collapse="sum"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=64),
        runs=[(1, 5), (3, 9), (2, 1)],
    ),
    dict(
        name="decoder-geglu-nopos",
        covers="geglu MLP (gated, erf GELU) with biases on w1, w2, w3, out_bias, positions "
               "none (no RoPE), layernorm without bias, MQA with an odd head_dim 5, static "
               "mHC n=3, collapse mean, F16 weights",
        seed=909,
        dtype="F16",
        architecture=dict(kind="decoder", vocab_size=61, hidden_size=24, layers=2, heads=4,
                          kv_heads=1, head_dim=5, ffn_hidden_size=40, norm_eps=1e-5,
                          norm="layernorm", activation="geglu", positions="none",
                          out_bias=True, mlp_bias=True),
        hyper_connections=dict(kind="mhc", streams=3, dynamic=False, sinkhorn_iterations=7,
                               eps=1e-6, rms_eps=1e-6, collapse="mean"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=32),
        runs=[(1, 5), (3, 9), (2, 1)],
    ),
    dict(
        name="decoder-gelu-learned",
        covers="erf gelu MLP (no w3), rmsnorm, learned positions with an untied head, "
               "qkv_bias, residual baseline, F32 weights",
        seed=1010,
        dtype="F32",
        architecture=dict(kind="decoder", vocab_size=53, hidden_size=16, layers=2, heads=2,
                          ffn_hidden_size=32, norm_eps=1e-6, activation="gelu",
                          positions="learned", qkv_bias=True),
        hyper_connections=dict(kind="residual"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=16),
        runs=[(1, 5), (3, 9), (2, 1)],
    ),
    dict(
        name="decoder-relu2-tied",
        covers="relu2 MLP (relu(x)², no w3), tied embeddings, RoPE, layernorm with bias, "
               "dynamic mHC n=2, collapse head, F32 weights",
        seed=1111,
        dtype="F32",
        architecture=dict(kind="decoder", vocab_size=53, hidden_size=16, layers=2, heads=2,
                          ffn_hidden_size=48, norm_eps=1e-6, norm="layernorm", norm_bias=True,
                          activation="relu2", tie_embeddings=True),
        hyper_connections=dict(kind="mhc", streams=2, dynamic=True, sinkhorn_iterations=10,
                               eps=1e-6, rms_eps=1e-6, collapse="head"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=16),
        runs=[(1, 5), (3, 9), (2, 1)],
    ),
    dict(
        name="decoder-nanogpt-ckpt",
        covers="decoder-nanogpt's architecture from a checkpoint with nanoGPT's state_dict "
               "names (transformer.wte, transformer.wpe, transformer.h.{i}.ln_1, attn.c_attn "
               "fusing q, k, v into one [3C, C] Linear, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj, "
               "transformer.ln_f, lm_head tied to wte; mHC parameters under transformer.) read "
               "with weights.names preset nanogpt; F32 weights",
        seed=1212,
        dtype="F32",
        architecture=dict(kind="decoder", vocab_size=97, hidden_size=32, layers=2, heads=4,
                          ffn_hidden_size=128, norm_eps=1e-5, norm="layernorm", norm_bias=True,
                          activation="gelu_tanh", positions="learned", tie_embeddings=True,
                          qkv_bias=True, out_bias=True, mlp_bias=True),
        hyper_connections=dict(kind="mhc", streams=4, dynamic=True, sinkhorn_iterations=20,
                               eps=1e-6, rms_eps=1e-6, collapse="head"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=64),
        runs=[(1, 5), (3, 9), (2, 1)],
        names="nanogpt",
    ),
    dict(
        name="decoder-qwen2-hf",
        covers="a Qwen2 checkpoint as save_pretrained writes it: one model.safetensors with "
               "Hugging Face names including self_attn.{q,k,v}_proj.bias, tied embeddings (no "
               "lm_head.weight), mHC parameters under model., read with weights.names preset "
               "hf-llama; rmsnorm, swiglu, RoPE theta 1e6, GQA (heads 4, kv_heads 2), dynamic "
               "mHC n=4, F32 weights",
        seed=1313,
        dtype="F32",
        architecture=dict(kind="decoder", vocab_size=89, hidden_size=32, layers=2, heads=4,
                          kv_heads=2, head_dim=8, ffn_hidden_size=48, norm_eps=1e-6,
                          rope_theta=1000000.0, tie_embeddings=True, qkv_bias=True),
        hyper_connections=dict(kind="mhc", streams=4, dynamic=True, sinkhorn_iterations=20,
                               eps=1e-6, rms_eps=1e-6, collapse="head"),
        inputs=dict(batch="dynamic", sequence="dynamic", max_sequence=64),
        runs=[(1, 5), (3, 9), (2, 1)],
        names="hf-llama",
    ),
    dict(
        name="mlp-mhc",
        covers="mlp architecture with dynamic mHC, n=4, 3 layers, 20 Sinkhorn iterations, "
               "collapse head, F32 weights, dynamic batch",
        seed=505,
        dtype="F32",
        architecture=dict(kind="mlp", input_size=12, output_size=5, hidden_size=16, layers=3,
                          ffn_hidden_size=32, norm_eps=1e-6),
        hyper_connections=dict(kind="mhc", streams=4, dynamic=True, sinkhorn_iterations=20,
                               eps=1e-6, rms_eps=1e-6, collapse="head"),
        inputs=dict(batch="dynamic"),
        runs=[(1,), (4,), (7,)],
    ),
    dict(
        name="mlp-mhc-static-n2",
        covers="mlp architecture with static mHC, n=2, 3 Sinkhorn iterations, collapse mean, "
               "BF16 weights, dynamic batch",
        seed=606,
        dtype="BF16",
        architecture=dict(kind="mlp", input_size=10, output_size=4, hidden_size=16, layers=2,
                          ffn_hidden_size=24, norm_eps=1e-6),
        hyper_connections=dict(kind="mhc", streams=2, dynamic=False, sinkhorn_iterations=3,
                               eps=1e-6, rms_eps=1e-6, collapse="mean"),
        inputs=dict(batch="dynamic"),
        runs=[(1,), (4,), (7,)],
    ),
]


# ---------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------

def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        # "1.0e-6", not "1e-06": YAML 1.1 resolvers (PyYAML) need the dot to see a float.
        m, e = ("%.6e" % v).split("e")
        m = m.rstrip("0")
        if m.endswith("."):
            m += "0"
        if int(e) == 0:
            return m  # "2.5": PyYAML reads an exponent without a sign as a string
        return "%se%d" % (m, int(e))
    return str(v)


def model_yaml(case):
    lines = [
        "# %s: %s. Generated by scripts/reference/make_golden.py; do not edit." % (
            case["name"], case["covers"]),
        "format: 1",
        "name: %s" % case["name"],
    ]
    for section in ("architecture", "hyper_connections"):
        lines.append("%s:" % section)
        for k, v in case[section].items():
            if isinstance(v, dict):
                lines.append("  %s:" % k)
                lines += ["    %s: %s" % (kk, yaml_scalar(vv)) for kk, vv in v.items()]
                continue
            lines.append("  %s: %s" % (k, yaml_scalar(v)))
    if case.get("shards"):
        lines += ["weights:", "  source: safetensors", "  path: model.safetensors.index.json",
                  "  names: {preset: %s}" % case["names"]]
    elif case.get("names"):
        lines += ["weights:", "  source: safetensors", "  path: model.safetensors",
                  "  names: {preset: %s}" % case["names"]]
    else:
        lines += ["weights:", "  source: safetensors", "  path: weights.safetensors"]
    lines.append("inputs:")
    for k, v in case["inputs"].items():
        lines.append("  %s: %s" % (k, yaml_scalar(v)))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

def init_weight(name, shape, cfg, g):
    """float32 random values with the scales described in README.md."""
    n, C = cfg.streams, cfg.hidden_size

    def uniform(lo, hi):
        return torch.rand(shape, generator=g, dtype=torch.float32) * (hi - lo) + lo

    def normal(mean, std):
        return torch.randn(shape, generator=g, dtype=torch.float32) * std + mean

    leaf = name.rsplit(".", 1)[-1]
    if name == "embed.weight" and not cfg.tie_embeddings:
        return normal(0.0, 1.0)                             # tied: the head's scale, below
    if name == "pos_embed.weight" or leaf == "bias":
        return normal(0.0, 0.1)
    if name.endswith("norm.weight"):
        return normal(1.0, 0.1)
    if leaf.endswith("_fn"):
        b = 1.0 / math.sqrt(n * C)
        return uniform(-b, b)
    if leaf.endswith("_base"):
        return normal(0.0, 1.0)
    if leaf.endswith("_scale"):
        return uniform(0.5, 1.5)
    if name.endswith(".weight") and len(shape) == 2:          # linear [out, in]
        b = 1.0 / math.sqrt(shape[1])
        return uniform(-b, b)
    raise ValueError("no initialiser for %s" % name)


def make_weights(cfg, dtype_name, seed):
    g = torch.Generator().manual_seed(seed)
    shapes = ref.build(cfg).expected_weights()
    return {name: init_weight(name, shapes[name], cfg, g).to(DTYPES[dtype_name])
            for name in sorted(shapes)}


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------

def make_io(cfg, model, runs, seed):
    g = torch.Generator().manual_seed(seed + 1000)
    io = {}
    for k, shape in enumerate(runs):
        if cfg.kind == "decoder":
            ids = torch.randint(0, cfg.vocab_size, shape, generator=g, dtype=torch.int64)
            with torch.no_grad():
                out = model(ids)
            io["run%d.input_ids" % k] = ids
            io["run%d.logits" % k] = out.to(torch.float32)
        else:
            x = torch.randn(shape + (cfg.input_size,), generator=g, dtype=torch.float32)
            with torch.no_grad():
                out = model(x.to(torch.float64))             # exactly the stored F32 values
            io["run%d.x" % k] = x
            io["run%d.y" % k] = out.to(torch.float32)
        if not torch.isfinite(out).all():
            raise RuntimeError("non-finite output in run %d" % k)
    return io


def hf_config(cfg, d):
    """config.json as transformers' LlamaConfig writes it, with DeepSeek-V4's mHC keys
    (hc_mult, hc_sinkhorn_iters, hc_eps): what mhcc import reads (README, "Bring your own
    checkpoint"). The mHC settings it has no key for (dynamic, rms_eps, collapse) are the
    case's, which are mhcc's defaults."""
    import json
    assert cfg.dynamic and cfg.collapse == "head" and cfg.rms_eps == 1e-6
    doc = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.ffn_hidden_size,
        "num_hidden_layers": cfg.layers,
        "num_attention_heads": cfg.heads,
        "num_key_value_heads": cfg.kv_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_sequence,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "hc_mult": cfg.streams,
        "hc_sinkhorn_iters": cfg.sinkhorn_iterations,
        "hc_eps": cfg.eps,
        "torch_dtype": "float32",
        "initializer_range": 0.02,
        "use_cache": True,
    }
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def generate(case, out_root):
    d = os.path.join(out_root, case["name"])
    os.makedirs(d, exist_ok=True)
    text = model_yaml(case)
    with open(os.path.join(d, "model.yaml"), "w") as f:
        f.write(text)

    # Build the reference from the YAML just written, so the file is what gets tested.
    cfg = ref.Config.from_yaml_dict(yaml.safe_load(text))
    weights = make_weights(cfg, case["dtype"], case["seed"])
    if case.get("shards"):
        # Hugging Face names, sharded; the reference reads them back through the index.
        assert case["names"] == "hf-llama"
        hf = {checkpoint_io.hf_llama_name(n): t for n, t in weights.items()}
        checkpoint_io.save_sharded(hf, d, case["shards"])
        hf_config(cfg, d)
    elif case.get("names") == "hf-llama":
        # Hugging Face names in one file, as save_pretrained writes a small model.
        hf = {checkpoint_io.hf_llama_name(n): t for n, t in weights.items()}
        st.save(hf, os.path.join(d, "model.safetensors"))
    elif case.get("names") == "nanogpt":
        # nanoGPT's state_dict names, c_attn fused, lm_head tied; one file.
        st.save(checkpoint_io.to_nanogpt(weights), os.path.join(d, "model.safetensors"))
    else:
        st.save(weights, os.path.join(d, "weights.safetensors"))

    # Compute from what was stored (F16/BF16 rounding included), read back from disk.
    _, model = ref.load_yaml_model(os.path.join(d, "model.yaml"), torch.float64)
    model.eval()
    io = make_io(cfg, model, case["runs"], case["seed"])
    st.save(io, os.path.join(d, "io.safetensors"))
    return d


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(REPO, "testdata", "golden"))
    p.add_argument("cases", nargs="*", help="case names (default: all)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    names = set(args.cases)
    unknown = names - {c["name"] for c in CASES}
    if unknown:
        p.error("unknown case(s): %s" % ", ".join(sorted(unknown)))
    for case in CASES:
        if names and case["name"] not in names:
            continue
        d = generate(case, args.out)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print("%-22s %7d bytes  %s" % (case["name"], size, os.path.relpath(d, REPO)))


if __name__ == "__main__":
    main()
