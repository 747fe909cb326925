"""Neo4j killed in the middle of an ingest: re-running the ingest loses nothing and duplicates nothing."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

import pytest
from neo4j import GraphDatabase

from graphsvc.store import neo4j as neo4j_store
from graphsvc.store.embedded import EmbeddedStore
from graphsvc.store.neo4j import Neo4jStore
from graphsvc.store.neo4j_server import start_neo4j
from helpers.api_city import city_scene
from helpers.cli_error import cli_error
from ingest.pipeline import ingest_folder


@pytest.mark.neo4j  # a server of its own, killed
def test_ingest_interrupted_by_a_killed_server_completes_on_rerun(tmp_path, monkeypatch):
    city = city_scene()[0].write_folder(tmp_path / "city")
    # The API's test city has 156 settlements: in batches of 20 the loader writes them in eight
    # transactions, so a kill once the first is committed leaves the file part-loaded.
    monkeypatch.setattr(neo4j_store, "_INSERT_BATCH", 20)
    with EmbeddedStore(tmp_path / "reference") as reference:
        ingest_folder(reference, city, rejects_dir=tmp_path / "rejects-ref", progress=False)
        expected = (reference.node_counts(), reference.relationship_counts(),
                    sorted(reference.rows("settlements").column("settlement_id").to_pylist()))

    server = start_neo4j(tmp_path / "neo4j")
    port = int(server.uri.rsplit(":", 1)[1])
    store = Neo4jStore(server.uri, server.user, server.password, tmp_path / "home", retry_seconds=2)
    state = {"settlements": False, "killed": False}

    def kill_soon(name: str, done: int, total: int) -> None:
        state["settlements"] |= name == "settlements.csv"

    with GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as watcher:
        def settlements_committed() -> bool:
            return bool(watcher.execute_query("MATCH (s:Settlement) RETURN count(s) AS n").records[0]["n"])

        # The plug is pulled inside a write transaction, its queries run and not yet committed, once
        # the biggest file's first batch is committed: the same point of every run, not a race.
        open_session = store._driver.session

        def session(**kwargs: Any) -> Any:
            opened = open_session(**kwargs)
            execute_write = opened.execute_write

            def write(work: Any, *args: Any, **kw: Any) -> Any:
                def work_then_kill(tx: Any, *a: Any, **k: Any) -> Any:
                    result = work(tx, *a, **k)
                    if state["settlements"] and not state["killed"] and settlements_committed():
                        server.kill()
                        state["killed"] = True
                    return result

                return execute_write(work_then_kill, *args, **kw)

            monkeypatch.setattr(opened, "execute_write", write)
            return opened

        monkeypatch.setattr(store._driver, "session", session)
        with contextlib.suppress(Exception):  # the server died under it; what matters is the re-run
            ingest_folder(store, city, rejects_dir=tmp_path / "rejects", progress=False, on_file=kill_soon)
    store.close()
    assert state["killed"]
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


@pytest.mark.neo4j  # a server of its own, killed
def test_detect_reading_from_a_server_killed_under_it_says_so_in_one_line_and_a_rerun_completes(
        tmp_path, monkeypatch, capsys):
    """Detection streams the tables out of Neo4j; the server dies after the first batch. The command
    says in one line that the connection was lost (no traceback, not "an internal error"), exits 2.
    Back up, the same command is run and the server killed again as detection starts to read, then
    restarted: the read waits for it (as the driver's own queries do) and the rings are found."""
    from cli.commands import main

    city = city_scene()[0].write_folder(tmp_path / "city")
    server = start_neo4j(tmp_path / "neo4j")
    port = int(server.uri.rsplit(":", 1)[1])
    home = tmp_path / "home"
    with Neo4jStore(server.uri, server.user, server.password, home) as store:
        ingest_folder(store, city, rejects_dir=tmp_path / "rejects", progress=False)
    for name, value in (("GRAPHSVC_BACKEND", "neo4j"), ("NEO4J_URI", server.uri), ("NEO4J_USER", server.user),
                        ("NEO4J_PASSWORD", server.password)):
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(neo4j_store, "_READ_BATCH", 5)
    convert, analysis_connection = neo4j_store._bolt_column, Neo4jStore._analysis_connection
    detecting = threading.Event()

    def reading_for_detection(self: Neo4jStore) -> Any:
        detecting.set()
        return analysis_connection(self)

    def kill_after_the_first_batch(values: Any, field: Any) -> Any:
        if detecting.is_set():  # detection's read, not a network rebuilt before it
            server.kill()
        return convert(values, field)

    monkeypatch.setattr(Neo4jStore, "_analysis_connection", reading_for_detection)
    monkeypatch.setattr(neo4j_store, "_bolt_column", kill_after_the_first_batch)
    out = tmp_path / "rings.json"
    assert main(["detect", "--quiet", "--home", str(home), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    zh, en = cli_error(err)
    assert en.startswith("lost the connection to Neo4j") and "run the command again" in en and "Neo4j" in zh
    assert "\n" not in err and "Traceback" not in err and "internal error" not in err
    assert not out.exists()

    monkeypatch.setattr(neo4j_store, "_bolt_column", convert)
    server = start_neo4j(tmp_path / "neo4j", bolt_port=port)
    servers, restarts = [server], []

    def kill_then_restart(self: Neo4jStore) -> Any:
        servers[-1].kill()
        restarts.append(threading.Thread(target=lambda: servers.append(start_neo4j(tmp_path / "neo4j", bolt_port=port))))
        restarts[-1].start()
        return analysis_connection(self)

    monkeypatch.setattr(Neo4jStore, "_analysis_connection", kill_then_restart)
    try:
        assert main(["detect", "--quiet", "--home", str(home), "--out", str(out)]) == 0, capsys.readouterr().err
        assert len(servers) == 2  # the read waited for the restarted server
        assert {r["pattern"] for r in json.loads(out.read_text(encoding="utf-8"))["rings"]} >= {
            "black_intermediary", "card_collector"}
    finally:
        for restart in restarts:
            restart.join()
        servers[-1].stop()


def test_the_api_answers_503_when_neo4j_goes_away_in_the_middle_of_a_request(cities, neo4j_server, tmp_path,
                                                                                monkeypatch):
    """The driver's own error for a server gone (after its retries) is the store not answering: 503 and
    the store's summary, as any StoreError, not a 500; the next request, the server back, is answered."""
    from fastapi.testclient import TestClient
    from neo4j.exceptions import ServiceUnavailable, SessionExpired

    from api.app import create_app
    from graphsvc.config import Settings

    settings = Settings(home=tmp_path / "home", backend="neo4j", neo4j_uri=neo4j_server.uri,
                        neo4j_user=neo4j_server.user, neo4j_password=neo4j_server.password)
    with cities.copy(settings) as city, TestClient(create_app(settings, store=city.store)) as client:
        person = f"/entities/person/{city.bi['persons'][0]}/network"
        assert client.get(person, headers=city.headers("admin")).status_code == 200
        run = city.store._run
        for error in (ServiceUnavailable("Failed to read from defunct connection"), SessionExpired("gone")):
            def gone(*args: Any, error: Exception = error, **kwargs: Any) -> Any:
                raise error

            monkeypatch.setattr(city.store, "_run", gone)
            answer = client.get("/search", params={"q": "BI000"}, headers=city.headers("admin"))
            assert answer.status_code == 503, answer.text
            assert answer.json() == {"detail": "the store does not answer now; retry later",
                                     "detail_zh": "服务暂时不可用，请稍后重试"}
            monkeypatch.setattr(city.store, "_run", run)
            assert client.get("/search", params={"q": "BI000"}, headers=city.headers("admin")).status_code == 200


def test_serve_calls_a_server_gone_during_its_store_check_lost_not_damaged(neo4j_server, tmp_path, monkeypatch):
    """``graphsvc serve`` reads the store before serving and calls what fails there damaged, with
    "restore the last backup --force": for a Neo4j gone away meanwhile, that advice would replace a
    sound store. It says the connection was lost instead."""
    from neo4j.exceptions import ServiceUnavailable

    from cli.commands import _check_store
    from graphsvc.config import Settings
    from graphsvc.errors import StoreError

    settings = Settings(home=tmp_path / "home", backend="neo4j", neo4j_uri=neo4j_server.uri,
                        neo4j_user=neo4j_server.user, neo4j_password=neo4j_server.password)

    def gone(self: Neo4jStore, thorough: bool) -> None:
        raise ServiceUnavailable("Failed to read from defunct connection")

    monkeypatch.setattr(Neo4jStore, "_check", gone)
    with pytest.raises(StoreError) as refused:
        _check_store(settings)
    assert str(refused.value).startswith("lost the connection to Neo4j") and "restore" not in str(refused.value)
