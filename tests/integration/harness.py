"""Starts the real iocomp binary on a free loopback port and talks to it with real clients.

Used by the integration tests (stdlib unittest, run by ctest). Every wait is bounded.
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

BINARY = os.environ.get("IOCOMP_BINARY", os.path.join(os.path.dirname(__file__),
                                                      "../../build/iocomp"))
# The Windows build (iocomp.exe, cross-compiled with mingw-w64) runs under Wine: tests/windows.cmake
# sets IOCOMP_BINARY to it and WINEPREFIX to a prefix made once in the build directory, with a
# wineserver kept running (-p) so that each server starts in a fraction of a second.
WINDOWS = BINARY.endswith(".exe")
WINE = os.environ.get("IOCOMP_WINE", shutil.which("wine64") or "/usr/lib/wine/wine64")
LAUNCH = [WINE, BINARY] if WINDOWS else [BINARY]
if WINDOWS:
    os.environ.setdefault("WINEDEBUG", "-all")


def linux_only(reason):
    """Skips a test on the Windows build (under Wine), saying why it cannot apply there."""
    return unittest.skipIf(WINDOWS, f"Linux only: {reason}")
# The server model every test runs against (--model); scripts/test.sh runs the suites once per
# model. Tests that start the binary themselves add MODEL_ARGS.
MODEL = os.environ.get("IOCOMP_MODEL", "completion")
MODEL_ARGS = ["--model", MODEL]
POOL_THREADS = 16
# Sanitizer builds run several times slower: scale the time limits.
SLOW = 4.0 if os.environ.get("IOCOMP_SLOW_BUILD") else 1.0
TRANSMIT_ERROR = b"File transmit error!\r\n"


def make_file(path, size, seed=0):
    """Writes `size` pseudo-random bytes (deterministic per seed); returns the sha256 hex."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    digest = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB pattern
    with open(path, "wb") as f:
        left = size
        counter = 0
        while left > 0:
            chunk = block[: min(left, len(block))]
            # Vary each block so that offsets matter.
            chunk = counter.to_bytes(8, "little") + chunk[8:] if len(chunk) >= 8 else chunk
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
            counter += 1
    return digest.hexdigest()


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Server:
    """An iocomp process serving `root` on 127.0.0.1:<free port>."""

    def __init__(self, root, *args, threads=None, listen="127.0.0.1"):
        self.root = root
        if threads is None:
            # A thread of the pool (Example 4) serves one client at a time, from accept to
            # close: the tests that hold a few connections open at once (keep-alive clients,
            # held sockets) would leave the next client queued on a 2-thread pool until a
            # timeout. POOL_THREADS covers every test's concurrency; tests of the pool's own
            # limit pass `threads` explicitly.
            threads = POOL_THREADS if MODEL == "thread-pool" else 2
        cmd = [*LAUNCH, "--root", root, "--port", "0", "--threads", str(threads), *MODEL_ARGS]
        if listen:
            cmd += ["--listen", listen]
        cmd += list(args)
        # Under Wine, a daemon the server's Wine session starts may inherit its pipes and keep
        # them open after it exits: stderr goes to a file, read once the server has exited.
        self._stderr_file = tempfile.TemporaryFile() if WINDOWS else None
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self._stderr_file or subprocess.PIPE)
        self.lines = []
        self._lock = threading.Lock()
        first = self.proc.stdout.readline().decode(errors="replace")
        match = re.search(r"\(port (\d+)\)", first)
        if not match:
            err = self.stderr_text() if self.proc.poll() else ""
            self.proc.kill()
            raise RuntimeError(f"iocomp did not start: {first!r} {err!r}")
        self.port = int(match.group(1))
        self.lines.append(first)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def stderr_text(self):
        """What the server wrote on stderr (all of it once it has exited)."""
        if self._stderr_file is not None:
            self._stderr_file.seek(0)
            return self._stderr_file.read().decode(errors="replace")
        return self.proc.stderr.read().decode(errors="replace")

    def _read_log(self):
        for raw in self.proc.stdout:
            with self._lock:
                self.lines.append(raw.decode(errors="replace"))

    def log(self):
        with self._lock:
            return "".join(self.lines)

    def wait_for_log(self, pattern, timeout=5.0):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if re.search(pattern, self.log()):
                return True
            time.sleep(0.02)
        return False

    def stop(self, sig=signal.SIGINT, timeout=10.0):
        """Sends `sig`; returns (exit status, seconds until exit)."""
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("iocomp did not exit after the signal")
        self._reader.join(timeout=2)
        return code, time.monotonic() - start

    def alive(self):
        return self.proc.poll() is None

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        """Stops with SIGINT and insists on a clean exit: status 0 and nothing on stderr (so a
        sanitizer report, a leak included, fails the test that ran the server)."""
        clean_stop = self.proc.poll() is None
        if clean_stop:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("iocomp did not exit after SIGINT")
        err = self.stderr_text()
        # Tests run as root in CI: the advice to use --user is expected, anything else is not.
        err = "".join(line for line in err.splitlines(True)
                      if not line.startswith("iocomp: warning: serving as root"))
        self.proc.stdout.close()
        (self._stderr_file or self.proc.stderr).close()
        if exc[0] is None and clean_stop:
            if self.proc.returncode != 0 or err.strip():
                raise AssertionError(f"unclean exit {self.proc.returncode}: {err[-4000:]}")


class TempRoot:
    """A temporary directory to serve, removed afterwards."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="iocomp-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


class ServedTreeTest(unittest.TestCase):
    """Tests against one server over one temporary tree, shared by the class. A subclass fills
    the tree in `populate(base)` and returns the directory to serve (default: `base` itself);
    `server_args()`, called after it, gives the server's extra arguments (certificates, users,
    origins made by populate)."""

    @classmethod
    def populate(cls, base):
        return base

    @classmethod
    def server_args(cls):
        return ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempRoot()
        cls.base = cls.tmp.__enter__()
        try:
            cls.root = cls.populate(cls.base)
            cls.server = Server(cls.root, *cls.server_args())
        except BaseException:
            cls.tmp.__exit__(None, None, None)
            raise
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        cls.tmp.__exit__(None, None, None)

    def read(self, name):
        with open(os.path.join(self.root, name), "rb") as f:
            return f.read()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


def nc(port, data, timeout=60.0):
    """Sends `data` with the real `nc -N` (half-close after stdin ends); returns the bytes."""
    out = subprocess.run(["nc", "-N", "127.0.0.1", str(port)], input=data,
                         stdout=subprocess.PIPE, timeout=timeout * SLOW, check=False)
    return out.stdout


def nc_to_file(port, data, path, timeout=120.0):
    with open(path, "wb") as out:
        subprocess.run(["nc", "-N", "127.0.0.1", str(port)], input=data, stdout=out,
                       timeout=timeout * SLOW, check=False)


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(sock, n):
    chunks = []
    got = 0
    while got < n:
        chunk = sock.recv(min(1 << 20, n - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_until_closed(sock, limit=1 << 30):
    chunks = []
    got = 0
    while got < limit:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
