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
import numpy as np
import shapely
from scipy import ndimage


def _scaled(t: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``f * t`` with ``0 * inf = 0`` (no travel needed at the node itself)."""
    with np.errstate(invalid="ignore"):
        return np.where(f == 0.0, 0.0, t * f)


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
    t = np.minimum(_scaled(t_bwd[seg], f) + t_u[seg], _scaled(t_fwd[seg], 1.0 - f) + t_v[seg])
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


__all__ = ["polygons_from_samples", "sample_times"]
