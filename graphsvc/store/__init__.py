"""Storage backends behind one interface, ``GraphStore``."""

from __future__ import annotations

from graphsvc.config import Settings
from graphsvc.store.base import GraphStore, IngestFileRecord, LoadResult

__all__ = ["GraphStore", "IngestFileRecord", "LoadResult", "open_store"]


def open_store(settings: Settings, *, read_only: bool = False) -> GraphStore:
    """Open the store the settings name; backends are imported only when chosen."""
    if settings.backend == "embedded":
        from graphsvc.store.embedded import EmbeddedStore

        return EmbeddedStore(settings.home, memory_limit=settings.memory_limit, read_only=read_only)
    raise ValueError(f"unknown backend {settings.backend!r}")
