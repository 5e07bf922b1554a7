"""The public finder (``/``), one page per facility (``/f/<id>``), the vendored assets,
and what makes the finder an installable offline app: ``/manifest.webmanifest`` and the
service worker ``/sw.js`` (served from the root so its scope is the whole app).
Also the HTML error pages of every non-API path, and the demo banner of every page.
"""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    render_template,
    send_from_directory,
    url_for,
)
from werkzeug.exceptions import HTTPException

from geo import maps
from geo.finder import describe_hours
from web.i18n import amenity_label, current_lang, gettext
from web.views import data, page_config, type_css

bp = Blueprint("public", __name__)

VENDOR_MAX_AGE_S = 365 * 86400

#: Accessibility items of the data model's ``amenities``, filtered in a group of their own.
ACCESS_AMENITIES = ["step_free", "wheelchair_toilet", "baby_change"]


@bp.get("/")
def finder():
    d = data()
    cfg = page_config(
        d,
        amenities=d.amenities,
        k=int(current_app.config["NEAREST_K"]),
        travel_time=d.finder.travel_time is not None,
        timezone=d.finder.timezone,
    )
    return render_template(
        "finder.html",
        map=d.map_parts(cfg["lang"]),
        config=cfg,
        type_css=type_css(d),
        types=cfg["types"],
        amenities=cfg["amenities"],
        access_keys=[a for a in ACCESS_AMENITIES if a in cfg["amenities"]],
    )


@bp.get("/f/<fid>")
def facility_page(fid: str):
    d = data()
    pos = d.finder.position.get(fid)
    if pos is None:
        abort(404)
    cfg = page_config(d, facility=fid, timezone=d.finder.timezone)
    feature = d.features(d.datum, cfg["lang"])[pos]
    hours = describe_hours(
        feature["properties"]["hours"], lang=cfg["lang"], timezone=d.finder.timezone
    )
    return render_template(
        "facility.html",
        map=d.map_parts(cfg["lang"]),
        config={**cfg, "feature": feature},
        type_css=type_css(d),
        f=feature["properties"],
        hours=hours,
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


# --------------------------------------------------------------------------- offline app

STATIC = Path(__file__).resolve().parent / "static"


@bp.get("/sw.js")
def service_worker():
    """The service worker, from the root so that its scope is every page of the app."""
    response = send_from_directory(STATIC, "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/manifest.webmanifest")
def manifest():
    """The web app manifest: the finder installs as an app in the page's language."""
    lang = current_lang()
    body = {
        "name": gettext("app_name", lang),
        "short_name": gettext("finder_title", lang),
        "description": gettext("finder_lead", lang),
        "lang": "zh-CN" if lang == "zh" else "en",
        "start_url": url_for("public.finder"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#b45309",
        "icons": [
            {
                "src": url_for("static", filename=f"icon-{n}.png"),
                "sizes": f"{n}x{n}",
                "type": "image/png",
                "purpose": "any",
            }
            for n in (192, 512)
        ]
        + [
            {"src": url_for("static", filename="icon.svg"), "sizes": "any", "type": "image/svg+xml"}
        ],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    return response


# --------------------------------------------------------------------------- every page


@bp.app_context_processor
def _page_globals():
    return {"demo_banner": data().is_demo, "amenity_label": amenity_label}


def error_page(exc: HTTPException):
    """Our own HTML page for an HTTP error on a non-API path, in the page's language."""
    code = exc.code or 500
    known = code in (400, 401, 403, 404, 405, 429, 500)
    title = gettext(f"error_title_{code}") if known else gettext("error_title")
    body = gettext(f"error_body_{code}") if known else gettext("error_body", status=code)
    response = current_app.make_response(
        (
            render_template("error.html", code=code, title=title, body=body, config=None, map=None),
            code,
        )
    )
    if code == 405 and exc.get_response().headers.get("Allow"):
        response.headers["Allow"] = exc.get_response().headers["Allow"]
    return response
