"""Files not in the page cache: evicted with posix_fadvise(DONTNEED), then downloaded byte-exact
over both protocols, in plaintext (sendfile) and over TLS (read, encrypted and sent in user
space), with the event loops' asynchronous cold reads on and off (the thread models read on the
connection's own thread either way). Latency under a cold download is a benchmark
(bench/cold.sh), not a test: this checks that the cold path delivers every byte and that the
start-up line says which path is used."""
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import MODEL, SLOW, Server, make_file  # noqa: E402

SIZE = 24 << 20


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def line_get(port, name):
    with socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW) as s:
        s.sendall(name.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        digest = hashlib.sha256()
        total = 0
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                return digest.hexdigest(), total
            digest.update(chunk)
            total += len(chunk)


def http_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30 * SLOW) as r:
        data = r.read()
    return hashlib.sha256(data).hexdigest(), len(data)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


def tls_get(port, context, request, expect_http=True, length=None):
    """Sends `request` over TLS and reads to the end (or `length` bytes: the line protocol waits
    for the next name); returns (sha256 hex, body length) of what follows the HTTP head (or of
    everything, for the line protocol)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(request)
            data = bytearray()
            while True:
                try:
                    chunk = s.recv(1 << 20)
                except ssl.SSLZeroReturnError:
                    break
                if not chunk:
                    break
                data += chunk
                if length is not None and len(data) >= length:
                    break
    if expect_http:
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        assert head.split(b"\r\n")[0].split(b" ")[1] in (b"200", b"206"), head[:100]
        data = body
    return hashlib.sha256(data).hexdigest(), len(data)


class ColdReadsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # On the disk, not tmpfs: evicting from tmpfs would do nothing.
        cls.dir = tempfile.mkdtemp(prefix="iocomp-cold-", dir="/var/tmp")
        cls.digest = make_file(os.path.join(cls.dir, "cold.bin"), SIZE, seed=7)
        make_file(os.path.join(cls.dir, "small.bin"), 1024, seed=8)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.dir], check=False)

    def check(self, *args):
        path = os.path.join(self.dir, "cold.bin")
        with Server(self.dir, *args) as server:
            for fetch in (lambda: http_get(server.port, "/cold.bin"),
                          lambda: line_get(server.port, "cold.bin")):
                evict(path)
                results = {}

                def small():
                    results["small"] = http_get(server.port, "/small.bin")[1]

                big = threading.Thread(target=lambda: results.update(big=fetch()))
                big.start()
                small_thread = threading.Thread(target=small)
                small_thread.start()
                big.join(timeout=60 * SLOW)
                small_thread.join(timeout=60 * SLOW)
                self.assertEqual(results.get("big"), (self.digest, SIZE))
                self.assertEqual(results.get("small"), 1024)
            # A range from an odd offset: the warming follows the file range, not the file.
            evict(path)
            request = urllib.request.Request(f"http://127.0.0.1:{server.port}/cold.bin",
                                             headers={"Range": "bytes=12345-"})
            with urllib.request.urlopen(request, timeout=30 * SLOW) as r:
                self.assertEqual(r.status, 206)
                body = r.read()
            with open(path, "rb") as f:
                f.seek(12345)
                self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(f.read()).digest())
            return server.log()

    def check_tls(self, *args):
        """The TLS stage reads the file itself, a piece at a time: a cold piece is brought in by
        the engine (Channel::warm) while the worker serves the small file to another client."""
        pki = os.path.join(self.dir, "pki")
        os.makedirs(pki, exist_ok=True)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost", cwd=pki)
        context = ssl.create_default_context(cafile=os.path.join(pki, "cert.pem"))
        path = os.path.join(self.dir, "cold.bin")
        with Server(self.dir, "--tls-cert", os.path.join(pki, "cert.pem"), "--tls-key",
                    os.path.join(pki, "key.pem"), *args) as server:
            get = b"GET /cold.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            for request, http in ((get, True), (b"cold.bin\n", False)):
                evict(path)
                results = {}
                big = threading.Thread(target=lambda: results.update(
                    big=tls_get(server.port, context, request, http, None if http else SIZE)))
                big.start()
                small = tls_get(server.port, context,
                                b"GET /small.bin HTTP/1.1\r\nHost: localhost\r\n"
                                b"Connection: close\r\n\r\n")
                big.join(timeout=60 * SLOW)
                self.assertEqual(results.get("big"), (self.digest, SIZE))
                self.assertEqual(small[1], 1024)
            evict(path)
            ranged = tls_get(server.port, context,
                             b"GET /cold.bin HTTP/1.1\r\nHost: localhost\r\n"
                             b"Range: bytes=1234567-\r\nConnection: close\r\n\r\n")
            with open(path, "rb") as f:
                f.seek(1234567)
                tail = f.read()
            self.assertEqual(ranged, (hashlib.sha256(tail).hexdigest(), len(tail)))
            return server.log()

    def test_cold_file_with_asynchronous_reads(self):
        log = self.check()
        if MODEL in ("completion", "epoll"):
            self.assertRegex(log, r"file data not in the page cache: (brought in asynchronously|"
                                  r"read ahead) first|this kernel has no cachestat")
        else:
            self.assertIn("file data not in the page cache: read by the connection's own thread",
                          log)

    def test_cold_file_without_asynchronous_reads(self):
        log = self.check("--no-async-cold-reads")
        if MODEL in ("completion", "epoll"):
            self.assertIn("read on the worker (--no-async-cold-reads)", log)

    def test_cold_file_over_tls_with_asynchronous_reads(self):
        self.check_tls()

    def test_cold_file_over_tls_without_asynchronous_reads(self):
        self.check_tls("--no-async-cold-reads")


if __name__ == "__main__":
    unittest.main()
