"""HTTP basic authentication (--auth-file) and CORS (--cors), with real clients: curl, wget,
urllib, nc and raw requests. Hashes are made by the real tools: htpasswd -B (bcrypt),
mkpasswd (yescrypt) and openssl passwd -6 (sha512crypt)."""
import base64
import os
import shutil
import stat
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import BINARY, SLOW, ServedTreeTest, Server, TempRoot, make_file, nc  # noqa: E402
from test_http_files import (RawConnection, assert_error_page, get_request,  # noqa: E402
                             raw_exchange, run_client)

CHALLENGE = 'Basic realm="iocomp", charset="UTF-8"'
LINE_REFUSAL = b"Authentication required: this server needs HTTP with a user name and password\r\n"
EXPOSE = ("Content-Length, Content-Range, Content-Encoding, Accept-Ranges, ETag, "
          "Last-Modified")
USERS = {"alice": "correct horse", "bob": "battery staple", "j\u00fcrgen": "p\u00e4ss:w\u00f6rd"}


def require_tool(name):
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is needed for these tests: scripts/install-deps.sh test")
    return path


def hash_password(method, password):
    if method == "bcrypt":
        out = subprocess.run([require_tool("htpasswd"), "-nbB", "-C", "5", "u", password],
                             capture_output=True, check=True, text=True).stdout
        return out.strip().split(":", 1)[1]
    if method == "yescrypt":
        return subprocess.run([require_tool("mkpasswd"), "-m", "yescrypt", password],
                              capture_output=True, check=True, text=True).stdout.strip()
    return subprocess.run([require_tool("openssl"), "passwd", "-6", password],
                          capture_output=True, check=True, text=True).stdout.strip()


def write_auth_file(directory, mode=0o600, extra=""):
    path = os.path.join(directory, "users")
    methods = ["bcrypt", "yescrypt", "sha512"]
    lines = ["# iocomp users", ""]
    for (user, password), method in zip(USERS.items(), methods):
        lines.append(f"{user}:{hash_password(method, password)}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n" + extra)
    os.chmod(path, mode)
    return path


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Authorization: Basic {token}"


def curl_headers(port, path, *args):
    """Runs curl, returns (status, {lowercase name: [values]}, body bytes)."""
    out = run_client(["curl", "-sS", "-D", "-", f"http://127.0.0.1:{port}{path}", *args])
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(lines[0].split()[1]), headers, body


def cors_headers(response):
    return [(k, v) for k, v in response.header_list if k.startswith("access-control-")]


class AuthTest(ServedTreeTest):
    @classmethod
    def populate(cls, base):
        root = os.path.join(base, "root")
        make_file(os.path.join(root, "100k.bin"), 100 * 1024, seed=71)
        make_file(os.path.join(root, "small.txt"), 1000, seed=72)
        cls.auth_file = write_auth_file(base)
        return root

    @classmethod
    def server_args(cls):
        return ("--auth-file", cls.auth_file)

    def test_curl_with_each_hash_method_gets_the_file_byte_exact(self):
        for user, password in USERS.items():
            with self.subTest(user=user):
                out = run_client(["curl", "-sS", "--fail", "-u", f"{user}:{password}",
                                  self.url("/100k.bin")])
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(out.stdout, self.read("100k.bin"))

    def test_no_credentials_is_401_with_the_challenge_and_keeps_the_connection(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/small.txt", close=False))
            response = conn.read_response()
            assert_error_page(self, response, 401)
            self.assertEqual(response.header("www-authenticate"), CHALLENGE)
            self.assertNotIn(b"File transmit", response.body)
            # A browser answers the challenge on the same connection.
            conn.send(get_request("/small.txt", basic("alice", "correct horse")))
            second = conn.read_response()
            self.assertEqual((second.status, second.body), (200, self.read("small.txt")))

    def test_head_without_credentials_is_401_without_body(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/small.txt", method="HEAD", close=False) +
                      get_request("/small.txt", basic("alice", "correct horse"), method="HEAD"))
            response = conn.read_response(head_only=True)
            self.assertEqual(response.status, 401)
            self.assertEqual(response.header("www-authenticate"), CHALLENGE)
            second = conn.read_response(head_only=True)
            self.assertEqual(second.status, 200)
            self.assertEqual(int(second.header("content-length")), 1000)
            self.assertTrue(conn.server_closed())

    def test_wrong_password_is_401_and_closes(self):
        for header in (basic("alice", "wrong horse"), basic("mallory", "correct horse"),
                       basic("bob", ""), "Authorization: Basic !!!!", "Authorization: Bearer x"):
            with self.subTest(header=header), RawConnection(self.port) as conn:
                # A pipelined second try must not be answered: one connection, one crypt.
                conn.send(get_request("/small.txt", header, close=False) +
                          get_request("/small.txt", basic("alice", "correct horse")))
                response = conn.read_response()
                assert_error_page(self, response, 401)
                self.assertEqual(response.header("www-authenticate"), CHALLENGE)
                self.assertEqual(response.header("connection"), "close")
                self.assertTrue(conn.server_closed(), "connection left open after a failure")

    def test_curl_wrong_password_and_unknown_user(self):
        for creds in ("alice:wrong", "mallory:correct horse"):
            with self.subTest(creds=creds):
                status, headers, _ = curl_headers(self.port, "/small.txt", "-u", creds)
                self.assertEqual(status, 401)
                self.assertEqual(headers["www-authenticate"], [CHALLENGE])
                self.assertEqual(headers["connection"], ["close"])

    def test_wget_answers_the_challenge(self):
        with TempRoot() as out_dir:
            target = os.path.join(out_dir, "got.bin")
            out = run_client(["wget", "-q", "--user", "bob", "--password", "battery staple",
                              "-O", target, self.url("/100k.bin")])
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(target, "rb") as f:
                self.assertEqual(f.read(), self.read("100k.bin"))
            bad = run_client(["wget", "-q", "--user", "bob", "--password", "nope", "-O",
                              target, self.url("/100k.bin")])
            self.assertEqual(bad.returncode, 6)  # wget: authentication failure

    def test_urllib_basic_auth_handler(self):
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, self.url("/"), "j\u00fcrgen", "p\u00e4ss:w\u00f6rd")
        opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
        with opener.open(self.url("/small.txt"), timeout=10 * SLOW) as response:
            self.assertEqual(response.read(), self.read("small.txt"))
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(self.url("/small.txt"), timeout=10 * SLOW)
        self.assertEqual(caught.exception.code, 401)
        caught.exception.close()

    def test_errors_and_listings_need_credentials_too(self):
        for path in ("/", "/missing.bin", "/../etc/passwd"):
            with self.subTest(path=path):
                response = raw_exchange(self.port, get_request(path))
                self.assertEqual(response.status, 401)
        response = raw_exchange(self.port, get_request("/missing.bin",
                                                       basic("alice", "correct horse")))
        self.assertEqual(response.status, 404)

    def test_line_protocol_is_refused_with_a_line(self):
        self.assertEqual(nc(self.port, b"small.txt\n"), LINE_REFUSAL)
        self.assertTrue(self.server.wait_for_log(r"line protocol refused"))

    def test_log_names_the_user_but_never_the_password(self):
        run_client(["curl", "-sS", "-u", "alice:wrong horse", self.url("/small.txt")])
        self.assertTrue(self.server.wait_for_log(r'wrong password for user alice'))
        run_client(["curl", "-sS", "-u", "alice:correct horse", self.url("/small.txt")])
        self.assertTrue(self.server.wait_for_log(r'200 /small.txt \(user alice\)'))
        log = self.server.log()
        self.assertNotIn("wrong horse", log)
        self.assertNotIn(base64.b64encode(b"alice:wrong horse").decode(), log)
        self.assertNotIn("Authorization", log)

    def test_start_up_warns_about_clear_text(self):
        self.assertTrue(self.server.wait_for_log(
            r"warning: --auth-file without TLS: passwords cross the network in clear text"))
        self.assertNotIn("readable by other users", self.server.log())  # mode 0600


class AuthStartUpTest(unittest.TestCase):
    def start(self, *args):
        return subprocess.run([BINARY, "--port", "0", "--listen", "127.0.0.1", *args],
                              capture_output=True, text=True, timeout=20 * SLOW)

    def test_plain_text_password_line_refuses_to_start(self):
        with TempRoot() as base:
            path = os.path.join(base, "users")
            with open(path, "w") as f:
                f.write("# users\nalice:" + hash_password("sha512", "x") + "\nbob:hunter2\n")
            os.chmod(path, 0o600)
            out = self.start("--root", base, "--auth-file", path)
            self.assertEqual(out.returncode, 1, out.stdout)
            self.assertIn(f"--auth-file {path} line 3:", out.stderr)
            self.assertIn("plain-text", out.stderr)
            self.assertNotIn("hunter2", out.stderr + out.stdout)
            self.assertNotIn("serving", out.stdout)

    def test_htpasswd_default_md5_is_refused(self):
        with TempRoot() as base:
            path = os.path.join(base, "users")
            subprocess.run([require_tool("htpasswd"), "-cbm", path, "alice", "pw"],
                           capture_output=True, check=True)
            out = self.start("--root", base, "--auth-file", path)
            self.assertEqual(out.returncode, 1)
            self.assertIn("line 1:", out.stderr)
            self.assertIn("htpasswd -B", out.stderr)

    def test_world_readable_auth_file_is_warned_about(self):
        with TempRoot() as base:
            path = write_auth_file(base, mode=0o644)
            with Server(base, "--auth-file", path) as server:
                self.assertTrue(server.wait_for_log(
                    rf"warning: --auth-file {path} is readable by other users"))
                self.assertTrue(os.stat(path).st_mode & stat.S_IROTH)

    def test_cors_star_with_auth_is_warned_about(self):
        with TempRoot() as base:
            path = write_auth_file(base)
            with Server(base, "--auth-file", path, "--cors", "*") as server:
                self.assertTrue(server.wait_for_log(
                    r"warning: --cors '\*' with --auth-file: '\*' grants no credentials"))
                response = raw_exchange(server.port, get_request(
                    "/small.txt", "Origin: https://evil.example",
                    basic("alice", "correct horse")))
                self.assertEqual(response.header("access-control-allow-origin"), "*")
                self.assertIsNone(response.header("access-control-allow-credentials"))
            with Server(base, "--auth-file", path, "--cors", "https://a.example") as server:
                # Start-up lines come before any request's: once one is logged, all are.
                raw_exchange(server.port, get_request("/"))
                self.assertTrue(server.wait_for_log(r"transfer finished: 401"))
                self.assertIn("warning: --auth-file without TLS", server.log())
                self.assertNotIn("--cors '*'", server.log())

    def test_bad_cors_origin_refuses_to_start(self):
        with TempRoot() as base:
            out = self.start("--root", base, "--cors", "https://a.example/")
            self.assertEqual(out.returncode, 1)
            self.assertIn("--cors https://a.example/: not an origin", out.stderr)


class CorsTest(ServedTreeTest):
    ORIGIN = "https://app.example"

    @classmethod
    def populate(cls, base):
        make_file(os.path.join(base, "100k.bin"), 100 * 1024, seed=73)
        return base

    @classmethod
    def server_args(cls):
        return ("--cors", cls.ORIGIN, "--cors", "http://localhost:3000")

    def test_allowed_origin_is_echoed_with_vary_and_exposed_headers(self):
        for origin in (self.ORIGIN, "http://localhost:3000"):
            with self.subTest(origin=origin):
                status, headers, _ = curl_headers(self.port, "/100k.bin", "-H",
                                                  f"Origin: {origin}")
                self.assertEqual(status, 200)
                self.assertEqual(headers["access-control-allow-origin"], [origin])
                self.assertEqual(headers["vary"], ["Origin"])
                self.assertEqual(headers["access-control-expose-headers"], [EXPOSE])
                self.assertNotIn("access-control-allow-credentials", headers)

    def test_other_origins_get_no_allow_origin(self):
        for origin in ("https://evil.example", "https://APP.example", "https://app.example/",
                       "http://app.example", "null"):
            with self.subTest(origin=origin):
                status, headers, _ = curl_headers(self.port, "/100k.bin", "-H",
                                                  f"Origin: {origin}")
                self.assertEqual(status, 200)
                self.assertNotIn("access-control-allow-origin", headers)
                self.assertNotIn("access-control-expose-headers", headers)
                self.assertEqual(headers["vary"], ["Origin"])
        status, headers, _ = curl_headers(self.port, "/100k.bin")
        self.assertNotIn("access-control-allow-origin", headers)

    def test_every_status_carries_the_headers(self):
        origin = f"Origin: {self.ORIGIN}"
        etag = raw_exchange(self.port, get_request("/100k.bin", method="HEAD"),
                            head_only=True).header("etag")
        cases = [(get_request("/missing", origin), 404, False),
                 (get_request("/100k.bin", origin, "Range: bytes=0-99"), 206, False),
                 (get_request("/100k.bin", origin, f"If-None-Match: {etag}"), 304, False),
                 (get_request("/100k.bin", origin, "Range: bytes=999999-"), 416, False),
                 (get_request("/100k.bin", origin, method="HEAD"), 200, True),
                 (get_request("/100k.bin", origin, method="DELETE"), 405, False)]
        for request, status, head_only in cases:
            with self.subTest(status=status):
                response = raw_exchange(self.port, request, head_only=head_only)
                self.assertEqual(response.status, status)
                self.assertEqual(response.header("access-control-allow-origin"), self.ORIGIN)
                self.assertEqual(response.header("access-control-expose-headers"), EXPOSE)

    def test_preflight_allowed(self):
        status, headers, body = curl_headers(
            self.port, "/100k.bin", "-X", "OPTIONS", "-H", f"Origin: {self.ORIGIN}",
            "-H", "Access-Control-Request-Method: GET",
            "-H", "Access-Control-Request-Headers: range,if-none-match")
        self.assertEqual(status, 204)
        self.assertEqual(body, b"")
        self.assertEqual(headers["access-control-allow-origin"], [self.ORIGIN])
        self.assertEqual(headers["access-control-allow-methods"], ["GET, HEAD, OPTIONS"])
        self.assertEqual(headers["access-control-allow-headers"], ["range,if-none-match"])
        self.assertEqual(headers["access-control-max-age"], ["86400"])
        self.assertNotIn("content-length", headers)

    def test_preflight_refused_has_no_cors_headers(self):
        refusals = [(self.ORIGIN, "GET", "range,x-requested-with"),
                    (self.ORIGIN, "PUT", ""),
                    ("https://evil.example", "GET", "range")]
        for origin, method, request_headers in refusals:
            with self.subTest(origin=origin, method=method, headers=request_headers):
                extra = [f"Access-Control-Request-Headers: {request_headers}"] \
                    if request_headers else []
                response = raw_exchange(self.port, get_request(
                    "/100k.bin", f"Origin: {origin}", f"Access-Control-Request-Method: {method}",
                    *extra, method="OPTIONS"))
                self.assertEqual(response.status, 204)
                self.assertEqual(cors_headers(response), [])
                self.assertEqual(response.header("allow"), "GET, HEAD, OPTIONS")

    def test_plain_options_and_options_star_keep_the_connection(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/100k.bin", method="OPTIONS", close=False) +
                      get_request("*", method="OPTIONS", close=False) +
                      get_request("/100k.bin", "Range: bytes=0-9"))
            for _ in range(2):
                response = conn.read_response()
                self.assertEqual(response.status, 204)
                self.assertEqual(response.header("allow"), "GET, HEAD, OPTIONS")
                self.assertIsNone(response.header("content-length"))
                self.assertEqual(cors_headers(response), [])
            self.assertEqual(conn.read_response().status, 206)
            self.assertTrue(conn.server_closed())

    def test_put_is_405_with_allow(self):
        status, headers, _ = curl_headers(self.port, "/100k.bin", "-X", "PUT", "-d", "x")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], ["GET, HEAD, OPTIONS"])


class CorsAnyOriginTest(unittest.TestCase):
    def test_star_is_sent_to_everyone_without_vary(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "f.bin"), 5000, seed=74)
            with Server(root, "--cors", "*") as server:
                for args in (["-H", "Origin: https://anyone.example"], ["-H", "Origin: null"], []):
                    with self.subTest(args=args):
                        status, headers, body = curl_headers(server.port, "/f.bin", *args)
                        self.assertEqual(status, 200)
                        self.assertEqual(len(body), 5000)
                        self.assertEqual(headers["access-control-allow-origin"], ["*"])
                        self.assertEqual(headers["access-control-expose-headers"], [EXPOSE])
                        self.assertNotIn("vary", headers)
                        self.assertNotIn("access-control-allow-credentials", headers)


class CorsWithAuthTest(ServedTreeTest):
    ORIGIN = "https://app.example"

    @classmethod
    def populate(cls, base):
        root = os.path.join(base, "root")
        make_file(os.path.join(root, "f.bin"), 5000, seed=75)
        cls.auth_file = write_auth_file(base)
        return root

    @classmethod
    def server_args(cls):
        return ("--cors", cls.ORIGIN, "--auth-file", cls.auth_file)

    def test_credentialed_request_gets_the_origin_and_allow_credentials(self):
        status, headers, body = curl_headers(self.port, "/f.bin", "-u", "alice:correct horse",
                                             "-H", f"Origin: {self.ORIGIN}")
        self.assertEqual((status, len(body)), (200, 5000))
        self.assertEqual(headers["access-control-allow-origin"], [self.ORIGIN])
        self.assertEqual(headers["access-control-allow-credentials"], ["true"])
        self.assertEqual(headers["vary"], ["Origin"])

    def test_the_401_is_readable_by_the_page(self):
        status, headers, _ = curl_headers(self.port, "/f.bin", "-H", f"Origin: {self.ORIGIN}")
        self.assertEqual(status, 401)
        self.assertEqual(headers["www-authenticate"], [CHALLENGE])
        self.assertEqual(headers["access-control-allow-origin"], [self.ORIGIN])
        self.assertEqual(headers["access-control-allow-credentials"], ["true"])

    def test_preflight_needs_no_credentials(self):
        response = raw_exchange(self.port, get_request(
            "/f.bin", f"Origin: {self.ORIGIN}", "Access-Control-Request-Method: GET",
            "Access-Control-Request-Headers: authorization,range", method="OPTIONS"))
        self.assertEqual(response.status, 204)
        self.assertIsNone(response.header("www-authenticate"))
        self.assertEqual(response.header("access-control-allow-origin"), self.ORIGIN)
        self.assertEqual(response.header("access-control-allow-credentials"), "true")
        self.assertEqual(response.header("access-control-allow-headers"), "authorization,range")


if __name__ == "__main__":
    unittest.main()
