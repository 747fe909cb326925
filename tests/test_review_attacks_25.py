"""Review round 25: attacks on the four new detection rules (care-home waves pooled over hospitals, the
lockstep ``_apart`` split, the institution-account explanation of a payee account, one operator's dead
cards) and on keeping a component whole when one strong finding names all its persons.

Each test states the attack, what the code does now and what ../shared/domain.md requires.
"""

from __future__ import annotations

import random

from graphsvc.detect import detect_rings_in
from helpers import scenes
from helpers.rings import rings_of
from helpers.scenes import Scene, day, name_of, staggered_broker_at_small_hospital, until
from test_detect_lookalikes import describe


def short(result) -> str:
    lines = [f"{len(result.rings)} ring(s):"]
    lines += [f"  {r.pattern} score={r.score} persons={len(r.persons)} {r.persons[:8]}... "
              f"members={[m for m in r.members if m[0] != 'person'][:8]} "
              f"evidence={[(f.kind, round(f.strength, 3)) for f in r.evidence]}" for r in result.rings]
    lines += ["findings:"] + [f"  {f.kind} s={f.strength:.3f} persons={len(f.persons)}: {f.detail[:300]}"
                              for f in result.findings]
    lines += ["explained:"] + [f"  {f.kind} {f.explained} persons={len(f.persons)}" for f in result.explained
                               if f.explained]
    return "\n".join(lines)


# ---- shared payee account read as an institution's own ---------------------------------------------------


def test_a_brokers_account_on_a_small_private_hospitals_staggered_repeat_stays_is_still_a_lead():
    """Attack: a broker learned that waves are seen. He has 12 villagers of two villages (12 houses) admitted
    one or two a week, never together, each four times over the year (挂床, 7-10 days each), to a small
    private hospital whose insured stays are nearly all his recruits (48 of 51); the fund pays every one of
    them to his personal bank account (no agent field, no contact phone). Found: no ring; the shared payee
    account is explained as 'institution_account' (one institution, >= 90% of its claims, no admissions
    together). Must: domain.md's black-intermediary signal is 'many unrelated people linked to one
    phone/agent/payee'; a hospital's own account serves whoever comes, not the same dozen villagers four
    times each -- repeated stays of one small set of people (频繁住院) are a scheme, not a settlement account."""
    scene = Scene()
    recruits = staggered_broker_at_small_hospital(scene)["persons"]
    result = detect_rings_in(scene.connection())
    rings = rings_of(result, recruits)
    assert len(rings) == 1 and set(recruits) <= set(rings[0].persons), describe(result)


# ---- one operator, several dead persons' cards -----------------------------------------------------------


def test_three_families_using_their_dead_relatives_cards_at_a_pharmacy_with_one_till_login_are_no_ring():
    """Attack: a neighbourhood pharmacy's till runs on one generic login (operator_id PHNB-POS on all 1,300 sales
    of 2026: 60 regulars buying their everyday medicine every few weeks). In three unrelated households of the
    estate the grandparent died in 2025 and the family kept buying his usual blood-pressure medicine on his card
    every month (the card's holder is the claimant, as on any swipe). Found: one identity_misuse ring of the
    three dead holders on ``dead_cards_one_operator`` (an organiser kind), the pharmacy as its organiser: the
    shared login on every sale links three families who never met. Must: each card after death stays its own
    finding; domain.md's card scheme is 'many cards ... same operator, minutes apart', and 'neighbourhood
    pharmacies serving the same building' are a legitimate structure: three families at the one pharmacy of
    their estate are not one organised ring."""
    scene = Scene()
    dead = scenes.families_on_dead_grandparents_cards(scene, lambda hour: "PHNB-POS", prefix="NB", name="益丰大药房(东塘店)",
                                                      estate="湖南省长沙市雨花区东塘街道东塘小区")
    result = detect_rings_in(scene.connection())
    joined = [r for r in result.rings if len(set(r.persons) & set(dead)) >= 2]
    assert joined == [], short(result)


# ---- lockstep groups cut apart -------------------------------------------------------------------------


def test_a_gang_splitting_itself_over_two_hospitals_on_the_same_days_is_one_ring():
    """Attack: a gang of six (city addresses, no identifier in common) is admitted together six times in 2026;
    to keep any hospital from seeing six at once, on four of those days three go to one private hospital and
    three to another, on the same morning; twice all six go to one. Found: two professional_gang rings of
    three; ``_apart`` counts waves per hospital, so the halves are 'together' only in the two all-six waves
    (2 of 6) and are cut apart, though all six were admitted on the same day every time.
    Must: domain.md, 'Gangs learn: they rotate across several hospitals so that no hospital sees the same
    group often' -- one gang, one ring of all six."""
    scene = Scene()
    hospitals = [scene.institution(f"HSG{k}", "hospital", ownership="private", level="1",
                                   address=f"湖南省长沙市天心区{['暮云', '南托', '大托', '先锋'][k]}街道{k + 3}号")
                 for k in range(4)]
    gang = [scene.person(f"SG{i:03d}", name=name_of(60 + i), birth_date=f"{1975 + 2 * i}-0{1 + i}-2{i}",
                         address=f"湖南省长沙市天心区{['坡子街', '城南路', '裕南街', '金盆岭', '桂花坪', '赤岭路'][i]}街道{10 + i}号{i + 2}02室")
            for i in range(6)]
    plan = [(33, (0, 1)), (91, (2, 3)), (150, (0, 0)), (204, (1, 2)), (262, (3, 0)), (318, (2, 2))]
    for w, (start, (a, b)) in enumerate(plan):
        for i, p in enumerate(gang):
            admitted = day(start + (i + w) % 2, 8 + i)
            scene.claim("inpatient", p, hospitals[a if i < 3 else b], admitted, end_time=until(admitted, 5 + i % 3),
                        total_amount=7800.0 + 200 * i, fund_amount=5400.0 + 150 * i + 40 * w, items=["腰肌劳损", "理疗"])
    result = detect_rings_in(scene.connection())
    rings = rings_of(result, gang)
    assert len(rings) == 1 and set(gang) <= set(rings[0].persons), describe(result)


# ---- care-home waves pooled over hospitals ---------------------------------------------------------------


def test_a_home_selling_waves_to_a_private_hospital_is_not_hidden_by_its_residents_ordinary_stays_nearby():
    """Attack: the hundred-resident 福寿养老院 sends its residents, as any home does, one to three times a year
    to the public district hospital next door (``regular_care_home``: chance weeks of three or four there).
    It also sells stays: five times in 2026 it sends five residents (different ones each time) together to a
    private hospital across town. Found: no ring; the home's waves are now pooled over all hospitals, so the
    dozens of chance waves next door set the expected count and the five waves at the private hospital
    (where chance brings about 0.01) drown in them: the finding is explained as care_home_chance. Judged at
    the private hospital alone, as before the change, they are far beyond chance.
    Must: domain.md, collusion with elderly-care homes is 'a home's residents admitted in waves to one
    hospital'; ordinary stays next door must not launder the waves sold to another hospital."""
    scene = Scene()
    home = scenes.regular_care_home(scene, prefix="RC", residents=100, seed=11)
    private = scene.institution("HRCP", "hospital", ownership="private", level="1", name="长沙康乐医院",
                                address="湖南省长沙市雨花区洞井街道湘府路300号")
    rng = random.Random(3)
    for start in (28, 97, 161, 233, 302):
        for i, p in enumerate(rng.sample(home["persons"], 5)):
            admitted = day(start + i % 2, 9 + i)
            scene.claim("inpatient", p, private, admitted, end_time=until(admitted, 9 + i % 3),
                        contact_phone="073184520018", fund_amount=6200.0 + 90 * i, items=["脑供血不足", "输液"])
    result = detect_rings_in(scene.connection())
    rings = [r for r in result.rings if ("institution", private) in r.members and r.pattern == "care_home_collusion"]
    assert rings and ("institution", home["home"]) in rings[0].members, short(result)
    assert ("institution", home["hospital"]) not in rings[0].members, "the public hospital next door is no accomplice"
