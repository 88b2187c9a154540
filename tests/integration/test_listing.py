"""Directory listings of a 50,000-entry directory: bounded memory and CPU per connection, the
cap (--max-listing-entries), chunked and close-delimited bodies, HEAD without reading the
directory, JSON, sorting, and a worker that keeps serving others while listings are stuck.

Every loop is bounded in count and time; all traffic goes to 127.0.0.1.
"""
import http.client
import json
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import MODEL, SLOW, Server, TempRoot  # noqa: E402
from test_http_files import RawConnection, get_request, links_of, run_client  # noqa: E402

BIG = 50000
DEFAULT_CAP = 10000
ROW = re.compile(rb'<tr><td class="n"><a href="([^"]*)">')
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rows(body):
    """Entry hrefs of an HTML listing, in order (the parent link excluded)."""
    return [href.decode() for href in ROW.findall(body) if href != b"../"]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def wait_until_idle(pid, timeout=60.0):
    """Waits until the process's CPU time stops growing (its work is done); bounded."""
    deadline = time.monotonic() + timeout * SLOW
    last = cpu_seconds(pid)
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now == last else 0
        last = now
    return quiet >= 3


def stalled_clients(port, count, target=b"/big/"):
    """`count` connections that ask for `target` and never read (a tiny receive buffer)."""
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10 * SLOW)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        socks.append(s)
    return socks


def http_get(port, path, headers=None, method="GET", timeout=60.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SLOW)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


class ListingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = TempRoot()
        cls.root = cls.tmp.__enter__()
        try:
            big = os.path.join(cls.root, "big")
            os.makedirs(os.path.join(big, "a-subdir"))
            for i in range(BIG - 1):  # and the subdirectory: BIG entries
                os.close(os.open(os.path.join(big, f"file-{i:05d}.txt"),
                                 os.O_CREAT | os.O_WRONLY, 0o644))
            with open(os.path.join(cls.root, "small.txt"), "wb") as f:
                f.write(b"small file\n")
            # Sizes and dates in orders unrelated to the names.
            sort_dir = os.path.join(cls.root, "sorted")
            os.makedirs(os.path.join(sort_dir, "zz-dir"))
            cls.sizes = {"a.txt": 300, "b.txt": 100, "c.txt": 200, "d.txt": 0}
            cls.dates = {"a.txt": 1600000200, "b.txt": 1600000300, "c.txt": 1600000100,
                         "d.txt": 1600000400}
            for name, size in cls.sizes.items():
                path = os.path.join(sort_dir, name)
                with open(path, "wb") as f:
                    f.write(b"x" * size)
                os.utime(path, (cls.dates[name], cls.dates[name]))
        except BaseException:
            cls.tmp.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.tmp.__exit__(None, None, None)

    def server(self, *args, threads=1):
        return Server(self.root, "--quiet", *args, threads=threads)

    # --- The cap ------------------------------------------------------------------------------

    def test_html_listing_is_capped_and_says_so(self):
        with self.server() as server:
            response, body = http_get(server.port, "/big/")
            self.assertEqual(response.status, 200)
            self.assertEqual(response.getheader("Transfer-Encoding"), "chunked")
            self.assertIsNone(response.getheader("Content-Length"))
            self.assertEqual(response.getheader("Vary"), "Accept")
            hrefs = rows(body)
            self.assertEqual(len(hrefs), DEFAULT_CAP)
            # The first ones in the order: the directory, then the smallest names.
            self.assertEqual(hrefs[0], "a-subdir/")
            self.assertEqual(hrefs[1:3], ["file-00000.txt", "file-00001.txt"])
            self.assertEqual(hrefs[-1], f"file-{DEFAULT_CAP - 2:05d}.txt")
            self.assertIn(f"{BIG - DEFAULT_CAP} entries are not shown".encode(), body)
            self.assertIn(b"--max-listing-entries", body)
            self.assertTrue(body.endswith(b"</html>\n"))

    def test_raised_cap_lists_everything_in_html_and_json(self):
        with self.server("--max-listing-entries", "60000") as server:
            _, body = http_get(server.port, "/big/")
            hrefs = rows(body)
            self.assertEqual(len(hrefs), BIG)
            self.assertEqual(len(set(hrefs)), BIG)
            self.assertNotIn(b"not shown", body)
            response, body = http_get(server.port, "/big/",
                                      headers={"Accept": "application/json"})
            self.assertEqual(response.getheader("Content-Type"), "application/json")
            self.assertEqual(response.getheader("Vary"), "Accept")
            doc = json.loads(body)
            self.assertEqual(len(doc["entries"]), BIG)
            self.assertEqual(doc["truncated"], 0)
            self.assertEqual(doc["total"], BIG)
            self.assertEqual(doc["entries"][0], {"name": "a-subdir", "href": "a-subdir/",
                                                 "type": "directory",
                                                 "mtime": doc["entries"][0]["mtime"]})
            self.assertRegex(doc["entries"][1]["mtime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            self.assertEqual(doc["entries"][1]["size"], 0)
            self.assertEqual(doc["entries"][1]["type"], "file")

    def test_json_with_the_default_cap_and_format_parameter(self):
        with self.server() as server:
            response, body = http_get(server.port, "/big/?format=json")
            self.assertEqual(response.getheader("Content-Type"), "application/json")
            doc = json.loads(body)
            self.assertEqual(len(doc["entries"]), DEFAULT_CAP)
            self.assertEqual(doc["truncated"], BIG - DEFAULT_CAP)
            self.assertEqual(doc["max_entries"], DEFAULT_CAP)
            # ?format=html beats Accept; */* and browsers get HTML.
            for path, accept in (("/sorted/?format=html", "application/json"),
                                 ("/sorted/", "*/*"),
                                 ("/sorted/", "text/html,application/xhtml+xml,*/*;q=0.8"),
                                 ("/sorted/", "application/json;q=0, */*")):
                with self.subTest(path=path, accept=accept):
                    response, body = http_get(server.port, path, headers={"Accept": accept})
                    self.assertTrue(response.getheader("Content-Type").startswith("text/html"))
                    self.assertIn(b"<!DOCTYPE html>", body)

    # --- Framing ------------------------------------------------------------------------------

    def test_chunked_framing_and_keep_alive(self):
        with self.server() as server, RawConnection(server.port, timeout=60) as conn:
            conn.send(get_request("/big/", close=False) + get_request("/small.txt", close=False))
            listing = conn.read_response()
            self.assertEqual(listing.header("transfer-encoding"), "chunked")
            self.assertEqual(len(rows(listing.body)), DEFAULT_CAP)
            # Bounded pieces: about 32 KiB each, never empty (a zero-size chunk ends the body).
            self.assertGreater(len(conn.chunk_sizes), 10)
            self.assertLessEqual(max(conn.chunk_sizes), 40 * 1024)
            self.assertGreater(min(conn.chunk_sizes), 0)
            small = conn.read_response()  # the connection stays usable after the listing
            self.assertEqual(small.body, b"small file\n")

    def test_http_10_body_ends_with_the_connection(self):
        with self.server() as server:
            result = run_client(["curl", "-sS", "--http1.0", "-i", "--max-time",
                                         str(60 * SLOW), f"http://127.0.0.1:{server.port}/big/"])
            self.assertEqual(result.returncode, 0, result.stderr)
            head, _, body = result.stdout.partition(b"\r\n\r\n")
            self.assertIn(b"Connection: close", head)
            self.assertNotIn(b"Transfer-Encoding", head)
            self.assertNotIn(b"Content-Length", head)
            self.assertEqual(len(rows(body)), DEFAULT_CAP)
            self.assertTrue(body.endswith(b"</html>\n"))

    def test_curl_decodes_the_chunked_listing(self):
        with self.server() as server:
            result = run_client(["curl", "-sS", "--fail", "--max-time", str(60 * SLOW),
                                         f"http://127.0.0.1:{server.port}/big/?format=json"])
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(len(json.loads(result.stdout)["entries"]), DEFAULT_CAP)

    # --- HEAD ---------------------------------------------------------------------------------

    def test_head_is_fast_and_does_not_read_the_directory(self):
        with self.server() as server:
            self.assertTrue(wait_until_idle(server.proc.pid))
            cpu_before = cpu_seconds(server.proc.pid)
            start = time.monotonic()
            with RawConnection(server.port) as conn:
                for _ in range(20):
                    conn.send(get_request("/big/", method="HEAD", close=False))
                    head = conn.read_response(head_only=True)
                    self.assertEqual(head.status, 200)
                    self.assertEqual(head.header("transfer-encoding"), "chunked")
                conn.send(get_request("/small.txt"))
                self.assertEqual(conn.read_response().body, b"small file\n")  # no body before it
            seconds = time.monotonic() - start
            cpu = cpu_seconds(server.proc.pid) - cpu_before
            print(f"\n20 HEAD /big/: {seconds * 1000:.0f} ms wall, {cpu * 1000:.0f} ms server CPU",
                  file=sys.stderr)
            # Reading and rendering 50,000 entries costs about 100 ms each: 20 would be 2 s.
            self.assertLess(seconds, 1.0 * SLOW)
            self.assertLess(cpu, 0.5 * SLOW)

    # --- Sorting ------------------------------------------------------------------------------

    def test_sorting_by_name_size_and_date(self):
        files_by = {
            "size": sorted(self.sizes, key=lambda n: (self.sizes[n], n)),
            "date": sorted(self.dates, key=lambda n: (self.dates[n], n)),
            "name": sorted(self.sizes),
        }
        with self.server() as server:
            for sort, expected in files_by.items():
                for order in ("asc", "desc"):
                    with self.subTest(sort=sort, order=order):
                        _, body = http_get(server.port, f"/sorted/?sort={sort}&order={order}")
                        want = expected if order == "asc" else list(reversed(expected))
                        self.assertEqual(rows(body), ["zz-dir/"] + want)  # directories first
                        # The active column's header links to the other direction.
                        other = "desc" if order == "asc" else "asc"
                        self.assertIn(f'href="?sort={sort}&amp;order={other}"'.encode(), body)
                        _, doc = http_get(server.port,
                                          f"/sorted/?sort={sort}&order={order}&format=json")
                        names = [e["name"] for e in json.loads(doc)["entries"]]
                        self.assertEqual(names, ["zz-dir"] + want)
            # Unknown values fall back to the default order, never an error.
            for query in ("?sort=bogus", "?order=up", "?sort=%zz", "?sort=SIZE&order=%",
                          "?format=xml"):
                with self.subTest(query=query):
                    response, body = http_get(server.port, "/sorted/" + query)
                    self.assertEqual(response.status, 200)
                    self.assertEqual(rows(body), ["zz-dir/"] + files_by["name"])
            # The header links work from the page.
            _, body = http_get(server.port, "/sorted/")
            for href, _ in links_of(body):
                if href.startswith("?"):
                    response, _ = http_get(server.port, "/sorted/" + href.replace("&amp;", "&"))
                    self.assertEqual(response.status, 200, href)

    # --- Fairness and memory ------------------------------------------------------------------

    def test_other_clients_are_served_while_big_listings_stall(self):
        # A pool thread stays with its stalled client until the send timeout (Example 4's
        # limit, tested in test_defences): the pool needs a thread per stalled client and one
        # for the others. The event-loop models serve them all on one thread.
        with self.server(threads=24 if MODEL == "thread-pool" else 1) as server:
            socks = stalled_clients(server.port, 20)
            try:
                worst = 0.0
                for _ in range(10):
                    start = time.monotonic()
                    response, body = http_get(server.port, "/small.txt", timeout=10)
                    worst = max(worst, time.monotonic() - start)
                    self.assertEqual(body, b"small file\n")
                    time.sleep(0.1)
                print(f"\nsmall file beside 20 stalled listings: worst {worst * 1000:.0f} ms",
                      file=sys.stderr)
                self.assertLess(worst, 1.0 * SLOW)
            finally:
                for s in socks:
                    s.close()

    def test_memory_with_40_stalled_listings_is_bounded(self):
        with self.server() as server:
            self.assertTrue(wait_until_idle(server.proc.pid))
            before = server.rss_kib()
            socks = stalled_clients(server.port, 40)
            try:
                # Every listing has been read and is stuck sending to a client that never reads.
                self.assertTrue(wait_until_idle(server.proc.pid, timeout=120))
                after = server.rss_kib()
                growth_mib = (after - before) / 1024
                print(f"\nRSS with 40 stalled /big/ listings ({BIG} entries): "
                      f"{before / 1024:.1f} -> {after / 1024:.1f} MiB "
                      f"(+{growth_mib:.1f} MiB)", file=sys.stderr)
                self.assertLess(growth_mib, 100)
                self.assertTrue(server.alive())
            finally:
                for s in socks:
                    s.close()


if __name__ == "__main__":
    unittest.main()
