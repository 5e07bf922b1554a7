"""Hostile input files (tests/data/README.md): each is refused with file, row and field, or
loaded correctly with a warning saying what was assumed; none is accepted wrongly."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from geo._io import read_file
from geo.crs import gcj02_to_wgs84
from geo.demand import load_demand
from geo.errors import FileNotFound, ServicemapError, ValidationError
from geo.layers import load_areas, load_boundary, load_facilities

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
import make_hostile  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return make_hostile.build(tmp_path_factory.mktemp("hostile"))


def test_a_stray_quote_swallowing_rows_is_refused_naming_row_and_field():
    path = DATA / "stray_quote.csv"
    with pytest.raises(ValidationError) as info:
        load_demand(path)
    text = str(info.value)
    assert text.startswith(f"{path}: 1 problem found, nothing was loaded")
    assert re.search(r"row 4, field 'name': a '\"' opens a quoted cell .* swallows 17 line", text)
    with pytest.raises(ValidationError, match=r"row 4, field 'name'"):
        load_facilities(path, type="outdoor_station")


def test_zero_zero_is_refused_in_tables_and_vector_files(tmp_path):
    with pytest.raises(ValidationError, match=r"row 3, field 'lon'/'lat': point \(0, 0\)"):
        load_facilities(DATA / "zero_zero.csv")
    csv = tmp_path / "d.csv"
    csv.write_text("lon,lat,group\n121.8,29.9,outdoor\n0,0.0,outdoor\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"row 3, field 'lon'/'lat': point \(0, 0\) is a"):
        load_demand(csv)
    gj = tmp_path / "d.geojson"
    gj.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
        '{"group":"outdoor"},"geometry":{"type":"Point","coordinates":[0,0]}}]}'
    )
    with pytest.raises(ValidationError, match=r"feature 1, field 'geometry': point \(0, 0\)"):
        load_demand(gj)


def test_points_outside_the_district_boundary_are_a_warning_naming_the_row():
    boundary = DATA / "district_box.geojson"
    with pytest.warns(UserWarning, match=r"1 point\(s\) outside the district boundary: row 3 "):
        out = load_facilities(DATA / "outside_boundary.csv", boundary=boundary)
    assert out["id"].tolist() == ["S1", "S2"]  # loaded as given
    with pytest.warns(UserWarning, match=r"outside the district boundary: row 3 "):
        load_demand(
            DATA / "outside_boundary.csv", group="outdoor", boundary=load_boundary(boundary)
        )


def test_a_multi_layer_geopackage_needs_layer_and_lists_the_layers(built):
    path = built["gpkg"]
    listing = r"2 layers: 'stations' \(Point\), 'subdistricts' \(Polygon\); pass layer="
    for load in (load_facilities, load_demand, load_areas):
        with pytest.raises(ValidationError, match=listing):
            load(path)
    out = load_facilities(path, layer="stations")
    assert out["id"].tolist() == ["S1", "S2"]
    assert load_areas(path, layer="subdistricts")["name"].tolist() == ["新碶"]
    with pytest.raises(ValidationError, match=r"no layer 'nope'; layers: 'stations'"):
        load_facilities(path, layer="nope")


@pytest.mark.parametrize("case", ["shp_nocpg", "shp_gb2312", "shp_zip"])
def test_gbk_shapefiles_read_without_garbling(built, case):
    out = load_facilities(built[case])
    assert out["name"].tolist() == ["新碶街道驿站", "大碶街道驿站"]
    assert out["address"].tolist() == ["新碶街道四明山路517号", "大碶街道"]


def test_shapefile_text_neither_utf8_nor_gbk_is_demanded(built, tmp_path):
    src = built["shp_nocpg"]
    for f in src.parent.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    dbf = tmp_path / "stations.dbf"
    data = bytearray(dbf.read_bytes())
    data[-3:-1] = b"\x81\x20"  # half a GBK character: no encoding reads it
    dbf.write_bytes(bytes(data))
    with pytest.raises(ValidationError, match=r"no \.cpg file .* add a \.cpg file"):
        load_facilities(tmp_path / "stations.shp")


def test_group_variants_are_matched_to_the_registry_with_a_warning():
    with pytest.warns(UserWarning, match=r"'Outdoor' as 'outdoor', 'OUTDOOR' as 'outdoor', "):
        d = load_demand(DATA / "group_variants.csv")
    assert d["group"].tolist() == ["outdoor"] * 5
    assert d["weight"].sum() == 150  # every person counted, none dropped later
    with pytest.raises(ValidationError) as info:
        load_demand(DATA / "group_unknown.csv")
    assert re.search(
        r"row 3, field 'group': value 'riders' is not a demand group; use one of outdoor, "
        r"female_nursing, all_workers, truck_drivers",
        str(info.value),
    )
    with pytest.raises(ValidationError, match=r"group='riders' is not a demand group"):
        load_demand(DATA / "no_group.csv", group="riders")
    assert load_demand(DATA / "no_group.csv", group="Truck drivers")["group"].iloc[0] == (
        "truck_drivers"
    )


def test_a_datum_named_in_the_header_is_used_or_the_conflict_reported():
    path = DATA / "datum_header.csv"
    with pytest.warns(UserWarning, match=r"names the datum 'gcj02'"):
        out = load_facilities(path)
    lon, lat = gcj02_to_wgs84(np.array([121.854]), np.array([29.904]))
    assert out.geometry.x.iloc[0] == pytest.approx(lon[0], abs=1e-9)
    assert out.geometry.y.iloc[0] == pytest.approx(lat[0], abs=1e-9)
    assert load_facilities(path, datum="gcj02").geometry.equals(out.geometry)
    with pytest.raises(ValidationError, match=r"header names the datum 'gcj02' but datum='wgs84'"):
        load_facilities(path, datum="wgs84")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("repeated_header.csv", r"columns C and D are both named 'weight'; rename or delete one"),
        ("repeated_id.csv", r"columns A and B are both named 'id'"),
    ],
)
def test_repeated_headers_are_a_message_not_a_crash(name, message):
    with pytest.raises(ValidationError, match=message):
        load_demand(DATA / name)


def test_long_cells_load_or_are_explained(built):
    out = load_facilities(built["long"])
    assert len(out.loc[0, "address"]) == 140_000
    with pytest.raises(ValidationError, match=r"row 2 .*never closed"):
        load_demand(built["unclosed"])


def test_a_title_row_above_the_header_is_skipped_with_a_warning(built):
    with pytest.warns(UserWarning, match=r"'北仑区骑手分布（2024年5月）' above the header looks"):
        d = load_demand(DATA / "title_row.csv")
    assert d["id"].tolist() == ["R1", "R2"]
    d = load_demand(built["header_row2"])  # a blank row 1 is no title: no warning
    assert d["id"].tolist() == ["R1"]
    with pytest.warns(UserWarning, match="title"):
        raw = read_file(DATA / "title_row.csv", (".csv",))
    assert raw.labels == ["row 3", "row 4"]  # rows are counted as the spreadsheet shows them


def test_data_on_the_second_sheet_is_found(built):
    with pytest.warns(
        UserWarning, match=r"first sheet '说明' has no data rows; reading sheet '骑手'"
    ):
        d = load_demand(built["second_sheet"])
    assert d["id"].tolist() == ["R1"]
    assert load_demand(built["second_sheet"], layer="骑手")["id"].tolist() == ["R1"]


def test_formulas_without_saved_values_are_named(built):
    with pytest.raises(ValidationError) as info:
        load_demand(built["formulas"])
    assert info.value.problems == [
        "row 2, field 'lon' (sheet 'Sheet'): a formula with no saved value (the workbook was "
        "written by a program and never calculated); open it in Excel or LibreOffice and "
        "save it, or paste the values",
        "row 2, field 'weight' (sheet 'Sheet'): a formula with no saved value (the workbook "
        "was written by a program and never calculated); open it in Excel or LibreOffice "
        "and save it, or paste the values",
    ]


def test_utf16_exports_and_renamed_workbooks_load(built):
    d = load_demand(DATA / "utf16.csv")
    assert d[["id", "weight", "group"]].to_dict("records") == [
        {"id": "R1", "weight": 10.0, "group": "outdoor"}
    ]
    with pytest.warns(UserWarning) as record:
        d = load_demand(built["xlsx_as_csv"])
    assert any("an Excel workbook (.xlsx) named .csv" in str(w.message) for w in record)
    assert d["id"].tolist() == ["R1"]


def test_missing_files_are_one_error_type(tmp_path):
    for call in (
        lambda: load_facilities(tmp_path / "nope.csv"),
        lambda: load_demand(tmp_path / "nope.csv"),
        lambda: load_areas(tmp_path / "nope.geojson"),
        lambda: load_boundary(tmp_path / "nope.geojson"),
    ):
        with pytest.raises(FileNotFound, match=r"nope\.\w+' does not exist") as info:
            call()
        assert isinstance(info.value, FileNotFoundError | ServicemapError)


def test_the_cli_names_options_that_exist():
    from cli.main import main

    runner = CliRunner()
    args = ["coverage", "--facilities", str(DATA / "no_group_facilities.csv")]
    result = runner.invoke(main, [*args, "--demand", str(DATA / "no_group.csv"), "--json"])
    assert result.exit_code != 0
    assert "no group column" in result.output and "--group GROUP" in result.output
    result = runner.invoke(
        main,
        [*args, "--demand", str(DATA / "no_group.csv"), "--group", "outdoor", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert '"people_total": 15.0' in result.output
    result = runner.invoke(
        main,
        [*args, "--demand", str(DATA / "no_group.csv"), "--group", "outdoor", "--weight", "nope"],
    )
    assert "weight column 'nope' not found" in result.output
    for command in ("coverage", "suggest"):
        helptext = runner.invoke(main, [command, "--help"]).output
        for option in ("--group", "--weight", "--layer"):
            assert option in helptext


def test_vector_files_with_geometry_only_are_not_empty(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point, box

    path = tmp_path / "bare.geojson"
    gpd.GeoDataFrame(geometry=[box(121.7, 29.8, 122.0, 30.0)], crs=4326).to_file(path)
    assert len(load_boundary(path)) == 1
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=[Point(121.8, 29.9), Point(121.9, 29.9)], crs=4326).to_file(points)
    assert load_demand(points, group="outdoor")["weight"].tolist() == [1.0, 1.0]
