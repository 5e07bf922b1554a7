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


class FileNotFound(ServicemapError, FileNotFoundError):
    """An input file (a layer, the registry, a demo, a network) does not exist.

    Also a :class:`FileNotFoundError`, so ``except FileNotFoundError`` keeps working.
    """

    status = 404


class RegistryError(ServicemapError, ValueError):
    """The facility-type registry is malformed or a type key is unknown."""

    status = 400


__all__ = ["CRSError", "FileNotFound", "RegistryError", "ServicemapError", "ValidationError"]
