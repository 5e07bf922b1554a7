"""Previewing an upload (issue 10): ``Workspace.preview_import`` of a file over a layer that
already holds it with 1 % of the features changed (half of those moved), timed as the
loader (as an import) + the comparison with the layer, which is what the preview adds.

    .venv/bin/python benchmarks/bench_preview.py [--demand 1000000] [--facilities 100000]

Prints a Markdown table for docs/benchmarks.md (## Upload preview).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench_store import demand_csv, facility_sheet
from geo.workspace import Workspace, _diff


def changed_copy(path: Path, out: Path, id_col: str, value_col: str, lon_col: str) -> Path:
    """The file with 1 % of its rows changed: half a value, half moved ~100 m east."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(7)
    rows = rng.choice(len(table), len(table) // 100, replace=False)
    half = len(rows) // 2
    table.loc[rows[:half], value_col] = "9"
    table.loc[rows[half:], lon_col] = (table.loc[rows[half:], lon_col].astype(float) + 0.001).map(
        "{:.6f}".format
    )
    table.to_csv(out, index=False)
    return out


def timed(ws: Workspace, layer: str, path: Path, **kw) -> tuple[float, float, float, float, dict]:
    t0, c0 = time.perf_counter(), time.process_time()
    frame = ws.load_file(layer, path, **kw)
    t1, c1 = time.perf_counter(), time.process_time()
    diff = _diff(ws.layer(layer), frame, replace=False)
    t2, c2 = time.perf_counter(), time.process_time()
    counts = {k: len(diff[k]) for k in ("added", "moved", "changed")}
    return t1 - t0, c1 - c0, t2 - t1, c2 - c1, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facilities", type=int, default=100_000)
    ap.add_argument("--demand", type=int, default=1_000_000)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as tmp:
        root = Path(tmp)
        ws = Workspace.init(root / "ws", name="bench")
        try:
            sheet = facility_sheet(args.facilities, root / "facilities.xlsx")
            csv = root / "facilities.csv"
            pd.read_excel(sheet, dtype=str, engine="calamine").to_csv(csv, index=False)
            ws.import_file("facilities", csv, datum="gcj02")
            edited = changed_copy(csv, root / "facilities-edited.csv", "编号", "容量", "经度")
            label = f"{args.facilities:,}-row facility CSV (GCJ-02)"
            rows.append((label, *timed(ws, "facilities", edited, datum="gcj02")))
            dem = demand_csv(args.demand, root / "demand.csv")
            ws.import_file("demand", dem)
            edited = changed_copy(dem, root / "demand-edited.csv", "id", "weight", "lon")
            label = f"{args.demand:,}-row demand CSV"
            rows.append((label, *timed(ws, "demand", edited)))
        finally:
            ws.close()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{stamp}; {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores, GeoPackage store")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f} at the end (wall times grow with it)")
    print("\n| preview | load wall (CPU) s | reading the layer + comparison wall (CPU) s "
          "| moved / changed |")  # fmt: skip
    print("| --- | ---: | ---: | ---: |")
    for label, lw, lc, dw, dc, counts in rows:
        print(f"| {label} | {lw:.1f} ({lc:.1f}) | {dw:.1f} ({dc:.1f}) | "
              f"{counts['moved']:,} / {counts['changed']:,} |")  # fmt: skip


if __name__ == "__main__":
    main()
