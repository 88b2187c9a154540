# Integration tests of iocomp.exe under Wine (64-bit Wine; the build machine runs no Windows),
# label "windows": the shared suites that apply to Windows (their Linux-only tests skip with the
# reason), plus test_windows.py for what only Windows has. Run with `ctest -L windows` in the
# build directory (scripts/test.sh does, after the Linux stages).
#
# Wine starts in ~0.1 s once its prefix exists and a wineserver runs: the fixture makes the
# prefix once in the build directory (a few seconds, kept for later runs) and starts a
# persistent wineserver (-p) for the run; the cleanup stops it.
find_program(PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(IOCOMP_WINE64 NAMES wine64 PATHS /usr/lib/wine /usr/bin NO_DEFAULT_PATH)
find_program(IOCOMP_WINESERVER NAMES wineserver PATHS /usr/lib/wine /usr/bin NO_DEFAULT_PATH)
if(NOT IOCOMP_WINE64 OR NOT IOCOMP_WINESERVER)
  message(STATUS "wine64 not found: the windows tests are not registered "
                 "(scripts/install-deps.sh test installs it)")
  return()
endif()
set(prefix ${CMAKE_BINARY_DIR}/wineprefix)

# Wine's daemons (wineserver, the prefix's services) outlive the command: their output goes to
# a file, or ctest would wait for them to close its pipe.
add_test(NAME windows.wine_start
  COMMAND sh -c "mkdir -p '${prefix}' && '${IOCOMP_WINESERVER}' -p </dev/null >/dev/null 2>&1; \
'${IOCOMP_WINE64}' '$<TARGET_FILE:iocomp>' --version </dev/null >'${prefix}/start.log' 2>&1; \
status=$?; cat '${prefix}/start.log'; exit $status")
add_test(NAME windows.wine_stop COMMAND ${IOCOMP_WINESERVER} -k)
set_tests_properties(windows.wine_start PROPERTIES FIXTURES_SETUP wine LABELS windows
  ENVIRONMENT "WINEPREFIX=${prefix};WINEDEBUG=-all" TIMEOUT 300)
set_tests_properties(windows.wine_stop PROPERTIES FIXTURES_CLEANUP wine LABELS windows
  ENVIRONMENT "WINEPREFIX=${prefix}")

set(IOCOMP_WINDOWS_SUITES test_line_protocol test_http_files test_traversal_matrix
                          test_http_connection test_windows)
foreach(name ${IOCOMP_WINDOWS_SUITES})
  add_test(NAME windows.${name}
    COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/${name}.py -v)
  set_tests_properties(windows.${name} PROPERTIES
    ENVIRONMENT "IOCOMP_BINARY=$<TARGET_FILE:iocomp>;IOCOMP_MODEL=completion;IOCOMP_WINE=${IOCOMP_WINE64};WINEPREFIX=${prefix};WINEDEBUG=-all;PYTHONDONTWRITEBYTECODE=1"
    FIXTURES_REQUIRED wine
    LABELS windows
    TIMEOUT 600)
endforeach()
