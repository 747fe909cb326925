"""Hard realism (``--realism hard``): what real schemes and real exports do that a tidy model does not.

On top of everything plain mode plants, in proportion to the city's size and with every
scheme's shape drawn per seed from ranges that are themselves drawn per seed:

- complicit institutions: a private hospital taking recruits from two or three brokers in the
  same weeks (and a gang using it too); a pharmacy serving a card collector and a colluding
  prescriber's scripts, sometimes a second collector; each scheme its own ring and organiser;
- gangs rotating over two to four hospitals, never more than two waves at one; private care homes
  alternating their residents' waves over two or three hospitals the same way; a pharmacy cashier
  swiping the cards of persons who died early in the year, months apart, in their own names;
- gangs living at one rented flat, admitted together;
- look-alikes: registered agents (代办员) filing one routine stay for each of many households,
  care homes whose residents go to the nearby hospital at a realistic rate, group-rental flats;
- duplicate person records (one ID number, two 参保人编号) with claims under both;
- export variants: addresses with and without province/city/county, Chinese and full-width
  numerals, stray spaces; phones with +86/0086/dashes/spaces; ID numbers with a lower-case x or
  spaces; bank accounts in groups of four; each cell independently.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphsvc.errors import InputError
from graphsvc.generate import text
from graphsvc.generate.city import COUNTIES, DAY, City, _choose_institutions, county_prefix
from graphsvc.generate.groups import (
    Planted,
    _any_drugs,
    _black_intermediary,
    _card_collector,
    _care_home,
    _frame,
    _prescriber_collusion,
    _professional_gang,
    _waves,
)

__all__ = ["HardParams", "draw_params", "plant_hard", "Variants", "BIRTH_REGIONS"]

BIRTH_REGIONS = [430521, 431102, 432503, 430381, 430624, 431225, 360111, 420102, 450102, 510107, 522101,
                 440106, 411303, 350583, 421083, 430722, 433101, 362201, 370211, 340104]
"""Birthplace codes of migrant workers' ID numbers (other Hunan counties and other provinces)."""

_INPATIENT = {"3": 8, "2": 4, "1": 1.5, "1p": 0.8}
"""Routine inpatient hospital weights (as ``routine_settlements``)."""


class HardParams(dict):
    """Per-seed scheme parameters; every range is itself drawn, so no two seeds share a shape."""


def _span(rng: np.random.Generator, lo: tuple[int, int], hi: tuple[int, int]) -> tuple[int, int]:
    """An integer range [a, b] whose ends are drawn from ``lo`` and ``hi``."""
    a = int(rng.integers(lo[0], lo[1] + 1))
    return a, max(a, int(rng.integers(hi[0], hi[1] + 1)))


def draw_params(rng: np.random.Generator, persons: int) -> HardParams:
    scale = persons / 20_000
    u = lambda: float(rng.uniform(0.8, 1.5))  # noqa: E731
    return HardParams(
        variant_share=float(rng.uniform(0.3, 0.6)),
        duplicate_share=float(rng.uniform(0.004, 0.006)),
        hub_hospitals=max(1, round(scale * 0.5 * u())),
        hub_pharmacies=max(1, round(scale * 0.35 * u())),
        second_collector=float(rng.uniform(0.3, 0.8)),
        brokers_per_hub=_span(rng, (2, 2), (2, 3)),
        broker_size=_span(rng, (6, 10), (16, 30)),
        same_week_share=float(rng.uniform(0.4, 0.9)),
        hub_waves=_span(rng, (3, 4), (5, 7)),
        rotating_gangs=max(1, round(scale * 0.6 * u())),
        rotating_size=_span(rng, (4, 6), (8, 12)),
        rotating_hospitals=_span(rng, (2, 3), (3, 4)),
        gang_flats=max(1, round(scale * 0.5 * u())),
        flat_gang_size=_span(rng, (4, 5), (6, 8)),
        flat_gang_waves=_span(rng, (3, 4), (4, 6)),
        agents=max(2, round(scale * 2.5 * u())),
        agent_households=_span(rng, (13, 20), (30, 49)),
        agent_phone_share=float(rng.uniform(0.2, 0.8)),
        care_homes=max(1, round(scale * 0.8 * u())),
        care_home_residents=_span(rng, (60, 90), (110, 150)),
        care_home_stays=(float(rng.uniform(1.0, 1.6)), float(rng.uniform(2.2, 3.0))),
        rentals=max(2, round(scale * 4 * u())),
        rental_size=_span(rng, (5, 7), (8, 12)),
        rotating_care_homes=max(1, round(scale * 0.3 * u())),
        rotating_care_home_waves=_span(rng, (4, 4), (5, 6)),
        dead_card_cashiers=max(1, round(scale * 0.3 * u())),
        cashier_dead_cards=_span(rng, (3, 5), (6, 9)),
    )


# ---- planting ---------------------------------------------------------------------------------


def plant_hard(city: City, planted: Planted, params: HardParams) -> np.ndarray:
    """Plant the hard-mode schemes and look-alikes; returns the persons given a duplicate record."""
    rng = city.rng
    regions = len(city.region_codes)
    for _ in range(params["hub_hospitals"]):
        _hospital_hub(city, planted, params, int(rng.integers(0, regions)))
    for _ in range(params["hub_pharmacies"]):
        _pharmacy_hub(city, planted, params, int(rng.integers(0, regions)))
    for _ in range(params["rotating_gangs"]):
        _rotating_gang(city, planted, params, int(rng.integers(0, regions)))
    for _ in range(params["gang_flats"]):
        _gang_flat(city, planted, params, int(rng.integers(0, regions)))
    for _ in range(params["care_homes"]):
        _care_home_regular(city, planted, params, int(rng.integers(0, regions)))
    for _ in range(params["rentals"]):
        _group_rental(city, planted, params, int(rng.integers(0, regions)))
    # Agents come last: they serve whoever lives in their villages, ring recruits included.
    for _ in range(params["agents"]):
        _registered_agent(city, planted, params, int(rng.integers(0, regions)))
    k = max(1, round(city.n * params["duplicate_share"]))
    duplicated = np.sort(rng.choice(city.n, k, replace=False))
    for _ in range(params["rotating_care_homes"]):
        _rotating_care_home(city, planted, params, int(rng.integers(0, regions)))
    for _ in range(params["dead_card_cashiers"]):
        _dead_card_cashier(city, planted, params, int(rng.integers(0, regions)))
    return duplicated


def _draw(rng: np.random.Generator, span: tuple[int, int]) -> int:
    return int(rng.integers(span[0], span[1] + 1))


def _hospital_hub(city: City, planted: Planted, params: HardParams, region: int) -> None:
    """One private hospital, two or three brokers sending recruits in the same weeks, and a gang."""
    rng = city.rng
    hub = int(rng.choice(city.institutions_of("hospital", region=region, private=True)))
    others = [h for h in city.institutions_of("hospital", region=region, private=True) if h != hub]
    base = np.sort(rng.choice(np.arange(10, text.PERIOD_DAYS - 34), _draw(rng, params["hub_waves"]), replace=False))
    for _ in range(_draw(rng, params["brokers_per_hub"])):
        waves = int(rng.integers(3, 7))
        shared = rng.random(waves) < params["same_week_share"]
        shared[: min(2, waves)] = True  # at least two waves in the hub's common weeks
        days = np.where(shared, rng.choice(base, waves) + rng.integers(0, 4, waves),
                        rng.integers(10, text.PERIOD_DAYS - 30, waves))
        hospitals = np.array([hub] + ([int(rng.choice(others))] if others and rng.random() < 0.3 else []))
        _black_intermediary(city, planted, region, size=(params["broker_size"][0], params["broker_size"][1] + 1),
                            hospitals=hospitals, wave_days=np.sort(days))
        planted.rings[-1]["scheme"] = "black_intermediary_shared_hospital"
        planted.rings[-1]["facts"]["shared_hospital"] = city.institution_id(hub)
    _professional_gang(city, planted, region, hospital=hub)
    planted.rings[-1]["facts"]["shared_hospital"] = city.institution_id(hub)


def _pharmacy_hub(city: City, planted: Planted, params: HardParams, region: int) -> None:
    """One pharmacy: a card collector, a colluding prescriber's scripts, sometimes a second collector."""
    rng = city.rng
    pharmacy = int(rng.choice(city.institutions_of("pharmacy", region=region)))
    _card_collector(city, planted, region, pharmacy=pharmacy)
    planted.rings[-1]["facts"]["shared_pharmacy"] = city.institution_id(pharmacy)
    _prescriber_collusion(city, planted, region, pharmacy=pharmacy)
    planted.rings[-1]["facts"]["shared_pharmacy"] = city.institution_id(pharmacy)
    if rng.random() < params["second_collector"]:
        _card_collector(city, planted, region, pharmacy=pharmacy)
        planted.rings[-1]["facts"]["shared_pharmacy"] = city.institution_id(pharmacy)


def _rotating_gang(city: City, planted: Planted, params: HardParams, region: int) -> None:
    """A gang that learned: 4-8 group admissions over 2-4 hospitals, at most two at any one."""
    rng = city.rng
    gang = city.free((city.age >= 25) & (city.age < 70), _draw(rng, params["rotating_size"]))
    candidates = city.institutions_of("hospital", region=region)
    k = min(len(candidates), _draw(rng, params["rotating_hospitals"]))
    hospitals = rng.choice(candidates, k, replace=False)
    waves = int(rng.integers(4, min(8, 2 * k) + 1))
    wave_hospital = rng.permutation(np.repeat(hospitals, 2))[:waves]
    days = np.sort(rng.choice(np.arange(10, text.PERIOD_DAYS - 30), waves, replace=False))
    who, start, end, where = [], [], [], []
    for day, hospital in zip(days, wave_hospital):
        w, s, e = _waves(rng, gang, 1, share=(0.7, 1.0), stay_days=(3, 8), spread_days=1, wave_days=np.array([day]))
        who.append(w)
        start.append(s)
        end.append(e)
        where.append(np.full(len(w), hospital))
    who_a = np.concatenate(who)
    leader_phone = city.phone[gang[0]]
    uses_leader = rng.random(len(who_a)) < rng.uniform(0.2, 0.8)
    planted.frames.append(_frame(
        "inpatient", who_a, np.concatenate(where), np.concatenate(start), end=np.concatenate(end),
        total=rng.uniform(4000, 12000, len(who_a)), fund_share=0.72, items="住院床位费;检查费;治疗费", rng=rng,
        contact_phone=np.where(uses_leader, leader_phone, city.phone[who_a])))
    planted.ring("professional_gang", "rotating_gang", gang, [("institution", city.institution_id(h)) for h in hospitals],
                 {"waves": waves, "admissions": len(who_a),
                  "wave_hospitals": [city.institution_id(h) for h in wave_hospital]})


def _rotating_care_home(city: City, planted: Planted, params: HardParams, region: int) -> None:
    """A private home selling its residents' stays in waves, alternated over two or three private
    hospitals so that none sees more than two of its waves (and so fewer than a home's three at one)."""
    rng = city.rng
    home, residents = _care_home(city, planted, region, int(rng.integers(20, 41)), private=True)
    private = city.institutions_of("hospital", region=region, private=True)
    hospitals = rng.choice(private, min(len(private), int(rng.integers(2, 4))), replace=False)
    waves = min(_draw(rng, params["rotating_care_home_waves"]), 2 * len(hospitals))
    wave_hospital = rng.permutation(np.repeat(hospitals, 2))[:waves]
    days = np.sort(rng.choice(np.arange(10, text.PERIOD_DAYS - 30), waves, replace=False))
    parts = [_waves(rng, residents, 1, share=(0.4, 0.8), stay_days=(7, 15), spread_days=2, wave_days=np.array([d]))
             for d in days]
    who, start, end = (np.concatenate([part[i] for part in parts]) for i in range(3))
    where = np.concatenate([np.full(len(part[0]), h) for part, h in zip(parts, wave_hospital)])
    planted.frames.append(_frame("inpatient", who, where, start, end=end, total=rng.uniform(5000, 14000, len(who)),
                                 fund_share=0.75, items="住院床位费;护理费;治疗费", rng=rng,
                                 contact_phone=np.full(len(who), city.inst_phone[home])))
    used = sorted({int(h) for h in wave_hospital})
    planted.ring("care_home_collusion", "rotating_care_home", residents,
                 [("institution", city.institution_id(home)), *(("institution", city.institution_id(h)) for h in used)],
                 {"waves": waves, "admissions": len(who),
                  "wave_hospitals": [city.institution_id(h) for h in wave_hospital]})


def _dead_card_cashier(city: City, planted: Planted, params: HardParams, region: int) -> None:
    """A pharmacy cashier (his own operator id) swiping the physical cards of persons who died early in the
    year, each a few times months apart, in their own names: no device, no phone, no burst."""
    rng = city.rng
    # Not a person the year's other planted claims already name (an agent's client): he would have died
    # before the stay the agent filed for him.
    named = np.zeros(city.n, bool)
    for frame in planted.frames:
        named[frame["person"]] = True
    dead = city.free((city.age >= 70) & ~named, _draw(rng, params["cashier_dead_cards"]))
    city.death_minute[dead] = rng.integers(10, 90, len(dead)) * DAY
    pharmacy = int(rng.choice(city.institutions_of("pharmacy", region=region)))
    uses = rng.integers(2, 6, len(dead))
    who = np.repeat(dead, uses)
    first = city.death_minute[who] // DAY + 2
    start = np.minimum(first + rng.integers(5, 250, len(who)), text.PERIOD_DAYS - 2) * DAY + rng.integers(9 * 60, 19 * 60,
                                                                                                          len(who))
    frame = _frame("pharmacy", who, pharmacy, start, total=rng.uniform(300, 1800, len(who)), fund_share=0.65,
                   items=_any_drugs(rng, len(who)), rng=rng)
    frame["operator_no"] = np.full(len(who), 7)  # the cashier's own login, none of the till's usual three
    planted.frames.append(frame)
    planted.ring("identity_misuse", "dead_card_cashier", dead,
                 [("institution", city.institution_id(pharmacy))] + [("card", f"C{d:07d}") for d in dead],
                 {"operator": f"{city.institution_id(pharmacy)}-OP7", "uses": len(who)})


def _unrelated(city: City, region: int, k: int) -> np.ndarray:
    """``k`` free working-age adults of the region from ``k`` different households, given own phones,
    different surnames and different birthplaces; marked used."""
    rng = city.rng
    ok = (city.age >= 20) & (city.age < 55) & (city.region == region) & ~city.busy
    ok &= city.death_minute > text.PERIOD_DAYS * DAY
    candidates = rng.permutation(np.flatnonzero(ok))
    _, first = np.unique(city.household[candidates], return_index=True)
    chosen = np.sort(candidates[np.sort(first)][:k])
    if len(chosen) < k:
        raise InputError(f"city too small: wanted {k} unrelated adults; use more --persons",
                         zh=f"城市过小：需要 {k} 名互不相关的成年人，请加大 --persons")
    city.busy[chosen] = True
    surnames = rng.choice(text.SURNAMES, k, replace=False)
    births = rng.choice(BIRTH_REGIONS, k, replace=False)
    for p, surname, birth in zip(chosen, surnames, births):
        city.surname[int(p)] = str(surname)
        city.birth_region[int(p)] = int(birth)
    city.phone[chosen] = 17_700_000_000 + chosen * 3 + 1  # own phones, no shared household number
    return chosen


def _flat_address(city: City, region: int) -> str:
    serial = len(city.surname)
    return (f"{county_prefix(COUNTIES[region])}劳动路{serial % 97 + 3}号"
            f"{serial % 9 + 1}栋{(serial // 9) % 6 + 1}0{serial % 4 + 1}室")


def _group_rental(city: City, planted: Planted, params: HardParams, region: int) -> None:
    """群租房: unrelated working adults at one address, with only their routine claims."""
    tenants = _unrelated(city, region, _draw(city.rng, params["rental_size"]))
    address = _flat_address(city, region)
    city.address[tenants] = address
    planted.lookalike("group_rental", tenants, address=address)


def _gang_flat(city: City, planted: Planted, params: HardParams, region: int) -> None:
    """A gang registered at one rented flat, admitted together to one or two hospitals."""
    rng = city.rng
    gang = _unrelated(city, region, _draw(rng, params["flat_gang_size"]))
    address = _flat_address(city, region)
    city.address[gang] = address
    hospitals = rng.choice(city.institutions_of("hospital", region=region), int(rng.integers(1, 3)), replace=False)
    waves = _draw(rng, params["flat_gang_waves"])
    days = np.sort(rng.choice(np.arange(10, text.PERIOD_DAYS - 30), waves, replace=False))
    parts = [_waves(rng, gang, 1, share=(0.7, 1.0), stay_days=(3, 9), spread_days=1, wave_days=np.array([d]))
             for d in days]
    who, start, end = (np.concatenate([p[i] for p in parts]) for i in range(3))
    where = np.concatenate([np.full(len(p[0]), rng.choice(hospitals)) for p in parts])
    planted.frames.append(_frame(
        "inpatient", who, where, start, end=end, total=rng.uniform(4000, 12000, len(who)),
        fund_share=0.72, items="住院床位费;检查费;治疗费", rng=rng, contact_phone=city.phone[who]))
    planted.ring("professional_gang", "gang_flat", gang, [("institution", city.institution_id(h)) for h in hospitals],
                 {"address": address, "waves": waves, "admissions": len(who)})


def _care_home_regular(city: City, planted: Planted, params: HardParams, region: int) -> None:
    """A public home whose residents go to the nearby public hospital one to three times a year."""
    rng = city.rng
    home, residents = _care_home(city, planted, region, _draw(rng, params["care_home_residents"]), private=False)
    public = city.institutions_of("hospital", region=region, private=False)
    nearby = int(rng.choice(public))
    rate = float(rng.uniform(*params["care_home_stays"]))
    who = np.repeat(residents, rng.poisson(rate, len(residents)))
    n = len(who)
    start = rng.integers(0, text.PERIOD_DAYS - 14, n) * DAY + rng.integers(8 * 60, 17 * 60, n)
    end = start + rng.integers(3, 14, n) * DAY + rng.integers(-120, 240, n)
    hospital = np.where(rng.random(n) < 0.85, nearby, rng.choice(public, n))
    planted.frames.append(_frame("inpatient", who, hospital, start, end=end, total=rng.lognormal(8.8, 0.5, n),
                                 fund_share=0.72, items="住院床位费;检查费;治疗费", rng=rng,
                                 contact_phone=city.phone[who]))
    planted.lookalike("care_home_regular", residents, institution=city.institution_id(home),
                      hospital=city.institution_id(nearby), stays=n, stays_per_resident=round(rate, 2))


def _registered_agent(city: City, planted: Planted, params: HardParams, region: int) -> None:
    """代办员: one routine stay filed for each of many households of the agent's villages over the year."""
    rng = city.rng
    in_region = np.flatnonzero(city.village_region == region)
    villages = rng.choice(in_region, min(len(in_region), int(rng.integers(1, 4))), replace=False)
    alive = city.death_minute > text.PERIOD_DAYS * DAY
    eligible = np.flatnonzero(np.isin(city.village, villages) & alive & (city.age >= 18) & (city.address == None))  # noqa: E711
    households = np.unique(city.household[eligible])
    k = min(len(households), _draw(rng, params["agent_households"]))
    chosen_households = rng.choice(households, k, replace=False)
    clients = np.array([rng.choice(eligible[city.household[eligible] == h]) for h in chosen_households], int)
    number = len(planted.intermediaries) + 1
    agent_id = f"I{number:05d}"
    phone = 15_800_000_000 + number * 13
    birth_day = int(rng.integers(-9000, 5000))
    id_number = text.id_numbers(np.array([city.region_codes[region]]), np.array([birth_day]),
                                np.array([number]), np.array([bool(rng.random() < 0.5)]))[0].as_py()
    planted.intermediaries.append({"intermediary_id": agent_id, "name": text.names(rng, 1)[0].as_py(),
                                   "phone": str(phone), "address": city.village_names[villages[0]],
                                   "id_number": id_number, "source": "agent_registration"})
    day = np.sort(rng.integers(5, text.PERIOD_DAYS - 14, k))
    start = day * DAY + rng.integers(8 * 60, 17 * 60, k)
    end = start + rng.integers(2, 12, k) * DAY + rng.integers(-120, 240, k)
    hospital = _choose_institutions(city, city.region[clients], "hospital", _INPATIENT)
    by_agent = rng.random(k) < params["agent_phone_share"]
    planted.frames.append(_frame("inpatient", clients, hospital, start, end=end, total=rng.lognormal(8.8, 0.6, k),
                                 fund_share=0.72, items="住院床位费;检查费;治疗费", rng=rng,
                                 contact_phone=np.where(by_agent, phone, city.phone[clients]),
                                 agent=np.full(k, agent_id, object)))
    planted.lookalike("registered_agent", clients, intermediary=agent_id, phone=str(phone),
                      villages=[city.village_names[v] for v in villages], households=k)


# ---- export variants ---------------------------------------------------------------------------

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_DIGITS = "零一二三四五六七八九"
_COUNTY = re.compile("|".join(COUNTIES))
_CITY_NAME = re.compile("^(长沙市|湘潭市)")
_NUMBERED = re.compile(r"(\d+)(?=[组号栋室])")
_PHONE = re.compile(r"1\d{10}")
_ACCOUNT = re.compile(r"\d{16,19}")


def chinese_number(n: int) -> str:
    """12 -> 十二, 35 -> 三十五, 105 -> 一百零五, 210 -> 二百一十 (1..999)."""
    hundreds, tens, ones = n // 100, (n // 10) % 10, n % 10
    out = ""
    if hundreds:
        out += _DIGITS[hundreds] + "百"
        if tens == 0 and ones:
            return out + "零" + _DIGITS[ones]
    if tens:
        out += ("" if tens == 1 and not hundreds else _DIGITS[tens]) + "十"
    if ones or not out:
        out += _DIGITS[ones]
    return out


class Variants:
    """Rewrites a share of cells the way real exports spell them, each cell independently."""

    def __init__(self, rng: np.random.Generator, share: float) -> None:
        self.rng = rng
        self.share = share

    def _picked(self, values: list[str | None], pattern: re.Pattern | None = None) -> np.ndarray:
        hits = self.rng.random(len(values)) < self.share
        return np.flatnonzero([h and v is not None and (pattern is None or pattern.fullmatch(v) is not None)
                               for h, v in zip(hits, values)])

    def apply(self, table: str, columns: dict[str, pa.Array]) -> dict[str, pa.Array]:
        spec = {"persons": {"address": self.address, "phone": self.phone, "id_number": self.id_number},
                "intermediaries": {"address": self.address, "phone": self.phone, "id_number": self.id_number},
                "settlements": {"contact_phone": self.phone, "payee_account": self.account}}.get(table, {})
        out = dict(columns)
        for name, rewrite in spec.items():
            if name in out:
                out[name] = rewrite(out[name])
        return out

    def _rewrite(self, column: pa.Array, pattern: re.Pattern | None, one) -> pa.Array:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if column.null_count == len(column):
            return column
        values = column.to_pylist()
        picked = self._picked(values, pattern)
        if len(picked) == 0:
            return column
        rolls = self.rng.random((len(picked), 4))
        for j, r in zip(picked, rolls):
            values[j] = one(values[j], r)
        return pa.array(values, pa.string())

    def phone(self, column: pa.Array) -> pa.Array:
        def one(p: str, r: np.ndarray) -> str:
            forms = ["+86" + p, "+86 " + p, "0086" + p, "0086 " + p, f"{p[:3]}-{p[3:7]}-{p[7:]}",
                     f"{p[:3]} {p[3:7]} {p[7:]}", f"+86 {p[:3]}-{p[3:7]}-{p[7:]}", p.translate(_FULL_WIDTH), f" {p} "]
            return forms[int(r[0] * len(forms))]
        return self._rewrite(column, _PHONE, one)

    def id_number(self, column: pa.Array) -> pa.Array:
        def one(v: str, r: np.ndarray) -> str:
            if v.endswith("X") and r[0] < 0.6:
                v = v[:-1] + "x"
            if r[1] < 0.5:
                v = f"{v[:6]} {v[6:14]} {v[14:]}" if r[2] < 0.6 else v + " "
            return v
        return self._rewrite(column, re.compile(r"\d{17}[\dX]"), one)

    def account(self, column: pa.Array) -> pa.Array:
        def one(v: str, r: np.ndarray) -> str:
            return " ".join(v[i:i + 4] for i in range(0, len(v), 4))
        return self._rewrite(column, _ACCOUNT, one)

    def address(self, column: pa.Array) -> pa.Array:
        def one(v: str, r: np.ndarray) -> str:
            prefix = int(r[0] * 5)  # keep, no province, no province/city, no county, none of them
            if prefix in (1, 2, 4):
                v = v.removeprefix("湖南省")
            if prefix in (2, 4):
                v = _CITY_NAME.sub("", v, count=1)
            if prefix in (3, 4):
                v = _COUNTY.sub("", v, count=1)
            numerals = int(r[1] * 3)  # Arabic, Chinese, full-width
            if numerals == 1:
                v = _NUMBERED.sub(lambda m: chinese_number(int(m.group(1))) if 0 < int(m.group(1)) < 1000 else m.group(1), v)
            elif numerals == 2:
                v = v.translate(_FULL_WIDTH)
            if r[2] < 0.4:  # a stray space inside, or at an end
                cut = int(r[3] * (len(v) - 1)) + 1
                v = v[:cut] + " " + v[cut:] if r[2] < 0.25 else v + " "
            return v
        return self._rewrite(column, None, one)


def duplicate_rows(city: City, columns: dict[str, pa.Array], dups: np.ndarray) -> dict[str, pa.Array]:
    """persons.csv rows for the second records of ``dups``: same ID number, name and birth date,
    another 参保人编号 and another pooling region or scheme."""
    take = pa.array(dups)
    rows = {name: (col.take(take) if len(col) else col) for name, col in columns.items()}
    rows["person_id"] = pa.array([f"P{p:07d}-2" for p in dups], pa.string())
    rng = city.rng
    other_region = rng.random(len(dups)) < 0.5
    codes = city.region_codes
    shifted = codes[(city.region[dups] + 1 + rng.integers(0, max(1, len(codes) - 1), len(dups))) % len(codes)]
    rows["region_code"] = pc.if_else(pa.array(other_region), pa.array(shifted.astype(str)), rows["region_code"])
    flipped = np.where(city.employee[dups], "resident", "employee")
    rows["insurance_type"] = pc.if_else(pa.array(other_region), rows["insurance_type"], pa.array(flipped))
    return rows


def switch_to_duplicates(columns: dict[str, pa.Array], persons: np.ndarray, duplicated: np.ndarray,
                         rng: np.random.Generator) -> dict[str, pa.Array]:
    """Some claims of duplicated persons filed under the second record (and its own card)."""
    switch = duplicated[persons] & (rng.random(len(persons)) < 0.5)
    if not switch.any():
        return columns
    out = dict(columns)
    own_card = pc.equal(columns["card_id"], text.ids("C", persons, 7))
    mask = pa.array(switch)
    out["person_id"] = pc.if_else(mask, pc.binary_join_element_wise(columns["person_id"], "-2", ""), columns["person_id"])
    card_mask = pc.and_(mask, pc.fill_null(own_card, False))
    out["card_id"] = pc.if_else(card_mask, pc.binary_join_element_wise(columns["card_id"], "-2", ""), columns["card_id"])
    return out


def summary(params: HardParams, duplicates: np.ndarray) -> dict[str, Any]:
    return {"params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
            "duplicates": len(duplicates)}
