"""Build the "bring your own data" inputs of notebooks/04_bring_your_own_data.ipynb.

Two files shaped like what a district union actually has, made from the shipped Beilun
demo (``datasets/beilun``) so that the notebook's figures can be checked:

- ``stations_amap.xlsx`` (站点清单): the outdoor-worker stations (户外劳动者驿站) and
  mother rooms (妈咪暖心小屋), one row each, with Chinese headers and the coordinates
  as AMap (高德地图) shows them, i.e. in GCJ-02. Types, levels and amenities are written
  in Chinese words, as staff would type them.
- ``workplaces.csv`` (企业名单): every workplace of the demo with its headcount (职工人数)
  and share of women (女职工占比), also geocoded with AMap (GCJ-02), UTF-8 with a BOM
  so that Excel opens it cleanly.

Deterministic: the same demo gives the same cell values (rows sorted by id, coordinates
rounded to 6 decimals, about 0.1 m). The .xlsx file's zip container still carries write
times, so compare contents, not bytes (tests/test_notebooks.py does).

Run from the repository root::

    .venv/bin/python notebooks/data/make_byo_data.py            # writes notebooks/data/
    .venv/bin/python notebooks/data/make_byo_data.py --out DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

import geo
from geo.demo import datasets_dir

HERE = Path(__file__).resolve().parent
STATIONS = "stations_amap.xlsx"
WORKPLACES = "workplaces.csv"
STATION_TYPES = ("outdoor_station", "mother_room")

# The words staff write; geo.load_facilities reads each back to its key.
_AMENITY_ZH = {
    "water": "饮水",
    "microwave": "微波炉",
    "charging": "充电",
    "toilet": "卫生间",
    "rest": "休息",
    "medicine": "药箱",
    "fridge": "冰箱",
    "wifi": "无线网络",
    "step_free": "无障碍通道",
    "wheelchair_toilet": "无障碍厕所",
    "baby_change": "母婴护理台",
}
_LEVEL_ZH = {"national": "国家级", "provincial": "省级", "municipal": "市级", "district": "区级"}
_FIXED_TIME = dt.datetime(2024, 12, 31, 0, 0, 0)


def _gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    glon, glat = geo.wgs84_to_gcj02(np.asarray(lon), np.asarray(lat))
    return np.round(glon, 6), np.round(glat, 6)


def stations_frame(demo: geo.Demo) -> pd.DataFrame:
    """The station spreadsheet's rows: Chinese headers, GCJ-02 coordinates."""
    registry = geo.load_registry()
    fac = demo.facilities[demo.facilities["type"].isin(STATION_TYPES)]
    fac = fac.sort_values("id").reset_index(drop=True)
    lon, lat = _gcj02(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    return pd.DataFrame(
        {
            "编号": fac["id"],
            "设施类型": [registry[t].label_zh for t in fac["type"]],
            "站点名称": fac["name"],
            "地址": fac["address"],
            "经度(高德)": lon,
            "纬度(高德)": lat,
            "开放时间": fac["hours"],
            "容量": fac["capacity"],
            "服务设施": ["、".join(_AMENITY_ZH.get(a, a) for a in am) for am in fac["amenities"]],
            "级别": [_LEVEL_ZH.get(v, v) for v in fac["level"]],
            "联系电话": fac["contact"],
            "更新日期": fac["updated_at"],
        }
    )


def workplaces_frame(name: str = "beilun") -> pd.DataFrame:
    """The workplace list's rows, from the demo's workplace file, in GCJ-02."""
    src = pd.read_csv(datasets_dir() / name / "workplaces.csv", dtype={"id": str})
    src = src.sort_values("id").reset_index(drop=True)
    lon, lat = _gcj02(src["lon"].to_numpy(), src["lat"].to_numpy())
    return pd.DataFrame(
        {
            "编号": src["id"],
            "单位名称": src["name"],
            "经度(高德)": lon,
            "纬度(高德)": lat,
            "职工人数": src["headcount"].astype(int),
            "女职工占比": src["female_share"].round(3),
            "所属街道": src["subdistrict"],
        }
    )


def write(out: Path = HERE) -> tuple[Path, Path]:
    """Write both files into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    demo = geo.load_demo("beilun")
    stations = out / STATIONS
    with pd.ExcelWriter(stations, engine="openpyxl") as xw:
        stations_frame(demo).to_excel(xw, sheet_name="站点清单", index=False)
        props = xw.book.properties
        props.creator = "servicemap notebooks/data/make_byo_data.py"
        props.created = props.modified = _FIXED_TIME
    workplaces = out / WORKPLACES
    workplaces_frame().to_csv(workplaces, index=False, encoding="utf-8-sig", lineterminator="\n")
    return stations, workplaces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into")
    args = parser.parse_args()
    for path in write(args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
