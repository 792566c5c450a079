# ff_worker_cache: the supervisor's embedding cache (RAM LRU + PostgreSQL) and Prometheus metrics.
# Torch-free. Included by worker/CMakeLists.txt (`include(cache.cmake)`) and, when that does not,
# by tests/cache/CMakeLists.txt (guarded by if(NOT TARGET ff_worker_cache)).
# The store talks libpq directly (binary bytea results; libpqxx 6.4 fetches text only).
if(NOT TARGET PkgConfig::LIBPQ)
  pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
endif()
set(_ff_cache_dir ${CMAKE_CURRENT_LIST_DIR})
add_library(ff_worker_cache STATIC
  ${_ff_cache_dir}/embedding_cache.cpp
  ${_ff_cache_dir}/embedding_cache_lru.cpp
  ${_ff_cache_dir}/embedding_cache_pg.cpp
  ${_ff_cache_dir}/embedding_cache_store.cpp
  ${_ff_cache_dir}/embedding_cache_validate.cpp
  ${_ff_cache_dir}/metrics.cpp
)
target_include_directories(ff_worker_cache PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(ff_worker_cache PUBLIC ff_common PkgConfig::LIBPQ prometheus-cpp::pull)
unset(_ff_cache_dir)
