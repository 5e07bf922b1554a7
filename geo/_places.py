"""Two small geometric ideas shared by coverage, accessibility and siting.

- :func:`points_in_areas`: which demand point lies in which area (sub-district, industrial
  community), once per area level;
- :func:`route_lines`, :func:`route_distances`, :func:`route_offsets`: freight routes
  rebuilt from their demand samples (``route_id``, ``route_pos_m``) and the distance from
  a site to (or along) them.

Private to ``geo``: :mod:`geo.coverage`, :mod:`geo.access` and :mod:`geo.siting` call
these; outside it only :mod:`web.qr` does (the facilities of one area, for its QR plates).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo._metric import ground_m, pairs_within, project_onto_polyline
from geo.crs import metric_crs_from_bounds, same_crs, transform_xy


def points_in_areas(
    points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, np.ndarray, np.ndarray]:
    """(areas reindexed, point positions, area positions) of every point in every area.

    A point is assigned to each area that contains it (areas of different ``level`` may
    overlap); a point on the shared edge of two areas of one level counts once, in the
    first. Raises :class:`geo.errors.CRSError` when the CRSs differ.
    """
    same_crs(("result", points), ("areas", areas))
    a = areas.reset_index(drop=True)
    pt_i, area_i = a.sindex.query(points.geometry.to_numpy(), predicate="intersects")
    level = a["level"].to_numpy()[area_i] if "level" in a.columns else np.zeros(len(area_i))
    first = ~pd.DataFrame({"p": pt_i, "lvl": level}).duplicated().to_numpy()
    return a, pt_i[first], area_i[first]


def route_lines(
    dem_xy: np.ndarray, route_ids: np.ndarray, pos: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each freight route rebuilt from its samples: ``{route id: (rows, xy, pos)}``.

    ``rows`` are the samples' positions in the input, ordered by ``pos`` (``route_pos_m``);
    ``xy`` are their coordinates in whatever space they were given (metres or lon/lat).
    """
    lines = {}
    for rid in pd.unique(route_ids):
        rows = np.flatnonzero(route_ids == rid)
        rows = rows[np.argsort(pos[rows], kind="stable")]
        lines[rid] = (rows, dem_xy[rows], pos[rows])
    return lines


def route_offsets(site_xy: np.ndarray, lines) -> np.ndarray:
    """Metres from every site to every route of :func:`route_lines`, (routes x sites)."""
    out = np.full((len(lines), len(site_xy)), np.inf)
    if len(site_xy) == 0:
        return out
    for k, (_, xy, p) in enumerate(lines.values()):
        out[k] = project_onto_polyline(site_xy, xy, p)[1]
    return out


def route_distances(
    fac_ll: np.ndarray,
    dem_ll: np.ndarray,
    route_ids: np.ndarray,
    pos: np.ndarray,
    *,
    max_offroute_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance along each freight route to the nearest reachable facility.

    The route is rebuilt from its samples (ordered by ``route_pos_m``); a facility within
    ``max_offroute_m`` of the route is reached at its projection onto the route, and the
    distance for a sample is ``|pos - access_pos| + offroute leg``. Samples with no
    reachable facility get ``(-1, nan)``. Each route is drawn in the UTM zone of its own
    samples, with only the facilities that can be near it, so a far-away point moves
    nothing.
    """
    n = len(dem_ll)
    nearest = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    if len(fac_ll) == 0:
        return nearest, dist
    for rows, ll, p in route_lines(dem_ll, route_ids, pos).values():
        # a facility within max_offroute_m of a piece of the route is within that plus
        # half the piece's length of one of its ends
        gap = float(np.max(np.diff(p), initial=0.0))
        _, near, _ = pairs_within(fac_ll, ll, max_offroute_m + gap / 2 + 1.0)
        near = np.unique(near)
        if len(near) == 0:
            continue
        lo, hi = ll.min(axis=0), ll.max(axis=0)
        crs = metric_crs_from_bounds((lo[0], lo[1], hi[0], hi[1]), "EPSG:4326")
        xy = transform_xy(ll, "EPSG:4326", crs)
        fxy = transform_xy(fac_ll[near], "EPSG:4326", crs)
        access_pos, leg = project_onto_polyline(fxy, xy, p)
        leg = ground_m(leg, fxy[:, 0], fxy[:, 0], crs)
        ok = leg <= max_offroute_m
        if not ok.any():
            continue
        cand = np.flatnonzero(ok)
        # (samples x reachable facilities): routes have at most a few hundred samples
        # and a district a handful of driver homes, so this table stays small.
        total = np.abs(p[:, None] - access_pos[cand][None, :]) + leg[cand][None, :]
        best = np.argmin(total, axis=1)
        nearest[rows] = near[cand[best]]
        dist[rows] = total[np.arange(len(rows)), best]
    return nearest, dist
