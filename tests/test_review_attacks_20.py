"""Review attacks (round 20) on the institution risk ranking (定点医药机构风险排名, ``graphsvc/risk.py``):
small hand-built cities in which a legitimate institution looks odd, or a figure is computed on the
wrong base. Each test states what a fund office choosing whom to inspect (飞行检查) needs; its
docstring says what the ranking does now.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from graphsvc.detect.finding import in_memory_claims
from graphsvc.risk import institution_risk

_MONDAY = date(2026, 3, 2)


def _weekday(n: int) -> date:
    return _MONDAY + timedelta(days=n // 5 * 7 + n % 5)


def _stays(hospital: str, persons: int, *, per_person: int = 1, days: int = 3, gap: int = 30,
           fund: float = 5000.0, person_prefix: str | None = None) -> list[dict[str, Any]]:
    prefix = person_prefix or f"{hospital}P"
    rows = []
    for p in range(persons):
        for k in range(per_person):
            start = _weekday(p % 40) + timedelta(days=k * gap)
            rows.append({"settlement_id": f"{hospital}-{p}-{k}", "kind": "inpatient", "person_id": f"{prefix}{p}",
                         "institution_id": hospital, "start_time": f"{start} 09:00",
                         "end_time": f"{start + timedelta(days=days)} 10:00", "fund_amount": fund})
    return rows


def _general_hospitals(n: int = 8, *, region: str = "430100") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    institutions = [{"institution_id": f"H{i}", "name": f"第{i}人民医院", "kind": "hospital", "level": "二级",
                     "region_code": region} for i in range(n)]
    settlements = [row for i in range(n) for row in _stays(f"H{i}", 30)]
    return institutions, settlements


def _by_id(ranking: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in ranking}


def _order(ranking: list[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(e["id"], e["score"]) for e in ranking]


# ---- credibility on the wrong base -----------------------------------------------------------


def test_a_rate_on_two_admissions_is_not_credited_with_the_hospitals_outpatient_volume() -> None:
    """Attack: H-OP is an ordinary secondary hospital whose work is outpatient: 400 visits, and one
    inpatient, admitted on 2 March and readmitted ten days after discharge (a routine event). Its
    admissions per person is 2.0 and its readmission share 50%, each on *two* admissions.

    Found: the credibility weight is n/(n+20) with n the institution's settlements of every kind
    (400/420 = 0.95), not the admissions the rate is computed from, so each of those two rates earns
    almost the full 5 points (the module's own rationale, "a rate on three claims says little", is
    defeated): 15日内再入院占比 50% 4.76 points, 住院人次/服务人数 2.0 3.8 points, suspicion 9.5 — about
    that of H-BAD, whose 30 patients were each admitted twice for 10-day stays (10.5): one routine
    readmission weighs as much as sixty 挂床 stays.

    Must: an indicator's credibility counts the cases its rate rests on (admissions for the inpatient
    rates): two admissions give at most a fraction of a point (2/22 × 5 < 1), and H-OP's suspicion is
    well below the real outlier's. Responsible: ``_ranked`` (credibility from ``claims``) with
    ``institution_risk`` (which passes only ``claims``)."""
    institutions, settlements = _general_hospitals()
    institutions += [{"institution_id": "H-OP", "kind": "hospital", "level": "二级", "region_code": "430100"},
                     {"institution_id": "H-BAD", "kind": "hospital", "level": "二级", "region_code": "430100"}]
    for n in range(400):
        settlements.append({"settlement_id": f"H-OP-v{n}", "kind": "outpatient", "person_id": f"H-OPV{n}",
                            "institution_id": "H-OP", "start_time": f"{_weekday(n % 40)} 10:00",
                            "fund_amount": 300.0})
    settlements += [
        {"settlement_id": "H-OP-s1", "kind": "inpatient", "person_id": "H-OPV0", "institution_id": "H-OP",
         "start_time": "2026-03-02 09:00", "end_time": "2026-03-06 10:00", "fund_amount": 5000.0},
        {"settlement_id": "H-OP-s2", "kind": "inpatient", "person_id": "H-OPV0", "institution_id": "H-OP",
         "start_time": "2026-03-16 09:00", "end_time": "2026-03-20 10:00", "fund_amount": 5000.0}]
    settlements += _stays("H-BAD", 30, per_person=2, days=10, gap=60)
    ranking = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements))
    by_id = _by_id(ranking)
    points = {r["indicator"]: r["points"] for r in by_id["H-OP"]["reasons"] if r["points"] is not None}
    assert points.get("admissions_per_person", 0) < 1, points
    assert points.get("readmission_share", 0) < 1, points
    assert by_id["H-OP"]["suspicion"] < by_id["H-BAD"]["suspicion"] / 2, _order(ranking)


# ---- reversals in the rate indicators --------------------------------------------------------


def _pharmacies() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Six neighbourhood pharmacies: 40 sales each, 4 of them human albumin (1,000 each), the rest
    ordinary drugs (100 each): a key-drug share of 4,000 / 7,600 = 53%."""
    institutions = [{"institution_id": f"PH{i}", "kind": "pharmacy", "region_code": "430100"} for i in range(6)]
    settlements = []
    for i in range(6):
        for n in range(40):
            key = n < 4
            settlements.append({"settlement_id": f"PH{i}-{n}", "kind": "pharmacy", "person_id": f"PH{i}C{n}",
                                "institution_id": f"PH{i}", "start_time": f"{_weekday(n)} 10:{n % 60:02d}",
                                "fund_amount": 1000.0 if key else 100.0,
                                "items": ["人血白蛋白"] if key else ["阿莫西林胶囊"]})
    return institutions, settlements


def test_a_reversal_does_not_push_the_key_drug_share_past_100_percent() -> None:
    """Attack (data supplier): PH5 is as ordinary as its five neighbours (53% of its fund on human
    albumin), and its export carries one reversal (退费, a negative fund amount, as the fund's exports
    carry corrections) of -7,000 on an ordinary-drug sale booked in the window.

    Found: impact and the ring share are on the fund *paid* (the module says why), but
    ``key_drug_share`` divides the key-drug fund by the *net* fund (4,000 / 600): the reason reads
    "重点药品金额占比 667%", a share no pharmacy can have, and the capped 5 points make the correction
    look like a key-drug reseller (倒卖回流药); ``fund_per_claim`` is netted the same way.

    Must: the share is of the fund paid, within [0, 1] (53%, as its neighbours'), and PH5 earns no
    key-drug points. Responsible: ``INDICATORS`` (key_drug_share, fund_per_claim on ``fund``) in
    ``institution_risk``."""
    institutions, settlements = _pharmacies()
    settlements.append({"settlement_id": "PH5-refund", "kind": "pharmacy", "person_id": "PH5C39",
                        "institution_id": "PH5", "start_time": "2026-04-28 10:00", "fund_amount": -7000.0,
                        "items": ["阿莫西林胶囊"]})
    ranking = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements))
    ph5 = _by_id(ranking)["PH5"]
    share = ph5["figures"]["key_drug_share"]
    assert 0.0 <= share <= 1.0, ph5
    assert share == pytest.approx(4000 / 7600), ph5
    assert "key_drug_share" not in {r["indicator"] for r in ph5["reasons"]}, ph5["reasons"]


def test_reversal_rows_of_stays_are_not_counted_as_admissions_and_readmissions() -> None:
    """Attack (data supplier): H5 is an ordinary hospital (30 patients, one 3-day stay each), whose
    export books a correction of ten of its stays as reversal rows: the same person, kind and dates,
    the fund amount negated (-5,000), a settlement id of its own.

    Found: a reversal row is counted as an admission: those ten persons have "two admissions" each,
    the second starting before the first's discharge (a "readmission" within 15 days), so H5 reads
    住院人次/服务人数 1.3 and 15日内再入院占比 25% against peers' 1.0 and 0%, earns 6.7 points and
    ranks first, alone with a score, in a city where nothing is wrong.

    Must: a settlement with a negative fund amount (a reversal) is not an admission, a readmission or
    a claim in the rate indicators; H5's figures are its peers' (admissions per person 1.0, no
    readmissions) and it earns no suspicion. Responsible: ``institution_risk`` (r_claims / r_base)."""
    institutions, settlements = _general_hospitals()
    reversals = [dict(row, settlement_id=f"{row['settlement_id']}-rev", fund_amount=-row["fund_amount"])
                 for row in settlements if row["institution_id"] == "H5"][:10]
    settlements += reversals
    ranking = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements))
    h5 = _by_id(ranking)["H5"]
    assert h5["figures"]["admissions_per_person"] == pytest.approx(1.0), h5
    assert h5["figures"]["readmission_share"] == pytest.approx(0.0), h5
    assert h5["suspicion"] == 0 and h5["reasons"] == [], h5


# ---- legitimate specialist hospitals ---------------------------------------------------------


@pytest.mark.xfail(strict=True, reason=(
    "known gap: peer groups are kind x level x region; a specialist hospital (精神, 肿瘤, 康复) is compared "
    "with general hospitals, and a specialty read from names would often have no peers of its own"))
def test_a_psychiatric_hospital_is_not_ranked_above_a_hospital_a_ring_runs_through() -> None:
    """Attack (legitimate look-alike): the city's psychiatric hospital (市第二精神病医院, a secondary
    public hospital like the eight general ones) keeps its 30 patients 45 days, and a third of them
    come back within two weeks of discharge: the normal course of psychiatric care, which no general
    hospital resembles. H3, a general hospital, has a third of its fund on a current ring's claims
    (a black intermediary's recruits).

    Found: the institutions file has a name but no specialty, peer groups are kind × level × region,
    so the psychiatric hospital is compared with general hospitals: 平均住院日 45.0 vs 3.0, 15日内再入院
    占比 25% vs 0%, 住院人次/服务人数 1.3 vs 1.0 (3.3 points each): suspicion 13.3, score 17.8, ranked
    first, four times H3 with its ring (4.3: 10 × 33% + 1), sending the inspection team to the one
    hospital whose figures are its specialty's.

    Must: a specialist hospital recognisable by its name (精神/肿瘤/康复/…) is compared with its own
    kind, or not as a general hospital's outlier on the figures its specialty explains; at the least
    the hospital a ring runs through ranks above it. Responsible: ``institution_risk`` (r_peers)."""
    institutions, settlements = _general_hospitals()
    institutions.append({"institution_id": "H-PSY", "name": "市第二精神病医院", "kind": "hospital",
                         "level": "二级", "region_code": "430100"})
    settlements += _stays("H-PSY", 20, days=45)
    for p in range(10):
        first = _weekday(p)
        back = first + timedelta(days=45 + 10)
        settlements += [
            {"settlement_id": f"H-PSY-r{p}-a", "kind": "inpatient", "person_id": f"H-PSYR{p}",
             "institution_id": "H-PSY", "start_time": f"{first} 09:00",
             "end_time": f"{first + timedelta(days=45)} 10:00", "fund_amount": 5000.0},
            {"settlement_id": f"H-PSY-r{p}-b", "kind": "inpatient", "person_id": f"H-PSYR{p}",
             "institution_id": "H-PSY", "start_time": f"{back} 09:00",
             "end_time": f"{back + timedelta(days=45)} 10:00", "fund_amount": 5000.0}]
    ring_claims = [("R-000011", s["settlement_id"]) for s in settlements if s["institution_id"] == "H3"][:10]
    ranking = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements), ring_claims)
    order = [e["id"] for e in ranking]
    assert order[0] == "H3", _order(ranking)
    assert order.index("H3") < order.index("H-PSY"), _order(ranking)


# ---- where patients come from ----------------------------------------------------------------


def test_patients_registered_in_the_citys_districts_are_not_from_another_region() -> None:
    """Attack (messy export): the eight hospitals are registered with the prefecture city's code
    430100 (长沙市, 市级统筹); H2's patients' region codes are those of the city's own districts
    (430102 芙蓉区, 430103 天心区, 430104 岳麓区) — the same pooling region, written at the county
    level, as personnel systems write it; the other hospitals' patients carry 430100.

    Found: "distant" is ``person_region <> institution region`` on the exact 6-digit string, so every
    patient of H2 is "异地（非本统筹区）" (100%, 3 points), and H2 ranks first, for inspection, for
    treating the people of its own city.

    Must: a person whose code lies within the institution's prefecture (same first four digits under
    a 00 city code) is not from another region; H2's distant share is 0 and it earns no suspicion.
    Responsible: ``institution_risk`` (r_base ``distant``)."""
    institutions, settlements = _general_hospitals()
    districts = ("430102", "430103", "430104")
    persons = []
    for row in settlements:
        code = districts[int(row["person_id"].split("P")[1]) % 3] if row["institution_id"] == "H2" else "430100"
        persons.append({"person_id": row["person_id"], "region_code": code})
    ranking = institution_risk(in_memory_claims(institutions=institutions, persons=persons, settlements=settlements))
    h2 = _by_id(ranking)["H2"]
    assert h2["figures"]["distant_patient_share"] == pytest.approx(0.0), h2
    assert h2["suspicion"] == 0, h2


# ---- a dual-channel pharmacy by the cancer hospital ------------------------------------------


@pytest.mark.xfail(strict=True, reason=(
    "known gap: no indicator of key-drug purchases per buyer, and impact (fund over the peer median) "
    "ranks the bigger, legitimate pharmacy first"))
def test_a_dual_channel_pharmacy_does_not_outrank_a_key_drug_reseller() -> None:
    """Attack (legitimate look-alike): PH-DTP is the dual-channel (双通道) pharmacy across the road from
    the provincial cancer hospital: 60 lung-cancer patients each buy one box of osimertinib (奥希替尼,
    the monthly dose, 5,000 from the fund) every month for three months, on prescriptions of the
    hospital's oncologists. PH-X is a pharmacy where six buyers take 10 boxes of human albumin each
    a month on their cards, three months running, far beyond any dose (倒卖回流药), beside its ordinary
    sales. Five ordinary pharmacies complete the city.

    Found: both have a high key-drug share and fund per claim; nothing measures purchases per person
    beyond the dose, so the dual-channel pharmacy has the *higher* suspicion (9.1: fund per claim
    5,000 vs 190, key-drug share 100%) than the reseller (6.1), and, paid more, a score of 1,081
    against 147: first for inspection.

    Must: the reseller (the same buyers, many boxes a month) ranks above the pharmacy whose key-drug
    buyers each take one box a month. Responsible: ``INDICATORS`` / ``institution_risk``."""
    institutions, settlements = _pharmacies()
    institutions = [i for i in institutions if i["institution_id"] != "PH5"]
    settlements = [s for s in settlements if s["institution_id"] != "PH5"]
    institutions += [{"institution_id": "PH-DTP", "name": "省肿瘤医院对面双通道药房", "kind": "pharmacy",
                      "region_code": "430100"},
                     {"institution_id": "PH-X", "kind": "pharmacy", "region_code": "430100"}]
    for month in range(3):
        for p in range(60):
            settlements.append({"settlement_id": f"DTP-{month}-{p}", "kind": "pharmacy", "person_id": f"CA{p}",
                                "institution_id": "PH-DTP",
                                "start_time": f"{_weekday(p % 20) + timedelta(days=28 * month)} 10:00",
                                "fund_amount": 5000.0, "items": ["甲磺酸奥希替尼片"]})
        for b in range(6):
            for box in range(10):
                settlements.append({"settlement_id": f"X-{month}-{b}-{box}", "kind": "pharmacy",
                                    "person_id": f"XB{b}", "institution_id": "PH-X",
                                    "start_time": f"{_weekday(b * 2 + box % 2) + timedelta(days=28 * month)} "
                                                  f"1{box % 8}:00",
                                    "fund_amount": 1000.0, "items": ["人血白蛋白"]})
    for n in range(40):
        settlements.append({"settlement_id": f"X-o{n}", "kind": "pharmacy", "person_id": f"XC{n}",
                            "institution_id": "PH-X", "start_time": f"{_weekday(n)} 11:00",
                            "fund_amount": 100.0, "items": ["阿莫西林胶囊"]})
    ranking = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements))
    order = [e["id"] for e in ranking]
    assert order.index("PH-X") < order.index("PH-DTP"), _order(ranking)


# ---- one rare event against peers at exactly zero --------------------------------------------


def test_one_settlement_after_a_death_date_in_six_hundred_does_not_put_a_normal_hospital_first() -> None:
    """Attack (rare event, degenerate spread): nine secondary hospitals of one city. Each has a few
    patients who died months after their stay (death dates known, nothing after them). H-BIG, the
    busiest (600 ordinary stays), has one patient whose follow-up visit is dated the day after the
    death date on file (a typing error in the death date, or one visit to check — one settlement in
    601). H-BAD's 30 patients come back three times each, 12 days after discharge, for 12-day stays
    (挂床, 分解住院).

    Found: every peer's after-death share is exactly 0, so the MAD is 0 and the fallback divides by
    the mean absolute deviation, itself tiny: 0.17% becomes a z above the cap, 5 points × credibility
    0.97 ("死亡后结算占比 0.2%，同类机构中位数 0.0%"), and the impact multiplier (H-BIG is 20 times the
    median fund) makes that one visit the top score of the city: 98, twice H-BAD's 49 (whose
    admissions per person 3.0, stays of 12 days and 67% readmissions are each worth 4.1 points).

    Must: a figure that differs from its peers' by one settlement in six hundred does not send a
    normal hospital to the top: H-BAD ranks first. Responsible: ``institution_risk`` (r_stats / the z
    of the mean-absolute-deviation fallback) with ``_ranked``."""
    institutions, settlements = _general_hospitals()
    institutions += [{"institution_id": "H-BIG", "kind": "hospital", "level": "二级", "region_code": "430100"},
                     {"institution_id": "H-BAD", "kind": "hospital", "level": "二级", "region_code": "430100"}]
    settlements += _stays("H-BIG", 600)
    settlements += _stays("H-BAD", 30, per_person=3, days=12, gap=24)
    persons = [{"person_id": f"H{i}P{p}", "death_date": "2026-10-01"} for i in range(8) for p in range(3)]
    persons += [{"person_id": f"H-BADP{p}", "death_date": "2026-10-01"} for p in range(3)]
    persons += [{"person_id": f"H-BIGP{p}", "death_date": "2026-10-01"} for p in range(1, 3)]
    persons.append({"person_id": "H-BIGP0", "death_date": "2026-03-20"})
    settlements.append({"settlement_id": "H-BIG-followup", "kind": "outpatient", "person_id": "H-BIGP0",
                        "institution_id": "H-BIG", "start_time": "2026-03-21 10:00", "fund_amount": 120.0})
    ranking = institution_risk(in_memory_claims(institutions=institutions, persons=persons, settlements=settlements))
    assert ranking[0]["id"] == "H-BAD", _order(ranking)
