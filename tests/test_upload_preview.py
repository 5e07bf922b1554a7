"""The upload preview (geo side): what an import would do, and an apply that does exactly
that. Every test taking ``store_location`` runs on a GeoPackage and on a real PostGIS.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from pyproj import Geod
from shapely.geometry import Point

from geo import ConflictError, ValidationError, Workspace
from geo.workspace import ImportPreview
from tests.test_store import BEILUN, _fingerprint, _make_workspace, _reopen


def _table() -> pd.DataFrame:
    return pd.read_csv(BEILUN / "facilities.csv", dtype=str, keep_default_na=False)


@pytest.fixture
def ws(store_location, tmp_path):
    w = _make_workspace(store_location, tmp_path / "ws")
    path = tmp_path / "stations.xlsx"
    _table().to_excel(path, index=False)
    w.import_file("facilities", path, datum="gcj02", reason="2024 list", user="alice")
    yield w
    w.close()


def _edited(tmp_path: Path) -> Path:
    """The station list with one renamed, one moved ~97 m east, one new and one dropped."""
    t = _table()
    t.loc[0, "名称"] = "改名的驿站"
    t.loc[0, "开放时间"] = "Mo-Fr 09:00-17:00"
    t.loc[1, "经度"] = f"{float(t.loc[1, '经度']) + 0.001:.6f}"
    new = t.iloc[[2]].copy()
    new["编号"] = "OS900"
    new["名称"] = "新开的驿站"
    t = pd.concat([t.drop(index=5), new], ignore_index=True)
    path = tmp_path / "edited.csv"
    t.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("replace", [False, True])
def test_preview_says_what_apply_does_and_writes_nothing(ws, store_location, tmp_path, replace):
    path = _edited(tmp_path)
    version = ws.version
    before = ws.facilities
    preview = ws.preview_import("facilities", path, datum="gcj02", replace=replace)
    assert ws.version == version and ws.store.changes()[0].version == version
    assert preview.ok and preview.base_version == version
    assert [a["id"] for a in preview.added] == ["OS900"]
    assert preview.added[0]["name"] == "新开的驿站"
    assert [r["id"] for r in preview.removed] == (["OS006"] if replace else [])

    (moved,) = preview.moved
    old = before.set_index("id").geometry["OS002"]
    assert moved["id"] == "OS002" and moved["from"] == pytest.approx([old.x, old.y])
    want = Geod(ellps="WGS84").inv(*moved["from"], *moved["to"])[2]
    assert moved["distance_m"] == pytest.approx(want, abs=0.01) and 80 < want < 110

    (changed,) = preview.changed
    assert changed["id"] == "OS001"
    assert {f["field"]: (f["before"], f["after"]) for f in changed["fields"]} == {
        "name": ("新碶街道四明山路户外劳动者驿站", "改名的驿站"),
        "hours": ("Mo-Su 08:00-20:00", "Mo-Fr 09:00-17:00"),
    }
    assert preview.counts == {"added": 1, "moved": 1, "changed": 1,
                              "removed": int(replace), "rejected": 0,
                              "unchanged": 192}  # fmt: skip
    json.dumps(preview.to_json())  # JSON-ready, for the web page

    # applied through a JSON round trip (as the web app keeps it between requests)
    again = ImportPreview.from_json(json.loads(json.dumps(preview.to_json(limit=0))))
    summary = ws.apply_import(again, path, user="alice", reason="the May list")
    assert summary.added == ["OS900"]
    assert sorted(summary.changed) == ["OS001", "OS002"]
    assert summary.removed == (["OS006"] if replace else [])
    change = ws.store.changes(limit=1)[0]
    assert (change.user, change.reason, change.action) == ("alice", "the May list", "import")
    assert change.detail["sha256"] == preview.sha256 and change.detail["file"] == "edited.csv"

    # the same as a plain import of the file would have made
    other = _make_workspace(_other_location(store_location, tmp_path), tmp_path / "other")
    try:
        other.import_file("facilities", tmp_path / "stations.xlsx", datum="gcj02")
        other.import_file("facilities", path, datum="gcj02", replace=replace)
        assert_geodataframe_equal(ws.facilities, other.facilities)
    finally:
        other.close()


def _other_location(store_location, tmp_path: Path):
    return tmp_path / "other.gpkg" if isinstance(store_location, Path) else None


def test_an_unchanged_file_previews_as_nothing(ws, tmp_path):
    path = tmp_path / "same.csv"
    _table().to_csv(path, index=False)
    preview = ws.preview_import("facilities", path, datum="gcj02")
    assert preview.ok and preview.empty and preview.counts["unchanged"] == 195
    version = ws.version
    assert ws.apply_import(preview, path, user="alice").empty and ws.version == version


def test_rejected_rows_are_listed_and_nothing_of_the_file_applies(ws, store_location, tmp_path):
    t = _table().head(20)
    t.loc[3, "经度"] = "121°51′E"
    t.loc[7, "类型"] = "no_such_type"
    t.loc[9, ["经度", "纬度"]] = [t.loc[9, "纬度"], t.loc[9, "经度"]]
    path = tmp_path / "bad.csv"
    t.to_csv(path, index=False)
    before = _fingerprint(ws, store_location)
    w = _reopen(store_location, ws.path)
    preview = w.preview_import("facilities", path, datum="gcj02")
    assert not preview.ok and preview.empty and "bad.csv" in preview.error
    got = {(r["where"], r["field"]) for r in preview.rejected}
    assert {("row 5", "经度"), ("row 9", "类型"), ("row 11", "纬度")} <= got
    assert all(r["reason"] for r in preview.rejected)
    assert "121°51′E" in next(r["reason"] for r in preview.rejected if r["where"] == "row 5")
    with pytest.raises(ValidationError, match="rejected"):
        w.apply_import(preview, path, user="alice")
    assert _fingerprint(w, store_location) == before


def test_a_file_refused_as_a_whole_is_one_rejection(ws, tmp_path):
    frame = gpd.GeoDataFrame(
        {"name": ["驿站"], "type": ["outdoor_station"]}, geometry=[Point(121.85, 29.9)], crs=4326
    )
    shp = tmp_path / "shp"
    shp.mkdir()
    frame.to_file(shp / "s.shp")
    path = tmp_path / "noprj.zip"
    with zipfile.ZipFile(path, "w") as z:
        for ext in ("shp", "shx", "dbf"):
            z.write(shp / f"s.{ext}", f"s.{ext}")
    preview = ws.preview_import("facilities", path)
    (only,) = preview.rejected
    assert only["where"] == "" and "no CRS" in only["reason"] and not preview.ok


def test_apply_refuses_another_file_and_a_layer_changed_since(ws, store_location, tmp_path):
    path = _edited(tmp_path)
    preview = ws.preview_import("facilities", path, datum="gcj02")
    other = tmp_path / "other.csv"
    other.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(ValidationError, match="SHA-256"):
        ws.apply_import(preview, other, user="alice")
    # someone edits a station in between: the preview no longer holds
    rec, v = ws.get_facility("OS010")
    ws.update_facility("OS010", {"name": "别人改的"}, expected_version=v, user="bob")
    before = _fingerprint(ws, store_location)
    w = _reopen(store_location, ws.path)
    with pytest.raises(ConflictError, match="changed since the preview") as info:
        w.apply_import(preview, path, user="alice")
    assert info.value.status == 409 and info.value.expected_version == preview.base_version
    assert _fingerprint(w, store_location) == before
    # an edit of another layer does not stand in the way
    w = _reopen(store_location, ws.path)
    try:
        w.import_file("demand", BEILUN / "workplaces.csv")
        fresh = w.preview_import("facilities", path, datum="gcj02")
        assert not w.apply_import(fresh, path, user="alice").empty
    finally:
        w.close()


def test_write_layer_checks_the_expected_version_inside_its_transaction(ws, store_location):
    frame = ws.facilities
    frame.loc[0, "name"] = "x"
    v = ws.store.layer_version("facilities")
    assert v == ws.version and ws.store.layer_version("areas") == 0
    before = _fingerprint(ws, store_location)
    w = _reopen(store_location, ws.path)
    with pytest.raises(ConflictError, match="changed since version"):
        w.store.write_layer("facilities", frame, user="a", reason="", expected_version=v - 1)
    assert _fingerprint(w, store_location) == before
    w = _reopen(store_location, ws.path)
    try:
        assert w.store.write_layer("facilities", frame, user="a", reason="", expected_version=v)
    finally:
        w.close()


def test_preview_of_one_layer_of_a_geopackage(ws, tmp_path):
    areas = gpd.read_file(BEILUN / "subdistricts.geojson")
    multi = tmp_path / "multi.gpkg"
    areas.head(2).to_file(multi, layer="other")
    areas.to_file(multi, layer="subdistricts")
    preview = ws.preview_import("areas", multi, source_layer="subdistricts")
    assert preview.ok and preview.counts["added"] == len(areas)
    assert all(-180 <= a["lon"] <= 180 and a["name"] for a in preview.added)  # centroids
    missing = ws.preview_import("areas", multi, source_layer="nope")
    assert "no layer 'nope'" in missing.rejected[0]["reason"]
    summary = ws.apply_import(preview, multi, user="alice")
    assert len(summary.added) == len(areas)


def _bomb(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("s.shp", b"\0" * 100)
        z.writestr("s.dbf", b"\0" * size)
    return path


def test_zip_bombs_and_zip_slips_are_refused_before_unpacking(ws, tmp_path):
    preview = ws.preview_import("facilities", _bomb(tmp_path / "bomb.zip", 20 << 20))
    assert "zip bomb" in preview.rejected[0]["reason"]
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as z:
        z.writestr("../../escaped/s.shp", b"x")
    preview = ws.preview_import("facilities", slip)
    assert "escaping" in preview.rejected[0]["reason"]
    # a workbook is a zip archive too
    book = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b" " * (20 << 20))
    preview = ws.preview_import("facilities", book)
    assert "zip bomb" in preview.rejected[0]["reason"]


def test_an_empty_workspace_previews_everything_as_added(store_location, tmp_path):
    w: Workspace = _make_workspace(store_location, tmp_path / "fresh")
    try:
        preview = w.preview_import("demand", BEILUN / "workplaces.csv")
        assert preview.counts["added"] == 2 * 2559 and preview.base_version == 0
        assert w.apply_import(preview, BEILUN / "workplaces.csv", user="x").version == 2
    finally:
        w.close()


def test_lists_and_blanks_are_compared_as_the_store_does(ws, tmp_path):
    t = _table()
    t.loc[3, "服务设施"] = "water;toilet"
    t.loc[3, "容量"] = ""
    path = tmp_path / "lists.csv"
    t.to_csv(path, index=False)
    before, _ = ws.get_facility("OS004")
    preview = ws.preview_import("facilities", path, datum="gcj02")
    (changed,) = preview.changed
    got = {f["field"]: (f["before"], f["after"]) for f in changed["fields"]}
    assert got == {
        "amenities": (list(before["amenities"]), ["water", "toilet"]),
        "capacity": (before["capacity"], None),
    }
    assert not preview.moved and preview.counts["unchanged"] == 194
    summary = ws.apply_import(preview, path, user="alice")
    assert summary.changed == ["OS004"] and summary.unchanged == 194
