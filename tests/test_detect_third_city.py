"""What a city made differently taught detection (``bench/third_city.py``, a generator written blind
from the data contract and the domain notes): each rule in a scene with a known answer, beside the
look-alike or the scheme it must still tell apart.

- a hospital's own payee account in a fund whose patients are readmitted more often than ours;
- a company's health check seen over three mornings under the employer's phone;
- chemotherapy patients each on a 21-day cycle of short stays, started on different Mondays;
- boxes resold to whoever walks into the pharmacy: the traders are the ring, not the customers;
- a token visit, then months of scripts at one pharmacy;
- a tip's intermediary collecting e-vouchers on his phone is a card collector; a working-age gang paid
  into its leader's account is a gang, elderly villagers on one stranger's account a broker's recruits.
"""

from __future__ import annotations

from graphsvc.detect import detect_rings_in
from graphsvc.detect.co_admission_lockstep import co_admission_lockstep_findings
from graphsvc.detect.shared_identifier import shared_identifier_findings
from graphsvc.detect.trace_code_resold import trace_code_resold_findings
from helpers.scenes import ALBUMIN, Scene, day, house, name_of, until


def _county_hospitals(scene: Scene) -> None:
    """Six county hospitals of 12 inpatients each, 2 to 7 of them readmitted once: 1.17 to 1.58 stays
    a patient, the upper quartile of them 1.58."""
    for k in range(6):
        hospital = scene.institution(f"HCTY{k}", "hospital", ownership="public", level="2")
        for i in range(12):
            p = scene.person(f"CT{k}P{i:02d}", name=name_of(i), address=house("道林", "乌江", 12 * k + i))
            for again in range(1 + (i < 2 + k)):
                admitted = day(3 + 7 * i + 150 * again, 10)
                scene.claim("inpatient", p, hospital, admitted, end_time=until(admitted, 6))


def _account_patients(scene: Scene, stays_each: list[int]) -> tuple[list[str], str]:
    hospital = scene.institution("HACC", "hospital", ownership="public", level="2")
    account = "4300155800000077"
    people = []
    for i, stays in enumerate(stays_each):
        p = scene.person(f"AC{i:02d}", name=name_of(30 + i), address=house("花明楼", "刘家台", 40 + i))
        for k in range(stays):
            admitted = day(5 + 17 * i + 120 * k, 9)
            scene.claim("inpatient", p, hospital, admitted, end_time=until(admitted, 5), payee_account=account)
        people.append(p)
    return people, account


def _account_finding(scene: Scene, account: str):
    [f] = [f for f in shared_identifier_findings(scene.connection()) if f.facts.get("value") == account]
    return f


def test_a_hospitals_account_is_its_own_where_the_funds_patients_are_often_readmitted():
    """20 patients with 1.6 stays each, where other hospitals' patients have up to 1.58: the hospital's
    account, against the export's own hospitals (a fixed 1.5 stays a patient read it as a broker's)."""
    scene = Scene()
    _county_hospitals(scene)
    _, account = _account_patients(scene, [2] * 12 + [1] * 8)
    f = _account_finding(scene, account)
    assert f.explained == "institution_account", f.detail


def test_an_account_whose_patients_come_back_far_more_than_the_funds_is_still_a_lead():
    scene = Scene()
    _county_hospitals(scene)
    _, account = _account_patients(scene, [3] * 20)
    f = _account_finding(scene, account)
    assert f.explained is None and f.kind == "shared_payee_account", f.detail


def test_a_company_health_check_over_three_mornings_is_a_group_booking():
    scene = Scene()
    scene.institution("HCHK", "hospital", level="3")
    staff = [scene.person(f"CK{i:02d}", name=name_of(i), birth_date="1985-04-01",
                          address=f"湖南省长沙市岳麓区{i}号小区{i + 1}栋") for i in range(42)]
    for i, p in enumerate(staff):
        scene.claim("outpatient", p, "HCHK", day(300 + i % 3, 8, i), contact_phone="073188886666",
                    items=["健康体检"], fund_amount=120.0)
    [f] = [f for f in shared_identifier_findings(scene.connection()) if f.facts.get("value") == "073188886666"]
    assert f.explained == "group_booking" and f.facts["booking_days"] == 3, f.detail


def test_the_same_visits_spread_over_a_month_are_no_group_booking():
    scene = Scene()
    scene.institution("HCHK", "hospital", level="3")
    for i in range(42):
        p = scene.person(f"CK{i:02d}", name=name_of(i), address=f"湖南省长沙市岳麓区{i}号小区{i + 1}栋")
        scene.claim("outpatient", p, "HCHK", day(300 + i % 30, 8), contact_phone="073188886666", fund_amount=120.0)
    [f] = [f for f in shared_identifier_findings(scene.connection()) if f.facts.get("value") == "073188886666"]
    assert f.explained != "group_booking", f.detail


def _chemo_ward(scene: Scene, stay_days: int) -> list[str]:
    """Eight patients of one oncology ward, each on a 21-day cycle from his own Monday, one cycle postponed
    a week now and then (blood counts)."""
    scene.institution("HONC", "hospital", level="3")
    patients = []
    for i in range(8):
        p = scene.person(f"CM{i}", name=name_of(i), address=f"湖南省长沙市开福区{i + 3}号院")
        start = 5 + 7 * i  # his first Monday
        when = start
        for k in range(7):
            admitted = day(when, 9)
            scene.claim("inpatient", p, "HONC", admitted, end_time=until(admitted, stay_days), items=["化疗"])
            when += 28 if (i + k) % 4 == 0 else 21
        patients.append(p)
    return patients


def test_chemotherapy_patients_each_on_his_own_cycle_are_a_treatment_schedule():
    scene = Scene()
    _chemo_ward(scene, stay_days=2)
    findings = co_admission_lockstep_findings(scene.connection())
    assert findings and all(f.explained == "treatment_schedule" for f in findings), [f.detail for f in findings]


def test_the_same_pace_with_week_long_stays_is_frequent_stays():
    scene = Scene()
    _chemo_ward(scene, stay_days=6)
    findings = co_admission_lockstep_findings(scene.connection())
    assert not any(f.explained == "treatment_schedule" for f in findings), [(f.explained, f.detail) for f in findings]


def test_customers_who_bought_one_resold_box_are_not_in_the_trade():
    """Four traders buy albumin at two pharmacies and sell boxes on among themselves; a dealer's pharmacy
    resells their other boxes to twelve customers, one box each. The trade is the four."""
    scene = Scene()
    sources = [scene.institution(f"PHS{k}", "pharmacy") for k in range(2)]
    outlet = scene.institution("PHOUT", "pharmacy")
    traders = [scene.person(f"TD{i}", name=name_of(i)) for i in range(4)]
    customers = [scene.person(f"CU{i:02d}", name=name_of(10 + i)) for i in range(12)]
    for j in range(12):
        code = f"8100{j:06d}"
        scene.claim("pharmacy", traders[j % 4], sources[j % 2], day(10 + 9 * j, 10), trace_codes=[code], items=[ALBUMIN])
        scene.claim("pharmacy", customers[j], outlet, day(40 + 9 * j, 15), trace_codes=[code], items=[ALBUMIN])
    for j in range(4):
        code = f"8200{j:06d}"
        scene.claim("pharmacy", traders[j], sources[0], day(200 + j, 10), trace_codes=[code], items=[ALBUMIN])
        scene.claim("pharmacy", traders[(j + 1) % 4], outlet, day(230 + j, 15), trace_codes=[code], items=[ALBUMIN])
    [f] = trace_code_resold_findings(scene.connection())
    assert f.persons == tuple(traders) and f.facts["boxes"] == 16, f.detail


def test_two_gangs_whose_boxes_one_pharmacy_resold_are_two_findings():
    """A complicit outlet serves several schemes (domain.md): it links neither gang to the other."""
    scene = Scene()
    source, outlet = scene.institution("PHS0", "pharmacy"), scene.institution("PHOUT", "pharmacy")
    gangs = [[scene.person(f"G{g}T{i}", name=name_of(10 * g + i)) for i in range(3)] for g in range(2)]
    for g, gang in enumerate(gangs):
        for j in range(6):
            code = f"8{g}00{j:06d}"
            scene.claim("pharmacy", gang[j % 3], source, day(10 + 9 * j + g, 10), trace_codes=[code], items=[ALBUMIN])
            scene.claim("pharmacy", gang[(j + 1) % 3], outlet, day(90 + 9 * j + g, 15), trace_codes=[code],
                        items=[ALBUMIN])
    assert sorted(f.persons for f in trace_code_resold_findings(scene.connection())) == [tuple(g) for g in gangs]


def test_a_token_visit_then_months_of_scripts_is_collusion_and_a_long_prescription_is_not():
    scene = Scene()
    clinic, pharmacy = scene.institution("CLTK", "clinic"), scene.institution("PHTK", "pharmacy")
    scene.tables["prescribers"].append({"prescriber_id": "DRTK", "institution_id": clinic})
    chronic = [scene.person(f"CH{i}", name=name_of(i)) for i in range(6)]
    for i, p in enumerate(chronic):  # a visit a quarter, a month's refill three times after it
        for q in range(4):
            scene.claim("outpatient", p, clinic, day(10 + 91 * q + i, 9), prescriber_id="DRTK", fund_amount=30.0)
            for m in range(3):
                scene.claim("pharmacy", p, pharmacy, day(11 + 91 * q + 30 * m + i, 15), prescriber_id="DRTK",
                            fund_amount=90.0)
    strangers = [scene.person(f"ST{i}", name=name_of(20 + i)) for i in range(6)]
    for i, p in enumerate(strangers):  # one 20-yuan visit, then albumin every month
        scene.claim("outpatient", p, clinic, day(40, 9, 5 * i), prescriber_id="DRTK", fund_amount=20.0)
        for m in range(9):
            scene.claim("pharmacy", p, pharmacy, day(60 + 30 * m + i, 15), prescriber_id="DRTK", items=[ALBUMIN],
                        fund_amount=1800.0)
    rings = [r for r in detect_rings_in(scene.connection()).rings if r.pattern == "prescriber_pharmacy_collusion"]
    assert [r.persons for r in rings] == [strangers], [(r.pattern, r.persons) for r in rings]


def test_a_tip_intermediary_with_e_vouchers_on_his_phone_spent_at_pharmacies_is_a_card_collector():
    scene = Scene()
    pharmacies = [scene.institution(f"PHCC{k}", "pharmacy") for k in range(3)]
    phone = "15063965656"
    scene.tables["intermediaries"].append({"intermediary_id": "ZJ7621", "phone": phone, "source": "tip"})
    holders = [scene.person(f"EV{i}", name=name_of(i), address=house("东城", "光明", i)) for i in range(7)]
    for i, p in enumerate(holders):
        card = scene.card(f"EC{i}", p, kind="evoucher", bound_phone=phone, device_id="DEV-EV")
        for k in range(4):
            scene.claim("pharmacy", p, pharmacies[(i + k) % 3], day(20 + 40 * k + i, 10), card_id=card,
                        contact_phone=phone, items=[ALBUMIN], fund_amount=600.0)
    [ring] = detect_rings_in(scene.connection()).rings
    assert ring.pattern == "card_collector" and sorted(ring.persons) == holders, (ring.pattern, ring.persons)


def test_a_working_age_gang_paid_into_one_account_is_a_gang():
    scene = Scene()
    hospitals = [scene.institution(f"HRG{k}", "hospital", ownership="private") for k in range(3)]
    gang = [scene.person(f"RG{i}", name=name_of(20 + i), address=f"湖南省长沙市雨花区{i + 1}号",
                         birth_date=f"{1980 + i}-04-01") for i in range(5)]
    for w, start in enumerate((35, 88, 140, 196, 251, 317)):
        for i, p in enumerate(gang):
            admitted = day(start + i % 2, 9)
            scene.claim("inpatient", p, hospitals[w % 3], admitted, end_time=until(admitted, 6),
                        payee_account="6228000011112222", fund_amount=5600.0)
    [ring] = detect_rings_in(scene.connection()).rings
    assert ring.pattern == "professional_gang" and ring.persons == gang, (ring.pattern, ring.persons)

