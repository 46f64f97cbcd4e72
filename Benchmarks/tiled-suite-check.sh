#!/usr/bin/env bash
# Tiled against whole-frame inference on the benchmark suite's image-to-image models: the
# fixed-size models (UNet 256x256 → mask, ESRGAN-lite 128x128 → ×4, and the UNet with its
# InstanceNormalizations made Identity, to part their effect from the UNet's stride of 16)
# run over a larger frame in tiles of their size with each OVERLAP, and a copy of each with
# free H and W (same weights) runs the whole frame; prints the relative L2 distance of each
# tiled output from the whole-frame one, and the seconds each run took.
# usage: Benchmarks/tiled-suite-check.sh [THREADS] [OVERLAPS]   (after swift build -c release;
#        the suite from Benchmarks/suite/make_suite.py in .testdata/suite)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2} overlaps=${2:-"0 16 32 64"}
py=.testdata/venv/bin/python tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$py" - "$tmp" <<'PY'
import os, sys
import numpy as np, onnx
out = sys.argv[1]
for name, (h, w) in {"unet": (384, 512), "unet-plain": (384, 512), "esrgan-lite": (192, 256)}.items():
    m = onnx.load(f".testdata/suite/{name.replace('-plain', '')}.onnx")
    g = m.graph
    if name == "unet-plain":
        for n in g.node:
            if n.op_type == "InstanceNormalization":
                n.op_type = "Identity"; del n.input[1:]; del n.attribute[:]
    onnx.save(m, f"{out}/{name}.onnx")
    del g.value_info[:]                     # shapes inferred for the fixed size
    for v, (hn, wn) in ((g.input[0], ("H", "W")), (g.output[0], ("OH", "OW"))):
        dims = v.type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = hn, wn
    onnx.save(m, f"{out}/{name}-any.onnx")
    os.makedirs(f"{out}/{name}-frame")
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(xx / 23), np.cos(yy / 17), np.sin((xx + yy) / 41)]) / 2 + 0.5
    frame = base + np.random.default_rng(0).normal(0, 0.05, base.shape)
    np.save(f"{out}/{name}-frame/frame.npy", frame[None].astype(np.float32))
PY

# run NAME MODEL FLAGS...: one job into $tmp/NAME; prints its seconds.
run() {
    local name=$1 model=$2; shift 2
    local t0=$(date +%s.%N)
    .build/release/onnx-run "$model" --threads "$threads" --output-dir "$tmp/$name" "$@" 2>"$tmp/$name.log" \
        || { echo "$name failed: $(tail -1 "$tmp/$name.log")"; return 1; }
    echo "$(date +%s.%N) - $t0" | bc
}
for model in unet unet-plain esrgan-lite; do
    tile=$( [ $model = esrgan-lite ] && echo 128 || echo 256 )
    echo "$model: whole frame $(run $model-whole "$tmp/$model-any.onnx" --batch-input "$tmp/$model-frame") s"
    grep -h warning "$tmp/$model-whole.log" || true
    for p in $overlaps; do
        s=$(run $model-$p "$tmp/$model.onnx" --batch-input "$tmp/$model-frame" --tile $tile --overlap $p)
        grep -h warning "$tmp/$model-$p.log" | head -1 | sed 's/^/  /' || true
        "$py" -c "
import numpy as np
a, b = np.load('$tmp/$model-$p/frame.npy.npy'), np.load('$tmp/$model-whole/frame.npy.npy')
print(f'  tile $tile overlap $p: relative L2 {np.linalg.norm(a - b) / np.linalg.norm(b):.2e} ({a.shape[2]}x{a.shape[3]} out), $s s')"
    done
done
