"""The send paths under short writes: head + cached body (two iovecs), and head + sendfile."""
import hashlib
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SLOW, Server, TempRoot, connect, make_file  # noqa: E402


def slow_read(sock, total, chunk=512):
    """Reads `total` bytes in small pieces with pauses, so the server meets a full socket."""
    sock.settimeout(10 * SLOW)
    data = bytearray()
    deadline = time.monotonic() + 30 * SLOW
    while len(data) < total and time.monotonic() < deadline:
        piece = sock.recv(min(chunk, total - len(data)))
        if not piece:
            break
        data += piece
        if len(data) % (8 * chunk) == 0:
            time.sleep(0.005)
    return bytes(data)


class SendPathsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempRoot()
        cls.root = cls.tmp.__enter__()
        # 16 KiB: held in memory by the cache (head + body as two iovecs); 3 MiB: sendfile.
        cls.digests = {name: make_file(os.path.join(cls.root, name), size, seed=size)
                       for name, size in (("mem.bin", 16384), ("disk.bin", 3 << 20))}
        cls.sizes = {"mem.bin": 16384, "disk.bin": 3 << 20}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.__exit__(None, None, None)

    def small_buffer_socket(self, port):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # before connect: small window
        s.settimeout(10 * SLOW)
        s.connect(("127.0.0.1", port))
        return s

    def test_line_protocol_with_a_slow_reader(self):
        with Server(self.root) as server:
            for name in ("mem.bin", "disk.bin"):
                s = self.small_buffer_socket(server.port)
                s.sendall(name.encode() + b"\n" + name.encode() + b"\n")
                for _ in range(2):
                    data = slow_read(s, self.sizes[name])
                    self.assertEqual(hashlib.sha256(data).hexdigest(), self.digests[name], name)
                s.close()

    def test_http_with_a_slow_reader_and_pipelined_requests(self):
        with Server(self.root) as server:
            for name in ("mem.bin", "disk.bin"):
                s = self.small_buffer_socket(server.port)
                request = f"GET /{name} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
                s.sendall(request * 3)
                for _ in range(3):
                    head = b""
                    while b"\r\n\r\n" not in head:
                        head += s.recv(1)
                    self.assertTrue(head.startswith(b"HTTP/1.1 200 OK"), head)
                    self.assertIn(f"Content-Length: {self.sizes[name]}".encode(), head)
                    body = slow_read(s, self.sizes[name])
                    self.assertEqual(hashlib.sha256(body).hexdigest(), self.digests[name], name)
                s.close()

    def test_ranges_of_an_in_memory_file(self):
        with Server(self.root) as server:
            with open(os.path.join(self.root, "mem.bin"), "rb") as f:
                content = f.read()
            s = connect(server.port)
            s.sendall(b"GET /mem.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=100-199,1000-1099\r\n"
                      b"Connection: close\r\n\r\n")
            data = b""
            while True:
                piece = s.recv(65536)
                if not piece:
                    break
                data += piece
            s.close()
            self.assertIn(b"206 Partial Content", data)
            self.assertIn(content[100:200], data)
            self.assertIn(content[1000:1100], data)
            self.assertIn(b"Content-Range: bytes 100-199/16384", data)


if __name__ == "__main__":
    unittest.main()
