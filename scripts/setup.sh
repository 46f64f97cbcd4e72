#!/usr/bin/env bash
# Installs what building and testing Vonnx needs on Debian 12 (packages only when missing)
# and fetches the pinned test data: the onnx 1.22.0 wheel's backend test data, and a Python
# environment with onnx, onnxruntime and numpy used as the reference by a few tests.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages="libprotobuf-c-dev libvulkan-dev glslang-dev libopenblas-dev mesa-vulkan-drivers vulkan-validationlayers unzip"
packages="$packages libpng-dev libjpeg62-turbo-dev libjpeg-turbo-progs"  # onnx-run batch mode; cjpeg makes test images
missing=$(for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "setup: installing $missing"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

data=.testdata/onnx-1.22.0
if [ ! -f "$data/.complete" ]; then
  echo "setup: fetching the onnx 1.22.0 wheel's test data"
  rm -rf "$data" .testdata/wheel && mkdir -p "$data" .testdata/wheel
  python3 -m pip download -q --no-deps --only-binary=:all: onnx==1.22.0 -d .testdata/wheel
  unzip -q .testdata/wheel/onnx-1.22.0-*.whl 'onnx/backend/test/data/*' -d "$data"
  rm -rf .testdata/wheel
  touch "$data/.complete"
fi

venv=.testdata/venv
if [ ! -f "$venv/.complete" ]; then
  echo "setup: creating the Python reference environment (onnx, onnxruntime, numpy)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check onnx==1.22.0 onnxruntime==1.32.0 numpy
  touch "$venv/.complete"
fi

# The benchmark suite (Benchmarks/suite): ncnn, onnx-bench's Vulkan peer, and pnnx, which
# converts ONNX for it (--no-deps: pnnx's Python helpers want torch, its converter does not),
# then the suite's models, rewritten when their generator changes (~1 minute, 1.6 GB).
ncnn_pins="pnnx==20261020 ncnn==1.0.20261020"
if [ "$(cat "$venv/.ncnn-complete" 2>/dev/null)" != "$ncnn_pins" ]; then
  echo "setup: installing $ncnn_pins"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps $ncnn_pins
  echo "$ncnn_pins" > "$venv/.ncnn-complete"
fi
suite=.testdata/suite
stamp=$(cat Benchmarks/suite/make_suite.py scripts/make_resnet50.py | sha256sum | cut -c1-16)
if [ "$(cat "$suite/.complete" 2>/dev/null)" != "$stamp" ]; then
  echo "setup: writing the benchmark suite's models into $suite"
  "$venv/bin/python" Benchmarks/suite/make_suite.py "$suite"
  echo "$stamp" > "$suite/.complete"
fi
