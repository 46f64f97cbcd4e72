#!/usr/bin/env bash
# The prepared GPU check, for a host with a Vulkan GPU and no Swift toolchain.
#
#   scripts/gpu-check.sh prepare [DIR]    here: writes DIR (default .build/gpu-check, ~58 MB): the
#                                         bundle of scripts/package.sh, the ONNX node tests and
#                                         the Vulkan lists, the conv micro-case models, and run.sh
#   DIR/run.sh [DEVICE] [--quick]         there: lists the devices, runs the Vulkan conformance
#                                         list and times ResNet-50 (batch 1 and 8) and the micro
#                                         cases on DEVICE (default: the first GPU) and the CPU;
#                                         writes DIR/report/ (JSON per run, logs, summary.txt)
#
# run.sh needs only the host's glibc, libstdc++ and Vulkan driver, and finishes within about
# 8 minutes on a GPU (each step has its own time limit). CI runs both steps on lavapipe with
# --quick (ResNet-50 batch 1 only, few runs), so the check stays working.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = prepare ] || { echo "usage: scripts/gpu-check.sh prepare [DIR]" >&2; exit 2; }
dir=$(realpath -m "${2:-.build/gpu-check}")
rm -rf "$dir"; mkdir -p "$dir/micro"
tarball=$(scripts/package.sh "$dir" | tail -1)
data=.testdata/onnx-1.22.0/onnx/backend/test/data
tar -C "$data/.." -czf "$dir/conformance-data.tar.gz" data
cp Tests/Conformance/vulkan-passing.txt Tests/Conformance/vulkan-failing.txt "$dir/"
.testdata/venv/bin/python Benchmarks/make_micro_models.py "$dir/micro" > "$dir/micro/gflop.txt"
# the two conv cases only: with the Gemm ones (12 MB of weights) DIR outgrows a 64 MiB carry
rm "$dir/micro/gemm1024.onnx" "$dir/micro/gemv.onnx"
cat > "$dir/run.sh" <<RUN
#!/usr/bin/env bash
# Runs the GPU check prepared by scripts/gpu-check.sh (see there). Usage: run.sh [DEVICE] [--quick]
set -uo pipefail
cd "\$(dirname "\$0")"
device=\${1:-gpu}; quick=\${2:-}
[ "\$device" = gpu ] && device=""
rm -rf report bundle data; mkdir -p report bundle
tar -C bundle -xzf $(basename "$tarball") --strip-components 1
tar -xzf conformance-data.tar.gz
bin=bundle/bin
step() {  # step NAME SECONDS COMMAND...: runs it with a time limit, logging to report/NAME.log
    local name=\$1 limit=\$2; shift 2
    local start=\$(date +%s)
    timeout "\$limit" "\$@" > "report/\$name.log" 2>&1; local rc=\$?
    echo "\$name: exit \$rc in \$((\$(date +%s) - start)) s" | tee -a report/summary.txt
}
dev=(); [ -n "\$device" ] && dev=(--device "\$device")
step devices 30 \$bin/onnx-run --list-devices
cat report/devices.log
step conformance 240 \$bin/onnx-conformance --backend vulkan "\${dev[@]}" --data data \\
    --expect vulkan-passing.txt --expect-failing vulkan-failing.txt
tail -3 report/conformance.log | tee -a report/summary.txt
if [ "\$quick" = --quick ]; then
    step resnet50 240 \$bin/onnx-bench --backends cpu,vulkan "\${dev[@]}" --runs 3 --warmup 1 --json report/resnet50.json
else
    step resnet50 240 \$bin/onnx-bench --backends cpu,vulkan "\${dev[@]}" --batch 1,8 --json report/resnet50.json
    for m in micro/*.onnx; do
        step "micro-\$(basename "\$m" .onnx)" 60 \$bin/onnx-bench "\$m" --backends vulkan "\${dev[@]}" --json "report/micro-\$(basename "\$m" .onnx).json"
    done
fi
grep -hE "^ *(cpu|vulkan) " report/resnet50.log report/micro-*.log 2>/dev/null | tee -a report/summary.txt
! grep -q "exit [1-9]" report/summary.txt
RUN
chmod +x "$dir/run.sh"
du -sh "$dir"/* | sort -h >&2
echo "$dir"
