"""Fixtures for the batch-mode tests: two tiny models and a folder of generated items.

usage: make-batch-fixtures.py OUT_DIR N_IMAGES

OUT_DIR/classifier.onnx  x[N,3,16,16] -> Conv 3x3 -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> y[N,10]
OUT_DIR/filter.onnx      x[N,3,16,16] -> Conv 1x1 -> Sigmoid -> y[N,3,16,16] (image-shaped)
OUT_DIR/blend.onnx       color[N,3,16,16], albedo[N,3,16,16] -> Concat -> Conv 1x1 -> Sigmoid -> y[N,3,16,16]
OUT_DIR/lookup.onnx      x[N,2] int64 -> Gather from a [4,3] table -> y[N,2,3]: an index >= 4 fails the run
OUT_DIR/upscale.onnx     x[N,3,H,W] -> Conv 3x3 -> Relu -> Conv 3x3 -> DepthToSpace 2 -> Sigmoid -> y[N,3,2H,2W]
                         (fully convolutional, receptive field 2 pixels from the centre)
OUT_DIR/frames/          two 70x45 PNG frames and a [3, 40, 90] .npy frame for upscale.onnx
OUT_DIR/multi/           six item folders for blend.onnx (color.png, albedo.npy) and multi.jsonl listing them
OUT_DIR/exr-frames/      two 70x45 EXR frames (half, float; data window at 10,5 in a 100x60 display window)
OUT_DIR/exr-layers/      three EXR items for blend.onnx: R,G,B (color) and albedo.R,G,B (albedo)
OUT_DIR/exr-uint/        a 9x6 EXR of uint R, G, B channels (values below 2^24, exact as floats)
OUT_DIR/lookup/          seven int64 items for lookup.onnx, bad.npy among them with an index of 9
OUT_DIR/items/           N_IMAGES images (8-bit PNG, 16-bit PNG, JPEG via cjpeg, some 24x20 that
                         need --resize/--crop) in sub-folders, plus .npy and TensorProto .pb tensors
OUT_DIR/labels.txt       ten class names
"""
import os, struct, subprocess, sys, zlib
import numpy as np
import onnx
from exrfile import exr_write
from onnx import TensorProto, helper, numpy_helper

out, count = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
extra = np.random.default_rng(8)  # for the multi-input fixtures, leaving rng's draws as they were


def model(path, nodes, inits, out_shape, inputs=(("x", TensorProto.FLOAT, ["N", 3, 16, 16]),)):
    graph = helper.make_graph(
        nodes, os.path.basename(path),
        [helper.make_tensor_value_info(*i) for i in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


os.makedirs(f"{out}/items/a", exist_ok=True)
os.makedirs(f"{out}/items/b/c", exist_ok=True)
model(f"{out}/classifier.onnx", [
    helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c"], ["r"]),
    helper.make_node("GlobalAveragePool", ["r"], ["p"]),
    helper.make_node("Flatten", ["p"], ["f"]),
    helper.make_node("Gemm", ["f", "fc", "fb"], ["y"], transB=1),
], {"w": rng.normal(size=(8, 3, 3, 3)), "b": rng.normal(size=8) * 0.1,
    "fc": rng.normal(size=(10, 8)), "fb": rng.normal(size=10) * 0.1}, ["N", 10])
model(f"{out}/filter.onnx", [
    helper.make_node("Conv", ["x", "w"], ["c"]),
    helper.make_node("Sigmoid", ["c"], ["y"]),
], {"w": rng.normal(size=(3, 3, 1, 1))}, ["N", 3, 16, 16])
model(f"{out}/blend.onnx", [
    helper.make_node("Concat", ["color", "albedo"], ["c"], axis=1),
    helper.make_node("Conv", ["c", "w"], ["d"]),
    helper.make_node("Sigmoid", ["d"], ["y"]),
], {"w": extra.normal(size=(3, 6, 1, 1))}, ["N", 3, 16, 16],
    [(name, TensorProto.FLOAT, ["N", 3, 16, 16]) for name in ("color", "albedo")])
model(f"{out}/lookup.onnx", [helper.make_node("Gather", ["table", "x"], ["y"])],
      {"table": np.arange(12).reshape(4, 3)}, ["N", 2, 3], [("x", TensorProto.INT64, ["N", 2])])
os.makedirs(f"{out}/lookup", exist_ok=True)
for i in range(7):
    np.save(f"{out}/lookup/{'bad' if i == 3 else f'i{i}'}.npy", np.array([[i % 4, 9 if i == 3 else 1]], np.int64))
with open(f"{out}/labels.txt", "w") as f:
    f.write("".join(f"class {i}\n" for i in range(10)))


def png(path, pixels):
    """pixels: HxWx3 uint8 or uint16 -> an RGB PNG of that bit depth."""
    h, w, _ = pixels.shape
    depth = 16 if pixels.dtype == np.uint16 else 8
    rows = pixels.astype(">u2" if depth == 16 else "u1").reshape(h, -1)
    raw = b"".join(b"\x00" + r.tobytes() for r in rows)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


for i in range(count):
    folder = ["", "a/", "b/c/"][i % 3]
    size = (16, 16) if i % 5 else (20, 24)        # every fifth image needs --resize 16 --crop 16
    pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
    kind = i % 4
    if kind == 0:
        png(f"{out}/items/{folder}img{i:04d}.png", pixels)
    elif kind == 1:
        png(f"{out}/items/{folder}img{i:04d}.png", pixels.astype(np.uint16) * 257)
    elif kind == 2:
        ppm = f"{out}/img{i:04d}.ppm"
        with open(ppm, "wb") as f:
            f.write(b"P6 %d %d 255\n" % (size[1], size[0]) + pixels.tobytes())
        with open(f"{out}/items/{folder}img{i:04d}.jpg", "wb") as f:
            subprocess.run(["cjpeg", "-quality", "90", ppm], stdout=f, check=True)
        os.remove(ppm)
    elif i % 8 == 3:
        np.save(f"{out}/items/{folder}t{i:04d}.npy", rng.random((1, 3, 16, 16), dtype=np.float32))
    else:
        tensor = numpy_helper.from_array(rng.random((3, 16, 16), dtype=np.float32), "x")
        with open(f"{out}/items/{folder}t{i:04d}.pb", "wb") as f:
            f.write(tensor.SerializeToString())


model(f"{out}/upscale.onnx", [
    helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c1"], ["r"]),
    helper.make_node("Conv", ["r", "w2"], ["c2"], pads=[1, 1, 1, 1]),
    helper.make_node("DepthToSpace", ["c2"], ["d"], blocksize=2),
    helper.make_node("Sigmoid", ["d"], ["y"]),
], {"w1": extra.normal(size=(8, 3, 3, 3)), "w2": extra.normal(size=(12, 8, 3, 3)) * 0.3}, ["N", 3, "H2", "W2"],
    [("x", TensorProto.FLOAT, ["N", 3, "H", "W"])])
os.makedirs(f"{out}/frames", exist_ok=True)
for i in range(2):
    png(f"{out}/frames/f{i}.png", extra.integers(0, 256, size=(45, 70, 3), dtype=np.uint8))
np.save(f"{out}/frames/f2.npy", extra.random((3, 40, 90), dtype=np.float32))
os.makedirs(f"{out}/multi", exist_ok=True)
with open(f"{out}/multi/multi.jsonl", "w") as manifest:
    for i in range(6):
        os.makedirs(f"{out}/multi/f{i}", exist_ok=True)
        png(f"{out}/multi/f{i}/color.png", extra.integers(0, 256, size=(16, 16, 3), dtype=np.uint8))
        np.save(f"{out}/multi/f{i}/albedo.npy", extra.random((1, 3, 16, 16), dtype=np.float32))
        manifest.write(f'{{"color": "f{i}/color.png", "albedo": "f{i}/albedo.npy"}}\n')


# EXR frames for upscale.onnx (half and float, data windows off the origin) and two-layer EXR
# items for blend.onnx (R, G, B feed color; albedo.R, albedo.G, albedo.B feed albedo).
os.makedirs(f"{out}/exr-frames", exist_ok=True)
for i, half in enumerate((True, False)):
    frame = extra.random((3, 45, 70), dtype=np.float32) * 4    # HDR values above 1
    exr_write(f"{out}/exr-frames/f{i}.exr", dict(zip("RGB", frame)), "half" if half else "float", origin=(10, 5), display=(0, 0, 99, 59))
os.makedirs(f"{out}/exr-layers", exist_ok=True)
for i in range(3):
    layers = extra.random((6, 16, 16), dtype=np.float32)
    exr_write(f"{out}/exr-layers/f{i}.exr", dict(zip(["R", "G", "B", "albedo.R", "albedo.G", "albedo.B"], layers)), ["half", "float"][i % 2])
os.makedirs(f"{out}/exr-uint", exist_ok=True)
exr_write(f"{out}/exr-uint/ids.exr", dict(zip("RGB", extra.integers(0, 1 << 24, size=(3, 6, 9), dtype=np.uint32))), "uint")
