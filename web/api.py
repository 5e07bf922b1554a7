"""The JSON API (``/api``): GeoJSON out, described by ``/api/openapi.json``.

Views parse parameters (:mod:`web.params`), call :mod:`web.state` / ``geo``, serialise.
Coordinates are WGS84 unless ``datum=gcj02|bd09`` asks for the datum of a base map (a
non-standard GeoJSON member ``datum`` then says so); ``in_datum`` is the datum of the
coordinates a request gives (default: ``datum``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for

from geo import maps, siting
from geo.finder import local_now, point_from_wgs84, point_to_wgs84
from geo.layers import AMENITIES
from web import params
from web.errors import NotFound, ParameterError
from web.i18n import LANGS, current_lang
from web.state import NETWORK, AppData, Scenario, facilities_with_changes
from web.views import data

bp = Blueprint("api", __name__)


def _lang() -> str:
    return params.choice(request.args, "lang", LANGS, default=current_lang()) or "zh"


def _facility_filters(d: AppData) -> dict[str, Any]:
    args = request.args
    return {
        "types": params.choices(args, "type", d.types_present) if "type" in args else None,
        "amenities": params.choices(args, "amenity", [*AMENITIES, *d.amenities])
        if "amenity" in args
        else None,
        "q": (args.get("q") or "").strip()[:100] or None,
        "open_at": local_now(d.finder.timezone)
        if "open_now" in args and params.flag(args, "open_now")
        else None,
    }


def _with_open_state(feature: dict, state: bool | None, **extra) -> dict:
    return {**feature, "properties": {**feature["properties"], "open_now": state, **extra}}


def _page_links(total: int, offset: int, limit: int) -> list[dict[str, str]]:
    args = request.args.to_dict(flat=False)
    links = [{"rel": "self", "href": request.full_path.rstrip("?")}]
    for rel, off in (("next", offset + limit), ("prev", offset - limit)):
        if (rel == "next" and off < total) or (rel == "prev" and offset > 0):
            args["offset"] = [str(max(off, 0))]
            links.append({"rel": rel, "href": url_for("api.facilities", **args)})  # type: ignore[arg-type]
    return links


@bp.get("/")
def index():
    return jsonify(
        {
            "title": "servicemap API",
            "openapi": url_for("api.openapi"),
            "endpoints": [
                url_for("api.types"),
                url_for("api.facilities"),
                url_for("api.nearest"),
                url_for("api.search"),
                url_for("api.coverage_view"),
                url_for("api.gaps"),
                url_for("api.suggest"),
            ],
        }
    )


@bp.get("/openapi.json")
def openapi():
    from web.openapi import spec

    return jsonify(spec(data()))


@bp.get("/types")
def types():
    return jsonify(data().type_info(_lang()))


@bp.get("/facilities")
def facilities():
    d = data()
    args = request.args
    filters = _facility_filters(d)
    bbox = params.bbox(args)
    datum = params.datum(args)
    lang = _lang()
    limit = params.integer(
        args,
        "limit",
        default=int(current_app.config["PAGE_SIZE"]),
        lo=1,
        hi=int(current_app.config["PAGE_SIZE_MAX"]),
    )
    offset = params.integer(args, "offset", default=0, lo=0)
    if bbox is not None and datum != "wgs84":
        # a bbox in the display datum: its corners back to WGS84
        x0, y0 = point_to_wgs84(bbox[0], bbox[1], datum)
        x1, y1 = point_to_wgs84(bbox[2], bbox[3], datum)
        bbox = (x0, y0, x1, y1)
    mask = d.finder.mask(bbox=bbox, **filters)
    positions = mask.nonzero()[0]
    total = len(positions)
    page = positions[offset : offset + limit]
    feats = d.features(datum, lang)
    state = d.finder.open_state()
    return jsonify(
        {
            "type": "FeatureCollection",
            "datum": datum,
            "numberMatched": total,
            "numberReturned": len(page),
            "links": _page_links(total, offset, limit),
            "features": [_with_open_state(feats[i], state[i]) for i in page],
        }
    )


@bp.get("/facilities/<fid>")
def facility(fid: str):
    d = data()
    datum = params.datum(request.args)
    pos = d.finder.position.get(fid)
    if pos is None:
        raise NotFound(f"no facility with id {fid!r}")
    state = d.finder.open_state()[pos]
    body = _with_open_state(d.features(datum, _lang())[pos], state)
    if d.workspace is None:
        return jsonify(body)
    try:
        _record, version = d.workspace.get_facility(fid)
    except KeyError:  # closed since this worker read the layer
        raise NotFound(f"no facility with id {fid!r}") from None
    # the version to give back when changing it (If-Match, or "version" in the body)
    response = jsonify({**body, "version": version})
    response.headers["ETag"] = f'"{version}"'
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/nearest")
def nearest():
    d = data()
    args = request.args
    lat = params.required_number(args, "lat", lo=-90, hi=90)
    lon = params.required_number(args, "lon", lo=-180, hi=180)
    k = params.integer(
        args,
        "k",
        default=int(current_app.config["NEAREST_K"]),
        lo=1,
        hi=int(current_app.config["NEAREST_K_MAX"]),
    )
    datum = params.datum(args)
    in_datum = params.datum(args, "in_datum", default=datum)
    filters = _facility_filters(d)
    wlon, wlat = point_to_wgs84(lon, lat, in_datum)
    pos, dist, time_s = d.finder.nearest_positions(wlon, wlat, k=k, **filters)
    feats = d.features(datum, _lang())
    state = d.finder.open_state()
    out = []
    for i, p in enumerate(pos.tolist()):
        extra: dict[str, float | None] = {"distance_m": round(float(dist[i]), 1)}
        if time_s is not None:
            t = float(time_s[i])
            extra["time_s"] = round(t, 1) if t == t else None
        out.append(_with_open_state(feats[p], state[p], **extra))
    qlon, qlat = point_from_wgs84(wlon, wlat, datum)
    return jsonify(
        {
            "type": "FeatureCollection",
            "datum": datum,
            "query": {
                "lon": round(wlon, 7),
                "lat": round(wlat, 7),
                "datum": "wgs84",
                "display": [round(qlon, 7), round(qlat, 7)],
            },
            "travel_time": d.finder.travel_time is not None,
            "features": out,
        }
    )


@bp.get("/search")
def search():
    """Areas (sub-districts, communities) and facilities whose name or address holds ``q``."""
    d = data()
    q = (request.args.get("q") or "").strip()
    if not q:
        raise ParameterError("q", "is required: some text of a name or an address")
    if len(q) > 100:
        raise ParameterError("q", "is longer than 100 characters")
    datum = params.datum(request.args)
    lang = _lang()
    areas = d.demo.areas
    needle = q.casefold()
    hits = []
    for row in areas.itertuples(index=False):
        names = [str(row.name), str(getattr(row, "name_en", "") or "")]
        if any(needle in n.casefold() for n in names if n):
            p = row.geometry.representative_point()
            lon, lat = point_from_wgs84(p.x, p.y, datum)
            hits.append(
                {
                    "id": str(row.id),
                    "name": str(row.name),
                    "name_en": str(getattr(row, "name_en", "") or ""),
                    "level": str(row.level),
                    "point": {"lon": round(p.x, 7), "lat": round(p.y, 7)},
                    "display": [round(lon, 7), round(lat, 7)],
                }
            )
    mask = d.finder.mask(q=q)
    feats = d.features(datum, lang)
    state = d.finder.open_state()
    return jsonify(
        {
            "q": q,
            "datum": datum,
            "areas": hits[:20],
            "facilities": {
                "type": "FeatureCollection",
                "features": [_with_open_state(feats[i], state[i]) for i in mask.nonzero()[0][:50]],
            },
        }
    )


def scenario_from_request(d: AppData, args=None, *, required: bool = True) -> Scenario | None:
    """The coverage scenario named by ``type``, ``threshold_m`` (or ``threshold_s`` on a
    road network), ``off`` and ``add`` (in ``datum``) in ``args`` (default: the request's
    query). The threshold defaults to the type's own."""
    args = request.args if args is None else args
    key = params.choice(args, "type", d.types_present)
    if key is None:
        if required:
            raise ParameterError("type", f"is required; one of {d.types_present!r}")
        return None
    base = d.default_scenario(key)
    if d.measure == NETWORK:
        if args.get("threshold_m"):
            raise ParameterError(
                "threshold_m", "distances are travel times on the road network: give threshold_s"
            )
        base = Scenario(
            key,
            threshold_s=params.number(
                args, "threshold_s", default=base.threshold_s, lo=1, hi=86_400
            ),
        )
    else:
        if args.get("threshold_s"):
            raise ParameterError(
                "threshold_s",
                "no road network is loaded (straight-line distance): give threshold_m",
            )
        base = Scenario(
            key,
            threshold_m=params.number(
                args, "threshold_m", default=base.threshold_m, lo=1, hi=100_000
            ),
        )
    off = params.listing(args, "off")
    unknown = [i for i in off if i not in d.finder.position]
    if unknown:
        raise ParameterError("off", f"no facility with id {unknown[0]!r}")
    datum = params.datum(args)
    add = [point_to_wgs84(lon, lat, datum) for lon, lat in params.points(args, "add")]
    return replace(
        base,
        off=tuple(sorted(set(off))),
        add=tuple((round(x, 7), round(y, 7)) for x, y in add),
    )


@bp.get("/coverage")
def coverage_view():
    """Coverage per type (and per area): all types' headlines, or one type in full."""
    d = data()
    lang = _lang()
    level = params.choice(
        request.args,
        "area_level",
        sorted(set(d.demo.areas["level"].astype(str))) if len(d.demo.areas) else [],
    )
    scenario = scenario_from_request(d, required=False)
    if scenario is None:
        return jsonify(
            {
                "types": [
                    d.coverage_json(d.default_scenario(key), area_level=level, lang=lang)
                    for key in d.types_present
                ]
            }
        )
    return jsonify(d.coverage_json(scenario, area_level=level, lang=lang))


@bp.get("/gaps")
def gaps():
    """Uncovered people on the H3 grid, privacy floor applied, as GeoJSON."""
    d = data()
    scenario = scenario_from_request(d)
    assert scenario is not None
    return jsonify(d.gap_layer_geojson(scenario, params.datum(request.args)))


@bp.get("/suggest")
def suggest():
    """Suggested new sites for a type (:func:`geo.siting.suggest_sites`), as GeoJSON points.

    The scenario's switched-off and added sites are taken into account; ``k`` sites are
    suggested with ``model`` (a key of ``geo.siting.SITING_MODELS``) and ``method``
    (``exact`` or ``fast``). What each site adds is published by the privacy rule, like
    every figure: not here, but through ``/api/coverage?add=``.
    """
    d = data()
    scenario = scenario_from_request(d)
    assert scenario is not None
    k = params.integer(request.args, "k", default=3, lo=1, hi=20)
    model = params.choice(request.args, "model", siting.MODELS)
    method = params.choice(request.args, "method", siting.METHODS, default="exact") or "exact"
    datum = params.datum(request.args)
    result = siting.suggest_sites(
        facilities_with_changes(d.demo.facilities, scenario),
        d.demo.demand,
        facility_type=scenario.facility_type,
        add=k,
        model=model,
        method=method,
        threshold_m=scenario.threshold_m,
        boundary=d.demo.boundary,
        time_limit_s=float(current_app.config.get("SUGGEST_TIME_LIMIT_S", 10.0)),
    )
    sites = maps.to_display(result.sites, datum)
    features = [
        {
            "type": "Feature",
            "id": str(i),
            "geometry": {"type": "Point", "coordinates": [round(g.x, 7), round(g.y, 7)]},
            "properties": {"id": str(i), "rank": n + 1},
        }
        for n, (i, g) in enumerate(zip(sites["id"], sites.geometry, strict=True))
    ]
    # the people each site adds are exact figures: the public sees the scenario's figures
    # with the sites added through /api/coverage?add=..., published by the privacy rule
    return jsonify(
        {
            "type": "FeatureCollection",
            "datum": datum,
            "suggestion": {
                "facility_type": scenario.facility_type,
                "model": result.model,
                "model_summary": siting.SITING_MODELS[result.model].summary,
                "method": result.method,
                "measure": result.measure,
                "proven_optimal": result.proven_optimal,
            },
            "features": features,
        }
    )
