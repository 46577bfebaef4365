#!/usr/bin/python3
"""Check an ONNX model with the reference implementation (Debian's python3-onnx).

usage: check_onnx.py MODEL.onnx

Runs, and exits non-zero with the first failure's message:
  1. onnx.checker.check_model on the path (the path form also checks external
     data files and models over 2 GB);
  2. onnx.shape_inference.infer_shapes(model, check_type=True,
     strict_mode=True), which is what check_model's full_check=True does (the
     path form of full_check is not used because onnx 1.12's
     infer_shapes_path overwrites the model file with the inferred one);
  3. a comparison of each graph output's declared type with the inferred one:
     the element type must match, the rank must match, a declared size must be
     the inferred size, and a declared symbolic size (dim_param) must not be
     inferred as a fixed one.
"""

import sys

import onnx
import onnx.checker
import onnx.shape_inference


def describe(tt):
    elem = onnx.TensorProto.DataType.Name(tt.elem_type) if tt.elem_type else "?"
    if not tt.HasField("shape"):
        return elem + "[unknown rank]"
    dims = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(str(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append("?")
    return "%s[%s]" % (elem, ",".join(dims))


def compare_outputs(declared, inferred):
    """Returns a list of contradictions between declared and inferred outputs."""
    problems = []
    inferred_by_name = {vi.name: vi for vi in inferred}
    for d in declared:
        i = inferred_by_name.get(d.name)
        if i is None or not d.type.HasField("tensor_type") or not i.type.HasField("tensor_type"):
            continue
        dt, it = d.type.tensor_type, i.type.tensor_type
        msg = "output %r: declared %s, inferred %s" % (d.name, describe(dt), describe(it))
        if dt.elem_type and it.elem_type and dt.elem_type != it.elem_type:
            problems.append(msg + ": element types differ")
            continue
        if not dt.HasField("shape") or not it.HasField("shape"):
            continue
        if len(dt.shape.dim) != len(it.shape.dim):
            problems.append(msg + ": ranks differ")
            continue
        for k, (dd, idim) in enumerate(zip(dt.shape.dim, it.shape.dim)):
            if not idim.HasField("dim_value"):
                continue
            if dd.HasField("dim_value") and dd.dim_value != idim.dim_value:
                problems.append(msg + ": dimension %d differs" % k)
            elif dd.HasField("dim_param"):
                problems.append(
                    msg + ": dimension %d is declared symbolic (%r) but inferred as %d"
                    % (k, dd.dim_param, idim.dim_value))
    return problems


def main(argv):
    if len(argv) != 2:
        print("usage: check_onnx.py MODEL.onnx", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        onnx.checker.check_model(path)
    except Exception as e:  # ValidationError and friends
        print("check_model: %s" % e, file=sys.stderr)
        return 1
    # Shape inference only needs the graph, not external weights.
    model = onnx.load(path, load_external_data=False)
    declared = [onnx.ValueInfoProto.FromString(vi.SerializeToString()) for vi in model.graph.output]
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as e:  # InferenceError and friends
        print("infer_shapes: %s" % e, file=sys.stderr)
        return 1
    problems = compare_outputs(declared, inferred.graph.output)
    if problems:
        print("infer_shapes contradicts the declared outputs:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
