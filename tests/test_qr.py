"""Short URLs, QR codes and the printable plates (web/qr.py, `servicemap plates`).

The QR codes are read back with zxing-cpp from what a phone would see: the PNG the app
serves, and every page of the printed PDF rasterised by pdftoppm (poppler-utils). The
facilities an area's sheet must hold are found here with shapely, not with the app's code.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from urllib.parse import quote, urlsplit

import pytest
import zxingcpp
from click.testing import CliRunner
from PIL import Image

from cli import main

BASE = "https://map.example.cn"
AREA = "Daxie"  # 10 facilities: two A4 pages of plates

# ids a district may well have, each needing its own quoting in a URL
ODD_IDS = ["站点/07", "a b?c#d%2F", "新碶-01"]


@pytest.fixture(scope="module")
def odd_demo():
    """The Beilun demo with the first facilities of the plates' area renamed to odd ids."""
    from geo.demo import Demo, load_demo

    d = load_demo("beilun")
    fac = d.facilities.copy()
    area = d.areas[d.areas["name_en"] == AREA].geometry.iloc[0]
    rows = fac.index[fac.within(area)][: len(ODD_IDS)]
    fac.loc[rows, "id"] = ODD_IDS
    return Demo(d.name, fac, d.demand, d.areas, d.boundary)


@pytest.fixture(scope="module")
def odd_app(odd_demo):
    from web import create_app

    return create_app({"TESTING": True, "TILES": "none", "DEMO": odd_demo, "PUBLIC_URL": BASE})


def expected_url(fid: str) -> str:
    """The short URL written out by hand: every character outside A-Z a-z 0-9 -._~ and
    "/" percent-encoded as UTF-8."""
    return f"{BASE}/f/{quote(fid, safe='/')}"


def decode(png: bytes) -> list[str]:
    return sorted(b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(png))))


def area_ids(demo, name_en: str) -> set[str]:
    area = demo.areas[demo.areas["name_en"] == name_en].geometry.iloc[0]
    return set(demo.facilities.loc[demo.facilities.within(area), "id"])


def test_qr_png_decodes_to_the_short_url_which_opens_the_facility_page(odd_app, odd_demo):
    client = odd_app.test_client()
    for fid in [*ODD_IDS, "OS001"]:
        url = expected_url(fid)
        r = client.get(urlsplit(url).path + "/qr.png")
        assert r.status_code == 200 and r.mimetype == "image/png", fid
        assert decode(r.data) == [url], fid
        page = client.get(urlsplit(url).path)
        assert page.status_code == 200, fid
        name = odd_demo.facilities.loc[odd_demo.facilities["id"] == fid, "name"].iloc[0]
        assert name in page.get_data(as_text=True), fid


def test_qr_svg_carries_the_same_code_as_segno_makes(odd_app):
    import segno

    r = odd_app.test_client().get("/f/OS001/qr.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    svg = r.get_data(as_text=True)
    assert svg.startswith("<svg") and "http://www.w3.org/2000/svg" in svg
    assert "<script" not in svg
    # the same matrix as segno's for the URL (so the SVG and PNG cannot disagree)
    want = segno.make(expected_url("OS001"), error="m", boost_error=False)
    buf = io.BytesIO()
    want.save(buf, kind="svg", scale=8, border=4, xmldecl=False, title=expected_url("OS001"))
    assert svg == buf.getvalue().decode()


def test_without_public_url_the_short_url_uses_the_request_host():
    from web import create_app

    client = create_app({"TESTING": True, "TILES": "none"}).test_client()
    r = client.get("/f/MR002/qr.png", base_url="http://192.168.1.5:8000")
    assert decode(r.data) == ["http://192.168.1.5:8000/f/MR002"]


def test_unknown_facility_or_format_is_not_found(odd_app):
    client = odd_app.test_client()
    assert client.get("/f/NOPE/qr.png").status_code == 404
    assert client.get("/f/OS001/qr.gif").status_code == 404
    assert client.get("/f/OS001/qr.png/x").status_code == 404


def test_plates_page_holds_every_facility_of_the_area_in_both_scripts(odd_app, odd_demo):
    client = odd_app.test_client()
    pages = {
        key: client.get("/planner/plates", query_string={"area": key})
        for key in (AREA, "大榭街道", "SD11", AREA.upper())
    }
    html = pages[AREA].get_data(as_text=True)
    for key, r in pages.items():
        assert r.status_code == 200, key
        assert r.get_data(as_text=True).count('<article class="plate') == html.count(
            '<article class="plate'
        )
    ids = re.findall(r'<article class="plate [^"]*" data-id="([^"]*)"', html)
    from html import unescape

    ids = [unescape(i) for i in ids]
    want = area_ids(odd_demo, AREA)
    assert sorted(ids) == sorted(want) and len(ids) == len(set(ids))
    assert html.count('<section class="sheet"') == 2  # 10 plates, six a page
    for fid in ids:
        row = odd_demo.facilities[odd_demo.facilities["id"] == fid].iloc[0]
        assert f'data-url="{expected_url(fid)}"' in html
        from markupsafe import escape

        assert str(escape(row["name"])) in html
    assert html.count("扫码反馈问题") == len(ids)
    assert html.count("Scan to report a problem") == len(ids)
    # each type in both scripts
    assert "户外劳动者驿站" in html or "职工书屋" in html
    assert "@media print" in html and "@page" in html


def test_plates_page_for_an_unknown_area_says_which_areas_there_are(odd_app):
    r = odd_app.test_client().get("/planner/plates", query_string={"area": "<b>Atlantis</b>"})
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert "&lt;b&gt;Atlantis&lt;/b&gt;" in body and "<b>Atlantis" not in body
    assert "新碶街道" in body
    # the bare page offers every area to choose from
    r = odd_app.test_client().get("/planner/plates")
    assert r.status_code == 200 and r.get_data(as_text=True).count("<option") == 31


def _pdftotext(pdf: bytes, page: int) -> str:
    out = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), "-layout", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    )
    return out.stdout.decode()


@pytest.mark.browser
def test_every_qr_on_every_printed_page_decodes_to_its_facility_url(odd_app, odd_demo, tmp_path):
    assert shutil.which("pdftoppm"), "poppler-utils is not installed (make install)"
    r = odd_app.test_client().get("/planner/plates.pdf", query_string={"area": AREA})
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    pdf = r.data
    (tmp_path / "plates.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", str(tmp_path / "plates.pdf"), str(tmp_path / "p")],
        check=True,
    )
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) == 2
    seen: set[str] = set()
    for n, png in enumerate(pngs, start=1):
        decoded = decode(png.read_bytes())
        # the codes printed on this page, read from the PDF's own text
        text = _pdftotext(pdf, n)
        printed = [fid for fid in area_ids(odd_demo, AREA) if fid in text]
        assert decoded == sorted(expected_url(f) for f in printed), f"page {n}"
        assert 1 <= len(decoded) <= 6
        seen.update(printed)
    assert seen == area_ids(odd_demo, AREA)


def test_plates_command_writes_the_page_and_refuses_an_unknown_area(tmp_path):
    out = tmp_path / "plates.html"
    res = CliRunner().invoke(
        main, ["plates", "--area", "Daxie", "--public-url", BASE, "--html", str(out)]
    )
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    assert html.count('<article class="plate') == 10
    assert f'data-url="{BASE}/f/' in html
    res = CliRunner().invoke(
        main, ["plates", "--area", "Atlantis", "--public-url", BASE, "--html", str(out)]
    )
    assert res.exit_code != 0 and "Atlantis" in res.output and "大榭街道" in res.output
    res = CliRunner().invoke(main, ["plates", "--area", "Daxie", "--public-url", BASE])
    assert res.exit_code != 0 and "--pdf" in res.output


@pytest.mark.browser
def test_plates_page_prints_from_the_browser_as_a4_sheets(page, live_server):
    page.goto(live_server.url + "/planner/plates?area=大榭街道")
    page.wait_for_selector("article.plate")
    assert page.locator(".plates-tools").is_visible()
    page.emulate_media(media="print")
    # printing leaves the plates only: no site header, no form
    assert not page.locator("header.top").is_visible()
    assert not page.locator(".plates-tools").is_visible()
    breaks = page.evaluate(
        "[...document.querySelectorAll('.sheet')].map(s => getComputedStyle(s).breakAfter)"
    )
    assert breaks == ["page", "auto"]
    # a sheet fits the A4 page less its margins (269 mm) and a line for the demo banner
    heights = page.evaluate(
        "[...document.querySelectorAll('.sheet')].map(s => s.getBoundingClientRect().height)"
    )
    assert all(h <= 250 / 25.4 * 96 + 1 for h in heights), heights
    # Chromium's own print of the page (the browser's "Print"), with the page's @page rule
    pdf = page.pdf(prefer_css_page_size=True)
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout

    assert re.search(rb"^Pages:\s+2$", info, re.M), info
    assert re.search(rb"^Page size:\s+59\d\.\d* x 841\.\d* pts \(A4\)", info, re.M), info


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory):
    """The demo as a workspace (so the pages offer reports), PUBLIC_URL set, on a port."""
    from geo.workspace import Workspace
    from tests.conftest import start_live_server
    from web import create_app

    folder = tmp_path_factory.mktemp("ws")
    Workspace.from_demo("beilun", folder).close()
    app = create_app(
        {"TESTING": True, "TILES": "none", "WORKSPACE": str(folder), "PUBLIC_URL": BASE}
    )
    server = start_live_server(app)
    yield server
    server.stop()


@pytest.mark.browser
def test_the_page_a_plate_opens_has_report_on_the_first_phone_screen(browser, ws_server):
    from tests.conftest import open_page

    context, page, watch = open_page(browser, width=360, height=740, is_mobile=True, has_touch=True)
    try:
        page.goto(ws_server.url + "/f/OS001")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        for sel in ("#sm-report button[data-action=report]", "#sm-report button.still-here"):
            box = page.locator(sel).bounding_box()
            assert box and box["y"] + box["height"] <= 740, (sel, box)
        # the share box holds the short URL of the plate, and the QR code is one link away
        assert page.input_value("input.share") == expected_url("OS001")
        href = page.get_attribute("#sm-qr", "href")
        assert href == "/f/OS001/qr.svg"
        r = page.request.get(ws_server.url + href.replace(".svg", ".png"))
        assert decode(r.body()) == [expected_url("OS001")]
        # with the report controls there: named, 44 px, nothing serious for axe-core
        from tests.test_a11y import assert_named_and_large, run_axe, serious

        assert {"a#sm-qr.button"} <= {f["what"] for f in assert_named_and_large(page, "/f/OS001")}
        bad = serious(run_axe(page))
        assert bad == [], bad
    finally:
        context.close()
    watch.assert_clean()


def test_plates_command_reads_a_workspace(tmp_path):
    """A district's plates come from its workspace: an edit there shows on the sheet; the
    workspace has users (its planner needs a sign-in), the command needs none."""
    from geo.workspace import Workspace

    ws = Workspace.from_demo("beilun", tmp_path / "ws")
    try:
        ws.store.add_user("planner", "a long enough passphrase", role="admin")
        fac = ws.layer("facilities")
        inside = list(fac.loc[fac.within(load_area_polygon("Daxie")), "id"])
        _, version = ws.get_facility(inside[0])
        ws.remove_facility(inside[0], expected_version=version, user="test", reason="closed")
    finally:
        ws.close()
    out = tmp_path / "plates.html"
    args = ["plates", "--workspace", str(tmp_path / "ws"), "--area", "Daxie"]
    res = CliRunner().invoke(main, [*args, "--public-url", BASE, "--html", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    assert html.count('<article class="plate') == len(inside) - 1
    assert f'data-id="{inside[0]}"' not in html and f'data-id="{inside[1]}"' in html
    # while the page itself wants a signed-in planner
    from web import create_app

    app = create_app({"TESTING": True, "TILES": "none", "WORKSPACE": str(tmp_path / "ws")})
    r = app.test_client().get("/planner/plates?area=Daxie")
    assert r.status_code == 302 and r.headers["Location"].startswith("/planner/login")


def load_area_polygon(name_en: str):
    from geo.demo import load_demo

    areas = load_demo("beilun").areas
    return areas[areas["name_en"] == name_en].geometry.iloc[0]
