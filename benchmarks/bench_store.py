"""Importing into the workspace store: a 100,000-row facility spreadsheet and a
1,000,000-row demand CSV, validation included, each timed as load (geo's loader: reading,
validation, datum conversion) + store write (one transaction, history included).

    .venv/bin/python benchmarks/bench_store.py [--facilities 100000] [--demand 1000000]
        [--database-url postgresql://...]   # PostGIS instead of a GeoPackage
        [--postgis]   # on a throwaway PostGIS server, started as the tests start theirs

Prints a Markdown table for docs/benchmarks.md (## Store). Target: < 10 s per import.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _summary import summary

from geo.workspace import Workspace

AMENITIES = ["water", "microwave", "charging", "toilet", "rest"]
TYPES = ["outdoor_station", "mother_room", "bookshelf", "driver_home"]


def facility_sheet(n: int, path: Path, seed: int = 0) -> Path:
    """A planner's spreadsheet: Chinese headers, GCJ-02 coordinates around Ningbo."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "编号": [f"F{i:06d}" for i in range(n)],
            "类型": rng.choice(TYPES, n),
            "名称": [f"驿站{i}" for i in range(n)],
            "地址": [f"浙江省宁波市北仑区某路{i}号" for i in range(n)],
            "经度": np.round(rng.uniform(121.6, 122.1, n), 6),
            "纬度": np.round(rng.uniform(29.75, 30.0, n), 6),
            "开放时间": "Mo-Su 08:00-20:00",
            "容量": rng.integers(2, 40, n),
            "服务设施": [";".join(rng.choice(AMENITIES, 3, replace=False)) for _ in range(n)],
            "级别": "district",
            "联系方式": "12351",
            "来源": "bench",
            "更新时间": "2025-01-01",
        }
    )
    table.to_excel(path, index=False)
    return path


def demand_csv(n: int, path: Path, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "id": [f"R{i:07d}" for i in range(n)],
            "lon": np.round(rng.uniform(121.6, 122.1, n), 6),
            "lat": np.round(rng.uniform(29.75, 30.0, n), 6),
            "weight": rng.integers(1, 30, n),
            "group": "outdoor",
        }
    ).to_csv(path, index=False)
    return path


def timed_import(ws: Workspace, layer: str, path: Path, **kw):
    """(load wall s, load CPU s, write wall s, write CPU s, rows); CPU time is this
    process's, less sensitive than wall time to other work on a shared machine."""
    t0, c0 = time.perf_counter(), time.process_time()
    frame = ws.load_file(layer, path, **kw)
    t1, c1 = time.perf_counter(), time.process_time()
    summary = ws.import_frame(layer, frame, reason="benchmark")
    t2, c2 = time.perf_counter(), time.process_time()
    assert len(summary.added) == len(frame)
    return t1 - t0, c1 - c0, t2 - t1, c2 - c1, len(frame)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facilities", type=int, default=100_000)
    ap.add_argument("--demand", type=int, default=1_000_000)
    ap.add_argument("--database-url", default=os.environ.get("SERVICEMAP_DATABASE_URL"))
    ap.add_argument("--postgis", action="store_true", help="start a throwaway PostGIS server")
    ap.add_argument("--layers", default="facilities,demand", help="which imports to time")
    args = ap.parse_args()
    if args.postgis:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from conftest import _PostgresServer

        server = _PostgresServer()
        server.start()
        try:
            args.database_url = server.new_database()
            run(args)
        finally:
            server.stop()
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        root = Path(tmp)
        wanted = args.layers.split(",")
        sheet = root / "facilities.xlsx"
        if "facilities" in wanted:
            facility_sheet(args.facilities, sheet)
        dem = demand_csv(args.demand, root / "demand.csv")
        ws = Workspace.init(root / "ws", name="bench", database_url=args.database_url)
        rows = []
        try:
            for label, layer, path, kw in (
                (f"{args.facilities:,}-row facility spreadsheet (.xlsx, GCJ-02)", "facilities",
                 sheet, {"datum": "gcj02"}),
                (f"{args.demand:,}-row demand CSV", "demand", dem, {"datum": "wgs84"}),
            ):  # fmt: skip
                if layer not in wanted:
                    continue
                rows.append((label, *timed_import(ws, layer, path, **kw)))
            t0 = time.perf_counter()
            frame = ws.demand
            read_s = time.perf_counter() - t0
            assert len(frame) == args.demand
        finally:
            backend = ws.store.kind
            ws.close()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{stamp}; {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores, store: {backend}")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f} at the end (wall times grow with it)")
    print("\n| import | rows | load wall (CPU) s | store write wall (CPU) s | total wall (CPU) s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, lw, lc, ww, wc, n in rows:
        print(f"| {label} | {n:,} | {lw:.1f} ({lc:.1f}) | {ww:.1f} ({wc:.1f}) | "
              f"{lw + ww:.1f} ({lc + wc:.1f}) |")  # fmt: skip
    print(f"\nreading the {args.demand:,}-row demand layer back: {read_s:.1f} s")
    for label, lw, lc, ww, wc, _ in rows:
        summary(
            f"store import ({backend}), {label}",
            f"{lw + ww:.1f} s ({lc + wc:.1f} s CPU): load {lw:.1f} s + write {ww:.1f} s",
        )


if __name__ == "__main__":
    main()
