"""The demo-city generator: deterministic, truth beside the folder, every pattern planted, clean to ingest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from graphsvc.config import Settings
from graphsvc.generate import generate_city, truth_path
from graphsvc.generate.text import id_numbers
from graphsvc.model import table
from graphsvc.store import open_store
from ingest.pipeline import ingest_folder
from ingest.validate import BatchValidator

PATTERNS = {"professional_gang", "black_intermediary", "card_collector", "prescriber_pharmacy_collusion",
            "care_home_collusion", "identity_misuse", "other"}


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow  # generated cities
def test_same_seed_same_city_other_seed_other_city(tmp_path):
    a = tmp_path / "a" / "city"
    b = tmp_path / "b" / "city"
    c = tmp_path / "c" / "city"
    generate_city(a, persons=6000, seed=3, progress=False)
    generate_city(b, persons=6000, seed=3, progress=False)
    generate_city(c, persons=6000, seed=4, progress=False)
    assert _digest(a) == _digest(b)
    assert truth_path(a).read_bytes() == truth_path(b).read_bytes()
    assert _digest(a)["settlements.csv"] != _digest(c)["settlements.csv"]


def test_truth_lies_beside_the_folder_and_plants_every_pattern_and_lookalike(tmp_path):
    out = tmp_path / "city"
    generate_city(out, persons=8000, seed=11, progress=False)
    assert not any("truth" in p.name for p in out.iterdir())
    truth = json.loads(truth_path(out).read_text(encoding="utf-8"))
    assert {r["pattern"] for r in truth["rings"]} == PATTERNS
    assert {g["kind"] for g in truth["lookalikes"]} >= {"care_home", "dialysis_cohort", "dormitory_health_check", "family"}
    ring_persons = [p for r in truth["rings"] for p in r["persons"]]
    assert len(ring_persons) == len(set(ring_persons)), "a person is cast in two rings"
    lookalike_persons = {p for g in truth["lookalikes"] if g["kind"] != "family" for p in g["persons"]}
    assert not lookalike_persons & set(ring_persons)


@pytest.mark.slow  # generated cities
def test_generated_city_loads_with_exactly_the_broken_rows_rejected(tmp_path):
    out = tmp_path / "city"
    summary = generate_city(out, persons=6000, seed=5, dirt=0.01, progress=False)
    truth = json.loads(truth_path(out).read_text(encoding="utf-8"))
    with open_store(Settings(home=tmp_path / "home")) as store:
        report = ingest_folder(store, out, rejects_dir=tmp_path / "rejects", progress=False)
        assert summary["broken_settlement_rows"] > 0
        assert report.totals["rejected"] == summary["broken_settlement_rows"]
        assert store.node_counts()["Settlement"] == summary["settlements"] - summary["broken_settlement_rows"]
        persons = set(store.rows("persons").column("person_id").to_pylist())
        assert all(p in persons for r in truth["rings"] for p in r["persons"])
        # Only the deliberately mistyped ~0.2% of ID numbers fail the check digit.
        valid = store.rows("persons").column("id_number_valid").to_pylist()
        assert 0 < valid.count(False) < 0.01 * len(valid)


def test_generated_id_numbers_carry_a_correct_check_digit():
    numbers = id_numbers(np.array([430102, 110105]), np.array([-7305, 3000]), np.array([1, 2]), np.array([True, False]))
    validator = BatchValidator(table("persons"), duckdb.connect())
    rows = {c: pa.nulls(2, pa.string()) for c in table("persons").column_names}
    rows["person_id"] = pa.array(["P1", "P2"])
    rows["id_number"] = numbers
    checked = validator.validate(pa.table(rows), pa.array([2, 3], pa.int64()))
    assert checked.column("id_number_valid").to_pylist() == [True, True]


# ---- hard realism (--realism hard) -----------------------------------------------------------

import csv  # noqa: E402
import re  # noqa: E402
import unicodedata  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from datetime import date  # noqa: E402

from graphsvc.generate.city import COUNTIES  # noqa: E402
from graphsvc.generate.hard import chinese_number  # noqa: E402

_CN = {chinese_number(i): str(i) for i in range(1, 1000)}


def _canonical_address(value: str) -> str:
    """Undo the export variants: NFKC, no spaces, no province/city/county, Arabic numerals."""
    v = re.sub(r"\s+", "", unicodedata.normalize("NFKC", value))
    v = v.removeprefix("湖南省").removeprefix("长沙市")
    v = re.sub("|".join(COUNTIES), "", v, count=1)
    return re.sub(r"([零一二三四五六七八九十百]+)(?=[组号栋室])", lambda m: _CN.get(m.group(1), m.group(1)), v)


def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    with open(folder / f"{name}.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def hard_city(tmp_path_factory):
    out = tmp_path_factory.mktemp("hard") / "city"
    summary = generate_city(out, persons=8000, seed=11, progress=False, realism="hard")
    truth = json.loads(truth_path(out).read_text(encoding="utf-8"))
    return out, summary, truth


@pytest.mark.slow  # generated cities
def test_hard_mode_is_deterministic_per_seed_and_differs_from_plain(tmp_path):
    a, b, c, plain = (tmp_path / x / "city" for x in "abcp")
    generate_city(a, persons=6000, seed=3, progress=False, realism="hard")
    generate_city(b, persons=6000, seed=3, progress=False, realism="hard")
    generate_city(c, persons=6000, seed=4, progress=False, realism="hard")
    generate_city(plain, persons=6000, seed=3, progress=False)
    assert _digest(a) == _digest(b)
    assert truth_path(a).read_bytes() == truth_path(b).read_bytes()
    assert _digest(a)["settlements.csv"] != _digest(c)["settlements.csv"]
    assert all(_digest(a)[f] != _digest(plain)[f] for f in ("persons.csv", "settlements.csv", "intermediaries.csv"))
    hard_truth = json.loads(truth_path(a).read_text(encoding="utf-8"))
    other = json.loads(truth_path(c).read_text(encoding="utf-8"))
    assert hard_truth["realism"] == "hard" and "realism" not in json.loads(truth_path(plain).read_text(encoding="utf-8"))
    assert hard_truth["hard"]["params"] != other["hard"]["params"], "scheme shapes are drawn per seed"
    with pytest.raises(ValueError):
        generate_city(tmp_path / "x" / "city", persons=6000, seed=3, progress=False, realism="brutal")


def test_hard_mode_plants_every_new_scheme_and_lookalike(hard_city):
    _, _, truth = hard_city
    schemes = Counter(r["scheme"] for r in truth["rings"])
    assert {"rotating_gang", "rotating_care_home", "gang_flat", "black_intermediary_shared_hospital",
            "dead_card_cashier"} <= schemes.keys()
    assert {r["pattern"] for r in truth["rings"]} == PATTERNS
    kinds = {g["kind"] for g in truth["lookalikes"]}
    assert kinds >= {"care_home", "dialysis_cohort", "dormitory_health_check", "family",
                     "registered_agent", "care_home_regular", "group_rental"}
    ring_persons = [p for r in truth["rings"] for p in r["persons"]]
    assert len(ring_persons) == len(set(ring_persons)), "a person is cast in two rings"
    # Agents serve everyone in their villages; every other look-alike is innocent.
    innocent = {p for g in truth["lookalikes"] if g["kind"] not in ("family", "registered_agent") for p in g["persons"]}
    assert not innocent & set(ring_persons)


def test_complicit_hospital_takes_brokers_in_the_same_weeks_and_pharmacy_serves_two_schemes(hard_city):
    folder, _, truth = hard_city
    shared = [r for r in truth["rings"] if r["scheme"] == "black_intermediary_shared_hospital"]
    hub = shared[0]["facts"]["shared_hospital"]
    brokers = [r for r in shared if r["facts"]["shared_hospital"] == hub]
    assert len(brokers) >= 2
    assert all({"type": "institution", "id": hub} in r["members"] for r in brokers)
    assert len({m["id"] for r in brokers for m in r["members"] if m["type"] == "intermediary"}) == len(brokers)
    assert any(r["facts"].get("shared_hospital") == hub and r["scheme"] == "group_admissions" for r in truth["rings"])
    days: dict[str, set[date]] = defaultdict(set)
    owner = {p: r["id"] for r in brokers for p in r["persons"]}
    for row in _rows(folder, "settlements"):
        if row["institution_id"] == hub and row["person_id"] in owner:
            days[owner[row["person_id"]]].add(date.fromisoformat(row["start_time"][:10]))
    a, b = (days[r["id"]] for r in brokers[:2])
    assert any(abs((x - y).days) <= 3 for x in a for y in b), "two brokers' waves at the hub in the same week"
    pharmacy_rings = defaultdict(set)
    for r in truth["rings"]:
        if "shared_pharmacy" in r["facts"]:
            pharmacy_rings[r["facts"]["shared_pharmacy"]].add(r["pattern"])
    assert any({"card_collector", "prescriber_pharmacy_collusion"} <= p for p in pharmacy_rings.values())


def test_rotating_gangs_and_care_homes_never_show_one_hospital_three_waves(hard_city):
    folder, _, truth = hard_city
    gangs = [r for r in truth["rings"] if r["scheme"] in ("rotating_gang", "rotating_care_home")]
    assert {g["scheme"] for g in gangs} == {"rotating_gang", "rotating_care_home"}
    settlements = _rows(folder, "settlements")
    for gang in gangs:
        assert 4 <= gang["facts"]["waves"] <= (8 if gang["scheme"] == "rotating_gang" else 6)
        per_hospital = Counter(gang["facts"]["wave_hospitals"])
        assert 2 <= len(per_hospital) <= 4 and max(per_hospital.values()) <= 2
        if gang["scheme"] == "rotating_care_home":
            assert gang["members"][len(gang["persons"])]["id"].startswith("NH"), "the home is the organiser"
        members = set(gang["persons"])
        days: dict[str, list[date]] = defaultdict(list)
        for row in settlements:
            if row["person_id"] in members and row["kind"] == "inpatient" and row["institution_id"] in per_hospital:
                days[row["institution_id"]].append(date.fromisoformat(row["start_time"][:10]))
        for hospital, seen in days.items():
            seen.sort()
            # a wave is two or more members within 3 days; an old resident's own stay is none
            runs = [[seen[0]]]
            for a, b in zip(seen, seen[1:]):
                if (b - a).days <= 2:
                    runs[-1].append(b)
                else:
                    runs.append([b])
            waves = sum(len(run) >= 2 for run in runs)
            assert waves <= 2, f"{hospital} saw the gang {waves} times"


def test_a_cashier_swipes_dead_persons_cards_through_his_own_login_only(hard_city):
    folder, _, truth = hard_city
    died = {r["person_id"]: date.fromisoformat(r["death_date"]) for r in _rows(folder, "persons") if r["death_date"]}
    settlements = _rows(folder, "settlements")
    for ring in (r for r in truth["rings"] if r["scheme"] == "dead_card_cashier"):
        operator, dead = ring["facts"]["operator"], set(ring["persons"])
        assert 3 <= len(dead) <= 9 and dead <= died.keys()
        through = [row for row in settlements if row["operator_id"] == operator]
        holders = [row["person_id"].removesuffix("-2") for row in through]  # a duplicate record is the same person
        assert set(holders) == dead
        assert all(date.fromisoformat(row["start_time"][:10]) > died[p] for row, p in zip(through, holders))
        assert len(through) == ring["facts"]["uses"]


def test_registered_agents_file_one_stay_per_household_over_the_year(hard_city):
    folder, _, truth = hard_city
    agents = {r["intermediary_id"]: r for r in _rows(folder, "intermediaries") if r["source"] == "agent_registration"}
    groups = [g for g in truth["lookalikes"] if g["kind"] == "registered_agent"]
    assert groups and {g["intermediary"] for g in groups} == set(agents)
    assert all(agents[a]["phone"] for a in agents)
    persons = {r["person_id"]: r for r in _rows(folder, "persons")}
    filed = defaultdict(list)
    for row in _rows(folder, "settlements"):
        if row["agent_id"] in agents:
            filed[row["agent_id"]].append(row)
    for g in groups:
        rows = filed[g["intermediary"]]
        assert 13 <= len(rows) == g["households"] <= 49
        assert all(r["kind"] == "inpatient" for r in rows)
        clients = {r["person_id"].removesuffix("-2") for r in rows}
        assert len(clients) == len(rows)
        homes = {_canonical_address(persons[p]["address"]) for p in clients}
        assert len(homes) == len(rows), "one claim per household"
        months = {r["start_time"][:7] for r in rows}
        assert len(months) >= 5, "spread over the year"


def test_care_homes_flats_and_gang_flat(hard_city):
    folder, _, truth = hard_city
    persons = {r["person_id"]: r for r in _rows(folder, "persons")}
    for home in (g for g in truth["lookalikes"] if g["kind"] == "care_home_regular"):
        assert 60 <= len(home["persons"]) <= 150 and home["stays"] >= len(home["persons"])
    rentals = [g for g in truth["lookalikes"] if g["kind"] == "group_rental"]
    flats = [r for r in truth["rings"] if r["scheme"] == "gang_flat"]
    assert rentals and flats
    for group, low, high in [(g["persons"], 5, 12) for g in rentals] + [(r["persons"], 4, 8) for r in flats]:
        assert low <= len(group) <= high
        rows = [persons[p] for p in group]
        assert len({_canonical_address(r["address"]) for r in rows}) == 1
        assert len({r["name"][0] for r in rows}) == len(rows), "different surnames"
        assert len({re.sub(r"\s", "", r["id_number"])[:6] for r in rows}) == len(rows), "different birthplaces"
        assert len({re.sub(r"\D", "", unicodedata.normalize("NFKC", r["phone"]))[-11:] for r in rows}) == len(rows)
    for flat in flats:
        assert 3 <= flat["facts"]["waves"] <= 6


def test_export_variants_and_duplicate_persons(hard_city):
    folder, _, truth = hard_city
    persons = _rows(folder, "persons")
    by_id = {r["person_id"]: r for r in persons}
    families = [g["persons"] for g in truth["lookalikes"] if g["kind"] == "family"]
    # Members still at home (not moved to a care home or dormitory) share one address, spelled variously.
    homes = [[by_id[p]["address"] for p in f if "村" in by_id[p]["address"]] for f in families]
    assert all(len({_canonical_address(a) for a in h}) <= 1 for h in homes)
    assert any(len(set(h)) > 1 for h in homes), "one household's address written two ways"
    addresses = [r["address"] for r in persons]
    assert any(a.startswith("长沙市") for a in addresses) and any(re.search("[十一二三四五六七八九]+组", a) for a in addresses)
    assert any(re.search("[０-９]", a) for a in addresses) and any(" " in a for a in addresses)
    phones = [r["phone"] for r in persons]
    assert any(p.startswith("+86") for p in phones) and any(p.startswith("0086") for p in phones) \
        and any("-" in p for p in phones)
    assert any(" " in r["id_number"] for r in persons) and any(r["id_number"].endswith("x") for r in persons)
    assert any(" " in r["payee_account"] for r in _rows(folder, "settlements") if r["payee_account"])
    pairs = truth["duplicate_persons"]
    assert 0.003 * 8000 <= len(pairs) <= 0.008 * 8000
    for first, second in pairs:
        a, b = by_id[first], by_id[second]
        assert first < second
        assert re.sub(r"\s", "", a["id_number"]).upper() == re.sub(r"\s", "", b["id_number"]).upper()
        assert (a["name"], a["birth_date"]) == (b["name"], b["birth_date"])
        assert (a["region_code"], a["insurance_type"]) != (b["region_code"], b["insurance_type"])
    seconds = {s for _, s in pairs}
    assert any(r["person_id"] in seconds for r in _rows(folder, "settlements")), "claims under the second record"
    ring_persons = {p for r in truth["rings"] for p in r["persons"]}
    assert not ring_persons & seconds, "truth keeps the original ids"


@pytest.mark.slow  # generated cities
def test_hard_city_loads_with_exactly_the_broken_rows_rejected(tmp_path):
    out = tmp_path / "city"
    summary = generate_city(out, persons=6000, seed=5, dirt=0.01, progress=False, realism="hard")
    truth = json.loads(truth_path(out).read_text(encoding="utf-8"))
    with open_store(Settings(home=tmp_path / "home")) as store:
        report = ingest_folder(store, out, rejects_dir=tmp_path / "rejects", progress=False)
        assert summary["broken_settlement_rows"] > 0
        assert report.totals["rejected"] == summary["broken_settlement_rows"]
        assert store.node_counts()["Settlement"] == summary["settlements"] - summary["broken_settlement_rows"]
        rows = store.rows("persons")
        loaded = set(rows.column("person_id").to_pylist())
        assert all(p in loaded for pair in truth["duplicate_persons"] for p in pair)
        assert all(p in loaded for r in truth["rings"] for p in r["persons"])
        # Lower-case x and spaced ID numbers load as valid; only the deliberately mistyped fail.
        valid = rows.column("id_number_valid").to_pylist()
        assert 0 < valid.count(False) < 0.01 * len(valid)
        phones = [p for p in rows.column("phone").to_pylist() if p]
        assert all(re.fullmatch(r"1\d{10}|731\d{7}", p) for p in phones), "every phone variant repaired"


def test_hard_village_names_unique_without_county_and_chinese_numerals():
    from graphsvc.generate.city import _hard_village_name

    names = [_hard_village_name(v) for v in range(20_000)]
    assert len(set(names)) == len(names) and not any(re.search(r"\d", n) for n in names)
    assert [chinese_number(n) for n in (1, 10, 12, 35, 105, 210, 999)] == ["一", "十", "十二", "三十五", "一百零五", "二百一十", "九百九十九"]
