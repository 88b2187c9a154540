#!/usr/bin/env bash
# bench/access_log.sh: what the access log costs, in server CPU per request, for iocomp and for
# nginx in the same run on the same core: 1 KiB over HTTP with keep-alive, 64 connections.
#
#   bench/access_log.sh [--rounds N] [--duration S] [--conns C] [--out FILE]
#
# Servers: iocomp --quiet (no log), iocomp --access-log FILE (combined), iocomp --access-log FILE
# --log-format json, nginx access_log off, nginx access_log FILE combined (nginx's default: one
# write per request) and nginx access_log FILE combined buffer=64k flush=1s. Each server runs
# alone on CPU 0 with one worker (nginx: master_process off, one process), the client on CPU 1;
# every round runs every server with both clients (bench/loadgen, then wrk -t1), in turn. CPU is
# utime + stime of the whole server process over the run (iocomp's log-writer thread included)
# divided by the requests the client counted. The report gives medians and, per round, each
# logging variant's ratio to its own server without a log.
set -uo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
repo=$(dirname "$here")
ROUNDS=3 DURATION=4 CONNS=64
OUT=${OUT:-$here/results/access-log-$(date +%Y%m%d-%H%M%S).tsv}
IOCOMP=${IOCOMP:-$repo/build/iocomp}
while (($#)); do
  case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "access_log.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in nginx wrk cc taskset; do
  command -v "$tool" >/dev/null || { echo "access_log.sh: needs $tool (scripts/install-deps.sh bench)" >&2; exit 2; }
done
tmp=$(mktemp -d /tmp/iocomp-accesslog.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root" "$tmp/logs" "$tmp/nginx" "$(dirname "$OUT")"
head -c 1024 /dev/urandom >"$tmp/root/1k.bin"
cc -O2 -pthread -o "$tmp/loadgen" "$here/loadgen.c" || exit 2
ulimit -n "$(ulimit -Hn)" 2>/dev/null
hz=$(getconf CLK_TCK)
bench_nice

nginx_conf() { # port access_log-directive
  nginx_conf_for "        listen 127.0.0.1:$1 backlog=4096;" "    $2
    open_file_cache max=1000 inactive=3600s;
    open_file_cache_valid 3600s;"
}

start_server() { # name port
  local iocomp=(taskset -c 0 "${nice_cmd[@]}" "$IOCOMP" --root "$tmp/root" --listen 127.0.0.1
                --port "$2" --quiet --threads 1 --max-connections-per-ip 0
                --max-requests-per-connection 0 --file-cache-valid 3600)
  case $1 in
    iocomp-quiet) "${iocomp[@]}" >/dev/null 2>&1 & ;;
    iocomp-combined) "${iocomp[@]}" --access-log "$tmp/logs/iocomp.log" >/dev/null 2>&1 & ;;
    iocomp-json) "${iocomp[@]}" --access-log "$tmp/logs/iocomp.json" --log-format json >/dev/null 2>&1 & ;;
    nginx-off) nginx_conf "$2" "access_log off;" ;;
    nginx-combined) nginx_conf "$2" "access_log $tmp/logs/nginx.log combined;" ;;
    nginx-buffered) nginx_conf "$2" "access_log $tmp/logs/nginx-b.log combined buffer=64k flush=1s;" ;;
  esac
  if [[ $1 == nginx-* ]]; then start_nginx; fi
  pid=$!
  wait_serving "$1" "http://127.0.0.1:$2/1k.bin"
}

servers="iocomp-quiet iocomp-combined iocomp-json nginx-off nginx-combined nginx-buffered"
printf 'round\tclient\tserver\trps\tcpu_us_per_req\terrors\n' >"$OUT"
port=19300
for round in $(seq "$ROUNDS"); do
  for client in loadgen wrk; do
    for server in $servers; do
      port=$((port + 1))
      start_server "$server" "$port" || continue
      rm -f "$tmp"/logs/*
      c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      if [[ $client == loadgen ]]; then
        line=$(taskset -c 1 "${nice_cmd[@]}" "$tmp/loadgen" -c "$CONNS" -d "$DURATION" -n 1k.bin -s 1024 \
          -p "$port" -m http -q 2>/dev/null | tail -1)
        req=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
        err=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line")
      else
        line=$(taskset -c 1 "${nice_cmd[@]}" wrk -t1 -c "$CONNS" -d "${DURATION}s" \
          "http://127.0.0.1:$port/1k.bin" 2>/dev/null)
        req=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$line")
        err=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$line")
        err=${err:-0}
      fi
      c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      logged=$(cat "$tmp"/logs/* 2>/dev/null | wc -l)
      kill -INT "$pid" 2>/dev/null; sleep 0.3; kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
      awk -v OFS='\t' -v r="$round" -v cl="$client" -v s="$server" -v d="$DURATION" \
          -v req="${req:-0}" -v c0="$c0" -v c1="$c1" -v hz="$hz" -v e="${err:--1}" \
          'BEGIN {cpu = req > 0 ? (c1 - c0) / hz * 1e6 / req : 0
                  printf "%s\t%s\t%s\t%.0f\t%.2f\t%s\n", r, cl, s, req / d, cpu, e}' | tee -a "$OUT"
      if [[ $server != *-quiet && $server != *-off && $logged -lt ${req:-0} ]]; then
        echo "#   $server: $logged lines for ${req:-0} requests (a line is written at exit for the last ones)" >&2
      fi
    done
  done
done
/usr/bin/python3 - "$OUT" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for client in ("loadgen", "wrk"):
    sel = [r for r in rows if r["client"] == client]
    if not sel:
        continue
    med = {s: statistics.median(float(r["cpu_us_per_req"]) for r in sel if r["server"] == s)
           for s in dict.fromkeys(r["server"] for r in sel)}
    print(f"{client}: median server CPU us/request " + ", ".join(f"{s} {v:.2f}" for s, v in med.items()))
    for base, variants in (("iocomp-quiet", ("iocomp-combined", "iocomp-json")),
                           ("nginx-off", ("nginx-combined", "nginx-buffered"))):
        for v in variants:
            ratios = []
            for rnd in sorted({r["round"] for r in sel}):
                by = {r["server"]: float(r["cpu_us_per_req"]) for r in sel if r["round"] == rnd}
                if by.get(base) and by.get(v):
                    ratios.append(by[v] / by[base])
            if ratios:
                print(f"  {v} / {base} per round: " + " ".join(f"{x:.3f}" for x in ratios) +
                      f" (median {statistics.median(ratios):.3f})")
    if med.get("iocomp-combined") and med.get("nginx-combined"):
        print(f"  iocomp-combined / nginx-combined: {med['iocomp-combined'] / med['nginx-combined']:.3f}; "
              f"iocomp-combined / nginx-buffered: {med['iocomp-combined'] / med['nginx-buffered']:.3f}")
PY
echo "results: $OUT"
