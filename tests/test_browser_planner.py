"""The planner in a real headless Chromium: the same figures as the API, and what-if in place."""

import pytest

from tests.conftest import XSS_ID, XSS_NAME, open_page

pytestmark = pytest.mark.browser


def ready(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15000)


def figures(page):
    return {
        k: float(page.get_attribute(f"#sm-{k}", "data-value"))
        for k in ("share", "uncovered", "total", "count")
    }


def api(page, path):
    return page.evaluate("async (u) => (await fetch(u)).json()", path)


def wait_updates(page, n):
    page.wait_for_selector("body:not([data-updating])", state="attached")
    assert page.evaluate("smPlanner.updates") == n


@pytest.mark.parametrize("key", ["outdoor_station", "mother_room", "driver_home"])
def test_planner_shows_the_api_figures(page, live_server, key):
    ready(page, live_server.url + f"/planner/?type={key}")
    cov = api(page, f"/api/coverage?type={key}&area_level=subdistrict")
    f = figures(page)
    assert float(f["share"]) == cov["covered_share"]
    assert float(f["uncovered"]) == cov["people_uncovered"]
    assert float(f["total"]) == cov["people_total"]
    assert int(f["count"]) == cov["facilities"]
    assert page.locator("#sm-share").inner_text() == f"{cov['covered_share'] * 100:.1f}%"
    rows = page.locator("#sm-areas tbody tr")
    assert [rows.nth(i).get_attribute("data-area") for i in range(rows.count())] == [
        a["area_id"] for a in cov["areas"]
    ]
    gaps = api(page, f"/api/gaps?type={key}")
    assert page.evaluate("document.querySelectorAll('.leaflet-overlay-pane path').length") >= len(
        gaps["features"]
    )
    markers = page.locator(".leaflet-marker-icon.sm-pin")
    assert markers.count() == cov["facilities"]


def test_what_if_updates_in_place(page, live_server):
    ready(page, live_server.url + "/planner/?type=outdoor_station")
    before = figures(page)
    # switch one station off with its checkbox (keyboard-usable)
    page.uncheck("#sm-loads input[value='OS010']")
    wait_updates(page, 1)
    off = api(page, "/api/coverage?type=outdoor_station&off=OS010")
    assert float(figures(page)["share"]) == off["covered_share"]
    assert int(figures(page)["count"]) == 43
    assert page.locator("tr[data-id='OS010'].off").count() == 1
    # drop a new site on the map
    page.click("#sm-add")
    assert page.get_attribute("#sm-add", "aria-pressed") == "true"
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.75)
    wait_updates(page, 2)
    added = page.evaluate("smPlanner.state.add")
    assert len(added) == 1
    lon, lat = added[0]
    both = api(page, f"/api/coverage?type=outdoor_station&off=OS010&add={lon},{lat}")
    assert float(figures(page)["share"]) == both["covered_share"]
    assert int(figures(page)["count"]) == 44
    assert "add=" in page.get_attribute("#sm-exports a[data-fmt=csv]", "href")
    # and back
    page.click("#sm-reset")
    wait_updates(page, 3)
    assert figures(page) == before


def test_sub_district_table_sorts(page, live_server):
    ready(page, live_server.url + "/planner/?type=mother_room")
    page.click("#sm-areas th[data-key=covered_share] button")
    vals = page.eval_on_selector_all(
        "#sm-areas tbody tr td:nth-child(4)", "tds => tds.map(t => parseFloat(t.dataset.value))"
    )
    vals = [v for v in vals if v == v]
    assert vals == sorted(vals, reverse=True)
    assert page.get_attribute("#sm-areas th[data-key=covered_share]", "aria-sort") == "descending"


def test_hostile_names_in_the_planner_are_text(page, live_server):
    ready(page, live_server.url + "/planner/?type=outdoor_station")
    row = page.locator(f"#sm-loads tr[data-id='{XSS_ID}'] th")
    assert row.inner_text() == XSS_NAME
    page.uncheck(f"#sm-loads input[value='{XSS_ID}']")
    wait_updates(page, 1)
    assert page.locator(f"#sm-loads tr[data-id='{XSS_ID}'] th").inner_text() == XSS_NAME


def test_planner_on_a_phone(browser, live_server):
    context, page, watch = open_page(browser, width=360, height=740, is_mobile=True, has_touch=True)
    try:
        ready(page, live_server.url + "/planner/?lang=en")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert page.locator("h1").inner_text() == "Coverage planner"
        assert page.locator(".folium-map").bounding_box()["width"] <= 340
    finally:
        context.close()
    watch.assert_clean()
