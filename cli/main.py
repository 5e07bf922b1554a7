"""The ``servicemap`` command.

    servicemap coverage --demo beilun --type outdoor_station --json
    servicemap coverage --facilities stations.xlsx --datum gcj02 --demand workplaces.csv
    servicemap suggest --demo beilun --type outdoor_station --add 5 --json
    servicemap types

Results go to standard output (JSON with ``--json``); progress goes to standard error, so
``--json`` output can be piped.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

import click
import geopandas as gpd
import pandas as pd
from tqdm import tqdm

from geo.errors import ServicemapError


def _progress(iterable, desc: str, total: int | None = None):
    # disable=None: a bar on a terminal, nothing when stderr is a file or a pipe
    return tqdm(
        iterable, desc=desc, total=total, file=sys.stderr, leave=False, unit="step", disable=None
    )


def _registry():
    """The facility-type registry: ``$SERVICEMAP_REGISTRY`` if set, else the shipped one.

    The environment is read here, at the edge; ``geo`` takes the registry as an object.
    """
    from geo.layers import load_registry, registry_path_from_env

    path = registry_path_from_env()
    try:
        return load_registry(path)
    except ServicemapError as exc:
        via = " (named by $SERVICEMAP_REGISTRY)" if path is not None else ""
        raise click.ClickException(f"{exc}{via}") from exc


def _layer_in(path, layer):
    """``--layer`` for one input file: the name when the file holds a layer or sheet of
    that name, else None (single-layer files ignore it; a multi-layer file without it
    is refused by the loader, with the list of its layers)."""
    if layer is None:
        return None
    suffix = Path(path).suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True)
            names = list(book.sheetnames)
            book.close()
        elif suffix in (".gpkg", ".geojson", ".json", ".fgb", ".zip", ".shp"):
            import pyogrio

            names = [str(n) for n, _ in pyogrio.list_layers(path)]
        else:
            return None
    except Exception:  # an unreadable file: the loader says why
        return layer
    return layer if layer in names or len(names) > 1 else None


def _load_inputs(
    demo,
    facilities,
    demand,
    areas,
    datum,
    demand_datum,
    *,
    registry=None,
    group=None,
    weight=None,
    layer=None,
):
    """The layers named on the command line: a demo, or the user's own files."""
    from geo.demand import load_demand
    from geo.demo import load_demo
    from geo.layers import load_areas, load_facilities

    if demo:
        if facilities or demand:
            raise click.UsageError("give either --demo or --facilities/--demand, not both")
        for _ in _progress([demo], f"loading demo {demo!r}"):
            d = load_demo(demo)
        return d.facilities, d.demand, d.areas
    if not facilities or not demand:
        raise click.UsageError("give --demo NAME, or both --facilities and --demand files")
    fac = load_facilities(
        facilities, datum=datum, registry=registry, layer=_layer_in(facilities, layer)
    )
    dem = pd.concat(
        [
            load_demand(
                p,
                datum=demand_datum,
                group=group,
                weight=weight,
                registry=registry,
                layer=_layer_in(p, layer),
            )
            for p in _progress(demand, "loading demand")
        ],
        ignore_index=True,
    )
    dem = gpd.GeoDataFrame(dem, geometry="geometry", crs="EPSG:4326")
    ars = None
    if areas:
        ars = pd.concat(
            [load_areas(p, datum=datum or "wgs84", layer=_layer_in(p, layer)) for p in areas],
            ignore_index=True,
        )
        ars = gpd.GeoDataFrame(ars, geometry="geometry", crs="EPSG:4326")
    return fac, dem, ars


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="servicemap")
def main() -> None:
    """servicemap: are the places that look after working people where the workers are?"""


@main.command("types")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def types_cmd(as_json: bool) -> None:
    """List the facility types of the registry and their coverage rules."""
    reg = _registry()
    if as_json:
        click.echo(
            json.dumps(
                {
                    k: {
                        "label_zh": t.label_zh,
                        "label_en": t.label_en,
                        "demand_group": t.demand_group,
                        "mode": t.mode,
                        "rule": t.rule,
                        "threshold_m": t.threshold_m,
                    }
                    for k, t in reg.items()
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for k, t in reg.items():
        click.echo(
            f"{k:16s} {t.label_zh}  {t.label_en}: serves '{t.demand_group}', "
            f"{t.rule} rule, {t.threshold_m:g} m"
        )


def _summaries(
    fac, dem, areas, type_keys, detour, threshold_m, network=None, mode=None, threshold_s=None
):
    from geo.coverage import coverage, coverage_summary

    out = []
    for key in _progress(type_keys, "coverage"):
        if network is not None:
            res = coverage(
                fac, dem, facility_type=key, network=network, mode=mode, threshold_s=threshold_s
            )
        else:
            res = coverage(
                fac, dem, facility_type=key, threshold_m=threshold_m, detour_factor=detour
            )
        summary = coverage_summary(res, areas, facilities=fac)
        out.append(summary)
    return out


def _pad(text: str, width: int) -> str:
    """Left-justify for a terminal, where a Chinese character takes two columns."""
    cols = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))
    return f"{text}{' ' * max(width - cols, 0)}"


def _print_text(summary, top: int, registry) -> None:
    t = registry[summary.facility_type]
    share = "n/a" if summary.people_total == 0 else f"{summary.covered_share:.1%}"
    click.echo(f"\n{t.label_zh} {t.label_en} ({summary.facility_type})")
    threshold = (
        f"{summary.extra['threshold_s']:g} s"
        if "threshold_s" in summary.extra
        else f"{summary.threshold_m:g} m"
    )
    click.echo(f"  {summary.n_facilities} facilities; {summary.method}, threshold {threshold}")
    if summary.extra.get("off_network"):
        click.echo(f"  {summary.extra['off_network']} demand points are off the road network")
    click.echo(
        f"  covered {share} of {summary.people_total:,.0f} people; "
        f"{summary.people_uncovered:,.0f} left out"
    )
    worst = summary.by_area.head(top)
    if len(worst):
        click.echo("  worst areas (people left out):")
        for r in worst.itertuples(index=False):
            cs = "n/a" if pd.isna(r.covered_share) else f"{r.covered_share:.0%}"
            click.echo(
                f"    {_pad(r.name, 16)} {_pad(r.level, 22)} {r.uncovered:>9,.0f}  ({cs} covered)"
            )


def _demo_network_path(demo: str | None) -> Path | None:
    """The road network shipped or fetched for a demo (``datasets/<demo>/roads.osm*``)."""
    if not demo:
        return None
    from geo.demo import datasets_dir

    for name in ("roads.osm.pbf", "roads.osm", "roads.graphml"):
        p = datasets_dir() / demo / name
        if p.is_file():
            return p
    return None


def _load_network_for(demo, network_path):
    from geo.network import load_network

    path = network_path or _demo_network_path(demo)
    if path is None:
        if demo:
            click.echo(
                f"note: no road network for demo {demo!r}: straight-line distance (times the "
                f"--detour factor). Fetch one with `servicemap network fetch --demo {demo} "
                "--overpass` (needs internet) and rerun.",
                err=True,
            )
        return None
    for _ in _progress([path], f"loading road network {Path(path).name}"):
        net = load_network(path)
    return net


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_DATUM = click.Choice(["wgs84", "gcj02", "bd09"])


def _data_options(command):
    """The options naming the input layers: a demo, or the user's own files."""
    options = [
        click.option("--demo", help="Use a shipped demo dataset, e.g. 'beilun'."),
        click.option("--facilities", type=_FILE, help="Facility file (CSV, Excel, GeoJSON...)."),
        click.option("--demand", multiple=True, type=_FILE, help="Demand file; repeat."),
        click.option(
            "--datum",
            type=_DATUM,
            default=None,
            help="Datum of the facility, area and candidate files (AMap: gcj02, Baidu: "
            "bd09). Default: the one a coordinate header names (经度（GCJ-02）), else wgs84.",
        ),
        click.option(
            "--demand-datum",
            type=_DATUM,
            default=None,
            help="Datum of the demand files (default as for --datum).",
        ),
        click.option(
            "--group",
            default=None,
            help="Demand group of every row of the demand files (outdoor, all_workers, "
            "female_nursing, truck_drivers, ...), for files without a group column.",
        ),
        click.option(
            "--weight",
            default=None,
            metavar="COLUMN",
            help="Column of the demand files holding the number of people.",
        ),
        click.option(
            "--layer",
            default=None,
            metavar="NAME",
            help="Layer (GeoPackage) or sheet (Excel) to read from input files that hold several.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command("coverage")
@_data_options
@click.option(
    "--areas", multiple=True, type=_FILE, help="Areas to summarise by; repeat for several."
)
@click.option(
    "--type",
    "type_keys",
    multiple=True,
    help="Facility type key (repeat); default: every type in the registry.",
)
@click.option(
    "--threshold-m",
    type=float,
    default=None,
    help="Override the type's coverage threshold (metres).",
)
@click.option(
    "--detour",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply straight-line distances by this stated detour factor (no road network).",
)
@click.option("--top", type=int, default=5, show_default=True, help="Worst areas and gaps.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--network",
    "network_path",
    type=_FILE,
    default=None,
    help="Road network (.osm.pbf, .osm, .graphml): measure travel time on it. A demo uses "
    "its roads.osm when present (`servicemap network fetch --demo NAME`).",
)
@click.option(
    "--mode",
    type=click.Choice(["walk", "bike", "ebike", "car", "truck"]),
    default=None,
    help="Travel mode on the network (default: each type's mode).",
)
@click.option(
    "--threshold-s", type=float, default=None, help="Override the type's travel-time threshold."
)
def coverage_cmd(
    demo,
    facilities,
    demand,
    areas,
    datum,
    demand_datum,
    group,
    weight,
    layer,
    type_keys,
    threshold_m,
    detour,
    top,
    as_json,
    network_path=None,
    mode=None,
    threshold_s=None,
) -> None:
    """Coverage per facility type: covered share, people left out, worst areas, gaps."""
    registry = _registry()
    unknown = [k for k in type_keys if k not in registry]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(map(repr, unknown))} not in the registry; known: {', '.join(registry)}",
            param_hint="--type",
        )
    try:
        fac, dem, ars = _load_inputs(
            demo,
            facilities,
            demand,
            areas,
            datum,
            demand_datum,
            registry=registry,
            group=group,
            weight=weight,
            layer=layer,
        )
        keys = list(type_keys) or [k for k in registry if (fac["type"] == k).any()]
        network = _load_network_for(demo, network_path)
        summaries = _summaries(fac, dem, ars, keys, detour, threshold_m, network, mode, threshold_s)
    except ServicemapError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        payload = [s.to_dict(top=top) for s in summaries]
        for item in payload:
            t = registry[item["facility_type"]]
            item["label_zh"], item["label_en"] = t.label_zh, t.label_en
        click.echo(
            json.dumps(payload[0] if len(payload) == 1 else payload, ensure_ascii=False, indent=2)
        )
        return
    for s in summaries:
        _print_text(s, top, registry)


@main.command("suggest")
@_data_options
@click.option(
    "--boundary",
    type=_FILE,
    help="Polygon file inside which candidate sites are made (a demo has its own).",
)
@click.option(
    "--exclude",
    type=_FILE,
    help="Polygons where no site may go (water, parks, port land).",
)
@click.option(
    "--candidates",
    type=_FILE,
    help="Your own candidate sites (a facility-style file: id, name, lon, lat, type).",
)
@click.option("--type", "type_key", required=True, help="Facility type key.")
@click.option("--add", type=int, default=5, show_default=True, help="Sites to add.")
@click.option(
    "--model",
    type=click.Choice(["mclp", "cmclp", "lscp", "pmedian", "route"]),
    default=None,
    help="Default: route for driver homes, else mclp (most people newly covered).",
)
@click.option("--target", type=float, default=None, help="lscp: target covered share (0.95).")
@click.option("--threshold-m", type=float, default=None, help="Override the type's threshold.")
@click.option("--spacing-m", type=float, default=None, help="Candidate grid spacing (metres).")
@click.option(
    "--method",
    type=click.Choice(["exact", "fast"]),
    default="exact",
    show_default=True,
    help="exact: HiGHS, proven optimum; fast: greedy + swaps.",
)
@click.option("--time-limit", type=float, default=60.0, show_default=True, help="Seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def suggest_cmd(
    demo,
    facilities,
    demand,
    boundary,
    exclude,
    candidates,
    datum,
    demand_datum,
    group,
    weight,
    layer,
    type_key,
    add,
    model,
    target,
    threshold_m,
    spacing_m,
    method,
    time_limit,
    as_json,
) -> None:
    """Where the next sites of a type should go, with the people each one adds."""
    from geo.layers import load_boundary, load_facilities
    from geo.siting import suggest_sites

    registry = _registry()
    if type_key not in registry:
        raise click.BadParameter(
            f"{type_key!r} not in the registry; known: {', '.join(registry)}",
            param_hint="--type",
        )
    try:
        fac, dem, _ = _load_inputs(
            demo,
            facilities,
            demand,
            (),
            datum,
            demand_datum,
            registry=registry,
            group=group,
            weight=weight,
            layer=layer,
        )
        bnd = None
        if demo:
            from geo.demo import load_demo

            bnd = load_demo(demo).boundary
        if boundary:
            bnd = load_boundary(boundary, datum=datum or "wgs84", layer=_layer_in(boundary, layer))
        mask = None
        if exclude:
            mask = load_boundary(exclude, datum=datum or "wgs84", layer=_layer_in(exclude, layer))
        cand = (
            load_facilities(
                candidates, datum=datum, registry=registry, layer=_layer_in(candidates, layer)
            )
            if candidates
            else None
        )
        if cand is None and bnd is None:
            raise click.UsageError("give --boundary or --candidates (or --demo)")
        for _ in _progress([type_key], "solving"):
            res = suggest_sites(
                fac,
                dem,
                facility_type=type_key,
                add=add,
                model=model,
                candidates=cand,
                boundary=bnd,
                exclude=mask,
                spacing_m=spacing_m,
                threshold_m=threshold_m,
                target_share=target,
                method=method,
                time_limit_s=time_limit,
            )
    except (ServicemapError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
        return
    t = registry[type_key]
    unit = "daily trucks" if res.model == "route" else "people"
    click.echo(f"\n{t.label_zh} {t.label_en} ({type_key}): {res.model}, {res.method}")
    click.echo(f"  measure: {res.measure}")
    click.echo(
        f"  covered {res.covered_before:.1%} -> {res.covered_after:.1%} of "
        f"{res.people_total:,.0f} {unit}"
    )
    for i, r in enumerate(res.sites.itertuples(index=False), start=1):
        click.echo(f"  {i:>3}. {r.lon:.6f}, {r.lat:.6f}  adds {r.people_added:,.0f} {unit}")
    proof = "proven optimal" if res.proven_optimal else "not proven optimal"
    gap = "unknown" if res.gap is None else f"{res.gap:.4%}"
    click.echo(f"  {proof}; gap {gap}; {res.n_candidates} candidate sites; {res.solve_s:.2f} s")


@main.command("report")
@click.option("--demo", default="beilun", show_default=True)
@click.pass_context
def report_cmd(ctx, demo: str) -> None:
    """Coverage of every facility type on a demo dataset, as text."""
    ctx.invoke(
        coverage_cmd,
        demo=demo,
        facilities=None,
        demand=(),
        areas=(),
        datum=None,
        demand_datum=None,
        group=None,
        weight=None,
        layer=None,
        type_keys=(),
        threshold_m=None,
        detour=1.0,
        top=5,
        as_json=False,
    )


@main.group("network")
def network_group() -> None:
    """Road networks: fetch a district's roads from OpenStreetMap, inspect a network file."""


def _boundary_for(demo, boundary):
    if demo:
        from geo.demo import load_demo

        return load_demo(demo).boundary
    if boundary:
        from geo.layers import load_boundary

        return load_boundary(boundary)
    raise click.UsageError("give --boundary FILE or --demo NAME: the area to fetch roads for")


@network_group.command("fetch")
@click.option("--demo", help="Fetch for a demo's boundary and save as its roads.osm.")
@click.option(
    "--boundary",
    type=_FILE,
    help="Polygon file (GeoJSON, GeoPackage, ...) to clip the roads to.",
)
@click.option(
    "--url",
    help="An OpenStreetMap extract covering the boundary (.osm.pbf or .osm; http(s) URL or "
    "local path), e.g. https://download.geofabrik.de/asia/china-latest.osm.pbf",
)
@click.option("--overpass", is_flag=True, help="Ask the Overpass API for the highways instead.")
@click.option("--overpass-url", default=None, help="Overpass endpoint (default overpass-api.de).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the clipped roads (OSM XML); default datasets/<demo>/roads.osm.",
)
def network_fetch_cmd(demo, boundary, url, overpass, overpass_url, out) -> None:
    """Download a district's roads (needs internet), clip them and save them as OSM XML."""
    from geo._network_io import OVERPASS_URL, fetch_network

    if bool(url) == bool(overpass or overpass_url):
        raise click.UsageError("give either --url EXTRACT or --overpass")
    bnd = _boundary_for(demo, boundary)
    if out is None:
        if not demo:
            raise click.UsageError("give --out PATH (or --demo NAME to save as its roads.osm)")
        from geo.demo import datasets_dir

        out = datasets_dir() / demo / "roads.osm"
    bar = tqdm(file=sys.stderr, unit="B", unit_scale=True, desc="download", disable=None)

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        net = fetch_network(
            out,
            boundary=bnd,
            url=url,
            overpass_url=(overpass_url or OVERPASS_URL) if not url else None,
            progress=progress,
        )
    except (ServicemapError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    click.echo(
        f"wrote {out}: {net.n_nodes:,} nodes, {net.n_edges:,} segments, "
        f"{net.edge_length_m.sum() / 1000:,.1f} km of road"
    )


@network_group.command("info")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def network_info_cmd(path, as_json) -> None:
    """Size of a road network and the km each travel mode may use."""
    import numpy as np

    from geo.network import MODE_NAMES, edge_times, load_network

    try:
        net = load_network(path)
    except ServicemapError as exc:
        raise click.ClickException(str(exc)) from exc
    km = {}
    for m in MODE_NAMES:
        fwd, bwd = edge_times(net, m)
        km[m] = round(float(net.edge_length_m[np.isfinite(fwd) | np.isfinite(bwd)].sum()) / 1000, 3)
    info = {
        "source": net.source,
        "nodes": net.n_nodes,
        "segments": net.n_edges,
        "km": round(float(net.edge_length_m.sum()) / 1000, 3),
        "km_by_mode": km,
    }
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo(f"{net!r}")
    for m, k in km.items():
        click.echo(f"  {m:6s} {k:10,.1f} km usable")


@main.command("serve")
@click.option("--demo", default="beilun", show_default=True, help="Shipped demo to serve.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn workers.")
@click.option(
    "--tiles",
    type=click.Choice(["osm", "amap", "tianditu", "none"]),
    default=None,
    help="Base map (default: SERVICEMAP_TILES, else osm).",
)
@click.option("--dev", is_flag=True, help="Flask's development server (reloads, debugger).")
def serve_cmd(demo: str, host: str, port: int, workers: int, tiles: str | None, dev: bool) -> None:
    """Serve the finder (/), the planner (/planner) and the API (/api) on a demo."""
    import os

    from web import create_app

    os.environ["SERVICEMAP_DEMO"] = demo
    if tiles:
        os.environ["SERVICEMAP_TILES"] = tiles
    app = create_app()
    for _ in _progress([demo], f"loading demo {demo!r}"):
        app.extensions["servicemap"].warm()  # loaded once, before the workers fork
    url = f"http://{host}:{port}/"
    click.echo(f"servicemap: finder {url}  planner {url}planner/  API {url}api/openapi.json")
    if dev:
        app.run(host=host, port=port, debug=True, use_reloader=False)
        return
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("preload_app", True)
            self.cfg.set("accesslog", None)

        def load(self):
            return app

    _Server().run()


if __name__ == "__main__":  # pragma: no cover
    main()
