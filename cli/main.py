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

from cli.params import (
    COUNT,
    DETOUR,
    METRES,
    PORT,
    SECONDS,
    SHARE,
    Group,
    InputError,
    LazyChoice,
    LazyHelpOption,
    Number,
)
from geo.crs import DATUMS
from geo.errors import ServicemapError
from geo.export import ENCODINGS as EXPORT_ENCODINGS
from geo.export import FORMATS as EXPORT_FORMATS
from geo.export import TABLES as EXPORT_TABLES


def _tile_keys() -> list[str]:
    from geo.maps import TILE_SOURCES  # Folium: imported only when --tiles is read

    return list(TILE_SOURCES)


def _siting_models():
    from geo.siting import SITING_MODELS  # SciPy's solvers: imported when `site` runs

    return SITING_MODELS


def _siting_methods() -> tuple[str, ...]:
    from geo.siting import METHODS

    return METHODS


def _progress(iterable, desc: str, total: int | None = None):
    # disable=None: a bar on a terminal, nothing when stderr is a file or a pipe
    return tqdm(
        iterable, desc=desc, total=total, file=sys.stderr, leave=False, unit="step", disable=None
    )


def _registry(modes=None):
    """The facility-type registry: ``$SERVICEMAP_REGISTRY`` if set, else the shipped one.

    The environment is read here, at the edge; ``geo`` takes the registry as an object.
    """
    from geo.layers import load_registry, registry_path_from_env

    path = registry_path_from_env()
    try:
        return load_registry(path, modes=modes)
    except ServicemapError as exc:
        if path is not None:
            exc.args = (f"{exc} (named by $SERVICEMAP_REGISTRY)", *exc.args[1:])
        raise


def _layer_in(path, layer):
    """``--layer`` for one input file: the name when the file holds a layer or sheet of
    that name, else None (single-layer files ignore it; a multi-layer file without it
    is refused by the loader, with the list of its layers)."""
    if layer is None:
        return None
    suffix = Path(path).suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            from geo._io import sheet_names

            names = sheet_names(path)
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
    parts = [
        load_demand(
            p,
            datum=demand_datum,
            group=group,
            weight=weight,
            registry=registry,
            layer=_layer_in(p, layer),
        )
        for p in _progress(demand, "loading demand")
    ]
    dem = parts[0]  # one file: as loaded (concat would copy its million rows)
    if len(parts) > 1:
        dem = gpd.GeoDataFrame(
            pd.concat(parts, ignore_index=True), geometry="geometry", crs="EPSG:4326"
        )
    ars = None
    if areas:
        ars = pd.concat(
            [load_areas(p, datum=datum or "wgs84", layer=_layer_in(p, layer)) for p in areas],
            ignore_index=True,
        )
        ars = gpd.GeoDataFrame(ars, geometry="geometry", crs="EPSG:4326")
    return fac, dem, ars


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="servicemap")
def main() -> None:
    """servicemap: are the places that look after working people where the workers are?"""


@main.command("types")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def types_cmd(as_json: bool) -> None:
    """List the facility types of the registry and their coverage rules."""
    reg = _registry(_travel_modes())
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
    fac,
    dem,
    areas,
    type_keys,
    detour,
    threshold_m,
    network=None,
    mode=None,
    threshold_s=None,
    modes=None,
):
    from geo.coverage import coverage, coverage_summary

    out = []
    for key in _progress(type_keys, "coverage"):
        if network is not None:
            res = coverage(
                fac,
                dem,
                facility_type=key,
                network=network,
                mode=mode,
                threshold_s=threshold_s,
                modes=modes,
            )
        else:
            res = coverage(
                fac, dem, facility_type=key, threshold_m=threshold_m, detour_factor=detour
            )
        summary = coverage_summary(res, areas, facilities=fac)
        out.append(summary)
    return out


def _dask_summaries(address, fac, dem, areas, type_keys, detour, threshold_m):
    """The coverage command on Dask: the dashboard link and a progress bar on stderr."""
    import contextlib

    from distributed import progress

    from geo import scale

    with scale.dask_client(address) as client:
        click.echo(f"Dask dashboard: {client.dashboard_link}", err=True)
        lazy = _summaries(fac, scale.partition_demand(dem), areas, type_keys, detour, threshold_m)
        futures = client.compute(lazy)
        if sys.stderr.isatty():
            with contextlib.redirect_stdout(sys.stderr):  # stdout keeps the --json output
                progress(futures)
        return client.gather(futures)


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


def _travel_modes():
    """The travel-mode file in effect: ``$SERVICEMAP_TRAVEL_MODES``, else the shipped one."""
    import os

    from geo.network import load_travel_modes

    try:
        return load_travel_modes(os.environ.get("SERVICEMAP_TRAVEL_MODES") or None)
    except ServicemapError as exc:
        raise ServicemapError(f"{exc} (from $SERVICEMAP_TRAVEL_MODES)") from exc


def _load_network_for(demo, network_path, modes=None):
    from geo.demo import demo_network_path
    from geo.network import load_network

    path = network_path or (demo_network_path(demo) if demo else None)
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
        net = load_network(path, modes=modes)
    return net


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_DATUM = click.Choice(DATUMS)


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
    type=METRES,
    default=None,
    help="Override the type's coverage threshold (metres).",
)
@click.option(
    "--detour",
    type=DETOUR,
    default=1.0,
    show_default=True,
    help="Multiply straight-line distances by this stated detour factor (no road network).",
)
@click.option(
    "--top",
    type=Number(lo=0, integer=True),
    default=5,
    show_default=True,
    help="Worst areas and gaps.",
)
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
    default=None,
    help="Travel mode on the network: a mode of travel_modes.toml (shipped: walk, bike, "
    "ebike, car, truck; $SERVICEMAP_TRAVEL_MODES names a district's copy). Default: each "
    "type's mode.",
)
@click.option(
    "--threshold-s", type=SECONDS, default=None, help="Override the type's travel-time threshold."
)
@click.option(
    "--dask",
    "dask_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Run partitioned on Dask: a local cluster (one worker process per core), or the "
    "scheduler at ADDRESS (tcp://host:8786). Straight-line distance only.",
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
    dask_address=None,
) -> None:
    """Coverage per facility type: covered share, people left out, worst areas, gaps."""
    modes = _travel_modes()
    if mode is not None and mode not in modes.names:
        raise click.BadParameter(
            f"{mode!r} is not a travel mode; use one of {', '.join(modes.names)}",
            param_hint="--mode",
        )
    registry = _registry(modes)
    unknown = [k for k in type_keys if k not in registry]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(map(repr, unknown))} not in the registry; known: {', '.join(registry)}",
            param_hint="--type",
        )
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
    network = _load_network_for(demo, network_path, modes)
    if dask_address and network is not None:
        raise click.UsageError(
            "--dask measures straight-line distance; a road network is searched by "
            "tiles from Python (geo.scale.node_travel_times_tiled): drop --network"
        )
    if dask_address:
        summaries = _dask_summaries(dask_address, fac, dem, ars, keys, detour, threshold_m)
    else:
        summaries = _summaries(
            fac, dem, ars, keys, detour, threshold_m, network, mode, threshold_s, modes
        )
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
@click.option("--add", type=COUNT, default=5, show_default=True, help="Sites to add.")
@click.option(
    "--model",
    cls=LazyHelpOption,
    type=LazyChoice(lambda: list(_siting_models())),
    default=None,
    help_from=lambda: "Default: route for driver homes, else mclp. "
    + "; ".join(f"{k}: {m.summary}" for k, m in _siting_models().items())
    + ".",
)
@click.option(
    "--target",
    type=SHARE,
    default=None,
    help="lscp, clscp, lscpb: target covered share (0.95); scaleup: build until this share.",
)
@click.option(
    "--site-capacity",
    type=Number(lo=0, lo_open=True),
    default=None,
    help="Capacitated models: people a new site serves (default: the median of the type's).",
)
@click.option("--threshold-m", type=METRES, default=None, help="Override the type's threshold.")
@click.option("--spacing-m", type=METRES, default=None, help="Candidate grid spacing (metres).")
@click.option(
    "--method",
    type=LazyChoice(_siting_methods),
    default="exact",
    show_default=True,
    help="exact: HiGHS, proven optimum; fast: greedy + swaps.",
)
@click.option("--time-limit", type=SECONDS, default=60.0, show_default=True, help="Seconds.")
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
    site_capacity,
    threshold_m,
    spacing_m,
    method,
    time_limit,
    as_json,
) -> None:
    """Where the next sites of a type should go, with the people each one adds."""
    from geo.layers import load_boundary, load_facilities
    from geo.siting import suggest_sites

    registry = _registry(_travel_modes())
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
                site_capacity=site_capacity,
                method=method,
                time_limit_s=time_limit,
            )
    except (ServicemapError, ValueError) as exc:
        raise InputError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
        return
    t = registry[type_key]
    unit = "daily trucks" if res.model == "route" else "people"
    click.echo(f"\n{t.label_zh} {t.label_en} ({type_key}): {res.model}, {res.method}")
    click.echo(f"  optimises: {_siting_models()[res.model].summary}")
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


def _planner_client(demo: str):
    from web import create_app

    return create_app({"DEMO": demo, "TILES": "none"}).test_client()


def _planner_get(client, path: str, query: dict) -> bytes:
    """A planner route of the web app, in-process (one code path for the page, its
    downloads and this command)."""
    r = client.get(path, query_string={k: v for k, v in query.items() if v})
    if r.status_code != 200:
        body = r.get_json(silent=True) or {}
        message = body.get("error", {}).get("message") or r.get_data(as_text=True)[:500]
        raise InputError(f"{path}: {message}")
    return r.data


def _scenario_options(command):
    for option in reversed(
        [
            click.option("--demo", default="beilun", show_default=True),
            click.option("--type", "type_key", default=None, help="Facility type."),
            click.option("--threshold-m", type=float, default=None, help="Coverage distance."),
            click.option("--off", multiple=True, help="A facility id switched off (repeatable)."),
            click.option("--add", "add", default=None, help='New sites "lon,lat;lon,lat" (WGS84).'),
            click.option("--lang", type=click.Choice(["zh", "en"]), default="zh"),
        ]
    ):
        command = option(command)
    return command


def _scenario_query(type_key, threshold_m, off, add, lang) -> dict:
    return {
        "type": type_key,
        "threshold_m": threshold_m,
        "off": ",".join(off),
        "add": add,
        "datum": "wgs84" if add else None,
        "lang": lang,
    }


@main.command("report")
@_scenario_options
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False), help="Write the PDF here.")
@click.option("--docx", "docx_path", type=click.Path(dir_okay=False), help="Write a Word file.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the page.")
@click.pass_context
def report_cmd(
    ctx, demo, type_key, threshold_m, off, add, lang, pdf_path, docx_path, html_path
) -> None:
    """The planner's report (--pdf, --docx, --html); without them, coverage as text.

    The files are the planner's /planner/report page and its downloads, drawn from the
    same content (geo.report.report_content).
    """
    outputs = {"pdf": pdf_path, "docx": docx_path, "html": html_path}
    if not any(outputs.values()):
        ctx.invoke(
            coverage_cmd,
            demo=demo,
            facilities=None,
            demand=(),
            areas=(),
            datum="wgs84",
            demand_datum="wgs84",
            type_keys=(type_key,) if type_key else (),
            threshold_m=threshold_m,
            detour=1.0,
            top=5,
            as_json=False,
        )
        return
    query = _scenario_query(type_key, threshold_m, off, add, lang)
    client = _planner_client(demo)
    for fmt, path in outputs.items():
        if path:
            route = "/planner/report" if fmt == "html" else f"/planner/report.{fmt}"
            Path(path).write_bytes(_planner_get(client, route, query))
            click.echo(f"wrote {path}", err=True)


@main.command("plates")
@click.option("--demo", default="beilun", show_default=True)
@click.option(
    "--workspace",
    "workspace_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A workspace's facilities and areas instead of the demo's (PostGIS when "
    "SERVICEMAP_DATABASE_URL is set).",
)
@click.option("--area", required=True, help="Sub-district or community: name, English name or id.")
@click.option(
    "--public-url",
    envvar="SERVICEMAP_PUBLIC_URL",
    required=True,
    help="Scheme and host of the short URLs on the plates (or SERVICEMAP_PUBLIC_URL).",
)
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False), help="Write the PDF here.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the page.")
def plates_cmd(demo, workspace_dir, area, public_url, pdf_path, html_path) -> None:
    """QR plates (A4, six a page) for the facilities of one area, as the planner's
    /planner/plates page prints them (headless Chromium, like `servicemap report --pdf`)."""
    from web import create_app

    if not pdf_path and not html_path:
        raise click.UsageError("give --pdf PATH and/or --html PATH")
    import os

    from geo.report import html_to_pdf
    from web.qr import plates_content, render_plates

    settings = {"DEMO": demo, "TILES": "none", "PUBLIC_URL": public_url}
    if workspace_dir:
        settings["WORKSPACE"] = str(workspace_dir)
        settings["DATABASE_URL"] = os.environ.get("SERVICEMAP_DATABASE_URL", "")
    app = create_app(settings)
    # the planner's page, rendered in-process: whoever can read the workspace may print
    # its plates without signing in to the app
    with app.test_request_context("/planner/plates", query_string={"area": area}):
        try:
            content = plates_content(area)
        except ServicemapError as exc:
            raise InputError(str(exc)) from exc
        if pdf_path:
            Path(pdf_path).write_bytes(html_to_pdf(render_plates(content, printing=True)))
            click.echo(f"wrote {pdf_path}", err=True)
        if html_path:
            Path(html_path).write_text(render_plates(content, printing=False), encoding="utf-8")
            click.echo(f"wrote {html_path}", err=True)


@main.command("export")
@_scenario_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(EXPORT_FORMATS)),
    required=True,
    help="zip: a zipped shapefile.",
)
@click.option(
    "--table",
    type=click.Choice(list(EXPORT_TABLES)),
    default="facilities",
    show_default=True,
    help="The table (csv, geojson, zip hold one; xlsx, gpkg, kml hold all, this one first).",
)
@click.option(
    "--out-datum",
    type=click.Choice(DATUMS),
    default="wgs84",
    show_default=True,
    help="Datum of the coordinates written (gcj02 for AMap, bd09 for Baidu).",
)
@click.option(
    "--encoding",
    type=click.Choice(list(EXPORT_ENCODINGS)),
    default="utf-8",
    show_default=True,
    help="Shapefile text encoding (named in its .cpg).",
)
@click.argument("out", type=click.Path(dir_okay=False))
def export_cmd(
    demo, type_key, threshold_m, off, add, lang, fmt, table, out_datum, encoding, out
) -> None:
    """The planner's tables as a file (the /planner/export.<format> download)."""
    query = _scenario_query(type_key, threshold_m, off, add, lang)
    query.update(table=table, out_datum=out_datum, encoding=encoding)
    data = _planner_get(_planner_client(demo), f"/planner/export.{fmt}", query)
    Path(out).write_bytes(data)
    click.echo(f"wrote {out}", err=True)


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
    from geo.network.io import OVERPASS_URL, fetch_network

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

    from geo.network import edge_times, load_network

    modes = _travel_modes()
    net = load_network(path, modes=modes)
    km = {}
    for m in modes.names:
        fwd, bwd = edge_times(net, modes.get(m))
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


def demo_workspace_dir(demo: str, database_url: str | None) -> Path:
    """Where ``serve --demo NAME`` keeps the demo's workspace: the user's cache folder
    (``$XDG_CACHE_HOME/servicemap/workspaces/NAME``; one per database for PostGIS)."""
    import hashlib

    from geo.network.io import _user_cache_dir

    name = demo
    if database_url:
        name += "-postgis-" + hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return _user_cache_dir() / "workspaces" / name


def open_served_workspace(directory: Path | None, demo: str | None):
    """The workspace ``serve`` serves: DIRECTORY, or the demo built as a workspace (in
    DIRECTORY, or the cache folder) through ``Workspace.from_demo``, under a file lock so
    two servers starting at once do not both build it."""
    import fcntl

    from cli.workspace import database_url, open_workspace
    from geo.demo import available_demos
    from geo.workspace import Workspace

    url = database_url()
    if demo is None:
        assert directory is not None
        return open_workspace(directory)
    if demo not in available_demos():
        raise InputError(f"no shipped demo {demo!r}; the demos: {', '.join(available_demos())}")
    folder = directory if directory is not None else demo_workspace_dir(demo, url)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return Workspace.from_demo(demo, folder, database_url=url)
        except (ServicemapError, FileNotFoundError, ValueError) as exc:
            raise InputError(str(exc)) from exc


@main.command("serve")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--demo",
    default=None,
    help="Serve a shipped demo, built as a workspace (in DIRECTORY, else in the user's "
    "cache folder). Default without DIRECTORY: beilun.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=PORT)
@click.option("--workers", default=2, show_default=True, type=COUNT, help="gunicorn workers.")
@click.option(
    "--tiles",
    type=LazyChoice(_tile_keys),
    default=None,
    help="Base map (default: SERVICEMAP_TILES, else the workspace's, else osm).",
)
@click.option("--dev", is_flag=True, help="Flask's development server (reloads, debugger).")
def serve_cmd(
    directory: Path | None,
    demo: str | None,
    host: str,
    port: int,
    workers: int,
    tiles: str | None,
    dev: bool,
) -> None:
    """Serve a workspace: the finder (/), the planner (/planner) and the API (/api).

    DIRECTORY is a workspace (``servicemap init``); PostGIS when SERVICEMAP_DATABASE_URL
    is set. Without it, the shipped demo (``--demo beilun``) becomes a workspace first,
    so the demo and a district run the same code.
    """
    import os

    from web import create_app

    if directory is None and demo is None:
        demo = "beilun"
    for _ in _progress([demo or str(directory)], "opening the workspace"):
        ws = open_served_workspace(directory, demo)
    folder = ws.path
    if not (tiles or os.environ.get("SERVICEMAP_TILES")) and ws.tiles:
        tiles = ws.tiles
    ws.close()
    os.environ["SERVICEMAP_WORKSPACE"] = str(Path(folder).resolve())
    if tiles:
        os.environ["SERVICEMAP_TILES"] = tiles
    app = create_app()
    data = app.extensions["servicemap"]
    for _ in _progress([folder], f"loading {folder}"):
        # files are read once, before the workers fork; the analysis (KD-tree queries,
        # OpenMP threads that do not survive fork) runs in each worker after it
        data.preload()
    url = f"http://{host}:{port}/"
    users = "sign-in on" if data.users() else "no users: the planner is open"
    click.echo(
        f"servicemap: {data.workspace!r} ({users})\n"
        f"  finder {url}  planner {url}planner/  API {url}api/openapi.json"
    )
    if dev:
        data.warm()
        app.run(host=host, port=port, debug=True, use_reloader=False)
        return
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("preload_app", True)
            self.cfg.set("accesslog", None)
            # each worker: its own database connections, then compute everything
            self.cfg.set("post_fork", lambda server, worker: data.after_fork())
            self.cfg.set("post_worker_init", lambda worker: data.warm())

        def load(self):
            return app

    _Server().run()


# ------------------------------------------------------------------ compliance (issue 12)
@main.command("compliance")
@click.option("--demo", help="Use a shipped demo dataset, e.g. 'beilun'.")
@click.option("--facilities", type=_FILE, help="Facility file (CSV, Excel, GeoJSON...).")
@click.option("--datum", type=_DATUM, default="wgs84", show_default=True)
@click.option(
    "--equipment",
    type=_FILE,
    default=None,
    help="Equipment inventory (CSV/Excel with an id column); a demo uses its equipment.csv.",
)
@click.option(
    "--standards",
    "standards_path",
    type=_FILE,
    default=None,
    help="Standards file (default: SERVICEMAP_STANDARDS, else the shipped one).",
)
@click.option("--type", "type_keys", multiple=True, help="Facility type key (repeat).")
@click.option("--top", type=int, default=5, show_default=True, help="Most-missing items shown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every facility included).")
def compliance_cmd(
    demo, facilities, datum, equipment, standards_path, type_keys, top, as_json
) -> None:
    """Which facilities meet their type's standard: met, missing and unknown items, stars."""
    import os

    from geo.standards import (
        STANDARDS_ENV,
        compliance,
        compliance_to_dict,
        equipment_for_demo,
        load_equipment,
        load_standards,
    )

    if bool(demo) == bool(facilities):
        raise click.UsageError("give either --demo NAME or --facilities FILE")
    std = load_standards(standards_path or os.environ.get(STANDARDS_ENV) or None)
    unknown = [k for k in type_keys if k not in std]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(map(repr, unknown))} has no standard; known: {', '.join(std)}",
            param_hint="--type",
        )
    if demo:
        from geo.demo import load_demo

        fac = load_demo(demo).facilities
        eq = load_equipment(equipment) if equipment else equipment_for_demo(demo)
    else:
        from geo.layers import load_facilities

        fac = load_facilities(facilities, datum=datum)
        eq = load_equipment(equipment) if equipment else None
    if type_keys:
        fac = fac[fac["type"].isin(type_keys)]
    res = compliance(fac, standards=std, equipment=eq)
    body = compliance_to_dict(res, std, facilities=as_json)
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    registry = _registry(_travel_modes())
    for key, t in body["types"].items():
        ft = registry.get(key)
        label = f"{ft.label_zh} {ft.label_en}" if ft else key
        share = "n/a" if t["compliant_share"] is None else f"{t['compliant_share']:.1%}"
        click.echo(f"\n{label} ({key}): {t['facilities']} facilities")
        click.echo(
            f"  compliant {t['compliant']} ({share}), not compliant {t['not_compliant']}, "
            f"unknown {t['unknown']} (items not recorded)"
        )
        stars = ", ".join(f"{k}: {v}" for k, v in sorted(t["stars"].items()))
        click.echo(f"  stars  {stars}")
        for m in t["missing"][:top]:
            kind = "required" if m["required"] else "optional"
            click.echo(f"  missing at {m['facilities']:>4}  {_pad(m['label_zh'], 22)} "
                       f"{m['label_en']} ({kind})")  # fmt: skip
        for m in t["unknown_items"][:top]:
            click.echo(f"  not recorded at {m['facilities']:>4}  {m['label_en']}")


from cli.workspace import register as _register_workspace  # noqa: E402

_register_workspace(main)


if __name__ == "__main__":  # pragma: no cover
    main()
