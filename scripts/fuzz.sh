#!/usr/bin/env bash
# libFuzzer over the model loader + session creation and over .npy/.pb input parsing (issue 15).
#   scripts/fuzz.sh [SECONDS]     each target for SECONDS (default 60: CI's run), after the build
#   scripts/fuzz.sh 3600          the long run
# The targets (Sources/vonnx-fuzz) are built with -sanitize=fuzzer,address into .build/fuzz;
# seeds come from scripts/make-fuzz-seeds.py and small ONNX node-test models. Fails on any
# crash, sanitizer report (leaks included), or input that takes over 10 s; the input is kept in
# .build/fuzz/findings and `.build/debug/vonnx-fuzz model|input FILE` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
out=.build/fuzz
# Swift code gets libFuzzer's coverage from -sanitize-coverage (-sanitize=fuzzer alone links
# libFuzzer, but leaves SwiftPM-built modules uninstrumented); lld links it (gold fails).
swift build --build-path "$out" --product vonnx-fuzz -Xswiftc -DFUZZING \
  -Xswiftc -sanitize=fuzzer -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
  -Xcc -fsanitize=fuzzer-no-link,address -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
seeds=$out/seeds
rm -rf "$seeds"
.testdata/venv/bin/python scripts/make-fuzz-seeds.py "$seeds"
nodes=.testdata/onnx-1.22.0/onnx/backend/test/data/node
find "$nodes" -name model.onnx -size -2k | sort | awk 'NR % 20 == 1' |
  while read -r m; do cp "$m" "$seeds/model/$(basename "$(dirname "$m")").onnx"; done
mkdir -p "$out/findings"
export ASAN_OPTIONS=abort_on_error=1  # leaks are findings too
for target in model input; do
  mkdir -p "$out/corpus-$target"
  echo "fuzzing '$target' for $seconds s"
  status=0
  VONNX_FUZZ=$target "$out/debug/vonnx-fuzz" "$out/corpus-$target" "$seeds/$target" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=4096 -artifact_prefix="$out/findings/$target-" -print_final_stats=1 \
    >"$out/$target.log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$out/$target.log"
    echo "fuzz target '$target' found a failure (the input is in $out/findings)"
    exit 1
  fi
  grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$out/$target.log"
done
