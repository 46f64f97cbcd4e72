#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, unit tests, the ONNX conformance suite with
# its committed lists of passing tests enforced (CPU, and Vulkan on lavapipe without fallback:
# about 4 minutes), ResNet-50 against onnxruntime and Vulkan against the CPU, and the
# command-line tools' error handling and JSON report, models written by onnxruntime's
# optimizer and quantization tools against onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release
swift test
# on AVX-512 CPUs the conv kernels above ran 8×32 tiles; the AVX2 6×16 ones again, forced
VONNX_CPU_KERNEL=avx2 swift test --skip-build --filter "packedGemm|onvMatchesDirect|inograd|axPoolMatches"
.build/release/onnx-conformance --backend cpu --threads 2 --expect Tests/Conformance/cpu-passing.txt
VONNX_CPU_KERNEL=avx2 .build/release/onnx-conformance --backend cpu --threads 2 --expect Tests/Conformance/cpu-passing.txt
.build/release/onnx-conformance --backend vulkan --device "${VONNX_VULKAN_DEVICE:-llvmpipe}" --expect Tests/Conformance/vulkan-passing.txt
scripts/check-resnet50.sh
scripts/test-cli.sh
scripts/check-contrib.sh
scripts/test-batch.sh
scripts/test-slurm.sh
