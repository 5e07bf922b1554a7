"""Standards, compliance and cross coverage: ``/api/compliance``, ``/api/criticality`` and
the planner's compliance page ``/planner/compliance``.

Views parse parameters, call ``geo.standards`` / ``geo.redundancy`` and serialise. The
standards file is ``STANDARDS`` in the app config, else ``$SERVICEMAP_STANDARDS``, else
the shipped one. Privacy: every count of people here is rounded to a multiple of the
privacy base k (``PRIVACY_K``, default 10) by :func:`geo.privacy.round_people` (counts
under k withheld), and shares are computed from the published counts. These answers have
no what-if, so the rule's "baseline plus rounded change" does not arise.
"""

from __future__ import annotations

import csv
import io
import math
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from geo import maps
from geo.finder import point_from_wgs84
from geo.privacy import round_people
from geo.redundancy import cover_counts, criticality, redundancy_by_area
from geo.standards import (
    compliance,
    compliance_by_area,
    compliance_to_dict,
    compliant_coverage,
    equipment_for_demo,
    load_standards,
)
from web import params
from web.errors import ParameterError
from web.i18n import LANGS, current_lang
from web.views import data, page_config, type_css

bp = Blueprint("standards", __name__)

_CACHE_KEY = "servicemap_standards"
_LOCK = threading.Lock()

# the page's own words (zh, en); the shared catalogue in web/i18n.py does not have them
STRINGS = {
    "zh": {
        "title": "站点达标情况",
        "lead": "每个站点对照其类型的建设标准：已具备、缺少和未登记的项目，以及星级。"
        "未登记的项目按“未知”计，不算达标。",
        "type": "设施类型",
        "show": "显示",
        "facilities": "站点数",
        "compliant": "达标",
        "not_compliant": "未达标",
        "unknown": "未知",
        "compliant_share": "达标率",
        "status": "状态",
        "stars": "星级",
        "missing": "缺少",
        "not_recorded": "未登记",
        "name": "名称",
        "map": "缺项站点地图",
        "map_note": "红色：缺少必备项目；灰色：有未登记的必备项目；绿色：达标。",
        "export_csv": "导出 CSV",
        "coverage": "覆盖：任一站点与达标站点",
        "covered_any": "任一站点覆盖",
        "covered_compliant": "达标站点覆盖",
        "covered_noncompliant_only": "仅被未达标站点覆盖的人数",
        "by_area": "各街道",
        "area": "区域",
        "people": "人数",
        "criticality": "关键站点（关闭后失去覆盖的人数）",
        "people_sole": "仅由此站覆盖的人数",
        "rank": "排名",
        "double_share": "双重覆盖占比",
        "privacy": "人数按 {k} 取整，以保护个人信息。",
        "standards_source": "标准与依据见 docs/standards.md。",
        "back": "返回规划页面",
        "status_compliant": "达标",
        "status_not_compliant": "未达标",
        "status_unknown": "未知",
        "status_no_standard": "无标准",
    },
    "en": {
        "title": "Compliance with the standards",
        "lead": "Each facility against its type's standard: items met, missing and not "
        "recorded, and its star level. Items not recorded count as unknown, never as met.",
        "type": "Facility type",
        "show": "Show",
        "facilities": "Facilities",
        "compliant": "Compliant",
        "not_compliant": "Not compliant",
        "unknown": "Unknown",
        "compliant_share": "Compliant share",
        "status": "Status",
        "stars": "Stars",
        "missing": "Missing",
        "not_recorded": "Not recorded",
        "name": "Name",
        "map": "Facilities missing items",
        "map_note": "Red: a required item missing; grey: a required item not recorded; "
        "green: compliant.",
        "export_csv": "Export CSV",
        "coverage": "Coverage: any facility and compliant ones",
        "covered_any": "Covered by any facility",
        "covered_compliant": "Covered by a compliant one",
        "covered_noncompliant_only": "People covered only by non-compliant facilities",
        "by_area": "By sub-district",
        "area": "Area",
        "people": "People",
        "criticality": "Critical facilities (people who lose coverage if it closes)",
        "people_sole": "People covered by it alone",
        "rank": "Rank",
        "double_share": "Covered twice",
        "privacy": "People are rounded to multiples of {k} to protect personal data.",
        "standards_source": "The standards and their sources: docs/standards.md.",
        "back": "Back to the planner",
        "status_compliant": "compliant",
        "status_not_compliant": "not compliant",
        "status_unknown": "unknown",
        "status_no_standard": "no standard",
    },
}


def _k() -> float:
    return data().privacy_k


def _people(x: float) -> int:
    """A count of people as published (:func:`geo.privacy.round_people`: under k withheld,
    others rounded to a multiple of k)."""
    if not math.isfinite(float(x)):
        return 0
    return int(round_people(float(x), k=_k()))


def _share(part: float, total: float) -> float | None:
    """A share computed from the published counts, so it tells nothing more than they do."""
    p, t = _people(part), _people(total)
    return round(p / t, 4) if t > 0 else None


def _share_of(share: Any, total: float) -> float | None:
    """:func:`_share` of a share given exactly (``share * total`` people of ``total``)."""
    if share is None or not math.isfinite(float(share)):
        return None
    return _share(float(share) * float(total), total)


def _lang() -> str:
    return params.choice(request.args, "lang", LANGS, default=current_lang()) or "zh"


def _cache() -> dict[str, Any]:
    return current_app.extensions.setdefault(_CACHE_KEY, {})


def _standards():
    c = _cache()
    if "standards" not in c:
        path = current_app.config.get("STANDARDS") or None
        c["standards"] = load_standards(path)
    return c["standards"]


def _compliance():
    """The compliance of every served facility, computed once per store version (a saved
    edit of a station is checked again)."""
    c = _cache()
    d = data()
    with _LOCK:
        if c.get("compliance_version") != d.version or "compliance" not in c:
            c["compliance"] = compliance(
                d.demo.facilities,
                standards=_standards(),
                equipment=equipment_for_demo(d.demo.name),
            )
            c["compliance_version"] = d.version
    return c["compliance"]


def type_compliance(key: str) -> dict[str, Any] | None:
    """One type's stations against its standard, for the report: the type's entry of
    :func:`geo.standards.compliance_to_dict` plus ``standard`` (the standards file's name;
    each item's source is on the compliance page); None when the type has no standard."""
    std = _standards()
    if key not in std:
        return None
    res = _compliance()
    body = compliance_to_dict(res[res["type"] == key], std, facilities=False)
    entry = body["types"].get(key)
    if entry is None:
        return None
    path = current_app.config.get("STANDARDS") or "standards.toml"
    return {**entry, "standard": Path(path).name}


def _radius_types() -> list[str]:
    d = data()
    return [k for k in d.types_present if k in d.registry and d.registry[k].rule == "radius"]


def _type_arg(allowed: list[str], *, required: bool) -> str | None:
    key = params.choice(request.args, "type", allowed)
    if key is None and required:
        raise ParameterError("type", f"is required; one of {allowed!r}")
    return key


def _threshold(key: str) -> float:
    base = float(data().registry[key].threshold_m)
    value = params.number(request.args, "threshold_m", default=base, lo=1, hi=100_000)
    return base if value is None else float(value)


def _with_display(facs: list[dict[str, Any]], datum: str) -> list[dict[str, Any]]:
    for f in facs:
        x, y = point_from_wgs84(f["lon"], f["lat"], datum)
        f["display"] = [round(x, 7), round(y, 7)]
    return facs


def compliance_body(key: str | None, lang: str, datum: str) -> dict[str, Any]:
    """The JSON of ``/api/compliance`` (and of the page)."""
    d = data()
    std = _standards()
    res = _compliance()
    if key is not None:
        res = res[res["type"] == key]
    body = compliance_to_dict(res, std)
    body["datum"] = datum
    body["privacy_k"] = _k()
    _with_display(body["facilities"], datum)
    info = d.type_info(lang)
    for t, v in body["types"].items():
        v["label"] = info.get(t, {}).get("label", t)
    areas = d.demo.areas
    sub = areas[areas["level"] == "subdistrict"] if "level" in areas.columns else areas
    cov = None
    if key is not None and key in _radius_types():
        cov = compliant_coverage(
            d.demo.facilities,
            d.demo.demand,
            facility_type=key,
            standards=std,
            equipment=equipment_for_demo(d.demo.name),
            threshold_m=_threshold(key),
        )
        w = cov["weight"].to_numpy(dtype="float64")
        total = float(w.sum())
        parts = {
            c: float(w[cov[c].to_numpy(dtype=bool)].sum())
            for c in ("covered", "covered_compliant", "covered_noncompliant_only")
        }
        body["coverage"] = {
            "facility_type": key,
            "threshold_m": cov.attrs["threshold_m"],
            "method": cov.attrs["method"],
            "people_total": _people(total),
            **{c: _people(v) for c, v in parts.items()},
            "covered_share": _share(parts["covered"], total),
            "compliant_covered_share": _share(parts["covered_compliant"], total),
        }
    by = compliance_by_area(res, sub, coverage=cov) if len(sub) else None
    body["areas"] = []
    for r in by.to_dict("records") if by is not None else []:
        row = {
            "area_id": r["area_id"],
            "name": str(r["name"]),
            "level": str(r["level"]),
            "facilities": int(r["facilities"]),
            "compliant": int(r["compliant"]),
            "not_compliant": int(r["not_compliant"]),
            "unknown": int(r["unknown"]),
            # a share of stations, not of people
            "compliant_share": None
            if not math.isfinite(float(r["compliant_share"]))
            else round(float(r["compliant_share"]), 4),
        }
        if cov is not None:
            row["people"] = _people(r["people"])
            row["covered_share"] = _share_of(r["covered_share"], r["people"])
            row["compliant_covered_share"] = _share_of(r["compliant_covered_share"], r["people"])
        body["areas"].append(row)
    return body


@bp.get("/api/compliance")
def compliance_view():
    """Per facility: status, stars, items met / missing / unknown; per type and per area."""
    key = _type_arg(list(_standards()), required=False)
    return jsonify(compliance_body(key, _lang(), params.datum(request.args)))


def criticality_body(key: str, datum: str) -> dict[str, Any]:
    d = data()
    threshold = _threshold(key)
    crit = criticality(d.demo.facilities, d.demo.demand, facility_type=key, threshold_m=threshold)
    counts = cover_counts(
        d.demo.facilities, d.demo.demand, facility_type=key, threshold_m=threshold
    )
    areas = d.demo.areas
    sub = areas[areas["level"] == "subdistrict"] if "level" in areas.columns else areas
    by = redundancy_by_area(counts, sub) if len(sub) else None
    shown = maps.to_display(crit, datum) if len(crit) else crit
    w = counts["weight"].to_numpy(dtype="float64")
    n = counts["n_covering"].to_numpy()
    total = float(w.sum())
    return {
        "facility_type": key,
        "threshold_m": threshold,
        "method": crit.attrs["method"],
        "datum": datum,
        "privacy_k": _k(),
        "people_total": _people(total),
        "people_covered": _people(float(w[n > 0].sum())),
        "people_single": _people(float(w[n == 1].sum())),
        "people_double": _people(float(w[n >= 2].sum())),
        "double_share": _share(float(w[n >= 2].sum()), total),
        "facilities": [
            {
                "id": r.id,
                "name": r.name,
                "rank": int(r.rank),
                "people_sole": _people(r.people_sole),
                "display": [round(g.x, 7), round(g.y, 7)],
            }
            for r, g in zip(crit.itertuples(index=False), shown.geometry, strict=True)
        ],
        "areas": [
            {
                "area_id": r["area_id"],
                "name": str(r["name"]),
                "people": _people(r["people"]),
                "covered_share": _share_of(r["covered_share"], r["people"]),
                "double_share": _share_of(r["double_share"], r["people"]),
            }
            for r in (by.to_dict("records") if by is not None else [])
        ],
    }


@bp.get("/api/criticality")
def criticality_view():
    """For every facility of a type, the people who lose coverage if it alone closes."""
    key = _type_arg(_radius_types(), required=True)
    assert key is not None
    return jsonify(criticality_body(key, params.datum(request.args)))


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not run a cell as a formula
    return value


@bp.get("/planner/compliance.csv")
def compliance_csv():
    """Every facility's compliance as CSV (UTF-8 with BOM, for Excel)."""
    key = _type_arg(list(_standards()), required=False)
    body = compliance_body(key, _lang(), "wgs84")
    text = io.StringIO()
    w = csv.writer(text)
    cols = ["id", "type", "name", "status", "stars", "missing_required", "missing", "unknown"]
    w.writerow([*cols, "lon", "lat"])
    for f in body["facilities"]:
        row = [";".join(f[c]) if isinstance(f[c], list) else f[c] for c in cols]
        w.writerow([_csv_cell(v) for v in [*row, f["lon"], f["lat"]]])
    name = f"servicemap-compliance-{key or 'all'}-{datetime.now():%Y%m%d}.csv"
    return Response(
        ("\ufeff" + text.getvalue()).encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/planner/compliance")
def compliance_page():
    d = data()
    lang = current_lang()
    std = _standards()
    types = [k for k in d.types_present if k in std]
    key = _type_arg(types, required=False) or types[0]
    body = compliance_body(key, lang, d.datum)
    crit = criticality_body(key, d.datum) if key in _radius_types() else None
    cfg = page_config(
        d,
        compliance={
            "type": key,
            "facilities": body["facilities"],
            "strings": STRINGS.get(lang, STRINGS["zh"]),
        },
    )
    return render_template(
        "compliance.html",
        map=d.map_parts(cfg["lang"]),
        config=cfg,
        type_css=type_css(d),
        types={k: v for k, v in cfg["types"].items() if k in std},
        key=key,
        body=body,
        summary=body["types"].get(key, {}),
        crit=crit,
        s=STRINGS.get(lang, STRINGS["zh"]),
        csv_url=url_for("standards.compliance_csv", type=key, lang=lang),
    )


def openapi_paths(types: list[str], datum: dict, error: dict) -> dict[str, Any]:
    """The OpenAPI description of this module's two API routes (merged by web.openapi)."""

    def q(name: str, schema: dict, description: str) -> dict:
        return {"name": name, "in": "query", "required": False, "schema": schema,
                "description": description}  # fmt: skip

    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {
        "type": "object"}}}}, "400": error}  # fmt: skip
    threshold = q("threshold_m", {"type": "number", "minimum": 1}, "Coverage distance, m.")
    return {
        "/api/compliance": {
            "get": {
                "summary": "Each facility against its type's standard (standards.toml): items "
                "met, missing and not recorded, status and stars; per type and per "
                "sub-district; with a type, coverage by any and by compliant facilities "
                "(people rounded to the privacy base k)",
                "parameters": [
                    q("type", {"type": "string", "enum": types}, "Facility type (optional)."),
                    threshold,
                    datum,
                ],
                "responses": ok,
            }
        },
        "/api/criticality": {
            "get": {
                "summary": "For every facility of a radius type, the people who lose coverage "
                "if it alone closes, ranked; the share covered twice per sub-district "
                "(people rounded to the privacy base k)",
                "parameters": [
                    {
                        **q("type", {"type": "string", "enum": types}, "Facility type."),
                        "required": True,
                    },
                    threshold,
                    datum,
                ],  # fmt: skip
                "responses": ok,
            }
        },
    }
