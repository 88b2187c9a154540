"""Operations: the access log (combined and JSON, reopened on SIGHUP), the admin port
(/metrics parsed by the Prometheus client's own parser, /healthz), the per-connection rate limit,
and the live status line on a terminal. Run once per server model."""
import http.client
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BINARY, MODEL, MODEL_ARGS, SLOW, TRANSMIT_ERROR, Server, TempRoot,
                     make_file)

from prometheus_client.parser import text_string_to_metric_families


def http_get(port, path, headers=None, timeout=10):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout * SLOW) as response:
        return response.status, response.read()


def line_get(port, name, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW) as s:
        s.sendall(name.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                return data
            data += chunk


def wait_for_lines(path, count, timeout=5.0):
    deadline = time.monotonic() + timeout * SLOW
    lines = []
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            if len(lines) >= count:
                return lines
        time.sleep(0.02)
    return lines


def admin_port(server):
    assert server.wait_for_log(r"metrics on http://[^ ]+:(\d+)/metrics")
    return int(re.search(r"metrics on http://[^ ]+:(\d+)/metrics", server.log()).group(1))


def scrape(port):
    status, body = http_get(port, "/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    return families


def value(families, name, **labels):
    """The value of the sample `name` with exactly `labels` (the family is found by prefix)."""
    for family in families.values():
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise KeyError(f"{name} {labels}")


class AccessLogTest(unittest.TestCase):
    def test_combined_lines_for_both_protocols_with_escaped_client_fields(self):
        with TempRoot() as root, TempRoot() as logs:
            make_file(os.path.join(root, "f.bin"), 5000)
            path = os.path.join(logs, "access.log")
            with Server(root, "--access-log", path) as server:
                status, body = http_get(server.port, "/f.bin", {
                    "User-Agent": 'evil "agent" \\', "Referer": "http://example.org/x"})
                self.assertEqual((status, len(body)), (200, 5000))
                self.assertEqual(len(line_get(server.port, "f.bin")), 5000)
                self.assertEqual(line_get(server.port, "missing.txt"), TRANSMIT_ERROR)
                lines = wait_for_lines(path, 3)
            self.assertEqual(len(lines), 3, lines)
            # Two workers write them: a request's line is written when its send completes, which
            # the worker may see after the client already has the bytes and asked the other
            # worker for the next one. Compared in request order, not in file order.
            order = ('"GET /f.bin', '"f.bin"', '"missing.txt"')
            lines.sort(key=lambda line: [i for i, key in enumerate(order) if key in line] or [9])
            pattern = (r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                       r'"GET /f\.bin HTTP/1\.1" 200 5000 "http://example\.org/x" '
                       r'"evil \\x22agent\\x22 \\x5c"$')
            self.assertRegex(lines[0], pattern)
            self.assertRegex(lines[1], r'^127\.0\.0\.1 - - \[[^]]+\] "f\.bin" 200 5000 "-" "-"$')
            self.assertRegex(lines[2], r'^127\.0\.0\.1 - - \[[^]]+\] "missing\.txt" 404 22 ')
            # The article's event log is still there, beside it.
            self.assertIn("request GET /f.bin", server.log())

    def test_json_lines(self):
        with TempRoot() as root, TempRoot() as logs:
            make_file(os.path.join(root, "f.bin"), 70000)
            path = os.path.join(logs, "access.json")
            with Server(root, "--access-log", path, "--log-format", "json", "--quiet") as server:
                http_get(server.port, "/f.bin", {"Range": "bytes=0-99", "User-Agent": "t\u00e9st"})
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                    s.sendall(b"GET /\x01bad HTTP/1.1\r\n\r\n")
                    s.recv(4096)
                lines = wait_for_lines(path, 2)
            records = sorted((json.loads(line) for line in lines), key=lambda r: r["status"])
            self.assertEqual(len(records), 2)
            first = records[0]
            self.assertEqual(first["client"], "127.0.0.1")
            self.assertIsInstance(first["port"], int)
            self.assertEqual(
                (first["protocol"], first["method"], first["target"], first["version"],
                 first["status"], first["body_bytes"], first["user_agent"], first["ended"]),
                ("http", "GET", "/f.bin", "HTTP/1.1", 206, 100, "t\\xe9st", "complete"))
            # (urllib sends the header in Latin-1: the lone byte 0xe9 is not UTF-8, so it is
            # escaped, as in the text logs.)
            self.assertGreater(first["bytes_sent"], 100)
            self.assertRegex(first["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertGreaterEqual(first["duration_ms"], 0)
            self.assertIsNone(first["referer"])
            self.assertEqual(records[1]["status"], 400)
            self.assertIsNone(records[1]["method"])
            self.assertEqual(records[1]["target"], "GET /\\x01bad HTTP/1.1")

    def test_sighup_reopens_the_log_after_a_rotation(self):
        with TempRoot() as root, TempRoot() as logs:
            make_file(os.path.join(root, "f.bin"), 100)
            path = os.path.join(logs, "access.log")
            with Server(root, "--access-log", path) as server:
                http_get(server.port, "/f.bin?before")
                self.assertEqual(len(wait_for_lines(path, 1)), 1)
                os.rename(path, path + ".1")  # logrotate
                http_get(server.port, "/f.bin?between")  # still the renamed file
                # (A line is written when the server sees its send complete, which may be just
                # after the client has the bytes: wait for it before rotating.)
                self.assertEqual(len(wait_for_lines(path + ".1", 2)), 2)
                server.proc.send_signal(signal.SIGHUP)
                self.assertTrue(server.wait_for_log(r"received SIGHUP: reopened the access log"))
                http_get(server.port, "/f.bin?after")
                new_lines = wait_for_lines(path, 1)
                old_lines = wait_for_lines(path + ".1", 2)
                self.assertTrue(server.alive())
            self.assertEqual(len(new_lines), 1, new_lines)
            self.assertIn("?after", new_lines[0])
            self.assertEqual(len(old_lines), 2, old_lines)
            self.assertIn("?before", old_lines[0])
            self.assertIn("?between", old_lines[1])

    def test_sighup_keeps_the_old_file_when_the_new_one_cannot_be_opened(self):
        with TempRoot() as root, TempRoot() as logs:
            make_file(os.path.join(root, "f.bin"), 100)
            path = os.path.join(logs, "sub", "access.log")
            os.mkdir(os.path.dirname(path))
            with Server(root, "--access-log", path) as server:
                os.rename(path, os.path.join(logs, "moved.log"))
                os.rmdir(os.path.dirname(path))  # the directory is gone: cannot reopen
                server.proc.send_signal(signal.SIGHUP)
                self.assertTrue(server.wait_for_log(
                    r"SIGHUP: error: access log not reopened, still writing to the old file: "
                    r".*No such file"))
                http_get(server.port, "/f.bin")
                lines = wait_for_lines(os.path.join(logs, "moved.log"), 1)
            self.assertEqual(len(lines), 1)

    def test_standard_output_with_quiet(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "f.bin"), 10)
            with Server(root, "--access-log", "-", "--quiet") as server:
                http_get(server.port, "/f.bin")
                self.assertTrue(server.wait_for_log(r'"GET /f\.bin HTTP/1\.1" 200 10 '))
                self.assertNotIn("request GET", server.log())  # events stay off

    def test_an_unwritable_path_is_refused_at_start(self):
        with TempRoot() as root:
            result = subprocess.run(
                [BINARY, "--root", root, "--port", "0", "--listen", "127.0.0.1",
                 "--access-log", "/nonexistent-dir/access.log", *MODEL_ARGS],
                capture_output=True, timeout=10 * SLOW)
            self.assertEqual(result.returncode, 1)
            self.assertIn(b"/nonexistent-dir/access.log: No such file or directory", result.stderr)


class MetricsTest(unittest.TestCase):
    def test_scrape_parses_and_counters_move(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "f.bin"), 100000)
            with Server(root, "--admin", "127.0.0.1:0") as server:
                port = admin_port(server)
                before = scrape(port)
                for expected in ["iocomp_connections_open", "iocomp_connections_accepted",
                                 "iocomp_connections_refused", "iocomp_requests",
                                 "iocomp_sent_bytes", "iocomp_request_duration_seconds",
                                 "iocomp_errors", "iocomp_worker_connections",
                                 "iocomp_file_cache_hits", "iocomp_file_cache_misses",
                                 "iocomp_log_dropped_bytes", "process_resident_memory_bytes"]:
                    self.assertIn(expected, before)
                self.assertEqual(before["iocomp_request_duration_seconds"].type, "histogram")
                self.assertEqual(before["iocomp_requests"].type, "counter")
                # One keep-alive connection: even thread-per-connection's private cache hits.
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                for _ in range(3):
                    connection.request("GET", "/f.bin")
                    self.assertEqual(len(connection.getresponse().read()), 100000)
                connection.close()
                self.assertEqual(line_get(server.port, "nope"), TRANSMIT_ERROR)
                with self.assertRaises(urllib.error.HTTPError):
                    http_get(server.port, "/missing")
                # A connection that sends nothing is open while we scrape.
                with socket.create_connection(("127.0.0.1", server.port)):
                    deadline = time.monotonic() + 5 * SLOW
                    while time.monotonic() < deadline:
                        during = scrape(port)
                        workers = sum(s.value for s in during["iocomp_worker_connections"].samples)
                        if value(during, "iocomp_connections_open") >= 1 and workers >= 1:
                            break
                        time.sleep(0.02)
                    self.assertGreaterEqual(value(during, "iocomp_connections_open"), 1)
                    self.assertGreaterEqual(
                        sum(s.value for s in during["iocomp_worker_connections"].samples), 1)
                # A request is counted when the server sees its send complete, which can be
                # after the client has every byte (a thread model's thread may not have run
                # yet): wait for the counts to settle.
                deadline = time.monotonic() + 5 * SLOW
                while True:
                    after = scrape(port)
                    done = (value(after, "iocomp_request_duration_seconds_count") -
                            value(before, "iocomp_request_duration_seconds_count"))
                    if done >= 5 or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)

            def delta(name, **labels):
                return value(after, name, **labels) - value(before, name, **labels)

            self.assertEqual(delta("iocomp_requests_total", protocol="http", status="2xx"), 3)
            self.assertEqual(delta("iocomp_requests_total", protocol="http", status="4xx"), 1)
            self.assertEqual(delta("iocomp_requests_total", protocol="line", status="4xx"), 1)
            self.assertGreaterEqual(delta("iocomp_sent_bytes_total"), 300000)
            self.assertEqual(delta("iocomp_request_duration_seconds_count"), 5)
            self.assertGreaterEqual(delta("iocomp_connections_accepted_total"), 4)
            self.assertGreaterEqual(delta("iocomp_file_cache_hits_total"), 1)
            self.assertGreaterEqual(delta("iocomp_file_cache_misses_total"), 1)

    def test_proxy_protocol_outcomes_are_exported(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "f.bin"), 100)
            with Server(root, "--admin", "127.0.0.1:0", "--proxy-protocol") as server:
                port = admin_port(server)
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                    s.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 4242 80\r\nf.bin\n")
                    s.shutdown(socket.SHUT_WR)
                    self.assertEqual(len(s.recv(1000)), 100)
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                    s.sendall(b"f.bin\n")  # no header: closed, nothing sent
                    self.assertEqual(s.recv(1000), b"")
                deadline = time.monotonic() + 5 * SLOW
                while time.monotonic() < deadline:
                    families = scrape(port)
                    refused = value(families, "iocomp_connections_refused_total",
                                    reason="proxy_missing_or_invalid")
                    # The request is counted when the server sees its send complete, maybe
                    # after the client has the bytes.
                    if refused >= 1 and value(families, "iocomp_requests_total", protocol="line",
                                              status="2xx") >= 1:
                        break
                    time.sleep(0.02)
                self.assertEqual(refused, 1)
                self.assertEqual(value(families, "iocomp_proxy_headers_total", kind="proxied"), 1)
                self.assertEqual(value(families, "iocomp_requests_total", protocol="line",
                                       status="2xx"), 1)

    def test_healthz_and_draining(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "slow.bin"), 400000)
            with Server(root, "--admin", "127.0.0.1:0", "--rate-limit", "100k",
                        "--drain-timeout", "10") as server:
                port = admin_port(server)
                self.assertEqual(http_get(port, "/healthz"), (200, b"ok\n"))
                with self.assertRaises(urllib.error.HTTPError) as missing:
                    http_get(port, "/nothing")
                self.assertEqual(missing.exception.code, 404)
                # A slow transfer keeps the drain going while /healthz is asked.
                s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                s.sendall(b"slow.bin\n")
                s.recv(1000)
                server.proc.send_signal(signal.SIGINT)
                self.assertTrue(server.wait_for_log(r"received SIGINT"))
                with self.assertRaises(urllib.error.HTTPError) as draining:
                    http_get(port, "/healthz")
                self.assertEqual(draining.exception.code, 503)
                s.close()
                self.assertEqual(server.proc.wait(timeout=15 * SLOW), 0)


class RateLimitTest(unittest.TestCase):
    SIZE = 1 << 20
    RATE = 512 * 1024  # bytes per second: 2 s for the file, less the 0.1 s burst

    def expected(self):
        return (self.SIZE - self.RATE * 0.1) / self.RATE

    def test_http_and_line_downloads_take_as_long_as_the_rate_says(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "f.bin"), self.SIZE)
            with Server(root, "--rate-limit", "512k") as server:
                for fetch in (lambda: http_get(server.port, "/f.bin")[1],
                              lambda: line_get(server.port, "f.bin")):
                    start = time.monotonic()
                    body = fetch()
                    elapsed = time.monotonic() - start
                    self.assertEqual(len(body), self.SIZE)
                    self.assertGreater(elapsed, self.expected() * 0.9)
                    self.assertLess(elapsed, self.expected() * 1.3 * SLOW + 0.3)

    def test_the_limit_is_per_connection(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "f.bin"), self.SIZE)
            with Server(root, "--rate-limit", "512k") as server:
                times = []

                def one():
                    start = time.monotonic()
                    self.assertEqual(len(line_get(server.port, "f.bin")), self.SIZE)
                    times.append(time.monotonic() - start)

                threads = [threading.Thread(target=one) for _ in range(3)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=30)
                self.assertEqual(len(times), 3)
                # Three at once each take the one-connection time, not three times it.
                for elapsed in times:
                    self.assertGreater(elapsed, self.expected() * 0.9)
                    self.assertLess(elapsed, self.expected() * 1.3 * SLOW + 0.3)

    def test_a_malformed_limit_is_refused(self):
        result = subprocess.run([BINARY, "--rate-limit", "12x"], capture_output=True, timeout=10)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(b"--rate-limit", result.stderr)


class StatusLineTest(unittest.TestCase):
    def run_on_a_tty(self, *args, seconds=2.5):
        with TempRoot() as root:
            make_file(os.path.join(root, "f.bin"), 1000)
            master, slave = pty.openpty()
            proc = subprocess.Popen(
                [BINARY, "--root", root, "--port", "0", "--listen", "127.0.0.1", "--threads",
                 "2", *MODEL_ARGS, *args],
                stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            os.close(slave)
            output = b""
            deadline = time.monotonic() + seconds * SLOW
            port = None
            try:
                while time.monotonic() < deadline:
                    ready, _, _ = select.select([master], [], [], 0.1)
                    if ready:
                        try:
                            output += os.read(master, 65536)
                        except OSError:
                            break
                    match = re.search(rb"\(port (\d+)\)", output)
                    if match and port is None:
                        port = int(match.group(1))
                        for _ in range(5):
                            http_get(port, "/f.bin")
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=10 * SLOW)
                while True:
                    ready, _, _ = select.select([master], [], [], 0.2)
                    if not ready:
                        break
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    output += chunk
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                os.close(master)
                proc.stderr.close()
            self.assertEqual(proc.returncode, 0)
            return output

    def test_quiet_on_a_terminal_redraws_one_status_line(self):
        output = self.run_on_a_tty("--quiet")
        self.assertIn(b"\r\x1b[K", output)
        self.assertRegex(output, rb"\d+ connections  \d+ req/s  [\d.]+ MB/s  5 requests  0 errors")
        # Redrawn, never scrolled: one newline for the status line, at exit.
        status_part = output[output.index(b"\r\x1b[K"):]
        self.assertLessEqual(status_part.count(b"\n"), 4)  # the exit line(s) and the final one

    def test_events_on_a_terminal_are_plain_lines(self):
        output = self.run_on_a_tty(seconds=1.0)
        self.assertNotIn(b"\x1b[K", output)
        self.assertIn(b"request GET /f.bin", output)


if __name__ == "__main__":
    unittest.main()
