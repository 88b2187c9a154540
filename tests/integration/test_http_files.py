"""HTTP/1.1 on the line protocol's port: files, headers, confinement, conditionals, ranges and
directory listings, spoken to with http.client, curl and raw request bytes on a socket.

The helpers at the top (RawConnection, raw_exchange, ...) are shared with the other
test_http_*.py files, which import them from here.
"""
import email.utils
import hashlib
import html.parser
import http.client
import os
import re
import socket
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import (SLOW, TRANSMIT_ERROR, linux_only, ServedTreeTest, Server, TempRoot, connect,  # noqa: E402
                     make_file, sha256_file)

SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT-7f3a9c"
IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                         r"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")
STRONG_ETAG = re.compile(r'^"[\x21\x23-\x7e\x80-\xff]*"$')


# ----------------------------------------------------------------------------------------------
# Shared helpers (imported by the other test_http_*.py files).

class RawResponse:
    def __init__(self, version, status, reason, header_list, body, head_bytes):
        self.version = version
        self.status = status
        self.reason = reason
        self.header_list = header_list  # [(lowercase name, value)] in order
        self.body = body
        self.head_bytes = head_bytes

    def header(self, name, default=None):
        values = [v for k, v in self.header_list if k == name.lower()]
        return ", ".join(values) if values else default

    def count(self, name):
        return sum(1 for k, _ in self.header_list if k == name.lower())

    def __repr__(self):
        return f"<{self.status} {self.reason} {self.header_list} body {len(self.body)} bytes>"


class RawConnection:
    """A socket that sends raw request bytes and parses the responses one by one, so that
    keep-alive, pipelining and the absence of a body (HEAD, 304) can be checked byte-exactly."""

    def __init__(self, port, timeout=10.0):
        self.sock = connect(port, timeout)
        self.buf = bytearray()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError(f"connection closed by the server; unparsed: {bytes(self.buf[:200])!r}")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_head(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > 1 << 16:
                raise AssertionError(f"no end of response head: {bytes(self.buf[:300])!r}")
            if self.buf.startswith(TRANSMIT_ERROR):
                raise AssertionError("answered by the line protocol, not HTTP: "
                                     f"{bytes(self.buf[:100])!r}")
            self._fill()
        head = bytes(self.buf[:end + 4])
        del self.buf[:end + 4]
        return head

    def read_response(self, head_only=False):
        """Reads one response; the body is read by Content-Length unless head_only (a HEAD
        request) or the status has no body (1xx, 204, 304)."""
        head = self.read_head()
        lines = head[:-4].split(b"\r\n")
        match = re.match(rb"^(HTTP/\d\.\d) (\d{3}) ?(.*)$", lines[0])
        if not match:
            raise AssertionError(f"bad status line {lines[0]!r}")
        header_list = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise AssertionError(f"bad header line {line!r}")
            header_list.append((name.decode().strip().lower(), value.decode("latin-1").strip()))
        status = int(match.group(2))
        response = RawResponse(match.group(1).decode(), status, match.group(3).decode(),
                               header_list, b"", head)
        if head_only or status in (204, 304) or 100 <= status < 200:
            return response
        if response.header("transfer-encoding") == "chunked":
            response.body = self.read_chunked_body()
            return response
        length = response.header("content-length")
        if length is None:
            # Only a response that closes the connection may end its body that way.
            if "close" not in response.header("connection", "").lower():
                raise AssertionError(f"response without Content-Length: {head!r}")
            response.body = self.read_until_closed()
            return response
        response.body = self._take(int(length))
        return response

    def read_line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 1 << 12:
                raise AssertionError(f"no line end: {bytes(self.buf[:100])!r}")
            self._fill()
        end = self.buf.index(b"\r\n")
        line = bytes(self.buf[:end])
        del self.buf[:end + 2]
        return line

    def read_chunked_body(self, max_chunks=1 << 20):
        """Decodes a chunked body strictly: hex sizes, CRLF after each chunk's data, the
        terminating zero-size chunk with no trailers. Records each chunk's size in
        self.chunk_sizes."""
        body = bytearray()
        self.chunk_sizes = []
        for _ in range(max_chunks):
            line = self.read_line()
            if not re.fullmatch(rb"[0-9a-fA-F]{1,16}", line):
                raise AssertionError(f"bad chunk-size line {line!r}")
            size = int(line, 16)
            if size == 0:
                if self.read_line() != b"":
                    raise AssertionError("trailer fields or no CRLF after the last chunk")
                return bytes(body)
            self.chunk_sizes.append(size)
            body += self._take(size)
            if self._take(2) != b"\r\n":
                raise AssertionError("no CRLF after a chunk's data")
        raise AssertionError("too many chunks")

    def read_until_closed(self):
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except ConnectionResetError:
                break
            if not chunk:
                break
            self.buf += chunk
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def server_closed(self, timeout=5.0):
        """True when the server closes the connection (EOF or reset) with no further bytes."""
        self.sock.settimeout(timeout * SLOW)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return not self.buf
                self.buf += chunk
        except ConnectionResetError:
            return not self.buf
        except socket.timeout:
            return False

    def leftover(self):
        return bytes(self.buf)


def raw_exchange(port, request, head_only=False, timeout=10.0):
    """Sends `request` on a fresh connection and parses one response."""
    with RawConnection(port, timeout) as conn:
        conn.send(request)
        return conn.read_response(head_only)


def raw_all(port, request, timeout=10.0):
    """Sends `request`, half-closes, returns every byte until the server closes."""
    s = connect(port, timeout)
    try:
        s.sendall(request)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                chunk = s.recv(1 << 20)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        s.close()


def get_request(target, *headers, method="GET", version="HTTP/1.1", close=True):
    lines = [f"{method} {target} {version}", "Host: 127.0.0.1", "User-Agent: iocomp-test"]
    lines += list(headers)
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http_get(port, path, headers=None, method="GET", timeout=30.0):
    """One request with http.client on a fresh connection: (response, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SLOW)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response, body
    finally:
        conn.close()


def run_client(args, timeout=60.0):
    """Runs a real command-line client with a bounded wait."""
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout * SLOW, check=False)


def assert_error_page(test, response, status):
    """A complete error response: the status, a short HTML body naming it, right length."""
    test.assertEqual(response.status, status, response)
    test.assertTrue(response.header("content-type", "").startswith("text/html"), response)
    test.assertEqual(int(response.header("content-length")), len(response.body))
    test.assertLess(len(response.body), 1024)
    test.assertIn(str(status).encode(), response.body)
    test.assertIn(b"<html", response.body.lower())


class LinkCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []  # (href, text)
        self._href = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None


def links_of(body):
    collector = LinkCollector()
    collector.feed(body.decode("utf-8"))
    collector.close()
    return collector.links


# ----------------------------------------------------------------------------------------------

def build_tree(base):
    """Creates base/root (served) and base/outside (with the secret); returns the root path and
    a dict of name -> sha256 for the main files."""
    root = os.path.join(base, "root")
    outside = os.path.join(base, "outside")
    os.makedirs(os.path.join(root, "sub", "deeper"))
    os.makedirs(outside)
    with open(os.path.join(outside, "secret"), "wb") as f:
        f.write(SECRET)
    digests = {
        "small.txt": make_file(os.path.join(root, "small.txt"), 1000, seed=11),
        "100k.bin": make_file(os.path.join(root, "100k.bin"), 100 * 1024, seed=12),
        "30m.bin": make_file(os.path.join(root, "30m.bin"), 30 << 20, seed=13),
    }
    # A second old: a date validator of a file modified in the current second is weak.
    old = time.time() - 10
    os.utime(os.path.join(root, "100k.bin"), (old, old))
    with open(os.path.join(root, "page.html"), "wb") as f:
        f.write(b"<!DOCTYPE html><title>page</title><p>hello</p>\n")
    with open(os.path.join(root, "UPPER.HTML"), "wb") as f:
        f.write(b"<p>upper</p>\n")
    make_file(os.path.join(root, "pic.png"), 3000, seed=14)
    make_file(os.path.join(root, "data.zzunknownext"), 500, seed=15)
    make_file(os.path.join(root, "noextension"), 400, seed=16)
    with open(os.path.join(root, "empty.txt"), "wb"):
        pass
    make_file(os.path.join(root, "sub", "inner.txt"), 700, seed=17)
    make_file(os.path.join(root, "sub", "deeper", "leaf.txt"), 50, seed=18)
    # Escapes: a file symlink and a directory symlink leading out of the root.
    os.symlink("../outside/secret", os.path.join(root, "escape"))
    os.symlink("../outside", os.path.join(root, "escdir"))
    os.symlink(os.path.join(outside, "secret"), os.path.join(root, "abs-escape"))
    # Symlinks that stay inside are fine.
    os.symlink("small.txt", os.path.join(root, "alias.txt"))
    os.symlink("sub/deeper", os.path.join(root, "deeplink"))
    # Directory with an index.html, and one to be listed.
    os.makedirs(os.path.join(root, "site"))
    with open(os.path.join(root, "site", "index.html"), "wb") as f:
        f.write(b"<!DOCTYPE html><title>index</title><p>site index</p>\n")
    with open(os.path.join(root, "site", "other.txt"), "wb") as f:
        f.write(b"other\n")
    listing = os.path.join(root, "list")
    os.makedirs(os.path.join(listing, "child dir"))
    os.makedirs(os.path.join(listing, "plain"))
    for i, name in enumerate(["<b>&\"x'.txt", "with space.txt", "100%#x.txt", "caf\u00e9.txt",
                              "a?b.txt", "normal.txt"]):
        with open(os.path.join(listing, name), "wb") as f:
            f.write(f"content of {name} #{i}\n".encode())
    with open(os.path.join(listing, "child dir", "kid.txt"), "wb") as f:
        f.write(b"kid\n")
    # A FIFO: must give 403 at once (never block the worker waiting for a writer).
    os.mkfifo(os.path.join(root, "fifo"))
    return root, outside, digests


class HttpFilesTest(ServedTreeTest):
    @classmethod
    def populate(cls, base):
        root, cls.outside, cls.digests = build_tree(base)
        return root

    # --- GET and HEAD ---------------------------------------------------------------------

    def test_get_small_file_with_http_client(self):
        response, body = http_get(self.port, "/small.txt")
        self.assertEqual(response.status, 200)
        self.assertEqual(hashlib.sha256(body).hexdigest(), self.digests["small.txt"])
        self.assertEqual(response.getheader("Content-Length"), "1000")

    def test_get_30mb_file_with_http_client(self):
        response, body = http_get(self.port, "/30m.bin", timeout=60)
        self.assertEqual(response.status, 200)
        self.assertEqual(len(body), 30 << 20)
        self.assertEqual(hashlib.sha256(body).hexdigest(), self.digests["30m.bin"])

    def test_get_with_curl_small_and_30mb(self):
        with TempRoot() as out:
            for name in ("small.txt", "30m.bin", "100k.bin"):
                with self.subTest(name=name):
                    path = os.path.join(out, name)
                    result = run_client(["curl", "-sS", "--fail", "--max-time", str(60 * SLOW),
                                         "-o", path, self.url("/" + name)])
                    self.assertEqual(result.returncode, 0, result.stderr)
                    self.assertEqual(sha256_file(path), self.digests[name])

    def test_file_name_with_a_trailing_slash_is_404(self):
        for target in ("/small.txt/", "/small.txt//", "/sub/inner.txt/", "/small.txt%2f"):
            with self.subTest(target=target):
                for method in ("GET", "HEAD"):
                    response = raw_exchange(self.port, get_request(target, method=method),
                                            head_only=method == "HEAD")
                    self.assertEqual(response.status, 404)
                    self.assertNotIn(self.read("small.txt")[:50], response.body)
        # Without the slash, and the line protocol, are unchanged.
        self.assertEqual(raw_exchange(self.port, get_request("/small.txt")).status, 200)

    def test_get_empty_file(self):
        response = raw_exchange(self.port, get_request("/empty.txt"))
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header("content-length"), "0")
        self.assertEqual(response.body, b"")

    def test_symlink_inside_root_is_served(self):
        response, body = http_get(self.port, "/alias.txt")
        self.assertEqual(response.status, 200)
        self.assertEqual(body, self.read("small.txt"))
        response, body = http_get(self.port, "/deeplink/leaf.txt")
        self.assertEqual(response.status, 200)
        self.assertEqual(body, self.read("sub/deeper/leaf.txt"))
        response, body = http_get(self.port, "/deeplink")
        self.assertEqual((response.status, response.getheader("Location")), (301, "/deeplink/"))
        response, body = http_get(self.port, "/deeplink/")
        self.assertEqual(response.status, 200)
        self.assertIn("leaf.txt", [href for href, _ in links_of(body)])

    def test_head_has_headers_and_no_body(self):
        for name, size in (("small.txt", 1000), ("30m.bin", 30 << 20), ("empty.txt", 0)):
            with self.subTest(name=name), RawConnection(self.port) as conn:
                # HEAD then GET pipelined: if HEAD sent a body, the second response would not
                # start where it must.
                conn.send(get_request("/" + name, method="HEAD", close=False) +
                          get_request("/small.txt"))
                head = conn.read_response(head_only=True)
                self.assertEqual(head.status, 200)
                self.assertEqual(head.header("content-length"), str(size))
                self.assertIsNotNone(head.header("etag"))
                self.assertIsNotNone(head.header("last-modified"))
                self.assertEqual(head.header("accept-ranges"), "bytes")
                self.assertTrue(conn.buf == b"" or conn.buf.startswith(b"HTTP/1.1 "),
                                f"bytes after the HEAD response: {conn.leftover()[:80]!r}")
                get = conn.read_response()
                self.assertEqual(get.status, 200)
                self.assertEqual(get.body, self.read("small.txt"))
                self.assertTrue(conn.server_closed())

    def test_head_with_http_client_matches_get_headers(self):
        head, head_body = http_get(self.port, "/100k.bin", method="HEAD")
        get, get_body = http_get(self.port, "/100k.bin")
        self.assertEqual(head_body, b"")
        self.assertEqual(len(get_body), 100 * 1024)
        for name in ("Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges"):
            self.assertEqual(head.getheader(name), get.getheader(name), name)

    def test_query_string_and_fragment_are_ignored(self):
        for target in ("/small.txt?x=1", "/small.txt?", "/small.txt?a=b&c=../../etc/passwd",
                       "/small.txt#frag"):
            with self.subTest(target=target):
                response = raw_exchange(self.port, get_request(target))
                self.assertEqual(response.status, 200)
                self.assertEqual(response.body, self.read("small.txt"))

    def test_percent_encoded_names_and_absolute_form(self):
        response = raw_exchange(self.port, get_request("/%73mall%2Etxt"))
        self.assertEqual((response.status, response.body), (200, self.read("small.txt")))
        response = raw_exchange(self.port, get_request("/sub/./deeper//leaf.txt"))
        self.assertEqual((response.status, response.body), (200, self.read("sub/deeper/leaf.txt")))
        response = raw_exchange(self.port, get_request("/sub/deeper/../inner.txt"))
        self.assertEqual((response.status, response.body), (200, self.read("sub/inner.txt")))
        # Raw UTF-8 in the target (obs-text), as some clients send it.
        response = raw_exchange(self.port, get_request("/list/caf\u00e9.txt".encode().decode(
            "latin-1")))
        self.assertEqual((response.status, response.body), (200, self.read("list/caf\u00e9.txt")))
        response = raw_exchange(self.port, get_request("/list/caf%C3%A9.txt"))
        self.assertEqual((response.status, response.body), (200, self.read("list/caf\u00e9.txt")))
        response = raw_exchange(self.port,
                                get_request(f"http://127.0.0.1:{self.port}/small.txt"))
        self.assertEqual((response.status, response.body), (200, self.read("small.txt")))

    # --- Confinement ----------------------------------------------------------------------

    def test_traversal_and_escapes_never_leak_outside_content(self):
        abs_secret = os.path.join(self.outside, "secret")
        targets = [
            "/../outside/secret",
            "/sub/../../outside/secret",
            "/sub/deeper/../../../outside/secret",
            "/..",
            "/../",
            "/%2e%2e/outside/secret",
            "/%2e%2E/outside/secret",
            "/%2E%2e/",
            "/.%2e/outside/secret",
            "/sub/%2e%2e/%2e%2e/outside/secret",
            "/..%2fetc/passwd",
            "/..%2foutside/secret",
            "/..%2Foutside%2Fsecret",
            "/%2e%2e%2f..",
            "/%2e%2e%2foutside%2fsecret",
            "/sub%2f..%2f..%2foutside%2fsecret",
            "/%00",
            "/small.txt%00",
            "/small.txt%00.png",
            "/escape%00",
            "/..\\..\\x",
            "/..\\outside\\secret",
            "/%5c..%5c",
            "/%5c..%5coutside%5csecret",
            "/..%5c..%5coutside%5csecret",
            "/sub\\..\\..\\outside\\secret",
            "/escape",
            "/abs-escape",
            "/escdir/secret",
            "/escdir/",
            "/escdir",
            "/sub/../escape",
            "/%65scape",
            "/etc/passwd",
            "//etc/passwd",
            abs_secret,
            "/" + abs_secret,
            "/proc/self/root" + abs_secret,
            "/proc/self/cwd/../outside/secret",
            "/dev/null",
            f"http://127.0.0.1:{self.port}/../outside/secret",
            f"http://127.0.0.1:{self.port}/%2e%2e/outside/secret",
            "http://127.0.0.1" + abs_secret,
        ]
        for target in targets:
            with self.subTest(target=target):
                for method in ("GET", "HEAD"):
                    data = raw_all(self.port, get_request(target, method=method))
                    self.assertNotIn(SECRET, data)
                    self.assertNotIn(b"root:x:0:0", data)
                    match = re.match(rb"^HTTP/1\.1 (\d{3}) ", data)
                    self.assertIsNotNone(match, data[:200])
                    self.assertIn(int(match.group(1)), (400, 403, 404), data[:300])

    def test_specific_confinement_statuses(self):
        expected = {
            "/../outside/secret": 400,     # ".." above the root
            "/%2e%2e/outside/secret": 400,
            "/..%2fetc/passwd": 400,
            "/small.txt%00": 400,          # NUL
            "/%5c..%5c": 400,              # backslash
            "/..\\..\\x": 400,
            "/escape": 403,                # symlink out of the root
            "/escdir/secret": 403,
            "/etc/passwd": 404,            # absolute names are looked up under the root
            "/nope.txt": 404,
        }
        for target, status in expected.items():
            with self.subTest(target=target):
                response = raw_exchange(self.port, get_request(target))
                assert_error_page(self, response, status)
                self.assertNotIn(SECRET, response.body)

    def test_curl_path_as_is_traversal(self):
        for path in ("/../outside/secret", "/%2e%2e/outside/secret", "/escape"):
            with self.subTest(path=path):
                result = run_client(["curl", "-sS", "--path-as-is", "-o", "-", "-w",
                                     "\n%{http_code}", "--max-time", str(10 * SLOW),
                                     self.url(path)])
                self.assertNotIn(SECRET, result.stdout)
                code = int(result.stdout.rsplit(b"\n", 1)[1])
                self.assertIn(code, (400, 403, 404))

    def test_fifo_is_forbidden_without_hanging(self):
        start = time.monotonic()
        for method in ("GET", "HEAD"):
            with self.subTest(method=method):
                response = raw_exchange(self.port, get_request("/fifo", method=method),
                                        head_only=method == "HEAD", timeout=5)
                if method == "GET":
                    assert_error_page(self, response, 403)
                else:
                    self.assertEqual(response.status, 403)
        self.assertLess(time.monotonic() - start, 5 * SLOW)
        # The worker was not blocked: other requests are still served.
        response, body = http_get(self.port, "/small.txt", timeout=5)
        self.assertEqual(body, self.read("small.txt"))

    # --- Headers --------------------------------------------------------------------------

    def test_content_type_from_mime_types(self):
        expected = {
            "/page.html": "text/html",
            "/UPPER.HTML": "text/html",
            "/small.txt": "text/plain",
            "/pic.png": "image/png",
            "/data.zzunknownext": "application/octet-stream",
            "/noextension": "application/octet-stream",
            "/30m.bin": "application/octet-stream",
        }
        for path, mime in expected.items():
            with self.subTest(path=path):
                response, _ = http_get(self.port, path, method="HEAD")
                self.assertEqual(response.status, 200)
                content_type = response.getheader("Content-Type")
                self.assertIsNotNone(content_type)
                self.assertEqual(content_type.split(";")[0].strip().lower(), mime)

    def test_standard_headers(self):
        before = time.time()
        response = raw_exchange(self.port, get_request("/pic.png"))
        after = time.time()
        self.assertEqual(response.version, "HTTP/1.1")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.reason, "OK")
        self.assertEqual(response.header("content-length"), "3000")
        self.assertEqual(len(response.body), 3000)
        self.assertEqual(response.header("accept-ranges"), "bytes")
        for name in ("content-length", "content-type", "etag", "last-modified", "date",
                     "server", "accept-ranges"):
            self.assertEqual(response.count(name), 1, name)
        self.assertTrue(response.header("server"))
        # Date: an IMF-fixdate close to now.
        date = response.header("date")
        self.assertRegex(date, IMF_FIXDATE)
        when = email.utils.parsedate_to_datetime(date).timestamp()
        self.assertGreaterEqual(when, int(before) - 2)
        self.assertLessEqual(when, after + 2)
        # Last-Modified: the file's mtime.
        modified = response.header("last-modified")
        self.assertRegex(modified, IMF_FIXDATE)
        mtime = os.stat(os.path.join(self.root, "pic.png")).st_mtime
        self.assertEqual(modified, email.utils.formatdate(int(mtime), usegmt=True))
        # ETag: strong (no W/), quoted, stable across requests.
        etag = response.header("etag")
        self.assertFalse(etag.startswith("W/"), etag)
        self.assertRegex(etag, STRONG_ETAG)
        self.assertGreater(len(etag), 2)
        again = raw_exchange(self.port, get_request("/pic.png"))
        self.assertEqual(again.header("etag"), etag)
        other = raw_exchange(self.port, get_request("/small.txt"))
        self.assertNotEqual(other.header("etag"), etag)

    def test_error_responses_have_date_and_server(self):
        response = raw_exchange(self.port, get_request("/nope"))
        assert_error_page(self, response, 404)
        self.assertRegex(response.header("date"), IMF_FIXDATE)
        self.assertTrue(response.header("server"))

    # --- Conditional requests -------------------------------------------------------------

    def validators(self, path):
        response = raw_exchange(self.port, get_request(path, method="HEAD"), head_only=True)
        return response.header("etag"), response.header("last-modified")

    def conditional(self, path, *headers):
        """Sends a conditional GET pipelined with a plain GET of small.txt: a 304 that carried a
        body would break the second response."""
        with RawConnection(self.port) as conn:
            conn.send(get_request(path, *headers, close=False) + get_request("/small.txt"))
            first = conn.read_response()
            second = conn.read_response()
            self.assertEqual((second.status, second.body), (200, self.read("small.txt")))
            self.assertTrue(conn.server_closed())
            return first

    def test_if_none_match(self):
        for path in ("/small.txt", "/100k.bin"):
            etag, _ = self.validators(path)
            with self.subTest(path=path):
                response = self.conditional(path, f"If-None-Match: {etag}")
                self.assertEqual(response.status, 304)
                self.assertEqual(response.body, b"")
                self.assertEqual(response.header("etag"), etag)
                self.assertIsNone(response.header("content-type"))
                self.assertEqual(self.conditional(path, "If-None-Match: *").status, 304)
                self.assertEqual(
                    self.conditional(path, f'If-None-Match: "nope", {etag}').status, 304)
                self.assertEqual(self.conditional(path, f"If-None-Match: W/{etag}").status, 304)
                response = self.conditional(path, 'If-None-Match: "other-tag"')
                self.assertEqual(response.status, 200)
                self.assertEqual(response.body, self.read(path[1:]))

    def test_if_none_match_with_http_client(self):
        etag, _ = self.validators("/page.html")
        response, body = http_get(self.port, "/page.html", {"If-None-Match": etag})
        self.assertEqual(response.status, 304)
        self.assertEqual(body, b"")

    def test_if_modified_since(self):
        path = "/100k.bin"
        _, last_modified = self.validators(path)
        mtime = email.utils.parsedate_to_datetime(last_modified).timestamp()
        later = email.utils.formatdate(mtime + 3600, usegmt=True)
        earlier = email.utils.formatdate(mtime - 3600, usegmt=True)
        self.assertEqual(self.conditional(path, f"If-Modified-Since: {last_modified}").status, 304)
        self.assertEqual(self.conditional(path, f"If-Modified-Since: {later}").status, 304)
        response = self.conditional(path, f"If-Modified-Since: {earlier}")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, self.read("100k.bin"))
        # If-None-Match takes precedence over If-Modified-Since.
        response = self.conditional(path, 'If-None-Match: "other"',
                                    f"If-Modified-Since: {later}")
        self.assertEqual(response.status, 200)

    def test_if_modified_since_invalid_date_is_ignored(self):
        for value in ("yesterday", "Mon, 99 Foo 2020 00:00:00 GMT", ""):
            with self.subTest(value=value):
                response = self.conditional("/small.txt", f"If-Modified-Since: {value}")
                self.assertEqual(response.status, 200)
                self.assertEqual(response.body, self.read("small.txt"))

    def test_if_match_and_if_unmodified_since(self):
        path = "/100k.bin"
        etag, last_modified = self.validators(path)
        mtime = email.utils.parsedate_to_datetime(last_modified).timestamp()
        earlier = email.utils.formatdate(mtime - 3600, usegmt=True)
        self.assertEqual(self.conditional(path, f"If-Match: {etag}").status, 200)
        self.assertEqual(self.conditional(path, "If-Match: *").status, 200)
        self.assertEqual(self.conditional(path, 'If-Match: "other"').status, 412)
        self.assertEqual(self.conditional(path, f"If-Match: W/{etag}").status, 412)  # strong
        self.assertEqual(self.conditional(path, f"If-Unmodified-Since: {last_modified}").status,
                         200)
        self.assertEqual(self.conditional(path, f"If-Unmodified-Since: {earlier}").status, 412)

    def test_conditional_head_and_range_with_if_none_match(self):
        etag, _ = self.validators("/100k.bin")
        response = raw_exchange(self.port, get_request("/100k.bin", f"If-None-Match: {etag}",
                                                       method="HEAD"), head_only=True)
        self.assertEqual(response.status, 304)
        response = self.conditional("/100k.bin", f"If-None-Match: {etag}", "Range: bytes=0-9")
        self.assertEqual(response.status, 304)

    def test_if_range(self):
        path = "/100k.bin"
        data = self.read("100k.bin")
        etag, last_modified = self.validators(path)
        response = raw_exchange(self.port, get_request(path, "Range: bytes=100-199",
                                                       f"If-Range: {etag}"))
        self.assertEqual(response.status, 206)
        self.assertEqual(response.body, data[100:200])
        self.assertEqual(response.header("content-range"), f"bytes 100-199/{len(data)}")
        response = raw_exchange(self.port, get_request(path, "Range: bytes=100-199",
                                                       'If-Range: "stale-etag-0-0"'))
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, data)
        self.assertIsNone(response.header("content-range"))
        response = raw_exchange(self.port, get_request(path, "Range: bytes=100-199",
                                                       f"If-Range: W/{etag}"))
        self.assertEqual(response.status, 200)  # weak validators never allow a range
        response = raw_exchange(self.port, get_request(path, "Range: bytes=100-199",
                                                       f"If-Range: {last_modified}"))
        self.assertEqual(response.status, 206)
        self.assertEqual(response.body, data[100:200])

    # --- Ranges ---------------------------------------------------------------------------

    def range_get(self, path, spec):
        return raw_exchange(self.port, get_request(path, f"Range: {spec}"))

    def test_single_ranges(self):
        for name in ("small.txt", "100k.bin", "30m.bin"):
            data = self.read(name)
            size = len(data)
            # Open-ended ranges start near the end of the big file to keep the test quick.
            mid = size // 2 if size < (1 << 20) else size - 300000
            cases = [
                ("bytes=0-99", 0, 99),
                ("bytes=10-10", 10, 10),
                (f"bytes={mid}-", mid, size - 1),
                ("bytes=-50", size - 50, size - 1),
                (f"bytes={mid + 7}-{size + 5000}", mid + 7, size - 1),  # last clamped to the end
                (f"bytes={mid}-{mid + 65535}", mid, min(mid + 65535, size - 1)),
                (f"bytes={size - 1}-", size - 1, size - 1),
            ]
            if size < (1 << 20):
                cases.append((f"bytes=-{size * 2}", 0, size - 1))  # suffix longer than the file
            for spec, first, last in cases:
                with self.subTest(name=name, spec=spec):
                    response = self.range_get("/" + name, spec)
                    self.assertEqual(response.status, 206)
                    self.assertEqual(response.header("content-range"),
                                     f"bytes {first}-{last}/{size}")
                    self.assertEqual(response.header("content-length"), str(last - first + 1))
                    self.assertEqual(response.body, data[first:last + 1])
                    self.assertEqual(response.header("accept-ranges"), "bytes")
                    self.assertIsNotNone(response.header("etag"))

    def test_range_with_http_client_on_30mb_file(self):
        data_tail = self.read("30m.bin")[-(1 << 20):]
        response, body = http_get(self.port, "/30m.bin", {"Range": "bytes=-1048576"})
        self.assertEqual(response.status, 206)
        self.assertEqual(body, data_tail)

    def parse_multipart(self, response, size):
        content_type = response.header("content-type")
        match = re.match(r"^multipart/byteranges;\s*boundary=(\"?)([^\";]+)\1$", content_type)
        self.assertIsNotNone(match, content_type)
        boundary = match.group(2).encode()
        body = response.body
        self.assertEqual(int(response.header("content-length")), len(body))
        delimiter = b"--" + boundary
        # Preamble (before the first delimiter) may be empty or CRLF; the body ends with the
        # closing delimiter.
        start = body.index(delimiter)
        self.assertIn(body[:start], (b"", b"\r\n"))
        end = body.rindex(b"\r\n" + delimiter + b"--")
        self.assertIn(body[end + len(delimiter) + 4:], (b"", b"\r\n"))
        parts = []
        rest = body[start + len(delimiter):end]
        for raw_part in rest.split(b"\r\n" + delimiter):
            self.assertTrue(raw_part.startswith(b"\r\n"), raw_part[:100])
            head, sep, content = raw_part[2:].partition(b"\r\n\r\n")
            self.assertTrue(sep, raw_part[:200])
            headers = {}
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                headers[name.decode().strip().lower()] = value.decode().strip()
            m = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", headers.get("content-range", ""))
            self.assertIsNotNone(m, headers)
            first, last, total = (int(g) for g in m.groups())
            self.assertEqual(total, size)
            self.assertEqual(len(content), last - first + 1)
            parts.append((first, last, content, headers))
        return parts

    def test_multiple_ranges_give_multipart_byteranges(self):
        for name in ("small.txt", "100k.bin", "30m.bin"):
            data = self.read(name)
            size = len(data)
            with self.subTest(name=name):
                response = self.range_get("/" + name, "bytes=0-9, 20-29,-5")
                self.assertEqual(response.status, 206)
                self.assertIsNone(response.header("content-range"))
                parts = self.parse_multipart(response, size)
                self.assertEqual([(p[0], p[1]) for p in parts],
                                 [(0, 9), (20, 29), (size - 5, size - 1)])
                for first, last, content, headers in parts:
                    self.assertEqual(content, data[first:last + 1])
                    self.assertIn("content-type", headers)

    def test_multipart_with_boundary_like_bytes_in_content(self):
        # Content that looks like multipart framing must not confuse a correct parser: the
        # lengths come from Content-Range.
        data = self.read("100k.bin")
        response = self.range_get("/100k.bin", "bytes=1000-1999,50000-50999,90000-")
        parts = self.parse_multipart(response, len(data))
        self.assertEqual([(p[0], p[1]) for p in parts],
                         [(1000, 1999), (50000, 50999), (90000, len(data) - 1)])
        for first, last, content, _ in parts:
            self.assertEqual(content, data[first:last + 1])

    def test_overlapping_ranges_cover_the_right_bytes(self):
        data = self.read("100k.bin")
        for spec, wanted in (("bytes=0-10,5-20", [(0, 20)]),
                             ("bytes=100-199,200-299", [(100, 299)]),
                             ("bytes=500-600,0-9,550-560", [(0, 9), (500, 600)])):
            with self.subTest(spec=spec):
                response = self.range_get("/100k.bin", spec)
                self.assertEqual(response.status, 206)
                if response.header("content-type", "").startswith("multipart/byteranges"):
                    parts = self.parse_multipart(response, len(data))
                    got = [(first, last) for first, last, _, _ in parts]
                    for first, last, content, _ in parts:
                        self.assertEqual(content, data[first:last + 1])
                else:
                    m = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", response.header("content-range"))
                    got = [(int(m.group(1)), int(m.group(2)))]
                    self.assertEqual(response.body, data[got[0][0]:got[0][1] + 1])
                # Every requested byte is covered (coalescing is allowed, RFC 9110 14.2).
                covered = set()
                for first, last in got:
                    covered.update(range(first, last + 1))
                for first, last in wanted:
                    self.assertTrue(set(range(first, last + 1)) <= covered, (spec, got))

    def test_unsatisfiable_range_is_416(self):
        for name, spec in (("small.txt", "bytes=1000-"), ("small.txt", "bytes=5000-6000"),
                           ("100k.bin", "bytes=200000-300000"), ("small.txt", "bytes=-0"),
                           ("empty.txt", "bytes=0-"), ("small.txt", "bytes=2000-,3000-3001")):
            with self.subTest(name=name, spec=spec):
                size = os.path.getsize(os.path.join(self.root, name))
                response = self.range_get("/" + name, spec)
                assert_error_page(self, response, 416)
                self.assertEqual(response.header("content-range"), f"bytes */{size}")

    def test_invalid_or_foreign_range_is_ignored(self):
        data = self.read("small.txt")
        for spec in ("items=0-5", "bytes=5-1", "bytes=abc", "bytes", "bytes=1-2-3", "bytes=x-"):
            with self.subTest(spec=spec):
                response = self.range_get("/small.txt", spec)
                self.assertEqual(response.status, 200)
                self.assertEqual(response.body, data)

    def test_huge_range_numbers(self):
        data = self.read("small.txt")
        response = self.range_get("/small.txt", "bytes=18446744073709551616-")  # 2^64
        assert_error_page(self, response, 416)
        self.assertEqual(response.header("content-range"), "bytes */1000")
        for spec in ("bytes=-18446744073709551617", "bytes=0-99999999999999999999999999"):
            with self.subTest(spec=spec):
                response = self.range_get("/small.txt", spec)
                self.assertEqual(response.status, 206)
                self.assertEqual(response.header("content-range"), "bytes 0-999/1000")
                self.assertEqual(response.body, data)

    def test_head_with_range(self):
        response = raw_exchange(self.port,
                                get_request("/100k.bin", "Range: bytes=0-99", method="HEAD"),
                                head_only=True)
        self.assertEqual(response.status, 206)
        self.assertEqual(response.header("content-range"), f"bytes 0-99/{100 * 1024}")

    # --- Directories ----------------------------------------------------------------------

    def test_directory_without_slash_redirects(self):
        for path, location in (("/sub", "/sub/"), ("/sub/deeper", "/sub/deeper/"),
                               ("/list/child%20dir", "/list/child%20dir/"),
                               ("/sub?x=1", "/sub/")):
            with self.subTest(path=path):
                response = raw_exchange(self.port, get_request(path))
                self.assertEqual(response.status, 301)
                self.assertEqual(response.header("location"), location)
        # http.client does not follow redirects; curl -L does.
        result = run_client(["curl", "-sS", "-L", "--max-time", str(10 * SLOW),
                             self.url("/site")])
        self.assertEqual(result.stdout, self.read("site/index.html"))

    def test_listing_links_work_from_the_url_it_was_served_at(self):
        """A listing is served only at the canonical "/dir/" URL (else a redirect there), so that
        its relative links resolve correctly against the URL the client asked for."""
        for target in ("/sub/deeper/..", "/sub/deeper/%2e%2e", "/sub/.", "/sub/..", "/sub/%2e%2e",
                       "/sub/deeper/../..", "/.", "/sub//deeper/../"):
            with self.subTest(target=target):
                response = raw_exchange(self.port, get_request(target))
                url = target
                if response.status == 301:
                    url = urllib.parse.urljoin(target, response.header("location"))
                    response = raw_exchange(self.port, get_request(url))
                self.assertEqual(response.status, 200)
                links = [href for href, _ in links_of(response.body)]
                self.assertTrue(links)
                for href in links:
                    resolved = urllib.parse.urljoin(url, href)
                    got = raw_exchange(self.port, get_request(resolved, method="HEAD"),
                                       head_only=True)
                    self.assertIn(got.status, (200, 301, 403),
                                  f"{href} in the listing served at {url} leads to {resolved}: "
                                  f"{got.status}")

    def test_directory_with_index_html_serves_it(self):
        response, body = http_get(self.port, "/site/")
        self.assertEqual(response.status, 200)
        self.assertEqual(body, self.read("site/index.html"))
        self.assertTrue(response.getheader("Content-Type").startswith("text/html"))

    @linux_only("its file is named <b>&\"x'.txt, and Windows names cannot hold < > or \"")
    def test_listing_escapes_and_links(self):
        response, body = http_get(self.port, "/list/")
        self.assertEqual(response.status, 200)
        self.assertTrue(response.getheader("Content-Type").startswith("text/html"))
        self.assertEqual(response.getheader("Transfer-Encoding"), "chunked")
        self.assertIsNone(response.getheader("Content-Length"))
        self.assertTrue(body.endswith(b"</html>\n"), body[-100:])
        text = body.decode("utf-8")
        # The dangerous name shows up escaped, never raw.
        self.assertNotIn("<b>&", text)
        self.assertIn("&lt;b&gt;&amp;&quot;x&#39;.txt", text)
        links = links_of(body)
        by_text = {label: href for href, label in links if not href.startswith("?")}
        entries = sorted(os.listdir(os.path.join(self.root, "list")))
        for entry in entries:
            is_dir = os.path.isdir(os.path.join(self.root, "list", entry))
            label = entry + ("/" if is_dir else "")
            with self.subTest(entry=entry):
                self.assertIn(label, by_text, links)
                href = by_text[label]
                self.assertEqual(href.endswith("/"), is_dir, href)
                # Percent-encoded: no raw space, '%' only as an escape, no '#' or '?'.
                self.assertNotIn(" ", href)
                self.assertNotIn("#", href)
                self.assertNotIn("?", href)
                self.assertNotRegex(href, r"%(?![0-9A-Fa-f]{2})")
                self.assertEqual(urllib.parse.unquote(href.rstrip("/")), entry)
                target = urllib.parse.urljoin("/list/", href)
                got, got_body = http_get(self.port, target)
                self.assertEqual(got.status, 200, target)
                if not is_dir:
                    self.assertEqual(got_body, self.read(os.path.join("list", entry)))
                else:
                    self.assertIn(b"Index of", got_body)
        self.assertIn("../", [href for href, _ in links])
        self.assertEqual(by_text.get("child dir/"), "child%20dir/")
        self.assertEqual(by_text.get("with space.txt"), "with%20space.txt")
        self.assertEqual(by_text.get("100%#x.txt"), "100%25%23x.txt")

    def test_listing_parent_link_only_below_root(self):
        _, root_body = http_get(self.port, "/")
        root_links = [href for href, _ in links_of(root_body)]
        self.assertNotIn("../", root_links)
        self.assertFalse(any(href.startswith("..") for href in root_links), root_links)
        self.assertIn("sub/", root_links)
        self.assertIn("small.txt", root_links)
        _, sub_body = http_get(self.port, "/sub/deeper/")
        sub_links = [href for href, _ in links_of(sub_body)]
        self.assertIn("../", sub_links)
        self.assertIn("leaf.txt", sub_links)
        # The parent link leads to the parent listing.
        response, body = http_get(self.port, urllib.parse.urljoin("/sub/deeper/", "../"))
        self.assertEqual(response.status, 200)
        self.assertIn("inner.txt", [href for href, _ in links_of(body)])

    def test_listing_does_not_show_the_fifo_or_list_outside(self):
        _, body = http_get(self.port, "/")
        self.assertNotIn(SECRET, body)
        response = raw_exchange(self.port, get_request("/escdir/"))
        self.assertIn(response.status, (403, 404))
        self.assertNotIn(b"secret", response.body)

    def test_head_of_listing_has_no_body(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/list/", method="HEAD", close=False) +
                      get_request("/small.txt"))
            head = conn.read_response(head_only=True)
            self.assertEqual(head.status, 200)
            # The same head as GET: the length is not known before the listing is read.
            self.assertEqual(head.header("transfer-encoding"), "chunked")
            self.assertIsNone(head.header("content-length"))
            self.assertEqual(head.header("vary"), "Accept")
            get = conn.read_response()
            self.assertEqual(get.body, self.read("small.txt"))


class IfRangeDateTest(unittest.TestCase):
    """RFC 9110 13.1.5: If-Range with a date allows a range only when Last-Modified is a strong
    validator, i.e. at least a second older than the response's Date."""

    def test_date_of_a_file_modified_this_second_is_weak(self):
        with TempRoot() as root:
            path = os.path.join(root, "fresh.bin")
            data = os.urandom(5000)
            with Server(root, "--file-cache-valid", "0") as server:
                for _ in range(5):  # until one round falls within one second
                    with open(path, "wb") as f:
                        f.write(data)
                    modified = os.stat(path).st_mtime
                    last_modified = email.utils.formatdate(modified, usegmt=True)
                    response = raw_exchange(server.port, get_request(
                        "/fresh.bin", "Range: bytes=0-99", f"If-Range: {last_modified}"))
                    date = email.utils.parsedate_to_datetime(response.header("date")).timestamp()
                    if int(date) == int(modified):
                        break
                self.assertEqual(int(date), int(modified))
                self.assertEqual(response.status, 200)
                self.assertEqual(response.body, data)
                old = time.time() - 5
                os.utime(path, (old, old))
                last_modified = email.utils.formatdate(int(old), usegmt=True)
                response = raw_exchange(server.port, get_request(
                    "/fresh.bin", "Range: bytes=0-99", f"If-Range: {last_modified}"))
                self.assertEqual(response.status, 206)
                self.assertEqual(response.body, data[:100])

    def test_last_position_before_first_ignores_the_range(self):
        # RFC 9110 14.1.1: such a range-spec is invalid, so the Range field is ignored and the
        # whole file is sent (200), also when a valid spec sits beside it. nginx answers 416.
        with TempRoot() as root:
            data = os.urandom(100)
            with open(os.path.join(root, "f.bin"), "wb") as f:
                f.write(data)
            with Server(root) as server:
                for spec in ("bytes=20-10", "bytes=0-5,20-10", "bytes=99-0"):
                    with self.subTest(spec=spec):
                        response = raw_exchange(server.port,
                                                get_request("/f.bin", f"Range: {spec}"))
                        self.assertEqual(response.status, 200)
                        self.assertEqual(response.body, data)
                        self.assertIsNone(response.header("content-range"))


class StaleValidatorTest(unittest.TestCase):
    """A file replaced on disk: its old ETag is stale, If-Range with it gets the new file."""

    def test_if_range_with_a_really_stale_etag(self):
        with TempRoot() as root:
            path = os.path.join(root, "changing.bin")
            make_file(path, 50000, seed=21)
            with Server(root, "--file-cache-valid", "0") as server:
                old = raw_exchange(server.port, get_request("/changing.bin", method="HEAD"),
                                   head_only=True)
                old_etag = old.header("etag")
                replacement = path + ".new"
                make_file(replacement, 50000, seed=22)
                os.replace(replacement, path)
                with open(path, "rb") as f:
                    new_data = f.read()
                response = raw_exchange(server.port, get_request(
                    "/changing.bin", "Range: bytes=0-99", f"If-Range: {old_etag}"))
                self.assertEqual(response.status, 200)
                self.assertEqual(response.body, new_data)
                new_etag = response.header("etag")
                self.assertNotEqual(new_etag, old_etag)
                response = raw_exchange(server.port, get_request(
                    "/changing.bin", "Range: bytes=0-99", f"If-Range: {new_etag}"))
                self.assertEqual(response.status, 206)
                self.assertEqual(response.body, new_data[:100])
                # And the old ETag no longer gives 304.
                response = raw_exchange(server.port, get_request(
                    "/changing.bin", f"If-None-Match: {old_etag}"))
                self.assertEqual(response.status, 200)


if __name__ == "__main__":
    unittest.main()
