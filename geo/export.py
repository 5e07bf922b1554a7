"""The planner's tables, and the files they are exported as.

Three tables, built by one function each, are what the planner sees and takes away:

- :func:`facility_table`: the facilities of one type (switched-off ones flagged, new sites
  added) with their loads;
- :func:`area_table`: the sub-districts and industrial communities with their coverage;
- :func:`gap_table`: the gap cells as drawn (privacy floor applied, merged cells as their
  children, clipped to the district), with their centre, sub-district and nearest facility.

:func:`export_tables` writes them as CSV (UTF-8 with BOM, so Excel on Chinese Windows opens
it), Excel (one sheet per table, frozen header, number formats), GeoJSON, GeoPackage, a
zipped shapefile (with its ``.cpg``; UTF-8 or GBK) or KML, in WGS84, GCJ-02 (AMap) or BD-09
(Baidu). The datum is recorded in the file (a ``datum`` column in every table; the GeoJSON's
``datum`` member) and the file reads back through :func:`geo.load_facilities`,
:func:`geo.load_areas` and :func:`geo.load_demand` with that ``datum=``.

Loaders read the first table (sheet, layer) of a file, so the table asked for comes first.
Text cells that a spreadsheet would run as a formula are defused by :func:`defuse_cell`.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import check_datum, from_wgs84
from geo.errors import ValidationError
from geo.layers import FACILITY_COLUMNS

FORMATS: dict[str, tuple[str, str]] = {
    # key: (file extension, MIME type)
    "csv": ("csv", "text/csv; charset=utf-8"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "geojson": ("geojson", "application/geo+json"),
    "gpkg": ("gpkg", "application/geopackage+sqlite3"),
    "zip": ("zip", "application/zip"),  # a zipped shapefile
    "kml": ("kml", "application/vnd.google-earth.kml+xml"),
}
TABLES: tuple[str, ...] = ("facilities", "areas", "gaps")
ENCODINGS: tuple[str, ...] = ("utf-8", "gbk")

# the facility schema of geo.layers, without the geometry (written as coordinates)
FACILITY_FIELDS = tuple(c for c in FACILITY_COLUMNS if c != "geometry")

# Shapefile field names have at most 10 characters
_SHAPEFILE_NAMES = {
    "in_service": "in_service",
    "people_nearest": "ppl_near",
    "people_covered": "ppl_cov",
    "covered_share": "cov_share",
    "subdistrict": "subdist",
    "nearest_id": "near_id",
    "nearest_name": "near_name",
    "nearest_m": "near_m",
    "resolution": "h3_res",
}
# Excel number formats by column
_NUMBER_FORMATS = {
    "people": "#,##0",
    "covered": "#,##0",
    "uncovered": "#,##0",
    "people_nearest": "#,##0",
    "people_covered": "#,##0",
    "capacity": "#,##0",
    "covered_share": "0.0%",
    "load_ratio": "0.00",
    "lon": "0.000000",
    "lat": "0.000000",
    "nearest_m": "#,##0",
}


def defuse_cell(value: Any) -> Any:
    """A cell a spreadsheet will show as text: ``'`` before a leading ``= + - @``, tab or CR.

    Excel, LibreOffice and WPS run a cell starting with one of those as a formula (CSV
    injection); numbers and other values are returned unchanged.

    Examples
    --------
    >>> defuse_cell("=HYPERLINK(1)"), defuse_cell("-1"), defuse_cell(-1), defuse_cell("北仑")
    ("'=HYPERLINK(1)", "'-1", -1, '北仑')
    """
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# --------------------------------------------------------------------------- the tables


def _amenity_text(value: Any) -> str:
    if isinstance(value, list | tuple | np.ndarray):
        return ";".join(str(v) for v in value)
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _by_id(rows: Iterable[Mapping[str, Any]] | pd.DataFrame | None, key: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows if rows is not None else [])
    if len(frame) == 0 or key not in frame.columns:
        return pd.DataFrame(index=pd.Index([], dtype=object))
    return frame.assign(**{key: frame[key].astype(str)}).set_index(key)


def facility_table(
    facilities: gpd.GeoDataFrame,
    *,
    loads: Iterable[Mapping[str, Any]] | pd.DataFrame | None = None,
    off: Sequence[str] = (),
    added: Sequence[tuple[float, float]] = (),
    facility_type: str | None = None,
    new_names: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """The facilities of one scenario with their loads, one row each, WGS84 points.

    Parameters
    ----------
    facilities : GeoDataFrame
        A facility layer (:func:`geo.load_facilities`); only ``facility_type``'s rows are
        kept when it is given.
    loads : rows or DataFrame, optional
        Per facility ``id``: ``people_nearest``, ``people_covered``, ``load_ratio`` (the
        planner's privacy-rounded figures); missing figures are left empty.
    off : sequence of str
        Ids switched off in the scenario (``in_service`` is False; no load).
    added : sequence of (lon, lat)
        New sites, WGS84, given ids ``NEW1``, ``NEW2``, ... (``web.state``'s convention).
    new_names : sequence of str, optional
        Their names (default the ids).

    Returns
    -------
    GeoDataFrame
        :data:`FACILITY_FIELDS` (``amenities`` as ``a;b`` text), ``in_service``,
        ``people_nearest``, ``people_covered``, ``load_ratio``.
    """
    fac = facilities
    if facility_type is not None and "type" in fac.columns:
        fac = fac[fac["type"].astype(str) == facility_type]
    out = pd.DataFrame({c: fac[c].to_numpy() if c in fac.columns else "" for c in FACILITY_FIELDS})
    out["id"] = out["id"].astype(str)
    out["amenities"] = [_amenity_text(v) for v in out["amenities"]]
    geoms = list(fac.geometry.values)
    if added:
        ids = [f"NEW{i + 1}" for i in range(len(added))]
        names = list(new_names) if new_names is not None else ids
        new = pd.DataFrame({c: [""] * len(ids) for c in FACILITY_FIELDS})
        new["id"], new["name"] = ids, names
        new["type"] = facility_type or ""
        new["capacity"] = np.nan
        out = pd.concat([out, new], ignore_index=True)
        geoms += [shapely.Point(lon, lat) for lon, lat in added]
    out["capacity"] = pd.to_numeric(out["capacity"], errors="coerce").astype("float64")
    out["in_service"] = ~out["id"].isin([str(i) for i in off])
    figures = _by_id(loads, "id")
    for col in ("people_nearest", "people_covered", "load_ratio"):
        values = figures[col] if col in figures.columns else pd.Series(dtype="float64")
        mapped = out["id"].map(pd.to_numeric(values, errors="coerce")).astype("float64")
        out[col] = mapped.where(out["in_service"])
    return gpd.GeoDataFrame(out, geometry=geoms, crs="EPSG:4326")


def area_table(
    areas: gpd.GeoDataFrame, figures: Iterable[Mapping[str, Any]] | pd.DataFrame | None = None
) -> gpd.GeoDataFrame:
    """The areas (``id, name, name_en, level``, polygons) with their coverage figures.

    ``figures`` are rows keyed by ``area_id`` with ``people``, ``covered``, ``uncovered``
    and ``covered_share`` (the planner's privacy-rounded figures); they are kept in the
    order of ``figures`` (worst first), areas without figures after them.
    """
    base = pd.DataFrame(
        {
            "id": areas["id"].astype(str).to_numpy(),
            "name": areas["name"].astype(str).to_numpy(),
            "name_en": areas["name_en"].to_numpy() if "name_en" in areas.columns else None,
            "level": areas["level"].astype(str).to_numpy() if "level" in areas.columns else "",
        }
    )
    geoms = gpd.GeoSeries(areas.geometry.to_numpy(), crs=areas.crs).to_crs(4326)
    fig = _by_id(figures, "area_id")
    order = {a: i for i, a in enumerate(fig.index)}
    for col in ("people", "covered", "uncovered", "covered_share"):
        values = fig[col] if col in fig.columns else pd.Series(dtype="float64")
        base[col] = base["id"].map(pd.to_numeric(values, errors="coerce")).astype("float64")
    out = gpd.GeoDataFrame(base, geometry=geoms.to_numpy(), crs="EPSG:4326")
    rank = out["id"].map(order).fillna(len(order)).to_numpy()
    return out.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)


def _centres(geoms: gpd.GeoSeries) -> np.ndarray:
    """A point inside each shape: its centroid when inside, else a representative point."""
    arr = np.asarray(geoms.values, dtype=object)
    cent = shapely.centroid(arr)
    inside = shapely.contains(arr, cent)
    return np.where(inside, cent, shapely.point_on_surface(arr))


def gap_table(
    layer: gpd.GeoDataFrame,
    *,
    areas: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    group: str = "",
    area_level: str = "subdistrict",
) -> gpd.GeoDataFrame:
    """The gap cells as drawn, with centre, sub-district and nearest facility.

    Parameters
    ----------
    layer : GeoDataFrame
        :func:`geo.maps.gap_layer` output (``h3``, ``weight`` = people after the privacy
        floor, ``resolution``, drawn geometry).
    areas : GeoDataFrame, optional
        Areas; the cell's centre is looked up among those of ``area_level``.
    facilities : GeoDataFrame, optional
        The facilities in service in the scenario (new sites included), for the nearest one
        and its straight-line distance in ground metres.
    group : str
        The demand group of the people left out (a ``group`` column, so the file loads
        back as demand of that group).

    Returns
    -------
    GeoDataFrame
        ``id`` (the H3 cell), ``group``, ``people``, ``resolution``, ``lon``, ``lat`` (the
        centre, WGS84), ``subdistrict``, ``nearest_id``, ``nearest_name``, ``nearest_m``,
        and the drawn polygon; sorted by people, most first.
    """
    from geo.coverage import nearest_facility

    geoms = gpd.GeoSeries(layer.geometry.to_numpy(), crs="EPSG:4326")
    centres = gpd.GeoSeries(_centres(geoms), crs="EPSG:4326")
    out = pd.DataFrame(
        {
            "id": layer["h3"].astype(str).to_numpy(),
            "group": group,
            "people": pd.to_numeric(layer["weight"]).to_numpy(dtype="float64"),
            "resolution": layer["resolution"].to_numpy(dtype="int64"),
            "lon": centres.x.to_numpy(),
            "lat": centres.y.to_numpy(),
            "subdistrict": "",
            "nearest_id": "",
            "nearest_name": "",
            "nearest_m": np.nan,
        }
    )
    if areas is not None and len(areas) and len(out):
        pick = areas
        if "level" in areas.columns and (areas["level"].astype(str) == area_level).any():
            pick = areas[areas["level"].astype(str) == area_level]
        pick = pick.to_crs(4326).reset_index(drop=True)
        pt_i, area_i = pick.sindex.query(centres, predicate="intersects")
        first = ~pd.Series(pt_i).duplicated().to_numpy()
        names = pick["name"].astype(str).to_numpy()
        out.loc[pt_i[first], "subdistrict"] = names[area_i[first]]
    if facilities is not None and len(facilities) and len(out):
        pts = gpd.GeoDataFrame(geometry=centres, crs="EPSG:4326")
        idx, dist = nearest_facility(facilities.to_crs(4326), pts)
        ok = idx >= 0
        fid = facilities["id"].astype(str).to_numpy()
        fname = facilities["name"].astype(str).to_numpy()
        out.loc[ok, "nearest_id"] = fid[idx[ok]]
        out.loc[ok, "nearest_name"] = fname[idx[ok]]
        out.loc[ok, "nearest_m"] = np.round(dist[ok], 0)
    frame = gpd.GeoDataFrame(out, geometry=geoms.to_numpy(), crs="EPSG:4326")
    return frame.sort_values("people", ascending=False, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- writing


def _in_datum(table: gpd.GeoDataFrame, datum: str) -> gpd.GeoDataFrame:
    """Every vertex and the lon/lat columns shifted to ``datum``; a ``datum`` column."""
    out = table.copy()
    if datum != "wgs84" and len(out):

        def _shift(xy: np.ndarray) -> np.ndarray:
            lon, lat = from_wgs84(xy[:, 0], xy[:, 1], datum)
            return np.column_stack([lon, lat])

        out = out.set_geometry(shapely.transform(np.asarray(out.geometry.values), _shift))
        out = out.set_crs("EPSG:4326", allow_override=True)
        if "lon" in out.columns:
            lon, lat = from_wgs84(out["lon"].to_numpy(), out["lat"].to_numpy(), datum)
            out["lon"], out["lat"] = lon, lat
    if "lon" not in out.columns and len(out) and (out.geom_type == "Point").all():
        out["lon"], out["lat"] = out.geometry.x.to_numpy(), out.geometry.y.to_numpy()
    out["datum"] = datum
    return out


def _attributes(table: gpd.GeoDataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(table.drop(columns=table.geometry.name))
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            frame[col] = frame[col].map(defuse_cell)
    return frame


def _csv(frame: pd.DataFrame) -> bytes:
    # BOM: Excel on Chinese Windows reads the file as UTF-8, not as GBK
    return ("\ufeff" + frame.to_csv(index=False, lineterminator="\r\n")).encode("utf-8")


def _xlsx(frames: Mapping[str, pd.DataFrame]) -> bytes:
    from openpyxl.utils import get_column_letter

    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        for name, frame in frames.items():
            frame.to_excel(xl, sheet_name=name, index=False)
            ws = xl.sheets[name]
            ws.freeze_panes = "A2"
            for j, col in enumerate(frame.columns, start=1):
                letter = get_column_letter(j)
                fmt = _NUMBER_FORMATS.get(str(col))
                if fmt:
                    for cell in ws[letter][1:]:
                        cell.number_format = fmt
                width = max([len(str(col))] + [len(str(v)) for v in frame[col].head(200)])
                ws.column_dimensions[letter].width = min(max(width + 2, 8), 60)
    return buf.getvalue()


def _geojson(table: gpd.GeoDataFrame, name: str, datum: str) -> bytes:
    body = json.loads(table.to_json(drop_id=True, to_wgs84=False))
    body = {"type": "FeatureCollection", "name": name, "datum": datum, **body}
    body.pop("crs", None)
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _ogr(tables: Mapping[str, gpd.GeoDataFrame], driver: str, suffix: str) -> bytes:
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"export{suffix}"
        for i, (name, table) in enumerate(tables.items()):
            pyogrio.write_dataframe(table, path, layer=name, driver=driver, append=i > 0)
        return path.read_bytes()


def _shapefile_zip(table: gpd.GeoDataFrame, name: str, encoding: str) -> bytes:
    import pyogrio

    short = table.rename(columns={k: v for k, v in _SHAPEFILE_NAMES.items() if k in table})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.shp"
        pyogrio.write_dataframe(
            short, path, driver="ESRI Shapefile", encoding=encoding.upper(), layer=name
        )
        cpg = path.with_suffix(".cpg")
        if not cpg.exists():  # older GDAL: write it ourselves, old desktop GIS needs it
            cpg.write_text(encoding.upper(), encoding="ascii")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(Path(tmp).iterdir()):
                zf.write(part, part.name)
        return buf.getvalue()


def export_tables(
    tables: Mapping[str, gpd.GeoDataFrame],
    fmt: str,
    *,
    table: str | None = None,
    datum: str = "wgs84",
    encoding: str = "utf-8",
) -> bytes:
    """The planner's tables as one file's bytes.

    Parameters
    ----------
    tables : mapping of name to GeoDataFrame
        WGS84 tables (:func:`facility_table`, :func:`area_table`, :func:`gap_table`, or
        any other), in the order they should appear.
    fmt : str
        A key of :data:`FORMATS`. ``csv``, ``geojson`` and ``zip`` (shapefile) hold one
        table, ``table``; ``xlsx`` (sheets), ``gpkg`` and ``kml`` (layers) hold them all,
        ``table`` first (loaders read the first).
    table : str, optional
        The table asked for; default the first.
    datum : {"wgs84", "gcj02", "bd09"}
        Datum of the coordinates written; recorded in a ``datum`` column (and the
        GeoJSON's ``datum`` member). KML is WGS84 by definition: a GCJ-02 KML is for
        tools that know it.
    encoding : {"utf-8", "gbk"}
        Text encoding of a shapefile's ``.dbf`` (named in its ``.cpg``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> t = gpd.GeoDataFrame({"id": ["S1"], "name": ["=1+1"]},
    ...                      geometry=[Point(121.85, 29.9)], crs=4326)
    >>> export_tables({"facilities": t}, "csv").decode("utf-8-sig").splitlines()
    ['id,name,lon,lat,datum', "S1,'=1+1,121.85,29.9,wgs84"]
    """
    if fmt not in FORMATS:
        raise ValidationError(f"fmt={fmt!r} is not one of {list(FORMATS)!r}")
    datum = check_datum(datum)
    if encoding.lower() not in ENCODINGS:
        raise ValidationError(f"encoding={encoding!r} is not one of {list(ENCODINGS)!r}")
    if not tables:
        raise ValidationError("tables is empty; pass at least one table to export")
    name = table if table is not None else next(iter(tables))
    if name not in tables:
        raise ValidationError(f"table={name!r} is not one of {list(tables)!r}")
    ordered = {name: tables[name], **{k: v for k, v in tables.items() if k != name}}
    shifted = {k: _in_datum(v, datum) for k, v in ordered.items()}
    if fmt == "csv":
        return _csv(_attributes(shifted[name]))
    if fmt == "xlsx":
        return _xlsx({k: _attributes(v) for k, v in shifted.items()})
    if fmt == "geojson":
        return _geojson(shifted[name], name, datum)
    if fmt == "gpkg":
        return _ogr(shifted, "GPKG", ".gpkg")
    if fmt == "kml":
        return _ogr(shifted, "LIBKML", ".kml")
    return _shapefile_zip(shifted[name], name, encoding.lower())


__all__ = [
    "ENCODINGS",
    "FACILITY_FIELDS",
    "FORMATS",
    "TABLES",
    "area_table",
    "defuse_cell",
    "export_tables",
    "facility_table",
    "gap_table",
]
