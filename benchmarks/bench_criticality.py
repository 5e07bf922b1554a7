"""Criticality of every facility: 10,000 stations against 1,000,000 demand points.

    python benchmarks/bench_criticality.py [--facilities 10000] [--demand 1000000]

Synthetic points, uniform over a 1 x 1 degree square near Ningbo (about 100 x 111 km,
one UTM zone), 1 km threshold: about 3 facilities within reach of an average point. Times
``geo.redundancy.criticality`` (one pair search for all facilities) from GeoDataFrames in
EPSG:4326 to the ranked table; the best of ``--repeat`` runs. Also times the brute force
("close each facility and recount with geo.coverage") on the first ``--brute`` facilities
and extrapolates it, to show what the one-search method saves.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import geopandas as gpd
import numpy as np
from _summary import summary

from geo.coverage import coverage
from geo.redundancy import criticality


def points(rng, n: int) -> gpd.GeoSeries:
    lon = 121.3 + rng.random(n)
    lat = 29.5 + rng.random(n)
    return gpd.GeoSeries.from_xy(lon, lat, crs=4326)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facilities", type=int, default=10_000)
    ap.add_argument("--demand", type=int, default=1_000_000)
    ap.add_argument("--threshold-m", type=float, default=1000.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--brute", type=int, default=5)
    ap.add_argument(
        "--pairs", action="store_true", help="Also time the full pair list (distance_pairs)."
    )
    args = ap.parse_args(argv)
    rng = np.random.default_rng(12)
    fac = gpd.GeoDataFrame(
        {"id": [f"F{i:05d}" for i in range(args.facilities)]}, geometry=points(rng, args.facilities)
    )
    dem = gpd.GeoDataFrame(
        {"weight": rng.integers(1, 50, args.demand).astype(float)},
        geometry=points(rng, args.demand),
    )
    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        res = criticality(fac, dem, threshold_m=args.threshold_m)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t0 = time.perf_counter()
    base = coverage(fac, dem, threshold_m=args.threshold_m)
    covered = float(base["weight"][base["covered"]].sum())
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    for fid in res["id"][: args.brute]:
        r = coverage(fac[fac["id"] != fid], dem, threshold_m=args.threshold_m)
        lost = covered - float(r["weight"][r["covered"]].sum())
        want = float(res.loc[res["id"] == fid, "people_sole"].iloc[0])
        assert abs(lost - want) < 1e-6 * max(covered, 1), (fid, lost, want)
    t_brute = (time.perf_counter() - t0) / max(args.brute, 1)
    t_pairs = None
    if args.pairs:
        from geo.access import distance_pairs

        t0 = time.perf_counter()
        pairs = distance_pairs(fac, dem, max_m=args.threshold_m)
        n = np.diff(pairs.indptr)
        once = n == 1
        sole = np.bincount(
            pairs.indices[pairs.indptr[:-1][once]],
            weights=dem["weight"].to_numpy()[once],
            minlength=len(fac),
        )
        t_pairs = time.perf_counter() - t0
        by_id = dict(zip(res["id"], res["people_sole"], strict=True))
        assert np.allclose(sole, [by_id[i] for i in fac["id"]])
    out = {
        "facilities": args.facilities,
        "demand": args.demand,
        "threshold_m": args.threshold_m,
        "criticality_s_best": round(min(times), 3),
        "criticality_s_all": [round(t, 3) for t in times],
        "criticality_cpu_s_best": round(min(cpu), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
        "one_coverage_run_s": round(t_base, 3),
        "pair_list_s": None if t_pairs is None else round(t_pairs, 3),
        "brute_force_s_estimated": round(t_brute * args.facilities + t_base, 1),
        "people_single": res.attrs["people_single"],
        "people_covered": res.attrs["people_covered"],
        "top": res["id"].iloc[0],
    }
    print(json.dumps(out, indent=2))
    summary(
        f"criticality of every station, {args.facilities:,} x {args.demand:,} demand",
        f"{min(times):.2f} s ({min(cpu):.2f} s CPU)",
        f"close each and recount with geo.coverage: {out['brute_force_s_estimated'] / 3600:.1f} h"
        f" (estimated from {args.brute})",
        f"{out['brute_force_s_estimated'] / min(times):,.0f}x",
    )
    return out


if __name__ == "__main__":
    main()
