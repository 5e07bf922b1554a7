"""The planner's exports (geo/export.py, /planner/export.<fmt>) and the gap layer they and the
maps draw (geo.maps.gap_layer): every format reads back through servicemap's own loaders."""

from __future__ import annotations

import io
import json
import re
import zipfile

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Polygon

from geo import load_areas, load_demand, load_facilities
from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from geo.export import FACILITY_FIELDS, defuse_cell, export_tables, facility_table
from geo.maps import gap_class_index, gap_classes, gap_layer, gap_map
from web.state import Scenario

GEOD = Geod(ellps="WGS84")
WHATIF = Scenario("outdoor_station", threshold_m=1000.0, off=("OS001",), add=((121.85, 29.9),))
SUFFIX = {"csv": "csv", "xlsx": "xlsx", "geojson": "geojson", "gpkg": "gpkg", "zip": "zip"}


@pytest.fixture(scope="module")
def app():
    from web import create_app

    return create_app({"TESTING": True, "TILES": "none"})


@pytest.fixture(scope="module")
def appdata(app):
    return app.extensions["servicemap"]


@pytest.fixture(scope="module")
def frames(app, appdata):
    from web.planner import export_frames

    with app.test_request_context("/"):
        return export_frames(appdata, WHATIF, "zh")


def _write(tmp_path, frames, fmt, table, datum, encoding="utf-8"):
    path = tmp_path / f"{table}-{datum}-{encoding}.{SUFFIX[fmt]}"
    path.write_bytes(export_tables(frames, fmt, table=table, datum=datum, encoding=encoding))
    return path


def _metres(lon_a, lat_a, lon_b, lat_b) -> np.ndarray:
    return GEOD.inv(lon_a, lat_a, lon_b, lat_b)[2]


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("datum", ["wgs84", "gcj02"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson", "gpkg", "zip"])
def test_facilities_read_back_unchanged(tmp_path, frames, fmt, datum):
    src = frames["facilities"]
    # a GeoPackage and a workbook hold every table: the loaders ask which (layer=)
    layer = "facilities" if fmt in ("gpkg", "xlsx") else None
    got = load_facilities(
        _write(tmp_path, frames, fmt, "facilities", datum), datum=datum, layer=layer
    )
    assert got["id"].tolist() == src["id"].tolist()  # the closed one and the new site too
    for col in ("type", "name", "address", "hours", "level", "contact", "source", "updated_at"):
        assert got[col].astype(str).tolist() == src[col].astype(str).tolist(), col
    assert [";".join(a) for a in got["amenities"]] == src["amenities"].tolist()
    np.testing.assert_array_equal(got["capacity"].isna(), src["capacity"].isna())
    np.testing.assert_allclose(got["capacity"].dropna(), src["capacity"].dropna())
    # geodesic metres between what went out (WGS84) and what came back through the datum
    d = _metres(src.geometry.x, src.geometry.y, got.geometry.x, got.geometry.y)
    assert d.max() < 0.01


def test_facility_coordinates_are_written_in_the_datum(tmp_path, frames):
    src = frames["facilities"]
    for datum, shift in (("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)):
        body = json.loads(export_tables(frames, "geojson", table="facilities", datum=datum))
        assert body["datum"] == datum
        assert {f["properties"]["datum"] for f in body["features"]} == {datum}
        xy = np.array([f["geometry"]["coordinates"] for f in body["features"]])
        lon, lat = shift(src.geometry.x.to_numpy(), src.geometry.y.to_numpy())
        np.testing.assert_allclose(xy, np.column_stack([lon, lat]), atol=1e-9)
        # the shift is real: a few hundred metres, not nothing
        assert _metres(src.geometry.x, src.geometry.y, xy[:, 0], xy[:, 1]).min() > 100
        back = tmp_path / f"f-{datum}.geojson"
        back.write_bytes(export_tables(frames, "geojson", table="facilities", datum=datum))
        got = load_facilities(back, datum=datum)
        assert _metres(src.geometry.x, src.geometry.y, got.geometry.x, got.geometry.y).max() < 0.01


@pytest.mark.parametrize("datum", ["wgs84", "gcj02"])
@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "zip"])
def test_areas_read_back_unchanged(tmp_path, frames, fmt, datum):
    src = frames["areas"]
    layer = "areas" if fmt == "gpkg" else None
    got = load_areas(_write(tmp_path, frames, fmt, "areas", datum), datum=datum, layer=layer)
    for col in ("id", "name", "level"):
        assert got[col].tolist() == src[col].tolist()
    assert got["name_en"].fillna("").tolist() == src["name_en"].fillna("").tolist()
    a, b = got.to_crs(32651).geometry, src.to_crs(32651).geometry
    assert max(x.hausdorff_distance(y) for x, y in zip(a, b, strict=True)) < 0.01


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson", "gpkg", "zip"])
def test_gap_cells_read_back_as_the_same_people(tmp_path, frames, fmt):
    src = frames["gaps"]
    layer = "gaps" if fmt in ("gpkg", "xlsx") else None
    got = load_demand(_write(tmp_path, frames, fmt, "gaps", "gcj02"), datum="gcj02", layer=layer)
    assert set(got["group"]) == {"outdoor"}
    people = got.groupby("source_id")["weight"].sum()
    np.testing.assert_allclose(people.loc[src["id"]].to_numpy(), src["people"].to_numpy())
    if fmt in ("csv", "xlsx"):  # a point at each cell's centre, through the datum
        got = got.set_index("source_id").loc[src["id"]]
        assert _metres(src["lon"], src["lat"], got.geometry.x, got.geometry.y).max() < 0.01


def test_gbk_shapefile_reads_back_with_its_names(tmp_path, frames):
    path = _write(tmp_path, frames, "zip", "facilities", "wgs84", encoding="gbk")
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        assert zf.read("facilities.cpg").decode("ascii").upper() == "GBK"
        dbf = zf.read("facilities.dbf")
    assert names == [f"facilities.{x}" for x in ("cpg", "dbf", "prj", "shp", "shx")]
    name = frames["facilities"]["name"].iloc[0]
    assert name.encode("gbk") in dbf and name.encode("utf-8") not in dbf
    got = load_facilities(path)
    assert got["name"].tolist() == frames["facilities"]["name"].tolist()


def test_kml_holds_every_table_the_asked_one_first(tmp_path, frames):
    # servicemap's loaders do not read KML: read it with GDAL, as Google Earth users would
    path = tmp_path / "gaps.kml"
    path.write_bytes(export_tables(frames, "kml", table="gaps"))
    assert [name for name, _ in pyogrio.list_layers(path)] == ["gaps", "facilities", "areas"]
    fac = pyogrio.read_dataframe(path, layer="facilities")
    assert fac["Name"].tolist() == frames["facilities"]["name"].tolist()
    src = frames["facilities"]
    assert _metres(src.geometry.x, src.geometry.y, fac.geometry.x, fac.geometry.y).max() < 0.01


# --------------------------------------------------------------------------- file details


def test_csv_has_a_bom_and_defused_cells():
    hostile = gpd.GeoDataFrame(
        {"id": ["S1", "S2"], "name": ['=HYPERLINK("http://x")', "@SUM(1)"], "n": [-1, 2]},
        geometry=gpd.points_from_xy([121.8, 121.9], [29.9, 29.8]),
        crs=4326,
    )
    raw = export_tables({"facilities": hostile}, "csv")
    assert raw.startswith("\ufeff".encode())
    back = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert back["name"].tolist() == ['\'=HYPERLINK("http://x")', "'@SUM(1)"]
    assert back["n"].tolist() == [-1, 2]  # numbers stay numbers
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(export_tables({"facilities": hostile}, "xlsx")))["facilities"]
    assert ws["B2"].value == '\'=HYPERLINK("http://x")' and ws["B2"].data_type == "s"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("+86 574", "'+86 574"), ("-x", "'-x"), ("\tx", "'\tx"), ("北仑", "北仑")],
)
def test_defuse_cell(value, expected):
    assert defuse_cell(value) == expected


def test_excel_sheets_frozen_headers_number_formats(frames):
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(export_tables(frames, "xlsx", table="gaps")))
    assert wb.sheetnames == ["gaps", "facilities", "areas"]
    gaps = wb["gaps"]
    assert all(wb[s].freeze_panes == "A2" for s in wb.sheetnames)
    header = [c.value for c in gaps[1]]
    assert header[:6] == ["id", "group", "people", "resolution", "lon", "lat"]
    assert gaps.cell(2, header.index("people") + 1).number_format == "#,##0"
    assert gaps.cell(2, header.index("lon") + 1).number_format == "0.000000"
    share = [c.value for c in wb["areas"][1]].index("covered_share") + 1
    assert wb["areas"].cell(2, share).number_format == "0.0%"
    assert gaps.cell(2, header.index("subdistrict") + 1).value.endswith("街道")


def test_facility_table_marks_closed_and_new(frames, appdata):
    fac = frames["facilities"]
    assert list(fac.columns[: len(FACILITY_FIELDS)]) == list(FACILITY_FIELDS)
    assert fac.loc[fac["id"] == "OS001", "in_service"].tolist() == [False]
    assert np.isnan(fac.loc[fac["id"] == "OS001", "people_covered"]).all()
    new = fac[fac["id"] == "NEW1"]
    assert len(new) == 1 and new.geometry.x.iloc[0] == 121.85
    # the loads are the planner's own figures
    body = appdata.coverage_json(WHATIF, area_level=None, lang="zh")
    loads = {x["id"]: x["people_covered"] for x in body["loads"]}
    on = fac[fac["in_service"]]
    assert on["people_covered"].tolist() == [loads[i] for i in on["id"]]
    assert (
        len(facility_table(appdata.demo.facilities, facility_type="bookshelf"))
        == (appdata.demo.facilities["type"] == "bookshelf").sum()
    )


def test_export_route(app, tmp_path):
    c = app.test_client()
    q = "type=outdoor_station&off=OS001&table=gaps&out_datum=gcj02"
    r = c.get(f"/planner/export.gpkg?{q}")
    assert r.status_code == 200 and r.mimetype == "application/geopackage+sqlite3"
    assert r.headers["Content-Disposition"].endswith('-gcj02.gpkg"')
    (tmp_path / "x.gpkg").write_bytes(r.data)
    layers = pyogrio.list_layers(tmp_path / "x.gpkg")
    assert [name for name, _ in layers] == ["gaps", "facilities", "areas"]
    for bad in ("table=people", "out_datum=utm", "encoding=latin1"):
        r = c.get(f"/planner/export.zip?type=outdoor_station&{bad}")
        assert r.status_code == 400, bad
    assert c.get("/planner/export.pdf?type=outdoor_station").status_code == 400


# --------------------------------------------------------------------------- the gap layer


def test_gap_numbers_are_the_planners(frames, appdata):
    cells = appdata.gap_cells(WHATIF)
    gaps = frames["gaps"].set_index("id")
    assert set(gaps.index) <= set(cells["h3"])
    by_id = cells.set_index("h3")["people"]
    np.testing.assert_array_equal(gaps["people"].to_numpy(), by_id.loc[gaps.index].to_numpy())
    assert (gaps["people"] >= 10).all()


@pytest.mark.parametrize("ftype", ["outdoor_station", "mother_room", "bookshelf"])
def test_drawn_gap_cells_stay_inside_the_district(appdata, ftype):
    sc = appdata.default_scenario(ftype)
    cells = appdata.gap_cells(sc)
    drawn = appdata.gap_layer(sc)
    district = appdata.demo.boundary.union_all()  # clipped in lon/lat, so compared there

    def m2(geoms) -> np.ndarray:
        return gpd.GeoSeries(list(geoms), crs=4326).to_crs(32651).area.to_numpy()

    outside = m2(shapely.difference(drawn.geometry.to_numpy(), district))
    assert outside.max() < 0.01  # m2: nothing drawn beyond the boundary
    # merged cells are drawn as their children, not as parent hexagons
    merged = drawn[drawn["resolution"] < 8]
    assert len(merged) > 0 or ftype == "bookshelf"  # dense demand: nothing to merge
    fine = set(appdata.gap_layout(ftype).attrs["fine_cells"])
    for h, geom in zip(merged["h3"], merged.geometry, strict=True):
        kids = [c for c in fine if h3.cell_to_parent(c, h3.get_resolution(h)) == h]
        # independently: the children's hexagons from their vertices, unioned, clipped
        hexes = shapely.union_all(
            [Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in kids]
        )
        expected = hexes.intersection(district)
        assert m2([geom.symmetric_difference(expected)])[0] < 1.0, h
        assert m2([geom])[0] < h3.cell_area(h, unit="m^2") * 0.999, h
    shapes = drawn.to_crs(32651)
    # drawn shapes never overlap, so no one is drawn twice
    union = shapes.geometry.union_all().area
    assert abs(union - shapes.geometry.area.sum()) < 1.0
    # and everyone drawn is the floor's: same cells, same people, same order
    assert drawn["h3"].tolist() == [h for h in cells["h3"] if h in set(drawn["h3"])]
    np.testing.assert_array_equal(
        drawn["weight"].to_numpy(), cells.set_index("h3").loc[drawn["h3"], "people"].to_numpy()
    )


def test_gap_classes_match_the_cells_drawn(appdata):
    summary = appdata.summary(appdata.default_scenario("mother_room"))
    m = gap_map(summary.gaps, k=10, boundary=appdata.demo.boundary, tiles="none")
    html = m.get_root().render()
    classes = gap_classes(10)
    for c in classes:
        assert c["label"] in html and c["color"] in html
    geojson = next(
        ch
        for ch in m._children.values()
        if type(ch).__name__ == "GeoJson" and "people" in str(ch.data)
    )
    feats = geojson.data["features"]
    people = np.array([f["properties"]["people"] for f in feats])
    lows = np.array([10, 20, 50, 100, 200, 500])
    expected = [classes[i]["color"] for i in np.digitize(people, lows) - 1]
    assert [f["properties"]["fill"] for f in feats] == expected
    # the planner's map data carries the same classes
    body = appdata.gap_layer_geojson(appdata.default_scenario("mother_room"), "wgs84")
    assert body["classes"] == classes
    assert [f["properties"]["gap_class"] for f in body["features"]] == list(
        gap_class_index([f["properties"]["people"] for f in body["features"]], classes)
    )


def test_gap_layer_checks_its_input():
    with pytest.raises(ValueError, match="no column 'weight'"):
        gap_layer(gpd.GeoDataFrame({"h3": []}, geometry=[], crs=4326))
    with pytest.raises(ValueError, match="k=-1"):
        gap_classes(-1)


@pytest.mark.browser
def test_planner_map_has_the_legend_and_a_metric_scale(page, live_server):
    page.goto(live_server.url + "/planner/?type=mother_room")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    legend = page.locator("#sm-gap-legend .sm-gap-class")
    classes = gap_classes(10)
    assert [legend.nth(i).inner_text() for i in range(legend.count())] == [
        c["label"] for c in classes
    ]
    # the cells drawn take the legend's colours, class by the people in each
    body = page.evaluate("async () => (await fetch('/api/gaps?type=mother_room')).json()")
    want = sorted(
        classes[i]["color"]
        for i in gap_class_index([f["properties"]["people"] for f in body["features"]], classes)
    )
    drawn = page.evaluate(
        "Array.from(document.querySelectorAll('path.sm-gap-cell'), p => p.getAttribute('fill'))"
    )
    assert sorted(drawn) == want
    # one scale line, in metres or kilometres
    lines = page.locator(".leaflet-control-scale-line")
    assert lines.count() == 1 and re.search(r"^\d+ k?m$", lines.first.inner_text())
