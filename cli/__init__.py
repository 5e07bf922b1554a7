"""The ``servicemap`` command line (outside ``geo``, so the library never imports Flask).

``servicemap --help`` lists the commands; :func:`cli.main.main` is the entry point.
"""

from cli.main import main

__all__ = ["main"]
