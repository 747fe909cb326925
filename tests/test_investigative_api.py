"""The investigator's questions of one entity through the API, on the city of helpers.api_city (known
answers), on every backend: who shares a person's identifiers, who is behind a device, who is
admitted together at an institution; masked for analysts, audited, 404 for what the graph lacks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api import create_app
from graphsvc.config import Settings
from helpers.api_city import BROKER_PHONE, NAMED_ID_NUMBER, City

BROKER_ACCOUNT = "6222000000000001"
FAMILY_ADDRESS = "FA村8号"
FAMILY_PHONE = "13911112222"


@pytest.fixture
def client(city: City, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=city.store)) as c:
        yield c


def _get(client: TestClient, city: City, role: str, url: str, **params: object):
    return client.get(url, params=params, headers=city.headers(role))


def test_a_recruits_shared_identifiers_are_the_brokers_phone_and_account(client, city):
    recruits = city.bi["persons"]
    answer = _get(client, city, "investigator", "/entities/person/BI000/shared-identifiers").json()
    assert answer == {"person": "BI000", "shared": [
        {"identifier": f"account:{BROKER_ACCOUNT}", "persons": recruits[1:]},
        {"identifier": f"phone:{BROKER_PHONE}", "persons": recruits[1:]}]}
    family = _get(client, city, "investigator", f"/entities/person/{city.family[0]}/shared-identifiers").json()
    assert {s["identifier"]: s["persons"] for s in family["shared"]} == {
        f"address:{FAMILY_ADDRESS}": city.family[1:], f"phone:{FAMILY_PHONE}": city.family[1:],
        "device:DFA": city.family[1:]}  # the device holding the father's e-voucher paid for them all


def test_an_analyst_sees_shared_identifiers_as_pseudonyms_that_open_their_entities(client, city):
    response = _get(client, city, "analyst", "/entities/person/BI000/shared-identifiers")
    family = _get(client, city, "analyst", f"/entities/person/{city.family[0]}/shared-identifiers")
    for clear in (BROKER_PHONE, BROKER_ACCOUNT, FAMILY_ADDRESS, FAMILY_PHONE):
        assert clear not in response.text + family.text
    account, phone = [s["identifier"] for s in response.json()["shared"]]
    assert account.startswith("account:6222****0001~") and phone.startswith("phone:159****0017~")
    assert {s["identifier"].partition("~")[0] for s in family.json()["shared"]} == {
        "address:***", "phone:139****2222", "device:DFA"}
    node_type, _, pseudonym = phone.partition(":")
    assert _get(client, city, "analyst", f"/entities/{node_type}/{pseudonym}").status_code == 200
    # An ID number is refused as a person's id, as in every other entity route: the analyst was never shown it.
    refused = _get(client, city, "analyst", f"/entities/person/{NAMED_ID_NUMBER}/shared-identifiers")
    assert refused.status_code == 403


def test_persons_behind_the_collectors_device(client, city):
    answer = _get(client, city, "investigator", "/entities/device/DCC1/persons").json()
    assert answer["device"] == "DCC1"
    assert [p["person"] for p in answer["persons"] if p["how"] == "card_on_device"] == [
        "CC000", "CC002", "CC004", "CC006", "CC008"]
    assert {p["person"]: p["claims"] for p in answer["persons"] if p["how"] == "scanned"} == {
        "CC000": 3, "CC002": 3, "CC004": 3, "CC006": 3}


def test_pairs_admitted_together_at_the_brokers_hospital(client, city):
    answer = _get(client, city, "analyst", "/entities/institution/H100/co-admitted").json()
    assert (answer["institution"], answer["min_times"]) == ("H100", 2)
    assert {(p["a"], p["b"]) for p in answer["pairs"]} == {
        ("BI000", "BI002"), ("BI000", "BI004"), ("BI002", "BI004"),
        ("BI001", "BI003"), ("BI001", "BI005"), ("BI003", "BI005")}
    assert all(p["times"] == 3 and len(p["days"]) == 3 for p in answer["pairs"])
    assert _get(client, city, "analyst", "/entities/institution/H100/co-admitted", min_times=4).json()["pairs"] == []
    assert _get(client, city, "analyst", "/entities/institution/H100/co-admitted", min_times=1).status_code == 422


@pytest.mark.parametrize(("url", "known"), [("/entities/person/{}/shared-identifiers", "BI000"),
                                            ("/entities/device/{}/persons", "DCC1"),
                                            ("/entities/institution/{}/co-admitted", "H100")])
def test_unknown_entities_are_404_and_police_liaison_is_refused(client, city, url, known):
    assert _get(client, city, "investigator", url.format("NOSUCH")).status_code == 404
    assert _get(client, city, "police_liaison", url.format(known)).status_code == 403


def test_every_question_is_audited(client, city):
    _get(client, city, "analyst", "/entities/person/BI000/shared-identifiers")
    _get(client, city, "investigator", "/entities/device/DCC1/persons")
    _get(client, city, "investigator", "/entities/institution/H100/co-admitted", min_times=3)
    _get(client, city, "investigator", "/entities/device/NODEVICE/persons")
    log = _get(client, city, "admin", "/audit").json()
    entries = [(e["role"], e["action"], e["target"], e["detail"]) for e in log["items"]]
    assert entries[:4] == [
        ("investigator", "lookup_missed", "device:NODEVICE", {"lookup": "read_device_persons"}),
        ("investigator", "read_co_admitted", "institution:H100", {"min_times": 3, "pairs": 6}),
        ("investigator", "read_device_persons", "device:DCC1", {"persons": 9}),
        ("analyst", "read_shared_identifiers", "person:BI000", {"identifiers": 2})]
