"""Hostile review (24): how findings become rings (whole small components, a ring's claims, split by organiser,
determinism) and the family/agency explanations as changed today (family_binding only on a holder's own phone).

Each test is a scene of ../shared/domain.md run through the whole detection; on failure it prints what was found.
"""

from __future__ import annotations

import random

from graphsvc.detect import detect_rings_in
from helpers import scenes
from helpers.rings import rings_of
from helpers.scenes import Scene, day, house, name_of, until
from test_detect_lookalikes import describe
from test_review_attacks_16 import short


def _gang(scene: Scene, prefix: str, hospital: str, town: str, first: int, *, size: int = 3,
          waves: tuple[int, ...] = (20, 50, 80, 110, 140, 170, 200, 230)) -> list[str]:
    """A professional gang (结队住院): ``size`` adults of different villages and surnames admitted together at a
    private hospital eight times a year, nobody sharing any identifier."""
    if not any(i["institution_id"] == hospital for i in scene.tables["institutions"]):
        scene.institution(hospital, "hospital", ownership="private", level="1")
    gang = [scene.person(f"{prefix}{i}", name=name_of(first + i), address=house(town, f"{prefix}村{i}", first + i),
                         birth_date=f"{1972 + 3 * i}-0{1 + i}-1{i}", phone=f"1387310{first + i:04d}") for i in range(size)]
    for w in waves:
        for i, p in enumerate(gang):
            admitted = day(w + i % 2, 8 + i)
            scene.claim("inpatient", p, hospital, admitted, end_time=until(admitted, 6 + i % 2),
                        total_amount=7000.0 + 100 * i, fund_amount=5200.0 + 100 * i, items=["腰椎间盘突出", "理疗"])
    return gang


# ---- whole_small_components: innocents kept with a gang -------------------------------------------------


def test_two_elderly_neighbours_with_a_gang_members_phone_on_their_records_are_not_in_his_gangs_ring():
    """Attack: a professional gang of three (three villages, three surnames) is admitted together at a private
    hospital eight times. One of them, 王, registered two elderly neighbours who have no mobile phone (two other
    houses of his village) with his own number, as a village doctor does (review 18): a shared_own_phone finding
    of three households, strength 0.20, no claim. One neighbour was admitted once, the day of a gang wave, to the
    public township hospital, and both see the township clinic now and then. The suspicion graph's component
    holds five persons (< 2 x min_persons), so ``whole_small_components`` glues Leiden's communities back
    together. Found: one professional_gang ring of five (score 0.73), the two old neighbours in it, its evidence
    the weak own-phone finding (0.20) beside the lockstep (0.67). With ``whole_small_components`` replaced by
    Leiden's own communities the ring is the gang of three.
    Must: domain.md: a phone given for villagers without one is no scheme (the review-18 village doctor's phone
    is no ring), and a gang's ring is the persons of its scheme: the ring is the gang of three, the neighbours in
    no ring. (Leiden alone separates them; the whole-component rule is for one gang cut into pieces, not for
    pulling a weak tie's persons in.)"""
    scene = Scene()
    scene.institution("HTS", "hospital", ownership="public", level="1", name="双凫铺镇卫生院")
    gang = _gang(scene, "WG", "HWG", "双凫铺", 0)
    wang_phone = next(p["phone"] for p in scene.tables["persons"] if p["person_id"] == gang[0])
    neighbours = [scene.person(f"WGN{i}", name=name_of(40 + i), address=house("双凫铺", "WG村0", 20 + i),
                               birth_date=f"{1936 + i}-03-0{1 + i}", phone=wang_phone) for i in range(2)]
    for i, p in enumerate(neighbours + gang):
        for k in range(2):
            scene.claim("outpatient", p, "HTS", day(12 + 57 * k + 5 * i, 9), fund_amount=45.0 + i)
    admitted = day(50, 10)  # the same day as the gang's second wave, at the township hospital
    scene.claim("inpatient", neighbours[0], "HTS", admitted, end_time=until(admitted, 5), fund_amount=1800.0)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    rings = rings_of(result, gang + neighbours)
    assert len(rings) == 1 and rings[0].pattern == "professional_gang", why
    assert rings[0].persons == sorted(gang), why


def test_two_gangs_of_three_tied_by_one_shopkeepers_number_are_two_rings():
    """Attack: two professional gangs of three, of two townships, each admitted together four times at its own
    private hospital. A village shopkeeper's number (a person of the export, his own mobile) is the phone on
    his own record and on the records of one member of each gang who have no mobile of their own (they give
    the shop's number, which relays calls): a shared_own_phone finding of three households, strength 0.20.
    The component holds seven persons, so Leiden runs (``whole_small_components`` leaves it).
    Found: held (two rings, each its gang).
    Must: domain.md: 'Each scheme is still its own ring, with its own organiser'; a shop number relaying calls
    ties nothing: two professional_gang rings, each exactly its gang; the shopkeeper in none."""
    scene = Scene()
    a = _gang(scene, "GA", "HGA", "黄材", 0)
    b = _gang(scene, "GB", "HGB", "灰汤", 10, waves=(34, 64, 94, 124, 154, 184, 214, 244))
    shop = scene.person("SHOP", name="汤某", address=house("回龙铺", "中心", 70), birth_date="1969-08-08",
                        phone="13974100777")
    for p in scene.tables["persons"]:
        if p["person_id"] in (a[1], b[1]):
            p["phone"] = "13974100777"
    scene.institution("CLSH", "clinic", name="回龙铺镇卫生院")
    scene.claim("outpatient", shop, "CLSH", day(50, 9), fund_amount=40.0)
    result = detect_rings_in(scene.connection())
    why = describe(result)
    rings = rings_of(result, a + b + [shop])
    assert sorted(r.persons for r in rings) == [sorted(a), sorted(b)], why


# ---- family_binding on a relative's phone that is none of the holders' --------------------------------------


def test_a_grandsons_phone_holding_his_grandparents_and_great_aunts_e_vouchers_is_no_card_collector():
    """Attack: a grandson (insured in Shenzhen where he works, so in no record of this fund) keeps on his phone
    (亲情账户) the e-vouchers of his grandparents (one village house), his great-aunt (her house in the next
    village) and his maternal grandmother (外婆, another township): four e-vouchers of three households, bound to
    his phone, on his handset. The elderly have no mobile (their records carry their own landlines). On his
    monthly visit home he buys each one's blood-pressure and diabetes medicine at the township pharmacies with
    that person's own e-voucher; they also see the township clinic. Found: a ring ('other', score 0.51) of the
    four elderly (shared_bound_phone 0.30 + shared_card_device 0.30, 3 households each): since today
    family_binding needs the phone to be registered to one of the holders, and his is in no record here.
    Must: domain.md lists family mutual use of personal accounts (家庭共济) and families sharing a phone as
    legitimate; this is the review-18 daughter's 亲情账户 with the relative's phone not on file (domain.md: the
    exports are messy, a person insured elsewhere is in none). Four relatives' everyday medicine is no collector
    (who 'holds dozens of cards' and buys high-value drugs): no ring."""
    scene = Scene()
    for ph in ("PHGS1", "PHGS2"):
        scene.institution(ph, "pharmacy", name=f"{ph}大药房")
    scene.institution("CLGS", "clinic", name="花明楼镇卫生院")
    phone, device = "13590001234", "DEV-GS00"
    elderly = {"GS0": ("刘德华", house("花明楼", "炭子冲", 1), "1943-04-01", "073187110001"),
               "GS1": ("周桂英", house("花明楼", "炭子冲", 1), "1945-09-01", "073187110001"),
               "GS2": ("刘秀兰", house("花明楼", "东湖塘", 2), "1941-02-11", "073187110002"),
               "GS3": ("陈玉梅", house("道林", "石门", 3), "1946-12-21", "073187110003")}
    for pid, (name, address, birth, landline) in elderly.items():
        scene.person(pid, name=name, address=address, birth_date=birth, phone=landline)
    drugs = [["苯磺酸氨氯地平片"], ["二甲双胍缓释片"], ["苯磺酸氨氯地平片"], ["阿司匹林肠溶片"]]
    for i, pid in enumerate(elderly):
        card = scene.card(f"E{pid}", pid, kind="evoucher", bound_phone=phone, device_id=device)
        for k in range(6):
            scene.claim("pharmacy", pid, ("PHGS1", "PHGS2")[(k + i) % 2], day(15 + 30 * k, 10, 5 * i), card_id=card,
                        device_id=device, items=drugs[i], fund_amount=38.0 + 3 * i)
        for k in range(2):
            scene.claim("outpatient", pid, "CLGS", day(40 + 90 * k + 7 * i, 9), card_id=card, fund_amount=50.0)
    result = detect_rings_in(scene.connection())
    assert rings_of(result, list(elderly)) == [], describe(result)


def test_a_collector_who_writes_his_burner_phone_on_one_victims_record_is_still_a_card_collector():
    """Attack: the review-23 collector (30 elderly strangers of 30 villages, three e-vouchers on each of ten burner
    phones and handsets, albumin spread over four pharmacies) read today's fix: each burner phone must be 'a
    holder's own'. When he activates the e-vouchers he changes the contact phone of one of the three holders to
    the burner's number (the registry's phone is any number the app confirmed by SMS), so every burner phone is
    registered to one of its holders. Found: every shared_bound_phone and shared_card_device finding is
    explained as family_binding again; no ring.
    Must: domain.md: 'many cards/e-vouchers on few devices or phones' of strangers, spent on key drugs
    (human albumin) at pharmacies, is the collector's signal; a phone on one stranger's record does not make
    three villages one family: all thirty are ringed as card_collector (as review 23 requires without the trick)."""
    scene = Scene()
    holders = scenes.burner_phone_collector(scene, prefix="BV", on_victims_records=True)
    result = detect_rings_in(scene.connection())
    why = short(result) + "\nexplained:\n" + "\n".join(
        f"  {f.kind} {f.explained} suggests={f.suggests} persons={list(f.persons)}" for f in result.explained)
    missed = set(holders) - {p for r in result.rings if r.pattern == "card_collector" for p in r.persons}
    assert not missed, f"{len(missed)} holders not in a card_collector ring\n{why}"


# ---- determinism ------------------------------------------------------------------------------------------


def _city() -> Scene:
    scene = Scene()
    scenes.black_intermediary(scene)
    scenes.professional_gang(scene)
    scenes.card_collector(scene)
    scenes.prescriber_collusion(scene)
    scenes.identity_misuse(scene)
    scenes.trace_code_resale(scene)
    scenes.two_brokers_one_hospital(scene)
    scenes.rotating_gang(scene)
    return scene


def _rings(result) -> list:
    return sorted((r.persons, r.pattern, r.score, round(r.fund_amount, 2), r.settlements,
                   [m for m in r.members], sorted((f.kind, f.persons, round(f.strength, 6)) for f in r.evidence))
                  for r in result.rings)


def test_the_same_export_with_its_rows_in_another_order_gives_the_same_rings():
    """Attack: the same claims exported twice, the second time with every table's rows in another order (a
    database export has no order). Must: domain.md: case systems need the leads 'as stable JSON'; the same data
    give the same rings, patterns, scores, members and evidence."""
    first = detect_rings_in(_city().connection())
    shuffled = _city()
    rng = random.Random(24)
    for rows in shuffled.tables.values():
        rng.shuffle(rows)
    second = detect_rings_in(shuffled.connection())
    assert _rings(first) == _rings(second), describe(first) + "\n\n---- shuffled ----\n" + describe(second)
