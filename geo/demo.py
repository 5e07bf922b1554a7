"""Shipped demo datasets (the Beilun District demo, and any other under ``datasets/``).

A demo is a folder ``<datasets>/<name>/`` holding a facility file, demand files, area
files and a district boundary. Its ``dataset.json`` manifest (written by the folder's
``build.py``) says which file is which layer and in which datum, so nothing in this
module is specific to one district.

The datasets folder is ``$SERVICEMAP_DATASETS`` when set, else ``datasets/`` at the root
of the repository.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.errors import FileNotFound, ValidationError

log = logging.getLogger(__name__)

DATASETS_ENV = "SERVICEMAP_DATASETS"
MANIFEST = "dataset.json"


@dataclass(frozen=True)
class Demo:
    """One demo dataset, every layer in EPSG:4326.

    Attributes
    ----------
    name : str
        The demo's name (its folder under the datasets folder).
    facilities : geopandas.GeoDataFrame
        All facility types in one frame (columns of ``docs/data-model.md``).
    demand : geopandas.GeoDataFrame
        All demand layers concatenated (groups ``all_workers``, ``female_nursing``,
        ``outdoor``, ``truck_drivers`` for Beilun).
    areas : geopandas.GeoDataFrame
        Sub-districts and industrial communities, told apart by ``level``.
    boundary : geopandas.GeoDataFrame
        The district boundary (one row).
    """

    name: str
    facilities: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    boundary: gpd.GeoDataFrame


def datasets_dir() -> Path:
    """The folder holding the demo datasets: ``$SERVICEMAP_DATASETS`` or ``<repo>/datasets``."""
    env = os.environ.get(DATASETS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[1] / "datasets"


def _is_demo(folder: Path) -> bool:
    return folder.is_dir() and ((folder / "build.py").is_file() or (folder / MANIFEST).is_file())


def available_demos() -> list[str]:
    """Names of the demos in :func:`datasets_dir`, sorted.

    Examples
    --------
    >>> "beilun" in available_demos()
    True
    """
    root = datasets_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if _is_demo(p))


def _layout(folder: Path) -> Mapping[str, Any]:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise FileNotFound(
            f"demo folder {folder} has no {MANIFEST}; build it first: python {folder / 'build.py'}"
        )
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{manifest}: not valid JSON ({exc}); rebuild the demo") from exc


def _concat(frames: list[gpd.GeoDataFrame], columns: tuple[str, ...] | None = None):
    frames = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    out = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    if columns is not None:
        out = out[[c for c in columns if c in out.columns]]
    return out.reset_index(drop=True)


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, folder: str) -> Demo:
    from geo.demand import DEMAND_COLUMNS, load_demand
    from geo.layers import load_areas, load_facilities

    root = Path(folder)
    layout = _layout(root)
    missing = [
        spec["path"] for spec in layout.get("facilities", []) if not (root / spec["path"]).is_file()
    ]
    if missing or not layout.get("facilities"):
        hint = (
            f"build it first: python {root / 'build.py'}"
            if (root / "build.py").is_file()
            else "add the file"
        )
        raise FileNotFound(f"demo {name!r} in {root} has no {', '.join(missing)}; {hint}")

    def _present(specs):
        out = []
        for spec in specs:
            if (root / spec["path"]).is_file():
                out.append(spec)
            else:
                log.info("demo %r: %s not present, skipped", name, spec["path"])
        return out

    facilities = _concat(
        [
            load_facilities(root / s["path"], datum=s.get("datum", "wgs84"))
            for s in layout["facilities"]
        ]
    )
    demand_frames = [
        load_demand(
            root / s["path"],
            datum=s.get("datum", "wgs84"),
            group=s.get("group"),
            weight=s.get("weight"),
        )
        for s in _present(layout.get("demand", []))
    ]
    demand = _concat(demand_frames, DEMAND_COLUMNS) if demand_frames else _empty_demand()
    if demand["id"].duplicated().any():
        # ids are unique within a file; make them unique across files too
        stems = [Path(s["path"]).stem for s in _present(layout.get("demand", []))]
        prefix = [stem for stem, f in zip(stems, demand_frames, strict=True) for _ in range(len(f))]
        demand["id"] = [f"{p}:{i}" for p, i in zip(prefix, demand["id"], strict=True)]
    area_frames = [
        load_areas(root / s["path"], level=s.get("level"))
        for s in _present(layout.get("areas", []))
    ]
    areas = _concat(area_frames) if area_frames else _empty_areas()
    boundary_path = root / layout.get("boundary", "boundary.geojson")
    if boundary_path.is_file():
        from geo.layers import load_boundary

        boundary = load_boundary(boundary_path)
    elif len(areas):
        boundary = gpd.GeoDataFrame({"name": [name]}, geometry=[areas.union_all()], crs="EPSG:4326")
    else:
        boundary = gpd.GeoDataFrame({"name": []}, geometry=[], crs="EPSG:4326")
    return Demo(name, facilities, demand, areas, boundary)


def _empty_demand() -> gpd.GeoDataFrame:
    from geo.demand import DEMAND_COLUMNS

    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in DEMAND_COLUMNS[:-1]})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs="EPSG:4326"))


def _empty_areas() -> gpd.GeoDataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in ("id", "name", "name_en", "level")})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs="EPSG:4326"))


def _copy(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A deep copy, down to the lists held in object columns (facility amenities)."""
    out = frame.copy(deep=True)
    for col in out.columns:
        if col != out.geometry.name and out[col].dtype == object:
            out[col] = out[col].map(lambda v: list(v) if isinstance(v, list) else v)
    return out


def load_demo(name: str = "beilun") -> Demo:
    """Load a shipped demo dataset, with every layer converted to WGS84.

    Loaded once per process and name; each call returns fresh copies, so a caller can
    change its frames without touching anyone else's.

    Parameters
    ----------
    name : str
        The demo's folder name under :func:`datasets_dir`.

    Returns
    -------
    Demo

    Raises
    ------
    ValueError
        For an unknown name; the message lists the available demos.
    FileNotFoundError
        When the demo's facility file has not been built yet.

    Examples
    --------
    >>> demo = load_demo("beilun")
    >>> int((demo.facilities["type"] == "outdoor_station").sum())
    44
    >>> sorted(demo.demand["group"].unique())
    ['all_workers', 'female_nursing', 'outdoor', 'truck_drivers']
    >>> demo.areas["level"].value_counts().to_dict()
    {'industrial_community': 20, 'subdistrict': 11}
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    root = datasets_dir()
    demos = available_demos()
    if name not in demos:
        raise ValidationError(
            f"no demo named {name!r} in {root}; available: "
            f"{', '.join(repr(d) for d in demos) or 'none'}"
        )
    demo = _load_cached(name, str(root / name))
    return Demo(
        demo.name,
        _copy(demo.facilities),
        _copy(demo.demand),
        _copy(demo.areas),
        _copy(demo.boundary),
    )


__all__ = ["DATASETS_ENV", "Demo", "available_demos", "datasets_dir", "load_demo"]


NETWORK_FILES = ("roads.osm.pbf", "roads.osm", "roads.graphml")


def demo_network_path(name: str) -> Path | None:
    """The road network shipped or fetched for a demo (``datasets/<name>/roads.osm*``), or
    None when it has none (the demo is then measured in straight lines)."""
    for file in NETWORK_FILES:
        p = datasets_dir() / name / file
        if p.is_file():
            return p
    return None
