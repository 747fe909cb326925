"""Hostile review (23): schemes hiding behind the explanations added in dee4818, and look-alikes they miss.

dee4818 taught the detectors new ways to explain look-alikes away (family_binding, group_booking, a fixed
treatment cycle, an hour's own baseline, refunds taking a sale back, a visit followed by its doctor's
script). Each test is a scheme of ../shared/domain.md that a fraudster who read that code would shape to fit
one of them, or a look-alike the new rule was meant to cover and does not. Every test runs the whole detection
(or the one detector concerned) and prints what was found on failure.
"""

from __future__ import annotations

import random

from graphsvc.detect import detect_rings_in
from graphsvc.detect.card_burst import card_burst_findings
from graphsvc.detect.shared_card import shared_card_findings
from graphsvc.detect.trace_code_resold import trace_code_resold_findings
from helpers import scenes
from helpers.rings import rings_of
from helpers.scenes import ALBUMIN, Scene, day, house, name_of
from test_detect_lookalikes import describe
from test_review_attacks_16 import short

# ---- family_binding (亲情账户) --------------------------------------------------------------------------


def test_a_collector_with_ten_burner_phones_of_three_strangers_each_is_no_family():
    """Attack: a card collector (卡贩子) who read family_binding holds 30 elderly strangers' e-vouchers (30
    villages, 30 surnames) on ten cheap handsets, three e-vouchers to each handset's SIM (bound phone) and
    handset (device): never more than three households on one phone or device. No phone is any holder's own
    (no person in the registry has it). He swipes them for human albumin, two or three at a time spread over
    four pharmacies, so no pharmacy sees a burst. Found: no ring; every shared_bound_phone and
    shared_card_device finding is explained as 'family_binding' (households <= 3), although each also
    suggests card_collector (others' e-vouchers, living holders, 100% pharmacy, all albumin).
    Must: domain.md: the collector's signal is 'many cards/e-vouchers on few devices or phones'; a family's
    亲情账户 is a family member's own phone holding her relatives' e-vouchers. Three strangers' e-vouchers on a
    phone that is none of theirs, spent only on albumin, are no family: all thirty are ringed as card_collector."""
    scene = Scene()
    holders = scenes.burner_phone_collector(scene, prefix="BN")
    result = detect_rings_in(scene.connection())
    why = short(result) + "\nexplained:\n" + "\n".join(
        f"  {f.kind} {f.explained} suggests={f.suggests} persons={list(f.persons)}" for f in result.explained)
    missed = set(holders) - {p for r in result.rings if r.pattern == "card_collector" for p in r.persons}
    assert not missed, f"{len(missed)} holders not in a card_collector ring\n{why}"


# ---- group_booking -----------------------------------------------------------------------------------


def test_a_known_brokers_one_day_free_check_bus_of_elderly_villagers_is_no_group_booking():
    """Attack: a broker (黑中介, in the intermediaries table from the agent field of manual reimbursements) fills a
    bus with 40 elderly villagers of four villages for a private hospital's 'free check-up day' (免费体检, 车接车送,
    a gift of eggs); the hospital bills each an outpatient visit of about 1,800 yuan of fund (理疗, 中药熏蒸), all
    with the broker's phone as contact and him as agent. One day, one visit a person. Otherwise the villagers
    see the township hospital now and then for 60 yuan. Found: no ring; shared_contact_phone and shared_agent
    are both explained as 'group_booking' (``_group_booking``), suggests black_intermediary notwithstanding.
    Before dee4818 the concentration at the private hospital refused routine work and the broker was ringed.
    Must: domain.md's look-alike is 'company health checks: one employer's staff on one day'; here the phone is
    a known intermediary's (a company's office is no 代办人) and the persons are retired villagers recruited
    and bussed to a private hospital, 72,000 yuan of the fund in a morning: a black_intermediary ring."""
    scene = Scene()
    scene.institution("HMB", "hospital", ownership="private", level="1", name="宁乡康泰医院")
    scene.institution("HTW", "hospital", ownership="public", level="1", name="黄材镇卫生院")
    scene.tables["intermediaries"].append({"intermediary_id": "IMB", "phone": "15973100088", "name": "李某",
                                           "source": "经办人字段"})
    villages = ["青山", "月山", "龙泉", "沩山"]
    elderly = [scene.person(f"MB{i:02d}", name=name_of(i), address=house("黄材", villages[i % 4], i),
                            birth_date=f"{1940 + i % 16}-0{1 + i % 9}-0{1 + i % 9}", region_code="430182")
               for i in range(40)]
    for i, p in enumerate(elderly):
        scene.claim("outpatient", p, "HMB", day(140, 8 + i // 10, (i * 5) % 60), contact_phone="15973100088",
                    agent_id="IMB", items=["中药熏蒸治疗", "理疗"], total_amount=2300.0, fund_amount=1800.0 + 5 * i)
        for k in range(2):
            scene.claim("outpatient", p, "HTW", day(30 + 97 * k + 3 * i, 9), fund_amount=60.0)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    rings = rings_of(result, elderly)
    assert len(rings) == 1 and rings[0].pattern == "black_intermediary", why
    assert set(elderly) <= set(rings[0].persons), why


# ---- treatment cycle ----------------------------------------------------------------------------------


def test_a_gang_rotating_three_private_hospitals_on_a_21_day_cycle_is_no_chemotherapy_cohort():
    """Attack: a professional gang of five (five surnames, five villages) learnt both lessons: rotate hospitals
    (domain.md: 'Gangs learn: they rotate across several hospitals') and come as day cases on a fixed 21-day
    cycle, admitted and discharged the same day, 2,600 yuan of fund each time. Seven waves, each at the next of
    three private hospitals, so no hospital sees the group more than three times. Found: no ring; the
    co_admission_lockstep finding is explained as 'treatment_schedule' (``_on_treatment_schedule``: same-day
    sessions, 4+ waves, every gap within 3 days of 21), though the waves are at three hospitals.
    Before dee4818 (12 waves at a weekly pace needed) the gang was ringed.
    Must: domain.md's look-alike is 'the same patients at the same centre at the same times'; a chemotherapy
    cycle is given where the regimen is, not at a different private hospital each time: a professional_gang ring."""
    scene = Scene()
    hospitals = [scene.institution(f"HRT{k}", "hospital", ownership="private", level="1") for k in range(3)]
    gang = [scene.person(f"RT{i}", name=name_of(30 + i), address=house("双江口", f"村{i}", 3 * i),
                         birth_date=f"{1968 + i}-0{1 + i}-12") for i in range(5)]
    for w in range(7):
        for i, p in enumerate(gang):
            admitted = day(15 + 21 * w, 8 + i)
            scene.claim("inpatient", p, hospitals[w % 3], admitted,
                        end_time=admitted.replace(hour=16).strftime("%Y-%m-%d %H:%M:%S"),
                        items=["日间治疗"], total_amount=3400.0, fund_amount=2600.0)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    rings = rings_of(result, gang)
    assert len(rings) == 1 and set(rings[0].persons) == set(gang), why
    assert rings[0].pattern == "professional_gang", why


# ---- the hour's baseline ----------------------------------------------------------------------------------


def test_a_collector_who_comes_at_three_every_tuesday_and_friday_makes_the_hour_his_alibi():
    """Attack: a neighbourhood pharmacy of about ten customers a day (08:00-20:00). A card collector works it
    twice a week, always at 15:20, swiping seven of his 24 holders' e-vouchers for albumin within six minutes
    at one cashier, for 40 weeks (80 bursts, 492,800 yuan). Found: one card_burst finding of 6 bursts, 18 cards,
    36,960 yuan: the hour 15:00's mean traffic (its own customers plus his 80 bursts spread over 280 open days)
    is busier than the day spread evenly, so since dee4818 a window starting in that hour is judged against it
    (threshold 9), a baseline his own bursts made; only the six afternoons when two customers happened to walk
    in during his swipes still count. Against the day's traffic (threshold 7, as before dee4818) all 80 are
    bursts of 24 cards.
    Must: domain.md: 'bursts of different cards at one pharmacy, same operator, minutes apart' are the
    collector's signal; an hour is the pharmacy's usual rush only if its customers make it so. A baseline that a
    suspect's own windows raise hides a regular collector: a card_burst finding at the pharmacy."""
    rng = random.Random(23)
    scene = Scene()
    scene.institution("PHTF", "pharmacy", name="康民大药房")
    locals_ = [scene.person(f"TFN{i:03d}", name=name_of(i), address=house("城郊", "新村", i)) for i in range(150)]
    for p in locals_:
        scene.card(f"C{p}", p)
    for d in range(1, 281):
        for _ in range(10):
            p = rng.choice(locals_)
            scene.claim("pharmacy", p, "PHTF", day(d, 8 + rng.randrange(12), rng.randrange(60)), card_id=f"C{p}",
                        items=["布洛芬缓释胶囊"], fund_amount=30.0)
    scene.person("TFX", name="马某", phone="18673100123", birth_date="1984-04-04")  # the collector
    holders = [scene.person(f"TF{i:02d}", name=name_of(60 + i), birth_date=f"{1940 + i}-03-0{1 + i % 9}")
               for i in range(24)]
    cards = [scene.card(f"KTF{i:02d}", p, kind="evoucher", bound_phone="18673100123", device_id=f"DTF{i % 3}")
             for i, p in enumerate(holders)]
    visits = [d for d in range(5, 285) if d % 7 in (5, 1)][:80]  # Tuesdays and Fridays of 2026
    for n, d in enumerate(visits):
        for j in range(7):
            i = (n * 7 + j) % 24
            scene.claim("pharmacy", holders[i], "PHTF", day(d, 15, 20 + j), card_id=cards[i], device_id=f"DTF{i % 3}",
                        operator_id="PHTF-OP2", items=[ALBUMIN], fund_amount=880.0)
    found = [f for f in card_burst_findings(scene.connection()) if f.kind == "card_burst"]
    assert len(found) == 1, [(f.kind, f.detail[:200]) for f in found]
    [burst] = found
    assert burst.facts["bursts"] >= 75 and set(holders) <= set(burst.persons), burst.detail[:400]


# ---- refunds -----------------------------------------------------------------------------------------


def test_a_refund_row_written_by_the_reselling_pharmacy_does_not_launder_a_resold_box():
    """Attack: 倒卖回流药: three patients buy osimertinib on insurance at pharmacy A and sell the boxes to a
    dealer; a complicit pharmacy B buys them back and sells them on insurance to its own 'customers'. Before
    each resale B writes a negative row with the box's trace code (a '退货' of -0.01 yuan under the next buyer),
    which takes nothing back: B never sold that box before and A's sales were never refunded. Found: no
    trace_code_resold finding: ``trace_code_resold_findings`` counts a code's rows as +1 per sale and -1 per
    refund wherever and whoever, so sale(A) + refund(B) + sale(B) nets to one.
    Must: domain.md: 'the same trace code in two sales; the first buyer's other purchases; the pharmacies that
    re-sell'; a refund undoes only an earlier sale of the box at the same pharmacy (the box back on its shelf).
    Each box here was sold twice on insurance: a trace_code_resold finding naming pharmacy B."""
    scene = Scene()
    scene.institution("PHRA", "pharmacy", name="益丰大药房(五一店)")
    scene.institution("PHRB", "pharmacy", name="万民药房")
    sellers = [scene.person(f"RS{i}", name=name_of(70 + i), birth_date=f"{1955 + i}-06-0{1 + i}") for i in range(3)]
    buyers = [scene.person(f"RB{i}", name=name_of(80 + i), birth_date=f"{1958 + i}-09-1{i}") for i in range(3)]
    drug = ["甲磺酸奥希替尼片"]
    for i, (seller, buyer) in enumerate(zip(sellers, buyers)):
        code = f"8690337005550000{i:04d}"
        scene.claim("pharmacy", seller, "PHRA", day(40 + 30 * i, 10), trace_codes=[code], items=drug,
                    total_amount=5200.0, fund_amount=4400.0)
        scene.claim("pharmacy", buyer, "PHRB", day(55 + 30 * i, 15), trace_codes=[code], items=drug,
                    total_amount=-0.01, fund_amount=-0.01)
        scene.claim("pharmacy", buyer, "PHRB", day(55 + 30 * i, 15, 5), trace_codes=[code], items=drug,
                    total_amount=5200.0, fund_amount=4400.0)
    found = [f for f in trace_code_resold_findings(scene.connection()) if f.kind == "trace_code_resold"]
    assert found, "no trace_code_resold finding"
    assert {p for f in found for p in f.persons} >= set(sellers) | set(buyers), [f.detail for f in found]
    assert any(("institution", "PHRB") in f.entities for f in found), [f.entities for f in found]


# ---- two places: the look-alike the new rule misses -----------------------------------------------------


def test_two_doctors_in_one_morning_then_both_scripts_across_the_road_is_not_two_places_at_once():
    """Attack (look-alike): a retired teacher sees her endocrinologist (DR1) at 08:40 and her cardiologist (DR2)
    at 09:20 at the provincial hospital, both visits with her own e-voucher, then at 09:45 fills the
    endocrinologist's prescription (that claim carries DR1) and at 09:47 the cardiologist's (DR2) at the
    designated pharmacy across the road; the same each month. Found: a card_in_two_places finding each month:
    ``_in_two_places`` exempts a pharmacy claim only when the claim just before it (``lag``) is a visit of
    the same prescriber, and the claim just before DR1's script is DR2's visit.
    Must: the rule dee4818 added says 'a visit, then its doctor's script filled at the pharmacy across the
    road: one trip, not two places'; two visits and their two scripts are the same trip (domain.md: 'one card
    used in two places at once' is the signal): no finding."""
    scene = Scene()
    scene.institution("HTD", "hospital", level="3", ownership="public", name="湖南省人民医院")
    scene.institution("PHTD", "pharmacy", name="老百姓大药房(解放西路店)")
    scene.tables["prescribers"] += [{"prescriber_id": "DRTD1", "institution_id": "HTD"},
                                    {"prescriber_id": "DRTD2", "institution_id": "HTD"}]
    patient = scene.person("TD00", name=name_of(5), birth_date="1955-05-05", phone="13907310505")
    card = scene.card("CTD00", patient, kind="evoucher", device_id="DEVTD00", bound_phone="13907310505")
    for k in range(4):
        d = 20 + 28 * k
        scene.claim("outpatient", patient, "HTD", day(d, 8, 40), card_id=card, prescriber_id="DRTD1", fund_amount=25.0)
        scene.claim("outpatient", patient, "HTD", day(d, 9, 20), card_id=card, prescriber_id="DRTD2", fund_amount=25.0)
        scene.claim("pharmacy", patient, "PHTD", day(d, 9, 45), card_id=card, prescriber_id="DRTD1",
                    items=["二甲双胍缓释片"], fund_amount=60.0)
        scene.claim("pharmacy", patient, "PHTD", day(d, 9, 47), card_id=card, prescriber_id="DRTD2",
                    items=["苯磺酸氨氯地平片"], fund_amount=40.0)
    found = [(f.kind, f.persons, round(f.strength, 3)) for f in shared_card_findings(scene.connection())]
    assert found == [], found


# ---- card_used_by_others: households by address ----------------------------------------------------------


def test_a_card_lent_round_two_group_rental_flats_of_strangers_is_used_by_others():
    """Attack: 冒用他人医保凭证: a construction worker's employee-scheme card is passed round eight co-workers of
    eight surnames, from other provinces and uninsured here, who live in two group-rental flats (群租房, four
    unrelated adults each); each uses it at the clinic and pharmacy near the site, 3-4 times over the year.
    Found: no card_used_by_others finding: since dee4818 the card's other users must live in 3+ households
    (min_other_households), and households are persons at one address, so two flats of strangers are 'two
    households', the same as a son's parents and in-laws. Before dee4818 (4+ other users) it was found.
    Must: domain.md lists group-rental flats as 'several unrelated adults at one address' (not a family), and
    家庭共济 covers close relatives only; eight strangers using one card is the named scheme: a
    card_used_by_others finding for the card, and a ring."""
    scene = Scene()
    scene.institution("CLGZ", "clinic", name="雨花区工地诊所")
    scene.institution("PHGZ", "pharmacy", name="民生大药房")
    holder = scene.person("GZ0", name="周建国", address="湖南省邵阳市隆回县桃洪镇东街12号", birth_date="1978-03-03",
                          insurance_type="employee")
    flats = ["湖南省长沙市雨花区洞井街道新塘村安置小区5栋302室", "湖南省长沙市雨花区洞井街道新塘村安置小区7栋601室"]
    workers = [scene.person(f"GZ{i}", name=name_of(90 + i), address=flats[(i - 1) % 2],
                            birth_date=f"{1975 + 2 * i}-0{i}-15") for i in range(1, 9)]
    card = scene.card("CGZ0", holder, kind="card")
    for i, w in enumerate(workers):
        for k in range(3 + i % 2):
            scene.claim(("outpatient", "pharmacy")[k % 2], w, ("CLGZ", "PHGZ")[k % 2], day(20 + 70 * k + 5 * i, 19),
                        card_id=card, fund_amount=120.0 + 10 * k)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    assert [f for f in result.findings if f.kind == "card_used_by_others" and holder in f.persons], why
    assert rings_of(result, workers), why
