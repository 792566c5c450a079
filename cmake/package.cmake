# Debian packages (cpack -G DEB, one per component of cmake/install.cmake):
#   framefarm-dispatcher: the dispatcher, the schema, its unit, monitoring files, docs
#   framefarm-worker:     the worker supervisor, the engine, the worker@ unit, docs
# Depends come from dpkg-shlibdeps (libtorch, FFmpeg, ...). The maintainer scripts (cmake/deb/)
# create the system user `framefarm`, copy the example config into /etc/framefarm when missing,
# reload systemd, stop/disable the units on removal, and remove the config on purge.
# Build:  cmake --build build && (cd build && cpack -G DEB)   -> build/framefarm-*.deb
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME framefarm)
set(CPACK_PACKAGE_VERSION "0.1.0")
set(CPACK_PACKAGE_VENDOR "framefarm")
set(CPACK_PACKAGE_CONTACT "framefarm operators <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "render farm for text-to-video models (LTX-2.3)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL dispatcher worker)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENT_DISPATCHER_DESCRIPTION
    "framefarm dispatcher: claims jobs from PostgreSQL and sends them to GPU workers over ZeroMQ")
set(CPACK_COMPONENT_WORKER_DESCRIPTION
    "framefarm worker: one per GPU, runs the libtorch engine, writes MP4 outputs")

foreach(spec "dispatcher;framefarm-dispatcher.service;dispatcher.env;dispatcher.env"
             "worker;framefarm-worker@*.service;worker.json;worker.json")
  list(GET spec 0 comp)
  list(GET spec 1 FF_UNIT_GLOB)
  list(GET spec 2 FF_EXAMPLE)
  list(GET spec 3 FF_ETC_NAME)
  set(FF_PACKAGE framefarm-${comp})
  string(TOUPPER ${comp} COMP)
  set(CPACK_DEBIAN_${COMP}_PACKAGE_NAME ${FF_PACKAGE})
  set(CPACK_DEBIAN_${COMP}_PACKAGE_DEPENDS "passwd")
  set(scripts)
  foreach(s postinst prerm postrm)
    configure_file(${PROJECT_SOURCE_DIR}/cmake/deb/${s}.in ${PROJECT_BINARY_DIR}/deb/${comp}/${s} @ONLY
                   FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                    WORLD_READ WORLD_EXECUTE)
    list(APPEND scripts ${PROJECT_BINARY_DIR}/deb/${comp}/${s})
  endforeach()
  set(CPACK_DEBIAN_${COMP}_PACKAGE_CONTROL_EXTRA "${scripts}")
endforeach()
include(CPack)
