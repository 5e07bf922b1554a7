"""An edit through the write API shows in ``/api/nearest`` of every worker of a served
workspace: ``servicemap serve DIR --workers 2`` (gunicorn, preloaded, forked workers),
on a GeoPackage and on a PostGIS store. How fast is measured in benchmarks/bench_edit.py
(the goal is under 1 s); here it must show within 10 s, from every worker.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.conftest import (
    database_url_of,
    demo_workspace,
    edit_visible_s,
    start_served,
    stop_served,
)

pytestmark = pytest.mark.slow  # a served app (gunicorn), on both backends


@pytest.fixture
def served_workspace(store_location, tmp_path):
    folder = tmp_path / "ws"
    ws = demo_workspace(folder, store_location)
    token = ws.store.create_token("ed", label="test")
    ws.close()
    env = {"SERVICEMAP_DATABASE_URL": database_url_of(store_location) or ""}
    served = start_served(env, args=[str(folder), "--workers", "2"])
    yield served, token
    stop_served(served)


def test_an_edit_shows_in_every_worker(served_workspace):
    served, token = served_workspace
    seconds = edit_visible_s(served.url, token, "OS001", "改名后的驿站 <b>1</b>")
    assert seconds >= 0
    # and a second edit, after the workers have re-read once
    edit_visible_s(served.url, token, "OS001", "再改一次")
    log = served.output()
    assert log.count("Booting worker") >= 2, log
    # without a token the same write is refused, and the name stays
    req = urllib.request.Request(
        served.url + "/api/facilities/OS001",
        data=json.dumps({"name": "anonymous", "version": 1}).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    refused.value.close()
    assert refused.value.code in (400, 401)  # no CSRF token, no session
    with urllib.request.urlopen(served.url + "/api/facilities/OS001", timeout=10) as r:
        assert json.loads(r.read())["properties"]["name"] == "再改一次"
