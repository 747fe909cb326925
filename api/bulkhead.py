"""A bulkhead for heavy reads: at most a few run at once, so light requests keep their latency.

A 3-hop network or a paths search is pure-Python work for up to a second. Run in the thread
pool, several of them at once hold the GIL between them and starve the event loop, which
then answers even ``/health`` late. Heavy routes take a slot here first; waiting for one
blocks only a pool thread, never the loop, and does not hold the GIL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

__all__ = ["Bulkhead", "HeavyReadDep"]


class Bulkhead:
    def __init__(self, slots: int) -> None:
        # A semaphore, not a lock: FastAPI may enter and leave a sync dependency on different threads.
        self._slots = threading.BoundedSemaphore(slots)

    def __enter__(self) -> None:
        self._slots.acquire()

    def __exit__(self, *_: object) -> None:
        self._slots.release()


def heavy_read(request: Request) -> Iterator[None]:
    with request.app.state.services.heavy_reads:
        yield


HeavyReadDep = Annotated[None, Depends(heavy_read)]
