"""Configuration: defaults, then ``instance/config.py``, then ``SERVICEMAP_*`` variables.

Every key of :data:`DEFAULTS` can be set from the environment as ``SERVICEMAP_<KEY>``
(``SERVICEMAP_TILES=amap``, ``SERVICEMAP_PRIVACY_K=20``); values are parsed to the type of
the default. ``create_app(test_config)`` applies its mapping last.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

ENV_PREFIX = "SERVICEMAP_"

DEFAULTS: dict[str, Any] = {
    # the data served: a shipped demo's name, or a geo.Demo (tests, scripts)
    "DEMO": "beilun",
    # base map: osm | amap (GCJ-02) | tianditu (needs TILES_KEY) | none; or TILES_URL
    # with TILES_DATUM for your own tile server
    "TILES": "osm",
    "TILES_KEY": "",
    "TILES_URL": "",
    "TILES_DATUM": "",
    "TILES_ATTRIBUTION": "",
    "TIMEZONE": "Asia/Shanghai",
    "DEFAULT_LANG": "zh",
    # hex cells with fewer people than this are never shown on their own
    "PRIVACY_K": 10,
    "GAP_RESOLUTION": 8,
    "NEAREST_K": 5,
    "NEAREST_K_MAX": 50,
    "PAGE_SIZE": 1000,
    "PAGE_SIZE_MAX": 10000,
    # a strict Content-Security-Policy on every page
    "CSP": True,
    # travel_time(lon, lat, fac_lon, fac_lat) -> seconds, once a road network is loaded
    "TRAVEL_TIME": None,
    # the road network behind TRAVEL_TIME (.osm.pbf, .osm, .graphml, .npz); empty: the
    # demo's datasets/<demo>/roads.osm when there is one, else straight-line distance only
    "NETWORK": "",
    # the finder's travel mode on that network (riders use e-bikes)
    "NETWORK_MODE": "ebike",
    "JSON_SORT_KEYS": False,
}


def _parse(raw: str, default: Any, key: str) -> Any:
    if isinstance(default, bool):
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{ENV_PREFIX}{key}={raw!r}: use true or false")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{key}={raw!r}: use a whole number") from None
    if isinstance(default, float):
        return float(raw)
    return raw


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``SERVICEMAP_*`` settings found in ``environ`` (default ``os.environ``)."""
    environ = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        name = ENV_PREFIX + key
        if name in environ and not callable(default):
            out[key] = _parse(environ[name], default, key)
    return out
