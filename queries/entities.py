"""One entity's profile, its ego network, paths between two entities, and search.

Answers name nodes and show attributes as stored: the result models type each personal field
(``queries.masking``), and masking for the caller's role happens when they are serialised.
"""

from __future__ import annotations

from typing import Any

from graphsvc.network import node_key, split_key
from graphsvc.store import GraphStore
from graphsvc.vocab import FLAGS
from queries.masking import MASKED_NODE_TYPES, MaskedIdentifier, Masker
from queries.network import DEFAULT_HUB_DEGREE, ego_network, graph_json, shortest_paths
from queries.rings import RingBook

__all__ = ["entity_profile", "entity_claims", "entity_network", "paths_between", "search_entities"]



def _flag(kind: str, **about: Any) -> dict[str, Any]:
    term = FLAGS[kind]
    return {"kind": kind, "zh": term.zh, "en": term.en, **about}


def entity_profile(store: GraphStore, book: RingBook, node_type: str, node_id: str) -> dict[str, Any] | None:
    """Attributes, claim summary, rings and flags of one entity; None when the graph has no such node."""
    attributes = store.entity(node_type, node_id)
    if attributes is None:
        return None
    key = node_key(node_type, node_id)
    rings = book.rings_touching({key})
    flags = []
    if node_type == "person" and attributes.get("death_date"):
        flags.append(_flag("deceased", since=attributes["death_date"]))
    for ring in rings:
        for e in ring["evidence"]:
            if e["kind"] in FLAGS and any(x["type"] == node_type and x["id"] == node_id for x in e["entities"]):
                flags.append(_flag(e["kind"], ring_id=ring["id"]))
    nodes = store.network_nodes([key])
    degree = nodes[key][0] if key in nodes else 0
    return {"type": node_type, "id": node_id, "attributes": attributes,
            "claims": store.claim_summary(node_type, node_id), "degree": degree,
            "rings": [{"id": r["id"], "pattern": r["pattern"], "score": r["score"]} for r in rings],
            "flags": flags}


_CLAIM_NODES = (("person", "person", "person_id"), ("card", "card", "card_id"),
                 ("institution", "institution", "institution_id"), ("prescriber", "prescriber", "prescriber_id"),
                 ("contact_phone", "phone", "contact_phone"), ("device", "device", "device_id"),
                 ("account", "account", "payee_account"))
"""A claim's field naming a node, that node's type, and the settlement column holding its id."""


def entity_claims(store: GraphStore, node_type: str, node_id: str, *, page: int, size: int) -> dict[str, Any] | None:
    """One page of the claims naming an entity (``CLAIM_COLUMN_OF``), newest first, each naming the
    nodes it joins by their keys; None when the graph has no such node (an address names no claim: none)."""
    if store.entity(node_type, node_id) is None:
        return None
    total = store.claim_summary(node_type, node_id)["claims"]
    rows = store.claims_of(node_type, [node_id], offset=(page - 1) * size, limit=size)
    items = []
    for row in rows:
        item = {"settlement_id": row["settlement_id"], "kind": row["kind"], "start_time": row["start_time"],
                "end_time": row["end_time"], "total_amount": row["total_amount"], "fund_amount": row["fund_amount"],
                **{name: node_key(kind, row[column]) for name, kind, column in _CLAIM_NODES if row[column]}}
        if row["agent_id"]:
            item["agent"] = node_key("person" if row["agent_type"] == "person" else "intermediary", row["agent_id"])
        items.append(item)
    return {"type": node_type, "id": node_id, "total": total, "page": page, "size": size,
            "pages": (total + size - 1) // size, "items": items}


def entity_network(store: GraphStore, node_type: str, node_id: str, *, hops: int, limit: int,
                   hub_degree: int = DEFAULT_HUB_DEGREE) -> dict[str, Any] | None:
    """The ego network as nodes + edges, capped at ``limit`` nodes, hubs summarised not expanded."""
    found = ego_network(store, node_key(node_type, node_id), hops=hops, limit=limit, hub_degree=hub_degree)
    if found is None:
        return None
    graph = graph_json(found["nodes"], found["edges"], hubs=found["hubs"])
    hubs = [{"id": k, "degree": found["nodes"][k][0]} for k in found["hubs"]]
    return {"center": node_key(node_type, node_id), "hops": hops, "limit": limit, "truncated": found["truncated"],
            "hubs": hubs, "nodes": graph.nodes, "edges": graph.edges}


def paths_between(store: GraphStore, source: str, target: str, *, max_hops: int,
                  max_paths: int = 5, hub_degree: int = DEFAULT_HUB_DEGREE) -> dict[str, Any] | None:
    found = shortest_paths(store, source, target, max_hops=max_hops, max_paths=max_paths, hub_degree=hub_degree)
    if found is None:
        return None
    graph = graph_json(found["nodes"], found["edges"])
    return {"from": source, "to": target, "max_hops": max_hops,
            "hops": len(found["paths"][0]) - 1 if found["paths"] else None, "paths": found["paths"],
            "exhausted": found["exhausted"], "nodes": graph.nodes, "edges": graph.edges}


def search_entities(store: GraphStore, text: str, masker: Masker, *, limit: int) -> list[dict[str, Any]]:
    """Entities by name, phone, ID number, card, institution or prescriber code.

    A masked role searches only what it sees in clear (ids of persons, cards, devices,
    institutions, prescribers and intermediaries; institution and prescriber names) and the
    pseudonyms it was given: a personal value (phone, ID number, account, a person's name, a
    person id that is an ID number) finds nothing, whether or not the graph has it.
    """
    hits = store.search(text, limit) if not masker.active else _masked_search(store, text.strip(), masker, limit)
    return [{k: h[k] for k in ("type", "id", "label", "matched")} for h in hits]


_ID_TYPES = ("person", "card", "institution", "prescriber", "intermediary", "device")
_PUBLIC_NAMES = (("institution", "institutions", "institution_id"), ("prescriber", "prescribers", "prescriber_id"))


def _masked_search(store: GraphStore, text: str, masker: Masker, limit: int) -> list[dict[str, Any]]:
    """Hits by an id the role sees in clear or by a pseudonym it was given, found without reading
    any personal field (so a person's name or ID number cannot even crowd a public hit out of the answer)."""
    wanted = []
    for t in _ID_TYPES + MASKED_NODE_TYPES:
        try:
            wanted.append(node_key(t, masker.lookup_id(t, text)))
        except MaskedIdentifier:  # a clear value the role may not look up by: it finds nothing
            continue
    known = store.network_nodes(wanted)
    found: list[dict[str, Any]] = [{"type": split_key(k)[0], "id": split_key(k)[1], "label": known[k][1],
                                    "matched": "id"} for k in wanted if k in known]
    for hit in list(found):
        if hit["type"] == "phone":  # the phone's owners, as a clear search by phone gives them
            around = store.network_edges(node_key("phone", hit["id"]), 50)
            found += [{"type": split_key(e.source)[0], "id": split_key(e.source)[1],
                       "label": around.neighbours[e.source][1], "matched": "phone"}
                      for e in around.edges if e.type == "HAS_PHONE"]
    by_name: dict[str, list[dict[str, Any]]] = {"name": [], "name_prefix": [], "name_part": []}
    for node_type, table, key in _PUBLIC_NAMES:
        rows = store.rows(table).select([key, "name"]).to_pylist()
        for row in rows:
            name = row["name"] or ""
            matched = ("name" if name == text else "name_prefix" if name.startswith(text)
                       else "name_part" if text in name else None)
            if matched:
                by_name[matched].append({"type": node_type, "id": row[key], "label": name, "matched": matched})
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for hit in found + by_name["name"] + by_name["name_prefix"] + by_name["name_part"]:
        unique.setdefault((hit["type"], hit["id"]), hit)
    return list(unique.values())[:limit]
