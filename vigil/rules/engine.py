"""The rules engine: feeds inputs to the evaluator, runs firings, reloads rule files.

The engine is a consumer of the bus (``attach``): committed observation
batches from the ``observations`` topic (``on_observations``) and committed
log events from its durable cursor ``rules`` (``on_record``), each on its own
bus thread, never on the thread that committed them. Evaluation happens under
one lock; actions run after it is released and act by issuing commands, whose
events come back to ``on_record`` later, through the log like any other.

Rule files are re-read when they change (size, mtime, then content hash), on
the reload ticker: the new version is validated completely before it replaces
the old one in one assignment; an invalid file leaves the old rules running and
its error is kept for ``GET /api/v1/rules`` and the log. A rule whose text
changed without a new ``version`` is refused: a version must name one text.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from vigil.bus import Bus
from vigil.cad.service import Cad
from vigil.core.clock import Clock
from vigil.core.events import Recorded
from vigil.core.ids import IncidentId
from vigil.core.ticker import Ticker
from vigil.incidents.catalogue import Catalogue
from vigil.ingest.model import Observation
from vigil.rules.actions import ActionRunner, Recommender, Result
from vigil.rules.evaluate import Evaluator, Firing, RuleStats
from vigil.rules.events import RuleFired
from vigil.rules.facts import Fact, Input, fact_of
from vigil.rules.load import (
    RuleFileError,
    RuleProblem,
    compile_texts,
    read_rule_files,
)
from vigil.rules.notify import Notifier, Outbox
from vigil.rules.rule import KeyBy, RuleSet
from vigil.rules.settings import RulesSettings
from vigil.store.ports import EventLog

log = logging.getLogger(__name__)


class ObservationSource(Protocol):
    """Where committed observation batches come from (ingest)."""

    def subscribe(
        self, name: str, handler: Callable[[Sequence[Observation]], object]
    ) -> Callable[[], None]:
        """Deliver each committed batch to `handler`; return an unsubscribe."""
        ...


Execute = Callable[[Firing], Result]
"""Run a firing's actions (``ActionRunner.run`` in production)."""


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A loaded rule and its counters, as the API and CLI show it."""

    name: str
    version: int
    digest: str
    file: str
    description: str
    match: str
    actions: tuple[str, ...]
    stats: RuleStats


@dataclass(frozen=True, slots=True)
class ReloadStatus:
    """When rules were last loaded and the last reload error, if any."""

    loaded_at: datetime | None
    reloads: int
    failed_reloads: int
    last_error: str | None
    last_error_at: datetime | None
    problems: tuple[RuleProblem, ...]


class RulesEngine:
    """Matches inputs against the loaded rules and acts on what fires."""

    def __init__(
        self,
        *,
        paths: Sequence[Path],
        catalogue: Catalogue,
        clock: Clock,
        execute: Execute,
        is_active: Callable[[IncidentId], bool],
        on_close: Callable[[], None] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._paths = tuple(paths)
        self._catalogue = catalogue
        self._clock = clock
        self._execute = execute
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        texts = read_rule_files(self._paths)
        rules = compile_texts(texts, catalogue)  # an invalid file at start-up is fatal
        self._signature = self._signatures()
        self._texts = {source: _hash(text) for source, text in texts}
        self._evaluator = Evaluator(rules, now=clock.now, is_active=is_active)
        self._loaded_at: datetime | None = clock.now()
        self._reloads = 0
        self._failed_reloads = 0
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._problems: tuple[RuleProblem, ...] = ()
        self._on_close = on_close
        self.notifier = notifier
        self._detach: list[Callable[[], None]] = []
        self.input_count = 0
        self.firing_errors = 0
        self.sweeps = 0
        self._swept_at = float("-inf")

    # ----------------------------------------------------------------- inputs

    @property
    def rules(self) -> RuleSet:
        """Return the rule set in force."""
        return self._evaluator.rules

    def on_observations(self, batch: Sequence[Observation]) -> None:
        """Evaluate a committed batch of observations (ingest calls this)."""
        firings: list[Firing] = []
        with self._lock:
            self._evaluator.observe_many(batch, firings)
            self.input_count += len(batch)
        self._run(firings)

    def on_record(self, rec: Recorded) -> None:
        """Evaluate a recorded CAD event (the bus calls this)."""
        rules = self._evaluator.rules
        tag = rec.event.type_name()
        if (tag, "") not in rules.by_match and (tag, "") not in rules.correlating:
            return
        fact = fact_of(rec)
        if fact is None:
            return
        firings: list[Firing] = []
        with self._lock:
            self._evaluator.observe(fact, firings)
            self.input_count += 1
        self._run(firings)

    def _run(self, firings: list[Firing]) -> None:
        for f in firings:
            try:
                result = self._execute(f)
            except Exception as err:  # a failing firing must never stop the engine
                self.firing_errors += 1
                self._count_errors(f, 1, f"firing failed: {type(err).__name__}: {err}")
                log.exception("rule %s: firing on key %s failed", f.rule.ref, f.key)
                continue
            if result.failures:
                failed = [o for o in result.outcomes if ": failed: " in o]
                self._count_errors(f, result.failures, failed[-1] if failed else None)
            if result.opened and result.incident_id is not None:
                with self._lock:
                    self._evaluator.opened(f.rule.name, f.key, result.incident_id)

    def _count_errors(self, f: Firing, errors: int, message: str | None) -> None:
        with self._lock:
            st = self._evaluator.states.get(f.rule.name)
            if st is not None:
                st.stats.action_errors += errors
                st.stats.last_error = message

    def attach(self, bus: Bus, ingest: ObservationSource) -> None:
        """Consume committed log events (durable cursor ``rules``) and observation batches.

        The notifier (`notifier`) is attached apart, by the process that runs the
        deployment's duties (`vigil.workers.duties`): one sender of each request.
        """
        self._detach.append(bus.subscribe("rules", self.on_record))
        self._detach.append(ingest.subscribe("rules", self.on_observations))

    def close(self) -> None:
        """Stop consuming, then release what the actions hold (the notification worker)."""
        for detach in self._detach:
            detach()
        self._detach = []
        if self._on_close is not None:
            self._on_close()

    # ----------------------------------------------------------------- reload

    def _signatures(self) -> tuple[tuple[str, int, int], ...]:
        out: list[tuple[str, int, int]] = []
        for path in self._paths:
            try:
                st = path.stat()
            except OSError:
                out.append((str(path), -1, -1))
            else:
                out.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(out)

    def reload_if_changed(self) -> bool:
        """Reload rule files that changed on disk; return whether new rules were swapped in."""
        with self._reload_lock:
            signature = self._signatures()
            if signature == self._signature:
                return False
            self._signature = signature
            try:
                texts = read_rule_files(self._paths)
            except RuleFileError as err:
                self._fail(err)
                return False
            hashes = {source: _hash(text) for source, text in texts}
            if hashes == self._texts:
                return False  # touched, not changed
            return self._swap(texts, hashes)

    def _swap(self, texts: list[tuple[str, str]], hashes: dict[str, str]) -> bool:
        try:
            rules = compile_texts(texts, self._catalogue)
            self._refuse_silent_edits(rules)
        except RuleFileError as err:
            self._fail(err)
            return False
        with self._lock:
            self._evaluator.replace(rules)
        self._texts = hashes
        self._reloads += 1
        self._loaded_at = self._clock.now()
        self._last_error, self._last_error_at, self._problems = None, None, ()
        log.info("rules reloaded: %d rule(s) from %s", len(rules.rules), ", ".join(rules.files))
        return True

    def _refuse_silent_edits(self, new: RuleSet) -> None:
        old = {r.name: r for r in self._evaluator.rules.rules}
        problems = [
            RuleProblem(
                rule.file,
                1,
                rule.name,
                "version",
                f"the rule changed but its version is still {rule.version}; bump the version",
            )
            for rule in new.rules
            if (before := old.get(rule.name)) is not None
            and before.version == rule.version
            and before.digest != rule.digest
        ]
        if problems:
            raise RuleFileError(problems)

    def _fail(self, err: RuleFileError) -> None:
        self._failed_reloads += 1
        self._last_error = "; ".join(str(p) for p in err.problems) or str(err)
        self._last_error_at = self._clock.now()
        self._problems = err.problems
        log.error("rule reload refused, previous rules stay active: %s", self._last_error)

    # ----------------------------------------------------------------- upkeep

    # Idle keys outlive their span by an hour of event time (IDLE_KEY_S), so dropping
    # them a minute late costs nothing; sweeping every 2 s tick walked every key of
    # every rule (150,000 with 10,000 devices and 100 rules) under the engine lock.
    SWEEP_EVERY_S = 60.0

    def tick(self) -> None:
        """Reload changed files; drop idle state at most every `SWEEP_EVERY_S` (the ticker)."""
        self.reload_if_changed()
        now = time.monotonic()
        if now - self._swept_at < self.SWEEP_EVERY_S:
            return
        self._swept_at = now
        with self._lock:
            self._evaluator.sweep()
            self.sweeps += 1

    def ticker(self, interval_s: float) -> Ticker:
        """Return the background ticker that keeps the rules fresh."""
        return Ticker("rules-reload", interval_s, self.tick)

    def memory_s(self) -> float:
        """Return how far back in time the rules' windows, durations and correlations reach."""
        reach = 0.0
        for rule in self._evaluator.rules.rules:
            span = (rule.window.size_s if rule.window else 0.0) + rule.sustained_s
            span += max((c.within_s for c in rule.correlate), default=0.0)
            reach = max(reach, span)
        return reach

    def warm(
        self,
        batches: Iterable[Sequence[Observation]],
        store: EventLog,
        *,
        events: Iterable[Recorded] = (),
    ) -> int:
        """Refill windows, durations and correlations from inputs evaluated before a restart.

        The observations come from the store in commit order and the log events
        (`events`: those the ``rules`` cursor had passed, see `recent_events`) in
        log order; they are interleaved by the time each was committed, as they
        were first delivered, so the evaluator reaches the state it had when the
        process stopped: a window half full before the restart is half full after
        it, whether it counts readings or calls. What they fired was acted on then,
        and its `rule.fired` events are in the log, so firings are discarded here;
        then the counters start again and the cooldowns and open incidents are
        read back from the log (`restore`), since replayed decisions took the wall
        clock of the replay for theirs. A restart neither repeats nor invents a
        decision. Returns how many inputs were replayed.
        """
        replayed = 0
        with self._lock:
            for run in _interleave(batches, self._facts(events)):
                self._evaluator.observe_many(run, [])
                replayed += len(run)
            if replayed:
                for st in self._evaluator.states.values():
                    st.stats = RuleStats()
                    for ks in st.keys.values():
                        ks.last_fired, ks.incident_id, ks.suppressed = None, None, 0
        if replayed:
            self.restore(store)
        return replayed

    def _facts(self, events: Iterable[Recorded]) -> Iterator[tuple[datetime, Fact]]:
        """Yield (commit time, fact) of the log events a rule matches or correlates with."""
        rules = self._evaluator.rules
        for rec in events:
            tag = rec.event.type_name()
            if (tag, "") not in rules.by_match and (tag, "") not in rules.correlating:
                continue
            fact = fact_of(rec)
            if fact is not None:
                yield rec.at, fact

    def forget(self, keep: Callable[[str], bool]) -> int:
        """Drop the per-device state of devices `keep` refuses (their partition moved away).

        A worker that takes the partition back later warms it again from the store,
        so nothing of its devices may stay behind to be counted twice.
        """
        dropped = 0
        with self._lock:
            for st in self._evaluator.states.values():
                if st.rule.key is not KeyBy.DEVICE:
                    continue
                for key in [k for k in st.keys if not keep(k)]:
                    del st.keys[key]
                    dropped += 1
        return dropped

    def restore(self, store: EventLog) -> int:
        """Restore per-key cooldowns and open incidents from earlier `rule.fired` events."""
        restored = 0
        with self._lock:
            for name in list(self._evaluator.states):
                for rec in store.stream(f"rule/{name}"):
                    ev = rec.event
                    if not isinstance(ev, RuleFired):
                        continue
                    self._evaluator.restore_key(name, ev.key, rec.at, ev.incident_id)
                    restored += 1
        return restored

    def status(self) -> ReloadStatus:
        """Return the reload status."""
        return ReloadStatus(
            loaded_at=self._loaded_at,
            reloads=self._reloads,
            failed_reloads=self._failed_reloads,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            problems=self._problems,
        )

    def info(self) -> list[RuleInfo]:
        """Return the loaded rules with their counters."""
        with self._lock:
            return [
                RuleInfo(
                    name=st.rule.name,
                    version=st.rule.version,
                    digest=st.rule.digest,
                    file=st.rule.file,
                    description=st.rule.description,
                    match="/".join(p for p in st.rule.match if p),
                    actions=tuple(a.kind for a in st.rule.actions),
                    stats=RuleStats(**{f: getattr(st.stats, f) for f in RuleStats.__slots__}),
                )
                for st in self._evaluator.states.values()
            ]

    @property
    def evaluator(self) -> Evaluator:
        """Return the evaluator (tests and diagnostics; hold no reference across reloads)."""
        return self._evaluator


def create_engine(
    *,
    settings: RulesSettings,
    cad: Cad,
    dispatch: Recommender,
    store: EventLog,
    bus: Bus,
    clock: Clock,
) -> RulesEngine:
    """Build the engine with real actions; restore its cooldowns from the log."""
    outbox = Outbox(
        queue_size=settings.notify_queue_size,
        retries=settings.notify_retries,
        backoff_s=settings.notify_backoff_s,
        timeout_s=settings.notify_timeout_s,
        mqtt_host=settings.mqtt_host,
        mqtt_port=settings.mqtt_port,
    )
    runner = ActionRunner(cad=cad, dispatch=dispatch, store=store, bus=bus, clock=clock)

    def is_active(incident_id: IncidentId) -> bool:
        inc = cad.state.incidents.get(incident_id)
        return inc is not None and inc.active

    engine = RulesEngine(
        paths=settings.files,
        catalogue=cad.catalogue,
        clock=clock,
        execute=runner.run,
        is_active=is_active,
        on_close=outbox.close,
        notifier=Notifier(outbox),
    )
    engine.restore(store)
    return engine


def recent_events(log: EventLog, since: datetime, *, upto: int) -> Iterator[Recorded]:
    """Yield the log's events committed at or after `since`, up to seq `upto`, in log order.

    The first is found by bisecting the log on commit time (one read per step, not
    a scan from the start); commit times follow the log order but for writers'
    clocks a little apart, so the search starts `_CLOCK_SLACK` earlier and every
    event is checked against `since`.
    """
    start = since - _CLOCK_SLACK
    lo, hi = 0, upto  # the first event at or after `start` is after seq lo, at most hi
    while lo < hi:
        mid = (lo + hi) // 2
        nxt = next(log.read(after_seq=mid, limit=1), None)
        if nxt is None or nxt.seq > upto:
            hi = mid
        elif nxt.at < start:
            lo = nxt.seq
        else:
            hi = mid
    for rec in log.read(after_seq=lo):
        if rec.seq > upto:
            return
        if rec.at >= since:
            yield rec


_CLOCK_SLACK = timedelta(minutes=1)


def _interleave(
    batches: Iterable[Sequence[Observation]], facts: Iterable[tuple[datetime, Fact]]
) -> Iterator[Sequence[Input]]:
    """Merge observation batches and log facts into runs in the order they were delivered.

    An observation counts from when it was received; a log event from its commit.
    A batch is split only where a fact falls inside it.
    """
    pending = iter(facts)
    nxt = next(pending, None)
    for batch in batches:
        i, n = 0, len(batch)
        while nxt is not None and i < n:
            at, fact = nxt
            if batch[-1].received_at <= at:
                break
            j = i
            while j < n and batch[j].received_at <= at:
                j += 1
            if j > i:
                yield batch[i:j]
            yield (fact,)
            i = j
            nxt = next(pending, None)
        if i < n:
            yield batch if i == 0 else batch[i:]
    while nxt is not None:
        yield (nxt[1],)
        nxt = next(pending, None)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
