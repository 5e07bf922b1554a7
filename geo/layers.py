"""Facility types, the facility schema, and loading + validation of facility and area layers.

The facility-type registry is a TOML file (``geo/data/facility_types.toml`` by default,
or the file named by the ``SERVICEMAP_REGISTRY`` environment variable), one table per
type; :func:`load_registry` reads and checks it into :class:`FacilityType` entries.

:func:`load_facilities` reads CSV (UTF-8 or GBK/GB18030), Excel ``.xlsx``, GeoJSON,
GeoPackage and (zipped) Shapefile files into a GeoDataFrame with the columns of
``docs/data-model.md``, converting coordinates from the file's datum to WGS84. Every
problem in the file is collected and reported at once in one
:class:`~geo.errors.ValidationError`, naming the file, the row (as a spreadsheet counts,
header = row 1) or feature, the field and the value; nothing half-loaded is returned.
:func:`validate_facilities` runs the same checks on a frame built in Python.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import logging
import math
import os
import re
import tomllib
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import opening_hours
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import check_datum, geometry_to_wgs84, metric_crs_for, to_wgs84
from geo.errors import CRSError, RegistryError, ValidationError

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------
# Facility-type registry
# ---------------------------------------------------------------------------------------

#: The registry shipped with servicemap.
DEFAULT_REGISTRY_PATH: Path = Path(__file__).parent / "data" / "facility_types.toml"
#: Environment variable naming a district's own registry file.
REGISTRY_ENV = "SERVICEMAP_REGISTRY"

MODES: tuple[str, ...] = ("straight", "walk", "bike", "ebike", "car", "truck")
RULES: tuple[str, ...] = ("radius", "route")

_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ICON_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_COLOR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_REQUIRED_FIELDS = (
    "label_zh",
    "label_en",
    "color",
    "icon",
    "demand_group",
    "mode",
    "rule",
    "threshold_m",
    "thresholds_m",
)
_OPTIONAL_FIELDS = ("threshold_s", "max_offroute_m", "sources")


@dataclass(frozen=True)
class FacilityType:
    """One entry of the facility-type registry.

    Attributes
    ----------
    key : str
        Registry key, e.g. ``"outdoor_station"``; the ``type`` of a facility row.
    label_zh, label_en : str
        Chinese and English labels.
    color : str
        Map colour, CSS hex (lower case).
    icon : str
        Short icon name.
    demand_group : str
        The demand group the type serves (``outdoor``, ``female_nursing``, ...).
    mode : str
        Travel mode: one of :data:`MODES`.
    rule : str
        ``"radius"`` (covered within a distance) or ``"route"`` (along a freight route).
    threshold_m : float
        Default coverage threshold, metres.
    thresholds_m : tuple of float
        Alternative thresholds offered to planners, ascending; contains ``threshold_m``.
    threshold_s : float or None
        Travel-time threshold for the network modes, seconds.
    max_offroute_m : float or None
        For ``rule="route"``: how far off the route the facility may be, metres.
    sources : dict
        Where each default comes from, field name to free text.
    """

    key: str
    label_zh: str
    label_en: str
    color: str
    icon: str
    demand_group: str
    mode: str
    rule: str
    threshold_m: float
    thresholds_m: tuple[float, ...]
    threshold_s: float | None = None
    max_offroute_m: float | None = None
    sources: dict[str, str] = field(default_factory=dict, hash=False)


def _registry_path(path: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The registry file to read and how it was chosen (for messages)."""
    if path is not None:
        return Path(path), "path"
    env = os.environ.get(REGISTRY_ENV)
    if env:
        return Path(env), f"${REGISTRY_ENV}"
    return DEFAULT_REGISTRY_PATH, "default"


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _parse_type(where: str, key: str, table: Any) -> FacilityType:
    """Check one registry table and build its :class:`FacilityType`."""

    def fail(fld: str, value: Any, why: str) -> RegistryError:
        return RegistryError(f"{where}: type {key!r}, field {fld!r}: {value!r} {why}")

    if not _KEY_RE.match(key):
        raise RegistryError(
            f"{where}: type key {key!r} is not valid; use lower-case letters, digits and "
            "'_', starting with a letter (e.g. [craft_school])"
        )
    if not isinstance(table, dict):
        raise RegistryError(
            f"{where}: {key!r} = {table!r} is not a table; each type is a table "
            f"starting with a line [{key}]"
        )
    unknown = sorted(set(table) - set(_REQUIRED_FIELDS) - set(_OPTIONAL_FIELDS))
    if unknown:
        raise RegistryError(
            f"{where}: type {key!r}, field {unknown[0]!r}: not a known field (typo?); "
            f"known fields: {', '.join(_REQUIRED_FIELDS + _OPTIONAL_FIELDS)}"
        )
    missing = [f for f in _REQUIRED_FIELDS if f not in table]
    if missing:
        raise RegistryError(
            f"{where}: type {key!r}, field {missing[0]!r}: missing; every type needs "
            f"{', '.join(_REQUIRED_FIELDS)}"
        )
    for fld in ("label_zh", "label_en"):
        value = table[fld]
        if not isinstance(value, str) or not value.strip():
            raise fail(fld, value, "must be a non-empty string")
    color = table["color"]
    if not isinstance(color, str) or not _COLOR_RE.match(color):
        raise fail("color", color, 'is not a CSS hex colour; write e.g. "#d95f02"')
    icon = table["icon"]
    if not isinstance(icon, str) or not _ICON_RE.match(icon):
        raise fail("icon", icon, 'is not a short icon name; write e.g. "book"')
    group = table["demand_group"]
    if not isinstance(group, str) or not _KEY_RE.match(group):
        raise fail(
            "demand_group",
            group,
            "is not a demand-group name (lower-case letters, digits, '_'), e.g. \"outdoor\"",
        )
    mode = table["mode"]
    if mode not in MODES:
        raise fail("mode", mode, f"is not a travel mode; use one of {', '.join(MODES)}")
    rule = table["rule"]
    if rule not in RULES:
        raise fail("rule", rule, f"is not a coverage rule; use one of {', '.join(RULES)}")
    threshold_m = table["threshold_m"]
    if not _positive_number(threshold_m):
        raise fail("threshold_m", threshold_m, "must be a positive number of metres")
    thresholds = table["thresholds_m"]
    if (
        not isinstance(thresholds, list)
        or not thresholds
        or not all(_positive_number(t) for t in thresholds)
    ):
        raise fail("thresholds_m", thresholds, "must be a list of positive numbers of metres")
    if sorted(set(thresholds)) != list(thresholds):
        raise fail("thresholds_m", thresholds, "must be ascending without repeats")
    if threshold_m not in thresholds:
        raise fail("threshold_m", threshold_m, f"must be one of thresholds_m {thresholds!r}")
    threshold_s = table.get("threshold_s")
    if threshold_s is not None and not _positive_number(threshold_s):
        raise fail("threshold_s", threshold_s, "must be a positive number of seconds")
    max_off = table.get("max_offroute_m")
    if rule == "route" and max_off is None:
        raise fail(
            "max_offroute_m", max_off, 'is required for rule = "route" (metres off the route)'
        )
    if rule != "route" and max_off is not None:
        raise fail("max_offroute_m", max_off, 'is only used with rule = "route"; remove it')
    if max_off is not None and not _positive_number(max_off):
        raise fail("max_offroute_m", max_off, "must be a positive number of metres")
    sources = table.get("sources", {})
    if not isinstance(sources, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in sources.items()
    ):
        raise fail(
            "sources",
            sources,
            'must be a table of text, one line per field, e.g. threshold_m = "..."',
        )
    return FacilityType(
        key=key,
        label_zh=table["label_zh"].strip(),
        label_en=table["label_en"].strip(),
        color=color.lower(),
        icon=icon,
        demand_group=group,
        mode=mode,
        rule=rule,
        threshold_m=float(threshold_m),
        thresholds_m=tuple(float(t) for t in thresholds),
        threshold_s=None if threshold_s is None else float(threshold_s),
        max_offroute_m=None if max_off is None else float(max_off),
        sources={k: " ".join(v.split()) for k, v in sources.items()},
    )


def load_registry(path: str | os.PathLike[str] | None = None) -> dict[str, FacilityType]:
    """Read and check a facility-type registry file.

    Parameters
    ----------
    path : path-like, optional
        A TOML file with one table per type. Default: the file named by the
        ``SERVICEMAP_REGISTRY`` environment variable if it is set, else the registry
        shipped with servicemap (:data:`DEFAULT_REGISTRY_PATH`). The file replaces the
        shipped one; it is not merged with it.

    Returns
    -------
    dict of str to FacilityType
        Types by key, in file order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    RegistryError
        If the file is not valid TOML or a type is malformed; the message names the
        file, the type key and the field, and shows the value.

    Examples
    --------
    >>> registry = load_registry()
    >>> list(registry)
    ['outdoor_station', 'mother_room', 'bookshelf', 'driver_home']
    """
    file, how = _registry_path(path)
    where = str(file)
    if not file.is_file():
        via = f" (from ${REGISTRY_ENV})" if how.startswith("$") else ""
        raise FileNotFoundError(f"facility-type registry {where!r}{via} does not exist")
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{where}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{where}: not UTF-8 text; save it as UTF-8 ({exc})") from exc
    if not data:
        raise RegistryError(f"{where}: defines no facility types; add a table such as [bookshelf]")
    registry = {key: _parse_type(where, key, table) for key, table in data.items()}
    labels: dict[str, str] = {}
    for ft in registry.values():
        for label in (ft.label_zh, ft.label_en.casefold()):
            if label in labels:
                raise RegistryError(
                    f"{where}: type {ft.key!r}: label {label!r} is also used by type "
                    f"{labels[label]!r}; labels must be unique"
                )
            labels[label] = ft.key
    log.debug("loaded %d facility types from %s", len(registry), where)
    return registry


@functools.lru_cache(maxsize=8)
def _cached_registry(path: str, mtime_ns: int) -> dict[str, FacilityType]:
    return load_registry(path)


def default_registry() -> dict[str, FacilityType]:
    """The registry in effect: ``$SERVICEMAP_REGISTRY`` or the shipped file, cached.

    The cache is keyed on the file and its modification time, so setting the environment
    variable or editing the file takes effect on the next call. A new dict is returned
    each time (the entries are frozen), so callers may modify it freely.
    """
    file, _ = _registry_path(None)
    try:
        mtime = file.stat().st_mtime_ns
    except OSError:
        return load_registry(None)  # raises FileNotFoundError naming the file
    return dict(_cached_registry(str(file), mtime))


def _type_index(registry: Mapping[str, FacilityType]) -> dict[str, str]:
    """Keys, Chinese labels and English labels (case-folded) to the type key."""
    index: dict[str, str] = {}
    for key, ft in registry.items():
        index[ft.label_en.casefold()] = key
        index[ft.label_zh] = key
        index[key.casefold()] = key
    return index


def get_type(key: str, registry: Mapping[str, FacilityType] | None = None) -> FacilityType:
    """Look up a facility type by key (or by its Chinese or English label).

    Parameters
    ----------
    key : str
        Registry key such as ``"bookshelf"``; the labels ``"职工书屋"`` and
        ``"Workers' bookshelf"`` are accepted too.
    registry : mapping, optional
        Default: :func:`default_registry`.

    Raises
    ------
    RegistryError
        If no type matches; the message lists the known keys.

    Examples
    --------
    >>> ft = get_type("outdoor_station")
    >>> ft.label_zh, ft.mode, ft.threshold_m
    ('户外劳动者驿站', 'walk', 1000.0)
    >>> get_type("司机之家").key
    'driver_home'
    >>> get_type("gym")
    Traceback (most recent call last):
    ...
    geo.errors.RegistryError: unknown facility type 'gym'; known types: outdoor_station, mother_room, bookshelf, driver_home
    """  # noqa: E501
    registry = default_registry() if registry is None else registry
    index = _type_index(registry)
    text = str(key).strip()
    found = index.get(text.casefold(), index.get(text)) if isinstance(key, str) else None
    if found is None:
        raise RegistryError(f"unknown facility type {key!r}; known types: {', '.join(registry)}")
    return registry[found]


def _resolve_registry(registry: Any) -> Mapping[str, FacilityType]:
    if registry is None:
        return default_registry()
    if isinstance(registry, str | os.PathLike):
        return load_registry(registry)
    if isinstance(registry, Mapping):
        return registry
    raise TypeError(
        f"registry must be a mapping of FacilityType, a registry file path or None, "
        f"got {type(registry).__name__}"
    )


# ---------------------------------------------------------------------------------------
# Facility schema and header aliases
# ---------------------------------------------------------------------------------------

FACILITY_COLUMNS: tuple[str, ...] = (
    "id",
    "type",
    "name",
    "address",
    "hours",
    "capacity",
    "amenities",
    "level",
    "contact",
    "source",
    "updated_at",
    "geometry",
)
AMENITIES: tuple[str, ...] = (
    "water",
    "microwave",
    "charging",
    "toilet",
    "rest",
    "wifi",
    "medicine",
    "fridge",
)
LEVELS: tuple[str, ...] = ("national", "provincial", "municipal", "district")
AREA_COLUMNS: tuple[str, ...] = ("id", "name", "name_en", "level", "geometry")

_FACILITY_ALIASES: dict[str, tuple[str, ...]] = {
    "lon": ("lon", "lng", "long", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "id": ("id", "编号", "序号"),
    "type": ("type", "类型", "设施类型"),
    "name": ("name", "名称", "站点名称"),
    "address": ("address", "地址"),
    "hours": ("hours", "opening_hours", "开放时间", "营业时间"),
    "capacity": ("capacity", "容量"),
    "amenities": ("amenities", "设施", "服务设施"),
    "level": ("level", "级别"),
    "contact": ("contact", "联系方式", "电话", "联系电话"),
    "source": ("source", "来源", "数据来源"),
    "updated_at": ("updated_at", "更新时间", "更新日期"),
}
_AREA_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "code", "adcode", "编号", "代码", "序号"),
    "name": ("name", "name_zh", "名称", "街道", "街道名称"),
    "name_en": ("name_en", "english_name", "英文名", "英文名称"),
    "level": ("level", "级别", "类型"),
}
_AMENITY_WORDS: dict[str, str] = {
    "饮水": "water",
    "热水": "water",
    "饮用水": "water",
    "开水": "water",
    "微波炉": "microwave",
    "充电": "charging",
    "卫生间": "toilet",
    "厕所": "toilet",
    "洗手间": "toilet",
    "休息": "rest",
    "休息区": "rest",
    "药箱": "medicine",
    "医药箱": "medicine",
    "冰箱": "fridge",
    "无线网络": "wifi",
    "wi-fi": "wifi",
}
_LEVEL_WORDS: dict[str, str] = {
    "全国": "national",
    "国家级": "national",
    "全国级": "national",
    "省级": "provincial",
    "市级": "municipal",
    "区级": "district",
    "县级": "district",
}
_AREA_LEVEL_WORDS: dict[str, str] = {
    "街道": "subdistrict",
    "镇": "town",
    "乡": "township",
    "工业社区": "industrial_community",
    "社区": "community",
}
_AMENITY_SPLIT = re.compile(r"[;；,，、|]")
_PAREN = re.compile(r"\s*[（(][^）)]*[）)]\s*$")
_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")

_TABULAR = (".csv", ".txt", ".xlsx", ".xlsm")
_VECTOR = (".geojson", ".json", ".gpkg", ".zip", ".shp")
SUPPORTED_FACILITY_FORMATS: tuple[str, ...] = _TABULAR + _VECTOR
SUPPORTED_AREA_FORMATS: tuple[str, ...] = _VECTOR
_MAX_SHOWN = 50


def _norm_header(name: Any) -> str:
    """Normalise a column header for alias matching."""
    text = str(name).replace("\ufeff", "").strip()
    text = _PAREN.sub("", text)
    return re.sub(r"[\s\-]+", "_", text).casefold()


def _match_columns(
    columns: Sequence[Any], aliases: Mapping[str, tuple[str, ...]]
) -> tuple[dict[str, Any], list[str]]:
    """Map schema fields to the file's column names; return also the ambiguities."""
    lookup = {alias.casefold(): fld for fld, names in aliases.items() for alias in names}
    found: dict[str, list[Any]] = {}
    for col in columns:
        fld = lookup.get(_norm_header(col))
        if fld is not None:
            found.setdefault(fld, []).append(col)
    mapping = {fld: cols[0] for fld, cols in found.items()}
    clashes = [
        f"columns {', '.join(repr(str(c)) for c in cols)} all mean {fld!r}; keep one"
        for fld, cols in found.items()
        if len(cols) > 1
    ]
    return mapping, clashes


# ---------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------


_ROW_NUMBER = re.compile(r"^(?:row|feature) (\d+)")


def _problem_order(problem: str) -> int:
    m = _ROW_NUMBER.match(problem)
    return int(m.group(1)) if m else -1


def _raise_problems(source: str, problems: list[str]) -> None:
    if not problems:
        return
    problems = sorted(problems, key=_problem_order)  # file-level first, then by row
    shown = problems[:_MAX_SHOWN]
    more = len(problems) - len(shown)
    lines = "\n".join(f"  - {p}" for p in shown)
    if more:
        lines += f"\n  ... and {more} more (see the error's .problems)"
    noun = "problem" if len(problems) == 1 else "problems"
    raise ValidationError(
        f"{source}: {len(problems)} {noun} found, nothing was loaded:\n{lines}", problems
    )


def _issue(where: str, fld: str, value: Any, what: str) -> str:
    return f"{where}, field {fld!r}: value {value!r} {what}"


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, str) and not value.strip()


def _cell_text(value: Any) -> str:
    """A cell or attribute value as text ("" for blanks), numbers without a trailing .0."""
    if _is_blank(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime | pd.Timestamp):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


# ---------------------------------------------------------------------------------------
# Reading files into raw tables
# ---------------------------------------------------------------------------------------


@dataclass
class _Raw:
    """A file read into text cells (tabular) or attributes + geometry (vector)."""

    frame: pd.DataFrame  # raw values, one row per record, original column names
    labels: list[str]  # "row 2" / "feature 1" per record
    geometry: gpd.GeoSeries | None = None  # vector files only, EPSG:4326 after reprojection


def _check_path(path: str | os.PathLike[str], supported: tuple[str, ...]) -> tuple[Path, str]:
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"{os.fspath(path)!r} does not exist")
    if file.is_dir():
        raise ValidationError(f"{os.fspath(path)}: is a directory, not a file")
    ext = file.suffix.lower()
    if ext not in supported:
        hint = " (save old .xls workbooks as .xlsx)" if ext == ".xls" else ""
        raise ValidationError(
            f"{os.fspath(path)}: unsupported file type {ext or '(no extension)'!r}; "
            f"supported: {', '.join(supported)}{hint}"
        )
    return file, ext


def _decode(source: str, data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(
        f"{source}: cannot decode the file as UTF-8 or GBK/GB18030; save it as "
        "'CSV UTF-8' from Excel"
    )


def _read_csv(file: Path, source: str) -> _Raw:
    text = _decode(source, file.read_bytes())
    if not text.strip():
        raise ValidationError(f"{source}: the file is empty; expected a header row and data rows")
    first = text.lstrip().splitlines()[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header_at = next(i for i, rec in enumerate(records) if any(c.strip() for c in rec))
    header = [c.strip() for c in records[header_at]]
    rows, labels = [], []
    problems = []
    for i, rec in enumerate(records[header_at + 1 :], start=header_at + 2):
        if not any(c.strip() for c in rec):
            continue
        if len(rec) > len(header) and any(c.strip() for c in rec[len(header) :]):
            problems.append(
                f"row {i}: {len(rec)} cells but the header has {len(header)} columns; "
                "quote values that contain the separator"
            )
        rows.append((rec + [""] * len(header))[: len(header)])
        labels.append(f"row {i}")
    _raise_problems(source, problems)
    frame = pd.DataFrame(rows, columns=pd.Index(header, dtype=object), dtype=object)
    return _Raw(frame, labels)


def _read_excel(file: Path, source: str) -> _Raw:
    import openpyxl

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles/extensions it ignores; they do not matter here
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(file, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValidationError(
            f"{source}: not a readable .xlsx workbook ({exc}); open it in Excel and save "
            "it again as .xlsx"
        ) from exc
    sheet = book.worksheets[0]
    merged = [str(r) for r in sheet.merged_cells.ranges]
    header_merged = [str(r) for r in sheet.merged_cells.ranges if r.min_row <= 2]
    if header_merged:
        raise ValidationError(
            f"{source}: sheet {sheet.title!r} has merged header cells "
            f"({', '.join(header_merged)}); the first row must hold one column name per "
            "column: delete title rows above the header and unmerge the cells"
        )
    if merged:
        raise ValidationError(
            f"{source}: sheet {sheet.title!r} has merged cells ({', '.join(merged)}); "
            "unmerge them and fill the value into every row"
        )
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    book.close()
    if not values or not any(not _is_blank(v) for row in values for v in row):
        raise ValidationError(
            f"{source}: sheet {sheet.title!r} is empty; expected a header row and data rows"
        )
    header = [_cell_text(v) for v in values[0]]
    while header and not header[-1]:
        header.pop()
    rows, labels = [], []
    for i, row in enumerate(values[1:], start=2):
        if all(_is_blank(v) for v in row):
            continue
        cells = [_cell_text(v) for v in row[: len(header)]]
        rows.append(cells + [""] * (len(header) - len(cells)))
        labels.append(f"row {i}")
    frame = pd.DataFrame(rows, columns=pd.Index(header, dtype=object), dtype=object)
    return _Raw(frame, labels)


def _read_vector(file: Path, ext: str, source: str, datum: str) -> _Raw:
    import pyogrio

    if ext == ".zip":
        if not zipfile.is_zipfile(file):
            raise ValidationError(
                f"{source}: not a valid zip archive (corrupt or truncated); zip the "
                ".shp, .shx, .dbf and .prj files of the shapefile again"
            )
        try:
            with zipfile.ZipFile(file) as zf:
                bad = zf.testzip()
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValidationError(f"{source}: corrupt zip archive ({exc}); zip it again") from exc
        if bad is not None:
            raise ValidationError(f"{source}: corrupt zip archive: member {bad!r} is damaged")
        shps = [n for n in names if n.lower().endswith(".shp")]
        if len(shps) != 1:
            raise ValidationError(
                f"{source}: a zipped shapefile must hold exactly one .shp file, found {shps!r}"
            )
    try:
        layers = pyogrio.list_layers(file)
        layer = layers[0][0] if len(layers) else None
        if len(layers) > 1:
            log.info("%s: %d layers, reading the first, %r", source, len(layers), layer)
        gdf = pyogrio.read_dataframe(file, layer=layer, datetime_as_string=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise ValidationError(f"{source}: cannot read the file ({exc})") from exc
    if len(gdf) == 0:
        raise ValidationError(f"{source}: the file has no features")
    if gdf.crs is None:
        raise CRSError(
            f"{source}: the file has no CRS (a shapefile without its .prj?); servicemap "
            "will not guess. Add the .prj, or save the file with EPSG:4326"
        )
    geoms = gdf.geometry
    crs = CRS.from_user_input(gdf.crs)
    if not crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        if datum != "wgs84":
            raise CRSError(
                f"{source}: the file is in {crs.to_string()!r} but datum={datum!r}; "
                "GCJ-02/BD-09 shifts apply to longitude/latitude only. Save the file as "
                "longitude/latitude (EPSG:4326) or load it with datum='wgs84'"
            )
        log.info("%s: reprojecting from %s to EPSG:4326", source, crs.to_string())
        geoms = geoms.to_crs(4326)
    geoms = gpd.GeoSeries(geoms.values, crs="EPSG:4326")
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).reset_index(drop=True)
    frame = frame.astype(object)
    labels = [f"feature {i}" for i in range(1, len(frame) + 1)]
    return _Raw(frame, labels, geoms)


# ---------------------------------------------------------------------------------------
# Field parsers (each returns the clean value or raises _Bad with the reason)
# ---------------------------------------------------------------------------------------


class _Bad(Exception):
    """A value could not be used; the argument is the reason and hint."""


def _parse_float(value: Any) -> float:
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        out = float(text)
    except ValueError:
        raise _Bad("is not a number") from None
    return out


def _parse_hours(value: Any) -> str:
    text = _cell_text(value)
    if not text:
        return ""
    try:
        opening_hours.OpeningHours(text)
    except opening_hours.ParserError as exc:  # type: ignore[attr-defined]
        msg = str(exc)
        pos = re.search(r"-->\s*(\d+):(\d+)", msg)
        expected = re.search(r"=\s*(expected[^\n]*)", msg)
        at = f" at character {pos.group(2)}" if pos else ""
        what = f" ({expected.group(1)})" if expected else ""
        raise _Bad(
            f"is not OpenStreetMap opening_hours syntax: the parser stops{at}{what}; "
            "write e.g. 'Mo-Fr 08:00-18:00; Sa 09:00-12:00' or '24/7'"
        ) from None
    return text


def _parse_capacity(value: Any) -> float:
    if _is_blank(value):
        return math.nan
    try:
        out = _parse_float(value)
    except _Bad:
        raise _Bad(
            "is not a number; write a number of people, e.g. 20, or leave it blank"
        ) from None
    if not math.isfinite(out) or out < 0:
        raise _Bad("must be a number >= 0 (people), or blank when unknown")
    return out


def _parse_amenities(value: Any) -> tuple[list[str], list[str]]:
    """Amenity keys and the unknown words (kept as given)."""
    if _is_blank(value):
        return [], []
    if isinstance(value, list | tuple | np.ndarray):
        parts = [_cell_text(v) for v in value]
    else:
        parts = _AMENITY_SPLIT.split(str(value))
    out: list[str] = []
    unknown: list[str] = []
    for part in parts:
        word = part.strip()
        if not word:
            continue
        key = word.casefold()
        key = _AMENITY_WORDS.get(key, _AMENITY_WORDS.get(word, key))
        if key not in AMENITIES:
            key = word
            unknown.append(word)
        if key not in out:
            out.append(key)
    return out, unknown


def _parse_level(value: Any) -> str:
    text = _cell_text(value)
    if not text:
        return ""
    key = _LEVEL_WORDS.get(text, text.casefold())
    if key not in LEVELS:
        raise _Bad(
            f"is not a level; use one of {', '.join(LEVELS)} (or 全国/国家级, 省级, 市级, 区级) "
            "or leave it blank"
        )
    return key


def _parse_date(value: Any) -> str:
    text = _cell_text(value)
    if not text:
        return ""
    m = _DATE_RE.match(text)
    try:
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        dt.datetime.fromisoformat(text)
    except ValueError:
        raise _Bad("is not a date; write an ISO date such as '2024-05-01'") from None
    return text


# ---------------------------------------------------------------------------------------
# The one validation path
# ---------------------------------------------------------------------------------------


def _area_geometry(bounds: Any, area: Any) -> shapely.Geometry | None:
    if bounds is not None and area is not None:
        raise TypeError("give bounds= or area=, not both")
    if bounds is not None:
        try:
            minx, miny, maxx, maxy = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ValueError(
                f"bounds={bounds!r} must be (minx, miny, maxx, maxy) in WGS84 degrees"
            ) from None
        if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
            raise ValueError(
                f"bounds={bounds!r} must be (minx, miny, maxx, maxy) in WGS84 degrees, "
                "with minx < maxx and miny < maxy"
            )
        return shapely.box(minx, miny, maxx, maxy)
    if area is None:
        return None
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        if area.crs is None:
            raise CRSError("area has no CRS; set one, e.g. area.set_crs('EPSG:4326')")
        return area.to_crs(4326).geometry.union_all()
    if isinstance(area, shapely.Geometry) and area.geom_type in ("Polygon", "MultiPolygon"):
        return area
    raise TypeError(
        "area must be a shapely Polygon/MultiPolygon in WGS84 or a GeoDataFrame/GeoSeries, "
        f"got {type(area).__name__}"
    )


def _outside_km(lon: np.ndarray, lat: np.ndarray, region: shapely.Geometry) -> np.ndarray:
    """Distance from each point to ``region``, km (0 inside), in a metric CRS."""
    regs = gpd.GeoSeries([region], crs=4326)
    crs = metric_crs_for(regs)
    reg_m = regs.to_crs(crs).iloc[0]
    pts = gpd.GeoSeries(shapely.points(lon, lat), crs=4326).to_crs(crs)
    return np.asarray(shapely.distance(pts.values, reg_m)) / 1000.0


def _validate(
    raw: pd.DataFrame,
    labels: list[str],
    *,
    source: str,
    columns: Mapping[str, Any],
    lon: np.ndarray,
    lat: np.ndarray,
    coord_fields: tuple[str, str],
    coord_values: tuple[Sequence[Any], Sequence[Any]],
    geom_ok: np.ndarray,
    datum: str,
    registry: Mapping[str, FacilityType],
    type_override: str | None,
    region: shapely.Geometry | None,
    area_name: str | None,
    index: pd.Index,
    problems: list[str],
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Check every row and build the clean frame; returns it and the warnings.

    ``lon``/``lat`` are floats in ``datum``, NaN where ``geom_ok`` is False (those rows
    already have a problem recorded). Problems are appended to ``problems`` and raised
    together at the end.
    """
    n = len(raw)
    notes: list[str] = []

    def col(fld: str) -> list[Any]:
        name = columns.get(fld)
        return list(raw[name]) if name is not None else [""] * n

    def fname(fld: str) -> str:
        return str(columns.get(fld, fld))

    # coordinates: range and swapped columns
    lon_f, lat_f = coord_fields
    lon_v, lat_v = coord_values
    ok = geom_ok.copy()
    in_lon = (lon >= -180) & (lon <= 180)
    in_lat = (lat >= -90) & (lat <= 90)
    for i in np.flatnonzero(ok & ~(in_lon & in_lat)).tolist():
        swapped = bool(-90 <= lon[i] <= 90 and -180 <= lat[i] <= 180)
        hint = (
            "; longitude and latitude look swapped (columns swapped?): longitude is the "
            "east-west value (73-135 in China), latitude the north-south one (18-54)"
            if swapped
            else ""
        )
        if not in_lat[i]:
            problems.append(
                _issue(labels[i], lat_f, lat_v[i], "is out of range -90..90 for a latitude") + hint
            )
        else:
            problems.append(
                _issue(labels[i], lon_f, lon_v[i], "is out of range -180..180 for a longitude")
                + hint
            )
        ok[i] = False
    wlon = np.full(n, np.nan)
    wlat = np.full(n, np.nan)
    if ok.any():
        wlon[ok], wlat[ok] = to_wgs84(lon[ok], lat[ok], datum)
    if region is not None and ok.any():
        km = np.zeros(n)
        km[ok] = _outside_km(wlon[ok], wlat[ok], region)
        name = area_name or "the expected area"
        for i in np.flatnonzero(ok & (km > 0)).tolist():
            swap_in = bool(shapely.contains_xy(region, *to_wgs84([lat[i]], [lon[i]], datum))[0])
            hint = (
                "; with longitude and latitude swapped it would be inside (columns swapped?)"
                if swap_in
                else "; check the coordinates and their datum (datum='gcj02' for AMap, "
                "'bd09' for Baidu)"
            )
            fld = f"{lon_f!r}/{lat_f!r}" if lon_f != lat_f else repr(lon_f)
            problems.append(
                f"{labels[i]}, field {fld}: point ({lon_v[i]!r}, {lat_v[i]!r}) is "
                f"{km[i]:.1f} km outside {name}{hint}"
            )

    # type
    index_of = _type_index(registry)
    types = []
    if type_override is not None:
        given = [_cell_text(v) for v in col("type")] if "type" in columns else []
        differ = sorted(
            {v for v in given if v and index_of.get(v.casefold(), index_of.get(v)) != type_override}
        )
        if differ:
            notes.append(
                f"{source}: type={type_override!r} overrides the values of column "
                f"{fname('type')!r} ({', '.join(map(repr, differ[:5]))})"
            )
        types = [type_override] * n
    elif "type" not in columns:
        problems.append(
            f"no 'type' column; add one (类型) holding a type key, or pass type=..., one of "
            f"{', '.join(registry)}"
        )
        types = [""] * n
    else:
        for i, value in enumerate(col("type")):
            text = _cell_text(value)
            key = index_of.get(text.casefold(), index_of.get(text))
            if key is None:
                what = (
                    "is blank; fill in the type, or pass type=... for a one-type file"
                    if not text
                    else "is not a known facility type"
                )
                problems.append(
                    _issue(labels[i], fname("type"), value if text else text, what)
                    + f"; known types: {', '.join(registry)} "
                    f"({', '.join(ft.label_zh for ft in registry.values())})"
                )
                key = ""
            types.append(key)

    # ids
    if "id" in columns:
        ids = []
        for i, value in enumerate(col("id")):
            text = _cell_text(value)
            if not text:
                problems.append(
                    _issue(
                        labels[i],
                        fname("id"),
                        text,
                        "is blank; every row needs an id when the file has an id column "
                        "(or delete the column to number the rows automatically)",
                    )
                )
            ids.append(text)
        seen: dict[str, list[int]] = {}
        for i, text in enumerate(ids):
            if text:
                seen.setdefault(text, []).append(i)
        for text, rows in seen.items():
            if len(rows) > 1:
                problems.append(
                    f"{' and '.join(labels[r] for r in rows)}, field {fname('id')!r}: "
                    f"duplicate id {text!r}; ids must be unique"
                )
    else:
        counters: dict[str, int] = {}
        ids = []
        for key in types:
            counters[key] = counters.get(key, 0) + 1
            ids.append(f"{key}-{counters[key]:04d}" if key else "")

    def checked(fld: str, parse: Callable[[Any], Any]) -> list[Any]:
        out = []
        for i, value in enumerate(col(fld)):
            try:
                out.append(parse(value))
            except _Bad as bad:
                problems.append(_issue(labels[i], fname(fld), value, str(bad)))
                out.append(None)
        return out

    hours = checked("hours", _parse_hours)
    capacity = checked("capacity", _parse_capacity)
    level = checked("level", _parse_level)
    updated = checked("updated_at", _parse_date)
    amenities = []
    unknown_amenities: list[str] = []
    for i, value in enumerate(col("amenities")):
        keys, unknown = _parse_amenities(value)
        amenities.append(keys)
        unknown_amenities += [f"{labels[i]} {u!r}" for u in unknown]
    if unknown_amenities:
        notes.append(
            f"{source}: unknown amenities kept as given: {', '.join(unknown_amenities[:20])}"
            f"{' ...' if len(unknown_amenities) > 20 else ''}; known: {', '.join(AMENITIES)}"
        )

    _raise_problems(source, problems)

    def text_col(fld: str) -> pd.Series:
        return pd.Series([_cell_text(v) for v in col(fld)], index=index, dtype=str)

    out = gpd.GeoDataFrame(
        {
            "id": pd.Series(ids, index=index, dtype=str),
            "type": pd.Series(types, index=index, dtype=str),
            "name": text_col("name"),
            "address": text_col("address"),
            "hours": pd.Series(hours, index=index, dtype=str),
            "capacity": pd.Series(capacity, index=index, dtype="float64"),
            "amenities": pd.Series(amenities, index=index, dtype=object),
            "level": pd.Series(level, index=index, dtype=str),
            "contact": text_col("contact"),
            "source": text_col("source"),
            "updated_at": pd.Series(updated, index=index, dtype=str),
        },
        geometry=gpd.GeoSeries(shapely.points(wlon, wlat), index=index, crs="EPSG:4326"),
        index=index,
    )
    return out, notes


def _points_from_geometry(
    geoms: gpd.GeoSeries, labels: list[str], problems: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lon, lat and an ok-mask from a GeoSeries, recording non-point/empty problems."""
    n = len(geoms)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    for i, g in enumerate(geoms.values):
        if g is None or g.is_empty:
            problems.append(
                f"{labels[i]}, field 'geometry': empty geometry; every facility needs a point"
            )
        elif g.geom_type != "Point":
            wkt = shapely.to_wkt(g, rounding_precision=6)[:60]
            problems.append(
                f"{labels[i]}, field 'geometry': value {wkt!r}"
                f" is a {g.geom_type}, not a Point; give each facility one point (its entrance)"
            )
        else:
            lon[i], lat[i] = g.x, g.y
            ok[i] = True
    return lon, lat, ok


def validate_facilities(
    gdf: gpd.GeoDataFrame,
    *,
    registry: Mapping[str, FacilityType] | None = None,
    source: str = "<frame>",
    type: str | None = None,
    bounds: Sequence[float] | None = None,
    area: Any = None,
    area_name: str | None = None,
) -> gpd.GeoDataFrame:
    """Check a facility frame built in Python and return it in the standard schema.

    The same checks and messages as :func:`load_facilities` (which uses this path);
    rows are named by their index label. Columns may use the Chinese/English header
    names :func:`load_facilities` accepts; missing optional columns become blank.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Point facilities in EPSG:4326.
    registry : mapping, optional
        Facility types; default :func:`default_registry`.
    source : str
        Name used in messages.
    type : str, optional
        Type key (or label) for every row, overriding a ``type`` column.
    bounds : (minx, miny, maxx, maxy), optional
        Plausible area in WGS84 degrees; points outside are errors.
    area : shapely Polygon or GeoDataFrame, optional
        Plausible area as a polygon (instead of ``bounds``).
    area_name : str, optional
        Name of the area for messages, e.g. ``"Beilun District"``.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame with exactly the columns of the data model, on the input's index.

    Raises
    ------
    ValidationError
        Listing every problem found.
    CRSError
        If the frame has no CRS or is not in EPSG:4326.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> raw = gpd.GeoDataFrame({"名称": ["驿站"], "设施": ["饮水、充电"]},
    ...                        geometry=[Point(121.85, 29.9)], crs=4326)
    >>> out = validate_facilities(raw, type="outdoor_station")
    >>> out.loc[0, "id"], out.loc[0, "amenities"]
    ('outdoor_station-0001', ['water', 'charging'])
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"gdf must be a GeoDataFrame, got {gdf.__class__.__name__}")
    if gdf.crs is None:
        raise CRSError(
            f"{source} has no CRS; servicemap will not guess. Set one first, e.g. "
            "`gdf.set_crs('EPSG:4326')` for longitude/latitude in WGS84"
        )
    if not CRS.from_user_input(gdf.crs).equals(CRS.from_epsg(4326), ignore_axis_order=True):
        raise CRSError(
            f"{source} is in {CRS.from_user_input(gdf.crs).to_string()!r}; facility "
            "frames are EPSG:4326, reproject first with `gdf.to_crs(4326)`"
        )
    registry = _resolve_registry(registry)
    type_key = get_type(type, registry).key if type is not None else None
    region = _area_geometry(bounds, area)
    labels = [f"row at index {label!r}" for label in gdf.index]
    raw = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
    columns, clashes = _match_columns(list(raw.columns), _FACILITY_ALIASES)
    _raise_problems(source, clashes)
    columns.pop("lon", None)
    columns.pop("lat", None)
    problems: list[str] = []
    lon, lat, ok = _points_from_geometry(gdf.geometry, labels, problems)
    out, notes = _validate(
        raw.reset_index(drop=True),
        labels,
        source=source,
        columns=columns,
        lon=lon,
        lat=lat,
        coord_fields=("geometry", "geometry"),
        coord_values=(list(lon), list(lat)),
        geom_ok=ok,
        datum="wgs84",
        registry=registry,
        type_override=type_key,
        region=region,
        area_name=area_name,
        index=gdf.index.copy(),
        problems=problems,
    )
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return out


def load_facilities(
    path: str | os.PathLike[str],
    *,
    datum: str = "wgs84",
    type: str | None = None,
    registry: Mapping[str, FacilityType] | str | os.PathLike[str] | None = None,
    bounds: Sequence[float] | None = None,
    area: Any = None,
    area_name: str | None = None,
) -> gpd.GeoDataFrame:
    """Load and validate a facility layer.

    Parameters
    ----------
    path : path-like
        A ``.csv`` (UTF-8, UTF-8 with BOM, or GBK/GB18030), ``.xlsx`` (first sheet),
        ``.geojson``/``.json``, ``.gpkg`` (first layer), ``.zip`` (zipped shapefile) or
        ``.shp`` file. Tabular files hold longitude/latitude columns; headers may be
        English or Chinese (``lon``/``经度``, ``lat``/``纬度``, ``name``/``名称``, ...).
    datum : {"wgs84", "gcj02", "bd09"}
        Datum of the coordinates in the file (AMap/Tencent: ``"gcj02"``, Baidu:
        ``"bd09"``); converted to WGS84 on load.
    type : str, optional
        Type key (or Chinese/English label) for every row; needed when the file has
        no type column, and overrides it (with a warning) when it has one.
    registry : mapping or path, optional
        Facility types; default :func:`default_registry`.
    bounds : (minx, miny, maxx, maxy), optional
        Plausible area in WGS84 degrees; points outside are errors.
    area : shapely Polygon or GeoDataFrame, optional
        Plausible area as a polygon, instead of ``bounds``.
    area_name : str, optional
        Name of the area for messages, e.g. ``"Beilun District"``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``id, type, name, address, hours, capacity, amenities, level, contact,
        source, updated_at, geometry`` in EPSG:4326. Without an id column, ids are
        ``{type}-{n:04d}``, numbered per type in file order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValidationError
        If the file cannot be read or any row is bad; all problems are listed, each
        with its row (header = row 1) or feature number, field and value.
    CRSError
        If a vector file has no CRS, or is projected while ``datum`` is not WGS84.
    RegistryError
        If ``type`` is not a known type.

    Warns
    -----
    UserWarning
        For unknown amenities (kept as given) and for ``type`` overriding a column.
    """
    file, ext = _check_path(path, SUPPORTED_FACILITY_FORMATS)
    source = os.fspath(path)
    datum = check_datum(datum)
    registry = _resolve_registry(registry)
    type_key = get_type(type, registry).key if type is not None else None
    region = _area_geometry(bounds, area)

    if ext in _TABULAR:
        raw = _read_csv(file, source) if ext in (".csv", ".txt") else _read_excel(file, source)
        columns, clashes = _match_columns(list(raw.frame.columns), _FACILITY_ALIASES)
        _raise_problems(source, clashes)
        missing = [f for f in ("lon", "lat") if f not in columns]
        if missing:
            raise ValidationError(
                f"{source}: no {' or '.join(missing)} column; columns found: "
                f"{[str(c) for c in raw.frame.columns]!r}; accepted names: "
                f"longitude {', '.join(_FACILITY_ALIASES['lon'])}; latitude "
                f"{', '.join(_FACILITY_ALIASES['lat'])}"
            )
        if raw.frame.empty:
            raise ValidationError(f"{source}: the file has a header row but no data rows")
        problems: list[str] = []
        coords = []
        for fld in ("lon", "lat"):
            values = np.full(len(raw.frame), np.nan)
            for i, value in enumerate(raw.frame[columns[fld]]):
                text = _cell_text(value)
                if not text:
                    problems.append(
                        _issue(
                            raw.labels[i],
                            str(columns[fld]),
                            text,
                            "is blank; every facility needs a longitude and a latitude",
                        )
                    )
                    continue
                try:
                    values[i] = _parse_float(text)
                except _Bad:
                    problems.append(
                        _issue(
                            raw.labels[i],
                            str(columns[fld]),
                            value,
                            "is not a number; write decimal degrees such as 121.85 "
                            "(no letters, degree signs or N/E)",
                        )
                    )
            coords.append(values)
        lon, lat = coords
        ok = np.isfinite(lon) & np.isfinite(lat)
        coord_fields = (str(columns["lon"]), str(columns["lat"]))
        coord_values = (list(raw.frame[columns["lon"]]), list(raw.frame[columns["lat"]]))
        columns.pop("lon")
        columns.pop("lat")
    else:
        raw = _read_vector(file, ext, source, datum)
        columns, clashes = _match_columns(list(raw.frame.columns), _FACILITY_ALIASES)
        _raise_problems(source, clashes)
        columns.pop("lon", None)
        columns.pop("lat", None)
        problems = []
        assert raw.geometry is not None
        lon, lat, ok = _points_from_geometry(raw.geometry, raw.labels, problems)
        coord_fields = ("geometry", "geometry")
        coord_values = (list(lon), list(lat))
    used = {*columns.values(), *coord_fields}
    ignored = [c for c in raw.frame.columns if c not in used]
    if ignored:
        log.info("%s: ignoring columns %r", source, ignored)
    out, notes = _validate(
        raw.frame,
        raw.labels,
        source=source,
        columns=columns,
        lon=lon,
        lat=lat,
        coord_fields=coord_fields,
        coord_values=coord_values,
        geom_ok=ok,
        datum=datum,
        registry=registry,
        type_override=type_key,
        region=region,
        area_name=area_name,
        index=pd.RangeIndex(len(raw.frame)),
        problems=problems,
    )
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    log.info("%s: loaded %d facilities", source, len(out))
    return out


def _csv_cell(value: Any) -> str:
    """Text for a CSV cell; floats with repr() so they read back exactly."""
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else repr(float(value))
    return str(value)


def facilities_to_file(
    gdf: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
    *,
    registry: Mapping[str, FacilityType] | str | os.PathLike[str] | None = None,
) -> Path:
    """Write a facility frame to GeoJSON, GeoPackage or CSV.

    The frame is validated first. Amenities are written ``;``-separated; CSV files get
    ``lon``/``lat`` columns (UTF-8 with BOM, so Excel opens them). Reading the file back
    with :func:`load_facilities` gives an equal frame.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Facilities in the standard schema.
    path : path-like
        Ending in ``.geojson``/``.json``, ``.gpkg`` or ``.csv``; an existing file is
        replaced.
    registry : mapping or path, optional
        Facility types the frame was validated against; default :func:`default_registry`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    file = Path(path)
    ext = file.suffix.lower()
    if ext not in (".geojson", ".json", ".gpkg", ".csv"):
        raise ValueError(
            f"path={os.fspath(path)!r}: cannot write {ext!r}; use .geojson, .gpkg or .csv"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # unknown amenities are written as-is
        clean = validate_facilities(gdf, registry=_resolve_registry(registry))
    table = pd.DataFrame(clean.drop(columns="geometry")).reset_index(drop=True)
    table["amenities"] = [";".join(a) for a in table["amenities"]]
    if ext == ".csv":
        table["lon"] = clean.geometry.x.to_numpy()
        table["lat"] = clean.geometry.y.to_numpy()
        with file.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(list(table.columns))
            for row in table.itertuples(index=False):
                writer.writerow([_csv_cell(v) for v in row])
    elif ext == ".gpkg":
        out = gpd.GeoDataFrame(table, geometry=clean.geometry.reset_index(drop=True))
        if file.exists():
            file.unlink()
        out.to_file(file, driver="GPKG", layer="facilities")
    else:
        out = gpd.GeoDataFrame(table, geometry=clean.geometry.reset_index(drop=True))
        file.write_text(out.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")
    return file


# ---------------------------------------------------------------------------------------
# Areas
# ---------------------------------------------------------------------------------------


def load_areas(
    path: str | os.PathLike[str], *, datum: str = "wgs84", level: str | None = None
) -> gpd.GeoDataFrame:
    """Load an area layer (sub-districts, industrial communities, ...).

    Parameters
    ----------
    path : path-like
        GeoJSON, GeoPackage (first layer), zipped shapefile or shapefile of polygons.
    datum : {"wgs84", "gcj02", "bd09"}
        Datum of the file's longitudes/latitudes, converted to WGS84.
    level : str, optional
        Level of every area (``"subdistrict"``, ``"industrial_community"``, ...), for a
        file without a level column; overrides the column when given.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``id, name, name_en, level, geometry`` (Polygon/MultiPolygon, EPSG:4326).
        Without an id column, ids are ``{level or 'area'}-{n:04d}``.

    Raises
    ------
    ValidationError
        For non-polygon or empty geometries, blank names or duplicate ids, naming each
        feature.

    Warns
    -----
    UserWarning
        When an invalid polygon is repaired with :func:`shapely.make_valid`.
    """
    file, ext = _check_path(path, SUPPORTED_AREA_FORMATS)
    source = os.fspath(path)
    datum = check_datum(datum)
    raw = _read_vector(file, ext, source, datum)
    columns, clashes = _match_columns(list(raw.frame.columns), _AREA_ALIASES)
    problems = list(clashes)
    labels = raw.labels
    assert raw.geometry is not None
    geoms = list(raw.geometry.values)
    repaired = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            problems.append(
                f"{labels[i]}, field 'geometry': empty geometry; every area needs a polygon"
            )
        elif g.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(
                f"{labels[i]}, field 'geometry': {g.geom_type} is not a Polygon or "
                "MultiPolygon; areas must be polygons"
            )
        elif not g.is_valid:
            reason = shapely.is_valid_reason(g)
            fixed = shapely.make_valid(g)
            if fixed.geom_type == "GeometryCollection":
                polys = [
                    p
                    for p in shapely.get_parts(fixed)
                    if p.geom_type in ("Polygon", "MultiPolygon")
                ]
                fixed = shapely.union_all(polys) if polys else shapely.Polygon()
            if fixed.is_empty:
                problems.append(
                    f"{labels[i]}, field 'geometry': invalid polygon ({reason}) that "
                    "cannot be repaired"
                )
            else:
                geoms[i] = fixed
                repaired.append(f"{labels[i]} ({reason})")
    n = len(raw.frame)

    def col(fld: str) -> list[str]:
        name = columns.get(fld)
        return [_cell_text(v) for v in raw.frame[name]] if name is not None else [""] * n

    names = col("name")
    if "name" not in columns:
        problems.append(
            f"no name column; columns found: {[str(c) for c in raw.frame.columns]!r}; "
            f"accepted names: {', '.join(_AREA_ALIASES['name'])}"
        )
    else:
        for i, name in enumerate(names):
            if not name:
                problems.append(
                    _issue(
                        labels[i], str(columns["name"]), name, "is blank; every area needs a name"
                    )
                )
    if level is not None:
        levels = [str(level)] * n
    else:
        levels = [_AREA_LEVEL_WORDS.get(v, v) for v in col("level")]
    if "id" in columns:
        ids = col("id")
        seen: dict[str, list[int]] = {}
        for i, text in enumerate(ids):
            if not text:
                problems.append(
                    _issue(labels[i], str(columns["id"]), text, "is blank; every area needs an id")
                )
            else:
                seen.setdefault(text, []).append(i)
        for text, rows in seen.items():
            if len(rows) > 1:
                problems.append(
                    f"{' and '.join(labels[r] for r in rows)}, field {str(columns['id'])!r}: "
                    f"duplicate id {text!r}; ids must be unique"
                )
    else:
        ids = [f"{lv or 'area'}-{i:04d}" for i, lv in enumerate(levels, start=1)]
    _raise_problems(source, problems)
    if repaired:
        warnings.warn(
            f"{source}: repaired invalid polygons with shapely.make_valid: {', '.join(repaired)}",
            UserWarning,
            stacklevel=2,
        )
    geometry = geometry_to_wgs84(gpd.GeoSeries(geoms, crs=4326), datum)
    index = pd.RangeIndex(n)
    return gpd.GeoDataFrame(
        {
            "id": pd.Series(ids, index=index, dtype=str),
            "name": pd.Series(names, index=index, dtype=str),
            "name_en": pd.Series(col("name_en"), index=index, dtype=str),
            "level": pd.Series(levels, index=index, dtype=str),
        },
        geometry=gpd.GeoSeries(geometry.values, index=index, crs="EPSG:4326"),
        index=index,
    )


__all__ = [
    "AMENITIES",
    "DEFAULT_REGISTRY_PATH",
    "FACILITY_COLUMNS",
    "LEVELS",
    "MODES",
    "RULES",
    "FacilityType",
    "default_registry",
    "facilities_to_file",
    "get_type",
    "load_areas",
    "load_facilities",
    "load_registry",
    "validate_facilities",
]
