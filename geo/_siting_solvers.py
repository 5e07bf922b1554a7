"""Numeric core of the location models: arrays in, chosen columns out.

Every model is built for HiGHS (``highspy``) straight from sparse arrays (row pointers,
column indices, values), with no Python loop over demand-facility pairs, and has a fast
greedy + swap mode. The public wrappers live in :mod:`geo.siting`.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from geo.errors import ServicemapError, ValidationError

_BANNER_LOCK = threading.Lock()
_BANNER_DONE = False


@dataclass
class Solution:
    """What a solver returns (model units; :mod:`geo.siting` adds recomputed coverage).

    Attributes
    ----------
    sites : ndarray of int
        Chosen candidate columns, most valuable first (greedy order on the chosen set).
    objective : float
        Objective of the chosen sites in the solver's units (people newly covered for the
        covering models, people x cost for p-median, sites for set covering).
    bound : float or None
        Best proven bound on the objective (None when the method gives none).
    proven_optimal : bool
        True only when HiGHS proved the optimum (gap within ``mip_rel_gap``).
    gap : float or None
        ``|bound - objective| / |objective|`` (0 when both are 0); None without a bound.
    method : str
        ``"highs"`` or ``"greedy+swap"`` (or ``"greedy"``).
    status : str
        HiGHS's model status, or ``"heuristic"``.
    build_s, solve_s : float
        Seconds spent building the model and solving it.
    gains : ndarray or None
        Scale-up only: the people each site adds, in build order.
    """

    sites: np.ndarray
    objective: float
    bound: float | None
    proven_optimal: bool
    gap: float | None
    method: str
    status: str
    build_s: float = 0.0
    solve_s: float = 0.0
    gains: np.ndarray | None = None


def _gap(obj: float, bound: float | None) -> float | None:
    if bound is None or not math.isfinite(bound):
        return None
    diff = abs(bound - obj)
    if diff <= 1e-9 * max(1.0, abs(obj)):
        return 0.0
    return diff / abs(obj) if obj != 0 else math.inf


# --------------------------------------------------------------------------- HiGHS
def _new_highs():
    """A silent ``highspy.Highs``. HiGHS prints its banner to stdout (file descriptor 1)
    when the first instance of a process is built; that would corrupt ``--json`` output,
    so the first construction runs with fd 1 pointed at stderr."""
    global _BANNER_DONE
    import highspy

    with _BANNER_LOCK:
        if _BANNER_DONE:
            h = highspy.Highs()
        else:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            saved = None
            try:
                saved = os.dup(1)
                os.dup2(2, 1)
            except OSError:  # pragma: no cover - no usable descriptors
                saved = None
            try:
                h = highspy.Highs()
            finally:
                if saved is not None:
                    os.dup2(saved, 1)
                    os.close(saved)
            _BANNER_DONE = True
    h.setOptionValue("output_flag", False)
    return h


def _solve_highs(
    *,
    cost: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    n_int: int,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    maximize: bool,
    time_limit_s: float | None,
    mip_rel_gap: float,
    integer: np.ndarray | None = None,
    options: dict | None = None,
    allow_infeasible: bool = False,
):
    """Solve a MIP given row-wise (CSR) constraint arrays; the first ``n_int`` columns
    are integer (or the columns where the boolean mask ``integer`` is set).
    Returns (x, objective, bound, proven_optimal, status, build_s, solve_s)."""
    import highspy

    t0 = time.perf_counter()
    h = _new_highs()
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(row_lo)
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lo, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_hi, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lo, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_hi, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = len(cost)
    lp.a_matrix_.num_row_ = len(row_lo)
    lp.a_matrix_.start_ = np.asarray(indptr, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(indices, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(values, dtype=np.float64)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    if integer is None:
        integer = np.arange(len(cost)) < n_int
    n_int = int(np.count_nonzero(integer))
    if n_int:
        kinds = [highspy.HighsVarType.kContinuous] * len(cost)
        for j in np.flatnonzero(integer):
            kinds[j] = highspy.HighsVarType.kInteger
        lp.integrality_ = kinds
    h.passModel(lp)
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("mip_abs_gap", 1e-7)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    for key, value in (options or {}).items():
        h.setOptionValue(key, value)
    t1 = time.perf_counter()
    h.run()
    t2 = time.perf_counter()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    x = np.asarray(h.getSolution().col_value, dtype=np.float64)
    obj = float(info.objective_function_value)
    if n_int:
        bound = float(info.mip_dual_bound)
        proven = status == "Optimal"
    else:
        bound, proven = obj, status == "Optimal"
    if status == "Infeasible" and allow_infeasible:
        return None, math.inf, math.inf, True, status, t1 - t0, t2 - t1
    if status == "Infeasible":
        raise ValidationError(
            "the model has no solution (HiGHS: infeasible); lower the target, raise the "
            "capacities or add candidates"
        )
    if len(x) != len(cost) or (n_int and info.primal_solution_status != 2):
        raise ServicemapError(
            f"HiGHS found no feasible solution (status {status!r}"
            + (f", time limit {time_limit_s:g} s" if time_limit_s is not None else "")
            + "); raise time_limit_s or use method='fast'"
        )
    return x, obj, bound, proven, status, t1 - t0, t2 - t1


def _csr_rows(blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_rows: int):
    """Stack (row, col, val) triplets into CSR arrays (rows sorted, stable)."""
    r = np.concatenate([b[0] for b in blocks])
    c = np.concatenate([b[1] for b in blocks])
    v = np.concatenate([b[2] for b in blocks])
    order = np.argsort(r, kind="stable")
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n_rows), out=indptr[1:])
    return indptr, c[order], v[order]


def _to_csr_pairs(rows, cols, n: int, m: int) -> sp.csr_array:
    """A 0/1 CSR (n x m) marking the given (row, col) pairs."""
    return sp.csr_array((np.ones(len(rows)), (np.asarray(rows), np.asarray(cols))), shape=(n, m))


# --------------------------------------------------------------------------- reduction
def reduce_cover(cover, weights, covered=None):
    """Rows worth modelling: not already covered, weight > 0, reachable by a candidate;
    rows with the same set of candidates merged (their weights summed).

    Returns ``(A, W, constant)``: ``A`` a CSR (groups x candidates) of ones, ``W`` the
    group weights, ``constant`` the weight already covered.
    """
    a = sp.csr_array(cover, dtype=np.float64)
    a.sum_duplicates()
    a.sort_indices()
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (a.shape[0],):
        raise ValidationError(f"weights has shape {w.shape}, expected ({a.shape[0]},)")
    if np.isnan(w).any() or (w < 0).any():
        raise ValidationError("weights must be numbers >= 0")
    done = np.zeros(a.shape[0], bool) if covered is None else np.asarray(covered, dtype=bool)
    constant = float(w[done].sum())
    a.data[:] = 1.0
    deg = np.diff(a.indptr)
    keep = np.flatnonzero(~done & (w > 0) & (deg > 0))
    a = a[keep]
    w = w[keep]
    if len(keep) == 0:
        return sp.csr_array((0, a.shape[1])), np.zeros(0), constant
    # identical rows hash alike: two random projections of each row's column set
    rng = np.random.default_rng(12345)
    h = a @ rng.random((a.shape[1], 2))
    key = np.column_stack([h, np.diff(a.indptr)])
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    W = np.bincount(inv, weights=w, minlength=len(first))
    return a[first], W, constant


# --------------------------------------------------------------------------- MCLP
def mclp_exact(
    A: sp.csr_array,
    W: np.ndarray,
    p: int,
    *,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
) -> Solution:
    """max sum W_g z_g  s.t.  z_g <= sum_j A_gj y_j,  sum y = p,  y binary, 0 <= z <= 1."""
    t0 = time.perf_counter()
    k, m = A.shape
    deg = np.diff(A.indptr)
    single = deg == 1
    # a group reached by one candidate only: z_g = y_j, its weight moves to y_j's cost
    c_y = np.bincount(A.indices[A.indptr[:-1][single]], weights=W[single], minlength=m)
    multi = np.flatnonzero(~single)
    Am = A[multi]
    nz = len(multi)
    n_col = m + nz
    cost = np.concatenate([c_y, W[multi]])
    col_lo = np.zeros(n_col)
    col_hi = np.ones(n_col)
    # rows 0..nz-1: z_g - sum_j y_j <= 0 ; row nz: sum_j y_j = p
    rows_cov = np.repeat(np.arange(nz), np.diff(Am.indptr))
    blocks = [
        (np.arange(nz), m + np.arange(nz), np.ones(nz)),
        (rows_cov, Am.indices.astype(np.int64), -np.ones(len(rows_cov))),
        (np.full(m, nz), np.arange(m), np.ones(m)),
    ]
    indptr, indices, values = _csr_rows(blocks, nz + 1)
    row_lo = np.concatenate([np.full(nz, -np.inf), [p]])
    row_hi = np.concatenate([np.zeros(nz), [p]])
    build = time.perf_counter() - t0
    x, obj, bound, proven, status, b2, solve = _solve_highs(
        cost=cost,
        col_lo=col_lo,
        col_hi=col_hi,
        n_int=m,
        row_lo=row_lo,
        row_hi=row_hi,
        indptr=indptr,
        indices=indices,
        values=values,
        maximize=True,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    chosen = np.flatnonzero(x[:m] > 0.5)
    value = covered_weight(A, W, chosen)
    return Solution(
        sites=greedy_order(A, W, chosen),
        objective=value,
        bound=bound,
        proven_optimal=proven,
        gap=_gap(value, bound),
        method="highs",
        status=status,
        build_s=build + b2,
        solve_s=solve,
    )


def covered_weight(A: sp.csr_array, W: np.ndarray, chosen) -> float:
    """Weight of the groups reached by at least one chosen column."""
    if len(W) == 0 or len(chosen) == 0:
        return 0.0
    hit = (A[:, np.asarray(chosen)].sum(axis=1)) > 0
    return float(W[np.asarray(hit).ravel()].sum())


def greedy_order(A: sp.csr_array, W: np.ndarray, chosen) -> np.ndarray:
    """Order chosen columns by marginal gain (each next adds the most among the rest)."""
    chosen = [int(c) for c in chosen]
    if len(chosen) <= 1 or len(W) == 0:
        return np.asarray(chosen, dtype=np.int64)
    sub = sp.csc_array(A[:, chosen])
    left = W.copy()
    out = []
    rest = list(range(len(chosen)))
    while rest:
        gains = sub[:, rest].T @ left
        b = int(np.argmax(gains))
        j = rest.pop(b)
        out.append(chosen[j])
        left[sub.indices[sub.indptr[j] : sub.indptr[j + 1]]] = 0.0
    return np.asarray(out, dtype=np.int64)


def _greedy_fill(A, At, W, p, chosen, cnt):
    """Add columns to ``chosen`` greedily (largest marginal weight) until there are p."""
    m = A.shape[1]
    is_ch = np.zeros(m, dtype=bool)
    is_ch[chosen] = True
    gain = At @ np.where(cnt == 0, W, 0.0)
    while len(chosen) < p:
        j = int(np.argmax(np.where(is_ch, -np.inf, gain)))
        chosen.append(j)
        is_ch[j] = True
        rows = At.indices[At.indptr[j] : At.indptr[j + 1]]
        new = rows[cnt[rows] == 0]
        cnt[rows] += 1
        if len(new):
            gain -= A[new].T @ W[new]
    return chosen, cnt


def _swap_descent(A, At, W, chosen, cnt, max_swaps, eps):
    """Best-improvement swaps (one column out, one in) until none gains more than eps."""
    k, m = A.shape
    is_ch = np.zeros(m, dtype=bool)
    is_ch[chosen] = True
    for _ in range(max_swaps):
        u0 = np.where(cnt == 0, W, 0.0)
        u1 = np.where(cnt == 1, W, 0.0)
        g0 = At @ u0
        ch = np.asarray(chosen)
        loss = (At @ u1)[ch]
        # M[c, s]: weight covered only by s that c would also cover
        M = (At.multiply(u1[None, :]) @ A[:, ch]).toarray() if k else np.zeros((m, len(ch)))
        delta = g0[:, None] + M - loss[None, :]
        delta[is_ch, :] = -np.inf
        c, s = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if delta[c, s] <= eps:
            break
        out_j = chosen[s]
        cnt[At.indices[At.indptr[out_j] : At.indptr[out_j + 1]]] -= 1
        cnt[At.indices[At.indptr[c] : At.indptr[c + 1]]] += 1
        chosen[s] = int(c)
        is_ch[out_j], is_ch[c] = False, True
    return chosen, cnt


def mclp_fast(
    A: sp.csr_array,
    W: np.ndarray,
    p: int,
    *,
    max_swaps: int = 1000,
    restarts: int = 200,
    time_budget_s: float = 0.5,
    seed: int = 0,
) -> Solution:
    """Greedy, best-improvement swaps, then iterated local search: drop a quarter of the
    sites at random, refill greedily, swap again, keep the best (``restarts`` rounds or
    ``time_budget_s``, whichever ends first; seeded, so repeatable).

    The bound is the submodular one: OPT <= f(S) + the p largest marginal gains w.r.t. S.
    """
    t0 = time.perf_counter()
    k, m = A.shape
    if p > m:
        raise ValidationError(f"p={p} is more than the {m} candidates")
    At = sp.csr_array(A.T)  # m x k: a candidate's groups
    eps = 1e-9 * max(1.0, float(W.sum()))
    chosen, cnt = _greedy_fill(A, At, W, p, [], np.zeros(k, dtype=np.int64))
    chosen, cnt = _swap_descent(A, At, W, chosen, cnt, max_swaps, eps)
    best, best_val = list(chosen), float(W[cnt > 0].sum())
    rng = np.random.default_rng(seed)
    for _ in range(restarts if p > 1 else 0):
        if time.perf_counter() - t0 > time_budget_s:
            break
        drop = set(rng.choice(p, size=max(1, p // 4), replace=False).tolist())
        keep = [j for i, j in enumerate(best) if i not in drop]
        cnt = np.asarray((A[:, keep].sum(axis=1)) if keep else np.zeros(k)).ravel()
        cnt = cnt.astype(np.int64)
        # refill with a random (not the greedy) first pick, so the search leaves the basin
        free = np.setdiff1d(np.arange(m), keep + [best[i] for i in drop])
        if len(free):
            j = int(rng.choice(free))
            keep.append(j)
            cnt[At.indices[At.indptr[j] : At.indptr[j + 1]]] += 1
        cand, cnt = _greedy_fill(A, At, W, p, keep, cnt)
        cand, cnt = _swap_descent(A, At, W, cand, cnt, max_swaps, eps)
        val = float(W[cnt > 0].sum())
        if val > best_val + eps:
            best, best_val = list(cand), val
    cnt = np.asarray(A[:, best].sum(axis=1)).ravel()
    value = float(W[cnt > 0].sum())
    is_ch = np.zeros(m, dtype=bool)
    is_ch[best] = True
    g0 = At @ np.where(cnt == 0, W, 0.0)
    g0[is_ch] = 0.0
    bound = value + float(np.sort(g0)[::-1][:p].sum())
    return Solution(
        sites=greedy_order(A, W, best),
        objective=value,
        bound=bound,
        proven_optimal=False,
        gap=_gap(value, bound),
        method="greedy+swap",
        status="heuristic",
        solve_s=time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------- LSCP
def lscp_exact(
    A: sp.csr_array,
    W: np.ndarray,
    need: float,
    *,
    cover_all: bool,
    time_limit_s: float | None = None,
) -> Solution:
    """Fewest columns with covered weight >= need (every group when ``cover_all``)."""
    t0 = time.perf_counter()
    k, m = A.shape
    if cover_all:
        rows = np.repeat(np.arange(k), np.diff(A.indptr))
        indptr, indices, values = _csr_rows(
            [(rows, A.indices.astype(np.int64), np.ones(len(rows)))], k
        )
        cost, col_lo, col_hi = np.ones(m), np.zeros(m), np.ones(m)
        row_lo, row_hi = np.ones(k), np.full(k, np.inf)
    else:
        rows_cov = np.repeat(np.arange(k), np.diff(A.indptr))
        blocks = [
            (np.arange(k), m + np.arange(k), np.ones(k)),
            (rows_cov, A.indices.astype(np.int64), -np.ones(len(rows_cov))),
            (np.full(k, k), m + np.arange(k), W),
        ]
        indptr, indices, values = _csr_rows(blocks, k + 1)
        cost = np.concatenate([np.ones(m), np.zeros(k)])
        col_lo, col_hi = np.zeros(m + k), np.ones(m + k)
        row_lo = np.concatenate([np.full(k, -np.inf), [need]])
        row_hi = np.concatenate([np.zeros(k), [np.inf]])
    build = time.perf_counter() - t0
    x, obj, bound, proven, status, b2, solve = _solve_highs(
        cost=cost,
        col_lo=col_lo,
        col_hi=col_hi,
        n_int=m,
        row_lo=row_lo,
        row_hi=row_hi,
        indptr=indptr,
        indices=indices,
        values=values,
        maximize=False,
        time_limit_s=time_limit_s,
        mip_rel_gap=0.0,
    )
    chosen = np.flatnonzero(x[:m] > 0.5)
    value = float(len(chosen))
    return Solution(
        sites=greedy_order(A, W, chosen),
        objective=value,
        bound=math.ceil(bound - 1e-6),
        proven_optimal=proven,
        gap=_gap(value, math.ceil(bound - 1e-6)),
        method="highs",
        status=status,
        build_s=build + b2,
        solve_s=solve,
    )


def lscp_fast(A: sp.csr_array, W: np.ndarray, need: float) -> Solution:
    """Greedy until the need is met, then drop sites that are no longer needed."""
    t0 = time.perf_counter()
    k, m = A.shape
    At = sp.csr_array(A.T)
    cnt = np.zeros(k, dtype=np.int64)
    gain = At @ W
    chosen: list[int] = []
    got = 0.0
    tol = 1e-9 * max(1.0, float(W.sum()))
    while got < need - tol:
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            raise ValidationError("the target cannot be reached with these candidates")
        chosen.append(j)
        got += gain[j]
        rows = At.indices[At.indptr[j] : At.indptr[j + 1]]
        new = rows[cnt[rows] == 0]
        cnt[rows] += 1
        gain -= A[new].T @ W[new]
        gain[j] = -np.inf
    for j in sorted(
        chosen, key=lambda j: float(W[At.indices[At.indptr[j] : At.indptr[j + 1]]].sum())
    ):
        rows = At.indices[At.indptr[j] : At.indptr[j + 1]]
        loss = float(W[rows[cnt[rows] == 1]].sum())
        if got - loss >= need - tol:
            cnt[rows] -= 1
            got -= loss
            chosen.remove(j)
    return Solution(
        sites=greedy_order(A, W, chosen),
        objective=float(len(chosen)),
        bound=None,
        proven_optimal=False,
        gap=None,
        method="greedy",
        status="heuristic",
        solve_s=time.perf_counter() - t0,
    )


def lscp_at_most(A: sp.csr_array, p: int, *, time_limit_s: float | None = None):
    """Can ``p`` columns cover every group of ``A``? Returns (columns or None, proven).

    Greedy first (a cover of at most ``p`` is an answer); else HiGHS with the objective
    bounded by ``p`` (nodes that cannot do better are pruned), stopped at the first
    solution found: a solution answers yes, "infeasible" is a proof of no."""
    W = np.ones(A.shape[0])
    quick = lscp_fast(A, W, float(W.sum()))
    if quick.objective <= p:
        return quick.sites, True
    k, m = A.shape
    rows = np.repeat(np.arange(k), np.diff(A.indptr))
    indptr, indices, values = _csr_rows([(rows, A.indices.astype(np.int64), np.ones(len(rows)))], k)
    try:
        x, _, _, _, status, _, _ = _lscp_decision(A, rows, indptr, indices, values, p, time_limit_s)
    except ServicemapError:  # the time limit came first: not proven either way
        return None, False
    if x is None:
        return None, True
    chosen = np.flatnonzero(x > 0.5)
    if len(chosen) <= p:
        return chosen, True
    return None, False


def _lscp_decision(A, rows, indptr, indices, values, p, time_limit_s):
    k, m = A.shape
    return _solve_highs(
        cost=np.ones(m),
        col_lo=np.zeros(m),
        col_hi=np.ones(m),
        n_int=m,
        row_lo=np.ones(k),
        row_hi=np.full(k, np.inf),
        indptr=indptr,
        indices=indices,
        values=values,
        maximize=False,
        time_limit_s=time_limit_s,
        mip_rel_gap=0.0,
        options={"objective_bound": p + 0.5, "mip_max_improving_sols": 1},
        allow_infeasible=True,
    )


# --------------------------------------------------------------------------- p-median
def pmedian_exact(
    rows: np.ndarray,
    cols: np.ndarray,
    d: np.ndarray,
    w: np.ndarray,
    fallback: np.ndarray,
    m: int,
    p: int,
    *,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
) -> Solution:
    """min sum_i w_i (sum_e d_e x_e + f_i x0_i)  s.t. sum_e x_e + x0_i = 1, x_e <= y_j,
    sum y = p. Pairs are (rows, cols, d); ``fallback`` is each row's cost when no chosen
    site serves it (its nearest existing facility; inf when it has none)."""
    t0 = time.perf_counter()
    n = len(w)
    keep = d < fallback[rows]
    rows, cols, d = rows[keep], cols[keep], d[keep]
    has_fb = np.isfinite(fallback)
    fb_rows = np.flatnonzero(has_fb)
    ne, nf = len(rows), len(fb_rows)
    # columns: y (m), x (ne), x0 (nf)
    cost = np.concatenate([np.zeros(m), w[rows] * d, w[fb_rows] * fallback[fb_rows]])
    n_col = m + ne + nf
    # rows: assignment (n), linking (ne), cardinality (1)
    blocks = [
        (rows, m + np.arange(ne), np.ones(ne)),
        (fb_rows, m + ne + np.arange(nf), np.ones(nf)),
        (n + np.arange(ne), m + np.arange(ne), np.ones(ne)),
        (n + np.arange(ne), cols.astype(np.int64), -np.ones(ne)),
        (np.full(m, n + ne), np.arange(m), np.ones(m)),
    ]
    indptr, indices, values = _csr_rows(blocks, n + ne + 1)
    row_lo = np.concatenate([np.ones(n), np.full(ne, -np.inf), [p]])
    row_hi = np.concatenate([np.ones(n), np.zeros(ne), [p]])
    build = time.perf_counter() - t0
    x, obj, bound, proven, status, b2, solve = _solve_highs(
        cost=cost,
        col_lo=np.zeros(n_col),
        col_hi=np.ones(n_col),
        n_int=m,
        row_lo=row_lo,
        row_hi=row_hi,
        indptr=indptr,
        indices=indices,
        values=values,
        maximize=False,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    chosen = np.flatnonzero(x[:m] > 0.5)
    value = pmedian_cost(rows, cols, d, w, fallback, chosen)
    return Solution(
        sites=chosen,
        objective=value,
        bound=bound,
        proven_optimal=proven,
        gap=_gap(value, bound),
        method="highs",
        status=status,
        build_s=build + b2,
        solve_s=solve,
    )


def _best_cost(rows, cols, d, fallback, open_mask) -> np.ndarray:
    best = fallback.copy()
    sel = open_mask[cols]
    np.minimum.at(best, rows[sel], d[sel])
    return best


def pmedian_cost(rows, cols, d, w, fallback, chosen) -> float:
    """Total weighted cost when every row uses its cheapest open site (or its fallback)."""
    open_mask = np.zeros(int(cols.max()) + 1 if len(cols) else 1, dtype=bool)
    chosen = np.asarray(chosen, dtype=np.int64)
    open_mask[chosen[chosen < len(open_mask)]] = True
    best = _best_cost(rows, cols, d, fallback, open_mask)
    if not np.isfinite(best[w > 0]).all():
        return math.inf
    return float(np.sum(w[w > 0] * best[w > 0]))


def pmedian_fast(rows, cols, d, w, fallback, m: int, p: int, *, max_swaps: int = 200) -> Solution:
    """Greedy adding, then Teitz-Bart interchange (best swap per pass) until none helps."""
    t0 = time.perf_counter()
    big = np.where(np.isfinite(fallback), fallback, 10.0 * (d.max() if len(d) else 1.0) + 1.0)
    open_mask = np.zeros(m, dtype=bool)
    best = big.copy()
    for _ in range(p):
        gain = np.bincount(cols, weights=w[rows] * np.maximum(best[rows] - d, 0.0), minlength=m)
        gain[open_mask] = -1.0
        j = int(np.argmax(gain))
        open_mask[j] = True
        sel = cols == j
        np.minimum.at(best, rows[sel], d[sel])
    total = float(np.sum(w * best))
    for _ in range(max_swaps):
        chosen = np.flatnonzero(open_mask)
        best_delta, move = -1e-9 * max(1.0, total), None
        for s in chosen:
            om = open_mask.copy()
            om[s] = False
            b_s = _best_cost(rows, cols, d, big, om)
            base = float(np.sum(w * b_s))
            gain = np.bincount(cols, weights=w[rows] * np.maximum(b_s[rows] - d, 0.0), minlength=m)
            gain[open_mask] = -np.inf
            c = int(np.argmax(gain))
            delta = base - gain[c] - total
            if delta < best_delta:
                best_delta, move = delta, (s, c)
        if move is None:
            break
        open_mask[move[0]], open_mask[move[1]] = False, True
        best = _best_cost(rows, cols, d, big, open_mask)
        total = float(np.sum(w * best))
    chosen = np.flatnonzero(open_mask)
    return Solution(
        sites=chosen,
        objective=pmedian_cost(rows, cols, d, w, fallback, chosen),
        bound=None,
        proven_optimal=False,
        gap=None,
        method="greedy+swap",
        status="heuristic",
        solve_s=time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------- capacitated
def capacitated_exact(
    rows: np.ndarray,
    cols: np.ndarray,
    w: np.ndarray,
    cap: np.ndarray,
    n_cand: int,
    p: int | None,
    *,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
) -> tuple[Solution, float]:
    """Capacitated maximal covering. Sites ``0..n_cand-1`` are candidates (choose ``p``),
    the rest are existing and open. ``x_e`` is the share of row ``rows[e]`` served by
    site ``cols[e]``: max sum w x  s.t.  sum_e x_e <= 1 per row,
    sum_e w x_e <= cap_j y_j per site, x_e <= y_j. With ``p=None`` nothing is chosen
    (``n_cand`` is 0: the people the given open sites serve, an LP).
    Returns the solution and the people served."""
    t0 = time.perf_counter()
    n, n_site = len(w), len(cap)
    ne = len(rows)
    inf_cap = ~np.isfinite(cap)
    open_fixed = np.zeros(n_site, dtype=bool)
    open_fixed[n_cand:] = True
    y_lo = np.where(open_fixed[:n_cand], 1.0, 0.0)
    y_hi = np.ones(n_cand) if p is not None else y_lo.copy()
    cand_pair = cols < n_cand
    ce = np.flatnonzero(cand_pair)
    # columns: y (n_cand), x (ne); rows: per demand (n), per site (n_site), link (len(ce)), card
    cost = np.concatenate([np.zeros(n_cand), w[rows]])
    blocks = [
        (rows, n_cand + np.arange(ne), np.ones(ne)),
        (n + cols.astype(np.int64), n_cand + np.arange(ne), w[rows]),
        (n + np.arange(n_cand), np.arange(n_cand), -np.where(inf_cap[:n_cand], 0.0, cap[:n_cand])),
        (n + n_site + np.arange(len(ce)), n_cand + ce, np.ones(len(ce))),
        (n + n_site + np.arange(len(ce)), cols[ce].astype(np.int64), -np.ones(len(ce))),
        (np.full(n_cand, n + n_site + len(ce)), np.arange(n_cand), np.ones(n_cand)),
    ]
    n_row = n + n_site + len(ce) + 1
    indptr, indices, values = _csr_rows(blocks, n_row)
    site_hi = np.where(inf_cap, np.inf, 0.0)
    site_hi[n_cand:] = np.where(inf_cap[n_cand:], np.inf, cap[n_cand:])
    n_open = p + int(open_fixed[:n_cand].sum()) if p is not None else int(y_lo.sum())
    row_lo = np.concatenate([np.full(n + n_site + len(ce), -np.inf), [n_open]])
    row_hi = np.concatenate([np.ones(n), site_hi, np.zeros(len(ce)), [n_open]])
    build = time.perf_counter() - t0
    x, obj, bound, proven, status, b2, solve = _solve_highs(
        cost=cost,
        col_lo=np.concatenate([y_lo, np.zeros(ne)]),
        col_hi=np.concatenate([y_hi, np.ones(ne)]),
        n_int=n_cand if p is not None else 0,
        row_lo=row_lo,
        row_hi=row_hi,
        indptr=indptr,
        indices=indices,
        values=values,
        maximize=True,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    chosen = np.flatnonzero((x[:n_cand] > 0.5) & ~open_fixed[:n_cand])
    sol = Solution(
        sites=chosen,
        objective=obj,
        bound=bound,
        proven_optimal=proven,
        gap=_gap(obj, bound),
        method="highs",
        status=status,
        build_s=build + b2,
        solve_s=solve,
    )
    return sol, obj


def capacitated_served(rows, cols, w, cap, open_sites) -> float:
    """People served by the given open sites within their capacities (an LP)."""
    open_sites = np.asarray(open_sites, dtype=np.int64)
    keep = np.isin(cols, open_sites)
    if not keep.any():
        return 0.0
    r, c = rows[keep], cols[keep]
    remap = -np.ones(len(cap), dtype=np.int64)
    remap[open_sites] = np.arange(len(open_sites))
    _, served = capacitated_exact(r, remap[c], w, cap[open_sites], 0, None)
    return served


def capacitated_fast(rows, cols, d, w, cap, n_cand: int, p: int) -> Solution:
    """Greedy: open the candidate that can take the most unserved people (up to its
    capacity), fill it nearest first, repeat; existing sites are filled first."""
    t0 = time.perf_counter()
    left = w.astype(np.float64).copy()
    order = np.lexsort((d, cols))
    rows, cols, d = rows[order], cols[order], d[order]
    starts = np.searchsorted(cols, np.arange(len(cap) + 1))

    def fill(j):
        room = cap[j]
        for e in range(starts[j], starts[j + 1]):
            if room <= 0:
                break
            take = min(room, left[rows[e]])
            left[rows[e]] -= take
            room -= take

    for j in range(n_cand, len(cap)):
        fill(j)
    chosen: list[int] = []
    for _ in range(p):
        reach = np.bincount(cols, weights=left[rows], minlength=len(cap))[:n_cand]
        gain = np.minimum(reach, cap[:n_cand])
        gain[chosen] = -1.0
        j = int(np.argmax(gain))
        chosen.append(j)
        fill(j)
    return Solution(
        sites=np.asarray(chosen, dtype=np.int64),
        objective=float(w.sum() - left.sum()),
        bound=None,
        proven_optimal=False,
        gap=None,
        method="greedy",
        status="heuristic",
        solve_s=time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------- p-center
def pcenter_search(
    rows: np.ndarray,
    cols: np.ndarray,
    d: np.ndarray,
    fallback: np.ndarray,
    active: np.ndarray,
    m: int,
    p: int,
    *,
    exact: bool,
    time_limit_s: float | None = None,
) -> Solution:
    """p-center by bisection over the distinct costs: the smallest radius ``r`` at which
    ``p`` sites (set covering at ``r``, HiGHS or greedy) reach every active row whose
    ``fallback`` (its nearest existing site) is farther than ``r``.

    The optimum of min max_i min(fallback_i, min_open d_ij) is one of the costs, so the
    search is exact when every set covering is; the bound is the smallest radius not
    proven out of reach (the all-candidates-open radius in fast mode)."""
    t0 = time.perf_counter()
    n = len(fallback)
    best_all = fallback.copy()
    np.minimum.at(best_all, rows, d)
    if not np.isfinite(best_all[active]).all():
        raise ValidationError(
            f"{int((~np.isfinite(best_all) & active).sum())} demand rows reach no candidate "
            f"and no existing site; drop them or give them a cost"
        )
    if not active.any():
        return Solution(np.empty(0, np.int64), 0.0, 0.0, True, 0.0, "highs", "trivial")
    lb = float(best_all[active].max())
    keep = active[rows] & (d < fallback[rows])
    rows, cols, d = rows[keep], cols[keep], d[keep]
    fb_act = fallback[active & np.isfinite(fallback)]
    values = np.unique(np.concatenate([d, fb_act]))
    values = values[values >= lb]
    deadline = None if time_limit_s is None else t0 + float(time_limit_s)
    all_proven = True

    def sites_for(r: float):
        """Fewest sites reaching every row at radius r (None: more than p needed)."""
        nonlocal all_proven
        need = active & (fallback > r)
        if not need.any():
            return np.empty(0, np.int64), True
        sel = (d <= r) & need[rows]
        cover = _to_csr_pairs(rows[sel], cols[sel], n, m)
        if (np.diff(cover.indptr)[need] == 0).any():
            return None, True  # a row no candidate reaches within r
        A, W, _ = reduce_cover(cover, need.astype(np.float64))
        if not exact:
            sol = lscp_fast(A, W, float(W.sum()))
            return (sol.sites, True) if sol.objective <= p else (None, False)
        left = None if deadline is None else max(0.01, deadline - time.perf_counter())
        got, proven = lscp_at_most(A, p, time_limit_s=left)
        if not proven:
            all_proven = False
        return got, proven

    lo, hi = 0, len(values) - 1
    best, proven_lo = None, -1  # values[proven_lo] is proven out of reach
    top, _ = sites_for(float(values[hi]))
    if top is None:
        raise ValidationError(f"p={p} sites cannot reach every demand row; raise p")
    best = top
    while lo < hi:
        mid = (lo + hi) // 2
        got, sure = sites_for(float(values[mid]))
        if got is None:
            if sure:
                proven_lo = max(proven_lo, mid)
            lo = mid + 1
        else:
            best, hi = got, mid
    chosen = np.asarray(best, dtype=np.int64)
    value = pcenter_cost(rows, cols, d, fallback, active, chosen)
    bound = float(values[proven_lo + 1]) if exact else lb
    proven = exact and all_proven and bound >= value - 1e-9
    return Solution(
        sites=chosen,
        objective=value,
        bound=bound,
        proven_optimal=proven,
        gap=_gap(value, bound),
        method="highs" if exact else "greedy",
        status="Optimal" if proven else "heuristic" if not exact else "bisection",
        solve_s=time.perf_counter() - t0,
    )


def pcenter_cost(rows, cols, d, fallback, active, chosen) -> float:
    """The worst cost over active rows when each uses its cheapest open site."""
    open_mask = np.zeros(int(cols.max()) + 1 if len(cols) else 1, dtype=bool)
    chosen = np.asarray(chosen, dtype=np.int64)
    open_mask[chosen[chosen < len(open_mask)]] = True
    best = _best_cost(rows, cols, d, fallback, open_mask)
    return float(best[active].max()) if active.any() else 0.0


# --------------------------------------------------------------------------- backup
def backup_exact(
    A: sp.csr_array,
    W: np.ndarray,
    e: np.ndarray,
    *,
    p: int,
    need_rows: np.ndarray | None = None,
    need: float | None = None,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.0,
) -> Solution:
    """max sum W_g u_g  s.t.  2 u_g <= e_g + sum_j A_gj y_j (u binary: covered twice),
    sum y = p; ``e_g`` (0 or 1) counts the existing sites already covering group g.
    LSCPB: the groups in ``need_rows`` (none covered yet) must be covered,
    sum_j A_gj y_j >= 1; or, with ``need``, their covered weight must reach it
    (z_g <= sum_j A_gj y_j, sum W z >= need)."""
    t0 = time.perf_counter()
    k, m = A.shape
    rows_a = np.repeat(np.arange(k), np.diff(A.indptr))
    cols_a = A.indices.astype(np.int64)
    # columns: y (m), u (k) [, z (len(g))]; rows: backup (k), card (1) [, cover] [, need]
    blocks = [
        (rows_a, cols_a, -np.ones(len(rows_a))),
        (np.arange(k), m + np.arange(k), np.full(k, 2.0)),
        (np.full(m, k), np.arange(m), np.ones(m)),
    ]
    row_lo: list[np.ndarray] = [np.full(k, -np.inf), np.array([p], np.float64)]
    row_hi: list[np.ndarray] = [e.astype(np.float64), np.array([p], np.float64)]
    n_col = m + k
    cost = np.concatenate([np.zeros(m), W])
    if need_rows is not None and need_rows.any():
        g = np.flatnonzero(need_rows)
        rank = -np.ones(k, np.int64)
        rank[g] = np.arange(len(g))
        sel = need_rows[rows_a]
        sign = 1.0 if need is None else -1.0
        blocks.append((k + 1 + rank[rows_a[sel]], cols_a[sel], np.full(int(sel.sum()), sign)))
        if need is None:
            row_lo.append(np.ones(len(g)))
            row_hi.append(np.full(len(g), np.inf))
        else:
            blocks += [
                (k + 1 + np.arange(len(g)), n_col + np.arange(len(g)), np.ones(len(g))),
                (np.full(len(g), k + 1 + len(g)), n_col + np.arange(len(g)), W[g]),
            ]
            row_lo += [np.full(len(g), -np.inf), np.array([need], np.float64)]
            row_hi += [np.zeros(len(g)), np.array([np.inf])]
            cost = np.concatenate([cost, np.zeros(len(g))])
            n_col += len(g)
    row_lo_a, row_hi_a = np.concatenate(row_lo), np.concatenate(row_hi)
    indptr, indices, values = _csr_rows(blocks, len(row_lo_a))
    integer = np.zeros(n_col, bool)
    integer[: m + k] = True
    build = time.perf_counter() - t0
    x, obj, bound, proven, status, b2, solve = _solve_highs(
        cost=cost,
        col_lo=np.zeros(n_col),
        col_hi=np.ones(n_col),
        n_int=0,
        integer=integer,
        row_lo=row_lo_a,
        row_hi=row_hi_a,
        indptr=indptr,
        indices=indices,
        values=values,
        maximize=True,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    chosen = np.flatnonzero(x[:m] > 0.5)
    value = twice_weight(A, W, e, chosen)
    return Solution(
        sites=chosen,
        objective=value,
        bound=bound,
        proven_optimal=proven,
        gap=_gap(value, bound),
        method="highs",
        status=status,
        build_s=build + b2,
        solve_s=solve,
    )


def twice_weight(A: sp.csr_array, W: np.ndarray, e: np.ndarray, chosen) -> float:
    """Weight of the groups reached at least twice (existing ``e`` included)."""
    if len(W) == 0:
        return 0.0
    cnt = e.astype(np.float64).copy()
    if len(chosen):
        cnt += np.asarray(A[:, np.asarray(chosen)].sum(axis=1)).ravel()
    return float(W[cnt >= 2].sum())


def backup_fast(A: sp.csr_array, W: np.ndarray, e: np.ndarray, p: int, start=()) -> Solution:
    """Greedy: each next site the one adding the most people covered twice (people
    covered once count half, so that a first cover is not worthless)."""
    t0 = time.perf_counter()
    At = sp.csr_array(A.T)
    cnt = e.astype(np.int64).copy()
    chosen = [int(j) for j in start]
    for j in chosen:
        cnt[At.indices[At.indptr[j] : At.indptr[j + 1]]] += 1
    is_ch = np.zeros(A.shape[1], bool)
    is_ch[chosen] = True
    while len(chosen) < p:
        gain = At @ (np.where(cnt == 1, W, 0.0) + np.where(cnt == 0, 0.5 * W, 0.0))
        gain[is_ch] = -np.inf
        j = int(np.argmax(gain))
        chosen.append(j)
        is_ch[j] = True
        cnt[At.indices[At.indptr[j] : At.indptr[j + 1]]] += 1
    return Solution(
        sites=np.asarray(chosen, np.int64),
        objective=twice_weight(A, W, e, chosen),
        bound=None,
        proven_optimal=False,
        gap=None,
        method="greedy",
        status="heuristic",
        solve_s=time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------- capacitated
def _assignment_model(rows, cols, w, cap, n_cand):
    """Blocks shared by the capacitated models. Columns: y (n_cand), x (pairs); rows:
    per site ``sum_e w x_e - cap_j y_j <= 0`` (candidates) or ``<= cap_j`` (existing),
    then per candidate pair ``x_e - y_j <= 0``. Returns blocks, row_lo, row_hi."""
    n_site, ne = len(cap), len(rows)
    inf_cap = ~np.isfinite(cap)
    ce = np.flatnonzero(cols < n_cand)
    blocks = [
        (cols.astype(np.int64), n_cand + np.arange(ne), w[rows]),
        (np.arange(n_cand), np.arange(n_cand), -np.where(inf_cap[:n_cand], 0.0, cap[:n_cand])),
        (n_site + np.arange(len(ce)), n_cand + ce, np.ones(len(ce))),
        (n_site + np.arange(len(ce)), cols[ce].astype(np.int64), -np.ones(len(ce))),
    ]
    site_hi = np.where(inf_cap, np.inf, 0.0)
    site_hi[n_cand:] = np.where(inf_cap[n_cand:], np.inf, cap[n_cand:])
    row_lo = np.full(n_site + len(ce), -np.inf)
    row_hi = np.concatenate([site_hi, np.zeros(len(ce))])
    return blocks, row_lo, row_hi


def cap_cover_exact(
    rows, cols, w, cap, n_cand: int, *, need: float | None, time_limit_s=None
) -> Solution:
    """Capacitated set covering: fewest candidates such that every row is served in full
    (``need=None``: sum_e x_e = 1 per row, spopt's CLSCP-SO) or the people served reach
    ``need``; sites serve at most their capacity, existing sites (cols >= n_cand) open."""
    t0 = time.perf_counter()
    n, ne, n_site = len(w), len(rows), len(cap)
    blocks, lo, hi = _assignment_model(rows, cols, w, cap, n_cand)
    off = len(lo)
    blocks.append((off + rows, n_cand + np.arange(ne), np.ones(ne)))
    if need is None:
        r_lo, r_hi = np.ones(n), np.ones(n)
        extra_lo, extra_hi = np.empty(0), np.empty(0)
    else:
        r_lo, r_hi = np.full(n, -np.inf), np.ones(n)
        blocks.append((np.full(ne, off + n), n_cand + np.arange(ne), w[rows]))
        extra_lo, extra_hi = np.array([need]), np.array([np.inf])
    row_lo = np.concatenate([lo, r_lo, extra_lo])
    row_hi = np.concatenate([hi, r_hi, extra_hi])
    indptr, indices, values = _csr_rows(blocks, len(row_lo))
    build = time.perf_counter() - t0
    x, obj, bound, proven, status, b2, solve = _solve_highs(
        cost=np.concatenate([np.ones(n_cand), np.zeros(ne)]),
        col_lo=np.zeros(n_cand + ne),
        col_hi=np.ones(n_cand + ne),
        n_int=n_cand,
        row_lo=row_lo,
        row_hi=row_hi,
        indptr=indptr,
        indices=indices,
        values=values,
        maximize=False,
        time_limit_s=time_limit_s,
        mip_rel_gap=0.0,
    )
    del n_site
    chosen = np.flatnonzero(x[:n_cand] > 0.5)
    b = math.ceil(bound - 1e-6)
    return Solution(
        sites=chosen,
        objective=float(len(chosen)),
        bound=float(b),
        proven_optimal=proven,
        gap=_gap(float(len(chosen)), b),
        method="highs",
        status=status,
        build_s=build + b2,
        solve_s=solve,
    )


def cap_pmedian_exact(
    rows,
    cols,
    d,
    w,
    cap,
    n_cand: int,
    p: int,
    *,
    single_source: bool = True,
    time_limit_s=None,
    mip_rel_gap: float = 0.0,
) -> Solution:
    """Capacitated p-median: min sum_e w d_e x_e  s.t. sum_e x_e = 1 per row, capacities,
    x_e <= y_j, sum y = p; ``x`` binary with ``single_source`` (spopt's model: each row
    served by one site), else shares."""
    t0 = time.perf_counter()
    n, ne = len(w), len(rows)
    blocks, lo, hi = _assignment_model(rows, cols, w, cap, n_cand)
    off = len(lo)
    blocks += [
        (off + rows, n_cand + np.arange(ne), np.ones(ne)),
        (np.full(n_cand, off + n), np.arange(n_cand), np.ones(n_cand)),
    ]
    row_lo = np.concatenate([lo, np.ones(n), [p]])
    row_hi = np.concatenate([hi, np.ones(n), [p]])
    indptr, indices, values = _csr_rows(blocks, len(row_lo))
    integer = np.zeros(n_cand + ne, bool)
    integer[: n_cand + (ne if single_source else 0)] = True
    build = time.perf_counter() - t0
    x, obj, bound, proven, status, b2, solve = _solve_highs(
        cost=np.concatenate([np.zeros(n_cand), w[rows] * d]),
        col_lo=np.zeros(n_cand + ne),
        col_hi=np.ones(n_cand + ne),
        n_int=0,
        integer=integer,
        row_lo=row_lo,
        row_hi=row_hi,
        indptr=indptr,
        indices=indices,
        values=values,
        maximize=False,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    chosen = np.flatnonzero(x[:n_cand] > 0.5)
    return Solution(
        sites=chosen,
        objective=obj,
        bound=bound,
        proven_optimal=proven,
        gap=_gap(obj, bound),
        method="highs",
        status=status,
        build_s=build + b2,
        solve_s=solve,
    )
