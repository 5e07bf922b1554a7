"""The analyst notebooks run top to bottom, and what they show is right.

Every ``notebooks/*.ipynb`` is executed with nbclient in a temporary working folder (with
a copy of ``notebooks/data``), on a kernel that runs this interpreter; any cell error fails
the test. Their key figures, which they also write to ``output/*.json``, are checked
against the ``servicemap`` command line and against independent computations. The
``CoverageSummary`` notebook methods (``_repr_html_``, ``explore``, ``plot``) are tested
at the end.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient
from shapely.geometry import Point, box

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
EXPECTED = [
    "01_quickstart",
    "02_gaps_by_subdistrict",
    "03_siting_what_if",
    "04_bring_your_own_data",
    "05_standards",
]
CDN = re.compile(r"(?:https?:)?//[^\"'\s]*(?:cdn|jsdelivr|unpkg|cdnjs|googleapis|bootstrapcdn)")


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def notebook_env(tmp_path_factory):
    """A kernel spec running this interpreter, and the demo without any road network.

    ``JUPYTER_PATH`` puts the spec first, so no other ``python3`` kernel on the machine is
    picked up. The demo is copied without ``roads.*`` (``servicemap network fetch`` puts
    one there), so the notebooks and the command line both measure straight-line
    distance, whatever has been fetched locally.
    """
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = jupyter / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    sys.executable,
                    "-Xfrozen_modules=off",
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "Python 3 (servicemap tests)",
                "language": "python",
            }
        )
    )
    datasets = tmp_path_factory.mktemp("datasets")
    shutil.copytree(
        ROOT / "datasets" / "beilun",
        datasets / "beilun",
        ignore=shutil.ignore_patterns("roads.*", "__pycache__"),
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(jupyter))
    mp.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's path-migration warning
    mp.setenv("SERVICEMAP_DATASETS", str(datasets))
    yield datasets
    mp.undo()


@pytest.fixture(scope="module")
def run_notebook(notebook_env, tmp_path_factory):
    """Execute a notebook once per test module; returns ``(notebook, working folder)``."""
    done: dict[str, tuple[nbformat.NotebookNode, Path]] = {}

    def run(name: str) -> tuple[nbformat.NotebookNode, Path]:
        if name not in done:
            work = tmp_path_factory.mktemp(name)
            shutil.copytree(
                NOTEBOOKS / "data", work / "data", ignore=shutil.ignore_patterns("*.py")
            )
            nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
            NotebookClient(
                nb,
                kernel_name="python3",
                timeout=300,
                resources={"metadata": {"path": str(work)}},
            ).execute()  # raises CellExecutionError on the first failing cell
            done[name] = (nb, work)
        return done[name]

    return run


@pytest.fixture(scope="module")
def cli_json(notebook_env):
    """``servicemap coverage ... --json`` as parsed JSON, for the given arguments."""
    from cli import main

    def call(*args: str) -> dict | list:
        result = CliRunner().invoke(main, ["coverage", *args, "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return call


def _stream(nb: nbformat.NotebookNode, name: str) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == name
    )


# --------------------------------------------------------------------------- notebooks
def test_the_four_notebooks_are_there():
    assert NAMES == EXPECTED


@pytest.mark.parametrize("name", NAMES)
def test_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert nb.cells[0].cell_type == "markdown"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_runs_top_to_bottom_without_warnings(name, run_notebook):
    nb, _ = run_notebook(name)
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    stderr = _stream(nb, "stderr")
    assert not re.search(r"warn|traceback|error", stderr, re.IGNORECASE), stderr


@pytest.mark.slow
def test_quickstart_figures_equal_the_cli(run_notebook, cli_json):
    nb, work = run_notebook("01_quickstart")
    figures = json.loads((work / "output" / "quickstart_coverage.json").read_text("utf-8"))
    cli = {item["facility_type"]: item for item in cli_json("--demo", "beilun")}
    assert (
        set(figures) == set(cli) == {"outdoor_station", "mother_room", "bookshelf", "driver_home"}
    )
    for key, item in cli.items():
        expected = {k: v for k, v in item.items() if k not in ("label_zh", "label_en")}
        assert figures[key] == expected, key
    # the one the brief names, and the figure the notebook prints
    one = cli_json("--demo", "beilun", "--type", "outdoor_station")
    assert figures["outdoor_station"]["covered_share"] == one["covered_share"] == 0.7473
    assert f"户外劳动者驿站: {one['covered_share']:.1%}" in _stream(nb, "stdout")


@pytest.mark.slow
def test_gaps_by_subdistrict_add_up_and_match_the_cli(run_notebook, cli_json):
    _, work = run_notebook("02_gaps_by_subdistrict")
    table = pd.read_csv(work / "output" / "coverage_by_area.csv", encoding="utf-8-sig")
    cli = cli_json("--demo", "beilun", "--type", "outdoor_station")
    rows = table[table["type"] == "outdoor_station"].set_index("area_id")
    sub = rows[rows["level"] == "subdistrict"]
    assert len(sub) == 11
    # the sub-districts partition the district: their people add up to the total
    assert sub["people"].sum() == pytest.approx(cli["people_total"])
    assert sub["covered"].sum() == pytest.approx(cli["people_covered"])
    for area in cli["areas"]:
        assert rows.loc[area["area_id"], "people"] == pytest.approx(area["people"])
        assert rows.loc[area["area_id"], "uncovered"] == pytest.approx(area["uncovered"])
    assert rows.index[0] == cli["areas"][0]["area_id"]


@pytest.mark.slow
def test_what_if_figures_recomputed_independently(run_notebook, notebook_env):
    import geo

    _, work = run_notebook("03_siting_what_if")
    record = json.loads((work / "output" / "what_if.json").read_text("utf-8"))
    demo = geo.load_demo("beilun")
    fac, dem, key = demo.facilities, demo.demand, record["facility_type"]

    def share(facilities):
        res = geo.coverage(facilities, dem, facility_type=key)
        w = res["weight"].to_numpy()
        return float(w[res["covered"].to_numpy()].sum() / w.sum())

    assert record["covered_before"] == pytest.approx(share(fac))
    for scenario in record["closed"].values():
        kept = fac[fac["id"] != scenario["id"]]
        assert len(kept) == len(fac) - 1
        assert scenario["covered_after"] == pytest.approx(share(kept))
        assert scenario["covered_after"] <= record["covered_before"]
    sites = np.asarray(record["suggested"]["sites"])
    assert len(sites) == 3
    new = gpd.GeoDataFrame(
        {"id": [f"x{i}" for i in range(len(sites))], "type": key},
        geometry=gpd.points_from_xy(sites[:, 0], sites[:, 1]),
        crs="EPSG:4326",
    )
    added = pd.concat([fac[["id", "type", "geometry"]], new], ignore_index=True)
    after = share(gpd.GeoDataFrame(added, geometry="geometry", crs="EPSG:4326"))
    assert record["suggested"]["covered_after"] == pytest.approx(after)
    assert after > record["covered_before"]


def _asset_urls(page: str) -> list[str]:
    scripts = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']([^\"']+)", page, re.IGNORECASE)
    styles = re.findall(r"<link[^>]*\bhref\s*=\s*[\"']([^\"']+)", page, re.IGNORECASE)
    return scripts + styles


@pytest.mark.slow
def test_bring_your_own_data_map_is_standalone(run_notebook, cli_json):
    _, work = run_notebook("04_bring_your_own_data")
    out = work / "output"
    rows = pd.read_excel(work / "data" / "stations_amap.xlsx", engine="calamine")
    for name in ("stations_map.html", "mother_room_gaps.html"):
        page = (out / name).read_text("utf-8")
        assert _asset_urls(page) == [], name  # Leaflet is inlined: no script or style URL
        assert not CDN.search(page), CDN.search(page)
        assert "L.map(" in page and "Leaflet" in page
    page = (out / "stations_map.html").read_text("utf-8")
    assert page.count("L.circleMarker(") == len(rows) == 87
    figures = json.loads((out / "byo_figures.json").read_text("utf-8"))
    assert figures["rows_in_spreadsheet"] == figures["stations_loaded"] == len(rows)
    cli = cli_json(
        "--facilities",
        str(work / "data" / "stations_amap.xlsx"),
        "--datum",
        "gcj02",
        "--demand",
        str(work / "data" / "workplaces.csv"),
        "--demand-datum",
        "gcj02",
        "--type",
        "mother_room",
    )
    for k in ("facilities", "people_total", "people_covered", "covered_share"):
        assert figures["mother_room"][k] == cli[k], k
    # the spreadsheet is the demo's stations: the same coverage as the demo
    demo = cli_json("--demo", "beilun", "--type", "mother_room")
    assert figures["mother_room"]["covered_share"] == demo["covered_share"]
    exported = gpd.read_file(out / "stations_wgs84.geojson")
    assert len(exported) == len(rows)


def test_byo_data_is_what_the_script_makes(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_byo_data", NOTEBOOKS / "data" / "make_byo_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stations, workplaces = module.write(tmp_path)
    shipped = NOTEBOOKS / "data"
    pd.testing.assert_frame_equal(
        pd.read_excel(stations, engine="calamine"),
        pd.read_excel(shipped / module.STATIONS, engine="calamine"),
    )
    assert workplaces.read_bytes() == (shipped / module.WORKPLACES).read_bytes()


# --------------------------------------------------------------------------- CoverageSummary
EVIL = "<script>alert(1)</script>&${x}"


@pytest.fixture
def small_summary():
    """Two stations, three demand points in a UTM zone, by hand: 50 of 100 covered."""
    import geo

    utm = "EPSG:32651"
    fac = gpd.GeoDataFrame(
        {"id": ["a", "b"], "type": "outdoor_station"},
        geometry=[Point(500_000, 3_300_000), Point(510_000, 3_300_000)],
        crs=utm,
    ).to_crs(4326)
    dem = gpd.GeoDataFrame(
        {"group": "outdoor", "weight": [30.0, 20.0, 50.0]},
        geometry=[Point(500_300, 3_300_400), Point(509_500, 3_300_000), Point(504_000, 3_305_000)],
        crs=utm,
    ).to_crs(4326)
    areas = gpd.GeoDataFrame(
        {"id": ["W", "E"], "name": [EVIL, "东区"], "level": "subdistrict"},
        geometry=[
            box(495_000, 3_295_000, 505_000, 3_310_000),
            box(505_000, 3_295_000, 515_000, 3_310_000),
        ],
        crs=utm,
    ).to_crs(4326)
    res = geo.coverage(fac, dem, facility_type="outdoor_station", threshold_m=1000)
    return geo.coverage_summary(res, areas, facilities=fac), areas


def test_repr_html_shows_the_figures_and_escapes_text(small_summary):
    summary, _ = small_summary
    page = summary._repr_html_()
    assert summary.covered_share == pytest.approx(0.5)
    assert "50.0%" in page and "户外劳动者驿站" in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in page
    # a type from a custom registry: its key is shown, escaped
    odd = dataclasses.replace(summary, facility_type='<b onmouseover="x">')
    page = odd._repr_html_()
    assert "<b " not in page and "&lt;b onmouseover=&quot;x&quot;&gt;" in page


def test_explore_is_a_folium_map_with_local_assets(small_summary):
    import folium

    summary, areas = small_summary
    m = summary.explore(areas=areas, tiles="none", k=1)
    assert isinstance(m, folium.Map)
    page = m.get_root().render()
    assert _asset_urls(page) == []
    assert not CDN.search(page)
    assert "L.map(" in page and "Leaflet" in page  # the inlined leaflet.js
    assert "<script>alert(1)" not in page


def test_plot_draws_one_bar_per_area(small_summary):
    import matplotlib.pyplot as plt

    summary, _ = small_summary
    ax = summary.plot()
    try:
        bars = [p.get_width() for p in ax.patches]
        assert sorted(bars) == pytest.approx([37.5, 100.0])  # W: 30 of 80, E: 20 of 20
        assert [t.get_text() for t in ax.get_yticklabels()][-1] == "东区"
    finally:
        plt.close(ax.figure)
    fig, axes = plt.subplots(1, 2)
    try:
        assert summary.plot(ax=axes[1]) is axes[1]
    finally:
        plt.close(fig)


def test_standards_figures_equal_the_cli_and_geo(run_notebook, notebook_env):
    """05_standards: compliance counts as the command line prints them, coverage and
    criticality recomputed here with geo (the equipment is the demo's synthetic one)."""
    import geo
    from cli import main
    from geo.standards import equipment_for_demo

    _, work = run_notebook("05_standards")
    record = json.loads((work / "output" / "standards.json").read_text("utf-8"))
    result = CliRunner().invoke(main, ["compliance", "--demo", "beilun", "--json"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)["types"]
    for key, counts in record["types"].items():
        assert counts == {k: cli[key][k] for k in counts}, key
    demo = geo.load_demo("beilun")
    eq = equipment_for_demo("beilun")
    cov = geo.compliant_coverage(
        demo.facilities, demo.demand, facility_type="outdoor_station", equipment=eq
    )
    fig = record["outdoor_station_coverage"]
    assert fig["covered_compliant"] == pytest.approx(
        cov.loc[cov["covered_compliant"], "weight"].sum()
    )
    assert fig["covered_any"] - fig["covered_compliant"] == pytest.approx(
        fig["covered_noncompliant_only"]
    )
    by_class = record["people_by_cover_class"]
    assert sum(by_class.values()) == pytest.approx(fig["people"])
    assert by_class["0"] == pytest.approx(fig["people"] - fig["covered_any"])
    crit = geo.criticality(demo.facilities, demo.demand, facility_type="outdoor_station")
    assert record["most_critical"] == {
        "id": crit["id"].iloc[0],
        "people_sole": float(crit["people_sole"].iloc[0]),
    }
    assert by_class["1"] == pytest.approx(crit["people_sole"].sum())
