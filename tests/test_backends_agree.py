"""The same city in both backends: rings, networks, paths, searches and casework answers are equal."""

from __future__ import annotations

import math
from pathlib import Path

from graphsvc.config import Settings
from graphsvc.model import ENTITY_TABLES
from graphsvc.store import neo4j, open_store
from graphsvc.store.neo4j_server import Neo4jServer
from helpers.scenes import Scene
from ingest.pipeline import ingest_folder
from queries.entities import entity_network, paths_between, search_entities
from queries.masking import Masker
from queries.rings import RingBook, ring_detail


def _both_backends(tmp_path: Path, neo4j_server: Neo4jServer) -> tuple[Settings, Settings]:
    """Settings of an embedded home and of one on the test Neo4j, for the same city in each."""
    return (Settings(home=tmp_path / "embedded"),
            Settings(home=tmp_path / "neo4j", backend="neo4j", neo4j_uri=neo4j_server.uri,
                     neo4j_user=neo4j_server.user, neo4j_password=neo4j_server.password))


def test_embedded_and_neo4j_answer_alike(cities, neo4j_server, tmp_path):
    answers = []
    for settings in _both_backends(tmp_path, neo4j_server):
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


def test_reads_built_on_the_store_primitives_agree_and_match_the_rows(cities, neo4j_server, tmp_path):
    """The ingest log, ring claims, claim summaries, ledger and neighbour reads are written once over
    each backend's primitives: both give the answers the stored rows imply."""
    answers = []
    for settings in _both_backends(tmp_path, neo4j_server):
        with cities.copy(settings) as city:
            store = city.store
            settlements = {s["settlement_id"]: s for s in store.rows("settlements").to_pylist()}
            busiest = max({s["institution_id"] for s in settlements.values()},
                          key=lambda i: sum(s["institution_id"] == i for s in settlements.values()))
            theirs = [s for s in settlements.values() if s["institution_id"] == busiest]
            summary = store.claim_summary("institution", busiest)
            assert summary["claims"] == len(theirs) > 0
            assert summary["fund_amount"] == round(float(sum(s["fund_amount"] or 0 for s in theirs)), 2)
            assert summary["first"] == min(s["start_time"] for s in theirs).date().isoformat()
            assert sum(summary["by_kind"].values()) == len(theirs)
            assert store.claim_summary("person", "nobody") == {"claims": 0, "fund_amount": 0.0, "total_amount": 0.0,
                                                               "first": None, "last": None, "by_kind": {}}

            claims = {r["id"]: store.ring_claims(r["id"]) for r in store.rings()}
            for rows in claims.values():
                assert rows and [(r["start_time"], r["settlement_id"]) for r in rows] == sorted(
                    (r["start_time"], r["settlement_id"]) for r in rows)
                for row in rows:  # a ring keeps its settlements' columns as stored
                    assert {c: settlements[row["settlement_id"]][c] for c in row} == row
            claimed = {row["settlement_id"] for rows in claims.values() for row in rows}
            assert sum(m["claims"] for m in store.ledger()) == len(claimed)

            log = store.ingest_log()
            assert all(r.finished for r in log) and len({r.file for r in log}) == len(log)
            assert sum(r.loaded for r in log if r.table == "settlements") == len(settlements)

            person = f"person:{next(iter(settlements.values()))['person_id']}"
            around = store.network_edges(person, 3)
            assert store.network_nodes([person, "person:nobody"]) == {person: (around.degree, store.entity(
                "person", person.partition(":")[2])["name"])}
            assert 0 < len(around.edges) <= 3 and [e.claims for e in around.edges] == sorted(
                (e.claims for e in around.edges), reverse=True)
            assert store.network_edges("person:nobody", 3).degree == 0
            answers.append((summary, claims, store.ledger(), [(r.file, r.table, r.read, r.loaded) for r in log],
                            around))
    assert answers[0] == answers[1]


def test_neo4j_streams_whole_tables_a_batch_at_a_time_and_reads_every_row(cities, neo4j_server, tmp_path,
                                                                            monkeypatch):
    """Detection and a network rebuild read whole tables from Neo4j a batch at a time (as one list
    each, detection at 1M persons took 20.6 GB and was killed). Seven rows a batch: the engine's
    tables hold the very rows the embedded store's do, and a rebuilt network is the one reads had."""
    monkeypatch.setattr(neo4j, "_READ_BATCH", 7)
    tables = []
    for settings in _both_backends(tmp_path, neo4j_server):
        with cities.copy(settings) as city:
            con = city.store.analysis_connection()
            try:
                tables.append({name: sorted(con.sql(f"SELECT * FROM {name}").fetchall(), key=repr)
                               for name in ENTITY_TABLES})
            finally:
                con.close()
            if isinstance(city.store, neo4j.Neo4jStore):
                with city.store._streams({"settlements": None}) as streams:
                    batches = [len(b) for b in streams["settlements"]]
                assert max(batches) == 7 and len(batches) == math.ceil(len(tables[-1]["settlements"]) / 7)
                people = [f"person:{row[0]}" for row in tables[-1]["persons"][:40]]
                before = city.store.network_neighbourhoods(people, 50)
                city.store._rebuild_network(city.store._data_version()[0])
                assert city.store.network_neighbourhoods(people, 50) == before
                assert sum(n.degree for n in before.values()) > 40
    embedded, in_neo4j = tables
    assert in_neo4j == embedded and len(embedded["settlements"]) > 100


def test_streamed_columns_keep_fractions_of_seconds_cents_nulls_and_lists(neo4j_server, tmp_path, monkeypatch):
    """The stream converts a column at a time in Arrow (times as Neo4j's ISO text, amounts as floats):
    fractions of a second, whole minutes, large amounts, cents, missing values and lists come out
    as the embedded store holds them, two rows a batch."""
    monkeypatch.setattr(neo4j, "_READ_BATCH", 2)
    scene = Scene()
    scene.institution("H1", "hospital", level="三级")
    scene.person("P1", birth_date="1931-02-28", death_date="2026-03-01")
    scene.person("P2", birth_date="2000-12-31")
    scene.card("C1", "P1")
    starts = ["2026-01-03 10:15:00.123456", "2026-01-03 10:15:00", "2026-01-04 00:00:00.5", "2026-12-31 23:59:59.999999"]
    amounts = [0.1, 99.99, 123456789.01, 0.0]
    for i, (start, fund) in enumerate(zip(starts, amounts)):
        scene.claim("inpatient", "P1" if i % 2 else "P2", "H1", start, fund_amount=fund,
                    card_id="C1" if i == 1 else None, end_time=None if i else "2026-01-09 08:00:00.25",
                    items=["A01", "B02"] if i == 2 else None)
    folder = scene.write_folder(tmp_path / "city")
    tables = []
    for settings in _both_backends(tmp_path, neo4j_server):
        with open_store(settings) as store:
            if isinstance(store, neo4j.Neo4jStore):
                store.clear()
            ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
            con = store.analysis_connection()
            try:
                tables.append({name: sorted(con.sql(f"SELECT * FROM {name}").fetchall(), key=repr)
                               for name in ENTITY_TABLES})
            finally:
                con.close()
    embedded, in_neo4j = tables
    assert in_neo4j == embedded
    assert len(embedded["settlements"]) == 4 and len(embedded["persons"]) == 2


def test_a_value_graphsvc_does_not_write_is_a_clear_store_error_naming_its_table(cities, neo4j_server, tmp_path):
    """A time with a zone, set in Neo4j by hand, cannot be read as the contract's local time: the
    read stops with a StoreError naming the table, not an Arrow error reported as a defect."""
    import pytest

    from graphsvc.errors import StoreError

    _, settings = _both_backends(tmp_path, neo4j_server)
    with cities.copy(settings) as city:
        city.store._run("MATCH (s:Settlement) WITH s LIMIT 1 SET s.start_time = datetime('2026-01-03T10:15:00+08:00')")
        with pytest.raises(StoreError, match="Neo4j holds a value in settlements that graphsvc does not write"):
            city.store.analysis_connection()
        assert city.store._driver.get_server_info()  # its sessions were given back: the store still answers
