"""The shipped Beilun demo: the district report's figures hold, the geography is sound,
GCJ-02 facilities land in WGS84, the build is deterministic, and geo.demo loads it."""

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import gcj02_to_wgs84, to_metric
from geo.demo import Demo, available_demos, datasets_dir, load_demo

DATA = Path(__file__).resolve().parents[1] / "datasets" / "beilun"
FILES = (
    "boundary.geojson",
    "subdistricts.geojson",
    "industrial_communities.geojson",
    "facilities.csv",
    "equipment.csv",
    "workplaces.csv",
    "riders.csv",
    "freight_routes.geojson",
    "dataset.json",
)
NAMED_DRIVER_HOMES = ("北仑集装箱基地司机之家", "霞浦物流社区司机之家")


@pytest.fixture(scope="module")
def demo() -> Demo:
    return load_demo("beilun")


@pytest.fixture(scope="module")
def boundary():
    return gpd.read_file(DATA / "boundary.geojson").geometry.iloc[0]


@pytest.fixture(scope="module")
def facilities_raw() -> pd.DataFrame:
    return pd.read_csv(DATA / "facilities.csv", dtype=str, keep_default_na=False)


# ---- the district report's figures -------------------------------------------------


def test_facility_counts_match_the_report(demo):
    counts = demo.facilities["type"].value_counts()
    assert counts["outdoor_station"] == 44
    assert counts["mother_room"] == 43
    assert counts["bookshelf"] == 104
    assert counts["driver_home"] >= 2
    homes = demo.facilities[demo.facilities["type"] == "driver_home"]
    for name in NAMED_DRIVER_HOMES:
        row = homes[homes["name"] == name]
        assert len(row) == 1, name
        assert row["level"].iloc[0] == "national"
    # "workers' bookshelves at municipal level and above"
    books = demo.facilities[demo.facilities["type"] == "bookshelf"]
    assert set(books["level"]) <= {"municipal", "provincial", "national"}


def test_area_counts(demo):
    assert demo.areas["level"].value_counts().to_dict() == {
        "industrial_community": 20,
        "subdistrict": 11,
    }
    sds = demo.areas[demo.areas["level"] == "subdistrict"]
    assert set(sds["name"]) == {
        f"{n}街道"
        for n in (
            "新碶",
            "小港",
            "大碶",
            "霞浦",
            "柴桥",
            "戚家山",
            "春晓",
            "梅山",
            "郭巨",
            "白峰",
            "大榭",
        )
    }
    assert demo.areas["id"].is_unique


def test_workers_add_up_to_the_report():
    wp = pd.read_csv(DATA / "workplaces.csv")
    assert len(wp) == 2559 and wp["id"].is_unique
    assert wp["headcount"].sum() == 419_000 - 29_000
    assert (wp["headcount"] > 0).all()
    assert wp["female_share"].between(0, 1).all()
    riders = pd.read_csv(DATA / "riders.csv")
    routes = gpd.read_file(DATA / "freight_routes.geojson")
    assert set(riders["group"]) == {"outdoor"}
    assert riders["weight"].sum() + routes["daily_trucks"].sum() == pytest.approx(29_000, abs=1)


def test_demand_groups_carry_the_people(demo):
    by_group = demo.demand.groupby("group")["weight"].sum()
    assert by_group["all_workers"] == pytest.approx(390_000)
    assert 0 < by_group["female_nursing"] < by_group["all_workers"]
    assert by_group["outdoor"] + by_group["truck_drivers"] == pytest.approx(29_000, abs=1)
    assert demo.demand["id"].is_unique
    assert list(demo.demand.columns) == [
        "id",
        "group",
        "weight",
        "kind",
        "source_id",
        "route_id",
        "route_pos_m",
        "geometry",
    ]


# ---- geography -----------------------------------------------------------------------


def test_every_point_is_inside_the_boundary(demo, boundary):
    for layer in (demo.facilities, demo.demand):
        xy = shapely.get_coordinates(layer.geometry.values)
        inside = shapely.contains_xy(boundary, xy[:, 0], xy[:, 1])
        assert inside.all(), layer.loc[~inside].head()
    for name in ("workplaces.csv", "riders.csv"):
        df = pd.read_csv(DATA / name)
        assert shapely.contains_xy(boundary, df["lon"], df["lat"]).all(), name
    routes = gpd.read_file(DATA / "freight_routes.geojson")
    assert routes.geometry.within(boundary).all()
    assert (shapely.get_num_coordinates(routes.geometry.values) >= 5).all()
    ics = gpd.read_file(DATA / "industrial_communities.geojson")
    assert ics.geometry.within(boundary.buffer(1e-9)).all()


def test_subdistricts_tile_the_boundary(boundary):
    sds = to_metric(gpd.read_file(DATA / "subdistricts.geojson"))
    bnd = to_metric(gpd.GeoSeries([boundary], crs="EPSG:4326")).iloc[0]
    union = shapely.union_all(sds.geometry.values)
    assert union.area == pytest.approx(bnd.area, rel=1e-3)
    assert union.symmetric_difference(bnd).area < 1e-3 * bnd.area
    geoms = list(sds.geometry)
    overlap = sum(a.intersection(b).area for i, a in enumerate(geoms) for b in geoms[i + 1 :])
    assert overlap < 1e-6 * bnd.area


def test_boundary_is_the_real_one(boundary):
    # Beilun covers roughly 600 km² of land and has islands (kept as separate parts)
    area_km2 = to_metric(gpd.GeoSeries([boundary], crs="EPSG:4326")).area.iloc[0] / 1e6
    assert 550 < area_km2 < 700
    assert boundary.geom_type == "MultiPolygon" and len(boundary.geoms) > 1
    minx, miny, maxx, maxy = boundary.bounds
    assert 121.6 < minx < maxx < 122.2 and 29.7 < miny < maxy < 30.0


def test_gcj02_facilities_are_converted_to_wgs84(demo, facilities_raw):
    raw = facilities_raw.set_index("编号").loc[demo.facilities["id"]]
    glon, glat = raw["经度"].astype(float).to_numpy(), raw["纬度"].astype(float).to_numpy()
    lon, lat = demo.facilities.geometry.x.to_numpy(), demo.facilities.geometry.y.to_numpy()
    shift_m = np.hypot((glon - lon) * 111_320 * np.cos(np.radians(lat)), (glat - lat) * 110_574)
    assert (shift_m > 200).all() and (shift_m < 700).all()
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    np.testing.assert_allclose(lon, wlon, atol=1e-9)
    np.testing.assert_allclose(lat, wlat, atol=1e-9)


def test_facility_file_is_a_union_office_spreadsheet(facilities_raw):
    import opening_hours

    assert list(facilities_raw.columns) == [
        "编号", "类型", "名称", "地址", "经度", "纬度", "开放时间", "容量", "服务设施",
        "级别", "联系方式", "来源", "更新时间",
    ]  # fmt: skip
    assert facilities_raw["编号"].is_unique and facilities_raw["名称"].is_unique
    for hours in facilities_raw["开放时间"].unique():
        opening_hours.OpeningHours(hours)
    from geo.layers import AMENITIES  # the data model's amenities, accessibility included

    assert set(";".join(facilities_raw["服务设施"]).split(";")) <= set(AMENITIES)


def test_outdoor_stations_leave_gaps(demo):
    # a planner must have something to find: some, not all, riders are within 1 km
    from scipy.spatial import cKDTree

    fac = demo.facilities[demo.facilities["type"] == "outdoor_station"]
    riders = demo.demand[demo.demand["group"] == "outdoor"]
    crs = to_metric(riders).crs
    f_xy = shapely.get_coordinates(fac.to_crs(crs).geometry.values)
    r_xy = shapely.get_coordinates(riders.to_crs(crs).geometry.values)
    d, _ = cKDTree(f_xy).query(r_xy)
    share = riders["weight"].to_numpy()[d <= 1000].sum() / riders["weight"].sum()
    assert 0.70 <= share <= 0.85


# ---- determinism ----------------------------------------------------------------------


def test_build_is_deterministic_and_matches_the_shipped_files(tmp_path):
    # about 1 s, so not marked slow; cnmaps comes with the "test" extra
    subprocess.run(
        [sys.executable, str(DATA / "build.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_shipped_dataset_is_small():
    total = sum((DATA / name).stat().st_size for name in FILES)
    assert total < 3_000_000


# ---- geo.demo --------------------------------------------------------------------------


def test_load_demo_returns_wgs84_frames(demo):
    assert demo.name == "beilun"
    for layer in (demo.facilities, demo.demand, demo.areas, demo.boundary):
        assert isinstance(layer, gpd.GeoDataFrame)
        assert layer.crs.to_epsg() == 4326
    assert len(demo.boundary) == 1


def test_load_demo_returns_copies():
    first = load_demo("beilun")
    first.facilities.loc[:, "name"] = "changed"
    first.facilities["amenities"].iloc[0].append("corrupted")
    first.demand.loc[first.demand.index[0], "weight"] = -1.0
    second = load_demo("beilun")
    assert (second.facilities["name"] != "changed").all()
    assert "corrupted" not in second.facilities["amenities"].iloc[0]
    assert (second.demand["weight"] >= 0).all()


def test_unknown_demo_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"no demo named 'atlantis'.*'beilun'"):
        load_demo("atlantis")
    with pytest.raises(ValueError, match="available"):
        load_demo("../beilun")


def test_datasets_folder_from_environment(tmp_path, monkeypatch):
    (tmp_path / "empty_district").mkdir()
    (tmp_path / "empty_district" / "build.py").write_text("")
    (tmp_path / "notes").mkdir()
    monkeypatch.setenv("SERVICEMAP_DATASETS", str(tmp_path))
    assert datasets_dir() == tmp_path.resolve()
    assert available_demos() == ["empty_district"]
    with pytest.raises(FileNotFoundError, match="build it first"):
        load_demo("empty_district")
    with pytest.raises(ValueError, match="'empty_district'"):
        load_demo("beilun")
