"""Loading benchmark: demand CSVs of 1M and 5M rows, a 1M-row workbook, the CLI end to end.

    PYTHONPATH=. python benchmarks/bench_loading.py [--rows 1000000] [--repeat 3]
        [--skip-big] [--skip-xlsx]

``load_demand`` materialises the whole layer; ``iter_demand`` validates block by block
(memory bounded by the block), which is how the 5M-row file is measured. Each
measurement runs in a fresh subprocess (``--repeat`` times; the best time is reported
with every run) and reports wall time, CPU time and peak memory above the interpreter:
the child imports the loaders (geo.demand, pyarrow's CSV reader, python-calamine),
resets its peak (``/proc/self/clear_refs``), and reports ``VmHWM`` after the load minus
``VmRSS`` before it. The load average is recorded with each figure (the machine is
shared). The input files are generated here, in a temporary folder, and deleted
afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _summary import summary

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pyarrow.compute, pyarrow.csv, python_calamine, shapely  # the loaders' imports
from geo.demand import iter_demand, load_demand
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
what, path = sys.argv[1], sys.argv[2]
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # the peak so far (imports) is forgotten
before = status("VmRSS")
t, c = time.perf_counter(), time.process_time()
if what == "load":
    frame = load_demand(path)  # kept: freeing 1M points is not part of loading them
    n = len(frame)
elif what == "pandas":  # the peer: pandas.read_csv + points, no validation
    import geopandas as gpd, pandas as pd
    t_ = pd.read_csv(path)
    frame = gpd.GeoDataFrame(t_, geometry=gpd.points_from_xy(t_["lon"], t_["lat"]), crs=4326)
    n = len(frame)
else:
    n = sum(len(block) for block in iter_demand(path))
s, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"s": s, "cpu_s": cpu, "rows": n, "peak_kb": status("VmHWM") - before}))
"""


def write_csv(path: Path, rows: int, chunk: int = 500_000) -> None:
    rng = np.random.default_rng(0)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id,lon,lat,weight,group\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            lon = 121.7 + rng.random(n) * 0.3
            lat = 29.75 + rng.random(n) * 0.2
            w = rng.integers(1, 50, n)
            ids = np.char.add("R", np.arange(start, start + n).astype(str))
            lines = [
                f"{i},{x:.6f},{y:.6f},{k},outdoor"
                for i, x, y, k in zip(
                    ids.tolist(), lon.tolist(), lat.tolist(), w.tolist(), strict=True
                )
            ]
            fh.write("\n".join(lines) + "\n")


def write_xlsx(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("demand")
    sheet.append(["id", "lon", "lat", "weight", "group"])
    rng = np.random.default_rng(0)
    lon = 121.7 + rng.random(rows) * 0.3
    lat = 29.75 + rng.random(rows) * 0.2
    for i in range(rows):
        sheet.append([f"R{i}", float(lon[i]), float(lat[i]), 5, "outdoor"])
    book.save(path)


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0]


def child(what: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, what, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(path: Path, what: str = "load", repeat: int = 1) -> dict:
    runs = []
    for _ in range(repeat):
        load = loadavg()
        run = child(what, path)
        runs.append({**run, "load": load})
    best = min(runs, key=lambda r: r["s"])
    return {
        "best_s": round(best["s"], 2),
        "cpu_s": round(best["cpu_s"], 2),
        "rows": best["rows"],
        "peak_mb_above_interpreter": round(max(r["peak_kb"] for r in runs) / 1024),
        "load_avg_at_best": best["load"],
        "runs_s": [round(r["s"], 2) for r in runs],
    }


def cli(demand: Path, facilities: Path, repeat: int = 1) -> dict:
    import time

    runs = []
    for _ in range(repeat):
        load = loadavg()
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "cli.main",
                "coverage",
                "--facilities",
                str(facilities),
                "--demand",
                str(demand),
                "--type",
                "outdoor_station",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append((time.perf_counter() - t, load))
    best = min(runs)
    return {
        "best_s": round(best[0], 2),
        "load_avg_at_best": best[1],
        "runs_s": [round(r[0], 2) for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--xlsx-rows", type=int, default=None, help="default: --rows")
    parser.add_argument("--skip-xlsx", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    rep = args.repeat
    results: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes")}
    report(results)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv1 = root / "demand_1m.csv"
        write_csv(csv1, args.rows)
        results["csv_1m_load_demand"] = measure(csv1, "load", rep)
        report(results)
        results["csv_1m_pandas_read_csv"] = measure(csv1, "pandas", rep)
        report(results)
        results["csv_1m_iter_demand"] = measure(csv1, "iter", rep)
        report(results)
        fac = Path(__file__).resolve().parents[1] / "datasets" / "beilun" / "facilities.csv"
        results["cli_coverage_1m"] = cli(csv1, fac, rep)
        report(results)
        if not args.skip_big:
            csv5 = root / "demand_5m.csv"
            write_csv(csv5, args.big_rows)
            results["csv_5m_iter_demand"] = measure(csv5, "iter", 1)
            report(results)
            csv5.unlink()
        if not args.skip_xlsx:
            xlsx = root / "demand_1m.xlsx"
            write_xlsx(xlsx, args.xlsx_rows or args.rows)
            results["xlsx_1m_load_demand"] = measure(xlsx, "load", 1)
            report(results)
    summaries(results, args)


def summaries(results: dict, args) -> None:
    ours, peer = results["csv_1m_load_demand"], results["csv_1m_pandas_read_csv"]
    summary(
        f"load_demand, {args.rows:,}-row demand CSV (validated)",
        f"{ours['best_s']:.2f} s ({ours['cpu_s']:.2f} s CPU)",
        f"pandas.read_csv + points_from_xy {peer['best_s']:.2f} s (no validation)",
        f"{peer['best_s'] / ours['best_s']:.2f}x",
        f"{ours['peak_mb_above_interpreter']:.0f} MB vs {peer['peak_mb_above_interpreter']:.0f} MB",
    )
    it = results.get("csv_5m_iter_demand")
    if it:
        summary(
            f"iter_demand, {args.big_rows:,}-row CSV, block by block",
            f"{it['best_s']:.1f} s",
            memory=f"{it['peak_mb_above_interpreter']:.0f} MB",
        )
    summary(
        f"`servicemap coverage` CLI on the {args.rows:,}-row CSV, end to end",
        f"{results['cli_coverage_1m']['best_s']:.1f} s",
    )
    x = results.get("xlsx_1m_load_demand")
    if x:
        summary(
            f"load_demand, {x['rows']:,}-row .xlsx",
            f"{x['best_s']:.1f} s ({x['cpu_s']:.1f} s CPU)",
            memory=f"{x['peak_mb_above_interpreter']:.0f} MB",
        )


def report(results: dict) -> None:
    """The measurement just added (the dict keeps insertion order), one JSON line."""
    key = list(results)[-1]
    print(json.dumps({key: results[key]}), flush=True)


if __name__ == "__main__":
    main()
