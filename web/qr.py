"""Short URLs, QR codes and printable plates for the door of every facility.

- a facility's short URL is its page, ``/f/<id>`` (the id is the layer's stable ``id``,
  kept across imports), made absolute on the ``PUBLIC_URL`` base when one is set (else on
  the request's host); an id with ``/``, ``?``, ``#``, ``%``, spaces or Chinese characters is
  percent-encoded, and ``/f/<path:id>`` takes an id with ``/`` back;
- ``/f/<id>/qr.svg`` and ``/f/<id>/qr.png``: that URL as a QR code (segno, error
  correction level M, a 4-module quiet zone);
- ``/planner/plates?area=<name>``: an A4 sheet of plates for the facilities of one area of
  the demo's areas layer (sub-district or industrial community, by name, English name or
  id), six plates a page, each with the name, the type and the code in both scripts, the QR
  code, the short URL and "扫码反馈问题 / Scan to report a problem". The print CSS makes it
  print from the browser; ``/planner/plates.pdf`` is the same page printed by headless
  Chromium (:func:`geo.report.html_to_pdf`), and ``servicemap plates`` writes that PDF.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import segno
from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from geo._places import points_in_areas
from geo.report import html_to_pdf
from web.errors import ParameterError
from web.i18n import current_lang
from web.views import data, type_css

bp = Blueprint("qr", __name__)

#: Plates on one A4 page (two columns, three rows).
PLATES_PER_PAGE = 6
#: QR error correction: M survives a scratched or partly dirty plate (15 %).
QR_ERROR = "m"
QR_MAX_AGE_S = 86400


def public_base() -> str:
    """The scheme and host the short URLs start with: ``PUBLIC_URL`` or this request's."""
    base = str(current_app.config.get("PUBLIC_URL") or "").strip()
    if base:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ParameterError("PUBLIC_URL", f"{base!r} is not an http(s) address")
        return base.rstrip("/")
    return request.host_url.rstrip("/")


def short_url(fid: str) -> str:
    """The absolute short URL of facility ``fid`` (its page), percent-encoded."""
    return public_base() + url_for("public.facility_page", fid=fid)


def qr_code(url: str) -> segno.QRCode:
    return segno.make(url, error=QR_ERROR, micro=False, boost_error=False)


@bp.app_context_processor
def _qr_globals() -> dict[str, Any]:
    return {"short_url": short_url}


def _known(fid: str) -> None:
    if fid not in data().finder.position:
        abort(404)


@bp.get("/f/<path:fid>/qr.<fmt>")
def facility_qr(fid: str, fmt: str):
    """The short URL of facility ``fid`` as a QR code (``svg`` or ``png``)."""
    if fmt not in ("svg", "png"):
        abort(404)
    _known(fid)
    code = qr_code(short_url(fid))
    buf = io.BytesIO()
    if fmt == "svg":
        code.save(buf, kind="svg", scale=8, border=4, xmldecl=False, title=short_url(fid))
        mimetype = "image/svg+xml"
    else:
        code.save(buf, kind="png", scale=10, border=4)
        mimetype = "image/png"
    response = Response(buf.getvalue(), mimetype=mimetype)
    response.cache_control.public = True
    response.cache_control.max_age = QR_MAX_AGE_S
    response.headers["Content-Disposition"] = f'inline; filename="qr.{fmt}"'
    return response


# --------------------------------------------------------------------------- plates


def _area_label(row: Mapping[str, Any]) -> dict[str, str]:
    zh = str(row.get("name") or row.get("id") or "")
    en = str(row.get("name_en") or "") or zh
    return {"id": str(row.get("id", "")), "zh": zh, "en": en, "level": str(row.get("level", ""))}


def find_area(areas: gpd.GeoDataFrame, name: str) -> int:
    """The position in ``areas`` of the area called ``name`` (its name, English name or
    id; English case-insensitively); :class:`ParameterError` naming ``area`` otherwise."""
    wanted = name.strip()
    for col, fold in (("id", False), ("name", False), ("name_en", True)):
        if col not in areas.columns:
            continue
        values = areas[col].astype(str)
        hits = (values.str.casefold() == wanted.casefold()) if fold else values == wanted
        if hits.any():
            return int(hits.to_numpy().nonzero()[0][0])
    known = ", ".join(areas["name"].astype(str)) if "name" in areas.columns else ""
    raise ParameterError("area", f"no area called {name!r}; the areas are: {known}")


def plates_for(facilities: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, position: int):
    """The facilities lying in the area at ``position`` of ``areas``, by type then id."""
    if len(facilities) == 0:
        return facilities
    a, pt_i, area_i = points_in_areas(facilities, areas.to_crs(facilities.crs))
    inside = sorted(set(pt_i[area_i == position].tolist()))
    out = facilities.iloc[inside]
    return out.sort_values(["type", "id"], kind="stable")


def plates_content(area: str) -> dict[str, Any]:
    """Everything the plates sheet of ``area`` shows (plates grouped by page)."""
    d = data()
    areas = d.demo.areas.reset_index(drop=True)
    pos = find_area(areas, area)
    fac = plates_for(d.finder.facilities, areas, pos)
    labels = {lang: d.type_info(lang) for lang in ("zh", "en")}
    plates = []
    for row in fac.itertuples(index=False):
        fid = str(row.id)
        url = short_url(fid)
        plates.append(
            {
                "id": fid,
                "name": str(row.name),
                "type": str(row.type),
                "type_zh": labels["zh"].get(row.type, {}).get("label", row.type),
                "type_en": labels["en"].get(row.type, {}).get("label", row.type),
                "url": url,
                "qr": qr_code(url).svg_inline(scale=4, border=4, title=url),
            }
        )
    pages = [plates[i : i + PLATES_PER_PAGE] for i in range(0, len(plates), PLATES_PER_PAGE)]
    return {"area": _area_label(areas.iloc[pos].to_dict()), "pages": pages, "count": len(plates)}


def _area_choices() -> list[dict[str, str]]:
    areas = data().demo.areas
    return [_area_label(r) for r in areas.drop(columns="geometry").to_dict("records")]


@bp.get("/planner/plates")
@bp.get("/planner/plates.<fmt>")
def plates(fmt: str = "html"):
    """The plates of one area, as a page that prints (html) or as a PDF."""
    if fmt not in ("html", "pdf"):
        abort(404)
    area = request.args.get("area", "").strip()
    if not area:
        if fmt == "pdf":
            raise ParameterError("area", "name the area (?area=新碶街道)")
        return render_plates(None, printing=False)
    try:
        content = plates_content(area)
    except ParameterError as exc:
        if fmt == "pdf":
            raise
        return render_plates(None, printing=False, error=exc.reason), 400
    if fmt == "pdf":
        pdf = html_to_pdf(render_plates(content, printing=True))
        name = f"plates-{content['area']['id'] or 'area'}.pdf"
        return Response(
            pdf,
            mimetype="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return render_plates(content, printing=False)


def render_plates(content: dict[str, Any] | None, *, printing: bool, error: str = "") -> str:
    """The plates page (``printing``: as printed to PDF, without the form)."""
    return render_template(
        "plates.html",
        plates=content,
        error=error,
        areas=_area_choices(),
        printing=printing,
        lang_now=current_lang(),
        type_css=type_css(data()),
        config=None,
        map=None,
    )


__all__ = [
    "bp",
    "find_area",
    "plates_content",
    "plates_for",
    "public_base",
    "render_plates",
    "short_url",
]
