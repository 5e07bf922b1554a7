"""Datum conversions checked against prcoords (an independent public-domain port) and
round trips; metric CRS choice and CRS refusals."""

import geopandas as gpd
import numpy as np
import prcoords
import pytest
from pyproj import Geod, Transformer
from shapely.geometry import LineString, Point, Polygon

from geo import crs as gc
from geo.errors import CRSError

GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def china_points():
    rng = np.random.default_rng(42)
    lon = rng.uniform(73.5, 134.5, 5000)
    lat = rng.uniform(18.5, 53.0, 5000)
    return lon, lat


def _ground_m(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


@pytest.mark.parametrize(
    ("ours", "peer"),
    [
        (gc.wgs84_to_gcj02, prcoords.wgs_gcj),
        (gc.gcj02_to_bd09, prcoords.gcj_bd),
        (gc.wgs84_to_bd09, prcoords.wgs_bd),
    ],
)
def test_forward_matches_prcoords(china_points, ours, peer):
    lon, lat = china_points
    olon, olat = ours(lon, lat)
    for i in range(0, len(lon), 25):
        ref = peer(prcoords.Coords(lat[i], lon[i]))
        assert olon[i] == pytest.approx(ref.lon, abs=1e-12)
        assert olat[i] == pytest.approx(ref.lat, abs=1e-12)


@pytest.mark.parametrize(
    ("fwd", "inv"),
    [
        (gc.wgs84_to_gcj02, gc.gcj02_to_wgs84),
        (gc.gcj02_to_bd09, gc.bd09_to_gcj02),
        (gc.wgs84_to_bd09, gc.bd09_to_wgs84),
    ],
)
def test_round_trip_better_than_a_centimetre(china_points, fwd, inv):
    lon, lat = china_points
    back_lon, back_lat = inv(*fwd(lon, lat))
    err = _ground_m(lon, lat, back_lon, back_lat)
    assert err.max() < 0.01
    # and much better in fact: the inverse iterates to ~1e-11 degrees
    assert err.max() < 1e-4


def test_inverse_agrees_with_prcoords_precise_inverse(china_points):
    lon, lat = china_points
    glon, glat = gc.wgs84_to_gcj02(lon, lat)
    wlon, wlat = gc.gcj02_to_wgs84(glon, glat)
    for i in range(0, len(lon), 50):
        ref = prcoords.gcj_wgs_bored(prcoords.Coords(glat[i], glon[i]))
        assert _ground_m(wlon[i], wlat[i], ref.lon, ref.lat) < 0.01


def test_offset_near_ningbo_is_a_few_hundred_metres():
    glon, glat = gc.wgs84_to_gcj02([121.85], [29.88])
    shift = _ground_m(121.85, 29.88, glon[0], glat[0])
    assert 300 < shift < 700
    blon, blat = gc.wgs84_to_bd09([121.85], [29.88])
    assert 700 < _ground_m(121.85, 29.88, blon[0], blat[0]) < 1500


def test_points_outside_china_pass_unchanged():
    lon = np.array([24.94, -0.13, 151.2, 139.7])  # Helsinki, London, Sydney, Tokyo(outside box)
    lat = np.array([60.17, 51.5, -33.87, 35.69])
    for f in (gc.wgs84_to_gcj02, gc.gcj02_to_wgs84, gc.wgs84_to_bd09, gc.bd09_to_wgs84):
        out_lon, out_lat = f(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)


def test_scalars_and_shapes():
    lon, lat = gc.wgs84_to_gcj02(121.8, 29.9)
    assert np.ndim(lon) == 0
    with pytest.raises(ValueError, match="same shape"):
        gc.wgs84_to_gcj02([1.0, 2.0], [3.0])


def test_check_datum_names_and_refuses_unknown():
    assert gc.check_datum("GCJ-02") == "gcj02"
    assert gc.check_datum("BD09") == "bd09"
    assert gc.check_datum("WGS84") == "wgs84"
    with pytest.raises(CRSError, match=r"datum='mars' is not known.*'gcj02'"):
        gc.check_datum("mars")


def test_geometry_to_wgs84_converts_every_vertex():
    gcj = gc.wgs84_to_gcj02(np.array([121.8, 121.9, 121.9]), np.array([29.9, 29.9, 29.95]))
    geoms = gpd.GeoSeries(
        [Point(gcj[0][0], gcj[1][0]), LineString(list(zip(gcj[0], gcj[1], strict=True)))],
        crs=4326,
    )
    out = gc.geometry_to_wgs84(geoms, "gcj02")
    assert out.crs.to_epsg() == 4326
    assert out.iloc[0].x == pytest.approx(121.8, abs=1e-9)
    np.testing.assert_allclose(
        np.asarray(out.iloc[1].coords), [[121.8, 29.9], [121.9, 29.9], [121.9, 29.95]], atol=1e-9
    )
    poly = gpd.GeoSeries([Polygon([(121.8, 29.9), (121.9, 29.9), (121.9, 30.0)])], crs=4326)
    assert gc.geometry_to_wgs84(poly, "wgs84").iloc[0].equals(poly.iloc[0])


def test_metric_crs_is_the_utm_zone_of_the_centroid():
    ningbo = gpd.GeoSeries([Point(121.8, 29.9)], crs=4326)
    assert gc.metric_crs_for(ningbo).to_epsg() == 32651
    sydney = gpd.GeoSeries([Point(151.2, -33.9)], crs=4326)
    assert gc.metric_crs_for(sydney).to_epsg() == 32756
    helsinki = gpd.GeoSeries([Point(24.9, 60.2)], crs=4326)
    assert gc.metric_crs_for(helsinki).to_epsg() == 32635
    # already metric: kept
    assert gc.metric_crs_for(ningbo.to_crs(32651)).to_epsg() == 32651


def test_measuring_refuses_a_layer_without_crs():
    layer = gpd.GeoSeries([Point(121.8, 29.9)])
    with pytest.raises(CRSError, match="has no CRS.*set_crs"):
        gc.metric_crs_for(layer)
    with pytest.raises(CRSError, match="demand is in .* but facilities is in"):
        gc.same_crs(("facilities", layer.set_crs(4326)), ("demand", layer.set_crs(32651)))


@pytest.mark.parametrize(
    ("geom", "what"),
    [
        (None, "row 1 is missing"),
        (LineString([(0, 0), (1, 1)]), "row 1 is 'LineString'"),
        (Point(), "row 1 is an empty point"),
        (Point(np.nan, 1.0), "row 1 is a point with a NaN coordinate"),
    ],
)
def test_points_xy_names_the_first_bad_row(geom, what):
    layer = gpd.GeoSeries([Point(121.8, 29.9), geom, Point(1, 1)], crs=4326)
    with pytest.raises(TypeError, match=what):
        gc.points_xy(layer)


def test_points_xy_reads_coordinates():
    layer = gpd.GeoSeries([Point(121.8, 29.9), Point(-1.5, 2.25)], crs=4326)
    np.testing.assert_array_equal(gc.points_xy(layer), [[121.8, 29.9], [-1.5, 2.25]])
    assert gc.points_xy(layer.iloc[:0]).shape == (0, 2)


@pytest.mark.parametrize("epsg", [32651, 32756])
def test_transform_xy_matches_pyproj_across_a_utm_zone(epsg):
    # the fast path (approximate tmerc near the central meridian) and the exact path
    # (far from it) both agree with PROJ's default UTM to a millimetre
    central = (epsg % 100) * 6 - 183
    rng = np.random.default_rng(epsg)
    for half_width in (3.5, 8.0):  # within the fast-path limit, and beyond it
        lon = rng.uniform(central - half_width, central + half_width, 20_000)
        lat = rng.uniform(-40.0, -20.0, 20_000) if epsg > 32700 else rng.uniform(20, 50, 20_000)
        ours = gc.transform_xy(np.column_stack([lon, lat]), 4326, epsg)
        ref_x, ref_y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
        assert np.abs(ours[:, 0] - ref_x).max() < 1e-3
        assert np.abs(ours[:, 1] - ref_y).max() < 1e-3
