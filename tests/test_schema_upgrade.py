"""Homes written by an older release open upgraded; a home from a newer release is refused.

``fixtures/home-v1`` is the test city of ``api_city`` as the release before schema versions
wrote it (``fixtures/make_home_v1.py``): rings R-000001..3, ``confirmed`` on R-000003 (the
broker's ring) and a tip on the broker's phone, which touches that ring only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.keys import create_api_key
from graphsvc.config import Settings
from graphsvc.detect import detect_and_save
from graphsvc.errors import SchemaError
from graphsvc.store import GraphStore, open_store
from graphsvc.store.embedded import EmbeddedStore
from graphsvc.store.neo4j import Neo4jStore
from graphsvc.store.schema import SCHEMA_VERSION

FIXTURE = Path(__file__).parent / "fixtures" / "home-v1"
BROKER_PHONE = "15900000017"


def _tables(home: Path) -> set[str]:
    with duckdb.connect(str(home / "graph.duckdb"), read_only=True) as con:
        return {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def _version(home: Path) -> int:
    with duckdb.connect(str(home / "graph.duckdb"), read_only=True) as con:
        return con.execute("SELECT version FROM schema_version").fetchall()[0][0]


@pytest.fixture
def old_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(FIXTURE, home)
    assert "schema_version" not in _tables(home) and "ring_members" in _tables(home)  # what v1 wrote
    return home


def test_a_v1_home_opens_upgraded_with_its_rings_and_casework(old_home: Path) -> None:
    settings = Settings(home=old_home, backend="embedded")
    with open_store(settings) as store:
        key = create_api_key(store, "investigator", "upgrade tester")[0]
        headers = {"X-API-Key": key}
        with TestClient(create_app(settings, store=store)) as client:
            rings = client.get("/rings", headers=headers).json()["items"]
            # the tip lifts the broker's ring (score 0.93) above the card collector's (0.95)
            assert [(r["id"], r["pattern"], r["tips"]) for r in rings] == [
                ("R-000001", "identity_misuse", 0), ("R-000003", "black_intermediary", 1),
                ("R-000002", "card_collector", 0)]
            casework = client.get("/rings/R-000003", headers=headers).json()["casework"]
            assert casework["disposition"]["status"] == "confirmed"
            assert casework["disposition"]["note"] == "broker seen at H100"
            assert [(t["type"], t["id"]) for t in casework["tips"]] == [("phone", BROKER_PHONE)]
            assert [r["id"] for r in client.get("/rings", params={"disposition": "confirmed"},
                                                headers=headers).json()["items"]] == ["R-000003"]
        # Detection runs again on the upgraded home: the same rings keep their ids, the run is
        # logged after the one the old release logged.
        run, documents = detect_and_save(store)
        assert [d["id"] for d in documents] == ["R-000001", "R-000002", "R-000003"]
        assert (run.kept_ids, run.new_ids, run.retired_ids) == (3, 0, [])
        assert len(store.detection_runs()) == 2
        disposition = store.get_record("disposition", "R-000003")
        assert disposition is not None and disposition["status"] == "confirmed"
    assert _version(old_home) == SCHEMA_VERSION == 3
    assert "ring_members" not in _tables(old_home)


def test_a_read_only_open_upgrades_a_v1_home_first(old_home: Path) -> None:
    with EmbeddedStore(old_home, read_only=True) as store:
        assert [r["id"] for r in store.rings()] == ["R-000001", "R-000002", "R-000003"]
        assert store.record_counts() == {"disposition": 1, "tip": 1}
    assert _version(old_home) == SCHEMA_VERSION


@pytest.mark.slow  # the CLI in its own process
def test_a_home_from_a_newer_release_is_refused_with_a_clear_error(old_home: Path) -> None:
    EmbeddedStore(old_home).close()
    with duckdb.connect(str(old_home / "graph.duckdb")) as con:
        con.execute("UPDATE schema_version SET version = ?", [SCHEMA_VERSION + 1])
    for read_only in (False, True):
        with pytest.raises(SchemaError, match=f"newer graphsvc \\(schema version {SCHEMA_VERSION + 1}; this one "
                                              f"reads up to {SCHEMA_VERSION}\\)"):
            EmbeddedStore(old_home, read_only=read_only)
    done = subprocess.run([sys.executable, "-m", "cli", "stats", "--home", str(old_home)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "was written by a newer graphsvc" in done.stderr and "Traceback" not in done.stderr
    assert _version(old_home) == SCHEMA_VERSION + 1  # refused, not rewritten


def _set_version(store: GraphStore, version: int) -> None:
    if isinstance(store, Neo4jStore):
        store._run("MATCH (m:Meta {id: 'schema'}) SET m.version = $v", v=version)
    else:
        assert isinstance(store, EmbeddedStore)
        store._db.execute("UPDATE schema_version SET version = ?", [version])


def _stored_version(store: GraphStore) -> int:
    if isinstance(store, Neo4jStore):
        return store._run("MATCH (m:Meta {id: 'schema'}) RETURN m.version AS v")[0]["v"]
    assert isinstance(store, EmbeddedStore)
    return store._db.execute("SELECT version FROM schema_version").fetchall()[0][0]


def test_each_backend_records_its_version_and_refuses_a_newer_one(settings: Settings) -> None:
    with open_store(settings) as store:
        assert _stored_version(store) == SCHEMA_VERSION
        _set_version(store, SCHEMA_VERSION + 1)
        try:
            with pytest.raises(SchemaError, match="written by a newer graphsvc"):
                open_store(settings)
        finally:  # the Neo4j server serves the next tests
            _set_version(store, SCHEMA_VERSION)


def test_a_v1_neo4j_database_loses_its_unread_member_links(settings: Settings) -> None:
    if settings.backend != "neo4j":
        pytest.skip("the embedded upgrade is tested on tests/fixtures/home-v1")
    with open_store(settings) as store:
        assert isinstance(store, Neo4jStore)
        # what the release before versions left: member links, no version
        store._run("CREATE (:Ring {id: 'R-000001'})-[:HAS_MEMBER {type: 'person', role: 'member'}]->"
                   "(:Node:Person {_key: 'person:P1', person_id: 'P1'})")
        store._run("MATCH (m:Meta {id: 'schema'}) DELETE m")
    with open_store(settings) as store:
        assert isinstance(store, Neo4jStore)
        assert _stored_version(store) == SCHEMA_VERSION
        assert store._run("MATCH ()-[m:HAS_MEMBER]->() RETURN count(m) AS n") == [{"n": 0}]
        assert store._run("MATCH (r:Ring) RETURN r.id AS id") == [{"id": "R-000001"}]
