"""Carry out a firing's actions by issuing commands, and record the firing.

The runner is a bus consumer: it runs after the triggering event or reading
was committed, on the rules engine's own thread, and acts only by issuing
commands to the CAD service (open incident, add note, raise priority), like an
operator would; the incident timeline then shows the rule (``name@vN``) and
the ids of the events that caused it. Every command and recorded event of a
firing carries an id derived from the firing (rule, version, key, trigger), so
a firing delivered twice (at-least-once after a crash) changes nothing twice.
Each action is isolated: one that fails is recorded as failed, counted and
logged with the rule's name, and the next action still runs. A ``rule.fired``
event closes every firing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

import msgspec

from vigil.alerts.drafts import AlertDrafted
from vigil.bus import Bus
from vigil.cad.service import Cad
from vigil.core.clock import Clock
from vigil.core.errors import VigilError
from vigil.core.events import Pending
from vigil.core.geometry import LatLon, haversine_m
from vigil.core.ids import EventId, IncidentId, new_id
from vigil.dispatch.service import Recommendation
from vigil.incidents.events import IncidentOpened
from vigil.incidents.model import Incident
from vigil.rules.evaluate import Firing
from vigil.rules.events import NotificationRequested, RuleFired
from vigil.rules.rule import (
    Action,
    Attach,
    DraftAlert,
    NotifyMqtt,
    NotifyWebhook,
    OpenIncident,
    RaisePriority,
    duration_text,
)
from vigil.store.ports import EventLog

log = logging.getLogger(__name__)


class Recommender(Protocol):
    """What the rules need from dispatch."""

    def recommend(self, incident_id: IncidentId) -> Recommendation:
        """Return a recommendation for an incident."""
        ...


@dataclass(frozen=True, slots=True)
class Result:
    """What running a firing did."""

    incident_id: IncidentId | None
    opened: bool
    outcomes: tuple[str, ...]
    failures: int


# ----------------------------------------------------------------- texts

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def placeholders(f: Firing) -> dict[str, str]:
    """Return the values {placeholders} in rule texts are replaced with."""
    x = f.trigger
    return {
        "rule": f.rule.ref,
        "value": _fmt(x.value),
        "unit": x.unit,
        "device": x.device_id or "-",
        "zone": (f.rule.scope_zone.label if f.rule.scope_zone else None) or x.zone or "-",
        "kind": str(x.kind),
        "stream": x.stream,
        "window": _fmt(f.window_value),
        "count": str(f.count),
    }


def render(template: str, f: Firing) -> str:
    """Fill {placeholders} (only known names; no format-string evaluation)."""
    values = placeholders(f)
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def explain(f: Firing) -> str:
    """Return the human explanation recorded on the timeline: what matched and why."""
    rule, x = f.rule, f.trigger
    source = f"{x.kind}/{x.stream}" if x.stream else str(x.kind)
    where = f" from device {x.device_id}" if x.device_id else ""
    zone = (
        f" in zone {rule.scope_zone.label}"
        if rule.scope_zone
        else (f" in zone {x.zone}" if x.zone else "")
    )
    parts = [f"Rule {rule.ref} fired on {source}{where}{zone} (key {f.key})."]
    if rule.condition is not None:
        parts.append(f"Condition `{rule.condition.source}`.")
    if rule.window is not None:
        parts.append(
            f"Window {rule.window.describe()}: {_fmt(f.window_value)} {x.unit}".rstrip()
            + f" over {f.count} value(s)."
        )
    else:
        parts.append(f"Latest value {_fmt(x.value)} {x.unit}".rstrip() + ".")
    if rule.sustained_s > 0:
        since = f" since {f.since.isoformat()}" if f.since else ""
        parts.append(f"Held for at least {duration_text(rule.sustained_s)}{since}.")
    if rule.hours is not None:
        parts.append(f"Active hours {rule.hours.text} ({rule.hours.tz.key}).")
    for clause in rule.correlate:
        parts.append(f"Correlated: {clause.describe()}.")
    if f.correlated:
        parts.append(f"Correlated events: {', '.join(f.correlated)}.")
    shown = ", ".join(f.evidence)
    more = (
        f" (+{f.evidence_total - len(f.evidence)} more)"
        if f.evidence_total > len(f.evidence)
        else ""
    )
    parts.append(f"Evidence ({f.evidence_total}): {shown}{more}.")
    if f.suppressed:
        parts.append(f"{f.suppressed} trigger(s) suppressed by the cooldown since last firing.")
    return " ".join(parts)


def payload(f: Firing, result: Result) -> bytes:
    """Return the JSON a webhook or MQTT subscriber receives."""
    x = f.trigger
    loc = x.location
    body = {
        "rule": f.rule.name,
        "version": f.rule.version,
        "key": f.key,
        "at": f.decided_at.isoformat(),
        "event_time": x.observed_at.isoformat(),
        "kind": str(x.kind),
        "stream": x.stream,
        "value": x.value,
        "window_value": f.window_value,
        "location": {"lat": loc.lat, "lon": loc.lon} if loc else None,
        "zone": f.rule.scope_zone.name if f.rule.scope_zone else x.zone,
        "evidence": list(f.evidence),
        "incident_id": result.incident_id,
        "explanation": explain(f),
    }
    return msgspec.json.encode(body)


# ----------------------------------------------------------------- runner


class ActionRunner:
    """Runs firings against the CAD, dispatch and the log (notifications are logged requests)."""

    def __init__(
        self,
        *,
        cad: Cad,
        dispatch: Recommender,
        store: EventLog,
        bus: Bus,
        clock: Clock,
    ) -> None:
        self._cad = cad
        self._dispatch = dispatch
        self._store = store
        self._bus = bus
        self._clock = clock

    def run(self, f: Firing) -> Result:
        """Carry out every action of a firing; record `rule.fired`; never raise for one action."""
        ctx = _Context(
            firing_id=firing_id(f), incident_id=f.incident_id, dedup=f.incident_id is not None
        )
        outcomes: list[str] = []
        failures = 0
        for action in f.rule.actions:
            try:
                outcomes.append(self._one(action, f, ctx))
            except Exception as err:  # noqa: BLE001 - one failing action must not stop the rest
                failures += 1
                text = str(err) if isinstance(err, VigilError) else f"{type(err).__name__}: {err}"
                outcomes.append(f"{action.kind}: failed: {text}")
                log.warning("rule %s: action %s failed: %s", f.rule.ref, action.kind, text)
        result = Result(
            incident_id=ctx.incident_id,
            opened=ctx.opened,
            outcomes=tuple(outcomes),
            failures=failures,
        )
        self._record_fired(f, result, dedup=ctx.dedup, event_id=EventId(f"{ctx.firing_id}/fired"))
        return result

    def _one(self, action: Action, f: Firing, ctx: _Context) -> str:
        if isinstance(action, OpenIncident):
            return self._open(action, f, ctx)
        if isinstance(action, RaisePriority):
            return self._raise(action, f, ctx)
        if isinstance(action, Attach):
            return self._attach(action, f, ctx)
        if isinstance(action, DraftAlert):
            return self._draft(action, f, ctx)
        if isinstance(action, NotifyWebhook | NotifyMqtt):
            return self._notify(action, f, ctx)
        return self._recommend(f, ctx)

    # -------------------------------------------------------------- actions

    def _location(self, action: OpenIncident, f: Firing) -> LatLon | None:
        if action.location == "zone" and f.rule.scope_zone is not None:
            return f.rule.scope_zone.centroid()
        return f.trigger.location

    def _open(self, action: OpenIncident, f: Firing, ctx: _Context) -> str:
        rule = f.rule
        if ctx.incident_id is not None:
            self._cad.add_note(
                ctx.incident_id,
                command_id=ctx.command_id(),
                actor=rule.actor,
                text="Still matching (no new incident: this rule's incident for "
                f"{f.key} is active). " + explain(f),
                rule=rule.ref,
                evidence=f.evidence,
                cause=f.evidence[0] if f.evidence else None,
            )
            return f"open_incident: added evidence to active incident {ctx.incident_id}"
        description = (
            render(action.description, f)
            if action.description
            else (f"{rule.description or rule.name} (rule {rule.ref})")
        )
        outcome = self._cad.open_incident(
            command_id=ctx.command_id(),
            actor=rule.actor,
            type=action.type,
            location=self._location(action, f),
            description=description,
            priority=action.priority,
            rule=rule.ref,
            cause=f.evidence[0] if f.evidence else None,
        )
        opened = next(r.event for r in outcome.records if isinstance(r.event, IncidentOpened))
        ctx.incident_id, ctx.opened = opened.incident_id, True
        self._cad.add_note(
            opened.incident_id,
            command_id=ctx.command_id(),
            actor=rule.actor,
            text=explain(f),
            rule=rule.ref,
            evidence=f.evidence,
            cause=f.evidence[0] if f.evidence else None,
        )
        return f"open_incident: opened {opened.incident_id} ({action.type})"

    def _nearest(
        self, f: Firing, within_m: float, types: tuple[str, ...]
    ) -> tuple[Incident, float] | None:
        loc = f.trigger.location
        if loc is None:
            return None
        best: tuple[Incident, float] | None = None
        for inc in self._cad.incidents():
            if not inc.active or inc.location is None or (types and inc.type not in types):
                continue
            d = haversine_m(loc, inc.location)
            if d <= within_m and (best is None or d < best[1]):
                best = (inc, d)
        return best

    def _raise_to(self, incident_id: IncidentId, to: int, f: Firing, ctx: _Context) -> str:
        inc = self._cad.incident(incident_id)
        if inc.priority <= to:
            return f"priority of {incident_id} already {inc.priority}"
        self._cad.update_incident(
            incident_id,
            command_id=ctx.command_id(),
            actor=f.rule.actor,
            priority=to,
            reason=f"rule {f.rule.ref}: raised from {inc.priority} to {to} on evidence "
            + ", ".join(f.evidence[:5]),
            cause=f.evidence[0] if f.evidence else None,
        )
        return f"raised {incident_id} from priority {inc.priority} to {to}"

    def _raise(self, action: RaisePriority, f: Firing, ctx: _Context) -> str:
        target = ctx.incident_id
        if target is None and action.within_m is not None:
            near = self._nearest(f, action.within_m, action.types)
            target = near[0].id if near else None
        if target is None:
            return "raise_priority: skipped: no incident for this firing"
        return "raise_priority: " + self._raise_to(target, action.to, f, ctx)

    def _attach(self, action: Attach, f: Firing, ctx: _Context) -> str:
        near = self._nearest(f, action.within_m, action.types)
        if near is None:
            return f"attach: skipped: no active incident within {action.within_m:g} m"
        inc, distance = near
        self._cad.add_note(
            inc.id,
            command_id=ctx.command_id(),
            actor=f.rule.actor,
            text=f"Attached by rule ({distance:.0f} m away). " + explain(f),
            rule=f.rule.ref,
            evidence=f.evidence,
            cause=f.evidence[0] if f.evidence else None,
        )
        ctx.incident_id = ctx.incident_id or inc.id
        done = f"attach: added evidence to {inc.id} ({distance:.0f} m)"
        if action.raise_priority_to is not None:
            done += "; " + self._raise_to(inc.id, action.raise_priority_to, f, ctx)
        return done

    def _recommend(self, f: Firing, ctx: _Context) -> str:
        if ctx.incident_id is None:
            return "recommend: skipped: no incident"
        if ctx.dedup:
            return f"recommend: skipped: {ctx.incident_id} was recommended for when opened"
        try:
            rec = self._dispatch.recommend(ctx.incident_id)
        except VigilError as err:
            text = f"Unit recommendation unavailable: {err}"
        else:
            text = _recommendation_text(rec)
        self._cad.add_note(
            ctx.incident_id,
            command_id=ctx.command_id(),
            actor=f.rule.actor,
            text=text,
            rule=f.rule.ref,
        )
        return "recommend: " + text

    def _draft(self, action: DraftAlert, f: Firing, ctx: _Context) -> str:
        if ctx.dedup:
            return f"draft_alert: skipped: already drafted for {ctx.incident_id}"
        polygon = circle = None
        if action.area_zone is not None:
            zone = f.rule.zones[action.area_zone]
            polygon, area = zone.cap_polygon(), zone.label
        else:
            loc = f.trigger.location
            if loc is None:
                return "draft_alert: skipped: the event has no location for a circle"
            radius = action.area_radius_m or 0.0
            circle = f"{loc.lat:.6f},{loc.lon:.6f} {radius / 1000:.3f}"
            area = f"within {radius:g} m of {loc.lat:.5f},{loc.lon:.5f}"
        draft_id = new_id("ALD")
        event = AlertDrafted(
            draft_id=draft_id,
            headline=render(action.headline, f),
            description=render(action.description, f),
            instruction=render(action.instruction, f),
            cap_event=action.event,
            category=action.category,
            urgency=action.urgency,
            severity=action.severity,
            certainty=action.certainty,
            area_desc=area,
            polygon=polygon,
            circle=circle,
            rule=f.rule.ref,
            evidence=f.evidence,
            incident_id=ctx.incident_id,
        )
        self._append(event, f, EventId(f"{ctx.firing_id}/draft"))
        return f"draft_alert: drafted {draft_id} ({action.event}, awaiting approval)"

    def _notify(self, action: NotifyWebhook | NotifyMqtt, f: Firing, ctx: _Context) -> str:
        kind, target = (
            ("webhook", action.url) if isinstance(action, NotifyWebhook) else ("mqtt", action.topic)
        )
        result = Result(incident_id=ctx.incident_id, opened=ctx.opened, outcomes=(), failures=0)
        event = NotificationRequested(
            rule=f.rule.name,
            ref=f.rule.ref,
            channel=kind,
            target=target,
            body=payload(f, result).decode("utf-8"),
        )
        # Logged, not sent: the notifier consumes it after the commit (`Notifier`).
        self._append(event, f, EventId(f"{ctx.command_id()}/notify"))
        return f"notify_{kind}: queued for {target}"

    # ------------------------------------------------------------- records

    def _append(
        self, event: RuleFired | AlertDrafted | NotificationRequested, f: Firing, event_id: EventId
    ) -> None:
        pending = Pending(
            id=event_id,
            at=self._clock.now(),
            actor=f.rule.actor,
            cause=f.evidence[0] if f.evidence else None,
            event=event,
        )
        recorded = self._store.append([pending])
        self._bus.publish(recorded)

    def _record_fired(self, f: Firing, result: Result, *, dedup: bool, event_id: EventId) -> None:
        event = RuleFired(
            rule=f.rule.name,
            version=f.rule.version,
            digest=f.rule.digest,
            key=f.key,
            actions=tuple(a.kind for a in f.rule.actions),
            outcomes=result.outcomes,
            evidence=f.evidence,
            evidence_total=f.evidence_total,
            correlated=f.correlated,
            window_value=f.window_value,
            incident_id=result.incident_id,
            deduplicated=dedup,
            suppressed=f.suppressed,
            failed=result.failures > 0,
        )
        self._append(event, f, event_id)


def firing_id(f: Firing) -> str:
    """Return the stable id of a firing: the same rule version, key and trigger give the same."""
    return f"RF:{f.rule.name}@{f.rule.version}:{f.key}:{f.trigger.id}"


@dataclass(slots=True)
class _Context:
    firing_id: str
    incident_id: IncidentId | None
    dedup: bool
    opened: bool = False
    commands: int = 0

    def command_id(self) -> str:
        """Return the id of the firing's next command (stable across redelivery)."""
        self.commands += 1
        return f"{self.firing_id}/{self.commands}"


def _recommendation_text(rec: Recommendation) -> str:
    units = [f"{c.callsign} ({c.type}, {c.covers}, ETA {c.eta_s / 60:.1f} min)" for c in rec.chosen]
    text = "Recommended units: " + (", ".join(units) if units else "none available")
    uncovered = rec.uncovered_reasons()
    if uncovered:
        text += ". Not covered: " + "; ".join(uncovered)
    return text + f" ({rec.method}, {rec.compute_ms:.0f} ms)."
