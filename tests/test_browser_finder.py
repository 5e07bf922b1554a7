"""The finder in a real headless Chromium, served on a local port.

(Waits use selectors, not ``wait_for_function``: the pages' Content-Security-Policy forbids
the string evaluation Playwright would need.)

Every request that leaves localhost is blocked and recorded, and the ``page`` fixture fails
the test if there was one, or a console error, or a dialog (a script that ran).
"""

import pytest
from pyproj import Geod

from tests.conftest import XSS_ADDRESS, XSS_ID, XSS_NAME, open_page

pytestmark = pytest.mark.browser
GEOD = Geod(ellps="WGS84")


def ready(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15000)


def brute_nearest(demo, lon, lat, k, keep=lambda row: True):
    rows = [
        (GEOD.inv(lon, lat, r.geometry.x, r.geometry.y)[2], r.id)
        for r in demo.facilities.itertuples()
        if keep(r)
    ]
    return [i for _, i in sorted(rows)[:k]]


def click_empty_spot(page, lon, lat):
    """Click the map at a WGS84 point (the map is drawn in WGS84 without tiles)."""
    box = page.locator(".folium-map").bounding_box()
    pt = page.evaluate(
        "([lat, lon]) => { const m = window[SM.cfg.map];"
        " m.setView([lat, lon], 14, {animate: false});"
        " const p = m.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        [lat, lon],
    )
    page.wait_for_timeout(300)
    # a spot near the point where no marker, cluster or control would take the click
    for dx, dy in [(0, 0), (30, 0), (-30, 0), (0, 30), (0, -30), (45, 45), (-45, -45), (60, -60)]:
        x, y = box["x"] + pt[0] + dx, box["y"] + pt[1] + dy
        free = page.evaluate(
            "([x, y]) => { const e = document.elementFromPoint(x, y);"
            " return !!e && !e.closest('.leaflet-marker-icon, .leaflet-control, .leaflet-popup')"
            " && !!e.closest('.folium-map'); }",
            [x, y],
        )
        if free:
            break
    page.mouse.click(x, y)
    page.wait_for_selector("#sm-list[data-query-lon]", state="attached")
    return (
        float(page.eval_on_selector("#sm-list", "e => e.dataset.queryLon")),
        float(page.eval_on_selector("#sm-list", "e => e.dataset.queryLat")),
    )


def test_finder_draws_every_facility_offline(page, live_server, xss_demo):
    ready(page, live_server.url + "/")
    n = len(xss_demo.facilities)
    assert page.evaluate("smFinder.markerCount()") == n == page.evaluate("smFinder.total()")
    # what is on screen: clusters' counts plus single markers add up to every facility
    drawn = page.evaluate(
        "() => [...document.querySelectorAll('.marker-cluster span.n')]"
        ".reduce((s, e) => s + parseInt(e.textContent, 10), 0)"
        " + document.querySelectorAll('.leaflet-marker-icon.sm-pin').length"
    )
    assert drawn == n
    assert page.locator("#sm-status").inner_text() == f"已显示 {n} 个设施"
    assert page.evaluate("document.querySelector('.folium-map svg path') !== null")  # boundary


def test_a_click_lists_the_nearest_like_brute_force(page, live_server, xss_demo):
    ready(page, live_server.url + "/")
    lon, lat = click_empty_spot(page, 121.760, 29.905)
    listed = page.evaluate("smFinder.listedIds()")
    assert listed == brute_nearest(xss_demo, lon, lat, 5)
    assert page.locator("#sm-list-title").inner_text() == "离所选位置最近的设施"
    first = page.locator("#sm-list li").first.inner_text()
    assert " 米" in first or " 公里" in first  # units in the page's language
    # the nearest is highlighted, in the list and on the map
    assert page.evaluate("smFinder.selectedId()") == listed[0]
    assert page.locator(f"#sm-list li[data-id='{listed[0]}']").get_attribute("class") == "selected"


def test_type_and_amenity_filters_hide_what_they_should(page, live_server, xss_demo):
    ready(page, live_server.url + "/")
    fac = xss_demo.facilities
    page.locator("#sm-filters summary").click() if not page.evaluate(
        "document.getElementById('sm-filters').open"
    ) else None
    page.check("input[name=amenity][value=microwave]")
    with_mw = int(fac["amenities"].map(lambda a: "microwave" in a).sum())
    assert page.evaluate("smFinder.markerCount()") == with_mw
    page.uncheck("input[name=amenity][value=microwave]")
    page.uncheck("input[name=type][value=outdoor_station]")
    assert page.evaluate("smFinder.markerCount()") == int((fac["type"] != "outdoor_station").sum())
    lon, lat = click_empty_spot(page, 121.85, 29.89)
    listed = page.evaluate("smFinder.listedIds()")
    assert listed and not any(i.startswith("OS") for i in listed)
    assert listed == brute_nearest(xss_demo, lon, lat, 5, lambda r: r.type != "outdoor_station")


def test_hostile_names_show_as_text_everywhere(page, live_server, xss_demo):
    ready(page, live_server.url + "/")
    page.fill("#sm-q", "onerror")
    page.click("#sm-search button[type=submit]")
    item = page.locator(f"#sm-list li[data-id='{XSS_ID}']")
    item.wait_for()
    assert item.locator("button.name").inner_text() == XSS_NAME
    assert item.locator(".address").inner_text() == XSS_ADDRESS
    # popup and tooltip of its marker
    item.locator("button.name").click()
    popup = page.locator(f".leaflet-popup-content .sm-popup[data-id='{XSS_ID}']")
    popup.wait_for()
    assert popup.locator("h3").inner_text() == XSS_NAME
    marker = page.locator(f".leaflet-marker-icon[data-id='{XSS_ID}']")
    assert marker.get_attribute("title") == XSS_NAME
    assert marker.get_attribute("aria-label").startswith(XSS_NAME)
    marker.hover()
    # (an area's tooltip may show too: pick the marker's)
    tooltip = page.locator(".leaflet-tooltip", has_text="onerror")
    tooltip.wait_for()
    assert tooltip.inner_text() == XSS_NAME
    # its own page
    ready(page, live_server.url + f"/f/{XSS_ID}")
    assert page.locator("#sm-name").inner_text() == XSS_NAME
    assert page.locator("#sm-address").inner_text() == XSS_ADDRESS
    assert page.title().startswith(XSS_NAME)
    page.locator(".leaflet-marker-icon").hover()
    tooltip = page.locator(".leaflet-tooltip", has_text="onerror")
    tooltip.wait_for()
    assert tooltip.inner_text() == XSS_NAME
    assert page.evaluate("document.querySelectorAll('img[src=x], b[onmouseover]').length") == 0
    # (the page fixture fails the test if any alert() opened a dialog)


def test_phone_layout_is_usable(browser, live_server, xss_demo):
    context, page, watch = open_page(browser, width=360, height=740, is_mobile=True, has_touch=True)
    try:
        ready(page, live_server.url + "/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        viewport = page.get_attribute("meta[name=viewport]", "content")
        assert "user-scalable" not in viewport and "maximum-scale" not in viewport
        for sel in ("#sm-locate", "#sm-q", ".folium-map"):
            box = page.locator(sel).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360, sel
        assert page.locator(".folium-map").bounding_box()["height"] >= 280
        assert page.locator("#sm-locate").bounding_box()["height"] >= 44  # a finger-sized target
        lon, lat = click_empty_spot(page, 121.80, 29.90)
        assert page.evaluate("smFinder.listedIds()") == brute_nearest(xss_demo, lon, lat, 5)
    finally:
        context.close()
    watch.assert_clean()


def test_near_me_uses_the_browser_position(browser, live_server, xss_demo):
    context, page, watch = open_page(
        browser, geolocation={"longitude": 121.87, "latitude": 29.90}, permissions=["geolocation"]
    )
    try:
        ready(page, live_server.url + "/")
        page.click("#sm-locate")
        page.wait_for_selector("#sm-list[data-query-lon]", state="attached")
        assert page.evaluate("smFinder.listedIds()") == brute_nearest(xss_demo, 121.87, 29.90, 5)
    finally:
        context.close()
    watch.assert_clean()


def test_refused_geolocation_says_what_to_do_instead(browser, live_server):
    context, page, watch = open_page(browser)  # no permission granted
    try:
        ready(page, live_server.url + "/?lang=en")
        page.click("#sm-locate")
        page.wait_for_selector("#sm-status:has-text('Click the map')")
        assert "refused" in page.locator("#sm-status").inner_text()
    finally:
        context.close()
    watch.assert_clean()


def test_keyboard_reaches_the_list_and_markers(page, live_server):
    ready(page, live_server.url + "/")
    lon, lat = click_empty_spot(page, 121.84, 29.90)
    page.locator("#sm-list li button.name").first.focus()
    page.keyboard.press("Enter")
    page.locator(".leaflet-popup-content").wait_for()
    first = page.evaluate("smFinder.listedIds()[0]")
    marker = page.locator(f".leaflet-marker-icon[data-id='{first}']")
    assert marker.get_attribute("tabindex") == "0" and marker.get_attribute("role") == "button"
    assert marker.get_attribute("aria-label")
