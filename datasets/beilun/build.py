"""Build the Beilun District (北仑区, Ningbo, Zhejiang) demo dataset.

Usage::

    python datasets/beilun/build.py [--out DIR]

Deterministic: one seeded ``numpy.random.default_rng(SEED)`` drives every random choice,
files are written with fixed formatting, so re-running gives byte-identical files. No
network: the only real geometry (the district boundary) comes from the ``cnmaps`` package
(AMap boundaries, GCJ-02), which ships its data.

What is real, what is from the district union's published report and what is synthetic
is written down in ``datasets/beilun/README.md``; keep the two in step.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.polygon import orient

from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02

SEED = 20240501
HERE = Path(__file__).resolve().parent
METRIC_EPSG = 32651  # WGS84 / UTM zone 51N: the zone of Beilun's centroid (lon ~121.9)
INSET_M = 60.0  # every generated point lies at least this far inside the boundary
ROUND = 6  # decimals of every written coordinate (~0.1 m)
UPDATED_DATES = ("2024-03-15", "2024-06-28", "2024-09-30", "2024-12-20")
CONTACT = "12351"  # the national trade-union workers' service hotline (real, public)
SOURCE_SYNTH = f"synthetic: datasets/beilun/build.py seed {SEED}"

# ---- figures from the district union's report after five years (see README) ----
N_OUTDOOR_STATIONS = 44
N_MOTHER_ROOMS = 43
N_BOOKSHELVES = 104
N_SUBDISTRICTS = 11
N_INDUSTRIAL_COMMUNITIES = 20
N_UNION_ORGS = 2559
MEMBERS = 419_000
NEW_EMPLOYMENT = 29_000
WORKPLACE_HEADCOUNT = MEMBERS - NEW_EMPLOYMENT  # 390,000
# Split of the 29,000 new-employment-form workers (our assumption, not in the report):
OUTDOOR_WORKERS = 22_000  # food-delivery riders, couriers, ride-hailing, outdoor sanitation
TRUCK_DRIVERS = NEW_EMPLOYMENT - OUTDOOR_WORKERS  # 7,000, carried as daily_trucks on routes

_TO_M = Transformer.from_crs(4326, METRIC_EPSG, always_xy=True)
_TO_LL = Transformer.from_crs(METRIC_EPSG, 4326, always_xy=True)

# ---- sub-districts (街道): approximate centres, WGS84, placed by hand ----
# (id, name, name_en, lon, lat, short name used in addresses)
SUBDISTRICTS = [
    ("SD01", "新碶街道", "Xinqi", 121.846, 29.902),
    ("SD02", "小港街道", "Xiaogang", 121.715, 29.915),
    ("SD03", "大碶街道", "Daqi", 121.795, 29.876),
    ("SD04", "霞浦街道", "Xiapu", 121.903, 29.912),
    ("SD05", "柴桥街道", "Chaiqiao", 121.945, 29.872),
    ("SD06", "戚家山街道", "Qijiashan", 121.762, 29.945),
    ("SD07", "春晓街道", "Chunxiao", 121.925, 29.805),
    ("SD08", "梅山街道", "Meishan", 121.990, 29.772),
    ("SD09", "郭巨街道", "Guoju", 122.095, 29.872),
    ("SD10", "白峰街道", "Baifeng", 122.025, 29.880),
    ("SD11", "大榭街道", "Daxie", 121.962, 29.942),
]

# Plausible road names per sub-district, for station names and addresses (not surveyed).
ROADS = {
    "新碶街道": "明州路 新大路 长江路 华山路 太河路 岷山路 庐山路 黄山路 泰山路 恒山路 衡山路"
    " 淮河路 四明山路 天目山路 银杏街 中河路",
    "小港街道": "红联路 枫林路 渡口路 小浃江路 纬五路 江南路 经一路 枫林西路",
    "大碶街道": "嵩山路 灵峰路 沿山河路 松花江路 大碶中路 横河路 璎珞路 坝头路 高塘路 新大路南段",
    "霞浦街道": "凤洋路 霞浦路 新港路 算山路 西山路 港城路",
    "柴桥街道": "芦江路 柴桥中路 穿山路 紫石路 河头路 临港路",
    "戚家山街道": "青峙路 戚家山路 宏源路 东海路",
    "春晓街道": "春晓大道 滨海路 洋沙山路 昆亭路 三山路",
    "梅山街道": "梅山大道 港城大道 七星路 梅港路",
    "郭巨街道": "峙南路 郭巨中路 嵩港路",
    "白峰街道": "白峰中路 上阳路 勤山路 阳东路",
    "大榭街道": "海光路 榭北路 滨海南路 大榭中路",
}

# ---- industrial communities (工业社区): synthetic names and centres, WGS84 ----
# (id, name, name_en, sub-district, lon, lat, industry weights)
_MFG = {"machinery": 4, "electronics": 2, "textile_garment": 2, "chemical": 1, "auto_parts": 2}
_PORT = {"port_logistics": 5, "machinery": 2, "chemical": 1}
_CHEM = {"chemical": 4, "petrochemical": 3, "machinery": 1, "port_logistics": 1}
INDUSTRIAL_COMMUNITIES = [
    ("IC01", "大港工业社区", "Dagang", "新碶街道", 121.862, 29.917, _PORT),
    ("IC02", "长江工业社区", "Changjiang", "新碶街道", 121.829, 29.893, _MFG),
    ("IC03", "九峰工业社区", "Jiufeng", "新碶街道", 121.858, 29.885, _MFG),
    ("IC04", "红联工业社区", "Honglian", "小港街道", 121.735, 29.924, _MFG),
    ("IC05", "小浃江工业社区", "Xiaojiajiang", "小港街道", 121.745, 29.905, _MFG),
    ("IC06", "青峙工业社区", "Qingzhi", "戚家山街道", 121.778, 29.948, _CHEM),
    ("IC07", "灵峰工业社区", "Lingfeng", "大碶街道", 121.790, 29.864, _MFG),
    ("IC08", "璎珞工业社区", "Yingluo", "大碶街道", 121.811, 29.884, _MFG),
    ("IC09", "嵩山工业社区", "Songshan", "大碶街道", 121.770, 29.886, _MFG),
    ("IC10", "凤洋工业社区", "Fengyang", "霞浦街道", 121.915, 29.900, _PORT),
    ("IC11", "芦江工业社区", "Lujiang", "柴桥街道", 121.933, 29.881, _MFG),
    ("IC12", "穿山工业社区", "Chuanshan", "柴桥街道", 121.972, 29.896, _PORT),
    ("IC13", "临港工业社区", "Lingang", "柴桥街道", 121.953, 29.887, _MFG),
    ("IC14", "上阳工业社区", "Shangyang", "白峰街道", 122.030, 29.884, _PORT),
    ("IC15", "峙南工业社区", "Zhinan", "郭巨街道", 122.085, 29.868, _MFG),
    ("IC16", "滨海工业社区", "Binhai", "春晓街道", 121.935, 29.815, {"auto_parts": 5, **_MFG}),
    ("IC17", "洋沙山工业社区", "Yangshashan", "春晓街道", 121.955, 29.800, _MFG),
    ("IC18", "梅山港城工业社区", "Meishan Gangcheng", "梅山街道", 121.995, 29.780, _PORT),
    ("IC19", "榭北工业社区", "Xiebei", "大榭街道", 121.963, 29.950, _CHEM),
    ("IC20", "保税区西工业社区", "Baoshuiqu West", "新碶街道", 121.840, 29.912, _MFG),
]

# ---- a few large employers (generic descriptions, not real company names) ----
# (name, industry, lon, lat, headcount)
LARGE_EMPLOYERS = [
    ("北仑港区集装箱码头运营企业", "port_logistics", 121.880, 29.924, 9000),
    ("穿山港区集装箱码头运营企业", "port_logistics", 121.984, 29.903, 7000),
    ("大榭港区码头运营企业", "port_logistics", 121.952, 29.948, 3500),
    ("梅山港区码头运营企业", "port_logistics", 121.996, 29.776, 4000),
    ("临港钢铁联合企业", "steel", 121.778, 29.953, 8000),
    ("大榭石化炼化企业", "petrochemical", 121.972, 29.944, 6000),
    ("戚家山化工新材料企业", "chemical", 121.769, 29.943, 3000),
    ("春晓整车制造基地", "auto", 121.942, 29.812, 8500),
    ("大碶汽车零部件企业", "auto_parts", 121.795, 29.866, 4500),
    ("新碶家电制造企业", "electronics", 121.832, 29.895, 5000),
    ("柴桥装备制造企业", "machinery", 121.948, 29.886, 3000),
    ("霞浦港航物流企业", "port_logistics", 121.905, 29.906, 2500),
    ("北仑发电企业", "energy", 121.895, 29.925, 2000),
    ("北仑区综合医院", "healthcare", 121.850, 29.900, 2500),
]

INDUSTRY_ZH = {
    "port_logistics": "港口物流",
    "machinery": "机械",
    "electronics": "电子电器",
    "textile_garment": "服装",
    "chemical": "化工",
    "petrochemical": "石化",
    "auto_parts": "汽车零部件",
    "auto": "汽车",
    "steel": "钢铁",
    "energy": "能源",
    "healthcare": "医疗",
    "retail_services": "商贸",
    "construction": "建设工程",
    "education": "教育",
    "public_sector": "公共服务",
}
# mean female share by industry (our assumption)
FEMALE_MEAN = {
    "port_logistics": 0.15,
    "machinery": 0.25,
    "electronics": 0.50,
    "textile_garment": 0.72,
    "chemical": 0.22,
    "petrochemical": 0.18,
    "auto_parts": 0.30,
    "auto": 0.20,
    "steel": 0.10,
    "energy": 0.15,
    "healthcare": 0.72,
    "retail_services": 0.58,
    "construction": 0.12,
    "education": 0.70,
    "public_sector": 0.48,
}
_TOWN_INDUSTRIES = {
    "retail_services": 5,
    "construction": 2,
    "education": 1,
    "public_sector": 1,
    "healthcare": 1,
    "port_logistics": 1,
    "machinery": 1,
}
_SYLLABLES = list("恒达盛泰鑫华宏远利安顺通海港东明创锐诚德丰邦瑞嘉科源兴隆金宝凯新永益富晟博舜")

# ---- riders' activity clusters: (label, sub-district, lon, lat, share, sigma_m, stations) ----
RIDER_CLUSTERS = [
    ("新碶中心", "新碶街道", 121.846, 29.902, 0.22, 1200, 10),
    ("新碶东", "新碶街道", 121.868, 29.895, 0.08, 900, 4),
    ("大碶", "大碶街道", 121.795, 29.876, 0.14, 1200, 7),
    ("小港", "小港街道", 121.722, 29.918, 0.07, 1000, 4),
    ("戚家山", "戚家山街道", 121.762, 29.945, 0.04, 800, 2),
    ("霞浦", "霞浦街道", 121.903, 29.912, 0.07, 900, 4),
    ("柴桥", "柴桥街道", 121.945, 29.872, 0.08, 1000, 4),
    ("大榭", "大榭街道", 121.962, 29.942, 0.03, 800, 1),
    ("白峰", "白峰街道", 122.025, 29.880, 0.03, 900, 2),
    ("郭巨", "郭巨街道", 122.095, 29.872, 0.02, 900, 1),
    ("春晓", "春晓街道", 121.925, 29.805, 0.06, 1100, 3),
    ("梅山", "梅山街道", 121.990, 29.772, 0.04, 900, 2),
]
RIDER_DIFFUSE_SHARE = 0.08  # spread around industrial communities (lunch-time deliveries)
RIDER_ACTIVITIES = {
    "food_delivery": 0.45,
    "courier": 0.30,
    "sanitation": 0.15,
    "ride_hailing": 0.10,
}
N_RIDER_POINTS = 2200
CORE_QUANTILE = 0.8  # stations go on the inner 80% of a cluster's points
STATION_CANDIDATES = 5

# ---- driver homes (司机之家): WGS84, approximate positions ----
# (id, name, sub-district, lon, lat, level, named_in_report)
DRIVER_HOMES = [
    ("DH01", "北仑集装箱基地司机之家", "柴桥街道", 121.968, 29.893, "national", True),
    ("DH02", "霞浦物流社区司机之家", "霞浦街道", 121.900, 29.904, "national", True),
    ("DH03", "梅山港区司机之家", "梅山街道", 121.998, 29.778, "provincial", False),
    ("DH04", "大榭港区司机之家", "大榭街道", 121.958, 29.945, "municipal", False),
]

# ---- freight routes: port gate -> expressway entrance, WGS84 polylines, approximate ----
# (id, name, daily_trucks, [(lon, lat), ...])
FREIGHT_ROUTES = [
    (
        "FR01",
        "北仑港区—北仑港高速—绕城高速小港互通",
        1500,
        [
            (121.878, 29.924),
            (121.850, 29.921),
            (121.820, 29.922),
            (121.790, 29.921),
            (121.760, 29.917),
            (121.730, 29.911),
            (121.700, 29.906),
        ],
    ),
    (
        "FR02",
        "穿山港区—穿山疏港高速—大碶互通(G1501)",
        1800,
        [
            (121.984, 29.900),
            (121.962, 29.884),
            (121.930, 29.874),
            (121.895, 29.871),
            (121.860, 29.872),
            (121.825, 29.869),
            (121.795, 29.864),
            (121.768, 29.866),
        ],
    ),
    (
        "FR03",
        "大榭港区—大榭大桥—疏港高速霞浦入口",
        700,
        [
            (121.962, 29.948),
            (121.955, 29.935),
            (121.942, 29.918),
            (121.925, 29.900),
            (121.912, 29.885),
            (121.905, 29.873),
        ],
    ),
    (
        "FR04",
        "梅山港区—梅山大桥—春晓—沿海中线",
        800,
        [
            (121.998, 29.776),
            (121.985, 29.782),
            (121.962, 29.795),
            (121.940, 29.806),
            (121.915, 29.812),
            (121.893, 29.806),
            (121.870, 29.800),
        ],
    ),
    (
        "FR05",
        "北仑港区—明州路—霞浦物流园区",
        1100,
        [
            (121.885, 29.926),
            (121.892, 29.918),
            (121.898, 29.910),
            (121.903, 29.902),
            (121.905, 29.890),
            (121.905, 29.873),
        ],
    ),
    (
        "FR06",
        "郭巨—白峰—穿山疏港高速",
        300,
        [
            (122.095, 29.868),
            (122.070, 29.873),
            (122.045, 29.878),
            (122.020, 29.884),
            (122.000, 29.890),
            (121.984, 29.900),
        ],
    ),
    (
        "FR07",
        "霞浦物流园区—新大路—大碶互通",
        600,
        [
            (121.900, 29.904),
            (121.875, 29.896),
            (121.850, 29.889),
            (121.825, 29.882),
            (121.800, 29.873),
            (121.768, 29.866),
        ],
    ),
    (
        "FR08",
        "戚家山码头—青峙—绕城高速小港互通",
        200,
        [
            (121.778, 29.950),
            (121.760, 29.940),
            (121.742, 29.928),
            (121.725, 29.915),
            (121.700, 29.906),
        ],
    ),
]

OUTDOOR_HOURS = (
    ("24/7", 0.2),
    ("Mo-Su 07:00-21:00", 0.35),
    ("Mo-Su 06:30-22:00", 0.2),
    ("Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00", 0.15),
    ("Mo-Su 08:00-20:00", 0.1),
)
MOTHER_HOURS = (("Mo-Fr 08:30-17:30", 0.6), ("Mo-Sa 08:00-18:00", 0.3), ("Mo-Fr 08:00-17:00", 0.1))
BOOK_HOURS = (
    ("Mo-Fr 08:30-17:30", 0.5),
    ("Mo-Fr 12:00-13:30,17:30-20:30", 0.3),
    ("Mo-Sa 09:00-20:00", 0.2),
)

FACILITY_HEADER = [
    "编号", "类型", "名称", "地址", "经度", "纬度", "开放时间", "容量", "服务设施",
    "级别", "联系方式", "来源", "更新时间",
]  # fmt: skip


# ------------------------------------------------------------------ helpers


def _to_m(lon, lat) -> np.ndarray:
    x, y = _TO_M.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.column_stack([x, y])


def _to_ll(xy: np.ndarray) -> np.ndarray:
    lon, lat = _TO_LL.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _geom_to_m(geom):
    return shapely.transform(geom, lambda c: _to_m(c[:, 0], c[:, 1]))


def _geom_to_ll(geom):
    return shapely.transform(geom, _to_ll)


def _round_geom(geom):
    """Snap to the 6-decimal grid (keeping it valid) with clean float values."""
    geom = shapely.set_precision(geom, 10.0**-ROUND)
    return shapely.transform(geom, lambda c: np.round(c, ROUND))


def _as_multipolygon(geom) -> MultiPolygon:
    if geom.geom_type == "Polygon":
        parts = [geom]
    elif geom.geom_type == "MultiPolygon":
        parts = list(geom.geoms)
    else:
        parts = [g for g in getattr(geom, "geoms", []) if g.geom_type == "Polygon"]
        parts += [p for g in getattr(geom, "geoms", []) if g.geom_type == "MultiPolygon"
                  for p in g.geoms]  # fmt: skip
    parts = [orient(p, 1.0) for p in parts if not p.is_empty and p.area > 0]
    parts.sort(key=lambda p: -p.area)
    return MultiPolygon(parts)


def _choice(rng, options) -> str:
    values = [o[0] for o in options]
    p = np.array([o[1] for o in options], float)
    return values[int(rng.choice(len(values), p=p / p.sum()))]


def _integer_split(total: int, raw: np.ndarray, minimum: int) -> np.ndarray:
    """Integers >= minimum, proportional to raw above the minimum, summing to total."""
    n = len(raw)
    spare = total - minimum * n
    if spare < 0:
        raise ValueError(f"cannot split {total} into {n} parts of at least {minimum}")
    share = raw / raw.sum() * spare
    out = np.floor(share).astype(np.int64)
    rest = spare - int(out.sum())
    order = np.argsort(-(share - out), kind="stable")
    out[order[:rest]] += 1
    return out + minimum


def _sample_gauss(rng, center_m, sigma_m, n, region) -> np.ndarray:
    """n points ~ N(center, sigma) in metres, rejected until inside region."""
    out = np.empty((0, 2))
    while len(out) < n:
        xy = rng.normal(center_m, sigma_m, size=(2 * (n - len(out)) + 8, 2))
        xy = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
        out = np.vstack([out, xy])
    return out[:n]


def _sample_uniform(rng, region, n) -> np.ndarray:
    minx, miny, maxx, maxy = region.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        xy = np.column_stack(
            [rng.uniform(minx, maxx, 4 * n + 16), rng.uniform(miny, maxy, 4 * n + 16)]
        )
        xy = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
        out = np.vstack([out, xy])
    return out[:n]


def _fmt(x: float) -> str:
    return f"{x:.{ROUND}f}"


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _write_geojson(path: Path, name: str, features: list[tuple[dict, object]]) -> None:
    """One feature per line; no "crs" member (RFC 7946: WGS84 longitude/latitude)."""
    lines = [f'{{"type":"FeatureCollection","name":{json.dumps(name)},"features":[']
    for i, (props, geom) in enumerate(features):
        feat = {"type": "Feature", "properties": props, "geometry": mapping(geom)}
        text = json.dumps(feat, ensure_ascii=False, separators=(",", ":"))
        lines.append(text + ("," if i < len(features) - 1 else ""))
    lines.append("]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ layers


def boundary_wgs84() -> MultiPolygon:
    """The real district boundary (AMap via cnmaps, GCJ-02), converted to WGS84."""
    from cnmaps import get_adm_maps

    gcj = shape(
        get_adm_maps(
            city="宁波市", district="北仑区", record="first", only_polygon=True
        ).__geo_interface__
    )

    def _xy(c: np.ndarray) -> np.ndarray:
        return np.column_stack(gcj02_to_wgs84(c[:, 0], c[:, 1]))

    geom = _round_geom(shapely.transform(gcj, _xy))
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return _as_multipolygon(geom)


def subdistricts(boundary: MultiPolygon) -> list[tuple[dict, MultiPolygon]]:
    """Voronoi cells (in UTM 51N) around the approximate centres, clipped to the boundary."""
    centres = _to_m([s[3] for s in SUBDISTRICTS], [s[4] for s in SUBDISTRICTS])
    envelope = _geom_to_m(boundary).envelope.buffer(20_000)
    cells = shapely.voronoi_polygons(MultiPoint(centres), extend_to=envelope)
    out = []
    for (sid, name, name_en, *_), c in zip(SUBDISTRICTS, centres, strict=True):
        cell = next(g for g in cells.geoms if g.contains(Point(c)))
        cell_ll = _geom_to_ll(shapely.segmentize(cell, 500.0))
        geom = _as_multipolygon(_round_geom(cell_ll.intersection(boundary)))
        props = {"id": sid, "name": name, "name_en": name_en, "level": "subdistrict"}
        out.append((props, geom))
    return out


def industrial_communities(rng, inner_m, sd_m: dict) -> list[tuple[dict, MultiPolygon]]:
    """Clusters of 3-6 buffered points around each centre, inside its sub-district."""
    taken = Polygon()
    out = []
    for ic_id, name, name_en, sd, lon, lat, _ in INDUSTRIAL_COMMUNITIES:
        c = _to_m([lon], [lat])[0]
        k = int(rng.integers(3, 7))
        pts = np.vstack([c, rng.normal(c, 450.0, size=(k - 1, 2))])
        radii = rng.uniform(280.0, 600.0, size=k)
        blob = shapely.union_all(
            [Point(p).buffer(r, quad_segs=6) for p, r in zip(pts, radii, strict=True)]
        )
        blob = blob.buffer(150.0, quad_segs=4).buffer(-150.0, quad_segs=4)  # close gaps
        geom = blob.intersection(inner_m).intersection(sd_m[sd]).difference(taken)
        geom = geom.simplify(10.0)
        taken = taken.union(geom.buffer(50.0))
        geom_ll = _as_multipolygon(_round_geom(_geom_to_ll(geom)))
        if geom_ll.is_empty:
            raise RuntimeError(f"industrial community {ic_id} fell outside the district")
        props = {"id": ic_id, "name": name, "name_en": name_en, "level": "industrial_community"}
        out.append((props, geom_ll))
    return out


def workplaces(rng, inner_m, ic_m: dict, sd_lookup) -> list[dict]:
    n_small = N_UNION_ORGS - len(LARGE_EMPLOYERS)
    n_ic = int(round(n_small * 0.65))
    n_town = n_small - n_ic
    rows = []
    for name, industry, lon, lat, head in LARGE_EMPLOYERS:
        rows.append({"name": name, "industry": industry, "xy": _to_m([lon], [lat])[0],
                     "head": head})  # fmt: skip
    # in industrial communities, proportional to each community's area
    ic_ids = [ic[0] for ic in INDUSTRIAL_COMMUNITIES]
    areas = np.array([ic_m[i].area for i in ic_ids])
    per_ic = _integer_split(n_ic, areas, 20)
    for ic, k in zip(INDUSTRIAL_COMMUNITIES, per_ic, strict=True):
        xy = _sample_uniform(rng, ic_m[ic[0]], int(k))
        inds = list(ic[6])
        p = np.array([ic[6][i] for i in inds], float)
        for pt in xy:
            rows.append({"name": None, "industry": inds[rng.choice(len(inds), p=p / p.sum())],
                         "xy": pt, "head": None})  # fmt: skip
    # around the sub-district centres (shops, services, schools, construction)
    sd_share = np.array([0.30, 0.08, 0.16, 0.08, 0.09, 0.04, 0.07, 0.05, 0.03, 0.04, 0.06])
    per_sd = _integer_split(n_town, sd_share, 10)
    town_inds = list(_TOWN_INDUSTRIES)
    tp = np.array([_TOWN_INDUSTRIES[i] for i in town_inds], float)
    for s, k in zip(SUBDISTRICTS, per_sd, strict=True):
        xy = _sample_gauss(rng, _to_m([s[3]], [s[4]])[0], 1300.0, int(k), inner_m)
        for pt in xy:
            rows.append({"name": None, "industry": town_inds[rng.choice(len(tp), p=tp / tp.sum())],
                         "xy": pt, "head": None})  # fmt: skip
    # headcounts: lognormal, scaled so that the total is exactly WORKPLACE_HEADCOUNT
    small = [r for r in rows if r["head"] is None]
    large_total = sum(r["head"] for r in rows if r["head"] is not None)
    raw = rng.lognormal(0.0, 1.1, size=len(small))
    heads = _integer_split(WORKPLACE_HEADCOUNT - large_total, raw, 8)
    for r, h in zip(small, heads, strict=True):
        r["head"] = int(h)
    # names
    used = {r["name"] for r in rows if r["name"]}
    for r in small:
        while True:
            a, b = rng.choice(len(_SYLLABLES), size=2, replace=False)
            word = INDUSTRY_ZH[r["industry"]]
            if r["industry"] == "education":
                name = f"北仑区{_SYLLABLES[a]}{_SYLLABLES[b]}学校"
            elif r["industry"] == "public_sector":
                name = f"北仑区{_SYLLABLES[a]}{_SYLLABLES[b]}社区联合工会"
            elif r["industry"] == "healthcare":
                name = f"北仑{_SYLLABLES[a]}{_SYLLABLES[b]}医疗服务有限公司"
            else:
                name = f"宁波{_SYLLABLES[a]}{_SYLLABLES[b]}{word}有限公司"
            if name not in used:
                break
            # a collision: add a third syllable next time round by extending the pool
            name = f"{name[:-4]}{_SYLLABLES[int(rng.integers(len(_SYLLABLES)))]}{name[-4:]}"
            if name not in used:
                break
        used.add(name)
        r["name"] = name
    # female share
    for r in rows:
        m = FEMALE_MEAN[r["industry"]]
        r["female"] = float(np.clip(rng.beta(m * 25.0, (1.0 - m) * 25.0), 0.02, 0.95))
    # order: by sub-district then west->east, ids WP0001..
    ll = _to_ll(np.array([r["xy"] for r in rows]))
    for r, (lon, lat) in zip(rows, ll, strict=True):
        r["lon"], r["lat"] = round(float(lon), ROUND), round(float(lat), ROUND)
        r["subdistrict"] = sd_lookup(r["lon"], r["lat"])
    sd_order = {s[1]: i for i, s in enumerate(SUBDISTRICTS)}
    rows.sort(key=lambda r: (sd_order[r["subdistrict"]], r["lon"], r["lat"], r["name"]))
    for i, r in enumerate(rows, 1):
        r["id"] = f"WP{i:04d}"
    return rows


def riders(rng, inner_m, ic_m: dict) -> tuple[list[dict], list[np.ndarray]]:
    """Riders' activity points, and the points of each cluster (for placing stations)."""
    shares = np.array([c[4] for c in RIDER_CLUSTERS] + [RIDER_DIFFUSE_SHARE])
    counts = _integer_split(N_RIDER_POINTS, shares, 10)
    pts, by_cluster = [], []
    for c, k in zip(RIDER_CLUSTERS, counts[:-1], strict=True):
        xy = _sample_gauss(rng, _to_m([c[2]], [c[3]])[0], c[5], int(k), inner_m)
        pts.append(xy)
        by_cluster.append(xy)
    ic_centres = np.array([ic_m[i[0]].centroid.coords[0] for i in INDUSTRIAL_COMMUNITIES])
    which = rng.integers(len(ic_centres), size=int(counts[-1]))
    diffuse = np.vstack([_sample_gauss(rng, ic_centres[j], 1500.0, 1, inner_m) for j in which])
    pts.append(diffuse)
    xy = np.vstack(pts)
    weights = _integer_split(OUTDOOR_WORKERS, rng.gamma(2.0, 1.0, size=len(xy)), 1)
    acts = list(RIDER_ACTIVITIES)
    ap = np.array(list(RIDER_ACTIVITIES.values()))
    ll = _to_ll(xy)
    rows = []
    for i, ((lon, lat), w) in enumerate(zip(ll, weights, strict=True), 1):
        rows.append({
            "id": f"RD{i:04d}", "lon": round(float(lon), ROUND), "lat": round(float(lat), ROUND),
            "weight": int(w), "group": "outdoor", "activity": acts[rng.choice(len(acts), p=ap)],
        })  # fmt: skip
    return rows, by_cluster


def _station_sites(rng, by_cluster, inner_m) -> list[tuple[int, np.ndarray]]:
    """Put each cluster's stations on its busier spots, at least 500 m apart.

    Each station is the best of ``STATION_CANDIDATES`` random spots in the cluster's core
    (the one reaching most riders not yet within 1 km of a station): roughly what a union
    does when it asks riders where to put the next one, without solving the problem.
    """
    sites: list[tuple[int, np.ndarray]] = []
    for ci, (c, xy) in enumerate(zip(RIDER_CLUSTERS, by_cluster, strict=True)):
        centre = _to_m([c[2]], [c[3]])[0]
        d = np.hypot(*(xy - centre).T)
        core = xy[d <= np.quantile(d, CORE_QUANTILE)]  # the fringes are left uncovered
        covered = np.zeros(len(xy), bool)
        tries = 0
        for _ in range(c[6]):
            candidates = []
            while len(candidates) < STATION_CANDIDATES:
                tries += 1
                p = core[rng.integers(len(core))] + rng.normal(0.0, 120.0, 2)
                min_gap = 500.0 if tries < 500 else 300.0
                if shapely.contains_xy(inner_m, p[0], p[1]) and all(
                    np.hypot(*(p - q)) >= min_gap for _, q in sites
                ):
                    candidates.append(p)
            gain = [int((~covered & (np.hypot(*(xy - p).T) <= 1000.0)).sum()) for p in candidates]
            best = candidates[int(np.argmax(gain))]
            covered |= np.hypot(*(xy - best).T) <= 1000.0
            sites.append((ci, best))
    return sites


def coverage_share(points_xy: np.ndarray, weights: np.ndarray, sites: np.ndarray, r_m: float):
    from scipy.spatial import cKDTree

    d, _ = cKDTree(sites).query(points_xy)
    return float(weights[d <= r_m].sum() / weights.sum())


def facilities(rng, inner_m, sites, wp_rows, ic_m, sd_lookup) -> list[list]:
    rows = []

    def _address(sd: str) -> str:
        roads = ROADS[sd].split()
        road = roads[int(rng.integers(len(roads)))]
        return f"浙江省宁波市北仑区{sd}{road}{int(rng.integers(1, 999))}号"

    def _amen(base: list[str], optional: list[str], p: float) -> str:
        extra = [a for a in optional if rng.random() < p]
        order = ["water", "microwave", "charging", "toilet", "rest", "medicine", "fridge", "wifi"]
        return ";".join(a for a in order if a in base + extra)

    def _row(fid, ftype, name, address, ll, hours, cap, amen, level, source):
        glon, glat = wgs84_to_gcj02([ll[0]], [ll[1]])
        rows.append([
            fid, ftype, name, address, _fmt(glon[0]), _fmt(glat[0]), hours, str(int(cap)),
            amen, level, CONTACT, source, UPDATED_DATES[int(rng.integers(len(UPDATED_DATES)))],
        ])  # fmt: skip

    # outdoor-worker stations
    used_names = set()
    station_ll = _to_ll(np.array([s[1] for s in sites]))
    for i, ((_, _), ll) in enumerate(zip(sites, station_ll, strict=True), 1):
        sd = sd_lookup(*ll)
        free = [r for r in ROADS[sd].split() if f"{sd}{r}户外劳动者驿站" not in used_names]
        road = free[int(rng.integers(len(free)))] if free else ROADS[sd].split()[0]
        name = f"{sd}{road}户外劳动者驿站"
        if name in used_names:
            name = f"{sd}{road}第{len(used_names)}号户外劳动者驿站"
        used_names.add(name)
        _row(f"OS{i:03d}", "outdoor_station", name,
             f"浙江省宁波市北仑区{sd}{road}{int(rng.integers(1, 999))}号", ll,
             _choice(rng, OUTDOOR_HOURS), rng.integers(6, 31),
             _amen(["water", "microwave", "charging", "toilet", "rest"],
                   ["medicine", "fridge", "wifi"], 0.5),
             "municipal" if rng.random() < 0.2 else "district", SOURCE_SYNTH)  # fmt: skip

    heads = np.array([r["head"] for r in wp_rows], float)
    female = heads * np.array([r["female"] for r in wp_rows])

    # mother rooms: 33 inside workplaces with many women, 10 at industrial-community centres
    n_ic_rooms = 10
    p = np.where(female >= 40, female, 0.0)
    pick = rng.choice(len(wp_rows), size=N_MOTHER_ROOMS - n_ic_rooms, replace=False, p=p / p.sum())
    k = 0
    for j in sorted(pick):
        r = wp_rows[j]
        k += 1
        _row(f"MR{k:03d}", "mother_room", f"{r['name']}妈咪暖心小屋", _address(r["subdistrict"]),
             (r["lon"], r["lat"]), _choice(rng, MOTHER_HOURS), rng.integers(2, 7),
             _amen(["water", "rest", "fridge"], ["microwave", "wifi", "medicine"], 0.5),
             _choice(rng, (("district", 0.6), ("municipal", 0.3), ("provincial", 0.1))),
             SOURCE_SYNTH)  # fmt: skip
    ic_pick = sorted(rng.choice(len(INDUSTRIAL_COMMUNITIES), size=n_ic_rooms, replace=False))
    for j in ic_pick:
        ic = INDUSTRIAL_COMMUNITIES[j]
        ll = _to_ll(np.array([ic_m[ic[0]].representative_point().coords[0]]))[0]
        k += 1
        _row(f"MR{k:03d}", "mother_room", f"{ic[1]}党群服务中心妈咪暖心小屋", _address(ic[3]), ll,
             _choice(rng, MOTHER_HOURS), rng.integers(2, 7),
             _amen(["water", "rest", "fridge"], ["microwave", "wifi", "medicine"], 0.5),
             "district", SOURCE_SYNTH)  # fmt: skip

    # bookshelves (municipal level and above): 80 in enterprises, 24 at service centres
    n_centres = 24
    pick = rng.choice(len(wp_rows), size=N_BOOKSHELVES - n_centres, replace=False,
                      p=np.sqrt(heads) / np.sqrt(heads).sum())  # fmt: skip
    book_levels = (("municipal", 0.72), ("provincial", 0.22), ("national", 0.06))
    k = 0
    for j in sorted(pick):
        r = wp_rows[j]
        k += 1
        _row(f"BS{k:03d}", "bookshelf", f"{r['name']}职工书屋", _address(r["subdistrict"]),
             (r["lon"], r["lat"]), _choice(rng, BOOK_HOURS), rng.integers(15, 81),
             _amen(["water", "rest", "wifi"], ["charging", "toilet"], 0.4),
             _choice(rng, book_levels), SOURCE_SYNTH)  # fmt: skip
    centres = [
        (f"{s[1]}职工服务中心职工书屋", s[1], _to_m([s[3]], [s[4]])[0]) for s in SUBDISTRICTS
    ]
    centres += [(f"{ic[1]}职工书屋", ic[3], np.array(ic_m[ic[0]].representative_point().coords[0]))
                for ic in INDUSTRIAL_COMMUNITIES[: n_centres - len(SUBDISTRICTS)]]  # fmt: skip
    for name, sd, c in centres:
        xy = _sample_gauss(rng, c, 150.0, 1, inner_m)
        k += 1
        _row(f"BS{k:03d}", "bookshelf", name, _address(sd), _to_ll(xy)[0],
             _choice(rng, BOOK_HOURS), rng.integers(20, 81),
             _amen(["water", "rest", "wifi", "toilet"], ["charging"], 0.5),
             _choice(rng, book_levels), SOURCE_SYNTH)  # fmt: skip

    # driver homes
    for did, name, sd, lon, lat, level, named in DRIVER_HOMES:
        source = (
            "named in the Beilun union report (national 5A); position approximate"
            if named
            else SOURCE_SYNTH
        )
        _row(did, "driver_home", name, _address(sd), (lon, lat), "24/7", rng.integers(40, 121),
             _amen(["water", "microwave", "charging", "toilet", "rest", "medicine", "fridge",
                    "wifi"], [], 0.0), level, source)  # fmt: skip
    return _with_accessibility(rows)


def _with_accessibility(rows: list[list]) -> list[list]:
    """Accessibility items by rule, drawing no random number (so nothing else changes):
    every mother room has a baby-change table; driver homes and the service-centre rooms
    (industrial-community mother rooms, sub-district and community bookshelves) are step-free
    with a wheelchair toilet; so is every fourth outdoor station that has a toilet."""
    for row in rows:
        fid, amen = row[0], row[8].split(";")
        num = int(fid[2:])
        extra = []
        if fid.startswith("MR"):
            extra.append("baby_change")
        centre = (
            fid.startswith("DH")
            or (fid.startswith("MR") and num > N_MOTHER_ROOMS - 10)
            or (fid.startswith("BS") and num > N_BOOKSHELVES - 24)
        )
        if centre or (fid.startswith("OS") and "toilet" in amen and num % 4 == 0):
            extra += ["step_free", "wheelchair_toilet"]
        row[8] = ";".join(amen + [a for a in ACCESS_ORDER if a in extra])
    return rows


# ------------------------------------------------------------------ equipment
# The checklist fields of geo/data/standards.toml, per facility, in a separate inventory
# with Chinese headers (as a union office keeps it). Synthetic, from its own random stream
# (EQUIPMENT_SEED), so the other files do not change when this table does. Some cells are
# left empty on purpose: not recorded, which compliance reports as unknown.
EQUIPMENT_SEED = (SEED, 12)
EQUIPMENT_HEADER = ["编号", "面积（平方米）", "桌椅", "地图标注", "管理人员", "洗手池", "护理台",
                    "插座", "门锁", "牌匾", "书架", "电脑", "藏书（册）", "数字平台", "停车",
                    "淋浴", "洗衣"]  # fmt: skip
_EQUIPMENT_FIELDS = {
    "outdoor_station": ("面积（平方米）", "桌椅", "地图标注", "管理人员"),
    "mother_room": ("面积（平方米）", "洗手池", "护理台", "插座", "门锁", "地图标注"),
    "bookshelf": ("牌匾", "书架", "电脑", "藏书（册）", "数字平台", "管理人员"),
    "driver_home": ("停车", "淋浴", "洗衣", "管理人员"),
}
_EQUIPMENT_P = {  # chance that an item is there
    "桌椅": 0.9, "地图标注": 0.7, "洗手池": 0.85, "护理台": 0.8, "插座": 0.95, "门锁": 0.85,
    "牌匾": 0.95, "书架": 1.0, "电脑": 0.8, "数字平台": 0.7, "停车": 1.0, "淋浴": 1.0,
    "洗衣": 1.0,
}  # fmt: skip


def equipment(fac_rows: list[list]) -> list[list]:
    rng = np.random.default_rng(EQUIPMENT_SEED)
    rows = []
    for r in fac_rows:
        fid, ftype = r[0], r[1]
        cells = dict.fromkeys(EQUIPMENT_HEADER[1:], "")
        for fld in _EQUIPMENT_FIELDS[ftype]:
            if fld == "面积（平方米）":
                lo, hi = (3.0, 30.0) if ftype == "outdoor_station" else (6.0, 20.0)
                value = f"{rng.uniform(lo, hi):.1f}"
            elif fld == "管理人员":
                value = str(int(rng.integers(0, 3)) + (2 if ftype == "driver_home" else 0))
            elif fld == "藏书（册）":
                value = str(int(rng.integers(15, 121)) * 100)
            else:
                value = "有" if rng.random() < _EQUIPMENT_P[fld] else "无"
            if rng.random() < 0.05:  # not recorded
                value = ""
            cells[fld] = value
        rows.append([fid, *cells.values()])
    return rows


ACCESS_ORDER = ["step_free", "wheelchair_toilet", "baby_change"]


# ------------------------------------------------------------------ main


def build(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    boundary = boundary_wgs84()
    boundary_m = _geom_to_m(boundary)
    inner_m = boundary_m.buffer(-INSET_M)
    shapely.prepare(inner_m)

    sds = subdistricts(boundary)
    sd_m = {p["name"]: _geom_to_m(g) for p, g in sds}
    sd_tree = [(p["name"], g) for p, g in sds]
    for _, g in sd_tree:
        shapely.prepare(g)

    def sd_lookup(lon: float, lat: float) -> str:
        for name, g in sd_tree:
            if shapely.contains_xy(g, lon, lat):
                return name
        d = [g.distance(Point(lon, lat)) for _, g in sd_tree]  # on an edge: nearest
        return sd_tree[int(np.argmin(d))][0]

    ics = industrial_communities(rng, inner_m, sd_m)
    ic_m = {p["id"]: _geom_to_m(g) for p, g in ics}
    wp_rows = workplaces(rng, inner_m, ic_m, sd_lookup)
    rider_rows, by_cluster = riders(rng, inner_m, ic_m)
    rider_xy = _to_m([r["lon"] for r in rider_rows], [r["lat"] for r in rider_rows])
    rider_w = np.array([r["weight"] for r in rider_rows], float)
    sites = _station_sites(rng, by_cluster, inner_m)
    station_cov = coverage_share(rider_xy, rider_w, np.array([s[1] for s in sites]), 1000.0)
    fac_rows = facilities(rng, inner_m, sites, wp_rows, ic_m, sd_lookup)

    # check every written point lies inside the boundary, as a reader will see it
    fac_ll = np.column_stack(
        gcj02_to_wgs84([float(r[4]) for r in fac_rows], [float(r[5]) for r in fac_rows])
    )
    all_ll = np.vstack([
        fac_ll,
        [(r["lon"], r["lat"]) for r in wp_rows],
        [(r["lon"], r["lat"]) for r in rider_rows],
    ])  # fmt: skip
    inside = shapely.contains_xy(boundary, all_ll[:, 0], all_ll[:, 1])
    if not inside.all():
        raise RuntimeError(f"{int((~inside).sum())} generated points fall outside the boundary")
    routes = []
    for rid, name, trucks, coords in FREIGHT_ROUTES:
        line = LineString([(round(x, ROUND), round(y, ROUND)) for x, y in coords])
        if not boundary.contains(line):
            raise RuntimeError(f"freight route {rid} leaves the district boundary")
        routes.append(({"id": rid, "name": name, "daily_trucks": trucks}, line))
    assert sum(r[0]["daily_trucks"] for r in routes) == TRUCK_DRIVERS

    try:
        import opening_hours
    except ImportError:  # pragma: no cover - the package is a dependency
        opening_hours = None
    if opening_hours is not None:
        for r in fac_rows:
            opening_hours.OpeningHours(r[6])

    # ---- write ----
    _write_geojson(
        out / "boundary.geojson",
        "boundary",
        [({"name": "北仑区", "name_en": "Beilun District",
           "source": "AMap administrative boundary via cnmaps (GCJ-02), converted to WGS84"},
          boundary)],
    )  # fmt: skip
    _write_geojson(out / "subdistricts.geojson", "subdistricts", sds)
    _write_geojson(out / "industrial_communities.geojson", "industrial_communities", ics)
    _write_csv(out / "facilities.csv", FACILITY_HEADER, fac_rows)
    _write_csv(out / "equipment.csv", EQUIPMENT_HEADER, equipment(fac_rows))
    _write_csv(
        out / "workplaces.csv",
        ["id", "name", "lon", "lat", "headcount", "female_share", "industry", "subdistrict"],
        [[r["id"], r["name"], _fmt(r["lon"]), _fmt(r["lat"]), r["head"], f"{r['female']:.3f}",
          r["industry"], r["subdistrict"]] for r in wp_rows],
    )  # fmt: skip
    _write_csv(
        out / "riders.csv",
        ["id", "lon", "lat", "weight", "group", "activity"],
        [[r["id"], _fmt(r["lon"]), _fmt(r["lat"]), r["weight"], r["group"], r["activity"]]
         for r in rider_rows],
    )  # fmt: skip
    _write_geojson(out / "freight_routes.geojson", "freight_routes", routes)
    manifest = {
        "name": "beilun",
        "title": "北仑区 Beilun District, Ningbo (demo)",
        "seed": SEED,
        "boundary": "boundary.geojson",
        "facilities": [{"path": "facilities.csv", "datum": "gcj02"}],
        "areas": [{"path": "subdistricts.geojson"}, {"path": "industrial_communities.geojson"}],
        "demand": [
            {"path": "workplaces.csv", "datum": "wgs84"},
            {"path": "riders.csv", "datum": "wgs84"},
            {"path": "freight_routes.geojson", "datum": "wgs84", "group": "truck_drivers",
             "weight": "daily_trucks"},
        ],
    }  # fmt: skip
    (out / "dataset.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    types = [r[1] for r in fac_rows]
    return {
        "facilities": {t: types.count(t) for t in dict.fromkeys(types)},
        "subdistricts": len(sds),
        "industrial_communities": len(ics),
        "workplaces": len(wp_rows),
        "headcount": sum(r["head"] for r in wp_rows),
        "rider_points": len(rider_rows),
        "outdoor_workers": int(rider_w.sum()),
        "truck_drivers": sum(r[0]["daily_trucks"] for r in routes),
        "outdoor_station_coverage_1km": round(station_cov, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    args = parser.parse_args(argv)
    summary = build(args.out)
    print(json.dumps(summary, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
