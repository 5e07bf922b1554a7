"""One line per headline figure, for the README table that ``run_all.py`` writes.

Each benchmark prints its own readable output and, for each figure worth a line in the
README's summary, one ``summary: {json}`` line through :func:`summary`. ``run_all.py``
collects those lines (and leaves them out of the verbatim output in docs/benchmarks.md),
so the README table is the suite's output, not a copy by hand.
"""

from __future__ import annotations

import json

PREFIX = "summary: "


def summary(what: str, ours: str, peer: str = "", ratio: str = "", memory: str = "") -> None:
    """Print one summary row: what was measured, servicemap's figure, the peer's, the ratio."""
    row = {"what": what, "ours": ours, "peer": peer, "ratio": ratio, "memory": memory}
    print(PREFIX + json.dumps(row, ensure_ascii=False), flush=True)


def parse(output: str) -> tuple[list[dict], str]:
    """(summary rows, the output without them) of one benchmark's stdout."""
    rows, kept = [], []
    for line in output.splitlines():
        if line.startswith(PREFIX):
            rows.append(json.loads(line[len(PREFIX) :]))
        else:
            kept.append(line)
    return rows, "\n".join(kept)
