"""Look at the rendered analysis as a reader meets it, and prove it fetches nothing from the network.

Opens the HTML in headless Chromium (Debian's `chromium` package) at a reader's width, with every
network request sent to a local listener that only records them; writes a screenshot cut into
page-high slices to look at, and exits 1 if the page asked for anything from the network. The
browser asks Google's hosts for things of its own whatever it shows (updates, time, sign-in), so
those count only when the page itself names them; any other host counts.

    python benchmarks/screenshot_analysis.py [outputs/study/06_analysis.html] [--width 1280]
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import matplotlib.image as mpimg

PROJECT = Path(__file__).resolve().parents[1]


def _listen() -> tuple[socket.socket, list[str]]:
    """A local 'proxy' that answers nothing and records the first line of every request it gets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    seen: list[str] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                seen.append(connection.recv(512).split(b"\r\n", 1)[0].decode(errors="replace"))

    threading.Thread(target=accept, daemon=True).start()
    return server, seen


def screenshot(html: Path, out: Path, width: int, height: int) -> list[str]:
    """Render `html` into `out` (PNG); returns the network requests the page made (none, for a page that stands alone)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed: apt-get install chromium")
    server, seen = _listen()
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--disable-quic", "--no-pings",
            "--disable-domain-reliability", "--disable-features=NetworkTimeServiceQuerying",
            f"--user-data-dir={profile}", f"--proxy-server=127.0.0.1:{server.getsockname()[1]}",
            "--proxy-bypass-list=<-loopback>", "--hide-scrollbars", f"--window-size={width},{height}",
            f"--screenshot={out}", html.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    server.close()
    return seen


def host(request: str) -> str:
    """`CONNECT host:443 HTTP/1.1` or `GET http://host/path HTTP/1.1` -> host."""
    target = request.split()[1] if len(request.split()) > 1 else request
    return target.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


BROWSER_OWN = re.compile(r"(^|\.)(google\.com|googleapis\.com|gvt1\.com|gvt2\.com)$")  # Chromium's own traffic


def fetched_by_page(html: Path, out: Path, width: int, height: int) -> list[str]:
    """The requests the page made: to any host, except Chromium's own hosts when the page does not name them."""
    text = html.read_text(encoding="utf-8", errors="replace")
    return [r for r in screenshot(html, out, width, height) if not BROWSER_OWN.search(host(r)) or host(r) in text]


def slices(png: Path, page_height: int) -> list[Path]:
    """The long screenshot cut into screens a person can look at one by one."""
    image = mpimg.imread(png)
    parts = []
    for n, top in enumerate(range(0, image.shape[0], page_height)):
        part = png.with_name(f"{png.stem}-{n + 1:02d}.png")
        mpimg.imsave(part, image[top: top + page_height])
        parts.append(part)
    return parts


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("html", nargs="?", type=Path, default=PROJECT / "outputs" / "study" / "06_analysis.html")
    args.add_argument("--width", type=int, default=1280)
    args.add_argument("--height", type=int, default=16000, help="of the whole screenshot")
    args.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "06_analysis.png")
    parsed = args.parse_args()
    parsed.out.parent.mkdir(parents=True, exist_ok=True)
    requests = fetched_by_page(parsed.html, parsed.out, parsed.width, parsed.height)
    for part in slices(parsed.out, 1000):
        print(part)
    if requests:
        print(f"{parsed.html} fetched from the network: {requests}", file=sys.stderr)
        return 1
    print(f"{parsed.html}: nothing fetched from the network")
    return 0


if __name__ == "__main__":
    sys.exit(main())
