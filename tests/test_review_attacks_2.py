"""Attacks from a hostile review of the restructuring (typed results masked by field kind, evidence
rendered from facts in en / zh, the investigator's new entity routes, services, schema versions).

Each test performs the attack on the embedded backend and states what the product must do.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import create_app
from graphsvc.config import Settings
from graphsvc.store import GraphStore
from helpers.api_city import City, city_scene, load_scene
from helpers.scenes import valid_id_number

# ---- 1. an operator id that is an ID number, in evidence facts and sentences ------------------------

# Pharmacies' cashiers are often logged by their 身份证号 (or their mobile number): the card
# collector's bursts at PH300 were all swiped by this operator.
OPERATOR_ID_NUMBER = valid_id_number(430102, "1980-05-06", 12, True)


def _load_city_with_id_number_operator(store: GraphStore, tmp_path: Path) -> City:
    scene, facts = city_scene()
    for row in scene.tables["settlements"]:
        if row.get("operator_id") == "PH300-OP1":
            row["operator_id"] = OPERATOR_ID_NUMBER
    return load_scene(store, tmp_path, scene, facts)


@pytest.fixture
def operator_city(cities, tmp_path) -> Iterator[City]:
    with cities.copy(Settings(home=tmp_path / "home"), load=_load_city_with_id_number_operator) as city:
        yield city


def _unpacked(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_an_analyst_never_sees_an_operators_id_number_in_evidence(operator_city, tmp_path):
    analyst = operator_city.headers("analyst")
    with TestClient(create_app(Settings(home=tmp_path / "home"), store=operator_city.store)) as client:
        answers = {lang: client.get("/rings/R-000002", params={"lang": lang}, headers=analyst) for lang in ("en", "zh")}
        export = client.get("/rings/R-000002/export", params={"format": "json"}, headers=analyst)
    for lang, ring in answers.items():
        assert ring.status_code == 200, ring.text
        burst = next(e for e in ring.json()["evidence"] if e["kind"] == "card_burst")
        # the masked form, as every other ID number is shown to the role
        assert OPERATOR_ID_NUMBER not in burst["detail"], f"{lang} sentence: {burst['detail']}"
        assert OPERATOR_ID_NUMBER not in str(burst["facts"]), f"{lang} facts: {burst['facts']}"
        assert OPERATOR_ID_NUMBER not in ring.text
    assert export.status_code == 200
    for name, content in _unpacked(export.content).items():
        assert OPERATOR_ID_NUMBER.encode() not in content, f"analyst's export, {name}"


# ---- 2. an audit log that cannot be written: the 503 names the server's files -----------------------

@pytest.fixture
def city(cities, tmp_path) -> Iterator[City]:
    with cities.copy(Settings(home=tmp_path / "home")) as city:
        yield city


def test_an_unwritable_audit_log_does_not_tell_an_analyst_the_servers_paths(city, tmp_path):
    home = tmp_path / "home"
    app = create_app(Settings(home=home), store=city.store)
    with TestClient(app) as client:
        audit = app.state.services.audit
        # The log's folder is gone (a tmp cleaner, a disk remounted read-only: EROFS names the path too)
        # before its first segment is opened.
        assert audit._fd is None
        for segment in audit._folder.glob("*"):
            segment.unlink()
        audit._folder.rmdir()
        answer = client.get("/rings/R-000003", headers=city.headers("analyst"))
    assert answer.status_code == 503  # not answered, as it must be...
    # ... but the caller learns nothing of the server's disk: no path, no pid, no OS error text.
    assert str(home) not in answer.text and "audit-wal" not in answer.text, answer.text
    assert "Errno" not in answer.text, answer.text
