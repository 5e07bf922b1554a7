"""The store: layers with an append-only history, users and API tokens.

Each layer ``L`` is two tables. ``L`` holds the current features (a GeoPackage feature
table, or a PostGIS table, that QGIS opens as it is); ``L_history`` holds every version
of every feature ever stored, with the store version it appeared in (``valid_from``) and
the one that replaced or removed it (``valid_to``, NULL while current). History rows are
only ever inserted, and ``valid_to`` set once: triggers refuse anything else. Every write
is one transaction that adds one row to ``sm_changes`` (who, when, why, what): its number
is the store's version, which only grows.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

from geo._gc import gc_paused
from geo.errors import ConflictError, FileNotFound, ServicemapError, ValidationError
from geo.store import _auth
from geo.store._backend import Backend, GeoPackage, PostGIS, quote

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ROLES = ("viewer", "editor", "admin")
_RESERVED = {"fid", "geom", "valid_from", "valid_to"}
_META_DDL = [
    "CREATE TABLE IF NOT EXISTS sm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS sm_columns (layer TEXT NOT NULL, name TEXT NOT NULL,
        kind TEXT NOT NULL, dtype TEXT NOT NULL, position INTEGER NOT NULL,
        PRIMARY KEY (layer, name))""",
    """CREATE TABLE IF NOT EXISTS sm_changes (version {serial}, at TEXT NOT NULL,
        user_name TEXT NOT NULL, reason TEXT NOT NULL, layer TEXT NOT NULL,
        action TEXT NOT NULL, detail TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sm_users (name TEXT PRIMARY KEY, role TEXT NOT NULL,
        password_hash TEXT NOT NULL, created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sm_tokens (token_hash TEXT PRIMARY KEY,
        label TEXT NOT NULL, user_name TEXT NOT NULL, role TEXT NOT NULL,
        created_at TEXT NOT NULL, revoked_at TEXT)""",
]


@dataclass(frozen=True)
class ChangeSummary:
    """What one write did: the store version it made and the feature ids it touched."""

    version: int
    layer: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


@dataclass(frozen=True)
class Change:
    """One row of the change log."""

    version: int
    at: str
    user: str
    reason: str
    layer: str
    action: str
    detail: dict


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: str


@dataclass(frozen=True)
class Token:
    label: str
    user: str
    role: str
    created_at: str


@dataclass(frozen=True)
class _Column:
    name: str
    kind: str
    dtype: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _kind_of(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series.dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(series.dtype):
        return "int"
    if pd.api.types.is_float_dtype(series.dtype):
        return "real"
    if series.dtype == object and series.map(lambda v: isinstance(v, list | tuple)).any():
        return "list"
    return "text"


def _nullable(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    # a copy unless it is already a private object array (pandas may hand out a
    # read-only view of its own data)
    out = values.astype(object, copy=values.dtype != object or not values.flags.writeable)
    if mask.any():
        out[mask] = None
    return out


def _encode(series: pd.Series, col: _Column, layer: str) -> np.ndarray:
    """A column as database values (NULL for missing)."""
    mask = series.isna().to_numpy() if col.kind != "list" else series.map(_is_missing).to_numpy()
    try:
        if col.kind == "text":
            return _nullable(series.astype(object).to_numpy(), mask)
        if col.kind == "real":
            return _nullable(series.astype(float).to_numpy(), mask)
        if col.kind == "int":
            filled = series.astype(object).where(~mask, 0)
            return _nullable(filled.astype("int64").to_numpy(), mask)
        if col.kind == "bool":
            return _nullable(
                series.astype(object).where(~mask, False).astype(bool).to_numpy(), mask
            )
        out = np.empty(len(series), dtype=object)
        out[:] = [
            None if m else json.dumps(list(v), ensure_ascii=False)
            for v, m in zip(series, mask, strict=True)
        ]
        return out
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"layer {layer!r}, column {col.name!r}: the store holds it as {col.kind}, "
            f"and the new values do not convert ({exc}); rename the column or fix its values"
        ) from exc


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _decode(values: Sequence[Any] | np.ndarray, col: _Column) -> pd.Series:
    if col.kind == "list":
        return pd.Series([None if v is None else json.loads(v) for v in values], dtype=object)
    if col.kind == "real":
        return pd.Series(np.array(values, dtype=float))  # None -> NaN
    if col.kind == "int":
        s = pd.Series(list(values), dtype="Int64")
        return s.astype(col.dtype) if col.dtype != "Int64" and not s.isna().any() else s
    if col.kind == "bool":
        s = pd.Series([None if v is None else bool(v) for v in values], dtype="boolean")
        return s.astype(bool) if col.dtype == "bool" and not s.isna().any() else s
    dtype = "str" if col.dtype == "str" else object
    return pd.Series(np.asarray(values, dtype=object), dtype=dtype)


def _differing(
    current: Sequence[np.ndarray], encoded: Sequence[np.ndarray], geoms: np.ndarray
) -> np.ndarray:
    """Which new rows are to be written: absent from ``current`` or different there.

    ``current`` is ``[stored WKB, id, column 2, ...]`` (as :meth:`Store._rows` gives
    them), ``encoded`` the new rows' columns in database form (``encoded[0]`` the ids),
    ``geoms`` their geometries. Rows are matched by id through a hash index and compared
    column by column on whole arrays; geometries by their WKB bytes, and the few whose
    bytes differ again after decoding the stored ones (another writer's byte order).
    """
    ids = encoded[0]
    pos = pd.Index(current[1], dtype=object).get_indexer(ids)
    found = np.flatnonzero(pos >= 0)
    at = pos[found]
    same = np.ones(len(found), dtype=bool)
    for old, new in zip(current[2:], encoded[1:], strict=True):
        same &= _equal(np.asarray(old, dtype=object)[at], new[found])
    old_wkb = np.asarray(current[0], dtype=object)[at]
    new_wkb = shapely.to_wkb(geoms[found], byte_order=1, flavor="iso")
    geom_same = _equal(old_wkb, new_wkb)
    redo = np.flatnonzero(~geom_same)
    if len(redo):
        again = shapely.to_wkb(shapely.from_wkb(old_wkb[redo]), byte_order=1, flavor="iso")
        geom_same[redo] = _equal(again, new_wkb[redo])
    same &= geom_same
    out = np.ones(len(ids), dtype=bool)
    out[found[same]] = False
    return out


@dataclass
class _Plan:
    """A write decided (:meth:`Store._decide`): the frame's geometries and columns in
    database form, which rows to write, and the ids each way."""

    geoms: np.ndarray
    encoded: list[np.ndarray]
    keep: np.ndarray
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int


def _new_columns(layer: str, known: list[_Column], frame: gpd.GeoDataFrame) -> list[_Column]:
    """The columns writing ``frame`` adds to a layer that has ``known`` (all of them, id
    first, for a new layer); refused names are a ValueError or ValidationError."""
    if not layer.isidentifier() or layer.startswith(("sm_", "gpkg_")) or layer.isupper():
        raise ValueError(
            f"layer name {layer!r}: use lower-case letters, digits and _ "
            "(not starting with sm_ or gpkg_)"
        )
    names = {c.name for c in known}
    attrs = [c for c in frame.columns if c != frame.geometry.name]
    bad = [c for c in attrs if c in _RESERVED or not isinstance(c, str)]
    if bad:
        raise ValidationError(f"layer {layer!r}: column names {bad!r} are reserved; rename them")
    new = [_Column(c, _kind_of(frame[c]), str(frame[c].dtype)) for c in attrs if c not in names]
    if not known and "id" not in {c.name for c in new}:
        new.insert(0, _Column("id", "text", "str"))
    return new


def _equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise ``==`` of two object arrays (None equals None)."""
    if not len(a):
        return np.ones(0, dtype=bool)
    return np.asarray(a == b, dtype=bool)


def _jsonable(value: Any) -> Any:
    if isinstance(value, shapely.Geometry):
        return shapely.geometry.mapping(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


class Store:
    """One workspace's data: layers, their history, users and tokens.

    Open one with :func:`open_store`. Layers are GeoDataFrames in EPSG:4326 with a
    unique string ``id`` column; the store keeps their columns and dtypes, so what is
    written is what is read back.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # -- opening ------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"gpkg"`` or ``"postgis"``."""
        return self.backend.name

    @property
    def location(self) -> str:
        """The file path or the database URL (without password)."""
        return self.backend.location

    def __repr__(self) -> str:
        return f"<Store {self.kind} {self.location} version {self.version}>"

    def close(self) -> None:
        """Close every connection (a GeoPackage's WAL is checkpointed into the file)."""
        if isinstance(self.backend, GeoPackage):
            self.backend.checkpoint()
        self.backend.dispose()

    def after_fork(self) -> None:
        """Forget the parent's pooled connections in a forked child (they stay the
        parent's); new ones are opened on first use."""
        self.backend.engine.dispose(close=False)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _initialise(self) -> None:
        with self.backend.write() as conn:
            self.backend.create_meta(conn)
            for ddl in _META_DDL:
                conn.exec_driver_sql(ddl.format(serial=self.backend.serial_pk))
            self.backend.append_only(conn, "sm_changes", closable=False)
            self.backend.register_attributes(
                conn, "sm_changes", "servicemap change log: who, when, what, why"
            )
            conn.execute(
                sa.text(
                    "INSERT INTO sm_meta (key, value) SELECT 'schema_version', :v WHERE NOT "
                    "EXISTS (SELECT 1 FROM sm_meta WHERE key = 'schema_version')"
                ),
                {"v": str(SCHEMA_VERSION)},
            )

    def _check_schema(self) -> None:
        with self.backend.engine.connect() as conn:
            if "sm_meta" not in self.backend.table_names(conn):
                raise ServicemapError(
                    f"{self.location} is not a servicemap store (no sm_meta table); "
                    "create one with `servicemap init DIR --name NAME`"
                )
            found = conn.exec_driver_sql(
                "SELECT value FROM sm_meta WHERE key = 'schema_version'"
            ).scalar_one()
        if int(found) != SCHEMA_VERSION:
            raise ServicemapError(
                f"{self.location}: store schema version {found}, this servicemap reads "
                f"{SCHEMA_VERSION}; upgrade servicemap"
            )

    def get_meta(self, key: str) -> str | None:
        """A value of the store's own key-value table (``sm_meta``)."""
        with self.backend.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT value FROM sm_meta WHERE key = :k"), {"k": key}
            ).scalar()

    def set_meta(self, key: str, value: str) -> None:
        """Set a key of ``sm_meta`` once (a key already set is an error)."""
        with self.backend.write() as conn:
            if conn.execute(sa.text("SELECT 1 FROM sm_meta WHERE key = :k"), {"k": key}).first():
                raise ServicemapError(f"{self.location}: {key!r} is already set")
            conn.execute(sa.text("INSERT INTO sm_meta VALUES (:k, :v)"), {"k": key, "v": value})

    # -- versions -----------------------------------------------------------------
    @property
    def version(self) -> int:
        """The store's version: the number of the last change (0 when empty); only grows."""
        return self.backend.version()

    def version_at(self, when: datetime | date | str) -> int:
        """The store version current at ``when`` (a datetime, date or ISO text; UTC if naive).

        A date means the end of that day.
        """
        if isinstance(when, str):
            when = datetime.fromisoformat(when)
        if isinstance(when, date) and not isinstance(when, datetime):
            when = datetime.combine(when, datetime.max.time())
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        stamp = when.astimezone(UTC).isoformat(timespec="microseconds")
        with self.backend.engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT max(version) FROM sm_changes WHERE at <= :at"), {"at": stamp}
            ).scalar()
        return int(found or 0)

    def layer_version(self, layer: str) -> int:
        """The store version of the layer's last change (0 for a layer never written)."""
        with self.backend.engine.connect() as conn:
            return self._layer_version(conn, layer)

    @staticmethod
    def _layer_version(conn, layer: str) -> int:
        found = conn.execute(
            sa.text("SELECT max(version) FROM sm_changes WHERE layer = :l"), {"l": layer}
        ).scalar()
        return int(found or 0)

    def changes(self, *, layer: str | None = None, limit: int | None = None) -> list[Change]:
        """The change log, newest first."""
        sql = "SELECT version, at, user_name, reason, layer, action, detail FROM sm_changes"
        params: dict[str, Any] = {}
        if layer is not None:
            sql += " WHERE layer = :layer"
            params["layer"] = layer
        sql += " ORDER BY version DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.backend.engine.connect() as conn:
            rows = conn.execute(sa.text(sql), params).fetchall()
        return [Change(int(r[0]), r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    def _log(self, conn, *, layer, action, user, reason, detail) -> int:
        if not isinstance(user, str) or not user.strip():
            raise ValueError(f"user must name who makes the change, got {user!r}")
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, got {type(reason).__name__}")
        return int(
            conn.execute(
                sa.text(
                    "INSERT INTO sm_changes (at, user_name, reason, layer, action, detail) "
                    "VALUES (:at, :u, :r, :l, :a, :d) RETURNING version"
                ),
                {
                    "at": _now(),
                    "u": user,
                    "r": reason,
                    "l": layer,
                    "a": action,
                    "d": json.dumps(detail, ensure_ascii=False),
                },
            ).scalar_one()
        )

    # -- layers -------------------------------------------------------------------
    def layers(self) -> list[str]:
        """Names of the layers stored so far."""
        with self.backend.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT DISTINCT layer FROM sm_columns").fetchall()
        return sorted(r[0] for r in rows)

    def _columns(self, conn, layer: str) -> list[_Column]:
        rows = conn.execute(
            sa.text("SELECT name, kind, dtype FROM sm_columns WHERE layer = :l ORDER BY position"),
            {"l": layer},
        ).fetchall()
        return [_Column(*r) for r in rows]

    def _ensure_layer(self, conn, layer: str, frame: gpd.GeoDataFrame) -> list[_Column]:
        """The layer's columns, creating its tables or adding new columns as needed.

        A new layer's tables get their indexes from :meth:`_index_layer`, once its first
        rows are in (building an index once is cheaper than growing it row by row).
        """
        known = self._columns(conn, layer)
        new = _new_columns(layer, known, frame)
        b = self.backend
        if not known:
            defs = ", ".join(f"{quote(c.name)} {b.sql_type(c.kind)}" for c in new if c.name != "id")
            cols = f"fid {b.serial_pk}, geom {b.geom_type}, id TEXT NOT NULL" + (
                f", {defs}" if defs else ""
            )
            conn.exec_driver_sql(f"CREATE TABLE {quote(layer)} ({cols})")
            conn.exec_driver_sql(
                f"CREATE TABLE {quote(layer + '_history')} ({cols}, "
                f"valid_from {b.int_type} NOT NULL, valid_to {b.int_type})"
            )
            h = layer + "_history"
            b.register_layer(conn, layer, f"servicemap layer {layer}")
            b.register_layer(conn, h, f"every version of servicemap layer {layer}")
        else:
            for c in new:
                for t in (layer, layer + "_history"):
                    conn.exec_driver_sql(
                        f"ALTER TABLE {quote(t)} ADD COLUMN {quote(c.name)} {b.sql_type(c.kind)}"
                    )
        if new:
            every = ["fid", "geom", *(c.name for c in known + new), "valid_from"]
            b.append_only(conn, layer + "_history", closable=True, columns=every)
        start = len(known)
        for i, c in enumerate(new):
            conn.execute(
                sa.text("INSERT INTO sm_columns VALUES (:l, :n, :k, :d, :p)"),
                {"l": layer, "n": c.name, "k": c.kind, "d": c.dtype, "p": start + i},
            )
        return known + new

    @staticmethod
    def _index_layer(conn, layer: str) -> None:
        h = layer + "_history"
        conn.exec_driver_sql(f"CREATE UNIQUE INDEX {quote(layer + '_id')} ON {quote(layer)} (id)")
        conn.exec_driver_sql(f"CREATE INDEX {quote(h + '_id')} ON {quote(h)} (id, valid_from)")

    def _rows(
        self, conn, table: str, columns: list[_Column], where: str = "", params=None, order=True
    ):
        """Rows as columns: ``[geometries (database form), column 1 values, ...]``, by id
        (in no order with ``order=False``)."""
        b = self.backend
        cols = ", ".join(quote(c.name) for c in columns)
        sql = f"SELECT {b.geom_select('geom')}, {cols} FROM {quote(table)} t {where}"
        sql += " ORDER BY id" if order else ""
        rows = b.fetchall(conn, sql, params or {})
        if not rows:
            return [[] for _ in range(len(columns) + 1)]
        return [np.array(v, dtype=object) for v in zip(*rows, strict=True)]

    def _frame(self, values, columns: list[_Column]) -> gpd.GeoDataFrame:
        data = {c.name: _decode(v, c) for c, v in zip(columns, values[1:], strict=True)}
        geoms = self.backend.geoms_from_db(values[0])
        return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))

    @gc_paused()
    def read_layer(
        self, layer: str, *, version: int | None = None, as_of: Any = None
    ) -> gpd.GeoDataFrame:
        """A layer as a GeoDataFrame (EPSG:4326, ordered by id).

        Parameters
        ----------
        layer : str
        version : int, optional
            The layer as it was at this store version.
        as_of : datetime, date or ISO text, optional
            The layer as it was at this moment (see :meth:`version_at`).

        Raises
        ------
        KeyError
            For a layer never stored.
        """
        if as_of is not None:
            if version is not None:
                raise TypeError("give version or as_of, not both")
            version = self.version_at(as_of)
        with self.backend.engine.connect() as conn:
            columns = self._columns(conn, layer)
            if not columns:
                raise KeyError(
                    f"no layer {layer!r} in the store; stored: {self.layers() or 'none'}"
                )
            if version is None:
                rows = self._rows(conn, layer, columns)
            else:
                rows = self._rows(
                    conn,
                    layer + "_history",
                    columns,
                    "WHERE valid_from <= :v AND (valid_to IS NULL OR valid_to > :v)",
                    {"v": int(version)},
                )
        return self._frame(rows, columns)

    def write_layer(
        self,
        layer: str,
        frame: gpd.GeoDataFrame,
        *,
        user: str,
        reason: str,
        replace: bool = False,
        action: str = "import",
        detail: Mapping[str, Any] | None = None,
        progress: Callable[[int, int], None] | None = None,
        expected_version: int | None = None,
    ) -> ChangeSummary:
        """Write a layer in one transaction: features added, changed or (with ``replace``)
        removed, each recorded in the history.

        Features are matched by ``id``. Unchanged features are left alone; when nothing
        changes, no change is recorded and the version stays. A failure anywhere leaves
        the store as it was.

        Parameters
        ----------
        layer : str
        frame : geopandas.GeoDataFrame
            EPSG:4326, with a unique string ``id`` column.
        user, reason : str
            Who makes the change and why (the history's who and why).
        replace : bool
            Remove the features of the layer that ``frame`` does not hold.
        action : str
            What kind of change to record (``import``, ``edit``, ``rollback``...).
        detail : mapping, optional
            More for the change log (the file's name, ...), JSON-serialisable.
        progress : callable, optional
            Called as ``progress(rows_written, rows_total)`` while writing.
        expected_version : int, optional
            Write only if the layer's last change (:meth:`layer_version`) is still this
            one, checked inside the transaction (an upload applied as it was previewed).

        Raises
        ------
        ConflictError
            When ``expected_version`` is given and the layer changed since; nothing is
            written.
        """
        frame = self._check_frame(layer, frame)
        with self.backend.write() as conn:
            if expected_version is not None:
                found = self._layer_version(conn, layer)
                if found != expected_version:
                    raise ConflictError(
                        f"layer {layer!r} changed since version {expected_version} (now "
                        f"version {found}); nothing was written: look at it again",
                        expected_version=expected_version,
                        current_version=found,
                    )
            return self._write(
                conn,
                layer,
                frame,
                replace=replace,
                remove=(),
                action=action,
                user=user,
                reason=reason,
                detail=dict(detail or {}),
                progress=progress,
            )

    def _check_frame(self, layer: str, frame: Any) -> gpd.GeoDataFrame:
        if not isinstance(frame, gpd.GeoDataFrame):
            raise TypeError(f"frame must be a GeoDataFrame, got {type(frame).__name__}")
        if frame.crs is None or not frame.crs.equals("EPSG:4326"):
            from geo.errors import CRSError

            raise CRSError(
                f"layer {layer!r}: the frame is in {frame.crs!r}; the store holds EPSG:4326, "
                "load it through geo's loaders or `to_crs(4326)` first"
            )
        if "id" not in frame.columns:
            raise ValidationError(f"layer {layer!r}: the frame has no 'id' column; add one")
        ids = frame["id"]
        if ids.isna().any():
            rows = list(np.flatnonzero(ids.isna().to_numpy())[:10])
            raise ValidationError(f"layer {layer!r}: blank ids at rows {rows}; give every row one")
        text = pd.Index(ids.astype(str).to_numpy(dtype=object))
        dup = () if text.is_unique else text[text.duplicated(keep=False)]
        if len(dup):
            shown = sorted(set(dup))[:10]
            raise ValidationError(
                f"layer {layer!r}: duplicate ids {shown!r}; ids must be unique in a layer",
                [f"duplicate id {i!r}" for i in sorted(set(dup))],
            )
        return frame

    def plan_layer(
        self, layer: str, frame: gpd.GeoDataFrame, *, replace: bool = False
    ) -> ChangeSummary:
        """What :meth:`write_layer` would do with ``frame``, writing nothing: the ids it
        would add, change and (with ``replace``) remove, decided by the same comparison
        (stored values against the frame's, in the database's form). ``version`` is the
        layer's last change (:meth:`layer_version`).
        """
        frame = self._check_frame(layer, frame)
        with self.backend.engine.connect() as conn:
            known = self._columns(conn, layer)
            columns = known + _new_columns(layer, known, frame)
            plan = self._decide(conn, layer, frame, columns, known, replace=replace, remove=())
            version = self._layer_version(conn, layer)
        return ChangeSummary(version, layer, plan.added, plan.changed, plan.removed, plan.unchanged)

    def _decide(
        self, conn, layer, frame, columns: list[_Column], stored: list[_Column], *,
        replace: bool, remove: Sequence[str],
    ) -> _Plan:  # fmt: skip
        """The rows of ``frame`` to write and the ids added, changed and removed.

        ``columns`` are the layer's columns once ``frame`` is written, ``stored`` those
        its tables have now (the first of them): the others are empty in stored rows.
        """
        b = self.backend
        n = len(frame)
        ids = frame["id"].astype(str).to_numpy(dtype=object)
        geoms = frame.geometry.to_numpy()
        encoded = [
            _encode(frame[c.name], c, layer)
            if c.name in frame.columns
            else np.full(n, None, dtype=object)
            for c in columns
        ]
        encoded[0] = ids

        # what is there now, for the features concerned
        size = self._size(conn, layer) if stored else 0
        if size == 0:
            current: list[Any] = [np.empty(0, dtype=object) for _ in range(len(columns) + 1)]
        else:
            if replace or n > 10_000:
                current = self._rows(conn, layer, stored, order=False)
            else:
                wanted = list(dict.fromkeys([*ids, *remove]))
                tmp = b.temp_ids(conn, wanted)
                where = f"WHERE id IN (SELECT id FROM {tmp})"
                current = self._rows(conn, layer, stored, where, order=False)
            blank = np.full(len(current[1]), None, dtype=object)
            current += [blank] * (len(columns) - len(stored))
        cur_ids = np.asarray(current[1], dtype=object)
        keep = _differing(current, encoded, geoms) if len(cur_ids) else np.ones(n, dtype=bool)
        if len(cur_ids):
            found = pd.Index(cur_ids, dtype=object).get_indexer(ids) >= 0
            added = list(ids[keep & ~found])
            changed = list(ids[keep & found])
        else:
            added, changed = list(ids), []
        if replace:
            gone = cur_ids[pd.Index(ids, dtype=object).get_indexer(cur_ids) < 0]
            removed = sorted(gone)  # by id, whatever order the rows were read in
        else:
            there = set(cur_ids) if remove else set()
            missing = [fid for fid in remove if fid not in there]
            if missing:
                raise KeyError(f"layer {layer!r} has no feature {missing[0]!r}")
            removed = list(remove)
        unchanged = n - len(added) - len(changed)
        return _Plan(geoms, encoded, keep, added, changed, removed, unchanged)

    def _write(
        self, conn, layer, frame, *, replace, remove, action, user, reason, detail, progress
    ) -> ChangeSummary:
        b = self.backend
        new_layer = not self._columns(conn, layer)
        columns = self._ensure_layer(conn, layer, frame)
        plan = self._decide(conn, layer, frame, columns, columns, replace=replace, remove=remove)
        geoms, encoded, keep = plan.geoms, plan.encoded, plan.keep
        added, changed, removed, unchanged = plan.added, plan.changed, plan.removed, plan.unchanged
        if not (added or changed or removed):
            version = int(
                conn.exec_driver_sql("SELECT coalesce(max(version), 0) FROM sm_changes").scalar()
            )
            if new_layer:
                self._index_layer(conn, layer)
            return ChangeSummary(version, layer, unchanged=unchanged)

        counts = {"added": len(added), "changed": len(changed), "removed": len(removed)}
        version = self._log(
            conn,
            layer=layer,
            action=action,
            user=user,
            reason=reason,
            detail={**detail, **counts, "unchanged": unchanged},
        )
        hist = layer + "_history"
        closing = changed + removed
        if closing:
            tmp = b.temp_ids(conn, closing)
            conn.execute(
                sa.text(
                    f"UPDATE {quote(hist)} SET valid_to = :v WHERE valid_to IS NULL "
                    f"AND id IN (SELECT id FROM {tmp})"
                ),
                {"v": version},
            )
            conn.exec_driver_sql(f"DELETE FROM {quote(layer)} WHERE id IN (SELECT id FROM {tmp})")
        pick = slice(None) if keep.all() else np.flatnonzero(keep)
        b.insert_features(
            conn,
            layer,
            ["geom", *(c.name for c in columns)],
            ["geom", *(c.kind for c in columns)],
            [b.geoms_to_db(geoms[pick]), *(col[pick] for col in encoded)],
            version,
            progress,
        )
        if new_layer:
            self._index_layer(conn, layer)
        if isinstance(b, GeoPackage):
            b.touch_layer(conn, layer)
            b.touch_layer(conn, hist)
        log.info("store %s: layer %r version %d %s", self.location, layer, version, counts)
        return ChangeSummary(version, layer, added, changed, removed, unchanged)

    @staticmethod
    def _size(conn, layer: str) -> int:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {quote(layer)}").scalar_one())

    # -- single features ----------------------------------------------------------
    def get_feature(self, layer: str, feature_id: str) -> tuple[dict, int]:
        """One feature as a dict (``geometry`` a shapely geometry) and its version.

        The version is the store version of the feature's last change: give it back
        as ``expected_version`` when saving an edit.
        """
        with self.backend.engine.connect() as conn:
            return self._get(conn, layer, feature_id)

    def _get(self, conn, layer: str, feature_id: str) -> tuple[dict, int]:
        columns = self._columns(conn, layer)
        if not columns:
            raise KeyError(f"no layer {layer!r} in the store")
        rows = self._rows(
            conn,
            layer + "_history",
            [*columns, _Column("valid_from", "int", "int64")],
            "WHERE id = :id AND valid_to IS NULL",
            {"id": str(feature_id)},
        )
        if not len(rows[0]):
            raise KeyError(f"layer {layer!r} has no feature {feature_id!r}")
        frame = self._frame(rows, [*columns, _Column("valid_from", "int", "int64")])
        record = frame.iloc[0].to_dict()
        return {k: v for k, v in record.items() if k != "valid_from"}, int(record["valid_from"])

    def save_feature(
        self,
        layer: str,
        record: Mapping[str, Any],
        *,
        expected_version: int | None,
        user: str,
        reason: str,
        action: str = "edit",
    ) -> int:
        """Add (``expected_version=None``) or replace one feature; returns the new version.

        Raises
        ------
        ConflictError
            When the feature changed since ``expected_version`` (someone saved in
            between), or when adding an id that exists. It carries both versions and
            both records, so the caller can show them and merge.
        """
        record = dict(record)
        frame = gpd.GeoDataFrame(
            {k: [v] for k, v in record.items() if k != "geometry"},
            geometry=[record.get("geometry")],
            crs="EPSG:4326",
        )
        frame = self._check_frame(layer, frame)
        fid = str(record["id"])
        with self.backend.write() as conn:
            try:
                current, found = self._get(conn, layer, fid)
            except KeyError:
                current, found = None, None
            if found != expected_version:
                raise ConflictError(
                    f"layer {layer!r}, feature {fid!r}: "
                    + (
                        "already exists"
                        if expected_version is None
                        else "no longer exists"
                        if found is None
                        else f"changed since version {expected_version} (now version {found})"
                    )
                    + "; reload it, merge your changes and save again",
                    feature_id=fid,
                    expected_version=expected_version,
                    current_version=found,
                    current=current,
                    proposed=record,
                )
            self._cast_like(conn, layer, frame)
            summary = self._write(
                conn,
                layer,
                frame,
                replace=False,
                remove=(),
                action=action if current is not None else "add",
                user=user,
                reason=reason,
                detail={"id": fid},
                progress=None,
            )
        return summary.version

    def _cast_like(self, conn, layer: str, frame: gpd.GeoDataFrame) -> None:
        """Give a one-row frame built from a dict the dtypes the layer holds."""
        for c in self._columns(conn, layer):
            if c.name in frame.columns and c.kind != "list":
                frame[c.name] = _decode(_encode(frame[c.name], c, layer), c)

    def remove_feature(
        self, layer: str, feature_id: str, *, expected_version: int, user: str, reason: str
    ) -> int:
        """Remove one feature (it stays in the history); returns the new version."""
        fid = str(feature_id)
        with self.backend.write() as conn:
            current, found = self._get(conn, layer, fid)
            if found != expected_version:
                raise ConflictError(
                    f"layer {layer!r}, feature {fid!r}: changed since version "
                    f"{expected_version} (now version {found}); reload it and decide again",
                    feature_id=fid,
                    expected_version=expected_version,
                    current_version=found,
                    current=current,
                    proposed=None,
                )
            columns = self._columns(conn, layer)
            empty = gpd.GeoDataFrame(
                {c.name: pd.Series([], dtype=object) for c in columns},
                geometry=gpd.GeoSeries([], crs="EPSG:4326"),
            )
            summary = self._write(
                conn,
                layer,
                empty,
                replace=False,
                remove=(fid,),
                action="remove",
                user=user,
                reason=reason,
                detail={"id": fid},
                progress=None,
            )
        return summary.version

    def feature_history(self, layer: str, feature_id: str) -> list[dict]:
        """Every change of one feature, oldest first.

        Each item: ``version``, ``at``, ``user``, ``reason``, ``action``, ``op``
        (``add``/``update``/``remove``), ``before`` and ``after`` (JSON-ready dicts, the
        geometry as GeoJSON; ``None`` before an add and after a remove).
        """
        with self.backend.engine.connect() as conn:
            columns = self._columns(conn, layer)
            if not columns:
                raise KeyError(f"no layer {layer!r} in the store")
            extra = [_Column("valid_from", "int", "int64"), _Column("valid_to", "int", "Int64")]
            rows = self._rows(
                conn, layer + "_history", [*columns, *extra], "WHERE id = :id", {"id": feature_id}
            )
            log_rows = conn.execute(
                sa.text(
                    "SELECT version, at, user_name, reason, action FROM sm_changes "
                    "WHERE layer = :l AND version IN (SELECT valid_from FROM "
                    f"{quote(layer + '_history')} WHERE id = :id UNION SELECT valid_to FROM "
                    f"{quote(layer + '_history')} WHERE id = :id)"
                ),
                {"l": layer, "id": feature_id},
            ).fetchall()
        if not len(rows[0]):
            raise KeyError(f"layer {layer!r} has never held a feature {feature_id!r}")
        frame = self._frame(rows, [*columns, *extra]).sort_values("valid_from")
        meta = {int(r[0]): r for r in log_rows}
        versions = []
        for rec in frame.to_dict("records"):
            versions.append(
                (
                    int(rec.pop("valid_from")),
                    rec.pop("valid_to"),
                    {k: _jsonable(v) for k, v in rec.items()},
                )
            )
        out = []
        previous: dict | None = None
        previous_to = None
        for start, end, data in versions:
            if previous is not None and previous_to != start:
                out.append(self._event(meta, previous_to, "remove", previous, None))
                previous = None
            out.append(self._event(meta, start, "update" if previous else "add", previous, data))
            previous, previous_to = data, (None if pd.isna(end) else int(end))
        if previous is not None and previous_to is not None:
            out.append(self._event(meta, previous_to, "remove", previous, None))
        return out

    @staticmethod
    def _event(meta, version, op, before, after) -> dict:
        m = meta[version]
        return {
            "version": version,
            "at": m[1],
            "user": m[2],
            "reason": m[3],
            "action": m[4],
            "op": op,
            "before": before,
            "after": after,
        }

    def rollback(self, layer: str, version: int, *, user: str, reason: str) -> ChangeSummary:
        """Make ``layer`` what it was at store ``version``, as new changes (the history
        keeps everything in between)."""
        target = self.read_layer(layer, version=version)
        return self.write_layer(
            layer,
            target,
            user=user,
            reason=reason,
            replace=True,
            action="rollback",
            detail={"to_version": int(version)},
        )

    # -- integrity ----------------------------------------------------------------
    def checksums(self) -> dict[str, str]:
        """An md5 of every table's rows in order: equal checksums, equal contents."""
        with self.backend.engine.connect() as conn:
            tables = sorted(self.backend.table_names(conn))
            order = {
                "sm_meta": "key",
                "sm_columns": "layer, name",
                "sm_changes": "version",
                "sm_users": "name",
                "sm_tokens": "token_hash",
                "gpkg_spatial_ref_sys": "srs_id",
                "gpkg_contents": "table_name",
                "gpkg_geometry_columns": "table_name",
            }
            return {
                t: self.backend.table_checksum(conn, t, order.get(t, "fid"))
                for t in tables
                if t in order or t in self._layer_tables(conn)
            }

    def _layer_tables(self, conn) -> set[str]:
        layers = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT layer FROM sm_columns")}
        return layers | {f"{x}_history" for x in layers}

    # -- users and tokens ---------------------------------------------------------
    def add_user(self, name: str, password: str, *, role: str, by: str = "servicemap") -> User:
        """Add a user with a hashed password (scrypt); ``role`` viewer, editor or admin."""
        _check_role(role)
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ValueError(f"user name must be non-blank text without outer spaces, got {name!r}")
        _auth.check_password(password)
        with self.backend.write() as conn:
            if conn.execute(sa.text("SELECT 1 FROM sm_users WHERE name = :n"), {"n": name}).first():
                raise ValidationError(f"user {name!r} already exists; pick another name")
            at = _now()
            conn.execute(
                sa.text("INSERT INTO sm_users VALUES (:n, :r, :h, :at)"),
                {"n": name, "r": role, "h": _auth.hash_password(password), "at": at},
            )
            self._log(
                conn,
                layer="users",
                action="add_user",
                user=by,
                reason="",
                detail={"name": name, "role": role},
            )
        return User(name, role, at)

    def set_role(self, name: str, role: str, *, by: str) -> None:
        """Change a user's role (recorded in the change log)."""
        _check_role(role)
        with self.backend.write() as conn:
            n = conn.execute(
                sa.text("UPDATE sm_users SET role = :r WHERE name = :n"), {"r": role, "n": name}
            ).rowcount
            if not n:
                raise KeyError(f"no user {name!r}")
            self._log(
                conn,
                layer="users",
                action="set_role",
                user=by,
                reason="",
                detail={"name": name, "role": role},
            )

    def users(self) -> list[User]:
        with self.backend.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT name, role, created_at FROM sm_users ORDER BY name"
            ).fetchall()
        return [User(*r) for r in rows]

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (same time either way)."""
        with self.backend.engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT name, role, created_at, password_hash FROM sm_users WHERE name = :n"
                ),
                {"n": name},
            ).first()
        stored = row[3] if row else _auth.DUMMY_HASH
        ok = _auth.verify_password(password, stored)
        return User(row[0], row[1], row[2]) if (row and ok) else None

    def create_token(self, user: str, *, label: str, role: str | None = None) -> str:
        """A new API token for ``user``, scoped to ``role`` (default and at most the
        user's own). Only its hash is stored: the returned text is shown once."""
        with self.backend.write() as conn:
            row = conn.execute(
                sa.text("SELECT role FROM sm_users WHERE name = :n"), {"n": user}
            ).first()
            if row is None:
                raise KeyError(f"no user {user!r}")
            role = role or row[0]
            _check_role(role)
            if ROLES.index(role) > ROLES.index(row[0]):
                raise ValidationError(
                    f"a token for {user!r} (role {row[0]!r}) cannot have role {role!r}; "
                    "give it the user's role or a lower one"
                )
            token = _auth.new_token()
            conn.execute(
                sa.text("INSERT INTO sm_tokens VALUES (:h, :l, :u, :r, :at, NULL)"),
                {"h": _auth.hash_token(token), "l": label, "u": user, "r": role, "at": _now()},
            )
            self._log(
                conn,
                layer="users",
                action="create_token",
                user=user,
                reason="",
                detail={"label": label, "role": role},
            )
        return token

    def verify_token(self, token: str) -> Token | None:
        """The token's owner and role, or None for an unknown or revoked token."""
        if not isinstance(token, str) or not token:
            return None
        with self.backend.engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT t.label, t.user_name, t.role, t.created_at, u.role FROM sm_tokens t "
                    "JOIN sm_users u ON u.name = t.user_name "
                    "WHERE t.token_hash = :h AND t.revoked_at IS NULL"
                ),
                {"h": _auth.hash_token(token)},
            ).first()
        if row is None:
            return None
        # a token never outranks its user, even after the user is demoted
        role = min(row[2], row[4], key=ROLES.index)
        return Token(row[0], row[1], role, row[3])

    def revoke_token(self, token: str, *, by: str) -> None:
        with self.backend.write() as conn:
            n = conn.execute(
                sa.text(
                    "UPDATE sm_tokens SET revoked_at = :at WHERE token_hash = :h "
                    "AND revoked_at IS NULL"
                ),
                {"at": _now(), "h": _auth.hash_token(token)},
            ).rowcount
            if not n:
                raise KeyError("no such active token")
            self._log(conn, layer="users", action="revoke_token", user=by, reason="", detail={})


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")


def open_store(location: str | os.PathLike[str], *, create: bool = False) -> Store:
    """Open a store: a GeoPackage path, or a ``postgresql://`` URL.

    Parameters
    ----------
    location : path or URL
        A ``.gpkg`` file, or ``postgresql://user@host/db`` (PostGIS; the database
        must exist, the extension is created when missing).
    create : bool
        Create the store's tables when they are missing (and the file).

    Raises
    ------
    FileNotFoundError
        For a GeoPackage that does not exist, without ``create``.
    ServicemapError
        For a database that is not a servicemap store, without ``create``.
    """
    text = os.fspath(location)
    if text.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        backend: Backend = PostGIS.connect(text)
    else:
        path = Path(text)
        if not create and not path.is_file():
            raise FileNotFound(
                f"{text!r} does not exist; create a workspace with `servicemap init`"
            )
        backend = GeoPackage.connect(path)
    store = Store(backend)
    try:
        if create:
            store._initialise()
        store._check_schema()
    except Exception:
        backend.dispose()
        raise
    return store
