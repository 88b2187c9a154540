"""Real HTTP clients against the real server: curl, wget and aria2c downloads, resumed
downloads (curl -C -, wget -c, aria2c -c) and aria2c's segmented download, all byte-exact."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SLOW, ServedTreeTest, Server, TempRoot, make_file, sha256_file  # noqa: E402
from test_http_files import run_client  # noqa: E402

ARIA2_COMMON = ["--allow-overwrite=true", "--auto-file-renaming=false", "--disable-ipv6",
                "--file-allocation=none", "--console-log-level=warn", "--summary-interval=0",
                "--check-certificate=false", "--max-tries=1", "--retry-wait=0",
                "--connect-timeout=10", "--timeout=30"]


class HttpClientsTest(ServedTreeTest):
    @classmethod
    def populate(cls, base):
        cls.root = os.path.join(base, "root")
        cls.digests = {
            "20m.bin": make_file(os.path.join(cls.root, "20m.bin"), 20 << 20, seed=51),
            "small.txt": make_file(os.path.join(cls.root, "small.txt"), 1000, seed=52),
            "odd size.bin": make_file(os.path.join(cls.root, "odd size.bin"), 3_000_001, seed=53),
        }
        tree = os.path.join(cls.root, "tree")
        os.makedirs(os.path.join(tree, "sub dir"))
        for rel, size, seed in (("a.txt", 100, 54), ("b file.bin", 20000, 55),
                                ("sub dir/c.txt", 300, 56)):
            cls.digests["tree/" + rel] = make_file(os.path.join(tree, rel), size, seed=seed)
        return cls.root

    def write_first_half(self, name, out_path):
        with open(os.path.join(self.root, name), "rb") as f:
            data = f.read()
        with open(out_path, "wb") as f:
            f.write(data[:len(data) // 2])
        return len(data) // 2

    def log_mark(self):
        return len(self.server.log())

    def transfers(self, path, mark):
        """(peer, status, bytes sent) for each finished transfer of `path` logged after mark."""
        pattern = re.compile(r" (\S+:\d+) transfer finished: (\d{3}) " + re.escape(path) +
                             r", (\d+) bytes")
        return [(m.group(1), int(m.group(2)), int(m.group(3)))
                for m in pattern.finditer(self.server.log()[mark:])]

    def wait_for_transfers(self, path, mark, count=1):
        """The server logs a transfer just after its last send: wait for it to be logged."""
        import time
        deadline = time.monotonic() + 5 * SLOW
        while len(self.transfers(path, mark)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.transfers(path, mark)

    def assert_resumed(self, path, mark, size, have):
        """Exactly the missing part was fetched, with a 206."""
        transfers = self.wait_for_transfers(path, mark)
        self.assertTrue(transfers, "no transfer logged")
        statuses = [t[1] for t in transfers]
        self.assertEqual(statuses, [206], transfers)
        sent = transfers[0][2]  # head + body
        self.assertGreaterEqual(sent, size - have)
        self.assertLess(sent, size - have + 2000)

    # --- Plain downloads --------------------------------------------------------------------

    def test_wget_download(self):
        with TempRoot() as out:
            for name in ("20m.bin", "small.txt"):
                with self.subTest(name=name):
                    path = os.path.join(out, name)
                    result = run_client(["wget", "-q", "--tries=1", f"--timeout={30 * SLOW}",
                                         "-O", path, self.url("/" + name)])
                    self.assertEqual(result.returncode, 0, result.stderr)
                    self.assertEqual(sha256_file(path), self.digests[name])

    def test_curl_reuses_one_connection_for_several_urls(self):
        with TempRoot() as out:
            a, b = os.path.join(out, "a"), os.path.join(out, "b")
            result = run_client(["curl", "-sS", "--fail", "-v", "-o", a, self.url("/small.txt"),
                                 "-o", b, self.url("/odd%20size.bin")])
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(sha256_file(a), self.digests["small.txt"])
            self.assertEqual(sha256_file(b), self.digests["odd size.bin"])
            self.assertIn(b"Re-using existing connection", result.stderr)

    def test_wget_recursive_mirror_follows_the_listing(self):
        with TempRoot() as out:
            result = run_client(["wget", "-q", "-r", "-np", "-nH", "--tries=1",
                                 f"--timeout={30 * SLOW}", "-P", out, self.url("/tree/")],
                                timeout=60)
            self.assertEqual(result.returncode, 0, result.stderr)
            for rel in ("a.txt", "b file.bin", "sub dir/c.txt"):
                with self.subTest(rel=rel):
                    path = os.path.join(out, "tree", rel)
                    self.assertTrue(os.path.exists(path), sorted(os.walk(out)))
                    self.assertEqual(sha256_file(path), self.digests["tree/" + rel])

    # --- Resumed downloads ------------------------------------------------------------------

    def test_curl_resume_with_C_dash(self):
        for name in ("20m.bin", "odd size.bin"):
            with self.subTest(name=name), TempRoot() as out:
                path = os.path.join(out, "download")
                have = self.write_first_half(name, path)
                mark = self.log_mark()
                result = run_client(["curl", "-sS", "--fail", "-C", "-", "--max-time",
                                     str(60 * SLOW), "-o", path,
                                     self.url("/" + name.replace(" ", "%20"))])
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(sha256_file(path), self.digests[name])
                self.assert_resumed("/" + name, mark, os.path.getsize(path), have)

    def test_wget_continue(self):
        for name in ("20m.bin", "odd size.bin"):
            with self.subTest(name=name), TempRoot() as out:
                have = self.write_first_half(name, os.path.join(out, name))
                mark = self.log_mark()
                result = run_client(["wget", "-q", "-c", "--tries=1", f"--timeout={30 * SLOW}",
                                     "-P", out, self.url("/" + name.replace(" ", "%20"))])
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(sorted(os.listdir(out)), [name])  # continued, not a new copy
                self.assertEqual(sha256_file(os.path.join(out, name)), self.digests[name])
                self.assert_resumed("/" + name, mark, os.path.getsize(os.path.join(out, name)),
                                    have)

    def test_aria2c_segmented_download(self):
        mark = self.log_mark()
        with TempRoot() as out:
            result = run_client(["aria2c", "-x8", "-s8", "-k1M", *ARIA2_COMMON, "-d", out,
                                 "-o", "20m.bin", self.url("/20m.bin")], timeout=90)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertEqual(sha256_file(os.path.join(out, "20m.bin")), self.digests["20m.bin"])
            self.assertFalse(os.path.exists(os.path.join(out, "20m.bin.aria2")))
        # Several connections each fetched ranges.
        transfers = self.wait_for_transfers("/20m.bin", mark, count=2)
        peers = {peer for peer, status, _ in transfers if status == 206}
        self.assertGreaterEqual(len(peers), 2, transfers)

    def test_aria2c_continue_a_partial_file(self):
        with TempRoot() as out:
            have = self.write_first_half("20m.bin", os.path.join(out, "20m.bin"))
            mark = self.log_mark()
            result = run_client(["aria2c", "-c", "-x8", "-s8", "-k1M", *ARIA2_COMMON, "-d", out,
                                 "-o", "20m.bin", self.url("/20m.bin")], timeout=90)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertEqual(sha256_file(os.path.join(out, "20m.bin")), self.digests["20m.bin"])
        # Ranges only, and far less than the whole file (aria2c cuts its first connection once
        # it has split the download, and its segments may overlap a little, so the total is
        # around the missing half, not exactly it).
        transfers = self.wait_for_transfers("/20m.bin", mark)
        self.assertTrue(transfers)
        self.assertTrue(all(status == 206 for _, status, _ in transfers), transfers)
        self.assertLess(sum(sent for _, _, sent in transfers), (20 << 20) - have // 2)

    def test_aria2c_odd_size_and_space_in_name(self):
        with TempRoot() as out:
            result = run_client(["aria2c", "-x4", "-s4", "-k1M", *ARIA2_COMMON, "-d", out,
                                 "-o", "odd.bin", self.url("/odd%20size.bin")], timeout=60)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertEqual(sha256_file(os.path.join(out, "odd.bin")),
                             self.digests["odd size.bin"])


if __name__ == "__main__":
    unittest.main()
