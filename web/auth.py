"""Sign-in, roles, API tokens, CSRF and rate limits (issue 10).

- **Users and tokens** come from the workspace's store (:class:`geo.store.Store`:
  ``authenticate``, ``verify_token``; roles ``viewer < editor < admin`` in
  :data:`geo.store.ROLES`). Flask-Login keeps the signed-in user's name in the session
  cookie; an ``Authorization: Bearer smt_...`` header signs a request in as the token's
  user, with the token's role (never above the user's), and then the session is ignored.
- **Who may do what**: :func:`role_required` on a view; every ``/planner/...`` page needs
  a signed-in viewer (:func:`guard_planner`, so a page added later cannot be left open).
  A workspace without users (and the shipped demo) keeps everything open: the visitor is
  ``"demo"`` with every role, and the pages say it is a demo.
- **CSRF**: Flask-WTF's :class:`CSRFProtect` on every POST, PATCH, PUT and DELETE, except
  requests carrying a bearer token (a script's, which a browser never adds by itself) and
  views exempted with ``csrf.exempt``. Pages carry the token in
  ``<meta name="csrf-token">``; ``SM.send`` (static/sm.js) sends it as ``X-CSRFToken``.
- **Rate limits**: :data:`limiter` (Flask-Limiter, in-memory storage: each gunicorn worker
  counts on its own, so a limit of n per minute lets through up to n per worker).
  Sign-in attempts are limited by ``SIGN_IN_LIMIT`` per client address.

Views elsewhere use::

    from web.auth import current_name, limiter, role_required

    @bp.post("/thing")
    @role_required("editor")
    def thing(): ...  # current_name() is who, for the history
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect

from geo.store import ROLES
from web.i18n import gettext

bp = Blueprint("auth", __name__)

csrf = CSRFProtect()
limiter = Limiter(get_remote_address, storage_uri="memory://")
login_manager = LoginManager()

#: Who the visitor is when the workspace has no users (the shipped demo): every role.
DEMO_USER = "demo"
TOKEN_PREFIX = "smt_"
SECRET_FILE = "secret_key"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Endpoints under /planner that anyone may reach: the sign-in page itself.
OPEN_ENDPOINTS = frozenset({"auth.login", "auth.logout"})

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user (a Flask-Login user): by password (session) or by an API token."""

    name: str
    role: str
    token: str | None = None  # the token's label, for a token

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return self.name

    def has_role(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


# --------------------------------------------------------------------------- set-up


def secret_key(app: Flask, folder: Path | None) -> str:
    """``SECRET_KEY`` from the config; else the one kept in ``folder/secret_key`` (the
    workspace, or the instance folder), made there on first start (mode 0600), so every
    worker and every restart signs sessions with the same key."""
    given = app.config.get("SECRET_KEY")
    if given:
        return str(given)
    if folder is None:
        return secrets.token_hex(32)  # a test app: its sessions end with it
    path = folder / SECRET_FILE
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ValueError(f"{path}: a secret key of at least 32 characters is needed")
    return key


def init_app(app: Flask, *, secret_folder: Path | None) -> None:
    """Sign-in, CSRF and rate limits on ``app``; cookies HttpOnly, SameSite=Lax, and
    Secure when the app is served over HTTPS (``PREFERRED_URL_SCHEME = "https"``)."""
    app.config["SECRET_KEY"] = secret_key(app, secret_folder)
    if app.config.get("SESSION_COOKIE_NAME") in (None, "session"):  # Flask's default
        app.config["SESSION_COOKIE_NAME"] = "servicemap_session"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    if app.config.get("PREFERRED_URL_SCHEME") == "https":
        app.config["SESSION_COOKIE_SECURE"] = True
    # the token lives as long as the session (a planner page left open for hours still saves)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    # checked in _check_csrf below, which lets bearer-token requests through
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)

    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    app.register_blueprint(bp, url_prefix="/planner")
    app.before_request(_check_csrf)
    app.before_request(guard_planner)

    @app.context_processor
    def _auth_globals():
        return {"auth": auth_state()}


def _check_csrf() -> None:
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if request.method in _UNSAFE and bearer_token() is None:
        csrf.protect(apply_exemptions=True)


# --------------------------------------------------------------------------- who


def _data():
    from web.views import data

    return data()


def bearer_token() -> str | None:
    """The API token of ``Authorization: Bearer smt_...``, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value.startswith(TOKEN_PREFIX):
        return value
    return None


@login_manager.user_loader
def _load_session_user(name: str) -> SignedIn | None:
    if bearer_token() is not None:
        return None  # a token request: the token alone says who it is
    user = _data().users().get(name)
    return SignedIn(user.name, user.role) if user is not None else None


@login_manager.request_loader
def _load_token_user(req) -> SignedIn | None:
    token = bearer_token()
    store = _data().store
    if token is None or store is None:
        return None
    found = store.verify_token(token)
    if found is None:
        return None
    return SignedIn(found.user, found.role, token=found.label)


def auth_enabled() -> bool:
    """Whether sign-in is needed: the app serves a workspace that has users."""
    return bool(_data().users())


def current_role() -> str | None:
    """The visitor's role: every role when sign-in is off, None when not signed in."""
    if not auth_enabled():
        return ROLES[-1]
    if current_user.is_authenticated:
        return current_user.role
    return None


def current_name() -> str:
    """Who is doing this, for the history (``user=`` of store writes): the signed-in
    user's name (a token's user for a token), or ``"demo"`` when sign-in is off."""
    if auth_enabled() and current_user.is_authenticated:
        return str(current_user.name)
    return DEMO_USER


def auth_state() -> dict[str, Any]:
    """What the pages show: sign-in on or off, who is signed in, with what role."""
    try:
        on = auth_enabled()
    except Exception:  # an error page drawn when the store cannot be read
        on = False
    signed = on and current_user.is_authenticated
    return {
        "enabled": on,
        "user": str(current_user.name) if signed else None,
        "role": current_user.role if signed else None,
    }


# --------------------------------------------------------------------------- refusals


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def refusal(role: str):
    """None when the visitor may act with ``role``, else the response refusing it:
    anonymous: a redirect to the sign-in page (a page) or 401 (the API); too low: 403."""
    have = current_role()
    if have is not None and ROLES.index(have) >= ROLES.index(role):
        return None
    if have is None:
        if _wants_json() or bearer_token() is not None or request.method != "GET":
            message = (
                "this API token is not valid (unknown or revoked)"
                if request.headers.get("Authorization")
                else "sign in first: a session (POST /planner/login) or an API token "
                "(Authorization: Bearer smt_...)"
            )
            body = {"error": {"status": 401, "message": message}}
            return jsonify(body), 401, {"WWW-Authenticate": 'Bearer realm="servicemap"'}
        return redirect(url_for("auth.login", next=_here()))
    abort(403, description=f"this needs the role {role!r}; you are {have!r}")


def role_required(role: str) -> Callable[[F], F]:
    """Let through visitors with at least ``role`` (``viewer``, ``editor``, ``admin``).

    Anonymous visitors are sent to the sign-in page (pages) or answered 401 (``/api/``,
    JSON requests, writes); a signed-in user with too low a role gets 403. A workspace
    without users lets everyone through (as ``"demo"``).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args, **kwargs):
            refused = refusal(role)
            if refused is not None:
                return refused
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


def guard_planner():
    """Every ``/planner/...`` page needs a signed-in viewer (sign-in itself excepted)."""
    if request.endpoint in OPEN_ENDPOINTS or not request.path.startswith("/planner"):
        return None
    return refusal("viewer")


# --------------------------------------------------------------------------- pages


def _here() -> str:
    return request.full_path.rstrip("?") if request.query_string else request.path


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another host)."""
    default = url_for("planner.dashboard")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target


def _sign_in_limit() -> str:
    return str(current_app.config.get("SIGN_IN_LIMIT") or "10/minute")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def login():
    """The sign-in form (GET) and its answer (POST: a redirect, or the form again)."""
    target = _safe_next(request.values.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        name = (request.form.get("name") or "").strip()[:200]
        password = request.form.get("password") or ""
        store = _data().store
        user = store.authenticate(name, password) if store is not None and name else None
        if user is not None:
            session.clear()  # a new session: nothing carried over from before signing in
            login_user(SignedIn(user.name, user.role))
            return redirect(target)
        error = gettext("login_failed")
        status = 401
    return render_template(
        "login.html",
        next=target,
        error=error,
        enabled=auth_enabled(),
        name=(request.form.get("name") or "")[:200] if request.method == "POST" else "",
        config=None,
        map=None,
    ), status


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("public.finder"))


__all__ = [
    "DEMO_USER",
    "SignedIn",
    "auth_enabled",
    "bearer_token",
    "csrf",
    "current_name",
    "current_role",
    "init_app",
    "limiter",
    "role_required",
]
