"""The OpenAPI 3.1 description of ``/api``, served at ``/api/openapi.json``."""

from __future__ import annotations

from typing import Any


def _siting_model_parameter() -> dict:
    """``model`` of ``/api/suggest``: the keys and one-line summaries of geo's model table."""
    from geo.siting import SITING_MODELS

    lines = "; ".join(f"{k}: {m.summary}" for k, m in SITING_MODELS.items())
    return _p(
        "model",
        "query",
        {"type": "string", "enum": list(SITING_MODELS)},
        f"Location model (default route for driver homes, else mclp). {lines}.",
    )


def _p(name: str, where: str, schema: dict, description: str, required: bool = False) -> dict:
    return {
        "name": name,
        "in": where,
        "required": required,
        "schema": schema,
        "description": description,
    }


def spec(data) -> dict[str, Any]:
    from web.api_standards import openapi_paths as standards_paths

    types = data.types_present
    datum = _p(
        "datum",
        "query",
        {"type": "string", "enum": ["wgs84", "gcj02", "bd09"], "default": "wgs84"},
        "Datum of the coordinates returned (and of those given, unless in_datum says "
        "otherwise). GeoJSON proper is WGS84; gcj02 is for drawing on AMap tiles.",
    )
    type_list = _p(
        "type",
        "query",
        {"type": "array", "items": {"type": "string", "enum": types}},
        "Facility types, comma-separated or repeated.",
    )
    amenity = _p(
        "amenity",
        "query",
        {"type": "array", "items": {"type": "string"}},
        "Amenities the facility must all have (water, microwave, charging, toilet, rest, ...).",
    )
    open_now = _p(
        "open_now", "query", {"type": "boolean"}, "Only facilities open now (local time)."
    )
    q = _p("q", "query", {"type": "string", "maxLength": 100}, "Text in the name or address.")
    scenario = [
        _p("type", "query", {"type": "string", "enum": types}, "Facility type.", True),
        _p("threshold_m", "query", {"type": "number", "minimum": 1}, "Coverage distance, m."),
        _p(
            "off",
            "query",
            {"type": "array", "items": {"type": "string"}},
            "What-if: facility ids switched off (comma-separated).",
        ),
        _p(
            "add",
            "query",
            {"type": "string", "example": "121.85,29.9;121.8,29.88"},
            "What-if: new sites as lon,lat pairs separated by ';' (in datum).",
        ),
        datum,
    ]
    error = {"$ref": "#/components/responses/Error"}
    fc = {"$ref": "#/components/schemas/FeatureCollection"}

    def ok(schema: dict, media: str = "application/json") -> dict:
        return {"200": {"description": "OK", "content": {media: {"schema": schema}}}, "400": error}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "servicemap API",
            "version": "1",
            "description": "Trade-union service facilities, nearest facilities, coverage "
            "and gaps. Errors are JSON: {error: {status, message, parameter}}.",
        },
        "paths": {
            "/api/types": {
                "get": {"summary": "Facility types", "responses": ok({"type": "object"})}
            },
            "/api/facilities": {
                "get": {
                    "summary": "Facilities, filtered and paged",
                    "parameters": [
                        _p(
                            "bbox",
                            "query",
                            {"type": "string", "example": "121.7,29.8,121.9,29.95"},
                            "min_lon,min_lat,max_lon,max_lat (in datum).",
                        ),
                        type_list,
                        amenity,
                        open_now,
                        q,
                        _p("limit", "query", {"type": "integer", "minimum": 1}, "Page size."),
                        _p("offset", "query", {"type": "integer", "minimum": 0}, "Page start."),
                        datum,
                    ],
                    "responses": ok(fc, "application/json"),
                }
            },
            "/api/facilities/{id}": {
                "get": {
                    "summary": "One facility",
                    "parameters": [
                        _p("id", "path", {"type": "string"}, "Facility id.", True),
                        datum,
                    ],
                    "responses": {
                        **ok({"$ref": "#/components/schemas/Feature"}),
                        "404": error,
                    },
                }
            },
            "/api/nearest": {
                "get": {
                    "summary": "The k nearest facilities to a point (distance, and travel "
                    "time when a road network is loaded)",
                    "parameters": [
                        _p("lat", "query", {"type": "number"}, "Latitude.", True),
                        _p("lon", "query", {"type": "number"}, "Longitude.", True),
                        _p("k", "query", {"type": "integer", "minimum": 1}, "How many."),
                        type_list,
                        amenity,
                        open_now,
                        datum,
                        _p(
                            "in_datum",
                            "query",
                            {"type": "string", "enum": ["wgs84", "gcj02", "bd09"]},
                            "Datum of lat/lon (a browser's position is wgs84).",
                        ),
                    ],
                    "responses": ok(fc),
                }
            },
            "/api/search": {
                "get": {
                    "summary": "Areas and facilities matching a text",
                    "parameters": [{**q, "required": True}, datum],
                    "responses": ok({"type": "object"}),
                }
            },
            "/api/coverage": {
                "get": {
                    "summary": "Coverage summary: every type's headline, or one type with "
                    "its areas and facility loads (what-if with off/add)",
                    "parameters": [
                        {**scenario[0], "required": False},
                        *scenario[1:],
                        _p("area_level", "query", {"type": "string"}, "subdistrict, ..."),
                    ],
                    "responses": ok({"type": "object"}),
                }
            },
            "/api/gaps": {
                "get": {
                    "summary": "People left out on the H3 grid; cells under the privacy "
                    "floor are merged upwards or withheld",
                    "parameters": scenario,
                    "responses": ok(fc, "application/geo+json"),
                }
            },
            "/api/suggest": {
                "get": {
                    "summary": "Suggested new sites, with the people each adds",
                    "parameters": [
                        *scenario,
                        _p("k", "query", {"type": "integer"}, "How many sites."),
                        _siting_model_parameter(),
                        _p(
                            "method",
                            "query",
                            {"type": "string", "enum": ["exact", "fast"], "default": "exact"},
                            "exact: HiGHS, proven optimum (or the gap at the time limit); "
                            "fast: heuristics.",
                        ),
                    ],
                    "responses": {**ok(fc), "400": error},
                }
            },
            **standards_paths(types, datum, error),  # web/api_standards.py (issue 12)
        },
        "components": {
            "schemas": {
                "Feature": {
                    "type": "object",
                    "required": ["type", "geometry", "properties"],
                    "properties": {
                        "type": {"const": "Feature"},
                        "id": {"type": "string"},
                        "geometry": {"type": "object"},
                        "properties": {"type": "object"},
                    },
                },
                "FeatureCollection": {
                    "type": "object",
                    "required": ["type", "features"],
                    "properties": {
                        "type": {"const": "FeatureCollection"},
                        "datum": {"type": "string"},
                        "numberMatched": {"type": "integer"},
                        "numberReturned": {"type": "integer"},
                        "links": {"type": "array"},
                        "features": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Feature"},
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "integer"},
                                "message": {"type": "string"},
                                "parameter": {"type": "string"},
                            },
                        }
                    },
                },
            },
            "responses": {
                "Error": {
                    "description": "Invalid parameter (400), not found (404), not available (501)",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
        },
    }
