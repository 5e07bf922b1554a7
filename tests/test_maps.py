"""geo.maps: the lon/lat swap, datums of drawing, escaping, and assets never from a CDN."""

import re

import numpy as np
import pytest

from geo import maps
from geo.crs import wgs84_to_gcj02
from geo.demo import load_demo

PAYLOAD = "<img src=x onerror=alert(1)>`${alert(2)}`</script><script>alert(3)</script>\\"
CDN = re.compile(r"https?://[^\"' ]*(cdn|jsdelivr|cdnjs|bootstrapcdn|code\.jquery)", re.I)


@pytest.fixture(scope="module")
def demo():
    return load_demo("beilun")


def test_latlon_swaps_lon_lat_for_leaflet():
    assert maps.latlon(121.85, 29.9) == [29.9, 121.85]
    assert maps.latlon_bounds((121.0, 29.0, 122.0, 30.0)) == [[29.0, 121.0], [30.0, 122.0]]
    with pytest.raises(ValueError, match="lat=95"):
        maps.latlon(121.0, 95.0)


def test_escape_text_leaves_nothing_live_for_html_or_template_literals():
    out = maps.escape_text(PAYLOAD)
    for ch in "<>`${}\\\"'":
        assert ch not in out
    import html

    # the browser decodes the entities back to the original text
    assert html.unescape(out) == PAYLOAD


def test_to_display_shifts_to_gcj02_like_the_datum_functions(demo):
    fac = demo.facilities.head(5)
    shown = maps.to_display(fac, "gcj02")
    lon, lat = wgs84_to_gcj02(fac.geometry.x, fac.geometry.y)
    np.testing.assert_allclose(shown.geometry.x, lon, atol=1e-12)
    np.testing.assert_allclose(shown.geometry.y, lat, atol=1e-12)
    assert maps.to_display(fac, "wgs84").geometry.equals(fac.geometry)
    # the input is not changed
    assert fac.geometry.x.iloc[0] == demo.facilities.geometry.x.iloc[0]


def test_tile_sources_name_their_datum_and_need_keys():
    assert maps.tile_source("amap").datum == "gcj02"
    assert maps.tile_source("osm").datum == "wgs84"
    with pytest.raises(ValueError, match="needs an API key"):
        maps.tile_source("tianditu").urls()
    urls = maps.tile_source("tianditu").urls("KEY1")
    assert len(urls) == 2 and all("tk=KEY1" in u for u in urls)
    assert maps.tile_source("amap").origins() == ["https://*.is.autonavi.com"]
    with pytest.raises(ValueError, match="tiles='mapbox' is not known"):
        maps.tile_source("mapbox")
    with pytest.raises(ValueError, match="datum="):
        maps.tile_source(url="https://t.example/{z}/{x}/{y}.png")


def test_facility_map_is_offline_and_escapes_every_text(demo):
    fac = demo.facilities.copy()
    fac.loc[fac.index[0], "name"] = PAYLOAD
    fac.loc[fac.index[0], "address"] = PAYLOAD
    m = maps.facility_map(fac, boundary=demo.boundary, areas=demo.areas, tiles="none")
    html = m.get_root().render()
    assert not CDN.search(html)
    assert "<script src=" not in html  # Leaflet and markercluster are inlined
    assert "L.markerClusterGroup" in html and "leaflet" in html.lower()
    assert "<img src=x" not in html
    assert "${alert" not in html and "`${" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&#96;&#36;&#123;alert(2)&#125;" in html
    assert "user-scalable=no" in html  # folium's own page; the web app uses its own


def test_local_assets_point_at_the_app(demo):
    m = maps.facility_map(demo.facilities, tiles="none", assets="/vendor")
    parts = maps.map_parts(m)
    assert set(parts.js) == {
        "/vendor/leaflet/1.9.3/leaflet.js",
        "/vendor/leaflet_markercluster/1.4.1/leaflet.markercluster.js",
    }
    assert all(u.startswith("/vendor/") for u in parts.css)
    assert parts.name in parts.script and parts.name in parts.html
    assert "user-scalable" not in parts.html + parts.script
    for url in parts.js + parts.css:
        package, version, filename = url.split("/")[2:]
        assert (maps.asset_dir(package) / filename).is_file()
        assert version == maps.asset_version(package)


def test_an_asset_without_a_local_copy_is_refused():
    import folium

    m = folium.Map(tiles=None)
    m.default_js = [("leaflet", "x"), ("mystery", "https://cdn.example/m.js")]
    with pytest.raises(ValueError, match="asset 'mystery'"):
        maps.use_local_assets(m, base_url="/vendor")
    # folium's class-level lists are left alone
    assert folium.Map.default_js[0][0] == "leaflet"
    assert folium.Map.default_js[0][1].startswith("https://")


def test_amap_tiles_draw_everything_in_gcj02(demo):
    m = maps.base_map(demo.boundary, tiles="amap", assets="/vendor")
    script = maps.map_parts(m).script
    assert "autonavi.com" in script
    # the map is fitted to the boundary shifted to GCJ-02, not to the WGS84 one
    shifted = maps.to_display(demo.boundary, "gcj02").total_bounds
    assert repr(float(shifted[1])) in script
    assert repr(float(demo.boundary.total_bounds[1])) not in script


def test_gap_map_never_shows_a_cell_under_the_floor(demo):
    from geo import coverage, coverage_summary

    s = coverage_summary(
        coverage(demo.facilities, demo.demand, facility_type="mother_room"), demo.areas
    )
    m = maps.gap_map(s.gaps, k=10, boundary=demo.boundary, tiles="none")
    html = m.get_root().render()
    people = [float(v) for v in re.findall(r'"people": ([0-9.]+)', html)]
    assert people and min(people) >= 10
    assert not CDN.search(html)


def test_the_pages_base_map_escapes_area_names(demo):
    # the finder, planner, facility and compliance pages put map_parts' html and script
    # into the page unescaped (|safe): area names (an uploaded file's text) must arrive
    # inert, in both languages
    areas = demo.areas.copy()
    areas["name"] = PAYLOAD
    areas["name_en"] = PAYLOAD
    for lang in ("zh", "en"):
        m = maps.base_map(demo.boundary, areas, tiles="none", assets="/vendor", lang=lang)
        parts = maps.map_parts(m)
        page = parts.html + parts.script
        assert "<img src=x" not in page and "<script>alert" not in page
        assert "${alert" not in page and "`${" not in page and "</script>" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;&#96;&#36;&#123;alert(2)&#125;" in page
