"""testssl.sh against iocomp's TLS configuration: only TLS 1.2 and 1.3, no weak cipher
categories. Run for the default model only (the configuration does not depend on the model);
testssl.sh spends most of its time (30-90 s on a busy machine) probing its own openssl before it
connects, hence a suite of its own. Skipped when testssl.sh is not installed."""
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Server, TempRoot  # noqa: E402
from test_tls import make_ca, make_server_cert  # noqa: E402


@unittest.skipIf(shutil.which("testssl") is None, "testssl.sh is not installed")
class TestSslTest(unittest.TestCase):
    def test_only_tls12_and_13_and_no_weak_ciphers(self):
        with TempRoot() as base:
            make_ca(base)
            cert, key = make_server_cert(base, "server", "testssl", 5)
            with Server(base, "--tls-cert", cert, "--tls-key", key, "--quiet",
                        "--max-connections-per-ip", "0") as server:
                result = subprocess.run(
                    ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--fast", "-p",
                     "-s", f"127.0.0.1:{server.port}"], capture_output=True, timeout=240)
        text = result.stdout.decode(errors="replace")
        for protocol in ("SSLv2", "SSLv3", "TLS 1 ", "TLS 1.1"):
            self.assertRegex(text, re.escape(protocol) + r"\s+not offered", text)
        self.assertRegex(text, r"TLS 1\.2\s+offered")
        self.assertRegex(text, r"TLS 1\.3\s+offered")
        for category in ("NULL ciphers", "Anonymous NULL Ciphers", "Export ciphers",
                         "LOW: 64 Bit", "Triple DES Ciphers", "Obsolete CBC ciphers"):
            self.assertRegex(text, re.escape(category) + r"[^\n]*\s+not offered", text)


if __name__ == "__main__":
    unittest.main()
