"""Where the next sites should go: candidate sites and location models.

Two layers, as in spopt's ``from_cost_matrix`` / ``from_geodataframe``:

- numeric models on a sparse coverage (or cost) matrix, so that road-network travel times
  plug in unchanged: :func:`maximal_covering` (MCLP), :func:`capacitated_covering`,
  :func:`set_covering` (LSCP, fewest sites to reach a target share) and :func:`p_median`;
- the GeoDataFrame adapter a planner calls: :func:`suggest_sites` (existing facilities
  kept, candidates generated inside the boundary, coverage recomputed with
  :func:`geo.coverage.coverage` from the chosen sites) and :func:`what_if` (add, move or
  close sites).

Every model is solved exactly with HiGHS (``highspy``), or with a greedy + swap heuristic
(``method="fast"``); every result says whether it is proven optimal and gives the gap.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from geo import _siting_solvers as _s
from geo._metric import (
    check_pair,
    ground_m,
    metric_points,
    nearest_xy,
    project_onto_polyline,
    resolve_type,
    threshold_for,
)
from geo._siting_solvers import Solution
from geo.crs import require_crs, transform_xy
from geo.errors import ValidationError

log = logging.getLogger(__name__)

MODELS = ("mclp", "cmclp", "lscp", "pmedian", "route")
METHODS = ("exact", "fast")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not known; use 'exact' (HiGHS) or 'fast'")


def _check_p(p, m: int) -> int:
    if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 0:
        raise ValueError(f"p must be a whole number of sites >= 0, got {p!r}")
    if p > m:
        raise ValueError(f"p={p} sites asked for, but there are only {m} candidates")
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
        raise ValueError(f"cover must be a 2-D matrix, got shape {arr.shape!r}")
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
        raise ValueError(f"target_share must be in (0, 1], got {target_share!r}")
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
            raise ValueError(
                f"{int(lost.sum())} demand rows ({w[lost].sum():g} people) are out of reach "
                f"of every candidate, so full coverage is impossible; lower target_share "
                f"(at most {reachable / total:.4f}) or add candidates"
            )
    elif reachable < target_share * total - 1e-9 * max(total, 1.0):
        raise ValueError(
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
        raise ValueError(
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
        raise ValueError("give exactly one of spacing_m= and h3_resolution=")
    resolution = 0 if h3_resolution is None else int(h3_resolution)
    require_crs(boundary, "boundary")
    geom = boundary.to_crs(4326).geometry.union_all() if len(boundary) else None
    if geom is None or geom.is_empty:
        raise ValidationError("boundary is empty; pass the district polygon")
    if exclude is not None and len(exclude):
        require_crs(exclude, "exclude")
        geom = geom.difference(exclude.to_crs(4326).geometry.union_all())
    if spacing_m is not None:
        if not (spacing_m > 0):
            raise ValueError(f"spacing_m must be > 0, got {spacing_m!r}")
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
            raise ValueError("snap() must return one row per candidate")
        out = snapped.to_crs(4326)
    return out


# --------------------------------------------------------------------------- adapter
@dataclass
class SiteSuggestion:
    """Where to put new sites, and what they change (see :func:`suggest_sites`).

    ``covered_before`` / ``covered_after`` are shares of people (of daily trucks for the
    route model) recomputed from the sites with :func:`geo.coverage.coverage`, never read
    from the solver. ``sites`` has ``id``, ``lon``, ``lat``, ``people_added`` (what each
    adds, in the order listed; they sum to ``people_after - people_before``) and geometry.
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
            "method": self.method,
            "measure": self.measure,
            "threshold_m": self.threshold_m,
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


def _new_sites(xy_ll: np.ndarray, ftype_key: str, capacity: float | None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": [f"new-{i + 1}" for i in range(len(xy_ll))],
            "type": ftype_key,
            "capacity": np.nan if capacity is None else float(capacity),
        },
        geometry=gpd.points_from_xy(xy_ll[:, 0], xy_ll[:, 1]) if len(xy_ll) else [],
        crs="EPSG:4326",
    )


def _with_sites(existing: gpd.GeoDataFrame, new: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    cols = [c for c in ("id", "type", "capacity", "geometry") if c in existing.columns]
    base = existing[cols].to_crs(4326) if len(existing) else existing[cols]
    if not len(new):
        return gpd.GeoDataFrame(base, geometry="geometry", crs="EPSG:4326")
    frames = [f for f in (base, new[[c for c in cols if c in new.columns]]) if len(f)]
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")


def _covered_people(facilities, demand, key, threshold_m, registry) -> tuple[float, np.ndarray]:
    from geo.coverage import coverage

    res = coverage(
        facilities, demand, facility_type=key, threshold_m=threshold_m, registry=registry
    )
    c = res["covered"].to_numpy(dtype=bool)
    return float(res["weight"].to_numpy(dtype="float64")[c].sum()), c


def _route_lines(dem_xy, route_ids, pos):
    """Rebuild each freight route from its samples (as geo.coverage does)."""
    lines = {}
    for rid in pd.unique(route_ids):
        rows = np.flatnonzero(route_ids == rid)
        rows = rows[np.argsort(pos[rows], kind="stable")]
        lines[rid] = (dem_xy[rows], pos[rows])
    return lines


def _route_offsets(site_xy, lines) -> np.ndarray:
    """Metres from every site to every route line, (n_routes x n_sites)."""
    out = np.full((len(lines), len(site_xy)), np.inf)
    if len(site_xy) == 0:
        return out
    for k, (xy, pos) in enumerate(lines.values()):
        _, dist = project_onto_polyline(site_xy, xy, pos)
        out[k] = dist
    return out


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
        Sites to add (for ``"lscp"``: ignored, the model finds how many).
    model : {"mclp", "cmclp", "lscp", "pmedian", "route"}, optional
        Default ``"route"`` for route-rule types (driver homes), else ``"mclp"`` (most
        people newly within the threshold). ``"cmclp"``: each site serves at most its
        capacity; ``"lscp"``: fewest sites to reach ``target_share`` (default 0.95);
        ``"pmedian"``: least total straight-line distance to the nearest site.
    candidates : GeoDataFrame, optional
        Candidate points (``id`` optional). Default: a grid inside ``boundary``.
    boundary, exclude, spacing_m, snap
        For the default candidates, see :func:`candidate_sites`; ``spacing_m`` defaults
        to a quarter of the threshold (a tenth of the detour for the route model).
        Candidates that would cover nobody new are dropped before solving.
    threshold_m : float, optional
        Coverage distance; default the type's.
    site_capacity : float, optional
        Capacity of a new site (``"cmclp"``): default the median of the type's.
    detour_m : float, optional
        Route model: the most a home may lie off a route (default the type's
        ``max_offroute_m``).
    method : {"exact", "fast"}
    time_limit_s : float, optional
        HiGHS time limit; a result stopped by it says ``proven_optimal=False``.
    """
    crs_in = check_pair(facilities, demand)
    _check_method(method)
    ftype = resolve_type(facility_type, registry)
    model = model or ("route" if ftype.rule == "route" else "mclp")
    if model not in MODELS:
        raise ValueError(f"model={model!r} is not known; use one of {MODELS}")
    threshold = threshold_for(ftype, threshold_m)
    existing = facilities[facilities["type"] == ftype.key] if "type" in facilities else facilities
    dem = demand[demand["group"] == ftype.demand_group] if "group" in demand else demand
    # the route model's reach: how far off the route a driver home may be
    detour = float(detour_m or ftype.max_offroute_m or threshold)
    n_add = 0 if add is None else int(add)
    if candidates is None:
        if boundary is None:
            raise ValueError("give candidates= or boundary= (candidate sites are made inside it)")
        spacing = spacing_m or (detour / 10 if model == "route" else threshold / 4)
        candidates = candidate_sites(boundary, spacing_m=spacing, exclude=exclude, snap=snap)
    require_crs(candidates, "candidates")
    cand = candidates.to_crs(crs_in) if not candidates.crs.equals(crs_in) else candidates
    if len(cand) == 0:
        raise ValidationError("there are no candidate sites; widen the boundary or the mask")
    w = dem["weight"].to_numpy(dtype="float64")
    people_total = float(w.sum())
    # one metric CRS for existing + candidates + demand
    both = pd.concat([existing.geometry, cand.geometry], ignore_index=True)
    both = gpd.GeoDataFrame({"id": np.arange(len(both)).astype(str)}, geometry=both, crs=crs_in)
    crs, site_xy, dem_xy = metric_points(both, dem, crs_in)
    ex_xy, cand_xy = site_xy[: len(existing)], site_xy[len(existing) :]
    cand_ll = transform_xy(cand_xy, crs, 4326)

    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    if model == "route":
        sol, keep, measure, before_after = _suggest_route(
            existing, dem, ex_xy, cand_xy, dem_xy, w, add, detour, method, time_limit_s
        )
        people_total = before_after.pop("total")
        extra.update(detour_m=detour, **before_after.pop("extra"))
    else:
        from geo.access import _pairs_xy

        before, cov0 = _covered_people(existing, dem, ftype.key, threshold, registry)
        rows, cols, dist = _pairs_xy(cand_xy, dem_xy, crs, threshold)
        useful = np.zeros(len(cand_xy), bool)
        useful[cols[(~cov0[rows]) & (w[rows] > 0)]] = True
        if model in ("cmclp", "pmedian"):
            useful[cols[w[rows] > 0]] = True
        keep = np.flatnonzero(useful)
        remap = -np.ones(len(cand_xy), np.int64)
        remap[keep] = np.arange(len(keep))
        sel = remap[cols] >= 0
        rows, cols, dist = rows[sel], remap[cols[sel]], dist[sel]
        measure = f"people within {threshold:g} m (straight line)"
        if len(keep) == 0:
            sol = Solution(np.empty(0, np.int64), before, before, True, 0.0, method, "trivial")
        elif model == "mclp":
            cover = _s._to_csr_pairs(rows, cols, len(w), len(keep))
            sol = maximal_covering(
                cover,
                w,
                min(n_add, len(keep)),
                covered=cov0,
                method=method,
                time_limit_s=time_limit_s,
            )
        elif model == "lscp":
            cover = _s._to_csr_pairs(rows, cols, len(w), len(keep))
            target = 0.95 if target_share is None else float(target_share)
            sol = set_covering(
                cover,
                w,
                target_share=target,
                covered=cov0,
                method=method,
                time_limit_s=time_limit_s,
            )
            extra["target_share"] = target
        elif model == "cmclp":
            sol, extra_c = _suggest_capacitated(
                existing,
                dem,
                ex_xy,
                dem_xy,
                rows,
                cols,
                w,
                crs,
                threshold,
                keep,
                n_add,
                site_capacity,
                method,
                time_limit_s,
            )
            extra.update(extra_c)
            measure = f"people served within {threshold:g} m and within site capacities"
        else:  # pmedian
            sol, extra_p = _suggest_pmedian(
                existing,
                dem,
                ex_xy,
                cand_xy[keep],
                dem_xy,
                w,
                crs,
                n_add,
                method,
                time_limit_s,
            )
            extra.update(extra_p)
    solve_total = time.perf_counter() - t0
    chosen = keep[sol.sites] if len(sol.sites) else np.empty(0, np.int64)
    ids = (
        cand["id"].astype(str).to_numpy()[chosen]
        if "id" in cand.columns
        else np.array([f"C{c + 1}" for c in chosen])
    )
    # coverage recomputed from the chosen sites, one site at a time in the listed order
    ll = cand_ll[chosen]
    if model == "route":
        served = [before_after["served"](cand_xy[chosen[:k]]) for k in range(len(chosen) + 1)]
    elif model == "cmclp":
        served = extra.pop("_served_prefix")
    else:
        cap = site_capacity
        served = [
            _covered_people(
                _with_sites(existing, _new_sites(ll[:k], ftype.key, cap)),
                dem,
                ftype.key,
                threshold,
                registry,
            )[0]
            for k in range(len(chosen) + 1)
        ]
    added = np.diff(served) if len(served) > 1 else np.empty(0)
    if model in ("mclp", "cmclp", "route") and len(added):
        # the models place exactly `add` sites; one that adds nobody is not worth building
        useful_site = added > 1e-9
        if not useful_site.all():
            extra["sites_adding_nobody_dropped"] = int((~useful_site).sum())
        ids, ll, added = ids[useful_site], ll[useful_site], added[useful_site]
    sites = gpd.GeoDataFrame(
        {
            "id": ids,
            "lon": ll[:, 0] if len(ll) else [],
            "lat": ll[:, 1] if len(ll) else [],
            "people_added": added,
        },
        geometry=gpd.points_from_xy(ll[:, 0], ll[:, 1]) if len(ll) else [],
        crs="EPSG:4326",
    )
    return SiteSuggestion(
        facility_type=ftype.key,
        model=model,
        method=method,
        threshold_m=detour if model == "route" else threshold,
        sites=sites,
        people_total=people_total,
        people_before=float(served[0]),
        people_after=float(served[-1]),
        proven_optimal=bool(sol.proven_optimal),
        gap=sol.gap,
        objective=float(sol.objective),
        bound=sol.bound,
        n_candidates=int(len(keep)),
        build_s=float(sol.build_s),
        solve_s=float(solve_total),
        measure=measure,
        extra=extra,
    )


def _suggest_route(existing, dem, ex_xy, cand_xy, dem_xy, w, add, detour_m, method, tl):
    on = dem["route_id"].fillna("").astype(str).to_numpy() != "" if "route_id" in dem else None
    if on is None or not on.any():
        raise ValidationError("the route model needs freight-route demand (route_id, route_pos_m)")
    rid = dem["route_id"].astype(str).to_numpy()[on]
    pos = dem["route_pos_m"].to_numpy(dtype="float64")[on]
    lines = _route_lines(dem_xy[on], rid, pos)
    trucks = pd.Series(w[on]).groupby(rid).sum().reindex(list(lines)).to_numpy()
    served_ex = (_route_offsets(ex_xy, lines) <= detour_m).any(axis=1)
    off = _route_offsets(cand_xy, lines)
    keep = np.flatnonzero((off[~served_ex] <= detour_m).any(axis=0))
    cover = sp.csr_array((off[:, keep] <= detour_m).astype(np.float64))
    sol = maximal_covering(
        cover,
        trucks,
        min(int(add), len(keep)),
        covered=served_ex,
        method=method,
        time_limit_s=tl,
    )

    def served(xy):
        if len(xy) == 0:
            return float(trucks[served_ex].sum())
        hit = served_ex | (_route_offsets(xy, lines) <= detour_m).any(axis=1)
        return float(trucks[hit].sum())

    measure = f"daily trucks on freight routes with a site within {detour_m:g} m of the route"
    names = list(lines)
    return (
        sol,
        keep,
        measure,
        {
            "total": float(trucks.sum()),
            "served": served,
            "extra": {"routes": len(names), "routes_served_before": int(served_ex.sum())},
        },
    )


def _suggest_capacitated(
    existing,
    dem,
    ex_xy,
    dem_xy,
    rows,
    cols,
    w,
    crs,
    threshold_m,
    keep,
    add,
    site_cap,
    method,
    tl,
):
    from geo.access import _pairs_xy

    ecap = (
        pd.to_numeric(existing["capacity"], errors="coerce").to_numpy(dtype="float64")
        if "capacity" in existing
        else np.full(len(existing), np.nan)
    )
    if site_cap is None:
        known = ecap[np.isfinite(ecap)]
        if not len(known):
            raise ValidationError("give site_capacity=: no existing site has a capacity")
        site_cap = float(np.median(known))
    er, ec, _ = _pairs_xy(ex_xy, dem_xy, crs, threshold_m)
    m = len(keep)
    cover = _s._to_csr_pairs(rows, cols, len(w), m)
    ex_cover = _s._to_csr_pairs(er, ec, len(w), len(existing))
    sol = capacitated_covering(
        cover,
        w,
        min(add, m),
        capacity=np.full(m, site_cap),
        existing_cover=ex_cover,
        existing_capacity=ecap,
        method=method,
        time_limit_s=tl,
    )
    all_rows = np.concatenate([rows, er])
    all_cols = np.concatenate([cols, m + ec])
    caps = np.concatenate([np.full(m, site_cap), np.where(np.isnan(ecap), np.inf, ecap)])
    ex_open = np.arange(m, m + len(existing))
    prefix = [
        _s.capacitated_served(all_rows, all_cols, w, caps, np.r_[sol.sites[:k], ex_open])
        for k in range(len(sol.sites) + 1)
    ]
    return sol, {"site_capacity": site_cap, "_served_prefix": prefix}


def _suggest_pmedian(existing, dem, ex_xy, cand_xy, dem_xy, w, crs, add, method, tl):
    _, d0 = nearest_xy(ex_xy, dem_xy, crs)
    if not np.isfinite(d0).all():
        raise ValidationError("p-median needs at least one existing site of the type")
    # candidate pairs closer than each row's nearest existing site: the only useful ones
    k = 1.0004  # UTM scale <= 1.0004 within a zone
    lists = cKDTree(cand_xy).query_ball_point(dem_xy, d0 * k)
    lens = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    cols = np.fromiter((j for lst in lists for j in lst), dtype=np.int64, count=int(lens.sum()))
    rows = np.repeat(np.arange(len(dem_xy)), lens)
    grid = np.hypot(*(dem_xy[rows] - cand_xy[cols]).T)
    d = ground_m(grid, dem_xy[rows, 0], cand_xy[cols, 0], crs)
    cost = sp.csr_array((d, (rows, cols)), shape=(len(dem_xy), len(cand_xy)))
    sol = p_median(cost, w, add, existing_cost=d0, method=method, time_limit_s=tl)
    before = float(np.sum(w * d0))
    return sol, {
        "distance_total_before": before,
        "distance_total_after": float(sol.objective),
        "mean_distance_before_m": float(before / w.sum()) if w.sum() else float("nan"),
        "mean_distance_after_m": float(sol.objective / w.sum()) if w.sum() else float("nan"),
    }


# --------------------------------------------------------------------------- what-if
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
    add : GeoDataFrame or list of (lon, lat), optional
        New sites (WGS84). A frame may carry ``id`` and ``capacity``.
    move : dict, optional
        ``{facility id: (lon, lat)}``.
    close : list of str, optional
        Facility ids to close.
    areas : GeoDataFrame, optional
        Sub-districts etc.: the change per area.
    capacity : float, optional
        Capacity of added sites without one (default: the median of the type's).

    Returns
    -------
    WhatIf
        People covered before/after (:func:`geo.coverage.coverage`), people-weighted mean
        2SFCA accessibility and its Gini before/after, and the change per area.
    """
    from geo.access import accessibility, gini
    from geo.coverage import coverage

    ftype = resolve_type(facility_type, registry)
    threshold_m = threshold_for(ftype, threshold_m)
    fac = facilities.copy()
    ids = fac["id"].astype(str)
    unknown = [i for i in list(close or []) + list(move or {}) if i not in set(ids)]
    if unknown:
        raise ValidationError(f"no facility with id {unknown[0]!r}; check close=/move= ids")
    if close:
        fac = fac[~ids.isin([str(c) for c in close])]
    if move:
        fac = fac.copy()
        for fid, (lon, lat) in move.items():
            pt = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs=4326).to_crs(fac.crs)
            fac.loc[fac["id"].astype(str) == str(fid), fac.geometry.name] = pt.iloc[0]
    kind = fac[fac["type"] == ftype.key] if "type" in fac else fac
    cap_known = pd.to_numeric(kind.get("capacity", pd.Series(dtype=float)), errors="coerce")
    default_cap = (
        capacity
        if capacity is not None
        else (float(cap_known.median()) if cap_known.notna().any() else 1.0)
    )
    if add is not None and len(add):
        if isinstance(add, gpd.GeoDataFrame):
            new = add.to_crs(4326).copy()
            new["type"] = ftype.key
            if "id" not in new:
                new["id"] = [f"new-{i + 1}" for i in range(len(new))]
            new["capacity"] = (
                pd.to_numeric(new["capacity"], errors="coerce").fillna(default_cap)
                if "capacity" in new
                else default_cap
            )
        else:
            new = _new_sites(
                np.asarray(add, dtype=np.float64).reshape(-1, 2), ftype.key, default_cap
            )
        fac = gpd.GeoDataFrame(
            pd.concat(
                [fac.to_crs(4326), new[["id", "type", "capacity", "geometry"]]], ignore_index=True
            ),
            geometry="geometry",
            crs="EPSG:4326",
        )
    before = facilities
    out = {}
    for tag, f in (("before", before), ("after", fac)):
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
        from geo.access import access_by_area

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
    "SiteSuggestion",
    "Solution",
    "WhatIf",
    "candidate_sites",
    "capacitated_covering",
    "maximal_covering",
    "p_median",
    "set_covering",
    "suggest_sites",
    "what_if",
]
