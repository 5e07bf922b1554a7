"""The Dask path: the same coverage, summaries and accessibility on partitioned demand.

When demand outgrows one process (a province, or the national union's 150,000 stations
against tens of millions of workplaces over 73-135°E), it is held as a
``dask_geopandas.GeoDataFrame``: partitions of rows, each partition a plain GeoDataFrame,
spread over the workers of a Dask cluster. :func:`geo.coverage`, :func:`geo.coverage_summary`
and :func:`geo.accessibility` hand such a frame to this module, which runs the *same
in-memory functions* on every partition:

- coverage: the facilities (small: 10^5 rows) are broadcast as one graph key; every
  partition calls :func:`geo.coverage.coverage` on them. The result is a lazy frame with
  the in-memory columns; ``.compute()`` gives the in-memory answer row for row.
- coverage summary: every partition is summarised by :func:`geo.coverage_summary`; the
  additive parts (people and covered people per area, per facility, per H3 gap cell) are
  summed in a tree across partitions, then ranked as the in-memory summary ranks them. The
  result is a ``dask.delayed`` object whose ``.compute()`` is a :class:`CoverageSummary`.
- 2SFCA: stage 1 (the weighted demand within each facility's catchment) is a reduction:
  each partition sums its own pairs per facility, the sums are added across partitions;
  stage 2 (each demand row's sum of capacity ratios) runs per partition with the broadcast
  ratios. Demand is never gathered in one place.
- road networks by region: :func:`node_travel_times_tiled` cuts a network into tiles with a
  margin of the search's reach and runs each tile's multi-source search on a worker.

The answers equal the in-memory ones because every partition measures distances with the
same functions, which do not depend on the extent of their input. Partition demand
spatially (:func:`partition_demand`, Hilbert order) so that the rows of a partition lie
close together; the facility search then touches only the part of its tree near them.

Computation happens on whatever Dask client is active (``distributed.Client``); without
one, on Dask's local threads. :func:`dask_client` starts a local cluster (processes, one
per core) or connects to an existing scheduler by address.

Dask and dask-geopandas are optional (``pip install servicemap[scale]``); this module
imports them only when called.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo._metric import resolve_type, select_for_type
from geo.errors import ValidationError

log = logging.getLogger(__name__)

_INDEX_COLUMN = "__servicemap_index__"
# partials are added in groups of this many per tree level
_SPLIT_EVERY = 8


# --------------------------------------------------------------------------- helpers
def is_dask(obj: Any) -> bool:
    """Whether ``obj`` is a Dask collection (a dask or dask-geopandas frame, a series).

    Cheap and import-free: geo dispatches on it at the top of its public functions, and
    Dask need not be installed for the in-memory path.

    Examples
    --------
    >>> import geopandas as gpd
    >>> is_dask(gpd.GeoDataFrame())
    False
    """
    top = type(obj).__module__.split(".", 1)[0]
    return top in ("dask", "dask_geopandas", "dask_expr")


def _import_dask():
    try:
        import dask
        import dask_geopandas
    except ImportError as exc:  # pragma: no cover - the scale extra is in test and dev
        raise ImportError(
            "the Dask path needs dask[distributed] and dask-geopandas: "
            "pip install 'servicemap[scale]'"
        ) from exc
    return dask, dask_geopandas


def _in_memory(layer: Any, name: str) -> gpd.GeoDataFrame:
    """Facilities and areas are small: a Dask frame of them is computed once."""
    if layer is None:
        return layer
    if is_dask(layer):
        layer = layer.compute()
    if not isinstance(layer, gpd.GeoDataFrame):
        raise TypeError(f"{name} must be a GeoDataFrame, got {type(layer).__name__}")
    return layer


def _broadcast(obj: Any):
    """One graph key holding ``obj``: shipped to each worker once, not once per task.

    Named, not hashed: tokenizing 150,000 facilities (their ids and geometries) costs
    seconds on the client for a key that only has to be unique.
    """
    import uuid

    dask, _ = _import_dask()
    return dask.delayed(obj, name=f"servicemap-broadcast-{uuid.uuid4().hex}")


def _tree_reduce(parts: list, combine) -> Any:
    """Combine delayed partials pairwise-ish, ``_SPLIT_EVERY`` at a time per level."""
    dask, _ = _import_dask()
    level = list(parts)
    if not level:
        raise ValueError("nothing to reduce")
    while len(level) > 1:
        level = [
            dask.delayed(functools.reduce)(combine, level[i : i + _SPLIT_EVERY])
            for i in range(0, len(level), _SPLIT_EVERY)
        ]
    return level[0]


def partition_demand(demand, *, npartitions: int | None = None, by: str = "hilbert"):
    """Demand as a Dask frame partitioned in space (Hilbert order by default).

    Parameters
    ----------
    demand : GeoDataFrame or dask_geopandas.GeoDataFrame
        Demand points (any CRS).
    npartitions : int, optional
        Partitions of the result; default the input's (a GeoDataFrame: one per 200,000
        rows, at least one per core).
    by : {"hilbert", "morton", "geohash"}
        A Dask frame is reordered by dask-geopandas' ``spatial_shuffle(by=...)``; a
        GeoDataFrame is sorted by its Hilbert distance in memory and cut into stretches.

    Returns
    -------
    dask_geopandas.GeoDataFrame
        The same rows and index (spatial_shuffle's own index, the sort key, is dropped),
        each partition a contiguous stretch of the curve.
    """
    dask, dg = _import_dask()
    if isinstance(demand, gpd.GeoDataFrame):
        # in memory: sort along the curve here and cut it in stretches, no shuffle
        n = npartitions or max(os.cpu_count() or 1, math.ceil(len(demand) / 200_000))
        order = np.argsort(np.asarray(demand.hilbert_distance()), kind="stable")
        # keep the columns' dtypes as they are (Dask would turn strings into Arrow's)
        with dask.config.set({"dataframe.convert-string": False}):
            return dg.from_geopandas(
                demand.iloc[order], npartitions=max(1, min(n, len(demand) or 1)), sort=False
            )
    if not is_dask(demand):
        raise TypeError(
            f"demand must be a GeoDataFrame or a dask_geopandas.GeoDataFrame, "
            f"got {type(demand).__name__}"
        )
    name = demand.index.name
    flat = demand.map_partitions(lambda p: p.rename_axis(_INDEX_COLUMN).reset_index())
    parts = npartitions or demand.npartitions
    if by in ("hilbert", "morton"):
        # spatial_shuffle with the bounds computed first: left lazy, they reach the tasks as
        # a Dask array that the workers then compute without a client (an intermittent
        # "no Client active" from dask-geopandas' _encode)
        bounds = tuple(float(v) for v in np.asarray(flat.total_bounds.compute()))
        distance = flat.hilbert_distance if by == "hilbert" else flat.morton_distance
        shuffled = flat.set_index(distance(total_bounds=bounds), sorted=False, npartitions=parts)
        shuffled.calculate_spatial_partitions()
    else:
        shuffled = flat.spatial_shuffle(by=by, npartitions=parts)
    return shuffled.map_partitions(lambda p: p.set_index(_INDEX_COLUMN).rename_axis(name))


def read_parquet(path, **kwargs):
    """GeoParquet partitions, read lazily (``dask_geopandas.read_parquet``).

    A directory of ``part.*.parquet`` files (as :func:`dask_geopandas.GeoDataFrame.to_parquet`
    and ``benchmarks/make_national.py`` write them) gives one partition per file; nothing is
    read until the result is computed.
    """
    _, dg = _import_dask()
    with warnings.catch_warnings():
        # dask's parquet reader still calls reset_index(inplace=True), which pandas 3.1
        # deprecates; nothing of ours to fix
        warnings.filterwarnings("ignore", message="The inplace keyword", category=Warning)
        return dg.read_parquet(path, **kwargs)


@contextlib.contextmanager
def dask_client(address: str | None = None, *, n_workers: int | None = None, **cluster_kwargs):
    """A ``distributed.Client``: to the scheduler at ``address``, or on a local cluster.

    Without an address (or with ``"local"``), a ``distributed.LocalCluster`` of worker
    *processes*, one per core with one thread each, is started and closed on exit. The
    client is the default one while the block runs, so :func:`geo.coverage` on a Dask
    frame computes there.

    Examples
    --------
    ``with dask_client("tcp://scheduler:8786") as client: print(client.dashboard_link)``
    """
    from distributed import Client, LocalCluster

    if address and address != "local":
        try:
            client = Client(address, timeout="10s")
        except (ValueError, OSError, TimeoutError) as exc:
            raise ValidationError(
                f"no Dask scheduler at {address!r} ({exc}); give its address as "
                "tcp://host:8786, or 'local' (or nothing) for a local cluster"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=n_workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        **cluster_kwargs,
    )
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


# --------------------------------------------------------------------------- coverage
class _SharedList(list):
    """A list that pandas' ``attrs`` propagation shares instead of deep-copying.

    pandas deep-copies ``attrs`` on every operation; coverage's ``facility_ids`` (150,000
    strings nationally) then costs ~0.1 s per column access. Equal to the plain list.
    """

    def __deepcopy__(self, memo):
        return self


def _light_attrs(gdf):
    ids = gdf.attrs.get("facility_ids")
    if ids is not None and not isinstance(ids, _SharedList):
        gdf.attrs["facility_ids"] = _SharedList(ids)
    return gdf


def _coverage_part(part: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, **options):
    from geo.coverage import coverage

    return _light_attrs(coverage(facilities, part, **options))


def coverage(facilities, demand, **options):
    """:func:`geo.coverage.coverage` on a Dask frame of demand: a lazy result.

    Every partition calls the in-memory function with the broadcast facilities; the options
    are checked once, on the empty frame Dask keeps as a template, so a bad option fails
    here and not on a worker. Road-network modes are not partitioned this way: their
    nearest facility may lie beyond any tile, so the network's own tiling
    (:func:`node_travel_times_tiled`) serves them.

    Returns
    -------
    dask_geopandas.GeoDataFrame
        The kept rows with ``nearest_id``, ``distance_m`` and ``covered``, partitioned
        like ``demand``; ``attrs`` as the in-memory result's.
    """
    from geo.coverage import coverage as coverage_in_memory

    if options.get("network") is not None:
        raise ValidationError(
            "coverage on a Dask frame measures straight-line distance; for a road network "
            "compute node times by tile with geo.scale.node_travel_times_tiled(), or pass "
            "an in-memory demand frame"
        )
    facilities = _in_memory(facilities, "facilities")
    meta = _light_attrs(coverage_in_memory(facilities, demand._meta, **options))
    return demand.map_partitions(_coverage_part, _broadcast(facilities), meta=meta, **options)


# --------------------------------------------------------------------------- summary
def _load_ids(attrs: dict, facilities: gpd.GeoDataFrame | None) -> pd.Index:
    """The facility ids of a summary's ``loads``, in the order geo.coverage ranks from."""
    ids = pd.Index(attrs.get("facility_ids", []), dtype=object)
    if facilities is not None:
        fac = facilities
        if attrs.get("facility_type") and "type" in fac.columns:
            fac = fac.loc[fac["type"] == attrs["facility_type"]]
        ids = pd.Index(fac["id"].astype(str))
    return ids


def _gap_cells(part, resolution: int) -> pd.DataFrame:
    """People left out per H3 cell (``h3``, ``people``, ``n``), without the hexagons.

    The cells of :func:`geo.demand.to_h3` (``latlng_to_cell`` of the WGS84 point), which
    the gap grid of :func:`geo.coverage_summary` aggregates; the hexagons are drawn once,
    for the whole result, when the partials are summed.
    """
    from h3 import int_to_str

    from geo.crs import points_xy, transform_xy
    from geo.demand import h3_cells

    w = part["weight"].to_numpy(dtype="float64")
    unc = part[~part["covered"].to_numpy(dtype=bool) & (w > 0)]
    xy = transform_xy(points_xy(unc), unc.crs, "EPSG:4326") if len(unc) else np.zeros((0, 2))
    cells = h3_cells(xy[:, 0], xy[:, 1], resolution)
    g = (
        pd.DataFrame({"c": cells, "w": unc["weight"].to_numpy(dtype="float64")})
        .groupby("c", sort=False)["w"]
        .agg(["sum", "size"])
    )
    return pd.DataFrame(
        {
            "h3": np.array([int_to_str(int(c)) for c in g.index], dtype=object),
            "people": g["sum"].to_numpy(dtype="float64"),
            "n": g["size"].to_numpy(dtype="int64"),
        }
    )


def _partial_summary(part, areas_pos, facilities, ids, gap_resolution):
    """The additive parts of one partition's summary."""
    from geo.coverage import coverage_summary

    part = _light_attrs(part.copy(deep=False))
    # by area and by facility from the in-memory summary; its gap grid at resolution 0
    # (a handful of cells) is not used: the partition's cells come from _gap_cells
    s = coverage_summary(part, areas_pos, facilities=facilities, gap_resolution=0)
    n_areas = 0 if areas_pos is None else len(areas_pos)
    area_people = np.zeros(n_areas)
    area_covered = np.zeros(n_areas)
    if len(s.by_area):
        pos = s.by_area["area_id"].astype(int).to_numpy()
        area_people[pos] = s.by_area["people"].to_numpy(dtype="float64")
        area_covered[pos] = s.by_area["covered"].to_numpy(dtype="float64")
    loads = s.loads.set_index("id").reindex(ids)
    gaps = _gap_cells(part, gap_resolution)
    return {
        "rows": len(part),
        "people": s.people_total,
        "covered": s.people_covered,
        "area_people": area_people,
        "area_covered": area_covered,
        "near": loads["people_nearest"].to_numpy(dtype="float64"),
        "near_covered": loads["people_covered"].to_numpy(dtype="float64"),
        "gaps": gaps,
    }


def _combine_summaries(a: dict, b: dict) -> dict:
    gaps = pd.concat([a["gaps"], b["gaps"]], ignore_index=True)
    gaps = gaps.groupby("h3", sort=True, as_index=False)[["people", "n"]].sum()
    out = {k: a[k] + b[k] for k in a if k != "gaps"}
    out["gaps"] = gaps
    return out


def _finish_summary(total: dict, template, attrs: dict, areas, facilities):
    """Rank the summed parts as geo.coverage_summary ranks the in-memory ones."""
    import dataclasses

    import h3

    from geo.demand import to_h3

    by_area = template.by_area
    if total["rows"] and areas is not None and len(areas):
        a = areas.reset_index(drop=True)
        by_area = pd.DataFrame(
            {
                "area_id": a["id"].astype(str) if "id" in a.columns else a.index.astype(str),
                "name": a["name"] if "name" in a.columns else "",
                "level": a["level"] if "level" in a.columns else "",
                "people": total["area_people"],
                "covered": total["area_covered"],
            }
        )
        by_area["uncovered"] = by_area["people"] - by_area["covered"]
        with np.errstate(invalid="ignore", divide="ignore"):
            by_area["covered_share"] = np.where(
                by_area["people"] > 0, by_area["covered"] / by_area["people"], np.nan
            )
        by_area = by_area.sort_values(
            ["uncovered", "people"], ascending=[False, False]
        ).reset_index(drop=True)

    ids = _load_ids(attrs, facilities)
    loads = pd.DataFrame({"id": ids})
    loads["people_nearest"] = total["near"]
    loads["people_covered"] = total["near_covered"]
    cap = pd.Series(np.nan, index=loads.index)
    if facilities is not None and "capacity" in facilities.columns:
        cap = loads["id"].map(
            pd.Series(facilities["capacity"].to_numpy(), index=facilities["id"].astype(str))
        )
    loads["capacity"] = cap.astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        loads["load_ratio"] = loads["people_covered"] / loads["capacity"].where(
            loads["capacity"] > 0
        )
    loads = loads.sort_values("people_covered", ascending=False).reset_index(drop=True)

    gaps = template.gaps
    g = total["gaps"]
    if len(g):
        # one point at each cell's centre, weighted by the cell's people, gives back the
        # cell (and its hexagon) through the one H3 aggregation geo has
        lat, lng = np.array([h3.cell_to_latlng(c) for c in g["h3"]]).reshape(-1, 2).T
        centres = gpd.GeoDataFrame(
            {"weight": g["people"].to_numpy()},
            geometry=gpd.points_from_xy(lng, lat),
            crs="EPSG:4326",
        )
        cells = to_h3(centres, resolution=h3.get_resolution(g["h3"].iloc[0]), by=())
        cells = cells.rename(columns={"weight": "people"})
        cells["n"] = g.set_index("h3")["n"].reindex(cells["h3"].astype(object)).to_numpy()
        gaps = cells.sort_values("people", ascending=False).reset_index(drop=True)

    people, covered = float(total["people"]), float(total["covered"])
    return dataclasses.replace(
        template,
        people_total=people,
        people_covered=covered,
        covered_share=covered / people if people > 0 else float("nan"),
        by_area=by_area,
        loads=loads,
        gaps=gaps,
    )


def coverage_summary(result, areas=None, *, facilities=None, gap_resolution: int = 8):
    """:func:`geo.coverage.coverage_summary` of a lazy coverage result: a delayed summary.

    Each partition is summarised on its worker; people and covered people per area, per
    facility and per H3 gap cell are summed across partitions in a tree, then ranked as
    the in-memory summary ranks them. Only these small tables travel, never the rows.

    Returns
    -------
    dask.delayed.Delayed
        ``.compute()`` gives the :class:`geo.coverage.CoverageSummary` of the whole result.
    """
    from geo.coverage import coverage_summary as summary_in_memory

    dask, _ = _import_dask()
    areas = _in_memory(areas, "areas")
    facilities = _in_memory(facilities, "facilities")
    meta = result._meta
    template = summary_in_memory(meta, areas, facilities=facilities, gap_resolution=gap_resolution)
    areas_pos = None
    if areas is not None and len(areas):
        areas_pos = areas.reset_index(drop=True)
        areas_pos = areas_pos.assign(id=[str(i) for i in range(len(areas_pos))])
    ids = _load_ids(meta.attrs, facilities)
    a_d, f_d, ids_d = _broadcast(areas_pos), _broadcast(facilities), _broadcast(ids)
    parts = [
        dask.delayed(_partial_summary)(p, a_d, f_d, ids_d, gap_resolution)
        for p in result.to_delayed()
    ]
    total = _tree_reduce(parts, _combine_summaries)
    return dask.delayed(_finish_summary)(total, template, dict(meta.attrs), _broadcast(areas), f_d)


# --------------------------------------------------------------------------- 2SFCA
def _pairs_part(part, facilities, ftype, groups, threshold_m, decay_options):
    """(kept rows, row, facility, decay weight) of one partition's pairs in reach."""
    from geo.access import decay_weights, distance_pairs

    _, part, _ = select_for_type(facilities, part, ftype, groups)
    cost = distance_pairs(facilities, part, max_m=threshold_m)
    rows = np.repeat(np.arange(len(part), dtype=np.int64), np.diff(cost.indptr))
    cols = cost.indices.astype(np.int64)
    f = decay_weights(cost.data, **decay_options)
    return part, rows, cols, f


def _catchment_part(part, facilities, ftype, groups, threshold_m, decay_options):
    """Stage 1 on one partition: weighted demand in each facility's catchment."""
    part, rows, cols, f = _pairs_part(part, facilities, ftype, groups, threshold_m, decay_options)
    p = part["weight"].to_numpy(dtype="float64")
    return np.bincount(cols, weights=p[rows] * f, minlength=len(facilities))


def _ratio(catch: np.ndarray, supply: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(catch > 0, supply / catch, 0.0)


def _access_part(part, facilities, ratio, ftype, groups, threshold_m, decay_options, attrs):
    """Stage 2 on one partition: each row's sum of the ratios in reach."""
    part, rows, cols, f = _pairs_part(part, facilities, ftype, groups, threshold_m, decay_options)
    reach = np.bincount(rows, minlength=len(part))
    out = part.copy()
    out["access"] = np.bincount(rows, weights=ratio[cols] * f, minlength=len(part))
    out["reachable"] = reach.astype(np.int64)
    out["covered"] = reach > 0
    out.attrs = dict(attrs)
    return out


#: the accessibility methods whose two stages are a reduction across partitions
PARTITIONED_ACCESS = ("2sfca", "e2sfca", "gravity")


def accessibility(facilities, demand, **options):
    """:func:`geo.access.accessibility` (2SFCA family) on a Dask frame of demand: lazy.

    Stage 1 is a reduction: each partition sums ``weight x decay`` of its pairs within the
    threshold per facility; the sums are added across partitions into each facility's
    catchment, and ``capacity / catchment`` is broadcast back. Stage 2 runs per partition.
    Options are those of the in-memory function (checked once, on Dask's empty template);
    ``cost=`` (a precomputed matrix) has no partitioned form.
    """
    from geo.access import accessibility as access_in_memory
    from geo.access import facility_capacities

    dask, _ = _import_dask()
    method = options.get("method", "2sfca")
    if method not in PARTITIONED_ACCESS:
        raise ValidationError(
            f"method={method!r} has no partitioned form on a Dask frame (3SFCA and RAAM "
            "weigh every facility against every other); use one of "
            f"{', '.join(PARTITIONED_ACCESS)}, or compute() the demand first"
        )
    if options.get("cost") is not None:
        raise ValidationError(
            "accessibility on a Dask frame computes its own straight-line pairs; cost= "
            "(a precomputed demand x facility matrix) needs an in-memory demand frame"
        )
    facilities = _in_memory(facilities, "facilities")
    meta = access_in_memory(facilities, demand._meta, **options)
    attrs = meta.attrs
    ftype = resolve_type(options.get("facility_type"), options.get("registry"))
    groups = options.get("groups")
    fac, _, _ = select_for_type(facilities, demand._meta, ftype, groups)
    with warnings.catch_warnings():  # the template call has warned once already
        warnings.simplefilter("ignore")
        supply, _ = facility_capacities(fac, options.get("capacity", "capacity"))
    decay_options = {
        "decay": attrs["decay"],
        "steps": attrs["steps"],
        "sigma": attrs["sigma_m"],
        "beta": options.get("beta", 1.5),
        "min_cost": options.get("min_m", 50.0),
    }
    threshold_m = attrs["threshold_m"]
    fac_d = _broadcast(fac)
    stage1 = [
        dask.delayed(_catchment_part)(p, fac_d, ftype, groups, threshold_m, decay_options)
        for p in demand.to_delayed()
    ]
    catch = _tree_reduce(stage1, np.add)
    ratio = dask.delayed(_ratio)(catch, supply)
    return demand.map_partitions(
        _access_part,
        fac_d,
        ratio,
        ftype,
        groups,
        threshold_m,
        decay_options,
        dict(attrs),
        meta=meta,
    )


# --------------------------------------------------------------------------- networks
def _active_client():
    """The default distributed client, or None (then Dask's local scheduler runs)."""
    try:
        from distributed import get_client
    except ImportError:  # pragma: no cover - distributed comes with the scale extra
        return None
    try:
        return get_client()
    except ValueError:
        return None


def _tile_search(sub, sub_nodes, mode, limit_s):
    from geo.network import node_travel_times

    return node_travel_times(sub, sub_nodes, mode, limit_s=limit_s)


def _reach_m(net, mode, limit_s: float) -> float:
    """Farthest ground distance a search of ``limit_s`` can reach on ``net`` (with slack)."""
    from geo.network import edge_times

    fwd, bwd = edge_times(net, mode)
    t = np.minimum(fwd, bwd)
    ok = np.isfinite(t) & (t > 0)
    if not ok.any():
        return 0.0
    vmax = float(np.max(net.edge_length_m[ok] / t[ok]))
    # UTM grid metres are ground metres x a scale factor below 1.01 within 900 km of the
    # central meridian; one metre more for rounding
    return limit_s * vmax * 1.01 + 1.0


def tile_bounds(net, tiles: tuple[int, int]) -> list[tuple[float, float, float, float]]:
    """``tiles = (nx, ny)`` equal rectangles over the network's nodes, in its metric CRS."""
    nx, ny = tiles
    if not (isinstance(nx, int) and isinstance(ny, int) and nx >= 1 and ny >= 1):
        raise ValueError(f"tiles must be two integers >= 1, got {tiles!r}")
    x0, x1 = float(net.node_x.min()), float(net.node_x.max())
    y0, y1 = float(net.node_y.min()), float(net.node_y.max())
    xs, ys = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    return [(xs[i], ys[j], xs[i + 1], ys[j + 1]) for j in range(ny) for i in range(nx)]


def _core_mask(net, bounds, last_x: bool, last_y: bool) -> np.ndarray:
    x0, y0, x1, y1 = bounds
    x, y = net.node_x, net.node_y
    inx = (x >= x0) & ((x <= x1) if last_x else (x < x1))
    iny = (y >= y0) & ((y <= y1) if last_y else (y < y1))
    return inx & iny


def node_travel_times_tiled(
    net,
    nodes,
    mode="walk",
    *,
    limit_s: float,
    tiles: tuple[int, int] = (2, 2),
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`geo.network.node_travel_times` (multi-source, bounded) by tiles on Dask.

    The network is cut into ``tiles`` rectangles; each tile's part of the network is its
    rectangle plus a margin of the search's reach (``limit_s`` at the fastest speed any
    segment allows, in ground metres), so every route of at most ``limit_s`` from a node of
    the tile stays inside it. Each tile's multi-source search runs as one task on the
    active Dask client; only the tile's own nodes are kept from it.

    Returns
    -------
    (time_s, source) : ndarray, ndarray
        As ``node_travel_times(net, nodes, mode, limit_s=limit_s)``: the time from every
        node to its nearest source (``inf`` beyond ``limit_s``) and the position in
        ``nodes`` of that source (-1 when none is within reach).
    """
    from geo.network import get_mode, subset_edges

    dask, _ = _import_dask()
    if not (isinstance(limit_s, int | float) and math.isfinite(limit_s) and limit_s > 0):
        raise ValueError(
            f"limit_s must be a finite positive number of seconds, got {limit_s!r}: a tile "
            "needs a bounded reach"
        )
    mode = get_mode(mode)
    nodes = np.atleast_1d(np.asarray(nodes, dtype=np.int64))
    reach = _reach_m(net, mode, float(limit_s))
    ex, ey = net.node_x[net.edge_u], net.node_y[net.edge_u]
    fx, fy = net.node_x[net.edge_v], net.node_y[net.edge_v]
    nx, ny = tiles
    tasks, cores = [], []
    for k, (x0, y0, x1, y1) in enumerate(tile_bounds(net, tiles)):
        core = _core_mask(net, (x0, y0, x1, y1), k % nx == nx - 1, k // nx == ny - 1)
        if not core.any():
            continue
        bx0, by0, bx1, by1 = x0 - reach, y0 - reach, x1 + reach, y1 + reach

        def inside(x, y, bx0=bx0, by0=by0, bx1=bx1, by1=by1):
            return (x >= bx0) & (x <= bx1) & (y >= by0) & (y <= by1)

        keep = inside(ex, ey) | inside(fx, fy)
        used = np.unique(np.concatenate([net.edge_u[keep], net.edge_v[keep]]))
        sub = subset_edges(net, keep)
        if sub.n_nodes != len(used):  # subset_edges keeps the used nodes in order
            raise RuntimeError("subset_edges dropped nodes differently than expected")
        in_sub = np.isin(nodes, used)
        src_pos = np.flatnonzero(in_sub)  # positions in `nodes` of the tile's sources
        sub_nodes = np.searchsorted(used, nodes[in_sub])
        core_nodes = np.flatnonzero(core)
        where = np.searchsorted(used, core_nodes)
        found = (where < len(used)) & (used[np.minimum(where, len(used) - 1)] == core_nodes)
        cores.append((core_nodes, where, found, src_pos))
        tasks.append((sub, sub_nodes))
    client = _active_client()
    if client is not None:  # each tile goes straight to a worker, not through the graph
        subs = client.scatter([sub for sub, _ in tasks])
        futures = [
            client.submit(_tile_search, f, nodes_k, mode, float(limit_s), pure=False)
            for f, (_, nodes_k) in zip(subs, tasks, strict=True)
        ]
        results = client.gather(futures)
    else:
        results = dask.compute(
            *[dask.delayed(_tile_search)(sub, n_k, mode, float(limit_s)) for sub, n_k in tasks]
        )
    time_s = np.full(net.n_nodes, np.inf)
    source = np.full(net.n_nodes, -1, dtype=np.int64)
    for (core_nodes, where, found, src_pos), (t, src) in zip(cores, results, strict=True):
        n_in = core_nodes[found]
        time_s[n_in] = t[where[found]]
        s = src[where[found]]
        source[n_in] = np.where(s >= 0, src_pos[np.maximum(s, 0)], -1)
    # a source on no road at all (no segment): itself, at time 0, as in one search
    lone = ~np.isin(nodes, np.concatenate([net.edge_u, net.edge_v]))
    for pos in np.flatnonzero(lone)[::-1]:
        time_s[nodes[pos]], source[nodes[pos]] = 0.0, pos
    return time_s, source


__all__ = [
    "accessibility",
    "coverage",
    "coverage_summary",
    "dask_client",
    "is_dask",
    "node_travel_times_tiled",
    "partition_demand",
    "read_parquet",
    "tile_bounds",
]
