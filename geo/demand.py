"""Worker-demand layers: where the people a facility serves actually are.

Every demand layer becomes weighted points in EPSG:4326 with the columns of
``docs/data-model.md`` (``id, group, weight, kind, source_id, route_id, route_pos_m,
geometry``):

- points (workplaces with a headcount, rider activity) stay points (``kind="point"``);
  a workplace file (``headcount`` and ``female_share`` columns) yields an ``all_workers``
  and a ``female_nursing`` row per workplace;
- polygons with a population are spread over a regular metric grid, each grid cell's
  share of the polygon carrying its share of the people (``kind="area"``);
- freight routes with daily trucks are sampled along the line (``kind="route"``).

:func:`to_h3` aggregates demand to H3 hexagons for display and for the public API, and
:func:`apply_privacy_floor` makes sure no hexagon with fewer than ``k`` people is ever
shown on its own.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import Polygon

from geo import _io
from geo._chunks import in_chunks
from geo._gc import gc_paused
from geo.crs import check_datum, geometry_to_wgs84, metric_crs_for, require_crs, to_wgs84
from geo.errors import ValidationError, check_positive

log = logging.getLogger(__name__)

DEMAND_COLUMNS: tuple[str, ...] = (
    "id",
    "group",
    "weight",
    "kind",
    "source_id",
    "route_id",
    "route_pos_m",
    "geometry",
)

# Header aliases, matched after geo._io.norm_header.
_LON_ALIASES = ("lon", "lng", "long", "longitude", "经度")
_LAT_ALIASES = ("lat", "latitude", "纬度")
_WEIGHT_ALIASES = (
    "weight",
    "people",
    "headcount",
    "population",
    "daily_trucks",
    "trucks",
    "人数",
    "职工人数",
    "人口",
)
_HEADCOUNT_ALIASES = ("headcount", "职工人数", "人数", "people", "weight")
_GROUP_ALIASES = ("group", "人群")
_FEMALE_SHARE_ALIASES = ("female_share", "女职工占比")
_ID_ALIASES = ("id", "编号")

_WORKPLACE_GROUPS = ("all_workers", "female_nursing")
SUPPORTED_DEMAND_FORMATS: tuple[str, ...] = (
    *_io.TABULAR_SUFFIXES,
    *_io.VECTOR_SUFFIXES,
    ".parquet",
)
_MAX_CELLS_PER_POLYGON = 2_000_000
_SLIVER = 1e-6  # cut pieces under this fraction of a grid cell are dropped
_METRES_PER_DEGREE = 111_320.0


# --------------------------------------------------------------------------------------
# columns and attributes


def _columns(
    raw: _io.Raw, problems: _io.Problems, *, weight: str | None, id_column: str | None
) -> dict[str, Any]:
    """The input's column for each demand field (``lon``/``lat`` for tables only)."""
    names = list(raw.frame.columns)
    workplace = any(_io.norm_header(c) in _FEMALE_SHARE_ALIASES for c in names)
    aliases: dict[str, Sequence[str]] = {
        "id": _ID_ALIASES if id_column is None else (id_column,),
        "weight": (_HEADCOUNT_ALIASES if workplace else _WEIGHT_ALIASES)
        if weight is None
        else (weight,),
        "group": _GROUP_ALIASES,
        "female_share": _FEMALE_SHARE_ALIASES,
    }
    if raw.geometry is None:
        aliases |= {"lon": _LON_ALIASES, "lat": _LAT_ALIASES}
    columns = _io.match_columns(names, aliases, problems)
    for fld, given, what in (("id", id_column, "id_column"), ("weight", weight, "weight column")):
        if given is not None and fld not in columns:
            problems.add(None, given, f"{what} {given!r} not found; columns found: {names!r}")
    return columns


#: Common ways of writing the shipped demand groups (matched after _group_norm).
_GROUP_WORDS: dict[str, tuple[str, ...]] = {
    "outdoor": (
        "户外劳动者",
        "户外",
        "户外职工",
        "户外工作者",
        "outdoor_workers",
        "outdoor_worker",
    ),
    "female_nursing": ("女职工", "哺乳期女职工", "孕哺期女职工", "母婴", "nursing_mothers"),
    "all_workers": ("职工", "全体职工", "所有职工", "workers", "all"),
    "truck_drivers": ("货车司机", "卡车司机", "司机", "drivers", "truckers"),
}


def _group_norm(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(text).strip()).casefold()


def demand_groups(registry: Mapping[str, Any] | None = None) -> list[str]:
    """The demand groups a registry's facility types serve, plus the workplace groups.

    Examples
    --------
    >>> demand_groups()
    ['outdoor', 'female_nursing', 'all_workers', 'truck_drivers']
    """
    from geo.layers import default_registry

    registry = default_registry() if registry is None else registry
    groups = [ft.demand_group for ft in registry.values()]
    return list(dict.fromkeys([*groups, *_WORKPLACE_GROUPS]))


def _group_lookup(groups: Sequence[str]) -> dict[str, str]:
    """Spellings to group keys: the key, its plural or singular, and common words."""
    index: dict[str, str] = {}
    for key in groups:
        norm = _group_norm(key)
        for variant in (norm, norm.removesuffix("s"), norm + "s", *_GROUP_WORDS.get(key, ())):
            index.setdefault(_group_norm(variant), key)
    return index


def match_groups(
    values: Sequence[str], groups: Sequence[str]
) -> tuple[list[str | None], dict[str, str]]:
    """Each value's group key (None when it matches none), and the non-exact matches.

    Examples
    --------
    >>> match_groups(["Outdoor", "户外劳动者", "outdoors", "riders"], ["outdoor"])
    (['outdoor', 'outdoor', 'outdoor', None], {'Outdoor': 'outdoor', '户外劳动者': 'outdoor', 'outdoors': 'outdoor'})
    """  # noqa: E501
    index = _group_lookup(groups)
    exact = set(groups)
    out: list[str | None] = []
    read_as: dict[str, str] = {}
    for value in values:
        key = value if value in exact else index.get(_group_norm(value))
        if key is not None and key != value:
            read_as[value] = key
        out.append(key)
    return out, read_as


def _group_list(groups: Sequence[str]) -> str:
    return ", ".join(groups)


class _Attributes:
    """Validated per-feature attributes: source ids and (group, weight) rows.

    ``source_ids`` is a numpy array of str, or a pyarrow string array for a file read by
    the fast path; ``groups`` holds, for each of the g rows a feature gives (1, or 2 for a
    workplace file), one group for every feature (a str) or an array of them (numpy or
    pyarrow); ``weights`` has shape (n_features, g).
    """

    def __init__(self, source_ids: Any, groups: list[Any], weights: np.ndarray):
        self.source_ids = source_ids
        self.groups = groups
        self.weights = weights

    @property
    def per_feature(self) -> int:
        return len(self.groups)

    def sid(self, i: int) -> str:
        return str(_pick(self.source_ids, [i])[0])

    def sids(self, idx: np.ndarray) -> np.ndarray:
        return _pick(self.source_ids, idx)

    def group(self, i: int, k: int) -> str:
        return str(self.groups_at(np.array([i]), k)[0])

    def groups_at(self, idx: np.ndarray, k: int) -> np.ndarray:
        col = self.groups[k]
        return np.full(len(idx), col, dtype=object) if isinstance(col, str) else _pick(col, idx)


def _pick(values: Any, idx: Any) -> np.ndarray:
    """``values[idx]`` of a numpy or pyarrow array, as a numpy array of str."""
    if isinstance(values, np.ndarray):
        return values[idx]
    return np.asarray(values.take(pa_indices(idx)).to_numpy(zero_copy_only=False), dtype=object)


def pa_indices(idx: Any) -> Any:
    import pyarrow as pa

    return pa.array(np.asarray(idx, dtype=np.int64))


def _text_array(values: Any, n: int) -> Any:
    """A text column as a pyarrow string array: a str for every row, or an array."""
    import pyarrow as pa

    if isinstance(values, str):
        data = values.encode("utf-8")
        offsets = np.arange(n + 1, dtype=np.int64) * len(data)
        return pa.Array.from_buffers(
            pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)]
        )
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(np.asarray(values, dtype=object), type=pa.string())


def _ids(raw: _io.Raw, problems: _io.Problems, columns: dict[str, Any]) -> Any:
    """The source ids: numpy str, or pyarrow for a file read by the fast path (and for
    row numbers of a table, cast without a Python string per row)."""
    import pyarrow as pa

    if "id" in columns:
        ids = _io.check_ids(raw.frame[columns["id"]], columns["id"], problems, arrow=True)
        return ids if isinstance(ids, pa.Array) else np.array(ids, dtype=object)
    if raw.geometry is None:
        return pa.array(np.asarray(raw.numbers, dtype=np.int64)).cast(pa.string())
    return np.asarray(raw.numbers).astype(str).astype(object)


def _weights(
    raw: _io.Raw,
    problems: _io.Problems,
    columns: dict[str, Any],
    *,
    weight_given: bool,
    weight_required: bool,
    workplace: bool,
) -> np.ndarray:
    frame = raw.frame
    if "weight" in columns:
        col = columns["weight"]
        weights, blank, bad = _io.parse_numbers(frame[col])
        for i in np.flatnonzero(blank):
            problems.value(i, col, "", "is blank; fill in the number of people (0 for none)")
        for i in np.flatnonzero(bad):
            problems.value(i, col, frame[col].iloc[i], "is not a number of people")
        for i in np.flatnonzero(weights < 0):
            problems.value(i, col, frame[col].iloc[i], "is negative; people are >= 0")
        return weights
    if not weight_given and (weight_required or workplace):
        what = "headcount" if workplace else "weight"
        aliases = _HEADCOUNT_ALIASES if workplace else _WEIGHT_ALIASES
        problems.no_column(
            what, aliases, frame.columns, "; pass weight='<column>' (CLI: --weight COLUMN)"
        )
    elif not weight_given:
        log.info("%s has no weight column; every point counts as one person", raw.source)
    return np.ones(len(frame))


def _group_column(raw: _io.Raw, problems: _io.Problems, col: Any, groups: Sequence[str]) -> Any:
    """The group column's values as group keys; blank and unknown values are problems."""
    values = raw.frame[col]
    text = _io._arrow_text(values)
    encoded = None
    if text is not None:  # vectorised: codes from pyarrow, text only for distinct values
        encoded = text.dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        uniques = encoded.dictionary.to_pylist()
    else:
        texts = pd.Series([_io.cell_text(v) for v in values], dtype=object)
        codes, uniques = pd.factorize(texts, sort=False)
    keys, read_as = match_groups(list(uniques), groups)
    for j, (value, key) in enumerate(zip(uniques, keys, strict=True)):
        if key is not None:
            continue
        rows = np.flatnonzero(codes == j)
        what = (
            "is blank; fill it in, or pass group='...' (CLI: --group) for all rows"
            if not value
            else f"is not a demand group; use one of {_group_list(groups)} (the groups the "
            "registry's facility types serve), or pass group='...' (CLI: --group)"
        )
        for i in rows[: _io.MAX_SHOWN].tolist():
            problems.value(i, col, value, what)
    if read_as:
        warnings.warn(
            f"{raw.source}: group values read as the registry's groups: "
            + ", ".join(f"{v!r} as {k!r}" for v, k in read_as.items()),
            UserWarning,
            stacklevel=5,
        )
    if encoded is not None:  # the keys, as pyarrow text: no Python string per row
        import pyarrow as pa

        return pa.array([k or "" for k in keys], pa.string()).take(encoded.indices)
    lookup = np.array([k or "" for k in keys] or [""], dtype=object)
    return lookup[codes] if len(codes) else np.empty(0, dtype=object)


def _group_argument(group: str, groups: Sequence[str]) -> str:
    (key,), _ = match_groups([group.strip()], groups)
    if key is None:
        raise ValidationError(
            f"group={group!r} is not a demand group; use one of {_group_list(groups)}"
        )
    return key


def _attributes(
    raw: _io.Raw,
    problems: _io.Problems,
    columns: dict[str, Any],
    *,
    group: str | None,
    groups: Sequence[str],
    weight_given: bool,
    weight_required: bool,
) -> _Attributes:
    """Ids, groups and weights per record, recording every problem in them."""
    frame = raw.frame
    ids = _ids(raw, problems, columns)
    share_col = columns.get("female_share")  # a workplace file
    weights = _weights(
        raw,
        problems,
        columns,
        weight_given=weight_given,
        weight_required=weight_required,
        workplace=share_col is not None,
    )

    if share_col is not None:
        if group is not None:
            warnings.warn(
                f"{raw.source} is a workplace file (has {share_col!r}): its rows get the "
                f"groups {_WORKPLACE_GROUPS!r}, so group={group!r} is ignored",
                UserWarning,
                stacklevel=3,
            )
        shares, blank, bad = _io.parse_numbers(frame[share_col])
        for i in np.flatnonzero(blank | bad | (shares < 0) | (shares > 1)):
            problems.value(
                i,
                share_col,
                "" if blank[i] else frame[share_col].iloc[i],
                "must be a fraction between 0 and 1 (e.g. 0.35 for 35%)",
            )
        return _Attributes(
            ids, list(_WORKPLACE_GROUPS), np.column_stack([weights, weights * shares])
        )

    if group is not None:
        return _Attributes(ids, [group], weights[:, None])
    if "group" not in columns:
        problems.no_column(
            "group",
            _GROUP_ALIASES,
            frame.columns,
            f"; or pass group='...' (CLI: --group GROUP) for all rows, one of "
            f"{_group_list(groups)}",
        )
        return _Attributes(ids, [""], weights[:, None])
    found = _group_column(raw, problems, columns["group"], groups)
    return _Attributes(ids, [found], weights[:, None])


# --------------------------------------------------------------------------------------
# geometry: spreading polygons, sampling lines


def _spread_polygon(poly, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points (metric x, y) and area shares (summing to 1) of a polygon on a square grid.

    The grid is aligned to multiples of ``cell_m`` in the metric CRS. A cell wholly inside
    the polygon gets a point at its centre; a cell cut by the boundary gets one at its
    centre if that lies in the cut piece, else on the piece's surface. Each point carries
    the area of its piece. A polygon smaller than one cell gets one point at its
    representative point.
    """
    area = poly.area
    if area < cell_m * cell_m:
        p = poly.representative_point()
        return np.array([[p.x, p.y]]), np.ones(1)
    minx, miny, maxx, maxy = poly.bounds
    i0, i1 = math.floor(minx / cell_m), math.ceil(maxx / cell_m)
    j0, j1 = math.floor(miny / cell_m), math.ceil(maxy / cell_m)
    n_cells = (i1 - i0) * (j1 - j0)
    if n_cells > _MAX_CELLS_PER_POLYGON:
        raise ValidationError(
            f"area_cell_m={cell_m!r} would cut a {area / 1e6:.1f} km² polygon into "
            f"{n_cells:,} grid cells; use a larger area_cell_m"
        )
    gx, gy = np.meshgrid(np.arange(i0, i1) * cell_m, np.arange(j0, j1) * cell_m)
    x0, y0 = gx.ravel(), gy.ravel()
    boxes = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    centres = shapely.points(x0 + cell_m / 2, y0 + cell_m / 2)
    shapely.prepare(poly)
    inside = shapely.contains_properly(poly, boxes)
    cut = ~inside & shapely.intersects(poly, boxes)
    pieces = shapely.intersection(boxes[cut], poly)
    piece_area = shapely.area(pieces)
    keep = piece_area > _SLIVER * cell_m * cell_m  # slivers carry nothing and sit nowhere
    pieces, piece_area = pieces[keep], piece_area[keep]
    cut_centres = centres[cut][keep]
    centre_in = shapely.contains(pieces, cut_centres)
    piece_pts = np.where(centre_in, cut_centres, shapely.point_on_surface(pieces))
    pts = np.concatenate([centres[inside], piece_pts])
    areas = np.concatenate([np.full(int(inside.sum()), cell_m * cell_m), piece_area])
    # back to the original grid order (row-major from the south-west corner)
    order = np.argsort(np.concatenate([np.flatnonzero(inside), np.flatnonzero(cut)[keep]]))
    pts, areas = pts[order], areas[order]
    return shapely.get_coordinates(pts), areas / areas.sum()


def _sample_line(line, spacing_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample points (metric x, y), shares (sum 1) and positions (m) along a (multi)line.

    Each part is cut into stretches of ``spacing_m`` from its start (the last one shorter);
    a sample sits at the middle of its stretch and carries the stretch's share of the
    length. Positions run on across parts, in part order.
    """
    parts = list(line.geoms) if line.geom_type == "MultiLineString" else [line]
    xy, lengths, positions = [], [], []
    offset = 0.0
    for part in parts:
        length = part.length
        if part.is_empty:
            continue
        n = max(1, math.ceil(length / spacing_m - 1e-9))
        starts = np.arange(n) * spacing_m
        ends = np.minimum(starts + spacing_m, length)
        mids = (starts + ends) / 2.0
        xy.append(shapely.get_coordinates(shapely.line_interpolate_point(part, mids)))
        lengths.append(ends - starts)
        positions.append(offset + mids)
        offset += length
    stretch = np.concatenate(lengths)
    total = stretch.sum()
    if total > 0:
        keep = stretch > 0
        shares = stretch[keep] / total
        return np.concatenate(xy)[keep], shares, np.concatenate(positions)[keep]
    # a line of zero length: everything at its (first) point
    return np.concatenate(xy)[:1], np.ones(1), np.zeros(1)


# --------------------------------------------------------------------------------------
# load_demand


def _empty_demand() -> gpd.GeoDataFrame:
    return _assemble([], [], np.empty(0), [], [], [], np.empty(0), np.empty(0), np.empty(0))


def _assemble(ids, groups, weights, kinds, source_ids, route_ids, pos, lon, lat):
    n = len(weights)
    id_column = _text(ids, n)
    frame = pd.DataFrame(
        {
            "id": id_column,
            "group": _text(groups, n),
            "weight": np.asarray(weights, dtype="float64"),
            "kind": _text(kinds, n),
            # a point's id is its source id: one column in memory for both (8 MB less
            # for 1,000,000 rows; pandas copies on write)
            "source_id": id_column if source_ids is ids else _text(source_ids, n),
            "route_id": _text(route_ids, n),
            "route_pos_m": np.asarray(pos, dtype="float64"),
        }
    )
    return gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326"
    ).reset_index(drop=True)


def _text(values: Any, n: int) -> pd.Series:
    """An output text column (pandas' ``str``): from pyarrow text or a str for every row
    without a Python string per row; from anything else by ``astype(str)``."""
    import pyarrow as pa

    if isinstance(values, str | pa.Array | pa.ChunkedArray):
        return pd.Series(_text_array(values, n), dtype="str")
    return pd.Series(values, dtype=object).astype(str)


def _load_table(raw: _io.Raw, problems: _io.Problems, columns: dict[str, Any], **options):
    """A table of points as a demand layer (see :func:`_table_columns`)."""
    return _assemble(**_table_columns(raw, problems, columns, **options))


def _table_columns(
    raw: _io.Raw,
    problems: _io.Problems,
    columns: dict[str, Any],
    *,
    datum: str | None,
    bounds: tuple[float, float, float, float] | None,
    group: str | None,
    groups: Sequence[str],
    weight: str | None,
    district: Any,
) -> dict[str, Any]:
    """The checked output columns of a table of points, for :func:`_assemble`: text as
    pyarrow arrays, so that a million rows make no Python string."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for fld, aliases in (("lon", _LON_ALIASES), ("lat", _LAT_ALIASES)):
        if fld not in columns:
            problems.no_column(fld, aliases, raw.frame.columns)
    datum = _io.resolve_datum(raw, datum, [columns.get("lon"), columns.get("lat")], problems)
    if "lon" in columns and "lat" in columns:
        fields = (columns["lon"], columns["lat"])
        values = (raw.frame[fields[0]], raw.frame[fields[1]])
        lon, lat = _io.parse_lonlat(raw, *fields, problems, "point")
        _io.check_lonlat(lon, lat, fields, values, problems)
    attrs = _attributes(
        raw,
        problems,
        columns,
        group=group,
        groups=groups,
        weight_given=weight is not None,
        weight_required=False,
    )
    problems.raise_if_any()
    lon, lat = to_wgs84(lon, lat, datum)
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        for i in np.flatnonzero((lon < minx) | (lon > maxx) | (lat < miny) | (lat > maxy)):
            problems.add(
                i,
                fields,
                f"point ({_io.show(values[0][i])}, {_io.show(values[1][i])}) is outside bounds "
                f"{bounds!r} (WGS84 lon/lat); swapped columns or a wrong datum=?",
            )
        problems.raise_if_any()
    _io.warn_outside(lon, lat, district, raw.labels, raw.source, stacklevel=4)
    g, rows = attrs.per_feature, len(lon)
    n = rows * g
    sid = _text_array(attrs.source_ids, rows)
    if g == 1:
        ids = sid
        groups_out = _text_array(attrs.groups[0], n)
    else:  # a workplace file: rows (id, all_workers), (id, female_nursing), ...
        sid = sid.take(pa_indices(np.repeat(np.arange(rows), g)))
        groups_out = pa.array(np.tile(np.array(attrs.groups, dtype=str), rows), pa.string())
        ids = pc.binary_join_element_wise(sid, groups_out, ":")
    return {
        "ids": ids,
        "groups": groups_out,
        "weights": attrs.weights.ravel(),
        "kinds": "point",
        "source_ids": sid,
        "route_ids": "",
        "pos": np.full(n, np.nan),
        "lon": np.repeat(lon, g) if g > 1 else lon,
        "lat": np.repeat(lat, g) if g > 1 else lat,
    }


# 0 Point, 1 LineString, 3 Polygon, 4 MultiPoint, 5 MultiLineString, 6 MultiPolygon
_SUPPORTED_TYPES = [0, 1, 3, 4, 5, 6]


def _check_geometries(geoms: np.ndarray, problems: _io.Problems) -> tuple[np.ndarray, np.ndarray]:
    """Type ids of the features and a mask of usable ones; the rest are problems."""
    kinds = shapely.get_type_id(geoms)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(empty):
        problems.add(i, "geometry", "empty geometry; every feature needs a point, line or polygon")
    at_zero = np.flatnonzero((kinds == 0) & ~empty)
    xy0 = shapely.get_coordinates(geoms[at_zero])
    for i in at_zero[(xy0[:, 0] == 0) & (xy0[:, 1] == 0)].tolist():
        problems.add(
            i, "geometry", "point (0, 0) is a blank coordinate exported as zero; fix or delete it"
        )
    supported = np.isin(kinds, _SUPPORTED_TYPES)
    for i in np.flatnonzero(~supported & ~empty):
        problems.add(
            i,
            "geometry",
            f"unsupported geometry type {geoms[i].geom_type!r}; use points, lines or polygons",
        )
    return kinds, ~empty & supported


def _check_vector_bounds(
    geoms: np.ndarray, kinds: np.ndarray, ok: np.ndarray, bounds: Any, problems: _io.Problems
) -> None:
    """Points must lie inside ``bounds``, lines and polygons touch it."""
    box = shapely.box(*bounds)
    is_point = kinds == 0
    inside = np.ones(len(geoms), dtype=bool)
    inside[ok & is_point] = shapely.covers(box, geoms[ok & is_point])
    inside[ok & ~is_point] = shapely.intersects(box, geoms[ok & ~is_point])
    for i in np.flatnonzero(~inside):
        problems.add(
            i,
            "geometry",
            f"{geoms[i].geom_type} at {tuple(round(float(b), 6) for b in geoms[i].bounds)!r} "
            f"is outside bounds {bounds!r} (WGS84 lon/lat); wrong CRS or datum=?",
        )


def _warn_features_outside(raw: _io.Raw, geoms: np.ndarray, district: Any) -> None:
    rep = shapely.point_on_surface(geoms)
    touches = shapely.intersects(district, geoms)
    lon, lat = shapely.get_x(rep), shapely.get_y(rep)
    lon[touches], lat[touches] = np.nan, np.nan
    _io.warn_outside(lon, lat, district, raw.labels, raw.source, stacklevel=5)


def _spread_features(
    geoms: np.ndarray, kinds: np.ndarray, other: np.ndarray, spacing_m: float, area_cell_m: float
) -> list[tuple]:
    """Multipoints, polygons and lines as weighted points, feature by feature, placed in
    a metric CRS: (feature, lon, lat, shares, route positions or None, kind) each."""
    if not len(other):
        return []
    metric = metric_crs_for(gpd.GeoSeries(geoms[other], crs=4326))
    to_m = Transformer.from_crs(4326, metric, always_xy=True)
    # Edges straight in lon/lat are curved in UTM: densify first so that the points
    # placed in UTM fall inside the lon/lat polygon / on the lon/lat line (to < 1 mm).
    max_seg = min(area_cell_m, spacing_m, 100.0) / 4.0 / _METRES_PER_DEGREE
    dense = shapely.segmentize(geoms[other], max_seg)
    projected = shapely.transform(
        dense, lambda c: np.column_stack(to_m.transform(c[:, 0], c[:, 1]))
    )
    metric_xy, meta = [], []
    for i, geom in zip(other, projected, strict=True):
        t = kinds[i]
        if t == 4:  # MultiPoint: the weight is split evenly over its points
            xy = shapely.get_coordinates(geom)
            shares, pos, kind = np.full(len(xy), 1.0 / len(xy)), None, "point"
        elif t in (3, 6):
            xy, shares = _spread_polygon(geom, area_cell_m)
            pos, kind = None, "area"
        else:
            xy, shares, pos = _sample_line(geom, spacing_m)
            kind = "route"
        metric_xy.append(xy)
        meta.append((int(i), shares, pos, kind))
    from_m = Transformer.from_crs(metric, 4326, always_xy=True)
    lon_m, lat_m = from_m.transform(*np.concatenate(metric_xy).T)
    chunks, start = [], 0
    for (feature, shares, pos, kind), xy in zip(meta, metric_xy, strict=True):
        stop = start + len(xy)
        chunks.append((feature, lon_m[start:stop], lat_m[start:stop], shares, pos, kind))
        start = stop
    return chunks


class _Parts:
    """Output columns gathered piece by piece, with a sort key restoring input order."""

    names = ("ids", "groups", "weights", "kinds", "sids", "rids", "rpos", "lons", "lats")

    def __init__(self) -> None:
        self.cols: dict[str, list] = {name: [] for name in self.names}
        self.keys: list[np.ndarray] = []

    def add(self, key: np.ndarray, **values: Any) -> None:
        for name in self.names:
            self.cols[name].append(values[name])
        self.keys.append(key)

    def assemble(self) -> gpd.GeoDataFrame:
        if not self.keys:
            return _empty_demand()
        key = np.concatenate(self.keys)
        order = np.lexsort((key[:, 2], key[:, 1], key[:, 0]))
        return _assemble(*(np.concatenate(self.cols[n])[order] for n in self.names))


def _add_points(parts: _Parts, attrs: _Attributes, pt_idx: np.ndarray, pt_xy: np.ndarray):
    g, n = attrs.per_feature, len(pt_idx)
    if not n:
        return
    for k in range(g):
        sid = attrs.sids(pt_idx)
        grp = attrs.groups_at(pt_idx, k)
        parts.add(
            np.column_stack([pt_idx, np.full(n, k), np.zeros(n, int)]),
            ids=sid
            if g == 1
            else np.array([f"{s}:{x}" for s, x in zip(sid, grp, strict=True)], dtype=object),
            groups=grp,
            weights=attrs.weights[pt_idx, k],
            kinds=np.full(n, "point", dtype=object),
            sids=sid,
            rids=np.full(n, "", dtype=object),
            rpos=np.full(n, np.nan),
            lons=pt_xy[:, 0],
            lats=pt_xy[:, 1],
        )


def _add_spread(parts: _Parts, attrs: _Attributes, chunks: list[tuple]) -> None:
    for i, lon, lat, shares, pos, kind in chunks:
        m = len(shares)
        sid = attrs.sid(i)
        for k in range(attrs.per_feature):
            base = sid if attrs.per_feature == 1 else f"{sid}:{attrs.group(i, k)}"
            parts.add(
                np.column_stack([np.full(m, i), np.full(m, k), np.arange(m)]),
                ids=np.array([f"{base}:{j}" for j in range(m)], dtype=object),
                groups=np.full(m, attrs.group(i, k), dtype=object),
                weights=attrs.weights[i, k] * shares,
                kinds=np.full(m, kind, dtype=object),
                sids=np.full(m, sid, dtype=object),
                rids=np.full(m, sid if kind == "route" else "", dtype=object),
                rpos=pos if pos is not None else np.full(m, np.nan),
                lons=lon,
                lats=lat,
            )


def _load_vector(
    raw: _io.Raw,
    problems: _io.Problems,
    columns: dict[str, Any],
    *,
    datum: str | None,
    bounds: tuple[float, float, float, float] | None,
    group: str | None,
    groups: Sequence[str],
    weight: str | None,
    district: Any,
    spacing_m: float,
    area_cell_m: float,
) -> gpd.GeoDataFrame:
    assert raw.geometry is not None
    geoms = np.asarray(geometry_to_wgs84(raw.geometry, datum or "wgs84").values)
    kinds, ok = _check_geometries(geoms, problems)
    attrs = _attributes(
        raw,
        problems,
        columns,
        group=group,
        groups=groups,
        weight_given=weight is not None,
        weight_required=bool(np.isin(kinds, [1, 3, 5, 6]).any()),
    )
    if bounds is not None:
        _check_vector_bounds(geoms, kinds, ok, bounds, problems)
    problems.raise_if_any()
    if district is not None:
        _warn_features_outside(raw, geoms, district)
    parts = _Parts()
    pt_idx = np.flatnonzero(kinds == 0)
    _add_points(parts, attrs, pt_idx, shapely.get_coordinates(geoms[pt_idx]))
    other = np.flatnonzero(kinds != 0)
    _add_spread(parts, attrs, _spread_features(geoms, kinds, other, spacing_m, area_cell_m))
    return parts.assemble()


def load_demand(
    source: str | os.PathLike | gpd.GeoDataFrame | pd.DataFrame,
    *,
    datum: str | None = None,
    group: str | None = None,
    weight: str | None = None,
    id_column: str | None = None,
    spacing_m: float = 250.0,
    area_cell_m: float = 250.0,
    bounds: Sequence[float] | None = None,
    registry: Any = None,
    boundary: Any = None,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Load a worker-demand layer as weighted points in EPSG:4326.

    Parameters
    ----------
    source : path, GeoDataFrame or DataFrame
        A CSV (UTF-8 or GB18030) or Excel ``.xlsx`` table with longitude/latitude columns
        (headers ``lon``/``lng``/``longitude``/``经度`` and ``lat``/``latitude``/``纬度``),
        or a vector file (GeoJSON, GeoPackage, Shapefile, ...) of points, polygons and/or
        lines, or a GeoDataFrame (which must carry a CRS), or a DataFrame read like a table.
    datum : {"wgs84", "gcj02", "bd09"}, optional
        Datum of the source coordinates (AMap/Tencent: ``"gcj02"``, Baidu: ``"bd09"``);
        converted to WGS84 on load. Default: the datum a coordinate header names
        (``经度（GCJ-02）``, with a warning), else WGS84; a conflict is an error.
    group : str, optional
        Demand group for every row (``"outdoor"``, ``"truck_drivers"``, ...). Without it
        a ``group``/``人群`` column is required. Ignored (with a warning) for a workplace
        file, whose groups are ``all_workers`` and ``female_nursing``. Groups (here and in
        the column) must be groups of the registry (:func:`demand_groups`), written as
        the key or a common variant (``Outdoor``, ``户外劳动者``, ``outdoors``: read as
        ``outdoor``, with a warning); anything else is refused with the list.
    weight : str, optional
        Name of the column with people (or daily trucks for routes). Default: the first of
        ``weight, people, headcount, population, daily_trucks, trucks, 人数, 职工人数, 人口``.
        Points with no weight column count one person each; polygons and lines need one.
    id_column : str, optional
        Column holding the feature id (default: an ``id``/``编号`` column, else the
        1-based row or feature number). Ids must be present and unique.
    spacing_m : float
        Distance between route samples, metres.
    area_cell_m : float
        Side of the square grid cells polygons are spread over, metres.
    bounds : (min_lon, min_lat, max_lon, max_lat), optional
        WGS84 box the data must lie in (a check against swapped columns or a wrong
        datum, not a clip): points must lie inside it, lines and polygons must touch it.
    registry : mapping or path, optional
        Facility types whose demand groups are accepted; default: the shipped registry.
    boundary : path, GeoDataFrame or Polygon, optional
        The district's boundary (see :func:`geo.load_boundary`): features outside it are
        loaded, with a warning naming their rows.
    layer : str, optional
        The layer of a multi-layer file (GeoPackage) or the sheet of a workbook; needed
        when the file has several layers.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``id, group, weight, kind, source_id, route_id, route_pos_m, geometry``
        (see ``docs/data-model.md``), EPSG:4326, one row per point, area cell or route
        sample, in input order. The weights of a polygon or route sum to its weight.

    Raises
    ------
    geo.errors.ValidationError
        Listing every bad value (file, row or feature, field and value) at once.
    geo.errors.CRSError
        A GeoDataFrame or vector file without a CRS, or an unknown datum.

    Notes
    -----
    A workplace table (``headcount``/``职工人数`` and ``female_share``/``女职工占比``,
    a fraction 0..1) gives two rows per workplace, ids ``"{id}:all_workers"`` and
    ``"{id}:female_nursing"``, weights headcount and headcount x female_share.

    Polygons are spread over a square grid of ``area_cell_m`` aligned in the UTM zone of
    the layer, one point per grid cell piece inside the polygon, weighted by the piece's
    area share; a polygon smaller than one cell gets one point at its representative
    point. Lines are cut from their start into stretches of ``spacing_m`` (the last one
    shorter) and sampled at the middle of each stretch, weighted by stretch length;
    ``route_pos_m`` is the distance along the line (continuing across the parts of a
    MultiLineString). Row numbers in messages count the header as row 1; features
    count from 1.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> sites = gpd.GeoDataFrame(
    ...     {"headcount": [120], "female_share": [0.25]},
    ...     geometry=[Point(121.85, 29.9)], crs=4326)
    >>> load_demand(sites)[["id", "group", "weight", "kind"]]
                     id           group  weight   kind
    0     1:all_workers     all_workers   120.0  point
    1  1:female_nursing  female_nursing    30.0  point
    """
    with gc_paused():  # one Python object per cell and per point (geo._gc)
        from geo.layers import _resolve_registry, boundary_geometry

        datum = None if datum is None else check_datum(datum)
        groups = demand_groups(_resolve_registry(registry))
        box = _io.check_bounds(bounds)
        for name, value in (("spacing_m", spacing_m), ("area_cell_m", area_cell_m)):
            check_positive(value, name, "metres")
        if group is not None and (not isinstance(group, str) or not group.strip()):
            raise ValidationError(f"group={group!r} must be a non-empty string such as 'outdoor'")
        if group is not None:
            group = _group_argument(group, groups)
        district = boundary_geometry(boundary)
        if isinstance(source, gpd.GeoDataFrame):
            require_crs(source, "source")
            raw = _io.frame_records(source, "GeoDataFrame", datum or "wgs84")
        elif isinstance(source, pd.DataFrame):
            raw = _io.frame_records(source, "DataFrame")
        elif isinstance(source, str | os.PathLike):
            raw = _io.read_file(
                source,
                SUPPORTED_DEMAND_FORMATS,
                datum=datum or "wgs84",
                empty_ok=True,
                layer=layer,
            )
        else:
            raise TypeError(
                f"source must be a path, a GeoDataFrame or a DataFrame, got {type(source).__name__}"
            )
        problems = raw.problems()
        columns = _columns(raw, problems, weight=weight, id_column=id_column)
        options: dict[str, Any] = {
            "datum": datum,
            "bounds": box,
            "group": group,
            "groups": groups,
            "weight": weight,
            "district": district,
        }
        name = raw.source
        if raw.geometry is None:
            table = _table_columns(raw, problems, columns, **options)
            del raw, problems  # the cells are freed before the points are made (the peak)
            _io.release_arrow_memory()
            out = _assemble(**table)
        else:
            out = _load_vector(
                raw, problems, columns, spacing_m=spacing_m, area_cell_m=area_cell_m, **options
            )
        log.info("loaded %d demand rows (%.1f people) from %s", len(out), out["weight"].sum(), name)
        return out


def iter_demand(
    path: str | os.PathLike[str],
    *,
    chunk_rows: int = 250_000,
    datum: str | None = None,
    group: str | None = None,
    weight: str | None = None,
    id_column: str | None = None,
    registry: Any = None,
    boundary: Any = None,
) -> Iterator[gpd.GeoDataFrame]:
    """A demand CSV of points, loaded and validated block by block: memory bounded by
    the block, not the file (a 5-million-row file in the memory of a few hundred
    thousand rows).

    Each block is what :func:`load_demand` would give for its rows (the same checks,
    messages, row numbers and ids); ids are also checked against every earlier block. A
    problem raises when its block is reached: a consumer writing blocks somewhere should
    discard what it wrote when a :class:`~geo.errors.ValidationError` arrives.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = Path(tmp) / "riders.csv"
    ...     _ = p.write_text("lon,lat,group\\n121.8,29.9,outdoor\\n121.9,29.9,outdoor\\n")
    ...     [len(block) for block in iter_demand(p)]
    [2]
    """
    from geo.layers import _resolve_registry, boundary_geometry

    if not (isinstance(chunk_rows, int) and chunk_rows > 0):
        raise ValidationError(f"chunk_rows={chunk_rows!r} must be a positive number of rows")
    datum = None if datum is None else check_datum(datum)
    groups = demand_groups(_resolve_registry(registry))
    if group is not None:
        group = _group_argument(group, groups)
    district = boundary_geometry(boundary)
    file = Path(path)
    with file.open("rb") if file.is_file() else open(os.devnull, "rb") as fh:
        sample = fh.read(1 << 16)
    line_bytes = max(8, len(sample) // max(1, sample.count(b"\n")))
    seen = np.empty(0, dtype=np.uint64)
    options: dict[str, Any] = {
        "datum": datum,
        "bounds": None,
        "group": group,
        "groups": groups,
        "weight": weight,
        "district": district,
    }
    for raw in _io.iter_csv(path, chunk_bytes=chunk_rows * line_bytes):
        if raw.geometry is not None or raw.frame.empty:
            continue
        problems = raw.problems()
        columns = _columns(raw, problems, weight=weight, id_column=id_column)
        with gc_paused():
            out = _load_table(raw, problems, columns, **options)
        if "id" in columns:
            hashes = _io.text_hashes(_text_array(out["source_id"].array._pa_array, len(out)))
            at = np.minimum(np.searchsorted(seen, hashes), max(len(seen) - 1, 0))
            again = seen[at] == hashes if len(seen) else np.zeros(len(hashes), dtype=bool)
            for i in np.flatnonzero(again)[: _io.MAX_SHOWN].tolist():
                problems.value(
                    i,
                    columns["id"],
                    out["source_id"].iloc[i],
                    "is a duplicate id: an earlier row has it; ids must be unique",
                )
            problems.raise_if_any()
            seen = np.concatenate([seen, np.sort(hashes)])
            seen.sort(kind="stable")  # two sorted runs: merged in linear time
        yield out


def demand_to_geoparquet(demand: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a demand layer (from :func:`load_demand`) as GeoParquet.

    :func:`load_demand` reads it back with the same ids, groups, weights and points (as
    points: the areas and routes are already spread).

    Examples
    --------
    >>> import tempfile, geopandas as gpd
    >>> from shapely.geometry import Point
    >>> d = load_demand(gpd.GeoDataFrame({"weight": [3]}, geometry=[Point(121.8, 29.9)],
    ...                                  crs=4326), group="outdoor")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = load_demand(demand_to_geoparquet(d, Path(tmp) / "d.parquet"))
    >>> back[["id", "group", "weight"]].to_dict("records")
    [{'id': '1', 'group': 'outdoor', 'weight': 3.0}]
    """
    missing = [c for c in DEMAND_COLUMNS if c not in demand.columns]
    if not isinstance(demand, gpd.GeoDataFrame) or missing:
        raise ValidationError(
            f"demand must be a demand layer from load_demand (missing columns {missing!r})"
        )
    file = Path(path)
    if file.suffix.lower() != ".parquet":
        raise ValidationError(f"path={os.fspath(path)!r} must end in .parquet")
    require_crs(demand, "demand")
    demand[list(DEMAND_COLUMNS)].to_crs(4326).reset_index(drop=True).to_parquet(file)
    return file


# --------------------------------------------------------------------------------------
# H3 aggregation and the privacy floor


@functools.lru_cache(maxsize=1 << 16)
def _hexagon(cell: str) -> Polygon:
    """The hexagon of an H3 cell as a lon/lat Polygon (h3 gives (lat, lng) pairs).

    Cached: a server draws the same cells for every what-if (shapely geometries are
    immutable, so sharing them is safe)."""
    return Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])


def h3_cells(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """The H3 cell (``uint64``) of every WGS84 point, as ``h3.latlng_to_cell`` gives it.

    Vectorised through h3ronpy (h3o, H3's Rust port, over Arrow arrays): 1,000,000 points
    in about 0.3 s (on 2 cores) instead of 2.5 s of one Python call per point. It agrees with H3's C
    library except for a point exactly on an edge between two cells (a cell's vertex,
    or a finer cell's centre at a coarser resolution), which each library gives to one
    of the two cells; every grid of servicemap comes from here, so they all agree.
    ``h3.int_to_str`` gives the cell's string id.
    """
    lon = np.ascontiguousarray(lon, dtype="float64")
    lat = np.ascontiguousarray(lat, dtype="float64")
    if len(lon) == 0:
        return np.empty(0, dtype=np.uint64)
    from h3ronpy.vector import coordinates_to_cells

    def cells(part: slice) -> np.ndarray:
        return np.asarray(coordinates_to_cells(lat[part], lon[part], int(resolution)))

    # h3ronpy works without the GIL: a thread per core (0.55 s -> 0.30 s for 1,000,000)
    return np.concatenate(in_chunks(len(lon), cells)).astype(np.uint64, copy=False)


def _by_columns(by: str | Sequence[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def to_h3(
    demand: gpd.GeoDataFrame,
    *,
    resolution: int = 9,
    by: str | Sequence[str] = ("group",),
    weight: str = "weight",
) -> gpd.GeoDataFrame:
    """Aggregate demand points to H3 hexagons.

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        Point layer with a CRS (normally from :func:`load_demand`); reprojected to
        EPSG:4326 if needed.
    resolution : int
        H3 resolution 0-15 (9: cells of about 0.1 km², edge about 200 m).
    by : str or sequence of str
        Columns to keep apart (one hexagon row per cell and value); ``()`` for totals.
    weight : str
        Column summed into the output ``weight``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``h3`` (cell id string), the ``by`` columns, ``weight`` (sum), ``n``
        (number of input rows) and ``geometry`` (the hexagon), EPSG:4326, sorted by the
        ``by`` columns and cell id. Only cells holding at least one row appear.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> pts = gpd.GeoDataFrame(
    ...     {"group": ["outdoor", "outdoor"], "weight": [3.0, 4.0]},
    ...     geometry=[Point(121.85, 29.9), Point(121.8501, 29.9001)], crs=4326)
    >>> cells = to_h3(pts, resolution=8)
    >>> cells[["h3", "group", "weight", "n"]]
                    h3    group  weight  n
    0  884b355239fffff  outdoor     7.0  2
    >>> cells.geometry.iloc[0].geom_type
    'Polygon'
    """
    if not isinstance(demand, gpd.GeoDataFrame):
        raise TypeError(f"demand must be a GeoDataFrame, got {type(demand).__name__}")
    if not (isinstance(resolution, int | np.integer) and 0 <= resolution <= 15):
        raise ValidationError(f"resolution={resolution!r} must be an integer from 0 to 15")
    crs = require_crs(demand, "demand")
    by_cols = _by_columns(by)
    for col in [*by_cols, weight]:
        if col not in demand.columns:
            raise ValidationError(
                f"demand has no column {col!r} (by={by!r}, weight={weight!r}); "
                f"columns are {list(demand.columns)!r}"
            )
    geoms = demand.geometry
    if not crs.equals(CRS.from_epsg(4326)):
        geoms = geoms.to_crs(4326)
    values = np.asarray(geoms.values)
    types = shapely.get_type_id(values)
    if len(values) and (np.any(types != 0) or np.any(shapely.is_empty(values))):
        raise TypeError(
            "to_h3 needs non-empty Point geometries (load polygons and lines with "
            "load_demand, which turns them into points)"
        )
    weights = pd.to_numeric(demand[weight], errors="coerce").to_numpy(dtype="float64")
    if np.isnan(weights).any():
        raise ValidationError(f"column {weight!r} holds missing or non-numeric values")
    xy = shapely.get_coordinates(values)
    cells = h3_cells(xy[:, 0], xy[:, 1], int(resolution))
    frame = pd.DataFrame({"_cell": cells, "_w": weights})
    for col in by_cols:
        frame[col] = demand[col].to_numpy()
    grouped = (
        frame.groupby(["_cell", *by_cols], sort=False, dropna=False)["_w"]
        .agg(["sum", "size"])
        .reset_index()
    )
    unique = pd.unique(grouped["_cell"])
    names = {c: h3.int_to_str(int(c)) for c in unique}
    out = pd.DataFrame({"h3": grouped["_cell"].map(names).astype(str)})
    for col in by_cols:
        out[col] = grouped[col].astype(demand[col].dtype)
    out["weight"] = grouped["sum"].to_numpy(dtype="float64")
    out["n"] = grouped["size"].to_numpy(dtype="int64")
    out = out.sort_values([*by_cols, "h3"], kind="stable").reset_index(drop=True)
    shapes = {names[c]: _hexagon(names[c]) for c in unique}
    log.debug("to_h3: %d rows -> %d cells at resolution %d", len(demand), len(out), resolution)
    return gpd.GeoDataFrame(out, geometry=[shapes[c] for c in out["h3"]], crs="EPSG:4326")


def _merge_up(
    cells: dict[str, list[float]], k: float, max_up: int
) -> tuple[dict[str, list[float]], float]:
    """Roll cells under ``k`` people up to their parents; return (shown, withheld people).

    At each level, from the finest upwards, every parent of a small cell absorbs all of
    its descendants present (so output cells never overlap).
    """
    if not cells:
        return {}, 0.0
    finest = max(h3.get_resolution(c) for c in cells)
    for level in range(finest, max(finest - max_up, 0), -1):
        targets = {
            h3.cell_to_parent(c, level - 1)
            for c, (w, _) in cells.items()
            if w < k and h3.get_resolution(c) == level
        }
        if not targets:
            continue
        merged: dict[str, list[float]] = {}
        for c, (w, n) in cells.items():
            r = h3.get_resolution(c)
            parent = h3.cell_to_parent(c, level - 1) if r >= level - 1 else c
            key = parent if parent in targets else c
            acc = merged.setdefault(key, [0.0, 0])
            acc[0] += w
            acc[1] += n
        cells = merged
    shown = {c: v for c, v in cells.items() if v[0] >= k}
    withheld = float(sum(v[0] for c, v in cells.items() if v[0] < k))
    return shown, withheld


def apply_privacy_floor(
    cells: gpd.GeoDataFrame,
    *,
    k: float = 10,
    mode: str = "merge",
    max_up: int = 3,
) -> gpd.GeoDataFrame:
    """Make sure no hexagon with fewer than ``k`` people is shown on its own.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        Output of :func:`to_h3`: ``h3``, ``weight``, ``n`` and any grouping columns
        (every other column except ``geometry`` and ``resolution`` is taken as one).
    k : float
        Smallest number of people (``weight``) a shown cell may hold.
    mode : {"merge", "withhold"}
        ``"withhold"`` drops every cell under ``k``. ``"merge"`` rolls small cells up to
        their parent cell, up to ``max_up`` levels above the finest resolution: the parent
        of a small cell takes in all its children present (summing ``weight`` and ``n``),
        so shown cells never overlap; what is still under ``k`` at the top is withheld.
    max_up : int
        Most levels a cell may be rolled up in ``"merge"`` mode.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``h3``, the grouping columns, ``weight``, ``n``, ``resolution``,
        ``geometry``; each group is treated separately. ``result.attrs["withheld_people"]``
        holds the total weight withheld (not shown anywhere).

    Examples
    --------
    >>> import h3
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> a = h3.latlng_to_cell(29.9, 121.85, 9)
    >>> b = [c for c in h3.cell_to_children(h3.cell_to_parent(a, 8), 9) if c != a][0]
    >>> pts = gpd.GeoDataFrame(
    ...     {"group": ["outdoor"] * 2, "weight": [4.0, 8.0]},
    ...     geometry=[Point(h3.cell_to_latlng(c)[::-1]) for c in (a, b)], crs=4326)
    >>> floor = apply_privacy_floor(to_h3(pts), k=10)
    >>> floor[["h3", "weight", "n", "resolution"]].to_dict("records") == [
    ...     {"h3": h3.cell_to_parent(a, 8), "weight": 12.0, "n": 2, "resolution": 8}]
    True
    >>> apply_privacy_floor(to_h3(pts), k=10, mode="withhold").attrs["withheld_people"]
    12.0
    """
    if mode not in ("merge", "withhold"):
        raise ValidationError(f"mode={mode!r} must be 'merge' or 'withhold'")
    if not (isinstance(k, int | float) and math.isfinite(k) and k >= 0):
        raise ValidationError(f"k={k!r} must be a number of people >= 0")
    if not (isinstance(max_up, int) and max_up >= 0):
        raise ValidationError(f"max_up={max_up!r} must be an integer >= 0")
    for col in ("h3", "weight", "n"):
        if col not in cells.columns:
            raise ValidationError(
                f"cells has no column {col!r}; pass the output of to_h3 "
                f"(columns are {list(cells.columns)!r})"
            )
    geometry = cells.geometry.name if isinstance(cells, gpd.GeoDataFrame) else "geometry"
    by_cols = [c for c in cells.columns if c not in ("h3", "weight", "n", "resolution", geometry)]
    frame = pd.DataFrame(
        {
            "h3": cells["h3"].astype(str).to_numpy(),
            "weight": pd.to_numeric(cells["weight"]).to_numpy(dtype="float64"),
            "n": pd.to_numeric(cells["n"]).to_numpy(dtype="int64"),
        }
    )
    for col in by_cols:
        frame[col] = cells[col].to_numpy()
    rows: list[dict] = []
    withheld = 0.0
    groups = frame.groupby(by_cols, sort=True, dropna=False) if by_cols else [((), frame)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        summed = part.groupby("h3", sort=False)[["weight", "n"]].sum()
        acc = {c: [float(w), int(n)] for c, w, n in summed.itertuples(name=None)}
        if mode == "withhold":
            shown = {c: v for c, v in acc.items() if v[0] >= k}
            lost = float(sum(v[0] for v in acc.values() if v[0] < k))
        else:
            shown, lost = _merge_up(acc, k, max_up)
        withheld += lost
        for c, (w, n) in shown.items():
            rows.append({"h3": c, **dict(zip(by_cols, key, strict=True)), "weight": w, "n": n})
    out = pd.DataFrame(rows, columns=["h3", *by_cols, "weight", "n"])
    out["h3"] = out["h3"].astype(str)
    for col in by_cols:
        out[col] = out[col].astype(cells[col].dtype)
    out["weight"] = out["weight"].astype("float64")
    out["n"] = out["n"].astype("int64")
    out["resolution"] = np.array([h3.get_resolution(c) for c in out["h3"]], dtype="int64")
    out = out.sort_values([*by_cols, "h3"], kind="stable").reset_index(drop=True)
    result = gpd.GeoDataFrame(out, geometry=[_hexagon(c) for c in out["h3"]], crs="EPSG:4326")
    result.attrs["withheld_people"] = withheld
    log.info(
        "privacy floor k=%s (%s): %d cells in, %d shown, %.1f people withheld",
        k,
        mode,
        len(cells),
        len(result),
        withheld,
    )
    return result


def demand_summary(demand: gpd.GeoDataFrame | pd.DataFrame) -> pd.DataFrame:
    """People and rows per demand group and kind.

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        A demand layer from :func:`load_demand`.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``kind``, ``people`` (sum of weight), ``rows`` and ``sources``
        (distinct input features), sorted by group and kind.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> sites = gpd.GeoDataFrame(
    ...     {"headcount": [120, 80], "female_share": [0.25, 0.5]},
    ...     geometry=[Point(121.85, 29.9), Point(121.86, 29.91)], crs=4326)
    >>> demand_summary(load_demand(sites))
                group   kind  people  rows  sources
    0     all_workers  point   200.0     2        2
    1  female_nursing  point    70.0     2        2
    """
    for col in ("group", "kind", "weight", "source_id"):
        if col not in demand.columns:
            raise ValidationError(f"demand has no column {col!r}; pass the output of load_demand")
    out = (
        pd.DataFrame(demand[["group", "kind", "weight", "source_id"]])
        .groupby(["group", "kind"], sort=True)
        .agg(
            people=("weight", "sum"),
            rows=("weight", "size"),
            sources=("source_id", "nunique"),
        )
        .reset_index()
    )
    out["people"] = out["people"].astype("float64")
    out["rows"] = out["rows"].astype("int64")
    out["sources"] = out["sources"].astype("int64")
    return out


__all__ = [
    "DEMAND_COLUMNS",
    "apply_privacy_floor",
    "demand_groups",
    "demand_summary",
    "load_demand",
    "match_groups",
    "to_h3",
]
