"""Who is covered by what: nearest facility, distance and coverage for every demand row.

Straight-line distances are WGS84 geodesics, correct at any extent (one street or the
whole of China) and independent of it: candidates from a KD-tree on 3-D unit vectors
(``pykdtree``, OpenMP-parallel), refined on the ellipsoid (:mod:`geo._metric`).
Facility types whose rule is ``"route"`` (driver homes) measure distance *along* the
freight route instead of a radius: a route sample is covered when a facility lies within
``max_offroute_m`` of its route and the distance along the route to that facility's
access point, plus the off-route leg, is within the threshold.

Network modes (walk, bike, ...) are computed on a road graph; until one is loaded the
straight-line distance can be stretched by a stated ``detour_factor``.
"""

from __future__ import annotations

import functools
import html
import logging
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo._metric import (
    check_pair,
    nearest_geodesic,
    resolve_type,
    select_for_type,
    threshold_for,
    wgs84_points,
)
from geo._places import points_in_areas, route_distances
from geo.errors import ValidationError, check_positive
from geo.network.modes import STRAIGHT, load_travel_modes

if TYPE_CHECKING:
    import folium
    from matplotlib.axes import Axes

log = logging.getLogger(__name__)

RESULT_COLUMNS = ("nearest_id", "distance_m", "covered")


def nearest_facility(
    facilities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest facility (positional index) and straight-line metres for every demand row.

    The WGS84 geodesic nearest and its geodesic metres, at any extent
    (:func:`geo._metric.nearest_geodesic`). Returns ``(-1, inf)`` for every row when
    there are no facilities.
    """
    crs_in = check_pair(facilities, demand)
    return nearest_geodesic(*wgs84_points(facilities, demand, crs_in))


def coverage(
    facilities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    facility_type: str | None = None,
    mode: str | None = None,
    threshold_m: float | None = None,
    detour_factor: float = 1.0,
    groups: list[str] | tuple[str, ...] | None = None,
    registry: dict | None = None,
    threshold_s: float | None = None,
    network=None,
    max_snap_m: float | None = None,
    modes=None,
) -> gpd.GeoDataFrame:
    """Nearest facility, distance and coverage for every demand row.

    Parameters
    ----------
    facilities : GeoDataFrame
        Facility points with an ``id`` column (and ``type`` when ``facility_type`` is
        used), as returned by :func:`geo.load_facilities`.
    demand : GeoDataFrame
        Demand points with ``weight`` (and ``group``), as from :func:`geo.load_demand`.
    facility_type : str, optional
        Registry key. Keeps only facilities of that type and demand of the group the type
        serves, and supplies the default threshold and rule.
    mode : str, optional
        ``"straight"``, or a network mode of ``modes`` (shipped: ``walk``, ``bike``,
        ``ebike``, ``car``, ``truck``), which needs ``network``. Default: the type's mode
        when a network is given (``walk`` without a type), else ``"straight"``.
    threshold_m : float, optional
        Distance that counts as covered; defaults to the type's ``threshold_m``.
    detour_factor : float
        Multiplies straight-line distances (>= 1), a stated stand-in for road distance
        when no network is loaded. Recorded in ``result.attrs["method"]``.
    groups : sequence of str, optional
        Demand groups to keep (overrides the type's group).
    registry : dict, optional
        Facility-type registry; default the shipped one.
    threshold_s : float, optional
        Network modes: travel time that counts as covered, seconds; defaults to the
        type's ``threshold_s``.
    network : geo.network.RoadNetwork, optional
        Road network (:func:`geo.load_network`) for the network modes. Nearest facility by
        travel time from one multi-source search; ``distance_m`` is then metres along the
        fastest route, and ``time_s``, ``snap_m`` (the off-road leg) and ``off_network``
        (farther than ``max_snap_m`` from a usable road: not covered, and warned about)
        are added. A route-rule type is measured by network time like any other.
    max_snap_m : float, optional
        Network modes: farthest a point may be from a usable road (default from
        ``travel_modes.toml``).
    modes : path or geo.network.TravelModes, optional
        The travel-mode file naming the network modes and their speeds (default: the
        shipped ``travel_modes.toml``).

    Returns
    -------
    GeoDataFrame
        The kept demand rows (same index and columns) plus ``nearest_id`` (categorical
        over the facility ids; missing when no facility is reachable), ``distance_m``
        (float) and ``covered`` (bool). ``attrs`` records the facility type, mode,
        threshold and method.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> fac = gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(500_000, 3_300_000)],
    ...                        crs=32651)
    >>> dem = gpd.GeoDataFrame({"weight": [5.0, 7.0]},
    ...     geometry=[Point(500_300, 3_300_400), Point(502_000, 3_300_000)], crs=32651)
    >>> res = coverage(fac, dem, threshold_m=1000)
    >>> res["distance_m"].round(1).tolist(), res["covered"].tolist()
    ([500.2, 2000.8], [True, False])
    """
    from geo import scale  # a dask_geopandas frame of demand runs partitioned (geo/scale.py)

    if scale.is_dask(demand):
        return scale.coverage(
            facilities, demand, facility_type=facility_type, mode=mode,
            threshold_m=threshold_m, detour_factor=detour_factor, groups=groups,
            registry=registry, threshold_s=threshold_s, network=network, max_snap_m=max_snap_m,
            modes=modes,
        )  # fmt: skip
    crs_in = check_pair(facilities, demand)
    ftype = resolve_type(facility_type, registry)
    travel_modes = load_travel_modes(modes)
    network_modes = travel_modes.names
    if mode is None:
        mode = STRAIGHT
        if network is not None:
            mode = ftype.mode if ftype is not None and ftype.mode in network_modes else "walk"
    if network is not None and mode in network_modes:
        return _network_coverage(
            facilities,
            demand,
            ftype,
            groups,
            travel_modes.get(mode),
            threshold_s,
            network,
            max_snap_m,
        )
    if mode != STRAIGHT:
        if mode in network_modes:
            raise ValidationError(
                f"mode={mode!r} needs a road network, and none is loaded; use "
                f"mode='straight' (optionally with detour_factor=1.3) until one is"
            )
        raise ValidationError(
            f"mode={mode!r} is not known; use {STRAIGHT!r} or one of "
            f"{', '.join(map(repr, network_modes))} (the travel-mode file's modes)"
        )
    if not (isinstance(detour_factor, int | float) and detour_factor >= 1.0):
        raise ValidationError(f"detour_factor must be a number >= 1, got {detour_factor!r}")

    facilities, demand, fac_ids = select_for_type(facilities, demand, ftype, groups)
    threshold_m = threshold_for(ftype, threshold_m)

    fac_ll, dem_ll = wgs84_points(facilities, demand, crs_in)
    route_rule = ftype is not None and ftype.rule == "route"
    offroute_m = float(ftype.max_offroute_m or threshold_m) if route_rule else np.inf
    nearest = np.full(len(demand), -1, dtype=np.int64)
    dist = np.full(len(demand), np.nan)
    on_route = np.zeros(len(demand), dtype=bool)
    if route_rule and "route_id" in demand.columns:
        rid = demand["route_id"]
        on_route = (rid.notna() & (rid.astype(str) != "")).to_numpy()
    if on_route.any():
        nearest[on_route], dist[on_route] = route_distances(
            fac_ll,
            dem_ll[on_route],
            demand["route_id"].astype(str).to_numpy()[on_route],
            demand["route_pos_m"].to_numpy(dtype="float64")[on_route],
            max_offroute_m=offroute_m,
        )
    off = ~on_route
    if off.any():
        n_o, d_o = nearest_geodesic(fac_ll, dem_ll[off] if on_route.any() else dem_ll)
        if route_rule:  # points off any route: reached within the off-route limit
            n_o = np.where(d_o <= offroute_m, n_o, -1)
        nearest[off], dist[off] = n_o, d_o
    dist[nearest < 0] = np.nan
    if detour_factor != 1.0:
        dist *= detour_factor

    out = demand.copy()
    # Categorical: a code per row into the facility ids (-1: none reachable). Building it is
    # O(n) integer work, where an object column of a million strings is not.
    out["nearest_id"] = pd.Categorical.from_codes(nearest, categories=pd.Index(fac_ids))
    out["distance_m"] = dist
    out["covered"] = np.nan_to_num(dist, nan=np.inf) <= threshold_m
    method = "straight-line distance"
    if route_rule:
        method = f"distance along freight routes (facility within {offroute_m:g} m of the route)"
    if detour_factor != 1.0:
        method += f" x {detour_factor:g} detour factor (no road network loaded)"
    out.attrs = {
        "facility_type": ftype.key if ftype else None,
        "mode": mode,
        "threshold_m": float(threshold_m),
        "detour_factor": float(detour_factor),
        "method": method,
        "n_facilities": len(facilities),
        "facility_ids": list(fac_ids),
    }
    return out


def _network_coverage(facilities, demand, ftype, groups, mode, threshold_s, network, max_snap_m):
    """The network branch of :func:`coverage`: travel time on a road network."""
    from geo.network import network_coverage

    facilities, demand, fac_ids = select_for_type(facilities, demand, ftype, groups)
    if threshold_s is None:
        if ftype is None or ftype.threshold_s is None:
            raise ValidationError(
                "network modes need a travel-time threshold: give threshold_s= (seconds), "
                "or a facility_type whose registry entry has threshold_s"
            )
        threshold_s = float(ftype.threshold_s)
    threshold_s = check_positive(threshold_s, "threshold_s", "seconds")
    res = network_coverage(facilities, demand, network, mode=mode, max_snap_m=max_snap_m)
    mode = mode.name
    out = demand.copy()
    out["nearest_id"] = pd.Categorical.from_codes(res.nearest, categories=pd.Index(fac_ids))
    out["distance_m"] = res.distance_m
    out["covered"] = res.time_s <= threshold_s
    out["time_s"] = np.where(np.isfinite(res.time_s), res.time_s, np.nan)
    out["snap_m"] = res.snap_m
    out["off_network"] = res.off_network
    out.attrs = {
        "facility_type": ftype.key if ftype else None,
        "mode": mode,
        "threshold_m": float("nan"),
        "threshold_s": float(threshold_s),
        "detour_factor": 1.0,
        "method": f"travel time {mode} on the road network ({network.source or 'in memory'})",
        "n_facilities": len(facilities),
        "facility_ids": list(fac_ids),
        "off_network": int(res.off_network.sum()),
    }
    return out


# --------------------------------------------------------------------------- summary
@dataclass
class CoverageSummary:
    """Coverage of one facility type: overall, per area, per facility, and the gaps.

    Attributes
    ----------
    facility_type, mode, threshold_m, method
        What was measured and how.
    people_total, people_covered, people_uncovered : float
        Weighted people.
    covered_share : float
        ``people_covered / people_total`` (NaN when there is no demand).
    by_area : DataFrame
        One row per area: ``area_id``, ``name``, ``level``, ``people``, ``covered``,
        ``uncovered``, ``covered_share``; sorted by ``uncovered``, worst first.
    loads : DataFrame
        One row per facility: ``id``, ``people_nearest`` (people for whom it is the nearest
        facility), ``people_covered`` (of those, within the threshold), ``capacity`` and
        ``load_ratio`` (people_covered / capacity) where the capacity is known.
    gaps : GeoDataFrame
        Uncovered people aggregated to H3 cells (``h3``, ``people``, hexagon geometry),
        ranked by people left out.
    """

    facility_type: str | None
    mode: str
    threshold_m: float
    method: str
    n_facilities: int
    people_total: float
    people_covered: float
    covered_share: float
    by_area: pd.DataFrame
    loads: pd.DataFrame
    gaps: gpd.GeoDataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def people_uncovered(self) -> float:
        return self.people_total - self.people_covered

    def to_dict(self, *, top: int | None = 5) -> dict[str, Any]:
        """A JSON-ready dict: the headline figures, then the areas (worst first), the
        facilities' loads and the gap cells, each cut to ``top`` rows (``None``: all).

        The one serialisation of a summary: the CLI's ``--json``, the web API and the
        notebooks all print this.
        """

        def num(x: float, nd: int = 1) -> float | None:
            x = float(x)
            return round(x, nd) if math.isfinite(x) else None

        worst = self.by_area if top is None else self.by_area.head(top)
        loads = self.loads if top is None else self.loads.head(top)
        gaps = self.gaps if top is None else self.gaps.head(top)
        centroids = gaps.geometry.representative_point() if len(gaps) else gaps.geometry
        out: dict[str, Any] = {
            "facility_type": self.facility_type,
            "mode": self.mode,
            "method": self.method,
            "threshold_m": None if math.isnan(self.threshold_m) else self.threshold_m,
            **({"threshold_s": self.extra["threshold_s"]} if "threshold_s" in self.extra else {}),
            "facilities": self.n_facilities,
            "people_total": round(self.people_total, 1),
            "people_covered": round(self.people_covered, 1),
            "people_uncovered": round(self.people_uncovered, 1),
            "covered_share": num(self.covered_share, 4),
            "areas": [
                {
                    "area_id": str(r.area_id),
                    "name": str(r.name),
                    "level": str(r.level),
                    "people": num(r.people),
                    "covered": num(r.covered),
                    "uncovered": num(r.uncovered),
                    "covered_share": num(r.covered_share, 4),
                }
                for r in worst.itertuples(index=False)
            ],
            "loads": [
                {
                    "id": str(r.id),
                    "people_nearest": num(r.people_nearest),
                    "people_covered": num(r.people_covered),
                    "capacity": num(r.capacity),
                    "load_ratio": num(r.load_ratio, 3),
                }
                for r in loads.itertuples(index=False)
            ],
            "gaps": [
                {
                    "h3": str(h),
                    "lon": round(float(p.x), 6),
                    "lat": round(float(p.y), 6),
                    "people": num(w),
                }
                for h, w, p in zip(gaps["h3"], gaps["people"], centroids, strict=True)
            ],
        }
        if "privacy" in self.extra:
            out["privacy"] = {
                k: (num(v) if isinstance(v, float) else v) for k, v in self.extra["privacy"].items()
            }
        return out

    # ------------------------------------------------------------ in a notebook
    def _title(self, *, english_only: bool = False) -> str:
        """The facility type's labels, e.g. "户外劳动者驿站 Outdoor workers' rest station"."""
        if not self.facility_type:
            return "coverage"
        from geo.errors import RegistryError
        from geo.layers import get_type

        try:
            t = get_type(self.facility_type)
        except RegistryError:  # a type from a custom registry
            return self.facility_type
        return t.label_en if english_only else f"{t.label_zh} {t.label_en}"

    def _threshold_text(self) -> str:
        if math.isnan(self.threshold_m) and "threshold_s" in self.extra:
            return f"{float(self.extra['threshold_s']) / 60:g} min"
        return f"{self.threshold_m:g} m"

    def _repr_html_(self, top: int = 5) -> str:
        """A compact table for Jupyter: the headline figures and the ``top`` worst areas.

        Every piece of text (names, labels, the method) goes through ``html.escape``.
        """
        esc = html.escape

        def share(x: float) -> str:
            return "n/a" if x is None or not math.isfinite(x) else f"{x:.1%}"

        head = [
            ("facilities", f"{self.n_facilities:,}"),
            ("measured by", f"{self.method}; covered within {self._threshold_text()}"),
            ("people", f"{self.people_total:,.0f}"),
            ("covered", f"{self.people_covered:,.0f} ({share(self.covered_share)})"),
            ("left out", f"{self.people_uncovered:,.0f}"),
            ("gap cells", f"{len(self.gaps):,} H3 cells with people left out"),
        ]
        parts = [
            '<div class="servicemap-summary">',
            f"<strong>{esc(self._title())}</strong>"
            + (f" <code>{esc(str(self.facility_type))}</code>" if self.facility_type else ""),
            "<table>",
            *(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in head),
            "</table>",
        ]
        worst = self.by_area.head(top)
        if len(worst):
            parts += [
                f"<p>worst {len(worst)} areas (most people left out)</p><table>",
                "<tr><th>area</th><th>level</th><th>people</th><th>left out</th>"
                "<th>covered</th></tr>",
            ]
            for r in worst.itertuples(index=False):
                cells = (
                    str(r.name),
                    str(r.level),
                    f"{float(r.people):,.0f}",
                    f"{float(r.uncovered):,.0f}",
                    share(float(r.covered_share)),
                )
                parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
            parts.append("</table>")
        parts.append("</div>")
        return "\n".join(parts)

    def explore(self, **kwargs: Any) -> folium.Map:
        """The gaps on a folium map: people left out per H3 cell, privacy floor applied.

        Built by :func:`geo.maps.gap_map`, the same code as the web app's maps; keyword
        arguments go to it (``boundary=``, ``areas=``, ``k=`` people floor, ``tiles=``,
        ``lang=``). Leaflet's files are inlined into the map (``assets=None``), so it
        shows in Jupyter and in saved HTML without a CDN; only the base-map tiles come
        from the internet (``tiles="none"`` draws without them).
        """
        from geo.maps import gap_map

        return gap_map(self.gaps, **kwargs)

    def plot(self, ax: Axes | None = None, *, level: str | None = None) -> Axes:
        """Bar chart of the covered share by area (matplotlib), best covered at the top.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; default a new figure.
        level : str, optional
            Area level to show (``"subdistrict"``, ``"industrial_community"``, ...);
            default ``"subdistrict"`` when there are sub-districts, else every area.

        Area names are drawn in a CJK font when one is installed (Noto Sans CJK,
        Source Han Sans, WenQuanYi, ...); without one the area ids are used.
        """
        import matplotlib.pyplot as plt

        df = self.by_area
        levels = set(df["level"].astype(str))
        if level is None and "subdistrict" in levels and len(levels) > 1:
            level = "subdistrict"
        if level is not None:
            df = df[df["level"].astype(str) == level]
        df = df[df["people"] > 0].sort_values(["covered_share", "area_id"])
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 1.2 + 0.32 * max(len(df), 1)))
        font = _cjk_font()
        names = df["name"].astype(str).tolist()
        if font is None and any(not n.isascii() for n in names):
            names = df["area_id"].astype(str).tolist()
        names = [n.replace("$", r"\$") for n in names]  # text, never mathtext
        family = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
        y = np.arange(len(df))
        ax.barh(y, df["covered_share"].to_numpy(dtype="float64") * 100, color="#2b6cb0")
        ax.set_yticks(y, names, fontfamily=family)
        if math.isfinite(self.covered_share):
            ax.axvline(self.covered_share * 100, color="#c53030", linestyle="--", linewidth=1)
            ax.text(
                self.covered_share * 100,
                len(df) - 0.4,
                f" overall {self.covered_share:.1%}",
                color="#c53030",
                va="bottom",
                fontsize="small",
            )
        ax.set_xlim(0, 100)
        ax.set_ylim(-0.6, len(df) - 0.4 + 0.8)
        ax.set_xlabel(f"people covered within {self._threshold_text()}, %")
        title = self._title(english_only=font is None).replace("$", r"\$")
        ax.set_title(title, fontfamily=family)
        return ax


_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Noto Serif CJK SC",
    "Noto Serif CJK JP",
)
_CJK_FILES = re.compile(r"cjk|wqy|wenquanyi|sourcehan|simhei|msyh|pingfang", re.IGNORECASE)


@functools.cache
def _cjk_font() -> str | None:
    """A font family matplotlib can draw Chinese with, or None.

    matplotlib caches its font list the first time it runs, so a font installed later
    (``fonts-noto-cjk``) is missing from it: such files are added from the system folders.
    """
    from matplotlib import font_manager

    def known() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((f for f in _CJK_FAMILIES if f in names), None)

    found = known()
    if found is None:
        for path in font_manager.findSystemFonts():
            if _CJK_FILES.search(path.rsplit("/", 1)[-1]):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    log.debug("could not add font %s", path)
        found = known()
    return found


def _by_area(result: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None) -> pd.DataFrame:
    cols = ["area_id", "name", "level", "people", "covered", "uncovered", "covered_share"]
    if areas is None or len(areas) == 0 or len(result) == 0:
        return pd.DataFrame(columns=cols)
    a, pt_i, area_i = points_in_areas(result, areas)
    w = result["weight"].to_numpy(dtype="float64")[pt_i]
    c = result["covered"].to_numpy(dtype=bool)[pt_i]
    people = np.bincount(area_i, weights=w, minlength=len(a))
    covered = np.bincount(area_i, weights=np.where(c, w, 0.0), minlength=len(a))
    df = pd.DataFrame(
        {
            "area_id": a["id"].astype(str) if "id" in a.columns else a.index.astype(str),
            "name": a["name"] if "name" in a.columns else "",
            "level": a["level"] if "level" in a.columns else "",
            "people": people,
            "covered": covered,
        }
    )
    df["uncovered"] = df["people"] - df["covered"]
    with np.errstate(invalid="ignore", divide="ignore"):
        df["covered_share"] = np.where(df["people"] > 0, df["covered"] / df["people"], np.nan)
    return df.sort_values(["uncovered", "people"], ascending=[False, False]).reset_index(drop=True)


def _loads(result: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame | None) -> pd.DataFrame:
    ids = pd.Index(result.attrs.get("facility_ids", []), dtype=object)
    if facilities is not None:
        ids = pd.Index(facilities["id"].astype(str))
        if result.attrs.get("facility_type") and "type" in facilities.columns:
            ids = pd.Index(
                facilities.loc[facilities["type"] == result.attrs["facility_type"], "id"].astype(
                    str
                )
            )
    w = result["weight"].astype("float64")
    near = w.groupby(result["nearest_id"]).sum()
    cov = w[result["covered"]].groupby(result.loc[result["covered"], "nearest_id"]).sum()
    df = pd.DataFrame({"id": ids})
    df["people_nearest"] = df["id"].map(near).fillna(0.0).to_numpy(dtype="float64")
    df["people_covered"] = df["id"].map(cov).fillna(0.0).to_numpy(dtype="float64")
    cap = pd.Series(np.nan, index=df.index)
    if facilities is not None and "capacity" in facilities.columns:
        cap = df["id"].map(
            pd.Series(facilities["capacity"].to_numpy(), index=facilities["id"].astype(str))
        )
    df["capacity"] = cap.astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        df["load_ratio"] = df["people_covered"] / df["capacity"].where(df["capacity"] > 0)
    return df.sort_values("people_covered", ascending=False).reset_index(drop=True)


def _gaps(result: gpd.GeoDataFrame, resolution: int) -> gpd.GeoDataFrame:
    from geo.demand import to_h3

    # only what the grid needs is copied (taking 1,000,000 rows of text costs 0.15 s)
    left = ~result["covered"].to_numpy(dtype=bool) & (result["weight"].to_numpy() > 0)
    unc = result[["weight", result.geometry.name]][left]
    if len(unc) == 0:
        return gpd.GeoDataFrame(
            {"h3": pd.Series([], dtype=object), "people": pd.Series([], dtype="float64")},
            geometry=gpd.GeoSeries([], crs="EPSG:4326"),
        )
    unc = unc.to_crs(4326) if not CRS.from_user_input(unc.crs).equals(CRS(4326)) else unc
    cells = to_h3(unc, resolution=resolution, by=())
    cells = cells.rename(columns={"weight": "people"})
    return cells.sort_values("people", ascending=False).reset_index(drop=True)


def coverage_summary(
    result: gpd.GeoDataFrame,
    areas: gpd.GeoDataFrame | None = None,
    *,
    facilities: gpd.GeoDataFrame | None = None,
    gap_resolution: int = 8,
) -> CoverageSummary:
    """Summarise a :func:`coverage` result: overall, per area, per facility, and the gaps.

    Parameters
    ----------
    result : GeoDataFrame
        The output of :func:`coverage`.
    areas : GeoDataFrame, optional
        Sub-districts / industrial communities (``id``, ``name``, ``level``) to summarise by.
    facilities : GeoDataFrame, optional
        The facility layer, for each facility's capacity in ``loads``.
    gap_resolution : int
        H3 resolution of the gap cells (8: cells of about 0.74 km2).
    """
    from geo import scale  # a lazy (Dask) result is summarised partition by partition

    if scale.is_dask(result):
        return scale.coverage_summary(
            result, areas, facilities=facilities, gap_resolution=gap_resolution
        )  # a dask.delayed CoverageSummary
    missing = [c for c in (*RESULT_COLUMNS, "weight") if c not in result.columns]
    if missing:
        raise ValidationError(f"result lacks columns {missing!r}; pass the output of coverage()")
    w = result["weight"].to_numpy(dtype="float64")
    covered = result["covered"].to_numpy(dtype=bool)
    total = float(w.sum())
    people_covered = float(w[covered].sum())
    return CoverageSummary(
        facility_type=result.attrs.get("facility_type"),
        mode=result.attrs.get("mode", STRAIGHT),
        threshold_m=float(result.attrs.get("threshold_m", float("nan"))),
        method=result.attrs.get("method", ""),
        n_facilities=int(result.attrs.get("n_facilities", 0)),
        people_total=total,
        people_covered=people_covered,
        covered_share=people_covered / total if total > 0 else float("nan"),
        by_area=_by_area(result, areas),
        loads=_loads(result, facilities),
        gaps=_gaps(result, gap_resolution),
        extra={k: result.attrs[k] for k in ("threshold_s", "off_network") if k in result.attrs},
    )


__all__ = ["CoverageSummary", "coverage", "coverage_summary", "nearest_facility"]
