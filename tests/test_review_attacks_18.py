"""Review round 18: attacks on the detectors other than lockstep/bursts/collusion, and on ring assembly.

Care-home waves, resold trace codes, shared cards (after death, two places at once), shared
identifiers (own phone, payee account, bound phone/device) and how findings become rings
(splitting by organiser, members, patterns). Each test states the attack, what the code does
and what domain.md requires.
"""

from __future__ import annotations

import random

import pytest

from graphsvc.detect import DetectionConfig, detect_rings_in
from graphsvc.detect.shared_card import shared_card_findings
from helpers import scenes
from helpers.rings import rings_of
from helpers.scenes import Scene, day, house, name_of, until
from test_detect_lookalikes import describe

# ---- shared identifiers: look-alikes ----------------------------------------------------------------


def test_a_village_doctors_phone_on_ten_villagers_records_with_ordinary_claims_is_no_ring():
    """Attack: ten elderly villagers of ten surnames, each in their own house of one village, have no mobile
    phone of their own; the registry lists the village doctor's phone (村医) as their phone, as rural
    registration often does. Their claims are ordinary: a few cheap pharmacy purchases each and, for three of
    them, one stay each months apart at the public county hospital. No agent, no contact phone, no payee, no
    bunching. Found: a ring of pattern 'other', score 0.415, resting on one shared_own_phone finding alone,
    with no claim in it (fund 0, no dates): ``shared_identifier`` reports a registry phone shared by three or
    more households with no look at what their claims do, and ``assemble_rings`` keeps it (0.415 >= min_score
    0.3). Must: domain.md's broker signal is people linked to one phone *and* 'their admissions ... bunch in
    time'; a phone in the person records with no suspicious claim behind it is no lead (a ring with no claims
    cannot even state 'how much' or 'when', which a lead must carry)."""
    scene = Scene()
    scene.institution("HVD", "hospital", ownership="public", level="2", name="宁乡市人民医院")
    scene.institution("PHVD", "pharmacy")
    villagers = [scene.person(f"VD{i:02d}", name=name_of(i), address=house("花明楼", "炭子冲", i), phone="13807311234",
                              birth_date=f"{1936 + i}-03-0{1 + i % 9}", region_code="430182") for i in range(10)]
    for i, p in enumerate(villagers):
        for k in range(3):
            scene.claim("pharmacy", p, "PHVD", day(10 + 37 * k + 5 * i, 10), items=["复方丹参片"], fund_amount=38.0 + i)
        if i % 4 == 0:
            admitted = day(50 + 60 * (i // 4))
            scene.claim("inpatient", p, "HVD", admitted, end_time=until(admitted, 6), fund_amount=3000.0 + 40 * i)
    result = detect_rings_in(scene.connection())
    assert rings_of(result, villagers) == [], describe(result)


def test_a_daughters_phone_holding_her_parents_and_in_laws_e_vouchers_is_no_card_collector():
    """Attack: a woman in Changsha keeps on her phone (亲情账户) the e-vouchers of her husband, her parents (their
    village house in Ningxiang) and her parents-in-law (their village house in Lianyuan): six e-vouchers bound
    to her phone and sitting on her device, three households. Every month or so she buys each one's
    blood-pressure medicine at the two pharmacies near her flat with that person's own e-voucher. Found: a
    card_collector ring of the six, score 0.51 (shared_bound_phone 0.30 + shared_card_device 0.30, 3
    households each), naming her phone and device. Must: domain.md lists 'family mutual use of personal
    accounts (家庭共济)' as legitimate, and the project's own SharedCardConfig.min_other_households says 'a
    worker's card paying for ... his parents and his wife's, is mutual aid'; a card collector 'holds dozens of
    cards' of strangers. A family's six e-vouchers on one phone is no ring."""
    scene = Scene()
    for ph in ("PHDA1", "PHDA2"):
        scene.institution(ph, "pharmacy")
    phone, device = "13873100001", "DEV-DA00"
    flat = "湖南省长沙市岳麓区观沙岭街道滨江苑3栋1201室"
    family = {"DA00": ("刘丽华", flat, "1985-02-03", phone), "DA01": ("谭建军", flat, "1983-06-13", "13873100002"),
              "DA02": ("刘国强", house("花明楼", "炭子冲", 1), "1956-04-01", "13873100003"),
              "DA03": ("彭秀英", house("花明楼", "炭子冲", 1), "1958-09-01", "13873100004"),
              "DA04": ("谭德明", "湖南省娄底市涟源市桥头河镇石塘村5组12号", "1955-01-11", "13873100005"),
              "DA05": ("曾玉珍", "湖南省娄底市涟源市桥头河镇石塘村5组12号", "1957-12-21", "13873100006")}
    for pid, (name, address, birth, own) in family.items():
        scene.person(pid, name=name, address=address, birth_date=birth, phone=own)
    for i, pid in enumerate(family):
        card = scene.card(f"E{pid}", pid, kind="evoucher", bound_phone=phone, device_id=device)
        for k in range(5):
            scene.claim("pharmacy", pid, ("PHDA1", "PHDA2")[k % 2], day(12 + 35 * k + 2 * i, 19, 5 * i), card_id=card,
                        device_id=device, items=["苯磺酸氨氯地平片"], fund_amount=32.0 + i)
    result = detect_rings_in(scene.connection())
    assert rings_of(result, list(family)) == [], describe(result)
    # A key drug is what the run's card_burst.key_drugs says: a fund that lists this one reads the same six
    # vouchers as a collector's (the family rule follows the configuration, not a copy of its default).
    listed = DetectionConfig.model_validate({"card_burst": {"key_drugs": ["氨氯地平"]}})
    assert rings_of(detect_rings_in(scene.connection(), listed), list(family)), "a listed key drug still read as family"


def test_a_township_hospitals_settlement_account_as_payee_of_all_its_claims_is_no_broker():
    """Attack: a public township health centre's export fills payee_account with its own settlement account
    (written in groups of four) on every direct-settled stay: forty villagers of forty houses, one ordinary stay
    each, spread over the year. Found: a black_intermediary ring of all forty, score 0.86, on one
    shared_payee_account finding: ``shared_identifier`` exempts only an institution's phone or address, and
    payee accounts are never checked against routine (``_AGENCY`` leaves them out). Must: domain.md's broker
    signal is 'many unrelated people linked to one ... payee; their admissions at one or two hospitals bunch in
    time; recruits come from a few villages'; an account that receives every claim of one public hospital, one
    stay per patient, no bunching, is the hospital's, not a broker's: no ring."""
    scene = Scene()
    scene.institution("HTC", "hospital", ownership="public", level="1", name="宁乡市花明楼镇中心卫生院",
                      region_code="430182")
    villagers = [scene.person(f"TC{i:03d}", name=name_of(i), address=house("花明楼", "刘家台", i),
                              birth_date=f"{1940 + i % 20}-01-0{1 + i % 9}", region_code="430182") for i in range(40)]
    for i, p in enumerate(villagers):
        admitted = day(5 + (23 * i) % 340, 9)
        scene.claim("inpatient", p, "HTC", admitted, end_time=until(admitted, 5), payee_account="4300 1558 0000 5253 0018",
                    fund_amount=2500.0 + 10 * i, items=["肺炎" if i % 2 else "高血压"])
    result = detect_rings_in(scene.connection())
    assert rings_of(result, villagers) == [], describe(result)


# ---- care-home waves ---------------------------------------------------------------------------------


def _care_home(scene: Scene, prefix: str) -> tuple[str, list[str], list[str]]:
    address, phone = f"湖南省长沙市雨花区圭塘街道康乐路{66 + len(prefix)}号", "073185550066"
    home = scene.institution(f"NH{prefix}", "nursing_home", name="康乐养老院", address=address, phone=phone)
    hospitals = [scene.institution(f"H{prefix}{k}", "hospital", ownership="private", level="1",
                                   address=f"湖南省长沙市雨花区{['洞井', '黎托'][k]}街道{k + 5}号") for k in range(2)]
    residents = [scene.person(f"{prefix}{i:03d}", name=name_of(i), address=address, phone=phone,
                              birth_date=f"{1930 + i % 15}-0{1 + i % 9}-1{i % 9}") for i in range(40)]
    return home, hospitals, residents


def test_a_care_home_alternating_its_waves_between_two_hospitals_is_one_ring():
    """Attack: a 40-resident private care home sells its residents' stays in six waves over the year (six
    residents each, whoever is available), alternating between two private hospitals: three waves at each.
    Found: two care_home_collusion rings (12 and 13 residents), each with both hospitals as members:
    ``care_home_wave_findings`` makes one finding per (home, hospital) and ``split_by_organiser`` treats each
    as its own organiser (their persons overlap less than half), cutting the home's one scheme in two.
    Must: domain.md: 'each scheme is still its own ring, with its own organiser' and 'gangs ... rotate across
    several hospitals'; the organiser is the home: one care_home_collusion ring holding all 36 wave admissions'
    residents, the home and both hospitals."""
    scene = Scene()
    home, hospitals, residents = _care_home(scene, "CA")
    rng = random.Random(3)
    in_waves = set()
    for w, start in enumerate((20, 75, 130, 190, 250, 310)):
        for i, p in enumerate(rng.sample(residents, 6)):
            admitted = day(start + i % 3, 9)
            scene.claim("inpatient", p, hospitals[w % 2], admitted, end_time=until(admitted, 9), fund_amount=6000.0)
            in_waves.add(p)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    rings = rings_of(result, residents)
    assert len(rings) == 1, why
    [ring] = rings
    assert ring.pattern == "care_home_collusion", why
    assert set(ring.persons) == in_waves, why
    assert {("institution", home), *(("institution", h) for h in hospitals)} <= set(ring.members), why


def test_a_care_home_rotating_four_waves_over_two_hospitals_is_care_home_collusion():
    """Attack: the same home sends seven residents in each of four waves (a few of them differ from wave to
    wave), alternating between two private hospitals: two waves at each. Found: no care_home_waves finding (two
    waves per (home, hospital) < min_waves 3); the lockstep detector ringed them as professional_gang, without
    the home. Must: domain.md: care-home collusion is 'a home's residents admitted in waves', and gangs 'rotate
    across several hospitals so that no hospital sees the same group often'; four waves of seven residents are
    a care_home_collusion ring naming the home."""
    scene = Scene()
    home, hospitals, residents = _care_home(scene, "CB")
    for w, start in enumerate((20, 95, 170, 250)):
        for i, p in enumerate(residents[2 * (w % 3):][:7]):
            admitted = day(start + i % 3, 9)
            scene.claim("inpatient", p, hospitals[w % 2], admitted, end_time=until(admitted, 9), fund_amount=6000.0)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    rings = rings_of(result, residents)
    assert len(rings) == 1, why
    [ring] = rings
    assert ring.pattern == "care_home_collusion", why
    assert ("institution", home) in ring.members, why


# ---- trace codes -------------------------------------------------------------------------------------


def test_boxes_returned_for_a_refund_and_sold_again_are_not_resold_drugs():
    """Attack: a chain pharmacy's insulin boxes: three customers each buy a box and return it the same afternoon
    (wrong strength); the sale is reversed by a refund row with the same trace code and negative amounts, the
    box goes back on the shelf and is sold on insurance later, two of them to one regular insulin customer, one
    to another. Found: a ring of pattern 'other' (score 0.5) over the three customers whose boxes link them,
    from a trace_code_resold finding: a code counted three times (sale, refund, sale) is 'sold twice'.
    Must: domain.md: 'a box's code should be sold only once'; a refunded sale is undone, so each box was sold
    (net) once: no trace_code_resold finding and no ring."""
    scene = Scene()
    scene.institution("PHRF1", "pharmacy", name="老百姓大药房(东塘店)")
    scene.institution("PHRF2", "pharmacy", name="老百姓大药房(雨花亭店)")
    returners = [scene.person(f"RF{i}", name=name_of(10 + i), birth_date=f"{1960 + i}-02-1{i}") for i in range(3)]
    regulars = [scene.person(f"RG{i}", name=name_of(20 + i), birth_date=f"{1950 + i}-08-2{i}") for i in range(2)]
    insulin = ["甘精胰岛素注射液"]
    for i, (buyer, later) in enumerate(zip(returners, (regulars[0], regulars[0], regulars[1]))):
        code = f"8190337001234567890{i}"
        scene.claim("pharmacy", buyer, "PHRF1", day(30 + 40 * i, 10), trace_codes=[code], items=insulin,
                    total_amount=220.0, fund_amount=180.0)
        scene.claim("pharmacy", buyer, "PHRF1", day(30 + 40 * i, 16), trace_codes=[code], items=insulin,
                    total_amount=-220.0, fund_amount=-180.0)
        scene.claim("pharmacy", later, "PHRF1", day(36 + 40 * i, 11), trace_codes=[code], items=insulin,
                    total_amount=220.0, fund_amount=180.0)
    for k in range(6):  # the regulars' other monthly boxes, each a new code
        for j, r in enumerate(regulars):
            scene.claim("pharmacy", r, "PHRF2", day(15 + 50 * k + j, 9), trace_codes=[f"819033700999{j}{k:07d}"],
                        items=insulin, total_amount=220.0, fund_amount=180.0)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    assert [f for f in result.findings if f.kind == "trace_code_resold"] == [], why
    assert result.rings == [], why


# ---- shared cards -------------------------------------------------------------------------------------


def test_dead_persons_cards_swiped_by_one_cashier_at_one_pharmacy_are_an_identity_misuse_ring():
    """Attack: six persons who died in 2025; in 2026 their physical cards are swiped for human albumin at one
    pharmacy, all by the same cashier (operator_id), four times each, months apart so there is no burst; the
    claims are in the dead persons' own names. The pharmacy otherwise serves its neighbourhood. Found: six
    card_used_after_death findings (strength 0.9 each, 20,400 yuan of albumin) and no ring: each finding names
    one person and its card, institutions are left out of the suspicion graph and the operator is not in it, so
    nothing links them. Must: domain.md: 'cards of others, including dead people, used by gang members' with
    the signal 'card used after the holder's death date' and 'same operator'; six dead persons' cards used
    through one cashier at one pharmacy are one identity_misuse lead naming the pharmacy."""
    scene = Scene()
    scene.institution("PHDD", "pharmacy")
    scenes.neighbourhood_pharmacy(scene, "PHDD", prefix="DDN")
    dead = [scene.person(f"DD{i:02d}", name=name_of(i), birth_date=f"{1932 + i}-05-0{1 + i}",
                         death_date=f"2025-{3 + i:02d}-15") for i in range(6)]
    for i, p in enumerate(dead):
        card = scene.card(f"CDD{i}", p, kind="card")
        for k in range(4):
            scene.claim("pharmacy", p, "PHDD", day(20 + 60 * k + 9 * i, 14 + i % 4), card_id=card, operator_id="PHDD-OP7",
                        items=[scenes.ALBUMIN], fund_amount=850.0)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    rings = rings_of(result, dead)
    assert len(rings) == 1, why
    [ring] = rings
    assert ring.pattern == "identity_misuse" and set(ring.persons) == set(dead), why
    assert ("institution", "PHDD") in ring.members, why


def test_a_prescription_filled_next_door_twenty_minutes_after_the_visit_is_not_two_places_at_once():
    """Attack: a diabetic sees her doctor at a tertiary hospital at 09:05 each month and fills his prescription
    (the pharmacy claim carries the same prescriber) at the designated pharmacy across the road at 09:25 (外配处方
    / 双通道), with her own e-voucher on her own phone. Found: a card_in_two_places finding (strength 0.26,
    not explained) for her card: ``_in_two_places`` takes any two institutions within 30 minutes as 'two
    places at once'. Must: domain.md's signal is 'one card used in two places *at once*'; a visit followed
    twenty minutes later by filling that visit's own prescription is one person walking across the road, the
    commonest outpatient path there is: no finding."""
    scene = Scene()
    scene.institution("HRX", "hospital", level="3", ownership="public", name="湖南省人民医院")
    scene.institution("PHRX", "pharmacy", name="益丰大药房(解放西路店)")
    scene.tables["prescribers"].append({"prescriber_id": "DRRX", "institution_id": "HRX"})
    patient = scene.person("RX00", name=name_of(3), birth_date="1952-02-02")
    card = scene.card("CRX00", patient, kind="evoucher", device_id="DEVRX00", bound_phone="13900000000")
    for k in range(3):
        scene.claim("outpatient", patient, "HRX", day(30 + 28 * k, 9, 5), card_id=card, prescriber_id="DRRX",
                    device_id="DEVRX00", fund_amount=25.0)
        scene.claim("pharmacy", patient, "PHRX", day(30 + 28 * k, 9, 25), card_id=card, prescriber_id="DRRX",
                    device_id="DEVRX00", items=["二甲双胍缓释片"], fund_amount=60.0)
    found = [(f.kind, f.persons, round(f.strength, 3)) for f in shared_card_findings(scene.connection())]
    assert found == [], found


# ---- ring assembly -------------------------------------------------------------------------------------


def test_two_collectors_at_one_pharmacy_on_the_same_afternoons_each_ring_names_only_its_own_devices():
    """Attack: two card collectors, each with his own phone and two devices, swipe their cards at one complicit
    pharmacy on the same afternoons (its 'swiping days'). Found: two card_collector rings, rightly split, but
    each lists the *other* collector's two devices as its members: the card_burst finding at the pharmacy is cut
    to each ring's persons by ``rings._cut``, which drops its cards but keeps every device it names. Must:
    domain.md: 'one pharmacy serves several card collectors. Each scheme is still its own ring, with its own
    organiser'; a referral naming another gang's devices sends police to the wrong phones: each ring's devices
    are its own collector's."""
    scene = Scene()
    first = scenes.card_collector(scene, prefix="CA", burst_days=(40, 100, 160))
    second = scenes.card_collector(scene, prefix="CB", burst_days=(40, 100, 160), background=False)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    assert len(result.rings) == 2, why
    for planted in (first, second):
        [ring] = [r for r in result.rings if planted["collector"] in r.persons]
        assert ring.pattern == "card_collector", why
        assert {i for t, i in ring.members if t == "device"} == set(planted["devices"]), why


@pytest.mark.parametrize("elsewhere", ["nothing", "an unrelated broker"])
def test_a_gang_scanning_four_old_persons_cards_is_one_ring_whatever_else_the_export_holds(elsewhere):
    """Attack: the project's own identity-misuse scene (``scenes.identity_misuse``: a gang's device and contact
    phone behind four old persons' cards, two of them dead, used at two pharmacies and once in two places at
    once), in a district export that holds nothing else, or an unrelated broker's recruits at another hospital.
    Found: alone, no ring at all: Leiden (modularity, resolution 0.5) cuts the suspicion graph into
    {IM002, IM003, phone, device}, {IM000} and {IM001}, each under min_persons 3; with the broker's ring
    elsewhere in the data the same gang comes out as a ring of three that drops IM000, one of the dead.
    Must: domain.md: 'cards of others, including dead people, used by gang members'; the four persons behind
    one device and one contact phone are one identity_misuse ring naming the device, whatever unrelated
    schemes the export also holds."""
    scene = Scene()
    planted = scenes.identity_misuse(scene)
    if elsewhere != "nothing":
        scenes.black_intermediary(scene)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    rings = rings_of(result, planted["persons"])
    assert len(rings) == 1, why
    [ring] = rings
    assert ring.pattern == "identity_misuse" and ring.persons == planted["persons"], why
    assert ("device", planted["device"]) in ring.members, why
