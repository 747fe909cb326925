"""Investigative questions on a city with known answers, on every backend, and their Cypher twins on Neo4j."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
from neo4j import GraphDatabase

from graphsvc.config import Settings
from graphsvc.store import adjacency
from graphsvc.store.adjacency import AdjacencyIndex
from graphsvc.store.schema import NETWORK_EDGES_SQL
from helpers.api_city import BROKER_PHONE
from queries.investigative import co_admitted_pairs, persons_behind_device, shared_identifiers
from queries.network import DEFAULT_HUB_DEGREE, shortest_paths


def test_shared_identifiers_of_a_recruit_are_the_brokers_phone_and_account(city):
    others = [p for p in city.bi["persons"] if p != "BI000"]
    assert shared_identifiers(city.store, "BI000") == [
        {"identifier": "account:6222000000000001", "persons": others},
        {"identifier": f"phone:{BROKER_PHONE}", "persons": others}]
    family = shared_identifiers(city.store, city.family[0])
    assert family is not None and family[0]["identifier"] in ("address:FA村8号", "phone:13911112222")


def test_persons_behind_a_collectors_device(city):
    behind = persons_behind_device(city.store, "DCC1")
    assert behind is not None
    holders = [r["person"] for r in behind if r["how"] == "card_on_device"]
    scanned = {r["person"]: r["claims"] for r in behind if r["how"] == "scanned"}
    assert holders == ["CC000", "CC002", "CC004", "CC006", "CC008"]
    assert scanned == {"CC000": 3, "CC002": 3, "CC004": 3, "CC006": 3}


def test_co_admitted_pairs_at_the_brokers_hospital(city):
    pairs = co_admitted_pairs(city.store, "H100")
    assert pairs is not None
    assert {(p["a"], p["b"]) for p in pairs} == {("BI000", "BI002"), ("BI000", "BI004"), ("BI002", "BI004"),
                                                 ("BI001", "BI003"), ("BI001", "BI005"), ("BI003", "BI005")}
    assert all(p["times"] == 3 and len(p["days"]) == 3 for p in pairs)
    assert co_admitted_pairs(city.store, "H100", min_times=4) == []


def test_the_cypher_files_give_the_same_answers_on_neo4j(cities, neo4j_server, tmp_path):
    settings = Settings(home=tmp_path / "home", backend="neo4j", neo4j_uri=neo4j_server.uri,
                        neo4j_user=neo4j_server.user, neo4j_password=neo4j_server.password)
    with cities.copy(settings) as city:
        store = city.store
        store.prepare_reads()

        def cypher(name: str, **params: object) -> list[dict]:
            query = (resources.files("queries") / "cypher" / f"{name}.cypher").read_text(encoding="utf-8")
            assert query.startswith("// ")  # every file says what it is for
            with GraphDatabase.driver(neo4j_server.uri, auth=(neo4j_server.user, neo4j_server.password)) as driver:
                records, _, _ = driver.execute_query(query, params)
            return [r.data() for r in records]

        assert [{"identifier": r["identifier"], "persons": sorted(r["persons"])}
                for r in cypher("shared_identifiers", person_id="BI000")] == shared_identifiers(store, "BI000")
        assert cypher("persons_behind_device", device_id="DCC1") == persons_behind_device(store, "DCC1")
        assert [{"a": r["a"], "b": r["b"], "times": r["times"], "days": sorted(r["days"])}
                for r in cypher("co_admitted_pairs", institution_id="H100", min_times=2)] == co_admitted_pairs(
            store, "H100")
        a, b = "person:BI000", "person:BI005"
        by_cypher = sorted(tuple(r["path"]) for r in cypher("shortest_paths", **{"from": a, "to": b}, max_hops=4,
                                                            hub_degree=DEFAULT_HUB_DEGREE))
        by_store = shortest_paths(store, a, b, max_paths=100)
        assert by_store is not None and by_cypher == sorted(tuple(p) for p in by_store["paths"])


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)  # the embedded backend's own index
def test_the_neighbour_index_streamed_in_small_batches_equals_one_batch(city, tmp_path, monkeypatch):
    """The index is written batch by batch (at 10M persons the whole edge list at once took more than
    24 GB); batch boundaries change nothing, and every node's slice holds its edges in both directions."""
    con = city.store.analysis_connection()
    whole = AdjacencyIndex.build(con, tmp_path / "whole", "v")
    monkeypatch.setattr(adjacency, "_BATCH_ROWS", 7)
    small = AdjacencyIndex.build(con, tmp_path / "small", "v")
    for name in AdjacencyIndex._ARRAYS:
        one, many = np.load(tmp_path / "whole" / f"{name}.npy"), np.load(tmp_path / "small" / f"{name}.npy")
        assert one.dtype == many.dtype and np.array_equal(one, many), name
    degrees = dict(con.execute(f"SELECT node, count(*) FROM (SELECT a AS node FROM ({NETWORK_EDGES_SQL}) "
                               f"UNION ALL SELECT b FROM ({NETWORK_EDGES_SQL})) GROUP BY node").fetchall())
    assert len(degrees) > 50
    assert {key: (small.node(key) or (0, None))[0] for key in degrees} == degrees
    assert whole.edges("person:BI000", 50).degree == degrees["person:BI000"]
