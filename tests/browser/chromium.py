"""Headless Chromium for the report's tests: Debian's chromium, installed when missing (root, apt-get).

``layout(page, width)`` loads an HTML file at a window ``width`` px wide and returns how far the
page overflows sideways and which elements stick out; ``screenshot`` saves what a reader sees.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

# The flags this machine needs: no sandbox as root, no background connections (the network is closed).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

# Runs after the page has loaded (images included): the page's sideways overflow and the elements
# that reach past the window, leaving out those inside a box that scrolls or clips on its own.
PROBE = """<script>
window.addEventListener("load", function () {
  var width = window.innerWidth, out = [];
  document.querySelectorAll("body *").forEach(function (e) {
    for (var p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return;
    }
    var r = e.getBoundingClientRect();
    if (r.right > width + 1) out.push(e.tagName.toLowerCase() + (e.className ? "." + e.className : "")
                                      + " right=" + Math.round(r.right));
  });
  var pre = document.createElement("pre");
  pre.id = "rootpipe-probe";
  pre.textContent = JSON.stringify({inner_width: width, scroll_width: document.documentElement.scrollWidth,
                                    offenders: out.slice(0, 20)});
  document.body.appendChild(pre);
});
</script>"""


def ensure_chromium() -> str | None:
    """The chromium binary's path, installing Debian's package if needed; None if impossible."""
    found = shutil.which("chromium")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, env=env).returncode:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, env=env)
    return shutil.which("chromium")


def _run(binary: str, page: Path, width: int, height: int, *extra: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                               "--virtual-time-budget=10000", *extra, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=120)


def layout(binary: str, page: Path, width: int) -> dict:
    """``inner_width``, ``scroll_width`` (px) and ``offenders`` of ``page`` in a window ``width`` wide."""
    probed = page.with_name(page.stem + f".probe{width}.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = _run(binary, probed, width, 1000, "--dump-dom").stdout
    found = re.search(r'<pre id="rootpipe-probe">(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"chromium gave no layout for {page} (stdout {dom[-300:]!r})")
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(binary: str, page: Path, width: int, out: Path, height: int = 4000) -> Path:
    _run(binary, page, width, height, f"--screenshot={out}")
    return out
