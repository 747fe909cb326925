"""A bulkhead for heavy reads: at most a few run at once, so light requests keep their latency.

A 3-hop network or a paths search is pure-Python work for up to a second. Run in the thread
pool, several of them at once hold the GIL between them and starve the event loop, which
then answers even ``/health`` late. Heavy routes take a slot here first.

The slots are an anyio semaphore awaited on the event loop by an async dependency, so a request
waiting for one holds no thread. A threading semaphore taken by a sync dependency deadlocked the
server: with more heavy requests than the pool's 40 threads, every thread waited for the slot and
the request holding it found no thread left to run its route on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from fastapi import Depends, Request

__all__ = ["Bulkhead", "HeavyReadDep", "HeavyAsOfDep"]


class Bulkhead:
    def __init__(self, slots: int) -> None:
        # Made before any event loop runs: anyio binds it to the loop on first use.
        self._slots = anyio.Semaphore(slots)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            yield


async def heavy_read(request: Request) -> AsyncIterator[None]:
    async with request.app.state.services.heavy_reads.slot():
        yield


async def heavy_as_of(request: Request) -> AsyncIterator[None]:
    """A slot only for a ring asked ``as_of`` a day, which is computed afresh from its claims."""
    if request.query_params.get("as_of") is None:
        yield
        return
    async with request.app.state.services.heavy_reads.slot():
        yield


HeavyReadDep = Annotated[None, Depends(heavy_read)]
HeavyAsOfDep = Annotated[None, Depends(heavy_as_of)]
