"""Datums and coordinate reference systems.

Chinese sources mix three datums: WGS84 (GPS, OpenStreetMap, Tianditu), GCJ-02
(AMap/Gaode, Tencent) and BD-09 (Baidu). GCJ-02 is WGS84 with a deliberate, smooth,
position-dependent offset of a few hundred metres; BD-09 is a further offset of GCJ-02.
The forward formulas are public; the inverses have no closed form and are solved here by
fixed-point iteration to well under a millimetre. Points outside China pass unchanged,
as the official obfuscation does not apply there.

All conversions take and return NumPy arrays (or anything ``np.asarray`` accepts) of
longitudes and latitudes in degrees, in that order.

Distances are never computed in degrees. Point-to-point distance (nearest facility,
pairs within a threshold) is the WGS84 geodesic at any extent (``geo._metric``); for local
geometry (buffers, areas, grids) :func:`metric_crs_for` picks the UTM zone of a layer's
centroid and :func:`to_metric` projects a layer there, refusing a layer with no CRS.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

from geo._chunks import in_chunks
from geo.errors import CRSError, ValidationError

log = logging.getLogger(__name__)

Datum = Literal["wgs84", "gcj02", "bd09"]
DATUMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
_BD_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006
_TOL_DEG = 1e-11  # ~1 micrometre: stopping rule of the iterative inverses
_MAX_ITER = 30


def _as_arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    if lon.shape != lat.shape:
        raise ValidationError(
            f"lon and lat must have the same shape, got {lon.shape!r} and {lat.shape!r}"
        )
    return lon, lat


def in_china(lon, lat) -> np.ndarray:
    """Whether each point lies in the rectangle where GCJ-02 offsets apply.

    This is the rectangle every public implementation uses (lon 72.004-137.8347,
    lat 0.8293-55.8271); points outside it are returned unchanged by all conversions.
    """
    lon, lat = _as_arrays(lon, lat)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84, in degrees, at WGS84 position (lon, lat)."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    six = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += six * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += six * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = np.radians(lat)
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 to GCJ-02 (AMap, Tencent).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02([121.8], [29.9])
    >>> round(float(lon[0]), 5), round(float(lat[0]), 5)
    (121.8042, 29.89751)
    """
    lon, lat = _as_arrays(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _invert(forward, lon, lat, first_guess) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(x) = (lon, lat) for x by fixed-point iteration from first_guess."""
    wlon, wlat = first_guess
    for _ in range(_MAX_ITER):
        flon, flat = forward(wlon, wlat)
        elon, elat = flon - lon, flat - lat
        wlon = wlon - elon
        wlat = wlat - elat
        if np.all(np.abs(elon) < _TOL_DEG) and np.all(np.abs(elat) < _TOL_DEG):
            break
    return wlon, wlat


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 to WGS84, iteratively, to far better than 0.01 m.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(*wgs84_to_gcj02([121.8], [29.9]))
    >>> abs(float(lon[0]) - 121.8) < 1e-9, abs(float(lat[0]) - 29.9) < 1e-9
    (True, True)
    """
    lon, lat = _as_arrays(lon, lat)
    wlon, wlat = _invert(wgs84_to_gcj02, lon, lat, (lon, lat))
    # A GCJ-02 point just outside the rectangle may come from a WGS84 point just inside;
    # only points whose solution is outside China are left as given.
    inside = in_china(wlon, wlat) | in_china(lon, lat)
    return np.where(inside, wlon, lon), np.where(inside, wlat, lat)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 to BD-09 (Baidu)."""
    lon, lat = _as_arrays(lon, lat)
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    blon = z * np.cos(theta) + _BD_DLON
    blat = z * np.sin(theta) + _BD_DLAT
    inside = in_china(lon, lat)
    return np.where(inside, blon, lon), np.where(inside, blat, lat)


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 to GCJ-02: Baidu's published inverse, refined by iteration."""
    lon, lat = _as_arrays(lon, lat)
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    guess = (z * np.cos(theta), z * np.sin(theta))
    glon, glat = _invert(gcj02_to_bd09, lon, lat, guess)
    inside = in_china(glon, glat) | in_china(lon, lat)
    return np.where(inside, glon, lon), np.where(inside, glat, lat)


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 to BD-09 (via GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 to WGS84 (via GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def check_datum(datum: str) -> str:
    """Normalise a datum name, raising :class:`CRSError` for an unknown one."""
    key = str(datum).lower().replace("-", "").replace("_", "")
    key = {"wgs": "wgs84", "gcj": "gcj02", "bd": "bd09", "baidu": "bd09", "amap": "gcj02"}.get(
        key, key
    )
    if key not in DATUMS:
        raise CRSError(
            f"datum={datum!r} is not known; use one of {', '.join(repr(d) for d in DATUMS)} "
            "(GPS/OpenStreetMap/Tianditu: 'wgs84'; AMap/Tencent: 'gcj02'; Baidu: 'bd09')"
        )
    return key


def to_wgs84(lon, lat, datum: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates given in ``datum`` to WGS84."""
    datum = check_datum(datum)
    if datum == "wgs84":
        return _as_arrays(lon, lat)
    return _TO_WGS84[datum](lon, lat)


def from_wgs84(lon, lat, datum: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 coordinates to ``datum`` (for drawing on AMap or Baidu tiles)."""
    datum = check_datum(datum)
    if datum == "wgs84":
        return _as_arrays(lon, lat)
    return _FROM_WGS84[datum](lon, lat)


def geometry_to_wgs84(geoms: gpd.GeoSeries, datum: str) -> gpd.GeoSeries:
    """Convert every vertex of a GeoSeries in ``datum`` to WGS84 (EPSG:4326).

    The series is taken to hold longitudes/latitudes in that datum whatever CRS it
    carries (GCJ-02 and BD-09 have no EPSG code; files in them usually claim 4326).
    """
    datum = check_datum(datum)
    if datum == "wgs84":
        return gpd.GeoSeries(geoms.values, index=geoms.index, crs="EPSG:4326")
    convert = _TO_WGS84[datum]

    def _xy(coords: np.ndarray) -> np.ndarray:
        lon, lat = convert(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    out = shapely.transform(np.asarray(geoms.values), _xy)
    return gpd.GeoSeries(out, index=geoms.index, crs="EPSG:4326")


def require_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries, name: str = "layer") -> CRS:
    """Return the CRS of ``gdf`` or raise :class:`CRSError` if it has none."""
    if gdf.crs is None:
        raise CRSError(
            f"{name} has no CRS; servicemap will not guess. Set one first, e.g. "
            f"`{name}.set_crs('EPSG:4326')` for longitude/latitude in WGS84."
        )
    return CRS.from_user_input(gdf.crs)


def same_crs(*layers: tuple[str, gpd.GeoDataFrame]) -> CRS:
    """Check named layers all carry the same CRS and return it."""
    crs = None
    first = None
    for name, gdf in layers:
        this = require_crs(gdf, name)
        if crs is None:
            crs, first = this, name
        elif not this.equals(crs):
            raise CRSError(
                f"{name} is in {this.to_string()!r} but {first} is in {crs.to_string()!r}; "
                f"reproject one, e.g. `{name}.to_crs({first}.crs)`."
            )
    if crs is None:
        raise ValidationError("same_crs() needs at least one layer")
    return crs


def metric_crs_for(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """Pick a metric CRS for a layer: the WGS84 UTM zone of its centroid.

    A layer already in a projected CRS in metres keeps it. For geometry over a district or
    a city (buffers, areas, grids): a zone is exact to parts per million within it, not
    across a province. Distances between points do not use it (see ``geo._metric``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> metric_crs_for(gpd.GeoSeries([Point(121.8, 29.9)], crs=4326)).to_epsg()
    32651
    """
    crs = require_crs(gdf)
    return metric_crs_from_bounds(tuple(gdf.total_bounds), crs)


def metric_crs_from_bounds(bounds: tuple[float, float, float, float], crs) -> CRS:
    """The metric CRS for data with ``bounds`` (minx, miny, maxx, maxy) in ``crs``.

    A projected CRS in metres is kept; for a geographic one, the UTM zone of the centre
    of the bounds (in WGS84) is returned.
    """
    crs = CRS.from_user_input(crs)
    if crs.is_projected and crs.axis_info and crs.axis_info[0].unit_name in ("metre", "meter"):
        return crs
    if not crs.is_geographic:
        raise CRSError(f"layer CRS {crs.to_string()!r} is neither geographic nor metric")
    minx, miny, maxx, maxy = bounds
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        raise CRSError("cannot choose a metric CRS for an empty layer")
    if crs.to_epsg() != 4326:
        corners = transform_xy(np.array([[minx, miny], [maxx, maxy]]), crs, "EPSG:4326")
        (minx, miny), (maxx, maxy) = corners
    lon = (minx + maxx) / 2.0
    lat = (miny + maxy) / 2.0
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def to_metric(gdf, crs: CRS | None = None):
    """Project a layer to ``crs`` (default: :func:`metric_crs_for` the layer)."""
    require_crs(gdf)
    crs = crs or metric_crs_for(gdf)
    return gdf.to_crs(crs)


def points_xy(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    """(n, 2) array of point coordinates (x, y), raising for anything but non-empty points."""
    geoms = np.asarray((gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf).values)
    xy = np.empty((len(geoms), 2))
    if len(geoms) == 0:
        return xy
    # get_x/get_y (NaN for anything but a point) are faster than get_coordinates plus a
    # type check; the slow diagnosis runs only when something is wrong.
    try:
        shapely.get_x(geoms, out=xy[:, 0])
        shapely.get_y(geoms, out=xy[:, 1])
        if not np.isnan(xy).any():
            return xy
    except shapely.errors.GEOSException:  # an empty point
        pass
    type_ids = shapely.get_type_id(geoms)
    for row, geom in enumerate(geoms):
        if geom is None:
            what = "missing"
        elif type_ids[row] != 0:
            what = repr(geom.geom_type)
        elif geom.is_empty:
            what = "an empty point"
        elif np.isnan(shapely.get_coordinates(geom)).any():
            what = "a point with a NaN coordinate"
        else:
            continue
        raise TypeError(f"expected Point geometries only; row {row} is {what}")
    raise AssertionError("unreachable: a bad geometry was detected but not found")


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str, thread: int) -> Transformer:
    # one Transformer per thread: a PROJ context must not be shared between threads
    if src.startswith("+proj=pipeline"):
        return Transformer.from_pipeline(src)
    return Transformer.from_crs(src, dst, always_xy=True)


# Within this many degrees of a UTM zone's central meridian, PROJ's approximate transverse
# Mercator (Evenden/Snyder, "+approx") agrees with the exact one (Poder/Engsager) to well
# under a millimetre, and runs about twice as fast.
_APPROX_TMERC_DEG = 4.0


def _utm_pipeline(src: CRS, dst: CRS, lon: np.ndarray) -> str | None:
    """A fast WGS84 -> UTM pipeline when it is as exact as the default, else None."""
    epsg_src, epsg_dst = src.to_epsg(), dst.to_epsg() or 0
    if epsg_src != 4326 or not (32601 <= epsg_dst <= 32660 or 32701 <= epsg_dst <= 32760):
        return None
    zone, south = epsg_dst % 100, epsg_dst > 32700
    central = zone * 6 - 183
    if max(abs(float(lon.min()) - central), abs(float(lon.max()) - central)) > _APPROX_TMERC_DEG:
        return None
    return (
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +proj=utm +zone={zone}{' +south' if south else ''} +ellps=WGS84 +approx"
    )


def transform_xy(xy: np.ndarray, src, dst, *, copy: bool = True) -> np.ndarray:
    """Transform an (n, 2) coordinate array between CRSs, in parallel threads for large n.

    PROJ releases the GIL, so chunks run concurrently: on 10^6 points this is about ten
    times faster than ``GeoDataFrame.to_crs``, which builds a new geometry per point.
    With ``copy=False`` a float64 C-ordered input is transformed in place.
    """
    src_crs, dst_crs = CRS.from_user_input(src), CRS.from_user_input(dst)
    out = np.array(xy, dtype="float64", order="C", copy=copy or None).reshape(-1, 2)
    if src_crs.equals(dst_crs) or len(out) == 0:
        return out
    pipeline = _utm_pipeline(src_crs, dst_crs, out[:, 0])
    src_s, dst_s = (pipeline, "") if pipeline else (src_crs.to_wkt(), dst_crs.to_wkt())

    def work(part: slice) -> None:
        tr = _transformer(src_s, dst_s, threading.get_ident())
        x, y = tr.transform(out[part, 0], out[part, 1])
        out[part, 0], out[part, 1] = x, y

    in_chunks(len(out), work)
    return out


def points_to_metric_xy(gdf: gpd.GeoDataFrame | gpd.GeoSeries, crs) -> np.ndarray:
    """Coordinates of a point layer in the metric ``crs``, as an (n, 2) array."""
    return transform_xy(points_xy(gdf), require_crs(gdf), crs)


__all__ = [
    "DATUMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_datum",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geometry_to_wgs84",
    "in_china",
    "metric_crs_for",
    "metric_crs_from_bounds",
    "points_to_metric_xy",
    "points_xy",
    "require_crs",
    "same_crs",
    "to_metric",
    "to_wgs84",
    "transform_xy",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]
