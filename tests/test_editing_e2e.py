"""Issue 10's "Done when", end to end, once on GeoPackage and once on PostGIS.

From an empty folder, with the real command line: ``servicemap init`` a workspace for
北仑区 with its boundary, ``import`` a facilities spreadsheet and a workplace CSV,
``users add`` an admin; then ``servicemap serve DIR`` (gunicorn, preloaded, two forked
workers, a real port on 127.0.0.1, as ``make serve`` serves), and in headless Chromium:
sign in, drag a station on the planner map and rename it, see the finder show it, see the
history name who did it, roll the layer back, see the finder as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import database_url_of, open_page, start_served, stop_served
from tests.test_editing_browser import drag, marker, wait_saved
from tests.test_served import TILES
from tests.test_store import BEILUN

pytestmark = pytest.mark.browser

PASSWORD = "alice-s3cret-pass"
STATION = "OS003"
NEW_NAME = "大碶街道驿站（已搬到对面）"


def servicemap(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    exe = Path(sys.executable).with_name("servicemap")
    done = subprocess.run(
        [str(exe), *args], input=stdin, capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, f"servicemap {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def finder_shows(page, url: str, lon: float, lat: float) -> tuple[str, str]:
    """The finder's nearest facility to (lon, lat), asked as a visitor does (a fresh
    page load, then the nearest list): its id and the name the list shows."""
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    page.evaluate("([x, y]) => smFinder.nearestFrom(x, y, 'wgs84')", [lon, lat])
    page.wait_for_selector("#sm-list[data-query-lon] li[data-id]", state="attached")
    first = page.locator("#sm-list li[data-id]").first
    return first.get_attribute("data-id"), first.locator(".item-title").inner_text()


@pytest.fixture
def district(store_location, tmp_path, monkeypatch):
    """A workspace made with the command line, as a district would make it."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("SERVICEMAP_DATABASE_URL", None)
    monkeypatch.delenv("SERVICEMAP_DATABASE_URL", raising=False)
    url = database_url_of(store_location)
    if url:
        env["SERVICEMAP_DATABASE_URL"] = url
    folder = tmp_path / "beilun-ws"
    sheet = tmp_path / "北仑区服务阵地.xlsx"
    pd.read_csv(BEILUN / "facilities.csv", dtype=str, keep_default_na=False).to_excel(
        sheet, index=False
    )
    servicemap("init", str(folder), "--name", "北仑区", "--boundary",
               str(BEILUN / "boundary.geojson"), env=env)  # fmt: skip
    out = servicemap("import", str(folder), "facilities", str(sheet), "--datum", "gcj02",
                     "--json", env=env)  # fmt: skip
    assert json.loads(out)["added"] == 195
    servicemap("import", str(folder), "demand", str(BEILUN / "workplaces.csv"), env=env)
    servicemap("users", "add", str(folder), "alice", "--role", "admin", "--password-stdin",
               env=env, stdin=PASSWORD + "\n")  # fmt: skip
    assert (folder / "store.gpkg").exists() == (url is None)
    return folder, env


def test_sign_in_edit_on_the_map_see_it_in_the_finder_and_roll_it_back(browser, district):
    folder, env = district
    extra = {k: v for k, v in env.items() if k.startswith("SERVICEMAP_") or k == "PYTHONPATH"}
    served = start_served(extra, args=[str(folder)])
    context, page, watch = open_page(browser, tile_hosts=TILES)
    try:
        assert "Booting worker" in served.output() and "sign-in on" in served.output()
        url = served.url
        before = get_json(f"{url}/api/facilities/{STATION}")
        old_name = before["properties"]["name"]
        # the planner is not open to visitors
        page.goto(url + "/planner/")
        assert "/planner/login" in page.url

        # sign in, drag the station on the map, then rename it
        page.fill("input[name=name]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_url(url + "/planner/**")
        page.goto(url + "/planner/?type=outdoor_station")
        page.wait_for_selector("body[data-ready='1']", timeout=30000)
        page.click("#sm-edit")
        page.fill("#sm-edit-reason", "搬到路对面")
        drag(page, STATION, 80, 0)
        saved = wait_saved(page, None)
        marker(page, STATION).click()
        page.wait_for_selector("#sm-edit-form")
        page.fill("#sm-edit-name", NEW_NAME)
        page.click("#sm-edit-save")
        wait_saved(page, saved)
        moved = get_json(f"{url}/api/facilities/{STATION}")
        lon, lat = moved["geometry"]["coordinates"]
        assert lon > before["geometry"]["coordinates"][0] + 0.0005

        # the finder (any worker) shows the station at its new place, with its new name
        assert finder_shows(page, url, lon, lat) == (STATION, NEW_NAME)
        for _ in range(4):  # both workers answer with the change
            assert get_json(f"{url}/api/facilities/{STATION}")["properties"]["name"] == NEW_NAME

        # its history names alice, with the reason; she rolls the layer back
        page.goto(f"{url}/planner/facility/{STATION}")
        page.wait_for_selector("body[data-ready='1']")
        users = page.eval_on_selector_all("#sm-history li", "ls => ls.map(l => l.dataset.user)")
        assert users[:2] == ["alice", "alice"] and users[-1].startswith("cli:")  # the import
        assert "搬到路对面" in page.inner_text("#sm-history")
        first = page.get_attribute("#sm-history li:last-child", "data-version")
        page.click(f"button.sm-rollback[data-version='{first}']")
        page.fill("#sm-rollback-reason", "撤回测试修改")
        with page.expect_navigation():
            page.click("#sm-rollback-go")
        page.wait_for_selector("body[data-ready='1']")
        assert page.get_attribute("#sm-history li", "data-user") == "alice"
        assert page.inner_text("#sm-name") == old_name

        # and the finder is as it was
        back = get_json(f"{url}/api/facilities/{STATION}")
        assert back["geometry"]["coordinates"] == before["geometry"]["coordinates"]
        x, y = before["geometry"]["coordinates"]
        assert finder_shows(page, url, x, y) == (STATION, old_name)
    finally:
        context.close()
        stop_served(served)
    watch.assert_clean()
