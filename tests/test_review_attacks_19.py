"""Hostile review 19: phones keyed by graphsvc.phones (libphonenumber): landlines, local numbers,
foreign numbers and extensions, through masking, notes, search, tips and ingest round trips."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import create_app
from graphsvc.config import Settings
from graphsvc.phones import phone_key
from graphsvc.store import GraphStore
from helpers.api_city import BROKER_PHONE, Cities, City, city_scene, load_scene
from helpers.csv_files import write_csv
from ingest.pipeline import ingest_folder

EMBEDDED = pytest.mark.parametrize("settings", ["embedded"], indirect=True)

LOCAL_PHONE = "88886666"
"""A local number written without its area code (the brief's ``88888888``): the broker's phone below."""


def _local_phone_city(store: GraphStore, tmp_path: Path) -> City:
    """The API test city with the broker's phone a local 8-digit landline, written two ways."""
    scene, facts = city_scene()
    for row in scene.tables["intermediaries"]:
        if row["intermediary_id"] == "IBI":
            row["phone"] = "8888 6666"
    for row in scene.tables["settlements"]:
        if row.get("contact_phone") == BROKER_PHONE:
            row["contact_phone"] = "8888-6666"
    return load_scene(store, tmp_path, scene, facts)


@pytest.fixture
def local_city(cities: Cities, tmp_path: Path) -> Iterator[City]:
    with cities.copy(Settings(home=tmp_path / "home", backend="embedded"), _local_phone_city) as city:
        yield city


def _client(city: City, home: Path) -> TestClient:
    settings = Settings(home=home, backend="embedded", failed_lookups_per_minute=1_000_000,
                        rate_limit_per_minute=1_000_000)
    return TestClient(create_app(settings, store=city.store))


def _broker_ring(client: TestClient, city: City) -> str:
    [ring] = client.get("/rings", params={"pattern": "black_intermediary"},
                        headers=city.headers("investigator")).json()["items"]
    return ring["id"]


def _ingest(store: GraphStore, folder: Path, tmp_path: Path, persons: dict[str, str]) -> None:
    write_csv(folder / "persons.csv", ["person_id", "phone"], [[p, phone] for p, phone in persons.items()])
    ingest_folder(store, folder, rejects_dir=tmp_path / f"rejects-{folder.name}", progress=False)


def _phones(store: GraphStore) -> dict[str, str | None]:
    return dict(zip(*store.rows("persons").select(["person_id", "phone"]).to_pydict().values()))


# ---- (1) masking: a local number keeps 7 of its 8 digits -----------------------------------------


def test_a_local_landline_is_masked_as_much_as_a_mobile(local_city, tmp_path):
    """Attack: the broker's phone is a local number written without area code (8888 6666, keyed 88886666
    since graphsvc.phones); read the ring as an analyst and count the digits its pseudonym shows.
    Found: mask_phone keeps 3 + 4 characters of any value of 8 or more, so 88886666 is shown as
    888****6666 (in the node, its label, the evidence sentence, the entity page): 7 of its 8 digits,
    one hidden, 10 candidates, where a mobile hides 4 (10,000 candidates), and a 7-digit number hides all 7.
    Must: a phone key of any shape hides at least as many digits as an 11-digit mobile's mask (4):
    queries/masking.py mask_phone (Masker.value / Masker._visible for the pseudonym's masked part)."""
    city = local_city
    with _client(city, tmp_path / "home") as client:
        ring_id = _broker_ring(client, city)
        detail = client.get(f"/rings/{ring_id}", headers=city.headers("analyst"))
        assert detail.status_code == 200
        [phone] = [n for n in detail.json()["graph"]["nodes"] if n["type"] == "phone"]
        masked = phone["entity_id"].rpartition("~")[0]
        shown_digits = len(re.sub(r"[^0-9]", "", masked))
        assert shown_digits <= len(LOCAL_PHONE) - 4, f"{masked!r} shows {shown_digits} of {LOCAL_PHONE}'s 8 digits"
        profile = client.get("/entities/intermediary/IBI", headers=city.headers("analyst")).json()
        shown = profile["attributes"]["phone"]
        assert len(re.sub(r"[^0-9]", "", shown)) <= len(LOCAL_PHONE) - 4, shown


# ---- (1) masking: notes name landlines and foreign numbers in clear ------------------------------


@pytest.mark.parametrize("written", ["0571-8723 6114", "010-12345678", "+852 9123 4567", "8888-6666",
                                     "0571-87236114转8001"])
def test_a_landline_or_foreign_phone_in_a_note_is_masked_for_analysts(embedded_city, written, tmp_path):
    """Attack: an investigator writes the broker's landline (or a Hong Kong mobile, a local number, a
    switchboard extension) into the ring's disposition note, as the product expects notes to carry
    phones; an analyst reads the ring.
    Found: Masker.text / mask_text masks only a mobile's 1xx pattern (and 12+ contiguous digits as an
    account): 0571-8723 6114, 010-12345678, +852 9123 4567, 8888-6666 reach the analyst in clear, although
    since graphsvc.phones each of these is a Phone node the analyst sees only masked everywhere else.
    Must: every phone shape graphsvc.phones keys is masked in free text as its node is
    (queries/masking.py mask_text, _PHONE_IN_TEXT)."""
    city = embedded_city
    with _client(city, tmp_path / "home") as client:
        ring_id = _broker_ring(client, city)
        note = f"中介座机 {written}，请核实"
        assert client.put(f"/rings/{ring_id}/disposition", json={"status": "confirmed", "note": note},
                          headers=city.headers("investigator")).status_code == 200
        detail = client.get(f"/rings/{ring_id}", headers=city.headers("analyst"))
        shown = detail.json()["casework"]["disposition"]["note"]
        clear_digits = re.sub(r"[^0-9]", "", written)
        assert written not in detail.text, shown
        assert clear_digits not in re.sub(r"[^0-9]", "", shown), shown


# ---- (4) round trips: an extension after a dash is merged into the number ------------------------


@pytest.mark.parametrize(("dashed", "worded"), [
    ("010-12345678-9", "010-12345678转9"),        # Beijing: area code 3 digits, number 8
    ("+86 10 1234 5678-9", "+86 10 1234 5678转9"),
    ("+852 9123 4567-1", "+852 9123 4567 转1"),
    ("8888-6666-12", "8888-6666转12"),             # a local number with an extension
    ("(0571)8888 8888-1", "(0571)8888 8888转1"),
])
def test_an_extension_after_a_dash_is_keyed_as_one_after_zhuan(dashed, worded):
    """Attack: one switchboard desk written with its extension after a dash and after 转, as the module's
    docstring promises both (0571-88888888-123 == 0571-88888888转123).
    Found: graphsvc/phones.py _keyed's 'domestic' / 'fast_mobile' fast paths take any value of digits and
    dashes with 7-12 digits (or 86 + 11) as a plain number, so the dash extension is glued onto the number:
    010-12345678-9 -> 010123456789, +86 10 1234 5678-9 -> 10123456789 (a mobile's shape!),
    +852 9123 4567-1 -> +852912345671, (0571)8888 8888-1 -> 571888888881 (area code's 0 lost), while the 转
    form keys 01012345678-9 etc.: one line, two Phone nodes.
    Must: both forms key to the same '<number>-<extension>' (graphsvc/phones.py _keyed / _read)."""
    assert phone_key(dashed) == phone_key(worded), (dashed, phone_key(dashed), phone_key(worded))


@pytest.mark.parametrize("written", ["010-12345678转9", "+852 9123 4567 转1", "8888-6666转12"])
def test_a_phone_key_is_its_own_key(written):
    """Attack: key a phone, then key the key (what happens when an export of ours, whose contact_phone
    column holds keys, is ingested again, or an investigator pastes a shown phone into search).
    Found: phone_key('01012345678-9') == '010123456789', phone_key('+85291234567-1') == '+852912345671',
    phone_key('88886666-12') == '8888666612': the key's own '-' is read as a separator, not as the extension.
    Must: phone_key(phone_key(x)) == phone_key(x) (graphsvc/phones.py _keyed)."""
    key = phone_key(written)
    assert key is not None and "-" in key, key
    assert phone_key(key) == key, (written, key, phone_key(key))


@EMBEDDED
def test_one_line_in_two_exports_is_one_node_and_found_by_its_key(store, tmp_path):
    """Attack: export 1 writes a Beijing switchboard desk as 010-12345678转9; export 2 (or our own police
    package, re-ingested) writes the key it was given, 01012345678-9; the investigator then pastes the phone
    he was shown into the search box.
    Found: export 2's value is re-keyed 010123456789: P2 gets another Phone node than P1 (the shared phone
    links no one), and searching the shown key 01012345678-9 finds neither the phone nor P1.
    Must: one node for both, found by its own key (graphsvc/phones.py _keyed; GraphStore.search keys the
    box with phone_key)."""
    _ingest(store, tmp_path / "export1", tmp_path, {"P1": "010-12345678转9"})
    _ingest(store, tmp_path / "export2", tmp_path, {"P2": "01012345678-9"})
    phones = _phones(store)
    assert phones["P1"] == "01012345678-9"
    assert phones["P2"] == phones["P1"], phones
    store.prepare_reads()
    found = {(hit["type"], hit["id"]) for hit in store.search(phones["P1"])}
    assert {("phone", "01012345678-9"), ("person", "P1")} <= found, found


@EMBEDDED
def test_an_extension_is_not_merged_into_a_strangers_number(store, tmp_path):
    """Attack: P1 is reached at desk 1 of a 7-digit local switchboard (8888888-1); P2, a stranger, has the
    local number 88888881.
    Found: 8888888-1 is keyed 88888881 (the dash dropped, the extension glued on), so P1 and P2 share one
    Phone node: a false link between strangers that detection reads as a shared phone.
    Must: P1's key keeps its extension apart (8888888-1), a node of its own (graphsvc/phones.py _keyed)."""
    _ingest(store, tmp_path / "export", tmp_path, {"P1": "8888888-1", "P2": "88888881"})
    phones = _phones(store)
    assert phones["P2"] == "88888881"
    assert phones["P1"] != phones["P2"], phones


# ---- (2) a lead written as a caller writes it ----------------------------------------------------


def test_an_investigators_tip_names_a_phone_as_search_finds_it(embedded_city, tmp_path):
    """Attack: a hotline caller gives the broker's phone as +86 159-0000-0017; the investigator searches it
    (found: search keys the box with phone_key) and files a tip on the same text.
    Found: POST /tips (and GET /entities/phone/{id}) look the id up as sent: 404 'no such phone', though the
    graph has it and search just found it: the lead is lost and the ring's priority not raised.
    Must: an identity role's phone id is keyed like search's (queries/casework.py _new_tip,
    queries/entities.py entity_profile via store.entity; LookupGuard.resolve), one node whatever the
    writing. (An analyst's clear phone stays refused: checked, it is 403 for both forms.)"""
    city = embedded_city
    written = "+86 159-0000-0017"
    with _client(city, tmp_path / "home") as client:
        hits = client.get("/search", params={"q": written}, headers=city.headers("investigator")).json()["hits"]
        assert ("phone", BROKER_PHONE) in {(h["type"], h["id"]) for h in hits}
        # the analyst is refused alike either way (no oracle)
        for sent in (written, BROKER_PHONE):
            refused = client.post("/tips", json={"client_key": f"a-{sent}", "type": "phone", "id": sent, "note": ""},
                                  headers=city.headers("analyst"))
            assert refused.status_code == 403
        tip = client.post("/tips", json={"client_key": "hotline-19", "type": "phone", "id": written, "note": ""},
                          headers=city.headers("investigator"))
        assert tip.status_code == 201, tip.text
        profile = client.get(f"/entities/phone/{written}", headers=city.headers("investigator"))
        assert profile.status_code == 200, profile.text
