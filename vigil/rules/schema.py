"""The rule file format (pydantic models at the file edge; every field described).

A rule file::

    timezone: Europe/Helsinki          # for `hours`
    zones:
      senate-square:
        label: Senate Square (event venue)
        polygon: [[60.1700, 24.9505], [60.1700, 24.9530], ...]   # [lat, lon]
    rules:
      - name: flood-gauge-high
        version: 1
        match: {kind: flood_gauge, stream: level}
        condition: value > 3.2
        sustained: 10m
        cooldown: 1h
        actions:
          - {do: open_incident, type: flood}

See ``vigil/rules/default_rules.yaml`` for a complete, commented example.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from vigil.alerts.drafts import Certainty, Severity, Urgency
from vigil.rules.rule import parse_duration
from vigil.rules.windows import Aggregate

Duration = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Point = tuple[
    Annotated[float, Field(ge=-90, le=90, description="Latitude.")],
    Annotated[float, Field(ge=-180, le=180, description="Longitude.")],
]
Operator = Literal[">", ">=", "<", "<=", "==", "!="]

URGENCY = Urgency
SEVERITY = Severity
CERTAINTY = Certainty
CATEGORY = Literal[
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneModel(_Model):
    """A named area rules can scope to and alerts can cover."""

    label: str = Field(default="", description="Human name shown to operators.")
    polygon: list[Point] = Field(
        min_length=3, description="Ring of [lat, lon] points; closed implicitly."
    )


class MatchModel(_Model):
    """What a rule listens to: a device kind and stream, or a CAD event type."""

    kind: str | None = Field(default=None, description="Device kind, e.g. flood_gauge.")
    stream: str | None = Field(default=None, description="Stream of that kind, e.g. level.")
    event: str | None = Field(default=None, description="CAD event type, e.g. call.received.")

    @model_validator(mode="after")
    def _one_source(self) -> MatchModel:
        if self.event is not None:
            if self.kind is not None or self.stream is not None:
                raise ValueError("give either event, or kind and stream, not both")
        elif self.kind is None or self.stream is None:
            raise ValueError("give kind and stream (a device reading) or event (a CAD event)")
        return self


class CircleModel(_Model):
    """A circle: centre [lat, lon] and radius."""

    center: Point = Field(description="[lat, lon] of the centre.")
    radius_m: float = Field(gt=0, le=100_000, description="Radius in metres.")


class ScopeModel(_Model):
    """Where matching events must be: inside a zone or a circle."""

    zone: str | None = Field(default=None, description="Name of a zone of this file.")
    circle: CircleModel | None = Field(default=None, description="A circle.")

    @model_validator(mode="after")
    def _one(self) -> ScopeModel:
        if (self.zone is None) == (self.circle is None):
            raise ValueError("give exactly one of zone or circle")
        return self


class WindowModel(_Model):
    """Aggregate the matching values over a sliding window of event time."""

    size: Duration = Field(description="Window length, e.g. 15m.")
    aggregate: Aggregate = Field(description="count, sum, avg, max or min.")
    op: Operator = Field(default=">=", description="Comparison of the aggregate with threshold.")
    threshold: float = Field(description="The value the aggregate is compared with.")
    min_count: int = Field(
        default=1, ge=1, le=100_000, description="Values needed in the window before it counts."
    )

    @model_validator(mode="after")
    def _positive(self) -> WindowModel:
        if self.size <= 0:
            raise ValueError("window size must be more than 0 s")
        return self


class CorrelateModel(_Model):
    """Other events that must accompany the trigger."""

    match: MatchModel = Field(description="What the other events are.")
    condition: str | None = Field(default=None, description="CEL filter on the other events.")
    within_m: float | None = Field(
        default=None, gt=0, le=100_000, description="Distance from the trigger, metres."
    )
    within: Duration = Field(description="Time from the trigger, either side, e.g. 2m.")
    at_least: int = Field(default=1, ge=1, le=1000, description="How many are needed.")


class _ActionBase(_Model):
    pass


class OpenIncidentModel(_ActionBase):
    """Open an incident (one per situation: while it is active, evidence is added to it)."""

    do: Literal["open_incident"]
    type: str = Field(description="Incident type from the catalogue.")
    priority: int | None = Field(default=None, ge=1, le=5, description="Default: the type's.")
    location: Literal["event", "zone"] = Field(
        default="event", description="Where: the triggering event, or the scope zone's centre."
    )
    description: str = Field(default="", description="Text; {placeholders} allowed.")


class RaisePriorityModel(_ActionBase):
    """Raise an incident's priority (to a lower number)."""

    do: Literal["raise_priority"]
    to: int = Field(ge=1, le=5, description="New priority, 1 = most urgent.")
    within_m: float | None = Field(
        default=None, gt=0, description="Without an incident from this firing: nearest within."
    )
    types: list[str] = Field(default_factory=list, description="Only these incident types.")


class AttachModel(_ActionBase):
    """Add the evidence to the nearest active incident nearby."""

    do: Literal["attach"]
    within_m: float = Field(gt=0, le=100_000, description="Search radius, metres.")
    types: list[str] = Field(default_factory=list, description="Only these incident types.")
    raise_priority_to: int | None = Field(default=None, ge=1, le=5, description="Also raise.")


class RecommendModel(_ActionBase):
    """Ask dispatch for a unit recommendation for this firing's incident."""

    do: Literal["recommend"]


class AreaModel(_Model):
    """The area of a draft alert: a zone, or a circle around the event."""

    zone: str | None = Field(default=None, description="Zone of this file.")
    radius_m: float | None = Field(default=None, gt=0, le=100_000, description="Circle radius.")

    @model_validator(mode="after")
    def _one(self) -> AreaModel:
        if (self.zone is None) == (self.radius_m is None):
            raise ValueError("give exactly one of zone or radius_m")
        return self


class DraftAlertModel(_ActionBase):
    """Store a draft public alert (CAP 1.2 vocabulary) for a supervisor to approve."""

    do: Literal["draft_alert"]
    headline: str = Field(min_length=1, max_length=160, description="Short headline.")
    description: str = Field(default="", description="What is happening; {placeholders}.")
    instruction: str = Field(default="", description="What the public should do.")
    event: str = Field(min_length=1, description="CAP <event>, e.g. Flood warning.")
    category: CATEGORY = Field(default="Safety", description="CAP <category>.")
    urgency: URGENCY = Field(description="CAP <urgency>.")
    severity: SEVERITY = Field(description="CAP <severity>.")
    certainty: CERTAINTY = Field(description="CAP <certainty>.")
    area: AreaModel = Field(description="Where the alert applies.")


class NotifyWebhookModel(_ActionBase):
    """POST the firing as JSON to a URL."""

    do: Literal["notify_webhook"]
    url: str = Field(pattern=r"^https?://", description="http(s) URL.")


class NotifyMqttModel(_ActionBase):
    """Publish the firing to an MQTT topic (QoS 1)."""

    do: Literal["notify_mqtt"]
    topic: str = Field(pattern=r"^[^#+\s]+$", description="Topic (no wildcards).")


ActionModel = Annotated[
    OpenIncidentModel
    | RaisePriorityModel
    | AttachModel
    | RecommendModel
    | DraftAlertModel
    | NotifyWebhookModel
    | NotifyMqttModel,
    Field(discriminator="do"),
]


class RuleModel(_Model):
    """One rule."""

    name: Name = Field(description="Unique name: lower-case letters, digits, - and _.")
    version: int = Field(ge=1, description="Bump it whenever the rule changes.")
    description: str = Field(default="", description="What the rule is for.")
    enabled: bool = Field(default=True, description="Disabled rules are checked, not run.")
    match: MatchModel = Field(description="What the rule listens to.")
    condition: str | None = Field(default=None, description="CEL condition on each event.")
    scope: ScopeModel | None = Field(default=None, description="Where events must be.")
    key: Literal["device", "zone", "cell", "none"] | None = Field(
        default=None, description="State per device, zone, grid cell or none (default: device)."
    )
    cell_m: float = Field(default=250.0, ge=10, le=10_000, description="Grid cell size, metres.")
    window: WindowModel | None = Field(default=None, description="Sliding-window aggregate.")
    sustained: Duration = Field(default=0.0, description="How long it must hold, e.g. 10m.")
    hours: str | None = Field(
        default=None,
        pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$",
        description="Local time span, e.g. 22:00-07:00.",
    )
    fire: Literal["each", "edge"] | None = Field(
        default=None,
        description="each matching event, or once per episode (default: edge with window or "
        "sustained, else each).",
    )
    cooldown: Duration = Field(default=300.0, description="Quiet time per key after acting.")
    correlate: list[CorrelateModel] = Field(default_factory=list, description="Companions.")
    actions: list[ActionModel] = Field(min_length=1, description="What to do when it fires.")


class RuleFileModel(_Model):
    """A rule file: zones and rules."""

    timezone: str = Field(default="UTC", description="IANA time zone for `hours`.")
    zones: dict[Name, ZoneModel] = Field(default_factory=dict, description="Named areas.")
    rules: list[dict[str, object]] = Field(description="The rules (each checked on its own).")
