#!/usr/bin/env bash
# Installs the Debian packages iocomp needs that are missing. Usage: install-deps.sh [build|test|bench]
#   build: compiler, CMake, liburing, libcrypt, OpenSSL 3, CLI11, fmt (enough to build and serve), help2man
#          (the man page)
#   test:  build + GoogleTest, clang/libFuzzer, nc, curl, wget, aria2, python3, media-types,
#          htpasswd and mkpasswd (password hashes for the authentication tests), chromium
#          (a real browser for test_browser), dpkg-dev (dpkg-shlibdeps for cpack -G DEB),
#          systemd and man-db (systemd-analyze verify, systemd-socket-activate) and strace
#          (test_packaging, test_socket_activation), openssl and testssl.sh (test_tls),
#          haproxy (a real balancer for test_proxy_protocol),
#          mingw-w64 (g++ -posix) and wine64 (iocomp.exe, cross-built and tested under Wine)
#   bench: test + nginx, lighttpd, wrk
set -euo pipefail
profile=${1:-build}
packages=(build-essential cmake pkg-config liburing-dev libcrypt-dev libssl-dev libcli11-dev libfmt-dev media-types
          help2man)
if [[ $profile == test || $profile == bench ]]; then
  packages+=(libgtest-dev clang clang-format libclang-rt-14-dev netcat-openbsd curl wget aria2 python3 procps
             iproute2 apache2-utils whois chromium dpkg-dev systemd man-db strace
             haproxy mingw-w64 g++-mingw-w64-x86-64-posix wine64
             openssl testssl.sh)
fi
if [[ $profile == bench ]]; then
  packages+=(nginx-light lighttpd wrk gnuplot-nox)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
