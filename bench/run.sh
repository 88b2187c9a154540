#!/usr/bin/env bash
# bench/run.sh: iocomp against nginx and lighttpd (and the limitprobe ceiling), one server core.
#
#   bench/run.sh [--quick] [--rounds N] [--duration S] [--only LIST] [--keep] [--help]
#
# Every server under test runs on CPU 0 (taskset -c 0), the load generator (wrk -t1, or
# bench/loadgen: the line protocol, and HTTP with a cheaper client than wrk) on CPU 1. Servers
# are measured interleaved (A B C A B C ...) for ROUNDS rounds; the tables show medians. See
# bench/README.md.
#
# Environment (flags win): ROUNDS (3), DURATION (5 s per run), LOW_CONNS (64),
# BIG_CONNS (5000), HUGE_CONNS (4, for the 100 MiB file), SCALE_CONNS (128) and SCALE_DEPTH
# (256: connections, and requests pipelined on each, for the 1-vs-2-worker runs),
# SERVER_CPU (0), CLIENT_CPU (1), IOCOMP (build/iocomp),
# LIMITPROBE_SRC (/work/shared/bench/limitprobe.c), RESULTS_DIR (bench/results),
# ONLY (comma list of servers), KEEP_TMP (0),
# NICE (-20: servers and load generators run at this nice level so that other jobs on a
# shared machine do not steal their cores; 0 to disable), NGINX_TCP_NOPUSH (on, as in
# Debian's nginx.conf; "off" makes nginx send header and body in separate segments).
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
LOW_CONNS=${LOW_CONNS:-64}
BIG_CONNS=${BIG_CONNS:-5000}
HUGE_CONNS=${HUGE_CONNS:-4}
SCALE_CONNS=${SCALE_CONNS:-128}
SCALE_DEPTH=${SCALE_DEPTH:-256}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
IOCOMP=${IOCOMP:-$repo/build/iocomp}
LIMITPROBE_SRC=${LIMITPROBE_SRC:-/work/shared/bench/limitprobe.c}
RESULTS_DIR=${RESULTS_DIR:-$here/results}
ONLY=${ONLY:-}
KEEP_TMP=${KEEP_TMP:-0}
QUICK=${QUICK:-0}
NICE=${NICE:--20}
NGINX_TCP_NOPUSH=${NGINX_TCP_NOPUSH:-on}

usage() {
  sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  cat <<'EOF'

Flags:
  --quick          smoke test: 1 round, 2 s runs, no 5,000-connection runs, no 100 MiB
  --rounds N       rounds of interleaved runs (median reported)        [3]
  --duration S     seconds per run (integer)                            [5]
  --only LIST      only these servers, comma separated, from:
                   iocomp,nginx,lighttpd,limitprobe,iocomp-line,iocomp-1w-shared,iocomp-2w-shared
  --no-big         skip the 5,000-connection runs
  --no-huge        skip the 100 MiB runs
  --tests REGEX    only the tests whose id matches REGEX (bash =~), e.g. '^(100m|scale)-'
  --keep           keep the temporary directory (configs, logs) at exit
EOF
}

NO_BIG=0 NO_HUGE=0 TESTS_RE=
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --rounds=*) ROUNDS=${1#*=} ;;
    --duration) DURATION=$2; shift ;;
    --duration=*) DURATION=${1#*=} ;;
    --only) ONLY=$2; shift ;;
    --only=*) ONLY=${1#*=} ;;
    --no-big) NO_BIG=1 ;;
    --no-huge) NO_HUGE=1 ;;
    --tests) TESTS_RE=$2; shift ;;
    --tests=*) TESTS_RE=${1#*=} ;;
    --keep) KEEP_TMP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if ((QUICK)); then
  ROUNDS=1 DURATION=2 NO_BIG=1 NO_HUGE=1
fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $DURATION =~ ^[1-9][0-9]*$ ]] ||
  { echo "run.sh: --rounds and --duration take positive integers" >&2; exit 2; }

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

# ---------------------------------------------------------------- dependencies
need_tools=(nginx lighttpd wrk gcc python3 taskset curl)
missing=()
for t in "${need_tools[@]}"; do command -v "$t" >/dev/null || missing+=("$t"); done
if ((${#missing[@]})); then
  log "missing tools: ${missing[*]}; installing"
  if [[ -x $repo/scripts/install-deps.sh ]]; then
    "$repo/scripts/install-deps.sh" bench || die "install-deps.sh bench failed"
  else
    sudo_cmd=()
    [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq nginx lighttpd wrk \
        gcc python3 util-linux curl >/dev/null || die "apt-get install failed"
  fi
  for t in "${need_tools[@]}"; do command -v "$t" >/dev/null || die "still missing: $t"; done
fi

if [[ ! -x $IOCOMP ]]; then
  log "building iocomp (Release)"
  cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
    cmake --build "$repo/build" -j2 --target iocomp >/dev/null || die "iocomp build failed"
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$IOCOMP")/CMakeCache.txt" 2>/dev/null)
[[ -z $build_type || $build_type == Release ]] ||
  log "WARNING: $IOCOMP was built as '$build_type', not Release"

# ---------------------------------------------------------------- limits, temp dir, cleanup
want_fds=$((BIG_CONNS * 2 + 1024))
((want_fds < 65536)) && want_fds=65536
# Raising the hard limit needs CAP_SYS_RESOURCE; without it we get the current hard limit.
if (($(ulimit -Hn) < want_fds)); then ulimit -Hn "$want_fds" 2>/dev/null; fi
ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
want_fds=$(ulimit -n) # what the servers are told they may use (nginx, lighttpd configs)
if ((!NO_BIG && $(ulimit -n) < BIG_CONNS + 256)); then
  log "WARNING: ulimit -n is $(ulimit -n), too low for $BIG_CONNS connections; skipping them"
  NO_BIG=1
fi

T=$(mktemp -d /tmp/iocomp-bench.XXXXXX) || die "mktemp failed"
declare -A PID=() PORT=() CPUS=() LCPUS=() TREE=()
LOAD_PID=
AUTOGROUP_SET=0
cleanup() {
  local rc=$? n p
  trap - EXIT INT TERM
  [[ -n $LOAD_PID ]] && kill -TERM "$LOAD_PID" 2>/dev/null # timeout passes it on to wrk/loadgen
  for n in "${!PID[@]}"; do
    p=${PID[$n]}
    [[ -n $p ]] && kill -TERM "$p" 2>/dev/null
  done
  for n in "${!PID[@]}"; do
    p=${PID[$n]}
    [[ -z $p ]] && continue
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$p" 2>/dev/null; then
      log "cleanup: $n (pid $p) ignored SIGTERM for 2 s; SIGKILL"
      for c in $(pgrep -P "$p" 2>/dev/null); do kill -9 "$c" 2>/dev/null; done
      kill -9 "$p" 2>/dev/null
    fi
  done
  wait 2>/dev/null
  [[ $rc != 0 && -n ${TSV:-} && -f ${TSV:-} ]] && echo "# interrupted or failed (exit $rc); partial results" >>"$TSV"
  ((AUTOGROUP_SET)) && echo "${AUTOGROUP_OLD_NICE:-0}" >/proc/$$/autogroup 2>/dev/null
  if ((KEEP_TMP)); then log "kept $T"; else rm -rf "$T"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# A builtin sleep (read -t on a FIFO nobody writes): forks nothing, so it does not show up
# in the load generator's CPU time, which we take from the shell's children times.
mkfifo "$T/sleep.fifo"
exec {SLEEPFD}<>"$T/sleep.fifo"
bsleep() { read -r -t "$1" -u "$SLEEPFD" _ || true; }

# This shell (and the RSS sampling it does) stays off the server's core.
taskset -pc "$CLIENT_CPU" $$ >/dev/null

TICK=$(getconf CLK_TCK)
NICE_CMD=
if [[ $NICE != 0 ]]; then
  if nice -n "$NICE" true 2>/dev/null && [[ $(nice -n "$NICE" nice) == "$NICE" ]]; then
    NICE_CMD="nice -n $NICE"
    # With kernel autogroups (sched_autogroup_enabled=1), nice only ranks tasks inside one
    # session; CPU is first split evenly between sessions. Raise this session's autogroup
    # too, and put it back at exit.
    if [[ $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null) == 1 && -w /proc/$$/autogroup ]]; then
      read -r _ _ AUTOGROUP_OLD_NICE </proc/$$/autogroup
      if echo "$NICE" >/proc/$$/autogroup 2>/dev/null; then
        AUTOGROUP_SET=1
      fi
    fi
  else
    log "WARNING: cannot run at nice $NICE (not root?); running at the default priority"
    NICE=0
  fi
fi
# CPUBUSY <- "busy idle" jiffies of CPU $1 from /proc/stat (busy = all but idle and iowait)
read_cpu_busy() {
  local c k u n s i w q sq st
  while read -r c u n s i w q sq st _; do
    if [[ $c == "cpu$1" ]]; then CPUBUSY="$((u + n + s + q + sq + st)) $((i + w))"; return; fi
  done </proc/stat
  CPUBUSY="0 0"
}
stamp=$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS_DIR"
TSV=$RESULTS_DIR/$stamp.tsv
ANOM=$T/anomalies.txt
: >"$ANOM"
anomaly() { log "ANOMALY: $*"; printf '%s\n' "$*" >>"$ANOM"; }

# ---------------------------------------------------------------- documents
www=$T/www
mkdir -p "$www"
declare -A SIZE=([1k]=1024 [16k]=16384 [1m]=1048576 [100m]=104857600)
for f in 1k 16k 1m 100m; do
  [[ $f == 100m ]] && ((NO_HUGE)) && continue
  head -c "${SIZE[$f]}" /dev/urandom >"$www/$f.bin"
done

# ---------------------------------------------------------------- tools
gcc -O2 -pthread -o "$T/loadgen" "$here/loadgen.c" || die "building loadgen failed"
HAVE_PROBE=0
if [[ -f $LIMITPROBE_SRC ]]; then
  gcc -O2 -o "$T/limitprobe" "$LIMITPROBE_SRC" 2>/dev/null && HAVE_PROBE=1
fi
((HAVE_PROBE)) || log "limitprobe not available ($LIMITPROBE_SRC); no ceiling row"

used_ports=" "
free_port() {
  local p
  while :; do
    p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    [[ $used_ports == *" $p "* ]] || break
  done
  used_ports+="$p "
  echo "$p"
}

# ---------------------------------------------------------------- server configs
write_nginx_conf() { # port
  mkdir -p "$T/nginx"
  cat >"$T/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
worker_rlimit_nofile $want_fds;
events {
    worker_connections $((BIG_CONNS + 2048));
}
http {
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush $NGINX_TCP_NOPUSH;
    keepalive_requests 1000000000;
    keepalive_timeout 3600s;
    open_file_cache max=1000 inactive=3600s;
    open_file_cache_valid 3600s;
    open_file_cache_errors on;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    server {
        listen 127.0.0.1:$1 backlog=4096;
        root $www;
        location / { }
    }
}
EOF
}

write_lighttpd_conf() { # port
  mkdir -p "$T/lighttpd"
  cat >"$T/lighttpd/lighttpd.conf" <<EOF
server.document-root = "$www"
server.bind = "127.0.0.1"
server.port = $1
server.pid-file = "$T/lighttpd/lighttpd.pid"
server.errorlog = "$T/lighttpd/error.log"
server.network-backend = "sendfile"
server.stat-cache-engine = "simple"
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = 3600
server.max-read-idle = 3600
server.max-write-idle = 3600
server.max-fds = $want_fds
server.max-connections = $((BIG_CONNS + 2048))
server.listen-backlog = 4096
mimetype.assign = ( ".bin" => "application/octet-stream", "" => "application/octet-stream" )
EOF
}

# ---------------------------------------------------------------- process accounting
# Sets TREE[name]: the server's pid and all its descendants.
refresh_tree() {
  local n=$1 list=${PID[$1]} frontier=${PID[$1]} next p c
  while [[ -n $frontier ]]; do
    next=
    for p in $frontier; do
      for c in $(pgrep -P "$p" 2>/dev/null); do list+=" $c"; next+=" $c"; done
    done
    frontier=$next
  done
  TREE[$n]=$list
}
# TICKS <- utime+stime (clock ticks) summed over the pids; TASKS <- "tid:ticks ..." per thread.
read_ticks() {
  local p t line f s=0 tl=
  for p in $1; do
    if read -r line <"/proc/$p/stat" 2>/dev/null; then
      read -r -a f <<<"${line##*) }"
      s=$((s + f[11] + f[12]))
    fi
    for t in /proc/"$p"/task/*; do
      read -r line <"$t/stat" 2>/dev/null || continue
      read -r -a f <<<"${line##*) }"
      tl+="${t##*/}:$((f[11] + f[12])) "
    done
  done
  TICKS=$s TASKS=$tl
}
# RSS_KB <- sum of VmRSS over the pids.
read_rss() {
  local p k v u s=0
  for p in $1; do
    while read -r k v u; do
      [[ $k == VmRSS: ]] && { s=$((s + v)); break; }
    done <"/proc/$p/status" 2>/dev/null
  done
  RSS_KB=$s
}
# CHILD_MS <- user+system CPU of this shell's reaped children, in ms (from the times builtin).
read_child_cpu() {
  times >"$T/times.txt"
  local a b re='([0-9]+)m([0-9]+)\.([0-9]+)s'
  { read -r _; read -r a b; } <"$T/times.txt"
  local ms=0 x
  for x in "$a" "$b"; do
    [[ $x =~ $re ]] && ms=$((ms + 10#${BASH_REMATCH[1]} * 60000 + 10#${BASH_REMATCH[2]} * 1000 + 10#${BASH_REMATCH[3]}))
  done
  CHILD_MS=$ms
}

wait_http() { # port path -> 0 when it answers 200
  local i
  for ((i = 0; i < 50; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$2" 2>/dev/null) == 200 ]] && return 0
    bsleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- servers
start_server() { # name
  local n=$1 cpus=$SERVER_CPU lcpus=$CLIENT_CPU port i line
  case $n in
    iocomp-1w-shared|iocomp-2w-shared) cpus="$SERVER_CPU,$CLIENT_CPU" lcpus="$SERVER_CPU,$CLIENT_CPU" ;;
  esac
  CPUS[$n]=$cpus LCPUS[$n]=$lcpus
  case $n in
    iocomp|iocomp-1w-shared|iocomp-2w-shared)
      local threads=1
      [[ $n == iocomp-2w-shared ]] && threads=2
      # Same conditions as the nginx/lighttpd configs: keep-alive unlimited, and no per-address
      # cap (every load-generator connection comes from 127.0.0.1).
      $NICE_CMD taskset -c "$cpus" "$IOCOMP" --root "$www" --port 0 --listen 127.0.0.1 --threads "$threads" \
        --quiet --max-connections-per-ip 0 --max-requests-per-connection 0 --idle-timeout 3600 \
        >"$T/$n.out" 2>"$T/$n.err" &
      PID[$n]=$!
      port=
      for ((i = 0; i < 100; i++)); do
        read -r line 2>/dev/null <"$T/$n.out"
        [[ ${line:-} =~ \(port\ ([0-9]+)\) ]] && { port=${BASH_REMATCH[1]}; break; }
        kill -0 "${PID[$n]}" 2>/dev/null || break
        bsleep 0.05
      done
      [[ -n $port ]] || { cat "$T/$n.out" "$T/$n.err" >&2; return 1; }
      ;;
    nginx)
      port=$(free_port)
      write_nginx_conf "$port"
      $NICE_CMD taskset -c "$cpus" nginx -p "$T/nginx/" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" \
        >"$T/$n.out" 2>"$T/$n.err" &
      PID[$n]=$!
      ;;
    lighttpd)
      port=$(free_port)
      write_lighttpd_conf "$port"
      $NICE_CMD taskset -c "$cpus" lighttpd -D -f "$T/lighttpd/lighttpd.conf" >"$T/$n.out" 2>"$T/$n.err" &
      PID[$n]=$!
      ;;
    limitprobe)
      port=$(free_port)
      $NICE_CMD taskset -c "$cpus" "$T/limitprobe" "$port" 1024 >"$T/$n.out" 2>"$T/$n.err" &
      PID[$n]=$!
      ;;
  esac
  PORT[$n]=$port
  if ! wait_http "$port" /1k.bin; then
    log "$n did not come up on port $port:"
    cat "$T/$n.out" "$T/$n.err" "$T/$n/error.log" 2>/dev/null >&2
    return 1
  fi
  if [[ $n == nginx ]]; then # wait for the worker
    for ((i = 0; i < 50; i++)); do
      [[ -n $(pgrep -P "${PID[$n]}") ]] && break
      bsleep 0.1
    done
  fi
  refresh_tree "$n"
  return 0
}

alive() { [[ -n ${PID[$1]:-} ]] && kill -0 "${PID[$1]}" 2>/dev/null; }

server_list=(iocomp nginx lighttpd)
((HAVE_PROBE)) && server_list+=(limitprobe)
server_list+=(iocomp-1w-shared iocomp-2w-shared)
enabled() { # name [as listed in --only]
  [[ -z $ONLY ]] && return 0
  [[ ",$ONLY," == *",$1,"* ]]
}
declare -a running=()
for n in "${server_list[@]}"; do
  want=0
  enabled "$n" && want=1
  [[ $n == iocomp ]] && enabled iocomp-line && want=1
  ((want)) || continue
  if start_server "$n"; then
    running+=("$n")
    log "started $n: pid ${PID[$n]}, port ${PORT[$n]}, CPUs ${CPUS[$n]}, processes: ${TREE[$n]}"
  else
    anomaly "$n failed to start (see logs above)"
    [[ $n == iocomp* ]] || die "$n failed to start"
  fi
done
is_running() { [[ " ${running[*]} " == *" $1 "* ]]; }

# Each HTTP server must serve every file with the right length before we measure anything.
for n in "${running[@]}"; do
  for f in 1k 16k 1m 100m; do
    [[ -f $www/$f.bin ]] || continue
    [[ $n == limitprobe && $f != 1k ]] && continue
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:${PORT[$n]}/$f.bin")
    [[ $got == "200 ${SIZE[$f]}" ]] || anomaly "pre-check: $n GET /$f.bin -> '$got', expected '200 ${SIZE[$f]}'"
  done
done

# Warm-up (not recorded): fills page cache, open-file caches, lazy allocations.
for n in "${running[@]}"; do
  for f in 1k 16k 1m; do
    [[ $n == limitprobe && $f != 1k ]] && continue
    $NICE_CMD taskset -c "${LCPUS[$n]}" wrk -t1 -c"$LOW_CONNS" -d1s "http://127.0.0.1:${PORT[$n]}/$f.bin" >/dev/null 2>&1
  done
done
if is_running iocomp && enabled iocomp-line; then
  $NICE_CMD taskset -c "$CLIENT_CPU" "$T/loadgen" -q -c "$LOW_CONNS" -d 1 -n 1k.bin -s 1024 \
    -p "${PORT[iocomp]}" >/dev/null 2>&1 || anomaly "loadgen warm-up against iocomp failed"
fi

# ---------------------------------------------------------------- one measurement
to_bytes() { # "12.34MB" (wrk: binary units) -> bytes
  awk -v s="$1" 'BEGIN { n = s + 0; u = s; sub(/^[0-9.]+/, "", u);
    m = (u == "KB") ? 1024 : (u == "MB") ? 1048576 : (u == "GB") ? 1073741824 : (u == "TB") ? 1099511627776 : 1;
    printf "%.0f", n * m }'
}
to_ms() { # "550.12us" -> ms
  awk -v s="$1" 'BEGIN { n = s + 0; u = s; sub(/^[0-9.]+/, "", u);
    m = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1;
    printf "%.3f", n * m }'
}

printf '# iocomp bench %s host=%s kernel=%s cpu=%s rounds=%s duration=%s low=%s big=%s huge=%s quick=%s\n' \
  "$stamp" "$(hostname)" "$(uname -r)" "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)" \
  "$ROUNDS" "$DURATION" "$LOW_CONNS" "$BIG_CONNS" "$HUGE_CONNS" "$QUICK" >"$TSV"
printf '# nice=%s autogroup_nice=%s server_cpu=%s client_cpu=%s nginx_tcp_nopush=%s scale_conns=%s scale_depth=%s tests=%s\n' "$NICE" \
  "$( ((AUTOGROUP_SET)) && echo "$NICE" || echo unchanged)" "$SERVER_CPU" "$CLIENT_CPU" \
  "$NGINX_TCP_NOPUSH" "$SCALE_CONNS" "$SCALE_DEPTH" "${TESTS_RE:-all}" >>"$TSV"
printf '# iocomp binary: %s (built %s, source HEAD %s)\n' "$IOCOMP" \
  "$(date -r "$IOCOMP" '+%Y-%m-%d %H:%M:%S')" "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')" >>"$TSV"
printf '# versions: iocomp=%s nginx=%s lighttpd=%s wrk=%s iocomp_build=%s\n' \
  "$("$IOCOMP" --version 2>/dev/null | head -1)" "$(nginx -v 2>&1 | sed 's/.*\///')" \
  "$(lighttpd -v 2>&1 | head -1 | awk '{print $1}' | sed 's/.*\///')" \
  "$(wrk -v 2>&1 | head -1 | awk '{print $2}')" "${build_type:-?}" >>"$TSV"
printf 'round\ttest\tserver\tproto\tfile\tsize\tconns\tserver_cpus\tclient_cpus\tduration_s\trequests\trps\tbytes\terrors\tlat_avg_ms\tserver_cpu_s\tcpu_us_per_req\tcpu_s_per_gb\tserver_cpu_pct\tclient_cpu_pct\trss_kb\trss_before_kb\tcpu_s_busy_pct\tcpu_c_busy_pct\tloadavg\ttask_ticks\tnote\tteardown_cpu_s\n' >>"$TSV"

measure() { # round test server proto file conns depth
  local round=$1 test=$2 srv=$3 proto=$4 file=$5 conns=$6 depth=${7:-1}
  local port=${PORT[$srv]} size=${SIZE[$file]} note=
  if ! alive "$srv"; then
    anomaly "round $round $test: $srv (pid ${PID[$srv]}) was dead before the run; restarting"
    tail -5 "$T/$srv.err" >>"$ANOM" 2>/dev/null
    start_server "$srv" || { anomaly "restart of $srv failed"; return; }
    port=${PORT[$srv]}
    note+="restarted;"
  fi
  refresh_tree "$srv"
  local procs=${TREE[$srv]} out=$T/load.out mid
  mid=$(awk -v d="$DURATION" 'BEGIN { print d * 0.6 }')
  read_rss "$procs"; local rss0=$RSS_KB
  read_ticks "$procs"; local t0=$TICKS tasks0=$TASKS
  read_cpu_busy "$SERVER_CPU"; local sb0=$CPUBUSY
  read_cpu_busy "$CLIENT_CPU"; local cb0=$CPUBUSY
  read_child_cpu; local c0=$CHILD_MS
  local w0=$EPOCHREALTIME
  local -a cmd
  if [[ $proto == http ]]; then
    cmd=(wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 10s "http://127.0.0.1:$port/$file.bin")
  else # lg: HTTP through loadgen; line: the line protocol through loadgen
    local mode=line
    [[ $proto == lg ]] && mode=http
    cmd=("$T/loadgen" -q -m "$mode" -D "$depth" -c "$conns" -d "$DURATION" -n "$file.bin" -s "$size" -p "$port" -T 10)
  fi
  timeout -k 5 $((DURATION + 60)) $NICE_CMD taskset -c "${LCPUS[$srv]}" "${cmd[@]}" >"$out" 2>&1 &
  LOAD_PID=$!
  bsleep "$mid"
  read_rss "$procs"; local rss=$RSS_KB
  wait "$LOAD_PID"; local lrc=$?
  LOAD_PID=
  local w1=$EPOCHREALTIME
  read_child_cpu; local c1=$CHILD_MS
  read_cpu_busy "$SERVER_CPU"; local sb1=$CPUBUSY
  read_cpu_busy "$CLIENT_CPU"; local cb1=$CPUBUSY
  local la
  read -r la _ </proc/loadavg
  # share of the wall time each of the two CPUs was busy (anything: our processes, softirq, others)
  local busy
  busy=$(awk -v a="$sb0" -v b="$sb1" -v c="$cb0" -v d="$cb1" 'BEGIN {
    split(a, A, " "); split(b, B, " "); split(c, C, " "); split(d, D, " ");
    s = (B[1] - A[1]) + (B[2] - A[2]); t = (D[1] - C[1]) + (D[2] - C[2]);
    printf "%.1f\t%.1f", s ? 100 * (B[1] - A[1]) / s : 0, t ? 100 * (D[1] - C[1]) / t : 0 }')
  # Let the server finish tearing down the connections (that work belongs to this run too).
  read_ticks "$procs"; local tp=$TICKS i t_end=$TICKS
  for ((i = 0; i < 30; i++)); do
    bsleep 0.1
    read_ticks "$procs"
    [[ $TICKS == "$tp" ]] && break
    tp=$TICKS
  done
  local t1=$TICKS tasks1=$TASKS
  # per-thread tick deltas (tid:delta), to see how work splits over processes / threads
  local -A before=()
  local kv tt=
  for kv in $tasks0; do before[${kv%%:*}]=${kv#*:}; done
  for kv in $tasks1; do tt+="$((${kv#*:} - ${before[${kv%%:*}]:-0}))/"; done
  tt=${tt%/}

  local requests=0 rps=0 bytes=0 errors=0 lat=NA secs=$DURATION
  if [[ $proto == http ]]; then
    local line
    line=$(grep -m1 'requests in' "$out")
    requests=$(awk '{print $1}' <<<"$line")
    secs=$(awk '{v=$4; sub(/s,?$/, "", v); print v}' <<<"$line")
    bytes=$(to_bytes "$(awk '{print $5}' <<<"$line")")
    rps=$(awk '/Requests\/sec/ {print $2}' "$out")
    local se non2
    se=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' "$out")
    non2=$(awk -F': *' '/Non-2xx/ {print $2}' "$out")
    errors=$((${se:-0} + ${non2:-0}))
    lat=$(to_ms "$(awk '/Latency/ {print $2; exit}' "$out")")
    [[ -n $se ]] && note+="$(grep -m1 'Socket errors' "$out" | sed 's/^ *//;s/ /_/g');"
  else
    local kvs
    kvs=$(tail -1 "$out")
    requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$kvs")
    secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$kvs")
    rps=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$kvs")
    bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$kvs")
    errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$kvs")
    lat=$(sed -n 's/.*lat_avg_us=\([0-9.]*\).*/\1/p' <<<"$kvs")
    [[ -n $lat ]] && lat=$(awk -v u="$lat" 'BEGIN { printf "%.3f", u / 1000 }')
    ((${errors:-0})) && note+="$(grep -o 'err_[a-z]*=[1-9][0-9]*' <<<"$kvs" | tr '\n' ',')"
  fi
  [[ -z $requests || -z $rps ]] && { requests=0 rps=0; note+="no_output(rc=$lrc);"; }
  ((lrc == 124 || lrc == 137)) && note+="load_timed_out;"
  local derived
  derived=$(awk -v t="$((t1 - t0))" -v tick="$TICK" -v req="$requests" -v by="$bytes" \
    -v c="$((c1 - c0))" -v w0="$w0" -v w1="$w1" 'BEGIN {
      cpu = t / tick; wall = w1 - w0;
      printf "%.2f\t%s\t%s\t%.1f\t%.1f", cpu,
        (req > 0 ? sprintf("%.2f", cpu * 1e6 / req) : "NA"),
        (by > 0 ? sprintf("%.3f", cpu / (by / 1e9)) : "NA"),
        100 * cpu / wall, 100 * (c / 1000) / wall }')
  local teardown
  teardown=$(awk -v t="$((t1 - t_end))" -v tick="$TICK" 'BEGIN { printf "%.2f", t / tick }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$round" "$test" "$srv" "$proto" "$file" "$size" "$conns" "${CPUS[$srv]}" "${LCPUS[$srv]}" \
    "$secs" "$requests" "$rps" "$bytes" "${errors:-0}" "${lat:-NA}" "$derived" "$rss" "$rss0" \
    "$busy" "$la" "$tt" "${note:--}" "$teardown" >>"$TSV"
  IFS=$'\t' read -r _ us_req s_gb spct cpct <<<"$derived"
  log "$(printf 'r%s %-15s %-16s %9s req/s %8s us/req %7s s/GB  srv %5s%% cli %5s%%  cpu%s/cpu%s busy %s/%s%%  load %s  err %s  rss %s KiB  %s' \
    "$round" "$test" "$srv" "$rps" "$us_req" "$s_gb" "$spct" "$cpct" "$SERVER_CPU" "$CLIENT_CPU" \
    "${busy%%$'\t'*}" "${busy##*$'\t'}" "$la" "${errors:-0}" "$rss" "${note}")"
  # CPU spent after the load generator has gone: a few ms for thousands of connections; much
  # more means the server spins on dead sockets (it did once: see docs/BENCHMARKS.md).
  if awk -v td="$teardown" -v all="${derived%%$'\t'*}" 'BEGIN { exit !(td > 0.25 && td > 0.2 * all) }'; then
    anomaly "round $round $test: $srv used ${teardown} s of CPU after the load generator ended (run total ${derived%%$'\t'*} s)"
  fi
  if ((${errors:-0} > 0)) && [[ $srv == iocomp* ]]; then
    anomaly "round $round $test: $srv: ${errors} errors (${note}) load: ${cmd[*]}"
    sed 's/^/    /' "$out" >>"$ANOM"
  fi
  if ((lrc != 0 && lrc != 1)); then
    anomaly "round $round $test: load generator exit $lrc against $srv: ${cmd[*]}"
  fi
  if ! alive "$srv"; then
    anomaly "round $round $test: $srv (pid ${PID[$srv]}) DIED during the run; load: ${cmd[*]}"
    tail -20 "$T/$srv.err" 2>/dev/null | sed 's/^/    /' >>"$ANOM"
  fi
  bsleep 0.3
}

# ---------------------------------------------------------------- the test matrix
# test-id | protocol | file | connections | servers (interleaved in this order) | depth
# protocol: http = wrk -t1; lg = bench/loadgen -m http; line = bench/loadgen -m line.
# depth: requests each connection pipelines (loadgen only; 1 = one request in flight).
tests=(
  "1k-c$LOW_CONNS|http|1k|$LOW_CONNS|iocomp nginx lighttpd limitprobe"
  "16k-c$LOW_CONNS|http|16k|$LOW_CONNS|iocomp nginx lighttpd"
  "1m-c$LOW_CONNS|http|1m|$LOW_CONNS|iocomp nginx lighttpd"
  "lg-1k-c$LOW_CONNS|lg|1k|$LOW_CONNS|iocomp nginx lighttpd limitprobe|1"
  "lg-16k-c$LOW_CONNS|lg|16k|$LOW_CONNS|iocomp|1"
  "line-1k-c$LOW_CONNS|line|1k|$LOW_CONNS|iocomp|1"
  "line-16k-c$LOW_CONNS|line|16k|$LOW_CONNS|iocomp|1"
  "scale-1k-c$SCALE_CONNS-d$SCALE_DEPTH|lg|1k|$SCALE_CONNS|iocomp iocomp-1w-shared iocomp-2w-shared|$SCALE_DEPTH"
)
if ((!NO_BIG)); then
  tests+=(
    "1k-c$BIG_CONNS|http|1k|$BIG_CONNS|iocomp nginx lighttpd limitprobe"
    "16k-c$BIG_CONNS|http|16k|$BIG_CONNS|iocomp nginx lighttpd"
    "1m-c$BIG_CONNS|http|1m|$BIG_CONNS|iocomp nginx lighttpd"
    "lg-1k-c$BIG_CONNS|lg|1k|$BIG_CONNS|iocomp nginx lighttpd limitprobe|1"
  )
fi
((NO_HUGE)) || tests+=("100m-c$HUGE_CONNS|http|100m|$HUGE_CONNS|iocomp nginx lighttpd")
if [[ -n $TESTS_RE ]]; then
  kept=()
  for spec in "${tests[@]}"; do [[ ${spec%%|*} =~ $TESTS_RE ]] && kept+=("$spec"); done
  tests=("${kept[@]}")
  ((${#tests[@]})) || die "--tests '$TESTS_RE' matches no test"
fi

nruns=0
for spec in "${tests[@]}"; do
  IFS='|' read -r id proto file conns servers <<<"$spec"
  for s in $servers; do
    key=$s
    [[ $proto == line ]] && key=iocomp-line
    enabled "$key" && is_running "$s" && nruns=$((nruns + 1))
  done
done
log "$nruns runs per round x $ROUNDS rounds x ${DURATION}s (about $((nruns * ROUNDS * (DURATION + 1) / 60 + 1)) min); results: $TSV"

for ((r = 1; r <= ROUNDS; r++)); do
  for spec in "${tests[@]}"; do
    IFS='|' read -r id proto file conns servers depth <<<"$spec"
    for s in $servers; do
      key=$s
      [[ $proto == line ]] && key=iocomp-line
      enabled "$key" && is_running "$s" || continue
      measure "$r" "$id" "$s" "$proto" "$file" "$conns" "${depth:-1}"
    done
  done
done

# ---------------------------------------------------------------- report
if [[ -s $ANOM ]]; then
  cp "$ANOM" "$RESULTS_DIR/$stamp.anomalies.txt"
  sed 's/^/# anomaly: /' "$ANOM" >>"$TSV"
fi
python3 "$here/report.py" "$TSV" >"$RESULTS_DIR/$stamp.md" || log "report.py failed"
python3 "$here/chart.py" "$TSV" "$RESULTS_DIR/$stamp.svg" || log "chart.py failed"
cat "$RESULTS_DIR/$stamp.md"
echo
echo "raw results: $TSV"
echo "table:       $RESULTS_DIR/$stamp.md"
echo "chart:       $RESULTS_DIR/$stamp.svg"
[[ -s $ANOM ]] && echo "anomalies:   $RESULTS_DIR/$stamp.anomalies.txt"
exit 0
