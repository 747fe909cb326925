"""Neo4j killed in the middle of an ingest: re-running the ingest loses nothing and duplicates nothing."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from neo4j import GraphDatabase

from graphsvc.generate import generate_city
from graphsvc.store.embedded import EmbeddedStore
from graphsvc.store.neo4j import Neo4jStore
from graphsvc.store.neo4j_server import start_neo4j
from ingest.pipeline import ingest_folder


@pytest.mark.neo4j  # a server of its own, killed
def test_ingest_interrupted_by_a_killed_server_completes_on_rerun(tmp_path):
    city = tmp_path / "city"
    # 5,000 persons (the generator's least) make about 50,000 settlements, ten of the loader's
    # batches: a kill once the first is in leaves the file part-loaded however fast the loader is.
    generate_city(city, persons=5000, seed=11, progress=False)
    with EmbeddedStore(tmp_path / "reference") as reference:
        ingest_folder(reference, city, rejects_dir=tmp_path / "rejects-ref", progress=False)
        expected = (reference.node_counts(), reference.relationship_counts(),
                    sorted(reference.rows("settlements").column("settlement_id").to_pylist()))

    server = start_neo4j(tmp_path / "neo4j")
    port = int(server.uri.rsplit(":", 1)[1])
    killed = threading.Event()

    def kill_after_first_batch() -> None:
        with GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as driver:
            while not driver.execute_query("MATCH (s:Settlement) RETURN count(s) AS n").records[0]["n"]:
                time.sleep(0.05)
        server.kill()
        killed.set()

    def kill_soon(name: str, done: int, total: int) -> None:
        if name == "settlements.csv":  # once the biggest file's first batch is in, pull the plug
            threading.Thread(target=kill_after_first_batch, daemon=True).start()

    store = Neo4jStore(server.uri, server.user, server.password, tmp_path / "home", retry_seconds=2)
    with contextlib.suppress(Exception):  # the server died under it; what matters is the re-run
        ingest_folder(store, city, rejects_dir=tmp_path / "rejects", progress=False, on_file=kill_soon)
    store.close()
    assert killed.wait(30)
    server = start_neo4j(tmp_path / "neo4j", bolt_port=port)
    try:
        with Neo4jStore(server.uri, server.user, server.password, tmp_path / "home") as store:
            loaded_before = store.node_counts()["Settlement"]
            assert 0 < loaded_before < expected[0]["Settlement"]  # the kill did cut the first run mid-file
            rerun = ingest_folder(store, city, rejects_dir=tmp_path / "rejects", progress=False)
            assert rerun.totals["loaded"] > 0
            assert (store.node_counts(), store.relationship_counts(),
                    sorted(store.rows("settlements").column("settlement_id").to_pylist())) == expected
    finally:
        server.stop()
