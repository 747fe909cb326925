"""The audit log loses nothing, refusals are audited, keys can be revoked or expire, the home is private.

Attacks and accidents performed for real: a server killed with SIGKILL right after answering,
a store that fails its writes (disk full) for a while, a write-ahead file on a full disk
(``/dev/full``), a wrong or revoked key, a role reaching beyond itself.
"""

from __future__ import annotations

import json
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

import api.deps
from api import create_app
from api.keys import create_api_key, digest
from api.process import start_serve
from graphsvc.config import Settings
from helpers.api_city import City


def _private(home: Path) -> list[str]:
    """Paths under ``home`` that others could read: not 0600 files and 0700 folders."""
    loose = []
    for path in [home, *home.rglob("*")]:
        # serve.log is the test harness's capture of the server's output (api/process.py), not a file graphsvc makes.
        if path.name == "serve.log":
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != (0o700 if path.is_dir() else 0o600):
            loose.append(f"{path.relative_to(home)} {mode:o}")
    return loose


@pytest.mark.slow  # real servers in their own processes
def test_a_killed_server_loses_no_answered_read_and_everything_it_made_is_private(cities, tmp_path):
    home = cities.home(tmp_path)
    server = start_serve(home)
    admin = {"X-API-Key": (home / "admin-key").read_text().strip()}
    try:
        # every read claims to come from elsewhere: no proxy is trusted, so the socket's address is kept
        spoofed = {**admin, "X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
        with httpx.Client(base_url=server.base, headers=spoofed, timeout=30) as http, ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(lambda _: http.get("/rings/R-000003").status_code, range(300)))
        assert codes == [200] * 300
        server.process.kill()  # SIGKILL right after the last answer: no flush, no shutdown
        server.process.wait(timeout=30)
    finally:
        server.stop()
    assert _private(home) == []

    restarted = start_serve(home)
    try:
        log = httpx.get(f"{restarted.base}/audit", params={"size": 1000}, headers=admin, timeout=30).json()
        reads = [e for e in log["items"] if e["action"] == "read_ring"]
        assert len(reads) == 300 and len({e["id"] for e in reads}) == 300
        assert {e["client"].rpartition(":")[0] for e in reads} == {"127.0.0.1"}
        assert log["not_yet_stored"] == 0
        # The killed server's write-ahead folder went once the store had its entries; only the live one is left.
        assert len(list((home / "audit-wal").iterdir())) == 1
        assert _private(home) == []
    finally:
        assert restarted.stop() == 0
    assert not any((home / "audit-wal").iterdir())  # a clean stop stores everything and leaves nothing behind


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home")


def _reads(client: TestClient, city: City) -> list[dict]:
    log = client.get("/audit", params={"size": 1000}, headers=city.headers("admin")).json()
    return [e for e in log["items"] if e["action"] == "read_ring"]


def test_a_failing_store_loses_nothing_and_the_writer_survives_it(city, settings, monkeypatch):
    put_records, failing = city.store.put_records, [True]

    def full_disk(kind: str, records: list) -> None:
        if kind == "audit" and failing[0]:
            raise OSError(28, "No space left on device")
        put_records(kind, records)

    monkeypatch.setattr(city.store, "put_records", full_disk)
    app = create_app(settings, store=city.store)
    with TestClient(app) as client:
        for _ in range(40):
            assert client.get("/rings/R-000003", headers=city.headers("analyst")).status_code == 200
        audit = app.state.services.audit
        deadline = time.monotonic() + 10
        while audit.status()["failures"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        state = audit.status()
        assert state["failures"] >= 3 and state["backlog"] == 40 and state["writer_alive"]
        assert "No space left on device" in state["last_error"]
        health = client.get("/health")  # the operator sees the backlog; reads stay answered
        assert health.status_code == 200 and health.json()["audit"] == {"backlog": 40, "writer_alive": True}
        failing[0] = False
        assert audit.flush(timeout=15)
        assert len(_reads(client, city)) == 40
        assert audit.status()["backlog"] == 0 and audit.status()["writer_alive"]

        # Failing again as the server stops: the entries stay on disk and the next start stores them.
        failing[0] = True
        for _ in range(25):
            assert client.get("/rings/R-000003", headers=city.headers("analyst")).status_code == 200
    left = [line for f in (settings.home / "audit-wal").rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert sum(json.loads(line)["action"] == "read_ring" for line in left) == 25
    failing[0] = False
    with TestClient(create_app(settings, store=city.store)) as client:
        assert len(_reads(client, city)) == 65


def test_a_full_disk_under_the_write_ahead_file_refuses_the_request(city, settings):
    app = create_app(settings, store=city.store)
    with TestClient(app) as client:
        analyst = city.headers("analyst")
        assert client.get("/rings/R-000003", headers=analyst).status_code == 200
        audit = app.state.services.audit
        with audit._file_lock:  # the open segment becomes /dev/full: every write fails with ENOSPC
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, audit._fd)
            os.close(full)
        refused = client.get("/rings/R-000003", headers=analyst)
        assert refused.status_code == 503 and "audit log cannot be written" in refused.json()["detail"]
        assert "No space left on device" in refused.json()["detail"]
        assert "IBI" not in refused.text  # nothing of the ring went out unaudited
        # The log goes on in a new segment (a full disk cannot even be cut back), and the next read is answered.
        assert client.get("/rings/R-000003", headers=analyst).status_code == 200
        assert len(_reads(client, city)) == 2
        assert audit.status()["writer_alive"]


def test_denials_and_wrong_keys_are_audited_without_the_key(city, settings):
    with TestClient(create_app(settings, store=city.store)) as client:
        assert client.get("/apikeys", headers=city.headers("analyst")).status_code == 403
        wrong = "gsk_" + "x" * 43
        assert client.get("/rings", headers={"X-API-Key": wrong}).status_code == 401
        assert client.get("/rings").status_code == 401  # no key at all: nobody to audit
        # a ring not referred to police, and one that does not exist, refused inside the route
        assert client.get("/rings/R-000003", headers=city.headers("police_liaison")).status_code == 403
        assert client.get("/rings/R-999999/export", headers=city.headers("investigator")).status_code == 404
        log = client.get("/audit", params={"size": 1000}, headers=city.headers("admin"))
    entries = log.json()["items"]
    denials = {(e["key_id"], e["role"], e["target"]) for e in entries if e["action"] == "denied"}
    analyst_id = digest(city.keys["analyst"])[:12]
    police_id = digest(city.keys["police_liaison"])[:12]
    assert denials == {(analyst_id, "analyst", "GET /apikeys"), (police_id, "police_liaison", "R-000003")}
    assert all(e["client"].startswith("testclient:") for e in entries if e["action"] == "denied")
    [missed] = [e for e in entries if e["action"] == "lookup_missed"]
    assert (missed["role"], missed["target"], missed["detail"]["lookup"]) == ("investigator", "R-999999", "export_ring")
    [unknown] = [e for e in entries if e["action"] == "unknown_key"]
    assert (unknown["key_id"], unknown["target"]) == (digest(wrong)[:12], "GET /rings")
    assert wrong not in log.text and wrong[4:20] not in log.text


def test_a_revoked_or_expired_key_is_refused(city, settings, monkeypatch):
    monkeypatch.setattr(api.deps, "_KEY_CACHE_S", 1.0)
    admin = city.headers("admin")
    with TestClient(create_app(settings, store=city.store)) as here, \
            TestClient(create_app(settings, store=city.store)) as elsewhere:
        made = here.post("/apikeys", json={"role": "analyst", "name": "temp"}, headers=admin).json()
        key = {"X-API-Key": made["key"]}
        assert here.get("/rings", headers=key).status_code == 200
        assert elsewhere.get("/rings", headers=key).status_code == 200  # now trusted there for the cache time

        assert here.delete(f"/apikeys/{made['key_id']}", headers=city.headers("investigator")).status_code == 403
        revoked = here.delete(f"/apikeys/{made['key_id']}", headers=admin)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert here.get("/rings", headers=key).status_code == 401  # at once on the server that revoked it
        time.sleep(1.1)
        assert elsewhere.get("/rings", headers=key).status_code == 401  # within the cache time elsewhere
        listed = {k["key_id"]: k for k in here.get("/apikeys", headers=admin).json()["items"]}
        assert listed[made["key_id"]]["revoked_at"] == revoked.json()["revoked_at"]

        assert here.delete("/apikeys/000000000000", headers=admin).status_code == 404
        assert here.delete("/apikeys/env-admin", headers=admin).status_code == 409

        past = (datetime.now().astimezone() - timedelta(minutes=1)).isoformat()
        assert here.post("/apikeys", json={"role": "analyst", "name": "t", "expires_at": past},
                         headers=admin).status_code == 422
        until = (datetime.now().astimezone() + timedelta(days=30)).isoformat(timespec="seconds")
        lasting = here.post("/apikeys", json={"role": "analyst", "name": "month", "expires_at": until}, headers=admin)
        assert lasting.status_code == 201
        assert here.get("/rings", headers={"X-API-Key": lasting.json()["key"]}).status_code == 200
        expired, _ = create_api_key(city.store, "analyst", "expired", expires_at=datetime.now() - timedelta(seconds=1))
        assert here.get("/rings", headers={"X-API-Key": expired}).status_code == 401

        actions = {(e["action"], e["target"]) for e in here.get("/audit", headers=admin).json()["items"]}
    assert ("revoke_api_key", made["key_id"]) in actions and ("unknown_key", "GET /rings") in actions
