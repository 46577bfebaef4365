"""Read a model file's checkpoint for the reference: one safetensors file, or the shards of a
Hugging Face `*.safetensors.index.json`, with the tensor names mapped onto docs/spec.md §4.1.

Written from Hugging Face's conventions, not from mhcc's Go code:

- an index is {"weight_map": {tensor name: shard file name}}; every shard is a safetensors
  file in the index's folder;
- `weights.names.preset: hf-llama` is the module naming of transformers' LlamaForCausalLM
  (Qwen2ForCausalLM and MistralForCausalLM name theirs the same): `model.embed_tokens`,
  `model.layers.{i}.self_attn.{q,k,v,o}_proj`, `input_layernorm`, `post_attention_layernorm`,
  `mlp.{gate,up,down}_proj`, `model.norm`, `lm_head`; mHC parameters sit under `model.`.
- `weights.names.preset: nanogpt` is the state_dict of Karpathy's nanoGPT `GPT` (model.py):
  `transformer.wte`, `transformer.wpe`, `transformer.h.{i}.ln_1`, `attn.c_attn` (one nn.Linear
  [3C, C] producing q, k, v in that order: `q, k, v = self.c_attn(x).split(n_embd, dim=2)`),
  `attn.c_proj`, `ln_2`, `mlp.c_fc`, `mlp.c_proj`, `transformer.ln_f`, and `lm_head` (tied to
  `wte`: `self.transformer.wte.weight = self.lm_head.weight`, so the state_dict holds both);
  nn.Linear stores [out, in], so no transposes. mHC parameters sit under `transformer.`
  (`transformer.h.{i}.hc_*`, `transformer.hc_head_*`).

Only what the golden cases use is implemented (no rules, splits or other presets): anything
else is an error, so a golden cannot silently depend on something the reference ignores.
"""

import json
import os
import re

import torch

import safetensors_io as st

# transformers' LlamaDecoderLayer submodule names -> docs/spec.md §4.1 names.
_HF_LLAMA_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn.wq.weight",
    "self_attn.k_proj.weight": "attn.wk.weight",
    "self_attn.v_proj.weight": "attn.wv.weight",
    "self_attn.o_proj.weight": "attn.wo.weight",
    "mlp.gate_proj.weight": "ffn.w1.weight",
    "mlp.up_proj.weight": "ffn.w3.weight",
    "mlp.down_proj.weight": "ffn.w2.weight",
    # Biases (Qwen2's q, k, v; attention_bias and mlp_bias in LlamaConfig) and LayerNorm
    # biases, for the architecture options (docs/spec.md §4.1).
    "input_layernorm.bias": "attn_norm.bias",
    "post_attention_layernorm.bias": "ffn_norm.bias",
    "self_attn.q_proj.bias": "attn.wq.bias",
    "self_attn.k_proj.bias": "attn.wk.bias",
    "self_attn.v_proj.bias": "attn.wv.bias",
    "self_attn.o_proj.bias": "attn.wo.bias",
    "mlp.gate_proj.bias": "ffn.w1.bias",
    "mlp.up_proj.bias": "ffn.w3.bias",
    "mlp.down_proj.bias": "ffn.w2.bias",
}
_HF_LLAMA_TOP = {
    "model.embed_tokens.weight": "embed.weight",
    "model.norm.weight": "norm.weight",
    "model.norm.bias": "norm.bias",
    "lm_head.weight": "head.weight",
}


def hf_llama_name(spec_name):
    """The Hugging Face Llama name of a docs/spec.md §4.1 decoder tensor."""
    for hf, ours in _HF_LLAMA_TOP.items():
        if spec_name == ours:
            return hf
    m = re.fullmatch(r"layers\.(\d+)\.(.+)", spec_name)
    if m:
        for hf, ours in _HF_LLAMA_LAYER.items():
            if m.group(2) == ours:
                return "model.layers.%s.%s" % (m.group(1), hf)
    return "model." + spec_name  # mHC parameters: hc_head_*, layers.{i}.hc_*


def spec_name_hf_llama(hf_name):
    """The inverse of hf_llama_name."""
    if hf_name in _HF_LLAMA_TOP:
        return _HF_LLAMA_TOP[hf_name]
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", hf_name)
    if m and m.group(2) in _HF_LLAMA_LAYER:
        return "layers.%s.%s" % (m.group(1), _HF_LLAMA_LAYER[m.group(2)])
    if hf_name.startswith("model."):
        return hf_name[len("model."):]
    raise ValueError("hf-llama: no docs/spec.md name for %r" % hf_name)


# nanoGPT Block submodule names -> docs/spec.md §4.1 names (c_attn is split separately).
_NANOGPT_LAYER = {
    "ln_1": "attn_norm",
    "ln_2": "ffn_norm",
    "attn.c_proj": "attn.wo",
    "mlp.c_fc": "ffn.w1",
    "mlp.c_proj": "ffn.w2",
}
_NANOGPT_TOP = {
    "transformer.wte.weight": "embed.weight",
    "transformer.wpe.weight": "pos_embed.weight",
    "transformer.ln_f.weight": "norm.weight",
    "transformer.ln_f.bias": "norm.bias",
}


def to_nanogpt(tensors):
    """docs/spec.md §4.1 decoder tensors -> a nanoGPT state_dict (tied head included)."""
    out = {}
    for name, t in tensors.items():
        top = [k for k, v in _NANOGPT_TOP.items() if v == name]
        if top:
            out[top[0]] = t
            continue
        m = re.fullmatch(r"layers\.(\d+)\.(.+)\.(weight|bias)", name)
        if m and m.group(2) in ("attn.wq", "attn.wk", "attn.wv"):
            if m.group(2) == "attn.wq":  # fuse once, in q, k, v order
                parts = [tensors["layers.%s.attn.%s.%s" % (m.group(1), w, m.group(3))] for w in ("wq", "wk", "wv")]
                out["transformer.h.%s.attn.c_attn.%s" % (m.group(1), m.group(3))] = torch.cat(parts, 0)
            continue
        if m:
            nano = [k for k, v in _NANOGPT_LAYER.items() if v == m.group(2)]
            if nano:
                out["transformer.h.%s.%s.%s" % (m.group(1), nano[0], m.group(3))] = t
                continue
        if name.startswith("hc_") or re.fullmatch(r"layers\.\d+\.hc_.*", name):
            out["transformer." + name.replace("layers.", "h.", 1)] = t
            continue
        raise ValueError("nanogpt: no nanoGPT name for %r" % name)
    if "head.weight" in tensors:
        raise ValueError("nanogpt: nanoGPT ties lm_head to wte; the case must set tie_embeddings")
    out["lm_head.weight"] = out["transformer.wte.weight"]
    return out


def from_nanogpt(tensors, heads, kv_heads, head_dim):
    """The inverse of to_nanogpt: split c_attn into [heads*head_dim, kv, kv] rows; lm_head must
    equal wte (tied)."""
    tensors = dict(tensors)
    head = tensors.pop("lm_head.weight", None)
    if head is not None and not torch.equal(head, tensors["transformer.wte.weight"]):
        raise ValueError("nanogpt: lm_head.weight differs from transformer.wte.weight (not tied)")
    out = {}
    q, kv = heads * head_dim, kv_heads * head_dim
    for name, t in tensors.items():
        if name in _NANOGPT_TOP:
            out[_NANOGPT_TOP[name]] = t
            continue
        m = re.fullmatch(r"transformer\.h\.(\d+)\.(.+)\.(weight|bias)", name)
        if m and m.group(2) == "attn.c_attn":
            if t.shape[0] != q + 2 * kv:
                raise ValueError("nanogpt: %s has %d rows, want %d" % (name, t.shape[0], q + 2 * kv))
            for w, part in zip(("wq", "wk", "wv"), torch.split(t, [q, kv, kv], 0)):
                out["layers.%s.attn.%s.%s" % (m.group(1), w, m.group(3))] = part.clone()
            continue
        if m and m.group(2) in _NANOGPT_LAYER:
            out["layers.%s.%s.%s" % (m.group(1), _NANOGPT_LAYER[m.group(2)], m.group(3))] = t
            continue
        m = re.fullmatch(r"transformer\.(h\.\d+\.)?(hc_.*)", name)
        if m:
            out[("layers." + m.group(1)[2:] if m.group(1) else "") + m.group(2)] = t
            continue
        raise ValueError("nanogpt: no docs/spec.md name for %r" % name)
    return out


def read_tensors(path):
    """{name: tensor} of a safetensors file or of every shard an index lists."""
    if not path.endswith(".json"):
        return st.load(path)
    with open(path) as f:
        weight_map = json.load(f)["weight_map"]
    out = {}
    for shard in sorted(set(weight_map.values())):
        tensors = st.load(os.path.join(os.path.dirname(path), shard))
        for name, s in weight_map.items():
            if s == shard:
                out[name] = tensors[name]  # KeyError: the index lies
    return out


def save_sharded(tensors, folder, shards, metadata=None):
    """Write tensors as `shards` safetensors files (names in sorted order, dealt round-robin)
    and model.safetensors.index.json; returns the index's path."""
    names = sorted(tensors)
    weight_map = {}
    for k in range(shards):
        file = "model-%05d-of-%05d.safetensors" % (k + 1, shards)
        part = {n: tensors[n] for i, n in enumerate(names) if i % shards == k}
        st.save(part, os.path.join(folder, file), metadata=metadata)
        weight_map.update({n: file for n in part})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    path = os.path.join(folder, "model.safetensors.index.json")
    with open(path, "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")
    return path


def load_weights(model_file, weights):
    """The model file's weights ({docs/spec.md §4.1 name: tensor}) from its weights section."""
    tensors = read_tensors(os.path.join(os.path.dirname(model_file), weights["path"]))
    names = weights.get("names")
    if not names:
        return tensors
    if set(names) == {"preset"} and names["preset"] == "nanogpt":
        import yaml
        with open(model_file) as f:
            arch = yaml.safe_load(f)["architecture"]  # the c_attn split needs the head sizes
        heads = arch["heads"]
        kv_heads = arch.get("kv_heads", heads)
        head_dim = arch.get("head_dim", arch["hidden_size"] // heads)
        return from_nanogpt(tensors, heads, kv_heads, head_dim)
    if set(names) != {"preset"} or names["preset"] != "hf-llama":
        raise ValueError("%s: the reference reads weights.names {preset: hf-llama or nanogpt} only, got %r" % (model_file, names))
    return {spec_name_hf_llama(n): t for n, t in tensors.items() if not n.endswith("rotary_emb.inv_freq")}
