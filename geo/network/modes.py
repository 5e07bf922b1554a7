"""Travel modes: speeds by road class and access rules, read from ``travel_modes.toml``.

A mode turns the tags of every road segment into two travel times, one per direction
(``inf`` where the mode may not go). Everything is vectorised over the *categories* of a
tag (a few dozen distinct values), then broadcast to the segments by their codes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from geo.errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from geo.network.graph import RoadNetwork

#: The travel-mode file shipped with servicemap.
DEFAULT_MODES_PATH: Path = Path(__file__).parent.parent / "data" / "travel_modes.toml"
#: The one mode measured without a road network (straight-line distance).
STRAIGHT = "straight"
_ONEWAY_FWD = frozenset({"yes", "true", "1"})
_ONEWAY_BWD = frozenset({"-1", "reverse"})


@dataclass(frozen=True)
class NetworkSettings:
    """The ``[network]`` table: what is loaded, and how points join the network."""

    exclude_highway: tuple[str, ...] = ()
    implied_oneway: tuple[str, ...] = ("motorway",)
    roundabout_junctions: tuple[str, ...] = ("roundabout", "circular")
    access_speed_kmh: float = 4.8
    max_snap_m: float = 300.0


@dataclass(frozen=True)
class TravelMode:
    """One travel mode (a table of ``travel_modes.toml``).

    Attributes
    ----------
    name : str
        ``walk``, ``bike``, ``ebike``, ``car`` or ``truck`` (or a district's own).
    speeds_kmh : dict
        Speed by ``highway`` class; a class not listed is not used unless an access tag
        in ``allow`` says so (then at ``default_kmh``).
    oneway : bool
        Whether one-way streets bind (vehicles).
    access_tags : tuple of str
        Permission tags, most specific first; the first one a way carries decides.
    """

    name: str
    label: str
    speeds_kmh: dict[str, float]
    oneway: bool
    oneway_tags: tuple[str, ...]
    access_tags: tuple[str, ...]
    deny: tuple[str, ...]
    allow: tuple[str, ...]
    forbidden: tuple[str, ...]
    default_kmh: float
    settings: NetworkSettings = field(default_factory=NetworkSettings)

    @property
    def fingerprint(self) -> str:
        """A short hash of every rule and speed: the key of per-mode caches."""
        d = {k: v for k, v in self.__dict__.items() if k != "settings"}
        d["settings"] = self.settings.__dict__
        blob = json.dumps(d, sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def max_speed_kmh(self) -> float:
        return max([*self.speeds_kmh.values(), self.default_kmh])


def _str_tuple(table: dict, key: str, where: str) -> tuple[str, ...]:
    val = table.get(key, [])
    if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
        raise ValidationError(f"{where}: {key!r} must be a list of strings, got {val!r}")
    return tuple(val)


def _positive(val: Any, where: str) -> float:
    if isinstance(val, bool) or not isinstance(val, int | float) or not val > 0:
        raise ValidationError(f"{where} must be a positive number, got {val!r}")
    return float(val)


def _parse_modes(data: dict, source: str) -> tuple[NetworkSettings, dict[str, TravelMode]]:
    net = data.get("network", {})
    settings = NetworkSettings(
        exclude_highway=_str_tuple(net, "exclude_highway", f"{source} [network]"),
        implied_oneway=_str_tuple(net, "implied_oneway", f"{source} [network]"),
        roundabout_junctions=_str_tuple(net, "roundabout_junctions", f"{source} [network]"),
        access_speed_kmh=_positive(
            net.get("access_speed_kmh", 4.8), f"{source} [network] access_speed_kmh"
        ),
        max_snap_m=_positive(net.get("max_snap_m", 300.0), f"{source} [network] max_snap_m"),
    )
    modes: dict[str, TravelMode] = {}
    for name, t in data.items():
        if name == "network" or not isinstance(t, dict):
            continue
        where = f"{source} [{name}]"
        speeds = t.get("speeds_kmh")
        if not isinstance(speeds, dict) or not speeds:
            raise ValidationError(f"{where}: needs a [{name}.speeds_kmh] table of class = km/h")
        modes[name] = TravelMode(
            name=name,
            label=str(t.get("label", name)),
            speeds_kmh={str(k): _positive(v, f"{where} speeds_kmh.{k}") for k, v in speeds.items()},
            oneway=bool(t.get("oneway", False)),
            oneway_tags=_str_tuple(t, "oneway_tags", where),
            access_tags=_str_tuple(t, "access_tags", where),
            deny=_str_tuple(t, "deny", where),
            allow=_str_tuple(t, "allow", where),
            forbidden=_str_tuple(t, "forbidden", where),
            default_kmh=_positive(t.get("default_kmh", 4.8), f"{where} default_kmh"),
            settings=settings,
        )
    return settings, modes


class TravelModes(NamedTuple):
    """A travel-mode file: the ``[network]`` settings and the modes by name, in file order.

    The one list of network modes: the facility-type registry, coverage and the CLI read
    the names from here (``names``); ``"straight"`` (:data:`STRAIGHT`) is the one mode
    that needs no network. Unpacks as ``settings, modes``.
    """

    settings: NetworkSettings
    modes: dict[str, TravelMode]

    @property
    def names(self) -> tuple[str, ...]:
        """The network modes' names, in file order."""
        return tuple(self.modes)

    def get(self, mode: str | TravelMode) -> TravelMode:
        """A :class:`TravelMode` by name (or the mode itself), raising for an unknown name."""
        if isinstance(mode, TravelMode):
            return mode
        if not isinstance(mode, str):
            raise TypeError(f"mode must be a mode name or a TravelMode, got {type(mode).__name__}")
        if mode not in self.modes:
            raise ValidationError(
                f"mode={mode!r} is not known; use one of {', '.join(map(repr, self.modes))} "
                "(or add it to the travel-mode file)"
            )
        return self.modes[mode]


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> TravelModes:
    with open(path, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"{path}: not valid TOML: {exc}") from exc
    return TravelModes(*_parse_modes(data, path))


def load_travel_modes(path: str | os.PathLike | TravelModes | None = None) -> TravelModes:
    """Read a travel-mode file: ``path``, else the one shipped with servicemap.

    A :class:`TravelModes` is passed through, so every function taking ``modes=`` takes a
    path, the loaded object or None. The environment is not read here: the CLI and the web
    app read ``SERVICEMAP_TRAVEL_MODES`` and pass the file on.

    Examples
    --------
    >>> settings, modes = load_travel_modes()
    >>> sorted(modes)
    ['bike', 'car', 'ebike', 'truck', 'walk']
    >>> modes["walk"].speeds_kmh["residential"], "motorway" in modes["walk"].forbidden
    (4.8, True)
    >>> load_travel_modes().names
    ('walk', 'bike', 'ebike', 'car', 'truck')
    """
    if isinstance(path, TravelModes):
        return path
    p = Path(path or DEFAULT_MODES_PATH).expanduser()
    if not p.is_file():
        raise ValidationError(f"travel-mode file {str(p)!r} does not exist")
    return _load_cached(str(p.resolve()), p.stat().st_mtime)


def get_mode(
    mode: str | TravelMode, modes: str | os.PathLike | TravelModes | None = None
) -> TravelMode:
    """A :class:`TravelMode` by name (or the mode itself), raising for an unknown name.

    ``modes``: the travel-mode file (a path or :class:`TravelModes`; default the shipped).
    """
    if isinstance(mode, TravelMode):
        return mode
    return load_travel_modes(modes).get(mode)


# --------------------------------------------------------------------------- rules
def _first_present(net: RoadNetwork, tags: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per segment, the value of the first tag of ``tags`` it carries.

    Returns ``(which, value)``: the position in ``tags`` of the deciding tag (-1: none) and
    its value (object array, None where no tag).
    """
    m = net.n_edges
    which = np.full(m, -1, dtype=np.int8)
    value = np.full(m, None, dtype=object)
    for i, tag in enumerate(tags):
        if tag not in net.tags:
            continue
        codes, cats = net.tags[tag]
        has = (codes >= 0) & (which < 0)
        which[has] = i
        value[has] = cats.astype(object)[codes[has]]
    return which, value


def _category_map(net: RoadNetwork, tag: str, fn, default, dtype) -> np.ndarray:
    """Apply ``fn`` to each category of ``tag`` and broadcast to the segments."""
    if tag not in net.tags:
        return np.full(net.n_edges, default, dtype=dtype)
    codes, cats = net.tags[tag]
    per_cat = np.array([fn(str(c)) for c in cats] + [default], dtype=dtype)
    return per_cat[codes]  # code -1 picks the trailing default


def edge_times(net: RoadNetwork, mode: str | TravelMode) -> tuple[np.ndarray, np.ndarray]:
    """Travel time in seconds along each segment, forward (u->v) and backward (v->u).

    ``inf`` where the mode may not use the segment in that direction: classes without a
    speed (unless an access tag allows them), ``forbidden`` classes, ways closed by the
    first access tag they carry, and the wrong way of a one-way street for modes that obey
    one-way rules.

    Examples
    --------
    >>> from geo.network import network_from_segments
    >>> net = network_from_segments(
    ...     [121.80, 121.801, 121.802], [29.90, 29.90, 29.90], [(0, 1), (1, 2)],
    ...     tags={"highway": ["motorway", "residential"], "oneway": [None, "yes"]})
    >>> fwd, bwd = edge_times(net, "walk")
    >>> bool(np.isinf(fwd[0])), round(float(fwd[1] / bwd[1]), 6)
    (True, 1.0)
    >>> fwd, bwd = edge_times(net, "car")
    >>> bool(np.isfinite(fwd[1])), bool(np.isinf(bwd[1]))  # one-way for cars
    (True, True)
    """
    mode = get_mode(mode)
    s = mode.settings
    speed = _category_map(
        net, "highway", lambda c: mode.speeds_kmh.get(c, np.nan), np.nan, "float64"
    )
    forbidden = _category_map(net, "highway", lambda c: c in mode.forbidden, True, bool)
    deny, allow = set(mode.deny), set(mode.allow)
    which, value = _first_present(net, mode.access_tags)
    state = np.zeros(net.n_edges, dtype=np.int8)  # 0 unspecified, -1 denied, 1 allowed
    if (which >= 0).any():
        vals = value[which >= 0]
        uniq, inv = np.unique(vals.astype(str), return_inverse=True)
        code = np.array([-1 if u in deny else 1 if u in allow else 0 for u in uniq], dtype=np.int8)
        state[which >= 0] = code[inv]
    listed = np.isfinite(speed)
    usable = ~forbidden & (state != -1) & (listed | (state == 1))
    speed = np.where(listed, speed, mode.default_kmh)

    oneway = np.zeros(net.n_edges, dtype=np.int8)
    if mode.oneway:
        which, value = _first_present(net, mode.oneway_tags)
        tagged = which >= 0
        if tagged.any():
            vals = value[tagged].astype(str)
            oneway[tagged] = np.where(
                np.isin(vals, list(_ONEWAY_FWD)),
                1,
                np.where(np.isin(vals, list(_ONEWAY_BWD)), -1, 0),
            )
        implied = _category_map(net, "highway", lambda c: c in s.implied_oneway, False, bool)
        implied |= _category_map(
            net, "junction", lambda c: c in s.roundabout_junctions, False, bool
        )
        oneway[~tagged & implied] = 1
    with np.errstate(divide="ignore"):
        t = net.edge_length_m / (speed / 3.6)
    fwd = np.where(usable & (oneway != -1), t, np.inf)
    bwd = np.where(usable & (oneway != 1), t, np.inf)
    return fwd, bwd


def mode_times(net: RoadNetwork, mode: TravelMode) -> tuple[np.ndarray, np.ndarray]:
    """:func:`edge_times` of ``mode``, computed once per network and mode (cached)."""
    return net.cached(("times", mode.fingerprint), lambda: edge_times(net, mode))


def scaled_time(t: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``f * t`` with ``0 * inf = 0``: the time over a fraction ``f`` of a segment.

    No travel is needed at a node itself, even over a segment the mode may not use.

    Examples
    --------
    >>> scaled_time(np.array([10.0, np.inf, np.inf]), np.array([0.5, 0.0, 0.5])).tolist()
    [5.0, 0.0, inf]
    """
    with np.errstate(invalid="ignore"):
        return np.where(f == 0.0, 0.0, t * f)


def network_to_networkx(network: RoadNetwork, mode: str | TravelMode = "walk"):
    """A ``networkx.DiGraph`` of the network in one mode (arcs in the worker's direction).

    Arc attributes ``time_s`` and ``length_m``; parallel arcs keep the fastest. Node
    attributes ``x``/``y`` in ``network.crs``. For checks and peer comparisons.
    """
    import networkx as nx

    fwd, bwd = mode_times(network, get_mode(mode))
    g = nx.DiGraph()
    g.add_nodes_from(
        (i, {"x": float(x), "y": float(y)})
        for i, (x, y) in enumerate(zip(network.node_x, network.node_y, strict=True))
    )
    for a, b, t, length in (
        *zip(network.edge_u, network.edge_v, fwd, network.edge_length_m, strict=True),
        *zip(network.edge_v, network.edge_u, bwd, network.edge_length_m, strict=True),
    ):
        if np.isfinite(t) and (not g.has_edge(a, b) or g[a][b]["time_s"] > t):
            g.add_edge(int(a), int(b), time_s=float(t), length_m=float(length))
    return g


__all__ = [
    "DEFAULT_MODES_PATH",
    "STRAIGHT",
    "NetworkSettings",
    "TravelMode",
    "TravelModes",
    "edge_times",
    "get_mode",
    "load_travel_modes",
    "mode_times",
    "network_to_networkx",
    "scaled_time",
]
