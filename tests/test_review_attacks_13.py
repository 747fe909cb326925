"""Review attacks (round 13) on what investigators do all day through the API, on surfaces the earlier
attack files leave alone: a JSON body a careless client (or a hostile one) sends with a lone UTF-16
surrogate escape (``"\\ud800"``: valid JSON, no valid string); the address of a ring's member written
into a disposition note or a tip, which an analyst then reads; and a detection job whose thresholds
were overridden, which makes a ring referred to police vanish while neither the job nor the audit
log says what was overridden.

Each test states a behaviour the product must have; its docstring says what the attack does now.
All run on the embedded store, on a copy of the API test city (``helpers.api_city``): R-000003 is the
black intermediary ring (broker IBI, six recruits BI000-BI005 at H100, score 0.7424).
"""

from __future__ import annotations

from typing import cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpers.api_city import City

RING = "R-000003"


@pytest.fixture
def client(embedded_client: TestClient) -> TestClient:
    return embedded_client


def _get(client: TestClient, embedded_city: City, role: str, url: str, **params: object) -> httpx.Response:
    return client.get(url, params=params, headers=embedded_city.headers(role))


# ---- a lone surrogate escape in a JSON body --------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "body"), [
    ("PUT", f"/rings/{RING}/disposition", '{"status": "confirmed", "note": "\\ud800"}'),
    ("POST", "/tips", '{"client_key": "k-1", "type": "person", "id": "BI000", "note": "\\ud800"}'),
    ("POST", "/tips", '{"client_key": "\\udfff", "type": "person", "id": "BI000", "note": ""}'),
])
def test_a_lone_surrogate_in_a_json_body_is_a_422_not_a_500(client: TestClient, embedded_city: City, method: str, url: str,
                                                           body: str) -> None:
    """``"\\ud800"`` is valid JSON (RFC 8259 escapes any code unit) but no valid string: a case system that
    cuts a note between the halves of a surrogate pair (an emoji, a rare 𠮷 in a name) sends one. Pydantic
    refuses it (``string_unicode``), and then FastAPI's 422 handler echoes the input back in its answer and
    cannot encode it: ``UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud800' ... surrogates
    not allowed``, answered ``500 Internal Server Error``, on every route with a JSON body. A bad body must
    be a 4xx that says what is wrong (README: "Bad parameters get a 4xx with a message that says what is wrong")."""
    answer = client.request(method, url, content=body.encode(),
                            headers={**embedded_city.headers("investigator"), "content-type": "application/json"})
    assert answer.status_code == 422, (answer.status_code, answer.text[:200])
    assert answer.json()["detail"]  # a message, as JSON
    # and nothing was changed by it
    assert _get(client, embedded_city, "investigator", f"/rings/{RING}").json()["casework"] == {
        "disposition": {"status": "open"}, "tips": [], "priority": 0.7424}


# ---- a member's address in a note --------------------------------------------------------------------


def test_a_members_address_in_a_note_is_masked_for_the_analyst(client: TestClient, embedded_city: City) -> None:
    """Notes are masked for analysts: phones, ID numbers and accounts by their shape, and the names of the
    ring's members where they occur (``RingBook.member_names``). Their addresses are not, though the server
    knows them as it knows their names, and ``Masker.text`` takes them (``addresses=``): ``_note`` passes
    none. An investigator writes where the recruit lives (``组织者住 BI000村1号``), the analyst reads
    ``{'status': 'confirmed', 'note': '组织者住 BI000村1号，王* ...'}`` in the ring, the queue and the tip,
    while the same person's profile shows the analyst ``'address': 'BI000村***'``."""
    person = embedded_city.store.entity("person", "BI000")
    assert person is not None and person["address"]
    address = person["address"]
    investigator = embedded_city.headers("investigator")
    note = f"组织者王某让招募对象住 {address}"
    assert client.put(f"/rings/{RING}/disposition", json={"status": "confirmed", "note": note},
                      headers=investigator).status_code == 200
    assert client.post("/tips", json={"client_key": "hotline-7", "type": "person", "id": "BI000",
                                      "note": f"线人说住在{address}"}, headers=investigator).status_code == 201
    profile = _get(client, embedded_city, "analyst", "/entities/person/BI000").json()
    assert address not in str(profile)  # the profile masks it ...
    detail = _get(client, embedded_city, "analyst", f"/rings/{RING}")
    queue = _get(client, embedded_city, "analyst", "/rings")
    assert detail.status_code == queue.status_code == 200
    casework = detail.json()["casework"]
    assert "王某" not in casework["disposition"]["note"]  # ... the member's name in the note is masked ...
    # ... and so must the member's address be, wherever the note or the tip is shown to the analyst
    assert address not in casework["disposition"]["note"], casework["disposition"]["note"]
    assert all(address not in t["note"] for t in casework["tips"]), casework["tips"]
    assert address not in queue.text
    # investigators keep the clear note
    assert _get(client, embedded_city, "investigator", f"/rings/{RING}").json()["casework"]["disposition"]["note"] == note


# ---- a detection job's overrides -------------------------------------------------------------------------


def test_a_detection_jobs_overrides_are_recorded_in_the_job_and_the_audit_log(client: TestClient, embedded_city: City) -> None:
    """``POST /detect`` takes overrides of every threshold. An investigator refers R-000003 to police, then
    (or another investigator, or a stolen investigator key) runs detection with ``{"ring": {"min_score":
    0.95}}``: R-000003 (score 0.7424) is retired, the police liaison's queue is empty and the ring a 404.
    What was overridden is recorded nowhere: the job reads ``'parameters': {}`` (an ingest job names its
    files there) and the audit entry is ``('submit_detect', 'J-…', {})``. Nobody can tell from the job list or
    the audit log why the referred ring disappeared, nor rerun what was run. The job and its audit entry
    must carry the overrides."""
    investigator = embedded_city.headers("investigator")
    assert client.put(f"/rings/{RING}/disposition", json={"status": "referred_to_police", "note": "移送公安"},
                      headers=investigator).status_code == 200
    overrides = {"ring": {"min_score": 0.95}}
    submitted = client.post("/detect", json={"config": overrides}, headers=investigator)
    assert submitted.status_code == 202
    job_id = submitted.json()["id"]
    assert cast(FastAPI, client.app).state.services.jobs.wait_idle(60)
    job = client.get(f"/jobs/{job_id}", headers=investigator).json()
    assert job["state"] == "succeeded" and RING in job["result"]["retired_ids"]
    assert "min_score" in str(job["parameters"]) and "0.95" in str(job["parameters"]), job["parameters"]
    audit = client.get("/audit", headers=embedded_city.headers("admin")).json()["items"]
    [entry] = [e for e in audit if e["action"] == "submit_detect" and e["target"] == job_id]
    assert "min_score" in str(entry["detail"]) and "0.95" in str(entry["detail"]), entry
