"""bench/loadgen, the load generator behind the benchmark figures, against a real iocomp.

The benchmark's requests/s and CPU-per-request figures are only as good as the generator's
counting, so these tests check that it counts complete, correct responses (HTTP and the line
protocol, pipelined or not) and that it reports, rather than counts, wrong ones.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SLOW, Server, ServedTreeTest, TempRoot, make_file  # noqa: E402

LOADGEN_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../bench/loadgen.c")


def build_loadgen(directory):
    gcc = shutil.which("gcc")
    if gcc is None:
        raise unittest.SkipTest("gcc is missing: cannot build bench/loadgen.c")
    path = os.path.join(directory, "loadgen")
    subprocess.run([gcc, "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", path,
                    LOADGEN_SOURCE], check=True, timeout=60)
    return path


class LoadgenTest(ServedTreeTest):
    @classmethod
    def populate(cls, base):
        make_file(os.path.join(base, "1k.bin"), 1024, seed=1)
        make_file(os.path.join(base, "big.bin"), 300_000, seed=2)
        return base

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.build = tempfile.mkdtemp(prefix="iocomp-loadgen-")
        try:
            cls.loadgen = build_loadgen(cls.build)
        except BaseException:
            shutil.rmtree(cls.build, ignore_errors=True)
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.build, ignore_errors=True)
        super().tearDownClass()

    def run_loadgen(self, *args, port=None):
        cmd = [self.loadgen, "-q", "-p", str(port or self.port), *args]
        out = subprocess.run(cmd, capture_output=True, timeout=60 * SLOW)
        last = out.stdout.decode().strip().splitlines()[-1] if out.stdout.strip() else ""
        fields = dict(kv.split("=", 1) for kv in last.split() if "=" in kv)
        return out.returncode, fields, out.stderr.decode()

    def assert_clean_run(self, *args):
        rc, fields, err = self.run_loadgen(*args)
        self.assertEqual(rc, 0, f"{fields} {err}")
        self.assertEqual(fields["errors"], "0", fields)
        self.assertGreater(int(fields["requests"]), 0, fields)
        return fields

    def test_http_counts_whole_responses(self):
        # 16 connections for 0.3 s stay far below the server's default of 10,000 requests per
        # connection (a pipelined batch cut by that close would count as err_closed).
        for depth in ("1", "8"):
            with self.subTest(depth=depth):
                fields = self.assert_clean_run("-m", "http", "-D", depth, "-c", "16", "-d", "0.3",
                                               "-n", "1k.bin", "-s", "1024")
                requests, received = int(fields["requests"]), int(fields["bytes"])
                # Every counted request brought its head and its 1,024-byte body; the bytes of
                # responses still in flight at the end are the only surplus.
                self.assertGreater(received, requests * 1024)
                self.assertLess(received, (requests + 16 * int(depth)) * 1400)

    def test_http_large_file_pipelined(self):
        self.assert_clean_run("-m", "http", "-D", "4", "-c", "3", "-d", "0.5", "-n", "big.bin",
                              "-s", "300000")

    def test_line_protocol_pipelined(self):
        fields = self.assert_clean_run("-m", "line", "-D", "8", "-c", "16", "-d", "0.3", "-n",
                                       "1k.bin", "-s", "1024")
        self.assertGreaterEqual(int(fields["bytes"]), int(fields["requests"]) * 1024)

    def test_preflight_rejects_a_wrong_size(self):
        for mode in ("http", "line"):
            with self.subTest(mode=mode):
                rc, fields, err = self.run_loadgen("-m", mode, "-c", "1", "-d", "0.2", "-n",
                                                   "1k.bin", "-s", "1000")
                self.assertEqual(rc, 2, err)
                self.assertEqual(fields.get("preflight"), "fail")

    def test_wrong_responses_are_errors_not_requests(self):
        # Without the pre-flight, a wrong size or a missing file must show up as errors.
        cases = [("http", "1k.bin", "1000", "err_text"),   # Content-Length mismatch
                 ("http", "missing.bin", "1024", "err_text"),  # 404
                 ("line", "missing.bin", "1024", "err_text")]  # File transmit error!
        for mode, name, size, counter in cases:
            with self.subTest(mode=mode, name=name, size=size):
                rc, fields, err = self.run_loadgen("-m", mode, "-P", "-c", "2", "-d", "0.3", "-n",
                                                   name, "-s", size)
                self.assertEqual(rc, 1, f"{fields} {err}")
                self.assertEqual(fields["requests"], "0", fields)
                self.assertGreater(int(fields[counter]), 0, fields)
        # The line protocol has no framing: a file longer than expected looks like a complete
        # response followed by bytes nobody asked for. Each such response is counted, and so is
        # its surplus, as err_extra (the bench reports any error as an anomaly).
        rc, fields, err = self.run_loadgen("-m", "line", "-P", "-c", "2", "-d", "0.3", "-n",
                                           "1k.bin", "-s", "1000")
        self.assertEqual(rc, 1, f"{fields} {err}")
        self.assertGreater(int(fields["err_extra"]), 0, fields)
        self.assertGreaterEqual(int(fields["err_extra"]), int(fields["requests"]) - 2, fields)

    def test_connection_close_is_a_reconnect_not_an_error(self):
        with TempRoot() as root:
            make_file(os.path.join(root, "1k.bin"), 1024, seed=3)
            with Server(root, "--max-requests-per-connection", "5") as server:
                rc, fields, err = self.run_loadgen("-m", "http", "-c", "2", "-d", "0.5", "-n",
                                                   "1k.bin", "-s", "1024", port=server.port)
        self.assertEqual(rc, 0, f"{fields} {err}")
        self.assertEqual(fields["errors"], "0", fields)
        # Every fifth response carried Connection: close.
        self.assertGreaterEqual(int(fields["reconnects"]), int(fields["requests"]) // 5 - 2)


if __name__ == "__main__":
    unittest.main()
