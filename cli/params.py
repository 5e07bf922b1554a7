"""Option types and the one error path of the ``servicemap`` command.

Every bad option value is refused by click before any work starts (a usage error, exit 2);
every error the library raises on purpose (:class:`geo.errors.ServicemapError`) and every
file the system cannot read is printed as ``Error: ...`` and exits 2, never a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import click

from geo.errors import ServicemapError

#: exit status of a command refused for its input (click uses 2 for usage errors too)
EXIT_BAD_INPUT = 2


class InputError(click.ClickException):
    """Bad input found while running (a file's rows, a registry entry): ``Error: ...``."""

    exit_code = EXIT_BAD_INPUT


class Number(click.ParamType):
    """A finite number within bounds, e.g. ``Number(lo=0, lo_open=True)`` for a distance."""

    name = "number"

    def __init__(
        self,
        *,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
        integer: bool = False,
        unit: str = "",
    ) -> None:
        self.lo, self.hi, self.lo_open, self.integer, self.unit = lo, hi, lo_open, integer, unit
        if integer:
            self.name = "integer"

    def convert(self, value, param, ctx):
        if isinstance(value, int | float) and not isinstance(value, bool):
            x = value
        else:
            text = str(value).strip()
            try:
                x = int(text) if self.integer else float(text)
            except ValueError:
                kind = "a whole number" if self.integer else "a number"
                self.fail(f"{value!r} is not {kind}", param, ctx)
        if not math.isfinite(x):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        unit = f" {self.unit}" if self.unit else ""
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            bound = "greater than" if self.lo_open else "at least"
            self.fail(f"{value!r} must be {bound} {self.lo:g}{unit}", param, ctx)
        if self.hi is not None and x > self.hi:
            self.fail(f"{value!r} must be at most {self.hi:g}{unit}", param, ctx)
        return x


METRES = Number(lo=0, lo_open=True, unit="m")
SECONDS = Number(lo=0, lo_open=True, unit="s")
COUNT = Number(lo=1, integer=True)
SHARE = Number(lo=0, hi=1, lo_open=True)
DETOUR = Number(lo=1)
PORT = Number(lo=1, hi=65535, integer=True)


class LazyChoice(click.Choice):
    """A :class:`click.Choice` whose choices come from ``load()``, called when first needed
    (validating a value, writing the help): the command starts without importing the
    module that holds them (e.g. ``geo.maps`` and Folium for ``--tiles``)."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load
        self._loaded: tuple[str, ...] | None = None
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        if self._loaded is None:
            self._loaded = tuple(self._load())
        return self._loaded

    @choices.setter
    def choices(self, _given: Iterable[str]) -> None:  # Choice.__init__ sets ()
        pass


class LazyHelpOption(click.Option):
    """A :class:`click.Option` whose help text is ``help_from()``, written when the help
    is shown: the choices' descriptions can live in a module the command imports only
    when it runs (``geo.siting`` and SciPy for ``site --model``)."""

    def __init__(self, *args: Any, help_from: Callable[[], str], **kwargs: Any) -> None:
        self._help_from = help_from
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def help(self) -> str:
        return self._help_from()

    @help.setter
    def help(self, _given: str | None) -> None:  # Option.__init__ sets it
        pass


class Group(click.Group):
    """The command group: library errors and unreadable files become ``Error: ...``."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ServicemapError as exc:
            raise InputError(str(exc)) from exc
        except OSError as exc:  # a file that exists but cannot be read, a full disk
            raise InputError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from exc
