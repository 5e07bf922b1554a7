"""Metric primitives shared by coverage, access and siting (private).

Straight-line distance is the geodesic on the WGS84 ellipsoid, at any extent: from one
street to the whole of China, and independent of the extent (a stray point at 0,0 moves
nobody else's distance). Candidates come from a KD-tree on 3-D unit vectors (the
ellipsoid's surface normals, so chord order is great-circle order on the unit sphere) and
are refined on the ellipsoid with a margin that provably keeps the true geodesic nearest
(:func:`nearest_geodesic`, :func:`pairs_within`). The planar helpers (:func:`metric_points`,
:func:`ground_m`) remain for district-scale geometry (candidate grids, route offsets).
Arrays in, arrays out, apart from the input checks.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
from pykdtree.kdtree import KDTree
from pyproj import CRS, Geod

from geo._chunks import in_chunks
from geo.crs import metric_crs_from_bounds, points_xy, same_crs, transform_xy
from geo.errors import ValidationError, check_positive

_GEOD = Geod(ellps="WGS84")
_A_M = 6_378_137.0  # WGS84 semi-major axis
_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)  # first eccentricity squared
# The smallest and largest radius of curvature of the ellipsoid: the meridional radius at
# the equator, a(1 - e^2), and the radius at the poles, a / sqrt(1 - e^2).
_R_MIN_M = _A_M * (1 - _E2)
_R_MAX_M = _A_M / math.sqrt(1 - _E2)
# Geodesics up to this long use the closed form of _short_geodesic_m (validated against
# pyproj.Geod: under 1e-5 m); longer ones are computed by pyproj.Geod (Karney).
_SHORT_M = 200_000.0
_SHORT_CHORD = 2.0 * math.sin(_SHORT_M / _R_MAX_M / 2.0)
# Slack on the candidate margin: the short form's error (< 1e-5 m) and float rounding.
_SLACK_M = 1e-3
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


# --------------------------------------------------------------------------- geodesic
def unit_vectors(lonlat: np.ndarray) -> np.ndarray:
    """(n, 3) unit normals of the WGS84 ellipsoid at (lon, lat) degrees.

    Used as points on the unit sphere: the chord between two of them is
    ``2 sin(theta / 2)`` for the angle theta between them, so chord order is the order of
    great-circle distance on the unit sphere (and a KD-tree on them works at any extent).
    """
    lonlat = np.asarray(lonlat, dtype="float64").reshape(-1, 2)
    lam, phi = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    out = np.empty((len(lonlat), 3))
    cphi = np.cos(phi)
    np.multiply(cphi, np.cos(lam), out=out[:, 0])
    np.multiply(cphi, np.sin(lam), out=out[:, 1])
    np.sin(phi, out=out[:, 2])
    return out


def _short_geodesic_m(n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """Geodesic metres between ellipsoid points given by unit normals (short distances).

    The 3-D chord C between the points, bent into the arc of the normal section at the
    midpoint in the chord's direction: ``s = 2 rho asin(C / (2 rho))``, with
    ``1/rho = cos^2(az)/M + sin^2(az)/N`` (Euler) at the midpoint's latitude. Against
    pyproj.Geod on 400,000 random pairs at every latitude: error under 1e-8 m to 50 km,
    8e-6 m to 200 km (0.7 mm at 500 km), so it is used up to ``_SHORT_M``.
    """
    x1, y1, z1 = n1[:, 0], n1[:, 1], n1[:, 2]
    x2, y2, z2 = n2[:, 0], n2[:, 1], n2[:, 2]
    # earth-centred metres: N(phi) * normal, z shrunk by (1 - e^2)
    r1 = _A_M / np.sqrt(1.0 - _E2 * z1 * z1)
    r2 = _A_M / np.sqrt(1.0 - _E2 * z2 * z2)
    dx, dy = x2 * r2 - x1 * r1, y2 * r2 - y1 * r1
    dz = (z2 * r2 - z1 * r1) * (1.0 - _E2)
    c2 = dx * dx + dy * dy + dz * dz
    # the midpoint's normal (n1 + n2, never 0 this short)
    mx, my, mz = x1 + x2, y1 + y2, z1 + z2
    inv = 1.0 / np.sqrt(mx * mx + my * my + mz * mz)
    s_phi = mz * inv
    d_up = (dx * mx + dy * my + dz * mz) * inv
    c_phi2 = 1.0 - s_phi * s_phi
    h2 = c2 - d_up * d_up  # the chord's horizontal part, squared
    d_north = dz - s_phi * d_up  # times cos(phi)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_az2 = np.clip(d_north * d_north / (h2 * c_phi2), 0.0, 1.0)
    cos_az2[~((h2 > 0) & (c_phi2 > 0))] = 1.0  # no direction: a pole, or the same point
    w2 = 1.0 - _E2 * s_phi * s_phi
    # 1/rho = cos^2/M + sin^2/N, with M = a(1-e^2)/w^3 and N = a/w
    sw = np.sqrt(w2)
    inv_rho = (cos_az2 * (w2 * sw / (1.0 - _E2)) + (1.0 - cos_az2) * sw) / _A_M
    half = 0.5 * np.sqrt(c2) * inv_rho
    return 2.0 * np.arcsin(np.minimum(half, 1.0)) / inv_rho


def geodesic_m(a: np.ndarray, b: np.ndarray, na=None, nb=None, chord=None) -> np.ndarray:
    """WGS84 geodesic metres between (lon, lat) rows of ``a`` and ``b`` (vectorised).

    ``na``/``nb``: their :func:`unit_vectors`, and ``chord`` the distance between those,
    when already at hand. Short pairs by the closed form of :func:`_short_geodesic_m`,
    long ones (possibly over 200 km) by pyproj.Geod.

    Examples
    --------
    >>> a = np.array([[121.80, 29.90], [73.0, 18.0]])
    >>> b = np.array([[121.81, 29.90], [135.0, 53.0]])
    >>> got = geodesic_m(a, b)
    >>> want = Geod(ellps="WGS84").inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2]
    >>> bool(np.abs(got - want).max() < 1e-6)
    True
    """
    a = np.asarray(a, dtype="float64").reshape(-1, 2)
    b = np.asarray(b, dtype="float64").reshape(-1, 2)
    na = unit_vectors(a) if na is None else na
    nb = unit_vectors(b) if nb is None else nb
    if len(a) == 0:
        return np.zeros(0)
    if chord is None:
        d = na - nb
        chord = np.sqrt(np.einsum("ij,ij->i", d, d))
    # s <= R_MAX * theta (see _chord_for): within _SHORT_CHORD, s is at most _SHORT_M
    long = chord > _SHORT_CHORD
    if not long.any():
        return _short_geodesic_m(na, nb)
    out = np.empty(len(a))
    short = ~long
    out[short] = _short_geodesic_m(na[short], nb[short])
    _, _, out[long] = _GEOD.inv(a[long, 0], a[long, 1], b[long, 0], b[long, 1])
    return out


def _chord_for(s_m: np.ndarray | float) -> np.ndarray:
    """The largest unit-sphere chord of two points whose geodesic is at most ``s_m``.

    Margin, proved: on the ellipsoid, in geodetic coordinates,
    ``ds^2 = M^2 dphi^2 + N^2 cos^2(phi) dlam^2``; on the unit sphere of the normals,
    ``dtheta^2 = dphi^2 + cos^2(phi) dlam^2``. Since ``R_MIN = M(0) <= M(phi) <= N(phi)
    <= N(90) = R_MAX``, every curve is at least ``R_MIN`` times longer on the ellipsoid
    than its image on the sphere, so the geodesic s between two points and their angle
    theta satisfy ``R_MIN * theta <= s`` (and ``s <= R_MAX * theta``, along the image of
    the great circle). A point within s of another is therefore within the angle
    ``s / R_MIN``, i.e. the chord ``2 sin(min(s / R_MIN, pi) / 2)``.
    """
    theta = np.minimum((np.asarray(s_m, dtype="float64") + _SLACK_M) / _R_MIN_M, np.pi)
    return 2.0 * np.sin(theta / 2.0) * (1.0 + 1e-12) + 1e-15


def nearest_geodesic(fac_ll: np.ndarray, dem_ll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest facility row and WGS84 geodesic metres for every demand point.

    Correct at any extent: the chord-nearest facility c on the unit sphere gives a
    geodesic s_c; the true geodesic nearest is within s_c too, so within the chord
    ``_chord_for(s_c)`` (proof there). The KD-tree returns the two chord-nearest: when
    the second is beyond that chord, the first is the answer; otherwise (about 1 % of
    points) every facility within the chord is measured and the geodesic smallest wins.
    ``(-1, inf)`` for every point when there are no facilities.
    """
    fac_ll = np.asarray(fac_ll, dtype="float64").reshape(-1, 2)
    dem_ll = np.asarray(dem_ll, dtype="float64").reshape(-1, 2)
    n = len(dem_ll)
    if len(fac_ll) == 0 or n == 0:
        return np.full(n, -1, dtype=np.int64), np.full(n, np.inf)
    nf = unit_vectors(fac_ll)
    k = min(2, len(fac_ll))
    # pykdtree: OpenMP-parallel queries, ~2x scipy's cKDTree on this shape
    tree = KDTree(nf)

    def nearest(part: slice) -> tuple[np.ndarray, np.ndarray]:
        dem = dem_ll[part]
        nd = unit_vectors(dem)
        chord, idx = tree.query(nd, k=k)
        chord, idx = chord.reshape(len(dem), k), idx.reshape(len(dem), k).astype(np.int64)
        best = idx[:, 0].copy()
        dist = geodesic_m(fac_ll[best], dem, nf[best], nd, chord[:, 0])
        if k == 1:
            return best, dist
        reach = _chord_for(dist)
        open_ = np.flatnonzero(chord[:, 1] <= reach)
        if len(open_):
            rows, cols = _within_chord(tree, nf, nd, open_, reach[open_])
            d = geodesic_m(fac_ll[cols], dem[rows], nf[cols], nd[rows])
            order = np.lexsort((cols, d, rows))  # per point, the smallest (then lowest row)
            first = np.r_[True, rows[order][1:] != rows[order][:-1]]
            pick = order[first]
            best[rows[pick]], dist[rows[pick]] = cols[pick], d[pick]
        return best, dist

    # the geodesic arithmetic (numpy) is most of the time: a thread per core
    parts = in_chunks(n, nearest)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


#: facilities asked of the KD-tree per point in :func:`_within_chord` at first
_BALL_K = 16


def _within_chord(
    tree: KDTree, nf: np.ndarray, nd: np.ndarray, rows: np.ndarray, reach: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(demand row, facility) of every facility within the chord ``reach[i]`` of the
    demand point ``rows[i]`` (unit vectors ``nf``, ``nd``; ``tree`` is ``KDTree(nf)``).

    A ball query made of k-nearest queries on the nearest search's pykdtree (SciPy's
    would cost 0.7 s of start-up to a command that needs it for a few points): the ``k``
    chord-nearest hold every facility within a point's reach when the last of them is
    beyond it; the points for which it is not are asked again with twice the ``k``.
    In no particular order.
    """
    out_rows, out_cols = [], []
    k = min(_BALL_K, len(nf))
    while len(rows):
        chord, idx = tree.query(nd[rows], k=k, distance_upper_bound=float(reach.max()))
        chord, idx = chord.reshape(len(rows), k), idx.reshape(len(rows), k)
        inside = chord <= reach[:, None]
        # (a copy: the next line changes ``inside``, of which the column is a view)
        more = inside[:, -1].copy() if k < len(nf) else np.zeros(len(rows), dtype=bool)
        inside[more] = False  # asked again, with a larger k
        r, c = np.nonzero(inside)
        out_rows.append(rows[r])
        out_cols.append(idx[r, c].astype(np.int64))
        rows, reach, k = rows[more], reach[more], min(2 * k, len(nf))
    if not out_rows:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(out_rows), np.concatenate(out_cols)


#: demand points per block in :func:`pairs_within`
_PAIR_BLOCK = 65_536


def pairs_within(
    fac_ll: np.ndarray, dem_ll: np.ndarray, max_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(demand row, facility, geodesic metres) of every pair within ``max_m``, row-sorted.

    A ball query on the unit sphere with the chord that provably holds every pair within
    ``max_m`` of geodesic (``_chord_for``), then the exact test on the ellipsoid: the same
    metric as :func:`nearest_geodesic`, so coverage, accessibility and siting agree.
    """
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    fac_ll = np.asarray(fac_ll, dtype="float64").reshape(-1, 2)
    dem_ll = np.asarray(dem_ll, dtype="float64").reshape(-1, 2)
    if len(fac_ll) == 0 or len(dem_ll) == 0:
        return empty
    # SciPy's dual-tree ball query: about twice as fast here as _within_chord's repeated
    # k-nearest queries, where a point has tens of facilities within reach
    from scipy.spatial import cKDTree

    nf = unit_vectors(fac_ll)
    fac_tree, reach = cKDTree(nf), float(_chord_for(max_m))

    def block_pairs(part: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        start, block = part.start, dem_ll[part]
        nd = unit_vectors(block)
        rec = cKDTree(nd).sparse_distance_matrix(fac_tree, reach, output_type="ndarray")
        rows, cols = rec["i"].astype(np.int64), rec["j"].astype(np.int64)
        del rec
        dist = geodesic_m(fac_ll[cols], block[rows], nf[cols], nd[rows])
        keep = dist <= max_m
        rows, cols, dist = rows[keep], cols[keep], dist[keep]
        order = np.lexsort((cols, rows))
        return rows[order] + start, cols[order], dist[order]

    # demand in blocks: the candidate pairs and the geodesic's temporaries are those of a
    # block (memory bounded by the blocks in flight, not by all pairs); SciPy's query and
    # numpy's arithmetic release the GIL (2x on 2 cores)
    parts = in_chunks(len(dem_ll), block_pairs, _PAIR_BLOCK)
    if len(parts) == 1:
        return parts[0]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def to_lonlat(xy: np.ndarray, crs) -> np.ndarray:
    """(n, 2) WGS84 lon/lat of coordinates in ``crs`` (the same array when already WGS84)."""
    return transform_xy(xy, crs, "EPSG:4326")


def wgs84_points(
    facilities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, crs_in: CRS
) -> tuple[np.ndarray, np.ndarray]:
    """Both layers' point coordinates as WGS84 lon/lat arrays (transformed in place)."""
    return (
        transform_xy(points_xy(facilities), crs_in, "EPSG:4326", copy=False),
        transform_xy(points_xy(demand), crs_in, "EPSG:4326", copy=False),
    )


def pairs_within_xy(
    fac_xy: np.ndarray, dem_xy: np.ndarray, crs, max_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pairs_within` for coordinates in ``crs`` (as from :func:`metric_points`)."""
    return pairs_within(to_lonlat(fac_xy, crs), to_lonlat(dem_xy, crs), max_m)


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


def nearest_xy(fac_xy: np.ndarray, dem_xy: np.ndarray, crs):
    """Nearest facility row and geodesic metres for points in ``crs`` ((-1, inf) if none).

    :func:`nearest_geodesic` on the points' WGS84 coordinates: the same answer whatever
    metric CRS the coordinates were projected to.
    """
    return nearest_geodesic(to_lonlat(fac_xy, crs), to_lonlat(dem_xy, crs))


def project_to_segments(px, py, ax, ay, bx, by) -> tuple[np.ndarray, np.ndarray]:
    """Project points onto segments A-B: the fraction ``f`` along A->B and the distance.

    ``f`` is clamped to [0, 1]; a zero-length segment gives ``f = 0``.

    Examples
    --------
    >>> f, d = project_to_segments([3.0, -2.0], [4.0, 1.0], [0.0, 0.0], [0.0, 0.0],
    ...                            [10.0, 10.0], [0.0, 0.0])
    >>> f.tolist(), d.tolist()
    ([0.3, 0.0], [4.0, 2.23606797749979])
    """
    px, py, ax, ay, bx, by = (np.asarray(a, dtype="float64") for a in (px, py, ax, ay, bx, by))
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(len2 > 0, ((px - ax) * dx + (py - ay) * dy) / len2, 0.0)
    f = np.clip(f, 0.0, 1.0)
    return f, np.hypot(ax + f * dx - px, ay + f * dy - py)


def project_onto_polyline(
    pts: np.ndarray, line_xy: np.ndarray, line_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Project points onto a polyline given by vertices and their along-line positions.

    Returns the along-line position of each point's closest location on the line and the
    distance to it. A one-vertex line is a point. Every (point, piece) pair through
    :func:`project_to_segments`.

    Examples
    --------
    >>> pos, d = project_onto_polyline(np.array([[5.0, 2.0], [12.0, 7.0]]),
    ...     np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]), np.array([0.0, 10.0, 20.0]))
    >>> pos.tolist(), d.tolist()
    ([5.0, 17.0], [2.0, 2.0])
    """
    pts = np.asarray(pts, dtype="float64").reshape(-1, 2)
    if len(line_xy) == 1:
        return np.full(len(pts), line_pos[0]), np.hypot(*(pts - line_xy[0]).T)
    a, b = line_xy[:-1], line_xy[1:]
    f, d = project_to_segments(
        pts[:, None, 0], pts[:, None, 1], a[None, :, 0], a[None, :, 1], b[None, :, 0], b[None, :, 1]
    )
    s = np.argmin(d, axis=1)
    rows = np.arange(len(pts))
    pos = line_pos[s] + f[rows, s] * (line_pos[s + 1] - line_pos[s])
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
            raise ValidationError("give threshold_m=, or facility_type= to use the type's default")
        threshold_m = float(ftype.threshold_m)
    return check_positive(threshold_m, "threshold_m", "metres")
