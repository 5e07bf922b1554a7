"""Scale (Dask): straight-line coverage plus area summary on national data, in memory and on Dask.

The data: ``benchmarks/make_national.py`` (150,000 stations and N demand points weighted
like China's cities, GeoParquet parts of at most 1,000,000 rows; generated into a temp
directory, never shipped). The work, timed end to end from the GeoParquet files:
``geo.coverage(stations, demand, threshold_m=1000)`` then
``geo.coverage_summary(result, areas, facilities=stations)`` (a 1° grid of areas, the
H3 gap grid at resolution 6).

- in memory: one process reads every part (``geopandas.read_parquet``) and runs both
  (with ``attrs["facility_ids"]`` shared, as the Dask path shares it: as shipped, pandas
  deep-copies the 150,000 ids on every step of the summary, ~0.1 s each);
- Dask: a ``distributed.LocalCluster`` of ``--workers`` processes (one thread each, a
  4 GB memory limit each) reads the parts lazily (``geo.scale.read_parquet``) and runs
  the same calls on the Dask frame; the summary is computed, the rows are never gathered.

Every measurement runs in a fresh process; peak memory is the peak resident set
(``getrusage``) of that process, or of the busiest worker. Throughput per core is demand
points per second divided by the cores used (the in-memory KD-tree and projection use
both cores too). The answers are checked equal where both run (``--check``).

    .venv/bin/python benchmarks/bench_scale.py [--dask 1e5,1e6,1e7] [--memory 1e4,1e5,1e6]
        [--big 5e7] [--stations 150000] [--workers 2] [--data DIR] [--plot PNG]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _summary import summary

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
THRESHOLD_M = 1000.0
# H3 resolution of the gap grid: 6 (cells of ~36 km2). At 8 (~0.74 km2) nearly every
# uncovered rural point of the national data is a cell of its own, and drawing millions of
# hexagons on the client would be what this measures.
GAP_RESOLUTION = 6
ROWS_PER_PART = 1_000_000


def _copies(root: Path, points: int, stations: int, copies: int) -> Path:
    """``copies`` x the ``points``-point dataset as one: its parts linked ``copies`` times.

    The same GeoParquet parts read several times: the same partitions, rows and memory per
    partition as distinct points, without generating them (the answers repeat).
    """
    src = _dataset(root, points, stations)
    out = root / f"national_{points}x{copies}_{stations}"
    if not (out / "done").exists():
        (out / "demand").mkdir(parents=True, exist_ok=True)
        for name in ("stations.parquet", "areas.parquet"):
            (out / name).unlink(missing_ok=True)
            (out / name).symlink_to(src / name)
        parts = sorted((src / "demand").glob("*.parquet"))
        for c in range(copies):
            for k, p in enumerate(parts):
                link = out / "demand" / f"part.{c * len(parts) + k:05d}.parquet"
                link.unlink(missing_ok=True)
                link.symlink_to(p)
        (out / "done").write_text("links")
    return out


def _dataset(root: Path, points: int, stations: int, copies_of: int | None = None) -> Path:
    """The national dataset of ``points`` demand points under ``root`` (made once)."""
    sys.path.insert(0, str(HERE))
    from make_national import write

    if copies_of and points > copies_of:
        return _copies(root, copies_of, stations, points // copies_of)
    out = root / f"national_{points}_{stations}"
    if not (out / "done").exists():
        rows = min(ROWS_PER_PART, max(1, -(-points // 4)))
        t0 = time.perf_counter()
        write(out, points=points, n_stations=stations, rows_per_part=rows)
        (out / "done").write_text(f"{time.perf_counter() - t0:.1f}")
    return out


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KB on Linux


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_memory(data: Path) -> dict:
    import geopandas as gpd
    import pandas as pd

    import geo
    from geo.scale import _light_attrs

    t0 = time.perf_counter()
    fac = gpd.read_parquet(data / "stations.parquet")
    areas = gpd.read_parquet(data / "areas.parquet")
    parts = sorted((data / "demand").glob("*.parquet"))
    dem = gpd.GeoDataFrame(pd.concat([gpd.read_parquet(p) for p in parts]), crs=4326)
    t1 = time.perf_counter()
    # the same attrs fix as the Dask path (docs/decisions.md, "pandas deep-copies attrs"):
    # as shipped, every pandas step of the summary copies the 150,000 facility ids
    res = _light_attrs(geo.coverage(fac, dem, threshold_m=THRESHOLD_M))
    s = geo.coverage_summary(res, areas, facilities=fac, gap_resolution=GAP_RESOLUTION)
    t2 = time.perf_counter()
    return {
        "kind": "memory",
        "points": len(dem),
        "seconds": t2 - t0,
        "read_s": t1 - t0,
        "peak_gb": _peak_gb(),
        "cpu_s": _cpu_s(),
        "cores": os.cpu_count(),
        "covered_share": s.covered_share,
        "gaps": len(s.gaps),
    }


def run_dask(data: Path, workers: int) -> dict:
    import geopandas as gpd
    from distributed import Client, LocalCluster

    import geo
    from geo import scale

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit="4GB",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("geo.coverage"))  # workers' imports are start-up
        base = client.run(_peak_gb)
        t0 = time.perf_counter()
        fac = gpd.read_parquet(data / "stations.parquet")
        areas = gpd.read_parquet(data / "areas.parquet")
        dem = scale.read_parquet(data / "demand")
        res = geo.coverage(fac, dem, threshold_m=THRESHOLD_M)
        s = geo.coverage_summary(
            res, areas, facilities=fac, gap_resolution=GAP_RESOLUTION
        ).compute()
        t1 = time.perf_counter()
        peaks = client.run(_peak_gb)
        cpu = sum(client.run(_cpu_s).values())
    return {
        "kind": "dask",
        "points": None,  # filled in by the caller
        "partitions": dem.npartitions,
        "seconds": t1 - t0,
        "peak_gb": max(peaks.values()),
        "worker_start_gb": max(base.values()),
        "client_peak_gb": _peak_gb(),
        "cpu_s": cpu + _cpu_s(),
        "cores": workers,
        "covered_share": s.covered_share,
        "gaps": len(s.gaps),
    }


def _one(kind: str, points: int, args) -> dict:
    copies_of = args.big_copies_of if points in _numbers(args.big) else None
    data = _dataset(args.data, points, args.stations, copies_of)
    cmd = [sys.executable, __file__, "--one", kind, "--points", str(points)]
    cmd += ["--stations", str(args.stations), "--workers", str(args.workers)]
    cmd += ["--data", str(args.data)]
    if copies_of:
        cmd += ["--big", args.big, "--big-copies-of", str(copies_of)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    rec["points"] = points
    rec["data"] = str(data)
    return rec


def _line(r: dict) -> str:
    per_core = r["points"] / r["seconds"] / r["cores"]
    return (
        f"{r['kind']:>6} {r['points']:>12,} points: {r['seconds']:8.1f} s, peak "
        f"{r['peak_gb']:.2f} GB{' per worker' if r['kind'] == 'dask' else ''}, "
        f"{per_core:,.0f} points/s per core ({r['cores']} cores), covered "
        f"{r['covered_share']:.4f}, {r['gaps']:,} gap cells"
    )


def summaries(
    mem: dict, dsk: dict, not_run: list[int], dask_runs: list[dict], stations: int
) -> None:
    """The README's lines: the largest runs, the throughput ratio, what was not run."""
    if 10_000_000 in dsk:
        d = dsk[10_000_000]
        summary(
            f"Dask, 10,000,000 demand x {stations:,} stations, coverage + area summary, "
            f"{d['cores']} workers",
            f"{d['seconds']:.0f} s ({d['partitions']} partitions)",
            memory=f"{d['peak_gb']:.2f} GB per worker (target < 4 GB)",
        )
    if mem and 10_000_000 in dsk:
        m, d = mem[max(mem)], dsk[10_000_000]
        tm = m["points"] / m["seconds"] / m["cores"]
        td = d["points"] / d["seconds"] / d["cores"]
        cpu = "cpu_s" in m and "cpu_s" in d
        cm = m["cpu_s"] / m["points"] * 1e6 if cpu else float("nan")
        cd = d["cpu_s"] / d["points"] * 1e6 if cpu else float("nan")
        summary(
            f"throughput per core, Dask at 10,000,000 vs in memory at {m['points']:,}",
            f"{td:,.0f} points/s per core" + (f" ({cd:.1f} µs CPU per point)" if cpu else ""),
            f"in memory {tm:,.0f} points/s per core"
            + (f" ({cm:.1f} µs CPU per point)" if cpu else ""),
            f"in memory / Dask {tm / td:.2f} (target within 2x)",
        )
    big = [r for r in dask_runs if r["points"] > 10_000_000]
    for r in big:
        summary(
            f"Dask, {r['points']:,} demand points through {r['partitions']} GeoParquet partitions",
            f"{r['seconds']:.0f} s",
            memory=f"{r['peak_gb']:.2f} GB per worker, client {r['client_peak_gb']:.2f} GB",
        )
    for n in not_run:
        summary(f"Dask, {n:,} demand points", "not run (time; see docs/benchmarks.md)")


def plot(records: list[dict], path: Path, not_run: list[int] = ()) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for kind, mark in (("memory", "o-"), ("dask", "s-")):
        rs = sorted((r for r in records if r["kind"] == kind), key=lambda r: r["points"])
        if not rs:
            continue
        label = "in memory (1 process)" if kind == "memory" else "Dask LocalCluster"
        x = [r["points"] for r in rs]
        a.plot(x, [r["seconds"] for r in rs], mark, label=label)
        b.plot(
            x, [r["peak_gb"] for r in rs], mark, label=label + (" (per worker)" * (kind == "dask"))
        )
    for n in not_run:
        for ax in (a, b):
            ax.axvline(n, color="grey", linestyle=":")
            ax.annotate(
                "not run", (n, 0.5), xycoords=("data", "axes fraction"), rotation=90,
                ha="right", va="center", color="grey",
            )  # fmt: skip
    for ax, ylab in ((a, "time, s"), (b, "peak memory, GB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("demand points (150,000 stations)")
        ax.set_ylabel(ylab)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    a.set_title("coverage + area summary, end to end")
    b.set_title("peak resident memory")
    fig.suptitle(f"servicemap scale benchmark, {dt.date.today()}, {os.cpu_count()} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _numbers(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dask", default="1e5,1e6,1e7", help="demand sizes on Dask")
    ap.add_argument("--memory", default="1e4,1e5,1e6", help="demand sizes in memory")
    ap.add_argument("--big", default="5e7", help="the largest Dask run (GeoParquet); '' none")
    ap.add_argument(
        "--big-copies-of",
        type=lambda v: int(float(v)),
        default=None,
        help="make the --big dataset from copies of this size's parts (e.g. 1e7: 5 x 10 "
        "million rows) instead of generating it",
    )
    ap.add_argument(
        "--not-run",
        default="",
        help="sizes named in the series but not run (e.g. 1e8 when it cannot fit the time): "
        "printed as such, with the time the largest run predicts, and marked on the plot",
    )
    ap.add_argument("--stations", type=int, default=150_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", type=Path, default=None, help="dataset directory (default tmp)")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmarks-scale.png")
    ap.add_argument(
        "--records",
        type=Path,
        default=None,
        help="JSON-lines file: runs are appended to it, and the summary and plot use every "
        "run in it (the latest per kind and size), so a series can be run in pieces",
    )
    ap.add_argument("--one", choices=["memory", "dask"], help=argparse.SUPPRESS)
    ap.add_argument("--points", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.data is None:
        args.data = Path(tempfile.gettempdir()) / "servicemap-national"
    if args.one:
        copies_of = args.big_copies_of if args.points in _numbers(args.big) else None
        data = _dataset(args.data, args.points, args.stations, copies_of)
        rec = run_memory(data) if args.one == "memory" else run_dask(data, args.workers)
        print(json.dumps(rec))
        return

    load = os.getloadavg()
    print(
        f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average at "
        f"start {load[0]:.1f} (shared with other work: timings are noisy)"
    )
    print(
        f"{args.stations:,} stations; coverage within {THRESHOLD_M:g} m + summary by a 1° "
        f"area grid and the H3 gap grid (resolution {GAP_RESOLUTION}); Dask: "
        f"{args.workers} worker processes x 1 thread, 4 GB limit each"
    )
    records = []
    sizes = [("memory", n) for n in _numbers(args.memory)]
    sizes += [("dask", n) for n in _numbers(args.dask) + _numbers(args.big)]
    for kind, n in sizes:
        rec = _one(kind, n, args)
        records.append(rec)
        print(_line(rec), flush=True)
        if args.records:
            with args.records.open("a", encoding="utf-8") as f:
                f.write(json.dumps({**rec, "at": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}"}))
                f.write("\n")
    if args.records and args.records.exists():
        latest = {}
        for line in args.records.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            latest[(r["kind"], r["points"])] = r
        earlier = [
            r for k, r in latest.items() if k not in {(x["kind"], x["points"]) for x in records}
        ]
        for r in sorted(earlier, key=lambda r: (r["kind"], r["points"])):
            print(_line(r) + f"  (run at {r['at']} UTC)")
        records = list(latest.values())
    mem = {r["points"]: r for r in records if r["kind"] == "memory"}
    dsk = {r["points"]: r for r in records if r["kind"] == "dask"}
    if mem and dsk:
        m = mem[max(mem)]
        d = dsk[max(p for p in dsk if p <= max(10_000_000, min(dsk)))]
        tm = m["points"] / m["seconds"] / m["cores"]
        td = d["points"] / d["seconds"] / d["cores"]
        cm = m["cpu_s"] / m["points"] * 1e6 if "cpu_s" in m else float("nan")
        cd = d["cpu_s"] / d["points"] * 1e6 if "cpu_s" in d else float("nan")
        print(
            f"throughput per core: Dask at {d['points']:,} {td:,.0f} points/s vs in memory at "
            f"{m['points']:,} {tm:,.0f} points/s (wall clock; in-memory/Dask {tm / td:.2f}). "
            f"CPU time per point, all processes: Dask {cd:.1f} us, in memory {cm:.1f} us "
            f"(the cost of distribution: {(cd / cm - 1) * 100:+.0f}%)"
        )
    for p in sorted(set(mem) & set(dsk)):
        same = abs(mem[p]["covered_share"] - dsk[p]["covered_share"]) < 1e-12
        same &= mem[p]["gaps"] == dsk[p]["gaps"]
        print(f"check at {p:,}: covered share and gap cells equal in memory and on Dask: {same}")
    dask_runs = sorted((r for r in records if r["kind"] == "dask"), key=lambda r: r["points"])
    not_run = _numbers(args.not_run)
    for n in not_run:
        big = dask_runs[-1] if dask_runs else None
        guess = (
            f": needs about {big['seconds'] * n / big['points'] / 60:.0f} min on this machine "
            f"(linear from the {big['points']:,}-point run), with the same memory per worker"
            if big
            else ""
        )
        print(f"  dask {n:>12,} points: not run{guess}")
    summaries(mem, dsk, not_run, dask_runs, args.stations)
    if args.plot:
        plot(records, args.plot, not_run)
        print(
            f"plot: {args.plot.relative_to(ROOT) if args.plot.is_relative_to(ROOT) else args.plot}"
        )


if __name__ == "__main__":
    main()
