"""Plain records the store keeps beside the event log."""

from __future__ import annotations

from datetime import datetime

import msgspec


class PersonalData(msgspec.Struct, frozen=True, kw_only=True):
    """A caller's identity, kept out of the immutable log so it can expire."""

    call_id: str
    caller_name: str | None
    caller_phone: str | None
    stored_at: datetime
    expires_at: datetime


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One look at (or export of) personal data, or another audited action."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    purpose: str
    detail: str
    prev_hash: str
    hash: str


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A login: name, role and argon2 hash."""

    name: str
    role: str
    password_hash: str
    created_at: datetime
    active: bool = True


class ChainBreak(msgspec.Struct, frozen=True, kw_only=True):
    """Where a hash chain stops verifying, and why."""

    chain: str
    seq: int
    reason: str
