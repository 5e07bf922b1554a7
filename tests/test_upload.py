"""The planner's upload page (/planner/upload) and a facility's history page, through the
Flask test client on a served workspace, on both backends (GeoPackage and a real PostGIS).

Every kind of bad upload must be refused with a message naming the file (and row and
field where there is one) and leave the store byte-for-byte as it was: the GeoPackage
file's hash, or PostGIS's table checksums.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon

from geo import Workspace
from tests.conftest import (
    PASSWORDS,
    ROLES_OF,
    XSS_NAME,
    csrf_token_of,
    database_url_of,
    sign_in,
    workspace_app,
)
from tests.test_store import BEILUN

UPLOAD_MAX = 300_000


def make_workspace(location, folder: Path, tmp_path: Path) -> Workspace:
    """北仑区 with the demo's stations (from a spreadsheet, GCJ-02) and the test users
    (tests/conftest.py: ada admin, ed and eve editors, vic viewer)."""
    ws = Workspace.init(folder, name="北仑区", boundary=BEILUN / "boundary.geojson",
                        database_url=database_url_of(location))  # fmt: skip
    sheet = tmp_path / "stations.xlsx"
    pd.read_csv(BEILUN / "facilities.csv", dtype=str, keep_default_na=False).to_excel(
        sheet, index=False
    )
    ws.import_file("facilities", sheet, datum="gcj02", reason="2024 list")
    for name, password in PASSWORDS.items():
        ws.store.add_user(name, password, role=ROLES_OF[name])
    return ws


def fingerprint(folder: Path, location) -> object:
    """GeoPackage: the store file's SHA-256 (after its WAL is checkpointed: opened and
    closed); PostGIS: an md5 of every table's ordered rows."""
    ws = Workspace.open(folder, database_url=database_url_of(location))
    try:
        if isinstance(location, Path):
            ws.close()
            return hashlib.sha256((folder / "store.gpkg").read_bytes()).hexdigest()
        return ws.store.checksums()
    finally:
        ws.close()


def signed_in(client, name: str) -> str:
    """Sign ``client`` in as ``name``; the session's CSRF token."""
    assert sign_in(client, name).status_code == 302
    return csrf_token_of(client, "/planner/")


@pytest.fixture
def site(store_location, tmp_path):
    """A served workspace (the app opens it as `servicemap serve DIR` does) and its folder."""
    folder = tmp_path / "ws"
    make_workspace(store_location, folder, tmp_path).close()
    app = workspace_app(folder, store_location, UPLOAD_MAX=UPLOAD_MAX)
    return app, folder, store_location


def _close(app) -> None:
    """Let go of the app's store connections (a GeoPackage is then one file, to hash);
    the app opens new ones when next asked."""
    app.extensions["servicemap"].close()


def upload(client, token, path: Path, *, layer="facilities", datum="gcj02", name=None, **form):
    """POST a file to the upload page as a browser's form does."""
    from werkzeug.test import EnvironBuilder

    with path.open("rb") as f:
        builder = EnvironBuilder(
            path="/planner/upload", method="POST",
            data={"csrf_token": token, "layer": layer, "datum": datum,
                  "file": (f, name or path.name), **form},
            content_type="multipart/form-data",
        )  # fmt: skip
        environ = builder.get_environ()
        try:
            return client.open(environ)
        finally:  # the body it spooled to a file (the app may refuse it unread)
            environ["wsgi.input"].close()
            builder.close()


def counts(page: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-kind="(\w+)">(\d+)<', page)}


def apply_url(page: str) -> str | None:
    found = re.search(r'action="(/planner/upload/[^"]+/apply)"', page)
    return found.group(1) if found else None


def _table() -> pd.DataFrame:
    return pd.read_csv(BEILUN / "facilities.csv", dtype=str, keep_default_na=False)


def edited_csv(tmp_path: Path) -> Path:
    t = _table()
    t.loc[0, "名称"] = XSS_NAME
    t.loc[1, "经度"] = f"{float(t.loc[1, '经度']) + 0.001:.6f}"
    path = tmp_path / "驿站 五月.csv"
    t.to_csv(path, index=False)
    return path


def test_upload_preview_then_apply(site, tmp_path):
    app, folder, location = site
    client = app.test_client()
    token = signed_in(client, "ed")
    page = client.get("/planner/upload").data.decode()
    for field in ('name="layer"', 'name="datum"', 'name="source_layer"', 'type="file"'):
        assert field in page
    before = fingerprint(folder, location)
    r = upload(client, token, edited_csv(tmp_path))
    page = r.data.decode()
    assert r.status_code == 200, page[:2000]
    assert counts(page) == {"added": 0, "moved": 1, "changed": 1, "removed": 0,
                            "rejected": 0, "unchanged": 193}  # fmt: skip
    assert "驿站 五月.csv" in page  # the name as uploaded, Chinese kept
    # the changed name shows as text before and after, never as markup
    assert XSS_NAME not in page and html.escape(XSS_NAME, quote=False) in page
    assert re.search(r'<tr data-id="OS002"><th scope="row">OS002</th><td>[^<]+</td>\s*'
                     r'<td class="num" data-value="(9\d\.\d+)"', page)  # fmt: skip
    config = json.loads(
        html.unescape(
            re.search(
                r'<script type="application/json" id="sm-config">(.*?)</script>', page, re.S
            ).group(1)
        )
    )
    assert [m["id"] for m in config["upload"]["moved"]] == ["OS002"]
    # previewing wrote nothing
    _close(app)
    assert fingerprint(folder, location) == before

    r = client.post(apply_url(page), data={"csrf_token": token, "reason": "五月的名单"})
    assert r.status_code == 200 and 'id="sm-upload-done"' in r.data.decode()
    with Workspace.open(folder, database_url=database_url_of(location)) as ws:
        change = ws.store.changes(layer="facilities", limit=1)[0]
        assert (change.user, change.reason, change.action) == ("ed", "五月的名单", "import")
        assert change.detail["file"] == "驿站 五月.csv" and change.detail["previewed"]
        history = ws.facility_history("OS001")
    assert history[-1]["after"]["name"] == XSS_NAME
    # the finder's API answers with the change at once
    got = client.get("/api/facilities/OS001").get_json()
    assert got["properties"]["name"] == XSS_NAME
    # applied once: the upload is gone
    assert client.post(apply_url(page), data={"csrf_token": token}).status_code == 404
    assert not any((folder / "uploads").iterdir())


def test_apply_after_someone_saved_is_a_conflict_then_preview_again(site, tmp_path):
    app, folder, location = site
    client = app.test_client()
    token = signed_in(client, "ed")
    page = upload(client, token, edited_csv(tmp_path)).data.decode()
    # ada edits another station in between (through the write API)
    other = app.test_client()
    token_a = signed_in(other, "ada")
    version = other.get("/api/facilities/OS010").get_json()["version"]
    r = other.patch("/api/facilities/OS010", json={"name": "别人改的"},
                    headers={"X-CSRFToken": token_a, "If-Match": f'"{version}"'})  # fmt: skip
    assert r.status_code == 200, r.data
    before = fingerprint(folder, location)
    r = client.post(apply_url(page), data={"csrf_token": token})
    text = r.data.decode()
    assert r.status_code == 409 and "changed since the preview" in text
    _close(app)
    assert fingerprint(folder, location) == before
    # preview the same file again, and apply that
    again = re.search(r'action="(/planner/upload/[^"]+/again)"', text).group(1)
    page = client.post(again, data={"csrf_token": token}).data.decode()
    # the new preview shows that the file would undo ada's name: nothing is lost unseen
    assert counts(page)["changed"] == 2
    row = re.search(r'<tr data-id="OS010">.*?</tr>', page, re.S).group(0)
    assert '<td class="before">别人改的</td>' in row
    r = client.post(apply_url(page), data={"csrf_token": token})
    assert r.status_code == 200
    with Workspace.open(folder, database_url=database_url_of(location)) as ws:
        assert ws.get_facility("OS001")[0]["name"] == XSS_NAME
        assert [h["user"] for h in ws.facility_history("OS010")] == ["servicemap", "ada", "ed"]


def _bad_uploads(tmp_path: Path) -> dict[str, tuple[dict, Path, str, tuple[str, ...]]]:
    """Each hostile upload: (form fields, file, file name sent, words the message holds)."""
    tmp_path.mkdir()
    good = _table()
    out: dict[str, tuple[dict, Path, str, tuple[str, ...]]] = {}

    def csv(name, table, **form):
        path = tmp_path / name
        table.to_csv(path, index=False)
        return form, path

    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (UPLOAD_MAX + 10))
    out["oversize"] = ({}, big, "big.csv", ("UPLOAD_MAX",))
    huge = tmp_path / "huge.csv"  # past MAX_CONTENT_LENGTH: refused before the form is read
    huge.write_bytes(b"x" * (UPLOAD_MAX + (2 << 20)))
    out["far oversize"] = ({}, huge, "huge.csv", ("UPLOAD_MAX",))
    frame = gpd.GeoDataFrame(
        {"id": ["S1"], "name": ["驿站"], "type": ["outdoor_station"]},
        geometry=[Point(121.85, 29.9)], crs=4326,
    )  # fmt: skip
    shp = tmp_path / "shp"
    shp.mkdir()
    frame.to_file(shp / "s.shp")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for ext in ("shp", "shx", "prj"):
            z.write(shp / f"s.{ext}", f"s.{ext}")
        z.writestr("s.dbf", b"\0" * (200 << 20))
    out["zip bomb"] = ({}, bomb, "bomb.zip", ("bomb.zip", "zip bomb"))
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as z:
        for ext in ("shp", "shx", "dbf", "prj"):
            z.write(shp / f"s.{ext}", f"../../escaped/s.{ext}")
    out["zip slip"] = ({}, slip, "slip.zip", ("slip.zip", "escaping"))
    noprj = tmp_path / "noprj.zip"
    with zipfile.ZipFile(noprj, "w") as z:
        for ext in ("shp", "shx", "dbf"):
            z.write(shp / f"s.{ext}", f"s.{ext}")
    out["missing CRS"] = ({"datum": "wgs84"}, noprj, "noprj.zip", ("noprj.zip", "no CRS"))
    utm = tmp_path / "utm.gpkg"
    frame.to_crs(32651).to_file(utm)
    out["projected CRS with a GCJ-02 datum"] = (
        {"datum": "gcj02"}, utm, "utm.gpkg", ("utm.gpkg", "32651", "datum"))  # fmt: skip
    empty = tmp_path / "empty_geometry.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "S1", "name": "a", "type": "outdoor_station"},
         "geometry": {"type": "Point", "coordinates": [121.85, 29.9]}},
        {"type": "Feature", "properties": {"id": "S2", "name": "b", "type": "outdoor_station"},
         "geometry": None}]}), encoding="utf-8")  # fmt: skip
    out["invalid geometry (none)"] = (
        {"datum": "wgs84"},
        empty,
        "empty_geometry.geojson",
        ("feature 2", "geometry"),
    )
    bowtie = tmp_path / "bowtie.geojson"
    gpd.GeoDataFrame(
        {"id": ["A1"], "name": ["蝴蝶"]},
        geometry=[Polygon([(121.8, 29.9), (121.8, 29.9), (121.8, 29.9)]).buffer(0)],
        crs=4326,
    ).to_file(bowtie)  # an empty polygon: nothing to repair
    out["invalid geometry (empty area)"] = (
        {"layer": "areas", "datum": "wgs84"},
        bowtie,
        "bowtie.geojson",
        ("feature 1", "geometry"),
    )
    swapped = good.head(20).copy()
    swapped[["经度", "纬度"]] = swapped[["纬度", "经度"]].to_numpy()
    out["swapped coordinates"] = (*csv("swapped.csv", swapped), "swapped.csv", ("row 2", "纬度"))
    hangzhou = good.head(3).copy()
    hangzhou["经度"], hangzhou["纬度"] = "120.155070", "30.274085"
    out["outside the district (wrong place or datum)"] = (
        *csv("hangzhou.csv", hangzhou),
        "hangzhou.csv",
        ("row 2", "北仑区"),
    )
    dup = good.head(20).copy()
    dup.loc[5, "编号"] = dup.loc[2, "编号"]
    out["duplicate ids"] = (*csv("dup.csv", dup), "dup.csv", ("row 4", "row 7", "duplicate"))
    bad = good.head(20).copy()
    bad.loc[3, "经度"] = "121°51′E"
    out["bad value"] = (*csv("bad.csv", bad), "bad.csv", ("row 5", "经度", "121°51′E"))
    wrong = tmp_path / "utf16_no_bom.csv"
    wrong.write_bytes(good.head(5).to_csv(index=False).encode("utf-16-le"))
    out["wrong encoding"] = ({}, wrong, "utf16_no_bom.csv", ("utf16_no_bom.csv", "UTF-8"))
    stray = Path(__file__).parent / "data" / "stray_quote.csv"
    out["stray quote"] = ({"datum": "wgs84"}, stray, "stray_quote.csv", ("stray_quote.csv", "row"))
    zero = Path(__file__).parent / "data" / "zero_zero.csv"
    out["0,0 coordinates"] = ({"datum": "wgs84"}, zero, "zero_zero.csv", ("zero_zero.csv", "0"))
    renamed = tmp_path / "stations.csv"
    renamed.write_bytes(bomb.read_bytes()[:4096])
    out["a zip renamed .csv"] = ({}, renamed, "stations.csv", ("stations.csv",))
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ\x90\x00")
    out["not a data file"] = ({}, exe, "tool.exe", ("tool.exe", ".csv"))
    out["a .shp alone"] = ({}, shp / "s.shp", "s.shp", ("s.shp", ".zip"))
    blank = tmp_path / "blank.csv"
    blank.write_bytes(b"")
    out["an empty file"] = ({}, blank, "blank.csv", ("blank.csv",))
    out["a file name escaping the folder"] = (
        *csv("passwd.csv", swapped), "../../etc/passwd.csv", ("passwd.csv", "row 2"))  # fmt: skip
    return out


def test_every_bad_upload_is_refused_naming_it_and_changes_nothing(site, tmp_path):
    app, folder, location = site
    client = app.test_client()
    token = signed_in(client, "ed")
    bad = _bad_uploads(tmp_path / "bad")
    before = fingerprint(folder, location)
    for what, (form, path, name, words) in bad.items():
        r = upload(client, token, path, name=name, **{"datum": "gcj02", **form})
        page = html.unescape(r.data.decode())
        assert r.status_code in (400, 413, 422), (what, r.status_code, page[:1000])
        for word in words:
            assert word in page, (what, word, page[page.find("<main") :][:3000])
        assert apply_url(page) is None, what  # nothing to apply
        assert str(folder) not in page, what  # files are named by name, not server path
        _close(app)
        assert fingerprint(folder, location) == before, what
    assert not (tmp_path / "escaped").exists() and not (folder.parent / "escaped").exists()
    # nothing of a refused file stays on the server either
    assert not list((folder / "uploads").iterdir())


def test_who_may_upload_and_see_the_history(site, tmp_path):
    app, folder, location = site
    anonymous = app.test_client()
    for path in ("/planner/upload", "/planner/facility/OS001"):
        r = anonymous.get(path)
        assert r.status_code == 302 and "/planner/login" in r.headers["Location"]
    r = anonymous.post("/planner/upload", data={})
    assert r.status_code in (400, 401)  # no CSRF token, no session
    viewer = app.test_client()
    token = signed_in(viewer, "vic")
    assert viewer.get("/planner/upload").status_code == 403
    assert viewer.get("/planner/facility/OS001").status_code == 403
    assert upload(viewer, token, edited_csv(tmp_path)).status_code == 403
    # no edit controls on the planner for a viewer
    assert 'id="sm-edit"' not in viewer.get("/planner/").data.decode()
    editor = app.test_client()
    token = signed_in(editor, "ed")
    assert 'id="sm-edit"' in editor.get("/planner/").data.decode()
    # a CSRF-less upload from a signed-in editor is refused too
    with edited_csv(tmp_path).open("rb") as f:
        r = editor.post("/planner/upload", data={"layer": "facilities", "file": (f, "x.csv")},
                        content_type="multipart/form-data")  # fmt: skip
    assert r.status_code == 400
    page = editor.get("/planner/facility/OS001").data.decode()
    assert 'class="sm-rollback"' not in page  # rolling back is for admins
    admin = app.test_client()
    signed_in(admin, "ada")
    r = admin.get("/planner/facility/OS001")
    assert r.status_code == 200
    assert 'class="sm-rollback"' not in r.data.decode()  # one version: nothing to go back to


def test_the_history_page_shows_who_when_what_and_why_escaped(site):
    app, folder, location = site
    admin = app.test_client()
    token = signed_in(admin, "ada")
    version = admin.get("/api/facilities/OS001").get_json()["version"]
    r = admin.patch("/api/facilities/OS001",
                    json={"name": XSS_NAME, "lon": 121.8450, "lat": 29.9100,
                          "reason": "<b>搬到</b>对面"},
                    headers={"X-CSRFToken": token, "If-Match": f'"{version}"'})  # fmt: skip
    assert r.status_code == 200, r.data
    page = admin.get("/planner/facility/OS001").data.decode()
    assert XSS_NAME not in page and "<b>搬到</b>" not in page
    assert html.escape(XSS_NAME, quote=False) in page and "&lt;b&gt;搬到&lt;/b&gt;对面" in page
    items = re.findall(r'<li class="change op-(\w+)" data-version="(\d+)" data-user="(\w+)"', page)
    assert items == [("update", str(r.get_json()["version"]), "ada"),
                     ("add", str(version), "servicemap")]  # fmt: skip
    assert '<tr data-field="lon, lat">' in page and '<tr data-field="name">' in page
    # the admin may roll the layer back to the first version
    assert f'class="sm-rollback" data-version="{version}"' in page
    # a closed facility keeps its page
    now = admin.get("/api/facilities/OS001").get_json()["version"]
    r = admin.delete("/api/facilities/OS001",
                     headers={"X-CSRFToken": token, "If-Match": f'"{now}"'})  # fmt: skip
    assert r.status_code == 200
    page = admin.get("/planner/facility/OS001").data.decode()
    assert 'id="sm-closed"' in page and "op-remove" in page
    r = admin.get("/planner/facility/NOPE")
    assert r.status_code == 404 and r.mimetype == "text/html" and "NOPE" in r.data.decode()


def test_a_demo_without_a_workspace_has_no_upload_page(client):
    r = client.get("/planner/upload")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "servicemap serve DIR" in r.data.decode()


def test_a_geopackage_layer_is_chosen_by_name(site, tmp_path):
    app, folder, location = site
    client = app.test_client()
    token = signed_in(client, "ed")
    areas = gpd.read_file(BEILUN / "subdistricts.geojson")
    multi = tmp_path / "multi.gpkg"
    areas.head(2).to_file(multi, layer="other")
    areas.to_file(multi, layer="subdistricts")
    r = upload(client, token, multi, layer="areas", datum="wgs84", source_layer="subdistricts")
    page = r.data.decode()
    assert r.status_code == 200 and counts(page)["added"] == len(areas)
    assert client.post(apply_url(page), data={"csrf_token": token}).status_code == 200
    r = upload(client, token, multi, layer="areas", datum="wgs84", source_layer="nope")
    assert r.status_code == 422 and "no layer" in html.unescape(r.data.decode())
