"""Small hand-built claim scenes with known answers: planted schemes and legitimate look-alikes.

A ``Scene`` collects contract rows; tests read it through ``in_memory_claims`` (detector
tests) or write it as a contract folder and ingest it into a real store (store and CLI
tests). Every scene adds persons in their own houses unless it says otherwise, so only what
a scene plants links them.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from graphsvc.detect.finding import in_memory_claims
from graphsvc.model import ENTITY_TABLES

ALBUMIN = "人血白蛋白"


class Scene:
    def __init__(self, *, first_serial: int = 0) -> None:
        """``first_serial``: where settlement numbers start, so a second scene adds claims, not conflicts."""
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in ENTITY_TABLES}
        self._serial = first_serial

    # ---- rows ------------------------------------------------------------------------------

    def institution(self, institution_id: str, kind: str, **extra: Any) -> str:
        self.tables["institutions"].append({"institution_id": institution_id, "kind": kind, **extra})
        return institution_id

    def person(self, person_id: str, *, address: str | None = None, phone: str | None = None,
               birth_date: str | None = "1960-05-01", **extra: Any) -> str:
        self.tables["persons"].append({"person_id": person_id, "address": address or f"{person_id}村1号",
                                       "phone": phone or f"139{len(self.tables['persons']):08d}",
                                       "birth_date": birth_date, **extra})
        return person_id

    def people(self, prefix: str, n: int, **extra: Any) -> list[str]:
        return [self.person(f"{prefix}{i:03d}", **extra) for i in range(n)]

    def card(self, card_id: str, holder: str, **extra: Any) -> str:
        self.tables["cards"].append({"card_id": card_id, "person_id": holder, **extra})
        return card_id

    def claim(self, kind: str, person: str, institution: str, start: datetime | str, **extra: Any) -> str:
        self._serial += 1
        settlement_id = f"S{self._serial:06d}"
        start_text = start if isinstance(start, str) else start.strftime("%Y-%m-%d %H:%M:%S")
        self.tables["settlements"].append({"settlement_id": settlement_id, "kind": kind, "person_id": person,
                                           "institution_id": institution, "start_time": start_text,
                                           "fund_amount": extra.pop("fund_amount", 1000.0), **extra})
        return settlement_id

    # ---- outputs ---------------------------------------------------------------------------

    def connection(self) -> duckdb.DuckDBPyConnection:
        return in_memory_claims(**{k: v for k, v in self.tables.items() if v})

    def write_folder(self, folder: Path) -> Path:
        """Write the scene as a contract folder (CSV; list columns joined by ';')."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in self.tables.items():
            if not rows:
                continue
            columns = [c.name for c in ENTITY_TABLES[name].columns]
            with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, columns)
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()})
        return folder


def day(n: int, hour: int = 9, minute: int = 0) -> datetime:
    """Day ``n`` of 2026 (0 = Jan 1) at hour:minute."""
    return datetime(2026, 1, 1, hour, minute) + timedelta(days=n)


# ---- planted schemes ------------------------------------------------------------------------


def black_intermediary(scene: Scene, *, prefix: str = "BI", hospital: str = "H100", waves: tuple[int, ...] = (20, 80, 140),
                       recruits: int = 6) -> dict[str, Any]:
    """A broker's recruits from six houses admitted in waves, his phone as contact, paid to his account."""
    scene.institution(hospital, "hospital", ownership="private")
    broker = f"I{prefix}"
    phone = "15900000017"
    scene.tables["intermediaries"].append({"intermediary_id": broker, "phone": phone, "name": "王某"})
    persons = scene.people(prefix, recruits, birth_date="1950-01-01")
    for w in waves:
        for i, p in enumerate(persons):
            scene.claim("inpatient", p, hospital, day(w + i % 2), end_time=day(w + 8).strftime("%Y-%m-%d %H:%M:%S"),
                        contact_phone=phone, agent_id=broker, payee_account="6222000000000001", fund_amount=5000.0)
    return {"persons": persons, "broker": broker, "phone": phone, "hospital": hospital}


def professional_gang(scene: Scene, *, prefix: str = "PG", hospital: str = "H200",
                      waves: tuple[int, ...] = (30, 90, 150, 210)) -> list[str]:
    scene.institution(hospital, "hospital")
    gang = scene.people(prefix, 5, birth_date="1980-01-01")
    for w in waves:
        for p in gang:
            scene.claim("inpatient", p, hospital, day(w), end_time=day(w + 4).strftime("%Y-%m-%d %H:%M:%S"))
    return gang


def card_collector(scene: Scene, *, prefix: str = "CC", pharmacy: str = "PH300", burst_days: tuple[int, ...] = (40, 100, 160),
                   holders: int = 10, background: bool = True) -> dict[str, Any]:
    """A collector's phone holds ten others' e-vouchers on two devices, swiped in bursts for albumin."""
    if not any(i["institution_id"] == pharmacy for i in scene.tables["institutions"]):
        scene.institution(pharmacy, "pharmacy")
    collector = scene.person(f"{prefix}X", birth_date="1985-01-01", phone=f"188{len(scene.tables['persons']):08d}")
    people = scene.people(prefix, holders)
    phone = next(p["phone"] for p in scene.tables["persons"] if p["person_id"] == collector)
    devices = [f"D{prefix}1", f"D{prefix}2"]
    cards = [scene.card(f"K{prefix}{i:03d}", p, kind="evoucher", bound_phone=phone, device_id=devices[i % 2])
             for i, p in enumerate(people)]
    for d in burst_days:
        for i, (p, c) in enumerate(zip(people[:8], cards[:8])):
            scene.claim("pharmacy", p, pharmacy, day(d, 15, i), card_id=c, device_id=devices[i % 2], items=[ALBUMIN],
                        operator_id=f"{pharmacy}-OP1", fund_amount=900.0)
    if background:
        neighbourhood_pharmacy(scene, pharmacy, prefix=f"{prefix}N")
    return {"collector": collector, "persons": [collector, *people], "devices": devices, "cards": cards}


def neighbourhood_pharmacy(scene: Scene, pharmacy: str, *, prefix: str, customers: int = 30) -> list[str]:
    """Everyday customers: a couple a day, their own cards, everyday medicine."""
    people = scene.people(prefix, customers)
    for i, p in enumerate(people):
        card = scene.card(f"C{p}", p)
        for k in range(3):
            scene.claim("pharmacy", p, pharmacy, day(1 + (i * 7 + k * 61) % 280, 9 + (i + k) % 10, 5 * k),
                        card_id=card, items=["布洛芬缓释胶囊"], fund_amount=30.0)
    return people


def prescriber_collusion(scene: Scene, *, prefix: str = "PC") -> dict[str, Any]:
    clinic = scene.institution(f"CL{prefix}", "clinic")
    pharmacy = scene.institution(f"PH{prefix}", "pharmacy")
    prescriber = f"DR{prefix}"
    scene.tables["prescribers"].append({"prescriber_id": prescriber, "institution_id": clinic})
    patients = scene.people(f"{prefix}S", 4)
    for i, p in enumerate(patients):  # real patients: seen at the clinic, fill the script nearby
        scene.claim("outpatient", p, clinic, day(10 + i), prescriber_id=prescriber)
        scene.claim("pharmacy", p, pharmacy, day(10 + i, 16), prescriber_id=prescriber)
    strangers = scene.people(f"{prefix}U", 6)
    for i, p in enumerate(strangers):
        for k in range(2):
            scene.claim("pharmacy", p, pharmacy, day(30 + 20 * k + i, 11), prescriber_id=prescriber, items=[ALBUMIN])
    return {"prescriber": prescriber, "pharmacy": pharmacy, "strangers": strangers, "patients": patients}


def care_home_collusion(scene: Scene, *, prefix: str = "CH", hospital: str = "H500") -> dict[str, Any]:
    home = scene.institution(f"NH{prefix}", "nursing_home", address=f"{prefix}福寿路1号", phone="07310000001")
    scene.institution(hospital, "hospital", ownership="private")
    residents = scene.people(prefix, 8, address=f"{prefix}福寿路1号", phone="07310000001", birth_date="1940-01-01")
    for n, w in enumerate((25, 95, 170)):
        for i, p in enumerate(residents[n % 2:][:6]):
            scene.claim("inpatient", p, hospital, day(w + i % 3), contact_phone="07310000001")
    return {"home": home, "hospital": hospital, "persons": residents}


def identity_misuse(scene: Scene, *, prefix: str = "IM") -> dict[str, Any]:
    """A gang's phone scans four old persons' cards (two of them dead) at pharmacies, once in two places at once."""
    for inst, kind in ((f"PH{prefix}1", "pharmacy"), (f"PH{prefix}2", "pharmacy"), (f"CL{prefix}", "clinic")):
        scene.institution(inst, kind)
    victims = [scene.person(f"{prefix}{i:03d}", birth_date="1935-01-01",
                            death_date="2026-02-01" if i < 2 else None) for i in range(4)]
    device = f"D{prefix}"
    for i, v in enumerate(victims):
        card = scene.card(f"C{v}", v)
        for k in range(3):
            scene.claim("pharmacy", v, f"PH{prefix}{1 + k % 2}", day(60 + 10 * k + i, 10 + k), card_id=card,
                        device_id=device, contact_phone="13700000077")
        scene.claim("outpatient", v, f"CL{prefix}", day(60 + i, 10, 12), card_id=card)
    return {"persons": victims, "dead": victims[:2], "device": device}


def dead_cards_one_cashier(scene: Scene, *, prefix: str = "DC", dead: int = 3) -> dict[str, Any]:
    """The cards of persons who died last year swiped by one cashier at one pharmacy, months apart (no burst),
    among its everyday sales."""
    pharmacy = scene.institution(f"PH{prefix}", "pharmacy")
    neighbourhood_pharmacy(scene, pharmacy, prefix=f"{prefix}N")
    holders = [scene.person(f"{prefix}{i:02d}", birth_date=f"{1932 + i}-05-0{1 + i % 9}",
                            death_date=f"2025-{3 + i % 9:02d}-15") for i in range(dead)]
    for i, p in enumerate(holders):
        card = scene.card(f"C{p}", p)
        for k in range(3):
            scene.claim("pharmacy", p, pharmacy, day(20 + 60 * k + 9 * i, 14), card_id=card,
                        operator_id=f"{pharmacy}-OP7", items=[ALBUMIN], fund_amount=850.0)
    return {"persons": holders, "pharmacy": pharmacy, "operator": f"{pharmacy}-OP7"}


def hospital_account(scene: Scene, *, prefix: str = "HA", patients: int = 12) -> dict[str, Any]:
    """A township health centre exporting its own settlement account as the payee of every direct-settled stay:
    one ordinary stay each, spread over the year."""
    hospital = scene.institution(f"H{prefix}", "hospital", ownership="public", level="1")
    account = f"4300155800{len(scene.tables['persons']):06d}"
    people = [scene.person(f"{prefix}{i:02d}", address=house("花明楼", "刘家台", 40 + i)) for i in range(patients)]
    for i, p in enumerate(people):
        admitted = day(5 + 29 * i, 9)
        scene.claim("inpatient", p, hospital, admitted, end_time=until(admitted, 5), payee_account=account,
                    fund_amount=2500.0 + 10 * i)
    return {"persons": people, "hospital": hospital, "account": account}


def families_on_dead_grandparents_cards(scene: Scene, login: Callable[[int], str], *, prefix: str, name: str,
                                        estate: str) -> list[str]:
    """A neighbourhood pharmacy of an estate (60 regulars buying everyday medicine every few weeks, each sale
    under ``login(hour)``), where three unrelated families go on buying their late grandparent's usual
    medicine on his card, monthly at 18:20 on the way home. Returns the three dead holders."""
    ph = scene.institution(f"PH{prefix}", "pharmacy", name=name)
    for i in range(60):
        p = scene.person(f"{prefix}{i:03d}", name=name_of(i), address=f"{estate}{1 + i % 12}栋{100 + i}室")
        card = scene.card(f"C{prefix}{i:03d}", p)
        for k in range(22):
            hour = 8 + (i + k) % 13
            scene.claim("pharmacy", p, ph, day((3 + 5 * i + 16 * k) % 364, hour, (7 * k) % 60), card_id=card,
                        operator_id=login(hour), items=["苯磺酸氨氯地平片"], fund_amount=28.0 + i % 7)
    dead = []
    for j in range(3):
        p = scene.person(f"{prefix}D{j}", name=name_of(80 + j), birth_date=f"{1933 + j}-03-1{j}",
                         address=f"{estate}{3 + 4 * j}栋{501 + j}室", death_date=f"2025-{4 + 3 * j:02d}-2{j}")
        scene.person(f"{prefix}D{j}F", name=name_of(90 + j), birth_date=f"{1962 + j}-07-0{1 + j}",
                     address=f"{estate}{3 + 4 * j}栋{501 + j}室")
        card = scene.card(f"C{prefix}D{j}", p)
        for k in range(11):
            scene.claim("pharmacy", p, ph, day(10 + 9 * j + 31 * k, 18, 20 + j), card_id=card, operator_id=login(18),
                        items=["硝苯地平控释片"], fund_amount=42.0)
        dead.append(p)
    return dead


def trace_code_resale(scene: Scene, *, prefix: str = "TR") -> dict[str, Any]:
    first, second = scene.institution(f"PH{prefix}1", "pharmacy"), scene.institution(f"PH{prefix}2", "pharmacy")
    buyers = scene.people(prefix, 3)
    for i, b in enumerate(buyers):
        code = f"9{prefix}{i:05d}"
        scene.claim("pharmacy", b, first, day(20 + i), trace_codes=[code], items=[ALBUMIN])
        scene.claim("pharmacy", buyers[(i + 1) % 3], second, day(50 + i), trace_codes=[code], items=[ALBUMIN])
    return {"persons": buyers}


# ---- legitimate look-alikes -------------------------------------------------------------------


def family(scene: Scene, *, prefix: str = "FA") -> list[str]:
    """Four at one house on the father's phone; the father's card pays for the others (家庭共济)."""
    members = scene.people(prefix, 4, address=f"{prefix}村8号", phone="13911112222")
    card = scene.card(f"C{members[0]}", members[0], kind="evoucher", bound_phone="13911112222", device_id=f"D{prefix}")
    scene.institution("PHFA", "pharmacy")
    scene.institution("HFA", "hospital")
    for i, m in enumerate(members):
        scene.claim("pharmacy", m, "PHFA", day(5 + 30 * i), card_id=card, device_id=f"D{prefix}", contact_phone="13911112222")
        scene.claim("inpatient", m, "HFA", day(100 + 40 * i), contact_phone="13911112222")
    return members


def legit_care_home(scene: Scene, *, prefix: str = "LC") -> list[str]:
    """Thirty residents at the home's address, the caregiver's phone as everyone's, monthly visits at its clinic."""
    home = scene.institution(f"NH{prefix}", "nursing_home", address=f"{prefix}夕阳红路9号", phone="07319999999")
    scene.institution("HLC", "hospital")
    residents = scene.people(prefix, 30, address=f"{prefix}夕阳红路9号", phone="07319999999", birth_date="1938-01-01")
    for i, r in enumerate(residents):
        for month in range(3):
            scene.claim("outpatient", r, home, day(30 * month + i % 5), contact_phone="07319999999")
        if i % 6 == 0:  # now and then a resident falls ill and is admitted, alone
            scene.claim("inpatient", r, "HLC", day(15 + 9 * i), contact_phone="07319999999")
    return residents


def dialysis_cohort(scene: Scene, *, prefix: str = "DI") -> list[str]:
    """Eight patients dialysed together Mon/Wed/Fri for three months."""
    scene.institution("HDI", "hospital")
    patients = scene.people(prefix, 8)
    for d in range(4, 94):  # 2026-01-05 is a Monday
        if (d - 4) % 7 in (0, 2, 4):
            for p in patients:
                scene.claim("outpatient", p, "HDI", day(d, 8), end_time=day(d, 12).strftime("%Y-%m-%d %H:%M:%S"),
                            items=["血液透析"])
    return patients


def dormitory_health_check(scene: Scene, *, prefix: str = "DO") -> list[str]:
    """Fifty workers at one dormitory address, all checked one morning at one hospital."""
    scene.institution("HDO", "hospital")
    workers = scene.people(prefix, 50, address=f"{prefix}工业园1号宿舍", birth_date="1998-01-01")
    for i, w in enumerate(workers):
        scene.claim("outpatient", w, "HDO", day(120, 8, i % 60), items=["健康体检"])
    return workers


# ---- look-alikes and hard cases of issue 11 (tests/test_detect_lookalikes.py) ----------------------

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢"
_GIVEN = "建国秀英桂兰志强春梅德明玉珍海涛丽华淑芬文军红霞永福金凤"


def name_of(i: int, surname: str | None = None) -> str:
    """A plausible name; surnames cycle, so persons ``i`` < 50 apart have different surnames."""
    return (surname or _SURNAMES[i % len(_SURNAMES)]) + _GIVEN[(i * 3) % len(_GIVEN)] + _GIVEN[(i * 7 + 1) % len(_GIVEN)]


def house(town: str, village: str, n: int) -> str:
    """A rural house of Ningxiang county, Changsha: distinct ``n`` give distinct households."""
    return f"湖南省长沙市宁乡市{town}镇{village}村{1 + n % 9}组{10 + n}号"


def until(start: datetime, days: int, hour: int = 10) -> str:
    """A discharge ``days`` after ``start``, as contract text."""
    return (start.replace(hour=hour, minute=0) + timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


def valid_id_number(region: int, birth: str, sequence: int, male: bool) -> str:
    """An 18-digit ID number with a correct check digit (the generator's own function)."""
    import numpy as np

    from graphsvc.generate.text import id_numbers

    days = (datetime.strptime(birth, "%Y-%m-%d") - datetime(1970, 1, 1)).days
    return id_numbers(np.array([region]), np.array([days]), np.array([sequence]), np.array([male])).to_pylist()[0]


def two_brokers_one_hospital(scene: Scene, *, hospital: str = "HPB",
                             waves: tuple[tuple[int, ...], tuple[int, ...]] = ((18, 84, 151, 233), (19, 85, 152, 234)),
                             recruits: tuple[int, int] = (7, 8)) -> dict[str, Any]:
    """Two brokers, each with his own phone, agent id and account, recruit villagers from their own
    townships and bring them to one complicit private hospital in the same weeks (waves a day apart)."""
    scene.institution(hospital, "hospital", name="长沙康宁医院", ownership="private", level="1",
                      address="湖南省长沙市宁乡市玉潭街道新康路88号", phone="073187000088", region_code="430182")
    clinic = scene.institution("CLPB", "clinic", ownership="public", address="湖南省长沙市宁乡市双凫铺镇卫生院")
    brokers = []
    specs = [("IBW", "王某军", "15973100011", "6217003810000011111", "双凫铺", "石桥"),
             ("IBL", "李某华", "15873100022", "6228480010000022222", "黄材", "青山")]
    for b, ((broker, name, phone, account, town, village), days, n) in enumerate(zip(specs, waves, recruits)):
        scene.tables["intermediaries"].append({"intermediary_id": broker, "name": name, "phone": phone,
                                               "source": "police_intelligence"})
        persons = [scene.person(f"R{broker[1:]}{i:02d}", name=name_of(10 * b + i), address=house(town, village, i),
                                birth_date=f"{1946 + i}-0{1 + i % 9}-1{i % 9}", gender="M" if i % 2 else "F",
                                region_code="430182", insurance_type="resident") for i in range(n)]
        for w, start in enumerate(days):
            for i, p in enumerate(persons):
                admitted = day(start + i % 2, 8 + i % 3)
                scene.claim("inpatient", p, hospital, admitted, end_time=until(admitted, 7 + (i + w) % 4),
                            total_amount=6000.0 + 150 * i, fund_amount=4200.0 + 100 * i + 50 * w,
                            contact_phone=phone, agent_id=broker, payee_account=account, items=["慢性胃炎", "输液"])
        for i, p in enumerate(persons):  # their own everyday care, no broker involved
            scene.claim("outpatient", p, clinic, day(40 + 23 * i + 5 * b, 9), fund_amount=60.0 + i)
        brokers.append({"broker": broker, "phone": phone, "account": account, "persons": persons})
    return {"hospital": hospital, "brokers": brokers}


def rotating_gang(scene: Scene, *, prefix: str = "RG",
                  waves: tuple[tuple[int, int], ...] = ((35, 0), (88, 1), (140, 2), (196, 0), (251, 1), (317, 2))
                  ) -> dict[str, Any]:
    """Five adults admitted together six times, rotating over three hospitals (none sees them more than twice)."""
    hospitals = [scene.institution(f"H{prefix}{k}", "hospital", ownership=("private", "public", "private")[k],
                                   level=str(1 + k % 2), address=f"湖南省长沙市雨花区{k + 1}号医院路{k + 5}号")
                 for k in range(3)]
    gang = [scene.person(f"{prefix}{i:03d}", name=name_of(20 + i), birth_date=f"{1976 + 3 * i}-0{2 + i}-15",
                         address=f"湖南省长沙市雨花区侯家塘街道{['韶山', '劳动', '人民', '曙光', '车站'][i]}路{12 + 7 * i}号{i + 1}01室",
                         gender="M" if i < 3 else "F") for i in range(5)]
    for w, (start, k) in enumerate(waves):
        for i, p in enumerate(gang):
            admitted = day(start + (i + w) % 2, 9 + i)
            scene.claim("inpatient", p, hospitals[k], admitted, end_time=until(admitted, 5 + i % 3),
                        total_amount=8000.0 + 300 * i, fund_amount=5600.0 + 210 * i + 30 * w, items=["腰椎间盘突出", "理疗"])
    return {"persons": gang, "hospitals": hospitals}


def staggered_broker_at_small_hospital(scene: Scene) -> dict[str, Any]:
    """A broker's 12 villagers of two villages admitted one a week, never together, four times each over
    the year (挂床, 7-10 days) at a small private hospital whose insured stays are nearly all theirs (48 of
    51), every stay paid to his personal account (reviews 25 and 28)."""
    scene.institution("HSP", "hospital", ownership="private", level="1", name="宁乡康泰医院")
    account = "6228480010000077777"
    recruits = [scene.person(f"SP{i:02d}", name=name_of(40 + i), address=house(("黄材", "双凫铺")[i % 2],
                             ("青山", "石桥")[i % 2], i), birth_date=f"{1944 + i}-0{1 + i % 9}-1{i % 9}",
                             region_code="430182") for i in range(12)]
    for k in range(48):
        p = recruits[(5 * k) % 12]
        admitted = day(6 + 7 * k, 9)
        scene.claim("inpatient", p, "HSP", admitted, end_time=until(admitted, 7 + k % 4),
                    fund_amount=4300.0 + 20 * (k % 9), payee_account=account, items=["慢性胃炎", "输液"])
    for j, p in enumerate(scene.people("SPO", 3)):
        admitted = day(40 + 90 * j, 10)
        scene.claim("inpatient", p, "HSP", admitted, end_time=until(admitted, 5), fund_amount=3000.0)
    return {"persons": recruits, "account": account, "hospital": "HSP"}


def registered_agent(scene: Scene, *, prefix: str = "RA", households: int = 20) -> dict[str, Any]:
    """A village health worker registered with the fund files one stay each for twenty households over the
    year, at the three public hospitals they normally use; his phone is the contact on some."""
    hospitals = [scene.institution(f"H{prefix}{k}", "hospital", ownership="public", level=str(2 + k % 2),
                                   address=f"湖南省长沙市宁乡市{['玉潭', '城郊', '白马桥'][k]}街道人民路{k + 1}号")
                 for k in range(3)]
    agent, phone = f"I{prefix}", "13807310033"
    scene.tables["intermediaries"].append({"intermediary_id": agent, "name": "周某平", "phone": phone,
                                           "address": house("花明楼", "炭子冲", 99), "source": "agent_registration"})
    persons = [scene.person(f"{prefix}{i:03d}", name=name_of(30 + i), address=house("花明楼", "炭子冲", i),
                            birth_date=f"{1940 + i}-0{1 + i % 9}-0{1 + i % 9}", region_code="430182",
                            insurance_type="resident") for i in range(households)]
    for i, p in enumerate(persons):
        admitted = day(9 + 17 * i, 8 + i % 4)
        scene.claim("inpatient", p, hospitals[i % 3], admitted, end_time=until(admitted, 6 + i % 5),
                    total_amount=5000.0 + 410 * i, fund_amount=3100.0 + 290 * i, agent_id=agent,
                    contact_phone=phone if i % 3 == 0 else None, payee_account=f"62170038100{i:08d}",
                    items=["肺炎" if i % 2 else "高血压"])
        scene.claim("outpatient", p, hospitals[i % 3], day(3 + 11 * i, 10), fund_amount=80.0 + 3 * i)
    # The rest of the township goes to the same three hospitals on its own: that is what "normally" means.
    for i, p in enumerate(scene.people(f"{prefix}V", 3 * households, region_code="430182")):
        admitted = day(5 + (37 * i) % 320, 9)
        scene.claim("inpatient", p, hospitals[i % 3], admitted, end_time=until(admitted, 5), fund_amount=2800.0)
    return {"agent": agent, "phone": phone, "persons": persons, "hospitals": hospitals}


def regular_care_home(scene: Scene, *, prefix: str = "RC", residents: int = 100, seed: int = 11) -> dict[str, Any]:
    """A nursing home of a hundred residents (the home's address and phone on their records), each admitted
    one to three times a year to the nearby hospital, at independent random dates."""
    import random

    rng = random.Random(seed)
    address, phone = "湖南省长沙市开福区洪山街道福寿路18号", "073184520018"
    home = scene.institution(f"NH{prefix}", "nursing_home", name="福寿养老院", address=address, phone=phone)
    hospital = scene.institution(f"H{prefix}", "hospital", ownership="public", level="2",
                                 address="湖南省长沙市开福区洪山街道福寿路2号")
    people = [scene.person(f"{prefix}{i:03d}", name=name_of(i), address=address, phone=phone,
                           birth_date=f"{1928 + i % 17}-{1 + i % 12:02d}-{1 + i % 28:02d}") for i in range(residents)]
    admissions: list[tuple[str, int]] = []
    for p in people:
        days: list[int] = []
        while len(days) < 1 + rng.randrange(3):
            d = rng.randrange(365)
            if all(abs(d - e) > 20 for e in days):  # not readmitted while still in hospital
                days.append(d)
        for d in sorted(days):
            admitted = day(d, 7 + rng.randrange(14))
            scene.claim("inpatient", p, hospital, admitted, end_time=until(admitted, 5 + rng.randrange(12)),
                        contact_phone=phone, fund_amount=float(round(rng.uniform(2500, 9000), 2)),
                        items=[rng.choice(["肺部感染", "脑梗死", "心力衰竭", "髋部骨折", "慢阻肺急性加重"])])
            admissions.append((p, d))
        scene.claim("outpatient", p, home, day(rng.randrange(365), 9), fund_amount=45.0)  # the home's own clinic
    return {"home": home, "hospital": hospital, "persons": people, "admissions": admissions}


def gang_flat(scene: Scene, *, prefix: str = "GF") -> dict[str, Any]:
    """Five adults of five surnames, their own phones, registered at one rented flat, admitted together
    four times at two hospitals."""
    flat = "湖南省长沙市雨花区井湾子街道新建村5栋302室"
    hospitals = [scene.institution(f"H{prefix}{k}", "hospital", ownership="private", level="1",
                                   address=f"湖南省长沙市天心区{['暮云', '南托'][k]}街道{k + 3}号") for k in range(2)]
    gang = [scene.person(f"{prefix}{i:03d}", name=name_of(i, "王李张刘陈"[i]), address=flat,
                         birth_date=f"{1979 + 2 * i}-1{i % 3}-0{3 + i}", gender="M" if i % 2 == 0 else "F")
            for i in range(5)]
    for w, start in enumerate((41, 122, 203, 288)):
        for i, p in enumerate(gang):
            admitted = day(start + i % 2, 9)
            scene.claim("inpatient", p, hospitals[w % 2], admitted, end_time=until(admitted, 6),
                        total_amount=7000.0 + 100 * i, fund_amount=4800.0 + 120 * i, items=["颈椎病", "针灸"])
    return {"persons": gang, "address": flat, "hospitals": hospitals}


def family_accident(scene: Scene, *, prefix: str = "FC") -> list[str]:
    """Four at one house on the father's phone (the mother keeps her own surname); a car accident puts
    all four in hospital together once; otherwise their own routine claims."""
    address, phone = "湖南省长沙市望城区乌山街道团山湖村6组21号", "13975120001"
    scene.institution(f"H{prefix}", "hospital", ownership="public", level="3")
    scene.institution(f"PH{prefix}", "pharmacy")
    members = [scene.person(f"{prefix}{i:03d}", name=name, address=address, phone=phone, birth_date=birth, gender=g)
               for i, (name, birth, g) in enumerate([("谭建军", "1978-04-02", "M"), ("刘丽华", "1980-09-12", "F"),
                                                      ("谭浩", "2006-01-20", "M"), ("谭雨欣", "2012-07-07", "F")])]
    accident = day(137, 19)
    for i, m in enumerate(members):
        scene.claim("inpatient", m, f"H{prefix}", accident.replace(minute=10 * i), end_time=until(accident, 4 + 3 * i),
                    contact_phone=phone, fund_amount=6200.0 + 800 * i, items=["多发伤"])
        for k in range(3):
            scene.claim("pharmacy", m, f"PH{prefix}", day(20 + 97 * k + 9 * i, 18), fund_amount=35.0 + 5 * k)
    return members


def dormitory(scene: Scene, *, prefix: str = "DM") -> list[str]:
    """Fifty workers at one factory dormitory, their own phones: one health-check morning, a few stays apart."""
    address = "湖南省长沙市长沙县星沙街道工业园区8号宿舍"
    scene.institution(f"H{prefix}", "hospital", ownership="public", level="2")
    workers = [scene.person(f"{prefix}{i:03d}", name=name_of(i), address=address,
                            birth_date=f"{1990 + i % 12}-0{1 + i % 9}-2{i % 8}", insurance_type="employee")
               for i in range(50)]
    for i, w in enumerate(workers):
        scene.claim("outpatient", w, f"H{prefix}", day(95, 7, i), items=["健康体检"], fund_amount=120.0)
    for n, i in enumerate((3, 17, 26, 38, 44)):  # a few fall ill during the year, apart
        admitted = day(30 + 70 * n, 14)
        scene.claim("inpatient", workers[i], f"H{prefix}", admitted, end_time=until(admitted, 5), fund_amount=3900.0)
    return workers


def group_rental(scene: Scene, *, prefix: str = "GR") -> list[str]:
    """Eight unrelated adults of eight surnames at one rented flat (群租房), their own phones, their own
    routine claims over the year: outpatient visits, pharmacy purchases and an occasional stay."""
    flat = "湖南省长沙市岳麓区望月湖街道望月湖小区12栋506室"
    scene.institution(f"CL{prefix}", "clinic")
    scene.institution(f"PH{prefix}", "pharmacy")
    hospitals = [scene.institution(f"H{prefix}{k}", "hospital", ownership="public", level="3") for k in range(2)]
    tenants = [scene.person(f"{prefix}{i:03d}", name=name_of(i, "钟邱骆熊秦邵万顾"[i]), address=flat,
                            birth_date=f"{1985 + i}-0{1 + i}-1{i}", insurance_type="employee") for i in range(8)]
    for i, t in enumerate(tenants):
        for k in range(3):
            scene.claim("outpatient", t, f"CL{prefix}", day(11 + 113 * k + 13 * i, 19), fund_amount=70.0 + i)
        for k in range(4):
            scene.claim("pharmacy", t, f"PH{prefix}", day(5 + 89 * k + 7 * i, 20, 3 * i), fund_amount=28.0 + k)
        if i % 3 == 0:  # tenants 0, 3, 6: one stay each, months apart
            admitted = day(60 + 100 * (i // 3), 11)
            scene.claim("inpatient", t, hospitals[i % 2], admitted, end_time=until(admitted, 4), fund_amount=4300.0)
    return tenants


VARIANT_ADDRESSES = ("湖南省长沙市芙蓉区东湖街道十二组35号", "芙蓉区东湖街道12组三十五号", "长沙市芙蓉区 东湖街道１２组35号")


def variant_address_family(scene: Scene, *, prefix: str = "VA", other_phone: str = "15074310088",
                           addresses: tuple[str, ...] = VARIANT_ADDRESSES) -> dict[str, Any]:
    """A family of three whose one house the export writes three ways; the father's phone is the contact of
    their stays, and another phone (a relative's, looking like a broker's) of two stays each.

    With ``addresses`` of three different houses, the same claims are three households sharing the phone."""
    scene.institution(f"H{prefix}", "hospital", ownership="public", level="3")
    father_phone = "13873160035"
    family = [scene.person(f"{prefix}{i:03d}", name=name, address=addresses[i], phone=father_phone, birth_date=birth)
              for i, (name, birth) in enumerate([("罗国强", "1962-03-08"), ("彭秀英", "1964-11-30"),
                                                  ("罗志明", "1990-06-16")])]
    for i, p in enumerate(family):
        for k in range(3):
            admitted = day(25 + 110 * k + 31 * i, 10)
            scene.claim("inpatient", p, f"H{prefix}", admitted, end_time=until(admitted, 6),
                        contact_phone=father_phone if k == 0 else other_phone, fund_amount=3500.0 + 200 * k)
    return {"persons": family, "father_phone": father_phone, "other_phone": other_phone}


DUPLICATED_ID_NUMBER = "11010519491231002X"


def duplicate_record_gang(scene: Scene) -> dict[str, Any]:
    """A gang of four admitted together four times; one of them has two records (P1, P1B: two schemes, one
    ID number) and comes under P1 twice and under P1B twice."""
    hospitals = [scene.institution(f"HDR{k}", "hospital", ownership="private", level="1") for k in range(2)]
    scene.person("P1", id_number=DUPLICATED_ID_NUMBER, name="高桂兰", birth_date="1949-12-31", gender="F",
                 address="湖南省长沙市天心区坡子街道太平街15号", insurance_type="resident", region_code="430103")
    scene.person("P1B", id_number=DUPLICATED_ID_NUMBER, name="高桂兰", birth_date="1949-12-31", gender="F",
                 address="天心区坡子街道太平街十五号", insurance_type="employee", region_code="430100")
    others = [scene.person(f"P{n}", id_number=valid_id_number(430103, f"{1955 + 4 * n}-0{n}-1{n}", n, n % 2 == 1),
                           name=name_of(40 + n), birth_date=f"{1955 + 4 * n}-0{n}-1{n}",
                           address=f"湖南省长沙市天心区坡子街道{['学宫', '西牌楼', '白沙'][n - 2]}街{n + 20}号")
              for n in (2, 3, 4)]
    for w, start in enumerate((52, 131, 214, 296)):
        for i, p in enumerate(["P1" if w < 2 else "P1B", *others]):
            admitted = day(start + i % 2, 9)
            scene.claim("inpatient", p, hospitals[w % 2], admitted, end_time=until(admitted, 7),
                        fund_amount=5100.0 + 100 * i)
    scene.claim("outpatient", "P1B", hospitals[0], day(170, 10), fund_amount=90.0)
    return {"persons": ["P1", *others], "records": ["P1", "P1B"], "hospitals": hospitals}


def burner_phone_collector(scene: Scene, *, prefix: str, on_victims_records: bool = False) -> list[str]:
    """A card collector's 30 elderly strangers (30 villages) whose e-vouchers sit three to each of his ten
    burner phones and handsets, never more than three households on one, swiped for albumin two or three
    at a time over four pharmacies so that none sees a burst (reviews 23 and 24). With
    ``on_victims_records`` he wrote each burner's number on the record of one of its three holders, as a
    family account's phone would be. The holders, who must all be in card_collector rings."""
    pharmacies = [scene.institution(f"PH{prefix}{k}", "pharmacy") for k in range(4)]
    for k, pharmacy in enumerate(pharmacies):
        neighbourhood_pharmacy(scene, pharmacy, prefix=f"{prefix}N{k}", customers=20)
    towns = ["花明楼", "黄材", "双江口", "回龙铺", "夏铎铺", "灰汤"]
    holders = [scene.person(f"{prefix}{i:02d}", name=name_of(i), address=house(towns[i % 6], f"村{i}", i),
                            birth_date=f"{1938 + i % 15}-0{1 + i % 9}-1{i % 9}",
                            phone=f"1707310{i // 3:04d}" if on_victims_records and i % 3 == 0 else None)
               for i in range(30)]
    if on_victims_records:  # Scene.person fills a phone when given None: the other two keep their own
        for p in scene.tables["persons"]:
            if p["person_id"] in holders and int(p["person_id"][len(prefix):]) % 3:
                p["phone"] = f"1390731{int(p['person_id'][len(prefix):]):04d}"
    cards = [scene.card(f"K{prefix}{i:02d}", p, kind="evoucher", bound_phone=f"1707310{i // 3:04d}",
                        device_id=f"D{prefix}{i // 3}") for i, p in enumerate(holders)]
    for trip in range(8):
        for k, pharmacy in enumerate(pharmacies):
            for j in range(3):
                i = (trip * 7 + k * 3 + j) % 30
                scene.claim("pharmacy", holders[i], pharmacy, day(20 + 40 * trip, 14 + k, 6 * j), card_id=cards[i],
                            device_id=f"D{prefix}{i // 3}", items=[ALBUMIN], fund_amount=880.0)
    return holders


_HOME_NAME = "彭水县博爱敬老院"
CAREGIVER = "19700123665"


def care_home_in_rooms(scene: Scene, prefix: str, *, residents: int = 30) -> tuple[str, list[str]]:
    """A home whose own row gives its office (双龙大道166号), its residents registered at their rooms,
    written three ways, the caregiver's mobile on everyone's record and claims; a resident falls ill now
    and then and is admitted alone to the county hospital (as ``bench/fourth_city.py`` writes its homes)."""
    home = scene.institution(f"NH{prefix}", "nursing_home", name=_HOME_NAME, address="重庆市彭水苗族土家族自治县双龙大道166号",
                             phone="023-56022984", region_code="500243")
    scene.institution("HCOUNTY", "hospital", ownership="public", level="2")
    ways = ("重庆市彭水苗族土家族自治县龙山路108号{home}{b}栋1单元{r}-{n}", "汉葭街道龙山路108号{home}{b}-1-{r}-{n}",
            "{home}{b}栋{r}0{n}室")
    people = []
    for i in range(residents):
        address = ways[i % 3].format(home=_HOME_NAME, b=1 + i % 3, r=1 + i // 9, n=1 + i % 9)
        p = scene.person(f"{prefix}{i:03d}", name=name_of(i), address=address, phone=CAREGIVER,
                         birth_date="1938-03-01", region_code="500243")
        people.append(p)
        for month in range(6):
            scene.claim("outpatient", p, home, day(30 * month + 3, 9, i), contact_phone=CAREGIVER, fund_amount=80.0)
        if i % 5 == 0:
            admitted = day(11 + 23 * i, 10)
            scene.claim("inpatient", p, "HCOUNTY", admitted, end_time=until(admitted, 7), contact_phone=CAREGIVER)
    return home, people


def broker_near_a_home(scene: Scene, prefix: str, home_name: str, address_of: Callable[[int], str],
                       **claim: Any) -> dict[str, Any]:
    """A nursing home called ``home_name`` and a named broker's eight elderly recruits living at
    ``address_of(i)`` (an estate or street whose name the home's shares), admitted in four waves to his
    private hospital with his phone and agent id on their claims (``claim``: more columns, a payee)."""
    home = scene.institution(f"NH{prefix}", "nursing_home", name=home_name, address="湖南省长沙市宁乡市城郊街道敬老路6号")
    hospital = scene.institution(f"H{prefix}", "hospital", ownership="private", level="1")
    broker, phone = f"I{prefix}", "15800001111"
    scene.tables["intermediaries"].append({"intermediary_id": broker, "name": "陈某", "phone": phone,
                                           "source": "police_intelligence"})
    recruits = [scene.person(f"{prefix}{i}", name=name_of(i), birth_date=f"{1945 + i}-03-03", address=address_of(i))
                for i in range(8)]
    for start in (30, 100, 170, 240):
        for i, p in enumerate(recruits):
            admitted = day(start + i % 2, 9)
            scene.claim("inpatient", p, hospital, admitted, end_time=until(admitted, 8), contact_phone=phone,
                        agent_id=broker, fund_amount=4800.0, **claim)
    return {"home": home, "broker": broker, "persons": recruits}
