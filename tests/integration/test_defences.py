"""Limits and timeouts against hostile or careless clients. Each test fails without its defence."""
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (MODEL, MODEL_ARGS, SLOW, TRANSMIT_ERROR, Server, TempRoot, connect, make_file, nc,  # noqa: E402
                     recv_exactly, recv_until_closed)


def closed_by_server(sock, within):
    """True when the server closes `sock` (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def get(port, path="/a.txt", extra=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"


class DefencesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = TempRoot()
        self.root = self.tmp.__enter__()
        os.chmod(self.root, 0o755)
        make_file(os.path.join(self.root, "a.txt"), 100, seed=1)
        make_file(os.path.join(self.root, "big.bin"), 64 << 20, seed=2)
        with open(os.path.join(self.root, ".secret"), "wb") as f:
            f.write(b"SECRET")
        os.makedirs(os.path.join(self.root, ".git"))
        with open(os.path.join(self.root, ".git", "config"), "wb") as f:
            f.write(b"CONFIG")

    def tearDown(self):
        self.tmp.__exit__(None, None, None)

    def test_connections_per_address_are_capped(self):
        with Server(self.root, "--max-connections-per-ip", "3") as server:
            held = [connect(server.port) for _ in range(3)]
            for s in held:  # each is really served
                s.sendall(b"a.txt\n")
                self.assertEqual(len(recv_exactly(s, 100)), 100)
            extra = connect(server.port)
            self.assertTrue(closed_by_server(extra, 2 * SLOW), "4th connection was kept")
            extra.close()
            held.pop().close()
            time.sleep(0.2)
            again = connect(server.port)
            again.sendall(b"a.txt\n")
            self.assertEqual(len(recv_exactly(again, 100)), 100)
            again.close()
            for s in held:
                s.close()
            self.assertTrue(server.wait_for_log("--max-connections-per-ip reached"))

    def test_total_connections_are_capped_without_starving_accepted_ones(self):
        with Server(self.root, "--max-connections", "4", "--max-connections-per-ip", "0") as server:
            held = [connect(server.port) for _ in range(4)]
            time.sleep(0.2)
            refused = [connect(server.port) for _ in range(20)]
            for s in refused:
                self.assertTrue(closed_by_server(s, 2 * SLOW))
                s.close()
            for s in held:  # the accepted ones are still served
                s.sendall(b"a.txt\n")
                self.assertEqual(len(recv_exactly(s, 100)), 100)
                s.close()

    def test_requests_per_connection_are_capped(self):
        with Server(self.root, "--max-requests-per-connection", "3") as server:
            s = connect(server.port)
            s.sendall(get(server.port) * 5)
            data = recv_until_closed(s)
            s.close()
            self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 3)
            self.assertEqual(data.count(b"Connection: close"), 1)
            line = nc(server.port, b"a.txt\n" * 5)
            self.assertEqual(len(line), 300)

    def test_hidden_files_are_refused_unless_allowed(self):
        with Server(self.root) as server:
            for path in ("/.secret", "/.git/config", "/%2esecret", "/x/../.secret"):
                s = connect(server.port)
                s.sendall(get(server.port, path, b"Connection: close\r\n"))
                data = recv_until_closed(s)
                s.close()
                self.assertNotIn(b"SECRET", data, path)
                self.assertNotIn(b"CONFIG", data, path)
                self.assertRegex(data, rb"^HTTP/1.1 (403|404|400) ", path)
            self.assertEqual(nc(server.port, b".secret\n"), TRANSMIT_ERROR)
            s = connect(server.port)
            s.sendall(get(server.port, "/", b"Connection: close\r\n"))
            listing = recv_until_closed(s)
            s.close()
            self.assertIn(b"a.txt", listing)
            self.assertNotIn(b".secret", listing)
            self.assertNotIn(b".git", listing)
        with Server(self.root, "--allow-hidden") as server:
            self.assertEqual(nc(server.port, b".secret\n"), b"SECRET")

    def test_slowloris_is_cut_at_the_header_timeout(self):
        with Server(self.root, "--header-timeout", "0.5") as server:
            s = connect(server.port)
            start = time.monotonic()
            request = get(server.port)
            closed = False
            for byte in request:  # one byte every 0.1 s: each arrival must not re-arm the timer
                try:
                    s.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                if closed_by_server(s, 0.1):  # FIN (the server then lingers, reading)
                    closed = True
                    break
                if time.monotonic() - start > 3 * SLOW:
                    break
            if not closed:
                closed = closed_by_server(s, 1)
            elapsed = time.monotonic() - start
            s.close()
            self.assertTrue(closed)
            self.assertLess(elapsed, 2.5 * SLOW, "header timeout was re-armed by trickling bytes")
            self.assertTrue(server.wait_for_log("request header timeout"))

    def test_silent_connection_is_cut_at_the_header_timeout(self):
        with Server(self.root, "--header-timeout", "0.3") as server:
            s = connect(server.port)
            start = time.monotonic()
            self.assertTrue(closed_by_server(s, 3 * SLOW))
            self.assertGreater(time.monotonic() - start, 0.25)
            s.close()

    def test_idle_keep_alive_is_cut_at_the_idle_timeout(self):
        with Server(self.root, "--idle-timeout", "0.4", "--header-timeout", "30") as server:
            s = connect(server.port)
            s.sendall(b"a.txt\n")
            recv_exactly(s, 100)
            start = time.monotonic()
            self.assertTrue(closed_by_server(s, 3 * SLOW))
            self.assertGreater(time.monotonic() - start, 0.3)
            s.close()
            self.assertTrue(server.wait_for_log("keep-alive idle timeout"))

    def test_client_that_stops_reading_is_cut_at_the_send_timeout(self):
        with Server(self.root, "--send-timeout", "0.5") as server:
            s = connect(server.port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"big.bin\n")
            recv_exactly(s, 4096)
            self.assertTrue(server.wait_for_log("send timeout", timeout=5))
            s.close()
            self.assertEqual(len(nc(server.port, b"a.txt\n")), 100)

    def test_pool_queue_wait_is_logged_and_bounded_by_the_header_timeout(self):
        if MODEL != "thread-pool":
            self.skipTest("the queue in front of the threads is the thread pool's own")
        # Example 4's limit: with its only thread busy, the next client waits in the queue. A
        # wait is logged when the client gets a thread; a wait past --header-timeout closes it.
        with Server(self.root, "--header-timeout", "0.5", "--idle-timeout", "30",
                    threads=1) as server:
            busy = connect(server.port)
            busy.sendall(b"a.txt\n")
            self.assertEqual(len(recv_exactly(busy, 100)), 100)  # keeps the thread (keep-alive)
            queued = connect(server.port)
            queued.sendall(b"a.txt\n")
            time.sleep(0.2)
            busy.close()  # the thread is free within the header timeout: served, wait logged
            self.assertEqual(len(recv_exactly(queued, 100)), 100)
            self.assertTrue(server.wait_for_log(r"waited \d+ ms in the queue for a pool thread"))
            late = connect(server.port)
            late.sendall(b"a.txt\n")
            time.sleep(0.8)
            queued.close()  # too late: the waiting client is closed, not served
            self.assertTrue(closed_by_server(late, 3 * SLOW))
            late.close()
            self.assertTrue(server.wait_for_log(
                r"closed: waited \d+ ms in the queue for a pool thread \(all 1 busy\)"))
            self.assertEqual(len(nc(server.port, b"a.txt\n")), 100)

    def test_user_flag_drops_privileges(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to drop privileges")
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        with Server(self.root, "--user", "nobody") as server:
            with open(f"/proc/{server.proc.pid}/status") as f:
                uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
            self.assertEqual(set(int(u) for u in uids), {nobody.pw_uid})
            self.assertEqual(len(nc(server.port, b"a.txt\n")), 100)
            os.chmod(os.path.join(self.root, "a.txt"), 0o600)  # now unreadable for nobody
            out = nc(server.port, b"a.txt\n")
            # A cached descriptor may still serve it within --file-cache-valid; a fresh open must not.
            time.sleep(1.2)
            os.utime(os.path.join(self.root, "a.txt"))
            self.assertEqual(nc(server.port, b"a.txt\n"), TRANSMIT_ERROR, out)

    def test_out_of_memory_drops_connections_not_the_process(self):
        if SLOW > 1:
            self.skipTest("sanitizer runtimes reserve far more address space than the limit")
        binary = os.environ.get("IOCOMP_BINARY", "build/iocomp")
        # Address space a little above the idle server's (~24 MiB): connections holding partial
        # requests exhaust it quickly.
        proc = subprocess.Popen(["prlimit", "--as=31457280", binary, "--root", self.root,
                                 "--port", "0", "--listen", "127.0.0.1", "--threads", "1",
                                 "--max-connections-per-ip", "0", *MODEL_ARGS],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        log = []
        try:
            first = proc.stdout.readline().decode()
            port = int(re.search(r"\(port (\d+)\)", first).group(1))
            reader = threading.Thread(target=lambda: log.extend(proc.stdout), daemon=True)
            reader.start()
            held = []
            for _ in range(3000):
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=2)
                    s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"y" * 3000)
                    held.append(s)
                except OSError:
                    break
            time.sleep(0.5)
            self.assertIsNone(proc.poll(), "the process died")
            for s in held:
                s.close()
            time.sleep(0.5)
            self.assertEqual(len(nc(port, b"a.txt\n")), 100)
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=10)
            err = proc.stderr.read().decode()
            proc.stderr.close()
        self.assertEqual(code, 0, err)
        text = b"".join(log).decode()
        if MODEL == "thread-pool":
            # One pool thread serves one client at a time: the others wait in the queue, not in
            # sessions, so memory never runs out. The limit shows as the wait instead.
            self.assertRegex(text, r"waited \d+ ms in the queue for a pool thread")
        elif MODEL == "thread-per-connection":
            # Every connection needs a thread stack: under the address-space limit thread
            # creation usually fails (EAGAIN) before a session's allocation does. Either way
            # the connection is dropped with a line and the process survives.
            self.assertRegex(text, r"out of memory: \d+ connection\(s\) dropped|no thread for it")
        else:
            self.assertRegex(text, r"out of memory: \d+ connection\(s\) dropped")

    def test_unread_log_output_never_stalls_serving_or_shutdown(self):
        binary = os.environ.get("IOCOMP_BINARY", "build/iocomp")
        # stdout is a pipe nobody reads after the first line: it fills after 64 KiB of events.
        proc = subprocess.Popen([binary, "--root", self.root, "--port", "0",
                                 "--listen", "127.0.0.1", *MODEL_ARGS], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            port = int(re.search(rb"\(port (\d+)\)", proc.stdout.readline()).group(1))
            s = connect(port)
            for _ in range(3000):  # ~300 KiB of log lines
                s.sendall(b"nope\n")
                recv_exactly(s, len(TRANSMIT_ERROR))
            s.close()
            self.assertEqual(len(nc(port, b"a.txt\n")), 100)  # still serving
            start = time.monotonic()
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=10 * SLOW)
            self.assertEqual(code, 0)
            self.assertLess(time.monotonic() - start, 5 * SLOW)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()

    def test_client_bytes_are_escaped_in_the_log(self):
        # A client must not rewrite an operator's terminal or forge log lines (the class of
        # nginx's CVE-2009-4487): controls, quotes, backslashes and invalid UTF-8 become \xHH.
        with open(os.path.join(self.root, "caf\u00e9.txt"), "wb") as f:
            f.write(b"ok")
        with Server(self.root) as server:
            nc(server.port, b"\x1b[2J\x07name\rforged 2026-01-01 line\n")
            nc(server.port, b"bad\xff\xc0\xafutf8 \"q\" back\\slash\n")
            self.assertEqual(nc(server.port, "caf\u00e9.txt\n".encode()), b"ok")
            nc(server.port, b"GET /\xff\xfe%1b HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertTrue(server.wait_for_log(r"GET /\\xff\\xfe%1b"))
            server.stop()
            log = server.log()
            for raw in ("\x1b", "\x07", "\r", "\ufffd"):
                self.assertNotIn(raw, log)
            self.assertIn(r"request \x1b[2J\x07name\x0dforged 2026-01-01 line", log)
            self.assertIn(r"request bad\xff\xc0\xafutf8 \x22q\x22 back\x5cslash", log)
            self.assertIn("request caf\u00e9.txt", log)  # valid UTF-8 is kept

    def test_unknown_user_is_a_clear_error(self):
        out = subprocess.run([os.environ.get("IOCOMP_BINARY", "build/iocomp"), "--root", self.root,
                              "--port", "0", "--listen", "127.0.0.1", "--user", "no-such-user-x"],
                             capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"no such user", out.stderr)


if __name__ == "__main__":
    unittest.main()
