#!/usr/bin/env bash
# A tiled 4K job: a small fully convolutional denoiser (Conv 3x3 3→32, Relu, Conv 3x3 32→32,
# Relu, Conv 3x3 32→3; 182 GFLOP a 3840x2160 frame) over FRAMES 16-bit PNG frames of that
# size, in TILE tiles sharing OVERLAP pixels, 16-bit PNG out (FORMAT=exr: half EXR frames in
# and out). Prints frames/s, seconds per stage and the peak resident memory; with `whole`,
# also one frame without tiles and with them (.npy out), their peak memory and the relative
# L2 distance between their outputs.
# usage: [FORMAT=png16|exr] Benchmarks/tiled-throughput.sh [FRAMES] [TILE] [OVERLAP] [THREADS] [whole]
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-4} tile=${2:-512x512} overlap=${3:-32} threads=${4:-2} format=${FORMAT:-png16}
ext=$([ "$format" = exr ] && echo exr || echo png)
py=.testdata/venv/bin/python tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$py" - "$tmp" "$frames" "$ext" <<'PY'
import os, struct, sys, zlib
import numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper
out, n, ext = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, "scripts")
from exrfile import exr_write
rng = np.random.default_rng(0)
w = {"w1": (32, 3), "w2": (32, 32), "w3": (3, 32)}
nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1] * 4), helper.make_node("Relu", ["c1"], ["r1"]),
         helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1] * 4), helper.make_node("Relu", ["c2"], ["r2"]),
         helper.make_node("Conv", ["r2", "w3"], ["y"], pads=[1] * 4)]
inits = [numpy_helper.from_array((rng.normal(size=(o, i, 3, 3)) / np.sqrt(9 * i)).astype(np.float32), k) for k, (o, i) in w.items()]
graph = helper.make_graph(nodes, "denoise", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H", "W"])], inits)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), f"{out}/denoise.onnx")
os.makedirs(f"{out}/frames")
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
yy, xx = np.mgrid[0:2160, 0:3840]
for i in range(n):
    base = (np.stack([np.sin(xx / (97 + i)), np.cos(yy / 61), np.sin((xx + yy) / 143)], -1) + 1) / 2
    noisy = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)
    if ext == "exr":
        exr_write(f"{out}/frames/frame{i:04d}.exr", dict(zip("RGB", noisy.transpose(2, 0, 1))), "half")
        continue
    px = (noisy * 65535).astype(">u2")
    raw = b"".join(b"\x00" + r.tobytes() for r in px.reshape(2160, -1))
    with open(f"{out}/frames/frame{i:04d}.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 3840, 2160, 16, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))
PY

# run NAME FLAGS...: the job into $tmp/NAME; prints its summary and peak memory (VmHWM).
run() {
    local name=$1; shift
    .build/release/onnx-run "$tmp/denoise.onnx" --threads "$threads" --output-dir "$tmp/$name" "$@" 2>/dev/null &
    local pid=$! peak=0 r
    while kill -0 $pid 2>/dev/null; do
        r=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null) && [ -n "$r" ] && peak=$r
        sleep 0.05
    done
    wait $pid
    echo "$name: peak $((peak / 1024)) MB; $(cat "$tmp/$name/summary.json")"
}
run tiled --batch-input "$tmp/frames" --tile "$tile" --overlap "$overlap" $([ "$format" = exr ] && echo --exr-half || echo --png16)
if [ "${5:-}" = whole ]; then
    mkdir "$tmp/one" && cp "$tmp/frames/frame0000.$ext" "$tmp/one/"
    run whole --batch-input "$tmp/one"
    run tiled-npy --batch-input "$tmp/one" --tile "$tile" --overlap "$overlap"
    "$py" -c "
import numpy as np
a, b = np.load('$tmp/tiled-npy/frame0000.$ext.npy'), np.load('$tmp/whole/frame0000.$ext.npy')
print(f'relative L2, tiled vs whole frame: {np.linalg.norm(a - b) / np.linalg.norm(b):.2e}')"
fi
