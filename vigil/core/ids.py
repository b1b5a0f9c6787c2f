"""Identifiers: time-ordered, unique, URL-safe strings with a kind prefix."""

from __future__ import annotations

import os
import time
from typing import NewType

IncidentId = NewType("IncidentId", str)
CallId = NewType("CallId", str)
UnitId = NewType("UnitId", str)
EventId = NewType("EventId", str)
DeviceId = NewType("DeviceId", str)

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32


def new_id(prefix: str = "") -> str:
    """Return a ULID-like id: 48-bit ms timestamp + 80 random bits, sortable by time."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    body = "".join(reversed(chars))
    return f"{prefix}-{body}" if prefix else body


def new_event_id(prefix: str = "EV") -> EventId:
    """Return a fresh event id."""
    return EventId(new_id(prefix))
