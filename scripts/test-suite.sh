#!/usr/bin/env bash
# The benchmark suite's CI subset: two small models from .testdata/suite (written by
# scripts/setup.sh) on the CPU and on Vulkan, each with its peers (onnxruntime, ncnn on the
# CPU and on the same Vulkan device), two timed rounds. Checks that the report validates, that
# every backend and peer agrees with the CPU (relative L2), and that a model a peer cannot take
# gets a row saying why. The full suite is the command in Benchmarks/README.md.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.build/release
py=.testdata/venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { failed=1; echo "FAIL: $*"; }

out=$($bin/onnx-bench --suite nosuch 2>&1); rc=$?
[ "$rc" = 2 ] && grep -q "'nosuch' is not in the suite" <<<"$out" || fail "unknown suite model: exit $rc: $out"
out=$($bin/onnx-bench --suite --suite-dir "$tmp/none" 2>&1); rc=$?
[ "$rc" = 2 ] && grep -q "no $tmp/none/suite.txt" <<<"$out" || fail "missing suite: exit $rc: $out"

# mobilenetv3: depthwise convs, squeeze-excite; vad: LSTM and If, which pnnx cannot convert
out=$($bin/onnx-bench --suite mobilenetv3,vad --backends cpu,vulkan --device "${VONNX_VULKAN_DEVICE:-llvmpipe}" --threads 2 \
  --runs 2 --warmup 0 --compare-ort --compare-ncnn --python "$py" --json "$tmp/suite.json" 2>&1); rc=$?
echo "$out" | sed -n '/^suite (/,$p'
[ "$rc" = 0 ] || fail "onnx-bench --suite: exit $rc: $out"
grep -q "^  onnxruntime .* over 2 rows" <<<"$out" || fail "no geometric mean over both models for onnxruntime"
grep -qE "vad +1 +ncnn-vulkan .*unavailable: pnnx failed" <<<"$out" || fail "no row saying why ncnn cannot take vad"
"$py" Benchmarks/validate_report.py "$tmp/suite.json" --expect-models mobilenetv3,vad --max-rel-l2 1e-3 \
  --expect-backends cpu,vulkan,onnxruntime,ncnn-cpu,ncnn-vulkan || fail "report"

[ "$failed" = 0 ] && echo "suite: passed" || { echo "suite: FAILED"; exit 1; }
