"""Coverage checked against brute-force geodesic distances (pyproj.Geod) and by hand."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import Point, box

from geo.coverage import coverage, coverage_summary, nearest_facility
from geo.errors import CRSError, ValidationError

GEOD = Geod(ellps="WGS84")
LOCAL_TM = "+proj=tmerc +lat_0=29.9 +lon_0=121.85 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"


def _random_layers(seed, n_dem, n_fac, lon=(121.6, 122.15), lat=(29.72, 29.99)):
    rng = np.random.default_rng(seed)
    fac = gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(n_fac)]},
        geometry=gpd.points_from_xy(rng.uniform(*lon, n_fac), rng.uniform(*lat, n_fac)),
        crs=4326,
    )
    dem = gpd.GeoDataFrame(
        {"weight": rng.integers(1, 200, n_dem).astype(float)},
        geometry=gpd.points_from_xy(rng.uniform(*lon, n_dem), rng.uniform(*lat, n_dem)),
        crs=4326,
    )
    return fac, dem


def _brute_force(fac, dem):
    """Geodesic distance from every demand point to every facility; min and argmin."""
    flon, flat = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    dlon, dlat = dem.geometry.x.to_numpy(), dem.geometry.y.to_numpy()
    lon1 = np.repeat(dlon, len(fac))
    lat1 = np.repeat(dlat, len(fac))
    lon2 = np.tile(flon, len(dem))
    lat2 = np.tile(flat, len(dem))
    d = np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2]).reshape(len(dem), len(fac))
    return d.min(axis=1), d.argmin(axis=1)


@pytest.mark.parametrize(
    ("seed", "extent"),
    [
        (1, {"lon": (121.6, 122.15), "lat": (29.72, 29.99)}),  # Beilun, a district
        (2, {"lon": (120.9, 122.3), "lat": (29.0, 30.4)}),  # Ningbo, a whole city
        (3, {"lon": (150.6, 151.4), "lat": (-34.2, -33.5)}),  # Sydney: southern UTM
        (4, {"lon": (24.6, 25.3), "lat": (60.1, 60.35)}),  # Helsinki, high latitude
    ],
)
def test_distances_and_shares_match_brute_force_geodesic(seed, extent):
    fac, dem = _random_layers(seed, 3000, 60, **extent)
    res = coverage(fac, dem, threshold_m=2500)
    dmin, amin = _brute_force(fac, dem)
    rel = np.abs(res["distance_m"].to_numpy() - dmin) / dmin
    assert rel.max() < 1e-3  # the bar: 0.1%
    assert rel.max() < 1e-4  # what the UTM scale correction actually achieves
    same = res["nearest_id"].to_numpy() == fac["id"].to_numpy()[amin]
    # a different nearest id is only acceptable for a near tie
    ties = (
        np.abs(
            np.asarray(
                GEOD.inv(
                    dem.geometry.x,
                    dem.geometry.y,
                    fac.geometry.x.to_numpy()[amin],
                    fac.geometry.y.to_numpy()[amin],
                )[2]
            )
            - res["distance_m"].to_numpy()
        )
        < 1e-3 * dmin
    )
    assert (same | ties).all()
    w = dem["weight"].to_numpy()
    share_brute = w[dmin <= 2500].sum() / w.sum()
    share = coverage_summary(res).covered_share
    assert share == pytest.approx(share_brute, rel=1e-3)


def test_hand_worked_example_in_a_local_metric_crs():
    fac = gpd.GeoDataFrame(
        {"id": ["a", "b"]}, geometry=[Point(0, 0), Point(10_000, 0)], crs=LOCAL_TM
    )
    dem = gpd.GeoDataFrame(
        {"weight": [10.0, 20.0, 30.0, 40.0]},
        # (not 5000, 3000: equidistant on the grid, but b is 1 mm nearer on the ellipsoid)
        geometry=[Point(300, 400), Point(9_000, 0), Point(4_990, 3_000), Point(0, -999)],
        crs=LOCAL_TM,
    )
    res = coverage(fac, dem, threshold_m=1000)
    assert res["nearest_id"].tolist() == ["a", "b", "a", "a"]
    # the grid distances, as geodesics on the ellipsoid (the TM scale grows off its meridian)
    np.testing.assert_allclose(
        res["distance_m"], [500, 1000, np.hypot(4990, 3000), 999], rtol=2e-6
    )
    ll_d, ll_f = dem.to_crs(4326).geometry, fac.to_crs(4326).geometry.iloc[[0, 1, 0, 0]]
    want = GEOD.inv(ll_f.x.to_numpy(), ll_f.y.to_numpy(), ll_d.x.to_numpy(), ll_d.y.to_numpy())[2]
    np.testing.assert_allclose(res["distance_m"], want, rtol=0, atol=1e-6)
    assert res["covered"].tolist() == [True, True, False, True]
    s = coverage_summary(res)
    assert s.people_total == 100
    assert s.people_covered == 70
    assert s.covered_share == pytest.approx(0.7)
    assert s.loads.set_index("id").loc["a", "people_nearest"] == 80
    assert s.loads.set_index("id").loc["a", "people_covered"] == 50
    assert s.loads.set_index("id").loc["b", "people_covered"] == 20


def test_detour_factor_stretches_distance_and_is_stated():
    fac = gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(0, 0)], crs=LOCAL_TM)
    dem = gpd.GeoDataFrame({"weight": [1.0]}, geometry=[Point(800, 0)], crs=LOCAL_TM)
    res = coverage(fac, dem, threshold_m=1000, detour_factor=1.3)
    assert res["distance_m"].iloc[0] == pytest.approx(1040)
    assert not res["covered"].iloc[0]
    assert "1.3 detour factor" in res.attrs["method"]
    with pytest.raises(ValueError, match="detour_factor must be a number >= 1"):
        coverage(fac, dem, threshold_m=1000, detour_factor=0.5)


def test_result_keeps_index_and_columns_and_does_not_mutate_input():
    fac, dem = _random_layers(5, 50, 5)
    dem.index = pd.RangeIndex(100, 150)
    before = dem.copy()
    res = coverage(fac, dem, threshold_m=1000)
    pd.testing.assert_index_equal(res.index, dem.index)
    assert list(res.columns) == [*dem.columns, "nearest_id", "distance_m", "covered"]
    pd.testing.assert_frame_equal(dem, before)


def test_no_facilities_means_nobody_covered():
    fac, dem = _random_layers(6, 20, 0)
    res = coverage(fac, dem, threshold_m=1000)
    assert not res["covered"].any()
    assert res["nearest_id"].isna().all()
    assert coverage_summary(res).covered_share == 0


def test_refuses_missing_or_mixed_crs():
    fac, dem = _random_layers(7, 10, 3)
    with pytest.raises(CRSError, match="demand has no CRS"):
        coverage(fac, dem.set_crs(None, allow_override=True), threshold_m=500)
    with pytest.raises(CRSError, match="demand is in .* but facilities is in"):
        coverage(fac, dem.to_crs(32651), threshold_m=500)
    with pytest.raises(TypeError, match="facilities must be a GeoDataFrame"):
        coverage(pd.DataFrame(fac), dem, threshold_m=500)
    with pytest.raises(ValueError, match="threshold_m must be a positive"):
        coverage(fac, dem, threshold_m=-5)
    with pytest.raises(ValidationError, match="mode='walk' needs a road network"):
        coverage(fac, dem, threshold_m=500, mode="walk")


def test_nearest_facility_positions():
    fac = gpd.GeoDataFrame({"id": ["x", "y"]}, geometry=[Point(0, 0), Point(100, 0)], crs=LOCAL_TM)
    dem = gpd.GeoDataFrame(geometry=[Point(90, 0), Point(-5, 0)], crs=LOCAL_TM)
    idx, dist = nearest_facility(fac, dem)
    assert idx.tolist() == [1, 0]
    np.testing.assert_allclose(dist, [10, 5])


def _route_demand(crs=LOCAL_TM):
    # one straight east-west route 30 km long sampled every 1 km (midpoints)
    pos = np.arange(500, 30_000, 1000.0)
    return gpd.GeoDataFrame(
        {
            "id": [f"r1:{i}" for i in range(len(pos))],
            "group": "truck_drivers",
            "weight": 10.0,
            "kind": "route",
            "source_id": "r1",
            "route_id": "r1",
            "route_pos_m": pos,
        },
        geometry=[Point(p, 0) for p in pos],
        crs=crs,
    )


def test_route_rule_measures_along_the_route_by_hand():
    dem = _route_demand()
    fac = gpd.GeoDataFrame(
        {"id": ["home", "far"], "type": "driver_home"},
        # 1 km north of the route at 5 km; 'far' is 5 km off the route: unreachable
        geometry=[Point(5_000, 1_000), Point(25_000, 5_000)],
        crs=LOCAL_TM,
    )
    res = coverage(fac, dem, facility_type="driver_home", threshold_m=15_000)
    d = res.set_index("route_pos_m")["distance_m"]
    assert d[500.0] == pytest.approx(4_500 + 1_000)
    assert d[18_500.0] == pytest.approx(13_500 + 1_000)
    assert d[25_500.0] == pytest.approx(20_500 + 1_000)  # 'far' is 0 m along but 5 km off
    covered = res.set_index("route_pos_m")["covered"]
    assert covered[18_500.0] and not covered[19_500.0]  # 14.5 km + 1 km > 15 km
    assert set(res["nearest_id"]) == {"home"}
    assert "along freight routes" in res.attrs["method"]
    # A straight-line radius would have covered a point 20 km down the road: the rule differs
    radius = coverage(fac, dem, threshold_m=15_000)
    assert radius["covered"].sum() > res["covered"].sum()


def test_route_with_no_reachable_home_is_uncovered_not_an_error():
    dem = _route_demand()
    fac = gpd.GeoDataFrame(
        {"id": ["far"], "type": "driver_home"}, geometry=[Point(5_000, 9_000)], crs=LOCAL_TM
    )
    res = coverage(fac, dem, facility_type="driver_home")
    assert not res["covered"].any()
    assert res["distance_m"].isna().all()
    assert res["nearest_id"].isna().all()


def test_summary_by_area_and_gaps():
    fac = gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(121.80, 29.90)], crs=4326)
    rng = np.random.default_rng(9)
    lon = rng.uniform(121.78, 121.90, 400)
    lat = rng.uniform(29.88, 29.92, 400)
    dem = gpd.GeoDataFrame(
        {"weight": np.full(400, 5.0)}, geometry=gpd.points_from_xy(lon, lat), crs=4326
    )
    areas = gpd.GeoDataFrame(
        {"id": ["W", "E"], "name": ["west", "east"], "level": "subdistrict"},
        geometry=[box(121.77, 29.87, 121.84, 29.93), box(121.84, 29.87, 121.91, 29.93)],
        crs=4326,
    )
    res = coverage(fac, dem, threshold_m=1500)
    s = coverage_summary(res, areas)
    by = s.by_area.set_index("area_id")
    in_w = lon < 121.84
    assert by.loc["W", "people"] == pytest.approx(5 * in_w.sum())
    assert by.loc["E", "people"] == pytest.approx(5 * (~in_w).sum())
    cov = res["covered"].to_numpy()
    assert by.loc["W", "covered"] == pytest.approx(5 * (cov & in_w).sum())
    assert s.by_area["area_id"].iloc[0] == "E"  # the east is farther away: the worst area
    # gaps hold exactly the uncovered people, ranked
    assert s.gaps["people"].sum() == pytest.approx(s.people_uncovered)
    assert s.gaps["people"].is_monotonic_decreasing
    d = s.to_dict(top=3)
    assert d["worst_areas"][0]["name"] == "east"
    assert len(d["gaps"]) == 3
