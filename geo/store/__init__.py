"""The workspace store: layers with an append-only history, users and API tokens.

One interface, two backends: a GeoPackage file (SQLite in WAL mode; the default, no
server) or PostgreSQL + PostGIS (a ``postgresql://`` URL). See docs/store.md.
"""

from geo.store._store import (
    ROLES,
    Change,
    ChangeSummary,
    Store,
    Token,
    User,
    open_store,
)

__all__ = ["ROLES", "Change", "ChangeSummary", "Store", "Token", "User", "open_store"]
