"""Web benchmarks, run by hand (figures go to the README).

    .venv/bin/python benchmarks/bench_web.py            # all three
    .venv/bin/python benchmarks/bench_web.py nearest    # one of: nearest, finder, weight
    .venv/bin/python benchmarks/bench_web.py nearest-gpkg nearest-postgis

1. nearest: ``/api/nearest`` p50/p95/p99 with 50 concurrent connections (wrk, from Debian)
   against gunicorn with 2 workers on loopback, the Beilun demo, query points spread over
   the district. Target: p95 < 50 ms. ``nearest-gpkg`` / ``nearest-postgis``: the same
   against ``servicemap serve DIR --workers 2`` serving the demo as a workspace, its store
   a GeoPackage or a throwaway PostGIS server (started as tests/conftest.py starts it).
2. finder: the finder page with 10,000 facilities ready (markers clustered, list drawn) in
   headless Chromium. Target: < 2 s.
3. weight: bytes the finder page loads without tiles. Target: < 1 MB.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _summary import summary  # noqa: E402

WRK_LUA = r"""
local points = {}
math.randomseed(42)
for i = 1, 500 do
  local lon = 121.70 + math.random() * 0.22
  local lat = 29.80 + math.random() * 0.14
  points[i] = string.format("/api/nearest?lat=%.5f&lon=%.5f&k=5", lat, lon)
end
local n = 0
request = function()
  n = n % #points + 1
  return wrk.format("GET", points[n])
end
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d errors=%d p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f rps=%.0f\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wrk_nearest(url: str, duration_s: int) -> str:
    """wrk's RESULT line for ``/api/nearest`` at ``url``, after warming both workers."""
    import urllib.request

    for _ in range(20):  # load the data in both workers
        urllib.request.urlopen(url + "/api/nearest?lat=29.9&lon=121.85", timeout=10).read()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA)
    out = subprocess.run(
        [shutil.which("wrk") or "wrk", "-t", "2", "-c", "50", "-d", f"{duration_s}s",
         "-s", f.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout  # fmt: skip
    return next(x for x in out.splitlines() if x.startswith("RESULT")).removeprefix("RESULT ")


def bench_nearest(duration_s: int = 20) -> str:
    if shutil.which("wrk") is None:
        return "nearest: wrk not installed (apt-get install wrk)"
    port = _free_port()
    env = {**os.environ, "SERVICEMAP_TILES": "none"}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--preload",
            "--log-level",
            "warning",
            "web:create_app()",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        import urllib.request

        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        line = _wrk_nearest(url, duration_s)
        got = dict(kv.split("=") for kv in line.split())
        summary(
            "nearest-facility API, 50 connections (wrk), gunicorn -w 2",
            f"p95 {float(got['p95_ms']):.1f} ms, {got['rps']} req/s, {got['errors']} errors",
            ratio="target p95 < 50 ms",
        )
        return f"nearest API, wrk -t2 -c50 -d{duration_s}s, gunicorn -w 2 (sync), loopback: {line}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def bench_nearest_workspace(backend: str, duration_s: int = 20) -> str:
    """``/api/nearest`` served by ``servicemap serve DIR --workers 2`` from the demo as a
    workspace on ``backend`` (``gpkg`` or ``postgis``)."""
    if shutil.which("wrk") is None:
        return "nearest: wrk not installed (apt-get install wrk)"
    from conftest import _PostgresServer, demo_workspace, start_served, stop_served

    server = None
    with tempfile.TemporaryDirectory(prefix="bench-nearest-") as tmp:
        try:
            location = None
            if backend == "postgis":
                server = _PostgresServer()
                server.start()
                location = server.new_database()
            demo_workspace(Path(tmp) / "ws", location, users=False).close()
            env = {"SERVICEMAP_TILES": "none", "SERVICEMAP_DATABASE_URL": location or ""}
            served = start_served(env, args=[str(Path(tmp) / "ws"), "--workers", "2"])
            try:
                result = _wrk_nearest(served.url, duration_s)
            finally:
                stop_served(served)
        finally:
            if server is not None:
                server.stop()
    return (
        f"nearest API, workspace on {backend}, wrk -t2 -c50 -d{duration_s}s, "
        f"servicemap serve DIR --workers 2, loopback: {result}"
    )


def _synthetic_demo(n: int):
    """The Beilun demo with its facilities resampled to ``n`` spread over the district."""
    import geopandas as gpd
    import pandas as pd

    from geo.demo import Demo, load_demo

    d = load_demo("beilun")
    rng = np.random.default_rng(1)
    base = d.facilities
    rows = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
    minx, miny, maxx, maxy = d.boundary.total_bounds
    x = rng.uniform(minx, maxx, n)
    y = rng.uniform(miny, maxy, n)
    rows = rows.copy()
    rows["id"] = [f"F{i:05d}" for i in range(n)]
    rows["name"] = [f"{nm} {i}" for i, nm in enumerate(rows["name"])]
    fac = gpd.GeoDataFrame(
        pd.DataFrame(rows.drop(columns="geometry")),
        geometry=gpd.points_from_xy(x, y),
        crs="EPSG:4326",
    )
    return Demo(d.name, fac, d.demand, d.areas, d.boundary)


def _browser():
    from conftest import BROWSER_ARGS
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    exe = shutil.which("chromium")
    return pw, pw.chromium.launch(executable_path=exe, args=BROWSER_ARGS)


def bench_finder(n: int = 10_000, runs: int = 5) -> str:
    from conftest import open_page, start_live_server

    from web import create_app

    app = create_app({"TILES": "none", "DEMO": _synthetic_demo(n), "PAGE_SIZE_MAX": n})
    app.extensions["servicemap"].warm()
    server = start_live_server(app)
    pw, browser = _browser()
    times, counts = [], []
    try:
        for _ in range(runs):
            context, page, watch = open_page(browser)
            t0 = time.perf_counter()
            page.goto(server.url + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            times.append(time.perf_counter() - t0)
            count = page.evaluate("smFinder.markerCount()")
            context.close()
            watch.assert_clean()
            assert count > 0, count
            counts.append(count)
    finally:
        browser.close()
        pw.stop()
        server.stop()
    runs_txt = ", ".join(f"{t:.2f}" for t in times)
    drawn = f"{max(counts):,} of {n:,} markers drawn"
    summary(
        f"finder page with {n:,} facilities ready, headless Chromium",
        f"median {np.median(times):.2f} s ({drawn})",
        ratio="target < 2 s",
    )
    return (
        f"finder with {n:,} facilities ready in headless Chromium: median "
        f"{np.median(times):.2f} s (runs: {runs_txt}); {drawn}"
    )


def bench_weight() -> str:
    from conftest import open_page, start_live_server

    from web import create_app

    app = create_app({"TILES": "none"})
    server = start_live_server(app)
    pw, browser = _browser()
    sizes: dict[str, int] = {}
    try:
        context, page, watch = open_page(browser)
        page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body())))
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_timeout(500)
        context.close()
        watch.assert_clean()
    finally:
        browser.close()
        pw.stop()
        server.stop()
    total = sum(sizes.values())
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:4]
    parts = ", ".join(f"/{u.split('/', 3)[-1].split('?')[0]} {s / 1024:.0f} KB" for u, s in top)
    summary(
        "finder page weight without tiles (Beilun demo)",
        f"{total / 1024:.0f} KB in {len(sizes)} requests",
        ratio="target < 1 MB",
    )
    return (
        f"finder page weight without tiles (Beilun demo, uncompressed): "
        f"{total / 1024:.0f} KB in {len(sizes)} requests (largest: {parts})"
    )


def main(argv: list[str]) -> None:
    which = argv or ["nearest", "finder", "weight"]
    print(
        f"date: {date.today().isoformat()}  machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    for name in which:
        benches = {
            "nearest": bench_nearest,
            "nearest-gpkg": lambda: bench_nearest_workspace("gpkg"),
            "nearest-postgis": lambda: bench_nearest_workspace("postgis"),
            "finder": bench_finder,
            "weight": bench_weight,
        }
        print(benches[name](), f"(load average {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
