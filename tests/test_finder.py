"""geo.finder: nearest facilities against brute force, opening hours, hand-off links."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import prcoords
import pytest
from pyproj import Geod

from geo.crs import from_wgs84, to_wgs84
from geo.demo import load_demo
from geo.errors import ValidationError
from geo.finder import FacilityFinder, describe_hours, handoff_links, open_intervals, open_now

GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def demo():
    return load_demo("beilun")


@pytest.fixture(scope="module")
def finder(demo):
    return FacilityFinder(demo.facilities)


def brute_nearest(fac, lon, lat, k, keep=None):
    rows = []
    for fid, geom, ok in zip(
        fac["id"], fac.geometry, keep if keep is not None else [True] * len(fac), strict=True
    ):
        if ok:
            _, _, d = GEOD.inv(lon, lat, geom.x, geom.y)
            rows.append((d, fid))
    return [fid for _, fid in sorted(rows)[:k]]


def test_nearest_matches_brute_force_at_random_points(demo, finder):
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = demo.boundary.total_bounds
    for lon, lat in zip(rng.uniform(minx, maxx, 25), rng.uniform(miny, maxy, 25), strict=True):
        got = finder.nearest(lon, lat, k=5)
        assert got["id"].tolist() == brute_nearest(demo.facilities, lon, lat, 5)
        _, _, d0 = GEOD.inv(
            lon, lat, *demo.facilities.set_index("id").geometry[got["id"][0]].coords[0]
        )
        assert got["distance_m"].iloc[0] == pytest.approx(d0, abs=1e-6)


def test_nearest_with_filters_matches_brute_force(demo, finder):
    keep = [
        t == "outdoor_station" and "microwave" in a
        for t, a in zip(demo.facilities["type"], demo.facilities["amenities"], strict=True)
    ]
    got = finder.nearest(121.80, 29.88, k=4, types=["outdoor_station"], amenities=["microwave"])
    assert got["id"].tolist() == brute_nearest(demo.facilities, 121.80, 29.88, 4, keep)


def test_nearest_rejects_bad_input(finder):
    with pytest.raises(ValidationError, match="k=0"):
        finder.nearest(121.8, 29.9, k=0)
    with pytest.raises(ValidationError, match="lat=95"):
        finder.nearest(121.8, 95.0)


def test_travel_time_ranks_when_a_network_is_loaded(demo):
    # a stand-in network in which the farther facilities are quicker to reach
    f = FacilityFinder(demo.facilities, travel_time=lambda lon, lat, x, y: 1e6 - (x - lon) ** 2)
    got = f.nearest(121.85, 29.9, k=3, candidates=10)
    assert "time_s" in got.columns and got["time_s"].is_monotonic_increasing


def test_open_now_uses_the_districts_time_zone():
    hours = ["Mo-Fr 08:00-18:00"]
    # 01:30 UTC on a Monday is 09:30 in Shanghai: open there, though closed at 01:30
    at = datetime(2024, 5, 6, 1, 30, tzinfo=UTC)
    assert open_now(hours, at) == [True]
    assert open_now(hours, datetime(2024, 5, 6, 1, 30)) == [False]  # naive = local time
    assert open_now(["", "not hours"], at) == [None, None]


def test_handoff_links_use_each_apps_datum_and_encode_the_name():
    name = "驿站 A&B #1 ?x=1"
    links = handoff_links(121.85, 29.9, name)
    amap = parse_qs(urlsplit(links["amap"]).query)
    baidu = parse_qs(urlsplit(links["baidu"]).query)
    assert urlsplit(links["amap"]).netloc == "uri.amap.com"
    assert amap["name"] == [name] and baidu["title"] == [name]
    assert amap["coordinate"] == ["gaode"] and baidu["coord_type"] == ["bd09ll"]
    glat, glon = prcoords.wgs_gcj((29.9, 121.85))
    lon, lat = (float(v) for v in amap["position"][0].split(","))
    assert (lon, lat) == pytest.approx((glon, glat), abs=2e-6)
    blat, blon = prcoords.wgs_bd((29.9, 121.85))
    lat, lon = (float(v) for v in baidu["location"][0].split(","))
    assert (lon, lat) == pytest.approx((blon, blat), abs=2e-6)


# --------------------------------------------------------------------------- hours in words

# 2024-05-06 is a Monday; 11:35 UTC is 19:35 in Shanghai
MONDAY_1935_SH = datetime(2024, 5, 6, 11, 35, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "local", "state", "zh", "en"),
    [
        (
            "Mo-Su 08:00-20:00",
            (2024, 5, 6, 19, 35),
            "closing_soon",
            "每天 08:00–20:00，再过 25 分钟关门",
            "Daily 08:00–20:00, closes in 25 min",
        ),
        (
            "Mo-Su 08:00-20:00",
            (2024, 5, 6, 12, 0),
            "open",
            "每天 08:00–20:00，开放中，20:00 关门",
            "Daily 08:00–20:00, open until 20:00",
        ),
        (
            "Mo-Fr 08:30-17:30",
            (2024, 5, 10, 18, 0),  # Friday evening: next opening is Monday
            "closed",
            "周一至周五 08:30–17:30，周一 08:30 开门",
            "Mon–Fri 08:30–17:30, opens Mon 08:30",
        ),
        (
            "Mo-Fr 12:00-13:30,17:30-20:30",
            (2024, 5, 7, 17, 5),
            "opening_soon",
            "周一至周五 12:00–13:30、17:30–20:30，再过 25 分钟开门",
            "Mon–Fri 12:00–13:30, 17:30–20:30, opens in 25 min",
        ),
        (
            "Mo-Sa 09:00-20:00",
            (2024, 5, 6, 21, 0),
            "closed",
            "周一至周六 09:00–20:00，明天 09:00 开门",
            "Mon–Sat 09:00–20:00, opens tomorrow 09:00",
        ),
        ("24/7", (2024, 5, 6, 3, 0), "open", "24 小时开放", "Open 24 hours"),
        ("not hours", (2024, 5, 6, 3, 0), "unknown", "开放时间不详", "Hours unknown"),
    ],
)
def test_hours_in_words_at_fixed_times_in_shanghai(expr, local, state, zh, en):
    at = datetime(*local)
    for lang, text in (("zh", zh), ("en", en)):
        got = describe_hours(expr, at, lang=lang)
        assert (got.state, got.text) == (state, text)
    # the same moment given as an aware UTC time reads as Shanghai wall-clock time
    aware = at.replace(tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
    assert describe_hours(expr, aware).text == zh


def test_next_change_agrees_with_open_now_either_side():
    expr = "Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00"
    at = datetime(2024, 5, 6, 11, 0)
    for _ in range(12):
        h = describe_hours(expr, at)
        before = open_now([expr], h.next_change - timedelta(minutes=1))[0]
        after = open_now([expr], h.next_change)[0]
        assert before != after and before == (h.state in ("open", "closing_soon"))
        at = h.next_change
    assert describe_hours(expr, MONDAY_1935_SH).state == "closed"


def test_open_intervals_merge_across_midnight_and_mark_unknown():
    start = datetime(2024, 5, 6)
    spans = open_intervals("Mo-Su 22:00-02:00", start, days=2)
    assert spans[1] == (datetime(2024, 5, 6, 22, 0), datetime(2024, 5, 7, 2, 0))
    assert open_intervals("", start) is None and open_intervals("nonsense!", start) is None
    with pytest.raises(ValidationError, match="lang='fr'"):
        describe_hours("24/7", start, lang="fr")


# --------------------------------------------------------------------------- route links


@pytest.mark.parametrize("mode", ["ride", "walk"])
def test_route_links_use_each_apps_datum(mode):
    lon, lat, name = 121.85, 29.9, "驿站, A|B"
    links = handoff_links(lon, lat, name)
    glon, glat = (float(v[0]) for v in from_wgs84([lon], [lat], "gcj02"))
    blon, blat = (float(v[0]) for v in from_wgs84([lon], [lat], "bd09"))
    # and back: each link's point converts to the WGS84 point within 1 m
    amap = parse_qs(urlsplit(links[f"amap_{mode}"]).query)
    x, y, shown = amap["to"][0].split(",", 2)
    assert (float(x), float(y)) == pytest.approx((glon, glat), abs=2e-6)
    assert amap["mode"] == [{"ride": "ride", "walk": "walk"}[mode]] and "," not in shown
    bx, by = to_wgs84([float(x)], [float(y)], "gcj02")
    assert GEOD.inv(lon, lat, float(bx[0]), float(by[0]))[2] < 1.0
    baidu = parse_qs(urlsplit(links[f"baidu_{mode}"]).query)
    dest = dict(part.split(":", 1) for part in baidu["destination"][0].split("|"))
    la, lo = (float(v) for v in dest["latlng"].split(","))
    assert (lo, la) == pytest.approx((blon, blat), abs=2e-6)
    assert baidu["mode"] == [{"ride": "riding", "walk": "walking"}[mode]]
    assert baidu["coord_type"] == ["bd09ll"] and dest["name"] == "驿站  A B"
    qq = parse_qs(urlsplit(links[f"tencent_{mode}"]).query)
    la, lo = (float(v) for v in qq["tocoord"][0].split(","))
    assert (lo, la) == pytest.approx((glon, glat), abs=2e-6)
    assert qq["type"] == [{"ride": "bike", "walk": "walk"}[mode]]
    assert urlsplit(links[f"tencent_{mode}"]).netloc == "apis.map.qq.com"
