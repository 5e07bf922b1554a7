"""Run the benchmark suite and write docs/benchmarks.md and the README's summary table.

The suite (``SUITE`` below) is every ``benchmarks/bench_*.py``, some at two sizes, each
with the arguments it gets here (every script also runs by hand, with its own defaults).
Each runs in its own process (``PYTHONPATH`` = the checkout), one after the other so that
timings do not compete, and prints its own figures (sizes, times, memory, ratios to its
peers) plus ``summary:`` lines for the README (``benchmarks/_summary.py``). This script
only collects them, with the wall time and the machine's load average (``os.getloadavg``)
at the start and the end of each benchmark, since the machine may be shared:

- every run is kept in ``docs/benchmarks-results.json`` (one entry per suite name, the
  latest), so ``--only`` re-runs one benchmark and the rest stay as they were measured;
- docs/benchmarks.md gets each benchmark's output, verbatim, between
  ``<!-- run_all:start -->`` and ``<!-- run_all:end -->`` (the hand-written sections
  around them are kept);
- README.md gets the summary table between ``<!-- bench:start -->`` and
  ``<!-- bench:end -->``: built from the ``summary:`` lines, with the date, the machine and
  the loads, so the README's table is the suite's output.

A script that fails or runs out of time is reported with the end of its error output, and
the others still run.

    .venv/bin/python benchmarks/run_all.py [--only scale,coverage] [--skip web]
        [--timeout 3600] [--list] [--write-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _summary import parse  # noqa: E402

START, END = "<!-- run_all:start -->", "<!-- run_all:end -->"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
RESULTS = ROOT / "docs" / "benchmarks-results.json"

# (name, script, arguments, what it compares): run in this order
SUITE: list[tuple[str, str, list[str], str]] = [
    ("coverage", "bench_coverage.py", ["--repeat", "5", "--naive-repeat", "2"],
     "straight-line coverage vs GeoPandas buffer + sjoin and sjoin_nearest"),
    ("access", "bench_access.py", [], "2SFCA vs access, 10,000 x 1,000"),
    ("access-1m", "bench_access.py",
     ["--demand", "1000000", "--facilities", "10000", "--repeat", "2", "--peer-repeat", "1"],
     "2SFCA vs access, 1,000,000 x 10,000"),
    ("scale", "bench_scale.py",
     ["--memory", "1e4,1e5,1e6", "--dask", "1e5,1e6,1e7", "--big", "5e7,1e8",
      "--big-copies-of", "1e7", "--records", "docs/benchmarks-scale.jsonl"],
     "Dask scaling, 10^4 to 10^8 demand points x 150,000 stations"),
    ("siting", "bench_siting.py", ["--seeds", "2"], "MCLP vs spopt, 2,000 x 200, p = 20"),
    ("web", "bench_web.py", [], "nearest API under load, finder in Chromium, page weight"),
    ("web-stores", "bench_web.py", ["nearest-gpkg", "nearest-postgis"],
     "nearest API under load from a workspace on GeoPackage and on PostGIS"),
    ("served", "bench_served.py", ["--rounds", "3"],
     "the planner's what-if, export, suggest, type switch and the finder under `make serve`"),
    ("loading", "bench_loading.py", ["--repeat", "2"],
     "loading 1M-row CSV and .xlsx demand, 5M-row CSV streamed, the CLI end to end"),
    ("siting-10x", "bench_siting.py",
     ["--demand", "20000", "--candidates", "2000", "--p", "200", "--seeds", "1",
      "--spopt-time-limit", "240", "--spopt-timeout", "300"],
     "MCLP vs spopt, 20,000 x 2,000, p = 200"),
    ("network", "bench_network.py", ["--osmnx-facilities", "10"],
     "network nearest + service areas vs the osmnx/NetworkX recipe and pandana"),
    ("criticality", "bench_criticality.py", ["--brute", "1"], "criticality vs close-and-recount"),
    ("pcenter", "bench_siting.py",
     ["--model", "pcenter", "--seeds", "1", "--spopt-time-limit", "60"],
     "p-center vs spopt, 2,000 x 200, p = 20"),
    ("store", "bench_store.py", [],
     "workspace store imports, 100,000 + 1,000,000 rows (GeoPackage)"),
    ("store-postgis", "bench_store.py", ["--postgis"],
     "workspace store imports, 100,000 + 1,000,000 rows (a throwaway PostGIS server)"),
]  # fmt: skip


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip() + ", "
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{platform.machine()} {cpu}{os.cpu_count()} cores, {mem:.0f} GiB, "
        f"{platform.system()}, Python {platform.python_version()}"
    )


def chosen(only: list[str], skip: list[str]) -> list[tuple[str, str, list[str], str]]:
    names = [s[0] for s in SUITE]
    for n in only + skip:
        if n not in names:
            raise SystemExit(f"no benchmark {n!r}; there are {', '.join(names)}")
    return [s for s in SUITE if (not only or s[0] in only) and s[0] not in skip]


def _now() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"


def run(script: str, args: list[str], timeout_s: float) -> dict:
    """One benchmark in its own process: its output, wall time, exit code and the loads."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started, load0, t0 = _now(), os.getloadavg(), time.perf_counter()
    # its own session, so that a timeout stops its children too (Dask workers, servers)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / script), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
        code = proc.returncode
        if code:
            tail = "\n".join(err.strip().splitlines()[-15:])
            out += f"\n(failed with exit code {code})\n{tail}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out = (out or "") + f"\n(stopped after {timeout_s:g} s)"
        code = -1
    rows, text = parse(out)
    return {
        "command": shlex.join(["python", f"benchmarks/{script}", *args]),
        "started": started,
        "wall_s": round(time.perf_counter() - t0, 1),
        "load_start": [round(v, 2) for v in load0],
        "load_end": [round(v, 2) for v in os.getloadavg()],
        "code": code,
        "output": text.rstrip(),
        "summary": rows,
        "machine": machine(),
    }


def _load(r: dict) -> str:
    return f"{r['load_start'][0]:.1f} → {r['load_end'][0]:.1f}"


def section(results: dict) -> str:
    lines = [
        START,
        "## The benchmark suite (`make bench`)",
        "",
        "Written by `python benchmarks/run_all.py` (`make bench`): each benchmark's own "
        "output, verbatim, with its command, when it ran, its wall time and the machine's "
        "1-minute load average at its start and end (the machine has 2 cores and was "
        "shared with other work: a load above 2 means the timings are inflated; compare "
        "servicemap with its peer in the same run). The README's table is built from the "
        "same run.",
        "",
    ]
    for name, script, a, _ in SUITE:
        r = results.get(name)
        if r is None:
            cmd = shlex.join(["python", f"benchmarks/{script}", *a])
            lines += [f"### {name} (not run in this suite run)", "", f"`{cmd}`", ""]
            continue
        status = "" if r["code"] == 0 else " (did not finish; see the end of its output)"
        lines += [
            f"### {name}{status}",
            "",
            f"`{r['command']}`: started {r['started']}, {r['wall_s']:.0f} s; load average "
            f"(1 min) {_load(r)}; {r['machine']}",
            "",
            "```",
            r["output"],
            "```",
            "",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def readme_table(results: dict) -> str:
    runs = [results[n] for n, *_ in SUITE if n in results]
    dates = sorted(r["started"] for r in runs)
    last = dates[-1][11:] if dates[0][:10] == dates[-1][:10] else dates[-1]
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {last}"
    lines = [
        README_START,
        f"Written by `make bench` (`benchmarks/run_all.py`), run {when} on "
        f"{runs[0]['machine']}. Load is the 1-minute load average at the start and end of "
        "each benchmark: the machine was shared with other work, so absolute times are "
        "inflated where it is above 2; the ratio to the peer is from the same run.",
        "",
        "| benchmark | servicemap | peer, same run | peer / servicemap (time) | peak memory "
        "| load, start → end |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, script, a, what in SUITE:
        r = results.get(name)
        if r is None:
            cmd = shlex.join([script, *a])
            lines.append(f"| {what}: not run in this suite run (`{cmd}`) | | | | | |")
            continue
        if r["code"] != 0 and not r["summary"]:
            lines.append(f"| {name}: did not finish (docs/benchmarks.md) | | | | | {_load(r)} |")
        for s in r["summary"]:
            cells = [s["what"], s["ours"], s["peer"], s["ratio"], s["memory"], _load(r)]
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines.append(README_END)
    return "\n".join(lines) + "\n"


def replace_between(path: Path, start: str, end: str, text: str) -> None:
    """Put ``text`` (which holds the markers) in place of ``start..end`` in ``path``."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new, encoding="utf-8")


def write(results: dict, out: Path, readme: Path) -> None:
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", "utf-8")
    replace_between(out, START, END, section(results))
    if results:
        replace_between(readme, README_START, README_END, readme_table(results))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated names (coverage, scale, ...)")
    ap.add_argument("--skip", default="", help="comma-separated names to leave out")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    ap.add_argument("--list", action="store_true", help="print the suite and stop")
    ap.add_argument(
        "--write-only", action="store_true", help="rewrite the docs from the results file"
    )
    args = ap.parse_args()
    todo = chosen([n for n in args.only.split(",") if n], [n for n in args.skip.split(",") if n])
    if args.list:
        for name, script, a, what in todo:
            print(f"{name:12s} {shlex.join([script, *a])}  ({what})")
        return
    results = json.loads(RESULTS.read_text("utf-8")) if RESULTS.exists() else {}
    failed = False
    for name, script, a, _ in [] if args.write_only else todo:
        print(f"{_now()} running {name}: {shlex.join([script, *a])}", file=sys.stderr, flush=True)
        r = run(script, a, args.timeout)
        print(r["output"], flush=True)
        print(f"{_now()} {name}: exit {r['code']}, {r['wall_s']:.0f} s, load {_load(r)}",
              file=sys.stderr, flush=True)  # fmt: skip
        results[name] = r
        failed |= r["code"] != 0
        write(results, args.out, args.readme)  # after each, so a stopped suite keeps its runs
    write(results, args.out, args.readme)
    print(f"wrote {args.out}, {args.readme} and {RESULTS}", file=sys.stderr)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
