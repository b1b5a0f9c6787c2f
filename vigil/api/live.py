"""The live feed: every committed change, serialised once, streamed to every browser.

Each recorded event becomes one Server-Sent-Events frame::

    id: <seq>
    event: <type>
    data: {"seq": .., "id": .., "type": .., "stream": .., "at": .., "actor": .., ...}

The feed is one consumer of the bus (not durable: browsers resume by seq
themselves): the bus hands it every committed event in log order on the feed's
own bus thread, which builds the frame bytes once (shared by every subscriber)
and passes them to the asyncio loop; the loop keeps the newest in a ring for
resume and fans them out to per-subscriber queues.

A subscriber resumes from a sequence number (``Last-Event-ID`` or ``?after=``):
what it missed comes from the ring, or from the store when the ring no longer
reaches back that far, so a browser that drops for a while misses nothing. A
subscriber too slow to keep up overflows its queue and is disconnected; it then
reconnects and resumes like any other.

What a role may see is decided per frame by its type (``visible``): nobody but
an admin sees login administration, field units do not see rule internals or
unapproved alert drafts. Caller identity is never in an event at all.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from vigil.audit.roles import Role
from vigil.bus import Bus
from vigil.core.events import Recorded
from vigil.store.ports import EventLog

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()

# Event-type prefixes hidden from a role (checked with str.startswith).
_HIDDEN: dict[Role, tuple[str, ...]] = {
    Role.CALL_TAKER: ("user.",),
    Role.DISPATCHER: ("user.",),
    Role.SUPERVISOR: ("user.",),
    Role.ANALYST: ("user.",),
    Role.FIELD_UNIT: (
        "user.",
        "rule.",
        "alert.drafted",
        "alert.composed",
        "alert.rejected",
        "alert.delivery",
        "report.",
        "audit.",
    ),
    Role.AUDITOR: (),
    Role.ADMIN: (),
    Role.DEVICE: ("",),
}


def visible(role: Role, event_type: str) -> bool:
    """Return whether a role may receive events of this type on the live feed."""
    return not any(event_type.startswith(p) for p in _HIDDEN[role])


@dataclass(frozen=True, slots=True)
class Frame:
    """One change, serialised once as an SSE frame."""

    seq: int
    type: str
    data: bytes


def encode_frame(rec: Recorded) -> Frame:
    """Serialise a recorded event as an SSE frame (the only serialisation it gets)."""
    payload = msgspec.to_builtins(rec.event)
    payload.pop("event", None)
    body = _encoder.encode(
        {
            "seq": rec.seq,
            "id": rec.id,
            "type": rec.type,
            "stream": rec.stream,
            "at": rec.at,
            "actor": rec.actor,
            "cause": rec.cause,
            "data": payload,
        }
    )
    head = f"id: {rec.seq}\nevent: {rec.type}\ndata: ".encode()
    return Frame(seq=rec.seq, type=rec.type, data=head + body + b"\n\n")


HEARTBEAT = b": keep-alive\n\n"
_FEEDS = itertools.count(1)  # names the bus consumer of each feed


def clock_frame(now: datetime) -> bytes:
    """Return the frame telling browsers the server's time (the one clock; maybe simulated)."""
    return b"event: clock\ndata: " + _encoder.encode({"now": now}) + b"\n\n"


class Overflowed(Exception):  # noqa: N818 - a signal to the stream, not an error report
    """The subscriber fell too far behind and was disconnected."""


@dataclass(eq=False, slots=True)
class Subscriber:
    """One connected client: a bounded queue of frames it may see."""

    role: Role
    queue: asyncio.Queue[Frame | None]
    overflowed: bool = False
    ended: bool = False
    delivered: int = field(default=0)

    def offer(self, frame: Frame) -> None:
        """Queue a frame, or mark the subscriber overflowed (it reconnects and resumes)."""
        if self.ended or not visible(self.role, frame.type):
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            # Keep what is queued (a gap-free prefix); the stream ends after it.
            self.overflowed = True
            self.ended = True

    def end(self) -> None:
        """End the stream once the frames already queued are sent."""
        self.ended = True
        if not self.queue.full():
            self.queue.put_nowait(None)


class LiveFeed:
    """Fan-out of committed events to live subscribers, with resume."""

    def __init__(
        self,
        store: EventLog,
        bus: Bus,
        *,
        ring_size: int = 50_000,
        queue_size: int = 20_000,
        heartbeat_s: float = 15.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._ring: deque[Frame] = deque(maxlen=ring_size)
        self._queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        # With a clock, each stream opens with the server's time and repeats it at
        # least every heartbeat (in place of the keep-alive), busy or idle.
        self._clock = clock
        self._subs: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self.head = 0
        self.frames_encoded = 0
        self.overflows = 0
        self.store_reads = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Subscribe to the bus and deliver on `loop`."""
        self._loop = loop
        # The consumer starts at the end of the log; older events come from the store.
        self.head = self._store.last_seq()
        name = f"live-{next(_FEEDS)}"
        self._unsubscribe = self._bus.subscribe(name, self._on_record, durable=False)

    def close(self) -> None:
        """Unsubscribe and end every stream."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for sub in list(self._subs):
            sub.end()
        self._subs.clear()
        self._loop = None

    @property
    def subscribers(self) -> int:
        """Return the number of connected subscribers."""
        return len(self._subs)

    def disconnect_all(self) -> None:
        """End every stream now (clients reconnect and resume); call on the feed's loop."""
        for sub in list(self._subs):
            sub.end()

    def disconnect_all_threadsafe(self) -> None:
        """End every stream, from any thread (operations, tests)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.disconnect_all)

    # ---------------------------------------------------------------- bus side
    def _on_record(self, rec: Recorded) -> None:
        # Runs on the feed's bus thread, in log order: encode once, hand over.
        frame = encode_frame(rec)
        with self._lock:
            self.frames_encoded += 1
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._emit, frame)

    # ----------------------------------------------------------- loop side
    def _emit(self, frame: Frame) -> None:
        if frame.seq <= self.head:
            return  # already read from the store when the feed started
        self.head = frame.seq
        self._ring.append(frame)
        for sub in self._subs:
            sub.offer(frame)

    def _read_range(self, after: int, upto: int) -> Iterable[Recorded]:
        for rec in self._store.read(after_seq=after):
            if rec.seq > upto:
                break
            yield rec

    # ------------------------------------------------------------ subscribers
    def _backlog_from_ring(self, after: int) -> list[Frame] | None:
        """Return ring frames after `after`, or None when the ring does not reach back."""
        if after >= self.head:
            return []
        if not self._ring or self._ring[0].seq > after + 1:
            return None
        seqs = [f.seq for f in self._ring]  # a deque has no bisect; copy is O(ring)
        start = bisect.bisect_right(seqs, after)
        return [self._ring[i] for i in range(start, len(self._ring))]

    async def stream(self, role: Role, after: int) -> AsyncGenerator[bytes, None]:
        """Yield SSE bytes: everything after `after` the role may see, then live changes."""
        sub = Subscriber(role=role, queue=asyncio.Queue(maxsize=self._queue_size))
        self._subs.add(sub)
        upto = self.head  # frames above this reach the queue
        try:
            yield b"retry: 1000\n\n"
            if self._clock is not None:
                yield clock_frame(self._clock())
            backlog = self._backlog_from_ring(after)
            if backlog is None:
                self.store_reads += 1
                recs = await asyncio.to_thread(lambda: list(self._read_range(after, upto)))
                backlog = [encode_frame(r) for r in recs]
            for frame in backlog:
                if frame.seq <= upto and visible(role, frame.type):
                    yield frame.data
            async for chunk in self._live(sub, max(upto, after)):
                yield chunk
        finally:
            self._subs.discard(sub)

    def _beat(self) -> bytes:
        return HEARTBEAT if self._clock is None else clock_frame(self._clock())

    async def _live(self, sub: Subscriber, upto: int) -> AsyncGenerator[bytes, None]:
        loop = asyncio.get_running_loop()
        beat_at = loop.time() + self.heartbeat_s
        while True:
            if sub.ended and sub.queue.empty():
                if sub.overflowed:
                    self.overflows += 1
                return
            if self._clock is not None and loop.time() >= beat_at:
                beat_at = loop.time() + self.heartbeat_s
                yield self._beat()
            try:
                frame = await asyncio.wait_for(
                    sub.queue.get(), timeout=max(0.0, beat_at - loop.time())
                )
            except TimeoutError:
                beat_at = loop.time() + self.heartbeat_s
                yield self._beat()
                continue
            if frame is None:
                continue
            if frame.seq > upto:
                sub.delivered += 1
                yield frame.data
