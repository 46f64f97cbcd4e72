#!/usr/bin/env bash
# Models as onnxruntime's own tools write them (transformers optimizer, quantize_dynamic):
# built by scripts/contrib_models.py with the reference venv, run through onnx-run, compared
# with onnxruntime's outputs (relative L2 ≤ 1e-4 for float models; ≤ 1e-2 or the same argmax
# along the last axis for quantized ones; for the pretrained sentence encoder, paraphrases closer
# than unrelated sentences in both runtimes). Prints one line per model with its rel L2.
# Then the same on the Vulkan device (lavapipe, or VONNX_CONTRIB_DEVICE), held to the same
# bounds, and with no node left to the CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.build/release}
py=.testdata/venv/bin/python
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
"$py" scripts/contrib_models.py "$tmp" > "$tmp/models.log" 2>&1 || { cat "$tmp/models.log"; exit 1; }
grep -v -i warn "$tmp/models.log"
device=${VONNX_CONTRIB_DEVICE:-llvmpipe}
failed=0
for dir in "$tmp"/*/; do
  name=$(basename "$dir")
  args=()
  i=0
  while read -r input; do args+=(--input "$input=$dir/input_$i.npy"); i=$((i + 1)); done < "$dir/inputs.txt"
  if ! out=$($bin/onnx-run "$dir/model.onnx" "${args[@]}" --backend cpu --threads 2 --output-dir "$dir/out" 2>&1); then
    echo "FAIL $name: $out"; failed=$((failed + 1)); continue
  fi
  "$py" scripts/compare_outputs.py "$name" "$dir" || failed=$((failed + 1))
  rm -rf "$dir/out"
  if ! out=$($bin/onnx-run "$dir/model.onnx" "${args[@]}" --backend vulkan --device "$device" --threads 2 --verbose \
             --output-dir "$dir/out" 2>&1); then
    echo "FAIL $name (vulkan): $out"; failed=$((failed + 1)); continue
  fi
  "$py" scripts/compare_outputs.py "$name (vulkan)" "$dir" || failed=$((failed + 1))
  if grep -q -e '^on the CPU' -e '^backend: cpu' -e 'ran on the CPU' <<< "$out"; then
    echo "FAIL $name (vulkan): nodes left to the CPU: $(grep -e '^on the CPU' -e '^backend' -e 'ran on the CPU' <<< "$out" | tr '\n' ' ' | cut -c1-300)"
    failed=$((failed + 1))
  fi
done
echo "contrib: $failed failed"
[ "$failed" = 0 ]
