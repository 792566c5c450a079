#!/usr/bin/env bash
# One call on the GPU host: build (Release, CUDA libtorch) the stream owner's GPU targets, run the
# gpu-labelled streaming tests and both benchmarks through ops/bench. Logs and JSON go to $OUT.
#   bench/gpu/gpu_host_run.sh [tests] [seed] [encode] [stage]     (default: all four)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source .airgap/env.sh
out=${OUT:-/tmp/ff-out}
mkdir -p "$out"
steps=${*:-tests seed encode stage}
export FF_SKIP_INSTALL=1 FF_BENCH_BUILD_DIR=$root/build-bench
b=$root/build-bench
t0=$SECONDS
# env.sh exports CMAKE_PREFIX_PATH ';'-separated, which the environment variable does not accept
# (':' on Unix): pass it as a cache variable, where ';' separates list items.
# promtool (tests/cache) is not on the GPU host and not needed for these targets.
cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$CMAKE_PREFIX_PATH" -DFF_PROMTOOL=/bin/true >"$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
grep -i "framefarm:" "$out/configure.log"
if ! cmake --build "$b" -j16 --target test_streaming_gpu test_streaming_plan test_text_gpu ff_bench_encode ff_bench_seed_scenario ff_bench_stage_stream \
     >"$out/build.log" 2>&1; then
  grep -E "error|FAILED" -A6 "$out/build.log" | head -120
  exit 1
fi
echo "built in $((SECONDS - t0)) s"
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv
for s in $steps; do
  case $s in
    tests)
      echo "== gpu tests"
      timeout 300 "$b/tests/streaming/test_streaming_gpu" >"$out/gpu_tests.log" 2>&1
      echo "rc=$?"; tail -15 "$out/gpu_tests.log"
      timeout 120 "$b/tests/streaming/test_streaming_plan" 2>&1 | tail -3
      timeout 300 "$b/tests/engine/test_text_gpu" >"$out/text_gpu.log" 2>&1
      echo "text gpu rc=$?"; grep -iE "rel|err|max|status|test cases" "$out/text_gpu.log" | tail -20 ;;
    seed)
      echo "== seed-scenario"
      timeout 400 ops/bench seed-scenario --json "$out/seed_scenario.json" >"$out/seed_scenario.log" 2>&1
      echo "rc=$?"; grep -v "^  " "$out/seed_scenario.log" | tail -45 ;;
    stage)
      echo "== stage-stream"
      timeout 400 ops/bench stage-stream --json "$out/stage_stream.json" >"$out/stage_stream.log" 2>&1
      echo "rc=$?"; grep -v "^  " "$out/stage_stream.log" | tail -45 ;;
    encode)
      echo "== encode"
      timeout 400 ops/bench encode --json "$out/encode.json" >"$out/encode.log" 2>&1
      echo "rc=$?"; grep -v "^  " "$out/encode.log" | tail -45 ;;
  esac
done
echo "total $((SECONDS - t0)) s"
