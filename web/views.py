"""Helpers shared by the page blueprints (public and planner)."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, url_for

from web.i18n import catalogue, current_lang
from web.state import EXTENSION, AppData

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def data() -> AppData:
    return current_app.extensions[EXTENSION]


def type_css(d: AppData) -> str:
    """One CSS class per facility type carrying its colour (keys and colours are checked)."""
    rules = []
    for key, info in d.type_info("zh").items():
        if _KEY.match(key) and _COLOR.match(info["color"]):
            rules.append(f".sm-type-{key}{{--c:{info['color']}}}")
    return "".join(rules)


def page_config(d: AppData, **extra: Any) -> dict[str, Any]:
    """What every page script needs, embedded as JSON (``tojson`` escapes it for HTML)."""
    lang = current_lang()
    parts = d.map_parts(lang)
    return {
        "map": parts.name,
        "datum": d.datum,
        "lang": lang,
        "tiles": d.tiles.key,
        "strings": catalogue(lang),
        "types": d.type_info(lang),
        "api": {
            "facilities": url_for("api.facilities"),
            "nearest": url_for("api.nearest"),
            "search": url_for("api.search"),
            "coverage": url_for("api.coverage_view"),
            "gaps": url_for("api.gaps"),
            "suggest": url_for("api.suggest"),
        },
        "facility_url": url_for("public.facility_page", fid="__ID__"),
        **extra,
    }
