"""Run the PyTorch reference's KV-cache path and its full forward on the same tokens.

    /usr/bin/python3 scripts/reference/kv_reference.py MODEL_YAML IN.safetensors OUT.safetensors [--max-sequence N]

IN.safetensors holds, for runs r = 0, 1, ..., `run{r}.ids` int64 [batch, T] and
`run{r}.schedule` int64 [k], chunk lengths that sum to T: the tokens are fed to
Decoder.forward_cached chunk by chunk (the first chunk is the prefill on an empty cache,
then each chunk continues from the cache the previous one returned). OUT.safetensors gets,
per run, in float64:

- `run{r}.full.logits` [batch, T, vocab]: Decoder.forward over all T tokens at once;
- `run{r}.cached.logits` [batch, T, vocab]: the chunks' logits, concatenated;
- `run{r}.cached.present.{i}.key` / `.value` [batch, kv_heads, T, head_dim]: the final cache.

    /usr/bin/python3 scripts/reference/kv_reference.py greedy MODEL_YAML --prompts 1,2,3:4,5 --max-new-tokens N [--eos ID] [--batch]

prints, as JSON, the greedy ids of each prompt (Decoder.greedy): each prompt alone, or with
--batch all prompts in one left-padded, masked batch as Hugging Face's generate runs them.

The model file must have `weights.source: safetensors` (mhc_reference.load_yaml_model).
--max-sequence enlarges the RoPE tables (rows 0..max_sequence-1 are the same whatever the
size) when T exceeds the file's max_sequence; learned positions cannot grow (an error).
"""

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import mhc_reference as ref  # noqa: E402
import safetensors_io as st  # noqa: E402
import checkpoint_io  # noqa: E402


def load_model(path, max_sequence=0):
    import yaml
    with open(path) as f:
        doc = yaml.safe_load(f)
    learned = (doc.get("architecture") or {}).get("positions") == "learned"
    if max_sequence and learned:
        # pos_embed.weight has the file's max_sequence rows; they cannot grow
        have = (doc.get("inputs") or {}).get("max_sequence", 4096)
        if max_sequence > have:
            raise SystemExit("kv_reference.py: --max-sequence %d exceeds the %d rows of pos_embed.weight (positions: learned)" % (max_sequence, have))
    elif max_sequence:
        doc["inputs"] = dict(doc.get("inputs") or {}, max_sequence=max(max_sequence, (doc.get("inputs") or {}).get("max_sequence", 0)))
    cfg = ref.Config.from_yaml_dict(doc)
    model = ref.build(cfg, torch.float64)
    model.load_weights(checkpoint_io.load_weights(path, doc["weights"]))
    model.eval()
    return model


def greedy_main(argv):
    import json
    ap = argparse.ArgumentParser(prog="kv_reference.py greedy")
    ap.add_argument("model")
    ap.add_argument("--prompts", required=True, help="prompts separated by ':', ids by ','")
    ap.add_argument("--max-new-tokens", type=int, required=True)
    ap.add_argument("--eos", type=int, default=None)
    ap.add_argument("--batch", action="store_true")
    a = ap.parse_args(argv)
    prompts = [[int(t) for t in p.split(",")] for p in a.prompts.split(":")]
    model = load_model(a.model)
    if a.batch:
        out = model.greedy(prompts, a.max_new_tokens, eos=a.eos)
    else:
        out = [model.greedy([p], a.max_new_tokens, eos=a.eos)[0] for p in prompts]
    print(json.dumps(out))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "greedy":
        return greedy_main(sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("inputs")
    ap.add_argument("out")
    ap.add_argument("--max-sequence", type=int, default=0)
    a = ap.parse_args()

    import yaml
    with open(a.model) as f:
        doc = yaml.safe_load(f)
    if a.max_sequence:
        doc.setdefault("inputs", {})
        doc["inputs"] = dict(doc["inputs"] or {}, max_sequence=max(a.max_sequence, (doc["inputs"] or {}).get("max_sequence", 0)))
    cfg = ref.Config.from_yaml_dict(doc)
    model = ref.build(cfg, torch.float64)
    model.load_weights(checkpoint_io.load_weights(a.model, doc["weights"]))
    model.eval()

    io = st.load(a.inputs)
    out = {}
    r = 0
    while "run%d.ids" % r in io:
        ids = io["run%d.ids" % r].to(torch.int64)
        schedule = [int(n) for n in io["run%d.schedule" % r].tolist()]
        if sum(schedule) != ids.shape[1]:
            raise SystemExit("run %d: schedule %s does not sum to T = %d" % (r, schedule, ids.shape[1]))
        with torch.no_grad():
            full = model(ids)
            cache = model.empty_cache(ids.shape[0])
            chunks, at = [], 0
            for n in schedule:
                logits, cache = model.forward_cached(ids[:, at:at + n], cache)
                chunks.append(logits)
                at += n
            cached = torch.cat(chunks, dim=1)
        out["run%d.full.logits" % r] = full
        out["run%d.cached.logits" % r] = cached
        for i, (k, v) in enumerate(cache):
            out["run%d.cached.present.%d.key" % (r, i)] = k
            out["run%d.cached.present.%d.value" % (r, i)] = v
        r += 1
    if r == 0:
        raise SystemExit("no run0.ids in %s" % a.inputs)
    st.save(out, a.out)


if __name__ == "__main__":
    main()
