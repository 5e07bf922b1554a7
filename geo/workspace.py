"""Workspaces: one district's layers in a store, plus a small config file.

A workspace is a folder::

    DIR/workspace.toml   name, boundary file, registry, privacy k, tiles
    DIR/store.gpkg       the GeoPackage store (absent when the store is PostGIS)

Every layer enters through the same loaders as everywhere else
(:func:`geo.load_facilities`, :func:`geo.load_demand`, :func:`geo.load_areas`), and
every import is one transaction in the store's history. The shipped demo becomes a
workspace with :meth:`Workspace.from_demo`, so the demo and a real district run the
same code.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import tempfile
import tomllib
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.demo import Demo
from geo.errors import ConflictError, FileNotFound, ServicemapError, ValidationError
from geo.store import ChangeSummary, Store, open_store

log = logging.getLogger(__name__)

CONFIG = "workspace.toml"
STORE_FILE = "store.gpkg"
LAYERS = ("facilities", "demand", "areas", "boundary")
_SYSTEM_USER = "servicemap"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # a JSON string is a valid TOML basic string
    return json.dumps(str(value), ensure_ascii=False)


def _write_config(path: Path, config: Mapping[str, Any]) -> None:
    lines = ["# servicemap workspace (written by `servicemap init`; edit by hand if you like)"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in config.items() if v is not None]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def _empty_layer(layer: str) -> gpd.GeoDataFrame:
    from geo.demand import DEMAND_COLUMNS
    from geo.layers import FACILITY_COLUMNS

    names = {
        "facilities": [c for c in FACILITY_COLUMNS if c != "geometry"],
        "demand": list(DEMAND_COLUMNS[:-1]),
        "areas": ["id", "name", "name_en", "level"],
        "boundary": ["id", "name"],
    }[layer]
    floats = {"capacity", "weight", "route_pos_m"}
    frame = pd.DataFrame({c: pd.Series(dtype=float if c in floats else "str") for c in names})
    if "amenities" in frame:
        frame["amenities"] = frame["amenities"].astype(object)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs="EPSG:4326"))


def _copy(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = frame.copy(deep=True)
    for col in out.columns:
        if col != out.geometry.name and out[col].dtype == object:
            out[col] = out[col].map(lambda v: list(v) if isinstance(v, list) else v)
    return out


@dataclass
class Workspace:
    """One district's workspace: its config and its store.

    Attributes ``name``, ``facilities``, ``demand``, ``areas`` and ``boundary`` are those
    of :class:`geo.demo.Demo`, so whatever serves a demo serves a workspace. The layers
    are read from the store again whenever its :attr:`version` has moved (another
    process saved), else served from memory; each access returns a fresh copy.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> ws = Workspace.from_demo("beilun", folder.name)
    >>> ws.name, int((ws.facilities["type"] == "outdoor_station").sum())
    ('beilun', 44)
    >>> len(ws.snapshot(version=0).facilities), len(ws.snapshot().facilities)
    (0, 195)
    >>> ws.close(); folder.cleanup()
    """

    path: Path
    config: dict
    store: Store

    def __post_init__(self) -> None:
        self._cache: dict[str, tuple[int, gpd.GeoDataFrame]] = {}

    # -- creating and opening -----------------------------------------------------
    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str,
        boundary: str | os.PathLike[str] | None = None,
        database_url: str | None = None,
        registry: str | os.PathLike[str] | None = None,
        privacy_k: int = 10,
        tiles: str | None = None,
        title: str | None = None,
    ) -> Workspace:
        """Create a workspace in folder ``path`` (created if missing; must hold no workspace).

        Parameters
        ----------
        name : str
            The district's name, e.g. ``"北仑区"``.
        boundary : path, optional
            The district boundary (a polygon file read by :func:`geo.load_areas`);
            facility imports then refuse points outside it (wrong datum, swapped
            coordinates).
        database_url : str, optional
            A ``postgresql://`` URL: keep the layers in PostGIS instead of
            ``DIR/store.gpkg``. The URL is not written to the config (it may hold a
            password): give it again to :meth:`open`.
        registry : path, optional
            The district's facility-type registry (TOML); default the shipped one.
        privacy_k : int
            No figure about fewer than this many people is shown publicly.
        tiles : str, optional
            The base-map tile provider.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be the district's name, got {name!r}")
        if not isinstance(privacy_k, int) or privacy_k < 1:
            raise ValueError(f"privacy_k must be a positive integer, got {privacy_k!r}")
        root = Path(path)
        if (root / CONFIG).exists():
            raise ServicemapError(f"{root} already holds a workspace ({CONFIG}); open it instead")
        root.mkdir(parents=True, exist_ok=True)
        if registry is not None:
            from geo.layers import load_registry

            load_registry(registry)  # refuse a broken registry now, not at the first import
        bound = None
        if boundary is not None:
            from geo.layers import load_areas

            bound = load_areas(boundary, level="district")
        config: dict[str, Any] = {
            "name": name.strip(),
            "title": title,
            "store": "postgis" if database_url else STORE_FILE,
            "boundary": os.fspath(boundary) if boundary is not None else None,
            "registry": os.fspath(Path(registry).resolve()) if registry is not None else None,
            "privacy_k": privacy_k,
            "tiles": tiles,
        }
        store = open_store(database_url or root / STORE_FILE, create=True)
        if store.get_meta("workspace_id") is not None:
            store.close()
            raise ServicemapError(
                f"{store.location} already holds a workspace's layers; give a new database "
                "(one workspace per database)"
            )
        workspace_id = uuid.uuid4().hex
        config["workspace_id"] = workspace_id
        store.set_meta("workspace_id", workspace_id)
        ws = cls(root, config, store)
        if bound is not None:
            reason = f"boundary from {Path(os.fspath(boundary or '')).name}"
            ws.import_frame("boundary", bound, reason=reason, replace=True)
        _write_config(root / CONFIG, config)
        return ws

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, database_url: str | None = None) -> Workspace:
        """Open the workspace in folder ``path`` (``database_url`` for a PostGIS store)."""
        root = Path(path)
        file = root / CONFIG
        if not file.is_file():
            raise FileNotFound(
                f"{root} holds no workspace ({CONFIG} missing); create one with "
                f"`servicemap init {root} --name NAME`"
            )
        try:
            config = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"{file}: not valid TOML ({exc})") from exc
        where = config.get("store", STORE_FILE)
        if where == "postgis":
            if not database_url:
                raise ServicemapError(
                    f"{root} keeps its layers in PostGIS: give the database URL "
                    "(SERVICEMAP_DATABASE_URL)"
                )
            location: Any = database_url
        else:
            if database_url:
                raise ServicemapError(
                    f"{root} keeps its layers in {root / where}, not in a database: unset "
                    "SERVICEMAP_DATABASE_URL (or give no database_url)"
                )
            location = root / where
        store = open_store(location)
        found = store.get_meta("workspace_id")
        if found != config.get("workspace_id"):
            store.close()
            raise ServicemapError(
                f"{store.location} holds the layers of another workspace (id {found!r}, "
                f"{file} says {config.get('workspace_id')!r}); check the database URL"
            )
        return cls(root, config, store)

    @classmethod
    def from_demo(
        cls, demo: str, path: str | os.PathLike[str], *, database_url: str | None = None
    ) -> Workspace:
        """A workspace holding a shipped demo (built in ``path``, or brought up to date).

        The demo's layers go through the same import as a district's files; a second
        call on the same folder changes nothing unless the demo's files changed.
        """
        from geo.demo import datasets_dir, load_demo

        data = load_demo(demo)
        root = Path(path)
        if (root / CONFIG).is_file():
            ws = cls.open(root, database_url=database_url)
            if ws.config.get("demo") != demo:
                ws.close()
                raise ServicemapError(f"{root} holds a workspace that is not demo {demo!r}")
        else:
            manifest = datasets_dir() / demo / "dataset.json"
            title = json.loads(manifest.read_text(encoding="utf-8")).get("title")
            ws = cls.init(root, name=data.name, database_url=database_url, title=title)
            ws.config["demo"] = demo
            _write_config(root / CONFIG, ws.config)
        boundary = data.boundary.copy()
        if "id" not in boundary.columns:
            boundary.insert(0, "id", [str(i + 1) for i in range(len(boundary))])
        reason = f"the shipped demo {demo!r}"
        for layer, frame in (
            ("boundary", boundary),
            ("facilities", data.facilities),
            ("demand", data.demand),
            ("areas", data.areas),
        ):
            ws.import_frame(layer, frame, reason=reason, replace=True, detail={"demo": demo})
        return ws

    def after_fork(self) -> None:
        """Call in a forked child (gunicorn ``post_fork``) before using a workspace opened
        in the parent: the child opens its own database connections."""
        self._cache.clear()
        self.store.after_fork()

    def close(self) -> None:
        """Close the store (a GeoPackage is checkpointed: one file again)."""
        self._cache.clear()
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Workspace {self.name!r} at {self.path} ({self.store.kind}, version {self.version})>"
        )

    # -- what a Demo has ----------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def title(self) -> str:
        return self.config.get("title") or self.name

    @property
    def privacy_k(self) -> int:
        return int(self.config.get("privacy_k", 10))

    @property
    def tiles(self) -> str | None:
        return self.config.get("tiles")

    @property
    def version(self) -> int:
        """The store's version: changes whenever anything is saved (a cache key)."""
        return self.store.version

    @property
    def registry(self):
        from geo.layers import default_registry, load_registry

        path = self.config.get("registry")
        return load_registry(path) if path else default_registry()

    def layer(self, layer: str, *, version: int | None = None, as_of: Any = None):
        """A layer (a fresh copy); the current one, or as of a store version or a date."""
        if version is not None or as_of is not None:
            try:
                return self.store.read_layer(layer, version=version, as_of=as_of)
            except KeyError:
                return _empty_layer(layer)
        now = self.store.version
        hit = self._cache.get(layer)
        if hit is None or hit[0] != now:
            try:
                frame = self.store.read_layer(layer)
            except KeyError:
                frame = _empty_layer(layer)
            self._cache[layer] = hit = (now, frame)
        return _copy(hit[1])

    facilities = property(lambda self: self.layer("facilities"), doc="Facility layer.")
    demand = property(lambda self: self.layer("demand"), doc="Demand layer (planner-only).")
    areas = property(lambda self: self.layer("areas"), doc="Sub-districts and communities.")
    boundary = property(lambda self: self.layer("boundary"), doc="The district boundary.")

    def snapshot(self, *, version: int | None = None, as_of: Any = None) -> Demo:
        """Every layer at one moment, as a :class:`geo.demo.Demo` (for analysis "as of")."""
        if version is None and as_of is not None:
            version = self.store.version_at(as_of)
        if version is None:
            version = self.store.version
        frames = {name: self.layer(name, version=version) for name in LAYERS}
        return Demo(
            self.name, frames["facilities"], frames["demand"], frames["areas"], frames["boundary"]
        )

    # -- imports ------------------------------------------------------------------
    def import_file(
        self,
        layer: str,
        path: str | os.PathLike[str],
        *,
        datum: str = "wgs84",
        source_layer: str | None = None,
        reason: str = "",
        user: str = _SYSTEM_USER,
        replace: bool = False,
        group: str | None = None,
        weight: str | None = None,
        level: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ChangeSummary:
        """Load a file through geo's loader for ``layer`` and write it in one transaction.

        Parameters
        ----------
        layer : {"facilities", "demand", "areas", "boundary"}
        path : path-like
            Any file the layer's loader reads.
        datum : {"wgs84", "gcj02", "bd09"}
        source_layer : str, optional
            The layer inside a multi-layer file (GeoPackage); default its first.
        reason : str
            Why (kept in the history).
        user : str
            Who (kept in the history).
        replace : bool
            Remove the features the file does not hold (default: add and change only,
            so a sub-district's spreadsheet does not close the rest of the district).
        group, weight : str, optional
            For demand: passed to :func:`geo.load_demand`.
        level : str, optional
            For areas: passed to :func:`geo.load_areas`.

        Raises
        ------
        ValidationError, CRSError
            From the loader; the store is left untouched.
        """
        frame, digest = self._load_with_digest(
            layer, path, datum=datum, source_layer=source_layer, group=group, weight=weight,
            level=level,
        )  # fmt: skip
        return self.import_frame(
            layer,
            frame,
            reason=reason,
            user=user,
            replace=replace,
            detail={"file": Path(path).name, "sha256": digest, "datum": datum},
            progress=progress,
        )

    def _load_with_digest(
        self,
        layer: str,
        path: str | os.PathLike[str],
        *,
        datum: str,
        source_layer: str | None,
        group: str | None = None,
        weight: str | None = None,
        level: str | None = None,
    ) -> tuple[gpd.GeoDataFrame, str]:
        """The file through its layer's loader (one layer of it, when named), and the
        file's SHA-256 (what the history records, and what an apply checks)."""
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
        file = Path(path)
        if source_layer is None:
            frame = self.load_file(
                layer, file, datum=datum, group=group, weight=weight, level=level
            )
        else:
            with tempfile.TemporaryDirectory(prefix="servicemap-import-") as tmp:
                one = _one_layer(file, source_layer, Path(tmp))
                frame = self.load_file(
                    layer, one, datum=datum, group=group, weight=weight, level=level
                )
        return frame, _sha256(file)

    # -- previewing an import -------------------------------------------------------
    def preview_import(
        self,
        layer: str,
        path: str | os.PathLike[str],
        *,
        datum: str = "wgs84",
        source_layer: str | None = None,
        replace: bool = False,
        group: str | None = None,
        weight: str | None = None,
        level: str | None = None,
    ) -> ImportPreview:
        """What :meth:`import_file` would do with this file, without writing anything.

        The file goes through the same loader and checks. A file the loader refuses
        gives a preview whose ``rejected`` lists every problem (the row and field each
        names, and why); nothing of such a file can be applied: rows with problems are
        never dropped silently. Otherwise the preview lists the features ``added``,
        ``moved`` (geodesic metres), ``changed`` (field by field, before and after) and,
        with ``replace``, ``removed``. Give it to :meth:`apply_import` to write exactly
        that, in one transaction.
        """
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
        file = Path(path)
        options = {"datum": datum, "source_layer": source_layer, "replace": bool(replace),
                   "group": group, "weight": weight, "level": level}  # fmt: skip
        base = self.store.layer_version(layer)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                frame, digest = self._load_with_digest(
                    layer, file, datum=datum, source_layer=source_layer, group=group,
                    weight=weight, level=level,
                )  # fmt: skip
                self.store._check_frame(layer, frame)  # duplicate ids the loader let pass
            except ServicemapError as exc:
                problems = exc.problems if isinstance(exc, ValidationError) else [str(exc)]
                return ImportPreview(
                    layer, file.name, _sha256(file) if file.is_file() else "", options, base,
                    rejected=[_rejected(p) for p in problems], error=str(exc),
                    warnings=_texts(caught),
                )  # fmt: skip
        plan = self.store.plan_layer(layer, frame, replace=bool(replace))
        diff = _diff(self.layer(layer), frame, plan)
        return ImportPreview(
            layer, file.name, digest, options, base, warnings=_texts(caught), **diff
        )

    def apply_import(
        self,
        preview: ImportPreview,
        path: str | os.PathLike[str],
        *,
        user: str,
        reason: str = "",
    ) -> ChangeSummary:
        """Write what ``preview`` showed, in one transaction recorded in the history.

        ``path`` must be the same file (its SHA-256 is checked), and the layer must not
        have changed since the preview; the file is loaded again and must give the same
        changes.

        Raises
        ------
        ValidationError
            When the preview rejected rows (nothing of such a file is applied), or the
            file is not the one previewed.
        ConflictError
            When the layer changed since the preview (someone saved or imported in
            between), checked again inside the write's transaction. Nothing is written.
        """
        if not preview.ok:
            raise ValidationError(
                f"{preview.file}: the preview rejected {len(preview.rejected)} rows; "
                "nothing of it is applied: fix the file and upload it again",
                [f"{r['where']}: {r['reason']}" if r["where"] else r["reason"]
                 for r in preview.rejected],
            )  # fmt: skip
        file = Path(path)
        if _sha256(file) != preview.sha256:
            raise ValidationError(
                f"{file.name}: not the file previewed as {preview.file!r} (SHA-256 "
                "differs); preview it again"
            )
        found = self.store.layer_version(preview.layer)
        if found != preview.base_version:
            raise ConflictError(
                f"layer {preview.layer!r} changed since the preview (version "
                f"{preview.base_version}, now {found}); nothing was written: preview again",
                expected_version=preview.base_version,
                current_version=found,
            )
        o = preview.options
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the preview has them (its .warnings)
            frame, digest = self._load_with_digest(
                preview.layer, file, datum=o["datum"], source_layer=o.get("source_layer"),
                group=o.get("group"), weight=o.get("weight"), level=o.get("level"),
            )  # fmt: skip
        # the changes' fingerprint only: the preview's detail (and reading the whole
        # current layer for it) is not needed to check that they are the same
        plan = self.store.plan_layer(preview.layer, frame, replace=bool(o["replace"]))
        if _plan_digest(plan) != preview.digest:
            raise ConflictError(
                f"{preview.file}: the import would no longer do what was previewed (the "
                "registry or the boundary changed?); nothing was written: preview again",
                expected_version=preview.base_version,
                current_version=found,
            )
        return self.store.write_layer(
            preview.layer,
            frame,
            user=user,
            reason=reason,
            replace=bool(o["replace"]),
            detail={"file": preview.file, "sha256": digest, "datum": o["datum"],
                    "previewed": True},
            expected_version=preview.base_version,
        )  # fmt: skip

    def load_file(
        self,
        layer: str,
        path: str | os.PathLike[str],
        *,
        datum: str = "wgs84",
        group: str | None = None,
        weight: str | None = None,
        level: str | None = None,
    ) -> gpd.GeoDataFrame:
        """Load and validate a file for ``layer`` with geo's loader, writing nothing.

        Facilities are checked against the workspace's registry and boundary (points
        outside the district are refused: a wrong datum or swapped coordinates). What
        :meth:`import_file` would write; an upload preview compares it with the layer.
        """
        from geo.demand import load_demand
        from geo.layers import load_areas, load_facilities

        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
        file = Path(path)
        if layer == "facilities":
            bound = self.boundary
            area = bound if len(bound) else None
            return load_facilities(
                file, datum=datum, registry=self.registry, area=area,
                area_name=self.name if area is not None else None,
            )  # fmt: skip
        if layer == "demand":
            return load_demand(file, datum=datum, group=group, weight=weight)
        return load_areas(
            file, datum=datum, level=level or ("district" if layer == "boundary" else None)
        )

    def import_frame(
        self,
        layer: str,
        frame: gpd.GeoDataFrame,
        *,
        reason: str = "",
        user: str = _SYSTEM_USER,
        replace: bool = False,
        detail: Mapping[str, Any] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ChangeSummary:
        """Write an already-validated frame (from geo's loaders) as ``layer``."""
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
        return self.store.write_layer(
            layer, frame, user=user, reason=reason, replace=replace, detail=detail,
            progress=progress,
        )  # fmt: skip

    # -- editing facilities -------------------------------------------------------
    def get_facility(self, facility_id: str) -> tuple[dict, int]:
        """A facility as a dict and its version (give it back as ``expected_version``)."""
        return self.store.get_feature("facilities", facility_id)

    def _validated(self, record: Mapping[str, Any]) -> dict:
        from geo.layers import validate_facilities

        record = dict(record)
        geometry = record.pop("geometry", None)
        frame = gpd.GeoDataFrame(
            {k: [v] for k, v in record.items()}, geometry=[geometry], crs="EPSG:4326"
        )
        bound = self.boundary
        out = validate_facilities(
            frame, registry=self.registry, source=f"facility {record.get('id')!r}",
            area=bound if len(bound) else None,
            area_name=self.name if len(bound) else None,
        )  # fmt: skip
        return out.iloc[0].to_dict()

    def update_facility(
        self,
        facility_id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int,
        user: str,
        reason: str = "",
    ) -> int:
        """Change some fields of a facility (validated as on import); the new version.

        Raises
        ------
        geo.errors.ConflictError
            When it was saved by someone else since ``expected_version``; carries both
            versions and both records. Nothing is written.
        """
        if "id" in changes and str(changes["id"]) != str(facility_id):
            raise ValidationError(
                f"a facility's id cannot change ({facility_id!r} -> {changes['id']!r})"
            )
        current, _ = self.get_facility(facility_id)
        record = self._validated({**current, **changes})
        return self.store.save_feature(
            "facilities", record, expected_version=expected_version, user=user, reason=reason
        )

    def add_facility(self, record: Mapping[str, Any], *, user: str, reason: str = "") -> int:
        """Add a new facility (validated as on import); the new version."""
        return self.store.save_feature(
            "facilities", self._validated(record), expected_version=None, user=user, reason=reason
        )

    def remove_facility(
        self, facility_id: str, *, expected_version: int, user: str, reason: str = ""
    ) -> int:
        """Remove (close) a facility; it stays in the history. The new version."""
        return self.store.remove_feature(
            "facilities", facility_id, expected_version=expected_version, user=user, reason=reason
        )

    def facility_history(self, facility_id: str) -> list[dict]:
        """Every change of one facility, oldest first (see :meth:`Store.feature_history`)."""
        return self.store.feature_history("facilities", facility_id)

    def rollback(self, layer: str, version: int, *, user: str, reason: str = "") -> ChangeSummary:
        """Make ``layer`` what it was at ``version``, as new changes in the history."""
        return self.store.rollback(layer, version, user=user, reason=reason)

    # -- export -------------------------------------------------------------------
    def export(self, path: str | os.PathLike[str]) -> Path:
        """Write every current layer to a new GeoPackage at ``path`` (a servicemap store
        QGIS opens too); :meth:`restore` reads it back into any workspace."""
        target = Path(path)
        if target.exists():
            raise FileExistsError(f"{target} exists; give a new file name")
        out = open_store(target, create=True)
        try:
            for layer in self.store.layers():
                out.write_layer(
                    layer, self.store.read_layer(layer), user=_SYSTEM_USER,
                    reason=f"export of {self.name!r} at version {self.version}", replace=True,
                )  # fmt: skip
        finally:
            out.close()
        return target

    def restore(
        self, path: str | os.PathLike[str], *, user: str, reason: str = ""
    ) -> list[ChangeSummary]:
        """Make every layer what an :meth:`export` file holds (one change per layer)."""
        source = open_store(path)
        try:
            return [
                self.store.write_layer(
                    layer,
                    source.read_layer(layer),
                    user=user,
                    replace=True,
                    reason=reason or f"restore from {Path(path).name}",
                    action="restore",
                )  # fmt: skip
                for layer in source.layers()
            ]
        finally:
            source.close()


@dataclass(frozen=True)
class ImportPreview:
    """What importing one file would do (:meth:`Workspace.preview_import`); nothing written.

    Each list holds one dict per feature: ``added`` and ``removed`` (``id``, ``lon``,
    ``lat`` and, where the layer has them, ``name``, ``type``, ``group``), ``moved``
    (also ``from`` and ``to`` as ``[lon, lat]`` and ``distance_m``, geodesic),
    ``changed`` (also ``fields``: ``[{"field", "before", "after"}]``) and ``rejected``
    (``where``, e.g. ``"row 4"`` or ``""`` for the whole file, ``field``, ``reason``).
    A feature both moved and changed is in both lists. Coordinates are WGS84; a
    polygon's are its centroid's. ``digest`` fingerprints the changes, so an apply
    can check it writes what was shown; ``base_version`` is the layer's version then.
    ``warnings`` are the loader's (a file read as GBK, polygons repaired, ...).
    """

    layer: str
    file: str
    sha256: str
    options: dict
    base_version: int
    added: list[dict] = field(default_factory=list)
    moved: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    unchanged: int = 0
    digest: str = ""
    counts: dict = field(default_factory=dict)
    error: str = ""
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.counts:
            counts = {k: len(getattr(self, k)) for k in _PREVIEW_LISTS}
            object.__setattr__(self, "counts", {**counts, "unchanged": self.unchanged})

    @property
    def ok(self) -> bool:
        """No row rejected: the file can be applied."""
        return not self.counts.get("rejected") and not self.error

    @property
    def empty(self) -> bool:
        """Applying it would change nothing."""
        return not any(self.counts.get(k) for k in ("added", "moved", "changed", "removed"))

    def to_json(self, limit: int | None = None) -> dict:
        """A JSON-ready dict; ``limit`` keeps at most that many items of each list (the
        ``counts`` stay whole; :meth:`Workspace.apply_import` still takes it)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in _PREVIEW_LISTS:
            out[k] = copy.deepcopy(out[k][:limit] if limit is not None else out[k])
        out["options"], out["counts"] = dict(self.options), dict(self.counts)
        out["warnings"] = list(self.warnings)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImportPreview:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


_PREVIEW_LISTS = ("added", "moved", "changed", "removed", "rejected")
_LABELS = ("name", "type", "group")
_WHERE = re.compile(
    r"^(?P<where>(?:(?:row|feature|record) \d+)(?: and (?:row|feature|record) \d+)*)?"
    r"(?:, )?(?:field (?P<field>'[^']*'(?:/'[^']*')*))?: (?P<reason>.*)$",
    re.S,
)


def _rejected(problem: str) -> dict:
    """One loader problem (``"row 4, field 'lon': value 'x' is not a number"``) as
    ``{"where", "field", "reason"}``; a problem about the whole file has no where."""
    m = _WHERE.match(problem)
    if m is None or not (m.group("where") or m.group("field")):
        return {"where": "", "field": "", "reason": problem}
    fields = re.findall(r"'([^']*)'", m.group("field") or "")
    return {"where": m.group("where") or "", "field": "/".join(fields), "reason": m.group("reason")}


def _texts(caught: list[warnings.WarningMessage]) -> list[str]:
    return list(dict.fromkeys(str(w.message) for w in caught))


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """A cell as a comparable, JSON-ready value (missing -> None, numpy -> Python)."""
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _values(frame: gpd.GeoDataFrame, name: str, rows: np.ndarray) -> pd.Series:
    """A column's values at ``rows``, on a RangeIndex (all None when the frame lacks it)."""
    if name not in frame.columns:
        return pd.Series([None] * len(rows), dtype=object)
    return frame[name].iloc[rows].reset_index(drop=True)


def _differ(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Where two columns' values differ (missing equals missing), vectorised by pandas
    (Arrow strings stay in Arrow); Python equality per element where the kinds differ."""
    missing = a.isna().to_numpy(dtype=bool) & b.isna().to_numpy(dtype=bool)
    try:
        ne = a != b
        unequal = ne.fillna(True).to_numpy(dtype=bool)
    except (TypeError, ValueError):
        pairs = zip(a.to_numpy(dtype=object), b.to_numpy(dtype=object), strict=True)
        unequal = np.fromiter((bool(x != y) for x, y in pairs), dtype=bool, count=len(a))
    return unequal & ~missing


def _moved(cur: np.ndarray, new: np.ndarray, cur_xy: np.ndarray, new_xy: np.ndarray):
    """Where two geometry arrays differ as the store compares them (ISO WKB); two 2-D
    points by their coordinates, which is the same and much faster."""
    import shapely

    if not len(cur):
        return np.zeros(0, dtype=np.intp)
    flat = (
        (shapely.get_type_id(cur) == 0)
        & (shapely.get_type_id(new) == 0)
        & ~shapely.has_z(cur)
        & ~shapely.has_z(new)
    )
    same_xy = (cur_xy == new_xy) | (np.isnan(cur_xy) & np.isnan(new_xy))
    differ = ~same_xy.all(axis=1)
    other = np.flatnonzero(~flat)
    if len(other):
        differ[other] = shapely.to_wkb(cur[other], flavor="iso") != shapely.to_wkb(
            new[other], flavor="iso"
        )
    return np.flatnonzero(differ)


def _where(geoms: np.ndarray) -> np.ndarray:
    """(lon, lat) of each geometry: a point's own, another geometry's centroid."""
    import shapely

    out = np.full((len(geoms), 2), np.nan)
    if not len(geoms):
        return out
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = np.asarray(geoms[ok], dtype=object)
    other = shapely.get_type_id(points) != 0
    if other.any():
        points = points.copy()
        points[other] = shapely.centroid(points[other])
    out[ok, 0], out[ok, 1] = shapely.get_x(points), shapely.get_y(points)
    return out


def _items(frame: gpd.GeoDataFrame, rows: np.ndarray, lonlat: np.ndarray) -> list[dict]:
    """One dict per feature at ``rows``: id, the label columns the layer has, lon, lat."""
    rows = np.asarray(rows, dtype=np.intp)
    ids = frame["id"].astype(str).to_numpy(dtype=object)[rows].tolist()
    labels = {n: frame[n].to_numpy(dtype=object)[rows].tolist() for n in _LABELS if n in frame}
    xy = lonlat[rows]
    lon = [None if v != v else v for v in xy[:, 0].tolist()]
    lat = [None if v != v else v for v in xy[:, 1].tolist()]
    out = []
    for j, fid in enumerate(ids):
        item: dict[str, Any] = {"id": fid}
        for name, values in labels.items():
            item[name] = _plain(values[j])
        item["lon"], item["lat"] = lon[j], lat[j]
        out.append(item)
    return out


def _diff(current: gpd.GeoDataFrame, new: gpd.GeoDataFrame, plan: ChangeSummary) -> dict:
    """What writing ``new`` over ``current`` changes, for people to read: ``plan`` (the
    store's own decision, :meth:`Store.plan_layer`) says which features are added,
    changed and removed; this adds where each one is, how far the moved ones move, and
    the fields that change, before and after (a column the file lacks is written
    empty). A feature the store would rewrite with no field or place that reads
    differently (a number stored as text, say) is listed as changed with no fields."""

    from geo._metric import geodesic_m

    cur_ids = current["id"].astype(str).to_numpy(dtype=object)
    new_ids = new["id"].astype(str).to_numpy(dtype=object)
    cur_index = pd.Index(cur_ids, dtype=object)  # hashed as Python str (no Arrow round trip)
    new_index = pd.Index(new_ids, dtype=object)
    fresh = np.sort(new_index.get_indexer(pd.Index(plan.added, dtype=object)))
    both = np.sort(new_index.get_indexer(pd.Index(plan.changed, dtype=object)))
    old = cur_index.get_indexer(pd.Index(new_ids[both], dtype=object))
    gone = np.sort(cur_index.get_indexer(pd.Index(plan.removed, dtype=object)))
    cur_where, new_where = _where(current.geometry.to_numpy()), _where(new.geometry.to_numpy())

    names = [c for c in current.columns if c not in ("id", current.geometry.name)]
    names += [c for c in new.columns if c not in ("id", new.geometry.name, *names)]
    fields: dict[int, list[dict]] = {k: [] for k in range(len(both))}
    for name in names:
        before, after = _values(current, name, old), _values(new, name, both)
        for k in np.flatnonzero(_differ(before, after)).tolist():
            fields[k].append(
                {"field": name, "before": _plain(before.iloc[k]), "after": _plain(after.iloc[k])}
            )
    shifted = _moved(
        current.geometry.to_numpy()[old], new.geometry.to_numpy()[both],
        cur_where[old], new_where[both],
    )  # fmt: skip
    metres = geodesic_m(cur_where[old[shifted]], new_where[both[shifted]])

    added = _items(new, fresh, new_where)
    removed = _items(current, gone, cur_where)
    moved = _items(new, both[shifted], new_where)
    for item, j, m in zip(moved, shifted.tolist(), metres.tolist(), strict=True):
        item["from"] = [_plain(v) for v in cur_where[old[j]]]
        item["to"] = [_plain(v) for v in new_where[both[j]]]
        item["distance_m"] = None if m != m else round(m, 2)
    # changed: those with a field that differs, and those that neither move nor differ
    moving = set(shifted.tolist())
    keys = sorted(k for k, f in fields.items() if f or k not in moving)
    changed = _items(new, both[np.asarray(keys, dtype=np.intp)], new_where)
    for item, k in zip(changed, keys, strict=True):
        item["fields"] = fields[k]
    return {
        "added": added,
        "moved": moved,
        "changed": changed,
        "removed": removed,
        "unchanged": plan.unchanged,
        "digest": _plan_digest(plan),
    }


def _plan_digest(plan: ChangeSummary) -> str:
    """A fingerprint of what a write changes: the ids added, changed and removed."""
    summary = {
        "added": sorted(plan.added),
        "changed": sorted(plan.changed),
        "removed": sorted(plan.removed),
    }
    return hashlib.sha256(json.dumps(summary, ensure_ascii=False).encode()).hexdigest()


def _one_layer(file: Path, layer: str, tmp: Path) -> Path:
    """Copy one layer of a multi-layer file into its own GeoPackage for the loaders."""
    import pyogrio

    names = [str(n) for n in pyogrio.list_layers(file)[:, 0]]
    if layer not in names:
        raise ValidationError(f"{file}: no layer {layer!r}; it has {', '.join(names)}")
    frame = pyogrio.read_dataframe(file, layer=layer)
    out = tmp / f"{file.stem}-{layer}.gpkg"
    pyogrio.write_dataframe(frame, out, layer=layer)
    return out


__all__ = ["CONFIG", "LAYERS", "STORE_FILE", "ImportPreview", "Workspace"]
