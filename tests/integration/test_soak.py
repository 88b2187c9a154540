"""Soak tests, bounded in time: many idle connections, slowloris, clients that reset
mid-transfer, and a million requests, each checked against what a normal client gets and
against the server's descriptor count and resident memory.

The measured figures are printed to stderr (lines starting with "soak:") so that they appear
in the ctest log. In the sanitizer build (IOCOMP_SLOW_BUILD=1, harness.SLOW == 4) some counts
are scaled down; each test says which and why.
"""
import hashlib
import os
import resource
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import MODEL, SLOW, Server, TempRoot, make_file, recv_exactly  # noqa: E402

LOADGEN_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "../../bench/loadgen.c")
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
# Client source addresses besides 127.0.0.1, so that thousands of connections stay under the
# default --max-connections-per-ip (256) and each address needs few ephemeral ports.
SOURCES = [f"127.0.0.{i}" for i in range(2, 52)]
# A pool thread (Example 4) serves one client at a time: the tests that keep 50 transfers or 64
# lockstep clients going at once give the pool a thread for each, plus a margin.
POOL_FOR_CONCURRENCY = {"threads": 80} if MODEL == "thread-pool" else {}


def report(text):
    print(f"soak: {text}", file=sys.stderr, flush=True)


# Descriptor counts are these tests' leak detector: cached files must not expire in the middle
# of a measurement (unused entries close after --file-cache-valid; test_file_cache covers that).
# The pool is the exception: each of its threads has a cache of its own, so which threads hold a
# file open depends on scheduling; there the caches must expire for the counts to settle.
STEADY_CACHE = () if MODEL == "thread-pool" else ("--file-cache-valid", "3600")


def wait_until(predicate, timeout):
    """Polls `predicate` for up to `timeout` seconds; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


def open_connections(port, count, sources, batch=500, timeout=30.0, rcvbuf=None):
    """Opens `count` TCP connections with non-blocking connects, `batch` at a time, spread
    round-robin over the source addresses. Returns the connected (non-blocking) sockets."""
    sockets = []
    deadline = time.monotonic() + timeout * SLOW
    try:
        while len(sockets) < count:
            pending = {}
            for i in range(len(sockets), min(count, len(sockets) + batch)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                if rcvbuf:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((sources[i % len(sources)], 0))
                err = s.connect_ex(("127.0.0.1", port))
                if err not in (0, 115):  # EINPROGRESS
                    s.close()
                    raise AssertionError(f"connect #{i}: {os.strerror(err)}")
                pending[s.fileno()] = s
            with selectors.DefaultSelector() as sel:
                for s in pending.values():
                    sel.register(s, selectors.EVENT_WRITE)
                while pending:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        for s in pending.values():
                            s.close()
                        raise AssertionError(f"{len(pending)} connects still pending")
                    for key, _ in sel.select(min(left, 1.0)):
                        s = pending.pop(key.fd)
                        sel.unregister(s)
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            s.close()
                            raise AssertionError(f"connect failed: {os.strerror(err)}")
                        sockets.append(s)
    except BaseException:
        for s in sockets:
            s.close()
        raise
    return sockets


def settled_fd_count(server, timeout=5.0):
    """The server's descriptor count once it holds steady for 0.3 s (closes of connections
    the client just ended are done), or the last reading after `timeout` seconds."""
    deadline = time.monotonic() + timeout * SLOW
    readings = [server.fd_count()]
    while time.monotonic() < deadline:
        time.sleep(0.1)
        readings.append(server.fd_count())
        if len(set(readings[-4:])) == 1 and len(readings) >= 4:
            break
    return readings[-1]


def non_file_fds_of(kinds, root):
    """The descriptors in `kinds` (from fd_kinds) that are not files under `root`."""
    return sum(n for kind, n in kinds.items() if not kind.startswith(root + os.sep))


def non_file_fds(server, root):
    return non_file_fds_of(fd_kinds(server), root)


def fd_kinds(server):
    """The server's descriptors by kind ("socket", "anon_inode:[io_uring]", file paths...),
    for failure messages."""
    kinds = {}
    fd_dir = f"/proc/{server.proc.pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        kind = target.split(":")[0] if target.startswith("socket:") else target
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def readable_count(sockets):
    """How many of the sockets have something to read right now (data, EOF or reset): for
    connections the server should neither answer nor close, that must be 0."""
    with selectors.DefaultSelector() as sel:
        for s in sockets:
            sel.register(s, selectors.EVENT_READ)
        return len(sel.select(0))


def close_all(sockets):
    for s in sockets:
        s.close()


def client(port, source="127.0.0.1", timeout=10.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout * SLOW)
    s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_head(sock):
    """Reads up to the end of a response head; returns (head without the blank line, the bytes
    received after it)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"closed inside the head: {head[:200]!r}")
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    return head, rest


def read_http_response(sock):
    """Reads one HTTP response with a Content-Length; returns (status, body)."""
    head, body = recv_head(sock)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if len(body) < length:
        body += recv_exactly(sock, length - len(body))
    return int(head[9:12]), body


def timed_http_get(port, path):
    """GET over a fresh connection; returns (seconds from connect to last byte, status, body)."""
    start = time.monotonic()
    with client(port) as s:
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, body = read_http_response(s)
    return time.monotonic() - start, status, body


def timed_line_get(port, name, size):
    start = time.monotonic()
    with client(port) as s:
        s.sendall(name + b"\n")
        data = recv_exactly(s, size)
    return time.monotonic() - start, data


def pipelined_line(s, name, count, expected, chunk=250):
    """`count` names pipelined `chunk` at a time over the connection `s`; checks every byte."""
    done = 0
    while done < count:
        n = min(chunk, count - done)
        s.sendall((name + b"\n") * n)
        data = recv_exactly(s, n * len(expected))
        if data != expected * n:
            raise AssertionError(f"pipelined {name!r}: wrong bytes after {done} requests")
        done += n
    return count


def pipelined_http(s, path, count, body, chunk=250):
    """`count` keep-alive GETs pipelined `chunk` at a time over the connection `s`. Every
    response of the same file has the same length (fixed-width Date, same ETag): it is learned
    from the first one, then the batches are read by length and checked by count and body."""
    request = b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    s.sendall(request)
    head, rest = recv_head(s)
    rest += recv_exactly(s, len(body) - len(rest))
    if not head.startswith(b"HTTP/1.1 200 OK\r\n") or rest != body:
        raise AssertionError(f"first pipelined response: {head[:200]!r}")
    length = len(head) + 4 + len(body)
    done = 1
    while done < count:
        n = min(chunk, count - done)
        s.sendall(request * n)
        data = recv_exactly(s, n * length)
        if data.count(b"HTTP/1.1 200 OK\r\n") != n or data.count(body) != n:
            raise AssertionError(f"pipelined HTTP: wrong responses after {done} requests")
        done += n
    return count


def lockstep_line(port, conns, total, name, expected, timeout=60.0):
    """`total` line-protocol requests over `conns` connections with one request in flight per
    connection (loadgen's pattern), checking every response byte-exactly."""
    socks = []
    try:
        for _ in range(conns):
            s = client(port)
            s.setblocking(False)
            socks.append(s)
        received = {s: bytearray() for s in socks}
        sent = done = 0
        deadline = time.monotonic() + timeout * SLOW
        with selectors.DefaultSelector() as sel:
            for s in socks:
                if sent < total:
                    s.send(name + b"\n")
                    sent += 1
                    sel.register(s, selectors.EVENT_READ)
            while done < total:
                if time.monotonic() > deadline:
                    raise AssertionError(f"lockstep {name!r}: {done} of {total} in time")
                for key, _ in sel.select(1.0):
                    s = key.fileobj
                    try:
                        data = s.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    if not data:
                        raise AssertionError(f"lockstep {name!r}: closed after {done}")
                    buf = received[s]
                    buf += data
                    if len(buf) < len(expected):
                        continue
                    if buf != expected:
                        raise AssertionError(f"lockstep {name!r}: wrong response after {done}")
                    buf.clear()
                    done += 1
                    if sent < total:
                        s.send(name + b"\n")
                        sent += 1
                    else:
                        sel.unregister(s)
    finally:
        close_all(socks)
    return done


def concurrent_requests(port, jobs):
    """Runs `jobs` — (pipelined_line or pipelined_http, name, count, expected body) — each on
    its own connection, all at once. The connections are opened in order first, so that the
    acceptor's round robin gives consecutive jobs to alternate workers. Returns the total."""
    conns = [client(port) for _ in jobs]
    results = [None] * len(jobs)

    def run(i):
        try:
            func, name, count, expected = jobs[i]
            results[i] = func(conns[i], name, count, expected)
        except BaseException as e:  # reported by the caller
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(jobs))]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60 * SLOW
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
    finally:
        close_all(conns)
    for i, r in enumerate(results):
        if not isinstance(r, int):
            raise AssertionError(f"job {i} {jobs[i][:3]}: {r!r}")
    return sum(results)


class SoakTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempRoot()
        cls.root = cls.tmp.__enter__()
        os.chmod(cls.root, 0o755)
        cls.sha_1m = make_file(os.path.join(cls.root, "1m.bin"), 1 << 20, seed=11)
        cls.sha_10m = make_file(os.path.join(cls.root, "10m.bin"), 10 << 20, seed=12)
        make_file(os.path.join(cls.root, "64k.bin"), 64 << 10, seed=13)
        make_file(os.path.join(cls.root, "small.txt"), 1000, seed=14)  # kept in memory
        make_file(os.path.join(cls.root, "mid.bin"), 20000, seed=15)  # > --small-file-max
        cls.files = {}
        for name in ("1m.bin", "64k.bin", "small.txt", "mid.bin"):
            with open(os.path.join(cls.root, name), "rb") as f:
                cls.files[name] = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.__exit__(None, None, None)

    def raise_fd_limit(self, needed):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < needed:
            self.skipTest(f"RLIMIT_NOFILE hard limit {hard} < {needed} descriptors needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))

    # ------------------------------------------------------------------------------------------
    def test_0_a_backlog_of_connections_is_accepted_promptly(self):
        # 4,000 connections queue up while the server is stopped (SIGSTOP; the kernel completes
        # their handshakes into the listen backlog of 4096), as they would while it is busy or
        # during a connection storm. Once it runs again (SIGCONT) an acceptor that keeps
        # accepting while connections are queued takes tens of milliseconds (0.2 s measured
        # for 4,000 arriving while it ran). The bound is 1 s, 2 s in the sanitizer build: not
        # x4, because the time is spent waiting, not computing. The 10,000 idle connections
        # of test_1 depend on this too.
        burst = 4000
        bound = 1.0 if SLOW == 1 else 2.0
        self.raise_fd_limit(burst + 1000)
        with Server(self.root, *STEADY_CACHE, "--quiet", "--header-timeout", "120") as server:
            fd_base = settled_fd_count(server)
            samples = []
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                conns = open_connections(server.port, burst, SOURCES, batch=burst)
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            start = time.monotonic()
            try:
                def all_accepted():
                    held = server.fd_count() - fd_base
                    samples.append(f"{time.monotonic() - start:.2f}s:{held}")
                    return held >= burst

                accepted = wait_until(all_accepted, 20 * SLOW)
                seconds = time.monotonic() - start
            finally:
                close_all(conns)
            shown = " ".join(samples[:: max(1, len(samples) // 12)])
            report(f"backlog: {burst} connections queued while the server was stopped; after "
                   f"SIGCONT it held all of them after {seconds:.2f} s (held over time: {shown})")
            self.assertTrue(accepted, f"server accepted {samples[-1]} of {burst}")
            self.assertLess(seconds, bound,
                            f"accepting {burst} queued connections took {seconds:.2f} s: {shown}")

    # ------------------------------------------------------------------------------------------
    def test_1_ten_thousand_idle_connections_do_not_slow_a_download(self):
        if MODEL == "thread-pool":
            # Example 4 serves as many clients at once as it has threads: idle connections
            # hold every one, and the download waits in the queue (the limit is asserted in
            # test_defences). Not a defect to hide with 10,000 pre-spawned threads.
            self.skipTest("a thread pool cannot serve more clients than threads")
        held_count = 10000  # also under the sanitizers: idle connections cost no CPU
        self.raise_fd_limit(held_count + 1000)
        with Server(self.root, *STEADY_CACHE, "--quiet", "--header-timeout", "120") as server:
            for _ in range(2):  # both workers open 1m.bin into their file cache
                self.assertEqual(timed_line_get(server.port, b"1m.bin", 1 << 20)[1],
                                 self.files["1m.bin"])
            fd_base = settled_fd_count(server)
            rss_base = server.rss_kib()
            start = time.monotonic()
            held = open_connections(server.port, held_count, SOURCES)
            try:
                open_seconds = time.monotonic() - start
                accepted = wait_until(lambda: server.fd_count() >= fd_base + held_count,
                                      20 * SLOW)
                accept_seconds = time.monotonic() - start
                fd_held = server.fd_count()
                rss_held = server.rss_kib()
                self.assertTrue(accepted, f"server holds {fd_held - fd_base} of {held_count}")
                http_lat, line_lat = [], []
                for _ in range(5):
                    seconds, status, body = timed_http_get(server.port, b"/1m.bin")
                    self.assertEqual(status, 200)
                    self.assertEqual(hashlib.sha256(body).hexdigest(), self.sha_1m)
                    http_lat.append(seconds)
                    seconds, data = timed_line_get(server.port, b"1m.bin", 1 << 20)
                    self.assertEqual(hashlib.sha256(data).hexdigest(), self.sha_1m)
                    line_lat.append(seconds)
                self.assertEqual(readable_count(held), 0, "idle connections were closed")
                fd_during = server.fd_count()
            finally:
                close_all(held)
            returned = wait_until(lambda: server.fd_count() == fd_base, 15 * SLOW)
            fd_after = server.fd_count()
            report(f"idle: {held_count} connections from {len(SOURCES)} addresses opened in "
                   f"{open_seconds:.2f} s, all accepted after {accept_seconds:.2f} s, and held; "
                   f"1 MiB download while held: HTTP max "
                   f"{max(http_lat) * 1000:.1f} ms (median {statistics.median(http_lat) * 1000:.1f}"
                   f" ms), line max {max(line_lat) * 1000:.1f} ms (median "
                   f"{statistics.median(line_lat) * 1000:.1f} ms); server fds {fd_base} -> "
                   f"{fd_held} held -> {fd_after} after close; RSS {rss_base} KiB -> {rss_held} "
                   f"KiB held ({(rss_held - rss_base) * 1024 / held_count:.0f} B/connection)")
            self.assertLess(max(http_lat), 1.0 * SLOW)
            self.assertLess(max(line_lat), 1.0 * SLOW)
            self.assertEqual(fd_during, fd_held)
            self.assertTrue(returned, f"fd count {fd_after}, expected {fd_base}")

    # ------------------------------------------------------------------------------------------
    def test_2_slowloris_does_not_slow_a_normal_client(self):
        if MODEL == "thread-pool":
            # Slowloris is the attack this model is defenceless against: 1,000 trickling heads
            # hold every pool thread until --header-timeout (see test_1).
            self.skipTest("a thread pool cannot serve more clients than threads")
        loris_count = 1000
        requests = 20
        # The margin scales with SLOW: sanitizer builds are ~4x slower on every path.
        margin = 0.050 * SLOW
        self.raise_fd_limit(loris_count + 1000)
        with Server(self.root, *STEADY_CACHE, "--quiet", "--header-timeout", "60") as server:

            def measure():
                latencies = []
                for _ in range(requests):
                    seconds, status, body = timed_http_get(server.port, b"/64k.bin")
                    self.assertEqual(status, 200)
                    self.assertEqual(body, self.files["64k.bin"])
                    latencies.append(seconds)
                    time.sleep(0.1)  # spread over several trickle ticks
                return latencies

            timed_http_get(server.port, b"/64k.bin")  # warm both workers' caches
            timed_http_get(server.port, b"/64k.bin")
            baseline = measure()
            loris = open_connections(server.port, loris_count, SOURCES[:10])
            stop = threading.Event()
            sent = [0]
            try:
                for s in loris:  # a request head that never ends
                    s.send(b"GET /64k.bin HTTP/1.1\r\nHost: t\r\nX-Slow: ")

                def trickle():
                    for _ in range(120):  # at most 60 s
                        if stop.wait(0.5):
                            return
                        for s in loris:
                            try:
                                sent[0] += s.send(b"a")
                            except OSError:
                                pass

                thread = threading.Thread(target=trickle, daemon=True)
                thread.start()
                time.sleep(0.6)  # at least one trickle tick before measuring
                during = measure()
                answered = readable_count(loris)
            finally:
                stop.set()
                close_all(loris)
            thread.join(timeout=5)
            base_median = statistics.median(baseline)
            loris_median = statistics.median(during)
            report(f"slowloris: {loris_count} connections trickling 1 byte/0.5 s ({sent[0]} "
                   f"bytes trickled); normal client {requests} x GET 64 KiB: median "
                   f"{base_median * 1000:.2f} ms without, {loris_median * 1000:.2f} ms with "
                   f"(max {max(during) * 1000:.2f} ms); slowloris connections answered or "
                   f"closed: {answered}")
            self.assertEqual(answered, 0, "a partial request head was answered or cut early")
            self.assertLess(loris_median, base_median + margin)

    # ------------------------------------------------------------------------------------------
    def test_3_clients_resetting_mid_transfer_leave_no_trace(self):
        resets = 1000  # also under the sanitizers: each reset costs only the first sends
        batch = 50
        linger_zero = struct.pack("ii", 1, 0)
        with Server(self.root, *STEADY_CACHE, "--quiet", **POOL_FOR_CONCURRENCY) as server:
            for _ in range(2):  # both workers open 10m.bin into their file cache
                seconds, status, body = timed_http_get(server.port, b"/10m.bin")
                self.assertEqual(status, 200)
            fd_base = settled_fd_count(server)
            rss_base = server.rss_kib()
            start = time.monotonic()
            done = 0
            batches = 0
            while done < resets and time.monotonic() - start < 60 * SLOW:
                n = min(batch, resets - done)
                # A small receive buffer keeps the server mid-transfer: 10 MiB cannot fit.
                conns = open_connections(server.port, n, SOURCES[batches % 5::5], batch=n,
                                         rcvbuf=64 << 10)
                try:
                    for i, s in enumerate(conns):
                        s.setblocking(True)
                        s.settimeout(10 * SLOW)
                        if i % 2:
                            s.sendall(b"GET /10m.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                        else:
                            s.sendall(b"10m.bin\n")
                    for i, s in enumerate(conns):
                        first = recv_exactly(s, 32 << 10)
                        if i % 2:
                            self.assertTrue(first.startswith(b"HTTP/1.1 200 OK\r\n"), first[:100])
                        else:
                            self.assertEqual(len(first), 32 << 10)
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
                finally:
                    close_all(conns)  # RST: SO_LINGER 0 with unread data
                done += n
                batches += 1
            elapsed = time.monotonic() - start
            self.assertTrue(server.alive(), "server died")
            if MODEL == "thread-pool":
                # Each of the pool's 80 threads has its own file cache: how many hold 10m.bin
                # open depends on which threads served, and the two warmed ones may expire
                # (--file-cache-valid) meanwhile. What the resets left must be gone.
                def settled():
                    return server.fd_count() <= fd_base
            else:
                def settled():
                    return server.fd_count() == fd_base
            returned = wait_until(settled, 10 * SLOW)
            fd_after_resets = server.fd_count()
            self.assertEqual(done, resets, f"only {done} resets within the time bound")
            seconds, status, body = timed_http_get(server.port, b"/10m.bin")
            self.assertEqual(status, 200)
            self.assertEqual(hashlib.sha256(body).hexdigest(), self.sha_10m)
            line_seconds, data = timed_line_get(server.port, b"10m.bin", 10 << 20)
            self.assertEqual(hashlib.sha256(data).hexdigest(), self.sha_10m)
            returned_again = wait_until(settled, 10 * SLOW)
            fd_final = server.fd_count()
            rss_final = server.rss_kib()
            report(f"resets: {done} clients reset mid-transfer of 10 MiB in {batches} batches of "
                   f"{batch} in {elapsed:.2f} s; afterwards 10 MiB in {seconds * 1000:.1f} ms "
                   f"(HTTP) / {line_seconds * 1000:.1f} ms (line), byte-exact; server fds "
                   f"{fd_base} -> {fd_after_resets} after the resets -> {fd_final} at the end; "
                   f"RSS {rss_base} -> {rss_final} KiB")
            self.assertTrue(returned,
                            f"fd count {fd_after_resets} after resets, expected {fd_base}")
            self.assertTrue(returned_again, f"fd count {fd_final}, expected {fd_base}")

    # ------------------------------------------------------------------------------------------
    def test_4_a_million_requests_leak_no_descriptor_and_no_memory(self):
        gcc = shutil.which("gcc")
        if gcc is None:
            self.skipTest("gcc is missing: cannot build bench/loadgen.c")
        # Under the sanitizers the server is several times slower: 100,000 requests.
        target = 1_000_000 if SLOW == 1 else 100_000
        http_count = 40_000 if SLOW == 1 else 8_000
        with tempfile.TemporaryDirectory(prefix="iocomp-loadgen-") as build:
            loadgen = os.path.join(build, "loadgen")
            subprocess.run([gcc, "-O2", "-pthread", "-o", loadgen, LOADGEN_SOURCE],
                           check=True, timeout=60)
            with Server(self.root, *STEADY_CACHE, "--quiet", "--max-requests-per-connection",
                        "0", **POOL_FOR_CONCURRENCY) as server:
                port = server.port
                small, mid = self.files["small.txt"], self.files["mid.bin"]
                # Warm-up, 10,000 requests in the same patterns as the measured run: the line
                # protocol on 64 connections with one request in flight each (as loadgen
                # does), for a file kept in memory and one sent from its descriptor, and
                # pipelined HTTP for both on pairs of consecutive connections (the acceptor
                # hands connections to the two workers in turn, so both workers' file caches
                # hold both files). File caches, per-connection buffers, io_uring rings and the
                # allocator's arenas reach their steady size here. (A warm-up of pipelined
                # requests instead leaves a one-time step of ~1.5 MiB for loadgen's first
                # round; after this one, RSS was measured flat to within a few KiB.)
                warm = lockstep_line(port, 64, 4000, b"small.txt", small)
                warm += lockstep_line(port, 64, 3000, b"mid.bin", mid)
                warm += concurrent_requests(
                    port, [(pipelined_http, b"/small.txt" if i % 4 < 2 else b"/mid.bin",
                            375, small if i % 4 < 2 else mid) for i in range(8)])
                self.assertEqual(warm, 10_000)
                fd_warm = settled_fd_count(server)
                fds_warm = fd_kinds(server)
                rss_warm = server.rss_kib()

                line_total = 0
                rounds = 0
                start = time.monotonic()
                line_target = target - http_count
                while line_total < line_target and rounds < 60:
                    self.assertLess(time.monotonic() - start, 120 * SLOW, "load too slow")
                    name, size = (b"small.txt", len(small)) if rounds % 2 == 0 else \
                                 (b"mid.bin", len(mid))
                    args = [loadgen, "-c", "64", "-d", "2" if SLOW == 1 else "3", "-n",
                            name.decode(), "-s", str(size), "-p", str(port), "-q"]
                    if rounds >= 2:
                        args.append("-P")  # the pre-flight check ran once per file
                    out = subprocess.run(args, capture_output=True, timeout=60 * SLOW)
                    last = out.stdout.decode().strip().splitlines()[-1] if out.stdout else ""
                    fields = dict(kv.split("=", 1) for kv in last.split() if "=" in kv)
                    self.assertEqual(out.returncode, 0, f"loadgen: {last} {out.stderr[-500:]!r}")
                    self.assertEqual(fields.get("errors"), "0", last)
                    line_total += int(fields["requests"])
                    rounds += 1
                line_seconds = time.monotonic() - start
                http_start = time.monotonic()
                http_total = concurrent_requests(
                    port, [(pipelined_http, b"/small.txt" if i % 4 < 2 else b"/mid.bin",
                            http_count // 8, small if i % 4 < 2 else mid) for i in range(8)])
                http_seconds = time.monotonic() - http_start
                total = warm + line_total + http_total
                self.assertTrue(server.alive())
                if MODEL == "thread-pool":
                    # Cached files come and go with the pool's per-thread caches (expiring after
                    # --file-cache-valid): every other descriptor must be back, and no more files.
                    def fds_back():
                        return (non_file_fds(server, self.root) == non_file_fds_of(fds_warm,
                                                                                    self.root)
                                and server.fd_count() <= fd_warm)
                else:
                    def fds_back():
                        return server.fd_count() == fd_warm
                fd_returned = wait_until(fds_back, 10 * SLOW)
                fd_after = server.fd_count()
                time.sleep(0.5)
                rss_after = server.rss_kib()
                report(f"million: {total} requests ({warm} warm-up, {line_total} line protocol "
                       f"by loadgen in {rounds} rounds at {line_total / line_seconds:.0f} req/s, "
                       f"{http_total} pipelined HTTP at {http_total / http_seconds:.0f} req/s); "
                       f"server fds {fd_warm} after warm-up -> {fd_after} after; RSS {rss_warm} "
                       f"KiB after warm-up -> {rss_after} KiB after "
                       f"({rss_after - rss_warm:+d} KiB)")
                self.assertGreaterEqual(line_total + http_total, target)
                self.assertTrue(fd_returned, f"fd count {fd_after}, expected {fd_warm}: "
                                             f"{fds_warm} then {fd_kinds(server)}")
                # RSS bound: +4 MiB over the post-warm-up figure. The warm-up brought caches,
                # buffers and allocator arenas to their steady size in the same request
                # patterns, so a healthy server stays within allocator noise (measured: a few
                # KiB over 1M requests); 4 MiB leaves room for that noise and for a different
                # spread of connections over the workers, while a leak of 5 bytes per request
                # (or one 4 KiB page per 1,000 requests) exceeds it after 1M requests. The
                # sanitizer build keeps the same bound for its 100,000+ requests (measured
                # +0.7 MiB there: ASan's quarantine recycles freed blocks); LeakSanitizer
                # checks the rest at exit.
                self.assertLessEqual(rss_after - rss_warm, 4096,
                                     f"RSS grew from {rss_warm} to {rss_after} KiB")


if __name__ == "__main__":
    unittest.main()
