"""Location models: checked against spopt on the same inputs, and by hand."""

import json

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from shapely.geometry import Point, box

from cli import main
from geo import coverage, load_demo
from geo.siting import (
    candidate_sites,
    capacitated_covering,
    maximal_covering,
    p_median,
    set_covering,
    suggest_sites,
    what_if,
)

pulp = pytest.importorskip("pulp")
locate = pytest.importorskip("spopt.locate")

# spopt 0.7 builds its models with pulp's LpVariable(...), deprecated by PuLP 3.3
pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")


def _instance(seed, n=200, m=40, e=5):
    rng = np.random.default_rng(seed)
    d = rng.random((n, 2)) * 10
    f = rng.random((m + e, 2)) * 10
    cost = np.hypot(*(d[:, None, :] - f[None, :, :]).transpose(2, 0, 1))
    w = rng.integers(1, 50, n).astype(float)
    return cost, w


def _spopt(model):
    return model.solve(pulp.HiGHS(msg=False)).problem.objective.value()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["exact", "fast"])
def test_mclp_equals_spopt_with_existing_sites_fixed(seed, method):
    cost, w = _instance(seed)
    m, e, p, r = 40, 5, 6, 1.4
    pre = np.r_[np.zeros(m), np.ones(e)].astype(int)
    ref = _spopt(
        locate.MCLP.from_cost_matrix(
            cost, w, service_radius=r, p_facilities=p + e, predefined_facilities_arr=pre
        )
    )
    covered = (cost[:, m:] <= r).any(axis=1)
    cover = sp.csr_array(cost[:, :m] <= r)
    sol = maximal_covering(cover, w, p, covered=covered, method=method)
    # coverage recomputed from the chosen sites, not read from the solver
    chosen = np.r_[sol.sites, np.arange(m, m + e)]
    recomputed = w[(cost[:, chosen] <= r).any(axis=1)].sum()
    assert recomputed == sol.objective
    assert len(sol.sites) == p
    if method == "exact":
        assert sol.proven_optimal and sol.gap == 0.0
        assert sol.objective == pytest.approx(ref)
    else:
        assert not sol.proven_optimal
        assert sol.objective <= ref + 1e-9
        assert sol.objective >= 0.97 * ref
        assert sol.bound >= ref - 1e-9  # the bound it reports is valid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lscp_equals_spopt(seed):
    cost, w = _instance(seed, n=150, m=45, e=0)
    r = 3.0
    ref = _spopt(locate.LSCP.from_cost_matrix(cost, service_radius=r))
    sol = set_covering(sp.csr_array(cost <= r), np.ones(len(w)))
    assert sol.proven_optimal
    assert sol.objective == ref == len(sol.sites)
    assert (cost[:, sol.sites] <= r).any(axis=1).all()
    fast = set_covering(sp.csr_array(cost <= r), np.ones(len(w)), method="fast")
    assert fast.objective >= ref
    assert (cost[:, fast.sites] <= r).any(axis=1).all()


def test_lscp_to_a_target_share():
    cost, w = _instance(4, n=150, m=45, e=5)
    r, m = 1.5, 45
    covered = (cost[:, m:] <= r).any(axis=1)
    cover = sp.csr_array(cost[:, :m] <= r)
    sol = set_covering(cover, w, target_share=0.9, covered=covered)
    got = w[(cost[:, np.r_[sol.sites, m:50]] <= r).any(axis=1)].sum() / w.sum()
    assert got >= 0.9
    # one fewer site cannot reach 90 %: the best k-1 sites (MCLP) fall short
    best = maximal_covering(cover, w, len(sol.sites) - 1, covered=covered)
    assert best.objective / w.sum() < 0.9
    with pytest.raises(ValueError, match="cannot be reached"):
        set_covering(sp.csr_array(cost[:, :2] <= 0.1), w, target_share=0.99)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("existing", [False, True])
def test_pmedian_equals_spopt(seed, existing):
    cost, w = _instance(seed, n=80, m=20, e=3)
    m, e, p = 20, 3, 4
    if existing:
        pre = np.r_[np.zeros(m), np.ones(e)].astype(int)
        ref = _spopt(
            locate.PMedian.from_cost_matrix(
                cost, w, p_facilities=p + e, predefined_facilities_arr=pre
            )
        )
        sol = p_median(cost[:, :m], w, p, existing_cost=cost[:, m:].min(axis=1))
    else:
        ref = _spopt(locate.PMedian.from_cost_matrix(cost[:, :m], w, p_facilities=p))
        sol = p_median(cost[:, :m], w, p)
    assert sol.proven_optimal
    assert sol.objective == pytest.approx(ref, rel=1e-9)
    open_cost = cost[:, sol.sites]
    if existing:
        open_cost = np.column_stack([open_cost, cost[:, m:]])
    assert (w * open_cost.min(axis=1)).sum() == pytest.approx(sol.objective, rel=1e-12)
    fast = p_median(
        cost[:, :m],
        w,
        p,
        method="fast",
        existing_cost=cost[:, m:].min(axis=1) if existing else None,
    )
    assert ref - 1e-9 <= fast.objective <= 1.03 * ref


def test_capacitated_covering_by_hand():
    # rows: A (10 people), B (10), C (5); candidate 0 reaches A and B, candidate 1 reaches C
    cover = np.array([[1, 0], [1, 0], [0, 1]], dtype=bool)
    w = [10, 10, 5]
    assert capacitated_covering(cover, w, 1, capacity=[12, 12]).objective == 12.0
    assert capacitated_covering(cover, w, 2, capacity=[12, 12]).objective == 17.0
    assert maximal_covering(cover, w, 1).objective == 20.0  # without capacities
    # candidate 0 at capacity 4 loses to candidate 1 (5 people)
    sol = capacitated_covering(cover, w, 1, capacity=[4, 12])
    assert sol.sites.tolist() == [1] and sol.objective == 5.0
    # an existing site of capacity 4 reaching A is kept: it serves 4, candidate 0 the next 12
    ex = np.array([[1], [0], [0]], dtype=bool)
    sol = capacitated_covering(
        cover, w, 1, capacity=[12, 12], existing_cover=ex, existing_capacity=[4]
    )
    assert sol.objective == 16.0 and sol.proven_optimal
    # unlimited existing capacity (NaN) covers A entirely
    sol = capacitated_covering(
        cover, w, 1, capacity=[12, 12], existing_cover=ex, existing_capacity=[np.nan]
    )
    assert sol.objective == 20.0
    fast = capacitated_covering(
        cover, w, 1, capacity=[12, 12], existing_cover=ex, existing_capacity=[4], method="fast"
    )
    assert fast.objective == 16.0 and not fast.proven_optimal


def _metric(points, crs=32651, **cols):
    x0, y0 = 380_000.0, 3_310_000.0
    return gpd.GeoDataFrame(cols, geometry=[Point(x0 + x, y0 + y) for x, y in points], crs=crs)


def test_capacitated_suggest_by_hand_on_frames():
    fac = _metric([(0, 0)], id=["E1"], type=["outdoor_station"], capacity=[4.0])
    dem = _metric([(0, 0), (2000, 0), (4000, 0)], group=["outdoor"] * 3, weight=[10.0, 10.0, 5.0])
    cand = _metric([(1000, 0), (4000, 100)], id=["c1", "c2"])
    res = suggest_sites(
        fac,
        dem,
        facility_type="outdoor_station",
        add=1,
        model="cmclp",
        candidates=cand,
        site_capacity=12.0,
        threshold_m=1001,
    )
    assert res.sites["id"].tolist() == ["c1"]
    assert res.people_before == 4.0 and res.people_after == 16.0
    assert res.sites["people_added"].tolist() == [12.0]
    assert res.proven_optimal


def _routes():
    # R1 along y = 0 (11 samples x 10 trucks), R2 along y = 20 km (11 samples, 50 trucks)
    xs = np.arange(0, 10_001, 1000.0)
    pts = [(x, 0.0) for x in xs] + [(x, 20_000.0) for x in xs]
    n = len(xs)
    return _metric(
        pts,
        group=["truck_drivers"] * (2 * n),
        weight=[10.0] * n + [50.0 / n] * n,
        route_id=["R1"] * n + ["R2"] * n,
        route_pos_m=np.r_[xs, xs],
        kind=["route"] * (2 * n),
    )


def test_route_model_by_hand():
    dem = _routes()
    cand = _metric([(5000, 2000), (5000, 18_500), (5000, 10_000)], id=["near1", "near2", "mid"])
    none = _metric([], id=[], type=[], capacity=[])
    res = suggest_sites(none, dem, facility_type="driver_home", add=1, candidates=cand)
    assert res.model == "route" and res.detour_m == 3000.0 and res.threshold_m == 15000.0
    assert res.sites["id"].tolist() == ["near1"]
    assert res.people_total == pytest.approx(160.0)
    assert res.people_before == 0 and res.people_after == pytest.approx(110.0)
    res = suggest_sites(none, dem, facility_type="driver_home", add=2, candidates=cand)
    assert res.sites["id"].tolist() == ["near1", "near2"]
    assert res.sites["people_added"].round(6).tolist() == [110.0, 50.0]
    # an existing home 1 km off R2 serves it already; with a 1.5 km detour limit near1
    # (2 km off R1) serves nothing either
    home = _metric([(3000, 19_000)], id=["H"], type=["driver_home"], capacity=[100.0])
    res = suggest_sites(home, dem, facility_type="driver_home", add=2, candidates=cand)
    assert res.covered_before == pytest.approx(50 / 160)
    assert res.sites["id"].tolist() == ["near1"]  # near2 would add nobody: not a candidate
    res = suggest_sites(
        home, dem, facility_type="driver_home", add=1, candidates=cand, detour_m=1500
    )
    assert len(res.sites) == 0 and res.covered_after == pytest.approx(50 / 160)


def test_candidate_sites_respect_boundary_and_mask():
    b = gpd.GeoDataFrame(geometry=[box(121.80, 29.90, 121.83, 29.92)], crs=4326)
    lake = gpd.GeoDataFrame(geometry=[box(121.80, 29.90, 121.815, 29.92)], crs=4326)
    all_ = candidate_sites(b, spacing_m=200)
    masked = candidate_sites(b, spacing_m=200, exclude=lake)
    assert 0 < len(masked) < len(all_)
    assert masked.within(b.geometry.iloc[0]).all()
    assert not masked.intersects(lake.geometry.iloc[0]).any()
    hexes = candidate_sites(b, h3_resolution=9)
    assert len(hexes) and hexes.within(b.geometry.iloc[0]).all()
    moved = candidate_sites(b, spacing_m=500, snap=lambda g: g.set_geometry(g.geometry))
    assert len(moved) == len(candidate_sites(b, spacing_m=500))
    with pytest.raises(ValueError, match="exactly one"):
        candidate_sites(b)


@pytest.fixture(scope="module")
def demo():
    return load_demo("beilun")


def test_suggest_on_the_demo_recomputes_coverage(demo):
    res = suggest_sites(
        demo.facilities,
        demo.demand,
        facility_type="outdoor_station",
        add=3,
        boundary=demo.boundary,
        spacing_m=400,
    )
    assert res.proven_optimal and res.gap == 0.0
    new = gpd.GeoDataFrame(
        {"id": ["n1", "n2", "n3"], "type": "outdoor_station"},
        geometry=res.sites.geometry.to_numpy(),
        crs=4326,
    )
    import pandas as pd

    fac = gpd.GeoDataFrame(pd.concat([demo.facilities, new], ignore_index=True), crs=4326)
    after = coverage(fac, demo.demand, facility_type="outdoor_station")
    people = after.loc[after["covered"], "weight"].sum()
    assert res.people_after == pytest.approx(people)
    assert res.objective == pytest.approx(people)  # the solver agrees with the recount
    assert res.sites["people_added"].sum() == pytest.approx(res.people_after - res.people_before)
    assert (np.diff(res.sites["people_added"]) <= 1e-9).all()
    assert res.sites.within(demo.boundary.geometry.iloc[0]).all()
    fast = suggest_sites(
        demo.facilities,
        demo.demand,
        facility_type="outdoor_station",
        add=3,
        boundary=demo.boundary,
        spacing_m=400,
        method="fast",
    )
    assert fast.people_after >= 0.99 * res.people_after
    assert not fast.proven_optimal


def test_cli_suggest_json_matches_the_api(demo):
    out = CliRunner().invoke(
        main, ["suggest", "--demo", "beilun", "--type", "outdoor_station", "--add", "5", "--json"]
    )
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    res = suggest_sites(
        demo.facilities, demo.demand, facility_type="outdoor_station", add=5, boundary=demo.boundary
    )
    assert got["threshold_m"] == 1000.0
    assert got["proven_optimal"] is True and got["gap"] == 0.0
    assert got["covered_before"] == round(res.covered_before, 4)
    assert got["covered_after"] == round(res.covered_after, 4)
    assert [(s["lon"], s["lat"]) for s in got["sites"]] == [
        (round(x, 6), round(y, 6)) for x, y in zip(res.sites["lon"], res.sites["lat"], strict=True)
    ]
    assert [s["people_added"] for s in got["sites"]] == res.sites["people_added"].round(1).tolist()
    # covered_before is what `servicemap coverage` reports
    cov = json.loads(
        CliRunner()
        .invoke(main, ["coverage", "--demo", "beilun", "--type", "outdoor_station", "--json"])
        .stdout
    )
    assert got["covered_before"] == cov["covered_share"]
    text = CliRunner().invoke(
        main, ["suggest", "--demo", "beilun", "--type", "outdoor_station", "--add", "2"]
    )
    assert text.exit_code == 0 and "proven optimal" in text.output


def test_what_if_by_hand():
    fac = _metric(
        [(0, 0), (5000, 0)], id=["A", "B"], type=["outdoor_station"] * 2, capacity=[10.0, 10.0]
    )
    dem = _metric(
        [(100, 0), (5100, 0), (9000, 0)], group=["outdoor"] * 3, weight=[20.0, 30.0, 40.0]
    )
    lonlat = gpd.GeoSeries([Point(380_000 + 9000, 3_310_000)], crs=32651).to_crs(4326)
    res = what_if(
        fac, dem, facility_type="outdoor_station", add=[(lonlat.x[0], lonlat.y[0])], close=["A"]
    )
    assert res.people_before == 50.0 and res.people_after == 70.0
    assert res.people_change == 20.0
    # before: 0.5 and 1/3 for rows 0,1; after: row 1 1/3, row 2 10/40
    assert res.access_before == pytest.approx((20 * 0.5 + 30 / 3) / 90)
    assert res.access_after == pytest.approx((30 / 3 + 40 * 0.25) / 90)
    moved = what_if(
        fac, dem, facility_type="outdoor_station", move={"B": (lonlat.x[0], lonlat.y[0])}
    )
    assert moved.people_after == 60.0
    with pytest.raises(ValueError, match="no facility with id 'Z'"):
        what_if(fac, dem, facility_type="outdoor_station", close=["Z"])
    assert json.dumps(res.to_dict())


def test_errors():
    with pytest.raises(ValueError, match="p=5 sites asked for"):
        maximal_covering(np.ones((3, 2), bool), [1, 1, 1], 5)
    with pytest.raises(ValueError, match="method='slow'"):
        maximal_covering(np.ones((3, 2), bool), [1, 1, 1], 1, method="slow")
    with pytest.raises(ValueError, match="out of reach"):
        set_covering(np.array([[1], [0]], bool), [1, 1])
