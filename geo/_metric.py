"""Metric primitives shared by coverage, access and siting (private).

Point layers are turned into coordinate arrays in the UTM zone of the data; straight-line
grid distances are corrected to ground metres with the UTM scale factor; the nearest
facility comes from one KD-tree; route samples are projected onto their polylines.
Arrays in, arrays out, apart from the input checks.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
from pykdtree.kdtree import KDTree
from pyproj import CRS

from geo.crs import metric_crs_from_bounds, points_xy, same_crs, transform_xy
from geo.errors import ValidationError

_UTM_K0 = 0.9996
_UTM_FALSE_EASTING = 500_000.0
_EARTH_RADIUS_M = 6_371_008.8


def is_utm(crs: CRS) -> bool:
    """Whether ``crs`` is a WGS84 UTM zone (EPSG 32601-32660, 32701-32760)."""
    epsg = crs.to_epsg() or 0
    return 32601 <= epsg <= 32660 or 32701 <= epsg <= 32760


def ground_m(grid_m: np.ndarray, x_a: np.ndarray, x_b: np.ndarray, crs: CRS) -> np.ndarray:
    """Grid distances between points with eastings x_a and x_b, as ground metres.

    On UTM the grid is scaled by 0.9996 at the central meridian and more away from it;
    dividing by the scale factor at the segment's mid-easting leaves an error of a few
    parts per million over a city.
    """
    if not is_utm(crs):
        return grid_m
    # transverse Mercator scale at easting x: k0 * (1 + (x - 500 km)^2 / (2 R^2))
    k = np.add(x_a, x_b)  # in place from here on: this runs on millions of rows
    k *= 0.5
    k -= _UTM_FALSE_EASTING
    k *= k
    k *= 1.0 / (2.0 * _EARTH_RADIUS_M**2)
    k += 1.0
    k *= _UTM_K0
    return np.divide(grid_m, k, out=k)


def check_pair(facilities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame) -> CRS:
    """Check a facility and a demand layer can be measured together; return their CRS."""
    for name, gdf in (("facilities", facilities), ("demand", demand)):
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise TypeError(f"{name} must be a GeoDataFrame, got {type(gdf).__name__}")
    crs = same_crs(("facilities", facilities), ("demand", demand))
    if "id" not in facilities.columns:
        raise ValidationError("facilities has no 'id' column; load it with load_facilities()")
    return crs


def metric_points(
    facilities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, crs_in: CRS
) -> tuple[CRS, np.ndarray, np.ndarray]:
    """The metric CRS for both layers and their point coordinates in it."""
    fac_xy, dem_xy = points_xy(facilities), points_xy(demand)
    if len(fac_xy) + len(dem_xy) == 0:
        return crs_in, fac_xy, dem_xy
    # bounds per column: a reduction over axis 0 of an (n, 2) array is several times slower
    cols = [c for xy in (fac_xy, dem_xy) if len(xy) for c in (xy[:, 0], xy[:, 1])]
    lo = (min(c.min() for c in cols[0::2]), min(c.min() for c in cols[1::2]))
    hi = (max(c.max() for c in cols[0::2]), max(c.max() for c in cols[1::2]))
    crs = metric_crs_from_bounds((lo[0], lo[1], hi[0], hi[1]), crs_in)
    # the coordinate arrays are ours: transform them in place
    return (
        crs,
        transform_xy(fac_xy, crs_in, crs, copy=False),
        transform_xy(dem_xy, crs_in, crs, copy=False),
    )


def resolve_type(facility_type: str | None, registry):
    """The registry entry for ``facility_type``, or None when no type is given."""
    if facility_type is None:
        return None
    from geo.layers import get_type

    return get_type(facility_type, registry)


def nearest_xy(fac_xy: np.ndarray, dem_xy: np.ndarray, crs: CRS):
    """Nearest facility row and ground metres for every demand point ((-1, inf) if none)."""
    if len(fac_xy) == 0 or len(dem_xy) == 0:
        return np.full(len(dem_xy), -1, dtype=np.int64), np.full(len(dem_xy), np.inf)
    # pykdtree: a KD-tree with OpenMP-parallel queries, ~2x scipy's cKDTree on this shape
    grid_m, idx = KDTree(fac_xy).query(dem_xy, k=1)
    idx = idx.astype(np.int64)
    return idx, ground_m(grid_m, dem_xy[:, 0], fac_xy[idx, 0], crs)


def project_onto_polyline(
    pts: np.ndarray, line_xy: np.ndarray, line_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Project points onto a polyline given by vertices and their along-line positions.

    Returns the along-line position of each point's closest location on the line and the
    distance to it. A one-vertex line is a point.
    """
    if len(line_xy) == 1:
        return np.full(len(pts), line_pos[0]), np.hypot(*(pts - line_xy[0]).T)
    a, b = line_xy[:-1], line_xy[1:]
    ab = b - a
    seg_len2 = np.einsum("ij,ij->i", ab, ab)
    seg_len2 = np.where(seg_len2 == 0, 1e-12, seg_len2)
    ap = pts[:, None, :] - a[None, :, :]
    t = np.clip(np.einsum("psk,sk->ps", ap, ab) / seg_len2[None, :], 0.0, 1.0)
    closest = a[None, :, :] + t[:, :, None] * ab[None, :, :]
    d = np.hypot(*(pts[:, None, :] - closest).transpose(2, 0, 1))
    s = np.argmin(d, axis=1)
    rows = np.arange(len(pts))
    pos = line_pos[s] + t[rows, s] * (line_pos[s + 1] - line_pos[s])
    return pos, d[rows, s]


def utm_scale_max(xy: np.ndarray, crs: CRS) -> float:
    """The largest UTM scale factor over the points ``xy`` (1.0 off UTM)."""
    if not len(xy) or not is_utm(crs):
        return 1.0
    dx = float(np.max(np.abs(xy[:, 0] - _UTM_FALSE_EASTING)))
    return _UTM_K0 * (1.0 + dx * dx / (2.0 * _EARTH_RADIUS_M**2))


def select_for_type(facilities, demand, ftype, groups):
    """Facilities of the type, demand of the groups it serves, and the facility ids."""
    if ftype is not None and "type" in facilities.columns:
        facilities = facilities[facilities["type"] == ftype.key]
    if groups is None and ftype is not None:
        groups = (ftype.demand_group,)
    if groups is not None and "group" in demand.columns:
        demand = demand[demand["group"].isin(list(groups))]
    fac_ids = facilities["id"].astype(str).to_numpy()
    if len(pd.unique(fac_ids)) != len(fac_ids):
        dup = pd.Series(fac_ids)[pd.Series(fac_ids).duplicated()].iloc[0]
        raise ValidationError(f"facility ids must be unique; {dup!r} appears more than once")
    return facilities, demand, fac_ids


def threshold_for(ftype, threshold_m: float | None) -> float:
    """The coverage threshold in metres: the one given, else the type's default."""
    if threshold_m is None:
        if ftype is None:
            raise ValueError("give threshold_m=, or facility_type= to use the type's default")
        threshold_m = float(ftype.threshold_m)
    if not (math.isfinite(threshold_m) and threshold_m > 0):
        raise ValueError(f"threshold_m must be a positive number of metres, got {threshold_m!r}")
    return float(threshold_m)
