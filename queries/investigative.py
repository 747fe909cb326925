"""Questions investigators ask of one entity, answered the same way on every backend.

The API asks them (``GET /entities/person/{id}/shared-identifiers``, ``…/device/{id}/persons``,
``…/institution/{id}/co-admitted``); each answers None for an entity the graph does not hold.
Each has a Cypher twin in ``queries/cypher/`` for running straight against a Neo4j
deployment (Neo4j Browser, cypher-shell); the tests check the two agree.
"""

from __future__ import annotations

from typing import Any

from graphsvc.store import GraphStore

__all__ = ["shared_identifiers", "persons_behind_device", "co_admitted_pairs"]

_IDENTIFIERS = ("phone:", "address:", "device:", "account:")
_WIDE = 100_000
"""Neighbours read per node: all of them (these questions are about one entity, not a hub's crowd)."""


def shared_identifiers(store: GraphStore, person_id: str) -> list[dict[str, Any]] | None:
    """Phones, addresses, devices and accounts the person uses that other persons use too.

    Returns ``[{"identifier": "phone:…", "persons": [ids]}]``, most persons first
    (``shared_identifiers.cypher``).
    """
    person = f"person:{person_id}"
    if not store.network_nodes([person]):
        return None
    found = []
    for e in store.network_edges(person, _WIDE).edges:
        identifier = e.target if e.source == person else e.source
        if not identifier.startswith(_IDENTIFIERS):
            continue
        others = sorted({k.partition(":")[2] for x in store.network_edges(identifier, _WIDE).edges
                         for k in (x.source, x.target) if k.startswith("person:") and k != person})
        if others:
            found.append({"identifier": identifier, "persons": others})
    unique = {f["identifier"]: f for f in found}
    return sorted(unique.values(), key=lambda f: (-len(f["persons"]), f["identifier"]))


def persons_behind_device(store: GraphStore, device_id: str) -> list[dict[str, Any]] | None:
    """Holders of e-vouchers on the device and persons whose cards it scanned
    (``persons_behind_device.cypher``): ``[{"person", "how", "claims"}]``."""
    device = f"device:{device_id}"
    if not store.network_nodes([device]):
        return None
    rows = set()
    for e in store.network_edges(device, _WIDE).edges:
        if e.type == "ON_DEVICE":
            for held in store.network_edges(e.source, _WIDE).edges:
                if held.type == "HELD_BY" and held.source == e.source:
                    rows.add((held.target.partition(":")[2], "card_on_device", 0))
        elif e.type == "SCANNED_ON":
            rows.add((e.source.partition(":")[2], "scanned", e.claims))
    return [{"person": p, "how": how, "claims": claims} for p, how, claims in sorted(rows)]


def co_admitted_pairs(store: GraphStore, institution_id: str, *,
                      min_times: int = 2) -> list[dict[str, Any]] | None:
    """Pairs of persons admitted to the institution on the same day on ``min_times`` or more days
    (``co_admitted_pairs.cypher``): ``[{"a", "b", "times", "days"}]``, most often first."""
    if not store.network_nodes([f"institution:{institution_id}"]):
        return None
    con = store.analysis_connection()
    try:
        rows = con.execute("""
            WITH stays AS (SELECT DISTINCT person_id, start_time::DATE AS day FROM settlements
                           WHERE institution_id = ? AND kind = 'inpatient')
            SELECT a.person_id AS a, b.person_id AS b, count(*) AS times, list(a.day::VARCHAR ORDER BY a.day) AS days
            FROM stays a JOIN stays b ON a.day = b.day AND a.person_id < b.person_id
            GROUP BY ALL HAVING count(*) >= ? ORDER BY times DESC, a, b""", [institution_id, min_times]).fetchall()
    finally:
        con.close()
    return [{"a": a, "b": b, "times": times, "days": days} for a, b, times, days in rows]
