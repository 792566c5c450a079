#!/usr/bin/env bash
# One call on the GPU host for `ops/bench ltx23`: configure (Release, CUDA libtorch), build only
# ff_bench_ltx23 (-j16), run it (it runs bench/gpu/ltx23_reference.py first, in the same call).
# Log and JSON go to $OUT.   Device command: bash -c 'source .airgap/env.sh && bench/gpu/ltx23_gpu_run.sh'
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source .airgap/env.sh
out=${OUT:-/tmp/ff-out}
mkdir -p "$out"
b=$root/build-bench
t0=$SECONDS
# worker/media (not built here) needs FFmpeg/libpng pkg-config files to configure. Where the GPU
# image lacks them (or has them only outside env.sh's pkg-config sysroot), empty stand-ins let
# configure pass; no target this script builds links them.
stub=/tmp/ff-pc-stubs
mkdir -p $stub
for m in libavformat libavcodec libswresample libavutil libpng; do
  inc=$(pkg-config --variable=includedir $m 2>/dev/null)
  if [ -z "$inc" ] || [ ! -d "${PKG_CONFIG_SYSROOT_DIR:-}$inc" ]; then
    printf 'Name: %s\nDescription: configure-only stand-in\nVersion: 0\nLibs:\nCflags:\n' $m >$stub/$m.pc
  fi
done
export PKG_CONFIG_PATH=$stub${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
echo "pkg-config stand-ins: $(ls $stub | tr '\n' ' ')"
rm -f "$b/CMakeCache.txt"  # pkg-config results are cached: re-check them every time
cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH//:/;}" \
  -DFF_PROMTOOL=/bin/true >"$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
grep -i "framefarm:" "$out/configure.log"
if ! cmake --build "$b" -j16 --target ff_bench_ltx23 >"$out/build.log" 2>&1; then
  grep -E "error|FAILED" -A6 "$out/build.log" | head -80
  exit 1
fi
echo "built in $((SECONDS - t0)) s"
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv
export FF_SKIP_INSTALL=1 FF_BENCH_BUILD_DIR=$b PYTHONUNBUFFERED=1
timeout ${FF_LTX23_TIMEOUT:-420} ops/bench ltx23 --json "$out/ltx23.json" "$@" 2>&1 | tee "$out/ltx23.log"
rc=${PIPESTATUS[0]}
echo "rc=$rc total $((SECONDS - t0)) s"
exit $rc
