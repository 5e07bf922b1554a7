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

import json
import logging
import os
import tempfile
import tomllib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.demo import Demo
from geo.errors import FileNotFound, ServicemapError, ValidationError
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
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
        file = Path(path)
        if source_layer is not None:
            with tempfile.TemporaryDirectory(prefix="servicemap-import-") as tmp:
                one = _one_layer(file, source_layer, Path(tmp))
                return self.import_file(
                    layer, one, datum=datum, reason=reason, user=user, replace=replace,
                    group=group, weight=weight, level=level, progress=progress,
                )  # fmt: skip
        frame = self.load_file(layer, file, datum=datum, group=group, weight=weight, level=level)
        import hashlib

        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        return self.import_frame(
            layer,
            frame,
            reason=reason,
            user=user,
            replace=replace,
            detail={"file": file.name, "sha256": digest, "datum": datum},
            progress=progress,
        )

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


__all__ = ["CONFIG", "LAYERS", "STORE_FILE", "Workspace"]
