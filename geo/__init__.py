"""servicemap's analysis library: facility and demand layers, coverage, and the demos.

Everything here works on GeoDataFrames in EPSG:4326 and returns new frames; nothing in
this package imports Flask. See docs/data-model.md for the columns of each layer.
"""

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
from geo.layers import (
    FacilityType,
    facilities_to_file,
    get_type,
    load_areas,
    load_facilities,
    load_registry,
    validate_facilities,
)

__all__ = [
    "CRSError",
    "CoverageSummary",
    "Demo",
    "FacilityType",
    "RegistryError",
    "ServicemapError",
    "ValidationError",
    "apply_privacy_floor",
    "available_demos",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "coverage",
    "coverage_summary",
    "demand_summary",
    "facilities_to_file",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "get_type",
    "load_areas",
    "load_demand",
    "load_demo",
    "load_facilities",
    "load_registry",
    "metric_crs_for",
    "nearest_facility",
    "to_h3",
    "validate_facilities",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]
