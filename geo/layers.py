"""Facility types, the facility schema, and loading + validation of facility and area layers.

The facility-type registry is a TOML file (``geo/data/facility_types.toml`` by default,
or a district's own file passed as ``registry=``), one table per type;
:func:`load_registry` reads and checks it into :class:`FacilityType` entries.

:func:`load_facilities` reads CSV (UTF-8 or GBK/GB18030), Excel ``.xlsx``, GeoJSON,
GeoPackage, (zipped) Shapefile and FlatGeobuf files into a GeoDataFrame with the columns of
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
import logging
import math
import os
import re
import tomllib
import warnings
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

from geo import _io
from geo._gc import gc_paused
from geo.crs import check_datum, geometry_to_wgs84, metric_crs_for, to_wgs84
from geo.errors import CRSError, FileNotFound, RegistryError, ValidationError
from geo.network.modes import STRAIGHT, load_travel_modes

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------
# Facility-type registry
# ---------------------------------------------------------------------------------------

#: The registry shipped with servicemap.
DEFAULT_REGISTRY_PATH: Path = Path(__file__).parent / "data" / "facility_types.toml"
#: Environment variable naming a district's own registry file.
REGISTRY_ENV = "SERVICEMAP_REGISTRY"

#: Travel modes of the shipped files: "straight" and the modes of ``travel_modes.toml``
#: (the one list; a registry read with ``modes=`` accepts that file's modes instead).
MODES: tuple[str, ...] = (STRAIGHT, *load_travel_modes().names)
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
        Travel mode: ``"straight"`` or a mode of the travel-mode file (:data:`MODES`).
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


def _registry_path(path: str | os.PathLike[str] | None) -> Path:
    """The registry file to read: ``path``, or the shipped one."""
    return DEFAULT_REGISTRY_PATH if path is None else Path(path)


def registry_path_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """The registry file named by ``$SERVICEMAP_REGISTRY``, or None when it is not set.

    For the edges of the program (the CLI, the web app's configuration): ``geo`` itself
    never reads the environment; its functions take ``registry=``.

    Examples
    --------
    >>> registry_path_from_env({"SERVICEMAP_REGISTRY": "district.toml"})
    PosixPath('district.toml')
    >>> registry_path_from_env({}) is None
    True
    """
    value = (os.environ if environ is None else environ).get(REGISTRY_ENV)
    return Path(value) if value else None


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _parse_type(where: str, key: str, table: Any, modes: tuple[str, ...] = MODES) -> FacilityType:
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
    if mode not in modes:
        raise fail("mode", mode, f"is not a travel mode; use one of {', '.join(modes)}")
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


def load_registry(
    path: str | os.PathLike[str] | None = None, *, modes=None
) -> dict[str, FacilityType]:
    """Read and check a facility-type registry file.

    Parameters
    ----------
    path : path-like, optional
        A TOML file with one table per type. Default: the registry shipped with
        servicemap (:data:`DEFAULT_REGISTRY_PATH`). The file replaces the shipped one; it
        is not merged with it. (The CLI and the web app take a district's file from
        ``$SERVICEMAP_REGISTRY``, see :func:`registry_path_from_env`.)
    modes : path or geo.network.TravelModes, optional
        The travel-mode file whose modes a type may name (default: the shipped one).

    Returns
    -------
    dict of str to FacilityType
        Types by key, in file order.

    Raises
    ------
    geo.errors.FileNotFound
        If the file does not exist (also a ``FileNotFoundError``).
    RegistryError
        If the file is not valid TOML or a type is malformed; the message names the
        file, the type key and the field, and shows the value.

    Examples
    --------
    >>> registry = load_registry()
    >>> list(registry)
    ['outdoor_station', 'mother_room', 'bookshelf', 'driver_home']
    """
    file = _registry_path(path)
    where = str(file)
    if not file.is_file():
        raise FileNotFound(f"facility-type registry {where!r} does not exist")
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{where}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{where}: not UTF-8 text; save it as UTF-8 ({exc})") from exc
    if not data:
        raise RegistryError(f"{where}: defines no facility types; add a table such as [bookshelf]")
    mode_names = MODES if modes is None else (STRAIGHT, *load_travel_modes(modes).names)
    registry = {key: _parse_type(where, key, table, mode_names) for key, table in data.items()}
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
    """The registry shipped with servicemap, read once and cached.

    A new dict is returned each time (the entries are frozen), so callers may modify it
    freely. A district's own registry is passed as ``registry=`` (an object or a path).
    """
    file = DEFAULT_REGISTRY_PATH
    return dict(_cached_registry(str(file), file.stat().st_mtime_ns))


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
    # accessibility (issue 11): shown and filtered like the other amenities
    "step_free",
    "wheelchair_toilet",
    "baby_change",
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
    "无障碍通道": "step_free",
    "无障碍": "step_free",
    "无障碍厕所": "wheelchair_toilet",
    "无障碍卫生间": "wheelchair_toilet",
    "母婴护理台": "baby_change",
    "婴儿护理台": "baby_change",
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
_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")

SUPPORTED_FACILITY_FORMATS: tuple[str, ...] = (
    *_io.TABULAR_SUFFIXES,
    *_io.VECTOR_SUFFIXES,
    ".parquet",
)
SUPPORTED_AREA_FORMATS: tuple[str, ...] = _io.VECTOR_SUFFIXES


# ---------------------------------------------------------------------------------------
# Field parsers (each returns the clean value or raises _Bad with the reason)
# ---------------------------------------------------------------------------------------


class _Bad(Exception):
    """A value could not be used; the argument is the reason and hint."""


def _parse_hours(value: Any) -> str:
    text = _io.cell_text(value)
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
    if _io.is_blank(value):
        return math.nan
    out = _io.parse_number(value)
    if math.isnan(out):
        raise _Bad("is not a number; write a number of people, e.g. 20, or leave it blank")
    if out < 0:
        raise _Bad("must be a number >= 0 (people), or blank when unknown")
    return out


def _parse_amenities(value: Any) -> tuple[list[str], list[str]]:
    """Amenity keys and the unknown words (kept as given)."""
    if _io.is_blank(value):
        return [], []
    if isinstance(value, list | tuple | np.ndarray):
        parts = [_io.cell_text(v) for v in value]
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
    text = _io.cell_text(value)
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
    text = _io.cell_text(value)
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
    box = _io.check_bounds(bounds)
    if box is not None:
        return shapely.box(*box)
    if area is None:
        return None
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries) or (
        isinstance(area, shapely.Geometry) and area.geom_type in ("Polygon", "MultiPolygon")
    ):
        return load_boundary(area).geometry.union_all()
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


@dataclass
class _Rows:
    """The records being validated and how to reach their fields."""

    raw: _io.Raw
    problems: _io.Problems
    columns: Mapping[str, Any]
    index: pd.Index

    @property
    def n(self) -> int:
        return len(self.raw.frame)

    def col(self, fld: str) -> list[Any]:
        name = self.columns.get(fld)
        return _io.cells(self.raw.frame[name]) if name is not None else [""] * self.n

    def fname(self, fld: str) -> Any:
        return self.columns.get(fld, fld)

    def checked(self, fld: str, parse: Callable[[Any], Any]) -> list[Any]:
        """``parse`` applied to every value of ``fld``; failures are problems (None).

        Each distinct value (by type and value) is parsed once: a district's sheet
        repeats its hours, levels and amenity lists on most rows. The parsers are pure,
        so a repeat gets the same answer (a text or a number, shared safely)."""
        out: list[Any] = []
        seen: dict[tuple[type, Any], tuple[bool, Any]] = {}
        for i, value in enumerate(self.col(fld)):
            try:
                key = (type(value), value)
                done = seen.get(key)
            except TypeError:  # unhashable (a list of amenities): parsed every time
                key, done = None, None
            if done is None:
                try:
                    done = (True, parse(value))
                except _Bad as bad:
                    done = (False, str(bad))
                if key is not None:
                    seen[key] = done
            ok, result = done
            if ok:
                out.append(result)
            else:
                self.problems.value(i, self.fname(fld), value, result)
                out.append(None)
        return out

    def text(self, fld: str) -> pd.Series:
        return pd.Series([_io.cell_text(v) for v in self.col(fld)], index=self.index, dtype=str)


def _check_region(
    rows: _Rows,
    ok: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    wgs: tuple[np.ndarray, np.ndarray],
    coord_fields: tuple[Any, Any],
    coord_values: tuple[Sequence[Any], Sequence[Any]],
    datum: str,
    region: shapely.Geometry,
    area_name: str | None,
) -> None:
    """Points outside the plausible area are problems (swapped columns named)."""
    km = np.zeros(rows.n)
    km[ok] = _outside_km(wgs[0][ok], wgs[1][ok], region)
    name = area_name or "the expected area"
    for i in np.flatnonzero(ok & (km > 0)).tolist():
        swap_in = bool(shapely.contains_xy(region, *to_wgs84([lat[i]], [lon[i]], datum))[0])
        hint = (
            "; with longitude and latitude swapped it would be inside (columns swapped?)"
            if swap_in
            else "; check the coordinates and their datum (datum='gcj02' for AMap, "
            "'bd09' for Baidu)"
        )
        rows.problems.add(
            i,
            coord_fields,
            f"point ({_io.show(coord_values[0][i])}, {_io.show(coord_values[1][i])}) is "
            f"{km[i]:.1f} km outside {name}{hint}",
        )


def _types(
    rows: _Rows,
    registry: Mapping[str, FacilityType],
    type_override: str | None,
    notes: list[str],
) -> list[str]:
    """The type key of every row: the override, or the type column matched to the registry."""
    index_of = _type_index(registry)
    if type_override is not None:
        given = [_io.cell_text(v) for v in rows.col("type")] if "type" in rows.columns else []
        differ = sorted(
            {v for v in given if v and index_of.get(v.casefold(), index_of.get(v)) != type_override}
        )
        if differ:
            notes.append(
                f"{rows.raw.source}: type={type_override!r} overrides the values of column "
                f"{rows.fname('type')!r} ({', '.join(map(repr, differ[:5]))})"
            )
        return [type_override] * rows.n
    if "type" not in rows.columns:
        rows.problems.no_column(
            "type",
            _FACILITY_ALIASES["type"],
            rows.raw.frame.columns,
            f"; add one holding a type key, or pass type=..., one of {', '.join(registry)}",
        )
        return [""] * rows.n
    types = []
    for i, value in enumerate(rows.col("type")):
        text = _io.cell_text(value)
        key = index_of.get(text.casefold(), index_of.get(text))
        if key is None:
            what = (
                "is blank; fill in the type, or pass type=... for a one-type file"
                if not text
                else "is not a known facility type"
            )
            rows.problems.value(
                i,
                rows.fname("type"),
                value if text else text,
                f"{what}; known types: {', '.join(registry)} "
                f"({', '.join(ft.label_zh for ft in registry.values())})",
            )
            key = ""
        types.append(key)
    return types


def _facility_ids(rows: _Rows, types: Sequence[str]) -> Sequence[str] | np.ndarray:
    """The id column checked, or ``{type}-{n:04d}`` numbered per type in file order."""
    if "id" in rows.columns:
        return _io.check_ids(rows.col("id"), rows.fname("id"), rows.problems)
    counters: dict[str, int] = {}
    ids = []
    for key in types:
        counters[key] = counters.get(key, 0) + 1
        ids.append(f"{key}-{counters[key]:04d}" if key else "")
    return ids


def _amenities(rows: _Rows, notes: list[str]) -> list[list[str]]:
    amenities = []
    unknown_amenities: list[str] = []
    seen: dict[str, tuple[list[str], list[str]]] = {}  # a sheet repeats its lists
    for i, value in enumerate(rows.col("amenities")):
        parsed = seen.get(value) if isinstance(value, str) else None
        if parsed is None:
            parsed = _parse_amenities(value)
            if isinstance(value, str):
                seen[value] = parsed
        keys, unknown = parsed
        amenities.append(list(keys))  # every row its own list
        unknown_amenities += [f"{rows.raw.labels[i]} {u!r}" for u in unknown]
    if unknown_amenities:
        notes.append(
            f"{rows.raw.source}: unknown amenities kept as given: "
            f"{', '.join(unknown_amenities[:20])}"
            f"{' ...' if len(unknown_amenities) > 20 else ''}; known: {', '.join(AMENITIES)}"
        )
    return amenities


def _validate(
    raw: _io.Raw,
    problems: _io.Problems,
    *,
    columns: Mapping[str, Any],
    lon: np.ndarray,
    lat: np.ndarray,
    coord_fields: tuple[Any, Any],
    coord_values: tuple[Sequence[Any], Sequence[Any]],
    datum: str,
    registry: Mapping[str, FacilityType],
    type_override: str | None,
    region: shapely.Geometry | None,
    area_name: str | None,
    index: pd.Index,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Check every row and build the clean frame; returns it and the warnings.

    ``lon``/``lat`` are floats in ``datum``, NaN where a problem is already recorded.
    Problems are added to ``problems`` and raised together at the end.
    """
    rows = _Rows(raw, problems, columns, index)
    notes: list[str] = []
    ok = _io.check_lonlat(lon, lat, coord_fields, coord_values, problems)
    wlon = np.full(rows.n, np.nan)
    wlat = np.full(rows.n, np.nan)
    if ok.any():
        wlon[ok], wlat[ok] = to_wgs84(lon[ok], lat[ok], datum)
        if region is not None:
            _check_region(
                rows,
                ok,
                lon,
                lat,
                (wlon, wlat),
                coord_fields,
                coord_values,
                datum,
                region,
                area_name,
            )
    types = _types(rows, registry, type_override, notes)
    ids = _facility_ids(rows, types)
    hours = rows.checked("hours", _parse_hours)
    capacity = rows.checked("capacity", _parse_capacity)
    level = rows.checked("level", _parse_level)
    updated = rows.checked("updated_at", _parse_date)
    amenities = _amenities(rows, notes)
    problems.raise_if_any()
    out = gpd.GeoDataFrame(
        {
            "id": pd.Series(ids, index=index, dtype=str),
            "type": pd.Series(types, index=index, dtype=str),
            "name": rows.text("name"),
            "address": rows.text("address"),
            "hours": pd.Series(hours, index=index, dtype=str),
            "capacity": pd.Series(capacity, index=index, dtype="float64"),
            "amenities": pd.Series(amenities, index=index, dtype=object),
            "level": pd.Series(level, index=index, dtype=str),
            "contact": rows.text("contact"),
            "source": rows.text("source"),
            "updated_at": pd.Series(updated, index=index, dtype=str),
        },
        geometry=gpd.GeoSeries(shapely.points(wlon, wlat), index=index, crs="EPSG:4326"),
        index=index,
    )
    return out, notes


def _points_from_geometry(
    geoms: gpd.GeoSeries, problems: _io.Problems
) -> tuple[np.ndarray, np.ndarray]:
    """lon, lat from a GeoSeries, NaN (and a problem) where not a non-empty Point."""
    lon = np.full(len(geoms), np.nan)
    lat = np.full(len(geoms), np.nan)
    for i, g in enumerate(geoms.values):
        if g is None or g.is_empty:
            problems.add(i, "geometry", "empty geometry; every facility needs a point")
        elif g.geom_type != "Point":
            wkt = shapely.to_wkt(g, rounding_precision=6)[:60]
            problems.value(
                i,
                "geometry",
                wkt,
                f"is a {g.geom_type}, not a Point; give each facility one point (its entrance)",
            )
        else:
            lon[i], lat[i] = g.x, g.y
    return lon, lat


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
    raw = _io.frame_records(gdf, source)
    problems = raw.problems()
    columns = _io.match_columns(raw.frame.columns, _FACILITY_ALIASES, problems)
    problems.raise_if_any()
    assert raw.geometry is not None
    lon, lat = _points_from_geometry(raw.geometry, problems)
    out, notes = _validate(
        raw,
        problems,
        columns={k: v for k, v in columns.items() if k not in ("lon", "lat")},
        lon=lon,
        lat=lat,
        coord_fields=("geometry", "geometry"),
        coord_values=(list(lon), list(lat)),
        datum="wgs84",
        registry=registry,
        type_override=type_key,
        region=region,
        area_name=area_name,
        index=gdf.index.copy(),
    )
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return out


def load_facilities(
    path: str | os.PathLike[str],
    *,
    datum: str | None = None,
    type: str | None = None,
    registry: Mapping[str, FacilityType] | str | os.PathLike[str] | None = None,
    bounds: Sequence[float] | None = None,
    area: Any = None,
    area_name: str | None = None,
    boundary: Any = None,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Load and validate a facility layer.

    Parameters
    ----------
    path : path-like
        A ``.csv`` (UTF-8, UTF-8 with BOM, or GBK/GB18030), ``.xlsx`` (first sheet),
        ``.geojson``/``.json``, ``.gpkg`` (first layer), ``.zip`` (zipped shapefile),
        ``.shp`` or ``.fgb`` file. Tabular files hold longitude/latitude columns; headers may be
        English or Chinese (``lon``/``经度``, ``lat``/``纬度``, ``name``/``名称``, ...).
    datum : {"wgs84", "gcj02", "bd09"}, optional
        Datum of the coordinates in the file (AMap/Tencent: ``"gcj02"``, Baidu:
        ``"bd09"``); converted to WGS84 on load. Default: the datum a coordinate header
        names (``经度（GCJ-02）``, with a warning), else WGS84. A ``datum`` that disagrees
        with the header is an error.
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
    boundary : path, GeoDataFrame or Polygon, optional
        The district's boundary (see :func:`load_boundary`): points outside it are
        loaded, with a warning naming their rows.
    layer : str, optional
        The layer of a multi-layer file (GeoPackage) or the sheet of a workbook; a file
        with several layers is refused without it (the message lists them).

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
    with gc_paused():  # one Python object per cell and per point (geo._gc)
        datum = None if datum is None else check_datum(datum)
        registry = _resolve_registry(registry)
        type_key = get_type(type, registry).key if type is not None else None
        region = _area_geometry(bounds, area)
        district = boundary_geometry(boundary)
        raw = _io.read_file(path, SUPPORTED_FACILITY_FORMATS, datum=datum or "wgs84", layer=layer)
        problems = raw.problems()
        columns = _io.match_columns(raw.frame.columns, _FACILITY_ALIASES, problems)
        coord_fields: tuple[Any, Any]
        if raw.geometry is None:
            for fld in ("lon", "lat"):
                if fld not in columns:
                    problems.no_column(fld, _FACILITY_ALIASES[fld], raw.frame.columns)
            datum = _io.resolve_datum(
                raw, datum, [columns.get("lon"), columns.get("lat")], problems
            )
            problems.raise_if_any()
            coord_fields = (columns["lon"], columns["lat"])
            lon, lat = _io.parse_lonlat(raw, *coord_fields, problems, "facility")
            coord_values = (
                _io.cells(raw.frame[coord_fields[0]]),
                _io.cells(raw.frame[coord_fields[1]]),
            )
        else:
            datum = datum or "wgs84"
            problems.raise_if_any()
            lon, lat = _points_from_geometry(raw.geometry, problems)
            coord_fields = ("geometry", "geometry")
            coord_values = (list(lon), list(lat))
        columns.pop("lon", None)
        columns.pop("lat", None)
        ignored = [c for c in raw.frame.columns if c not in {*columns.values(), *coord_fields}]
        if ignored:
            log.info("%s: ignoring columns %r", raw.source, ignored)
        out, notes = _validate(
            raw,
            problems,
            columns=columns,
            lon=lon,
            lat=lat,
            coord_fields=coord_fields,
            coord_values=coord_values,
            datum=datum,
            registry=registry,
            type_override=type_key,
            region=region,
            area_name=area_name,
            index=pd.RangeIndex(len(raw.frame)),
        )
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        _io.warn_outside(
            out.geometry.x.to_numpy(), out.geometry.y.to_numpy(), district, raw.labels, raw.source
        )
        log.info("%s: loaded %d facilities", raw.source, len(out))
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
    """Write a facility frame to GeoJSON, GeoPackage, CSV or GeoParquet.

    The frame is validated first. Amenities are written ``;``-separated; CSV files get
    ``lon``/``lat`` columns (UTF-8 with BOM, so Excel opens them). Reading the file back
    with :func:`load_facilities` gives an equal frame.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Facilities in the standard schema.
    path : path-like
        Ending in ``.geojson``/``.json``, ``.gpkg``, ``.csv`` or ``.parquet``; an
        existing file is replaced.
    registry : mapping or path, optional
        Facility types the frame was validated against; default :func:`default_registry`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    file = Path(path)
    ext = file.suffix.lower()
    if ext not in (".geojson", ".json", ".gpkg", ".csv", ".parquet"):
        raise ValidationError(
            f"path={os.fspath(path)!r}: cannot write {ext!r}; use .geojson, .gpkg, .csv or "
            ".parquet (GeoParquet)"
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
    elif ext == ".parquet":
        out = gpd.GeoDataFrame(table, geometry=clean.geometry.reset_index(drop=True))
        out.to_parquet(file)
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
    path: str | os.PathLike[str],
    *,
    datum: str = "wgs84",
    level: str | None = None,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Load an area layer (sub-districts, industrial communities, ...).

    Parameters
    ----------
    path : path-like
        GeoJSON, GeoPackage (first layer), (zipped) shapefile or FlatGeobuf of polygons.
    datum : {"wgs84", "gcj02", "bd09"}
        Datum of the file's longitudes/latitudes, converted to WGS84.
    level : str, optional
        Level of every area (``"subdistrict"``, ``"industrial_community"``, ...), for a
        file without a level column; overrides the column when given.
    layer : str, optional
        The layer of a multi-layer file (needed when it has several).

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
    with gc_paused():  # one Python object per cell and per point (geo._gc)
        datum = check_datum(datum)
        raw = _io.read_file(path, SUPPORTED_AREA_FORMATS, datum=datum, layer=layer)
        problems = raw.problems()
        columns = _io.match_columns(raw.frame.columns, _AREA_ALIASES, problems)
        assert raw.geometry is not None
        geoms = list(raw.geometry.values)
        repaired = []
        for i, g in enumerate(geoms):
            if g is None or g.is_empty:
                problems.add(i, "geometry", "empty geometry; every area needs a polygon")
            elif g.geom_type not in ("Polygon", "MultiPolygon"):
                problems.add(
                    i,
                    "geometry",
                    f"{g.geom_type} is not a Polygon or MultiPolygon; areas must be polygons",
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
                    problems.add(
                        i, "geometry", f"invalid polygon ({reason}) that cannot be repaired"
                    )
                else:
                    geoms[i] = fixed
                    repaired.append(f"{raw.labels[i]} ({reason})")
        n = len(raw.frame)

        def col(fld: str) -> list[str]:
            name = columns.get(fld)
            return (
                [_io.cell_text(v) for v in _io.cells(raw.frame[name])]
                if name is not None
                else [""] * n
            )

        names = col("name")
        if "name" not in columns:
            problems.no_column("name", _AREA_ALIASES["name"], raw.frame.columns)
        for i, name in enumerate(names if "name" in columns else []):
            if not name:
                problems.value(i, columns["name"], name, "is blank; every area needs a name")
        if level is not None:
            levels = [str(level)] * n
        else:
            levels = [_AREA_LEVEL_WORDS.get(v, v) for v in col("level")]
        ids: Sequence[str] | np.ndarray
        if "id" in columns:
            ids = _io.check_ids(raw.frame[columns["id"]], columns["id"], problems)
        else:
            ids = [f"{lv or 'area'}-{i:04d}" for i, lv in enumerate(levels, start=1)]
        problems.raise_if_any()
        if repaired:
            warnings.warn(
                f"{raw.source}: repaired invalid polygons with shapely.make_valid: "
                f"{', '.join(repaired)}",
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


def load_boundary(
    source: Any, *, datum: str = "wgs84", layer: str | None = None
) -> gpd.GeoDataFrame:
    """A district boundary (or any polygons: a mask, an exclusion zone) in EPSG:4326.

    The one way to read a boundary: from a file, or a frame or polygon already in memory,
    with its CRS set or converted and its datum shifted to WGS84.

    Parameters
    ----------
    source : path, GeoDataFrame, GeoSeries or shapely Polygon/MultiPolygon
        A vector file of polygons (GeoJSON, GeoPackage, shapefile, ...), or polygons in
        memory; a frame must carry a CRS; a bare shapely geometry is taken as WGS84.
    datum : {"wgs84", "gcj02", "bd09"}
        Datum of longitude/latitude coordinates (AMap boundaries: ``"gcj02"``).
    layer : str, optional
        The layer of a multi-layer file.

    Returns
    -------
    geopandas.GeoDataFrame
        The polygons, attributes kept, EPSG:4326, on a RangeIndex.

    Raises
    ------
    geo.errors.FileNotFound
        If the file does not exist.
    ValidationError
        If there are no polygons, or a geometry is not a polygon.
    CRSError
        If a frame or file has no CRS.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> load_boundary(box(121.7, 29.8, 122.0, 30.0)).crs.to_epsg()
    4326
    """
    datum = check_datum(datum)
    if isinstance(source, str | os.PathLike):
        raw = _io.read_file(source, _io.VECTOR_SUFFIXES, datum=datum, layer=layer)
        assert raw.geometry is not None
        name, frame, geoms = raw.source, raw.frame, raw.geometry
    elif isinstance(source, gpd.GeoDataFrame | gpd.GeoSeries):
        if source.crs is None:
            raise CRSError(
                "boundary has no CRS; servicemap will not guess: set one, e.g. "
                "boundary.set_crs('EPSG:4326')"
            )
        name = "boundary"
        geoms = _io.to_4326(gpd.GeoSeries(source.geometry), name, datum)
        frame = (
            pd.DataFrame(source.drop(columns=source.geometry.name)).reset_index(drop=True)
            if isinstance(source, gpd.GeoDataFrame)
            else pd.DataFrame(index=pd.RangeIndex(len(source)))
        )
    elif isinstance(source, shapely.Geometry):
        name, frame, geoms = "boundary", pd.DataFrame(index=[0]), gpd.GeoSeries([source], crs=4326)
    else:
        raise TypeError(
            "boundary must be a file path, a GeoDataFrame/GeoSeries or a shapely polygon, "
            f"got {type(source).__name__}"
        )
    kinds = geoms.geom_type.to_numpy()
    bad = [
        i
        for i, (g, k) in enumerate(zip(geoms.values, kinds, strict=True))
        if g is None or g.is_empty or k not in ("Polygon", "MultiPolygon")
    ]
    if not len(geoms) or bad:
        where = f" (rows {', '.join(str(i + 1) for i in bad[:10])})" if bad else ""
        raise ValidationError(
            f"{name}: a boundary must be one or more non-empty polygons{where}; "
            "pass the district polygon"
        )
    geometry = geometry_to_wgs84(gpd.GeoSeries(geoms.values, crs=4326), datum)
    return gpd.GeoDataFrame(
        frame.reset_index(drop=True),
        geometry=gpd.GeoSeries(geometry.values, crs="EPSG:4326"),
        crs="EPSG:4326",
    )


def boundary_geometry(boundary: Any) -> shapely.Geometry | None:
    """A ``boundary=`` argument as one prepared (Multi)Polygon in WGS84, or None."""
    if boundary is None:
        return None
    geom = load_boundary(boundary).geometry.union_all()
    shapely.prepare(geom)
    return geom


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
    "boundary_geometry",
    "load_areas",
    "load_boundary",
    "load_facilities",
    "load_registry",
    "registry_path_from_env",
    "validate_facilities",
]
