"""Straight-line distance at any extent: one street to the whole of China.

The nearest facility and its distance are checked against brute-force ``pyproj.Geod``
(Karney's geodesics on WGS84) over the national union's extent (73-135 deg E, 18-53 deg N)
and a province-sized one (110-126 deg E), where one UTM zone for the whole input got a
farther facility as "nearest" (issue 15: 21 of 50,000 points up to 347 m farther on
100-130 deg E). A stray point at 0,0 must move nobody else's distance.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Geod

from geo._metric import (
    _R_MAX_M,
    _R_MIN_M,
    geodesic_m,
    nearest_geodesic,
    pairs_within,
    unit_vectors,
)
from geo.access import distance_pairs
from geo.coverage import coverage, nearest_facility

GEOD = Geod(ellps="WGS84")
CHINA = {"lon": (73.0, 135.0), "lat": (18.0, 53.0)}
PROVINCE = {"lon": (110.0, 126.0), "lat": (18.0, 53.0)}


def _points(rng, n, lon, lat):
    return np.column_stack([rng.uniform(*lon, n), rng.uniform(*lat, n)])


def _layers(fac_ll, dem_ll):
    fac = gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(len(fac_ll))]},
        geometry=gpd.points_from_xy(fac_ll[:, 0], fac_ll[:, 1]),
        crs=4326,
    )
    dem = gpd.GeoDataFrame(
        {"weight": np.ones(len(dem_ll))},
        geometry=gpd.points_from_xy(dem_ll[:, 0], dem_ll[:, 1]),
        crs=4326,
    )
    return fac, dem


def _brute(fac_ll, dem_ll):
    """Every demand x facility geodesic (pyproj.Geod)."""
    lon1 = np.repeat(dem_ll[:, 0], len(fac_ll))
    lat1 = np.repeat(dem_ll[:, 1], len(fac_ll))
    lon2 = np.tile(fac_ll[:, 0], len(dem_ll))
    lat2 = np.tile(fac_ll[:, 1], len(dem_ll))
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2]).reshape(len(dem_ll), len(fac_ll))


@pytest.mark.parametrize(
    ("extent", "n_fac", "seed"),
    [(CHINA, 300, 1), (CHINA, 3, 2), (PROVINCE, 400, 3)],
    ids=["china-300", "china-3", "province-400"],
)
def test_nearest_equals_geod_brute_force(extent, n_fac, seed):
    rng = np.random.default_rng(seed)
    fac_ll, dem_ll = _points(rng, n_fac, **extent), _points(rng, 3000, **extent)
    # and points crowded between facilities, where near ties are common
    mid = 0.5 * (fac_ll[rng.integers(n_fac, size=1000)] + fac_ll[rng.integers(n_fac, size=1000)])
    dem_ll = np.vstack([dem_ll, mid + rng.normal(0, 1e-3, mid.shape)])
    d = _brute(fac_ll, dem_ll)
    want_idx, want_m = d.argmin(axis=1), d.min(axis=1)
    fac, dem = _layers(fac_ll, dem_ll)
    idx, dist = nearest_facility(fac, dem)
    assert (idx == want_idx).all()
    assert np.abs(dist - want_m).max() < 0.1
    res = coverage(fac, dem, threshold_m=50_000)
    np.testing.assert_allclose(res["distance_m"], want_m, rtol=0, atol=0.1)
    assert (res["nearest_id"].to_numpy() == fac["id"].to_numpy()[want_idx]).all()


def test_a_point_at_zero_zero_moves_nobody_else():
    rng = np.random.default_rng(5)
    fac_ll = _points(rng, 50, (121.6, 122.2), (29.7, 30.0))  # a district
    dem_ll = _points(rng, 3000, (121.6, 122.2), (29.7, 30.0))
    fac, dem = _layers(fac_ll, dem_ll)
    alone = coverage(fac, dem, threshold_m=1000)
    fac0, dem0 = _layers(np.vstack([fac_ll, [[0.0, 0.0]]]), np.vstack([dem_ll, [[0.0, 0.0]]]))
    mixed = coverage(fac0, dem0, threshold_m=1000)
    # the same numbers to the last bit: distances do not depend on the extent
    np.testing.assert_array_equal(mixed["distance_m"].to_numpy()[:-1], alone["distance_m"])
    assert mixed["distance_m"].iloc[-1] == 0.0
    assert alone["covered"].mean() == mixed["covered"].to_numpy()[:-1].mean()
    # a far-away worker alone, likewise
    far = coverage(fac, _layers(fac_ll, np.vstack([dem_ll, [[75.0, 40.0]]]))[1], threshold_m=1000)
    np.testing.assert_array_equal(far["distance_m"].to_numpy()[:-1], alone["distance_m"])


def test_pairs_within_agree_with_brute_force_and_coverage():
    rng = np.random.default_rng(7)
    fac_ll, dem_ll = _points(rng, 200, **PROVINCE), _points(rng, 3000, **PROVINCE)
    max_m = 150_000.0
    d = _brute(fac_ll, dem_ll)
    rows, cols, dist = pairs_within(fac_ll, dem_ll, max_m)
    want_r, want_c = np.nonzero(d <= max_m)
    np.testing.assert_array_equal(rows, want_r)
    np.testing.assert_array_equal(cols, want_c)
    np.testing.assert_allclose(dist, d[want_r, want_c], rtol=0, atol=0.1)
    # access's distance_pairs and coverage: the same metric, the same nearest distance
    fac, dem = _layers(fac_ll, dem_ll)
    m = distance_pairs(fac, dem, max_m=max_m)
    nearest = np.full(len(dem), np.inf)
    np.minimum.at(nearest, np.repeat(np.arange(len(dem)), np.diff(m.indptr)), m.data)
    cov = coverage(fac, dem, threshold_m=max_m)
    has = np.isfinite(nearest)
    assert (has == cov["covered"].to_numpy()).all()
    np.testing.assert_array_equal(nearest[has], cov["distance_m"].to_numpy()[has])


def test_geodesic_and_the_chord_margin_against_geod():
    rng = np.random.default_rng(9)
    a = np.column_stack([rng.uniform(-180, 180, 20000), rng.uniform(-89, 89, 20000)])
    az, s = rng.uniform(-180, 180, 20000), np.exp(rng.uniform(np.log(0.5), np.log(2e7), 20000))
    lon2, lat2, _ = GEOD.fwd(a[:, 0], a[:, 1], az, s)
    b = np.column_stack([lon2, lat2])
    want = np.asarray(GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2])
    np.testing.assert_allclose(geodesic_m(a, b), want, rtol=0, atol=1e-4)
    # the bound the candidate margin rests on: R_MIN * theta <= s <= R_MAX * theta
    chord = np.linalg.norm(unit_vectors(a) - unit_vectors(b), axis=1)
    theta = 2 * np.arcsin(np.minimum(chord / 2, 1))
    assert (_R_MIN_M * theta <= want * (1 + 1e-12)).all()
    assert (want <= _R_MAX_M * theta * (1 + 1e-12) + 1e-6).all()


def test_no_facilities_and_one_facility():
    dem_ll = np.array([[100.0, 30.0], [120.0, 40.0]])
    idx, dist = nearest_geodesic(np.empty((0, 2)), dem_ll)
    assert (idx == -1).all() and np.isinf(dist).all()
    idx, dist = nearest_geodesic(np.array([[110.0, 35.0]]), dem_ll)
    assert (idx == 0).all()
    np.testing.assert_allclose(dist, _brute(np.array([[110.0, 35.0]]), dem_ll)[:, 0], atol=1e-6)


def test_pairs_within_in_blocks_equals_one_piece(monkeypatch):
    """pairs_within works through the demand in blocks (memory bounded by a block): the
    answer is the same pairs, order and distances as in one piece."""
    from geo import _metric

    rng = np.random.default_rng(7)
    dem = np.c_[121.6 + rng.random(5_000) * 0.4, 29.7 + rng.random(5_000) * 0.3]
    fac = np.c_[121.6 + rng.random(60) * 0.4, 29.7 + rng.random(60) * 0.3]
    whole = _metric.pairs_within(fac, dem, 3_000.0)
    monkeypatch.setattr(_metric, "_PAIR_BLOCK", 777)
    blocks = _metric.pairs_within(fac, dem, 3_000.0)
    assert len(whole[0]) > 5_000 and len(set(whole[0] // 777)) > 5  # pairs in many blocks
    for a, b in zip(whole, blocks, strict=True):
        assert np.array_equal(a, b)


def test_the_ball_query_of_the_nearest_search_finds_every_facility_within_reach():
    # _within_chord (k-nearest queries, k doubled for the points that need more) against
    # brute force: dense facilities, so that most points need several rounds, and reaches
    # that differ per point. An earlier version lost every facility of a point that needed
    # a second round (a view of the array it then cleared).
    from pykdtree.kdtree import KDTree

    from geo._metric import _within_chord

    rng = np.random.default_rng(11)
    fac = _points(rng, 400, (121.0, 121.2), (29.0, 29.15))
    dem = _points(rng, 300, (121.0, 121.2), (29.0, 29.15))
    nf, nd = unit_vectors(fac), unit_vectors(dem)
    rows = np.arange(0, 300, 2)
    reach = rng.uniform(1e-5, 6e-4, len(rows))  # chords: up to ~3.8 km, up to ~100 facilities
    got = _within_chord(KDTree(nf), nf, nd, rows, reach)
    chords = np.linalg.norm(nd[rows][:, None, :] - nf[None, :, :], axis=2)
    r, c = np.nonzero(chords <= reach[:, None])
    want = set(zip(rows[r].tolist(), c.tolist(), strict=True))
    assert max(np.bincount(r)) > 32  # two doublings of k = 16
    assert len(got[0]) == len(want)
    assert set(zip(got[0].tolist(), got[1].tolist(), strict=True)) == want
