"""The `servicemap` command, checked against the Python API it wraps."""

import json

import pytest
from click.testing import CliRunner

from cli import main
from geo import coverage, coverage_summary, load_demo


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def test_coverage_json_for_one_type_matches_the_api(runner):
    result = runner.invoke(
        main, ["coverage", "--demo", "beilun", "--type", "outdoor_station", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    demo = load_demo("beilun")
    s = coverage_summary(
        coverage(demo.facilities, demo.demand, facility_type="outdoor_station"), demo.areas
    )
    assert out["facility_type"] == "outdoor_station"
    assert out["label_zh"] == "户外劳动者驿站"
    assert out["covered_share"] == round(s.covered_share, 4)
    assert out["people_uncovered"] == round(s.people_uncovered, 1)
    assert out["facilities"] == 44
    assert [a["area_id"] for a in out["areas"]] == s.by_area["area_id"].head(5).tolist()
    assert out["areas"][0]["uncovered"] >= out["areas"][-1]["uncovered"]
    assert len(out["gaps"]) == 5


def test_coverage_json_for_every_type(runner):
    result = runner.invoke(main, ["coverage", "--demo", "beilun", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [o["facility_type"] for o in out] == [
        "outdoor_station",
        "mother_room",
        "bookshelf",
        "driver_home",
    ]
    for o in out:
        assert 0 < o["covered_share"] < 1
        assert o["people_covered"] + o["people_uncovered"] == pytest.approx(o["people_total"])
    assert "along freight routes" in out[3]["method"]


def test_detour_factor_is_stated_and_lowers_coverage(runner):
    plain = json.loads(
        runner.invoke(
            main, ["coverage", "--demo", "beilun", "--type", "outdoor_station", "--json"]
        ).stdout
    )
    detour = json.loads(
        runner.invoke(
            main,
            [
                "coverage",
                "--demo",
                "beilun",
                "--type",
                "outdoor_station",
                "--detour",
                "1.3",
                "--json",
            ],
        ).stdout
    )
    assert "1.3 detour factor" in detour["method"]
    assert detour["covered_share"] < plain["covered_share"]


def test_text_report_names_every_type(runner):
    result = runner.invoke(main, ["report"])
    assert result.exit_code == 0, result.output
    for label in ("户外劳动者驿站", "妈咪暖心小屋", "职工书屋", "司机之家"):
        assert label in result.output
    assert "left out" in result.output


def test_user_files(runner, tmp_path):
    fac = tmp_path / "stations.csv"
    fac.write_text(
        "编号,类型,名称,经度,纬度\nS1,outdoor_station,一号站,121.80,29.90\n", encoding="utf-8"
    )
    dem = tmp_path / "riders.csv"
    dem.write_text(
        "id,lon,lat,weight,group\nR1,121.801,29.90,10,outdoor\nR2,121.90,29.90,5,outdoor\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        main,
        [
            "coverage",
            "--facilities",
            str(fac),
            "--demand",
            str(dem),
            "--type",
            "outdoor_station",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["people_total"] == 15
    assert out["people_covered"] == 10


def test_bad_input_is_a_clear_error(runner, tmp_path):
    fac = tmp_path / "stations.csv"
    fac.write_text("id,type,name,lon,lat\nS1,outdoor_station,a,abc,29.9\n", encoding="utf-8")
    dem = tmp_path / "riders.csv"
    dem.write_text("id,lon,lat,weight,group\nR1,121.8,29.9,10,outdoor\n", encoding="utf-8")
    result = runner.invoke(main, ["coverage", "--facilities", str(fac), "--demand", str(dem)])
    assert result.exit_code == 2
    assert "stations.csv" in result.output
    assert "row 2" in result.output
    assert "'abc'" in result.output
    unknown = runner.invoke(main, ["coverage", "--demo", "beilun", "--type", "spa"])
    assert unknown.exit_code == 2
    assert "'spa' not in the registry" in unknown.output
    both = runner.invoke(main, ["coverage", "--demo", "beilun", "--facilities", str(fac)])
    assert both.exit_code == 2 and "not both" in both.output


def test_types_lists_the_registry(runner):
    result = runner.invoke(main, ["types", "--json"])
    assert result.exit_code == 0
    types = json.loads(result.stdout)
    assert types["driver_home"]["rule"] == "route"
    assert types["outdoor_station"]["threshold_m"] == 1000
