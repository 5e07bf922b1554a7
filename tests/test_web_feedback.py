"""Public feedback on the web (web/feedback.py), through the test client with CSRF on:
the public POSTs (hostile fields and photos, the honeypot, the rate limit under a burst of
1,000), and the planner's review (roles, CSRF, accepting a move, escaping)."""

from __future__ import annotations

import io
import re
import shutil

import pytest

from geo import Workspace
from geo.feedback import Feedback
from tests import photos
from tests.conftest import PASSWORDS, ROLES_OF, csrf_token_of, sign_in, workspace_app

NASTY = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'`${alert(3)}`"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The Beilun demo as a workspace, built once; each test gets a copy."""
    folder = tmp_path_factory.mktemp("fbws") / "ws"
    Workspace.from_demo("beilun", folder).close()
    return folder


@pytest.fixture
def ws_dir(built, tmp_path):
    folder = tmp_path / "ws"
    shutil.copytree(built, folder)
    return folder


def make_app(folder, **config):
    from web.auth import limiter

    app = workspace_app(folder, **{"REPORT_LIMIT": "1000/minute", **config})
    with app.app_context():
        limiter.reset()  # one limiter object serves every test's app: start from zero
    return app


@pytest.fixture
def app(ws_dir):
    return make_app(ws_dir)


@pytest.fixture
def client(app):
    return app.test_client()


def _token(client, path="/planner/login") -> str:
    return csrf_token_of(client, path)


def _sign_in(app, name):
    """A client signed in as ``name`` (the workspace gains the users first: sign-in on)."""
    ws = app.extensions["servicemap"].workspace
    if not ws.store.users():
        for user, password in PASSWORDS.items():
            ws.store.add_user(user, password, role=ROLES_OF[user])
    c = app.test_client()
    assert sign_in(c, name).status_code == 302
    return c


def _reports(app, **kw):
    return Feedback(app.extensions["servicemap"].workspace).reports(**kw)


def test_a_report_with_a_photo_is_taken_without_a_csrf_token(app, client):
    r = client.post(
        "/api/facilities/OS001/reports",
        data={"kind": "equipment", "text": "微波炉坏了", "website": "",
              "photo": (io.BytesIO(photos.photo_with_gps()), "IMG_0001.jpg")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "new"
    (kept,) = _reports(app)
    assert kept.has_photo and kept.text == "微波炉坏了"
    # JSON as well (what the offline queue replays), "moved" in the map's datum
    body = {"kind": "moved", "lon": 121.86, "lat": 29.9, "datum": "gcj02"}
    r = client.post("/api/facilities/OS002/reports", json=body)
    assert r.status_code == 201
    moved = _reports(app, facility_id="OS002")[0]
    assert moved.lon != 121.86 and abs(moved.lon - 121.86) < 0.01  # shifted to WGS84
    r = client.post("/api/suggestions", json={"lon": 121.62, "lat": 29.97, "text": "需要"})
    assert r.status_code == 201 and r.get_json()["status"] == "new"


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"kind": "burnt"}, 400, "kind"),
        ({"kind": "closed", "website": "http://spam.example"}, 400, "website"),
        ({"kind": "other", "text": "长" * 501}, 400, "text"),
        ({"kind": "moved", "lon": "east", "lat": "29.9"}, 400, "lon"),
        ({"kind": "moved", "lon": 121.8, "lat": 29.9, "datum": "mars"}, 400, "datum"),
        ({"kind": "hours", "contact": "138 0000 0000"}, 400, "consent"),
        ({"kind": "hours", "text": ["a", "b"]}, 400, "text"),
    ],
)
def test_bad_report_fields_are_refused(app, client, body, status, field):
    r = client.post("/api/facilities/OS001/reports", json=body)
    assert r.status_code == status and field in r.get_json()["error"]["message"]
    assert _reports(app) == []


def test_unknown_facility_and_hostile_ids(client):
    assert client.post("/api/facilities/NOPE/reports", json={"kind": "closed"}).status_code == 404
    r = client.post("/api/facilities/%3Cscript%3E/reports", json={"kind": "closed"})
    assert r.status_code == 404 and r.mimetype == "application/json"
    assert client.post("/api/suggestions", json={"text": "no place"}).status_code == 400
    assert client.post("/api/suggestions", json=["not", "an", "object"]).status_code == 400


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: photos.SVG, "x.svg"),
        (lambda: photos.HTML, "x.jpg"),
        (photos.jpeg_html_polyglot, "x.jpg"),
        (photos.jpeg_zip_polyglot, "x.jpg"),
        (photos.gif_js_polyglot, "x.gif"),
        (photos.png_bomb, "x.png"),
        (photos.truncated_jpeg, "x.jpg"),
    ],
)
def test_hostile_photos_are_refused(app, client, make, name):
    r = client.post(
        "/api/facilities/OS001/reports",
        data={"kind": "equipment", "photo": (io.BytesIO(make()), name)},
        content_type="multipart/form-data",
    )
    assert r.status_code == 400 and "photo" in r.get_json()["error"]["message"]
    assert _reports(app) == []


def test_an_oversize_upload_is_refused_before_it_is_read(app, client):
    from werkzeug.test import EnvironBuilder

    big = b"\xff\xd8" + b"\x00" * (11 * 1024 * 1024)
    builder = EnvironBuilder(
        path="/api/facilities/OS001/reports", method="POST",
        data={"kind": "equipment", "photo": (io.BytesIO(big), "big.jpg")},
    )  # fmt: skip
    environ = builder.get_environ()
    try:
        r = client.open(environ)
    finally:  # the builder spooled the body to a temporary file, which the app never read
        environ["wsgi.input"].close()
        builder.close()
    assert r.status_code == 413 and _reports(app) == []


def test_the_rate_limit_holds_under_a_burst_of_1000(ws_dir):
    app = make_app(ws_dir, REPORT_LIMIT="10/minute;50/hour")
    c = app.test_client()
    codes = [
        c.post("/api/facilities/OS001/reports", json={"kind": "hours", "text": f"#{i}"},
               environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code
        for i in range(1000)
    ]  # fmt: skip
    assert codes.count(201) == 10 and codes.count(429) == 990
    assert codes[:10] == [201] * 10
    # suggestions share the budget; another address has its own
    r = c.post("/api/suggestions", json={"lon": 121.62, "lat": 29.97},
               environ_base={"REMOTE_ADDR": "203.0.113.7"})  # fmt: skip
    assert r.status_code == 429 and r.mimetype == "application/json"
    other = c.post("/api/facilities/OS001/reports", json={"kind": "hours"},
                   environ_base={"REMOTE_ADDR": "198.51.100.2"})  # fmt: skip
    assert other.status_code == 201
    # the ten from one address folded into one report counted ten times
    kept = _reports(app)
    assert sorted(r.count for r in kept) == [1, 10]


def test_a_signed_in_session_needs_its_csrf_token(app):
    c = _sign_in(app, "ed")
    assert c.post("/api/facilities/OS001/reports", json={"kind": "closed"}).status_code == 400
    token = _token(c, "/planner/")
    r = c.post("/api/facilities/OS001/reports", json={"kind": "closed"},
               headers={"X-CSRFToken": token})  # fmt: skip
    assert r.status_code == 201


def test_the_queue_needs_an_editor(app, client):
    _sign_in(app, "vic")  # the workspace now has users: sign-in is on
    r = client.get("/planner/reports")
    assert r.status_code == 302 and "/planner/login" in r.headers["Location"]
    viewer = _sign_in(app, "vic")
    assert viewer.get("/planner/reports").status_code == 403
    assert viewer.get("/planner/stale").status_code == 403
    assert viewer.get("/planner/suggestions").status_code == 403
    client.post("/api/facilities/OS001/reports", json={"kind": "hours"})
    assert viewer.post("/planner/reports/1/review", data={"status": "accepted",
                       "csrf_token": _token(viewer, "/")}).status_code == 403  # fmt: skip
    assert client.get("/planner/reports/1/photo.jpg").status_code == 302
    assert _sign_in(app, "ed").get("/planner/reports").status_code == 200


def test_hostile_text_shows_as_text_in_the_queue(app, client):
    nasty = NASTY
    client.post(
        "/api/facilities/OS001/reports",
        json={"kind": "other", "text": nasty, "contact": nasty[:100], "consent": True},
    )
    client.post("/api/suggestions", json={"lon": 121.62, "lat": 29.97, "text": nasty})
    ed = _sign_in(app, "ed")
    for path in ("/planner/reports", "/planner/suggestions", "/f/OS001", "/"):
        html = ed.get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in html and "<img src=x" not in html, path
    html = ed.get("/planner/reports").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in ed.get("/planner/suggestions").get_data(
        as_text=True
    )


def test_accepting_a_moved_report_moves_the_station_everywhere(app, client):
    before = client.get("/api/facilities/OS001").get_json()
    lon, lat = before["geometry"]["coordinates"]
    to = (round(lon + 0.003, 6), round(lat + 0.002, 6))
    body = {"kind": "moved", "lon": to[0], "lat": to[1]}
    rid = client.post("/api/facilities/OS001/reports", json=body).get_json()["id"]
    ed = _sign_in(app, "ed")
    page = ed.get("/planner/reports").get_data(as_text=True)
    assert f'<tr data-id="{rid}" data-kind="moved"' in page
    # a reason is needed to reject; CSRF is needed at all
    assert ed.post(f"/planner/reports/{rid}/review", data={"status": "accepted"}).status_code == 400
    token = _token(ed, "/planner/reports")
    r = ed.post(f"/planner/reports/{rid}/review", data={"status": "rejected", "csrf_token": token})
    assert r.status_code == 400 and "reason" in r.get_data(as_text=True)
    r = ed.post(f"/planner/reports/{rid}/review",
                data={"status": "accepted", "reason": "核实", "csrf_token": token})  # fmt: skip
    assert r.status_code == 302
    after = client.get("/api/facilities/OS001").get_json()
    assert after["geometry"]["coordinates"] == pytest.approx(list(to))
    history = ed.get("/api/facilities/OS001/history").get_json()
    last = history[-1] if isinstance(history, list) else history["history"][-1]
    assert last["user"] == "ed" and f"report #{rid}" in last["reason"]
    done = ed.get("/planner/reports?status=accepted").get_data(as_text=True)
    assert f'<tr data-id="{rid}"' in done and 'class="applied"' in done


def test_still_here_and_the_staleness_list(app, client):
    page = client.get("/f/OS001").get_data(as_text=True)
    assert 'id="sm-last-confirmed" data-date=""' in page
    assert client.post("/api/facilities/OS001/reports", json={"kind": "confirm"}).status_code == 201
    page = client.get("/f/OS001").get_data(as_text=True)
    date = re.search(r'id="sm-last-confirmed" data-date="([0-9-]+)"', page).group(1)
    assert date in page.split('data-date="')[1].split("</p>")[0]
    stale = client.get("/planner/stale?days=30&type=outdoor_station").get_data(as_text=True)
    n = int(re.search(r'id="sm-stale-count" data-n="(\d+)"', stale).group(1))
    assert n == 43 and '<tr data-id="OS001">' not in stale  # 44 stations, one confirmed
    assert '<tr data-id="OS001">' in client.get("/planner/stale?days=0").get_data(as_text=True)
    assert client.get("/planner/stale?days=many").status_code == 400
    assert client.get("/planner/suggestions?type=nope").status_code == 400


def test_no_workspace_no_report_form(client):
    from web import create_app

    bare = create_app({"TESTING": True, "TILES": "none"}).test_client()
    assert b"sm-feedback" not in bare.get("/f/OS001").data
    assert bare.post("/api/facilities/OS001/reports", json={"kind": "closed"}).status_code == 501
