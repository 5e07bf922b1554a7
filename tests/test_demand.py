"""Tests for geo.demand: loading demand layers, H3 aggregation and the privacy floor."""

from __future__ import annotations

import math

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from pyproj import Geod
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box

from geo.crs import gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from geo.demand import (
    DEMAND_COLUMNS,
    apply_privacy_floor,
    demand_summary,
    load_demand,
    to_h3,
)
from geo.errors import CRSError, ValidationError

GEOD = Geod(ellps="WGS84")
BEILUN = (121.70, 29.75, 122.20, 30.00)  # rough lon/lat box around Beilun District


def _write_csv(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return path


def _xy(gdf):
    return np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])


def _geod_length(coords):
    """Geodesic length (m) of a lon/lat polyline."""
    lon, lat = np.asarray(coords, dtype=float).T
    return float(GEOD.line_length(lon, lat))


# --------------------------------------------------------------------------------------
# points


def test_points_with_chinese_headers(tmp_path):
    path = _write_csv(
        tmp_path / "riders.csv",
        '编号,经度,纬度,人数,人群\nA1,121.85,29.90,12,outdoor\nA2, 121.86 ,29.91,"1,250",outdoor\n',
    )
    d = load_demand(path)
    assert list(d.columns) == list(DEMAND_COLUMNS)
    assert d.crs.to_epsg() == 4326
    assert d["id"].tolist() == ["A1", "A2"]
    assert d["source_id"].tolist() == ["A1", "A2"]
    assert d["group"].tolist() == ["outdoor", "outdoor"]
    assert d["weight"].tolist() == [12.0, 1250.0]
    assert d["kind"].tolist() == ["point", "point"]
    assert d["route_id"].tolist() == ["", ""]
    assert d["route_pos_m"].isna().all()
    np.testing.assert_array_equal(_xy(d), [[121.85, 29.90], [121.86, 29.91]])


def test_gb18030_csv_and_group_argument(tmp_path):
    path = _write_csv(
        tmp_path / "gbk.csv", "经度,纬度,职工人数\n121.85,29.90,7\n", encoding="gb18030"
    )
    d = load_demand(path, group="outdoor")
    assert d["group"].tolist() == ["outdoor"]
    assert d["weight"].tolist() == [7.0]
    assert d["id"].tolist() == ["1"]


def test_workplace_file_gives_two_groups(tmp_path):
    path = _write_csv(
        tmp_path / "workplaces.csv",
        "id,lng,lat,headcount,female_share\nW1,121.85,29.90,200,0.3\nW2,121.86,29.91,50,0\n",
    )
    d = load_demand(path)
    assert d["id"].tolist() == [
        "W1:all_workers",
        "W1:female_nursing",
        "W2:all_workers",
        "W2:female_nursing",
    ]
    assert d["group"].tolist() == ["all_workers", "female_nursing"] * 2
    np.testing.assert_allclose(d["weight"], [200.0, 60.0, 50.0, 0.0])
    assert d["source_id"].tolist() == ["W1", "W1", "W2", "W2"]
    # both rows of a workplace sit at the workplace
    np.testing.assert_array_equal(_xy(d)[0], _xy(d)[1])


def test_workplace_excel_with_chinese_headers(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["编号", "经度", "纬度", "职工人数", "女职工占比"])
    ws.append([101, 121.85, 29.90, 80, 0.5])
    ws.append(["102", "121.86", "29.91", "40", "0.25"])
    path = tmp_path / "单位.xlsx"
    wb.save(path)
    d = load_demand(path)
    assert d["id"].tolist() == [
        "101:all_workers",
        "101:female_nursing",
        "102:all_workers",
        "102:female_nursing",
    ]
    np.testing.assert_allclose(d["weight"], [80, 40, 40, 10])


def test_workplace_ignores_group_argument_with_warning(tmp_path):
    path = _write_csv(tmp_path / "w.csv", "lon,lat,headcount,female_share\n121.85,29.90,10,0.5\n")
    with pytest.warns(UserWarning, match="group='outdoor' is ignored"):
        d = load_demand(path, group="outdoor")
    assert d["group"].tolist() == ["all_workers", "female_nursing"]


def test_blank_lines_are_skipped_and_rows_keep_file_numbers(tmp_path):
    path = _write_csv(tmp_path / "blank.csv", "lon,lat,weight\n121.85,29.90,1\n\n121.86,29.91,-2\n")
    with pytest.raises(
        ValidationError, match=r"blank\.csv: 1 problem found.*\n  - row 4, field 'weight'"
    ):
        load_demand(path, group="outdoor")


def test_points_without_weight_count_one_each():
    g = gpd.GeoDataFrame(geometry=[Point(121.85, 29.9), Point(121.86, 29.9)], crs=4326)
    d = load_demand(g, group="outdoor")
    assert d["weight"].tolist() == [1.0, 1.0]


def test_explicit_weight_and_id_columns():
    g = gpd.GeoDataFrame(
        {"code": ["x", "y"], "riders": [3, 4], "weight": [100, 100]},
        geometry=[Point(121.85, 29.9), Point(121.86, 29.9)],
        crs=4326,
    )
    d = load_demand(g, group="outdoor", weight="riders", id_column="code")
    assert d["weight"].tolist() == [3.0, 4.0]
    assert d["id"].tolist() == ["x", "y"]


def test_projected_geodataframe_is_returned_in_wgs84():
    g = gpd.GeoDataFrame({"weight": [5]}, geometry=[Point(121.85, 29.9)], crs=4326).to_crs(32651)
    d = load_demand(g, group="outdoor")
    assert d.crs.to_epsg() == 4326
    np.testing.assert_allclose(_xy(d), [[121.85, 29.9]], atol=1e-9)


# --------------------------------------------------------------------------------------
# datums


def test_gcj02_csv_lands_on_wgs84(tmp_path):
    wgs = np.array([[121.85, 29.90], [121.95, 29.85], [122.05, 29.95]])
    glon, glat = wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])
    lines = "\n".join(f"{float(x)!r},{float(y)!r},1" for x, y in zip(glon, glat, strict=True))
    path = _write_csv(tmp_path / "amap.csv", "lon,lat,weight\n" + lines + "\n")
    d = load_demand(path, datum="gcj02", group="outdoor")
    expected = np.column_stack(gcj02_to_wgs84(glon, glat))
    np.testing.assert_allclose(_xy(d), expected, rtol=0, atol=1e-12)
    # and that is the true position (the shift itself is hundreds of metres)
    np.testing.assert_allclose(_xy(d), wgs, rtol=0, atol=1e-8)
    assert np.abs(glon - wgs[:, 0]).max() > 1e-3


def test_gcj02_lines_and_bd09_points_in_frames():
    route = [(121.80, 29.90), (121.85, 29.92)]
    gx, gy = wgs84_to_gcj02([p[0] for p in route], [p[1] for p in route])
    g = gpd.GeoDataFrame(
        {"weight": [100]}, geometry=[LineString(zip(gx, gy, strict=True))], crs=4326
    )
    d = load_demand(g, datum="gcj02", group="truck_drivers")
    # the samples lie on the WGS84 line, not on the shifted one
    true_line = LineString(route)
    dist = [
        GEOD.inv(*p.coords[0], *true_line.interpolate(true_line.project(p)).coords[0])[2]
        for p in d.geometry
    ]
    assert max(dist) < 0.01  # metres; the GCJ-02 shift is hundreds of metres
    bx, by = wgs84_to_bd09([121.9], [29.9])
    b = gpd.GeoDataFrame({"weight": [1]}, geometry=[Point(bx[0], by[0])], crs=4326)
    db = load_demand(b, datum="bd09", group="outdoor")
    np.testing.assert_allclose(_xy(db), [[121.9, 29.9]], rtol=0, atol=1e-8)


def test_datum_on_projected_frame_is_refused():
    g = gpd.GeoDataFrame({"weight": [5]}, geometry=[Point(500000, 3300000)], crs=32651)
    with pytest.raises(CRSError, match="datum='gcj02' applies to longitude/latitude"):
        load_demand(g, datum="gcj02", group="outdoor")


def test_unknown_datum():
    g = gpd.GeoDataFrame({"weight": [5]}, geometry=[Point(121.8, 29.9)], crs=4326)
    with pytest.raises(CRSError, match="datum='wgs85'"):
        load_demand(g, datum="wgs85", group="outdoor")


# --------------------------------------------------------------------------------------
# polygons


# An irregular polygon (an L-shaped industrial park with a slanted edge), about 4 x 3 km.
PARK = Polygon(
    [
        (121.80, 29.88),
        (121.84, 29.88),
        (121.84, 29.895),
        (121.82, 29.90),
        (121.815, 29.907),
        (121.80, 29.907),
    ]
)


def _geod_area(poly):
    area, _ = GEOD.geometry_area_perimeter(poly)
    return abs(area)


def test_polygon_spreading_conserves_population_and_stays_inside():
    g = gpd.GeoDataFrame({"id": ["park"], "population": [12345.6]}, geometry=[PARK], crs=4326)
    d = load_demand(g, group="all_workers", area_cell_m=200)
    assert (d["kind"] == "area").all()
    assert (d["source_id"] == "park").all()
    assert d["id"].is_unique
    assert d["route_id"].eq("").all() and d["route_pos_m"].isna().all()
    assert math.isclose(d["weight"].sum(), 12345.6, rel_tol=1e-9)
    assert (d["weight"] > 0).all()
    assert PARK.covers(d.geometry).all()
    # about one point per 200 m cell
    assert abs(len(d) - _geod_area(PARK) / 200**2) < 0.15 * len(d)


def test_polygon_density_is_uniform():
    cell = 100.0
    rect = box(121.80, 29.88, 121.86, 29.91)  # ~5.8 x 3.3 km
    pop = 50_000.0
    g = gpd.GeoDataFrame({"weight": [pop]}, geometry=[rect], crs=4326)
    d = load_demand(g, group="all_workers", area_cell_m=cell)
    # an interior grid cell holds its area's share of the people
    full = pop * cell**2 / _geod_area(rect)
    np.testing.assert_allclose(d["weight"].max(), full, rtol=5e-3)
    assert (d["weight"] <= d["weight"].max() * (1 + 1e-9)).all()
    # the two halves hold people in proportion to their area, up to one column of cells
    west, east = box(121.80, 29.88, 121.83, 29.91), box(121.83, 29.88, 121.86, 29.91)
    in_west = d.loc[d.geometry.within(west), "weight"].sum()
    in_east = d.loc[d.geometry.within(east), "weight"].sum()
    assert math.isclose(in_west + in_east, pop, rel_tol=1e-9)
    width_m = GEOD.inv(121.80, 29.895, 121.86, 29.895)[2]
    share_west = _geod_area(west) / _geod_area(rect)
    assert abs(in_west / pop - share_west) < cell / width_m


def test_polygon_smaller_than_a_cell_gets_one_point():
    tiny = box(121.850, 29.900, 121.8505, 29.9004)  # ~50 x 45 m
    g = gpd.GeoDataFrame({"weight": [40]}, geometry=[tiny], crs=4326)
    d = load_demand(g, group="outdoor", area_cell_m=250)
    assert len(d) == 1
    assert d["weight"].tolist() == [40.0]
    assert tiny.contains(d.geometry.iloc[0])


def test_multipolygons_conserve_each_feature():
    two = gpd.GeoSeries([box(121.80, 29.88, 121.81, 29.89), box(121.83, 29.88, 121.85, 29.89)])
    g = gpd.GeoDataFrame(
        {"id": ["m", "p"], "people": [1000, 2000]},
        geometry=[two.union_all(), PARK],
        crs=4326,
    )
    d = load_demand(g, group="all_workers")
    sums = d.groupby("source_id")["weight"].sum()
    assert math.isclose(sums["m"], 1000, rel_tol=1e-9)
    assert math.isclose(sums["p"], 2000, rel_tol=1e-9)
    # both parts get people, in proportion to area (the second is twice as wide)
    first = d[(d.source_id == "m") & d.geometry.within(two.iloc[0])]["weight"].sum()
    assert abs(first / 1000 - 1 / 3) < 0.05


# --------------------------------------------------------------------------------------
# routes


def test_route_sampling_spacing_weights_and_positions():
    start, end = (121.80, 29.90), (121.86, 29.93)
    g = gpd.GeoDataFrame(
        {"id": ["G1501"], "daily_trucks": [3000]}, geometry=[LineString([start, end])], crs=4326
    )
    d = load_demand(g, group="truck_drivers", spacing_m=250)
    assert (d["kind"] == "route").all() and (d["route_id"] == "G1501").all()
    assert math.isclose(d["weight"].sum(), 3000, rel_tol=1e-9)
    length = _geod_length([start, end])
    assert len(d) == math.ceil(length / 250)
    xy = _xy(d)
    steps = GEOD.inv(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1])[2]
    np.testing.assert_allclose(steps[:-1], 250, rtol=5e-3)  # the last stretch is shorter
    pos = d["route_pos_m"].to_numpy()
    assert (np.diff(pos) > 0).all()
    from_start = GEOD.inv(
        np.full(len(xy), start[0]), np.full(len(xy), start[1]), xy[:, 0], xy[:, 1]
    )[2]
    np.testing.assert_allclose(pos, from_start, rtol=5e-3)
    # a full stretch carries its share of the trucks; first sample half a stretch in
    np.testing.assert_allclose(d["weight"].iloc[:-1], 3000 * 250 / length, rtol=5e-3)
    assert math.isclose(pos[0], 125, rel_tol=5e-3)


def test_route_pos_follows_a_bent_line():
    coords = [(121.80, 29.90), (121.83, 29.90), (121.83, 29.93)]
    g = gpd.GeoDataFrame({"weight": [500]}, geometry=[LineString(coords)], crs=4326)
    d = load_demand(g, group="truck_drivers", spacing_m=200)
    leg1 = _geod_length(coords[:2])
    xy, pos = _xy(d), d["route_pos_m"].to_numpy()
    on_leg1 = np.isclose(xy[:, 1], 29.90, atol=1e-9)
    expected = np.where(
        on_leg1,
        GEOD.inv(np.full(len(xy), 121.80), np.full(len(xy), 29.90), xy[:, 0], xy[:, 1])[2],
        leg1 + GEOD.inv(np.full(len(xy), 121.83), np.full(len(xy), 29.90), xy[:, 0], xy[:, 1])[2],
    )
    np.testing.assert_allclose(pos, expected, rtol=5e-3)
    assert (np.diff(pos) > 0).all()
    assert math.isclose(d["weight"].sum(), 500, rel_tol=1e-9)


def test_multilinestring_positions_continue_across_parts():
    a = [(121.80, 29.90), (121.82, 29.90)]
    b = [(121.83, 29.91), (121.83, 29.93)]
    g = gpd.GeoDataFrame(
        {"id": ["r"], "trucks": [1000]}, geometry=[MultiLineString([a, b])], crs=4326
    )
    d = load_demand(g, group="truck_drivers", spacing_m=300)
    len_a, len_b = _geod_length(a), _geod_length(b)
    pos = d["route_pos_m"].to_numpy()
    assert (np.diff(pos) > 0).all()
    on_b = d.geometry.x.to_numpy() > 121.825
    # first sample of the second part is half a stretch past the end of the first
    assert math.isclose(pos[on_b][0], len_a + 150, rel_tol=5e-3)
    assert pos[-1] < len_a + len_b
    # each part gets trucks in proportion to its length
    share_b = d.loc[on_b, "weight"].sum() / 1000
    assert math.isclose(share_b, len_b / (len_a + len_b), rel_tol=5e-3)
    assert math.isclose(d["weight"].sum(), 1000, rel_tol=1e-9)


def test_vector_files_load_like_frames(tmp_path):
    g = gpd.GeoDataFrame(
        {
            "id": ["s1", "park", "road"],
            "weight": [15.0, 800.0, 120.0],
            "group": ["outdoor", "all_workers", "truck_drivers"],
        },
        geometry=[Point(121.85, 29.9), PARK, LineString([(121.80, 29.90), (121.83, 29.91)])],
        crs=4326,
    )
    expected = load_demand(g)
    for name in ("layer.geojson", "layer.gpkg"):
        path = tmp_path / name
        g.to_file(path)
        got = load_demand(path)
        assert_geodataframe_equal(got, expected, check_less_precise=True)
    assert set(expected["kind"]) == {"point", "area", "route"}
    sums = expected.groupby("source_id")["weight"].sum()
    np.testing.assert_allclose(sums[["s1", "park", "road"]], [15, 800, 120], rtol=1e-9)


# --------------------------------------------------------------------------------------
# validation


def test_bad_csv_reports_every_problem_at_once(tmp_path):
    path = _write_csv(
        tmp_path / "bad.csv",
        "id,lon,lat,weight,group\n"
        "a,,29.9,1,outdoor\n"  # row 2: blank lon
        "b,121.8,abc,1,outdoor\n"  # row 3: unparsable lat
        "c,121.8,29.9,-5,outdoor\n"  # row 4: negative weight
        "d,121.8,29.9,many,outdoor\n"  # row 5: non-numeric weight
        "e,121.8,29.9,3,\n"  # row 6: missing group
        "f,121.8,29.9,,outdoor\n",  # row 7: missing weight
    )
    with pytest.raises(ValidationError) as info:
        load_demand(path)
    err = info.value
    assert len(err.problems) == 6
    text = str(err)
    assert text.startswith(f"{path}: 6 problems found, nothing was loaded:\n")
    assert "\n  - row 2, field 'lon': value '' is blank" in text
    assert "\n  - row 3, field 'lat': value 'abc' is not a number" in text
    assert "\n  - row 4, field 'weight': value '-5' is negative" in text
    assert "\n  - row 5, field 'weight': value 'many' is not a number" in text
    assert "\n  - row 6, field 'group': value '' is blank" in text
    assert "pass group=" in text
    assert "\n  - row 7, field 'weight': value '' is blank" in text


@pytest.mark.parametrize(
    ("header", "row", "match"),
    [
        (
            "lon,lat,weight",
            "121.8,29.9,1",
            r"x\.csv: 1 problem found.*\n  - field 'group': no group column.*pass group=",
        ),
        ("lon,lat,weight,group", "121.8,,1,outdoor", r"row 2, field 'lat': value '' is blank"),
        ("lon,lat,weight,group", "121.8,29.9,-1,outdoor", r"row 2, field 'weight'.*'-1'"),
        ("lon,lat,weight,group", "121.8,29.9,x1,outdoor", r"row 2, field 'weight'.*'x1'"),
        ("lon,lat,weight,group", "191.8,29.9,1,outdoor", r"row 2, field 'lon'.*'191.8'"),
        ("lng,lat,weight,group", "29.9,121.8,1,outdoor", r"row 2, field 'lat'.*'121.8'"),
        (
            "lon,lat,headcount,female_share",
            "121.8,29.9,10,35",
            r"row 2, field 'female_share': value '35' must be a fraction",
        ),
        (
            "lon,lat,headcount,female_share",
            "121.8,29.9,10,",
            r"row 2, field 'female_share': value '' must be a fraction",
        ),
        ("x,y,weight,group", "121.8,29.9,1,outdoor", r"field 'lon': no lon column"),
        ("id,lon,lat,weight,group", " ,121.8,29.9,1,outdoor", r"row 2, field 'id': value '' is bl"),
    ],
)
def test_each_bad_value_is_named(tmp_path, header, row, match):
    path = _write_csv(tmp_path / "x.csv", f"{header}\n{row}\n")
    with pytest.raises(ValidationError, match=match):
        load_demand(path)


def test_duplicate_ids(tmp_path):
    path = _write_csv(tmp_path / "dup.csv", "id,lon,lat,weight\nA,121.8,29.9,1\nA,121.81,29.9,1\n")
    with pytest.raises(
        ValidationError, match=r"row 2 and row 3, field 'id': duplicate id 'A'; ids must be unique"
    ):
        load_demand(path, group="outdoor")


def test_missing_named_columns(tmp_path):
    path = _write_csv(tmp_path / "c.csv", "lon,lat,weight\n121.8,29.9,1\n")
    with pytest.raises(ValidationError, match=r"field 'riders': weight column 'riders' not found"):
        load_demand(path, group="outdoor", weight="riders")
    with pytest.raises(ValidationError, match=r"field 'code': id_column 'code' not found"):
        load_demand(path, group="outdoor", id_column="code")


def test_points_outside_bounds(tmp_path):
    path = _write_csv(tmp_path / "swap.csv", "lon,lat,weight\n121.85,29.90,1\n29.90,121.85,1\n")
    with pytest.raises(ValidationError, match=r"row 3, field 'lat'"):
        load_demand(path, group="outdoor", bounds=BEILUN)  # 121.85 is no latitude
    path = _write_csv(tmp_path / "far.csv", "lon,lat,weight\n121.85,29.90,1\n116.40,39.90,1\n")
    far = r"far\.csv: 1 problem found.*\n  - row 3, field 'lon'/'lat': point .*outside bounds"
    with pytest.raises(ValidationError, match=far):
        load_demand(path, group="outdoor", bounds=BEILUN)
    g = gpd.GeoDataFrame(
        {"weight": [1, 5]}, geometry=[Point(121.85, 29.9), box(116.3, 39.8, 116.5, 40.0)], crs=4326
    )
    with pytest.raises(ValidationError, match=r"row at index 1, field 'geometry': Polygon .*outsi"):
        load_demand(g, group="outdoor", bounds=BEILUN)
    assert len(load_demand(g.iloc[:1], group="outdoor", bounds=BEILUN)) == 1


def test_vector_problems_name_the_feature():
    g = gpd.GeoDataFrame(
        {"weight": [1, 2, -3], "group": ["outdoor", "outdoor", None]},
        geometry=[Point(121.85, 29.9), Polygon(), Point(121.86, 29.9)],
        crs=4326,
    )
    with pytest.raises(ValidationError) as info:
        load_demand(g)
    text = str(info.value)
    assert text.startswith("GeoDataFrame: 3 problems found, nothing was loaded:\n")
    assert "\n  - row at index 1, field 'geometry': empty geometry" in text
    assert "\n  - row at index 2, field 'weight': value -3 is negative;" in text
    assert "\n  - row at index 2, field 'group': value '' is blank" in text


def test_polygons_need_a_weight_column():
    g = gpd.GeoDataFrame(geometry=[PARK], crs=4326)
    with pytest.raises(ValidationError, match=r"field 'weight': no weight column.*pass weight="):
        load_demand(g, group="all_workers")


def test_frame_without_crs_is_refused():
    g = gpd.GeoDataFrame({"weight": [1]}, geometry=[Point(121.85, 29.9)])
    with pytest.raises(CRSError, match="no CRS"):
        load_demand(g, group="outdoor")


def test_bad_options():
    g = gpd.GeoDataFrame({"weight": [1]}, geometry=[Point(121.85, 29.9)], crs=4326)
    with pytest.raises(ValueError, match="spacing_m must be a positive number of metres, got 0"):
        load_demand(g, group="outdoor", spacing_m=0)
    with pytest.raises(ValueError, match="bounds="):
        load_demand(g, group="outdoor", bounds=(122, 30, 121, 29))
    with pytest.raises(
        ValueError, match=r"x\.dbx: unsupported file type '\.dbx'; supported: \.csv"
    ):
        load_demand("x.dbx")
    with pytest.raises(TypeError, match="source must be"):
        load_demand(42)


# --------------------------------------------------------------------------------------
# H3


def _random_points(n, seed=0):
    rng = np.random.default_rng(seed)
    return gpd.GeoDataFrame(
        {
            "group": rng.choice(["outdoor", "all_workers"], n),
            "weight": rng.integers(0, 30, n).astype(float),
        },
        geometry=gpd.points_from_xy(121.80 + rng.random(n) * 0.1, 29.85 + rng.random(n) * 0.08),
        crs=4326,
    )


def test_to_h3_matches_cell_by_cell_aggregation():
    pts = _random_points(3000)
    cells = to_h3(pts, resolution=9)
    assert list(cells.columns) == ["h3", "group", "weight", "n", "geometry"]
    assert cells.crs.to_epsg() == 4326
    expected: dict[tuple[str, str], list[float]] = {}
    for p, grp, w in zip(pts.geometry, pts["group"], pts["weight"], strict=True):
        acc = expected.setdefault((h3.latlng_to_cell(p.y, p.x, 9), grp), [0.0, 0])
        acc[0] += w
        acc[1] += 1
    got = {
        (c, g): [w, n]
        for c, g, w, n in cells[["h3", "group", "weight", "n"]].itertuples(index=False)
    }
    assert got == expected
    for grp in ("outdoor", "all_workers"):
        assert math.isclose(
            cells.loc[cells.group == grp, "weight"].sum(), pts.loc[pts.group == grp, "weight"].sum()
        )
    # the hexagon is the cell's boundary with (lat, lng) turned into (x=lon, y=lat)
    row = cells.iloc[0]
    lat, lng = h3.cell_to_latlng(row["h3"])
    assert row.geometry.contains(Point(lng, lat))
    assert sorted(row.geometry.exterior.coords[:-1]) == sorted(
        (x, y) for y, x in h3.cell_to_boundary(row["h3"])
    )


def test_h3_cells_equal_h3_latlng_to_cell_over_the_globe():
    # h3ronpy (H3's Rust port, h3o, vectorised) against h3-py (H3's C library, one call
    # per point), over the whole globe (uniform on the sphere: poles and the antimeridian
    # too) and at every resolution
    from geo.demand import h3_cells

    rng = np.random.default_rng(7)
    lon = np.concatenate([rng.uniform(-180, 180, 5000), [180.0, -180.0, 0.0, 121.85]])
    lat = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, 5000))), [0, 89.999, -90, 29.9]])
    for res in range(16):
        got = h3_cells(lon, lat, res)
        assert got.dtype == np.uint64
        want = [h3.str_to_int(h3.latlng_to_cell(y, x, res)) for x, y in zip(lon, lat, strict=True)]
        assert got.tolist() == want, res
    assert len(h3_cells(np.empty(0), np.empty(0), 9)) == 0
    # a point exactly on an edge between cells (a vertex; a finer cell's centre at a
    # coarser resolution) may go to either side: the two libraries round differently,
    # but only ever to a cell that touches the other's
    on_edge = [
        h3.cell_to_boundary(h3.latlng_to_cell(y, x, 7))[0]
        for x, y in zip(lon[:500], lat[:500], strict=True)
    ]
    elat, elon = np.array(on_edge).T
    for res in range(8):
        got = h3_cells(elon, elat, res)
        for c, y, x in zip(got.tolist(), elat, elon, strict=True):
            assert h3.grid_distance(h3.int_to_str(c), h3.latlng_to_cell(y, x, res)) <= 1


def test_to_h3_totals_and_projected_input():
    pts = _random_points(500, seed=1)
    total = to_h3(pts.to_crs(32651), resolution=8, by=())
    assert list(total.columns) == ["h3", "weight", "n", "geometry"]
    assert math.isclose(total["weight"].sum(), pts["weight"].sum())
    assert total["n"].sum() == 500
    assert total["h3"].is_unique
    assert {h3.get_resolution(c) for c in total["h3"]} == {8}


def test_to_h3_refuses_non_points_and_unknown_columns():
    g = gpd.GeoDataFrame({"group": ["a"], "weight": [1.0]}, geometry=[PARK], crs=4326)
    with pytest.raises(TypeError, match="Point"):
        to_h3(g)
    with pytest.raises(ValueError, match="no column 'people'"):
        to_h3(_random_points(5), weight="people")


@pytest.mark.slow
def test_to_h3_million_points_conserves_people():
    # speed is measured in benchmarks/, not asserted here
    pts = _random_points(1_000_000, seed=2)
    cells = to_h3(pts)
    assert math.isclose(cells["weight"].sum(), pts["weight"].sum(), rel_tol=1e-12)
    assert cells["n"].sum() == len(pts)


# --------------------------------------------------------------------------------------
# privacy floor


def _cells_frame(values: dict[str, float], group="outdoor"):
    """A to_h3-shaped frame from {cell: people}."""
    cells = list(values)
    return gpd.GeoDataFrame(
        {
            "h3": cells,
            "group": group,
            "weight": [float(values[c]) for c in cells],
            "n": 1,
        },
        geometry=[Polygon([(x, y) for y, x in h3.cell_to_boundary(c)]) for c in cells],
        crs=4326,
    )


def test_merge_rolls_small_siblings_into_their_parent():
    parent = h3.latlng_to_cell(29.9, 121.85, 8)
    kids = sorted(h3.cell_to_children(parent, 9))
    far = h3.latlng_to_cell(29.95, 122.0, 9)
    cells = _cells_frame({kids[0]: 4, kids[1]: 3, kids[2]: 50, far: 25})
    out = apply_privacy_floor(cells, k=10)
    got = dict(zip(out["h3"], out["weight"], strict=True))
    # the small children and their big sibling become one parent cell: nothing overlaps
    assert got == {parent: 57.0, far: 25.0}
    assert out.set_index("h3").loc[parent, "n"] == 3
    assert out.set_index("h3").loc[parent, "resolution"] == 8
    assert out.attrs["withheld_people"] == 0.0
    assert list(out.columns) == ["h3", "group", "weight", "n", "resolution", "geometry"]


def test_merge_withholds_what_stays_small():
    lonely = h3.latlng_to_cell(29.9, 121.85, 9)
    busy = h3.latlng_to_cell(29.95, 122.0, 9)
    cells = _cells_frame({lonely: 4, busy: 30})
    out = apply_privacy_floor(cells, k=10, max_up=3)
    assert out["h3"].tolist() == [busy]
    assert out.attrs["withheld_people"] == 4.0
    none_up = apply_privacy_floor(cells, k=10, max_up=0)
    assert none_up["h3"].tolist() == [busy]


def test_withhold_drops_exactly_the_small_cells():
    cells = to_h3(_random_points(400, seed=3), resolution=9)
    out = apply_privacy_floor(cells, k=10, mode="withhold")
    big = cells[cells["weight"] >= 10]
    assert out["h3"].tolist() == big["h3"].tolist()
    assert out["weight"].tolist() == big["weight"].tolist()
    assert math.isclose(out.attrs["withheld_people"], cells.loc[cells.weight < 10, "weight"].sum())


def test_merge_floor_on_random_data():
    cells = to_h3(_random_points(2000, seed=4), resolution=10)
    out = apply_privacy_floor(cells, k=10, max_up=2)
    assert (out["weight"] >= 10).all()
    assert out["resolution"].between(8, 10).all()
    for grp in ("outdoor", "all_workers"):
        mine = out[out.group == grp]
        # people are conserved apart from those reported withheld
        assert mine["h3"].is_unique
        # no shown cell lies inside another shown cell of the same group
        shown = set(mine["h3"])
        for c, r in zip(mine["h3"], mine["resolution"], strict=True):
            assert not any(h3.cell_to_parent(c, up) in shown for up in range(8, r))
    assert math.isclose(
        out["weight"].sum() + out.attrs["withheld_people"], cells["weight"].sum(), rel_tol=1e-12
    )
    assert out["n"].sum() <= cells["n"].sum()


def test_floor_treats_groups_separately():
    cell = h3.latlng_to_cell(29.9, 121.85, 9)
    cells = pd.concat(
        [_cells_frame({cell: 50}, "outdoor"), _cells_frame({cell: 5}, "female_nursing")]
    )
    out = apply_privacy_floor(cells.reset_index(drop=True), k=10, max_up=0)
    assert out[["h3", "group", "weight"]].values.tolist() == [[cell, "outdoor", 50.0]]
    assert out.attrs["withheld_people"] == 5.0


def test_floor_bad_options():
    cells = _cells_frame({h3.latlng_to_cell(29.9, 121.85, 9): 5})
    with pytest.raises(ValueError, match="mode='hide'"):
        apply_privacy_floor(cells, mode="hide")
    with pytest.raises(ValueError, match="no column 'n'"):
        apply_privacy_floor(cells.drop(columns="n"))


# --------------------------------------------------------------------------------------
# summary and purity


def test_demand_summary():
    g = gpd.GeoDataFrame(
        {"id": ["w", "park"], "headcount": [100, 1000], "female_share": [0.5, 0.1]},
        geometry=[Point(121.85, 29.9), PARK],
        crs=4326,
    )
    s = demand_summary(load_demand(g))
    assert list(s.columns) == ["group", "kind", "people", "rows", "sources"]
    rows = {(r.group, r.kind): (round(r.people, 9), r.sources) for r in s.itertuples()}
    assert rows == {
        ("all_workers", "area"): (1000.0, 1),
        ("all_workers", "point"): (100.0, 1),
        ("female_nursing", "area"): (100.0, 1),
        ("female_nursing", "point"): (50.0, 1),
    }


def test_inputs_are_not_mutated():
    g = gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "weight": ["3", "4", "1,000"],
            "group": ["outdoor", "outdoor", "all_workers"],
        },
        geometry=[Point(121.85, 29.9), PARK, LineString([(121.80, 29.90), (121.83, 29.91)])],
        crs=4326,
    )
    before = g.copy()
    demand = load_demand(g, datum="gcj02")
    assert_geodataframe_equal(g, before)
    d_before = demand.copy()
    cells = to_h3(demand)
    assert_geodataframe_equal(demand, d_before)
    c_before = cells.copy()
    apply_privacy_floor(cells, k=10)
    apply_privacy_floor(cells, k=10, mode="withhold")
    assert_geodataframe_equal(cells, c_before)
    table = pd.DataFrame({"lon": ["121.85"], "lat": ["29.9"], "people": [" 5 "]})
    t_before = table.copy()
    assert load_demand(table, group="outdoor")["weight"].tolist() == [5.0]
    pd.testing.assert_frame_equal(table, t_before)


def test_dataframe_source_names_rows_by_index_label():
    table = pd.DataFrame(
        {"经度": [121.85, 121.86], "纬度": [29.9, None], "人数": [3, 4]}, index=["s1", "s2"]
    )
    with pytest.raises(
        ValidationError, match=r"DataFrame: 1 problem found.*\n  - row at index 's2', field '纬度'"
    ):
        load_demand(table, group="outdoor")


def test_iter_demand_gives_what_load_demand_gives_block_by_block(tmp_path):
    from geo.demand import iter_demand

    rng = np.random.default_rng(3)
    n = 6000
    lines = ["id,lon,lat,weight,group"]
    for i in range(n):
        lines.append(
            f"W{i},{121.7 + rng.random() * 0.3:.6f},{29.8 + rng.random() * 0.2:.6f},"
            f"{int(rng.integers(1, 9))},outdoor"
        )
        if i % 1000 == 7:
            lines.append("")  # blank lines are skipped, and counted
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    blocks = list(iter_demand(path, chunk_rows=2000))
    assert len(blocks) > 2
    whole = load_demand(path)
    joined = pd.concat(blocks, ignore_index=True)
    pd.testing.assert_frame_equal(pd.DataFrame(joined), pd.DataFrame(whole))
    # a bad value far down is named by its line, as load_demand names it
    lines[5003] = lines[5003].replace(",outdoor", ",nobody")
    lines.append(lines[1])  # and W0 again, in the last block
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as whole_error:
        load_demand(path)
    with pytest.raises(ValidationError) as block_error:
        for _ in iter_demand(path, chunk_rows=2000):
            pass
    bad_row = next(p for p in whole_error.value.problems if "nobody" in p)
    assert bad_row in block_error.value.problems
    with pytest.raises(ValidationError, match=r"value 'W0' is a duplicate id"):
        lines[5003] = lines[5004]
        lines[5003] = lines[5003].replace("W", "X")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for _ in iter_demand(path, chunk_rows=2000):
            pass
