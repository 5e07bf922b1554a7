"""Errors as JSON: one handler turns every ``ServicemapError`` into a response.

A ``ServicemapError`` carries its HTTP status; :class:`ParameterError` also names the
request parameter at fault, so a 400 says which parameter and why.
"""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from geo.errors import ConflictError, ServicemapError, ValidationError


class ParameterError(ValidationError):
    """A request parameter is missing or invalid (HTTP 400)."""

    status = 400

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"parameter {parameter!r}: {message}")
        self.parameter = parameter
        self.reason = message


class NotFound(ServicemapError, LookupError):
    """Nothing with that id (HTTP 404)."""

    status = 404


def _body(status: int, message: str, **extra):
    return {"error": {"status": status, "message": message, **extra}}


def register(app: Flask) -> None:
    """Install the JSON error handlers on ``app``."""

    @app.errorhandler(ServicemapError)
    def _servicemap_error(exc: ServicemapError):
        status = int(getattr(exc, "status", 500) or 500)
        extra = {}
        if isinstance(exc, ParameterError):
            extra = {"parameter": exc.parameter, "reason": exc.reason}
        if status >= 500:
            app.logger.exception("servicemap error")
        return jsonify(_body(status, str(exc), **extra)), status

    @app.errorhandler(ConflictError)
    def _conflict(exc: ConflictError):
        # both sides, so the editor can be shown them and merge (nothing was written)
        from web.api_write import jsonable

        body = _body(409, str(exc))
        datum = getattr(exc, "datum", "wgs84")  # the write's: lon/lat of both sides in it
        body.update(
            {
                "id": exc.feature_id,
                "expected_version": exc.expected_version,
                "current_version": exc.current_version,
                "datum": datum,
                "current": jsonable(exc.current, datum),
                "proposed": jsonable(exc.proposed, datum),
            }
        )
        return jsonify(body), 409

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return jsonify(_body(exc.code or 500, exc.description or exc.name)), exc.code
        from web.public import error_page  # our localised HTML page (not Werkzeug's)

        return error_page(exc)
