#!/usr/bin/env bash
# A real Slurm array job of onnx-run batch mode: installs slurm-wlm and munge when missing,
# starts munged, slurmctld and slurmd on this host (state in a temporary folder), submits
# examples/slurm/onnx-run-array.sbatch as a 4-task array over generated images, and checks
# that every output exists exactly once and equals a single-process run. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/.build/release/onnx-run
py=$PWD/.testdata/venv/bin/python
[ "$(id -u)" = 0 ] || { echo "test-slurm: needs root (it starts munged and the Slurm daemons)"; exit 1; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "test-slurm: installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

tmp=$(mktemp -d /tmp/vonnx-slurm.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$tmp/munged.pid" ] && kill "$(cat "$tmp/munged.pid")" 2>/dev/null || true
  sleep 1
  rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "test-slurm: $*"; }
dump() { for f in "$tmp"/*.log; do echo "== $f"; tail -20 "$f"; done; }
# wait_for SECONDS COMMAND...: retries the command once a second.
wait_for() { local t=$1; shift; for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done; return 1; }

# munge: a fresh key and socket in the temporary folder.
mkdir -p "$tmp/munge" && chmod 700 "$tmp/munge"
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none && chmod 400 "$tmp/munge/munge.key"
munged --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/socket" \
  --pid-file="$tmp/munged.pid" --log-file="$tmp/munged.log" --seed-file="$tmp/munge/seed"
export MUNGE_SOCKET=$tmp/munge/socket

host=$(hostname -s)
cpus=$(nproc)
mkdir -p "$tmp/state" "$tmp/spool"
cat > "$tmp/slurm.conf" <<CONF
ClusterName=vonnxtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$tmp/slurm.conf
slurmctld -D -i >"$tmp/slurmctld.out.log" 2>&1 & pids+=($!)
slurmd -D >"$tmp/slurmd.out.log" 2>&1 & pids+=($!)
if ! wait_for 60 bash -c "sinfo -h -o %t | grep -qE '^(idle|mix|alloc)'"; then
  log "the Slurm node did not come up"; sinfo || true; dump; exit 1
fi
log "slurm is up: $(sinfo -h -o '%P %t %c')"

"$py" scripts/make-batch-fixtures.py "$tmp/fx" 40
args="--resize 16 --crop 16 --batch-size 2"
"$bin" "$tmp/fx/classifier.onnx" --threads 1 --batch-input "$tmp/fx/items" --output-dir "$tmp/single" $args 2>/dev/null

export MODEL=$tmp/fx/classifier.onnx INPUT=$tmp/fx/items OUTPUT=$tmp/array ONNX_RUN=$bin ONNX_RUN_ARGS=$args
if ! timeout 600 sbatch --wait --array=0-3 --output="$tmp/task-%a.log" --chdir="$tmp" examples/slurm/onnx-run-array.sbatch; then
  log "the array job failed"; dump; cat "$tmp"/task-*.log; exit 1
fi

outputs() { (cd "$1" && find . -type f -name '*.npy' | sort); }
fail=0
for i in 0 1 2 3; do
  [ -f "$tmp/array/summary.shard-$i-of-4.json" ] || { log "task $i wrote no summary"; fail=1; }
done
total=$(find "$tmp/fx/items" -type f | wc -l)
sum=$(cat "$tmp"/array/summary.shard-*.json | grep -o '"succeeded":[0-9]*' | cut -d: -f2 | awk "{s+=\$1} END {print s}")
[ "$sum" = "$total" ] || { log "tasks wrote $sum outputs in all, want each of $total exactly once"; fail=1; }
diff <(outputs "$tmp/single") <(outputs "$tmp/array") || { log "the array's outputs differ from a single run's"; fail=1; }
# a task's batches hold other items than the single run's: equal within float rounding
"$py" - "$tmp/single" "$tmp/array" <<'PY' || { log "outputs differ from a single-process run beyond float rounding"; fail=1; }
import glob, sys, numpy as np
single, array = sys.argv[1:]
for p in glob.glob(f"{single}/**/*.npy", recursive=True):
    assert np.allclose(np.load(p), np.load(array + p[len(single):]), rtol=1e-5, atol=1e-6), p
PY
[ "$fail" = 0 ] || { dump; cat "$tmp"/task-*.log; exit 1; }
log "4-task array: $total outputs, each once, equal to a single-process run within float rounding"
