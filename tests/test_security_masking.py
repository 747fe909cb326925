"""Attacks on masking and on the police package, performed through the API (issue 12, items 2 and 4).

An analyst tries to undo masking: a birth date fills in the hidden digits of an ID number;
``/search`` and ``/entities`` confirm clear values (a 200/404 oracle; a masked phone leaves
10,000 candidates); notes and a reused tip key give stored values back. A person named
``=HYPERLINK(...)`` tries to run in the spreadsheet the police open.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from api import create_app
from api.keys import create_api_key
from graphsvc.config import Settings
from graphsvc.store import GraphStore, open_store
from helpers import scenes
from helpers.api_city import BROKER_PHONE, NAMED_ID_NUMBER, NAMED_PHONE, Cities, City, city_scene, load_scene
from helpers.scenes import day, valid_id_number

FORMULA_NAME = '=HYPERLINK("http://x","y")'
HOSTILE_NAMES = {"BI002": "@SUM(1+1)", "BI003": "+1+1", "BI004": "-2+3"}
TAB_KEY_NAME = "\t=2+5"
"""Ingest trims a name's leading tab; an API key's name reaches the package as who generated it."""
BIRTH_DATE = "1983-03-27"
BIRTH_ID_NUMBER = valid_id_number(430112, BIRTH_DATE, 12, True)
MEMBER_NAME = "张建国"
ACCOUNT = "6222000000000001"
FAMILY_ADDRESS = "FA村8号"
REFUND = -120.5

EMBEDDED = pytest.mark.parametrize("settings", ["embedded"], indirect=True)
"""Cases whose attack does not depend on the backend: run once (the Neo4j ones are slow)."""


def _hostile_city(store: GraphStore, tmp_path: Path) -> City:
    """The API test city, with the issue's hostile values planted on the broker's recruits."""
    scene, facts = city_scene()
    persons = {row["person_id"]: row for row in scene.tables["persons"]}
    persons["BI000"].update(name=FORMULA_NAME, id_number=BIRTH_ID_NUMBER, birth_date=BIRTH_DATE, gender="M")
    persons["BI001"]["name"] = MEMBER_NAME
    for person_id, name in HOSTILE_NAMES.items():
        persons[person_id]["name"] = name
    # a refund in the ring's first wave: a real negative number, which must stay a number
    scene.claim("inpatient", "BI000", "H100", day(21, 15), contact_phone=BROKER_PHONE, agent_id="IBI",
                payee_account=ACCOUNT, total_amount=REFUND, fund_amount=REFUND)
    return load_scene(store, tmp_path, scene, facts)


@pytest.fixture
def city(cities: Cities, settings: Settings) -> Iterator[City]:
    with cities.copy(settings, _hostile_city) as city:
        yield city


@pytest.fixture
def store(city: City) -> GraphStore:
    """The city's store: the tests here that write to the store write to the city."""
    return city.store


@pytest.fixture
def client(city: City, settings: Settings) -> Iterator[TestClient]:
    # budgets no test here spends (enumeration makes thousands of calls), but for the one that tests them
    roomy = settings.model_copy(update={"failed_lookups_per_minute": 1_000_000, "rate_limit_per_minute": 1_000_000})
    with TestClient(create_app(roomy, store=city.store)) as c:
        yield c


def _get(client: TestClient, city: City, role: str, url: str, **params):
    return client.get(url, params=params or None, headers=city.headers(role))  # None: keep a query in the url


def _broker_ring(client: TestClient, city: City) -> str:
    [ring] = _get(client, city, "investigator", "/rings", pattern="black_intermediary").json()["items"]
    return ring["id"]


def _pseudonym(client: TestClient, city: City, ring_id: str, node_type: str) -> str:
    """The id an analyst is shown for the ring's one node of ``node_type`` (a phone, an account)."""
    nodes = _get(client, city, "analyst", f"/rings/{ring_id}").json()["graph"]["nodes"]
    [node] = [n for n in nodes if n["type"] == node_type]
    return node["entity_id"]


def _package(response) -> dict[str, bytes]:
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        return {name.split("/", 1)[1]: z.read(name) for name in z.namelist()}


# ---- item 2 on both backends: no existence oracle, pseudonyms work, birth year only --------------


def test_analyst_cannot_confirm_clear_values_but_opens_pseudonyms(client, city):
    ring_id = _broker_ring(client, city)
    # the planted values exist: an investigator finds each of them
    for value in (NAMED_PHONE, NAMED_ID_NUMBER, "李四"):
        assert _get(client, city, "investigator", "/search", q=value).json()["hits"], value
    # an analyst gets the same answer for a value that exists and one that does not
    for existing, absent in ((NAMED_PHONE, "13812340000"), (NAMED_ID_NUMBER, "430102198802021234"),
                             (ACCOUNT, "6222999999990001"), ("李四", "李五")):
        found, missing = (_get(client, city, "analyst", "/search", q=q) for q in (existing, absent))
        assert found.status_code == missing.status_code == 200
        assert found.json()["hits"] == missing.json()["hits"] == [], existing
        assert existing == "李四" or existing not in found.text  # the echoed query is masked too
    for url_existing, url_absent in (
            (f"/entities/phone/{NAMED_PHONE}", "/entities/phone/13812340000"),
            (f"/entities/phone/{BROKER_PHONE}/network", "/entities/phone/15900009999/network"),
            (f"/entities/account/{ACCOUNT}", "/entities/account/6222999999990001"),
            (f"/entities/address/{FAMILY_ADDRESS}", "/entities/address/FA村9号"),
            (f"/entities/person/{NAMED_ID_NUMBER}", "/entities/person/430102198802021234"),
            (f"/paths?from=phone:{BROKER_PHONE}&to=person:BI000", "/paths?from=phone:15900009999&to=person:BI000")):
        found, missing = (_get(client, city, "analyst", url) for url in (url_existing, url_absent))
        assert found.status_code == missing.status_code == 403, url_existing
        assert found.json() == missing.json()  # the message names the type, never the value
        assert NAMED_PHONE not in found.text and BROKER_PHONE not in found.text and ACCOUNT not in found.text

    # what the analyst was shown opens: the phone's profile, network, paths, search and a tip
    phone = _pseudonym(client, city, ring_id, "phone")
    assert phone.startswith("159****0017~")
    profile = _get(client, city, "analyst", f"/entities/phone/{phone}")
    assert profile.status_code == 200 and profile.json()["id"] == phone and profile.json()["degree"] > 0
    network = _get(client, city, "analyst", f"/entities/phone/{phone}/network")
    assert network.status_code == 200 and network.json()["center"] == f"phone:{phone}"
    paths = _get(client, city, "analyst", "/paths", **{"from": f"phone:{phone}", "to": "person:BI000"})
    assert paths.status_code == 200 and paths.json()["hops"] == 1
    hits = {(h["type"], h["id"], h["matched"]) for h in _get(client, city, "analyst", "/search", q=phone).json()["hits"]}
    assert {("phone", phone, "id"), ("intermediary", "IBI", "phone")} <= hits  # the phone and whose it is
    for response in (profile, network, paths):
        assert BROKER_PHONE not in response.text
    # a pseudonym is bound to its value and type: altered, or sent as another type, it is refused
    tampered = phone[:-2] + ("AA" if not phone.endswith("AA") else "BB")
    assert _get(client, city, "analyst", f"/entities/phone/{tampered}").status_code == 403
    assert _get(client, city, "analyst", f"/entities/account/{phone}").status_code == 403
    assert _get(client, city, "analyst", f"/entities/phone/159****0017~{phone.split('~')[1][:-1]}").status_code == 403

    # the birth date that would fill in the ID number's hidden digits: a year, on either backend
    person = _get(client, city, "analyst", "/entities/person/BI000").json()["attributes"]
    assert person["birth_date"] == "1983"
    assert person["id_number"] == BIRTH_ID_NUMBER[:6] + "*" * 8 + BIRTH_ID_NUMBER[-4:]
    clear = _get(client, city, "investigator", "/entities/person/BI000").json()["attributes"]
    assert clear["birth_date"] == BIRTH_DATE and clear["id_number"] == BIRTH_ID_NUMBER


# ---- item 2: enumerating a masked value ----------------------------------------------------------


@pytest.mark.slow  # thousands of lookups
@EMBEDDED
def test_enumerating_the_candidates_a_masked_value_leaves_tells_nothing(client, city):
    masked = _get(client, city, "analyst", "/entities/person/NAMED1").json()["attributes"]
    assert (masked["phone"], masked["id_number"]) == ("138****5678", "430102********1234")
    phones = sorted({f"138{i:04d}5678" for i in range(0, 10_000, 37)} | {NAMED_PHONE})
    ids = sorted({f"430102{19500101 + i * 1301:08d}1234" for i in range(80)} | {NAMED_ID_NUMBER})
    accounts = sorted({f"6222{i:08d}0001" for i in range(0, 10**8, 1_234_567)} | {ACCOUNT})
    assert NAMED_PHONE in phones and len(phones) > 250

    def answers(urls: list[str]) -> set[tuple[int, str]]:
        return {(r.status_code, r.text) for r in (_get(client, city, "analyst", url) for url in urls)}

    def tips(ids_: list[str], node_type: str) -> set[tuple[int, str]]:
        return {(r.status_code, r.text) for r in (
            client.post("/tips", json={"client_key": "probe", "type": node_type, "id": i, "note": ""},
                        headers=city.headers("analyst")) for i in ids_)}

    for probes in (answers([f"/entities/phone/{p}" for p in phones]),
                   answers([f"/entities/phone/{p}/network?hops=2" for p in phones]),
                   answers([f"/paths?from=phone:{p}&to=person:NAMED1" for p in phones]),
                   answers([f"/search?q={p}" for p in phones]),
                   tips(phones, "phone"),
                   answers([f"/entities/person/{i}" for i in ids]),
                   answers([f"/search?q={i}" for i in ids]),
                   answers([f"/entities/account/{a}" for a in accounts]),
                   answers([f"/search?q={a}" for a in accounts]),
                   tips(accounts, "account")):
        assert len(probes) == 1, probes  # one status, one body, for the true value and every other
        [(status, body)] = probes
        assert status in (200, 403)
        assert NAMED_PHONE not in body and NAMED_ID_NUMBER not in body and ACCOUNT not in body


# ---- items 1 and 3: birth dates and notes wherever they are shown -------------------------------


@EMBEDDED
def test_no_full_birth_date_anywhere_an_analyst_looks(client, city):
    ring_id = _broker_ring(client, city)
    compact = BIRTH_DATE.replace("-", "")
    texts = [_get(client, city, "analyst", url).text for url in (
        "/entities/person/BI000", f"/rings/{ring_id}", "/entities/person/BI000/network?hops=2",
        "/entities/intermediary/IBI/network?hops=2", "/search?q=BI000")]
    for fmt in ("json", "csv", "graphml", "xlsx"):
        files = _package(_get(client, city, "analyst", f"/rings/{ring_id}/export", format=fmt))
        for name, content in files.items():
            if name.endswith(".xlsx"):
                book = openpyxl.load_workbook(io.BytesIO(content))
                texts += [str(cell.value) for sheet in book for row in sheet.iter_rows() for cell in row]
            elif name.endswith(".pdf"):  # the referral letter: its text as a reader copies it out
                texts += [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]
            elif name == "manifest.sig":  # 64 bytes of Ed25519 signature: no text in it
                assert len(content) == 64
            else:
                texts.append(content.decode("utf-8-sig"))
    for text in texts:
        assert BIRTH_DATE not in text and compact not in text and BIRTH_ID_NUMBER not in text
        assert "1983-03" not in text
    members = json.loads(_package(_get(client, city, "analyst", f"/rings/{ring_id}/export", format="json"))[
        f"ring-{ring_id}.json"])["members"]
    assert {m["id"]: m["birth_date"] for m in members}["BI000"] == "1983"


@EMBEDDED
def test_notes_and_tips_are_masked_for_analysts_and_conflicts_echo_nothing(client, city):
    ring_id = _broker_ring(client, city)
    investigator, analyst = city.headers("investigator"), city.headers("analyst")
    note = f"{MEMBER_NAME}组织住院，电话 138 1234 5678 / {NAMED_PHONE}，身份证{NAMED_ID_NUMBER}，账户{ACCOUNT}"
    assert client.put(f"/rings/{ring_id}/disposition", json={"status": "confirmed", "note": note},
                      headers=investigator).status_code == 200
    tip = {"client_key": "hotline-0001", "type": "phone", "id": BROKER_PHONE, "note": f"举报：{MEMBER_NAME} {NAMED_PHONE}"}
    assert client.post("/tips", json=tip, headers=investigator).status_code == 201

    detail = _get(client, city, "analyst", f"/rings/{ring_id}")
    queue = _get(client, city, "analyst", "/rings")
    export = _package(_get(client, city, "analyst", f"/rings/{ring_id}/export", format="json"))
    for text in (detail.text, queue.text, export[f"ring-{ring_id}.json"].decode(), export["report.html"].decode()):
        for clear in (MEMBER_NAME, NAMED_PHONE, "138 1234 5678", NAMED_ID_NUMBER, ACCOUNT, BROKER_PHONE):
            assert clear not in text, clear
    casework = detail.json()["casework"]
    assert casework["disposition"]["note"] == ("张**组织住院，电话 138****5678 / 138****5678，"
                                                "身份证430102********1234，账户6222****0001")
    [shown] = casework["tips"]
    assert shown["note"] == "举报：张** 138****5678" and shown["id"].startswith("159****0017~")
    [queued] = [r for r in queue.json()["items"] if r["id"] == ring_id]
    assert queued["disposition"]["note"] == casework["disposition"]["note"]
    # investigators keep the clear note
    assert _get(client, city, "investigator", f"/rings/{ring_id}").json()["casework"]["disposition"]["note"] == note

    # a reused client key answers 409 without the stored tip's phone, note or key
    for role in ("analyst", "investigator"):
        conflict = client.post("/tips", json={**tip, "type": "person", "id": "BI000", "note": ""},
                               headers=city.headers(role))
        assert conflict.status_code == 409
        for stored in (BROKER_PHONE, MEMBER_NAME, NAMED_PHONE, "hotline-0001", "159****0017"):
            assert stored not in conflict.text
    # a tip about nothing says nothing of what it looked for
    missing = client.post("/tips", json={"client_key": "k-missing", "type": "person", "id": "NOPE"},
                          headers=investigator)
    assert missing.status_code == 404 and "NOPE" not in missing.text

    # an analyst tips through the pseudonym it was shown; the tip is stored against the clear phone
    phone = shown["id"]
    mine = {"client_key": "analyst-1", "type": "phone", "id": phone, "note": f"又见 {NAMED_PHONE}"}
    made = client.post("/tips", json=mine, headers=analyst)
    assert made.status_code == 201 and made.json()["id"] == phone and NAMED_PHONE not in made.text
    assert client.post("/tips", json=mine, headers=analyst).status_code == 200
    assert client.post("/tips", json={**mine, "client_key": "analyst-2", "id": BROKER_PHONE},
                       headers=analyst).status_code == 403
    tips = _get(client, city, "investigator", f"/rings/{ring_id}").json()["casework"]["tips"]
    assert {(t["client_key"], t["id"]) for t in tips} == {("hotline-0001", BROKER_PHONE), ("analyst-1", BROKER_PHONE)}


# ---- item 4: failed lookups audited and rate-limited; the clear query kept for admins -----------


@EMBEDDED
def test_failed_lookups_are_audited_and_run_dry(city, settings, store):
    limited = settings.model_copy(update={"failed_lookups_per_minute": 3})
    with TestClient(create_app(limited, store=store)) as c:
        def get(role: str, url: str, **params):
            return c.get(url, params=params, headers=city.headers(role))

        assert get("analyst", "/entities/person/BI000").status_code == 200  # found: spends nothing
        # one entity at both ends is a bad request, not a missed lookup that spends the budget
        assert get("analyst", "/paths", **{"from": "person:BI000", "to": "person:BI000"}).status_code == 422
        assert get("analyst", "/entities/person/NOPE1").status_code == 404
        assert get("analyst", "/search", q=NAMED_PHONE).json()["hits"] == []
        assert get("analyst", f"/entities/phone/{NAMED_PHONE}").status_code == 403
        # the budget is spent: every lookup waits now, found or not, so the 429 itself tells nothing
        for url, params in (("/entities/person/BI000", {}), ("/entities/person/NOPE2", {}), ("/search", {"q": "BI000"}),
                            ("/entities/intermediary/IBI/network", {}),
                            ("/paths", {"from": "person:BI000", "to": "person:BI001"})):
            refused = get("analyst", url, **params)
            assert refused.status_code == 429, url
            assert int(refused.headers["Retry-After"]) >= 1 and "failed lookups" in refused.json()["detail"]
        assert c.post("/tips", json={"client_key": "t", "type": "person", "id": "BI000"},
                      headers=city.headers("analyst")).status_code == 429
        # the ring queue is no lookup; investigators see identities anyway and are not held back
        assert get("analyst", "/rings").status_code == 200
        assert [get("investigator", f"/entities/person/NOPE{i}").status_code for i in range(5)] == [404] * 5

        log = get("admin", "/audit").json()["items"]
    entries = [(e["role"], e["action"], e["target"], e["detail"].get("lookup")) for e in log]
    assert ("analyst", "lookup_missed", "person:NOPE1", "read_entity") in entries
    # the clear query and the clear phone, for the admin who reads the log
    assert ("analyst", "lookup_missed", NAMED_PHONE, "search") in entries
    assert ("analyst", "lookup_refused", f"phone:{NAMED_PHONE}", "read_entity") in entries
    assert ("investigator", "lookup_missed", "person:NOPE4", "read_entity") in entries


@EMBEDDED
def test_analyst_searches_are_audited_with_the_clear_query(client, city):
    ring_id = _broker_ring(client, city)
    phone = _pseudonym(client, city, ring_id, "phone")
    assert _get(client, city, "analyst", "/search", q="BI000").json()["hits"]
    assert _get(client, city, "analyst", "/search", q=phone).json()["hits"]
    assert _get(client, city, "analyst", f"/entities/phone/{phone}").status_code == 200
    log = _get(client, city, "admin", "/audit").json()["items"]
    entries = [(e["role"], e["action"], e["target"]) for e in log]
    assert ("analyst", "search", "BI000") in entries and ("analyst", "search", phone) in entries
    # a profile opened through a pseudonym is logged against the clear phone
    assert ("analyst", "read_entity", f"phone:{BROKER_PHONE}") in entries
    assert _get(client, city, "analyst", "/audit").status_code == 403


# ---- item 5: spreadsheet formula injection in the police package --------------------------------


@EMBEDDED
@pytest.mark.parametrize("role", ["investigator", "analyst"])
def test_police_package_cells_never_run_as_formulas(client, city, role):
    ring_id = _broker_ring(client, city)
    city.keys[role] = create_api_key(city.store, role, TAB_KEY_NAME)[0]
    xlsx = _package(_get(client, city, role, f"/rings/{ring_id}/export", format="xlsx"))
    book = openpyxl.load_workbook(io.BytesIO(xlsx[f"ring-{ring_id}.xlsx"]))
    cells = [cell for sheet in book for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    risky = [c for c in cells if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert risky and all(c.data_type == "s" and c.quotePrefix for c in risky)
    names = {row[1]: row[3] for row in book["成员"].iter_rows(min_row=2, values_only=True)}
    if role == "investigator":  # the value reaches the police unchanged, as text
        assert names["BI000"] == FORMULA_NAME and names["BI003"] == "+1+1"
    else:
        assert names["BI000"] == "=" + "*" * (len(FORMULA_NAME) - 1)
    summary = {key: value for key, value in book["概要"].iter_rows(values_only=True)}
    assert summary["生成人"] == f"{TAB_KEY_NAME} ({role})"
    amounts = [row[12] for row in book["结算明细"].iter_rows(min_row=2, values_only=True)]
    assert REFUND in amounts and all(isinstance(a, (int, float)) for a in amounts)  # numbers, the refund too

    files = _package(_get(client, city, role, f"/rings/{ring_id}/export", format="csv"))
    rows = {name: list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
            for name, content in files.items() if name.endswith(".csv")}
    cells_csv = [cell for table in rows.values() for row in table for cell in row]
    assert not [cell for cell in cells_csv if cell.startswith(("=", "+", "@", "\t", "\r"))
                or (cell.startswith("-") and not _is_number(cell))]
    members = {row[1]: row[3] for row in rows[f"ring-{ring_id}-members.csv"][1:]}
    if role == "investigator":
        assert members["BI000"] == "'" + FORMULA_NAME and members["BI004"] == "'-2+3"
    assert dict(rows[f"ring-{ring_id}-summary.csv"])["生成人"] == f"'{TAB_KEY_NAME} ({role})"
    claims = rows[f"ring-{ring_id}-claims.csv"]
    assert str(REFUND) in [row[12] for row in claims[1:]]  # a negative number stays a number


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.slow  # its own city, ingested and detected
def test_evidence_facts_name_no_address_and_no_shared_value_in_clear(tmp_path):
    """Facts carry what a finding is about (the flat's address, a shared phone, a card's holder): an
    analyst gets them masked like the rest of the answer, in the ring detail and its JSON export."""
    scene, facts = city_scene()
    flat = scenes.gang_flat(scene)
    with open_store(Settings(home=tmp_path / "home")) as store:
        analyst = load_scene(store, tmp_path, scene, facts).headers("analyst")
        with TestClient(create_app(Settings(home=tmp_path / "home"), store=store)) as c:
            rings = c.get("/rings", headers=analyst).json()["items"]
            details = [c.get(f"/rings/{r['id']}", headers=analyst).json() for r in rings]
            [gang] = [d for d in details if any(e["kind"] == "shared_address" for e in d["evidence"])]
            exported = c.get(f"/rings/{gang['id']}/export", params={"format": "json"}, headers=analyst)
    [facts] = [e["facts"] for e in gang["evidence"] if e["kind"] == "shared_address"]
    assert facts["address"] == flat["address"][:6] + "***"
    shared = [e["facts"] for d in details for e in d["evidence"] if e["kind"].startswith("shared_") and "via" in e["facts"]]
    personal = [f for f in shared if f["via"].endswith(("phone", "account"))]  # devices and agents' ids are not
    assert personal and all("~" in f["value"] for f in personal)
    with zipfile.ZipFile(io.BytesIO(exported.content)) as package:
        text = "".join(package.read(n).decode("utf-8", "replace") for n in package.namelist())
    text += json.dumps(details, ensure_ascii=False)
    assert flat["address"] not in text and BROKER_PHONE not in text


def test_a_network_lists_its_nodes_and_edges_in_an_order_the_hidden_values_do_not_set():
    """Twenty phones that mask alike (138****0000 to 138****0019 share what an analyst sees but the
    middle digits): listed in the order of their clear numbers, their positions would tell an
    analyst which hidden number is lower. The order is a digest's: the same on every call."""
    from graphsvc.network import Edge
    from queries.network import graph_json

    phones = [f"phone:1380000{n:04d}" for n in range(20)]
    nodes: dict[str, tuple[int, str | None]] = {key: (1, None) for key in [*phones, "person:P1"]}
    edges = [Edge(source="person:P1", target=key, type="HAS_PHONE", claims=0, fund_amount=0.0, first=None, last=None)
             for key in phones]
    graph = graph_json(nodes, edges)
    listed = [n.id for n in graph.nodes if n.type == "phone"]
    assert sorted(listed) == phones and listed != phones and listed != phones[::-1]
    assert [e.target for e in graph.edges] != phones
    assert graph == graph_json(dict(reversed(list(nodes.items()))), edges[::-1])
