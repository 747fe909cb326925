"""Detection on hand-built scenes: each detector finds its scheme and leaves the look-alikes alone."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pyarrow as pa
import pytest
from neo4j.exceptions import Neo4jError

from graphsvc.detect import DetectionConfig, DetectionResult, detect_and_save, detect_rings, detect_rings_in
from graphsvc.detect.card_burst import card_burst_findings
from graphsvc.detect.care_home_waves import care_home_wave_findings
from graphsvc.detect.co_admission_lockstep import co_admission_lockstep_findings
from graphsvc.detect.config import CoAdmissionLockstepConfig
from graphsvc.detect.finding import PATTERNS
from graphsvc.detect.prescriber_collusion import prescriber_collusion_findings
from graphsvc.detect.shared_card import shared_card_findings
from graphsvc.detect.shared_identifier import shared_identifier_findings
from graphsvc.detect.trace_code_resold import trace_code_resold_findings
from graphsvc.evidence import explain
from helpers import scenes
from helpers.scenes import Scene
from ingest.pipeline import ingest_folder


def kinds(findings):
    return sorted(f.kind for f in findings)


# ---- one detector at a time ---------------------------------------------------------------------


def test_shared_identifiers_find_the_broker_and_explain_the_family_and_care_home():
    scene = Scene()
    planted = scenes.black_intermediary(scene)
    scenes.family(scene)
    scenes.legit_care_home(scene)
    scenes.dormitory_health_check(scene)
    findings = shared_identifier_findings(scene.connection())
    assert kinds(findings) == ["shared_agent", "shared_contact_phone", "shared_payee_account"]
    for f in findings:
        assert f.persons == tuple(planted["persons"])
        assert f.suggests == "black_intermediary"
        # The agent is the broker; the contact phone is his (intermediaries.csv says so).
        assert (("intermediary", planted["broker"]) in f.entities) == (f.kind != "shared_payee_account")
    phone = next(f for f in findings if f.kind == "shared_contact_phone")
    assert "6 persons in 6 households" in phone.detail and "18 claim(s)" in phone.detail


def test_card_collector_is_found_by_bursts_bound_phone_and_devices():
    scene = Scene()
    planted = scenes.card_collector(scene)
    [burst] = card_burst_findings(scene.connection())
    assert set(burst.persons) == set(planted["persons"][1:9])  # the eight swiped cards, no passing customer
    assert burst.facts["bursts"] == 3 and burst.facts["devices"] == planted["devices"]
    assert burst.facts["key_drug_share"] == 1.0
    shared = shared_identifier_findings(scene.connection())
    bound = next(f for f in shared if f.kind == "shared_bound_phone")
    assert set(bound.persons) == set(planted["persons"])  # holders and the collector who owns the phone
    assert sorted(f.kind for f in shared) == ["shared_bound_phone", "shared_card_device", "shared_card_device"]


def test_two_collectors_at_one_pharmacy_stay_apart():
    scene = Scene()
    first = scenes.card_collector(scene, prefix="CA", burst_days=(40, 100, 160))
    second = scenes.card_collector(scene, prefix="CB", burst_days=(70, 130, 190), background=False)
    bursts = card_burst_findings(scene.connection())
    assert sorted(set(b.persons) for b in bursts) == sorted([set(first["persons"][1:9]), set(second["persons"][1:9])])


def test_neighbourhood_pharmacy_rush_is_no_burst():
    scene = Scene()
    scene.institution("PH1", "pharmacy")
    scenes.neighbourhood_pharmacy(scene, "PH1", prefix="N", customers=60)
    people = scene.people("R", 5)
    for i, p in enumerate(people):  # a rush of five customers in ten minutes, everyday medicine
        scene.claim("pharmacy", p, "PH1", scenes.day(50, 17, 2 * i), card_id=scene.card(f"C{p}", p), items=["感冒灵颗粒"])
    assert card_burst_findings(scene.connection()) == []


def test_lockstep_finds_the_gang_and_not_the_dialysis_cohort_or_a_one_off_group():
    scene = Scene()
    gang = scenes.professional_gang(scene)
    scenes.dialysis_cohort(scene)
    scenes.dormitory_health_check(scene)
    one_off = scene.people("OO", 6)
    scene.institution("H900", "hospital")
    for p in one_off:  # a bus crash: six admitted together, once
        scene.claim("inpatient", p, "H900", scenes.day(200))
    [f] = co_admission_lockstep_findings(scene.connection())
    assert f.persons == tuple(gang) and f.facts["waves"] == 4 and f.facts["admissions"] == 20
    assert f.entities == (("institution", "H200"),)


def test_dialysis_sessions_counted_as_admissions_are_explained_by_their_schedule():
    scene = Scene()
    scenes.dialysis_cohort(scene)
    with_outpatient = CoAdmissionLockstepConfig(admission_kinds=("inpatient", "outpatient"))
    [schedule] = co_admission_lockstep_findings(scene.connection(), with_outpatient)
    assert schedule.explained == "treatment_schedule"
    assert explain(schedule.explained, schedule.facts).startswith("a treatment schedule (dialysis, chemotherapy): 26 same-day sessions")
    assert explain(schedule.explained, schedule.facts, "zh").startswith("规律治疗（透析、化疗）：同日一起就诊 26 次")
    # Without the schedule rule, sessions three times a week are still what the members' own visits bring.
    no_schedule_rule = CoAdmissionLockstepConfig(admission_kinds=("inpatient", "outpatient"), schedule_min_waves=1000,
                                                 cycle_min_waves=1000)
    [found] = co_admission_lockstep_findings(scene.connection(), no_schedule_rule)
    assert found.explained == "within_chance"
    assert explain(found.explained, found.facts).startswith("co-admissions within chance for persons admitted this often")


def test_a_gang_admitted_every_week_is_frequent_stays_not_a_treatment_schedule():
    scene = Scene()
    scene.institution("HWK", "hospital", ownership="private")
    gang = scene.people("WK", 5, birth_date="1975-01-01")
    for i, other in enumerate(scene.people("WO", 2)):  # the export covers the year, as a fund's does
        scene.claim("inpatient", other, "HWK", scenes.day(1 + 360 * i))
    for week in range(14):
        for p in gang:
            scene.claim("inpatient", p, "HWK", scenes.day(10 + 7 * week),
                        end_time=scenes.day(13 + 7 * week).strftime("%Y-%m-%d %H:%M:%S"))
    [f] = co_admission_lockstep_findings(scene.connection())
    assert f.explained is None and f.persons == tuple(gang) and f.facts["waves"] == 14


def test_prescriber_collusion_names_only_persons_he_never_saw():
    scene = Scene()
    planted = scenes.prescriber_collusion(scene)
    [f] = prescriber_collusion_findings(scene.connection())
    assert f.persons == tuple(planted["strangers"])
    assert f.facts["unseen_scripts"] == 12 and f.facts["scripts"] == 16
    assert ("prescriber", planted["prescriber"]) in f.entities and ("institution", planted["pharmacy"]) in f.entities


def test_prescriber_whose_patients_fill_scripts_is_not_reported():
    scene = Scene()
    scene.institution("CL1", "clinic")
    scene.institution("PH1", "pharmacy")
    for i, p in enumerate(scene.people("PT", 12)):
        scene.claim("outpatient", p, "CL1", scenes.day(i), prescriber_id="DR1")
        scene.claim("pharmacy", p, "PH1", scenes.day(i, 15), prescriber_id="DR1")
    assert prescriber_collusion_findings(scene.connection()) == []


def test_care_home_waves_flag_collusion_and_not_a_home_whose_residents_fall_ill_alone():
    scene = Scene()
    planted = scenes.care_home_collusion(scene)
    scenes.legit_care_home(scene)
    [f] = care_home_wave_findings(scene.connection())
    assert f.entities == (("institution", planted["home"]), ("institution", planted["hospital"]))
    assert f.facts["waves"] == 3 and set(f.persons) <= set(planted["persons"])
    assert shared_identifier_findings(scene.connection()) == []  # the homes' own phone and address explain the sharing


def test_cards_misused_after_death_in_two_places_and_for_outsiders():
    scene = Scene()
    planted = scenes.identity_misuse(scene)
    scenes.family(scene)
    holder = scene.person("HX")
    card = scene.card("CHX", holder)
    for i, other in enumerate(scene.people("OX", 4)):
        scene.claim("pharmacy", other, "PHFA", scenes.day(200 + i), card_id=card)
    # Three close relatives living elsewhere (parents in a care home, a child at work) on one card: mutual aid.
    parents_card = scene.card("CHY", scene.person("HY"))
    for i, parent in enumerate(scene.people("OY", 3)):
        scene.claim("pharmacy", parent, "PHFA", scenes.day(210 + i), card_id=parents_card)
    findings = shared_card_findings(scene.connection())
    after_death = sorted(f.facts["holder"] for f in findings if f.kind == "card_used_after_death")
    assert after_death == planted["dead"]
    assert sorted(f.facts["holder"] for f in findings if f.kind == "card_in_two_places") == planted["persons"]
    [others] = [f for f in findings if f.kind == "card_used_by_others"]
    assert others.facts == {"card": "CHX", "holder": "HX", "users": ["OX000", "OX001", "OX002", "OX003"], "claims": 4,
                            "fund": 4000.0}
    scan = [f for f in shared_identifier_findings(scene.connection()) if f.kind == "shared_scan_device"]
    assert [f.persons for f in scan] == [tuple(planted["persons"])]


def test_a_card_in_two_places_names_its_holder_from_cards_or_else_from_the_claim():
    """The holder of a card is its cards row's person; a card missing from ``cards`` (an export without
    cards.csv) is held by the person of the claim, as before the window stopped carrying claimants."""
    from graphsvc.detect.finding import in_memory_claims

    def swipes(card: str, person: str) -> list[dict]:
        return [{"settlement_id": f"{card}-{i}", "kind": "pharmacy", "person_id": person, "card_id": card,
                 "institution_id": place, "start_time": f"2026-03-05 10:{10 * i:02d}", "fund_amount": 50.0}
                for i, place in enumerate(("PH1", "PH2"))]
    con = in_memory_claims(persons=[{"person_id": p} for p in ("P1", "P2", "P3")],
                           cards=[{"card_id": "C1", "person_id": "P1"}],
                           settlements=swipes("C1", "P2") + swipes("C9", "P3"))
    two = {f.facts["card"]: f.facts["holder"] for f in shared_card_findings(con) if f.kind == "card_in_two_places"}
    assert two == {"C1": "P1", "C9": "P3"}


def test_trace_code_sold_twice_links_the_buyers():
    scene = Scene()
    planted = scenes.trace_code_resale(scene)
    scenes.neighbourhood_pharmacy(scene, scene.institution("PHX", "pharmacy"), prefix="NX")
    [f] = trace_code_resold_findings(scene.connection())
    assert f.persons == tuple(planted["persons"]) and f.facts["boxes"] == 3
    assert f.facts["resellers"] == ["PHTR2"]


# ---- rings --------------------------------------------------------------------------------------


def city_scene() -> tuple[Scene, dict[str, list[str]]]:
    """Every scheme once, every look-alike once."""
    scene = Scene()
    planted = {
        "black_intermediary": scenes.black_intermediary(scene)["persons"],
        "professional_gang": scenes.professional_gang(scene),
        "card_collector": scenes.card_collector(scene)["persons"],
        "prescriber_pharmacy_collusion": scenes.prescriber_collusion(scene)["strangers"],
        "care_home_collusion": scenes.care_home_collusion(scene)["persons"],
        "identity_misuse": scenes.identity_misuse(scene)["persons"],
        "other": scenes.trace_code_resale(scene)["persons"],
    }
    lookalikes = [scenes.family(scene), scenes.legit_care_home(scene), scenes.dialysis_cohort(scene),
                  scenes.dormitory_health_check(scene)]
    planted["lookalikes"] = [p for group in lookalikes for p in group]
    return scene, planted


@pytest.fixture(scope="module")
def city_result() -> DetectionResult:
    """``city_scene()`` detected in memory once, for the tests that only read its rings."""
    scene, _ = city_scene()
    return detect_rings_in(scene.connection())


def test_rings_have_the_planted_persons_and_patterns_and_no_look_alikes(city_result):
    _, planted = city_scene()
    result = city_result
    found = {r.pattern: set(r.persons) for r in result.rings}
    assert sorted(found) == sorted(PATTERNS)
    for pattern in PATTERNS:
        truth = set(planted[pattern])
        assert len(found[pattern] & truth) / len(found[pattern] | truth) >= 0.75, pattern
    assert not set(planted["lookalikes"]) & {p for r in result.rings for p in r.persons}
    assert [r.score for r in result.rings] == sorted((r.score for r in result.rings), reverse=True)
    broker = next(r for r in result.rings if r.pattern == "black_intermediary")
    assert ("intermediary", "IBI") in broker.members and ("institution", "H100") in broker.members
    assert broker.fund_amount == 6 * 3 * 5000.0
    assert (str(broker.first_seen), str(broker.last_seen)) == ("2026-01-21", "2026-05-29")  # last discharge
    assert {e.kind for e in broker.evidence} >= {"shared_agent", "shared_payee_account", "co_admission_lockstep"}


def test_detection_is_deterministic(city_result):
    first = [r.document() for r in city_result.rings]
    scene, _ = city_scene()  # built and detected again, from scratch
    second = [r.document() for r in detect_rings_in(scene.connection()).rings]
    assert first == second


# ---- through the store: stable ids, the contract file ---------------------------------------------


def test_ring_ids_are_stable_across_runs_and_new_data(store, tmp_path):
    scene, planted = city_scene()
    ingest_folder(store, scene.write_folder(tmp_path / "first"), rejects_dir=tmp_path / "rejects", progress=False)
    run, first = detect_and_save(store)
    assert run.rings == len(first) == 7 and run.new_ids == 7 and run.kept_ids == 0
    ids = {d["pattern"]: d["id"] for d in first}
    assert sorted(ids.values()) == [f"R-{i:06d}" for i in range(1, 8)]

    run, again = detect_and_save(store)
    assert {d["pattern"]: d["id"] for d in again} == ids and run.kept_ids == 7 and run.new_ids == 0

    # New data: a second gang appears, and the first gang is admitted together once more.
    more = Scene()
    more.tables["institutions"] = []
    scenes.professional_gang(more, prefix="PX", hospital="H201")
    for p in planted["professional_gang"]:
        more.claim("inpatient", p, "H200", scenes.day(270))
    more.tables["settlements"] = [dict(s, settlement_id="N" + s["settlement_id"]) for s in more.tables["settlements"]]
    ingest_folder(store, more.write_folder(tmp_path / "second"), rejects_dir=tmp_path / "rejects", progress=False)
    run, third = detect_and_save(store)
    assert run.kept_ids == 7 and run.new_ids == 1 and run.retired_ids == []
    gangs = {d["id"]: d for d in third if d["pattern"] == "professional_gang"}
    assert sorted(gangs) == sorted([ids["professional_gang"], "R-000008"])
    assert store.ring(ids["professional_gang"])["evidence"][0]["facts"]["waves"] == 5
    assert [d["id"] for d in store.rings()] == [d["id"] for d in third]


def test_a_run_whose_rings_fail_to_store_leaves_the_previous_run_whole(store, tmp_path, monkeypatch):
    scene = Scene()
    scenes.professional_gang(scene)
    ingest_folder(store, scene.write_folder(tmp_path / "city"), rejects_dir=tmp_path / "rejects", progress=False)
    detect_and_save(store)
    rings, runs = store.rings(), store.detection_runs()
    claims = {ring["id"]: store.ring_claims(ring["id"]) for ring in rings}
    assert [ring["pattern"] for ring in rings] == ["professional_gang"] and len(claims["R-000001"]) == 20

    write = store._write_tables

    def log_refused(writes: dict[str, pa.Table], *, emptied: tuple[str, ...] = ()) -> None:
        # The run's log is the last write of the transaction: the engine refuses it (a column the
        # table lacks; a value Neo4j cannot store) after the rings were emptied and written.
        write({**writes, "detection_runs": pa.table({"run_id": ["broken"], "unknown": [{"a": 1}]})}, emptied=emptied)

    monkeypatch.setattr(store, "_write_tables", log_refused)
    with pytest.raises((duckdb.Error, Neo4jError)):
        store.save_rings([], [], [], run_id="broken", started_at="2025-01-01T00:00:00", seconds=1.0, summary={},
                         match_jaccard=0.5)
    assert store.rings() == rings and store.detection_runs() == runs
    assert {ring["id"]: store.ring_claims(ring["id"]) for ring in rings} == claims


@pytest.mark.slow  # the CLI in its own process
def test_detect_cli_writes_the_contract_file(tmp_path):
    scene, _ = city_scene()
    folder = scene.write_folder(tmp_path / "city")
    home = tmp_path / "home"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", *args, "--home", str(home), "--quiet"],
                              capture_output=True, text=True, timeout=300)

    missing = cli("detect")
    assert missing.returncode == 2 and "graphsvc ingest DIR" in missing.stderr
    assert cli("ingest", str(folder)).returncode == 0
    out = tmp_path / "rings.json"
    done = cli("detect", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "7 rings" in done.stdout and "R-000001" in done.stdout
    rings = json.loads(out.read_text(encoding="utf-8"))["rings"]
    assert [r["score"] for r in rings] == sorted((r["score"] for r in rings), reverse=True)
    for r in rings:
        assert set(r) >= {"id", "pattern", "score", "members", "fund_amount", "first_seen", "last_seen", "evidence"}
        assert r["pattern"] in PATTERNS and 0 <= r["score"] <= 1
        assert r["persons"] == sum(1 for m in r["members"] if m["type"] == "person") >= 3
        assert r["evidence"] and all(e["detail"] and e["entities"] for e in r["evidence"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"card_burst": {"minutes": -5}}', encoding="utf-8")
    refused = cli("detect", "--config", str(bad))
    assert refused.returncode == 2 and "card_burst.minutes" in refused.stderr


def test_detect_rings_reads_through_the_store(store, tmp_path, city_result):
    scene, planted = city_scene()
    ingest_folder(store, scene.write_folder(tmp_path / "city"), rejects_dir=tmp_path / "rejects", progress=False)
    from_store = [r.document() for r in detect_rings(store, DetectionConfig()).rings]
    in_memory = [r.document() for r in city_result.rings]
    assert from_store == in_memory


@pytest.mark.parametrize("pattern", ["card_collector", "identity_misuse"])
def test_rings_name_their_non_person_members(pattern, city_result):
    ring = next(r for r in city_result.rings if r.pattern == pattern)
    types = {t for t, _ in ring.members}
    assert {"person", "card", "device"} <= types


def test_a_dead_mans_card_used_by_his_family_is_a_weak_finding_but_in_his_own_name_a_strong_one():
    scene = Scene()
    scene.institution("PHD", "pharmacy")
    father, wife, son = (scene.person(p, address="石门村3组8号", phone="13900001111", death_date=d)
                         for p, d in (("DF", "2026-03-01"), ("DW", None), ("DS", None)))
    card = scene.card("CDF", father)
    for i, user in enumerate((wife, son, wife)):
        scene.claim("pharmacy", user, "PHD", scenes.day(100 + 9 * i), card_id=card, fund_amount=40.0)
    [family] = [f for f in shared_card_findings(scene.connection()) if f.kind == "card_used_after_death"]
    assert family.strength == DetectionConfig().shared_card.after_death_family_strength
    assert detect_rings_in(scene.connection()).rings == []  # improper, but no organised ring
    scene.claim("pharmacy", father, "PHD", scenes.day(150), card_id=card, fund_amount=900.0)
    [posing] = [f for f in shared_card_findings(scene.connection()) if f.kind == "card_used_after_death"]
    assert posing.strength == DetectionConfig().shared_card.after_death_strength
