"""Review attacks on surfaces the earlier attack files leave alone: ``graphsvc ingest --mapping``
(globs, damaged files and lookups of a foreign export), the Spark engine over a lake written the
contract's way, the Neo4j bulk import's ``--csv-only`` and arguments and a long trace code on the
Neo4j store, and CLI commands given a home that is a file.

Each test states a behaviour the product must have; its docstring says what the attack did before the fix.
Spark tests are ``slow`` (one local Spark session serves them all); Neo4j tests use the
``neo4j_server`` fixture of tests/conftest.py (and are marked ``neo4j`` by it).
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import duckdb
import pytest

from cli.commands import main
from graphsvc.model import ENTITY_TABLES
from helpers import scenes
from helpers.csv_files import write_csv
from helpers.scenes import Scene

_CLAIMS = ["ClaimID", "BeneID", "Provider", "Admitted"]
_CLAIMS_MAPPING = """
tables:
  settlements:
    file: "{glob}"
    columns:
      settlement_id: ClaimID
      kind: {{value: inpatient}}
      person_id: BeneID
      institution_id: Provider
      start_time: Admitted
"""


def _settlements(home: Path) -> list[tuple[str, str | None]]:
    with closing(duckdb.connect(str(home / "graph.duckdb"), read_only=True)) as con:
        return con.execute("SELECT settlement_id, contact_phone FROM settlements ORDER BY 1").fetchall()


# ---- graphsvc ingest --mapping -----------------------------------------------------------------


def test_a_mapping_glob_that_also_matches_a_note_beside_the_export_is_a_clear_error(tmp_path, capsys):
    """Attack: an export folder holds ``claims.csv`` and the supplier's ``claims-readme.txt``; the
    mapping says ``file: "claims*"`` (the glob docs/mappings/README.md shows). ``SourceMapping.discover``
    checks each matched file's headers through ``open_source``, which raises a plain ``ValueError``
    ('unsupported file type') for the .txt: before the fix the CLI answered 'graphsvc: error: an internal error
    (ValueError); run again with --log-level debug to see where', exit 1, and loads nothing.
    Expected: a file no reader takes is not an internal error: either it is left out (listed as not
    read) and claims.csv loads, or the run is refused in one line naming the file and the mapping
    key, with exit status 2 (README: errors say what to do and exit with status 2)."""
    export = tmp_path / "export"
    write_csv(export / "claims.csv", _CLAIMS, [["C1", "B1", "H1", "2026-03-05 09:00:00"]])
    (export / "claims-readme.txt").write_text("exported 2026-03-06 from the hospital system\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text(_CLAIMS_MAPPING.format(glob="claims*"), encoding="utf-8")
    code = main(["ingest", "--mapping", str(tmp_path / "m.yaml"), str(export), "--home", str(tmp_path / "home"),
                 "--quiet"])
    captured = capsys.readouterr()
    assert "internal error" not in captured.err, captured.err
    assert code == 0, captured.err
    assert "claims-readme.txt matches no contract file and was not read" in captured.out
    assert [s for s, _ in _settlements(tmp_path / "home")] == ["C1"]


def test_a_damaged_file_a_mapping_matches_is_reported_and_the_good_files_still_load(tmp_path, capsys):
    """Attack: the supplier's export holds ``claims-01.csv`` and a truncated ``claims-02.parquet``
    (a transfer cut short: b'PAR1garbagePAR1'), both matched by ``file: "claims*"``. Without a mapping
    a damaged file is a note and the other files load (``_ingest_file``: 'a corrupt file must not
    stop the other files'); with one, ``SourceMapping._check_headers`` opens every matched file
    unguarded, ``pq.ParquetFile`` raises ``ArrowInvalid``, and the CLI answers 'graphsvc: error: an
    internal error (ArrowInvalid)', exit 1, with claims-01.csv's good row not loaded.
    Expected: as without a mapping: the damaged file is reported (could not be read), the good
    file's rows load, exit 0."""
    export = tmp_path / "export"
    write_csv(export / "claims-01.csv", _CLAIMS, [["C1", "B1", "H1", "2026-03-05 09:00:00"]])
    (export / "claims-02.parquet").write_bytes(b"PAR1garbagePAR1")
    (tmp_path / "m.yaml").write_text(_CLAIMS_MAPPING.format(glob="claims*"), encoding="utf-8")
    home = tmp_path / "home"
    code = main(["ingest", "--mapping", str(tmp_path / "m.yaml"), str(export), "--home", str(home), "--quiet"])
    captured = capsys.readouterr()
    assert "internal error" not in captured.err, captured.err
    assert code == 0, captured.err
    assert "claims-02.parquet" in captured.out
    assert [s for s, _ in _settlements(home)] == ["C1"]


def test_a_damaged_lookup_file_keeps_its_table_out_with_a_note_and_the_other_tables_load(tmp_path, capsys):
    """A lookup file cut short (b'PAR1garbagePAR1'): the file whose column it gives is not loaded
    (loaded without it, every claim would silently lack its contact phone) and its note names the
    lookup file; the other tables of the mapping still load, exit 0."""
    export = tmp_path / "export"
    write_csv(export / "claims.csv", _CLAIMS + ["AgentID"], [["C1", "B1", "H1", "2026-03-05 09:00:00", "A1"]])
    write_csv(export / "bene.csv", ["BeneID", "Name"], [["B1", "张三"]])
    (export / "agents.parquet").write_bytes(b"PAR1garbagePAR1")
    mapping = _CLAIMS_MAPPING.format(glob="claims.csv") + (
        "      contact_phone: {lookup: {file: agents.parquet, key: AgentID, column: Phone}, by: AgentID}\n"
        "  persons:\n    file: bene.csv\n    columns:\n      person_id: BeneID\n      name: Name\n")
    (tmp_path / "m.yaml").write_text(mapping, encoding="utf-8")
    home = tmp_path / "home"
    code = main(["ingest", "--mapping", str(tmp_path / "m.yaml"), str(export), "--home", str(home), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "claims.csv" in captured.out and "agents.parquet could not be read" in captured.out, captured.out
    assert _settlements(home) == []
    with closing(duckdb.connect(str(home / "graph.duckdb"), read_only=True)) as con:
        assert con.execute("SELECT person_id FROM persons").fetchall() == [("B1",)]


def test_a_claim_without_an_agent_gets_no_phone_from_a_keyless_row_of_the_lookup_file(tmp_path, capsys):
    """Attack (hostile supplier): the agents file a lookup reads holds one row with an empty
    ``AgentID`` and the phone 13900000000. ``_apply`` looks every claim's ``AgentID`` up with
    ``pc.index_in`` over the lookup's keys, the empty key among them, so every claim handled by no
    agent gets contact_phone 13900000000: before the fix C1 and C2 (no agent) both store it. Across a city
    that is one contact phone shared by thousands of unrelated households, a fabricated
    ``shared_contact_phone`` hub for detection. Expected: an empty lookup key matches nothing (an empty
    cell is missing, data contract), so C1 and C2 have no contact phone; C3 gets its agent's."""
    export = tmp_path / "export"
    write_csv(export / "claims.csv", _CLAIMS + ["AgentID"], [["C1", "B1", "H1", "2026-03-05 09:00:00", ""],
                                                           ["C2", "B2", "H1", "2026-03-06 09:00:00", ""],
                                                           ["C3", "B3", "H1", "2026-03-07 09:00:00", "A1"]])
    write_csv(export / "agents.csv", ["AgentID", "Phone"], [["", "13900000000"], ["A1", "13800138000"]])
    mapping = _CLAIMS_MAPPING.format(glob="claims.csv") + (
        "      contact_phone: {lookup: {file: agents.csv, key: AgentID, column: Phone}, by: AgentID}\n")
    (tmp_path / "m.yaml").write_text(mapping, encoding="utf-8")
    home = tmp_path / "home"
    assert main(["ingest", "--mapping", str(tmp_path / "m.yaml"), str(export), "--home", str(home), "--quiet"]) == 0
    assert _settlements(home) == [("C1", None), ("C2", None), ("C3", "13800138000")]


def test_a_malformed_row_of_a_lookup_file_is_reported_not_dropped_silently(tmp_path, capsys):
    """Attack (hostile or broken supplier): the phones file a lookup reads has a row with a stray
    third field (``B1,138 0013 8000,ext 12``). ``SourceMapping._lookup`` reads only ``batch.table``
    of each batch and never looks at ``batch.malformed``: the row vanishes, B1 is stored without a
    phone, and the run reports nothing: no reject, no note, 'rejected 0' (before the fix: persons
    [('B1', None), ('B2', '13900000001')], no rejects file). Ingest promises 'Nothing is dropped
    silently' (ingest/pipeline.py) and the data contract a rejects file with file, line and reason.
    Expected: the malformed lookup row is reported (a reject naming phones.csv and line 2, or a note
    on the run)."""
    export = tmp_path / "export"
    write_csv(export / "bene.csv", ["BeneID", "Name"], [["B1", "张三"], ["B2", "李四"]])
    (export / "phones.csv").write_text("Bene,Mobile\nB1,138 0013 8000,ext 12\nB2,13900000001\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text("""
tables:
  persons:
    file: bene.csv
    columns:
      person_id: BeneID
      name: Name
      phone: {lookup: {file: phones.csv, key: Bene, column: Mobile}, by: BeneID}
""", encoding="utf-8")
    home = tmp_path / "home"
    assert main(["ingest", "--mapping", str(tmp_path / "m.yaml"), str(export), "--home", str(home), "--quiet"]) == 0
    out = capsys.readouterr().out
    rejects = sorted((home / "rejects").glob("rejects-*.csv")) if (home / "rejects").exists() else []
    said = "phones.csv" in out or any("phones.csv" in r.read_text(encoding="utf-8") for r in rejects)
    assert said, f"the malformed row of phones.csv is dropped without a word:\n{out}"


# ---- CLI commands given a home that is a file ----------------------------------------------------


@pytest.mark.parametrize("command", [
    ["ingest", "{city}"],
    ["apikey", "create", "--role", "analyst", "--name", "王分析"],
    ["signing-key"],
])
def test_a_home_that_is_a_file_is_a_one_line_error_with_exit_2(tmp_path, capsys, command):
    """Attack (careless operator): ``--home`` names an existing file (``GRAPHSVC_HOME`` pointing at a
    file, a typo of the backup's tarball). ``stats``, ``detect``, ``risk`` and ``export`` answer
    'no graph in HOME', exit 2; ``ingest``, ``apikey create`` and ``signing-key`` answer 'graphsvc:
    error: an internal error (FileExistsError); run again with --log-level debug to see where',
    exit 1 (``mkdir`` of the home raises past the CLI's errors). Expected: one line saying HOME is
    not a folder, exit status 2 (README: errors say what to do and exit with status 2)."""
    city = tmp_path / "city"
    write_csv(city / "settlements.csv", ["settlement_id", "kind", "person_id", "institution_id", "start_time"],
              [["S1", "inpatient", "P1", "H1", "2026-03-05 09:00:00"]])
    home = tmp_path / "graphsvc-home"
    home.write_text("not a folder\n", encoding="utf-8")
    code = main([part.format(city=city) for part in command] + ["--home", str(home)])
    err = capsys.readouterr().err
    assert "internal error" not in err, err
    assert code == 2 and str(home) in err, (code, err)


def test_restore_from_a_file_is_a_one_line_error_with_exit_2(tmp_path, capsys):
    """Attack (careless operator): ``graphsvc restore backup.tar ./home``, the backup given as a file
    (a tarball copied from another machine) instead of the folder ``graphsvc backup`` writes.
    ``restore`` of a folder without a manifest says so, exit 2; a file makes it answer 'graphsvc:
    error: an internal error (NotADirectoryError)', exit 1. Expected: one line saying the backup is
    not a folder written by graphsvc backup, exit 2."""
    backup = tmp_path / "backup.tar"
    backup.write_bytes(b"\0" * 1024)
    code = main(["restore", str(backup), str(tmp_path / "restored")])
    err = capsys.readouterr().err
    assert "internal error" not in err, err
    assert code == 2 and "backup.tar" in err, (code, err)


# ---- Neo4j: python -m graphsvc.store.neo4j_server import ----------------------------------------


def _city(folder: Path, rows: list[list[str]]) -> Path:
    write_csv(folder / "settlements.csv", ["settlement_id", "kind", "person_id", "institution_id", "start_time"], rows)
    return folder


@pytest.mark.parametrize("option", ["--data", "--csv-only"])
def test_neo4j_import_given_a_file_for_a_folder_is_a_one_line_error(tmp_path, capsys, option):
    """Attack (careless operator): ``python -m graphsvc.store.neo4j_server import city/ --data X`` or
    ``--csv-only X`` where X is an existing file. ``_import`` catches only ``GraphsvcError`` and
    ``RuntimeError``: ``import_folder``'s ``data.iterdir()`` and ``EmbeddedStore(out / "validated")``'s
    mkdir raise ``NotADirectoryError`` ('[Errno 20] Not a directory'), which ends the command in a
    Python traceback with exit 1. Expected: 'neo4j_server: error: ...' naming X, exit 2, as for a
    missing contract folder."""
    from graphsvc.store import neo4j_server

    city = _city(tmp_path / "city", [["S1", "inpatient", "P1", "H1", "2026-03-05 09:00:00"]])
    target = tmp_path / "neo4j-folder"
    target.write_text("a file, not a folder\n", encoding="utf-8")
    try:
        code = neo4j_server.main(["import", str(city), option, str(target), "--home", str(tmp_path / "home")])
    except OSError as exc:
        pytest.fail(f"import {option} FILE raised {type(exc).__name__}: {exc}")
    err = capsys.readouterr().err
    assert code == 2 and "neo4j_server: error:" in err and str(target) in err, (code, err)


def test_csv_only_again_into_the_same_folder_writes_this_folder_not_the_last_one(tmp_path, capsys):
    """Attack (careless operator): ``import city-v1/ --csv-only out/``, a claim found wrong, the
    supplier re-exports, ``import city-v2/ --csv-only out/`` again. ``_import`` validates into
    ``EmbeddedStore(out / "validated")``, which the first run left behind, so the second run reads
    S1's corrected row as 'settlement_id S1 is already loaded with different content' (rejected) and
    writes import CSVs holding the first export's S1 (inpatient) and every row of city-v1 that v2 no
    longer has; it prints 'validated 2 rows (1 rejected)' and the neo4j-admin command that imports
    the stale graph. Expected: the CSVs are those of the folder given (S1 as an outpatient claim, S2),
    nothing of city-v1 and no reject; or the run refuses a non-empty OUT."""
    from graphsvc.store import neo4j_server

    out = tmp_path / "out"
    home = tmp_path / "home"
    v1 = _city(tmp_path / "city-v1", [["S1", "inpatient", "P1", "H1", "2026-03-05 09:00:00"],
                                      ["S9", "inpatient", "P9", "H1", "2026-03-05 10:00:00"]])
    v2 = _city(tmp_path / "city-v2", [["S1", "outpatient", "P1", "H1", "2026-03-05 09:00:00"],
                                      ["S2", "outpatient", "P2", "H2", "2026-03-06 09:00:00"]])
    assert neo4j_server.main(["import", str(v1), "--csv-only", str(out), "--home", str(home)]) == 0
    assert neo4j_server.main(["import", str(v2), "--csv-only", str(out), "--home", str(home)]) == 2
    err = capsys.readouterr().err
    assert "neo4j_server: error:" in err and str(out / "csv") in err and "holds files already" in err
    assert [p.name for p in out.iterdir()] == ["csv"]  # no validated store of the first run left to mix in
    again = tmp_path / "out-2"
    assert neo4j_server.main(["import", str(v2), "--csv-only", str(again), "--home", str(home)]) == 0
    with (again / "csv" / "nodes-settlements.csv").open(encoding="utf-8") as f:
        rows = sorted(line.split(",")[1:3] for line in f.read().splitlines()[1:])
    assert rows == [["S1", "outpatient"], ["S2", "outpatient"]], rows


# ---- Neo4j: a long drug trace code --------------------------------------------------------------


def test_a_very_long_trace_code_is_loaded_or_rejected_by_the_neo4j_store_not_a_failed_ingest(neo4j_server, tmp_path):
    """Attack (hostile supplier): one pharmacy sale whose ``trace_codes`` holds one code of 3,000
    Chinese characters (9,000 bytes of UTF-8). Ingest caps a value at 1,000 characters 'lists apart'
    (``MAX_VALUE_CHARS``; README: 'more than Neo4j can index'), so the row passes validation. On
    Neo4j each code is a ``TraceCode`` node whose ``_key`` the ``node_key`` uniqueness constraint
    indexes; a key over ~8 KB cannot be indexed, the MERGE of ``Neo4jStore._insert`` fails, and the
    whole batch of the file with it: one hostile cell keeps every good claim of the file out (the
    same defect test_review_attacks_3 fixed for a long name, left open for list elements).
    Expected: the run completes; the row is loaded or rejected with a reason, the other claims load."""
    from graphsvc.store.neo4j import Neo4jStore
    from ingest.pipeline import ingest_folder

    scene = Scene()
    scenes.card_collector(scene)
    holder = scene.person("LONGTC")
    scene.claim("pharmacy", holder, "PH300", "2026-03-05 10:00:00", trace_codes=["码" * 3000])
    folder = scene.write_folder(tmp_path / "city")
    with closing(Neo4jStore(neo4j_server.uri, neo4j_server.user, neo4j_server.password, tmp_path / "home")) as old:
        old.clear()
    with closing(Neo4jStore(neo4j_server.uri, neo4j_server.user, neo4j_server.password, tmp_path / "home")) as store:
        try:
            report = ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
        except Exception as exc:  # noqa: BLE001 (the defect: the ingest itself fails)
            pytest.fail(f"the ingest failed on one long trace code: {type(exc).__name__}: {str(exc)[:300]}")
        stored = store._run("MATCH (n:Settlement) WHERE n._row_hash IS NOT NULL RETURN count(n) AS n")[0]["n"]
    assert report.totals["loaded"] + report.totals["rejected"] + report.totals["unchanged"] == report.totals["read"]
    assert stored == len(scene.tables["settlements"]) - 1
    assert report.rejects_path is not None
    assert "trace_codes has an element over 1,000 characters" in report.rejects_path.read_text(encoding="utf-8")


# ---- Spark over a lake written the contract's way -----------------------------------------------


def _lake(con: duckdb.DuckDBPyConnection, folder: Path, replace: dict[str, str]) -> Path:
    """The entity tables of ``con`` as a Parquet lake (one ``TABLE.parquet`` each); ``replace`` gives a
    table's rows by a query of its own."""
    folder.mkdir(parents=True)
    for table in ENTITY_TABLES:
        target = str(folder / f"{table}.parquet").replace("'", "''")
        con.execute(f"COPY ({replace.get(table, f'SELECT * FROM {table}')}) TO '{target}' (FORMAT parquet)")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(("name", "replace", "column"), [
    ("items as text", "SELECT * REPLACE (array_to_string(items, ';') AS items, "
                      "array_to_string(trace_codes, ';') AS trace_codes) FROM settlements", "items"),
    ("times as epoch milliseconds", "SELECT * REPLACE (epoch_ms(start_time) AS start_time) FROM settlements",
     "start_time"),
], ids=["items-as-text", "start-time-as-epoch-ms"])
def test_a_lake_column_spark_cannot_cast_is_a_one_line_input_error_with_exit_code_2(spark, tmp_path, capsys,
                                                                                    name, replace, column):
    """Attack: a fund's lake written the way its ETL writes it: ``items`` and ``trace_codes`` as the
    contract's ``;``-separated text (data-contract.md: 'item or drug codes/names, ;-separated'), or
    ``start_time`` as epoch milliseconds (a BIGINT, the usual lake timestamp). README (省级部署) reads
    'the contract's columns' from the lake, and ``SparkSQLSession._check_types`` is there to refuse a
    value of the wrong type by name, with exit 2. But its ``TRY_CAST`` only catches values; a column
    whose type Spark cannot cast at all fails at analysis: ``AnalysisException
    [DATATYPE_MISMATCH.CAST_WITHOUT_SUGGESTION] cannot cast "STRING" to "ARRAY<STRING>"`` (or "BIGINT"
    to "TIMESTAMP_NTZ"), and the CLI answers 'graphsvc: error: an internal error (AnalysisException)',
    exit 1. Expected: the lake is read (the text split as ingest splits it), or one line naming
    settlements.COLUMN and the type it must have, exit 2."""
    scene = Scene()
    scenes.card_collector(scene)
    lake = _lake(scene.connection(), tmp_path / "lake", {"settlements": replace})
    capsys.readouterr()
    code = main(["detect", "--quiet", "--home", str(tmp_path / "home"), "--engine", "spark",
                 "--spark-master", "local[2]", "--input", str(lake)])
    err = capsys.readouterr().err
    assert "internal error" not in err, err
    assert code == 2 and f"settlements.{column} is stored as" in err and "\n" not in err.strip(), (code, err)


@pytest.mark.slow
def test_a_table_folder_holding_a_stray_file_is_a_one_line_input_error_with_exit_code_2(spark, tmp_path, capsys):
    """Attack (careless operator): the lake's ``settlements/`` folder (README: 'one folder (or .parquet
    file) per table') holds its Parquet part and the ETL's ``README.txt``. ``check_parquet_location``
    and ``SparkSQLSession._read`` pass (Spark infers the schema from one footer), then the first query
    reads README.txt as Parquet and fails: 'graphsvc: error: an internal error (Py4JJavaError)', exit 1.
    Expected: files that are not Parquet are left out (as Spark leaves out ``_SUCCESS``), or one line
    naming the file, exit 2."""
    scene = Scene()
    scenes.card_collector(scene)
    lake = _lake(scene.connection(), tmp_path / "lake", {})
    (lake / "settlements.parquet").unlink()
    (lake / "settlements").mkdir()
    scene.connection().execute(
        f"COPY settlements TO '{str(lake / 'settlements' / 'part-00000.parquet')}' (FORMAT parquet)")
    (lake / "settlements" / "README.txt").write_text("exported by the fund's ETL on 2026-03-01\n", encoding="utf-8")
    capsys.readouterr()
    code = main(["detect", "--quiet", "--home", str(tmp_path / "home"), "--engine", "spark",
                 "--spark-master", "local[2]", "--input", str(lake)])
    err = capsys.readouterr().err
    assert "internal error" not in err, err
    assert code == 2 and "README.txt is not a Parquet file" in err and "\n" not in err.strip(), (code, err)


def test_parts_are_told_from_strays_by_their_bytes_not_their_names(tmp_path):
    """The stray-file check reads a part's magic bytes: Hive's suffixless part (``000000_0``) passes,
    as do the files Spark itself leaves out (``_SUCCESS``, ``.part.crc``); a file of other bytes named
    like a part is refused by name."""
    from graphsvc.errors import InputError
    from graphsvc.store.engine import check_parquet_location

    scene = Scene()
    scenes.card_collector(scene)
    lake = _lake(scene.connection(), tmp_path / "lake", {})
    (lake / "settlements.parquet").rename(tmp_path / "000000_0")
    (lake / "settlements").mkdir()
    (tmp_path / "000000_0").rename(lake / "settlements" / "000000_0")
    (lake / "settlements" / "_SUCCESS").write_bytes(b"")
    (lake / "settlements" / ".000000_0.crc").write_bytes(b"crc\x00")
    check_parquet_location(str(lake))
    (lake / "settlements" / "000001_0").write_bytes(b"PAR1 cut short")
    with pytest.raises(InputError, match="000001_0 is not a Parquet file"):
        check_parquet_location(str(lake))
