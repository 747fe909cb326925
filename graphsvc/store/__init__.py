"""Storage backends behind one interface, ``GraphStore``."""

from __future__ import annotations

from graphsvc.config import Settings
from graphsvc.errors import InputError
from graphsvc.store.base import GraphStore, IngestFileRecord, LoadResult, StoreBusy

__all__ = ["GraphStore", "IngestFileRecord", "LoadResult", "StoreBusy", "open_store"]


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
