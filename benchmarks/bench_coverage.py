"""Straight-line coverage: servicemap's KD-tree against the GeoPandas routes.

1,000,000 demand points against 10,000 facilities over a city-sized extent around Ningbo,
threshold 1 km. The peers are the naive recipe (buffer every facility, ``sjoin`` the
demand) and ``geopandas.sjoin_nearest`` with ``max_distance`` (GEOS STRtree nearest, in
the UTM zone). All are timed in one run on the same data, end to end from WGS84
GeoDataFrames (projection included), and must agree on who is covered.

    .venv/bin/python benchmarks/bench_coverage.py [--demand 1000000] [--facilities 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time

import geopandas as gpd
import numpy as np
from _summary import summary

from geo.coverage import coverage
from geo.crs import metric_crs_for


def make_layers(n_demand: int, n_fac: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    lon, lat = (121.0, 122.2), (29.5, 30.3)  # Ningbo-sized: ~115 km x 90 km
    fac = gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(n_fac)]},
        geometry=gpd.points_from_xy(rng.uniform(*lon, n_fac), rng.uniform(*lat, n_fac)),
        crs=4326,
    )
    dem = gpd.GeoDataFrame(
        {"weight": rng.integers(1, 50, n_demand).astype("float64")},
        geometry=gpd.points_from_xy(rng.uniform(*lon, n_demand), rng.uniform(*lat, n_demand)),
        crs=4326,
    )
    return fac, dem


def naive_geopandas(fac, dem, threshold_m):
    """The usual recipe: project, buffer every facility, spatial-join the demand."""
    crs = metric_crs_for(fac)
    buffers = fac.to_crs(crs)
    buffers["geometry"] = buffers.buffer(threshold_m)
    joined = gpd.sjoin(dem.to_crs(crs), buffers, predicate="within", how="inner")
    covered = np.zeros(len(dem), dtype=bool)
    covered[np.unique(dem.index.get_indexer(joined.index))] = True
    return covered


def nearest_geopandas(fac, dem, threshold_m):
    """``sjoin_nearest`` within the threshold, in the UTM zone: (covered, distance m)."""
    crs = metric_crs_for(fac)
    joined = gpd.sjoin_nearest(
        dem.to_crs(crs), fac.to_crs(crs), how="left", max_distance=threshold_m,
        distance_col="dist",
    )  # fmt: skip
    joined = joined[~joined.index.duplicated()]  # ties: one row each
    dist = joined["dist"].reindex(dem.index).to_numpy(dtype="float64")
    return np.isfinite(dist), dist


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demand", type=int, default=1_000_000)
    ap.add_argument("--facilities", type=int, default=10_000)
    ap.add_argument("--threshold-m", type=float, default=1000.0)
    ap.add_argument("--repeat", type=int, default=7, help="servicemap runs")
    ap.add_argument("--naive-repeat", type=int, default=3, help="GeoPandas buffer+sjoin runs")
    ap.add_argument("--nearest-repeat", type=int, default=2, help="GeoPandas sjoin_nearest runs")
    args = ap.parse_args()

    fac, dem = make_layers(args.demand, args.facilities)
    ours, naive_times = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = coverage(fac, dem, threshold_m=args.threshold_m)
        ours.append(time.perf_counter() - t0)
    for _ in range(args.naive_repeat):
        t0 = time.perf_counter()
        naive = naive_geopandas(fac, dem, args.threshold_m)
        naive_times.append(time.perf_counter() - t0)
    nearest_times = []
    for _ in range(args.nearest_repeat):
        t0 = time.perf_counter()
        near_cov, near_dist = nearest_geopandas(fac, dem, args.threshold_m)
        nearest_times.append(time.perf_counter() - t0)

    ours_cov = res["covered"].to_numpy()
    disagree = int((ours_cov != naive).sum())
    print(
        f"date: {dt.date.today().isoformat()}  machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"{args.demand:,} demand points x {args.facilities:,} facilities, "
        f"threshold {args.threshold_m:g} m"
    )
    for label, times in (
        ("servicemap coverage (KD-tree)", ours),
        ("GeoPandas buffer + sjoin", naive_times),
        ("GeoPandas sjoin_nearest", nearest_times),
    ):
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(
            f"{label + ':':31s}best {min(times):.2f} s, "
            f"median {statistics.median(times):.2f} s (runs: {runs})"
        )
    for label, times in (("buffer + sjoin", naive_times), ("sjoin_nearest", nearest_times)):
        print(
            f"speed-up over {label}: {min(times) / min(ours):.1f}x best to best, "
            f"{statistics.median(times) / statistics.median(ours):.1f}x median to median"
        )
    print(
        f"covered points: servicemap {int(ours_cov.sum()):,}, naive {int(naive.sum()):,}, "
        f"disagreeing {disagree} (buffer polygons are 32-gons; the KD-tree is exact)"
    )
    both = near_cov & ours_cov
    ddiff = np.abs(res["distance_m"].to_numpy()[both] - near_dist[both])
    print(
        f"sjoin_nearest: covered {int(near_cov.sum()):,}, disagreeing "
        f"{int((near_cov != ours_cov).sum())}; nearest distance vs servicemap's geodesic: "
        f"median |diff| {np.median(ddiff):.3f} m, max {ddiff.max():.3f} m (UTM grid metres)"
    )
    size = f"{args.demand:,} demand x {args.facilities:,} facilities"
    summary(
        f"straight-line coverage, {size}, {args.threshold_m:g} m",
        f"{min(ours):.2f} s",
        f"GeoPandas buffer + sjoin {min(naive_times):.2f} s",
        f"{min(naive_times) / min(ours):.1f}x",
    )
    summary(
        f"nearest facility within {args.threshold_m:g} m, same data",
        f"{min(ours):.2f} s",
        f"GeoPandas sjoin_nearest {min(nearest_times):.2f} s",
        f"{min(nearest_times) / min(ours):.1f}x",
    )


if __name__ == "__main__":
    main()
