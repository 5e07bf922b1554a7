"""Public feedback in headless Chromium on a served workspace: "still here" and a report
from the finder's popup, "suggest a station" anywhere on the map, and the report form's
accessibility (axe-core, names, 44-px targets)."""

from __future__ import annotations

import json

import pytest

from geo.feedback import Feedback
from tests.conftest import demo_workspace, open_page, start_live_server, workspace_app
from tests.test_a11y import INTERACTIVE_JS, choose_point, ready, run_axe, serious

pytestmark = pytest.mark.browser


def drag(page, selector: str, dx: float, dy: float) -> None:
    """Drag the element (a Leaflet pin) by ``dx``, ``dy`` pixels with the mouse."""
    box = page.wait_for_selector(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=8)
    page.mouse.move(x + dx, y + dy, steps=8)
    page.mouse.up()


@pytest.fixture
def served_ws(tmp_path):
    demo_workspace(tmp_path / "ws", users=False).close()
    app = workspace_app(tmp_path / "ws")
    app.extensions["servicemap"].warm()
    server = start_live_server(app)
    yield server, Feedback(app.extensions["servicemap"].workspace)
    server.stop()


def test_still_here_and_a_report_from_the_finder_popup(browser, served_ws):
    server, fb = served_ws
    context, page, watch = open_page(browser)
    try:
        ready(page, server.url + "/")
        choose_point(page)
        first = page.get_attribute("#sm-list li[data-id]", "data-id")
        page.click(f"#sm-list li[data-id='{first}'] button.name")
        popup = page.wait_for_selector(f".leaflet-popup .sm-popup[data-id='{first}']")
        popup.query_selector("button[data-action=confirm]").click()
        page.wait_for_selector(".leaflet-popup .feedback-note:has-text('谢谢确认')")
        assert fb.last_confirmed(first) is not None

        # the form opens beside the map (a popup is too small), focus in it
        page.click(".leaflet-popup button[data-action=report]")
        page.wait_for_selector(".leaflet-popup", state="detached")
        page.wait_for_selector("#sm-report-host input[name=kind]:focus")
        page.check("#sm-report-host input[name=kind][value=hours]")
        page.fill("#sm-report-host textarea[name=text]", "周日不开 <b>x</b>")
        page.click("#sm-report-host form.report-form button[type=submit]")
        page.wait_for_selector("#sm-report-host form.report-form[data-sent]")
        (r,) = fb.reports(facility_id=first)
        assert (r.kind, r.text, r.status) == ("hours", "周日不开 <b>x</b>", "new")
    finally:
        context.close()
    watch.assert_clean()


def test_suggest_a_station_anywhere_on_the_map(browser, served_ws):
    server, fb = served_ws
    context, page, watch = open_page(browser)
    try:
        ready(page, server.url + "/?lang=en")
        page.click("#sm-suggest-place")
        drag(page, ".sm-move-pin.suggest", -50, 20)
        page.fill("#sm-suggest-form textarea", "Riders wait here every night")
        page.click("#sm-suggest-form button[type=submit]")
        page.wait_for_selector("#sm-suggest-form[data-sent]")
        (s,) = fb.suggestions()
        assert s.text == "Riders wait here every night"
        assert 121 < s.lon < 122.5 and 29.5 < s.lat < 30.2
    finally:
        context.close()
    watch.assert_clean()


def test_the_report_form_is_accessible(browser, served_ws):
    server, _ = served_ws
    context, page, watch = open_page(browser, width=390, height=800, is_mobile=True)
    try:
        ready(page, server.url + "/f/OS001?lang=en")
        page.click("#sm-report button[data-action=report]")
        page.check("form.report-form input[name=kind][value=moved]")
        page.wait_for_selector(".sm-move-pin")
        page.click("form.report-form details.contact summary")
        bad = serious(run_axe(page))
        assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)
        found = page.evaluate(INTERACTIVE_JS)
        form = [f for f in found if f["what"].split(".")[0].split("#")[0] in
                ("input", "textarea", "button", "summary")]  # fmt: skip
        assert len(form) >= 10
        unnamed = [f for f in found if not f["name"]]
        assert unnamed == [], unnamed
        small = [f for f in found
                 if not f["inline_sentence"] and (f["w"] < 44 or f["h"] < 44)]  # fmt: skip
        assert small == [], small
    finally:
        context.close()
    watch.assert_clean()
