"""The public finder (``/``), one page per facility (``/f/<id>``), and the vendored assets."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, send_from_directory

from geo import maps
from geo.finder import open_now
from web.views import data, page_config, type_css

bp = Blueprint("public", __name__)

VENDOR_MAX_AGE_S = 365 * 86400


@bp.get("/")
def finder():
    d = data()
    cfg = page_config(
        d,
        amenities=d.amenities,
        k=int(current_app.config["NEAREST_K"]),
        travel_time=d.finder.travel_time is not None,
    )
    return render_template(
        "finder.html",
        map=d.map_parts(cfg["lang"]),
        config=cfg,
        type_css=type_css(d),
        types=cfg["types"],
        amenities=cfg["amenities"],
    )


@bp.get("/f/<fid>")
def facility_page(fid: str):
    d = data()
    pos = d.finder.position.get(fid)
    if pos is None:
        abort(404)
    cfg = page_config(d, facility=fid)
    feature = d.features(d.datum, cfg["lang"])[pos]
    state = open_now([feature["properties"]["hours"]], timezone=d.finder.timezone)[0]
    return render_template(
        "facility.html",
        map=d.map_parts(cfg["lang"]),
        config={**cfg, "feature": feature},
        type_css=type_css(d),
        f=feature["properties"],
        open_state=state,
    )


@bp.get("/vendor/<package>/<version>/<path:filename>")
def vendor(package: str, version: str, filename: str):
    """Leaflet and its plug-ins, from the installed XStatic packages."""
    try:
        folder = maps.asset_dir(package)
    except ValueError:
        abort(404)
    if version != maps.asset_version(package):
        abort(404)
    return send_from_directory(folder, filename, max_age=VENDOR_MAX_AGE_S)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}
