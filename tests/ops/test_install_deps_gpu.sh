#!/usr/bin/env bash
# unit: ops/install-deps --gpu refuses, with a message naming what is missing, when there is no CUDA
# libtorch: nothing importable, a CPU-only torch, a LIBTORCH_DIR that is not a LibTorch or has no
# CUDA; and that it gets past the libtorch search with a CUDA torch (stopping at nvcc here). python3
# is replaced by a stub on PATH; FF_SKIP_INSTALL=1 keeps apt out of it.
# usage: test_install_deps_gpu.sh SOURCE_DIR
set -u
src=$1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
mkdir -p "$tmp/bin"
cat >"$tmp/bin/python3" <<'PY'
#!/bin/sh
case "$FAKE_TORCH" in
  none) echo "ModuleNotFoundError: No module named 'torch'" >&2; exit 1 ;;
  cpu) printf '/fake/torch/share/cmake\n2.11.0+cpu\n\n' ;;
  cuda) printf '/fake/torch/share/cmake\n2.11.0+cu130\n13.0\n' ;;
esac
PY
chmod +x "$tmp/bin/python3"
# expect NAME EXIT_STATUS MESSAGE_PART ENV...: runs install-deps --gpu with ENV, checks both.
expect() {
  local name=$1 want_rc=$2 want_msg=$3; shift 3
  local out rc
  out=$(env -u LIBTORCH_DIR FF_SKIP_INSTALL=1 PATH="$tmp/bin:/usr/bin:/bin" FF_BUILD_DIR="$tmp/build" "$@" \
        "$src/ops/install-deps" --gpu 2>&1); rc=$?
  if [ $rc -ne "$want_rc" ] || ! grep -qF -- "$want_msg" <<<"$out"; then
    echo "FAIL $name: exit $rc (want $want_rc), output:"; echo "$out"; fail=1
  fi
}
expect "no torch" 1 "no CUDA libtorch found: set LIBTORCH_DIR" FAKE_TORCH=none
expect "cpu torch" 1 "python3's torch 2.11.0+cpu is CPU-only" FAKE_TORCH=cpu
expect "LIBTORCH_DIR not a libtorch" 1 "has no share/cmake/Torch/TorchConfig.cmake" FAKE_TORCH=cuda LIBTORCH_DIR="$tmp"
mkdir -p "$tmp/lt/share/cmake/Torch" "$tmp/lt/lib" && touch "$tmp/lt/share/cmake/Torch/TorchConfig.cmake"
expect "LIBTORCH_DIR cpu" 1 "is a CPU-only LibTorch (no lib/libtorch_cuda.so)" FAKE_TORCH=none LIBTORCH_DIR="$tmp/lt"
# Past the search: a CUDA torch is accepted (then, with no nvcc on this PATH, the toolkit is named).
if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  expect "cuda torch, no nvcc" 1 "no CUDA compiler (nvcc)" FAKE_TORCH=cuda
  touch "$tmp/lt/lib/libtorch_cuda.so"
  expect "LIBTORCH_DIR cuda, no nvcc" 1 "libtorch from LIBTORCH_DIR=$tmp/lt" FAKE_TORCH=none LIBTORCH_DIR="$tmp/lt"
fi
[ $fail -eq 0 ] && echo "install-deps --gpu refusals: ok"
exit $fail
