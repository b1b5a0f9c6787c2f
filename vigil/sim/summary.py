"""The run summary, computed from the platform's own event log (pure).

Nothing here reads the simulator's bookkeeping: counts and response times come
from the recorded events, so the summary says what Vigil holds.

Response intervals follow NFPA 1710 / 1221 and NENA STA-020, per incident:

* call processing: first call received (or, for an incident a rule opened, the
  opening) -> first unit assigned;
* turnout: the first-arriving unit's assignment -> its en route;
* travel: the first-arriving unit's en route -> on scene;
* total: first call received (or opening) -> first unit on scene.

Percentiles are linear-interpolated (numpy's default); each carries its n.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigil.core.events import Recorded
from vigil.incidents.events import (
    CallReceived,
    IncidentCancelled,
    IncidentClosed,
    IncidentOpened,
)
from vigil.units.events import UnitAssigned, UnitStatusChanged
from vigil.units.model import UnitStatus

INTERVALS = ("call_processing", "turnout", "travel", "total")


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0..100) by linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalStats:
    """One response interval: sample size, median and 90th percentile (seconds)."""

    n: int
    p50_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> IntervalStats:
        """Summarise samples."""
        if not values:
            return cls(n=0, p50_s=None, p90_s=None)
        return cls(
            n=len(values),
            p50_s=round(percentile(values, 50), 1),
            p90_s=round(percentile(values, 90), 1),
        )


@dataclass(slots=True)
class _Track:
    start: datetime | None = None
    opened: datetime | None = None
    first_assigned: datetime | None = None
    assigned: dict[str, datetime] = field(default_factory=dict)
    en_route: dict[str, datetime] = field(default_factory=dict)
    first_on_scene: tuple[datetime, str] | None = None
    first_unit_assigned_at: dict[str, datetime] = field(default_factory=dict)
    first_unit_en_route: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """What happened in a run, according to the platform's records."""

    events: int
    calls: int
    incidents: int
    incidents_by_type: dict[str, int]
    incidents_by_rule: dict[str, int]
    incidents_closed: int
    incidents_cancelled: int
    incidents_active: int
    rule_firings: dict[str, int]
    assignments: int
    recommended_assignments: int
    status_reports: dict[str, int]
    events_by_type: dict[str, int]
    intervals: dict[str, IntervalStats]
    samples: dict[str, tuple[float, ...]] = field(default_factory=dict)  # seconds, for plots
    extra: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)

    def deterministic(self) -> dict[str, Any]:
        """Return everything except wall-clock timings (equal for equal seeds in --fast)."""
        out = self.to_json()
        out.pop("timing")
        return out

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "events": self.events,
            "calls": self.calls,
            "incidents": self.incidents,
            "incidents_by_type": self.incidents_by_type,
            "incidents_by_rule": self.incidents_by_rule,
            "incidents_closed": self.incidents_closed,
            "incidents_cancelled": self.incidents_cancelled,
            "incidents_active": self.incidents_active,
            "rule_firings": self.rule_firings,
            "assignments": self.assignments,
            "recommended_assignments": self.recommended_assignments,
            "status_reports": self.status_reports,
            "events_by_type": self.events_by_type,
            "intervals": {
                k: {"n": v.n, "p50_s": v.p50_s, "p90_s": v.p90_s} for k, v in self.intervals.items()
            },
            **self.extra,
            "timing": self.timing,
        }

    def render(self) -> str:
        """Return a readable plain-text report."""
        lines = [
            f"calls                {self.calls}",
            f"incidents            {self.incidents}  (closed {self.incidents_closed}, "
            f"cancelled {self.incidents_cancelled}, still active {self.incidents_active})",
            f"unit assignments     {self.assignments}  "
            f"(recommended {self.recommended_assignments})",
        ]
        lines += [f"{k:<20} {v}" for k, v in self.extra.items() if not isinstance(v, dict)]
        lines += [f"{k:<20} {v}" for k, v in self.timing.items()]
        lines.append("")
        lines.append("incidents by type")
        lines += [f"  {k:<22} {v:>5}" for k, v in sorted(self.incidents_by_type.items())]
        lines.append("rule firings")
        lines += [f"  {k:<40} {v:>5}" for k, v in sorted(self.rule_firings.items())] or ["  (none)"]
        lines.append("")
        lines.append("response intervals (s)      n      p50      p90")

        def cell(x: float | None) -> str:
            return f"{x:8.1f}" if x is not None else "       -"

        for name in INTERVALS:
            st = self.intervals[name]
            lines.append(f"  {name:<22} {st.n:6d} {cell(st.p50_s)} {cell(st.p90_s)}")
        return "\n".join(lines)


def _rule_of(event: object) -> str | None:
    # Read by name: the summary counts rule firings without depending on the rules package.
    rule = getattr(event, "rule", None)
    return rule if isinstance(rule, str) and rule else None


class _Tally:
    """Counts and per-incident timelines gathered in one pass over the log."""

    def __init__(self) -> None:
        self.events = 0
        self.calls = 0
        self.assignments = 0
        self.recommended = 0
        self.by_type: Counter[str] = Counter()
        self.incidents_by_type: Counter[str] = Counter()
        self.incidents_by_rule: Counter[str] = Counter()
        self.rule_firings: Counter[str] = Counter()
        self.status_reports: Counter[str] = Counter()
        self.tracks: dict[str, _Track] = {}
        self.closed: set[str] = set()
        self.cancelled: set[str] = set()

    def track(self, incident_id: str) -> _Track:
        return self.tracks.setdefault(incident_id, _Track())

    def add(self, rec: Recorded) -> None:
        self.events += 1
        ev = rec.event
        self.by_type[rec.type] += 1
        if rec.type == "rule.fired":
            rule = _rule_of(ev)
            if rule is not None and not getattr(ev, "deduplicated", False):
                self.rule_firings[rule] += 1
        if isinstance(ev, IncidentOpened):
            self.incidents_by_type[ev.type] += 1
            if ev.rule:
                self.incidents_by_rule[ev.rule] += 1
            self.track(ev.incident_id).opened = rec.at
        elif isinstance(ev, CallReceived):
            self.calls += 1
            t = self.track(ev.incident_id)
            if t.start is None or ev.received_at < t.start:
                t.start = ev.received_at
        elif isinstance(ev, UnitAssigned):
            self.assignments += 1
            self.recommended += ev.recommended
            t = self.track(ev.incident_id)
            if t.first_assigned is None:
                t.first_assigned = rec.at
            t.assigned[ev.unit_id] = rec.at
        elif isinstance(ev, UnitStatusChanged):
            self.status_reports[ev.new.value] += 1
            if ev.incident_id is not None:
                self._status(self.track(ev.incident_id), ev, rec.at)
        elif isinstance(ev, IncidentClosed):
            self.closed.add(ev.incident_id)
            self.cancelled.discard(ev.incident_id)
        elif isinstance(ev, IncidentCancelled):
            self.cancelled.add(ev.incident_id)
            self.closed.discard(ev.incident_id)

    @staticmethod
    def _status(t: _Track, ev: UnitStatusChanged, at: datetime) -> None:
        if ev.new is UnitStatus.EN_ROUTE:
            t.en_route[ev.unit_id] = at
        elif ev.new is UnitStatus.ON_SCENE and t.first_on_scene is None:
            t.first_on_scene = (at, ev.unit_id)
            if ev.unit_id in t.assigned:
                t.first_unit_assigned_at[ev.unit_id] = t.assigned[ev.unit_id]
            if ev.unit_id in t.en_route:
                t.first_unit_en_route[ev.unit_id] = t.en_route[ev.unit_id]

    def intervals(self) -> dict[str, list[float]]:
        samples: dict[str, list[float]] = {k: [] for k in INTERVALS}
        for t in self.tracks.values():
            start = t.start or t.opened
            if start is None:
                continue
            if t.first_assigned is not None:
                samples["call_processing"].append((t.first_assigned - start).total_seconds())
            if t.first_on_scene is None:
                continue
            at, uid = t.first_on_scene
            samples["total"].append((at - start).total_seconds())
            assigned = t.first_unit_assigned_at.get(uid)
            en_route = t.first_unit_en_route.get(uid)
            if en_route is not None:
                samples["travel"].append((at - en_route).total_seconds())
                if assigned is not None and assigned <= en_route:
                    samples["turnout"].append((en_route - assigned).total_seconds())
        return samples


def summarise(
    records: Iterable[Recorded],
    *,
    extra: Mapping[str, Any] | None = None,
    timing: Mapping[str, Any] | None = None,
) -> Summary:
    """Compute the summary from the event log."""
    tally = _Tally()
    for rec in records:
        tally.add(rec)
    opened = sum(tally.incidents_by_type.values())
    samples = tally.intervals()
    return Summary(
        events=tally.events,
        calls=tally.calls,
        incidents=opened,
        incidents_by_type=dict(sorted(tally.incidents_by_type.items())),
        incidents_by_rule=dict(sorted(tally.incidents_by_rule.items())),
        incidents_closed=len(tally.closed),
        incidents_cancelled=len(tally.cancelled),
        incidents_active=opened - len(tally.closed) - len(tally.cancelled),
        rule_firings=dict(sorted(tally.rule_firings.items())),
        assignments=tally.assignments,
        recommended_assignments=tally.recommended,
        status_reports=dict(sorted(tally.status_reports.items())),
        events_by_type=dict(sorted(tally.by_type.items())),
        intervals={k: IntervalStats.of(v) for k, v in samples.items()},
        samples={k: tuple(v) for k, v in samples.items()},
        extra=dict(extra or {}),
        timing=dict(timing or {}),
    )
