"""The public keeps the map true: reports, confirmations and suggestions, and their review.

Anyone may report a facility (closed, moved, hours wrong, equipment missing or broken,
something else, or "still here"), with a short text and a photo, and suggest a place that
needs a station. Nobody signs in and nothing personal is asked: an optional contact is
kept only with consent and deleted when the report closes (PIPL), and the sender's
address is kept only as a keyed hash, to fold one person's repeated reports into one.

A planner (editor or admin) reviews the queue: accepting a "moved" or "closed" report
changes the facility layer as an ordinary store change credited to the reviewer, so the
layer's history shows it.

    >>> import tempfile
    >>> from geo import Workspace
    >>> folder = tempfile.TemporaryDirectory()
    >>> ws = Workspace.from_demo("beilun", folder.name)
    >>> fb = Feedback(ws)
    >>> r = fb.report("OS001", "hours", text="closes at 18:00, not 20:00", address="10.0.0.1")
    >>> r.status, r.count
    ('new', 1)
    >>> fb.report("OS001", "hours", address="10.0.0.1").count   # the same sender, folded
    2
    >>> fb.review(r.id, "rejected", reviewer="alice", reason="checked: 20:00").status
    'rejected'
    >>> ws.close(); folder.cleanup()

See docs/feedback.md.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point

from geo.errors import ValidationError
from geo.store._feedback import FeedbackTables, ReportRow, SuggestionRow

if TYPE_CHECKING:
    from geo.workspace import Workspace

#: What a report says about a facility; ``confirm`` is "still here".
KINDS = ("closed", "moved", "hours", "equipment", "other", "confirm")
#: A report's statuses; ``accepted`` and ``rejected`` close it.
STATUSES = ("new", "accepted", "has_issues", "rejected")
OPEN = ("new", "has_issues")
CLOSED = ("accepted", "rejected")
#: Kinds whose acceptance changes the facility layer.
APPLIED_KINDS = ("moved", "closed")

MAX_TEXT = 500
MAX_CONTACT = 100
MAX_REASON = 500
#: Photos: the upload's bytes, its pixels (a decompression bomb is refused before it is
#: decoded), the formats read (by content; Pillow tries no other decoder), the longest
#: side kept.
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_PIXELS = 50_000_000
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP")  # a phone's MPO opens as JPEG
PHOTO_MAX_SIDE = 1600
PHOTO_QUALITY = 85
#: Reports of one facility and kind from one address within this window fold into one.
FOLD_WINDOW = timedelta(hours=24)
#: Suggestions from one address this close together (degrees, about 100 m) fold.
SUGGESTION_FOLD_DEG = 0.001

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
# what makes an image also a web page, a script, a vector drawing or a document: such a
# file is refused even though Pillow could read its pixels
_FOREIGN = re.compile(
    rb"<\s*(?:svg|script|html|body|iframe|object|embed|img|a|meta|style|link)[\s>/]"
    rb"|<\?(?:php|xml)|<!doctype|<!\[cdata\[|<!entity|javascript:"
    rb"|\bon[a-z]+\s*=\s*[\"'a-z]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Photo:
    """A photo as kept: a JPEG with no metadata (no EXIF, no GPS), and its size."""

    jpeg: bytes
    width: int
    height: int


def _refuse_photo(why: str) -> ValidationError:
    return ValidationError(f"photo: {why}")


def clean_photo(data: bytes | bytearray | memoryview) -> Photo:
    """Check an uploaded photo by its content and re-encode it as a plain JPEG.

    Refused (:class:`~geo.errors.ValidationError`, field ``photo``): an empty file or
    one over :data:`MAX_PHOTO_BYTES`; anything that is not a JPEG, PNG or WebP image by
    its content (SVG, HTML, scripts, PDFs and the like are never decoded); an image that
    also carries markup or an archive (a polyglot); more than :data:`MAX_PHOTO_PIXELS`
    pixels (decompression bombs, checked from the header before decoding); a truncated or
    corrupt image.

    The result is re-encoded from its pixels alone: turned upright by its EXIF
    orientation, scaled to :data:`PHOTO_MAX_SIDE` at most, RGB, with no EXIF (so no GPS
    position), no comment, no ICC profile.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"photo must be bytes, got {type(data).__name__}")
    raw = bytes(data)
    if not raw:
        raise _refuse_photo("the file is empty")
    if len(raw) > MAX_PHOTO_BYTES:
        raise _refuse_photo(
            f"{len(raw):,} bytes; at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB is taken"
        )
    if raw[:1024].lstrip()[:1] == b"<" or b"%PDF-" in raw[:1024]:
        raise _refuse_photo("a web page, SVG or document, not a photo (JPEG, PNG or WebP)")
    foreign = _FOREIGN.search(raw)
    if foreign is not None:
        shown = foreign.group(0)[:20].decode("ascii", "replace")
        raise _refuse_photo(
            f"the file also holds markup or script ({shown!r}); send the photo itself"
        )
    if b"PK\x05\x06" in raw[-66_000:] or b"PK\x03\x04" in raw[:4]:
        raise _refuse_photo("the file is also an archive (ZIP); send the photo itself")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(raw), formats=list(PHOTO_FORMATS)) as im:
                width, height = im.size
                if width * height > MAX_PHOTO_PIXELS:
                    raise _refuse_photo(
                        f"{width} x {height} pixels; at most {MAX_PHOTO_PIXELS:,} are taken"
                    )
                im.verify()
            with Image.open(io.BytesIO(raw), formats=list(PHOTO_FORMATS)) as im:
                if im.format in ("JPEG", "MPO"):
                    im.draft("RGB", (PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))  # decode scaled down
                im.load()
                upright = ImageOps.exif_transpose(im)
                if upright.mode in ("RGBA", "LA", "PA") or (
                    upright.mode == "P" and "transparency" in upright.info
                ):
                    rgba = upright.convert("RGBA")
                    rgb = Image.new("RGB", rgba.size, (255, 255, 255))
                    rgb.paste(rgba, mask=rgba.getchannel("A"))
                else:
                    rgb = upright.convert("RGB")
                rgb.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE), Image.Resampling.LANCZOS)
                # a new image from the pixels alone: nothing of the file's metadata
                clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())
        except ValidationError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _refuse_photo(f"too many pixels ({exc})") from exc
        except UnidentifiedImageError as exc:
            raise _refuse_photo("not a JPEG, PNG or WebP image") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise _refuse_photo(f"the image is damaged or truncated ({exc})") from exc
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=PHOTO_QUALITY, optimize=True)
    return Photo(out.getvalue(), clean.width, clean.height)


def clean_text(value: Any, field: str, limit: int = MAX_TEXT) -> str:
    """User text as kept: NFC, line ends as ``\\n``, control and direction-override
    characters removed, outer spaces trimmed; over ``limit`` characters is refused.

    It is kept as text: pages escape it wherever it is shown.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{field}: text expected, got {type(value).__name__}")
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text).strip()
    if len(text) > limit:
        raise ValidationError(f"{field}: {len(text)} characters; at most {limit} are taken")
    return text


def check_point(lon: Any, lat: Any, field: str = "lon/lat") -> tuple[float, float]:
    """A WGS84 longitude and latitude as finite floats in range."""
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field}: numbers expected, got {lon!r}, {lat!r}") from exc
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise ValidationError(f"{field}: ({lon!r}, {lat!r}) is not a longitude and latitude")
    return x, y


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")


Report = ReportRow
Suggestion = SuggestionRow


class Feedback:
    """The public feedback of one workspace.

    Parameters
    ----------
    workspace : geo.Workspace
    fold_window : timedelta
        Reports of one facility and kind from one address within this fold into one.
    clock : callable, optional
        Returns the current time (UTC); for tests.
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        fold_window: timedelta = FOLD_WINDOW,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.workspace = workspace
        self.tables = FeedbackTables(workspace.store)
        self.fold_window = fold_window
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- sending ------------------------------------------------------------------
    def address_hash(self, address: str) -> str:
        """The sender's address as kept: an HMAC-SHA256 keyed with the store's secret, so
        one sender's reports fold together and the address itself is never stored."""
        key = self.tables.salt.encode()
        return hmac.new(key, str(address or "").encode(), hashlib.sha256).hexdigest()[:32]

    def _facility_exists(self, facility_id: Any) -> str:
        if not isinstance(facility_id, str) or not facility_id or len(facility_id) > 200:
            raise ValidationError(f"facility: an id expected, got {facility_id!r}")
        try:
            self.workspace.get_facility(facility_id)
        except KeyError:
            raise KeyError(f"no facility {facility_id!r} in the current layer") from None
        return facility_id

    def report(
        self,
        facility_id: str,
        kind: str,
        *,
        text: str | None = None,
        moved_to: tuple[float, float] | None = None,
        photo: bytes | Photo | None = None,
        contact: str | None = None,
        consent: bool = False,
        address: str = "",
    ) -> Report:
        """Keep a report about a facility (or fold it into the sender's earlier one).

        Parameters
        ----------
        facility_id : str
            A facility of the current layer (else ``KeyError``).
        kind : {"closed", "moved", "hours", "equipment", "other", "confirm"}
        text : str, optional
            At most :data:`MAX_TEXT` characters.
        moved_to : (lon, lat), optional
            WGS84; required for ``moved``, refused for the other kinds.
        photo : bytes or Photo, optional
            Checked and re-encoded by :func:`clean_photo`.
        contact : str, optional
            Kept only with ``consent``; deleted when the report closes.
        address : str
            The sender's network address, kept only as :meth:`address_hash`.

        Raises
        ------
        ValidationError
            Naming the field: an unknown kind, too long a text, a bad point or photo,
            a contact without consent.
        """
        fid = self._facility_exists(facility_id)
        if kind not in KINDS:
            raise ValidationError(f"kind: one of {', '.join(KINDS)} expected, got {kind!r}")
        body = clean_text(text, "text")
        point = None
        if kind == "moved":
            if moved_to is None:
                raise ValidationError("lon/lat: a 'moved' report needs the new position")
            point = check_point(*moved_to)
        elif moved_to is not None:
            raise ValidationError(f"lon/lat: only a 'moved' report takes a position, not {kind!r}")
        kept_contact = clean_text(contact, "contact", MAX_CONTACT) or None
        if kept_contact and consent is not True:
            raise ValidationError(
                "consent: a contact is kept only when you agree to it (tick the box), "
                "and is deleted when the report is closed"
            )
        if kind == "confirm" and (photo is not None or kept_contact):
            raise ValidationError("photo/contact: a confirmation takes neither")
        if kind == "other" and not body and photo is None:
            raise ValidationError("text: say what is wrong (or add a photo)")
        kept_photo = None
        if photo is not None:
            p = photo if isinstance(photo, Photo) else clean_photo(photo)
            kept_photo = (p.jpeg, p.width, p.height)
        now = self.clock()
        # a confirmation is accepted as it comes: it only moves "last confirmed"
        status = "accepted" if kind == "confirm" else "new"
        rid, _folded = self.tables.add_or_fold_report(
            facility_id=fid,
            kind=kind,
            text=body,
            lon=None if point is None else point[0],
            lat=None if point is None else point[1],
            contact=kept_contact,
            address_hash=self.address_hash(address),
            status=status,
            now=_stamp(now),
            since=_stamp(now - self.fold_window),
            foldable=("accepted",) if kind == "confirm" else OPEN,
            photo=kept_photo,
        )
        found = self.tables.report(rid)
        assert found is not None
        return found

    def confirm(self, facility_id: str, *, address: str = "") -> Report:
        """ "Still here": the facility's :meth:`last_confirmed` becomes now."""
        return self.report(facility_id, "confirm", address=address)

    def suggest(
        self, lon: float, lat: float, *, text: str | None = None, address: str = ""
    ) -> Suggestion:
        """Keep "a station is needed here" at WGS84 ``(lon, lat)`` (folded like reports)."""
        x, y = check_point(lon, lat)
        body = clean_text(text, "text")
        now = self.clock()
        sid, _ = self.tables.add_or_fold_suggestion(
            lon=x, lat=y, text=body, address_hash=self.address_hash(address),
            now=_stamp(now), since=_stamp(now - self.fold_window),
            near_deg=SUGGESTION_FOLD_DEG,
        )  # fmt: skip
        return next(s for s in self.tables.suggestions() if s.id == sid)

    # -- reading ------------------------------------------------------------------
    def get(self, report_id: int) -> Report:
        found = self.tables.report(int(report_id))
        if found is None:
            raise KeyError(f"no report {report_id!r}")
        return found

    def reports(
        self,
        status: str | Sequence[str] | None = None,
        *,
        facility_id: str | None = None,
        include_confirmations: bool = False,
        limit: int | None = None,
    ) -> list[Report]:
        """Reports, newest first: by status (one or several), of one facility; without
        the confirmations unless asked."""
        statuses = [status] if isinstance(status, str) else status
        for s in statuses or ():
            if s not in STATUSES:
                raise ValidationError(f"status: one of {', '.join(STATUSES)} expected, got {s!r}")
        kinds = None if include_confirmations else [k for k in KINDS if k != "confirm"]
        return self.tables.reports(
            statuses=statuses, kinds=kinds, facility_id=facility_id, limit=limit
        )

    def counts(self) -> dict[str, int]:
        """Reports per status (confirmations left out), every status present."""
        found = self.tables.report_counts(exclude_kinds=("confirm",))
        return {s: found.get(s, 0) for s in STATUSES}

    def photo(self, report_id: int) -> Photo | None:
        found = self.tables.photo(int(report_id))
        return None if found is None else Photo(*found)

    def last_confirmed(self, facility_id: str) -> datetime | None:
        """When someone last said "still here" about the facility (None: never)."""
        found = self.tables.last_confirmed("confirm", facility_id).get(facility_id)
        return None if found is None else datetime.fromisoformat(found)

    def stale(
        self, days: float, *, facility_type: str | None = None, now: datetime | None = None
    ) -> gpd.GeoDataFrame:
        """Facilities of the current layer not confirmed for ``days`` days (or never).

        Columns ``id``, ``name``, ``type``, ``address``, ``last_confirmed`` (ISO text or
        None), ``days`` (since then; NaN: never) and the geometry; never-confirmed first,
        then the longest unconfirmed.
        """
        if not (isinstance(days, int | float) and math.isfinite(days) and days >= 0):
            raise ValidationError(f"days: a number of days >= 0 expected, got {days!r}")
        fac = self.workspace.facilities
        if facility_type is not None:
            fac = fac[fac["type"] == facility_type]
        seen = self.tables.last_confirmed("confirm")
        now = now or self.clock()
        last = [seen.get(str(i)) for i in fac["id"]]
        age = np.array(
            [
                np.nan if t is None else (now - datetime.fromisoformat(t)).total_seconds() / 86400
                for t in last
            ],
            dtype=float,
        )
        out = gpd.GeoDataFrame(
            {
                "id": fac["id"].astype(str).to_numpy(),
                "name": fac["name"].astype(str).to_numpy(),
                "type": fac["type"].astype(str).to_numpy(),
                "address": fac["address"].astype(str).to_numpy()
                if "address" in fac
                else [""] * len(fac),
                "last_confirmed": pd.Series(last, dtype=object).to_numpy(),
                "days": age,
            },
            geometry=fac.geometry.to_numpy(),
            crs="EPSG:4326",
        )
        out = out[np.isnan(age) | (age >= days)]
        order = np.lexsort(
            (out["id"].to_numpy(), -np.nan_to_num(out["days"].to_numpy(), nan=np.inf))
        )
        return out.iloc[order].reset_index(drop=True)

    def suggestions(self, status: str | None = "new") -> list[Suggestion]:
        return self.tables.suggestions(statuses=None if status is None else [status])

    def suggestion_coverage(
        self,
        facility_type: str,
        *,
        resolution: int = 8,
        threshold_m: float | None = None,
        network=None,
        modes=None,
        registry=None,
        status: str | None = "new",
    ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        """Each suggestion with whether ``facility_type`` covers its spot, and the
        suggestions clustered on the H3 grid (as :func:`geo.demand.to_h3` bins demand).

        Returns ``(points, clusters)``. ``points``: ``id``, ``text``, ``count``,
        ``covered``, ``distance_m`` (to the nearest facility of the type, as
        :func:`geo.coverage.coverage` measures it), ``h3``. ``clusters``: ``h3``,
        ``suggestions`` (distinct suggestions), ``uncovered`` (of them, not covered),
        ``senders`` (distinct addresses) and the hexagon; most uncovered first.
        """
        from geo.coverage import coverage
        from geo.demand import h3_cells, to_h3

        rows = self.suggestions(status)
        points = gpd.GeoDataFrame(
            {
                "id": [s.id for s in rows],
                "text": [s.text for s in rows],
                "count": [s.count for s in rows],
                "weight": np.ones(len(rows)),
                "sender": [s.address_hash for s in rows],
            },
            geometry=[Point(s.lon, s.lat) for s in rows],
            crs="EPSG:4326",
        )
        if not len(points):
            empty = gpd.GeoDataFrame(
                {"h3": [], "suggestions": [], "uncovered": [], "senders": []},
                geometry=gpd.GeoSeries([], crs="EPSG:4326"),
            )
            return points.assign(covered=[], distance_m=[], h3=[]), empty
        res = coverage(
            self.workspace.facilities, points, facility_type=facility_type,
            threshold_m=threshold_m, network=network, modes=modes,
            registry=registry if registry is not None else self.workspace.registry,
        )  # fmt: skip
        points["covered"] = res["covered"].to_numpy(dtype=bool)
        points["distance_m"] = res["distance_m"].to_numpy(dtype=float)
        xy = shapely.get_coordinates(points.geometry.values)
        points["h3"] = [h3.int_to_str(int(c)) for c in h3_cells(xy[:, 0], xy[:, 1], resolution)]
        points["uncovered"] = (~points["covered"]).astype(float)
        cells = to_h3(points, resolution=resolution, by=(), weight="uncovered")
        senders = points.groupby("h3")["sender"].nunique()
        clusters = gpd.GeoDataFrame(
            {
                "h3": cells["h3"].to_numpy(),
                "suggestions": cells["n"].to_numpy(dtype=int),
                "uncovered": cells["weight"].to_numpy(dtype=int),
                "senders": senders.reindex(cells["h3"]).to_numpy(dtype=int),
            },
            geometry=cells.geometry.to_numpy(),
            crs="EPSG:4326",
        )
        order = np.lexsort(
            (clusters["h3"].to_numpy(), -clusters["suggestions"].to_numpy(),
             -clusters["uncovered"].to_numpy())
        )  # fmt: skip
        points = points.drop(columns=["weight", "sender", "uncovered"])
        return points, clusters.iloc[order].reset_index(drop=True)

    # -- review -------------------------------------------------------------------
    def review(self, report_id: int, status: str, *, reviewer: str, reason: str = "") -> Report:
        """Decide a report: ``accepted``, ``has_issues`` or ``rejected`` (the last two
        need a reason). A closed report's contact is deleted.

        Accepting a ``moved`` report moves the facility to the report's point, and a
        ``closed`` report removes it from the layer (the history keeps it), each as one
        store change by ``reviewer`` whose reason names the report. Other open reports
        of the same facility and kind are closed with it.

        Raises
        ------
        ValidationError
            A status that is not a decision, a missing reason, a report already closed,
            a facility no longer in the layer, a point the layer refuses.
        geo.errors.ConflictError
            When the facility was saved in between (nothing is written).
        """
        if status not in ("accepted", "has_issues", "rejected"):
            raise ValidationError(
                f"status: accepted, has_issues or rejected expected, got {status!r}"
            )
        if not isinstance(reviewer, str) or not reviewer.strip():
            raise ValueError(f"reviewer must name who decides, got {reviewer!r}")
        row = self.get(report_id)
        if row.status in CLOSED:
            raise ValidationError(f"report #{row.id} is already {row.status}")
        why = clean_text(reason, "reason", MAX_REASON)
        if status != "accepted" and not why:
            raise ValidationError(f"reason: say why the report is {status.replace('_', ' ')}")
        applied = None
        if status == "accepted" and row.kind in APPLIED_KINDS:
            applied = self._apply(row, reviewer, why)
        now = _stamp(self.clock())
        changed = self.tables.set_report_status(
            [row.id], status=status, reason=why, reviewer=reviewer, now=now,
            applied_version=applied, drop_contact=status in CLOSED, only_from=OPEN,
        )  # fmt: skip
        if not changed:
            raise ValidationError(f"report #{row.id} was decided by someone else meanwhile")
        if applied is not None:
            others = [
                r.id
                for r in self.reports(OPEN, facility_id=row.facility_id)
                if r.kind == row.kind and r.id != row.id
            ]
            self.tables.set_report_status(
                others, status="accepted", reason=f"applied with report #{row.id}",
                reviewer=reviewer, now=now, applied_version=applied, drop_contact=True,
                only_from=OPEN,
            )  # fmt: skip
        return self.get(row.id)

    def _apply(self, row: Report, reviewer: str, why: str) -> int:
        ws = self.workspace
        try:
            _, version = ws.get_facility(row.facility_id)
        except KeyError:
            raise ValidationError(
                f"report #{row.id}: facility {row.facility_id!r} is no longer in the layer; "
                "reject the report"
            ) from None
        reason = f"public report #{row.id} ({row.kind}) accepted" + (f": {why}" if why else "")
        if row.kind == "moved":
            if row.lon is None or row.lat is None:
                raise ValidationError(f"report #{row.id}: a 'moved' report without a position")
            return ws.update_facility(
                row.facility_id, {"geometry": Point(row.lon, row.lat)},
                expected_version=version, user=reviewer, reason=reason,
            )  # fmt: skip
        return ws.remove_facility(
            row.facility_id, expected_version=version, user=reviewer, reason=reason
        )

    def review_suggestion(
        self, suggestion_id: int, status: str, *, reviewer: str, reason: str = ""
    ) -> None:
        """Close a suggestion: ``accepted`` (taken into the plan) or ``rejected``."""
        if status not in CLOSED:
            raise ValidationError(f"status: accepted or rejected expected, got {status!r}")
        why = clean_text(reason, "reason", MAX_REASON)
        if status == "rejected" and not why:
            raise ValidationError("reason: say why the suggestion is rejected")
        n = self.tables.set_suggestion_status(
            int(suggestion_id), status=status, reason=why, reviewer=reviewer,
            now=_stamp(self.clock()),
        )  # fmt: skip
        if not n:
            raise KeyError(f"no open suggestion {suggestion_id!r}")


__all__ = [
    "CLOSED",
    "KINDS",
    "OPEN",
    "STATUSES",
    "Feedback",
    "Photo",
    "Report",
    "Suggestion",
    "clean_photo",
    "clean_text",
]
