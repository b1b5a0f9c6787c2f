"""Token buckets that bound how often one key (a client, an account) may try something.

Memory is bounded: at most `max_keys` buckets are kept, the least recently used
dropped first, so a flood from many addresses or names cannot grow the table.
A dropped bucket starts full again, which only ever errs towards letting a
rare key through.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """`capacity` attempts at once, refilled at `per_s` attempts per second, per key."""

    def __init__(
        self,
        *,
        capacity: int,
        per_s: float,
        max_keys: int = 100_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1 or per_s <= 0:
            raise ValueError("a rate limit needs capacity >= 1 and a positive refill rate")
        self.capacity = capacity
        self.per_s = per_s
        self._max_keys = max_keys
        self._now = now
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> tokens, at

    def _level(self, key: str, t: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.capacity), t))
        return min(float(self.capacity), tokens + (t - at) * self.per_s)

    def wait_s(self, key: str) -> float:
        """Return how long until `key` may try once more (0: now); consumes nothing."""
        with self._lock:
            level = self._level(key, self._now())
        return 0.0 if level >= 1.0 else (1.0 - level) / self.per_s

    def take(self, key: str) -> float:
        """Consume one attempt of `key`; return 0, or the seconds to wait when none is left."""
        with self._lock:
            t = self._now()
            level = self._level(key, t)
            if level < 1.0:
                return (1.0 - level) / self.per_s
            self._buckets[key] = (level - 1.0, t)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return 0.0
