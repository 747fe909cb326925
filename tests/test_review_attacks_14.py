"""Review attacks (round 14): the embedded and Neo4j stores given the same legal input answer differently.

- two persons who each act as the other's agent (代办人) with as many claims either way: the two
  HANDLED_BY edges between them tie on claims and far end, and a capped neighbourhood (the network
  view, a traversal's frontier) keeps one of them; the embedded index keeps the incoming one, Neo4j
  whichever its storage order yields, which changes from one load to the next, so the two stores
  (and two loads of one Neo4j) say "A handled B's claims" or "B handled A's claims" at random;
- a person recorded as the agent of their own claims (代办人 = 本人, common in real exports): the
  embedded index lists the one self-loop edge twice and counts it twice in the degree, Neo4j once;
- claims at the top of the amount range (DECIMAL(14,2)): a claim summary (the entity page's fund)
  is an exact decimal sum on the embedded store and a floating-point sum on Neo4j, which is off by
  cents once the total passes about 10^13.

Each test loads the same contract folder into both stores and states the backend-independent answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphsvc.config import Settings
from graphsvc.store import GraphStore, neo4j, open_store
from graphsvc.store.neo4j_server import Neo4jServer
from helpers.scenes import Scene
from ingest.pipeline import ingest_folder


def _on_both(tmp_path: Path, neo4j_server: Neo4jServer, scene: Scene, read: Any) -> tuple[Any, Any]:
    """``read(store)`` on the embedded store and on Neo4j, each loaded with ``scene``."""
    folder = scene.write_folder(tmp_path / "city")
    answers = []
    for settings in (Settings(home=tmp_path / "embedded"),
                     Settings(home=tmp_path / "neo4j", backend="neo4j", neo4j_uri=neo4j_server.uri,
                              neo4j_user=neo4j_server.user, neo4j_password=neo4j_server.password)):
        with open_store(settings) as store:
            if isinstance(store, neo4j.Neo4jStore):
                store.clear()
            ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
            answers.append(read(store))
    return answers[0], answers[1]


_PAIRS = 12


def test_mutual_agents_show_the_same_capped_edges_on_both_stores(neo4j_server, tmp_path):
    """Twelve pairs of persons, each the other's agent on one claim. With the neighbourhood capped at
    two edges (the claim edge to the hospital, then one of the two tied HANDLED_BY edges), the
    embedded store always keeps ``B handled-by A`` (incoming first); Neo4j's ``ORDER BY r.claims DESC,
    m._key`` leaves the tie to storage order and keeps either, differently on each load (seen: 10 to
    13 of the 24 nodes agreeing). The two stores must keep the same edge, by a total order."""
    scene = Scene()
    scene.institution("H1", "hospital", name="人民医院")
    for p in range(_PAIRS):
        scene.person(f"A{p}", name="甲")
        scene.person(f"B{p}", name="乙")
        scene.claim("outpatient", f"A{p}", "H1", "2026-01-01 10:00:00", agent_id=f"B{p}")
        scene.claim("outpatient", f"B{p}", "H1", "2026-01-01 11:00:00", agent_id=f"A{p}")

    def capped(store: GraphStore) -> dict[str, list[tuple[str, str, str]]]:
        keys = [f"person:{x}{p}" for p in range(_PAIRS) for x in "AB"]
        return {k: [(e.source, e.type, e.target) for e in n.edges]
                for k, n in store.network_neighbourhoods(keys, 2).items()}

    embedded, in_neo4j = _on_both(tmp_path, neo4j_server, scene, capped)
    differing = sorted(k for k in embedded if embedded[k] != in_neo4j.get(k))
    assert differing == [], (f"{len(differing)} of {len(embedded)} capped neighbourhoods differ, e.g. "
                             f"{differing[0]}: embedded {embedded[differing[0]]}, neo4j {in_neo4j[differing[0]]}")


def test_a_person_who_is_their_own_agent_has_that_edge_once_on_both_stores(neo4j_server, tmp_path):
    """A person whose claims name themselves as agent (代办人 = 本人): one HANDLED_BY edge from the
    person to the person. The embedded index lists it twice (once per direction of the same edge)
    and counts it twice: degree 5 for 4 edges, where Neo4j says 4 and lists it once. Both must list
    each edge once and give the same degree (4: hospital, self, address, phone)."""
    scene = Scene()
    scene.institution("H1", "hospital", name="人民医院")
    scene.person("S", name="丙")
    for i in range(2):
        scene.claim("outpatient", "S", "H1", f"2026-01-0{i + 1} 12:00:00", agent_id="S")

    def around(store: GraphStore) -> dict[str, Any]:
        n = store.network_edges("person:S", 50)
        return {"degree": n.degree, "edges": sorted((e.source, e.type, e.target) for e in n.edges),
                "node": store.network_nodes(["person:S"])["person:S"][0]}

    embedded, in_neo4j = _on_both(tmp_path, neo4j_server, scene, around)
    expected_edges = sorted([("person:S", "SETTLED_AT", "institution:H1"), ("person:S", "HANDLED_BY", "person:S"),
                             ("person:S", "LIVES_AT", "address:S村1号"), ("person:S", "HAS_PHONE", "phone:13900000000")])
    assert embedded == in_neo4j, f"embedded {embedded}, neo4j {in_neo4j}"
    assert embedded == {"degree": 4, "edges": expected_edges, "node": 4}


def test_a_claim_summary_at_the_top_of_the_amount_range_is_exact_on_both_stores(neo4j_server, tmp_path):
    """A hundred claims of 999,999,999,999.99 (DECIMAL(14,2)'s largest amount, which ingest accepts):
    the person's claim summary says 99,999,999,999,999.00 on the embedded store (a decimal sum) and
    99,999,999,999,998.88 on Neo4j (amounts stored as floats and summed by Cypher's ``sum``)."""
    scene = Scene()
    scene.institution("H1", "hospital", name="人民医院")
    scene.person("P1", name="甲")
    for i in range(100):
        scene.claim("inpatient", "P1", "H1", f"2026-01-01 {i // 60:02d}:{i % 60:02d}:00",
                    fund_amount="999999999999.99", total_amount="999999999999.99")

    def summary(store: GraphStore) -> dict[str, Any]:
        return store.claim_summary("person", "P1")

    embedded, in_neo4j = _on_both(tmp_path, neo4j_server, scene, summary)
    assert embedded["claims"] == in_neo4j["claims"] == 100
    assert (embedded["fund_amount"], in_neo4j["fund_amount"]) == (99999999999999.0, 99999999999999.0)
    assert (embedded["total_amount"], in_neo4j["total_amount"]) == (99999999999999.0, 99999999999999.0)
