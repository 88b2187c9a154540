"""A real browser (headless Chromium, Debian's package) against iocomp: a page whose script is
served from its pre-compressed variant must run, and a directory listing must render with its
links. Skipped when Chromium is not installed (scripts/install-deps.sh test installs it)."""
import gzip
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SLOW, Server, TempRoot  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(url):
    out = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                          "--no-first-run", "--disable-extensions", "--dump-dom", url],
                         capture_output=True, timeout=90 * SLOW)
    return out.stdout.decode(errors="replace")


@unittest.skipIf(CHROMIUM is None, "chromium is not installed")
class BrowserTest(unittest.TestCase):
    def test_precompressed_script_runs_and_listing_renders(self):
        with TempRoot() as root:
            pub = os.path.join(root, "pub")
            os.makedirs(pub)
            script = b"document.getElementById('x').textContent = 'script ran';\n"
            # The identity file says something else: only the decoded variant makes the page
            # say "script ran".
            with open(os.path.join(pub, "app.js"), "wb") as f:
                f.write(b"document.getElementById('x').textContent = 'identity sent';\n")
            with open(os.path.join(pub, "app.js.gz"), "wb") as f:
                f.write(gzip.compress(script))
            with open(os.path.join(pub, "page.html"), "wb") as f:
                f.write(b"<!DOCTYPE html><html><body><p id=x>not run</p>"
                        b"<script src=app.js></script></body></html>")
            with open(os.path.join(pub, "a <b>&.txt"), "wb") as f:
                f.write(b"x")
            with Server(root) as server:
                base = f"http://127.0.0.1:{server.port}"
                dom = dump_dom(base + "/pub/page.html")
                self.assertIn("script ran", dom)
                self.assertTrue(server.wait_for_log(r"200 /pub/app\.js \(gzip\)"))
                dom = dump_dom(base + "/pub/?sort=size&order=desc")
                self.assertIn("Index of /pub/", dom)
                self.assertIn('href="a%20%3Cb%3E%26.txt"', dom)
                self.assertIn("a &lt;b&gt;&amp;.txt", dom)
                self.assertIn('href="page.html"', dom)


if __name__ == "__main__":
    unittest.main()
