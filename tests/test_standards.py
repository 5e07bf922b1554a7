"""Standards as data and compliance: checked against hand-worked tables.

The shipped standards file is read twice: by ``load_standards`` and, independently, by
``tomllib``, so an item without a ``source`` cannot slip through either. Compliance is
checked on hand-built stations (every status and star level, Chinese headers, unknown
cells) and on a few demo stations worked out by hand from ``datasets/beilun/*.csv``.
Coverage by compliant stations is checked against geodesic distances from pyproj.
"""

from __future__ import annotations

import tomllib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import Point

import geo
from geo.demo import datasets_dir
from geo.errors import ValidationError
from geo.privacy import round_people
from geo.standards import (
    DEFAULT_STANDARDS_PATH,
    FIELD_ALIASES,
    compliance,
    compliance_by_area,
    compliant_coverage,
    load_equipment,
    load_standards,
)

DEMO = datasets_dir() / "beilun"


@pytest.fixture(scope="module")
def demo():
    return geo.load_demo("beilun")


@pytest.fixture(scope="module")
def equipment():
    return load_equipment(DEMO / "equipment.csv")


# --------------------------------------------------------------------------- the file
def test_every_requirement_in_the_shipped_file_has_a_source():
    raw = tomllib.loads(DEFAULT_STANDARDS_PATH.read_text(encoding="utf-8"))
    assert raw["stars"]["source"].strip()
    n = 0
    for key, table in raw.items():
        if key == "stars":
            continue
        for item, spec in table["items"].items():
            assert isinstance(spec.get("source"), str) and len(spec["source"].strip()) > 20, (
                key,
                item,
            )
            n += 1
    loaded = load_standards()
    assert n == sum(len(s.items) for s in loaded.values())
    assert all(r.source for s in loaded.values() for r in s.items)


def test_standards_cover_the_four_registry_types_with_the_issue_figures():
    std = load_standards()
    assert list(std) == list(geo.load_registry())
    assert std["outdoor_station"].min_area_m2 == 5.0
    assert std["mother_room"].min_area_m2 == 10.0
    assert std["bookshelf"].min_area_m2 is None
    vol = next(r for r in std["bookshelf"].items if r.key == "volumes")
    assert (vol.column, vol.min, vol.required) == ("volumes", 3000.0, True)
    five = {r.key for r in std["driver_home"].required}
    assert five == {"parking", "rest", "hot_water", "food_heating", "shower", "laundry"}
    toilet = next(r for r in std["outdoor_station"].items if r.key == "toilet")
    assert toilet.required is False  # "where possible"
    # every column an item reads has Chinese and English headers in FIELD_ALIASES
    cols = {r.column for s in std.values() for r in s.items if r.column}
    assert cols <= set(FIELD_ALIASES)


def test_a_district_file_replaces_the_shipped_one(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(
        """
[craft_school.items.room]
label_zh = "教室"
label_en = "classroom"
column = "area_m2"
min = 30
required = true
source = "Beilun union 2024 plan (local)"
[craft_school.stars]
levels = [{ stars = 5, optional_share = 0.0 }]
source = "local"
""",
        encoding="utf-8",
    )
    std = load_standards(f)
    assert list(std) == ["craft_school"]
    assert std["craft_school"].stars_for(0.0) == 5
    fac = gpd.GeoDataFrame(
        {"id": ["a", "b"], "type": "craft_school", "面积": ["45 ㎡", "20"]},
        geometry=[Point(121.8, 29.9)] * 2,
        crs=4326,
    )
    out = compliance(fac, standards=f)
    assert out["status"].tolist() == ["compliant", "not_compliant"]
    assert out["stars"].tolist() == [5, 0]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('[t.items.x]\nlabel_zh="x"\nlabel_en="x"\namenity="water"\nrequired=true\n', "source"),
        ('[t.items.x]\nlabel_zh="x"\nlabel_en="x"\nsource="s"\nrequired=true\n', "amenity"),
        (
            '[t.items.x]\nlabel_zh="x"\nlabel_en="x"\nsource="s"\nrequired="yes"\ncolumn="a"\n',
            "required",
        ),  # fmt: skip
        ("[t]\nfoo = 1\n", "no items"),
    ],
)
def test_a_malformed_file_names_the_type_and_item(tmp_path, body, match):
    f = tmp_path / "bad.toml"
    f.write_text('[stars]\nlevels=[{stars=1, optional_share=0}]\nsource="s"\n' + body)
    with pytest.raises(ValidationError, match=match) as e:
        load_standards(f)
    assert "'t'" in str(e.value)


# --------------------------------------------------------------------------- by hand
def _stations():
    base = ["water", "microwave", "charging", "medicine"]
    rows = [
        # id, amenities, area header value, tables, map, staff
        ("A", base + ["toilet", "fridge"], "6", "有", "是", "1"),  # all: 3 stars
        ("B", base + ["toilet", "fridge"], "4.5", "有", "是", "1"),  # area too small
        ("C", base, "8", "", "", ""),  # tables not recorded
        ("D", [], "8", "有", "", ""),  # no amenities recorded
        ("E", base + ["toilet"], "5", "yes", "no", "0"),  # 1 of 4 optional: 1 star
        ("F", base + ["toilet", "fridge"], "12 m2", "1", "0", None),  # 2 of 4: 2 stars
        ("G", ["water", "microwave", "charging"], "", "无", "", ""),  # two missing
    ]
    return gpd.GeoDataFrame(
        {
            "id": [r[0] for r in rows],
            "type": "outdoor_station",
            "name": [f"station {r[0]}" for r in rows],
            "amenities": [r[1] for r in rows],
            "面积（平方米）": [r[2] for r in rows],
            "桌椅": [r[3] for r in rows],
            "on_map": [r[4] for r in rows],
            "管理人员": [r[5] for r in rows],
        },
        geometry=[Point(121.8 + 0.01 * i, 29.9) for i in range(len(rows))],
        crs=4326,
    )


HAND = {  # id: status, stars, missing, unknown
    "A": ("compliant", 3, [], []),
    "B": ("not_compliant", 0, ["area"], []),
    "C": ("unknown", None, ["toilet", "fridge"], ["tables_chairs", "on_map", "staffed"]),
    "D": (
        "unknown",
        None,
        [],
        ["water", "microwave", "charging", "first_aid", "toilet", "on_map", "staffed", "fridge"],
    ),
    "E": ("compliant", 1, ["on_map", "staffed", "fridge"], []),
    "F": ("compliant", 2, ["on_map"], ["staffed"]),
    "G": ("not_compliant", 0, ["tables_chairs", "first_aid", "toilet", "fridge"],
          ["area", "on_map", "staffed"]),
}  # fmt: skip


def test_hand_built_stations_match_the_hand_worked_table():
    out = compliance(_stations()).set_index("id")
    for fid, (status, stars, missing, unknown) in HAND.items():
        row = out.loc[fid]
        assert row["status"] == status, fid
        assert (None if pd.isna(row["stars"]) else int(row["stars"])) == stars, fid
        assert row["missing"] == missing, fid
        assert row["unknown"] == unknown, fid
        assert set(row["met"]) | set(missing) | set(unknown) == {
            "area", "water", "microwave", "tables_chairs", "charging", "first_aid",
            "toilet", "on_map", "staffed", "fridge",
        }  # fmt: skip
    assert out["compliant"].tolist() == [s == "compliant" for s, *_ in HAND.values()]
    assert out.loc["G", "missing_required"] == ["tables_chairs", "first_aid"]
    assert out.loc["A", "required_met"] == out.loc["A", "n_required"] == 6
    assert out.loc["G", "item_area"] == -1 and out.loc["B", "item_area"] == 0


def test_absent_fields_are_unknown_never_met():
    fac = _stations()[["id", "type", "geometry"]]
    out = compliance(fac)
    assert (out["status"] == "unknown").all()
    assert out["met"].map(len).eq(0).all()
    assert out["stars"].isna().all()
    assert "area_m2" in out.attrs["fields_absent"]


def test_unreadable_cells_warn_and_count_as_unknown():
    fac = _stations()
    fac["桌椅"] = ["有", "有", "有", "maybe", "有", "有", "有"]
    with pytest.warns(UserWarning, match=r"'桌椅' \(tables_chairs\).*'maybe'"):
        out = compliance(fac).set_index("id")
    assert out.loc["D", "item_tables_chairs"] == -1


def test_an_equipment_table_is_matched_on_id_and_wins():
    fac = _stations()[["id", "type", "amenities", "geometry"]]
    eq = pd.DataFrame({"编号": ["B", "A"], "面积": ["50", "2"], "tables_chairs": ["有", "有"]})
    out = compliance(fac, equipment=eq).set_index("id")
    assert out.loc["A", "item_area"] == 0 and out.loc["B", "item_area"] == 1
    assert out.loc["C", "item_area"] == -1  # not in the table: unknown
    with pytest.raises(ValidationError, match="'A' appears more than once"):
        compliance(fac, equipment=pd.concat([eq, eq.iloc[[1]]]))
    with pytest.raises(ValidationError, match="no id column"):
        compliance(fac, equipment=eq.drop(columns="编号"))


# --------------------------------------------------------------------------- the demo
DEMO_HAND = {  # worked out by hand from facilities.csv and equipment.csv
    # OS001: 22.7 m², 桌椅 有, medicine; all four optional items: 3 stars
    "OS001": ("compliant", 3, [], []),
    # OS002: no medicine / first-aid kit; 管理人员 0
    "OS002": ("not_compliant", 0, ["first_aid", "staffed"], []),
    # OS003: 桌椅 not recorded, but no first-aid kit: missing wins over unknown
    "OS003": ("not_compliant", 0, ["first_aid", "fridge"], ["tables_chairs"]),
    # OS005: 3.2 m² < 5, 地图标注 无
    "OS005": ("not_compliant", 0, ["area", "on_map"], []),
    # MR001: area not recorded, everything else there
    "MR001": ("unknown", None, [], ["area"]),
    # MR002: 16.5 m², full kit, on a map: its one optional item: 3 stars
    "MR002": ("compliant", 3, [], []),
    # BS001: plaque, shelves, PC, 5,000 volumes, digital; Wi-Fi yes, keeper 0: 1/2 -> 2
    "BS001": ("compliant", 2, ["staffed"], []),
    # DH01: the five free services, toilet and staff: 3 stars
    "DH01": ("compliant", 3, [], []),
}


def test_demo_stations_match_the_hand_worked_table(demo, equipment):
    out = compliance(demo.facilities, equipment=equipment).set_index("id")
    assert len(out) == len(demo.facilities)
    for fid, (status, stars, missing, unknown) in DEMO_HAND.items():
        row = out.loc[fid]
        got = (
            row["status"],
            None if pd.isna(row["stars"]) else int(row["stars"]),
            row["missing"],
            row["unknown"],
        )
        assert got == (status, stars, missing, unknown), fid


def test_compliant_coverage_matches_geodesic_distances(demo, equipment):
    res = compliant_coverage(
        demo.facilities, demo.demand, facility_type="outdoor_station", equipment=equipment
    )
    comp = compliance(demo.facilities, equipment=equipment, facility_type="outdoor_station")
    ok = demo.facilities.set_index("id").loc[comp.loc[comp["compliant"], "id"]]
    assert res.attrs["n_compliant"] == len(ok) == int(comp["compliant"].sum()) > 0
    geod = Geod(ellps="WGS84")

    def within(fac):
        fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
        dx, dy = res.geometry.x.to_numpy(), res.geometry.y.to_numpy()
        lon1, lon2 = np.meshgrid(fx, dx)
        lat1, lat2 = np.meshgrid(fy, dy)
        _, _, d = geod.inv(lon1, lat1, lon2, lat2)
        return d.min(axis=1) <= 1000.0

    all_st = demo.facilities[demo.facilities["type"] == "outdoor_station"]
    assert (res["covered"].to_numpy() == within(all_st)).all()
    assert (res["covered_compliant"].to_numpy() == within(ok)).all()
    only_bad = res["covered_noncompliant_only"].to_numpy()
    assert (only_bad == (res["covered"] & ~res["covered_compliant"]).to_numpy()).all()
    assert res.loc[only_bad, "weight"].sum() > 0  # the demo has such workers


def test_compliance_by_area_counts_like_a_spatial_join(demo, equipment):
    comp = compliance(demo.facilities, equipment=equipment, facility_type="outdoor_station")
    res = compliant_coverage(
        demo.facilities, demo.demand, facility_type="outdoor_station", equipment=equipment
    )
    sub = demo.areas[demo.areas["level"] == "subdistrict"]
    by = compliance_by_area(comp, sub, coverage=res).set_index("area_id")
    joined = gpd.sjoin(comp, sub[["id", "geometry"]], predicate="within")
    n = joined.groupby("id_right").size()
    good = joined[joined["compliant"]].groupby("id_right").size()
    for aid in sub["id"].astype(str):
        assert by.loc[aid, "facilities"] == n.get(aid, 0)
        assert by.loc[aid, "compliant"] == good.get(aid, 0)
    assert by["facilities"].sum() == len(comp)
    dj = gpd.sjoin(res, sub[["id", "geometry"]], predicate="within")
    people = dj.groupby("id_right")["weight"].sum()
    covc = dj[dj["covered_compliant"]].groupby("id_right")["weight"].sum()
    for aid in people.index:
        assert by.loc[aid, "people"] == pytest.approx(people[aid])
        assert by.loc[aid, "compliant_covered_share"] == pytest.approx(
            covc.get(aid, 0.0) / people[aid]
        )
    assert (by["compliant_covered_share"] <= by["covered_share"] + 1e-12).all()


def test_an_unknown_type_is_refused():
    with pytest.raises(ValidationError, match="no standard"):
        compliance(_stations(), facility_type="craft_school")


# --------------------------------------------------------------------------- the web
def test_api_compliance_matches_geo_and_rounds_people(client, demo, equipment):
    body = client.get("/api/compliance?type=outdoor_station").get_json()
    comp = compliance(demo.facilities, equipment=equipment, facility_type="outdoor_station")
    t = body["types"]["outdoor_station"]
    assert t["compliant"] == int(comp["compliant"].sum())
    assert [f["id"] for f in body["facilities"]] == comp["id"].tolist()
    assert {f["id"]: f["status"] for f in body["facilities"]}["OS002"] == "not_compliant"
    res = compliant_coverage(
        demo.facilities, demo.demand, facility_type="outdoor_station", equipment=equipment
    )
    only_bad = res.loc[res["covered_noncompliant_only"], "weight"].sum()
    cov = body["coverage"]
    assert cov["covered_noncompliant_only"] == round_people(only_bad, k=10)
    for people in [cov["people_total"], cov["covered"], *(a["people"] for a in body["areas"])]:
        assert people % 10 == 0
    everything = client.get("/api/compliance").get_json()
    assert set(everything["types"]) == set(load_standards())
    assert "coverage" not in everything
    r = client.get("/api/compliance?type=nope")
    assert r.status_code == 400 and r.get_json()["error"]["parameter"] == "type"


def test_compliance_page_and_csv(client):
    r = client.get("/planner/compliance?type=mother_room&lang=en")
    assert r.status_code == 200
    assert "nonce-" in r.headers["Content-Security-Policy"]
    html = r.get_data(as_text=True)
    assert 'data-id="MR001"' in html and "Compliance with the standards" in html
    assert 'src="http' not in html  # no CDN
    csv_text = client.get("/planner/compliance.csv?type=mother_room").get_data(as_text=True)
    lines = csv_text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id,type,name,status,stars")
    assert len(lines) == 1 + 43
    planner = client.get("/planner/?type=mother_room").get_data(as_text=True)
    assert "/planner/compliance?type=mother_room" in planner


@pytest.mark.browser
def test_compliance_page_in_chromium(page, live_server):
    from tests.conftest import XSS_ID, XSS_NAME

    page.goto(live_server.url + "/planner/compliance?type=outdoor_station")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    body = page.evaluate("async () => (await fetch('/api/compliance?type=outdoor_station')).json()")
    assert page.locator("#sm-c-compliant").inner_text() == str(
        body["types"]["outdoor_station"]["compliant"]
    )
    paths = page.locator(".leaflet-overlay-pane path.sm-c-marker")
    assert paths.count() == len(body["facilities"]) == page.evaluate("smCompliance.markers")
    bad = sum(f["status"] == "not_compliant" for f in body["facilities"])
    assert page.locator("path.sm-c-not_compliant").count() == bad
    assert page.locator(f"#sm-compliance tr[data-id='{XSS_ID}'] th").inner_text() == XSS_NAME
    page.locator(f".leaflet-overlay-pane path[data-id='{XSS_ID}']").hover()
    assert XSS_NAME in page.locator(".leaflet-tooltip").inner_text()
    rows = page.locator("#sm-criticality tbody tr")
    crit = page.evaluate(
        "async () => (await fetch('/api/criticality?type=outdoor_station')).json()"
    )
    assert rows.first.get_attribute("data-id") == crit["facilities"][0]["id"]
