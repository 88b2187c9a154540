# bench/lib.sh: what the scripts that measure iocomp beside nginx share (access_log.sh, cold.sh,
# tls.sh). Sourced, not run; the caller has set $tmp (with $tmp/nginx and $tmp/root made).

# nice_cmd: the prefix that runs servers and clients at nice -20 when this user may (it then
# renices the calling script too), else empty.
bench_nice() {
  nice_cmd=()
  if nice -n -20 true 2>/dev/null; then nice_cmd=(nice -n -20); renice -n -20 -p $$ >/dev/null; fi
}

# Writes $tmp/nginx/nginx.conf: one process (master_process off), sendfile, keep-alive without
# limits, serving $tmp/root. Arguments: the server block's listen lines, then extra directives
# for the http block (access_log, open_file_cache, aio...), then for the server block (ssl_*).
nginx_conf_for() { # listen-lines http-directives [server-directives]
  cat >"$tmp/nginx/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
user root;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 1000000000;
    keepalive_timeout 3600s;
$2
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
$1
        root $tmp/root;
${3:-}
        location / { }
    }
}
NGINX
}

# Starts nginx with that configuration on CPU 0, in the background ($! is its pid).
start_nginx() {
  taskset -c 0 "${nice_cmd[@]}" nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" \
    -e "$tmp/nginx/error.log" >/dev/null 2>&1 &
}

# Waits (up to 2.5 s) until `url` answers; extra arguments go to curl. Says which server did not
# start (`name`, for the message) and fails otherwise.
wait_serving() { # name url [curl-args...]
  local name=$1 url=$2
  shift 2
  for _ in $(seq 50); do
    curl -s "$@" -o /dev/null "$url" && return 0
    sleep 0.05
  done
  echo "$(basename "$0"): $name did not start" >&2
  return 1
}
