#!/usr/bin/env bash
# One call on the GPU host: README "On a GPU node" as an operator runs it. Logs go to $OUT.
#   Device command (repo root, .airgap carried, after bench/gpu/stage_ffmpeg.sh staged FFmpeg):
#     bash bench/gpu/gpunode_run.sh
# 1. ops/install-deps --gpu refuses a LIBTORCH_DIR without CUDA (the message);
# 2. ops/quickstart --device cuda: install-deps --gpu builds build-gpu/ against python3's CUDA torch
#    (FF_SKIP_INSTALL=1: the host has no registry; .airgap/env.sh provides Debian's libraries), then
#    one tiny LTX-2.3 job on cuda:0 through dispatcher + worker + engine to an MP4;
# 3. cmake --install to a staging prefix; the installed worker checks the tiny model with the
#    installed engine (RPATH to the pip torch) and prints its --help.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source .airgap/env.sh
out=${OUT:-/tmp/ff-out}
mkdir -p "$out"
t0=$SECONDS
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch; print("python3 torch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())'
pg_start >/dev/null 2>&1 || { echo "pg_start failed"; tail -5 /tmp/pg.log; }
echo "== 1. install-deps --gpu with a CPU-only LIBTORCH_DIR"
mkdir -p /tmp/cpu-libtorch/share/cmake/Torch /tmp/cpu-libtorch/lib && touch /tmp/cpu-libtorch/share/cmake/Torch/TorchConfig.cmake
LIBTORCH_DIR=/tmp/cpu-libtorch FF_SKIP_INSTALL=1 ops/install-deps --gpu; echo "rc=$? (want 1)"
echo "== 2. quickstart --device cuda"
# promtool and prometheus (configure-time finds for tests/worker/metrics, tests/observability) are not on this host.
FF_CMAKE_ARGS="-DFF_PROMTOOL=/bin/true -DFF_PROMETHEUS=/bin/true" FF_SKIP_INSTALL=1 timeout 520 ops/quickstart --device cuda \
  --database "postgresql://postgres@127.0.0.1:${PGPORT:-5432}/postgres" >"$out/quickstart.log" 2>&1
rc=$?
echo "quickstart rc=$rc after $((SECONDS - t0)) s"
grep -E "^==>|framefarm:|ops/install-deps|result:|\"state\"|error|Error" "$out/quickstart.log" | tail -30
cp build-gpu/configure.log "$out/configure.log" 2>/dev/null
for f in worker dispatcher check-model; do cp "var/log/$f.log" "$out/$f.log" 2>/dev/null; done
grep -E "device|engine|READY|job .* (succeeded|failed)|ERROR|WARN" var/log/worker.log 2>/dev/null | tail -15
ls -la var/output 2>/dev/null | tail -4
if [ $rc -ne 0 ]; then tail -40 "$out/quickstart.log"; tail -30 var/log/worker.log 2>/dev/null; fi
echo "== 3. cmake --install build-gpu --prefix /tmp/ff-inst"
if cmake --install build-gpu --prefix /tmp/ff-inst >"$out/install.log" 2>&1; then
  ls /tmp/ff-inst/bin /tmp/ff-inst/lib/systemd/system
  grep ExecStart /tmp/ff-inst/lib/systemd/system/*.service
  /tmp/ff-inst/bin/framefarm-worker --help | head -2
  /tmp/ff-inst/bin/framefarm-worker check-model --config var/worker.json 2>&1 | tail -3; echo "installed check-model rc=${PIPESTATUS[0]}"
else
  tail -20 "$out/install.log"
fi
echo "total $((SECONDS - t0)) s"
