# systemd readiness (common/sd_notify.hpp): the notify protocol is one datagram, written without
# libsystemd. Included from the top-level CMakeLists.txt after the component folders, so it can
# link into their targets.
add_library(ff_sd_notify STATIC ${PROJECT_SOURCE_DIR}/common/sd_notify.cpp)
target_include_directories(ff_sd_notify PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(ff_worker PUBLIC ff_sd_notify)
target_link_libraries(ff_dispatcher PUBLIC ff_sd_notify)
