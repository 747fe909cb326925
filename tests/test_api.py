"""The query API in process (FastAPI's test client) on a city with known rings, on every backend."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import networkx as nx
import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api import create_app
from graphsvc.config import Settings
from graphsvc.store import GraphStore
from helpers.api_city import BROKER_PHONE, NAMED_ID_NUMBER, NAMED_PHONE, City
from helpers.scenes import Scene, day
from ingest.pipeline import ingest_folder
from queries.export import verify_manifest
from queries.network import shortest_paths


@pytest.fixture
def store(city: City) -> GraphStore:
    """The city's store: the tests here that write to the store write to the city."""
    return city.store


@pytest.fixture
def client(city: City, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=city.store)) as c:
        yield c


def _get(client: TestClient, city: City, role: str, url: str, **params):
    return client.get(url, params=params, headers=city.headers(role))


def _ring_of(client: TestClient, city: City, pattern: str) -> dict:
    [ring] = _get(client, city, "investigator", "/rings", pattern=pattern).json()["items"]
    return ring


def test_ring_queue_lists_filters_sorts_and_pages(client, city):
    page = _get(client, city, "investigator", "/rings").json()
    assert page["total"] == 3
    assert [r["id"] for r in page["items"]] == ["R-000001", "R-000002", "R-000003"]
    assert [r["pattern"] for r in page["items"]] == ["identity_misuse", "card_collector", "black_intermediary"]
    broker = _ring_of(client, city, "black_intermediary")
    assert (broker["persons"], broker["fund_amount"], broker["regions"]) == (6, 90000.0, ["430102"])
    assert [r["id"] for r in _get(client, city, "investigator", "/rings", region="430102").json()["items"]] == ["R-000003"]
    assert [r["id"] for r in _get(client, city, "investigator", "/rings", institution="PH300").json()["items"]] == ["R-000002"]
    assert _get(client, city, "investigator", "/rings", min_score=0.8).json()["total"] == 2
    by_fund = _get(client, city, "investigator", "/rings", sort="fund_amount", order="asc").json()["items"]
    assert [r["fund_amount"] for r in by_fund] == [16000.0, 21600.0, 90000.0]
    second = _get(client, city, "investigator", "/rings", size=1, page=2).json()
    assert (second["total"], second["pages"], [r["id"] for r in second["items"]]) == (3, 3, ["R-000002"])
    assert _get(client, city, "investigator", "/rings", since="2026-12-01").json()["total"] == 0


def test_ring_detail_has_roles_evidence_timeline_and_subgraph(client, city):
    ring = _get(client, city, "investigator", "/rings/R-000003").json()
    roles = {m["id"]: m["role"] for m in ring["members"]}
    assert roles["IBI"] == "broker" and roles["H100"] == "institution"
    assert all(roles[p] == "beneficiary" for p in city.bi["persons"])
    assert ring["claims"] == 18
    assert [t["day"] for t in ring["timeline"]] == ["2026-01-21", "2026-01-22", "2026-03-22", "2026-03-23",
                                                    "2026-05-21", "2026-05-22"]
    assert sum(t["fund_amount"] for t in ring["timeline"]) == 90000.0
    node_ids = {n["id"] for n in ring["graph"]["nodes"]}
    assert {f"person:{p}" for p in city.bi["persons"]} | {"intermediary:IBI", "institution:H100"} <= node_ids
    handled = [e for e in ring["graph"]["edges"] if e["type"] == "HANDLED_BY"]
    assert len(handled) == 6 and all(e["target"] == "intermediary:IBI" and e["claims"] == 3 for e in handled)
    assert all(e["source"] in node_ids and e["target"] in node_ids for e in ring["graph"]["edges"])
    assert any(BROKER_PHONE in e["detail"] for e in ring["evidence"])
    assert ring["casework"] == {"disposition": {"status": "open"}, "tips": [], "priority": ring["score"]}


def test_card_collector_roles_come_from_the_network(client, city):
    ring = _get(client, city, "investigator", "/rings/R-000002").json()
    node_ids = {n["id"] for n in ring["graph"]["nodes"]}
    assert {"device:DCC1", "device:DCC2"} <= node_ids
    on_device = [e for e in ring["graph"]["edges"] if e["type"] == "ON_DEVICE"]
    assert len(on_device) == 10


def test_analyst_sees_masked_identities_investigator_in_clear(client, city):
    as_analyst = _get(client, city, "analyst", "/rings/R-000003")
    assert as_analyst.status_code == 200
    assert BROKER_PHONE not in as_analyst.text and "6222000000000001" not in as_analyst.text
    assert "159****0017" in as_analyst.text
    assert BROKER_PHONE in _get(client, city, "investigator", "/rings/R-000003").text
    person = _get(client, city, "analyst", "/entities/person/NAMED1").json()
    assert person["attributes"]["id_number"] == "430102********1234"
    assert person["attributes"]["name"] == "李*" and person["attributes"]["phone"] == "138****5678"
    clear = _get(client, city, "investigator", "/entities/person/NAMED1").json()
    assert (clear["attributes"]["id_number"], clear["attributes"]["name"]) == (NAMED_ID_NUMBER, "李四")
    # an analyst's search reads no personal field (it would confirm a clear ID number); the person's id works
    assert _get(client, city, "analyst", "/search", q=NAMED_ID_NUMBER).json()["hits"] == []
    hits = _get(client, city, "analyst", "/search", q="NAMED1").json()["hits"]
    assert hits == [{"type": "person", "id": "NAMED1", "label": "李*", "matched": "id"}]
    # a phone is opened by the pseudonym the analyst was shown, never by its clear number
    masked_phone = next(n["id"] for n in as_analyst.json()["graph"]["nodes"] if n["type"] == "phone")
    phone_type, phone_id = masked_phone.split(":", 1)
    profile = _get(client, city, "analyst", f"/entities/{phone_type}/{phone_id}")
    assert profile.status_code == 200 and profile.json()["id"] == phone_id and BROKER_PHONE not in profile.text
    assert _get(client, city, "analyst", f"/entities/phone/{BROKER_PHONE}").status_code == 403


def test_entity_profile_summarises_claims_rings_and_flags(client, city):
    dead = city.im["dead"][0]
    profile = _get(client, city, "investigator", f"/entities/person/{dead}").json()
    assert profile["claims"]["claims"] == 4 and profile["claims"]["by_kind"] == {"outpatient": 1, "pharmacy": 3}
    assert [r["id"] for r in profile["rings"]] == ["R-000001"]
    [deceased] = [f for f in profile["flags"] if f["kind"] == "deceased"]
    assert deceased["zh"] == "参保人已死亡" and deceased["since"] == profile["attributes"]["death_date"]
    card = _get(client, city, "investigator", f"/entities/card/C{dead}").json()
    [after_death] = [f for f in card["flags"] if f["kind"] == "card_used_after_death"]
    assert after_death["zh"] == "参保人死亡后仍在使用医保卡" and after_death["ring_id"] == "R-000001"
    assert _get(client, city, "investigator", "/entities/person/NOPE").status_code == 404


def test_network_is_capped_with_a_truncated_flag_and_hubs_summarised(client, city, settings, store):
    broker = _get(client, city, "investigator", "/entities/intermediary/IBI/network", hops=1).json()
    expected = {"intermediary:IBI", f"phone:{BROKER_PHONE}"} | {f"person:{p}" for p in city.bi["persons"]}
    assert {n["id"] for n in broker["nodes"]} == expected and broker["truncated"] is False
    capped = _get(client, city, "investigator", "/entities/intermediary/IBI/network", hops=2, limit=4).json()
    assert len(capped["nodes"]) == 4 and capped["truncated"] is True
    with TestClient(create_app(settings.model_copy(update={"hub_degree": 20}), store=store)) as small_hubs:
        two_hops = small_hubs.get("/entities/person/CC000/network", params={"hops": 2},
                                  headers=city.headers("investigator")).json()
    # the pharmacy serves the 8 swiped holders and 30 neighbours: shown, not expanded
    assert [h["id"] for h in two_hops["hubs"]] == ["institution:PH300"]
    hub = next(n for n in two_hops["nodes"] if n["id"] == "institution:PH300")
    assert hub["hub"] is True and hub["degree"] == 38
    assert not any(n["id"].startswith("person:CCN") for n in two_hops["nodes"])


def test_shortest_paths_between_two_recruits_go_through_what_they_share(client, city):
    a, b = city.bi["persons"][0], city.bi["persons"][5]
    found = _get(client, city, "investigator", "/paths", **{"from": f"person:{a}", "to": f"person:{b}"}).json()
    assert found["hops"] == 2
    middles = {path[1] for path in found["paths"]}
    assert middles <= {"intermediary:IBI", f"phone:{BROKER_PHONE}", "account:6222000000000001", "institution:H100"}
    assert len(middles) >= 3 and all(p[0] == f"person:{a}" and p[-1] == f"person:{b}" for p in found["paths"])
    # the family phone is both registered and on their claims: two edges, one path through it
    between = shortest_paths(city.store, f"person:{city.family[1]}", f"person:{city.family[2]}", max_paths=10)
    assert between is not None
    family = between["paths"]
    assert sorted(p[1] for p in family) == ["address:FA村8号", "card:CFA000", "device:DFA", "institution:HFA",
                                            "institution:PHFA", "phone:13911112222"]
    apart = _get(client, city, "investigator", "/paths",
                 **{"from": f"person:{a}", "to": f"person:{city.family[0]}", "max_hops": 3}).json()
    assert apart["paths"] == [] and apart["hops"] is None
    assert _get(client, city, "investigator", "/paths", **{"from": "nonsense", "to": f"person:{a}"}).status_code == 422


def test_search_finds_by_phone_name_and_institution(client, city):
    by_phone = _get(client, city, "investigator", "/search", q=NAMED_PHONE).json()["hits"]
    assert {"type": "person", "id": "NAMED1", "label": "李四", "matched": "phone"} in by_phone
    assert {"type": "phone", "id": NAMED_PHONE, "label": NAMED_PHONE, "matched": "id"} in by_phone
    assert _get(client, city, "investigator", "/search", q="李").json()["hits"][0]["id"] == "NAMED1"
    assert _get(client, city, "investigator", "/search", q="H100").json()["hits"][0] == {
        "type": "institution", "id": "H100", "label": None, "matched": "id"}
    assert _get(client, city, "investigator", "/search", q="%").json()["hits"] == []


def test_roles_decide_who_may_do_what(client, city):
    assert client.get("/rings").status_code == 401
    assert client.get("/rings", headers={"X-API-Key": "gsk_wrong"}).status_code == 401
    assert client.get("/rings", headers={"Authorization": f"Bearer {city.keys['analyst']}"}).status_code == 200
    assert _get(client, city, "police_liaison", "/rings").json()["total"] == 0
    assert _get(client, city, "police_liaison", "/rings/R-000003").status_code == 403
    for url in ("/entities/person/BI000", "/search?q=BI000", "/stats"):
        assert _get(client, city, "police_liaison", url).status_code == 403
    body = {"status": "referred_to_police", "note": "移送公安"}
    assert client.put("/rings/R-000003/disposition", json=body, headers=city.headers("analyst")).status_code == 403
    assert client.put("/rings/R-000003/disposition", json=body, headers=city.headers("investigator")).status_code == 200
    assert [r["id"] for r in _get(client, city, "police_liaison", "/rings").json()["items"]] == ["R-000003"]
    assert _get(client, city, "police_liaison", "/rings/R-000003").status_code == 200
    assert _get(client, city, "police_liaison", "/rings/R-000003/export", format="json").status_code == 200
    assert _get(client, city, "police_liaison", "/rings/R-000001/export").status_code == 403
    assert _get(client, city, "investigator", "/audit").status_code == 403


def test_dismissed_ring_stays_dismissed_on_rerun_until_its_evidence_grows(client, city, store, tmp_path):
    headers = city.headers("investigator")
    assert client.put("/rings/R-000003/disposition", json={"status": "dismissed", "note": "hospital explained"},
                      headers=headers).status_code == 200
    assert [r["id"] for r in client.get("/rings", headers=headers).json()["items"]] == ["R-000001", "R-000002"]
    dismissed = client.get("/rings", params={"disposition": "dismissed"}, headers=headers).json()["items"]
    assert [r["id"] for r in dismissed] == ["R-000003"]
    _detect(client, headers)
    assert client.get("/rings/R-000003", headers=headers).json()["casework"]["disposition"]["status"] == "dismissed"
    more = Scene(first_serial=10_000)
    more.institution("H100", "hospital", ownership="private", region_code="430102")
    more.institution("H101", "hospital", region_code="430102")
    for p in city.bi["persons"]:  # the broker brings the same recruits in again, with a second account
        more.claim("inpatient", p, "H101", day(200), end_time=day(208).strftime("%Y-%m-%d %H:%M:%S"),
                   contact_phone=BROKER_PHONE, agent_id="IBI", payee_account="6222000000000002", fund_amount=5000.0)
        more.claim("inpatient", p, "H101", day(260), end_time=day(268).strftime("%Y-%m-%d %H:%M:%S"),
                   contact_phone=BROKER_PHONE, agent_id="IBI", payee_account="6222000000000002", fund_amount=5000.0)
    ingest_folder(store, more.write_folder(tmp_path / "more"), rejects_dir=tmp_path / "rejects", progress=False)
    assert _detect(client, headers)["kept_ids"] == 3
    disposition = client.get("/rings/R-000003", headers=headers).json()["casework"]["disposition"]
    assert disposition["status"] == "open" and disposition["dismissed_before"] is True
    assert "evidence grew" in disposition["reopened"]
    assert "R-000003" in [r["id"] for r in client.get("/rings", headers=headers).json()["items"]]


def _detect(client: TestClient, headers: dict[str, str]) -> dict:
    job = client.post("/detect", headers=headers).json()
    assert isinstance(client.app, FastAPI)
    client.app.state.services.jobs.wait_idle()
    return client.get(f"/jobs/{job['id']}", headers=headers).json()["result"]


def test_tips_are_idempotent_and_raise_the_priority_of_rings_they_touch(client, city):
    headers = city.headers("investigator")
    tip = {"client_key": "hotline-0001", "type": "phone", "id": BROKER_PHONE, "note": "举报：王某组织住院"}
    first = client.post("/tips", json=tip, headers=headers)
    assert first.status_code == 201 and first.json()["touches"] == 7  # the phone and the 6 recruits whose claims name it
    again = client.post("/tips", json=tip, headers=headers)
    assert again.status_code == 200 and again.json()["at"] == first.json()["at"]
    assert client.post("/tips", json={**tip, "id": "13900000000"}, headers=headers).status_code == 409
    assert client.post("/tips", json={**tip, "client_key": "k2", "id": "10000000000"}, headers=headers).status_code == 404
    ring = _ring_of(client, city, "black_intermediary")
    assert ring["tips"] == 1 and ring["priority"] == round(1 - (1 - ring["score"]) / 2, 4) > ring["score"]
    # by score the broker's ring came last (0.93 < 0.95); the tip lifts it above the card collector
    assert [r["id"] for r in client.get("/rings", headers=headers).json()["items"]] == ["R-000001", "R-000003", "R-000002"]


def _package(response) -> dict[str, bytes]:
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        return {name.split("/", 1)[1]: z.read(name) for name in z.namelist()}


def test_export_packages_open_and_their_manifest_verifies(client, city):
    xlsx = _package(_get(client, city, "investigator", "/rings/R-000003/export", format="xlsx"))
    assert set(xlsx) == {"ring-R-000003.xlsx", "report.html", "network.svg", "manifest.json", "manifest.sha256",
                         "report.pdf", "signing-key.pem", "manifest.sig"}
    assert verify_manifest(xlsx) == []
    book = openpyxl.load_workbook(io.BytesIO(xlsx["ring-R-000003.xlsx"]))
    assert book.sheetnames == ["概要", "成员", "结算明细", "证据", "关系"]
    claims = list(book["结算明细"].iter_rows(values_only=True))
    assert claims[0][0] == "结算编号" and len(claims) == 1 + 18
    members = list(book["成员"].iter_rows(values_only=True))
    assert len(members) == 1 + 10 and ("中介", "IBI") in {(row[0], row[1]) for row in members}
    assert "黑中介" in xlsx["report.html"].decode() and "<svg" in xlsx["report.html"].decode()
    graphml = _package(_get(client, city, "investigator", "/rings/R-000003/export", format="graphml"))
    graph = nx.read_graphml(io.BytesIO(graphml["ring-R-000003.graphml"]))
    detail = _get(client, city, "investigator", "/rings/R-000003").json()
    assert graph.number_of_nodes() == len(detail["graph"]["nodes"])
    assert graph.number_of_edges() == len(detail["graph"]["edges"])
    as_json = _package(_get(client, city, "investigator", "/rings/R-000003/export", format="json"))
    assert len(json.loads(as_json["ring-R-000003.json"])["claims"]) == 18
    csv_files = _package(_get(client, city, "investigator", "/rings/R-000003/export", format="csv"))
    assert csv_files["ring-R-000003-claims.csv"].decode("utf-8-sig").startswith("结算编号,")
    tampered = {**csv_files, "ring-R-000003-claims.csv": csv_files["ring-R-000003-claims.csv"] + b"x"}
    assert verify_manifest(tampered) == ["ring-R-000003-claims.csv"]
    masked = _package(_get(client, city, "analyst", "/rings/R-000003/export", format="json"))
    assert BROKER_PHONE.encode() not in masked["ring-R-000003.json"] and verify_manifest(masked) == []
    assert _get(client, city, "investigator", "/rings/R-000003/export", format="pdf").status_code == 422


def test_every_read_of_a_persons_data_and_every_export_is_audited(client, city):
    _get(client, city, "analyst", "/rings/R-000003")
    _get(client, city, "analyst", "/entities/person/BI000/network", hops=2)
    _get(client, city, "investigator", "/entities/person/NAMED1")
    _get(client, city, "investigator", "/rings/R-000001/export", format="csv")
    _get(client, city, "investigator", "/search", q="李")
    log = _get(client, city, "admin", "/audit").json()
    entries = [(e["role"], e["action"], e["target"]) for e in log["items"]]
    assert entries[:5] == [("investigator", "search", "李"), ("investigator", "export_ring", "R-000001"),
                           ("investigator", "read_entity", "person:NAMED1"), ("analyst", "read_network", "person:BI000"),
                           ("analyst", "read_ring", "R-000003")]
    assert all(e["client"] and e["key_id"] and e["at"] for e in log["items"])


def test_rate_limit_per_key(city, settings, store):
    with TestClient(create_app(settings.model_copy(update={"rate_limit_per_minute": 3}), store=store)) as limited:
        codes = [limited.get("/rings", headers=city.headers("analyst")).status_code for _ in range(4)]
        other = limited.get("/rings", headers=city.headers("investigator")).status_code
        refused = limited.get("/rings", headers=city.headers("analyst"))
    assert codes == [200, 200, 200, 429] and other == 200
    assert int(refused.headers["Retry-After"]) >= 1 and "rate limit" in refused.json()["detail"]


@pytest.mark.parametrize("url", [
    "/entities/person/BI000/network?hops=9", "/entities/planet/X", "/rings?min_score=2", "/rings?page=0",
    "/rings?since=2026-05-01&until=2026-01-01", "/rings?sort=colour", "/paths?from=person:BI000",
    "/paths?from=person:&to=person:BI001", "/search?q=", "/rings?since=yesterday",
])
def test_bad_parameters_get_a_clear_4xx(client, city, url):
    response = client.get(url, headers=city.headers("investigator"))
    assert 400 <= response.status_code < 500 and response.json()["detail"]


def test_upload_ingest_and_detect_run_as_jobs(client, city, tmp_path):
    headers = city.headers("investigator")
    extra = Scene(first_serial=10_000)
    extra.institution("H900", "hospital")
    extra.person("NEW1")
    extra.claim("outpatient", "NEW1", "H900", day(3))
    folder = extra.write_folder(tmp_path / "upload")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for path in folder.iterdir():
            z.write(path, f"nested/{path.name}")
    job = client.post("/ingest", files={"files": ("city.zip", archive.getvalue(), "application/zip")}, headers=headers)
    assert job.status_code == 202 and job.json()["state"] in ("queued", "running", "succeeded")
    client.app.state.services.jobs.wait_idle()
    done = client.get(f"/jobs/{job.json()['id']}", headers=headers).json()
    assert done["state"] == "succeeded", done
    assert done["result"]["totals"]["loaded"] == 3 and done["progress"]["stage"] == "done"
    assert client.get("/entities/person/NEW1", headers=headers).json()["claims"]["claims"] == 1
    detect = client.post("/detect", json={"config": {"ring": {"min_persons": 3}}}, headers=headers)
    client.app.state.services.jobs.wait_idle()
    result = client.get(f"/jobs/{detect.json()['id']}", headers=headers).json()
    assert result["state"] == "succeeded" and result["result"]["rings"] == 3 and result["result"]["kept_ids"] == 3
    refused = client.post("/detect", json={"config": {"ring": {"min_persons": "many"}, "card_burst": {"minutes": -1}}},
                          headers=headers)
    assert refused.status_code == 422
    said = refused.json()["detail"]  # one line, each refused value named by its key, as the command line says it
    assert "ring.min_persons: " in said and "card_burst.minutes: " in said and "\n" not in said and "pydantic" not in said
    assert client.post("/ingest", files={"files": ("bad name?.csv", b"x", "text/csv")}, headers=headers).status_code == 422
    assert client.post("/detect", headers=city.headers("analyst")).status_code == 403
    assert client.get("/jobs/J-nope", headers=headers).status_code == 404


def test_an_uploads_rejects_are_read_through_its_job(client, city, tmp_path):
    """The uploader has no way to the server's rejects file: the job answers its rows, paged, audited;
    analysts may not read them (the rows as read hold names and ID numbers)."""
    headers = city.headers("investigator")
    rows = "settlement_id,kind,person_id,institution_id,start_time\nS-U1,outpatient,P-U1,H-U1,2026-13-45 09:00\n" \
           "S-U2,看病,P-U1,H-U1,2026-03-05 09:00\nS-U3,outpatient,P-U1,H-U1,2026-03-05 09:00\n"
    job = client.post("/ingest", files={"files": ("settlements.csv", rows.encode(), "text/csv")}, headers=headers)
    client.app.state.services.jobs.wait_idle()
    job_id = job.json()["id"]
    rejects = client.get(f"/jobs/{job_id}/rejects", params={"size": 1, "page": 2}, headers=headers)
    assert rejects.status_code == 200, rejects.text
    page = rejects.json()
    assert page["total"] == 3 and [(r["file"], r["line"]) for r in page["items"]] == [("settlements.csv", 3)]  # P-U1 unknown too
    assert page["items"][0]["reason"].startswith('invalid kind "看病"') and "S-U2" in page["items"][0]["row"]
    assert page["items"][0]["reason_zh"].startswith('类别（kind） 取值无效："看病"'), page
    assert client.get(f"/jobs/{job_id}/rejects", headers=city.headers("analyst")).status_code == 403
    assert client.get("/jobs/J-nope/rejects", headers=headers).status_code == 404
    audit = client.get("/audit", headers=city.headers("admin")).json()["items"]
    assert any(e["action"] == "read_rejects" and e["target"] == job_id for e in audit)


def test_stats_give_the_monthly_ledger_over_ring_claims(client, city):
    stats = _get(client, city, "analyst", "/stats").json()
    assert stats["rings"]["by_pattern"] == {"identity_misuse": 1, "card_collector": 1, "black_intermediary": 1}
    assert stats["rings"]["by_disposition"] == {"open": 3}
    assert sum(row["claims"] for row in stats["ledger"]) == sum(
        _get(client, city, "analyst", f"/rings/{r}").json()["claims"] for r in ("R-000001", "R-000002", "R-000003"))
    broker_months = [row for row in stats["ledger"] if row["region"] == "430102"]
    assert [(r["month"], r["persons"], r["fund_amount"]) for r in broker_months] == [
        ("2026-01", 6, 30000.0), ("2026-03", 6, 30000.0), ("2026-05", 6, 30000.0)]


def test_default_or_short_secrets_are_refused(tmp_path):
    for weak in ("changeme", "short-but-random"):
        with pytest.raises(ValidationError, match="default or short secret"):
            Settings(home=tmp_path, secret_key=weak)
    assert Settings(home=tmp_path, admin_key="x" * 32).admin_key is not None


def test_admin_key_from_the_environment_and_new_keys_over_the_api(client, city, settings, store):
    made = client.post("/apikeys", json={"role": "analyst", "name": "王分析"}, headers=city.headers("admin"))
    assert made.status_code == 201 and made.json()["key"].startswith("gsk_")
    # A field the body does not have (the CLI's --expires-days, spelt as a field) is refused, not ignored
    # into a key that never expires.
    misspelt = client.post("/apikeys", json={"role": "analyst", "name": "x", "expires_days": 90},
                           headers=city.headers("admin"))
    assert misspelt.status_code == 422 and "expires_days" in misspelt.text, misspelt.text
    assert client.get("/rings", headers={"X-API-Key": made.json()["key"]}).status_code == 200
    listed = client.get("/apikeys", headers=city.headers("admin")).json()["items"]
    assert "王分析" in {k["name"] for k in listed} and not any("key" in k for k in listed)
    env_key = "e" * 40
    with TestClient(create_app(Settings(home=settings.home, backend=settings.backend, admin_key=env_key),
                               store=store)) as c:
        assert c.get("/audit", headers={"X-API-Key": env_key}).status_code == 200


def test_a_job_cut_off_by_a_restart_reads_as_interrupted(client, city, settings, store):
    store.put_record("job", "J-old", {"id": "J-old", "kind": "ingest", "state": "running", "progress": {}})
    with TestClient(create_app(settings, store=store)) as restarted:
        job = restarted.get("/jobs/J-old", headers=city.headers("investigator")).json()
    assert job["state"] == "interrupted" and "stopped" in job["error"]


def test_analyst_networks_and_paths_carry_no_phone_or_account_in_clear(client, city):
    headers = city.headers("analyst")
    network = client.get("/entities/intermediary/IBI/network", params={"hops": 2}, headers=headers)
    paths = client.get("/paths", params={"from": "person:BI000", "to": "person:BI005"}, headers=headers)
    for response in (network, paths):
        assert response.status_code == 200
        assert BROKER_PHONE not in response.text and "6222000000000001" not in response.text
    phone_labels = {n["label"] for n in network.json()["nodes"] if n["type"] == "phone"}
    assert any(label.startswith("159****0017~") for label in phone_labels)
    assert all("****" in label for label in phone_labels)
    broker = next(n for n in network.json()["nodes"] if n["id"] == "intermediary:IBI")
    assert broker["label"] == "王*"
