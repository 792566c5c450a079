#!/usr/bin/env bash
# Enforces the layering written in CMakeLists.txt and worker/engine/CMakeLists.txt:
# which folder may include which, and which folders stay torch-free. Exits 1 naming each violation.
set -u
root=$1
fail=0
# forbid DIR PATTERN WHY: no file directly under DIR (its subfolders are checked on their own
# line) may #include a path matching PATTERN.
forbid() {
  local dir=$1 pattern=$2 why=$3 hits
  hits=$(find "$root/$dir" -maxdepth 1 -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' \) \
           -exec grep -HnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" {} + 2>/dev/null)
  if [ -n "$hits" ]; then echo "layering violation ($why):"; echo "$hits"; fail=1; fi
}
torch='torch/|ATen/|c10/|caffe2/'
forbid common "dispatcher/|worker/|$torch" "common depends on nothing of ours, and not on torch"
forbid dispatcher "worker/|$torch" "dispatcher never includes worker, and is torch-free"
forbid worker "dispatcher/|worker/engine/|$torch" "the supervisor is torch-free and never includes dispatcher"
forbid worker/media "dispatcher/|worker/engine/|$torch" "the MP4 output is torch-free (it runs in the supervisor)"
forbid worker/cache "dispatcher/|worker/engine/|$torch" "the embedding cache is torch-free (it runs in the supervisor)"
forbid worker/metrics "dispatcher/|worker/engine/|$torch" "prometheus-cpp cannot share a process with libtorch"
forbid worker/engine/io "dispatcher/|worker/engine/(runtime|layers|text|ltx2|encode|app)/" "io is the lowest engine layer"
forbid worker/engine/runtime "dispatcher/|worker/engine/(layers|text|ltx2|encode|app)/" "runtime sits below the models"
forbid worker/engine/layers "dispatcher/|worker/engine/(text|ltx2|encode|app)/" "layers know no model"
forbid worker/engine/text "dispatcher/|worker/engine/(ltx2|encode|app)/" "text models know no pipeline"
forbid worker/engine/ltx2 "dispatcher/|worker/engine/(encode|app)/" "model families know no serving"
forbid worker/engine/encode "dispatcher/|worker/engine/(ltx2|app)/" "encode sits below app"
forbid worker/engine/app "dispatcher/" "the engine never includes the dispatcher"
exit $fail
