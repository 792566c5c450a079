#!/usr/bin/env bash
# One call on the GPU host: build (Release, CUDA libtorch) the GPU tests, the LTX-2.3 parity and
# engine unit tests (libtorch 2.x kernels) and the benchmarks, run the chosen steps. Logs and JSON
# go to $OUT.  Device command: bash -c 'source .airgap/env.sh && bench/gpu/gpu_host_run.sh [steps]'
#   steps: tests encode ltx23 ltx23job decode     (default: tests encode ltx23)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source .airgap/env.sh
out=${OUT:-/tmp/ff-out}
mkdir -p "$out"
steps=${*:-tests encode ltx23}
export FF_SKIP_INSTALL=1 FF_BENCH_BUILD_DIR=$root/build-bench PYTHONUNBUFFERED=1
b=$root/build-bench
t0=$SECONDS
# .airgap/env.sh unpacks its debs once per machine; debs staged after that (FFmpeg by
# bench/gpu/stage_ffmpeg.sh) are unpacked here on a machine that has not seen them yet.
for f in .airgap/debs/*.deb; do
  m=/opt/deps/.unpacked-$(basename "$f")
  if [ "$f" -nt /opt/deps/.done ] && [ ! -e "$m" ]; then dpkg -x "$f" /opt/deps && touch "$m"; fi
done
# worker/media (not built here) needs FFmpeg/libpng pkg-config files to configure. Where the GPU
# image lacks them, empty stand-ins let configure pass; no target built here links them.
stub=/tmp/ff-pc-stubs
rm -rf $stub && mkdir -p $stub  # stand-ins of an earlier call on a warm machine would shadow real files
for m in libavformat libavcodec libswresample libavutil libpng; do
  inc=$(pkg-config --variable=includedir $m 2>/dev/null)
  # (pkgconf may or may not prefix the sysroot to the variable: accept either form)
  if [ -z "$inc" ] || { [ ! -d "${PKG_CONFIG_SYSROOT_DIR:-}$inc" ] && [ ! -d "$inc" ]; }; then
    printf 'Name: %s\nDescription: configure-only stand-in\nVersion: 0\nLibs:\nCflags:\n' $m >$stub/$m.pc
  fi
done
export PKG_CONFIG_PATH=$stub${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
echo "FFmpeg for configure: libavformat $(pkg-config --modversion libavformat 2>/dev/null || echo none) (0 = stand-in)"
rm -f "$b/CMakeCache.txt"  # pkg-config results are cached: re-check them every time
# promtool (tests/worker/metrics) is not on the GPU host and not needed for these targets.
cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH//:/;}" \
  -DFF_PROMTOOL=/bin/true -DFF_PROMETHEUS=/bin/true >"$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
grep -i "framefarm:" "$out/configure.log"
ltx2_tests="test_ltx2_unit test_app_unit"
targets=""
for s in $steps; do
  case $s in
    tests) targets="$targets test_streaming_gpu test_runtime_unit test_text_gpu $ltx2_tests" ;;
    encode) targets="$targets ff_bench_encode" ;;
    ltx23) targets="$targets ff_bench_ltx23" ;;
    ltx23job) targets="$targets ff_bench_ltx23_job" ;;
    decode) targets="$targets ff_bench_decode" ;;
  esac
done
if ! cmake --build "$b" -j16 --target $targets >"$out/build.log" 2>&1; then
  grep -E "error|FAILED" -A6 "$out/build.log" | head -120
  exit 1
fi
echo "built in $((SECONDS - t0)) s"
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv
for s in $steps; do
  case $s in
    tests)
      echo "== gpu tests"
      timeout 300 "$b/tests/worker/engine/encode/test_streaming_gpu" >"$out/gpu_tests.log" 2>&1
      echo "rc=$?"; tail -3 "$out/gpu_tests.log"
      timeout 120 "$b/tests/worker/engine/runtime/test_runtime_unit" 2>&1 | tail -2
      timeout 300 "$b/tests/worker/engine/text/test_text_gpu" >"$out/text_gpu.log" 2>&1
      echo "text gpu rc=$?"; tail -3 "$out/text_gpu.log"
      echo "== LTX-2.3 parity and engine unit tests on libtorch 2.x (CPU tensors)"
      for t in $ltx2_tests; do
        exe=$(find "$b/tests" -name "$t" -type f | head -1)
        (cd "$root" && OMP_NUM_THREADS=4 timeout 300 "$exe" >"$out/$t.log" 2>&1)
        echo "$t rc=$? $(grep -E '^\[doctest\] (test cases|assertions)' "$out/$t.log" | tr '\n' ' ')"
      done ;;
    encode)
      echo "== encode"
      timeout 400 ops/bench encode --json "$out/encode.json" >"$out/encode.log" 2>&1
      echo "rc=$?"; grep -v "^  " "$out/encode.log" | tail -45 ;;
    ltx23)
      echo "== ltx23"
      timeout ${FF_LTX23_TIMEOUT:-420} ops/bench ltx23 --json "$out/ltx23.json" >"$out/ltx23.log" 2>&1
      echo "rc=$?"; grep -v "^  " "$out/ltx23.log" | tail -45 ;;
    ltx23job)
      echo "== ltx23-job (whole jobs; ltx-pipelines first, in its own process)"
      timeout ${FF_LTX23_JOB_TIMEOUT:-470} ops/bench ltx23-job --json "$out/ltx23_job.json" ${FF_LTX23_JOB_ARGS:-} \
        >"$out/ltx23_job.log" 2>&1
      echo "rc=$?"; grep -v "^  " "$out/ltx23_job.log" | grep -v "^\[ *[0-9.]* s\] reference:   denoising" | tail -90 ;;
    decode)
      echo "== decode"
      # With FFmpeg (the staged .airgap debs) the mux variant; if it does not build, without the mux.
      name=decode
      if cmake --build "$b" -j16 --target ff_bench_decode_mux >"$out/build_decode_mux.log" 2>&1; then
        name=decode-mux
      else
        echo "ff_bench_decode_mux not built (no FFmpeg here?): $(grep -E 'error|unknown target' "$out/build_decode_mux.log" | head -3)"
      fi
      timeout ${FF_DECODE_TIMEOUT:-330} ops/bench $name --json "$out/decode.json" >"$out/decode.log" 2>&1
      echo "rc=$?"; grep -v "^    " "$out/decode.log" | tail -90 ;;
  esac
done
echo "total $((SECONDS - t0)) s"
