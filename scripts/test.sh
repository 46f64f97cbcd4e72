#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, unit tests, the ONNX conformance suite with
# its committed lists of passing tests enforced (CPU, and Vulkan on lavapipe without fallback:
# about 4 minutes), ResNet-50 against onnxruntime and Vulkan against the CPU (and its QDQ,
# QOperator and float16 variants against onnxruntime), and the
# command-line tools' error handling and JSON report, models written by onnxruntime's
# optimizer and quantization tools against onnxruntime, and the self-contained bundle with the
# prepared GPU check (scripts/gpu-check.sh) on lavapipe. A Vulkan device with the validation
# layer must be there (lavapipe is installed by the set-up): its absence fails the unit tests.
# Every conformance test is listed as passing or, with a reason, as failing: a test that
# changes sides fails the run until the lists say so (onnx-conformance --update rewrites them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release
export VONNX_TEST_REQUIRE_VULKAN=1
# a crash's report lists every loaded library, so that an address outside the unwound frames
# (a jump to freed memory, say) can still be placed
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=yes,images=all}
swift test --skip asyncRunsHoldNoThread 2>&1 | tee .build/unit-tests.log
# alone: it times how soon the cooperative pool runs a task while async runs are in flight,
# which the other tests (synchronous ones hold pool threads for seconds) would delay
swift test --skip-build --filter asyncRunsHoldNoThread
echo "unit tests: $(grep -c ') skipped: ' .build/unit-tests.log || true) skipped (each with its reason above)"
# the DocC catalogs (Sources/Vonnx/Vonnx.docc, and VonnxIR's, which Vonnx re-exports: one combined archive) and doc
# comments: a broken symbol link fails (~30 s after the debug build); every public declaration has a /// comment
swift package --disable-sandbox generate-documentation --target Vonnx --target VonnxIR --enable-experimental-combined-documentation --warnings-as-errors
scripts/check-doc-comments.sh
# a fresh package depending on Vonnx by path builds the articles' code and runs the getting-started one, with the
# Vulkan trait and without (3–6 min the first time here, +1.5–4 min for the CPU-only build; ~15 s once built)
scripts/test-package-use.sh
# on AVX-512 CPUs the conv kernels above ran 8×32 tiles (and 16-lane activations and softmax); the AVX2 ones again, forced
VONNX_CPU_KERNEL=avx2 swift test --skip-build --filter "packedGemm|onvMatchesDirect|inograd|axPoolMatches|softmaxRows|layerNormRows"
lists() { echo --expect "Tests/Conformance/$1-passing.txt" --expect-failing "Tests/Conformance/$1-failing.txt"; }
.build/release/onnx-conformance --backend cpu --threads 2 $(lists cpu)
VONNX_CPU_KERNEL=avx2 .build/release/onnx-conformance --backend cpu --threads 2 $(lists cpu)
.build/release/onnx-conformance --backend vulkan --device "${VONNX_VULKAN_DEVICE:-llvmpipe}" $(lists vulkan)
# onnx 1.23's node tests that the 1.22 data lacks (written by scripts/setup.sh), lists of their own
.build/release/onnx-conformance --backend cpu --threads 2 --data .testdata/onnx-1.23-node $(lists cpu-onnx123)
.build/release/onnx-conformance --backend vulkan --device "${VONNX_VULKAN_DEVICE:-llvmpipe}" --data .testdata/onnx-1.23-node $(lists vulkan-onnx123)
# each Vulkan kernel variant forced in turn on the node tests of its ops (~10 min): full runs only, for CI's time
# (its unit tests check every variant against the CPU kernel on random inputs)
[ -n "${CI:-}" ] || scripts/check-vulkan-variants.sh "${VONNX_VULKAN_DEVICE:-llvmpipe}"
scripts/check-resnet50.sh
scripts/check-resnet50-variants.sh
scripts/test-cli.sh
scripts/test-suite.sh
scripts/check-contrib.sh
scripts/test-batch.sh
scripts/test-slurm.sh
# the self-contained bundle and the prepared GPU check, run here on lavapipe in its short mode
scripts/gpu-check.sh prepare
.build/gpu-check/run.sh "${VONNX_VULKAN_DEVICE:-llvmpipe}" --quick
# that bundle in a bare Debian root (made once by debootstrap, cached in .testdata)
scripts/test-bundle.sh
scripts/fuzz.sh 60
# the unit tests of untrusted input under AddressSanitizer, and of threads under ThreadSanitizer
scripts/sanitize.sh both
