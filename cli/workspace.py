"""Workspace commands: ``init``, ``import``, ``users``, ``history``, ``rollback``, ``export``.

    servicemap init DIR --name 北仑区 --boundary boundary.geojson
    servicemap import DIR facilities stations.xlsx --datum gcj02 --reason "2025 list"
    servicemap users add DIR alice --role admin
    servicemap history DIR --facility OS001
    servicemap rollback DIR facilities 3 --reason "undo the bad import"

A PostGIS store is used when ``SERVICEMAP_DATABASE_URL`` is set (read here, at the
edge, and nowhere in ``geo``).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

import click
from tqdm import tqdm

from cli.params import InputError
from geo.errors import ServicemapError

DATABASE_ENV = "SERVICEMAP_DATABASE_URL"
_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def database_url() -> str | None:
    """``$SERVICEMAP_DATABASE_URL``, or None for the workspace's GeoPackage."""
    return os.environ.get(DATABASE_ENV) or None


def open_workspace(path: Path):
    """The workspace at ``path`` (PostGIS when ``SERVICEMAP_DATABASE_URL`` is set)."""
    from geo.workspace import Workspace

    try:
        return Workspace.open(path, database_url=database_url())
    except (ServicemapError, FileNotFoundError) as exc:
        raise InputError(str(exc)) from exc


def _user() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.command("init")
@click.argument("directory", type=_DIR)
@click.option("--name", required=True, help="The district's name, e.g. 北仑区.")
@click.option("--boundary", type=_FILE, help="District boundary (polygon file).")
@click.option("--registry", type=_FILE, help="The district's facility-type registry (TOML).")
@click.option("--privacy-k", type=int, default=10, show_default=True)
@click.option("--tiles", default=None, help="Base-map tile provider.")
def init_cmd(directory, name, boundary, registry, privacy_k, tiles) -> None:
    """Create a workspace in DIRECTORY (a GeoPackage store plus workspace.toml)."""
    from geo.workspace import Workspace

    try:
        ws = Workspace.init(
            directory,
            name=name,
            boundary=boundary,
            database_url=database_url(),
            registry=registry,
            privacy_k=privacy_k,
            tiles=tiles,
        )
    except (ServicemapError, ValueError, FileNotFoundError) as exc:
        raise InputError(str(exc)) from exc
    with ws:
        click.echo(f"created workspace {ws.name!r} in {directory} ({ws.store.kind} store)")


@click.command("import")
@click.argument("directory", type=_DIR)
@click.argument("layer", type=click.Choice(["facilities", "demand", "areas", "boundary"]))
@click.argument("file", type=_FILE)
@click.option("--datum", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84",
              show_default=True, help="Datum of the file (AMap: gcj02, Baidu: bd09).")  # fmt: skip
@click.option("--layer", "source_layer", help="The layer inside a GeoPackage file.")
@click.option("--reason", default="", help="Why (kept in the history).")
@click.option("--replace", is_flag=True, help="Remove the features the file does not hold.")
@click.option("--group", help="Demand: the group of every row.")
@click.option("--weight", help="Demand: the column with people.")
@click.option("--level", help="Areas: the level of every area.")
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
def import_cmd(directory, layer, file, datum, source_layer, reason, replace, group, weight,
               level, as_json) -> None:  # fmt: skip
    """Load FILE into LAYER of the workspace, in one transaction (a bad file changes nothing)."""
    ws = open_workspace(directory)
    bar = tqdm(desc=f"writing {layer}", unit="row", file=sys.stderr, leave=False, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        with ws:
            summary = ws.import_file(
                layer, file, datum=datum, source_layer=source_layer, reason=reason,
                user=_user(), replace=replace, group=group, weight=weight, level=level,
                progress=progress,
            )  # fmt: skip
    except ServicemapError as exc:
        raise InputError(f"{exc}\nnothing was changed") from exc
    finally:
        bar.close()
    counts = {
        "version": summary.version,
        "added": len(summary.added),
        "changed": len(summary.changed),
        "removed": len(summary.removed),
        "unchanged": summary.unchanged,
    }
    if as_json:
        click.echo(json.dumps({"layer": layer, **counts}))
    elif summary.empty:
        click.echo(f"{layer}: nothing changed ({summary.unchanged} features as they were)")
    else:
        click.echo(
            f"{layer}: {counts['added']} added, {counts['changed']} changed, "
            f"{counts['removed']} removed, {counts['unchanged']} unchanged; "
            f"store version {summary.version}"
        )


@click.group("users")
def users_group() -> None:
    """Users of a workspace (viewer, editor, admin) and their API tokens."""


@users_group.command("add")
@click.argument("directory", type=_DIR)
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "editor", "admin"]), default="viewer",
              show_default=True)  # fmt: skip
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(directory, name, role, password_stdin) -> None:
    """Add user NAME (asks for the password twice, or reads it with --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    with open_workspace(directory) as ws:
        try:
            ws.store.add_user(name, password, role=role, by=_user())
        except (ServicemapError, ValueError) as exc:
            raise InputError(str(exc)) from exc
    click.echo(f"added {role} {name!r}")


@users_group.command("list")
@click.argument("directory", type=_DIR)
def users_list(directory) -> None:
    """List the users and their roles."""
    with open_workspace(directory) as ws:
        for u in ws.store.users():
            click.echo(f"{u.name}\t{u.role}\t{u.created_at}")


@users_group.command("token")
@click.argument("directory", type=_DIR)
@click.argument("name")
@click.option("--label", required=True, help="What the token is for.")
@click.option("--role", type=click.Choice(["viewer", "editor", "admin"]), default=None,
              help="Scope (default: the user's role; never above it).")  # fmt: skip
def users_token(directory, name, label, role) -> None:
    """Create an API token for user NAME; printed once, stored hashed."""
    with open_workspace(directory) as ws:
        try:
            token = ws.store.create_token(name, label=label, role=role)
        except (ServicemapError, KeyError, ValueError) as exc:
            raise InputError(str(exc)) from exc
    click.echo(token)


@click.command("history")
@click.argument("directory", type=_DIR)
@click.option("--facility", "facility_id", help="One facility's history (before and after).")
@click.option("--layer", default=None, help="Only this layer's changes.")
@click.option("--limit", type=int, default=20, show_default=True)
def history_cmd(directory, facility_id, layer, limit) -> None:
    """The change log (who, when, what, why), newest first; or one facility's history."""
    with open_workspace(directory) as ws:
        if facility_id:
            try:
                items = ws.facility_history(facility_id)
            except KeyError as exc:
                raise InputError(str(exc.args[0])) from exc
            click.echo(json.dumps(items, ensure_ascii=False, indent=2, default=str))
            return
        for c in ws.store.changes(layer=layer, limit=limit):
            click.echo(
                f"{c.version:>6} {c.at[:19]} {c.user:<16} {c.layer:<10} {c.action:<8} "
                f"{json.dumps(c.detail, ensure_ascii=False)}  {c.reason}"
            )


@click.command("rollback")
@click.argument("directory", type=_DIR)
@click.argument("layer")
@click.argument("version", type=int)
@click.option("--reason", default="", help="Why (kept in the history).")
def rollback_cmd(directory, layer, version, reason) -> None:
    """Make LAYER what it was at store VERSION (as new changes; history is kept)."""
    with open_workspace(directory) as ws:
        try:
            s = ws.rollback(layer, version, user=_user(), reason=reason)
        except (ServicemapError, KeyError) as exc:
            raise InputError(str(exc)) from exc
    click.echo(
        f"{layer}: {len(s.added)} added back, {len(s.changed)} changed back, "
        f"{len(s.removed)} removed; store version {s.version}"
    )


@click.command("backup")
@click.argument("directory", type=_DIR)
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def backup_cmd(directory, target) -> None:
    """Write every current layer of the workspace to a new GeoPackage TARGET.

    (``servicemap export`` is the planner's tables; this is the whole workspace, which
    ``servicemap import`` reads back layer by layer.)"""
    with open_workspace(directory) as ws:
        try:
            ws.export(target)
        except (ServicemapError, FileExistsError) as exc:
            raise InputError(str(exc)) from exc
    click.echo(f"wrote {target}")


workspace_commands = [init_cmd, import_cmd, users_group, history_cmd, rollback_cmd, backup_cmd]


def register(group: click.Group) -> None:
    """Add the workspace commands to the ``servicemap`` group."""
    for command in workspace_commands:
        group.add_command(command)
