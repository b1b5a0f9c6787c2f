"""OASIS CAP 1.2: the alert model, the XML Vigil writes, and what it checks.

`build_xml` turns a `CapAlert` into CAP 1.2 XML in the schema's element order.
`check` validates a parsed document twice: against the OASIS XSD (structure,
order, closed vocabularies) and against the profile rules the XSD cannot
express (times with offsets, references on Update/Cancel, areas on a public
geographic alert, closed polygon rings, coordinates in range, ...). `parse`
reads CAP 1.2 (and CAP 1.1, which other agencies still send) into the same
model, for alerts that come in from outside.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec
from lxml import etree

from vigil.core.errors import ValidationError

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"
CAP_NAMESPACES = (CAP12, CAP11)

Status = Literal["Actual", "Exercise", "System", "Test", "Draft"]
MsgType = Literal["Alert", "Update", "Cancel", "Ack", "Error"]
Scope = Literal["Public", "Restricted", "Private"]
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
CATEGORIES = (
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
)
RESPONSE_TYPES = (
    "Shelter",
    "Evacuate",
    "Prepare",
    "Execute",
    "Avoid",
    "Monitor",
    "Assess",
    "AllClear",
    "None",
)

# CAP 1.2 §3.3.2: identifier and sender exclude spaces, commas and restricted characters.
_TOKEN = re.compile(r"^[^\s,<&]+$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
_WEB = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


class CapReference(msgspec.Struct, frozen=True, kw_only=True):
    """One earlier message this one refers to: sender, identifier, sent."""

    sender: str
    identifier: str
    sent: datetime

    def text(self) -> str:
        """Return the CAP ``references`` triple ``sender,identifier,sent``."""
        return f"{self.sender},{self.identifier},{cap_time(self.sent)}"


class CapArea(msgspec.Struct, frozen=True, kw_only=True):
    """An ``<area>``: a description and its polygons / circles / geocodes."""

    desc: str
    polygons: tuple[str, ...] = ()  # "lat,lon lat,lon ..." closed rings
    circles: tuple[str, ...] = ()  # "lat,lon radius_km"
    geocodes: tuple[tuple[str, str], ...] = ()  # (valueName, value)


class CapInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An ``<info>`` block (one per language)."""

    language: str = "en-US"
    categories: tuple[str, ...]
    event: str
    response_types: tuple[str, ...] = ()
    urgency: str
    severity: str
    certainty: str
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str = ""
    description: str = ""
    instruction: str = ""
    web: str | None = None
    contact: str | None = None
    areas: tuple[CapArea, ...] = ()


class CapAlert(msgspec.Struct, frozen=True, kw_only=True):
    """A whole ``<alert>`` message."""

    identifier: str
    sender: str
    sent: datetime
    status: str = "Actual"
    msg_type: str = "Alert"
    source: str | None = None
    scope: str = "Public"
    restriction: str | None = None
    addresses: str | None = None
    note: str | None = None
    references: tuple[CapReference, ...] = ()
    incidents: str | None = None
    infos: tuple[CapInfo, ...] = ()

    def expires(self) -> datetime | None:
        """Return the latest ``expires`` of its infos (None if any info has none)."""
        ends = [i.expires for i in self.infos]
        if not ends or any(e is None for e in ends):
            return None
        return max(e for e in ends if e is not None)


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a document is not valid: where, what, and which check found it."""

    path: str
    message: str
    check: Literal["xml", "schema", "profile"]

    def __str__(self) -> str:
        return f"{self.check}: {self.path}: {self.message}"


# ---------------------------------------------------------------- writing


def cap_time(at: datetime) -> str:
    """Format a time as CAP wants it: seconds, explicit offset, UTC as ``-00:00``."""
    if at.tzinfo is None:
        raise ValidationError("CAP times need a time zone", field="time")
    at = at.replace(microsecond=0)
    offset = at.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"
    return at.isoformat()


def _sub(parent: etree._Element, tag: str, text: str | None) -> None:
    if text is None:
        return
    el = etree.SubElement(parent, f"{{{CAP12}}}{tag}")
    el.text = text


def build_element(alert: CapAlert) -> etree._Element:
    """Return the ``<alert>`` element of a CAP 1.2 message, children in schema order."""
    root = etree.Element(f"{{{CAP12}}}alert", nsmap={None: CAP12})  # type: ignore[dict-item]  # None = default namespace
    _sub(root, "identifier", alert.identifier)
    _sub(root, "sender", alert.sender)
    _sub(root, "sent", cap_time(alert.sent))
    _sub(root, "status", alert.status)
    _sub(root, "msgType", alert.msg_type)
    _sub(root, "source", alert.source)
    _sub(root, "scope", alert.scope)
    _sub(root, "restriction", alert.restriction)
    _sub(root, "addresses", alert.addresses)
    _sub(root, "note", alert.note)
    if alert.references:
        _sub(root, "references", " ".join(r.text() for r in alert.references))
    _sub(root, "incidents", alert.incidents)
    for info in alert.infos:
        el = etree.SubElement(root, f"{{{CAP12}}}info")
        _sub(el, "language", info.language)
        for cat in info.categories:
            _sub(el, "category", cat)
        _sub(el, "event", info.event)
        for rt in info.response_types:
            _sub(el, "responseType", rt)
        _sub(el, "urgency", info.urgency)
        _sub(el, "severity", info.severity)
        _sub(el, "certainty", info.certainty)
        for tag, when in (
            ("effective", info.effective),
            ("onset", info.onset),
            ("expires", info.expires),
        ):
            _sub(el, tag, None if when is None else cap_time(when))
        _sub(el, "senderName", info.sender_name)
        _sub(el, "headline", info.headline or None)
        _sub(el, "description", info.description or None)
        _sub(el, "instruction", info.instruction or None)
        _sub(el, "web", info.web)
        _sub(el, "contact", info.contact)
        for area in info.areas:
            a = etree.SubElement(el, f"{{{CAP12}}}area")
            _sub(a, "areaDesc", area.desc)
            for poly in area.polygons:
                _sub(a, "polygon", poly)
            for circle in area.circles:
                _sub(a, "circle", circle)
            for name, value in area.geocodes:
                g = etree.SubElement(a, f"{{{CAP12}}}geocode")
                _sub(g, "valueName", name)
                _sub(g, "value", value)
    return root


def build_xml(alert: CapAlert) -> bytes:
    """Return the CAP 1.2 XML document of an alert (UTF-8, with declaration)."""
    return etree.tostring(
        build_element(alert), xml_declaration=True, encoding="UTF-8", pretty_print=True
    )


# --------------------------------------------------------------- checking


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _kids(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and _local(c) == name]


def _text(el: etree._Element, name: str) -> str | None:
    found = _kids(el, name)
    if not found:
        return None
    return (found[0].text or "").strip()


def schema_problems(root: etree._Element, schema: etree.XMLSchema) -> list[Problem]:
    """Return the XSD's complaints about a document (empty when it validates)."""
    if root.getparent() is not None:  # embedded (EDXL-DE, Atom): validate it on its own
        root = copy.deepcopy(root)
    if schema.validate(root.getroottree()):
        return []
    return [
        Problem(path=f"line {e.line}", message=e.message, check="schema")
        for e in list(schema.error_log)  # type: ignore[call-overload]  # stubs lack __iter__
    ]


def parse_time(text: str) -> datetime:
    """Parse a CAP time, which must carry an explicit offset (no ``Z``)."""
    if not _TIME.match(text):
        raise ValueError(f"{text!r} is not YYYY-MM-DDThh:mm:ss with a ±hh:mm offset")
    return datetime.fromisoformat(text)


def parse_polygon(text: str) -> list[tuple[float, float]]:
    """Parse a CAP polygon ``lat,lon lat,lon ...`` into (lat, lon) pairs, checking it."""
    points: list[tuple[float, float]] = []
    for pair in text.split():
        lat_s, sep, lon_s = pair.partition(",")
        try:
            lat, lon = float(lat_s), float(lon_s)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"{pair!r} is not 'lat,lon'")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"{pair!r} is outside lat -90..90, lon -180..180")
        points.append((lat, lon))
    if len(points) < 4:
        raise ValueError(f"a polygon needs at least 4 points (a closed ring), got {len(points)}")
    if points[0] != points[-1]:
        raise ValueError("the polygon's first and last points differ (the ring is not closed)")
    return points


def parse_circle(text: str) -> tuple[float, float, float]:
    """Parse a CAP circle ``lat,lon radius_km``."""
    centre, _, radius_s = text.strip().partition(" ")
    lat_s, sep, lon_s = centre.partition(",")
    if not sep or not radius_s.strip():
        raise ValueError(f"{text!r} is not 'lat,lon radius_km'")
    lat, lon, radius = float(lat_s), float(lon_s), float(radius_s)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"centre {centre!r} is outside lat -90..90, lon -180..180")
    if radius < 0:
        raise ValueError(f"radius {radius} km is negative")
    return lat, lon, radius


def _check_times(el: etree._Element, path: str, names: Iterable[str]) -> list[Problem]:
    out: list[Problem] = []
    for name in names:
        value = _text(el, name)
        if value is None:
            continue
        try:
            parse_time(value)
        except ValueError as err:
            out.append(Problem(path=f"{path}/{name}", message=str(err), check="profile"))
    return out


def _check_vocab(
    el: etree._Element, path: str, name: str, allowed: tuple[str, ...]
) -> Problem | None:
    value = _text(el, name)
    if value is None:
        return Problem(path=f"{path}/{name}", message="is required", check="profile")
    if value not in allowed:
        return Problem(
            path=f"{path}/{name}",
            message=f"{value!r} is not one of {', '.join(allowed)}",
            check="profile",
        )
    return None


def _check_references(root: etree._Element) -> list[Problem]:
    out: list[Problem] = []
    msg_type = _text(root, "msgType")
    refs = _text(root, "references")
    if refs is not None and not refs:
        out.append(
            Problem(path="alert/references", message="is present but empty", check="profile")
        )
    if msg_type in ("Update", "Cancel", "Ack", "Error") and not refs:
        out.append(
            Problem(
                path="alert/references",
                message=f"a {msg_type} message must reference the message(s) it concerns",
                check="profile",
            )
        )
    for triple in (refs or "").split():
        parts = triple.split(",")
        if len(parts) != 3:
            out.append(
                Problem(
                    path="alert/references",
                    message=f"{triple!r} is not 'sender,identifier,sent'",
                    check="profile",
                )
            )
            continue
        try:
            parse_time(parts[2])
        except ValueError as err:
            out.append(Problem(path="alert/references", message=str(err), check="profile"))
    return out


def _check_area(area: etree._Element, path: str) -> list[Problem]:
    out: list[Problem] = []
    if not _text(area, "areaDesc"):
        out.append(Problem(path=f"{path}/areaDesc", message="is required", check="profile"))
    for n, poly in enumerate(_kids(area, "polygon"), start=1):
        try:
            parse_polygon(poly.text or "")
        except ValueError as err:
            out.append(Problem(path=f"{path}/polygon[{n}]", message=str(err), check="profile"))
    for n, circle in enumerate(_kids(area, "circle"), start=1):
        try:
            parse_circle(circle.text or "")
        except ValueError as err:
            out.append(Problem(path=f"{path}/circle[{n}]", message=str(err), check="profile"))
    return out


def _check_info(info: etree._Element, path: str, *, geographic: bool) -> list[Problem]:
    out: list[Problem] = []
    if not _kids(info, "category"):
        out.append(Problem(path=f"{path}/category", message="is required", check="profile"))
    for cat in _kids(info, "category"):
        if (cat.text or "").strip() not in CATEGORIES:
            out.append(
                Problem(
                    path=f"{path}/category",
                    message=f"{(cat.text or '').strip()!r} is not a CAP category",
                    check="profile",
                )
            )
    if not _text(info, "event"):
        out.append(Problem(path=f"{path}/event", message="is required", check="profile"))
    for name, allowed in (
        ("urgency", URGENCIES),
        ("severity", SEVERITIES),
        ("certainty", CERTAINTIES),
    ):
        problem = _check_vocab(info, path, name, allowed)
        if problem is not None:
            out.append(problem)
    out += _check_times(info, path, ("effective", "onset", "expires"))
    try:
        eff, exp = _text(info, "effective"), _text(info, "expires")
        if eff and exp and parse_time(exp) <= parse_time(eff):
            out.append(
                Problem(path=f"{path}/expires", message="is not after effective", check="profile")
            )
    except ValueError:
        pass  # already reported by _check_times
    web = _text(info, "web")
    if web is not None and not _WEB.match(web):
        out.append(Problem(path=f"{path}/web", message="is not an absolute URI", check="profile"))
    areas = _kids(info, "area")
    if geographic and not areas:
        out.append(
            Problem(
                path=f"{path}/area",
                message="a public alert needs at least one area (where does it apply?)",
                check="profile",
            )
        )
    for n, area in enumerate(areas, start=1):
        out += _check_area(area, f"{path}/area[{n}]")
    return out


def profile_problems(root: etree._Element) -> list[Problem]:
    """Return the rules a CAP message breaks that its XSD cannot express."""
    out: list[Problem] = []
    for name in ("identifier", "sender", "sent", "status", "msgType", "scope"):
        if not _text(root, name):
            out.append(Problem(path=f"alert/{name}", message="is required", check="profile"))
    for name in ("identifier", "sender"):
        value = _text(root, name)
        if value and not _TOKEN.match(value):
            out.append(
                Problem(
                    path=f"alert/{name}",
                    message="must not contain spaces, commas, '<' or '&'",
                    check="profile",
                )
            )
    out += _check_times(root, "alert", ("sent",))
    out += _check_references(root)
    scope = _text(root, "scope")
    if scope == "Restricted" and not _text(root, "restriction"):
        out.append(
            Problem(
                path="alert/restriction", message="a Restricted alert needs one", check="profile"
            )
        )
    if scope == "Private" and not _text(root, "addresses"):
        out.append(
            Problem(path="alert/addresses", message="a Private alert needs them", check="profile")
        )
    msg_type = _text(root, "msgType")
    geographic = scope == "Public" and msg_type in ("Alert", "Update")
    for n, info in enumerate(_kids(root, "info"), start=1):
        out += _check_info(info, f"alert/info[{n}]", geographic=geographic)
    return out


def check(root: etree._Element, schema: etree.XMLSchema | None) -> list[Problem]:
    """Validate a parsed CAP document: the XSD (for CAP 1.2) and the profile rules."""
    ns = etree.QName(root).namespace
    if _local(root) != "alert" or ns not in CAP_NAMESPACES:
        return [
            Problem(
                path=_local(root),
                message=f"not a CAP alert (root {{{ns}}}{_local(root)})",
                check="xml",
            )
        ]
    problems: list[Problem] = []
    if ns == CAP12 and schema is not None:
        problems += schema_problems(root, schema)
    return problems + profile_problems(root)


# ---------------------------------------------------------------- reading


def _times(el: etree._Element, name: str) -> datetime | None:
    value = _text(el, name)
    return parse_time(value) if value else None


def parse(root: etree._Element) -> CapAlert:
    """Read a CAP 1.2 or 1.1 ``<alert>`` element into the model (check it first)."""
    if _local(root) != "alert" or etree.QName(root).namespace not in CAP_NAMESPACES:
        raise ValidationError("not a CAP alert", field="alert")
    try:
        refs = []
        for triple in (_text(root, "references") or "").split():
            sender, ident, sent = triple.split(",")
            refs.append(CapReference(sender=sender, identifier=ident, sent=parse_time(sent)))
        infos = []
        for info in _kids(root, "info"):
            areas = tuple(
                CapArea(
                    desc=_text(a, "areaDesc") or "",
                    polygons=tuple((p.text or "").strip() for p in _kids(a, "polygon")),
                    circles=tuple((c.text or "").strip() for c in _kids(a, "circle")),
                    geocodes=tuple(
                        (_text(g, "valueName") or "", _text(g, "value") or "")
                        for g in _kids(a, "geocode")
                    ),
                )
                for a in _kids(info, "area")
            )
            infos.append(
                CapInfo(
                    language=_text(info, "language") or "en-US",
                    categories=tuple((c.text or "").strip() for c in _kids(info, "category")),
                    event=_text(info, "event") or "",
                    response_types=tuple(
                        (r.text or "").strip() for r in _kids(info, "responseType")
                    ),
                    urgency=_text(info, "urgency") or "Unknown",
                    severity=_text(info, "severity") or "Unknown",
                    certainty=_text(info, "certainty") or "Unknown",
                    effective=_times(info, "effective"),
                    onset=_times(info, "onset"),
                    expires=_times(info, "expires"),
                    sender_name=_text(info, "senderName"),
                    headline=_text(info, "headline") or "",
                    description=_text(info, "description") or "",
                    instruction=_text(info, "instruction") or "",
                    web=_text(info, "web"),
                    contact=_text(info, "contact"),
                    areas=areas,
                )
            )
        return CapAlert(
            identifier=_text(root, "identifier") or "",
            sender=_text(root, "sender") or "",
            sent=parse_time(_text(root, "sent") or ""),
            status=_text(root, "status") or "",
            msg_type=_text(root, "msgType") or "",
            source=_text(root, "source"),
            scope=_text(root, "scope") or "",
            restriction=_text(root, "restriction"),
            addresses=_text(root, "addresses"),
            note=_text(root, "note"),
            references=tuple(refs),
            incidents=_text(root, "incidents"),
            infos=tuple(infos),
        )
    except ValueError as err:
        raise ValidationError(f"unreadable CAP value: {err}", field="alert") from err


def area_geometries(area: CapArea) -> list[dict[str, object]]:
    """Return GeoJSON geometries (lon, lat order) of an area's polygons and circles."""
    out: list[dict[str, object]] = []
    for poly in area.polygons:
        ring = [[lon, lat] for lat, lon in parse_polygon(poly)]
        out.append({"type": "Polygon", "coordinates": [ring]})
    for circle in area.circles:
        lat, lon, radius_km = parse_circle(circle)
        out.append({"type": "Polygon", "coordinates": [circle_ring(lat, lon, radius_km)]})
    return out


def circle_ring(lat: float, lon: float, radius_km: float, *, sides: int = 32) -> list[list[float]]:
    """Approximate a circle as a closed ring of [lon, lat] points (fine below ~100 km)."""
    import math  # noqa: PLC0415 - only maps need it

    dlat = radius_km / 111.32
    dlon = radius_km / (111.32 * max(math.cos(math.radians(lat)), 1e-6))
    ring = [
        [
            round(lon + dlon * math.cos(2 * math.pi * k / sides), 6),
            round(lat + dlat * math.sin(2 * math.pi * k / sides), 6),
        ]
        for k in range(sides)
    ]
    ring.append(ring[0])
    return ring
