"""The audit log: who read which person's data or network, or exported what, when, from where.

Entries are queued and written in batches by one thread, so a read does not wait on a
database write; ``flush`` is called before the log is read and when the server stops.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

from graphsvc.store import GraphStore

__all__ = ["AuditLog"]


class AuditLog:
    def __init__(self, store: GraphStore, *, interval_s: float = 0.5) -> None:
        self._store = store
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._interval_s = interval_s
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def record(self, *, who: str, name: str, role: str, action: str, target: str, client: str | None,
               detail: dict[str, Any] | None = None) -> None:
        at = datetime.now().astimezone()
        entry = {"at": at.isoformat(timespec="milliseconds"), "key_id": who, "key_name": name, "role": role,
                 "action": action, "target": target, "client": client, "detail": detail or {}}
        with self._lock:
            self._pending.append((f"{at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}", entry))

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            self._store.put_records("audit", batch)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
