# Declaring tests and benchmarks: one call each (needs cmake/pch.cmake and doctest, deps.cmake).
#
#   ff_test(<name> <tier> SOURCES <src>... [MAIN] [LIBS <lib>...] [DEFINES <def>...]
#           [DEPENDS <target>...] [ENV <VAR=value>...])
#     A doctest executable whose cases ctest runs under the label <tier>: unit (no I/O), pg
#     (throwaway PostgreSQL), e2e (real processes) or gpu (skips without CUDA).
#     MAIN      link doctest's main() (compiled once, see below) instead of a source defining
#               DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN.
#     LIBS      linked PRIVATE, doctest::doctest added.
#     DEFINES   private compile definitions (fixture folders, binaries under test).
#     DEPENDS   targets built before this one (binaries an e2e test starts).
#     ENV       the environment of every case (e.g. OMP_NUM_THREADS=1).
#     Files that include ATen get the libtorch precompiled header (ff_use_pch).
#     In optimised builds the test's own sources compile for compile speed: -O0, or -O1 where the
#     libtorch PCH is used (GCC refuses a PCH built with __OPTIMIZE__ in an -O0 compile). The
#     libraries under test keep the build type's -O2. Measured (CPU s): test_pg_dispatcher.cpp
#     11.4 at -O2, 6.9 at -O1, 4.6 at -O0; test_lora.cpp (with the PCH) 4.0 at -O2, 3.1 at -O1.
#
#   ff_bench(<name> SOURCES <src>... [LIBS <lib>...] [DEFINES <def>...])
#     A benchmark executable (ops/bench runs it), with its precompiled header.

# doctest's main(), compiled once per ABI rather than once per test executable (the
# implementation is ~3 s of compile each). The torch variant carries libtorch's flags
# (_GLIBCXX_USE_CXX11_ABI may differ from the default in a pip libtorch).
set(_ff_doctest_main_src ${CMAKE_BINARY_DIR}/ff_doctest_main.cpp)
file(CONFIGURE OUTPUT ${_ff_doctest_main_src} CONTENT
     "// doctest's main() for every test executable declared with ff_test(... MAIN) (cmake/testing.cmake).\n#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN\n#include <doctest/doctest.h>\n")
# Test code's optimisation in the optimised configurations (see ff_test).
set(_ff_test_configs "$<CONFIG:Release,RelWithDebInfo,MinSizeRel>")
add_library(ff_doctest_main OBJECT ${_ff_doctest_main_src})
target_link_libraries(ff_doctest_main PRIVATE doctest::doctest)
target_compile_options(ff_doctest_main PRIVATE "$<${_ff_test_configs}:-O0>")
if(FRAMEFARM_ENGINE)
  add_library(ff_doctest_main_torch OBJECT ${_ff_doctest_main_src})
  target_link_libraries(ff_doctest_main_torch PRIVATE doctest::doctest torch)
  target_compile_options(ff_doctest_main_torch PRIVATE "$<${_ff_test_configs}:-O0>")
endif()

function(ff_test name tier)
  cmake_parse_arguments(PARSE_ARGV 2 arg "MAIN" "" "SOURCES;LIBS;DEFINES;DEPENDS;ENV")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "ff_test(${name}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT tier MATCHES "^(unit|pg|e2e|gpu)$")
    message(FATAL_ERROR "ff_test(${name}): tier '${tier}' is not one of unit, pg, e2e, gpu")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "ff_test(${name}): no SOURCES")
  endif()
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE ${arg_LIBS} doctest::doctest)
  if(arg_DEFINES)
    target_compile_definitions(${name} PRIVATE ${arg_DEFINES})
  endif()
  if(arg_DEPENDS)
    add_dependencies(${name} ${arg_DEPENDS})
  endif()
  _ff_links_torch(${name} torch)
  if(arg_MAIN)
    if(torch AND TARGET ff_doctest_main_torch)
      target_link_libraries(${name} PRIVATE ff_doctest_main_torch)
    else()
      target_link_libraries(${name} PRIVATE ff_doctest_main)
    endif()
  endif()
  ff_use_pch(${name})
  if(torch AND TARGET ff_pch_torch)
    target_compile_options(${name} PRIVATE "$<${_ff_test_configs}:-O1>")
  else()
    target_compile_options(${name} PRIVATE "$<${_ff_test_configs}:-O0>")
  endif()
  set(props LABELS ${tier})
  if(arg_ENV)
    list(APPEND props ENVIRONMENT "${arg_ENV}")
  endif()
  doctest_discover_tests(${name} PROPERTIES ${props})
endfunction()

function(ff_bench name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;LIBS;DEFINES")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_SOURCES)
    message(FATAL_ERROR "ff_bench(${name}): needs SOURCES (got ${ARGN})")
  endif()
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE ${arg_LIBS})
  if(arg_DEFINES)
    target_compile_definitions(${name} PRIVATE ${arg_DEFINES})
  endif()
  ff_use_pch(${name})
endfunction()
