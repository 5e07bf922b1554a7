"""Writes in the API: add, change, close facilities; a facility's history; roll a layer back.

    POST   /api/facilities                {"type", "name", "lon", "lat", ..., "reason"}
    PATCH  /api/facilities/<id>           fields, "lon"/"lat" to move; If-Match: "<version>"
    DELETE /api/facilities/<id>           If-Match: "<version>" (or ?version=)
    GET    /api/facilities/<id>/history   every change: who, when, why, before and after
    POST   /api/layers/<layer>/rollback   {"version", "reason"}

A session (signed in at ``/planner/login``) with the ``X-CSRFToken`` header, or an API
token (``Authorization: Bearer smt_...``). Editors write, admins roll back
(:mod:`web.auth`). Every write goes through :class:`geo.Workspace` (validated as an
import is), and names who did it (:func:`web.auth.current_name`). Optimistic concurrency:
a write names the version it started from; when someone saved in between, the answer is
409 with both sides (``current`` and ``proposed``) and nothing is written.
"""

from __future__ import annotations

import math
import re
from typing import Any

from flask import Blueprint, jsonify, request
from shapely.geometry import Point, mapping

from geo.crs import DATUMS
from geo.errors import ConflictError, ServicemapError, ValidationError
from geo.finder import point_from_wgs84, point_to_wgs84
from geo.layers import FACILITY_COLUMNS
from geo.workspace import LAYERS, Workspace
from web.auth import current_name, role_required
from web.errors import NotFound, ParameterError
from web.views import data

bp = Blueprint("api_write", __name__)

#: the fields a write may give (``id`` only when adding; ``geometry`` as lon/lat)
FIELDS = tuple(c for c in FACILITY_COLUMNS if c not in ("id", "geometry"))
TEXT_MAX = 2000
REASON_MAX = 500


class ReadOnly(ServicemapError):
    """This app serves no workspace (a bare demo object): nothing can be written (405)."""

    status = 405


def _workspace(*, reading: bool = False) -> Workspace:
    ws = data().workspace
    if ws is None:
        if reading:
            raise NotFound("this app serves a demo without a workspace: it keeps no history")
        raise ReadOnly(
            "this app serves a demo without a workspace, read-only: writes need one "
            "(servicemap serve DIR, or servicemap serve --demo NAME)"
        )
    return ws


def jsonable(record: dict[str, Any] | None, datum: str = "wgs84") -> dict[str, Any] | None:
    """A stored facility (a dict with a shapely ``geometry``) as plain JSON: the geometry
    as GeoJSON (WGS84, as GeoJSON is) plus ``lon`` and ``lat`` in ``datum`` (the map's,
    so that a page shows both sides of a conflict in one datum), NaN as null."""
    if record is None:
        return None
    out: dict[str, Any] = {}
    for k, v in record.items():
        if k == "geometry":
            if v is not None and not getattr(v, "is_empty", True):
                out["geometry"] = mapping(v)
                lon, lat = point_from_wgs84(v.x, v.y, datum)
                out["lon"], out["lat"] = round(lon, 7), round(lat, 7)
            else:
                out["geometry"] = None
            continue
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        if isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def _body() -> dict[str, Any]:
    if not request.data and not request.form:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ParameterError("body", "send a JSON object (Content-Type: application/json)")
    return body


def _text(body: dict, name: str, limit: int = TEXT_MAX) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParameterError(name, f"must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise ParameterError(name, f"is longer than {limit} characters")
    return value


def _reason(body: dict) -> str:
    return _text(body, "reason", REASON_MAX) or request.args.get("reason", "")[:REASON_MAX]


def _changes(body: dict, *, adding: bool) -> dict[str, Any]:
    """The fields of a facility in a request body, checked for their JSON kind (the values
    themselves are checked by geo's validation, as on import)."""
    allowed = {*FIELDS, "lon", "lat", "datum", "reason", "version"} | ({"id"} if adding else set())
    for key in body:
        if key not in allowed:
            raise ParameterError(
                key, f"is not a facility field; fields: {', '.join(FIELDS)}, lon, lat"
            )
    out: dict[str, Any] = {}
    for name in FIELDS:
        if name not in body:
            continue
        value = body[name]
        if name == "amenities":
            if isinstance(value, str):
                value = [a.strip() for a in value.split(",") if a.strip()]
            if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
                raise ParameterError(name, "must be a list of amenity keys")
        elif name == "capacity":
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not number:
                raise ParameterError(name, "must be a number of people, or null")
            value = float("nan") if value is None else float(value)
        else:
            value = _text(body, name)
        out[name] = value
    if adding and "id" in body:
        out["id"] = _text(body, "id", 100).strip()
        if not out["id"]:
            raise ParameterError("id", "must not be blank (leave it out to get a new id)")
    if "lon" in body or "lat" in body:
        out["geometry"] = _point(body)
    return out


def _number(body: dict, name: str, lo: float, hi: float) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(name, f"must be a number, got {value!r}")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ParameterError(name, f"must be between {lo} and {hi}, got {value!r}")
    return float(value)


def _point(body: dict) -> Point:
    if "lon" not in body or "lat" not in body:
        raise ParameterError("lon" if "lon" not in body else "lat", "give both lon and lat")
    lon = _number(body, "lon", -180, 180)
    lat = _number(body, "lat", -90, 90)
    datum = body.get("datum") or "wgs84"
    if datum not in DATUMS:
        raise ParameterError("datum", f"{datum!r} is not one of {list(DATUMS)!r}")
    if datum != "wgs84":
        lon, lat = point_to_wgs84(lon, lat, datum)
    return Point(lon, lat)


_FIELD = re.compile(r"field '([^']+)'")


def _validated(call):
    """Run a workspace write; a ValidationError names the field in the JSON answer."""
    try:
        return call()
    except ValidationError as exc:
        found = _FIELD.search(str(exc))
        if found is None or isinstance(exc, ParameterError):
            raise
        raise ParameterError(found.group(1), str(exc)) from exc
    except KeyError as exc:
        raise NotFound(str(exc.args[0]) if exc.args else "not found") from exc


def expected_version(body: dict) -> int:
    """The version a write started from: ``If-Match: "<version>"``, else ``version`` in
    the body or the query. 428 when neither is given."""
    header = request.headers.get("If-Match", "").strip()
    raw: Any = None
    if header:
        raw = header.removeprefix("W/").strip().strip('"')
    elif "version" in body:
        raw = body["version"]
    elif "version" in request.args:
        raw = request.args["version"]
    if raw is None:
        raise PreconditionRequired(
            'give the version you started from: header If-Match: "<version>" (the ETag '
            'of GET /api/facilities/<id>) or "version" in the body'
        )
    if isinstance(raw, bool):
        raise ParameterError("version", f"must be a whole number, got {raw!r}")
    try:
        number = int(str(raw))
    except ValueError:
        raise ParameterError("version", f"must be a whole number, got {raw!r}") from None
    if number < 0:
        raise ParameterError("version", f"must be a whole number, got {raw!r}")
    return number


class PreconditionRequired(ServicemapError):
    """A write that does not say which version it changes (HTTP 428)."""

    status = 428


def _new_id(ws: Workspace, facility_type: str) -> str:
    """The next free id of a type: the prefix its ids use (``OS`` for OS001...) and the
    next number, zero-padded like them; the type key's initials for a first one."""
    fac = ws.facilities
    ids = [str(i) for i in fac.loc[fac["type"] == facility_type, "id"]]
    pattern = re.compile(r"^([A-Za-z]+)(\d+)$")
    parts = [m.groups() for m in map(pattern.match, ids) if m]
    if parts:
        prefix = max({p for p, _ in parts}, key=[p for p, _ in parts].count)
        width = max(len(n) for p, n in parts if p == prefix)
    else:
        prefix = "".join(w[0] for w in facility_type.split("_") if w).upper() or "F"
        width = 3
    taken = set(fac["id"].astype(str))
    numbers = [int(n) for p, n in parts if p == prefix]
    n = max(numbers, default=0) + 1
    while f"{prefix}{n:0{width}d}" in taken:
        n += 1
    return f"{prefix}{n:0{width}d}"


def _saved(fid: str, version: int, status: int = 200):
    data().refresh()  # this worker answers the next request with the change
    response = jsonify({"id": fid, "version": version})
    response.status_code = status
    response.headers["ETag"] = f'"{version}"'
    return response


# --------------------------------------------------------------------------- routes


@bp.post("/facilities")
@role_required("editor")
def add_facility():
    """Add a facility: 201 with its id and version."""
    ws = _workspace()
    body = _body()
    record = _changes(body, adding=True)
    for name in ("type", "name"):
        if not record.get(name):
            raise ParameterError(name, "is required")
    if "geometry" not in record:
        raise ParameterError("lon", "is required (with lat): where the facility is, WGS84")
    record.setdefault("id", _new_id(ws, str(record["type"])))
    version = _validated(lambda: ws.add_facility(record, user=current_name(), reason=_reason(body)))
    return _saved(str(record["id"]), version, 201)


def _change(fid: str, write):
    """A change of an existing facility: ``write(ws, body, expected_version, who, why)``
    against the version the request names; its answer (or the 400, 404, 409, 428)."""
    ws = _workspace()
    body = _body()
    expected = expected_version(body)
    try:
        version = _validated(lambda: write(ws, body, expected, current_name(), _reason(body)))
    except ConflictError as exc:
        exc.datum = body.get("datum") if body.get("datum") in DATUMS else "wgs84"
        raise
    return _saved(fid, version)


@bp.patch("/facilities/<fid>")
@role_required("editor")
def update_facility(fid: str):
    """Change fields of a facility (``lon``/``lat`` move it): 200, or 409 with both sides."""

    def write(ws, body, expected, user, reason):
        changes = _changes(body, adding=False)
        try:
            return ws.update_facility(
                fid, changes, expected_version=expected, user=user, reason=reason
            )
        except ConflictError as exc:
            # what this editor sent (the fields changed), next to the stored record: the
            # store laid them over the newest record, which would hide the other's change
            exc.proposed = {"id": fid, **changes}
            raise

    return _change(fid, write)


@bp.delete("/facilities/<fid>")
@role_required("editor")
def remove_facility(fid: str):
    """Close a facility: it leaves the current layer (its history keeps it)."""
    return _change(
        fid,
        lambda ws, body, expected, user, reason: ws.remove_facility(
            fid, expected_version=expected, user=user, reason=reason
        ),
    )


@bp.get("/facilities/<fid>/history")
@role_required("editor")
def facility_history(fid: str):
    """Every change of a facility, oldest first (also after it was closed)."""
    ws = _workspace(reading=True)
    return jsonify(_validated(lambda: ws.facility_history(fid)))


@bp.post("/layers/<layer>/rollback")
@role_required("admin")
def rollback(layer: str):
    """Make a layer what it was at a store version, as new changes (history kept)."""
    ws = _workspace()
    if layer not in LAYERS:
        raise ParameterError("layer", f"{layer!r} is not one of {list(LAYERS)!r}")
    body = _body()
    if "version" not in body:
        raise ParameterError("version", "is required: the store version to go back to")
    target = body["version"]
    if isinstance(target, bool) or not isinstance(target, int) or target < 0:
        raise ParameterError("version", f"must be a whole number, got {target!r}")
    if target > ws.version:
        raise ParameterError("version", f"the store is at version {ws.version}, not {target}")
    summary = _validated(
        lambda: ws.rollback(layer, target, user=current_name(), reason=_reason(body))
    )
    data().refresh()
    return jsonify(
        {
            "layer": layer,
            "to_version": target,
            "version": summary.version,
            "added": summary.added,
            "changed": summary.changed,
            "removed": summary.removed,
        }
    )
