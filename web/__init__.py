"""The servicemap web app: public finder (``/``), planner (``/planner``), API (``/api``).

    from web import create_app
    app = create_app()                       # defaults, instance config, SERVICEMAP_* env
    app = create_app({"TESTING": True, "TILES": "none"})   # defaults and these only

Run it with ``servicemap serve --demo beilun`` or ``gunicorn -w 2 'web:create_app()'``.
Nothing is loaded when the app is created: the data is read on the first request that needs
it (or by :meth:`web.state.AppData.warm`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Flask, g, request

from geo import maps
from web import config
from web.state import EXTENSION, AppData


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``instance/config.py`` and ``SERVICEMAP_*`` variables,
    or, given ``test_config``, the defaults and that mapping only."""
    import os

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config.DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env(config.ENV_PREFIX.rstrip("_"))
        config.check(app.config, os.environ)
    else:
        app.config.update(test_config)
        config.check(app.config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    data = AppData(app.config)
    app.extensions[EXTENSION] = data

    from pathlib import Path

    from web import api, api_write, auth, editing, errors, i18n, planner, public

    @app.before_request
    def _per_request() -> None:
        g.lang = i18n.choose_lang()
        g.csp_nonce = secrets.token_urlsafe(16)
        # before anything reads the layers or the users: someone saved (in any worker,
        # any process)? then read them again
        if request.endpoint not in ("static", "public.vendor"):
            data.refresh()

    if app.config.get("WORKSPACE"):
        secret_folder: Path | None = Path(str(app.config["WORKSPACE"]))
    elif test_config is None:
        secret_folder = Path(app.instance_path)
    else:
        secret_folder = None  # a test app: a key of its own
    auth.init_app(app, secret_folder=secret_folder)
    errors.register(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(planner.bp, url_prefix="/planner")
    app.register_blueprint(api.bp, url_prefix="/api")
    app.register_blueprint(api_write.bp, url_prefix="/api")
    from web import feedback  # public reports and their review (issue 11)

    app.register_blueprint(feedback.bp)
    editing.init_app(app)  # /planner/upload, /planner/facility/<id>
    from web import api_standards  # standards, compliance, criticality (issue 12)

    app.register_blueprint(api_standards.bp)
    from web import qr  # short URLs, QR codes, plates (issue 11)

    app.register_blueprint(qr.bp)

    @app.after_request
    def _headers(response):
        if request.args.get("lang") in i18n.LANGS:
            response.set_cookie(
                i18n.COOKIE, request.args["lang"], max_age=365 * 86400, samesite="Lax"
            )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("X-Frame-Options", "DENY")
            if app.config.get("CSP", True):
                response.headers["Content-Security-Policy"] = content_security_policy(
                    getattr(g, "csp_nonce", ""), data.tiles.origins()
                )
        return response

    @app.context_processor
    def _template_globals():
        lang = i18n.current_lang()
        return {
            "_": i18n.gettext,
            "lang": lang,
            "other_lang": "en" if lang == "zh" else "zh",
            "csp_nonce": getattr(g, "csp_nonce", ""),
            "asset_version": maps.asset_version,
            "lang_url": _lang_url,
            "with_query": _with_query,
        }

    return app


def _lang_url(lang: str) -> str:
    """This page in another language: the same path and query, ``lang`` replaced.

    Built from the request's path rather than ``url_for(endpoint, **args)``, so a query
    argument named like a ``url_for`` option (``endpoint``, ``_method``) is just text.
    """
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return request.path + "?" + urlencode([*args, ("lang", lang)])


def _with_query(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)`` with this request's query string kept as text (never
    spread into ``url_for``, where ``endpoint=`` or ``_method=`` would mean something)."""
    from flask import url_for

    url = url_for(endpoint, **values)
    query = request.query_string.decode("utf-8", "replace")
    return f"{url}?{query}" if query else url


def content_security_policy(nonce: str, tile_origins: list[str]) -> str:
    """Scripts and styles only from this app (inline ones need the page's nonce); images
    also from the tile servers; no plug-ins, frames or foreign form targets."""
    img = " ".join(["'self'", "data:", *tile_origins])
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src {img}; connect-src 'self'; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    )


__all__ = ["create_app"]
