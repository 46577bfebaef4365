"""Write the checkpoints of testdata/errors/weights/ (tiny, deterministic).

    /usr/bin/python3 testdata/errors/weights/make_fixtures.py

The model is the mlp of the .yaml files here (input 4, output 2, hidden 8,
one layer, ffn 8, residual); each checkpoint is wrong in one way.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "scripts", "reference"))
import torch  # noqa: E402
import safetensors_io as st  # noqa: E402

SHAPES = {
    "in_proj.weight": (8, 4),
    "layers.0.norm.weight": (8,),
    "layers.0.mlp.w1.weight": (8, 8),
    "layers.0.mlp.w2.weight": (8, 8),
    "norm.weight": (8,),
    "out_proj.weight": (2, 8),
}


def t(shape):
    n = 1
    for d in shape:
        n *= d
    return (torch.arange(n, dtype=torch.float32) / n).reshape(shape)


def write(name, tensors):
    st.save(tensors, os.path.join(HERE, name))


def index(folder, weight_map):
    os.makedirs(os.path.join(HERE, folder), exist_ok=True)
    with open(os.path.join(HERE, folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")


# The right names.
write("ok.safetensors", {k: t(s) for k, s in SHAPES.items()})
# Names with a prefix.
write("net.safetensors", {"net." + k: t(s) for k, s in SHAPES.items()})
# w1 and w2 fused into one [16, 8] tensor.
fused = {k: t(s) for k, s in SHAPES.items() if ".mlp." not in k}
fused["layers.0.mlp.w12.weight"] = t((16, 8))
write("fused.safetensors", fused)
# out_proj stored as I32.
i32 = {k: t(s) for k, s in SHAPES.items()}
i32["out_proj.weight"] = torch.zeros(2, 8, dtype=torch.int32)
write("i32.safetensors", i32)

names = sorted(SHAPES)
first, second = names[:3], names[3:]
# The index names a second shard that is not there.
index("missing-shard", {**{k: "model-00001-of-00002.safetensors" for k in first},
                        **{k: "model-00002-of-00002.safetensors" for k in second}})
st.save({k: t(SHAPES[k]) for k in first}, os.path.join(HERE, "missing-shard", "model-00001-of-00002.safetensors"))
# The index places out_proj.weight in a shard that lacks it.
index("lacking-shard", {k: "model-00001-of-00001.safetensors" for k in names})
st.save({k: t(SHAPES[k]) for k in names if k != "out_proj.weight"},
        os.path.join(HERE, "lacking-shard", "model-00001-of-00001.safetensors"))
# A shard whose header claims more data than the file holds.
index("lying-shard", {k: "model-00001-of-00001.safetensors" for k in names})
path = os.path.join(HERE, "lying-shard", "model-00001-of-00001.safetensors")
st.save({k: t(SHAPES[k]) for k in names}, path)
with open(path, "rb") as f:
    data = f.read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
header["out_proj.weight"]["data_offsets"][1] += 4096  # 4 KiB past the end
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + data[8 + n:])
