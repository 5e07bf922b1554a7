"""Where points join the road network: the nearest point of the nearest usable segment.

Points (demand, facilities) join the network at the nearest point of the nearest segment
the mode may use; the off-road leg is walked at ``access_speed_kmh``. Points farther than
``max_snap_m`` from any usable road are reported (``off_network``), never silently snapped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import cKDTree

from geo._metric import project_to_segments
from geo.network.graph import RoadNetwork
from geo.network.modes import TravelMode, get_mode, mode_times

# a point this close to where a node would take it (farther than its nearest segment point
# by at most this) joins the node: rounding between the two distance computations
_AT_NODE_M = 1e-6


# --------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class Snap:
    """Where points join the network.

    ``edge`` (-1 when off the network), ``frac`` (0 at ``edge_u``, 1 at ``edge_v``),
    ``dist_m`` (the off-road leg, metres; measured even when too far), ``off_network``,
    and ``node``: the network node a point joins when its nearest place on the network is
    a node (-1: inside a segment). A point on a node joins the node itself, so every
    segment meeting there, never a zero-length end of one segment (which, on a one-way
    street, could be reached only by driving that street); ``edge``/``frac`` then name
    one segment at that node, with ``frac`` 0 or 1.
    """

    edge: np.ndarray
    frac: np.ndarray
    dist_m: np.ndarray
    off_network: np.ndarray
    node: np.ndarray


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


def _node_tree(net: RoadNetwork, mode: TravelMode) -> tuple[cKDTree, np.ndarray, np.ndarray]:
    """A KD-tree of the nodes of usable segments, those nodes, and one usable segment each."""

    def build():
        _, idx = _segment_tree(net, mode)
        some_edge = np.full(net.n_nodes, -1, dtype=np.int64)
        some_edge[net.edge_v[idx]] = idx
        some_edge[net.edge_u[idx]] = idx
        nodes = np.flatnonzero(some_edge >= 0)
        return cKDTree(np.column_stack([net.node_x[nodes], net.node_y[nodes]])), nodes, some_edge

    return net.cached(("node tree", mode.fingerprint), build)


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
    node = np.full(n, -1, dtype=np.int64)
    if n == 0 or len(idx) == 0:
        return Snap(edge, frac, dist, np.ones(n, dtype=bool), node)
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
    # the nearest place on the network is a node (the point sits on it, or beyond a dead
    # end, or its projection clamps at a segment's end): join the node itself
    ntree, nodes, some_edge = _node_tree(net, mode)
    dn, nn = ntree.query(xy[qi])
    at = dn <= d + _AT_NODE_M
    if at.any():
        k = nodes[nn[at]]
        keep = (u[at] == k) | (v[at] == k)  # the segment found ends there: keep it
        e_at = np.where(keep, e[at], some_edge[k])
        e[at] = e_at
        f[at] = np.where(net.edge_u[e_at] == k, 0.0, 1.0)
        d[at] = dn[at]
        node[qi[at]] = k
    edge[qi], frac[qi], dist[qi] = e, f, d
    off = edge < 0
    if off.any():  # measure how far they are, for the report
        (qo, to), do = tree.query_nearest(pts[off], return_distance=True)
        dd = np.full(int(off.sum()), np.inf)
        dd[qo] = do
        dist[off] = dd
    return Snap(edge, frac, dist, off, node)


__all__ = ["Snap", "project_to_segments", "snap_points"]
