"""The privacy rule: what may be published about people outside the planner side.

Riders' and drivers' positions and small workplaces' headcounts are personal data (China's
PIPL). Anything derived from demand and shown to someone who is not a signed-in planner
passes through :func:`publish_summary`, which applies one rule:

1. **Small counts are withheld.** A count of people under ``k`` (default 10) is published
   as 0 and marked withheld; a gap cell under ``k`` is not shown (:func:`round_people`).
2. **Counts are rounded to a base of k**, as statistics offices publish small-area counts:
   a count ``x >= k`` is published as the multiple of ``k`` nearest to it (halves up).
3. **A what-if is published as a change from its baseline.** The baseline is the same
   facility type and threshold with no site switched off or added. Each figure of a
   scenario (the totals, every area, every facility's load, every gap cell) is published
   as ``publish(baseline) + publish(change)``, where a change of fewer than ``k`` people
   is published as no change (:func:`published_change`). So the difference between any
   what-if answer and its baseline — "with and without an added site" — is either zero or
   a rounded figure about at least ``k`` people: a site added on a workplace of 9 people,
   with a 1 m threshold, changes nothing that is published.
4. **Gap cells keep the baseline's layout.** The cells shown are those of the baseline
   after the privacy floor (:func:`geo.demand.apply_privacy_floor`: small cells merged
   into their parents); a scenario's uncovered people are summed into the same cells, so
   the layout itself cannot reveal a small change.

Shares are computed from the published counts, so they carry nothing more.

What the rule does not promise: two *different* what-ifs, each compared with the
baseline, are each safe, but their difference is a difference of two rounded figures, so
a determined adversary combining many scenarios near a rounding boundary can still learn
coarse facts (of the order of ``k`` people). Exact figures are for signed-in planners only.

Examples
--------
>>> round_people([0, 4, 9.5, 10, 14.9, 15, 96], k=10).tolist()
[0.0, 0.0, 0.0, 10.0, 10.0, 20.0, 100.0]
>>> published_change([100, 100, 100], [109, 111, 91], k=10).tolist()
[100.0, 110.0, 100.0]
"""

from __future__ import annotations

import dataclasses
import math

import geopandas as gpd
import h3
import numpy as np
import pandas as pd

from geo.coverage import CoverageSummary
from geo.errors import ValidationError

DEFAULT_K = 10.0


def check_k(k: float) -> float:
    """``k`` as a float, or a ValidationError naming it."""
    if isinstance(k, bool) or not isinstance(k, int | float) or not math.isfinite(k) or k < 0:
        raise ValidationError(f"privacy k={k!r} must be a number of people >= 0 (default 10)")
    return float(k)


def round_people(values, *, k: float = DEFAULT_K) -> np.ndarray:
    """Counts of people as published: under ``k`` -> 0, else the nearest multiple of ``k``.

    ``k = 0`` publishes the counts unchanged (no floor).
    """
    k = check_k(k)
    x = np.asarray(values, dtype="float64")
    if k == 0:
        return x.copy()
    out = k * np.floor(np.abs(x) / k + 0.5)
    out = np.where(np.abs(x) < k, 0.0, out)
    return np.sign(x) * out + 0.0  # + 0.0: no negative zeros


def published_change(base, now, *, k: float = DEFAULT_K) -> np.ndarray:
    """A scenario's figures as published: the baseline's, plus the rounded change.

    A change of fewer than ``k`` people in either direction is published as none.
    """
    base = np.asarray(base, dtype="float64")
    now = np.asarray(now, dtype="float64")
    return round_people(base, k=k) + round_people(now - base, k=k)


def _keyed_change(base: pd.Series, now: pd.Series, k: float) -> pd.Series:
    """:func:`published_change` for figures keyed by id (a missing key counts as 0)."""
    b = base.groupby(level=0).sum()
    n = now.groupby(level=0).sum()
    b = b.reindex(n.index, fill_value=0.0)
    return pd.Series(published_change(b.to_numpy(), n.to_numpy(), k=k), index=n.index)


def _ancestors(cell: str, shown: set[str], max_up: int) -> str | None:
    res = h3.get_resolution(cell)
    for up in range(max_up + 1):
        if res - up < 0:
            break
        c = cell if up == 0 else h3.cell_to_parent(cell, res - up)
        if c in shown:
            return c
    return None


def gap_layout(
    demand: gpd.GeoDataFrame, *, resolution: int = 8, k: float = DEFAULT_K, max_up: int = 3
) -> gpd.GeoDataFrame:
    """The cells gaps may be shown in: all of ``demand`` on the H3 grid, privacy-floored.

    The layout depends on where people are, not on who is covered, so it is the same for
    every scenario (rule 4): a cell is in it when at least ``k`` people live or work in it
    (small cells merged into their parents, up to ``max_up`` levels).
    """
    from geo.demand import apply_privacy_floor, to_h3

    cells = to_h3(demand, resolution=resolution, by=())
    layout = apply_privacy_floor(cells, k=k, max_up=max_up)
    # the fine cells it was made of: a merged cell is drawn as their union
    layout.attrs["fine_cells"] = tuple(cells["h3"])
    return layout


def _published_gaps(
    summary: CoverageSummary,
    baseline: CoverageSummary,
    layout: gpd.GeoDataFrame | None,
    k: float,
    max_up: int,
) -> gpd.GeoDataFrame:
    """Gap cells in a fixed, floored layout, with published people (rule 4)."""
    from geo.demand import apply_privacy_floor

    def as_cells(gaps: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        frame = gaps.rename(columns={"people": "weight"})
        if "n" not in frame.columns:
            frame = frame.assign(n=1)
        return frame[["h3", "weight", "n", frame.geometry.name]]

    if layout is None:
        layout = apply_privacy_floor(as_cells(baseline.gaps), k=k, max_up=max_up)
    layout = layout[["h3", "resolution", layout.geometry.name]]
    shown = set(layout["h3"])

    def into_layout(gaps: gpd.GeoDataFrame) -> pd.Series:
        target = [_ancestors(str(c), shown, max_up) for c in gaps["h3"]]
        s = pd.Series(gaps["people"].to_numpy(dtype="float64"), index=target)
        return s[s.index.notna()].groupby(level=0).sum()

    index = pd.Index(layout["h3"].to_numpy())
    base_people = into_layout(baseline.gaps).reindex(index, fill_value=0.0)
    now_people = into_layout(summary.gaps).reindex(index, fill_value=0.0)
    people = _keyed_change(base_people, now_people, k)
    out = layout.assign(people=people.reindex(index).to_numpy())
    out = out[out["people"] >= max(k, 1e-9)]
    out = out.sort_values(["people", "h3"], ascending=[False, True]).reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry=layout.geometry.name, crs=layout.crs)


def publish_summary(
    summary: CoverageSummary,
    *,
    baseline: CoverageSummary | None = None,
    k: float = DEFAULT_K,
    layout: gpd.GeoDataFrame | None = None,
    max_up: int = 3,
) -> CoverageSummary:
    """The coverage summary as it may be shown outside the planner side (module docs).

    Parameters
    ----------
    summary : CoverageSummary
        Exact figures of a scenario, from :func:`geo.coverage_summary`.
    baseline : CoverageSummary, optional
        The same type and threshold with no what-if changes (``None``: ``summary`` is the
        baseline).
    k : float
        The privacy floor: fewest people a published figure may be about.
    layout : GeoDataFrame, optional
        The cells gaps are shown in (:func:`gap_layout` of the type's demand, the same for
        every scenario); default: the baseline's gap cells, privacy-floored.
    max_up : int
        How many H3 levels a small gap cell may be merged up.

    Returns
    -------
    CoverageSummary
        The same shape, every count of people published by the rule; ``gaps`` holds the
        shown cells (``h3``, ``people``, ``resolution``, hexagon) and
        ``extra["privacy"]`` states the rule (``k``, ``withheld_people``, ``rounded_to``).
    """
    k = check_k(k)
    base = summary if baseline is None else baseline
    if base.facility_type != summary.facility_type:
        raise ValidationError(
            f"baseline is for {base.facility_type!r}, the scenario for {summary.facility_type!r}"
        )
    total = float(round_people(summary.people_total, k=k))
    covered = float(published_change(base.people_covered, summary.people_covered, k=k))
    covered = min(max(covered, 0.0), total)

    areas = summary.by_area.copy()
    if len(areas):
        key = areas["area_id"].astype(str)
        base_areas = base.by_area.set_index(base.by_area["area_id"].astype(str))
        people = round_people(areas["people"].to_numpy(), k=k)
        cov = (
            _keyed_change(
                base_areas["covered"], pd.Series(areas["covered"].to_numpy(), index=key), k
            )
            .reindex(key)
            .to_numpy()
        )
        cov = np.clip(cov, 0.0, people)
        areas["people"], areas["covered"] = people, cov
        areas["uncovered"] = people - cov
        with np.errstate(invalid="ignore", divide="ignore"):
            areas["covered_share"] = np.where(people > 0, cov / people, np.nan)
        areas = areas.sort_values(["uncovered", "people"], ascending=[False, False])
        areas = areas.reset_index(drop=True)

    loads = summary.loads.copy()
    if len(loads):
        ids = loads["id"].astype(str)
        base_loads = base.loads.set_index(base.loads["id"].astype(str))
        for col in ("people_nearest", "people_covered"):
            now = pd.Series(loads[col].to_numpy(dtype="float64"), index=ids)
            loads[col] = _keyed_change(base_loads[col], now, k).reindex(ids).to_numpy()
        cap = loads["capacity"].astype("float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            loads["load_ratio"] = loads["people_covered"] / cap.where(cap > 0)

    gaps = _published_gaps(summary, base, layout, k, max_up)
    uncovered = total - covered
    withheld = max(0.0, uncovered - float(gaps["people"].sum()))
    extra = {
        **summary.extra,
        "privacy": {
            "k": k,
            "rounded_to": k,
            "withheld_people": withheld,
            "rule": "counts under k withheld; others rounded to a multiple of k; a what-if "
            "is its baseline plus the rounded change (changes under k not shown)",
        },
    }
    return dataclasses.replace(
        summary,
        people_total=total,
        people_covered=covered,
        covered_share=covered / total if total > 0 else float("nan"),
        by_area=areas,
        loads=loads,
        gaps=gaps,
        extra=extra,
    )


__all__ = [
    "DEFAULT_K",
    "check_k",
    "gap_layout",
    "publish_summary",
    "published_change",
    "round_people",
]
