"""The planner's dashboard (``/planner``), its printable report and its exports."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.datastructures import MultiDict

from geo.crs import DATUMS
from geo.export import (
    ENCODINGS,
    FORMATS,
    TABLES,
    area_table,
    export_tables,
    facility_table,
    gap_table,
)
from geo.finder import local_now, point_from_wgs84
from geo.report import (
    TypeFigures,
    html_to_pdf,
    report_content,
    report_docx,
    report_images,
    sources_from_layers,
)
from web.api import scenario_from_request
from web.api_standards import type_compliance
from web.errors import ParameterError
from web.i18n import catalogue, current_lang
from web.views import data, page_config, type_css

bp = Blueprint("planner", __name__)

EXPORTS = tuple(FORMATS)


def _scenario_and_body(level: str | None = "subdistrict"):
    d = data()
    args = request.args
    if args.get("threshold_for") and args.get("threshold_for") != args.get("type"):
        # the form was switched to another type: take that type's own threshold
        args = MultiDict(
            [(k, v) for k, v in args.items(multi=True) if not k.startswith("threshold")]
        )
    if not args.get("type"):
        scenario = d.default_scenario(d.types_present[0])
    else:
        found = scenario_from_request(d, args)
        assert found is not None  # required=True raises a 400 rather than return None
        scenario = found
    body = d.coverage_json(scenario, area_level=level, lang=current_lang())
    return d, scenario, body


# the models the planner's "suggest" offers: those that take a number of new sites and need
# no site capacity (the others are for the CLI and the API, where the capacity is given)
PLANNER_MODELS = ("mclp", "pmedian", "pcenter", "backup")


def planner_models(facility_type: str, d) -> list[dict[str, str]]:
    """Each offered model with its one line from :data:`geo.siting.SITING_MODELS`; the
    route model alone for a route-rule type (driver homes)."""
    from geo.siting import SITING_MODELS

    t = d.registry.get(facility_type)
    keys = ("route",) if t is not None and t.rule == "route" else PLANNER_MODELS
    return [{"key": k, "summary": SITING_MODELS[k].summary} for k in keys]


def edit_config(d) -> dict[str, str] | None:
    """What static/edit.js needs to edit facilities on the map (the write API's
    addresses), for an editor of a served workspace; None otherwise (no editing shown)."""
    from flask import url_for

    from web.auth import current_role

    role = current_role()
    if d.workspace is None or role not in ("editor", "admin"):
        return None
    return {
        "add_url": url_for("api_write.add_facility"),
        "item_url": url_for("api_write.update_facility", fid="__ID__"),
        "history_url": url_for("editing.facility", fid="__ID__"),
        "upload_url": url_for("editing.upload_form"),
    }


@bp.get("/")
def dashboard():
    d, scenario, body = _scenario_and_body()
    gaps = d.gap_layer_geojson(scenario, d.datum)
    cfg = page_config(
        d,
        scenario={
            "type": scenario.facility_type,
            "threshold_m": scenario.threshold_m,
            "threshold_s": scenario.threshold_s,
            "off": list(scenario.off),
            # new sites in the map's datum, as the page draws and sends them
            "add": [list(point_from_wgs84(x, y, d.datum)) for x, y in scenario.add],
        },
        measure=d.measure,
        privacy_k=gaps["privacy_k"],
        models=planner_models(scenario.facility_type, d),
        edit=edit_config(d),
        # the level the areas table shows (none when the workspace has no areas yet)
        area_level="subdistrict"
        if len(d.demo.areas) and (d.demo.areas["level"] == "subdistrict").any()
        else None,
    )
    return render_template(
        "planner.html",
        map=d.map_parts(cfg["lang"]),
        config=cfg,
        type_css=type_css(d),
        types=cfg["types"],
        body=body,
        gaps=gaps,
        scenario=scenario,
    )


# --------------------------------------------------------------------------- report


def _type_figures(d, sc, lang: str, text: dict) -> TypeFigures:
    """One type's figures as published: AppData's coverage_json, gap_layer, gaps_geojson."""
    body = d.coverage_json(sc, area_level="subdistrict", lang=lang)
    info = d.type_info(lang).get(sc.facility_type, {})
    fac = facility_table(
        d.demo.facilities,
        loads=body["loads"],
        off=sc.off,
        added=sc.add,
        facility_type=sc.facility_type,
        new_names=[f"{text['new_site']} {i + 1}" for i in range(len(sc.add))],
    )
    t = d.registry.get(sc.facility_type)
    gaps = gap_table(
        d.gap_layer(sc),
        areas=d.demo.areas,
        facilities=fac[fac["in_service"]],
        group=t.demand_group if t else "",
    )
    return TypeFigures(
        key=sc.facility_type,
        label=info.get("label", sc.facility_type),
        color=info.get("color", "#666666"),
        summary=body,
        facilities=fac,
        gaps=gaps,
        withheld_people=float(d.gaps_geojson(sc, "wgs84")["withheld_people"]),
        changed=sc.changed,
        compliance=type_compliance(sc.facility_type),
    )


def _sources(d, lang: str, text: dict) -> list[dict[str, str]]:
    from geo.demo import datasets_dir

    extra = []
    boundary = d.demo.boundary
    names = {"areas": text["export_table_areas"], "demand": text["report_layer_demand"]}
    if "source" in boundary.columns and len(boundary):
        extra.append(
            {
                "layer": text["report_layer_boundary"],
                "source": str(boundary["source"].iloc[0]),
                "date": "—",
            }
        )
    folder = datasets_dir() / d.demo.name
    manifest = folder / "dataset.json"
    if manifest.is_file():
        spec = json.loads(manifest.read_text(encoding="utf-8"))
        for kind in ("areas", "demand"):
            for item in spec.get(kind, []):
                path = folder / str(item["path"])
                date = (
                    datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d")
                    if path.is_file()
                    else "—"
                )
                extra.append(
                    {"layer": names[kind], "source": f"{d.demo.name}/{item['path']}", "date": date}
                )
    labels = {k: v["label"] for k, v in d.type_info(lang).items()}
    return sources_from_layers(d.demo.facilities, extra, labels=labels)


_REPORTS = "servicemap.reports"
REPORT_TTL_S = 300.0


def _report(d, scenario, lang: str) -> dict:
    """The report's content (geo.report.report_content) for a scenario: its type first,
    every other type as is. Kept for a few minutes (the last 8 asked), so the page, its
    PDF and its Word file asked one after the other are drawn once and say the same."""
    cache = current_app.extensions.setdefault(_REPORTS, OrderedDict())
    key = (d.version, scenario, lang)  # a saved edit makes a new report
    hit = cache.get(key)
    if hit is None or time.monotonic() - hit[0] > REPORT_TTL_S:
        generated = local_now(d.finder.timezone).strftime("%Y-%m-%d %H:%M")
        hit = (time.monotonic(), _report_content(d, scenario, lang, generated))
        cache[key] = hit
        while len(cache) > 8:
            cache.popitem(last=False)
    return hit[1]


def _report_content(d, scenario, lang: str, generated: str) -> dict:
    text = catalogue(lang)
    scenarios = [scenario] + [
        d.default_scenario(k) for k in d.types_present if k != scenario.facility_type
    ]
    types = [_type_figures(d, sc, lang, text) for sc in scenarios]
    boundary = d.demo.boundary
    col = "name_en" if lang == "en" and "name_en" in boundary.columns else "name"
    district = str(boundary[col].iloc[0]) if col in boundary.columns and len(boundary) else ""
    if scenario.changed:
        what = text["scenario_changed"].format(off=len(scenario.off), add=len(scenario.add))
        what = f"{types[0].label}: {what}"
    else:
        what = text["scenario_base"]
    return report_content(
        types,
        district=district or d.demo.name,
        generated=generated,
        scenario=what,
        boundary=boundary,
        areas=d.demo.areas,
        sources=_sources(d, lang, text),
        privacy_k=d.privacy_k,
        text=text,
        lang=lang,
    )


def _report_html(content: dict, *, printing: bool) -> str:
    css = (Path(__file__).parent / "static" / "report.css").read_text(encoding="utf-8")
    return render_template("report.html", r=content, css=css, printing=printing)


@bp.get("/report")
@bp.get("/report.<fmt>")
def report(fmt: str = "html"):
    if fmt not in ("html", "pdf", "docx"):
        raise ParameterError("format", f"{fmt!r} is not one of ['html', 'pdf', 'docx']")
    d, scenario, _body = _scenario_and_body(level=None)
    content = _report(d, scenario, current_lang())
    if fmt == "docx":
        return _attachment(
            report_docx(content),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            _filename(scenario, "docx", prefix="report"),
        )
    if fmt == "pdf":
        pdf = html_to_pdf(_report_html(content, printing=True))
        return _attachment(pdf, "application/pdf", _filename(scenario, "pdf", prefix="report"))
    return _report_html(content, printing=False)


@bp.get("/report/<name>.png")
def report_image(name: str):
    """One map or chart of the report page (the PDF and Word file embed them)."""
    d, scenario, _body = _scenario_and_body(level=None)
    images = report_images(_report(d, scenario, current_lang()))
    if name not in images:
        raise ParameterError("name", f"{name!r} is not one of {sorted(images)!r}")
    return Response(images[name].png, mimetype="image/png")


# --------------------------------------------------------------------------- exports


def _filename(scenario, ext: str, *, prefix: str = "", datum: str = "wgs84") -> str:
    stamp = datetime.now().strftime("%Y%m%d")
    tag = "-whatif" if scenario.changed else ""
    head = f"servicemap-{prefix}-" if prefix else "servicemap-"
    tail = f"-{datum}" if datum != "wgs84" else ""
    limit = f"{scenario.threshold_m:g}m" if scenario.threshold_m else f"{scenario.threshold_s:g}s"
    return f"{head}{scenario.facility_type}-{limit}{tag}-{stamp}{tail}.{ext}"


def _attachment(payload: bytes, mimetype: str, name: str) -> Response:
    return Response(
        payload,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def export_frames(d, scenario, lang: str) -> dict:
    """The planner's three tables of a scenario (geo.export), privacy-safe figures only."""
    t = _type_figures(d, scenario, lang, catalogue(lang))
    body = d.coverage_json(scenario, area_level=None, lang=lang)
    return {
        "facilities": t.facilities,
        "areas": area_table(d.demo.areas, body["areas"]),
        "gaps": t.gaps,
    }


@bp.get("/export.<fmt>")
def export(fmt: str):
    if fmt not in FORMATS:
        raise ParameterError("format", f"{fmt!r} is not one of {list(FORMATS)!r}")
    args = request.args
    table = args.get("table") or ("areas" if fmt == "csv" else "facilities")
    if table not in TABLES:
        raise ParameterError("table", f"{table!r} is not one of {list(TABLES)!r}")
    datum = args.get("out_datum") or "wgs84"
    if datum not in DATUMS:
        raise ParameterError("out_datum", f"{datum!r} is not one of {list(DATUMS)!r}")
    encoding = args.get("encoding") or "utf-8"
    if encoding not in ENCODINGS:
        raise ParameterError("encoding", f"{encoding!r} is not one of {list(ENCODINGS)!r}")
    d, scenario, _body = _scenario_and_body(level=None)
    frames = export_frames(d, scenario, current_lang())
    payload = export_tables(frames, fmt, table=table, datum=datum, encoding=encoding)
    ext, mimetype = FORMATS[fmt]
    one = fmt in ("csv", "geojson", "zip")
    name = _filename(scenario, ext, prefix=table if one else "", datum=datum)
    return _attachment(payload, mimetype, name)
