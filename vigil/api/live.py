"""The live feed: every committed change, serialised once, streamed to every browser.

Each recorded event becomes one Server-Sent-Events frame::

    id: <seq>
    event: <type>
    data: {"seq": .., "id": .., "type": .., "stream": .., "at": .., "actor": .., ...}

The feed is one consumer of the bus (not durable: browsers resume by seq
themselves): the bus hands it every committed event in log order on the feed's
own bus thread, which builds the frame bytes once (shared by every subscriber)
and passes them, a burst at a time, to the asyncio loop; the loop keeps the
newest in a ring for resume and fans them out to per-subscriber buffers.

A subscriber resumes from a sequence number (``Last-Event-ID`` or ``?after=``):
what it missed comes from the ring, or from the store when the ring no longer
reaches back that far, so a browser that drops for a while misses nothing.
With ``flush_s`` > 0, the changes of a window that long are fanned out
together (one write per subscriber per window instead of per change).

The work per change is one encoding and one append per subscriber; each
subscriber's task then sends everything it has buffered in one write. Each
buffer is bounded (`queue_size` frames, references to the shared bytes): a
subscriber too slow to keep up gets what it had buffered, then a ``resync``
frame naming the last change it was sent, and its stream ends; it reopens the
feed with ``?after=`` and misses nothing, while the others never wait for it.
Keep-alives (or the server's clock) are built once per heartbeat for every
stream.

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


def resync_frame(after: int) -> bytes:
    """Return the frame telling a client it fell behind: reopen the feed with ``?after=``.

    Sent to a subscriber whose buffer overflowed, after the gap-free prefix it
    still had queued; the stream then ends. `after` is the last change it was
    sent, so ``/api/v1/live?after=<after>`` replays exactly what it missed.
    """
    body = {"after": after, "reason": "slow", "resume": f"/api/v1/live?after={after}"}
    return b"event: resync\ndata: " + _encoder.encode(body) + b"\n\n"


_BEAT_SEQ = -1  # a frame that is no change (a keep-alive or the clock)


@dataclass(eq=False, slots=True)
class Subscriber:
    """One connected client: a bounded buffer of the frames it may see, and its wake-up."""

    role: Role
    limit: int
    wake: asyncio.Event
    frames: list[Frame] = field(default_factory=list)
    overflowed: bool = False
    ended: bool = False
    delivered: int = 0

    def offer(self, frames: list[Frame]) -> bool:
        """Buffer frames (already filtered for its role); return True if it overflowed now.

        What fits is kept (a gap-free prefix, sent before the resync frame); the
        rest is dropped, so a client that stops reading holds at most `limit`
        references to frames the ring shares anyway.
        """
        if self.ended:
            return False
        room = self.limit - len(self.frames)
        overflowed = len(frames) > room
        if overflowed:
            self.frames.extend(frames[: max(room, 0)])
            self.overflowed = True
            self.ended = True
        else:
            self.frames.extend(frames)
        self.wake.set()
        return overflowed

    def beat(self, frame: Frame) -> bool:
        """Buffer a keep-alive or clock frame unless one waits last; True if it overflowed."""
        if self.ended or (self.frames and self.frames[-1].seq == _BEAT_SEQ):
            return False
        return self.offer([frame])

    def end(self) -> None:
        """End the stream once the frames already buffered are sent."""
        self.ended = True
        self.wake.set()


class LiveFeed:
    """Fan-out of committed events to live subscribers, with resume."""

    def __init__(
        self,
        store: EventLog,
        bus: Bus,
        *,
        ring_size: int = 50_000,
        queue_size: int = 1_000,
        heartbeat_s: float = 15.0,
        flush_s: float = 0.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        # Changes that arrive within `flush_s` of a burst's first go out together: one
        # write per subscriber per window, the lever at 10,000 subscribers.
        self.flush_s = flush_s
        self._bus = bus
        self._ring: deque[Frame] = deque(maxlen=ring_size)
        self._queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        # With a clock, each stream opens with the server's time and the feed sends
        # it to every stream each heartbeat (in place of the keep-alive).
        self._clock = clock
        self._subs: dict[Role, set[Subscriber]] = {role: set() for role in Role}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._beats: asyncio.TimerHandle | None = None
        self._lock = threading.Lock()
        self._pending: list[Frame] = []  # encoded on the bus thread, not yet fanned out
        self._scheduled = False
        self.head = 0
        self.frames_encoded = 0
        self.fanouts = 0
        self.overflows = 0
        self.store_reads = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Subscribe to the bus and deliver on `loop` (call from that loop's thread)."""
        self._loop = loop
        # The consumer starts at the end of the log; older events come from the store.
        self.head = self._store.last_seq()
        name = f"live-{next(_FEEDS)}"
        self._unsubscribe = self._bus.subscribe(name, self._on_record, durable=False)
        self._beats = loop.call_later(self.heartbeat_s, self._beat_all)

    def close(self) -> None:
        """Unsubscribe and end every stream."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._beats is not None:
            self._beats.cancel()
            self._beats = None
        for group in self._subs.values():
            for sub in group:
                sub.end()
            group.clear()
        self._loop = None

    @property
    def subscribers(self) -> int:
        """Return the number of connected subscribers."""
        return sum(len(group) for group in self._subs.values())

    def disconnect_all(self) -> None:
        """End every stream now (clients reconnect and resume); call on the feed's loop."""
        for group in self._subs.values():
            for sub in group:
                sub.end()

    def disconnect_all_threadsafe(self) -> None:
        """End every stream, from any thread (operations, tests)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.disconnect_all)

    # ---------------------------------------------------------------- bus side
    def _on_record(self, rec: Recorded) -> None:
        # Runs on the feed's bus thread, in log order: encode once, hand over. One
        # fan-out is scheduled per burst, however many changes it holds.
        frame = encode_frame(rec)
        with self._lock:
            self.frames_encoded += 1
            self._pending.append(frame)
            if self._scheduled:
                return
            self._scheduled = True
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        loop = self._loop
        if self.flush_s <= 0 or loop is None:
            self._fan_out()
        else:
            loop.call_later(self.flush_s, self._fan_out)

    # ----------------------------------------------------------- loop side
    def _fan_out(self) -> None:
        with self._lock:
            frames, self._pending = self._pending, []
            self._scheduled = False
        # Frames at or below the head were read from the store when the feed started.
        fresh = [f for f in frames if f.seq > self.head]
        if not fresh:
            return
        self.head = fresh[-1].seq
        self._ring.extend(fresh)
        self.fanouts += 1
        for role, group in self._subs.items():
            if not group:
                continue
            seen = [f for f in fresh if visible(role, f.type)]  # once per role, not per client
            if seen:
                for sub in group:
                    if sub.offer(seen):
                        self._overflowed(sub)

    def _overflowed(self, sub: Subscriber) -> None:
        self.overflows += 1
        log.info(
            "a %s live-feed client has %d changes unsent: it gets them, then a resync",
            sub.role.value,
            sub.limit,
        )

    def _beat_all(self) -> None:
        loop = self._loop
        if loop is None:
            return
        self._beats = loop.call_later(self.heartbeat_s, self._beat_all)
        if not any(self._subs.values()):
            return
        frame = Frame(seq=_BEAT_SEQ, type="", data=self._beat())  # built once for everyone
        for group in self._subs.values():
            for sub in group:
                if sub.beat(frame):
                    self._overflowed(sub)

    def _beat(self) -> bytes:
        return HEARTBEAT if self._clock is None else clock_frame(self._clock())

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
        start = bisect.bisect_right(self._ring, after, key=lambda f: f.seq)
        return list(itertools.islice(self._ring, start, None))

    async def stream(self, role: Role, after: int) -> AsyncGenerator[bytes, None]:
        """Yield SSE bytes: everything after `after` the role may see, then live changes."""
        sub = Subscriber(role=role, limit=self._queue_size, wake=asyncio.Event())
        self._subs[role].add(sub)
        upto = self.head  # frames above this reach the buffer
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
            self._subs[role].discard(sub)

    async def _live(self, sub: Subscriber, upto: int) -> AsyncGenerator[bytes, None]:
        last = upto  # the last change sent: where a resync resumes
        while True:
            if not sub.frames:
                if sub.ended:
                    break
                sub.wake.clear()
                await sub.wake.wait()
                continue
            # Everything buffered goes out as one write: a client woken late catches
            # up in one step, so the loop's work per client does not grow with the rate.
            batch, sub.frames = sub.frames, []
            parts: list[bytes] = []
            for frame in batch:
                if frame.seq == _BEAT_SEQ:
                    parts.append(frame.data)
                elif frame.seq > last:
                    parts.append(frame.data)
                    last = frame.seq
                    sub.delivered += 1
            if parts:
                yield parts[0] if len(parts) == 1 else b"".join(parts)
        if sub.overflowed:
            yield resync_frame(last)
