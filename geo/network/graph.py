"""The road network as arrays: :class:`RoadNetwork`, its construction, clipping and subsets.

A :class:`RoadNetwork` holds a district's roads as arrays: node coordinates (WGS84 and
the UTM zone of the network), and one row per straight *segment* between consecutive OSM
nodes with its geodesic length and its tags (``highway`` class, ``oneway``, access tags)
stored as categorical codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod

from geo.crs import metric_crs_from_bounds, require_crs, transform_xy
from geo.errors import ValidationError

_GEOD = Geod(ellps="WGS84")


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

    def with_source(self, source: str) -> RoadNetwork:
        """The same network under another ``source`` name (with its own caches)."""
        return replace(self, source=str(source), _cache={})

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per network and ``key`` (per-mode times, trees)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

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
    geom = boundary_geometry(boundary)
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


def boundary_geometry(boundary):
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


__all__ = [
    "RoadNetwork",
    "boundary_geometry",
    "clip_network",
    "network_from_segments",
    "network_to_gdfs",
    "subset_edges",
]
