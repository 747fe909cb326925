"""Review attacks on concurrency and killed processes: casework written by two callers at once, a
server killed while an upload job runs, a detection run killed between publishing its rings and
announcing them to case systems.

Each test states a behaviour the product must have; its docstring says what the attack did before the fix.
Races are forced, not hoped for: two requests are held at a barrier inside the store read that both
must pass before either writes (a fixed product that serialises the read and the write lets the
barrier time out and goes on), and a process is killed once a file or its progress says it reached
the point under attack.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.process import start_serve
from graphsvc.config import Settings
from graphsvc.store import GraphStore, open_store
from helpers.api_city import BROKER_PHONE, Cities, City
from test_webhooks import SECRET, Receiver, _hooked, _loaded_not_detected, _subscribe, _verified, receiver  # noqa: F401

RING = "R-000003"
_BARRIER_S = 2.0
"""How long a request held at the barrier waits for the other one; only a product that serialises the
two (a fix) makes it wait that long, and then it goes on."""


@pytest.fixture
def city(cities: Cities, tmp_path: Path) -> Iterator[City]:
    with cities.copy(Settings(home=tmp_path / "home", backend="embedded")) as made:
        yield made


def _held_reads(store: GraphStore, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Make the first two reads of a ``kind`` record wait for each other: both callers then read what
    was stored before either of them wrote, as two requests arriving together do."""
    barrier = threading.Barrier(2, timeout=_BARRIER_S)
    read = store.get_record
    held = [0]
    lock = threading.Lock()

    def get_record(record_kind: str, key: str) -> dict[str, Any] | None:
        found = read(record_kind, key)
        if record_kind == kind:
            with lock:
                held[0] += 1
                mine = held[0] <= 2
            if mine:  # a broken barrier: the other caller was kept out meanwhile (a fix)
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()
        return found

    monkeypatch.setattr(store, "get_record", get_record)


def _at_once(*calls: Any) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


# ---- casework written by two callers at once -------------------------------------------------


def test_two_investigators_deciding_on_one_ring_at_once_lose_neither_decision(city: City, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: two investigators PUT /rings/R-000003/disposition at the same moment (two case
    officers, or a case system and a person).

    Before a fix: ``set_disposition`` reads the ring's record, appends the new decision to its
    history and writes the record back, with nothing keeping a second request out in between. Both
    read the same record; either the two writes collide in DuckDB and one request fails with a bare
    500 (``TransactionException: TransactionContext Error: Current transaction is aborted (please
    ROLLBACK)`` from ``EmbeddedStore._write_tables``: on a real server 11 of 20 simultaneous PUTs
    answered 500), or both answer 200 and the second write replaces the first, so a decision the
    API confirmed is missing from the ring's history (and from the monthly report's count of
    decisions).

    Expected: no 500; each decision answered 200 is in the ring's history (a product that refuses
    the loser of the race with 409 instead is acceptable: nothing is lost silently); the audit log
    has both submissions.
    """
    _held_reads(city.store, monkeypatch, "disposition")
    with TestClient(create_app(Settings(home=tmp_path / "home", backend="embedded"), store=city.store),
                    raise_server_exceptions=False) as client:
        def decide(who: str, status: str) -> Any:
            return lambda: client.put(f"/rings/{RING}/disposition", json={"status": status, "note": f"decided by {who}"},
                                      headers=city.headers("investigator" if who == "wang" else "admin"))

        answers = _at_once(decide("wang", "confirmed"), decide("li", "referred_to_police"))
        codes = [a.status_code for a in answers]
        assert all(code in (200, 409) for code in codes), [a.text for a in answers]
        assert 200 in codes
        ring = client.get(f"/rings/{RING}", headers=city.headers("admin"))
        assert ring.status_code == 200, ring.text
        record = city.store.get_record("disposition", RING)
        assert record is not None
        kept = [h["note"] for h in record["history"]]
        confirmed = [f"decided by {who}" for who, a in zip(("wang", "li"), answers) if a.status_code == 200]
        assert sorted(kept) == sorted(confirmed), (kept, codes)
        audit = client.get("/audit", params={"size": 50}, headers=city.headers("admin")).json()["items"]
        assert sum(1 for e in audit if e["action"] == "set_disposition" and e["target"] == RING) == 2


def test_a_tip_key_sent_twice_at_once_with_different_content_stores_one_and_refuses_the_other(
        city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: two tips with the same ``client_key`` but different content arrive at the same moment
    (two clerks of a case system whose key counter collided, or a resend of an edited tip).

    Before a fix: ``submit_tip`` checks for the key, then stores the tip, with nothing keeping the
    other request out in between. Both find no tip under the key; both are answered 201 Created and
    the second write replaces the first, so a tip whose sender was told it was stored is gone (or the
    two writes collide in DuckDB and one answers a bare 500, ``TransactionException``).

    Expected, as the README promises for a reused key (same key, other content: 409): one request is
    answered 201, the other 409, and the stored tip is the one answered 201.
    """
    _held_reads(city.store, monkeypatch, "tip")
    with TestClient(create_app(Settings(home=tmp_path / "home", backend="embedded"), store=city.store),
                    raise_server_exceptions=False) as client:
        def tip(note: str) -> Any:
            return lambda: client.post("/tips", json={"client_key": "caseys-0001", "type": "phone", "id": BROKER_PHONE,
                                                      "note": note}, headers=city.headers("investigator"))

        answers = _at_once(tip("举报电话：黑中介"), tip("举报电话：另一起"))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201, 409], [a.text for a in answers]
        created = next(a for a in answers if a.status_code == 201).json()
        stored = city.store.get_record("tip", "caseys-0001")
        assert stored is not None and stored["note"] == created["note"]


# ---- a server killed while an upload job runs --------------------------------------------------

_PARTS = 6


def _upload_files(root: Path) -> list[Path]:
    """A 5000-person city's contract files, its settlements in parts so that the job loads for a while."""
    from graphsvc.generate import generate_city

    generated = root / "generated"
    generate_city(generated, persons=5000, seed=5, progress=False)
    files = [p for p in sorted(generated.iterdir()) if p.name != "settlements.csv"]
    with (generated / "settlements.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    size = -(-(len(rows) - 1) // _PARTS)
    for part in range(_PARTS):
        path = root / f"settlements_{part + 1}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([rows[0], *rows[1 + part * size:1 + (part + 1) * size]])
        files.append(path)
    return files


def _killed_while_loading(server: Any, admin: dict[str, str], files: list[Path]) -> str:
    """POST /ingest ``files`` to ``server`` and SIGKILL it as soon as the job is accepted (its files are
    received; it is queued or loading: about a second of work is left); the job's id. Waiting for a
    later stage raced the job: in CI it had finished before a poll saw that stage."""
    try:
        with httpx.Client(base_url=server.base, headers=admin, timeout=120) as client:
            handles = [p.open("rb") for p in files]
            try:
                submitted = client.post("/ingest", files=[("files", (p.name, h, "text/csv"))
                                                          for p, h in zip(files, handles)])
            finally:
                for h in handles:
                    h.close()
        server.process.send_signal(signal.SIGKILL)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        server.process.wait(60)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    return str(job_id)


@pytest.mark.slow  # servers in their own processes
def test_a_server_killed_while_an_upload_job_runs_leaves_no_upload_behind_after_its_restart(cities: Cities,
                                                                                           tmp_path: Path) -> None:
    """Attack: POST /ingest a folder of contract files (insured persons' names, ID numbers, phones,
    claims); SIGKILL the server while the job loads them; start it again.

    Before a fix: the job's folder under HOME/uploads/ (a copy of every uploaded file) stays after the
    restart. ``remove_stale_uploads`` at start-up removes only folders older than 24 hours
    (``STALE_UPLOAD_S``), and nothing removes them later, so the personal data of a job a kill cut off
    stays on disk until a restart a day later, though the job is reported interrupted and will never
    read it. The README promises "The upload folder is removed when its job ends (or at the next
    start, if a stop cut the job off)".

    Expected: after the restart the job is reported interrupted and its upload folder is gone (an
    embedded home is held by one server at a time, so no other server can be receiving into it).
    """
    home = cities.home(tmp_path)
    files = _upload_files(tmp_path / "upload")
    server = start_serve(home)
    admin = {"X-API-Key": (home / "admin-key").read_text().strip()}  # made by the first serve
    job_id = _killed_while_loading(server, admin, files)
    left = list((home / "uploads").glob("upload-*"))
    assert len(left) == 1 and any(left[0].iterdir())  # the job's copy of the upload, cut off mid-load

    restarted = start_serve(home)
    try:
        job = httpx.get(f"{restarted.base}/jobs/{job_id}", headers=admin, timeout=60).json()
        assert job["state"] == "interrupted", job
        assert not list((home / "uploads").glob("upload-*")), "the cut-off job's upload is still on disk"
    finally:
        assert restarted.stop() == 0


# ---- a detection run killed between publishing its rings and announcing them -------------------

_SAVE_THEN_HANG = """
import sys, threading
from pathlib import Path
from graphsvc.store.base import GraphStore

saved = GraphStore.save_rings

def save_then_hang(self, *args, **kwargs):
    run = saved(self, *args, **kwargs)
    Path(sys.argv[1]).write_text(run.run_id)  # the rings are committed: the test kills us here
    threading.Event().wait()

GraphStore.save_rings = save_then_hang
from cli.commands import main
sys.exit(main(sys.argv[2:]))
"""
"""``graphsvc detect`` held right after its run's rings are committed, so that it is killed at that point
and no other (the kill of a process that has stored its rings and not yet told anyone of them)."""


def _subscribed(city: City, receiver: Receiver) -> tuple[Path, dict[str, Any], dict[str, str]]:  # noqa: F811
    """``city``'s home with a case system subscribed to ring.created (its store closed), the
    subscription and the environment a command delivering to it needs."""
    home = city.store.home
    with TestClient(create_app(_hooked(Settings(home=home, backend="embedded")), store=city.store)) as client:
        hook = _subscribe(client, city, receiver.url + "/hook", events=["ring.created"])
    city.store.close()
    env = {**os.environ, "GRAPHSVC_WEBHOOK_HOSTS": "127.0.0.1", "GRAPHSVC_WEBHOOK_PRIVATE_NETWORKS": "127.0.0.1",
           "GRAPHSVC_WEBHOOK_BACKOFF_S": "0.05"}
    return home, hook, env


def _detect_killed_at(script: str, marker: Path, home: Path, env: dict[str, str]) -> None:
    """``graphsvc detect`` run by ``script``, SIGKILLed once it has written ``marker`` (where it hangs)."""
    killed = subprocess.Popen([sys.executable, "-c", script, str(marker), "detect", "--quiet", "--home", str(home)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert killed.poll() is None, killed.stderr.read().decode(errors="replace") if killed.stderr else ""
            assert time.monotonic() < deadline, f"detect never reached {marker.name}"
            time.sleep(0.02)
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.wait(60)


def _detect_again(home: Path, env: dict[str, str], receiver: Receiver) -> list[dict[str, Any]]:  # noqa: F811
    """``graphsvc detect`` run again to the end; what the case system received meanwhile (the command
    returns once its deliveries are made)."""
    again = subprocess.run([sys.executable, "-m", "cli", "detect", "--quiet", "--home", str(home)],
                           capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr
    got: list[dict[str, Any]] = []
    while not receiver.received.empty():
        got.append(_verified(receiver.received.get_nowait()))
    return got


@pytest.fixture
def undetected_home(cities: Cities, tmp_path: Path) -> Iterator[City]:
    with cities.copy(Settings(home=tmp_path / "home", backend="embedded"), _loaded_not_detected) as made:
        yield made


@pytest.mark.slow  # the command in its own processes
def test_rings_a_killed_detect_published_are_still_announced_to_case_systems(undetected_home: City, tmp_path: Path,
                                                                           receiver: Receiver) -> None:  # noqa: F811
    """Attack: a case system subscribes to ring.created; ``graphsvc detect`` is SIGKILLed after it has
    committed its run's rings and before it has announced them (the same gap exists in a server's
    detect job, where the ring book is warmed in between); then detection runs again.

    Before a fix: the rings are stored and served (R-000001..R-000003), but ``detect_and_publish``
    tells the webhooks only after ``save_rings`` returns, and nothing records which runs were
    announced. The next run takes the stored rings as "previous", finds them unchanged and announces
    nothing: the case system never hears of the three rings (no delivery is even logged for them, so
    GET /webhooks/{id}/deliveries shows nothing missing).

    Expected: no announcement is lost to a kill; once detection runs again (or a server starts), the
    case system is sent ring.created for each ring of the killed run (the same event id on a resend
    is fine).
    """
    home, _, env = _subscribed(undetected_home, receiver)
    _detect_killed_at(_SAVE_THEN_HANG, tmp_path / "rings-saved", home, env)
    with open_store(Settings(home=home, backend="embedded")) as store:
        published = sorted(r["id"] for r in store.rings())
    assert published == ["R-000001", "R-000002", "R-000003"]  # committed, served from now on

    got = _detect_again(home, env, receiver)
    announced = sorted({g["data"]["ring"]["id"] for g in got if g["event"] == "ring.created"})
    assert announced == published, f"case systems were never told of {sorted(set(published) - set(announced))}"


_LOG_THEN_HANG = """
import sys, threading
from pathlib import Path
from graphsvc.store.base import GraphStore

put_records = GraphStore.put_records

def put_then_hang(self, kind, records):
    put_records(self, kind, records)
    if kind.startswith("webhook_delivery:"):
        Path(sys.argv[1]).write_text("logged")  # the deliveries are in the log, the process not yet on
        threading.Event().wait()

GraphStore.put_records = put_then_hang
from cli.commands import main
sys.exit(main(sys.argv[2:]))
"""
"""``graphsvc detect`` held once it has logged its run's deliveries and before its outbox names them."""


@pytest.mark.slow  # the command in its own processes
def test_a_delivery_logged_as_pending_when_the_process_was_killed_is_sent_later(undetected_home: City, tmp_path: Path,
                                                                                receiver: Receiver) -> None:  # noqa: F811
    """Attack: a case system subscribes to ring.created; ``graphsvc detect`` (or a server's detect job)
    is SIGKILLed after ``Webhooks._publish`` has stored the run's deliveries (state ``pending``) and
    before it has gone on (the outbox, written ahead since, names them); then detection runs again.

    Before a fix: the three deliveries stay ``pending`` in the log (GET /webhooks/{id}/deliveries shows
    them with a ``next_attempt_at`` in the past) and are never attempted: a process loads only the
    outbox at start, and the next run finds the rings unchanged and publishes nothing. The command
    even prints "0 pending". The module's docstring accepts this ("a crash between the two leaves a
    delivery in the log that is never sent"), but the README promises that "a delivery pending when
    the server stopped is tried again when it starts".

    Expected: the next process that delivers (the next ``graphsvc detect`` here; a server's start
    alike) sends them: the case system gets ring.created for each ring, and no delivery is left
    pending in the log.
    """
    home, hook, env = _subscribed(undetected_home, receiver)
    _detect_killed_at(_LOG_THEN_HANG, tmp_path / "deliveries-logged", home, env)
    with open_store(Settings(home=home, backend="embedded")) as store:
        _, log = store.list_records(f"webhook_delivery:{hook['id']}", limit=100)
    assert sorted(d["state"] for d in log) == ["pending"] * 3 and receiver.received.empty()

    got = _detect_again(home, env, receiver)
    with open_store(Settings(home=home, backend="embedded")) as store:
        _, log = store.list_records(f"webhook_delivery:{hook['id']}", limit=100)
    assert not [d["id"] for d in log if d["state"] == "pending"], "deliveries left pending for ever"
    assert sorted({g["data"]["ring"]["id"] for g in got if g["event"] == "ring.created"}) == [
        "R-000001", "R-000002", "R-000003"]


@pytest.mark.slow  # servers in their own processes
def test_a_job_a_killed_server_cut_off_is_announced_as_finished_after_the_restart(cities: Cities, tmp_path: Path,
                                                                                 receiver: Receiver) -> None:  # noqa: F811
    """Attack: a case system subscribes to job.finished and uploads a folder (POST /ingest); the
    server is SIGKILLed while the job loads it and started again.

    Before a fix: GET /jobs/{id} reports the job ``interrupted`` after the restart, but the case
    system is never told: ``job.finished`` is published only by the job thread when a job it ran
    ends, and a job cut off by a stop is turned into ``interrupted`` only when someone reads it. A case
    system that waits for job.finished before its next step (the README's way to learn a job's
    outcome without polling) waits for ever; a later job's job.finished arrives, this one's never.

    Expected: once the server is up again the cut-off job is announced like any ended job:
    job.finished with its id and state ``interrupted`` (here it must arrive no later than the
    job.finished of a detect job submitted after the restart).
    """
    home = cities.home(tmp_path)
    files = _upload_files(tmp_path / "upload")
    env = {"GRAPHSVC_WEBHOOK_HOSTS": "127.0.0.1", "GRAPHSVC_WEBHOOK_PRIVATE_NETWORKS": "127.0.0.1",
           "GRAPHSVC_WEBHOOK_BACKOFF_S": "0.05"}
    server = start_serve(home, env=env)
    admin = {"X-API-Key": (home / "admin-key").read_text().strip()}  # made by the first serve
    try:
        made = httpx.post(f"{server.base}/webhooks", json={"url": receiver.url + "/hook", "secret": SECRET,
                                                          "events": ["job.finished"]}, headers=admin, timeout=60)
    except BaseException:
        server.process.kill()
        raise
    assert made.status_code == 201, made.text
    killed_job = _killed_while_loading(server, admin, files)
    assert receiver.received.empty()

    restarted = start_serve(home, env=env)
    try:
        assert httpx.get(f"{restarted.base}/jobs/{killed_job}", headers=admin, timeout=60).json()["state"] == "interrupted"
        later = httpx.post(f"{restarted.base}/detect", headers=admin, timeout=60)
        assert later.status_code == 202, later.text
        finished: dict[str, str] = {}
        while later.json()["id"] not in finished:
            job = _verified(receiver.next())["data"]["job"]
            finished[job["id"]] = job["state"]
        assert finished.get(killed_job) == "interrupted", f"told of {finished}, never of the cut-off job {killed_job}"
    finally:
        assert restarted.stop() == 0
