"""The weighted suspicion graph built from findings, and its communities.

Every finding becomes a node joined to each entity it names (persons, cards, phones,
devices, accounts, intermediaries, prescribers) by an edge weighted with the finding's
strength. Institutions are left out of the graph: a hospital that two gangs use would
otherwise tie them together; they come back as ring members through the findings.
Findings sharing persons or identifiers meet in the graph, and community detection cuts
weak ties between groups that chance joined.

Leiden was picked over Louvain because it guarantees connected communities. It runs on
igraph's own C implementation (``Graph.community_leiden``, modularity with a resolution):
on the 1M-person city's suspicion graph it finds as many communities as ``leidenalg``
(7,496), with the same quality figures against the ground truth, 30 times faster (0.046 s
against 1.36 s; ``bench/detect_benchmark.py``); networkx's Louvain (1.14 s) is the
benchmark's point of comparison.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence

import igraph as ig

from graphsvc.detect.finding import Finding

__all__ = ["suspicion_graph", "leiden_communities", "whole_small_components", "louvain_communities_networkx", "FINDING"]

FINDING = "finding"
"""Node type of the finding nodes."""

_NOT_IN_GRAPH = {"institution"}


def suspicion_graph(findings: Sequence[Finding], places: Collection[int] = ()) -> ig.Graph:
    """Build the graph: one node per finding and per entity, an edge per (finding, entity).

    Vertex attributes ``type`` and ``key`` (a finding's index, an entity's id); edge
    attribute ``weight``. The findings at ``places`` (``graphsvc.detect.rings.meeting_places``) have a
    node and no edge.

    Examples
    --------
    >>> f = Finding("shared_contact_phone", "", ("P1", "P2"), (("phone", "139"), ("institution", "H1")), 0.5, None)
    >>> g = suspicion_graph([f])
    >>> sorted(zip(g.vs["type"], g.vs["key"])), g.es["weight"]
    ([('finding', '0'), ('person', 'P1'), ('person', 'P2'), ('phone', '139')], [0.5, 0.5, 0.5])
    """
    index: dict[tuple[str, str], int] = {}
    edges: list[tuple[int, int]] = []
    weights: list[float] = []

    def node(kind: str, key: str) -> int:
        return index.setdefault((kind, key), len(index))

    for i, f in enumerate(findings):
        hub = node(FINDING, str(i))
        if i in places:
            continue  # a place where schemes met, as an institution is: it ties none of them together
        for entity in [("person", p) for p in f.persons] + [e for e in f.entities if e[0] not in _NOT_IN_GRAPH]:
            edges.append((hub, node(*entity)))
            weights.append(max(f.strength, 1e-6))
    graph = ig.Graph(n=len(index), edges=edges)
    keys = sorted(index, key=index.__getitem__)
    graph.vs["type"] = [k[0] for k in keys]
    graph.vs["key"] = [k[1] for k in keys]
    graph.es["weight"] = weights
    return graph


def leiden_communities(graph: ig.Graph, *, resolution: float = 1.0, seed: int = 42,
                       iterations: int = -1, objective: str = "modularity") -> list[list[int]]:
    """Leiden communities of a weighted graph (modularity, or CPM, with a resolution), as lists of vertex ids.

    Parameters
    ----------
    graph : igraph.Graph
        With edge attribute ``weight``.
    resolution : float
        Higher gives smaller communities. With CPM, the mean edge weight a community must keep
        among its pairs; CPM has no resolution limit, so small groups in a big graph stay apart.
    seed : int
        The same graph and seed give the same communities.
    iterations : int
        -1 iterates until the partition stops improving.
    objective : str
        ``"modularity"`` or ``"CPM"`` (constant Potts model).

    Returns
    -------
    list of lists of vertex ids, biggest first.

    Examples
    --------
    Two triangles joined by one weak edge are two communities:

    >>> g = ig.Graph(edges=[(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)])
    >>> g.es["weight"] = [1, 1, 1, 1, 1, 1, 0.1]
    >>> sorted(sorted(c) for c in leiden_communities(g))
    [[0, 1, 2], [3, 4, 5]]
    """
    if graph.vcount() == 0:
        return []
    # igraph draws from one process-wide generator: seed a private one for this call only.
    ig.set_random_number_generator(random.Random(seed))
    try:
        partition = graph.community_leiden(objective_function=objective, weights="weight",
                                           resolution=resolution, n_iterations=iterations)
    finally:
        ig.set_random_number_generator(random)
    return sorted((list(c) for c in partition), key=len, reverse=True)


def whole_small_components(graph: ig.Graph, communities: Sequence[Sequence[int]], min_persons: int,
                           min_strength: float) -> list[list[int]]:
    """``communities``, with each connected component of the graph too small to hold two rings (fewer
    than ``2 * min_persons`` persons), or whose persons one strong finding names all of, cut along its
    weak ties instead: its groups are those its edges of weight ``min_strength`` or more join; biggest
    first.

    Modularity judges a cut against the whole graph: among a city's findings it keeps a gang of four
    sharing one device whole, but in a small export (a county's month, a handful of findings) it cuts
    the same gang into pieces under ``min_persons``, and the gang is no ring. It cuts a star too: six
    dead persons' cards that went through one cashier's till are six findings of one card each and
    the one finding of the till, which Leiden split four and two. A strong finding naming every person
    of its component says they belong together; organisers, not modularity, then say whether several
    schemes meet there (``graphsvc.detect.rings.split_by_organiser``). Keeping such a component whole
    would drag in whoever a weak finding ties to it (a gang member's number on two elderly neighbours'
    records): its strong findings say who belongs together.

    >>> g = ig.Graph(edges=[(0, 1), (0, 2), (0, 3), (4, 3), (4, 5)])   # a strong finding of three, a weak one
    >>> g.vs["type"] = ["finding", "person", "person", "person", "finding", "person"]
    >>> g.es["weight"] = [0.7, 0.7, 0.7, 0.2, 0.2]
    >>> whole_small_components(g, [[0, 1, 2], [3, 4, 5]], min_persons=3, min_strength=0.3)
    [[0, 1, 2, 3], [4], [5]]
    """
    component_of = graph.connected_components().membership
    types = graph.vs["type"]
    persons: dict[int, int] = {}
    for v, kind in enumerate(types):
        if kind == "person":
            persons[component_of[v]] = persons.get(component_of[v], 0) + 1
    small = {c for c, n in persons.items() if n < 2 * min_persons} | (set(component_of) - set(persons))
    strong_edges = [i for i, w in enumerate(graph.es["weight"]) if w >= min_strength]
    named: dict[int, int] = {}  # strong finding → the persons it names
    edges = graph.get_edgelist()
    for i in strong_edges:
        a, b = edges[i]
        finding, person = (a, b) if types[a] == FINDING else (b, a)  # undirected: either order
        if types[finding] == FINDING and types[person] == "person":
            named[finding] = named.get(finding, 0) + 1
    small |= {component_of[f] for f, n in named.items() if n == persons[component_of[f]]}
    kept = [list(c) for c in communities if component_of[c[0]] not in small]  # a Leiden community lies in one
    strong = graph.subgraph_edges(strong_edges, delete_vertices=False)
    groups: dict[int, list[int]] = {}
    for v, group in enumerate(strong.connected_components().membership):
        if component_of[v] in small:
            groups.setdefault(group, []).append(v)
    return sorted(kept + list(groups.values()), key=lambda c: (-len(c), c[0]))


def louvain_communities_networkx(graph: ig.Graph, *, resolution: float = 1.0, seed: int = 42) -> list[list[int]]:
    """networkx's Louvain on the same graph: the benchmark's point of comparison.

    >>> g = ig.Graph(edges=[(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)])
    >>> g.es["weight"] = [1, 1, 1, 1, 1, 1, 0.1]
    >>> sorted(sorted(c) for c in louvain_communities_networkx(g))
    [[0, 1, 2], [3, 4, 5]]
    """
    import networkx as nx

    nx_graph: nx.Graph[int] = nx.Graph()
    nx_graph.add_nodes_from(range(graph.vcount()))
    nx_graph.add_weighted_edges_from((e.source, e.target, e["weight"]) for e in graph.es)
    communities = nx.community.louvain_communities(nx_graph, weight="weight", resolution=resolution, seed=seed)
    return sorted((sorted(c) for c in communities), key=len, reverse=True)
