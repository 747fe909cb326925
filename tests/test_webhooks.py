"""Webhooks: a real HTTP receiver on loopback is told of new rings, dispositions and jobs, signed,
retried after a failure and after a restart; targets that could reach inside the network are refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.keys import create_api_key
from api.models import RingSummary
from api.webhooks import EVENTS, SIGNATURE_HEADER
from graphsvc.config import Settings
from graphsvc.store import GraphStore, open_store
from helpers.api_city import BROKER_PHONE, Cities, City, city_scene
from ingest.pipeline import ingest_folder

SECRET = "a-case-system-secret-0042"
WAIT_S = 60.0
"""The longest wait for a delivery; a passing run waits well under a second for each."""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """A case system's endpoint: an HTTP server in a thread that answers the statuses queued in
    ``answers`` (then 200) and hands each request to the test."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.received: queue.Queue[Received] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = receiver.answers.pop(0) if receiver.answers else 200
                receiver.received.put(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, code))
                answer = b"boom" if code >= 500 else b"ok"
                self.send_response(code)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def next(self) -> Received:
        return self.received.get(timeout=WAIT_S)

    def take(self, n: int) -> list[Received]:
        got: list[Received] = []
        try:
            while len(got) < n:
                got.append(self.next())
        except queue.Empty:
            raise AssertionError(f"{len(got)} of {n} requests came: {[g.body[:80] for g in got]}") from None
        return got

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _loaded_not_detected(store: GraphStore, tmp_path: Path) -> City:
    """The API test city loaded but not detected yet: a detection job then creates its three rings."""
    scene, facts = city_scene()
    folder = scene.write_folder(tmp_path / "city")
    ingest_folder(store, folder, rejects_dir=tmp_path / "rejects", progress=False)
    keys = {role: create_api_key(store, role, f"{role} tester")[0] for role in ("admin", "investigator", "analyst")}
    return City(store, keys, facts["bi"], facts["cc"], facts["im"], facts["family"], folder)


@pytest.fixture
def undetected(cities: Cities, settings: Settings) -> Iterator[City]:
    with cities.copy(settings, _loaded_not_detected) as city:
        yield city


def _hooked(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"webhook_hosts": "127.0.0.1", "webhook_private_networks": "127.0.0.1",
                                       "webhook_backoff_s": 0.05, **changes})


def _verified(got: Received, secret: str = SECRET) -> dict[str, Any]:
    """The payload, once its signature is checked as a receiver would (README)."""
    fields = dict(part.split("=", 1) for part in got.headers[SIGNATURE_HEADER.lower()].split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert abs(time.time() - int(fields["t"])) < 300
    payload = got.payload
    assert got.headers["x-graphsvc-event"] == payload["event"] and got.headers["x-graphsvc-delivery"] == payload["id"]
    return payload


def _subscribe(client: TestClient, city: City, url: str, **body: Any) -> dict[str, Any]:
    made = client.post("/webhooks", json={"url": url, "secret": SECRET, **body}, headers=city.headers("admin"))
    assert made.status_code == 201, made.text
    return made.json()


def test_new_rings_dispositions_and_jobs_are_posted_signed_and_a_failure_is_retried(undetected, settings, receiver):
    city = undetected
    receiver.answers = [500]  # the case system fails once
    app = create_app(_hooked(settings), store=city.store)
    with TestClient(app) as client:
        hook = _subscribe(client, city, receiver.url + "/hook")
        assert hook["events"] == list(EVENTS) and hook["secret_hint"] == "…" + SECRET[-4:]
        assert SECRET not in json.dumps(client.get("/webhooks", headers=city.headers("admin")).json())

        job = client.post("/detect", headers=city.headers("investigator")).json()
        assert app.state.services.jobs.wait_idle(WAIT_S)
        assert client.get(f"/jobs/{job['id']}", headers=city.headers("admin")).json()["state"] == "succeeded"
        # three new rings and the job's end, one of them sent twice: refused with 500, then retried
        got = receiver.take(5)
        payloads = [_verified(g) for g in got]
        assert [g.answered for g in got].count(500) == 1 and got[0].answered == 500
        failed = payloads[0]["id"]
        assert [p["id"] for p in payloads].count(failed) == 2  # a retry carries the same id: idempotency
        created = {p["data"]["ring"]["id"]: p for p in payloads if p["event"] == "ring.created"}
        assert sorted(created) == ["R-000001", "R-000002", "R-000003"]
        finished = next(p for p in payloads if p["event"] == "job.finished")["data"]["job"]
        assert finished["id"] == job["id"] and finished["kind"] == "detect" and finished["state"] == "succeeded"
        assert finished["result"]["new_ids"] == 3

        ring = created["R-000003"]["data"]["ring"]
        assert ring["pattern"] == "black_intermediary" and ring["persons"] == len(city.bi["persons"])
        assert set(ring) == set(RingSummary.model_fields) | {"run_id"} and ring["disposition"] == {"status": "open"}
        raw = b"".join(g.body for g in got)
        assert BROKER_PHONE.encode() not in raw and b"6222000000000001" not in raw  # identities stay in the API

        assert app.state.services.webhooks.wait_idle(WAIT_S)
        log = client.get(f"/webhooks/{hook['id']}/deliveries", headers=city.headers("admin")).json()
        assert log["total"] == 4 and all(d["state"] == "delivered" and d["next_attempt_at"] is None
                                         for d in log["items"])
        retried = next(d for d in log["items"] if d["event_id"] == failed)
        assert [(a["attempt"], a["status_code"], a["response"]) for a in retried["attempts"]] == [
            (1, 500, "boom"), (2, 200, "ok")]

        note = f"电话 {BROKER_PHONE} 已核实"
        put = client.put("/rings/R-000003/disposition", json={"status": "confirmed", "note": note},
                         headers=city.headers("investigator"))
        assert put.status_code == 200
        changed = _verified(receiver.next())
        assert changed["event"] == "disposition.changed" and changed["data"]["previous_status"] == "open"
        assert changed["data"]["ring"]["id"] == "R-000003"
        assert changed["data"]["ring"]["disposition"]["status"] == "confirmed"
        assert "note" not in changed["data"]["ring"]["disposition"] and BROKER_PHONE not in json.dumps(changed)


def test_a_deleted_webhook_gets_nothing_more(city, settings, receiver):
    app = create_app(_hooked(settings), store=city.store)
    with TestClient(app) as client:
        admin = city.headers("admin")
        gone = _subscribe(client, city, receiver.url + "/gone")
        kept = _subscribe(client, city, receiver.url + "/kept", events=["disposition.changed"])
        deleted = client.delete(f"/webhooks/{gone['id']}", headers=admin)
        assert deleted.status_code == 200 and deleted.json()["deleted_at"] and "secret" not in deleted.json()
        assert client.delete(f"/webhooks/{gone['id']}", headers=admin).status_code == 404
        assert [w["id"] for w in client.get("/webhooks", headers=admin).json()["items"]] == [kept["id"]]

        client.put("/rings/R-000001/disposition", json={"status": "dismissed"}, headers=city.headers("investigator"))
        got = receiver.next()
        assert got.path == "/kept" and _verified(got)["data"]["ring"]["id"] == "R-000001"
        assert app.state.services.webhooks.wait_idle(WAIT_S)
        assert receiver.received.empty()  # nothing went to the deleted one
        log = client.get(f"/webhooks/{gone['id']}/deliveries", headers=admin).json()
        assert log["total"] == 0


def test_a_delivery_pending_at_a_restart_is_made_after_it(city, settings, receiver):
    receiver.answers = [503]
    # A retry an hour away: the server stops before it.
    with TestClient(create_app(_hooked(settings, webhook_backoff_s=3600), store=city.store)) as client:
        hook = _subscribe(client, city, receiver.url, events=["disposition.changed"])
        client.put("/rings/R-000002/disposition", json={"status": "confirmed"}, headers=city.headers("investigator"))
        first = receiver.next()
        assert first.answered == 503
    app = create_app(_hooked(settings), store=city.store)
    with TestClient(app) as restarted:
        again = receiver.next()
        assert again.answered == 200 and _verified(again)["id"] == _verified(first)["id"]
        assert app.state.services.webhooks.wait_idle(WAIT_S)
        log = restarted.get(f"/webhooks/{hook['id']}/deliveries", headers=city.headers("admin")).json()
        assert [a["status_code"] for a in log["items"][0]["attempts"]] == [503, 200]
        assert log["items"][0]["state"] == "delivered"


def test_a_delivery_named_in_the_outbox_but_never_logged_is_dropped_at_the_start(city, settings, receiver):
    """The outbox is written ahead of the log: a process killed between the two leaves an id with no
    delivery. The next start tries it, finds nothing to send and drops it; what was logged is sent."""
    from api.webhooks import _OUTBOX, _outbox_id

    with TestClient(create_app(_hooked(settings), store=city.store)) as client:
        hook = _subscribe(client, city, receiver.url, events=["disposition.changed"])
    assert city.store.get_record(_OUTBOX, _outbox_id(settings.home)) in (None, {"deliveries": {}})
    city.store.put_record(_OUTBOX, _outbox_id(settings.home), {"deliveries": {"dlv_never_logged": hook["id"]}})
    app = create_app(_hooked(settings), store=city.store)
    with TestClient(app) as restarted:
        assert app.state.services.webhooks.wait_idle(WAIT_S)
        assert city.store.get_record(_OUTBOX, _outbox_id(settings.home)) == {"deliveries": {}}
        assert app.state.services.webhooks.counts() == (0, 0, 0)
        restarted.put("/rings/R-000002/disposition", json={"status": "confirmed"}, headers=city.headers("investigator"))
        assert _verified(receiver.next())["event"] == "disposition.changed"
    assert receiver.received.empty()


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)  # checks made before anything is stored
def test_only_admins_subscribe_and_only_to_allowed_public_or_listed_targets(city, settings, receiver):
    admin = city.headers("admin")
    with TestClient(create_app(settings, store=city.store)) as client:  # no host allowed: webhooks are off
        off = client.post("/webhooks", json={"url": receiver.url, "secret": SECRET}, headers=admin)
        assert off.status_code == 422 and "GRAPHSVC_WEBHOOK_HOSTS" in off.json()["detail"]
    allowed = _hooked(settings, webhook_hosts="127.0.0.1,10.20.30.40,localhost.", webhook_private_networks="",
                      webhook_max_subscriptions=1)
    with TestClient(create_app(allowed, store=city.store)) as client:
        def refused(url: str, secret: str = SECRET, **body: Any) -> str:
            answer = client.post("/webhooks", json={"url": url, "secret": secret, **body}, headers=admin)
            assert answer.status_code == 422, answer.text
            return json.dumps(answer.json()["detail"])

        assert "not among the allowed" in refused("https://casesys.example.org/hook")
        assert "private" in refused("http://10.20.30.40/hook")
        assert "loopback" in refused(receiver.url)  # allowed by name, but loopback is not listed
        assert "loopback" in refused("http://localhost/hook")
        assert "http://" in refused("ftp://127.0.0.1/hook")
        assert "http://" in refused("file:///etc/passwd")
        assert "password" in refused("http://user:pw@127.0.0.1/hook")
        assert "not a URL" in refused("http://[::1/hook") and "not a URL" in refused("http://127.0.0.1:99999/")
        assert "16" in refused(receiver.url, secret="short")
        assert "events" in refused(receiver.url, events=["ring.deleted"])
        for role in ("investigator", "analyst"):
            assert client.post("/webhooks", json={"url": receiver.url, "secret": SECRET},
                               headers=city.headers(role)).status_code == 403
            assert client.get("/webhooks", headers=city.headers(role)).status_code == 403
    with TestClient(create_app(_hooked(settings, webhook_max_subscriptions=1), store=city.store)) as client:
        made = _subscribe(client, city, receiver.url)
        assert client.post("/webhooks", json={"url": receiver.url, "secret": SECRET}, headers=admin).status_code == 409
        assert client.get("/webhooks/WH-nothing/deliveries", headers=admin).status_code == 404
        client.get("/webhooks", headers=admin)
        assert client.delete(f"/webhooks/{made['id']}", headers=admin).status_code == 200
        audit = client.get("/audit", params={"size": 1000}, headers=admin).json()["items"]
        actions = {(e["action"], e["target"]) for e in audit}
        assert {("create_webhook", made["id"]), ("list_webhooks", "webhooks"),
                ("delete_webhook", made["id"])} <= actions
        assert SECRET not in json.dumps(audit)


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)  # the comparison of two runs' rings
def test_a_run_announces_new_changed_and_reopened_rings_and_nothing_for_the_same(city, settings, receiver):
    app = create_app(_hooked(settings), store=city.store)
    with TestClient(app) as client:
        _subscribe(client, city, receiver.url, events=["ring.created", "ring.updated", "ring.reopened"])
        client.put("/rings/R-000001/disposition", json={"status": "dismissed"}, headers=city.headers("investigator"))
        r1, r2, r3 = (city.store.ring(f"R-00000{i}") for i in (1, 2, 3))
        assert r1 is not None and r2 is not None and r3 is not None
        grown = {**r1, "evidence": [*r1["evidence"], r1["evidence"][0]]}  # one more fact: the dismissal is reopened
        dearer = {**r2, "fund_amount": r2["fund_amount"] + 100}
        # R-000003 is new to this run; an unchanged ring (R-000003 in the second run) is not announced
        app.state.services.webhooks.rings_published([r1, r2], [grown, dearer, r3])
        app.state.services.webhooks.rings_published([grown, dearer, r3], [grown, dearer, r3])
        got = {(p["event"], p["data"]["ring"]["id"]) for p in map(_verified, receiver.take(4))}
        assert got == {("ring.updated", "R-000001"), ("ring.reopened", "R-000001"), ("ring.updated", "R-000002"),
                       ("ring.created", "R-000003")}
        assert app.state.services.webhooks.wait_idle(WAIT_S) and receiver.received.empty()


@pytest.mark.parametrize("settings", ["embedded"], indirect=True)
def test_a_target_no_longer_allowed_is_not_posted_to(city, settings, receiver):
    with TestClient(create_app(_hooked(settings), store=city.store)) as client:
        hook = _subscribe(client, city, receiver.url, events=["disposition.changed"])
    # Loopback is allowed no more (or the name now resolves elsewhere): checked again before each attempt.
    app = create_app(_hooked(settings, webhook_private_networks="", webhook_attempts=1), store=city.store)
    with TestClient(app) as client:
        client.put("/rings/R-000002/disposition", json={"status": "confirmed"}, headers=city.headers("investigator"))
        assert app.state.services.webhooks.wait_idle(WAIT_S)
        [delivery] = client.get(f"/webhooks/{hook['id']}/deliveries", headers=city.headers("admin")).json()["items"]
        [attempt] = delivery["attempts"]
        assert delivery["state"] == "failed" and attempt["status_code"] is None
        assert attempt["error"].startswith("target refused") and "loopback" in attempt["error"]
    assert receiver.received.empty()


def test_an_attempt_ends_at_its_time_limit_however_the_receiver_drips(city, settings):
    """httpx's timeout is per read; a receiver sending a header line every 0.1 s never trips it. The
    attempt's own time limit (webhook_timeout_s, 0.5 s here) ends it and its log says so."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def drip() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.1):
                try:
                    conn.sendall(b"X-Slow: 1\r\n")
                except OSError:  # the client shut its end at its time limit
                    return

    threading.Thread(target=drip, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/"
    app = create_app(_hooked(settings, webhook_timeout_s=0.5, webhook_attempts=1), store=city.store)
    try:
        with TestClient(app) as client:
            hook = _subscribe(client, city, url, events=["disposition.changed"])
            started = time.monotonic()
            client.put("/rings/R-000002/disposition", json={"status": "confirmed"}, headers=city.headers("investigator"))
            assert app.state.services.webhooks.wait_idle(WAIT_S)
            took = time.monotonic() - started
            [delivery] = client.get(f"/webhooks/{hook['id']}/deliveries", headers=city.headers("admin")).json()["items"]
    finally:
        stop.set()
        server.close()
    [attempt] = delivery["attempts"]
    assert delivery["state"] == "failed" and attempt["status_code"] is None
    assert attempt["error"] == "no complete answer within 0.5 s (the attempt's time limit)"
    assert took < 2.0, took


@pytest.mark.slow  # the command in its own process
@pytest.mark.parametrize("settings", ["embedded"], indirect=True)  # the command and the store in one home
def test_graphsvc_detect_on_the_command_line_tells_case_systems_too(undetected, settings, receiver):
    """``graphsvc detect`` announces the run's new rings as the server's detect job does, and a delivery a
    stopped server left pending goes out with them instead of being dropped from the outbox."""
    city = undetected
    receiver.answers = [503]
    app = create_app(_hooked(settings, webhook_backoff_s=3600), store=city.store)
    with TestClient(app) as client:
        hook = _subscribe(client, city, receiver.url + "/hook")
        app.state.services.webhooks.publish("job.finished", {"job": {"id": "J-before-the-stop"}})
        assert receiver.next().answered == 503  # its retry is an hour away: the server stops before it
    city.store.close()
    env = {**os.environ, "GRAPHSVC_WEBHOOK_HOSTS": "127.0.0.1", "GRAPHSVC_WEBHOOK_PRIVATE_NETWORKS": "127.0.0.1"}
    done = subprocess.run([sys.executable, "-m", "cli", "detect", "--quiet", "--home", str(settings.home)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    got = [_verified(receiver.next()) for _ in range(4)]
    assert all(g["event"] == "ring.created" for g in got if g["event"] != "job.finished")
    assert sorted(g["data"]["ring"]["id"] for g in got if g["event"] == "ring.created") == [
        "R-000001", "R-000002", "R-000003"]
    assert [g["data"]["job"]["id"] for g in got if g["event"] == "job.finished"] == ["J-before-the-stop"]
    assert "已送达 4 次，投递失败 0 次，待重试 0 次" in done.stdout and "(4 deliveries made, 0 failed" in done.stdout
    assert BROKER_PHONE not in done.stdout
    with open_store(settings) as store:
        _, log = store.list_records(f"webhook_delivery:{hook['id']}", limit=10)
    assert sorted(d["state"] for d in log) == ["delivered"] * 4
