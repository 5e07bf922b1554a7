"""Work over a long array in chunks, on a thread per core (private).

For numpy arithmetic and for libraries that release the GIL while they work (PROJ,
shapely's predicates, pykdtree, SciPy's KD-tree, h3ronpy). On the 2-core machine, for
1,000,000 points (2026-12-02): ``nearest_geodesic`` to 44 facilities 0.88 -> 0.41 s,
``h3_cells`` 0.55 -> 0.31 s. Every element is computed alone, so the answer is the same
as in one piece.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: elements per chunk: enough to amortise a thread hand-off, small enough to balance
CHUNK = 250_000


def in_chunks(n: int, work: Callable[[slice], T], chunk: int = CHUNK) -> list[T]:
    """``[work(slice) for each chunk of range(n)]``, in order; on parallel threads (at
    most one per core, four at most) when there is more than one chunk."""
    chunks = [slice(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)] or [slice(0, 0)]
    if len(chunks) == 1:
        return [work(chunks[0])]
    with ThreadPoolExecutor(max_workers=min(len(chunks), os.cpu_count() or 1, 4)) as pool:
        return list(pool.map(work, chunks))
