"""Storage backends behind one interface, ``GraphStore``."""

from __future__ import annotations

import sys

from graphsvc.config import Settings
from graphsvc.errors import InputError, StoreError
from graphsvc.store.base import GraphStore, IngestFileRecord, LoadResult, StoreBusy

__all__ = ["GraphStore", "IngestFileRecord", "LoadResult", "StoreBusy", "open_store", "store_error_of"]


def open_store(settings: Settings, *, read_only: bool = False) -> GraphStore:
    """Open the store the settings name; backends are imported only when chosen."""
    if settings.backend == "embedded":
        from graphsvc.store.embedded import EmbeddedStore

        return EmbeddedStore(settings.home, memory_limit=settings.memory_limit, read_only=read_only)
    if settings.backend == "neo4j":
        from graphsvc.store.neo4j import Neo4jStore

        if not settings.neo4j_uri or settings.neo4j_password is None:
            raise InputError("GRAPHSVC_BACKEND=neo4j needs NEO4J_URI and NEO4J_PASSWORD (and NEO4J_USER if not neo4j)")
        return Neo4jStore(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password.get_secret_value(),
                          settings.home)
    raise InputError(f"unknown backend {settings.backend!r}")


def store_error_of(exc: BaseException) -> StoreError | None:
    """``exc`` as the ``StoreError`` it means when a store's server went away in the middle of a command
    (Neo4j's driver raises its own errors then, past its retries), else None. The driver's module is
    looked up, not imported: a command that never opened Neo4j has none of its errors.

    >>> store_error_of(ValueError("x")) is None
    True
    """
    exceptions = sys.modules.get("neo4j.exceptions")
    if exceptions is not None and isinstance(exc, (exceptions.ServiceUnavailable, exceptions.SessionExpired)):
        return StoreError(f"lost the connection to Neo4j ({exc}); run the command again once it answers: "
                          "loading and detection are safe to repeat (与 Neo4j 的连接中断，恢复后重新运行即可)")
    return None
