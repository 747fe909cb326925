"""Institution risk ranking: a hand-made city with a known outlier and a legitimate look-alike, the API
and command line, and the ranking against the plain total-fund ranking on the public provider-fraud data."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from cli.commands import main
from graphsvc.config import Settings
from graphsvc.detect.finding import in_memory_claims
from graphsvc.risk import institution_risk
from helpers.api_city import City

_MONDAY = date(2026, 3, 2)


def _weekday(n: int) -> date:
    """The n-th working day from a Monday: the normal hospitals admit on working days at 09:00."""
    return _MONDAY + timedelta(days=n // 5 * 7 + n % 5)


def _stays(hospital: str, persons: int, *, per_person: int = 1, days: int = 3, gap: int = 30,
           fund: float = 5000.0) -> list[dict[str, Any]]:
    rows = []
    for p in range(persons):
        for k in range(per_person):
            start = _weekday(p % 40) + timedelta(days=k * gap)
            rows.append({"settlement_id": f"{hospital}-{p}-{k}", "kind": "inpatient", "person_id": f"{hospital}P{p}",
                         "institution_id": hospital, "start_time": f"{start} 09:00",
                         "end_time": f"{start + timedelta(days=days)} 10:00", "fund_amount": fund})
    return rows


def _city() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Eight ordinary secondary hospitals; H-BAD, secondary too, whose 30 patients come back three
    times each, 12 days after the last discharge, for 12-day stays (挂床, 分解住院); H-BIG, the one
    tertiary hospital, with 800 patients once each for a normal stay: 27 times an ordinary one's fund."""
    institutions = [{"institution_id": f"H{i}", "kind": "hospital", "level": "二级", "region_code": "430100"}
                    for i in range(8)]
    institutions += [{"institution_id": "H-BAD", "kind": "hospital", "level": "二级", "region_code": "430100"},
                     {"institution_id": "H-BIG", "kind": "hospital", "level": "三级", "region_code": "430100"}]
    settlements = [row for i in range(8) for row in _stays(f"H{i}", 30)]
    settlements += _stays("H-BAD", 30, per_person=3, days=12, gap=24)
    settlements += _stays("H-BIG", 800)
    return institutions, settlements


def test_the_outlier_ranks_first_and_the_big_tertiary_hospital_does_not_rank_for_its_size() -> None:
    institutions, settlements = _city()
    ranking = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements))
    by_id = {e["id"]: e for e in ranking}
    assert ranking[0]["id"] == "H-BAD"
    reasons = {r["indicator"]: r for r in ranking[0]["reasons"]}
    assert {"admissions_per_person", "length_of_stay", "readmission_share"} <= set(reasons)
    assert reasons["admissions_per_person"]["zh"] == "住院人次/服务人数 3.0，同类机构中位数 1.0"
    assert reasons["admissions_per_person"]["en"] == "admissions per person 3.0, peer median 1.0"
    assert reasons["length_of_stay"]["value"] == 12 and reasons["length_of_stay"]["peer_median"] == 3
    # The tertiary hospital is alone at its level: it is compared with every hospital, is 27 times
    # the median's size, and has no per-person figure out of line: nothing to inspect.
    big = by_id["H-BIG"]
    assert big["peer_group"] == "hospital" and big["impact"] > 20
    assert big["score"] == 0 and big["reasons"] == []
    assert [e["id"] for e in ranking].index("H-BIG") > 0
    assert all(e["score"] == 0 for e in ranking if e["id"].startswith("H") and e["id"][1:].isdigit())


def test_a_reversal_outweighing_the_payments_does_not_send_the_outlier_to_the_bottom() -> None:
    """H-BAD's 90 stays were paid 450,000; a reversal of 500,000 (a negative amount) nets its fund to
    -50,000. Impact is on the fund paid, 450,000 over its peers' median 150,000: 3, as without the
    reversal, and H-BAD stays first (a net impact of -1/3 made its score the lowest of all)."""
    institutions, settlements = _city()
    settlements.append({"settlement_id": "H-BAD-reversal", "kind": "outpatient", "person_id": "H-BADP0",
                        "institution_id": "H-BAD", "start_time": "2026-04-30 09:00", "end_time": None,
                        "fund_amount": -500000.0})
    ranking = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements))
    assert ranking[0]["id"] == "H-BAD" and ranking[0]["impact"] == 3.0
    assert ranking[0]["score"] == pytest.approx(3.0 * ranking[0]["suspicion"], abs=0.01)


def test_ring_claims_add_ring_points_with_the_ring_ids() -> None:
    institutions, settlements = _city()
    ring_claims = [("R-000007", s["settlement_id"]) for s in settlements if s["institution_id"] == "H3"][:15]
    ranking = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements), ring_claims)
    h3 = next(e for e in ranking if e["id"] == "H3")
    [ring] = [r for r in h3["reasons"] if r["indicator"] == "rings"]
    assert ring["value"] == pytest.approx(0.5) and ring["points"] == pytest.approx(10 * 0.5 + 1)
    assert "R-000007" in ring["zh"] and "50%" in ring["zh"] and "R-000007" in ring["en"]
    assert h3["score"] > 0 and [e["id"] for e in ranking].index("H3") == 1


def test_night_and_weekend_settlements_and_distant_patients_are_stated() -> None:
    institutions, settlements = _city()
    persons = [{"person_id": s["person_id"], "region_code": "430100"} for s in settlements]
    odd = _stays("H5", 30)
    for n, row in enumerate(odd):
        if n % 2:
            row["start_time"] = "2026-03-07 23:30"  # a Saturday night
    settlements = [s for s in settlements if s["institution_id"] != "H5"] + odd
    for person in persons:
        if person["person_id"].startswith("H5P") and int(person["person_id"][3:]) % 3 == 0:
            person["region_code"] = "530100"  # from another province
    ranking = institution_risk(in_memory_claims(institutions=institutions, persons=persons, settlements=settlements))
    h5 = next(e for e in ranking if e["id"] == "H5")
    reasons = {r["indicator"]: r for r in h5["reasons"]}
    assert reasons["off_hours_share"]["value"] == pytest.approx(0.5)
    assert reasons["distant_patient_share"]["value"] == pytest.approx(10 / 30)
    assert reasons["off_hours_share"]["zh"].startswith("夜间及节假日结算占比 50%")


def test_dates_without_a_time_are_not_night_settlements() -> None:
    institutions, settlements = _city()
    at_nine = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements))
    for row in settlements:
        row["start_time"] = row["start_time"][:10]  # an export with admission dates only (00:00)
    dates_only = institution_risk(in_memory_claims(institutions=institutions, settlements=settlements))

    def off_hours(ranking: list[dict[str, Any]]) -> dict[str, float]:
        return {e["id"]: e["figures"]["off_hours_share"] for e in ranking}

    # Only the weekend stays of H-BAD's readmissions count, whether the time of day is known or not.
    assert off_hours(dates_only) == off_hours(at_nine) and off_hours(at_nine)["H0"] == 0


def test_unknown_combination_is_refused() -> None:
    with pytest.raises(ValueError, match="combine"):
        institution_risk(in_memory_claims(), combine="product")


# ---- API and command line --------------------------------------------------------------------


@pytest.fixture
def client(city: City, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=city.store)) as c:
        yield c


def test_api_pages_audits_and_shows_no_persons_identifier(client: TestClient, city: City) -> None:
    first = client.get("/institutions/risk", params={"limit": 2}, headers=city.headers("analyst"))
    assert first.status_code == 200
    page = first.json()
    assert page["limit"] == 2 and page["offset"] == 0 and len(page["institutions"]) == min(2, page["total"])
    everything = client.get("/institutions/risk", params={"limit": 500}, headers=city.headers("analyst")).json()
    scores = [e["score"] for e in everything["institutions"]]
    assert scores == sorted(scores, reverse=True) and everything["institutions"][:2] == page["institutions"]
    second = client.get("/institutions/risk", params={"limit": 2, "offset": 2}, headers=city.headers("analyst"))
    assert second.json()["institutions"] == everything["institutions"][2:4]
    # Reasons name institutions' figures and rings, never a person.
    person_ids = {r["person_id"] for r in city.store.rows("persons").select(["person_id"]).to_pylist()}
    text = json.dumps(everything, ensure_ascii=False)
    assert not [p for p in person_ids if f'"{p}"' in text or f" {p}" in text]
    assert client.get("/institutions/risk", params={"limit": 0}, headers=city.headers("analyst")).status_code == 422
    assert client.get("/institutions/risk").status_code == 401
    log = client.get("/audit", headers=city.headers("admin")).json()
    assert [(e["role"], e["action"]) for e in log["items"][:3]] == [("analyst", "read_institution_risk")] * 3


def test_cli_risk_writes_the_ranking(city: City, settings: Settings, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    if settings.backend != "embedded":
        pytest.skip("the command line opens the embedded home; the API test covers the other backend")
    city.store.close()
    out = tmp_path / "risk.json"
    assert main(["risk", "--home", str(settings.home), "--out", str(out), "--quiet"]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    ids = [e["id"] for e in document["institutions"]]
    assert ids and len(ids) == len(set(ids)) and "风险分" in capsys.readouterr().out
    assert main(["risk", "--home", str(tmp_path / "empty")]) == 2


# ---- the public provider-fraud data ----------------------------------------------------------


def _bench() -> Any:
    path = Path(__file__).resolve().parent.parent / "bench" / "risk_kaggle.py"
    spec = importlib.util.spec_from_file_location("risk_kaggle", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_ranking_beats_total_fund_on_the_provider_fraud_data() -> None:
    bench = _bench()
    if not (bench.DATA / "Train-1542865627584.csv").exists():
        pytest.skip(f"the public data is not at {bench.DATA}")
    results = bench.evaluate()
    ours, fund = results["risk score (suspicion x impact)"], results["total fund"]
    assert ours["auc"] > fund["auc"] > 0.8
    assert results["ring involvement"]["auc"] == pytest.approx(0.5)  # no rings in inpatient-only data
