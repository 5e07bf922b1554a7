"""The store's tables of public feedback: reports, their photos, and suggestions.

Reports are not layers: they have no history table and no store version of their own
(a thousand reports must not make every web worker re-read the layers). What a report
changes in a layer, once a reviewer accepts it, is an ordinary store change
(:mod:`geo.feedback` applies it through the workspace). The rules (kinds, statuses,
photos, folding) live in :mod:`geo.feedback`; this module is the SQL, the same on the
GeoPackage and PostGIS backends.

Tables (created on first use, so a store made before them gains them):

``sm_reports``
    one row per report, folded duplicates counted in ``count`` (``last_at`` the latest)
``sm_report_photos``
    the re-encoded JPEG of a report, if any
``sm_suggestions``
    "a station is needed here": a point and a text, folded the same way

None of them is registered in ``gpkg_contents``: QGIS and GDAL do not list them, so the
photos and contacts stay out of a GeoPackage opened as a map.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from geo.store._store import Store

_REPORT_COLUMNS = (
    "id, facility_id, kind, text, lon, lat, contact, address_hash, count, status, reason, "
    "reviewer, created_at, last_at, reviewed_at, applied_version"
)
_SUGGESTION_COLUMNS = (
    "id, lon, lat, text, address_hash, count, status, reason, reviewer, created_at, last_at, "
    "reviewed_at"
)


@dataclass(frozen=True)
class ReportRow:
    """One stored report (``has_photo`` from the photo table)."""

    id: int
    facility_id: str
    kind: str
    text: str
    lon: float | None
    lat: float | None
    contact: str | None
    address_hash: str
    count: int
    status: str
    reason: str
    reviewer: str | None
    created_at: str
    last_at: str
    reviewed_at: str | None
    applied_version: int | None
    has_photo: bool = False


@dataclass(frozen=True)
class SuggestionRow:
    id: int
    lon: float
    lat: float
    text: str
    address_hash: str
    count: int
    status: str
    reason: str
    reviewer: str | None
    created_at: str
    last_at: str
    reviewed_at: str | None


class FeedbackTables:
    """SQL for the feedback tables of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.backend = store.backend
        self._ready = False

    # -- set-up -------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the tables (once per store, idempotent) and the address salt."""
        if self._ready:
            return
        b = self.backend
        blob = "BYTEA" if b.name == "postgis" else "BLOB"
        real, integer = b.real_type, b.int_type
        ddl = [
            f"""CREATE TABLE IF NOT EXISTS sm_reports (id {b.serial_pk},
                facility_id TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
                lon {real}, lat {real}, contact TEXT, address_hash TEXT NOT NULL,
                count {integer} NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
                reviewer TEXT, created_at TEXT NOT NULL, last_at TEXT NOT NULL,
                reviewed_at TEXT, applied_version {integer})""",
            "CREATE INDEX IF NOT EXISTS sm_reports_fold ON sm_reports "
            "(facility_id, kind, address_hash, last_at)",
            "CREATE INDEX IF NOT EXISTS sm_reports_status ON sm_reports (status, id)",
            f"""CREATE TABLE IF NOT EXISTS sm_report_photos (report_id {integer} PRIMARY KEY
                REFERENCES sm_reports (id), jpeg {blob} NOT NULL, width {integer} NOT NULL,
                height {integer} NOT NULL)""",
            f"""CREATE TABLE IF NOT EXISTS sm_suggestions (id {b.serial_pk},
                lon {real} NOT NULL, lat {real} NOT NULL, text TEXT NOT NULL,
                address_hash TEXT NOT NULL, count {integer} NOT NULL, status TEXT NOT NULL,
                reason TEXT NOT NULL, reviewer TEXT, created_at TEXT NOT NULL,
                last_at TEXT NOT NULL, reviewed_at TEXT)""",
            "CREATE INDEX IF NOT EXISTS sm_suggestions_fold ON sm_suggestions "
            "(address_hash, last_at)",
        ]
        with b.write() as conn:
            for sql in ddl:
                conn.exec_driver_sql(sql)
            conn.execute(
                sa.text(
                    "INSERT INTO sm_meta (key, value) SELECT 'feedback_salt', :v WHERE NOT "
                    "EXISTS (SELECT 1 FROM sm_meta WHERE key = 'feedback_salt')"
                ),
                {"v": secrets.token_hex(32)},
            )
        self._ready = True

    @property
    def salt(self) -> str:
        """The secret that addresses are hashed with (kept in ``sm_meta``)."""
        self.ensure()
        value = self.store.get_meta("feedback_salt")
        assert value is not None
        return value

    # -- reports ------------------------------------------------------------------
    def add_or_fold_report(
        self,
        *,
        facility_id: str,
        kind: str,
        text: str,
        lon: float | None,
        lat: float | None,
        contact: str | None,
        address_hash: str,
        status: str,
        now: str,
        since: str,
        foldable: Sequence[str],
        photo: tuple[bytes, int, int] | None,
    ) -> tuple[int, bool]:
        """Insert a report, or fold it into the same address's report of the same
        facility and kind made since ``since`` whose status is one of ``foldable``.

        A fold adds one to ``count``, moves ``last_at``, and keeps the newer of each value
        given (text, point, contact, photo). Returns ``(id, folded)``.
        """
        self.ensure()
        with self.backend.write() as conn:
            marks = ", ".join(f":s{i}" for i in range(len(foldable)))
            found = conn.execute(
                sa.text(
                    "SELECT id FROM sm_reports WHERE facility_id = :f AND kind = :k "
                    f"AND address_hash = :a AND last_at >= :since AND status IN ({marks}) "
                    "ORDER BY id DESC LIMIT 1"
                ),
                {
                    "f": facility_id,
                    "k": kind,
                    "a": address_hash,
                    "since": since,
                    **{f"s{i}": s for i, s in enumerate(foldable)},
                },
            ).scalar()
            if found is None:
                rid = int(
                    conn.execute(
                        sa.text(
                            "INSERT INTO sm_reports (facility_id, kind, text, lon, lat, contact, "
                            "address_hash, count, status, reason, created_at, last_at) VALUES "
                            "(:f, :k, :t, :lon, :lat, :c, :a, 1, :s, '', :now, :now) "
                            "RETURNING id"
                        ),
                        {
                            "f": facility_id,
                            "k": kind,
                            "t": text,
                            "lon": lon,
                            "lat": lat,
                            "c": contact,
                            "a": address_hash,
                            "s": status,
                            "now": now,
                        },
                    ).scalar_one()
                )
            else:
                rid = int(found)
                conn.execute(
                    sa.text(
                        "UPDATE sm_reports SET count = count + 1, last_at = :now, "
                        "text = CASE WHEN :t = '' THEN text ELSE :t END, "
                        "lon = coalesce(:lon, lon), lat = coalesce(:lat, lat), "
                        "contact = coalesce(:c, contact) WHERE id = :id"
                    ),
                    {"now": now, "t": text, "lon": lon, "lat": lat, "c": contact, "id": rid},
                )
            if photo is not None:
                conn.execute(
                    sa.text("DELETE FROM sm_report_photos WHERE report_id = :id"), {"id": rid}
                )
                conn.execute(
                    sa.text("INSERT INTO sm_report_photos VALUES (:id, :jpeg, :w, :h)"),
                    {"id": rid, "jpeg": photo[0], "w": photo[1], "h": photo[2]},
                )
        return rid, found is not None

    def _report_rows(self, conn, where: str, params: dict[str, Any], tail: str = "") -> list:
        cols = ", ".join(f"r.{c.strip()}" for c in _REPORT_COLUMNS.split(","))
        rows = conn.execute(
            sa.text(
                f"SELECT {cols}, (SELECT count(*) FROM sm_report_photos p "
                f"WHERE p.report_id = r.id) FROM sm_reports r {where} {tail}"
            ),
            params,
        ).fetchall()
        return [
            ReportRow(
                int(r[0]),
                r[1],
                r[2],
                r[3],
                None if r[4] is None else float(r[4]),
                None if r[5] is None else float(r[5]),
                r[6],
                r[7],
                int(r[8]),
                r[9],
                r[10],
                r[11],
                r[12],
                r[13],
                r[14],
                None if r[15] is None else int(r[15]),
                bool(r[16]),
            )  # fmt: skip
            for r in rows
        ]

    def report(self, report_id: int) -> ReportRow | None:
        self.ensure()
        with self.backend.engine.connect() as conn:
            rows = self._report_rows(conn, "WHERE r.id = :id", {"id": int(report_id)})
        return rows[0] if rows else None

    def reports(
        self,
        *,
        statuses: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        facility_id: str | None = None,
        limit: int | None = None,
    ) -> list[ReportRow]:
        """Reports, newest first, filtered by status, kind and facility."""
        self.ensure()
        where, params = [], {}
        for name, values in (("status", statuses), ("kind", kinds)):
            if values is not None:
                marks = ", ".join(f":{name}{i}" for i in range(len(values))) or "NULL"
                where.append(f"r.{name} IN ({marks})")
                params.update({f"{name}{i}": v for i, v in enumerate(values)})
        if facility_id is not None:
            where.append("r.facility_id = :fid")
            params["fid"] = facility_id
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        tail = "ORDER BY r.last_at DESC, r.id DESC"
        if limit is not None:
            tail += f" LIMIT {int(limit)}"
        with self.backend.engine.connect() as conn:
            return self._report_rows(conn, clause, params, tail)

    def report_counts(self, *, exclude_kinds: Sequence[str] = ()) -> dict[str, int]:
        """How many reports there are per status."""
        self.ensure()
        marks = ", ".join(f":k{i}" for i in range(len(exclude_kinds)))
        where = f"WHERE kind NOT IN ({marks})" if exclude_kinds else ""
        with self.backend.engine.connect() as conn:
            rows = conn.execute(
                sa.text(f"SELECT status, count(*) FROM sm_reports {where} GROUP BY status"),
                {f"k{i}": k for i, k in enumerate(exclude_kinds)},
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def photo(self, report_id: int) -> tuple[bytes, int, int] | None:
        self.ensure()
        with self.backend.engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT jpeg, width, height FROM sm_report_photos WHERE report_id = :id"),
                {"id": int(report_id)},
            ).first()
        return None if row is None else (bytes(row[0]), int(row[1]), int(row[2]))

    def set_report_status(
        self,
        report_ids: Sequence[int],
        *,
        status: str,
        reason: str,
        reviewer: str,
        now: str,
        applied_version: int | None,
        drop_contact: bool,
        only_from: Sequence[str],
    ) -> int:
        """Set the status of reports still in one of ``only_from``; the number changed.

        ``drop_contact`` deletes their contact (a report that closes keeps none)."""
        self.ensure()
        if not report_ids:
            return 0
        ids = ", ".join(f":i{n}" for n in range(len(report_ids)))
        froms = ", ".join(f":o{n}" for n in range(len(only_from)))
        contact = ", contact = NULL" if drop_contact else ""
        with self.backend.write() as conn:
            return conn.execute(
                sa.text(
                    f"UPDATE sm_reports SET status = :s, reason = :r, reviewer = :u, "
                    f"reviewed_at = :now, applied_version = coalesce(:v, applied_version)"
                    f"{contact} WHERE id IN ({ids}) AND status IN ({froms})"
                ),
                {
                    "s": status,
                    "r": reason,
                    "u": reviewer,
                    "now": now,
                    "v": applied_version,
                    **{f"i{n}": int(i) for n, i in enumerate(report_ids)},
                    **{f"o{n}": s for n, s in enumerate(only_from)},
                },
            ).rowcount

    def last_confirmed(self, kind: str, facility_id: str | None = None) -> dict[str, str]:
        """The latest time each facility got a report of ``kind`` (the confirmations)."""
        self.ensure()
        sql = "SELECT facility_id, max(last_at) FROM sm_reports WHERE kind = :k"
        params: dict[str, Any] = {"k": kind}
        if facility_id is not None:
            sql += " AND facility_id = :f"
            params["f"] = facility_id
        with self.backend.engine.connect() as conn:
            rows = conn.execute(sa.text(sql + " GROUP BY facility_id"), params).fetchall()
        return {r[0]: r[1] for r in rows}

    # -- suggestions --------------------------------------------------------------
    def add_or_fold_suggestion(
        self, *, lon: float, lat: float, text: str, address_hash: str, now: str, since: str,
        near_deg: float,
    ) -> tuple[int, bool]:  # fmt: skip
        """Insert a suggestion, or fold it into the same address's open suggestion made
        since ``since`` within ``near_deg`` degrees of it. Returns ``(id, folded)``."""
        self.ensure()
        with self.backend.write() as conn:
            found = conn.execute(
                sa.text(
                    "SELECT id FROM sm_suggestions WHERE address_hash = :a AND last_at >= :since "
                    "AND status = 'new' AND abs(lon - :lon) <= :d AND abs(lat - :lat) <= :d "
                    "ORDER BY id DESC LIMIT 1"
                ),
                {"a": address_hash, "since": since, "lon": lon, "lat": lat, "d": near_deg},
            ).scalar()
            if found is None:
                sid = conn.execute(
                    sa.text(
                        "INSERT INTO sm_suggestions (lon, lat, text, address_hash, count, status, "
                        "reason, created_at, last_at) VALUES (:lon, :lat, :t, :a, 1, 'new', '', "
                        ":now, :now) RETURNING id"
                    ),
                    {"lon": lon, "lat": lat, "t": text, "a": address_hash, "now": now},
                ).scalar_one()
                return int(sid), False
            conn.execute(
                sa.text(
                    "UPDATE sm_suggestions SET count = count + 1, last_at = :now, "
                    "text = CASE WHEN :t = '' THEN text ELSE :t END WHERE id = :id"
                ),
                {"now": now, "t": text, "id": int(found)},
            )
            return int(found), True

    def suggestions(self, *, statuses: Sequence[str] | None = None) -> list[SuggestionRow]:
        self.ensure()
        params: dict[str, Any] = {}
        where = ""
        if statuses is not None:
            marks = ", ".join(f":s{i}" for i in range(len(statuses))) or "NULL"
            where = f"WHERE status IN ({marks})"
            params = {f"s{i}": s for i, s in enumerate(statuses)}
        with self.backend.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    f"SELECT {_SUGGESTION_COLUMNS} FROM sm_suggestions {where} "
                    "ORDER BY last_at DESC, id DESC"
                ),
                params,
            ).fetchall()
        return [
            SuggestionRow(
                int(r[0]),
                float(r[1]),
                float(r[2]),
                r[3],
                r[4],
                int(r[5]),
                r[6],
                r[7],
                r[8],
                r[9],
                r[10],
                r[11],
            )  # fmt: skip
            for r in rows
        ]

    def set_suggestion_status(
        self, suggestion_id: int, *, status: str, reason: str, reviewer: str, now: str
    ) -> int:
        self.ensure()
        with self.backend.write() as conn:
            return conn.execute(
                sa.text(
                    "UPDATE sm_suggestions SET status = :s, reason = :r, reviewer = :u, "
                    "reviewed_at = :now WHERE id = :id AND status = 'new'"
                ),
                {"s": status, "r": reason, "u": reviewer, "now": now, "id": int(suggestion_id)},
            ).rowcount
