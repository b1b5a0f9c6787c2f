"""The event envelope and the registry of event types.

Every state change is an immutable, typed event appended to the log. Event
payloads are msgspec Structs (hot path: the log encodes and decodes every one)
tagged with a stable dotted name, e.g. ``incident.opened``. Domains declare
their events in their own package and register them with ``@register``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from vigil.core.errors import ValidationError
from vigil.core.ids import EventId


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    """Base of every event payload. Subclasses set ``tag="domain.verb"``."""

    def stream(self) -> str:
        """Return the stream (aggregate) this event belongs to, e.g. ``incident/INC-1``."""
        return "system"

    def related(self) -> tuple[str, ...]:
        """Return other streams whose timeline shows this event."""
        return ()

    @classmethod
    def type_name(cls) -> str:
        """Return the event's stable tag."""
        tag = cls.__struct_config__.tag
        if not isinstance(tag, str):
            raise TypeError(f"{cls.__name__} has no string tag")
        return tag


E = TypeVar("E", bound=type[Event])

_REGISTRY: dict[str, type[Event]] = {}
_decoder: msgspec.json.Decoder[Any] | None = None


def register(cls: E) -> E:
    """Register an event class so the log can decode it by its tag."""
    global _decoder  # noqa: PLW0603 - the decoder cache is rebuilt when the registry grows
    name = cls.type_name()
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise TypeError(f"event type {name!r} registered twice")
    _REGISTRY[name] = cls
    _decoder = None
    return cls


def event_types() -> dict[str, type[Event]]:
    """Return a copy of the registry: tag -> class."""
    return dict(_REGISTRY)


_encoder = msgspec.json.Encoder()


def encode_event(event: Event) -> bytes:
    """Encode an event payload as JSON (tag included)."""
    return _encoder.encode(event)


def decode_event(data: bytes | str) -> Event:
    """Decode a JSON payload into its registered event class."""
    global _decoder  # noqa: PLW0603 - see register()
    if _decoder is None:
        union: Any = tuple(_REGISTRY.values())
        if not union:
            raise ValidationError("no event types registered", field="type")
        _decoder = msgspec.json.Decoder(type=union[0] if len(union) == 1 else _union(union))
    try:
        result: Event = _decoder.decode(data)
    except msgspec.DecodeError as err:  # includes msgspec.ValidationError
        raise ValidationError(f"undecodable event: {err}", field="type") from err
    return result


def _union(types: tuple[type[Event], ...]) -> Any:
    from typing import Union  # noqa: PLC0415 - only needed to build the decoder once

    return Union[types]  # noqa: UP007 - a dynamic union cannot use the | syntax


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored in the log: payload plus who, when, why and its chain link."""

    seq: int
    id: EventId
    at: datetime
    actor: str
    cause: str | None
    event: Event
    prev_hash: str
    hash: str

    @property
    def type(self) -> str:
        """Return the payload's tag."""
        return self.event.type_name()

    @property
    def stream(self) -> str:
        """Return the payload's stream."""
        return self.event.stream()


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """An event about to be appended: the log assigns seq and hashes."""

    id: EventId
    at: datetime
    actor: str
    cause: str | None
    event: Event


Handler = Callable[[Recorded], None]
