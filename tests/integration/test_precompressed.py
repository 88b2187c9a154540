"""Pre-compressed files: name.br, name.zst or name.gz beside name is sent when the request's
Accept-Encoding allows it, with Content-Encoding, Vary, the variant's own validators and ranges
over the encoded bytes; never for the line protocol, never with --no-precompressed.
"""
import email.utils
import gzip
import os
import random
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SLOW, Server, ServedTreeTest, TempRoot, nc  # noqa: E402
from test_http_files import (RawConnection, get_request, raw_exchange,  # noqa: E402
                             run_client)

SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT-precompressed"
CHROMIUM = "Accept-Encoding: gzip, deflate, br, zstd"
CURL = "Accept-Encoding: deflate, gzip, br, zstd"
SCRIPT = b"".join(b"function f%d(x) { return x * %d; }\n" % (i, i) for i in range(200))
VARIANT_MTIMES = {"": 1500000000, ".br": 1600000000, ".zst": 1650000000, ".gz": 1700000000}


def write(path, data, mtime=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def build_tree(base):
    root = os.path.join(base, "root")
    outside = os.path.join(base, "outside")
    os.makedirs(root)
    write(os.path.join(outside, "secret"), SECRET)
    # The server never decodes: only the gzip variant needs to be real (for curl --compressed).
    variants = {"": SCRIPT, ".br": b"BROTLI-STAND-IN:" + SCRIPT[:900],
                ".zst": b"ZSTD-STAND-IN:" + SCRIPT[:700], ".gz": gzip.compress(SCRIPT, mtime=0)}
    for suffix, data in variants.items():
        write(os.path.join(root, "x.js" + suffix), data, VARIANT_MTIMES[suffix])
    write(os.path.join(root, "plain.js"), SCRIPT)
    write(os.path.join(root, "style.css"), SCRIPT)
    write(os.path.join(root, "style.css.gz"), gzip.compress(SCRIPT, mtime=0))
    # Large enough for the sendfile path (over --small-file-max), for both files.
    big = random.Random(31).randbytes(200 * 1024)  # incompressible: the .gz is as large
    write(os.path.join(root, "big.bin"), big)
    write(os.path.join(root, "big.bin.gz"), gzip.compress(big, mtime=0))
    # Not variants: a directory, a FIFO, a symlink leaving the root.
    write(os.path.join(root, "odd.js"), SCRIPT)
    os.makedirs(os.path.join(root, "odd.js.br"))
    os.mkfifo(os.path.join(root, "odd.js.gz"))
    os.symlink("../outside/secret", os.path.join(root, "odd.js.zst"))
    # A symlink that stays beneath the root is a variant like any file.
    write(os.path.join(root, "linked.js"), SCRIPT)
    os.symlink("style.css.gz", os.path.join(root, "linked.js.gz"))
    # A variant without its file.
    write(os.path.join(root, "orphan.js.gz"), gzip.compress(b"orphan", mtime=0))
    # Directory index.
    write(os.path.join(root, "site", "index.html"), b"<p>index</p>\n" * 50)
    write(os.path.join(root, "site", "index.html.gz"), gzip.compress(b"<p>index</p>\n" * 50))
    # Hidden names, file and variant.
    write(os.path.join(root, ".env.js"), b"hidden")
    write(os.path.join(root, ".env.js.gz"), gzip.compress(b"hidden", mtime=0))
    write(os.path.join(root, ".hid", "in.js"), b"hidden dir")
    write(os.path.join(root, ".hid", "in.js.gz"), gzip.compress(b"hidden dir", mtime=0))
    return root, variants


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


class PrecompressedTest(ServedTreeTest):
    @classmethod
    def populate(cls, base):
        root, cls.variants = build_tree(base)
        return root

    def get(self, target, *headers, method="GET"):
        return raw_exchange(self.port, get_request(target, *headers, method=method),
                            head_only=method == "HEAD")

    def assert_variant(self, response, suffix, vary=True):
        """A complete 200 response carrying x.js's variant `suffix` ("" for the identity)."""
        coding = {"": None, ".br": "br", ".zst": "zstd", ".gz": "gzip"}[suffix]
        self.assertEqual(response.status, 200, response)
        self.assertEqual(response.body, self.variants[suffix])
        self.assertEqual(response.header("content-length"), str(len(self.variants[suffix])))
        self.assertEqual(response.header("content-type"), "text/javascript")
        self.assertEqual(response.header("content-encoding"), coding)
        self.assertEqual(response.header("last-modified"), http_date(VARIANT_MTIMES[suffix]))
        self.assertEqual(response.header("vary"), "Accept-Encoding" if vary else None)
        self.assertEqual(response.count("vary"), 1 if vary else 0)

    # --- Choosing --------------------------------------------------------------------------

    def test_choice_follows_accept_encoding(self):
        cases = [
            (CHROMIUM, ".br"),
            (CURL, ".br"),
            ("Accept-Encoding: gzip", ".gz"),
            ("Accept-Encoding: zstd, gzip", ".zst"),
            ("Accept-Encoding: br;q=0, gzip", ".gz"),
            ("Accept-Encoding: br;q=0.5, gzip;q=0.9, zstd;q=0", ".gz"),
            ("Accept-Encoding: *", ".br"),
            ("Accept-Encoding: identity", ""),
            ("Accept-Encoding: deflate", ""),
            ("Accept-Encoding: *;q=0", ""),
            ("Accept-Encoding: ", ""),
            ("Accept-Encoding: gzip;q=nonsense", ""),
            ("Accept-Encoding: GZIP", ".gz"),
            (None, ""),
        ]
        for header, suffix in cases:
            with self.subTest(header=header):
                headers = [header] if header is not None else []
                self.assert_variant(self.get("/x.js", *headers), suffix)

    def test_variants_have_their_own_etags(self):
        etags = {}
        for header in (CHROMIUM, "Accept-Encoding: zstd", "Accept-Encoding: gzip", "X-None: 1"):
            etags[header] = self.get("/x.js", header).header("etag")
        self.assertEqual(len(set(etags.values())), 4, etags)

    def test_curl_compressed_decodes_a_real_gzip_variant(self):
        result = run_client(["curl", "-sS", "--fail", "--compressed", "-D", "/dev/stderr",
                             self.url("/style.css")])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, SCRIPT)
        self.assertIn(b"content-encoding: gzip", result.stderr.lower())
        self.assertIn(b"vary: accept-encoding", result.stderr.lower())

    def test_wget_gets_the_identity_file(self):
        result = run_client(["wget", "-q", "-O", "-", self.url("/x.js")])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, SCRIPT)

    def test_line_protocol_never_uses_variants(self):
        self.assertEqual(nc(self.port, b"x.js\n"), SCRIPT)

    def test_log_names_the_coding_sent(self):
        self.get("/x.js", "Accept-Encoding: zstd", "X-Marker: log-check")
        self.assertTrue(self.server.wait_for_log(r"200 /x\.js \(zstd\), \d+ bytes"),
                        self.server.log()[-2000:])

    # --- Which files count -----------------------------------------------------------------

    def test_names_without_variants_get_no_vary(self):
        response = self.get("/plain.js", CHROMIUM)
        self.assertEqual((response.status, response.body), (200, SCRIPT))
        self.assertIsNone(response.header("content-encoding"))
        self.assertIsNone(response.header("vary"))

    def test_directory_fifo_and_escaping_symlink_are_not_variants(self):
        for header in (CHROMIUM, "Accept-Encoding: br", "Accept-Encoding: gzip",
                       "Accept-Encoding: zstd"):
            with self.subTest(header=header):
                response = self.get("/odd.js", header)
                self.assertEqual((response.status, response.body), (200, SCRIPT))
                self.assertIsNone(response.header("content-encoding"))
                self.assertIsNone(response.header("vary"))
                self.assertNotIn(SECRET, response.body)

    def test_symlink_variant_beneath_the_root_is_used(self):
        response = self.get("/linked.js", "Accept-Encoding: gzip")
        self.assertEqual(response.header("content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(response.body), SCRIPT)

    def test_a_variant_needs_its_file(self):
        self.assertEqual(self.get("/orphan.js", "Accept-Encoding: gzip").status, 404)
        response = self.get("/orphan.js.gz", "Accept-Encoding: gzip")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header("content-type"), "application/gzip")
        self.assertIsNone(response.header("content-encoding"))
        self.assertIsNone(response.header("vary"))
        self.assertEqual(gzip.decompress(response.body), b"orphan")

    def test_a_variant_requested_by_name_is_that_file(self):
        response = self.get("/x.js.gz", CHROMIUM)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header("content-type"), "application/gzip")
        self.assertIsNone(response.header("content-encoding"))
        self.assertEqual(response.body, self.variants[".gz"])

    def test_directory_index_uses_its_variant(self):
        response = self.get("/site/", "Accept-Encoding: gzip")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header("content-encoding"), "gzip")
        self.assertEqual(response.header("vary"), "Accept-Encoding")
        self.assertTrue(response.header("content-type").startswith("text/html"))
        self.assertEqual(gzip.decompress(response.body), b"<p>index</p>\n" * 50)

    def test_large_variant_goes_by_sendfile(self):
        with open(os.path.join(self.root, "big.bin"), "rb") as f:
            original = f.read()
        response = self.get("/big.bin", "Accept-Encoding: gzip")
        self.assertEqual(response.header("content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(response.body), original)
        response = self.get("/big.bin", "Accept-Encoding: gzip", "Range: bytes=100000-")
        encoded = self.read("big.bin.gz")
        self.assertGreater(len(encoded), 100000 + 16384)
        self.assertEqual(response.status, 206)
        self.assertEqual(response.body, encoded[100000:])

    def test_hidden_names_and_their_variants_stay_refused(self):
        for target in ("/.env.js", "/.env.js.gz", "/.hid/in.js", "/.hid/in.js.gz"):
            for header in (CHROMIUM, "Accept-Encoding: gzip", "X-None: 1"):
                with self.subTest(target=target, header=header):
                    response = self.get(target, header)
                    self.assertEqual(response.status, 403)
                    self.assertNotIn(b"hidden", response.body)
                    self.assertIsNone(response.header("content-encoding"))

    # --- Ranges and conditionals on the encoded bytes ----------------------------------------

    def test_range_applies_to_the_encoded_bytes(self):
        encoded = self.variants[".gz"]
        response = self.get("/x.js", "Accept-Encoding: gzip", "Range: bytes=5-14")
        self.assertEqual(response.status, 206)
        self.assertEqual(response.body, encoded[5:15])
        self.assertEqual(response.header("content-range"), f"bytes 5-14/{len(encoded)}")
        self.assertEqual(response.header("content-encoding"), "gzip")
        self.assertEqual(response.header("vary"), "Accept-Encoding")
        response = self.get("/x.js", "Range: bytes=-10")
        self.assertEqual((response.status, response.body), (206, SCRIPT[-10:]))
        self.assertEqual(response.header("content-range"), f"bytes {len(SCRIPT) - 10}-"
                         f"{len(SCRIPT) - 1}/{len(SCRIPT)}")
        self.assertIsNone(response.header("content-encoding"))
        self.assertEqual(response.header("vary"), "Accept-Encoding")

    def test_unsatisfiable_range_counts_the_encoded_size(self):
        encoded = self.variants[".gz"]
        response = self.get("/x.js", "Accept-Encoding: gzip", f"Range: bytes={len(encoded)}-")
        self.assertEqual(response.status, 416)
        self.assertEqual(response.header("content-range"), f"bytes */{len(encoded)}")
        self.assertEqual(response.header("vary"), "Accept-Encoding")
        # The same offset is inside the identity file.
        response = self.get("/x.js", f"Range: bytes={len(encoded)}-")
        self.assertEqual((response.status, response.body), (206, SCRIPT[len(encoded):]))

    def test_multiple_ranges_carry_the_coding_in_each_part(self):
        encoded = self.variants[".gz"]
        response = self.get("/x.js", "Accept-Encoding: gzip", "Range: bytes=0-9,100-109")
        self.assertEqual(response.status, 206)
        self.assertTrue(response.header("content-type").startswith("multipart/byteranges"))
        self.assertIsNone(response.header("content-encoding"))
        self.assertEqual(response.header("vary"), "Accept-Encoding")
        boundary = re.search(r"boundary=(\S+)", response.header("content-type")).group(1)
        parts = response.body.split(b"--" + boundary.encode())[1:-1]
        self.assertEqual(len(parts), 2)
        for part, (first, last) in zip(parts, ((0, 9), (100, 109))):
            head, _, content = part.partition(b"\r\n\r\n")
            self.assertIn(b"Content-Encoding: gzip\r\n", head)
            self.assertIn(b"Content-Type: text/javascript\r\n", head)
            self.assertIn(f"Content-Range: bytes {first}-{last}/{len(encoded)}".encode(), head)
            self.assertEqual(content[:last - first + 1], encoded[first:last + 1])

    def test_if_none_match_uses_the_variants_etag(self):
        gz_etag = self.get("/x.js", "Accept-Encoding: gzip").header("etag")
        plain_etag = self.get("/x.js").header("etag")
        response = self.get("/x.js", "Accept-Encoding: gzip", f"If-None-Match: {gz_etag}")
        self.assertEqual(response.status, 304)
        self.assertEqual(response.header("etag"), gz_etag)
        self.assertEqual(response.header("vary"), "Accept-Encoding")
        # The identity's ETag does not validate the gzip variant, nor the other way round.
        self.assert_variant(self.get("/x.js", "Accept-Encoding: gzip",
                                     f"If-None-Match: {plain_etag}"), ".gz")
        self.assert_variant(self.get("/x.js", f"If-None-Match: {gz_etag}"), "")
        response = self.get("/x.js", f"If-None-Match: {plain_etag}")
        self.assertEqual((response.status, response.header("vary")), (304, "Accept-Encoding"))

    def test_if_modified_since_uses_the_variants_date(self):
        # Between the identity's and the gzip variant's modification times.
        since = http_date(VARIANT_MTIMES[""] + 1000)
        response = self.get("/x.js", f"If-Modified-Since: {since}")
        self.assertEqual(response.status, 304)
        self.assert_variant(self.get("/x.js", "Accept-Encoding: gzip",
                                     f"If-Modified-Since: {since}"), ".gz")

    def test_if_range_with_the_variants_etag(self):
        gz_etag = self.get("/x.js", "Accept-Encoding: gzip").header("etag")
        plain_etag = self.get("/x.js").header("etag")
        response = self.get("/x.js", "Accept-Encoding: gzip", "Range: bytes=0-3",
                            f"If-Range: {gz_etag}")
        self.assertEqual((response.status, response.body), (206, self.variants[".gz"][:4]))
        response = self.get("/x.js", "Accept-Encoding: gzip", "Range: bytes=0-3",
                            f"If-Range: {plain_etag}")
        self.assert_variant(response, ".gz")

    def test_if_match_failure_says_vary(self):
        response = self.get("/x.js", "Accept-Encoding: gzip", 'If-Match: "nope"')
        self.assertEqual(response.status, 412)
        self.assertEqual(response.header("vary"), "Accept-Encoding")

    def test_head_matches_get(self):
        with RawConnection(self.port) as conn:
            conn.send(get_request("/x.js", "Accept-Encoding: br", method="HEAD", close=False) +
                      get_request("/x.js", "Accept-Encoding: br"))
            head = conn.read_response(head_only=True)
            self.assertTrue(conn.buf == b"" or conn.buf.startswith(b"HTTP/1.1 "),
                            conn.leftover()[:80])
            get = conn.read_response()
        self.assert_variant(get, ".br")
        self.assertEqual(head.status, 200)
        for name in ("content-length", "content-type", "content-encoding", "etag",
                     "last-modified", "vary"):
            self.assertEqual(head.header(name), get.header(name), name)


class PrecompressedOptionsTest(unittest.TestCase):
    def test_no_precompressed_always_sends_the_identity(self):
        with TempRoot() as base:
            root, _ = build_tree(base)
            with Server(root, "--no-precompressed") as server:
                for header in (CHROMIUM, "Accept-Encoding: gzip", "Accept-Encoding: *"):
                    response = raw_exchange(server.port, get_request("/x.js", header))
                    self.assertEqual((response.status, response.body), (200, SCRIPT))
                    self.assertIsNone(response.header("content-encoding"))
                    self.assertIsNone(response.header("vary"))

    def test_allow_hidden_serves_hidden_variants_too(self):
        with TempRoot() as base:
            root, _ = build_tree(base)
            with Server(root, "--allow-hidden") as server:
                for target, data in (("/.env.js", b"hidden"), ("/.hid/in.js", b"hidden dir")):
                    response = raw_exchange(server.port,
                                            get_request(target, "Accept-Encoding: gzip"))
                    self.assertEqual(response.header("content-encoding"), "gzip")
                    self.assertEqual(gzip.decompress(response.body), data)

    def test_without_a_cache_variants_are_found_per_request(self):
        with TempRoot() as base:
            root, variants = build_tree(base)
            with Server(root, "--file-cache-entries", "0") as server:
                response = raw_exchange(server.port, get_request("/x.js", CHROMIUM))
                self.assertEqual(response.body, variants[".br"])
                os.unlink(os.path.join(root, "x.js.br"))
                response = raw_exchange(server.port, get_request("/x.js", CHROMIUM))
                self.assertEqual(response.body, variants[".zst"])

    def test_variants_added_and_removed_are_noticed_after_the_validity(self):
        with TempRoot() as base:
            root = os.path.join(base, "root")
            write(os.path.join(root, "app.js"), SCRIPT)
            encoded = gzip.compress(SCRIPT, mtime=0)
            with Server(root, "--file-cache-valid", "0.2", threads=1) as server:
                def fetch():
                    return raw_exchange(server.port, get_request("/app.js", CHROMIUM))

                response = fetch()
                self.assertIsNone(response.header("vary"))
                write(os.path.join(root, "app.js.gz"), encoded)
                time.sleep(0.3 * SLOW)
                response = fetch()
                self.assertEqual(response.header("content-encoding"), "gzip")
                self.assertEqual(response.body, encoded)
                # Replaced: a new ETag and the new bytes.
                write(os.path.join(root, "app.js.gz.new"), gzip.compress(SCRIPT + b"//", mtime=0))
                os.rename(os.path.join(root, "app.js.gz.new"), os.path.join(root, "app.js.gz"))
                time.sleep(0.3 * SLOW)
                replaced = fetch()
                self.assertNotEqual(replaced.header("etag"), response.header("etag"))
                self.assertEqual(gzip.decompress(replaced.body), SCRIPT + b"//")
                os.unlink(os.path.join(root, "app.js.gz"))
                time.sleep(0.3 * SLOW)
                response = fetch()
                self.assertEqual(response.body, SCRIPT)
                self.assertIsNone(response.header("content-encoding"))
                self.assertIsNone(response.header("vary"))


if __name__ == "__main__":
    unittest.main()
