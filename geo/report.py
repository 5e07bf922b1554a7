"""The planner's report: one content structure, rendered as a page, a PDF and a Word file.

:func:`report_content` builds everything the report says (the cover line, the figures, a
static map and a chart per facility type, the tables with names, the method, the data
sources and the privacy rule) as plain data: headings, paragraphs, tables of display
strings and PNG images. The web page (``web/templates/report.html``), the PDF (that page
printed by headless Chromium, :func:`html_to_pdf`) and the Word document
(:func:`report_docx`) all render this one structure, so they cannot disagree.

The numbers come in already privacy-safe: the caller passes the planner's figures (in the
web app, ``web.state.AppData.coverage_json`` and ``gap_cells``); nothing here recomputes a
count of people. The maps are drawn with matplotlib, without tiles, so the report prints
the same offline; gap cells are drawn in the classes of :func:`geo.maps.gap_classes`.

Text comes from a message catalogue passed in (``web.i18n.catalogue(lang)``), so the
report is Chinese first and English by the same switch as the pages.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import ServicemapError
from geo.maps import gap_classes

#: Chromium's flags for printing: no sandbox (containers), no GPU, no network on its own.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
)
TOP_GAPS = 10
TOP_LOADS = 15
DPI = 130  # sharp on paper at the printed size, light in the page


@dataclass(frozen=True)
class TypeFigures:
    """What the report shows about one facility type (privacy-safe figures only).

    Attributes
    ----------
    key, label, color : str
        Registry key, label in the report's language, CSS colour.
    summary : mapping
        The planner's summary of the type (``web.state.AppData.coverage_json``: headline
        figures, ``areas`` of one level, ``loads`` with names).
    facilities : GeoDataFrame
        :func:`geo.export.facility_table` of the scenario (``in_service``, new sites).
    gaps : GeoDataFrame
        :func:`geo.export.gap_table` of the scenario (drawn cells, with ``gap_class``
        when drawn by :func:`geo.maps.gap_layer`).
    withheld_people : float
        People in cells withheld by the privacy floor (the planner's rounded figure).
    changed : bool
        Whether the scenario switched facilities off or added sites.
    compliance : mapping, optional
        The type's entry of :func:`geo.standards.compliance_to_dict` (counts by status,
        ``compliant_share``, ``missing`` items ranked), plus ``standard`` (its name and
        source); None when the type has no standard.
    """

    key: str
    label: str
    color: str
    summary: Mapping[str, Any]
    facilities: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    withheld_people: float = 0.0
    changed: bool = False
    compliance: Mapping[str, Any] | None = None


class Image:
    """A PNG of the report, with its caption; drawn when first asked for (a page can link
    to it and load it separately, the PDF and the Word file embed it)."""

    def __init__(self, id: str, caption: str, kind: str, draw: Callable[[], bytes]) -> None:
        self.id = id
        self.caption = caption
        self.kind = kind  # "map" or "chart"
        self._draw = draw
        self._png: bytes | None = None
        self._lock = threading.Lock()

    @property
    def png(self) -> bytes:
        with self._lock:
            if self._png is None:
                self._png = self._draw()
            return self._png

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Table:
    """A table of display strings; ``num[j]`` marks right-aligned (numeric) columns."""

    id: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    num: list[bool] = field(default_factory=list)
    note: str = ""


# --------------------------------------------------------------------------- formatting


def _int(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{float(value):,.0f}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{float(value) * 100:.1f}%"


def _t(text: Mapping[str, str], key: str, **values: Any) -> str:
    msg = text.get(key, key)
    return msg.format(**values) if values else msg


def _method_text(summary: Mapping[str, Any], text: Mapping[str, str]) -> str:
    """The coverage method in the report's language (the summary's own words otherwise)."""
    method, mode = str(summary.get("method", "")), str(summary.get("mode", ""))
    if "freight route" in method:
        return _t(text, "method_route")
    if method == "straight-line distance":
        return _t(text, "method_straight")
    if mode and mode != "straight":
        return _t(text, "method_network", mode=mode)
    return method


def _area_name(row: Mapping[str, Any], lang: str) -> str:
    if lang == "en" and row.get("name_en"):
        return str(row["name_en"])
    return str(row.get("name", ""))


# --------------------------------------------------------------------------- drawing


def _font_family() -> list[str]:
    # the same font search as CoverageSummary.plot (adds fonts-noto-cjk to matplotlib)
    from geo.coverage import _cjk_font

    font = _cjk_font()
    return [font, "DejaVu Sans"] if font else ["DejaVu Sans"]


def _rc() -> Any:  # a matplotlib rc dict
    return {
        "font.family": "sans-serif",
        "font.sans-serif": _font_family(),
        "axes.unicode_minus": False,
        "text.parse_math": False,  # names are text, never mathtext
        "svg.fonttype": "none",
    }


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", pil_kwargs={"compress_level": 3})
    return buf.getvalue()


def _scale_bar_km(width_km: float) -> float:
    target = width_km / 5
    for step in (0.5, 1, 2, 5, 10, 20, 50, 100):
        if step >= target:
            return step
    return 100.0


def static_map_png(
    *,
    boundary: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame | None,
    gaps: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    color: str,
    k: float,
    text: Mapping[str, str],
    lang: str = "zh",
) -> bytes:
    """A tile-free map of one type: boundary, sub-districts, gap cells, facilities (PNG).

    Gap cells take the colours of :func:`geo.maps.gap_classes` (``gap_class`` column, or
    classed from ``people``); facilities in service are dots of the type's colour,
    switched-off ones grey crosses, new sites stars. A metric scale bar and a legend.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from geo.maps import gap_class_index

    classes = gap_classes(k)
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(7.2, 5.0))
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))  # a map needs no layout pass
        b = boundary.to_crs(4326)
        minx, miny, maxx, maxy = b.total_bounds
        lat0 = (miny + maxy) / 2
        ax.set_aspect(1 / math.cos(math.radians(lat0)))
        b.plot(ax=ax, facecolor="#f4f4f0", edgecolor="none")
        if len(gaps):
            idx = (
                gaps["gap_class"].to_numpy()
                if "gap_class" in gaps.columns
                else gap_class_index(gaps["people"], classes)
            )
            gaps.plot(
                ax=ax,
                color=[classes[int(i)]["color"] for i in idx],
                edgecolor="#7f1d1d",
                linewidth=0.2,
            )
        if areas is not None and len(areas):
            sub = areas[areas["level"].astype(str) == "subdistrict"] if "level" in areas else areas
            sub = sub.to_crs(4326)
            sub.boundary.plot(ax=ax, color="#718096", linewidth=0.6)
            col = "name_en" if lang == "en" and "name_en" in sub.columns else "name"
            for name, pt in zip(sub[col], sub.geometry.representative_point(), strict=True):
                ax.annotate(
                    str(name), (pt.x, pt.y), ha="center", va="center", fontsize=6, color="#4a5568"
                )
        b.boundary.plot(ax=ax, color="#1a202c", linewidth=1.0)
        on = facilities[facilities["in_service"].astype(bool)]
        new = on[on["id"].astype(str).str.startswith("NEW")]
        on = on[~on["id"].astype(str).str.startswith("NEW")]
        off = facilities[~facilities["in_service"].astype(bool)]
        if len(on):
            ax.scatter(
                on.geometry.x, on.geometry.y, s=16, c=color, edgecolors="white", linewidths=0.5
            )
        if len(off):
            ax.scatter(off.geometry.x, off.geometry.y, s=22, c="#4a5568", marker="x")
        if len(new):
            ax.scatter(
                new.geometry.x,
                new.geometry.y,
                s=90,
                c=color,
                marker="*",
                edgecolors="#111",
                linewidths=0.6,
            )
        pad_x, pad_y = (maxx - minx) * 0.03, (maxy - miny) * 0.03
        ax.set_xlim(minx - pad_x, maxx + pad_x)
        ax.set_ylim(miny - pad_y, maxy + pad_y)
        # metric scale bar: degrees of longitude per km at the map's middle latitude
        km_per_deg = 111.320 * math.cos(math.radians(lat0))
        bar_km = _scale_bar_km((maxx - minx) * km_per_deg)
        x0, y0 = minx + pad_x, miny + pad_y
        ax.plot([x0, x0 + bar_km / km_per_deg], [y0, y0], color="#111", linewidth=2.5)
        ax.text(x0, y0 + pad_y * 0.6, f"{bar_km:g} km", fontsize=7, va="bottom")
        handles: list[Any] = [
            Patch(facecolor=c["color"], edgecolor="#7f1d1d", label=c["label"]) for c in classes
        ]
        handles += [
            Line2D([], [], marker="o", ls="", color=color, label=_t(text, "in_service")),
            Line2D([], [], marker="x", ls="", color="#4a5568", label=_t(text, "closed")),
            Line2D(
                [], [], marker="*", ls="", color=color, markersize=10, label=_t(text, "new_site")
            ),
        ]
        ax.legend(
            handles=handles,
            title=_t(text, "legend_people_per_cell"),
            loc="upper left",
            fontsize=6.5,
            title_fontsize=7,
            frameon=True,
        )
        ax.set_axis_off()
        return _png(fig)


def share_chart_png(
    areas: Sequence[Mapping[str, Any]],
    *,
    overall: float | None,
    color: str,
    text: Mapping[str, str],
    lang: str = "zh",
) -> bytes:
    """Bar chart of the covered share by area (PNG), best covered at the top."""
    import matplotlib
    from matplotlib.figure import Figure

    rows = [a for a in areas if a.get("covered_share") is not None]
    rows.sort(key=lambda a: (a["covered_share"], str(a.get("area_id"))))
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(7.2, 0.9 + 0.28 * max(len(rows), 1)), layout="constrained")
        ax = fig.subplots()
        y = np.arange(len(rows))
        shares = np.array([float(a["covered_share"]) * 100 for a in rows])
        ax.barh(y, shares, color=color, height=0.7)
        ax.set_yticks(y, [_area_name(a, lang) for a in rows], fontsize=8)
        for yi, s in zip(y, shares, strict=True):
            ax.text(min(s + 1, 92), float(yi), f"{s:.0f}%", va="center", fontsize=7)
        if overall is not None and math.isfinite(overall):
            ax.axvline(overall * 100, color="#c53030", linestyle="--", linewidth=1)
            ax.text(
                overall * 100,
                len(rows) - 0.3,
                f" {_t(text, 'all')} {overall * 100:.1f}%",
                color="#c53030",
                fontsize=7,
                va="bottom",
            )
        ax.set_xlim(0, 100)
        ax.set_ylim(-0.6, len(rows) + 0.3)
        ax.set_xlabel(_t(text, "covered_share") + " (%)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        return _png(fig)


# --------------------------------------------------------------------------- content


def _section(
    t: TypeFigures,
    *,
    boundary: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame | None,
    k: float,
    text: Mapping[str, str],
    lang: str,
    top_gaps: int,
) -> dict[str, Any]:
    s = t.summary
    figures = Table(
        id=f"sm-figures-{t.key}",
        caption=_t(text, "report_figures"),
        columns=["", ""],
        num=[False, True],
        rows=[
            [_t(text, "covered_share"), _pct(s.get("covered_share"))],
            [_t(text, "people_left_out"), _int(s.get("people_uncovered"))],
            [_t(text, "people_total"), _int(s.get("people_total"))],
            [_t(text, "facilities_count"), str(s.get("facilities", ""))],
            [_t(text, "threshold"), f"{float(s.get('threshold_m', 0)):,.0f} m"],
        ],
    )
    area_rows = list(s.get("areas", []))
    by_area = Table(
        id=f"sm-areas-{t.key}",
        caption=_t(text, "by_area"),
        columns=[
            _t(text, "area"),
            _t(text, "people"),
            _t(text, "uncovered"),
            _t(text, "share"),
        ],
        num=[False, True, True, True],
        rows=[
            [_area_name(a, lang), _int(a["people"]), _int(a["uncovered"]), _pct(a["covered_share"])]
            for a in area_rows
        ],
    )
    fac = t.facilities
    changed = fac[(~fac["in_service"].astype(bool)) | fac["id"].astype(str).str.startswith("NEW")]
    changes = Table(
        id=f"sm-changes-{t.key}",
        caption=_t(text, "report_changes"),
        columns=[_t(text, "facility"), _t(text, "report_status"), _t(text, "address")],
        num=[False, False, False],
        rows=[
            [
                str(r.name),
                _t(text, "new_site") if str(r.id).startswith("NEW") else _t(text, "closed"),
                str(r.address)
                if str(r.address)
                else f"{r.geometry.y:.5f}, {r.geometry.x:.5f} (WGS84)",
            ]
            for r in changed.itertuples(index=False)
        ],
        note="" if len(changed) else _t(text, "report_no_changes"),
    )
    g = t.gaps.head(top_gaps)
    gaps = Table(
        id=f"sm-gaps-{t.key}",
        caption=_t(text, "top_gaps"),
        columns=[
            "#",
            _t(text, "subdistrict"),
            _t(text, "people"),
            _t(text, "report_centre"),
            _t(text, "report_nearest"),
            _t(text, "distance") + " (m)",
        ],
        num=[True, False, True, False, False, True],
        rows=[
            [
                str(i),
                str(r.subdistrict) or "—",
                _int(r.people),
                f"{r.lat:.5f}, {r.lon:.5f}",
                str(r.nearest_name) or "—",
                _int(r.nearest_m),
            ]
            for i, r in enumerate(g.itertuples(index=False), start=1)
        ],
        note=_t(
            text,
            "privacy_note",
            k=int(k),
            w=_int(t.withheld_people),
        ),
    )
    loads_src = [x for x in s.get("loads", []) if not x.get("new")]
    loads = Table(
        id=f"sm-loads-{t.key}",
        caption=_t(text, "loads"),
        columns=[
            _t(text, "facility"),
            _t(text, "people_nearest"),
            _t(text, "people_covered"),
            _t(text, "capacity"),
            _t(text, "load_ratio"),
        ],
        num=[False, True, True, True, True],
        rows=[
            [
                str(x["name"]),
                _int(x["people_nearest"]),
                _int(x["people_covered"]),
                _int(x["capacity"]),
                "—" if x.get("load_ratio") is None else f"{x['load_ratio']:.2f}",
            ]
            for x in loads_src[:TOP_LOADS]
        ],
        note=_t(text, "report_loads_note", n=min(TOP_LOADS, len(loads_src)), total=len(loads_src)),
    )
    tables = [by_area, gaps, changes, loads]
    if t.compliance is not None:
        tables.append(_compliance_table(t.key, t.compliance, text, lang))
    draw_map = functools.partial(
        static_map_png,
        boundary=boundary,
        areas=areas,
        gaps=t.gaps,
        facilities=fac,
        color=t.color,
        k=k,
        text=text,
        lang=lang,
    )
    draw_chart = functools.partial(
        share_chart_png,
        area_rows,
        overall=s.get("covered_share"),
        color=t.color,
        text=text,
        lang=lang,
    )
    return {
        "key": t.key,
        "heading": t.label,
        "figures": figures,
        "map": Image(
            f"{t.key}-map", _t(text, "report_map_caption", label=t.label), "map", draw_map
        ),
        "chart": Image(
            f"{t.key}-chart", _t(text, "report_chart_caption", label=t.label), "chart", draw_chart
        ),
        "tables": tables,
    }


def _compliance_table(
    key: str, c: Mapping[str, Any], text: Mapping[str, str], lang: str, top: int = 5
) -> Table:
    """The type's stations against its standard: counts by status, then the items most
    often missing (counts of stations, never of people)."""
    rows = [
        [_t(text, "report_compliant"), _int(c.get("compliant"))],
        [_t(text, "report_not_compliant"), _int(c.get("not_compliant"))],
        [_t(text, "report_compliance_unknown"), _int(c.get("unknown"))],
        [_t(text, "report_compliant_share"), _pct(c.get("compliant_share"))],
    ]
    for item in list(c.get("missing", []))[:top]:
        label = str(item.get(f"label_{lang}") or item.get("item"))
        if item.get("required"):
            label += f" ({_t(text, 'report_required')})"
        rows.append([f"{_t(text, 'report_missing_item')}: {label}", _int(item["facilities"])])
    return Table(
        id=f"sm-compliance-{key}",
        caption=_t(text, "report_compliance"),
        columns=[_t(text, "report_compliance_status"), _t(text, "facilities_count")],
        num=[False, True],
        rows=rows,
        note=_t(text, "report_compliance_note", std=str(c.get("standard", "—"))),
    )


def report_content(
    types: Sequence[TypeFigures],
    *,
    district: str,
    generated: str,
    scenario: str,
    boundary: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame | None,
    sources: Sequence[Mapping[str, str]],
    privacy_k: float,
    text: Mapping[str, str],
    lang: str = "zh",
    top_gaps: int = TOP_GAPS,
) -> dict[str, Any]:
    """Everything the report says, as plain data every renderer walks the same way.

    Parameters
    ----------
    types : sequence of TypeFigures
        One per facility type, in the order shown (the scenario's type first).
    district, generated, scenario : str
        The cover line: district name, date and time, the scenario in words.
    boundary, areas : GeoDataFrame
        The district and its areas (for the maps).
    sources : sequence of mapping
        The data sources: ``layer``, ``source``, ``date``.
    privacy_k : float
        The privacy floor, people.
    text : mapping
        The message catalogue of ``lang`` (``web.i18n.catalogue``).

    Returns
    -------
    dict
        ``lang``, ``title``, ``cover`` (list of (label, value)), ``overview``
        (:class:`Table`), ``sections`` (per type: ``heading``, ``figures``, ``map``,
        ``chart`` (:class:`Image`), ``tables``), ``method``, ``privacy`` (paragraphs)
        and ``sources`` (:class:`Table`).
    """
    if not types:
        raise ServicemapError("report_content needs at least one facility type")
    k = float(privacy_k)
    overview = Table(
        id="sm-overview",
        caption=_t(text, "report_overview"),
        columns=[
            _t(text, "facility_type"),
            _t(text, "facilities_count"),
            _t(text, "people_total"),
            _t(text, "people_left_out"),
            _t(text, "covered_share"),
        ],
        num=[False, True, True, True, True],
        rows=[
            [
                t.label,
                str(t.summary.get("facilities", "")),
                _int(t.summary.get("people_total")),
                _int(t.summary.get("people_uncovered")),
                _pct(t.summary.get("covered_share")),
            ]
            for t in types
        ],
    )
    method = [
        _t(
            text,
            "report_method_text",
            label=t.label,
            threshold=f"{float(t.summary.get('threshold_m', 0)):,.0f}",
            how=_method_text(t.summary, text),
        )
        for t in types
    ]
    method.append(_t(text, "report_method_gaps"))
    sources_table = Table(
        id="sm-sources",
        caption=_t(text, "report_sources"),
        columns=[_t(text, "report_layer"), _t(text, "report_source"), _t(text, "report_date")],
        num=[False, False, False],
        rows=[[str(s["layer"]), str(s["source"]), str(s.get("date", "—"))] for s in sources],
    )
    return {
        "lang": lang,
        "title": _t(text, "report_title"),
        "headline": f"{district} · {_t(text, 'report_title')}",
        "cover": [
            (_t(text, "report_district"), district),
            (_t(text, "generated"), generated),
            (_t(text, "scenario"), scenario),
        ],
        "overview": overview,
        "sections": [
            _section(
                t, boundary=boundary, areas=areas, k=k, text=text, lang=lang, top_gaps=top_gaps
            )
            for t in types
        ],
        "method_heading": _t(text, "method"),
        "method": method,
        "sources": sources_table,
        "privacy_heading": _t(text, "report_privacy"),
        "privacy": [_t(text, "report_privacy_text", k=int(k))],
    }


# --------------------------------------------------------------------------- renderers


def report_images(content: Mapping[str, Any]) -> dict[str, Image]:
    """Every image of a report by its id (``<type>-map``, ``<type>-chart``)."""
    return {img.id: img for s in content["sections"] for img in (s["map"], s["chart"])}


def report_docx(content: Mapping[str, Any]) -> bytes:
    """The report as a Word document (``.docx`` bytes), from :func:`report_content`."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    doc = Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Cm(21), Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Cm(1.8))
    normal = doc.styles["Normal"]
    normal.font.size = Pt(10)
    rpr = normal.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), "Microsoft YaHei")

    def table(t: Table) -> None:
        if t.caption:
            doc.add_paragraph(t.caption, style="Heading 3")
        if not t.rows:  # as the page: the caption and the note only
            if t.note:
                doc.add_paragraph(t.note)
            return
        cols = len(t.columns)
        header = any(t.columns)
        tb = doc.add_table(rows=(1 if header else 0) + len(t.rows), cols=cols)
        tb.style = "Table Grid"
        all_rows = ([t.columns] if header else []) + t.rows
        for i, (cells, row) in enumerate(zip(tb.rows, all_rows, strict=True)):
            for j, (cell, value) in enumerate(zip(cells.cells, row, strict=True)):
                cell.text = str(value)
                para = cell.paragraphs[0]
                if t.num and t.num[j] and (i > 0 or not header):
                    para.alignment = WD_ALIGN_PARAGRAPH.RIGHT
                if header and i == 0:
                    for run in para.runs:
                        run.bold = True
        if t.note:
            doc.add_paragraph(t.note)

    def image(img: Image) -> None:
        doc.add_picture(io.BytesIO(img.png), width=Cm(16.5))
        cap = doc.add_paragraph(img.caption)
        cap.alignment = WD_ALIGN_PARAGRAPH.CENTER

    doc.add_heading(content["headline"], level=0)
    for label, value in content["cover"]:
        doc.add_paragraph(f"{label}: {value}")
    table(content["overview"])
    for s in content["sections"]:
        doc.add_heading(s["heading"], level=1)
        table(s["figures"])
        image(s["map"])
        tables = s["tables"]
        table(tables[0])
        image(s["chart"])
        for t in tables[1:]:
            table(t)
    doc.add_heading(content["method_heading"], level=1)
    for p in content["method"]:
        doc.add_paragraph(p)
    table(content["sources"])
    doc.add_heading(content["privacy_heading"], level=1)
    for p in content["privacy"]:
        doc.add_paragraph(p)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _print_pdf(html: str, executable: str) -> bytes:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            # the page is self-contained (styles inline, images as data: URIs): block the rest
            page.route("**/*", lambda route: route.abort())
            page.set_content(html, wait_until="load")
            return page.pdf(
                format="A4",
                print_background=True,
                margin={"top": "14mm", "bottom": "14mm", "left": "14mm", "right": "14mm"},
            )
        finally:
            browser.close()


def html_to_pdf(html: str, *, executable: str | None = None) -> bytes:
    """Print a self-contained HTML page to PDF with headless Chromium (PDF bytes).

    Debian's ``chromium`` (``make install``) is driven by Playwright through
    ``executable_path``. The page must need nothing from the network: every request it
    makes is refused. Runs in a worker thread, so it works under a running event loop
    (Jupyter) and beside another Playwright session.

    Raises
    ------
    ServicemapError
        When no Chromium is installed.
    """
    exe = executable or shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise ServicemapError(
            "printing the report to PDF needs Chromium; install Debian's chromium "
            "(make install), or pass executable='/path/to/chromium'"
        )
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_print_pdf, html, exe).result()


def sources_from_layers(
    facilities: gpd.GeoDataFrame,
    extra: Sequence[Mapping[str, str]] = (),
    *,
    labels: Mapping[str, str] | None = None,
) -> list[dict[str, str]]:
    """The data-sources table's rows: each facility type's ``source`` and latest
    ``updated_at`` (the type named by ``labels``), then ``extra`` rows (``layer``,
    ``source``, ``date``)."""
    labels = labels or {}
    rows = []
    if len(facilities) and "source" in facilities.columns:
        frame = pd.DataFrame(
            {
                "type": facilities["type"].astype(str),
                "source": facilities["source"].astype(str),
                "date": facilities["updated_at"].astype(str)
                if "updated_at" in facilities.columns
                else "",
            }
        )
        for (ftype, src), part in frame.groupby(["type", "source"], sort=False):
            rows.append(
                {"layer": labels.get(ftype, ftype), "source": src, "date": max(part["date"])}
            )
    rows.extend(dict(r) for r in extra)
    return rows


__all__ = [
    "CHROMIUM_ARGS",
    "Image",
    "Table",
    "TypeFigures",
    "html_to_pdf",
    "report_content",
    "report_images",
    "report_docx",
    "share_chart_png",
    "sources_from_layers",
    "static_map_png",
]
