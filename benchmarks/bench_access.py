"""2SFCA, 10,000 demand points x 1,000 facilities: servicemap against the `access` package.

    .venv/bin/python benchmarks/bench_access.py [--demand 10000] [--facilities 1000]
        [--repeat 5] [--peer-repeat 2]

Each side runs in its own subprocess, so its peak memory (ru_maxrss, and the extra over
the interpreter with its imports loaded) is its own. servicemap starts from WGS84
GeoDataFrames (projection and KD-tree pairs included); `access` is given what it needs, a
long-form cost table, built outside its timing, and ``max_cost``: at the default size
every demand-facility pair (10 million rows, built with numpy, as
`Access.create_euclidean_distance` would); above 20 million pairs (1,000,000 x 10,000 is
10^10) only the pairs within the catchment (a scipy KD-tree), which is all that
`two_stage_fca` keeps of it, since the table of every pair does not fit in memory.
The area grows with the facilities (30 x 30 km per 1,000) so that each demand point has
about the same number of facilities within reach at every size.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

from _summary import summary

THRESHOLD_M, SEED, DENSE_MAX = 2_000.0, 0, 20_000_000

CHILD = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, geopandas as gpd
N, M, T, SEED, SIDE, side = {N}, {M}, {T}, {SEED}, {SIDE}, sys.argv[1]
REPEAT, PEER_REPEAT, DENSE = {REPEAT}, {PEER_REPEAT}, {DENSE}
rng = np.random.default_rng(SEED)
x0, y0 = 370_000.0, 3_300_000.0
dxy = rng.random((N, 2)) * SIDE + (x0, y0)
fxy = rng.random((M, 2)) * SIDE + (x0, y0)
pop = rng.integers(1, 500, N).astype(float)
cap = rng.integers(5, 50, M).astype(float)
if side == "servicemap":
    from geo.access import accessibility
    fac = gpd.GeoDataFrame({{"id": np.arange(M).astype(str), "capacity": cap}},
        geometry=gpd.points_from_xy(fxy[:, 0], fxy[:, 1]), crs=32651).to_crs(4326)
    dem = gpd.GeoDataFrame({{"weight": pop}},
        geometry=gpd.points_from_xy(dxy[:, 0], dxy[:, 1]), crs=32651).to_crs(4326)
    accessibility(fac.iloc[:10], dem.iloc[:10], threshold_m=T)  # warm imports
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    runs = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        res = accessibility(fac, dem, threshold_m=T)
        runs.append(time.perf_counter() - t)
    vals = res["access"].to_numpy()
else:
    from access import Access
    if DENSE:
        dist = np.hypot(*(dxy[:, None, :] - fxy[None, :, :]).transpose(2, 0, 1))
        cost = pd.DataFrame({{"origin": np.repeat(np.arange(N), M),
                             "dest": np.tile(np.arange(M), N), "cost": dist.ravel()}})
        del dist
    else:
        from scipy.spatial import cKDTree
        pairs = cKDTree(dxy).sparse_distance_matrix(cKDTree(fxy), T, output_type="coo_matrix")
        cost = pd.DataFrame({{"origin": pairs.row.astype(np.int64),
                             "dest": pairs.col.astype(np.int64), "cost": pairs.data}})
        del pairs
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    runs = []
    for _ in range(PEER_REPEAT):
        t = time.perf_counter()
        a = Access(demand_df=pd.DataFrame({{"geoid": np.arange(N), "pop": pop}}),
                   demand_index="geoid", demand_value="pop",
                   supply_df=pd.DataFrame({{"geoid": np.arange(M), "cap": cap}}),
                   supply_index="geoid", supply_value="cap", cost_df=cost,
                   cost_origin="origin", cost_dest="dest", cost_name="cost")
        out = a.two_stage_fca(name="a", max_cost=T)
        runs.append(time.perf_counter() - t)
    vals = out["a_cap"].reindex(np.arange(N)).fillna(0).to_numpy()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pairs = len(cost) if side != "servicemap" else 0
print(json.dumps({{"runs": runs, "pairs": pairs, "peak_mb": peak / 1024,
                  "extra_mb": (peak - base) / 1024, "sum": float(np.sum(vals * pop)),
                  "head": vals[:200].tolist()}}))
"""


def run(side: str, args) -> dict:
    n, m = args.demand, args.facilities
    code = CHILD.format(
        N=n, M=m, T=THRESHOLD_M, SEED=SEED, SIDE=30_000.0 * (m / 1000) ** 0.5,
        REPEAT=args.repeat, PEER_REPEAT=args.peer_repeat, DENSE=n * m <= DENSE_MAX,
    )  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", code, side], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demand", type=int, default=10_000)
    ap.add_argument("--facilities", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=5, help="servicemap runs")
    ap.add_argument("--peer-repeat", type=int, default=2, help="access runs")
    args = ap.parse_args()
    n, m = args.demand, args.facilities
    side_km = 30 * (m / 1000) ** 0.5
    print(
        f"date: {datetime.date.today()}  machine: {platform.machine()}, {os.cpu_count()} "
        f"cores, Python {platform.python_version()}"
    )
    print(
        f"2SFCA, {n:,} demand points x {m:,} facilities, catchment {THRESHOLD_M:g} m, "
        f"{side_km:.0f} x {side_km:.0f} km"
    )
    ours, peer = run("servicemap", args), run("access", args)
    table = "every pair" if n * m <= DENSE_MAX else "the pairs within the catchment"
    print(f"access's cost table: {peer['pairs']:,} rows ({table}), built outside its timing")
    print(
        f"servicemap accessibility(): {min(ours['runs']):.3f} s (runs: "
        f"{', '.join(f'{r:.3f}' for r in ours['runs'])}); peak RSS {ours['peak_mb']:.0f} MB, "
        f"{ours['extra_mb']:.0f} MB above the loaded interpreter"
    )
    print(
        f"access two_stage_fca():     {min(peer['runs']):.3f} s (runs: "
        f"{', '.join(f'{r:.3f}' for r in peer['runs'])}); peak RSS {peer['peak_mb']:.0f} MB, "
        f"{peer['extra_mb']:.0f} MB above its input table"
    )
    import numpy as np

    diff = np.max(np.abs(np.array(ours["head"]) - np.array(peer["head"])))
    print(
        f"sum of access x people: servicemap {ours['sum']:.3f}, access {peer['sum']:.3f}; "
        f"max difference on the first 200 rows {diff:.2e} (UTM scale-corrected ground "
        f"metres vs plain grid metres)"
    )
    summary(
        f"2SFCA, {n:,} demand x {m:,} facilities",
        f"{min(ours['runs']):.3f} s",
        f"access two_stage_fca {min(peer['runs']):.3f} s (given its {peer['pairs']:,}-row table)",
        f"{min(peer['runs']) / min(ours['runs']):.1f}x",
        f"{ours['extra_mb']:.0f} MB vs {peer['extra_mb']:.0f} MB above input",
    )


if __name__ == "__main__":
    main()
