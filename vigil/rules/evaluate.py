"""Rule evaluation: matching, conditions, windows, sustained-for, correlation, cooldown.

Pure logic over in-memory state; no I/O. ``Evaluator.observe`` takes one input
(an Observation or a CAD ``Fact``) and returns the firings it causes; the
engine (``vigil.rules.engine``) runs their actions outside the state lock.

Time, decided once for all rules:

* **Event time** (``observed_at``; a call's ``received_at``) drives windows,
  sustained-for, correlation and ``hours``: they describe what happened when,
  and replays or late batches must give the same answer as live data.
* **The injected Clock** drives cooldowns and state expiry: they are about when
  Vigil acted, i.e. about operator load, which a device's timestamps must not
  be able to bend.

Per (rule, key) — the key is the device, the zone, a grid cell or one shared
key — the evaluator keeps: the window, since when the condition has held, the
latch (a window/sustained rule fires once per episode: it must stop holding
before it can fire again), when it last acted (cooldown), the incident it
opened (de-duplication: while that incident is active, new firings add
evidence to it instead of opening another) and how many triggers it suppressed.

Cost per observation (``benchmarks/rules.py``) is kept down without changing any
outcome (``test_rules_together_behave_as_each_rule_alone`` checks this against
rule-by-rule evaluation): rules whose condition is ``value OP number [&& ...]``
are skipped while no threshold is met (see ``_Plan``), and window rules without
a condition that watch the same stream, scope, key, size and aggregate share
one window per key (``_shared_window``).
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vigil.core.geometry import LatLon, haversine_m
from vigil.core.ids import IncidentId
from vigil.rules.cel import CelError, leading_threshold
from vigil.rules.facts import Input
from vigil.rules.rule import OPERATORS, KeyBy, Rule, RuleSet, cell_key
from vigil.rules.windows import SlidingWindow

log = logging.getLogger(__name__)

EVIDENCE_LIMIT = 50  # ids carried per firing; the total is recorded too
PENDING_LIMIT = 10_000  # correlation triggers waiting per rule
IDLE_KEY_S = 3600.0  # extra event time a key outlives its window/sustained span


@dataclass(frozen=True, slots=True, kw_only=True)
class Firing:
    """A rule decided to act: on which key, because of which events."""

    rule: Rule
    key: str
    trigger: Input
    evidence: tuple[str, ...]
    evidence_total: int
    window_value: float | None
    count: int
    since: datetime | None
    correlated: tuple[str, ...]
    incident_id: IncidentId | None  # this rule's still-active incident for the key (de-duplicate)
    suppressed: int  # triggers suppressed by cooldown since the previous firing
    decided_at: datetime


@dataclass(slots=True)
class KeyState:
    """State of one rule for one key."""

    window: SlidingWindow | None
    since: float | None = None
    latched: bool = False
    evidence: deque[str] = field(default_factory=lambda: deque(maxlen=EVIDENCE_LIMIT))
    evidence_total: int = 0
    last_t: float = float("-inf")
    last_fired: datetime | None = None
    incident_id: IncidentId | None = None
    suppressed: int = 0


@dataclass(frozen=True, slots=True)
class Trigger:
    """A rule's conditions were met by `x` at event time `t` (correlation may still be due)."""

    x: Input
    t: float
    key: str
    evidence: tuple[str, ...]
    evidence_total: int
    window_value: float | None
    count: int
    since: float | None  # event time the state started holding (sustained rules)


@dataclass(slots=True)
class RuleStats:
    """Counters of one rule (exposed by the API and the CLI)."""

    matched: int = 0
    triggered: int = 0
    fired: int = 0
    suppressed: int = 0
    condition_errors: int = 0
    action_errors: int = 0
    last_error: str | None = None
    last_fired_at: datetime | None = None


@dataclass(slots=True)
class RuleState:
    """Everything the evaluator keeps for one rule."""

    rule: Rule
    keys: dict[str, KeyState] = field(default_factory=dict)
    waiting: deque[Trigger] = field(default_factory=deque)
    # per correlate clause: (event time, lat, lon, id)
    buffers: list[deque[tuple[float, float | None, float | None, str]]] = field(
        default_factory=list
    )
    watermark: float = float("-inf")
    stats: RuleStats = field(default_factory=RuleStats)
    scoped: bool = False  # has a zone or circle scope
    stateful: bool = False  # keeps per-key state that a failing event must reset

    def __post_init__(self) -> None:
        if not self.buffers:
            self.buffers = [deque() for _ in self.rule.correlate]
        self.adopt(self.rule)

    def adopt(self, rule: Rule) -> None:
        """Use `rule` (the same rule, perhaps a new object after a reload)."""
        self.rule = rule
        self.scoped = rule.scope_zone is not None or rule.scope_circle is not None
        self.stateful = rule.window is not None or rule.sustained_s > 0 or rule.latched


IsActive = Callable[[IncidentId], bool]

_GENERAL, _WINDOW, _STEADY = 0, 1, 2


def threshold_of(rule: Rule) -> tuple[str, float] | None:
    """Return (op, number) when the rule's condition is false whenever ``value op number`` is.

    That is a condition ``value op number`` or ``value op number && ...`` (see
    ``vigil.rules.cel.leading_threshold``), for a numeric ``value``.
    """
    cond = rule.condition
    return None if cond is None else leading_threshold(cond.source)


@dataclass(slots=True)
class _Plan:
    """How to evaluate the rules of one (kind, stream).

    ``quiet`` are unscoped rules without window, sustain or latch whose condition
    is false below (or above) a threshold (``threshold_of``): when an
    observation meets none of their thresholds, their condition is false and
    they only count it, which ``pending``/``pending_t`` batch up until
    ``_flush``. ``visit`` are the other rules, in rule order; when any quiet
    rule's threshold is met, all rules run in rule order (``ordered``) so
    firings keep their order. A visited rule is ``_WINDOW`` (window, no
    condition, hours or correlation: ``_window_step``), ``_STEADY`` (unscoped,
    no window, with a threshold ``gate``: below it, only its key is reset) or
    ``_GENERAL`` (``_primary``).
    """

    ordered: tuple[RuleState, ...]
    visit: tuple[tuple[int, RuleState, Callable[[Any], bool] | None], ...]
    quiet: tuple[RuleState, ...]
    gt: float  # a quiet rule holds when value > gt, >= ge, < lt or <= le
    ge: float
    lt: float
    le: float
    pending: int = 0
    pending_t: float = float("-inf")


def _gate(compare: Callable[[float, float], bool], c: float, v: float) -> bool:
    return compare(v, c)


def _plan(states: tuple[RuleState, ...]) -> _Plan:
    quiet: list[RuleState] = []
    visit: list[tuple[int, RuleState, Callable[[Any], bool] | None]] = []
    bounds: dict[str, float] = {
        ">": float("inf"),
        ">=": float("inf"),
        "<": float("-inf"),
        "<=": float("-inf"),
    }
    for st in states:
        rule = st.rule
        thr = threshold_of(rule) if not st.scoped and rule.window is None else None
        if thr is not None and not st.stateful:
            op, c = thr
            quiet.append(st)
            if op in (">", ">="):
                bounds[op] = min(bounds[op], c)
            else:
                bounds[op] = max(bounds[op], c)
            continue
        if thr is not None:
            op, c = thr
            compare = OPERATORS[op]
            visit.append((_STEADY, st, functools.partial(_gate, compare, c)))
            continue
        fast_window = rule.window is not None and rule.condition is None and rule.hours is None
        fast_window = fast_window and not rule.correlate
        visit.append((_WINDOW if fast_window else _GENERAL, st, None))
    return _Plan(
        ordered=states,
        visit=tuple(visit),
        quiet=tuple(quiet),
        gt=bounds[">"],
        ge=bounds[">="],
        lt=bounds["<"],
        le=bounds["<="],
    )


def _ts(at: datetime) -> float:
    return at.timestamp()


class Evaluator:
    """Holds per-rule state and turns inputs into firings (not thread-safe: lock outside)."""

    def __init__(self, rules: RuleSet, *, now: Callable[[], datetime], is_active: IsActive):
        self._now = now
        self._is_active = is_active
        self.rules = rules
        self.states: dict[str, RuleState] = {r.name: RuleState(r) for r in rules.rules}
        self._pending: list[_Plan] = []  # plans with batched counts (see _Plan)
        self._serial = 0  # numbers inputs: a shared window takes each input once
        # windows created for the current input, by (stream, scope, key, size, aggregate, key)
        self._fresh: dict[tuple[object, ...], SlidingWindow] = {}
        self._index()

    def _index(self) -> None:
        """Index rule states by the (kind, stream) they match or correlate with."""
        self._plans = {
            m: _plan(tuple(self.states[r.name] for r in rules))
            for m, rules in self.rules.by_match.items()
        }

        self._companions = {
            m: tuple((self.states[r.name], i) for r, i in pairs)
            for m, pairs in self.rules.correlating.items()
        }

    # ----------------------------------------------------------- rule swap

    def replace(self, rules: RuleSet) -> None:
        """Swap in a new rule set, keeping the state of unchanged rules.

        A changed rule (new version) starts with fresh windows, but keeps per key
        its cooldown and the incident it opened, so an edit does not reopen a
        situation already being handled.
        """
        self._flush()
        old = self.states
        new: dict[str, RuleState] = {}
        for rule in rules.rules:
            before = old.get(rule.name)
            if (
                before is not None
                and before.rule.digest == rule.digest
                and (before.rule.version == rule.version)
            ):
                before.adopt(rule)
                new[rule.name] = before
                continue
            state = RuleState(rule)
            if before is not None:
                state.stats = before.stats
                for key, ks in before.keys.items():
                    if ks.last_fired is not None or ks.incident_id is not None:
                        state.keys[key] = KeyState(
                            window=self._new_window(rule),
                            last_fired=ks.last_fired,
                            incident_id=ks.incident_id,
                        )
            new[rule.name] = state
        self.rules = rules
        self.states = new
        self._index()

    @staticmethod
    def _new_window(rule: Rule) -> SlidingWindow | None:
        w = rule.window
        return SlidingWindow(w.size_s, track=w.aggregate) if w is not None else None

    # ------------------------------------------------------------ evaluate

    def observe(self, x: Input, out: list[Firing]) -> None:
        """Evaluate one input against every rule that matches or correlates with it."""
        try:
            self._observe(x, out)
        finally:
            self._flush()

    def observe_many(self, xs: Iterable[Input], out: list[Firing]) -> None:
        """Evaluate inputs in order (``observe`` each, with counters settled once at the end)."""
        observe = self._observe
        try:
            for x in xs:
                observe(x, out)
        finally:
            self._flush()

    def _flush(self) -> None:
        """Apply the batched counts of quiet rules (see ``_Plan``)."""
        for plan in self._pending:
            n, t = plan.pending, plan.pending_t
            for st in plan.quiet:
                st.stats.matched += n
                if t > st.watermark:  # noqa: PLR1730 - hot path: cheaper than max()
                    st.watermark = t
            plan.pending, plan.pending_t = 0, float("-inf")
        self._pending.clear()

    def _observe(self, x: Input, out: list[Firing]) -> None:
        self._serial += 1
        if self._fresh:
            self._fresh.clear()
        match = (x.kind, x.stream)
        plan = self._plans.get(match)
        companions = self._companions.get(match)
        if plan is None and companions is None:
            return
        t = x.observed_at.timestamp()
        if companions is not None:
            if self._pending:
                self._flush()  # correlation reads watermarks
            for st, index in companions:
                self._companion(st, index, x, t, out)
        if plan is not None:
            self._primaries(plan, x, t, out)

    def _primaries(self, plan: _Plan, x: Input, t: float, out: list[Firing]) -> None:
        if plan.quiet:
            v = getattr(x, "value", None)
            if (v.__class__ is not float and v.__class__ is not int) or (
                v > plan.gt or v >= plan.ge or v < plan.lt or v <= plan.le
            ):
                if self._pending:
                    self._flush()  # correlation reads watermarks
                for st in plan.ordered:
                    self._primary(st, x, t, out)
                return
            if not plan.pending:
                self._pending.append(plan)
            plan.pending += 1
            if t > plan.pending_t:  # noqa: PLR1730 - hot path: cheaper than max()
                plan.pending_t = t
        else:
            v = getattr(x, "value", None)
        self._visit(plan, x, t, v, out)

    def _visit(self, plan: _Plan, x: Input, t: float, v: Any, out: list[Firing]) -> None:
        numeric = v.__class__ is float or v.__class__ is int
        for mode, st, gate in plan.visit:
            if mode == _WINDOW:
                self._window_step(st, x, t, out)
            elif mode == _STEADY and numeric and gate is not None and not gate(v):
                # the condition is false: what _primary does then, without running it
                st.stats.matched += 1
                if t > st.watermark:  # noqa: PLR1730 - hot path: cheaper than max()
                    st.watermark = t
                if st.keys:
                    self._reset_existing(st, x, t)
            else:
                self._primary(st, x, t, out)

    def _shared_window(self, rule: Rule, key: str) -> SlidingWindow | None:
        """Return a new window for `key`, shared with rules whose window starts with this input.

        Rules evaluated by ``_window_step`` with the same stream, scope, key, size
        and aggregate add exactly the same values, so windows created for them at
        the same input stay identical: one window serves them all. A window made
        any other way (reload, restore, a rule whose key state was swept) is its own.
        """
        spec = rule.window
        if spec is None:
            return None
        group = (
            rule.match,
            rule.scope_zone,
            rule.scope_circle,
            rule.key,
            rule.cell_m,
            spec.size_s,
            spec.aggregate,
            key,
        )
        w = self._fresh.get(group)
        if w is None:
            w = self._fresh[group] = SlidingWindow(spec.size_s, track=spec.aggregate)
        return w

    def _window_step(self, st: RuleState, x: Input, t: float, out: list[Firing]) -> None:
        """``_primary`` for a window rule without condition, hours or correlation (hot path)."""
        rule = st.rule
        if st.scoped and not self._in_scope(rule, x):
            return
        st.stats.matched += 1
        if t > st.watermark:  # noqa: PLR1730 - hot path: cheaper than max()
            st.watermark = t
        key = x.device_id if rule.key is KeyBy.DEVICE else self._key(rule, x)
        ks = st.keys.get(key)
        if ks is None:
            ks = st.keys[key] = KeyState(window=self._shared_window(rule, key))
        if t > ks.last_t:  # noqa: PLR1730 - hot path: cheaper than max()
            ks.last_t = t
        w = ks.window
        spec = rule.window
        assert w is not None and spec is not None
        if w.added_by != self._serial:  # a shared window takes each input once
            w.add(t, x.value, x.id)
            w.added_by = self._serial
        window_value, count = w.value(), len(w)
        if not spec.holds(window_value, count):
            if ks.since is not None or ks.latched or ks.evidence_total:
                self._reset(ks)
            return
        trigger = self._held(st, ks, key, x, t, window_value=window_value, count=count)
        if trigger is None:
            return
        ks.latched = True
        st.stats.triggered += 1
        self._decide(st, ks, trigger, (), out)

    def _in_scope(self, rule: Rule, x: Input) -> bool:
        zone = rule.scope_zone
        loc = x.location
        if zone is not None:
            if x.zone == zone.name:
                return True
            return loc is not None and zone.contains(loc.lat, loc.lon)
        circle = rule.scope_circle
        if circle is not None:
            return loc is not None and haversine_m(loc, circle.center) <= circle.radius_m
        return True

    def _key(self, rule: Rule, x: Input) -> str:
        key = rule.key
        if key is KeyBy.DEVICE:
            return x.device_id
        if key is KeyBy.ZONE:
            if rule.scope_zone is not None:
                return rule.scope_zone.name
            return x.zone or "-"
        if key is KeyBy.CELL:
            loc = x.location
            return cell_key(loc.lat, loc.lon, rule.cell_m) if loc is not None else "-"
        return "*"

    def _key_state(self, st: RuleState, key: str) -> KeyState:
        ks = st.keys.get(key)
        if ks is None:
            ks = st.keys[key] = KeyState(window=self._new_window(st.rule))
        return ks

    def _primary(self, st: RuleState, x: Input, t: float, out: list[Firing]) -> None:
        rule = st.rule
        if st.scoped and not self._in_scope(rule, x):
            return
        st.stats.matched += 1
        if t > st.watermark:  # noqa: PLR1730 - hot path: cheaper than max()
            st.watermark = t
        cond = rule.condition
        if rule.hours is None and cond is not None:
            # the common case, inlined (hot path)
            try:
                ok = cond.fn(x) is True
            except CelError as err:
                ok = False
                st.stats.condition_errors += 1
                st.stats.last_error = f"condition on {x.id}: {err}"
        else:
            ok = self._condition(st, x)
        if not ok and (rule.window is None or rule.hours is not None):
            # Nothing enters the state: only a key that holds something needs resetting.
            # (Outside `hours` a window rule does not hold, whatever its window says.)
            if st.stateful:
                self._reset_existing(st, x, t)
            return
        key = self._key(rule, x)
        ks = self._key_state(st, key)
        if t > ks.last_t:  # noqa: PLR1730 - hot path: cheaper than max()
            ks.last_t = t
        trigger = self._trigger(st, ks, key, x, t, ok=ok)
        if trigger is None:
            return
        companions: tuple[str, ...] = ()
        if rule.correlate:
            found = self._companions_for(st, x, t)
            if found is None:
                self._wait(st, trigger)
                return
            companions = found
        ks.latched = True
        st.stats.triggered += 1
        self._decide(st, ks, trigger, companions, out)

    def _reset_existing(self, st: RuleState, x: Input, t: float) -> None:
        ks = st.keys.get(self._key(st.rule, x))
        if ks is not None:
            ks.last_t = max(ks.last_t, t)
            if ks.since is not None or ks.latched or ks.evidence_total:
                self._reset(ks)

    @staticmethod
    def _condition(st: RuleState, x: Input) -> bool:
        """Return whether `x` is within the rule's hours and meets its condition."""
        rule = st.rule
        if rule.hours is not None and not rule.hours.contains(x.observed_at):
            return False
        cond = rule.condition
        if cond is None:
            return True
        try:
            return cond.fn(x) is True
        except CelError as err:
            st.stats.condition_errors += 1
            st.stats.last_error = f"condition on {x.id}: {err}"
            return False

    def _trigger(
        self, st: RuleState, ks: KeyState, key: str, x: Input, t: float, *, ok: bool
    ) -> Trigger | None:
        """Update the key's state; return a trigger when it holds long enough and is unlatched."""
        rule = st.rule
        spec = rule.window
        window_value: float | None = None
        count = 1
        if spec is not None:
            w = ks.window
            assert w is not None
            if ok:
                if w.added_by != self._serial:  # a shared window takes each input once
                    w.add(t, x.value, x.id)
                    w.added_by = self._serial
            else:
                w.evict(max(t, w.newest))
            window_value, count = w.value(), len(w)
            if not spec.holds(window_value, count):
                self._reset(ks)
                return None
        else:
            ks.evidence.append(x.id)
            ks.evidence_total += 1
        return self._held(st, ks, key, x, t, window_value=window_value, count=count)

    @staticmethod
    def _held(
        st: RuleState,
        ks: KeyState,
        key: str,
        x: Input,
        t: float,
        *,
        window_value: float | None,
        count: int,
    ) -> Trigger | None:
        """The rest of ``_trigger`` once the window (if any) holds."""
        rule = st.rule
        if rule.sustained_s > 0:
            if ks.since is None:
                ks.since = t
            if t - ks.since < rule.sustained_s:
                return None
        if rule.latched and ks.latched:
            return None
        if ks.window is not None:
            evidence, total = ks.window.ids(EVIDENCE_LIMIT), count
        else:
            evidence, total = tuple(ks.evidence), ks.evidence_total
            if not rule.latched and rule.sustained_s == 0:
                ks.evidence.clear()
                ks.evidence_total = 0
        return Trigger(x, t, key, evidence, total, window_value, count, ks.since)

    @staticmethod
    def _reset(ks: KeyState) -> None:
        ks.since = None
        ks.latched = False
        if ks.evidence:
            ks.evidence.clear()
        ks.evidence_total = 0

    def _decide(
        self,
        st: RuleState,
        ks: KeyState,
        trigger: Trigger,
        companions: tuple[str, ...],
        out: list[Firing],
    ) -> None:
        rule = st.rule
        x = trigger.x
        now = self._now()
        if ks.last_fired is not None and now - ks.last_fired < timedelta(seconds=rule.cooldown_s):
            ks.suppressed += 1
            st.stats.suppressed += 1
            return
        incident = ks.incident_id
        if incident is not None and not self._is_active(incident):
            incident = ks.incident_id = None
        ks.last_fired = now
        suppressed, ks.suppressed = ks.suppressed, 0
        st.stats.fired += 1
        st.stats.last_fired_at = now
        ids = tuple(dict.fromkeys((*trigger.evidence, *companions)))
        since = trigger.since
        out.append(
            Firing(
                rule=rule,
                key=trigger.key,
                trigger=x,
                evidence=ids,
                evidence_total=trigger.evidence_total + len(companions),
                window_value=trigger.window_value,
                count=trigger.count,
                since=None if since is None else _from_ts(since, x.observed_at),
                correlated=companions,
                incident_id=incident,
                suppressed=suppressed,
                decided_at=now,
            )
        )

    # ---------------------------------------------------------- correlation

    def _companions_for(self, st: RuleState, x: Input, t: float) -> tuple[str, ...] | None:
        found: list[str] = []
        loc = x.location
        for clause, buf in zip(st.rule.correlate, st.buffers, strict=True):
            hits = [
                ident
                for bt, lat, lon, ident in buf
                if abs(bt - t) <= clause.within_s
                and (
                    clause.within_m is None
                    or (
                        loc is not None
                        and lat is not None
                        and lon is not None
                        and haversine_m(loc, LatLon(lat, lon)) <= clause.within_m
                    )
                )
            ]
            if len(hits) < clause.at_least:
                return None
            found.extend(hits)
        return tuple(found)

    def _wait(self, st: RuleState, trigger: Trigger) -> None:
        if len(st.waiting) >= PENDING_LIMIT:
            st.waiting.popleft()
        st.waiting.append(trigger)
        self._expire_waiting(st)

    def _expire_waiting(self, st: RuleState) -> None:
        horizon = max(c.within_s for c in st.rule.correlate)
        while st.waiting and st.waiting[0].t < st.watermark - horizon:
            st.waiting.popleft()

    def _companion(self, st: RuleState, index: int, x: Input, t: float, out: list[Firing]) -> None:
        rule = st.rule
        clause = rule.correlate[index]
        if clause.condition is not None:
            try:
                if clause.condition.fn(x) is not True:
                    return
            except CelError as err:
                st.stats.condition_errors += 1
                st.stats.last_error = f"correlate condition on {x.id}: {err}"
                return
        st.watermark = max(st.watermark, t)
        loc = x.location
        buf = st.buffers[index]
        buf.append((t, loc.lat if loc else None, loc.lon if loc else None, x.id))
        # Keep companions for twice their span: triggers may arrive late as well.
        cutoff = st.watermark - 2 * clause.within_s
        while buf and buf[0][0] < cutoff:
            buf.popleft()
        self._expire_waiting(st)
        if not st.waiting:
            return
        still: deque[Trigger] = deque()
        for w in st.waiting:
            companions = self._companions_for(st, w.x, w.t)
            if companions is None:
                still.append(w)
                continue
            ks = self._key_state(st, w.key)
            if rule.latched and ks.latched:
                continue
            ks.latched = True
            st.stats.triggered += 1
            self._decide(st, ks, w, companions, out)
        st.waiting = still

    # -------------------------------------------------------------- upkeep

    def opened(self, rule_name: str, key: str, incident_id: IncidentId) -> None:
        """Record the incident a firing opened, for de-duplication."""
        st = self.states.get(rule_name)
        if st is None:
            return
        self._key_state(st, key).incident_id = incident_id

    def restore_key(
        self, rule_name: str, key: str, fired_at: datetime, incident_id: IncidentId | None
    ) -> None:
        """Restore when a key last fired and its incident (from the log, at start-up)."""
        st = self.states.get(rule_name)
        if st is None:
            return
        ks = self._key_state(st, key)
        ks.last_fired = fired_at
        if incident_id is not None:
            ks.incident_id = incident_id

    def sweep(self) -> int:
        """Drop keys idle for long in event time, unless cooldown or an incident needs them."""
        now = self._now()
        dropped = 0
        for st in self.states.values():
            rule = st.rule
            span = (rule.window.size_s if rule.window else 0.0) + rule.sustained_s + IDLE_KEY_S
            cutoff = st.watermark - span
            cooldown = timedelta(seconds=rule.cooldown_s)
            for key in [k for k, ks in st.keys.items() if ks.last_t < cutoff]:
                ks = st.keys[key]
                if ks.last_fired is not None and now - ks.last_fired < cooldown:
                    continue
                if ks.incident_id is not None and self._is_active(ks.incident_id):
                    continue
                del st.keys[key]
                dropped += 1
        return dropped

    def key_states(self, rule_name: str) -> Iterator[tuple[str, KeyState]]:
        """Yield (key, state) of one rule (for tests and diagnostics)."""
        st = self.states.get(rule_name)
        if st is not None:
            yield from st.keys.items()


def _from_ts(t: float, like: datetime) -> datetime:
    return datetime.fromtimestamp(t, tz=like.tzinfo)
