"""Configuration: defaults, then ``instance/config.py``, then ``SERVICEMAP_*`` variables.

Every key of :data:`DEFAULTS` can be set from the environment as ``SERVICEMAP_<KEY>``
(``SERVICEMAP_TILES=amap``, ``SERVICEMAP_PRIVACY_K=20``), read by Flask's
``Config.from_prefixed_env`` (values parsed as JSON where they parse, else strings);
:func:`check` then refuses a value of the wrong kind, naming the variable.
``create_app(test_config)`` uses the defaults and ``test_config`` only: a test never sees
the shell's variables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

ENV_PREFIX = "SERVICEMAP_"

DEFAULTS: dict[str, Any] = {
    # the workspace served (a folder made by `servicemap init` or Workspace.from_demo);
    # empty: serve DEMO directly (tests, scripts)
    "WORKSPACE": "",
    # the workspace's PostGIS store (postgresql://...); empty: its GeoPackage
    "DATABASE_URL": "",
    # the data served without a workspace: a shipped demo's name, or a geo.Demo
    "DEMO": "beilun",
    # signs the session cookies; empty: kept in WORKSPACE/secret_key (made on first start)
    "SECRET_KEY": "",
    # sign-in attempts per client address (Flask-Limiter syntax; counted per worker)
    "SIGN_IN_LIMIT": "10/minute",
    # the largest file the planner's upload page takes, in bytes (and, unless
    # MAX_CONTENT_LENGTH is set, about the largest request body of any kind)
    "UPLOAD_MAX": 64 * 1024 * 1024,
    # the facility-type registry (a district's copy of geo/data/facility_types.toml);
    # empty: the shipped one
    "REGISTRY": "",
    # the standards checklists (a district's copy of geo/data/standards.toml); empty: shipped
    "STANDARDS": "",
    # base map: osm | amap (GCJ-02) | tianditu (needs TILES_KEY) | none; or TILES_URL
    # with TILES_DATUM for your own tile server
    "TILES": "osm",
    "TILES_KEY": "",
    "TILES_URL": "",
    "TILES_DATUM": "",
    "TILES_ATTRIBUTION": "",
    "TIMEZONE": "Asia/Shanghai",
    "DEFAULT_LANG": "zh",
    # the scheme and host of the short URLs printed on QR plates (https://map.example.cn);
    # empty: the host of the request
    "PUBLIC_URL": "",
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
    # a district's travel_modes.toml (speeds, access rules, added modes); empty: the shipped
    "TRAVEL_MODES": "",
    # the finder's travel mode on that network (riders use e-bikes)
    "NETWORK_MODE": "ebike",
    # public reports and suggestions per client address, one budget for both (Flask-Limiter
    # syntax; counted per worker, like SIGN_IN_LIMIT)
    "REPORT_LIMIT": "10/minute;60/hour;300/day",
}


def check(config: MutableMapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """Refuse a setting of the wrong kind (``SERVICEMAP_PRIVACY_K=many``), naming it.

    A whole number given for a float setting is taken as a float.
    """
    for key, default in DEFAULTS.items():
        value = config.get(key, default)
        where = f"{ENV_PREFIX}{key}" if environ is not None and ENV_PREFIX + key in environ else key
        if (
            default is None
            or isinstance(value, type(default))
            and not (isinstance(value, bool) and not isinstance(default, bool))
        ):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{where}={value!r}: use a finite number")
            continue
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            config[key] = float(value)
            continue
        if isinstance(default, bool):
            hint = "use true or false"
        elif isinstance(default, int):
            hint = "use a whole number"
        elif isinstance(default, float):
            hint = "use a number"
        else:
            if key == "DEMO" and not isinstance(value, str):
                continue  # a geo.Demo object, from a test or a script
            hint = "use text"
        from_env = environ is not None and where.startswith(ENV_PREFIX)
        shown = environ[ENV_PREFIX + key] if environ is not None and from_env else value
        raise ValueError(f"{where}={shown!r}: {hint}")
