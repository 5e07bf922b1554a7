"""Build the binary hostile files (GeoPackage, shapefiles, workbooks) into a folder.

    python tests/data/make_hostile.py OUT_DIR

The tests call :func:`build` into a temporary folder; nothing here is committed.
Each file imitates something a union actually receives (see README.md).
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
from shapely.geometry import Point, box

STATIONS = gpd.GeoDataFrame(
    {
        "id": ["S1", "S2"],
        "type": ["outdoor_station", "outdoor_station"],
        "name": ["新碶街道驿站", "大碶街道驿站"],
        "address": ["新碶街道四明山路517号", "大碶街道"],
    },
    geometry=[Point(121.85, 29.90), Point(121.80, 29.88)],
    crs=4326,
)


def multi_layer_gpkg(out: Path) -> Path:
    """A GeoPackage with stations and a polygon layer: which layer is meant?"""
    path = out / "two_layers.gpkg"
    STATIONS.to_file(path, layer="stations", driver="GPKG")
    areas = gpd.GeoDataFrame(
        {"name": ["新碶"]}, geometry=[box(121.8, 29.85, 121.9, 29.95)], crs=4326
    )
    areas.to_file(path, layer="subdistricts", driver="GPKG")
    return path


def gbk_shapefiles(out: Path) -> dict[str, Path]:
    """GBK shapefiles: without a .cpg, and with a .cpg saying GB2312 (碶 is not in GB2312)."""
    made = {}
    for case, cpg in (("nocpg", None), ("gb2312", "GB2312")):
        folder = out / case
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "stations.shp"
        STATIONS.to_file(path, encoding="GBK", driver="ESRI Shapefile")
        path.with_suffix(".cpg").unlink(missing_ok=True)
        if cpg:
            path.with_suffix(".cpg").write_text(cpg, encoding="ascii")
        made[case] = path
    zpath = out / "stations_nocpg.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in (out / "nocpg").iterdir():
            zf.write(f, f.name)
    made["zip"] = zpath
    return made


def workbooks(out: Path) -> dict[str, Path]:
    """Workbooks: header on row 2, data on the second sheet, formulas never calculated."""
    import openpyxl

    made = {}
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([])  # row 1 left blank, the header on row 2
    sheet.append(["id", "lon", "lat", "weight", "group"])
    sheet.append(["R1", 121.85, 29.90, 10, "outdoor"])
    made["header_row2"] = out / "header_row2.xlsx"
    book.save(made["header_row2"])

    book = openpyxl.Workbook()
    book.active.title = "说明"
    data = book.create_sheet("骑手")
    data.append(["id", "lon", "lat", "weight", "group"])
    data.append(["R1", 121.85, 29.90, 10, "outdoor"])
    made["second_sheet"] = out / "second_sheet.xlsx"
    book.save(made["second_sheet"])

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "lon", "lat", "weight", "group"])
    sheet.append(["R1", "=121.8+0.05", 29.90, "=5*2", "outdoor"])
    made["formulas"] = out / "formulas.xlsx"  # openpyxl saves formulas with no value
    book.save(made["formulas"])

    made["xlsx_as_csv"] = out / "renamed.csv"  # an .xlsx renamed .csv
    shutil.copy(made["second_sheet"], made["xlsx_as_csv"])
    return made


def long_cells(out: Path) -> dict[str, Path]:
    """A 140,000-character address (a pasted document), and a quote never closed."""
    made = {"long": out / "long_cell.csv", "unclosed": out / "unclosed_long.csv"}
    made["long"].write_text(
        "id,type,name,address,lon,lat\n"
        f"S1,outdoor_station,新碶驿站,{'很长的地址' * 28_000},121.85,29.90\n",
        encoding="utf-8",
    )
    rows = "".join(f"R{i},121.85,29.90,1,outdoor\n" for i in range(7_000))
    made["unclosed"].write_text(
        f'id,lon,lat,weight,group\nR,121.85,29.90,1,"outdoor\n{rows}', encoding="utf-8"
    )
    return made


def build(out: str | Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    made = {"gpkg": multi_layer_gpkg(out)}
    made |= {f"shp_{k}": v for k, v in gbk_shapefiles(out).items()}
    made |= workbooks(out)
    made |= long_cells(out)
    return made


if __name__ == "__main__":
    for name, path in build(sys.argv[1]).items():
        print(f"{name}: {path}")
