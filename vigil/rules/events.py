"""Events the rules engine records: every firing, so rules are auditable and countable."""

from __future__ import annotations

from vigil.core.events import Event, register
from vigil.core.ids import IncidentId


@register
class RuleFired(Event, frozen=True, kw_only=True, tag="rule.fired"):
    """A rule acted: which rule (name, version, digest), on what key, why, and with what result.

    Its ``cause`` in the log is the first evidence id; ``evidence`` holds up to 50
    ids (``evidence_total`` counts them all). ``outcomes`` has one line per action.
    """

    rule: str
    version: int
    digest: str
    key: str
    actions: tuple[str, ...]
    outcomes: tuple[str, ...]
    evidence: tuple[str, ...]
    evidence_total: int
    correlated: tuple[str, ...] = ()
    window_value: float | None = None
    incident_id: IncidentId | None = None
    deduplicated: bool = False
    suppressed: int = 0
    failed: bool = False

    def stream(self) -> str:
        """Return ``rule/<name>``."""
        return f"rule/{self.rule}"

    def related(self) -> tuple[str, ...]:
        """Show the firing on the incident's timeline too."""
        return (f"incident/{self.incident_id}",) if self.incident_id else ()


@register
class NotificationRequested(Event, frozen=True, kw_only=True, tag="rule.notification_requested"):
    """A firing asked for a message to go out; the notifier, a consumer of the log, sends it.

    Recorded with the firing (its id derives from the firing's, so a redelivered
    firing requests nothing twice); sending happens after the commit, off the
    rules' thread, from the notifier's durable cursor.
    """

    rule: str
    ref: str  # name@version, for the delivery's log lines
    channel: str  # "webhook" | "mqtt"
    target: str  # URL or MQTT topic
    body: str  # the JSON the receiver gets

    def stream(self) -> str:
        """Return ``rule/<name>``."""
        return f"rule/{self.rule}"
