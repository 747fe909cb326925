"""Issue 11 on hand-built scenes: hard schemes are found and their look-alikes are explained, not ringed.

Each scene's answer is known by construction (tests/helpers/scenes.py); each test runs the whole
detection (``detect_rings_in``) and checks the rings and the explained findings.
"""

from __future__ import annotations

import pytest

from graphsvc.detect import DetectionResult, detect_and_save, detect_rings_in
from graphsvc.detect.shared_identifier import shared_identifier_findings
from graphsvc.evidence import explain
from graphsvc.store.embedded import EmbeddedStore
from helpers import scenes
from helpers.scenes import Scene, day
from ingest.pipeline import ingest_folder


def describe(result: DetectionResult) -> str:
    """Rings and findings as text, for assertion messages."""
    lines = [f"{len(result.rings)} ring(s):"]
    for r in result.rings:
        lines.append(f"  {r.pattern} score={r.score} persons={r.persons}")
        lines.append(f"    members(non-person)={[m for m in r.members if m[0] != 'person']}")
        lines += [f"    - {f.kind} s={f.strength:.3f} persons={list(f.persons)} entities={list(f.entities)}"
                  for f in r.evidence]
    lines.append("findings:")
    lines += [f"  {f.kind} s={f.strength:.3f} persons={list(f.persons)} entities={list(f.entities)}: {f.detail}"
              for f in result.findings]
    lines.append("explained:")
    lines += [f"  {f.kind} persons={len(f.persons)} entities={list(f.entities)}: {explain(f.explained, f.facts)}"
              for f in result.explained if f.explained]
    return "\n".join(lines)


def ringed(result: DetectionResult) -> set[str]:
    return {p for r in result.rings for p in r.persons}


# ---- 1. two brokers, one complicit hospital ---------------------------------------------------------


def test_two_brokers_at_one_hospital_in_the_same_weeks_are_two_rings():
    scene = Scene()
    planted = scenes.two_brokers_one_hospital(scene)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    assert len(result.rings) == 2, why
    by_broker = {b["broker"]: b for b in planted["brokers"]}
    seen = set()
    for ring in result.rings:
        assert ring.pattern == "black_intermediary", why
        assert ("institution", planted["hospital"]) in ring.members, why
        brokers = {i for t, i in ring.members if t == "intermediary"}
        assert len(brokers) == 1, why
        [broker] = brokers
        assert set(ring.persons) == set(by_broker[broker]["persons"]), why
        assert ("phone", by_broker[broker]["phone"]) in ring.members, why
        assert ("account", by_broker[broker]["account"]) in ring.members, why
        assert {"shared_agent", "shared_contact_phone", "shared_payee_account", "co_admission_lockstep"} <= {
            f.kind for f in ring.evidence}, why
        # Evidence, money and time are the broker's own: the shared hospital's co-admissions are cut along brokers.
        assert all(set(f.persons) <= set(ring.persons) for f in ring.evidence), why
        assert ring.fund_amount == pytest.approx(sum(
            s["fund_amount"] for s in scene.tables["settlements"] if s.get("agent_id") == broker)), why
        seen.add(broker)
    assert seen == set(by_broker), why


# ---- 2. a gang rotating over three hospitals ---------------------------------------------------------


def test_gang_rotating_over_three_hospitals_is_one_ring():
    scene = Scene()
    planted = scenes.rotating_gang(scene)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    assert len(result.rings) == 1, why
    [ring] = result.rings
    assert ring.pattern == "professional_gang", why
    assert ring.persons == planted["persons"], why
    assert {i for t, i in ring.members if t == "institution"} == set(planted["hospitals"]), why
    lockstep = next(f for f in ring.evidence if f.kind == "co_admission_lockstep")
    assert lockstep.facts["waves"] == 6, why
    # No hospital saw them more than twice: the group is counted across institutions.
    assert max(lockstep.facts["wave_institutions"].count(h) for h in planted["hospitals"]) == 2, why


# ---- 3. a registered agent's routine work -----------------------------------------------------------


def test_registered_agent_filing_one_stay_per_household_is_explained_not_ringed():
    scene = Scene()
    planted = scenes.registered_agent(scene)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    assert result.rings == [], why
    assert not {p for f in result.findings for p in f.persons} & set(planted["persons"]), why
    agent = [f for f in result.explained if ("intermediary", planted["agent"]) in f.entities]
    assert agent, why
    assert any(f.kind == "shared_agent" for f in agent), why
    for f in agent:
        assert f.explained == "routine_agency_work", why
        assert set(f.persons) <= set(planted["persons"]), why
    [by_agent] = [f for f in agent if f.kind == "shared_agent"]
    reason = explain("routine_agency_work", by_agent.facts)
    assert "20 claims for 20 persons" in reason and "at 3 institutions" in reason, why
    assert explain("routine_agency_work", by_agent.facts, "zh").startswith("正常代办业务：为 20 人办理结算 20 笔"), why


# ---- 4. a regular care home's chance co-admissions ---------------------------------------------------


def co_admission_waves(admissions: list[tuple[str, int]], window_days: int = 3, min_residents: int = 3) -> list[list]:
    """Anchored windows of admission days holding ``min_residents`` or more residents (counted here, not by the detector)."""
    waves: list[list[tuple[str, int]]] = []
    for person, d in sorted(admissions, key=lambda a: a[1]):
        if waves and d - waves[-1][0][1] <= window_days:
            waves[-1].append((person, d))
        else:
            waves.append([(person, d)])
    return [w for w in waves if len({p for p, _ in w}) >= min_residents]


def test_regular_care_home_co_admissions_are_explained_by_its_base_rate():
    scene = Scene()
    planted = scenes.regular_care_home(scene)
    # The scene really holds chance co-admissions: 3+ residents within 3 days, at least 3 times.
    chance_waves = co_admission_waves(planted["admissions"])
    assert len(chance_waves) >= 3, chance_waves
    assert 100 <= len(planted["admissions"]) <= 300
    result = detect_rings_in(scene.connection())
    why = describe(result)
    assert result.rings == [], why
    assert not ringed(result) & set(planted["persons"]), why
    [home] = [f for f in result.explained if f.kind == "care_home_waves"]
    assert home.entities == (("institution", planted["home"]), ("institution", planted["hospital"])), why
    assert home.explained == "care_home_chance", why
    reason = explain(home.explained, home.facts)
    assert reason.startswith("regular admissions of a home's residents: its waves are what chance brings"), why
    assert home.facts["waves"] >= 3, why


# ---- 5. a gang's flat --------------------------------------------------------------------------------


def test_gang_registered_at_one_flat_has_the_address_as_member_and_evidence():
    scene = Scene()
    planted = scenes.gang_flat(scene)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    assert len(result.rings) == 1, why
    [ring] = result.rings
    assert ring.persons == planted["persons"], why
    assert ring.pattern == "professional_gang", why
    assert ("address", planted["address"]) in ring.members, why
    assert {"shared_address", "co_admission_lockstep"} <= {f.kind for f in ring.evidence}, why
    assert {i for t, i in ring.members if t == "institution"} == set(planted["hospitals"]), why


# ---- 6. a family, a dormitory, a group rental ---------------------------------------------------------


def test_family_dormitory_and_group_rental_are_no_rings():
    scene = Scene()
    family = scenes.family_accident(scene)
    workers = scenes.dormitory(scene)
    tenants = scenes.group_rental(scene)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    assert result.rings == [], why
    assert not ringed(result) & set(family + workers + tenants), why
    suspicious = [f for f in result.findings if f.strength > 0]
    assert suspicious == [], why


@pytest.mark.parametrize("lookalike", ["family_accident", "dormitory", "group_rental"])
def test_each_household_lookalike_alone_is_no_ring(lookalike):
    scene = Scene()
    persons = getattr(scenes, lookalike)(scene)
    result = detect_rings_in(scene.connection())
    assert result.rings == [], describe(result)
    assert not {p for f in result.findings if f.strength > 0 for p in f.persons} & set(persons), describe(result)


# ---- 7. one household written three ways ---------------------------------------------------------------


def test_variant_addresses_of_one_house_are_one_household_sharing_a_phone():
    scene = Scene()
    planted = scenes.variant_address_family(scene)
    con = scene.connection()
    households = con.execute("SELECT DISTINCT household FROM persons WHERE list_has_any(person_ids, ?)",
                             [planted["persons"]]).fetchall()
    assert len(households) == 1, households
    result = detect_rings_in(con)
    why = describe(result)
    assert result.rings == [], why
    phones = {planted["other_phone"], planted["father_phone"]}
    assert not [f for f in result.findings + result.explained
                if f.kind == "shared_contact_phone" and {("phone", p) for p in phones} & set(f.entities)], why


def test_the_same_phone_shared_by_three_real_houses_is_a_finding():
    scene = Scene()
    houses = ("湖南省长沙市芙蓉区东湖街道12组35号", "湖南省长沙市芙蓉区东湖街道3组8号", "湖南省长沙市芙蓉区马坡岭街道5组17号")
    planted = scenes.variant_address_family(scene, addresses=houses)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    [phone] = [f for f in result.findings
               if f.kind == "shared_contact_phone" and ("phone", planted["other_phone"]) in f.entities]
    assert phone.facts["households"] == 3 and set(phone.persons) == set(planted["persons"]), why
    assert phone.explained is None and phone.strength > 0, why


# ---- 8. one person under two records ----------------------------------------------------------------------


def test_person_with_two_records_counts_once_in_the_gang():
    scene = Scene()
    planted = scenes.duplicate_record_gang(scene)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    assert len(result.rings) == 1, why
    [ring] = result.rings
    assert ring.persons == ["P1", "P2", "P3", "P4"] == planted["persons"], why
    assert ("person", "P1B") not in ring.members, why
    assert ring.pattern == "professional_gang", why
    lockstep = next(f for f in ring.evidence if f.kind == "co_admission_lockstep")
    assert lockstep.facts["waves"] == 4 and lockstep.facts["admissions"] == 16, why


# ---- end to end: contract folder → ingest → detect_and_save → the stored run --------------------------------


def ingest_and_detect(tmp_path):
    """Scene 1 and scene 3 as a contract folder, ingested into an embedded store, detected and saved."""
    scene = Scene()
    brokers = scenes.two_brokers_one_hospital(scene)
    agent = scenes.registered_agent(scene)
    folder = scene.write_folder(tmp_path / "export")
    with EmbeddedStore(tmp_path / "home") as store:
        report = ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
        assert report.rejects_path is None and all(f.rejected == 0 for f in report.files), report
        run, documents = detect_and_save(store)
        [stored] = [r for r in store.detection_runs() if r.run_id == run.run_id]
        rings = store.rings()
    assert [d["id"] for d in rings] == [d["id"] for d in documents]
    return stored, documents, brokers, agent


def test_stored_run_summary_holds_the_explained_agent_reason(tmp_path):
    stored, documents, _, agent = ingest_and_detect(tmp_path)
    summary = stored.summary
    assert summary["explained"] == {"shared_agent": 1, "shared_contact_phone": 1}, summary
    reasons = {e["kind"]: e["reason"] for e in summary["explained_examples"]}
    assert reasons["shared_agent"].startswith("routine agency work: 20 claims for 20 persons"), summary
    reasons_zh = {e["kind"]: e["reason_zh"] for e in summary["explained_examples"]}
    assert reasons_zh["shared_agent"].startswith("正常代办业务：为 20 人办理结算 20 笔"), summary
    assert reasons["shared_contact_phone"].startswith("routine agency work"), summary
    # The agent's phone as contact: the example names the phone and the intermediary it belongs to.
    [phone] = [e for e in summary["explained_examples"] if e["kind"] == "shared_contact_phone"]
    assert {"type": "intermediary", "id": agent["agent"]} in phone["entities"], summary
    assert not {m["id"] for d in documents for m in d["members"] if m["type"] == "person"} & set(agent["persons"])


def test_stored_run_summary_names_the_explained_agent(tmp_path):
    """The explained shared_agent example names the agent himself, not only twelve of his twenty clients."""
    stored, _, _, agent = ingest_and_detect(tmp_path)
    [example] = [e for e in stored.summary["explained_examples"] if e["kind"] == "shared_agent"]
    assert {"type": "intermediary", "id": agent["agent"]} in example["entities"], example


def test_brokers_at_one_hospital_through_the_embedded_store(tmp_path):
    stored, documents, brokers, _ = ingest_and_detect(tmp_path)
    assert stored.rings == len(documents) == 2
    assert sorted(d["pattern"] for d in documents) == ["black_intermediary"] * 2
    for d in documents:
        ids = {(m["type"], m["id"]) for m in d["members"]}
        [broker] = [b for b in brokers["brokers"] if ("intermediary", b["broker"]) in ids]
        assert {i for t, i in ids if t == "person"} == set(broker["persons"]), d
        assert ("institution", brokers["hospital"]) in ids, d


def test_placeholder_addresses_are_no_household():
    """Recruits written '不详' or '-' are not one household: the broker's phone still links four households."""
    scene = Scene()
    scene.institution("HPH", "hospital", ownership="private")
    recruits = [scene.person(f"PH{i}", address=a) for i, a in enumerate(["不详", "不详", "-", "湖南省长沙市芙蓉区不详"])]
    for i, p in enumerate(recruits):
        scene.claim("inpatient", p, "HPH", day(30 + 40 * i), contact_phone="15900001234")
    [f] = [f for f in shared_identifier_findings(scene.connection()) if f.kind == "shared_contact_phone"]
    assert f.facts["households"] == 4 and f.persons == tuple(recruits)


# ---- attacks from a hostile review: a broker posing as an agent, a seasonal agent, chance groups, unequal brokers


def test_a_broker_paid_into_his_own_account_is_a_ring_however_he_spreads_the_stays():
    scene = Scene()
    scene.institution("HX", "hospital", ownership="private")
    scene.tables["intermediaries"].append({"intermediary_id": "IBX", "phone": "15900000099",
                                           "source": "police_intelligence"})
    recruits = [scene.person(f"R{i:02d}", address=scenes.house("黄材", "青山", i)) for i in range(30)]
    for k, p in enumerate(recruits + recruits[:15]):  # one admission every three days, 1.5 stays each
        scene.claim("inpatient", p, "HX", day(3 * k), end_time=scenes.until(day(3 * k), 8), agent_id="IBX",
                    contact_phone="15900000099", payee_account="6222000000000099", fund_amount=5000.0)
    [ring] = detect_rings_in(scene.connection()).rings
    assert ring.pattern == "black_intermediary" and ring.persons == recruits
    assert ("account", "6222000000000099") in ring.members


def test_a_registered_agent_busy_in_the_flu_season_is_routine():
    import random

    rng = random.Random(2)
    scene = Scene()
    for k in range(2):
        scene.institution(f"HT{k}", "hospital", ownership="public")
    scene.tables["intermediaries"].append({"intermediary_id": "IRA", "source": "agent_registration"})
    for i in range(40):  # January, February and December only
        p = scene.person(f"V{i:03d}", address=scenes.house("花明楼", "炭子冲", i))
        admitted = day(rng.choice(list(range(0, 59)) + list(range(334, 365))))
        scene.claim("inpatient", p, f"HT{i % 2}", admitted, end_time=scenes.until(admitted, 6), agent_id="IRA")
    result = detect_rings_in(scene.connection())
    assert result.rings == []
    [agent] = [f for f in result.explained if f.kind == "shared_agent"]
    assert agent.explained == "routine_agency_work"
    assert explain(agent.explained, agent.facts).startswith("routine agency work: 40 claims for 40 persons")


@pytest.mark.slow  # a county's year of stays
@pytest.mark.parametrize("hospitals, seed", [(1, 1), (3, 2)])
def test_a_countys_frequent_patients_make_no_gang(hospitals, seed):
    """300 elderly with 3-5 stays a year at random dates meet by chance; no group of them is a gang."""
    import random

    rng = random.Random(seed)
    scene = Scene()
    for k in range(hospitals):
        scene.institution(f"HB{k}", "hospital", ownership="public", level="3")
    for i in range(300):
        p = scene.person(f"P{i:04d}", name=scenes.name_of(i), address=scenes.house("城关", f"村{i % 40}", i))
        for d in sorted(rng.sample(range(365), 3 + rng.randrange(3))):
            scene.claim("inpatient", p, f"HB{rng.randrange(hospitals)}", day(d), end_time=scenes.until(day(d), 6))
    result = detect_rings_in(scene.connection())
    assert result.rings == [] and not [f for f in result.findings if f.kind == "co_admission_lockstep"]


def test_a_small_broker_beside_a_big_one_at_the_same_hospital_is_his_own_ring():
    scene = Scene()
    scene.institution("HX", "hospital", ownership="private")
    for b in "AB":
        scene.tables["intermediaries"].append({"intermediary_id": f"I{b}", "source": "police_intelligence"})
    small = [scene.person(f"A{i:02d}", address=scenes.house("黄材", "青山", i)) for i in range(3)]
    big = [scene.person(f"B{i:02d}", address=scenes.house("双凫铺", "石桥", i)) for i in range(20)]
    for w in (20, 80, 140, 200):
        for broker, recruits, lag in (("IA", small, 0), ("IB", big, 1)):
            for i, p in enumerate(recruits):
                admitted = day(w + lag + i % 2)
                scene.claim("inpatient", p, "HX", admitted, end_time=scenes.until(admitted, 7), agent_id=broker)
    rings = detect_rings_in(scene.connection()).rings
    assert sorted(r.persons for r in rings) == [small, big]
    for ring, broker in ((r, "IA" if r.persons == small else "IB") for r in rings):
        assert ("intermediary", broker) in ring.members and ("institution", "HX") in ring.members
        assert ("intermediary", "IB" if broker == "IA" else "IA") not in ring.members


# ---- a gang member's family shares his phone ----------------------------------------------------------


def test_a_child_giving_her_fathers_phone_stays_out_of_the_ring_his_phone_makes():
    """A gang member gives his phone as the contact of five strangers' two stays each; his family of four is
    registered with the same phone and his 8-year-old daughter's and his mother's own stays give it
    too. The phone's users are its registered adults (he and his wife: which of them is unknown);
    the child and the elder are the household using its own phone."""
    scene = Scene()
    phone, home = "18514102991", "湖南省株洲市渌口区策源镇小源村5组2号"
    father = scene.person("F1", address=home, phone=phone, birth_date="1984-07-05")
    wife = scene.person("F2", address=home, phone=phone, birth_date="1988-10-27")
    child = scene.person("F3", address=home, phone=phone, birth_date="2018-06-28")
    elder = scene.person("F4", address=home, phone=phone, birth_date="1950-03-22")
    strangers = [scene.person(f"V{i}", address=f"湖南省株洲市攸县{i}组{i}号") for i in range(5)]
    scene.institution("H1", "hospital")
    for i, victim in enumerate(strangers):
        scene.claim("inpatient", victim, "H1", day(40 + 30 * i), contact_phone=phone)
        scene.claim("inpatient", victim, "H1", day(45 + 30 * i), contact_phone=phone)
    scene.claim("inpatient", child, "H1", day(100), contact_phone=phone)
    scene.claim("inpatient", elder, "H1", day(200), contact_phone=phone)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    [finding] = [f for f in result.findings if f.kind == "shared_contact_phone"]
    assert set(finding.persons) == {father, wife, *strangers}, why
    assert not {child, elder} & ringed(result), why
