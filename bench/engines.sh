#!/usr/bin/env bash
# bench/engines.sh: CPU per request of the two event-loop models against the bare epoll loop of
# ../shared/bench/limitprobe.c (the ceiling: no file system, no parsing), 1 KiB over HTTP with
# keep-alive, at 64 and 5,000 connections, through bench/loadgen.
#
#   bench/engines.sh [--rounds N] [--duration S] [--conns "64 5000"] [--out FILE]
#
# Each server runs on CPU 0 with one worker, loadgen on CPU 1; servers alternate within each
# round (A B C A B C ...) and the report gives medians and per-round ratios, because this
# machine's speed moves between rounds. CPU is utime + stime of the server over the run
# (/proc/PID/stat) divided by the requests loadgen counted.
set -uo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
ROUNDS=3 DURATION=5 CONNS="64 5000"
OUT=${OUT:-$here/results/engines-$(date +%Y%m%d-%H%M%S).tsv}
IOCOMP=${IOCOMP:-$repo/build/iocomp}
LIMITPROBE_SRC=${LIMITPROBE_SRC:-/work/shared/bench/limitprobe.c}
while (($#)); do
  case $1 in
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "engines.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
tmp=$(mktemp -d /tmp/iocomp-engines.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root" "$(dirname "$OUT")"
head -c 1024 /dev/urandom >"$tmp/root/1k.bin"
cc -O2 -pthread -o "$tmp/loadgen" "$here/loadgen.c" || exit 2
servers="completion epoll"
if [[ -f $LIMITPROBE_SRC ]] && cc -O2 -o "$tmp/limitprobe" "$LIMITPROBE_SRC"; then
  servers="$servers limitprobe"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null
hz=$(getconf CLK_TCK)
nice_cmd=()
if nice -n -20 true 2>/dev/null; then nice_cmd=(nice -n -20); renice -n -20 -p $$ >/dev/null; fi
printf 'round\tserver\tconns\trps\tcpu_us_per_req\terrors\n' >"$OUT"
port=18900
for round in $(seq "$ROUNDS"); do
  for conns in $CONNS; do
    for server in $servers; do
      port=$((port + 1))
      if [[ $server == limitprobe ]]; then
        taskset -c 0 "${nice_cmd[@]}" "$tmp/limitprobe" "$port" 1024 >/dev/null 2>&1 &
      else
        taskset -c 0 "${nice_cmd[@]}" "$IOCOMP" --root "$tmp/root" --listen 127.0.0.1 --port "$port" --quiet \
          --threads 1 --model "$server" --max-connections-per-ip 0 \
          --max-requests-per-connection 0 >/dev/null 2>&1 &
      fi
      pid=$!
      sleep 0.5
      c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      line=$(taskset -c 1 "${nice_cmd[@]}" "$tmp/loadgen" -c "$conns" -d "$DURATION" -n 1k.bin -s 1024 \
        -p "$port" -m http -q 2>/dev/null | tail -1)
      c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      kill -INT "$pid" 2>/dev/null; sleep 0.3; kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
      req=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
      rps=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")
      err=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line")
      awk -v OFS='\t' -v r="$round" -v s="$server" -v c="$conns" -v rps="${rps:-0}" \
          -v req="${req:-0}" -v c0="$c0" -v c1="$c1" -v hz="$hz" -v e="${err:--1}" \
          'BEGIN {cpu = req > 0 ? (c1 - c0) / hz * 1e6 / req : 0
                  printf "%s\t%s\t%s\t%.0f\t%.2f\t%s\n", r, s, c, rps, cpu, e}' | tee -a "$OUT"
    done
  done
done
# Medians per server and level, and the completion / epoll ratio of each round.
/usr/bin/python3 - "$OUT" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
levels = sorted({int(r["conns"]) for r in rows})
for c in levels:
    sel = [r for r in rows if int(r["conns"]) == c]
    med = {s: statistics.median(float(r["cpu_us_per_req"]) for r in sel if r["server"] == s)
           for s in sorted({r["server"] for r in sel})}
    ratios = []
    for rnd in sorted({r["round"] for r in sel}):
        by = {r["server"]: float(r["cpu_us_per_req"]) for r in sel if r["round"] == rnd}
        if by.get("epoll"):
            ratios.append(by["completion"] / by["epoll"])
    print(f"{c} connections: median CPU us/request " +
          ", ".join(f"{s} {v:.2f}" for s, v in med.items()) +
          (f"; completion/epoll per round " + " ".join(f"{x:.2f}" for x in ratios) +
           f" (median {statistics.median(ratios):.2f})" if ratios else ""))
PY
