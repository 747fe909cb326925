"""The same city in both backends: rings, networks, paths, searches and casework answers are equal."""

from __future__ import annotations

from graphsvc.config import Settings
from queries.entities import entity_network, paths_between, search_entities
from queries.masking import Masker
from queries.rings import RingBook, ring_detail


def test_embedded_and_neo4j_answer_alike(cities, neo4j_server, tmp_path):
    embedded = Settings(home=tmp_path / "embedded")
    neo4j = Settings(home=tmp_path / "neo4j", backend="neo4j", neo4j_uri=neo4j_server.uri,
                     neo4j_user=neo4j_server.user, neo4j_password=neo4j_server.password)
    answers = []
    for settings in (embedded, neo4j):
        with cities.copy(settings) as city:
            store = city.store
            masker = Masker("investigator", secret="s" * 32)
            book = RingBook(store)
            answers.append({
                "rings": store.rings(),
                "details": [ring_detail(book, r["id"], masker) for r in store.rings()],
                "networks": [entity_network(store, t, i, hops=2, limit=100)
                             for t, i in (("intermediary", "IBI"), ("person", "CC000"), ("device", "DIM"))],
                "paths": [paths_between(store, a, b, max_hops=4)
                          for a, b in (("person:BI000", "person:BI005"), ("person:CCX", "person:CC007"))],
                "search": [search_entities(store, q, masker, limit=20) for q in ("BI000", "李", "15900000017")],
                "stats": (store.node_counts(), store.relationship_counts(), store.ledger()),
            })
    embedded_answers, neo4j_answers = answers
    for name in embedded_answers:
        assert neo4j_answers[name] == embedded_answers[name], name
    assert len(embedded_answers["rings"]) == 3 and embedded_answers["paths"][0]["paths"]
