"""Road networks: OpenStreetMap import, compact arrays, snapping, travel times, service areas.

A :class:`RoadNetwork` (:mod:`geo.network.graph`) holds a district's roads as arrays. It
is loaded from ``.osm.pbf`` (pyrosm), ``.osm`` XML or osmnx GraphML by
:func:`load_network` (:mod:`geo.network.io`), clipped to a boundary, and cached on disk as
``.npz`` next to its source (keyed by the source's SHA-256 and the clip), so a second load
takes milliseconds.

A travel mode (:mod:`geo.network.modes`: ``walk``, ``bike``, ``ebike``, ``car``,
``truck``, or a district's own; speeds and access rules in ``travel_modes.toml``) turns
the segments into travel times per direction. Points join the network at the nearest
usable segment (:mod:`geo.network.snap`). Searches (:mod:`geo.network.search`): nearest
facility by ONE multi-source Dijkstra, bounded per-facility searches, catchments, the
finder's travel times. Service areas (:mod:`geo.network.isochrones`): polygons of the
road reachable within each break, and the people who can reach the facility in time.

Modules: ``graph`` -> ``modes`` -> ``snap`` -> ``search`` -> ``isochrones``; ``io`` uses
``graph`` and ``modes``. No module imports a later one, and none uses another's private
names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geo._lazy import lazy_names

if TYPE_CHECKING:
    from geo.network.graph import (
        RoadNetwork,
        clip_network,
        network_from_segments,
        network_to_gdfs,
        subset_edges,
    )
    from geo.network.io import fetch_network, load_network, save_network
    from geo.network.isochrones import service_areas
    from geo.network.modes import (
        DEFAULT_MODES_PATH,
        STRAIGHT,
        NetworkSettings,
        TravelMode,
        TravelModes,
        edge_times,
        get_mode,
        load_travel_modes,
        network_to_networkx,
    )
    from geo.network.search import (
        NetworkResult,
        NetworkTravelTimes,
        bounded_times,
        catchments,
        nearest_facility_network,
        network_coverage,
        node_travel_times,
    )
    from geo.network.snap import Snap, project_to_segments, snap_points

# imported on first use (geo._lazy): geo.coverage needs only ``modes``
_WHERE: dict[str, str] = {
    "RoadNetwork": "geo.network.graph",
    "clip_network": "geo.network.graph",
    "network_from_segments": "geo.network.graph",
    "network_to_gdfs": "geo.network.graph",
    "subset_edges": "geo.network.graph",
    "fetch_network": "geo.network.io",
    "load_network": "geo.network.io",
    "save_network": "geo.network.io",
    "service_areas": "geo.network.isochrones",
    "DEFAULT_MODES_PATH": "geo.network.modes",
    "STRAIGHT": "geo.network.modes",
    "NetworkSettings": "geo.network.modes",
    "TravelMode": "geo.network.modes",
    "TravelModes": "geo.network.modes",
    "edge_times": "geo.network.modes",
    "get_mode": "geo.network.modes",
    "load_travel_modes": "geo.network.modes",
    "network_to_networkx": "geo.network.modes",
    "NetworkResult": "geo.network.search",
    "NetworkTravelTimes": "geo.network.search",
    "bounded_times": "geo.network.search",
    "catchments": "geo.network.search",
    "nearest_facility_network": "geo.network.search",
    "network_coverage": "geo.network.search",
    "node_travel_times": "geo.network.search",
    "Snap": "geo.network.snap",
    "project_to_segments": "geo.network.snap",
    "snap_points": "geo.network.snap",
}

__all__ = [
    "DEFAULT_MODES_PATH",
    "STRAIGHT",
    "NetworkResult",
    "NetworkSettings",
    "NetworkTravelTimes",
    "RoadNetwork",
    "Snap",
    "TravelMode",
    "TravelModes",
    "bounded_times",
    "catchments",
    "clip_network",
    "edge_times",
    "fetch_network",
    "get_mode",
    "load_network",
    "load_travel_modes",
    "nearest_facility_network",
    "network_coverage",
    "network_from_segments",
    "network_to_gdfs",
    "network_to_networkx",
    "node_travel_times",
    "project_to_segments",
    "save_network",
    "service_areas",
    "snap_points",
    "subset_edges",
]

__getattr__, __dir__ = lazy_names(__name__, globals(), _WHERE, __all__)
