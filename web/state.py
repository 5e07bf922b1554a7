"""What one app serves: its data, loaded once and lazily, and the answers built from it.

:class:`AppData` is created by ``create_app`` (cheaply: nothing is loaded then) and kept in
``app.extensions["servicemap"]``. The demo is loaded on the first request that needs it,
once per process, under a lock; coverage summaries are cached per scenario. Views call the
methods here, and these call ``geo``; nothing here knows about requests.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
from shapely.geometry import Point, mapping

from geo import maps
from geo.coverage import CoverageSummary, coverage, coverage_summary
from geo.demand import apply_privacy_floor
from geo.demo import Demo, datasets_dir, load_demo
from geo.finder import FacilityFinder, handoff_links
from geo.layers import FacilityType, load_registry
from geo.network import NetworkTravelTimes, load_network

EXTENSION = "servicemap"
NEW_ID_PREFIX = "NEW"


@dataclass(frozen=True)
class Scenario:
    """A coverage question: one facility type, a threshold, and what-if changes.

    ``off`` are facility ids switched off; ``add`` are new sites as WGS84 (lon, lat).
    """

    facility_type: str
    threshold_m: float
    off: tuple[str, ...] = ()
    add: tuple[tuple[float, float], ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.off or self.add)


def _clean(value: Any) -> Any:
    """JSON-ready scalars: NaN -> None, numpy -> Python."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def facilities_with_changes(facilities: gpd.GeoDataFrame, scenario: Scenario) -> gpd.GeoDataFrame:
    """The facility layer of a what-if scenario: some switched off, new sites added.

    New sites get ids ``NEW1``, ``NEW2``, ... of the scenario's type, unknown capacity.
    """
    out = facilities[~facilities["id"].astype(str).isin(scenario.off)]
    if scenario.add:
        new = gpd.GeoDataFrame(
            {
                "id": [f"{NEW_ID_PREFIX}{i + 1}" for i in range(len(scenario.add))],
                "type": scenario.facility_type,
                "name": [f"{NEW_ID_PREFIX}{i + 1}" for i in range(len(scenario.add))],
                "capacity": np.nan,
            },
            geometry=[Point(lon, lat) for lon, lat in scenario.add],
            crs="EPSG:4326",
        )
        out = pd.concat([out, new], ignore_index=True)
        out = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    return out


class AppData:
    """The data one app serves, loaded on first use.

    Parameters
    ----------
    config : mapping
        The app's config (``DEMO``, ``TILES*``, ``TIMEZONE``, ``PRIVACY_K``, ...).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self._lock = threading.RLock()
        self._demo: Demo | None = None
        self._finder: FacilityFinder | None = None
        self._registry: dict[str, FacilityType] | None = None
        self._features: dict[tuple[str, str], list[dict]] = {}
        self._map_parts: dict[tuple[str, str], maps.MapParts] = {}
        self._summaries: OrderedDict[Scenario, CoverageSummary] = OrderedDict()
        self.tiles = maps.tile_source(
            config.get("TILES") or "osm",
            url=config.get("TILES_URL") or None,
            datum=config.get("TILES_DATUM") or None,
            attribution=config.get("TILES_ATTRIBUTION") or None,
        )
        # a key-less source is checked now, so a bad setting fails at start-up
        self.tiles.urls(config.get("TILES_KEY") or None)

    # ------------------------------------------------------------------ loading
    @property
    def demo(self) -> Demo:
        if self._demo is None:
            with self._lock:
                if self._demo is None:
                    src = self.config.get("DEMO") or "beilun"
                    self._demo = src if isinstance(src, Demo) else load_demo(str(src))
        return self._demo

    @property
    def registry(self) -> dict[str, FacilityType]:
        if self._registry is None:
            self._registry = load_registry()
        return self._registry

    @property
    def finder(self) -> FacilityFinder:
        if self._finder is None:
            with self._lock:
                if self._finder is None:
                    travel_time = self.config.get("TRAVEL_TIME")
                    if travel_time is None:
                        travel_time = self._network_travel_time()
                    self._finder = FacilityFinder(
                        self.demo.facilities,
                        travel_time=travel_time,
                        timezone=self.config.get("TIMEZONE", "Asia/Shanghai"),
                    )
        return self._finder

    def network_path(self) -> Path | None:
        """``NETWORK``, else the demo's ``datasets/<demo>/roads.osm`` (or ``.osm.pbf``,
        ``.graphml``) when it exists, else None."""
        if self.config.get("NETWORK"):
            return Path(str(self.config["NETWORK"]))
        for name in ("roads.osm.pbf", "roads.osm", "roads.graphml"):
            p = datasets_dir() / self.demo.name / name
            if p.is_file():
                return p
        return None

    def _network_travel_time(self):
        """The finder's travel time on the road network, when there is one (loaded once)."""
        path = self.network_path()
        if path is None:
            return None
        net = load_network(path)
        mode = self.config.get("NETWORK_MODE") or "ebike"
        return NetworkTravelTimes(net, self.demo.facilities, mode)

    def warm(self) -> AppData:
        """Load everything now (a server calls it at start so no request waits)."""
        self.finder  # noqa: B018
        for key in self.types_present():
            self.summary(self.default_scenario(key))
        for datum in {"wgs84", self.datum}:
            self.features(datum)
        return self

    @property
    def datum(self) -> str:
        """The datum everything is drawn in: the tiles'."""
        return self.tiles.datum

    # ------------------------------------------------------------------ facilities
    def types_present(self) -> list[str]:
        """Registry keys in registry order, then any other type found in the data."""
        if getattr(self, "_types_present", None) is None:
            self._types_present = self._find_types()
        return self._types_present

    def _find_types(self) -> list[str]:
        present = pd.unique(self.demo.facilities["type"].astype(str)).tolist()
        ordered = [k for k in self.registry if k in present]
        return ordered + [k for k in present if k not in self.registry]

    def type_info(self, lang: str) -> dict[str, dict[str, Any]]:
        out = {}
        for key in self.types_present():
            t = self.registry.get(key)
            out[key] = {
                "key": key,
                "label": (t.label_en if lang == "en" else t.label_zh) if t else key,
                "label_zh": t.label_zh if t else key,
                "label_en": t.label_en if t else key,
                "color": t.color if t else "#666666",
                "threshold_m": t.threshold_m if t else None,
                "thresholds_m": list(t.thresholds_m) if t else [],
                "mode": t.mode if t else None,
            }
        return out

    def amenities(self) -> list[str]:
        """Amenities present in the data, most common first."""
        if getattr(self, "_amenities", None) is None:
            self._amenities = self._find_amenities()
        return self._amenities

    def _find_amenities(self) -> list[str]:
        counts: dict[str, int] = {}
        for items in self.demo.facilities["amenities"]:
            for a in items if isinstance(items, list) else []:
                counts[a] = counts.get(a, 0) + 1
        return sorted(counts, key=lambda a: (-counts[a], a))

    def features(self, datum: str = "wgs84", lang: str = "zh") -> list[dict]:
        """One GeoJSON feature per facility (without ``open_now``), cached per datum."""
        key = (datum, lang)
        if key not in self._features:
            fac = self.finder.facilities
            shown = maps.to_display(fac, datum)
            info = self.type_info(lang)
            feats = []
            for row, geom in zip(fac.itertuples(index=False), shown.geometry, strict=True):
                t = info.get(row.type, {})
                props = {
                    "id": str(row.id),
                    "type": str(row.type),
                    "type_label": t.get("label", row.type),
                    "name": str(row.name),
                    "address": str(row.address),
                    "hours": str(row.hours),
                    "amenities": list(row.amenities) if isinstance(row.amenities, list) else [],
                    "capacity": _clean(row.capacity),
                    "level": str(row.level),
                    "contact": str(row.contact),
                    "updated_at": str(row.updated_at),
                    "links": handoff_links(row.geometry.x, row.geometry.y, str(row.name)),
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
                self._features[key] = feats
        return self._features[key]

    # ------------------------------------------------------------------ coverage
    def default_scenario(self, facility_type: str) -> Scenario:
        t = self.registry.get(facility_type)
        threshold = float(t.threshold_m) if t else 1000.0
        return Scenario(facility_type, threshold)

    def summary(self, scenario: Scenario) -> CoverageSummary:
        """The coverage summary of a scenario (cached: the last 64 asked)."""
        with self._lock:
            hit = self._summaries.get(scenario)
            if hit is not None:
                self._summaries.move_to_end(scenario)
                return hit
        demo = self.demo
        fac = facilities_with_changes(demo.facilities, scenario)
        res = coverage(
            fac,
            demo.demand,
            facility_type=scenario.facility_type,
            threshold_m=scenario.threshold_m,
            registry=self.registry,
        )
        out = coverage_summary(
            res,
            demo.areas,
            facilities=fac,
            gap_resolution=int(self.config.get("GAP_RESOLUTION", 8)),
        )
        with self._lock:
            self._summaries[scenario] = out
            while len(self._summaries) > 64:
                self._summaries.popitem(last=False)
        return out

    def gap_cells(self, summary: CoverageSummary) -> gpd.GeoDataFrame:
        """The summary's gap cells with the privacy floor applied (``weight`` = people)."""
        gaps = summary.gaps
        frame = gaps.rename(columns={"people": "weight"})
        if "n" not in frame.columns:
            frame["n"] = 1
        frame = frame[["h3", "weight", "n", frame.geometry.name]]
        k = float(self.config.get("PRIVACY_K", 10))
        out = apply_privacy_floor(frame, k=k)
        return out.sort_values("weight", ascending=False).reset_index(drop=True)

    def gaps_geojson(self, summary: CoverageSummary, datum: str) -> dict[str, Any]:
        cells = self.gap_cells(summary)
        shown = maps.to_display(cells, datum)
        features = [
            {
                "type": "Feature",
                "id": str(h),
                "geometry": mapping(geom),
                "properties": {
                    "h3": str(h),
                    "people": round(float(w), 1),
                    "resolution": int(r),
                    # people per km2: a merged (coarser) cell is as dark as its density
                    "density_km2": round(float(w) / h3.cell_area(str(h), unit="km^2"), 1),
                },
            }
            for h, w, r, geom in zip(
                shown["h3"], shown["weight"], shown["resolution"], shown.geometry, strict=True
            )
        ]
        return {
            "type": "FeatureCollection",
            "datum": datum,
            "privacy_k": float(self.config.get("PRIVACY_K", 10)),
            "withheld_people": round(float(cells.attrs.get("withheld_people", 0.0)), 1),
            "features": features,
        }

    def summary_json(
        self, summary: CoverageSummary, scenario: Scenario, *, area_level: str | None, lang: str
    ) -> dict[str, Any]:
        """The JSON of ``/api/coverage`` for one type."""
        t = self.registry.get(scenario.facility_type)
        by_area = summary.by_area
        if area_level:
            by_area = by_area[by_area["level"] == area_level]
        names_en = {}
        if "name_en" in self.demo.areas.columns:
            names_en = dict(
                zip(self.demo.areas["id"].astype(str), self.demo.areas["name_en"], strict=True)
            )
        fac = self.demo.facilities.set_index(self.demo.facilities["id"].astype(str))
        loads = []
        for r in summary.loads.itertuples(index=False):
            fid = str(r.id)
            name = str(fac.at[fid, "name"]) if fid in fac.index else fid
            loads.append(
                {
                    "id": fid,
                    "name": name,
                    "new": fid not in fac.index,
                    "people_nearest": round(float(r.people_nearest), 1),
                    "people_covered": round(float(r.people_covered), 1),
                    "capacity": _clean(float(r.capacity)),
                    "load_ratio": _clean(
                        round(float(r.load_ratio), 3) if math.isfinite(r.load_ratio) else None
                    ),
                }
            )
        share = summary.covered_share
        return {
            "facility_type": scenario.facility_type,
            "label": (t.label_en if lang == "en" else t.label_zh) if t else scenario.facility_type,
            "threshold_m": scenario.threshold_m,
            "mode": summary.mode,
            "method": summary.method,
            "facilities": summary.n_facilities,
            "people_total": round(summary.people_total, 1),
            "people_covered": round(summary.people_covered, 1),
            "people_uncovered": round(summary.people_uncovered, 1),
            "covered_share": None if math.isnan(share) else round(share, 4),
            "scenario": {
                "off": list(scenario.off),
                "add": [list(p) for p in scenario.add],
                "changed": scenario.changed,
            },
            "areas": [
                {
                    "area_id": str(r.area_id),
                    "name": str(r.name),
                    "name_en": _clean(names_en.get(str(r.area_id))),
                    "level": str(r.level),
                    "people": round(float(r.people), 1),
                    "covered": round(float(r.covered), 1),
                    "uncovered": round(float(r.uncovered), 1),
                    "covered_share": _clean(
                        round(float(r.covered_share), 4) if math.isfinite(r.covered_share) else None
                    ),
                }
                for r in by_area.itertuples(index=False)
            ],
            "loads": loads,
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


def scenario_types(data: AppData, requested: Sequence[str] | None) -> list[str]:
    return list(requested) if requested else data.types_present()
