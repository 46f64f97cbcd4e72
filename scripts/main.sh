#!/usr/bin/env bash
# The main job: builds Vonnx (release) and runs onnx-bench on its embedded ResNet-50 v1
# (Model Zoo layout, seeded weights) on every available backend. Extra arguments go to
# onnx-bench (e.g. --batch 1,8 --compare-ort --python .testdata/venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release
exec .build/release/onnx-bench "$@"
