#!/usr/bin/env bash
# bench/tls.sh: what TLS costs in iocomp against nginx, in the same run on the same core, with the
# same certificate (ECDSA P-256) and TLS 1.3:
#   1k:        1 KiB files over HTTPS with keep-alive, wrk -t1, 64 connections: server CPU per
#              request (the cipher is the client's choice for both servers: OpenSSL's default
#              order, TLS_AES_256_GCM_SHA384);
#   100m:      a 100 MiB file downloaded N times in turn by curl with TLS_AES_128_GCM_SHA256:
#              server CPU seconds per GB;
#   handshake: full TLS 1.3 handshakes (openssl s_time -new): handshakes per second and server
#              CPU per handshake.
#
#   bench/tls.sh [--rounds N] [--duration S] [--downloads N] [--out FILE]
#
# Each server runs alone on CPU 0 with one worker (nginx: master_process off, one process), the
# client on CPU 1. CPU is utime + stime of the server process over the run.
set -uo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
repo=$(dirname "$here")
ROUNDS=3 DURATION=4 DOWNLOADS=4
OUT=${OUT:-$here/results/tls-$(date +%Y%m%d-%H%M%S).tsv}
IOCOMP=${IOCOMP:-$repo/build/iocomp}
while (($#)); do
  case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --downloads) DOWNLOADS=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tls.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in nginx wrk curl openssl taskset; do
  command -v "$tool" >/dev/null || { echo "tls.sh: needs $tool (scripts/install-deps.sh bench)" >&2; exit 2; }
done
nginx -V 2>&1 | grep -q with-http_ssl_module || { echo "tls.sh: nginx has no ssl module" >&2; exit 2; }
tmp=$(mktemp -d /tmp/iocomp-tlsbench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root" "$tmp/nginx" "$(dirname "$OUT")"
head -c 1024 /dev/urandom >"$tmp/root/1k.bin"
head -c $((100 << 20)) /dev/urandom >"$tmp/root/100m.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" \
  -out "$tmp/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
  >/dev/null 2>&1 || exit 2
ulimit -n "$(ulimit -Hn)" 2>/dev/null
hz=$(getconf CLK_TCK)
bench_nice

nginx_conf() { # port
  nginx_conf_for "        listen 127.0.0.1:$1 ssl backlog=4096;" "    access_log off;
    open_file_cache max=1000 inactive=3600s;
    open_file_cache_valid 3600s;" "        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;"
}

start_server() { # name port
  case $1 in
    iocomp)
      taskset -c 0 "${nice_cmd[@]}" "$IOCOMP" --root "$tmp/root" --listen 127.0.0.1 --port "$2" \
        --quiet --threads 1 --max-connections-per-ip 0 --max-requests-per-connection 0 \
        --file-cache-valid 3600 --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" >/dev/null 2>&1 & ;;
    nginx)
      nginx_conf "$2"
      start_nginx ;;
  esac
  pid=$!
  wait_serving "$1" "https://127.0.0.1:$2/1k.bin" -k
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

printf 'round\tserver\ttest\trate\tcpu\tunit\n' >"$OUT"
port=19500
for round in $(seq "$ROUNDS"); do
  for server in iocomp nginx; do
    port=$((port + 1))
    start_server "$server" "$port" || continue
    # 1 KiB with keep-alive.
    c0=$(cpu_ticks)
    line=$(taskset -c 1 "${nice_cmd[@]}" wrk -t1 -c 64 -d "${DURATION}s" "https://127.0.0.1:$port/1k.bin" 2>/dev/null)
    c1=$(cpu_ticks)
    req=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$line")
    awk -v OFS='\t' -v r="$round" -v s="$server" -v d="$DURATION" -v req="${req:-0}" -v c0="$c0" \
        -v c1="$c1" -v hz="$hz" 'BEGIN {printf "%s\t%s\t1k\t%.0f\t%.2f\tus/request\n", r, s,
        req / d, (req > 0 ? (c1 - c0) / hz * 1e6 / req : 0)}' | tee -a "$OUT"
    # 100 MiB, AES-128-GCM.
    c0=$(cpu_ticks)
    start=$(date +%s.%N)
    for _ in $(seq "$DOWNLOADS"); do
      taskset -c 1 curl -sk --tls13-ciphers TLS_AES_128_GCM_SHA256 -o /dev/null \
        "https://127.0.0.1:$port/100m.bin"
    done
    end=$(date +%s.%N)
    c1=$(cpu_ticks)
    awk -v OFS='\t' -v r="$round" -v s="$server" -v n="$DOWNLOADS" -v t0="$start" -v t1="$end" \
        -v c0="$c0" -v c1="$c1" -v hz="$hz" 'BEGIN {gb = n * 100 * 1048576 / 1e9
        printf "%s\t%s\t100m\t%.0f\t%.3f\ts/GB (rate: MB/s)\n", r, s, gb * 1000 / (t1 - t0),
        (c1 - c0) / hz / gb}' | tee -a "$OUT"
    # Full TLS 1.3 handshakes.
    c0=$(cpu_ticks)
    line=$(taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -tls1_3 -time "$DURATION" 2>/dev/null)
    c1=$(cpu_ticks)
    conns=$(sed -n 's/^\([0-9]*\) connections in [0-9.]*s;.*/\1/p' <<<"$line" | head -1)
    awk -v OFS='\t' -v r="$round" -v s="$server" -v d="$DURATION" -v n="${conns:-0}" -v c0="$c0" \
        -v c1="$c1" -v hz="$hz" 'BEGIN {printf "%s\t%s\thandshake\t%.0f\t%.1f\tus/handshake\n", r, s,
        n / d, (n > 0 ? (c1 - c0) / hz * 1e6 / n : 0)}' | tee -a "$OUT"
    kill -INT "$pid" 2>/dev/null; sleep 0.3; kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
done
/usr/bin/python3 - "$OUT" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for test in ("1k", "100m", "handshake"):
    for server in ("iocomp", "nginx"):
        sel = [r for r in rows if r["test"] == test and r["server"] == server]
        if sel:
            print(f"{test:9} {server:6} median rate {statistics.median(float(r['rate']) for r in sel):.0f}, "
                  f"CPU {statistics.median(float(r['cpu']) for r in sel):.3f} {sel[0]['unit']}")
PY
echo "results: $OUT"
