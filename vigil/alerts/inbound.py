"""CAP in: other agencies' alerts from Atom/RSS feeds, single CAP files and EDXL-DE envelopes.

Every document is parsed with the hardened parser (`xmlsafe`), so no document
can make Vigil expand entities, load a DTD or touch the network or a local
file. A feed entry that only *links* to its CAP document is followed only when
the link is on the same scheme and host as the subscribed feed (a feed cannot
send Vigil to fetch arbitrary addresses). Every refused document or alert is
counted by reason and kept in the dead-letter store with its raw bytes.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from lxml import etree

from vigil.alerts import cap
from vigil.alerts.events import ExternalAlertReceived
from vigil.alerts.settings import CapFeed
from vigil.alerts.xmlsafe import UntrustedXmlError, parse_untrusted
from vigil.core.clock import Clock
from vigil.core.errors import ValidationError, VigilError
from vigil.core.ids import EventId
from vigil.store.sqlite_file import SqliteFile

log = logging.getLogger(__name__)

ATOM = "http://www.w3.org/2005/Atom"
EDXLDE = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"

DEAD_LETTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS cap_dead_letters (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cap_counters (
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (source, reason)
);
"""


@dataclass(frozen=True, slots=True)
class Found:
    """One CAP alert found in a document, or a link to one."""

    label: str  # where in the document, e.g. "entry[2]"
    element: etree._Element | None = None
    link: str | None = None


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def extract(root: etree._Element) -> tuple[str, list[Found]]:
    """Return the document kind and the alerts (or links to alerts) it carries."""
    ns, name = etree.QName(root).namespace, _local(root)
    if ns in cap.CAP_NAMESPACES and name == "alert":
        return "cap", [Found(label="alert", element=root)]
    if ns == EDXLDE and name == "EDXLDistribution":
        found = [
            Found(label=f"contentObject[{n}]", element=el)
            for n, el in enumerate(_descendant_alerts(root), start=1)
        ]
        return "edxl-de", found
    if ns == ATOM and name == "feed":
        out: list[Found] = []
        for n, entry in enumerate(root.iter(f"{{{ATOM}}}entry"), start=1):
            embedded = _descendant_alerts(entry)
            if embedded:
                out += [Found(label=f"entry[{n}]", element=el) for el in embedded]
                continue
            link = _atom_cap_link(entry)
            if link is not None:
                out.append(Found(label=f"entry[{n}]", link=link))
        return "atom", out
    if ns is None and name == "rss":
        out = []
        for n, item in enumerate(root.iter("item"), start=1):
            embedded = _descendant_alerts(item)
            if embedded:
                out += [Found(label=f"item[{n}]", element=el) for el in embedded]
                continue
            link = item.findtext("link")
            if link:
                out.append(Found(label=f"item[{n}]", link=link.strip()))
        return "rss", out
    raise UntrustedXmlError(
        f"not CAP, Atom, RSS or EDXL-DE (root {{{ns}}}{name})", reason="unknown_document"
    )


def _descendant_alerts(el: etree._Element) -> list[etree._Element]:
    return [a for ns in cap.CAP_NAMESPACES for a in el.iter(f"{{{ns}}}alert")]


def _atom_cap_link(entry: etree._Element) -> str | None:
    links = entry.findall(f"{{{ATOM}}}link")
    for link in links:
        if "cap" in (link.get("type") or ""):
            return link.get("href")
    for link in links:
        if link.get("rel") in (None, "alternate") and link.get("href"):
            return link.get("href")
    return None


def same_origin(link: str, feed_url: str) -> bool:
    """Return whether a link has the feed's scheme and host (the only links followed)."""
    a, b = urlsplit(link), urlsplit(feed_url)
    return a.scheme in ("http", "https") and (a.scheme, a.netloc) == (b.scheme, b.netloc)


def to_event(alert: cap.CapAlert, *, source: str) -> ExternalAlertReceived:
    """Turn a valid external alert into the event Vigil records (first info block's terms)."""
    info = alert.infos[0] if alert.infos else None
    return ExternalAlertReceived(
        source=source,
        identifier=alert.identifier,
        sender=alert.sender,
        sent=alert.sent,
        status=alert.status,
        msg_type=alert.msg_type,
        references=tuple(r.identifier for r in alert.references),
        event_name=info.event if info else "",
        headline=info.headline if info else "",
        severity=info.severity if info else "Unknown",
        urgency=info.urgency if info else "Unknown",
        certainty=info.certainty if info else "Unknown",
        expires=alert.expires(),
        areas=tuple(a for i in alert.infos for a in i.areas),
        language=info.language if info else "",
    )


class CapDeadLetters(Protocol):
    """Where refused CAP documents are kept (SQLite: `DeadLetters`; PostgreSQL: alerts.postgres)."""

    def add(self, *, at: datetime, source: str, reason: str, detail: str, raw: bytes) -> None:
        """Keep one refused document (at most its first 1 MB) and count it."""
        ...

    def counters(self) -> dict[str, dict[str, int]]:
        """Return refusals by source, then reason."""
        ...

    def recent(self, limit: int = 50) -> list[dict[str, str]]:
        """Return the newest dead letters (without their raw bytes)."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


class DeadLetters:
    """Refused CAP documents, raw, with their reason; and counters per source and reason."""

    def __init__(self, path: Path) -> None:
        self._db = SqliteFile(path, schema=DEAD_LETTER_SCHEMA, what="cap dead letters")

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def add(self, *, at: datetime, source: str, reason: str, detail: str, raw: bytes) -> None:
        """Keep one refused document (at most its first 1 MB) and count it."""
        with self._db.tx() as conn:
            conn.execute(
                "INSERT INTO cap_dead_letters (at, source, reason, detail, raw) VALUES (?,?,?,?,?)",
                (at.isoformat(), source, reason, detail[:2000], raw[:1_000_000]),
            )
            conn.execute(
                "INSERT INTO cap_counters VALUES (?, ?, 1) "
                "ON CONFLICT(source, reason) DO UPDATE SET n = n + 1",
                (source, reason),
            )

    def counters(self) -> dict[str, dict[str, int]]:
        """Return refusals by source, then reason."""
        out: dict[str, dict[str, int]] = {}
        for source, reason, n in self._db.reader().execute("SELECT * FROM cap_counters"):
            out.setdefault(str(source), {})[str(reason)] = int(n)
        return out

    def recent(self, limit: int = 50) -> list[dict[str, str]]:
        """Return the newest dead letters (without their raw bytes)."""
        rows = self._db.reader().execute(
            "SELECT at, source, reason, detail FROM cap_dead_letters ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [
            {"at": str(a), "source": str(s), "reason": str(r), "detail": str(d)}
            for a, s, r, d in rows
        ]


@dataclass(slots=True)
class IntakeResult:
    """What one document yielded."""

    accepted: int = 0
    repeated: int = 0
    rejected: list[str] = field(default_factory=list)


Record = Callable[[ExternalAlertReceived, EventId], bool]  # (event, event id) -> newly recorded?
Fetch = Callable[[str, int], bytes]


class CapIntake:
    """Validate documents from one source and record the good alerts; dead-letter the rest."""

    def __init__(
        self,
        *,
        schema: etree.XMLSchema | None,
        dead: CapDeadLetters,
        record: Record,
        clock: Clock,
        max_bytes: int,
        fetch: Fetch | None = None,
    ) -> None:
        self._schema = schema
        self._dead = dead
        self._record = record
        self._clock = clock
        self.max_bytes = max_bytes
        self._fetch = fetch

    def _refuse(
        self, source: str, reason: str, detail: str, raw: bytes, result: IntakeResult
    ) -> None:
        self._dead.add(at=self._clock.now(), source=source, reason=reason, detail=detail, raw=raw)
        result.rejected.append(f"{reason}: {detail}")
        log.info("CAP from %s refused (%s): %s", source, reason, detail)

    def take(self, data: bytes, *, source: str, url: str | None = None) -> IntakeResult:
        """Take one document (a CAP alert, an Atom/RSS feed or an EDXL-DE envelope)."""
        result = IntakeResult()
        try:
            root = parse_untrusted(data, max_bytes=self.max_bytes)
            _kind, found = extract(root)
        except UntrustedXmlError as err:
            self._refuse(source, err.reason, err.message, data, result)
            return result
        for item in found:
            element = item.element
            raw = b""
            if element is None and item.link is not None:
                if url is None or self._fetch is None or not same_origin(item.link, url):
                    self._refuse(
                        source,
                        "foreign_link",
                        f"{item.label}: link {item.link!r} is not on the feed's own host",
                        item.link.encode(),
                        result,
                    )
                    continue
                try:
                    raw = self._fetch(item.link, self.max_bytes)
                    element = parse_untrusted(raw, max_bytes=self.max_bytes)
                except UntrustedXmlError as err:
                    self._refuse(source, err.reason, f"{item.label}: {err.message}", raw, result)
                    continue
                except VigilError as err:
                    self._refuse(
                        source, "fetch", f"{item.label}: {err}", item.link.encode(), result
                    )
                    continue
            assert element is not None
            self._one(element, item.label, source, result)
        return result

    def _one(self, element: etree._Element, label: str, source: str, result: IntakeResult) -> None:
        raw = etree.tostring(element)
        problems = cap.check(element, self._schema)
        if problems:
            detail = f"{label}: " + "; ".join(str(p) for p in problems[:10])
            self._refuse(source, "invalid_cap", detail, raw, result)
            return
        try:
            alert = cap.parse(element)
        except ValidationError as err:
            self._refuse(source, "invalid_cap", f"{label}: {err}", raw, result)
            return
        key = f"{alert.sender},{alert.identifier},{cap.cap_time(alert.sent)}"
        event_id = EventId("CAPIN/" + hashlib.sha256(key.encode()).hexdigest()[:32])
        if self._record(to_event(alert, source=source), event_id):
            result.accepted += 1
        else:
            result.repeated += 1


def http_fetch(*, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None) -> Fetch:
    """Return a fetcher that reads at most `max_bytes` + 1 bytes, with no redirects."""

    def fetch(url: str, max_bytes: int) -> bytes:
        try:
            with (
                httpx.Client(timeout=timeout_s, follow_redirects=False, transport=transport) as c,
                c.stream("GET", url, headers={"Accept": "application/xml, */*"}) as r,
            ):
                r.raise_for_status()
                chunks: list[bytes] = []
                size = 0
                for chunk in r.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > max_bytes:
                        break
                return b"".join(chunks)
        except httpx.HTTPError as err:
            raise ValidationError(f"cannot fetch {url}: {err}", field="url") from err

    return fetch


class FeedPoller:
    """Poll each subscribed CAP source on its interval; one bad poll never stops the others."""

    def __init__(self, feeds: list[CapFeed], intake: CapIntake, fetch: Fetch, clock: Clock) -> None:
        self._feeds = feeds
        self._intake = intake
        self._fetch = fetch
        self._clock = clock
        self._due: dict[str, float] = {}
        self.last: dict[str, IntakeResult] = {}

    def poll_due(self) -> None:
        """Poll the feeds whose interval has passed."""
        now = self._clock.now().timestamp()
        for feed in self._feeds:
            if self._due.get(feed.name, 0.0) <= now:
                self._due[feed.name] = now + feed.interval_s
                self.poll(feed)

    def poll(self, feed: CapFeed) -> IntakeResult:
        """Fetch and take one source now."""
        try:
            if feed.url.startswith("file://"):
                path = Path(urlsplit(feed.url).path)
                with path.open("rb") as fh:
                    data = fh.read(self._intake.max_bytes + 1)
                result = self._intake.take(data, source=feed.name)
            else:
                data = self._fetch(feed.url, self._intake.max_bytes)
                result = self._intake.take(data, source=feed.name, url=feed.url)
        except (OSError, VigilError, sqlite3.Error) as err:
            result = IntakeResult(rejected=[f"fetch: {err}"])
            log.warning("CAP feed %s: %s", feed.name, err)
        self.last[feed.name] = result
        return result


@dataclass(slots=True)
class CapIn:
    """CAP in, assembled: the dead-letter store, the intake, and the poller of subscribed feeds."""

    dead: CapDeadLetters
    intake: CapIntake
    poller: FeedPoller

    def close(self) -> None:
        """Close the dead-letter store."""
        self.dead.close()


def build_cap_in(
    feeds: list[CapFeed],
    *,
    path: Path,
    schema: etree.XMLSchema | None,
    record: Record,
    clock: Clock,
    max_bytes: int,
    dead: CapDeadLetters | None = None,
) -> CapIn:
    """Assemble CAP in over a dead-letter store (default: a SQLite file at `path`)."""
    dead = dead if dead is not None else DeadLetters(path)
    fetch = http_fetch()
    intake = CapIntake(
        schema=schema, dead=dead, record=record, clock=clock, max_bytes=max_bytes, fetch=fetch
    )
    return CapIn(dead=dead, intake=intake, poller=FeedPoller(feeds, intake, fetch, clock))
