"""The two SQL dialects of the store: GeoPackage (SQLite) and PostgreSQL + PostGIS.

Everything that differs between them lives here: creating the database, geometry
encoding, bulk copy, the write lock and the append-only triggers. The store itself
(:mod:`geo.store._store`) speaks through one :class:`Backend` object.
"""

from __future__ import annotations

import io
import os
import re
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
import sqlalchemy as sa
from sqlalchemy import event

SRID = 4326
# GeoPackage geometry blob header: magic "GP", version 0, flags (bit 0: little-endian,
# envelope bits 1-3 = 0: no envelope), then the srs_id as int32; the WKB follows.
GPKG_HEADER = b"GP\x00\x01" + struct.pack("<i", SRID)
GPKG_EMPTY_HEADER = b"GP\x00\x11" + struct.pack("<i", SRID)  # bit 4: empty geometry
GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10300  # GeoPackage 1.3

KINDS = ("text", "real", "int", "bool", "list")
BLOCK = 50_000  # rows per bulk block (and per progress call)

_GPKG_META = [
    """CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
        srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY,
        organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
        definition TEXT NOT NULL, description TEXT)""",
    """CREATE TABLE IF NOT EXISTS gpkg_contents (
        table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
        identifier TEXT UNIQUE, description TEXT DEFAULT '',
        last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
        CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""",
    """CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
        table_name TEXT NOT NULL, column_name TEXT NOT NULL,
        geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL,
        z TINYINT NOT NULL, m TINYINT NOT NULL,
        CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
        CONSTRAINT uk_gc_table_name UNIQUE (table_name),
        CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
        CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""",
]
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)
_SRS_ROWS = [
    ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate"),
    ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate"),
    ("WGS 84 geodetic", SRID, "EPSG", SRID, _WGS84_WKT, "longitude/latitude coordinates"),
]


def quote(name: str) -> str:
    """A double-quoted SQL identifier (both dialects)."""
    return '"' + name.replace('"', '""') + '"'


def _driver(conn: sa.Connection) -> Any:
    """The DBAPI connection (sqlite3 or psycopg) under a SQLAlchemy connection."""
    return conn.connection.driver_connection


class Backend:
    """What the store needs from a database; subclassed per dialect."""

    name = ""
    geom_type = ""
    real_type = "DOUBLE PRECISION"
    int_type = "BIGINT"
    bool_type = "BOOLEAN"
    serial_pk = ""

    def __init__(self, engine: sa.Engine, location: str) -> None:
        self.engine = engine
        self.location = location

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction, holding the store's write lock; commits on success."""
        with self.engine.connect() as conn:
            conn.execution_options(sm_write=True)
            with conn.begin():
                self.lock(conn)
                yield conn

    # -- set-up -------------------------------------------------------------------
    def create_meta(self, conn: sa.Connection) -> None:
        """Create the dialect's own metadata tables (GeoPackage's gpkg_* tables)."""

    def sql_type(self, kind: str) -> str:
        return {
            "text": "TEXT",
            "list": "TEXT",
            "real": self.real_type,
            "int": self.int_type,
            "bool": self.bool_type,
        }[kind]

    def register_layer(self, conn: sa.Connection, table: str, description: str) -> None:
        """Make ``table`` a feature layer other programs see (GeoPackage contents)."""

    def register_attributes(self, conn: sa.Connection, table: str, description: str) -> None:
        """Make ``table`` a table without geometry other programs see."""

    def append_only(
        self, conn: sa.Connection, table: str, *, closable: bool, columns: Sequence[str] = ()
    ) -> None:
        """Refuse DELETE, and UPDATE except setting ``valid_to`` once when closable."""
        raise NotImplementedError

    def lock(self, conn: sa.Connection) -> None:
        """Serialise writers: one write transaction at a time (store versions in order)."""

    def table_names(self, conn: sa.Connection) -> set[str]:
        return set(sa.inspect(conn).get_table_names())

    def version(self) -> int:
        """The store version (the last change's number, 0 when none): asked before every
        web request, so it must be cheap."""
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT max(version) FROM sm_changes").scalar() or 0)

    def fetchall(self, conn: sa.Connection, sql: str, params: Mapping[str, Any]) -> list:
        """Rows of ``sql`` (``:name`` parameters) through the driver's own cursor: the
        fastest path for a whole layer."""
        cur = _driver(conn).cursor()
        try:
            cur.execute(self._paramstyle(sql), dict(params))
            return cur.fetchall()
        finally:
            cur.close()

    def _paramstyle(self, sql: str) -> str:
        return sql

    # -- geometry -----------------------------------------------------------------
    def geoms_to_db(self, geoms: np.ndarray) -> np.ndarray:
        """Geometries (an array of shapely geometries or None) in the column's form."""
        raise NotImplementedError

    def geom_select(self, column: str) -> str:
        raise NotImplementedError

    def geoms_from_db(self, values: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError

    # -- bulk ---------------------------------------------------------------------
    def copy_rows(
        self, conn: sa.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]
    ) -> None:
        raise NotImplementedError

    def insert_features(
        self,
        conn: sa.Connection,
        layer: str,
        names: Sequence[str],
        kinds: Sequence[str],
        values: Sequence[np.ndarray],
        version: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Add rows to ``layer`` and to ``layer_history`` (``valid_from = version``).

        ``names`` are the columns (``geom`` first), ``kinds`` theirs (:data:`KINDS`, and
        ``geom``), ``values`` one array per column in the database's form (None for
        NULL, geometries from :meth:`geoms_to_db`). ``progress(done, total)`` is called
        after each block of rows.
        """
        raise NotImplementedError

    def temp_ids(self, conn: sa.Connection, ids: Sequence[str]) -> str:
        """A temporary table ``sm_ids(id)`` holding ``ids``; returns its name."""
        raise NotImplementedError

    def table_checksum(self, conn: sa.Connection, table: str, order_by: str) -> str:
        raise NotImplementedError

    def dispose(self) -> None:
        self.engine.dispose()


class GeoPackage(Backend):
    """A GeoPackage file: SQLite in WAL mode, geometries as GeoPackage blobs."""

    name = "gpkg"
    geom_type = "BLOB"
    real_type = "REAL"
    int_type = "INTEGER"
    bool_type = "BOOLEAN"
    serial_pk = "INTEGER PRIMARY KEY AUTOINCREMENT"

    @classmethod
    def connect(cls, path: Path) -> GeoPackage:
        engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no cover - called by SQLAlchemy
            # SQLAlchemy's documented recipe: let us emit BEGIN ourselves
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout = 30000")
            mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            # a page cache of up to 256 MB (allocated only as used): index inserts of a
            # million-row import stay in memory instead of spilling to the WAL
            cur.execute("PRAGMA cache_size = -262144")
            # an import stages its rows in a temporary table: keep it in memory
            cur.execute("PRAGMA temp_store = MEMORY")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # pragma: no cover - called by SQLAlchemy
            # a writer takes the write lock at the start (IMMEDIATE), so two writers
            # queue rather than one failing half-way with "database is locked"; a
            # reader's deferred BEGIN reads one consistent snapshot and blocks no one
            write = conn.get_execution_options().get("sm_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return cls(engine, str(path))

    def __init__(self, engine: sa.Engine, location: str) -> None:
        super().__init__(engine, location)
        self._reader: tuple[int, sqlite3.Connection] | None = None
        self._reader_lock = threading.Lock()
        self._inherited: list[sqlite3.Connection] = []

    def version(self) -> int:
        # Opening a connection (and its PRAGMAs) cost ~4 ms a request; one read-only
        # connection per process, kept open, answers in microseconds. A forked child
        # opens its own and never closes the parent's (closing it there could disturb
        # the parent's locks).
        with self._reader_lock:
            if self._reader is None or self._reader[0] != os.getpid():
                if self._reader is not None:
                    self._inherited.append(self._reader[1])
                uri = Path(self.location).resolve().as_uri() + "?mode=ro"
                con = sqlite3.connect(uri, uri=True, isolation_level=None,
                                      check_same_thread=False)  # fmt: skip
                con.execute("PRAGMA busy_timeout = 30000")
                self._reader = (os.getpid(), con)
            # fetchall: the statement runs to its end, so no read transaction stays open
            rows = self._reader[1].execute("SELECT max(version) FROM sm_changes").fetchall()
        return int(rows[0][0] or 0)

    def _close_reader(self) -> None:
        with self._reader_lock:
            if self._reader is not None and self._reader[0] == os.getpid():
                self._reader[1].close()
            self._reader = None

    def dispose(self) -> None:
        self._close_reader()
        super().dispose()

    def create_meta(self, conn: sa.Connection) -> None:
        conn.exec_driver_sql(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
        conn.exec_driver_sql(f"PRAGMA user_version = {GPKG_USER_VERSION}")
        for ddl in _GPKG_META:
            conn.exec_driver_sql(ddl)
        raw = _driver(conn)
        raw.executemany(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)", _SRS_ROWS
        )

    def register_layer(self, conn: sa.Connection, table: str, description: str) -> None:
        conn.execute(
            sa.text(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
                "description, srs_id, min_x, min_y, max_x, max_y) "
                "VALUES (:t, 'features', :t, :d, :srid, -180, -90, 180, 90)"
            ),
            {"t": table, "d": description, "srid": SRID},
        )
        conn.execute(
            sa.text(
                "INSERT OR IGNORE INTO gpkg_geometry_columns VALUES "
                "(:t, 'geom', 'GEOMETRY', :srid, 0, 0)"
            ),
            {"t": table, "srid": SRID},
        )

    def register_attributes(self, conn: sa.Connection, table: str, description: str) -> None:
        # GDAL lists unregistered tables only when no attribute table is registered, so
        # this also keeps users, tokens and the store's metadata out of QGIS's layer list
        conn.execute(
            sa.text(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
                "description) VALUES (:t, 'attributes', :t, :d)"
            ),
            {"t": table, "d": description},
        )

    def touch_layer(self, conn: sa.Connection, table: str) -> None:
        conn.execute(
            sa.text(
                "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                "WHERE table_name = :t"
            ),
            {"t": table},
        )

    def append_only(
        self, conn: sa.Connection, table: str, *, closable: bool, columns: Sequence[str] = ()
    ) -> None:
        t = quote(table)
        conn.exec_driver_sql(
            f"CREATE TRIGGER IF NOT EXISTS {quote(table + '_no_delete')} BEFORE DELETE ON {t} "
            "BEGIN SELECT RAISE(ABORT, 'history is append-only'); END"
        )
        # SQLite cannot compare whole rows: list every column but valid_to (the store
        # calls this again whenever it adds a column)
        fixed = ", ".join(quote(c) for c in columns if c != "valid_to")
        for name, head in (
            (
                "_no_update",
                f"BEFORE UPDATE OF {fixed} ON {t}" if closable else f"BEFORE UPDATE ON {t}",
            ),
            ("_close_once", f"BEFORE UPDATE OF valid_to ON {t} WHEN OLD.valid_to IS NOT NULL"),
        ):
            if name == "_close_once" and not closable:
                continue
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {quote(table + name)}")
            conn.exec_driver_sql(
                f"CREATE TRIGGER {quote(table + name)} {head} "
                "BEGIN SELECT RAISE(ABORT, 'history is append-only'); END"
            )

    def geoms_to_db(self, geoms: np.ndarray) -> np.ndarray:
        # a blob is the 8-byte header, then ISO WKB: joined by numpy's object add
        out = np.full(len(geoms), None, dtype=object)
        given = ~shapely.is_missing(geoms)
        # 2-D points (a demand layer's million rows) written straight from coordinates
        points = given & (shapely.get_type_id(geoms) == 0) & ~shapely.is_empty(geoms)
        points &= ~shapely.has_z(geoms)
        if points.any():
            out[points] = _point_blobs(shapely.get_coordinates(geoms[points]))
        rest = given & ~points
        if rest.any():
            # object arrays throughout: a numpy bytes dtype would drop the header's
            # trailing NUL bytes
            heads = np.array([GPKG_HEADER, GPKG_EMPTY_HEADER], dtype=object)
            heads = heads[shapely.is_empty(geoms[rest]).astype(np.intp)]
            wkb = shapely.to_wkb(geoms[rest], byte_order=1, flavor="iso")
            out[rest] = np.add(heads, wkb)
        return out

    def geom_select(self, column: str) -> str:
        # the WKB after the blob's header: 8 bytes plus the envelope, whose kind is bits
        # 1-3 of the flags byte (the low hex digit of byte 4, shifted right once)
        # (flags 0x01, little-endian without an envelope, as this store writes them, is
        # decided by one comparison: 1,000,000 rows read 1 s sooner)
        c = quote(column)
        kind = f"((instr('0123456789ABCDEF', substr(hex(substr({c}, 4, 1)), 2, 1)) - 1) >> 1)"
        skip = f"CASE {kind} WHEN 0 THEN 0 WHEN 1 THEN 32 WHEN 2 THEN 48 WHEN 3 THEN 48 ELSE 64 END"
        general = f"substr({c}, 9 + {skip})"
        return f"CASE WHEN substr({c}, 4, 1) = X'01' THEN substr({c}, 9) ELSE {general} END"

    def geoms_from_db(self, values: Sequence[Any]) -> np.ndarray:
        return shapely.from_wkb(np.asarray(values, dtype=object))

    def copy_rows(self, conn, table, columns, rows) -> None:
        raw = _driver(conn)
        cols = ", ".join(quote(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        raw.executemany(f"INSERT INTO {quote(table)} ({cols}) VALUES ({marks})", rows)

    def insert_features(self, conn, layer, names, kinds, values, version, progress=None) -> None:
        # Python's sqlite3 binds a row per step; into an AUTOINCREMENT table each step
        # also updates sqlite_sequence, so the rows go to an in-memory temporary table
        # first (no key, no index) and from it to both tables in one statement each.
        # Only columns that vary are staged: one NULL in every row is left out, one value
        # in every row is given once to both statements, and a copy of a staged column
        # of the same kind is selected from it (a point demand layer's kind, route and
        # source id: 7 columns staged -> 3; executemany 4.9 -> 3.6 s for 1,000,000 rows).
        staged: list[int] = []
        select: dict[int, str] = {}  # column -> what the statements select
        constants: dict[str, Any] = {}
        for i, v in enumerate(values):
            if i > 0 and _all_none(v):
                continue
            same = next((j for j in staged if kinds[j] == kinds[i] and _same(values[j], v)), None)
            if same is not None:
                select[i] = f"c{same}"
            elif i > 0 and _constant(v):
                select[i] = f":k{i}"
                constants[f"k{i}"] = v[0]
            else:
                staged.append(i)
                select[i] = f"c{i}"
        conn.exec_driver_sql("DROP TABLE IF EXISTS temp.sm_stage")
        conn.exec_driver_sql(f"CREATE TEMP TABLE sm_stage ({', '.join(f'c{i}' for i in staged)})")
        raw = _driver(conn)
        sql = f"INSERT INTO temp.sm_stage VALUES ({', '.join('?' for _ in staged)})"
        total = len(values[0])
        for start in range(0, total, BLOCK):
            stop = min(start + BLOCK, total)
            raw.executemany(sql, zip(*(values[i][start:stop] for i in staged), strict=True))
            if progress is not None:
                progress(stop, total)
        cols = ", ".join(quote(names[i]) for i in select)
        picked = ", ".join(select.values())
        hist = quote(layer + "_history")
        raw.execute(
            f"INSERT INTO {hist} ({cols}, valid_from) SELECT {picked}, {int(version)} "
            "FROM temp.sm_stage",
            constants,
        )
        raw.execute(
            f"INSERT INTO {quote(layer)} ({cols}) SELECT {picked} FROM temp.sm_stage", constants
        )
        conn.exec_driver_sql("DROP TABLE temp.sm_stage")

    def temp_ids(self, conn, ids) -> str:
        conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS sm_ids (id TEXT PRIMARY KEY)")
        conn.exec_driver_sql("DELETE FROM sm_ids")
        raw = _driver(conn)
        raw.executemany("INSERT INTO sm_ids VALUES (?)", ((i,) for i in ids))
        return "sm_ids"

    def table_checksum(self, conn, table, order_by) -> str:
        import hashlib

        h = hashlib.md5()
        for row in conn.exec_driver_sql(f"SELECT * FROM {quote(table)} ORDER BY {order_by}"):
            h.update(repr(tuple(row)).encode())
        return h.hexdigest()

    def checkpoint(self) -> None:
        self._close_reader()
        raw = self.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()


_POINT_BLOB = np.dtype(
    [("head", "S8"), ("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")], align=False
)


def _point_blobs(xy: np.ndarray) -> list[bytes]:
    """GeoPackage blobs of 2-D points: the header, then ISO WKB (little-endian, type 1,
    x, y), 29 bytes each, laid out by numpy instead of shapely's WKB writer (0.9 s less
    for 1,000,000 points; the same bytes, tested)."""
    rec = np.empty(len(xy), dtype=_POINT_BLOB)
    rec["head"], rec["order"], rec["kind"] = GPKG_HEADER, 1, 1
    rec["x"], rec["y"] = xy[:, 0], xy[:, 1]
    raw = rec.tobytes()
    size = _POINT_BLOB.itemsize
    return [raw[i : i + size] for i in range(0, len(raw), size)]


class PostGIS(Backend):
    """PostgreSQL with PostGIS: geometries as ``geometry(Geometry, 4326)``, bulk by COPY."""

    name = "postgis"
    geom_type = f"geometry(Geometry, {SRID})"
    serial_pk = "BIGSERIAL PRIMARY KEY"

    @classmethod
    def connect(cls, url: str) -> PostGIS:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        engine = sa.create_engine(url, pool_pre_ping=True)
        return cls(engine, engine.url.render_as_string(hide_password=True))

    def create_meta(self, conn: sa.Connection) -> None:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION sm_refuse() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'history is append-only'; END $$ LANGUAGE plpgsql"
        )

    def append_only(
        self, conn: sa.Connection, table: str, *, closable: bool, columns: Sequence[str] = ()
    ) -> None:
        # as on SQLite, by the columns an UPDATE sets: closing a version (setting only
        # valid_to, once) fires no trigger at all, so closing 100,000 rows costs nothing
        # more than the UPDATE (a row-level check comparing whole rows cost ~1 ms a row)
        t = quote(table)
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {quote(table + '_append_only')} ON {t}")
        fixed = ", ".join(quote(c) for c in columns if c != "valid_to")
        heads = {
            "_no_delete": "BEFORE DELETE",
            "_no_update": f"BEFORE UPDATE OF {fixed}" if closable else "BEFORE UPDATE",
        }
        if closable:
            heads["_close_once"] = "BEFORE UPDATE OF valid_to"
        for name, head in heads.items():
            when = " WHEN (OLD.valid_to IS NOT NULL)" if name == "_close_once" else ""
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {quote(table + name)} ON {t}")
            conn.exec_driver_sql(
                f"CREATE TRIGGER {quote(table + name)} {head} ON {t} FOR EACH ROW{when} "
                "EXECUTE FUNCTION sm_refuse()"
            )

    def __init__(self, engine: sa.Engine, location: str) -> None:
        super().__init__(engine, location)
        self._reader: tuple[int, Any] | None = None
        self._reader_lock = threading.Lock()
        self._inherited: list[Any] = []

    def version(self) -> int:
        # one autocommit connection per process for the version asked before every web
        # request: a pooled one cost a pre-ping round trip and the pool's bookkeeping
        import psycopg

        with self._reader_lock:
            for attempt in (1, 2):
                if self._reader is None or self._reader[0] != os.getpid():
                    if self._reader is not None:  # a forked child: not ours to close
                        self._inherited.append(self._reader[1])
                    url = self.engine.url.set(drivername="postgresql")
                    con = psycopg.connect(url.render_as_string(hide_password=False),
                                          autocommit=True)  # fmt: skip
                    self._reader = (os.getpid(), con)
                reader = self._reader[1]
                try:
                    found = reader.execute("SELECT max(version) FROM sm_changes").fetchall()
                    return int(found[0][0] or 0)
                except psycopg.OperationalError:  # the server restarted: connect again
                    if attempt == 2:
                        raise
                    self._reader = None
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        with self._reader_lock:
            if self._reader is not None and self._reader[0] == os.getpid():
                self._reader[1].close()
            self._reader = None
        super().dispose()

    def lock(self, conn: sa.Connection) -> None:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7240501)")

    def geoms_to_db(self, geoms: np.ndarray) -> np.ndarray:
        # PostGIS's text input: "SRID=4326;" and hex WKB (bytes.hex is ~10x faster than
        # shapely's hex output, and setting the SRID on each geometry is not needed)
        out = np.full(len(geoms), None, dtype=object)
        given = ~shapely.is_missing(geoms)
        wkb = shapely.to_wkb(geoms[given], byte_order=1, flavor="iso")
        out[given] = [f"SRID={SRID};{w.hex()}" for w in wkb]
        return out

    def geom_select(self, column: str) -> str:
        return f"ST_AsBinary({quote(column)})"

    def geoms_from_db(self, values: Sequence[Any]) -> np.ndarray:
        return shapely.from_wkb(np.asarray(values, dtype=object))

    def _paramstyle(self, sql: str) -> str:
        return re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql.replace("%", "%%"))

    def copy_rows(self, conn, table, columns, rows) -> None:
        raw = _driver(conn)
        cols = ", ".join(quote(c) for c in columns)
        with raw.cursor() as cur, cur.copy(f"COPY {quote(table)} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def insert_features(self, conn, layer, names, kinds, values, version, progress=None) -> None:
        # COPY in CSV, each block written by pyarrow's CSV writer (C, no Python per row):
        # NULL is an empty unquoted field, text is always quoted, floats round-trip.
        # Each block is copied into both tables: COPY inserts in batches, where an
        # INSERT ... SELECT from the history inserts row by row (it took as long again).
        cols = ", ".join(quote(n) for n in names)
        total = len(values[0])
        types = {"geom": pa.string(), "text": pa.string(), "list": pa.string(),
                 "real": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}  # fmt: skip
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        hist = quote(layer + "_history")
        targets = (
            (f"COPY {hist} ({cols}, valid_from) FROM STDIN (FORMAT csv)", True),
            (f"COPY {quote(layer)} ({cols}) FROM STDIN (FORMAT csv)", False),
        )
        raw = _driver(conn)
        with raw.cursor() as cur:
            for start in range(0, total, BLOCK):
                stop = min(start + BLOCK, total)
                block = pa.table(
                    {
                        f"c{i}": pa.array(v[start:stop], types[k], from_pandas=True)
                        for i, (k, v) in enumerate(zip(kinds, values, strict=True))
                    }
                )
                for sql, versioned in targets:
                    rows = block
                    if versioned:
                        since = pa.array(np.full(stop - start, int(version), dtype=np.int64))
                        rows = block.append_column("valid_from", since)
                    buf = io.BytesIO()
                    pacsv.write_csv(rows, buf, options)
                    with cur.copy(sql) as copy:
                        copy.write(buf.getbuffer())
                if progress is not None:
                    progress(stop, total)

    def temp_ids(self, conn, ids) -> str:
        conn.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS sm_ids (id TEXT PRIMARY KEY) ON COMMIT DELETE ROWS"
        )
        conn.exec_driver_sql("DELETE FROM sm_ids")
        self.copy_rows(conn, "sm_ids", ["id"], ((i,) for i in ids))
        return "sm_ids"

    def table_checksum(self, conn, table, order_by) -> str:
        return conn.exec_driver_sql(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY {order_by}), '')) "
            f"FROM {quote(table)} t"
        ).scalar_one()


def _constant(values: np.ndarray) -> bool:
    """One value, not NULL, in every row (a sample of the first rows decides most)."""
    first = values[0] if len(values) else None
    if first is None:
        return False
    return bool((values[:64] == first).all()) and bool((values == first).all())


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """The same values row by row (a sample of the first rows decides most)."""
    return bool((a[:64] == b[:64]).all()) and bool((a == b).all())


def _all_none(values: np.ndarray) -> bool:
    # the first value settles most columns; pandas' isna is a C loop over the rest
    return bool(len(values)) and values[0] is None and bool(pd.isna(values).all())
