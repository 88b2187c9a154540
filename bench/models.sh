#!/usr/bin/env bash
# bench/models.sh: the article's experiment. The four server models of iocomp (--model) side
# by side, at growing numbers of concurrent clients, through the same load generator.
#
#   bench/models.sh [--quick] [--duration S] [--levels "1 10 100 1000 5000 10000"]
#                   [--models LIST] [--out DIR] [--help]
#
# For each model: completion (io_uring, the article's Example 5), epoll (readiness, as nginx),
# thread-pool (Example 4) and thread-per-connection (Example 3); for each level of concurrent
# keep-alive connections: a 1 KiB and a 10 MiB file over HTTP, and the 1 KiB file over the
# line protocol. Every server runs on CPU 0 with one worker (taskset; the thread models may run
# any number of threads, all on that core), bench/loadgen on CPU 1. Then the event-loop models
# run with 2 workers on both cores (sharing them with the client) at two levels.
#
# Recorded per run (TSV and a Markdown table in OUT, charts by bench/models_report.py):
# requests/s, MB/s, server CPU microseconds per request, p50/p99 batch latency (loadgen),
# server threads, RSS, voluntary and involuntary context switches per request (summed over the
# server's threads, from /proc), errors. A level a model cannot hold (errors, stalls, refused
# connections: loadgen's counters) is reported as not held, with its numbers.
#
# Environment (flags win): DURATION (5 s per run), LEVELS, MODELS, POOL_MAX (2000: the
# thread-pool's size is the number of connections up to this; more clients than threads wait in
# its queue, which is the model), SERVER_CPU (0), CLIENT_CPU (1), IOCOMP (build/iocomp),
# OUT (bench/results/models-DATE), NICE (-20).
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
DURATION=${DURATION:-5}
LEVELS=${LEVELS:-"1 10 100 1000 5000 10000"}
MODELS=${MODELS:-"completion epoll thread-pool thread-per-connection"}
POOL_MAX=${POOL_MAX:-2000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
IOCOMP=${IOCOMP:-$repo/build/iocomp}
OUT=${OUT:-$here/results/models-$(date +%Y%m%d-%H%M%S)}
NICE=${NICE:--20}
QUICK=0

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --duration) DURATION=$2; shift ;;
    --levels) LEVELS=$2; shift ;;
    --models) MODELS=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "models.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if ((QUICK)); then
  DURATION=3
  LEVELS="1 100 1000"
fi

[[ -x $IOCOMP ]] || { echo "models.sh: $IOCOMP not built (cmake --build build)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/iocomp-models.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$OUT" "$tmp/root"
cc -O2 -pthread -o "$tmp/loadgen" "$here/loadgen.c" || exit 2
head -c 1024 /dev/urandom >"$tmp/root/1k.bin"
head -c $((10 << 20)) /dev/urandom >"$tmp/root/10m.bin"
# 10,000 connections: a descriptor each on both sides, plus the server's files and threads.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
nice_cmd=()
if [[ $NICE != 0 ]] && nice -n "$NICE" true 2>/dev/null; then
  nice_cmd=(nice -n "$NICE")
  # This script samples /proc during the run: at normal priority it waits behind the server and
  # the client (both busy, both niced) and samples late, after the client has gone.
  renice -n "$NICE" -p $$ >/dev/null
fi

tsv="$OUT/models.tsv"
printf 'model\tproto\tfile\tconns\tworkers\tcores\trps\tmbps\tcpu_us_per_req\tp50_us\tp99_us\tthreads\trss_kib\tvcsw_per_req\tivcsw_per_req\terrors\theld\n' >"$tsv"
{
  echo "# models.sh $(date -u +%FT%TZ) on $(nproc) CPUs, $(uname -r), iocomp $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)"
  echo "# DURATION=$DURATION LEVELS='$LEVELS' POOL_MAX=$POOL_MAX SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU"
} >"$OUT/run.txt"

# CPU ticks (utime + stime, all threads) of a process.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Voluntary and involuntary context switches summed over the process's live threads.
ctx_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^voluntary_ctxt_switches/ {v += $2} /^nonvoluntary_ctxt_switches/ {n += $2}
         END {print v + 0, n + 0}'
}
status_field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

# run_one MODEL PROTO FILE SIZE CONNS WORKERS SERVER_CPUS CLIENT_CPUS
run_one() {
  local model=$1 proto=$2 file=$3 size=$4 conns=$5 workers=$6 scpus=$7 ccpus=$8
  local threads_flag=$workers
  if [[ $model == thread-pool ]]; then
    threads_flag=$((conns < POOL_MAX ? conns : POOL_MAX))
  fi
  local log="$tmp/server.log"
  taskset -c "$scpus" "${nice_cmd[@]}" "$IOCOMP" --root "$tmp/root" --listen 127.0.0.1 --port 0 \
    --quiet --model "$model" --threads "$threads_flag" --max-connections-per-ip 0 \
    --max-connections 100000 --max-requests-per-connection 0 --header-timeout 30 >"$log" 2>&1 &
  local pid=$!
  local port=
  for _ in $(seq 100); do
    port=$(grep -o '(port [0-9]*)' "$log" 2>/dev/null | grep -o '[0-9]*')
    [[ -n $port ]] && break
    sleep 0.05
  done
  if [[ -z $port ]]; then
    echo "models.sh: $model did not start: $(cat "$log")" >&2
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    return
  fi
  # A client kept waiting 3 s for a 1 KiB answer is starved: the level is not held. A 10 MiB
  # answer to each of thousands of clients takes longer than a run on any model: there only
  # errors (closed, refused, wrong bytes) count.
  local stall=3
  [[ $file == 1k.bin ]] || stall=$((DURATION + 30))
  taskset -c "$ccpus" "${nice_cmd[@]}" "$tmp/loadgen" -c "$conns" -d "$DURATION" -n "$file" \
    -s "$size" -p "$port" -m "$proto" -T "$stall" -q >"$tmp/lg.out" 2>"$tmp/lg.err" &
  local lg=$!
  # The window: from 1 s into the run (connections set up) to 1.5 s before its planned end
  # (loadgen's clock starts before its connections are up, so it ends a little early).
  sleep 1
  local c0 t0
  c0=$(cpu_ticks "$pid"); read -r v0 n0 < <(ctx_switches "$pid"); t0=$(date +%s.%N)
  sleep "$(awk -v d="$DURATION" 'BEGIN {print (d - 2.5 > 0.5 ? d - 2.5 : 0.5)}')"
  local c1 t1 threads rss
  c1=$(cpu_ticks "$pid"); read -r v1 n1 < <(ctx_switches "$pid"); t1=$(date +%s.%N)
  threads=$(status_field "$pid" Threads); rss=$(status_field "$pid" VmRSS)
  wait "$lg"
  kill -INT "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  local line
  line=$(tail -1 "$tmp/lg.out")
  get() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$line"; }
  local rps bytes secs errors p50 p99
  rps=$(get rps); bytes=$(get bytes); secs=$(get seconds); errors=$(get errors)
  p50=$(get lat_p50_us); p99=$(get lat_p99_us)
  [[ -z $rps ]] && { rps=0; bytes=0; secs=1; errors=-1; p50=0; p99=0; }
  local held=yes
  if [[ $errors != 0 ]] || awk -v r="$rps" 'BEGIN {exit !(r == 0)}'; then held=no; fi
  awk -v OFS='\t' -v m="$model" -v p="$proto" -v f="$file" -v c="$conns" -v w="$workers" \
      -v cores="$scpus" -v rps="$rps" -v bytes="$bytes" -v secs="$secs" -v c0="$c0" -v c1="$c1" \
      -v hz="$hz" -v t0="$t0" -v t1="$t1" -v p50="$p50" -v p99="$p99" -v th="$threads" \
      -v rss="$rss" -v v0="$v0" -v v1="$v1" -v n0="$n0" -v n1="$n1" -v e="$errors" -v h="$held" '
    BEGIN {
      win = t1 - t0; req = rps * win
      cpu = req > 0 ? (c1 - c0) / hz * 1e6 / req : 0
      vc = req > 0 ? (v1 - v0) / req : 0; nc = req > 0 ? (n1 - n0) / req : 0
      printf "%s\t%s\t%s\t%d\t%d\t%s\t%.0f\t%.1f\t%.2f\t%d\t%d\t%d\t%d\t%.3f\t%.3f\t%d\t%s\n",
        m, p, f, c, w, cores, rps, bytes / secs / 1e6, cpu, p50, p99, th, rss, vc, nc, e, h
    }' >>"$tsv"
  tail -1 "$tsv" | cut -f1-12,16,17 | tr '\t' ' '
}

start=$(date +%s)
for model in $MODELS; do
  for conns in $LEVELS; do
    run_one "$model" http 1k.bin 1024 "$conns" 1 "$SERVER_CPU" "$CLIENT_CPU"
    run_one "$model" http 10m.bin $((10 << 20)) "$conns" 1 "$SERVER_CPU" "$CLIENT_CPU"
    run_one "$model" line 1k.bin 1024 "$conns" 1 "$SERVER_CPU" "$CLIENT_CPU"
  done
done
# Two workers on both cores (the client shares them): what a second CPU buys each model.
for model in $MODELS; do
  [[ $model == thread-per-connection ]] && continue  # no workers to count: threads follow clients
  for conns in 100 5000; do
    [[ " $LEVELS " == *" $conns "* ]] || continue
    run_one "$model" http 1k.bin 1024 "$conns" 2 "$SERVER_CPU,$CLIENT_CPU" "$SERVER_CPU,$CLIENT_CPU"
  done
done
echo "# elapsed $(($(date +%s) - start)) s" >>"$OUT/run.txt"
/usr/bin/python3 "$here/models_report.py" "$tsv" "$OUT" && echo "report: $OUT/models.md"
