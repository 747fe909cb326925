"""The development Neo4j: a real 5.26 server from Maven Central, on loopback, with our password."""

from __future__ import annotations

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError

from graphsvc.store.neo4j_server import NEO4J_VERSION, start_neo4j


def test_a_real_neo4j_answers_on_loopback_with_the_password_set(neo4j_server):
    assert neo4j_server.uri.startswith("bolt://127.0.0.1:")
    with GraphDatabase.driver(neo4j_server.uri, auth=(neo4j_server.user, neo4j_server.password)) as driver:
        assert driver.get_server_info().agent == f"Neo4j/{NEO4J_VERSION}"
        records, _, _ = driver.execute_query("RETURN 40 + 2 AS answer")
        assert records[0]["answer"] == 42
    with (GraphDatabase.driver(neo4j_server.uri, auth=("neo4j", "neo4j")) as driver,
          pytest.raises(AuthError)):  # the default password no longer opens it
        driver.verify_connectivity()


@pytest.mark.neo4j  # a server of its own, killed
def test_killed_server_restarts_on_the_same_store_with_its_data(tmp_path):
    server = start_neo4j(tmp_path / "neo4j")
    with GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as driver:
        driver.execute_query("CREATE (:Probe {id: 'kept'})")
    server.kill()
    again = start_neo4j(tmp_path / "neo4j")
    try:
        with GraphDatabase.driver(again.uri, auth=(again.user, again.password)) as driver:
            records, _, _ = driver.execute_query("MATCH (p:Probe) RETURN p.id AS id")
        assert [r["id"] for r in records] == ["kept"]
    finally:
        again.stop()
