"""Files not in the page cache: evicted with posix_fadvise(DONTNEED), then downloaded byte-exact
over both protocols, with the completion model's asynchronous cold reads on and off (the other
models ignore the flag). Latency under a cold download is a benchmark (bench/cold.sh), not a
test: this checks that the cold path delivers every byte and that the start-up line says which
path is used."""
import hashlib
import os
import socket
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

    def test_cold_file_with_asynchronous_reads(self):
        log = self.check()
        if MODEL == "completion":
            self.assertRegex(log, r"file data not in the page cache: read in asynchronously "
                                  r"before sendfile|this kernel has no cachestat")

    def test_cold_file_without_asynchronous_reads(self):
        log = self.check("--no-async-cold-reads")
        if MODEL == "completion":
            self.assertIn("read by sendfile on the worker (--no-async-cold-reads)", log)


if __name__ == "__main__":
    unittest.main()
