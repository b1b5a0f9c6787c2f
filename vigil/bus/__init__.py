"""The bus port: committed events reach their consumers through it.

The Protocol lives here, beside its users (CAD, ingest, rules, the live feed);
adapters (`memory` now, NATS JetStream later) implement it and only the
composition root names one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from vigil.core.events import Event, Recorded

Handler = Callable[[Recorded], None]


class Bus(Protocol):
    """Publish recorded events; subscribe by event class (or to everything)."""

    def publish(self, records: Sequence[Recorded]) -> None:
        """Deliver committed events to subscribers."""
        ...

    def subscribe(self, kind: type[Event] | None, handler: Handler) -> Callable[[], None]:
        """Register a handler for one event class (None = all); return an unsubscribe."""
        ...
