"""The demo-city generator: deterministic, truth beside the folder, every pattern planted, clean to ingest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from graphsvc.config import Settings
from graphsvc.generate import generate_city, truth_path
from graphsvc.generate.text import id_numbers
from graphsvc.model import table
from graphsvc.store import open_store
from ingest.pipeline import ingest_folder
from ingest.validate import BatchValidator

PATTERNS = {"professional_gang", "black_intermediary", "card_collector", "prescriber_pharmacy_collusion",
            "care_home_collusion", "identity_misuse", "other"}


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_city_other_seed_other_city(tmp_path):
    a = tmp_path / "a" / "city"
    b = tmp_path / "b" / "city"
    c = tmp_path / "c" / "city"
    generate_city(a, persons=6000, seed=3, progress=False)
    generate_city(b, persons=6000, seed=3, progress=False)
    generate_city(c, persons=6000, seed=4, progress=False)
    assert _digest(a) == _digest(b)
    assert truth_path(a).read_bytes() == truth_path(b).read_bytes()
    assert _digest(a)["settlements.csv"] != _digest(c)["settlements.csv"]


def test_truth_lies_beside_the_folder_and_plants_every_pattern_and_lookalike(tmp_path):
    out = tmp_path / "city"
    generate_city(out, persons=8000, seed=11, progress=False)
    assert not any("truth" in p.name for p in out.iterdir())
    truth = json.loads(truth_path(out).read_text(encoding="utf-8"))
    assert {r["pattern"] for r in truth["rings"]} == PATTERNS
    assert {g["kind"] for g in truth["lookalikes"]} >= {"care_home", "dialysis_cohort", "dormitory_health_check", "family"}
    ring_persons = [p for r in truth["rings"] for p in r["persons"]]
    assert len(ring_persons) == len(set(ring_persons)), "a person is cast in two rings"
    lookalike_persons = {p for g in truth["lookalikes"] if g["kind"] != "family" for p in g["persons"]}
    assert not lookalike_persons & set(ring_persons)


def test_generated_city_loads_with_exactly_the_broken_rows_rejected(tmp_path):
    out = tmp_path / "city"
    summary = generate_city(out, persons=6000, seed=5, dirt=0.01, progress=False)
    truth = json.loads(truth_path(out).read_text(encoding="utf-8"))
    with open_store(Settings(home=tmp_path / "home")) as store:
        report = ingest_folder(store, out, rejects_dir=tmp_path / "rejects", progress=False)
        assert summary["broken_settlement_rows"] > 0
        assert report.totals["rejected"] == summary["broken_settlement_rows"]
        assert store.node_counts()["Settlement"] == summary["settlements"] - summary["broken_settlement_rows"]
        persons = set(store.rows("persons").column("person_id").to_pylist())
        assert all(p in persons for r in truth["rings"] for p in r["persons"])
        # Only the deliberately mistyped ~0.2% of ID numbers fail the check digit.
        valid = store.rows("persons").column("id_number_valid").to_pylist()
        assert 0 < valid.count(False) < 0.01 * len(valid)


def test_generated_id_numbers_carry_a_correct_check_digit():
    numbers = id_numbers(np.array([430102, 110105]), np.array([-7305, 3000]), np.array([1, 2]), np.array([True, False]))
    validator = BatchValidator(table("persons"))
    rows = {c: pa.nulls(2, pa.string()) for c in table("persons").column_names}
    rows["person_id"] = pa.array(["P1", "P2"])
    rows["id_number"] = numbers
    checked = validator.validate(pa.table(rows), pa.array([2, 3], pa.int64()))
    assert checked.column("id_number_valid").to_pylist() == [True, True]
