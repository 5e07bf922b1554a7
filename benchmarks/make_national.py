"""A synthetic national dataset: 150,000 stations and 50,000,000 demand points over China.

Not shipped: generated into a directory of GeoParquet files, one partition per file, so
that ``geo.scale.read_parquet`` (``dask_geopandas.read_parquet``) reads it lazily.

Demand is weighted like China's cities: the 60 largest cities below, each with its
urban population in millions (China's 2020 census, city-district population, rounded),
receive points in proportion to it, spread around the centre with a Gaussian whose width
grows with the square root of the population (a 20-million city spreads over ~35 km);
15 % of the points are a wider rural spread (1.5° around the same centres). Each point is
a workplace or an activity point with ``weight`` people (a log-normal headcount, 1-500,
mean ~9) and a ``group`` (70 % outdoor workers). Stations are placed the same way, also
in proportion to the population, with a capacity of 10-60.

The stream of points runs city by city in Hilbert order of the city centres and is cut
into files of ``--rows-per-part`` rows, so each partition covers a compact stretch of the
country (the spatial partitioning the Dask path wants). Memory stays at about one part.

    .venv/bin/python benchmarks/make_national.py OUT_DIR [--points 50000000]
        [--stations 150000] [--rows-per-part 1000000] [--seed 0]

Writes ``OUT_DIR/stations.parquet``, ``OUT_DIR/areas.parquet`` (a 1° grid of areas over
the points, for summaries by area) and ``OUT_DIR/demand/part.NNNNN.parquet``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

# (name, lon, lat, urban population in millions)
CITIES = [
    ("Shanghai", 121.47, 31.23, 24.9),
    ("Beijing", 116.40, 39.90, 21.9),
    ("Shenzhen", 114.06, 22.54, 17.6),
    ("Guangzhou", 113.26, 23.13, 16.1),
    ("Chengdu", 104.07, 30.67, 13.6),
    ("Tianjin", 117.20, 39.13, 11.7),
    ("Chongqing", 106.55, 29.56, 10.2),
    ("Wuhan", 114.31, 30.59, 10.0),
    ("Dongguan", 113.75, 23.02, 9.6),
    ("Xi'an", 108.94, 34.34, 9.3),
    ("Hangzhou", 120.16, 30.25, 8.7),
    ("Foshan", 113.12, 23.02, 8.2),
    ("Nanjing", 118.80, 32.06, 7.5),
    ("Shenyang", 123.43, 41.80, 7.0),
    ("Zhengzhou", 113.63, 34.75, 6.3),
    ("Qingdao", 120.38, 36.07, 6.0),
    ("Suzhou", 120.58, 31.30, 5.9),
    ("Changsha", 112.94, 28.23, 5.6),
    ("Harbin", 126.53, 45.80, 5.5),
    ("Kunming", 102.83, 24.88, 5.0),
    ("Dalian", 121.61, 38.91, 4.9),
    ("Jinan", 117.00, 36.65, 4.8),
    ("Xiamen", 118.09, 24.48, 4.5),
    ("Hefei", 117.23, 31.82, 4.4),
    ("Changchun", 125.32, 43.82, 4.4),
    ("Ningbo", 121.55, 29.87, 4.3),
    ("Taiyuan", 112.55, 37.87, 4.3),
    ("Shijiazhuang", 114.51, 38.04, 4.1),
    ("Urumqi", 87.62, 43.83, 4.0),
    ("Fuzhou", 119.30, 26.08, 3.9),
    ("Wuxi", 120.31, 31.49, 3.9),
    ("Nanning", 108.37, 22.82, 3.8),
    ("Nanchang", 115.86, 28.68, 3.6),
    ("Guiyang", 106.63, 26.65, 3.5),
    ("Lanzhou", 103.83, 36.06, 3.0),
    ("Zhongshan", 113.39, 22.52, 2.9),
    ("Changzhou", 119.97, 31.81, 2.9),
    ("Shantou", 116.68, 23.35, 2.8),
    ("Huizhou", 114.42, 23.11, 2.7),
    ("Tangshan", 118.18, 39.63, 2.6),
    ("Wenzhou", 120.70, 28.00, 2.6),
    ("Hohhot", 111.75, 40.84, 2.4),
    ("Nantong", 120.89, 31.98, 2.3),
    ("Haikou", 110.20, 20.04, 2.3),
    ("Luoyang", 112.45, 34.62, 2.2),
    ("Xuzhou", 117.28, 34.20, 2.2),
    ("Baotou", 109.84, 40.66, 2.1),
    ("Yinchuan", 106.23, 38.49, 2.0),
    ("Xining", 101.78, 36.62, 1.5),
    ("Lhasa", 91.14, 29.65, 0.6),
    ("Kashgar", 75.99, 39.47, 0.7),
    ("Hami", 93.51, 42.83, 0.6),
    ("Korla", 86.15, 41.76, 0.6),
    ("Karamay", 84.87, 45.58, 0.4),
    ("Golmud", 94.90, 36.41, 0.3),
    ("Hulunbuir", 119.77, 49.21, 0.6),
    ("Heihe", 127.50, 50.25, 0.3),
    ("Jiamusi", 130.32, 46.80, 0.8),
    ("Hunchun", 130.36, 42.86, 0.2),
    ("Sanya", 109.51, 18.25, 0.8),
]
RURAL_SHARE = 0.15
RURAL_SIGMA_DEG = 1.5


def _hilbert_order(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326)
    return np.argsort(np.asarray(pts.hilbert_distance()), kind="stable")


def _cities() -> pd.DataFrame:
    df = pd.DataFrame(CITIES, columns=["name", "lon", "lat", "pop_m"])
    df = df.iloc[_hilbert_order(df["lon"].to_numpy(), df["lat"].to_numpy())]
    df["share"] = df["pop_m"] / df["pop_m"].sum()
    # sigma in degrees: ~8 km per sqrt(million people)
    df["sigma_deg"] = 0.072 * np.sqrt(df["pop_m"])
    return df.reset_index(drop=True)


def _counts(total: int, shares: np.ndarray) -> np.ndarray:
    raw = total * shares
    out = np.floor(raw).astype(np.int64)
    out[np.argsort(raw - out)[::-1][: total - out.sum()]] += 1
    return out


def _spread(rng, city, n: int) -> tuple[np.ndarray, np.ndarray]:
    n_rural = int(round(n * RURAL_SHARE))
    sig = np.r_[np.full(n - n_rural, city.sigma_deg), np.full(n_rural, RURAL_SIGMA_DEG)]
    lat = np.clip(city.lat + rng.normal(0.0, 1.0, n) * sig, 18.0, 53.5)
    lon = city.lon + rng.normal(0.0, 1.0, n) * sig / math.cos(math.radians(city.lat))
    return np.clip(lon, 73.0, 135.0), lat


def stations(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """``n`` outdoor-worker stations placed like the population."""
    rng = np.random.default_rng(seed + 1)
    cities = _cities()
    lons, lats = [], []
    for city, k in zip(cities.itertuples(), _counts(n, cities["share"].to_numpy()), strict=True):
        lon, lat = _spread(rng, city, int(k))
        lons.append(lon)
        lats.append(lat)
    return gpd.GeoDataFrame(
        {
            "id": [f"st{i:06d}" for i in range(n)],
            "type": "outdoor_station",
            "capacity": rng.integers(10, 61, n).astype("float64"),
        },
        geometry=gpd.points_from_xy(np.concatenate(lons), np.concatenate(lats)),
        crs="EPSG:4326",
    )


def demand_parts(n: int, rows_per_part: int, seed: int = 0):
    """Yield GeoDataFrames of about ``rows_per_part`` demand points, city by city."""
    rng = np.random.default_rng(seed)
    cities = _cities()
    counts = _counts(n, cities["share"].to_numpy())
    buf_lon, buf_lat, held, start = [], [], 0, 0

    def flush(lon, lat, start):
        m = len(lon)
        w = np.clip(np.round(rng.lognormal(1.6, 1.0, m)), 1, 500)
        return gpd.GeoDataFrame(
            {
                "group": pd.Categorical(
                    rng.choice(["outdoor", "all_workers"], m, p=[0.7, 0.3]),
                    categories=["outdoor", "all_workers"],
                ),
                "weight": w,
            },
            geometry=gpd.points_from_xy(lon, lat),
            crs="EPSG:4326",
            index=pd.RangeIndex(start, start + m),
        )

    for city, k in zip(cities.itertuples(), counts, strict=True):
        left = int(k)
        while left:
            take = min(left, rows_per_part - held)
            lon, lat = _spread(rng, city, take)
            buf_lon.append(lon)
            buf_lat.append(lat)
            held += take
            left -= take
            if held == rows_per_part:
                yield flush(np.concatenate(buf_lon), np.concatenate(buf_lat), start)
                start += held
                buf_lon, buf_lat, held = [], [], 0
    if held:
        yield flush(np.concatenate(buf_lon), np.concatenate(buf_lat), start)


def grid_areas(step_deg: float = 1.0) -> gpd.GeoDataFrame:
    """A grid of ``step_deg`` boxes over China's extent: the areas of the summaries."""
    xs = np.arange(73.0, 135.0, step_deg)
    ys = np.arange(18.0, 54.0, step_deg)
    boxes = [(x, y) for y in ys for x in xs]
    return gpd.GeoDataFrame(
        {
            "id": [f"g{x:g}_{y:g}" for x, y in boxes],
            "name": [f"{x:g}E {y:g}N" for x, y in boxes],
            "level": "grid",
        },
        geometry=[shapely.box(x, y, x + step_deg, y + step_deg) for x, y in boxes],
        crs="EPSG:4326",
    )


def write(out: Path, *, points: int, n_stations: int, rows_per_part: int, seed: int = 0):
    """Write the dataset under ``out``; returns the number of demand parts."""
    out = Path(out)
    (out / "demand").mkdir(parents=True, exist_ok=True)
    stations(n_stations, seed).to_parquet(out / "stations.parquet")
    grid_areas().to_parquet(out / "areas.parquet")
    k = 0
    for k, part in enumerate(demand_parts(points, rows_per_part, seed), start=1):
        part.to_parquet(out / "demand" / f"part.{k - 1:05d}.parquet")
    return k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--points", type=int, default=50_000_000)
    ap.add_argument("--stations", type=int, default=150_000)
    ap.add_argument("--rows-per-part", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    parts = write(
        args.out,
        points=args.points,
        n_stations=args.stations,
        rows_per_part=args.rows_per_part,
        seed=args.seed,
    )
    size = sum(p.stat().st_size for p in args.out.rglob("*.parquet"))
    print(
        f"{args.points:,} demand points in {parts} GeoParquet parts, {args.stations:,} "
        f"stations: {args.out} ({size / 1e9:.2f} GB) in {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
