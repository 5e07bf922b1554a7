"""Loading and validating facility and area layers (geo.layers)."""

from __future__ import annotations

import json
import re
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import LineString, Point, Polygon

from geo.crs import gcj02_to_wgs84, metric_crs_for, wgs84_to_bd09, wgs84_to_gcj02
from geo.errors import CRSError, RegistryError, ValidationError
from geo.layers import (
    FACILITY_COLUMNS,
    facilities_to_file,
    load_areas,
    load_facilities,
    validate_facilities,
)

BEILUN = (121.5, 29.7, 122.2, 30.1)  # WGS84 box around Beilun District, Ningbo

# Three facilities, the way a union clerk types them; lon/lat in WGS84.
ROWS = [
    {
        "id": "BL-001",
        "type": "outdoor_station",
        "name": "新碶街道户外劳动者驿站",
        "address": "北仑区新碶街道明州路1号",
        "hours": "Mo-Su 07:00-19:00",
        "capacity": "20",
        "amenities": "water;microwave;charging",
        "level": "municipal",
        "contact": "0574-86780000",
        "source": "北仑区总工会 2024",
        "updated_at": "2024-05-01",
        "lon": "121.8447",
        "lat": "29.9006",
    },
    {
        "id": "BL-002",
        "type": "mother_room",
        "name": "小港妈咪暖心小屋",
        "address": "",
        "hours": "Mo-Fr 08:30-17:00",
        "capacity": "4",
        "amenities": "fridge;rest",
        "level": "district",
        "contact": "",
        "source": "北仑区总工会 2024",
        "updated_at": "2024-06-12",
        "lon": "121.7652",
        "lat": "29.9478",
    },
    {
        "id": "BL-003",
        "type": "driver_home",
        "name": "北仑集装箱基地司机之家",
        "address": "北仑区霞浦街道",
        "hours": "24/7",
        "capacity": "60",
        "amenities": "water;toilet;rest;wifi",
        "level": "national",
        "contact": "",
        "source": "北仑区总工会 2024",
        "updated_at": "2023-11-30",
        "lon": "121.9210",
        "lat": "29.9201",
    },
]
ZH = {
    "id": "编号",
    "type": "类型",
    "name": "站点名称",
    "address": "地址",
    "hours": "开放时间",
    "capacity": "容量",
    "amenities": "服务设施",
    "level": "级别",
    "contact": "联系电话",
    "source": "来源",
    "updated_at": "更新时间",
    "lon": "经度",
    "lat": "纬度",
}
ZH_VALUES = {
    "type": {
        "outdoor_station": "户外劳动者驿站",
        "mother_room": "妈咪暖心小屋",
        "driver_home": "司机之家",
    },
    "amenities": {
        "water;microwave;charging": "饮水、微波炉、充电",
        "fridge;rest": "冰箱，休息区",
        "water;toilet;rest;wifi": "热水|卫生间|休息|WiFi",
    },
    "level": {"municipal": "市级", "district": "区级", "national": "国家级"},
}


def write_csv(path, rows, *, encoding="utf-8", header=None, sep=","):
    header = header or list(rows[0])
    lines = [sep.join(header)] + [sep.join(str(r.get(h, "")) for h in header) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def chinese(rows):
    """The rows with Chinese headers and Chinese values, as a Chinese Excel export has."""
    out = []
    for row in rows:
        out.append({ZH[k]: ZH_VALUES.get(k, {}).get(v, v) for k, v in row.items()})
    return out


def points_frame(rows, crs=4326):
    df = pd.DataFrame(rows)
    lon, lat = ("lon", "lat") if "lon" in df else ("经度", "纬度")
    geometry = gpd.points_from_xy(df.pop(lon).astype(float), df.pop(lat).astype(float))
    return gpd.GeoDataFrame(df, geometry=geometry, crs=crs)


@pytest.fixture
def expected():
    """The frame the three rows must load to, built by hand."""
    return gpd.GeoDataFrame(
        {
            "id": pd.Series(["BL-001", "BL-002", "BL-003"], dtype=str),
            "type": pd.Series(["outdoor_station", "mother_room", "driver_home"], dtype=str),
            "name": pd.Series([r["name"] for r in ROWS], dtype=str),
            "address": pd.Series([r["address"] for r in ROWS], dtype=str),
            "hours": pd.Series([r["hours"] for r in ROWS], dtype=str),
            "capacity": [20.0, 4.0, 60.0],
            "amenities": pd.Series(
                [
                    ["water", "microwave", "charging"],
                    ["fridge", "rest"],
                    ["water", "toilet", "rest", "wifi"],
                ],
                dtype=object,
            ),
            "level": pd.Series(["municipal", "district", "national"], dtype=str),
            "contact": pd.Series([r["contact"] for r in ROWS], dtype=str),
            "source": pd.Series([r["source"] for r in ROWS], dtype=str),
            "updated_at": pd.Series([r["updated_at"] for r in ROWS], dtype=str),
        },
        geometry=[Point(float(r["lon"]), float(r["lat"])) for r in ROWS],
        crs="EPSG:4326",
    )


# --- every format loads to the same frame --------------------------------------------


def test_csv_utf8(tmp_path, expected):
    gdf = load_facilities(write_csv(tmp_path / "f.csv", ROWS), bounds=BEILUN)
    assert list(gdf.columns) == list(FACILITY_COLUMNS)
    assert_geodataframe_equal(gdf, expected)
    assert gdf.crs.to_epsg() == 4326
    assert isinstance(gdf.index, pd.RangeIndex)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk", "gb18030"])
def test_csv_chinese_headers_and_values(tmp_path, expected, encoding):
    path = write_csv(tmp_path / "驿站.csv", chinese(ROWS), encoding=encoding)
    assert_geodataframe_equal(load_facilities(path), expected)


def test_csv_english_aliases_any_case_and_tabs(tmp_path, expected):
    rename = {"lon": "Longitude", "lat": "LAT", "hours": "Opening Hours", "contact": "Contact"}
    rows = [{rename.get(k, k): v for k, v in r.items()} for r in ROWS]
    gdf = load_facilities(write_csv(tmp_path / "f.tsv.csv", rows, sep="\t"))
    assert_geodataframe_equal(gdf, expected)


def test_xlsx(tmp_path, expected):
    df = pd.DataFrame(chinese(ROWS))
    for col in ("经度", "纬度", "容量"):
        df[col] = df[col].astype(float)  # Excel holds numbers as numbers
    df["更新时间"] = pd.to_datetime(df["更新时间"])  # ... and dates as dates
    path = tmp_path / "驿站.xlsx"
    df.to_excel(path, index=False)
    assert_geodataframe_equal(load_facilities(path), expected)


def test_geojson_without_crs_member(tmp_path, expected):
    features = [
        {
            "type": "Feature",
            "properties": {k: v for k, v in r.items() if k not in ("lon", "lat")},
            "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]},
        }
        for r in ROWS
    ]
    path = tmp_path / "f.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    assert_geodataframe_equal(load_facilities(path), expected)


def test_gpkg_and_zipped_shapefile(tmp_path, expected):
    frame = points_frame(chinese(ROWS))
    frame.to_file(tmp_path / "f.gpkg", driver="GPKG")
    assert_geodataframe_equal(load_facilities(tmp_path / "f.gpkg"), expected)

    shp = points_frame(ROWS)  # shapefile field names are at most 10 characters
    shp.to_file(tmp_path / "f.shp", encoding="utf-8")
    with zipfile.ZipFile(tmp_path / "f.zip", "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            zf.write(tmp_path / f"f.{ext}", f"f.{ext}")
    assert_geodataframe_equal(load_facilities(tmp_path / "f.zip"), expected)


def test_projected_vector_file_is_reprojected(tmp_path, expected):
    points_frame(ROWS).to_crs(32651).to_file(tmp_path / "utm.gpkg")
    gdf = load_facilities(tmp_path / "utm.gpkg")
    assert_geodataframe_equal(gdf, expected, check_less_precise=True)
    with pytest.raises(CRSError, match=r"utm\.gpkg.*EPSG:32651.*datum='gcj02'"):
        load_facilities(tmp_path / "utm.gpkg", datum="gcj02")


def test_shapefile_without_prj_is_a_crs_error(tmp_path):
    points_frame(ROWS).to_file(tmp_path / "f.shp", encoding="utf-8")
    (tmp_path / "f.prj").unlink()
    with pytest.raises(CRSError, match=r"f\.shp: the file has no CRS"):
        load_facilities(tmp_path / "f.shp")


# --- datums ---------------------------------------------------------------------------


def test_gcj02_csv_loads_to_wgs84(tmp_path, expected):
    wlon = np.array([float(r["lon"]) for r in ROWS])
    wlat = np.array([float(r["lat"]) for r in ROWS])
    glon, glat = wgs84_to_gcj02(wlon, wlat)
    rows = [
        dict(r, lon=repr(float(x)), lat=repr(float(y)))
        for r, x, y in zip(ROWS, glon, glat, strict=True)
    ]
    gdf = load_facilities(write_csv(tmp_path / "amap.csv", rows), datum="gcj02", bounds=BEILUN)
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    np.testing.assert_allclose(gdf.geometry.x, back_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(gdf.geometry.y, back_lat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(gdf.geometry.x, wlon, rtol=0, atol=1e-8)  # ~1 mm
    np.testing.assert_allclose(gdf.geometry.y, wlat, rtol=0, atol=1e-8)
    # the GCJ-02 shift near Ningbo is a few hundred metres
    as_loaded = gpd.GeoSeries(gpd.points_from_xy(glon, glat), crs=4326)
    utm = metric_crs_for(gdf)
    shift_m = as_loaded.to_crs(utm).distance(gdf.geometry.to_crs(utm))
    assert ((shift_m > 300) & (shift_m < 600)).all(), shift_m.tolist()
    pd.testing.assert_frame_equal(
        pd.DataFrame(gdf.drop(columns="geometry")), pd.DataFrame(expected.drop(columns="geometry"))
    )


def test_bd09_csv_loads_to_wgs84(tmp_path):
    wlon = np.array([float(r["lon"]) for r in ROWS])
    wlat = np.array([float(r["lat"]) for r in ROWS])
    blon, blat = wgs84_to_bd09(wlon, wlat)
    rows = [
        dict(r, lon=repr(float(x)), lat=repr(float(y)))
        for r, x, y in zip(ROWS, blon, blat, strict=True)
    ]
    gdf = load_facilities(write_csv(tmp_path / "baidu.csv", rows), datum="baidu")
    np.testing.assert_allclose(gdf.geometry.x, wlon, rtol=0, atol=1e-8)
    np.testing.assert_allclose(gdf.geometry.y, wlat, rtol=0, atol=1e-8)


def test_unknown_datum(tmp_path):
    with pytest.raises(CRSError, match=r"datum='tokyo' is not known"):
        load_facilities(write_csv(tmp_path / "f.csv", ROWS), datum="tokyo")


# --- type and id handling ---------------------------------------------------------------


def test_type_argument_and_generated_ids(tmp_path):
    rows = [{k: r[k] for k in ("name", "lon", "lat")} for r in ROWS]
    gdf = load_facilities(write_csv(tmp_path / "f.csv", rows), type="户外劳动者驿站")
    assert gdf["type"].tolist() == ["outdoor_station"] * 3
    assert gdf["id"].tolist() == [f"outdoor_station-{n:04d}" for n in (1, 2, 3)]
    assert gdf["capacity"].isna().all() and gdf["amenities"].tolist() == [[], [], []]
    assert (gdf[["address", "hours", "level", "contact", "source", "updated_at"]] == "").all().all()


def test_generated_ids_are_numbered_per_type_in_file_order(tmp_path):
    rows = [{k: r[k] for k in ("type", "lon", "lat")} for r in ROWS + ROWS[:1]]
    gdf = load_facilities(write_csv(tmp_path / "f.csv", rows))
    assert gdf["id"].tolist() == [
        "outdoor_station-0001",
        "mother_room-0001",
        "driver_home-0001",
        "outdoor_station-0002",
    ]


def test_type_argument_overriding_a_column_warns(tmp_path):
    path = write_csv(tmp_path / "f.csv", ROWS)
    with pytest.warns(UserWarning, match=r"type='bookshelf' overrides .*'driver_home'"):
        gdf = load_facilities(path, type="bookshelf")
    assert set(gdf["type"]) == {"bookshelf"}


def test_unknown_type_argument(tmp_path):
    with pytest.raises(RegistryError, match=r"unknown facility type 'gym'; known types: outdoor"):
        load_facilities(write_csv(tmp_path / "f.csv", ROWS), type="gym")


def test_excel_numbers_dates_and_blank_rows(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "type", "lon", "lat", "capacity", "updated_at", "contact"])
    sheet.append([1, "bookshelf", 121.8, 29.9, 12, pd.Timestamp("2024-03-05"), 13800000000])
    sheet.append([None] * 7)
    sheet.append([2, "bookshelf", 121.81, 29.91, None, "2024/3/6", "0574-1"])
    book.save(tmp_path / "f.xlsx")
    gdf = load_facilities(tmp_path / "f.xlsx")
    assert gdf["id"].tolist() == ["1", "2"]
    assert gdf["updated_at"].tolist() == ["2024-03-05", "2024-03-06"]
    assert gdf["contact"].tolist() == ["13800000000", "0574-1"]
    assert gdf["capacity"].tolist()[0] == 12.0 and np.isnan(gdf["capacity"].iloc[1])


# --- round trip and no mutation -------------------------------------------------------


@pytest.mark.parametrize("ext", ["csv", "geojson", "gpkg"])
def test_round_trip(tmp_path, expected, ext):
    expected.loc[1, "capacity"] = np.nan  # unknown capacity survives too
    before = expected.copy(deep=True)
    path = facilities_to_file(expected, tmp_path / f"out.{ext}")
    assert path.exists()
    assert_geodataframe_equal(load_facilities(path), expected)
    assert_geodataframe_equal(expected, before)
    # writing again replaces the file
    facilities_to_file(expected.iloc[:1], path)
    assert len(load_facilities(path)) == 1


def test_round_trip_keeps_unknown_amenities(tmp_path, expected):
    expected.at[0, "amenities"] = ["water", "空调"]
    path = facilities_to_file(expected, tmp_path / "out.csv")
    with pytest.warns(UserWarning, match=r"row 2 '空调'"):
        back = load_facilities(path)
    assert_geodataframe_equal(back, expected)


def test_facilities_to_file_bad_extension(tmp_path, expected):
    with pytest.raises(
        ValueError, match=r"out\.shp.*'\.shp'.*\.geojson, \.gpkg, \.csv or \.parquet"
    ):
        facilities_to_file(expected, tmp_path / "out.shp")


def test_validate_facilities_does_not_mutate_and_normalises(expected):
    raw = points_frame(chinese(ROWS))
    raw.index = [10, 20, 30]
    before = raw.copy(deep=True)
    out = validate_facilities(raw)
    assert_geodataframe_equal(raw, before)
    assert list(out.index) == [10, 20, 30]
    assert_geodataframe_equal(out.reset_index(drop=True), expected)


def test_validate_facilities_messages_and_crs():
    raw = points_frame(ROWS)
    raw.loc[1, "hours"] = "8-17"
    raw.loc[2, "geometry"] = LineString([(121.8, 29.9), (121.9, 29.9)])
    with pytest.raises(ValidationError) as info:
        validate_facilities(raw, source="upload")
    msg = str(info.value)
    assert msg.startswith("upload: 2 problems found")
    assert "row at index 1, field 'hours': value '8-17'" in msg
    assert "row at index 2, field 'geometry'" in msg and "LineString" in msg
    with pytest.raises(CRSError, match=r"upload has no CRS"):
        validate_facilities(points_frame(ROWS).set_crs(None, allow_override=True), source="upload")
    with pytest.raises(CRSError, match=r"EPSG:32651.*to_crs\(4326\)"):
        validate_facilities(points_frame(ROWS).to_crs(32651))
    with pytest.raises(TypeError, match=r"GeoDataFrame, got DataFrame"):
        validate_facilities(pd.DataFrame(ROWS))


# --- error kinds, each with its message -------------------------------------------------


def test_1_file_not_found_and_unsupported(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv.*does not exist"):
        load_facilities(tmp_path / "nope.csv")
    (tmp_path / "f.docx").write_bytes(b"x")
    unsupported = r"f\.docx: unsupported file type '\.docx'; supported: \.csv, \.txt, \.xlsx.*\.zip"
    with pytest.raises(ValidationError, match=unsupported):
        load_facilities(tmp_path / "f.docx")
    (tmp_path / "old.xls").write_bytes(b"x")
    with pytest.raises(ValidationError, match=r"save old \.xls workbooks as \.xlsx"):
        load_facilities(tmp_path / "old.xls")


def test_2_empty_file_and_no_rows(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ValidationError, match=r"empty\.csv: the file is empty"):
        load_facilities(tmp_path / "empty.csv")
    write_csv(tmp_path / "header.csv", [{"lon": "", "lat": ""}][:0], header=["lon", "lat"])
    with pytest.raises(ValidationError, match=r"header\.csv: the file has a header row but no"):
        load_facilities(tmp_path / "header.csv", type="bookshelf")
    pd.DataFrame().to_excel(tmp_path / "empty.xlsx")
    with pytest.raises(ValidationError, match=r"empty\.xlsx: sheet 'Sheet1' is empty"):
        load_facilities(tmp_path / "empty.xlsx")
    (tmp_path / "none.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(ValidationError, match=r"none\.geojson: the file has no features"):
        load_facilities(tmp_path / "none.geojson")


def test_3_missing_coordinate_columns(tmp_path):
    path = write_csv(tmp_path / "f.csv", [{"名称": "a", "东经": "121.8", "lat": "29.9"}])
    with pytest.raises(
        ValidationError,
        match=r"f\.csv: 1 problem found, nothing was loaded:\n  - field 'lon': no lon column; "
        r"columns found: \['名称', '东经', 'lat'\]; accepted names: lon, lng, .*经度$",
    ):
        load_facilities(path, type="bookshelf")


def test_4_unparsable_coordinates(tmp_path):
    rows = [dict(ROWS[0], lon="121.8E"), dict(ROWS[1], lat="abc")]
    with pytest.raises(ValidationError) as info:
        load_facilities(write_csv(tmp_path / "f.csv", rows))
    assert re.search(r"f\.csv: 2 problems found", str(info.value))
    assert info.value.problems == [
        "row 2, field 'lon': value '121.8E' is not a number; write decimal degrees such as "
        "121.85 (no letters, degree signs or N/E)",
        "row 3, field 'lat': value 'abc' is not a number; write decimal degrees such as "
        "121.85 (no letters, degree signs or N/E)",
    ]


def test_5_blank_coordinate(tmp_path):
    rows = [ROWS[0], dict(ROWS[1], lon=" ")]
    blank = r"f\.csv: 1 problem found.*\n  - row 3, field 'lon': value '' is blank; every facil"
    with pytest.raises(ValidationError, match=blank):
        load_facilities(write_csv(tmp_path / "f.csv", rows))


def test_6_latitude_out_of_range_and_swapped(tmp_path):
    rows = [dict(ROWS[0], lon="29.9006", lat="121.8447"), dict(ROWS[1], lat="95")]
    path = write_csv(tmp_path / "f.csv", chinese(rows))
    with pytest.raises(ValidationError) as info:
        load_facilities(path)
    first, second = info.value.problems
    assert first.startswith("row 2, field '纬度': value '121.8447' is out of range -90..90")
    assert "columns swapped?" in first
    assert second.startswith("row 3, field '纬度': value '95' is out of range -90..90")
    assert "swapped" not in second


def test_7_point_outside_the_area(tmp_path):
    rows = [ROWS[0], dict(ROWS[1], lon="120.0", lat="29.9")]  # Hangzhou Bay side, ~145 km west
    path = write_csv(tmp_path / "f.csv", rows)
    outside = r"row 3, field 'lon'/'lat': point \('120\.0', '29\.9'\) is 14[45]\.\d km outside Bei"
    with pytest.raises(ValidationError, match=outside + "lun District"):
        load_facilities(path, bounds=BEILUN, area_name="Beilun District")
    area = gpd.GeoDataFrame(geometry=[shapely.box(*BEILUN)], crs=4326).to_crs(32651)
    with pytest.raises(ValidationError, match=r"km outside the expected area"):
        load_facilities(path, area=area)
    # swapped coordinates that would fall inside the area are named as such
    with pytest.raises(ValidationError, match=r"columns swapped\?"):
        swapped = write_csv(tmp_path / "g.csv", [dict(ROWS[0], lon="29.9", lat="121.8")])
        load_facilities(swapped, bounds=BEILUN)
    with pytest.raises(ValueError, match=r"bounds=\(1, 2\) must be"):
        load_facilities(path, bounds=(1, 2))
    assert len(load_facilities(path, bounds=(119, 29, 123, 31))) == 2


def test_8_duplicate_ids(tmp_path):
    rows = [ROWS[0], ROWS[1], dict(ROWS[2], id="BL-001")]
    duplicate = r"row 2 and row 4, field 'id': duplicate id 'BL-001'; ids must be unique"
    with pytest.raises(ValidationError, match=duplicate):
        load_facilities(write_csv(tmp_path / "f.csv", rows))


def test_8b_blank_id_in_an_id_column(tmp_path):
    rows = [ROWS[0], dict(ROWS[1], id="")]
    with pytest.raises(ValidationError, match=r"row 3, field '编号': value '' is blank; every row"):
        load_facilities(write_csv(tmp_path / "f.csv", chinese(rows)))


def test_9_unknown_type(tmp_path):
    rows = [ROWS[0], dict(ROWS[1], type="gym"), dict(ROWS[2], type="")]
    with pytest.raises(ValidationError) as info:
        load_facilities(write_csv(tmp_path / "f.csv", rows))
    gym, blank = info.value.problems
    assert gym.startswith(
        "row 3, field 'type': value 'gym' is not a known facility type; known "
        "types: outdoor_station, mother_room, bookshelf, driver_home"
    )
    assert "户外劳动者驿站" in gym
    assert blank.startswith("row 4, field 'type': value '' is blank; fill in the type, or pass")
    rows = [{k: r[k] for k in ("name", "lon", "lat")} for r in ROWS]
    no_type = r"g\.csv: 1 problem found.*\n  - field 'type': no type column; columns found: "
    with pytest.raises(ValidationError, match=no_type + r".*; add one .* or pass type="):
        load_facilities(write_csv(tmp_path / "g.csv", rows))


def test_10_bad_opening_hours(tmp_path):
    rows = [dict(ROWS[0], hours="Mo-Fr 08:00-1800"), dict(ROWS[1], hours="全天")]
    with pytest.raises(ValidationError) as info:
        load_facilities(write_csv(tmp_path / "f.csv", rows))
    first, second = info.value.problems
    assert first.startswith(
        "row 2, field 'hours': value 'Mo-Fr 08:00-1800' is not OpenStreetMap opening_hours "
        "syntax: the parser stops at character 13 (expected extended_time); write e.g."
    )
    assert second.startswith("row 3, field 'hours': value '全天' is not OpenStreetMap")
    assert "'24/7'" in second


def test_11_bad_capacity(tmp_path):
    rows = [dict(ROWS[0], capacity="-3"), dict(ROWS[1], capacity="20人")]
    with pytest.raises(ValidationError) as info:
        load_facilities(write_csv(tmp_path / "f.csv", chinese(rows)))
    assert info.value.problems == [
        "row 2, field '容量': value '-3' must be a number >= 0 (people), or blank when unknown",
        "row 3, field '容量': value '20人' is not a number; write a number of people, e.g. 20, "
        "or leave it blank",
    ]


def _geojson(path, geometries):
    features = [
        {"type": "Feature", "properties": {"type": "bookshelf"}, "geometry": g} for g in geometries
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path


def test_12_non_point_and_empty_geometry(tmp_path):
    path = _geojson(
        tmp_path / "f.geojson",
        [
            None,
            {"type": "LineString", "coordinates": [[121.8, 29.9], [121.9, 29.9]]},
            {"type": "Point", "coordinates": [121.8, 29.9]},
        ],
    )
    with pytest.raises(ValidationError) as info:
        load_facilities(path)
    assert str(info.value).startswith(f"{path}: 2 problems found, nothing was loaded")
    empty, line = info.value.problems
    assert empty == "feature 1, field 'geometry': empty geometry; every facility needs a point"
    assert line.startswith(
        "feature 2, field 'geometry': value 'LINESTRING (121.8 29.9, 121.9 29.9)' is a "
        "LineString, not a Point"
    )


def test_13_unknown_amenity_is_a_warning_and_kept(tmp_path):
    rows = [dict(ROWS[0], amenities="饮水;空调;water;Sauna")]
    unknown = r"f\.csv: unknown amenities kept as given: row 2 '空调', row 2 'Sauna'; known: water"
    with pytest.warns(UserWarning, match=unknown):
        gdf = load_facilities(write_csv(tmp_path / "f.csv", rows))
    assert gdf["amenities"].tolist() == [["water", "空调", "Sauna"]]


def test_14_excel_merged_header_and_corrupt_files(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "驿站"
    sheet["A1"] = "北仑区户外劳动者驿站一览表"
    sheet.merge_cells("A1:D1")
    sheet.append(["名称", "经度", "纬度", "类型"])
    sheet.append(["驿站", 121.8, 29.9, "户外劳动者驿站"])
    book.save(tmp_path / "title.xlsx")
    # a merged title above the header is a title: the header is found below it
    with pytest.warns(UserWarning, match=r"'北仑区户外劳动者驿站一览表' above the header"):
        out = load_facilities(tmp_path / "title.xlsx")
    assert out["name"].tolist() == ["驿站"]
    sheet.merge_cells("B2:C2")
    book.save(tmp_path / "merged.xlsx")
    merged = r"merged\.xlsx: sheet '驿站' has merged header cells \(B2:C2\); the header row"
    with pytest.warns(UserWarning, match="title"), pytest.raises(ValidationError, match=merged):
        load_facilities(tmp_path / "merged.xlsx")

    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")
    with pytest.raises(ValidationError, match=r"broken\.xlsx: not a readable \.xlsx workbook"):
        load_facilities(tmp_path / "broken.xlsx")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValidationError, match=r"broken\.zip: not a valid zip archive"):
        load_facilities(tmp_path / "broken.zip")
    with zipfile.ZipFile(tmp_path / "noshp.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ValidationError, match=r"exactly one \.shp file, found \[\]"):
        load_facilities(tmp_path / "noshp.zip")


def test_all_problems_are_reported_at_once_in_row_order(tmp_path):
    rows = [
        dict(ROWS[0], hours="nonsense", capacity="-1"),
        ROWS[1],
        dict(ROWS[2], lon="x", level="世界级", updated_at="yesterday"),
    ]
    with pytest.raises(ValidationError) as info:
        load_facilities(write_csv(tmp_path / "f.csv", rows))
    rows_named = [re.match(r"row (\d+)", p).group(1) for p in info.value.problems]
    assert rows_named == ["2", "2", "4", "4", "4"]
    assert "field 'level': value '世界级' is not a level" in str(info.value)
    assert "field 'updated_at': value 'yesterday' is not a date" in str(info.value)


def test_row_numbers_count_blank_lines_as_a_spreadsheet_does(tmp_path):
    path = write_csv(tmp_path / "f.csv", ROWS)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], ",,,", lines[2], lines[3].replace("24/7", "x")]))
    with pytest.raises(ValidationError, match=r"row 5, field 'hours': value 'x'"):
        load_facilities(path)


def test_conflicting_columns(tmp_path):
    rows = [dict(ROWS[0], 经度=ROWS[0]["lon"])]
    with pytest.raises(ValidationError, match=r"columns 'lon', '经度' all mean 'lon'; keep one"):
        load_facilities(write_csv(tmp_path / "f.csv", rows))


# --- areas ----------------------------------------------------------------------------


def test_load_areas(tmp_path):
    bowtie = Polygon([(121.8, 29.8), (121.9, 29.9), (121.9, 29.8), (121.8, 29.9)])
    good = shapely.box(121.7, 29.8, 121.8, 29.9)
    frame = gpd.GeoDataFrame(
        {"街道名称": ["新碶街道", "霞浦街道"], "name_en": ["Xinqi", "Xiapu"]},
        geometry=[good, bowtie],
        crs=4326,
    )
    frame.to_file(tmp_path / "areas.gpkg")
    with pytest.warns(UserWarning, match=r"areas\.gpkg: repaired invalid polygons.*feature 2"):
        areas = load_areas(tmp_path / "areas.gpkg", level="subdistrict")
    assert list(areas.columns) == ["id", "name", "name_en", "level", "geometry"]
    assert areas["id"].tolist() == ["subdistrict-0001", "subdistrict-0002"]
    assert areas["name"].tolist() == ["新碶街道", "霞浦街道"]
    assert areas.geometry.is_valid.all()
    assert set(areas.geom_type) <= {"Polygon", "MultiPolygon"}
    assert areas.geometry.iloc[0].equals(good)


def test_load_areas_gcj02_and_errors(tmp_path):
    wgs = shapely.box(121.7, 29.8, 121.8, 29.9)
    gcj = shapely.transform(wgs, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    gpd.GeoDataFrame({"id": ["a"], "name": ["A"]}, geometry=[gcj], crs=4326).to_file(
        tmp_path / "gcj.geojson"
    )
    areas = load_areas(tmp_path / "gcj.geojson", datum="gcj02")
    np.testing.assert_allclose(areas.geometry.iloc[0].bounds, wgs.bounds, atol=1e-8)
    assert areas["level"].tolist() == [""]

    gpd.GeoDataFrame(
        {"id": ["a", "a"], "name": ["A", ""]},
        geometry=[LineString([(121.7, 29.8), (121.8, 29.9)]), wgs],
        crs=4326,
    ).to_file(tmp_path / "bad.geojson")
    with pytest.raises(ValidationError) as info:
        load_areas(tmp_path / "bad.geojson")
    text = str(info.value)
    assert "feature 1, field 'geometry': LineString is not a Polygon or MultiPolygon" in text
    assert "feature 2, field 'name': value '' is blank" in text
    assert "feature 1 and feature 2, field 'id': duplicate id 'a'" in text
    (tmp_path / "areas.csv").write_text("a,b\n1,2\n")
    with pytest.raises(
        ValidationError, match=r"unsupported file type '\.csv'; supported: \.geojson"
    ):
        load_areas(tmp_path / "areas.csv")
