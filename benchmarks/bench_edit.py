"""An edit visible in ``/api/nearest``: the seconds from a write API's answer (PATCH of a
facility's name, with an API token) until every worker of ``servicemap serve DIR
--workers 2`` (gunicorn, preloaded, forked) answers ``/api/nearest`` with the new name
(20 answers in a row, asked 4 at a time so both workers answer).

    .venv/bin/python benchmarks/bench_edit.py [--edits 10] [--workers 2]
        [--postgis]                  # also on a throwaway PostGIS server (as the tests)

Prints a Markdown table for docs/benchmarks.md (## Editing). Target: < 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import tempfile
from pathlib import Path

from tests.conftest import (
    _PostgresServer,
    demo_workspace,
    edit_visible_s,
    start_served,
    stop_served,
)


def measure(folder: Path, location, *, edits: int, workers: int) -> list[float]:
    ws = demo_workspace(folder, location)
    token = ws.store.create_token("ed", label="bench")
    ws.close()
    env = {"SERVICEMAP_DATABASE_URL": "" if location is None else str(location)}
    served = start_served(env, args=[str(folder), "--workers", str(workers)])
    try:
        edit_visible_s(served.url, token, "OS001", "warm-up")  # every worker has read once
        return [
            edit_visible_s(served.url, token, f"OS{(i % 40) + 1:03d}", f"驿站 edit {i}")
            for i in range(edits)
        ]
    finally:
        stop_served(served)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--postgis", action="store_true", help="also on a throwaway PostGIS")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-edit-") as tmp:
        runs = [("GeoPackage", None)]
        server = None
        if args.postgis:
            server = _PostgresServer()
            server.start()
            runs.append(("PostGIS", server.new_database()))
        try:
            for label, location in runs:
                times = measure(Path(tmp) / label, location, edits=args.edits, workers=args.workers)
                times.sort()
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                rows.append((label, len(times), statistics.median(times), p95, times[-1]))
        finally:
            if server is not None:
                server.stop()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Edit visible in /api/nearest ({args.workers} gunicorn workers), {stamp}, "
          f"{platform.machine()}, {platform.python_version()}")  # fmt: skip
    print()
    print("| store | edits | median s | p95 s | max s | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, n, med, p95, worst in rows:
        print(f"| {label} | {n} | {med:.3f} | {p95:.3f} | {worst:.3f} | < 1 s |")


if __name__ == "__main__":
    main()
