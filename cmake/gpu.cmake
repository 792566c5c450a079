# The configure step says which libtorch it found and whether it has CUDA (deps.cmake finds it);
# FRAMEFARM_REQUIRE_CUDA (ops/install-deps --gpu) turns a CPU-only libtorch into an error.
option(FRAMEFARM_REQUIRE_CUDA "Fail the configure step unless libtorch has CUDA" OFF)
if(FRAMEFARM_ENGINE)
  message(STATUS "framefarm: libtorch ${Torch_VERSION} (${TORCH_INSTALL_PREFIX}), CUDA: ${FRAMEFARM_CUDA}")
  if(FRAMEFARM_REQUIRE_CUDA AND NOT FRAMEFARM_CUDA)
    message(FATAL_ERROR "framefarm: FRAMEFARM_REQUIRE_CUDA is on but the libtorch found (${TORCH_INSTALL_PREFIX}) "
                        "has no CUDA (no torch_cuda target): point CMAKE_PREFIX_PATH or LIBTORCH_DIR at a CUDA build")
  endif()
elseif(FRAMEFARM_REQUIRE_CUDA)
  message(FATAL_ERROR "framefarm: FRAMEFARM_REQUIRE_CUDA needs FRAMEFARM_ENGINE=ON")
endif()
