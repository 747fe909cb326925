"""Planted fraud rings and the legitimate look-alikes that must not be flagged.

Each builder casts persons who belong to no other group, may change the city (a care home's
residents move in, a victim's death date is set), and returns claim frames plus a
ground-truth entry. Sizes, waves and burst lengths are drawn per group, so no detector can
be tuned to one shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphsvc.generate import text
from graphsvc.generate.city import COMMON_DRUGS, COUNTIES, DAY, KEY_DRUGS, City, county_prefix

__all__ = ["Planted", "plant_groups"]

Frame = dict[str, Any]


class Planted:
    """What the planting adds: claim frames, extra cards, intermediaries and the truth."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.cards: list[dict[str, str]] = []
        self.intermediaries: list[dict[str, str]] = []
        self.rings: list[dict[str, Any]] = []
        self.lookalikes: list[dict[str, Any]] = []
        self.next_device = 0

    def ring(self, pattern: str, scheme: str, persons: np.ndarray, others: list[tuple[str, str]], facts: dict) -> None:
        person_ids = [f"P{p:07d}" for p in persons]
        members = [{"type": "person", "id": p} for p in person_ids] + [{"type": t, "id": i} for t, i in others]
        self.rings.append({"id": f"T-{len(self.rings) + 1:04d}", "pattern": pattern, "scheme": scheme,
                           "persons": person_ids, "members": members, "facts": facts})

    def lookalike(self, kind: str, persons: np.ndarray, **facts: Any) -> None:
        self.lookalikes.append({"kind": kind, "persons": [f"P{p:07d}" for p in persons], **facts})


def _frame(kind: str, person: np.ndarray, institution: np.ndarray | int, start: np.ndarray, *,
           end: np.ndarray | None = None, total: np.ndarray, fund_share: float, items: str | np.ndarray,
           rng: np.random.Generator, **extra: Any) -> Frame:
    n = len(person)
    frame: Frame = {
        "kind": np.full(n, kind),
        "person": person,
        "card_holder": person,
        "evoucher": np.zeros(n, bool),
        "institution": np.broadcast_to(np.asarray(institution), (n,)).copy(),
        "prescriber": np.full(n, -1),
        "start": start,
        "end": np.full(n, -1) if end is None else end,
        "total": total,
        "fund": total * fund_share * rng.uniform(0.9, 1.0, n),
        "items": np.broadcast_to(np.asarray(items), (n,)).copy(),
        "contact_phone": np.full(n, -1),
        "device": np.full(n, -1),
        "operator_no": np.ones(n, int),
        "trace": np.full(n, kind == "pharmacy"),
    }
    frame.update(extra)
    return frame


def _any_drugs(rng: np.random.Generator, n: int) -> np.ndarray:
    """Key and common drugs mixed: what forged scripts and misused cards buy."""
    choices = np.array(KEY_DRUGS + COMMON_DRUGS)
    return choices[rng.integers(0, len(choices), n)]


def _waves(rng: np.random.Generator, members: np.ndarray, waves: int, *, share: tuple[float, float],
           stay_days: tuple[int, int], spread_days: int,
           wave_days: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Admissions of ``members`` in ``waves`` bunches: who, admitted, discharged (minutes).

    ``wave_days`` fixes the waves' first days (hard mode: brokers sharing a hospital's weeks).
    """
    if wave_days is None:
        wave_days = np.sort(rng.choice(np.arange(10, text.PERIOD_DAYS - 30), waves, replace=False))
    who, start = [], []
    for day in wave_days:
        k = max(2, int(round(len(members) * rng.uniform(*share))))
        chosen = rng.choice(members, k, replace=False)
        who.append(chosen)
        start.append((day + rng.integers(0, spread_days + 1, k)) * DAY + rng.integers(8 * 60, 11 * 60, k))
    who_a, start_a = np.concatenate(who), np.concatenate(start)
    end = start_a + rng.integers(*stay_days, len(who_a)) * DAY + rng.integers(0, 180, len(who_a))
    return who_a, start_a, end


def _care_home(city: City, planted: Planted, region: int, residents: int, *, private: bool) -> tuple[int, np.ndarray]:
    county = COUNTIES[region]
    home = city.add_institution("nursing_home", region, "", private,
                                f"{county}福寿养老院{len(city.inst_kind)}", f"{county_prefix(county)}夕阳红路{len(city.inst_kind)}号")
    persons = city.free((city.age >= 72) & (city.region == region), residents)
    city.address[persons] = city.inst_address[home]
    city.phone[persons] = city.inst_phone[home]  # the caregiver's phone is every resident's contact
    rng = city.rng
    # Residents see the home's own clinic every month or two.
    who = np.repeat(persons, rng.integers(2, 7, len(persons)))
    start = rng.integers(0, text.PERIOD_DAYS - 1, len(who)) * DAY + rng.integers(9 * 60, 16 * 60, len(who))
    planted.frames.append(_frame("outpatient", who, home, start, total=rng.lognormal(4.3, 0.4, len(who)),
                                 fund_share=0.6, items="诊查费;护理费", rng=rng,
                                 contact_phone=np.full(len(who), city.inst_phone[home])))
    return home, persons


def _legit_care_home(city: City, planted: Planted, region: int) -> None:
    home, residents = _care_home(city, planted, region, int(city.rng.integers(40, 150)), private=False)
    planted.lookalike("care_home", residents, institution=city.institution_id(home))


def _dialysis_cohort(city: City, planted: Planted, region: int) -> None:
    rng = city.rng
    hospital = city.institutions_of("hospital", region=region, private=False)[0]
    patients = city.free((city.age >= 45) & (city.region == region), int(rng.integers(8, 21)))
    first_weekday = int(rng.integers(0, 2))  # Mon/Wed/Fri or Tue/Thu/Sat; 2026-01-01 is a Thursday
    days = np.array([d for d in range(text.PERIOD_DAYS) if (d + 3) % 7 in (first_weekday, first_weekday + 2, first_weekday + 4)])
    who = np.repeat(patients, len(days))
    start = np.tile(days, len(patients)) * DAY + 8 * 60 + rng.integers(-15, 16, len(who))
    planted.frames.append(_frame("outpatient", who, hospital, start, end=start + 4 * 60,
                                 total=rng.normal(480, 20, len(who)), fund_share=0.85, items="血液透析", rng=rng))
    planted.lookalike("dialysis_cohort", patients, institution=city.institution_id(hospital), sessions=len(days))


def _dormitory(city: City, planted: Planted, region: int) -> None:
    rng = city.rng
    workers = city.free((city.age >= 18) & (city.age < 45) & (city.region == region), int(rng.integers(60, 200)))
    address = f"{county_prefix(COUNTIES[region])}工业园{region + 1}号员工宿舍"
    city.address[workers] = address
    hospital = city.institutions_of("hospital", region=region, private=False)[0]
    day = int(rng.integers(30, text.PERIOD_DAYS - 30))
    start = day * DAY + rng.integers(8 * 60, 11 * 60, len(workers))
    planted.frames.append(_frame("outpatient", workers, hospital, start, total=rng.normal(260, 15, len(workers)),
                                 fund_share=0.5, items="健康体检", rng=rng))
    planted.lookalike("dormitory_health_check", workers, address=address, institution=city.institution_id(hospital))


def _families(city: City, planted: Planted, limit: int) -> None:
    sizes = np.bincount(city.household)
    big = np.flatnonzero(sizes >= 3)
    for h in city.rng.choice(big, min(limit, len(big)), replace=False):
        first = np.searchsorted(city.household, h)  # households are contiguous runs of persons
        members = np.arange(first, first + sizes[h])
        shared = members[city.phone[members] == city.phone[members[0]]]
        if len(shared) >= 2:
            planted.lookalike("family", members, shared_phone=str(city.phone[members[0]]))


def plant_groups(city: City, *, rings_per_pattern: int) -> Planted:
    planted = Planted()
    regions = len(city.region_codes)
    rng = city.rng
    for r in range(regions):
        _legit_care_home(city, planted, r)
        _dialysis_cohort(city, planted, r)
        _dormitory(city, planted, r)
    _families(city, planted, limit=2000)
    schemes = (_black_intermediary, _professional_gang, _card_collector, _prescriber_collusion,
               _care_home_collusion, _identity_misuse, _drug_resale)
    for scheme in schemes:
        for _ in range(rings_per_pattern):
            scheme(city, planted, int(rng.integers(0, regions)))
    return planted


# ---- planted schemes ------------------------------------------------------------------------


def _black_intermediary(city: City, planted: Planted, region: int, *, size: tuple[int, int] = (8, 31),
                        hospitals: np.ndarray | None = None, wave_days: np.ndarray | None = None) -> None:
    """黑中介: a broker recruits elderly villagers for fake stays at one or two private hospitals.

    Hard mode passes a complicit hospital shared with other brokers and their common wave days.
    """
    rng = city.rng
    k = int(rng.integers(*size))
    villages = rng.choice(np.flatnonzero(city.village_region == region), int(rng.integers(1, 4)), replace=False)
    try:
        recruits = city.free(city.age >= 60, k, villages=villages)
    except ValueError:
        recruits = city.free((city.age >= 60) & (city.region == region), k)
    if hospitals is None:
        hospitals = rng.choice(city.institutions_of("hospital", region=region, private=True), int(rng.integers(1, 3)), replace=False)
    broker = len(planted.intermediaries) + 1
    broker_id = f"I{broker:05d}"
    broker_phone = 15_900_000_000 + broker * 17
    account = f"6222{broker:012d}"
    planted.intermediaries.append({"intermediary_id": broker_id, "name": text.names(rng, 1)[0].as_py(),
                                   "phone": str(broker_phone), "address": city.village_names[villages[0]],
                                   "source": rng.choice(["举报线索", "经办人字段"])})
    waves = int(rng.integers(3, 7)) if wave_days is None else len(wave_days)
    who, start, end = _waves(rng, recruits, waves, share=(0.6, 1.0), stay_days=(5, 13), spread_days=2, wave_days=wave_days)
    n = len(who)
    via_broker = rng.random(n) < rng.uniform(0.5, 1.0)
    paid_to_broker = rng.random(n) < rng.uniform(0.3, 0.8)
    planted.frames.append(_frame(
        "inpatient", who, rng.choice(hospitals, n), start, end=end, total=rng.uniform(6000, 16000, n),
        fund_share=0.75, items="住院床位费;检查费;治疗费", rng=rng,
        contact_phone=np.where(via_broker, broker_phone, city.phone[who]),
        agent=np.where(via_broker, broker_id, np.array(None)).astype(object),  # (numpy's stubs take no bare None)
        payee=np.where(paid_to_broker, account, np.array(None)).astype(object),
    ))
    planted.ring("black_intermediary", "black_intermediary_recruitment", recruits,
                 [("intermediary", broker_id)] + [("institution", city.institution_id(h)) for h in hospitals],
                 {"broker_phone": str(broker_phone), "waves": waves, "admissions": n})


def _professional_gang(city: City, planted: Planted, region: int, *, hospital: int | None = None) -> None:
    """结队住院: the same group admitted together to one hospital again and again."""
    rng = city.rng
    gang = city.free((city.age >= 25) & (city.age < 70), int(rng.integers(5, 13)))
    if hospital is None:
        hospital = rng.choice(city.institutions_of("hospital", region=region))
    waves = int(rng.integers(4, 9))
    who, start, end = _waves(rng, gang, waves, share=(0.7, 1.0), stay_days=(3, 8), spread_days=1)
    leader_phone = city.phone[gang[0]]
    uses_leader = rng.random(len(who)) < rng.uniform(0.3, 0.9)
    planted.frames.append(_frame(
        "inpatient", who, hospital, start, end=end, total=rng.uniform(4000, 12000, len(who)), fund_share=0.72,
        items="住院床位费;检查费;治疗费", rng=rng, contact_phone=np.where(uses_leader, leader_phone, city.phone[who]),
    ))
    planted.ring("professional_gang", "group_admissions", gang, [("institution", city.institution_id(hospital))],
                 {"waves": waves, "admissions": len(who)})


def _card_collector(city: City, planted: Planted, region: int, *, pharmacy: int | None = None) -> None:
    """卡贩子: one collector swipes many others' e-vouchers at a complicit pharmacy in bursts."""
    rng = city.rng
    collector = city.free((city.age >= 25) & (city.age < 60), 1)
    holders = city.free(city.age >= 40, int(rng.integers(20, 61)))
    if pharmacy is None:
        pharmacy = rng.choice(city.institutions_of("pharmacy", region=region))
    devices = city.n + planted.next_device + np.arange(int(rng.integers(1, 4)))
    planted.next_device += len(devices)
    cards = [f"K{collector[0]:07d}{j:03d}" for j in range(len(holders))]
    card_device = rng.choice(devices, len(holders))
    for card, holder, device in zip(cards, holders, card_device):
        planted.cards.append({"card_id": card, "person_id": f"P{holder:07d}", "kind": "evoucher",
                              "bound_phone": str(city.phone[collector[0]]), "device_id": f"D{device:07d}"})
    bursts = int(rng.integers(4, 13))
    rows_card, rows_start = [], []
    for _ in range(bursts):
        k = int(rng.integers(8, min(26, len(holders)) + 1))
        length = int(rng.integers(2, 16))
        chosen = rng.choice(len(holders), k, replace=False)
        t0 = int(rng.integers(5, text.PERIOD_DAYS - 5)) * DAY + int(rng.integers(9 * 60, 20 * 60))
        rows_card.append(chosen)
        rows_start.append(t0 + np.sort(rng.integers(0, length + 1, k)))
    idx, start = np.concatenate(rows_card), np.concatenate(rows_start)
    n = len(idx)
    planted.frames.append(_frame(
        "pharmacy", holders[idx], pharmacy, start, total=rng.uniform(800, 4000, n), fund_share=0.7,
        items=np.array(KEY_DRUGS)[rng.integers(0, len(KEY_DRUGS), n)], rng=rng,
        card_id=np.array(cards)[idx].tolist(), device=card_device[idx], operator_no=np.full(n, 1),
    ))
    planted.ring("card_collector", "card_collection_bursts", np.r_[collector, holders],
                 [("institution", city.institution_id(pharmacy))] + [("card", c) for c in cards]
                 + [("device", f"D{d:07d}") for d in devices],
                 {"collector": f"P{collector[0]:07d}", "bursts": bursts, "cards": len(cards)})


def _prescriber_collusion(city: City, planted: Planted, region: int, *, pharmacy: int | None = None) -> None:
    """处方与药店勾结: a prescriber's scripts flow to one pharmacy for people he never saw."""
    rng = city.rng
    clinics = [i for i in city.institutions_of("clinic", region=region) if city.presc_count[i] > 0]
    clinic = int(rng.choice(clinics))
    prescriber = int(city.presc_first[clinic] + rng.integers(0, city.presc_count[clinic]))
    if pharmacy is None:
        pharmacy = rng.choice(city.institutions_of("pharmacy", region=region))
    persons = city.free(city.age >= 30, int(rng.integers(15, 41)))
    who = np.repeat(persons, rng.integers(2, 7, len(persons)))
    start = rng.integers(0, text.PERIOD_DAYS - 1, len(who)) * DAY + rng.integers(9 * 60, 20 * 60, len(who))
    drugs = _any_drugs(rng, len(who))
    planted.frames.append(_frame("pharmacy", who, pharmacy, start, total=rng.uniform(300, 1500, len(who)),
                                 fund_share=0.65, items=drugs, rng=rng, prescriber=np.full(len(who), prescriber)))
    planted.ring("prescriber_pharmacy_collusion", "forged_prescriptions", persons,
                 [("prescriber", f"DR{prescriber:05d}"), ("institution", city.institution_id(pharmacy)),
                  ("institution", city.institution_id(clinic))],
                 {"scripts": len(who)})


def _care_home_collusion(city: City, planted: Planted, region: int) -> None:
    """与养老机构勾结: a home's residents admitted in waves to one private hospital."""
    rng = city.rng
    home, residents = _care_home(city, planted, region, int(rng.integers(15, 41)), private=True)
    hospital = rng.choice(city.institutions_of("hospital", region=region, private=True))
    waves = int(rng.integers(3, 7))
    who, start, end = _waves(rng, residents, waves, share=(0.5, 0.9), stay_days=(7, 15), spread_days=2)
    planted.frames.append(_frame("inpatient", who, hospital, start, end=end, total=rng.uniform(5000, 14000, len(who)),
                                 fund_share=0.75, items="住院床位费;护理费;治疗费", rng=rng,
                                 contact_phone=np.full(len(who), city.inst_phone[home])))
    planted.ring("care_home_collusion", "care_home_waves", residents,
                 [("institution", city.institution_id(home)), ("institution", city.institution_id(hospital))],
                 {"waves": waves, "admissions": len(who)})


def _identity_misuse(city: City, planted: Planted, region: int) -> None:
    """冒用他人医保凭证: a gang uses others' cards, the dead's among them, on its own phone."""
    rng = city.rng
    gang = city.free((city.age >= 25) & (city.age < 55), int(rng.integers(2, 5)))
    victims = city.free(city.age >= 65, int(rng.integers(5, 16)))
    dead = victims[: max(2, len(victims) * 2 // 5)]
    city.death_minute[dead] = rng.integers(20, 120, len(dead)) * DAY
    device = city.n + planted.next_device
    planted.next_device += 1
    pharmacies = city.institutions_of("pharmacy", region=region)
    clinics = city.institutions_of("clinic")
    who, start, institution, kind = [], [], [], []
    for v in victims:
        uses = int(rng.integers(3, 9))
        first_day = city.death_minute[v] // DAY + 1 if v in dead else 0
        days = np.sort(np.minimum(first_day + rng.integers(1, 150, uses), text.PERIOD_DAYS - 2))
        t = days * DAY + rng.integers(9 * 60, 19 * 60, uses)
        who.append(np.full(uses, v))
        start.append(t)
        institution.append(rng.choice(pharmacies, uses))
        kind.append(np.full(uses, "pharmacy"))
        # The same card swiped at a clinic across town minutes later: two places at once.
        who.append(np.array([v]))
        start.append(t[:1] + int(rng.integers(3, 20)))
        institution.append(rng.choice(clinics, 1))
        kind.append(np.array(["outpatient"]))
    who_a = np.concatenate(who)
    n = len(who_a)
    kinds = np.concatenate(kind)
    frame = _frame("pharmacy", who_a, np.concatenate(institution), np.concatenate(start),
                   total=rng.uniform(200, 1500, n), fund_share=0.65,
                   items=_any_drugs(rng, n), rng=rng,
                   device=np.full(n, device), contact_phone=np.full(n, city.phone[gang[0]]))
    frame["kind"] = kinds
    frame["trace"] = kinds == "pharmacy"
    planted.frames.append(frame)
    planted.ring("identity_misuse", "cards_of_others_and_the_dead", np.r_[gang, victims],
                 [("device", f"D{device:07d}")] + [("card", f"C{v:07d}") for v in victims],
                 {"dead_victims": [f"P{d:07d}" for d in dead], "uses": n})


def _drug_resale(city: City, planted: Planted, region: int) -> None:
    """倒卖回流药: boxes bought on insurance come back and are sold on insurance again."""
    rng = city.rng
    buyers = city.free((city.age >= 30) & (city.age < 70), int(rng.integers(3, 7)))
    pharmacies = rng.choice(city.institutions_of("pharmacy", region=region), 3, replace=False)
    who = np.repeat(buyers, rng.integers(4, 11, len(buyers)))
    n = len(who)
    start = rng.integers(0, text.PERIOD_DAYS - 60, n) * DAY + rng.integers(9 * 60, 20 * 60, n)
    codes = [f"9{len(planted.rings):05d}{j:08d}" for j in range(n)]
    drugs = np.array(KEY_DRUGS)[rng.integers(0, len(KEY_DRUGS), n)]
    planted.frames.append(_frame("pharmacy", who, rng.choice(pharmacies[:2], n), start, total=rng.uniform(800, 3000, n),
                                 fund_share=0.7, items=drugs, rng=rng, trace_codes=codes))
    resold = rng.random(n) < 0.7
    planted.frames.append(_frame("pharmacy", rng.permutation(who)[resold], pharmacies[2], start[resold] + rng.integers(10, 50) * DAY,
                                 total=rng.uniform(800, 3000, resold.sum()), fund_share=0.7, items=drugs[resold], rng=rng,
                                 trace_codes=[c for c, r in zip(codes, resold) if r]))
    planted.ring("other", "trace_code_resale", buyers, [("institution", city.institution_id(p)) for p in pharmacies],
                 {"resold_boxes": int(resold.sum())})
