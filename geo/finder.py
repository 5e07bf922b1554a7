"""The public finder's questions: which facilities are near here, open now, and how to get there.

:class:`FacilityFinder` holds a facility layer as arrays (real state: it is built once and
queried on every request), answers filtered k-nearest queries in geodesic metres, and —
once a road network is loaded (``geo.network``) — ranks by travel time through a
``travel_time`` callable. :func:`open_now` evaluates OpenStreetMap ``opening_hours`` in the
district's time zone; :func:`handoff_links` builds AMap and Baidu navigation links with the
coordinates converted to their datums.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Geod

from geo.crs import check_datum, from_wgs84, to_wgs84
from geo.errors import ValidationError

DEFAULT_TIMEZONE = "Asia/Shanghai"
_GEOD = Geod(ellps="WGS84")

#: ``travel_time(lon, lat, fac_lon, fac_lat) -> seconds`` for each facility (NaN: unreachable)
TravelTime = Callable[[float, float, np.ndarray, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- opening hours


@lru_cache(maxsize=512)
def _parsed_hours(expr: str):
    import opening_hours

    return opening_hours.OpeningHours(expr)


def local_now(timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """The wall-clock time now in ``timezone``, as a naive datetime (what hours mean)."""
    return datetime.now(ZoneInfo(timezone)).replace(tzinfo=None)


def open_now(
    hours: Iterable[str], at: datetime | None = None, *, timezone: str = DEFAULT_TIMEZONE
) -> list[bool | None]:
    """Whether each ``opening_hours`` expression is open at ``at``.

    Parameters
    ----------
    hours : iterable of str
        OpenStreetMap ``opening_hours`` expressions; ``""`` means unknown.
    at : datetime, optional
        The moment to test. An aware datetime is converted to ``timezone``; a naive one is
        taken as wall-clock time there. Default: now.
    timezone : str
        IANA name of the facilities' time zone (Asia/Shanghai for China).

    Returns
    -------
    list of bool or None
        ``None`` where the hours are unknown or unparseable.

    Examples
    --------
    >>> open_now(["Mo-Fr 08:00-18:00", "24/7", ""], datetime(2024, 5, 4, 9, 0))  # a Saturday
    [False, True, None]
    """
    import opening_hours

    if at is None:
        at = local_now(timezone)
    elif at.tzinfo is not None:
        at = at.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    out: list[bool | None] = []
    seen: dict[str, bool | None] = {}
    for expr in hours:
        expr = "" if expr is None else str(expr).strip()
        if expr not in seen:
            if not expr:
                seen[expr] = None
            else:
                try:
                    oh = _parsed_hours(expr)
                    seen[expr] = None if oh.is_unknown(at) else bool(oh.is_open(at))
                except (SyntaxError, ValueError, opening_hours.ParserError):  # type: ignore[attr-defined]
                    seen[expr] = None
        out.append(seen[expr])
    return out


# --------------------------------------------------------------------------- hand-off links


def handoff_links(lon: float, lat: float, name: str) -> dict[str, str]:
    """AMap and Baidu map links that open at a WGS84 point, in each app's own datum.

    AMap takes GCJ-02 (``coordinate=gaode``), Baidu BD-09 (``coord_type=bd09ll``); the
    name is URL-encoded.

    Examples
    --------
    >>> links = handoff_links(121.85, 29.9, "驿站 A&B")
    >>> links["amap"].startswith("https://uri.amap.com/marker?position=121.85")
    True
    >>> "name=%E9%A9%BF%E7%AB%99%20A%26B" in links["amap"]
    True
    """
    glon, glat = point_from_wgs84(lon, lat, "gcj02")
    blon, blat = point_from_wgs84(lon, lat, "bd09")
    amap = urlencode(
        {
            "position": f"{glon:.6f},{glat:.6f}",
            "name": name,
            "src": "servicemap",
            "coordinate": "gaode",
            "callnative": "1",
        },
        quote_via=quote,
        safe=",",
    )
    baidu = urlencode(
        {
            "location": f"{blat:.6f},{blon:.6f}",
            "title": name,
            "content": name,
            "coord_type": "bd09ll",
            "output": "html",
            "src": "webapp.servicemap",
        },
        quote_via=quote,
        safe=",",
    )
    return {
        "amap": f"https://uri.amap.com/marker?{amap}",
        "baidu": f"https://api.map.baidu.com/marker?{baidu}",
    }


# --------------------------------------------------------------------------- the finder


def geodesic_m(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Geodesic metres on the WGS84 ellipsoid from one point to many."""
    n = len(lons)
    if n == 0:
        return np.empty(0)
    _, _, dist = _GEOD.inv(np.full(n, float(lon)), np.full(n, float(lat)), lons, lats)
    return np.asarray(dist, dtype="float64")


class FacilityFinder:
    """Filtered nearest-facility queries over one facility layer.

    Parameters
    ----------
    facilities : GeoDataFrame
        WGS84 facility layer (columns of ``docs/data-model.md``).
    travel_time : callable, optional
        ``travel_time(lon, lat, fac_lon, fac_lat) -> seconds`` per facility, NaN where
        unreachable: a road network's answer (``geo.network``). When given, the nearest
        facilities are ranked by time (among the ``candidates`` nearest by distance) and
        results carry ``time_s``.
    timezone : str
        Time zone of the opening hours.

    Examples
    --------
    >>> from geo.demo import load_demo
    >>> finder = FacilityFinder(load_demo("beilun").facilities)
    >>> near = finder.nearest(121.85, 29.9, k=3, types=["outdoor_station"])
    >>> len(near), bool(near["distance_m"].is_monotonic_increasing)
    (3, True)
    """

    def __init__(
        self,
        facilities: gpd.GeoDataFrame,
        *,
        travel_time: TravelTime | None = None,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> None:
        if not isinstance(facilities, gpd.GeoDataFrame):
            raise TypeError(f"facilities must be a GeoDataFrame, got {type(facilities).__name__}")
        if facilities.crs is None or not facilities.crs.equals("EPSG:4326"):
            facilities = facilities.to_crs(4326)
        self.facilities = facilities.reset_index(drop=True)
        self.travel_time = travel_time
        self.timezone = timezone
        self.lon = self.facilities.geometry.x.to_numpy(dtype="float64")
        self.lat = self.facilities.geometry.y.to_numpy(dtype="float64")
        self.ids = self.facilities["id"].astype(str).to_numpy()
        self.types = self.facilities["type"].astype(str).to_numpy()
        self.position = {fid: i for i, fid in enumerate(self.ids)}
        amen = self.facilities.get("amenities", pd.Series([[]] * len(self.facilities)))
        self.amenities = [
            frozenset(a) if isinstance(a, list | tuple) else frozenset() for a in amen
        ]
        hours = self.facilities.get("hours", pd.Series([""] * len(self.facilities)))
        self.hours = hours.fillna("").astype(str).to_numpy()
        text = (
            self.facilities.get("name", "").astype(str)
            + " "
            + self.facilities.get("address", "").astype(str)
        )
        self._text = text.str.casefold().to_numpy()

    def __len__(self) -> int:
        return len(self.ids)

    def mask(
        self,
        *,
        types: Sequence[str] | None = None,
        amenities: Sequence[str] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        q: str | None = None,
        open_at: datetime | None = None,
        exclude: Iterable[str] = (),
    ) -> np.ndarray:
        """Boolean mask of the facilities passing every given filter.

        ``amenities`` means all of them; ``open_at`` keeps those known to be open then;
        ``q`` is a case-insensitive substring of name or address; ``bbox`` is
        ``(min_lon, min_lat, max_lon, max_lat)`` in WGS84.
        """
        keep = np.ones(len(self), dtype=bool)
        if types:
            keep &= np.isin(self.types, list(types))
        if amenities:
            need = frozenset(amenities)
            keep &= np.fromiter((need <= a for a in self.amenities), bool, len(self))
        if bbox is not None:
            minx, miny, maxx, maxy = bbox
            keep &= (
                (self.lon >= minx) & (self.lon <= maxx) & (self.lat >= miny) & (self.lat <= maxy)
            )
        if q:
            needle = q.casefold().strip()
            keep &= np.fromiter((needle in t for t in self._text), bool, len(self))
        if open_at is not None:
            state = open_now(self.hours, open_at, timezone=self.timezone)
            keep &= np.array([s is True for s in state], dtype=bool)
        excluded = [self.position[i] for i in exclude if i in self.position]
        keep[excluded] = False
        return keep

    def open_state(self, at: datetime | None = None) -> list[bool | None]:
        """:func:`open_now` for every facility (``None``: hours unknown).

        Without ``at``, the answer for the current minute is computed once and reused.
        """
        if at is not None:
            return open_now(self.hours, at, timezone=self.timezone)
        minute = local_now(self.timezone).replace(second=0, microsecond=0)
        cached = getattr(self, "_open_cache", None)
        if cached is None or cached[0] != minute:
            cached = (minute, open_now(self.hours, minute, timezone=self.timezone))
            self._open_cache = cached
        return cached[1]

    def nearest_positions(
        self,
        lon: float,
        lat: float,
        *,
        k: int = 5,
        candidates: int = 50,
        **filters,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """:meth:`nearest` as arrays: positions, metres and seconds (None without a network).

        The fast path for a web API: no DataFrame is built.
        """
        if not (isinstance(k, int | np.integer) and k >= 1):
            raise ValidationError(f"k={k!r} must be a whole number >= 1")
        if not (math.isfinite(lon) and math.isfinite(lat) and -90 <= lat <= 90):
            raise ValidationError(f"lon={lon!r}, lat={lat!r} is not a WGS84 point")
        active = {key: v for key, v in filters.items() if v}
        pos = np.flatnonzero(self.mask(**active)) if active else np.arange(len(self))
        dist = geodesic_m(lon, lat, self.lon[pos], self.lat[pos])
        keep = max(int(candidates), int(k)) if self.travel_time is not None else int(k)
        if len(pos) > 4 * keep:
            # a partial sort, widened to every facility tied with the last one kept
            cut = np.partition(dist, keep - 1)[keep - 1]
            near = dist <= cut
            pos, dist = pos[near], dist[near]
        order = np.lexsort((self.ids[pos], dist))[:keep]
        pos, dist = pos[order], dist[order]
        if self.travel_time is None:
            return pos, dist, None
        time_s = np.asarray(
            self.travel_time(lon, lat, self.lon[pos], self.lat[pos]), dtype="float64"
        )
        order = np.lexsort((dist, np.nan_to_num(time_s, nan=np.inf)))[: int(k)]
        return pos[order], dist[order], time_s[order]

    def nearest(
        self,
        lon: float,
        lat: float,
        *,
        k: int = 5,
        candidates: int = 50,
        **filters,
    ) -> pd.DataFrame:
        """The ``k`` nearest facilities to a WGS84 point that pass ``filters`` (see :meth:`mask`).

        Returns
        -------
        DataFrame
            ``position`` (row in :attr:`facilities`), ``id``, ``distance_m`` (geodesic),
            and ``time_s`` when a travel-time function is set (ranked by it, among the
            ``candidates`` nearest by distance); nearest first. Ties are broken by id.
        """
        pos, dist, time_s = self.nearest_positions(lon, lat, k=k, candidates=candidates, **filters)
        out = pd.DataFrame({"position": pos, "id": self.ids[pos], "distance_m": dist})
        if time_s is not None:
            out["time_s"] = time_s
        return out


def point_to_wgs84(lon: float, lat: float, datum: str) -> tuple[float, float]:
    """One point from ``datum`` to WGS84, as floats."""
    x, y = to_wgs84([lon], [lat], check_datum(datum))
    return float(x[0]), float(y[0])


def point_from_wgs84(lon: float, lat: float, datum: str) -> tuple[float, float]:
    """One WGS84 point to ``datum``, as floats."""
    x, y = from_wgs84([lon], [lat], check_datum(datum))
    return float(x[0]), float(y[0])


__all__ = [
    "DEFAULT_TIMEZONE",
    "FacilityFinder",
    "geodesic_m",
    "handoff_links",
    "local_now",
    "open_now",
    "point_from_wgs84",
    "point_to_wgs84",
]
