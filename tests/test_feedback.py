"""Public feedback (geo.feedback): reports, folding, confirmations, suggestions, review and
photos. Every test taking ``store_location`` runs on a GeoPackage and on a real PostGIS."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyogrio
import pytest
from PIL import Image
from shapely.geometry import Point

from geo import ConflictError, ValidationError, Workspace
from geo.demo import load_demo
from geo.feedback import MAX_PHOTO_PIXELS, PHOTO_MAX_SIDE, Feedback, clean_photo, clean_text
from tests import photos

ROOT = Path(__file__).resolve().parents[1]
BEILUN = ROOT / "datasets" / "beilun"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def ws(store_location, tmp_path):
    url = None if isinstance(store_location, Path) else store_location
    w = Workspace.init(tmp_path / "ws", name="北仑区", boundary=BEILUN / "boundary.geojson",
                       database_url=url)  # fmt: skip
    w.import_frame("facilities", load_demo("beilun").facilities, reason="demo", user="alice")
    yield w
    w.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fb(ws, clock):
    return Feedback(ws, clock=clock)


def test_a_report_is_kept_and_checked(fb, ws):
    version = ws.version
    r = fb.report("OS001", "hours", text="  每天 18:00 关门\r\n不是 20:00 ", address="10.0.0.1")
    assert (r.facility_id, r.kind, r.status, r.count) == ("OS001", "hours", "new", 1)
    assert r.text == "每天 18:00 关门\n不是 20:00"
    assert r.contact is None and not r.has_photo
    # the address is kept only as a keyed hash
    assert "10.0.0.1" not in r.address_hash and len(r.address_hash) == 32
    # a report is not a store change: the layers' version stays (no cache is dropped)
    assert ws.version == version
    assert [x.id for x in fb.reports("new")] == [r.id]

    with pytest.raises(KeyError):
        fb.report("NOPE", "closed")
    for kwargs, field in (
        ({"kind": "burnt"}, "kind"),
        ({"kind": "other", "text": "x" * 501}, "text"),
        ({"kind": "other"}, "text"),  # says nothing
        ({"kind": "moved"}, "lon/lat"),
        ({"kind": "moved", "moved_to": (float("nan"), 29.9)}, "lon/lat"),
        ({"kind": "moved", "moved_to": (500, 29.9)}, "lon/lat"),
        ({"kind": "hours", "moved_to": (121.8, 29.9)}, "lon/lat"),
        ({"kind": "hours", "contact": "138 0000 0000"}, "consent"),
        ({"kind": "hours", "contact": "1" * 101, "consent": True}, "contact"),
        ({"kind": "confirm", "photo": photos.photo_with_gps()}, "photo"),
    ):
        with pytest.raises(ValidationError, match=field):
            fb.report("OS001", **kwargs)
    assert len(fb.reports()) == 1  # nothing refused was kept


def test_hostile_text_is_kept_as_text(fb):
    nasty = "<script>alert(1)</script>\x00\u202e<img src=x onerror=alert(2)>"
    r = fb.report("OS001", "other", text=nasty)
    assert r.text == "<script>alert(1)</script><img src=x onerror=alert(2)>"
    assert clean_text("a\x07b\x1bc", "text") == "abc"


def test_reports_from_one_sender_fold(fb, clock):
    a = fb.report("OS001", "closed", text="门锁了", address="10.0.0.1")
    clock.advance(hours=1)
    again = fb.report("OS001", "closed", text="还是锁着", address="10.0.0.1")
    assert again.id == a.id and again.count == 2 and again.text == "还是锁着"
    assert again.last_at > a.last_at and again.created_at == a.created_at
    # another sender, another kind, another facility: separate reports
    other = fb.report("OS001", "closed", address="10.0.0.2")
    kind = fb.report("OS001", "equipment", text="微波炉坏了", address="10.0.0.1")
    fac = fb.report("OS002", "closed", address="10.0.0.1")
    assert len({a.id, other.id, kind.id, fac.id}) == 4
    # after the window, a new report
    clock.advance(hours=25)
    later = fb.report("OS001", "closed", address="10.0.0.1")
    assert later.id != a.id and later.count == 1
    # a closed report takes no more folds
    fb.review(later.id, "rejected", reviewer="alice", reason="开着")
    assert fb.report("OS001", "closed", address="10.0.0.1").id != later.id
    assert fb.counts() == {"new": 5, "accepted": 0, "has_issues": 0, "rejected": 1}


def test_contact_only_with_consent_and_deleted_when_closed(fb):
    keep = fb.report("OS001", "hours", contact="138 0000 0000", consent=True)
    assert keep.contact == "138 0000 0000"
    asked = fb.review(keep.id, "has_issues", reviewer="alice", reason="几点关门？")
    assert asked.contact == "138 0000 0000" and asked.status == "has_issues"
    done = fb.review(keep.id, "accepted", reviewer="alice")
    assert done.contact is None and done.reviewer == "alice" and done.reviewed_at

    other = fb.report("OS003", "equipment", text="没水", contact="a@b.cn", consent=True)
    assert fb.review(other.id, "rejected", reviewer="bob", reason="有水").contact is None
    with pytest.raises(ValidationError, match="already rejected"):
        fb.review(other.id, "accepted", reviewer="bob")


def test_accepting_moved_moves_the_facility_in_the_history(fb, ws):
    rec, _ = ws.get_facility("OS001")
    to = (rec["geometry"].x + 0.002, rec["geometry"].y + 0.001)
    r = fb.report("OS001", "moved", moved_to=to, text="搬到对面", address="1.1.1.1")
    twin = fb.report("OS001", "moved", moved_to=to, contact="x@y.cn", consent=True,
                     address="2.2.2.2")  # fmt: skip
    with pytest.raises(ValidationError, match="reason"):
        fb.review(r.id, "rejected", reviewer="carol")
    done = fb.review(r.id, "accepted", reviewer="carol", reason="现场核实")
    assert done.status == "accepted" and done.applied_version == ws.version

    moved, _ = ws.get_facility("OS001")
    assert (moved["geometry"].x, moved["geometry"].y) == pytest.approx(to)
    last = ws.facility_history("OS001")[-1]
    assert last["op"] == "update" and last["user"] == "carol"
    assert f"report #{r.id}" in last["reason"] and "现场核实" in last["reason"]
    assert last["after"]["geometry"]["coordinates"] == pytest.approx(to)
    # the second sender's report of the same move is closed with it, its contact gone
    t = fb.get(twin.id)
    assert (t.status, t.contact, t.reason) == ("accepted", None, f"applied with report #{r.id}")


def test_accepting_closed_removes_the_facility(fb, ws):
    r = fb.report("OS002", "closed", text="拆了")
    fb.review(r.id, "accepted", reviewer="dave")
    assert "OS002" not in set(ws.facilities["id"])
    last = ws.facility_history("OS002")[-1]
    assert (last["op"], last["user"]) == ("remove", "dave")
    # a report about a facility no longer there cannot be accepted as a change
    late = fb.report("OS003", "moved", moved_to=(121.85, 29.9))
    _, v = ws.get_facility("OS003")
    ws.remove_facility("OS003", expected_version=v, user="erin", reason="closed")
    with pytest.raises(ValidationError, match="no longer in the layer"):
        fb.review(late.id, "accepted", reviewer="dave")
    assert fb.get(late.id).status == "new"


def test_a_move_outside_the_district_is_refused_on_accept(fb, ws):
    r = fb.report("OS004", "moved", moved_to=(116.4, 39.9))  # Beijing
    before = ws.version
    with pytest.raises(ValidationError):
        fb.review(r.id, "accepted", reviewer="carol")
    assert ws.version == before and fb.get(r.id).status == "new"


def test_a_conflicting_save_is_not_overwritten(fb, ws, monkeypatch):
    r = fb.report("OS005", "moved", moved_to=(121.85, 29.9))
    real = ws.get_facility

    def stale_read(fid):  # someone saves between the reviewer's read and write
        rec, v = real(fid)
        new = {**rec, "name": "改名"}
        ws.store.save_feature("facilities", new, expected_version=v, user="x", reason="rename")
        return rec, v

    monkeypatch.setattr(ws, "get_facility", stale_read)
    with pytest.raises(ConflictError):
        fb.review(r.id, "accepted", reviewer="carol")
    monkeypatch.undo()
    assert ws.get_facility("OS005")[0]["name"] == "改名" and fb.get(r.id).status == "new"


def test_confirmations_and_staleness(fb, ws, clock):
    assert fb.last_confirmed("OS001") is None
    fb.confirm("OS001", address="1.1.1.1")
    assert fb.last_confirmed("OS001") == clock.now
    assert fb.reports() == []  # confirmations are not in the queue
    clock.advance(days=10)
    fb.confirm("OS002", address="1.1.1.1")
    clock.advance(days=5)
    stale = fb.stale(7, facility_type="outdoor_station")
    n = int((ws.facilities["type"] == "outdoor_station").sum())
    assert len(stale) == n - 1 and "OS002" not in set(stale["id"])
    row = stale[stale["id"] == "OS001"].iloc[0]
    assert row["days"] == pytest.approx(15) and row["last_confirmed"].startswith("2026-03-01")
    assert stale["days"].isna().iloc[0]  # never confirmed first
    assert "OS001" not in set(fb.stale(20)["id"])
    # one sender confirming again folds, and moves the date
    again = fb.confirm("OS002", address="1.1.1.1")
    assert again.count == 1  # the earlier one is outside the window
    clock.advance(hours=1)
    assert fb.confirm("OS002", address="1.1.1.1").count == 2
    assert fb.last_confirmed("OS002") == clock.now


def test_suggestions_with_the_coverage_of_their_spot(fb, ws):
    stations = ws.facilities[ws.facilities["type"] == "outdoor_station"]
    at = stations.geometry.iloc[0]
    far = (121.62, 29.97)  # inside Beilun, far from any outdoor station
    fb.suggest(at.x + 0.0005, at.y, text="这里", address="1.1.1.1")
    a = fb.suggest(*far, text="这里需要驿站", address="1.1.1.1")
    folded = fb.suggest(far[0] + 0.0002, far[1], address="1.1.1.1")
    assert folded.id == a.id and folded.count == 2 and folded.text == "这里需要驿站"
    fb.suggest(far[0] + 0.0003, far[1] + 0.0002, address="2.2.2.2")
    with pytest.raises(ValidationError, match="lon/lat"):
        fb.suggest(float("inf"), 29.9)
    with pytest.raises(ValidationError, match="text"):
        fb.suggest(*far, text="x" * 501)

    points, clusters = fb.suggestion_coverage("outdoor_station")
    assert len(points) == 3
    by_id = points.set_index("id")
    assert by_id.loc[a.id, "covered"] == False  # noqa: E712 - numpy bool
    assert by_id.loc[a.id, "distance_m"] > 1000
    assert points["covered"].sum() == 1
    top = clusters.iloc[0]
    assert (top["suggestions"], top["uncovered"], top["senders"]) == (2, 2, 2)
    assert top.geometry.contains(Point(*far))
    fb.review_suggestion(a.id, "accepted", reviewer="alice")
    assert len(fb.suggestions()) == 2


def test_photos_are_kept_clean(fb):
    r = fb.report("OS001", "equipment", text="坏了", photo=photos.photo_with_gps())
    assert r.has_photo
    p = fb.photo(r.id)
    with Image.open(io.BytesIO(p.jpeg)) as im:
        assert im.format == "JPEG" and im.size == (p.width, p.height) == (640, 480)
        assert dict(im.getexif()) == {} and "exif" not in im.info
    assert fb.photo(fb.report("OS002", "closed").id) is None


def test_the_feedback_tables_are_not_map_layers(ws, fb, store_location):
    fb.report("OS001", "hours", contact="secret@x.cn", consent=True)
    if isinstance(store_location, Path):
        ws.close()
        names = {str(n) for n in pyogrio.list_layers(ws.path / "store.gpkg")[:, 0]}
        assert "facilities" in names and not names & {"sm_reports", "sm_report_photos"}


# --------------------------------------------------------------------------- photos


def test_gps_exif_is_stripped():
    raw = photos.photo_with_gps()
    with Image.open(io.BytesIO(raw)) as im:  # the input does carry a position
        exif = im.getexif()
        assert exif.get_ifd(photos.GPS_IFD)[2] == (29.0, 54.0, 12.5)
        assert exif[0x0110] == "Phone 12"
    out = clean_photo(raw)
    with Image.open(io.BytesIO(out.jpeg)) as im:
        assert dict(im.getexif()) == {} and not im.getexif().get_ifd(photos.GPS_IFD)
        assert "exif" not in im.info and "comment" not in im.info and "icc_profile" not in im.info
    assert b"Exif" not in out.jpeg and b"Phone 12" not in out.jpeg
    assert b"taken by someone" not in out.jpeg


def test_photos_are_turned_upright_scaled_and_flattened():
    # EXIF orientation 6: the camera was turned; the kept photo is upright, no EXIF left
    out = clean_photo(photos.photo_with_gps(size=(400, 300), orientation=6))
    assert (out.width, out.height) == (300, 400)
    big = clean_photo(photos.photo_with_gps(size=(4000, 1000)))
    assert (big.width, big.height) == (PHOTO_MAX_SIDE, PHOTO_MAX_SIDE // 4)
    flat = clean_photo(photos.png(mode="RGBA"))
    with Image.open(io.BytesIO(flat.jpeg)) as im:
        assert im.mode == "RGB" and im.format == "JPEG"


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda: photos.SVG, "SVG|web page"),
        (lambda: photos.HTML, "web page"),
        (lambda: b"just some text, not a picture", "not a JPEG"),
        (lambda: b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj", "document"),
        (photos.jpeg_html_polyglot, "markup or script"),
        (photos.jpeg_zip_polyglot, "archive"),
        (photos.gif_js_polyglot, "not a JPEG"),
        (photos.truncated_jpeg, "damaged or truncated"),
        (photos.png_bomb, "pixels"),
        (lambda: b"", "empty"),
        (lambda: b"\xff\xd8" + b"\x00" * (11 * 1024 * 1024), "MB"),
    ],
)
def test_hostile_photos_are_refused(make, why):
    with pytest.raises(ValidationError, match=f"photo: .*({why})"):
        clean_photo(make())


def test_the_bomb_is_refused_before_decoding():
    bomb = photos.png_bomb(8000)  # 64 Mpx > the limit, under Pillow's own warning
    assert MAX_PHOTO_PIXELS < 8000 * 8000 and len(bomb) < 200_000
    with pytest.raises(ValidationError, match="8000 x 8000 pixels"):
        clean_photo(bomb)
