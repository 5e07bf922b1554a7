"""Reading request parameters: every bad value raises :class:`ParameterError` naming it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from geo.crs import DATUMS
from web.errors import ParameterError

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")


def number(
    args: Mapping[str, str],
    name: str,
    *,
    default: float | None = None,
    lo: float | None = None,
    hi: float | None = None,
) -> float | None:
    raw = args.get(name)
    if raw is None or raw == "":
        if default is None:
            return None
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        raise ParameterError(name, f"{raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ParameterError(name, f"{raw!r} is not a finite number")
    if lo is not None and value < lo:
        raise ParameterError(name, f"{value:g} is below the minimum {lo:g}")
    if hi is not None and value > hi:
        raise ParameterError(name, f"{value:g} is above the maximum {hi:g}")
    return value


def required_number(args: Mapping[str, str], name: str, **kw) -> float:
    value = number(args, name, **kw)
    if value is None:
        raise ParameterError(name, "is required")
    return value


def integer(
    args: Mapping[str, str], name: str, *, default: int, lo: int = 0, hi: int | None = None
) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParameterError(name, f"{raw!r} is not a whole number") from None
    if value < lo:
        raise ParameterError(name, f"{value} is below the minimum {lo}")
    if hi is not None and value > hi:
        raise ParameterError(name, f"{value} is above the maximum {hi}")
    return value


def flag(args: Mapping[str, str], name: str) -> bool:
    raw = (args.get(name) or "").strip().lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise ParameterError(name, f"{raw!r} is not a yes/no value; use 1 or 0")


def listing(args, name: str) -> list[str]:
    """A list given as ``name=a,b`` or ``name=a&name=b``."""
    values = args.getlist(name) if hasattr(args, "getlist") else [args.get(name, "")]
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in str(v).split(",") if x.strip())
    return out


def choices(args, name: str, allowed: Iterable[str]) -> list[str]:
    allowed = list(allowed)
    got = listing(args, name)
    bad = [v for v in got if v not in allowed]
    if bad:
        raise ParameterError(name, f"{bad[0]!r} is not one of {allowed!r}")
    return got


def choice(args, name: str, allowed: Iterable[str], *, default: str | None = None) -> str | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    allowed = list(allowed)
    if raw not in allowed:
        raise ParameterError(name, f"{raw!r} is not one of {allowed!r}")
    return raw


def datum(args, name: str = "datum", *, default: str = "wgs84") -> str:
    return choice(args, name, DATUMS, default=default) or default


def bbox(args, name: str = "bbox") -> tuple[float, float, float, float] | None:
    raw = args.get(name)
    if not raw:
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise ParameterError(name, f"{raw!r} must be min_lon,min_lat,max_lon,max_lat")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise ParameterError(name, f"{raw!r} holds a value that is not a number") from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise ParameterError(name, f"{raw!r} holds a value that is not finite")
    if not (
        -180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90
    ):
        raise ParameterError(name, f"{raw!r} is outside longitude -180..180 / latitude -90..90")
    if minx > maxx or miny > maxy:
        raise ParameterError(name, f"{raw!r}: the minimum must come before the maximum")
    return minx, miny, maxx, maxy


def points(args, name: str) -> list[tuple[float, float]]:
    """Points given as ``name=lon,lat;lon,lat`` (or repeated ``name=lon,lat``)."""
    raw_values = args.getlist(name) if hasattr(args, "getlist") else [args.get(name, "")]
    out = []
    for raw in raw_values:
        for item in str(raw).split(";"):
            item = item.strip()
            if not item:
                continue
            parts = item.split(",")
            try:
                lon, lat = (float(p) for p in parts)
            except ValueError:
                raise ParameterError(
                    name, f"{item!r} must be lon,lat in decimal degrees (points separated by ;)"
                ) from None
            if not (
                math.isfinite(lon)
                and math.isfinite(lat)
                and -180 <= lon <= 180
                and -90 <= lat <= 90
            ):
                raise ParameterError(name, f"{item!r} is not a longitude,latitude pair")
            out.append((lon, lat))
    if len(out) > 100:
        raise ParameterError(name, f"{len(out)} points; at most 100")
    return out
