"""One item ahead: a worker thread produces the next item while the caller works on this one.

Ingest reads and validates the next batch of a file while the last one is stored; the network
index fetches the next sorted batch from DuckDB while numpy writes this one. Both sides spend
their time outside the GIL (DuckDB, Arrow, numpy, file I/O), so the two overlap on two cores.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["one_ahead"]

T = TypeVar("T")


def one_ahead(items: Iterator[T], *, name: str) -> Iterator[T]:
    """Yield ``items`` while a worker thread (called ``name``) already produces the next one.

    An exception in the worker is raised in the consumer; a consumer that stops early stops the
    worker. The worker is a daemon: a process that exits meanwhile does not wait for it (an index
    build's first batch is DuckDB's whole sort, half a minute at 10M persons).

    Examples
    --------
    >>> list(one_ahead(iter(range(3)), name="example"))
    [0, 1, 2]
    >>> def broken():
    ...     yield 1
    ...     raise ValueError("bad row")
    >>> [item for item in one_ahead(broken(), name="example")]
    Traceback (most recent call last):
    ...
    ValueError: bad row
    """
    slot: queue.Queue = queue.Queue(maxsize=1)
    finished = object()
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(finished)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = slot.get()
            if item is finished:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
