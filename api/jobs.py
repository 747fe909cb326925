"""Background jobs (ingest an upload, run detection): one at a time, with status and progress.

One worker thread: ingest and detection both write the store, and the embedded store has
one writer. Each job's state is also written to the store (kind ``job``), so its outcome
can still be read after a restart; a job that was running when the server stopped is
reported as interrupted.

A job's start, end and duration are logged; a failure's kind is logged, its traceback too when
it is not a user's error (``GraphsvcError``), whose message alone goes into the job's state.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from graphsvc.errors import GraphsvcError
from graphsvc.logs import timed
from graphsvc.store import GraphStore
from services import Progress

__all__ = ["JobRunner"]

_log = logging.getLogger(__name__)


_CUT_OFF = "the server stopped before this job finished"


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class JobRunner:
    def __init__(self, store: GraphStore, *, on_finished: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._store = store
        self._on_finished = on_finished
        """Told of each job once its outcome is stored (webhooks' ``job.finished``)."""
        self._jobs: dict[str, dict[str, Any]] = {}
        self._queue: queue.Queue[tuple[str, Callable[[Progress], dict[str, Any]]] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._working = threading.Lock()
        """Held while a job's work runs: ``between_jobs`` takes it to read the store whole."""
        self._thread = threading.Thread(target=self._run, name="jobs", daemon=True)
        self._thread.start()

    @staticmethod
    def new_id() -> str:
        """An id for a job about to be submitted (it is audited before the job exists)."""
        return f"J-{datetime.now():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"

    def submit(self, job_id: str, kind: str, work: Callable[[Progress], dict[str, Any]], *, by: str,
               parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        job = {"id": job_id, "kind": kind, "state": "queued", "submitted_by": by, "submitted_at": _now(),
               "parameters": parameters or {}, "progress": {"stage": "queued", "done": 0, "total": 0},
               "started_at": None, "finished_at": None, "result": None, "error": None}
        self._save(job)
        self._queue.put((job_id, work))
        return dict(job)

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                return dict(job)
        stored = self._store.get_record("job", job_id)
        if stored is not None and stored["state"] in ("queued", "running"):
            stored = {**stored, "state": "interrupted", "error": _CUT_OFF}
        return stored

    def list(self, *, offset: int = 0, limit: int = 50) -> tuple[int, list[dict[str, Any]]]:
        total, jobs = self._store.list_records("job", offset=offset, limit=limit)
        return total, [self.get(j["id"]) or j for j in jobs]

    def _save(self, job: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[job["id"]] = job
        self._store.put_record("job", job["id"], job)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job_id, work = item
            job = self._jobs[job_id]
            job.update(state="running", started_at=_now())
            self._save(job)

            def progress(stage: str, done: int, total: int, job: dict[str, Any] = job) -> None:
                job["progress"] = {"stage": stage, "done": done, "total": total}

            try:
                with self._working, timed(_log, "job", job_id=job_id, kind=job["kind"]):
                    job["result"] = work(progress)
                job.update(state="succeeded", progress={**job["progress"], "stage": "done",
                                                        "done": job["progress"]["total"]})
            except Exception as exc:  # a failed job is reported through its status (and logged), not lost
                reason = str(exc) if isinstance(exc, GraphsvcError) else "an internal error; the server's log has where"
                job.update(state="failed", error=f"{type(exc).__name__}: {reason}")
            job["finished_at"] = _now()
            self._save(job)
            if self._on_finished is not None:
                try:
                    self._on_finished(dict(job))
                except Exception:  # a listener's failure is logged; the job's outcome is stored already
                    _log.exception("job %s: telling of its end failed", job_id)

    def settle_cut_off(self) -> int:
        """Record the jobs a stop cut off (stored as queued or running, not this server's) as interrupted,
        and tell of their end as of any job's (job.finished): a case system waiting for it is not left
        waiting. For a server that is the home's only one (embedded): where servers share a home,
        another may be running them. Returns how many."""
        cut_off, offset = [], 0
        while True:  # read whole before writing: a write reorders the pages (newest first)
            total, page = self._store.list_records("job", offset=offset, limit=500)
            cut_off += [j for j in page if j["state"] in ("queued", "running") and j["id"] not in self._jobs]
            offset += len(page)
            if not page or offset >= total:
                break
        for job in cut_off:
            job.update(state="interrupted", error=_CUT_OFF, finished_at=_now())
            self._store.put_record("job", job["id"], job)
            if self._on_finished is not None:
                self._on_finished(dict(job))
        return len(cut_off)

    @contextmanager
    def between_jobs(self) -> Iterator[None]:
        """Wait for the running job's work to end and hold off the next while the caller reads the store
        whole (a backup): on Neo4j a read sees each write as it commits, and a detection job replacing
        the rings under a backup's read left rings with no properties in it."""
        with self._working:
            yield

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every submitted job has finished (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not any(j["state"] in ("queued", "running") for j in self._jobs.values()):
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
