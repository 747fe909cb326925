"""Detection on Apache Spark finds what it finds on DuckDB: the same findings, explained look-alikes and rings.

Each detector's SQL is written once (DuckDB's dialect) and transpiled for Spark
(``graphsvc.store.engine.spark_sql``); these tests run the detector scenes of
tests/helpers/scenes.py (grouped into two cities, one per detection configuration) and
the API's test city, loaded by the command line, on both engines and compare everything detection returns. One local Spark
session serves the whole test session; each run on it takes seconds, hence ``slow``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cli.commands import main
from graphsvc.config import Settings
from graphsvc.detect import DetectionConfig, DetectionResult, detect_rings_in
from graphsvc.detect.config import CoAdmissionLockstepConfig
from graphsvc.model import ENTITY_TABLES
from graphsvc.store import open_store
from graphsvc.store.engine import SparkSQLSession, spark_sql
from helpers import api_city, scenes
from helpers.scenes import Scene
from ingest.pipeline import ingest_folder

pytestmark = pytest.mark.slow


def _schemes(scene: Scene) -> None:
    """Every scheme once, every look-alike of tests/test_detect.py once."""
    scenes.black_intermediary(scene)
    scenes.professional_gang(scene)
    scenes.card_collector(scene)
    scenes.prescriber_collusion(scene)
    scenes.care_home_collusion(scene)
    scenes.identity_misuse(scene)
    scenes.trace_code_resale(scene)
    scenes.family(scene)
    scenes.legit_care_home(scene)
    scenes.dialysis_cohort(scene)
    scenes.dormitory_health_check(scene)
    scenes.neighbourhood_pharmacy(scene, "PH900", prefix="NP")


def _brokers_and_gangs(scene: Scene) -> None:
    scenes.two_brokers_one_hospital(scene)
    scenes.rotating_gang(scene)
    scenes.gang_flat(scene)
    scenes.duplicate_record_gang(scene)


def _base_rates(scene: Scene) -> None:
    """Look-alikes judged by their base rates (an agent's routine, a big home, a dormitory) or family ties."""
    scenes.registered_agent(scene)
    scenes.regular_care_home(scene)
    scenes.family_accident(scene)
    scenes.dormitory(scene)
    scenes.group_rental(scene)
    scenes.variant_address_family(scene)
    scenes.hospital_account(scene)
    scenes.care_home_in_rooms(scene, "RM")  # its residents found by the home's name in their addresses


def _cards_and_dialysis_stays(scene: Scene) -> None:
    """A dead man's card used by his family, then in his name; the dead's cards through one cashier; a card lent
    to four outsiders and one shared within a family living apart (mutual aid); dialysis sessions counted as
    admissions."""
    scenes.dead_cards_one_cashier(scene)
    holder = scene.card("CHX", scene.person("HX"))
    for i, other in enumerate(scene.people("OX", 4)):
        scene.claim("pharmacy", other, "PHD", scenes.day(200 + i), card_id=holder)
    parents_card = scene.card("CHY", scene.person("HY"))
    for i, parent in enumerate(scene.people("OY", 3)):
        scene.claim("pharmacy", parent, "PHD", scenes.day(210 + i), card_id=parents_card)
    scene.institution("PHD", "pharmacy")
    father, wife, son = (scene.person(p, address="石门村3组8号", phone="13900001111", death_date=d)
                         for p, d in (("DF", "2026-03-01"), ("DW", None), ("DS", None)))
    card = scene.card("CDF", father)
    for i, user in enumerate((wife, son, wife, father)):
        scene.claim("pharmacy", user, "PHD", scenes.day(100 + 9 * i, minute=7 * i), card_id=card, fund_amount=40.0)
    scenes.dialysis_cohort(scene)


def _default_config(scene: Scene) -> None:
    """The three groups above in one city: one Spark run instead of three (a run costs some 12 s of
    Spark's per-query overhead whatever the size), with the same findings, explained look-alikes and
    rings as the three cities apart (32 findings, 12 rings, every kind of either verdict)."""
    _schemes(scene)
    _brokers_and_gangs(scene)
    _base_rates(scene)


SCENES: dict[str, tuple[Callable[[Scene], None], DetectionConfig]] = {
    "default_config": (_default_config, DetectionConfig()),
    "cards_and_dialysis_stays": (_cards_and_dialysis_stays, DetectionConfig(
        co_admission_lockstep=CoAdmissionLockstepConfig(admission_kinds=("inpatient", "outpatient")))),
}


def _on_spark(spark: Any, con: duckdb.DuckDBPyConnection, folder: Path) -> SparkSQLSession:
    folder.mkdir()
    return SparkSQLSession.from_duckdb(spark, con, folder)


def _everything(result: DetectionResult) -> dict[str, Any]:
    """All detection returns, facts included (a Finding compares without them)."""
    return {"findings": [(f, f.facts) for f in result.findings],
            "explained": [(f, f.facts, f.explained) for f in result.explained],
            "rings": [r.document() for r in result.rings], "graph": result.graph}


_ON_A_CLUSTER = "cards_and_dialysis_stays"
"""The scene run the way a cluster runs it (below), and only that way: each run costs some 12 s."""


@pytest.mark.parametrize("name", [name for name in SCENES if name != _ON_A_CLUSTER])
def test_every_detector_scene_gives_the_same_findings_and_rings_on_both_engines(name, spark, tmp_path):
    _same_on_both_engines(name, spark, tmp_path)


def test_on_a_cluster_detection_caches_its_tables_and_finds_the_same(spark, tmp_path, monkeypatch):
    """A cluster's master keeps the tables' lineage (cached, not checkpointed: a lost executor's blocks
    are recomputed); the cached path finds the same and frees its tables too. Its scene is compared on
    this path alone: the checkpointed one is the other scene's."""
    from graphsvc.store import engine

    monkeypatch.setattr(engine, "keeps_lineage", lambda master: True)
    _same_on_both_engines(_ON_A_CLUSTER, spark, tmp_path)


def _same_on_both_engines(name: str, spark: Any, tmp_path: Path) -> None:
    build, config = SCENES[name]
    scene = Scene()
    build(scene)
    on_duckdb = detect_rings_in(scene.connection(), config)
    def kept() -> int:
        return spark.sparkContext._jsc.sc().getPersistentRDDs().size()

    before = kept()
    session = _on_spark(spark, scene.connection(), tmp_path / "parquet")
    try:
        on_spark = detect_rings_in(session, config)
        assert kept() > before  # detection's tables are kept in Spark...
    finally:
        session.close()
    assert kept() == before  # ...and closing the session frees every one of them
    assert on_duckdb.findings and on_duckdb.rings or on_duckdb.explained  # the scene has something to compare
    assert _everything(on_spark) == _everything(on_duckdb)


def test_the_scenes_exercise_every_detector_and_both_kinds_of_verdict():
    """The comparison above means something only if the scenes make every detector speak."""
    kinds: set[str] = set()
    explained: set[str] = set()
    for build, config in SCENES.values():
        scene = Scene()
        build(scene)
        result = detect_rings_in(scene.connection(), config)
        kinds |= {f.kind for f in result.findings}
        explained |= {f.kind for f in result.explained}
    assert {"card_used_by_others", "card_used_after_death", "card_in_two_places", "shared_contact_phone",
            "shared_agent", "co_admission_lockstep", "shared_address", "card_burst", "unseen_prescriptions",
            "care_home_waves", "trace_code_resold"} <= kinds
    assert {"co_admission_lockstep", "shared_contact_phone"} <= explained


def test_transpiled_sql_keeps_duckdb_meaning_where_spark_differs():
    # Spark's RLIKE finds a pattern anywhere; DuckDB's regexp_full_match needs all of the string.
    assert "RLIKE '^(?:[0-9]*)$'" in spark_sql("SELECT regexp_full_match(k, '[0-9]*') FROM t")
    # A date check that fails is NULL in DuckDB's try_strptime; Spark's TO_TIMESTAMP would raise in ANSI mode.
    assert "TRY_TO_TIMESTAMP(SUBSTRING(v, 7, 8), 'yyyyMMdd')" in spark_sql("SELECT try_strptime(substr(v, 7, 8), '%Y%m%d')")


# ---- the command line on the API's test city ------------------------------------------------------


@pytest.fixture(scope="module")
def city_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API's test city (a broker, a card collector, identity misuse, a family; tests/helpers/api_city.py)
    loaded: the home the CLI tests copy."""
    root = tmp_path_factory.mktemp("spark-city")
    scene, _ = api_city.city_scene()
    with open_store(Settings(home=root / "home")) as store:
        ingest_folder(store, scene.write_folder(root / "city"), rejects_dir=root / "rejects", progress=False)
    return root / "home"


def _home(city_home: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(city_home, tmp_path / "home")
    return tmp_path / "home"


def _detect(home: Path, out: Path, *args: str) -> list[dict[str, Any]]:
    assert main(["detect", "--quiet", "--top", "0", "--out", str(out), "--home", str(home), *args]) == 0
    return json.loads(out.read_text(encoding="utf-8"))["rings"]


def test_cli_detects_the_same_rings_on_spark_from_the_store_and_from_a_parquet_folder(city_home, spark, tmp_path):
    home = _home(city_home, tmp_path)
    default = _detect(home, tmp_path / "duckdb.json")
    assert {r["pattern"] for r in default} >= {"black_intermediary", "card_collector", "identity_misuse"}
    # Ring ids are kept from run to run for the same persons: identical rings are identical documents.
    assert _detect(home, tmp_path / "spark.json", "--engine", "spark") == default
    lake = tmp_path / "lake"
    lake.mkdir()
    with open_store(Settings(home=home)) as store:
        con = store.analysis_connection()
        try:
            for table in ENTITY_TABLES:  # the lake's layout: a folder of files per table
                (lake / table).mkdir()
                con.execute(f"COPY (SELECT * FROM main.{table}) "
                            f"TO '{lake / table / 'part-0.parquet'}' (FORMAT parquet)")
        finally:
            con.close()
    assert _detect(home, tmp_path / "lake.json", "--engine", "spark", "--input", str(lake)) == default


def test_a_bad_input_is_a_one_line_error_and_exit_code_2(city_home, tmp_path, capsys):
    home = _home(city_home, tmp_path)
    assert main(["detect", "--quiet", "--home", str(home), "--engine", "spark", "--input", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nowhere is not a folder of Parquet tables" in err and "\n" not in err and "Traceback" not in err
    partial = tmp_path / "partial"
    (partial / "persons").mkdir(parents=True)
    assert main(["detect", "--quiet", "--home", str(home), "--engine", "spark", "--input", str(partial)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"has no Parquet table(s) {', '.join(t for t in ENTITY_TABLES if t != 'persons')}" in err
    assert "\n" not in err
    assert main(["detect", "--quiet", "--home", str(home), "--input", str(partial)]) == 2
    assert "--input go with --engine spark" in capsys.readouterr().err
    assert main(["detect", "--quiet", "--home", str(home), "--engine", "spark", "--input", ""]) == 2
    assert "the Parquet location is empty" in capsys.readouterr().err
