"""Evidence sentences rendered from a finding's facts, in Chinese and English, and masked through the facts.

The findings are the detectors' own, on the planted scenes of ``scenes.py``: every kind a
detector reports, look-alikes explained away included.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from graphsvc.config import Settings
from graphsvc.detect import DETECTORS, detect_and_save
from graphsvc.detect.config import DetectionConfig
from graphsvc.detect.finding import Finding
from graphsvc.evidence import KINDS, LANGUAGES, REASONS, explain, fact_type, render
from graphsvc.store import GraphStore, open_store
from helpers import scenes
from helpers.scenes import Scene, day, valid_id_number
from ingest.pipeline import ingest_folder
from queries.masking import Masker, mask_id_number
from queries.rings import RingBook, ring_view

BROKER_PHONE = "15900000017"
ACCOUNT = "6222000000000001"
SECRET = "s" * 32
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_TOKEN = re.compile(r"[0-9A-Za-z_-]*[A-Za-z][0-9A-Za-z_-]*")
"""A run of letters, digits, '_' and '-' with a letter in it: an English word or an id."""


def _scenes() -> list[Scene]:
    """Every scheme, the look-alikes that are explained, and the two kinds no scheme scene makes."""
    city = Scene()
    for plant in (scenes.black_intermediary, scenes.professional_gang, scenes.card_collector,
                  scenes.prescriber_collusion, scenes.care_home_collusion, scenes.identity_misuse,
                  scenes.trace_code_resale, scenes.family, scenes.dialysis_cohort):
        plant(city)
    others = Scene()
    holder = others.person("HX")  # a card paying for four strangers
    card = others.card("CHX", holder)
    for i, stranger in enumerate(others.people("OX", 4)):
        others.claim("pharmacy", stranger, "PHOX", day(200 + i), card_id=card)
    for i in range(3):  # three persons in three houses registered with one phone
        others.person(f"OP{i}", phone="13912340000")
    scenes.dead_cards_one_cashier(others)
    alone = []
    for plant in (scenes.rotating_gang, scenes.gang_flat, scenes.registered_agent, scenes.regular_care_home):
        alone.append(Scene())
        plant(alone[-1])
    return [city, others, *alone]


@pytest.fixture(scope="module")
def findings() -> list[Finding]:
    config = DetectionConfig()
    found = []
    for scene in _scenes():
        con = scene.connection()
        found += [f for detector in DETECTORS.values() for f in detector(con, config)]
    return found


def _one(findings: list[Finding], kind: str, **facts: Any) -> Finding:
    [found] = [f for f in findings if f.kind == kind and all(f.facts.get(k) == v for k, v in facts.items())]
    return found


def test_every_kind_renders_in_both_languages_from_its_facts(findings: list[Finding]) -> None:
    assert {f.kind for f in findings} == set(KINDS)
    assert any(f.explained for f in findings)
    for f in findings:
        assert f.detail == render(f.kind, f.facts, "en")  # what a detector stores is its facts' English
        chinese = render(f.kind, f.facts, "zh")
        assert _HAN.search(chinese) and chinese != f.detail, (f.kind, chinese)


def test_every_reason_a_look_alike_is_normal_is_said_in_both_languages(findings: list[Finding]) -> None:
    """Why a look-alike joins no ring is said from its facts like evidence: Chinese first, English beside."""
    explained = [f for f in findings if f.explained]
    said = {f.explained for f in explained}
    assert said == {"routine_agency_work", "care_home_chance"}, said  # the others: test_every_reason_has_both_sentences
    for f in explained:
        assert f.explained is not None
        chinese, english = explain(f.explained, f.facts, "zh"), explain(f.explained, f.facts, "en")
        assert _HAN.search(chinese) and not re.search(r"[A-Za-z]{3,}", re.sub(r"\b[A-Z]+\d\w*", "", chinese)), chinese
        assert english != chinese and english == explain(f.explained, f.facts), f.explained
    agent = _one([f for f in explained if f.explained == "routine_agency_work"], "shared_agent")
    assert explain("routine_agency_work", agent.facts, "zh").startswith(
        f"正常代办业务：为 {agent.facts['agent_persons']} 人办理结算 {agent.facts['agent_claims']} 笔")


_REASON_FACTS: dict[str, dict[str, Any]] = {  # each reason's facts as its detector writes them (tests/test_detect*.py check the detectors')
    "routine_agency_work": {"agent_claims": 40, "agent_persons": 40, "pairs_together": 0, "together_days": 2,
                            "chance_pairs": 4.2, "months": 9, "institutions_used": 3, "busiest": "H0",
                            "busiest_claims": 14, "busiest_expected": 13.3},
    "family_at_address": {"persons": 4, "family_tie": "surname"},
    "care_home_chance": {"home_admissions": 80, "home_residents": 30, "period_days": 365, "chance_waves": 19.27,
                         "wave_size": 4, "waves": 20, "p_value": 0.5},
    "address_base_rate": {"address_key": "长沙市解放路12号", "waves": 6, "beyond_chance": 1,
                          "rate_institutions": ["H1", "H2"], "rates": [0.31, 0.05], "rate_needed": [3, 2]},
    "treatment_schedule": {"waves": 26, "median_gap_days": 2.0},
    "within_chance": {"pairs_together": 12, "waves": 5, "chance_pairs": 9.5, "p_value": 0.21, "searched_pairs": 300},
    "group_booking": {"booking_day": "2026-05-11", "booking_days": 3, "booked_persons": 45, "booked_institutions": 2},
    "family_binding": {"households": 3, "cards": 6},
    "institution_account": {"institution": "H1", "account_claims": 40, "institution_claims": 42, "pairs_together": 3,
                            "together_days": 2, "chance_pairs": 10.7},
}


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_reason_has_both_sentences(reason: str) -> None:
    chinese, english = explain(reason, _REASON_FACTS[reason], "zh"), explain(reason, _REASON_FACTS[reason], "en")
    assert _HAN.search(chinese) and not re.search(r"[a-z]{3,}", chinese), chinese
    assert not _HAN.search(english.replace("长沙市解放路12号", "")), english
    for value in (v for v in _REASON_FACTS[reason].values() if isinstance(v, int) and v > 1):
        assert str(value) in chinese and str(value) in english, (reason, value)


def test_sentences_say_the_planted_facts(findings: list[Finding]) -> None:
    account = _one(findings, "shared_payee_account", value=ACCOUNT)
    assert account.detail == (f"account {ACCOUNT} is the payee account of claims of 6 persons in 6 households, "
                              "18 claim(s), fund 90,000.00")
    assert render(account.kind, account.facts, "zh") == (f"账户 {ACCOUNT} 是 6 户 6 人的理赔收款账户，涉及理赔 18 笔，"
                                                         "统筹金额 90,000.00 元")
    phone = _one(findings, "shared_contact_phone", value=BROKER_PHONE)
    assert render(phone.kind, phone.facts, "zh") == (f"电话 {BROKER_PHONE}（中介 IBI）是 6 户 6 人理赔的联系电话，"
                                                     "涉及理赔 18 笔，统筹金额 90,000.00 元")
    rotating = _one(findings, "co_admission_lockstep", institutions=["HRG0", "HRG1", "HRG2"])
    assert render(rotating.kind, rotating.facts, "zh").startswith(
        "5 人在 3 家机构结伴入院 6 次（日期 机构（人数）：2026-02-05 HRG0（5）、2026-03-30 HRG1（5）、")
    dead = _one(findings, "card_used_after_death", holder="IM000")
    assert render(dead.kind, dead.facts, "zh") == ("参保人 IM000 已于 2026-02-01 死亡，其医保卡 CIM000 在其死亡后被使用 4 次"
                                                   "（2026-03-02 至 2026-03-22），结算机构 CLIM、PHIM1、PHIM2；"
                                                   "统筹金额 4,000.00 元")
    home = _one(findings, "care_home_waves", home="NHRC")  # explained: what chance brings
    assert home.explained and render(home.kind, home.facts, "zh").endswith(
        "按其在各医院的频率偶然出现 4 人以上的批次约 19.27 批，实际 20 批（偶然概率 0.5）")


def test_chinese_sentences_have_no_english_words_only_ids(findings: list[Finding]) -> None:
    for f in findings:
        ids = {str(v) for name, value in f.facts.items() if fact_type(name, f.facts) != "word"
               for v in (value if isinstance(value, list) else [value])}
        chinese = render(f.kind, f.facts, "zh")
        for token in _LATIN_TOKEN.findall(chinese):
            assert token in ids, (f.kind, token, chinese)


def _as_id_numbers(scene: Scene, prefix: str) -> list[str]:
    """Give the persons whose ids start with ``prefix`` their ID number as id (many agencies' 个人编号 is
    the 身份证号), wherever a row names them."""
    renamed = {row["person_id"]: valid_id_number(430102, "1935-01-01", 100 + i, True)
               for i, row in enumerate(r for r in scene.tables["persons"] if r["person_id"].startswith(prefix))}
    for rows in scene.tables.values():
        for row in rows:
            row.update({k: renamed[v] for k, v in row.items() if isinstance(v, str) and v in renamed})
    return list(renamed.values())


def test_an_analyst_reads_no_personal_value_in_any_sentence_in_either_language(store: GraphStore,
                                                                                tmp_path: Path) -> None:
    scene = Scene()
    scenes.black_intermediary(scene)
    flat = scenes.gang_flat(scene)["address"]
    scenes.identity_misuse(scene)
    id_numbers = _as_id_numbers(scene, "IM")
    for i, row in enumerate(scene.tables["persons"]):
        row.setdefault("name", scenes.name_of(i))
    names = [row["name"] for table in ("persons", "intermediaries") for row in scene.tables[table]]
    ingest_folder(store, scene.write_folder(tmp_path / "city"), rejects_dir=tmp_path / "rejects", progress=False)
    detect_and_save(store)
    book = RingBook(store)
    clear = [BROKER_PHONE, ACCOUNT, flat, *id_numbers, *names]
    masked = ["159****0017", "6222****0001", flat[:6] + "***", mask_id_number(id_numbers[0])]
    for lang in LANGUAGES:
        for role, expected in (("analyst", masked), ("investigator", clear[:4])):
            masker = Masker(role, secret=SECRET)
            evidence = [e for ring in store.rings()
                        for e in ring_view(book, ring["id"], masker, lang)["evidence"]]  # type: ignore[index]
            sentences = " ".join(e["detail"] for e in evidence)
            for value in expected:  # the sentence names what the finding is about, as the role sees it
                assert value in sentences, (role, lang, value)
            if role == "analyst":
                shown = json.dumps(evidence, ensure_ascii=False)
                for value in clear:
                    assert value not in shown, (lang, value)


def test_evidence_saved_before_facts_were_complete_shows_its_stored_sentence_masked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(Path(__file__).parent / "fixtures" / "home-v1", home)
    with open_store(Settings(home=home, backend="embedded")) as store:
        book = RingBook(store)
        stored = {r["id"]: [e["detail"] for e in r["evidence"]] for r in store.rings()}
        for ring_id, details in stored.items():
            investigator = ring_view(book, ring_id, Masker("investigator", secret=SECRET), "en")
            assert [e["detail"] for e in investigator["evidence"]] == details  # type: ignore[index]
            for lang in LANGUAGES:
                analyst = ring_view(book, ring_id, Masker("analyst", secret=SECRET), lang)
                shown = json.dumps(analyst["evidence"], ensure_ascii=False)  # type: ignore[index]
                assert BROKER_PHONE not in shown and ACCOUNT not in shown
    assert any(BROKER_PHONE in d for details in stored.values() for d in details)
