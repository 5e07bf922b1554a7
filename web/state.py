"""What one app serves: its data, loaded once and lazily, and the answers built from it.

:class:`AppData` is created by ``create_app`` (cheaply: nothing is loaded then) and kept in
``app.extensions["servicemap"]``. The layers are loaded on the first request that needs it,
once per process, under a lock; coverage summaries are cached per scenario. Views call the
methods here, and these call ``geo``; nothing here knows about requests.

The layers come from a workspace (``WORKSPACE``: a folder, :class:`geo.Workspace`; the
shipped demo becomes one with ``Workspace.from_demo``), or, in tests and scripts, from a
``DEMO`` (a shipped demo's name or a :class:`geo.demo.Demo`). With a workspace,
:meth:`AppData.refresh` (run before every request: one ``SELECT max(version)``) compares
the store's version with the one the layers were read at, and when another process (or
worker) saved, drops everything read or computed from the old layers: every cache here is
that of one store version.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
from shapely.geometry import mapping

from geo import maps
from geo.coverage import CoverageSummary, coverage, coverage_summary
from geo.demo import Demo, datasets_dir, demo_network_path, load_demo
from geo.finder import (
    FacilityFinder,
    handoff_links,
    hours_in_words,
    local_now,
    open_intervals,
)
from geo.layers import FacilityType, load_registry
from geo.network import NetworkTravelTimes, TravelModes, load_network, load_travel_modes
from geo.privacy import gap_layout, publish_summary
from geo.store import Store, User
from geo.workspace import Workspace

EXTENSION = "servicemap"
NEW_ID_PREFIX = "NEW"
STRAIGHT, NETWORK = "straight", "network"


@dataclass(frozen=True)
class Scenario:
    """A coverage question: one facility type, a threshold, and what-if changes.

    ``threshold_m`` is used when distances are straight lines, ``threshold_s`` when a road
    network is loaded (travel time by the type's mode); the other is None. ``off`` are
    facility ids switched off; ``add`` are new sites as WGS84 (lon, lat).
    """

    facility_type: str
    _: KW_ONLY
    threshold_m: float | None = None
    threshold_s: float | None = None
    off: tuple[str, ...] = ()
    add: tuple[tuple[float, float], ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.off or self.add)

    @property
    def baseline(self) -> Scenario:
        """The same type and threshold without the what-if changes."""
        return replace(self, off=(), add=())


def _clean(value: Any) -> Any:
    """JSON-ready scalars: NaN -> None, numpy -> Python."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def facilities_with_changes(facilities: gpd.GeoDataFrame, scenario: Scenario) -> gpd.GeoDataFrame:
    """The facility layer of a what-if scenario: some switched off, new sites added.

    :func:`geo.siting.apply_changes` makes it: new sites get ids ``NEW1``, ``NEW2``, ...
    of the scenario's type, unknown (NaN) capacity.
    """
    from geo.siting import apply_changes

    return apply_changes(
        facilities, facility_type=scenario.facility_type, add=scenario.add, close=scenario.off
    )


class AppData:
    """The data one app serves, loaded on first use.

    Parameters
    ----------
    config : mapping
        The app's config (``DEMO``, ``REGISTRY``, ``NETWORK``, ``TILES*``, ``TIMEZONE``,
        ``PRIVACY_K``, ...).

    Every figure about people that leaves here goes through :func:`geo.privacy.
    publish_summary` (:meth:`published`): the app has no signed-in planners yet, so every
    visitor is on the public side.
    """

    #: what is computed from each layer (cached properties, then caches): dropped when a
    #: change of the store touched that layer
    _DEPENDS: Mapping[str, tuple[str, ...]] = {
        "facilities": ("finder", "types_present", "amenities", "_features", "_summaries"),
        "demand": ("_layouts", "_summaries"),
        "areas": ("_map_parts", "_summaries"),
        "boundary": ("_map_parts", "_summaries"),
        "users": ("_users",),
    }
    _CACHES = frozenset({"_features", "_summaries", "_layouts", "_map_parts"})

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self._lock = threading.RLock()
        self._version: int | None = None  # the store version the layers were read at
        self._frames: dict[str, gpd.GeoDataFrame] = {}  # the workspace's layers, as read
        self._links: dict[tuple[float, float, str], dict[str, str]] = {}
        self._features: dict[tuple[str, str, str], list[dict]] = {}
        self._map_parts: dict[tuple[str, str], maps.MapParts] = {}
        self._layouts: dict[str, gpd.GeoDataFrame] = {}
        self._pending: dict[tuple[str, Scenario], threading.Lock] = {}
        self._summaries: OrderedDict[tuple[str, Scenario], CoverageSummary] = OrderedDict()
        self.tiles = maps.tile_source(
            config.get("TILES") or "osm",
            url=config.get("TILES_URL") or None,
            datum=config.get("TILES_DATUM") or None,
            attribution=config.get("TILES_ATTRIBUTION") or None,
        )
        # a key-less source is checked now, so a bad setting fails at start-up
        self.tiles.urls(config.get("TILES_KEY") or None)

    # ------------------------------------------------------------------ loading
    @cached_property
    def workspace(self) -> Workspace | None:
        """The open workspace (``WORKSPACE``; PostGIS with ``DATABASE_URL``), or None when
        the app serves a ``DEMO`` directly (tests, scripts)."""
        path = self.config.get("WORKSPACE")
        if not path:
            return None
        return Workspace.open(str(path), database_url=self.config.get("DATABASE_URL") or None)

    @property
    def store(self) -> Store | None:
        ws = self.workspace
        return ws.store if ws is not None else None

    @property
    def version(self) -> int:
        """The store version the served layers were read at (0 without a workspace)."""
        return self._version or 0

    @property
    def is_demo(self) -> bool:
        """Whether the data is a shipped (synthetic) demo: pages then say so."""
        ws = self.workspace
        name = ws.config.get("demo") if ws is not None else self.config.get("DEMO")
        if isinstance(name, Demo):
            name = name.name
        return bool(name) and (datasets_dir() / str(name) / "dataset.json").is_file()

    def refresh(self) -> bool:
        """Read the layers again when the store's version moved (someone saved); True then.

        Cheap when nothing changed (one query). Only what depends on the layers the new
        changes touched is dropped (an edited station: the finder, the features and the
        coverage summaries, not the demand or the base map); a change of the users drops
        the users only.
        """
        ws = self.workspace
        if ws is None:
            return False
        now = ws.version
        if now == self._version:
            return False
        with self._lock:
            old = self._version
            if now == old:
                return False
            if old is None or now < old:
                touched = set(self._DEPENDS)
            else:
                # versions are consecutive (PostgreSQL may skip some): at most now - old
                touched = {c.layer for c in ws.store.changes(limit=now - old) if c.version > old}
            for layer in touched:
                self._frames.pop(layer, None)
                for name in self._DEPENDS.get(layer, ()):
                    if name in self._CACHES:
                        getattr(self, name).clear()
                    else:  # a cached property: computed again when next asked
                        self.__dict__.pop(name, None)
            if touched & {"facilities", "demand", "areas", "boundary"}:
                self.__dict__.pop("demo", None)
                self._pending.clear()
            self._version = now
        return True

    def after_fork(self) -> None:
        """In a forked worker (gunicorn ``post_fork``): the workspace opens its own
        database connections (see docs/store.md, "For a web server")."""
        if self.workspace is not None:
            self.workspace.after_fork()

    def close(self) -> None:
        """Close the workspace's store (its database connections), if it was opened."""
        ws = self.__dict__.get("workspace")
        if ws is not None:
            ws.close()

    @cached_property
    def demo(self) -> Demo:
        """The layers served: the workspace's (at :attr:`version`), or the ``DEMO``."""
        ws = self.workspace
        if ws is not None:
            with self._lock:
                if self._version is None:
                    self._version = ws.version
                for layer in ("facilities", "demand", "areas", "boundary"):
                    if layer not in self._frames:  # those changed since they were read
                        self._frames[layer] = ws.layer(layer)
                f = self._frames
                return Demo(ws.name, f["facilities"], f["demand"], f["areas"], f["boundary"])
        src = self.config.get("DEMO") or "beilun"
        return src if isinstance(src, Demo) else load_demo(str(src))

    def users(self) -> dict[str, User]:
        """The workspace's users by name (none without a workspace), read once per store
        version (adding a user or changing a role is a change of the store)."""
        return self._users

    @cached_property
    def _users(self) -> dict[str, User]:
        store = self.store
        return {u.name: u for u in store.users()} if store is not None else {}

    @cached_property
    def modes(self) -> TravelModes:
        """The travel modes (``TRAVEL_MODES``: a district's travel_modes.toml; the shipped one
        by default)."""
        return load_travel_modes(self.config.get("TRAVEL_MODES") or None)

    @cached_property
    def registry(self) -> dict[str, FacilityType]:
        """``REGISTRY``, else the workspace's registry, else the shipped one."""
        path = self.config.get("REGISTRY") or None
        if path is None and self.workspace is not None:
            path = self.workspace.config.get("registry") or None
        return load_registry(path, modes=self.modes)

    @cached_property
    def network_path(self) -> Path | None:
        """``NETWORK``, else the demo's ``datasets/<demo>/roads.osm*`` (also for a workspace
        built from a demo), else None."""
        if self.config.get("NETWORK"):
            return Path(str(self.config["NETWORK"]))
        if self.workspace is not None:
            demo = self.workspace.config.get("demo")
            return demo_network_path(str(demo)) if demo else None
        return demo_network_path(self.demo.name)

    @cached_property
    def network(self):
        """The road network every page measures on (None: straight lines)."""
        if self.network_path is None:
            return None
        return load_network(self.network_path, modes=self.modes)

    @property
    def measure(self) -> str:
        """How distances are measured: ``"network"`` when a road network is loaded."""
        return STRAIGHT if self.network is None else NETWORK

    @cached_property
    def finder(self) -> FacilityFinder:
        travel_time = self.config.get("TRAVEL_TIME")
        if travel_time is None and self.network is not None:
            mode = self.config.get("NETWORK_MODE") or "ebike"
            travel_time = NetworkTravelTimes(
                self.network, self.demo.facilities, self.modes.get(mode)
            )
        return FacilityFinder(
            self.demo.facilities,
            travel_time=travel_time,
            timezone=self.config.get("TIMEZONE", "Asia/Shanghai"),
        )

    def preload(self) -> AppData:
        """Read the data now, computing nothing (safe before a server forks its workers).

        Only files are read here. Analysis runs the KD-tree's OpenMP thread pool, which
        does not survive ``fork``: a worker forked after the parent had used it hangs on
        its first query. So a pre-forking server calls this in the parent and
        :meth:`warm` in each worker after the fork.
        """
        self.refresh()
        self.demo  # noqa: B018
        self._users  # noqa: B018
        self.registry  # noqa: B018
        self.network  # noqa: B018
        return self

    def warm(self) -> AppData:
        """Load and compute everything now (in each worker, so no request waits)."""
        self.preload()
        self.finder  # noqa: B018
        for key in self.types_present:
            self.published(self.default_scenario(key))
        for datum in {"wgs84", self.datum}:
            self.features(datum)
        return self

    @property
    def datum(self) -> str:
        """The datum everything is drawn in: the tiles'."""
        return self.tiles.datum

    @property
    def privacy_k(self) -> float:
        """``PRIVACY_K``, or the workspace's ``privacy_k`` when that is stricter."""
        k = float(self.config.get("PRIVACY_K", 10))
        if self.workspace is not None:
            k = max(k, float(self.workspace.privacy_k))
        return k

    # ------------------------------------------------------------------ facilities
    @cached_property
    def types_present(self) -> list[str]:
        """Registry keys in registry order, then any other type found in the data."""
        present = pd.unique(self.demo.facilities["type"].astype(str)).tolist()
        ordered = [k for k in self.registry if k in present]
        return ordered + [k for k in present if k not in self.registry]

    def type_info(self, lang: str) -> dict[str, dict[str, Any]]:
        out = {}
        for key in self.types_present:
            t = self.registry.get(key)
            out[key] = {
                "key": key,
                "label": (t.label_en if lang == "en" else t.label_zh) if t else key,
                "label_zh": t.label_zh if t else key,
                "label_en": t.label_en if t else key,
                "color": t.color if t else "#666666",
                "threshold_m": t.threshold_m if t else None,
                "thresholds_m": list(t.thresholds_m) if t else [],
                "threshold_s": t.threshold_s if t else None,
                "mode": t.mode if t else None,
            }
        return out

    @cached_property
    def amenities(self) -> list[str]:
        """Amenities present in the data, most common first."""
        counts: dict[str, int] = {}
        for items in self.demo.facilities["amenities"]:
            for a in items if isinstance(items, list) else []:
                counts[a] = counts.get(a, 0) + 1
        return sorted(counts, key=lambda a: (-counts[a], a))

    def features(self, datum: str = "wgs84", lang: str = "zh") -> list[dict]:
        """One GeoJSON feature per facility (without ``open_now``), cached per datum,
        language and local day.

        ``hours_text`` is the week's hours in words; ``hours_open`` the open periods from
        this local midnight for :data:`geo.finder.HORIZON_DAYS` days, as ``[start, end]``
        Unix seconds, from which a page (online or not) tells "closes in 25 min".
        """
        tz = self.config.get("TIMEZONE", "Asia/Shanghai")
        midnight = local_now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        key = (datum, lang, midnight.date().isoformat())
        if key not in self._features:
            fac = self.finder.facilities
            shown = maps.to_display(fac, datum)
            info = self.type_info(lang)
            zone = ZoneInfo(tz)
            hours_cache: dict[str, tuple[str, list[list[int]] | None]] = {}

            def hours_fields(expr: str) -> tuple[str, list[list[int]] | None]:
                if expr not in hours_cache:
                    spans = open_intervals(expr, midnight)
                    hours_cache[expr] = (
                        hours_in_words(expr, lang=lang, week_of=midnight),
                        None
                        if spans is None
                        else [
                            [
                                int(a.replace(tzinfo=zone).timestamp()),
                                int(b.replace(tzinfo=zone).timestamp()),
                            ]
                            for a, b in spans
                        ],
                    )
                return hours_cache[expr]

            feats = []
            for row, geom in zip(fac.itertuples(index=False), shown.geometry, strict=True):
                t = info.get(row.type, {})
                hours_text, hours_open = hours_fields(str(row.hours))
                props = {
                    "id": str(row.id),
                    "type": str(row.type),
                    "type_label": t.get("label", row.type),
                    "name": str(row.name),
                    "address": str(row.address),
                    "hours": str(row.hours),
                    "hours_text": hours_text,
                    "hours_open": hours_open,
                    "amenities": list(row.amenities) if isinstance(row.amenities, list) else [],
                    "capacity": _clean(row.capacity),
                    "level": str(row.level),
                    "contact": str(row.contact),
                    "updated_at": str(row.updated_at),
                    "links": self._handoff_links(row.geometry.x, row.geometry.y, str(row.name)),
                }
                feats.append(
                    {
                        "type": "Feature",
                        "id": str(row.id),
                        "geometry": {
                            "type": "Point",
                            "coordinates": [round(geom.x, 7), round(geom.y, 7)],
                        },
                        "properties": props,
                    }
                )
            with self._lock:
                for old in [k for k in self._features if k[2] != key[2]]:
                    del self._features[old]  # yesterday's hours
                self._features[key] = feats
        return self._features[key]

    def _handoff_links(self, lon: float, lat: float, name: str) -> dict[str, str]:
        """:func:`geo.finder.handoff_links`, kept across edits (most of a layer's features
        are the same after one is changed, and these are the slow part to build)."""
        key = (lon, lat, name)
        hit = self._links.get(key)
        if hit is None:
            if len(self._links) > 100_000:
                self._links.clear()
            hit = self._links[key] = handoff_links(lon, lat, name)
        return hit

    # ------------------------------------------------------------------ coverage
    def default_scenario(self, facility_type: str) -> Scenario:
        """The type's own threshold, in the unit of the way distances are measured."""
        t = self.registry.get(facility_type)
        if self.measure == NETWORK:
            return Scenario(facility_type, threshold_s=float(t.threshold_s or 900) if t else 900.0)
        return Scenario(facility_type, threshold_m=float(t.threshold_m) if t else 1000.0)

    def _cached(self, kind: str, scenario: Scenario, compute) -> CoverageSummary:
        """``compute()`` once per scenario: the last 128 kept; concurrent requests for the
        same scenario (the planner asks for its figures and its gaps at once) wait for the
        first instead of computing it again."""
        key = (kind, scenario)
        with self._lock:
            hit = self._summaries.get(key)
            if hit is not None:
                self._summaries.move_to_end(key)
                return hit
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            with self._lock:
                hit = self._summaries.get(key)
            if hit is not None:
                return hit
            out = compute()
            with self._lock:
                self._summaries[key] = out
                self._pending.pop(key, None)
                while len(self._summaries) > 128:
                    self._summaries.popitem(last=False)
        return out

    def summary(self, scenario: Scenario) -> CoverageSummary:
        """The exact coverage summary of a scenario (planner side only; cached)."""

        def compute() -> CoverageSummary:
            demo = self.demo
            fac = facilities_with_changes(demo.facilities, scenario)
            res = coverage(
                fac,
                demo.demand,
                facility_type=scenario.facility_type,
                threshold_m=scenario.threshold_m,
                threshold_s=scenario.threshold_s,
                network=self.network,
                registry=self.registry,
                modes=self.modes,
            )
            return coverage_summary(
                res, demo.areas, facilities=fac, gap_resolution=self.gap_resolution
            )

        return self._cached("exact", scenario, compute)

    @property
    def gap_resolution(self) -> int:
        return int(self.config.get("GAP_RESOLUTION", 8))

    def gap_layout(self, facility_type: str) -> gpd.GeoDataFrame:
        """The fixed cells a type's gaps are shown in (:func:`geo.privacy.gap_layout`)."""
        if facility_type not in self._layouts:
            t = self.registry.get(facility_type)
            dem = self.demo.demand
            if t is not None and "group" in dem.columns:
                dem = dem[dem["group"] == t.demand_group]
            layout = gap_layout(dem, resolution=self.gap_resolution, k=self.privacy_k)
            with self._lock:
                self._layouts[facility_type] = layout
        return self._layouts[facility_type]

    def published(self, scenario: Scenario) -> CoverageSummary:
        """The scenario's summary as it may be shown publicly (:mod:`geo.privacy`)."""

        def compute() -> CoverageSummary:
            return publish_summary(
                self.summary(scenario),
                baseline=self.summary(scenario.baseline),
                k=self.privacy_k,
                layout=self.gap_layout(scenario.facility_type),
            )

        return self._cached("published", scenario, compute)

    def gap_cells(self, scenario: Scenario) -> gpd.GeoDataFrame:
        """The scenario's shown gap cells (``h3``, ``people``, ``resolution``, hexagon)."""
        return self.published(scenario).gaps

    def gaps_geojson(self, scenario: Scenario, datum: str) -> dict[str, Any]:
        pub = self.published(scenario)
        shown = maps.to_display(pub.gaps, datum)
        cells = gpd.GeoDataFrame(
            {
                "id": shown["h3"].astype(str),
                "h3": shown["h3"].astype(str),
                "people": shown["people"].round(1),
                "resolution": shown["resolution"].astype(int),
                # people per km2: a merged (coarser) cell is as dark as its density
                "density_km2": [
                    round(float(w) / h3.cell_area(str(c), unit="km^2"), 1)
                    for c, w in zip(shown["h3"], shown["people"], strict=True)
                ],
            },
            geometry=shown.geometry.to_numpy(),
            crs=shown.crs,
        ).set_index("id")
        privacy = pub.extra["privacy"]
        return {
            **cells.to_geo_dict(na="drop", show_bbox=False, drop_id=False),
            "facility_type": scenario.facility_type,
            "datum": datum,
            "privacy_k": privacy["k"],
            "withheld_people": round(float(privacy["withheld_people"]), 1),
        }

    def coverage_json(
        self, scenario: Scenario, *, area_level: str | None, lang: str
    ) -> dict[str, Any]:
        """The JSON of ``/api/coverage`` for one type: the published summary's
        :meth:`~geo.coverage.CoverageSummary.to_dict`, with labels and names added."""
        t = self.registry.get(scenario.facility_type)
        body = self.published(scenario).to_dict(top=None)
        areas = self.demo.areas
        names_en = {}
        if "name_en" in areas.columns:
            names_en = dict(zip(areas["id"].astype(str), areas["name_en"], strict=True))
        body["areas"] = [
            {**a, "name_en": _clean(names_en.get(a["area_id"]))}
            for a in body["areas"]
            if not area_level or a["level"] == area_level
        ]
        names = dict(
            zip(
                self.demo.facilities["id"].astype(str),
                self.demo.facilities["name"].astype(str),
                strict=True,
            )
        )
        body["loads"] = [
            {"id": r["id"], "name": names.get(r["id"], r["id"]), "new": r["id"] not in names, **r}
            for r in body["loads"]
        ]
        label = (t.label_en if lang == "en" else t.label_zh) if t else scenario.facility_type
        # how it was measured, as a key the pages translate (``method`` keeps the details)
        if self.measure == NETWORK:
            method_key = "network"
        elif t is not None and t.rule == "route":
            method_key = "route"
        else:
            method_key = "straight"
        return {
            "facility_type": body.pop("facility_type"),
            "label": label,
            **body,
            "measure": self.measure,
            "method_key": method_key,
            "scenario": {
                "off": list(scenario.off),
                "add": [list(p) for p in scenario.add],
                "changed": scenario.changed,
            },
        }

    # ------------------------------------------------------------------ maps
    def map_parts(self, lang: str) -> maps.MapParts:
        """The base map (tiles, boundary, areas) of every page, cut for our templates."""
        key = (lang, self.tiles.key)
        if key not in self._map_parts:
            demo = self.demo
            m = maps.base_map(
                demo.boundary,
                demo.areas,
                tiles=self.tiles,
                tiles_key=self.config.get("TILES_KEY") or None,
                assets="/vendor",
                lang=lang,
            )
            parts = maps.map_parts(m)
            with self._lock:
                self._map_parts[key] = parts
        return self._map_parts[key]

    # ------------------------------------------------------------------ the drawn gap layer
    def gap_layer(self, scenario: Scenario) -> gpd.GeoDataFrame:
        """:meth:`gap_cells` as drawn: a merged cell as the union of the fine cells of the
        type's layout it took in (where its people are, the same for every scenario), clipped
        to the district boundary, with its class (:func:`geo.maps.gap_layer`)."""
        cells = self.gap_cells(scenario).rename(columns={"people": "weight"})
        return maps.gap_layer(
            cells,
            fine=self.gap_layout(scenario.facility_type).attrs.get("fine_cells", ()),
            boundary=self.demo.boundary,
            k=self.privacy_k,
        )

    def gap_layer_geojson(self, scenario: Scenario, datum: str) -> dict[str, Any]:
        """:meth:`gaps_geojson` with the drawn shapes, each cell's ``gap_class`` and the
        legend's ``classes`` (:func:`geo.maps.gap_classes`); cells drawn nowhere dropped."""
        body = self.gaps_geojson(scenario, datum)
        drawn = maps.to_display(self.gap_layer(scenario), datum)
        shapes = {
            str(h): (mapping(g), int(c))
            for h, g, c in zip(drawn["h3"], drawn.geometry, drawn["gap_class"], strict=True)
        }
        features = []
        for f in body["features"]:
            hit = shapes.get(str(f["properties"]["h3"]))
            if hit is not None:
                props = {**f["properties"], "gap_class": hit[1]}
                features.append({**f, "geometry": hit[0], "properties": props})
        return {**body, "features": features, "classes": maps.gap_classes(self.privacy_k)}
