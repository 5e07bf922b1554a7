"""The write API (web/api_write.py) on both backends: a GeoPackage store and a real
PostGIS server (the ``store_location`` fixture). Editors sign in through the login form
and send the CSRF token, as a page does.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pytest

from tests.conftest import XSS_ADDRESS, XSS_NAME, csrf_token_of, demo_workspace, sign_in
from tests.conftest import workspace_app as _app

# near OS001 (新碶街道四明山路), inside the district
HERE = (121.8452, 29.9101)


@pytest.fixture
def served_ws(store_location, tmp_path):
    folder = tmp_path / "ws"
    ws = demo_workspace(folder, store_location)
    yield ws, _app(folder, store_location)
    ws.close()


class Editor:
    """A signed-in editor's browser: its session, and the CSRF token its pages carry."""

    def __init__(self, app, name: str) -> None:
        self.client = app.test_client()
        assert sign_in(self.client, name).status_code == 302
        self.token = csrf_token_of(self.client, "/planner/")

    def get(self, url):
        return self.client.get(url)

    def send(self, method: str, url: str, body=None, **headers):
        return self.client.open(
            url, method=method, json=body, headers={"X-CSRFToken": self.token, **headers}
        )


def _nearest_names(client, lon, lat, k=3) -> list[str]:
    body = client.get(f"/api/nearest?lon={lon}&lat={lat}&k={k}").get_json()
    return [f["properties"]["name"] for f in body["features"]]


def test_two_editors_saving_the_same_facility(served_ws):
    ws, app = served_ws
    ed, eve = Editor(app, "ed"), Editor(app, "eve")
    a = ed.get("/api/facilities/OS001")
    b = eve.get("/api/facilities/OS001")
    assert a.headers["ETag"] == b.headers["ETag"] == f'"{a.get_json()["version"]}"'
    etag = a.headers["ETag"]

    first = ed.send("PATCH", "/api/facilities/OS001", {"name": "新名字", "reason": "sign"},
                    **{"If-Match": etag})  # fmt: skip
    assert first.status_code == 200, first.get_json()
    second = eve.send("PATCH", "/api/facilities/OS001", {"address": "新地址 1 号"},
                      **{"If-Match": etag})  # fmt: skip
    assert second.status_code == 409
    body = second.get_json()
    assert body["expected_version"] == int(etag.strip('"'))
    assert body["current_version"] == first.get_json()["version"]
    assert body["current"]["name"] == "新名字"  # what ed saved
    assert body["proposed"] == {"id": "OS001", "address": "新地址 1 号"}  # what eve sent
    assert ws.get_facility("OS001")[0]["address"] != "新地址 1 号"  # nothing written

    # eve merges and saves on top of ed's version: both changes are kept
    merged = eve.send(
        "PATCH",
        "/api/facilities/OS001",
        {"address": "新地址 1 号", "version": body["current_version"]},
    )
    assert merged.status_code == 200, merged.get_json()
    record, _ = ws.get_facility("OS001")
    assert (record["name"], record["address"]) == ("新名字", "新地址 1 号")
    history = ed.get("/api/facilities/OS001/history").get_json()
    assert [(h["user"], h["op"]) for h in history[-2:]] == [("ed", "update"), ("eve", "update")]
    assert history[-2]["reason"] == "sign"
    # a DELETE from the old version is refused the same way
    r = ed.send("DELETE", "/api/facilities/OS001", **{"If-Match": etag})
    assert r.status_code == 409 and r.get_json()["proposed"] is None


def test_a_conflict_shows_both_sides_in_the_datum_of_the_write(served_ws):
    # an AMap planner (GCJ-02) moves a station another editor has just moved: the 409
    # gives theirs and mine in GCJ-02, the datum the page sent and draws in
    from geo.crs import wgs84_to_gcj02

    ws, app = served_ws
    ed, eve = Editor(app, "ed"), Editor(app, "eve")
    etag = ed.get("/api/facilities/OS001").headers["ETag"]
    moved = ed.send("PATCH", "/api/facilities/OS001", {"lon": 121.85, "lat": 29.9},
                    **{"If-Match": etag})  # fmt: skip
    assert moved.status_code == 200, moved.get_json()
    mine = {"lon": 121.8601, "lat": 29.9001, "datum": "gcj02"}
    r = eve.send("PATCH", "/api/facilities/OS001", mine, **{"If-Match": etag})
    assert r.status_code == 409
    body = r.get_json()
    assert body["datum"] == "gcj02"
    theirs_lon, theirs_lat = wgs84_to_gcj02(np.array([121.85]), np.array([29.9]))
    assert body["current"]["lon"] == pytest.approx(theirs_lon[0], abs=1e-6)
    assert body["current"]["lat"] == pytest.approx(theirs_lat[0], abs=1e-6)
    assert body["current"]["geometry"]["coordinates"] == pytest.approx([121.85, 29.9])
    assert body["proposed"]["lon"] == pytest.approx(121.8601, abs=1e-6)  # as eve sent it
    assert body["proposed"]["lat"] == pytest.approx(29.9001, abs=1e-6)
    # without a datum, WGS84
    r = eve.send("PATCH", "/api/facilities/OS001", {"lon": 121.8, "lat": 29.9},
                 **{"If-Match": etag})  # fmt: skip
    assert r.get_json()["datum"] == "wgs84"
    assert r.get_json()["current"]["lon"] == pytest.approx(121.85)


def test_add_move_and_close_a_facility(served_ws):
    ws, app = served_ws
    ed = Editor(app, "ed")
    before = ed.get("/api/compliance?type=outdoor_station").get_json()["facilities"]
    assert "OS045" not in {f["id"] for f in before}
    r = ed.send(
        "POST",
        "/api/facilities",
        {"type": "outdoor_station", "name": "新驿站", "lon": HERE[0], "lat": HERE[1],
         "hours": "Mo-Su 07:00-21:00", "amenities": ["water", "charging"], "capacity": 6,
         "reason": "opened"},
    )  # fmt: skip
    assert r.status_code == 201, r.get_json()
    fid, version = r.get_json()["id"], r.get_json()["version"]
    assert fid == "OS045"  # the next id of the type's own pattern
    # the compliance check sees the new station too (it is cached per store version)
    checked = ed.get("/api/compliance?type=outdoor_station").get_json()["facilities"]
    assert fid in {f["id"] for f in checked}
    assert r.headers["ETag"] == f'"{version}"'
    assert _nearest_names(ed.client, *HERE, k=1) == ["新驿站"]
    got = ed.get(f"/api/facilities/{fid}").get_json()
    assert got["properties"]["amenities"] == ["water", "charging"]
    assert got["version"] == version

    # move it 1 km east: it is no longer the nearest
    r = ed.send("PATCH", f"/api/facilities/{fid}",
                {"lon": HERE[0] + 0.0104, "lat": HERE[1], "version": version})  # fmt: skip
    assert r.status_code == 200, r.get_json()
    assert _nearest_names(ed.client, *HERE, k=1) != ["新驿站"]
    moved = ed.get(f"/api/facilities/{fid}").get_json()["geometry"]["coordinates"]
    assert moved == [round(HERE[0] + 0.0104, 7), HERE[1]]

    # close it: gone from the layer and the API, kept in the history
    r = ed.send("DELETE", f"/api/facilities/{fid}?reason=closed",
                **{"If-Match": f'"{r.get_json()["version"]}"'})  # fmt: skip
    assert r.status_code == 200
    assert ed.get(f"/api/facilities/{fid}").status_code == 404
    assert "新驿站" not in _nearest_names(ed.client, HERE[0] + 0.0104, HERE[1])
    ops = [(h["op"], h["reason"]) for h in ed.get(f"/api/facilities/{fid}/history").get_json()]
    assert ops == [("add", "opened"), ("update", ""), ("remove", "closed")]
    assert fid not in set(ws.facilities["id"])


def test_a_bad_value_names_the_field_and_changes_nothing(served_ws):
    ws, app = served_ws
    ed = Editor(app, "ed")
    before = ws.version
    version = ed.get("/api/facilities/OS002").get_json()["version"]
    for body, field in [
        ({"capacity": "many"}, "capacity"),
        ({"hours": "<b>always</b>"}, "hours"),
        ({"type": "spa"}, "type"),
        ({"amenities": 5}, "amenities"),
        ({"lon": 200, "lat": 29.9}, "lon"),
        ({"lon": 121.8}, "lat"),
        ({"lon": 2.35, "lat": 48.85}, "geometry"),  # Paris: outside the district
        ({"colour": "red"}, "colour"),
        ({"name": 5}, "name"),
        ({"id": "OS999"}, "id"),
    ]:
        r = ed.send("PATCH", "/api/facilities/OS002", {**body, "version": version})
        assert r.status_code == 400, (body, r.get_json())
        assert r.get_json()["error"]["parameter"] == field, (body, r.get_json())
    r = ed.send("PATCH", "/api/facilities/OS002", {"name": "no version"})
    assert r.status_code == 428
    r = ed.send("PATCH", "/api/facilities/NOPE", {"name": "x", "version": 1})
    assert r.status_code == 404
    r = ed.send("POST", "/api/facilities", {"type": "bookshelf", "lon": 121.8, "lat": 29.9})
    assert r.status_code == 400 and r.get_json()["error"]["parameter"] == "name"
    r = ed.send("POST", "/api/facilities",
                {"id": "OS002", "type": "outdoor_station", "name": "dup", "lon": 121.8,
                 "lat": 29.9})  # fmt: skip
    assert r.status_code == 409
    r = ed.client.patch(
        "/api/facilities/OS002",
        data="not json",
        headers={"X-CSRFToken": ed.token, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert ws.version == before


def test_text_with_script_comes_back_escaped_in_pages_and_plain_in_the_api(served_ws):
    ws, app = served_ws
    ed = Editor(app, "ed")
    text = {
        "name": XSS_NAME,
        "address": XSS_ADDRESS,
        "contact": "<svg onload=alert(7)>",
        "source": "</script><script>alert(8)</script>",
    }
    # the checked fields (level, date, hours, type) refuse markup, naming it as plain text
    for field, value in (("level", "<i>district</i>"), ("updated_at", "<b>2025</b>"),
                         ("hours", "<b>24/7</b>"), ("type", "<script>x</script>")):  # fmt: skip
        body = {"type": "outdoor_station", "name": "x", "lon": HERE[0], "lat": HERE[1]}
        r = ed.send("POST", "/api/facilities", {**body, field: value})
        assert r.status_code == 400 and r.mimetype == "application/json"
        assert r.get_json()["error"]["parameter"] == field
        assert value in r.get_json()["error"]["message"]  # a JSON string, shown as text
    r = ed.send(
        "POST",
        "/api/facilities",
        {"type": "outdoor_station", "lon": HERE[0], "lat": HERE[1], "reason": "<u>why</u>",
         **text},
    )  # fmt: skip
    assert r.status_code == 201, r.get_json()
    fid = r.get_json()["id"]
    # the API: plain JSON strings, exactly as sent
    props = ed.get(f"/api/facilities/{fid}").get_json()["properties"]
    for field in ("name", "address", "contact"):  # (source: not in the public feature)
        assert props[field] == text[field], field
    record = ed.get(f"/api/facilities/{fid}/history").get_json()[0]
    assert record["after"]["source"] == text["source"] and record["reason"] == "<u>why</u>"
    nearest = ed.get(f"/api/nearest?lon={HERE[0]}&lat={HERE[1]}&k=1")
    assert nearest.mimetype == "application/json"
    assert nearest.get_json()["features"][0]["properties"]["name"] == XSS_NAME
    # the pages: escaped text, never markup
    for url in (f"/f/{fid}", "/", "/planner/", "/planner/report?type=outdoor_station"):
        page = ed.get(url).get_data(as_text=True)
        for value in text.values():
            assert value not in page, (url, value)
        if url == f"/f/{fid}":
            assert html.escape(XSS_NAME, quote=False) in page
    # the page's embedded config is JSON a script parses back to the text
    page = ed.get(f"/f/{fid}").get_data(as_text=True)
    start = page.index('<script type="application/json" id="sm-config">') + len(
        '<script type="application/json" id="sm-config">'
    )
    cfg = json.loads(page[start : page.index("</script>", start)])
    assert cfg["feature"]["properties"]["address"] == XSS_ADDRESS


def test_an_admin_rolls_a_layer_back(served_ws):
    ws, app = served_ws
    ada = Editor(app, "ada")
    start = ws.version
    version = ada.get("/api/facilities/OS003").get_json()["version"]
    assert ada.send("PATCH", "/api/facilities/OS003",
                    {"name": "wrong", "version": version}).status_code == 200  # fmt: skip
    r = ada.send("POST", "/api/layers/facilities/rollback", {"version": start, "reason": "undo"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["changed"] == ["OS003"]
    assert ada.get("/api/facilities/OS003").get_json()["properties"]["name"] != "wrong"
    for body, field in [({"version": 10**6}, "version"), ({}, "version"),
                        ({"version": "1"}, "version")]:  # fmt: skip
        r = ada.send("POST", "/api/layers/facilities/rollback", body)
        assert r.status_code == 400 and r.get_json()["error"]["parameter"] == field
    r = ada.send("POST", "/api/layers/nope/rollback", {"version": 1})
    assert r.status_code == 400 and r.get_json()["error"]["parameter"] == "layer"


def test_an_edit_in_one_app_shows_in_another(served_ws, store_location, tmp_path):
    """Two apps on one store (two workers): the other re-reads when the version moves."""
    ws, app = served_ws
    other = _app(ws.path, store_location).test_client()
    assert _nearest_names(other, *HERE, k=1) != ["改在别处"]
    ed = Editor(app, "ed")
    version = ed.get("/api/facilities/OS001").get_json()["version"]
    assert ed.send("PATCH", "/api/facilities/OS001",
                   {"name": "改在别处", "version": version}).status_code == 200  # fmt: skip
    assert _nearest_names(other, *HERE, k=1) == ["改在别处"]
    body = other.get("/api/coverage?type=outdoor_station").get_json()
    assert any(r["name"] == "改在别处" for r in body["loads"])


def test_writes_need_a_workspace():
    from web import create_app

    client = create_app({"TESTING": True, "TILES": "none", "WTF_CSRF_ENABLED": False})
    r = client.test_client().patch("/api/facilities/OS001", json={"name": "x", "version": 1})
    assert r.status_code == 405 and "workspace" in r.get_json()["error"]["message"]
    assert client.test_client().get("/api/facilities/OS001/history").status_code == 404


@pytest.mark.browser
def test_a_page_writes_with_sm_send(browser, tmp_path):
    """In Chromium: sign in through the form, then SM.send (static/sm.js) saves with the
    page's CSRF token, and a stale version comes back as a 409 error carrying both sides."""
    from tests.conftest import open_page, start_live_server

    folder = tmp_path / "ws"
    demo_workspace(folder).close()
    app = _app(folder)
    server = start_live_server(app)
    context, page, watch = open_page(browser)
    try:
        page.goto(server.url + "/planner/")
        page.wait_for_selector("#sm-login-name")  # sent to the sign-in page
        page.fill("#sm-login-name", "ed")
        page.fill("#sm-login-password", "ed-password-12")
        page.click("form.login-form button[type=submit]")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        assert page.url.endswith("/planner/")
        version = app.test_client().get("/api/facilities/OS001").get_json()["version"]
        saved = page.evaluate(
            "([v]) => SM.send('PATCH', '/api/facilities/OS001', {name: '页面改名', version: v})",
            [version],
        )
        assert saved["id"] == "OS001" and saved["version"] > version
        refused = page.evaluate(
            "([v]) => SM.send('PATCH', '/api/facilities/OS001', {name: 'late', version: v})"
            ".then(() => null, (e) => ({status: e.status, current: e.body.current.name,"
            " proposed: e.body.proposed.name}))",
            [version],
        )
        assert refused == {"status": 409, "current": "页面改名", "proposed": "late"}
    finally:
        context.close()
        server.stop()
    # the 409 is logged by the browser as a failed resource: the only console error
    watch.console_errors = [e for e in watch.console_errors if "409" not in e]
    watch.assert_clean()


def test_a_change_drops_only_what_its_layer_feeds(tmp_path):
    """AppData.refresh: a new user keeps the layers and everything computed; an edited
    facility drops the finder and the summaries, and keeps the demand's gap layouts and
    the base map."""
    folder = tmp_path / "ws"
    ws = demo_workspace(folder, users=False)
    app = _app(folder)
    d = app.extensions["servicemap"]
    client = app.test_client()
    client.get("/planner/?type=mother_room")
    finder, demand, parts = d.finder, d.demo.demand, d.map_parts("zh")
    assert d.gap_layout("mother_room") is not None and d._summaries
    ws.store.add_user("ada", "ada-password-1", role="admin")
    client.get("/api/types")
    assert d.finder is finder and d.demo.demand is demand and d._summaries
    assert set(d.users()) == {"ada"}
    record, version = ws.get_facility("MR001")
    ws.update_facility("MR001", {"name": "改了"}, expected_version=version, user="t")
    client.get("/api/types")
    assert d.finder is not finder and not d._summaries
    assert d.demo.demand is demand and d.map_parts("zh") is parts
    assert "mother_room" in d._layouts
    assert d.demo.facilities.set_index("id").loc["MR001", "name"] == "改了"
    ws.close()
