"""``graphsvc.prefetch.one_ahead``: what its doctests cannot show, a process's exit and an early stop."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from graphsvc.prefetch import one_ahead

_ROOT = Path(__file__).resolve().parent.parent

# An index build runs in the API's daemon jobs thread; its producer (DuckDB sorting the edges) can take
# half a minute for one batch. A server stopped meanwhile must not wait for it (a thread pool's worker,
# which the interpreter joins at exit, held the exit for the whole pending sort).
_CHILD = textwrap.dedent("""
    import sys, threading, time
    sys.path.insert(0, sys.argv[1])
    from graphsvc.prefetch import one_ahead
    def slow():  # stands for DuckDB sorting inside the reader's next batch
        for i in range(3):
            time.sleep(4)
            yield i
    def job():
        for _ in one_ahead(slow(), name="test-reader"):
            pass
    threading.Thread(target=job, daemon=True).start()
    time.sleep(0.3)  # the main thread returns, as a stopped server's does
""")


def test_a_process_exits_without_waiting_for_the_next_item():
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", _CHILD, str(_ROOT)], check=True, timeout=60)
    assert time.monotonic() - started < 3


def test_a_consumer_that_stops_early_stops_the_producer():
    made: list[int] = []

    def counting():
        for i in range(1000):
            made.append(i)
            yield i

    for item in one_ahead(counting(), name="test-reader"):
        if item == 2:
            break
    assert made[:3] == [0, 1, 2] and len(made) <= 5  # the item in hand, one in the slot, one being put
