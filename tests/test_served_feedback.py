"""Public feedback against the app as `make serve` starts it (the Makefile's own command:
the shipped demo built as a workspace, gunicorn, preloaded, two forked workers), in
headless Chromium: a report with a photo made on a facility page appears in the planner's
queue; accepting it (a "moved" report) moves the station in the finder, in every worker,
and writes the facility's history.

The demo's workspace is built in a cache folder of this test's own (``XDG_CACHE_HOME``),
so the move does not outlive the test.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest

from geo.maps import TILE_SOURCES
from tests import photos
from tests.conftest import open_page, start_served, stop_served
from tests.test_browser_feedback import drag

pytestmark = pytest.mark.browser

TILES = tuple(urllib.parse.urlsplit(u).hostname for u in TILE_SOURCES["osm"].urls(None))


@pytest.fixture
def served_fresh(tmp_path):
    s = start_served({"XDG_CACHE_HOME": str(tmp_path / "cache")}, timeout_s=240)
    yield s
    stop_served(s)


def get_json(served, path: str):
    with urllib.request.urlopen(served.url + path, timeout=10) as r:
        return json.loads(r.read())


def test_a_report_with_a_photo_is_reviewed_and_moves_the_station(browser, served_fresh, tmp_path):
    served = served_fresh
    before = get_json(served, "/api/facilities/OS001")["geometry"]["coordinates"]
    photo = tmp_path / "IMG_2041.jpg"
    photo.write_bytes(photos.photo_with_gps())
    context, page, watch = open_page(browser, tile_hosts=TILES)
    try:
        # the facility page: "report a problem", "moved", drag the pin, a text, a photo
        page.goto(served.url + "/f/OS001")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        assert page.locator("#sm-last-confirmed").count() == 1
        page.click("#sm-report button[data-action=report]")
        page.check("form.report-form input[name=kind][value=moved]")
        drag(page, ".sm-move-pin", 80, 60)
        dragged = page.evaluate(
            "(() => { const ll = document.querySelector('form.report-form')._pin.getLatLng();"
            " return [ll.lng, ll.lat]; })()"
        )
        page.fill("form.report-form textarea[name=text]", "搬到马路对面 <script>alert(9)</script>")
        page.set_input_files("form.report-form input[name=photo]", str(photo))
        page.click("form.report-form button[type=submit]")
        page.wait_for_selector("form.report-form[data-sent]", timeout=15000)
        rid = page.get_attribute("form.report-form", "data-sent")
        assert rid and rid.isdigit()

        # the planner's queue: the report, its photo (loaded), on the map beside the station
        page.goto(served.url + "/planner/reports")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        row = page.locator(f"#sm-reports tr[data-id='{rid}']")
        assert row.get_attribute("data-kind") == "moved"
        assert "<script>alert(9)</script>" in row.locator(".report-text").inner_text()
        img = row.locator("img.photo")
        img.wait_for()
        page.wait_for_function(
            "n => { const i = document.querySelector(`tr[data-id='${n}'] img.photo`);"
            " return i && i.complete && i.naturalWidth > 0; }",
            arg=rid,
            timeout=10000,
        )
        assert page.locator(".leaflet-interactive").count() >= 2  # station, new position
        row.locator("input[name=reason]").fill("现场核实")
        row.locator("button[value=accepted]").click()
        page.wait_for_selector(".flash.ok", timeout=15000)
        assert page.locator(f"#sm-reports tr[data-id='{rid}']").count() == 0  # left "new"
    finally:
        context.close()
    watch.assert_clean()

    # the station moved, in the finder of every worker (several requests reach both)
    assert dragged != pytest.approx(before)
    deadline = time.monotonic() + 10
    seen = []
    while time.monotonic() < deadline:
        seen = [get_json(served, "/api/facilities/OS001")["geometry"]["coordinates"]
                for _ in range(6)]  # fmt: skip
        if all(c == pytest.approx(dragged, abs=1e-6) for c in seen):
            break
        time.sleep(0.2)
    assert all(c == pytest.approx(dragged, abs=1e-6) for c in seen), (seen, dragged)
    near = get_json(served, f"/api/nearest?lon={dragged[0]}&lat={dragged[1]}&k=1")
    assert near["features"][0]["id"] == "OS001"
    # and the history says who, and which report
    history = get_json(served, "/api/facilities/OS001/history")
    last = (history if isinstance(history, list) else history["history"])[-1]
    assert last["op"] == "update" and f"public report #{rid}" in last["reason"]
    assert last["after"]["geometry"]["coordinates"] == pytest.approx(dragged, abs=1e-6)
