"""Editing on the planner's map in headless Chromium, on a served workspace (GeoPackage;
the end-to-end test in test_editing_e2e.py runs the whole story on both backends under
gunicorn): drag a station, change its fields, add one, close one, a 409 shown with both
sides, the history page and a rollback, and the upload page's preview map.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from geo import Workspace
from tests.conftest import PASSWORDS, XSS_NAME, open_page, start_live_server
from tests.test_upload import edited_csv, make_workspace

pytestmark = pytest.mark.browser


@pytest.fixture
def live(tmp_path):
    from web import create_app

    folder = tmp_path / "ws"
    make_workspace(tmp_path / "store.gpkg", folder, tmp_path).close()
    app = create_app({"TESTING": True, "TILES": "none", "WORKSPACE": str(folder)})
    server = start_live_server(app)
    yield server, folder
    server.stop()
    app.extensions["servicemap"].workspace.close()


def sign_in(page, url: str, name: str) -> None:
    page.goto(url + "/planner/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("form button[type=submit]")
    page.wait_for_url(url + "/planner/")


def planner_ready(page, url: str) -> None:
    page.goto(url + "/planner/?type=outdoor_station")
    page.wait_for_selector("body[data-ready='1']", timeout=20000)


def marker(page, fid: str):
    return page.locator(f".leaflet-marker-icon[data-id='{fid}']")


def wait_saved(page, before: str | None) -> str:
    page.wait_for_function(
        "b => document.body.dataset.saved && document.body.dataset.saved !== b",
        arg=before, timeout=15000,
    )  # fmt: skip
    return page.evaluate("document.body.dataset.saved")


def zoom_to(page, fid: str) -> None:
    """Centre the map on a facility, close in (pins of neighbours overlap further out)."""
    page.evaluate(
        """id => { var m = smPlanner.map, at = smPlanner.facilities[id].marker.getLatLng();
                   if (m._animatingZoom && m._onZoomTransitionEnd) m._onZoomTransitionEnd();
                   m.setView(at, 17, {animate: false}); }""",
        fid,
    )


def drag(page, fid: str, dx: int, dy: int) -> None:
    zoom_to(page, fid)
    box = marker(page, fid).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x + dx * i / 10, y + dy * i / 10)
    page.mouse.up()


def api(url: str, path: str) -> dict:
    with urllib.request.urlopen(url + path, timeout=10) as r:
        return json.loads(r.read())


def test_drag_edit_add_close_and_a_conflict_on_the_planner_map(browser, live):
    server, folder = live
    context, page, watch = open_page(browser)
    try:
        sign_in(page, server.url, "ed")
        planner_ready(page, server.url)
        before = api(server.url, "/api/facilities/OS003")
        page.click("#sm-edit")
        assert page.get_attribute("#sm-edit", "aria-pressed") == "true"
        page.fill("#sm-edit-reason", "搬到路对面")

        # drag OS003 east: it is moved in the store, with who and why
        drag(page, "OS003", 60, 0)
        saved = wait_saved(page, None)
        after = api(server.url, "/api/facilities/OS003")
        assert after["version"] == int(saved)
        (x0, y0), (x1, y1) = before["geometry"]["coordinates"], after["geometry"]["coordinates"]
        assert x1 > x0 + 0.0005 and abs(y1 - y0) < 0.0005
        with Workspace.open(folder) as ws:
            last = ws.facility_history("OS003")[-1]
        assert (last["user"], last["reason"]) == ("ed", "搬到路对面")

        # click it: change its name (markup stays text) and capacity
        marker(page, "OS003").click()
        page.wait_for_selector("#sm-edit-form")
        page.fill("#sm-edit-name", XSS_NAME)
        page.fill("#sm-edit-capacity", "12")
        page.click("#sm-edit-save")
        saved = wait_saved(page, saved)
        now = api(server.url, "/api/facilities/OS003")["properties"]
        assert (now["name"], now["capacity"]) == (XSS_NAME, 12.0)
        assert marker(page, "OS003").get_attribute("title") == XSS_NAME

        # someone else saves OS003 while the form is open: a 409 shows both sides
        marker(page, "OS003").click()
        page.wait_for_selector("#sm-edit-form")
        with Workspace.open(folder) as ws:
            _, v = ws.get_facility("OS003")
            ws.update_facility("OS003", {"hours": "Mo-Fr 09:00-17:00"}, expected_version=v,
                               user="ada", reason="其他人")  # fmt: skip
        page.fill("#sm-edit-contact", "0574-1234")
        page.click("#sm-edit-save")
        page.wait_for_selector("#sm-conflict")
        theirs = page.text_content("#sm-conflict-theirs")
        yours = page.text_content("#sm-conflict-yours")
        assert "Mo-Fr 09:00-17:00" in theirs and "0574-1234" not in theirs
        assert "0574-1234" in yours
        page.click("#sm-save-mine")  # mine, on top of theirs
        saved = wait_saved(page, saved)
        now = api(server.url, "/api/facilities/OS003")["properties"]
        assert (now["contact"], now["hours"]) == ("0574-1234", "Mo-Fr 09:00-17:00")

        # add a station where the map is clicked
        page.click("#sm-edit-add")
        box = page.locator(".folium-map").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#sm-edit-form")
        page.fill("#sm-edit-name", "新开的驿站")
        page.fill("#sm-edit-hours", "Mo-Su 08:00-20:00")
        page.click("#sm-edit-save")
        saved = wait_saved(page, saved)
        with Workspace.open(folder) as ws:
            fac = ws.facilities
        new = fac[fac["name"] == "新开的驿站"]
        assert len(new) == 1 and new["type"].iloc[0] == "outdoor_station"
        new_id = new["id"].iloc[0]
        marker(page, new_id).wait_for()

        # close it again
        marker(page, new_id).click()
        page.wait_for_selector("#sm-edit-close")
        page.click("#sm-edit-close")
        wait_saved(page, saved)
        assert marker(page, new_id).count() == 0
        with Workspace.open(folder) as ws:
            assert new_id not in set(ws.facilities["id"])
            assert [h["op"] for h in ws.facility_history(new_id)] == ["add", "remove"]
    finally:
        context.close()
    # the one conflict answered 409, which Chromium logs as a failed load: expected
    watch.console_errors.remove(
        "Failed to load resource: the server responded with a status of 409 (CONFLICT)"
    )
    watch.assert_clean()


def test_history_page_and_rollback_by_an_admin(browser, live):
    server, folder = live
    with Workspace.open(folder) as ws:
        rec, first = ws.get_facility("OS001")
        v = first
        ws.update_facility("OS001", {"name": XSS_NAME}, expected_version=v, user="ed",
                           reason="<i>改名</i>")  # fmt: skip
    context, page, watch = open_page(browser)
    try:
        sign_in(page, server.url, "ada")
        page.goto(server.url + "/planner/facility/OS001")
        page.wait_for_selector("body[data-ready='1']")
        assert page.text_content("#sm-name") == XSS_NAME
        users = page.eval_on_selector_all("#sm-history li", "ls => ls.map(l => l.dataset.user)")
        assert users == ["ed", "servicemap"]
        assert page.text_content("#sm-history li .reason") == "<i>改名</i>"
        page.click(f"button.sm-rollback[data-version='{first}']")
        page.fill("#sm-rollback-reason", "撤回")
        with page.expect_navigation():
            page.click("#sm-rollback-go")
        page.wait_for_selector("body[data-ready='1']")
        assert page.text_content("#sm-name") == rec["name"]
        assert page.get_attribute("#sm-history li", "data-user") == "ada"
        assert api(server.url, "/api/facilities/OS001")["properties"]["name"] == rec["name"]
    finally:
        context.close()
    watch.assert_clean()


def test_the_upload_preview_map(browser, live, tmp_path):
    server, folder = live
    context, page, watch = open_page(browser)
    try:
        sign_in(page, server.url, "ed")
        page.goto(server.url + "/planner/upload")
        page.select_option("#sm-datum", "gcj02")
        page.set_input_files("#sm-file", str(edited_csv(tmp_path)))
        page.click("#sm-preview-button")
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        assert page.evaluate("smUpload.drawn") == {"added": 0, "moved": 1, "changed": 1,
                                                   "removed": 0}  # fmt: skip
        assert page.locator("path.sm-preview-moved").count() == 1
        page.fill("#sm-reason", "五月")
        page.click("#sm-apply")
        page.wait_for_selector("#sm-upload-done")
        assert api(server.url, "/api/facilities/OS001")["properties"]["name"] == XSS_NAME
    finally:
        context.close()
    watch.assert_clean()
