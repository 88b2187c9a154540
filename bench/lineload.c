/* lineload: load generator for iocomp's line protocol (issue 5).
 *
 *   lineload -c CONNS -d SECONDS -n NAME -s EXPECTED_SIZE -p PORT [-H HOST] [-t THREADS]
 *            [-T STALL_TIMEOUT_S] [-q] [-P]
 *
 * Opens CONNS TCP connections to HOST:PORT (default 127.0.0.1). On each connection it sends
 * "NAME\n", reads exactly EXPECTED_SIZE bytes, then sends the next "NAME\n": one request in
 * flight per connection (no pipelining). Runs for SECONDS and stops by itself.
 *
 * A response counts as an error (and the connection is closed and reopened) when:
 *   - it starts with the server's error text "File transmit error!\r\n" (size != 22),
 *   - bytes arrive beyond EXPECTED_SIZE (response longer than expected / stray data),
 *   - the server closes the connection or resets it,
 *   - it makes no progress for STALL_TIMEOUT_S seconds (default 5; response shorter than
 *     expected, or a hung server).
 * Before the run, a single blocking pre-flight request checks that the response is exactly
 * EXPECTED_SIZE bytes (it waits 300 ms of silence after the last byte); a mismatch exits 2.
 * -P skips the pre-flight (to exercise the error paths). -q drops the human-readable summary.
 *
 * Single-threaded epoll by default (-t splits the connections over THREADS epoll loops).
 * The last line of output is machine-readable:
 *   requests=N seconds=S rps=R bytes=B errors=E err_text=.. err_extra=.. err_closed=..
 *   err_stall=.. err_connect=.. conns=C lat_avg_us=.. lat_max_us=..
 * Exit status: 0 if no errors, 1 if errors occurred, 2 on usage / pre-flight failure.
 * Build: gcc -O2 -pthread -o lineload lineload.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
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

enum { ST_CONNECTING, ST_SENDING, ST_RECEIVING, ST_IDLE };

struct conn {
  int fd;
  int state;
  size_t sent;      /* bytes of the request line written */
  uint64_t got;     /* bytes of the current response received */
  uint64_t t_start; /* ns, request start */
  uint64_t t_last;  /* ns, last progress */
  char head[ERRLEN];/* first bytes of the response, to recognise the error text */
};

struct stats {
  uint64_t requests, bytes, lat_sum_ns, lat_max_ns;
  uint64_t err_text, err_extra, err_closed, err_stall, err_connect;
};

static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;
static char *g_req;
static size_t g_reqlen;
static uint64_t g_expect;
static uint64_t g_deadline_ns, g_stall_ns;
static volatile sig_atomic_t g_stop;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig) { (void)sig; g_stop = 1; }

static void usage(void) {
  fprintf(stderr, "usage: lineload -c CONNS -d SECONDS -n NAME -s EXPECTED_SIZE -p PORT "
                  "[-H HOST] [-t THREADS] [-T STALL_TIMEOUT_S] [-q] [-P]\n");
  exit(2);
}

struct worker {
  pthread_t th;
  int nconns;
  struct conn *c;
  int ep;
  struct stats st;
  char *buf;
};

static int open_conn(struct worker *w, struct conn *c) {
  int fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { perror("socket"); return -1; }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  memset(c, 0, sizeof *c);
  c->fd = fd;
  int r = connect(fd, (struct sockaddr *)&g_addr, g_addrlen);
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

static void drop_conn(struct worker *w, struct conn *c) {
  if (c->fd >= 0) {
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->state = ST_IDLE;
}

static void reopen(struct worker *w, struct conn *c) {
  drop_conn(w, c);
  if (!g_stop && now_ns() < g_deadline_ns) open_conn(w, c);
}

/* Writes the rest of the request line. Returns 0 when done or pending, -1 on error. */
static int send_req(struct worker *w, struct conn *c, int first) {
  if (first) {
    c->sent = 0;
    c->got = 0;
    c->t_start = c->t_last = now_ns();
  }
  while (c->sent < g_reqlen) {
    ssize_t n = send(c->fd, g_req + c->sent, g_reqlen - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) {
        if (c->state != ST_SENDING) {
          struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
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

static void on_readable(struct worker *w, struct conn *c) {
  ssize_t n = recv(c->fd, w->buf, RBUF, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    w->st.err_closed++;
    reopen(w, c);
    return;
  }
  if (n < 0) return;
  uint64_t now = now_ns();
  c->t_last = now;
  w->st.bytes += (uint64_t)n;
  if (c->state != ST_RECEIVING) { /* data while no request is in flight */
    w->st.err_extra++;
    reopen(w, c);
    return;
  }
  if (c->got < ERRLEN) { /* keep the first bytes to recognise the error text */
    size_t k = ERRLEN - (size_t)c->got;
    if ((size_t)n < k) k = (size_t)n;
    memcpy(c->head + c->got, w->buf, k);
  }
  c->got += (uint64_t)n;
  size_t head_n = c->got < ERRLEN ? (size_t)c->got : ERRLEN;
  if (g_expect != ERRLEN && memcmp(c->head, ERRTEXT, head_n) == 0 &&
      (head_n == ERRLEN || c->got > g_expect)) {
    w->st.err_text++;
    reopen(w, c);
    return;
  }
  if (c->got < g_expect) return;
  if (c->got > g_expect) {
    w->st.err_extra++;
    reopen(w, c);
    return;
  }
  /* response complete */
  uint64_t lat = now - c->t_start;
  w->st.requests++;
  w->st.lat_sum_ns += lat;
  if (lat > w->st.lat_max_ns) w->st.lat_max_ns = lat;
  if (g_stop || now >= g_deadline_ns) {
    c->state = ST_IDLE;
    return;
  }
  if (send_req(w, c, 1) < 0) {
    w->st.err_closed++;
    reopen(w, c);
  }
}

static void *run_worker(void *arg) {
  struct worker *w = arg;
  w->ep = epoll_create1(EPOLL_CLOEXEC);
  w->buf = malloc(RBUF);
  struct epoll_event *evs = calloc(1024, sizeof *evs);
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
    if (k < 0 && errno != EINTR) { perror("epoll_wait"); break; }
    for (int i = 0; i < k; i++) {
      struct conn *c = evs[i].data.ptr;
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
        if (send_req(w, c, 1) < 0) { w->st.err_closed++; reopen(w, c); }
      } else if (c->state == ST_SENDING) {
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) { w->st.err_closed++; reopen(w, c); continue; }
        if (send_req(w, c, 0) < 0) { w->st.err_closed++; reopen(w, c); }
      } else {
        on_readable(w, c);
      }
    }
    now = now_ns();
    if (now >= next_check) { /* stalls, and reconnection of failed connects */
      next_check = now + 200000000ull;
      for (int i = 0; i < w->nconns; i++) {
        struct conn *c = &w->c[i];
        if (c->fd < 0) {
          if (now + 100000000ull < g_deadline_ns) open_conn(w, c);
        } else if (now - c->t_last > g_stall_ns) {
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
 * (or close), -1 on connection failure. */
static long long preflight(char *first, size_t firstcap) {
  int fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&g_addr, g_addrlen) < 0) {
    perror("lineload: pre-flight connect");
    if (fd >= 0) close(fd);
    return -1;
  }
  if (send(fd, g_req, g_reqlen, MSG_NOSIGNAL) != (ssize_t)g_reqlen) { close(fd); return -1; }
  char *buf = malloc(RBUF);
  long long total = 0;
  int timeout = 5000; /* first byte may take a while on a cold cache */
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout);
    if (r <= 0) break;
    ssize_t n = recv(fd, buf, RBUF, 0);
    if (n <= 0) break;
    if ((size_t)total < firstcap) {
      size_t k = firstcap - (size_t)total;
      if ((size_t)n < k) k = (size_t)n;
      memcpy(first + total, buf, k);
    }
    total += n;
    timeout = (uint64_t)total >= g_expect ? 300 : 5000;
  }
  free(buf);
  close(fd);
  return total;
}

int main(int argc, char **argv) {
  int conns = 64, threads = 1, quiet = 0, port = -1, skip_preflight = 0;
  double secs = 5, stall = 5;
  const char *host = "127.0.0.1", *name = NULL;
  long long expect = -1;
  int opt;
  while ((opt = getopt(argc, argv, "c:d:n:s:H:p:t:T:qPh")) != -1) {
    switch (opt) {
    case 'c': conns = atoi(optarg); break;
    case 'd': secs = atof(optarg); break;
    case 'n': name = optarg; break;
    case 's': expect = atoll(optarg); break;
    case 'H': host = optarg; break;
    case 'p': port = atoi(optarg); break;
    case 't': threads = atoi(optarg); break;
    case 'T': stall = atof(optarg); break;
    case 'q': quiet = 1; break;
    case 'P': skip_preflight = 1; break;
    default: usage();
    }
  }
  if (!name || expect < 0 || port <= 0 || port > 65535 || conns < 1 || threads < 1 || secs <= 0)
    usage();
  if (threads > conns) threads = conns;
  g_expect = (uint64_t)expect;
  g_stall_ns = (uint64_t)(stall * 1e9);

  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  int gr = getaddrinfo(host, ps, &hints, &ai);
  if (gr) { fprintf(stderr, "lineload: %s: %s\n", host, gai_strerror(gr)); return 2; }
  memcpy(&g_addr, ai->ai_addr, ai->ai_addrlen);
  g_addrlen = ai->ai_addrlen;
  freeaddrinfo(ai);

  g_reqlen = strlen(name) + 1;
  g_req = malloc(g_reqlen + 1);
  snprintf(g_req, g_reqlen + 1, "%s\n", name);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conns + 64) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  char first[ERRLEN];
  long long pf = skip_preflight ? (long long)g_expect : preflight(first, sizeof first);
  if (pf < 0) return 2;
  if ((uint64_t)pf != g_expect) {
    int is_err = pf == (long long)ERRLEN && memcmp(first, ERRTEXT, ERRLEN) == 0;
    fprintf(stderr, "lineload: pre-flight: %s\"%s\" returned %lld bytes, expected %llu\n",
            is_err ? "error text: " : "", name, pf, (unsigned long long)g_expect);
    printf("requests=0 seconds=0 rps=0 bytes=%lld errors=1 preflight=fail\n", pf);
    return 2;
  }

  struct worker *ws = calloc((size_t)threads, sizeof *ws);
  struct conn *cs = calloc((size_t)conns, sizeof *cs);
  uint64_t t0 = now_ns();
  g_deadline_ns = t0 + (uint64_t)(secs * 1e9);
  int off = 0;
  for (int i = 0; i < threads; i++) {
    ws[i].nconns = conns / threads + (i < conns % threads);
    ws[i].c = cs + off;
    off += ws[i].nconns;
    if (threads == 1) run_worker(&ws[i]);
    else pthread_create(&ws[i].th, NULL, run_worker, &ws[i]);
  }
  struct stats t = {0};
  for (int i = 0; i < threads; i++) {
    if (threads > 1) pthread_join(ws[i].th, NULL);
    struct stats *s = &ws[i].st;
    t.requests += s->requests; t.bytes += s->bytes; t.lat_sum_ns += s->lat_sum_ns;
    if (s->lat_max_ns > t.lat_max_ns) t.lat_max_ns = s->lat_max_ns;
    t.err_text += s->err_text; t.err_extra += s->err_extra; t.err_closed += s->err_closed;
    t.err_stall += s->err_stall; t.err_connect += s->err_connect;
  }
  double el = (double)(now_ns() - t0) / 1e9;
  uint64_t errors = t.err_text + t.err_extra + t.err_closed + t.err_stall + t.err_connect;
  double rps = t.requests / el;
  double lat_avg = t.requests ? (double)t.lat_sum_ns / t.requests / 1e3 : 0;
  if (!quiet) {
    fprintf(stderr, "lineload: %s:%d \"%s\" (%llu bytes), %d connections, %d thread(s), %.2f s\n",
            host, port, name, (unsigned long long)g_expect, conns, threads, el);
    fprintf(stderr, "  %llu requests, %.1f requests/s, %.2f MB/s, %llu errors, latency avg %.1f us max %.1f us\n",
            (unsigned long long)t.requests, rps, t.bytes / el / 1e6, (unsigned long long)errors,
            lat_avg, t.lat_max_ns / 1e3);
  }
  printf("requests=%llu seconds=%.3f rps=%.1f bytes=%llu errors=%llu err_text=%llu err_extra=%llu "
         "err_closed=%llu err_stall=%llu err_connect=%llu conns=%d lat_avg_us=%.1f lat_max_us=%.1f\n",
         (unsigned long long)t.requests, el, rps, (unsigned long long)t.bytes,
         (unsigned long long)errors, (unsigned long long)t.err_text,
         (unsigned long long)t.err_extra, (unsigned long long)t.err_closed,
         (unsigned long long)t.err_stall, (unsigned long long)t.err_connect, conns, lat_avg,
         t.lat_max_ns / 1e3);
  return errors ? 1 : 0;
}
