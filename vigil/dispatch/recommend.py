"""Unit recommendation: cover an incident's run card with the earliest arrivals.

The run card is expanded into slots (one per unit needed, e.g. engine, engine,
ladder, chief). Each available unit can fill one slot whose capability it
carries; the cost of a filling is the unit's drive time. The minimum-cost
assignment (Hungarian method, scipy's ``linear_sum_assignment``) is the set
that covers the card with the smallest total arrival time, and it is exact:
a greedy "nearest per line" can waste a multi-capable unit on the wrong line.
Units already on the incident fill slots first at zero cost, so a second
recommendation only asks for what is still missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from vigil.core.ids import UnitId

# A cost that marks "this unit cannot fill this slot"; far above any real ETA.
_IMPOSSIBLE = 1e12


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A unit that could go: its capabilities and drive time to the incident."""

    unit_id: UnitId
    callsign: str
    type: str
    capabilities: tuple[str, ...]
    eta_s: float
    metres: float
    already_assigned: bool = False
    eta_low_s: float | None = None
    eta_high_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """A recommended unit and why."""

    unit_id: UnitId
    callsign: str
    type: str
    covers: str
    eta_s: float
    metres: float
    why: str
    eta_low_s: float | None = None
    eta_high_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Shortfall:
    """A run-card line that cannot be fully covered, and why."""

    capability: str
    needed: int
    covered: int
    why: str


def slots_of(run_card: Sequence[tuple[str, int]]) -> list[str]:
    """Expand (capability, count) lines into one slot per unit needed."""
    return [cap for cap, count in run_card for _ in range(count)]


def choose(
    run_card: Sequence[tuple[str, int]], candidates: Sequence[Candidate]
) -> tuple[list[Choice], list[Shortfall]]:
    """Return the units that cover the run card earliest, and what stays uncovered."""
    slots = slots_of(run_card)
    if not slots:
        return [], []
    pool = list(candidates)
    filled: list[tuple[str, Candidate | None]] = [(s, None) for s in slots]
    if pool:
        cost = np.full((len(slots), len(pool)), _IMPOSSIBLE)
        for j, cand in enumerate(pool):
            eta = 0.0 if cand.already_assigned else cand.eta_s
            for i, cap in enumerate(slots):
                if cap in cand.capabilities:
                    cost[i, j] = eta
        rows, cols = linear_sum_assignment(cost)
        for i, j in zip(rows, cols, strict=True):
            if cost[i, j] < _IMPOSSIBLE:
                filled[i] = (slots[i], pool[j])
    choices = [
        _explain(cap, cand, candidates)
        for cap, cand in filled
        if cand is not None and not cand.already_assigned
    ]
    choices.sort(key=lambda c: (c.eta_s, c.unit_id))
    shortfalls = []
    for cap, count in run_card:
        covered = sum(1 for c, cand in filled if c == cap and cand is not None)
        if covered < count:
            able = sum(1 for cand in candidates if cap in cand.capabilities)
            why = (
                f"no available unit carries {cap}"
                if able == 0
                else f"only {able} reachable unit(s) carry {cap}, and some fill other lines"
            )
            shortfalls.append(Shortfall(capability=cap, needed=count, covered=covered, why=why))
    return choices, shortfalls


def _explain(cap: str, cand: Candidate, everyone: Sequence[Candidate]) -> Choice:
    same = sorted(c.eta_s for c in everyone if cap in c.capabilities and not c.already_assigned)
    rank = same.index(cand.eta_s) + 1
    band = (
        f" (80%: {cand.eta_low_s / 60:.1f}-{cand.eta_high_s / 60:.1f} min)"
        if cand.eta_low_s is not None and cand.eta_high_s is not None
        else ""
    )
    why = (
        f"{cand.callsign} ({cand.type}) brings {cap}: {cand.eta_s / 60:.1f} min{band}, "
        f"{cand.metres / 1000:.1f} km by road; #{rank} of {len(same)} available with {cap}"
    )
    return Choice(
        unit_id=cand.unit_id,
        callsign=cand.callsign,
        type=cand.type,
        covers=cap,
        eta_s=cand.eta_s,
        metres=cand.metres,
        why=why,
        eta_low_s=cand.eta_low_s,
        eta_high_s=cand.eta_high_s,
    )
