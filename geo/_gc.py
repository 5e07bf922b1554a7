"""Making a million Python objects without the cyclic garbage collector in the way (private).

A loader or a store read creates one shapely geometry per feature, and calamine or a
database cursor one Python object per cell. Every 700 new container objects CPython
3.11 runs a young-generation collection, and as the survivors pile up it runs full
collections that walk every object in the process: creating 1,000,000 points took
1.0-1.5 s in a process holding 2,000,000 other objects, 0.4 s with the collector paused
(a /tmp script, 2026-12-02; ``benchmarks/bench_loading.py``'s 1M-row CSV load went from
1.9 s to 1.2 s; docs/decisions.md, "A million Python objects").

:func:`gc_paused` pauses it for the length of a bulk step. On the way out the objects
made are moved straight to the oldest generation (``gc.freeze`` then ``gc.unfreeze``),
so they are not walked again by the young collections that would otherwise follow.
Reference counting goes on as ever: garbage without cycles is freed at once; cycles made
inside the step wait for the next full collection.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0  # nested or concurrent pauses: the collector comes back after the last one
_was_enabled = True  # whether it was on when the first of them began


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the block runs (usable as a decorator).

    Nested and concurrent uses are counted: the collector is enabled again when the last
    one ends, and only if it was enabled when the first began.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.freeze()  # everything now tracked: to the permanent generation ...
                gc.unfreeze()  # ... and back into the oldest, without being walked
                if _was_enabled:
                    gc.enable()
