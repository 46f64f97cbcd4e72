#!/usr/bin/env bash
# Builds the full-size ResNet-50 v1 (Model Zoo layout, seeded weights), runs it through
# onnx-run on the CPU and checks it against onnxruntime, then on Vulkan (lavapipe) against the
# CPU result: relative L2 error must be <= 1e-4 both times.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.testdata/venv/bin/python
work=.testdata/resnet50
mkdir -p "$work"
[ -f "$work/resnet50.onnx" ] || "$py" scripts/make_resnet50.py "$work/resnet50.onnx"
"$py" - "$work" <<'PY'
import sys, numpy as np, onnxruntime as ort
work = sys.argv[1]
x = np.random.default_rng(1).random((1, 3, 224, 224), dtype=np.float32)
np.save(f"{work}/input.npy", x)
so = ort.SessionOptions(); so.intra_op_num_threads = 2
y = ort.InferenceSession(f"{work}/resnet50.onnx", so).run(None, {"data": x})[0]
np.save(f"{work}/expected.npy", y)
PY
rm -rf "$work/out"
.build/release/onnx-run "$work/resnet50.onnx" --input "data=$work/input.npy" --output-dir "$work/out" --threads 2 --backend cpu
"$py" - "$work" <<'PY'
import sys, numpy as np
work = sys.argv[1]
got, ref = np.load(f"{work}/out/output_0.npy"), np.load(f"{work}/expected.npy")
assert got.shape == ref.shape, (got.shape, ref.shape)
err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
print(f"resnet50 vs onnxruntime: relative L2 error {err:.2e}")
sys.exit(0 if err <= 1e-4 else 1)
PY
vkout=$(mktemp -d)
trap 'rm -rf "$vkout"' EXIT
start=$(date +%s)
.build/release/onnx-run "$work/resnet50.onnx" --input "data=$work/input.npy" --output-dir "$vkout" --threads 2 \
    --backend vulkan --device "${VONNX_VULKAN_DEVICE:-llvmpipe}" --verbose
echo "resnet50 on Vulkan: $(( $(date +%s) - start )) s"
"$py" - "$work" "$vkout" <<'PY'
import sys, numpy as np
got, ref = np.load(f"{sys.argv[2]}/output_0.npy"), np.load(f"{sys.argv[1]}/out/output_0.npy")
assert got.shape == ref.shape, (got.shape, ref.shape)
err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
print(f"resnet50 Vulkan vs CPU: relative L2 error {err:.2e}")
sys.exit(0 if err <= 1e-4 else 1)
PY
