"""Accessibility of the public pages in a real Chromium, and the pages every visitor meets.

- keyboard: the list within 5 Tab presses of the skip link; focus into an opened popup
  and back; a point chosen without a mouse;
- every interactive element has an accessible name, and is at least 44 x 44 px on a phone
  (measured from the rendered boxes);
- axe-core (npm, pinned in package-lock.json, installed by ``make install``) finds no
  serious or critical violation on the finder and on a facility page;
- error pages, the manifest, the service worker and the demo banner (test client).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import open_page

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"

# every element a visitor can act on, and its target: a checkbox's is its label
INTERACTIVE_JS = """
() => {
  const sel = "a[href], button, input:not([type=hidden]), select, textarea, summary,"
    + " [tabindex]:not([tabindex='-1']), [role=button]";
  const out = [];
  for (const e of document.querySelectorAll(sel)) {
    if (e.closest("[hidden], [aria-hidden='true']")) continue;
    const target = (e.tagName === "INPUT" && e.closest("label")) || e;
    const r = target.getBoundingClientRect();
    if (!r.width || !r.height || r.right <= 0 || r.bottom <= 0) continue;  // not shown
    const cs = getComputedStyle(e);
    if (cs.visibility === "hidden" || cs.display === "none") continue;
    const text = (i) => (document.getElementById(i) || {}).textContent || "";
    let name = e.getAttribute("aria-label") || "";
    const by = e.getAttribute("aria-labelledby");
    if (!name && by) name = by.split(/\\s+/).map(text).join(" ");
    if (!name && e.labels && e.labels.length) {
      name = [...e.labels].map(l => l.textContent).join(" ");
    }
    if (!name) {
      name = (e.textContent || "").trim() || e.getAttribute("title")
        || e.getAttribute("placeholder") || "";
    }
    const cls = String(e.className || "").split(" ")[0];
    out.push({
      what: e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + "." + cls,
      name: name.trim(), w: r.width, h: r.height,
      inline_sentence: !!e.closest(".leaflet-control-attribution"),
    });
  }
  return out;
}
"""


def assert_named_and_large(page, url: str) -> list[dict]:
    """Every interactive element shown has a name and a target of 44 x 44 px at least
    (inline text links of a sentence aside); the elements found."""
    found = page.evaluate(INTERACTIVE_JS)
    unnamed = [f["what"] for f in found if not f["name"]]
    assert unnamed == [], f"{url}: interactive elements without a name: {unnamed}"
    small = [
        (f["what"], f["name"][:30], round(f["w"]), round(f["h"]))
        for f in found
        if not f["inline_sentence"] and (f["w"] < 44 or f["h"] < 44)
    ]
    assert small == [], f"{url}: tap targets under 44 px: {small}"
    return found


def ready(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15000)


def run_axe(page) -> list[dict]:
    if not AXE.is_file():
        pytest.fail(f"axe-core is not installed at {AXE}; run `make install` (npm ci)")
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    return page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ["violations"]});
          return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 4).map(n => n.target.join(" "))}));
        }"""
    )


def serious(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def choose_point(page):
    """List the nearest to the map centre, the keyboard's way (Enter on the map)."""
    page.focus(".folium-map")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_selector("#sm-list[data-query-lon]", state="attached")
    page.wait_for_selector("#sm-list li[data-id]")
    # and its answer drawn: a list redrawn under a click loses the click (a cold first
    # server in CI answered after the test had clicked an item of the list before)
    page.wait_for_load_state("networkidle")


@pytest.mark.browser
def test_keyboard_reaches_the_list_and_chooses_a_point(page, live_server):
    ready(page, live_server.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    for _ in range(4):
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('#sm-list li[data-id]')"):
            break
    else:
        pytest.fail("the list is not reached within 4 Tab presses after the skip link")
    # Enter on a list item: the popup opens and focus moves into it, then Esc brings it back
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    item = page.evaluate("document.activeElement.closest('li').dataset.id")
    page.keyboard.press("Enter")
    page.wait_for_selector(f".leaflet-popup .sm-popup[data-id='{item}'] h3:focus")
    page.keyboard.press("Escape")
    page.wait_for_selector(".leaflet-popup", state="detached")
    # focus comes back to the item once the popup's close has run (poll: no eval under CSP)
    back = None
    for _ in range(50):
        back = page.evaluate("(document.activeElement.closest('li') || {dataset: {}}).dataset.id")
        if back == item:
            break
        page.wait_for_timeout(40)
    assert back == item
    # the map from the keyboard: arrows move it, Enter lists the nearest to its centre
    choose_point(page)
    assert page.evaluate("document.activeElement.id") == "sm-list"
    # the "map centre" button does the same
    page.click("#sm-centre")
    page.wait_for_selector("#sm-list li.selected")


@pytest.mark.browser
def test_names_and_tap_targets_on_a_phone(browser, live_server):
    context, page, watch = open_page(browser, width=360, height=740, is_mobile=True, has_touch=True)
    try:
        for url in ("/", "/f/OS002"):
            ready(page, live_server.url + url)
            if url == "/":
                page.click("#sm-filters summary")
                choose_point(page)
                # a popup open too: its buttons and close button count
                page.locator("#sm-list li button.name").first.click()
                page.wait_for_selector(".leaflet-popup .sm-popup")
            found = assert_named_and_large(page, url)
            assert len(found) > (20 if url == "/" else 10), url
        # the list starts within the first screen of a phone
        ready(page, live_server.url + "/")
        top = page.locator("#sm-list-title").bounding_box()["y"]
        assert top < 600, top
    finally:
        context.close()
    watch.assert_clean()


@pytest.mark.browser
def test_axe_finds_nothing_serious_on_the_finder_and_a_facility_page(page, live_server):
    ready(page, live_server.url + "/")
    choose_point(page)
    bad = serious(run_axe(page))
    assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)
    ready(page, live_server.url + "/f/MR001?lang=en")
    bad = serious(run_axe(page))
    assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)


# --------------------------------------------------------------------------- every visitor


def test_api_features_carry_the_hours_in_words_and_the_open_periods(client, app):
    """``hours_open`` against opening_hours' own is_open, hour by hour for a week."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from geo.finder import hours_in_words, local_now, open_now

    feats = client.get("/api/facilities?limit=10000&lang=en").get_json()["features"]
    seen = {}
    for f in feats:
        seen.setdefault(f["properties"]["hours"], f["properties"])
    assert len(seen) >= 5
    zone = ZoneInfo("Asia/Shanghai")
    midnight = local_now().replace(hour=0, minute=0, second=0, microsecond=0)
    for expr, p in seen.items():
        assert p["hours_text"] == hours_in_words(expr, lang="en", week_of=midnight)
        for h in range(0, 7 * 24, 1):
            at = midnight + timedelta(hours=h, minutes=17)
            ts = at.replace(tzinfo=zone).timestamp()
            inside = any(a <= ts < b for a, b in p["hours_open"])
            assert inside == open_now([expr], at)[0], (expr, at)
    assert datetime.now(zone).date() in (midnight.date(), midnight.date() + timedelta(days=1))


def test_error_pages_are_ours_and_localised(client):
    r = client.get("/no/such/page")
    assert r.status_code == 404 and r.mimetype == "text/html"
    text = r.get_data(as_text=True)
    assert "找不到这个页面" in text and "Not Found" not in text
    assert "Content-Security-Policy" in r.headers and 'id="sm-config"' not in text
    r = client.get("/f/NOPE?lang=en")
    assert r.status_code == 404 and "Page not found" in r.get_data(as_text=True)
    r = client.post("/?lang=zh")
    assert r.status_code == 405 and "不支持这个操作" in r.get_data(as_text=True)
    assert "GET" in r.headers["Allow"]
    # the API keeps answering in JSON
    r = client.get("/api/facilities/NOPE")
    assert r.status_code == 404 and r.get_json()["error"]["status"] == 404


def test_server_errors_get_our_page(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    r = app.test_client().get("/boom?lang=en")
    assert r.status_code == 500 and "Something went wrong" in r.get_data(as_text=True)
    assert "RuntimeError" not in r.get_data(as_text=True)


def test_manifest_and_service_worker_are_served_for_the_whole_app(client):
    m = client.get("/manifest.webmanifest?lang=en")
    assert m.mimetype == "application/manifest+json"
    body = m.get_json()
    assert body["name"] == "Workers' service map" and body["start_url"] == "/"
    sizes = {i["sizes"] for i in body["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in body["icons"]:
        with client.get(icon["src"]) as r:
            assert r.status_code == 200 and r.mimetype.startswith("image/")
    with client.get("/sw.js") as sw:
        assert sw.status_code == 200 and sw.mimetype == "text/javascript"
        assert "no-cache" in sw.headers["Cache-Control"]
    page = client.get("/").get_data(as_text=True)
    assert 'rel="manifest"' in page and 'rel="icon"' in page


def test_every_page_of_a_shipped_demo_says_its_data_is_synthetic(client):
    from web import create_app

    for url in ("/", "/f/OS001", "/planner/", "/nope"):
        assert 'id="sm-demo-banner"' in client.get(url).get_data(as_text=True), url
    from geo.demo import Demo, load_demo

    d = load_demo("beilun")
    mine = Demo("mine", d.facilities, d.demand, d.areas, d.boundary)
    own = create_app({"TESTING": True, "TILES": "none", "DEMO": mine})
    assert 'id="sm-demo-banner"' not in own.test_client().get("/").get_data(as_text=True)


def test_every_amenity_in_the_data_has_a_label_in_both_languages(app):
    from web.i18n import MESSAGES, amenity_label

    with app.app_context():
        present = app.extensions["servicemap"].amenities
    assert {"step_free", "wheelchair_toilet", "baby_change"} <= set(present)
    for lang in ("zh", "en"):
        for a in present:
            assert f"amenity_{a}" in MESSAGES[lang], (lang, a)
    with app.test_request_context("/"):
        assert amenity_label("bike_pump", "en") == "bike pump"


@pytest.mark.browser
def test_plates_page_controls_are_named_large_enough_and_axe_clean(browser, live_server):
    context, page, watch = open_page(browser, width=360, height=740, is_mobile=True, has_touch=True)
    try:
        for url in ("/planner/plates?area=Daxie", "/planner/plates?area=Daxie&lang=en"):
            page.goto(live_server.url + url)
            page.wait_for_selector("article.plate")
            found = assert_named_and_large(page, url)
            assert {f["what"] for f in found} >= {"select#sm-area.", "a#sm-plates-pdf.button"}
            bad = serious(run_axe(page))
            assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)
    finally:
        context.close()
    watch.assert_clean()
