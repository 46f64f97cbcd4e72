#!/usr/bin/env bash
# Command-line checks of the release tools: bad input gets a one-line error and the
# documented exit code; the onnx-bench JSON report validates against its schema.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.build/release
py=.testdata/venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# expect CODE PATTERN -- COMMAND...: the command exits with CODE and its output matches PATTERN.
expect() {
  local code=$1 pattern=$2; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" = "$code" ] && grep -qE -- "$pattern" <<<"$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: $* -> exit $rc (want $code), output: $out"
  fi
}

model=.testdata/resnet50/resnet50.onnx
head -c 1000 "$model" > "$tmp/truncated.onnx"
printf 'not a model' > "$tmp/junk.npy"
expect 1 "no-such.onnx" -- $bin/onnx-run "$tmp/no-such.onnx" --random
expect 1 "not an ONNX model|protobuf|truncated" -- $bin/onnx-run "$tmp/truncated.onnx" --random
expect 1 "missing input 'data'" -- $bin/onnx-run "$model"
expect 1 "junk.npy" -- $bin/onnx-run "$model" --input "data=$tmp/junk.npy"
expect 1 "'nope' is not an input" -- $bin/onnx-run "$model" --input "nope=$tmp/junk.npy"
# issue 15: --random refuses an input past the tensor limit before making it (2^31 floats aborted)
$py -c "import onnx, onnx.helper as h; T = onnx.TensorProto.FLOAT
g = h.make_graph([h.make_node('Relu', ['x'], ['y'])], 'g', [h.make_tensor_value_info('x', T, [2**31])], [h.make_tensor_value_info('y', T, None)])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 17)], ir_version=8), '$tmp/huge-input.onnx')"
expect 1 "^Error: invalid input: input 'x' shape \[2147483648\] is larger than the tensor limit" -- $bin/onnx-run "$tmp/huge-input.onnx" --random
# argument errors are one line with exit 64; --timeout ends a Loop whose condition stays true
for a in "--threads 0" "--threads 100000" "--timeout 0" "--max-tensor-bytes 1Q" "--bogus"; do
  out=$($bin/onnx-run "$tmp/huge-input.onnx" --random $a 2>&1); rc=$?
  if [ "$rc" = 64 ] && [ "$(wc -l <<<"$out")" = 1 ]; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: onnx-run $a -> exit $rc (want 64 and one line), output: $out"; fi
done
$py -c "import onnx, onnx.helper as h; T = onnx.TensorProto
v = lambda n, t, s: h.make_tensor_value_info(n, t, s)
body = h.make_graph([h.make_node('Identity', ['c'], ['c2']), h.make_node('Identity', ['v'], ['v2'])], 'body',
                    [v('i', T.INT64, []), v('c', T.BOOL, []), v('v', T.FLOAT, [1])], [v('c2', T.BOOL, []), v('v2', T.FLOAT, [1])])
g = h.make_graph([h.make_node('Loop', ['', 'c', 'x'], ['y'], body=body)], 'g', [v('x', T.FLOAT, [1])], [v('y', T.FLOAT, None)],
                 [h.make_tensor('c', T.BOOL, [], [True])])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 17)], ir_version=8), '$tmp/endless.onnx')"
expect 1 "^Error: .*time limit of 0.5 s ran out" -- timeout 60 $bin/onnx-run "$tmp/endless.onnx" --random --timeout 0.5
expect 2 "error: .*no-such.onnx" -- $bin/onnx-bench "$tmp/no-such.onnx"
expect 2 "unknown backend 'tpu'" -- $bin/onnx-bench --backends tpu
expect 2 "--dim 'N' must be NAME=VALUE or INPUT:AXIS=VALUE" -- $bin/onnx-bench --dim N
expect 0 "output_0|resnetv17_dense0_fwd: float32\[2, 1000\]" -- $bin/onnx-run "$model" --random --dim N=2 --output-dir "$tmp/out" --threads 2
expect 0 "" -- test -f "$tmp/out/output_0.npy"
# Unnamed dims as Paddle2ONNX writes them ([?, 3, 48, ?]): each its own, set by position or 1.
"$py" -c "import onnx, onnx.helper as h; T = onnx.TensorProto.FLOAT
x, y = (h.make_tensor_value_info(n, T, ['?', 3, 48, '?']) for n in 'xy')
onnx.save(h.make_model(h.make_graph([h.make_node('Relu', ['x'], ['y'])], 'g', [x], [y])), '$tmp/unnamed.onnx')"
expect 0 "y: float32\[1, 3, 48, 192\]" -- $bin/onnx-run "$tmp/unnamed.onnx" --random --dim x:3=192
expect 0 "dim 0 \('\?'\) set to 1; give --dim x:0=VALUE" -- $bin/onnx-run "$tmp/unnamed.onnx" --random --dim x:3=192
expect 0 "cpu \(2 threads\) +2 " -- $bin/onnx-bench "$tmp/unnamed.onnx" --backends cpu --batch 2 --dim x:3=192 --runs 1 --warmup 0 --threads 2
expect 1 "'z' is not an input" -- $bin/onnx-run "$tmp/unnamed.onnx" --random --dim z:3=192
expect 64 "missing the .onnx model file" -- $bin/onnx-run
expect 0 "llvmpipe" -- $bin/onnx-run --list-devices
expect 1 "no device matches 'nosuch'" -- $bin/onnx-run "$model" --random --backend vulkan --device nosuch
# .auto takes a GPU where there is one, and otherwise says why it runs on the CPU
if $bin/onnx-run --list-devices | cut -f3 | grep -qvx cpu; then
  expect 0 "backend: vulkan" -- env -u VONNX_VULKAN_DEVICE $bin/onnx-run "$model" --random --verbose --threads 2
else
  expect 0 "fallback: .*run on the CPU" -- env -u VONNX_VULKAN_DEVICE $bin/onnx-run "$model" --random --verbose --threads 2
fi

# The JSON report of a short run with onnxruntime alongside, at two batch sizes; onnxruntime's
# outputs agree with the CPU backend's.
expect 0 "onnxruntime" -- $bin/onnx-bench --backends cpu --batch 1,2 --runs 2 --warmup 0 --threads 2 \
  --compare-ort --python "$py" --json "$tmp/report.json"
expect 0 "valid" -- "$py" Benchmarks/validate_report.py "$tmp/report.json" --expect-backends cpu,onnxruntime --expect-batches 1,2 \
  --max-rel-l2 1e-4
# A peer whose bridge script is missing is reported unavailable by name, not as "no reply".
expect 0 "unavailable: the peer bridge script $tmp/no-bridge.py cannot be read" -- $bin/onnx-bench --backends cpu --runs 1 \
  --warmup 0 --threads 1 --compare-ort --python "$py" --bridge-script "$tmp/no-bridge.py"

echo "cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
