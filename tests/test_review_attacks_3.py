"""Review attacks on the changes of 2026-11-27 (detection on Spark, the narrower store interface,
the neo4j-admin first load and Bolt batches, ingest validation, /health).

Each test states a behaviour the product must have and fails today for the reason in its
docstring. Spark tests are ``slow`` (one local Spark session serves them all); Neo4j tests use the
``neo4j_server`` fixture of tests/conftest.py (and are marked ``neo4j`` by it).
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import duckdb
import pytest

from graphsvc.model import ENTITY_TABLES
from helpers import scenes
from helpers.scenes import Scene

# ---- Spark --------------------------------------------------------------------------------------


def _lake(con: duckdb.DuckDBPyConnection, folder: Path, replace: dict[str, str] | None = None) -> Path:
    """The entity tables readable in ``con`` as a Parquet lake (one ``TABLE.parquet`` each); ``replace``
    gives a table's rows by a query of its own (a hostile lake)."""
    folder.mkdir(parents=True)
    for table in ENTITY_TABLES:
        query = (replace or {}).get(table, f"SELECT * FROM {table}")
        target = str(folder / f"{table}.parquet").replace("'", "''")
        con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet)")
    return folder


@pytest.mark.slow
def test_card_in_two_places_treats_fractional_seconds_alike_on_spark_and_duckdb(spark, tmp_path):
    """A card used at PH1 at 10:00:00.900 and at PH2 at 10:30:01.100 is 30 min 0.2 s apart.

    DuckDB's ``date_diff('second', ...)`` counts second boundaries (1801 > 30 * 60: no finding);
    sqlglot renders it as Spark's ``DATEDIFF(SECOND, ...)`` (TIMESTAMPDIFF), which counts whole
    seconds elapsed (1800: a finding). Ingest keeps fractions (``%Y-%m-%d %H:%M:%S.%f``), so the
    same lake gives different rings on the two engines. Only the detector that reads the times runs
    (the whole of detection takes 15 s on Spark, whatever the scene's size)."""
    from graphsvc.detect.config import SharedCardConfig
    from graphsvc.detect.shared_card import shared_card_findings
    from graphsvc.resolution import resolve_entities
    from graphsvc.store.engine import SparkSQLSession, session_of

    def card_findings(con: Any) -> list[str]:
        session = session_of(con)
        resolve_entities(session)
        return [f.kind for f in shared_card_findings(session, SharedCardConfig())]

    def on_both(lake: str) -> tuple[list[str], list[str]]:
        session = SparkSQLSession(spark, str(_lake(scene.connection(), tmp_path / lake)))
        try:
            return card_findings(session), card_findings(scene.connection())
        finally:
            session.close()

    scene = Scene()
    holder = scene.person("PA")
    scene.institution("PH1", "pharmacy")
    scene.institution("PH2", "pharmacy")
    card = scene.card("C1", holder)
    scene.claim("pharmacy", holder, "PH1", "2026-03-05 10:00:00.900", card_id=card)
    scene.claim("pharmacy", holder, "PH2", "2026-03-05 10:30:01.100", card_id=card)
    on_spark, on_duckdb = on_both("lake")
    assert on_spark == on_duckdb == []
    # 30 minutes on the dot is within the window on both: the comparison above is not vacuous
    scene.claim("pharmacy", holder, "PH2", "2026-03-06 10:30:00.900", card_id=card)
    scene.claim("pharmacy", holder, "PH1", "2026-03-06 10:00:00.900", card_id=card)
    on_spark, on_duckdb = on_both("lake2")
    assert on_spark == on_duckdb == ["card_in_two_places"]


@pytest.mark.slow
def test_a_spark_input_folder_named_with_brackets_reads_that_folder_and_no_other(spark, tmp_path):
    """``--input lake[1]``: the folder exists and passes ``check_parquet_location``, but
    ``SparkSQLSession._read`` hands ``lake[1]/settlements`` to Spark as a Hadoop glob, where ``[1]``
    is a character class: Spark reads ``lake1/`` (another fund's lake) instead, silently."""
    from graphsvc.store.engine import SparkSQLSession

    ours, theirs = Scene(), Scene(first_serial=500)
    scenes.card_collector(ours)
    scenes.family(theirs)
    _lake(ours.connection(), tmp_path / "lake[1]")
    _lake(theirs.connection(), tmp_path / "lake1")
    expected = sorted(r["settlement_id"] for r in ours.tables["settlements"])

    session = SparkSQLSession(spark, str(tmp_path / "lake[1]"))
    try:
        read = sorted(r["settlement_id"] for r in session.rows("SELECT settlement_id FROM settlements"))
    finally:
        session.close()
    assert read == expected


@pytest.mark.slow
def test_a_malformed_value_in_the_lake_is_a_one_line_input_error_with_exit_code_2(spark, tmp_path, capsys):
    """A lake is not validated by ingest: a ``start_time`` of 'garbage' (written as text) makes Spark's
    ANSI ``CAST(start_time AS TIMESTAMP_NTZ)`` in ``SparkSQLSession.__init__`` raise
    ``SparkDateTimeException`` mid-detection. The CLI answers 'an internal error
    (DateTimeException)', not status 2 with what to fix (README: errors say what to do and exit 2),
    after PySpark's SQLQueryContextLogger has put the Java stack trace and this machine's
    site-packages paths on stderr."""
    from cli.commands import main

    scene = Scene()
    scenes.card_collector(scene)
    lake = _lake(scene.connection(), tmp_path / "lake", {"settlements": (
        "SELECT * REPLACE (CASE WHEN settlement_id = 'S000001' THEN 'garbage' ELSE start_time::VARCHAR END "
        "AS start_time) FROM settlements")})
    capsys.readouterr()
    code = main(["detect", "--quiet", "--home", str(tmp_path / "home"), "--engine", "spark", "--input", str(lake)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "start_time" in err and "internal error" not in err
    assert "\tat org.apache" not in err and "site-packages" not in err


# ---- Neo4j: the first load through neo4j-admin -----------------------------------------------------


def test_a_bulk_import_killed_before_it_completes_leaves_no_database_without_its_constraints(
        neo4j_server, tmp_path, monkeypatch):
    """``import_folder`` writes the schema node (``meta.csv``, version 3) into the imported store
    and only afterwards, in ``complete_bulk_import``, creates the constraints and indexes and the
    ingest log. A process killed in between (Ctrl-C while the server starts or the indexes come
    online) leaves a database that says it is at schema 3, so ``Neo4jStore._open_schema`` never
    creates them: no ``node_key`` uniqueness (the parallel Bolt writers' MERGEs can then double a
    node) and every key lookup a label scan; and a re-run of the import is refused ('holds a graph
    already'). Nothing ever repairs it."""
    from graphsvc.store.neo4j import Neo4jStore
    from graphsvc.store.neo4j_import import _running, import_folder

    scene = Scene()
    scenes.card_collector(scene)
    folder = scene.write_folder(tmp_path / "city")
    data = tmp_path / "neo4j-import"

    def killed(self: Neo4jStore, log: Any) -> None:
        raise KeyboardInterrupt  # the operator's Ctrl-C, or the OOM killer, right here

    monkeypatch.setattr(Neo4jStore, "complete_bulk_import", killed)
    try:
        with pytest.raises(KeyboardInterrupt):
            import_folder(folder, data, home=tmp_path / "home")
        monkeypatch.undo()
        server = _running(data.resolve())
        assert server is not None
        # what graphsvc ingest / serve / stats does next: open the store
        with closing(Neo4jStore(server.uri, server.user, server.password, tmp_path / "home")) as store:
            constraints = {r["name"] for r in store._run("SHOW CONSTRAINTS YIELD name RETURN name")}
        assert "node_key" in constraints
    finally:
        server = _running(data.resolve())
        if server is not None:
            server.stop()


def test_a_very_long_name_is_loaded_or_rejected_by_the_neo4j_store_not_a_failed_ingest(neo4j_server, tmp_path):
    """Ingest accepts values up to 131,072 characters (longer ones are rejected, with a reason); a
    person's name of 3,000 Chinese characters (9,000 bytes of UTF-8) passes. The embedded store loads
    it; Neo4j's range index ``person_name`` (``Neo4jStore._create_indexes``) refuses any value over
    ~8 KB ('Property value is too large to index'), so the Bolt batch in ``Neo4jStore._insert`` fails
    with a ``DatabaseError`` and the whole ingest of the file stops: one hostile row keeps every good
    row of its batch out, where README promises 'good rows of the same file still load'."""
    from graphsvc.store.neo4j import Neo4jStore
    from ingest.pipeline import ingest_folder

    scene = Scene()
    scenes.card_collector(scene)
    scene.person("LONG1", name="王" * 3000)
    folder = scene.write_folder(tmp_path / "city")
    with closing(Neo4jStore(neo4j_server.uri, neo4j_server.user, neo4j_server.password, tmp_path / "home")) as old:
        old.clear()
    with closing(Neo4jStore(neo4j_server.uri, neo4j_server.user, neo4j_server.password, tmp_path / "home")) as store:
        report = ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
        persons = store._run("MATCH (n:Person) WHERE n._row_hash IS NOT NULL RETURN count(n) AS n")[0]["n"]
    assert report.totals["loaded"] + report.totals["rejected"] == report.totals["read"]
    assert persons >= len(scene.tables["persons"]) - 1
