"""The public finder's questions: which facilities are near here, open now, and how to get there.

:class:`FacilityFinder` holds a facility layer as arrays (real state: it is built once and
queried on every request), answers filtered k-nearest queries in geodesic metres, and —
once a road network is loaded (``geo.network``) — ranks by travel time through a
``travel_time`` callable. :func:`open_now` evaluates OpenStreetMap ``opening_hours`` in the
district's time zone; :func:`describe_hours` puts them in words
(每天 08:00–20:00，再过 25 分钟关门); :func:`handoff_links` builds AMap, Baidu and Tencent
links (a marker, and route planning riding or walking) in each app's datum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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


# --------------------------------------------------------------------------- hours in words

#: The words the hours are described in, per language (the web catalogue shows the same).
HOURS_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "days": "周一 周二 周三 周四 周五 周六 周日",
        "daily": "每天",
        "day_range": "{a}至{b}",
        "range_sep": "、",
        "group_sep": "；",
        "sentence": "{schedule}，{now}",
        "always": "24 小时开放",
        "never": "近期不开放",
        "unknown": "开放时间不详",
        "closes_in": "再过 {n} 分钟关门",
        "open_until": "开放中，{time} 关门",
        "open_until_day": "开放中，{day} {time} 关门",
        "opens_in": "再过 {n} 分钟开门",
        "opens_at": "{time} 开门",
        "opens_day": "{day} {time} 开门",
        "tomorrow": "明天",
        "closed_now": "已关门",
    },
    "en": {
        "days": "Mon Tue Wed Thu Fri Sat Sun",
        "daily": "Daily",
        "day_range": "{a}–{b}",
        "range_sep": ", ",
        "group_sep": "; ",
        "sentence": "{schedule}, {now}",
        "always": "Open 24 hours",
        "never": "Not open in the coming days",
        "unknown": "Hours unknown",
        "closes_in": "closes in {n} min",
        "open_until": "open until {time}",
        "open_until_day": "open until {day} {time}",
        "opens_in": "opens in {n} min",
        "opens_at": "opens at {time}",
        "opens_day": "opens {day} {time}",
        "tomorrow": "tomorrow",
        "closed_now": "closed",
    },
}

#: Within this many minutes of a change the state is ``closing_soon`` / ``opening_soon``.
SOON_MIN = 60

#: How far ahead :func:`open_intervals` looks by default (a week and a day).
HORIZON_DAYS = 8


@dataclass(frozen=True)
class HoursNow:
    """Opening hours described at one moment.

    ``state`` is ``open``, ``closing_soon``, ``closed``, ``opening_soon`` or ``unknown``;
    ``schedule`` the week in words (每天 08:00–20:00); ``now`` the state in words
    (再过 25 分钟关门); ``text`` both in one sentence; ``next_change`` the local wall-clock
    time of the next opening or closing (None: none within :data:`HORIZON_DAYS`).
    """

    state: str
    schedule: str
    now: str
    text: str
    next_change: datetime | None


def _words(lang: str) -> dict[str, str]:
    if lang not in HOURS_WORDS:
        raise ValidationError(f"lang={lang!r} is not one of {sorted(HOURS_WORDS)}")
    return HOURS_WORDS[lang]


def _local(at: datetime | None, timezone: str) -> datetime:
    if at is None:
        return local_now(timezone)
    if at.tzinfo is not None:
        return at.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return at


def _hours_or_none(expr: str | None):
    """The parsed expression, or None when it is empty or not valid syntax."""
    import opening_hours

    expr = "" if expr is None else str(expr).strip()
    if not expr:
        return None
    try:
        return _parsed_hours(expr)
    except (SyntaxError, ValueError, opening_hours.ParserError):  # type: ignore[attr-defined]
        return None


def open_intervals(
    expr: str | None,
    start: datetime,
    *,
    days: int = HORIZON_DAYS,
) -> list[tuple[datetime, datetime]] | None:
    """The open periods of ``expr`` from ``start`` for ``days`` days, merged, local time.

    ``None`` when the hours are unknown or unparseable (an empty list: never open then).

    Examples
    --------
    >>> open_intervals("Mo-Fr 12:00-13:30", datetime(2024, 5, 10), days=3)  # a Friday
    [(datetime.datetime(2024, 5, 10, 12, 0), datetime.datetime(2024, 5, 10, 13, 30))]
    """
    oh = _hours_or_none(expr)
    if oh is None:
        return None
    end = start + timedelta(days=days)
    out: list[tuple[datetime, datetime]] = []
    for a, b, state, _comment in oh.intervals(start, end):
        if str(state).rsplit(".", 1)[-1].upper() != "OPEN":
            continue
        b = end if b is None else b
        if out and out[-1][1] >= a:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _hm(t: datetime, day_start: datetime) -> str:
    minutes = round((t - day_start).total_seconds() / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def hours_in_words(expr: str | None, *, lang: str = "zh", week_of: datetime | None = None) -> str:
    """The weekly opening hours of ``expr`` in words (每天 08:00–20:00).

    The week is the Monday-to-Sunday week containing ``week_of`` (default: this week in
    China's time zone); days with the same hours are grouped.

    Examples
    --------
    >>> at = datetime(2024, 5, 8)
    >>> hours_in_words("Mo-Su 08:00-20:00", week_of=at)
    '每天 08:00–20:00'
    >>> hours_in_words("Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00", lang="en", week_of=at)
    'Mon–Fri 08:00–18:00; Sat–Sun 09:00–17:00'
    >>> hours_in_words("24/7", week_of=at), hours_in_words("", lang="en", week_of=at)
    ('24 小时开放', 'Hours unknown')
    """
    w = _words(lang)
    day = (week_of or local_now()).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = day - timedelta(days=day.weekday())
    spans = open_intervals(expr, monday, days=7)
    if spans is None:
        return w["unknown"]
    per_day: list[tuple[str, ...]] = []
    for i in range(7):
        d0, d1 = monday + timedelta(days=i), monday + timedelta(days=i + 1)
        per_day.append(
            tuple(
                f"{_hm(max(a, d0), d0)}–{_hm(min(b, d1), d0)}"
                for a, b in spans
                if a < d1 and b > d0
            )
        )
    if all(r == ("00:00–24:00",) for r in per_day):
        return w["always"]
    if not any(per_day):
        return w["never"]
    names = w["days"].split()
    if len(set(per_day)) == 1:
        return f"{w['daily']} {w['range_sep'].join(per_day[0])}"
    groups: list[tuple[int, int, tuple[str, ...]]] = []
    for i, ranges in enumerate(per_day):
        if groups and groups[-1][2] == ranges and groups[-1][1] == i - 1:
            groups[-1] = (groups[-1][0], i, ranges)
        else:
            groups.append((i, i, ranges))
    parts = []
    for a, b, ranges in groups:
        if not ranges:
            continue
        days = names[a] if a == b else w["day_range"].format(a=names[a], b=names[b])
        parts.append(f"{days} {w['range_sep'].join(ranges)}")
    return w["group_sep"].join(parts)


def describe_hours(
    expr: str | None,
    at: datetime | None = None,
    *,
    lang: str = "zh",
    timezone: str = DEFAULT_TIMEZONE,
    soon_min: int = SOON_MIN,
) -> HoursNow:
    """Opening hours in words at ``at``: the week, whether open, and the next change.

    Parameters
    ----------
    expr : str
        An OpenStreetMap ``opening_hours`` expression (``""``: unknown).
    at : datetime, optional
        The moment; aware datetimes are converted to ``timezone``, naive ones are wall-clock
        time there. Default: now.
    lang : {"zh", "en"}
    soon_min : int
        Minutes before a change within which the state is ``closing_soon`` or
        ``opening_soon`` and the words count the minutes down.

    Examples
    --------
    >>> h = describe_hours("Mo-Su 08:00-20:00", datetime(2024, 5, 6, 19, 35))
    >>> h.state, h.text
    ('closing_soon', '每天 08:00–20:00，再过 25 分钟关门')
    >>> describe_hours("Mo-Su 08:00-20:00", datetime(2024, 5, 6, 7, 50), lang="en").text
    'Daily 08:00–20:00, opens in 10 min'
    """
    w = _words(lang)
    at = _local(at, timezone).replace(second=0, microsecond=0)
    schedule = hours_in_words(expr, lang=lang, week_of=at)
    spans = open_intervals(expr, at)
    if spans is None:
        return HoursNow("unknown", schedule, "", schedule, None)
    # an opening that lasts the whole week (24/7) has no change worth telling
    horizon = at + timedelta(days=HORIZON_DAYS - 1)
    current = next(((a, b) for a, b in spans if a <= at < b), None)
    if current is not None:
        change = None if current[1] >= horizon else current[1]
        if change is None:
            return HoursNow("open", schedule, "", schedule, None)
        left = math.ceil((change - at).total_seconds() / 60)
        if left <= soon_min:
            state, now = "closing_soon", w["closes_in"].format(n=left)
        else:
            state, now = "open", _at_words(w, "open_until", change, at)
    else:
        change = next((a for a, _b in spans if a > at), None)
        if change is None:
            return HoursNow("closed", schedule, w["closed_now"], schedule, None)
        left = math.ceil((change - at).total_seconds() / 60)
        if left <= soon_min:
            state, now = "opening_soon", w["opens_in"].format(n=left)
        else:
            state, now = "closed", _at_words(w, "opens", change, at)
    return HoursNow(state, schedule, now, w["sentence"].format(schedule=schedule, now=now), change)


def _at_words(w: dict[str, str], kind: str, change: datetime, at: datetime) -> str:
    """ "open until 20:00" / "opens tomorrow 08:00" / "opens Mon 08:00"."""
    time = change.strftime("%H:%M")
    days_ahead = (change.date() - at.date()).days
    same = "open_until" if kind == "open_until" else "opens_at"
    other = "open_until_day" if kind == "open_until" else "opens_day"
    if days_ahead == 0:
        return w[same].format(time=time)
    day = w["tomorrow"] if days_ahead == 1 else w["days"].split()[change.weekday()]
    return w[other].format(day=day, time=time)


# --------------------------------------------------------------------------- hand-off links

#: Route-planning modes of the hand-off links: ours -> (AMap, Baidu, Tencent) names.
ROUTE_MODES = {"ride": ("ride", "riding", "bike"), "walk": ("walk", "walking", "walk")}


def handoff_links(lon: float, lat: float, name: str) -> dict[str, str]:
    """Links that open a WGS84 point in AMap, Baidu and Tencent maps, in each one's datum.

    ``amap`` and ``baidu`` show the point; ``<app>_<mode>`` (``amap_ride``,
    ``baidu_walk``, ``tencent_ride``, ...) open route planning to it, riding or walking,
    from the phone's position. AMap and Tencent take GCJ-02 (AMap ``coordinate=gaode``),
    Baidu BD-09 (``coord_type=bd09ll``); the name is URL-encoded.

    Examples
    --------
    >>> links = handoff_links(121.85, 29.9, "驿站 A&B")
    >>> links["amap"].startswith("https://uri.amap.com/marker?position=121.85")
    True
    >>> "name=%E9%A9%BF%E7%AB%99%20A%26B" in links["amap"]
    True
    >>> sorted(k for k in links if "_" in k)  # doctest: +NORMALIZE_WHITESPACE
    ['amap_ride', 'amap_walk', 'baidu_ride', 'baidu_walk', 'tencent_ride', 'tencent_walk']
    """
    glon, glat = point_from_wgs84(lon, lat, "gcj02")
    blon, blat = point_from_wgs84(lon, lat, "bd09")
    gcj = f"{glon:.6f},{glat:.6f}"
    bd_latlon = f"{blat:.6f},{blon:.6f}"

    def enc(params: dict[str, str]) -> str:
        return urlencode(params, quote_via=quote, safe=",:|")

    name = str(name)
    amap = {
        "position": gcj,
        "name": name,
        "src": "servicemap",
        "coordinate": "gaode",
        "callnative": "1",
    }
    baidu = {
        "location": bd_latlon,
        "title": name,
        "content": name,
        "coord_type": "bd09ll",
        "output": "html",
        "src": "webapp.servicemap",
    }
    out = {
        "amap": f"https://uri.amap.com/marker?{enc(amap)}",
        "baidu": f"https://api.map.baidu.com/marker?{enc(baidu)}",
    }
    # name text may hold "," or "|": the separators of these parameters, so they go
    for mode, (amap_mode, baidu_mode, qq_mode) in ROUTE_MODES.items():
        safe_name = name.replace(",", " ").replace("|", " ")
        out[f"amap_{mode}"] = "https://uri.amap.com/navigation?" + enc(
            {
                "to": f"{gcj},{safe_name}",
                "mode": amap_mode,
                "src": "servicemap",
                "coordinate": "gaode",
                "callnative": "1",
            }
        )
        out[f"baidu_{mode}"] = "https://api.map.baidu.com/direction?" + enc(
            {
                "origin": "我的位置",
                "destination": f"latlng:{bd_latlon}|name:{safe_name}",
                "mode": baidu_mode,
                "coord_type": "bd09ll",
                "output": "html",
                "src": "webapp.servicemap",
            }
        )
        out[f"tencent_{mode}"] = "https://apis.map.qq.com/uri/v1/routeplan?" + enc(
            {
                "type": qq_mode,
                "to": safe_name,
                "tocoord": f"{glat:.6f},{glon:.6f}",
                "referer": "servicemap",
            }
        )
    return out


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
    "HOURS_WORDS",
    "ROUTE_MODES",
    "FacilityFinder",
    "HoursNow",
    "describe_hours",
    "geodesic_m",
    "handoff_links",
    "hours_in_words",
    "local_now",
    "open_intervals",
    "open_now",
    "point_from_wgs84",
    "point_to_wgs84",
]
