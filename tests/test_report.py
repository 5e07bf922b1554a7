"""The planner's report: one content (geo.report.report_content), three renderings (the page,
its PDF printed by a real headless Chromium, a Word file) that hold the same tables."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser

import pytest

from cli.main import main

WHATIF = "type=outdoor_station&off=OS001&add=121.85,29.90&datum=wgs84"
HEADLINE = "北仑区 · 服务阵地覆盖报告"


@pytest.fixture(scope="module")
def client():
    from web import create_app

    return create_app({"TESTING": True, "TILES": "none"}).test_client()


@pytest.fixture(scope="module")
def coverage(client):
    return client.get(
        "/api/coverage?type=outdoor_station&off=OS001&add=121.85,29.90&area_level=subdistrict"
    ).get_json()


@pytest.fixture(scope="module")
def html(client):
    r = client.get(f"/planner/report?{WHATIF}")
    assert r.status_code == 200
    return r.get_data(as_text=True)


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """The report as ``servicemap report --pdf --docx`` writes it (the planner's routes)."""
    from click.testing import CliRunner

    folder = tmp_path_factory.mktemp("report")
    args = ["report", "--type", "outdoor_station", "--off", "OS001", "--add", "121.85,29.90"]
    res = CliRunner().invoke(
        main, [*args, "--pdf", str(folder / "r.pdf"), "--docx", str(folder / "r.docx")]
    )
    assert res.exit_code == 0, res.output
    return folder


@pytest.fixture(scope="module")
def pdf(printed):
    return printed / "r.pdf"


def _pdftotext(path, page: int) -> str:
    out = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(path), "-"],
        capture_output=True,
        check=True,
    )
    return out.stdout.decode("utf-8")


def _pages(path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True).stdout
    return int(re.search(rb"Pages:\s+(\d+)", info).group(1))


def _images(path) -> list[int]:
    """The page of every image in the PDF (pdfimages -list)."""
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, check=True)
    lines = out.stdout.decode().splitlines()[2:]
    return [int(line.split()[0]) for line in lines if line.split()[2] == "image"]


@pytest.mark.browser
def test_pdf_opens_on_the_figures_the_table_and_the_names(pdf, coverage):
    first = _pdftotext(pdf, 1) + _pdftotext(pdf, 2)
    assert HEADLINE in first
    assert "情景" in first and "关闭 1 个，新增 1 个" in first
    # the sub-district table, with the planner's figures
    assert "各街道覆盖情况" in first
    for a in coverage["areas"]:
        row = re.search(rf"{a['name']}\s+{a['people']:,.0f}\s+{a['uncovered']:,.0f}", first)
        assert row, a["name"]
    # facilities by name: the one switched off, the nearest ones to the gaps
    assert "新碶街道四明山路户外劳动者驿站" in first + _pdftotext(pdf, 3)
    assert re.search(r"\d+\s+\S+街道\s+[\d,]+\s+29\.\d{5}, 12[12]\.\d{5}\s+\S+驿站", first)
    # the map and the chart of every facility type, the first two on pages 1-2
    pages = _images(pdf)
    assert len(pages) == 8 and sum(p <= 2 for p in pages) == 2
    # no blank page: every page has text
    for p in range(1, _pages(pdf) + 1):
        assert len("".join(_pdftotext(pdf, p).split())) > 80, f"page {p} is (almost) blank"


class _Tables(HTMLParser):
    """The text of every table cell, row by row, table by table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_word_file_holds_the_tables_of_the_page(html, printed):
    from docx import Document

    parser = _Tables()
    parser.feed(html)
    assert len(parser.tables) > 15
    # the CLI's file is the /planner/report.docx route's (same scenario, another app)
    doc = Document(str(printed / "r.docx"))
    tables = [[[c.text for c in row.cells] for row in t.rows] for t in doc.tables]
    assert tables == parser.tables
    assert doc.paragraphs[0].text == HEADLINE
    assert len(doc.inline_shapes) == 8  # the map and the chart of every type
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "少于 10 人的网格不单独显示" in text and "数据来源" in text


def test_page_has_the_maps_the_names_and_the_sources(client, html, coverage):
    assert HEADLINE in html
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert len(srcs) == 8  # a map and a chart per type, loaded by the page
    r = client.get(srcs[0].replace("&amp;", "&"))
    assert r.status_code == 200 and r.data.startswith(b"\x89PNG")
    assert client.get("/planner/report/nope-map.png?type=bookshelf").status_code == 400
    assert "新碶街道四明山路户外劳动者驿站" in html and "已关闭" in html and "新设施 1" in html
    assert f"{coverage['covered_share'] * 100:.1f}%" in html
    assert "synthetic: datasets/beilun/build.py seed 20240501" in html  # the data source
    assert "2024-12-20" in html  # and its date
    # the method is in the page's language
    assert "straight-line" not in html and "直线距离" in html
    # and the layout keeps no whole section on one page (that made blank pages)
    assert "section { break-inside: avoid-page" not in html


def test_english_by_the_same_switch(client):
    html = client.get("/planner/report?type=mother_room&lang=en").get_data(as_text=True)
    assert "Beilun District · Service facility coverage report" in html
    assert "Covered share by sub-district".lower() in html.lower()
    assert "Xinqi" in html and "As is" in html
    assert "直线距离" not in html and "straight-line distance (the geodesic" in html


def test_report_formats_and_scenario_are_checked(client):
    assert client.get("/planner/report.odt?type=bookshelf").status_code == 400
    assert client.get("/planner/report?type=bookshelf&off=NOPE").status_code == 400


def test_cli_export_writes_a_gbk_shapefile(tmp_path):
    from click.testing import CliRunner

    import geo

    shp = tmp_path / "f.zip"
    args = ["export", "--type", "driver_home", "--format", "zip", "--encoding", "gbk", str(shp)]
    res = CliRunner().invoke(main, [*args, "--out-datum", "gcj02"])
    assert res.exit_code == 0, res.output
    got = geo.load_facilities(shp, datum="gcj02")
    assert got["id"].tolist() == ["DH01", "DH02", "DH03", "DH04"]
    assert got["name"].str.contains("司机之家").all()


def test_report_shows_each_types_compliance_as_the_api_counts_it(client, html):
    """The report's standards table is /api/compliance's count of the type's stations."""
    for key in ("outdoor_station", "mother_room"):
        api = client.get(f"/api/compliance?type={key}").get_json()["types"][key]
        m = re.search(rf'<figure[^>]*id="sm-compliance-{key}".*?</figure>', html, re.S)
        assert m, f"no compliance table for {key}"
        rows = re.findall(r'<th scope="row">(.*?)</th><td[^>]*>(.*?)</td>', m[0], re.S)
        pairs = dict(rows)
        assert pairs["达标"] == f"{api['compliant']:,}"
        assert pairs["未达标（缺少必备项目）"] == f"{api['not_compliant']:,}"
        assert pairs["未知（有项目未登记，不算达标）"] == f"{api['unknown']:,}"
        top = api["missing"][0]
        label = top["label_zh"] + (" (必备)" if top["required"] else "")
        assert pairs[f"最常缺少的项目: {label}"] == f"{top['facilities']:,}"
