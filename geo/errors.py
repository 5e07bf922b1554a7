"""Exceptions raised by servicemap.

Every error the library raises on purpose derives from :class:`ServicemapError`, so a
caller (the CLI, the web app) can catch them all in one place. The subclasses also derive
from the built-in exception a Python user expects (``ValueError`` for a bad value), and
carry an HTTP ``status`` for the web layer.
"""

from __future__ import annotations


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


__all__ = ["CRSError", "ConflictError", "RegistryError", "ServicemapError", "ValidationError"]
