#!/usr/bin/env bash
# The full-size ResNet-50 v1 of check-resnet50.sh through onnxruntime's quantize_static (QDQ
# and QOperator, per-channel weights, two calibration images) and its float16 converter, each
# run through onnx-run on the CPU and on the Vulkan device (lavapipe, or VONNX_VULKAN_DEVICE; no
# node may be left to the CPU), each compared with onnxruntime by scripts/compare_outputs.py
# (its float16 and quantized bounds). The three models and onnxruntime's outputs are kept in
# .testdata/resnet50-variants, made again only when this script or the source model changes.
# Prints one line per model with its relative L2 error.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.testdata/venv/bin/python
src=.testdata/resnet50/resnet50.onnx
work=.testdata/resnet50-variants
[ -f "$src" ] || { mkdir -p "$(dirname "$src")"; "$py" scripts/make_resnet50.py "$src"; }
stamp=$(cat scripts/check-resnet50-variants.sh "$src" | sha256sum | cut -c1-16)
if [ "$(cat "$work/.complete" 2>/dev/null)" != "$stamp" ]; then
  start=$(date +%s)
  rm -rf "$work" && mkdir -p "$work"
  "$py" - "$src" "$work" <<'PY' 2>&1 | grep -v -i warn
import sys
import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
from onnxruntime.transformers.float16 import convert_float_to_float16
sys.path.insert(0, "scripts")
from contrib_models import save

src, out = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(2)
x = rng.random((1, 3, 224, 224), dtype=np.float32)


class Reader(CalibrationDataReader):
    def __init__(self):
        self.batches = iter([{"data": rng.random((1, 3, 224, 224), dtype=np.float32)} for _ in range(2)])

    def get_next(self):
        return next(self.batches, None)


for fmt, name in [(QuantFormat.QDQ, "resnet50-qdq-quantized"), (QuantFormat.QOperator, "resnet50-qoperator-quantized")]:
    path = f"{out}/{name}.onnx"
    quantize_static(src, path, Reader(), quant_format=fmt, per_channel=True)
    save(out, name, onnx.load(path), {"data": x})
save(out, "resnet50-float16", convert_float_to_float16(onnx.load(src)), {"data": x.astype(np.float16)})
PY
  rm -f "$work"/*.onnx
  echo "$stamp" > "$work/.complete"
  echo "resnet50 variants: made in $(( $(date +%s) - start )) s"
fi
device=${VONNX_VULKAN_DEVICE:-llvmpipe}
failed=0
for dir in "$work"/*/; do
  name=$(basename "$dir")
  for backend in cpu vulkan; do
    label=$name; [ $backend = cpu ] || label="$name (vulkan)"
    start=$(date +%s%N)
    rm -rf "$dir/out"
    if ! out=$(.build/release/onnx-run "$dir/model.onnx" --input "data=$dir/input_0.npy" --output-dir "$dir/out" \
                 --backend $backend --device "$device" --threads 2 --verbose 2>&1); then
      echo "FAIL $label: onnx-run failed: $(tail -1 <<< "$out")"; failed=1; continue
    fi
    echo "$label: onnx-run $(( ($(date +%s%N) - start) / 1000000 )) ms (load and one run)"
    "$py" scripts/compare_outputs.py "$label" "$dir" || failed=1
    if [ $backend = vulkan ] && grep -q -e '^on the CPU' -e '^backend: cpu' -e 'ran on the CPU' <<< "$out"; then
      echo "FAIL $label: nodes left to the CPU: $(grep -e '^on the CPU' -e '^backend' -e 'ran on the CPU' <<< "$out" | tr '\n' ' ' | cut -c1-300)"
      failed=1
    fi
  done
done
exit $failed
