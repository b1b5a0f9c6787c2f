"""The store's ports: what the domains need from durable storage, one Protocol per job.

The cut follows transactions and readers, not tables:

- `EventLog`: the append-only, hash-chained log. One `append` is one transaction
  holding the events *and* the projection rows and personal data they change —
  that is why projections and personal data are written through it and not
  through ports of their own. Reads are by sequence (consumers), by stream
  (timelines), by cause and by id prefix (command idempotency). An append may
  carry an `Expectation` (optimistic concurrency between processes): it fails
  with `WriteConflictError`, writing nothing, if the streams it was decided on
  changed after the seq its state reflects.
- `Projections`: the persisted current state a service loads at start-up, and
  its wholesale replacement (``vigil store rebuild``).
- `PersonalDataStore`: callers' identities, kept out of the log so they expire.
- `AuditTrail`: the second hash chain (who looked at what, and why), and
  verification of both chains.
- `Accounts`: logins and API tokens (creating a login also appends its event).
- `Cursors`: each consumer's durable position in the log, so delivery is
  at-least-once and a consumer that stops resumes where it was.
- `Leases`: named, expiring claims with fencing tokens (which worker of a group
  owns which device partition, and which workers are alive).

`Store` is all of them: what one adapter (SQLite, PostgreSQL) provides.
Nothing outside the composition root names an adapter class; domains type their
dependencies with the narrowest port they use. Every adapter must pass
``tests/contract/test_store.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from vigil.core.errors import WriteConflictError
from vigil.core.events import Pending, Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import EventId
from vigil.store.records import AuditEntry, ChainBreak, PersonalData, UserRecord

ProjectionRow = tuple[str, str, bytes | None]
"""kind, id, body (JSON); a body of None deletes the row."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    """What an append expects of the log: nothing changed what it was decided on.

    The append fails with `WriteConflictError` (writing nothing) if an event
    recorded after `after_seq` belongs to one of `streams` or names one of them
    among its related streams, or is of one of `types`, or if an event of the
    batch is already in the log (the same command recorded by another writer).
    It is checked in the append's own transaction, so two writers deciding on
    the same state cannot both succeed. `after_seq` is the log position the
    decision's state reflects; `streams` are those the decision read and wrote
    (e.g. ``unit/U1``, ``incident/INC-1``); `types` guard what no single stream
    holds (the next incident number is read from every ``incident.opened``).
    """

    after_seq: int
    streams: frozenset[str]
    types: frozenset[str] = frozenset()

    def broken_by(self, seq: int | None, what: str) -> WriteConflictError:
        """Return the error saying what changed (at `seq`) after the decision's state."""
        if seq is None:
            message = f"{what} is already in the log (another writer recorded this command)"
        else:
            message = f"{what} changed at seq {seq}, after seq {self.after_seq} it was decided on"
        return WriteConflictError(message, extra={"changed": what, "seq": seq})


class EventLog(Protocol):
    """The append-only event log (the truth)."""

    def append(
        self,
        batch: Sequence[Pending],
        *,
        projection: Iterable[ProjectionRow] = (),
        personal: Iterable[PersonalData] = (),
        expect: Expectation | None = None,
    ) -> list[Recorded]:
        """Append events with their projection rows and personal data in one transaction.

        Events whose id is already in the log are skipped (an idempotent resend);
        the result holds only the events this call recorded, in log order. With
        `expect`, the expectation is checked first, in the same transaction
        (optimistic concurrency): `WriteConflictError` if it failed.
        """
        ...

    def has_event(self, event_id: EventId) -> bool:
        """Return whether an event id is already in the log."""
        ...

    def events_with_prefix(self, prefix: str) -> list[Recorded]:
        """Return the events whose id starts with `prefix` (one command's output)."""
        ...

    def read(self, after_seq: int = 0, limit: int | None = None) -> Iterator[Recorded]:
        """Yield recorded events in log order after `after_seq`."""
        ...

    def stream(self, stream: str) -> list[Recorded]:
        """Return a stream's events and those related to it, in log order (a timeline)."""
        ...

    def events_caused_by(self, cause: str) -> list[Recorded]:
        """Return the events whose cause is `cause`, in log order."""
        ...

    def last_seq(self) -> int:
        """Return the sequence number of the newest event (0 when empty)."""
        ...


class Projections(Protocol):
    """The persisted projection of the log (current state)."""

    def projection_rows(self) -> tuple[int, list[tuple[str, str, bytes]]]:
        """Return every projection row and the log seq they reflect."""
        ...

    def replace_projection(self, rows: Iterable[tuple[str, str, bytes]], seq: int) -> None:
        """Replace every projection row at once, as of log seq `seq`."""
        ...

    def open_near(
        self, kind: str, point: LatLon, radius_m: float, *, statuses: Sequence[str]
    ) -> list[tuple[str, float]]:
        """Return (id, metres) of `kind` records in `statuses` within `radius_m`, nearest first.

        PostgreSQL answers from a spatial index (PostGIS); SQLite by a scan.
        """
        ...


class PersonalDataStore(Protocol):
    """Callers' identities, held only until their retention ends."""

    def personal(self, call_id: str) -> PersonalData | None:
        """Return a call's personal data, if still held."""
        ...

    def purge_personal(self, now: datetime) -> list[str]:
        """Delete personal data whose retention ended; return the call ids purged."""
        ...


class AuditTrail(Protocol):
    """The audit log (its own hash chain) and verification of both chains."""

    def append_audit(
        self, *, at: datetime, actor: str, action: str, subject: str, purpose: str, detail: str
    ) -> AuditEntry:
        """Append one audit entry to its hash chain."""
        ...

    def audit_entries(
        self, *, subject: str | None = None, actor: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Return audit entries, newest first, optionally filtered."""
        ...

    def verify(self) -> list[ChainBreak]:
        """Recompute the event and audit chains; return the first break of each."""
        ...


class Accounts(Protocol):
    """Logins and their API tokens."""

    def add_user(self, user: UserRecord, pending: Pending) -> None:
        """Store a new login together with the event recording its creation."""
        ...

    def add_token(
        self,
        *,
        token_hash: str,
        user: str,
        label: str,
        created_at: datetime,
        expires_at: datetime | None,
    ) -> None:
        """Store the hash of an API token."""
        ...

    def revoke_tokens(self, user: str) -> int:
        """Delete every token of a login; return how many."""
        ...

    def user(self, name: str) -> UserRecord | None:
        """Return a login by name."""
        ...

    def users(self) -> list[UserRecord]:
        """Return every login, by name."""
        ...

    def user_for_token(self, token_hash: str, now: datetime) -> UserRecord | None:
        """Return the active login owning an unexpired token."""
        ...


class Cursors(Protocol):
    """Durable consumer positions in the event log."""

    def cursor(self, consumer: str) -> int | None:
        """Return the last seq a consumer finished, or None if it never ran."""
        ...

    def save_cursor(self, consumer: str, seq: int) -> None:
        """Record that a consumer finished every event up to `seq` (never moves back)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A claim on a name within a group, held by `owner` until `expires` (epoch seconds).

    `token` is the fencing token: it grows by one each time the name changes hands
    (or its owner claims it again after letting it expire), never on a renewal, so
    a write fenced by an older token is refused.
    """

    group: str
    name: str
    owner: str
    expires: float
    token: int


class Leases(Protocol):
    """Expiring claims with fencing tokens (partition ownership, worker membership).

    Times are the caller's wall clock in epoch seconds: every worker of a group
    must keep its clock in step (NTP); the lease margin covers what skew remains.
    """

    def claim_lease(
        self, group: str, name: str, owner: str, *, now: float, ttl_s: float
    ) -> Lease | None:
        """Take or renew a lease until `now + ttl_s`; None while another owner holds it."""
        ...

    def release_lease(self, group: str, name: str, owner: str) -> bool:
        """Give up a lease now if `owner` holds it (the token stays); return whether it did."""
        ...

    def leases(self, group: str) -> list[Lease]:
        """Return every lease of a group (expired ones too), by name."""
        ...

    def save_cursor_fenced(self, consumer: str, seq: int, *, lease: Lease, now: float) -> bool:
        """Save a cursor (as `save_cursor`) only while `lease` is still held with its token.

        The check and the write are one transaction: a worker whose lease expired
        or passed to another can no longer move the partition's cursor.
        """
        ...


class Store(
    EventLog, Projections, PersonalDataStore, AuditTrail, Accounts, Cursors, Leases, Protocol
):
    """Everything one store adapter provides."""

    def close(self) -> None:
        """Release every connection."""
        ...
