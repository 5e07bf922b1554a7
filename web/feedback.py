"""Public feedback on the web: reports, "still here", suggestions, and their review.

Public (no sign-in; exempt from CSRF unless the request carries a signed-in session;
rate limited per client address by :data:`web.auth.limiter`, one budget shared by both)::

    POST /api/facilities/<id>/reports   multipart or JSON: kind, text, lon, lat (moved; in
                                        ``datum``, default wgs84), photo, contact + consent,
                                        website (a honeypot: must be empty)
                                        -> 201 {"id", "status"}; 429 over the limit
    POST /api/suggestions               lon, lat, text (+ datum, website) -> 201 {"id", "status"}

Planner (editors and admins, :func:`web.auth.role_required`)::

    GET  /planner/reports?status=new    the queue, each report on a map beside its facility
    POST /planner/reports/<n>/review    status (accepted | has_issues | rejected), reason
    GET  /planner/reports/<n>/photo.jpg the report's photo (re-encoded, no EXIF)
    GET  /planner/stale?days=90         facilities nobody confirmed for that many days
    GET  /planner/suggestions?type=...  suggestions, whether the type covers their spot,
                                        clustered on the H3 grid

Everything here goes through :class:`geo.feedback.Feedback`; texts reach pages only
through Jinja's escaping or ``textContent``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address

from geo import maps
from geo.crs import DATUMS
from geo.errors import ConflictError, ValidationError
from geo.feedback import KINDS, MAX_PHOTO_BYTES, STATUSES, Feedback
from geo.finder import point_from_wgs84, point_to_wgs84
from web.api_write import _workspace
from web.auth import csrf, current_name, limiter, role_required
from web.config import DEFAULTS
from web.errors import NotFound, ParameterError
from web.i18n import current_lang, gettext
from web.views import data, page_config, type_css

bp = Blueprint("feedback", __name__)

_EXTENSION = "servicemap.feedback"
#: the whole request of a report: a photo at its limit plus the text fields
MAX_REQUEST_BYTES = MAX_PHOTO_BYTES + 64 * 1024
STALE_DAYS = 90


def feedback() -> Feedback:
    """The app's :class:`Feedback` (one per app, over the served workspace; 501 when the
    app serves a bare demo, which has nowhere to keep reports)."""
    ws = _workspace()
    found = current_app.extensions.get(_EXTENSION)
    if found is None or found.workspace is not ws:
        found = current_app.extensions[_EXTENSION] = Feedback(ws)
    return found


def enabled() -> bool:
    """Whether the pages offer reports (the app serves a workspace)."""
    return data().workspace is not None


def _limit() -> str:
    return str(current_app.config.get("REPORT_LIMIT") or DEFAULTS["REPORT_LIMIT"])


def _public_post(view):
    """A public write: no CSRF token needed from an anonymous sender (a replayed offline
    request carries none), but a signed-in session's request is checked like any other;
    one rate-limit budget per address for every public write."""
    from functools import wraps

    @wraps(view)
    def wrapped(*args, **kwargs):
        if "_user_id" in session and current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
        return view(*args, **kwargs)

    limited = limiter.shared_limit(_limit, scope="public-feedback", key_func=get_remote_address)
    return csrf.exempt(limited(wrapped))


# --------------------------------------------------------------------------- reading a post


def _fields() -> dict[str, Any]:
    """The sent fields, from a JSON body or a form (multipart with the photo)."""
    request.max_content_length = MAX_REQUEST_BYTES
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ParameterError("body", "a JSON object expected")
        return body
    return request.form.to_dict()


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ParameterError(name, "text expected")
    return value


def _check_honeypot(fields: dict[str, Any]) -> None:
    if fields.get("website") not in (None, ""):
        raise ParameterError("website", "leave this field empty")


def _point(fields: dict[str, Any]) -> tuple[float, float] | None:
    """``lon``/``lat`` in ``datum`` (default wgs84) as WGS84, or None when not given."""
    lon, lat = fields.get("lon"), fields.get("lat")
    if lon in (None, "") and lat in (None, ""):
        return None
    datum = fields.get("datum") or "wgs84"
    if datum not in DATUMS:
        raise ParameterError("datum", f"one of {', '.join(DATUMS)} expected")
    try:
        x, y = float(lon), float(lat)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError("lon", "longitude and latitude as numbers expected") from None
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise ParameterError("lon", "not a longitude and latitude")
    return point_to_wgs84(x, y, datum)


def _consent(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true", "on", "yes"))


# --------------------------------------------------------------------------- public posts


@bp.post("/api/facilities/<fid>/reports")
@_public_post
def post_report(fid: str):
    fields = _fields()
    _check_honeypot(fields)
    kind = fields.get("kind")
    if kind not in KINDS:
        raise ParameterError("kind", f"one of {', '.join(KINDS)} expected")
    upload = request.files.get("photo")
    # an empty file input sends an empty part: no photo
    photo = (upload.read(MAX_PHOTO_BYTES + 1) or None) if upload is not None else None
    fb = feedback()
    try:
        report = fb.report(
            fid,
            kind,
            text=_text(fields, "text"),
            moved_to=_point(fields),
            photo=photo,
            contact=_text(fields, "contact"),
            consent=_consent(fields.get("consent")),
            address=get_remote_address() or "",
        )
    except KeyError:
        raise NotFound(f"no facility {fid!r}") from None
    return jsonify({"id": report.id, "status": report.status, "count": report.count}), 201


@bp.post("/api/suggestions")
@_public_post
def post_suggestion():
    fields = _fields()
    _check_honeypot(fields)
    point = _point(fields)
    if point is None:
        raise ParameterError("lon", "the place (lon, lat) is needed")
    s = feedback().suggest(*point, text=_text(fields, "text"), address=get_remote_address() or "")
    return jsonify({"id": s.id, "status": s.status, "count": s.count}), 201


# --------------------------------------------------------------------------- for the pages


def local_date(stamp: datetime | str | None) -> str | None:
    """A stored UTC time as the date in the app's time zone (``2026-03-01``)."""
    if not isinstance(stamp, str | datetime):
        return None  # never (None, or NaN from a frame)
    when = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    zone = ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))
    return when.astimezone(zone).date().isoformat()


def local_time(stamp: str | None) -> str:
    if stamp is None:
        return ""
    zone = ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))
    return datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def facility_feedback(fid: str) -> dict[str, Any]:
    """What the facility page shows: whether reports are taken, and the last
    confirmation's local date (None: never)."""
    if not enabled():
        return {"enabled": False, "last_confirmed": None}
    return {"enabled": True, "last_confirmed": local_date(feedback().last_confirmed(fid))}


def public_config() -> dict[str, Any]:
    """The URLs the public pages post to (None when reports are not taken)."""
    if not enabled():
        return {"reports": None, "suggestions": None}
    return {
        "reports": url_for("feedback.post_report", fid="__ID__"),
        "suggestions": url_for("feedback.post_suggestion"),
    }


# --------------------------------------------------------------------------- the planner


def _display(lon: float | None, lat: float | None) -> list[float] | None:
    if lon is None or lat is None:
        return None
    x, y = point_from_wgs84(lon, lat, data().datum)
    return [round(x, 7), round(y, 7)]


def _planner_page(view: str, **context):
    d = data()
    cfg = page_config(d, feedback_view=view, **context.pop("config", {}))
    return render_template(
        "planner_feedback.html",
        view=view,
        map=d.map_parts(cfg["lang"]),
        config=cfg,
        type_css=type_css(d),
        messages=get_flashed_messages(with_categories=True),
        local_time=local_time,
        local_date=local_date,
        **context,
    )


def _positions() -> dict[str, tuple[dict, list[float]]]:
    """Every current facility's properties and display position, by id."""
    d = data()
    out = {}
    for f in d.features(d.datum, current_lang()):
        out[f["properties"]["id"]] = (f["properties"], f["geometry"]["coordinates"])
    return out


@bp.get("/planner/reports")
@role_required("editor")
def reports_page(error: str | None = None, code: int = 200):
    fb = feedback()
    status = request.args.get("status", "new")
    if status not in (*STATUSES, "all"):
        raise ParameterError("status", f"one of {', '.join(STATUSES)} or all expected")
    rows = fb.reports(None if status == "all" else status, limit=500)
    where = _positions()
    seen = fb.tables.last_confirmed("confirm")
    items: list[dict[str, Any]] = []
    markers: list[dict[str, Any]] = []
    for r in rows:
        props, at = where.get(r.facility_id, (None, None))
        moved_to = _display(r.lon, r.lat)
        last = local_date(seen.get(r.facility_id))
        items.append(
            {"report": r, "facility": props, "at": at, "moved_to": moved_to, "last_confirmed": last}
        )
        name = props["name"] if props else r.facility_id
        markers.append(
            {"id": r.id, "kind": r.kind, "facility": r.facility_id, "name": name, "at": at,
             "moved_to": moved_to}
        )  # fmt: skip
    page = _planner_page(
        "reports",
        items=items,
        status=status,
        counts=fb.counts(),
        error=error,
        config={"markers": markers},
    )
    return page, code


@bp.post("/planner/reports/<int:rid>/review")
@role_required("editor")
def review_report(rid: int):
    fb = feedback()
    status = request.form.get("status", "")
    reason = request.form.get("reason", "")
    back = request.form.get("back_status") or "new"
    if back not in (*STATUSES, "all"):
        back = "new"
    try:
        fb.get(rid)
    except KeyError:
        abort(404)
    try:
        r = fb.review(rid, status, reviewer=current_name(), reason=reason)
    except ConflictError as exc:
        return reports_page(error=str(exc), code=409)
    except ValidationError as exc:
        return reports_page(error=str(exc), code=400)
    flash(gettext("review_done", id=r.id, status=gettext("status_" + r.status)), "ok")
    return redirect(url_for("feedback.reports_page", status=back))


@bp.get("/planner/reports/<int:rid>/photo.jpg")
@role_required("editor")
def report_photo(rid: int):
    photo = feedback().photo(rid)
    if photo is None:
        abort(404)
    response = Response(photo.jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["Content-Disposition"] = f'inline; filename="report-{rid}.jpg"'
    return response


def _days() -> float:
    raw = request.args.get("days", str(STALE_DAYS))
    try:
        days = float(raw)
    except ValueError:
        raise ParameterError("days", "a number of days expected") from None
    if not (0 <= days <= 36500):
        raise ParameterError("days", "from 0 to 36500")
    return days


def _type_arg(required: bool) -> str | None:
    d = data()
    key = request.args.get("type") or None
    if key is None:
        return d.types_present[0] if required and d.types_present else None
    if key not in d.types_present:
        raise ParameterError("type", f"one of {', '.join(d.types_present)} expected")
    return key


@bp.get("/planner/stale")
@role_required("editor")
def stale_page():
    d = data()
    days = _days()
    key = _type_arg(required=False)
    stale = feedback().stale(days, facility_type=key)
    shown = maps.to_display(stale, d.datum)
    rows = [
        {
            "id": r.id,
            "name": r.name,
            "type": r.type,
            "address": r.address,
            "last_confirmed": local_date(r.last_confirmed),
            "days": None if r.days != r.days else int(r.days),
            "at": [round(g.x, 7), round(g.y, 7)],
        }
        for r, g in zip(stale.itertuples(index=False), shown.geometry, strict=True)
    ]
    total = len(d.demo.facilities) if key is None else int((d.demo.facilities["type"] == key).sum())
    return _planner_page(
        "stale",
        rows=rows,
        days=days,
        facility_type=key,
        total=total,
        config={"markers": [{"id": r["id"], "name": r["name"], "at": r["at"]} for r in rows]},
    )


@bp.get("/planner/suggestions")
@role_required("editor")
def suggestions_page():
    d = data()
    key = _type_arg(required=True)
    assert key is not None
    points, clusters = feedback().suggestion_coverage(
        key, network=d.network, modes=d.modes, registry=d.registry
    )
    shown = maps.to_display(points, d.datum)
    cells = maps.to_display(clusters, d.datum)
    rows = [
        {
            "id": int(p.id),
            "text": p.text,
            "count": int(p.count),
            "covered": bool(p.covered),
            "distance_m": None if p.distance_m != p.distance_m else round(float(p.distance_m)),
            "h3": p.h3,
            "at": [round(g.x, 7), round(g.y, 7)],
        }
        for p, g in zip(points.itertuples(index=False), shown.geometry, strict=True)
    ]
    from shapely.geometry import mapping

    cluster_rows = [
        {
            "h3": c.h3,
            "suggestions": int(c.suggestions),
            "uncovered": int(c.uncovered),
            "senders": int(c.senders),
            "shape": mapping(g),
        }
        for c, g in zip(clusters.itertuples(index=False), cells.geometry, strict=True)
    ]
    return _planner_page(
        "suggestions",
        rows=rows,
        clusters=cluster_rows,
        facility_type=key,
        config={
            "markers": [
                {"id": r["id"], "name": f"#{r['id']}", "at": r["at"], "covered": r["covered"]}
                for r in rows
            ],
            "clusters": cluster_rows,
        },
    )


@bp.post("/planner/suggestions/<int:sid>/review")
@role_required("editor")
def review_suggestion(sid: int):
    key = request.form.get("type") or None
    try:
        feedback().review_suggestion(
            sid, request.form.get("status", ""), reviewer=current_name(),
            reason=request.form.get("reason", ""),
        )  # fmt: skip
    except KeyError:
        abort(404)
    except ValidationError as exc:
        flash(str(exc), "error")
    else:
        flash(gettext("suggestion_done", id=sid), "ok")
    return redirect(url_for("feedback.suggestions_page", type=key))


# --------------------------------------------------------------------------- OpenAPI


def feedback_paths(error: dict) -> dict[str, dict]:
    """The public feedback endpoints for the OpenAPI document (web/openapi.py)."""
    answer = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "count": {"type": "integer", "description": "reports folded into this one"},
        },
    }
    point: dict[str, Any] = {
        "lon": {"type": "number"},
        "lat": {"type": "number"},
        "datum": {"type": "string", "enum": list(DATUMS), "default": "wgs84"},
    }
    common: dict[str, Any] = {
        "text": {"type": "string", "maxLength": 500},
        "website": {"type": "string", "maxLength": 0, "description": "honeypot: leave empty"},
    }
    fields: dict[str, Any] = {
        "kind": {"type": "string", "enum": list(KINDS)},
        **common,
        **point,
        "contact": {"type": "string", "maxLength": 100},
        "consent": {"type": "boolean", "description": "needed to keep a contact"},
    }
    report = {"type": "object", "required": ["kind"], "properties": fields}
    photo = {"photo": {"type": "string", "format": "binary"}}
    multipart = {"type": "object", "required": ["kind"], "properties": {**fields, **photo}}
    limited = {
        "400": error,
        "413": {"description": "The request is over 10 MB"},
        "429": {"description": "Too many reports from this address (REPORT_LIMIT)"},
    }
    created = {"description": "Kept", "content": {"application/json": {"schema": answer}}}
    return {
        "/api/facilities/{id}/reports": {
            "post": {
                "summary": "Report a problem with a facility, or confirm it is still here "
                "(public, no sign-in; rate limited per address)",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": report},
                        "multipart/form-data": {"schema": multipart},
                    },
                },
                "responses": {"201": created, **limited, "404": error},
            }
        },
        "/api/suggestions": {
            "post": {
                "summary": "Suggest a place that needs a station (public; rate limited)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["lon", "lat"],
                                "properties": {**point, **common},
                            }
                        }
                    },
                },
                "responses": {"201": created, **limited},
            }
        },
    }
