"""Backups and restores of a home, /health that reads the store, and a damaged store refused.

The city of ``helpers.api_city`` (three rings) gets casework (a disposition, tips), keys and audit
entries; a backup is taken (on the embedded store, by a real server while it is being written
to), restored into a new home, and the restored home must serve the same rings, dispositions,
tips, keys and audit entries, and mask with the same pseudonyms.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.app import server_secret
from api.process import start_serve
from graphsvc.config import Settings
from graphsvc.model import ENTITY_TABLES
from graphsvc.signing import home_key, public_pem
from graphsvc.store import open_store
from graphsvc.store.backup import BackupError, restore_backup, verify_backup, write_backup
from ingest.pipeline import ingest_folder
from queries.casework import set_disposition, submit_tip


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=600)


def _get(base: str, key: str, url: str) -> httpx.Response:
    answer = httpx.get(base + url, headers={"X-API-Key": key}, timeout=60)
    assert answer.status_code == 200, (url, answer.status_code, answer.text)
    return answer


# ---- /health ---------------------------------------------------------------------------------


def test_health_reads_the_store_and_answers_503_when_it_cannot(cities, settings):
    store = cities.copy(settings).store
    with TestClient(create_app(settings, store=store)) as client:
        ok = client.get("/health")
        assert ok.status_code == 200 and ok.json()["status"] == "ok" and ok.json()["rings"] == 3
        for thread in threading.enumerate():  # the warming of ring views is done with the store
            if thread.name == "warm-rings":
                thread.join(60)
        store.close()  # the engine is gone: no read can be answered
        deadline = time.monotonic() + 10  # an answer of the last second may be reused once more
        while (down := client.get("/health")).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert down.status_code == 503, down.text
        assert down.json()["status"] == "unavailable"
        assert down.json()["reason"].startswith("the store failed a read: ")
        assert str(settings.home) not in down.text  # /health needs no key: no server path in it


def _damage(store_file: Path) -> None:
    """Overwrite 4 KiB in the middle of the file where a plain read then fails (a bad disk)."""
    original = store_file.read_bytes()
    for fraction in (0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65, 0.3, 0.7):
        offset = int(len(original) * fraction)
        store_file.write_bytes(original[:offset] + os.urandom(4096) + original[offset + 4096:])
        try:
            with duckdb.connect(str(store_file), read_only=True) as con:
                for table in [*ENTITY_TABLES, "records", "rings", "ring_claims"]:
                    con.execute(f"SELECT * FROM {table}").fetchall()
        except duckdb.Error:
            return
    pytest.fail("no overwrite in the middle of the store made a read fail")


@pytest.mark.slow  # the CLI and real servers in their own processes
def test_a_damaged_store_is_not_served_and_a_backup_brings_it_back(cities, tmp_path):
    home = cities.home(tmp_path)
    backup = tmp_path / "backup"
    done = _cli("backup", str(home), str(backup))  # nothing serves the home: the CLI takes it itself
    assert done.returncode == 0, done.stderr
    damaged = tmp_path / "damaged"
    shutil.copytree(home, damaged)
    _damage(damaged / "graph.duckdb")

    with pytest.raises(RuntimeError) as refused:
        start_serve(damaged, timeout=120)
    assert "is not served" in str(refused.value) or "cannot open the embedded store" in str(refused.value)
    assert f"graphsvc restore BACKUP {damaged}" in str(refused.value)

    assert _cli("restore", str(backup), str(damaged)).returncode == 2  # it has a store: --force to replace it
    done = _cli("restore", str(backup), str(damaged), "--force")
    assert done.returncode == 0, done.stderr
    server = start_serve(damaged)
    try:
        admin = (damaged / "admin-key").read_text().strip()
        assert httpx.get(server.base + "/health", timeout=30).json()["status"] == "ok"
        assert [r["id"] for r in _get(server.base, admin, "/rings").json()["items"]] == ["R-000001", "R-000002",
                                                                                          "R-000003"]
    finally:
        assert server.stop() == 0


# ---- backup while serving, restore ----------------------------------------------------------


@pytest.mark.slow  # the CLI and real servers in their own processes
def test_backup_taken_by_a_serving_and_written_server_restores_the_same_home(cities, tmp_path):
    home = cities.home(tmp_path)
    server = start_serve(home)
    base, admin = server.base, (home / "admin-key").read_text().strip()
    try:
        keys = {role: httpx.post(f"{base}/apikeys", json={"role": role, "name": f"{role} tester"},
                                 headers={"X-API-Key": admin}, timeout=30).json()["key"]
                for role in ("investigator", "analyst")}
        investigator = {"X-API-Key": keys["investigator"]}
        put = httpx.put(f"{base}/rings/R-000001/disposition", json={"status": "confirmed", "note": "identity misuse"},
                        headers=investigator, timeout=30)
        assert put.status_code == 200, put.text
        tip = httpx.post(f"{base}/tips", json={"client_key": "tip-ring-3", "type": "intermediary", "id": "IBI",
                                               "note": "the broker again"}, headers=investigator, timeout=30)
        assert tip.status_code == 201, tip.text
        rings = {r["id"]: _get(base, keys["investigator"], f"/rings/{r['id']}").json()
                 for r in _get(base, keys["investigator"], "/rings").json()["items"]}
        masked = _get(base, keys["analyst"], "/rings/R-000003").json()
        audited = {e["id"] for e in _get(base, admin, "/audit?size=1000").json()["items"]}

        # Tips on a person in no ring (the ring views stay as read above) go on during the backup.
        acknowledged: list[tuple[float, str]] = []
        stop = threading.Event()

        def write() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                answer = httpx.post(f"{base}/tips", json={"client_key": f"during-{n}", "type": "person", "id": "NAMED1",
                                                          "note": f"call {n}"}, headers=investigator, timeout=60)
                assert answer.status_code == 201, answer.text
                acknowledged.append((time.monotonic(), f"during-{n}"))

        writer = threading.Thread(target=write)
        writer.start()
        try:
            while len(acknowledged) < 5:
                time.sleep(0.05)
            started = time.monotonic()
            done = _cli("backup", str(home), str(tmp_path / "backup"))
            finished = time.monotonic()
        finally:
            stop.set()
            writer.join(60)
        assert done.returncode == 0, done.stderr
        assert "a server holds" in done.stdout  # DuckDB has one writer: the server took the backup
        assert any(started < at < finished for at, _ in acknowledged)  # it was written to meanwhile
    finally:
        assert server.stop() == 0

    backup = tmp_path / "backup"
    manifest = verify_backup(backup)
    assert set(manifest["files"]) == {"graph.duckdb", "secret_key", "admin-key"}
    assert not list(home.glob(".backup-*"))  # the server's staging copy is gone
    new_home = tmp_path / "restored"
    done = _cli("restore", str(backup), str(new_home))
    assert done.returncode == 0, done.stderr
    refused = _cli("restore", str(backup), str(new_home))
    assert refused.returncode == 2 and "--force" in refused.stderr

    server = start_serve(new_home)
    try:
        for key in (admin, *keys.values()):  # every key opens the restored home
            assert httpx.get(f"{server.base}/me", headers={"X-API-Key": key}, timeout=30).status_code == 200
        assert [r["id"] for r in _get(server.base, keys["investigator"], "/rings").json()["items"]] == list(rings)
        for ring_id, detail in rings.items():  # members, evidence, the disposition and the tip
            assert _get(server.base, keys["investigator"], f"/rings/{ring_id}").json() == detail
        assert rings["R-000001"]["casework"]["disposition"]["status"] == "confirmed"
        assert [t["client_key"] for t in rings["R-000003"]["casework"]["tips"]] == ["tip-ring-3"]
        # the same masking secret: an analyst sees the same pseudonyms
        assert _get(server.base, keys["analyst"], "/rings/R-000003").json() == masked
        restored_audit = _get(server.base, admin, "/audit?size=1000").json()["items"]
    finally:
        assert server.stop() == 0
    assert audited <= {e["id"] for e in restored_audit}
    assert any(e["action"] == "backup" for e in restored_audit)
    with open_store(Settings(home=new_home)) as store:
        _, tips = store.list_records("tip", limit=100_000)
    during = {t["client_key"] for t in tips} - {"tip-ring-3"}
    assert {key for at, key in acknowledged if at < started} <= during  # everything answered before it
    assert during <= {key for _, key in acknowledged} | {f"during-{len(acknowledged) + 1}"}  # nothing made up


@pytest.mark.slow  # the CLI and real servers in their own processes
def test_a_damaged_or_unfinished_backup_is_refused(cities, tmp_path):
    home = cities.home(tmp_path)
    backup = tmp_path / "backup"
    assert _cli("backup", str(home), str(backup)).returncode == 0
    copy = tmp_path / "copy"
    shutil.copytree(backup, copy)
    data = bytearray((copy / "graph.duckdb").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "graph.duckdb").write_bytes(bytes(data))
    done = _cli("restore", str(copy), str(tmp_path / "new"))
    assert done.returncode == 2 and "graph.duckdb: SHA-256 differs" in done.stderr
    assert not (tmp_path / "new" / "graph.duckdb").exists()
    (backup / "manifest.json").unlink()  # as a backup killed before its manifest was written
    done = _cli("restore", str(backup), str(tmp_path / "new"))
    assert done.returncode == 2 and "did not finish" in done.stderr
    assert _cli("backup", str(home), str(backup)).returncode == 2  # never into a folder that has files


# ---- both backends, in process --------------------------------------------------------------


def test_backup_and_restore_on_each_backend(cities, settings, tmp_path):
    """Neo4j: the backup holds the records, rings and detection runs; the graph is ingested again first."""
    city = cities.copy(settings)
    store = city.store
    ring = store.ring("R-000002")
    set_disposition(store, ring, "referred_to_police", "collector", by="tester")
    submit_tip(store, "t1", "person", city.cc["collector"], "seen at the pharmacy", by="tester")
    store.put_record("audit", "a1", {"id": "a1", "action": "read_ring", "target": "R-000002"})
    server_secret(settings)  # made by the first server on the home
    signing = public_pem(home_key(settings.home).public_key())  # made by the first police package
    expected = {kind: store.list_records(kind, limit=10_000) for kind in ("api_key", "disposition", "tip", "audit")}
    rings, claims = store.rings(), store.ring_claims("R-000002")
    backup = tmp_path / "backup"
    manifest = write_backup(store, settings.home, backup)
    assert manifest["contents"]["rings"] == ["R-000001", "R-000002", "R-000003"]

    if settings.backend == "neo4j":
        store.clear()  # the Neo4j server lost its data
        store.close()
        with pytest.raises(BackupError, match="ingest its folders first"):
            restore_backup(backup, settings)
        with open_store(settings) as reloaded:
            ingest_folder(reloaded, Path(manifest["ingested_folders"][0]), rejects_dir=tmp_path / "rejects",
                          progress=False)
        restore_backup(backup, settings)
        with pytest.raises(BackupError, match="--force"):
            restore_backup(backup, settings)
        restored = settings
    else:
        store.close()
        restored = settings.model_copy(update={"home": tmp_path / "restored"})
        restore_backup(backup, restored)
    assert (restored.home / "secret_key").read_text() == (backup / "secret_key").read_text()
    assert public_pem(home_key(restored.home).public_key()) == signing  # the restored home signs as before
    with open_store(restored) as again:
        assert again.rings() == rings
        assert again.ring_claims("R-000002") == claims
        for kind, records in expected.items():
            assert again.list_records(kind, limit=10_000) == records, kind
    restore_backup(backup, restored, force=True)  # forced over itself: the same home again


def test_a_backup_asked_for_while_a_job_runs_waits_for_the_job_to_end(city, settings):
    """Found by the API fuzz on Neo4j: a detection job replacing the rings while POST /admin/backup read
    them gave the backup rings with no properties (KeyError, a 500). The backup now reads between
    jobs: asked for while a job works, it answers only once the job's work has ended."""
    app = create_app(settings, store=city.store)
    jobs = app.state.services.jobs
    working, release, order = threading.Event(), threading.Event(), []

    def held_job(progress):
        working.set()
        release.wait(60)
        order.append("job")
        return {}

    with TestClient(app) as client:
        jobs.submit(jobs.new_id(), "test", held_job, by="test")
        assert working.wait(30)
        answers = []

        def back_up() -> None:
            answers.append(client.post("/admin/backup", headers=city.headers("admin")))
            order.append("backup")

        backup = threading.Thread(target=back_up)
        backup.start()
        backup.join(3)  # a backup of this city takes well under a second when nothing holds it
        waited = backup.is_alive()
        release.set()
        backup.join(60)
        assert jobs.wait_idle(30)
    assert waited and order == ["job", "backup"]
    assert [a.status_code for a in answers] == [200]
