"""The finder in a real headless Chromium, served on a local port.

(Waits use selectors, not ``wait_for_function``: the pages' Content-Security-Policy forbids
the string evaluation Playwright would need.)

Every request that leaves localhost is blocked and recorded, and the ``page`` fixture fails
the test if there was one, or a console error, or a dialog (a script that ran).
"""

import contextlib

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
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # a spot near the point where no marker, cluster or control would take the click; the
    # clusters may still be moving after the view changed (a filter, the zoom), so a click
    # that a cluster took instead is made again at a spot found afresh (three tries)
    for attempt in range(3):
        page.wait_for_timeout(300 * (attempt + 1))
        for dx, dy in [(0, 0), (30, 0), (-30, 0), (0, 30), (0, -30), (45, 45), (-45, -45),
                       (60, -60)]:  # fmt: skip
            x, y = box["x"] + pt[0] + dx, box["y"] + pt[1] + dy
            free = page.evaluate(
                "([x, y]) => { const e = document.elementFromPoint(x, y);"
                " return !!e && !e.closest('.leaflet-marker-icon, .leaflet-control,"
                " .leaflet-popup') && !!e.closest('.folium-map'); }",
                [x, y],
            )
            if free:
                break
        page.mouse.click(x, y)
        try:
            page.wait_for_selector("#sm-list[data-query-lon]", state="attached", timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")  # a popup the click opened
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
    assert _markers_become(page, with_mw) == with_mw
    page.uncheck("input[name=amenity][value=microwave]")
    page.uncheck("input[name=type][value=outdoor_station]")
    others = int((fac["type"] != "outdoor_station").sum())
    assert _markers_become(page, others) == others
    lon, lat = click_empty_spot(page, 121.85, 29.89)
    listed = page.evaluate("smFinder.listedIds()")
    assert listed and not any(i.startswith("OS") for i in listed)
    assert listed == brute_nearest(xss_demo, lon, lat, 5, lambda r: r.type != "outdoor_station")


def _markers_become(page, n: int) -> int:
    """The map's marker count once it is ``n`` (the cluster redraws after a filter's
    change event), or as it is after 10 s."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # on a timeout the count is asserted anyway, and the message says what it is
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(f"smFinder.markerCount() === {n}", timeout=10_000)
    return page.evaluate("smFinder.markerCount()")


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
        # the click brought the list, its nearest highlighted, into the screen
        top = page.evaluate(
            "document.querySelector('#sm-list li.selected').getBoundingClientRect().top"
        )
        assert 0 <= top < 740 - 44
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


def test_offline_the_finder_still_lists_the_nearest_as_of_a_time(browser, live_server, xss_demo):
    context, page, watch = open_page(browser)
    try:
        ready(page, live_server.url + "/")
        # the service worker has kept the shell and the facility list
        page.wait_for_selector("body[data-offline='1']", state="attached", timeout=15000)
        lon, lat = click_empty_spot(page, 121.80, 29.90)
        online = page.evaluate("smFinder.listedIds()")
        assert online == brute_nearest(xss_demo, lon, lat, 5)
        context.set_offline(True)
        page.reload()
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        page.wait_for_selector("#sm-list[data-query-lon]", state="attached")
        assert page.evaluate("smFinder.total()") == len(xss_demo.facilities)
        assert page.evaluate("smFinder.listedIds()") == online
        status = page.locator("#sm-status").inner_text()
        assert status.startswith("离线：离上次位置最近的设施（数据截至 ")
        # a new point chosen offline is answered from the kept list too
        lon2, lat2 = click_empty_spot(page, 121.87, 29.90)
        assert page.evaluate("smFinder.listedIds()") == brute_nearest(xss_demo, lon2, lat2, 5)
        assert page.locator("#sm-status").inner_text().startswith("离线")
        context.set_offline(False)
    finally:
        context.close()
    # (offline, the failed requests log console errors: those are expected here)
    assert watch.external == [] and watch.dialogs == []


def test_hours_in_words_and_route_buttons_in_the_list(page, live_server, xss_demo):
    from geo.finder import describe_hours

    ready(page, live_server.url + "/")
    click_empty_spot(page, 121.84, 29.90)
    fid = page.evaluate("smFinder.listedIds()[0]")
    row = xss_demo.facilities.set_index("id").loc[fid]
    item = page.locator(f"#sm-list li[data-id='{fid}']")
    before = describe_hours(row["hours"])
    shown = item.locator(".hours").inner_text()
    after = describe_hours(row["hours"])
    assert shown.endswith(before.text) or shown.endswith(after.text)  # a minute may turn
    assert "Mo-" not in shown and "Sa" not in shown
    # three separate, finger-sized riding buttons; the walking ones after the switch
    buttons = item.locator("a.nav")
    assert buttons.count() == 3
    for i in range(3):
        box = buttons.nth(i).bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44
    hrefs = [buttons.nth(i).get_attribute("href") for i in range(3)]
    assert [h.split("?")[0] for h in hrefs] == [
        "https://uri.amap.com/navigation",
        "https://api.map.baidu.com/direction",
        "https://apis.map.qq.com/uri/v1/routeplan",
    ]
    assert "mode=ride" in hrefs[0] and "mode=riding" in hrefs[1] and "type=bike" in hrefs[2]
    page.click("#sm-route-mode button[value=walk]")
    walk = page.locator(f"#sm-list li[data-id='{fid}'] a.nav").first.get_attribute("href")
    assert "mode=walk" in walk
    label = page.locator(f"#sm-list li[data-id='{fid}'] a.nav").first.get_attribute("aria-label")
    assert label.startswith("高德步行导航到 ")


def test_search_says_how_many_it_does_not_show(page, live_server, xss_demo):
    ready(page, live_server.url + "/?lang=en")
    page.fill("#sm-q", "北仑区")  # in every address
    page.click("#sm-search button[type=submit]")
    # the search's list, not the map view's: before the answer, the list of the whole
    # district in view says "Showing 50 of 195" too (every facility; this test once read
    # that count when the search answered late)
    page.wait_for_selector("#sm-list-title:has-text('Search results')")
    page.wait_for_selector("#sm-count:has-text('Showing 50 of')")
    fac = xss_demo.facilities
    total = int((fac["name"] + " " + fac["address"]).str.contains("北仑区").sum())
    assert total > 50
    assert page.locator("#sm-count").inner_text() == f"Showing 50 of {total}: zoom in or filter"
    assert len(page.evaluate("smFinder.listedIds()")) == 50


def test_the_facility_page_is_zoomed_on_the_facility(page, live_server, xss_demo):
    ready(page, live_server.url + "/f/BS003")
    zoom = page.evaluate("window[SM.cfg.map].getZoom()")
    centre = page.evaluate(
        "(() => { const c = window[SM.cfg.map].getCenter(); return [c.lng, c.lat]; })()"
    )
    geom = xss_demo.facilities.set_index("id").geometry["BS003"]
    assert zoom >= 15
    assert GEOD.inv(centre[0], centre[1], geom.x, geom.y)[2] < 30
    # the scale bar is metric only, in the page's language
    scale = page.locator(".leaflet-control-scale-line")
    assert scale.count() == 1 and scale.inner_text().endswith(" 米")


def test_a_notice_when_the_base_map_cannot_load(browser, xss_demo):
    from tests.conftest import start_live_server
    from web import create_app

    # a tile server on this machine that is not there: every tile fails
    app = create_app(
        {
            "TESTING": True,
            "DEMO": xss_demo,
            "TILES_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png",
            "TILES_DATUM": "wgs84",
        }
    )
    server = start_live_server(app)
    context, page, watch = open_page(browser, width=800, height=700)
    try:
        ready(page, server.url + "/?lang=en")
        notice = page.locator("#sm-tiles-notice")
        notice.wait_for(state="visible")
        assert notice.inner_text().startswith("The base map could not load")
        assert page.evaluate("smFinder.markerCount()") == len(xss_demo.facilities)
    finally:
        context.close()
        server.stop()
    assert watch.external == []
