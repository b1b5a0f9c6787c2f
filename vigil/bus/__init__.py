"""The bus port: how committed data reaches the consumers that react to it.

Two kinds of traffic, one bus:

- **Log events** (`Recorded`): a producer appends to the event log, commits,
  then calls `publish` (a hint: the log is the truth, and a consumer reads
  whatever it missed from it). Each consumer gets every event after its cursor,
  in log order, on a thread of its own, never on the committing one. A
  *durable* consumer's cursor is saved in the store, so after a crash it
  resumes where it was: delivery is at-least-once and handlers must be
  idempotent (commands they issue carry ids derived from the event).
- **Topics** (e.g. observations, `Topic[Observation]`): committed batches that
  live in their own store; each listener gets every batch in commit order on
  its own thread, and `send` waits when a listener is `depth` batches behind
  (backpressure reaches the producer, e.g. MQTT acknowledgements stop).

The Protocol lives here, beside its users (CAD, ingest, rules, the live feed);
adapters (`vigil.bus.log`, `vigil.bus.nats` for NATS JetStream) implement it and only the
composition root names one. Every adapter must pass ``tests/contract/test_bus.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from vigil.core.events import Event, Recorded

T = TypeVar("T")

Handler = Callable[[Recorded], None]
Unsubscribe = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Topic(Generic[T]):
    """A named stream of committed batches of `T` that are not log events.

    `item` is the type of one element (a msgspec-encodable type): a bus that
    crosses processes encodes batches with it. `key` names what order matters
    within (e.g. a device id): such a bus may split a batch by key and deliver
    different keys to different workers, but one key always in order.
    """

    name: str
    item: type[T] | None = None
    key: Callable[[T], str] | None = None


class Bus(Protocol):
    """Deliver committed events and batches to consumers, off the producer's thread."""

    def publish(self, records: Sequence[Recorded]) -> None:
        """Announce events that were just committed to the log (never before the commit)."""
        ...

    def subscribe(
        self,
        consumer: str,
        handler: Handler,
        *,
        kinds: tuple[type[Event], ...] = (),
        durable: bool = True,
    ) -> Unsubscribe:
        """Deliver log events (of `kinds`; all when empty) to `handler`, in log order.

        A durable consumer resumes from its saved cursor (the first time, from the
        current end of the log); a non-durable one starts at the end of the log.
        """
        ...

    def resumes_after(self, consumer: str) -> int:
        """Return the log seq a durable consumer would resume after if subscribed now.

        Its saved cursor; the current end of the log for a consumer that never ran.
        What was before it was handled before a restart (the rules replay up to it).
        """
        ...

    def send(self, topic: Topic[T], batch: Sequence[T]) -> None:
        """Hand a committed batch to every listener of a topic (waits when one is behind)."""
        ...

    def listen(
        self, topic: Topic[T], consumer: str, handler: Callable[[Sequence[T]], object]
    ) -> Unsubscribe:
        """Deliver every batch sent to a topic to `handler`, in order."""
        ...

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every consumer has handled everything published so far."""
        ...

    def close(self) -> None:
        """Stop every consumer after what it is handling; save durable cursors."""
        ...
