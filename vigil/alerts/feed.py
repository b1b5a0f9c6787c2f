"""The public feed: Atom (what CAP aggregators poll) and GeoJSON (what maps draw).

Pure renderers over the alerts as they stand: the HTTP layer decides who sees
what; the public feed only ever gets published, unexpired alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from lxml import etree

from vigil.alerts.cap import CapArea, area_geometries, cap_time
from vigil.alerts.service import Alert, ExternalAlert

ATOM = "http://www.w3.org/2005/Atom"


def _a(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ATOM}}}{tag}", attrib=attrs)
    if text is not None:
        el.text = text
    return el


def atom_feed(alerts: Sequence[Alert], *, base_url: str, title: str, now: datetime) -> bytes:
    """Return an Atom 1.0 feed with one entry per alert, linking to its CAP document."""
    base = base_url.rstrip("/")
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})  # type: ignore[dict-item]  # None = default namespace
    _a(feed, "id", f"{base}/api/v1/public/alerts.atom")
    _a(feed, "title", title)
    updated = max((a.updated_at for a in alerts), default=now)
    _a(feed, "updated", cap_time(updated))
    _a(feed, "link", rel="self", href=f"{base}/api/v1/public/alerts.atom")
    author = _a(feed, "author")
    _a(author, "name", title)
    for alert in alerts:
        pub = alert.published
        if pub is None:
            continue
        info = alert.infos[0]
        entry = _a(feed, "entry")
        _a(entry, "id", f"{base}/api/v1/public/cap/{alert.id}.xml")
        _a(entry, "title", info.headline or info.event)
        _a(entry, "updated", cap_time(pub.sent))
        _a(entry, "published", cap_time(pub.sent))
        _a(entry, "summary", f"{pub.msg_type}: {info.severity} {info.event} — {info.headline}")
        _a(
            entry,
            "link",
            rel="alternate",
            type="application/cap+xml",
            href=f"{base}/api/v1/public/cap/{alert.id}.xml",
        )
        for cat in info.categories:
            _a(entry, "category", term=cat)
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _features(areas: Iterable[CapArea], properties: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for area in areas:
        for geometry in area_geometries(area):
            out.append(
                {
                    "type": "Feature",
                    "geometry": geometry,
                    "properties": {**properties, "area": area.desc},
                }
            )
    return out


def alert_features(alert: Alert) -> list[dict[str, Any]]:
    """Return one GeoJSON feature per polygon/circle of a city alert."""
    out: list[dict[str, Any]] = []
    for info in alert.infos:
        props = {
            "id": alert.id,
            "origin": "vigil",
            "state": alert.state,
            "msg_type": alert.msg_type,
            "event": info.event,
            "headline": info.headline,
            "severity": info.severity,
            "urgency": info.urgency,
            "certainty": info.certainty,
            "language": info.language,
            "expires": alert.published.expires.isoformat() if alert.published else None,
            "cap_url": f"/api/v1/public/cap/{alert.id}.xml" if alert.published else None,
        }
        out += _features(info.areas, props)
    return out


def external_features(ext: ExternalAlert) -> list[dict[str, Any]]:
    """Return the GeoJSON features of another agency's alert, marked external."""
    r = ext.received
    props = {
        "id": f"{r.sender}/{r.identifier}",
        "origin": "external",
        "source": r.source,
        "sender": r.sender,
        "state": ext.state,
        "msg_type": r.msg_type,
        "event": r.event_name,
        "headline": r.headline,
        "severity": r.severity,
        "urgency": r.urgency,
        "certainty": r.certainty,
        "language": r.language,
        "expires": r.expires.isoformat() if r.expires else None,
    }
    return _features(r.areas, props)


def geojson(alerts: Iterable[Alert], external: Iterable[ExternalAlert] = ()) -> dict[str, Any]:
    """Return a FeatureCollection of alert areas (city alerts, then external ones)."""
    features: list[dict[str, Any]] = []
    for alert in alerts:
        features += alert_features(alert)
    for ext in external:
        features += external_features(ext)
    return {"type": "FeatureCollection", "features": features}
