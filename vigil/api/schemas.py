"""Request and response bodies of the CAD API (validation sits here, at the edge)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Self

import msgspec
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import Strict as _Strict

from vigil.api.runs import Rendered, RunCache
from vigil.audit.roles import Role
from vigil.core.events import Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import CallId, EventId, IncidentId, UnitId
from vigil.core.text import clean_line, clean_text
from vigil.geo.geocode import Geocoder
from vigil.incidents.model import Agency, Incident, IncidentStatus
from vigil.store.records import ChainBreak
from vigil.units.model import UnitStatus


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant is out of range once converted to UTC") from None


def _text_only(value: object) -> object:
    if not isinstance(value, str | datetime):
        raise ValueError("give an RFC 3339 date-time string with a timezone")
    return value


Text = Annotated[str, Field(max_length=4000), AfterValidator(clean_text)]
ShortText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(clean_line)]
Line = Annotated[str, AfterValidator(clean_line)]  # add a max_length where used
# Ids a request names, cleaned like a line; typed here, at the edge, once.
IncidentRef = Annotated[IncidentId, AfterValidator(clean_line)]
UnitRef = Annotated[UnitId, AfterValidator(clean_line)]
# Numbers and flags are taken as JSON gives them: true is not 1, "60.1" is not 60.1.
Number = Annotated[float, _Strict()]
Integer = Annotated[int, _Strict()]
Flag = Annotated[bool, _Strict()]
# An aware instant, stored in UTC; one that overflows on conversion is refused.
Instant = Annotated[AwareDatetime, BeforeValidator(_text_only), AfterValidator(_to_utc)]


class In(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Base of response bodies built from domain objects by attribute (no hand copying)."""

    @classmethod
    def of(cls, obj: object) -> Self:
        """Return the API form of a domain object (fields read by name, nested too)."""
        return cls.model_validate(obj, from_attributes=True)


class Location(In):
    """A WGS84 position."""

    lat: Number = Field(ge=-90, le=90, description="Latitude, decimal degrees.")
    lon: Number = Field(ge=-180, le=180, description="Longitude, decimal degrees.")

    def to_domain(self) -> LatLon:
        """Return the domain point."""
        return LatLon(self.lat, self.lon)

    @classmethod
    def of(cls, point: LatLon | None) -> Location | None:
        """Return the API form of a domain point."""
        return None if point is None else cls(lat=point.lat, lon=point.lon)


class LoginIn(In):
    """Credentials."""

    username: ShortText
    password: Annotated[str, Field(min_length=1, max_length=200)]  # any character: a secret


class TokenOut(BaseModel):
    """A bearer token and who it belongs to."""

    token: str
    name: str
    role: Role


class UserIn(In):
    """A new login."""

    name: Annotated[ShortText, Field(max_length=64)]
    role: Role
    password: Annotated[str | None, Field(min_length=10, max_length=200)] = None


class UserOut(BaseModel):
    """A login (never its secrets)."""

    name: str
    role: Role
    created_at: datetime
    active: bool


class CallIn(In):
    """A call as the call-taker records it."""

    received_at: Instant | None = Field(
        default=None, description="When the call was received (default: now)."
    )
    location: Location | None = Field(default=None, description="Caller location, if known.")
    accuracy_m: Number | None = Field(
        default=None, ge=0, le=100_000, description="Location accuracy radius in metres."
    )
    address: Annotated[Line | None, Field(max_length=300)] = Field(
        default=None, description="Free-text address; geocoded when no location is given."
    )
    nature: ShortText = Field(description="What the caller reports.")
    notes: Text = Field(default="", description="Call-taker notes.")
    caller_name: Annotated[Line | None, Field(max_length=200)] = Field(
        default=None, description="Personal data: kept apart, access-audited, purged."
    )
    caller_phone: Annotated[Line | None, Field(max_length=40)] = Field(
        default=None, description="Personal data: kept apart, access-audited, purged."
    )
    incident_id: Annotated[IncidentRef | None, Field(max_length=100)] = Field(
        default=None, description="Attach to this open incident instead of opening one."
    )
    incident_type: Annotated[Line | None, Field(max_length=100)] = Field(
        default=None, description="Type of the incident to open (see /catalogue)."
    )
    priority: Integer | None = Field(default=None, ge=1, le=5, description="Override the default.")


class IncidentIn(In):
    """An incident opened without a call."""

    type: Annotated[Line, Field(min_length=1, max_length=100)]
    location: Location | None = None
    address: Annotated[Line | None, Field(max_length=300)] = None
    description: Text = ""
    priority: Integer | None = Field(default=None, ge=1, le=5)


class IncidentPatch(In):
    """Fields to change; absent fields stay."""

    type: Annotated[Line | None, Field(min_length=1, max_length=100)] = None
    priority: Integer | None = Field(default=None, ge=1, le=5)
    location: Location | None = None
    address: Annotated[Line | None, Field(max_length=300)] = None
    description: Text | None = None
    reason: Text = ""


class CloseIn(In):
    """How an incident ended."""

    disposition: ShortText
    notes: Text = ""


class ReasonIn(In):
    """Why."""

    reason: ShortText


class NoteIn(In):
    """A timeline note."""

    text: Annotated[Text, Field(min_length=1)]


class AssignIn(In):
    """Units to send, or accept the recommendation."""

    unit_ids: list[Annotated[UnitRef, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=50
    )
    accept_recommendation: Flag = Field(
        default=False, description="Assign the recommended set (unit_ids must be empty)."
    )


class UnitIn(In):
    """A unit joining the fleet."""

    id: Annotated[UnitId, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
    callsign: Annotated[Line | None, Field(max_length=64)] = None
    type: Annotated[Line, Field(min_length=1, max_length=100)]
    station: Annotated[Line | None, Field(max_length=120)] = None
    location: Location | None = None
    extra_capabilities: list[Annotated[Line, Field(max_length=40)]] = Field(
        default_factory=list, max_length=20
    )


class StatusIn(In):
    """A status the unit reports."""

    status: UnitStatus


class PositionIn(In):
    """An AVL fix."""

    location: Location
    fix_at: Instant | None = None
    heading_deg: Number | None = Field(default=None, ge=0, lt=360)
    speed_mps: Number | None = Field(default=None, ge=0, le=100)


class PositionsIn(In):
    """A batch of AVL fixes."""

    fixes: list[UnitFix] = Field(min_length=1, max_length=5000)


class UnitFix(PositionIn):
    """An AVL fix naming its unit."""

    unit_id: Annotated[UnitRef, Field(min_length=1, max_length=32)]


PositionsIn.model_rebuild()


class NearestOut(BaseModel):
    """The nearest address or street to a position, from the city's OSM data (offline)."""

    label: str = Field(description="House address, or the street the point lies on.")
    distance_m: float = Field(description="Metres from the position to that address or street.")
    kind: str = Field(description="'address' or 'street'.")


class IncidentOut(BaseModel):
    """An incident."""

    id: IncidentId
    type: str
    priority: int
    status: IncidentStatus
    agency: Agency
    location: Location | None
    address: str | None
    description: str
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    disposition: str | None
    call_ids: list[CallId]
    unit_ids: list[UnitId]
    units_ever: list[UnitId]
    caused_by_rule: str | None
    number: str | None = Field(
        description="Short per-year sequential number dispatchers speak, e.g. 26-000123 "
        "(None only for incidents opened before numbers existed)."
    )
    nearest: NearestOut | None = Field(
        default=None,
        description="The nearest address or street to the incident's position and its distance "
        "(offline, from the city's OSM data): what an incident opened from coordinates only "
        "(sensor rule, simulator, AVL) shows instead of raw coordinates.",
    )

    @classmethod
    def of(cls, i: Incident, *, geocoder: Geocoder | None = None) -> IncidentOut:
        """Return the API form (with ``nearest`` when a geocoder is given and it has a position).

        Fields are read from the incident by name (nested too), so a field added to
        both is carried without another line here.
        """
        out = cls.model_validate(i, from_attributes=True)
        near = (
            geocoder.nearest(i.location)
            if geocoder is not None and i.location is not None
            else None
        )
        if near is not None:
            out.nearest = NearestOut(
                label=near.label, distance_m=round(near.distance_m, 1), kind=near.kind
            )
        return out


class IncidentViews:
    """The JSON of each incident's API form, kept until the incident changes.

    Incidents are immutable values the CAD state replaces on every change, so a
    stored form is current exactly while it was made from the object the state
    holds now (an identity check, no version to keep in step). Listing 4,000 open
    incidents is then a join of stored bytes instead of 4,000 models validated and
    serialised again on every poll of the board.
    """

    LIMIT = 50_000  # entries; past it the store starts again (a poll refills it)

    def __init__(self, geocoder: Geocoder | None) -> None:
        self._geocoder = geocoder
        self._forms: dict[str, tuple[Incident, bytes]] = {}
        # Lists are rendered from runs of incidents, each joined and compressed once.
        self._runs: RunCache[Incident] = RunCache(key=lambda i: i.id, form=self.json)

    def json(self, incident: Incident) -> bytes:
        """Return the JSON of `incident`'s API form (as FastAPI would render IncidentOut)."""
        hit = self._forms.get(incident.id)
        if hit is not None and hit[0] is incident:
            return hit[1]
        out = IncidentOut.of(incident, geocoder=self._geocoder)
        data = out.__pydantic_serializer__.to_json(out)
        if len(self._forms) >= self.LIMIT:
            self._forms.clear()
        self._forms[incident.id] = (incident, data)
        return data

    def listing(self, incidents: Sequence[Incident]) -> Rendered:
        """Return the JSON array of these incidents' API forms (and its gzip, on demand)."""
        return self._runs.render(incidents)

    def list_json(self, incidents: Sequence[Incident]) -> bytes:
        """Return the JSON array of these incidents' API forms."""
        return self.listing(incidents).json()


class UnitOut(Out):
    """A unit."""

    id: UnitId
    callsign: str
    agency: Agency
    type: str
    capabilities: list[str]
    station: str | None
    status: UnitStatus
    incident_id: IncidentId | None
    location: Location | None
    location_at: datetime | None
    updated_at: datetime


class CallOut(Out):
    """A call without its personal data."""

    id: CallId
    incident_id: IncidentId
    received_at: datetime
    location: Location | None
    accuracy_m: float | None
    address: str | None
    nature: str
    notes: str
    call_taker: str
    has_personal_data: bool


class CallCreated(BaseModel):
    """The outcome of taking a call."""

    call: CallOut
    incident: IncidentOut
    opened_incident: bool


class CallerOut(BaseModel):
    """Caller identity (audited read)."""

    call_id: CallId
    caller_name: str | None
    caller_phone: str | None
    expires_at: datetime


class EventOut(BaseModel):
    """One recorded event: what, when, who, why."""

    seq: int
    id: EventId
    type: str
    stream: str
    at: datetime
    actor: str
    cause: str | None
    data: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, r: Recorded) -> EventOut:
        """Return the API form."""
        data = msgspec.to_builtins(r.event)
        data.pop("event", None)
        return cls(
            seq=r.seq,
            id=r.id,
            type=r.type,
            stream=r.stream,
            at=r.at,
            actor=r.actor,
            cause=r.cause,
            data=data,
            hash=r.hash,
        )


class AuditOut(Out):
    """One audit entry."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    purpose: str
    detail: str
    hash: str


class VerifyOut(BaseModel):
    """Result of re-checking both hash chains."""

    intact: bool
    breaks: list[dict[str, Any]]

    @classmethod
    def of(cls, breaks: list[ChainBreak]) -> VerifyOut:
        """Return the API form."""
        return cls(intact=not breaks, breaks=[msgspec.to_builtins(b) for b in breaks])
