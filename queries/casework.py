"""Investigators' decisions on rings and reported leads (举报线索), kept across detection runs.

- A **disposition** (confirmed / dismissed / referred_to_police, with a note) belongs to a
  ring id; ring ids survive re-detection (``GraphStore.save_rings``). A dismissed ring stays
  dismissed on later runs *unless its evidence grows*: then it is reopened, with the reason.
- A **tip** names a person, phone, card, institution... It is idempotent by the client's
  key, resolved at once to the nodes it touches (a phone's users, a card's holder and
  users), and every ring touching one of them has its priority raised.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from graphsvc import vocab
from graphsvc.errors import Conflict, InputError, NotFound
from graphsvc.network import node_key
from graphsvc.store import GraphStore

__all__ = ["DECISIONS", "set_disposition", "effective_disposition", "submit_tip", "TipConflict", "priority",
           "TIP_TYPES"]

DECISIONS = tuple(status for status in vocab.DISPOSITIONS if status != "open")
"""What an investigator may decide on a ring; ``open`` is where none is in force."""
TIP_TYPES = tuple(t for t in vocab.NODE_TYPES if t != "address")
"""What a tip may name: every node type but an address."""
_TIP_REACH = 50
"""How many of a tipped node's neighbours (persons, cards) the tip also touches."""


class TipConflict(Conflict):
    """The client key was used before for a different tip."""


def set_disposition(store: GraphStore, ring: dict[str, Any], status: str, note: str, *, by: str) -> dict[str, Any]:
    """Record a decision on ``ring``; the evidence it was taken on is kept for the reopen rule."""
    if status not in DECISIONS:
        raise InputError(f"status must be one of {', '.join(DECISIONS)}", zh=f"处置状态须为 {'、'.join(DECISIONS)} 之一")
    with store.record_update():
        previous = store.get_record("disposition", ring["id"])
        # What the ring was when decided, with each decision: the monthly report counts a decision in
        # its month even after later runs no longer find the ring, and names its pattern and regions
        # as they were then.
        decided = {"pattern": ring.get("pattern"), "regions": ring.get("regions") or [],
                   "fund_amount": ring.get("fund_amount")}
        entry = {"status": status, "note": note, "by": by,
                 "at": datetime.now().astimezone().isoformat(timespec="seconds"),
                 "evidence": len(ring["evidence"]), "persons": ring["persons"], "ring": decided}
        history = (previous or {}).get("history", []) + [entry]
        record = {"ring_id": ring["id"], **entry, "history": history}
        store.put_record("disposition", ring["id"], record)
    return record


def effective_disposition(record: dict[str, Any] | None, ring: dict[str, Any]) -> dict[str, Any]:
    """The disposition to show for ``ring`` now.

    >>> ring = {"id": "R-000001", "evidence": [1, 2, 3], "persons": 4}
    >>> effective_disposition({"status": "dismissed", "evidence": 3, "persons": 4}, ring)["status"]
    'dismissed'
    >>> reopened = effective_disposition({"status": "dismissed", "evidence": 2, "persons": 4}, ring)
    >>> reopened["status"], reopened["reopened"]
    ('open', 'evidence grew from 2 to 3 facts since it was dismissed')
    """
    if record is None:
        return {"status": "open"}
    shown = {k: record.get(k) for k in ("status", "note", "by", "at")}
    if record["status"] == "dismissed":
        grew = []
        if len(ring["evidence"]) > record.get("evidence", 0):
            grew.append(f"evidence grew from {record['evidence']} to {len(ring['evidence'])} facts")
        if ring["persons"] > record.get("persons", 0):
            grew.append(f"persons grew from {record['persons']} to {ring['persons']}")
        if grew:
            return {**shown, "status": "open", "dismissed_before": True,
                    "reopened": " and ".join(grew) + " since it was dismissed"}
    return shown


def submit_tip(store: GraphStore, client_key: str, node_type: str, node_id: str, note: str, *,
               by: str) -> tuple[dict[str, Any], bool]:
    """Store a tip once per client key; returns (tip, created). Raises ``TipConflict`` when the key
    was used for another tip, ``LookupError`` when nothing in the graph has that node."""
    content = {"type": node_type, "id": node_id, "note": note}
    with store.record_update():  # two requests with one key at once: one stores it, the other finds it
        existing = store.get_record("tip", client_key)
        if existing is not None:
            if {k: existing[k] for k in content} != content:
                # Says nothing of the stored tip: whoever reuses a key must not learn what it was used for.
                raise TipConflict("this client key was already used for another tip; use a new key",
                                  zh="此客户端键已用于另一条线索；请换一个新键")
            return existing, False
        return _new_tip(store, client_key, content, by=by), True


def _new_tip(store: GraphStore, client_key: str, content: dict[str, str], *, by: str) -> dict[str, Any]:
    node_type, node_id = content["type"], content["id"]
    key = node_key(node_type, node_id)
    if store.entity(node_type, node_id) is None:
        raise NotFound(f"no such {node_type} in the graph", zh=f"图中没有该{vocab.NODE_TYPES[node_type].zh}")
    touched = {key}
    for e in store.network_edges(key, _TIP_REACH).edges:
        other = e.target if e.source == key else e.source
        if other.startswith(("person:", "card:")):
            touched.add(other)
    tip = {"client_key": client_key, **content, "by": by,
           "at": datetime.now().astimezone().isoformat(timespec="seconds"), "touches": sorted(touched)}
    store.put_record("tip", client_key, tip)
    return tip


def priority(score: float, tips: int) -> float:
    """Score raised by tips: each tip touching the ring halves the remaining doubt.

    >>> priority(0.6, 0), priority(0.6, 1), priority(0.6, 2)
    (0.6, 0.8, 0.9)
    """
    return round(1.0 - (1.0 - score) * 0.5 ** tips, 4)
