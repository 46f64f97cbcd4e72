#!/usr/bin/env bash
# The Vulkan conformance list with each kernel variant forced in turn (VONNX_VULKAN_KERNELS=
# family=variant, every variant of Sources/VonnxVulkan/KernelVariants.swift's table), on the
# node tests of the ops that family serves: every listed passing test must still pass, so each
# variant is checked against the ONNX reference outputs, not only against the CPU kernel.
# Usage: scripts/check-vulkan-variants.sh [DEVICE]   (default llvmpipe; BIN=.build/release)
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.build/release}
device=${1:-llvmpipe}
declare -A ops=(
  [gemm]="gemm matmul conv einsum attention"
  [conv]="conv"
  [convTranspose]="convtranspose"
  [copy]="transpose concat slice split pad expand tile gather depthtospace spacetodepth"
  [binary]="add sub mul div pow max min equal less greater and or xor mod"
  [recurrent]="lstm gru rnn"
  [integerGemm]="matmulinteger qlinearmatmul convinteger qlinearconv"
  [rows]="softmax layer_norm reduce normalization"
)
# family → its variants, read from the table in declaration order
mapfile -t pairs < <(awk '/^        "[A-Za-z]+": \[/ { gsub(/[ ":\[]/, ""); family = $0 }
                         /KernelVariant\(name: "/ { match($0, /name: "[^"]*"/); print family "=" substr($0, RSTART + 7, RLENGTH - 8) }' \
                     Sources/VonnxVulkan/KernelVariants.swift)
[ ${#pairs[@]} -gt 0 ] || { echo "no variants found in KernelVariants.swift"; exit 1; }
failed=0
for pair in "${pairs[@]}"; do
  family=${pair%%=*}
  filters=()
  for op in ${ops[$family]:-}; do filters+=(--filter "$op"); done
  [ ${#filters[@]} -gt 0 ] || { echo "FAIL $pair: no ops listed for family $family in $0"; failed=$((failed + 1)); continue; }
  if out=$(VONNX_VULKAN_KERNELS=$pair $bin/onnx-conformance --backend vulkan --device "$device" "${filters[@]}" \
             --expect Tests/Conformance/vulkan-passing.txt --expect-failing Tests/Conformance/vulkan-failing.txt 2>&1); then
    echo "ok   $pair: $(grep '^conformance' <<< "$out")"
  else
    echo "FAIL $pair: $(grep -v '^FAIL\|^\[' <<< "$out" | tail -3 | tr '\n' ' ')"; failed=$((failed + 1))
  fi
done
echo "vulkan variants: ${#pairs[@]} checked, $failed failed"
[ "$failed" = 0 ]
