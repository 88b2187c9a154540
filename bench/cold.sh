#!/usr/bin/env bash
# bench/cold.sh: does a download of a file that is not in the page cache stall the other clients
# of the same worker? One worker (nginx: one process) on CPU 0. A 1 GiB file is evicted from the
# page cache (posix_fadvise DONTNEED) and downloaded by curl while bench/loadgen, one
# keep-alive connection, asks for a 1 KiB file in a loop on the same worker; loadgen's p50/p99/max
# latency is the figure. Servers: iocomp (cold ranges read in asynchronously before sendfile),
# iocomp --no-async-cold-reads (sendfile reads the disk on the worker), nginx (sendfile, no aio),
# nginx with `aio threads` (reads on a thread pool); the same with --model epoll (readahead and a
# look each millisecond); and the big download over TLS (HTTPS: the file is read and encrypted in
# user space, so a cold read is a read(2), not a sendfile) for iocomp and nginx, the 1 KiB
# client staying on plaintext HTTP on the same worker.
#
#   bench/cold.sh [--rounds N] [--size-mib M] [--dir DIR] [--out FILE] [--servers "A B ..."]
#
# DIR (default /var/tmp) must be on a disk, not tmpfs: evicting from tmpfs does nothing. On a
# virtual machine the host may still cache the file: the "disk" is then fast, and the figures
# understate what a real disk would show.
set -uo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
repo=$(dirname "$here")
ROUNDS=3 SIZE_MIB=1024 DIR=/var/tmp
SERVERS="iocomp iocomp-sync nginx nginx-aio-threads iocomp-epoll iocomp-epoll-sync iocomp-tls iocomp-tls-sync nginx-tls nginx-tls-aio-threads"
OUT=${OUT:-$here/results/cold-$(date +%Y%m%d-%H%M%S).tsv}
IOCOMP=${IOCOMP:-$repo/build/iocomp}
while (($#)); do
  case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --size-mib) SIZE_MIB=$2; shift ;;
    --dir) DIR=$2; shift ;;
    --out) OUT=$2; shift ;;
    --servers) SERVERS=$2; shift ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cold.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in nginx curl cc taskset openssl; do
  command -v "$tool" >/dev/null || { echo "cold.sh: needs $tool (scripts/install-deps.sh bench)" >&2; exit 2; }
done
tmp=$(mktemp -d "$DIR/iocomp-cold.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root" "$tmp/nginx" "$(dirname "$OUT")"
head -c 1024 /dev/urandom >"$tmp/root/1k.bin"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$tmp/root/big.bin"
sync
# TLS: the same certificate and cipher for both (P-256, TLS 1.3, AES-128-GCM as in bench/tls.sh).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" \
  -out "$tmp/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
  >/dev/null 2>&1 || exit 2
cc -O2 -pthread -o "$tmp/loadgen" "$here/loadgen.c" || exit 2
bench_nice

evict() {
  /usr/bin/python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fdatasync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$tmp/root/big.bin"
}

nginx_conf() { # port aio-directive tls-port
  nginx_conf_for "        listen 127.0.0.1:$1;
        listen 127.0.0.1:$3 ssl;" "    access_log off;
    $2" "        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;"
}

start_server() { # name port
  local iocomp=(taskset -c 0 "${nice_cmd[@]}" "$IOCOMP" --root "$tmp/root" --listen 127.0.0.1
                --port "$2" --quiet --threads 1 --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem")
  local sync=()
  [[ $1 == *-sync ]] && sync=(--no-async-cold-reads)
  case $1 in
    iocomp-epoll*) "${iocomp[@]}" --model epoll "${sync[@]}" >/dev/null 2>&1 & ;;
    iocomp*) "${iocomp[@]}" "${sync[@]}" >/dev/null 2>&1 & ;;
    nginx*aio-threads) nginx_conf "$2" "aio threads;" $(($2 + 1000)) ;;
    nginx*) nginx_conf "$2" "" $(($2 + 1000)) ;;
  esac
  if [[ $1 == nginx* ]]; then start_nginx; fi
  pid=$!
  wait_serving "$1" "http://127.0.0.1:$2/1k.bin"
}

printf 'round\tserver\tp50_us\tp99_us\tmax_us\trequests\tbig_seconds\n' >"$OUT"
port=19500
for round in $(seq "$ROUNDS"); do
  for server in $SERVERS; do
    port=$((port + 1))
    evict
    start_server "$server" "$port" || continue
    big_url="http://127.0.0.1:$port/big.bin"
    case $server in
      iocomp-tls*) big_url="https://localhost:$port/big.bin" ;;
      nginx-tls*) big_url="https://localhost:$((port + 1000))/big.bin" ;;
    esac
    # Both clients on CPU 1: the server's core is all the server's.
    taskset -c 1 curl -s -o /dev/null -w '%{time_total}' --max-time 60 --cacert "$tmp/cert.pem" \
      "$big_url" >"$tmp/big-time" &
    big=$!
    sleep 0.05
    line=$(taskset -c 1 "$tmp/loadgen" -c 1 -d 3 -n 1k.bin -s 1024 -p "$port" -m http -q 2>/dev/null | tail -1)
    wait "$big"
    big_seconds=$(cat "$tmp/big-time" 2>/dev/null)
    kill -INT "$pid" 2>/dev/null; sleep 0.3; kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    p50=$(sed -n 's/.*lat_p50_us=\([0-9.]*\).*/\1/p' <<<"$line")
    p99=$(sed -n 's/.*lat_p99_us=\([0-9.]*\).*/\1/p' <<<"$line")
    max=$(sed -n 's/.*lat_max_us=\([0-9.]*\).*/\1/p' <<<"$line")
    req=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%.2f\n' "$round" "$server" "${p50:-}" "${p99:-}" "${max:-}" "${req:-0}" \
      "${big_seconds:-0}" | tee -a "$OUT"
  done
done
/usr/bin/python3 - "$OUT" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for s in dict.fromkeys(r["server"] for r in rows):
    sel = [r for r in rows if r["server"] == s and r["p50_us"]]
    if not sel:
        continue
    med = lambda k: statistics.median(float(r[k]) for r in sel)
    print(f"{s}: median of {len(sel)} rounds: 1 KiB latency p50 {med('p50_us'):.0f} us, "
          f"p99 {med('p99_us'):.0f} us, max {med('max_us'):.0f} us; "
          f"big file in {med('big_seconds'):.2f} s")
PY
echo "results: $OUT"
