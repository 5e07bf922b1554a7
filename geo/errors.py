"""Exceptions raised by servicemap.

Every error the library raises on purpose derives from :class:`ServicemapError`, so a
caller (the CLI, the web app) can catch them all in one place. The subclasses also derive
from the built-in exception a Python user expects (``ValueError`` for a bad value), and
carry an HTTP ``status`` for the web layer.
"""

from __future__ import annotations

import math


class ServicemapError(Exception):
    """Base class of every error servicemap raises on purpose."""

    status = 500


class CRSError(ServicemapError, ValueError):
    """A layer has no CRS, or two layers disagree, or a datum name is unknown."""

    status = 400


class ValidationError(ServicemapError, ValueError):
    """An input file or frame holds bad data.

    The message names the file, the row (1-based, as a spreadsheet user counts, with the
    header as row 1 for tabular files) and the field, and shows the offending value.
    ``problems`` lists every problem found, not only the first.
    """

    status = 400

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [message])


class FileNotFound(ServicemapError, FileNotFoundError):
    """An input file (a layer, the registry, a demo, a network) does not exist.

    Also a :class:`FileNotFoundError`, so ``except FileNotFoundError`` keeps working.
    """

    status = 404


class RegistryError(ServicemapError, ValueError):
    """The facility-type registry is malformed or a type key is unknown."""

    status = 400


class ConflictError(ServicemapError):
    """Someone saved the same thing in between: the save is refused, nothing is lost.

    Carries both sides so the caller can show them and merge: ``expected_version`` (the
    version the editor started from), ``current_version`` and ``current`` (what is
    stored now; None when it was removed) and ``proposed`` (what the editor sent).
    """

    status = 409

    def __init__(
        self,
        message: str,
        *,
        feature_id: str | None = None,
        expected_version: int | None = None,
        current_version: int | None = None,
        current: dict | None = None,
        proposed: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.feature_id = feature_id
        self.expected_version = expected_version
        self.current_version = current_version
        self.current = current
        self.proposed = proposed


def check_positive(value, name: str, unit: str = "") -> float:
    """``value`` as a float when it is a finite number > 0, else a ValidationError naming
    ``name`` (the one positive-number check of the library: thresholds, radii, breaks).

    >>> check_positive(500, "threshold_m", "metres")
    500.0
    >>> check_positive(-5, "threshold_m", "metres")
    Traceback (most recent call last):
    ...
    geo.errors.ValidationError: threshold_m must be a positive number of metres, got -5
    """
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        try:
            import numpy as np

            ok = isinstance(value, np.integer | np.floating)
        except ImportError:  # pragma: no cover
            ok = False
    if ok and math.isfinite(float(value)) and float(value) > 0:
        return float(value)
    of = f" of {unit}" if unit else ""
    raise ValidationError(f"{name} must be a positive number{of}, got {value!r}")


__all__ = [
    "CRSError",
    "ConflictError",
    "FileNotFound",
    "RegistryError",
    "ServicemapError",
    "ValidationError",
    "check_positive",
]
