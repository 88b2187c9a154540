"""TLS on the same port as plaintext (--tls-cert, --tls-key, --tls-only): real TLS clients (curl,
wget, Python's ssl, openssl s_client, testssl.sh) next to plaintext HTTP and nc, certificate
reload on SIGHUP, and hostile TLS clients (stalled and broken handshakes, hundreds of half-open
ones). A CA and the server's certificates are made with the openssl command in a temporary
directory."""
import http.client
import os
import resource
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (MODEL, POOL_THREADS, SLOW, TRANSMIT_ERROR, ServedTreeTest, Server, TempRoot, connect, make_file, nc,  # noqa: E402
                     recv_exactly, recv_until_closed, sha256_file)

LINE_TLS_REQUIRED = (b"Error: this server requires TLS (e.g. openssl s_client -quiet -connect "
                     b"HOST:PORT)\r\n")
# 100 MiB for the default model; the other models get 8 MiB to stay within their time.
BIG = (100 << 20) if MODEL == "completion" else (8 << 20)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


def make_ca(directory):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=iocomp test CA",
            cwd=directory)
    return os.path.join(directory, "ca.pem")


def make_server_cert(directory, name, common_name, serial):
    """Signs a certificate for localhost and 127.0.0.1 with the CA of `directory`; returns the
    paths of the certificate and the key."""
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={common_name}", cwd=directory)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", str(serial), "-days", "2", "-extfile", "san.ext", "-out",
            f"{name}.pem", cwd=directory)
    return os.path.join(directory, f"{name}.pem"), os.path.join(directory, f"{name}.key")


def client_hello():
    """The bytes of a real TLS ClientHello (made by Python's ssl without a socket)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def wait_closed(sock, timeout):
    """Seconds until the server closed `sock` (EOF or reset), None if it did not in time."""
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return time.monotonic() - start
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - start
    except socket.timeout:
        return None


class TlsTest(ServedTreeTest):
    @classmethod
    def populate(cls, base):
        cls.pki = os.path.join(base, "pki")
        os.makedirs(cls.pki)
        cls.ca = make_ca(cls.pki)
        cls.cert, cls.key = make_server_cert(cls.pki, "server", "iocomp test server", 1001)
        root = os.path.join(base, "root")
        cls.small = make_file(os.path.join(root, "small.txt"), 1000, seed=1)
        cls.medium = make_file(os.path.join(root, "medium.bin"), 300 * 1024 + 7, seed=2)
        cls.big = make_file(os.path.join(root, "big.bin"), BIG, seed=3)
        cls.out = os.path.join(base, "out")
        os.makedirs(cls.out)
        return root

    @classmethod
    def server_args(cls):
        return ("--tls-cert", cls.cert, "--tls-key", cls.key, "--max-connections-per-ip", "0")

    def url(self, path):
        return f"https://localhost:{self.port}{path}"

    def curl(self, *args, timeout=60):
        return subprocess.run(["curl", "-sS", "--cacert", self.ca, *args], capture_output=True,
                              timeout=timeout * SLOW)

    def context(self):
        return ssl.create_default_context(cafile=self.ca)

    # --- Clients ---------------------------------------------------------------------------

    def test_start_up_names_the_tls_path(self):
        self.assertRegex(self.server.log(), r"TLS on the same port with .*CN ?= ?iocomp test server"
                         r".*TLS in user space \(kernel TLS not available\)")

    def test_curl_get(self):
        result = self.curl(self.url("/small.txt"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, self.read("small.txt"))
        self.assertTrue(self.server.wait_for_log(r"TLS TLSv1\.3 \S+, ALPN http/1\.1"))

    def test_curl_tls12_only_modern_ciphers(self):
        result = self.curl("--tls-max", "1.2", "-w", "%{http_code}", "-o", "/dev/null",
                           self.url("/small.txt"))
        self.assertEqual(result.stdout, b"200", result.stderr)
        self.assertTrue(self.server.wait_for_log(r"TLS TLSv1\.2 ECDHE-\S+-(GCM-SHA\d+|CHACHA20)"))
        refused = self.curl("--tls-max", "1.1", "--tlsv1.0", self.url("/small.txt"))
        self.assertNotEqual(refused.returncode, 0)
        self.assertTrue(self.server.wait_for_log(r"error: TLS handshake failed: .*protocol"))

    def test_curl_range(self):
        result = self.curl("-r", "1000-2999", self.url("/medium.bin"))
        self.assertEqual(result.stdout, self.read("medium.bin")[1000:3000], result.stderr)

    def test_curl_resume(self):
        path = os.path.join(self.out, "resume.bin")
        with open(path, "wb") as f:
            f.write(self.read("medium.bin")[:123457])
        result = self.curl("-C", "-", "-o", path, self.url("/medium.bin"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sha256_file(path), self.medium)

    def test_curl_big_file_byte_exact(self):
        path = os.path.join(self.out, "big.bin")
        result = self.curl("-o", path, self.url("/big.bin"), timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sha256_file(path), self.big)
        os.unlink(path)

    def test_wget(self):
        path = os.path.join(self.out, "wget.bin")
        result = subprocess.run(["wget", "-q", "--ca-certificate", self.ca, "-O", path,
                                 self.url("/medium.bin")], capture_output=True, timeout=60 * SLOW)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sha256_file(path), self.medium)

    def test_python_keep_alive_and_resumption(self):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            with self.subTest(version=version):
                context = self.context()
                context.maximum_version = version
                conn = http.client.HTTPSConnection("localhost", self.port, context=context,
                                                   timeout=10)
                for name in ("small.txt", "medium.bin", "small.txt"):
                    conn.request("GET", "/" + name)
                    response = conn.getresponse()
                    self.assertEqual(response.status, 200)
                    self.assertEqual(response.read(), self.read(name))
                session = conn.sock.session
                conn.close()
                self.assertIsNotNone(session)
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                    with context.wrap_socket(raw, server_hostname="localhost",
                                             session=session) as tls:
                        tls.sendall(b"GET /small.txt HTTP/1.1\r\nHost: x\r\n"
                                    b"Connection: close\r\n\r\n")
                        data = b""
                        while True:
                            chunk = tls.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                        self.assertTrue(tls.session_reused)
                self.assertTrue(data.endswith(self.read("small.txt")))
        self.assertTrue(self.server.wait_for_log(r"TLS TLSv1\.3 .*session resumed"))
        self.assertTrue(self.server.wait_for_log(r"TLS TLSv1\.2 .*session resumed"))

    def test_http2_only_client_gets_no_alpn(self):
        context = self.context()
        context.set_alpn_protocols(["h2"])
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                self.assertIsNone(tls.selected_alpn_protocol())
                tls.sendall(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                self.assertIn(b"200 OK", tls.recv(65536))

    def test_line_protocol_over_tls_with_s_client(self):
        expected = self.read("medium.bin")
        proc = subprocess.Popen(["openssl", "s_client", "-quiet", "-CAfile", self.ca,
                                 "-verify_return_error", "-connect", f"127.0.0.1:{self.port}"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            proc.stdin.write(b"medium.bin\nsmall.txt\nnope\n")
            proc.stdin.flush()
            want = len(expected) + 1000 + len(TRANSMIT_ERROR)
            data = b""
            deadline = time.monotonic() + 20 * SLOW
            while len(data) < want and time.monotonic() < deadline:
                chunk = proc.stdout.read1(1 << 20)
                if not chunk:
                    break
                data += chunk
        finally:
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()
        self.assertEqual(data, expected + self.read("small.txt") + TRANSMIT_ERROR)

    def test_plaintext_http_and_nc_on_the_same_port(self):
        result = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{self.port}/small.txt"],
                                capture_output=True, timeout=30)
        self.assertEqual(result.stdout, self.read("small.txt"))
        self.assertEqual(nc(self.port, b"medium.bin\n"), self.read("medium.bin"))

    def test_client_vanishing_mid_download_aborts_only_its_transfer(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        with self.context().wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            got = 0
            while got < (1 << 20):
                got += len(tls.recv(65536))
            peer = "127.0.0.1:%d" % tls.getsockname()[1]
            # RST instead of close_notify: the server's next send fails.
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.assertTrue(self.server.wait_for_log(re.escape(peer) +
                                                 r" error: transfer of /big\.bin aborted after"))
        result = self.curl(self.url("/small.txt"))
        self.assertEqual(result.stdout, self.read("small.txt"), result.stderr)

    # --- Hostile clients -------------------------------------------------------------------

    def test_garbage_after_client_hello_is_logged_and_closed(self):
        with connect(self.port) as sock:
            sock.sendall(client_hello() + b"\x17\x03\x03\x00\x10" + b"garbage!" * 2 +
                         b"\x00" * 300)
            self.assertIsNotNone(wait_closed(sock, 5 * SLOW))
            peer = "127.0.0.1:%d" % sock.getsockname()[1]
        self.assertTrue(self.server.wait_for_log(re.escape(peer) + r" error: TLS handshake failed"))
        self.assertTrue(self.server.wait_for_log(re.escape(peer) + r" closed"))

    def test_not_tls_after_the_first_byte(self):
        with connect(self.port) as sock:
            sock.sendall(b"\x16GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIsNotNone(wait_closed(sock, 5 * SLOW))
            peer = "127.0.0.1:%d" % sock.getsockname()[1]
        self.assertTrue(self.server.wait_for_log(re.escape(peer) + r" error: TLS handshake failed"))

    def test_half_open_handshakes_do_not_delay_a_download(self):
        hello = client_hello()
        # A pool thread serves one connection from accept to close (the article's Example 4):
        # there, half-open handshakes may take all but two of the threads.
        count = POOL_THREADS - 2 if MODEL == "thread-pool" else 1000
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < count + 100:
            if hard != resource.RLIM_INFINITY and hard < count + 100:
                self.skipTest(f"RLIMIT_NOFILE hard limit {hard} < {count + 100} descriptors")
            resource.setrlimit(resource.RLIMIT_NOFILE, (count + 100, hard))
        socks = []
        try:
            for i in range(count):
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                # Half of them stop inside the ClientHello, half after it.
                sock.sendall(hello[: len(hello) // 2] if i % 2 else hello)
                socks.append(sock)
            start = time.monotonic()
            result = self.curl(self.url("/medium.bin"), timeout=30)
            elapsed = time.monotonic() - start
            self.assertEqual(result.stdout, self.read("medium.bin"), result.stderr)
            self.assertLess(elapsed, 2.0 * SLOW)
        finally:
            for sock in socks:
                sock.close()


class TlsTimeoutTest(unittest.TestCase):
    """A short --header-timeout: a handshake that stalls is cut like a request that stalls."""

    def test_stalled_handshakes_are_cut_at_the_header_timeout(self):
        with TempRoot() as base:
            ca = make_ca(base)
            cert, key = make_server_cert(base, "server", "timeout", 7)
            self.assertTrue(ca)
            with Server(base, "--tls-cert", cert, "--tls-key", key, "--header-timeout",
                        "1") as server:
                stalls = {"inside the ClientHello": client_hello()[:20],
                          "after the ClientHello": client_hello(),
                          "after the first byte": b"\x16"}
                for what, data in stalls.items():
                    with self.subTest(what), connect(server.port) as sock:
                        sock.sendall(data)
                        elapsed = wait_closed(sock, 5 * SLOW)
                        self.assertIsNotNone(elapsed, "the stalled handshake was not cut")
                        self.assertGreater(elapsed, 0.8)
                        self.assertLess(elapsed, 2.5 * SLOW)
                self.assertTrue(server.wait_for_log(r"error: request header timeout"))


class TlsDrainTest(unittest.TestCase):
    def test_sigint_closes_idle_tls_connections_with_close_notify(self):
        with TempRoot() as base:
            ca = make_ca(base)
            cert, key = make_server_cert(base, "server", "drain", 8)
            make_file(os.path.join(base, "small.txt"), 1000, seed=1)
            context = ssl.create_default_context(cafile=ca)
            server = Server(base, "--tls-cert", cert, "--tls-key", key)
            with server:
                raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                # A ragged end (no close_notify) raises instead of reading as b"".
                tls = context.wrap_socket(raw, server_hostname="localhost",
                                          suppress_ragged_eofs=False)
                tls.sendall(b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while not data.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in data:
                    data += tls.recv(65536)
                while len(data) - data.index(b"\r\n\r\n") - 4 < 1000:
                    data += tls.recv(65536)
                start = time.monotonic()
                server.proc.send_signal(signal.SIGINT)
                # The server said close_notify: a clean end of stream, not a truncation.
                self.assertEqual(tls.recv(65536), b"")
                tls.close()
                self.assertEqual(server.proc.wait(timeout=10 * SLOW), 0)
                self.assertLess(time.monotonic() - start, 2.0 * SLOW)
                err = server.proc.stderr.read().decode(errors="replace")
                self.assertNotIn("Sanitizer", err)  # a leak report, under ASan
                self.assertTrue(server.wait_for_log(r"closed \(server shutting down\) after 1 "
                                                    r"requests"))


class TlsOnlyTest(ServedTreeTest):
    @classmethod
    def populate(cls, base):
        cls.ca = make_ca(base)
        cls.cert, cls.key = make_server_cert(base, "server", "tls only", 3)
        root = os.path.join(base, "root")
        make_file(os.path.join(root, "small.txt"), 1000, seed=1)
        return root

    @classmethod
    def server_args(cls):
        return ("--tls-cert", cls.cert, "--tls-key", cls.key, "--tls-only")

    def raw(self, data):
        with connect(self.port) as sock:
            sock.sendall(data)
            return recv_until_closed(sock)

    def test_http_is_redirected_to_https(self):
        reply = self.raw(b"GET /small.txt?x=1 HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % self.port)
        self.assertTrue(reply.startswith(b"HTTP/1.1 301 Moved Permanently\r\n"), reply)
        self.assertIn(b"\r\nLocation: https://localhost:%d/small.txt?x=1\r\n" % self.port, reply)
        self.assertIn(b"\r\nConnection: close\r\n", reply)
        post = self.raw(b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
        self.assertTrue(post.startswith(b"HTTP/1.1 308 Permanent Redirect\r\n"), post)
        self.assertTrue(self.server.wait_for_log(r"plaintext HTTP refused \(--tls-only\)"))

    def test_curl_follows_the_redirect(self):
        result = subprocess.run(["curl", "-sS", "-L", "--cacert", self.ca,
                                 f"http://localhost:{self.port}/small.txt"], capture_output=True,
                                timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(self.root, "small.txt"), "rb") as f:
            self.assertEqual(result.stdout, f.read())

    def test_missing_or_invalid_host_is_400(self):
        for request in (b"GET / HTTP/1.0\r\n\r\n",
                        b"GET / HTTP/1.1\r\nHost: evil.example/path\r\n\r\n",
                        b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n",
                        b"GET / HTTP/1.1\r\nHost: \r\n\r\n"):
            with self.subTest(request=request):
                reply = self.raw(request)
                self.assertTrue(reply.startswith(b"HTTP/1.1 400 Bad Request\r\n"), reply)
                self.assertNotIn(b"Location", reply)

    def test_line_protocol_gets_an_error_line(self):
        self.assertEqual(self.raw(b"small.txt\n"), LINE_TLS_REQUIRED)
        self.assertTrue(self.server.wait_for_log(r"plaintext line protocol refused"))

    def test_https_still_works(self):
        result = subprocess.run(["curl", "-sS", "--cacert", self.ca,
                                 f"https://localhost:{self.port}/small.txt"], capture_output=True,
                                timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(result.stdout), 1000)


class TlsReloadTest(unittest.TestCase):
    def test_sighup_replaces_the_certificate_for_new_connections(self):
        with TempRoot() as base:
            ca = make_ca(base)
            first = make_server_cert(base, "first", "first cert", 11)
            second = make_server_cert(base, "second", "second cert", 22)
            cert, key = os.path.join(base, "live.pem"), os.path.join(base, "live.key")
            shutil.copy(first[0], cert)
            shutil.copy(first[1], key)
            root = os.path.join(base, "root")
            make_file(os.path.join(root, "small.txt"), 1000, seed=1)
            context = ssl.create_default_context(cafile=ca)

            def subject(port):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                    with context.wrap_socket(raw, server_hostname="localhost") as tls:
                        return dict(x[0] for x in tls.getpeercert()["subject"])["commonName"]

            access_log = os.path.join(base, "access.log")
            with Server(root, "--tls-cert", cert, "--tls-key", key, "--access-log",
                        access_log) as server:
                kept = http.client.HTTPSConnection("localhost", server.port, context=context,
                                                   timeout=10)
                kept.request("GET", "/small.txt")
                self.assertEqual(len(kept.getresponse().read()), 1000)
                self.assertEqual(subject(server.port), "first cert")

                shutil.copy(second[0], cert)
                shutil.copy(second[1], key)
                server.proc.send_signal(signal.SIGHUP)
                # One line for both things SIGHUP does.
                self.assertTrue(server.wait_for_log(r"received SIGHUP: reopened the access log "
                                                    r"\S+; reloaded the TLS certificate "
                                                    r"\(.*second cert, serial 16\)"))
                self.assertEqual(subject(server.port), "second cert")
                kept.request("GET", "/small.txt")  # the connection made before the reload
                self.assertEqual(len(kept.getresponse().read()), 1000)
                self.assertEqual(kept.sock.getpeercert()["serialNumber"], "0B")

                with open(cert, "w") as f:
                    f.write("-----BEGIN CERTIFICATE-----\nnot base64\n")
                server.proc.send_signal(signal.SIGHUP)
                self.assertTrue(server.wait_for_log(r"error: TLS certificate not reloaded, still "
                                                    r"using the old one: --tls-cert \S+live\.pem"))
                self.assertEqual(subject(server.port), "second cert")
                kept.request("GET", "/small.txt")
                self.assertEqual(len(kept.getresponse().read()), 1000)
                kept.close()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@unittest.skipUnless(MODEL == "completion" and CHROMIUM is not None,
                     "what Chromium renders does not depend on the model; needs chromium")
class BrowserOverTlsTest(unittest.TestCase):
    def test_headless_chromium_renders_the_listing_over_https(self):
        with TempRoot() as base:
            make_ca(base)
            cert, key = make_server_cert(base, "server", "browser", 9)
            root = os.path.join(base, "root")
            make_file(os.path.join(root, "file <1>.bin"), 1000, seed=1)
            # The browser trusts exactly this server key (its SPKI hash), nothing more.
            spki = subprocess.run(
                f"openssl x509 -in {cert} -pubkey -noout | openssl pkey -pubin -outform der | "
                "openssl dgst -sha256 -binary | base64", shell=True, capture_output=True,
                check=True).stdout.decode().strip()
            with Server(root, "--tls-cert", cert, "--tls-key", key) as server:
                url = f"https://127.0.0.1:{server.port}/"
                dom = subprocess.run(
                    [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-extensions", f"--user-data-dir={os.path.join(base, 'profile')}",
                     f"--ignore-certificate-errors-spki-list={spki}", "--dump-dom", url],
                    capture_output=True, timeout=90 * SLOW).stdout.decode(errors="replace")
                self.assertIn("Index of /", dom)
                self.assertIn('href="file%20%3C1%3E.bin"', dom)
                self.assertTrue(server.wait_for_log(r"TLS TLSv1\.3 \S+, ALPN http/1\.1"))
                self.assertTrue(server.wait_for_log(r"request GET /\n"))


if __name__ == "__main__":
    unittest.main()
