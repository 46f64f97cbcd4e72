#!/usr/bin/env bash
# Regenerates Sources/COnnx from proto/onnx.proto (ONNX 1.22's onnx.proto) with protoc-c
# (Debian's protobuf-c-compiler). The generated files are committed; run this only when
# the proto changes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc-c >/dev/null || apt-get install -y protobuf-c-compiler
out=$(mktemp -d)
protoc-c --proto_path=proto --c_out="$out" proto/onnx.proto
mv "$out/onnx.pb-c.h" Sources/COnnx/include/onnx.pb-c.h
mv "$out/onnx.pb-c.c" Sources/COnnx/onnx.pb-c.c
rm -rf "$out"
