#!/usr/bin/env bash
# Batch mode of onnx-run (--batch-input) end to end: outputs against onnxruntime, a corrupt
# and a wrong-size item recorded while the job goes on, kill -9 then rerun giving outputs
# identical to an uninterrupted run, SIGTERM's exit code, sharding, bad output folders and a
# full disk (a small tmpfs) with no complete-looking partial output. Outputs are compared
# byte for byte only between runs with the same batch size and thread count; across batch
# sizes they may differ by float rounding (the README's promise), checked with a tolerance.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/.build/release/onnx-run
py=$PWD/.testdata/venv/bin/python
tmp=$(mktemp -d)
mounts=()
cleanup() { for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
passed=0 failed=0 skipped=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP: $*"; }
# check DESCRIPTION COMMAND...: the command succeeds.
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok; else fail "$what"; fi; }
# outputs DIR: the item outputs under DIR (not the job's own files), sorted.
outputs() { (cd "$1" && find . -type f \( -name '*.npy' -o -name '*.png' -o -name '*.json' \) ! -name 'summary*' | sort); }
# count_outputs DIR
count_outputs() { outputs "$1" | wc -l; }
# wait_outputs DIR N PID: waits (up to 60 s) until DIR holds N outputs or PID ends.
wait_outputs() {
  for _ in $(seq 600); do
    [ "$(count_outputs "$1" 2>/dev/null)" -ge "$2" ] && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

"$py" scripts/make-batch-fixtures.py "$tmp/fx" 60 || { echo "cannot make fixtures"; exit 1; }
fx=$tmp/fx
run=("$bin" "$fx/classifier.onnx" --threads 2 --resize 16 --crop 16)
total=$(find "$fx/items" -type f | wc -l)

# 1. A whole run: every item done, nothing failed, summary written.
"${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/ref" --batch-size 4 2>"$tmp/ref.log"; rc=$?
[ "$rc" = 0 ] && ok || fail "reference run exit $rc: $(tail -3 "$tmp/ref.log")"
[ "$(count_outputs "$tmp/ref")" = "$total" ] && ok || fail "reference run wrote $(count_outputs "$tmp/ref") of $total outputs"
check "failures.jsonl empty" test -f "$tmp/ref/failures.jsonl" -a ! -s "$tmp/ref/failures.jsonl"
check "summary counts" grep -q "\"succeeded\":$total,\"failed\":0" "$tmp/ref/summary.json"
check "JSON progress records when not a terminal" grep -q '"event":"progress"' "$tmp/ref.log"

# 2. The tensor items' outputs equal onnxruntime's; the batch size does not change them.
"${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/b1" --batch-size 1 2>/dev/null
check "outputs match onnxruntime and --batch-size 1" "$py" - "$fx" "$tmp/ref" "$tmp/b1" <<'PY'
import glob, os, sys
import numpy as np, onnxruntime as ort
fx, ref, b1 = sys.argv[1:]
s = ort.InferenceSession(f"{fx}/classifier.onnx")
from onnx import TensorProto, numpy_helper
def load(p):
    if p.endswith(".npy"): return np.load(p)
    t = TensorProto(); t.ParseFromString(open(p, "rb").read())
    return numpy_helper.to_array(t)[None]
items = glob.glob(f"{fx}/items/**/*.npy", recursive=True) + glob.glob(f"{fx}/items/**/*.pb", recursive=True)
assert len(items) > 10
for p in items:
    rel = os.path.relpath(p, f"{fx}/items")
    want = s.run(None, {"x": load(p)})[0]
    got = np.load(f"{ref}/{rel}.npy")
    assert got.shape == want.shape and np.allclose(got, want, rtol=1e-4, atol=1e-5), rel
for p in glob.glob(f"{ref}/**/*.npy", recursive=True):
    assert np.allclose(np.load(p), np.load(b1 + p[len(ref):]), rtol=1e-5, atol=1e-6), p
PY

# A job file does what the same flags do; a bad line is named.
printf '# preprocessing\nresize = 16\ncrop = 16   # centre\n' > "$tmp/job.txt"
"$bin" "$fx/classifier.onnx" --threads 2 --job "$tmp/job.txt" --batch-input "$fx/items" --output-dir "$tmp/job" --batch-size 4 2>/dev/null
check "job file = flags" diff <(cd "$tmp/ref" && outputs . | xargs sha256sum) <(cd "$tmp/job" && outputs . | xargs sha256sum)
printf 'resize = 16\nlayout = nwhc\n' > "$tmp/badjob.txt"
out=$("$bin" "$fx/classifier.onnx" --job "$tmp/badjob.txt" --batch-input "$fx/items" --output-dir "$tmp/x" 2>&1); rc=$?
[ "$rc" = 2 ] && grep -q "badjob.txt line 2: layout 'nwhc' must be nchw or nhwc" <<<"$out" && ok || fail "bad job file: exit $rc, $out"

# An output folder inside the input folder is not read as input on a rerun.
cp -r "$fx/items" "$tmp/inside"
for _ in 1 2; do "${run[@]}" --batch-input "$tmp/inside" --output-dir "$tmp/inside/out" 2>/dev/null; done
check "output folder inside the input folder is skipped" grep -q "\"listed\":$total," "$tmp/inside/out/summary.json"

# 3. A corrupt image and a wrong-size tensor are recorded; the job goes on and exits 1.
cp -r "$fx/items" "$tmp/bad"
head -c 300 "$(find "$fx/items" -name '*.png' | head -1)" > "$tmp/bad/corrupt.png"
printf 'garbage' > "$tmp/bad/junk.jpg"
"$py" -c "import numpy as np; np.save('$tmp/bad/small.npy', np.zeros((1,3,8,8), np.float32))"
"${run[@]}" --batch-input "$tmp/bad" --output-dir "$tmp/badout" --batch-size 4 2>/dev/null; rc=$?
[ "$rc" = 1 ] && ok || fail "bad items: exit $rc, want 1"
check "corrupt.png in failures" grep -q '"item":"corrupt.png","reason":"PNG' "$tmp/badout/failures.jsonl"
check "junk.jpg in failures" grep -q '"item":"junk.jpg","reason":"not a PNG or JPEG' "$tmp/badout/failures.jsonl"
check "small.npy in failures" grep -q '"item":"small.npy","reason":"shape \[3, 8, 8\] does not fit' "$tmp/badout/failures.jsonl"
[ "$(count_outputs "$tmp/badout")" = "$total" ] && ok || fail "bad items: good items not all written"

# 4. kill -9 mid-run, then a rerun: outputs byte-identical to an uninterrupted run. Many
#    small items, so the run lasts long enough to be caught in the middle.
"$py" -c "
import numpy as np, os
rng = np.random.default_rng(1)
for i in range(1500):
    d = '$tmp/many/%02d' % (i % 16); os.makedirs(d, exist_ok=True)
    np.save('%s/t%04d.npy' % (d, i), rng.random((3, 16, 16), dtype=np.float32))
"
many=$(find "$tmp/many" -type f | wc -l)
# Memory stays flat: 1500 items peak within 6 MB of 60 (keeping every input and output
# alive would add ~9 MB). peak_kb COMMAND...: its peak resident memory (VmHWM, polled; 0
# when it could not be read, which fails the check).
peak_kb() {
  "$@" 2>/dev/null & local p=$! peak=0 r
  while kill -0 $p 2>/dev/null; do
    r=$(awk '/VmHWM/ {print $2}' /proc/$p/status 2>/dev/null) && [ -n "$r" ] && peak=$r
    sleep 0.02
  done
  wait $p; echo "$peak"
}
few_kb=$(peak_kb "${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/few-mem" --batch-size 1)
many_kb=$(peak_kb "${run[@]}" --batch-input "$tmp/many" --output-dir "$tmp/many-ref" --batch-size 1)
echo "memory: $total items $few_kb kB, $many items $many_kb kB"
[ "$few_kb" -gt 0 ] && [ "$many_kb" -gt 0 ] && ok || fail "peak memory not read from /proc ($few_kb, $many_kb kB)"
[ "$many_kb" -lt $((few_kb + 6144)) ] && ok || fail "memory not flat: $many items peaked at $many_kb kB, $total at $few_kb kB"
# The reference for runs at batch size 4, and its agreement with batch size 1.
"${run[@]}" --batch-input "$tmp/many" --output-dir "$tmp/many-ref4" --batch-size 4 2>/dev/null
# agree DIR REF: the same output files, equal within float rounding.
agree() { "$py" - "$1" "$2" <<'PY'
import glob, sys, numpy as np
got, ref = sys.argv[1:]
files = sorted(p[len(got):] for p in glob.glob(f"{got}/**/*.npy", recursive=True))
assert files and files == sorted(p[len(ref):] for p in glob.glob(f"{ref}/**/*.npy", recursive=True)), "different files"
for f in files:
    assert np.allclose(np.load(got + f), np.load(ref + f), rtol=1e-5, atol=1e-6), f
PY
}
check "batch sizes 4 and 1 agree within float rounding" agree "$tmp/many-ref4" "$tmp/many-ref"
"${run[@]}" --batch-input "$tmp/many" --output-dir "$tmp/killed" --batch-size 1 2>/dev/null &
pid=$!
if wait_outputs "$tmp/killed" 20 $pid; then kill -9 $pid; fi
wait $pid 2>/dev/null
done_before=$(count_outputs "$tmp/killed")
[ "$done_before" -lt "$many" ] && ok || fail "kill -9 came too late ($done_before of $many done): test proves nothing"
"${run[@]}" --batch-input "$tmp/many" --output-dir "$tmp/killed" --batch-size 1 2>/dev/null; rc=$?
[ "$rc" = 0 ] && ok || fail "rerun after kill -9: exit $rc"
check "rerun skipped the items done before" grep -q "\"skipped_done\":$done_before," "$tmp/killed/summary.json"
check "resumed outputs identical to an uninterrupted run" diff <(cd "$tmp/many-ref" && outputs . | xargs sha256sum) \
                                                            <(cd "$tmp/killed" && outputs . | xargs sha256sum)
check "no temporaries left" test -z "$(find "$tmp/killed" -name '.*.partial-*')"

# 5. SIGTERM finishes the batch in flight and exits 3; a rerun completes.
"${run[@]}" --batch-input "$tmp/many" --output-dir "$tmp/term" --batch-size 4 2>/dev/null &
pid=$!
if wait_outputs "$tmp/term" 20 $pid; then kill -TERM $pid; fi
wait $pid; rc=$?
[ "$rc" = 3 ] && ok || fail "SIGTERM: exit $rc, want 3"
check "summary names the signal" grep -q '"interrupted_by_signal":15' "$tmp/term/summary.json"
check "whole batches written before stopping" test $(( $(count_outputs "$tmp/term") % 4 )) = 0
"${run[@]}" --batch-input "$tmp/many" --output-dir "$tmp/term" --batch-size 4 2>/dev/null
check "rerun after SIGTERM identical" diff <(cd "$tmp/many-ref4" && outputs . | xargs sha256sum) <(cd "$tmp/term" && outputs . | xargs sha256sum)

# 6. Shards: every item in exactly one shard; Slurm variables pick the same shard as --shard.
for i in 0 1 2; do "${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/shards" --shard $i/3 --batch-size 4 2>/dev/null; done
check "shards cover every item once" diff <(outputs "$tmp/ref") <(outputs "$tmp/shards")
check "each shard wrote its summary" test -f "$tmp/shards/summary.shard-2-of-3.json"
# Shards running at once into one folder leave each other's temporaries alone.
pids=()
for i in 0 1 2; do "${run[@]}" --batch-input "$tmp/many" --output-dir "$tmp/conc" --shard $i/3 --batch-size 4 2>/dev/null & pids+=($!); done
rcs=""; for p in "${pids[@]}"; do wait "$p"; rcs+="$?"; done
[ "$rcs" = 000 ] && ok || fail "concurrent shards exited $rcs"
# a shard's batches hold other items than an unsharded run's (its last one may be smaller)
check "concurrent shards: every output once, agreeing with one process" agree "$tmp/conc" "$tmp/many-ref4"
SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_MAX=6 "${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/slurm1" 2>/dev/null
JOB_COMPLETION_INDEX=1 JOB_COMPLETION_COUNT=3 "${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/k8s1" 2>/dev/null
"${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/shard1" --shard 1/3 2>/dev/null
check "Slurm array variables = --shard 1/3" diff <(outputs "$tmp/shard1") <(outputs "$tmp/slurm1")
check "Indexed Job variables = --shard 1/3" diff <(outputs "$tmp/shard1") <(outputs "$tmp/k8s1")

# 7. Top-k with labels to JSON lines; image-shaped outputs to PNG.
"${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/topk" --top-k 3 --labels "$fx/labels.txt" 2>/dev/null
check "predictions.jsonl has a line an item" test "$(grep -c '"label":"class ' "$tmp/topk/predictions.jsonl")" = "$total"
"$bin" "$fx/filter.onnx" --threads 2 --resize 16 --crop 16 --png --batch-input "$fx/items" --output-dir "$tmp/png" 2>/dev/null
check "PNG outputs" test "$(find "$tmp/png" -name '*.png' | wc -l)" = "$total"
"$bin" "$fx/filter.onnx" --threads 2 --resize 16 --crop 16 --png --batch-input "$tmp/png" --output-dir "$tmp/png2" 2>/dev/null
check "PNG outputs decode again" test "$(count_outputs "$tmp/png2")" = "$total"

# 8. Bad input: exit 2 with a clear message, nothing written.
expect2() { local pattern=$1; shift; local out; out=$("$@" 2>&1); local rc=$?
  if [ "$rc" = 2 ] && grep -qE -- "$pattern" <<<"$out"; then ok; else fail "$* -> exit $rc, output: $out"; fi; }
printf 'img0000.png\nnotes.txt\n' > "$tmp/manifest.txt"
expect2 "no-such-manifest.txt: No such file" "${run[@]}" --batch-input "$tmp/no-such-manifest.txt" --output-dir "$tmp/x"
expect2 "manifest .*line 2: 'notes.txt' is not" "${run[@]}" --batch-input "$tmp/manifest.txt" --output-dir "$tmp/x"
expect2 "needs --output-dir" "${run[@]}" --batch-input "$fx/items"
expect2 "--shard '3/3'|shard 3/3 is out of range" "${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/x" --shard 3/3
out=$("$bin" "$fx/classifier.onnx" --random --top-k 3 2>&1); rc=$?
[ "$rc" != 0 ] && grep -q "need --batch-input" <<<"$out" && ok || fail "batch flags without --batch-input: exit $rc, $out"
touch "$tmp/afile"
expect2 "output folder not writable: .*afile exists and is not a folder" "${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/afile/out"
mkdir -p "$tmp/ro" "$tmp/full"
if mount -t tmpfs -o ro,size=1m tmpfs "$tmp/ro" 2>/dev/null; then
  mounts+=("$tmp/ro")
  expect2 "output folder not writable: .*Read-only file system" "${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/ro"
else
  skip "cannot mount a tmpfs here: read-only output folder not checked"
fi

# 9. A full disk: exit 4 naming the cause; every output there is complete (equal to the reference).
if mount -t tmpfs -o size=96k tmpfs "$tmp/full" 2>/dev/null; then
  mounts+=("$tmp/full")
  out=$("$bin" "$fx/filter.onnx" --threads 2 --resize 16 --crop 16 --batch-input "$fx/items" --output-dir "$tmp/full" 2>&1); rc=$?
  [ "$rc" = 4 ] && grep -q "No space left on device" <<<"$out" && ok || fail "full disk: exit $rc, output: $out"
  "$bin" "$fx/filter.onnx" --threads 2 --resize 16 --crop 16 --batch-input "$fx/items" --output-dir "$tmp/filter-ref" 2>/dev/null
  n=$(count_outputs "$tmp/full")
  [ "$n" -gt 0 ] && [ "$n" -lt "$total" ] && ok || fail "full disk: $n outputs, want some but not all"
  check "outputs on the full disk are complete" bash -c "cd '$tmp/full' && find . -name '*.npy' | while read f; do cmp -s \"\$f\" '$tmp/filter-ref'/\"\$f\" || exit 1; done"
  check "no temporaries on the full disk" test -z "$(find "$tmp/full" -name '.*.partial-*')"
else
  skip "cannot mount a tmpfs here: full-disk checks not run"
fi

# ---- issue 15: hostile input trees (symlink loops, escapes, FIFOs, odd names) ----
# Every case ends (a timeout would be a hang), writes nothing outside the output folder,
# and records what it could not read in failures.jsonl.
h=$tmp/hostile
mkdir -p "$h/in/sub" "$h/esc"
cp "$(find "$fx/items" -name '*.npy' | head -1)" "$h/in/a.npy"
cp "$h/in/a.npy" "$h/in/sub/b.npy"
cp "$h/in/a.npy" "$h/esc/x.npy"
ln -s . "$h/in/self"; ln -s .. "$h/in/sub/up"; ln -s "$h/esc" "$h/in/outside"
ln -s missing.npy "$h/in/dangling.npy"; ln -s loop2.npy "$h/in/loop1.npy"; ln -s loop1.npy "$h/in/loop2.npy"
mkfifo "$h/in/fifo.npy"
cp "$h/in/a.npy" "$h/in/$(printf 'bad\xff.npy')"
timeout 60 "${run[@]}" --batch-input "$h/in" --output-dir "$h/out" >/dev/null 2>&1; rc=$?
[ "$rc" = 1 ] && ok || fail "hostile tree: exit $rc, want 1 (some items failed)"
check "each item once despite self/up symlinks" test "$(count_outputs "$h/out")" = 2
check "no folder outside the root followed" test ! -e "$h/out/outside/x.npy.npy"
for reason in "dangling symlink" "symlink loop" "not a regular file" "not valid UTF-8" "outside the input folder"; do
  check "failures.jsonl records: $reason" grep -q "$reason" "$h/out/failures.jsonl"
done
timeout 60 "${run[@]}" --batch-input "$h/in" --output-dir "$h/follow" --follow-symlinks >/dev/null 2>&1
check "--follow-symlinks follows a folder outside the root" test -f "$h/follow/outside/x.npy.npy"
printf 'a.npy\n../esc/x.npy\n/etc/passwd.npy\n' > "$h/in/list.txt"
timeout 60 "${run[@]}" --batch-input "$h/in/list.txt" --output-dir "$h/m" >/dev/null 2>&1; rc=$?
[ "$rc" = 1 ] && ok || fail "manifest escaping its folder: exit $rc, want 1"
check "manifest escape writes nothing outside the output folder" test ! -e "$h/esc/x.npy.npy" -a ! -e "$tmp/esc"
check "manifest escape recorded" grep -q "not a path inside the manifest's folder" "$h/m/failures.jsonl"
mkdir -p "$h/many"; for i in $(seq 50); do mkdir -p "$h/many/d$i"; ln -s .. "$h/many/d$i/up"; done
timeout 60 "${run[@]}" --batch-input "$h/many" --output-dir "$h/many-out" >/dev/null 2>&1 &
pid=$!; sleep 0.3; kill -TERM "$pid" 2>/dev/null; wait "$pid"; rc=$?
[ "$rc" = 3 ] || [ "$rc" = 0 ] && ok || fail "SIGTERM while listing: exit $rc, want 3 (or 0 if listing had ended)"
# ---- end of issue 15 block ----

# ---- issue 20: per-item retry, multi-input items, --device auto ----
# A batch holding one item that fails inference is retried an item at a time: only that item fails.
"$bin" "$fx/lookup.onnx" --threads 2 --batch-input "$fx/lookup" --output-dir "$tmp/retry" --batch-size 4 2>/dev/null; rc=$?
[ "$rc" = 1 ] && ok || fail "batch with a bad item: exit $rc, want 1"
check "only the bad item in failures.jsonl" test "$(grep -c . "$tmp/retry/failures.jsonl")" = 1 -a -n "$(grep '"item":"bad.npy","reason":"inference failed' "$tmp/retry/failures.jsonl")"
check "the bad item's batch-mates written" test "$(count_outputs "$tmp/retry")" = 6
# Two-input items, as folders and as JSON-lines manifest lines, against onnxruntime.
blend=("$bin" "$fx/blend.onnx" --threads 2 --batch-size 4)
"${blend[@]}" --batch-input "$fx/multi" --output-dir "$tmp/multi" 2>/dev/null; rc=$?
[ "$rc" = 0 ] && ok || fail "multi-input folders: exit $rc"
"${blend[@]}" --batch-input "$fx/multi/multi.jsonl" --output-dir "$tmp/multi-jsonl" 2>/dev/null; rc=$?
[ "$rc" = 0 ] && ok || fail "multi-input manifest: exit $rc"
check "multi-input outputs match onnxruntime" "$py" - "$fx" "$tmp/multi" "$tmp/multi-jsonl" <<'PY'
import sys, zlib, numpy as np, onnxruntime as ort
fx, folders, manifest = sys.argv[1:]
s = ort.InferenceSession(f"{fx}/blend.onnx")
def png(path):  # the fixtures' 8-bit RGB PNGs: one IDAT, filter 0 on every row
    data = open(path, "rb").read()
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    i = data.index(b"IDAT"); n = int.from_bytes(data[i - 4:i], "big")
    rows = np.frombuffer(zlib.decompress(data[i + 4:i + 4 + n]), np.uint8).reshape(h, 1 + w * 3)[:, 1:]
    return (rows.reshape(h, w, 3).transpose(2, 0, 1)[None] / 255).astype(np.float32)
for i in range(6):
    want = s.run(None, {"color": png(f"{fx}/multi/f{i}/color.png"), "albedo": np.load(f"{fx}/multi/f{i}/albedo.npy")})[0]
    assert np.allclose(np.load(f"{folders}/f{i}.npy"), want, rtol=1e-4, atol=1e-5), i
    assert np.allclose(np.load(f"{manifest}/f{i}/color.png.npy"), want, rtol=1e-4, atol=1e-5), i
PY
mkdir -p "$tmp/multi-in"; cp -r "$fx/multi/f0" "$fx/multi/f1" "$tmp/multi-in/"; rm "$tmp/multi-in/f1/albedo.npy"
"${blend[@]}" --batch-input "$tmp/multi-in" --output-dir "$tmp/multi-bad" 2>/dev/null; rc=$?
[ "$rc" = 1 ] && grep -q '"item":"f1","reason":"item folder has no .npy, .pb or image file for input .albedo.' "$tmp/multi-bad/failures.jsonl" \
  && ok || fail "item folder missing an input: exit $rc, $(cat "$tmp/multi-bad/failures.jsonl")"
# --device auto: no scheduler variables leave the default; a rank beyond the node's GPUs is a one-line error.
check "--device auto without a rank" "$bin" "$fx/filter.onnx" --random --device auto
out=$(SLURM_LOCALID=99 "$bin" "$fx/filter.onnx" --random --device auto 2>&1); rc=$?
[ "$rc" != 0 ] && grep -q "device auto: SLURM_LOCALID=99 but this node has [0-9]* GPU(s)" <<<"$out" && ok || fail "--device auto beyond the GPUs: exit $rc, $out"
# Tiles (--tile, --overlap): equal to whole-frame inference for a receptive field within a
# quarter of the overlap; a bad tile or a model that is not image-to-image is refused up front.
up=("$bin" "$fx/upscale.onnx" --threads 2 --batch-input "$fx/frames")
"${up[@]}" --output-dir "$tmp/whole" 2>/dev/null; rc=$?
[ "$rc" = 0 ] && ok || fail "whole-frame upscale: exit $rc"
"${up[@]}" --output-dir "$tmp/tiled" --tile 32x24 --overlap 12 2>/dev/null; rc=$?
[ "$rc" = 0 ] && ok || fail "tiled upscale: exit $rc"
check "tiled = whole frame (relative L2 < 1e-3)" "$py" - "$tmp/whole" "$tmp/tiled" <<'PY'
import glob, sys, numpy as np
whole, tiled = sys.argv[1:]
files = sorted(p[len(whole):] for p in glob.glob(f"{whole}/*.npy"))
assert len(files) == 3, files
for f in files:
    a, b = np.load(whole + f), np.load(tiled + f)
    assert a.shape == b.shape and a.shape[2:] in ((90, 140), (80, 180)), (f, a.shape, b.shape)
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 1e-3, f
PY
expect2 "--tile 16x16 is smaller than twice --overlap 9" "${up[@]}" --output-dir "$tmp/x" --tile 16 --overlap 9
expect2 "--tile: output 'y' is \[1, 10\] for a 16x16 tile, not an image" "${run[@]}" --batch-input "$fx/items" --output-dir "$tmp/x" --tile 16
# 16-bit PNG outputs (--png16): depth 16, and read back (through an Identity model) equal to
# the .npy outputs within half a step of 1/65535.
"$bin" "$fx/filter.onnx" --threads 2 --resize 16 --crop 16 --png16 --batch-input "$fx/items" --output-dir "$tmp/png16" 2>/dev/null
"$bin" "$fx/filter.onnx" --threads 2 --resize 16 --crop 16 --batch-input "$fx/items" --output-dir "$tmp/filter-npy" 2>/dev/null
"$py" -c "
import onnx; from onnx import helper, TensorProto as T
v = lambda n: helper.make_tensor_value_info(n, T.FLOAT, ['N', 3, 16, 16])
onnx.save(helper.make_model(helper.make_graph([helper.make_node('Identity', ['x'], ['y'])], 'id', [v('x')], [v('y')]),
          opset_imports=[helper.make_opsetid('', 17)]), '$tmp/identity.onnx')"
"$bin" "$tmp/identity.onnx" --batch-input "$tmp/png16" --output-dir "$tmp/png16-back" 2>/dev/null
check "16-bit PNG outputs hold the values to 1/65535" "$py" - "$tmp/png16" "$tmp/png16-back" "$tmp/filter-npy" <<'PY'
import glob, os, sys, numpy as np
png, back, npy = sys.argv[1:]
files = glob.glob(f"{png}/**/*.png", recursive=True)
assert len(files) == len(glob.glob(f"{npy}/**/*.npy", recursive=True)) > 10
for f in files:
    assert open(f, "rb").read()[24] == 16, f
    rel = os.path.relpath(f, png)
    assert np.abs(np.load(f"{back}/{rel}.npy") - np.load(f"{npy}/{rel[:-4]}.npy")).max() <= 0.51 / 65535, rel
PY
# EXR frames (half, float and uint; data window off the origin) through an identity model: read
# exactly, written back as float and half EXR (read here by a parser of the file layout, not
# the library) with the windows and the source's attributes kept; tiled and compressed copies
# (exrmaketiled) read the same; a two-layer file feeds both inputs of blend.onnx.
"$py" -c "
import onnx; from onnx import helper, TensorProto as T
v = lambda n: helper.make_tensor_value_info(n, T.FLOAT, ['N', 3, 'H', 'W'])
onnx.save(helper.make_model(helper.make_graph([helper.make_node('Identity', ['x'], ['y'])], 'id', [v('x')], [v('y')]),
          opset_imports=[helper.make_opsetid('', 17)]), '$tmp/identity-any.onnx')"
ident=("$bin" "$tmp/identity-any.onnx" --threads 2 --batch-input)
mkdir -p "$tmp/exr-tiled"
for z in none zip piz; do exrmaketiled -t 16 16 -z $z "$fx/exr-frames/f0.exr" "$tmp/exr-tiled/f0-$z.exr" >/dev/null; done
exrmaketiled -t 16 16 -z dwaa "$fx/exr-frames/f1.exr" "$tmp/exr-tiled/dwaa.exr" >/dev/null
"${ident[@]}" "$fx/exr-frames" --output-dir "$tmp/exr-npy" 2>/dev/null && "${ident[@]}" "$fx/exr-uint" --output-dir "$tmp/exr-npy" 2>/dev/null
[ "$?" = 0 ] && ok || fail "EXR frames to .npy: exit $?"
"${ident[@]}" "$fx/exr-frames" --output-dir "$tmp/exr-float" --exr 2>/dev/null && "${ident[@]}" "$fx/exr-frames" --output-dir "$tmp/exr-half" --exr-half 2>/dev/null
[ "$?" = 0 ] && ok || fail "EXR frames to EXR: exit $?"
"${ident[@]}" "$tmp/exr-tiled" --output-dir "$tmp/exr-tiled-out" 2>/dev/null; rc=$?
[ "$rc" = 1 ] && grep -q '"item":"dwaa.exr","reason":"EXR: DWAA compression is not supported' "$tmp/exr-tiled-out/failures.jsonl" \
  && ok || fail "unsupported EXR compression: exit $rc, $(cat "$tmp/exr-tiled-out/failures.jsonl")"
# tiled sources give tiled outputs (their tile size, compression and attributes), read back exactly
"${ident[@]}" "$tmp/exr-tiled" --output-dir "$tmp/exr-tiled-exr" --exr 2>/dev/null
"${ident[@]}" "$tmp/exr-tiled-exr" --output-dir "$tmp/exr-tiled-back" 2>/dev/null; rc=$?
[ "$rc" = 0 ] && exrheader "$tmp/exr-tiled-exr/f0-piz.exr.exr" | grep -q 'tiles (type tiledesc):' \
  && cmp -s "$tmp/exr-tiled-back/f0-piz.exr.exr.npy" "$tmp/exr-npy/f0.exr.npy" && ok || fail "tiled EXR written back: exit $rc"
"${ident[@]}" "$fx/exr-frames" --output-dir "$tmp/exr-nochan" --channels R,G,Z 2>/dev/null
check "missing EXR channel named" grep -q "\"reason\":\"EXR: no channel 'Z' (the file has B, G, R)\"" "$tmp/exr-nochan/failures.jsonl"
"$bin" "$fx/blend.onnx" --threads 2 --batch-input "$fx/exr-layers" --output-dir "$tmp/exr-layers" --exr-inputs color=R,G,B \
  --exr-inputs albedo=albedo.R,albedo.G,albedo.B 2>/dev/null; rc=$?
[ "$rc" = 0 ] && ok || fail "two-layer EXR items: exit $rc"
check "EXR in and out: exact float, half-rounded half, windows, attributes, tiles, layers" "$py" - "$fx" "$tmp" <<'PY'
import sys, numpy as np, onnxruntime as ort
sys.path.insert(0, "scripts")
from exrfile import exr_read as exr
fx, tmp = sys.argv[1:]
for i, half in enumerate((True, False)):
    src, attrs, _ = exr(f"{fx}/exr-frames/f{i}.exr")
    rgb = np.stack([src[c] for c in "RGB"])
    got = np.load(f"{tmp}/exr-npy/f{i}.exr.npy")
    assert got.shape == (1, 3, 45, 70) and (got[0] == rgb).all(), i
    for kind, folder in ((2, "exr-float"), (1, "exr-half")):
        out, oattrs, chans = exr(f"{tmp}/{folder}/f{i}.exr.exr")
        assert set(chans.items()) == {(c, kind) for c in "RGB"}, chans
        back = np.stack([out[c] for c in "RGB"])
        assert (back == (rgb if kind == 2 else rgb.astype(np.float16).astype(np.float32))).all(), (i, folder)
        for a in ("dataWindow", "displayWindow", "owner"):
            assert oattrs[a] == attrs[a], (folder, a)
ids, _, kinds = exr(f"{fx}/exr-uint/ids.exr")
assert set(kinds.values()) == {0} and (np.load(f"{tmp}/exr-npy/ids.exr.npy")[0] == np.stack([ids[c] for c in "RGB"])).all()
for z in ("none", "zip", "piz"):
    assert (np.load(f"{tmp}/exr-tiled-out/f0-{z}.exr.npy") == np.load(f"{tmp}/exr-npy/f0.exr.npy")).all(), z
s = ort.InferenceSession(f"{fx}/blend.onnx")
for i in range(3):
    layers, _, _ = exr(f"{fx}/exr-layers/f{i}.exr")
    feed = lambda names: np.stack([layers[c] for c in names])[None]
    want = s.run(None, {"color": feed(["R", "G", "B"]), "albedo": feed(["albedo.R", "albedo.G", "albedo.B"])})[0]
    assert np.allclose(np.load(f"{tmp}/exr-layers/f{i}.exr.npy"), want, rtol=1e-4, atol=1e-5), i
PY
# Tiled ×2 upscale of EXR frames: equal to whole-frame inference, EXR windows scaled by 2.
"$bin" "$fx/upscale.onnx" --threads 2 --batch-input "$fx/exr-frames" --output-dir "$tmp/exr-up-whole" 2>/dev/null
"$bin" "$fx/upscale.onnx" --threads 2 --batch-input "$fx/exr-frames" --output-dir "$tmp/exr-up" --tile 32x24 --overlap 12 --exr 2>/dev/null; rc=$?
[ "$rc" = 0 ] && ok || fail "tiled EXR upscale: exit $rc"
check "tiled EXR upscale = whole frame, windows doubled" bash -c "exrheader '$tmp/exr-up/f0.exr.exr' | grep -q 'dataWindow (type box2i): (20 10) - (159 99)' &&
  exrheader '$tmp/exr-up/f0.exr.exr' | grep -q 'displayWindow (type box2i): (0 0) - (199 119)' &&
  '${ident[0]}' '$tmp/identity-any.onnx' --batch-input '$tmp/exr-up' --output-dir '$tmp/exr-up-back' >/dev/null 2>&1 &&
  '$py' -c 'import numpy as np; a, b = np.load(\"$tmp/exr-up-whole/f1.exr.npy\"), np.load(\"$tmp/exr-up-back/f1.exr.exr.npy\"); assert a.shape == b.shape == (1, 3, 90, 140) and np.linalg.norm(a - b) / np.linalg.norm(a) < 1e-3'"
# ---- end of issue 20 block ----

echo "batch: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
