"""Export the independent PyTorch reference of a model file to ONNX with torch.onnx.export.

    /usr/bin/python3 scripts/reference/export_onnx.py MODEL_YAML OUT.onnx [--opset 17]

The model is mhc_reference's implementation of docs/spec.md §2-§3, built in float32 from a docs/spec.md §5
model file:

- `weights.source: safetensors`: the file's weights (F16/BF16 widen exactly to float32).
- `weights.source: random`: weights drawn with a torch generator seeded by `weights.seed`
  (default 0), with make_golden.py's scales. They are not mhcc's random weights (mhcc has
  its own generator), so they are written next to the output for comparisons:
  OUT.safetensors (F32, docs/spec.md §4 names) and OUT.yaml, the model file with
  `weights: {source: safetensors, path: OUT.safetensors}`, which mhcc can compile.

The graph has input `input_ids` int64 [batch, sequence] (decoder) or `x` float32
[batch, input_size] (mlp) and output `logits` [batch, sequence, vocab] or `y`
[batch, output_size], float32. `batch` and `sequence` are dynamic axes unless the model
file's `inputs` section fixes them, in which case the exported shape is fixed too.
Only Debian's python3-torch (1.13), python3-onnx and numpy are needed; no network.
"""

import argparse
import io
import os
import sys

import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import mhc_reference as ref  # noqa: E402
import safetensors_io as st  # noqa: E402
import checkpoint_io  # noqa: E402


def fixed_dim(inputs, key):
    """The integer size inputs[key] fixes, or None when it is dynamic (or absent)."""
    v = inputs.get(key, "dynamic")
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return v


def build_model(path, doc, out):
    """(cfg, float32 model with weights loaded, path of written weights or None)."""
    cfg = ref.Config.from_yaml_dict(doc)
    model = ref.build(cfg, torch.float32)
    w = doc.get("weights") or {}
    source = w.get("source", "random")
    written = None
    if source == "safetensors":
        model.load_weights(checkpoint_io.load_weights(path, w))
    elif source == "random":
        import make_golden
        seed = int(w.get("seed", 0))
        torch.manual_seed(seed)
        weights = make_golden.make_weights(cfg, "F32", seed)
        model.load_weights(weights)
        stem = os.path.splitext(out)[0]
        written = stem + ".safetensors"
        st.save(weights, written, metadata={"producer": "export_onnx.py", "seed": seed})
        doc = dict(doc)
        doc["weights"] = {"source": "safetensors", "path": os.path.basename(written)}
        with open(stem + ".yaml", "w") as f:
            f.write("# %s with the weights export_onnx.py drew (seed %d).\n"
                    % (os.path.basename(path), seed))
            yaml.safe_dump(doc, f, sort_keys=False)
    else:
        raise ValueError("%s: weights.source %r" % (path, source))
    model.eval()
    return cfg, model, written


def export(path, out, opset=17):
    with open(path) as f:
        doc = yaml.safe_load(f)
    cfg, model, written = build_model(path, doc, out)
    inputs = doc.get("inputs") or {}
    batch = fixed_dim(inputs, "batch")
    dyn_in, dyn_out = {}, {}
    if batch is None:
        dyn_in[0] = dyn_out[0] = "batch"
    if cfg.kind == "decoder":
        seq = fixed_dim(inputs, "sequence")
        if seq is None:
            dyn_in[1] = dyn_out[1] = "sequence"
        # The sample input takes the fixed sizes; a dynamic axis stays symbolic in the
        # graph (torch traces x.shape as Shape/Gather), whatever size the sample has.
        sample = torch.zeros(batch or 2, seq or min(3, cfg.max_sequence), dtype=torch.int64)
        in_name, out_name = "input_ids", "logits"
    else:
        sample = torch.zeros(batch or 2, cfg.input_size, dtype=torch.float32)
        in_name, out_name = "x", "y"
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, (sample,), buf,
                          input_names=[in_name], output_names=[out_name],
                          dynamic_axes={in_name: dyn_in, out_name: dyn_out},
                          opset_version=opset, do_constant_folding=True)
    with open(out, "wb") as f:
        f.write(buf.getvalue())
    return written


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", help="docs/spec.md §5 model file (YAML)")
    p.add_argument("out", help="ONNX file to write")
    p.add_argument("--opset", type=int, default=17)
    args = p.parse_args(argv)
    written = export(args.model, args.out, args.opset)
    print("wrote %s" % args.out)
    if written:
        print("wrote %s (weights) and %s.yaml" % (written, os.path.splitext(args.out)[0]))


if __name__ == "__main__":
    main()
