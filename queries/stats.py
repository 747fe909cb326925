"""Counts of the loaded graph: nodes and relationships per type, rejects, biggest hubs."""

from __future__ import annotations

from typing import Any

from graphsvc.store import GraphStore
from queries.rings import RingBook

__all__ = ["graph_stats", "ledger_stats"]


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


def ledger_stats(store: GraphStore, book: RingBook) -> dict[str, Any]:
    """Counts of the graph and rings, and the monthly ledger by region.

    The fund notices report, per region and month, the suspicious institutions and persons
    and the fund amounts involved; ``ledger`` gives those figures over the current rings'
    claims, ``rings`` the queue by pattern and disposition.
    """
    snap = book.snapshot()
    patterns: dict[str, int] = {}
    for ring in snap.rings:
        patterns[ring["pattern"]] = patterns.get(ring["pattern"], 0) + 1
    _, decisions = store.list_records("disposition", limit=1_000_000)
    current = {d["ring_id"]: d["status"] for d in decisions if d["ring_id"] in snap.by_id}
    dispositions = {status: sum(1 for s in current.values() if s == status) for status in sorted(set(current.values()))}
    dispositions["open"] = len(snap.rings) - len(current)
    ledger = store.ledger()
    return {
        "backend": store.backend_name,
        "nodes": store.node_counts(),
        "rings": {"total": len(snap.rings), "run_id": snap.run_id, "by_pattern": patterns,
                  "by_disposition": dispositions,
                  "fund_amount": round(sum(r["fund_amount"] for r in snap.rings), 2),
                  "persons": len({m["id"] for r in snap.rings for m in r["members"] if m["type"] == "person"})},
        "ledger": ledger,
    }
