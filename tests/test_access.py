"""Accessibility (2SFCA family) and equity, checked against the `access` package and by hand."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from shapely.geometry import Point, box

from geo import load_demo
from geo.access import (
    access_by_area,
    accessibility,
    catchment_from_cost,
    decay_weights,
    distance_pairs,
    equity,
    fca_from_cost,
    gini,
    lorenz_curve,
    raam_from_cost,
    supply_ratio_from_cost,
    three_stage_from_cost,
)

access = pytest.importorskip("access")

# `access` 1.1 calls DataFrame.set_index(inplace=True), deprecated by pandas 3.1
pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.set_index is deprecated"
)


def _instance(seed, n=400, m=50, side=12_000.0):
    rng = np.random.default_rng(seed)
    d = rng.random((n, 2)) * side
    f = rng.random((m, 2)) * side
    dist = np.hypot(*(d[:, None, :] - f[None, :, :]).transpose(2, 0, 1))
    pop = rng.integers(1, 200, n).astype(float)
    cap = rng.integers(1, 40, m).astype(float)
    return dist, pop, cap


def _access_obj(pairs_r, pairs_c, pairs_d, pop, cap):
    n, m = len(pop), len(cap)
    cost_df = pd.DataFrame({"origin": pairs_r, "dest": pairs_c, "cost": pairs_d})
    dem = pd.DataFrame({"geoid": np.arange(n), "pop": pop})
    sup = pd.DataFrame({"geoid": np.arange(m), "cap": cap})
    return access.Access(
        demand_df=dem,
        demand_index="geoid",
        demand_value="pop",
        supply_df=sup,
        supply_index="geoid",
        supply_value="cap",
        cost_df=cost_df,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )


def _compare(ours, ref_series):
    ref = ref_series.reindex(np.arange(len(ours)))
    ok = ref.notna().to_numpy()
    assert ok.sum() > 0.8 * len(ours)
    np.testing.assert_allclose(ours[ok], ref.to_numpy()[ok], rtol=0, atol=1e-9)
    # rows access leaves out (no facility in reach) are 0 here
    assert (ours[~ok] == 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_2sfca_and_e2sfca_equal_the_access_package(seed):
    from access import weights

    dist, pop, cap = _instance(seed)
    T = 2000.0
    # access gets every pair within 1.5 T (it applies max_cost itself); we get a sparse matrix
    r, c = np.nonzero(dist <= 1.5 * T)
    A = _access_obj(r, c, dist[r, c], pop, cap)
    cost = sp.csr_array((dist[r, c], (r, c)), shape=dist.shape)
    steps = {T / 3: 1.0, 2 * T / 3: 0.68, T: 0.22}
    cases = [
        ("p", {}, A.two_stage_fca(name="p", max_cost=T)),
        (
            "s",
            {"decay": "step", "steps": steps},
            A.enhanced_two_stage_fca(name="s", max_cost=T, weight_fn=weights.step_fn(steps)),
        ),
        (
            "g",
            {"decay": "gaussian", "sigma": T / 2},
            A.enhanced_two_stage_fca(name="g", max_cost=T, weight_fn=weights.gaussian(T / 2)),
        ),
        (
            "v",
            {"decay": "gravity", "beta": 1.5, "min_cost": 50.0},
            A.two_stage_fca(name="v", max_cost=T, weight_fn=weights.gravity(1.0, -1.5, 50.0)),
        ),
    ]
    for name, kw, ref in cases:
        ours = fca_from_cost(cost, pop, cap, max_cost=T, **kw)
        _compare(ours, ref[f"{name}_cap"])
        # the dense form gives the same
        dense = np.where(dist <= 1.5 * T, dist, np.inf)
        np.testing.assert_allclose(fca_from_cost(dense, pop, cap, max_cost=T, **kw), ours)


def test_accessibility_from_geodataframes_equals_access_on_the_same_pairs():
    rng = np.random.default_rng(7)
    x0, y0 = 380_000.0, 3_310_000.0  # UTM 51N, Beilun
    fac = gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(60)], "capacity": rng.integers(5, 30, 60).astype(float)},
        geometry=[Point(x0 + a, y0 + b) for a, b in rng.random((60, 2)) * 15_000],
        crs=32651,
    ).to_crs(4326)
    dem = gpd.GeoDataFrame(
        {"weight": rng.integers(1, 100, 800).astype(float)},
        geometry=[Point(x0 + a, y0 + b) for a, b in rng.random((800, 2)) * 15_000],
        crs=32651,
    ).to_crs(4326)
    pairs = distance_pairs(fac, dem, max_m=1500)
    coo = pairs.tocoo()
    A = _access_obj(
        coo.row, coo.col, coo.data, dem["weight"].to_numpy(), fac["capacity"].to_numpy()
    )
    from access import weights

    res = accessibility(fac, dem, threshold_m=1500)
    _compare(res["access"].to_numpy(), A.two_stage_fca(name="a", max_cost=1500)["a_cap"])
    steps = {500.0: 1.0, 1000.0: 0.68, 1500.0: 0.22}
    res = accessibility(fac, dem, method="e2sfca", threshold_m=1500)
    ref = A.enhanced_two_stage_fca(name="e", max_cost=1500, weight_fn=weights.step_fn(steps))
    _compare(res["access"].to_numpy(), ref["e_cap"])
    assert res.attrs["steps"] == steps
    res = accessibility(fac, dem, method="e2sfca", decay="gaussian", threshold_m=1500)
    ref = A.enhanced_two_stage_fca(name="g", max_cost=1500, weight_fn=weights.gaussian(750.0))
    _compare(res["access"].to_numpy(), ref["g_cap"])
    assert (res["covered"] == (res["reachable"] > 0)).all()


def test_distance_pairs_match_coverage_and_brute_force():
    from geo import coverage

    rng = np.random.default_rng(3)
    fac = gpd.GeoDataFrame(
        {"id": [str(i) for i in range(30)]},
        geometry=gpd.points_from_xy(121.7 + rng.random(30) * 0.2, 29.8 + rng.random(30) * 0.15),
        crs=4326,
    )
    dem = gpd.GeoDataFrame(
        {"weight": np.ones(500)},
        geometry=gpd.points_from_xy(121.7 + rng.random(500) * 0.2, 29.8 + rng.random(500) * 0.15),
        crs=4326,
    )
    m = distance_pairs(fac, dem, max_m=2000)
    cov = coverage(fac, dem, threshold_m=2000)
    # the nearest distance per row equals coverage's
    nearest = np.full(len(dem), np.inf)
    rows = np.repeat(np.arange(len(dem)), np.diff(m.indptr))
    np.minimum.at(nearest, rows, m.data)
    has = np.isfinite(nearest)
    assert (has == cov["covered"].to_numpy()).all()
    np.testing.assert_allclose(nearest[has], cov["distance_m"].to_numpy()[has], rtol=1e-12)
    # every pair against pyproj's geodesic
    from pyproj import Geod

    g = Geod(ellps="WGS84")
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    dx, dy = dem.geometry.x.to_numpy(), dem.geometry.y.to_numpy()
    _, _, geo_d = g.inv(np.repeat(dx, 30), np.repeat(dy, 30), np.tile(fx, 500), np.tile(fy, 500))
    geo_d = geo_d.reshape(500, 30)
    inside = geo_d <= 2000 * (1 - 1e-4)
    dense = m.toarray()
    stored = np.zeros_like(inside)
    stored[rows, m.indices] = True
    assert stored[inside].all()
    np.testing.assert_allclose(dense[stored], geo_d[stored], rtol=2e-5)


def test_zero_distance_pairs_are_kept():
    fac = gpd.GeoDataFrame(
        {"id": ["a"], "capacity": [4.0]}, geometry=[Point(500_000, 3_300_000)], crs=32651
    )
    dem = gpd.GeoDataFrame({"weight": [2.0]}, geometry=[Point(500_000, 3_300_000)], crs=32651)
    assert accessibility(fac, dem, threshold_m=100)["access"].tolist() == [2.0]


def test_hand_checked_two_stations_shared():
    # station a (cap 10) reaches rows 0 and 1; station b (cap 6) reaches rows 1 and 2
    cost = sp.csr_array(np.array([[100.0, 0], [200.0, 300.0], [0, 50.0]]))
    cost = sp.csr_array(([100.0, 200.0, 300.0, 50.0], ([0, 1, 1, 2], [0, 0, 1, 1])), shape=(3, 2))
    acc = fca_from_cost(cost, [10, 10, 20], [10, 6], max_cost=500)
    # R_a = 10 / 20 = 0.5, R_b = 6 / 30 = 0.2
    np.testing.assert_allclose(acc, [0.5, 0.7, 0.2])


def test_decay_weights_match_access_definitions():
    from access import weights

    x = np.array([0.0, 5, 10, 10.0000001, 19.9, 20, 29, 30, 31, 100])
    steps = {10: 1, 20: 0.68, 30: 0.22}
    fn = weights.step_fn(steps)
    assert decay_weights(x, decay="step", steps=steps).tolist() == [fn(v) for v in x]
    g = weights.gaussian(12.0)
    np.testing.assert_allclose(decay_weights(x, decay="gaussian", sigma=12.0), [g(v) for v in x])
    gr = weights.gravity(1.0, -2.0, 3.0)
    np.testing.assert_allclose(
        decay_weights(x, decay="gravity", beta=2.0, min_cost=3.0), [gr(v) for v in x]
    )
    with pytest.raises(ValueError, match="decay='nope'"):
        decay_weights(x, decay="nope")


def test_gini_equals_the_mean_absolute_difference_and_repeats_weights():
    rng = np.random.default_rng(0)
    v = rng.random(50)
    w = rng.integers(1, 6, 50)
    rep = np.repeat(v, w)
    mad = np.abs(rep[:, None] - rep[None, :]).mean()
    assert gini(v, w) == pytest.approx(mad / (2 * rep.mean()), abs=1e-12)
    assert gini(rep) == pytest.approx(gini(v, w), abs=1e-12)
    assert gini([5, 5, 5]) == 0.0
    lc = lorenz_curve(v, w)
    assert lc.iloc[0].tolist() == [0.0, 0.0] and lc.iloc[-1].tolist() == [1.0, 1.0]
    assert (np.diff(lc["value_share"]) >= 0).all()
    # below the diagonal
    assert (lc["value_share"] <= lc["population_share"] + 1e-12).all()


def test_equity_and_by_area_on_a_hand_made_case():
    res = gpd.GeoDataFrame(
        {
            "weight": [1.0, 3.0, 2.0, 2.0],
            "group": ["outdoor", "outdoor", "all_workers", "all_workers"],
            "access": [0.0, 0.4, 0.2, 0.2],
            "covered": [False, True, True, True],
        },
        geometry=[Point(0.5, 0.5), Point(0.6, 0.6), Point(1.5, 0.5), Point(1.6, 0.4)],
        crs=32651,
    )
    areas = gpd.GeoDataFrame(
        {"id": ["L", "R"], "name": ["left", "right"], "level": ["subdistrict"] * 2},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs=32651,
    )
    eq = equity(res, areas)
    assert eq.people == 8.0
    assert eq.covered_share == pytest.approx(7 / 8)
    g = eq.by_group.set_index("group")
    assert g.loc["outdoor", "mean"] == pytest.approx(0.3)
    assert g.loc["outdoor", "gini"] == pytest.approx(0.25)
    assert g.loc["all_workers", "gini"] == 0.0
    a = access_by_area(res, areas).set_index("area_id")
    assert a.loc["L", "mean"] == pytest.approx(0.3)
    assert a.loc["R", "no_access_share"] == 0.0
    assert a.loc["L", "no_access_share"] == pytest.approx(0.25)
    d = eq.to_dict()
    assert d["lorenz"][0] == [0.0, 0.0] and d["lorenz"][-1] == [1.0, 1.0]
    assert {r["group"] for r in d["by_group"]} == {"outdoor", "all_workers"}


def test_accessibility_on_the_demo_per_subdistrict():
    demo = load_demo("beilun")
    res = accessibility(demo.facilities, demo.demand, facility_type="outdoor_station")
    assert res.attrs["threshold_m"] == 1000.0
    assert (res["group"] == "outdoor").all()
    # capacity is conserved: every station's capacity is handed out in full to the people
    # in its catchment (each station reaches someone here)
    cap = demo.facilities.loc[demo.facilities["type"] == "outdoor_station", "capacity"].sum()
    assert (res["access"] * res["weight"]).sum() == pytest.approx(cap, rel=1e-9)
    eq = equity(res, demo.areas)
    assert len(eq.by_area) == 11
    assert 0 < eq.gini < 1
    assert eq.covered_share == pytest.approx(
        res.loc[res["covered"], "weight"].sum() / res["weight"].sum()
    )


def test_errors_name_the_problem():
    fac = gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(500_000, 3_300_000)], crs=32651)
    dem = gpd.GeoDataFrame({"weight": [1.0]}, geometry=[Point(500_000, 3_300_000)], crs=32651)
    with pytest.raises(ValueError, match="method=.4sfca."):
        accessibility(fac, dem, threshold_m=100, method="4sfca")
    with pytest.raises(ValueError, match="facilities has no 'capacity' column"):
        accessibility(fac, dem, threshold_m=100)
    assert accessibility(fac, dem, threshold_m=100, capacity=3.0)["access"].tolist() == [3.0]
    with pytest.raises(ValueError, match="max_m must be a positive"):
        distance_pairs(fac, dem, max_m=0)


def _access_with_neighbours(r, c, d, nr, nc, nd, pop, cap):
    A = _access_obj(r, c, d, pop, cap)
    A.neighbor_cost_df = pd.DataFrame({"origin": nr, "dest": nc, "cost": nd})
    A.neighbor_cost_origin, A.neighbor_cost_dest = "origin", "dest"
    A.neighbor_cost_names = ["cost"]
    A._neighbor_default_cost = "cost"
    return A


# access 1.1's three_stage_fca calls DataFrame.drop(inplace=True), deprecated by pandas 3.1
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop is deprecated")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_3sfca_raam_supply_ratio_and_catchment_equal_the_access_package(seed):
    from access import weights

    dist, pop, cap = _instance(seed, n=300, m=40)
    T = 2000.0
    r, c = np.nonzero(dist <= T)  # 3SFCA's G sums over the pairs access is given
    A = _access_obj(r, c, dist[r, c], pop, cap)
    cost = sp.csr_array((dist[r, c], (r, c)), shape=dist.shape)
    steps = {T / 3: 1.0, 2 * T / 3: 0.68, T: 0.22}
    ref = A.three_stage_fca(name="t", max_cost=T, weight_fn=weights.step_fn(steps))["t_cap"]
    _compare(three_stage_from_cost(cost, pop, cap, max_cost=T, decay="step", steps=steps), ref)
    ref = A.weighted_catchment(name="w", max_cost=T)["w_cap"]
    _compare(catchment_from_cost(cost, cap, max_cost=T), ref)
    ref = A.raam(name="r", tau=T)["r_cap"].reindex(np.arange(len(pop))).to_numpy()
    ours = raam_from_cost(cost, pop, cap, tau=T)
    assert np.isfinite(ref).sum() > 0.8 * len(pop)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9, equal_nan=True)


# access compares demand ids with supply ids here and warns whenever they differ
@pytest.mark.filterwarnings("ignore:some tracts may be unaccounted for:UserWarning")
def test_supply_ratio_equals_fca_ratio_of_the_access_package():
    from access import fca

    dist, pop, cap = _instance(3, n=300, m=40)
    rng = np.random.default_rng(3)
    xy = rng.random((300, 2)) * 12_000
    nd_full = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    T = 2000.0
    r, c = np.nonzero(dist <= T)
    nr, nc = np.nonzero(nd_full <= T)
    ref = fca.fca_ratio(
        demand_df=pd.DataFrame({"pop": pop}, index=pd.RangeIndex(300, name="geoid")),
        supply_df=pd.DataFrame({"cap": cap}, index=pd.RangeIndex(40, name="geoid")),
        demand_cost_df=pd.DataFrame({"origin": nr, "dest": nc, "cost": nd_full[nr, nc]}),
        supply_cost_df=pd.DataFrame({"origin": r, "dest": c, "cost": dist[r, c]}),
        max_cost=T,
        demand_name="pop",
        supply_name="cap",
        demand_index=True,
    )
    neighbour = sp.csr_array((nd_full[nr, nc], (nr, nc)), shape=(300, 300))
    cost = sp.csr_array((dist[r, c], (r, c)), shape=dist.shape)
    ours = supply_ratio_from_cost(cost, neighbour, pop, cap, max_cost=T)
    np.testing.assert_allclose(ours, ref.reindex(np.arange(300)).to_numpy(), rtol=0, atol=1e-9)


def test_accessibility_methods_from_geodataframes_and_seconds():
    rng = np.random.default_rng(11)
    x0, y0 = 380_000.0, 3_310_000.0
    fac = gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(30)], "capacity": rng.integers(5, 30, 30).astype(float)},
        geometry=[Point(x0 + a, y0 + b) for a, b in rng.random((30, 2)) * 10_000],
        crs=32651,
    ).to_crs(4326)
    dem = gpd.GeoDataFrame(
        {"weight": rng.integers(1, 100, 300).astype(float)},
        geometry=[Point(x0 + a, y0 + b) for a, b in rng.random((300, 2)) * 10_000],
        crs=32651,
    ).to_crs(4326)
    pairs = distance_pairs(fac, dem, max_m=1500)
    w, cap = dem["weight"].to_numpy(), fac["capacity"].to_numpy()
    steps = {500.0: 1.0, 1000.0: 0.68, 1500.0: 0.22}
    three = accessibility(fac, dem, method="3sfca", threshold_m=1500)["access"].to_numpy()
    np.testing.assert_allclose(
        three, three_stage_from_cost(pairs, w, cap, max_cost=1500, steps=steps), atol=1e-12
    )
    raam = accessibility(fac, dem, method="raam", threshold_m=1500)
    np.testing.assert_allclose(
        raam["access"], raam_from_cost(pairs, w, cap, tau=1500.0), atol=1e-12, equal_nan=True
    )
    assert raam["access"].isna().to_numpy().tolist() == (~raam["covered"]).tolist()
    ratio = accessibility(fac, dem, method="supply_ratio", threshold_m=1500)["access"]
    assert (ratio >= 0).all() and (ratio[raam["covered"].to_numpy()] > 0).all()
    # a cost matrix in seconds: threshold_s, recorded as such
    secs = accessibility(fac, dem, method="catchment", cost=pairs / 1.2, threshold_s=1000)
    assert secs.attrs["threshold_s"] == 1000.0 and np.isnan(secs.attrs["threshold_m"])
    np.testing.assert_allclose(
        secs["access"], catchment_from_cost(pairs / 1.2, cap, max_cost=1000), atol=1e-12
    )
    with pytest.raises(ValueError, match="threshold_s= .seconds. needs cost="):
        accessibility(fac, dem, threshold_s=600)


def test_pairs_of_a_csr_cost_matrix_are_scipys_coo_entries():
    # the CSR fast path of _pairs_from_cost against scipy's own COO conversion: the same
    # (row, column, cost) in the same order, explicit zeros (pairs at cost 0) and unsorted
    # columns included, and max_cost applied alike
    import scipy.sparse as sp

    from geo.access import _pairs_from_cost

    m = sp.random(300, 40, density=0.1, format="csr", random_state=4) * 1000
    m = sp.csr_array(m)
    m.data[:7] = 0.0
    for r in range(0, 300, 3):  # reversed columns in every third row
        a, b = m.indptr[r], m.indptr[r + 1]
        m.indices[a:b], m.data[a:b] = m.indices[a:b][::-1].copy(), m.data[a:b][::-1].copy()
    m.has_sorted_indices = False
    coo = sp.coo_array(m)
    for limit in (None, 500.0):
        rows, cols, vals = _pairs_from_cost(m, limit)
        keep = np.ones(len(coo.data), bool) if limit is None else coo.data <= limit
        assert rows.tolist() == coo.row[keep].tolist()
        assert cols.tolist() == coo.col[keep].tolist()
        assert vals.tolist() == coo.data[keep].tolist()
        assert (rows.dtype, cols.dtype, vals.dtype) == (np.int64, np.int64, np.float64)
    vals[:] = -1  # the caller's copy, not the matrix's data
    assert (m.data >= 0).all()
