"""Review round 28: attacks on the rules 0e97dad made for a city made differently (a hospital's account
judged against the export's hospitals' readmissions, chemotherapy patients each
on a cycle of his own, a resold box naming its traders, a token visit judged against the export's scripts a
visit, a rotating group with an unknown shared identifier read as a gang).

Each test states the attack, what the code does now and what ../shared/domain.md requires.
"""

from __future__ import annotations

from graphsvc.detect import detect_rings_in
from graphsvc.detect.trace_code_resold import trace_code_resold_findings
from helpers.rings import rings_of
from helpers.scenes import ALBUMIN, Scene, day, house, name_of, staggered_broker_at_small_hospital, until
from test_detect_lookalikes import describe

# ---- a shared payee account read as the hospital's own, against the export's own hospitals ----------------------


def test_a_brokers_hospital_does_not_set_the_readmission_norm_that_excuses_its_own_account():
    """Attack: a county export of six hospitals with ten or more inpatients: four public general hospitals
    (1.14-1.21 stays a patient), the county tumour hospital (chemotherapy billed as two-day stays: 6 a patient)
    and a small private hospital where a broker has 12 villagers of two villages admitted one a week, never
    together, four times each over the year (挂床, 7-10 days), every stay paid to his personal bank account
    (48 of the hospital's 51 claims; 3.4 stays a patient with its 3 other patients). Found: no ring. The
    'upper quartile' ``rates[3 * n // 4]`` is, with 5-8 hospitals, the second highest -- here the broker's
    hospital itself (3.4), so the bar becomes 1.5 x 3.4 = 5.1 and his 4 stays a recruit are explained as
    'institution_account'. Leave his hospital out of its own peers and the quartile is 1.21 (bar 1.82); take the
    tumour hospital out of the export and the same account is a black_intermediary ring. Must: domain.md, 'a
    few complicit institutions attract most schemes' and a broker's recruits 'come back' (频繁住院): the
    hospital being judged, or one specialty hospital whose patients are meant to come back, cannot set the norm
    that clears it; 12 villagers four times each on one personal account is a black_intermediary lead."""
    scene = Scene()
    for k in range(4):  # public general hospitals: 14 patients, 2-3 of them readmitted once
        h = scene.institution(f"HGEN{k}", "hospital", ownership="public", level="2")
        for i in range(14):
            p = scene.person(f"GN{k}P{i:02d}", name=name_of(i), address=house("道林", "乌江", 14 * k + i))
            for again in range(1 + (i < 2 + k % 2)):
                admitted = day(3 + 11 * i + 160 * again, 10)
                scene.claim("inpatient", p, h, admitted, end_time=until(admitted, 6), fund_amount=3800.0)
    scene.institution("HTUM", "hospital", ownership="public", level="3", name="宁乡市肿瘤医院")
    for i in range(12):  # the tumour hospital: six two-day chemotherapy stays each, each patient on his own cycle
        p = scene.person(f"TU{i:02d}", name=name_of(60 + i), address=house("玉潭", "城北", i))
        for k in range(6):
            admitted = day(4 + 5 * i + 21 * k, 9)
            scene.claim("inpatient", p, "HTUM", admitted, end_time=until(admitted, 2), items=["化疗"],
                        fund_amount=6200.0)
    broker = staggered_broker_at_small_hospital(scene)
    recruits, account = broker["persons"], broker["account"]
    result = detect_rings_in(scene.connection())
    rings = rings_of(result, recruits)
    assert rings and all(("account", account) in r.members for r in rings), describe(result)
    assert {p for r in rings for p in r.persons} >= set(recruits), describe(result)


# ---- chemotherapy 'each on his own cycle' --------------------------------------------------------------------------


def test_a_gang_admitted_together_for_three_days_every_21_days_is_no_chemotherapy_ward():
    """Attack: a gang learned the new rule. Six working-age members (no shared phone, account or address) are
    admitted together to one small private hospital every 21 days, all six on the same morning, each for 3
    days (挂床, 'infusion'), eight times over the year. Found: no ring; ``_each_on_a_cycle`` sees one
    institution, >= 4 stays each of <= 3 days, a 21-day shortest gap, and explains the lockstep group as
    'treatment_schedule'. Must: the rule's own reason is that chemotherapy patients 'who started on different
    Mondays meet on some Mondays and not others, so the group's waves keep no pace while each patient's stays
    do'. Here every member is in every wave -- the same six, in phase, eight times: that is domain.md's
    '结队住院: the same group is admitted together again and again', a professional_gang ring."""
    scene = Scene()
    scene.institution("HGX", "hospital", ownership="private", level="1", name="长沙仁济医院")
    gang = [scene.person(f"GX{i}", name=name_of(20 + i), birth_date=f"{1975 + i}-03-0{1 + i}",
                         address=f"湖南省长沙市雨花区{i + 1}号小区{i + 2}栋") for i in range(6)]
    for w in range(8):
        for i, p in enumerate(gang):
            admitted = day(12 + 21 * w, 8 + i)
            scene.claim("inpatient", p, "HGX", admitted, end_time=until(admitted, 3), fund_amount=3200.0 + 10 * i,
                        items=["颈椎病", "输液"])
    result = detect_rings_in(scene.connection())
    rings = rings_of(result, gang)
    assert len(rings) == 1 and set(rings[0].persons) == set(gang), describe(result)
    assert rings[0].pattern == "professional_gang", describe(result)


# ---- a resold box names its 'traders' -------------------------------------------------------------------------------


def test_recruits_who_each_bought_one_box_are_named_not_the_patients_the_pharmacy_resold_them_to():
    """Attack: a drug dealer (药贩子) has ten recruited elderly card holders each buy human albumin once at
    a source pharmacy (one sale each, the most a recruit is asked to do), takes the boxes and sells them to a
    complicit outlet, which sells them on insurance again -- as it happens to its two regular albumin
    patients (cirrhosis, a box every two weeks), five resold boxes each among their ordinary purchases. Found:
    two one-person trace_code_resold findings, one per patient: the patients are the only 'traders' (>= 2 sales
    of resold boxes), so every code is cut down to its second buyer and the ten recruits -- the first buyers,
    whose insured purchases were diverted -- vanish (before 0e97dad each finding held the five recruits whose
    boxes reached that patient). Must: domain.md, trace code sold twice: 'the first buyer's other
    purchases; the pharmacies that re-sell'; the first sale of a box sold twice is the diverted one. The
    finding names the ten first buyers (and the pharmacies); the reseller's customers who bought at the
    counter are not the trade."""
    scene = Scene()
    source = scene.institution("PHSRC", "pharmacy", name="老百姓大药房(黄材店)")
    outlet = scene.institution("PHOUT", "pharmacy", name="仁和大药房(城北店)")
    recruits = [scene.person(f"RC{i:02d}", name=name_of(i), birth_date=f"{1940 + i}-05-0{1 + i % 9}",
                             address=house("黄材", "青山", i)) for i in range(10)]
    patients = [scene.person(f"LV{i}", name=name_of(30 + i), address=f"湖南省长沙市开福区城北{i + 5}号")
                for i in range(2)]
    for i, p in enumerate(recruits):
        code = f"83120{i:06d}"
        scene.claim("pharmacy", p, source, day(30 + 6 * i, 10), trace_codes=[code], items=[ALBUMIN], fund_amount=420.0)
        scene.claim("pharmacy", patients[i % 2], outlet, day(45 + 6 * i, 16), trace_codes=[code], items=[ALBUMIN],
                    fund_amount=420.0)
    for i, p in enumerate(patients):  # their ordinary boxes, sold once
        for k in range(20):
            scene.claim("pharmacy", p, outlet, day(3 + 14 * k + i, 16), trace_codes=[f"84{i}00{k:06d}"],
                        items=[ALBUMIN], fund_amount=420.0)
    findings = trace_code_resold_findings(scene.connection())
    named = {p for f in findings for p in f.persons}
    assert set(recruits) <= named, [(f.persons, f.detail) for f in findings]
    assert not named & set(patients), [(f.persons, f.detail) for f in findings]


# ---- a seen patient 'not seen' against the export's scripts a visit ---------------------------------------------------


def test_chronic_patients_seen_each_quarter_with_monthly_refills_are_seen_in_a_city_of_one_script_a_visit():
    """Attack (look-alike): a community doctor's eight hypertension patients, seen every quarter (four visits a
    year), each filling a month's medicine three times after each visit at the pharmacy next to the health
    centre -- the pattern the product's own third-city test calls a long prescription, not collusion. The
    export also holds 200 ordinary prescriber-patient pairs of acute care (one visit, one script). Found: a
    prescriber_pharmacy_collusion ring of the eight. With >= 100 pairs the 95th percentile of scripts a
    visit is 1, so the limit is 2 x 1 = 2 and 12 scripts over 4 visits (3 a visit) count as 'never seen';
    with 150 acute pairs instead of 200 (under 95% of the pairs) the limit is 2 x 3 = 6 and the same doctor is
    not flagged: adding ordinary patients to the export turns him into a ring. Must: domain.md's collusion
    signal is 'prescriptions without a matching visit'; patients the doctor sees every quarter, refilling
    monthly as chronic care does (长处方), are seen. The norm must not be the acute-care majority's, which
    makes every chronic patient in a large export a stranger to his own doctor."""
    scene = Scene()
    clinic = scene.institution("CLSQ", "clinic", name="岳麓区望月湖社区卫生服务中心")
    pharmacy = scene.institution("PHSQ", "pharmacy", name="益丰大药房(望月湖店)")
    scene.tables["prescribers"].append({"prescriber_id": "DRSQ", "institution_id": clinic})
    chronic = [scene.person(f"HT{i}", name=name_of(i), birth_date=f"{1948 + i}-02-1{i}",
                            address=f"湖南省长沙市岳麓区望月湖{i + 1}片{i + 10}栋") for i in range(8)]
    for i, p in enumerate(chronic):
        for q in range(4):
            scene.claim("outpatient", p, clinic, day(10 + 91 * q + i, 9), prescriber_id="DRSQ", fund_amount=30.0)
            for m in range(3):
                scene.claim("pharmacy", p, pharmacy, day(11 + 91 * q + 30 * m + i, 15), prescriber_id="DRSQ",
                            items=["苯磺酸氨氯地平片"], fund_amount=90.0)
    for k in range(5):  # the city's acute care: a visit, then the script filled once
        hospital = scene.institution(f"HAC{k}", "hospital", level="2")
        ph = scene.institution(f"PHAC{k}", "pharmacy")
        scene.tables["prescribers"].append({"prescriber_id": f"DRAC{k}", "institution_id": hospital})
        for i in range(40):
            p = scene.person(f"AC{k}{i:02d}", name=name_of(i + k))
            scene.claim("outpatient", p, hospital, day(5 + 8 * i + k, 10), prescriber_id=f"DRAC{k}", fund_amount=60.0)
            scene.claim("pharmacy", p, ph, day(5 + 8 * i + k, 14), prescriber_id=f"DRAC{k}", fund_amount=45.0)
    result = detect_rings_in(scene.connection())
    assert not rings_of(result, chronic), describe(result)


# ---- a broker rotating hospitals relabelled a gang ----------------------------------------------------------------


def test_a_brokers_elderly_villagers_rotated_over_three_hospitals_on_his_phone_are_his_recruits():
    """Attack: a broker (not yet in intermediaries.csv: no tip names him) recruits eight elderly villagers of
    two villages and, having learned that hospitals compare notes, rotates each wave over three private
    hospitals; his mobile is the contact phone of every stay and his bank account the payee. Found: the ring's
    pattern is professional_gang: ``ring_pattern`` drops black_intermediary whenever the lockstep spans >= 3
    hospitals and no finding names a known intermediary -- which is every broker detection has to find on
    its own. Must: domain.md's black-intermediary signal is 'many unrelated people linked to one
    phone/agent/payee ... recruits come from a few villages'; 'Gangs learn: they rotate' does not turn
    elderly villagers on one stranger's phone into a gang of professionals. The lead must say broker
    (black_intermediary), so the police look for the organiser behind the phone, not for eight members."""
    scene = Scene()
    hospitals = [scene.institution(f"HRB{k}", "hospital", ownership="private", level="1") for k in range(3)]
    phone, account = "15873120456", "6217995510000123456"
    recruits = [scene.person(f"RB{i}", name=name_of(50 + i), birth_date=f"{1941 + i}-0{1 + i}-15",
                             address=house(("大成桥", "偕乐桥")[i % 2], ("鹊山", "荷花")[i % 2], 3 * i),
                             region_code="430182") for i in range(8)]
    for w, start in enumerate((28, 85, 141, 200, 262, 320)):
        for i, p in enumerate(recruits):
            admitted = day(start + i % 2, 9)
            scene.claim("inpatient", p, hospitals[w % 3], admitted, end_time=until(admitted, 8),
                        contact_phone=phone, payee_account=account, fund_amount=5200.0 + 30 * i,
                        items=["腰椎间盘突出", "理疗"])
    result = detect_rings_in(scene.connection())
    rings = rings_of(result, recruits)
    assert len(rings) == 1 and set(rings[0].persons) >= set(recruits), describe(result)
    assert rings[0].pattern == "black_intermediary", describe(result)
