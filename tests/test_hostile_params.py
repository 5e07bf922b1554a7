"""Every route, every parameter, hostile values: a 4xx naming the parameter, never a 500;
unknown parameters are ignored; bad options of every CLI command are an `Error:`/usage
message with exit status 2, never a traceback."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from cli import main
from cli import params as cli_params

# values for any parameter
HOSTILE = ["", "nan", "<script>alert(1)</script>", "zh\r\nSet-Cookie: x=1"]
# and more for the parameters that are numbers, points or lists
NUMERIC = ["-5", "0", "1e309", "１２３", "999,999", ",,,", "121.8,29.9;" * 200, "a" * 5000]
NUMERIC_PARAMS = {"threshold_m", "threshold_s", "off", "add", "lon", "lat", "k", "limit"}
NUMERIC_PARAMS |= {"offset", "bbox", "q"}

# every query parameter any route reads, plus names that mean something to Flask/Werkzeug
PARAMS = [
    "type",
    "threshold_m",
    "threshold_s",
    "threshold_for",
    "off",
    "add",
    "datum",
    "in_datum",
    "lang",
    "lon",
    "lat",
    "k",
    "limit",
    "offset",
    "bbox",
    "amenity",
    "open_now",
    "q",
    "area_level",
    "model",
    "format",
    "endpoint",
    "_method",
    "_external",
    "_anchor",
    "_scheme",
]

PAGE_PARAMS = ["type", "threshold_m", "threshold_s", "threshold_for", "off", "add", "datum"]
PAGE_PARAMS += ["lang", "format", "endpoint", "_method", "_external"]

VALID = {
    "/api/nearest": "lon=121.85&lat=29.9",
    "/api/search": "q=大碶",
    "/api/gaps": "type=mother_room",
    "/api/suggest": "type=bookshelf&k=1",
}


@pytest.fixture(scope="module")
def routes(request):
    from web import create_app

    app = create_app({"TESTING": True, "TILES": "none", "SUGGEST_TIME_LIMIT_S": 2.0})
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        path = rule.rule
        path = path.replace("<fid>", "OS001").replace("<fmt>", "csv")
        if "<" in path:  # the vendored assets: their own test
            continue
        paths.append(path)
    return app.test_client(), sorted(paths)


def _check(client, url):
    with client.get(url) as r:  # closed: a static file's response holds the file open
        body = r.get_data(as_text=True)
        assert r.status_code < 500, f"{url[:200]} -> {r.status_code}: {body[:300]}"
        if r.status_code >= 400 and r.mimetype == "application/json":
            assert r.get_json()["error"]["message"]


def test_every_route_with_every_hostile_parameter(routes):
    client, paths = routes
    assert {"/", "/planner/", "/api/coverage", "/api/nearest"} <= set(paths)
    for path in paths:
        # pages read the scenario and the language; the API routes read everything
        names = PARAMS if path.startswith("/api/") else PAGE_PARAMS
        for name in names:
            for value in HOSTILE + (NUMERIC if name in NUMERIC_PARAMS else []):
                if path == "/api/suggest" and name != "type" and value not in ("", "abc"):
                    continue  # each suggestion solves a model: a few are enough here
                base = VALID.get(path, "")
                q = f"{base}&" if base else ""
                _check(client, f"{path}?{q}{name}={value}")


def test_a_bad_parameter_is_named(routes):
    client, _ = routes
    for url, name in [
        ("/api/coverage?type=spa", "type"),
        ("/api/coverage?type=mother_room&threshold_m=-5", "threshold_m"),
        ("/api/coverage?type=mother_room&threshold_m=nan", "threshold_m"),
        ("/api/coverage?type=mother_room&off=NOPE", "off"),
        ("/api/coverage?type=mother_room&add=200,95", "add"),
        ("/api/nearest?lon=abc&lat=29.9", "lon"),
        ("/api/nearest?lon=121.8&lat=29.9&k=0", "k"),
        ("/api/facilities?bbox=1,2,3", "bbox"),
        ("/api/facilities?datum=utm", "datum"),
        ("/planner/export.pdfx", "format"),
    ]:
        r = client.get(url)
        assert r.status_code == 400, url
        assert r.get_json()["error"]["parameter"] == name, url


def test_unknown_parameters_are_ignored(routes):
    client, _ = routes
    plain = client.get("/api/coverage?type=mother_room").get_json()
    noisy = client.get("/api/coverage?type=mother_room&foo=bar&x[]=1&_=123").get_json()
    assert plain == noisy
    for path in ("/", "/planner/", "/f/OS001", "/planner/report"):
        assert client.get(f"{path}?endpoint=x&_method=PUT&foo=<b>").status_code == 200


# --------------------------------------------------------------------------- the CLI


def _commands(group: click.Group, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


BAD_VALUES = {
    click.INT: ["abc", "1.5"],
    click.FLOAT: ["abc", "nan"],
}


def _bad_values(param: click.Parameter) -> list[str]:
    t = param.type
    if isinstance(t, click.Choice):
        return ["nope", ""]
    if isinstance(t, click.Path):
        return ["/nonexistent/file.csv", "/"]
    if t.name in ("number", "integer", "float", "int"):
        return ["abc", "nan", "-5", "1e999", "0"]
    if isinstance(t, click.types.BoolParamType) or getattr(param, "is_flag", False):
        return []
    return ["", "<script>", "../../etc/passwd"]


def test_no_cli_option_gives_a_traceback(tmp_path):
    runner = CliRunner()
    seen = 0
    for path, cmd in _commands(main):
        for param in cmd.params:
            if not isinstance(param, click.Option) or param.name in ("help",):
                continue
            values = _bad_values(param)
            if path[-1] == "serve" and not isinstance(param.type, click.Choice | cli_params.Number):
                continue  # a free-text option of serve would start a real server
            for value in values:
                args = [*path, param.opts[0], value]
                if path[-1] in ("coverage", "suggest", "compliance") and param.name != "demo":
                    args += ["--demo", "beilun"]
                if path[-1] == "suggest" and param.name != "type_key":
                    args += ["--type", "bookshelf", "--time-limit", "1"]
                result = runner.invoke(main, args)
                seen += 1
                assert not isinstance(result.exception, Exception) or isinstance(
                    result.exception, SystemExit
                ), f"{' '.join(args)}: {result.exception!r}\n{result.output}"
                if result.exit_code != 0:
                    assert result.exit_code == 2, f"{' '.join(args)}: {result.output}"
                    assert re.search(r"(Error|Usage):", result.output), result.output
                    assert "Traceback" not in result.output
    assert seen > 50
