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
reaches back that far, so a browser that drops for a while misses nothing; one
that resumes from further on than this process has reached (it was on another
process) is not sent what it already saw.

With ``flush_s`` > 0, fan-outs are at least that far apart: a change after a
quiet spell goes out at once, the changes of a busy spell wait for the next
window and go out together (one write per subscriber per window instead of per
change: the lever at 10,000 subscribers).

The work per fan-out is one filter and one join per role (the bytes every
subscriber of that role is sent, shared), then one append and one wake-up per
subscriber; each subscriber's task sends everything it has buffered in one
write (``vigil.api.routes.live.EventStream``: a plain ASGI send). Each buffer is
bounded (`queue_size` frames): a subscriber too slow to keep up gets what it had
buffered, then a ``resync`` frame naming the last change it was sent, and its
stream ends; it reopens the feed with ``?after=`` and misses nothing, while the
others never wait for it. Keep-alives (or the server's clock) are built once per
heartbeat for every stream.

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
from dataclasses import dataclass
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
_BACKLOG_WRITE = 256  # frames per write while a resuming client catches up


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


@dataclass(frozen=True, slots=True)
class Batch:
    """What one fan-out sends one role: its frames, and their bytes joined once for all."""

    frames: list[Frame]
    data: bytes

    @classmethod
    def of(cls, frames: list[Frame]) -> Batch:
        """Join frames (already filtered for a role) into the one write every client shares."""
        return cls(frames, frames[0].data if len(frames) == 1 else b"".join(f.data for f in frames))


class Subscriber:
    """One connected client: a bounded buffer of ready bytes it may see, and its wake-up.

    The buffer holds references to bytes shared by every client of its role (one
    joined batch per fan-out), so a fan-out costs one append per client; its
    bound is in frames, keep-alives included.
    """

    __slots__ = (
        "_waiter",
        "beat_last",
        "chunks",
        "count",
        "ended",
        "last",
        "limit",
        "overflowed",
        "role",
    )

    def __init__(self, role: Role, limit: int, last: int = 0) -> None:
        self.role = role
        self.limit = limit
        self.chunks: list[bytes] = []
        self.count = 0  # frames in `chunks`
        self.last = last  # the last change buffered (all of it is sent): where a resync resumes
        self.beat_last = False  # the newest chunk is a keep-alive (or clock)
        self.overflowed = False
        self.ended = False
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, batch: Batch) -> bool:
        """Buffer a batch (already filtered for its role); return True if it overflowed now.

        What fits is kept (a gap-free prefix, sent before the resync frame); the
        rest is dropped, so a client that stops reading holds at most `limit`
        frames' worth of references to bytes the ring shares anyway.
        """
        if self.ended:
            return False
        frames, data = batch.frames, batch.data
        if frames[0].seq <= self.last:
            # It resumed from further on than this process's feed had reached (it was
            # on another process): what it saw there is not sent twice.
            frames = [f for f in frames if f.seq > self.last]
            if not frames:
                return False
            data = b"".join(f.data for f in frames)
        room = self.limit - self.count
        if len(frames) <= room:
            self.chunks.append(data)
            self.count += len(frames)
            self.last = frames[-1].seq
            self.beat_last = False
            self._wake()
            return False
        if room > 0:
            kept = frames[:room]
            self.chunks.append(b"".join(f.data for f in kept))
            self.count += room
            self.last = kept[-1].seq
        self.overflowed = True
        self.ended = True
        self._wake()
        return True

    def beat(self, data: bytes) -> bool:
        """Buffer a keep-alive or clock frame unless one waits last; True if it overflowed."""
        if self.ended or (self.chunks and self.beat_last):
            return False
        if self.count >= self.limit:
            self.overflowed = True
            self.ended = True
            self._wake()
            return True
        self.chunks.append(data)
        self.count += 1
        self.beat_last = True
        self._wake()
        return False

    def end(self) -> None:
        """End the stream once the frames already buffered are sent."""
        self.ended = True
        self._wake()

    def take(self) -> bytes | None:
        """Return everything buffered as one write (None when nothing is), emptying the buffer."""
        chunks = self.chunks
        if not chunks:
            return None
        self.chunks = []
        self.count = 0
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def wait(self) -> None:
        """Sleep until something is buffered or the stream ends."""
        if self.chunks or self.ended:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


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
        self._fanned_at = float("-inf")  # loop time of the last fan-out
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
        # One fan-out per `flush_s` at most: a change after a quiet spell goes out at
        # once, the changes of a busy spell wait for the window after the last fan-out.
        loop = self._loop
        if loop is None:
            return
        due = self._fanned_at + self.flush_s
        if self.flush_s <= 0 or due <= loop.time():
            self._fan_out()
        else:
            loop.call_at(due, self._fan_out)

    # ----------------------------------------------------------- loop side
    def _fan_out(self) -> None:
        with self._lock:
            frames, self._pending = self._pending, []
            self._scheduled = False
        # Frames at or below the head were read from the store when the feed started.
        fresh = [f for f in frames if f.seq > self.head]
        if not fresh:
            return
        if self._loop is not None:
            self._fanned_at = self._loop.time()
        self.head = fresh[-1].seq
        self._ring.extend(fresh)
        self.fanouts += 1
        for role, group in self._subs.items():
            if not group:
                continue
            seen = [f for f in fresh if visible(role, f.type)]  # once per role, not per client
            if not seen:
                continue
            batch = Batch.of(seen)  # one joined write, shared by the role's clients
            for sub in group:
                if sub.offer(batch):
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
        beat = self._beat()  # built once for everyone
        for group in self._subs.values():
            for sub in group:
                if sub.beat(beat):
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

    def stream(self, role: Role, after: int) -> AsyncGenerator[bytes, None]:
        """Return SSE bytes: everything after `after` the role may see, then live changes."""
        return self.open(role, after)[1]

    def open(self, role: Role, after: int) -> tuple[Subscriber, AsyncGenerator[bytes, None]]:
        """Return a stream and its subscriber (`Subscriber.end` ends it: the client left).

        The subscriber joins the fan-out when the stream is first read.
        """
        sub = Subscriber(role, self._queue_size)
        return sub, self._stream(sub, after)

    async def _stream(self, sub: Subscriber, after: int) -> AsyncGenerator[bytes, None]:
        role = sub.role
        upto = self.head  # frames above this reach the buffer
        sub.last = max(upto, after)
        self._subs[role].add(sub)
        try:
            yield b"retry: 1000\n\n"
            if self._clock is not None:
                yield clock_frame(self._clock())
            backlog = self._backlog_from_ring(after)
            if backlog is None:
                self.store_reads += 1
                recs = await asyncio.to_thread(lambda: list(self._read_range(after, upto)))
                backlog = [encode_frame(r) for r in recs]
            seen = [f.data for f in backlog if f.seq <= upto and visible(role, f.type)]
            for i in range(0, len(seen), _BACKLOG_WRITE):
                yield b"".join(seen[i : i + _BACKLOG_WRITE])
            # Live: everything buffered goes out as one write, so a client woken late
            # catches up in one step and the loop's work per client does not grow with
            # the rate of changes.
            while True:
                chunk = sub.take()
                if chunk is not None:
                    yield chunk
                elif sub.ended:
                    break
                else:
                    await sub.wait()
            if sub.overflowed:
                yield resync_frame(sub.last)
        finally:
            self._subs[role].discard(sub)
