"""Cross coverage and criticality, against brute force.

Criticality (people lost if one facility alone closes) is checked against closing each
demo station in turn and recounting with ``geo.coverage``; the cover counts against
geodesic distances from pyproj; the per-area figures against a geopandas spatial join.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import Point

import geo
from geo.errors import ValidationError
from geo.redundancy import cover_counts, criticality, redundancy_by_area


@pytest.fixture(scope="module")
def demo():
    return geo.load_demo("beilun")


@pytest.mark.parametrize(
    ("ftype", "threshold_m"), [("outdoor_station", None), ("mother_room", 800)]
)
def test_criticality_equals_closing_each_station_and_recounting(demo, ftype, threshold_m):
    crit = criticality(demo.facilities, demo.demand, facility_type=ftype, threshold_m=threshold_m)
    fac = demo.facilities
    base = geo.coverage(fac, demo.demand, facility_type=ftype, threshold_m=threshold_m)
    covered = base.loc[base["covered"], "weight"].sum()
    lost = {}
    for fid in fac.loc[fac["type"] == ftype, "id"]:
        r = geo.coverage(
            fac[fac["id"] != fid], demo.demand, facility_type=ftype, threshold_m=threshold_m
        )
        lost[fid] = covered - r.loc[r["covered"], "weight"].sum()
    assert set(crit["id"]) == set(lost)
    for fid, people in zip(crit["id"], crit["people_sole"], strict=True):
        assert people == pytest.approx(lost[fid], abs=1e-6), fid
    assert crit["people_sole"].is_monotonic_decreasing
    assert crit["rank"].iloc[0] == 1 and crit["people_sole"].iloc[0] > 0
    assert crit.attrs["people_covered"] == pytest.approx(covered)
    assert crit.attrs["people_single"] == pytest.approx(crit["people_sole"].sum())


def test_cover_counts_match_geodesic_counts(demo):
    res = cover_counts(demo.facilities, demo.demand, facility_type="outdoor_station")
    st = demo.facilities[demo.facilities["type"] == "outdoor_station"]
    lon1, lon2 = np.meshgrid(st.geometry.x, res.geometry.x)
    lat1, lat2 = np.meshgrid(st.geometry.y, res.geometry.y)
    _, _, d = Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)
    n = (d <= 1000.0).sum(axis=1)
    assert (res["n_covering"].to_numpy() == np.minimum(n, 2)).all()
    assert set(res["cover_class"].astype(str)) == {"0", "1", "2+"}
    ids = st["id"].to_numpy()
    sole = res["sole_id"].astype(object).to_numpy()
    once = n == 1
    assert (sole[once] == ids[np.argmin(d[once], axis=1)]).all()
    assert all(v != v for v in sole[~once])  # NaN unless covered exactly once
    base = geo.coverage(demo.facilities, demo.demand, facility_type="outdoor_station")
    assert ((res["n_covering"] > 0).to_numpy() == base["covered"].to_numpy()).all()


def test_redundancy_by_area_matches_a_spatial_join(demo):
    res = cover_counts(demo.facilities, demo.demand, facility_type="outdoor_station")
    sub = demo.areas[demo.areas["level"] == "subdistrict"]
    by = redundancy_by_area(res, sub).set_index("area_id")
    j = gpd.sjoin(res, sub[["id", "geometry"]], predicate="within")
    for aid, part in j.groupby("id_right"):
        w, n = part["weight"], part["n_covering"]
        assert by.loc[aid, "people"] == pytest.approx(w.sum())
        assert by.loc[aid, "double"] == pytest.approx(w[n >= 2].sum())
        assert by.loc[aid, "single"] == pytest.approx(w[n == 1].sum())
        assert by.loc[aid, "double_share"] == pytest.approx(w[n >= 2].sum() / w.sum())
    assert (by["uncovered"] + by["single"] + by["double"] - by["people"]).abs().max() < 1e-6


def _line():
    fac = gpd.GeoDataFrame(
        {"id": ["a", "b", "c"], "name": ["A", "B", "C"]},
        geometry=[Point(500_000, 3_300_000), Point(501_500, 3_300_000), Point(510_000, 3_300_000)],
        crs=32651,
    )
    dem = gpd.GeoDataFrame(
        {"weight": [5.0, 7.0, 1.0, 3.0, 2.0]},
        geometry=[
            Point(500_750, 3_300_000),  # a and b
            Point(499_500, 3_300_000),  # a only
            Point(502_000, 3_300_000),  # b only
            Point(510_100, 3_300_000),  # c only
            Point(520_000, 3_300_000),  # nobody
        ],
        crs=32651,
    )
    return fac, dem


def test_hand_worked_line_with_a_tie():
    fac, dem = _line()
    crit = criticality(fac, dem, threshold_m=1000)
    assert crit[["id", "people_sole", "rank"]].values.tolist() == [
        ["a", 7.0, 1],
        ["c", 3.0, 2],
        ["b", 1.0, 3],
    ]
    dem.loc[2, "weight"] = 3.0  # b ties with c: both rank 2, ordered by id
    crit = criticality(fac, dem, threshold_m=1000)
    assert crit[["id", "rank"]].values.tolist() == [["a", 1], ["b", 2], ["c", 2]]
    counts = cover_counts(fac, dem, threshold_m=1000)
    assert counts["n_covering"].tolist() == [2, 1, 1, 1, 0]
    assert crit.attrs["people_single"] == 7.0 + 3.0 + 3.0


def test_one_facility_and_none():
    fac, dem = _line()
    one = criticality(fac.iloc[[0]], dem, threshold_m=1000)
    assert one["people_sole"].tolist() == [12.0]
    none = criticality(fac.iloc[[]], dem, threshold_m=1000)
    assert len(none) == 0 and none.attrs["people_covered"] == 0.0
    assert cover_counts(fac.iloc[[]], dem, threshold_m=1000)["n_covering"].eq(0).all()


def test_route_types_and_bad_thresholds_are_refused(demo):
    with pytest.raises(ValidationError, match="along freight routes"):
        criticality(demo.facilities, demo.demand, facility_type="driver_home")
    fac, dem = _line()
    with pytest.raises(ValueError, match="threshold_m must be a positive"):
        cover_counts(fac, dem, threshold_m=0)
    with pytest.raises(ValueError, match="give threshold_m"):
        cover_counts(fac, dem)
