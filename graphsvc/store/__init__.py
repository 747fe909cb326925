"""Storage backends behind one interface, ``GraphStore``."""

from __future__ import annotations

import sys

from graphsvc.config import Settings
from graphsvc.errors import InputError, StoreError
from graphsvc.store.base import GraphStore, IngestFileRecord, LoadResult, StoreBusy

__all__ = ["GraphStore", "IngestFileRecord", "LoadResult", "StoreBusy", "lost_connection_errors", "open_store",
           "store_error_of"]


def open_store(settings: Settings, *, read_only: bool = False) -> GraphStore:
    """Open the store the settings name; backends are imported only when chosen."""
    if settings.backend == "embedded":
        from graphsvc.store.embedded import EmbeddedStore

        return EmbeddedStore(settings.home, memory_limit=settings.memory_limit, read_only=read_only)
    if settings.backend == "neo4j":
        from graphsvc.store.neo4j import Neo4jStore

        if not settings.neo4j_uri or settings.neo4j_password is None:
            raise InputError("GRAPHSVC_BACKEND=neo4j needs NEO4J_URI and NEO4J_PASSWORD (and NEO4J_USER if not neo4j)",
                             zh="GRAPHSVC_BACKEND=neo4j 需要设置 NEO4J_URI 和 NEO4J_PASSWORD（用户不是 neo4j 时还需 NEO4J_USER）")
        return Neo4jStore(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password.get_secret_value(),
                          settings.home)
    raise InputError(f"unknown backend {settings.backend!r}", zh=f"未知的存储后端 {settings.backend!r}")


def lost_connection_errors() -> tuple[type[Exception], ...]:
    """The errors by which a store's driver says its server went away in the middle of a command,
    past its retries: Neo4j's. Its module is looked up, not imported: while it is not loaded, no
    store could have raised them."""
    exceptions = sys.modules.get("neo4j.exceptions")
    return () if exceptions is None else (exceptions.ServiceUnavailable, exceptions.SessionExpired)


def store_error_of(exc: BaseException) -> StoreError | None:
    """``exc`` as the ``StoreError`` it means when it is one of ``lost_connection_errors``, else None.

    >>> store_error_of(ValueError("x")) is None
    True
    """
    if not isinstance(exc, lost_connection_errors()):
        return None
    if isinstance(exc, sys.modules["neo4j.exceptions"].IncompleteCommit):  # a kind of ServiceUnavailable
        return StoreError(f"lost the connection to Neo4j while a write was committing ({exc}): it may or may not "
                          "be stored; look before running the command again",
                          zh="提交时与 Neo4j 的连接中断，写入可能已保存也可能没有：请先核实再重新运行")
    return StoreError(f"lost the connection to Neo4j ({exc}); run the command again once it answers: "
                      "loading and detection are safe to repeat",
                      zh="与 Neo4j 的连接中断：恢复后重新运行即可，导入和检测可以安全重复")
