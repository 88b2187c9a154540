"""HTTP/1.1 connections: keep-alive, HTTP/1.0, Connection: close, pipelining, request bodies on
refused methods, malformed requests and limits, both protocols on one port, and the log."""
import http.client
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SLOW, TRANSMIT_ERROR, ServedTreeTest, Server, TempRoot, connect, make_file, nc  # noqa: E402
from test_http_files import (RawConnection, assert_error_page, get_request, http_get,  # noqa: E402
                             raw_all, raw_exchange)


def make_tree(root):
    make_file(os.path.join(root, "small.txt"), 1000, seed=31)
    make_file(os.path.join(root, "100k.bin"), 100 * 1024, seed=32)
    make_file(os.path.join(root, "3m.bin"), 3 << 20, seed=33)
    os.makedirs(os.path.join(root, "dir"))
    make_file(os.path.join(root, "dir", "in.txt"), 10, seed=34)


class HttpConnectionTest(ServedTreeTest):
    @classmethod
    def populate(cls, base):
        make_tree(base)
        return base

    def assert_open(self, conn):
        """The server keeps the connection: nothing arrives and it is not closed."""
        self.assertFalse(conn.server_closed(timeout=0.3), "server closed a keep-alive connection")

    # --- Persistent connections -----------------------------------------------------------

    def test_http11_keep_alive_by_default_with_http_client(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10 * SLOW)
        try:
            conn.request("GET", "/small.txt")
            first = conn.getresponse()
            self.assertEqual(first.read(), self.read("small.txt"))
            self.assertFalse(first.will_close)
            self.assertIsNone(first.getheader("Connection"))
            sock = conn.sock
            local_port = sock.getsockname()[1]
            conn.request("GET", "/100k.bin")
            second = conn.getresponse()
            self.assertEqual(second.read(), self.read("100k.bin"))
            conn.request("HEAD", "/3m.bin")
            third = conn.getresponse()
            self.assertEqual(third.read(), b"")
            self.assertIs(conn.sock, sock)  # http.client did not have to reconnect
            self.assertEqual(conn.sock.getsockname()[1], local_port)
        finally:
            conn.close()
        peer = rf"127\.0\.0\.1:{local_port}"
        self.assertTrue(self.server.wait_for_log(peer + r" closed \(client closed\) after 3 requests"))

    def test_http10_closes_by_default(self):
        with RawConnection(self.port) as conn:
            conn.send(b"GET /small.txt HTTP/1.0\r\n\r\n")
            response = conn.read_response()
            self.assertEqual(response.status, 200)
            self.assertEqual(response.body, self.read("small.txt"))
            self.assertTrue(conn.server_closed(), "HTTP/1.0 connection left open")

    def test_http10_keep_alive_when_asked(self):
        with RawConnection(self.port) as conn:
            for name in ("small.txt", "100k.bin", "small.txt"):
                conn.send(f"GET /{name} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
                response = conn.read_response()
                self.assertEqual(response.status, 200)
                self.assertEqual(response.body, self.read(name))
                self.assertNotIn("close", (response.header("connection") or "").lower())
                self.assert_open(conn)
            conn.send(b"GET /small.txt HTTP/1.0\r\n\r\n")  # without the token: close after it
            self.assertEqual(conn.read_response().body, self.read("small.txt"))
            self.assertTrue(conn.server_closed())

    def test_http10_keep_alive_response_announces_keep_alive(self):
        """An HTTP/1.0 client keeps the connection only when the response says
        "Connection: keep-alive" (RFC 9112 appendix C.2.2; what ab -k and HTTP/1.0 proxies
        look for)."""
        with RawConnection(self.port) as conn:
            conn.send(b"GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            response = conn.read_response()
            self.assertEqual(response.status, 200)
            self.assertIn("keep-alive", (response.header("connection") or "").lower(),
                          response.head_bytes)

    def test_connection_close_is_honoured(self):
        with RawConnection(self.port) as conn:
            # A second request after "Connection: close" must not be answered.
            conn.send(get_request("/small.txt", close=True) + get_request("/100k.bin"))
            response = conn.read_response()
            self.assertEqual(response.body, self.read("small.txt"))
            self.assertEqual(response.header("connection").lower(), "close")
            self.assertTrue(conn.server_closed(), f"extra bytes: {conn.leftover()[:100]!r}")

    def test_connection_close_with_http_client(self):
        response, body = http_get(self.port, "/100k.bin", {"Connection": "close"})
        self.assertTrue(response.will_close)
        self.assertEqual(body, self.read("100k.bin"))

    def test_connection_header_token_list(self):
        with RawConnection(self.port) as conn:
            conn.send(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: TE, Close\r\n\r\n")
            self.assertEqual(conn.read_response().body, self.read("small.txt"))
            self.assertTrue(conn.server_closed())

    def test_three_pipelined_requests_in_one_send(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/small.txt", close=False) +
                      get_request("/100k.bin", "Range: bytes=100-5099", close=False) +
                      get_request("/3m.bin", close=True))
            first = conn.read_response()
            second = conn.read_response()
            third = conn.read_response()
            self.assertEqual((first.status, first.body), (200, self.read("small.txt")))
            self.assertEqual((second.status, second.body), (206, self.read("100k.bin")[100:5100]))
            self.assertEqual((third.status, third.body), (200, self.read("3m.bin")))
            self.assertTrue(conn.server_closed())

    def test_many_pipelined_mixed_requests_split_at_random_points(self):
        small, k100 = self.read("small.txt"), self.read("100k.bin")
        plan = [  # (request, head_only, expected status, expected body or None)
            (get_request("/small.txt", close=False), False, 200, small),
            (get_request("/nope", close=False), False, 404, None),
            (get_request("/100k.bin", method="HEAD", close=False), True, 200, b""),
            (get_request("/100k.bin", "Range: bytes=-10", close=False), False, 206, k100[-10:]),
            (get_request("/small.txt", "Range: bytes=5000-", close=False), False, 416, None),
            (get_request("/dir", close=False), False, 301, None),
            (get_request("/dir/", close=False), False, 200, None),
            (get_request("/small.txt", "Range: bytes=0-0,2-2", close=False), False, 206, None),
            (get_request("/%2e%2e/x", close=False), False, 400, None),
            (get_request("/100k.bin", close=False), False, 200, k100),
        ] * 3 + [(get_request("/small.txt"), False, 200, small)]
        data = b"".join(p[0] for p in plan)
        rng = random.Random(7)
        with RawConnection(self.port) as conn:
            pos = 0
            while pos < len(data):
                step = rng.randint(1, 300)
                conn.send(data[pos:pos + step])
                pos += step
            for i, (_, head_only, status, body) in enumerate(plan):
                with self.subTest(i=i):
                    response = conn.read_response(head_only)
                    self.assertEqual(response.status, status, response)
                    if body is not None:
                        self.assertEqual(response.body, body)
            self.assertTrue(conn.server_closed())

    def test_concurrent_keep_alive_clients(self):
        import concurrent.futures
        expected = {"/small.txt": self.read("small.txt"), "/100k.bin": self.read("100k.bin"),
                    "/dir/in.txt": self.read("dir/in.txt")}

        def client(i):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30 * SLOW)
            try:
                ok = True
                sock = None
                for j in range(6):
                    path = list(expected)[(i + j) % 3]
                    conn.request("GET", path)
                    response = conn.getresponse()
                    ok = ok and response.status == 200 and response.read() == expected[path]
                    sock = sock or conn.sock
                    ok = ok and conn.sock is sock
                return ok
            finally:
                conn.close()

        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            results = list(pool.map(client, range(40)))
        self.assertTrue(all(results), f"{results.count(False)} of 40 clients failed")

    def test_request_head_split_byte_by_byte(self):
        request = get_request("/small.txt", "Range: bytes=3-7")
        with RawConnection(self.port) as conn:
            for i in range(len(request)):
                conn.send(request[i:i + 1])
                if i % 10 == 0:
                    time.sleep(0.002)
            response = conn.read_response()
            self.assertEqual((response.status, response.body), (206, self.read("small.txt")[3:8]))

    def test_body_on_a_get_is_skipped(self):
        with RawConnection(self.port) as conn:
            body = b"GET /100k.bin HTTP/1.1\r\n\r\n"  # looks like a request, is a body
            conn.send(b"GET /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body + get_request("/dir/in.txt"))
            self.assertEqual(conn.read_response().body, self.read("small.txt"))
            self.assertEqual(conn.read_response().body, self.read("dir/in.txt"))
            self.assertTrue(conn.server_closed())

    def test_500_pipelined_requests(self):
        small = self.read("small.txt")
        with RawConnection(self.port, timeout=30) as conn:
            conn.send(get_request("/small.txt", close=False) * 499 + get_request("/small.txt"))
            for i in range(500):
                response = conn.read_response()
                self.assertEqual((response.status, response.body), (200, small), i)
            self.assertTrue(conn.server_closed())

    def test_http11_request_without_host_is_400(self):
        """RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code to any
        HTTP/1.1 request message that lacks a Host header field"."""
        with RawConnection(self.port, timeout=3) as conn:
            conn.send(b"GET /small.txt HTTP/1.1\r\nConnection: close\r\n\r\n")
            assert_error_page(self, conn.read_response(), 400)
        # HTTP/1.0 has no such requirement.
        response = raw_exchange(self.port, b"GET /small.txt HTTP/1.0\r\n\r\n")
        self.assertEqual((response.status, response.body), (200, self.read("small.txt")))

    def test_request_line_with_control_bytes_gets_one_400(self):
        # A request line ending in HTTP/1.x is HTTP whatever its target holds: one 400, never a
        # "File transmit error!" per header line from the line protocol.
        for target in (b"/a\x00b", b"/a\x01b", b"/\x1b[2J", b"/a b", b"/x\x7f"):
            with self.subTest(target=target):
                data = raw_all(self.port, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n"
                               b"Accept: */*\r\n\r\n")
                self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:80])
                self.assertNotIn(TRANSMIT_ERROR, data)
                self.assertEqual(data.count(b"HTTP/1.1 "), 1)

    def test_empty_lines_before_the_request_line_are_skipped(self):
        for prefix in (b"\r\n", b"\n", b"\r\n\r\n"):
            with self.subTest(prefix=prefix):
                data = raw_all(self.port, prefix + get_request("/small.txt"))
                self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:80])
                self.assertTrue(data.endswith(self.read("small.txt")))
        # The line protocol still answers an empty line, once the next line has shown it is
        # not HTTP.
        self.assertEqual(raw_all(self.port, b"\nsmall.txt\n"),
                         TRANSMIT_ERROR + self.read("small.txt"))

    def test_bare_lf_request(self):
        response = raw_exchange(self.port,
                                b"GET /small.txt HTTP/1.1\nHost: x\nConnection: close\n\n")
        self.assertEqual((response.status, response.body), (200, self.read("small.txt")))

    def test_browser_like_request(self):
        request = (b"GET /dir/in.txt HTTP/1.1\r\n"
                   b"Host: 127.0.0.1\r\n"
                   b"Connection: keep-alive\r\n"
                   b"sec-ch-ua: \"Chromium\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
                   b"Upgrade-Insecure-Requests: 1\r\n"
                   b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                   b"Gecko) Chrome/124.0.0.0 Safari/537.36\r\n"
                   b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                   b"image/webp,*/*;q=0.8\r\n"
                   b"Sec-Fetch-Site: none\r\nSec-Fetch-Mode: navigate\r\n"
                   b"Sec-Fetch-Dest: document\r\n"
                   b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
                   b"Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n"
                   b"Cookie: a=b; c=d\r\n\r\n")
        with RawConnection(self.port) as conn:
            conn.send(request)
            response = conn.read_response()
            self.assertEqual((response.status, response.body), (200, self.read("dir/in.txt")))
            self.assertIsNone(response.header("content-encoding"))
            conn.send(request.replace(b"/dir/in.txt", b"/favicon.ico"))
            self.assertEqual(conn.read_response().status, 404)
            self.assert_open(conn)

    # --- Errors ---------------------------------------------------------------------------

    def assert_error_and_close(self, request, status, head_only=False):
        with RawConnection(self.port, timeout=3) as conn:
            conn.send(request)
            response = conn.read_response(head_only)
            assert_error_page(self, response, status) if not head_only else \
                self.assertEqual(response.status, status)
            self.assertTrue(conn.server_closed(), f"not closed after {status}")
            return response

    def test_400_malformed_request_lines_and_heads(self):
        # Each has a Host field (except where Host itself is the fault), so that the 400 is for
        # the fault named, not for a missing Host.
        cases = [
            b"GET /small.txt HTTP/1.x\r\nHost: x\r\n\r\n",
            b"GET /small.txt HTTP/11.1\r\nHost: x\r\n\r\n",
            b"GET /small.txt HTTP/1.1 extra\r\nHost: x\r\n\r\n",
            b"GET /small\x7f.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\n continued: folded\r\n\r\n",
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n",
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\nName : x\r\n\r\n",
            b"GET /small.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
            b"\r\nab",
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n",
            # RFC 9112 6.3: chunked not last makes the body length unknown: 400 and close.
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        ]
        for request in cases:
            with self.subTest(request=request):
                self.assert_error_and_close(request, 400)
        # The same requests without their fault are fine (the cases test what they claim).
        good = raw_exchange(self.port, b"GET /small.txt HTTP/1.1\r\nHost: x\r\nName: x\r\n"
                                       b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        self.assertEqual((good.status, good.body), (200, self.read("small.txt")))

    def test_400_bad_target_in_a_well_formed_request(self):
        # The head parsed fine, only the path is bad: a 400, and the connection may go on.
        for target in (b"small.txt", b"/%zz", b"/small.txt%2", b"/%", b"/%0"):
            with self.subTest(target=target), RawConnection(self.port) as conn:
                conn.send(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n" +
                          get_request("/small.txt"))
                assert_error_page(self, conn.read_response(), 400)
                self.assertEqual(conn.read_response().body, self.read("small.txt"))
                self.assertTrue(conn.server_closed())

    def test_400_after_a_good_request_on_the_same_connection(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/small.txt", close=False) + b"GET / HTTP/1.x\r\n\r\n")
            self.assertEqual(conn.read_response().body, self.read("small.txt"))
            assert_error_page(self, conn.read_response(), 400)
            self.assertTrue(conn.server_closed())

    def test_404_keeps_the_connection(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/missing.txt", close=False))
            assert_error_page(self, conn.read_response(), 404)
            conn.send(get_request("/missing.txt", method="HEAD", close=False))
            head = conn.read_response(head_only=True)
            self.assertEqual(head.status, 404)
            conn.send(get_request("/small.txt"))
            self.assertEqual(conn.read_response().body, self.read("small.txt"))

    def test_405_with_allow_and_the_body_is_drained(self):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            with self.subTest(method=method), RawConnection(self.port) as conn:
                body = b"field=value&x=" + b"y" * 100
                conn.send(f"{method} /small.txt HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          f"application/x-www-form-urlencoded\r\nContent-Length: {len(body)}"
                          f"\r\n\r\n".encode() + body + get_request("/small.txt"))
                response = conn.read_response()
                assert_error_page(self, response, 405)
                self.assertEqual(response.header("allow"), "GET, HEAD, OPTIONS")
                second = conn.read_response()
                self.assertEqual((second.status, second.body), (200, self.read("small.txt")))
                self.assertTrue(conn.server_closed())

    def test_405_without_body_and_unknown_methods(self):
        for method in ("TRACE", "BREW", "CONNECT"):
            with self.subTest(method=method), RawConnection(self.port) as conn:
                target = "127.0.0.1:80" if method == "CONNECT" else "/small.txt"
                conn.send(f"{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode() +
                          get_request("/small.txt"))
                response = conn.read_response()
                self.assertEqual(response.status, 405)
                self.assertEqual(response.header("allow"), "GET, HEAD, OPTIONS")
                self.assertEqual(conn.read_response().body, self.read("small.txt"))

    def test_405_body_arriving_in_pieces_is_drained(self):
        # Bodies up to 64 KiB (Session::kMaxDrainedBody) are read and discarded.
        body = random.Random(3).randbytes(60 * 1024)
        # The body contains what looks like a request: it must be skipped, not answered.
        body = b"GET /100k.bin HTTP/1.1\r\n\r\n" + body
        with RawConnection(self.port) as conn:
            conn.send(f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}"
                      "\r\n\r\n".encode() + body[:10])
            response = conn.read_response()
            self.assertEqual(response.status, 405)
            self.assertNotEqual((response.header("connection") or "").lower(), "close")
            for i in range(10, len(body), 8192):
                conn.send(body[i:i + 8192])
                time.sleep(0.01)
            conn.send(get_request("/small.txt"))
            second = conn.read_response()
            self.assertEqual((second.status, second.body), (200, self.read("small.txt")))
            self.assertTrue(conn.server_closed())

    def test_405_with_a_large_body_closes_instead_of_draining(self):
        # Larger bodies are not read: the answer says so, and the connection closes.
        body = b"GET /100k.bin HTTP/1.1\r\n\r\n" + random.Random(4).randbytes(300 * 1024)
        with RawConnection(self.port) as conn:
            conn.send(f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}"
                      "\r\n\r\n".encode() + body[:10])
            response = conn.read_response()
            self.assertEqual(response.status, 405)
            self.assertEqual((response.header("connection") or "").lower(), "close")
            try:
                conn.send(body[10:])
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.assertTrue(conn.server_closed())

    def test_request_line_up_to_the_default_limit_is_accepted(self):
        # 8192 bytes is the default limit for the request line ("GET /x... HTTP/1.1", without
        # the line end).
        overhead = len("GET / HTTP/1.1")
        for length in (8000, 8190, 8191, 8192):
            for line_end in (b"\r\n", b"\n"):
                with self.subTest(length=length, line_end=line_end):
                    request = (b"GET /" + b"a" * (length - overhead) + b" HTTP/1.1" + line_end +
                               b"Host: x" + line_end + b"Connection: close" + line_end + line_end)
                    response = raw_exchange(self.port, request, timeout=3)
                    assert_error_page(self, response, 404)

    def test_414_request_line_over_the_default_limit(self):
        overhead = len("GET / HTTP/1.1")
        for extra in (1, 100, 20000):
            with self.subTest(length=8192 + extra):
                over = (b"GET /" + b"a" * (8192 - overhead + extra) +
                        b" HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assert_error_and_close(over, 414)

    def test_414_on_a_keep_alive_connection(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/small.txt", close=False))
            self.assertEqual(conn.read_response().body, self.read("small.txt"))
            conn.send(b"GET /" + b"b" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            assert_error_page(self, conn.read_response(), 414)
            self.assertTrue(conn.server_closed())

    def test_414_request_line_sent_slowly_without_line_end(self):
        # An over-long line is refused without waiting for its end.
        with RawConnection(self.port) as conn:
            conn.send(b"GET /")
            time.sleep(0.05)
            for _ in range(10):
                conn.send(b"c" * 1000)
            assert_error_page(self, conn.read_response(), 414)

    def test_431_headers_over_the_default_limit(self):
        ok = get_request("/small.txt", "X-Fill: " + "f" * 15000)
        response = raw_exchange(self.port, ok)
        self.assertEqual((response.status, response.body), (200, self.read("small.txt")))
        self.assert_error_and_close(get_request("/small.txt", "X-Fill: " + "f" * 17000), 431)
        many = [f"X-Header-{i}: v" for i in range(20)]
        self.assert_error_and_close(get_request("/small.txt", *(["X-Fill: " + "g" * 1000] * 17)),
                                    431)
        response = raw_exchange(self.port, get_request("/small.txt", *many))
        self.assertEqual(response.status, 200)

    def test_431_too_many_header_lines(self):
        headers = [f"X-H{i}: v" for i in range(150)]
        self.assert_error_and_close(get_request("/small.txt", *headers), 431)

    def test_501_unsupported_transfer_coding(self):
        for coding in ("gzip", "deflate", "gzip, br", "br"):
            with self.subTest(coding=coding):
                self.assert_error_and_close(
                    get_request("/small.txt", f"Transfer-Encoding: {coding}", close=False), 501)

    def test_chunked_request_body_is_answered_then_closed(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/small.txt", "Transfer-Encoding: chunked", close=False) +
                      b"5\r\nhello\r\n0\r\n\r\n")
            response = conn.read_response()
            self.assertIn(response.status, (200, 400, 411, 501))
            self.assertTrue(conn.server_closed())

    def test_505_unsupported_versions(self):
        for version in ("HTTP/2.0", "HTTP/3.1", "HTTP/0.9", "HTTP/1.2", "HTTP/9.9"):
            with self.subTest(version=version):
                self.assert_error_and_close(
                    f"GET /small.txt {version}\r\nHost: x\r\n\r\n".encode(), 505)

    def test_head_error_has_no_body(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/nope", method="HEAD", close=False) + get_request("/small.txt"))
            head = conn.read_response(head_only=True)
            self.assertEqual(head.status, 404)
            self.assertTrue(conn.buf == b"" or conn.buf.startswith(b"HTTP/1.1 "), conn.leftover())
            self.assertEqual(conn.read_response().body, self.read("small.txt"))

    # --- Both protocols on one port -------------------------------------------------------

    def test_line_protocol_and_http_on_the_same_server(self):
        small = self.read("small.txt")
        http_conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10 * SLOW)
        line = connect(self.port)
        try:
            http_conn.request("GET", "/small.txt")
            self.assertEqual(http_conn.getresponse().read(), small)
            line.sendall(b"small.txt\n")
            got = b""
            while len(got) < len(small):
                chunk = line.recv(65536)
                self.assertTrue(chunk)
                got += chunk
            self.assertEqual(got, small)
            self.assertEqual(nc(self.port, b"100k.bin\nnope\n"),
                             self.read("100k.bin") + TRANSMIT_ERROR)
            http_conn.request("GET", "/100k.bin")
            self.assertEqual(http_conn.getresponse().read(), self.read("100k.bin"))
            # A line-protocol name that looks a bit like HTTP is still a name.
            line.sendall(b"GET\n")
            self.assertEqual(line.recv(100), TRANSMIT_ERROR)
        finally:
            http_conn.close()
            line.close()

    def test_http_text_after_line_protocol_is_a_file_name(self):
        # The first line decides the protocol for the whole connection.
        data = nc(self.port, b"small.txt\nGET /small.txt HTTP/1.1\n")
        self.assertEqual(data, self.read("small.txt") + TRANSMIT_ERROR)

    def test_line_protocol_name_after_http_request_is_not_served(self):
        data = raw_all(self.port, get_request("/small.txt", close=False) + b"small.txt\n\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "))
        self.assertEqual(data.count(self.read("small.txt")), 1)
        self.assertIn(b"HTTP/1.1 400 ", data)

    # --- Log ------------------------------------------------------------------------------

    def test_http_requests_are_logged_with_client_address(self):
        with RawConnection(self.port) as conn:
            local_port = conn.sock.getsockname()[1]
            conn.send(get_request("/small.txt", close=False) + get_request("/nope.txt"))
            self.assertEqual(conn.read_response().status, 200)
            self.assertEqual(conn.read_response().status, 404)
            self.assertTrue(conn.server_closed())
        peer = rf"127\.0\.0\.1:{local_port}"
        for event in (r"accepted", r"request GET /small\.txt", r"request GET /nope\.txt",
                      r"transfer finished: 200 /small\.txt, \d+ bytes",
                      r"transfer finished: 404 ", r"closed \([a-z ]+\) after 2 requests"):
            self.assertTrue(self.server.wait_for_log(peer + " " + event), event)

    def test_malformed_request_is_logged_with_client_address(self):
        with RawConnection(self.port) as conn:
            local_port = conn.sock.getsockname()[1]
            conn.send(b"GET / HTTP/2.0\r\n\r\n")
            self.assertEqual(conn.read_response().status, 505)
        self.assertTrue(self.server.wait_for_log(rf"127\.0\.0\.1:{local_port} .*505"))


class HttpLimitFlagsTest(unittest.TestCase):
    def test_max_request_line_flag(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "small.txt"), 100, seed=41)
            with Server(root, "--max-request-line", "200") as server:
                overhead = len("GET / HTTP/1.1")
                self.assertEqual(raw_exchange(server.port, get_request("/small.txt")).status, 200)
                for length in (150, 199, 200):
                    with self.subTest(length=length):
                        at_limit = get_request("/" + "a" * (length - overhead))
                        response = raw_exchange(server.port, at_limit, timeout=3)
                        assert_error_page(self, response, 404)
                for length in (201, 300, 5000):
                    with self.subTest(length=length):
                        over = get_request("/" + "a" * (length - overhead))
                        with RawConnection(server.port, timeout=3) as conn:
                            conn.send(over)
                            assert_error_page(self, conn.read_response(), 414)
                # On a keep-alive connection after a first request.
                with RawConnection(server.port) as conn:
                    conn.send(get_request("/small.txt", close=False) +
                              get_request("/" + "a" * 300))
                    self.assertEqual(conn.read_response().status, 200)
                    assert_error_page(self, conn.read_response(), 414)

    def test_max_header_size_flag(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "small.txt"), 100, seed=42)
            with Server(root, "--max-header-size", "1024") as server:
                response = raw_exchange(server.port, get_request("/small.txt", "X-F: " + "a" * 700))
                self.assertEqual(response.status, 200)
                with RawConnection(server.port) as conn:
                    conn.send(get_request("/small.txt", "X-F: " + "a" * 1100))
                    assert_error_page(self, conn.read_response(), 431)
                    self.assertTrue(conn.server_closed())
                # The default limit would have accepted 2000 bytes of headers; this one not.
                with RawConnection(server.port) as conn:
                    conn.send(get_request("/small.txt", *(["X-G: " + "b" * 90] * 20)))
                    assert_error_page(self, conn.read_response(), 431)

    def test_invalid_limit_flags_are_rejected(self):
        import subprocess
        from harness import LAUNCH
        with TempRoot() as root:
            for args in (["--max-request-line", "abc"], ["--max-header-size", "-5"]):
                with self.subTest(args=args):
                    out = subprocess.run([*LAUNCH, "--root", root, "--port", "0", "--listen",
                                          "127.0.0.1"] + args, capture_output=True,
                                         timeout=10 * SLOW)
                    self.assertNotEqual(out.returncode, 0)


if __name__ == "__main__":
    unittest.main()
