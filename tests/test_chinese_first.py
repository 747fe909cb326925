"""Chinese first: evidence reaches users in Chinese unless they ask for English (issue 15 item 1).

The API's ring detail, the police package and the command line's detection output speak Chinese by
default; ``lang=en`` gives the English sentence, and the machine-readable ``detail`` of the data
contract stays English with ``detail_zh`` beside it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import create_app
from cli.commands import main
from graphsvc.config import Settings
from graphsvc.evidence import render
from helpers.api_city import BROKER_PHONE, City, city_scene

_HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def client(city: City, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=city.store)) as c:
        yield c


def _evidence(client: TestClient, city: City, role: str, **params: str) -> list[dict]:
    answer = client.get("/rings/R-000003", params=params, headers=city.headers(role))
    assert answer.status_code == 200, answer.text
    evidence: list[dict] = answer.json()["evidence"]
    return evidence


def test_ring_evidence_is_chinese_by_default_and_english_on_request(client: TestClient, city: City) -> None:
    chinese = _evidence(client, city, "investigator")
    english = _evidence(client, city, "investigator", lang="en")
    assert [e["kind"] for e in chinese] == [e["kind"] for e in english] and chinese
    for zh, en in zip(chinese, english):
        assert zh["detail"] == render(zh["kind"], zh["facts"], "zh") and _HAN.search(zh["detail"])
        assert en["detail"] == render(en["kind"], en["facts"], "en") and not _HAN.search(en["detail"])
    phone = next(e for e in chinese if e["kind"] == "shared_contact_phone")
    assert phone["detail"].startswith(f"电话 {BROKER_PHONE}"), phone["detail"]
    # the analyst's Chinese sentence is made from masked facts: the broker's phone is not in it
    analyst = _evidence(client, city, "analyst")
    assert all(_HAN.search(e["detail"]) for e in analyst)
    assert BROKER_PHONE not in json.dumps(analyst, ensure_ascii=False)


def test_an_unknown_language_is_refused(client: TestClient, city: City) -> None:
    answer = client.get("/rings/R-000003", params={"lang": "fr"}, headers=city.headers("investigator"))
    assert answer.status_code == 422


def test_detect_output_has_the_chinese_sentence_beside_the_contracts_english(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = city_scene()[0].write_folder(tmp_path / "city")
    home, out = tmp_path / "home", tmp_path / "rings.json"
    assert main(["ingest", str(folder), "--home", str(home), "--quiet"]) == 0
    assert main(["detect", "--home", str(home), "--quiet", "--top", "3", "--out", str(out)]) == 0
    rings = json.loads(out.read_text(encoding="utf-8"))["rings"]
    assert len(rings) == 3
    for ring in rings:
        for e in ring["evidence"]:
            assert e["detail"] == render(e["kind"], e["facts"], "en")
            assert e["detail_zh"] == render(e["kind"], e["facts"], "zh") and _HAN.search(e["detail_zh"])
    printed = capsys.readouterr().out
    assert "黑中介 black intermediary" in printed and "依据: " in printed
    assert "线索团伙 3 个" in printed
