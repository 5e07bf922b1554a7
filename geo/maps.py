"""Folium map builders shared by the web app and the notebooks.

Pure functions: layers in, a :class:`folium.Map` out. Nothing here imports Flask.

Three things every map here gets right:

- **Datum of the tiles.** :data:`TILE_SOURCES` says which datum each base map is drawn in.
  Layers are WGS84 at rest; :func:`to_display` shifts them to GCJ-02 when the tiles are
  AMap's, so facilities sit on the right street.
- **Assets from our own copies.** folium points at CDNs; :func:`use_local_assets` points
  every element of a map at the app's own URLs (``base_url="/vendor"``) or inlines the
  files shipped by the ``xstatic-leaflet*`` packages (``base_url=None``, for notebooks and
  saved HTML), so maps work on an intranet and offline.
- **Text is text.** folium inserts tooltip and popup text raw into JavaScript template
  literals, where even ``html.escape`` leaves ``${...}`` and backticks live.
  :func:`escape_text` entity-encodes those too; every piece of data text this module hands
  to folium goes through it.

The one place where (lon, lat) becomes Leaflet's [lat, lon] is :func:`latlon`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import CssLink, Element, JavascriptLink, MacroElement, Template

from geo.crs import check_datum, from_wgs84
from geo.errors import ValidationError

# --------------------------------------------------------------------------- coordinates


def latlon(lon: float, lat: float) -> list[float]:
    """Leaflet's ``[lat, lon]`` from a ``(lon, lat)`` pair: the one place the swap happens.

    Examples
    --------
    >>> latlon(121.85, 29.9)
    [29.9, 121.85]
    """
    lon, lat = float(lon), float(lat)
    if not (math.isfinite(lon) and math.isfinite(lat) and -90 <= lat <= 90):
        raise ValidationError(f"not a longitude/latitude pair: lon={lon!r}, lat={lat!r}")
    return [lat, lon]


def latlon_bounds(bounds: Iterable[float]) -> list[list[float]]:
    """Leaflet's ``[[south, west], [north, east]]`` from ``(minx, miny, maxx, maxy)``."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    return [latlon(minx, miny), latlon(maxx, maxy)]


def to_display(layer: gpd.GeoDataFrame, datum: str) -> gpd.GeoDataFrame:
    """A copy of a WGS84 layer with every vertex shifted to ``datum`` for drawing.

    For GCJ-02 tiles (AMap) pass ``"gcj02"``; ``"wgs84"`` returns an unchanged copy. The
    result still says EPSG:4326 (GCJ-02 has no EPSG code): use it for drawing only.
    """
    datum = check_datum(datum)
    out = layer.copy()
    if datum == "wgs84" or len(out) == 0:
        return out
    if out.crs is not None and not out.crs.equals("EPSG:4326"):
        out = out.to_crs(4326)

    def _shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = from_wgs84(xy[:, 0], xy[:, 1], datum)
        return np.column_stack([lon, lat])

    geoms = shapely.transform(np.asarray(out.geometry.values), _shift)
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))


# --------------------------------------------------------------------------- escaping

_JS_TEMPLATE_CHARS = {"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"}


def escape_text(value: Any) -> str:
    """Text made safe to hand to folium as tooltip or popup HTML.

    HTML-escapes ``& < > " '`` and also entity-encodes the characters that stay live in a
    JavaScript template literal (backtick, ``$``, backslash, braces). The browser decodes
    the entities, so the reader sees the original text.

    Examples
    --------
    >>> escape_text("<b>${alert(1)}</b>`")
    '&lt;b&gt;&#36;&#123;alert(1)&#125;&lt;/b&gt;&#96;'
    """
    text = "" if value is None else str(value)
    text = html.escape(text, quote=True)
    return "".join(_JS_TEMPLATE_CHARS.get(ch, ch) for ch in text)


# --------------------------------------------------------------------------- tiles


@dataclass(frozen=True)
class TileSource:
    """A base map: URL template, attribution and the datum its tiles are drawn in."""

    key: str
    url: str | None
    attribution: str
    datum: str = "wgs84"
    subdomains: str = "abc"
    max_zoom: int = 18
    needs_key: bool = False
    overlays: tuple[str, ...] = field(default_factory=tuple)

    def urls(self, key: str | None = None) -> list[str]:
        """Tile URL templates (base first, then overlays) with the API key filled in."""
        if self.url is None:
            return []
        if self.needs_key and not key:
            raise ValidationError(
                f"tiles={self.key!r} needs an API key; set SERVICEMAP_TILES_KEY (or pass "
                f"tiles_key=) or choose tiles='osm' or tiles='none'"
            )
        return [u.replace("{key}", key or "") for u in (self.url, *self.overlays)]

    def origins(self) -> list[str]:
        """The origins its tiles come from, for a Content-Security-Policy ``img-src``."""
        out = []
        for u in (self.url, *self.overlays):
            if not u:
                continue
            parts = urlsplit(u.replace("{s}", "SUB"))
            host = parts.hostname or ""
            if "SUB" in host.upper():
                host = "*." + host.split(".", 1)[1]
            port = f":{parts.port}" if parts.port else ""
            out.append(f"{parts.scheme}://{host}{port}")
        return sorted(set(out))


TILE_SOURCES: dict[str, TileSource] = {
    "osm": TileSource(
        "osm",
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        datum="wgs84",
        subdomains="abc",
        max_zoom=19,
    ),
    "amap": TileSource(
        "amap",
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        "&copy; 高德地图 AutoNavi",
        datum="gcj02",
        subdomains="1234",
        max_zoom=18,
    ),
    "tianditu": TileSource(
        "tianditu",
        "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
        "&TILECOL={x}&tk={key}",
        "&copy; 天地图 Tianditu",
        datum="wgs84",  # CGCS2000, within centimetres of WGS84
        subdomains="01234567",
        max_zoom=18,
        needs_key=True,
        overlays=(
            "https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
            "&VERSION=1.0.0&LAYER=cva&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
            "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}",
        ),
    ),
    "none": TileSource("none", None, "", datum="wgs84", max_zoom=19),
}


def tile_source(
    tiles: str | TileSource = "osm",
    *,
    url: str | None = None,
    datum: str | None = None,
    attribution: str | None = None,
) -> TileSource:
    """The :class:`TileSource` named ``tiles``, or a custom one when ``url`` is given.

    A custom source (an intranet tile server) needs its ``datum`` stated.

    Examples
    --------
    >>> tile_source("amap").datum
    'gcj02'
    >>> tile_source(url="https://tiles.example.org/{z}/{x}/{y}.png", datum="wgs84").origins()
    ['https://tiles.example.org']
    """
    if isinstance(tiles, TileSource):
        return tiles
    if url:
        if datum is None:
            raise ValidationError("a custom tile url needs datum= ('wgs84', 'gcj02' or 'bd09')")
        return TileSource(
            "custom", url, attribution or "", datum=check_datum(datum), subdomains="abc"
        )
    if tiles not in TILE_SOURCES:
        raise ValidationError(
            f"tiles={tiles!r} is not known; use one of {sorted(TILE_SOURCES)!r} "
            f"or give url= and datum= for your own tile server"
        )
    return TILE_SOURCES[tiles]


# --------------------------------------------------------------------------- assets

_XSTATIC = {
    "leaflet": "xstatic.pkg.leaflet",
    "leaflet_markercluster": "xstatic.pkg.leaflet_markercluster",
}

# folium's asset names -> (xstatic package, file). None: not needed by these maps, dropped.
LOCAL_ASSETS: dict[str, tuple[str, str] | None] = {
    "leaflet": ("leaflet", "leaflet.js"),
    "leaflet_css": ("leaflet", "leaflet.css"),
    "markerclusterjs": ("leaflet_markercluster", "leaflet.markercluster.js"),
    "markerclustercss": ("leaflet_markercluster", "MarkerCluster.css"),
    "markerclusterdefaultcss": ("leaflet_markercluster", "MarkerCluster.Default.css"),
    # folium.Map lists these for folium.Icon / Bootstrap popups; our maps use neither.
    "jquery": None,
    "bootstrap": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers": None,
    "awesome_markers_css": None,
    "awesome_markers_font_css": None,
    "awesome_rotate_css": None,
}


def asset_dir(package: str) -> Path:
    """The folder holding an XStatic package's files (``leaflet``, ``leaflet_markercluster``)."""
    if package not in _XSTATIC:
        raise ValidationError(f"package={package!r} is not one of {sorted(_XSTATIC)!r}")
    import importlib

    return Path(importlib.import_module(_XSTATIC[package]).BASE_DIR)


def asset_version(package: str) -> str:
    """The version of an XStatic package's files, for cache-busting URLs."""
    import importlib

    return str(importlib.import_module(_XSTATIC[package]).VERSION)


def asset_url(base_url: str, name: str) -> str | None:
    """The app URL of one folium asset name under ``base_url`` (None when dropped)."""
    spec = LOCAL_ASSETS[name]
    if spec is None:
        return None
    package, filename = spec
    return f"{base_url.rstrip('/')}/{package}/{asset_version(package)}/{filename}"


def _elements(root: Any) -> Iterable[Any]:
    yield root
    for child in list(getattr(root, "_children", {}).values()):
        yield from _elements(child)


def use_local_assets(m: folium.Map, *, base_url: str | None = None) -> folium.Map:
    """Point every script and stylesheet of a map at local copies, never a CDN.

    Parameters
    ----------
    m : folium.Map
        Call it after adding every layer and plugin (each brings its own asset list).
    base_url : str, optional
        URL prefix the app serves the XStatic packages under (``"/vendor"`` in the web
        app gives ``/vendor/leaflet/1.9.3/leaflet.js``). ``None`` inlines the files into
        the map's HTML instead: for notebooks and saved HTML, which then need no server
        and no internet.

    Raises
    ------
    ValueError
        When an element needs an asset with no local copy; the message names it.
    """
    root = cast(folium.Figure, m.get_root())
    for el in _elements(m):
        for attr in ("default_js", "default_css"):
            assets = getattr(el, attr, None)
            if not assets:
                continue
            kept = []
            for name, _url in assets:
                if name not in LOCAL_ASSETS:
                    raise ValidationError(
                        f"{type(el).__name__} needs asset {name!r}, which has no local copy; "
                        f"add it to geo.maps.LOCAL_ASSETS from an installed package, or "
                        f"leave that element out"
                    )
                if LOCAL_ASSETS[name] is None:
                    continue
                if base_url is not None:
                    kept.append((name, asset_url(base_url, name)))
                else:
                    package, filename = LOCAL_ASSETS[name]  # type: ignore[misc]
                    text = (asset_dir(package) / filename).read_text(encoding="utf-8")
                    if attr == "default_js":
                        text = text.replace("</", "<\\/")
                        tag = f"<script>{text}</script>"
                    else:
                        text = text.replace("</", "<\\/")
                        tag = f"<style>{text}</style>"
                    root.header.add_child(Element(tag), name=name)
            # an instance attribute: folium's lists are class attributes shared by all maps
            setattr(el, attr, kept)
    return m


# --------------------------------------------------------------------------- embedding


@dataclass(frozen=True)
class MapParts:
    """A rendered map cut into the pieces a page template places itself.

    ``js`` and ``css`` are asset URLs, ``html`` the map's ``<div>``, ``script`` the
    JavaScript that builds the map (to go in a ``<script>`` after the div), ``name`` the
    global JavaScript variable holding the ``L.map``.
    """

    name: str
    js: tuple[str, ...]
    css: tuple[str, ...]
    html: str
    script: str


def map_parts(m: folium.Map) -> MapParts:
    """Cut a map into :class:`MapParts`, leaving out folium's page boilerplate.

    folium's own page sets ``user-scalable=no`` and full-window styles; a page that embeds
    the parts keeps its own viewport and layout.
    """
    root = cast(folium.Figure, m.get_root())
    root.render()
    js, css = [], []
    for child in root.header._children.values():
        if isinstance(child, JavascriptLink):
            js.append(child.url)
        elif isinstance(child, CssLink):
            css.append(child.url)
    return MapParts(
        name=m.get_name(),
        js=tuple(js),
        css=tuple(css),
        html=root.html.render(),
        script=root.script.render(),
    )


# --------------------------------------------------------------------------- builders


def _simplified(layer: gpd.GeoDataFrame, tolerance_deg: float) -> gpd.GeoDataFrame:
    out = layer.copy()
    if tolerance_deg > 0 and len(out):
        out = out.set_geometry(out.geometry.simplify(tolerance_deg, preserve_topology=True))
    return out


def base_map(
    boundary: gpd.GeoDataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    *,
    tiles: str | TileSource = "osm",
    tiles_key: str | None = None,
    assets: str | None = None,
    lang: str = "zh",
    location: tuple[float, float] | None = None,
    zoom_start: int = 11,
    simplify_m: float = 15.0,
) -> folium.Map:
    """A map with tiles, the district boundary and the areas, fitted to the boundary.

    Without tiles (``tiles="none"``, or none reachable) the boundary and areas still show.

    Parameters
    ----------
    boundary, areas : GeoDataFrame, optional
        WGS84 layers; areas need ``name`` (and ``name_en`` for ``lang="en"``).
    tiles : str or TileSource
        A key of :data:`TILE_SOURCES`; everything is drawn in the tiles' datum.
    tiles_key : str, optional
        API key for sources that need one (Tianditu).
    assets : str, optional
        ``base_url`` for :func:`use_local_assets`; ``None`` inlines the files.
    location : (lon, lat), optional
        Centre when there is no boundary.
    simplify_m : float
        Outline simplification tolerance, metres (keeps pages light).
    """
    src = tile_source(tiles)
    urls = src.urls(tiles_key)
    centre = location or (121.85, 29.9)
    m = folium.Map(
        location=latlon(*centre),
        zoom_start=zoom_start,
        tiles=None,
        control_scale=False,  # folium's shows miles too: ours is metric only (_MetricScale)
        prefer_canvas=False,
    )
    _MetricScale().add_to(m)
    # a zoom range even without tiles (folium gives it to the tile layer only): marker
    # clustering needs the map's maxZoom
    m.options["max_zoom"] = src.max_zoom
    m.options["min_zoom"] = 5
    m.options["zoom_snap"] = 0.25  # fit the district snugly on a phone
    for i, url in enumerate(urls):
        folium.TileLayer(
            tiles=url,
            attr=src.attribution or " ",
            name=src.key if i == 0 else f"{src.key}-labels",
            subdomains=src.subdomains,
            max_zoom=src.max_zoom,
            control=False,
            overlay=i > 0,
        ).add_to(m)
    tol = simplify_m / 111_000.0
    fit = None
    if areas is not None and len(areas):
        shown = to_display(_simplified(areas, tol), src.datum)
        label_col = "name_en" if lang == "en" and "name_en" in shown.columns else "name"
        for row in shown.itertuples(index=False):
            level = getattr(row, "level", "")
            weight = 1.5 if level == "subdistrict" else 1.0
            dash = None if level == "subdistrict" else "4 4"
            gj = folium.GeoJson(
                shapely.geometry.mapping(row.geometry),
                style_function=lambda _f, w=weight, d=dash: {
                    "color": "#4a5568",
                    "weight": w,
                    "dashArray": d,
                    "fill": True,
                    "fillOpacity": 0.0,
                },
                highlight_function=None,
                interactive=True,
            )
            label = getattr(row, label_col, "") or getattr(row, "name", "")
            if label:
                folium.Tooltip(escape_text(label), sticky=True).add_to(gj)
            gj.add_to(m)
        fit = shown.total_bounds
    if boundary is not None and len(boundary):
        shown = to_display(_simplified(boundary, tol), src.datum)
        folium.GeoJson(
            shapely.geometry.mapping(shown.union_all()),
            style_function=lambda _f: {"color": "#1a202c", "weight": 2.5, "fill": False},
            interactive=False,
        ).add_to(m)
        fit = shown.total_bounds
    if fit is not None and np.all(np.isfinite(fit)):
        m.fit_bounds(latlon_bounds(fit))
    return use_local_assets(m, base_url=assets)


def _registry(registry: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if registry is not None:
        return registry
    from geo.layers import load_registry

    return load_registry()


def _label(ftype: Any, key: str, lang: str) -> str:
    if ftype is None:
        return key
    return ftype.label_en if lang == "en" else ftype.label_zh


def facility_map(
    facilities: gpd.GeoDataFrame,
    *,
    boundary: gpd.GeoDataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    registry: Mapping[str, Any] | None = None,
    tiles: str | TileSource = "osm",
    tiles_key: str | None = None,
    assets: str | None = None,
    lang: str = "zh",
    cluster: bool = True,
) -> folium.Map:
    """Facilities coloured by type over the boundary and areas (for notebooks).

    Every facility is a circle marker with a tooltip of its name, type, address and
    hours, escaped with :func:`escape_text`. The web finder draws its markers with its
    own script instead, from the JSON API.

    Examples
    --------
    >>> from geo.demo import load_demo
    >>> demo = load_demo("beilun")
    >>> m = facility_map(demo.facilities, boundary=demo.boundary, tiles="none")
    >>> html = m.get_root().render()
    >>> "cdn." in html or "cdnjs" in html
    False
    """
    reg = _registry(registry)
    src = tile_source(tiles)
    m = base_map(boundary, areas, tiles=src, tiles_key=tiles_key, assets=assets, lang=lang)
    shown = to_display(facilities, src.datum)
    target: Any = m
    if cluster and len(shown) > 50:
        from folium.plugins import MarkerCluster

        target = MarkerCluster(name="facilities", options={"chunkedLoading": True}).add_to(m)
    for row in shown.itertuples(index=False):
        ftype = reg.get(row.type)
        color = ftype.color if ftype is not None else "#666666"
        lines = [
            f"<strong>{escape_text(row.name)}</strong>",
            escape_text(_label(ftype, row.type, lang)),
        ]
        for extra in (getattr(row, "address", ""), getattr(row, "hours", "")):
            if extra:
                lines.append(escape_text(extra))
        folium.CircleMarker(
            location=latlon(row.geometry.x, row.geometry.y),
            radius=6,
            color="#ffffff",
            weight=1.5,
            fill=True,
            fill_color=color,
            fill_opacity=0.95,
            tooltip=folium.Tooltip("<br>".join(lines)),
        ).add_to(target)
    if len(shown) and boundary is None:
        m.fit_bounds(latlon_bounds(shown.total_bounds))
    return use_local_assets(m, base_url=assets)


class _MetricScale(MacroElement):
    """Leaflet's scale bar in metres and kilometres only (folium's also shows miles)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});
        {% endmacro %}"""
    )


# --------------------------------------------------------------------------- gap layer

#: Lower bounds of the classes of people per gap cell, as multiples of the privacy floor k:
#: the same on every map (the planner's, the notebooks', the report's), in every scenario.
GAP_CLASS_STEPS: tuple[int, ...] = (1, 2, 5, 10, 20, 50)
GAP_CLASS_COLORS: tuple[str, ...] = (
    "#fee5d9",
    "#fcbba1",
    "#fc9272",
    "#fb6a4a",
    "#de2d26",
    "#a50f15",
)


def gap_classes(k: float = 10) -> list[dict[str, Any]]:
    """The legend of the gap map: classes of people per cell, bounded by multiples of ``k``.

    Class ``i`` holds cells with ``min <= people < max`` (the last has no ``max``). The
    bounds are ``k`` times :data:`GAP_CLASS_STEPS` (``k`` below 1 counts as 1), so they do
    not depend on the data: two scenarios are drawn with the same colours.

    Examples
    --------
    >>> [c["label"] for c in gap_classes(10)]
    ['10–20', '20–50', '50–100', '100–200', '200–500', '≥ 500']
    """
    if not (isinstance(k, int | float) and math.isfinite(k) and k >= 0):
        raise ValueError(f"k={k!r} must be a number of people >= 0")
    base = max(float(k), 1.0)
    lows = [base * s for s in GAP_CLASS_STEPS]
    out = []
    for i, lo in enumerate(lows):
        hi = lows[i + 1] if i + 1 < len(lows) else None
        label = f"{lo:,.0f}–{hi:,.0f}" if hi is not None else f"≥ {lo:,.0f}"
        out.append({"min": lo, "max": hi, "color": GAP_CLASS_COLORS[i], "label": label})
    return out


def gap_class_index(people: Iterable[float], classes: list[dict[str, Any]]) -> np.ndarray:
    """The class (index into ``classes``) of each number of people; below the first, 0.

    Examples
    --------
    >>> gap_class_index([10, 19.9, 20, 700], gap_classes(10)).tolist()
    [0, 0, 1, 5]
    """
    lows = np.array([c["min"] for c in classes], dtype="float64")
    values = np.asarray(list(people), dtype="float64")
    return np.clip(np.searchsorted(lows, values, side="right") - 1, 0, len(lows) - 1)


def _polygonal(geom: Any) -> Any:
    """The polygons of a geometry (an intersection may leave lines and points on edges)."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def gap_layer(
    cells: gpd.GeoDataFrame,
    *,
    fine: Iterable[str] | None = None,
    boundary: gpd.GeoDataFrame | None = None,
    k: float = 10,
) -> gpd.GeoDataFrame:
    """The gap cells as they are drawn: merged cells as their children, inside the district.

    Parameters
    ----------
    cells : GeoDataFrame
        Gap cells after :func:`geo.apply_privacy_floor` (``h3``, ``weight``,
        ``resolution``): the numbers drawn are theirs, unchanged.
    fine : iterable of str, optional
        The H3 ids of the cells before the floor (``CoverageSummary.gaps["h3"]``). A cell
        the floor merged into a coarser parent is then drawn as the union of the fine cells
        it took in, not as the parent hexagon (which may reach far beyond them).
    boundary : GeoDataFrame, optional
        The district: every shape is clipped to it.
    k : float
        The privacy floor, for the classes of :func:`gap_classes`.

    Returns
    -------
    GeoDataFrame
        ``h3``, ``weight``, ``resolution``, ``gap_class`` (index into ``gap_classes(k)``)
        and the drawn geometry, EPSG:4326, in the order of ``cells``; a cell whose shape
        lies wholly outside the boundary is left out (``attrs["outside_people"]``).
    """
    import h3

    for col in ("h3", "weight"):
        if col not in cells.columns:
            raise ValueError(
                f"cells has no column {col!r}; pass the output of apply_privacy_floor "
                f"(columns are {list(cells.columns)!r})"
            )
    ids = cells["h3"].astype(str).tolist()
    res = [h3.get_resolution(c) for c in ids]
    geoms = list(cells.geometry.values)
    fine_ids = sorted({str(c) for c in fine}) if fine is not None else []
    if fine_ids:
        finest = max(h3.get_resolution(c) for c in fine_ids)
        by_parent: dict[int, dict[str, list[str]]] = {}
        for i, (cell, r) in enumerate(zip(ids, res, strict=True)):
            if r >= finest:
                continue
            if r not in by_parent:
                groups: dict[str, list[str]] = {}
                for c in fine_ids:
                    groups.setdefault(h3.cell_to_parent(c, r), []).append(c)
                by_parent[r] = groups
            children = by_parent[r].get(cell)
            if children:
                geoms[i] = shapely.geometry.shape(h3.cells_to_geo(children))
    drawn = np.array(geoms, dtype=object)
    if boundary is not None and len(boundary):
        clip = boundary.to_crs(4326).union_all() if boundary.crs else boundary.union_all()
        drawn = np.array([_polygonal(g) for g in shapely.intersection(drawn, clip)], dtype=object)
    weight = pd.to_numeric(cells["weight"]).to_numpy(dtype="float64")
    out = gpd.GeoDataFrame(
        {
            "h3": ids,
            "weight": weight,
            "resolution": np.asarray(res, dtype="int64"),
            "gap_class": gap_class_index(weight, gap_classes(k)).astype("int64"),
        },
        geometry=list(drawn),
        crs="EPSG:4326",
    )
    empty = out.geometry.is_empty.to_numpy()
    out.attrs["outside_people"] = float(weight[empty].sum())
    out.attrs["withheld_people"] = float(cells.attrs.get("withheld_people", 0.0))
    return out[~empty].reset_index(drop=True)


def gap_map(
    cells: gpd.GeoDataFrame,
    *,
    k: float = 10,
    boundary: gpd.GeoDataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    tiles: str | TileSource = "osm",
    tiles_key: str | None = None,
    assets: str | None = None,
    lang: str = "zh",
) -> folium.Map:
    """Uncovered people on the hex grid, with the privacy floor applied (for notebooks).

    Cells are drawn by :func:`gap_layer` (merged cells as their children, clipped to the
    boundary) in the classes of :func:`gap_classes`, with a legend and a metric scale bar.

    Parameters
    ----------
    cells : GeoDataFrame
        ``CoverageSummary.gaps`` (``h3``, ``people``, ``n``) or any output of
        :func:`geo.to_h3` (``weight``); cells under ``k`` people are merged upwards or
        withheld by :func:`geo.apply_privacy_floor` before drawing.
    k : float
        Privacy floor, people.

    Examples
    --------
    >>> from geo.demo import load_demo
    >>> from geo.coverage import coverage, coverage_summary
    >>> demo = load_demo("beilun")
    >>> s = coverage_summary(coverage(demo.facilities, demo.demand, facility_type="mother_room"))
    >>> html = gap_map(s.gaps, boundary=demo.boundary, tiles="none").get_root().render()
    >>> "sm-gap-legend" in html and "imperial: false" in html
    True
    """
    from geo.demand import apply_privacy_floor

    src = tile_source(tiles)
    frame = cells.rename(columns={"people": "weight"}) if "people" in cells.columns else cells
    if "n" not in frame.columns:
        frame = frame.assign(n=1)
    frame = frame[[c for c in ("h3", "weight", "n", frame.geometry.name) if c in frame.columns]]
    floored = apply_privacy_floor(frame, k=k) if len(frame) else frame
    m = base_map(boundary, areas, tiles=src, tiles_key=tiles_key, assets=assets, lang=lang)
    classes = gap_classes(k)
    if len(floored):
        drawn = gap_layer(floored, fine=frame["h3"], boundary=boundary, k=k)
        shown = to_display(drawn, src.datum)
        features = [
            {
                "type": "Feature",
                "properties": {
                    "h3": str(h),
                    "people": round(float(w), 1),
                    "fill": classes[int(c)]["color"],
                },
                "geometry": shapely.geometry.mapping(geom),
            }
            for h, w, c, geom in zip(
                shown["h3"], shown["weight"], shown["gap_class"], shown.geometry, strict=True
            )
        ]
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            style_function=lambda f: {
                "color": "#7f1d1d",
                "weight": 0.5,
                "fillColor": f["properties"]["fill"],
                "fillOpacity": 0.75,
            },
            tooltip=folium.GeoJsonTooltip(
                ["people"], aliases=["people" if lang == "en" else "人数"]
            ),
        ).add_to(m)
    title = "People left out per cell" if lang == "en" else "每格未覆盖人数"
    rows = "".join(
        f'<div><i style="background:{c["color"]}"></i>{html.escape(c["label"])}</div>'
        for c in classes
    )
    legend = (
        '<div class="sm-gap-legend" style="position:absolute;bottom:28px;right:10px;'
        "z-index:1000;background:#fff;padding:6px 8px;font:12px sans-serif;"
        'border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3)">'
        f"<strong>{html.escape(title)}</strong>{rows}</div>"
        "<style>.sm-gap-legend i{display:inline-block;width:14px;height:10px;"
        "margin-right:6px;border:1px solid #7f1d1d}</style>"
    )
    m.get_root().html.add_child(Element(legend))  # type: ignore[attr-defined]
    return use_local_assets(m, base_url=assets)


__all__ = [
    "LOCAL_ASSETS",
    "GAP_CLASS_COLORS",
    "GAP_CLASS_STEPS",
    "TILE_SOURCES",
    "MapParts",
    "TileSource",
    "asset_dir",
    "asset_url",
    "base_map",
    "escape_text",
    "facility_map",
    "gap_class_index",
    "gap_classes",
    "gap_layer",
    "gap_map",
    "latlon",
    "latlon_bounds",
    "map_parts",
    "tile_source",
    "to_display",
    "use_local_assets",
]
