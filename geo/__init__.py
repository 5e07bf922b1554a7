"""servicemap's analysis library: facility and demand layers, coverage, and the demos.

Everything here works on GeoDataFrames in EPSG:4326 and returns new frames; nothing in
this package imports Flask. See docs/data-model.md for the columns of each layer.
"""

from geo.access import (
    EquitySummary,
    access_by_area,
    accessibility,
    distance_pairs,
    equity,
    fca_from_cost,
    gini,
    lorenz_curve,
)
from geo.coverage import CoverageSummary, coverage, coverage_summary, nearest_facility
from geo.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    metric_crs_for,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.demand import apply_privacy_floor, demand_summary, load_demand, to_h3
from geo.demo import Demo, available_demos, load_demo
from geo.errors import CRSError, RegistryError, ServicemapError, ValidationError
from geo.finder import FacilityFinder, handoff_links, open_now
from geo.layers import (
    FacilityType,
    facilities_to_file,
    get_type,
    load_areas,
    load_facilities,
    load_registry,
    validate_facilities,
)
from geo.network import (
    NetworkTravelTimes,
    RoadNetwork,
    TravelMode,
    TravelModes,
    catchments,
    load_network,
    load_travel_modes,
    network_to_gdfs,
    service_areas,
)
from geo.siting import (
    SiteSuggestion,
    WhatIf,
    candidate_sites,
    capacitated_covering,
    maximal_covering,
    p_median,
    set_covering,
    suggest_sites,
    what_if,
)

__all__ = [
    "CRSError",
    "CoverageSummary",
    "Demo",
    "EquitySummary",
    "FacilityFinder",
    "FacilityType",
    "NetworkTravelTimes",
    "RegistryError",
    "RoadNetwork",
    "ServicemapError",
    "SiteSuggestion",
    "TravelMode",
    "TravelModes",
    "ValidationError",
    "WhatIf",
    "access_by_area",
    "accessibility",
    "apply_privacy_floor",
    "available_demos",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "candidate_sites",
    "capacitated_covering",
    "catchments",
    "coverage",
    "coverage_summary",
    "demand_summary",
    "distance_pairs",
    "equity",
    "facilities_to_file",
    "fca_from_cost",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "get_type",
    "gini",
    "handoff_links",
    "load_areas",
    "load_demand",
    "load_demo",
    "load_facilities",
    "load_network",
    "load_registry",
    "load_travel_modes",
    "lorenz_curve",
    "maximal_covering",
    "metric_crs_for",
    "nearest_facility",
    "network_to_gdfs",
    "open_now",
    "p_median",
    "service_areas",
    "set_covering",
    "suggest_sites",
    "to_h3",
    "validate_facilities",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
    "what_if",
]
