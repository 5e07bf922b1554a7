"""2SFCA, 10,000 demand points x 1,000 facilities: servicemap against the `access` package.

    .venv/bin/python benchmarks/bench_access.py

Each side runs in its own subprocess, so its peak memory (ru_maxrss, and the extra over
the interpreter with its imports loaded) is its own. servicemap starts from WGS84
GeoDataFrames (projection and KD-tree pairs included); `access` is given what it needs, a
long-form cost table of every demand-facility pair (10 million rows, built with numpy
outside its timing, as `Access.create_euclidean_distance` would) and ``max_cost``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys

N, M, THRESHOLD_M, SEED = 10_000, 1_000, 2_000.0, 0

CHILD = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, geopandas as gpd
N, M, T, SEED, side = {N}, {M}, {T}, {SEED}, sys.argv[1]
rng = np.random.default_rng(SEED)
x0, y0 = 370_000.0, 3_300_000.0
dxy = rng.random((N, 2)) * 30_000 + (x0, y0)
fxy = rng.random((M, 2)) * 30_000 + (x0, y0)
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
    for _ in range(5):
        t = time.perf_counter()
        res = accessibility(fac, dem, threshold_m=T)
        runs.append(time.perf_counter() - t)
    vals = res["access"].to_numpy()
else:
    from access import Access
    dist = np.hypot(*(dxy[:, None, :] - fxy[None, :, :]).transpose(2, 0, 1))
    cost = pd.DataFrame({{"origin": np.repeat(np.arange(N), M), "dest": np.tile(np.arange(M), N),
                         "cost": dist.ravel()}})
    del dist
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    runs = []
    for _ in range(2):
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
print(json.dumps({{"runs": runs, "peak_mb": peak / 1024, "extra_mb": (peak - base) / 1024,
                  "sum": float(np.sum(vals * pop)), "head": vals[:200].tolist()}}))
"""


def run(side: str) -> dict:
    code = CHILD.format(N=N, M=M, T=THRESHOLD_M, SEED=SEED)
    out = subprocess.run(
        [sys.executable, "-c", code, side], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print(
        f"date: {datetime.date.today()}  machine: {platform.machine()}, {os.cpu_count()} "
        f"cores, Python {platform.python_version()}"
    )
    print(f"2SFCA, {N:,} demand points x {M:,} facilities, catchment {THRESHOLD_M:g} m, 30 x 30 km")
    ours, peer = run("servicemap"), run("access")
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


if __name__ == "__main__":
    main()
