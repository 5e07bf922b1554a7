"""Cross coverage and fragility: how many facilities cover each worker, and which matter most.

The ACFTU "Double 15" programme asks for cross coverage (交叉覆盖) in major cities: a
worker inside the circle of two stations still has one when the other closes.

- :func:`cover_counts`: for every demand row, the number of facilities within the
  threshold (``n_covering``; ``cover_class`` 0, 1, 2+) and, for rows covered once, the
  facility that covers them (``sole_id``).
- :func:`redundancy_by_area`: per area, the people covered twice or more, once, not at all.
- :func:`criticality`: for every facility, the people who lose coverage if it alone
  closes: the people covered by exactly one facility, grouped by that facility. All
  facilities at once from one pair search, never one coverage run per facility.

Distances are straight-line ground metres: one bounded two-nearest KD-tree query in the
UTM zone of the data, with the UTM scale correction of :func:`geo.coverage` (whose nearest
facility is the first of the two, so "covered" agrees with it row for row). Counting
stops at two: 0, 1 and "2+" is all cross coverage and criticality need, and it keeps a
city (10,000 stations, a million demand points) under two seconds, where listing every
pair within reach (:func:`geo.access.distance_pairs`) takes several. Route-rule types
(driver homes, covered along freight routes) are not radius questions and are refused.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pykdtree.kdtree import KDTree

from geo._metric import (
    check_pair,
    ground_m,
    metric_points,
    resolve_type,
    select_for_type,
    threshold_for,
    utm_scale_max,
)
from geo.errors import ValidationError

COVER_CLASSES = ("0", "1", "2+")


def area_positions(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame):
    """``(areas, point_pos, area_pos)``: each point in each area it lies in, once per level.

    A point on the shared edge of two areas of one level counts in the first only.
    """
    from geo.crs import same_crs

    same_crs(("points", points), ("areas", areas))
    a = areas.reset_index(drop=True)
    pt_i, area_i = a.sindex.query(points.geometry.to_numpy(), predicate="intersects")
    level = a["level"].to_numpy()[area_i] if "level" in a.columns else np.zeros(len(area_i))
    first = ~pd.DataFrame({"p": pt_i, "l": level}).duplicated().to_numpy()
    return a, pt_i[first], area_i[first]


def _two_nearest(facilities, demand, facility_type, threshold_m, groups, registry):
    """Per demand row, the facilities within the threshold: 0, 1 or 2 (two or more), and
    the only one (-1 unless exactly one); with the kept layers, the ids and the attrs.

    One KD-tree query of the two nearest facilities (``pykdtree``, OpenMP-parallel,
    bounded by the threshold) in the UTM zone of the data, grid distances corrected to
    ground metres as in :func:`geo.coverage`, whose nearest facility is the first of them.
    """
    crs_in = check_pair(facilities, demand)
    ftype = resolve_type(facility_type, registry)
    if ftype is not None and ftype.rule == "route":
        raise ValidationError(
            f"facility_type={ftype.key!r} is covered along freight routes (rule 'route'); "
            "cross coverage counts facilities within a radius, so use a radius type"
        )
    facilities, demand, fac_ids = select_for_type(facilities, demand, ftype, groups)
    threshold = threshold_for(ftype, threshold_m)
    n = np.zeros(len(demand), dtype=np.int64)
    sole = np.full(len(demand), -1, dtype=np.int64)
    if len(facilities) and len(demand):
        crs, fac_xy, dem_xy = metric_points(facilities, demand, crs_in)
        # ground = grid / k, k <= the largest scale factor: search the grid radius that
        # can hold a ground distance of threshold, then keep the exact ground distances
        k = max(utm_scale_max(fac_xy, crs), utm_scale_max(dem_xy, crs), 1.0)
        kk = min(2, len(fac_xy))
        grid, idx = KDTree(fac_xy).query(
            dem_xy, k=kk, distance_upper_bound=threshold * k * (1 + 1e-12)
        )
        grid = grid.reshape(len(dem_xy), kk)
        idx = idx.reshape(len(dem_xy), kk).astype(np.int64)
        for c in range(kk):
            found = idx[:, c] < len(fac_xy)
            d = np.full(len(dem_xy), np.inf)
            d[found] = ground_m(grid[found, c], dem_xy[found, 0], fac_xy[idx[found, c], 0], crs)
            within = d <= threshold
            n += within
            if c == 0:
                sole = np.where(within, idx[:, 0], -1)
        sole[n != 1] = -1
    attrs = {
        "facility_type": ftype.key if ftype else None,
        "threshold_m": threshold,
        "method": "straight-line distance",
        "n_facilities": len(facilities),
    }
    return facilities, demand, fac_ids, n, sole, attrs


def cover_counts(
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    facility_type: str | None = None,
    threshold_m: float | None = None,
    groups: list[str] | tuple[str, ...] | None = None,
    registry: dict | None = None,
) -> gpd.GeoDataFrame:
    """How many facilities lie within the threshold of every demand row.

    Parameters are those of :func:`geo.coverage` (straight line only).

    Returns
    -------
    GeoDataFrame
        The kept demand rows plus ``n_covering`` (0, 1, or 2 for "two or more": the
        search stops at the second facility), ``cover_class`` (categorical
        ``"0"``, ``"1"``, ``"2+"``) and ``sole_id`` (categorical over the facility ids:
        the only facility within reach, missing unless ``n_covering == 1``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> fac = gpd.GeoDataFrame({"id": ["a", "b"]}, crs=32651,
    ...     geometry=[Point(500_000, 3_300_000), Point(501_500, 3_300_000)])
    >>> dem = gpd.GeoDataFrame({"weight": [5.0, 7.0, 1.0]}, crs=32651, geometry=[
    ...     Point(500_750, 3_300_000), Point(499_500, 3_300_000), Point(495_000, 3_300_000)])
    >>> res = cover_counts(fac, dem, threshold_m=1000)
    >>> res["n_covering"].tolist(), res["sole_id"].tolist()
    ([2, 1, 0], [nan, 'a', nan])
    """
    _, demand, fac_ids, n, sole, attrs = _two_nearest(
        facilities, demand, facility_type, threshold_m, groups, registry
    )
    out = demand.copy()
    out["n_covering"] = n
    out["cover_class"] = pd.Categorical.from_codes(np.minimum(n, 2), categories=COVER_CLASSES)
    out["sole_id"] = pd.Categorical.from_codes(sole, categories=pd.Index(fac_ids))
    out.attrs = {**attrs, "facility_ids": list(fac_ids)}
    return out


def redundancy_by_area(result: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> pd.DataFrame:
    """People per area by how many facilities cover them (a :func:`cover_counts` result).

    Returns
    -------
    DataFrame
        ``area_id``, ``name``, ``level``, ``people``, ``uncovered``, ``single``
        (covered by exactly one), ``double`` (two or more), ``covered_share`` and
        ``double_share`` (of the area's people); lowest ``double_share`` first.
    """
    for col in ("weight", "n_covering"):
        if col not in result.columns:
            raise ValueError(f"result lacks {col!r}; pass the output of cover_counts()")
    a, pt_i, area_i = area_positions(result, areas)
    w = result["weight"].to_numpy(dtype="float64")[pt_i]
    n = result["n_covering"].to_numpy()[pt_i]
    df = pd.DataFrame(
        {
            "area_id": a["id"].astype(str) if "id" in a.columns else a.index.astype(str),
            "name": a["name"] if "name" in a.columns else "",
            "level": a["level"] if "level" in a.columns else "",
        }
    )
    df["people"] = np.bincount(area_i, weights=w, minlength=len(a))
    for name, sel in (("uncovered", n == 0), ("single", n == 1), ("double", n >= 2)):
        df[name] = np.bincount(area_i, weights=np.where(sel, w, 0.0), minlength=len(a))
    with np.errstate(invalid="ignore", divide="ignore"):
        people = df["people"].to_numpy()
        df["covered_share"] = np.where(people > 0, (people - df["uncovered"]) / people, np.nan)
        df["double_share"] = np.where(people > 0, df["double"] / people, np.nan)
    return df.sort_values(["double_share", "people"], ascending=[True, False]).reset_index(
        drop=True
    )


def criticality(
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    facility_type: str | None = None,
    threshold_m: float | None = None,
    groups: list[str] | tuple[str, ...] | None = None,
    registry: dict | None = None,
) -> gpd.GeoDataFrame:
    """For every facility, the people who lose coverage if it alone closes; ranked.

    Equal to closing each facility in turn and recounting with :func:`geo.coverage`,
    but from one pair search: a person loses coverage exactly when the closed facility
    is the only one within reach.

    Returns
    -------
    GeoDataFrame
        One row per kept facility: ``id``, ``name``, ``people_sole`` (people covered by
        it and by no other facility: lost if it closes), ``rank`` (1 = most critical;
        ties share the lower rank) and the facility's geometry; most critical first.
        ``attrs``: ``people_single`` (everyone covered exactly once),
        ``people_covered``, ``people_total``, ``threshold_m``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> fac = gpd.GeoDataFrame({"id": ["a", "b"]}, crs=32651,
    ...     geometry=[Point(500_000, 3_300_000), Point(501_500, 3_300_000)])
    >>> dem = gpd.GeoDataFrame({"weight": [5.0, 7.0, 1.0]}, crs=32651, geometry=[
    ...     Point(500_750, 3_300_000), Point(499_500, 3_300_000), Point(502_000, 3_300_000)])
    >>> criticality(fac, dem, threshold_m=1000)[["id", "people_sole", "rank"]].values.tolist()
    [['a', 7.0, 1], ['b', 1.0, 2]]
    """
    facilities, demand, fac_ids, n, sole, attrs = _two_nearest(
        facilities, demand, facility_type, threshold_m, groups, registry
    )
    m = len(fac_ids)
    w = demand["weight"].to_numpy(dtype="float64")
    once = sole >= 0
    people_sole = np.bincount(sole[once], weights=w[once], minlength=m)
    out = gpd.GeoDataFrame(
        {
            "id": fac_ids,
            "name": facilities["name"].astype(str).to_numpy() if "name" in facilities else fac_ids,
            "people_sole": people_sole,
        },
        geometry=facilities.geometry.to_numpy(),
        crs=facilities.crs,
    )
    out["rank"] = out["people_sole"].rank(method="min", ascending=False).astype(np.int64)
    order = np.lexsort((out["id"].to_numpy(), -out["people_sole"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    out.attrs = {
        **attrs,
        "people_total": float(w.sum()),
        "people_covered": float(w[n > 0].sum()),
        "people_single": float(w[once].sum()),
    }
    return out


__all__ = ["COVER_CLASSES", "cover_counts", "criticality", "redundancy_by_area"]
