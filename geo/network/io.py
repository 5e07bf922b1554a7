"""Reading and writing road networks: OSM PBF / XML, osmnx GraphML, the .npz cache, fetch.

Every reader ends in :func:`geo.network.graph.network_from_segments`: node ids and coordinates,
segments between consecutive nodes of each way, and the way's tags on each segment.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import shapely
from pyproj import CRS

from geo.errors import ValidationError
from geo.network.graph import RoadNetwork, boundary_geometry, clip_network, network_from_segments
from geo.network.modes import load_travel_modes

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# the tags kept on every segment: class, direction and access (see travel_modes.toml)
KEEP_TAGS = (
    "highway",
    "oneway",
    "oneway:bicycle",
    "junction",
    "access",
    "foot",
    "bicycle",
    "vehicle",
    "motor_vehicle",
    "motorcar",
    "hgv",
    "maxspeed",
    "name",
)
OVERPASS_URL = "https://overpass-api.de/api/interpreter"
USER_AGENT = "servicemap (https://github.com/; trade-union facility coverage)"


# --------------------------------------------------------------------------- readers
def _excluded(highway: np.ndarray, modes=None) -> np.ndarray:
    settings = load_travel_modes(modes).settings
    hw = np.asarray(highway, dtype=object)
    return np.isin(hw.astype(str), list(settings.exclude_highway)) | (hw == None)  # noqa: E711


def _from_ways(node_ids, lon, lat, ways: list[tuple[list[int], dict]], source: str, modes=None):
    """Segments from ways given as (node refs, tags)."""
    keep_ways = [(refs, tags) for refs, tags in ways if len(refs) >= 2]
    hw = np.array([t.get("highway") for _, t in keep_ways], dtype=object)
    area = np.array([t.get("area") == "yes" for _, t in keep_ways], dtype=bool)
    ok = ~_excluded(hw, modes) & ~area
    keep_ways = [w for w, k in zip(keep_ways, ok, strict=True) if k]
    if not keep_ways:
        raise ValidationError(f"{source}: no highway=* ways found; is this a road extract?")
    n_seg = np.array([len(r) - 1 for r, _ in keep_ways])
    refs = [np.asarray(r, dtype=np.int64) for r, _ in keep_ways]
    seg = np.column_stack(
        [np.concatenate([r[:-1] for r in refs]), np.concatenate([r[1:] for r in refs])]
    )
    tags = {
        k: np.repeat(np.array([t.get(k) for _, t in keep_ways], dtype=object), n_seg)
        for k in KEEP_TAGS
    }
    tags = {k: v for k, v in tags.items() if k == "highway" or any(x is not None for x in v)}
    return network_from_segments(lon, lat, seg, tags=tags, node_ids=node_ids, source=source)


def read_osm_xml(path: Path, *, modes=None) -> RoadNetwork:
    """Read the highways of an OSM XML file (``.osm``, as from Overpass or JOSM).

    ``modes``: the travel-mode file whose ``[network] exclude_highway`` applies.
    """
    node_ids, lons, lats, ways = [], [], [], []
    try:
        for _, elem in ET.iterparse(path, events=("end",)):
            if elem.tag == "node":
                node_ids.append(int(elem.get("id")))
                lons.append(float(elem.get("lon")))
                lats.append(float(elem.get("lat")))
                elem.clear()
            elif elem.tag == "way":
                tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                if "highway" in tags:
                    ways.append(([int(nd.get("ref")) for nd in elem.iter("nd")], tags))
                elem.clear()
            elif elem.tag == "relation":
                elem.clear()
    except ET.ParseError as exc:
        raise ValidationError(f"{path}: not valid OSM XML: {exc}") from exc
    return _from_ways(np.array(node_ids, dtype=np.int64), lons, lats, ways, str(path), modes)


def read_osm_pbf(path: Path, boundary=None, *, modes=None) -> RoadNetwork:
    """Read the highways of an ``.osm.pbf`` extract with pyrosm."""
    import pyrosm

    bbox = None
    if boundary is not None:
        bbox = list(shapely.bounds(boundary_geometry(boundary)))
    with warnings.catch_warnings():
        # pyrosm and its pandas calls warn about their own internals (deprecations)
        warnings.simplefilter("ignore")
        osm = pyrosm.OSM(str(path), bounding_box=bbox)
        got = osm.get_network(
            network_type="all",
            nodes=True,
            extra_attributes=[t for t in KEEP_TAGS if t not in ("highway", "name")],
        )
    if got is None or got[1] is None or len(got[1]) == 0:
        raise ValidationError(f"{path}: no highway=* ways found; is this a road extract?")
    nodes, edges = got
    hw = edges["highway"].to_numpy(dtype=object)
    keep = ~_excluded(hw, modes)
    edges = edges[keep]
    tags = {}
    for k in KEEP_TAGS:
        if k in edges.columns:
            col = edges[k].to_numpy(dtype=object)
            col = np.where(
                [x is None or (isinstance(x, float) and np.isnan(x)) for x in col], None, col
            )
            tags[k] = col
    return network_from_segments(
        nodes["lon"].to_numpy(),
        nodes["lat"].to_numpy(),
        np.column_stack([edges["u"].to_numpy(), edges["v"].to_numpy()]),
        tags=tags,
        node_ids=nodes["id"].to_numpy(),
        source=str(path),
    )


def _graphml_value(val):
    """osmnx writes lists (merged ways) as their Python repr; keep the first value."""
    if isinstance(val, str) and val.startswith("["):
        try:
            parsed = ast.literal_eval(val)
        except (ValueError, SyntaxError):
            return val
        return str(parsed[0]) if parsed else None
    return val


def read_graphml(path: Path, *, modes=None) -> RoadNetwork:
    """Read an osmnx GraphML file (``ox.save_graphml``): curved edges become segments.

    osmnx stores a two-way street as two arcs, the second with ``reversed=True``; those
    are dropped, and ``oneway`` (relative to the arc) becomes the segment's direction.
    """
    import networkx as nx

    g = nx.read_graphml(path)
    ids = {}
    lon, lat, osmid = [], [], []
    for k, (node, d) in enumerate(g.nodes(data=True)):
        ids[node] = k
        lon.append(float(d["x"]))
        lat.append(float(d["y"]))
        try:
            osmid.append(int(d.get("osmid", node)))
        except ValueError:
            osmid.append(-(k + 1))
    next_id = -(len(lon) + 1)
    seg, tag_rows = [], []
    seen = set()
    for a, b, d in g.edges(data=True):
        if d.get("oneway") not in ("True", True):
            # a two-way street is two arcs (the second reversed=True, or a list of both for
            # merged ways): keep one per end pair and length
            key = (min(ids[a], ids[b]), max(ids[a], ids[b]), round(float(d.get("length", 0)), 2))
            if key in seen:
                continue
            seen.add(key)
        chain = [ids[a]]
        if d.get("geometry"):
            coords = shapely.get_coordinates(shapely.from_wkt(d["geometry"]))
            for x, y in coords[1:-1]:
                lon.append(float(x))
                lat.append(float(y))
                osmid.append(next_id)
                next_id -= 1
                chain.append(len(lon) - 1)
        chain.append(ids[b])
        tags = {k: _graphml_value(d.get(k)) for k in KEEP_TAGS}
        ow = d.get("oneway")
        # osmnx: True when the arc is one-way; False also on ways one-way only by
        # implication (motorways), so leave that to the travel-mode rules
        tags["oneway"] = "yes" if ow in ("True", True) else None
        for p, q in zip(chain[:-1], chain[1:], strict=True):
            seg.append((p, q))
            tag_rows.append(tags)
    if not seg:
        raise ValidationError(f"{path}: the GraphML file has no edges")
    tags = {k: np.array([t[k] for t in tag_rows], dtype=object) for k in KEEP_TAGS}
    tags = {k: v for k, v in tags.items() if k == "highway" or any(x is not None for x in v)}
    keep = ~_excluded(tags["highway"], modes)
    tags = {k: v[keep] for k, v in tags.items()}
    osmid_arr = np.asarray(osmid, dtype=np.int64)
    seg_ids = osmid_arr[np.asarray(seg)[keep]]
    return network_from_segments(lon, lat, seg_ids, tags=tags, node_ids=osmid_arr, source=str(path))


# --------------------------------------------------------------------------- npz cache
def save_network(net: RoadNetwork, path) -> None:
    """Write a prepared network to ``path`` (``.npz``), readable by :func:`load_network`.

    Uncompressed, and atomically (temp file, then rename).
    """
    path = Path(path)
    arrays = {
        "node_lon": net.node_lon,
        "node_lat": net.node_lat,
        "node_x": net.node_x,
        "node_y": net.node_y,
        "node_osmid": net.node_osmid,
        "edge_u": net.edge_u,
        "edge_v": net.edge_v,
        "edge_length_m": net.edge_length_m,
        "meta": np.array(
            json.dumps(
                {
                    "format": FORMAT_VERSION,
                    "crs": net.crs.to_wkt(),
                    "source": net.source,
                    "tags": list(net.tags),
                }
            )
        ),
    }
    for i, (codes, cats) in enumerate(net.tags.values()):
        arrays[f"tag{i}_codes"] = codes
        arrays[f"tag{i}_cats"] = cats
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_npz(path) -> RoadNetwork:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != FORMAT_VERSION:
            raise ValidationError(f"{path}: network file format {meta.get('format')!r} unknown")
        tags = {
            name: (z[f"tag{i}_codes"], z[f"tag{i}_cats"]) for i, name in enumerate(meta["tags"])
        }
        return RoadNetwork(
            node_lon=z["node_lon"],
            node_lat=z["node_lat"],
            node_x=z["node_x"],
            node_y=z["node_y"],
            node_osmid=z["node_osmid"],
            edge_u=z["edge_u"],
            edge_v=z["edge_v"],
            edge_length_m=z["edge_length_m"],
            tags=tags,
            crs=CRS.from_wkt(meta["crs"]),
            source=meta["source"],
        )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_key(path: Path, boundary=None, *, modes=None) -> str:
    """SHA-256 of the source, the clip boundary, the loader's version and exclusions."""
    settings = load_travel_modes(modes).settings
    h = hashlib.sha256(file_sha256(path).encode())
    if boundary is not None:
        h.update(shapely.to_wkb(shapely.normalize(boundary_geometry(boundary))))
    h.update(f"v{FORMAT_VERSION}|{sorted(settings.exclude_highway)}|{KEEP_TAGS}".encode())
    return h.hexdigest()[:16]


def _user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "servicemap"


def cache_path(path: Path, key: str) -> list[Path]:
    name = f"{path.name}.{key}.net.npz"
    return [path.with_name(name), _user_cache_dir() / name]


def _read_source(path: Path, boundary, modes=None) -> RoadNetwork:
    name = path.name.lower()
    if name.endswith(".pbf"):
        net = read_osm_pbf(path, boundary, modes=modes)
    elif name.endswith((".osm", ".xml")):
        net = read_osm_xml(path, modes=modes)
    elif name.endswith(".graphml"):
        net = read_graphml(path, modes=modes)
    elif name.endswith(".npz"):
        net = read_npz(path)
    else:
        raise ValidationError(
            f"{path}: unknown road-network format; use .osm.pbf, .osm (XML), .graphml "
            "(osmnx) or a servicemap .npz"
        )
    if boundary is not None:
        net = clip_network(net, boundary)
    return net


def load_network(path, *, boundary=None, cache: bool = True, modes=None) -> RoadNetwork:
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
    modes : path or TravelModes, optional
        The travel-mode file whose ``[network] exclude_highway`` applies (default: the
        shipped one).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValidationError(f"road network file {str(path)!r} does not exist")
    if path.name.lower().endswith(".npz") or not cache:
        return _read_source(path, boundary, modes)
    key = cache_key(path, boundary, modes=modes)
    for cp in cache_path(path, key):
        if cp.is_file():
            try:
                net = read_npz(cp)
                log.debug("road network from cache %s", cp)
                return net
            except (OSError, ValueError, KeyError) as exc:  # a damaged cache is rebuilt
                log.warning("ignoring damaged network cache %s: %s", cp, exc)
    net = _read_source(path, boundary, modes)
    for cp in cache_path(path, key):
        try:
            save_network(net, cp)
            log.info("cached road network at %s", cp)
            break
        except OSError:
            continue
    return net


# --------------------------------------------------------------------------- writing XML
def write_osm_xml(net: RoadNetwork, path) -> None:
    """Write the network as OSM XML: its nodes, and one two-node way per segment.

    Node ids made by servicemap (negative) are kept negative, as JOSM does for new nodes.
    """
    path = Path(path)
    tag_vals = {k: net.tag(k) for k in net.tags}
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("<?xml version='1.0' encoding='UTF-8'?>\n")
        fh.write('<osm version="0.6" generator="servicemap">\n')
        for i, lo, la in zip(net.node_osmid, net.node_lon, net.node_lat, strict=True):
            fh.write(f'  <node id="{i}" lat="{la:.7f}" lon="{lo:.7f}"/>\n')
        for k in range(net.n_edges):
            fh.write(f'  <way id="{k + 1}">\n')
            fh.write(f'    <nd ref="{net.node_osmid[net.edge_u[k]]}"/>\n')
            fh.write(f'    <nd ref="{net.node_osmid[net.edge_v[k]]}"/>\n')
            for name, vals in tag_vals.items():
                if vals[k] is not None:
                    fh.write(f"    <tag k={quoteattr(name)} v={quoteattr(str(vals[k]))}/>\n")
            fh.write("  </way>\n")
        fh.write("</osm>\n")


# --------------------------------------------------------------------------- fetch
def overpass_query(boundary) -> str:
    """The Overpass QL query for every highway in the boundary's bounding box."""
    minx, miny, maxx, maxy = shapely.bounds(boundary_geometry(boundary))
    return (
        "[out:xml][timeout:300];\n"
        f'(way["highway"]({miny:.6f},{minx:.6f},{maxy:.6f},{maxx:.6f}););\n'
        "(._;>;);\nout body;\n"
    )


def download(url: str, dest: Path, *, data: bytes | None = None, progress=None) -> Path:
    """Stream ``url`` to ``dest`` (POST ``data`` when given); local paths are copied."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file"):
        src = Path(urllib.request.url2pathname(parsed.path) if parsed.scheme else url)
        if not src.is_file():
            raise ValidationError(f"{url!r}: no such file")
        shutil.copyfile(src, dest)
        return dest
    if parsed.scheme not in ("http", "https"):
        raise ValidationError(f"{url!r}: only http(s) URLs and local files can be fetched")
    req = urllib.request.Request(url, data=data, headers={"User-Agent": USER_AGENT})
    tmp = dest.with_name(dest.name + ".part")
    with urllib.request.urlopen(req, timeout=600) as resp, open(tmp, "wb") as fh:
        total = int(resp.headers.get("Content-Length") or 0) or None
        if progress is not None:
            progress(0, total)
        done = 0
        while block := resp.read(1 << 20):
            fh.write(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    os.replace(tmp, dest)
    return dest


def fetch_network(
    out,
    *,
    boundary,
    url: str | None = None,
    overpass_url: str | None = None,
    progress=None,
    modes=None,
) -> RoadNetwork:
    """Fetch roads for ``boundary`` and write them, clipped, to ``out`` (OSM XML).

    Either ``url``: an OpenStreetMap extract (``.osm.pbf`` or ``.osm``; http(s) or a local
    path) covering the boundary, e.g. from download.geofabrik.de or download.bbbike.org;
    or ``overpass_url``: an Overpass API endpoint, asked for every highway in the
    boundary's bounding box. The result is clipped to the boundary, written to ``out`` and
    returned; loading ``out`` later hits the cache.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if (url is None) == (overpass_url is None):
        raise ValueError("give exactly one of url= (an OSM extract) or overpass_url=")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmpdir:
        if url is not None:
            name = Path(urllib.parse.urlparse(url).path).name or "extract.osm.pbf"
            src = download(url, Path(tmpdir) / name, progress=progress)
        else:
            assert overpass_url is not None
            query = overpass_query(boundary)
            body = urllib.parse.urlencode({"data": query}).encode()
            src = download(
                overpass_url, Path(tmpdir) / "overpass.osm", data=body, progress=progress
            )
        net = _read_source(src, boundary, modes)
    net = net.with_source(str(out))
    write_osm_xml(net, out)
    return net


__all__ = [
    "cache_key",
    "fetch_network",
    "load_network",
    "overpass_query",
    "read_graphml",
    "read_npz",
    "read_osm_pbf",
    "read_osm_xml",
    "save_network",
    "write_osm_xml",
]
