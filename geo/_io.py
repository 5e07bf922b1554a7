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
import functools
import html
import io
import logging
import math
import os
import re
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.errors import CRSError, FileNotFound, ValidationError

log = logging.getLogger(__name__)

TABULAR_SUFFIXES: tuple[str, ...] = (".csv", ".txt", ".xlsx", ".xlsm")
VECTOR_SUFFIXES: tuple[str, ...] = (".geojson", ".json", ".gpkg", ".zip", ".shp", ".fgb")
MAX_SHOWN = 50  # problems listed in a message; all of them are in the error's .problems
# An archive (zipped shapefile, .xlsx) that unpacks to more than this, or one member that
# unpacks to more than ZIP_MAX_RATIO times its packed size (past 1 MB), is refused as a
# zip bomb before anything is unpacked.
ZIP_MAX_BYTES = 1 << 30
ZIP_MAX_RATIO = 500

_PAREN = re.compile(r"\s*[（(][^）)]*[）)]\s*$")  # a unit or datum note: 经度（WGS84）
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_DEGREES = "write decimal degrees such as 121.85 (no letters, degree signs or N/E)"


# ---------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------


def cells(column: pd.Series) -> list[Any]:
    """The cells of a column as a list, as iterating the Series gives them (an Arrow
    column's nulls as ``pd.NA``), without pandas' slow per-cell iteration of Arrow data
    (1.8 us a cell: 2.4 s for a 100,000-row, 13-column sheet)."""
    if isinstance(column.dtype, pd.ArrowDtype):
        arr = column.array._pa_array
        values = arr.to_pylist()
        if arr.null_count:
            na = column.dtype.na_value
            values = [na if v is None else v for v in values]
        return values
    return list(column)


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
    fast = _arrow_numbers(values)
    if fast is not None:
        return fast
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


def _arrow_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`parse_numbers` for a text column every cell of which is a plain number
    (pyarrow's cast, vectorised); None when any cell needs the careful path."""
    if not isinstance(values.dtype, pd.ArrowDtype):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_string(values.dtype.pyarrow_dtype):
        return None
    try:
        numbers = pc.cast(values.array._pa_array, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    numbers = np.array(numbers, dtype="float64")
    bad = ~np.isfinite(numbers)  # 'nan', 'inf' are text, not numbers of anything
    numbers[bad] = np.nan
    return numbers, np.zeros(len(numbers), dtype=bool), bad


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


class RowLabels(Sequence[str]):
    """``"row 5"`` / ``"feature 3"`` labels, made on demand (a million rows need no strings).

    Compares equal to the list of its labels.
    """

    def __init__(self, prefix: str, numbers: np.ndarray) -> None:
        self.prefix = prefix
        self.numbers = np.asarray(numbers, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [f"{self.prefix} {n}" for n in self.numbers[i].tolist()]
        return f"{self.prefix} {int(self.numbers[i])}"

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return f"RowLabels({self.prefix!r}, n={len(self)})"


@dataclass
class Raw:
    """An input read into records: cells, how messages name each one, and geometry."""

    source: str  # the name messages use: the path as given, or e.g. "DataFrame"
    frame: pd.DataFrame  # the cells, one row per record, RangeIndex, the input's columns
    labels: Sequence[str]  # "row 2" / "feature 1" / "row at index 'a'" per record
    numbers: (
        Sequence[int] | np.ndarray
    )  # 1-based number of the record: data row (blank lines counted),
    # feature, or position in the frame
    geometry: gpd.GeoSeries | None = None  # EPSG:4326, RangeIndex, still in the source datum
    datum_note: dict[str, str] = field(default_factory=dict)  # column -> datum its header names

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
        raise FileNotFound(f"{os.fspath(path)!r} does not exist")
    if file.is_dir():
        raise ValidationError(f"{os.fspath(path)}: is a directory, not a file")
    return file, ext


def read_file(
    path: str | os.PathLike[str],
    supported: Sequence[str],
    *,
    datum: str = "wgs84",
    empty_ok: bool = False,
    layer: str | None = None,
) -> Raw:
    """Read a tabular or vector file into :class:`Raw` records.

    ``layer`` names the layer of a multi-layer vector file (GeoPackage) or the sheet of a
    workbook; a file with several layers needs it.

    Raises
    ------
    geo.errors.FileNotFound
        If ``path`` does not exist.
    ValidationError
        If the file cannot be read, or (unless ``empty_ok``) holds no records.
    CRSError
        If a vector file has no CRS, or is projected while ``datum`` is not WGS84.
    """
    file, ext = check_path(path, supported)
    source = os.fspath(path)
    if ext in (".csv", ".txt"):
        raw = _read_csv(file, source, layer)
    elif ext == ".parquet":
        raw = _read_parquet(file, source, datum)
    elif ext in TABULAR_SUFFIXES:
        raw = _read_excel(file, source, layer)
    else:
        raw = _read_vector(file, ext, source, datum, layer)
    tabular = raw.geometry is None
    empty = raw.frame.empty if raw.geometry is None else not len(raw.geometry)  # no features
    if empty and not empty_ok:
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
    _check_header(source, [str(c) for c in cells.columns])
    return Raw(
        source,
        cells[keep].reset_index(drop=True),
        [f"row at index {show(label)}" for label in frame.index[keep]],
        (np.flatnonzero(keep) + 1).tolist(),
        geometry,
        datum_notes(cells.columns),
    )


# ---------------------------------------------------------------------------------------
# Headers: repeated names, title rows above the header, datum notes
# ---------------------------------------------------------------------------------------

_DATUM_WORDS: dict[str, str] = {
    "wgs84": "wgs84",
    "wgs_84": "wgs84",
    "gps": "wgs84",
    "cgcs2000": "wgs84",  # CGCS2000 and WGS84 agree to centimetres
    "gcj02": "gcj02",
    "gcj_02": "gcj02",
    "火星坐标": "gcj02",
    "高德": "gcj02",
    "bd09": "bd09",
    "bd_09": "bd09",
    "bd09ll": "bd09",
    "百度": "bd09",
}


def datum_notes(columns: Iterable[Any]) -> dict[str, str]:
    """Columns whose header names a datum in parentheses: ``经度（GCJ-02）`` -> ``gcj02``.

    Examples
    --------
    >>> datum_notes(["经度（GCJ-02）", "lat (WGS 84)", "人数（人）"])
    {'经度（GCJ-02）': 'gcj02', 'lat (WGS 84)': 'wgs84'}
    """
    out: dict[str, str] = {}
    for col in columns:
        m = _PAREN.search(str(col))
        if not m:
            continue
        note = re.sub(r"[\s\-]+", "_", m.group(0).strip().strip("（）()").strip()).casefold()
        note = note.replace("wgs_84", "wgs84")
        if note in _DATUM_WORDS:
            out[str(col)] = _DATUM_WORDS[note]
    return out


def _check_header(source: str, header: Sequence[str]) -> None:
    """Two columns with one name cannot be told apart: refuse them, naming both."""
    seen: dict[str, int] = {}
    problems = Problems(source)
    for i, name in enumerate(header):
        if not name:
            continue
        if name in seen:
            problems.add(
                None,
                None,
                f"columns {_col_letter(seen[name])} and {_col_letter(i)} are both named "
                f"{name!r}; rename or delete one",
            )
        else:
            seen[name] = i
    problems.raise_if_any()


def _col_letter(i: int) -> str:
    """A 0-based column position as a spreadsheet column letter (0 -> A, 26 -> AA)."""
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _find_header(records: Sequence[Sequence[Any]], source: str) -> int:
    """Index of the header among the first records: the first one with two or more
    non-blank cells, when every record above it holds at most one (a title)."""
    filled = [sum(not is_blank(c) for c in rec) for rec in records]
    first = next((i for i, n in enumerate(filled) if n), None)
    if first is None:
        return -1
    header = next((i for i, n in enumerate(filled) if n >= 2), first)
    if header != first:
        titles = [cell_text(c) for i in range(first, header) for c in records[i] if cell_text(c)]
        warnings.warn(
            f"{source}: {', '.join(map(repr, titles))} above the header looks like a title; "
            f"the header is read from row {header + 1}",
            UserWarning,
            stacklevel=4,
        )
    return header


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------

_HEAD_LINES = 20  # lines searched for the header (below title rows)
_HEAD_CHARS = 65_536  # of each of them (a long cell below the header is read by the parser)


def _to_utf8(source: str, data: bytes) -> bytes:
    """The file's bytes as UTF-8 without a BOM: UTF-8, UTF-16 (with a BOM) or GB18030."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{source}: a broken UTF-16 file ({exc})") from exc
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM says which it is
        data = data[3:]
        if _is_utf8(data):
            return data
    elif _is_utf8(data):
        gbk = _gbk_not_utf8(source, data)
        return data if gbk is None else gbk
    if b"\x00" not in data[:4096]:
        try:
            return data.decode("gb18030").encode("utf-8")
        except UnicodeDecodeError:
            pass
    raise ValidationError(
        f"{source}: cannot decode the file as UTF-8 or GBK/GB18030 (nor as UTF-16; is it a "
        "text file?); save it as 'CSV UTF-8' from Excel"
    )


def _chinese_share(text: str) -> float:
    """Of the non-ASCII characters of ``text``, the share that Chinese text uses (CJK
    ideographs and punctuation, full-width forms); 1.0 when there are none."""
    other = [c for c in text if ord(c) > 127]
    if not other:
        return 1.0
    cjk = sum(
        "\u3000" <= c <= "\u303f" or "\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\uffef"
        for c in other
    )
    return cjk / len(other)


def _gbk_not_utf8(source: str, data: bytes) -> bytes | None:
    """A GBK file whose bytes happen to be valid UTF-8 too (a short one often is: GBK
    ``站`` is the UTF-8 of Armenian ``վ``), as UTF-8; None when UTF-8 is the reading.

    Both readings are tried on the first 64 KiB: GB18030 is taken only when it reads as
    Chinese and UTF-8 does not (silently when UTF-8 gives no Chinese at all, else with a
    warning that names the choice).
    """
    if data[:65_536].isascii():
        return None
    sample = data[:65_536]
    as_utf8 = sample.decode("utf-8", errors="ignore")
    try:
        as_gbk = sample.decode("gb18030", errors="strict" if len(data) <= 65_536 else "ignore")
        whole = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    utf8_share, gbk_share = _chinese_share(as_utf8), _chinese_share(as_gbk)
    if gbk_share < 0.99 or gbk_share <= utf8_share:
        return None
    if utf8_share > 0:
        warnings.warn(
            f"{source}: the bytes read both as UTF-8 and as GBK/GB18030; read as GBK, "
            f"where they are Chinese text (as UTF-8 only {utf8_share:.0%} would be). Save "
            "the file as 'CSV UTF-8' to make it unambiguous",
            UserWarning,
            stacklevel=5,
        )
    return whole.encode("utf-8")


def _is_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8, checked by pyarrow without making a str."""
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64).tobytes())
    array = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        array.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _read_csv(file: Path, source: str, layer: str | None) -> Raw:
    data = file.read_bytes()
    if data.startswith(b"PK\x03\x04"):
        warnings.warn(
            f"{source}: the file is an Excel workbook (.xlsx) named .csv; reading it as a "
            "workbook (rename it to .xlsx)",
            UserWarning,
            stacklevel=4,
        )
        return _read_excel(file, source, layer)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ValidationError(
            f"{source}: the file is an old Excel workbook (.xls) named .csv; open it in "
            "Excel and save it as .xlsx or as 'CSV UTF-8'"
        )
    data = _to_utf8(source, data)
    if b"\r" in data:  # old Mac line ends: one line end, as the parsers below count them
        data = re.sub(rb"\r(?!\n)", b"\n", data)
    lines = [
        ln[:_HEAD_CHARS].replace(b"\r", b"").decode("utf-8", "replace")
        for ln in _head(data, 64).split(b"\n")[:64]
    ]
    lines = [ln for ln in lines[:_HEAD_LINES]]
    delimiter = max((",", "\t", ";"), key=lambda d: max((ln.count(d) for ln in lines), default=0))
    if _quoted_newlines(data):
        return _csv_python(data, source, delimiter)
    try:
        records = list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as exc:
        raise ValidationError(f"{source}: not a readable CSV file ({exc})") from exc
    header_at = _find_header(records, source)
    if header_at < 0:
        raise ValidationError(f"{source}: the file is empty; expected a header row and data rows")
    header = [c.strip() for c in records[header_at]]
    _check_header(source, header)
    fast = _csv_arrow(data, source, header, header_at, delimiter)
    return fast if fast is not None else _csv_python(data, source, delimiter)


def _line_starts(data: Any) -> np.ndarray:
    """Byte offset of the start of every line."""
    buf = np.frombuffer(data, dtype=np.uint8)
    return np.concatenate([[0], np.flatnonzero(buf == 10) + 1])


def _quoted_newlines(data: bytes) -> bool:
    """Whether a line break falls inside quotes (a cell spanning lines, or a stray quote)."""
    if b'"' not in data:
        return False
    buf = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(buf == 34)
    breaks = np.flatnonzero(buf == 10)
    return bool((np.searchsorted(quotes, breaks) % 2).any())


def _csv_arrow(
    data: bytes, source: str, header: list[str], header_at: int, delimiter: str
) -> Raw | None:
    """The fast path: pyarrow's CSV reader, every cell as text. None when it refuses the
    file (ragged rows), which the Python path then reports row by row."""
    skip = header_at + 1  # physical lines up to and including the header
    offset = 0
    for _ in range(skip):  # the few lines down to the header's end
        offset = data.find(b"\n", offset) + 1
        if offset == 0:
            offset = len(data)
            break
    return _arrow_block(data, skip + 1, source, header, delimiter, offset)


def _head(data: bytes, lines: int) -> bytes:
    """The first ``lines`` lines of ``data`` (without copying the rest)."""
    end = -1
    for _ in range(lines):
        end = data.find(b"\n", end + 1)
        if end < 0:
            return data
    return data[: end + 1]


def _arrow_block(
    data: bytes, first_line: int, source: str, header: list[str], delimiter: str, offset: int = 0
) -> Raw | None:
    """Records of a block of whole lines without a header, ``data[offset:]``;
    ``first_line`` is the file's line number of its first line. None when pyarrow refuses
    the block (ragged rows)."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    names = [f"c{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data).slice(offset),  # no copy of the text
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=False, ignore_empty_lines=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
            memory_pool=_arrow_pool(),
        )
    except pa.ArrowInvalid:
        return None
    nonempty = _nonempty_lines(data, offset)  # line numbers of the records
    if len(nonempty) != table.num_rows:
        return None
    blank = _blank_rows(table)
    if blank is not None:
        table = table.filter(pa.array(~blank))
    else:
        blank = np.zeros(table.num_rows, dtype=bool)
    numbers = nonempty[~blank] + first_line  # line numbers = rows as a spreadsheet counts
    frame = table.to_pandas(types_mapper=pd.ArrowDtype, self_destruct=True)
    frame.columns = pd.Index(header, dtype=object)
    del table
    release_arrow_memory()
    return Raw(source, frame, RowLabels("row", numbers), numbers - 1, None, datum_notes(header))


def _nonempty_lines(data: bytes, offset: int = 0) -> np.ndarray:
    """0-based numbers of the lines of ``data[offset:]`` that hold something (pyarrow's
    records). Text without empty lines (the usual case, found by two substring searches)
    needs no per-line work; otherwise every line is measured."""
    size = len(data) - offset
    # an empty line: one at the start, two line ends in a row, or a line of only "\r"
    if not (
        size <= 0
        or data[offset : offset + 1] in (b"\n", b"\r")
        or data.find(b"\n\n", offset) >= 0
        or data.find(b"\n\r", offset) >= 0
    ):
        lines = data.count(b"\n", offset) + (0 if data.endswith(b"\n") else 1)
        return np.arange(lines, dtype=np.int64)
    view = memoryview(data)[offset:]
    starts = _line_starts(view)
    ends = np.append(starts[1:] - 1, size)
    length = ends - starts
    buf = np.frombuffer(view, dtype=np.uint8)
    cr = (length == 1) & (buf[np.minimum(starts, max(len(buf) - 1, 0))] == 13)
    return np.flatnonzero((length > 0) & ~cr)


def _blank_rows(table: Any) -> np.ndarray | None:
    """Mask of the records whose every cell is blank (None when there are none): the
    first column is checked for all records, the others only where it is blank."""
    import pyarrow.compute as pc

    if not table.num_columns or not table.num_rows:
        return None
    first = pc.equal(pc.utf8_trim_whitespace(table.column(0)), "")
    if not pc.any(first).as_py():
        return None
    blank = first.to_numpy(zero_copy_only=False).copy()
    at = np.flatnonzero(blank)
    for col in table.columns[1:]:
        cells = col.take(at)
        blank[at] &= pc.equal(pc.utf8_trim_whitespace(cells), "").to_numpy(zero_copy_only=False)
    return blank if blank.any() else None


@functools.cache
def _arrow_pool() -> Any:
    """The memory pool the CSV reader parses into: jemalloc when pyarrow has it. Its
    parse buffers, freed, go back to the system: the peak of loading 1,000,000 rows is
    about 50 MB lower than with the default (mimalloc), which keeps them per thread.

    At once, not after jemalloc's decay time (pyarrow sets 1 s): a load faster than that
    made its points while the parse's freed pages were still held, 35 MB higher at the
    peak (``benchmarks/bench_loading.py``). The setting is jemalloc's, for the process;
    pyarrow's own default pool is mimalloc, so it concerns what asks for jemalloc only.
    """
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        return pa.default_memory_pool()
    pa.jemalloc_set_decay_ms(0)
    return pool


def release_arrow_memory() -> None:
    """Hand the memory pyarrow's allocators keep after a parse back to the system (it
    would otherwise count in the peak of what is made next, e.g. the points of a layer)."""
    import pyarrow as pa

    for pool in {id(p): p for p in (pa.default_memory_pool(), _arrow_pool())}.values():
        pool.release_unused()


def iter_csv(path: str | os.PathLike[str], *, chunk_bytes: int = 1 << 24) -> Iterable[Raw]:
    """A CSV file as :class:`Raw` blocks of whole lines, each parsed by pyarrow: memory
    bounded by the block, not the file. Row numbers are the file's line numbers.

    Files the block reader cannot take (a workbook named .csv, UTF-16, cells spanning
    lines, ragged rows) are read whole by :func:`read_file` and given as one block.
    """
    file, _ = check_path(path, (".csv", ".txt"))
    source = os.fspath(path)
    with file.open("rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"\xff\xfe", b"\xfe\xff")) or (
        b"\r" in head
    ):
        yield read_file(path, (".csv", ".txt"), empty_ok=True)
        return
    first = _to_utf8(source, head[: head.rfind(b"\n") + 1] or head)
    lines = [ln[:_HEAD_CHARS].decode("utf-8", "replace") for ln in first.split(b"\n")]
    lines = lines[:_HEAD_LINES]
    delimiter = max((",", "\t", ";"), key=lambda d: max((ln.count(d) for ln in lines), default=0))
    if _quoted_newlines(first):
        yield read_file(path, (".csv", ".txt"), empty_ok=True)
        return
    records = list(csv.reader(lines, delimiter=delimiter))
    header_at = _find_header(records, source)
    if header_at < 0:
        raise ValidationError(f"{source}: the file is empty; expected a header row and data rows")
    header = [c.strip() for c in records[header_at]]
    _check_header(source, header)
    line = 1  # the file's line number of the next block's first line
    bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    with file.open("rb") as fh:
        fh.seek(bom)
        rest = b""
        skip = header_at + 1
        while True:
            chunk = fh.read(max(chunk_bytes, 1 << 16) if skip else chunk_bytes)
            data = rest + chunk
            if not data:
                return
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            block, rest = data[:cut], data[cut:]
            if not block:
                continue
            n_lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
            if skip:  # the header (and title lines above it) are in the first block
                starts = _line_starts(block)
                block = (
                    block[int(starts[min(skip, len(starts) - 1)]) :] if skip < len(starts) else b""
                )
                line, n_lines, skip = line + skip, n_lines - skip, 0
            if not block.strip():
                line += n_lines
                continue
            block = _to_utf8(source, block)
            if _quoted_newlines(block):
                raise ValidationError(
                    f"{source}: from line {line}: cells span lines (or a '\"' is never "
                    "closed); read the file with load_demand, which checks them"
                )
            raw = _arrow_block(block, line, source, header, delimiter)
            if raw is None:
                raise ValidationError(
                    f"{source}: lines {line}-{line + n_lines - 1}: rows with more or fewer "
                    "cells than the header; read the file with load_demand, which names them"
                )
            yield raw
            line += n_lines


def _csv_python(data: bytes, source: str, delimiter: str) -> Raw:
    """The careful path, for cells spanning lines: the csv module, record by record,
    watching for a stray quote that swallows the rows after it."""
    text = data.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    records: list[list[str]] = []
    lines: list[int] = []  # the physical line each record ends on
    try:
        for rec in reader:
            records.append(rec)
            lines.append(reader.line_num)
    except csv.Error as exc:
        start = lines[-1] + 1 if lines else 1
        raise ValidationError(
            f"{source}: row {len(records) + 1} (line {start}): {exc}; a cell this long is "
            "usually a '\"' that is never closed, swallowing the rows after it: remove the "
            "stray quote or close it"
        ) from exc
    header_at = _find_header(records[:_HEAD_LINES], source)
    if header_at < 0:
        raise ValidationError(f"{source}: the file is empty; expected a header row and data rows")
    header = [c.strip() for c in records[header_at]]
    _check_header(source, header)
    rows, at = [], []
    problems = Problems(source)
    width = len(header)
    for number, rec in enumerate(records[header_at + 1 :], start=header_at + 2):
        if not "".join(rec).strip():
            continue  # blank lines are skipped, and still counted
        for j, cell in enumerate(rec):
            swallowed = [ln for ln in cell.split("\n")[1:] if ln.count(delimiter) >= width - 1]
            if swallowed and width > 1:
                name = header[j] if j < width else _col_letter(j)
                problems.add(
                    None,
                    None,
                    f"row {number}, field {name!r}: a '\"' opens a quoted cell that runs over "
                    f"{cell.count(chr(10))} line breaks and swallows {len(swallowed)} line(s) "
                    f"that look like rows (starting {swallowed[0][:40]!r}); remove the stray "
                    "quote or close it",
                )
                break
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


def _table(source: str, header: list[str], rows: list[list[Any]], at: list[int]) -> Raw:
    frame = pd.DataFrame(rows, columns=pd.Index(header, dtype=object), dtype=object)
    numbers = np.asarray(at, dtype=np.int64)
    return Raw(source, frame, RowLabels("row", numbers), numbers - 1, None, datum_notes(header))


# ---------------------------------------------------------------------------------------
# Excel
# ---------------------------------------------------------------------------------------


def _read_excel(file: Path, source: str, layer: str | None) -> Raw:
    """A workbook's sheet as records, read by python-calamine (cached formula values,
    dates as dates); merged cells and formulas with no saved value come from one pass
    over the sheet's XML (:func:`_scan_sheet`)."""
    from python_calamine import CalamineWorkbook

    if zipfile.is_zipfile(file):
        check_archive(file, source)  # a bomb or a path escaping it, before calamine unpacks
    try:
        with file.open("rb") as handle:  # by content: a workbook named .csv reads too
            book = CalamineWorkbook.from_filelike(handle)
        names = _worksheets(book)
    except Exception as exc:  # calamine raises CalamineError, ZipError, XmlError, ...
        raise ValidationError(
            f"{source}: not a readable .xlsx workbook ({exc}); open it in Excel and save "
            "it again as .xlsx"
        ) from exc
    if not names:
        raise ValidationError(f"{source}: the workbook has no worksheets")
    try:
        if layer is not None:
            if layer not in names:
                raise ValidationError(
                    f"{source}: no sheet {layer!r}; sheets: {', '.join(map(repr, names))}"
                )
            return _read_sheet(file, source, book, layer)
        first = _read_sheet(file, source, book, names[0], empty_ok=True)
        if first is not None and not first.frame.empty:
            return first
        others = [n for n in names[1:] if _sheet_has_rows(book, n)]
        if not others:
            return first or _read_sheet(file, source, book, names[0])
        if len(others) > 1:
            raise ValidationError(
                f"{source}: the first sheet {names[0]!r} has no data rows and sheets "
                f"{', '.join(map(repr, others))} have; pass layer='<sheet>' (CLI: --layer) "
                "to choose one"
            )
        warnings.warn(
            f"{source}: the first sheet {names[0]!r} has no data rows; reading sheet {others[0]!r}",
            UserWarning,
            stacklevel=4,
        )
        return _read_sheet(file, source, book, others[0])
    finally:
        book.close()


def sheet_names(path: str | os.PathLike[str]) -> list[str]:
    """The worksheet names of a workbook (python-calamine)."""
    from python_calamine import CalamineWorkbook

    with open(path, "rb") as handle:
        book = CalamineWorkbook.from_filelike(handle)
    try:
        return _worksheets(book)
    finally:
        book.close()


def _worksheets(book: Any) -> list[str]:
    """The names of a calamine workbook's worksheets (not chart sheets), in order."""
    from python_calamine import SheetTypeEnum

    return [m.name for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]


def _sheet_rows(book: Any, name: str, source: str) -> list[list[Any]]:
    """Every row of a sheet from A1 (empty cells are ``""``)."""
    try:
        return book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception as exc:  # a damaged sheet
        raise ValidationError(f"{source}: sheet {name!r} cannot be read ({exc})") from exc


def _sheet_has_rows(book: Any, name: str) -> bool:
    count = 0
    for row in book.get_sheet_by_name(name).to_python(skip_empty_area=False):
        count += any(not is_blank(v) for v in row)
        if count >= 2:
            return True
    return False


def _read_sheet(file: Path, source: str, book: Any, name: str, empty_ok: bool = False) -> Any:
    """A sheet as records, built column by column (None for an empty sheet when
    ``empty_ok``)."""
    rows = _sheet_rows(book, name, source)
    head = rows[:_HEAD_LINES]
    if not any(not is_blank(v) for row in head for v in row):
        if empty_ok:
            return None
        raise ValidationError(
            f"{source}: sheet {name!r} is empty; expected a header row and data rows"
        )
    header_at = _find_header(head, source)
    formulas, merged = _scan_sheet(file, name)
    _check_merged(source, name, merged, header_at)
    header = [cell_text(v) for v in head[header_at]]
    while header and not header[-1]:
        header.pop()
    _check_header(source, header)
    _check_formulas(source, name, formulas, header)
    body = rows[header_at + 1 :]
    del rows
    width = len(header)
    columns = list(zip(*body, strict=True)) if body else []
    del body
    texts = [column_text(columns[j]) for j in range(width)]
    filled = np.zeros(len(columns[0]) if columns else 0, dtype=bool)
    for col in texts:
        filled |= np.fromiter(map(bool, col), dtype=bool, count=len(col))
    for extra in columns[width:]:  # cells right of the header: a row with one is kept
        filled |= np.fromiter((not is_blank(v) for v in extra), dtype=bool, count=len(extra))
    del columns
    at = np.flatnonzero(filled) + header_at + 2  # spreadsheet row numbers
    return _text_table(source, header, texts, filled, at)


def column_text(values: Sequence[Any]) -> Any:
    """:func:`cell_text` of every cell of a column (a list, or a numpy array of str), with
    fast paths for a column of text only or of floats only (what a sheet's columns nearly
    always are)."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return [v.strip() for v in values]
    if kinds == {float}:
        return _float_text(np.fromiter(values, dtype="float64", count=len(values)))
    return list(map(cell_text, values))


def _float_text(x: np.ndarray) -> np.ndarray:
    """:func:`cell_text` of floats, vectorised: whole numbers as integers, NaN blank, the
    rest as Python's ``repr`` (pyarrow's cast where it writes the same digits: plain
    decimals from 1e-4 to 1e9, checked against ``repr`` on millions of values)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = np.empty(len(x), dtype=object)
    size = np.abs(x)
    whole = (x == np.trunc(x)) & (size < 1e15)
    out[whole] = x[whole].astype(np.int64).astype(str).astype(object)
    nan = np.isnan(x)
    out[nan] = ""
    plain = ~whole & (size >= 1e-4) & (size < 1e9)
    out[plain] = pc.cast(pa.array(x[plain]), pa.string()).to_numpy(zero_copy_only=False)
    rest = ~(whole | nan | plain)
    out[rest] = [repr(v) for v in x[rest].tolist()]
    return out


def _text_table(
    source: str, header: list[str], columns: list[list[str]], keep: np.ndarray, at: np.ndarray
) -> Raw:
    """Records from columns of text (``keep``: the rows that are records), as pyarrow
    text like the CSV reader's, so that loaders take their vectorised paths."""
    import pyarrow as pa

    mask = pa.array(keep)
    frame = pd.DataFrame(
        {
            j: pd.Series(pa.array(col, pa.string()).filter(mask), dtype=pd.ArrowDtype(pa.string()))
            for j, col in enumerate(columns)
        },
        index=pd.RangeIndex(len(at)),
    )
    frame.columns = pd.Index(header, dtype=object)
    numbers = np.asarray(at, dtype=np.int64)
    return Raw(source, frame, RowLabels("row", numbers), numbers - 1, None, datum_notes(header))


def _check_merged(source: str, sheet: str, ranges: Sequence[Any], header_at: int) -> None:
    """Merged cells hide values: refuse them, except in title rows above the header."""

    def a1(rc: tuple[int, int]) -> str:
        return f"{_col_letter(rc[1])}{rc[0] + 1}"

    names = [(f"{a1(a)}:{a1(b)}", a[0]) for a, b in ranges if b[0] >= header_at]
    in_header = [n for n, top in names if top <= header_at]
    if in_header:
        raise ValidationError(
            f"{source}: sheet {sheet!r} has merged header cells ({', '.join(in_header)}); "
            "the header row must hold one column name per column: unmerge the cells"
        )
    if names:
        raise ValidationError(
            f"{source}: sheet {sheet!r} has merged cells ({', '.join(n for n, _ in names)}); "
            "unmerge them and fill the value into every row"
        )


_FORMULA_NO_VALUE = re.compile(
    rb'<c r="([A-Z]+)(\d+)"[^>]*?>\s*<f\b[^>]*?(?:/>|>[^<]*</f>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>'
)


_MERGE = re.compile(rb'<mergeCell ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def _col_number(letters: str) -> int:
    """A spreadsheet column letter as a 0-based position (A -> 0, AA -> 26)."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _scan_sheet(file: Path, sheet: str) -> tuple[list[tuple[int, str]], list[Any]]:
    """One streaming pass over a sheet's XML: formula cells with no saved value (row,
    column letter) and merged ranges (((row0, col0), (row1, col1)), 0-based)."""
    member = _sheet_member(file, sheet)
    if member is None:
        return [], []
    found: list[tuple[int, str]] = []
    merged: list[Any] = []
    with zipfile.ZipFile(file) as zf, zf.open(member) as fh:
        tail = b""
        while chunk := fh.read(1 << 22):
            block = tail + chunk
            if b"<f" in block:
                found += [(int(m[2]), m[1].decode()) for m in _FORMULA_NO_VALUE.finditer(block)]
            if b"<mergeCell " in block:
                for m in _MERGE.finditer(block):
                    c0, r0 = m[1].decode(), int(m[2])
                    c1, r1 = (m[3] or m[1]).decode(), int(m[4] or m[2])
                    merged.append(((r0 - 1, _col_number(c0)), (r1 - 1, _col_number(c1))))
            tail = block[-512:]
    return sorted(set(found)), sorted(set(merged))


def _check_formulas(
    source: str, sheet: str, found: Sequence[tuple[int, str]], header: list[str]
) -> None:
    """Formula cells with no saved value read as blank: refuse them, naming the cells."""
    if not found:
        return
    letters = {_col_letter(i): h for i, h in enumerate(header)}
    problems = Problems(source)
    for row, col in found[:MAX_SHOWN]:
        where = f"row {row}, field {letters[col]!r}" if col in letters else f"cell {col}{row}"
        problems.add(
            None,
            None,
            f"{where} (sheet {sheet!r}): a formula with no saved value (the workbook was "
            "written by a program and never calculated); open it in Excel or LibreOffice "
            "and save it, or paste the values",
        )
    problems.raise_if_any()


def _sheet_member(file: Path, sheet: str) -> str | None:
    """The zip member holding a sheet's XML, from the workbook's relationships."""
    try:
        with zipfile.ZipFile(file) as zf:
            book = zf.read("xl/workbook.xml").decode("utf-8")
            rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    except (KeyError, zipfile.BadZipFile, OSError):
        return None
    for m in re.finditer(r"<(?:\w+:)?sheet\b[^>]*>", book):
        tag = m.group(0)
        name = re.search(r'\bname="([^"]*)"', tag)
        rid = re.search(r'\br:id="([^"]*)"', tag)
        if name and rid and html.unescape(name.group(1)) == sheet:
            for rel in re.finditer(r"<Relationship\b[^>]*>", rels):
                if f'Id="{rid.group(1)}"' in rel.group(0):
                    target = re.search(r'Target="([^"]*)"', rel.group(0))
                    if target:
                        path = target.group(1).lstrip("/")
                        return path if path.startswith("xl/") else f"xl/{path}"
    return None


# ---------------------------------------------------------------------------------------
# Vector files
# ---------------------------------------------------------------------------------------


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


def check_archive(file: Path, source: str) -> None:
    """Refuse a zip archive that would unpack to too much (a zip bomb) or that holds a
    path escaping it (``../``, absolute: a zip slip), from its directory alone."""
    try:
        with zipfile.ZipFile(file) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValidationError(f"{source}: corrupt zip archive ({exc}); zip it again") from exc
    total = 0
    for m in members:
        name = m.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/") or re.match(r"^[A-Za-z]:", name):
            raise ValidationError(
                f"{source}: the archive holds a path escaping it ({m.filename!r}); "
                "zip the files again without folders"
            )
        total += m.file_size
        if m.file_size > 1 << 20 and m.file_size > ZIP_MAX_RATIO * max(m.compress_size, 1):
            raise ValidationError(
                f"{source}: member {m.filename!r} unpacks to {m.file_size:,} bytes from "
                f"{m.compress_size:,} (over {ZIP_MAX_RATIO} times): refused as a zip bomb"
            )
    if total > ZIP_MAX_BYTES:
        raise ValidationError(
            f"{source}: the archive unpacks to {total:,} bytes (limit {ZIP_MAX_BYTES:,}): "
            "refused as a zip bomb; split the data into smaller files"
        )


def _check_zip(file: Path, source: str) -> None:
    if not zipfile.is_zipfile(file):
        raise ValidationError(
            f"{source}: not a valid zip archive (corrupt or truncated); zip the "
            ".shp, .shx, .dbf and .prj files of the shapefile again"
        )
    check_archive(file, source)
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


#: .cpg labels of Chinese encodings, and the encoding that reads them: GB2312 data is
#: nearly always GBK (its superset) in practice, and GBK reads GB2312 exactly.
_CPG_GBK = {"gb2312": "GBK", "gbk": "GBK", "936": "GBK", "cp936": "GBK", "euc-cn": "GBK"}


def _shapefile_parts(file: Path, ext: str) -> tuple[bytes | None, str | None]:
    """The .dbf bytes and the .cpg text (None when absent) of a (zipped) shapefile."""
    if ext == ".zip":
        with zipfile.ZipFile(file) as zf:
            names = {n.lower(): n for n in zf.namelist()}
            shp = next(n for n in names if n.endswith(".shp"))
            dbf, cpg = names.get(shp[:-4] + ".dbf"), names.get(shp[:-4] + ".cpg")
            return (
                zf.read(dbf) if dbf else None,
                zf.read(cpg).decode("ascii", "replace") if cpg else None,
            )
    siblings = {p.name.lower(): p for p in file.parent.glob(file.stem + ".*")}
    dbf_p = siblings.get(f"{file.stem.lower()}.dbf")
    cpg_p = siblings.get(f"{file.stem.lower()}.cpg")
    return (
        dbf_p.read_bytes() if dbf_p else None,
        cpg_p.read_text("ascii", "replace") if cpg_p else None,
    )


def shapefile_encoding(file: Path, ext: str, source: str) -> str | None:
    """The encoding to read a shapefile's attributes with (None: let GDAL decide).

    A ``.cpg`` naming GB2312/936 is read as GBK; without a ``.cpg`` the text of the
    ``.dbf`` is tried as UTF-8, then GBK; text that is neither must be named.
    """
    dbf, cpg = _shapefile_parts(file, ext)
    if cpg is not None:
        label = cpg.strip().casefold()
        if label in _CPG_GBK:
            log.info("%s: .cpg says %r; reading the attributes as GBK", source, cpg.strip())
            return _CPG_GBK[label]
        return None
    if dbf is not None and len(dbf) > 32:
        header_len = int.from_bytes(dbf[8:10], "little")
        dbf = dbf[header_len:].rstrip(b"\x1a")  # the records: text and numbers as text
    if dbf is None or dbf.isascii():
        return None
    try:
        dbf.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        dbf.decode("gbk")
    except UnicodeDecodeError:
        raise ValidationError(
            f"{source}: the shapefile has no .cpg file and its text is neither UTF-8 nor "
            "GBK; add a .cpg file holding the name of its encoding (e.g. 'GB18030', "
            "'BIG5')"
        ) from None
    log.info("%s: no .cpg; the attribute text reads as GBK", source)
    return "GBK"


def _read_parquet(file: Path, source: str, datum: str) -> Raw:
    """GeoParquet (geometry with its CRS), or plain Parquet read like a table."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(file).metadata or {}
        if b"geo" in meta:
            gdf = gpd.read_parquet(file)
        else:
            table = pq.read_table(file)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise ValidationError(f"{source}: not a readable Parquet file ({exc})") from exc
    if b"geo" not in meta:
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
        _check_header(source, [str(c) for c in frame.columns])
        numbers = np.arange(1, len(frame) + 1)
        return Raw(source, frame, RowLabels("record", numbers), numbers, None)
    if gdf.crs is None:
        raise CRSError(f"{source}: the GeoParquet file has no CRS; servicemap will not guess")
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).reset_index(drop=True)
    numbers = np.arange(1, len(frame) + 1)
    return Raw(
        source, frame, RowLabels("feature", numbers), numbers, to_4326(gdf.geometry, source, datum)
    )


def _choose_layer(file: Path, source: str, layer: str | None) -> str | None:
    import pyogrio

    layers = pyogrio.list_layers(file)
    names = [str(n) for n, _ in layers]
    listing = ", ".join(f"{n!r} ({t or 'no geometry'})" for n, t in layers)
    if layer is not None:
        if layer not in names:
            raise ValidationError(f"{source}: no layer {layer!r}; layers: {listing}")
        return layer
    if len(names) > 1:
        raise ValidationError(
            f"{source}: the file holds {len(names)} layers: {listing}; pass layer='<name>' "
            "(CLI: --layer NAME) to choose the one to load"
        )
    return names[0] if names else None


def _read_vector(file: Path, ext: str, source: str, datum: str, layer: str | None) -> Raw:
    import pyogrio

    if ext == ".zip":
        _check_zip(file, source)
    encoding = shapefile_encoding(file, ext, source) if ext in (".shp", ".zip") else None
    try:
        chosen = _choose_layer(file, source, layer)
        gdf = pyogrio.read_dataframe(file, layer=chosen, encoding=encoding, datetime_as_string=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise ValidationError(f"{source}: cannot read the file ({exc})") from exc
    if gdf.crs is None:
        raise CRSError(
            f"{source}: the file has no CRS (a shapefile without its .prj?); servicemap "
            "will not guess. Add the .prj, or save the file with EPSG:4326"
        )
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).reset_index(drop=True)
    numbers = np.arange(1, len(frame) + 1)
    return Raw(
        source,
        frame.astype(object),
        RowLabels("feature", numbers),
        numbers,
        to_4326(gdf.geometry, source, datum),
        datum_notes(frame.columns),
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
        raise ValidationError(must) from None
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise ValidationError(f"{must}, with min_lon < max_lon and min_lat < max_lat")
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
    for i in np.flatnonzero(ok & (lon == 0) & (lat == 0)).tolist():
        problems.add(
            i,
            fields,
            "point (0, 0) is a blank coordinate exported as zero (it lies in the Gulf of "
            "Guinea); fill in the real longitude and latitude, or delete the row",
        )
        ok[i] = False
    return ok


def resolve_datum(raw: Raw, datum: str | None, fields: Sequence[Any], problems: Problems) -> str:
    """The datum to read coordinates in: ``datum=``, or the one the headers name.

    A header such as ``经度（GCJ-02）`` names the datum of its column. With ``datum=None``
    the header's datum is used (with a warning saying so); a ``datum=`` that disagrees
    with a header, or headers that disagree, are problems.
    """
    notes = {str(f): raw.datum_note[str(f)] for f in fields if str(f) in raw.datum_note}
    named = sorted(set(notes.values()))
    chosen = datum or "wgs84"
    if len(named) > 1:
        problems.add(
            None,
            tuple(notes),
            f"the headers name different datums ({', '.join(named)}); the longitude and "
            "latitude of a point are in one datum: fix the headers",
        )
    elif named and datum is None:
        chosen = named[0]
        if chosen != "wgs84":
            warnings.warn(
                f"{raw.source}: the header {next(iter(notes))!r} names the datum "
                f"{chosen!r}: the coordinates are read as {chosen} and converted to WGS84 "
                f"(pass datum={chosen!r} to say so and silence this warning)",
                UserWarning,
                stacklevel=3,
            )
    elif named and named[0] != datum:
        problems.add(
            None,
            tuple(notes),
            f"the header names the datum {named[0]!r} but datum={datum!r} was given; "
            "correct the header or the datum= argument",
        )
    return chosen


def warn_outside(
    lon: np.ndarray,
    lat: np.ndarray,
    boundary: Any,
    labels: Sequence[str],
    source: str,
    *,
    stacklevel: int = 3,
) -> None:
    """Warn, naming the rows, about points (WGS84) outside the district ``boundary``."""
    if boundary is None or not len(lon):
        return
    import shapely

    finite = np.isfinite(lon) & np.isfinite(lat)
    inside = np.ones(len(lon), dtype=bool)
    inside[finite] = shapely.contains_xy(
        boundary, lon[finite], lat[finite]
    ) | shapely.intersects_xy(boundary, lon[finite], lat[finite])
    out = np.flatnonzero(finite & ~inside)
    if not len(out):
        return
    shown = ", ".join(f"{labels[i]} ({lon[i]:.6f}, {lat[i]:.6f})" for i in out[:20].tolist())
    more = f" and {len(out) - 20} more" if len(out) > 20 else ""
    warnings.warn(
        f"{source}: {len(out)} point(s) outside the district boundary: {shown}{more}; "
        "check the coordinates and their datum (they are loaded as given)",
        UserWarning,
        stacklevel=stacklevel,
    )


def check_ids(values: Iterable[Any], field: Any, problems: Problems, *, arrow: bool = False) -> Any:
    """The ids of an id column as text; blank and repeated ids are problems.

    A numpy array of str; with ``arrow=True``, for a column read by the fast path, the
    pyarrow array of the trimmed ids (no Python string per row).
    """
    text = _arrow_text(values)
    if text is not None and _all_distinct(text):  # no repeats: vectorised
        import pyarrow.compute as pc

        for i in np.flatnonzero(pc.equal(text, "").to_numpy(zero_copy_only=False)).tolist():
            problems.value(i, field, "", _BLANK_ID)
        return text if arrow else text.to_numpy(zero_copy_only=False)
    if text is not None:  # a file read by the fast path: vectorised
        codes, uniques = pd.factorize(pd.Series(text, dtype=pd.ArrowDtype(text.type)))
        ids = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)
        repeated_mask = np.bincount(codes, minlength=len(uniques))[codes] > 1
    else:
        ids = pd.Series([cell_text(v) for v in values], dtype=object)
        repeated_mask = ids.duplicated(keep=False).to_numpy()
    for i in np.flatnonzero(ids.eq("").to_numpy()).tolist():
        problems.value(i, field, "", _BLANK_ID)
    if repeated_mask.any():
        repeated = ids[repeated_mask & ids.ne("").to_numpy()]
        for value, rows in repeated.groupby(repeated, sort=False).groups.items():
            problems.add(rows, field, f"duplicate id {value!r}; ids must be unique")
    if arrow and text is not None:
        return text
    return ids.to_numpy()


_BLANK_ID = (
    "is blank; every row needs an id when the file has an id column "
    "(or delete the column to number the rows automatically)"
)


def _all_distinct(text: Any) -> bool:
    """Whether the strings of a pyarrow array are all different: True when their 64-bit
    hashes are (distinct hashes are distinct strings); False when two hashes agree,
    whether the strings do or not (the caller then finds the repeats exactly)."""
    hashes = np.sort(text_hashes(text))
    return not bool((hashes[1:] == hashes[:-1]).any())


_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on uint64 (the bits of every input reach every
    output bit)."""
    h ^= h >> np.uint64(30)
    h *= _MIX[0]
    h ^= h >> np.uint64(27)
    h *= _MIX[1]
    h ^= h >> np.uint64(31)
    return h


def text_hashes(text: Any) -> np.ndarray:
    """A 64-bit hash of every string of a pyarrow string array (no nulls), vectorised:
    the length, then each 8-byte word of the UTF-8, mixed in by splitmix64. Equal strings
    have equal hashes (within one process), whatever array they are in."""
    import pyarrow as pa

    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    if pa.types.is_string(text.type):
        text = text.cast(pa.large_string())  # int64 offsets, one code path
    n = len(text)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset : text.offset + n + 1]
    start, length = offsets[:-1], np.diff(offsets)
    body = np.frombuffer(text.buffers()[2] or b"", dtype=np.uint8)
    padded = np.zeros(len(body) + 8, dtype=np.uint8)  # every 8-byte read stays inside
    padded[: len(body)] = body
    # every byte offset as the start of an (unaligned) little-endian 8-byte word
    words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    h = _mix(length.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    rows = np.flatnonzero(length > 0)
    w = 0
    while len(rows):  # the w-th 8-byte word of every string that has one
        left = np.minimum(length[rows] - w, 8).astype(np.uint64)
        keep = np.where(left >= 8, ~np.uint64(0), (np.uint64(1) << (left * np.uint64(8))) - 1)
        h[rows] = _mix(h[rows] ^ (words[start[rows] + w] & keep))
        w += 8
        rows = rows[length[rows] > w]
    return h


def _arrow_text(values: Any) -> Any:
    """A column of text read by the fast path, trimmed, as a pyarrow array (else None)."""
    if not isinstance(values, pd.Series) or not isinstance(values.dtype, pd.ArrowDtype):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_string(values.dtype.pyarrow_dtype):
        return None
    arr = values.array._pa_array
    return (
        pc.utf8_trim_whitespace(arr).combine_chunks()
        if arr.num_chunks
        else pa.array([], pa.string())
    )
