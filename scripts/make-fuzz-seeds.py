#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (scripts/fuzz.sh), written rather than committed:

    .testdata/venv/bin/python scripts/make-fuzz-seeds.py DIR

DIR/model: the mutation campaign's seed models (Conv, Reshape, Concat, Expand, Tile,
ConstantOfShape, Gemm, If, Loop, Scan, a sequence input) and a few more that reach other
loader paths: external data, a sparse initializer, a Constant's tensor attribute, strings.
DIR/input: .npy files (several dtypes, byte orders, Fortran order, 0-d, strings) and
TensorProto .pb files, as onnx-run --input reads them.
"""
import importlib.util, io, os, sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("campaign", os.path.join(here, "mutation-campaign.py"))
campaign = importlib.util.module_from_spec(spec)
spec.loader.exec_module(campaign)
model, vi = campaign.model, campaign.vi


def extra_models():
    out = [vi("y", None)]
    w = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("raw_data")
    for key, value in [("location", "w.bin"), ("offset", "0"), ("length", "16")]:
        w.external_data.add(key=key, value=value)
    yield model([helper.make_node("Add", ["x", "w"], ["y"])], [vi("x", [4])], out, [w])
    sparse = helper.make_sparse_tensor(numpy_helper.from_array(np.array([5, 7], np.float32), "sp"),
                                       numpy_helper.from_array(np.array([1, 5], np.int64)), [2, 3])
    m = model([helper.make_node("Add", ["x", "sp"], ["y"])], [vi("x", [2, 3])], out)
    m.graph.sparse_initializer.append(sparse)
    yield m
    value = numpy_helper.from_array(np.array([[1, 2], [3, 4]], np.int64))
    yield model([helper.make_node("Constant", [], ["c"], value=value), helper.make_node("Shape", ["c"], ["y"])], [], out)
    yield model([helper.make_node("Identity", ["s"], ["y"])], [vi("s", [2], TensorProto.STRING)], out)


def npy(array):
    f = io.BytesIO()
    np.save(f, array)
    return f.getvalue()


def inputs():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    yield "f32.npy", npy(a)
    yield "f64-fortran.npy", npy(np.asfortranarray(a.astype(np.float64)))
    yield "f32-big-endian.npy", npy(a.astype(">f4"))
    yield "f16.npy", npy(a.astype(np.float16))
    yield "i64-0d.npy", npy(np.array(7, np.int64))
    yield "bool.npy", npy(np.array([True, False]))
    yield "u8-empty.npy", npy(np.zeros((0, 3), np.uint8))
    yield "str.npy", npy(np.array(["ab", "c"]))
    for name, array in [("f32", a), ("i32", a.astype(np.int32)), ("bool", a > 2), ("f16", a.astype(np.float16))]:
        yield f"{name}.pb", numpy_helper.from_array(array, name).SerializeToString()
    yield "str.pb", helper.make_tensor("s", TensorProto.STRING, [2], [b"ab", b"c"]).SerializeToString()
    yield "f32-typed.pb", helper.make_tensor("t", TensorProto.FLOAT, [2], [1.5, 2.5]).SerializeToString()


def main():
    root = sys.argv[1]
    os.makedirs(os.path.join(root, "model"), exist_ok=True)
    os.makedirs(os.path.join(root, "input"), exist_ok=True)
    models = list(campaign.seeds()) + list(extra_models())
    for i, m in enumerate(models):
        with open(os.path.join(root, "model", f"seed-{i:02}.onnx"), "wb") as f:
            f.write(m.SerializeToString())
    for name, data in inputs():
        with open(os.path.join(root, "input", name), "wb") as f:
            f.write(data)
    print(f"{len(models)} models, {len(list(inputs()))} inputs in {root}")


if __name__ == "__main__":
    main()
