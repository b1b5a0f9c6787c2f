"""The NATS JetStream bus: the same log-first contract, across processes and machines.

Written for NATS server 2.9 (JetStream API of 2.9: no multi-filter consumers,
no per-message TTL) and nats-py 2.x.

How it keeps the log-first design (`vigil.bus.log`):

- **The event log stays the truth.** `publish` is called after the commit and
  sends each record to JetStream with ``Nats-Msg-Id`` = the event id, so a
  record published twice (a retry, two processes) is stored once within the
  stream's duplicate window. It never blocks the committing thread and may
  fail (NATS down): it is a hint that carries the record to every process.
- **Event consumers read the stream, and the log for what it lacks.** Each
  consumer keeps a cursor (the last log seq it handled). A record at or below
  the cursor is acknowledged and skipped (a duplicate or a redelivery); a
  record beyond ``cursor + 1`` shows a gap (published out of order by two
  committing threads or processes, or never published because its process
  died between commit and publish, or NATS was down), which is read from the
  log before the record is handled. When the stream is silent the consumer
  looks at the log's head every `poll_s`. So delivery is in log order (hence
  in order per incident and per device), whatever reached the stream.
- **Durable consumers** are JetStream durable pull consumers (explicit acks,
  `max_deliver`, `ack_wait`) whose log cursor is checkpointed in the store's
  `Cursors` at most every `checkpoint_s` and on close, as with the embedded
  bus: switching a deployment between the two buses keeps every cursor.
  A process's non-durable consumers (the live feeds, the CAD and device
  followers, the alert and report books) share one ephemeral pull consumer
  (ack policy all: one ack per fetch), each fetch handed to each of them.
- **The hot path is batched**: acknowledgements, freed queue slots and event
  publishes reach nats-py's loop in bursts (one wake-up, one task), publishes
  are pipelined (every PubAck awaited together), and each event (each topic
  batch) is decoded once for all of a process's consumers (listeners).
- **Topics** (observations) go on their own stream with *interest* retention:
  a batch is kept until every listener that has an interest in it acknowledged
  it, and the stream's `topic_max_msgs` with ``discard: new`` is the
  backpressure: `send` waits for the stream's acknowledgement (the batch is
  stored, replicated when `replicas` > 1) and retries while NATS refuses it
  (down, or full because a listener is behind), so MQTT acknowledgements are
  withheld until the batch is committed *and* on the stream. A batch is split
  by the topic's `key` (the device id) over `partitions` subjects; listeners in
  this process get only the partitions it `owns`, each partition through its
  own durable consumer, in order. A worker that dies leaves its partitions'
  consumers (and their unacknowledged batches) on the stream; the worker that
  takes its partitions over binds the same consumers and goes on from there.
- **Bounded redelivery.** A handler that raises is retried in place
  (`attempts` times, backing off), so the order is kept; then the event or
  batch is copied to the dead-letter stream (``<prefix>.dead.<consumer>``),
  counted and skipped. A process that dies mid-message leaves it
  unacknowledged: JetStream redelivers it after `ack_wait`, at most
  `max_deliver` times; the server's MAX_DELIVERIES advisories are counted and
  logged (`max_deliveries`).
- **Reconnects** are nats-py's (unbounded attempts): while NATS is away,
  consumers keep following the log by polling it, `send` waits, and a
  consumer that lost its JetStream consumer (an ephemeral one after a server
  restart) creates it again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import re
import secrets
import threading
import time
import types
import zlib
from collections.abc import Callable, Collection, Coroutine, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any, Protocol, TypeVar

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from vigil.bus import Handler, Topic, Unsubscribe
from vigil.bus.log import LogStore
from vigil.core.errors import ConfigError
from vigil.core.events import Event, Recorded, decode_event, encode_event
from vigil.core.ids import EventId

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_NAME = re.compile(r"[^A-Za-z0-9_-]")
_TOKEN = re.compile(r"[^A-Za-z0-9_:/-]")


class _Wire(msgspec.Struct, frozen=True):
    """A recorded event on the wire: the envelope, and the payload as the log encodes it."""

    seq: int
    id: EventId
    at: datetime
    actor: str
    cause: str | None
    prev_hash: str
    hash: str
    event: msgspec.Raw


_wire_encoder = msgspec.json.Encoder()
_wire_decoder = msgspec.json.Decoder(_Wire)


def encode_record(rec: Recorded) -> bytes:
    """Encode a recorded event for the stream."""
    return _wire_encoder.encode(
        _Wire(
            seq=rec.seq,
            id=rec.id,
            at=rec.at,
            actor=rec.actor,
            cause=rec.cause,
            prev_hash=rec.prev_hash,
            hash=rec.hash,
            event=msgspec.Raw(encode_event(rec.event)),
        )
    )


def decode_record(data: bytes) -> Recorded:
    """Decode a recorded event from the stream (raises on anything else)."""
    w = _wire_decoder.decode(data)
    return Recorded(
        seq=w.seq,
        id=w.id,
        at=w.at,
        actor=w.actor,
        cause=w.cause,
        prev_hash=w.prev_hash,
        hash=w.hash,
        event=decode_event(bytes(w.event)),
    )


def partition_of(key: str, partitions: int) -> int:
    """Return the partition a key (a device id) belongs to: stable across processes."""
    return zlib.crc32(key.encode()) % partitions


def parse_owned(spec: str, partitions: int) -> frozenset[int]:
    """Parse owned partitions: ``all``, ``3``, ``0-7`` or ``0-3,8-11``."""
    spec = spec.strip()
    if spec in ("", "all"):
        return frozenset(range(partitions))
    owned: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ConfigError(
                f"partitions {spec!r}: expected e.g. 0-7 or 0-3,8", field="bus"
            ) from None
        if not 0 <= a <= b < partitions:
            raise ConfigError(
                f"partitions {spec!r}: each must be within 0-{partitions - 1}", field="bus"
            )
        owned.update(range(a, b + 1))
    return frozenset(owned)


def _name(text: str) -> str:
    return _NAME.sub("_", text)


class PartitionLeases(Protocol):
    """Which partitions this process may act on now (they move by lease: `--partitions auto`)."""

    def holds(self, partition: int) -> bool:
        """Return whether a batch of `partition` may be handled now."""
        ...

    def owned(self) -> frozenset[int]:
        """Return the partitions held now."""
        ...

    def save_cursor(self, partition: int, consumer: str, seq: int) -> bool:
        """Save a partition's cursor, fenced by its lease; False when the lease is gone."""
        ...


def partition_cursor(consumer: str, partition: int) -> str:
    """Name a consumer's durable log cursor of one partition (``rules@p3``)."""
    return f"{consumer}@p{partition}"


class _Loop:
    """The asyncio loop nats-py runs on, in a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="bus-nats-io", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, R]) -> Future[R]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, R], timeout: float | None = None) -> R:
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class _Pull:
    """One JetStream pull consumer feeding a local, bounded queue (an asyncio task)."""

    def __init__(
        self,
        bus: NatsBus,
        *,
        stream: str,
        config: ConsumerConfig,
        out: queue.SimpleQueue[Msg] | queue.SimpleQueue[Msg | list[Msg]] | _Followers,
        depth: int,
        batch: int,
    ) -> None:
        self.bus = bus
        self.stream = stream
        self.config = config
        self.out = out
        self.slots = asyncio.Semaphore(depth)
        self.batch = batch
        self.stopping = False
        self.sub: JetStreamContext.PullSubscription | None = None
        self.task: asyncio.Task[None] | None = None

    async def _bind(self) -> JetStreamContext.PullSubscription:
        js = self.bus.js
        name = self.config.durable_name
        if name is not None:
            try:
                await js.consumer_info(self.stream, name)
            except nats.js.errors.NotFoundError:
                await js.add_consumer(self.stream, self.config)
            return await js.pull_subscribe_bind(durable=name, stream=self.stream)
        info = await js.add_consumer(self.stream, self.config)
        return await js.pull_subscribe_bind(consumer=info.name, stream=self.stream)

    async def run(self) -> None:
        backoff = 0.05
        while not self.stopping:
            try:
                if self.sub is None:
                    self.sub = await self._bind()
                msgs = await self.sub.fetch(self.batch, timeout=self.bus.fetch_s)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - NATS away, consumer gone: bind again later
                if not self.stopping:
                    log.debug("bus pull on %s failed: %r", self.stream, err)
                    if isinstance(err, nats.js.errors.NotFoundError) and self.sub is not None:
                        await self._unsubscribe()
                    if self.config.durable_name is None and self.sub is not None:
                        await self._unsubscribe()  # an ephemeral consumer dies with its server
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            out = self.out
            if isinstance(out, _Followers):
                out.offer(msgs)
                try:  # ack policy all: the last acknowledges the fetch (gaps: the log)
                    await msgs[-1].ack()
                except Exception as err:  # noqa: BLE001 - redelivered, then skipped
                    log.debug("bus ack failed: %r", err)
                continue
            for m in msgs:
                await self.slots.acquire()  # at most `depth` messages wait for the handler
                out.put(m)

    async def _unsubscribe(self) -> None:
        sub, self.sub = self.sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as err:  # noqa: BLE001 - the connection may be gone
                log.debug("bus unsubscribe failed: %r", err)

    async def stop(self, *, delete: bool) -> None:
        self.stopping = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self._unsubscribe()
        if delete and self.config.durable_name is not None:
            try:
                await self.bus.js.delete_consumer(self.stream, self.config.durable_name)
            except Exception as err:  # noqa: BLE001 - gone already, or NATS away
                log.debug("bus could not delete consumer %s: %r", self.config.durable_name, err)

    async def pending(self) -> int:
        """Return what the server has not yet seen acknowledged by this (durable) consumer."""
        name = self.config.durable_name
        if name is None:
            return 0
        info = await self.bus.js.consumer_info(self.stream, name)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


class _Handoff:
    """What handler and producer threads hand to the loop, in bursts (not one hop each).

    A handler thread acknowledges each message it handled (and frees its slot in
    its pull's queue), a producer publishes each record it committed: both are
    appended here, and one callback on the loop takes whatever has piled up since
    the last one, so a burst of messages costs one wake-up of the loop and one
    task, not one `run_coroutine_threadsafe` each. Acks are still sent per
    message and in order (explicit acks: what was not acknowledged is
    redelivered), without waiting for the server.
    """

    def __init__(self, bus: NatsBus) -> None:
        self.bus = bus
        self.acks: collections.deque[tuple[Msg | None, _Pull | None, bool]] = collections.deque()
        self.records: collections.deque[tuple[str, bytes, dict[str, str]]] = collections.deque()
        self.lock = threading.Lock()
        self.scheduled = False
        self.tasks: set[asyncio.Task[None]] = set()

    def ack(self, msg: Msg | None, pull: _Pull | None, *, term: bool = False) -> None:
        """Acknowledge (or terminate) a handled message (None: none) and free its slot."""
        self.acks.append((msg, pull, term))
        self._wake()

    def publish(self, items: list[tuple[str, bytes, dict[str, str]]]) -> None:
        """Publish records to the events stream (a hint), from any thread."""
        self.records.extend(items)
        self._wake()

    def _wake(self) -> None:
        with self.lock:
            if self.scheduled:
                return  # the callback to come takes what was just appended
            self.scheduled = True
        try:
            self.bus.io.loop.call_soon_threadsafe(self._take)
        except RuntimeError:  # the loop is closed: the bus is gone (a redelivery, the log)
            with self.lock:
                self.scheduled = False

    def _take(self) -> None:
        """On the loop: free the slots at once, then send what piled up in one task."""
        with self.lock:
            self.scheduled = False
        acks: list[tuple[Msg, bool]] = []
        while self.acks:
            msg, pull, term = self.acks.popleft()
            if pull is not None:
                pull.slots.release()
            if msg is not None:
                acks.append((msg, term))
        records: list[tuple[str, bytes, dict[str, str]]] = []
        while self.records:
            records.append(self.records.popleft())
        if acks:
            self._spawn(self._send_acks(acks))
        if records:
            self._spawn(self._send_records(records))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.bus.io.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send_acks(self, acks: list[tuple[Msg, bool]]) -> None:
        for msg, term in acks:
            try:
                await (msg.term() if term else msg.ack())
            except Exception as err:  # noqa: BLE001 - lost acks mean a redelivery, skipped
                log.debug("bus ack failed: %r", err)

    async def _send_records(self, records: list[tuple[str, bytes, dict[str, str]]]) -> None:
        # Pipelined: every record is written before the first acknowledgement is awaited.
        js = self.bus.js
        results = await asyncio.gather(
            *(js.publish(subject, data, headers=h, timeout=5.0) for subject, data, h in records),
            return_exceptions=True,
        )
        for r in results:
            if isinstance(r, BaseException):
                self.bus.publish_failures += 1
                log.debug("bus publish failed (consumers read it from the log): %r", r)

    async def settle(self, timeout: float) -> None:
        """On the loop: wait (a while) for the acks and publishes under way."""
        self._take()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)


class _Followers:
    """The non-durable event consumers of a process, fed by one ephemeral JetStream consumer.

    Each such consumer would otherwise have a JetStream consumer of its own and
    get its own copy of every event (the live feeds, the CAD and device
    followers, the alerts and reports books: most of a process's consumers).
    One fetch here is handed, as one list, to each of them; a consumer whose
    inbox is already `depth` fetches behind does not get it and reads those
    events from the log instead (a gap), so a slow one holds up nobody and
    nothing grows without bound.
    """

    def __init__(self, bus: NatsBus, depth: int) -> None:
        self.bus = bus
        self.depth = depth
        self.consumers: tuple[_EventConsumer, ...] = ()
        self.lock = threading.Lock()
        self.dropped = 0
        self.pull: _Pull | None = None

    def add(self, c: _EventConsumer) -> None:
        with self.lock:
            self.consumers = (*self.consumers, c)

    def remove(self, c: _EventConsumer) -> None:
        with self.lock:
            self.consumers = tuple(x for x in self.consumers if x is not c)

    def offer(self, msgs: list[Msg]) -> None:
        """On the loop: hand a fetch to every follower (not to one that is behind)."""
        for c in self.consumers:
            if c.inbox.qsize() < self.depth:
                c.inbox.put(msgs)
            else:
                self.dropped += 1


class _EventConsumer:
    """One consumer of log events: its JetStream consumer, its cursor, its thread."""

    def __init__(
        self,
        bus: NatsBus,
        name: str,
        handler: Handler,
        kinds: tuple[type[Event], ...],
        *,
        durable: bool,
        after: int,
        base: str = "",
    ) -> None:
        self.bus = bus
        self.name = name
        self.handler = handler
        self.kinds = kinds
        self.durable = durable
        self.cursor = after
        self.saved = after
        # Leased partitions: the cursor is saved per partition held (`base@p<k>`), and the
        # JetStream consumer is this process's own (workers of a group do not split it).
        self.base = base
        self.partition_saved: dict[int, int] = {}
        self.errors = 0
        self.stopping = False
        # A durable consumer's messages one by one (each acknowledged once handled); a
        # non-durable one's a fetch at a time from the process's followers (`_Followers`).
        self.inbox: queue.SimpleQueue[Msg | list[Msg]] = queue.SimpleQueue()
        self.pull: _Pull | None = None
        if durable:
            own = not base  # leased: a JetStream consumer of this process's own
            self.pull = _Pull(
                bus,
                stream=bus.events_stream,
                config=ConsumerConfig(
                    durable_name=_name(f"{bus.prefix}-{name}") if own else None,
                    deliver_policy=DeliverPolicy.NEW,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=bus.ack_wait_s,
                    max_deliver=bus.max_deliver,
                    max_ack_pending=bus.batch * 4,
                    filter_subject=f"{bus.prefix}.ev.>",
                    inactive_threshold=None if own else 60.0,
                ),
                out=self.inbox,
                depth=bus.batch * 2,
                batch=bus.batch,
            )
        self.thread = threading.Thread(target=self._run, name=f"bus-{name}", daemon=True)

    def _run(self) -> None:
        bus = self.bus
        last_save = time.monotonic()
        last_poll = 0.0
        while not self.stopping:
            try:
                msg: Msg | list[Msg] | None = self.inbox.get(timeout=bus.poll_s)
            except queue.Empty:
                msg = None
            if self.stopping:
                break
            if isinstance(msg, list):
                for m in msg:
                    if self.stopping:
                        break
                    self._on_followed(m)
            elif msg is not None:
                self._on_message(msg)
            now = time.monotonic()
            if msg is None or now - last_poll >= bus.poll_s:
                last_poll = now
                self._follow_log()  # what the stream did not bring (never published, NATS away)
            bus.notify_progress()
            if self.durable and now - last_save >= bus.checkpoint_s:
                self.save()
                last_save = now
        if self.durable:
            self.save()

    def _on_message(self, msg: Msg) -> None:
        done: Msg | None = None
        term = False
        try:
            try:
                rec = self.bus.decoded(msg.data)
            except Exception:
                self.bus.undecodable += 1
                log.exception("bus consumer %s got an undecodable message", self.name)
                done, term = msg, True
                return
            if rec.seq > self.cursor + 1:
                self._fill(rec.seq - 1)
            if rec.seq == self.cursor + 1:
                self._deliver(rec)
            done = msg  # handled, or at or below the cursor: a duplicate or a redelivery
        finally:
            self.bus.handoff.ack(done, self.pull, term=term)

    def _on_followed(self, msg: Msg) -> None:
        """Handle a message of the followers' fetch (nothing to acknowledge: one ack did)."""
        try:
            rec = self.bus.decoded(msg.data)
        except Exception:
            self.bus.undecodable += 1
            log.exception("bus consumer %s got an undecodable message", self.name)
            return
        if rec.seq > self.cursor + 1:
            self._fill(rec.seq - 1)
        if rec.seq == self.cursor + 1:
            self._deliver(rec)

    def _fill(self, upto: int) -> None:
        """Deliver the log's records after the cursor up to `upto` (a gap in the stream)."""
        while self.cursor < upto and not self.stopping:
            try:
                records = list(
                    self.bus.store.read(
                        after_seq=self.cursor, limit=min(self.bus.batch, upto - self.cursor)
                    )
                )
            except Exception:
                log.exception("bus consumer %s could not read the log", self.name)
                return
            self.bus.store_reads += 1
            if not records:
                return
            for rec in records:
                if self.stopping:
                    return
                self._deliver(rec)

    def _follow_log(self) -> None:
        head = self.bus.poll_head()
        if head > self.cursor:
            self._fill(head)

    def _deliver(self, rec: Recorded) -> None:
        if not self.kinds or isinstance(rec.event, self.kinds):
            self.bus.retrying(
                self.name,
                lambda: self.handler(rec),
                what=rec.id,
                dead=lambda: encode_record(rec),
                on_error=self._count,
            )
        self.cursor = rec.seq

    def _count(self) -> None:
        self.errors += 1

    def save(self) -> None:
        leases = self.bus.leases
        if self.base and leases is not None:
            for k in sorted(leases.owned()):
                self.save_partition(leases, k)
            return
        if self.cursor > self.saved:
            try:
                self.bus.store.save_cursor(self.name, self.cursor)
            except Exception:  # the store may be failing: events are seen again, never lost
                log.exception("bus consumer %s could not save its cursor", self.name)
            else:
                self.saved = self.cursor

    def save_partition(self, leases: PartitionLeases, k: int) -> None:
        """Save the cursor as partition k's (fenced by its lease), if it moved."""
        cursor = self.cursor
        if cursor <= self.partition_saved.get(k, -1):
            return
        try:
            if leases.save_cursor(k, partition_cursor(self.base, k), cursor):
                self.partition_saved[k] = cursor
        except Exception:  # the store may be failing: events are seen again, never lost
            log.exception("bus consumer %s could not save partition %d's cursor", self.name, k)


class _TopicListener:
    """One listener of a topic: a durable consumer per owned partition, one handler thread."""

    def __init__(
        self,
        bus: NatsBus,
        topic: Topic[Any],
        name: str,
        handler: Callable[[Sequence[Any]], object],
    ) -> None:
        self.bus = bus
        self.name = name
        self.handler = handler
        self.decoder: msgspec.json.Decoder[list[Any]] = msgspec.json.Decoder(
            types.GenericAlias(list, (topic.item,))
        )
        self.inbox: queue.SimpleQueue[Msg] = queue.SimpleQueue()
        self.stopping = False
        self.busy = False
        self.topic = topic
        # Per partition consumer, the last stream sequence handled: a redelivery is skipped.
        self.last: dict[str, int] = {}
        self.pulls: dict[str, _Pull] = {}
        self.parts: dict[str, int] = {}
        self.current: int | None = None  # the partition of the batch in hand
        for part in sorted(bus.owned):
            self.add_pull(part)
        self.thread = threading.Thread(target=self._run, name=f"bus-{name}", daemon=True)

    def add_pull(self, part: int) -> _Pull:
        """Create the consumer of one partition (not started yet)."""
        bus = self.bus
        durable = _name(f"{bus.prefix}-{self.name}-{self.topic.name}-p{part}")
        pull = _Pull(
            bus,
            stream=bus.topics_stream,
            config=ConsumerConfig(
                durable_name=durable,
                deliver_policy=DeliverPolicy.NEW,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=bus.ack_wait_s,
                max_deliver=bus.max_deliver,
                max_ack_pending=bus.topic_depth * 4,
                filter_subject=bus.topic_subject(self.topic, part),
            ),
            out=self.inbox,
            depth=bus.topic_depth,
            batch=bus.topic_depth,
        )
        self.parts[durable] = part
        self.pulls[durable] = pull
        return pull

    def remove_pull(self, part: int) -> _Pull | None:
        """Forget one partition's consumer (after the batch in hand); return it to stop."""
        durable = _name(f"{self.bus.prefix}-{self.name}-{self.topic.name}-p{part}")
        pull = self.pulls.pop(durable, None)
        deadline = time.monotonic() + 30
        while self.current == part and time.monotonic() < deadline:
            time.sleep(0.005)
        self.parts.pop(durable, None)
        self.last.pop(durable, None)
        return pull

    def _run(self) -> None:
        while not self.stopping:
            try:
                msg = self.inbox.get(timeout=self.bus.poll_s)
            except queue.Empty:
                continue
            self.busy = True
            try:
                self._on_message(msg)
            finally:
                self.busy = False
                self.current = None
                self.bus.notify_progress()

    def _on_message(self, msg: Msg) -> None:
        meta = msg.metadata
        consumer = meta.consumer or ""
        pull = self.pulls.get(consumer)
        done: Msg | None = None
        term = False
        try:
            part = self.parts.get(consumer)
            leases = self.bus.leases
            if part is None or (leases is not None and not leases.holds(part)):
                # Not ours (any more): left unacknowledged for the partition's next owner.
                return
            self.current = part
            seq = meta.sequence.stream
            if seq <= self.last.get(consumer, 0):
                done = msg  # redelivered after we handled it: not twice
                return
            try:
                batch = self.bus.decoded_batch(self.topic.name, self.decoder, msg.data)
            except Exception:
                self.bus.undecodable += 1
                log.exception("bus listener %s got an undecodable batch", self.name)
                done, term = msg, True
                return
            data = msg.data
            self.bus.retrying(
                self.name, lambda: self.handler(batch), what="a batch", dead=lambda: bytes(data)
            )
            self.last[consumer] = seq
            done = msg
        finally:
            self.bus.handoff.ack(done, pull, term=term)


class _Decoded:
    """What a process decoded from the streams, shared by its consumers (bounded)."""

    def __init__(self) -> None:
        self.records: dict[bytes, Recorded] = {}
        self.batches: dict[tuple[str, bytes], tuple[Any, ...]] = {}


class NatsBus:
    """The bus over NATS JetStream (see the module docstring)."""

    leases: PartitionLeases | None = None  # set by `use_leases` (partitions: auto)

    def __init__(
        self,
        store: LogStore,
        *,
        url: str = "nats://127.0.0.1:4222",
        prefix: str = "vigil",
        replicas: int = 1,
        partitions: int = 16,
        owned: Collection[int] | None = None,
        member: str = "",
        batch: int = 256,
        poll_s: float = 1.0,
        fetch_s: float = 1.0,
        checkpoint_s: float = 1.0,
        attempts: int = 3,
        retry_s: float = 0.05,
        max_deliver: int = 5,
        ack_wait_s: float = 60.0,
        events_max_age_s: float = 7 * 86400.0,
        duplicate_window_s: float = 120.0,
        topic_max_msgs: int = 100_000,
        topic_depth: int = 4,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", prefix):
            raise ConfigError(f"bus prefix {prefix!r}: letters, digits, _ and - only", field="bus")
        self.store = store
        self.url = url
        self.prefix = prefix
        self.replicas = replicas
        self.partitions = partitions
        self.owned = frozenset(range(partitions) if owned is None else owned)
        self.member = member
        self.batch = batch
        self.poll_s = poll_s
        self.fetch_s = fetch_s
        self.checkpoint_s = checkpoint_s
        self.attempts = attempts
        self.retry_s = retry_s
        self.max_deliver = max_deliver
        self.ack_wait_s = ack_wait_s
        self.topic_depth = topic_depth
        self.events_stream = f"{prefix}_events"
        self.topics_stream = f"{prefix}_topics"
        self.dead_stream = f"{prefix}_dead"
        self._stream_configs = [
            StreamConfig(
                name=self.events_stream,
                subjects=[f"{prefix}.ev.>"],
                retention=RetentionPolicy.LIMITS,
                max_age=events_max_age_s,
                duplicate_window=duplicate_window_s,
                storage=StorageType.FILE,
                num_replicas=replicas,
            ),
            StreamConfig(
                name=self.topics_stream,
                subjects=[f"{prefix}.tp.>"],
                retention=RetentionPolicy.INTEREST,
                max_msgs=topic_max_msgs,
                discard=DiscardPolicy.NEW,
                duplicate_window=duplicate_window_s,
                storage=StorageType.FILE,
                num_replicas=replicas,
            ),
            StreamConfig(
                name=self.dead_stream,
                subjects=[f"{prefix}.dead.>"],
                retention=RetentionPolicy.LIMITS,
                max_age=30 * 86400.0,
                storage=StorageType.FILE,
                num_replicas=replicas,
            ),
        ]
        self._lock = threading.Lock()
        self._consumers: list[_EventConsumer] = []
        self._listeners: list[_TopicListener] = []
        self._progress = threading.Condition()
        self._closed = False
        self._stopping = False
        self._sent = 0
        self._decoded = _Decoded()
        self._waiting = 0  # threads in drain(): progress is signalled only when someone waits
        self._instance = secrets.token_hex(8)  # names this bus's topic batches for dedupe
        self.head = store.last_seq()
        self.handler_errors = 0
        self.dead_letters = 0
        self.max_deliveries = 0
        self.undecodable = 0
        self.publish_failures = 0
        self.store_reads = 0
        self.reconnects = 0
        self.io = _Loop()
        self.handoff = _Handoff(self)
        self._followers = _Followers(self, depth=16)
        try:
            self.nc: NatsClient = self.io.call(self._connect(connect_timeout_s), timeout=60)
            self.js = self.nc.jetstream()
            self.io.call(self._ensure_streams(), timeout=60)
        except Exception as err:
            self._abandon()
            raise ConfigError(
                f"bus: cannot use NATS JetStream at {url}: {err}", field="bus"
            ) from err

    # ------------------------------------------------------------- connection

    def _abandon(self) -> None:
        """Close what a failed start opened (the connection, then the loop)."""
        self._stopping = True
        nc: NatsClient | None = getattr(self, "nc", None)

        async def shutdown() -> None:
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.io.call(shutdown(), timeout=15)
        self.io.stop()

    async def _connect(self, timeout: float) -> NatsClient:
        async def reconnected() -> None:
            self.reconnects += 1
            log.info("bus reconnected to NATS at %s", self.url)

        async def disconnected() -> None:
            if not self._stopping:
                log.warning("bus lost its connection to NATS at %s", self.url)

        async def error(err: Exception) -> None:
            log.debug("NATS client error: %r", err)

        nc = await nats.connect(
            [u.strip() for u in self.url.split(",") if u.strip()],  # a cluster: every node
            name=f"vigil-{self.prefix}{'-' + self.member if self.member else ''}",
            connect_timeout=timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            reconnected_cb=reconnected,
            disconnected_cb=disconnected,
            error_cb=error,
        )
        await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>", cb=self._advisory)
        return nc

    async def _advisory(self, msg: Msg) -> None:
        stream = msg.subject.split(".")[-2]
        if stream not in (self.events_stream, self.topics_stream):
            return  # another deployment's (or test's) streams on the same server
        self.max_deliveries += 1
        log.warning(
            "bus: a message reached max_deliver: %s", msg.data[:500].decode(errors="replace")
        )

    async def _ensure_streams(self) -> None:
        for config in self._stream_configs:
            try:
                await self.js.add_stream(config)
            except nats.js.errors.BadRequestError:  # exists with another configuration
                await self.js.update_stream(config)

    async def _delete_streams(self) -> None:
        for config in self._stream_configs:
            assert config.name is not None
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self.js.delete_stream(config.name)

    def delete_streams(self) -> None:
        """Delete this prefix's streams and their consumers (tests, decommissioning)."""
        self.io.call(self._delete_streams(), timeout=30)

    # -------------------------------------------------------------- producers

    def event_subject(self, rec: Recorded) -> str:
        """Return the subject of a record: its partition, then its stream (the key)."""
        stream = rec.stream
        return f"{self.prefix}.ev.{partition_of(stream, self.partitions)}.{_TOKEN.sub('_', stream)}"

    def topic_subject(self, topic: Topic[Any], part: int) -> str:
        """Return the subject of a topic partition."""
        return f"{self.prefix}.tp.{_name(topic.name)}.{part}"

    def publish(self, records: Sequence[Recorded]) -> None:
        """Send freshly committed records to the stream, without waiting (a hint)."""
        if not records or self._closed:
            return
        with self._lock:
            self.head = max(self.head, records[-1].seq)
        self.handoff.publish(
            [
                (self.event_subject(rec), encode_record(rec), {"Nats-Msg-Id": rec.id})
                for rec in records
            ]
        )

    def send(self, topic: Topic[T], batch: Sequence[T]) -> None:
        """Put a committed batch on the stream, split by key; wait until the stream has it."""
        if not batch:
            return
        encoder = msgspec.json.Encoder()
        parts: dict[int, list[T]] = {}
        if topic.key is None:
            parts[0] = list(batch)
        else:
            for item in batch:
                parts.setdefault(partition_of(topic.key(item), self.partitions), []).append(item)
        with self._lock:
            self._sent += 1
            msg_id = f"{self._instance}:{self._sent}"
        self._publish_until_stored(
            [
                (self.topic_subject(topic, part), encoder.encode(items), f"{msg_id}:{part}")
                for part, items in sorted(parts.items())
            ]
        )

    def _publish_until_stored(self, messages: list[tuple[str, bytes, str]]) -> None:
        """Publish (each partition at once) and wait for the stream's acknowledgements.

        What NATS refuses (away, or the stream full: backpressure) is retried with the
        same message id, so a publish that was stored but whose acknowledgement was
        lost is not stored twice.
        """

        async def publish_all(todo: list[tuple[str, bytes, str]]) -> list[BaseException | None]:
            results = await asyncio.gather(
                *(
                    self.js.publish(subject, data, headers={"Nats-Msg-Id": mid}, timeout=5.0)
                    for subject, data, mid in todo
                ),
                return_exceptions=True,
            )
            return [r if isinstance(r, BaseException) else None for r in results]

        todo, delay = messages, 0.05
        while todo and not self._stopping:
            try:
                errors = self.io.call(publish_all(todo), 15.0)
            except Exception as err:  # noqa: BLE001 - the loop did not answer in time
                errors = [err] * len(todo)
            failed = [(m, e) for m, e in zip(todo, errors, strict=True) if e is not None]
            if not failed:
                return
            self.publish_failures += len(failed)
            log.warning("bus: topic batch not accepted yet (%r); retrying", failed[0][1])
            todo = [m for m, _ in failed]
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    # -------------------------------------------------------------- consumers

    def subscribe(
        self,
        consumer: str,
        handler: Handler,
        *,
        kinds: tuple[type[Event], ...] = (),
        durable: bool = True,
    ) -> Unsubscribe:
        """Start delivering log events to `handler` after the consumer's cursor.

        With leased partitions the cursor is per partition (``<consumer>@p<k>``): the
        consumer starts after the lowest of them, so no partition misses an event,
        falling back to the worker's own cursor (``<consumer>@<member>``, from before
        the partitions moved by lease) and then to the end of the log.
        """
        name = f"{consumer}@{self.member}" if durable and self.member else consumer
        head = self.store.last_seq()
        with self._lock:
            self.head = max(self.head, head)
            if durable and any(c.durable and c.name == name for c in self._consumers):
                raise ValueError(f"a durable bus consumer {name!r} is already running")
        leased = durable and self.leases is not None
        if leased:
            saved = self._leased_start(consumer, name)
        else:
            saved = self.store.cursor(name) if durable else None
        c = _EventConsumer(
            self,
            name,
            handler,
            kinds,
            durable=durable,
            after=head if saved is None else saved,
            base=consumer if leased else "",
        )
        if durable and saved is None and not leased:
            self.store.save_cursor(name, head)  # a new consumer starts at the end of the log
        with self._lock:
            self._consumers.append(c)
        if c.pull is not None:
            self._start_pull(c.pull)
        else:
            self._follow(c)
        c.thread.start()

        def unsubscribe() -> None:
            with self._lock:
                if c not in self._consumers:
                    return
                self._consumers.remove(c)
            self._followers.remove(c)
            c.stopping = True
            if c.thread is not threading.current_thread():
                c.thread.join(timeout=30)
            if c.pull is not None:
                self._stop_pull(c.pull, delete=bool(c.base))

        return unsubscribe

    def resumes_after(self, consumer: str) -> int:
        """Return the log seq a durable consumer would resume after (see `Bus`)."""
        name = f"{consumer}@{self.member}" if self.member else consumer
        saved = self._leased_start(consumer, name) if self.leases is not None else None
        if saved is None:
            saved = self.store.cursor(name)
        return self.store.last_seq() if saved is None else saved

    def _leased_start(self, consumer: str, name: str) -> int | None:
        """Return the lowest per-partition cursor, else the member's (partitions by lease)."""
        saved = [self.store.cursor(partition_cursor(consumer, k)) for k in range(self.partitions)]
        known = [s for s in saved if s is not None]
        return min(known) if known else self.store.cursor(name)

    def listen(
        self, topic: Topic[T], consumer: str, handler: Callable[[Sequence[T]], object]
    ) -> Unsubscribe:
        """Deliver every batch of the owned partitions of `topic` to `handler`, in order."""
        if topic.item is None:
            raise ValueError(f"topic {topic.name!r} names no item type: it cannot cross NATS")
        listener = _TopicListener(self, topic, consumer, handler)
        with self._lock:
            self._listeners.append(listener)
        for pull in list(listener.pulls.values()):
            self._start_pull(pull, wait=True)  # from now on: the consumer exists before we return
        listener.thread.start()

        def unsubscribe() -> None:
            with self._lock:
                if listener not in self._listeners:
                    return
                self._listeners.remove(listener)
            self._drain_listener(listener, 30.0)  # what was sent before, then stop
            listener.stopping = True
            if listener.thread is not threading.current_thread():
                listener.thread.join(timeout=30)
            for pull in list(listener.pulls.values()):
                # An explicit stop gives up the interest (the stream must not keep batches
                # for it); a close keeps it, so a restarted worker goes on from there.
                self._stop_pull(pull, delete=True)

        return unsubscribe

    def _follow(self, c: _EventConsumer) -> None:
        """Add a non-durable consumer to the followers (their JetStream consumer the first time)."""
        f = self._followers
        f.add(c)
        with self._lock:
            start = f.pull is None
            if start:
                f.pull = _Pull(
                    self,
                    stream=self.events_stream,
                    config=ConsumerConfig(
                        deliver_policy=DeliverPolicy.NEW,
                        ack_policy=AckPolicy.ALL,
                        ack_wait=self.ack_wait_s,
                        filter_subject=f"{self.prefix}.ev.>",
                        inactive_threshold=60.0,
                    ),
                    out=f,
                    depth=self.batch,
                    batch=self.batch,
                )
        if start and f.pull is not None:
            self._start_pull(f.pull)

    # ------------------------------------------------------- leased partitions

    def use_leases(self, leases: PartitionLeases) -> None:
        """Own partitions by lease from now on: none until `take`, each fenced by `leases`."""
        with self._lock:
            if self._consumers or self._listeners:
                raise ValueError("use_leases before any consumer or listener starts")
            self.leases = leases
            self.owned = frozenset()

    def take(self, parts: Collection[int]) -> None:
        """Start consuming partitions this worker now holds (from their durable consumers)."""
        with self._lock:
            new = sorted(set(parts) - self.owned)
            self.owned = self.owned | frozenset(new)
            listeners = list(self._listeners)
        for li in listeners:
            for k in new:
                self._start_pull(li.add_pull(k), wait=True)

    def drop(self, part: int) -> None:
        """Stop consuming a partition handed over; save its cursors first (fenced).

        The partition's JetStream consumers stay (with what is unacknowledged) for
        its next owner.
        """
        with self._lock:
            if part not in self.owned:
                return
            self.owned = self.owned - {part}
            listeners = list(self._listeners)
            consumers = list(self._consumers)
        for li in listeners:
            pull = li.remove_pull(part)
            if pull is not None:
                self._stop_pull(pull, delete=False)
        if self.leases is not None:
            for c in consumers:
                if c.base:
                    c.save_partition(self.leases, part)

    def _start_pull(self, pull: _Pull, *, wait: bool = False) -> None:
        async def start() -> None:
            if wait:
                try:
                    pull.sub = await pull._bind()
                except Exception as err:  # noqa: BLE001 - the task binds again
                    log.warning("bus could not create consumer %s yet: %r", pull.config, err)
            pull.task = asyncio.get_running_loop().create_task(pull.run())

        self.io.call(start(), timeout=30)

    def _stop_pull(self, pull: _Pull, *, delete: bool) -> None:
        try:
            self.io.call(pull.stop(delete=delete), timeout=15)
        except Exception as err:  # noqa: BLE001
            log.debug("bus: stopping a consumer failed: %r", err)

    # ------------------------------------------------------------ internals

    def retrying(
        self,
        consumer: str,
        call: Callable[[], object],
        *,
        what: str,
        dead: Callable[[], bytes],
        on_error: Callable[[], None] | None = None,
    ) -> None:
        """Run a handler, retrying in place; then dead-letter what it could not handle."""
        for attempt in range(self.attempts):
            try:
                call()
                return
            except Exception:
                self.handler_errors += 1
                if on_error is not None:
                    on_error()
                if attempt + 1 < self.attempts:
                    log.warning("bus consumer %s failed on %s; retrying", consumer, what)
                    time.sleep(self.retry_s * 2**attempt)
                else:
                    log.exception("bus consumer %s failed on %s; dead-lettered", consumer, what)
        self.dead_letters += 1
        subject = f"{self.prefix}.dead.{_name(consumer)}"
        try:
            self.io.submit(self.js.publish(subject, dead(), headers={"Vigil-What": what}))
        except Exception as err:  # noqa: BLE001 - counted and logged above already
            log.debug("bus could not dead-letter: %r", err)

    def poll_head(self) -> int:
        """Return the log's head (events appended by any process, published or not)."""
        try:
            head = self.store.last_seq()
        except Exception:
            log.exception("bus could not read the head of the log")
            return self.head
        with self._lock:
            self.head = max(self.head, head)
            return self.head

    def decoded(self, data: bytes) -> Recorded:
        """Decode a record from the stream once for all of this process's consumers.

        Every event consumer gets its own copy of each message; the records are
        immutable, so the first consumer's decoding serves the others.
        """
        cache = self._decoded.records
        rec = cache.get(data)
        if rec is None:
            rec = decode_record(data)
            if len(cache) >= 4096:
                cache.clear()
            cache[data] = rec
        return rec

    def decoded_batch(
        self, topic: str, decoder: msgspec.json.Decoder[list[Any]], data: bytes
    ) -> tuple[Any, ...]:
        """Decode a topic batch once for all of this process's listeners of the topic.

        A tuple (each listener gets the same one): the items are immutable.
        """
        cache = self._decoded.batches
        key = (topic, data)
        batch = cache.get(key)
        if batch is None:
            batch = tuple(decoder.decode(data))
            if len(cache) >= 256:
                cache.clear()
            cache[key] = batch
        return batch

    def notify_progress(self) -> None:
        if self._waiting:
            with self._progress:
                self._progress.notify_all()

    def _drain_listener(self, li: _TopicListener, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not li.inbox.empty() or li.busy:
                time.sleep(0.01)
                continue
            try:
                pending = sum(self.io.call(p.pending(), timeout=5) for p in list(li.pulls.values()))
            except Exception:  # noqa: BLE001 - NATS away: not drained
                pending = 1
            if pending == 0 and li.inbox.empty() and not li.busy:
                return True
            time.sleep(0.01)
        return False

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every local consumer has handled the log's head and every sent batch."""
        self.poll_head()
        deadline = time.monotonic() + timeout
        with self._lock:
            consumers = list(self._consumers)
            listeners = list(self._listeners)
        with self._progress:
            self._waiting += 1
            try:
                # The head is read again each time: a consumer may commit (and publish) meanwhile.
                while not all(c.cursor >= self.head for c in consumers):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._progress.wait(min(left, 0.05))
            finally:
                self._waiting -= 1
        return all(
            self._drain_listener(li, max(0.0, deadline - time.monotonic())) for li in listeners
        )

    def consumers(self) -> dict[str, int]:
        """Return each event consumer's cursor (diagnostics)."""
        with self._lock:
            return {c.name: c.cursor for c in self._consumers}

    def close(self) -> None:
        """Stop every consumer and listener, save durable cursors, close the connection."""
        with self._lock:
            if self._closed:
                return
            self._stopping = True
            consumers = list(self._consumers)
            self._consumers.clear()
            listeners = list(self._listeners)
            self._listeners.clear()
        for c in consumers:
            c.stopping = True
        for li in listeners:
            li.stopping = True
        for c in consumers:
            c.thread.join(timeout=30)
            if c.pull is not None:
                self._stop_pull(c.pull, delete=False)
        if self._followers.pull is not None:
            self._stop_pull(self._followers.pull, delete=False)
        for li in listeners:
            li.thread.join(timeout=30)
            for pull in list(li.pulls.values()):
                self._stop_pull(pull, delete=False)
        self._closed = True

        async def shutdown() -> None:
            # Publishes and acks under way get a moment to land (publishes are hints: the log
            # has them anyway; a lost ack is a redelivery, skipped).
            await self.handoff.settle(2.0)
            try:
                await self.nc.drain()
            except Exception as err:  # noqa: BLE001 - already closed or NATS away
                log.debug("NATS drain failed: %r", err)
                with contextlib.suppress(Exception):
                    await self.nc.close()
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in left:
                t.cancel()
            await asyncio.gather(*left, return_exceptions=True)

        try:
            self.io.call(shutdown(), timeout=20)
        except Exception as err:  # noqa: BLE001
            log.debug("NATS close failed: %r", err)
        self.io.stop()
