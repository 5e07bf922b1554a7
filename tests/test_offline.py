"""The finder without a signal, against the app as `make serve` starts it (the Makefile's
own command: the shipped demo built as a workspace, gunicorn, two forked workers), in
headless Chromium with the network switched off (``context.set_offline``):

- the finder, loaded once, still lists the nearest stations, "as of <time>";
- a report made offline is kept in the outbox (IndexedDB, web/static/offline-queue.js), the
  page says "已保存，联网后发送", and it reaches the workspace's store (read here with
  geo.feedback, not through the page) once the network is back;
- a report whose send failed is kept across a reload and sent by the next load; an
  answer the server may change its mind on (503) keeps it, a refusal (4xx) drops it.

The demo's workspace is built in a cache folder of this module's own (``XDG_CACHE_HOME``),
so the reports do not outlive the tests.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from geo.demo import load_demo
from geo.maps import TILE_SOURCES
from tests.conftest import open_page, start_served, stop_served
from tests.test_browser_finder import brute_nearest, click_empty_spot

pytestmark = pytest.mark.browser

# `make serve` draws OpenStreetMap tiles: their requests are blocked (no internet) but expected
TILES = tuple(urllib.parse.urlsplit(u).hostname for u in TILE_SOURCES["osm"].urls(None))


@pytest.fixture(scope="module")
def served_ws(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    s = start_served({"XDG_CACHE_HOME": str(cache)}, timeout_s=240)
    s.cache = cache  # type: ignore[attr-defined]
    yield s
    stop_served(s)


def stored_reports(served, facility_id: str) -> list:
    """The reports of one facility in the served workspace's store, read by geo.feedback."""
    from geo.feedback import Feedback
    from geo.workspace import CONFIG, Workspace

    (config,) = Path(served.cache).glob(f"servicemap/workspaces/*/{CONFIG}")
    ws = Workspace.open(config.parent)
    try:
        return Feedback(ws).reports(facility_id=facility_id, include_confirmations=True)
    finally:
        ws.close()


def get_json(served, path: str):
    with urllib.request.urlopen(served.url + path, timeout=10) as r:
        return json.loads(r.read())


def ready(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=20000)


def wait_attr(page, selector: str, timeout_ms: int = 20000) -> None:
    page.wait_for_selector(selector, state="attached", timeout=timeout_ms)


def test_offline_the_finder_lists_the_nearest_and_a_queued_report_is_delivered(browser, served_ws):
    demo = load_demo("beilun")
    context, page, watch = open_page(browser, tile_hosts=TILES)
    try:
        ready(page, served_ws.url + "/")
        # the service worker has kept the shell and the facility list
        wait_attr(page, "body[data-offline='1']", 30000)
        lon, lat = click_empty_spot(page, 121.80, 29.90)
        online = page.evaluate("smFinder.listedIds()")
        assert online == brute_nearest(demo, lon, lat, 5)
        first = online[0]
        assert [r for r in stored_reports(served_ws, first) if r.kind == "hours"] == []

        context.set_offline(True)
        page.reload()
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        wait_attr(page, "#sm-list[data-query-lon]")
        assert page.evaluate("smFinder.listedIds()") == online
        status = page.locator("#sm-status").inner_text()
        assert status.startswith("离线：离上次位置最近的设施（数据截至 ")

        # report "hours wrong" on the nearest, from its popup, with no network
        page.locator("#sm-list li button.name").first.click()
        popup = page.locator(f".leaflet-popup .sm-popup[data-id='{first}']")
        popup.wait_for()
        popup.locator("button[data-action=report]").click()
        form = page.locator(f"form.report-form[data-id='{first}']")
        # (by the keyboard: the form in the popup may run under the filter bar on a desktop)
        form.locator("input[name=kind][value=hours]").focus()
        page.keyboard.press("Space")
        assert form.locator("input[name=kind][value=hours]").is_checked()
        form.locator("textarea[name=text]").fill("周日不开门 <b>offline</b>")
        form.locator("button[type=submit]").focus()
        page.keyboard.press("Enter")
        wait_attr(page, f"form.report-form[data-id='{first}'][data-queued='1']")
        assert form.locator(".feedback-note").inner_text() == "已保存，联网后发送"
        wait_attr(page, "#sm-outbox[data-left='1']")
        assert page.locator("#sm-outbox").inner_text() == "已保存 1 条反馈，联网后发送"
        assert page.evaluate("SMQueue.count()") == 1
        # nothing left the phone
        assert [r for r in stored_reports(served_ws, first) if r.kind == "hours"] == []

        context.set_offline(False)
        wait_attr(page, "#sm-outbox[data-left='0'][data-sent='1']")
        assert page.evaluate("SMQueue.count()") == 0
        assert page.locator("#sm-outbox").inner_text() == "已发送 1 条离线时保存的反馈。"
        got = [r for r in stored_reports(served_ws, first) if r.kind == "hours"]
        assert len(got) == 1 and got[0].text == "周日不开门 <b>offline</b>"
        assert got[0].status == "new"
    finally:
        context.close()
    # (offline, the failed requests log console errors: those are expected here)
    assert watch.external == [] and watch.dialogs == []


def _lose_posts(route):
    """A POST fails as on a lost connection; the rest goes through."""
    if route.request.method == "POST":
        route.abort("internetdisconnected")
    else:
        route.continue_()


def test_a_kept_report_survives_a_reload_and_the_next_load_sends_it(browser, served_ws):
    """The page's own ways (no service worker here, so no Background Sync): kept across
    reloads, kept on 503, sent by the next load, dropped (and said) on a refusal."""
    fid = "MR003"
    url = f"**/api/facilities/{fid}/reports"
    context, page, watch = open_page(browser, tile_hosts=TILES, service_workers="block")
    try:
        ready(page, served_ws.url + f"/f/{fid}")
        before = len(stored_reports(served_ws, fid))
        page.route(url, _lose_posts)
        page.click("#sm-report button.still-here")
        wait_attr(page, "#sm-outbox[data-left='1']")
        assert page.locator("#sm-report .feedback-note").first.inner_text() == "已保存，联网后发送"
        assert page.locator("#sm-report button.still-here").is_disabled()

        # still failing: a reload keeps it (the outbox is IndexedDB, not the page)
        page.reload()
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        wait_attr(page, "#sm-outbox[data-left='1']")

        # the server answers 503: kept for later
        page.unroute(url)
        page.route(url, lambda r: r.fulfill(status=503, body="{}", content_type="application/json"))
        page.reload()
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        wait_attr(page, "#sm-outbox[data-left='1']")
        assert page.evaluate("SMQueue.count()") == 1
        assert len(stored_reports(served_ws, fid)) == before

        # the network is back: the next load sends it, once
        page.unroute(url)
        page.reload()
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        wait_attr(page, "#sm-outbox[data-left='0'][data-sent='1']")
        got = stored_reports(served_ws, fid)
        assert len(got) == before + 1 and got[0].kind == "confirm"

        # a refusal that will not change (a facility that does not exist) is dropped, and said
        page.route("**/api/facilities/NOPE/reports", _lose_posts)
        page.evaluate("SMQueue.send('/api/facilities/NOPE/reports', {kind: 'closed'})")
        wait_attr(page, "#sm-outbox[data-left='1']")
        page.unroute("**/api/facilities/NOPE/reports")
        page.evaluate("SMQueue.flush()")
        wait_attr(page, "#sm-outbox[data-left='0'][data-dropped='1']")
        assert "1 条离线时保存的反馈未被接受" in page.locator("#sm-outbox").inner_text()
        assert page.evaluate("SMQueue.count()") == 0
    finally:
        context.close()
    assert watch.external == [] and watch.dialogs == []


def test_background_sync_sends_a_kept_report_without_the_page(browser, served_ws):
    """The page's own sends keep failing; the service worker's Background Sync sends it."""
    fid = "BS004"
    context, page, watch = open_page(browser, tile_hosts=TILES)
    try:
        ready(page, served_ws.url + f"/f/{fid}")
        wait_attr(page, "body[data-offline='1']", 30000)
        before = len(stored_reports(served_ws, fid))
        # only the page's requests are routed: the worker's fetch goes out untouched
        page.route(f"**/api/facilities/{fid}/reports", _lose_posts)
        page.click("#sm-report button.still-here")
        # the worker sent it, and told the page
        wait_attr(page, "#sm-outbox[data-left='0'][data-sent='1']")
        got = stored_reports(served_ws, fid)
        assert len(got) == before + 1 and got[0].kind == "confirm"
    finally:
        context.close()
    assert watch.external == [] and watch.dialogs == []
