"""Public alerts: compose, approve (two-person rule), publish; the current state of each.

A draft comes from a rule (``alert.drafted``), from an incident or from
scratch (``alert.composed``). Approval writes ``alert.approved`` and, in the
same transaction, ``alert.published`` with the exact CAP 1.2 document, which
has been checked against the OASIS XSD and the profile rules first: a document
that fails is never approved. A rejected draft is never published. The state
of every alert is a projection of these events, rebuilt from the log on start.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import msgspec
from lxml import etree

from vigil.alerts import cap
from vigil.alerts.cap import CapAlert, CapArea, CapInfo, CapReference, Problem
from vigil.alerts.drafts import AlertDrafted
from vigil.alerts.events import (
    AlertApproved,
    AlertComposed,
    AlertDeliveryAttempted,
    AlertPublished,
    AlertRejected,
    ExternalAlertReceived,
)
from vigil.alerts.settings import AlertSettings
from vigil.alerts.xmlsafe import load_schema, parse_untrusted
from vigil.bus import Bus
from vigil.core.clock import Clock
from vigil.core.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from vigil.core.events import Event, Pending, Recorded
from vigil.core.ids import EventId, IncidentId, new_id
from vigil.store.ports import EventLog

AlertState = Literal["draft", "rejected", "published", "superseded", "cancelled"]
ALERT_EVENTS = (
    AlertDrafted,
    AlertComposed,
    AlertApproved,
    AlertRejected,
    AlertPublished,
    AlertDeliveryAttempted,
    ExternalAlertReceived,
)


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """The latest attempt on one channel."""

    channel: str
    attempt: int
    ok: bool
    final: bool
    detail: str
    at: datetime


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One of the city's alerts as it stands now."""

    id: str
    state: AlertState
    msg_type: Literal["Alert", "Update", "Cancel"]
    supersedes: str | None
    infos: tuple[CapInfo, ...]
    note: str | None
    incident_id: IncidentId | None
    from_draft: str | None
    revision: int
    authors: tuple[str, ...]
    composed_at: datetime
    updated_at: datetime
    decided_by: str | None = None
    decision_reason: str | None = None
    published: AlertPublished | None = None
    superseded_by: str | None = None
    deliveries: tuple[Delivery, ...] = ()

    def active(self, now: datetime) -> bool:
        """Return whether it is published, not superseded or cancelled, and unexpired."""
        return (
            self.state == "published"
            and self.published is not None
            and self.published.expires > now
        )


class ExternalAlert(msgspec.Struct, frozen=True, kw_only=True):
    """Another agency's alert as it stands now."""

    received: ExternalAlertReceived
    at: datetime
    state: Literal["active", "updated", "cancelled"] = "active"

    def active(self, now: datetime) -> bool:
        """Return whether it is current and unexpired (no expiry: treated as active)."""
        exp = self.received.expires
        return self.state == "active" and (exp is None or exp > now)


def draft_infos(d: AlertDrafted, *, language: str = "en-US") -> tuple[CapInfo, ...]:
    """Turn a rule's draft into the one ``<info>`` block it describes."""
    area = CapArea(
        desc=d.area_desc,
        polygons=(d.polygon,) if d.polygon else (),
        circles=(d.circle,) if d.circle else (),
    )
    return (
        CapInfo(
            language=language,
            categories=(d.category,),
            event=d.cap_event,
            urgency=d.urgency,
            severity=d.severity,
            certainty=d.certainty,
            headline=d.headline,
            description=d.description,
            instruction=d.instruction,
            areas=(area,),
        ),
    )


class AlertBook:
    """The projection: every alert and external alert, updated from recorded events."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.external: dict[tuple[str, str], ExternalAlert] = {}
        self._seen: set[int] = set()

    def apply(self, rec: Recorded) -> bool:  # noqa: PLR0912 - one branch per event type
        """Apply one recorded event once (a repeat of a seq is ignored); return if it changed."""
        if rec.seq in self._seen or not isinstance(rec.event, ALERT_EVENTS):
            return False
        self._seen.add(rec.seq)
        e = rec.event
        if isinstance(e, AlertDrafted):
            self.alerts[e.draft_id] = Alert(
                id=e.draft_id,
                state="draft",
                msg_type="Alert",
                supersedes=None,
                infos=draft_infos(e),
                note=None,
                incident_id=e.incident_id,
                from_draft=e.draft_id,
                revision=1,
                authors=(rec.actor,),
                composed_at=rec.at,
                updated_at=rec.at,
            )
        elif isinstance(e, AlertComposed):
            old = self.alerts.get(e.alert_id)
            authors = (*old.authors, rec.actor) if old is not None else (rec.actor,)
            self.alerts[e.alert_id] = Alert(
                id=e.alert_id,
                state="draft",
                msg_type=e.msg_type,
                supersedes=e.supersedes,
                infos=e.infos,
                note=e.note,
                incident_id=e.incident_id,
                from_draft=e.from_draft,
                revision=e.revision,
                authors=tuple(dict.fromkeys(authors)),
                composed_at=old.composed_at if old is not None else rec.at,
                updated_at=rec.at,
            )
        elif isinstance(e, AlertApproved | AlertRejected):
            old = self.alerts.get(e.alert_id)
            if old is not None:
                state: AlertState = "rejected" if isinstance(e, AlertRejected) else old.state
                self.alerts[e.alert_id] = msgspec.structs.replace(
                    old,
                    state=state,
                    decided_by=rec.actor,
                    decision_reason=e.reason,
                    updated_at=rec.at,
                )
        elif isinstance(e, AlertPublished):
            old = self.alerts.get(e.alert_id)
            if old is not None:
                self.alerts[e.alert_id] = msgspec.structs.replace(
                    old, state="published", published=e, updated_at=rec.at
                )
            target = self.alerts.get(e.supersedes or "")
            if target is not None:
                new_state: AlertState = "cancelled" if e.msg_type == "Cancel" else "superseded"
                self.alerts[target.id] = msgspec.structs.replace(
                    target, state=new_state, superseded_by=e.alert_id, updated_at=rec.at
                )
        elif isinstance(e, AlertDeliveryAttempted):
            old = self.alerts.get(e.alert_id)
            if old is not None:
                d = Delivery(
                    channel=e.channel,
                    attempt=e.attempt,
                    ok=e.ok,
                    final=e.final,
                    detail=e.detail,
                    at=rec.at,
                )
                rest = tuple(x for x in old.deliveries if x.channel != e.channel)
                self.alerts[e.alert_id] = msgspec.structs.replace(old, deliveries=(*rest, d))
        elif isinstance(e, ExternalAlertReceived):
            for ref in e.references:
                prior = self.external.get((e.sender, ref))
                if prior is not None:
                    gone: Literal["updated", "cancelled"] = (
                        "cancelled" if e.msg_type == "Cancel" else "updated"
                    )
                    self.external[(e.sender, ref)] = msgspec.structs.replace(prior, state=gone)
            if e.msg_type != "Cancel":
                self.external[(e.sender, e.identifier)] = ExternalAlert(received=e, at=rec.at)
        return True


def _alert_events(store: EventLog) -> list[Recorded]:
    return [r for r in store.read() if isinstance(r.event, ALERT_EVENTS)]


class Alerts:
    """Commands and queries over the city's alerts."""

    def __init__(self, *, settings: AlertSettings, store: EventLog, bus: Bus, clock: Clock) -> None:
        self.settings = settings
        self._store = store
        self._bus = bus
        self._clock = clock
        self._lock = threading.RLock()
        self.book = AlertBook()
        self.schema: etree.XMLSchema | None = None
        self.schema_label = "none configured"
        if settings.cap_schema is not None:
            self.schema = load_schema(settings.cap_schema)
            digest = hashlib.sha256(Path(settings.cap_schema).read_bytes()).hexdigest()[:16]
            self.schema_label = f"{Path(settings.cap_schema).name} sha256:{digest}"
        for rec in _alert_events(store):
            self.book.apply(rec)
        # Not durable: the book is rebuilt from the log at start-up, then follows the bus.
        self._unsubscribe = bus.subscribe("alerts", self._on_record, durable=False)
        self.listeners: list[Callable[[Recorded], None]] = []

    def close(self) -> None:
        """Stop following the bus."""
        self._unsubscribe()

    def _on_record(self, rec: Recorded) -> None:
        with self._lock:
            changed = self.book.apply(rec)
        if changed:
            for listener in list(self.listeners):
                listener(rec)

    # ------------------------------------------------------------- plumbing

    def _commit(
        self, decide: Callable[[], list[Event]], *, actor: str, command_id: str | None
    ) -> list[Recorded]:
        with self._lock:
            if command_id is not None:
                earlier = self._store.events_with_prefix(f"{command_id}/")
                if earlier:
                    return earlier
            events = decide()
            cid = command_id or new_id("CMD")
            now = self._clock.now()
            pending = [
                Pending(id=EventId(f"{cid}/{i}"), at=now, actor=actor, cause=None, event=e)
                for i, e in enumerate(events)
            ]
            recorded = self._store.append(pending)
            for rec in recorded:
                self.book.apply(rec)
        self._bus.publish(recorded)
        return recorded

    # --------------------------------------------------------------- queries

    def get(self, alert_id: str) -> Alert:
        """Return one alert or refuse an unknown id."""
        try:
            return self.book.alerts[alert_id]
        except KeyError:
            raise NotFoundError(f"no alert {alert_id!r}", field="alert_id") from None

    def find(self, *, states: frozenset[str] | None = None) -> list[Alert]:
        """Return alerts (optionally in some states), newest first."""
        found = [a for a in self.book.alerts.values() if states is None or a.state in states]
        return sorted(found, key=lambda a: (a.updated_at, a.id), reverse=True)

    def public(self, now: datetime | None = None) -> list[Alert]:
        """Return what the public feed shows: published, unexpired, not superseded, newest first.

        Cancel messages stay in the feed until the alert they cancel would have expired,
        so aggregators learn of the cancellation.
        """
        now = now or self._clock.now()
        return [a for a in self.find(states=frozenset({"published"})) if a.active(now)]

    def external_active(self, now: datetime | None = None) -> list[ExternalAlert]:
        """Return other agencies' current alerts, newest first."""
        now = now or self._clock.now()
        found = [x for x in self.book.external.values() if x.active(now)]
        return sorted(found, key=lambda x: x.received.sent, reverse=True)

    def undelivered(self, channels: list[str]) -> list[tuple[str, bytes, set[str]]]:
        """Return active alerts with channels not yet finally delivered (to re-queue on start)."""
        out = []
        for alert in self.public():
            assert alert.published is not None
            done = {d.channel for d in alert.deliveries if d.final}
            missing = set(channels) - done
            if missing:
                out.append((alert.id, alert.published.xml.encode("utf-8"), missing))
        return out

    # -------------------------------------------------------------- commands

    def compose(
        self,
        *,
        actor: str,
        infos: Sequence[CapInfo],
        msg_type: Literal["Alert", "Update", "Cancel"] = "Alert",
        supersedes: str | None = None,
        note: str | None = None,
        incident_id: IncidentId | None = None,
        alert_id: str | None = None,
        reason: str = "",
        command_id: str | None = None,
    ) -> Alert:
        """Write a new draft, or revise a draft (`alert_id`): the actor becomes an author."""
        new = alert_id is None
        ident = alert_id or new_id("ALR")

        def decide() -> list[Event]:
            revision, from_draft = 1, None
            inc = incident_id
            if not new:
                old = self.get(ident)
                if old.state != "draft":
                    raise ConflictError(
                        f"alert {ident} is {old.state}; only drafts can be revised",
                        field="alert_id",
                    )
                revision, from_draft = old.revision + 1, old.from_draft
                inc = inc or old.incident_id
            if msg_type in ("Update", "Cancel"):
                if supersedes is None:
                    raise ValidationError(
                        f"an {msg_type} must name the published alert it supersedes",
                        field="supersedes",
                    )
                target = self.get(supersedes)
                if target.state != "published":
                    raise ConflictError(
                        f"alert {supersedes} is {target.state}; only a published alert "
                        f"can be updated or cancelled",
                        field="supersedes",
                    )
            elif supersedes is not None:
                raise ValidationError("only an Update or Cancel supersedes", field="supersedes")
            event = AlertComposed(
                alert_id=ident,
                msg_type=msg_type,
                supersedes=supersedes,
                infos=tuple(infos),
                note=note,
                incident_id=inc,
                from_draft=from_draft,
                revision=revision,
                reason=reason,
            )
            # A draft must already be publishable: check the document it would become.
            problems = self.problems(self._document(self._preview(event, actor), actor=actor))
            if problems:
                raise ValidationError(
                    "the alert would not be valid CAP 1.2: " + "; ".join(map(str, problems)),
                    field="infos",
                    extra={"problems": [str(p) for p in problems]},
                )
            return [event]

        self._commit(decide, actor=actor, command_id=command_id)
        return self.get(ident)

    def approve(
        self, alert_id: str, *, actor: str, reason: str, command_id: str | None = None
    ) -> Alert:
        """Approve a draft and publish it in the same transaction; refuse an author's own."""

        def decide() -> list[Event]:
            alert = self._decidable(alert_id, actor, verb="approve")
            if not reason.strip():
                raise ValidationError("approval needs a reason", field="reason")
            doc = self._document(alert, actor=actor)
            xml = cap.build_xml(doc)
            root = parse_untrusted(xml, max_bytes=max(len(xml), 1))
            problems = cap.check(root, self.schema)
            if problems:
                raise ValidationError(
                    "not publishable: " + "; ".join(map(str, problems)),
                    field="alert",
                    extra={"problems": [str(p) for p in problems]},
                )
            expires = doc.expires()
            assert expires is not None  # _document always sets one
            return [
                AlertApproved(
                    alert_id=alert_id,
                    revision=alert.revision,
                    reason=reason,
                    incident_id=alert.incident_id,
                ),
                AlertPublished(
                    alert_id=alert_id,
                    identifier=doc.identifier,
                    sender=doc.sender,
                    sent=doc.sent,
                    expires=expires,
                    msg_type=doc.msg_type,
                    supersedes=alert.supersedes,
                    xml=xml.decode("utf-8"),
                    schema=self.schema_label,
                    incident_id=alert.incident_id,
                ),
            ]

        self._commit(decide, actor=actor, command_id=command_id)
        return self.get(alert_id)

    def reject(
        self, alert_id: str, *, actor: str, reason: str, command_id: str | None = None
    ) -> Alert:
        """Reject a draft with a reason; it will never be published."""

        def decide() -> list[Event]:
            alert = self._decidable(alert_id, actor, verb="reject")
            if not reason.strip():
                raise ValidationError("rejection needs a reason", field="reason")
            return [
                AlertRejected(
                    alert_id=alert_id,
                    revision=alert.revision,
                    reason=reason,
                    incident_id=alert.incident_id,
                )
            ]

        self._commit(decide, actor=actor, command_id=command_id)
        return self.get(alert_id)

    def record_delivery(self, event: AlertDeliveryAttempted) -> None:
        """Log one delivery attempt (called by the delivery consumer)."""
        self._commit(lambda: [event], actor="system:delivery", command_id=None)

    def record_external(self, event: ExternalAlertReceived, *, event_id: EventId) -> bool:
        """Log another agency's alert once (the id makes a re-poll a no-op); return if new."""
        pending = Pending(
            id=event_id, at=self._clock.now(), actor="system:cap-in", cause=None, event=event
        )
        with self._lock:
            recorded = self._store.append([pending])
            for rec in recorded:
                self.book.apply(rec)
        self._bus.publish(recorded)
        return bool(recorded)

    # ---------------------------------------------------------------- helpers

    def _decidable(self, alert_id: str, actor: str, *, verb: str) -> Alert:
        alert = self.get(alert_id)
        if alert.state != "draft":
            raise ConflictError(
                f"alert {alert_id} is {alert.state}; only a draft can be decided", field="alert_id"
            )
        if self.settings.two_person_rule and actor in alert.authors:
            raise ForbiddenError(
                f"{actor} wrote or revised this draft and may not {verb} it "
                "(two-person rule: someone else must decide)"
            )
        return alert

    def _preview(self, event: AlertComposed, actor: str) -> Alert:
        now = self._clock.now()
        return Alert(
            id=event.alert_id,
            state="draft",
            msg_type=event.msg_type,
            supersedes=event.supersedes,
            infos=event.infos,
            note=event.note,
            incident_id=event.incident_id,
            from_draft=event.from_draft,
            revision=event.revision,
            authors=(actor,),
            composed_at=now,
            updated_at=now,
        )

    def _document(self, alert: Alert, *, actor: str) -> CapAlert:
        """Return the CAP message an alert becomes when published now."""
        now = self._clock.now()
        default_expiry = now + timedelta(hours=self.settings.default_expiry_h)
        refs: tuple[CapReference, ...] = ()
        if alert.supersedes is not None:
            target = self.get(alert.supersedes)
            if target.published is not None:
                p = target.published
                refs = (CapReference(sender=p.sender, identifier=p.identifier, sent=p.sent),)
        web = f"{self.settings.public_url.rstrip('/')}/api/v1/public/cap/{alert.id}.xml"
        infos = tuple(
            msgspec.structs.replace(
                i,
                expires=i.expires or default_expiry,
                sender_name=i.sender_name or self.settings.sender_name,
                web=i.web or web,
            )
            for i in alert.infos
        )
        return CapAlert(
            identifier=alert.id,
            sender=self.settings.sender,
            sent=now,
            status="Actual",
            msg_type=alert.msg_type,
            scope="Public",
            note=alert.note,
            references=refs,
            incidents=alert.incident_id,
            infos=infos,
        )

    def problems(self, doc: CapAlert) -> list[Problem]:
        """Return what is wrong with a CAP message Vigil would write (empty = valid)."""
        xml = cap.build_xml(doc)
        return cap.check(parse_untrusted(xml, max_bytes=max(len(xml), 1)), self.schema)
