"""The recommender covers run cards optimally and says plainly what it cannot cover."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.core.ids import UnitId
from vigil.dispatch.recommend import Candidate, choose, slots_of

CAPS = ["engine", "ladder", "als", "patrol"]


def cand(uid: str, caps: tuple[str, ...], eta: float, *, assigned: bool = False) -> Candidate:
    return Candidate(
        unit_id=UnitId(uid),
        callsign=uid,
        type=caps[0],
        capabilities=caps,
        eta_s=eta,
        metres=eta * 10,
        already_assigned=assigned,
    )


def test_structure_fire_takes_the_two_nearest_engines_and_a_ladder() -> None:
    units = [
        cand("E1", ("engine",), 300),
        cand("E2", ("engine",), 120),
        cand("E3", ("engine",), 200),
        cand("L1", ("ladder",), 400),
        cand("C1", ("chief",), 500),
    ]
    chosen, short = choose([("engine", 2), ("ladder", 1), ("chief", 1)], units)
    assert [c.unit_id for c in chosen] == ["E2", "E3", "L1", "C1"]
    assert short == []
    assert "#1 of 3 available with engine" in chosen[0].why
    assert "2.0 min" in chosen[0].why


def test_a_multi_capable_unit_is_not_wasted_on_the_wrong_line() -> None:
    # Greedy per line would give the nearest engine line to Q1 (engine+ladder) and
    # then have no ladder; the optimal cover sends E1 as engine and Q1 as ladder.
    units = [cand("Q1", ("engine", "ladder"), 100), cand("E1", ("engine",), 150)]
    chosen, short = choose([("engine", 1), ("ladder", 1)], units)
    assert {(c.unit_id, c.covers) for c in chosen} == {("Q1", "ladder"), ("E1", "engine")}
    assert short == []


def test_units_already_on_scene_fill_their_lines_first() -> None:
    units = [
        cand("E1", ("engine",), 0, assigned=True),
        cand("E2", ("engine",), 100),
        cand("E3", ("engine",), 50),
    ]
    chosen, short = choose([("engine", 2)], units)
    assert [c.unit_id for c in chosen] == ["E3"]
    assert short == []


def test_shortfalls_are_reported_with_a_reason() -> None:
    chosen, short = choose([("patrol", 2), ("hazmat", 1)], [cand("P1", ("patrol",), 60)])
    assert [c.unit_id for c in chosen] == ["P1"]
    assert [(s.capability, s.needed, s.covered) for s in short] == [
        ("patrol", 2, 1),
        ("hazmat", 1, 0),
    ]
    assert short[1].why == "no available unit carries hazmat"
    assert "only 1" in short[0].why


def test_no_candidates_at_all() -> None:
    chosen, short = choose([("engine", 1)], [])
    assert chosen == []
    assert short[0].why == "no available unit carries engine"


units_strategy = st.lists(
    st.tuples(
        st.sets(st.sampled_from(CAPS), min_size=1, max_size=2),
        st.integers(min_value=1, max_value=2000),
    ),
    max_size=6,
)
card_strategy = st.lists(
    st.tuples(st.sampled_from(CAPS), st.integers(1, 2)),
    min_size=1,
    max_size=3,
    unique_by=lambda x: x[0],
)


@settings(max_examples=200, deadline=None)
@given(raw=units_strategy, card=card_strategy)
def test_cover_is_maximal_then_fastest(
    raw: list[tuple[set[str], int]], card: list[tuple[str, int]]
) -> None:
    units = [cand(f"U{i}", tuple(sorted(caps)), eta) for i, (caps, eta) in enumerate(raw)]
    chosen, short = choose(card, units)
    slots = slots_of(card)
    # Brute force over every assignment of distinct units (or none) to slots.
    best: tuple[int, float] = (0, 0.0)
    options: list[list[Candidate | None]] = [
        [None, *[u for u in units if s in u.capabilities]] for s in slots
    ]
    for combo in itertools.product(*options):
        picked = [u for u in combo if u is not None]
        if len({u.unit_id for u in picked}) != len(picked):
            continue
        score = (len(picked), -sum(u.eta_s for u in picked))
        best = max(best, score)
    assert len(chosen) == best[0]
    assert -sum(c.eta_s for c in chosen) == best[1]
    assert sum(s.needed - s.covered for s in short) == len(slots) - len(chosen)
    assert len({c.unit_id for c in chosen}) == len(chosen)
    for c in chosen:
        assert c.covers in next(u for u in units if u.unit_id == c.unit_id).capabilities
