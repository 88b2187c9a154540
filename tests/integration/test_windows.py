"""Windows-only cases, run against iocomp.exe under Wine (tests/windows.cmake, label windows):
the article's own test (six nc clients downloading 20 MB at once), 200 concurrent downloads,
the Windows spellings of names that leave the root or alias something else, and Ctrl+C.

Wine carries out TransmitFile by reading the file and sending it from user space: these tests
show correct bytes and behaviour, never the speed of Windows."""
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import (SLOW, TRANSMIT_ERROR, WINDOWS, WINE, Server, TempRoot, connect,  # noqa: E402
                     make_file, nc, nc_to_file, recv_exactly, recv_until_closed, sha256_file)


def http_get(port, path, extra=b""):
    """One request on a fresh connection; returns (status, body)."""
    with connect(port) as s:
        s.sendall(b"GET " + path.encode("latin-1") + b" HTTP/1.1\r\nHost: x\r\n" + extra +
                  b"Connection: close\r\n\r\n")
        data = recv_until_closed(s)
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.1 (\d{3})", head)
    return (int(match.group(1)) if match else 0), body


def short_names(directory):
    """{long name: 8.3 name} as Wine's cmd.exe lists them (dir /a /x)."""
    out = subprocess.run([WINE, "cmd", "/c", "dir", "/a", "/x"], cwd=directory,
                         capture_output=True, timeout=60).stdout.decode(errors="replace")
    names = {}
    for line in out.splitlines():
        match = re.match(r".*(?:<DIR>|[\d,]+)\s+(\S+~\S+)\s+(\S.*)$", line)
        if match:
            names[match.group(2).strip()] = match.group(1)
    return names


@unittest.skipUnless(WINDOWS, "the Windows build only (IOCOMP_BINARY=.../iocomp.exe)")
class ArticleTest(unittest.TestCase):
    """The article's own test, and its model under more load."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempRoot()
        cls.root = cls.tmp.__enter__()
        cls.big_sha = make_file(os.path.join(cls.root, "big.bin"), 20 * 1024 * 1024, seed=1)
        cls.mid_sha = make_file(os.path.join(cls.root, "mid.bin"), 256 * 1024, seed=2)
        make_file(os.path.join(cls.root, "three.bin"), 3 * 1024 * 1024, seed=5)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.__exit__(None, None, None)

    def test_six_nc_clients_download_20_mb_at_once(self):
        with Server(self.root) as server, TempRoot() as out:
            paths = [os.path.join(out, f"copy{i}") for i in range(6)]
            threads = [threading.Thread(target=nc_to_file, args=(server.port, b"big.bin\n", p))
                       for p in paths]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for p in paths:
                self.assertEqual(os.path.getsize(p), 20 * 1024 * 1024)
                self.assertEqual(sha256_file(p), self.big_sha)
            self.assertEqual(server.log().count("transfer finished: big.bin, 20971520 bytes"), 6)

    def test_200_concurrent_downloads(self):
        results = [None] * 200
        with Server(self.root) as server:
            def fetch(i):
                try:
                    if i % 2:
                        status, body = http_get(server.port, "/mid.bin")
                    else:
                        status, body = 200, nc(server.port, b"mid.bin\n")
                    results[i] = (status, hashlib.sha256(body).hexdigest())
                except OSError as e:
                    results[i] = (0, repr(e))
            threads = [threading.Thread(target=fetch, args=(i,)) for i in range(200)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120 * SLOW)
        self.assertEqual(results, [(200, self.mid_sha)] * 200)

    def test_partial_reads_resume_at_the_right_offset(self):
        # A client that reads late makes the sends wait on a full socket: each TransmitFile chunk
        # and the head must resume where the previous one stopped. (A tiny receive buffer would
        # show it better, but Wine's read-and-send TransmitFile then crawls: minutes per MiB.)
        with Server(self.root) as server:
            with connect(server.port) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                s.sendall(b"GET /three.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-\r\n"
                          b"Connection: close\r\n\r\n")
                time.sleep(0.5)  # let the server's sends fill both socket buffers
                data = recv_until_closed(s)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"206", head.split(b"\r\n")[0])
        with open(os.path.join(self.root, "three.bin"), "rb") as f:
            f.seek(1000)
            self.assertEqual(hashlib.sha256(body).hexdigest(),
                             hashlib.sha256(f.read()).hexdigest())


@unittest.skipUnless(WINDOWS, "the Windows build only (IOCOMP_BINARY=.../iocomp.exe)")
class WindowsPathFormsTest(unittest.TestCase):
    """Names that Win32 would resolve outside the root, to a device, a stream or another name.
    Every one must be refused (403 or 404, or the line protocol's error) and no secret byte may
    come back."""

    SECRET = b"TOPSECRET-outside-the-root"
    HIDDEN = b"HIDDEN-htpasswd"

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempRoot()
        base = cls.tmp.__enter__()
        cls.outside = os.path.join(base, "outside")
        cls.root = os.path.join(base, "root")
        os.makedirs(cls.outside)
        os.makedirs(os.path.join(cls.root, "sub"))
        with open(os.path.join(cls.outside, "secret.txt"), "wb") as f:
            f.write(cls.SECRET)
        with open(os.path.join(cls.root, "a.txt"), "wb") as f:
            f.write(b"hello")
        with open(os.path.join(cls.root, "sub", "b.txt"), "wb") as f:
            f.write(b"bee")
        with open(os.path.join(cls.root, ".htpasswd"), "wb") as f:
            f.write(cls.HIDDEN)
        # Reparse points as Wine sees them: Unix symbolic links.
        os.symlink("../outside/secret.txt", os.path.join(cls.root, "escape-link"))
        os.symlink("../outside", os.path.join(cls.root, "escape-dir"))
        os.symlink("sub/b.txt", os.path.join(cls.root, "inside-link"))
        cls.server = Server(cls.root)
        cls.port = cls.server.port
        # The outside file as Windows programs name it under Wine (/ is drive Z:).
        cls.secret_win = "Z:" + os.path.join(cls.outside, "secret.txt").replace("/", "\\")

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.tmp.__exit__(None, None, None)

    def assert_refused(self, name):
        for path in ("/" + urllib.parse.quote(name, safe="/"), "/" + name):
            if path != "/" + urllib.parse.quote(name, safe="/") and any(c in name for c in " ?#"):
                continue  # unquoted, a space ends the target and '?' or '#' start its query
            status, body = http_get(self.port, path)
            self.assertIn(status, (400, 403, 404), f"{path!r} answered {status}")
            self.assertNotIn(self.SECRET, body, path)
            self.assertNotIn(self.HIDDEN, body, path)
        out = nc(self.port, name.encode() + b"\n")
        self.assertEqual(out, TRANSMIT_ERROR, f"line protocol {name!r}")

    def test_parent_directories_with_backslashes(self):
        for name in ["..\\outside\\secret.txt", "sub\\..\\..\\outside\\secret.txt",
                     "..\\..\\..\\..\\..\\windows\\win.ini", "sub/..\\../outside/secret.txt",
                     "..", "../outside/secret.txt"]:
            with self.subTest(name=name):
                self.assert_refused(name)

    def test_drive_letters_unc_and_device_paths(self):
        forward = self.secret_win.replace("\\", "/")
        for name in [self.secret_win, forward, "C:\\windows\\win.ini", "c:/windows/win.ini",
                     "Z:secret.txt", "\\\\?\\" + self.secret_win, "//?/" + forward,
                     "\\\\.\\" + self.secret_win, "\\\\localhost\\Z$\\etc\\passwd",
                     "\\\\?\\UNC\\localhost\\Z$\\etc\\passwd", "\\" + self.secret_win[2:]]:
            with self.subTest(name=name):
                self.assert_refused(name)

    def test_device_names(self):
        for name in ["NUL", "nul", "con", "CON.txt", "nul .txt", "aux", "PRN", "COM1", "com9.log",
                     "LPT1", "lpt3.txt", "CONIN$", "conout$", "sub/nul", "COM\u00b9"]:
            with self.subTest(name=name):
                self.assert_refused(name)

    def test_streams_trailing_dots_and_spaces(self):
        for name in ["a.txt::$DATA", "a.txt:stream", "a.txt:", "sub:x/b.txt", "a.txt.",
                     "a.txt...", "a.txt ", "a.txt. ", "sub./b.txt", ".htpasswd.",
                     ".htpasswd::$DATA"]:
            with self.subTest(name=name):
                self.assert_refused(name)

    def test_short_names_of_hidden_files(self):
        names = short_names(self.root)
        self.assertIn(".htpasswd", names, f"Wine listed no short name: {names}")
        for name in [names[".htpasswd"], names[".htpasswd"].lower(), "HTPASS~1", "_HTP~1"]:
            with self.subTest(name=name):
                self.assert_refused(name)
        self.assert_refused(".htpasswd")

    def test_reparse_points_leading_out(self):
        for name in ["escape-link", "escape-dir/secret.txt", "escape-dir"]:
            with self.subTest(name=name):
                self.assert_refused(name)
        names = short_names(self.root)
        if "escape-link" in names:
            self.assert_refused(names["escape-link"])

    def test_plain_names_still_work(self):
        self.assertEqual(http_get(self.port, "/a.txt"), (200, b"hello"))
        self.assertEqual(http_get(self.port, "/sub/b.txt"), (200, b"bee"))
        self.assertEqual(http_get(self.port, "/inside-link"), (200, b"bee"))
        # NTFS (and Wine) look names up without regard to case: the same file.
        self.assertEqual(http_get(self.port, "/A.TXT"), (200, b"hello"))
        self.assertEqual(nc(self.port, b"sub/b.txt\n"), b"bee")


@unittest.skipUnless(WINDOWS, "the Windows build only (IOCOMP_BINARY=.../iocomp.exe)")
class CtrlCTest(unittest.TestCase):
    """Ctrl+C as Wine delivers it: SIGINT to the Wine process becomes a CTRL_C_EVENT for the
    console control handler (SetConsoleCtrlHandler), which drains like SIGINT on Linux."""

    def test_ctrl_c_drains_a_running_download_then_exits_0(self):
        with TempRoot() as root:
            sha = make_file(os.path.join(root, "big.bin"), 20 * 1024 * 1024, seed=3)
            server = Server(root, "--drain-timeout", "20")
            with connect(server.port) as s:
                s.sendall(b"big.bin\n")
                first = recv_exactly(s, 65536)  # the transfer is running
                server.proc.send_signal(signal.SIGINT)
                self.assertTrue(server.wait_for_log("received SIGINT"), server.log())
                # New clients are refused during the drain.
                with self.assertRaises(OSError):
                    connect(server.port, timeout=2).recv(1)
                rest = recv_exactly(s, 20 * 1024 * 1024 - len(first))
                # The client has everything: the drain ends, and so does the process.
            code = server.proc.wait(timeout=30 * SLOW)
            server.stop()  # collects the log reader
            self.assertEqual(code, 0, server.log())
            self.assertEqual(hashlib.sha256(first + rest).hexdigest(), sha)
            self.assertIn("transfer finished: big.bin, 20971520 bytes", server.log())
            self.assertIn("stopped", server.log())

    def test_idle_server_stops_at_once(self):
        with TempRoot() as root:
            server = Server(root)
            code, elapsed = server.stop(signal.SIGINT)
            self.assertEqual(code, 0, server.log())
            self.assertLess(elapsed, 5.0)
            self.assertRegex(server.log(), r"received SIGINT \(Ctrl\+C\)")

    def test_second_ctrl_c_exits_at_once_with_130(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "big.bin"), 20 * 1024 * 1024, seed=4)
            server = Server(root, "--drain-timeout", "60")
            with connect(server.port) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.sendall(b"big.bin\n")
                recv_exactly(s, 4096)  # a transfer that the drain would wait for
                server.proc.send_signal(signal.SIGINT)
                self.assertTrue(server.wait_for_log("received SIGINT"))
                start = time.monotonic()
                server.proc.send_signal(signal.SIGINT)
                code = server.proc.wait(timeout=10 * SLOW)
                elapsed = time.monotonic() - start
            self.assertEqual(code, 130)
            self.assertLess(elapsed, 5.0)


if __name__ == "__main__":
    unittest.main()
