"""The app as `make serve` serves it: the Makefile's own command (gunicorn, preloaded,
forked workers) on a free port of 127.0.0.1, driven over HTTP and in headless Chromium.

The Flask test client cannot see what only a forked, preloaded server does: under the
first release of the planner every what-if hung here (the KD-tree's OpenMP pool does not
survive fork) while every test-client test passed.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest

from geo.maps import TILE_SOURCES
from tests.conftest import open_page

pytestmark = pytest.mark.browser

# an answer slower than gunicorn's worker timeout is a hang (what the fork bug did); how
# fast each action answers is measured by benchmarks/bench_served.py (target 2 s), not here
HANG_S = 30.0
# `make serve` draws OpenStreetMap tiles, which this machine cannot reach: the pages must
# work without them, and ask for nothing else off the machine
TILES = tuple(urllib.parse.urlsplit(u).hostname for u in TILE_SOURCES["osm"].urls(None))


def get(served, path: str, timeout: float = 10.0):
    with urllib.request.urlopen(served.url + path, timeout=timeout) as r:
        return r.status, r.headers.get_content_type(), r.read()


def test_every_what_if_answers_under_the_served_app(served):
    """Ask each worker several times (requests spread over both forked workers)."""
    for key, off in (("outdoor_station", "OS012"), ("mother_room", "MR003"), ("bookshelf", "")):
        for _ in range(3):
            status, kind, body = get(served, f"/api/coverage?type={key}&off={off}", HANG_S)
            assert status == 200 and kind == "application/json"
            assert json.loads(body)["scenario"]["off"] == ([off] if off else [])
    assert "Booting worker" in served.output()


def _ready(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15000)


def _update(page, action) -> None:
    """Run ``action`` (a click) and wait for the planner to redraw."""
    n = page.evaluate("smPlanner.updates")
    t0 = time.perf_counter()
    action()
    while page.evaluate("smPlanner.updates") <= n:
        assert time.perf_counter() - t0 < HANG_S, f"the planner did not redraw in {HANG_S} s"
        page.wait_for_timeout(20)


def test_the_planner_as_served(browser, served):
    context, page, watch = open_page(browser, tile_hosts=TILES, accept_downloads=True)
    try:
        _ready(page, served.url + "/planner/?type=outdoor_station")
        before = float(page.get_attribute("#sm-share", "data-value"))

        # what-if: switch a station off
        _update(page, lambda: page.uncheck("#sm-loads input[value='OS012']"))
        after = float(page.get_attribute("#sm-share", "data-value"))
        api = json.loads(get(served, "/api/coverage?type=outdoor_station&off=OS012")[2])
        assert after == api["covered_share"] <= before

        # exports with that scenario
        link = page.locator("#sm-exports a[data-fmt=csv]")
        assert "off=OS012" in link.get_attribute("href")
        with page.expect_download(timeout=int(HANG_S * 1000)) as dl:
            link.click()
        with open(dl.value.path(), encoding="utf-8-sig") as f:
            text = f.read()
        assert text.splitlines()[0].startswith("id,name,")

        # suggest sites (the default model; the others are offered with their one line)
        offered = page.eval_on_selector_all("#sm-model option", "os => os.map(o => o.value)")
        assert offered == ["mclp", "pmedian", "pcenter", "backup"]
        _update(page, lambda: page.click("#sm-suggest"))
        assert len(page.evaluate("smPlanner.state.add")) == 3
        assert float(page.get_attribute("#sm-share", "data-value")) > after

        # switch type: the driver homes' own 15 km, not the stations' 1 km
        page.select_option("#sm-type", "driver_home")
        page.click("form.pick button[type=submit]")
        page.wait_for_selector("body[data-ready='1']", timeout=int(HANG_S * 1000))
        assert page.input_value("#sm-threshold") == "15000"
        share = float(page.get_attribute("#sm-share", "data-value"))
        api = json.loads(get(served, "/api/coverage?type=driver_home")[2])
        assert share == api["covered_share"] and api["threshold_m"] == 15000
    finally:
        context.close()
    watch.assert_clean()


def test_the_finder_as_served(browser, served):
    context, page, watch = open_page(
        browser, width=390, height=800, is_mobile=True, tile_hosts=TILES
    )
    try:
        page.goto(served.url + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        box = page.locator(".folium-map").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector(
            "#sm-list[data-query-lon]", state="attached", timeout=int(HANG_S * 1000)
        )
        assert len(page.evaluate("smFinder.listedIds()")) == 5
    finally:
        context.close()
    watch.assert_clean()
