/* loadgen: closed-loop load generator for iocomp's line protocol and for HTTP/1.1 (issue 5).
 *
 *   loadgen -c CONNS -d SECONDS -n NAME -s EXPECTED_SIZE -p PORT [-m line|http] [-D DEPTH]
 *           [-H HOST] [-t THREADS] [-T STALL_TIMEOUT_S] [-q] [-P]
 *
 * Opens CONNS TCP connections to HOST:PORT (default 127.0.0.1). Each connection sends DEPTH
 * requests for NAME at once (default 1: no pipelining), waits until all DEPTH responses have
 * arrived, checks each one, and sends the next DEPTH requests. Runs for SECONDS and stops.
 *
 *   -m line  (default) the request is "NAME\n"; a response is exactly EXPECTED_SIZE bytes.
 *   -m http  the request is "GET /NAME HTTP/1.1" with a Host header; a response must have
 *            status 200 and "Content-Length: EXPECTED_SIZE", and then that many body bytes.
 *            A response with "Connection: close" ends the connection after its body; the
 *            connection is reopened and counted in reconnects= (not an error).
 *
 * A response counts as an error (the connection is closed and reopened) when:
 *   - line: it starts with the server's error text "File transmit error!\r\n";
 *     http: its status is not 200, its Content-Length is missing or not EXPECTED_SIZE, or its
 *     head is malformed or longer than 8 KiB (err_text),
 *   - bytes arrive while no request is outstanding (err_extra),
 *   - the server closes the connection or resets it (err_closed),
 *   - it makes no progress for STALL_TIMEOUT_S seconds (default 5; err_stall).
 * Before the run, one blocking pre-flight request checks the response (it waits 300 ms of
 * silence after the last byte); a mismatch exits 2. -P skips it. -q drops the summary.
 *
 * Cost per request on the client: one send per DEPTH requests and usually one recv per
 * response, plus a share of one epoll_wait; connections stay registered for input only, so a
 * steady state makes no epoll_ctl calls. This is what lets one client core keep a server core
 * busy (wrk spends more per request: see bench/README.md). -t splits the connections over
 * THREADS epoll loops.
 *
 * The last line of output is machine-readable:
 *   requests=N seconds=S rps=R bytes=B errors=E err_text=.. err_extra=.. err_closed=..
 *   err_stall=.. err_connect=.. reconnects=.. conns=C depth=D lat_avg_us=.. lat_max_us=..
 *   lat_p50_us=.. lat_p99_us=..
 * (latency: from sending a batch of DEPTH requests to its last response byte; percentiles
 * from a histogram, accurate to 1/16 of the value).
 * Exit status: 0 if no errors, 1 if errors occurred, 2 on usage / pre-flight failure.
 * Build: gcc -O2 -pthread -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char ERRTEXT[] = "File transmit error!\r\n";
#define ERRLEN (sizeof ERRTEXT - 1)
#define RBUF (256 * 1024)
#define HEADMAX 8192

enum { ST_CONNECTING, ST_SENDING, ST_RECEIVING, ST_IDLE };
enum { MODE_LINE, MODE_HTTP };

struct conn {
  int fd;
  int state;
  int outstanding;    /* responses still expected for the batch in flight */
  int close_after;    /* http: this response said Connection: close */
  int in_body;        /* http: the head of the current response is complete */
  size_t sent;        /* bytes of the batch written */
  uint64_t got;       /* line: bytes of the current response received */
  uint64_t body_left; /* http: body bytes still expected */
  uint64_t t_start;   /* ns, batch start */
  uint64_t t_last;    /* ns, last progress */
  size_t head_len;    /* line: first bytes kept; http: head bytes kept */
  char head[HEADMAX];
};

/* Batch latencies in a log-linear histogram: 16 sub-buckets per power of two of microseconds,
 * so a percentile is within 1/16 (6 %) of the true value, from 1 us to over an hour. */
#define LAT_BUCKETS (40 * 16)

struct stats {
  uint64_t requests, bytes, lat_sum_ns, lat_max_ns, batches, reconnects;
  uint64_t err_text, err_extra, err_closed, err_stall, err_connect;
  uint64_t lat_hist[LAT_BUCKETS];
};

static int lat_bucket(uint64_t us) {
  if (us < 16) return (int)us;
  int e = 63 - __builtin_clzll(us); /* >= 4 */
  int b = (e - 3) * 16 + (int)((us >> (e - 4)) & 15);
  return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

/* The upper bound, in microseconds, of the values in bucket b. */
static double lat_bucket_top(int b) {
  if (b < 16) return b;
  int e = b / 16 + 3;
  uint64_t sub = (uint64_t)(b % 16);
  return (double)(((16 + sub + 1) << (e - 4)) - 1);
}

static double lat_percentile(const struct stats* t, double p) {
  if (t->batches == 0) return 0;
  uint64_t rank = (uint64_t)(p * (double)t->batches);
  if (rank >= t->batches) rank = t->batches - 1;
  uint64_t seen = 0;
  for (int b = 0; b < LAT_BUCKETS; b++) {
    seen += t->lat_hist[b];
    if (seen > rank) return lat_bucket_top(b);
  }
  return lat_bucket_top(LAT_BUCKETS - 1);
}

static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;
static int g_mode = MODE_LINE;
static int g_depth = 1;
static char* g_req; /* one request */
static size_t g_reqlen;
static char* g_batch; /* g_depth requests */
static size_t g_batchlen;
static uint64_t g_expect;
static uint64_t g_deadline_ns, g_stall_ns;
static volatile sig_atomic_t g_stop;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen -c CONNS -d SECONDS -n NAME -s EXPECTED_SIZE -p PORT "
          "[-m line|http] [-D DEPTH] [-H HOST] [-t THREADS] [-T STALL_TIMEOUT_S] [-q] [-P]\n");
  exit(2);
}

struct worker {
  pthread_t th;
  int nconns;
  struct conn* c;
  int ep;
  struct stats st;
  char* buf;
};

static int open_conn(struct worker* w, struct conn* c) {
  int fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("socket");
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->outstanding = 0;
  int r = connect(fd, (struct sockaddr*)&g_addr, g_addrlen);
  if (r < 0 && errno != EINPROGRESS) {
    close(fd);
    c->fd = -1;
    w->st.err_connect++;
    return -1;
  }
  c->state = ST_CONNECTING;
  c->t_last = now_ns();
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

static void drop_conn(struct worker* w, struct conn* c) {
  if (c->fd >= 0) {
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->state = ST_IDLE;
}

static void reopen(struct worker* w, struct conn* c) {
  drop_conn(w, c);
  if (!g_stop && now_ns() < g_deadline_ns) open_conn(w, c);
}

static void start_response(struct conn* c) {
  c->got = 0;
  c->head_len = 0;
  c->in_body = 0;
  c->close_after = 0;
}

/* Writes the rest of the batch. Returns 0 when done or pending, -1 on error. */
static int send_batch(struct worker* w, struct conn* c, int first) {
  if (first) {
    c->sent = 0;
    c->outstanding = g_depth;
    start_response(c);
    c->t_start = c->t_last = now_ns();
  }
  while (c->sent < g_batchlen) {
    ssize_t n = send(c->fd, g_batch + c->sent, g_batchlen - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) {
        if (c->state != ST_SENDING) {
          struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
          epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
        c->state = ST_SENDING;
        return 0;
      }
      return -1;
    }
    c->sent += (size_t)n;
  }
  if (c->state != ST_RECEIVING) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
  }
  c->state = ST_RECEIVING;
  return 0;
}

/* Case-insensitive search for a header line "name: value" in a response head; returns the
 * value's start (leading blanks skipped) or NULL. */
static const char* find_header(const char* head, size_t len, const char* name) {
  size_t nl = strlen(name);
  const char* end = head + len;
  const char* p = memchr(head, '\n', len); /* skip the status line */
  while (p && p + 1 + nl + 1 <= end) {
    p++;
    if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char* v = p + nl + 1;
      while (v < end && (*v == ' ' || *v == '\t')) v++;
      return v;
    }
    p = memchr(p, '\n', (size_t)(end - p));
  }
  return NULL;
}

/* http: the head (c->head, c->head_len bytes, ending in CRLF CRLF) of one response.
 * Returns 0 when it is a 200 with the expected Content-Length, -1 otherwise. */
static int check_head(struct conn* c) {
  if (c->head_len < 12 || memcmp(c->head, "HTTP/1.", 7) != 0 || memcmp(c->head + 8, " 200", 4) != 0)
    return -1;
  const char* cl = find_header(c->head, c->head_len, "content-length");
  if (!cl || !isdigit((unsigned char)*cl)) return -1;
  uint64_t v = strtoull(cl, NULL, 10);
  if (v != g_expect) return -1;
  const char* conn = find_header(c->head, c->head_len, "connection");
  c->close_after = conn && strncasecmp(conn, "close", 5) == 0;
  c->body_left = v;
  return 0;
}

/* Consumes up to n bytes of the current response. Returns bytes consumed, or -1 after an error
 * was counted. *done is set when the response is complete. */
static ssize_t consume(struct worker* w, struct conn* c, const char* p, size_t n, int* done) {
  *done = 0;
  if (g_mode == MODE_LINE) {
    uint64_t need = g_expect - c->got;
    size_t k = n < need ? n : (size_t)need;
    if (c->head_len < ERRLEN) { /* keep the first bytes to recognise the error text */
      size_t m = ERRLEN - c->head_len;
      if (k < m) m = k;
      memcpy(c->head + c->head_len, p, m);
      c->head_len += m;
    }
    c->got += k;
    if (g_expect != ERRLEN && c->head_len == ERRLEN && memcmp(c->head, ERRTEXT, ERRLEN) == 0) {
      w->st.err_text++;
      return -1;
    }
    *done = c->got == g_expect;
    return (ssize_t)k;
  }
  size_t used = 0;
  if (!c->in_body) {
    size_t old = c->head_len;
    size_t room = HEADMAX - old;
    size_t k = n < room ? n : room;
    if (old == 0) {
      /* Usually the whole head is in this chunk, followed by bodies (and, pipelined, more
       * responses): keep only the head, do not copy up to HEADMAX bytes per response. */
      const char* end = memmem(p, k, "\r\n\r\n", 4);
      if (end) k = (size_t)(end + 4 - p);
    }
    memcpy(c->head + old, p, k);
    c->head_len += k;
    size_t from = old >= 3 ? old - 3 : 0;
    char* e = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
    if (!e) {
      if (c->head_len == HEADMAX) {
        w->st.err_text++;
        return -1;
      }
      return (ssize_t)k;
    }
    size_t head_total = (size_t)(e + 4 - c->head);
    c->head_len = head_total;
    if (check_head(c) < 0) {
      w->st.err_text++;
      return -1;
    }
    c->in_body = 1;
    used = head_total - old;
    p += used;
    n -= used;
  }
  size_t k = n < c->body_left ? n : (size_t)c->body_left;
  c->body_left -= k;
  used += k;
  *done = c->body_left == 0;
  return (ssize_t)used;
}

static void on_readable(struct worker* w, struct conn* c) {
  ssize_t n = recv(c->fd, w->buf, RBUF, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    if (n == 0 && c->state == ST_RECEIVING && c->outstanding == 0 && c->close_after) {
      w->st.reconnects++; /* announced by Connection: close */
    } else {
      w->st.err_closed++;
    }
    reopen(w, c);
    return;
  }
  if (n < 0) return;
  uint64_t now = now_ns();
  c->t_last = now;
  w->st.bytes += (uint64_t)n;
  const char* p = w->buf;
  size_t left = (size_t)n;
  while (left > 0) {
    /* Responses may arrive while the rest of a pipelined batch is still being sent. */
    if ((c->state != ST_RECEIVING && c->state != ST_SENDING) || c->outstanding == 0) {
      /* data nobody asked for */
      w->st.err_extra++;
      reopen(w, c);
      return;
    }
    int done;
    ssize_t k = consume(w, c, p, left, &done);
    if (k < 0) {
      reopen(w, c);
      return;
    }
    p += k;
    left -= (size_t)k;
    if (!done) continue;
    w->st.requests++;
    c->outstanding--;
    if (c->outstanding > 0) {
      if (c->close_after) {
        w->st.err_closed++;
        reopen(w, c);
        return;
      } /* rest is lost */
      start_response(c);
    }
  }
  if (c->outstanding > 0) return;
  uint64_t lat = now - c->t_start;
  w->st.batches++;
  w->st.lat_sum_ns += lat;
  w->st.lat_hist[lat_bucket(lat / 1000)]++;
  if (lat > w->st.lat_max_ns) w->st.lat_max_ns = lat;
  if (c->close_after) return; /* the server closes; the recv of 0 reopens */
  if (g_stop || now >= g_deadline_ns) {
    c->state = ST_IDLE;
    return;
  }
  if (send_batch(w, c, 1) < 0) {
    w->st.err_closed++;
    reopen(w, c);
  }
}

static void* run_worker(void* arg) {
  struct worker* w = arg;
  w->ep = epoll_create1(EPOLL_CLOEXEC);
  w->buf = malloc(RBUF);
  struct epoll_event* evs = calloc(1024, sizeof *evs);
  for (int i = 0; i < w->nconns; i++) {
    w->c[i].fd = -1;
    open_conn(w, &w->c[i]);
  }
  uint64_t next_check = now_ns() + 200000000ull;
  for (;;) {
    uint64_t now = now_ns();
    if (g_stop || now >= g_deadline_ns) break;
    int ms = (int)((g_deadline_ns - now) / 1000000ull) + 1;
    if (ms > 100) ms = 100;
    int k = epoll_wait(w->ep, evs, 1024, ms);
    if (k < 0 && errno != EINTR) {
      perror("epoll_wait");
      break;
    }
    for (int i = 0; i < k; i++) {
      struct conn* c = evs[i].data.ptr;
      if (c->fd < 0) continue;
      if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
          w->st.err_connect++;
          drop_conn(w, c);
          continue; /* retried by the periodic check */
        }
        if (send_batch(w, c, 1) < 0) {
          w->st.err_closed++;
          reopen(w, c);
        }
      } else if (c->state == ST_SENDING && (evs[i].events & EPOLLOUT)) {
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
          w->st.err_closed++;
          reopen(w, c);
          continue;
        }
        if (send_batch(w, c, 0) < 0) {
          w->st.err_closed++;
          reopen(w, c);
        }
      } else {
        on_readable(w, c);
      }
    }
    now = now_ns();
    if (now >= next_check) { /* stalls, and reconnection of failed connects */
      next_check = now + 200000000ull;
      for (int i = 0; i < w->nconns; i++) {
        struct conn* c = &w->c[i];
        if (c->fd < 0) {
          if (now + 100000000ull < g_deadline_ns) open_conn(w, c);
        } else if (c->state != ST_IDLE && now - c->t_last > g_stall_ns) {
          w->st.err_stall++;
          reopen(w, c);
        }
      }
    }
  }
  for (int i = 0; i < w->nconns; i++) drop_conn(w, &w->c[i]);
  close(w->ep);
  free(evs);
  free(w->buf);
  return NULL;
}

/* One blocking request; returns the number of bytes received before 300 ms of silence
 * (or close), -1 on connection failure. The first bytes go to first[]. */
static long long preflight(char* first, size_t firstcap, size_t* first_len) {
  int fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&g_addr, g_addrlen) < 0) {
    perror("loadgen: pre-flight connect");
    if (fd >= 0) close(fd);
    return -1;
  }
  if (send(fd, g_req, g_reqlen, MSG_NOSIGNAL) != (ssize_t)g_reqlen) {
    close(fd);
    return -1;
  }
  char* buf = malloc(RBUF);
  long long total = 0;
  int timeout = 5000; /* first byte may take a while on a cold cache */
  *first_len = 0;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout);
    if (r <= 0) break;
    ssize_t n = recv(fd, buf, RBUF, 0);
    if (n <= 0) break;
    if (*first_len < firstcap) {
      size_t k = firstcap - *first_len;
      if ((size_t)n < k) k = (size_t)n;
      memcpy(first + *first_len, buf, k);
      *first_len += k;
    }
    total += n;
    timeout = (uint64_t)total >= g_expect ? 300 : 5000;
  }
  free(buf);
  close(fd);
  return total;
}

/* Checks the pre-flight response; returns 0 if it is what the run expects. */
static int check_preflight(long long total, const char* first, size_t first_len, const char* name) {
  if (total < 0) return -1;
  if (g_mode == MODE_LINE) {
    if ((uint64_t)total == g_expect) return 0;
    int is_err = total == (long long)ERRLEN && memcmp(first, ERRTEXT, ERRLEN) == 0;
    fprintf(stderr, "loadgen: pre-flight: %s\"%s\" returned %lld bytes, expected %llu\n",
            is_err ? "error text: " : "", name, total, (unsigned long long)g_expect);
    return -1;
  }
  struct conn* c = calloc(1, sizeof *c);
  const char* e = memmem(first, first_len, "\r\n\r\n", 4);
  int ok = 0;
  if (e) {
    c->head_len = (size_t)(e + 4 - first);
    memcpy(c->head, first, c->head_len);
    ok = check_head(c) == 0 && (uint64_t)total == c->head_len + g_expect;
  }
  if (!ok) {
    const char* eol = memchr(first, '\r', first_len);
    int shown = (int)(eol ? (size_t)(eol - first) : (first_len < 80 ? first_len : 80));
    fprintf(stderr,
            "loadgen: pre-flight: GET /%s: \"%.*s\", %lld bytes in all; expected 200 "
            "with a %llu-byte body\n",
            name, shown, first, total, (unsigned long long)g_expect);
  }
  free(c);
  return ok ? 0 : -1;
}

int main(int argc, char** argv) {
  int conns = 64, threads = 1, quiet = 0, port = -1, skip_preflight = 0;
  double secs = 5, stall = 5;
  const char *host = "127.0.0.1", *name = NULL;
  long long expect = -1;
  int opt;
  while ((opt = getopt(argc, argv, "c:d:n:s:H:p:t:T:m:D:qPh")) != -1) {
    switch (opt) {
      case 'c':
        conns = atoi(optarg);
        break;
      case 'd':
        secs = atof(optarg);
        break;
      case 'n':
        name = optarg;
        break;
      case 's':
        expect = atoll(optarg);
        break;
      case 'H':
        host = optarg;
        break;
      case 'p':
        port = atoi(optarg);
        break;
      case 't':
        threads = atoi(optarg);
        break;
      case 'T':
        stall = atof(optarg);
        break;
      case 'D':
        g_depth = atoi(optarg);
        break;
      case 'm':
        if (strcmp(optarg, "line") == 0)
          g_mode = MODE_LINE;
        else if (strcmp(optarg, "http") == 0)
          g_mode = MODE_HTTP;
        else
          usage();
        break;
      case 'q':
        quiet = 1;
        break;
      case 'P':
        skip_preflight = 1;
        break;
      default:
        usage();
    }
  }
  if (!name || expect < 0 || port <= 0 || port > 65535 || conns < 1 || threads < 1 || secs <= 0 ||
      g_depth < 1 || g_depth > 1024)
    usage();
  if (threads > conns) threads = conns;
  g_expect = (uint64_t)expect;
  g_stall_ns = (uint64_t)(stall * 1e9);

  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  int gr = getaddrinfo(host, ps, &hints, &ai);
  if (gr) {
    fprintf(stderr, "loadgen: %s: %s\n", host, gai_strerror(gr));
    return 2;
  }
  memcpy(&g_addr, ai->ai_addr, ai->ai_addrlen);
  g_addrlen = ai->ai_addrlen;
  freeaddrinfo(ai);

  size_t cap = strlen(name) + strlen(host) + 64;
  g_req = malloc(cap);
  if (g_mode == MODE_LINE)
    snprintf(g_req, cap, "%s\n", name);
  else
    snprintf(g_req, cap, "GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n", name, host);
  g_reqlen = strlen(g_req);
  g_batchlen = g_reqlen * (size_t)g_depth;
  g_batch = malloc(g_batchlen);
  for (int i = 0; i < g_depth; i++) memcpy(g_batch + (size_t)i * g_reqlen, g_req, g_reqlen);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conns + 64) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  if (!skip_preflight) {
    char first[HEADMAX];
    size_t first_len;
    long long pf = preflight(first, sizeof first, &first_len);
    if (check_preflight(pf, first, first_len, name) < 0) {
      printf("requests=0 seconds=0 rps=0 bytes=%lld errors=1 preflight=fail\n", pf);
      return 2;
    }
  }

  struct worker* ws = calloc((size_t)threads, sizeof *ws);
  struct conn* cs = calloc((size_t)conns, sizeof *cs);
  uint64_t t0 = now_ns();
  g_deadline_ns = t0 + (uint64_t)(secs * 1e9);
  int off = 0;
  for (int i = 0; i < threads; i++) {
    ws[i].nconns = conns / threads + (i < conns % threads);
    ws[i].c = cs + off;
    off += ws[i].nconns;
    if (threads == 1)
      run_worker(&ws[i]);
    else
      pthread_create(&ws[i].th, NULL, run_worker, &ws[i]);
  }
  struct stats t = {0};
  for (int i = 0; i < threads; i++) {
    if (threads > 1) pthread_join(ws[i].th, NULL);
    struct stats* s = &ws[i].st;
    t.requests += s->requests;
    t.bytes += s->bytes;
    t.lat_sum_ns += s->lat_sum_ns;
    t.batches += s->batches;
    t.reconnects += s->reconnects;
    if (s->lat_max_ns > t.lat_max_ns) t.lat_max_ns = s->lat_max_ns;
    for (int b = 0; b < LAT_BUCKETS; b++) t.lat_hist[b] += s->lat_hist[b];
    t.err_text += s->err_text;
    t.err_extra += s->err_extra;
    t.err_closed += s->err_closed;
    t.err_stall += s->err_stall;
    t.err_connect += s->err_connect;
  }
  double el = (double)(now_ns() - t0) / 1e9;
  uint64_t errors = t.err_text + t.err_extra + t.err_closed + t.err_stall + t.err_connect;
  double rps = t.requests / el;
  double lat_avg = t.batches ? (double)t.lat_sum_ns / t.batches / 1e3 : 0;
  if (!quiet) {
    fprintf(
        stderr,
        "loadgen: %s %s:%d \"%s\" (%llu bytes), %d connections, depth %d, %d thread(s), %.2f s\n",
        g_mode == MODE_LINE ? "line" : "http", host, port, name, (unsigned long long)g_expect,
        conns, g_depth, threads, el);
    fprintf(stderr,
            "  %llu requests, %.1f requests/s, %.2f MB/s, %llu errors, latency avg %.1f us max "
            "%.1f us\n",
            (unsigned long long)t.requests, rps, t.bytes / el / 1e6, (unsigned long long)errors,
            lat_avg, t.lat_max_ns / 1e3);
  }
  printf(
      "requests=%llu seconds=%.3f rps=%.1f bytes=%llu errors=%llu err_text=%llu err_extra=%llu "
      "err_closed=%llu err_stall=%llu err_connect=%llu reconnects=%llu conns=%d depth=%d "
      "lat_avg_us=%.1f lat_max_us=%.1f lat_p50_us=%.0f lat_p99_us=%.0f\n",
      (unsigned long long)t.requests, el, rps, (unsigned long long)t.bytes,
      (unsigned long long)errors, (unsigned long long)t.err_text, (unsigned long long)t.err_extra,
      (unsigned long long)t.err_closed, (unsigned long long)t.err_stall,
      (unsigned long long)t.err_connect, (unsigned long long)t.reconnects, conns, g_depth, lat_avg,
      t.lat_max_ns / 1e3, lat_percentile(&t, 0.50), lat_percentile(&t, 0.99));
  return errors ? 1 : 0;
}
