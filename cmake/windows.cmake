# The Windows build, included from CMakeLists.txt when cross-compiling with
# cmake/mingw-w64-x86_64.cmake. One statically linked iocomp.exe: no DLL beside it.
#
# fmt and CLI11 come from the build machine's headers (Debian libfmt-dev, libcli11-dev), used
# header-only (FMT_HEADER_ONLY): the mingw-w64 compiler has no library of either. No liburing
# (the IOCP backend replaces io_uring) and no libcrypt (--auth-file is refused on Windows).
set(IOCOMP_HOST_INCLUDE /usr/include CACHE PATH "Where the fmt/ and CLI/ headers are")
foreach(header fmt/format.h CLI/CLI.hpp)
  if(NOT EXISTS ${IOCOMP_HOST_INCLUDE}/${header})
    message(FATAL_ERROR "${IOCOMP_HOST_INCLUDE}/${header} not found: install libfmt-dev and "
                        "libcli11-dev (scripts/install-deps.sh build)")
  endif()
endforeach()
# Only those two directories: the rest of /usr/include is glibc's and must stay out of sight.
set(third_party ${CMAKE_BINARY_DIR}/third-party-include)
file(MAKE_DIRECTORY ${third_party})
foreach(dir fmt CLI)
  file(CREATE_LINK ${IOCOMP_HOST_INCLUDE}/${dir} ${third_party}/${dir} SYMBOLIC)
endforeach()

add_compile_definitions(
  FMT_HEADER_ONLY
  _WIN32_WINNT=0x0A00            # Windows 10 and later
  WIN32_LEAN_AND_MEAN NOMINMAX
  _POSIX_THREAD_SAFE_FUNCTIONS   # gmtime_r from mingw-w64's time.h
  IOCOMP_VERSION="${PROJECT_VERSION}")
include_directories(src)
include_directories(SYSTEM ${third_party})
add_link_options(-static)

# Pure code, the same files as on Linux.
file(GLOB pure_sources CONFIGURE_DEPENDS src/protocol/*.cpp src/http/*.cpp)
add_library(iocomp_pure STATIC ${pure_sources} src/log/escape.cpp src/log/access_log.cpp
                               src/fs/windows_path.cpp src/server/admin_endpoint.cpp)

# The portable core and sessions, with the Windows files for what is platform-bound: the file
# root (CreateFileW, final-path confinement), directory listings, the listener.
add_library(iocomp_core STATIC
  src/core/admission.cpp
  src/core/loop_worker.cpp
  src/core/socket_address.cpp
  src/fs/file_root_common.cpp
  src/fs/file_root_windows.cpp
  src/fs/directory_reader_windows.cpp
  src/fs/open_file_cache.cpp
  src/log/event_log.cpp
  src/log/log_sink.cpp
  src/metrics/metrics.cpp
  src/server/session.cpp
  src/server/http_responder.cpp
  src/server/listing_body.cpp
  src/platform/windows/authenticator_windows.cpp
  src/platform/windows/listener_windows.cpp
  src/platform/windows/text.cpp
)
target_link_libraries(iocomp_core PUBLIC iocomp_pure ws2_32 ntdll)

# The completion model on I/O completion ports.
add_library(iocomp_iocp STATIC
  src/backends/iocp/iocp_acceptor.cpp
  src/backends/iocp/iocp_backend.cpp
  src/backends/iocp/iocp_connection.cpp
  src/backends/iocp/iocp_worker.cpp
)
target_link_libraries(iocomp_iocp PUBLIC iocomp_core)

add_executable(iocomp
  src/main.cpp
  src/platform/windows/server_windows.cpp
  src/platform/windows/backend_factory_windows.cpp
)
target_link_libraries(iocomp PRIVATE iocomp_iocp)

if(IOCOMP_TESTS)
  enable_testing()
  include(tests/windows.cmake)
endif()
