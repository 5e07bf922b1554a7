"""Facility standards: checklists, minimum areas, star levels, and who meets them.

The standards are data (``geo/data/standards.toml``, or a district's own file): per
facility type, the required and optional items, each with the ``source`` it comes from
(the ACFTU "Double 15" programme, provincial 六有 lists, the 2025 driver-home notice, or
an honest "project assumption"), and a star scoring. A facility's compliance is computed
from its fields, never typed in:

- :func:`load_standards`: read and check a standards file.
- :func:`compliance`: per facility, the items met, missing and unknown, the status
  (compliant / not_compliant / unknown) and the star level.
- :func:`compliant_coverage`: for every demand row, coverage by any facility of the type
  beside coverage by *compliant* facilities only (both from :func:`geo.coverage`), so the
  workers whose only nearby station lacks water show up.
- :func:`compliance_by_area`: per sub-district, the share of compliant facilities (and,
  given :func:`compliant_coverage`'s result, the people covered by any / by a compliant one).

Checklist fields are read from the facility frame, under their canonical names or any of
the Chinese / English headers in :data:`FIELD_ALIASES`; a field that is absent, or a cell
that is empty, is *unknown* and reported as such, never as met.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import FileNotFound, ValidationError

log = logging.getLogger(__name__)

DEFAULT_STANDARDS_PATH = Path(__file__).with_name("data") / "standards.toml"
#: The environment variable the app and the command line read (never the library).
STANDARDS_ENV = "SERVICEMAP_STANDARDS"

STATUSES = ("compliant", "not_compliant", "unknown", "no_standard")
MET, MISSING, UNKNOWN = 1, 0, -1

#: Checklist fields a facility layer may carry, with the headers each is read from
#: (compared case- and space-insensitively). The facility loader accepts the same.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "area_m2": ("area_m2", "area", "floor_area_m2", "面积", "面积_m2", "面积(㎡)", "面积（㎡）",
                "面积(平方米)", "面积（平方米）", "使用面积", "建筑面积"),
    "volumes": ("volumes", "books", "藏书", "藏书量", "藏书(册)", "藏书（册）", "图书", "图书数量",
                "图书册数"),
    "staff": ("staff", "staffing", "staff_count", "管理人员", "工作人员", "专职人员", "人员"),
    "tables_chairs": ("tables_chairs", "tables", "桌椅", "休息桌椅"),
    "first_aid_kit": ("first_aid_kit", "first_aid", "急救箱", "药箱", "医药箱", "急救药箱"),
    "on_map": ("on_map", "map_listed", "地图标注", "上图", "地图可查", "地图上线"),
    "hot_water": ("hot_water", "热水", "热水器"),
    "sink_soap": ("sink_soap", "sink", "洗手池", "洗手台", "洗手池和洗手液"),
    "changing_table": ("changing_table", "护理台", "尿布台", "婴儿护理台"),
    "socket": ("socket", "power_socket", "电源插座", "插座"),
    "lockable_door": ("lockable_door", "door_lock", "门锁", "可上锁", "私密门锁"),
    "seating": ("seating", "seats", "座椅", "哺乳椅", "沙发"),
    "plaque": ("plaque", "牌匾", "挂牌", "统一标识"),
    "shelves": ("shelves", "bookshelves", "书架", "书柜"),
    "pc": ("pc", "computer", "computers", "电脑", "计算机"),
    "digital_platform": ("digital_platform", "digital", "数字平台", "数字阅读", "电子书屋",
                         "数字职工书屋"),
    "parking": ("parking", "停车", "停车位", "免费停车"),
    "food_heating": ("food_heating", "热饭", "免费热饭"),
    "shower": ("shower", "淋浴", "洗澡", "免费洗澡"),
    "laundry": ("laundry", "洗衣", "洗衣机", "免费洗衣"),
}  # fmt: skip
#: Numeric fields (the others are yes/no flags).
NUMERIC_FIELDS: tuple[str, ...] = ("area_m2", "volumes", "staff")
_ID_ALIASES = ("id", "编号", "序号")

_YES = {"1", "true", "t", "yes", "y", "是", "有", "√", "✓", "✔", "已配备", "配备"}
_NO = {"0", "false", "f", "no", "n", "否", "无", "没有", "×", "✗", "未配备"}
_NUMBER = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*(?:m2|m²|㎡|平方米|平米|册|本|人|名)?\s*$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------- the data
@dataclass(frozen=True)
class Requirement:
    """One checklist item of a facility type (a table ``[type.items.<key>]``)."""

    key: str
    label_zh: str
    label_en: str
    required: bool
    source: str
    amenities: tuple[str, ...] = ()
    column: str | None = None
    min: float | None = None


@dataclass(frozen=True)
class StarLevel:
    """``stars`` for a facility with every required item and this share of optional ones."""

    stars: int
    optional_share: float


@dataclass(frozen=True)
class Standard:
    """The standard of one facility type: its items and its star scoring."""

    facility_type: str
    items: tuple[Requirement, ...]
    stars: tuple[StarLevel, ...]
    stars_source: str

    @property
    def required(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.items if r.required)

    @property
    def optional(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.items if not r.required)

    @property
    def min_area_m2(self) -> float | None:
        """The required minimum floor area, m² (None when the standard sets none)."""
        return next(
            (r.min for r in self.required if r.column == "area_m2" and r.min is not None), None
        )

    def stars_for(self, optional_share: float) -> int:
        """The star level of a facility meeting every required item."""
        best = 0
        for lvl in self.stars:
            if optional_share + 1e-12 >= lvl.optional_share:
                best = max(best, lvl.stars)
        return best


def _parse_stars(where: str, table: Any, fallback: tuple[tuple[StarLevel, ...], str] | None):
    if table is None:
        if fallback is None:
            raise ValidationError(f"{where}: no [stars] table; add levels = [...] and a source")
        return fallback
    if not isinstance(table, dict) or not isinstance(table.get("levels"), list):
        raise ValidationError(f"{where}: stars needs levels = [{{stars = 1, ...}}], got {table!r}")
    src = table.get("source")
    if not isinstance(src, str) or not src.strip():
        raise ValidationError(f"{where}: stars has no source; say where the scoring comes from")
    levels = []
    for lvl in table["levels"]:
        ok = isinstance(lvl, dict) and isinstance(lvl.get("stars"), int)
        share = lvl.get("optional_share") if ok else None
        if not ok or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ValidationError(
                f"{where}: star level {lvl!r} needs stars = <int> and optional_share in [0, 1]"
            )
        levels.append(StarLevel(int(lvl["stars"]), float(share)))
    return tuple(sorted(levels, key=lambda s: s.optional_share)), src.strip()


def _parse_item(where: str, key: str, t: Any) -> Requirement:
    at = f"{where}: item {key!r}"
    if not _KEY.match(key) or not isinstance(t, dict):
        raise ValidationError(f"{at}: items are tables named with lower-case letters, digits, _")
    for fld in ("label_zh", "label_en", "source"):
        if not isinstance(t.get(fld), str) or not t[fld].strip():
            raise ValidationError(f"{at}: {fld} is missing or empty; every item needs a {fld}")
    if not isinstance(t.get("required"), bool):
        raise ValidationError(f"{at}: required must be true or false, got {t.get('required')!r}")
    amen = t.get("amenities", [t["amenity"]] if "amenity" in t else [])
    if isinstance(amen, str) or not all(isinstance(a, str) for a in amen):
        raise ValidationError(f"{at}: amenities must be a list of amenity keys, got {amen!r}")
    column = t.get("column")
    if column is not None and (not isinstance(column, str) or not _KEY.match(column)):
        raise ValidationError(f"{at}: column must be a field name such as 'area_m2'")
    if not amen and column is None:
        raise ValidationError(f"{at}: say where it is read: amenity = '...' and/or column = '...'")
    lo = t.get("min")
    if lo is not None and (
        column is None or not isinstance(lo, int | float) or isinstance(lo, bool)
    ):
        raise ValidationError(f"{at}: min = {lo!r} needs a column and a number")
    unknown = set(t) - {"label_zh", "label_en", "source", "required", "amenity", "amenities",
                        "column", "min"}  # fmt: skip
    if unknown:
        raise ValidationError(f"{at}: unknown fields {sorted(unknown)!r}")
    return Requirement(
        key, t["label_zh"], t["label_en"], t["required"], t["source"].strip(),
        tuple(amen), column, None if lo is None else float(lo),
    )  # fmt: skip


def load_standards(path: str | os.PathLike[str] | None = None) -> dict[str, Standard]:
    """Read and check a standards file.

    Parameters
    ----------
    path : path-like, optional
        A TOML file like the shipped ``geo/data/standards.toml`` (the default); it
        replaces the shipped one, it is not merged with it. The library never reads
        ``$SERVICEMAP_STANDARDS``: the app and the command line pass it here.

    Returns
    -------
    dict of str to Standard
        Standards by facility-type key, in file order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValidationError
        If it is not TOML or an item is malformed (the message names the file, the type
        and the item); every item needs a ``source``.

    Examples
    --------
    >>> std = load_standards()
    >>> list(std)
    ['outdoor_station', 'mother_room', 'bookshelf', 'driver_home']
    >>> std["outdoor_station"].min_area_m2
    5.0
    """
    file = Path(path) if path is not None else DEFAULT_STANDARDS_PATH
    where = str(file)
    if not file.is_file():
        raise FileNotFound(f"standards file {where!r} does not exist")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{where}: not valid UTF-8 TOML: {exc}") from exc
    default_stars = _parse_stars(where, data.pop("stars", None), None) if "stars" in data else None
    out = {}
    for key, table in data.items():
        if not _KEY.match(key) or not isinstance(table, dict):
            raise ValidationError(f"{where}: {key!r} is not a facility-type table like [bookshelf]")
        items = table.get("items")
        if not isinstance(items, dict) or not items:
            raise ValidationError(f"{where}: type {key!r} has no items; add [{key}.items.<item>]")
        levels, src = _parse_stars(f"{where}: type {key!r}", table.get("stars"), default_stars)
        parsed = tuple(_parse_item(f"{where}: type {key!r}", k, t) for k, t in items.items())
        out[key] = Standard(key, parsed, levels, src)
    log.debug("loaded standards for %d types from %s", len(out), where)
    return out


def _resolve(standards) -> Mapping[str, Standard]:
    if standards is None:
        return load_standards()
    if isinstance(standards, str | os.PathLike):
        return load_standards(standards)
    if isinstance(standards, Mapping):
        return standards
    raise TypeError(f"standards must be a path or load_standards()'s dict, got {standards!r}")


# --------------------------------------------------------------------------- fields
def _norm(header: Any) -> str:
    return re.sub(r"\s+", "", str(header)).casefold()


def _field_columns(columns, *, fields=None) -> dict[str, Any]:
    """Map each checklist field to the frame column holding it (canonical name first)."""
    lookup: dict[str, str] = {}
    for fld, names in FIELD_ALIASES.items():
        for alias in names:
            lookup.setdefault(_norm(alias), fld)
    for fld in fields or ():
        lookup.setdefault(_norm(fld), fld)
    found: dict[str, Any] = {}
    for col in columns:
        hit = lookup.get(_norm(col))
        if hit is not None and (hit not in found or _norm(col) == hit):
            found[hit] = col
    return found


def _flag(value: Any) -> float:
    """1.0 yes, 0.0 no, NaN unknown (empty or unreadable)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.number):
        return float(value != 0)
    text = str(value).strip().casefold()
    if text == "":
        return math.nan
    if text in _YES:
        return 1.0
    if text in _NO:
        return 0.0
    m = _NUMBER.match(text)
    if m:
        return float(float(m.group(1).replace(",", "")) != 0)
    raise ValueError(text)


def _number(value: Any) -> float:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, bool | np.bool_):
        raise ValueError(value)
    if isinstance(value, int | float | np.number):
        x = float(value)
    else:
        text = str(value).strip()
        if text == "":
            return math.nan
        m = _NUMBER.match(text.casefold())
        if not m:
            raise ValueError(text)
        x = float(m.group(1).replace(",", ""))
    if not math.isfinite(x) or x < 0:
        raise ValueError(value)
    return x


def _read_field(frame: pd.DataFrame, col: Any, fld: str, numeric: bool) -> np.ndarray:
    """The field as floats (NaN = unknown); unreadable cells warn and stay unknown."""
    parse = _number if numeric else _flag
    out = np.full(len(frame), np.nan)
    bad = []
    for i, v in enumerate(frame[col].tolist()):
        try:
            out[i] = parse(v)
        except ValueError:
            bad.append(f"{v!r}")
    if bad:
        kind = "a number (e.g. 12)" if numeric else "yes/no (是/否, 有/无, 1/0)"
        warnings.warn(
            f"column {str(col)!r} ({fld}): {len(bad)} value(s) not read as {kind}, counted "
            f"as unknown: {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}",
            UserWarning,
            stacklevel=3,
        )
    return out


def _merge_equipment(facilities: gpd.GeoDataFrame, equipment: pd.DataFrame) -> pd.DataFrame:
    """The facility rows with the equipment table's fields (matched on id) alongside."""
    if not isinstance(equipment, pd.DataFrame):
        raise TypeError(f"equipment must be a DataFrame, got {type(equipment).__name__}")
    id_col = next((c for c in equipment.columns if _norm(c) in _ID_ALIASES), None)
    if id_col is None:
        raise ValidationError(
            f"equipment has no id column (one of {_ID_ALIASES!r}); columns: "
            f"{[str(c) for c in equipment.columns]!r}"
        )
    ids = equipment[id_col].astype(str).str.strip()
    if ids.duplicated().any():
        raise ValidationError(
            f"equipment: id {ids[ids.duplicated()].iloc[0]!r} appears more than once"
        )
    cols = _field_columns([c for c in equipment.columns if c != id_col])
    table = pd.DataFrame({fld: equipment[c].to_numpy() for fld, c in cols.items()}, index=ids)
    fac = pd.DataFrame(index=facilities.index)
    keys = facilities["id"].astype(str)
    for fld in table.columns:
        fac[fld] = keys.map(table[fld]).to_numpy()
    return fac


def load_equipment(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an equipment inventory (CSV or Excel): an id column and checklist fields.

    Every cell is read as text (UTF-8, UTF-8 with BOM, or GB18030 for CSV), so that
    :func:`compliance` parses 有/无, 是/否, "12 ㎡" and empty cells itself. Pass the
    result as ``compliance(..., equipment=...)``.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFound(f"equipment file {str(file)!r} does not exist")
    if file.suffix.lower() in (".xlsx", ".xls"):
        return pd.read_excel(file, dtype=str, engine="calamine")
    if file.suffix.lower() != ".csv":
        raise ValidationError(f"equipment file {str(file)!r}: use a .csv or .xlsx file")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(file, dtype=str, keep_default_na=False, encoding=enc)
        except UnicodeDecodeError:
            continue
    raise ValidationError(f"equipment file {str(file)!r}: not UTF-8 or GB18030 text")


# --------------------------------------------------------------------------- compliance
def _amenity_sets(facilities: pd.DataFrame) -> list[set[str] | None]:
    if "amenities" not in facilities.columns:
        return [None] * len(facilities)
    out: list[set[str] | None] = []
    for v in facilities["amenities"].tolist():
        if isinstance(v, str):
            v = [a for a in re.split(r"[;；,，、|]", v) if a.strip()]
        out.append({str(a).strip() for a in v} if isinstance(v, list | tuple | set) and v else None)
    return out


def _item_state(item: Requirement, amen: list[set[str] | None], values: dict) -> np.ndarray:
    """MET / MISSING / UNKNOWN for one item on every row."""
    n = len(amen)
    met = np.zeros(n, dtype=bool)
    known = np.zeros(n, dtype=bool)
    if item.amenities:
        has = np.array([s is not None for s in amen], dtype=bool)
        hit = np.array([s is not None and any(a in s for a in item.amenities) for s in amen])
        met |= hit
        known |= has
    if item.column is not None and item.column in values:
        v = values[item.column]
        ok = ~np.isnan(v)
        hit = ok & (v >= item.min if item.min is not None else v > 0)
        met |= hit
        known |= ok
    return np.where(met, MET, np.where(known, MISSING, UNKNOWN)).astype(np.int8)


def _evaluate(std: Mapping[str, Standard], types: np.ndarray, amen: list, values: dict):
    """Every facility's item states, counts, item lists, status and stars."""
    n = len(types)
    status = np.full(n, "no_standard", dtype=object)
    stars = pd.array([pd.NA] * n, dtype="Int64")
    counts = {k: np.zeros(n, dtype=np.int64) for k in ("rq", "rqm", "op", "opm")}
    met: list[list[str]] = [[] for _ in range(n)]
    missing: list[list[str]] = [[] for _ in range(n)]
    unknown: list[list[str]] = [[] for _ in range(n)]
    missing_req: list[list[str]] = [[] for _ in range(n)]
    item_cols: dict[str, np.ndarray] = {}
    for key, s in std.items():
        rows = np.flatnonzero(types == key)
        if not len(rows):
            continue
        sub_amen = [amen[i] for i in rows]
        sub_vals = {f: v[rows] for f, v in values.items()}
        req_missing = np.zeros(len(rows), dtype=bool)
        req_unknown = np.zeros(len(rows), dtype=bool)
        for item in s.items:
            state = _item_state(item, sub_amen, sub_vals)
            item_col = item_cols.setdefault(f"item_{item.key}", np.full(n, -2, dtype=np.int8))
            item_col[rows] = state
            pre = "rq" if item.required else "op"
            counts[pre][rows] += 1
            counts[pre + "m"][rows] += state == MET
            if item.required:
                req_missing |= state == MISSING
                req_unknown |= state == UNKNOWN
            for j, i in enumerate(rows):
                (met, missing, unknown)[(MET, MISSING, UNKNOWN).index(state[j])][i].append(item.key)
                if item.required and state[j] == MISSING:
                    missing_req[i].append(item.key)
        status[rows] = np.where(
            req_missing, "not_compliant", np.where(req_unknown, "unknown", "compliant")
        )
        n_opt = max(len(s.optional), 1)
        for j, i in enumerate(rows):
            if req_missing[j]:
                stars[i] = 0
            elif not req_unknown[j]:
                stars[i] = s.stars_for(counts["opm"][i] / n_opt if s.optional else 1.0)
    return {
        "status": status,
        "stars": stars,
        "counts": counts,
        "lists": (met, missing, unknown, missing_req),
        "item_cols": item_cols,
    }


def compliance(
    facilities: gpd.GeoDataFrame,
    *,
    standards: Mapping[str, Standard] | str | os.PathLike[str] | None = None,
    equipment: pd.DataFrame | None = None,
    facility_type: str | None = None,
) -> gpd.GeoDataFrame:
    """Check every facility against its type's standard.

    Parameters
    ----------
    facilities : GeoDataFrame
        Facilities with ``id`` and ``type`` (and ``amenities`` and any checklist fields of
        :data:`FIELD_ALIASES`, under their names or Chinese / English headers).
    standards : dict or path, optional
        :func:`load_standards`'s result or a file; default the shipped standards.
    equipment : DataFrame, optional
        A separate equipment inventory (an ``id``/``编号`` column and checklist fields),
        matched on id; its fields replace the facility frame's fields of the same name.
    facility_type : str, optional
        Keep only facilities of this type.

    Returns
    -------
    GeoDataFrame
        On the input's index: ``id``, ``type``, ``name``, ``status`` (compliant,
        not_compliant, unknown: no required item missing but some not recorded,
        no_standard), ``compliant`` (bool), ``stars`` (Int64; 0 when a required item is
        missing, NA when unknown), ``required_met`` / ``n_required``, ``optional_met`` /
        ``n_optional``, the item keys ``met``, ``missing``, ``unknown`` and
        ``missing_required`` (lists), one column ``item_<key>`` per item (1 met, 0
        missing, -1 unknown), and the geometry.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> fac = gpd.GeoDataFrame({"id": ["a"], "type": ["driver_home"],
    ...     "amenities": [["water", "microwave", "rest"]], "parking": ["有"],
    ...     "淋浴": ["是"]}, geometry=[Point(121.8, 29.9)], crs=4326)
    >>> row = compliance(fac).iloc[0]
    >>> row["status"], row["missing"], row["unknown"]
    ('unknown', ['toilet'], ['laundry', 'staffed'])
    """
    if not isinstance(facilities, gpd.GeoDataFrame):
        raise TypeError(f"facilities must be a GeoDataFrame, got {type(facilities).__name__}")
    for col in ("id", "type"):
        if col not in facilities.columns:
            raise ValidationError(
                f"facilities has no {col!r} column; load it with load_facilities()"
            )
    std = _resolve(standards)
    fac = facilities
    if facility_type is not None:
        if facility_type not in std:
            raise ValidationError(
                f"facility_type={facility_type!r} has no standard; known: {list(std)!r}"
            )
        fac = fac[fac["type"].astype(str) == facility_type]
    extra = _merge_equipment(fac, equipment) if equipment is not None else None
    wanted = {r.column for s in std.values() for r in s.items if r.column}
    cols = _field_columns(fac.columns, fields=wanted)
    values = {
        fld: _read_field(fac, col, fld, fld in NUMERIC_FIELDS)
        for fld, col in cols.items()
        if fld in wanted
    }
    if extra is not None:
        for fld in extra.columns:
            if fld in wanted:
                values[fld] = _read_field(extra, fld, fld, fld in NUMERIC_FIELDS)
    amen = _amenity_sets(fac)
    types = fac["type"].astype(str).to_numpy()
    ev = _evaluate(std, types, amen, values)
    status, stars, counts, item_cols = ev["status"], ev["stars"], ev["counts"], ev["item_cols"]
    met, missing, unknown, missing_req = ev["lists"]
    out = gpd.GeoDataFrame(
        {
            "id": fac["id"].astype(str).to_numpy(),
            "type": types,
            "name": fac["name"].astype(str).to_numpy() if "name" in fac.columns else "",
            "status": pd.Categorical(status, categories=list(STATUSES)),
            "compliant": status == "compliant",
            "stars": stars,
            "required_met": counts["rqm"],
            "n_required": counts["rq"],
            "optional_met": counts["opm"],
            "n_optional": counts["op"],
            "met": pd.Series(met, dtype=object).to_numpy(),
            "missing": pd.Series(missing, dtype=object).to_numpy(),
            "unknown": pd.Series(unknown, dtype=object).to_numpy(),
            "missing_required": pd.Series(missing_req, dtype=object).to_numpy(),
            **{
                k: pd.array(np.where(v == -2, pd.NA, v), dtype="Int8") for k, v in item_cols.items()
            },
        },
        geometry=fac.geometry.to_numpy(),
        crs=fac.crs,
        index=fac.index,
    )
    out.attrs = {
        "fields_found": sorted(values),
        "fields_absent": sorted(wanted - set(values)),
        "facility_type": facility_type,
    }
    return out


# --------------------------------------------------------------------------- coverage
def compliant_coverage(
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    facility_type: str,
    standards: Mapping[str, Standard] | str | os.PathLike[str] | None = None,
    equipment: pd.DataFrame | None = None,
    **coverage_options: Any,
) -> gpd.GeoDataFrame:
    """Coverage by any facility of the type, beside coverage by compliant ones only.

    Both come from :func:`geo.coverage` (same options: ``threshold_m``, ``mode``,
    ``network``, ...), the second on the facilities whose status is ``compliant``;
    facilities whose compliance is unknown do not count as compliant.

    Returns
    -------
    GeoDataFrame
        :func:`geo.coverage`'s result (``nearest_id``, ``distance_m``, ``covered``) plus
        ``nearest_compliant_id``, ``distance_compliant_m``, ``covered_compliant`` and
        ``covered_noncompliant_only`` (covered, but by no compliant facility: the workers
        whose only nearby station lacks an item). ``attrs`` adds ``n_compliant``.
    """
    from geo.coverage import coverage

    comp = compliance(
        facilities, standards=standards, equipment=equipment, facility_type=facility_type
    )
    ok_ids = set(comp.loc[comp["compliant"], "id"])
    fac_ok = facilities[facilities["id"].astype(str).isin(ok_ids)]
    anyc = coverage(facilities, demand, facility_type=facility_type, **coverage_options)
    good = coverage(fac_ok, demand, facility_type=facility_type, **coverage_options)
    out = anyc.copy()
    out["nearest_compliant_id"] = good["nearest_id"].to_numpy()
    out["distance_compliant_m"] = good["distance_m"].to_numpy()
    out["covered_compliant"] = good["covered"].to_numpy(dtype=bool)
    out["covered_noncompliant_only"] = out["covered"].to_numpy(dtype=bool) & ~out[
        "covered_compliant"
    ].to_numpy(dtype=bool)
    out.attrs = {**anyc.attrs, "n_compliant": len(fac_ok)}
    return out


def compliance_by_area(
    result: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame,
    *,
    coverage: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Per area: how many facilities, how many compliant, and (optionally) who is covered.

    Parameters
    ----------
    result : GeoDataFrame
        :func:`compliance`'s output.
    areas : GeoDataFrame
        Sub-districts / industrial communities (``id``, ``name``, ``level``).
    coverage : GeoDataFrame, optional
        :func:`compliant_coverage`'s output: adds ``people``, ``covered_share`` (by any
        facility) and ``compliant_covered_share`` (by a compliant one).

    Returns
    -------
    DataFrame
        ``area_id``, ``name``, ``level``, ``facilities``, ``compliant``,
        ``not_compliant``, ``unknown``, ``compliant_share`` (compliant / facilities, NaN
        without facilities), lowest share first.
    """
    from geo.redundancy import area_positions

    if "status" not in result.columns:
        raise ValueError("result has no 'status' column; pass the output of compliance()")
    a, pt_i, area_i = area_positions(result, areas)
    st = result["status"].astype(str).to_numpy()[pt_i]
    df = pd.DataFrame(
        {
            "area_id": a["id"].astype(str) if "id" in a.columns else a.index.astype(str),
            "name": a["name"] if "name" in a.columns else "",
            "level": a["level"] if "level" in a.columns else "",
        }
    )
    df["facilities"] = np.bincount(area_i, minlength=len(a))
    for s in ("compliant", "not_compliant", "unknown"):
        df[s] = np.bincount(area_i[st == s], minlength=len(a))
    with np.errstate(invalid="ignore", divide="ignore"):
        df["compliant_share"] = np.where(
            df["facilities"] > 0, df["compliant"] / df["facilities"], np.nan
        )
    if coverage is not None:
        for col in ("weight", "covered", "covered_compliant"):
            if col not in coverage.columns:
                raise ValueError(f"coverage lacks {col!r}; pass compliant_coverage()'s output")
        _, ci, cai = area_positions(coverage, a)
        w = coverage["weight"].to_numpy(dtype="float64")[ci]
        people = np.bincount(cai, weights=w, minlength=len(a))
        with np.errstate(invalid="ignore", divide="ignore"):
            for name, col in (("covered_share", "covered"), ("compliant_covered_share",
                                                               "covered_compliant")):  # fmt: skip
                c = coverage[col].to_numpy(dtype=bool)[ci]
                got = np.bincount(cai, weights=np.where(c, w, 0.0), minlength=len(a))
                df[name] = np.where(people > 0, got / people, np.nan)
        df.insert(len(df.columns) - 2, "people", people)
    return df.sort_values(["compliant_share", "facilities"], ascending=[True, False]).reset_index(
        drop=True
    )


def equipment_for_demo(name: str) -> pd.DataFrame | None:
    """The shipped demo's equipment inventory (``datasets/<name>/equipment.csv``), if any.

    The facility loader does not carry checklist fields yet, so the demo keeps them in a
    separate inventory; pass it as ``compliance(..., equipment=...)``.
    """
    from geo.demo import datasets_dir

    path = datasets_dir() / name / "equipment.csv"
    return load_equipment(path) if path.is_file() else None


def _clean_num(x: Any) -> Any:
    if x is None or x is pd.NA:
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x.item() if isinstance(x, np.generic) else x


def compliance_to_dict(
    result: gpd.GeoDataFrame,
    standards: Mapping[str, Standard] | str | os.PathLike[str] | None = None,
    *,
    facilities: bool = True,
) -> dict[str, Any]:
    """A JSON-ready summary of a :func:`compliance` result, per type and per facility.

    Per type: counts by status, ``compliant_share``, the star levels, and the items most
    often missing (with labels and how many facilities lack each one). Per facility (with
    ``facilities=True``): id, type, name, status, stars, the item lists and WGS84 lon/lat.
    """
    std = _resolve(standards)
    types: dict[str, Any] = {}
    for key in dict.fromkeys(result["type"].astype(str)):
        part = result[result["type"].astype(str) == key]
        counts = part["status"].astype(str).value_counts()
        miss: dict[str, int] = {}
        unk: dict[str, int] = {}
        for lst, acc in ((part["missing"], miss), (part["unknown"], unk)):
            for items in lst:
                for it in items:
                    acc[it] = acc.get(it, 0) + 1
        s = std.get(key)
        labels = {r.key: r for r in s.items} if s else {}

        def ranked(acc: dict[str, int], labels=labels) -> list[dict[str, Any]]:
            return [
                {
                    "item": k,
                    "label_zh": labels[k].label_zh if k in labels else k,
                    "label_en": labels[k].label_en if k in labels else k,
                    "required": bool(labels[k].required) if k in labels else None,
                    "facilities": n,
                }
                for k, n in sorted(acc.items(), key=lambda kv: (-kv[1], kv[0]))
            ]

        stars = part["stars"]
        types[key] = {
            "facilities": len(part),
            **{st: int(counts.get(st, 0)) for st in STATUSES},
            "compliant_share": round(float(part["compliant"].mean()), 4) if len(part) else None,
            "stars": {
                **{str(k): int(v) for k, v in stars.dropna().astype(int).value_counts().items()},
                "unknown": int(stars.isna().sum()),
            },
            "missing": ranked(miss),
            "unknown_items": ranked(unk),
        }
    out: dict[str, Any] = {"types": types}
    if facilities:
        pts = result.geometry
        if result.crs is not None and not pts.crs.equals("EPSG:4326"):
            pts = pts.to_crs(4326)
        out["facilities"] = [
            {
                "id": r.id,
                "type": r.type,
                "name": r.name,
                "status": str(r.status),
                "stars": _clean_num(r.stars),
                "missing_required": list(r.missing_required),
                "missing": list(r.missing),
                "unknown": list(r.unknown),
                "met": list(r.met),
                "lon": round(float(g.x), 7),
                "lat": round(float(g.y), 7),
            }
            for r, g in zip(result.itertuples(index=False), pts, strict=True)
        ]
    return out


__all__ = [
    "FIELD_ALIASES",
    "Requirement",
    "Standard",
    "StarLevel",
    "compliance",
    "compliance_by_area",
    "compliance_to_dict",
    "compliant_coverage",
    "equipment_for_demo",
    "load_equipment",
    "load_standards",
]
