"""The planner's dashboard (``/planner``), its printable report and its exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pandas as pd
from flask import Blueprint, Response, render_template, request
from werkzeug.datastructures import MultiDict

from geo.finder import local_now, point_from_wgs84
from web.api import scenario_from_request
from web.errors import ParameterError
from web.i18n import current_lang
from web.views import data, page_config, type_css

bp = Blueprint("planner", __name__)

EXPORTS = ("geojson", "csv", "xlsx")


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


@bp.get("/")
def dashboard():
    d, scenario, body = _scenario_and_body()
    gaps = d.gaps_geojson(scenario, d.datum)
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


@bp.get("/report")
def report():
    d, scenario, body = _scenario_and_body(level=None)
    cells = d.gap_cells(scenario)
    top = [
        {"h3": str(h), "people": round(float(w), 1), "lon": p.x, "lat": p.y}
        for h, w, p in zip(
            cells["h3"][:10],
            cells["people"][:10],
            cells.geometry[:10].representative_point(),
            strict=True,
        )
    ]
    headlines = [
        d.coverage_json(d.default_scenario(key), area_level=None, lang=current_lang())
        for key in d.types_present
    ]
    return render_template(
        "report.html",
        body=body,
        scenario=scenario,
        headlines=headlines,
        top_gaps=top,
        withheld=round(float(body["privacy"]["withheld_people"]), 1),
        privacy_k=d.privacy_k,
        generated=local_now(d.finder.timezone).strftime("%Y-%m-%d %H:%M"),
        type_css=type_css(d),
    )


def _filename(scenario, ext: str) -> str:
    stamp = datetime.now().strftime("%Y%m%d")
    tag = "-whatif" if scenario.changed else ""
    limit = f"{scenario.threshold_m:g}m" if scenario.threshold_m else f"{scenario.threshold_s:g}s"
    return f"servicemap-{scenario.facility_type}-{limit}{tag}-{stamp}.{ext}"


def _attachment(payload: bytes, mimetype: str, name: str) -> Response:
    return Response(
        payload,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _area_frame(body) -> pd.DataFrame:
    cols = [
        "area_id",
        "name",
        "name_en",
        "level",
        "people",
        "covered",
        "uncovered",
        "covered_share",
    ]
    return pd.DataFrame(body["areas"], columns=cols)


def _csv_cell(value):
    # a spreadsheet must not run a cell as a formula
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@bp.get("/export.<fmt>")
def export(fmt: str):
    if fmt not in EXPORTS:
        raise ParameterError("format", f"{fmt!r} is not one of {list(EXPORTS)!r}")
    d, scenario, body = _scenario_and_body(level=None)
    if fmt == "geojson":
        gaps = d.gaps_geojson(scenario, "wgs84")
        fac = d.features("wgs84", current_lang())
        off = set(scenario.off)
        facilities = [
            {
                **f,
                "properties": {
                    **{k: v for k, v in f["properties"].items() if k != "links"},
                    "layer": "facility",
                    "in_service": f["id"] not in off,
                },
            }
            for f in fac
            if f["properties"]["type"] == scenario.facility_type
        ]
        added = [
            {
                "type": "Feature",
                "id": f"NEW{i + 1}",
                "geometry": {"type": "Point", "coordinates": list(p)},
                "properties": {"layer": "new_site", "id": f"NEW{i + 1}"},
            }
            for i, p in enumerate(scenario.add)
        ]
        cells = [{**c, "properties": {**c["properties"], "layer": "gap"}} for c in gaps["features"]]
        out = {
            "type": "FeatureCollection",
            "summary": {k: v for k, v in body.items() if k not in ("areas", "loads")},
            "privacy_k": gaps["privacy_k"],
            "withheld_people": gaps["withheld_people"],
            "features": cells + facilities + added,
        }
        payload = json.dumps(out, ensure_ascii=False).encode("utf-8")
        return _attachment(payload, "application/geo+json", _filename(scenario, "geojson"))
    areas = _area_frame(body)
    if fmt == "csv":
        text = io.StringIO()
        w = csv.writer(text)
        w.writerow(areas.columns)
        for row in areas.itertuples(index=False):
            w.writerow([_csv_cell(v) for v in row])
        payload = ("\ufeff" + text.getvalue()).encode("utf-8")  # BOM: Excel reads UTF-8
        return _attachment(payload, "text/csv", _filename(scenario, "csv"))
    headline = pd.DataFrame(
        [
            (k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v)
            for k, v in body.items()
            if k not in ("areas", "loads")
        ],
        columns=["field", "value"],
    )
    cells = d.gap_cells(scenario)
    gaps = pd.DataFrame({"h3": cells["h3"], "people": cells["people"].round(1)})
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        # openpyxl stores a string starting with "=" as a formula: defuse like the CSV
        headline.map(_csv_cell).to_excel(xl, sheet_name="summary", index=False)
        areas.map(_csv_cell).to_excel(xl, sheet_name="areas", index=False)
        pd.DataFrame(body["loads"]).map(_csv_cell).to_excel(xl, sheet_name="loads", index=False)
        gaps.to_excel(xl, sheet_name="gaps", index=False)
    return _attachment(
        buf.getvalue(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _filename(scenario, "xlsx"),
    )
