# Installs the systemd units and /etc/default/iocomp; run by `cmake --install` (and by cpack)
# through install(CODE) in dist/CMakeLists.txt, when CMAKE_INSTALL_PREFIX is the prefix really
# installed to and DESTDIR the staging root, if any.
#
# Under /usr, the units go to /lib/systemd/system, where Debian 12 packages ship them, and the
# settings to /etc/default. Under any other prefix, to PREFIX/lib/systemd/system (systemd also
# reads /usr/local/lib/systemd/system) and PREFIX/etc/default.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(unit_dir /lib/systemd/system)
  set(sysconf_dir /etc)
else()
  set(unit_dir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
  set(sysconf_dir ${CMAKE_INSTALL_PREFIX}/etc)
endif()
set(units)
foreach(unit iocomp.service iocomp.socket)
  file(READ ${IOCOMP_DIST_DIR}/${unit} text)
  string(REPLACE "/usr/bin/iocomp" "${CMAKE_INSTALL_PREFIX}/${IOCOMP_BINDIR}/iocomp" text "${text}")
  string(REPLACE "/usr/share/doc/iocomp" "${CMAKE_INSTALL_PREFIX}/${IOCOMP_DOCDIR}" text "${text}")
  string(REPLACE "/etc/default/iocomp" "${sysconf_dir}/default/iocomp" text "${text}")
  file(WRITE ${IOCOMP_STAGING_DIR}/${unit} "${text}")
  list(APPEND units ${IOCOMP_STAGING_DIR}/${unit})
endforeach()
file(INSTALL DESTINATION "${unit_dir}" TYPE FILE FILES ${units})
# An existing settings file is the operator's: `cmake --install` does not overwrite it.
if(NOT EXISTS "$ENV{DESTDIR}${sysconf_dir}/default/iocomp")
  file(INSTALL DESTINATION "${sysconf_dir}/default" TYPE FILE RENAME iocomp
       FILES ${IOCOMP_DIST_DIR}/iocomp.default)
endif()
# logrotate's configuration for the access log, also the operator's once installed.
if(NOT EXISTS "$ENV{DESTDIR}${sysconf_dir}/logrotate.d/iocomp")
  file(INSTALL DESTINATION "${sysconf_dir}/logrotate.d" TYPE FILE RENAME iocomp
       FILES ${IOCOMP_DIST_DIR}/iocomp.logrotate)
endif()
