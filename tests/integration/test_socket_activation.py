"""Socket activation: iocomp started by systemd-socket-activate (systemd's own implementation of
the LISTEN_FDS protocol, as iocomp.socket would start it) serves the socket it is passed, and
refuses what it cannot serve."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BINARY, MODEL_ARGS, POOL_THREADS, MODEL, SLOW, TempRoot, make_file,  # noqa: E402
                     nc, sha256_file)

ACTIVATE = shutil.which("systemd-socket-activate")
THREADS = str(POOL_THREADS if MODEL == "thread-pool" else 2)
# Addresses iocomp could not bind: seeing it serve proves it used the passed socket instead.
UNBINDABLE = ["--listen", "192.0.2.1", "--port", "9"]


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipIf(ACTIVATE is None, "systemd-socket-activate not installed (package systemd)")
class SocketActivationTest(unittest.TestCase):
    def setUp(self):
        self.tmp = TempRoot()
        self.root = self.tmp.__enter__()
        self.downloads = tempfile.mkdtemp(prefix="iocomp-download-")
        self.procs = []

    def tearDown(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.tmp.__exit__(None, None, None)
        shutil.rmtree(self.downloads, ignore_errors=True)

    def activate(self, listen_args, *iocomp_args):
        """systemd-socket-activate LISTEN_ARGS iocomp ...: the activator listens and execs iocomp
        (same process) at the first connection."""
        proc = subprocess.Popen([ACTIVATE, *listen_args, BINARY, "--root", self.root, "--threads",
                                 THREADS, *MODEL_ARGS, *iocomp_args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(proc)
        return proc

    def wait_listening(self, proc, port):
        """Waits until the activator's socket exists (it prints "Listening on" first)."""
        line = proc.stderr.readline().decode(errors="replace")
        self.assertIn(f"127.0.0.1:{port}", line, line)

    def test_serves_the_passed_socket_instead_of_binding(self):
        digest = make_file(os.path.join(self.root, "d/big.bin"), 5 * 1024 * 1024 + 3, seed=7)
        with open(os.path.join(self.root, "a.txt"), "wb") as f:
            f.write(b"alpha\n")
        port = free_port()
        proc = self.activate(["-l", f"127.0.0.1:{port}"], *UNBINDABLE)
        self.wait_listening(proc, port)
        # The first connection makes the activator exec iocomp, which then accepts it.
        self.assertEqual(nc(port, b"a.txt\n"), b"alpha\n")
        first = proc.stdout.readline().decode(errors="replace")
        self.assertIn(f" on 127.0.0.1:{port} (port {port}) ", first)
        second = proc.stdout.readline().decode(errors="replace")
        self.assertRegex(second, r"socket activation, fd 3\); --listen and --port are not used")
        target = os.path.join(self.downloads, "big.bin")
        out = subprocess.run(["curl", "-sSf", "-o", target, f"http://127.0.0.1:{port}/d/big.bin"],
                             timeout=60 * SLOW, check=False, stderr=subprocess.PIPE)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(sha256_file(target), digest)
        proc.terminate()  # SIGTERM, as systemd stops the service: a clean drain
        self.assertEqual(proc.wait(timeout=20 * SLOW), 0)
        # Nothing on stderr but the activator's lines (the rest of its first one was read) and
        # the advice to tests run as root: no error, no sanitizer report.
        rest = [line for line in proc.stderr.read().decode(errors="replace").splitlines()
                if not line.startswith(("Communication attempt on fd 3", "Execing ",
                                        "iocomp: warning: serving as root"))]
        self.assertEqual(rest, [])

    def test_more_than_one_socket_is_refused(self):
        first, second = free_port(), free_port()
        proc = self.activate(["-l", f"127.0.0.1:{first}", "-l", f"127.0.0.1:{second}"])
        self.wait_listening(proc, first)
        with socket.create_connection(("127.0.0.1", first), timeout=10 * SLOW):
            self.assertEqual(proc.wait(timeout=20 * SLOW), 1)
        self.assertRegex(proc.stderr.read().decode(errors="replace"),
                         r"iocomp: socket activation: 2 sockets passed \(LISTEN_FDS\)")

    def test_a_datagram_socket_is_refused(self):
        port = free_port(socket.SOCK_DGRAM)
        proc = self.activate(["--datagram", "-l", f"127.0.0.1:{port}"])
        self.wait_listening(proc, port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"a.txt\n", ("127.0.0.1", port))
        self.assertEqual(proc.wait(timeout=20 * SLOW), 1)
        self.assertIn("iocomp: socket activation: descriptor 3 is not a stream socket",
                      proc.stderr.read().decode(errors="replace"))

    def test_variables_for_another_process_are_ignored(self):
        # A parent's LISTEN_PID (not iocomp's): iocomp binds --listen/--port as usual.
        env = dict(os.environ, LISTEN_PID="1", LISTEN_FDS="1")
        proc = subprocess.Popen([BINARY, "--root", self.root, "--threads", THREADS, *MODEL_ARGS,
                                 "--listen", "127.0.0.1", "--port", "0"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(proc)
        first = proc.stdout.readline().decode(errors="replace")
        port = int(re.search(r"\(port (\d+)\)", first).group(1))
        self.assertNotEqual(port, 0)
        with open(os.path.join(self.root, "b.txt"), "wb") as f:
            f.write(b"beta\n")
        self.assertEqual(nc(port, b"b.txt\n"), b"beta\n")
        proc.terminate()
        self.assertEqual(proc.wait(timeout=20 * SLOW), 0)
        self.assertNotIn("socket activation", "".join(
            line.decode(errors="replace") for line in proc.stdout))


if __name__ == "__main__":
    unittest.main()
