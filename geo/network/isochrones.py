"""Service-area polygons from reachable road: a buffer of the reachable network on a grid.

For one search (one facility, or all facilities at once for a dissolved map) every node
has a travel time ``T``. Along a segment the time at fraction ``f`` is
``min(f * t_back + T[u], (1 - f) * t_fwd + T[v])``, so a segment that is only partly
reachable is cut where that time passes the break. The segments are sampled every
``cell_m / 2``; each grid cell takes the smallest time of the samples in it; a minimum
filter over a disc of radius ``buffer_m`` turns that into "the earliest time of the road
within ``buffer_m``"; and the polygon for a break ``b`` is the filled contour ``<= b`` of
that field (contourpy). That is the ``buffer_m`` buffer of the reachable road, drawn to
within one grid cell, for every break at once, in milliseconds, where GEOS needs seconds
to union thousands of segment buffers.

Tolerance, stated: every point of the road reachable within ``b`` is inside the polygon
of ``b`` (its cell is within ``buffer_m - cell_m`` of the boundary at least); every point
inside the polygon lies within ``buffer_m + 2.5 * cell_m`` of road reachable within ``b``.
"""

from __future__ import annotations

import contourpy
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import ndimage
from scipy.sparse.csgraph import dijkstra

from geo.crs import transform_xy
from geo.network.graph import RoadNetwork
from geo.network.modes import TravelMode, get_mode, scaled_time
from geo.network.search import (
    SearchGraph,
    bounded_times,
    build_search,
    check_points,
    metric_xy,
    point_times,
    warn_off,
)
from geo.network.snap import snap_points


def sample_times(
    ex0: np.ndarray,
    ey0: np.ndarray,
    ex1: np.ndarray,
    ey1: np.ndarray,
    t_fwd: np.ndarray,
    t_bwd: np.ndarray,
    t_u: np.ndarray,
    t_v: np.ndarray,
    step_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points every ``step_m`` along segments, with the time to reach a facility from each.

    ``t_fwd``/``t_bwd`` are the segment's travel times u->v and v->u (inf: not allowed),
    ``t_u``/``t_v`` the times from its end nodes. Returns x, y, time of every sample.

    Examples
    --------
    >>> x, y, t = sample_times(*map(np.array, ([0.], [0.], [10.], [0.], [10.], [10.],
    ...                                         [0.], [np.inf])), step_m=5.0)
    >>> x.tolist(), t.tolist()
    ([0.0, 5.0, 10.0], [0.0, 5.0, 10.0])
    """
    length = np.hypot(ex1 - ex0, ey1 - ey0)
    n = np.maximum(np.ceil(length / step_m).astype(np.int64), 1) + 1
    seg = np.repeat(np.arange(len(n)), n)
    start = np.cumsum(n) - n
    k = np.arange(len(seg)) - start[seg]
    f = k / (n[seg] - 1)
    x = ex0[seg] + f * (ex1 - ex0)[seg]
    y = ey0[seg] + f * (ey1 - ey0)[seg]
    t = np.minimum(
        scaled_time(t_bwd[seg], f) + t_u[seg], scaled_time(t_fwd[seg], 1.0 - f) + t_v[seg]
    )
    return x, y, t


def _disc(radius_cells: float) -> np.ndarray:
    r = int(np.floor(radius_cells))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (xx * xx + yy * yy) <= radius_cells * radius_cells


def _rings_to_polygon(points: list[np.ndarray], offsets: list[np.ndarray]):
    polys = []
    for pts, offs in zip(points, offsets, strict=True):
        rings = [pts[a:b] for a, b in zip(offs[:-1], offs[1:], strict=True)]
        rings = [r for r in rings if len(r) >= 4]
        if rings:
            polys.append(shapely.Polygon(rings[0], rings[1:]))
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def polygons_from_samples(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    breaks_s: np.ndarray,
    *,
    buffer_m: float,
    cell_m: float,
) -> list:
    """One polygon per break: the ``buffer_m`` buffer of the samples with time <= break.

    Examples
    --------
    >>> x = np.arange(0, 101, 5.0); y = np.zeros_like(x); t = x.copy()  # 1 m/s road
    >>> p50, p100 = polygons_from_samples(x, y, t, np.array([50., 100.]), buffer_m=10,
    ...                                   cell_m=2)
    >>> bool(p50.contains(shapely.Point(50, 0))), bool(p50.contains(shapely.Point(75, 0)))
    (True, False)
    >>> 2000 < p100.area < 2500  # 100 m x 20 m, plus round ends
    True
    """
    out = []
    keep = t <= breaks_s.max()
    x, y, t = x[keep], y[keep], t[keep]
    if len(t) == 0:
        return [shapely.Polygon() for _ in breaks_s]
    pad = buffer_m + 2 * cell_m
    x0, y0 = x.min() - pad, y.min() - pad
    nx = int(np.ceil((x.max() + pad - x0) / cell_m)) + 1
    ny = int(np.ceil((y.max() + pad - y0) / cell_m)) + 1
    ix = np.rint((x - x0) / cell_m).astype(np.int64)
    iy = np.rint((y - y0) / cell_m).astype(np.int64)
    # "never" outside every buffer: a moderate value, so that the contour between a reached
    # cell and an unreached one falls visibly between them, not (numerically) on the
    # reached cell, where boundaries from neighbouring squares would touch
    far = 2.0 * float(breaks_s.max()) + 1.0
    grid = np.full(ny * nx, far)
    np.minimum.at(grid, iy * nx + ix, t)
    field = ndimage.minimum_filter(
        grid.reshape(ny, nx), footprint=_disc(buffer_m / cell_m), mode="constant", cval=far
    )
    # contour in local coordinates (better conditioned), then shift
    gen = contourpy.contour_generator(
        cell_m * np.arange(nx),
        cell_m * np.arange(ny),
        field,
        fill_type=contourpy.FillType.OuterOffset,
    )
    for b in breaks_s:
        pts, offs = gen.filled(-1.0, float(b))  # type: ignore[misc]
        out.append(_rings_to_polygon([p + (x0, y0) for p in pts], offs))  # type: ignore[operator, arg-type]
    polys = np.asarray(out, dtype=object)
    bad = ~shapely.is_valid(polys)
    if bad.any():  # rare: a ring touching itself at a saddle of the grid
        polys[bad] = shapely.make_valid(polys[bad], method="structure")
    return list(polys)


def _search_samples(search: SearchGraph, t: np.ndarray, upto: float, step: float):
    """Samples of the road reachable within ``upto`` (plus facility legs) for one field."""
    near = np.flatnonzero(t <= upto)
    lo, hi = search.inc_ptr[near], search.inc_ptr[near + 1]
    cnt = hi - lo
    pos = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))
    mark = np.zeros(len(search.u), dtype=bool)
    mark[search.inc_edge[pos]] = True
    reach = np.flatnonzero(mark)
    x, y, tt = sample_times(
        search.x[search.u[reach]],
        search.y[search.u[reach]],
        search.x[search.v[reach]],
        search.y[search.v[reach]],
        search.fwd[reach],
        search.bwd[reach],
        t[search.u[reach]],
        t[search.v[reach]],
        step,
    )
    # the off-road legs of the facilities: walked both ways
    src = search.sources[search.fac_ok]
    src = src[np.isfinite(t[src])]  # in a bounded search, only its own facility
    join = search.fac_join[src - search.n - search.n_fac]
    lt = t[join] - t[src]
    lx, ly, ltt = sample_times(
        search.x[src],
        search.y[src],
        search.x[join],
        search.y[join],
        lt,
        lt,
        t[src],
        t[join],
        step,
    )
    return np.r_[x, lx], np.r_[y, ly], np.r_[tt, ltt]


def service_areas(
    network: RoadNetwork,
    facilities: gpd.GeoDataFrame,
    *,
    breaks_s=(300, 600, 900),
    mode: str | TravelMode = "walk",
    demand: gpd.GeoDataFrame | None = None,
    dissolve: bool = False,
    buffer_m: float = 25.0,
    cell_m: float | None = None,
    max_snap_m: float | None = None,
) -> gpd.GeoDataFrame:
    """Service areas (isochrones): where a facility can be reached within each break.

    Each polygon is the ``buffer_m`` buffer of the road from which the facility is reached
    within the break, partial segments cut where the time runs out (built on a
    ``cell_m`` grid, see :mod:`geo.network.isochrones` for the stated tolerance). Not a convex
    hull: a river or an expressway without a crossing stays outside.

    Parameters
    ----------
    breaks_s : sequence of float
        Travel-time breaks, seconds (default 5, 10 and 15 minutes).
    demand : GeoDataFrame, optional
        Weighted demand points; adds ``people``: the sum of ``weight`` of the points whose
        travel time to the facility (snapped as in every search, off-road leg included)
        is within the break. By reachability, not by the polygon, which is the drawing:
        a point inside it may still be too far in time (across a one-way street, beside a
        road it cannot get onto).
    dissolve : bool
        One polygon per break for all facilities together (from the multi-source
        search) instead of one per facility and break.
    buffer_m, cell_m : float
        Buffer width around reachable road, and grid cell (default ``buffer_m / 3``).

    Returns
    -------
    GeoDataFrame (EPSG:4326)
        ``facility_id`` ("" when dissolved), ``break_s``, ``mode``, ``people`` (when
        ``demand`` is given) and the polygon.
    """
    check_points(facilities, "facilities")
    mode = get_mode(mode)
    breaks = np.sort(np.asarray(list(breaks_s), dtype="float64"))
    if len(breaks) == 0 or not (np.isfinite(breaks).all() and (breaks > 0).all()):
        raise ValueError(f"breaks_s must be positive numbers of seconds, got {breaks_s!r}")
    if not buffer_m > 0:
        raise ValueError(f"buffer_m must be positive, got {buffer_m!r}")
    cell = float(cell_m) if cell_m is not None else buffer_m / 3.0
    step = cell / 2.0
    fxy = metric_xy(network, facilities)
    ids = (
        facilities["id"].astype(str).to_numpy()
        if "id" in facilities
        else np.asarray(facilities.index.astype(str))
    )
    geoms, fac_col, brk_col, people = [], [], [], []
    reach = None if demand is None else _Reach(network, demand, mode, max_snap_m)
    if dissolve:
        access_ms = mode.settings.access_speed_kmh / 3.6
        fsnap = snap_points(network, fxy, mode, max_snap_m=max_snap_m)
        warn_off("facility", fsnap, ids, mode.settings.max_snap_m)
        search = build_search(network, mode, fsnap, access_ms, fxy)
        if search.fac_ok.any():
            t = dijkstra(
                search.csr,
                indices=search.sources[search.fac_ok],
                min_only=True,
                limit=float(breaks[-1]),
            )
            x, y, tt = _search_samples(search, t, breaks[-1], step)
            polys = polygons_from_samples(x, y, tt, breaks, buffer_m=buffer_m, cell_m=cell)
            if reach is not None:
                people += reach.people(search, t, breaks)
        else:
            polys = [shapely.Polygon() for _ in breaks]
            people += [0.0] * len(breaks)
        geoms += polys
        fac_col += [""] * len(breaks)
        brk_col += list(breaks)
    else:
        for search, chunk, t in bounded_times(
            network, fxy, mode, limit_s=float(breaks[-1]), max_snap_m=max_snap_m
        ):
            for row, i in enumerate(chunk):
                x, y, tt = _search_samples(search, t[row], breaks[-1], step)
                geoms += polygons_from_samples(x, y, tt, breaks, buffer_m=buffer_m, cell_m=cell)
                if reach is not None:
                    people += reach.people(search, t[row], breaks)
                fac_col += [ids[i]] * len(breaks)
                brk_col += list(breaks)
    geoms_arr = np.asarray(geoms, dtype=object)
    out = gpd.GeoDataFrame(
        {
            "facility_id": pd.Series(fac_col, dtype=object),
            "break_s": np.asarray(brk_col, dtype="float64"),
            "mode": mode.name,
        },
        geometry=gpd.GeoSeries(geoms_arr, crs=network.crs),
    )
    if demand is not None:
        out["people"] = np.asarray(people, dtype="float64")
    out = out.set_geometry(_to_wgs84(geoms_arr, network.crs))
    out.attrs = {"buffer_m": float(buffer_m), "cell_m": cell, "mode": mode.name}
    return out


class _Reach:
    """The demand of :func:`service_areas`: snapped once, counted by travel time.

    A person is inside a service area when their travel time to the facility (off-road
    leg included) is within the break, not when they sit inside its polygon: a point in
    the polygon may be beside a road it cannot get onto, or across a one-way street.
    """

    def __init__(self, network: RoadNetwork, demand, mode: TravelMode, max_snap_m):
        check_points(demand, "demand")
        self.snap = snap_points(network, metric_xy(network, demand), mode, max_snap_m=max_snap_m)
        self.on = np.flatnonzero(~self.snap.off_network)
        w = demand["weight"].to_numpy(dtype="float64") if "weight" in demand else None
        self.weight = (np.ones(len(demand)) if w is None else w)[self.on]
        self.leg_s = self.snap.dist_m[self.on] / (mode.settings.access_speed_kmh / 3.6)
        self._located: tuple[SearchGraph, np.ndarray, np.ndarray] | None = None

    def people(self, search: SearchGraph, node_t: np.ndarray, breaks: np.ndarray) -> list:
        """Weighted people who reach the search's sources within each break."""
        if self._located is None or self._located[0] is not search:
            j, f = search.locate(self.snap.edge[self.on], self.snap.frac[self.on])
            self._located = (search, j, f)
        _, j, f = self._located
        tt, _ = point_times(search, node_t, j, f)
        tt = tt + self.leg_s
        return [float(self.weight[tt <= b].sum()) for b in breaks]


def _to_wgs84(geoms: np.ndarray, crs: CRS) -> gpd.GeoSeries:
    out = shapely.transform(geoms, lambda c: transform_xy(c, crs, "EPSG:4326"))
    return gpd.GeoSeries(out, crs="EPSG:4326")


__all__ = ["polygons_from_samples", "sample_times", "service_areas"]
