# ff_dispatcher_metrics: the dispatcher's /metrics (dispatcher/metrics.hpp).
# Own library so tests/worker/metrics can check ops/ names against it without the whole dispatcher.
add_library(ff_dispatcher_metrics STATIC ${CMAKE_CURRENT_LIST_DIR}/metrics.cpp)
target_include_directories(ff_dispatcher_metrics PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(ff_dispatcher_metrics PUBLIC ff_common PkgConfig::PQXX prometheus-cpp::pull cppzmq)
target_compile_definitions(ff_dispatcher_metrics PUBLIC PQXX_HAVE_OPTIONAL=1)
if(TARGET ff_dispatcher)
  target_link_libraries(ff_dispatcher PUBLIC ff_dispatcher_metrics)
endif()
