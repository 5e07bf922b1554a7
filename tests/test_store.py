"""The workspace store, run on both backends: a GeoPackage file and a real PostGIS server.

Every test taking ``store_location`` (tests/conftest.py) runs twice, once per backend:
the same assertions, no skips.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point

from cli.main import main as cli_main
from geo import ConflictError, ServicemapError, Workspace, load_demand, load_facilities
from geo.store import open_store

ROOT = Path(__file__).resolve().parents[1]
BEILUN = ROOT / "datasets" / "beilun"


def _make_workspace(location, folder: Path, **kw) -> Workspace:
    url = None if isinstance(location, Path) else location
    return Workspace.init(folder, name="北仑区", boundary=BEILUN / "boundary.geojson",
                          database_url=url, **kw)  # fmt: skip


def _reopen(location, folder: Path) -> Workspace:
    return Workspace.open(folder, database_url=None if isinstance(location, Path) else location)


def _by_id(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.sort_values("id", kind="stable").reset_index(drop=True)


@pytest.fixture
def facilities_xlsx(tmp_path) -> Path:
    """The demo's station list as a planner's Excel spreadsheet (Chinese headers, GCJ-02)."""
    table = pd.read_csv(BEILUN / "facilities.csv", dtype=str, keep_default_na=False)
    path = tmp_path / "stations.xlsx"
    table.to_excel(path, index=False)
    return path


@pytest.fixture
def ws(store_location, tmp_path, facilities_xlsx):
    """A workspace with the Beilun stations and workplaces imported."""
    w = _make_workspace(store_location, tmp_path / "ws")
    w.import_file("facilities", facilities_xlsx, datum="gcj02", reason="2024 list", user="alice")
    w.import_file("demand", BEILUN / "workplaces.csv", user="alice")
    yield w
    w.close()


def test_import_spreadsheet_and_workplaces(ws, facilities_xlsx):
    # what the store gives back is what the loaders read, dtypes included
    expected = load_facilities(facilities_xlsx, datum="gcj02", area=ws.boundary)
    assert_geodataframe_equal(ws.facilities, _by_id(expected))
    assert_geodataframe_equal(ws.demand, _by_id(load_demand(BEILUN / "workplaces.csv")))
    assert len(ws.facilities) == 195 and (ws.facilities["type"] == "outdoor_station").sum() == 44
    changes = ws.store.changes(layer="demand")
    assert [c.user for c in changes] == ["alice"]
    assert changes[0].detail["added"] == len(ws.demand) == 2 * 2559


def test_reimport_of_the_same_file_changes_nothing(ws, facilities_xlsx):
    before = ws.version
    summary = ws.import_file("facilities", facilities_xlsx, datum="gcj02")
    assert summary.empty and summary.unchanged == 195 and ws.version == before


def _fingerprint(ws: Workspace, location) -> object:
    """GeoPackage: the file's hash (closed, so the WAL is checkpointed into the file);
    PostGIS: an md5 over every table's ordered rows."""
    if isinstance(location, Path):
        ws.close()
        path = ws.path / "store.gpkg"
        assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
        return hashlib.sha256(path.read_bytes()).hexdigest()
    sums = ws.store.checksums()
    ws.close()
    return sums


def _bad_files(tmp_path: Path) -> dict[str, tuple[str, Path]]:
    tmp_path.mkdir()
    good = pd.read_csv(BEILUN / "facilities.csv", dtype=str, keep_default_na=False)
    out: dict[str, tuple[str, Path]] = {}
    rows = good.head(20).copy()
    rows.loc[3, "经度"] = "121°51′E"
    rows.loc[7, "类型"] = "no_such_type"
    out["bad rows"] = ("facilities", tmp_path / "bad_rows.csv")
    rows.to_csv(out["bad rows"][1], index=False)
    dup = good.head(20).copy()
    dup.loc[5, "编号"] = dup.loc[2, "编号"]
    out["duplicate ids"] = ("facilities", tmp_path / "dup.csv")
    dup.to_csv(out["duplicate ids"][1], index=False)
    swapped = good.head(20).copy()
    swapped[["经度", "纬度"]] = swapped[["纬度", "经度"]].to_numpy()
    out["swapped coordinates"] = ("facilities", tmp_path / "swapped.csv")
    swapped.to_csv(out["swapped coordinates"][1], index=False)
    frame = gpd.GeoDataFrame(
        {"name": ["驿站"], "type": ["outdoor_station"]}, geometry=[Point(121.85, 29.9)], crs=4326
    )
    shp = tmp_path / "shp"
    shp.mkdir()
    frame.to_file(shp / "s.shp")
    out["missing CRS"] = ("facilities", tmp_path / "noprj.zip")
    with zipfile.ZipFile(out["missing CRS"][1], "w") as z:
        for ext in ("shp", "shx", "dbf"):
            z.write(shp / f"s.{ext}", f"s.{ext}")
    out["projected CRS, datum gcj02"] = ("facilities", tmp_path / "utm.gpkg")
    frame.to_crs(32651).to_file(out["projected CRS, datum gcj02"][1])
    out["zip slip"] = ("facilities", tmp_path / "slip.zip")
    with zipfile.ZipFile(out["zip slip"][1], "w") as z:
        for ext in ("shp", "shx", "dbf", "prj"):
            z.write(shp / f"s.{ext}", f"../../escaped/s.{ext}")
    demand = pd.read_csv(BEILUN / "workplaces.csv").head(30)
    demand.loc[4, "headcount"] = -5
    out["bad demand rows"] = ("demand", tmp_path / "bad_workplaces.csv")
    demand.to_csv(out["bad demand rows"][1], index=False)
    return out


def test_bad_imports_leave_the_store_unchanged(ws, store_location, tmp_path):
    bad = _bad_files(tmp_path / "bad")
    before = _fingerprint(ws, store_location)
    for what, (layer, path) in bad.items():
        w = _reopen(store_location, ws.path)
        datum = "gcj02" if "gcj02" in what else "wgs84"
        with pytest.raises(ServicemapError):
            w.import_file(layer, path, datum=datum, reason=what)
        assert _fingerprint(w, store_location) == before, what
    assert not (tmp_path / "escaped").exists() and not (ROOT.parent / "escaped").exists()
    # a failure inside the transaction (after the tables were touched) is rolled back too
    w = _reopen(store_location, ws.path)
    frame = w.facilities
    frame["capacity"] = "many"  # the store holds capacity as a number
    frame.loc[0, "name"] = "changed"
    with pytest.raises(ServicemapError, match="capacity"):
        w.import_frame("facilities", frame)
    assert _fingerprint(w, store_location) == before


_KILLED_WRITER = """
import sys, time
import numpy as np, geopandas as gpd
from geo import Workspace
folder, url = sys.argv[1], sys.argv[2] or None
ws = Workspace.open(folder, database_url=url)
n = 60_000
rng = np.random.default_rng(1)
frame = gpd.GeoDataFrame(
    {"id": [f"X{i}" for i in range(n)], "group": "outdoor", "weight": rng.random(n),
     "kind": "point", "source_id": "", "route_id": "", "route_pos_m": np.nan},
    geometry=gpd.points_from_xy(121.8 + rng.random(n) / 10, 29.9 + rng.random(n) / 10),
    crs=4326)
def progress(done, total):
    print(f"written {done} of {total}", flush=True)
    time.sleep(120)  # killed here, half-way through the transaction
ws.import_frame("demand", frame, replace=True, progress=progress)
print("finished", flush=True)
"""


def test_a_writer_killed_mid_import_leaves_the_previous_layer(ws, store_location):
    before = ws.demand
    version = ws.version
    url = "" if isinstance(store_location, Path) else store_location
    ws.close()
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(ws.path), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ) as proc:
        line = proc.stdout.readline()
        if not line.startswith("written"):
            proc.kill()
            pytest.fail(f"the writer did not start writing: {line!r} {proc.stderr.read()}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    again = _reopen(store_location, ws.path)
    try:
        assert again.version == version
        assert_geodataframe_equal(again.demand, before)
        # and the store takes the next write normally
        assert not again.import_file("demand", BEILUN / "riders.csv").empty
    finally:
        again.close()
    if isinstance(store_location, Path):
        with sa.create_engine(f"sqlite:///{ws.path / 'store.gpkg'}").connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_two_editors_saving_at_once_lose_nothing(ws, store_location):
    other = _reopen(store_location, ws.path)  # a second editor: its own connections
    try:
        rec_a, v = ws.get_facility("OS001")
        rec_b, v_b = other.get_facility("OS001")
        assert v == v_b
        ws.update_facility("OS001", {"name": "A的名字"}, expected_version=v, user="a", reason="a")
        with pytest.raises(ConflictError) as info:
            other.update_facility("OS001", {"capacity": 99}, expected_version=v, user="b")
        err = info.value
        assert err.status == 409 and err.expected_version == v
        assert err.current["name"] == "A的名字" and err.proposed["capacity"] == 99
        # b merges onto what is there now and saves again
        other.update_facility("OS001", {"capacity": 99}, expected_version=err.current_version,
                              user="b", reason="merged")  # fmt: skip
        final, _ = ws.get_facility("OS001")
        assert (final["name"], final["capacity"]) == ("A的名字", 99.0)
        # truly at once: two threads, the same starting version; exactly one wins
        _, v = ws.get_facility("OS002")
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}

        def save(w, who, field_value):
            barrier.wait()
            try:
                results[who] = w.update_facility("OS002", field_value, expected_version=v,
                                                 user=who)  # fmt: skip
            except ConflictError as exc:
                results[who] = exc

        threads = [
            threading.Thread(target=save, args=(ws, "a", {"name": "甲"})),
            threading.Thread(target=save, args=(other, "b", {"contact": "110"})),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lost = [r for r in results.values() if isinstance(r, ConflictError)]
        assert len(lost) == 1
        history = ws.facility_history("OS002")
        assert len(history) == 2 and history[-1]["user"] in ("a", "b")
    finally:
        other.close()


def test_history_rollback_and_as_of(ws):
    v1 = ws.version
    first = ws.facilities
    rec, v = ws.get_facility("OS001")
    moved = Point(rec["geometry"].x + 0.001, rec["geometry"].y)
    change = {"geometry": moved, "hours": "Mo-Fr 09:00-17:00"}
    ws.update_facility(
        "OS001", change, expected_version=v, user="alice", reason="moved across the road"
    )
    _, v = ws.get_facility("OS002")
    ws.remove_facility("OS002", expected_version=v, user="bob", reason="closed")
    new = {**rec, "id": "OS999", "name": "新驿站", "geometry": moved}
    ws.add_facility(new, user="bob", reason="opened")
    assert len(ws.facilities) == 195

    history = ws.facility_history("OS001")
    assert [h["op"] for h in history] == ["add", "update"]
    assert history[1]["user"] == "alice" and history[1]["reason"] == "moved across the road"
    assert history[1]["before"]["hours"] == rec["hours"]
    assert history[1]["after"]["geometry"]["coordinates"] == pytest.approx((moved.x, moved.y))
    json.dumps(history)  # JSON-ready
    assert [h["op"] for h in ws.facility_history("OS002")] == ["add", "remove"]

    # as of: by version and by time
    assert_geodataframe_equal(ws.layer("facilities", version=v1), first)
    at = ws.store.changes(layer="facilities")[-1].at  # the first import's time
    assert_geodataframe_equal(ws.snapshot(as_of=at).facilities, first)
    assert len(ws.snapshot(version=0).facilities) == 0

    # rollback is new changes; the history keeps what happened in between
    log_before = len(ws.store.changes())
    summary = ws.rollback("facilities", v1, user="carol", reason="undo")
    assert (sorted(summary.added), sorted(summary.changed), summary.removed) == (
        ["OS002"], ["OS001"], ["OS999"])  # fmt: skip
    assert_geodataframe_equal(ws.facilities, first)
    assert len(ws.store.changes()) == log_before + 1
    assert [h["op"] for h in ws.facility_history("OS001")] == ["add", "update", "update"]


def test_history_is_append_only(ws):
    _, v = ws.get_facility("OS001")
    ws.update_facility("OS001", {"name": "改名"}, expected_version=v, user="alice")  # closes one
    engine = ws.store.backend.engine
    for sql in (
        "DELETE FROM facilities_history",
        "UPDATE facilities_history SET name = 'x'",
        "UPDATE facilities_history SET name = 'x', valid_to = 99 WHERE valid_to IS NULL",
        "UPDATE facilities_history SET valid_to = 99 WHERE valid_to IS NOT NULL",  # twice
        "UPDATE facilities_history SET geom = NULL",
        "DELETE FROM sm_changes",
        "UPDATE sm_changes SET user_name = 'x'",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(sql)
    assert len(ws.store.changes()) == 4
    assert ws.get_facility("OS001")[0]["name"] == "改名"


@pytest.mark.parametrize("n", [200, 12_000])  # a few rows looked up by id; a whole layer read
def test_an_import_writes_only_what_differs(store_location, tmp_path, n):
    rng = np.random.default_rng(3)
    frame = gpd.GeoDataFrame(
        {
            "id": pd.Series([f"R{i:05d}" for i in range(n)], dtype="str"),
            "group": pd.Series(rng.choice(["a", "b", ""], n), dtype="str"),
            "weight": rng.random(n),
            "count": rng.integers(0, 9, n),
            "note": pd.Series([None] * n, dtype=object),  # NULL in every row
        },
        geometry=gpd.points_from_xy(121.8 + rng.random(n) / 10, 29.9 + rng.random(n) / 10),
        crs=4326,
    )
    store = open_store(
        store_location if not isinstance(store_location, Path) else tmp_path / "s.gpkg",
        create=True,
    )

    def planned_then_written(layer, frame, **kw):
        # the preview's question (Store.plan_layer) gets the write's answer, writing nothing
        version = store.version
        plan = store.plan_layer(layer, frame, replace=kw.get("replace", False))
        assert store.version == version
        done = store.write_layer(layer, frame, **kw)
        assert (plan.added, plan.changed, plan.removed, plan.unchanged) == (
            done.added,
            done.changed,
            done.removed,
            done.unchanged,
        )
        return done

    try:
        first = planned_then_written("demand", frame, user="a", reason="first")
        assert len(first.added) == n and first.unchanged == 0
        assert_geodataframe_equal(store.read_layer("demand"), frame)
        again = planned_then_written("demand", frame.copy(), user="a", reason="same")
        assert again.empty and again.unchanged == n and again.version == first.version

        new = frame.copy()
        new.loc[[3, 50], "weight"] += 1  # a value
        new.loc[7, "group"] = ""  # text to empty text
        new.loc[9, "note"] = "x"  # NULL to text
        new.loc[11, "geometry"] = Point(121.9, 29.95)  # moved
        new = new.drop(index=[20, 21, 22])  # gone (only with replace)
        extra = frame.iloc[:2].copy()
        extra["id"] = ["NEW1", "NEW0"]
        new = pd.concat([new, extra])
        summary = planned_then_written("demand", new, user="b", reason="edit", replace=True)
        assert summary.added == ["NEW1", "NEW0"]
        assert summary.changed == ["R00003", "R00007", "R00009", "R00011", "R00050"]
        assert summary.removed == ["R00020", "R00021", "R00022"]
        assert summary.unchanged == n - 3 - 5
        assert_geodataframe_equal(store.read_layer("demand"), _by_id(new.astype({"note": object})))
        # only what changed has a second version; the removed ones are closed
        history = store.read_layer("demand", version=first.version)
        assert_geodataframe_equal(history, frame)
        assert [h["op"] for h in store.feature_history("demand", "R00011")] == ["add", "update"]
        assert [h["op"] for h in store.feature_history("demand", "R00012")] == ["add"]
        assert [h["op"] for h in store.feature_history("demand", "R00020")] == ["add", "remove"]
        # a column the layer does not have yet: empty in every stored row, so only the
        # rows that give it a value change
        more = store.read_layer("demand")
        more["floor"] = pd.Series([None] * len(more), dtype=object)
        more.loc[[0, 5], "floor"] = "3F"
        grown = planned_then_written("demand", more, user="c", reason="floors")
        assert grown.changed == sorted(more["id"].iloc[[0, 5]]) and not grown.added
    finally:
        store.close()


def test_export_and_reimport_give_identical_layers(ws, tmp_path):
    ws.import_file("areas", BEILUN / "subdistricts.geojson", reason="areas")
    file = ws.export(tmp_path / "export.gpkg")
    # a plain GeoPackage any GIS opens
    names = set(pyogrio.list_layers(file)[:, 0])
    assert {"facilities", "demand", "areas", "boundary"} <= names
    outside = pyogrio.read_dataframe(file, layer="facilities")
    assert sorted(outside["id"]) == sorted(ws.facilities["id"])
    assert outside.crs.to_epsg() == 4326
    fresh = Workspace.init(tmp_path / "fresh", name="北仑区")
    try:
        fresh.restore(file, user="alice")
        for layer in ("facilities", "demand", "areas", "boundary"):
            assert_geodataframe_equal(fresh.layer(layer), ws.layer(layer))
    finally:
        fresh.close()


def test_users_and_tokens(ws):
    store = ws.store
    store.add_user("alice", "correct horse", role="admin")
    store.add_user("victor", "viewer pass", role="viewer")
    with pytest.raises(ServicemapError, match="exists"):
        store.add_user("alice", "another one", role="viewer")
    with pytest.raises(ValueError, match="role"):
        store.add_user("eve", "long enough", role="root")
    assert store.authenticate("alice", "correct horse").role == "admin"
    assert store.authenticate("alice", "wrong horse") is None
    assert store.authenticate("nobody", "correct horse") is None
    token = store.create_token("alice", label="script", role="editor")
    assert store.verify_token(token).role == "editor"
    assert store.verify_token(token + "x") is None
    with pytest.raises(ServicemapError, match="cannot have role"):
        store.create_token("victor", label="x", role="admin")
    store.set_role("alice", "viewer", by="admin")
    assert store.verify_token(token).role == "viewer"  # never above its user
    store.revoke_token(token, by="alice")
    assert store.verify_token(token) is None
    with ws.store.backend.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM sm_users").scalars().all()
        hashes = conn.exec_driver_sql("SELECT token_hash FROM sm_tokens").scalars().all()
    assert all(h.startswith("scrypt$") and "horse" not in h for h in stored)
    assert token not in hashes


def test_cli_init_import_users(store_location, tmp_path, facilities_xlsx):
    env = {} if isinstance(store_location, Path) else {"SERVICEMAP_DATABASE_URL": store_location}
    runner = CliRunner(env=env)
    folder = str(tmp_path / "cli-ws")
    ok = runner.invoke(cli_main, ["init", folder, "--name", "北仑区", "--boundary",
                                  str(BEILUN / "boundary.geojson")])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    ok = runner.invoke(cli_main, ["import", folder, "facilities", str(facilities_xlsx),
                                  "--datum", "gcj02", "--reason", "first", "--json"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["added"] == 195
    ok = runner.invoke(cli_main, ["import", folder, "demand", str(BEILUN / "workplaces.csv")])
    assert ok.exit_code == 0 and "5118 added" in ok.output, ok.output
    bad = tmp_path / "bad.csv"
    bad.write_text("编号,类型,名称,经度,纬度\nX1,outdoor_station,a,abc,29.9\n", encoding="utf-8")
    out = runner.invoke(cli_main, ["import", folder, "facilities", str(bad)])
    assert out.exit_code == 2 and "nothing was changed" in out.output and "abc" in out.output
    ok = runner.invoke(cli_main, ["users", "add", folder, "root", "--role", "admin",
                                  "--password-stdin"], input="s3cret-pass\n")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    with _reopen(store_location, Path(folder)) as w:
        assert w.store.authenticate("root", "s3cret-pass").role == "admin"
        assert len(w.facilities) == 195
    # --layer picks one layer of a multi-layer GeoPackage
    areas = gpd.read_file(BEILUN / "subdistricts.geojson")
    multi = tmp_path / "multi.gpkg"
    pyogrio.write_dataframe(areas.head(2), multi, layer="other")
    pyogrio.write_dataframe(areas, multi, layer="subdistricts")
    ok = runner.invoke(cli_main, ["import", folder, "areas", str(multi), "--layer",
                                  "subdistricts", "--json"])  # fmt: skip
    assert ok.exit_code == 0 and json.loads(ok.output)["added"] == len(areas), ok.output
    ok = runner.invoke(cli_main, ["history", folder, "--facility", "OS001"])
    assert ok.exit_code == 0 and json.loads(ok.output)[0]["op"] == "add"


def test_the_demo_is_a_workspace(store_location, tmp_path):
    from geo.demo import load_demo

    url = None if isinstance(store_location, Path) else store_location
    ws = Workspace.from_demo("beilun", tmp_path / "demo", database_url=url)
    try:
        demo = load_demo("beilun")
        for layer in ("facilities", "demand", "areas"):
            assert_geodataframe_equal(getattr(ws, layer), _by_id(getattr(demo, layer)))
        assert ws.boundary.geometry.iloc[0].equals(demo.boundary.geometry.iloc[0])
        version = ws.version
    finally:
        ws.close()
    again = Workspace.from_demo("beilun", tmp_path / "demo", database_url=url)
    try:
        assert again.version == version  # nothing re-written
    finally:
        again.close()


def test_the_store_file_is_a_geopackage(tmp_path):
    ws = _make_workspace(tmp_path / "x", tmp_path / "ws")
    ws.import_file("facilities", BEILUN / "facilities.csv", datum="gcj02")
    ours = ws.facilities
    ws.close()
    path = tmp_path / "ws" / "store.gpkg"
    assert path.read_bytes()[68:72] == b"GPKG"  # application_id
    layers = set(pyogrio.list_layers(path)[:, 0])
    assert {"facilities", "facilities_history", "boundary"} <= layers
    # the change log is a table QGIS shows; users, tokens and metadata are not
    assert "sm_changes" in layers and not {"sm_users", "sm_tokens", "sm_meta"} & layers
    theirs = pyogrio.read_dataframe(path, layer="facilities", fid_as_index=False)
    theirs = theirs.sort_values("id").reset_index(drop=True)
    assert theirs.crs.to_epsg() == 4326
    assert list(theirs["name"]) == list(ours["name"])
    assert np.allclose(theirs.geometry.x, ours.geometry.x, rtol=0, atol=0)
    assert json.loads(theirs.loc[0, "amenities"]) == ours.loc[0, "amenities"]
    # and a store opens only what is a store
    with pytest.raises(FileNotFoundError):
        open_store(tmp_path / "missing.gpkg")


def test_a_workspace_opens_only_its_own_store(store_location, tmp_path, request):
    ws = _make_workspace(store_location, tmp_path / "ws")
    ws.close()
    if isinstance(store_location, Path):
        # a database URL left in the environment must not open some other data
        with pytest.raises(ServicemapError, match="unset SERVICEMAP_DATABASE_URL"):
            Workspace.open(tmp_path / "ws", database_url="postgresql://nobody@/elsewhere")
    else:
        with pytest.raises(ServicemapError, match="PostGIS: give the database URL"):
            Workspace.open(tmp_path / "ws")
        with pytest.raises(ServicemapError, match="already holds"):
            _make_workspace(store_location, tmp_path / "second")
        other = request.getfixturevalue("postgres_server").new_database()
        with _make_workspace(other, tmp_path / "third"):
            pass
        with pytest.raises(ServicemapError, match="another workspace"):
            Workspace.open(tmp_path / "ws", database_url=other)
    with _reopen(store_location, tmp_path / "ws") as again:
        assert again.name == "北仑区" and again.version == 1


def test_geopackage_point_blobs_are_shapely_wkb_with_the_header():
    # the points' fast path writes the bytes that the general path (shapely's ISO WKB
    # after the GeoPackage header) writes, for every kind of geometry beside them
    import shapely

    from geo.store._backend import GPKG_EMPTY_HEADER, GPKG_HEADER, GeoPackage

    rng = np.random.default_rng(3)
    geoms = np.array(
        [
            *shapely.points(rng.uniform(-180, 180, (200, 2))),
            shapely.Point(-0.0, 1e300), shapely.Point(1, 2, 3), shapely.Point(), None,
            shapely.LineString([(0, 0), (1, 1)]), shapely.box(0, 0, 1, 1),
        ],
        dtype=object,
    )  # fmt: skip
    want = [
        None if g is None
        else (GPKG_EMPTY_HEADER if g.is_empty else GPKG_HEADER)
        + shapely.to_wkb(g, byte_order=1, flavor="iso")
        for g in geoms
    ]  # fmt: skip
    assert list(GeoPackage.geoms_to_db(None, geoms)) == want


def test_columns_of_one_value_or_copies_are_stored_as_given(store_location, tmp_path):
    """A new layer's constant columns, copies of another column and all-NULL columns (the
    GeoPackage stages only the columns that vary): read back as written, including near
    misses past the first rows and a bool and an int column of equal values."""
    n = 500
    ids = [f"R{i:04d}" for i in range(n)]
    near_copy = list(ids)
    near_copy[300] = "other"  # equal to the id in the first rows only
    near_constant = ["x"] * n
    near_constant[499] = "y"
    frame = gpd.GeoDataFrame(
        {
            "id": pd.Series(ids, dtype="str"),
            "source": pd.Series(ids, dtype="str"),  # a copy of the id
            "near_copy": pd.Series(near_copy, dtype="str"),
            "kind": pd.Series(["point"] * n, dtype="str"),  # one value
            "near_constant": pd.Series(near_constant, dtype="str"),
            "empty": pd.Series([""] * n, dtype="str"),  # empty text, not NULL
            "flag": np.ones(n, dtype=bool),  # True in every row ...
            "one": np.ones(n, dtype=np.int64),  # ... and 1: same values, other kinds
            "level": np.full(n, 2.5),
            "note": pd.Series([None] * n, dtype=object),
        },
        geometry=gpd.points_from_xy(121.8 + np.arange(n) / 1e4, np.full(n, 29.9)),
        crs=4326,
    )
    store = open_store(
        store_location if not isinstance(store_location, Path) else tmp_path / "s.gpkg",
        create=True,
    )
    try:
        first = store.write_layer("demand", frame, user="a", reason="new")
        got = store.read_layer("demand")
        assert_geodataframe_equal(got, frame, check_like=True)
        assert got["flag"].dtype == bool and got["one"].dtype == np.int64
        changed = frame.copy()
        changed.loc[5, "kind"] = "route"
        store.write_layer("demand", changed, user="a", reason="one row")
        assert_geodataframe_equal(store.read_layer("demand"), changed, check_like=True)
        assert_geodataframe_equal(
            store.read_layer("demand", version=first.version), frame, check_like=True
        )
    finally:
        store.close()


def test_geopackage_blobs_of_every_header_kind_are_read(tmp_path):
    """The store's SELECT strips the GeoPackage header: its own (flags 0x01, the fast
    path), GDAL's with an envelope (a feature edited in QGIS), big-endian, and empty."""
    import sqlite3
    import struct

    import shapely

    from geo.store._backend import GeoPackage

    path = tmp_path / "g.gpkg"
    geoms = [
        Point(121.8, 29.9),
        shapely.box(121, 29, 122, 30),
        shapely.LineString([(0, 0), (1, 1)]),
    ]
    frame = gpd.GeoDataFrame({"a": [1, 2, 3]}, geometry=geoms, crs=4326)
    # no R-tree: its triggers call GDAL's SQL functions, which plain sqlite3 lacks
    pyogrio.write_dataframe(frame, path, layer_options={"SPATIAL_INDEX": "NO"})
    con = sqlite3.connect(path)
    try:
        flags = [r[0][3] for r in con.execute("SELECT geom FROM g ORDER BY fid")]
        assert flags == [0x01, 0x03, 0x03]  # GDAL: points bare, the others with an XY envelope
        env = struct.pack(">4d", 1, 2, 3, 4)  # flags 0x02 (big-endian header, XY envelope)
        big = b"GP\x00\x02" + struct.pack(">i", 4326) + env + shapely.to_wkb(geoms[0], byte_order=0)
        con.execute("INSERT INTO g (geom, a) VALUES (?, 4)", (big,))
        empty = b"GP\x00\x11" + struct.pack("<i", 4326) + shapely.to_wkb(shapely.Point())
        con.execute("INSERT INTO g (geom, a) VALUES (?, 5)", (empty,))
        rows = con.execute(f"SELECT {GeoPackage.geom_select(None, 'geom')} FROM g ORDER BY fid")
        got = shapely.from_wkb([r[0] for r in rows])
    finally:
        con.close()
    assert [g.equals(w) for g, w in zip(got[:4], [*geoms, geoms[0]], strict=True)] == [True] * 4
    assert got[4].is_empty
