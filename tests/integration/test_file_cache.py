"""The per-worker open-file cache seen from outside: deleted files lose their descriptor,
replaced files are noticed after --file-cache-valid."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import MODEL, SLOW, Server, TempRoot, make_file, nc  # noqa: E402
from test_http_files import get_request, raw_exchange  # noqa: E402


def open_descriptors_to(pid, path):
    """Descriptors of `pid` that lead to `path` (deleted or not)."""
    found = []
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target == path or target == path + " (deleted)":
            found.append(fd)
    return found


class FileCacheTest(unittest.TestCase):
    def test_deleted_file_is_closed_by_every_worker_that_served_it(self):
        with TempRoot() as root:
            path = os.path.join(root, "big.bin")
            make_file(path, 4 << 20, seed=3)
            with Server(root, threads=2) as server:
                # Connections go to the workers in turn: four requests reach both of them.
                for _ in range(2):
                    self.assertEqual(len(nc(server.port, b"big.bin\n")), 4 << 20)
                    response = raw_exchange(server.port, get_request("/big.bin"))
                    self.assertEqual(len(response.body), 4 << 20)
                held = len(open_descriptors_to(server.proc.pid, path))
                if MODEL == "thread-per-connection":
                    # Each connection has a cache of its own (Example 3 shares nothing): it
                    # closes with the connection, and a deleted file is never held.
                    self.assertEqual(held, 0)
                elif MODEL == "thread-pool":
                    # Whichever pool thread is free takes the next connection: one or both.
                    self.assertIn(held, (1, 2))
                else:
                    self.assertEqual(held, 2)
                os.unlink(path)
                # Unused for --file-cache-valid (1 s): closed on the next tick (100 ms).
                deadline = time.monotonic() + 3.0 * SLOW
                while open_descriptors_to(server.proc.pid, path) and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertEqual(open_descriptors_to(server.proc.pid, path), [])
                self.assertEqual(raw_exchange(server.port, get_request("/big.bin")).status, 404)

    def test_hot_file_stays_cached_while_it_is_used(self):
        if MODEL == "thread-per-connection":
            self.skipTest("a connection's cache ends with it: nothing is cached across clients")
        with TempRoot() as root:
            path = os.path.join(root, "hot.bin")
            make_file(path, 1 << 20, seed=4)
            with Server(root, threads=1) as server:
                end = time.monotonic() + 1.5
                while time.monotonic() < end:
                    self.assertEqual(len(nc(server.port, b"hot.bin\n")), 1 << 20)
                    self.assertEqual(len(open_descriptors_to(server.proc.pid, path)), 1)
                    time.sleep(0.1)

    def test_replaced_and_deleted_files_are_noticed_after_the_validity_period(self):
        with TempRoot() as root:
            path = os.path.join(root, "f.txt")
            with open(path, "wb") as f:
                f.write(b"old contents")
            with Server(root, "--file-cache-valid", "0.3", threads=1) as server:
                self.assertEqual(nc(server.port, b"f.txt\n"), b"old contents")
                with open(path + ".new", "wb") as f:
                    f.write(b"new contents!")
                os.replace(path + ".new", path)
                time.sleep(0.4)
                self.assertEqual(nc(server.port, b"f.txt\n"), b"new contents!")
                self.assertEqual(raw_exchange(server.port, get_request("/f.txt")).body,
                                 b"new contents!")
                os.unlink(path)
                time.sleep(0.4)
                self.assertEqual(raw_exchange(server.port, get_request("/f.txt")).status, 404)


if __name__ == "__main__":
    unittest.main()
