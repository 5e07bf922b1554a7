"""Reading and checking input files: the one path every loader shares (private).

Facility, area and demand files arrive as CSV (UTF-8 or GBK/GB18030; comma, tab or
semicolon separated), Excel ``.xlsx`` or a vector file (GeoJSON, GeoPackage, zipped or
plain Shapefile, FlatGeobuf). :func:`read_file` turns any of them into :class:`Raw`
records: the cells as the user wrote them, one label per record (``"row 5"`` as a
spreadsheet counts, header = row 1; ``"feature 3"``; ``"row at index 'a'"`` for a frame
built in Python, see :func:`frame_records`) and, for vector files, the geometry in
EPSG:4326. Loaders collect every problem in one :class:`Problems`, which raises them
together in one :class:`~geo.errors.ValidationError` with one message format::

    stations.csv: 2 problems found, nothing was loaded:
      - row 2, field 'lon': value 'abc' is not a number; write decimal degrees ...
      - row 4 and row 7, field 'id': duplicate id 'S1'; ids must be unique
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import os
import re
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import CRSError, ValidationError

log = logging.getLogger(__name__)

TABULAR_SUFFIXES: tuple[str, ...] = (".csv", ".txt", ".xlsx", ".xlsm")
VECTOR_SUFFIXES: tuple[str, ...] = (".geojson", ".json", ".gpkg", ".zip", ".shp", ".fgb")
MAX_SHOWN = 50  # problems listed in a message; all of them are in the error's .problems

_PAREN = re.compile(r"\s*[（(][^）)]*[）)]\s*$")  # a unit or datum note: 经度（WGS84）
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_DEGREES = "write decimal degrees such as 121.85 (no letters, degree signs or N/E)"


# ---------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------


def is_blank(value: Any) -> bool:
    """Whether a cell is empty: None, NaN, NA/NaT or only whitespace."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def cell_text(value: Any) -> str:
    """A cell or attribute value as text ("" for blanks), numbers without a trailing .0."""
    if isinstance(value, str):
        return value.strip()
    if is_blank(value):
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
    return str(value)


def show(value: Any) -> str:
    """repr() of a value as the user typed it (no numpy wrappers, NaN and NA as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        value = None
    return repr(value)


def parse_number(value: Any) -> float:
    """A cell as a finite float, NaN when it is not one (blank, text, a boolean, inf).

    Surrounding spaces, thousands separators (``"1,234"``) and full-width digits are
    accepted.

    Examples
    --------
    >>> parse_number(" 1,250 "), parse_number("１２"), parse_number(7)
    (1250.0, 12.0, 7.0)
    >>> parse_number(True), parse_number("12 people"), parse_number("inf")
    (nan, nan, nan)
    """
    if isinstance(value, bool | np.bool_):
        return math.nan  # True/False is not a count of anything
    if isinstance(value, str):
        value = value.strip()
        if _THOUSANDS.match(value):
            value = value.replace(",", "")
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A column as numbers: ``(numbers, blank, bad)``, NaN where blank or bad.

    ``blank`` marks empty cells, ``bad`` cells that hold something that is not a finite
    number (see :func:`parse_number`).
    """
    dtype = values.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        blank = np.isnan(numbers)
    else:
        numbers = np.full(len(values), np.nan)
        if pd.api.types.infer_dtype(values, skipna=False) == "string":  # fast path for text
            parsed = pd.to_numeric(values, errors="coerce")
            numbers = parsed.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        retry = np.flatnonzero(np.isnan(numbers))  # blanks, and what to_numeric refuses
        cells = values.to_numpy(dtype=object)[retry]
        blank = np.zeros(len(values), dtype=bool)
        blank[retry] = [is_blank(v) for v in cells]
        numbers[retry] = [parse_number(v) for v in cells]
    bad = ~blank & ~np.isfinite(numbers)
    numbers[bad] = np.nan
    return numbers, blank, bad


# ---------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------


class Problems:
    """Every problem found in one input, raised together in one ValidationError.

    ``labels`` name the records (``"row 2"``, ``"feature 1"``); a problem is placed by
    record positions into them (None for the whole file) and a field. File-level
    problems come first in the message, then by record.

    Examples
    --------
    >>> problems = Problems("f.csv", ["row 2", "row 4"])
    >>> problems.value(1, "lon", "abc", "is not a number")
    >>> problems.add([0, 1], "id", "duplicate id 'a'; ids must be unique")
    >>> problems.add(None, None, "columns 'lon', '经度' all mean 'lon'; keep one")
    >>> problems.raise_if_any()
    Traceback (most recent call last):
    ...
    geo.errors.ValidationError: f.csv: 3 problems found, nothing was loaded:
      - columns 'lon', '经度' all mean 'lon'; keep one
      - row 2 and row 4, field 'id': duplicate id 'a'; ids must be unique
      - row 4, field 'lon': value 'abc' is not a number
    """

    def __init__(self, source: str, labels: Sequence[str] = ()) -> None:
        self.source = source
        self.labels = labels
        self._found: list[tuple[int, str]] = []

    def add(
        self,
        rows: int | np.integer | Iterable[int] | None,
        field: Any,
        text: str,
    ) -> None:
        """Record ``text`` about records ``rows`` (positions) and ``field`` (or fields)."""
        at = [] if rows is None else [int(rows)] if isinstance(rows, int | np.integer) else rows
        at = [int(r) for r in at]
        where = [" and ".join(self.labels[r] for r in at)] if at else []
        if field is not None:
            fields = field if isinstance(field, tuple) else (field,)
            where.append("field " + "/".join(repr(str(f)) for f in dict.fromkeys(fields)))
        self._found.append((min(at, default=-1), f"{', '.join(where)}: {text}" if where else text))

    def value(self, row: int | np.integer, field: Any, value: Any, what: str) -> None:
        """Record that the ``value`` of ``field`` in record ``row`` ``what`` (its fault)."""
        self.add(row, field, f"value {show(value)} {what}")

    def no_column(self, field: str, aliases: Sequence[str], columns: Iterable[Any], hint=""):
        """Record that no column holds ``field``."""
        found = [str(c) for c in columns]
        self.add(
            None,
            field,
            f"no {field} column; columns found: {found!r}; accepted names: "
            f"{', '.join(aliases)}{hint}",
        )

    @property
    def items(self) -> list[str]:
        """The problems so far, file-level ones first, then by record."""
        return [text for _, text in sorted(self._found, key=lambda found: found[0])]

    def raise_if_any(self) -> None:
        items = self.items
        if not items:
            return
        lines = "".join(f"\n  - {p}" for p in items[:MAX_SHOWN])
        if len(items) > MAX_SHOWN:
            lines += f"\n  ... and {len(items) - MAX_SHOWN} more (see the error's .problems)"
        noun = "problem" if len(items) == 1 else "problems"
        raise ValidationError(
            f"{self.source}: {len(items)} {noun} found, nothing was loaded:{lines}", items
        )


# ---------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------


def norm_header(name: Any) -> str:
    """A column header as matched against aliases.

    Examples
    --------
    >>> norm_header("\\ufeff Opening-Hours "), norm_header("经度（WGS84）")
    ('opening_hours', '经度')
    """
    text = _PAREN.sub("", str(name).replace("\ufeff", "").strip())
    return re.sub(r"[\s\-]+", "_", text).casefold()


def match_columns(
    columns: Iterable[Any], aliases: Mapping[str, Sequence[str]], problems: Problems
) -> dict[str, Any]:
    """Map each field to the column whose normalised header is one of its aliases.

    Two columns meaning one field is a problem (the first is mapped meanwhile).
    """
    lookup = {norm_header(alias): fld for fld, names in aliases.items() for alias in names}
    found: dict[str, list[Any]] = {}
    for col in columns:
        fld = lookup.get(norm_header(col))
        if fld is not None:
            found.setdefault(fld, []).append(col)
    for fld, cols in found.items():
        if len(cols) > 1:
            names = ", ".join(repr(str(c)) for c in cols)
            problems.add(None, None, f"columns {names} all mean {fld!r}; keep one")
    return {fld: cols[0] for fld, cols in found.items()}


# ---------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------


@dataclass
class Raw:
    """An input read into records: cells, how messages name each one, and geometry."""

    source: str  # the name messages use: the path as given, or e.g. "DataFrame"
    frame: pd.DataFrame  # the cells, one row per record, RangeIndex, the input's columns
    labels: list[str]  # "row 2" / "feature 1" / "row at index 'a'" per record
    numbers: list[int]  # 1-based number of the record: data row (blank lines counted),
    # feature, or position in the frame
    geometry: gpd.GeoSeries | None = None  # EPSG:4326, RangeIndex, still in the source datum

    def problems(self) -> Problems:
        return Problems(self.source, self.labels)


def check_path(path: str | os.PathLike[str], supported: Sequence[str]) -> tuple[Path, str]:
    """The file and its lower-case suffix; an unsupported suffix or no file is an error."""
    file = Path(path)
    ext = file.suffix.lower()
    if ext not in supported:
        hint = " (save old .xls workbooks as .xlsx)" if ext == ".xls" else ""
        raise ValidationError(
            f"{os.fspath(path)}: unsupported file type {ext or '(no extension)'!r}; "
            f"supported: {', '.join(supported)}{hint}"
        )
    if not file.exists():
        raise FileNotFoundError(f"{os.fspath(path)!r} does not exist")
    if file.is_dir():
        raise ValidationError(f"{os.fspath(path)}: is a directory, not a file")
    return file, ext


def read_file(
    path: str | os.PathLike[str],
    supported: Sequence[str],
    *,
    datum: str = "wgs84",
    empty_ok: bool = False,
) -> Raw:
    """Read a tabular or vector file into :class:`Raw` records.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValidationError
        If the file cannot be read, or (unless ``empty_ok``) holds no records.
    CRSError
        If a vector file has no CRS, or is projected while ``datum`` is not WGS84.
    """
    file, ext = check_path(path, supported)
    source = os.fspath(path)
    if ext in (".csv", ".txt"):
        raw = _read_csv(file, source)
    elif ext in TABULAR_SUFFIXES:
        raw = _read_excel(file, source)
    else:
        raw = _read_vector(file, ext, source, datum)
    if raw.frame.empty and not empty_ok:
        tabular = raw.geometry is None
        raise ValidationError(
            f"{source}: the file "
            f"{'has a header row but no data rows' if tabular else 'has no features'}"
        )
    return raw


def frame_records(frame: pd.DataFrame, source: str, datum: str = "wgs84") -> Raw:
    """A frame built in Python as records labelled ``"row at index <label>"``.

    A GeoDataFrame (which must carry a CRS) keeps every row; in a plain table, rows with
    nothing in them are skipped, as blank lines of a file are.
    """
    geometry = None
    keep = np.ones(len(frame), dtype=bool)
    if isinstance(frame, gpd.GeoDataFrame):
        geometry = to_4326(frame.geometry, source, datum)
        cells = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    else:
        cells = frame
        if len(frame.columns):
            keep = ~frame.map(is_blank).to_numpy(dtype=bool).all(axis=1)
    return Raw(
        source,
        cells[keep].reset_index(drop=True),
        [f"row at index {show(label)}" for label in frame.index[keep]],
        (np.flatnonzero(keep) + 1).tolist(),
        geometry,
    )


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


def _table(source: str, header: list[str], rows: list[list[Any]], at: list[int]) -> Raw:
    frame = pd.DataFrame(rows, columns=pd.Index(header, dtype=object), dtype=object)
    return Raw(source, frame, [f"row {r}" for r in at], [r - 1 for r in at])


def _read_csv(file: Path, source: str) -> Raw:
    text = _decode(source, file.read_bytes())
    first = (text.lstrip().splitlines() or [""])[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header_at = next((i for i, rec in enumerate(records) if any(c.strip() for c in rec)), None)
    if header_at is None:
        raise ValidationError(f"{source}: the file is empty; expected a header row and data rows")
    header = [c.strip() for c in records[header_at]]
    rows, at = [], []
    problems = Problems(source)
    width = len(header)
    for number, rec in enumerate(records[header_at + 1 :], start=header_at + 2):
        if not "".join(rec).strip():
            continue  # blank lines are skipped, and still counted
        if len(rec) != width:
            if "".join(rec[width:]).strip():
                problems.add(
                    None,
                    None,
                    f"row {number}: {len(rec)} cells but the header has {width} columns; "
                    "quote values that contain the separator",
                )
            rec = (rec + [""] * width)[:width]
        rows.append(rec)
        at.append(number)
    problems.raise_if_any()
    return _table(source, header, rows, at)


def _read_excel(file: Path, source: str) -> Raw:
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
    if not any(not is_blank(v) for row in values for v in row):
        raise ValidationError(
            f"{source}: sheet {sheet.title!r} is empty; expected a header row and data rows"
        )
    header = [cell_text(v) for v in values[0]]
    while header and not header[-1]:
        header.pop()
    rows, at = [], []
    for number, row in enumerate(values[1:], start=2):
        if all(is_blank(v) for v in row):
            continue
        cells = [cell_text(v) for v in row[: len(header)]]
        rows.append(cells + [""] * (len(header) - len(cells)))
        at.append(number)
    return _table(source, header, rows, at)


def to_4326(geoms: gpd.GeoSeries, source: str, datum: str) -> gpd.GeoSeries:
    """``geoms`` (with a CRS) in EPSG:4326 on a RangeIndex, reprojected if need be.

    The coordinates stay in ``datum``: a GCJ-02/BD-09 shift applies to longitude/latitude
    only, so a datum other than WGS84 on data in another CRS is refused.
    """
    crs = CRS.from_user_input(geoms.crs)
    if not crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        if datum != "wgs84":
            raise CRSError(
                f"{source}: the data is in {crs.to_string()!r}, but datum={datum!r} applies "
                "to longitude/latitude (EPSG:4326) only; save the data as EPSG:4326 or load "
                "it with datum='wgs84'"
            )
        log.info("%s: reprojecting from %s to EPSG:4326", source, crs.to_string())
        geoms = geoms.to_crs(4326)
    return gpd.GeoSeries(geoms.values, crs="EPSG:4326")


def _check_zip(file: Path, source: str) -> None:
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


def _read_vector(file: Path, ext: str, source: str, datum: str) -> Raw:
    import pyogrio

    if ext == ".zip":
        _check_zip(file, source)
    try:
        layers = pyogrio.list_layers(file)
        layer = layers[0][0] if len(layers) else None
        if len(layers) > 1:
            log.info("%s: %d layers, reading the first, %r", source, len(layers), layer)
        gdf = pyogrio.read_dataframe(file, layer=layer, datetime_as_string=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise ValidationError(f"{source}: cannot read the file ({exc})") from exc
    if gdf.crs is None:
        raise CRSError(
            f"{source}: the file has no CRS (a shapefile without its .prj?); servicemap "
            "will not guess. Add the .prj, or save the file with EPSG:4326"
        )
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).reset_index(drop=True)
    numbers = list(range(1, len(frame) + 1))
    return Raw(
        source,
        frame.astype(object),
        [f"feature {n}" for n in numbers],
        numbers,
        to_4326(gdf.geometry, source, datum),
    )


# ---------------------------------------------------------------------------------------
# Checks every loader makes
# ---------------------------------------------------------------------------------------


def check_bounds(bounds: Any) -> tuple[float, float, float, float] | None:
    """A ``bounds=`` argument as (min_lon, min_lat, max_lon, max_lat) floats, or None."""
    if bounds is None:
        return None
    must = f"bounds={bounds!r} must be (min_lon, min_lat, max_lon, max_lat) in WGS84 degrees"
    try:
        minx, miny, maxx, maxy = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(must) from None
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise ValueError(f"{must}, with min_lon < max_lon and min_lat < max_lat")
    return minx, miny, maxx, maxy


def parse_lonlat(
    raw: Raw, lon_col: Any, lat_col: Any, problems: Problems, noun: str
) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes from two columns, NaN (and a problem) where not numbers."""
    out = []
    for col in (lon_col, lat_col):
        values = raw.frame[col]
        numbers, blank, bad = parse_numbers(values)
        for i in np.flatnonzero(blank).tolist():
            problems.value(i, col, "", f"is blank; every {noun} needs a longitude and a latitude")
        for i in np.flatnonzero(bad).tolist():
            problems.value(i, col, values.iloc[i], f"is not a number; {_DEGREES}")
        out.append(numbers)
    return out[0], out[1]


def check_lonlat(
    lon: np.ndarray,
    lat: np.ndarray,
    fields: tuple[Any, Any],
    values: tuple[Sequence[Any], Sequence[Any]],
    problems: Problems,
) -> np.ndarray:
    """Mask of usable points; out-of-range ones are problems (swapped columns named)."""
    ok = np.isfinite(lon) & np.isfinite(lat)
    in_lat = (lat >= -90) & (lat <= 90)
    for i in np.flatnonzero(ok & ~(in_lat & (lon >= -180) & (lon <= 180))).tolist():
        swapped = bool(-90 <= lon[i] <= 90 and -180 <= lat[i] <= 180)
        hint = (
            "; longitude and latitude look swapped (columns swapped?): longitude is the "
            "east-west value (73-135 in China), latitude the north-south one (18-54)"
            if swapped
            else ""
        )
        if not in_lat[i]:
            problems.value(
                i, fields[1], values[1][i], "is out of range -90..90 for a latitude" + hint
            )
        else:
            problems.value(
                i, fields[0], values[0][i], "is out of range -180..180 for a longitude" + hint
            )
        ok[i] = False
    return ok


def check_ids(values: Iterable[Any], field: Any, problems: Problems) -> list[str]:
    """The ids of an id column as text; blank and repeated ids are problems."""
    ids = pd.Series([cell_text(v) for v in values], dtype=object)
    for i in np.flatnonzero(ids.eq("").to_numpy()).tolist():
        problems.value(
            i,
            field,
            "",
            "is blank; every row needs an id when the file has an id column "
            "(or delete the column to number the rows automatically)",
        )
    repeated = ids[ids.duplicated(keep=False) & ids.ne("")]
    for text, rows in repeated.groupby(repeated, sort=False).groups.items():
        problems.add(rows, field, f"duplicate id {text!r}; ids must be unique")
    return ids.tolist()
