"""The facility-type registry: shipped defaults, district files, and error messages."""

from __future__ import annotations

import dataclasses
import re

import pytest

from geo.errors import FileNotFound, RegistryError, ServicemapError
from geo.layers import (
    DEFAULT_REGISTRY_PATH,
    MODES,
    FacilityType,
    default_registry,
    get_type,
    load_facilities,
    load_registry,
    registry_path_from_env,
)

CRAFT_SCHOOL = """
[craft_school]
label_zh = "工匠学堂"
label_en = "Craftsmen's school"
color = "#66a61e"
icon = "graduation-cap"
demand_group = "all_workers"
mode = "ebike"
rule = "radius"
threshold_m = 3000
thresholds_m = [2000, 3000, 5000]

[craft_school.sources]
threshold_m = "District assumption: a 15-minute e-bike ride."
"""


@pytest.fixture
def district_file(tmp_path):
    path = tmp_path / "beilun_types.toml"
    path.write_text(DEFAULT_REGISTRY_PATH.read_text(encoding="utf-8") + CRAFT_SCHOOL, "utf-8")
    return path


def test_shipped_registry_has_the_four_seed_types():
    registry = load_registry()
    assert list(registry) == ["outdoor_station", "mother_room", "bookshelf", "driver_home"]
    expected = {
        "outdoor_station": ("户外劳动者驿站", "outdoor", "walk", "radius"),
        "mother_room": ("妈咪暖心小屋", "female_nursing", "walk", "radius"),
        "bookshelf": ("职工书屋", "all_workers", "walk", "radius"),
        "driver_home": ("司机之家", "truck_drivers", "truck", "route"),
    }
    distances = {
        "outdoor_station": (1000, (500, 1000, 1500), 900),
        "mother_room": (500, (300, 500, 1000), 600),
        "bookshelf": (1500, (1000, 1500, 3000), 900),
        "driver_home": (15000, (10000, 15000, 30000), 1200),
    }
    for key, labels in expected.items():
        ft = registry[key]
        thr, thrs, thr_s = distances[key]
        assert isinstance(ft, FacilityType)
        assert (ft.key, ft.label_zh, ft.demand_group, ft.mode, ft.rule) == (key, *labels)
        assert ft.threshold_m == thr and isinstance(ft.threshold_m, float)
        assert ft.thresholds_m == thrs and isinstance(ft.thresholds_m, tuple)
        assert ft.threshold_s == thr_s
        assert ft.label_en and re.fullmatch(r"#[0-9a-f]{6}", ft.color) and ft.icon
        assert ft.sources and all(isinstance(v, str) and v for v in ft.sources.values())
        assert "threshold_m" in ft.sources
    assert registry["driver_home"].max_offroute_m == 3000
    assert all(registry[k].max_offroute_m is None for k in expected if k != "driver_home")
    assert len({ft.color for ft in registry.values()}) == 4
    assert "assumption" in registry["mother_room"].sources["threshold_m"].lower()
    assert "assumption" in registry["bookshelf"].sources["threshold_m"].lower()
    assert "全国总工会" in registry["outdoor_station"].sources["threshold_m"]


def test_facility_type_is_frozen_and_hashable():
    ft = get_type("bookshelf")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ft.threshold_m = 10  # type: ignore[misc]
    assert hash(ft) == hash(get_type("bookshelf"))
    assert ft.mode in MODES


def test_get_type_by_key_and_labels_and_unknown():
    assert get_type("职工书屋").key == "bookshelf"
    assert get_type("Workers' Bookshelf").key == "bookshelf"
    assert get_type(" Driver_Home ").key == "driver_home"
    with pytest.raises(RegistryError, match=r"unknown facility type 'gym'; known types: outdoo"):
        get_type("gym")


def test_default_registry_returns_a_copy():
    reg = default_registry()
    reg.pop("bookshelf")
    assert "bookshelf" in default_registry()


def test_district_file_via_path(district_file):
    registry = load_registry(district_file)
    assert list(registry)[-1] == "craft_school"
    assert len(registry) == 5
    craft = get_type("工匠学堂", registry)
    assert craft.mode == "ebike" and craft.threshold_m == 3000.0 and craft.threshold_s is None
    assert craft.color == "#66a61e"


def test_district_file_via_registry_argument(district_file, monkeypatch, tmp_path):
    csv = tmp_path / "schools.csv"
    csv.write_text("名称,经度,纬度\n北仑工匠学堂,121.85,29.90\n", encoding="utf-8")
    gdf = load_facilities(csv, type="工匠学堂", registry=district_file)
    assert gdf["type"].tolist() == ["craft_school"]
    assert gdf["id"].tolist() == ["craft_school-0001"]
    # geo never reads the environment: the variable is for the CLI and the web app
    monkeypatch.setenv("SERVICEMAP_REGISTRY", str(district_file))
    assert "craft_school" not in load_registry()
    assert "craft_school" not in default_registry()
    with pytest.raises(RegistryError, match="unknown facility type '工匠学堂'"):
        load_facilities(csv, type="工匠学堂")
    assert registry_path_from_env() == district_file


def test_the_cli_reads_the_registry_from_the_environment(district_file, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from cli.main import main

    runner = CliRunner()
    monkeypatch.setenv("SERVICEMAP_REGISTRY", str(district_file))
    result = runner.invoke(main, ["types"])
    assert result.exit_code == 0, result.output
    assert "craft_school" in result.output
    monkeypatch.setenv("SERVICEMAP_REGISTRY", str(tmp_path / "nope.toml"))
    result = runner.invoke(main, ["types"])
    assert result.exit_code != 0
    assert "nope.toml" in result.output and "SERVICEMAP_REGISTRY" in result.output
    assert "Traceback" not in result.output


def test_a_missing_registry_is_one_error_type(tmp_path):
    with pytest.raises(FileNotFound, match=r"nope\.toml.*does not exist") as info:
        load_registry(tmp_path / "nope.toml")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ServicemapError)


def _bad(tmp_path, old: str, new: str):
    text = CRAFT_SCHOOL.replace(old, new)
    assert text != CRAFT_SCHOOL
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('mode = "ebike"', 'mode = "flying"', r"field 'mode': 'flying' is not a travel mode"),
        ('color = "#66a61e"', 'color = "green"', r"field 'color': 'green' is not a CSS hex"),
        ('icon = "graduation-cap"', "icon = 3", r"field 'icon': 3 is not a short icon name"),
        ("threshold_m = 3000\n", "threshold_m = -5\n", r"field 'threshold_m': -5 must be a pos"),
        ("threshold_m = 3000\n", "threshold_m = 2500\n", r"field 'threshold_m': 2500 must be one"),
        ("[2000, 3000, 5000]", "[5000, 3000]", r"field 'thresholds_m': \[5000, 3000\] must be asc"),
        ("[2000, 3000, 5000]", '"3000"', r"field 'thresholds_m': '3000' must be a list"),
        ('rule = "radius"', 'rule = "route"', r"field 'max_offroute_m': None is required"),
        ('rule = "radius"', 'rule = "radius"\nmax_offroute_m = 5', r"'max_offroute_m': 5 is only"),
        ('rule = "radius"', 'rule = "radius"\ntreshold_s = 5', r"field 'treshold_s': not a known"),
        ('label_en = "Craftsmen\'s school"\n', "", r"field 'label_en': missing"),
        ('label_zh = "工匠学堂"', 'label_zh = ""', r"field 'label_zh': '' must be a non-empty"),
        ('label_zh = "工匠学堂"', 'label_zh = "职工书屋"', r"label '职工书屋' is also used by"),
        ('demand_group = "all_workers"', 'demand_group = "All Workers"', r"'demand_group': 'All"),
        ('threshold_m = "District', 'threshold_m = 1\nx = "District', r"field 'sources'"),
    ],
)
def test_malformed_registry_names_file_key_and_field(tmp_path, old, new, message):
    path = _bad(tmp_path, old, new)
    if "职工书屋" in new:  # duplicate labels only clash against the shipped types
        path.write_text(DEFAULT_REGISTRY_PATH.read_text("utf-8") + path.read_text("utf-8"))
    with pytest.raises(RegistryError, match=re.escape(str(path))) as info:
        load_registry(path)
    assert re.search(message, str(info.value)), str(info.value)
    if "also used" not in message:
        assert "type 'craft_school'" in str(info.value)


def test_malformed_registry_toml_and_keys(tmp_path):
    path = _bad(tmp_path, "[craft_school]\n", "[craft_school\n")
    with pytest.raises(RegistryError, match=r"bad\.toml: not valid TOML.*line"):
        load_registry(path)
    path = _bad(tmp_path, "[craft_school]\n", "[Craft-School]\n")
    with pytest.raises(RegistryError, match=r"type key 'Craft-School' is not valid"):
        load_registry(path)
    path.write_text('craft_school = "yes"\n', encoding="utf-8")
    with pytest.raises(RegistryError, match=r"'craft_school' = 'yes' is not a table"):
        load_registry(path)
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=r"defines no facility types"):
        load_registry(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.toml"):
        load_registry(tmp_path / "missing.toml")
