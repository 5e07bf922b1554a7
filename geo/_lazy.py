"""Names of a package imported on first use (PEP 562).

A package's ``__init__`` lists where each public name lives; ``import geo`` or
``import geo.network.modes`` then costs only what is used (``geo.network``'s searches
pull in SciPy's sparse graphs and image filters, 0.5 s of start-up a straight-line
command never needs).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str, namespace: dict[str, Any], where: Mapping[str, str], public: list[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``where`` maps a name to its module.

    A submodule of the package (``geo.network.snap``) is found as an attribute too, as
    it would be after an eager import.
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # once imported, a plain module attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__
