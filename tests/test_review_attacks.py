"""Attacks from a hostile review of the issue-12 hardening that the product does not yet hold.

Each test performs the attack for real and states what a hardened server must do:

- a Parquet file of a few kilobytes that decodes to hundreds of megabytes (a decompression
  bomb inside the file format, where the zip limits never look);
- a write (a referral to police, a tip) that takes effect although its audit entry could not
  be written (the request is answered 503, yet the change stays);
- a person id that is an ID number (agencies often use the 身份证号 as 个人编号), shown in
  clear to the analyst role.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_app
from api.keys import create_api_key
from graphsvc.config import Settings
from graphsvc.detect import detect_and_save
from graphsvc.store import open_store
from helpers.api_city import City
from helpers.scenes import Scene, day, valid_id_number
from ingest.pipeline import ingest_folder

ROOT = Path(__file__).resolve().parents[1]


# ---- 1. a Parquet decompression bomb -------------------------------------------------------

_PEAK_RSS_OF_INGEST = textwrap.dedent("""
    import sys
    from pathlib import Path
    from graphsvc.config import Settings
    from graphsvc.store import open_store
    from ingest.pipeline import ingest_folder
    folder, home = Path(sys.argv[1]), Path(sys.argv[2])
    with open_store(Settings(home=home)) as store:
        ingest_folder(store, folder, rejects_dir=home / "rejects", progress=False)
    # The mm's own peak (KiB), not ru_maxrss: Linux carries the parent's peak into the child's
    # ru_maxrss across exec, so a test run that had grown past the ingest's peak measured nothing.
    print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
""")


def _peak_rss_mib(folder: Path, home: Path) -> float:
    done = subprocess.run([sys.executable, "-c", _PEAK_RSS_OF_INGEST, str(folder), str(home)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"})
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1]) / 1024


@pytest.mark.slow  # ingests in child processes that measure their memory
def test_a_parquet_bomb_of_a_few_kilobytes_is_not_decoded_into_hundreds_of_megabytes(tmp_path):
    # One 40 MB value, dictionary-encoded and zstd-compressed, repeated on 10 rows: the file is a
    # few kilobytes, the zip limits (ratio 200:1, unpacked bytes) never see it, and reading it
    # row group by row group still decodes 400 MB per column. Live, 15 rows of 100 MB in two
    # columns (6.8 KB uploaded to POST /ingest by an investigator) took the server from 330 MB
    # to a 9.9 GB peak; a few more rows kill it.
    value = "A" * (40 * 1024 * 1024)
    column = pa.DictionaryArray.from_arrays(pa.array([0] * 10, pa.int32()), pa.array([value], pa.large_string()))
    bomb = tmp_path / "bomb"
    bomb.mkdir()
    pq.write_table(pa.table({"person_id": column}), bomb / "persons.parquet", compression="zstd",
                   compression_level=19, store_schema=False)
    size = (bomb / "persons.parquet").stat().st_size
    assert size < 64 * 1024
    plain = tmp_path / "plain"
    plain.mkdir()
    pq.write_table(pa.table({"person_id": [f"P{i}" for i in range(10)]}), plain / "persons.parquet")

    baseline = _peak_rss_mib(plain, tmp_path / "home-plain")
    peak = _peak_rss_mib(bomb, tmp_path / "home-bomb")
    # Every value is over MAX_FIELD_CHARS and is refused anyway; a few KB of upload must not cost
    # more memory than the upload limits would let a zip unpack to from it (ratio 200:1), give or take.
    assert peak - baseline < 256, (f"a {size:,}-byte Parquet file raised the ingest's peak memory by "
                                   f"{peak - baseline:,.0f} MiB (baseline {baseline:,.0f} MiB)")


# ---- 2. writes that stay although their audit entry failed ---------------------------------

@pytest.fixture
def city(cities, tmp_path) -> Iterator[City]:
    with cities.copy(Settings(home=tmp_path / "home")) as city:
        yield city


def _fail_next_audit_write(client: TestClient) -> None:
    """The audit log's open segment becomes /dev/full: its next write fails with ENOSPC."""
    assert isinstance(client.app, FastAPI)
    audit = client.app.state.services.audit
    with audit._file_lock:
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, audit._fd)
        os.close(full)


def test_a_referral_to_police_whose_audit_entry_failed_is_not_made(city, tmp_path):
    with TestClient(create_app(Settings(home=tmp_path / "home"), store=city.store)) as client:
        police = city.headers("police_liaison")
        assert client.get("/rings/R-000003", headers=police).status_code == 403
        _fail_next_audit_write(client)
        refer = client.put("/rings/R-000003/disposition", headers=city.headers("investigator"),
                           json={"status": "referred_to_police", "note": "移送公安"})
        assert refer.status_code == 503  # "the request was not answered"...
        entries = client.get("/audit", params={"size": 1000}, headers=city.headers("admin")).json()["items"]
        assert not any(e["action"] == "set_disposition" for e in entries)
        # ... yet the referral was stored: police liaison now reads (and may export) the ring, and
        # the audit log has no entry saying who referred it.
        assert client.get("/rings/R-000003", headers=police).status_code == 403


def test_a_tip_whose_audit_entry_failed_is_not_stored(city, tmp_path):
    with TestClient(create_app(Settings(home=tmp_path / "home"), store=city.store)) as client:
        investigator = city.headers("investigator")
        tip = {"client_key": "review-tip-1", "type": "person", "id": "NAMED1", "note": "举报"}
        assert client.get("/rings/R-000003", headers=investigator).status_code == 200  # the log's file is open
        _fail_next_audit_write(client)
        assert client.post("/tips", headers=investigator, json=tip).status_code == 503
        # A 503 says nothing was done; a retry with the same client key must create the tip (201),
        # not find one already stored behind an answer that said it was refused.
        again = client.post("/tips", headers=investigator, json=tip)
        assert again.status_code == 201, again.text


# ---- 3. an ID number used as the person id -------------------------------------------------

@pytest.mark.slow  # its own city, ingested and detected
def test_an_analyst_never_sees_an_id_number_that_serves_as_the_person_id(tmp_path):
    id_number = valid_id_number(430102, "1975-08-09", 31, True)
    scene = Scene()
    scene.institution("H900", "hospital", name="某医院", region_code="430102")
    scene.person(id_number, name="赵大海", id_number=id_number, phone="13912340000")
    scene.card("C900", id_number)
    scene.claim("outpatient", id_number, "H900", day(5), card_id="C900")
    # A broker (his id an ID number too) whose recruits, persons known by their ID numbers, are
    # admitted in waves on his phone: a ring whose members, evidence, claims and graph name them.
    broker = valid_id_number(430103, "1968-02-03", 7, True)
    scene.tables["intermediaries"].append({"intermediary_id": broker, "name": "钱某", "phone": "15900000917"})
    recruits = [id_number] + [scene.person(n, id_number=n, birth_date="1950-01-01")
                              for n in (valid_id_number(430104, "1950-01-01", 10 + i, i % 2 == 0) for i in range(5))]
    for w in (20, 80, 140):
        for i, p in enumerate(recruits):
            scene.claim("inpatient", p, "H900", day(w + i % 2), end_time=day(w + 8).strftime("%Y-%m-%d %H:%M:%S"),
                        contact_phone="15900000917", agent_id=broker, payee_account="6222000000000917",
                        fund_amount=5000.0)
    clear_ids = [broker, *recruits]
    folder = scene.write_folder(tmp_path / "city")
    with open_store(Settings(home=tmp_path / "home")) as store:
        ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
        detect_and_save(store)
        ring_id = next(r["id"] for r in store.rings() if any(m["id"] == id_number for m in r["members"]))
        analyst = {"X-API-Key": create_api_key(store, "analyst", "analyst tester")[0]}
        investigator = {"X-API-Key": create_api_key(store, "investigator", "investigator tester")[0]}
        with TestClient(create_app(Settings(home=tmp_path / "home"), store=store)) as client:
            tip = {"client_key": "tip-1", "type": "person", "id": id_number, "note": "举报"}
            assert client.post("/tips", headers=investigator, json=tip).status_code == 201
            card = client.get("/entities/card/C900", headers=analyst)
            network = client.get("/entities/card/C900/network", headers=analyst)
            institution = client.get("/entities/institution/H900/network", headers=analyst)
            search = client.get("/search", params={"q": "C900"}, headers=analyst)
            ring = client.get(f"/rings/{ring_id}", headers=analyst)
            exports = {fmt: client.get(f"/rings/{ring_id}/export", params={"format": fmt}, headers=analyst)
                       for fmt in ("xlsx", "csv", "json", "graphml")}
            # The pseudonym shown opens the person, as a phone's does; the clear id is still refused.
            shown = card.json()["attributes"]["person_id"]
            person = client.get(f"/entities/person/{shown}", headers=analyst)
            found = client.get("/search", params={"q": shown}, headers=analyst)
            refused = client.get(f"/entities/person/{id_number}", headers=analyst)
    for answer in (card, network, institution, search, ring, person, found):
        assert answer.status_code == 200, answer.text
        # The masked form (430102********1234) is what the role may see; the whole number is not.
        for clear in clear_ids:
            assert clear not in answer.text, f"{answer.url.path}: {answer.text[:300]}"
    assert person.json()["id"] == shown and [h["id"] for h in found.json()["hits"]] == [shown]
    assert refused.status_code == 403
    ring = ring.json()
    assert {m["id"] for m in ring["members"]} >= {shown} and [t["id"] for t in ring["casework"]["tips"]] == [shown]
    for fmt, export in exports.items():
        assert export.status_code == 200, export.text
        for name, content in _unpacked(export.content).items():
            for clear in clear_ids:
                assert clear.encode() not in content, f"{fmt} export, {name}: {clear} in clear"


def _unpacked(package: bytes) -> dict[str, bytes]:
    """The files of an export zip, an xlsx opened into its XML parts (its text is in them)."""
    files = {}
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        for name in z.namelist():
            content = z.read(name)
            files.update({f"{name}/{k}": v for k, v in _unpacked(content).items()} if name.endswith(".xlsx")
                         else {name: content})
    return files
