"""The API as deployed: `graphsvc serve` in its own process, spoken to over real HTTP on loopback.

The store is prepared with the CLI (ingest, detect, apikey), the server is started the way
the README says, and its answers are compared with the in-process app's on the same store
once the server has stopped (the embedded store has one writer at a time).
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.process import start_serve
from graphsvc.config import Settings
from graphsvc.store import open_store
from helpers.api_city import BROKER_PHONE
from queries.export import verify_manifest

pytestmark = pytest.mark.slow  # a real server in its own process


@pytest.fixture
def served(cities, tmp_path):
    home = cities.home(tmp_path)
    server = start_serve(home)
    try:
        yield {"base": server.base, "home": home, "server": server, "admin": (home / "admin-key").read_text().strip()}
    finally:
        server.stop()


def test_real_server_answers_like_the_in_process_app_and_keeps_its_audit(served):
    """First run: no key yet, so serve made an admin key (mode 600); the admin makes an analyst key over HTTP."""
    base, admin = served["base"], {"X-API-Key": served["admin"]}
    assert oct((served["home"] / "admin-key").stat().st_mode & 0o777) == "0o600"
    over_http = {url: httpx.get(base + url, headers=admin, timeout=30).json()
                 for url in ("/rings", "/rings/R-000003", "/entities/intermediary/IBI/network?hops=2",
                             "/paths?from=person:BI000&to=person:BI005")}
    assert [r["id"] for r in over_http["/rings"]["items"]] == ["R-000001", "R-000002", "R-000003"]
    analyst = httpx.post(f"{base}/apikeys", json={"role": "analyst", "name": "analyst over http"}, headers=admin,
                         timeout=30).json()["key"]
    masked = httpx.get(f"{base}/rings/R-000003", headers={"X-API-Key": analyst}, timeout=30)
    assert masked.status_code == 200 and BROKER_PHONE not in masked.text
    assert httpx.get(f"{base}/rings", timeout=30).status_code == 401
    package = httpx.get(f"{base}/rings/R-000003/export", params={"format": "xlsx"}, headers=admin, timeout=60)
    with zipfile.ZipFile(io.BytesIO(package.content)) as z:
        assert verify_manifest({n.split("/", 1)[1]: z.read(n) for n in z.namelist()}) == []
    spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
    assert {"/rings", "/rings/{ring_id}", "/rings/{ring_id}/export", "/paths", "/search", "/audit"} <= set(spec["paths"])
    docs = httpx.get(f"{base}/docs", timeout=30)
    assert docs.status_code == 200 and "cdn" not in docs.text  # closed networks: Swagger UI comes from the server
    script = docs.text.split('<script src="')[1].split('"')[0]
    assert httpx.get(base + script, timeout=30).status_code == 200

    assert served["server"].stop() == 0  # a clean stop (Ctrl-C) flushes the audit log

    settings = Settings(home=served["home"])
    with open_store(settings) as store:
        _, audit = store.list_records("audit", limit=100)
        actions = {(e["action"], e["target"], e["role"]) for e in audit}
        assert {("read_ring", "R-000003", "admin"), ("read_ring", "R-000003", "analyst"),
                ("export_ring", "R-000003", "admin"), ("read_network", "intermediary:IBI", "admin")} <= actions
        assert all(e["client"].startswith("127.0.0.1:") for e in audit)
        with TestClient(create_app(settings, store=store)) as client:
            for url, answer in over_http.items():
                assert client.get(url, headers=admin).json() == answer, url


def test_more_heavy_reads_than_server_threads_are_all_answered(served):
    """60 network reads at once, more than the 40 threads of the server's pool, with one bulkhead slot.

    The bulkhead used to be a semaphore taken by a sync dependency in a pool thread: 40 waiting
    requests held every thread, the one holding the slot got none to run its route on, and the
    server answered nothing again, not even /health (found by bench/scale_benchmark.py).
    """
    base, admin = served["base"], {"X-API-Key": served["admin"]}
    urls = [f"/entities/person/BI00{i % 6}/network?hops=2" for i in range(60)]

    async def all_at_once() -> list[int]:
        limits = httpx.Limits(max_connections=len(urls))
        async with httpx.AsyncClient(base_url=base, headers=admin, limits=limits, timeout=60) as client:
            answers = await asyncio.gather(*(client.get(url) for url in urls))
        return [a.status_code for a in answers]

    assert asyncio.run(all_at_once()) == [200] * len(urls)
    assert httpx.get(f"{base}/health", timeout=10).status_code == 200


def test_only_a_serving_process_freezes_what_start_up_and_warming_made(cities, tmp_path):
    """``graphsvc serve`` (``own_process``) moves start-up's objects and the warmed rings out of the
    collector's full passes (150-200 ms each at 1M persons, every few seconds under load); an app
    made in a process that makes many, as here, freezes nothing: its garbage must stay collectable."""
    import gc

    settings = Settings(home=cities.home(tmp_path))
    gc.unfreeze()
    try:
        with open_store(settings) as store:
            with TestClient(create_app(settings, store=store)) as client:
                assert client.get("/health").status_code == 200
            assert gc.get_freeze_count() == 0
            app = create_app(settings, store=store, own_process=True)
            with TestClient(app) as client:
                assert client.get("/health").status_code == 200
            # the lifespan waits for the warming thread on shutdown: its rings are warm, then frozen
            details = app.state.services.book.snapshot().details
            assert details and gc.get_freeze_count() > 10_000
            detail = next(iter(details.values()))
            assert not any(o is detail for o in gc.get_objects())  # frozen objects are out of the collector's sight
            # a detection run published later is warmed and frozen in its turn
            from graphsvc.detect import DetectionConfig
            from services import detect_and_publish

            gc.unfreeze()
            detect_and_publish(store, DetectionConfig(), book=app.state.services.book)
            details = app.state.services.book.snapshot().details
            detail = next(iter(details.values()))
            assert gc.get_freeze_count() > 10_000 and not any(o is detail for o in gc.get_objects())
    finally:
        gc.unfreeze()


def test_one_thread_rereads_stale_casework_and_the_others_answer_from_the_last_read(cities, tmp_path, monkeypatch):
    """Once a second the book's casework grows stale; when every server thread that found it so
    read the store, 40 of them read it together and that second's requests all waited."""
    import threading
    import time

    from queries import rings as ring_book

    with cities.copy(Settings(home=tmp_path / "home")) as city:
        book = ring_book.RingBook(city.store)
        first = book.casework()
        reads: list[str] = []
        real = city.store.list_records

        def slow(kind: str, **kwargs: object) -> object:
            reads.append(kind)
            time.sleep(0.5)
            return real(kind, **kwargs)

        monkeypatch.setattr(city.store, "list_records", slow)
        monkeypatch.setattr(ring_book, "_STALE_AFTER_S", 0.2)
        time.sleep(0.3)  # stale now
        answered: list[tuple[object, float]] = []

        def ask() -> None:
            started = time.perf_counter()
            answered.append((book.casework(), time.perf_counter() - started))

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert reads == ["disposition", "tip"]  # one thread read the store
        quick = [took for work, took in answered if work is first]
        assert len(quick) == 7 and max(quick) < 0.5  # the others did not wait for it
        # A write is read back at once, however fresh the copy: the next caller waits for a new read.
        from queries.casework import set_disposition

        monkeypatch.setattr(city.store, "list_records", real)
        monkeypatch.setattr(ring_book, "_STALE_AFTER_S", 60.0)
        ring = book.snapshot().rings[0]
        assert ring["id"] not in book.casework().dispositions  # a fresh copy, kept for a minute
        set_disposition(city.store, ring, "confirmed", "seen", by="tester")
        assert ring["id"] not in book.casework().dispositions  # the copy is kept: nobody said it changed
        book.casework_changed()
        assert book.casework().dispositions[ring["id"]]["status"] == "confirmed"


def test_one_health_probe_reads_the_store_and_the_others_answer_from_its_last_answer(cities, tmp_path, monkeypatch):
    """/health reads the store at most once a second; when every probe that found that second over
    read it, 40 threads read it at once and every probe of that second waited (p99 350 ms at 1M).
    A store that fails its read is still reported by the probe that reads it, and once the last
    answer is too old to vouch for the store, every probe waits for the read in flight."""
    import threading
    import time

    from fastapi import Response
    from fastapi.routing import APIRoute

    import api.app

    monkeypatch.setattr(api.app, "_STORE_CHECK_S", 0.2)
    with open_store(Settings(home=cities.home(tmp_path))) as store:
        app = create_app(Settings(home=tmp_path / "home"), store=store)
        health = next(r.endpoint for r in app.routes if isinstance(r, APIRoute) and r.path == "/health")
        assert health(Response()).status == "ok"  # the first probe reads the store
        reads: list[float] = []
        real = store.check

        def slow(*, thorough: bool = False) -> None:
            reads.append(time.perf_counter())
            time.sleep(0.4)
            real(thorough=thorough)

        monkeypatch.setattr(store, "check", slow)
        time.sleep(0.3)  # its answer is over the 0.2 s, within three times that

        def probe(out: list[tuple[str, float]]) -> None:
            started = time.perf_counter()
            out.append((health(Response()).status, time.perf_counter() - started))

        answered: list[tuple[str, float]] = []
        threads = [threading.Thread(target=probe, args=(answered,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(reads) == 1 and [status for status, _ in answered] == ["ok"] * 8
        assert sorted(took for _, took in answered)[:7][-1] < 0.4  # seven answered without waiting for it

        def broken(*, thorough: bool = False) -> None:
            reads.append(time.perf_counter())
            raise OSError("disk gone")

        monkeypatch.setattr(store, "check", broken)
        time.sleep(0.7)  # the last answer is over three times 0.2 s old: no probe may vouch for the store
        answered.clear()
        threads = [threading.Thread(target=probe, args=(answered,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [status for status, _ in answered] == ["unavailable"] * 4


def test_casework_reads_keep_up_with_a_stream_of_writes(cities, tmp_path, monkeypatch):
    """Writes arriving faster than a read takes (a case system posting tips in bulk): each caller
    waits for the read in flight and the next at most, never for a queue of reads."""
    import threading
    import time

    from queries import rings as ring_book

    with cities.copy(Settings(home=tmp_path / "home")) as city:
        book = ring_book.RingBook(city.store)
        book.casework()
        real = city.store.list_records

        def slow(kind: str, **kwargs: object) -> object:
            time.sleep(0.1)  # a read of both kinds: 0.2 s
            return real(kind, **kwargs)

        monkeypatch.setattr(city.store, "list_records", slow)
        stop = threading.Event()
        waits: list[float] = []

        def write() -> None:
            while not stop.is_set():
                book.casework_changed()
                stop.wait(0.15)

        def read() -> None:
            for _ in range(5):
                started = time.perf_counter()
                book.casework()
                waits.append(time.perf_counter() - started)

        writer = threading.Thread(target=write)
        readers = [threading.Thread(target=read) for _ in range(16)]
        writer.start()
        for thread in readers:
            thread.start()
        for thread in readers:
            thread.join()
        stop.set()
        writer.join()
        assert len(waits) == 80 and max(waits) < 1.0  # two reads are 0.4 s; a queue of them was seconds


def test_the_ordered_queue_is_kept_per_casework_read_filter_role_and_sort(cities, tmp_path, monkeypatch):
    """Each page of /rings rebuilt the whole queue (dispositions, priorities, a sort): O(rings) per
    request, /rings p99 450 ms at 425 rings under 50 clients. It is kept now, and must still show a
    write at once and never answer one filter, role or order with another's queue."""
    from queries import rings as ring_book
    from queries.casework import set_disposition
    from queries.masking import Masker

    with cities.copy(Settings(home=tmp_path / "home")) as city:
        monkeypatch.setattr(ring_book, "_STALE_AFTER_S", 60.0)
        book = ring_book.RingBook(city.store)
        built: list[ring_book.RingFilter] = []
        real = ring_book._queue

        def counted(book_: ring_book.RingBook, snap: ring_book._Snapshot, casework: ring_book._Casework,
                    flt: ring_book.RingFilter, masker: Masker) -> list[dict[str, Any]]:
            built.append(flt)
            return real(book_, snap, casework, flt, masker)

        monkeypatch.setattr(ring_book, "_queue", counted)
        everyone, analyst = Masker("investigator", secret="s" * 32), Masker("analyst", secret="s" * 32)
        plain = ring_book.RingFilter()

        def ids(flt: ring_book.RingFilter = plain, masker: Masker = everyone, *, sort: str = "priority",
                descending: bool = True, page: int = 1, size: int = 50) -> list[str]:
            page_ = ring_book.list_rings(book, flt, masker, sort=sort, descending=descending, page=page, size=size)
            return [r["id"] for r in page_["items"]]

        first = ids()
        assert ids() == first and ids(page=1, size=1) == first[:1] and len(built) == 1  # kept across pages
        assert ids(sort="id", descending=False) == sorted(first) and len(built) == 2
        assert ids(sort="id", descending=True) == sorted(first, reverse=True) and len(built) == 3
        assert ids(masker=analyst) == first and len(built) == 4
        only = ring_book.RingFilter(pattern=(book.snapshot().by_id[first[0]]["pattern"],))
        assert first[0] in ids(only) and len(built) == 5
        # A dismissal leaves the default queue as soon as the writer says it wrote
        ring = book.snapshot().by_id[first[0]]
        set_disposition(city.store, ring, "dismissed", "look-alike", by="tester")
        book.casework_changed()
        assert ids() == first[1:] and len(built) == 6
        assert ids(ring_book.RingFilter(status=("dismissed",))) == [first[0]]
        kept = book.snapshot().queues
        assert kept.read is book.casework() and len(kept.kept) == 2  # the older read's queues are gone
        # Past the bound the oldest queue goes, not all of them (a webhook's or a caller's filters
        # would otherwise keep emptying the queue everyone pages through).
        monkeypatch.setattr(ring_book, "_QUEUES_KEPT", 2)
        ids(sort="score")
        assert len(built) == 8 and ids(ring_book.RingFilter(status=("dismissed",))) == [first[0]]
        assert len(built) == 8 and ids() == first[1:] and len(built) == 9  # the first went
