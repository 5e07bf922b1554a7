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
    metric_points,
    pairs_within,
    pairs_within_xy,
    resolve_type,
    select_for_type,
    threshold_for,
    wgs84_points,
)
from geo._places import points_in_areas
from geo.errors import ValidationError, check_positive

log = logging.getLogger(__name__)

METHODS = ("2sfca", "e2sfca", "gravity", "3sfca", "catchment", "supply_ratio", "raam")
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
    max_m = check_positive(max_m, "max_m", "metres")
    crs_in = check_pair(facilities, demand)
    rows, cols, dist = pairs_within(*wgs84_points(facilities, demand, crs_in), float(max_m))
    return _to_csr(rows, cols, dist, (len(demand), len(facilities)))


def _pairs_from_cost(cost, max_cost: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored pairs of a sparse cost matrix (or finite entries of a dense one)."""
    if sp.issparse(cost) and cost.format == "csr":
        # CSR (what accessibility builds): its arrays read row by row, in storage order as
        # a COO conversion gives them, without that conversion's copies (13.7 million
        # pairs: 1.6 s); explicit zeros kept, they are pairs at cost 0
        rows = np.repeat(np.arange(cost.shape[0], dtype=np.int64), np.diff(cost.indptr))
        cols = cost.indices.astype(np.int64)
        vals = np.array(cost.data, dtype=np.float64)  # a copy: callers may work in place
    elif sp.issparse(cost):
        coo = sp.coo_array(cost)  # keeps explicit zeros: they are pairs at cost 0
        rows, cols, vals = (
            coo.row.astype(np.int64),
            coo.col.astype(np.int64),
            coo.data.astype(np.float64),
        )
    else:
        arr = np.asarray(cost, dtype=np.float64)
        if arr.ndim != 2:
            raise ValidationError(f"cost must be a 2-D matrix, got shape {arr.shape!r}")
        rows, cols = np.nonzero(np.isfinite(arr))
        vals = arr[rows, cols]
    if np.isnan(vals).any() or (vals < 0).any():
        raise ValidationError(
            "cost holds negative or NaN entries; costs are metres or seconds >= 0"
        )
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
            raise ValidationError("decay='step' needs steps={cost: weight, ...}")
        keys = np.array(sorted(steps), dtype=np.float64)
        vals = np.array([steps[k] for k in sorted(steps)], dtype=np.float64)
        if (vals < 0).any():
            raise ValidationError(f"step weights must be >= 0, got {dict(steps)!r}")
        idx = np.searchsorted(keys, c, side="left")  # first key with cost <= key
        return np.where(idx < len(keys), vals[np.minimum(idx, len(keys) - 1)], 0.0)
    if decay == "gaussian":
        if not sigma or sigma <= 0:
            raise ValidationError(f"decay='gaussian' needs sigma > 0, got {sigma!r}")
        return np.exp(-c * c / (2 * sigma**2))
    if decay == "gravity":
        if beta < 0 or min_cost <= 0:
            raise ValidationError(
                f"gravity needs beta >= 0 and min_cost > 0, got {beta!r}, {min_cost!r}"
            )
        return np.power(np.maximum(c, min_cost), -float(beta))
    raise ValidationError(f"decay={decay!r} is not known; use one of {DECAYS}")


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
    p, s = _check_shapes(cost, demand_weight, supply)
    shape = cost.shape
    rows, cols, vals = _pairs_from_cost(cost, max_cost)
    f = decay_weights(vals, decay=decay, steps=steps, sigma=sigma, beta=beta, min_cost=min_cost)
    catch = np.bincount(cols, weights=p[rows] * f, minlength=shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(catch > 0, s / catch, 0.0)
    acc = np.bincount(rows, weights=ratio[cols] * f, minlength=shape[0])
    return (acc, ratio) if return_ratio else acc


def _decayed_pairs(cost, max_cost, decay, steps, sigma, beta, min_cost):
    rows, cols, vals = _pairs_from_cost(cost, max_cost)
    f = decay_weights(vals, decay=decay, steps=steps, sigma=sigma, beta=beta, min_cost=min_cost)
    return rows, cols, vals, f


def three_stage_from_cost(
    cost,
    demand_weight,
    supply,
    *,
    max_cost: float | None = None,
    decay: str = "step",
    steps: Mapping[float, float] | None = None,
    sigma: float | None = None,
    beta: float = 1.5,
    min_cost: float = 1.0,
) -> np.ndarray:
    """Three-step floating catchment (3SFCA, Wan, Zou and Sternberg 2012).

    Each row spreads itself over the facilities in reach in proportion to their decay
    weight, ``G_ij = f_ij / sum_j' f_ij'``; then ``R_j = S_j / sum_i P_i f_ij G_ij`` and
    ``A_i = sum_j R_j f_ij G_ij``. This is ``access.fca.three_stage_fca`` given the pairs
    within ``max_cost`` (``access`` sums ``G``'s denominator over every pair it is given).
    A row or facility with nothing in reach gets 0.

    Examples
    --------
    One workplace of 10 between two stations of capacity 4 and 8, equally far:

    >>> three_stage_from_cost(np.array([[100.0, 100.0]]), [10], [4, 8],
    ...                       max_cost=500, decay="none").round(6).tolist()
    [1.2]
    """
    p, s = _check_shapes(cost, demand_weight, supply)
    rows, cols, _, f = _decayed_pairs(cost, max_cost, decay, steps, sigma, beta, min_cost)
    fsum = np.bincount(rows, weights=f, minlength=len(p))
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(fsum[rows] > 0, f / fsum[rows], 0.0)
        catch = np.bincount(cols, weights=p[rows] * f * g, minlength=len(s))
        ratio = np.where(catch > 0, s / catch, 0.0)
    return np.bincount(rows, weights=ratio[cols] * f * g, minlength=len(p))


def catchment_from_cost(
    cost,
    supply,
    *,
    max_cost: float | None = None,
    decay: str = "none",
    steps: Mapping[float, float] | None = None,
    sigma: float | None = None,
    beta: float = 1.5,
    min_cost: float = 1.0,
) -> np.ndarray:
    """Weighted catchment: ``A_i = sum_j f(d_ij) S_j``, the supply within reach
    (``access.Access.weighted_catchment``; a row with nothing in reach gets 0).

    Examples
    --------
    >>> catchment_from_cost(np.array([[100.0, 900.0]]), [4, 8], max_cost=500).tolist()
    [4.0]
    """
    s = np.asarray(supply, dtype=np.float64)
    _check_shapes(cost, np.zeros(cost.shape[0]), s)
    rows, cols, _, f = _decayed_pairs(cost, max_cost, decay, steps, sigma, beta, min_cost)
    return np.bincount(rows, weights=s[cols] * f, minlength=cost.shape[0])


def supply_ratio_from_cost(
    cost,
    neighbour_cost,
    demand_weight,
    supply,
    *,
    max_cost: float | None = None,
    decay: str = "none",
    steps: Mapping[float, float] | None = None,
    sigma: float | None = None,
    beta: float = 1.5,
    min_cost: float = 1.0,
) -> np.ndarray:
    """Floating catchment ratio: supply within reach of a row over the people within
    reach of it, ``A_i = sum_j f(d_ij) S_j / sum_k f(d_ik) P_k`` (``access.fca.fca_ratio``).

    ``neighbour_cost`` is the (n_demand x n_demand) cost between demand rows, the row
    itself included (a stored 0 on the diagonal). A row with no one in reach gets 0.

    Examples
    --------
    Two workplaces of 10 and 30, 200 m apart, one station of capacity 8 next to the first:

    >>> near = sp.csr_array(np.array([[0.0, 200.0], [200.0, 0.0]]))
    >>> near.setdiag(0.0)
    >>> supply_ratio_from_cost(np.array([[50.0], [250.0]]), near, [10, 30], [8],
    ...                        max_cost=100).tolist()
    [0.8, 0.0]
    """
    p, s = _check_shapes(cost, demand_weight, supply)
    if neighbour_cost.shape != (len(p), len(p)):
        raise ValidationError(
            f"neighbour_cost has shape {neighbour_cost.shape!r}, expected ({len(p)}, {len(p)})"
        )
    top = catchment_from_cost(
        cost,
        s,
        max_cost=max_cost,
        decay=decay,
        steps=steps,
        sigma=sigma,
        beta=beta,
        min_cost=min_cost,
    )
    people = catchment_from_cost(
        neighbour_cost,
        p,
        max_cost=max_cost,
        decay=decay,
        steps=steps,
        sigma=sigma,
        beta=beta,
        min_cost=min_cost,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(people > 0, top / people, 0.0)


def raam_from_cost(
    cost,
    demand_weight,
    supply,
    *,
    tau: float,
    rho: float | None = None,
    max_cost: float | None = None,
    max_cycles: int = 150,
    initial_step: float = 0.2,
    min_step: float = 0.005,
    half_life: float = 50,
) -> np.ndarray:
    """Rational Agent Access Model (RAAM, Saxon and Snow 2020): the cost each person pays,
    travel plus congestion, once everyone has moved to the facility that suits them.

    ``cost_ij / tau + (people at j) / (rho S_j)``, minimised by moving people between
    facilities in integer steps, as ``access.raam.raam`` does (the same iteration, so the
    same numbers); ``tau`` is the travel cost worth one unit of congestion and ``rho``
    the people per unit of supply at an average facility (default: total people over total
    supply). Lower is better. Rows with no weight or no facility in reach are NaN; the
    iteration works on a dense (rows x facilities) table of the rows and facilities in
    reach.

    Examples
    --------
    Ten people 30 cost units from the only station (capacity 5), tau = 60: half a unit
    of travel and, at the average load, one of congestion:

    >>> raam_from_cost(np.array([[30.0]]), [10], [5], tau=60).tolist()
    [1.5]
    """
    p, s = _check_shapes(cost, demand_weight, supply)
    if max_cycles < 1:
        raise ValidationError(f"max_cycles must be >= 1, got {max_cycles!r}")
    if not (tau > 0):
        raise ValidationError(f"tau must be > 0, got {tau!r}")
    rows, cols, vals = _pairs_from_cost(cost, max_cost)
    keep = (p[rows] > 0) & (s[cols] > 0)
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    dem_at = np.unique(rows)
    sup_at = np.unique(cols)
    out = np.full(len(p), np.nan)
    if not len(dem_at):
        return out
    if rho is None:
        rho = float(p[p > 0].sum() / s[s > 0].sum())
    ri = np.searchsorted(dem_at, rows)
    ci = np.searchsorted(sup_at, cols)
    travel = np.full((len(dem_at), len(sup_at)), np.nan)
    travel[ri, ci] = vals / tau
    travel = np.ma.masked_array(travel, np.isnan(travel))
    out[dem_at] = _iterate_raam(
        p[dem_at].copy(), s[sup_at] * rho, travel, max_cycles, initial_step, min_step, half_life
    )
    return out


def _iterate_raam(demand, supply, travel, max_cycles, initial_step, min_step, half_life):
    """``access.raam.iterate_raam``, step for step (limit_initial = 20 cycles)."""
    norig, _ = travel.shape
    r = np.arange(norig)
    assignment = np.zeros(travel.shape)
    assignment[r, travel.argmin(axis=1)] = demand
    for i in range(max_cycles):
        demand_at_supply = assignment.sum(axis=0)
        total_cost = demand_at_supply / supply + travel
        max_loc = np.ma.masked_array(total_cost, assignment == 0).argmax(axis=1)
        min_loc = total_cost.argmin(axis=1)
        slmin, slmax = supply[min_loc], supply[max_loc]
        trlmin, trlmax = travel[r, min_loc], travel[r, max_loc]
        drlmin, drlmax = assignment[r, min_loc], assignment[r, max_loc]
        dr = drlmin + drlmax
        other_min = demand_at_supply[min_loc] - drlmin
        other_max = demand_at_supply[max_loc] - drlmax
        new_min = ((slmin * slmax) / (slmin + slmax)) * (
            (trlmax - trlmin) + (dr + other_max) / slmax - other_min / slmin
        )
        delta = np.minimum(new_min - drlmin, drlmax)
        delta = np.where(max_loc == min_loc, 0, delta)
        step = max(float(initial_step) * 0.5 ** (i / half_life), min_step)
        delta = np.minimum(delta, step * demand).astype(int)
        if i < 20:  # keep attractive facilities from being mobbed in the first cycles
            delta_mat = np.zeros(travel.shape)
            delta_mat[r, min_loc] += delta
            scale = np.maximum(delta_mat.sum(axis=0) / supply, 1)
            delta = (delta_mat / scale).round().astype(int).sum(axis=1)
        assignment[r, min_loc] += delta
        assignment[r, max_loc] -= delta
    # as in access: the costs of the last cycle, weighted by the final assignment
    return np.asarray((total_cost * assignment).sum(axis=1) / assignment.sum(axis=1))


def _check_shapes(cost, demand_weight, supply) -> tuple[np.ndarray, np.ndarray]:
    shape = cost.shape
    if len(shape) != 2:
        raise ValidationError(f"cost must be 2-D, got shape {shape!r}")
    p = np.asarray(demand_weight, dtype=np.float64)
    s = np.asarray(supply, dtype=np.float64)
    if p.shape != (shape[0],) or s.shape != (shape[1],):
        raise ValidationError(
            f"cost is {shape[0]} x {shape[1]} but demand_weight has shape {p.shape} and "
            f"supply {s.shape}; they must match its rows and columns"
        )
    if np.isnan(s).any():
        raise ValidationError("supply holds NaN; fill unknown capacities first")
    return p, s


# --------------------------------------------------------------------------- adapter
def facility_capacities(facilities: gpd.GeoDataFrame, capacity) -> tuple[np.ndarray, str]:
    """Each facility's supply for the access measures, and a note of what was assumed.

    ``capacity`` is a column name, one number for all, or an array (one per facility).
    Negative values are refused; facilities with no capacity get the median of the others
    (with a warning), and when none has one each counts as 1.
    """
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
            raise ValidationError(f"capacity has shape {cap.shape}, expected ({n},)")
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


# the decay each method takes (first = default) and what it measures
_METHOD_DECAYS = {
    "2sfca": ("none",),
    "e2sfca": ("step", "gaussian"),
    "gravity": ("gravity",),
    "3sfca": ("step", "gaussian"),
    "catchment": ("none", "step", "gaussian", "gravity"),
    "supply_ratio": ("none", "step", "gaussian", "gravity"),
    "raam": ("none",),
}


def accessibility(
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    facility_type: str | None = None,
    method: str = "2sfca",
    threshold_m: float | None = None,
    threshold_s: float | None = None,
    decay: str | None = None,
    steps: Mapping[float, float] | None = None,
    sigma_m: float | None = None,
    beta: float = 1.5,
    min_m: float = 50.0,
    tau: float | None = None,
    capacity: str | float | np.ndarray = "capacity",
    groups: list[str] | tuple[str, ...] | None = None,
    cost=None,
    neighbour_cost=None,
    registry: dict | None = None,
) -> gpd.GeoDataFrame:
    """Capacity-aware accessibility of every demand row: the floating catchment family,
    gravity, supply ratio, weighted catchment and RAAM.

    Parameters
    ----------
    facilities, demand : GeoDataFrame
        As for :func:`geo.coverage.coverage` (same CRS; ``weight`` on the demand).
    facility_type : str, optional
        Registry key: keeps that type's facilities and the demand group it serves, and
        gives the default threshold.
    method : {"2sfca", "e2sfca", "gravity", "3sfca", "catchment", "supply_ratio", "raam"}
        ``"2sfca"``: everyone within the threshold shares equally. ``"e2sfca"``: shares
        weighted by distance decay, stepped (default: Luo and Qi's 1 / 0.68 / 0.22 at a
        third, two thirds and all of the threshold) or Gaussian (``decay="gaussian"``,
        ``sigma_m``, default half the threshold). ``"gravity"``: weights
        ``max(d, min_m) ** -beta`` within the threshold (Shen's gravity accessibility).
        ``"3sfca"``: E2SFCA with each worker spread over the stations in reach by their
        decay weight (:func:`three_stage_from_cost`). ``"catchment"``: the capacity
        within reach (:func:`catchment_from_cost`). ``"supply_ratio"``: capacity within
        reach over the people within reach of the same row
        (:func:`supply_ratio_from_cost`). ``"raam"``: the travel + congestion cost of
        the rational agent access model (:func:`raam_from_cost`; lower is better, NaN
        with nothing in reach).
    threshold_m : float, optional
        Catchment radius in metres (straight line, or a ``cost`` matrix in metres);
        default the type's.
    threshold_s : float, optional
        Catchment in seconds, for a ``cost`` matrix of travel times (then ``sigma_m``,
        ``min_m``, ``steps`` and ``tau`` are seconds too).
    decay, steps, sigma_m, beta, min_m
        Distance-decay options, see :func:`decay_weights`. ``steps`` keys are metres.
    tau : float, optional
        RAAM: the travel cost worth one unit of congestion; default the threshold.
    capacity : str, float or array
        Column of facility capacities (default ``"capacity"``; unknown values are filled
        with the median, with a warning), one number for all, or an array.
    groups : sequence of str, optional
        Demand groups to keep (overrides the type's group).
    cost : sparse matrix, optional
        A precomputed (demand x facility) cost matrix over the rows and facilities *kept*
        (e.g. road-network travel times, stored entries = reachable pairs); replaces the
        straight-line distances.
    neighbour_cost : sparse matrix, optional
        ``"supply_ratio"`` with ``cost``: the (demand x demand) cost between kept rows.

    Returns
    -------
    GeoDataFrame
        The kept demand rows plus ``access`` (0 when no facility is within reach; NaN
        for RAAM), ``reachable`` (facilities within the threshold) and ``covered`` (at
        least one). ``attrs`` records the method and its parameters.

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
    if method not in _METHOD_DECAYS:
        raise ValidationError(f"method={method!r} is not known; use one of {METHODS}")
    ftype = resolve_type(facility_type, registry)
    facilities, demand, _ = select_for_type(facilities, demand, ftype, groups)
    if threshold_s is not None:
        if cost is None:
            raise ValidationError(
                "threshold_s= (seconds) needs cost= travel times; for straight-line "
                "distances give threshold_m="
            )
        if threshold_m is not None:
            raise ValidationError("give threshold_m= (metres) or threshold_s= (seconds), not both")
        limit = check_positive(threshold_s, "threshold_s", "seconds")
    else:
        limit = threshold_for(ftype, threshold_m)
    if "weight" not in demand.columns:
        raise ValidationError("demand has no 'weight' column; load it with load_demand()")

    allowed = _METHOD_DECAYS[method]
    decay = allowed[0] if decay is None else decay
    if decay not in allowed:
        if method == "2sfca":
            raise ValidationError("method='2sfca' has no decay; use method='e2sfca' with decay=")
        raise ValidationError(
            f"method={method!r} takes decay={' or '.join(map(repr, allowed))}, not {decay!r}"
        )
    if decay == "step" and steps is None:
        steps = {limit * k: v for k, v in E2SFCA_STEPS}
    if decay == "gaussian" and sigma_m is None:
        sigma_m = limit / 2.0

    supply, cap_note = facility_capacities(facilities, capacity)
    if cost is None:
        crs, fac_xy, dem_xy = metric_points(facilities, demand, crs_in)
        rows, cols, dist = _pairs_xy(fac_xy, dem_xy, crs, limit)
        cost = _to_csr(rows, cols, dist, (len(demand), len(facilities)))
        how = "straight-line distance"
        if method == "supply_ratio":
            nr, nc, nd = _pairs_xy(dem_xy, dem_xy, crs, limit)
            neighbour_cost = _to_csr(nr, nc, nd, (len(demand), len(demand)))
    else:
        if cost.shape != (len(demand), len(facilities)):
            raise ValidationError(
                f"cost is {cost.shape[0]} x {cost.shape[1]} but {len(demand)} demand rows and "
                f"{len(facilities)} facilities are kept; build it over the kept rows"
            )
        if method == "supply_ratio" and neighbour_cost is None:
            raise ValidationError("method='supply_ratio' with cost= needs neighbour_cost=")
        how = "given cost matrix"
    weight = demand["weight"].to_numpy(dtype="float64")
    kw: dict[str, Any] = dict(
        max_cost=limit, decay=decay, steps=steps, sigma=sigma_m, beta=beta, min_cost=min_m
    )
    if method in ("2sfca", "e2sfca", "gravity"):
        acc = fca_from_cost(cost, weight, supply, **kw)
    elif method == "3sfca":
        acc = three_stage_from_cost(cost, weight, supply, **kw)
    elif method == "catchment":
        acc = catchment_from_cost(cost, supply, **kw)
    elif method == "supply_ratio":
        acc = supply_ratio_from_cost(cost, neighbour_cost, weight, supply, **kw)
    else:
        tau = limit if tau is None else float(tau)
        acc = raam_from_cost(cost, weight, supply, tau=tau, max_cost=limit)
    rows, _, _ = _pairs_from_cost(cost, limit)
    reach = np.bincount(rows, minlength=len(demand))
    out = demand.copy()
    out["access"] = acc
    out["reachable"] = reach.astype(np.int64)
    out["covered"] = reach > 0
    out.attrs = {
        "facility_type": ftype.key if ftype else None,
        "method": method,
        "decay": decay,
        "threshold_m": float(limit) if threshold_s is None else float("nan"),
        **({"threshold_s": float(limit)} if threshold_s is not None else {}),
        "steps": dict(steps) if steps else None,
        "sigma_m": sigma_m,
        "beta": beta if decay == "gravity" else None,
        "tau": tau if method == "raam" else None,
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
        raise ValidationError(f"values ({v.shape}) and weights ({w.shape}) differ in length")
    if np.isnan(v).any() or np.isnan(w).any() or (w < 0).any():
        raise ValidationError("values and weights must be numbers, weights >= 0")
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
        raise ValidationError("gini needs values >= 0")
    lc = lorenz_curve(v, w)
    p = np.diff(lc["population_share"].to_numpy())
    lv = lc["value_share"].to_numpy()
    return float(round(1.0 - np.sum(p * (lv[:-1] + lv[1:])), 12))


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
        raise ValidationError(f"result needs 'weight' and {value!r}; pass accessibility()'s output")
    a, pt_i, area_i = points_in_areas(result, areas)
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
        raise ValidationError(f"result needs 'weight' and {value!r} columns")
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
    "catchment_from_cost",
    "decay_weights",
    "distance_pairs",
    "equity",
    "fca_from_cost",
    "gini",
    "lorenz_curve",
    "raam_from_cost",
    "supply_ratio_from_cost",
    "three_stage_from_cost",
]
