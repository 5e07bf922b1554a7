"""The planner's and finder's answers as `make serve` serves them, timed (run by hand).

    .venv/bin/python benchmarks/bench_served.py [--rounds 5]

Starts the Makefile's own serve command (gunicorn, preload, 2 forked workers) on a free
port of 127.0.0.1 (``tests.conftest.start_served``, the same start as tests/test_served.py),
and in headless Chromium times, per round: a what-if (a station switched off), the CSV
export of that scenario, "suggest sites", a facility-type switch, and the finder's answer to
a click on the map. Prints the best, the median and the worst of each. Target: each under
2 s. tests/test_served.py checks the same actions answer correctly (and do not hang); the
speed goal lives here, not in the tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _summary import summary  # noqa: E402

TARGET_S = 2.0


def _wait_redraw(page, n: int) -> None:
    while page.evaluate("smPlanner.updates") <= n:
        page.wait_for_timeout(10)


def _timed(page, action) -> float:
    n = page.evaluate("smPlanner.updates")
    t0 = time.perf_counter()
    action()
    _wait_redraw(page, n)
    return time.perf_counter() - t0


def one_round(browser, url: str, open_page, tiles) -> dict[str, float]:
    out: dict[str, float] = {}
    context, page, _ = open_page(browser, tile_hosts=tiles, accept_downloads=True)
    try:
        page.goto(url + "/planner/?type=outdoor_station")
        page.wait_for_selector("body[data-ready='1']", timeout=30000)
        out["what-if"] = _timed(page, lambda: page.uncheck("#sm-loads input[value='OS012']"))
        t0 = time.perf_counter()
        with page.expect_download(timeout=60000):
            page.click("#sm-exports a[data-fmt=csv]")
        out["export"] = time.perf_counter() - t0
        out["suggest"] = _timed(page, lambda: page.click("#sm-suggest"))
        page.select_option("#sm-type", "driver_home")
        t0 = time.perf_counter()
        page.click("form.pick button[type=submit]")
        page.wait_for_selector("body[data-ready='1']", timeout=30000)
        out["type switch"] = time.perf_counter() - t0
    finally:
        context.close()
    context, page, _ = open_page(browser, width=390, height=800, is_mobile=True, tile_hosts=tiles)
    try:
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=30000)
        box = page.locator(".folium-map").bounding_box()
        t0 = time.perf_counter()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#sm-list[data-query-lon]", state="attached", timeout=30000)
        out["finder click"] = time.perf_counter() - t0
    finally:
        context.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    import shutil
    import urllib.parse

    from playwright.sync_api import sync_playwright

    from geo.maps import TILE_SOURCES
    from tests.conftest import open_page, start_served, stop_served

    tiles = tuple(urllib.parse.urlsplit(u).hostname for u in TILE_SOURCES["osm"].urls(None))
    load = os.getloadavg()
    served = start_served()
    rows: dict[str, list[float]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium"),
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                ],
            )
            for _ in range(args.rounds):
                for k, v in one_round(browser, served.url, open_page, tiles).items():
                    rows.setdefault(k, []).append(v)
            browser.close()
    finally:
        stop_served(served)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"# served app ({now}; {platform.node()}, {os.cpu_count()} cores; "
        f"load average {load[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end)"
    )
    print(
        f"`make serve` (gunicorn, 2 workers), headless Chromium, {args.rounds} rounds; "
        f"target < {TARGET_S:g} s each"
    )
    print()
    print("| action | best s | median s | worst s | target met (median) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for k, v in rows.items():
        med = statistics.median(v)
        print(
            f"| {k} | {min(v):.2f} | {med:.2f} | {max(v):.2f} | "
            f"{'yes' if med < TARGET_S else 'no'} |"
        )
        summary(
            f"`make serve`, headless Chromium: {k}",
            f"median {med:.2f} s (best {min(v):.2f}, worst {max(v):.2f}, {len(v)} rounds)",
            ratio=f"target < {TARGET_S:g} s",
        )


if __name__ == "__main__":
    main()
