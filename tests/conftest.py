"""Shared fixtures: the Flask app, its test client and CLI runner, and for the browser
tests a live server on a local port with a headless Chromium that may not leave localhost.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# Facility text that must show as text everywhere: HTML, a closing script tag, a backtick
# and a template-literal substitution.
XSS_NAME = "<img src=x onerror=alert(1)>`${alert(2)}`</script><script>alert(3)</script>"
XSS_ADDRESS = "</script><script>alert(4)</script> ${alert(5)} `x` <b onmouseover=alert(6)>"
XSS_ID = "OS001"

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]


@pytest.fixture
def app():
    from web import create_app

    return create_app({"TESTING": True, "TILES": "none"})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def xss_demo():
    """The Beilun demo with one station's name and address full of markup and script."""
    from geo.demo import Demo, load_demo

    d = load_demo("beilun")
    fac = d.facilities.copy()
    row = fac.index[fac["id"] == XSS_ID][0]
    fac.loc[row, "name"] = XSS_NAME
    fac.loc[row, "address"] = XSS_ADDRESS
    return Demo(d.name, fac, d.demand, d.areas, d.boundary)


# --------------------------------------------------------------------------- live server


@dataclass
class LiveServer:
    url: str
    app: object
    _server: object = field(repr=False, default=None)
    _thread: threading.Thread | None = field(repr=False, default=None)

    def stop(self) -> None:
        self._server.shutdown()  # type: ignore[attr-defined]
        self._thread.join(timeout=5)  # type: ignore[union-attr]


def _from_memory(app):
    """``app`` with each response read into memory before it is sent.

    werkzeug's development server leaves a file response open when the browser drops the
    connection half-way (its handler raises before it closes the body), and the file's
    ResourceWarning then fails whichever test runs when the collector finds it. gunicorn,
    which ``make serve`` runs and the served tests use, closes it; the app has no
    streamed responses.
    """

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


def start_live_server(app) -> LiveServer:
    """Serve ``app`` on a free port of 127.0.0.1 from a background thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, _from_memory(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return LiveServer(f"http://127.0.0.1:{server.server_port}", app, server, thread)


@pytest.fixture(scope="session")
def live_server(xss_demo):
    from web import create_app

    app = create_app({"TESTING": True, "TILES": "none", "DEMO": xss_demo})
    app.extensions["servicemap"].warm()
    server = start_live_server(app)
    yield server
    server.stop()


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        # make install (scripts/install-system-deps.sh) installs it: a missing browser is a
        # broken set-up, and the browser tests must not pass by being skipped
        pytest.fail("Debian's chromium is not installed; run `make install`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=BROWSER_ARGS)
        yield b
        b.close()


@dataclass
class Watch:
    """What a page did that a test must see: requests off localhost, errors, dialogs."""

    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    tiles_blocked: int = 0

    def assert_clean(self) -> None:
        assert self.external == [], f"requests left localhost: {self.external}"
        assert self.dialogs == [], f"a dialog opened (script ran): {self.dialogs}"
        # each blocked tile logs one "Failed to load resource" (the page must cope)
        errors = list(self.console_errors)
        for _ in range(self.tiles_blocked):
            if "Failed to load resource: net::ERR_FAILED" in errors:
                errors.remove("Failed to load resource: net::ERR_FAILED")
        assert errors == [], f"console errors: {errors}"


def _local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in ("127.0.0.1", "localhost", "::1")


def open_page(
    browser,
    *,
    width: int = 1280,
    height: int = 860,
    tile_hosts: tuple[str, ...] = (),
    **context_args,
):
    """A new page whose off-localhost requests are blocked and recorded (requests for
    base-map tiles from ``tile_hosts`` are blocked too, but expected: the page must work
    without them)."""
    watch = Watch()
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", **context_args
    )

    def route(r):
        if _local(r.request.url):
            r.continue_()
        else:
            if urlsplit(r.request.url).hostname in tile_hosts:
                watch.tiles_blocked += 1
            else:
                watch.external.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on(
        "console",
        lambda msg: watch.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: watch.console_errors.append(f"page error: {exc}"))

    def on_dialog(dialog):
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return context, page, watch


@pytest.fixture
def page(browser):
    """A desktop-sized page; the test fails if it left localhost, logged an error or
    opened a dialog."""
    context, pg, watch = open_page(browser)
    pg.watch = watch
    yield pg
    context.close()
    watch.assert_clean()


# --------------------------------------------------------------------------- served app

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(port: int) -> list[str]:
    """The command ``make serve`` runs, on ``port`` (read from ``make -n``, so it is the
    Makefile's own line, options included)."""
    import shlex
    import subprocess

    out = subprocess.run(
        ["make", "-s", "-n", "serve", f"PORT={port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [ln for ln in out.splitlines() if "servicemap serve" in ln]
    assert lines, f"`make -n serve` shows no `servicemap serve` line:\n{out}"
    return shlex.split(lines[-1])


@dataclass
class Served:
    url: str
    proc: object
    log: object

    def output(self) -> str:
        self.log.flush()  # type: ignore[attr-defined]
        return __import__("pathlib").Path(self.log.name).read_text(errors="replace")  # type: ignore[attr-defined]


def start_served(
    env_extra: dict[str, str] | None = None,
    timeout_s: float = 90.0,
    args: list[str] | None = None,
) -> Served:
    """Start the app exactly as ``make serve`` does (gunicorn, preload, forked workers) on a
    free port of 127.0.0.1, and wait until a worker answers. With ``args``, run
    ``servicemap serve ARGS --port P`` instead (a workspace: ``args=[DIR]``)."""
    import os
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request

    port = free_port()
    if args is None:
        cmd = serve_command(port)
    else:
        exe = Path(sys.executable).with_name("servicemap")
        cmd = [str(exe), "serve", *args, "--host", "127.0.0.1", "--port", str(port)]
    log = tempfile.NamedTemporaryFile("w+", prefix="served-", suffix=".log", delete=False)  # noqa: SIM115
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    served = Served(url, proc, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"`{' '.join(cmd)}` exited:\n{served.output()}")
        try:
            with urllib.request.urlopen(url + "/api/types", timeout=2) as r:
                if r.status == 200:
                    return served
        except OSError:
            time.sleep(0.3)
    stop_served(served)
    raise AssertionError(f"`{' '.join(cmd)}` did not answer in {timeout_s} s:\n{served.output()}")


def stop_served(served: Served) -> None:
    import os
    import signal
    import subprocess

    try:
        os.killpg(served.proc.pid, signal.SIGTERM)  # type: ignore[attr-defined]
        served.proc.wait(timeout=15)  # type: ignore[attr-defined]
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(served.proc.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    served.log.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def served():
    """The app as `make serve` serves it, on a free local port."""
    s = start_served()
    yield s
    stop_served(s)


# -- PostgreSQL + PostGIS: a real throwaway server for the store tests ----------------
_PG_BIN = "/usr/lib/postgresql/15/bin"


class _PostgresServer:
    """``initdb`` + ``pg_ctl`` on a temporary folder, listening on a unix socket only.

    initdb refuses to run as root, so as root (CI, containers) the server runs as the
    ``postgres`` user (``runuser``); otherwise as the current user.
    """

    def __init__(self) -> None:
        import tempfile

        self.root = Path(tempfile.mkdtemp(prefix="servicemap-pg-"))
        self.data = self.root / "data"
        self.socket = self.root / "socket"
        self.socket.mkdir()
        self.log = self.root / "server.log"
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else None
        self._n = 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> None:
        if not Path(_PG_BIN, "initdb").is_file():
            raise RuntimeError(
                f"no PostgreSQL 15 in {_PG_BIN}: install postgresql-15-postgis-3 "
                "(`bash scripts/install-system-deps.sh postgresql-15-postgis-3`, which "
                "`make install` runs)"
            )
        if self.as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket, "postgres")
            os.chmod(self.root, 0o755)
        try:
            self._run(f"{_PG_BIN}/initdb", "-D", str(self.data), "-A", "trust", "-U",
                      "postgres", "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip
            self._run(
                f"{_PG_BIN}/pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o",
                f"-k {self.socket} -c listen_addresses='' -F -c fsync=off",
                "start",
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"the throwaway PostgreSQL server did not start: {exc.stderr or exc.stdout}\n{log}"
            ) from exc
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE sm_template")
        with psycopg.connect(self.dsn("sm_template"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")

    def dsn(self, db: str) -> str:
        return f"host={self.socket} user=postgres dbname={db}"

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@/{db}?host={self.socket}"

    def new_database(self) -> str:
        """A fresh database with PostGIS; its SQLAlchemy URL."""
        import psycopg

        self._n += 1
        name = f"sm_test_{self._n}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE sm_template")
        return self.url(name)

    def stop(self) -> None:
        self._run(f"{_PG_BIN}/pg_ctl", "-D", str(self.data), "-m", "immediate", "stop",
                  check=False)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL 15 + PostGIS server for this test session (never skipped: when
    it cannot start, the tests using it fail with the reason)."""
    server = _PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def store_location(request, tmp_path):
    """Where a fresh store lives: a GeoPackage path, or a new PostGIS database URL."""
    if request.param == "gpkg":
        return tmp_path / "store.gpkg"
    return request.getfixturevalue("postgres_server").new_database()


# -- a workspace with users, served by the test client (sign-in, the write API) ---------
PASSWORDS = {"ada": "ada-password-1", "ed": "ed-password-12", "eve": "eve-password-3",
             "vic": "vic-password-4"}  # fmt: skip
ROLES_OF = {"ada": "admin", "ed": "editor", "eve": "editor", "vic": "viewer"}


def database_url_of(location) -> str | None:
    """``store_location`` as ``Workspace``'s ``database_url`` (None for a GeoPackage)."""
    return None if location is None or isinstance(location, Path) else str(location)


def demo_workspace(folder: Path, location=None, *, users: bool = True):
    """The Beilun demo as a workspace in ``folder`` (on ``store_location``), with the users
    of :data:`PASSWORDS` (an admin, two editors, a viewer) unless ``users=False``."""
    from geo import Workspace

    ws = Workspace.from_demo("beilun", folder, database_url=database_url_of(location))
    if users:
        for name, password in PASSWORDS.items():
            ws.store.add_user(name, password, role=ROLES_OF[name])
    return ws


_OPEN_APPS: list = []


@pytest.fixture(autouse=True)
def _close_workspace_apps():
    """Close the stores of the apps :func:`workspace_app` made (their database
    connections) after each test."""
    yield
    while _OPEN_APPS:
        _OPEN_APPS.pop().extensions["servicemap"].close()


def workspace_app(folder: Path, location=None, **config):
    """The app serving the workspace in ``folder``, CSRF on (as in production); its store
    is closed after the test."""
    from web import create_app

    app = create_app(
        {
            "TESTING": True,
            "TILES": "none",
            "WORKSPACE": str(folder),
            "DATABASE_URL": database_url_of(location) or "",
            "WTF_CSRF_ENABLED": True,
            "SIGN_IN_LIMIT": "1000/minute",
            **config,
        }
    )
    _OPEN_APPS.append(app)
    return app


def csrf_token_of(client, path: str = "/planner/login") -> str:
    """The CSRF token of this client's session, read from a page's ``<meta>``."""
    import re

    html = client.get(path).get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert found, f"{path} has no csrf-token meta"
    return found.group(1)


def sign_in(client, name: str, password: str | None = None):
    """Sign ``client`` in through the login form (its CSRF token included); the answer."""
    token = csrf_token_of(client)
    return client.post(
        "/planner/login",
        data={"name": name, "password": password or PASSWORDS[name], "csrf_token": token},
    )


def edit_visible_s(
    url: str, token: str, fid: str, name: str, *, timeout_s: float = 10.0, streak: int = 20
) -> float:
    """Rename facility ``fid`` through the write API of the server at ``url`` (with API
    token ``token``), then ask ``/api/nearest`` at the facility, 4 requests at a time (so
    every worker answers), until ``streak`` answers in a row show the new name; the
    seconds from the PATCH's answer to the first of them. AssertionError after
    ``timeout_s``."""
    import time
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    with urllib.request.urlopen(f"{url}/api/facilities/{fid}", timeout=10) as r:
        feature = json.loads(r.read())
    lon, lat = feature["geometry"]["coordinates"]
    body = json.dumps({"name": name, "version": feature["version"]}).encode()
    req = urllib.request.Request(
        f"{url}/api/facilities/{fid}",
        data=body,
        method="PATCH",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, r.read()
    saved = time.perf_counter()

    def ask(_):
        with urllib.request.urlopen(f"{url}/api/nearest?lon={lon}&lat={lat}&k=1", timeout=10) as r:
            answered = time.perf_counter()
            return answered, json.loads(r.read())["features"][0]["properties"]["name"] == name

    run: list[float] = []
    with ThreadPoolExecutor(4) as pool:
        while time.perf_counter() - saved < timeout_s:
            for answered, shown in sorted(pool.map(ask, range(4))):
                run = [*run, answered] if shown else []
            if len(run) >= streak:
                return run[0] - saved
    raise AssertionError(f"the edit of {fid} was not shown by every worker in {timeout_s} s")
