"""The Flask app: configuration, pages, headers, errors, escaping (no browser)."""

import re

import pytest

from tests.conftest import XSS_ADDRESS, XSS_ID, XSS_NAME
from web import create_app

CDN = re.compile(r"(https?:)?//[^\"' ]*(cdn|jsdelivr|cdnjs|bootstrapcdn|code\.jquery|unpkg)", re.I)


def test_nothing_is_loaded_when_the_app_is_created(app):
    assert app.extensions["servicemap"]._demo is None


def test_config_order_defaults_env_then_test_override(monkeypatch):
    monkeypatch.setenv("SERVICEMAP_PRIVACY_K", "25")
    monkeypatch.setenv("SERVICEMAP_TILES", "none")
    app = create_app({"TESTING": True})
    assert app.config["PRIVACY_K"] == 25 and app.config["TILES"] == "none"
    app = create_app({"TESTING": True, "PRIVACY_K": 5})
    assert app.config["PRIVACY_K"] == 5
    monkeypatch.setenv("SERVICEMAP_PRIVACY_K", "many")
    with pytest.raises(ValueError, match="SERVICEMAP_PRIVACY_K='many'"):
        create_app({"TESTING": True})


def test_tianditu_without_a_key_fails_at_start():
    with pytest.raises(ValueError, match="needs an API key"):
        create_app({"TESTING": True, "TILES": "tianditu"})


@pytest.mark.parametrize("path", ["/", "/planner/", "/f/OS002", "/planner/report"])
def test_pages_are_self_contained_zoomable_and_guarded(client, path):
    r = client.get(path)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert not CDN.search(html)
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    assert "user-scalable" not in html and "maximum-scale" not in html
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp
    assert "object-src 'none'" in csp
    # every inline script carries the nonce (or is JSON data)
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    for tag in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html):
        assert f'nonce="{nonce}"' in tag or 'type="application/json"' in tag, tag


def test_osm_tiles_are_allowed_by_the_policy():
    app = create_app({"TESTING": True, "TILES": "osm"})
    r = app.test_client().get("/")
    assert (
        "img-src 'self' data: https://tile.openstreetmap.org"
        in r.headers["Content-Security-Policy"]
    )
    assert "tile.openstreetmap.org" in r.get_data(as_text=True)


def test_chinese_first_english_on_request(client):
    zh = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in zh and "我附近" in zh
    r = client.get("/?lang=en")
    en = r.get_data(as_text=True)
    assert '<html lang="en">' in en and "Near me" in en
    assert "lang=en" in r.headers["Set-Cookie"]
    # the cookie keeps the choice
    assert "Coverage planner" in client.get("/planner/").get_data(as_text=True)


def test_vendor_assets_come_from_the_installed_packages(client):
    with client.get("/vendor/leaflet/1.9.3/leaflet.js") as r:
        assert r.status_code == 200 and b"Leaflet" in r.data[:400]
        assert "max-age" in r.headers["Cache-Control"]
    assert client.get("/vendor/leaflet/0.1/leaflet.js").status_code == 404
    assert client.get("/vendor/jquery/3/jquery.js").status_code == 404
    assert client.get("/vendor/leaflet/1.9.3/../../../../etc/passwd").status_code == 404


def test_facility_page_shows_hostile_text_as_text(xss_demo):
    app = create_app({"TESTING": True, "TILES": "none", "DEMO": xss_demo})
    c = app.test_client()
    for path in (
        f"/f/{XSS_ID}",
        "/planner/?type=outdoor_station",
        "/planner/report?type=outdoor_station",
    ):
        html = c.get(path).get_data(as_text=True)
        for raw in ("<img src=x", "<script>alert", "<b onmouseover"):
            assert raw not in html, (path, raw)
    html = c.get(f"/f/{XSS_ID}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # in the JSON for scripts, < and > are escaped so </script> cannot end the block
    block = re.search(r'<script type="application/json" id="sm-config">(.*?)</script>', html, re.S)
    assert "</" not in block.group(1) and "\\u003c" in block.group(1)
    import json

    cfg = json.loads(block.group(1))
    assert cfg["feature"]["properties"]["name"] == XSS_NAME
    assert cfg["feature"]["properties"]["address"] == XSS_ADDRESS


def test_unknown_facility_page_is_404(client):
    assert client.get("/f/NOPE").status_code == 404


@pytest.mark.parametrize(
    "url, parameter",
    [
        ("/api/nearest?lon=121.8", "lat"),
        ("/api/nearest?lat=abc&lon=121.8", "lat"),
        ("/api/nearest?lat=29.9&lon=121.8&k=0", "k"),
        ("/api/nearest?lat=29.9&lon=121.8&k=1000", "k"),
        ("/api/nearest?lat=29.9&lon=121.8&datum=utm", "datum"),
        ("/api/nearest?lat=29.9&lon=121.8&type=school", "type"),
        ("/api/nearest?lat=29.9&lon=121.8&open_now=perhaps", "open_now"),
        ("/api/facilities?bbox=1,2,3", "bbox"),
        ("/api/facilities?bbox=122,29,121,30", "bbox"),
        ("/api/facilities?limit=0", "limit"),
        ("/api/facilities?offset=-1", "offset"),
        ("/api/facilities?amenity=pool", "amenity"),
        ("/api/coverage?type=nope", "type"),
        ("/api/coverage?type=mother_room&threshold_m=-5", "threshold_m"),
        ("/api/coverage?type=mother_room&off=XX9", "off"),
        ("/api/coverage?type=mother_room&add=121.8", "add"),
        ("/api/gaps", "type"),
        ("/api/search", "q"),
    ],
)
def test_bad_parameters_get_a_400_naming_them(client, url, parameter):
    r = client.get(url)
    assert r.status_code == 400, r.get_data(as_text=True)
    body = r.get_json()["error"]
    assert body["status"] == 400 and body["parameter"] == parameter
    assert parameter in body["message"] and body["reason"]


def test_api_404s_are_json(client):
    r = client.get("/api/facilities/NOPE")
    assert r.status_code == 404 and r.get_json()["error"]["message"] == "no facility with id 'NOPE'"
    assert client.get("/api/nothing-here").get_json()["error"]["status"] == 404
