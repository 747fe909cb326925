"""Per-key rate limiting: a token bucket per API key, refilled continuously."""

from __future__ import annotations

import threading
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allows ``per_minute`` requests a minute per key, in bursts of up to ``per_minute``.

    >>> limiter = RateLimiter(per_minute=2)
    >>> limiter.acquire("k"), limiter.acquire("k"), limiter.wait("k") > 0, limiter.acquire("k") > 0
    (0.0, 0.0, True, True)
    """

    def __init__(self, per_minute: int) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """0.0 when the request may go ahead (it spends a token), else the seconds to wait before retrying."""
        return self._take(key, spend=True)

    def wait(self, key: str) -> float:
        """What ``acquire`` would answer now, without spending a token (a budget spent only on failures)."""
        return self._take(key, spend=False)

    def _take(self, key: str, *, spend: bool) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0 if spend else tokens, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate
