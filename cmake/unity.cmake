# Unity builds: every target compiles its sources in batches of FRAMEFARM_UNITY_BATCH files per
# translation unit. Most of a file's compile time here is its headers, not its code: libtorch's
# precompiled header costs ~1.5 s to load per translation unit, and libpqxx, cppzmq, msgpack,
# nlohmann/json and CLI11 are parsed and their templates instantiated once per file. Measured (CPU
# s, -O2): eight worker/engine/ltx2 files 23.0 -> 4.7 as one batch; ff_dispatcher's 17 files 69 -> 26.
# Touching one file recompiles its batch (~5 s for an engine batch).
# Contract for the code: the files of one target share a translation unit, so names in anonymous
# namespaces (and file-level `using`) must not collide across them; what several files need lives
# in one shared header. -DFRAMEFARM_UNITY=OFF compiles file by file.
option(FRAMEFARM_UNITY "Compile every target as unity batches (faster builds)" ON)
set(FRAMEFARM_UNITY_BATCH 8 CACHE STRING "Source files per unity batch")
set(CMAKE_UNITY_BUILD ${FRAMEFARM_UNITY})
set(CMAKE_UNITY_BUILD_BATCH_SIZE ${FRAMEFARM_UNITY_BATCH})
