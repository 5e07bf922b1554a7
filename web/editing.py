"""The planner's editing pages: uploading a layer with a preview, and a facility's history.

    GET  /planner/upload                       the form: layer, datum, layer name, file
    POST /planner/upload                       keep the file, show what it would change
    POST /planner/upload/<token>/apply         write it (one transaction, in the history)
    POST /planner/upload/<token>/again         preview the same file again (after a 409)
    POST /planner/upload/<token>/discard       forget the file
    GET  /planner/facility/<id>                a facility and its history (who, when, why,
                                               before and after), rollback for admins

Editors upload, admins roll back (:func:`web.auth.role_required`). The preview and the
apply are :meth:`geo.Workspace.preview_import` and :meth:`~geo.Workspace.apply_import`:
the apply writes what the preview showed, or refuses (the file's SHA-256 and the layer's
version are checked). Between the two the file is kept in the workspace folder
(``DIR/uploads/<token>/``, owner-only), so any gunicorn worker can apply it.
Editing on the map goes through the write API (:mod:`web.api_write`) from
``static/edit.js``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
import unicodedata
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from geo._io import TABULAR_SUFFIXES, VECTOR_SUFFIXES
from geo.crs import DATUMS
from geo.errors import ConflictError, ServicemapError
from geo.finder import point_from_wgs84
from geo.workspace import LAYERS, ImportPreview, Workspace
from web.auth import current_name, current_role, role_required
from web.i18n import gettext
from web.views import data, page_config, type_css

bp = Blueprint("editing", __name__)

UPLOADS = "uploads"
META = "preview.json"
#: files a planner may upload (a shapefile comes zipped: its parts travel together)
UPLOAD_SUFFIXES = tuple(s for s in (*TABULAR_SUFFIXES, *VECTOR_SUFFIXES) if s != ".shp")
#: items of each kind shown on the preview page and kept with it (the counts stay whole)
SHOWN = 2000
#: an upload not applied within this long is forgotten
KEEP_S = 24 * 3600
REASON_MAX = 500
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class UploadRefused(ServicemapError):
    """An upload refused before it is read (no file, too large, wrong kind): HTTP 400/413."""

    status = 400

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


#: room for the multipart framing and the form's other fields around the file
_FORM_SLACK = 1 << 20


def upload_max() -> int:
    """The largest upload taken, in bytes (``UPLOAD_MAX``)."""
    return int(current_app.config.get("UPLOAD_MAX") or 64 * 1024 * 1024)


def init_app(app) -> None:
    """Register the pages under ``/planner``, and cap every request body at
    ``UPLOAD_MAX`` (plus the form's framing) unless ``MAX_CONTENT_LENGTH`` says otherwise:
    a larger body is refused (413) before it is read, even by the CSRF check."""
    if not app.config.get("MAX_CONTENT_LENGTH"):
        limit = int(app.config.get("UPLOAD_MAX") or 64 * 1024 * 1024)
        app.config["MAX_CONTENT_LENGTH"] = limit + _FORM_SLACK
    app.register_blueprint(bp, url_prefix="/planner")


def _workspace() -> Workspace:
    ws = data().workspace
    if ws is None:
        raise UploadRefused(gettext("upload_no_workspace"), 404)
    return ws


def _folder(ws: Workspace) -> Path:
    root = ws.path / UPLOADS
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def _forget_old(root: Path) -> None:
    cutoff = time.time() - KEEP_S
    for entry in root.iterdir():
        if entry.is_dir() and _TOKEN.match(entry.name) and entry.stat().st_mtime < cutoff:
            shutil.rmtree(entry, ignore_errors=True)


def safe_name(name: str | None) -> str:
    """The uploaded file's own name, safe as a file name (Chinese kept): no folders, no
    leading dot, only letters, digits, ``-``, ``_``, ``.`` and spaces; its suffix one the
    loaders read."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").split("/")[-1])
    base = re.sub(r"[^\w.\- ]", "_", base).strip(" .")[-120:]
    suffix = Path(base).suffix.lower()
    if not base or not suffix:
        raise UploadRefused(gettext("upload_no_file"))
    if suffix == ".shp":
        raise UploadRefused(gettext("upload_shp_alone", name=base))
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadRefused(gettext("upload_bad_kind", name=base, kinds=", ".join(UPLOAD_SUFFIXES)))
    return base


def _options(form) -> dict[str, Any]:
    layer = form.get("layer") or "facilities"
    if layer not in LAYERS:
        raise UploadRefused(gettext("upload_bad_layer", layer=layer[:50]))
    datum = form.get("datum") or "wgs84"
    if datum not in DATUMS:
        raise UploadRefused(gettext("upload_bad_datum", datum=datum[:50]))
    source = (form.get("source_layer") or "").strip()[:200] or None
    return {"layer": layer, "datum": datum, "source_layer": source,
            "replace": form.get("replace") in ("1", "on", "true")}  # fmt: skip


def _save(upload, target: Path, limit: int) -> int:
    """Stream the upload into ``target``, refusing past ``limit`` bytes."""
    size = 0
    with target.open("wb") as out:
        while True:
            block = upload.stream.read(1 << 20)
            if not block:
                break
            size += len(block)
            if size > limit:
                out.close()
                target.unlink(missing_ok=True)
                raise UploadRefused(_too_large(upload.filename), 413)
            out.write(block)
    if size == 0:
        raise UploadRefused(gettext("upload_empty", name=target.name))
    return size


def _too_large(name: str | None) -> str:
    shown = (name or "")[:120] or gettext("upload_file")
    return gettext("upload_too_large", name=shown, mb=f"{upload_max() / 2**20:g}")


def _meta_path(ws: Workspace, token: str) -> Path:
    if not _TOKEN.match(token):
        raise UploadRefused(gettext("upload_gone"), 404)
    path = ws.path / UPLOADS / token / META
    if not path.is_file():
        raise UploadRefused(gettext("upload_gone"), 404)
    return path


def _load(ws: Workspace, token: str) -> tuple[dict, ImportPreview, Path]:
    meta = json.loads(_meta_path(ws, token).read_text(encoding="utf-8"))
    return meta, ImportPreview.from_json(meta["preview"]), ws.path / UPLOADS / token / meta["file"]


def _preview(ws: Workspace, token: str, file: Path, options: dict, user: str) -> dict:
    preview = ws.preview_import(
        options["layer"], file, datum=options["datum"], source_layer=options["source_layer"],
        replace=options["replace"],
    )  # fmt: skip
    shown = _without_folder(preview.to_json(limit=SHOWN), file)
    meta = {"file": file.name, "user": user, "at": time.time(), "options": options,
            "preview": shown}  # fmt: skip
    tmp = file.parent / (META + ".tmp")
    tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    tmp.replace(file.parent / META)
    return meta


def _without_folder(value: Any, file: Path) -> Any:
    """The loaders' messages name the file by its path on the server: by its name here."""
    if isinstance(value, str):
        return value.replace(str(file), file.name).replace(str(file.parent) + os.sep, "")
    if isinstance(value, list):
        return [_without_folder(v, file) for v in value]
    if isinstance(value, dict):
        return {k: _without_folder(v, file) for k, v in value.items()}
    return value


def _on_map(preview: dict, datum: str) -> dict:
    """The preview's features in the map's datum, for static/upload.js."""

    def at(lon, lat):
        if lon is None or lat is None:
            return None
        x, y = point_from_wgs84(lon, lat, datum)
        return [round(float(x), 7), round(float(y), 7)]

    out: dict[str, list] = {}
    for kind in ("added", "moved", "changed", "removed"):
        items = []
        for item in preview[kind]:
            one = {"id": item["id"], "name": item.get("name"), "at": at(item["lon"], item["lat"])}
            if kind == "moved":
                one["from"] = at(*item["from"])
                one["distance_m"] = item["distance_m"]
            items.append(one)
        out[kind] = items
    return out


def _page(template: str, status: int = 200, **values):
    d = data()
    cfg = page_config(d, upload=values.pop("map_data", None))
    return (
        render_template(
            template,
            map=d.map_parts(cfg["lang"]) if cfg["upload"] is not None else None,
            config=cfg,
            type_css=type_css(d),
            layers=LAYERS,
            datums=DATUMS,
            kinds=", ".join(UPLOAD_SUFFIXES),
            upload_mb=f"{upload_max() / 2**20:g}",
            **values,
        ),
        status,
    )


def _preview_page(ws: Workspace, token: str, meta: dict, *, status=None, error=None):
    preview = meta["preview"]
    ok = ImportPreview.from_json(preview).ok
    return _page(
        "upload.html",
        status or (200 if ok else 422),
        token=token,
        meta=meta,
        preview=preview,
        ok=ok,
        error=error,
        shown=SHOWN,
        map_data=_on_map(preview, data().datum) if ok else None,
        options=meta["options"],
    )


# --------------------------------------------------------------------------- routes


@bp.errorhandler(UploadRefused)
def _refused(exc: UploadRefused):
    """A page of this blueprint that cannot be shown (no workspace, an unknown facility or
    upload): our HTML error page, with the reason."""
    code = exc.status
    title = gettext("error_title_404") if code == 404 else gettext("error_title")
    page = render_template("error.html", code=code, title=title, body=str(exc), config=None,
                           map=None)  # fmt: skip
    return page, code


@bp.errorhandler(413)
def _too_large_body(_exc):
    """A body over ``MAX_CONTENT_LENGTH`` (refused while the form was read)."""
    return _page("upload.html", 413, error=_too_large(None), options={})


@bp.get("/upload")
@role_required("editor")
def upload_form():
    _workspace()
    return _page("upload.html", options={"layer": "facilities", "datum": "wgs84"})


@bp.post("/upload")
@role_required("editor")
def upload():
    ws = _workspace()
    try:
        length = request.content_length
        if length is not None and length > upload_max() + _FORM_SLACK:
            raise UploadRefused(_too_large(None), 413)  # refused before the body is read
        options = _options(request.form)
        file = request.files.get("file")
        if file is None or not file.filename:
            raise UploadRefused(gettext("upload_no_file"))
        name = safe_name(file.filename)
        root = _folder(ws)
        _forget_old(root)
        token = secrets.token_urlsafe(24)
        folder = root / token
        folder.mkdir(mode=0o700)
        try:
            _save(file, folder / name, upload_max())
        except UploadRefused:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    except UploadRefused as exc:
        return _page("upload.html", exc.status, error=str(exc), options=request.form)
    try:
        meta = _preview(ws, token, folder / name, options, current_name())
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if not ImportPreview.from_json(meta["preview"]).ok:
        shutil.rmtree(folder, ignore_errors=True)  # nothing of it can be applied
    return _preview_page(ws, token, meta)


@bp.post("/upload/<token>/apply")
@role_required("editor")
def apply(token: str):
    ws = _workspace()
    meta, preview, file = _load(ws, token)
    reason = (request.form.get("reason") or "").strip()[:REASON_MAX]
    try:
        summary = ws.apply_import(preview, file, user=current_name(), reason=reason)
    except ConflictError as exc:
        return _preview_page(ws, token, meta, status=409, error=_without_folder(str(exc), file))
    except ServicemapError as exc:
        error = _without_folder(str(exc), file)
        return _preview_page(ws, token, meta, status=exc.status, error=error)
    shutil.rmtree(file.parent, ignore_errors=True)
    refresh = getattr(data(), "refresh", None)
    if refresh is not None:
        refresh()  # this worker answers the next request with the new layer
    return _page("upload.html", summary=summary, meta=meta, options=meta["options"])


@bp.post("/upload/<token>/again")
@role_required("editor")
def again(token: str):
    ws = _workspace()
    meta, _preview_, file = _load(ws, token)
    meta = _preview(ws, token, file, meta["options"], current_name())
    return _preview_page(ws, token, meta)


@bp.post("/upload/<token>/discard")
@role_required("editor")
def discard(token: str):
    ws = _workspace()
    path = _meta_path(ws, token)
    shutil.rmtree(path.parent, ignore_errors=True)
    return redirect(url_for("editing.upload_form"), 303)


@bp.get("/facility/<fid>")
@role_required("editor")
def facility(fid: str):
    """A facility's planner page: as it is now (or closed) and every change of it."""
    ws = _workspace()
    try:
        history = ws.facility_history(fid)
    except KeyError:
        raise UploadRefused(gettext("facility_unknown", id=fid[:100]), 404) from None
    current = history[-1]["after"]
    for h in history:
        h["fields"] = _fields(h["before"], h["after"])
    return _page(
        "facility_history.html",
        fid=fid,
        current=current,
        history=list(reversed(history)),
        can_rollback=current_role() == "admin",
        layer_version=ws.store.layer_version("facilities"),
    )


def _fields(before: dict | None, after: dict | None) -> list[dict]:
    """What a change did, field by field (the geometry as lon, lat)."""

    def flat(rec: dict | None) -> dict:
        if rec is None:
            return {}
        out = {k: v for k, v in rec.items() if k != "geometry"}
        geom = rec.get("geometry")
        if geom and geom.get("type") == "Point":
            out["lon, lat"] = ", ".join(f"{c:.6f}" for c in geom["coordinates"][:2])
        return out

    b, a = flat(before), flat(after)
    keys = list(dict.fromkeys([*a, *b]))
    return [
        {"field": k, "before": _shown(b.get(k)), "after": _shown(a.get(k))}
        for k in keys
        if b.get(k) != a.get(k)
    ]


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
