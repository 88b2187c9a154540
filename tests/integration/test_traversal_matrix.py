"""Path traversal matrix: every case is tried over the line protocol and over HTTP, and no
answer may ever carry a byte of anything outside the served root.

Secrets with unique markers sit outside the root: in a sibling directory ("outside/"), at a
known absolute path (the test's temp dir) and /etc/passwd (its first line is a marker). The
cases climb with "..", encode it once and twice, use backslashes, NUL, overlong and invalid
UTF-8 names, absolute paths, symlinks (relative, absolute, to directories, chained, to /proc
magic links), hidden names, a FIFO and a UNIX socket. Each request must be answered within
2 s (x SLOW): HTTP with 400, 403, 404 or 301; the line protocol with exactly the error line,
after which the connection still serves the next name.
"""
import collections
import os
import selectors
import socket
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import SLOW, TRANSMIT_ERROR, Server, TempRoot  # noqa: E402

MARK_OUTSIDE = b"IOCOMP-MARKER-SIBLING-DIR-5d2f9a61"
MARK_ABSOLUTE = b"IOCOMP-MARKER-ABSOLUTE-PATH-c81e07b3"
MARK_ENV = b"IOCOMP-MARKER-HIDDEN-ENV-44b0e2d9"
PROBE = b"probe file: the connection still serves names\n"
HARDLINKED = b"hard-linked content, a filesystem-level grant\n"
ANSWER_WITHIN = 2.0 * SLOW
HTTP_REFUSALS = {400, 403, 404, 301}
MIN_CASES = 40


def passwd_marker():
    try:
        with open("/etc/passwd", "rb") as f:
            line = f.readline().strip()
    except OSError:
        return None
    return line or None


class Case:
    """One traversal attempt. `path` is written as in a URL (percent-escapes allowed): the HTTP
    request uses it as the target (with a leading '/' added unless it has one or `http` is
    given), the line protocol gets it percent-decoded once, as raw bytes (or `line`)."""

    def __init__(self, label, path, line=None, http=None, line_closes=False, hidden=False):
        raw = path.encode("latin-1") if isinstance(path, str) else path
        self.label = label
        if http is None:
            http = raw if raw.startswith(b"/") else b"/" + raw
        self.http = http.encode("latin-1") if isinstance(http, str) else http
        if line is None:
            line = urllib.parse.unquote_to_bytes(raw)
        self.line = line.encode("latin-1") if isinstance(line, str) else line
        self.line_closes = line_closes  # a name over --max-line: error line, then close
        self.hidden = hidden  # refused only because of its dot name (served with --allow-hidden)

    def __repr__(self):
        return f"{self.label}: http {self.http[:80]!r} line {self.line[:80]!r}"


def read_for(sock, want, within):
    """Reads until `want` bytes arrived, EOF or `within` seconds passed. Returns (bytes, eof)."""
    sock.setblocking(False)
    data = bytearray()
    deadline = time.monotonic() + within
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        while len(data) < want:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return bytes(data), False
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, BlockingIOError) as e:
                if isinstance(e, BlockingIOError):
                    continue
                return bytes(data), True
            if not chunk:
                return bytes(data), True
            data += chunk
    return bytes(data), False


def open_socket(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def http_exchange(port, target):
    """One raw request with Connection: close. Returns (status or None, response bytes,
    seconds until the server closed, or None if it did not within ANSWER_WITHIN)."""
    start = time.monotonic()
    with open_socket(port) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data, eof = read_for(s, 1 << 30, ANSWER_WITHIN)
    status = None
    if data.startswith(b"HTTP/1.1 ") and len(data) >= 12 and data[9:12].isdigit():
        status = int(data[9:12])
    return status, data, (time.monotonic() - start) if eof else None


def line_exchange(port, name, line_closes=False, want=len(TRANSMIT_ERROR)):
    """Sends name + LF; returns (answer, after): `answer` is what came within ANSWER_WITHIN
    (until at least `want` bytes), `after` what the connection did next: the probe file's
    bytes if it is still open (asked for with "a.txt"), b"<eof>" if it was closed."""
    with open_socket(port) as s:
        s.sendall(name + b"\n")
        answer, eof = read_for(s, want, ANSWER_WITHIN)
        if eof or line_closes:
            if not eof:
                extra, eof = read_for(s, 1, ANSWER_WITHIN)
                answer += extra
            return answer, b"<eof>" if eof else b"<still open>"
        try:  # anything after the error line would show up before the probe file's bytes
            s.sendall(b"a.txt\n")
        except (BrokenPipeError, ConnectionResetError):
            return answer, b"<eof>"
        after, _ = read_for(s, len(PROBE), ANSWER_WITHIN)
        return answer, after


class TraversalMatrixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempRoot()
        base = cls.tmp.__enter__()
        os.chmod(base, 0o755)
        cls.base = base
        root = os.path.join(base, "root")
        cls.root = root
        outside = os.path.join(base, "outside")
        elsewhere = os.path.join(base, "elsewhere")
        for d in (root, outside, elsewhere, os.path.join(root, "sub", "deeper")):
            os.makedirs(d, exist_ok=True)

        def write(path, data):
            with open(path, "wb") as f:
                f.write(data)

        cls.outside_secret = os.path.join(outside, "secret.txt")
        cls.absolute_secret = os.path.join(base, "abs-secret.txt")
        write(cls.outside_secret, MARK_OUTSIDE)
        write(cls.absolute_secret, MARK_ABSOLUTE)
        write(os.path.join(root, "a.txt"), PROBE)
        write(os.path.join(root, "sub", "inner.txt"), b"inner\n")
        write(os.path.join(root, ".env"), MARK_ENV)
        write(os.path.join(root, "sub", ".env"), MARK_ENV)
        write(os.path.join(elsewhere, "target.txt"), HARDLINKED)
        # Hard links are a filesystem-level grant, not an escape: the link IS a name inside the
        # root for the same inode. Serving it is the accepted semantics (as nginx does); see
        # test_hard_link_inside_root_is_served.
        os.link(os.path.join(elsewhere, "target.txt"), os.path.join(root, "hardlink.txt"))

        links = {
            "ok_link": "a.txt",  # control: a symlink that stays inside is served
            "escape_rel": "../outside/secret.txt",
            "escape_abs": cls.outside_secret,
            "abs_secret_link": cls.absolute_secret,
            "passwd_link": "/etc/passwd",
            "dir_rel": "../outside",
            "dir_abs": outside,
            "rootlink": "/",
            "etclink": "/etc",
            "chain1": "chain2",
            "chain2": "sub/chain3",
            "sub/chain3": "../../outside/secret.txt",
            "sub/up_rel": "../../abs-secret.txt",
            "sub/uplink": "..",  # the root itself: harmless, but ".." after it leaves
            "loop1": "loop2",
            "loop2": "loop1",
            "climb_to_proc": "../" * 40 + "proc/self/root",
            "procroot": "/proc/self/root",
            "proccwd": "/proc/self/cwd",
            "procfd0": "/proc/self/fd/0",
            "procself": "/proc/self",
        }
        for name, target in links.items():
            os.symlink(target, os.path.join(root, name))
        os.mkfifo(os.path.join(root, "fifo"))
        cls.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cls.unix.bind(os.path.join(root, "sock"))
        cls.unix.listen(1)

        cls.markers = [MARK_OUTSIDE, MARK_ABSOLUTE, MARK_ENV]
        passwd = passwd_marker()
        if passwd:
            cls.markers.append(passwd)
        cls.cases = cls.build_cases()
        cls.server = cls.start_server()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.__exit__(None, None, None)
        finally:
            cls.unix.close()
            cls.tmp.__exit__(None, None, None)

    @classmethod
    def start_server(cls, *args):
        # The server starts in the temp dir, so that "/proc/self/cwd/outside/secret.txt" would
        # be the sibling secret (no ".." on the way for the HTTP decoder to refuse first).
        if not os.path.isabs(harness.BINARY):  # a relative IOCOMP_BINARY: stay where we are
            return Server(cls.root, "--quiet", *args)
        previous = os.getcwd()
        os.chdir(cls.base)
        try:
            return Server(cls.root, "--quiet", *args)
        finally:
            os.chdir(previous)

    @classmethod
    def build_cases(cls):
        root_name = os.path.basename(cls.root)
        abs_secret = cls.absolute_secret
        abs_outside = cls.outside_secret
        return [
            # ".." in every position.
            Case("leading ..", "../outside/secret.txt"),
            Case("leading .. deep", "../" * 12 + "etc/passwd"),
            Case("middle ..", "sub/../../outside/secret.txt"),
            Case("middle .. deep", "sub/deeper/../../../outside/secret.txt"),
            Case("a/../../x", "sub/../../abs-secret.txt"),
            Case("trailing ..", "sub/../.."),
            Case("bare ..", ".."),
            Case("bare ../", "../"),
            Case("repeated ../..", "../../.."),
            Case("dot then ..", "./../outside/secret.txt"),
            Case("dots and .. mixed", "sub/./.././../outside/secret.txt"),
            Case("out and back through the root's name", f"../{root_name}/../outside/secret.txt"),
            Case("doubled slashes", "..//..//" + abs_secret.lstrip("/")),
            Case("four dots", "....//outside/secret.txt"),
            Case("..;", "..;/outside/secret.txt"),
            Case("relative HTTP target", "../outside/secret.txt", http="../outside/secret.txt"),
            # Percent-encoded and double-encoded.
            Case("%2e%2e", "%2e%2e/outside/secret.txt"),
            Case("%2E%2E upper case", "%2E%2E/%2E%2E/" + abs_secret.lstrip("/")),
            Case("%2e%2e%2f", "%2e%2e%2foutside%2fsecret.txt"),
            Case("..%2f", "..%2foutside%2fsecret.txt"),
            Case("%2e.", "%2e./outside/secret.txt"),
            Case(".%2e", ".%2e/outside/secret.txt"),
            Case("%2e%2e in the middle", "sub/%2e%2e/%2e%2e/outside/secret.txt"),
            Case("%2e%2e trailing", "sub/%2e%2e/%2e%2e"),
            Case("%252e%252e", "%252e%252e/outside/secret.txt"),
            Case("%252e%252e%252f", "%252e%252e%252foutside%252fsecret.txt"),
            Case("..%252f", "..%252foutside%252fsecret.txt"),
            Case("encoded ? then ..", "%3f/../../outside/secret.txt"),
            # Backslashes.
            Case("..\\..\\x", "..\\..\\outside\\secret.txt"),
            Case("%5c", "..%5c..%5coutside%5csecret.txt"),
            Case("mixed \\ and /", "sub\\..\\../outside/secret.txt"),
            # NUL.
            Case("%00 after the name", "../outside/secret.txt%00.txt"),
            Case("%00 between names", "a.txt%00/../../outside/secret.txt"),
            # Overlong names (5000+ bytes; the line protocol closes after the error line).
            Case("overlong ../ chain", "../" * 1667 + "etc/passwd", line_closes=True),
            Case("overlong name", "a/" * 2500, line_closes=True),
            # Invalid UTF-8 (overlong encodings of '.' and '/').
            Case("%c0%ae%c0%ae", "%c0%ae%c0%ae/outside/secret.txt"),
            Case("%e0%80%ae", "%e0%80%ae%e0%80%ae/outside/secret.txt"),
            Case("raw 0xc0 0xae", b"\xc0\xae\xc0\xae/outside/secret.txt"),
            Case("%c0%af as slash", "..%c0%afoutside%c0%afsecret.txt"),
            Case("fullwidth dots", "%ef%bc%8e%ef%bc%8e/outside/secret.txt"),
            # Absolute paths.
            Case("/etc/passwd", "/etc/passwd"),
            Case("//etc/passwd", "//etc/passwd"),
            Case("absolute secret", abs_secret),
            Case("//absolute secret", "/" + abs_secret),
            Case("absolute sibling secret", abs_outside),
            Case("/proc/self/root/etc/passwd", "/proc/self/root/etc/passwd"),
            Case("absolute-form URL", "http://t/../outside/secret.txt",
                 http="http://t/../outside/secret.txt"),
            Case("file: URL", "file:///etc/passwd", http="file:///etc/passwd"),
            # Symlinks leading out.
            Case("symlink ../outside/secret", "escape_rel"),
            Case("symlink to absolute secret", "escape_abs"),
            Case("symlink to the temp dir's secret", "abs_secret_link"),
            Case("symlink to /etc/passwd", "passwd_link"),
            Case("symlinked dir (relative) out", "dir_rel/secret.txt"),
            Case("symlinked dir (absolute) out", "dir_abs/secret.txt"),
            Case("listing through a symlinked dir", "dir_rel/"),
            Case("symlink to /", "rootlink/etc/passwd"),
            Case("symlink to /etc", "etclink/passwd"),
            Case("chained symlinks", "chain1"),
            Case("symlink in a subdir climbing", "sub/up_rel"),
            Case("symlink to the root, then ..", "sub/uplink/../outside/secret.txt"),
            Case("symlink loop", "loop1"),
            Case("relative symlink climbing to /proc", "climb_to_proc/etc/passwd"),
            # Magic links.
            Case("/proc/self/root link", "procroot/etc/passwd"),
            Case("/proc/self/root link, absolute secret", "procroot" + abs_outside),
            Case("/proc/self/cwd link", "proccwd/outside/secret.txt"),
            Case("/proc/self/fd/0 link", "procfd0"),
            Case("/proc/self link", "procself/root/etc/passwd"),
            # Hidden files (refused by default).
            Case(".env", ".env", hidden=True),
            Case("sub/.env", "sub/.env", hidden=True),
            Case("%2eenv", "%2eenv", hidden=True),
            Case(".%65nv", ".%65nv", hidden=True),
            Case("sub/../.env", "sub/../.env", hidden=True),
            # Special files under the root.
            Case("FIFO", "fifo"),
            Case("UNIX socket", "sock"),
        ]

    def assert_no_marker(self, data):
        for marker in self.markers:
            self.assertNotIn(marker, data, f"ESCAPE: {marker!r} leaked")

    def test_matrix_has_enough_cases(self):
        self.assertGreaterEqual(len(self.cases), MIN_CASES)
        self.assertEqual(len({c.label for c in self.cases}), len(self.cases), "duplicate labels")

    def test_secrets_exist_and_the_controls_are_served(self):
        # Guards against a vacuous matrix: the secrets are really there, the markers are
        # readable, and names that stay inside (a plain file, an inside symlink) are served.
        for path, marker in ((self.outside_secret, MARK_OUTSIDE),
                             (self.absolute_secret, MARK_ABSOLUTE)):
            with open(path, "rb") as f:
                self.assertEqual(f.read(), marker)
        for name in (b"a.txt", b"ok_link", b"sub/../a.txt"):
            answer, after = line_exchange(self.server.port, name, want=len(PROBE))
            self.assertEqual(answer, PROBE, name)
            self.assertEqual(after, PROBE, name)
            status, data, _ = http_exchange(self.server.port, b"/" + name)
            self.assertEqual(status, 200, data[:200])
            self.assertTrue(data.endswith(PROBE))

    def run_matrix(self, port, cases, title):
        statuses = collections.Counter()
        line_errors = 0
        slowest = 0.0
        for case in cases:
            with self.subTest(protocol="line", case=case.label):
                start = time.monotonic()
                answer, after = line_exchange(port, case.line, case.line_closes)
                slowest = max(slowest, time.monotonic() - start)
                line_errors += answer == TRANSMIT_ERROR
                self.assert_no_marker(answer + after)
                self.assertEqual(answer, TRANSMIT_ERROR, f"{case}: no (or a wrong) answer")
                self.assertEqual(after, b"<eof>" if case.line_closes else PROBE,
                                 f"{case}: connection not usable after the error")
            with self.subTest(protocol="http", case=case.label):
                status, data, seconds = http_exchange(port, case.http)
                statuses[status] += 1
                slowest = max(slowest, seconds or ANSWER_WITHIN)
                self.assert_no_marker(data)
                self.assertIsNotNone(seconds, f"{case}: no complete answer within "
                                              f"{ANSWER_WITHIN} s: {data[:200]!r}")
                self.assertIn(status, HTTP_REFUSALS, f"{case}: {data[:300]!r}")
        print(f"\ntraversal matrix ({title}): {len(cases)} cases x 2 protocols; line protocol: "
              f"{line_errors} error lines; HTTP: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))
              + f"; slowest answer {slowest * 1000:.1f} ms", file=sys.stderr)

    def test_matrix(self):
        self.run_matrix(self.server.port, self.cases, "defaults")
        self.assertTrue(self.server.alive(), "server died during the matrix")
        answer, after = line_exchange(self.server.port, b"a.txt", want=len(PROBE))
        self.assertEqual(answer + after, PROBE + PROBE)

    def test_matrix_with_allow_hidden(self):
        # --allow-hidden opens dot names; ".." and every escape must stay refused.
        cases = [c for c in self.cases if not c.hidden]
        with self.start_server("--allow-hidden") as server:
            self.run_matrix(server.port, cases, "--allow-hidden")
            self.assertTrue(server.alive(), "server died during the matrix")
            answer, after = line_exchange(server.port, b".env", want=len(MARK_ENV))
            # The flag works: hidden names are served.
            self.assertEqual(answer + after, MARK_ENV + PROBE)

    def test_root_listing_shows_no_outside_content(self):
        status, data, seconds = http_exchange(self.server.port, b"/")
        self.assertEqual(status, 200)
        self.assert_no_marker(data)
        for name in (b"a.txt", b"ok_link", b"sub/"):  # what stays inside is listed
            self.assertIn(b'href="' + name + b'"', data)
        # Links that lead out (their size and date would describe the target) and hidden names
        # are not listed.
        for name in (b"escape_rel", b"escape_abs", b"abs_secret_link", b"passwd_link", b"dir_rel",
                     b"dir_abs", b"rootlink", b"etclink", b"chain1", b"procroot", b"proccwd",
                     b"procself", b"procfd0", b"climb_to_proc", b".env"):
            self.assertNotIn(b'href="' + name, data)

    def test_hard_link_inside_root_is_served(self):
        # A hard link made inside the root to a file kept elsewhere is the same inode under a
        # name beneath the root: whoever could make the link could grant access anyway. It is
        # a filesystem-level grant, not an escape, and is served (nginx behaves the same).
        with open_socket(self.server.port) as s:
            s.sendall(b"hardlink.txt\n")
            data, _ = read_for(s, len(HARDLINKED), ANSWER_WITHIN)
        self.assertEqual(data, HARDLINKED)
        status, data, _ = http_exchange(self.server.port, b"/hardlink.txt")
        self.assertEqual(status, 200)
        self.assertTrue(data.endswith(b"\r\n\r\n" + HARDLINKED), data[-200:])


if __name__ == "__main__":
    unittest.main()
