"""--proxy-protocol over real sockets: PROXY v1 and v2 headers sent by hand, then a real HAProxy
in front of two iocomp nodes. Everything on loopback (several 127.x addresses), every wait
bounded."""
import hashlib
import ipaddress
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BINARY, SLOW, Server, TempRoot, make_file, recv_exactly,  # noqa: E402
                     recv_until_closed)

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(source, sport, dest="10.0.0.1", dport=80):
    family = "TCP6" if ":" in source else "TCP4"
    return f"PROXY {family} {source} {dest} {sport} {dport}\r\n".encode()


def v2(source=None, sport=0, dest="10.0.0.1", dport=80, local=False):
    """A v2 header: PROXY for `source`, or LOCAL (a health check) without addresses."""
    if local:
        return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack(">H", 0)
    src = ipaddress.ip_address(source)
    dst = ipaddress.ip_address(dest)
    family = 0x11 if src.version == 4 else 0x21
    block = src.packed + dst.packed + struct.pack(">HH", sport, dport)
    return V2_SIGNATURE + bytes([0x21, family]) + struct.pack(">H", len(block)) + block


def connect_from(port, source="127.0.0.1", timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW,
                                 source_address=(source, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_without_response(sock, within):
    """True when the server closes `sock` within `within` seconds without sending a byte."""
    sock.settimeout(within * SLOW)
    try:
        return sock.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def http_get(sock, path, keep_alive=False, before=b""):
    """Sends `before` and a GET in one packet, reads one response; returns (status, body)."""
    sock.sendall(before + f"GET {path} HTTP/1.1\r\nHost: t\r\n".encode() +
                 (b"" if keep_alive else b"Connection: close\r\n") + b"\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    match = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
    body = recv_exactly(sock, int(match.group(1))) if match else b""
    return status, body


class DirectHeaderTest(unittest.TestCase):
    """Headers sent by hand to one server that requires them from loopback (the default)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempRoot()
        cls.root = cls.tmp.__enter__()
        make_file(os.path.join(cls.root, "small.txt"), 1000, seed=1)
        with open(os.path.join(cls.root, "small.txt"), "rb") as f:
            cls.small = f.read()
        cls.logs = tempfile.mkdtemp(prefix="iocomp-proxy-logs-")
        cls.access_log = os.path.join(cls.logs, "access.log")
        try:
            cls.server = Server(cls.root, "--proxy-protocol", "--header-timeout", "1",
                                "--max-connections-per-ip", "2", "--access-log", cls.access_log)
        except BaseException:
            cls.tmp.__exit__(None, None, None)
            shutil.rmtree(cls.logs, ignore_errors=True)
            raise
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.tmp.__exit__(None, None, None)
        shutil.rmtree(cls.logs, ignore_errors=True)

    def assert_logged(self, pattern):
        self.assertTrue(self.server.wait_for_log(pattern), f"no {pattern!r} in:\n" +
                        self.server.log()[-3000:])

    def test_v1_then_the_line_protocol_in_one_packet_is_logged_as_the_header_source(self):
        s = connect_from(self.port)
        own_port = s.getsockname()[1]
        s.sendall(v1("203.0.113.7", 4242) + b"small.txt\n")
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_until_closed(s), self.small)
        s.close()
        self.assert_logged(r"203\.0\.113\.7:4242 request small\.txt\n")
        self.assert_logged(rf"203\.0\.113\.7:4242 proxied by 127\.0\.0\.1:{own_port}\n")
        self.assertNotRegex(self.server.log(), rf"127\.0\.0\.1:{own_port} (accepted|request)")

    def test_the_access_log_names_the_client(self):
        s = connect_from(self.port)
        self.assertEqual(http_get(s, "/small.txt?access", before=v1("192.0.2.77", 6000)),
                         (200, self.small))
        s.close()
        # Written within 100 ms (buffered like nginx's access_log).
        deadline = time.monotonic() + 3 * SLOW
        text = ""
        while "/small.txt?access" not in text and time.monotonic() < deadline:
            time.sleep(0.05)
            with open(self.access_log) as f:
                text = f.read()
        line = next((l for l in text.splitlines() if "/small.txt?access" in l), "")
        self.assertTrue(line.startswith("192.0.2.77 "), text[-2000:])

    def test_v1_ipv6_in_pieces_then_http(self):
        s = connect_from(self.port)
        header = v1("2001:db8::7", 4243, "2001:db8::1", 443)
        for piece in (header[:3], header[3:20], header[20:]):
            s.sendall(piece)
            time.sleep(0.05)
        self.assertEqual(http_get(s, "/small.txt"), (200, self.small))
        s.close()
        self.assert_logged(r"\[2001:db8::7\]:4243 request GET /small\.txt\n")

    def test_v2_then_http_keep_alive(self):
        s = connect_from(self.port)
        self.assertEqual(http_get(s, "/small.txt", keep_alive=True,
                                  before=v2("198.51.100.20", 5555)), (200, self.small))
        self.assertEqual(http_get(s, "/small.txt"), (200, self.small))
        s.close()
        self.assert_logged(r"198\.51\.100\.20:5555 transfer finished: 200 /small\.txt")

    def test_v2_local_is_served_as_the_real_peer(self):
        s = connect_from(self.port)
        own_port = s.getsockname()[1]
        s.sendall(v2(local=True))
        time.sleep(0.1)  # the request in a later packet, as after a health check's header
        s.sendall(b"small.txt\n")
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_until_closed(s), self.small)
        s.close()
        self.assert_logged(rf"127\.0\.0\.1:{own_port} request small\.txt\n")

    def test_no_header_is_closed_without_a_response(self):
        # Sources of their own: before its header a connection counts against its TCP peer's
        # --max-connections-per-ip 2, and other tests' connections from 127.0.0.1 may not be
        # released yet (sanitizer builds are slow).
        for source, request in (("127.0.0.71", b"small.txt\n"),
                                ("127.0.0.72", b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n")):
            s = connect_from(self.port, source=source)
            own_port = s.getsockname()[1]
            s.sendall(request)
            self.assertTrue(closed_without_response(s, 3), request)
            s.close()
            self.assert_logged(rf"{re.escape(source)}:{own_port} error: PROXY protocol: no header: "
                               r"the first bytes are not a PROXY header; closed\n")

    def test_an_invalid_header_is_closed_without_a_response(self):
        s = connect_from(self.port)
        s.sendall(b"PROXY TCP4 192.0.2.1 10.0.0.1 1 99999\r\nsmall.txt\n")
        self.assertTrue(closed_without_response(s, 3))
        s.close()
        self.assert_logged(r"error: PROXY protocol: PROXY v1: bad port; closed")

    def test_a_stalled_header_is_closed_at_the_header_timeout(self):
        s = connect_from(self.port)
        start = time.monotonic()
        s.sendall(b"PROXY TCP4 192.0.2")
        self.assertTrue(closed_without_response(s, 4))
        elapsed = time.monotonic() - start
        s.close()
        self.assertGreater(elapsed, 0.8)  # --header-timeout 1, checked every 100 ms
        self.assert_logged(r"no complete header within --header-timeout; closed")

    def test_the_per_address_limit_applies_to_the_client_the_header_names(self):
        # --max-connections-per-ip 2: every TCP connection comes from 127.0.0.1, yet each
        # client named in a header gets its own two.
        held = []
        try:
            for _ in range(2):
                s = connect_from(self.port)
                s.sendall(v1("192.0.2.50", 1000 + len(held)))
                self.assertEqual(http_get(s, "/small.txt", keep_alive=True), (200, self.small))
                held.append(s)
            third = connect_from(self.port)
            third.sendall(v1("192.0.2.50", 1002) + b"small.txt\n")
            self.assertTrue(closed_without_response(third, 3))
            third.close()
            self.assert_logged(r"client 192\.0\.2\.50:1002 has --max-connections-per-ip "
                               r"connections; closed")
            other = connect_from(self.port)  # the 4th connection from 127.0.0.1 at once
            other.sendall(v1("192.0.2.51", 1003))
            self.assertEqual(http_get(other, "/small.txt", keep_alive=True), (200, self.small))
            held.append(other)
        finally:
            for s in held:
                s.close()
        # The slots were released under the client's key: 192.0.2.50 may connect again.
        deadline = time.monotonic() + 3 * SLOW
        while True:
            s = connect_from(self.port)
            s.sendall(v1("192.0.2.50", 1004))
            status, body = http_get(s, "/small.txt")
            s.close()
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual((status, body), (200, self.small))


class SourcesAndCountersTest(unittest.TestCase):
    """Only --proxy-from may send a header; each verdict is counted and reported at exit."""

    def test_only_listed_sources_and_every_verdict_counted(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "small.txt"), 1000, seed=1)
            with open(os.path.join(root, "small.txt"), "rb") as f:
                small = f.read()
            server = Server(root, "--proxy-protocol", "--proxy-from", "127.0.0.2, 10.0.0.0/8")
            with server:
                # 127.0.0.1 is not listed: closed before anything is read.
                s = connect_from(server.port, "127.0.0.1")
                own_port = s.getsockname()[1]
                s.sendall(v1("203.0.113.7", 4242) + b"small.txt\n")
                self.assertTrue(closed_without_response(s, 3))
                s.close()
                self.assertTrue(server.wait_for_log(
                    rf"127\.0\.0\.1:{own_port} error: PROXY protocol: source not in "
                    r"--proxy-from; closed\n"))
                # 127.0.0.2 is: proxied, LOCAL, invalid, and closed before a header.
                s = connect_from(server.port, "127.0.0.2")
                s.sendall(v2("203.0.113.9", 999) + b"small.txt\n")
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_until_closed(s), small)
                s.close()
                s = connect_from(server.port, "127.0.0.2")
                s.sendall(v2(local=True))
                s.close()
                s = connect_from(server.port, "127.0.0.2")
                s.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c" + bytes(12))  # datagram
                self.assertTrue(closed_without_response(s, 3))
                s.close()
                s = connect_from(server.port, "127.0.0.2")
                s.close()
                self.assertTrue(server.wait_for_log(r"203\.0\.113\.9:999 request small\.txt"))
                self.assertTrue(server.wait_for_log(r"datagram transport on a stream connection"))
                self.assertTrue(server.wait_for_log(r"closed by the peer before a header"))
                code, _ = server.stop()
                self.assertEqual(code, 0)
            self.assertIn(
                "PROXY protocol: every connection must start with a header, accepted from "
                "127.0.0.2/32, 10.0.0.0/8\n", server.log())
            self.assertIn(
                "PROXY protocol: proxied 1, unknown_family 0, local_command 1, "
                "missing_or_invalid 1, incomplete 1, timed_out 0, untrusted_source 1, "
                "over_address_limit 0\n", server.log())

    def test_a_bad_list_stops_start_up_with_the_entry_named(self):
        with TempRoot() as root:
            out = subprocess.run([BINARY, "--root", root,
                                  "--port", "0", "--proxy-protocol", "--proxy-from",
                                  "10.0.0.1/8"], capture_output=True, text=True,
                                 timeout=10 * SLOW)
            self.assertEqual(out.returncode, 1)
            self.assertIn("--proxy-from: '10.0.0.1/8': address bits set beyond the /8 prefix",
                          out.stderr)


def free_port(address="127.0.0.1"):
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


class Haproxy:
    """haproxy in the foreground (-db) with `config`; its stderr (server state changes) kept."""

    def __init__(self, config):
        path = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(path):
            raise RuntimeError("haproxy is needed for these tests: scripts/install-deps.sh test")
        self.dir = tempfile.mkdtemp(prefix="iocomp-haproxy-")
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(config)
        self.proc = subprocess.Popen([path, "-f", cfg, "-db"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.lines = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stderr:
            with self._lock:
                self.lines.append(raw.decode(errors="replace"))

    def output(self):
        with self._lock:
            return "".join(self.lines)

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if re.search(pattern, self.output()):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=2)
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class BehindHaproxyTest(unittest.TestCase):
    """Two nodes serving one directory behind HAProxy (send-proxy-v2, health checks): byte-exact
    downloads on both protocols, each node logging the client's own address, and a node killed
    mid-way taken out by the checks without failing a download."""

    CLIENT = "127.0.0.55"  # the client's address, distinct from HAProxy's 127.0.0.1

    def setUp(self):
        self.tmp = TempRoot()
        self.root = self.tmp.__enter__()
        self.big = make_file(os.path.join(self.root, "3m.bin"), 3 << 20, seed=7)
        make_file(os.path.join(self.root, "small.txt"), 1000, seed=1)
        with open(os.path.join(self.root, "small.txt"), "rb") as f:
            self.small = f.read()
        self.nodes = []
        self.haproxy = None
        try:
            for _ in range(2):
                self.nodes.append(Server(self.root, "--proxy-protocol"))
            self.port = free_port()
            servers = "".join(
                f"    server n{i + 1} 127.0.0.1:{node.port} send-proxy-v2 check inter 200ms "
                "fall 1 rise 1\n" for i, node in enumerate(self.nodes))
            self.haproxy = Haproxy(
                "global\n    maxconn 200\n"
                "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n"
                "    timeout server 30s\n"
                f"frontend fe\n    bind 127.0.0.1:{self.port}\n    default_backend be\n"
                f"backend be\n    balance roundrobin\n{servers}")
            # Up when it answers. The probe is relayed to a node like any client: from an
            # address of its own, so that the node logs show it as neither CLIENT nor HAProxy.
            deadline = time.monotonic() + 5 * SLOW
            while True:
                try:
                    connect_from(self.port, "127.0.0.66", timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or self.haproxy.proc.poll() is not None:
                        raise RuntimeError("haproxy did not start: " + self.haproxy.output())
                    time.sleep(0.05)
        except BaseException:
            self.tearDown()
            raise

    def tearDown(self):
        if self.haproxy is not None:
            self.haproxy.close()
        for node in self.nodes:
            node.__exit__(None, None, None)
        self.tmp.__exit__(None, None, None)

    def curl(self, path):
        """Downloads through HAProxy with curl from CLIENT; returns the body's sha256."""
        out = subprocess.run(["curl", "-sS", "--fail", "--interface", self.CLIENT, "-o", "-",
                              f"http://127.0.0.1:{self.port}{path}"], capture_output=True,
                             timeout=30 * SLOW, check=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        return hashlib.sha256(out.stdout).hexdigest()

    def line(self, name):
        s = connect_from(self.port, self.CLIENT)
        s.sendall(name + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = recv_until_closed(s)
        s.close()
        return data

    def requests_from_client(self, node):
        return len(re.findall(rf"{re.escape(self.CLIENT)}:\d+ request ", node.log()))

    def test_downloads_through_haproxy_and_a_node_dies(self):
        # Round robin, whichever node is next (setUp's probe took a turn): each node gets one
        # download of each kind.
        for _ in range(2):
            self.assertEqual(self.curl("/3m.bin"), self.big)
        for _ in range(2):
            self.assertEqual(self.line(b"small.txt"), self.small)
        # Each node served the client, and saw it as itself, not as HAProxy.
        for node in self.nodes:
            self.assertTrue(node.wait_for_log(
                rf"{re.escape(self.CLIENT)}:\d+ transfer finished: 200 /3m\.bin, 3145\d+ bytes"),
                node.log()[-2000:])
            self.assertTrue(node.wait_for_log(
                rf"{re.escape(self.CLIENT)}:\d+ transfer finished: small\.txt, 1000 bytes"))
            self.assertNotRegex(node.log(), r"127\.0\.0\.1:\d+ (request|error)")
        # HAProxy's checks (LOCAL) reached the nodes and were not refused.
        self.assertNotIn("PROXY protocol", "".join(
            line for node in self.nodes for line in node.log().splitlines(True)
            if "error" in line))

        dead, alive = self.nodes
        dead.proc.send_signal(signal.SIGKILL)
        dead.proc.wait(timeout=5)
        self.assertTrue(self.haproxy.wait_for(r"Server be/n1 is DOWN", 5), self.haproxy.output())
        before = self.requests_from_client(alive)
        for _ in range(2):
            self.assertEqual(self.curl("/3m.bin"), self.big)
            self.assertEqual(self.line(b"small.txt"), self.small)
        deadline = time.monotonic() + 5 * SLOW
        while self.requests_from_client(alive) < before + 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.requests_from_client(alive), before + 4)


if __name__ == "__main__":
    unittest.main()
