"""The ``servicemap`` command.

    servicemap coverage --demo beilun --type outdoor_station --json
    servicemap coverage --facilities stations.xlsx --datum gcj02 --demand workplaces.csv
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


def _load_inputs(demo, facilities, demand, areas, datum, demand_datum):
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
    fac = load_facilities(facilities, datum=datum)
    dem = pd.concat(
        [load_demand(p, datum=demand_datum) for p in _progress(demand, "loading demand")],
        ignore_index=True,
    )
    dem = gpd.GeoDataFrame(dem, geometry="geometry", crs="EPSG:4326")
    ars = None
    if areas:
        ars = pd.concat([load_areas(p, datum=datum) for p in areas], ignore_index=True)
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
    from geo.layers import load_registry

    reg = load_registry()
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


def _summaries(fac, dem, areas, type_keys, detour, threshold_m):
    from geo.coverage import coverage, coverage_summary

    out = []
    for key in _progress(type_keys, "coverage"):
        res = coverage(fac, dem, facility_type=key, threshold_m=threshold_m, detour_factor=detour)
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
    click.echo(
        f"  {summary.n_facilities} facilities; {summary.method}, threshold "
        f"{summary.threshold_m:g} m"
    )
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


@main.command("coverage")
@click.option("--demo", help="Use a shipped demo dataset, e.g. 'beilun'.")
@click.option("--facilities", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--demand",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Demand file; repeat for several.",
)
@click.option(
    "--areas",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Areas to summarise by; repeat for several.",
)
@click.option(
    "--datum",
    type=click.Choice(["wgs84", "gcj02", "bd09"]),
    default="wgs84",
    show_default=True,
    help="Datum of the facility and area files (AMap: gcj02, Baidu: bd09).",
)
@click.option(
    "--demand-datum",
    type=click.Choice(["wgs84", "gcj02", "bd09"]),
    default="wgs84",
    show_default=True,
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
def coverage_cmd(
    demo,
    facilities,
    demand,
    areas,
    datum,
    demand_datum,
    type_keys,
    threshold_m,
    detour,
    top,
    as_json,
) -> None:
    """Coverage per facility type: covered share, people left out, worst areas, gaps."""
    from geo.layers import load_registry

    registry = load_registry()
    unknown = [k for k in type_keys if k not in registry]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(map(repr, unknown))} not in the registry; known: {', '.join(registry)}",
            param_hint="--type",
        )
    try:
        fac, dem, ars = _load_inputs(demo, facilities, demand, areas, datum, demand_datum)
        keys = list(type_keys) or [k for k in registry if (fac["type"] == k).any()]
        summaries = _summaries(fac, dem, ars, keys, detour, threshold_m)
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
        datum="wgs84",
        demand_datum="wgs84",
        type_keys=(),
        threshold_m=None,
        detour=1.0,
        top=5,
        as_json=False,
    )


if __name__ == "__main__":  # pragma: no cover
    main()
