# Every external dependency is found here, once (names measured in ../shared/TOOLCHAIN.md).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(cppzmq REQUIRED)
find_package(msgpack REQUIRED)               # msgpack-c 4.1: target msgpackc-cxx
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
# Bulk bytea in binary format (the embedding cache): libpqxx 6.4 only reads bytea as hex text.
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(SPM REQUIRED IMPORTED_TARGET sentencepiece)
find_package(prometheus-cpp CONFIG REQUIRED)
# The supervisor's MP4 output (worker/media): FFmpeg 5.1's libraries and libpng (Debian 12).
pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libswresample libavutil)
pkg_check_modules(LIBPNG REQUIRED IMPORTED_TARGET libpng)
# JSON (configs, metadata, the wire's JSON fields) and command lines: Debian 12's header-only libraries.
find_package(nlohmann_json 3.11 REQUIRED)  # target nlohmann_json::nlohmann_json
find_package(CLI11 2.1 CONFIG REQUIRED)    # target CLI11::CLI11
find_package(doctest REQUIRED)
include(doctest)

if(FRAMEFARM_ENGINE)
  find_package(Torch REQUIRED)
  # CUDA-only code is compiled only when the libtorch has CUDA (pip torch); Debian's is CPU-only.
  if(TARGET torch_cuda)
    set(FRAMEFARM_CUDA ON)
  else()
    set(FRAMEFARM_CUDA OFF)
  endif()
  message(STATUS "framefarm: libtorch CUDA support: ${FRAMEFARM_CUDA}")
endif()
