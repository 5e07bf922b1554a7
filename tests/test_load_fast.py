"""The fast loading paths (geo._io, geo.demand): python-calamine workbooks, pyarrow text
columns, the vectorised id hash. Each is checked against the answer of the plain path."""

from __future__ import annotations

import datetime as dt
import re
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from geo._io import _all_distinct, read_file, text_hashes
from geo.demand import iter_demand, load_demand
from geo.errors import ValidationError
from geo.layers import load_facilities

ROWS = [
    ("R1", 121.80, 29.90, 3, "outdoor"),
    ("R2", 121.81, 29.91, 12, "outdoor"),
    ("站3", 121.82, 29.92, 0, "户外劳动者"),
]


def _csv(path, rows=ROWS, header="id,lon,lat,weight,group"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows), "utf-8")
    return path


def _xlsx(path, rows=ROWS, *, title=None, sheet="Sheet", first_empty=False):
    import openpyxl

    book = openpyxl.Workbook()
    if first_empty:
        book.active.title = "empty"
        ws = book.create_sheet(sheet)
    else:
        ws = book.active
        ws.title = sheet
    if title:
        ws.append([title])
    ws.append(["id", "lon", "lat", "weight", "group"])
    for r in rows:
        ws.append(list(r))
    book.save(path)
    return path


def _same(a, b):
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        if col == "geometry":
            assert a.geometry.geom_equals_exact(b.geometry, 0).all()
        else:
            assert a[col].tolist() == b[col].tolist() or (
                a[col].isna().all() and b[col].isna().all()
            ), col
        assert a[col].dtype == b[col].dtype, col


def test_a_workbook_loads_exactly_as_the_same_csv(tmp_path):
    with pytest.warns(UserWarning, match="group values read as"):
        from_csv = load_demand(_csv(tmp_path / "d.csv"))
    with pytest.warns(UserWarning, match="group values read as"):
        from_xlsx = load_demand(_xlsx(tmp_path / "d.xlsx"))
    _same(from_csv, from_xlsx)
    assert from_xlsx["group"].tolist() == ["outdoor"] * 3
    assert from_xlsx["id"].tolist() == ["R1", "R2", "站3"]


def test_a_workbook_with_a_title_on_its_second_sheet_loads_as_the_csv(tmp_path):
    path = _xlsx(tmp_path / "t.xlsx", ROWS[:2], title="北仑区户外劳动者", first_empty=True)
    with pytest.warns(UserWarning) as record:
        got = load_demand(path)
    text = " ".join(str(w.message) for w in record)
    assert "looks like a title" in text and "reading sheet 'Sheet'" in text
    _same(load_demand(_csv(tmp_path / "t.csv", ROWS[:2])), got)
    with pytest.warns(UserWarning):  # the title and the second sheet, as above
        raw = read_file(path, (".xlsx",))
    assert list(raw.labels) == ["row 3", "row 4"]  # the title is row 1, the header row 2


def _with_cached_values(path, values: dict[str, str]):
    """Give formula cells saved values, as Excel does when it saves (openpyxl cannot)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    xml = members["xl/worksheets/sheet1.xml"].decode("utf-8")
    for ref, value in values.items():
        xml, n = re.subn(
            rf'(<c r="{ref}"[^>]*>\s*<f>[^<]*</f>)\s*(<v\s*/>|<v>\s*</v>)?',
            rf"\g<1><v>{value}</v>",
            xml,
        )
        assert n == 1, ref
    members["xl/worksheets/sheet1.xml"] = xml.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_formulas_with_saved_values_load_their_values(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["id", "lon", "lat", "weight", "group", "since"])
    ws.append(["a", "=121.7+0.1", 29.9, "=2*3", "outdoor", dt.datetime(2024, 3, 1)])
    ws.append(["b", 121.81, 29.91, 4, "outdoor", dt.datetime(2024, 3, 1, 8, 30)])
    book.save(tmp_path / "f.xlsx")
    with pytest.raises(ValidationError, match="a formula with no saved value"):
        load_demand(tmp_path / "f.xlsx")
    path = _with_cached_values(tmp_path / "f.xlsx", {"B2": "121.8", "D2": "6"})
    got = load_demand(path)
    assert got["weight"].tolist() == [6.0, 4.0]
    assert got.geometry.x.tolist() == [121.8, 121.81]
    raw = read_file(path, (".xlsx",))
    assert raw.frame["since"].tolist() == ["2024-03-01", "2024-03-01T08:30:00"]


def test_merged_cells_are_found_by_calamine_and_refused(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["id", "type", "lon", "lat"])
    ws.append(["S1", "outdoor_station", 121.8, 29.9])
    ws.append(["S2", None, 121.81, 29.91])
    ws.merge_cells("B2:B3")
    book.save(tmp_path / "m.xlsx")
    with pytest.raises(ValidationError, match=r"merged cells \(B2:B3\)"):
        load_facilities(tmp_path / "m.xlsx")


def test_a_workbook_named_csv_and_a_broken_one(tmp_path):
    path = _xlsx(tmp_path / "w.xlsx")
    renamed = tmp_path / "w.csv"
    renamed.write_bytes(path.read_bytes())
    with pytest.warns(UserWarning, match="named .csv"):
        assert len(load_demand(renamed, group="outdoor")) == 3
    broken = tmp_path / "b.xlsx"
    broken.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValidationError, match="not a readable .xlsx workbook"):
        load_demand(broken)


def test_csv_text_columns_reach_the_output_without_object_columns(tmp_path):
    d = load_demand(_csv(tmp_path / "d.csv", ROWS[:2]))
    for col in ("id", "group", "kind", "source_id", "route_id"):
        assert d[col].dtype == pd.Series(["x"]).astype(str).dtype, col
    assert d["kind"].tolist() == ["point", "point"] and d["route_id"].tolist() == ["", ""]
    # a workplace file: two rows per workplace, ids joined by pyarrow
    path = tmp_path / "w.csv"
    path.write_text("id,lon,lat,headcount,female_share\nW1,121.8,29.9,100,0.3\n", "utf-8")
    w = load_demand(path)
    assert w["id"].tolist() == ["W1:all_workers", "W1:female_nursing"]
    assert w["source_id"].tolist() == ["W1", "W1"]
    assert w["weight"].tolist() == [100.0, 30.0]


def test_blank_lines_keep_their_row_numbers_in_the_fast_reader(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"id,lon,lat\r\n\r\nA,121.8,29.9\r\n,,\r\nB,121.8,95\r\n")
    with pytest.raises(ValidationError) as info:
        load_demand(path, group="outdoor")
    assert info.value.problems == [
        "row 5, field 'lat': value '95' is out of range -90..90 for a latitude"
    ]


def test_text_hashes_are_the_same_for_the_same_strings_in_any_array():
    words = ["", "a", "ab", "abcdefgh", "abcdefghi", "abcdefgh\x00", "站点一号", "x" * 300]
    arr = pa.array(words + ["a", "x" * 299 + "y"])
    h = text_hashes(arr)
    assert len(set(h.tolist())) == len(words) + 1  # 'a' twice
    assert h[1] == h[len(words)]
    for lo, hi in ((1, 4), (0, 8), (5, 10)):
        assert (text_hashes(arr.slice(lo, hi - lo)) == h[lo:hi]).all()
    assert (text_hashes(pa.chunked_array([arr.slice(0, 3), arr.slice(3)])) == h).all()
    assert not _all_distinct(arr) and _all_distinct(arr.slice(0, len(words)))
    assert text_hashes(pa.array([], pa.string())).dtype == np.uint64


def test_repeated_ids_across_blocks_are_found_by_hash(tmp_path):
    rows = [(f"R{i}", 121.8, 29.9, 1, "outdoor") for i in range(6000)]
    blocks = list(iter_demand(_csv(tmp_path / "e.csv", rows), chunk_rows=1000))
    assert len(blocks) > 2 and sum(len(b) for b in blocks) == 6000
    path = _csv(tmp_path / "d.csv", [*rows, ("R7", 121.8, 29.9, 1, "outdoor")])
    with pytest.raises(ValidationError, match="'R7' is a duplicate id: an earlier row"):
        for _ in iter_demand(path, chunk_rows=1000):
            pass


def test_gc_paused_nests_and_restores_the_collector():
    import gc
    import threading

    from geo._gc import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still runs
        made = [[i] for i in range(10_000)]  # tracked objects made while paused
    assert gc.isenabled()
    assert all(gc.is_tracked(m) for m in made[:10])  # still tracked, not lost to freeze
    assert gc.get_freeze_count() == 0  # the frozen generation was handed back
    # a second thread's pause ending first does not bring the collector back early
    inside, leave = threading.Event(), threading.Event()

    def other():
        with gc_paused():
            inside.set()
            leave.wait(5)

    t = threading.Thread(target=other)
    with gc_paused():
        t.start()
        inside.wait(5)
    assert not gc.isenabled()  # the other thread's pause is still on
    leave.set()
    t.join(5)
    assert gc.isenabled()
    # a collector the caller switched off stays off
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_loaders_leave_the_collector_as_they_found_it(tmp_path):
    import gc

    path = _csv(tmp_path / "d.csv", ROWS[:2])
    load_demand(path)
    assert gc.isenabled()
    with pytest.raises(ValidationError):
        load_demand(_csv(tmp_path / "bad.csv", [("R1", "abc", 29.9, 3, "outdoor")]))
    assert gc.isenabled()  # also after a refused file
    assert sum(len(b) for b in iter_demand(path)) == 2
    assert gc.isenabled()
