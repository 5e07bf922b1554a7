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


_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]


def _write_paths(types: list[str], error: dict) -> dict[str, dict]:
    """The write API (web/api_write.py): its operations, keyed by path."""
    fid = _p("id", "path", {"type": "string"}, "Facility id.", True)
    if_match = _p(
        "If-Match",
        "header",
        {"type": "string", "example": '"12"'},
        "The version the change starts from (the ETag of GET /api/facilities/{id}); or "
        '"version" in the body (or the query, for DELETE).',
    )
    fields = {
        "type": {"type": "string", "enum": types},
        "name": {"type": "string"},
        "address": {"type": "string"},
        "hours": {"type": "string", "description": "OpenStreetMap opening_hours"},
        "capacity": {"type": ["number", "null"]},
        "amenities": {"type": "array", "items": {"type": "string"}},
        "level": {"type": "string"},
        "contact": {"type": "string"},
        "source": {"type": "string"},
        "updated_at": {"type": "string"},
        "lon": {"type": "number", "description": "WGS84 (unless datum says otherwise)"},
        "lat": {"type": "number"},
        "datum": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"], "default": "wgs84"},
        "reason": {"type": "string", "maxLength": 500, "description": "Why (kept)."},
    }
    saved = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "version": {"type": "integer"}},
    }
    conflict = {"$ref": "#/components/responses/Conflict"}
    refused = {
        "401": {"description": "Not signed in, or the token is unknown or revoked"},
        "403": {"description": "The user's (or the token's) role is too low"},
    }

    def answer(code: str, what: str) -> dict:
        return {code: {"description": what, "content": {"application/json": {"schema": saved}}}}

    def body(schema: dict) -> dict:
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    change = {"type": "object", "properties": {**fields, "version": {"type": "integer"}}}
    return {
        "/api/facilities": {
            "post": {
                "summary": "Add a facility (editor); validated as an import is",
                "security": _SECURITY,
                "requestBody": body(
                    {
                        "type": "object",
                        "required": ["type", "name", "lon", "lat"],
                        "properties": {
                            "id": {"type": "string", "description": "Default: the next free"},
                            **fields,
                        },
                    }
                ),
                "responses": {
                    **answer("201", "Added"),
                    "400": error,
                    **refused,
                    "409": conflict,
                },
            }
        },
        "/api/facilities/{id}": {
            "patch": {
                "summary": "Change a facility's fields, or move it (editor)",
                "security": _SECURITY,
                "parameters": [fid, if_match],
                "requestBody": body(change),
                "responses": {
                    **answer("200", "Saved"),
                    "400": error,
                    **refused,
                    "404": error,
                    "409": conflict,
                    "428": error,
                },
            },
            "delete": {
                "summary": "Close a facility (editor): it leaves the layer; its history stays",
                "security": _SECURITY,
                "parameters": [
                    fid,
                    if_match,
                    _p("version", "query", {"type": "integer"}, "Instead of If-Match."),
                    _p("reason", "query", {"type": "string"}, "Why (kept)."),
                ],
                "responses": {
                    **answer("200", "Closed"),
                    **refused,
                    "404": error,
                    "409": conflict,
                    "428": error,
                },
            },
        },
        "/api/facilities/{id}/history": {
            "get": {
                "summary": "Every change of a facility: version, at, user, reason, action, "
                "op, before, after (editor)",
                "security": _SECURITY,
                "parameters": [fid],
                "responses": {**ok_json({"type": "array"}), **refused, "404": error},
            }
        },
        "/api/layers/{layer}/rollback": {
            "post": {
                "summary": "Make a layer what it was at a store version, as new changes (admin)",
                "security": _SECURITY,
                "parameters": [
                    _p(
                        "layer",
                        "path",
                        {"type": "string", "enum": ["facilities", "demand", "areas", "boundary"]},
                        "Layer.",
                        True,
                    )
                ],
                "requestBody": body(
                    {
                        "type": "object",
                        "required": ["version"],
                        "properties": {
                            "version": {"type": "integer"},
                            "reason": {"type": "string"},
                        },
                    }
                ),
                "responses": {**ok_json({"type": "object"}), "400": error, **refused},
            }
        },
    }


def ok_json(schema: dict) -> dict:
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def spec(data) -> dict[str, Any]:
    from web.api_standards import openapi_paths as standards_paths
    from web.feedback import feedback_paths

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
    write_paths = _write_paths(types, error)

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
                },
                **write_paths["/api/facilities"],
            },
            "/api/facilities/{id}": {
                "get": {
                    "summary": "One facility (with a workspace: its version, also as ETag)",
                    "parameters": [
                        _p("id", "path", {"type": "string"}, "Facility id.", True),
                        datum,
                    ],
                    "responses": {
                        **ok({"$ref": "#/components/schemas/Feature"}),
                        "404": error,
                    },
                },
                **write_paths["/api/facilities/{id}"],
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
            **feedback_paths(error),  # web/feedback.py (issue 11)
            "/api/facilities/{id}/history": write_paths["/api/facilities/{id}/history"],
            "/api/layers/{layer}/rollback": write_paths["/api/layers/{layer}/rollback"],
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
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (smt_...) from `servicemap users token DIR "
                    "NAME --label L [--role R]`, scoped to its role (never above its user's). "
                    "Requests with a token need no CSRF token.",
                },
                "cookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "servicemap_session",
                    "description": "The session of a user signed in at /planner/login. "
                    "Writes also need the page's CSRF token in the X-CSRFToken header "
                    '(<meta name="csrf-token"> of every page).',
                },
            },
            "responses": {
                "Error": {
                    "description": "Invalid parameter (400), not found (404), not available (501)",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
                "Conflict": {
                    "description": "Someone saved the facility after the version given: "
                    "nothing was written; both sides are in the answer",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "error": {"type": "object"},
                                    "expected_version": {"type": ["integer", "null"]},
                                    "current_version": {"type": ["integer", "null"]},
                                    "datum": {
                                        "type": "string",
                                        "description": "the datum of lon/lat in current "
                                        "and proposed: the write's (geometry stays WGS84)",
                                    },
                                    "current": {"type": ["object", "null"]},
                                    "proposed": {"type": ["object", "null"]},
                                },
                            }
                        }
                    },
                },
            },
        },
    }
