# `cmake --install` layout (GNUInstallDirs under CMAKE_INSTALL_PREFIX; the Debian packages use /usr):
#   bin/framefarm-dispatcher, bin/framefarm-worker, bin/framefarm-engine (the worker finds the engine
#     next to itself)
#   share/framefarm/schema/NNN_*.sql       (framefarm-dispatcher migrate --schema-dir ...)
#   share/framefarm/examples/              (worker.json, dispatcher.env)
#   share/framefarm/monitoring/            (Prometheus config + alert rules, Grafana dashboard)
#   lib/systemd/system/*.service           (ExecStart and Documentation rewritten to the prefix)
#   share/doc/framefarm-{dispatcher,worker}/  (READMEs)
#   /etc/framefarm/{dispatcher.env,worker.json}: copied from the examples only when missing, and
#     only by a plain install (a package's postinst does it there; see cmake/package.cmake).
# Components: dispatcher, worker (one Debian package each).
include(GNUInstallDirs)
# `cmake --install` and cpack install what is built; they do not build everything first (a GPU
# node builds only the three binaries: ops/install-deps --gpu).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

# Installed binaries find libraries outside the system folders (pip torch's libtorch, a LibTorch
# archive) through the RPATH they were linked with; Debian's own libraries need none.
set_target_properties(framefarm-dispatcher framefarm-worker PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS framefarm-dispatcher RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT dispatcher)
install(TARGETS framefarm-worker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT worker)
if(FRAMEFARM_ENGINE)
  set_target_properties(ff_engine_app PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
  install(TARGETS ff_engine_app RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT worker)
endif()

install(DIRECTORY ${PROJECT_SOURCE_DIR}/schema/ DESTINATION ${CMAKE_INSTALL_DATADIR}/framefarm/schema
        COMPONENT dispatcher FILES_MATCHING PATTERN "*.sql")
install(FILES ${PROJECT_SOURCE_DIR}/ops/config/dispatcher.env
        DESTINATION ${CMAKE_INSTALL_DATADIR}/framefarm/examples COMPONENT dispatcher)
install(FILES ${PROJECT_SOURCE_DIR}/ops/config/worker.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/framefarm/examples COMPONENT worker)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/ops/prometheus ${PROJECT_SOURCE_DIR}/ops/grafana
        DESTINATION ${CMAKE_INSTALL_DATADIR}/framefarm/monitoring COMPONENT dispatcher)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/dispatcher/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/framefarm-dispatcher COMPONENT dispatcher)
install(FILES ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/framefarm-worker COMPONENT worker)
install(FILES ${PROJECT_SOURCE_DIR}/worker/README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/framefarm-worker
        RENAME worker.md COMPONENT worker)
install(FILES ${PROJECT_SOURCE_DIR}/worker/engine/README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/framefarm-worker
        RENAME engine.md COMPONENT worker)

# The units name /usr/bin and /usr/share (the packages' prefix); an install elsewhere gets its own
# paths. Done at install time, where CMAKE_INSTALL_PREFIX is the one in effect (cpack sets it).
# The /etc copies: only when missing, never from a package's staging tree.
foreach(pair "dispatcher;framefarm-dispatcher.service;dispatcher.env;dispatcher.env"
             "worker;framefarm-worker@.service;worker.json;worker.json")
  list(GET pair 0 comp)
  list(GET pair 1 unit)
  list(GET pair 2 example)
  list(GET pair 3 etc_name)
  install(CODE "
    set(_unit \"${PROJECT_SOURCE_DIR}/ops/systemd/${unit}\")
    file(READ \"\${_unit}\" _text)
    string(REPLACE \"/usr/bin/\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\" _text \"\${_text}\")
    string(REPLACE \"/usr/share/\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/\" _text \"\${_text}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/units/${unit}\" \"\${_text}\")
    file(INSTALL \"${PROJECT_BINARY_DIR}/units/${unit}\"
         DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    if(NOT \"\${CMAKE_INSTALL_PREFIX}:\$ENV{DESTDIR}\" MATCHES \"/_CPack_Packages/\" AND NOT EXISTS \"\$ENV{DESTDIR}/etc/framefarm/${etc_name}\")
      file(INSTALL \"${PROJECT_SOURCE_DIR}/ops/config/${example}\" DESTINATION \"/etc/framefarm\"
           RENAME \"${etc_name}\" FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    endif()
  " COMPONENT ${comp})
endforeach()
