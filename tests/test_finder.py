"""geo.finder: nearest facilities against brute force, opening hours, hand-off links."""

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import numpy as np
import prcoords
import pytest
from pyproj import Geod

from geo.demo import load_demo
from geo.errors import ValidationError
from geo.finder import FacilityFinder, handoff_links, open_now

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
