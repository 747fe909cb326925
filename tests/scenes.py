"""Small hand-built claim scenes with known answers: planted schemes and legitimate look-alikes.

A ``Scene`` collects contract rows; tests read it through ``in_memory_claims`` (detector
tests) or write it as a contract folder and ingest it into a real store (store and CLI
tests). Every scene adds persons in their own houses unless it says otherwise, so only what
a scene plants links them.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
               birth_date: str = "1960-05-01", **extra: Any) -> str:
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

    def connection(self):  # type: ignore[no-untyped-def]
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
