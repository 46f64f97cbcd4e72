#!/usr/bin/env bash
# Batch mode against onnx-bench on the CPU, same model, batch size and threads: prints both
# throughputs and their ratio. Batch mode decodes, resizes, crops and normalizes PNG images
# and writes every output, so a ratio near 1 means those stages overlap inference and are not
# the bottleneck (target: at least 0.90).
# usage: Benchmarks/batch-throughput.sh [MODEL] [BATCH] [ITEMS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-.testdata/resnet50/resnet50.onnx}
batch=${2:-4}
items=${3:-48}
threads=${4:-2}
py=.testdata/venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$py" - "$tmp/items" "$items" <<'PY'
import os, struct, sys, zlib
import numpy as np
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
rng = np.random.default_rng(0)
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
for i in range(n):
    px = rng.integers(0, 256, size=(256, 320, 3), dtype=np.uint8)
    raw = b"".join(b"\x00" + r.tobytes() for r in px.reshape(256, -1))
    with open(f"{out}/frame{i:05d}.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 320, 256, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))
PY

.build/release/onnx-bench "$model" --backends cpu --batch "$batch" --threads "$threads" --runs 10 --warmup 2 \
  --json "$tmp/bench.json" >/dev/null
.build/release/onnx-run "$model" --batch-input "$tmp/items" --output-dir "$tmp/out" --batch-size "$batch" \
  --threads "$threads" --resize 256 --crop 224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 2>/dev/null

"$py" - "$tmp/bench.json" "$tmp/out/summary.json" "$batch" <<'PY'
import json, sys
bench = json.load(open(sys.argv[1]))["results"][0]["items_per_s"]
summary = json.load(open(sys.argv[2]))
batch = summary["items_per_s"]
print(f"onnx-bench (cpu, batch {sys.argv[3]}): {bench:.2f} items/s")
print(f"onnx-run --batch-input:        {batch:.2f} items/s  stages {summary['stages_s']}")
print(f"ratio: {batch / bench:.3f}")
PY
