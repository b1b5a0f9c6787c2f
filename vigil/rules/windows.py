"""Sliding time windows with incremental aggregates (pure, no I/O, no clock).

A window holds the values that arrived in the last `size_s` seconds of event
time, ending at the newest event. Count, sum and average are running totals;
max and min use monotonic deques, so every update costs amortised O(1) however
many values the window holds.

Values are evicted in arrival order. Events of one key normally arrive in time
order; one that arrives late (older than the newest) is still counted, and
leaves the window when the values that arrived before it have left.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum


class Aggregate(StrEnum):
    """What a window computes over its values."""

    COUNT = "count"
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"


# Running sums drift after many additions and subtractions of floats; they are
# recomputed exactly this often (amortised O(1)).
_RESUM_EVERY = 4096


class SlidingWindow:
    """Values of the last `size_s` seconds, with O(1) count/sum/avg/max/min."""

    __slots__ = (
        "_added",
        "_entries",
        "_maxq",
        "_minq",
        "_newest",
        "_seq",
        "_total",
        "added_by",
        "size_s",
        "track",
    )

    def __init__(self, size_s: float, *, track: Aggregate) -> None:
        if size_s <= 0:
            raise ValueError("window size must be positive")
        self.size_s = size_s
        self.track = track
        # (seq, t, value, evidence id)
        self._entries: deque[tuple[int, float, float, str]] = deque()
        self._maxq: deque[tuple[int, float]] = deque()
        self._minq: deque[tuple[int, float]] = deque()
        self._total = 0.0
        self._seq = 0
        self._added = 0
        self._newest = float("-inf")
        # Set by the caller: the input whose value was added last. Rules that share
        # one window (same stream, scope, key, size, aggregate) add each input once.
        self.added_by = -1

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, t: float, value: float, ident: str) -> None:
        """Add a value observed at event time `t` (epoch seconds), then evict old ones."""
        self._seq += 1
        seq = self._seq
        entries = self._entries
        entries.append((seq, t, value, ident))
        self._total += value
        track = self.track
        if track is Aggregate.MAX:
            q = self._maxq
            while q and q[-1][1] <= value:
                q.pop()
            q.append((seq, value))
        elif track is Aggregate.MIN:
            q = self._minq
            while q and q[-1][1] >= value:
                q.pop()
            q.append((seq, value))
        self._added += 1
        if self._added % _RESUM_EVERY == 0:
            self._total = sum(e[2] for e in entries)
        if t > self._newest:  # noqa: PLR1730 - hot path: cheaper than max()
            self._newest = t
        if entries[0][1] <= self._newest - self.size_s:  # anything to evict (hot path)
            self.evict(self._newest)

    @property
    def newest(self) -> float:
        """Return the event time of the newest value ever added (-inf before any)."""
        return self._newest

    def evict(self, now: float) -> None:
        """Drop values older than `size_s` before `now` (window is (now - size, now])."""
        cutoff = now - self.size_s
        entries = self._entries
        while entries and entries[0][1] <= cutoff:
            seq, _t, value, _id = entries.popleft()
            self._total -= value
            if self._maxq and self._maxq[0][0] == seq:
                self._maxq.popleft()
            if self._minq and self._minq[0][0] == seq:
                self._minq.popleft()
        if not entries:
            self._total = 0.0

    def value(self) -> float | None:
        """Return the tracked aggregate (None for avg/max/min of an empty window)."""
        n = len(self._entries)
        track = self.track
        if track is Aggregate.COUNT:
            return float(n)
        if track is Aggregate.SUM:
            return self._total
        if n == 0:
            return None
        if track is Aggregate.AVG:
            return self._total / n
        if track is Aggregate.MAX:
            return self._maxq[0][1]
        return self._minq[0][1]

    def ids(self, limit: int) -> tuple[str, ...]:
        """Return the ids of the newest `limit` values in the window, oldest first."""
        entries = self._entries
        start = max(0, len(entries) - limit)
        return tuple(entries[i][3] for i in range(start, len(entries)))
