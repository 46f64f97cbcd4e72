#!/usr/bin/env bash
# What a library user does first: a fresh Swift package depending on Vonnx by path
# (examples/package-use) builds the Swift blocks of the DocC articles GettingStarted,
# BatchAndFarmUse and BackendsAndFallback (Sources/Vonnx/Vonnx.docc; each article's blocks in order, but Package.swift
# lines, as one program), runs the getting-started one on the article's model and checks that
# it prints what the article says. Then the same getting-started program against Vonnx without
# its Vulkan trait (examples/package-use-cpu, the CPU-only library): built where pkg-config
# knows only OpenBLAS, it must compile no Vulkan or glslang module, link no Vulkan library,
# and print the same. Each package is copied beside a `vonnx` link to this checkout, kept with
# its build folder in .build/package-use(-cpu): at the same paths, a rerun rebuilds only what
# changed; the first run builds the Vonnx product's targets once more for each, in debug
# (5.5 min while the 2-core machine's load was 14; 11 s once built; the CPU-only one ~1.5 min
# more at load 3). Offline: the dependencies' clones and pins come from this checkout's own resolution.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$PWD/.build/package-use/src
rm -rf "$work/app" "$work/cpu-app"
mkdir -p "$work"
ln -sfn "$repo" "$work/vonnx"
cp -R examples/package-use "$work/app"
cp -R examples/package-use-cpu "$work/cpu-app"
for target in app/Sources/{GettingStarted,BatchAndFarmUse,BackendsAndFallback} cpu-app/Sources/GettingStarted; do
    mkdir -p "$work/$target"
    awk '/^```swift$/ { on = 1; block = ""; next }
         /^```$/ && on { on = 0; if (block !~ /Package\.swift/) printf "%s\n", block; next }
         on { block = block $0 "\n" }' "Sources/Vonnx/Vonnx.docc/$(basename "$target").md" > "$work/$target/main.swift"
done
.testdata/venv/bin/python examples/package-use/make_model.py "$work/app/model.onnx"

# build APP SCRATCH PRODUCT: what a user's build of the Vonnx product compiles and links, with
# the same pins, from clones already here, so nothing is fetched; the log is left in APP/build.log
build() {
    local app=$work/$1 scratch=$2 product=$3
    [ -f Package.resolved ] && cp Package.resolved "$app/"
    [ -d "$scratch/repositories" ] || { mkdir -p "$scratch"; cp -R .build/repositories "$scratch/"; }
    swift build --package-path "$app" --scratch-path "$scratch" --product "$product" > "$app/build.log" 2>&1 \
        || { cat "$app/build.log"; echo "test-package-use: the code of $product.md did not build ($1)" >&2; exit 1; }
    grep -E "main.swift.*(warning|error)" "$app/build.log" || true
}

# check BINARY: runs it in the app folder (the article's model) and looks for what the article prints
check() {
    (cd "$work/app" && "$1") > "$work/out.txt"
    cat "$work/out.txt"
    for line in 'x float32 [1, 4]' 'ids int64 [1, 2]' 'Tensor<float32>[1, 4] [0.5, 1.0, 1.5, 2.0]' '["y"]'; do
        grep -qxF "$line" "$work/out.txt" || { echo "test-package-use: $1 did not print: $line" >&2; exit 1; }
    done
}

build app "$PWD/.build/package-use" GettingStarted
build app "$PWD/.build/package-use" BatchAndFarmUse
build app "$PWD/.build/package-use" BackendsAndFallback
check "$PWD/.build/package-use/debug/GettingStarted"

# CPU only: pkg-config sees OpenBLAS alone (no vulkan.pc, no glslang's spirv.pc)
pc=$work/pkgconfig-openblas-only
mkdir -p "$pc"
ln -sfn "$(pkg-config --variable pcfiledir openblas)/openblas.pc" "$pc/openblas.pc"
PKG_CONFIG_LIBDIR=$pc PKG_CONFIG_PATH= build cpu-app "$PWD/.build/package-use-cpu" GettingStarted
cpu=$PWD/.build/package-use-cpu/debug/GettingStarted
if grep -E "Compiling (VonnxVulkan|CVulkan|CGlslang)|vulkan/vulkan\.h|glslang_c_interface" "$work/cpu-app/build.log"; then
    echo "test-package-use: the CPU-only build compiled a Vulkan or glslang module" >&2; exit 1
fi
if ldd "$cpu" | grep -Ei "vulkan|glslang|spirv" || nm "$cpu" | grep -Ei " [TU] (vk[A-Z]|glslang_)" | head -3 | grep .; then
    echo "test-package-use: the CPU-only program links Vulkan or glslang" >&2; exit 1
fi
check "$cpu"
PKG_CONFIG_LIBDIR=$pc PKG_CONFIG_PATH= build cpu-app "$PWD/.build/package-use-cpu" NoVulkan
novulkan=$PWD/.build/package-use-cpu/debug/NoVulkan
(cd "$work/app" && "$novulkan") | tee "$work/out.txt"
why="this build of Vonnx has no Vulkan backend (its package trait 'Vulkan' is off)"
grep -qxF "vulkan: backend .vulkan: $why" "$work/out.txt" && grep -qxF "auto: $why" "$work/out.txt" \
    || { echo "test-package-use: the CPU-only library did not refuse .vulkan as expected" >&2; exit 1; }
echo "test-package-use: ok (with the Vulkan trait and without)"
