"""Road networks: OpenStreetMap import, compact arrays, snapping, travel times, service areas.

A :class:`RoadNetwork` holds a district's roads as arrays: node coordinates (WGS84 and
the UTM zone of the network), and one row per straight *segment* between consecutive OSM
nodes with its geodesic length and its tags (``highway`` class, ``oneway``, access tags)
stored as categorical codes. It is loaded from ``.osm.pbf`` (pyrosm), ``.osm`` XML or
osmnx GraphML by :func:`load_network`, clipped to a boundary, and cached on disk as
``.npz`` next to its source (keyed by the source's SHA-256 and the clip), so a second load
takes milliseconds.

A travel mode (``walk``, ``bike``, ``ebike``, ``car``, ``truck``; speeds and access rules in
``geo/data/travel_modes.toml``) turns the segments into travel times per direction; the
graph searched is a ``scipy.sparse`` CSR matrix. Times are always *to* a facility: the
time a worker at each place needs to reach it (one-way streets count that way round).

Points (demand, facilities) join the network at the nearest point of the nearest usable
segment; the off-road leg is walked at ``access_speed_kmh``. Points farther than
``max_snap_m`` from any usable road are reported (a warning and ``off_network``), never
silently snapped. Facilities split their segment, so times are exact along it.

Nearest facility for every demand point: ONE multi-source Dijkstra per call
(``scipy.sparse.csgraph.dijkstra(indices=<all facilities>, min_only=True)``), never one
search per facility. Per-facility catchments and service areas use bounded searches
(``limit=``), in chunks of facilities.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS, Geod
from scipy.sparse.csgraph import dijkstra

from geo._network_iso import polygons_from_samples, sample_times
from geo._network_modes import (
    MODE_NAMES,
    NetworkSettings,
    TravelMode,
    edge_times,
    get_mode,
    load_travel_modes,
)
from geo.crs import metric_crs_from_bounds, points_xy, require_crs, transform_xy
from geo.errors import ValidationError

log = logging.getLogger(__name__)

_GEOD = Geod(ellps="WGS84")
# bounded searches: at most this many floats per chunk. Under glibc's largest mmap threshold
# (32 MB), so the blocks are reused from the heap instead of page-faulted in afresh.
_CHUNK_CELLS = 3_000_000


# --------------------------------------------------------------------------- the graph
@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A road network as arrays: nodes, straight segments and their tags.

    Attributes
    ----------
    node_lon, node_lat : ndarray of float64
        Node coordinates, WGS84 degrees.
    node_x, node_y : ndarray of float64
        Node coordinates in :attr:`crs` (UTM, metres).
    node_osmid : ndarray of int64
        OSM node ids (negative for nodes servicemap made, e.g. GraphML bends).
    edge_u, edge_v : ndarray of int64
        End nodes of each segment (positions into the node arrays), in drawing order.
    edge_length_m : ndarray of float64
        Geodesic length of each segment, metres.
    tags : dict
        ``name -> (codes, categories)``: per segment an int32 code into ``categories``
        (-1: the segment does not carry the tag). Always holds ``highway``.
    crs : pyproj.CRS
        The metric CRS of ``node_x``/``node_y``.
    source : str
        Where the network came from.
    """

    node_lon: np.ndarray
    node_lat: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    node_osmid: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    tags: dict[str, tuple[np.ndarray, np.ndarray]]
    crs: CRS
    source: str = ""
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.node_lon)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    def tag(self, name: str) -> np.ndarray:
        """The values of one tag per segment (object array, None where absent)."""
        if name not in self.tags:
            return np.full(self.n_edges, None, dtype=object)
        codes, cats = self.tags[name]
        return np.concatenate([cats.astype(object), np.array([None], dtype=object)])[codes]

    @property
    def edge_class(self) -> np.ndarray:
        """The ``highway`` class of each segment."""
        return self.tag("highway")

    def __repr__(self) -> str:
        return (
            f"RoadNetwork({self.n_nodes:,} nodes, {self.n_edges:,} segments, "
            f"{self.edge_length_m.sum() / 1000:,.1f} km, crs=EPSG:{self.crs.to_epsg()}, "
            f"source={self.source!r})"
        )


def _encode(values) -> tuple[np.ndarray, np.ndarray]:
    codes, cats = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return codes.astype(np.int32), np.asarray([str(c) for c in cats], dtype=str)


def network_from_segments(
    lon,
    lat,
    segments,
    *,
    tags: dict[str, Any] | None = None,
    node_ids=None,
    source: str = "",
) -> RoadNetwork:
    """Build a :class:`RoadNetwork` from node coordinates and segments between them.

    Parameters
    ----------
    lon, lat : array-like
        Node coordinates, WGS84 degrees.
    segments : array-like of shape (m, 2)
        Pairs of node positions (0-based), or of ``node_ids`` when those are given.
    tags : dict, optional
        ``tag -> sequence`` of m values (None/NaN where a segment lacks the tag); must hold
        ``highway``.
    node_ids : array-like, optional
        OSM node ids matching ``lon``/``lat``.

    Self-loops and segments naming unknown nodes are dropped; unused nodes are removed.

    Examples
    --------
    >>> net = network_from_segments([121.8, 121.801], [29.9, 29.9], [(0, 1)],
    ...                             tags={"highway": ["residential"]})
    >>> net.n_nodes, net.n_edges, round(float(net.edge_length_m[0]), 3)
    (2, 1, 96.583)
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    seg = np.asarray(segments).reshape(-1, 2)
    tags = dict(tags or {})
    if "highway" not in tags:
        raise ValidationError("a road network needs a 'highway' tag for every segment")
    ids = np.arange(len(lon), dtype=np.int64) if node_ids is None else np.asarray(node_ids)
    ids = ids.astype(np.int64)
    order = np.argsort(ids, kind="stable")
    pos = np.searchsorted(ids[order], seg.astype(np.int64))
    pos = np.clip(pos, 0, max(len(ids) - 1, 0))
    known = (ids[order][pos] == seg) if len(ids) else np.zeros(seg.shape, bool)
    u, v = order[pos[:, 0]], order[pos[:, 1]]
    keep = known.all(axis=1) & (u != v)
    keep &= np.isfinite(lon[u]) & np.isfinite(lat[u]) & np.isfinite(lon[v]) & np.isfinite(lat[v])
    u, v = u[keep], v[keep]
    used, inv = np.unique(np.concatenate([u, v]), return_inverse=True)
    u, v = inv[: len(u)].astype(np.int64), inv[len(u) :].astype(np.int64)
    nlon, nlat = lon[used], lat[used]
    tag_arrays = {}
    for k, vals in tags.items():
        vals = np.asarray(pd.Series(list(vals), dtype=object))
        if len(vals) != len(seg):
            raise ValidationError(f"tag {k!r} has {len(vals)} values for {len(seg)} segments")
        tag_arrays[k] = _encode(vals[keep])
    return _finish(nlon, nlat, ids[used], u, v, tag_arrays, source)


def _finish(lon, lat, osmid, u, v, tags, source, crs=None) -> RoadNetwork:
    if len(u) == 0:
        raise ValidationError(f"{source or 'network'}: no road segments left to build a network")
    if crs is None:
        crs = metric_crs_from_bounds((lon.min(), lat.min(), lon.max(), lat.max()), "EPSG:4326")
    xy = transform_xy(np.column_stack([lon, lat]), "EPSG:4326", crs)
    _, _, length = _GEOD.inv(lon[u], lat[u], lon[v], lat[v])
    return RoadNetwork(
        node_lon=lon,
        node_lat=lat,
        node_x=np.ascontiguousarray(xy[:, 0]),
        node_y=np.ascontiguousarray(xy[:, 1]),
        node_osmid=np.asarray(osmid, dtype=np.int64),
        edge_u=u,
        edge_v=v,
        edge_length_m=np.asarray(length, dtype="float64"),
        tags=tags,
        crs=CRS.from_user_input(crs),
        source=str(source),
    )


def subset_edges(net: RoadNetwork, keep: np.ndarray, source: str | None = None) -> RoadNetwork:
    """The network with only the segments where ``keep`` is true (unused nodes dropped)."""
    keep = np.asarray(keep, dtype=bool)
    u, v = net.edge_u[keep], net.edge_v[keep]
    used, inv = np.unique(np.concatenate([u, v]), return_inverse=True)
    tags = {}
    for k, (codes, cats) in net.tags.items():
        c = codes[keep]
        present = np.unique(c[c >= 0])
        remap = np.full(len(cats) + 1, -1, dtype=np.int32)
        remap[present] = np.arange(len(present), dtype=np.int32)
        tags[k] = (remap[c], cats[present])
    return RoadNetwork(
        node_lon=net.node_lon[used],
        node_lat=net.node_lat[used],
        node_x=net.node_x[used],
        node_y=net.node_y[used],
        node_osmid=net.node_osmid[used],
        edge_u=inv[: len(u)].astype(np.int64),
        edge_v=inv[len(u) :].astype(np.int64),
        edge_length_m=net.edge_length_m[keep],
        tags=tags,
        crs=net.crs,
        source=net.source if source is None else source,
    )


def clip_network(net: RoadNetwork, boundary) -> RoadNetwork:
    """Keep the segments that touch ``boundary`` (a polygon, or a GeoDataFrame/GeoSeries).

    A segment crossing the boundary is kept whole, so roads do not stop short of it.
    """
    geom = _boundary_geometry(boundary)
    lines = shapely.linestrings(
        np.stack(
            [
                np.column_stack([net.node_lon[net.edge_u], net.node_lat[net.edge_u]]),
                np.column_stack([net.node_lon[net.edge_v], net.node_lat[net.edge_v]]),
            ],
            axis=1,
        )
    )
    shapely.prepare(geom)
    keep = shapely.intersects(geom, lines)
    if not keep.any():
        raise ValidationError(
            f"{net.source or 'network'}: no road inside the boundary; is the boundary in "
            "WGS84 (EPSG:4326) and over the same place as the roads?"
        )
    return subset_edges(net, keep)


def _boundary_geometry(boundary):
    if isinstance(boundary, gpd.GeoDataFrame | gpd.GeoSeries):
        crs = require_crs(boundary, "boundary")
        if not crs.equals(CRS(4326)):
            boundary = boundary.to_crs(4326)
        return shapely.union_all(np.asarray(boundary.geometry.values))
    if isinstance(boundary, shapely.Geometry):
        return boundary
    raise TypeError(
        f"boundary must be a shapely geometry or a GeoDataFrame, got {type(boundary).__name__}"
    )


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


def _usable(net: RoadNetwork, mode: TravelMode) -> tuple[np.ndarray, np.ndarray]:
    key = ("times", mode.fingerprint)
    if key not in net._cache:
        net._cache[key] = edge_times(net, mode)
    return net._cache[key]


def _segment_tree(net: RoadNetwork, mode: TravelMode) -> tuple[shapely.STRtree, np.ndarray]:
    key = ("tree", mode.fingerprint)
    if key not in net._cache:
        fwd, bwd = _usable(net, mode)
        idx = np.flatnonzero(np.isfinite(fwd) | np.isfinite(bwd))
        coords = np.stack(
            [
                np.column_stack([net.node_x[net.edge_u[idx]], net.node_y[net.edge_u[idx]]]),
                np.column_stack([net.node_x[net.edge_v[idx]], net.node_y[net.edge_v[idx]]]),
            ],
            axis=1,
        )
        net._cache[key] = (shapely.STRtree(shapely.linestrings(coords)), idx)
    return net._cache[key]


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


# --------------------------------------------------------------------------- search graph
@dataclass
class _Search:
    """The CSR graph searched for one set of facilities in one mode.

    Node ids: ``0..n-1`` the network's nodes, ``n..n+F-1`` the points where facilities join
    their segment (segments are split there), ``n+F..n+2F-1`` the facilities themselves
    (sources; one edge each to their join point, weighted by the off-road leg).
    The CSR holds *reversed* arcs (row = the place reached, column = the place a worker
    comes from), so a search from the facilities gives times *to* them.
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


def _build_search(
    net: RoadNetwork, mode: TravelMode, fac_snap: Snap, access_ms: float, fac_xy=None
) -> _Search:
    fwd0, bwd0 = _usable(net, mode)
    n, m = net.n_nodes, net.n_edges
    ok = ~fac_snap.off_network
    fac_idx = np.flatnonzero(ok)
    nf = len(fac_snap.edge)
    fe, ff = fac_snap.edge[ok], fac_snap.frac[ok]
    order = np.lexsort((ff, fe))
    fe, ff, fac_sorted = fe[order], ff[order], fac_idx[order]
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
    cols = np.r_[u[fin_f], v[fin_b], n + fac_idx]
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
    return _Search(
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


def _point_times(search: _Search, node_t: np.ndarray, j: np.ndarray, f: np.ndarray):
    """Time from points at fraction ``f`` of segments ``j`` to the search's sources.

    ``node_t`` may be 1-D (one value per node) or 2-D (rows of searches). Returns the time
    and which end (0: u, 1: v) the best path leaves by.
    """
    from geo._network_iso import _scaled

    u, v = search.u[j], search.v[j]
    via_u = _scaled(search.bwd[j], f) + node_t[..., u]
    via_v = _scaled(search.fwd[j], 1.0 - f) + node_t[..., v]
    return np.minimum(via_u, via_v), (via_v < via_u).astype(np.int8)


# --------------------------------------------------------------------------- public API
def _check_points(gdf: gpd.GeoDataFrame, name: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"{name} must be a GeoDataFrame, got {type(gdf).__name__}")
    require_crs(gdf, name)


def _metric_xy(net: RoadNetwork, gdf: gpd.GeoDataFrame) -> np.ndarray:
    return transform_xy(points_xy(gdf), gdf.crs, net.crs)


def _warn_off(name: str, snap: Snap, ids, max_snap_m: float) -> None:
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
    _warn_off("facility", fsnap, fac_ids if fac_ids is not None else range(len(fac_xy)), max_snap)
    _warn_off("demand", psnap, pts_ids if pts_ids is not None else range(len(pts_xy)), max_snap)
    npts = len(psnap.edge)
    nearest = np.full(npts, -1, dtype=np.int64)
    time_s = np.full(npts, np.inf)
    dist_m = np.full(npts, np.nan)
    search = _build_search(net, mode, fsnap, access_ms, np.asarray(fac_xy, dtype="float64"))
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
        tt, end = _point_times(search, t, j, f)
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
    >>> net = network_from_segments([121.8, 121.801, 121.8025], [29.9, 29.9, 29.9],
    ...                             [(0, 1), (1, 2)], tags={"highway": ["residential"] * 2})
    >>> t, src = node_travel_times(net, [0, 2], "walk")
    >>> np.round(t, 1).tolist(), src.tolist()
    ([0.0, 72.4, 0.0], [0, 0, 1])
    """
    mode = get_mode(mode)
    nodes = np.atleast_1d(np.asarray(nodes, dtype=np.int64))
    empty = Snap(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, bool))
    search = _build_search(net, mode, empty, 1.0)
    if not min_only:
        return dijkstra(search.csr, indices=nodes, limit=float(limit_s)), None
    t, _, src = dijkstra(
        search.csr, indices=nodes, min_only=True, return_predecessors=True, limit=float(limit_s)
    )
    pos = np.full(net.n_nodes, -1, dtype=np.int64)
    pos[nodes[::-1]] = np.arange(len(nodes))[::-1]  # first occurrence of a repeated node
    return t, np.where(src >= 0, pos[np.maximum(src, 0)], -1)


def _arc_steps(search: _Search, pred: np.ndarray) -> np.ndarray:
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
    search = _build_search(net, mode, fsnap, access_ms, np.asarray(fac_xy, dtype="float64"))
    ok = np.flatnonzero(search.fac_ok)
    size = search.csr.shape[0]
    k = max(1, _CHUNK_CELLS // size)
    for lo in range(0, len(ok), k):
        chunk = ok[lo : lo + k]
        t = dijkstra(search.csr, indices=search.sources[chunk], limit=float(limit_s))
        yield search, chunk, np.atleast_2d(t)


def travel_time_from_network(
    network: RoadNetwork,
    facilities: gpd.GeoDataFrame,
    mode: str | TravelMode = "ebike",
    *,
    limit_s: float = 3600.0,
    max_snap_m: float | None = None,
):
    """A ``travel_time(lon, lat, fac_lon, fac_lat) -> seconds`` for :class:`geo.FacilityFinder`.

    The public finder's riders use e-bikes, so the default mode is ``"ebike"``. The
    facilities are snapped once (they split their segments, as in every search here); each
    call snaps the WGS84 query point and runs ONE bounded Dijkstra (``limit=limit_s``) from
    it over the arcs in the rider's direction (one-way streets bind), then reads the times
    of the asked facilities, off-road legs (walked at ``access_speed_kmh``) included.

    ``fac_lon``/``fac_lat`` must be coordinates of ``facilities`` (as WGS84 floats, which is
    what the finder passes). NaN: the query point or the facility is off the network,
    the facility is unreachable or farther than ``limit_s``, or not one of ``facilities``.
    The callable only reads shared arrays, so threads may call it at once.
    """
    from geo._network_iso import _scaled

    _check_points(facilities, "facilities")
    mode = get_mode(mode)
    access_ms = mode.settings.access_speed_kmh / 3.6
    max_snap = mode.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    wgs = facilities if facilities.crs.equals("EPSG:4326") else facilities.to_crs(4326)
    lon = wgs.geometry.x.to_numpy(dtype="float64")
    lat = wgs.geometry.y.to_numpy(dtype="float64")
    fac_xy = transform_xy(np.column_stack([lon, lat]), "EPSG:4326", network.crs)
    fsnap = snap_points(network, fac_xy, mode, max_snap_m=max_snap)
    ids = wgs["id"] if "id" in wgs.columns else range(len(wgs))
    _warn_off("facility", fsnap, ids, max_snap)
    search = _build_search(network, mode, fsnap, access_ms, fac_xy)
    fwd = search.csr.T.tocsr()  # arcs in the rider's direction (the search CSR is reversed)
    fwd.sort_indices()
    size = fwd.shape[0]
    target = search.n + search.n_fac + np.arange(search.n_fac)  # the facilities themselves
    where: dict[tuple[float, float], int] = {}
    for i, key in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        where.setdefault(key, i)

    def travel_time(qlon: float, qlat: float, fac_lon, fac_lat) -> np.ndarray:
        fac_lon = np.asarray(fac_lon, dtype="float64").ravel()
        fac_lat = np.asarray(fac_lat, dtype="float64").ravel()
        out = np.full(len(fac_lon), np.nan)
        pos = np.array(
            [where.get(k, -1) for k in zip(fac_lon.tolist(), fac_lat.tolist(), strict=True)],
            dtype=np.int64,
        )
        known = np.flatnonzero(pos >= 0)
        if len(known) == 0:
            return out
        qxy = transform_xy(np.array([[float(qlon), float(qlat)]]), "EPSG:4326", network.crs)
        qsnap = snap_points(network, qxy, mode, max_snap_m=max_snap)
        if qsnap.off_network[0]:
            return out
        j, f = search.locate(qsnap.edge, qsnap.frac)
        leg = float(qsnap.dist_m[0]) / access_ms
        # the query point as one extra node, with arcs to both ends of its segment
        ends = np.array([search.u[j[0]], search.v[j[0]]], dtype=np.int64)
        w = np.r_[_scaled(search.bwd[j], f), _scaled(search.fwd[j], 1.0 - f)]
        ok = np.isfinite(w)
        if not ok.any() or leg > limit_s:
            return out
        graph = sp.csr_matrix(
            (
                np.r_[fwd.data, w[ok]],
                np.r_[fwd.indices, ends[ok]].astype(np.int32),
                np.r_[fwd.indptr, fwd.indptr[-1] + int(ok.sum())],
            ),
            shape=(size + 1, size + 1),
        )
        t = dijkstra(graph, indices=size, limit=float(limit_s) - leg)
        got = t[target[pos[known]]] + leg
        out[known] = np.where(np.isfinite(got), got, np.nan)
        return out

    return travel_time


def network_coverage(
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    network: RoadNetwork,
    *,
    mode: str | TravelMode = "walk",
    max_snap_m: float | None = None,
) -> NetworkResult:
    """Nearest facility by travel time for every demand row (GeoDataFrames, any CRS)."""
    _check_points(facilities, "facilities")
    _check_points(demand, "demand")
    if not isinstance(network, RoadNetwork):
        raise TypeError(
            f"network must be a RoadNetwork (from geo.load_network), got {type(network).__name__}"
        )
    fac_ids = facilities["id"].astype(str).to_numpy() if "id" in facilities else None
    dem_ids = demand["id"].astype(str).to_numpy() if "id" in demand else demand.index
    return nearest_facility_network(
        network,
        _metric_xy(network, facilities),
        _metric_xy(network, demand),
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
    _check_points(facilities, "facilities")
    _check_points(demand, "demand")
    mode = get_mode(mode)
    access_ms = mode.settings.access_speed_kmh / 3.6
    fxy, dxy = _metric_xy(network, facilities), _metric_xy(network, demand)
    psnap = snap_points(network, dxy, mode, max_snap_m=max_snap_m)
    on = np.flatnonzero(~psnap.off_network)
    rows, cols, vals = [], [], []
    j = f = None
    for search, chunk, t in bounded_times(
        network, fxy, mode, limit_s=limit_s, max_snap_m=max_snap_m
    ):
        if j is None or f is None:
            j, f = search.locate(psnap.edge[on], psnap.frac[on])
        tt, _ = _point_times(search, t, j, f)
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


def _search_samples(search: _Search, t: np.ndarray, upto: float, step: float):
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
    join = src - search.n_fac
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
    ``cell_m`` grid, see :mod:`geo._network_iso` for the stated tolerance). Not a convex
    hull: a river or an expressway without a crossing stays outside.

    Parameters
    ----------
    breaks_s : sequence of float
        Travel-time breaks, seconds (default 5, 10 and 15 minutes).
    demand : GeoDataFrame, optional
        Weighted demand points; adds ``people`` (sum of ``weight``) inside each polygon.
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
    _check_points(facilities, "facilities")
    mode = get_mode(mode)
    breaks = np.sort(np.asarray(list(breaks_s), dtype="float64"))
    if len(breaks) == 0 or not (np.isfinite(breaks).all() and (breaks > 0).all()):
        raise ValueError(f"breaks_s must be positive numbers of seconds, got {breaks_s!r}")
    if not buffer_m > 0:
        raise ValueError(f"buffer_m must be positive, got {buffer_m!r}")
    cell = float(cell_m) if cell_m is not None else buffer_m / 3.0
    step = cell / 2.0
    fxy = _metric_xy(network, facilities)
    ids = (
        facilities["id"].astype(str).to_numpy()
        if "id" in facilities
        else np.asarray(facilities.index.astype(str))
    )
    geoms, fac_col, brk_col = [], [], []
    if dissolve:
        access_ms = mode.settings.access_speed_kmh / 3.6
        fsnap = snap_points(network, fxy, mode, max_snap_m=max_snap_m)
        _warn_off("facility", fsnap, ids, mode.settings.max_snap_m)
        search = _build_search(network, mode, fsnap, access_ms, fxy)
        if search.fac_ok.any():
            t = dijkstra(
                search.csr,
                indices=search.sources[search.fac_ok],
                min_only=True,
                limit=float(breaks[-1]),
            )
            x, y, tt = _search_samples(search, t, breaks[-1], step)
            polys = polygons_from_samples(x, y, tt, breaks, buffer_m=buffer_m, cell_m=cell)
        else:
            polys = [shapely.Polygon() for _ in breaks]
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
        out["people"] = _people_inside(geoms_arr, network, demand)
    out = out.set_geometry(_to_wgs84(geoms_arr, network.crs))
    out.attrs = {"buffer_m": float(buffer_m), "cell_m": cell, "mode": mode.name}
    return out


def _people_inside(geoms: np.ndarray, network: RoadNetwork, demand: gpd.GeoDataFrame):
    _check_points(demand, "demand")
    dxy = _metric_xy(network, demand)
    w = demand["weight"].to_numpy(dtype="float64") if "weight" in demand else np.ones(len(demand))
    tree = shapely.STRtree(shapely.points(dxy))
    people = np.zeros(len(geoms))
    for k, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        hit = tree.query(g, predicate="contains")  # geometry contains point
        people[k] = w[hit].sum()
    return people


def _to_wgs84(geoms: np.ndarray, crs: CRS) -> gpd.GeoSeries:
    out = shapely.transform(geoms, lambda c: transform_xy(c, crs, "EPSG:4326"))
    return gpd.GeoSeries(out, crs="EPSG:4326")


# --------------------------------------------------------------------------- converters
def network_to_gdfs(network: RoadNetwork) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Nodes and segments as GeoDataFrames (EPSG:4326), for maps and inspection."""
    nodes = gpd.GeoDataFrame(
        {"osmid": network.node_osmid},
        geometry=gpd.points_from_xy(network.node_lon, network.node_lat),
        crs="EPSG:4326",
    )
    u, v = network.edge_u, network.edge_v
    coords = np.stack(
        [
            np.column_stack([network.node_lon[u], network.node_lat[u]]),
            np.column_stack([network.node_lon[v], network.node_lat[v]]),
        ],
        axis=1,
    )
    data = {"u": u, "v": v, "length_m": network.edge_length_m}
    for k in network.tags:
        data[k] = network.tag(k)
    edges = gpd.GeoDataFrame(data, geometry=shapely.linestrings(coords), crs="EPSG:4326")
    return nodes, edges


def network_to_networkx(network: RoadNetwork, mode: str | TravelMode = "walk"):
    """A ``networkx.DiGraph`` of the network in one mode (arcs in the worker's direction).

    Arc attributes ``time_s`` and ``length_m``; parallel arcs keep the fastest. Node
    attributes ``x``/``y`` in ``network.crs``. For checks and peer comparisons.
    """
    import networkx as nx

    fwd, bwd = _usable(network, get_mode(mode))
    g = nx.DiGraph()
    g.add_nodes_from(
        (i, {"x": float(x), "y": float(y)})
        for i, (x, y) in enumerate(zip(network.node_x, network.node_y, strict=True))
    )
    for a, b, t, length in (
        *zip(network.edge_u, network.edge_v, fwd, network.edge_length_m, strict=True),
        *zip(network.edge_v, network.edge_u, bwd, network.edge_length_m, strict=True),
    ):
        if np.isfinite(t) and (not g.has_edge(a, b) or g[a][b]["time_s"] > t):
            g.add_edge(int(a), int(b), time_s=float(t), length_m=float(length))
    return g


def load_network(path, *, boundary=None, cache: bool = True) -> RoadNetwork:
    """Load a road network: ``.osm.pbf``, ``.osm`` (XML), ``.graphml`` or a saved ``.npz``.

    Parameters
    ----------
    path : str or Path
        The OpenStreetMap extract or graph file.
    boundary : shapely geometry or GeoDataFrame, optional
        Keep only the roads touching it (WGS84, or a layer with a CRS).
    cache : bool
        Reuse / write the prepared network next to the source (``<name>.<key>.net.npz``,
        key: SHA-256 of the file and the boundary), or in ``~/.cache/servicemap`` when
        that folder is not writable.
    """
    from geo._network_io import load_network as _load

    return _load(path, boundary=boundary, cache=cache)


def save_network(network: RoadNetwork, path) -> None:
    """Write a prepared network to ``path`` (``.npz``), readable by :func:`load_network`."""
    from geo._network_io import save_network as _save

    _save(network, path)


__all__ = [
    "MODE_NAMES",
    "NetworkResult",
    "NetworkSettings",
    "RoadNetwork",
    "Snap",
    "TravelMode",
    "bounded_times",
    "catchments",
    "clip_network",
    "edge_times",
    "get_mode",
    "load_network",
    "load_travel_modes",
    "nearest_facility_network",
    "node_travel_times",
    "network_coverage",
    "network_from_segments",
    "network_to_gdfs",
    "network_to_networkx",
    "project_to_segments",
    "save_network",
    "service_areas",
    "snap_points",
    "subset_edges",
    "travel_time_from_network",
]
