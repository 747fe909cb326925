"""Review 30: attacks on the fourth city's rules (tests/test_detect_fourth_city.py)."""

from __future__ import annotations

import pytest

from graphsvc.detect import detect_rings_in
from helpers.rings import rings_of
from helpers.scenes import (
    ALBUMIN,
    Scene,
    broker_near_a_home,
    care_home_in_rooms,
    day,
    house,
    name_of,
    neighbourhood_pharmacy,
    staggered_broker_at_small_hospital,
    until,
)


def test_a_brokers_recruits_in_an_estate_named_like_a_nursing_home_are_not_the_homes_residents():
    """Attack: a nursing home of the data set is called 阳光家园 (a name of four characters, unique, so
    ``_care_home_residents`` searches every address for it), and the county's resettlement estate, where
    a police-named broker recruits his elderly villagers (拆迁安置小区), is 阳光家园安置小区. Every recruit
    is made a resident of the home: one household, so the broker's phone, agent id and account over eight
    of them are no finding at all.
    Now: one ring, pattern care_home_collusion, the innocent home NHYG a member (a referral accusing the
    wrong institution), the broker IYG absent from it; before 10b23d4 it was his black_intermediary ring.
    Must: black_intermediary with the broker as a member and the home not in it (an address names a home
    only where the home's name stands as the place, not inside a longer place name: 阳光家园安置小区,
    阳光家园路)."""
    scene = Scene()
    planted = broker_near_a_home(scene, "YG", "阳光家园", lambda i: f"湖南省长沙市宁乡市玉潭街道阳光家园安置小区{1 + i % 4}栋{101 + i}室",
                                 payee_account="6222000011112222")
    recruits = planted["persons"]
    [ring] = rings_of(detect_rings_in(scene.connection()), recruits)
    assert ring.pattern == "black_intermediary", [(f.kind, f.suggests, len(f.persons)) for f in ring.evidence]
    assert ("intermediary", "IYG") in ring.members
    assert ("institution", "NHYG") not in ring.members


@pytest.mark.xfail(strict=True, reason=(
    "known gap: a home's residents are one household (the home's, as when they are registered at its "
    "address), for e-vouchers on one handset too; counting them as households for bound phones and devices "
    "would need the resident's own room kept beside the home's key, and family_binding's test of what is "
    "bought to tell a manager from a caregiver"))
def test_a_home_manager_swiping_his_residents_e_vouchers_for_albumin_is_a_card_collector():
    """Attack: the manager of a care home whose residents are registered at their rooms (the fourth city's
    博爱敬老院) binds twelve residents' e-vouchers to his own phone and handset and buys albumin on them,
    two at a time over four pharmacies (no burst), for resale (与养老机构勾结 + 聚敛医保卡空刷). The
    residents are now one household (the home's), so his phone and device link one household: below
    ``min_households``, no finding, and card_used_by_others would not fire among them either.
    Now: no ring at all; before 10b23d4 a card_collector ring of his phone and device.
    Must: a card_collector ring holding the held residents. A home's residents are one household for
    the caregiver's contact phone, not for e-vouchers bound to and swiped on one person's handset for key
    drugs (count a home's residents as households for bound_phone / card_device, as family_binding
    already tells a family from a collector by what is bought)."""
    scene = Scene()
    _, residents = care_home_in_rooms(scene, "MG")
    phone = "13996001234"
    scene.person("MGR", name="冉某", birth_date="1978-01-01", phone=phone, address="重庆市彭水苗族土家族自治县汉葭街道新华路8号")
    pharmacies = [scene.institution(f"PHM{k}", "pharmacy") for k in range(4)]
    for k, pharmacy in enumerate(pharmacies):
        neighbourhood_pharmacy(scene, pharmacy, prefix=f"MGN{k}", customers=20)
    held = residents[:12]
    cards = [scene.card(f"EVMG{i:02d}", p, kind="evoucher", bound_phone=phone, device_id="DEVMGR")
             for i, p in enumerate(held)]
    for trip in range(8):
        for k, pharmacy in enumerate(pharmacies):
            for j in range(2):
                i = (trip * 5 + k * 2 + j) % 12
                scene.claim("pharmacy", held[i], pharmacy, day(20 + 40 * trip, 14 + k, 7 * j), card_id=cards[i],
                            device_id="DEVMGR", items=[ALBUMIN], fund_amount=880.0)
    rings = rings_of(detect_rings_in(scene.connection()), held)
    assert rings, "the manager's albumin on twelve residents' e-vouchers is no ring"
    assert all(r.pattern == "card_collector" for r in rings), [r.pattern for r in rings]
    assert set(held) <= {p for r in rings for p in r.persons}


@pytest.mark.xfail(strict=True, reason=(
    "known gap, a judgement call: an institution's account over two groups sharing no one leaves the "
    "suspicion graph whole; keeping it for the persons no group explains (tried) tied a hot hospital's honest "
    "patients and a broker's uncovered recruits to a gang again (fourth city 20k seed 1: recall 0.833 to 0.778)"))
def test_a_hospital_owners_own_staggered_villagers_survive_his_account_being_a_meeting_place():
    """Attack: the small private hospital of review 25 (宁乡康泰医院), whose owner's account takes every stay
    of his twelve villagers, admitted one a week (挂床, never together); a police-named broker's recruits
    come in waves and a gang of five too, and the owner has both paid into the same account. The account
    is ``account_of`` HSP (>= 75% of its stays) and now holds two disjoint groups (the broker's and the
    gang's), so ``meeting_places`` drops it from the suspicion graph, and with it the only tie of the
    owner's own villagers.
    Now: two rings (the broker's, the gang's); the owner's twelve villagers and their 48 stays are in no
    ring. Must: a ring of his villagers, the account its evidence, apart from the broker's and the gang's
    (a meeting place may be left out of the graph only for the persons the groups it meets explain; its
    other persons, a scheme of the account's owner himself, keep it as their tie)."""
    scene = Scene()
    owner = staggered_broker_at_small_hospital(scene)
    scene.tables["intermediaries"].append({"intermediary_id": "IXB", "name": "谢某", "phone": "15600002222",
                                           "source": "police_intelligence"})
    recruits = [scene.person(f"XB{i}", name=name_of(70 + i), birth_date=f"{1946 + i}-04-04",
                             address=house("回龙铺", "新塘", i)) for i in range(6)]
    for start in (55, 125, 195, 265):
        for i, p in enumerate(recruits):
            admitted = day(start + i % 2, 9)
            scene.claim("inpatient", p, "HSP", admitted, end_time=until(admitted, 8), contact_phone="15600002222",
                        agent_id="IXB", payee_account=owner["account"], fund_amount=4600.0)
    gang = [scene.person(f"GX{i}", name=name_of(80 + i), birth_date=f"{1978 + i}-05-01",
                         address=house("玉潭", "新康", 60 + i)) for i in range(5)]
    for start in (40, 110, 180, 250):
        for i, p in enumerate(gang):
            admitted = day(start + i % 2, 9 + i)
            scene.claim("inpatient", p, "HSP", admitted, end_time=until(admitted, 6), payee_account=owner["account"],
                        fund_amount=5200.0 + 100 * i)
    result = detect_rings_in(scene.connection())
    villagers = set(owner["persons"])
    mine = rings_of(result, villagers)
    assert mine, [(r.pattern, r.persons) for r in result.rings]
    [ring] = mine
    assert villagers <= set(ring.persons)
    assert not (set(recruits) | set(gang)) & set(ring.persons), ring.persons
    assert any(f.facts.get("value") == owner["account"] for f in ring.evidence)
