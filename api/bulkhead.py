"""A bulkhead for heavy reads: at most a few run at once, so light requests keep their latency.

A 3-hop network or a paths search is pure-Python work for up to a second. Run in the thread
pool, several of them at once hold the GIL between them and starve the event loop, which
then answers even ``/health`` late. Heavy routes take a slot here first.

A request waiting for a slot awaits a future on its own event loop, so it holds no thread. A
threading semaphore taken by a sync dependency deadlocked the server: with more heavy requests
than the pool's 40 threads, every thread waited for the slot and the request holding it found no
thread left to run its route on. An anyio semaphore fixed that but woke its waiter with a plain
``set_result`` from the releasing loop, so one app served from two loops (a ``TestClient`` used
from several threads) left a waiter asleep for ever. Here the count is guarded by a lock and a
freed slot is handed to the first waiter through ``call_soon_threadsafe`` on that waiter's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request

__all__ = ["Bulkhead", "HeavyReadDep", "HeavyAsOfDep"]

_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Bulkhead:
    """At most ``slots`` holders at once, first come first served, across threads and event loops."""

    def __init__(self, slots: int) -> None:
        self._lock = threading.Lock()
        self._free = slots
        self._waiters: deque[_Waiter] = deque()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            waiter: _Waiter = (loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except BaseException:
            with self._lock:
                queued = waiter in self._waiters
                if queued:
                    self._waiters.remove(waiter)
            if not queued:  # a slot was handed to it as it was cancelled: pass it on
                self._release()
            raise

    def _release(self) -> None:
        with self._lock:
            while self._waiters:
                loop, future = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(_hand_over, future)
                    return
                except RuntimeError:  # its loop is closed: that request is gone
                    continue
            self._free += 1


def _hand_over(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
