"""Where points join the road network: the nearest point of the nearest usable segment.

Points (demand, facilities) join the network at the nearest point of the nearest segment
the mode may use; the off-road leg is walked at ``access_speed_kmh``. Points farther than
``max_snap_m`` from any usable road are reported (``off_network``), never silently snapped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from geo.network.graph import RoadNetwork
from geo.network.modes import TravelMode, get_mode, mode_times


# --------------------------------------------------------------------------- geometry
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


@dataclass(frozen=True)
class Snap:
    """Where points join the network.

    ``edge`` (-1 when off the network), ``frac`` (0 at ``edge_u``, 1 at ``edge_v``),
    ``dist_m`` (the off-road leg, metres; measured even when too far) and ``off_network``.
    """

    edge: np.ndarray
    frac: np.ndarray
    dist_m: np.ndarray
    off_network: np.ndarray


def _segment_tree(net: RoadNetwork, mode: TravelMode) -> tuple[shapely.STRtree, np.ndarray]:
    def build():
        fwd, bwd = mode_times(net, mode)
        idx = np.flatnonzero(np.isfinite(fwd) | np.isfinite(bwd))
        coords = np.stack(
            [
                np.column_stack([net.node_x[net.edge_u[idx]], net.node_y[net.edge_u[idx]]]),
                np.column_stack([net.node_x[net.edge_v[idx]], net.node_y[net.edge_v[idx]]]),
            ],
            axis=1,
        )
        return shapely.STRtree(shapely.linestrings(coords)), idx

    return net.cached(("tree", mode.fingerprint), build)


def snap_points(
    net: RoadNetwork, xy: np.ndarray, mode: str | TravelMode, *, max_snap_m: float | None = None
) -> Snap:
    """Snap points (in ``net.crs``) to the nearest segment the mode may use.

    Points farther than ``max_snap_m`` (default: the mode file's ``max_snap_m``) from every
    usable segment are ``off_network`` with ``edge = -1``; their distance is still measured.
    """
    mode = get_mode(mode)
    max_snap_m = mode.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    xy = np.asarray(xy, dtype="float64").reshape(-1, 2)
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    frac = np.zeros(n)
    dist = np.full(n, np.inf)
    tree, idx = _segment_tree(net, mode)
    if n == 0 or len(idx) == 0:
        return Snap(edge, frac, dist, np.ones(n, dtype=bool))
    pts = shapely.points(xy)
    (qi, ti), _ = tree.query_nearest(pts, max_distance=max_snap_m, return_distance=True)
    # ties: keep the first match of each point
    first = np.r_[True, qi[1:] != qi[:-1]] if len(qi) else np.zeros(0, bool)
    qi, ti = qi[first], ti[first]
    e = idx[ti]
    u, v = net.edge_u[e], net.edge_v[e]
    f, d = project_to_segments(
        xy[qi, 0], xy[qi, 1], net.node_x[u], net.node_y[u], net.node_x[v], net.node_y[v]
    )
    edge[qi], frac[qi], dist[qi] = e, f, d
    off = edge < 0
    if off.any():  # measure how far they are, for the report
        (qo, to), do = tree.query_nearest(pts[off], return_distance=True)
        dd = np.full(int(off.sum()), np.inf)
        dd[qo] = do
        dist[off] = dd
    return Snap(edge, frac, dist, off)


__all__ = ["Snap", "project_to_segments", "snap_points"]
