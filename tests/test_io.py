"""The shared file reader and problem collector (geo._io), seen through both loaders."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo._io import MAX_SHOWN, Problems, match_columns, parse_numbers, read_file
from geo.demand import load_demand
from geo.errors import ValidationError
from geo.layers import SUPPORTED_FACILITY_FORMATS, load_areas, load_facilities


def _raises(load, path, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        load(path, **kwargs)
    return info.value


def test_the_same_mistake_reads_the_same_in_facility_and_demand_files(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "id,type,lon,lat,weight,group\n"
        "A,bookshelf,abc,29.9,1,outdoor\n"
        "A,bookshelf,121.8,95,1,outdoor\n",
        encoding="utf-8",
    )
    facility = _raises(load_facilities, path)
    demand = _raises(load_demand, path)
    assert (
        facility.problems
        == demand.problems
        == [
            "row 2, field 'lon': value 'abc' is not a number; write decimal degrees such as 121.85 "
            "(no letters, degree signs or N/E)",
            "row 2 and row 3, field 'id': duplicate id 'A'; ids must be unique",
            "row 3, field 'lat': value '95' is out of range -90..90 for a latitude",
        ]
    )
    assert str(facility) == str(demand)
    assert str(demand).startswith(f"{path}: 3 problems found, nothing was loaded:\n  - row 2, ")


def test_gbk_semicolon_csv_with_unit_suffixes_in_the_header(tmp_path):
    path = tmp_path / "骑手.csv"
    text = (
        "经度（GCJ-02）;纬度(°);人数;人群\n121.85;29.90;1,250;outdoor\n;;;\n121.86;29.91;７;outdoor"
    )
    path.write_bytes(text.encode("gbk"))
    raw = read_file(path, SUPPORTED_FACILITY_FORMATS)
    assert list(raw.frame.columns) == ["经度（GCJ-02）", "纬度(°)", "人数", "人群"]
    assert raw.labels == ["row 2", "row 4"]  # the blank line is skipped, and counted
    demand = load_demand(path, datum="gcj02")
    assert demand["weight"].tolist() == [1250.0, 7.0]  # thousands separator, full-width digit
    assert demand["id"].tolist() == ["1", "3"]


def test_bom_twice_and_undecodable_bytes(tmp_path):
    path = tmp_path / "twice.csv"  # some tools add a BOM to a file that already has one
    path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbfid,lon,lat\nS1,121.8,29.9\n")
    assert load_facilities(path, type="bookshelf")["id"].tolist() == ["S1"]
    (tmp_path / "bad.csv").write_bytes(b"lon,lat\n\xff\xfe\xff\n")
    with pytest.raises(ValidationError, match=r"bad\.csv: cannot decode the file as UTF-8 or GBK"):
        load_demand(tmp_path / "bad.csv")


def test_ragged_row(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("lon,lat,weight\n121.8,29.9,1,,\n121,8,29.9,1\n", encoding="utf-8")
    error = _raises(load_demand, path, group="outdoor")
    assert error.problems == [
        "row 3: 4 cells but the header has 3 columns; quote values that contain the separator"
    ]
    assert str(error).startswith(f"{path}: 1 problem found, nothing was loaded:\n  - row 3: ")


def test_merged_excel_cells_are_refused_by_both_loaders(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "lon", "lat", "group"])
    sheet.append(["a", 121.8, 29.9, "outdoor"])
    sheet.append(["b", 121.81, 29.91, "outdoor"])
    sheet.append(["c", 121.82, 29.92, None])
    sheet.merge_cells("D3:D4")
    book.save(tmp_path / "body.xlsx")
    body = r"body\.xlsx: sheet 'Sheet' has merged cells \(D3:D4\); unmerge them and fill"
    with pytest.raises(ValidationError, match=body):
        load_demand(tmp_path / "body.xlsx")
    sheet.unmerge_cells("D3:D4")
    sheet.merge_cells("A1:B1")
    book.save(tmp_path / "head.xlsx")
    for load in (load_demand, load_facilities):
        with pytest.raises(ValidationError, match=r"head\.xlsx: .* merged header cells \(A1:B1\)"):
            load(tmp_path / "head.xlsx")


def test_zip_with_a_damaged_member(tmp_path):
    path = tmp_path / "areas.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("areas.shp", b"x" * 64)
        zf.writestr("areas.dbf", b"y" * 64)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"x" * 64, b"x" * 63 + b"!"))  # CRC no longer matches
    with pytest.raises(
        ValidationError, match=r"areas\.zip: corrupt zip archive: member 'areas\.shp"
    ):
        load_demand(path)
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ValidationError, match=r"folder\.csv: is a directory, not a file"):
        load_demand(tmp_path / "folder.csv")


def test_two_columns_meaning_one_field(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("lon,lat,people,Weight (人),group\n121.8,29.9,3,4,outdoor\n", "utf-8")
    error = _raises(load_demand, path)
    assert error.problems == ["columns 'people', 'Weight (人)' all mean 'weight'; keep one"]
    assert load_demand(path, weight="people")["weight"].tolist() == [3.0]  # named: no clash
    problems = Problems("x")
    assert match_columns(["\ufeffLON", "Lat（WGS84）"], {"lon": ["lon"], "lat": ["lat"]}, problems)
    assert problems.items == []


def test_more_than_fifty_problems_are_cut_short_in_the_message(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("lon,lat\n" + "x,29.9\n" * 60, encoding="utf-8")
    error = _raises(load_facilities, path, type="bookshelf")
    assert len(error.problems) == 60
    lines = str(error).splitlines()
    assert lines[0] == f"{path}: 60 problems found, nothing was loaded:"
    assert len(lines) == 1 + MAX_SHOWN + 1
    assert lines[1].startswith("  - row 2, field 'lon': value 'x' is not a number")
    assert lines[MAX_SHOWN].startswith(f"  - row {MAX_SHOWN + 1}, ")
    assert lines[-1] == "  ... and 10 more (see the error's .problems)"


def test_number_rules_are_shared(tmp_path):
    values = pd.Series(
        ["1,234", " 5 ", "１２", True, "12 people", "inf", "", None, 3], dtype=object
    )
    numbers, blank, bad = parse_numbers(values)
    np.testing.assert_array_equal(numbers[:3], [1234.0, 5.0, 12.0])
    assert blank.tolist() == [False] * 6 + [True, True, False]
    assert bad.tolist() == [False] * 3 + [True] * 3 + [False] * 3
    path = tmp_path / "f.csv"
    path.write_text('lon,lat,capacity\n121.8,29.9,"1,200"\n', encoding="utf-8")
    assert load_facilities(path, type="bookshelf")["capacity"].tolist() == [1200.0]


def test_flatgeobuf_reaches_every_loader(tmp_path):
    path = tmp_path / "f.fgb"
    points = gpd.GeoDataFrame({"id": ["s1"], "weight": [4]}, geometry=[Point(121.8, 29.9)])
    points.set_crs(4326).to_file(path, driver="FlatGeobuf")
    assert load_facilities(path, type="bookshelf")["id"].tolist() == ["s1"]
    assert load_demand(path, group="outdoor")["weight"].tolist() == [4.0]
    gpd.GeoDataFrame({"name": ["A"]}, geometry=[box(121.7, 29.8, 121.8, 29.9)], crs=4326).to_file(
        tmp_path / "a.fgb", driver="FlatGeobuf"
    )
    assert load_areas(tmp_path / "a.fgb")["name"].tolist() == ["A"]


def test_geoparquet_in_and_out(tmp_path):
    from geo.demand import demand_to_geoparquet
    from geo.layers import facilities_to_file

    stations = tmp_path / "s.csv"
    stations.write_text(
        "id,type,name,lon,lat,服务设施,容量\nS1,bookshelf,书屋,121.85,29.9,water;wifi,20\n"
        "S2,mother_room,小屋,121.86,29.91,,\n",
        encoding="utf-8",
    )
    fac = load_facilities(stations)
    back = load_facilities(facilities_to_file(fac, tmp_path / "s.parquet"))
    pd.testing.assert_frame_equal(pd.DataFrame(back), pd.DataFrame(fac))
    demand = load_demand(
        gpd.GeoDataFrame(
            {"weight": [3.0, 4.0], "group": ["outdoor", "all_workers"]},
            geometry=[Point(121.8, 29.9), box(121.8, 29.9, 121.81, 29.91)],
            crs=4326,
        )
    )
    again = load_demand(demand_to_geoparquet(demand, tmp_path / "d.parquet"))
    assert again["id"].tolist() == demand["id"].tolist()
    assert again["group"].tolist() == demand["group"].tolist()
    assert again["weight"].sum() == pytest.approx(7.0)
    np.testing.assert_array_equal(again.geometry.x, demand.geometry.x)
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"lon": [121.8], "lat": [29.9], "group": ["outdoor"]}).to_parquet(plain)
    assert load_demand(plain)["group"].tolist() == ["outdoor"]
