"""Sign-in, roles, API tokens, CSRF and the sign-in rate limit (web/auth.py), on a real
workspace (the Beilun demo imported into a GeoPackage store) with real users.

Every route of the app is tried: anonymous visitors reach no planner page and no write
endpoint, whatever the method; the finder and the read API stay open.
"""

from __future__ import annotations

import re
import stat

import pytest

from tests.conftest import (
    PASSWORDS,
    csrf_token_of,
    demo_workspace,
    sign_in,
    workspace_app,
)

#: routes that change nothing, or that anyone may use by design
OPEN_WRITES = {"auth.login", "auth.logout"}
VALUES = {"fid": "OS001", "fmt": "csv", "layer": "facilities", "name": "map_outdoor_station"}


@pytest.fixture(scope="module")
def ws_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("auth") / "ws"
    demo_workspace(folder).close()
    return folder


@pytest.fixture
def app(ws_folder):
    return workspace_app(ws_folder)


def _url(rule) -> str:
    def fill(m: re.Match) -> str:
        return VALUES.get(m.group(2), "x")

    return re.sub(r"<(?:(\w+):)?(\w+)>", fill, rule.rule)


def _every_route(app):
    """(method, url, rule) for every route and method of the app (HEAD/OPTIONS aside)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "public.vendor"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, _url(rule), rule


def _needs_sign_in(method: str, rule) -> bool:
    if rule.endpoint in OPEN_WRITES:
        return False
    if rule.rule.startswith("/planner"):
        return True
    view = rule.endpoint
    return method != "GET" or view == "api_write.facility_history"


def test_anonymous_reaches_no_planner_page_and_no_write_endpoint(app, ws_folder):
    from geo import Workspace

    before = Workspace.open(ws_folder).version
    client = app.test_client()
    token = csrf_token_of(client)  # a valid CSRF token: the refusal is the sign-in's
    tried = refused = 0
    for method, url, rule in _every_route(app):
        if not _needs_sign_in(method, rule):
            continue
        r = client.open(
            url, method=method, headers={"X-CSRFToken": token}, json={"name": "x", "version": 1}
        )
        tried += 1
        if method == "GET" and not url.startswith("/api/"):
            assert r.status_code == 302, f"{method} {url}: {r.status_code}"
            assert r.headers["Location"].startswith("/planner/login?next="), url
        else:
            assert r.status_code == 401, f"{method} {url}: {r.status_code} {r.data[:200]}"
            assert r.get_json()["error"]["message"], url
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        refused += 1
    assert tried == refused and tried >= 12
    # the finder and the read API stay open
    for url in ("/", "/f/OS001", "/api/facilities", "/api/nearest?lon=121.85&lat=29.9"):
        assert client.get(url).status_code == 200, url
    assert Workspace.open(ws_folder).version == before


def test_every_write_route_is_guarded():
    """Each route that takes a write method is a sign-in route, or is listed as open."""
    from web import create_app

    app = create_app({"TESTING": True, "TILES": "none"})
    for method, url, rule in _every_route(app):
        if method != "GET":
            assert rule.endpoint in OPEN_WRITES or _needs_sign_in(method, rule), url
            view = app.view_functions[rule.endpoint]
            assert rule.endpoint in OPEN_WRITES or getattr(view, "required_role", None), url


def test_the_planner_after_signing_in(app):
    client = app.test_client()
    assert client.get("/planner/").status_code == 302
    r = sign_in(client, "vic")
    assert r.status_code == 302 and r.headers["Location"] == "/planner/"
    page = client.get("/planner/")
    assert page.status_code == 200
    assert "vic（查看）" in page.get_data(as_text=True)
    assert client.get("/planner/export.csv?type=outdoor_station").status_code == 200
    # signing out ends it
    token = csrf_token_of(client, "/planner/")
    assert client.post("/planner/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/planner/").status_code == 302


def test_a_wrong_password_and_where_sign_in_leads(app):
    client = app.test_client()
    r = sign_in(client, "vic", "not-the-password")
    assert r.status_code == 401
    assert "用户名或密码不对" in r.get_data(as_text=True)
    assert client.get("/planner/").status_code == 302
    r = client.get("/planner/login?lang=en")
    assert "Sign in" in r.get_data(as_text=True) and 'lang="en"' in r.get_data(as_text=True)
    # after signing in: back where the visitor was, on this site only
    for target, lands in [
        ("/planner/report?type=bookshelf", "/planner/report?type=bookshelf"),
        ("https://evil.example/", "/planner/"),
        ("//evil.example/x", "/planner/"),
        ("/\\evil.example", "/planner/"),
    ]:
        c = app.test_client()
        token = csrf_token_of(c)
        r = c.post(
            "/planner/login",
            data={"name": "vic", "password": PASSWORDS["vic"], "csrf_token": token,
                  "next": target},
        )  # fmt: skip
        assert r.status_code == 302 and r.headers["Location"] == lands, target


def test_a_viewer_cannot_edit_an_editor_cannot_roll_back(app):
    viewer, editor, admin = app.test_client(), app.test_client(), app.test_client()
    for c, name in ((viewer, "vic"), (editor, "ed"), (admin, "ada")):
        assert sign_in(c, name).status_code == 302

    def call(c, method, url, body):
        return c.open(url, method=method, json=body, headers={"X-CSRFToken": csrf_token_of(c)})

    version = viewer.get("/api/facilities/OS002").get_json()["version"]
    writes = [
        ("PATCH", "/api/facilities/OS002", {"name": "viewer was here", "version": version}),
        ("POST", "/api/facilities", {"type": "bookshelf", "name": "x", "lon": 121.8, "lat": 29.9}),
        ("DELETE", "/api/facilities/OS002", {"version": version}),
        ("POST", "/api/layers/facilities/rollback", {"version": 1}),
    ]
    for method, url, body in writes:
        r = call(viewer, method, url, body)
        assert r.status_code == 403, f"viewer {method} {url}: {r.status_code}"
    assert viewer.get("/api/facilities/OS002/history").status_code == 403
    assert call(editor, *writes[3]).status_code == 403
    r = call(editor, *writes[0][:2], {"name": "editor was here", "version": version})
    assert r.status_code == 200, r.get_json()
    assert editor.get("/api/facilities/OS002/history").get_json()[-1]["user"] == "ed"
    r = call(admin, "POST", "/api/layers/facilities/rollback", {"version": version})
    assert r.status_code == 200, r.get_json()
    assert viewer.get("/api/facilities/OS002").get_json()["properties"]["name"] != (
        "editor was here"
    )


def test_writes_without_the_csrf_token_are_refused(app, ws_folder):
    from geo import Workspace

    client = app.test_client()
    assert sign_in(client, "ed").status_code == 302
    before = Workspace.open(ws_folder).version
    version = client.get("/api/facilities/OS003").get_json()["version"]
    body = {"name": "no token", "version": version}
    for headers in ({}, {"X-CSRFToken": "forged"}, {"X-CSRFToken": ""}):
        r = client.patch("/api/facilities/OS003", json=body, headers=headers)
        assert r.status_code == 400, r.get_json()
        assert "CSRF" in r.get_json()["error"]["message"]
    r = client.delete("/api/facilities/OS003", headers={"If-Match": f'"{version}"'})
    assert r.status_code == 400
    # a token of another session is refused too
    other = app.test_client()
    r = client.patch(
        "/api/facilities/OS003", json=body, headers={"X-CSRFToken": csrf_token_of(other)}
    )
    assert r.status_code == 400
    # the forms too: sign-in and sign-out without the token
    c2 = app.test_client()
    r = c2.post("/planner/login", data={"name": "ed", "password": PASSWORDS["ed"]})
    assert r.status_code == 400 and c2.get("/planner/").status_code == 302
    assert client.post("/planner/logout").status_code == 400
    assert client.get("/planner/").status_code == 200  # still signed in
    assert Workspace.open(ws_folder).version == before
    ok = client.patch(
        "/api/facilities/OS003", json=body, headers={"X-CSRFToken": csrf_token_of(client)}
    )
    assert ok.status_code == 200


def test_api_tokens_carry_their_role(app, ws_folder):
    from geo import Workspace

    ws = Workspace.open(ws_folder)
    as_editor = ws.store.create_token("ada", label="sync", role="editor")
    as_viewer = ws.store.create_token("ed", label="read-only", role="viewer")
    revoked = ws.store.create_token("eve", label="old")
    ws.store.revoke_token(revoked, by="ada")
    client = app.test_client()

    def bearer(token):
        return {"Authorization": f"Bearer {token}"}

    version = client.get("/api/facilities/OS004").get_json()["version"]
    body = {"name": "by token", "version": version}
    # a token needs no CSRF token (a browser never adds the header by itself)
    r = client.patch("/api/facilities/OS004", json=body, headers=bearer(as_editor))
    assert r.status_code == 200, r.get_json()
    assert ws.facility_history("OS004")[-1]["user"] == "ada"
    r = client.post(
        "/api/layers/facilities/rollback", json={"version": version}, headers=bearer(as_editor)
    )
    assert r.status_code == 403  # ada is an admin, her token is not
    r = client.patch("/api/facilities/OS004", json=body, headers=bearer(as_viewer))
    assert r.status_code == 403
    assert client.get("/planner/", headers=bearer(as_viewer)).status_code == 200
    for token in (revoked, "smt_" + "x" * 43):
        r = client.patch("/api/facilities/OS004", json=body, headers=bearer(token))
        assert r.status_code == 401, token
        assert "token" in r.get_json()["error"]["message"]
    # a signed-in session does not rescue a bad token
    assert sign_in(client, "ada").status_code == 302
    r = client.get("/api/facilities/OS004/history", headers=bearer("smt_nope"))
    assert r.status_code == 401
    # demoting the user lowers the token
    ws.store.set_role("ada", "viewer", by="test")
    r = client.patch(
        "/api/facilities/OS004",
        json={"name": "after demotion", "version": ws.get_facility("OS004")[1]},
        headers=bearer(as_editor),
    )
    assert r.status_code == 403
    ws.store.set_role("ada", "admin", by="test")
    ws.close()


def test_sign_in_attempts_are_limited(ws_folder):
    from web.auth import limiter

    app = workspace_app(ws_folder, SIGN_IN_LIMIT="5/minute")
    limiter.reset()
    client = app.test_client()
    codes = [sign_in(client, "vic", "wrong-password").status_code for _ in range(5)]
    assert codes == [401] * 5
    assert sign_in(client, "vic", "wrong-password").status_code == 429
    r = sign_in(client, "vic")  # the right password too, until the minute is over
    assert r.status_code == 429 and client.get("/planner/").status_code == 302
    assert "尝试次数太多" in r.get_data(as_text=True)
    # another address is counted apart
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.7"
    assert sign_in(other, "vic").status_code == 302
    limiter.reset()


def test_cookies_and_the_secret_key(ws_folder):
    client = workspace_app(ws_folder).test_client()
    r = sign_in(client, "vic")
    cookie = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("servicemap_session=")]
    assert cookie and "HttpOnly" in cookie[0] and "SameSite=Lax" in cookie[0]
    assert "Secure" not in cookie[0]
    tls = workspace_app(ws_folder, PREFERRED_URL_SCHEME="https").test_client()
    r = sign_in(tls, "vic")
    assert "Secure" in r.headers.getlist("Set-Cookie")[-1]
    # the key is kept in the workspace, readable by its owner only, the same for every app
    key = ws_folder / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    a, b = workspace_app(ws_folder), workspace_app(ws_folder)
    assert a.config["SECRET_KEY"] == b.config["SECRET_KEY"] == key.read_text().strip()
    # a session signed by one app (worker) is good in the other
    c = a.test_client()
    sign_in(c, "vic")
    session = c.get_cookie("servicemap_session").value
    other = b.test_client()
    other.set_cookie("servicemap_session", session)
    assert other.get("/planner/").status_code == 200


def test_a_workspace_without_users_is_an_open_demo(tmp_path):
    from geo import Workspace

    folder = tmp_path / "open"
    demo_workspace(folder, users=False).close()
    client = workspace_app(folder).test_client()
    page = client.get("/planner/")
    assert page.status_code == 200
    assert 'id="sm-demo-banner"' in page.get_data(as_text=True)
    assert 'id="sm-sign-in"' not in page.get_data(as_text=True)
    login = client.get("/planner/login").get_data(as_text=True)
    assert 'id="sm-login-open"' in login
    version = client.get("/api/facilities/OS005").get_json()["version"]
    r = client.patch(
        "/api/facilities/OS005",
        json={"name": "demo edit", "version": version},
        headers={"X-CSRFToken": csrf_token_of(client)},
    )
    assert r.status_code == 200
    assert Workspace.open(folder).facility_history("OS005")[-1]["user"] == "demo"
    # CSRF holds on the open demo too
    r = client.patch(
        "/api/facilities/OS005", json={"name": "x", "version": r.get_json()["version"]}
    )
    assert r.status_code == 400


def test_a_district_workspace_is_not_called_a_demo(tmp_path):
    from geo import Workspace
    from geo.demo import datasets_dir

    Workspace.init(tmp_path / "d", name="北仑区").close()
    ws = Workspace.open(tmp_path / "d")
    ws.import_file("facilities", datasets_dir() / "beilun" / "facilities.csv")
    ws.store.add_user("ada", PASSWORDS["ada"], role="admin")
    ws.close()
    client = workspace_app(tmp_path / "d").test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'id="sm-demo-banner"' not in page and 'id="sm-sign-in"' in page
