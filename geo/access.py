"""Capacity-aware accessibility (the 2SFCA family) and how fairly it is shared.

Coverage (:mod:`geo.coverage`) asks "is there a station within 1 km?". Accessibility asks
"how much station is there per worker, once everyone nearby shares it?": the two-step
floating catchment area (2SFCA) of Luo and Wang (2003) divides each facility's capacity
among the people within its catchment, then sums those ratios for every demand row.

- :func:`accessibility`: 2SFCA, enhanced 2SFCA (stepped or Gaussian distance decay) or a
  gravity score for every demand row, from GeoDataFrames or from a sparse cost matrix
  (network travel times plug in through ``cost=``).
- :func:`fca_from_cost`: the numeric core on a sparse (demand x facility) cost matrix.
- :func:`distance_pairs`: the sparse within-threshold pairs, in ground metres.
- :func:`access_by_area`, :func:`equity`, :func:`gini`, :func:`lorenz_curve`: the same
  values summarised per sub-district and per demand group, with the Gini index and the
  Lorenz curve of accessibility across workers.

Everything runs on the sparse pairs within the threshold (a KD-tree ball query, as many
pairs as there are people near facilities), never on a dense demand x facility table.
The definitions follow the ``access`` package (``access.fca.two_stage_fca`` and
``access.weights``) exactly; the tests check values to 1e-9 against it.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from geo._metric import (
    check_pair,
    pairs_within,
    pairs_within_xy,
    resolve_type,
    select_for_type,
    threshold_for,
    wgs84_points,
)
from geo.crs import same_crs
from geo.errors import ValidationError

log = logging.getLogger(__name__)

METHODS = ("2sfca", "e2sfca", "gravity")
DECAYS = ("none", "step", "gaussian", "gravity")
# Luo and Qi's (2009) E2SFCA steps (10/20/30 minutes -> 1, 0.68, 0.22), as shares of the
# threshold; the access package's default weight function for enhanced_two_stage_fca.
E2SFCA_STEPS = ((1 / 3, 1.0), (2 / 3, 0.68), (1.0, 0.22))


# --------------------------------------------------------------------------- pairs
def _pairs_xy(
    fac_xy: np.ndarray, dem_xy: np.ndarray, crs, max_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(demand row, facility, geodesic metres) of every pair within ``max_m``, row-sorted.

    For coordinates in a metric ``crs`` (siting's); the metric of
    :func:`geo.coverage.coverage` (:func:`geo._metric.pairs_within`), so accessibility,
    siting and coverage agree at any extent.
    """
    return pairs_within_xy(fac_xy, dem_xy, crs, max_m)


def _to_csr(rows, cols, vals, shape) -> sp.csr_array:
    """CSR from row-sorted pairs, built from its arrays so that zero costs stay stored."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_array((np.asarray(vals), np.asarray(cols), indptr), shape=shape)


def distance_pairs(
    facilities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, *, max_m: float
) -> sp.csr_array:
    """Straight-line ground metres of every (demand row, facility) pair within ``max_m``.

    WGS84 geodesic metres, as in :func:`geo.coverage.coverage`: a ball query on 3-D unit
    vectors with a proven margin, then the exact test (:func:`geo._metric.pairs_within`);
    only the pairs within reach are stored.

    Parameters
    ----------
    facilities, demand : GeoDataFrame
        Point layers in the same CRS.
    max_m : float
        Largest distance kept, metres.

    Returns
    -------
    scipy.sparse.csr_array
        Shape ``(len(demand), len(facilities))``. The *stored* entries are the pairs
        within reach; a stored zero is a pair at distance 0 (a worker at the door), so
        read ``.indptr`` / ``.indices`` / ``.data`` rather than ``.nonzero()``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> fac = gpd.GeoDataFrame({"id": ["a", "b"]}, crs=32651,
    ...     geometry=[Point(500_000, 3_300_000), Point(503_000, 3_300_000)])
    >>> dem = gpd.GeoDataFrame({"weight": [1.0, 1.0]}, crs=32651,
    ...     geometry=[Point(500_000, 3_300_000), Point(501_000, 3_300_000)])
    >>> m = distance_pairs(fac, dem, max_m=1500)
    >>> m.indptr.tolist(), m.indices.tolist(), m.data.round(1).tolist()
    ([0, 1, 2], [0, 0], [0.0, 1000.4])
    """
    if not (isinstance(max_m, int | float) and math.isfinite(max_m) and max_m > 0):
        raise ValueError(f"max_m must be a positive number of metres, got {max_m!r}")
    crs_in = check_pair(facilities, demand)
    rows, cols, dist = pairs_within(*wgs84_points(facilities, demand, crs_in), float(max_m))
    return _to_csr(rows, cols, dist, (len(demand), len(facilities)))


def _pairs_from_cost(cost, max_cost: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored pairs of a sparse cost matrix (or finite entries of a dense one)."""
    if sp.issparse(cost):
        coo = sp.coo_array(cost)  # keeps explicit zeros: they are pairs at cost 0
        rows, cols, vals = (
            coo.row.astype(np.int64),
            coo.col.astype(np.int64),
            coo.data.astype(np.float64),
        )
    else:
        arr = np.asarray(cost, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"cost must be a 2-D matrix, got shape {arr.shape!r}")
        rows, cols = np.nonzero(np.isfinite(arr))
        vals = arr[rows, cols]
    if np.isnan(vals).any() or (vals < 0).any():
        raise ValueError("cost holds negative or NaN entries; costs are metres or seconds >= 0")
    if max_cost is not None:
        keep = vals <= max_cost
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    return rows, cols, vals


# --------------------------------------------------------------------------- decay
def decay_weights(
    cost: np.ndarray,
    *,
    decay: str = "none",
    steps: Mapping[float, float] | None = None,
    sigma: float | None = None,
    beta: float = 1.5,
    min_cost: float = 1.0,
) -> np.ndarray:
    """Distance-decay weight of each cost, as the ``access`` package defines it.

    - ``"none"``: 1 (plain 2SFCA).
    - ``"step"``: ``steps[k]`` for the smallest ``k >= cost``, 0 beyond the largest ``k``
      (``access.weights.step_fn``).
    - ``"gaussian"``: ``exp(-cost**2 / (2 sigma**2))``, 1 at cost 0
      (``access.weights.gaussian``).
    - ``"gravity"``: ``max(cost, min_cost) ** -beta`` (``access.weights.gravity`` with
      ``scale=1, alpha=-beta``; the scale cancels out of every 2SFCA ratio).

    Examples
    --------
    >>> decay_weights(np.array([0.0, 10, 25, 40]), decay="step",
    ...               steps={10: 1, 20: 0.68, 30: 0.22}).tolist()
    [1.0, 1.0, 0.22, 0.0]
    >>> decay_weights(np.array([0.0, 20.0]), decay="gaussian", sigma=20).round(4).tolist()
    [1.0, 0.6065]
    """
    c = np.asarray(cost, dtype=np.float64)
    if decay == "none":
        return np.ones_like(c)
    if decay == "step":
        if not steps:
            raise ValueError("decay='step' needs steps={cost: weight, ...}")
        keys = np.array(sorted(steps), dtype=np.float64)
        vals = np.array([steps[k] for k in sorted(steps)], dtype=np.float64)
        if (vals < 0).any():
            raise ValueError(f"step weights must be >= 0, got {dict(steps)!r}")
        idx = np.searchsorted(keys, c, side="left")  # first key with cost <= key
        return np.where(idx < len(keys), vals[np.minimum(idx, len(keys) - 1)], 0.0)
    if decay == "gaussian":
        if not sigma or sigma <= 0:
            raise ValueError(f"decay='gaussian' needs sigma > 0, got {sigma!r}")
        return np.exp(-c * c / (2 * sigma**2))
    if decay == "gravity":
        if beta < 0 or min_cost <= 0:
            raise ValueError(
                f"gravity needs beta >= 0 and min_cost > 0, got {beta!r}, {min_cost!r}"
            )
        return np.power(np.maximum(c, min_cost), -float(beta))
    raise ValueError(f"decay={decay!r} is not known; use one of {DECAYS}")


# --------------------------------------------------------------------------- core
def fca_from_cost(
    cost,
    demand_weight,
    supply,
    *,
    max_cost: float | None = None,
    decay: str = "none",
    steps: Mapping[float, float] | None = None,
    sigma: float | None = None,
    beta: float = 1.5,
    min_cost: float = 1.0,
    return_ratio: bool = False,
):
    """Two-step floating catchment accessibility on a sparse (demand x facility) cost matrix.

    Step 1, every facility ``j``: ``R_j = S_j / sum_i P_i f(d_ij)``. Step 2, every demand row
    ``i``: ``A_i = sum_j R_j f(d_ij)``; sums run over the pairs with ``d_ij <= max_cost``
    and ``f`` is :func:`decay_weights`. This is ``access.fca.two_stage_fca`` with its
    ``weight_fn``, with two stated differences: a demand row with no facility in reach gets
    0 (``access`` leaves it out, NaN), and a facility whose catchment holds no weighted
    demand shares nothing (``access`` divides by zero).

    Parameters
    ----------
    cost : scipy.sparse matrix or ndarray, shape (n_demand, n_facilities)
        Travel cost (metres, or seconds from a road network). Sparse: the stored entries
        are the reachable pairs, explicit zeros included. Dense: ``inf``/``nan`` = none.
    demand_weight : array, shape (n_demand,)
        People at each demand row.
    supply : array, shape (n_facilities,)
        Capacity of each facility.
    max_cost : float, optional
        Catchment size: pairs costlier than this are dropped.
    decay, steps, sigma, beta, min_cost
        The distance-decay weight; see :func:`decay_weights`.
    return_ratio : bool
        Also return ``R`` (capacity per weighted person in each facility's catchment).

    Returns
    -------
    ndarray, or (ndarray, ndarray) with ``return_ratio``

    Examples
    --------
    Two workplaces of 10 and 30 people share one station of capacity 8:

    >>> fca_from_cost(np.array([[100.0], [300.0]]), [10, 30], [8], max_cost=500).tolist()
    [0.2, 0.2]
    """
    shape = cost.shape
    if len(shape) != 2:
        raise ValueError(f"cost must be 2-D, got shape {shape!r}")
    p = np.asarray(demand_weight, dtype=np.float64)
    s = np.asarray(supply, dtype=np.float64)
    if p.shape != (shape[0],) or s.shape != (shape[1],):
        raise ValueError(
            f"cost is {shape[0]} x {shape[1]} but demand_weight has shape {p.shape} and "
            f"supply {s.shape}; they must match its rows and columns"
        )
    if np.isnan(s).any():
        raise ValueError("supply holds NaN; fill unknown capacities first")
    rows, cols, vals = _pairs_from_cost(cost, max_cost)
    f = decay_weights(vals, decay=decay, steps=steps, sigma=sigma, beta=beta, min_cost=min_cost)
    catch = np.bincount(cols, weights=p[rows] * f, minlength=shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(catch > 0, s / catch, 0.0)
    acc = np.bincount(rows, weights=ratio[cols] * f, minlength=shape[0])
    return (acc, ratio) if return_ratio else acc


# --------------------------------------------------------------------------- adapter
def _capacities(facilities: gpd.GeoDataFrame, capacity) -> tuple[np.ndarray, str]:
    n = len(facilities)
    if isinstance(capacity, int | float) and not isinstance(capacity, bool):
        return np.full(n, float(capacity)), f"every facility counted as capacity {capacity:g}"
    if isinstance(capacity, str):
        if capacity not in facilities.columns:
            raise ValidationError(
                f"facilities has no {capacity!r} column; pass capacity=<number> to give "
                f"every facility the same capacity"
            )
        cap = pd.to_numeric(facilities[capacity], errors="coerce").to_numpy(dtype="float64")
    else:
        cap = np.asarray(capacity, dtype="float64")
        if cap.shape != (n,):
            raise ValueError(f"capacity has shape {cap.shape}, expected ({n},)")
    if (cap < 0).any():
        raise ValidationError("capacity holds negative values")
    missing = np.isnan(cap)
    note = "capacity from the facility layer"
    if missing.all():
        warnings.warn(
            "no facility has a capacity; each counts as 1 (accessibility = facilities per person)",
            stacklevel=3,
        )
        return np.ones(n), "capacity unknown: every facility counted as 1"
    if missing.any():
        fill = float(np.median(cap[~missing]))
        warnings.warn(
            f"{int(missing.sum())} of {n} facilities have no capacity; "
            f"using the median of the others ({fill:g})",
            stacklevel=3,
        )
        cap = np.where(missing, fill, cap)
        note += f"; {int(missing.sum())} unknown filled with the median {fill:g}"
    return cap, note


def accessibility(
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    facility_type: str | None = None,
    method: str = "2sfca",
    threshold_m: float | None = None,
    decay: str | None = None,
    steps: Mapping[float, float] | None = None,
    sigma_m: float | None = None,
    beta: float = 1.5,
    min_m: float = 50.0,
    capacity: str | float | np.ndarray = "capacity",
    groups: list[str] | tuple[str, ...] | None = None,
    cost=None,
    registry: dict | None = None,
) -> gpd.GeoDataFrame:
    """Capacity-aware accessibility of every demand row: 2SFCA, enhanced 2SFCA or gravity.

    Parameters
    ----------
    facilities, demand : GeoDataFrame
        As for :func:`geo.coverage.coverage` (same CRS; ``weight`` on the demand).
    facility_type : str, optional
        Registry key: keeps that type's facilities and the demand group it serves, and
        gives the default threshold.
    method : {"2sfca", "e2sfca", "gravity"}
        ``"2sfca"``: everyone within the threshold shares equally. ``"e2sfca"``: shares
        weighted by distance decay, stepped (default: Luo and Qi's 1 / 0.68 / 0.22 at a
        third, two thirds and all of the threshold) or Gaussian (``decay="gaussian"``,
        ``sigma_m``, default half the threshold). ``"gravity"``: weights
        ``max(d, min_m) ** -beta`` within the threshold (Shen's gravity accessibility).
    threshold_m : float, optional
        Catchment radius in metres (or in the unit of ``cost``); default the type's.
    decay, steps, sigma_m, beta, min_m
        Distance-decay options, see :func:`decay_weights`. ``steps`` keys are metres.
    capacity : str, float or array
        Column of facility capacities (default ``"capacity"``; unknown values are filled
        with the median, with a warning), one number for all, or an array.
    groups : sequence of str, optional
        Demand groups to keep (overrides the type's group).
    cost : sparse matrix, optional
        A precomputed (demand x facility) cost matrix over the rows and facilities *kept*
        (e.g. road-network travel times, stored entries = reachable pairs); replaces the
        straight-line distances.

    Returns
    -------
    GeoDataFrame
        The kept demand rows plus ``access`` (capacity per person reachable; 0 when no
        facility is within reach), ``reachable`` (facilities within the threshold) and
        ``covered`` (at least one). ``attrs`` records the method and its parameters.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> fac = gpd.GeoDataFrame({"id": ["a"], "capacity": [10.0]}, crs=32651,
    ...                        geometry=[Point(500_000, 3_300_000)])
    >>> dem = gpd.GeoDataFrame({"weight": [20.0, 30.0, 5.0]}, crs=32651, geometry=[
    ...     Point(500_300, 3_300_000), Point(500_000, 3_300_800), Point(505_000, 3_300_000)])
    >>> accessibility(fac, dem, threshold_m=1000)["access"].tolist()
    [0.2, 0.2, 0.0]
    """
    from geo import scale  # a dask_geopandas frame of demand runs partitioned (geo/scale.py)

    if scale.is_dask(demand):
        return scale.accessibility(
            facilities, demand, facility_type=facility_type, method=method,
            threshold_m=threshold_m, decay=decay, steps=steps, sigma_m=sigma_m, beta=beta,
            min_m=min_m, capacity=capacity, groups=groups, cost=cost, registry=registry,
        )  # fmt: skip
    crs_in = check_pair(facilities, demand)
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not known; use one of {METHODS}")
    ftype = resolve_type(facility_type, registry)
    facilities, demand, _ = select_for_type(facilities, demand, ftype, groups)
    threshold_m = threshold_for(ftype, threshold_m)
    if "weight" not in demand.columns:
        raise ValidationError("demand has no 'weight' column; load it with load_demand()")

    if decay is None:
        decay = {"2sfca": "none", "e2sfca": "step", "gravity": "gravity"}[method]
    if method == "2sfca" and decay != "none":
        raise ValueError("method='2sfca' has no decay; use method='e2sfca' with decay=")
    if method == "e2sfca" and decay not in ("step", "gaussian"):
        raise ValueError(f"method='e2sfca' takes decay='step' or 'gaussian', not {decay!r}")
    if method == "gravity" and decay != "gravity":
        raise ValueError(f"method='gravity' takes decay='gravity', not {decay!r}")
    if decay == "step" and steps is None:
        steps = {threshold_m * k: v for k, v in E2SFCA_STEPS}
    if decay == "gaussian" and sigma_m is None:
        sigma_m = threshold_m / 2.0

    supply, cap_note = _capacities(facilities, capacity)
    if cost is None:
        fac_ll, dem_ll = wgs84_points(facilities, demand, crs_in)
        rows, cols, dist = pairs_within(fac_ll, dem_ll, float(threshold_m))
        cost = _to_csr(rows, cols, dist, (len(demand), len(facilities)))
        how = "straight-line distance"
    else:
        if cost.shape != (len(demand), len(facilities)):
            raise ValueError(
                f"cost is {cost.shape[0]} x {cost.shape[1]} but {len(demand)} demand rows and "
                f"{len(facilities)} facilities are kept; build it over the kept rows"
            )
        how = "given cost matrix"
    weight = demand["weight"].to_numpy(dtype="float64")
    acc = fca_from_cost(
        cost,
        weight,
        supply,
        max_cost=threshold_m,
        decay=decay,
        steps=steps,
        sigma=sigma_m,
        beta=beta,
        min_cost=min_m,
    )
    rows, _, _ = _pairs_from_cost(cost, threshold_m)
    reach = np.bincount(rows, minlength=len(demand))
    out = demand.copy()
    out["access"] = acc
    out["reachable"] = reach.astype(np.int64)
    out["covered"] = reach > 0
    out.attrs = {
        "facility_type": ftype.key if ftype else None,
        "method": method,
        "decay": decay,
        "threshold_m": float(threshold_m),
        "steps": dict(steps) if steps else None,
        "sigma_m": sigma_m,
        "beta": beta if decay == "gravity" else None,
        "distance": how,
        "capacity": cap_note,
        "n_facilities": len(facilities),
    }
    return out


# --------------------------------------------------------------------------- equity
def _weighted(values, weights) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values, dtype=np.float64).ravel()
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if v.shape != w.shape:
        raise ValueError(f"values ({v.shape}) and weights ({w.shape}) differ in length")
    if np.isnan(v).any() or np.isnan(w).any() or (w < 0).any():
        raise ValueError("values and weights must be numbers, weights >= 0")
    keep = w > 0
    return v[keep], w[keep]


def lorenz_curve(values, weights=None) -> pd.DataFrame:
    """The Lorenz curve of ``values`` over people (``weights``).

    Returns
    -------
    DataFrame
        ``population_share`` and ``value_share``, cumulative, from (0, 0) to (1, 1), people
        ordered from the least to the most accessibility.

    Examples
    --------
    >>> lorenz_curve([0, 1, 3]).round(3).values.tolist()
    [[0.0, 0.0], [0.333, 0.0], [0.667, 0.25], [1.0, 1.0]]
    """
    v, w = _weighted(values, weights)
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    pop = np.concatenate([[0.0], np.cumsum(w)])
    val = np.concatenate([[0.0], np.cumsum(v * w)])
    pop = pop / pop[-1] if len(v) and pop[-1] > 0 else pop
    val = val / val[-1] if len(v) and val[-1] > 0 else np.linspace(0, 1, len(val))
    return pd.DataFrame({"population_share": pop, "value_share": val})


def gini(values, weights=None) -> float:
    """Gini index of ``values`` across people (``weights``): 0 equal, towards 1 unequal.

    ``1 - sum_k p_k (L_k-1 + L_k)``, one minus twice the area under the Lorenz curve; with
    equal weights, the mean absolute difference over twice the mean.

    Examples
    --------
    >>> gini([2, 2, 2])
    0.0
    >>> gini([0, 0, 0, 1])
    0.75
    >>> gini([0, 1], weights=[3, 1])  # three people with nothing, one with everything
    0.75
    """
    v, w = _weighted(values, weights)
    if len(v) == 0 or (v * w).sum() <= 0:
        return float("nan") if len(v) == 0 else 0.0
    if (v < 0).any():
        raise ValueError("gini needs values >= 0")
    lc = lorenz_curve(v, w)
    p = np.diff(lc["population_share"].to_numpy())
    lv = lc["value_share"].to_numpy()
    return float(round(1.0 - np.sum(p * (lv[:-1] + lv[1:])), 12))


def _area_index(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame):
    """(row, area) positions of every point in every area; once per area level."""
    same_crs(("result", points), ("areas", areas))
    a = areas.reset_index(drop=True)
    pt_i, area_i = a.sindex.query(points.geometry.to_numpy(), predicate="intersects")
    level = a["level"].to_numpy()[area_i] if "level" in a.columns else np.zeros(len(area_i))
    first = ~pd.DataFrame({"p": pt_i, "lvl": level}).duplicated().to_numpy()
    return a, pt_i[first], area_i[first]


def _summary(df: pd.DataFrame, value: str) -> dict[str, float]:
    w = df["weight"].to_numpy(dtype="float64")
    v = df[value].to_numpy(dtype="float64")
    people = float(w.sum())
    out = {
        "people": people,
        "mean": float(np.average(v, weights=w)) if people > 0 else float("nan"),
        "gini": gini(v, w) if people > 0 else float("nan"),
    }
    if "covered" in df.columns:
        c = df["covered"].to_numpy(dtype=bool)
        out["covered_share"] = float(w[c].sum() / people) if people > 0 else float("nan")
    if people > 0:
        out["no_access_share"] = float(w[v <= 0].sum() / people)
    return out


def access_by_area(
    result: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, *, value: str = "access"
) -> pd.DataFrame:
    """People-weighted accessibility per area (sub-district, industrial community).

    Returns one row per area: ``area_id``, ``name``, ``level``, ``people``, ``mean``
    (people-weighted mean of ``value``), ``gini`` (within the area), ``covered_share``
    (when the result has ``covered``) and ``no_access_share``; worst mean first.
    """
    if value not in result.columns or "weight" not in result.columns:
        raise ValueError(f"result needs 'weight' and {value!r}; pass accessibility()'s output")
    a, pt_i, area_i = _area_index(result, areas)
    rows = []
    for k in range(len(a)):
        part = result.iloc[pt_i[area_i == k]]
        stats = _summary(part, value) if len(part) else {"people": 0.0}
        rows.append(
            {
                "area_id": str(a["id"].iloc[k]) if "id" in a.columns else str(k),
                "name": a["name"].iloc[k] if "name" in a.columns else "",
                "level": a["level"].iloc[k] if "level" in a.columns else "",
                **stats,
            }
        )
    df = pd.DataFrame(rows)
    for col in ("mean", "gini", "covered_share", "no_access_share"):
        if col not in df.columns:
            df[col] = np.nan
    return df.sort_values(["mean", "people"], ascending=[True, False]).reset_index(drop=True)


@dataclass
class EquitySummary:
    """How fairly accessibility (or coverage) is shared; see :func:`equity`."""

    value: str
    people: float
    mean: float
    gini: float
    covered_share: float | None
    by_group: pd.DataFrame
    by_area: pd.DataFrame
    lorenz: pd.DataFrame
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, lorenz_points: int = 21) -> dict[str, Any]:
        """JSON-ready: numbers rounded, the Lorenz curve resampled to ``lorenz_points``."""

        def num(x, nd=6):
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)

        grid = np.linspace(0, 1, lorenz_points)
        lz = np.interp(grid, self.lorenz["population_share"], self.lorenz["value_share"])

        def records(df):
            return [
                {k: (num(v) if isinstance(v, float) else v) for k, v in r.items()}
                for r in df.to_dict("records")
            ]

        return {
            "value": self.value,
            "people": num(self.people, 1),
            "mean": num(self.mean),
            "gini": num(self.gini, 4),
            "covered_share": num(self.covered_share, 4),
            "by_group": records(self.by_group),
            "by_area": records(self.by_area),
            "lorenz": [
                [round(float(a), 4), round(float(b), 4)] for a, b in zip(grid, lz, strict=True)
            ],
            **{k: v for k, v in self.attrs.items() if isinstance(v, str | int | float | None)},
        }


def equity(
    result: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame | None = None,
    *,
    value: str = "access",
    level: str | None = "subdistrict",
) -> EquitySummary:
    """Accessibility (or coverage) per demand group and per area, Gini and Lorenz curve.

    Parameters
    ----------
    result : GeoDataFrame
        :func:`accessibility`'s output (or :func:`geo.coverage.coverage`'s with
        ``value="covered"``): ``weight``, ``group`` and the ``value`` column.
    areas : GeoDataFrame, optional
        Areas to summarise by.
    value : str
        The column to measure: ``"access"`` (default) or ``"covered"``.
    level : str, optional
        Keep only areas of this ``level`` (default ``"subdistrict"``); None for all.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> res = gpd.GeoDataFrame({"weight": [1.0, 3.0], "group": ["outdoor", "outdoor"],
    ...     "access": [0.0, 0.4]}, geometry=[Point(0, 0), Point(1, 1)], crs=32651)
    >>> eq = equity(res)
    >>> round(eq.mean, 3), eq.gini
    (0.3, 0.25)
    """
    if value not in result.columns or "weight" not in result.columns:
        raise ValueError(f"result needs 'weight' and {value!r} columns")
    df = result.copy()
    df[value] = df[value].astype("float64")
    overall = _summary(df, value)
    if "group" in df.columns and len(df):
        by_group = pd.DataFrame(
            [{"group": g, **_summary(part, value)} for g, part in df.groupby("group", sort=True)]
        )
    else:
        by_group = pd.DataFrame(columns=["group", "people", "mean", "gini"])
    if areas is not None and len(areas):
        ars = areas
        if level is not None and "level" in areas.columns:
            ars = areas[areas["level"] == level]
        by_area = access_by_area(df, ars, value=value)
    else:
        by_area = pd.DataFrame(columns=["area_id", "name", "level", "people", "mean", "gini"])
    w = df["weight"].to_numpy(dtype="float64")
    return EquitySummary(
        value=value,
        people=overall["people"],
        mean=overall["mean"],
        gini=overall["gini"],
        covered_share=overall.get("covered_share"),
        by_group=by_group,
        by_area=by_area,
        lorenz=lorenz_curve(df[value].to_numpy(dtype="float64"), w)
        if len(df) and w.sum() > 0
        else pd.DataFrame({"population_share": [0.0, 1.0], "value_share": [0.0, 1.0]}),
        attrs=dict(result.attrs),
    )


__all__ = [
    "EquitySummary",
    "access_by_area",
    "accessibility",
    "decay_weights",
    "distance_pairs",
    "equity",
    "fca_from_cost",
    "gini",
    "lorenz_curve",
]
