"""Sliding windows: incremental aggregates equal a brute-force recomputation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.rules.windows import Aggregate, SlidingWindow


def brute(
    values: list[tuple[float, float]], now: float, size: float, agg: Aggregate
) -> float | None:
    inside = [v for t, v in values if now - size < t <= now]
    if agg is Aggregate.COUNT:
        return float(len(inside))
    if agg is Aggregate.SUM:
        return sum(inside)
    if not inside:
        return None
    if agg is Aggregate.AVG:
        return sum(inside) / len(inside)
    return max(inside) if agg is Aggregate.MAX else min(inside)


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.floats(0, 30), st.floats(-1000, 1000, allow_nan=False)), max_size=80
    ),
    size=st.floats(1, 60),
    agg=st.sampled_from(list(Aggregate)),
)
def test_matches_brute_force_for_ordered_input(
    steps: list[tuple[float, float]], size: float, agg: Aggregate
) -> None:
    w = SlidingWindow(size, track=agg)
    t = 0.0
    seen: list[tuple[float, float]] = []
    for i, (dt, value) in enumerate(steps):
        t += dt
        w.add(t, value, f"id{i}")
        seen.append((t, value))
        got, want = w.value(), brute(seen, t, size, agg)
        if want is None:
            assert got is None
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-6)


def test_boundary_is_half_open() -> None:
    w = SlidingWindow(60, track=Aggregate.COUNT)
    w.add(0, 1, "a")
    w.add(59.999, 1, "b")
    assert w.value() == 2
    w.add(60, 1, "c")  # (0, 60]: the value at t=0 is out
    assert w.value() == 2
    assert w.ids(10) == ("b", "c")


def test_evict_without_adding_and_empty_values() -> None:
    w = SlidingWindow(10, track=Aggregate.MAX)
    assert w.value() is None
    w.add(0, 5, "a")
    w.add(1, 3, "b")
    assert w.value() == 5
    w.evict(10.5)  # "a" leaves, "b" stays
    assert w.value() == 3
    w.evict(100)
    assert w.value() is None
    assert len(w) == 0


def test_ids_are_bounded_newest_kept() -> None:
    w = SlidingWindow(1000, track=Aggregate.SUM)
    for i in range(100):
        w.add(i, 1, f"id{i}")
    assert w.ids(3) == ("id97", "id98", "id99")
    assert w.value() == 100


def test_late_value_is_counted() -> None:
    w = SlidingWindow(10, track=Aggregate.MIN)
    w.add(5, 4, "a")
    w.add(3, 1, "late")
    assert w.value() == 1
    assert len(w) == 2


def test_rejects_empty_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        SlidingWindow(0, track=Aggregate.AVG)
