#!/usr/bin/env bash
# Builds the self-contained bundle dist/vonnx-<version>-linux-<arch>.tar.gz (or into OUTDIR):
# onnx-run, onnx-bench and onnx-conformance linked with --static-swift-stdlib, with the
# shared libraries they need beyond glibc, libstdc++/libgcc and the Vulkan loader in lib/
# (found through an RPATH of $ORIGIN/../lib), and a README. A host needs only those system
# libraries and, for Vulkan, its driver's ICD (libvulkan1 plus e.g. mesa-vulkan-drivers).
# Usage: scripts/package.sh [OUTDIR]   (prints the tarball's path last)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-dist}")
scripts/setup.sh >&2
build=.build/bundle
# DT_RPATH (not RUNPATH) so the bundled libraries also find each other.
swift build -c release --static-swift-stdlib --build-path "$build" \
    -Xlinker --disable-new-dtags -Xlinker -rpath -Xlinker '$ORIGIN/../lib' >&2
version=$(git describe --always --dirty 2>/dev/null || echo dev)
name="vonnx-$version-linux-$(uname -m)"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name/bin" "$stage/$name/lib" "$out"
tools=(onnx-run onnx-bench onnx-conformance)
for t in "${tools[@]}"; do cp "$build/release/$t" "$stage/$name/bin/"; done
# Every shared object the tools load, transitively, except what the host provides.
ldd "${tools[@]/#/$stage/$name/bin/}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libutil.so*|ld-linux*|libstdc++.so*|libgcc_s.so*|libvulkan.so*) ;;
        *) cp -L "$lib" "$stage/$name/lib/" ;;
    esac
done
# Without symbols: a third of the size (the carry to a GPU host is bounded).
strip --strip-unneeded "$stage/$name"/bin/* "$stage/$name"/lib/*
cat > "$stage/$name/README" <<README
Vonnx $version for Linux $(uname -m): a GPU-first ONNX inference runtime.

bin/onnx-run          run a model once, or over a folder of inputs (batch mode)
bin/onnx-bench        time a model on the CPU and Vulkan backends (default: a built-in ResNet-50)
bin/onnx-conformance  run the ONNX backend node tests (the onnx wheel's backend/test/data)

Needs only glibc, libstdc++ and, for the Vulkan backend, the Vulkan loader (libvulkan.so.1)
with the host's driver (an ICD: NVIDIA's, AMD's, or Mesa's lavapipe/RADV). lib/ holds every
other library the tools use; nothing is downloaded. Start with:

    bin/onnx-run --list-devices
    bin/onnx-bench --backends cpu,vulkan
README
tarball="$out/$name.tar.gz"
tar -C "$stage" -czf "$tarball" "$name"
echo "$tarball"
