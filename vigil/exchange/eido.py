"""NENA EIDO (NENA-STA-021) documents to and from Vigil's incident records (pure).

`export_document` writes one incident — type, priority, status, location (as a
PIDF-LO point and civic text), calls with their times, notes, the units on it
with their statuses — as an EIDO 1.0 JSON object. Caller identity is included
only when the caller passes it in (the service does that after auditing a
stated purpose). `read_document` reads an EIDO from another CAD or PSAP into a
`Received` record the service turns into commands; locations may come as
PIDF-LO XML, which is parsed with the same hardened parser as CAP.

What EIDO 1.0 has no field for is said, not invented: there is no "incident
opened at" element, so Vigil writes an "Incident opened" note at that time,
and reads the earliest time in a document (notes, calls) as its opening time.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from vigil.alerts.xmlsafe import UntrustedXmlError, parse_untrusted
from vigil.core.errors import ValidationError
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId, UnitId
from vigil.exchange.schema import Problem
from vigil.incidents.model import Call, Incident, IncidentStatus
from vigil.units.model import Unit, UnitStatus

EIDO_VERSION = "1.0"
PIDF = "urn:ietf:params:xml:ns:pidf"
GEOPRIV = "urn:ietf:params:xml:ns:pidf:geopriv10"
GML = "http://www.opengis.net/gml"
CIVIC = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
DM = "urn:ietf:params:xml:ns:pidf:data-model"
OPENED_NOTE = "Incident opened"

# Vigil's lead agency -> a broad incident category (NENA's Incident Type registry
# has finer values; the Vigil type itself travels as incidentTypeInternalCode).
_COMMON_TYPE = {"fire": "Fire", "ems": "Medical", "police": "Law", "municipal": "Other"}
_INCIDENT_STATUS = {
    IncidentStatus.PENDING: "Pending",
    IncidentStatus.DISPATCHED: "Dispatched",
    IncidentStatus.ON_SCENE: "OnScene",
    IncidentStatus.CLOSED: "Closed",
    IncidentStatus.CANCELLED: "Cancelled",
}
_UNIT_STATUS = {
    UnitStatus.AVAILABLE: "Available",
    UnitStatus.DISPATCHED: "Dispatched",
    UnitStatus.EN_ROUTE: "Enroute",
    UnitStatus.ON_SCENE: "OnScene",
    UnitStatus.TRANSPORTING: "Transporting",
    UnitStatus.AT_HOSPITAL: "AtHospital",
    UnitStatus.OUT_OF_SERVICE: "OutOfService",
}
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """A timeline note as exported: when, by whom, what."""

    at: datetime
    author: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """Caller identity, passed in only after a purpose was stated and audited."""

    call_id: str
    name: str | None
    phone: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Who issues the document."""

    agency_id: str  # e.g. "psap.city.example"
    element_id: str  # issuingElementIdentification, e.g. "cad.psap.city.example"


def eido_time(at: datetime) -> str:
    """Format a time for EIDO (RFC 3339 with offset)."""
    if at.tzinfo is None:
        raise ValidationError("EIDO times need a time zone", field="time")
    return at.isoformat(timespec="milliseconds")


def incident_uri(incident_id: str, agency_id: str) -> str:
    """Return the EIDO incident id (NENA's urn:emergency:uid form)."""
    return f"urn:emergency:uid:incidentid:{incident_id}:{agency_id}"


def pidf_point(location: LatLon, *, entity: str) -> str:
    """Return a PIDF-LO document holding one WGS 84 point."""
    nsmap = {None: PIDF, "gp": GEOPRIV, "gml": GML, "dm": DM}
    root = etree.Element(f"{{{PIDF}}}presence", nsmap=nsmap)  # type: ignore[arg-type]  # None = default ns
    root.set("entity", entity)
    dev = etree.SubElement(root, f"{{{DM}}}device", id="incident")
    geo = etree.SubElement(dev, f"{{{GEOPRIV}}}geopriv")
    info = etree.SubElement(geo, f"{{{GEOPRIV}}}location-info")
    point = etree.SubElement(info, f"{{{GML}}}Point", srsName="urn:ogc:def:crs:EPSG::4326")
    etree.SubElement(point, f"{{{GML}}}pos").text = f"{location.lat:.7f} {location.lon:.7f}"
    etree.SubElement(geo, f"{{{GEOPRIV}}}method").text = "Manual"
    return etree.tostring(root, encoding="unicode")


def _prologue(ident: str, at: datetime, origin: Origin, agent: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "$id": ident,
        "lastUpdateTimeStamp": eido_time(at),
        "updatedByAgencyReference": {"$ref": origin.agency_id},
    }
    if agent is not None:
        out["updatedByAgentReference"] = {"$ref": agent}
    return out


def export_document(
    incident: Incident,
    *,
    calls: Sequence[Call],
    notes: Sequence[Note],
    units: Sequence[Unit],
    origin: Origin,
    now: datetime,
    callers: Sequence[Caller] = (),
) -> dict[str, Any]:
    """Return the EIDO 1.0 document of one incident."""
    a = origin.agency_id
    inc_uri = incident_uri(incident.id, a)
    system_agent = f"vigil@{a}"
    agents: dict[str, dict[str, Any]] = {
        system_agent: {
            **_prologue(system_agent, now, origin),
            "agentRoleRegistryText": ["Automated System"],
            "agencyReference": {"$ref": a},
        }
    }
    doc: dict[str, Any] = {
        **_prologue(inc_uri, incident.updated_at, origin, system_agent),
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": origin.element_id,
        "agencyComponent": [
            {
                **_prologue(a, now, origin),
                "agencyRoleDescriptionRegistryText": ["Dispatching"],
                "agencyType": ["psap"],
            }
        ],
    }
    locations: list[dict[str, Any]] = []
    loc_id = f"{inc_uri}:location"
    if incident.location is not None or incident.address:
        loc: dict[str, Any] = {
            **_prologue(loc_id, incident.updated_at, origin),
            "locationTypeDescriptionRegistryText": "Incident",
        }
        if incident.location is not None:
            loc["locationByValue"] = pidf_point(incident.location, entity=f"pres:{incident.id}@{a}")
        if incident.address:
            loc["locationDescriptionText"] = incident.address
        locations.append(loc)
    all_notes = [
        Note(at=incident.opened_at, author=system_agent, text=OPENED_NOTE),
        *sorted(notes, key=lambda n: n.at),
    ]
    note_items = []
    for n, note in enumerate(all_notes, start=1):
        author = note.author if "@" in note.author else f"{note.author}@{a}"
        agents.setdefault(
            author,
            {
                **_prologue(author, note.at, origin),
                "agentRoleRegistryText": ["Dispatcher"],
                "agencyReference": {"$ref": a},
            },
        )
        note_items.append(
            {
                **_prologue(f"{inc_uri}:note:{n}", note.at, origin, author),
                "notesActionComments": f"<p>{html.escape(note.text)}</p>",
                "agentReference": {"$ref": author},
            }
        )
    incident_component: dict[str, Any] = {
        **_prologue(f"{inc_uri}:incident", incident.updated_at, origin),
        "incidentTypeCommonRegistryText": _COMMON_TYPE.get(str(incident.agency), "Other"),
        "incidentTypeInternalCode": incident.type,
        "incidentTypeInternalText": incident.description or incident.type,
        "incidentStatusCommonRegistryText": [_INCIDENT_STATUS[incident.status]],
        "incidentStatusInternalText": [str(incident.status)],
        "internalIncidentId": incident.id,
        "incidentCommonPriorityNumber": incident.priority,
        "incidentPriorityInternalText": str(incident.priority),
        "locationReference": [{"$ref": loc_id}] if locations else [],
        "notesReference": [{"$ref": n["$id"]} for n in note_items],
    }
    if incident.disposition:
        incident_component["dispositionComponent"] = [
            {
                **_prologue(f"{inc_uri}:disposition", incident.closed_at or now, origin),
                "dispositionCommonRegistryCode": incident.disposition,
                "dispositionPrimaryIndicator": True,
            }
        ]
    doc["incidentComponent"] = incident_component
    call_items, persons, callbacks = _calls_part(calls, callers, inc_uri, origin)
    resources = _resources_part(units, incident, inc_uri, origin, system_agent)
    if locations:
        doc["locationComponent"] = locations
    if note_items:
        doc["notesComponent"] = note_items
    if call_items:
        doc["callComponent"] = call_items
    if persons:
        doc["personComponent"] = persons
    if callbacks:
        doc["callbackComponent"] = callbacks
    if resources:
        doc["emergencyResourceComponent"] = resources
        doc["dispatchComponent"] = [
            {
                **_prologue(f"{inc_uri}:dispatch", incident.updated_at, origin),
                "agencyReference": {"$ref": a},
                "emergencyResourceReference": [{"$ref": r["$id"]} for r in resources],
            }
        ]
    doc["agentComponent"] = list(agents.values())
    return doc


def _calls_part(
    calls: Sequence[Call], callers: Sequence[Caller], inc_uri: str, origin: Origin
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the call, person and callback components (identity only for `callers`)."""
    call_items: list[dict[str, Any]] = []
    persons: list[dict[str, Any]] = []
    callbacks: list[dict[str, Any]] = []
    by_call = {c.call_id: c for c in callers}
    for call in sorted(calls, key=lambda c: c.received_at):
        cid = f"{inc_uri}:call:{call.id}"
        item: dict[str, Any] = {
            **_prologue(cid, call.received_at, origin),
            "standardPrimaryCallType": "emergency",
            "direction": "incoming",
            "callStartTimestamp": eido_time(call.received_at),
            "callStateRegistryText": "callAnswered",
            "callTypeDescriptionText": call.nature,
        }
        who = by_call.get(call.id)
        if who is not None and (who.phone or who.name):
            pid = f"{cid}:caller"
            person: dict[str, Any] = {
                **_prologue(pid, call.received_at, origin),
                "personIncidentRoleRegistryText": ["Caller"],
                "callIdentifier": [cid],
            }
            if who.name:
                person["ncPersonComponent"] = {
                    "name": [{"personFullName": [{"value": who.name}]}],
                }
            if who.phone:
                cb = f"{cid}:callback"
                callbacks.append(
                    {
                        **_prologue(cb, call.received_at, origin),
                        "callBackInformationUri": [f"tel:{who.phone}"],
                    }
                )
                person["callBackReference"] = {"$ref": cb}
                item["callBackReference"] = {"$ref": cb}
            persons.append(person)
            item["personReference"] = [{"$ref": pid}]
        call_items.append(item)
    return call_items, persons, callbacks


def _resources_part(
    units: Sequence[Unit], incident: Incident, inc_uri: str, origin: Origin, agent: str
) -> list[dict[str, Any]]:
    """Return the emergency-resource components of the units that worked the incident."""
    resources: list[dict[str, Any]] = []
    for unit in sorted(units, key=lambda u: u.id):
        on_it = unit.incident_id == incident.id
        resources.append(
            {
                **_prologue(unit.id, unit.updated_at, origin),
                "emergencyResourceTypeCommonRegistryText": str(unit.agency),
                "emergencyResourceTypeInternalText": unit.type,
                "emergencyResourceName": unit.callsign,
                "resourceAttributeRegistryText": list(unit.capabilities) or ["None"],
                "primaryUnitStatusRegistryText": _UNIT_STATUS[unit.status],
                "secondaryUnitStatusRegistryText": [],
                "unitStatusInternal": [str(unit.status)],
                "agentReference": [{"$ref": agent}],
                **({"activeOnIncidentId": inc_uri} if on_it else {}),
            }
        )
    return resources


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedUnit:
    """A unit named in an EIDO: its id, name, type text and status there."""

    id: UnitId
    name: str
    type: str
    status: str  # Vigil's status word when known, else the registry text
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """What an EIDO says about an incident, in Vigil's terms."""

    eido_id: str
    agency: str
    element: str
    updated_at: datetime
    internal_id: IncidentId | None
    type_code: str | None
    type_text: str | None
    common_type: str | None
    priority: int | None
    status: str | None
    location: LatLon | None
    address: str | None
    notes: tuple[Note, ...]
    call_times: tuple[datetime, ...]
    call_natures: tuple[str, ...]
    units: tuple[ReceivedUnit, ...]
    caller_phones: tuple[str, ...] = ()
    caller_names: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def opened_at(self) -> datetime:
        """The earliest time the document gives (EIDO has no incident-opened field)."""
        times = [n.at for n in self.notes] + list(self.call_times)
        return min(times) if times else self.updated_at


def parse_time(text: object, where: str) -> datetime:
    """Parse an EIDO timestamp, which must carry an offset."""
    if not isinstance(text, str) or not _TIME.match(text):
        raise ValidationError(f"{text!r} is not an RFC 3339 time with an offset", field=where)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def profile_problems(doc: Any) -> list[Problem]:
    """Return rules the schema does not state: timestamps with offsets, references that resolve."""
    out: list[Problem] = []
    if not isinstance(doc, dict):
        return [Problem(path="/", message="an EIDO is a JSON object", check="profile")]
    for key in ("$id", "lastUpdateTimeStamp", "issuingElementIdentification", "eidoVersion"):
        if not isinstance(doc.get(key), str):
            out.append(Problem(path=f"/{key}", message="is required (a string)", check="profile"))
    ref = doc.get("updatedByAgencyReference")
    if not isinstance(ref, dict) or not isinstance(ref.get("$ref"), str):
        out.append(
            Problem(
                path="/updatedByAgencyReference",
                message="is required ({'$ref': agency id})",
                check="profile",
            )
        )
    ids: set[str] = set()

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                sub = f"{path}/{key}"
                if key == "$id" and isinstance(value, str):
                    ids.add(value)
                if key in ("lastUpdateTimeStamp", "callStartTimestamp", "answerDate", "eta"):
                    try:
                        parse_time(value, sub)
                    except ValidationError as err:
                        out.append(Problem(path=sub, message=err.message, check="profile"))
                walk(value, sub)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}/{i}")

    walk(doc, "")
    agency = doc.get("updatedByAgencyReference")
    if (
        isinstance(agency, dict)
        and isinstance(agency.get("$ref"), str)
        and agency["$ref"] not in ids
    ):
        out.append(
            Problem(
                path="/updatedByAgencyReference",
                message=f"agency {agency.get('$ref')!r} is not among the agencyComponent ids",
                check="profile",
            )
        )
    return out


def _civic_text(civic: etree._Element) -> str:
    parts = {
        etree.QName(c).localname: (c.text or "").strip() for c in civic if isinstance(c.tag, str)
    }
    street = " ".join(
        p for p in (parts.get("HNO"), parts.get("PRD"), parts.get("RD"), parts.get("STS")) if p
    )
    return ", ".join(
        p for p in (street, parts.get("A3"), parts.get("A1"), parts.get("country")) if p
    )


def read_pidf(text: str) -> tuple[LatLon | None, str | None]:
    """Read a PIDF-LO document: its first point (gml:pos) and civic address, if any."""
    try:
        root = parse_untrusted(text.encode("utf-8"), max_bytes=200_000)
    except UntrustedXmlError as err:
        raise ValidationError(
            f"locationByValue is not usable PIDF-LO: {err.message}", field="locationByValue"
        ) from err
    point = None
    pos = root.find(f".//{{{GML}}}pos")
    if pos is not None and pos.text:
        try:
            lat_s, lon_s = pos.text.split()[:2]
            point = LatLon(lat=float(lat_s), lon=float(lon_s))
        except (ValueError, TypeError) as err:
            raise ValidationError(
                f"gml:pos {pos.text!r} is not 'lat lon'", field="locationByValue"
            ) from err
    civic = root.find(f".//{{{CIVIC}}}civicAddress")
    return point, _civic_text(civic) if civic is not None else None


def _strip_html(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _incident_id(value: object) -> IncidentId | None:
    """Return the internal incident id an EIDO names (only a string can be one of ours)."""
    return IncidentId(value) if isinstance(value, str) else None


def read_document(doc: dict[str, Any]) -> Received:
    """Read a schema-valid EIDO into what Vigil needs to open or update an incident."""
    warnings: list[str] = []
    inc = doc.get("incidentComponent") or {}
    locations = {c["$id"]: c for c in doc.get("locationComponent", [])}
    wanted = [r.get("$ref") for r in inc.get("locationReference", [])] or list(locations)
    location: LatLon | None = None
    address: str | None = None
    for ref in wanted:
        comp = locations.get(ref)
        if comp is None:
            continue
        if comp.get("locationByValue"):
            point, civic = read_pidf(comp["locationByValue"])
            location = location or point
            address = address or civic
        address = address or comp.get("locationDescriptionText")
        if comp.get("locationByReferenceUrl") and location is None:
            url = comp["locationByReferenceUrl"]
            warnings.append(f"location {ref} is by reference ({url}); not dereferenced")
    notes = []
    for comp in doc.get("notesComponent", []):
        author = (comp.get("agentReference") or comp.get("updatedByAgentReference") or {}).get(
            "$ref", ""
        )
        notes.append(
            Note(
                at=parse_time(comp["lastUpdateTimeStamp"], "notesComponent.lastUpdateTimeStamp"),
                author=str(author),
                text=_strip_html(str(comp.get("notesActionComments", ""))),
            )
        )
    calls = doc.get("callComponent", [])
    call_times = tuple(parse_time(c["callStartTimestamp"], "callStartTimestamp") for c in calls)
    natures = tuple(
        str(c.get("callTypeDescriptionText") or c.get("standardPrimaryCallType", "")) for c in calls
    )
    units = _read_units(doc)
    phones, names = _read_callers(doc)
    statuses = (
        inc.get("incidentStatusInternalText")
        or inc.get("incidentStatusCommonRegistryText")
        or [None]
    )
    return Received(
        eido_id=str(doc["$id"]),
        agency=str(doc["updatedByAgencyReference"]["$ref"]),
        element=str(doc["issuingElementIdentification"]),
        updated_at=parse_time(doc["lastUpdateTimeStamp"], "lastUpdateTimeStamp"),
        internal_id=_incident_id(inc.get("internalIncidentId")),
        type_code=inc.get("incidentTypeInternalCode"),
        type_text=inc.get("incidentTypeInternalText"),
        common_type=inc.get("incidentTypeCommonRegistryText"),
        priority=inc.get("incidentCommonPriorityNumber"),
        status=statuses[-1],
        location=location,
        address=address,
        notes=tuple(notes),
        call_times=call_times,
        call_natures=natures,
        units=tuple(units),
        caller_phones=tuple(dict.fromkeys(phones)),
        caller_names=tuple(dict.fromkeys(names)),
        warnings=tuple(warnings),
    )


def _read_units(doc: dict[str, Any]) -> list[ReceivedUnit]:
    """Return the emergency resources a document lists."""
    units: list[ReceivedUnit] = []
    vigil_status = {v: k for k, v in _UNIT_STATUS.items()}
    for comp in doc.get("emergencyResourceComponent", []):
        internal = comp.get("unitStatusInternal") or []
        status = internal[0] if internal else comp.get("primaryUnitStatusRegistryText", "")
        registry = vigil_status.get(comp.get("primaryUnitStatusRegistryText", ""))
        units.append(
            ReceivedUnit(
                id=UnitId(str(comp["$id"])),
                name=str(comp.get("emergencyResourceName") or comp["$id"]),
                type=str(
                    comp.get("emergencyResourceTypeInternalText")
                    or comp.get("emergencyResourceTypeCommonRegistryText", "")
                ),
                status=str(status) if status else str(registry or ""),
                active="activeOnIncidentId" not in comp
                or comp.get("activeOnIncidentId") == doc.get("$id"),
            )
        )
    return units


def _read_callers(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Return the callback phone numbers and person names a document carries."""
    phones: list[str] = []
    for cb in doc.get("callbackComponent", []):
        for uri in cb.get("callBackInformationUri", []):
            if isinstance(uri, str) and uri.startswith("tel:"):
                phones.append(uri.removeprefix("tel:"))
    names: list[str] = []
    for person in doc.get("personComponent", []):
        for name in (person.get("ncPersonComponent") or {}).get("name", []):
            for full in name.get("personFullName", []):
                if isinstance(full, dict) and full.get("value"):
                    names.append(str(full["value"]))
    return phones, names
