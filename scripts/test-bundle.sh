#!/usr/bin/env bash
# The self-contained bundle on a bare Debian: unpacks the tarball of scripts/package.sh into a
# root made by `debootstrap --variant=minbase bookworm` with only libvulkan1 and
# mesa-vulkan-drivers added (no Swift, no -dev packages) and, under chroot, checks that every
# library resolves, lists the Vulkan devices, and runs a batch job on the CPU and on lavapipe:
# the CPU's outputs against onnxruntime, lavapipe's against the CPU's.
# The root is cached in .testdata/bare-root/bookworm (~600 MB, about 2 minutes to make);
# later runs take seconds. Needs root (chroot, mount).
# Usage: scripts/test-bundle.sh [TARBALL]   (default: the newest in .build/gpu-check, as
#        scripts/gpu-check.sh prepare leaves it, else one built by scripts/package.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
tarball=${1:-$(ls -t .build/gpu-check/vonnx-*.tar.gz 2>/dev/null | head -1)}
[ -n "$tarball" ] || tarball=$(scripts/package.sh | tail -1)
py=$PWD/.testdata/venv/bin/python
root=$PWD/.testdata/bare-root/bookworm

if [ ! -f "$root/.vonnx-ready" ]; then
    command -v debootstrap >/dev/null || scripts/setup.sh
    partial=$root.partial-$$
    rm -rf "$root" "$partial"
    mkdir -p "$(dirname "$root")"
    debootstrap --variant=minbase bookworm "$partial" http://deb.debian.org/debian >/dev/null
    chroot "$partial" apt-get install -y -q --no-install-recommends libvulkan1 mesa-vulkan-drivers >/dev/null
    chroot "$partial" apt-get clean
    touch "$partial/.vonnx-ready"
    mv "$partial" "$root"
fi

work=/opt/vonnx-bundle-test-$$
mounted=
cleanup() {
    [ -n "$mounted" ] && umount "$root/proc"
    rm -rf "${root:?}$work"
}
trap cleanup EXIT
mkdir -p "$root$work/vonnx"
tar -C "$root$work/vonnx" -xzf "$tarball" --strip-components 1
"$py" scripts/make-batch-fixtures.py "$root$work/fx" 24
if ! mountpoint -q "$root/proc"; then mount -t proc proc "$root/proc"; mounted=1; fi
inside() { chroot "$root" env -i PATH=/usr/bin:/bin HOME=/root "$@"; }
bin=$work/vonnx/bin
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what"; fi; }

check "a bare root: no Swift, no -dev packages" \
    test -z "$(inside sh -c 'command -v swift swiftc; dpkg-query -W -f "\${Package}\n" | grep -- "-dev$"')"
check "every library of the tools resolves" test -z "$(inside ldd "$bin/onnx-run" "$bin/onnx-bench" "$bin/onnx-conformance" | grep 'not found')"
check "README inside" test -s "$root$work/vonnx/README"
check "--list-devices lists lavapipe" sh -c "chroot '$root' '$bin/onnx-run' --list-devices | grep -q llvmpipe"
# batch NAME FLAGS...: a batch job over the fixtures into $work/NAME, its log kept there on failure.
batch() {
    local name=$1; shift
    inside "$bin/onnx-run" "$work/fx/filter.onnx" --threads 2 --resize 16 --crop 16 --batch-input "$work/fx/items" \
        --output-dir "$work/$name" "$@" 2>"$root$work/$name.log" || { tail -3 "$root$work/$name.log"; return 1; }
}
check "CPU batch run" batch cpu --backend cpu
check "lavapipe batch run" batch vulkan --backend vulkan --device llvmpipe
check "CPU outputs match onnxruntime, lavapipe's the CPU's" "$py" - "$root$work" <<'PY'
import glob, os, sys
import numpy as np, onnxruntime as ort
from onnx import TensorProto, numpy_helper
work = sys.argv[1]
s = ort.InferenceSession(f"{work}/fx/filter.onnx")
def load(p):
    if p.endswith(".npy"): return np.load(p)
    t = TensorProto(); t.ParseFromString(open(p, "rb").read())
    return numpy_helper.to_array(t)[None]
items = glob.glob(f"{work}/fx/items/**/*.np[y]", recursive=True) + glob.glob(f"{work}/fx/items/**/*.pb", recursive=True)
assert items
for p in items:
    rel = os.path.relpath(p, f"{work}/fx/items")
    assert np.allclose(np.load(f"{work}/cpu/{rel}.npy"), s.run(None, {"x": load(p)})[0], rtol=1e-4, atol=1e-5), rel
outputs = glob.glob(f"{work}/cpu/**/*.npy", recursive=True)
assert len(outputs) == len(glob.glob(f"{work}/fx/items/**/*.*", recursive=True))
for p in outputs:
    assert np.allclose(np.load(p), np.load(f"{work}/vulkan/{os.path.relpath(p, f'{work}/cpu')}"), rtol=1e-4, atol=1e-5), p
PY
echo "bundle ($(basename "$tarball")) in a bare Debian root: $passed passed, $failed failed"
[ "$failed" = 0 ]
