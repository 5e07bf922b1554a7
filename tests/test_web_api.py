"""The JSON API against the geo functions it wraps, and against brute force."""

import csv
import io
import json
import math
import re

import pytest
from pyproj import Geod

from geo import coverage, coverage_summary, load_demo
from geo.crs import wgs84_to_gcj02
from geo.finder import open_now
from geo.privacy import gap_layout, publish_summary, round_people

GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def demo():
    return load_demo("beilun")


@pytest.fixture(scope="module")
def api():
    from web import create_app

    return create_app({"TESTING": True, "TILES": "none"}).test_client()


def test_facilities_page_through_everything(api, demo):
    ids, url = [], "/api/facilities?limit=50"
    while url:
        body = api.get(url).get_json()
        assert body["type"] == "FeatureCollection" and body["numberMatched"] == len(demo.facilities)
        assert body["numberReturned"] == len(body["features"]) <= 50
        ids += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert ids == demo.facilities["id"].tolist()


def test_facilities_filters(api, demo):
    fac = demo.facilities
    bbox = (121.80, 29.85, 121.90, 29.92)
    body = api.get("/api/facilities?bbox=" + ",".join(map(str, bbox)) + "&limit=1000").get_json()
    inside = fac[
        fac.geometry.x.between(bbox[0], bbox[2]) & fac.geometry.y.between(bbox[1], bbox[3])
    ]
    assert {f["id"] for f in body["features"]} == set(inside["id"])
    body = api.get("/api/facilities?type=mother_room,driver_home&amenity=water").get_json()
    want = fac[
        fac["type"].isin(["mother_room", "driver_home"])
        & fac["amenities"].map(lambda a: "water" in a)
    ]
    assert {f["id"] for f in body["features"]} == set(want["id"])
    body = api.get("/api/facilities?open_now=1&limit=1000").get_json()
    state = dict(zip(fac["id"], open_now(fac["hours"]), strict=True))
    assert {f["id"] for f in body["features"]} == {i for i, s in state.items() if s is True}
    assert all(f["properties"]["open_now"] is True for f in body["features"])


def test_one_facility_and_its_links(api, demo):
    f = api.get("/api/facilities/OS002").get_json()
    row = demo.facilities.set_index("id").loc["OS002"]
    assert f["properties"]["name"] == row["name"]
    assert f["geometry"]["coordinates"] == pytest.approx([row.geometry.x, row.geometry.y], abs=1e-7)
    assert f["properties"]["links"]["amap"].startswith("https://uri.amap.com/marker?")
    g = api.get("/api/facilities/OS002?datum=gcj02").get_json()
    lon, lat = wgs84_to_gcj02([row.geometry.x], [row.geometry.y])
    assert g["geometry"]["coordinates"] == pytest.approx([lon[0], lat[0]], abs=1e-7)


@pytest.mark.parametrize("lon, lat", [(121.85, 29.9), (121.70, 29.93), (121.93, 29.80)])
def test_nearest_matches_brute_force(api, demo, lon, lat):
    body = api.get(f"/api/nearest?lat={lat}&lon={lon}&k=6").get_json()
    dist = sorted(
        (GEOD.inv(lon, lat, g.x, g.y)[2], i)
        for i, g in zip(demo.facilities["id"], demo.facilities.geometry, strict=True)
    )
    assert [f["id"] for f in body["features"]] == [i for _, i in dist[:6]]
    assert [f["properties"]["distance_m"] for f in body["features"]] == pytest.approx(
        [d for d, _ in dist[:6]], abs=0.1
    )


def test_nearest_in_gcj02_is_the_same_place(api):
    lon, lat = wgs84_to_gcj02([121.85], [29.9])
    a = api.get("/api/nearest?lat=29.9&lon=121.85&k=5").get_json()
    b = api.get(f"/api/nearest?lat={lat[0]}&lon={lon[0]}&k=5&datum=gcj02").get_json()
    assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]]
    assert b["query"]["lon"] == pytest.approx(121.85, abs=1e-7)
    assert b["query"]["display"] == pytest.approx([lon[0], lat[0]], abs=1e-7)
    # a browser position (WGS84) drawn on GCJ-02 tiles
    c = api.get("/api/nearest?lat=29.9&lon=121.85&in_datum=wgs84&datum=gcj02").get_json()
    assert c["query"]["display"] == pytest.approx([lon[0], lat[0]], abs=1e-7)


def test_search_finds_areas_and_facilities(api):
    body = api.get("/api/search?q=大碶").get_json()
    assert body["areas"][0]["name"] == "大碶街道"
    assert body["facilities"]["features"] and all(
        "大碶" in f["properties"]["name"] + f["properties"]["address"]
        for f in body["facilities"]["features"]
    )


def test_coverage_matches_the_library(api, demo):
    for key in ("outdoor_station", "mother_room", "bookshelf", "driver_home"):
        body = api.get(f"/api/coverage?type={key}").get_json()
        s = coverage_summary(
            coverage(demo.facilities, demo.demand, facility_type=key),
            demo.areas,
            facilities=demo.facilities,
        )
        # the public figures are the library's, published by the privacy rule: every count
        # a multiple of k = 10 and within k/2 of the exact one
        assert body["people_total"] == 10 * math.floor(s.people_total / 10 + 0.5)
        assert abs(body["people_covered"] - s.people_covered) <= 5
        assert body["people_covered"] % 10 == 0
        assert abs(body["covered_share"] - s.covered_share) <= 10 / s.people_total + 5e-5
        exact = s.by_area.set_index("area_id")
        for a in body["areas"]:
            assert (
                a["people"] % 10 == 0 and abs(a["people"] - exact.at[a["area_id"], "people"]) <= 10
            )
        assert {a["area_id"] for a in body["areas"]} == set(exact.index)
        assert len(body["loads"]) == len(s.loads)
    every = api.get("/api/coverage").get_json()["types"]
    assert [t["facility_type"] for t in every] == [
        "outdoor_station",
        "mother_room",
        "bookshelf",
        "driver_home",
    ]


def test_what_if_is_computed_on_the_changed_facility_set(api, demo):
    fac = demo.facilities
    body = api.get("/api/coverage?type=outdoor_station&off=OS001,OS002&add=121.70,29.93").get_json()
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import Point

    changed = fac[~fac["id"].isin(["OS001", "OS002"])]
    new = gpd.GeoDataFrame(
        {"id": ["NEW1"], "type": ["outdoor_station"]}, geometry=[Point(121.70, 29.93)], crs=4326
    )
    changed = gpd.GeoDataFrame(pd.concat([changed, new], ignore_index=True), crs=4326)
    s = coverage_summary(
        coverage(changed, demo.demand, facility_type="outdoor_station"),
        demo.areas,
        facilities=changed,
    )
    base = coverage_summary(
        coverage(fac, demo.demand, facility_type="outdoor_station"), demo.areas, facilities=fac
    )
    # published as the baseline plus the rounded change (geo.privacy)
    pub = publish_summary(s, baseline=base, k=10)
    assert body["covered_share"] == round(pub.covered_share, 4)
    assert body["people_covered"] == round_people(base.people_covered, k=10) + round_people(
        s.people_covered - base.people_covered, k=10
    )
    assert body["facilities"] == 44 - 2 + 1
    assert body["scenario"] == {"off": ["OS001", "OS002"], "add": [[121.7, 29.93]], "changed": True}
    assert "NEW1" in [row["id"] for row in body["loads"]]


def test_gaps_respect_the_privacy_floor(api, demo):
    body = api.get("/api/gaps?type=mother_room").get_json()
    people = [f["properties"]["people"] for f in body["features"]]
    assert min(people) >= 10 == body["privacy_k"]
    cov = api.get("/api/coverage?type=mother_room").get_json()
    assert sum(people) + body["withheld_people"] == pytest.approx(cov["people_uncovered"], abs=1.0)
    assert all(p % 10 == 0 for p in people)
    # the cells are those of the privacy-floored layout of all mother-room demand (the same
    # for every scenario), each holding its uncovered people
    group = demo.demand[demo.demand["group"] == "female_nursing"]
    layout = gap_layout(group, resolution=8, k=10)
    assert {f["properties"]["h3"] for f in body["features"]} <= set(layout["h3"])


def test_openapi_describes_every_api_route(api):
    from web import create_app

    spec = api.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    app = create_app({"TESTING": True, "TILES": "none"})
    routes = {
        re.sub(r"<(\w+)>", r"{\1}", r.rule.replace("<fid>", "{id}"))
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/") and r.rule not in ("/api/", "/api/openapi.json")
    }
    assert routes == set(spec["paths"])


def test_exports(api):
    # the export formats themselves: tests/test_export.py
    r = api.get("/planner/export.csv?type=outdoor_station&off=OS001")
    assert r.headers["Content-Disposition"].startswith(
        'attachment; filename="servicemap-areas-outdoor_station-1000m-whatif-'
    )
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    cov = api.get("/api/coverage?type=outdoor_station&off=OS001").get_json()
    assert [row["id"] for row in rows] == [a["area_id"] for a in cov["areas"]]
    gj = json.loads(
        api.get("/planner/export.geojson?type=outdoor_station&off=OS001&table=facilities").data
    )
    assert [
        f["properties"]["in_service"] for f in gj["features"] if f["properties"]["id"] == "OS001"
    ] == [False]
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(api.get("/planner/export.xlsx?type=bookshelf").data))
    assert wb.sheetnames == ["facilities", "areas", "gaps"]
    assert (
        wb["areas"].max_row == len(api.get("/api/coverage?type=bookshelf").get_json()["areas"]) + 1
    )


def test_report_shows_the_same_figures(api):
    html = api.get("/planner/report?type=mother_room").get_data(as_text=True)
    cov = api.get("/api/coverage?type=mother_room").get_json()
    assert f"{cov['covered_share'] * 100:.1f}%" in html
    assert f"{cov['people_uncovered']:,.0f}" in html


def test_suggest_sites(api):
    r = api.get("/api/suggest?type=bookshelf&k=2")
    body = r.get_json()
    assert r.status_code == 200 and len(body["features"]) == 2
    assert body["suggestion"]["proven_optimal"] is True
    # no exact people in the answer: the figures with the sites come from /api/coverage
    assert "people_" not in json.dumps(body)
    add = ";".join(",".join(map(str, f["geometry"]["coordinates"])) for f in body["features"])
    before = api.get("/api/coverage?type=bookshelf").get_json()
    after = api.get(f"/api/coverage?type=bookshelf&add={add}").get_json()
    assert after["covered_share"] >= before["covered_share"]
