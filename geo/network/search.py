"""Searches on the road network: nearest facility, bounded searches, catchments.

Times are always *to* a facility: the time a worker at each place needs to reach it
(one-way streets count that way round). The graph searched is a ``scipy.sparse`` CSR
matrix of *reversed* arcs, built once per set of facilities and mode
(:func:`build_search`); facilities split the segment they join, so times are exact
along it, and a facility on a node joins the node itself (every segment meeting there).

Nearest facility for every demand point: ONE multi-source Dijkstra per call
(``scipy.sparse.csgraph.dijkstra(indices=<all facilities>, min_only=True)``), never one
search per facility. Per-facility catchments use bounded searches (``limit=``), in chunks
of facilities.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geo.crs import points_xy, require_crs, transform_xy
from geo.network.graph import RoadNetwork
from geo.network.modes import TravelMode, get_mode, mode_times, scaled_time
from geo.network.snap import Snap, snap_points

# bounded searches: at most this many floats per chunk. Under glibc's largest mmap threshold
# (32 MB), so the blocks are reused from the heap instead of page-faulted in afresh.
_CHUNK_CELLS = 3_000_000


# --------------------------------------------------------------------------- search graph
@dataclass
class SearchGraph:
    """The CSR graph searched for one set of facilities in one mode.

    Node ids: ``0..n-1`` the network's nodes, ``n..n+F-1`` the points where facilities join
    their segment (segments are split there), ``n+F..n+2F-1`` the facilities themselves
    (sources; one edge each to their join point, weighted by the off-road leg). A facility
    whose nearest place on the network is a node joins that node instead (``fac_join``),
    and its join point stays unused. The CSR holds *reversed* arcs (row = the place
    reached, column = the place a worker comes from), so a search from the facilities
    gives times *to* them.
    """

    csr: sp.csr_matrix
    arc_len: np.ndarray  # metres, aligned with csr.data
    n: int
    n_fac: int
    # segments after splitting
    u: np.ndarray
    v: np.ndarray
    fwd: np.ndarray
    bwd: np.ndarray
    length: np.ndarray
    parent: np.ndarray
    f0: np.ndarray
    f1: np.ndarray
    x: np.ndarray  # coordinates of every node id (metric)
    y: np.ndarray
    split_keys: np.ndarray  # sorted parent + f0/2 of the pieces of split segments
    split_piece: np.ndarray
    new_index: np.ndarray  # original segment -> new segment (-1 when split)
    fac_ok: np.ndarray  # facilities that joined the network
    fac_join: np.ndarray  # node id where each facility joins (its join point, or a node)
    inc_ptr: np.ndarray  # node -> segments touching it (CSR layout)
    inc_edge: np.ndarray

    @property
    def sources(self) -> np.ndarray:
        return self.n + self.n_fac + np.arange(self.n_fac)

    def locate(self, edge: np.ndarray, frac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map (original segment, fraction) to (segment after splitting, fraction on it)."""
        j = np.where(edge >= 0, self.new_index[np.maximum(edge, 0)], -1)
        f = frac.copy()
        split = (edge >= 0) & (j < 0)
        if split.any():
            key = edge[split] + 0.5 * frac[split]
            k = np.searchsorted(self.split_keys, key, side="right") - 1
            piece = self.split_piece[k]
            span = self.f1[piece] - self.f0[piece]
            with np.errstate(invalid="ignore", divide="ignore"):
                local = np.where(span > 0, (frac[split] - self.f0[piece]) / span, 0.0)
            j[split], f[split] = piece, np.clip(local, 0.0, 1.0)
        return j, f


def build_search(
    net: RoadNetwork, mode: TravelMode, fac_snap: Snap, access_ms: float, fac_xy=None
) -> SearchGraph:
    fwd0, bwd0 = mode_times(net, mode)
    n, m = net.n_nodes, net.n_edges
    ok = ~fac_snap.off_network
    fac_idx = np.flatnonzero(ok)
    nf = len(fac_snap.edge)
    # where each facility joins: a network node when it snapped onto one (no split: every
    # segment meeting there reaches it), else its own join point, splitting its segment
    at_node = fac_snap.node >= 0
    fac_join = n + np.arange(nf, dtype=np.int64)
    fac_join[at_node] = fac_snap.node[at_node]
    split = ok & ~at_node
    fe, ff = fac_snap.edge[split], fac_snap.frac[split]
    order = np.lexsort((ff, fe))
    fe, ff, fac_sorted = fe[order], ff[order], np.flatnonzero(split)[order]
    join = n + fac_sorted  # join-point node id of each facility, in sorted order
    same_prev = np.r_[False, fe[1:] == fe[:-1]] if len(fe) else np.zeros(0, bool)
    last = np.r_[fe[1:] != fe[:-1], True] if len(fe) else np.zeros(0, bool)
    prev_node = np.where(same_prev, np.r_[-1, join[:-1]], net.edge_u[fe])
    prev_f = np.where(same_prev, np.r_[0.0, ff[:-1]], 0.0)
    # pieces: prev -> join for every facility, and join -> v after the last on a segment
    p_u = np.r_[prev_node, join[last]]
    p_v = np.r_[join, net.edge_v[fe[last]]]
    p_parent = np.r_[fe, fe[last]]
    p_f0 = np.r_[prev_f, ff[last]]
    p_f1 = np.r_[ff, np.ones(int(last.sum()))]
    kept = np.ones(m, dtype=bool)
    kept[fe] = False
    k_idx = np.flatnonzero(kept)
    parent = np.r_[k_idx, p_parent]
    f0 = np.r_[np.zeros(len(k_idx)), p_f0]
    f1 = np.r_[np.ones(len(k_idx)), p_f1]
    u = np.r_[net.edge_u[k_idx], p_u].astype(np.int64)
    v = np.r_[net.edge_v[k_idx], p_v].astype(np.int64)
    span = f1 - f0
    length = net.edge_length_m[parent] * span
    with np.errstate(invalid="ignore"):
        fwd = np.where(np.isinf(fwd0[parent]), np.inf, fwd0[parent] * span)
        bwd = np.where(np.isinf(bwd0[parent]), np.inf, bwd0[parent] * span)
    new_index = np.full(m, -1, dtype=np.int64)
    new_index[k_idx] = np.arange(len(k_idx))
    piece_ids = len(k_idx) + np.arange(len(p_parent))
    pk = p_parent + 0.5 * p_f0
    porder = np.argsort(pk, kind="stable")

    # coordinates of join points and facilities (metric)
    x = np.r_[net.node_x, np.zeros(2 * nf)]
    y = np.r_[net.node_y, np.zeros(2 * nf)]
    if len(fac_idx):
        a, b = net.edge_u[fac_snap.edge[ok]], net.edge_v[fac_snap.edge[ok]]
        x[n + fac_idx] = net.node_x[a] + fac_snap.frac[ok] * (net.node_x[b] - net.node_x[a])
        y[n + fac_idx] = net.node_y[a] + fac_snap.frac[ok] * (net.node_y[b] - net.node_y[a])
        pts = np.column_stack([x[n + fac_idx], y[n + fac_idx]]) if fac_xy is None else fac_xy[ok]
        x[n + nf + fac_idx], y[n + nf + fac_idx] = pts[:, 0], pts[:, 1]

    # reversed arcs: worker goes u->v (fwd) => arc v->u in the search graph
    fin_f, fin_b = np.isfinite(fwd), np.isfinite(bwd)
    src_nodes = n + nf + fac_idx
    acc_m = fac_snap.dist_m[ok]
    rows = np.r_[v[fin_f], u[fin_b], src_nodes]
    cols = np.r_[u[fin_f], v[fin_b], fac_join[fac_idx]]
    w = np.r_[fwd[fin_f], bwd[fin_b], acc_m / access_ms]
    lens = np.r_[length[fin_f], length[fin_b], acc_m]
    size = n + 2 * nf
    # parallel arcs: keep the fastest (a CSR built from COO would add them up)
    o = np.lexsort((w, cols, rows))
    rows, cols, w, lens = rows[o], cols[o], w[o], lens[o]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    rows, cols, w, lens = rows[first], cols[first], w[first], lens[first]
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=size))]
    csr = sp.csr_matrix((w, cols.astype(np.int32), indptr), shape=(size, size))
    ends = np.r_[u, v]
    inc_order = np.argsort(ends, kind="stable")
    inc_ptr = np.r_[0, np.cumsum(np.bincount(ends, minlength=size))]
    return SearchGraph(
        inc_ptr=inc_ptr,
        inc_edge=(inc_order % len(u)) if len(u) else inc_order,
        csr=csr,
        arc_len=lens,
        n=n,
        n_fac=nf,
        u=u,
        v=v,
        fwd=fwd,
        bwd=bwd,
        length=length,
        parent=parent,
        f0=f0,
        f1=f1,
        x=x,
        y=y,
        split_keys=pk[porder],
        split_piece=piece_ids[porder],
        new_index=new_index,
        fac_ok=ok,
        fac_join=fac_join,
    )


def _tree_sum(step: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Sum ``step`` from every node up to its root (``parent = -1``), by pointer jumping.

    Examples
    --------
    >>> _tree_sum(np.array([0., 1., 2., 4.]), np.array([-1, 0, 1, 1])).tolist()
    [0.0, 1.0, 3.0, 5.0]
    """
    acc = step.astype("float64").copy()
    ptr = parent.copy()
    live = ptr >= 0
    while live.any():
        idx = np.flatnonzero(live)
        acc[idx] += acc[ptr[idx]]
        ptr[idx] = ptr[ptr[idx]]
        live[idx] = ptr[idx] >= 0
    return acc


def point_times(search: SearchGraph, node_t: np.ndarray, j: np.ndarray, f: np.ndarray):
    """Time from points at fraction ``f`` of segments ``j`` to the search's sources.

    ``node_t`` may be 1-D (one value per node) or 2-D (rows of searches). Returns the time
    and which end (0: u, 1: v) the best path leaves by.
    """
    u, v = search.u[j], search.v[j]
    via_u = scaled_time(search.bwd[j], f) + node_t[..., u]
    via_v = scaled_time(search.fwd[j], 1.0 - f) + node_t[..., v]
    return np.minimum(via_u, via_v), (via_v < via_u).astype(np.int8)


# --------------------------------------------------------------------------- public API
def check_points(gdf: gpd.GeoDataFrame, name: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"{name} must be a GeoDataFrame, got {type(gdf).__name__}")
    require_crs(gdf, name)


def metric_xy(net: RoadNetwork, gdf: gpd.GeoDataFrame) -> np.ndarray:
    return transform_xy(points_xy(gdf), gdf.crs, net.crs)


def warn_off(name: str, snap: Snap, ids, max_snap_m: float) -> None:
    if snap.off_network.any():
        k = int(snap.off_network.sum())
        ex = ", ".join(repr(str(i)) for i in np.asarray(ids)[snap.off_network][:5])
        warnings.warn(
            f"{k} {name} point(s) are farther than {max_snap_m:g} m from any road usable "
            f"in this mode and were not snapped (e.g. {ex}); they are marked "
            "off_network. Check their coordinates and datum, or raise max_snap_m.",
            stacklevel=3,
        )


@dataclass(frozen=True)
class NetworkResult:
    """Nearest facility and travel time for a set of points (arrays, positional).

    ``nearest`` (facility position, -1: none reachable), ``time_s``, ``distance_m``
    (metres along the fastest route, off-road legs included), ``snap_m`` (off-road leg of
    the point) and ``off_network``.
    """

    nearest: np.ndarray
    time_s: np.ndarray
    distance_m: np.ndarray
    snap_m: np.ndarray
    off_network: np.ndarray


def nearest_facility_network(
    net: RoadNetwork,
    fac_xy: np.ndarray,
    pts_xy: np.ndarray,
    mode: str | TravelMode = "walk",
    *,
    max_snap_m: float | None = None,
    fac_ids=None,
    pts_ids=None,
) -> NetworkResult:
    """Nearest facility by travel time for every point: the numeric core (metric arrays).

    One multi-source Dijkstra from all facilities at once (``min_only=True``); the
    facility each node is closest to comes from scipy's ``sources``.
    """
    mode = get_mode(mode)
    access_ms = mode.settings.access_speed_kmh / 3.6
    max_snap = mode.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    fsnap = snap_points(net, fac_xy, mode, max_snap_m=max_snap)
    psnap = snap_points(net, pts_xy, mode, max_snap_m=max_snap)
    warn_off("facility", fsnap, fac_ids if fac_ids is not None else range(len(fac_xy)), max_snap)
    warn_off("demand", psnap, pts_ids if pts_ids is not None else range(len(pts_xy)), max_snap)
    npts = len(psnap.edge)
    nearest = np.full(npts, -1, dtype=np.int64)
    time_s = np.full(npts, np.inf)
    dist_m = np.full(npts, np.nan)
    search = build_search(net, mode, fsnap, access_ms, np.asarray(fac_xy, dtype="float64"))
    on = ~psnap.off_network
    if search.fac_ok.any() and on.any():
        t, pred, src = dijkstra(
            search.csr,
            indices=search.sources[search.fac_ok],
            min_only=True,
            return_predecessors=True,
        )
        node_m = _tree_sum(_arc_steps(search, pred), pred.astype(np.int64))
        j, f = search.locate(psnap.edge[on], psnap.frac[on])
        tt, end = point_times(search, t, j, f)
        node = np.where(end == 1, search.v[j], search.u[j])
        leg = np.where(end == 1, (1.0 - f) * search.length[j], f * search.length[j])
        reach = np.isfinite(tt)
        s = src[node]
        fac = np.where(reach & (s >= 0), s - search.n - search.n_fac, -1)
        a = psnap.dist_m[on]
        nearest[on] = fac
        time_s[on] = np.where(reach, tt + a / access_ms, np.inf)
        dist_m[on] = np.where(reach, node_m[node] + leg + a, np.nan)
    return NetworkResult(nearest, time_s, dist_m, psnap.dist_m, psnap.off_network)


def node_travel_times(
    net: RoadNetwork,
    nodes,
    mode: str | TravelMode = "walk",
    *,
    min_only: bool = True,
    limit_s: float = np.inf,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Time from every node to the given nodes, on the graph alone (no snapping).

    With ``min_only`` (one multi-source search): ``(time_s, source)`` per node, ``source``
    being the position in ``nodes`` of the nearest one (-1 when none is reachable).
    Otherwise ``(times, None)`` with one row per node in ``nodes`` (bounded by ``limit_s``).

    Examples
    --------
    >>> from geo.network import network_from_segments
    >>> net = network_from_segments([121.8, 121.801, 121.8025], [29.9, 29.9, 29.9],
    ...                             [(0, 1), (1, 2)], tags={"highway": ["residential"] * 2})
    >>> t, src = node_travel_times(net, [0, 2], "walk")
    >>> np.round(t, 1).tolist(), src.tolist()
    ([0.0, 72.4, 0.0], [0, 0, 1])
    """
    mode = get_mode(mode)
    nodes = np.atleast_1d(np.asarray(nodes, dtype=np.int64))
    none = np.zeros(0, np.int64)
    empty = Snap(none, np.zeros(0), np.zeros(0), np.zeros(0, bool), none)
    search = build_search(net, mode, empty, 1.0)
    if not min_only:
        return dijkstra(search.csr, indices=nodes, limit=float(limit_s)), None
    t, _, src = dijkstra(
        search.csr, indices=nodes, min_only=True, return_predecessors=True, limit=float(limit_s)
    )
    pos = np.full(net.n_nodes, -1, dtype=np.int64)
    pos[nodes[::-1]] = np.arange(len(nodes))[::-1]  # first occurrence of a repeated node
    return t, np.where(src >= 0, pos[np.maximum(src, 0)], -1)


def _arc_steps(search: SearchGraph, pred: np.ndarray) -> np.ndarray:
    size = search.csr.shape[0]
    step = np.zeros(size)
    has = pred >= 0
    if has.any():
        row_of = np.repeat(np.arange(size, dtype=np.int64), np.diff(search.csr.indptr))
        keys = row_of * size + search.csr.indices
        q = pred[has].astype(np.int64) * size + np.flatnonzero(has)
        step[has] = search.arc_len[np.searchsorted(keys, q)]
    return step


def bounded_times(
    net: RoadNetwork,
    fac_xy: np.ndarray,
    mode: str | TravelMode = "walk",
    *,
    limit_s: float,
    max_snap_m: float | None = None,
):
    """Per-facility bounded searches: yields ``(search, facility positions, times)`` chunks.

    ``times`` is (k, nodes of the search graph): the time from every node to each of the
    k facilities, ``inf`` beyond ``limit_s``. Chunks keep memory near 160 MB.
    """
    mode = get_mode(mode)
    access_ms = mode.settings.access_speed_kmh / 3.6
    fsnap = snap_points(net, fac_xy, mode, max_snap_m=max_snap_m)
    search = build_search(net, mode, fsnap, access_ms, np.asarray(fac_xy, dtype="float64"))
    ok = np.flatnonzero(search.fac_ok)
    size = search.csr.shape[0]
    k = max(1, _CHUNK_CELLS // size)
    for lo in range(0, len(ok), k):
        chunk = ok[lo : lo + k]
        t = dijkstra(search.csr, indices=search.sources[chunk], limit=float(limit_s))
        yield search, chunk, np.atleast_2d(t)


class NetworkTravelTimes:
    """Travel times from one place to given facilities: the finder's ``travel_time``.

    ``NetworkTravelTimes(network, facilities)(lon, lat, fac_lon, fac_lat)`` is the time in
    seconds from the WGS84 point (``lon``, ``lat``) to each facility at ``fac_lon``/
    ``fac_lat``: what :class:`geo.FacilityFinder` takes as ``travel_time``.

    The public finder's riders use e-bikes, so the default mode is ``"ebike"``. The
    facilities are snapped once (they split their segments, as in every search here); each
    call snaps the query point and runs ONE bounded Dijkstra (``limit=limit_s``) from it
    over the arcs in the rider's direction (one-way streets bind), then reads the times of
    the asked facilities, off-road legs (walked at ``access_speed_kmh``) included.

    ``fac_lon``/``fac_lat`` must be coordinates of ``facilities`` (as WGS84 floats, which is
    what the finder passes). NaN: the query point or the facility is off the network,
    the facility is unreachable or farther than ``limit_s``, or not one of ``facilities``.
    A call only reads shared arrays, so threads may call one object at once.
    """

    def __init__(
        self,
        network: RoadNetwork,
        facilities: gpd.GeoDataFrame,
        mode: str | TravelMode = "ebike",
        *,
        limit_s: float = 3600.0,
        max_snap_m: float | None = None,
    ) -> None:
        check_points(facilities, "facilities")
        self.network = network
        self.mode = mode = get_mode(mode)
        self.limit_s = float(limit_s)
        self._access_ms = mode.settings.access_speed_kmh / 3.6
        self._max_snap = mode.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
        wgs = facilities if facilities.crs.equals("EPSG:4326") else facilities.to_crs(4326)
        lon = wgs.geometry.x.to_numpy(dtype="float64")
        lat = wgs.geometry.y.to_numpy(dtype="float64")
        fac_xy = transform_xy(np.column_stack([lon, lat]), "EPSG:4326", network.crs)
        fsnap = snap_points(network, fac_xy, mode, max_snap_m=self._max_snap)
        ids = wgs["id"] if "id" in wgs.columns else range(len(wgs))
        warn_off("facility", fsnap, ids, self._max_snap)
        self._search = search = build_search(network, mode, fsnap, self._access_ms, fac_xy)
        # arcs in the rider's direction (the search CSR is reversed)
        self._fwd = search.csr.T.tocsr()
        self._fwd.sort_indices()
        self._target = search.sources  # the facilities themselves
        self._where: dict[tuple[float, float], int] = {}
        for i, key in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
            self._where.setdefault(key, i)

    def __call__(self, lon: float, lat: float, fac_lon, fac_lat) -> np.ndarray:
        """Seconds from (``lon``, ``lat``) to each facility (NaN: not reachable)."""
        search, fwd, net = self._search, self._fwd, self.network
        fac_lon = np.asarray(fac_lon, dtype="float64").ravel()
        fac_lat = np.asarray(fac_lat, dtype="float64").ravel()
        out = np.full(len(fac_lon), np.nan)
        pos = np.array(
            [self._where.get(k, -1) for k in zip(fac_lon.tolist(), fac_lat.tolist(), strict=True)],
            dtype=np.int64,
        )
        known = np.flatnonzero(pos >= 0)
        if len(known) == 0:
            return out
        qxy = transform_xy(np.array([[float(lon), float(lat)]]), "EPSG:4326", net.crs)
        qsnap = snap_points(net, qxy, self.mode, max_snap_m=self._max_snap)
        if qsnap.off_network[0]:
            return out
        j, f = search.locate(qsnap.edge, qsnap.frac)
        leg = float(qsnap.dist_m[0]) / self._access_ms
        # the query point as one extra node, with arcs to both ends of its segment
        ends = np.array([search.u[j[0]], search.v[j[0]]], dtype=np.int64)
        w = np.r_[scaled_time(search.bwd[j], f), scaled_time(search.fwd[j], 1.0 - f)]
        ok = np.isfinite(w)
        if not ok.any() or leg > self.limit_s:
            return out
        size = fwd.shape[0]
        graph = sp.csr_matrix(
            (
                np.r_[fwd.data, w[ok]],
                np.r_[fwd.indices, ends[ok]].astype(np.int32),
                np.r_[fwd.indptr, fwd.indptr[-1] + int(ok.sum())],
            ),
            shape=(size + 1, size + 1),
        )
        t = dijkstra(graph, indices=size, limit=self.limit_s - leg)
        got = t[self._target[pos[known]]] + leg
        out[known] = np.where(np.isfinite(got), got, np.nan)
        return out


def network_coverage(
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    network: RoadNetwork,
    *,
    mode: str | TravelMode = "walk",
    max_snap_m: float | None = None,
) -> NetworkResult:
    """Nearest facility by travel time for every demand row (GeoDataFrames, any CRS)."""
    check_points(facilities, "facilities")
    check_points(demand, "demand")
    if not isinstance(network, RoadNetwork):
        raise TypeError(
            f"network must be a RoadNetwork (from geo.load_network), got {type(network).__name__}"
        )
    fac_ids = facilities["id"].astype(str).to_numpy() if "id" in facilities else None
    dem_ids = demand["id"].astype(str).to_numpy() if "id" in demand else demand.index
    return nearest_facility_network(
        network,
        metric_xy(network, facilities),
        metric_xy(network, demand),
        mode,
        max_snap_m=max_snap_m,
        fac_ids=fac_ids,
        pts_ids=dem_ids,
    )


def catchments(
    network: RoadNetwork,
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    mode: str | TravelMode = "walk",
    limit_s: float,
    max_snap_m: float | None = None,
) -> sp.csr_matrix:
    """Travel time from every demand row to every facility within ``limit_s``.

    A sparse (facilities x demand) matrix of seconds, with an entry where the time is at
    most ``limit_s`` (for two-step floating catchment methods). Bounded searches, one per
    facility, in chunks.
    """
    check_points(facilities, "facilities")
    check_points(demand, "demand")
    mode = get_mode(mode)
    access_ms = mode.settings.access_speed_kmh / 3.6
    fxy, dxy = metric_xy(network, facilities), metric_xy(network, demand)
    psnap = snap_points(network, dxy, mode, max_snap_m=max_snap_m)
    on = np.flatnonzero(~psnap.off_network)
    rows, cols, vals = [], [], []
    j = f = None
    for search, chunk, t in bounded_times(
        network, fxy, mode, limit_s=limit_s, max_snap_m=max_snap_m
    ):
        if j is None or f is None:
            j, f = search.locate(psnap.edge[on], psnap.frac[on])
        tt, _ = point_times(search, t, j, f)
        tt = tt + psnap.dist_m[on] / access_ms
        r, c = np.nonzero(tt <= limit_s)
        rows.append(chunk[r])
        cols.append(on[c])
        vals.append(tt[r, c])
    if not rows:
        return sp.csr_matrix((len(facilities), len(demand)))
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(facilities), len(demand)),
    )


__all__ = [
    "NetworkResult",
    "NetworkTravelTimes",
    "SearchGraph",
    "bounded_times",
    "build_search",
    "catchments",
    "check_points",
    "metric_xy",
    "nearest_facility_network",
    "network_coverage",
    "node_travel_times",
    "point_times",
    "warn_off",
]
