#!/usr/bin/env bash
# What a library user does first: a fresh Swift package depending on Vonnx by path
# (examples/package-use) builds the Swift blocks of the DocC articles GettingStarted and
# BatchAndFarmUse (Sources/Vonnx/Vonnx.docc; each article's blocks in order, but Package.swift
# lines, as one program), runs the getting-started one on the article's model and checks that
# it prints what the article says. The package is copied beside a `vonnx` link to this checkout,
# both kept with its build folder in .build/package-use: at the same paths, a rerun rebuilds
# only what changed; the first run builds the Vonnx product's targets once more, in debug
# (5.5 min while the 2-core machine's load was 14; 11 s once built). Offline: the
# dependencies' clones and pins come from this checkout's own resolution.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD scratch=$PWD/.build/package-use
work=$scratch/src
rm -rf "$work/app"
mkdir -p "$work"
ln -sfn "$repo" "$work/vonnx"
cp -R examples/package-use "$work/app"
for article in GettingStarted BatchAndFarmUse; do
    mkdir -p "$work/app/Sources/$article"
    awk '/^```swift$/ { on = 1; block = ""; next }
         /^```$/ && on { on = 0; if (block !~ /Package\.swift/) printf "%s\n", block; next }
         on { block = block $0 "\n" }' "Sources/Vonnx/Vonnx.docc/$article.md" > "$work/app/Sources/$article/main.swift"
done
.testdata/venv/bin/python examples/package-use/make_model.py "$work/app/model.onnx"

# the same pins, from clones already here, so nothing is fetched
[ -f Package.resolved ] && cp Package.resolved "$work/app/"
[ -d "$scratch/repositories" ] || cp -R .build/repositories "$scratch/"
# each article's product alone: what a user's build of the Vonnx product compiles and links
for article in GettingStarted BatchAndFarmUse; do
    swift build --package-path "$work/app" --scratch-path "$scratch" --product $article > "$work/build.log" 2>&1 \
        || { cat "$work/build.log"; echo "test-package-use: the code of $article.md did not build" >&2; exit 1; }
    grep -E "main.swift.*(warning|error)" "$work/build.log" || true
done

(cd "$work/app" && "$scratch/debug/GettingStarted") > "$work/out.txt"
cat "$work/out.txt"
for line in 'x float32 [1, 4]' 'ids int64 [1, 2]' 'Tensor<float32>[1, 4] [0.5, 1.0, 1.5, 2.0]' '["y"]'; do
    grep -qxF "$line" "$work/out.txt" || { echo "test-package-use: the article's program did not print: $line" >&2; exit 1; }
done
echo "test-package-use: ok"
