"""A city's legitimate population, institutions and routine claims.

Households live in villages of a few counties; children and many elderly have no phone
of their own and give the household's; elderly parents' e-vouchers sit on a child's phone.
People buy medicine at the pharmacies near their village, go to hospitals in proportion to
the hospitals' size, chronic patients refill monthly, and nobody claims after death.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from graphsvc.errors import InputError
from graphsvc.generate import text

__all__ = ["City", "build_city", "routine_settlements", "COUNTIES", "COMMON_DRUGS", "KEY_DRUGS", "county_prefix"]

COUNTIES = ["芙蓉区", "天心区", "岳麓区", "开福区", "雨花区", "望城区", "长沙县", "浏阳市", "宁乡市", "湘潭县", "韶山市", "湘乡市"]
_CITY = {"湘潭县": "湘潭市", "韶山市": "湘潭市", "湘乡市": "湘潭市"}
"""The prefecture of the counties that are not 长沙市's: an address names its real city."""


def county_prefix(county: str) -> str:
    """The administrative prefix of an address in ``county``: province, city, county.

    >>> county_prefix("芙蓉区"), county_prefix("韶山市")
    ('湖南省长沙市芙蓉区', '湖南省湘潭市韶山市')
    """
    return f"湖南省{_CITY.get(county, '长沙市')}{county}"
TOWNS = list("东西南北中新和平安康福寿长青丰泰兴华")
VILLAGE_WORDS = ["桃花", "杨柳", "石门", "白沙", "金盆", "龙泉", "枫林", "清水", "花桥", "高塘", "黄土", "大湾", "新塘", "梅溪"]
COMMON_DRUGS = ["阿莫西林胶囊", "布洛芬缓释胶囊", "硝苯地平控释片", "二甲双胍片", "阿托伐他汀钙片", "复方甘草片", "板蓝根颗粒", "奥美拉唑肠溶胶囊"]
KEY_DRUGS = ["人血白蛋白", "甲磺酸奥希替尼片", "甘精胰岛素注射液", "注射用曲妥珠单抗", "利伐沙班片"]
"""High-value drugs under key supervision (seed 003, attachment 1): what card collectors buy."""

DAY = 24 * 60
_ID_PREFIX = {"hospital": "H", "clinic": "CL", "pharmacy": "PH", "nursing_home": "NH"}


@dataclass
class City:
    rng: np.random.Generator
    n: int
    region_codes: np.ndarray
    village_region: np.ndarray
    village_names: list[str]
    # persons, indexed 0..n-1
    region: np.ndarray
    village: np.ndarray
    household: np.ndarray
    house_no: np.ndarray
    head: np.ndarray
    """Index of the household's head (whose phone the household shares)."""
    age: np.ndarray
    birth_day: np.ndarray
    male: np.ndarray
    phone: np.ndarray
    device: np.ndarray
    """Device number of the person's e-voucher, -1 when the person has none."""
    death_minute: np.ndarray
    """Minutes since the period start; a large number when alive."""
    employee: np.ndarray
    address: np.ndarray = field(init=False)
    """Address override (care home, dormitory) as an object array; None keeps the house address."""
    busy: np.ndarray = field(init=False)
    """Persons already cast in a planted scheme or look-alike, so groups never overlap."""
    # institutions
    inst_kind: list[str] = field(default_factory=list)
    inst_level: list[str] = field(default_factory=list)
    inst_private: list[bool] = field(default_factory=list)
    inst_region: list[int] = field(default_factory=list)
    inst_name: list[str] = field(default_factory=list)
    inst_address: list[str] = field(default_factory=list)
    inst_phone: list[int] = field(default_factory=list)
    presc_inst: list[int] = field(default_factory=list)
    presc_first: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    presc_count: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    village_pharmacies: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), int))
    # hard realism only (``None``/empty in plain mode)
    house_group: np.ndarray | None = None
    """Village group number (组) of each person's house; the address reads ``…村12组35号``."""
    birth_region: dict[int, int] = field(default_factory=dict)
    """Person -> region code of birth written in the ID number, when not the pooling region."""
    surname: dict[int, str] = field(default_factory=dict)
    """Person -> surname forced on the generated name (unrelated flatmates differ)."""

    def __post_init__(self) -> None:
        self.address = np.full(self.n, None, dtype=object)
        self.busy = np.zeros(self.n, bool)

    def free(self, mask: np.ndarray, k: int, *, villages: np.ndarray | None = None) -> np.ndarray:
        """Pick ``k`` persons matching ``mask`` not used by another group, and mark them used."""
        ok = mask & ~self.busy & (self.death_minute > text.PERIOD_DAYS * DAY)
        if villages is not None:
            ok &= np.isin(self.village, villages)
        candidates = np.flatnonzero(ok)
        if len(candidates) < k:
            raise InputError(f"city too small: wanted {k} persons, {len(candidates)} available; use more --persons",
                             zh=f"城市过小：需要 {k} 人，只有 {len(candidates)} 人可用，请加大 --persons")
        chosen = self.rng.choice(candidates, k, replace=False)
        self.busy[chosen] = True
        return np.sort(chosen)

    def institutions_of(self, kind: str, *, region: int | None = None, private: bool | None = None) -> np.ndarray:
        hits = [
            i for i, k in enumerate(self.inst_kind)
            if k == kind and (region is None or self.inst_region[i] == region)
            and (private is None or self.inst_private[i] == private)
        ]
        return np.array(hits, int)

    def add_institution(self, kind: str, region: int, level: str, private: bool, name: str, address: str) -> int:
        self.inst_kind.append(kind)
        self.inst_level.append(level)
        self.inst_private.append(private)
        self.inst_region.append(region)
        self.inst_name.append(name)
        self.inst_address.append(address)
        self.inst_phone.append(int(7310000000 + self.rng.integers(0, 9_999_999)))
        return len(self.inst_kind) - 1

    def institution_id(self, i: int) -> str:
        return f"{_ID_PREFIX[self.inst_kind[i]]}{int(i):05d}"

    def person_address(self, persons: np.ndarray) -> pa.Array:
        village = text.pick(self.village_names, self.village[persons])
        if self.house_group is None:
            house = text.concat(village, pa.array(self.house_no[persons]).cast(pa.string()), "号")
        else:
            house = text.concat(village, pa.array(self.house_group[persons]).cast(pa.string()), "组",
                                pa.array(self.house_no[persons]).cast(pa.string()), "号")
        override = self.address[persons]
        return pa.array(np.where(override == None, np.array(house.to_pylist(), dtype=object), override), pa.string())  # noqa: E711


_NAME_EXTRA = ["", "上", "下", "前", "后", "新", "老", "大", "小", "中", "东", "西", "南", "北", "高", "长", "青", "红", "玉", "金"]


def _hard_village_name(v: int) -> str:
    """A village name without digits, unique within the city even with the county left out.

    The tuple (town, 乡/镇, extras, word) is distinct for every ``v`` below 18*2*14*20**2, and
    the parts have fixed lengths, so distinct tuples give distinct names.
    """
    word, rest = VILLAGE_WORDS[v % len(VILLAGE_WORDS)], v // len(VILLAGE_WORDS)
    town, rest = TOWNS[rest % len(TOWNS)], rest // len(TOWNS)
    xz, rest = "乡镇"[rest % 2], rest // 2
    extra = _NAME_EXTRA[rest % len(_NAME_EXTRA)] + ("" if rest < len(_NAME_EXTRA) else _NAME_EXTRA[rest // len(_NAME_EXTRA)] + "湾")
    return f"{town}{xz}{extra}{word}村"


def build_city(rng: np.random.Generator, n: int, *, hard_rng: np.random.Generator | None = None) -> City:
    """The population and institutions; ``hard_rng`` (hard realism) adds village groups to addresses.

    Plain mode draws exactly what it always drew, so its files stay byte-for-byte the same.
    """
    counties = max(2, min(len(COUNTIES), n // 60_000 + 2))
    region_codes = np.array([430102 + 10 * i for i in range(counties)])
    villages = max(4 * counties, n // 450)
    village_region = rng.integers(0, counties, villages)
    if hard_rng is None:
        village_names = [
            f"{county_prefix(COUNTIES[village_region[v]])}{TOWNS[v % len(TOWNS)]}{'乡镇'[v % 2]}"
            f"{VILLAGE_WORDS[(v // len(TOWNS)) % len(VILLAGE_WORDS)]}{v}村"
            for v in range(villages)
        ]
    else:
        village_names = [f"{county_prefix(COUNTIES[village_region[v]])}{_hard_village_name(v)}" for v in range(villages)]

    sizes = rng.choice([1, 2, 3, 4, 5], size=n // 2 + 10, p=[0.17, 0.3, 0.25, 0.18, 0.10])
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    household = np.repeat(np.arange(len(sizes)), sizes)[:n]
    first_member = np.r_[0, np.cumsum(sizes)[:-1]]
    head = first_member[household]
    is_head = np.arange(n) == head

    household_village = rng.integers(0, villages, len(sizes))
    village = household_village[household]
    region = village_region[village]
    house_no = rng.integers(1, 300, len(sizes))[household]

    band = rng.choice(3, n, p=[0.2, 0.48, 0.32])
    age = np.select([band == 0, band == 1], [rng.integers(0, 18, n), rng.integers(18, 60, n)], rng.integers(60, 96, n))
    age = np.where(is_head, rng.integers(28, 66, n), age)
    birth_day = (np.datetime64("2026-01-01") - np.datetime64("1970-01-01")).astype(int) - age * 365 - rng.integers(0, 365, n)
    male = rng.random(n) < 0.5

    own_phone = (age >= 16) & ((age < 70) | (rng.random(n) < 0.55))
    own_phone |= is_head
    phone_numbers = 13_000_000_000 + rng.permutation(np.arange(n) * 7 + 3)
    phone = np.where(own_phone, phone_numbers, phone_numbers[head])

    # E-vouchers: most phone owners activate one on their own phone; an elderly parent's
    # sits on the household head's phone, as families set them up.
    device = np.where(own_phone & (rng.random(n) < 0.45), np.arange(n), -1)
    elderly_on_child = (age >= 65) & ~own_phone & (rng.random(n) < 0.5)
    device = np.where(elderly_on_child, head, device)

    death = rng.random(n) < np.where(age >= 70, 0.02, 0.001)
    death_minute = np.where(death, rng.integers(20 * DAY, (text.PERIOD_DAYS - 20) * DAY, n), 10**9)
    employee = (age >= 18) & (age < 60) & (rng.random(n) < 0.45)

    city = City(rng, n, region_codes, village_region, village_names, region, village, household, house_no, head,
                age, birth_day, male, phone, device, death_minute, employee)
    _add_institutions(city, counties, villages)
    if hard_rng is not None:
        city.house_group = hard_rng.integers(1, 16, int(household[-1]) + 1)[household]
    return city


def _add_institutions(city: City, counties: int, villages: int) -> None:
    rng = city.rng
    n = city.n
    for r in range(counties):
        county = COUNTIES[r]
        city.add_institution("hospital", r, "3", False, f"{county}人民医院", f"{county_prefix(county)}人民路{r + 1}号")
        for j in range(max(1, n // (counties * 60_000))):
            city.add_institution("hospital", r, "2", False, f"{county}第{j + 2}人民医院", f"{county_prefix(county)}健康路{j + 10}号")
        for j in range(max(2, n // (counties * 40_000))):
            city.add_institution("hospital", r, "1", True, f"{county}康民医院{j + 1}", f"{county_prefix(county)}民主街{j + 30}号")
        for j in range(max(2, n // (counties * 15_000))):
            town = TOWNS[j % len(TOWNS)]
            city.add_institution("hospital", r, "1", False, f"{county}{town}镇卫生院", f"{county_prefix(county)}{town}镇")
        for j in range(max(2, n // (counties * 5_000))):
            city.add_institution("clinic", r, "", True, f"{county}仁心诊所{j + 1}", f"{county_prefix(county)}中山路{j + 100}号")
        for j in range(max(6, n // (counties * 1_500))):
            city.add_institution("pharmacy", r, "", True, f"{county}益丰大药房{j + 1}号店", f"{county_prefix(county)}解放路{j + 200}号")
    # Each village has a nearest and a second pharmacy in its county.
    city.village_pharmacies = np.zeros((villages, 2), int)
    for v in range(villages):
        pharmacies = city.institutions_of("pharmacy", region=int(city.village_region[v]))
        city.village_pharmacies[v] = rng.choice(pharmacies, 2, replace=False)
    # Prescribers: more at bigger hospitals; a clinic has one or two.
    doctors = {"3": 40, "2": 15, "1": 4, "": 2}
    counts = np.array([doctors[city.inst_level[i]] if city.inst_kind[i] in ("hospital", "clinic") else 0
                       for i in range(len(city.inst_kind))])
    city.presc_first = np.r_[0, np.cumsum(counts)[:-1]]
    city.presc_count = counts
    city.presc_inst = list(np.repeat(np.arange(len(counts)), counts))


def _choose_institutions(city: City, regions: np.ndarray, kind: str, weights: dict[str, float]) -> np.ndarray:
    out = np.zeros(len(regions), int)
    for r in np.unique(regions):
        rows = np.flatnonzero(regions == r)
        candidates = np.array([i for i in range(len(city.inst_kind))
                               if city.inst_region[i] == r and city.inst_kind[i] in kind.split("|")])
        w = np.array([weights.get(city.inst_level[i] + ("p" if city.inst_private[i] else ""), 1.0) for i in candidates])
        out[rows] = city.rng.choice(candidates, len(rows), p=w / w.sum())
    return out


def _time_of_day(rng: np.random.Generator, k: int, start_hour: int, end_hour: int) -> np.ndarray:
    return rng.integers(start_hour * 60, end_hour * 60, k)


def routine_settlements(city: City, persons: np.ndarray) -> dict[str, Any]:
    """Everyday claims of ``persons``: outpatient visits, pharmacy purchases, hospital stays.

    Returns column arrays (numpy or Arrow), without settlement ids.
    """
    rng = city.rng
    age = city.age[persons]
    alive_minutes = np.minimum(city.death_minute[persons], text.PERIOD_DAYS * DAY)
    n_out = rng.poisson(2.4 + age / 22)
    n_pharm = rng.poisson(3.4, len(persons))
    chronic = (age >= 50) & (rng.random(len(persons)) < 0.22)
    n_in = rng.poisson(0.04 + 0.004 * np.maximum(age - 40, 0))

    def rows_for(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        who = np.repeat(np.arange(len(persons)), counts)
        day = (rng.random(len(who)) * (alive_minutes[who] // DAY - 1)).astype(int)
        return who, day

    out_who, out_day = rows_for(n_out)
    ph_who, ph_day = rows_for(n_pharm)
    # Chronic patients refill about monthly at their usual pharmacy.
    ch_who = np.repeat(np.flatnonzero(chronic), 10)
    ch_day = (np.tile(np.arange(10) * 30, chronic.sum()) + rng.integers(0, 25, len(ch_who))).astype(int)
    keep = ch_day * DAY < alive_minutes[ch_who] - DAY
    ch_who, ch_day = ch_who[keep], ch_day[keep]
    in_who, in_day = rows_for(n_in)

    who = np.concatenate([out_who, ph_who, ch_who, in_who])
    kind = np.repeat(np.array(["outpatient", "pharmacy", "pharmacy", "inpatient"]),
                     [len(out_who), len(ph_who), len(ch_who), len(in_who)])
    day = np.concatenate([out_day, ph_day, ch_day, in_day])
    person = persons[who]
    is_out, is_ph, is_in = kind == "outpatient", kind == "pharmacy", kind == "inpatient"

    institution = np.zeros(len(who), int)
    institution[is_out] = _choose_institutions(city, city.region[person[is_out]], "hospital|clinic",
                                               {"3": 6, "2": 3, "1": 1.5, "1p": 0.6, "p": 2})
    institution[is_in] = _choose_institutions(city, city.region[person[is_in]], "hospital",
                                              {"3": 8, "2": 4, "1": 1.5, "1p": 0.8})
    near = city.village_pharmacies[city.village[person[is_ph]]]
    which = np.where(rng.random(is_ph.sum()) < 0.75, 0, 1)
    institution[is_ph] = near[np.arange(len(near)), which]

    minute_of_day = np.where(is_ph, _time_of_day(rng, len(who), 8, 21), _time_of_day(rng, len(who), 8, 17))
    start = day * DAY + minute_of_day
    stay = rng.integers(2, 12, len(who)) * DAY + rng.integers(-120, 240, len(who))
    end = np.where(is_in, start + stay, -1)

    presc_count = city.presc_count[institution]
    prescriber = np.where(is_out & (presc_count > 0),
                          city.presc_first[institution] + (rng.random(len(who)) * np.maximum(presc_count, 1)).astype(int), -1)
    # A pharmacy purchase on prescription names the doctor the person saw first this year.
    first_doctor = np.full(len(persons), -1)
    order = np.flatnonzero(is_out)[::-1]
    first_doctor[who[order]] = prescriber[order]
    prescriber = np.where(is_ph & (rng.random(len(who)) < 0.3), first_doctor[who], prescriber)

    total = np.select([is_out, is_ph], [rng.lognormal(4.8, 0.7, len(who)), rng.lognormal(4.2, 0.6, len(who))],
                      rng.lognormal(8.8, 0.6, len(who)))
    fund = total * np.select([is_out, is_ph], [0.5, 0.6], 0.72) * rng.uniform(0.85, 1.0, len(who))

    # Family mutual aid (家庭共济): sometimes a purchase is paid with the household head's card.
    own_card = person.copy()
    mutual = is_ph & (city.head[person] != person) & (rng.random(len(who)) < 0.03)
    card_holder = np.where(mutual, city.head[person], own_card)
    evoucher = (city.device[card_holder] >= 0) & (rng.random(len(who)) < 0.5)

    drug = rng.integers(0, len(COMMON_DRUGS), len(who))
    items = np.where(is_ph, np.array(COMMON_DRUGS)[drug], np.where(is_in, "住院床位费;检查费;治疗费", "诊查费;检验费"))
    operator_no = rng.integers(1, 4, len(who))
    return {
        "kind": kind,
        "person": person,
        "card_holder": card_holder,
        "evoucher": evoucher,
        "institution": institution,
        "prescriber": prescriber,
        "start": start,
        "end": end,
        "total": total,
        "fund": fund,
        "items": items,
        "contact_phone": np.where(is_in | (rng.random(len(who)) < 0.2), city.phone[person], -1),
        "device": np.where(evoucher, city.device[card_holder], -1),
        "operator_no": operator_no,
        "trace": is_ph,
    }
