# The precompiled header of libtorch: compiled once (ff_pch_torch) and reused (REUSE_FROM) by every
# target that links libtorch: engine libraries, tests, benches. <ATen/ATen.h> costs ~6 s of CPU to
# parse per file; with the PCH a file pays ~1 s to load it (measured at -O2 -g0: av_block.cpp
# 8.0 -> 2.9 s). A file that does not include ATen would pay that second for nothing
# (vocoder_config.cpp 1.2 -> 2.5 s), so ff_use_pch skips the sources whose includes (followed
# through the project's own headers) never reach <ATen/...>, <torch/...> or <c10/...>. The scan
# runs at configure time: a file that starts including ATen builds without the PCH (correct, only
# slower) until the next configure. The scan applies with -DFRAMEFARM_UNITY=OFF only: a unity batch
# loads the PCH once for all its files, so every batch of a torch target gets it.
#
# Why one PCH target: GCC loads a PCH only into a compile with the same flags and the same
# definitions of every macro the headers test. ff_pch_torch links torch (-D_GLIBCXX_USE_CXX11_ABI
# and torch's definitions), as its users do. A mismatch is no error: GCC warns (-Winvalid-pch,
# added by CMake) and parses the headers as text, i.e. every file gets slower.
# Headers listed must not be configured by macros defined per target, and doctest may not be
# listed (its implementation switch, DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN, must precede it).
#
# Torch-free files get no PCH: measured, one of std + nlohmann/json + zmq.hpp made common/log.cpp
# slower (1.00 -> 1.17 s): their headers cost about as much to parse as a large PCH to load.

set(_ff_pch_anchor ${CMAKE_BINARY_DIR}/ff_pch_anchor.cpp)
file(CONFIGURE OUTPUT ${_ff_pch_anchor} CONTENT "// The precompiled-header target's only source (cmake/pch.cmake).\n")

if(FRAMEFARM_ENGINE)
  add_library(ff_pch_torch STATIC ${_ff_pch_anchor})
  target_link_libraries(ff_pch_torch PRIVATE torch nlohmann_json::nlohmann_json)
  target_precompile_headers(ff_pch_torch PRIVATE <ATen/ATen.h>
    <algorithm> <chrono> <cstdint> <filesystem> <fstream> <functional> <map> <memory> <mutex>
    <optional> <sstream> <stdexcept> <string> <string_view> <thread> <unordered_map> <utility>
    <variant> <vector> <nlohmann/json.hpp>)
endif()

# True in ${out} when ${target} links libtorch, directly or through any library it links.
function(_ff_links_torch target out)
  set(pending ${target})
  set(seen)
  while(pending)
    list(POP_FRONT pending t)
    if(t IN_LIST seen OR NOT TARGET ${t})
      continue()
    endif()
    list(APPEND seen ${t})
    if(t STREQUAL "torch")
      set(${out} TRUE PARENT_SCOPE)
      return()
    endif()
    get_target_property(type ${t} TYPE)
    get_target_property(iface ${t} INTERFACE_LINK_LIBRARIES)
    set(libs)
    if(iface)
      list(APPEND libs ${iface})
    endif()
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(direct ${t} LINK_LIBRARIES)
      if(direct)
        list(APPEND libs ${direct})
      endif()
    endif()
    foreach(l IN LISTS libs)
      # PRIVATE deps of static libraries appear as $<LINK_ONLY:x>.
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" l "${l}")
      list(APPEND pending ${l})
    endforeach()
  endwhile()
  set(${out} FALSE PARENT_SCOPE)
endfunction()

# True in ${out} when ${file} includes <ATen/...>, <torch/...> or <c10/...>, directly or through
# the project's headers ("dir/x.hpp" from the source root or beside the including file). Answers
# are kept per file for the whole configure run.
function(_ff_includes_torch file out)
  get_property(known GLOBAL PROPERTY "_ff_torch:${file}" SET)
  if(known)
    get_property(v GLOBAL PROPERTY "_ff_torch:${file}")
    set(${out} ${v} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY "_ff_torch:${file}" FALSE)  # include cycles end here
  set(result FALSE)
  if(EXISTS ${file})
    file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include")
    get_filename_component(dir ${file} DIRECTORY)
    foreach(line IN LISTS lines)
      if(line MATCHES "<(ATen|torch|c10)/")
        set(result TRUE)
        break()
      elseif(line MATCHES "\"([^\"]+)\"")
        set(h ${CMAKE_MATCH_1})
        foreach(cand ${PROJECT_SOURCE_DIR}/${h} ${dir}/${h})
          if(EXISTS ${cand} AND NOT IS_DIRECTORY ${cand})
            _ff_includes_torch(${cand} sub)
            if(sub)
              set(result TRUE)
              break()
            endif()
          endif()
        endforeach()
        if(result)
          break()
        endif()
      endif()
    endforeach()
  endif()
  set_property(GLOBAL PROPERTY "_ff_torch:${file}" ${result})
  set(${out} ${result} PARENT_SCOPE)
endfunction()

# ff_use_pch(<target>): when the target links libtorch, its sources that include ATen get
# ff_pch_torch; the others, and torch-free targets, none. With unity builds (cmake/unity.cmake)
# every batch of a torch target gets it. Call it after the target's target_link_libraries (and
# after any target_sources).
function(ff_use_pch target)
  if(NOT TARGET ff_pch_torch)
    return()
  endif()
  _ff_links_torch(${target} torch)
  if(NOT torch)
    return()
  endif()
  target_precompile_headers(${target} REUSE_FROM ff_pch_torch)
  if(CMAKE_UNITY_BUILD)
    return()  # a unity batch loads the header once for all its files (cmake/unity.cmake)
  endif()
  get_target_property(srcs ${target} SOURCES)
  get_target_property(srcdir ${target} SOURCE_DIR)
  foreach(src IN LISTS srcs)
    if(src MATCHES "^\\$<")
      continue()
    endif()
    if(IS_ABSOLUTE ${src})
      set(path ${src})
    else()
      set(path ${srcdir}/${src})
    endif()
    _ff_includes_torch(${path} uses)
    if(NOT uses)
      set_source_files_properties(${src} TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()
