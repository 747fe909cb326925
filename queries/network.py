"""Ego networks, shortest paths and subgraphs over the investigative network.

Written once against ``GraphStore.network_edges`` / ``network_nodes``, so every backend
answers them the same way. A *hub* (a node with more than ``hub_degree`` edges: a big
hospital, a dormitory's address, a pharmacy's phone) is shown but not expanded: expanding a
hospital would bury a 2-hop answer under its thousands of patients, and a path through it
says nothing about collusion.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, SerializationInfo, field_serializer

from graphsvc.network import NETWORK_RELATIONSHIPS, Edge, Neighbourhood, split_key
from graphsvc.store import GraphStore
from queries.masking import NodeKey, NodeType, masker_in

__all__ = ["ego_network", "shortest_paths", "subgraph", "graph_json", "Graph", "GraphNode", "GraphEdge",
           "DEFAULT_HUB_DEGREE"]

DEFAULT_HUB_DEGREE = 200


def ego_network(store: GraphStore, key: str, *, hops: int = 2, limit: int = 200,
                hub_degree: int = DEFAULT_HUB_DEGREE) -> dict[str, Any] | None:
    """Nodes within ``hops`` of ``key`` (at most ``limit``), heaviest edges first; None if unknown.

    Returns ``{"nodes": {key: (degree, label)}, "edges": [Edge], "hubs": [keys not expanded],
    "truncated": bool}``; ``truncated`` is True when the cap left neighbours out.
    """
    info = store.network_nodes([key])
    if not info:
        return None
    nodes: dict[str, tuple[int, str | None]] = dict(info)
    edges: dict[tuple[str, str, str], Edge] = {}
    hubs: list[str] = []
    truncated = False
    frontier = [key]
    for _ in range(hops):
        reached: list[str] = []
        expand: list[str] = []
        for node in frontier:
            (expand if node == key or nodes[node][0] <= hub_degree else hubs).append(node)
        found = store.network_neighbourhoods(expand, max(limit, hub_degree))
        for node in expand:
            degree = nodes[node][0]
            around = found.get(node, Neighbourhood(0, [], {}))
            truncated |= len(around.edges) < degree
            for e in around.edges:
                other = e.target if e.source == node else e.source
                if other not in nodes:
                    if len(nodes) >= limit:
                        truncated = True
                        continue
                    nodes[other] = around.neighbours[other]
                    reached.append(other)
                edges[(e.source, e.type, e.target)] = e
        frontier = reached
    return {"nodes": nodes, "edges": list(edges.values()), "hubs": hubs, "truncated": truncated}


def shortest_paths(store: GraphStore, source: str, target: str, *, max_hops: int = 4, max_paths: int = 5,
                   hub_degree: int = DEFAULT_HUB_DEGREE, max_visited: int = 50_000) -> dict[str, Any] | None:
    """The shortest paths (up to ``max_paths``) from ``source`` to ``target`` not passing through hubs.

    Returns ``{"paths": [[key, ...]], "edges": [Edge], "nodes": {key: (degree, label)},
    "exhausted": bool}`` (``exhausted``: the search stopped at ``max_visited`` nodes), or None
    when an endpoint is unknown.
    """
    ends = store.network_nodes([source, target])
    if len(ends) < 2:
        return None
    parents: dict[str, list[tuple[str, Edge]]] = {source: []}
    depth = {source: 0}
    queue = deque([source])
    degrees = {source: ends[source][0]}
    exhausted = False
    while queue:
        node = queue.popleft()
        if target in depth and depth[node] >= depth[target]:
            break
        if depth[node] >= max_hops:
            continue
        if node != source and degrees[node] > hub_degree:
            continue
        around = store.network_edges(node, degrees[node])
        for e in around.edges:
            other = e.target if e.source == node else e.source
            if other not in depth:
                if len(depth) >= max_visited:
                    exhausted = True
                    continue
                depth[other] = depth[node] + 1
                parents[other] = [(node, e)]
                degrees[other] = around.neighbours[other][0]
                queue.append(other)
            elif depth[other] == depth[node] + 1 and all(p != node for p, _ in parents[other]):
                parents[other].append((node, e))  # one parent once, though two edges may join them
    paths: list[list[str]] = []
    used: dict[tuple[str, str, str], Edge] = {}
    if target in depth:
        stack: list[tuple[str, list[str]]] = [(target, [target])]
        while stack and len(paths) < max_paths:
            node, path = stack.pop()
            if node == source:
                paths.append(path[::-1])
                continue
            for parent, _ in parents[node]:
                stack.append((parent, path + [parent]))
        for path in paths:
            for a, b in zip(path, path[1:]):
                e = next(e for p, e in parents[b] if p == a)
                used[(e.source, e.type, e.target)] = e
    on_paths = sorted({k for path in paths for k in path})
    return {"paths": paths, "edges": list(used.values()), "nodes": store.network_nodes(on_paths),
            "exhausted": exhausted}


def subgraph(store: GraphStore, keys: list[str], *, hub_degree: int = DEFAULT_HUB_DEGREE,
             linking_identifiers: bool = True) -> dict[str, Any]:
    """The edges among ``keys``, plus (optionally) phones, addresses, devices and accounts that
    link two or more of them without being listed: what a ring's picture needs."""
    wanted = set(keys)
    nodes = store.network_nodes(keys)
    edges: dict[tuple[str, str, str], Edge] = {}
    touching: dict[str, list[Edge]] = {}
    for key, (degree, _) in nodes.items():
        if degree > hub_degree:
            continue  # its edges to the others are found from their side
        for e in store.network_edges(key, degree).edges:
            other = e.target if e.source == key else e.source
            if other in wanted:
                edges[(e.source, e.type, e.target)] = e
            elif linking_identifiers and split_key(other)[0] in ("phone", "address", "device", "account"):
                touching.setdefault(other, []).append(e)
    extra = {k: es for k, es in touching.items() if len({e.source if e.target == k else e.target for e in es}) >= 2}
    for es in extra.values():
        for e in es:
            edges[(e.source, e.type, e.target)] = e
    return {"nodes": {**nodes, **store.network_nodes(list(extra))}, "edges": list(edges.values()),
            "linking": sorted(extra)}


class GraphNode(BaseModel):
    """A node as a graph view wants it: ``id`` is its key (Cytoscape's element id), ``entity_id`` its id."""

    id: NodeKey
    type: NodeType
    entity_id: str
    label: str | None
    """The person's or institution's name, the phone's or address's value...; the entity id when it has none."""
    degree: int
    hub: bool
    """More edges than the hub degree: shown, not expanded."""
    member: bool | None = None
    """In a ring's picture: whether the node is a member (else it links members: a shared phone)."""

    @field_serializer("entity_id")
    def _shown_id(self, value: str, info: SerializationInfo) -> str:
        return masker_in(info).node_id(self.type, value)

    @field_serializer("label")
    def _shown_label(self, value: str | None, info: SerializationInfo) -> str:
        masker = masker_in(info)
        return masker.label(self.type, value) or masker.node_id(self.type, self.entity_id)


class GraphEdge(BaseModel):
    """A network edge; for claim edges ``claims`` counts the folded settlements (0 for registered links)."""

    source: NodeKey
    target: NodeKey
    type: str
    label: str
    label_zh: str
    claims: int
    fund_amount: float
    first: str | None
    last: str | None


class Graph(BaseModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]


def graph_json(nodes: dict[str, tuple[int, str | None]], edges: list[Edge], *,
               hubs: Iterable[str] = (), members: set[str] | None = None) -> Graph:
    """Nodes and edges as a graph view wants them (Cytoscape-style ``source``/``target``); their
    personal ids and labels are masked when the graph is serialised for a role."""
    hub_set = set(hubs)
    out_nodes = []
    # Ordered by a digest of each key, not the key: a phone's or account's key is the clear number, and
    # an analyst who sees them masked would read their order (which of two hidden numbers is lower).
    for key, (degree, label) in sorted(nodes.items(), key=lambda item: _opaque(item[0])):
        node_type, node_id = split_key(key)
        node = GraphNode(id=key, type=node_type, entity_id=node_id, label=label, degree=degree, hub=key in hub_set)
        if members is not None:
            node.member = key in members
        out_nodes.append(node)
    out_edges = []
    for e in sorted(edges, key=lambda e: (_opaque(e.source), e.type, _opaque(e.target))):
        english, chinese = NETWORK_RELATIONSHIPS[e.type]
        out_edges.append(GraphEdge(
            source=e.source, target=e.target, type=e.type, label=f"{english} ×{e.claims}" if e.claims > 1 else english,
            label_zh=f"{chinese} ×{e.claims}" if e.claims > 1 else chinese, claims=e.claims,
            fund_amount=e.fund_amount, first=e.first, last=e.last))
    return Graph(nodes=out_nodes, edges=out_edges)


def _opaque(key: str) -> bytes:
    """A stable order that says nothing of the order of the keys themselves."""
    return hashlib.blake2b(key.encode(), digest_size=8).digest()
