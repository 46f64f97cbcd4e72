#!/usr/bin/env bash
# The main job: builds Vonnx (release) and runs ResNet-50 v1 (Model Zoo layout, seeded
# weights, built by scripts/make_resnet50.py) through onnx-run on random input.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release
model=.testdata/resnet50/resnet50.onnx
mkdir -p "$(dirname "$model")"
[ -f "$model" ] || .testdata/venv/bin/python scripts/make_resnet50.py "$model"
time .build/release/onnx-run "$model" --random --dim N=1 --output-dir .testdata/resnet50/main-out "$@"
