"""A ring as of a day (GET /rings/{id}?as_of=) and an entity's claims (GET /entities/{type}/{id}/claims),
on the API test city (helpers.api_city), on every backend.

R-000003 (black intermediary): broker IBI's 6 recruits admitted to H100 in three waves, 2026-01-21/22,
03-22/23 and 05-21/22, 5,000 of fund each: 18 claims, 90,000; by the end of 2026-03-31, 12 claims, 60,000.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from api import create_app
from graphsvc.config import Settings
from helpers.api_city import BROKER_PHONE, City


@pytest.fixture
def client(city: City, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=city.store)) as c:
        yield c


def _get(client: TestClient, city: City, role: str, url: str, **params: object) -> httpx.Response:
    return client.get(url, params=params, headers=city.headers(role))


def test_a_ring_as_of_a_day_counts_only_the_claims_up_to_it(client, city):
    full = _get(client, city, "investigator", "/rings/R-000003").json()
    ring = _get(client, city, "investigator", "/rings/R-000003", as_of="2026-03-31").json()
    assert (ring["as_of"], ring["claims"], ring["fund_amount"], ring["persons"]) == ("2026-03-31", 12, 60000.0, 6)
    # dated as detection dates a ring: the first claim's start, the last claim's end (03-23's stay ends 03-30)
    assert (ring["first_seen"], ring["last_seen"]) == ("2026-01-21", "2026-03-30")
    assert [d["day"] for d in ring["timeline"]] == ["2026-01-21", "2026-01-22", "2026-03-22", "2026-03-23"]
    assert {m["id"]: (m["claims"], m["fund_amount"]) for m in ring["members"] if m["type"] == "person"} == {
        p: (2, 10000.0) for p in city.bi["persons"]}
    handled = [e for e in ring["graph"]["edges"] if e["type"] == "HANDLED_BY"]
    assert len(handled) == 6 and all(e["claims"] == 2 and e["fund_amount"] == 10000.0 and e["last"] <= "2026-03-23" for e in handled)
    # Every finding rests on all three waves: kept, marked as describing the whole period.
    assert [e["kind"] for e in ring["evidence"]] == [e["kind"] for e in full["evidence"]]
    assert all(e["whole_period"] for e in ring["evidence"]) and "whole_period" not in full["evidence"][0]
    assert "as_of" not in full and full["claims"] == 18
    # After the last claim: the whole ring.
    late = _get(client, city, "investigator", "/rings/R-000003", as_of="2026-12-31").json()
    assert (late["claims"], late["fund_amount"], len(late["members"])) == (18, 90000.0, len(full["members"]))


def test_a_ring_before_its_first_claim_is_empty_and_a_bad_day_is_refused(client, city):
    empty = _get(client, city, "investigator", "/rings/R-000003", as_of="2026-01-20").json()
    assert (empty["claims"], empty["fund_amount"], empty["persons"], empty["first_seen"]) == (0, 0.0, 0, None)
    assert (empty["members"], empty["timeline"], empty["graph"]["nodes"], empty["evidence"]) == ([], [], [], [])
    for bad in ("2026-13-01", "yesterday", "2026-02-30"):
        answer = _get(client, city, "investigator", "/rings/R-000003", as_of=bad)
        assert answer.status_code == 422 and "as_of" in answer.text
    assert _get(client, city, "investigator", "/rings/R-999999", as_of="2026-03-31").status_code == 404
    # the queue's days are calendar days too: no Unix seconds, no full-width digits
    for bad in ("0", "1774915200", "２０２６-03-01", "2026-3-1"):
        for name in ("since", "until"):
            answer = _get(client, city, "investigator", "/rings", **{name: bad})
            assert answer.status_code == 422 and name in answer.text, (name, bad)
    assert _get(client, city, "investigator", "/rings", since="2026-03-01").json()["total"] == 3
    # The police liaison sees only rings referred to police, as of any day.
    assert _get(client, city, "police_liaison", "/rings/R-000003", as_of="2026-03-31").status_code == 403


def test_a_ring_as_of_a_day_is_masked_like_the_ring(client, city):
    ring = _get(client, city, "analyst", "/rings/R-000003", as_of="2026-03-31")
    assert ring.status_code == 200 and BROKER_PHONE not in ring.text and "6222000000000001" not in ring.text
    assert "王*" in ring.text  # the broker's name, masked as in the ring's detail
    full = _get(client, city, "analyst", "/rings/R-000003").json()
    assert {n["id"] for n in ring.json()["graph"]["nodes"]} == {n["id"] for n in full["graph"]["nodes"]}


def test_an_entitys_claims_are_paged_newest_first_masked_and_audited(client, city):
    page = _get(client, city, "investigator", "/entities/person/BI000/claims", size=2).json()
    assert (page["total"], page["pages"], len(page["items"])) == (3, 2, 2)
    assert [c["start_time"][:10] for c in page["items"]] == ["2026-05-21", "2026-03-22"]
    first = page["items"][0]
    assert (first["institution"], first["agent"], first["contact_phone"], first["fund_amount"]) == (
        "institution:H100", "intermediary:IBI", f"phone:{BROKER_PHONE}", 5000.0)
    second = _get(client, city, "investigator", "/entities/person/BI000/claims", size=2, page=2).json()
    assert [c["start_time"][:10] for c in second["items"]] == ["2026-01-21"]
    hospital = _get(client, city, "investigator", "/entities/institution/H100/claims").json()
    assert hospital["total"] == 18 and len(hospital["items"]) == 18
    masked = _get(client, city, "analyst", "/entities/person/BI000/claims")
    assert masked.status_code == 200 and BROKER_PHONE not in masked.text
    # A pseudonym the analyst was given finds the same claims.
    phone = masked.json()["items"][0]["contact_phone"].split(":", 1)[1]
    assert _get(client, city, "analyst", f"/entities/phone/{phone}/claims").json()["total"] == 18
    assert _get(client, city, "investigator", "/entities/person/NOBODY/claims").status_code == 404
    assert _get(client, city, "investigator", "/entities/person/BI000/claims", size=0).status_code == 422
    assert _get(client, city, "police_liaison", "/entities/person/BI000/claims").status_code == 403
    log = _get(client, city, "admin", "/audit").json()
    entries = [(e["role"], e["action"], e["target"], e["detail"]) for e in log["items"]]
    assert ("investigator", "lookup_missed", "person:NOBODY", {"lookup": "read_entity_claims"}) in entries
    assert ("investigator", "read_entity_claims", "person:BI000", {"page": 2, "size": 2, "claims": 1}) in entries
