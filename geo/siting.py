"""Where the next sites should go: candidate sites and location models.

Two layers, as in spopt's ``from_cost_matrix`` / ``from_geodataframe``:

- numeric models on a sparse coverage (or cost) matrix, so that road-network travel times
  plug in unchanged: :func:`maximal_covering` (MCLP), :func:`capacitated_covering`,
  :func:`set_covering` (LSCP), :func:`capacitated_set_covering`, :func:`p_median`,
  :func:`capacitated_p_median`, :func:`p_center` (the fair one: the worst-off as near as
  possible), :func:`backup_covering` (people within reach of two sites; MCLP with backup
  and spopt's LSCPB) and :func:`scale_up` (AccessMod's order in which to build);
- the GeoDataFrame adapter a planner calls: :func:`suggest_sites`, which builds a
  :class:`SitingProblem` (the type's demand rows, existing sites, candidates and their
  pairs), solves it with the model's entry in :data:`SITING_MODELS` (one line each on
  what it optimises, read by the CLI, the API and the planner) and recounts coverage from
  the chosen sites in one step; :func:`apply_changes` and :func:`what_if` (add, move or
  close sites).

Every model is solved exactly with HiGHS (``highspy``), or with a heuristic
(``method="fast"``); every result says whether it is proven optimal and gives the gap.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.spatial import cKDTree

from geo import _siting_solvers as _s
from geo._metric import (
    check_pair,
    ground_m,
    metric_points,
    nearest_xy,
    resolve_type,
    select_for_type,
    threshold_for,
)
from geo._places import route_lines, route_offsets
from geo._siting_solvers import Solution
from geo.access import _pairs_xy
from geo.crs import require_crs, transform_xy
from geo.errors import ValidationError, check_positive

log = logging.getLogger(__name__)

NEW_ID_PREFIX = "NEW"
CRS_4326 = CRS.from_epsg(4326)
METHODS = ("exact", "fast")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValidationError(f"method={method!r} is not known; use 'exact' (HiGHS) or 'fast'")


def _check_p(p, m: int) -> int:
    if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 0:
        raise ValidationError(f"p must be a whole number of sites >= 0, got {p!r}")
    if p > m:
        raise ValidationError(f"p={p} sites asked for, but there are only {m} candidates")
    return int(p)


def _shift(sol: Solution, constant: float) -> Solution:
    sol.objective += constant
    if sol.bound is not None:
        sol.bound += constant
    return sol


# --------------------------------------------------------------------------- numeric models
def maximal_covering(
    cover,
    weights,
    p: int,
    *,
    covered=None,
    method: str = "exact",
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
) -> Solution:
    """Maximal covering (MCLP): the ``p`` candidates that cover the most weight.

    Parameters
    ----------
    cover : sparse matrix (n_demand x n_candidates)
        Stored entries = "candidate j covers row i" (e.g. travel time within the
        threshold); dense boolean arrays work too.
    weights : array (n_demand,)
        People at each row.
    p : int
        Sites to add.
    covered : bool array (n_demand,), optional
        Rows already covered by the existing facilities (kept fixed).
    method : {"exact", "fast"}
        HiGHS branch and bound, or greedy + best-improvement swaps.

    Returns
    -------
    Solution
        ``objective`` = weight covered in total (existing included); ``gap`` is relative to
        the weight the new sites add. The same objective as
        ``spopt.locate.MCLP.from_cost_matrix`` with the existing sites predefined.

    Examples
    --------
    >>> cover = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
    >>> sol = maximal_covering(cover, [5, 1, 4, 3], 2)
    >>> sorted(sol.sites.tolist()), sol.objective, sol.proven_optimal
    ([0, 1], 10.0, True)
    """
    _check_method(method)
    t0 = time.perf_counter()
    A, W, constant = _s.reduce_cover(_as_cover(cover), weights, covered)
    t_reduce = time.perf_counter() - t0
    p = _check_p(p, A.shape[1])
    if len(W) == 0 or p == 0:
        return Solution(np.empty(0, np.int64), constant, constant, True, 0.0, method, "trivial")
    if method == "fast":
        sol = _s.mclp_fast(A, W, p)
    else:
        sol = _s.mclp_exact(A, W, p, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    sol.build_s += t_reduce  # the model is built from the reduced matrix
    return _shift(sol, constant)


def _as_cover(cover) -> sp.csr_array:
    if sp.issparse(cover):
        c = sp.csr_array(cover)
        return sp.csr_array((np.ones(c.nnz), c.indices, c.indptr), shape=c.shape)
    arr = np.asarray(cover)
    if arr.ndim != 2:
        raise ValidationError(f"cover must be a 2-D matrix, got shape {arr.shape!r}")
    return sp.csr_array(arr.astype(bool).astype(np.float64))


def set_covering(
    cover,
    weights,
    *,
    target_share: float = 1.0,
    covered=None,
    method: str = "exact",
    time_limit_s: float | None = None,
) -> Solution:
    """Set covering (LSCP): the fewest candidates that bring coverage to ``target_share``.

    ``target_share=1.0`` is the classic LSCP (every row with weight > 0 covered, the same
    objective as ``spopt.locate.LSCP.from_cost_matrix``); below 1 the covered *weight*
    must reach that share of the total, counting rows already ``covered``. Raises
    :class:`ValueError` when the candidates cannot reach the target.

    Examples
    --------
    >>> cover = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
    >>> set_covering(cover, [1, 1, 1, 1]).objective
    3.0
    >>> set_covering(cover, [5, 1, 4, 3], target_share=0.4).objective
    1.0
    """
    _check_method(method)
    if not (0 < target_share <= 1):
        raise ValidationError(f"target_share must be in (0, 1], got {target_share!r}")
    w = np.asarray(weights, dtype=np.float64)
    cov = _as_cover(cover)
    total = float(w.sum())
    A, W, constant = _s.reduce_cover(cov, w, covered)
    need = target_share * total - constant
    reachable = constant + float(W.sum())
    if target_share == 1.0:
        done = np.zeros(len(w), bool) if covered is None else np.asarray(covered, bool)
        lost = (~done) & (w > 0) & (np.diff(cov.indptr) == 0)
        if lost.any():
            raise ValidationError(
                f"{int(lost.sum())} demand rows ({w[lost].sum():g} people) are out of reach "
                f"of every candidate, so full coverage is impossible; lower target_share "
                f"(at most {reachable / total:.4f}) or add candidates"
            )
    elif reachable < target_share * total - 1e-9 * max(total, 1.0):
        raise ValidationError(
            f"target_share={target_share!r} cannot be reached: with every candidate open "
            f"coverage is {reachable / total:.4f}; lower it or add candidates"
        )
    if need <= 1e-12 * max(total, 1.0) or len(W) == 0:
        return Solution(np.empty(0, np.int64), 0.0, 0.0, True, 0.0, method, "trivial")
    if method == "fast":
        return _s.lscp_fast(A, W, need)
    return _s.lscp_exact(A, W, need, cover_all=target_share == 1.0, time_limit_s=time_limit_s)


def p_median(
    cost,
    weights,
    p: int,
    *,
    existing_cost=None,
    method: str = "exact",
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
) -> Solution:
    """p-median: the ``p`` candidates that minimise total weighted travel.

    Parameters
    ----------
    cost : sparse or dense matrix (n_demand x n_candidates)
        Travel cost; sparse: stored entries are the usable pairs (zeros included);
        dense: ``inf`` = unusable.
    weights : array (n_demand,)
    p : int
    existing_cost : array (n_demand,), optional
        Each row's cost to its nearest existing facility (kept open); ``inf`` for none.
        Without it every row must reach some candidate.

    Returns
    -------
    Solution
        ``objective`` = sum of weight x cost to the cheapest open site: the objective of
        ``spopt.locate.PMedian.from_cost_matrix`` (existing sites predefined).

    Examples
    --------
    >>> cost = np.array([[0.0, 4.0], [1.0, 3.0], [5.0, 0.0]])
    >>> sol = p_median(cost, [1, 1, 1], 1)
    >>> sol.sites.tolist(), sol.objective
    ([0], 6.0)
    """
    _check_method(method)
    from geo.access import _pairs_from_cost

    rows, cols, d = _pairs_from_cost(cost, None)
    n, m = cost.shape
    p = _check_p(p, m)
    w = np.asarray(weights, dtype=np.float64)
    fb = np.full(n, np.inf) if existing_cost is None else np.asarray(existing_cost, np.float64)
    reach = np.isfinite(fb)
    reach[rows] = True
    if not reach[w > 0].all():
        raise ValidationError(
            f"{int((~reach & (w > 0)).sum())} demand rows reach no candidate and no existing "
            f"facility; give them a cost (existing_cost=) or drop them"
        )
    if method == "fast":
        return _s.pmedian_fast(rows, cols, d, w, fb, m, p)
    return _s.pmedian_exact(
        rows, cols, d, w, fb, m, p, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap
    )


def capacitated_covering(
    cover,
    weights,
    p: int,
    *,
    capacity,
    existing_cover=None,
    existing_capacity=None,
    method: str = "exact",
    time_limit_s: float | None = None,
) -> Solution:
    """Capacitated maximal covering: ``p`` sites, each serving at most its capacity.

    People within reach of a site may be split between sites; a site serves at most
    ``capacity`` people and existing sites (``existing_cover``, ``existing_capacity``;
    NaN or inf = unlimited) stay open. ``objective`` = people served.

    Examples
    --------
    Three workplaces of 6, 6 and 6 people; one site, capacity 10, reaching all three:

    >>> sol = capacitated_covering(np.ones((3, 1), bool), [6, 6, 6], 1, capacity=[10])
    >>> sol.objective
    10.0
    """
    _check_method(method)
    w = np.asarray(weights, dtype=np.float64)
    cov = _as_cover(cover)
    n, m = cov.shape
    p = _check_p(p, m)
    cap_c = np.broadcast_to(np.asarray(capacity, dtype=np.float64), (m,)).copy()
    cap_c = np.where(np.isnan(cap_c), np.inf, cap_c)
    coo = sp.coo_array(cov)
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    caps = cap_c
    if existing_cover is not None:
        ex = sp.coo_array(_as_cover(existing_cover))
        ecap = np.broadcast_to(
            np.asarray(np.inf if existing_capacity is None else existing_capacity, np.float64),
            (ex.shape[1],),
        )
        ecap = np.where(np.isnan(ecap), np.inf, ecap)
        rows = np.concatenate([rows, ex.row.astype(np.int64)])
        cols = np.concatenate([cols, m + ex.col.astype(np.int64)])
        caps = np.concatenate([cap_c, ecap])
    if method == "fast":
        sol = _s.capacitated_fast(rows, cols, np.zeros(len(rows)), w, caps, m, p)
    else:
        sol, _ = _s.capacitated_exact(rows, cols, w, caps, m, p, time_limit_s=time_limit_s)
    sol.objective = _s.capacitated_served(rows, cols, w, caps, np.r_[sol.sites, m : len(caps)])
    sol.gap = _s._gap(sol.objective, sol.bound) if sol.bound is not None else None
    return sol


def _cap_array(values, size: int, name: str) -> np.ndarray:
    """Capacities as floats, broadcast to ``size``; NaN or inf = unlimited (inf)."""
    cap = np.broadcast_to(np.asarray(values, dtype=np.float64), (size,)).copy()
    if (cap < 0).any():
        raise ValidationError(f"{name} holds negative values; capacities are people >= 0")
    return np.where(np.isnan(cap), np.inf, cap)


def _site_pairs(cover, capacity, existing_cover, existing_capacity):
    """(rows, cols, caps, m) of candidates then existing sites (columns m, m+1, ...)."""
    cov = sp.coo_array(_as_cover(cover))
    m = cov.shape[1]
    rows, cols = cov.row.astype(np.int64), cov.col.astype(np.int64)
    caps = _cap_array(capacity, m, "capacity")
    if existing_cover is not None:
        ex = sp.coo_array(_as_cover(existing_cover))
        ecap = _cap_array(
            np.inf if existing_capacity is None else existing_capacity,
            ex.shape[1],
            "existing_capacity",
        )
        rows = np.concatenate([rows, ex.row.astype(np.int64)])
        cols = np.concatenate([cols, m + ex.col.astype(np.int64)])
        caps = np.concatenate([caps, ecap])
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], caps, m


def p_center(
    cost,
    p: int,
    *,
    weights=None,
    existing_cost=None,
    method: str = "exact",
    time_limit_s: float | None = None,
) -> Solution:
    """p-center: the ``p`` candidates that make the worst-off row's cost the least.

    Parameters
    ----------
    cost : sparse or dense matrix (n_demand x n_candidates)
        Metres or seconds; sparse: stored entries are the usable pairs; dense: ``inf`` =
        unusable.
    p : int
        Sites to add (at most; fewer when fewer already reach the optimum).
    weights : array (n_demand,), optional
        Only rows with weight > 0 count (the objective is unweighted, as in spopt).
    existing_cost : array (n_demand,), optional
        Each row's cost to its nearest existing facility (kept open); ``inf`` for none.

    Returns
    -------
    Solution
        ``objective`` = max over rows of the cost to the nearest open site: the objective
        of ``spopt.locate.PCenter.from_cost_matrix`` with the existing sites predefined.
        Exact: bisection over the distinct costs, one HiGHS set covering per step (the
        optimum is one of the costs); fast: the same with greedy set covering, bound =
        the worst cost with every candidate open.

    Examples
    --------
    >>> cost = np.array([[1.0, 3.0], [2.0, 2.0], [9.0, 1.0]])
    >>> sol = p_center(cost, 1)
    >>> sol.sites.tolist(), sol.objective
    ([1], 3.0)
    >>> p_center(cost, 1, existing_cost=[0.5, 1.5, 20.0]).objective
    1.5
    """
    _check_method(method)
    from geo.access import _pairs_from_cost

    rows, cols, d = _pairs_from_cost(cost, None)
    n, m = cost.shape
    p = _check_p(p, m)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    fb = np.full(n, np.inf) if existing_cost is None else np.asarray(existing_cost, np.float64)
    return _s.pcenter_search(
        rows, cols, d, fb, w > 0, m, p, exact=method == "exact", time_limit_s=time_limit_s
    )


def backup_covering(
    cover,
    weights,
    p: int | None = None,
    *,
    existing_count=None,
    target_share: float = 1.0,
    method: str = "exact",
    time_limit_s: float | None = None,
) -> Solution:
    """Backup coverage: the most people within reach of two sites.

    With ``p``: MCLP with backup (``p`` new sites maximising the weight covered at least
    twice). Without: LSCP with maximal backup, spopt's ``LSCPB`` -- first the fewest sites
    that bring coverage to ``target_share`` (:func:`set_covering`), then, with that many
    sites, the most weight covered twice.

    Parameters
    ----------
    cover : sparse or dense matrix (n_demand x n_candidates)
    weights : array (n_demand,)
        People (ones to count rows, as spopt's LSCPB does).
    p : int, optional
    existing_count : int array (n_demand,), optional
        How many existing sites (kept) already cover each row.
    target_share : float
        LSCPB only: the share that must be covered once (1.0 = every row, as spopt).

    Returns
    -------
    Solution
        ``objective`` = weight covered at least twice (existing included). spopt's LSCPB
        objective also counts every row with fewer than two candidates in reach as backed
        up (its constraint leaves that row's backup variable free); subtract those to
        compare (the tests do).

    Examples
    --------
    >>> cover = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=bool)
    >>> backup_covering(cover, [5, 1, 1], 2).objective
    5.0
    >>> sol = backup_covering(cover, [5, 1, 1])  # LSCPB: 2 sites cover all, 5 twice
    >>> len(sol.sites), sol.objective
    (2, 5.0)
    """
    _check_method(method)
    w = np.asarray(weights, dtype=np.float64)
    cov = _as_cover(cover)
    n, m = cov.shape
    e = np.zeros(n) if existing_count is None else np.asarray(existing_count, np.float64)
    if e.shape != (n,):
        raise ValidationError(f"existing_count has shape {e.shape}, expected ({n},)")
    e = np.minimum(e, 2.0)
    if p is None:
        first = set_covering(
            cov, w, target_share=target_share, covered=e >= 1, time_limit_s=time_limit_s
        )
        k = len(first.sites)
        full = target_share == 1.0
    else:
        k = _check_p(p, m)
        full = False
    # reduce: rows twice-covered already or out of reach twice (and not needed) go
    deg = np.diff(cov.indptr)
    constant = float(w[e >= 2].sum())
    must = (e < 1) & (w > 0) & (deg > 0) if p is None else np.zeros(n, bool)
    keep = np.flatnonzero(((e < 2) & (w > 0) & (e + deg >= 2)) | must)
    A, W = cov[keep], w[keep]
    ek, mk = e[keep], must[keep]
    if len(keep):  # merge rows with the same candidates, existing count and need
        rng = np.random.default_rng(12345)
        key = np.column_stack([A @ rng.random((m, 2)), np.diff(A.indptr), ek, mk])
        _, first_i, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
        W = np.bincount(inv.ravel(), weights=W, minlength=len(first_i)).astype(np.float64)
        A, ek, mk = A[first_i], ek[first_i], mk[first_i]
    if k == 0 or len(W) == 0:
        sol = Solution(np.empty(0, np.int64), 0.0, 0.0, True, 0.0, method, "trivial")
    elif method == "fast":
        start = first.sites if p is None else ()
        sol = _s.backup_fast(A, W, ek, k if p is not None else len(start), start=start)
    else:
        # LSCPB below a full target: the rows still to cover must bring in this much
        need = None if full or p is not None else target_share * w.sum() - w[e >= 1].sum()
        sol = _s.backup_exact(
            A,
            W,
            ek,
            p=k,
            need_rows=mk if p is None else None,
            need=None if need is None else max(float(need), 0.0),
            time_limit_s=time_limit_s,
        )
    return _shift(sol, constant)


def capacitated_set_covering(
    cover,
    weights,
    *,
    capacity,
    target_share: float = 1.0,
    existing_cover=None,
    existing_capacity=None,
    method: str = "exact",
    time_limit_s: float | None = None,
) -> Solution:
    """Capacitated set covering: the fewest sites that *serve* ``target_share`` of people.

    A site serves at most its ``capacity`` people, split between the rows it reaches;
    existing sites (``existing_cover``, ``existing_capacity``; NaN or inf = unlimited)
    stay open. ``target_share=1.0`` serves every row in full: the objective of spopt's
    capacitated ``LSCP`` (``demand_quantity_arr``, ``facility_capacity_arr``; CLSCP-SO)
    minus the predefined sites. ``objective`` = new sites. Raises :class:`ValueError`
    when even every candidate open cannot reach the target.

    Examples
    --------
    Three workplaces of 6 people, two sites of capacity 10 reaching all of them:

    >>> capacitated_set_covering(np.ones((3, 2), bool), [6, 6, 6], capacity=10).objective
    2.0
    """
    _check_method(method)
    if not (0 < target_share <= 1):
        raise ValidationError(f"target_share must be in (0, 1], got {target_share!r}")
    w = np.asarray(weights, dtype=np.float64)
    rows, cols, caps, m = _site_pairs(cover, capacity, existing_cover, existing_capacity)
    total = float(w.sum())
    best = _s.capacitated_served(rows, cols, w, caps, np.arange(len(caps)))
    if best < target_share * total - 1e-6 * max(total, 1.0):
        raise ValidationError(
            f"target_share={target_share!r} cannot be served: with every candidate open "
            f"the sites serve {best / total:.4f} of the people; raise capacities, lower "
            f"target_share or add candidates"
        )
    if method == "fast":
        return _scale_up_greedy(rows, cols, w, caps, m, need=target_share * total)
    need = None if target_share == 1.0 else target_share * total
    return _s.cap_cover_exact(rows, cols, w, caps, m, need=need, time_limit_s=time_limit_s)


def capacitated_p_median(
    cost,
    weights,
    p: int,
    *,
    capacity,
    existing_cost=None,
    existing_capacity=None,
    single_source: bool = True,
    method: str = "exact",
    time_limit_s: float | None = None,
) -> Solution:
    """Capacitated p-median: ``p`` sites, least total weighted cost, capacities kept.

    Every row must be served in full, by one site (``single_source=True``, spopt's
    capacitated ``PMedian``) or split between sites. ``existing_cost`` is an
    (n_demand x n_existing) cost matrix of the sites kept open, with their
    ``existing_capacity`` (NaN = unlimited). ``objective`` = sum of weight x cost: the
    objective of ``spopt.locate.PMedian.from_cost_matrix(facility_capacities=...)`` with
    the existing sites predefined. ``method="fast"`` is HiGHS stopped at a 2 % gap.

    Examples
    --------
    >>> cost = np.array([[0.0, 4.0], [1.0, 3.0], [5.0, 0.0]])
    >>> capacitated_p_median(cost, [1, 1, 1], 2, capacity=[1, 2]).objective
    3.0
    """
    _check_method(method)
    from geo.access import _pairs_from_cost

    rows, cols, d = _pairs_from_cost(cost, None)
    n, m = cost.shape
    p = _check_p(p, m)
    caps = _cap_array(capacity, m, "capacity")
    w = np.asarray(weights, dtype=np.float64)
    if existing_cost is not None:
        er, ec, ed = _pairs_from_cost(existing_cost, None)
        ecap = _cap_array(
            np.inf if existing_capacity is None else existing_capacity,
            existing_cost.shape[1],
            "existing_capacity",
        )
        rows, cols, d = np.r_[rows, er], np.r_[cols, m + ec], np.r_[d, ed]
        caps = np.r_[caps, ecap]
    reach = np.zeros(n, bool)
    reach[rows] = True
    if not reach[w > 0].all():
        raise ValidationError(
            f"{int((~reach & (w > 0)).sum())} demand rows reach no site; give them a cost"
        )
    most = float(np.sort(caps[:m])[::-1][:p].sum() + caps[m:].sum())
    if most < w.sum():
        raise ValidationError(
            f"the sites cannot serve everyone: at most {most:g} of {w.sum():g} people with "
            f"the {p} largest new sites and the existing ones; raise capacity or p"
        )
    return _s.cap_pmedian_exact(
        rows,
        cols,
        d,
        w,
        caps,
        m,
        p,
        single_source=single_source,
        time_limit_s=time_limit_s,
        mip_rel_gap=0.02 if method == "fast" else 0.0,
    )


def scale_up(
    cover,
    weights,
    *,
    capacity,
    target_share: float | None = None,
    max_sites: int | None = None,
    existing_cover=None,
    existing_capacity=None,
    method: str = "exact",
    time_limit_s: float | None = None,
) -> Solution:
    """Scale-up (AccessMod's sense): the order in which to build, site by site.

    Existing sites serve first (each up to its capacity); then each new site serves the
    people it can still reach, up to its ``capacity``, until ``target_share`` of the
    people are served or ``max_sites`` are built (give one or both). ``gains`` lists what
    each site adds, in build order. ``method="fast"`` is AccessMod's greedy (each next
    site the one serving the most people still unserved, filled in row order);
    ``"exact"`` picks the set with HiGHS (:func:`capacitated_set_covering` for a target,
    :func:`capacitated_covering` for a count), then orders it greedily by the people
    served (an LP per step). ``objective`` = people served in the end.

    Examples
    --------
    >>> cover = np.array([[1, 0], [1, 0], [0, 1]], dtype=bool)
    >>> sol = scale_up(cover, [10, 10, 5], capacity=12, max_sites=2)
    >>> sol.sites.tolist(), sol.gains.tolist()
    ([0, 1], [12.0, 5.0])
    """
    _check_method(method)
    if target_share is None and max_sites is None:
        raise ValidationError("give target_share= or max_sites= (or both)")
    if target_share is not None and not (0 < target_share <= 1):
        raise ValidationError(f"target_share must be in (0, 1], got {target_share!r}")
    w = np.asarray(weights, dtype=np.float64)
    rows, cols, caps, m = _site_pairs(cover, capacity, existing_cover, existing_capacity)
    total = float(w.sum())
    need = np.inf if target_share is None else target_share * total
    cap_n = m if max_sites is None else _check_p(max_sites, m)
    if method == "fast":
        return _scale_up_greedy(rows, cols, w, caps, m, need=need, max_sites=cap_n)
    ex_open = np.arange(m, len(caps))
    served0 = _s.capacitated_served(rows, cols, w, caps, ex_open)
    if served0 >= need - 1e-9 * max(total, 1.0):
        chosen = np.empty(0, np.int64)
        sol = Solution(chosen, served0, served0, True, 0.0, "highs", "trivial")
    elif target_share is not None:
        reach = _s.capacitated_served(rows, cols, w, caps, np.arange(len(caps)))
        need = min(need, reach)
        sol = _s.cap_cover_exact(rows, cols, w, caps, m, need=need, time_limit_s=time_limit_s)
        if len(sol.sites) > cap_n:  # the count binds first: the best cap_n sites
            sol, _ = _s.capacitated_exact(rows, cols, w, caps, m, cap_n, time_limit_s=time_limit_s)
    else:
        sol, _ = _s.capacitated_exact(rows, cols, w, caps, m, cap_n, time_limit_s=time_limit_s)
    # build order: each next the one serving the most people with those before it
    rest, prev = list(sol.sites), served0
    order: list[int] = []
    gains: list[float] = []
    while rest:
        got = [_s.capacitated_served(rows, cols, w, caps, np.r_[order, j, ex_open]) for j in rest]
        b = int(np.argmax(got))
        order.append(rest.pop(b))
        gains.append(got[b] - prev)
        prev = got[b]
    sol.sites = np.asarray(order, np.int64)
    sol.gains = np.asarray(gains)
    sol.objective = prev
    return sol


def _scale_up_greedy(rows, cols, w, caps, m, *, need, max_sites=None) -> Solution:
    """AccessMod's scale-up: existing sites serve first, then each next candidate the one
    that can serve the most people still unserved, filled in row order."""
    t0 = time.perf_counter()
    left = w.astype(np.float64).copy()
    order = np.argsort(cols, kind="stable")
    r, c = rows[order], cols[order]
    starts = np.searchsorted(c, np.arange(len(caps) + 1))

    def fill(j) -> float:
        room, got = caps[j], 0.0
        for e in range(starts[j], starts[j + 1]):
            if room <= 0:
                break
            take = min(room, left[r[e]])
            left[r[e]] -= take
            room -= take
            got += take
        return got

    for j in range(m, len(caps)):
        fill(j)
    chosen: list[int] = []
    gains: list[float] = []
    tol = 1e-9 * max(1.0, float(w.sum()))
    limit = m if max_sites is None else int(max_sites)
    while len(chosen) < limit and float(w.sum() - left.sum()) < need - tol:
        reach = np.bincount(c, weights=left[r], minlength=len(caps))[:m]
        gain = np.minimum(reach, caps[:m])
        gain[chosen] = -1.0
        j = int(np.argmax(gain))
        if gain[j] <= tol:
            break
        chosen.append(j)
        gains.append(fill(j))
    if float(w.sum() - left.sum()) < need - tol and max_sites is None and need < np.inf:
        raise ValidationError("the target cannot be served with these candidates")
    return Solution(
        sites=np.asarray(chosen, dtype=np.int64),
        objective=float(len(chosen)) if max_sites is None else float(w.sum() - left.sum()),
        bound=None,
        proven_optimal=False,
        gap=None,
        method="greedy",
        status="heuristic",
        solve_s=time.perf_counter() - t0,
        gains=np.asarray(gains),
    )


# --------------------------------------------------------------------------- candidates
def candidate_sites(
    boundary: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    spacing_m: float | None = None,
    h3_resolution: int | None = None,
    exclude: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    snap: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame] | None = None,
) -> gpd.GeoDataFrame:
    """Candidate sites: grid or H3 cell centres inside ``boundary`` and outside ``exclude``.

    Parameters
    ----------
    boundary : GeoDataFrame or GeoSeries
        Where sites may go; the district boundary (Beilun's, from cnmaps, is land only, so
        the sea is already out).
    spacing_m : float, optional
        A square grid with this spacing, in the UTM zone of the boundary.
    h3_resolution : int, optional
        H3 cell centres instead (give one of ``spacing_m`` and ``h3_resolution``).
    exclude : GeoDataFrame or GeoSeries, optional
        Water, parks, port land and any area a planner masks out.
    snap : callable, optional
        ``snap(candidates) -> candidates``, e.g. moving each point onto the road network
        (the hook for :mod:`geo.network`); it must keep the rows and return EPSG:4326.

    Returns
    -------
    GeoDataFrame
        ``id`` (``"C1"``, ``"C2"``, ...) and Point ``geometry`` in EPSG:4326.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> b = gpd.GeoDataFrame(geometry=[box(121.80, 29.90, 121.81, 29.91)], crs=4326)
    >>> len(candidate_sites(b, spacing_m=250)) in (16, 20, 25)
    True
    """
    from geo.crs import metric_crs_for

    if (spacing_m is None) == (h3_resolution is None):
        raise ValidationError("give exactly one of spacing_m= and h3_resolution=")
    resolution = 0 if h3_resolution is None else int(h3_resolution)
    require_crs(boundary, "boundary")
    geom = boundary.to_crs(4326).geometry.union_all() if len(boundary) else None
    if geom is None or geom.is_empty:
        raise ValidationError("boundary is empty; pass the district polygon")
    if exclude is not None and len(exclude):
        require_crs(exclude, "exclude")
        geom = geom.difference(exclude.to_crs(4326).geometry.union_all())
    if spacing_m is not None:
        spacing_m = check_positive(spacing_m, "spacing_m", "metres")
        crs = metric_crs_for(gpd.GeoSeries([geom], crs=4326))
        gm = gpd.GeoSeries([geom], crs=4326).to_crs(crs).iloc[0]
        x0, y0, x1, y1 = gm.bounds
        xs = np.arange(x0 + spacing_m / 2, x1, spacing_m)
        ys = np.arange(y0 + spacing_m / 2, y1, spacing_m)
        gx, gy = np.meshgrid(xs, ys)
        xy = np.column_stack([gx.ravel(), gy.ravel()])
        shapely.prepare(gm)
        inside = shapely.contains_xy(gm, xy[:, 0], xy[:, 1])
        xy = transform_xy(xy[inside], crs, 4326)
    else:
        import h3

        cells = h3.geo_to_cells(geom.__geo_interface__, resolution)
        ll = np.array([h3.cell_to_latlng(c) for c in sorted(cells)]).reshape(-1, 2)
        xy = ll[:, ::-1]
        xy = xy[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])] if len(xy) else xy
    out = gpd.GeoDataFrame(
        {"id": [f"C{i + 1}" for i in range(len(xy))]},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]) if len(xy) else [],
        crs="EPSG:4326",
    )
    if snap is not None:
        snapped = snap(out)
        if len(snapped) != len(out):
            raise ValidationError("snap() must return one row per candidate")
        out = snapped.to_crs(4326)
    return out


# --------------------------------------------------------------------------- adapter
@dataclass
class SiteSuggestion:
    """Where to put new sites, and what they change (see :func:`suggest_sites`).

    ``covered_before`` / ``covered_after`` are shares of people (of daily trucks for the
    route model) recounted from the sites (:func:`geo.coverage.coverage`, or the people
    served within capacities for the capacitated models), never read from the solver.
    ``sites`` has ``id``, ``lon``, ``lat``, ``people_added`` (what each adds, in the order
    listed; they sum to ``people_after - people_before``), ``share_after`` (the covered
    share once it is built) and geometry. ``threshold_m`` is the coverage distance;
    ``detour_m`` (route model only) how far off a freight route a site may be.
    """

    facility_type: str
    model: str
    method: str
    threshold_m: float
    sites: gpd.GeoDataFrame
    people_total: float
    people_before: float
    people_after: float
    proven_optimal: bool
    gap: float | None
    objective: float
    bound: float | None
    n_candidates: int
    build_s: float
    solve_s: float
    measure: str
    extra: dict[str, Any] = field(default_factory=dict)
    detour_m: float | None = None

    @property
    def covered_before(self) -> float:
        return self.people_before / self.people_total if self.people_total else float("nan")

    @property
    def covered_after(self) -> float:
        return self.people_after / self.people_total if self.people_total else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (plain floats, rounded; gap None when no bound is known)."""

        def r(x, nd):
            if x is None or (isinstance(x, float) and not math.isfinite(x)):
                return None
            return round(float(x), nd)

        return {
            "facility_type": self.facility_type,
            "model": self.model,
            "model_summary": SITING_MODELS[self.model].summary,
            "method": self.method,
            "measure": self.measure,
            "threshold_m": self.threshold_m,
            **({"detour_m": self.detour_m} if self.detour_m is not None else {}),
            "sites": [
                {
                    "id": i,
                    "lon": round(float(lon), 6),
                    "lat": round(float(lat), 6),
                    "people_added": round(float(a), 1),
                }
                for i, lon, lat, a in zip(
                    self.sites["id"],
                    self.sites["lon"],
                    self.sites["lat"],
                    self.sites["people_added"],
                    strict=True,
                )
            ],
            "people_total": r(self.people_total, 1),
            "people_before": r(self.people_before, 1),
            "people_after": r(self.people_after, 1),
            "covered_before": r(self.covered_before, 4),
            "covered_after": r(self.covered_after, 4),
            "proven_optimal": bool(self.proven_optimal),
            "gap": r(self.gap, 6),
            "objective": r(self.objective, 3),
            "bound": r(self.bound, 3),
            "candidates": self.n_candidates,
            "build_s": round(self.build_s, 4),
            "solve_s": round(self.solve_s, 4),
            **{k: (r(v, 4) if isinstance(v, float) else v) for k, v in self.extra.items()},
        }


@dataclass
class SitingProblem:
    """One siting question in metric arrays: what every model of the table is given.

    Built by :meth:`from_frames`; ``existing``, ``demand`` and ``candidates`` are the
    frames (the type's facilities and demand group), ``*_xy`` their points in one metric
    CRS, ``pairs`` the (demand row, candidate, ground metres) within the threshold.
    """

    facility_type: Any
    existing: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    crs: Any
    existing_xy: np.ndarray
    candidate_xy: np.ndarray
    demand_xy: np.ndarray
    weights: np.ndarray
    threshold_m: float
    detour_m: float
    site_capacity: float | None
    registry: dict | None

    @classmethod
    def from_frames(
        cls,
        facilities: gpd.GeoDataFrame,
        demand: gpd.GeoDataFrame,
        candidates: gpd.GeoDataFrame,
        *,
        facility_type: str,
        threshold_m: float | None = None,
        detour_m: float | None = None,
        site_capacity: float | None = None,
        registry: dict | None = None,
    ) -> SitingProblem:
        crs_in = check_pair(facilities, demand)
        ftype = resolve_type(facility_type, registry)
        threshold = threshold_for(ftype, threshold_m)
        existing, dem, _ = select_for_type(facilities, demand, ftype, None)
        require_crs(candidates, "candidates")
        cand = candidates.to_crs(crs_in) if not candidates.crs.equals(crs_in) else candidates
        if len(cand) == 0:
            raise ValidationError("there are no candidate sites; widen the boundary or the mask")
        # one metric CRS for existing + candidates + demand
        both = pd.concat([existing.geometry, cand.geometry], ignore_index=True)
        both = gpd.GeoDataFrame({"id": np.arange(len(both)).astype(str)}, geometry=both)
        crs, site_xy, dem_xy = metric_points(both.set_crs(crs_in), dem, crs_in)
        return cls(
            facility_type=ftype,
            existing=existing,
            demand=dem,
            candidates=cand,
            crs=crs,
            existing_xy=site_xy[: len(existing)],
            candidate_xy=site_xy[len(existing) :],
            demand_xy=dem_xy,
            weights=dem["weight"].to_numpy(dtype="float64"),
            threshold_m=threshold,
            detour_m=float(detour_m or ftype.max_offroute_m or threshold),
            site_capacity=site_capacity,
            registry=registry,
        )

    # ------------------------------------------------------------ shared pieces
    @cached_property
    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(demand row, candidate, ground metres) of every pair within the threshold."""
        return _pairs_xy(self.candidate_xy, self.demand_xy, self.crs, self.threshold_m)

    @cached_property
    def existing_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _pairs_xy(self.existing_xy, self.demand_xy, self.crs, self.threshold_m)

    @cached_property
    def covered_before(self) -> np.ndarray:
        """Rows covered by the existing sites, as :func:`geo.coverage.coverage` counts."""
        return self.recount_covered(np.empty(0, np.int64))[1]

    @cached_property
    def existing_count(self) -> np.ndarray:
        """How many existing sites reach each row within the threshold."""
        return np.bincount(self.existing_pairs[0], minlength=len(self.weights))

    @cached_property
    def existing_capacity(self) -> np.ndarray:
        """Capacities of the existing sites; NaN (unknown) counts as unlimited."""
        if "capacity" not in self.existing:
            return np.full(len(self.existing), np.inf)
        cap = pd.to_numeric(self.existing["capacity"], errors="coerce").to_numpy("float64")
        return np.where(np.isnan(cap), np.inf, cap)

    def new_site_capacity(self) -> float:
        """The capacity of a new site: the one given, else the median of the type's."""
        if self.site_capacity is not None:
            return float(self.site_capacity)
        known = self.existing_capacity[np.isfinite(self.existing_capacity)]
        if not len(known):
            raise ValidationError("give site_capacity=: no existing site has a capacity")
        return float(np.median(known))

    def useful(self, *, new_only: bool = False, rows_ok: np.ndarray | None = None):
        """Candidates reaching a weighted row (not yet covered, with ``new_only``; among
        ``rows_ok``, when given), and the pairs remapped to their positions among them:
        (keep, rows, cols, dist)."""
        rows, cols, dist = self.pairs
        ok = self.weights[rows] > 0
        if new_only:
            ok &= ~self.covered_before[rows]
        if rows_ok is not None:
            ok &= rows_ok[rows]
        useful = np.zeros(len(self.candidate_xy), bool)
        useful[cols[ok]] = True
        keep = np.flatnonzero(useful)
        remap = -np.ones(len(self.candidate_xy), np.int64)
        remap[keep] = np.arange(len(keep))
        sel = remap[cols] >= 0
        return keep, rows[sel], remap[cols[sel]], dist[sel]

    def cover(self, rows, cols, m: int) -> sp.csr_array:
        return _s._to_csr_pairs(rows, cols, len(self.weights), m)

    def existing_cover(self) -> sp.csr_array:
        er, ec, _ = self.existing_pairs
        return self.cover(er, ec, len(self.existing))

    # ------------------------------------------------------------ the recount
    def with_sites(self, chosen: np.ndarray) -> gpd.GeoDataFrame:
        """The type's facility layer (EPSG:4326) with candidates ``chosen`` added."""
        ll = transform_xy(self.candidate_xy[chosen], self.crs, 4326)
        add = [(float(x), float(y)) for x, y in ll]
        return apply_changes(self.existing, facility_type=self.facility_type.key, add=add)

    def recount_covered(self, chosen: np.ndarray) -> tuple[float, np.ndarray]:
        """People covered, and which rows, with the existing sites and ``chosen``."""
        from geo.coverage import coverage

        fac = self.with_sites(chosen)
        res = coverage(
            fac.to_crs(self.demand.crs),
            self.demand,
            facility_type=self.facility_type.key,
            threshold_m=self.threshold_m,
            registry=self.registry,
        )
        c = res["covered"].to_numpy(dtype=bool)
        return float(self.weights[c].sum()), c

    def recount_served(self, chosen: np.ndarray) -> float:
        """People served within the sites' capacities (an LP over the open sites)."""
        rows, cols, _ = self.pairs
        er, ec, _ = self.existing_pairs
        m = len(self.candidate_xy)
        caps = np.r_[np.full(m, self.new_site_capacity()), self.existing_capacity]
        open_ = np.r_[np.asarray(chosen, np.int64), m + np.arange(len(self.existing))]
        return _s.capacitated_served(
            np.r_[rows, er], np.r_[cols, m + ec], self.weights, caps, open_
        )

    @cached_property
    def routes(self):
        """Freight routes (route rule): their lines, daily trucks, and served by existing."""
        d = self.demand
        on = d["route_id"].fillna("").astype(str).to_numpy() != "" if "route_id" in d else None
        if on is None or not on.any():
            raise ValidationError(
                "the route model needs freight-route demand (route_id, route_pos_m)"
            )
        rid = d["route_id"].astype(str).to_numpy()[on]
        lines = route_lines(self.demand_xy[on], rid, d["route_pos_m"].to_numpy("float64")[on])
        trucks = pd.Series(self.weights[on]).groupby(rid).sum().reindex(list(lines)).to_numpy()
        served = (route_offsets(self.existing_xy, lines) <= self.detour_m).any(axis=1)
        return lines, trucks, served

    def recount_routes(self, chosen: np.ndarray) -> float:
        """Daily trucks on routes with a site within ``detour_m`` (existing or chosen)."""
        lines, trucks, served = self.routes
        xy = self.candidate_xy[np.asarray(chosen, np.int64)]
        hit = served | (route_offsets(xy, lines) <= self.detour_m).any(axis=1)
        return float(trucks[hit].sum())

    def recount(self, kind: str, chosen: np.ndarray) -> list[float]:
        """The one recount step: the measure after each prefix of ``chosen`` (0..k)."""
        one = {
            "covered": lambda c: self.recount_covered(c)[0],
            "served": self.recount_served,
            "route": self.recount_routes,
        }[kind]
        return [one(chosen[:k]) for k in range(len(chosen) + 1)]


@dataclass
class _Answer:
    """What a model's solver gives back to :func:`suggest_sites` (candidate positions)."""

    sol: Solution
    chosen: np.ndarray
    n_candidates: int
    measure: str
    extra: dict[str, Any] = field(default_factory=dict)


def _within(problem: SitingProblem) -> str:
    return f"people within {problem.threshold_m:g} m (straight line)"


def _on(keep: np.ndarray, sol: Solution) -> np.ndarray:
    return keep[sol.sites] if len(sol.sites) else np.empty(0, np.int64)


def _solve_mclp(pb: SitingProblem, ask: dict) -> _Answer:
    keep, rows, cols, _ = pb.useful(new_only=True)
    if len(keep) == 0:
        return _nothing(pb)
    sol = maximal_covering(
        pb.cover(rows, cols, len(keep)),
        pb.weights,
        min(ask["add"], len(keep)),
        covered=pb.covered_before,
        method=ask["method"],
        time_limit_s=ask["time_limit_s"],
    )
    return _Answer(sol, _on(keep, sol), len(keep), _within(pb))


def _solve_lscp(pb: SitingProblem, ask: dict) -> _Answer:
    keep, rows, cols, _ = pb.useful(new_only=True)
    target = 0.95 if ask["target_share"] is None else float(ask["target_share"])
    if len(keep) == 0:
        return _nothing(pb, target_share=target)
    sol = set_covering(
        pb.cover(rows, cols, len(keep)),
        pb.weights,
        target_share=target,
        covered=pb.covered_before,
        method=ask["method"],
        time_limit_s=ask["time_limit_s"],
    )
    return _Answer(sol, _on(keep, sol), len(keep), _within(pb), {"target_share": target})


def _solve_cmclp(pb: SitingProblem, ask: dict) -> _Answer:
    keep, rows, cols, _ = pb.useful(new_only=False)
    if len(keep) == 0:
        return _nothing(pb)
    cap = pb.new_site_capacity()
    sol = capacitated_covering(
        pb.cover(rows, cols, len(keep)),
        pb.weights,
        min(ask["add"], len(keep)),
        capacity=np.full(len(keep), cap),
        existing_cover=pb.existing_cover(),
        existing_capacity=pb.existing_capacity,
        method=ask["method"],
        time_limit_s=ask["time_limit_s"],
    )
    measure = f"people served within {pb.threshold_m:g} m and within site capacities"
    return _Answer(sol, _on(keep, sol), len(keep), measure, {"site_capacity": cap})


def _solve_clscp(pb: SitingProblem, ask: dict) -> _Answer:
    keep, rows, cols, _ = pb.useful(new_only=False)
    target = 0.95 if ask["target_share"] is None else float(ask["target_share"])
    cap = pb.new_site_capacity()
    sol = capacitated_set_covering(
        pb.cover(rows, cols, len(keep)),
        pb.weights,
        capacity=cap,
        target_share=target,
        existing_cover=pb.existing_cover(),
        existing_capacity=pb.existing_capacity,
        method=ask["method"],
        time_limit_s=ask["time_limit_s"],
    )
    measure = f"people served within {pb.threshold_m:g} m and within site capacities"
    extra = {"site_capacity": cap, "target_share": target}
    return _Answer(sol, _on(keep, sol), len(keep), measure, extra)


def _solve_scaleup(pb: SitingProblem, ask: dict) -> _Answer:
    keep, rows, cols, _ = pb.useful(new_only=False)
    cap = pb.new_site_capacity()
    target = ask["target_share"]
    sol = scale_up(
        pb.cover(rows, cols, len(keep)),
        pb.weights,
        capacity=cap,
        target_share=target,
        max_sites=None if ask["add"] is None or target is not None else ask["add"],
        existing_cover=pb.existing_cover(),
        existing_capacity=pb.existing_capacity,
        method=ask["method"],
        time_limit_s=ask["time_limit_s"],
    )
    measure = f"people served within {pb.threshold_m:g} m and within site capacities"
    extra = {"site_capacity": cap, "target_share": target}
    return _Answer(sol, _on(keep, sol), len(keep), measure, extra)


def _nearest_existing(pb: SitingProblem) -> np.ndarray:
    return nearest_xy(pb.existing_xy, pb.demand_xy, pb.crs)[1]


def _pairs_closer(pb: SitingProblem, limit: np.ndarray):
    """Candidate pairs closer than each row's ``limit`` (ground metres), as a CSR cost."""
    k = 1.0004  # UTM scale <= 1.0004 within a zone
    lists = cKDTree(pb.candidate_xy).query_ball_point(pb.demand_xy, limit * k)
    lens = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    cols = np.fromiter((j for lst in lists for j in lst), dtype=np.int64, count=int(lens.sum()))
    rows = np.repeat(np.arange(len(pb.demand_xy)), lens)
    grid = np.hypot(*(pb.demand_xy[rows] - pb.candidate_xy[cols]).T)
    d = ground_m(grid, pb.demand_xy[rows, 0], pb.candidate_xy[cols, 0], pb.crs)
    shape = (len(pb.demand_xy), len(pb.candidate_xy))
    return sp.csr_array((d, (rows, cols)), shape=shape)


def _solve_pmedian(pb: SitingProblem, ask: dict) -> _Answer:
    keep, _, _, _ = pb.useful(new_only=False)
    d0 = _nearest_existing(pb)
    if not np.isfinite(d0).all():
        raise ValidationError("p-median needs at least one existing site of the type")
    w = pb.weights
    # candidate pairs closer than each row's nearest existing site: the only useful ones
    cost = _pairs_closer(pb, d0)[:, keep]
    sol = p_median(
        cost,
        w,
        ask["add"],
        existing_cost=d0,
        method=ask["method"],
        time_limit_s=ask["time_limit_s"],
    )
    before = float(np.sum(w * d0))
    extra = {
        "distance_total_before": before,
        "distance_total_after": float(sol.objective),
        "mean_distance_before_m": float(before / w.sum()) if w.sum() else float("nan"),
        "mean_distance_after_m": float(sol.objective / w.sum()) if w.sum() else float("nan"),
    }
    return _Answer(sol, _on(keep, sol), len(keep), _within(pb), extra)


def _solve_pcenter(pb: SitingProblem, ask: dict) -> _Answer:
    w = pb.weights
    d0 = _nearest_existing(pb)
    act = w > 0
    worst0 = float(d0[act].max()) if act.any() else 0.0
    if not np.isfinite(worst0):  # no existing site: farthest-first gives a first bound
        worst0 = _farthest_first(pb, max(ask["add"], 1))
    cost = _pairs_closer(pb, np.minimum(d0, worst0))
    reach = np.flatnonzero(np.bincount(cost.indices, minlength=cost.shape[1]))
    sol = p_center(
        cost[:, reach],
        min(ask["add"], len(reach)),
        weights=w,
        existing_cost=d0,
        method=ask["method"],
        time_limit_s=ask["time_limit_s"],
    )
    chosen = _on(reach, sol)
    # the worst distance recounted from the sites, not read from the solver
    sites = np.r_[pb.existing_xy, pb.candidate_xy[chosen]] if len(chosen) else pb.existing_xy
    d1 = nearest_xy(sites, pb.demand_xy, pb.crs)[1]
    extra = {
        "worst_distance_before_m": worst0 if np.isfinite(d0[act]).all() else None,
        "worst_distance_after_m": float(d1[act].max()) if act.any() else 0.0,
    }
    return _Answer(sol, chosen, len(reach), _within(pb), extra)


def _farthest_first(pb: SitingProblem, p: int) -> float:
    """Worst distance after p candidates placed farthest-first (an upper bound)."""
    act = np.flatnonzero(pb.weights > 0)
    tree = cKDTree(pb.candidate_xy)
    dem = pb.demand_xy[act]
    best = np.full(len(act), np.inf)
    for _ in range(min(p, len(pb.candidate_xy))):
        far = int(np.argmax(best)) if np.isfinite(best).any() else 0
        j = int(tree.query(dem[far])[1])
        best = np.minimum(best, np.hypot(*(dem - pb.candidate_xy[j]).T))
    return float(best.max() * 1.001 + 1.0)


def _solve_backup(pb: SitingProblem, ask: dict, *, lscpb: bool = False) -> _Answer:
    e = np.minimum(pb.existing_count, 2)
    keep, rows, cols, _ = pb.useful(rows_ok=e < 2)
    cover = pb.cover(rows, cols, len(keep))
    target = None
    if lscpb:
        target = 0.95 if ask["target_share"] is None else float(ask["target_share"])
    sol = backup_covering(
        cover,
        pb.weights,
        None if lscpb else min(ask["add"], len(keep)),
        existing_count=e,
        target_share=1.0 if target is None else target,
        method=ask["method"],
        time_limit_s=ask["time_limit_s"],
    )
    chosen = _on(keep, sol)
    # people covered twice, recounted from the pairs of the sites open after
    r_all, c_all, _ = pb.pairs
    cnt = e + np.bincount(r_all[np.isin(c_all, chosen)], minlength=len(e))
    extra = {
        "people_twice_before": float(pb.weights[e >= 2].sum()),
        "people_twice_after": float(pb.weights[cnt >= 2].sum()),
    }
    if target is not None:
        extra["target_share"] = target
    return _Answer(sol, chosen, len(keep), _within(pb), extra)


def _solve_cpmedian(pb: SitingProblem, ask: dict) -> _Answer:
    reach_m = 3 * pb.threshold_m
    w = pb.weights
    lim = np.full(len(w), reach_m)
    cost = _pairs_closer(pb, lim)
    keep = np.flatnonzero(np.bincount(cost.indices, minlength=cost.shape[1]))
    er, ec, ed = _pairs_xy(pb.existing_xy, pb.demand_xy, pb.crs, reach_m)
    ex_cost = sp.csr_array((ed, (er, ec)), shape=(len(w), len(pb.existing)))
    sol = capacitated_p_median(
        cost[:, keep],
        w,
        min(ask["add"], len(keep)),
        capacity=pb.new_site_capacity(),
        existing_cost=ex_cost,
        existing_capacity=pb.existing_capacity,
        single_source=False,
        method=ask["method"],
        time_limit_s=ask["time_limit_s"],
    )
    extra = {
        "site_capacity": pb.new_site_capacity(),
        "reach_m": reach_m,
        "mean_distance_after_m": float(sol.objective / w.sum()) if w.sum() else float("nan"),
    }
    return _Answer(sol, _on(keep, sol), len(keep), _within(pb), extra)


def _solve_route(pb: SitingProblem, ask: dict) -> _Answer:
    lines, trucks, served_ex = pb.routes
    off = route_offsets(pb.candidate_xy, lines)
    keep = np.flatnonzero((off[~served_ex] <= pb.detour_m).any(axis=0))
    cover = sp.csr_array((off[:, keep] <= pb.detour_m).astype(np.float64))
    sol = maximal_covering(
        cover,
        trucks,
        min(ask["add"], len(keep)),
        covered=served_ex,
        method=ask["method"],
        time_limit_s=ask["time_limit_s"],
    )
    measure = f"daily trucks on freight routes with a site within {pb.detour_m:g} m of the route"
    extra = {"routes": len(lines), "routes_served_before": int(served_ex.sum())}
    return _Answer(sol, _on(keep, sol), len(keep), measure, extra)


def _nothing(pb: SitingProblem, **extra) -> _Answer:
    before = pb.recount_covered(np.empty(0, np.int64))[0]
    sol = Solution(np.empty(0, np.int64), before, before, True, 0.0, "trivial", "trivial")
    return _Answer(sol, np.empty(0, np.int64), 0, _within(pb), dict(extra))


@dataclass(frozen=True)
class SitingModel:
    """One entry of :data:`SITING_MODELS`: what a model optimises and how it is solved.

    ``summary`` is the one line the CLI help, the API and the planner show; ``recount``
    names what :meth:`SitingProblem.recount` measures after each site ("covered":
    people within the threshold, by :func:`geo.coverage.coverage`; "served": people
    served within capacities; "route": daily trucks on routes served); ``drop_idle``
    drops listed sites that add nobody (the models that must place exactly ``add``).
    """

    key: str
    summary: str
    solve: Callable[[SitingProblem, dict], _Answer]
    recount: str = "covered"
    drop_idle: bool = False
    uses_add: bool = True


SITING_MODELS: dict[str, SitingModel] = {
    m.key: m
    for m in (
        SitingModel(
            "mclp",
            "most people newly within the threshold (maximal covering)",
            _solve_mclp,
            drop_idle=True,
        ),
        SitingModel(
            "cmclp",
            "most people served, each site serving at most its capacity",
            _solve_cmclp,
            recount="served",
            drop_idle=True,
        ),
        SitingModel(
            "lscp",
            "fewest sites that bring coverage to the target share (set covering)",
            _solve_lscp,
            uses_add=False,
        ),
        SitingModel(
            "clscp",
            "fewest sites that serve the target share within site capacities",
            _solve_clscp,
            recount="served",
            uses_add=False,
        ),
        SitingModel(
            "pmedian",
            "least total straight-line distance to the nearest site (p-median)",
            _solve_pmedian,
        ),
        SitingModel(
            "cpmedian",
            "least total distance with every worker served within capacities",
            _solve_cpmedian,
        ),
        SitingModel(
            "pcenter",
            "the worst-off worker as near as possible (p-center, the fair model)",
            _solve_pcenter,
        ),
        SitingModel(
            "backup",
            "most people within reach of two sites (maximal covering with backup)",
            _solve_backup,
        ),
        SitingModel(
            "lscpb",
            "fewest sites covering the target share, then most people covered twice",
            functools.partial(_solve_backup, lscpb=True),
            uses_add=False,
        ),
        SitingModel(
            "scaleup",
            "the order to build in: each next site serving the most people left",
            _solve_scaleup,
            recount="served",
            drop_idle=True,
        ),
        SitingModel(
            "route",
            "most daily trucks on freight routes with a driver home nearby",
            _solve_route,
            recount="route",
            drop_idle=True,
        ),
    )
}
MODELS = tuple(SITING_MODELS)


def suggest_sites(
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    facility_type: str,
    add: int | None = 5,
    model: str | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    boundary: gpd.GeoDataFrame | None = None,
    exclude: gpd.GeoDataFrame | None = None,
    spacing_m: float | None = None,
    threshold_m: float | None = None,
    target_share: float | None = None,
    site_capacity: float | None = None,
    detour_m: float | None = None,
    method: str = "exact",
    time_limit_s: float | None = 60.0,
    snap: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame] | None = None,
    registry: dict | None = None,
) -> SiteSuggestion:
    """Where the next ``add`` sites of a facility type should go, existing sites kept.

    Parameters
    ----------
    facilities, demand : GeoDataFrame
        The facility layer (all types; the type's rows are the fixed existing sites) and
        the demand layer (the type's demand group is used), EPSG:4326.
    facility_type : str
        Registry key; gives the demand group, threshold and rule.
    add : int
        Sites to add (``"lscp"``, ``"clscp"``, ``"lscpb"``: ignored, the model finds how
        many; ``"scaleup"``: the most to build when no ``target_share`` is given).
    model : str, optional
        A key of :data:`SITING_MODELS` (each with its one-line summary). Default
        ``"route"`` for route-rule types (driver homes), else ``"mclp"``.
    candidates : GeoDataFrame, optional
        Candidate points (``id`` optional). Default: a grid inside ``boundary``.
    boundary, exclude, spacing_m, snap
        For the default candidates, see :func:`candidate_sites`; ``spacing_m`` defaults
        to a quarter of the threshold (a tenth of the detour for the route model).
        Candidates that would cover nobody (new) are dropped before solving.
    threshold_m : float, optional
        Coverage distance; default the type's.
    target_share : float, optional
        ``"lscp"``, ``"clscp"``, ``"lscpb"``: the share to reach (default 0.95);
        ``"scaleup"``: build until this share is served.
    site_capacity : float, optional
        Capacity of a new site (capacitated models): default the median of the type's.
    detour_m : float, optional
        Route model: the most a home may lie off a route (default the type's
        ``max_offroute_m``).
    method : {"exact", "fast"}
    time_limit_s : float, optional
        HiGHS time limit; a result stopped by it says ``proven_optimal=False``.
    """
    _check_method(method)
    ftype = resolve_type(facility_type, registry)
    model = model or ("route" if ftype.rule == "route" else "mclp")
    if model not in SITING_MODELS:
        raise ValidationError(f"model={model!r} is not known; use one of {MODELS}")
    entry = SITING_MODELS[model]
    if candidates is None:
        if boundary is None:
            raise ValidationError(
                "give candidates= or boundary= (candidate sites are made inside it)"
            )
        threshold = threshold_for(ftype, threshold_m)
        detour = float(detour_m or ftype.max_offroute_m or threshold)
        spacing = spacing_m or (detour / 10 if model == "route" else threshold / 4)
        candidates = candidate_sites(boundary, spacing_m=spacing, exclude=exclude, snap=snap)
    pb = SitingProblem.from_frames(
        facilities,
        demand,
        candidates,
        facility_type=facility_type,
        threshold_m=threshold_m,
        detour_m=detour_m,
        site_capacity=site_capacity,
        registry=registry,
    )
    ask = {
        "add": 0 if add is None else int(add),
        "target_share": target_share,
        "method": method,
        "time_limit_s": time_limit_s,
    }
    t0 = time.perf_counter()
    ans = entry.solve(pb, ask)
    solve_s = time.perf_counter() - t0
    chosen = ans.chosen
    served = pb.recount(entry.recount, chosen)
    added = np.diff(served)
    extra = dict(ans.extra)
    if entry.drop_idle and len(added):
        # the models place exactly `add` sites; one that adds nobody is not worth building
        busy = added > 1e-9
        if not busy.all():
            extra["sites_adding_nobody_dropped"] = int((~busy).sum())
        chosen, added = chosen[busy], added[busy]
    people_total = float(pb.weights.sum())
    if model == "route":
        people_total = float(pb.routes[1].sum())
        extra["detour_m"] = pb.detour_m
    ids = pb.candidates["id"].astype(str).to_numpy() if "id" in pb.candidates.columns else None
    ll = transform_xy(pb.candidate_xy[chosen], pb.crs, 4326)
    after = served[0] + np.cumsum(added)
    sites = gpd.GeoDataFrame(
        {
            "id": ids[chosen] if ids is not None else [f"C{c + 1}" for c in chosen],
            "lon": ll[:, 0],
            "lat": ll[:, 1],
            "people_added": added,
            "share_after": after / people_total if people_total else np.full(len(after), np.nan),
        },
        geometry=gpd.points_from_xy(ll[:, 0], ll[:, 1]),
        crs="EPSG:4326",
    )
    return SiteSuggestion(
        facility_type=ftype.key,
        model=model,
        method=method,
        threshold_m=pb.threshold_m,
        detour_m=pb.detour_m if model == "route" else None,
        sites=sites,
        people_total=people_total,
        people_before=float(served[0]),
        people_after=float(served[0] + added.sum()),
        proven_optimal=bool(ans.sol.proven_optimal),
        gap=ans.sol.gap,
        objective=float(ans.sol.objective),
        bound=ans.sol.bound,
        n_candidates=int(ans.n_candidates),
        build_s=float(ans.sol.build_s),
        solve_s=float(solve_s),
        measure=ans.measure,
        extra=extra,
    )


# --------------------------------------------------------------------------- what-if
def apply_changes(
    facilities: gpd.GeoDataFrame,
    *,
    facility_type: str,
    add: gpd.GeoDataFrame | Sequence[tuple[float, float]] = (),
    close: Sequence[str] = (),
    move: Mapping[str, tuple[float, float]] | None = None,
) -> gpd.GeoDataFrame:
    """The facility layer after a planner's edits: sites closed, moved and added.

    Parameters
    ----------
    facilities : GeoDataFrame
        Any facility layer (all types).
    facility_type : str
        The type of the added sites.
    add : GeoDataFrame or sequence of (lon, lat)
        New sites, WGS84. A frame may carry ``id``, ``name`` and ``capacity``.
    close : sequence of str
        Facility ids to remove.
    move : dict, optional
        ``{facility id: (lon, lat)}``.

    Returns
    -------
    GeoDataFrame
        EPSG:4326. Added sites get ids ``NEW1``, ``NEW2``, ... (unless the frame gives
        them), ``name`` = the id, the ``type`` given and capacity NaN (unknown: a model
        or an accessibility measure that needs a number fills it and says how).
        Raises :class:`~geo.errors.ValidationError` for an id that is not in the layer.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> fac = gpd.GeoDataFrame({"id": ["A", "B"], "type": "outdoor_station"},
    ...                        geometry=[Point(121.8, 29.9), Point(121.9, 29.9)], crs=4326)
    >>> out = apply_changes(fac, facility_type="outdoor_station", add=[(121.85, 29.95)],
    ...                     close=["A"])
    >>> out["id"].tolist(), out["capacity"].isna().tolist()
    (['B', 'NEW1'], [True, True])
    """
    fac = facilities
    if len(close) or move:
        ids = facilities["id"].astype(str)
        known = set(ids)
        unknown = [str(i) for i in list(close) + list(move or {}) if str(i) not in known]
        if unknown:
            raise ValidationError(f"no facility with id {unknown[0]!r}; check the close/move ids")
        fac = facilities[~ids.isin([str(c) for c in close])]
    if fac.crs is None or not fac.crs.equals(CRS_4326):
        fac = fac.to_crs(4326)
    if move:
        fac = fac.copy()
        for fid, (lon, lat) in move.items():
            fac.loc[fac["id"].astype(str) == str(fid), fac.geometry.name] = shapely.Point(lon, lat)
    if isinstance(add, gpd.GeoDataFrame):
        frame = add.to_crs(4326)
        geom = frame.geometry.to_numpy()
        new_ids = (
            frame["id"].astype(str).tolist()
            if "id" in frame
            else [f"{NEW_ID_PREFIX}{i + 1}" for i in range(len(frame))]
        )
        cap = (
            pd.to_numeric(frame["capacity"], errors="coerce").to_numpy(dtype="float64")
            if "capacity" in frame
            else np.full(len(frame), np.nan)
        )
    else:
        xy = np.asarray(list(add), dtype=np.float64).reshape(-1, 2)
        geom = shapely.points(xy)
        new_ids = [f"{NEW_ID_PREFIX}{i + 1}" for i in range(len(xy))]
        cap = np.full(len(xy), np.nan)
    if "capacity" not in fac:
        fac = fac.assign(capacity=np.nan)
    if not len(new_ids):
        return fac.copy() if fac is facilities else fac
    name = fac.geometry.name
    new = pd.DataFrame(
        {"id": new_ids, "type": facility_type, "name": new_ids, "capacity": cap, name: geom}
    )
    out = pd.concat([fac, new], ignore_index=True) if len(fac) else new
    return gpd.GeoDataFrame(out, geometry=name, crs=4326)


@dataclass
class WhatIf:
    """The change a planner's edit makes (see :func:`what_if`)."""

    facility_type: str
    threshold_m: float
    people_total: float
    people_before: float
    people_after: float
    access_before: float
    access_after: float
    gini_before: float
    gini_after: float
    by_area: pd.DataFrame
    facilities_after: gpd.GeoDataFrame

    @property
    def people_change(self) -> float:
        return self.people_after - self.people_before

    def to_dict(self) -> dict[str, Any]:
        t = self.people_total or float("nan")

        def r(x, nd=6):
            return None if x is None or not math.isfinite(x) else round(float(x), nd)

        return {
            "facility_type": self.facility_type,
            "threshold_m": self.threshold_m,
            "people_total": r(self.people_total, 1),
            "people_before": r(self.people_before, 1),
            "people_after": r(self.people_after, 1),
            "people_change": r(self.people_change, 1),
            "covered_before": r(self.people_before / t, 4),
            "covered_after": r(self.people_after / t, 4),
            "access_before": r(self.access_before),
            "access_after": r(self.access_after),
            "gini_before": r(self.gini_before, 4),
            "gini_after": r(self.gini_after, 4),
            "by_area": [
                {k: (r(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                for row in self.by_area.to_dict("records")
            ],
        }


def what_if(
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    facility_type: str,
    add: gpd.GeoDataFrame | Sequence[tuple[float, float]] | None = None,
    move: Mapping[str, tuple[float, float]] | None = None,
    close: Sequence[str] | None = None,
    areas: gpd.GeoDataFrame | None = None,
    threshold_m: float | None = None,
    capacity: float | None = None,
    registry: dict | None = None,
) -> WhatIf:
    """Add, move or close sites and see the change in covered people and accessibility.

    Parameters
    ----------
    add, move, close
        The edits, as for :func:`apply_changes` (which makes ``facilities_after``).
    areas : GeoDataFrame, optional
        Sub-districts etc.: the change per area.
    capacity : float, optional
        For the accessibility figures only: the capacity of sites without one (the added
        ones, and existing ones of unknown capacity); default the median of the type's.

    Returns
    -------
    WhatIf
        People covered before/after (:func:`geo.coverage.coverage`), people-weighted mean
        2SFCA accessibility and its Gini before/after, and the change per area.
    """
    from geo.access import access_by_area, accessibility, gini
    from geo.coverage import coverage

    ftype = resolve_type(facility_type, registry)
    threshold_m = threshold_for(ftype, threshold_m)
    fac = apply_changes(
        facilities,
        facility_type=ftype.key,
        add=() if add is None else add,
        close=close or (),
        move=move,
    )
    kind = facilities[facilities["type"] == ftype.key] if "type" in facilities else facilities
    cap_known = pd.to_numeric(kind.get("capacity", pd.Series(dtype=float)), errors="coerce")
    default_cap = (
        capacity
        if capacity is not None
        else (float(cap_known.median()) if cap_known.notna().any() else 1.0)
    )
    out = {}
    for tag, f in (("before", facilities), ("after", fac)):
        f = f.to_crs(demand.crs)
        res = coverage(
            f, demand, facility_type=ftype.key, threshold_m=threshold_m, registry=registry
        )
        kinds = f[f["type"] == ftype.key]
        cap = pd.to_numeric(kinds["capacity"], errors="coerce").fillna(default_cap).to_numpy()
        acc = accessibility(
            f,
            demand,
            facility_type=ftype.key,
            threshold_m=threshold_m,
            capacity=cap,
            registry=registry,
        )
        res["access"] = acc["access"].to_numpy()
        out[tag] = res
    wts = out["before"]["weight"].to_numpy(dtype="float64")

    def people(res):
        return float(res.loc[res["covered"].to_numpy(bool), "weight"].sum())

    def mean_access(res):
        return float(np.average(res["access"], weights=wts)) if wts.sum() else float("nan")

    by_area = pd.DataFrame()
    if areas is not None and len(areas):
        b = access_by_area(out["before"], areas).set_index("area_id")
        a = access_by_area(out["after"], areas).set_index("area_id")
        by_area = pd.DataFrame(
            {
                "name": b["name"],
                "level": b["level"],
                "people": b["people"],
                "covered_before": b["covered_share"],
                "covered_after": a["covered_share"].reindex(b.index),
                "access_before": b["mean"],
                "access_after": a["mean"].reindex(b.index),
            }
        ).reset_index()
        by_area["covered_change"] = by_area["covered_after"] - by_area["covered_before"]
        by_area = by_area.sort_values("covered_change", ascending=False).reset_index(drop=True)
    return WhatIf(
        facility_type=ftype.key,
        threshold_m=threshold_m,
        people_total=float(wts.sum()),
        people_before=people(out["before"]),
        people_after=people(out["after"]),
        access_before=mean_access(out["before"]),
        access_after=mean_access(out["after"]),
        gini_before=gini(out["before"]["access"], wts) if wts.sum() else float("nan"),
        gini_after=gini(out["after"]["access"], wts) if wts.sum() else float("nan"),
        by_area=by_area,
        facilities_after=fac,
    )


__all__ = [
    "MODELS",
    "SITING_MODELS",
    "SiteSuggestion",
    "SitingModel",
    "SitingProblem",
    "Solution",
    "WhatIf",
    "apply_changes",
    "backup_covering",
    "candidate_sites",
    "capacitated_covering",
    "capacitated_p_median",
    "capacitated_set_covering",
    "maximal_covering",
    "p_center",
    "p_median",
    "scale_up",
    "set_covering",
    "suggest_sites",
    "what_if",
]
