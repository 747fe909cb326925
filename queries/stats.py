"""Counts of the loaded graph: nodes and relationships per type, rejects, biggest hubs."""

from __future__ import annotations

from typing import Any

from graphsvc.store import GraphStore

__all__ = ["graph_stats"]


def graph_stats(store: GraphStore, *, top: int = 5) -> dict[str, Any]:
    """What is loaded, what was rejected, and which identifiers link the most persons.

    A phone or address linking hundreds of persons is either a care home, a dormitory or a
    broker: the hub list is where an investigator's first look goes.
    """
    log = store.ingest_log()
    runs = sorted({r.run_id for r in log})
    return {
        "backend": store.backend_name,
        "nodes": store.node_counts(),
        "relationships": store.relationship_counts(),
        "ingest": {
            "runs": len(runs),
            "rows_read": sum(r.read for r in log),
            "loaded": sum(r.loaded for r in log),
            "unchanged": sum(r.unchanged for r in log),
            "rejected": sum(r.rejected for r in log),
            "rejects_files": sorted({r.rejects_path for r in log if r.rejects_path}),
        },
        "hubs": store.identifier_hubs(top),
    }
