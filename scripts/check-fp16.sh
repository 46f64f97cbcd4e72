#!/usr/bin/env bash
# fp16 precision's accuracy on the suite's classifiers: each model runs on the Vulkan device
# (default llvmpipe) at --precision fp32 and fp16 on the same seeded random inputs, and the
# fp16 logits must be within a relative L2 error of 1e-2 of fp32's with the same top-1 class.
# Slow on lavapipe (vit-b16 takes minutes), so CI does not run it; the full command:
#   scripts/check-fp16.sh [MODEL...]     (default: resnet50 mobilenetv3 efficientnet-b0 vit-b16)
# Needs .build/release/onnx-run (swift build -c release) and the suite (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.testdata/venv/bin/python
device=${VONNX_VULKAN_DEVICE:-llvmpipe}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(resnet50 mobilenetv3 efficientnet-b0 vit-b16)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for model in "${models[@]}"; do
    for seed in 1 2; do
        for precision in fp32 fp16; do
            .build/release/onnx-run ".testdata/suite/$model.onnx" --random --seed "$seed" --backend vulkan --device "$device" \
                --precision "$precision" --output-dir "$work/$model-$seed-$precision" > /dev/null
        done
        "$py" - "$work/$model-$seed" "$model seed $seed" <<'PY' || status=1
import sys, numpy as np
base, what = sys.argv[1], sys.argv[2]
full, half = (np.load(f"{base}-{p}/output_0.npy").astype(np.float64) for p in ("fp32", "fp16"))
err = float(np.linalg.norm(half - full) / np.linalg.norm(full))
same = bool((full.reshape(full.shape[0], -1).argmax(1) == half.reshape(half.shape[0], -1).argmax(1)).all())
print(f"{what}: fp16 vs fp32 relative L2 {err:.2e}, top-1 {'same' if same else 'DIFFERS'}")
sys.exit(0 if err <= 1e-2 and same else 1)
PY
    done
done
exit $status
