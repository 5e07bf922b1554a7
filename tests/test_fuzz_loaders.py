"""Property-based fuzzing of every loader (hypothesis): on raw CSV text and on tables.

Properties: only ServicemapErrors escape; a table of N valid data rows loads as N rows
(in order, with the same coordinates); coordinates come out finite and in range.
"""

from __future__ import annotations

import csv
import io
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.demand import load_demand
from geo.errors import ServicemapError
from geo.layers import load_areas, load_facilities

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GROUPS = ["outdoor", "female_nursing", "all_workers", "truck_drivers"]
# cell text: CJK, separators, quotes, spaces (newlines only in the raw-text properties)
CELL = st.text(alphabet=st.sampled_from(list("ab驿站新碶 ,;\t\"'#-1０.")), max_size=12)


def _quietly(load, *args, **kwargs):
    """Run a loader; warnings (what was assumed) are allowed, other exceptions escape."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return load(*args, **kwargs)
        except ServicemapError:
            return None


def _check_coordinates(out: gpd.GeoDataFrame) -> None:
    if len(out):
        x, y = out.geometry.x.to_numpy(), out.geometry.y.to_numpy()
        assert np.isfinite(x).all() and np.isfinite(y).all()
        assert (np.abs(x) <= 180).all() and (np.abs(y) <= 90).all()
    assert out.crs.to_epsg() == 4326


@FUZZ
@given(text=st.text(max_size=300), encoding=st.sampled_from(["utf-8", "gb18030", "utf-16"]))
def test_raw_text_only_raises_servicemap_errors(tmp_path, text, encoding):
    path = tmp_path / "fuzz.csv"
    try:
        path.write_bytes(text.encode(encoding))
    except UnicodeEncodeError:
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
    for out in (
        _quietly(load_demand, path),
        _quietly(load_demand, path, group="outdoor"),
        _quietly(load_facilities, path, type="outdoor_station"),
    ):
        if out is not None:
            _check_coordinates(out)


@FUZZ
@given(
    header=st.lists(
        st.sampled_from(
            [
                "lon",
                "lat",
                "经度",
                "纬度",
                "weight",
                "group",
                "id",
                "name",
                "人数",
                "类型",
                "type",
                "",
            ]
        ),
        max_size=6,
    ),
    cells=st.lists(
        st.lists(CELL | st.sampled_from(["121.8", "29.9", "0", "-1", "1e400"]), max_size=7),
        max_size=6,
    ),
)
def test_random_tables_only_raise_servicemap_errors(tmp_path, header, cells):
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *cells])
    path = tmp_path / "t.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    for out in (_quietly(load_demand, path), _quietly(load_facilities, path)):
        if out is not None:
            _check_coordinates(out)
    frame = pd.DataFrame([dict(zip(header, row, strict=False)) for row in cells])
    out = _quietly(load_demand, frame)
    if out is not None:
        _check_coordinates(out)


ROWS = st.lists(
    st.tuples(
        st.floats(73, 135, allow_nan=False),
        st.floats(18, 54, allow_nan=False),
        st.integers(0, 10_000),
        st.sampled_from(GROUPS),
        CELL,
    ),
    min_size=1,
    max_size=30,
)


@FUZZ
@given(
    rows=ROWS,
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    delimiter=st.sampled_from([",", "\t", ";"]),
    blank_every=st.integers(0, 5),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
)
def test_valid_tables_load_every_row(tmp_path, rows, quoting, delimiter, blank_every, encoding):
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=quoting, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["id", "name", "lon", "lat", "weight", "group", "type"])
    for i, (lon, lat, weight, group, name) in enumerate(rows):
        if lon == 0 and lat == 0:
            lon = 121.8
        writer.writerow([f"R{i}", name, repr(lon), repr(lat), weight, group, "outdoor_station"])
        if blank_every and i % blank_every == 0:
            buf.write("\n")
    path = tmp_path / "rows.csv"
    path.write_bytes(buf.getvalue().encode(encoding))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        demand = load_demand(path)
        facilities = load_facilities(path)
    for out in (demand, facilities):
        assert len(out) == len(rows)
        assert out["id"].tolist() == [f"R{i}" for i in range(len(rows))]
        np.testing.assert_array_equal(out.geometry.x.to_numpy(), [r[0] for r in rows])
        np.testing.assert_array_equal(out.geometry.y.to_numpy(), [r[1] for r in rows])
        _check_coordinates(out)
    assert demand["weight"].tolist() == [float(r[2]) for r in rows]
    assert demand["group"].tolist() == [r[3] for r in rows]
    assert facilities["name"].tolist() == [r[4].strip() for r in rows]


@FUZZ
@given(rows=ROWS)
def test_frames_and_geojson_load_every_row(tmp_path, rows):
    lon = [r[0] for r in rows]
    lat = [r[1] for r in rows]
    frame = pd.DataFrame(
        {"lon": lon, "lat": lat, "weight": [r[2] for r in rows], "group": [r[3] for r in rows]}
    )
    out = load_demand(frame)
    assert len(out) == len(rows)
    gdf = gpd.GeoDataFrame(
        frame[["weight", "group"]], geometry=gpd.points_from_xy(lon, lat), crs=4326
    )
    path = tmp_path / "d.geojson"
    gdf.to_file(path)
    for out in (load_demand(gdf), load_demand(path)):
        assert len(out) == len(rows)
        np.testing.assert_allclose(out.geometry.x.to_numpy(), lon, atol=1e-9)
        _check_coordinates(out)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS)
def test_workbooks_load_every_row(tmp_path, rows):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["id", "lon", "lat", "weight", "group"])
    for i, (lon, lat, weight, group, _) in enumerate(rows):
        sheet.append([f"R{i}", lon, lat, weight, group])
    path = tmp_path / "d.xlsx"
    book.save(path)
    out = load_demand(path)
    assert len(out) == len(rows)
    np.testing.assert_allclose(out.geometry.x.to_numpy(), [r[0] for r in rows], atol=1e-12)
    _check_coordinates(out)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_area_files_with_random_attributes(tmp_path, n):
    from shapely.geometry import box

    gdf = gpd.GeoDataFrame(
        {"name": [f"街道{i}" for i in range(n)]},
        geometry=[box(121 + i, 29, 121.5 + i, 29.5) for i in range(n)],
        crs=4326,
    )
    path = tmp_path / "a.geojson"
    gdf.to_file(path)
    out = _quietly(load_areas, path)
    assert (out is None) if n == 0 else len(out) == n
