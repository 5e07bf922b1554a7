"""Run every benchmark in benchmarks/ and collect what each prints into docs/benchmarks.md.

Every ``benchmarks/bench_*.py`` runs in its own process (``PYTHONPATH`` = the checkout),
one after the other so that timings do not compete, and prints its own figures (date,
machine, sizes, times, memory, ratios to its peers). This script only collects them: the
output of each goes, verbatim, under its own heading between the markers
``<!-- run_all:start -->`` and ``<!-- run_all:end -->`` in docs/benchmarks.md, with the
command, the date and the wall time; the rest of the file (hand-written sections) is kept.
A script that fails is reported with the end of its error output, and the others still run.

    .venv/bin/python benchmarks/run_all.py [--only scale,coverage] [--skip web]
        [--out docs/benchmarks.md] [--timeout 7200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START, END = "<!-- run_all:start -->", "<!-- run_all:end -->"


def scripts(only: list[str], skip: list[str]) -> list[Path]:
    """The benchmark scripts, by name (``bench_<name>.py``), filtered."""
    found = sorted(HERE.glob("bench_*.py"))
    names = {p.stem.removeprefix("bench_"): p for p in found}
    for n in only + skip:
        if n not in names:
            raise SystemExit(f"no benchmark {n!r}; there are {', '.join(names)}")
    return [p for n, p in names.items() if (not only or n in only) and n not in skip]


def run(script: Path, timeout_s: float) -> tuple[str, float, int]:
    """(output, wall seconds, exit code) of one benchmark."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return out + f"\n(stopped after {timeout_s:g} s)", time.perf_counter() - t0, -1
    out = proc.stdout
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        out += f"\n(failed with exit code {proc.returncode})\n{tail}"
    return out, time.perf_counter() - t0, proc.returncode


def section(results: list[tuple[Path, str, float, int]]) -> str:
    now = dt.datetime.now(dt.UTC)
    lines = [
        START,
        "## The benchmark suite (`make bench`)",
        "",
        f"Run {now:%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, by `python benchmarks/run_all.py`; each script's "
        "own output below, verbatim. Timings on a shared machine are noisy: each script "
        "states its sizes and peers, and the load where it measures it.",
        "",
    ]
    for script, out, wall, code in results:
        status = "" if code == 0 else " (did not finish; see the end of its output)"
        lines += [
            f"### {script.stem.removeprefix('bench_')}{status}",
            "",
            f"`python benchmarks/{script.name}` ({wall:.0f} s)",
            "",
            "```",
            out.rstrip(),
            "```",
            "",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write(out: Path, text: str) -> None:
    """Put ``text`` between the markers of ``out`` (appended when it has none)."""
    old = out.read_text(encoding="utf-8") if out.exists() else "# Benchmarks\n\n"
    if START in old and END in old:
        head, rest = old.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    out.write_text(new, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated names (coverage, scale, ...)")
    ap.add_argument("--skip", default="", help="comma-separated names to leave out")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument("--timeout", type=float, default=7200.0, help="seconds per benchmark")
    args = ap.parse_args()
    chosen = scripts([n for n in args.only.split(",") if n], [n for n in args.skip.split(",") if n])
    results = []
    for script in chosen:
        print(f"running {script.name} ...", file=sys.stderr, flush=True)
        out, wall, code = run(script, args.timeout)
        print(out, flush=True)
        results.append((script, out, wall, code))
    write(args.out, section(results))
    print(f"wrote {args.out}", file=sys.stderr)
    if any(code for *_, code in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
