"""Many live-feed subscribers on real sockets, and changes that carry their send time.

A `Swarm` opens N Server-Sent-Events connections to ``/api/v1/live`` on one
asyncio loop (raw `asyncio.Protocol`s: a browser's work per frame is not what is
measured, the server's is). Changes are made over HTTP with a marker
``mk<n>k@<unix ns>`` in their text; each subscriber notes when a marker first
reaches it, so delivery latency is receipt time minus the time the change's
request was sent (commit included: the figure is conservative). Both ends run on
this machine's wall clock.

Used by ``tests/integration/test_live_swarm.py`` (2,000 subscribers) and
``benchmarks/scale.py`` (10,000, split over several client processes).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

MARK = re.compile(rb"mk(\d+)k@(\d+)")
_BUCKETS = 60_000  # 1 ms histogram buckets up to a minute


def marker(n: int) -> str:
    """Return the text a change carries: its number and its send time."""
    return f"mk{n}k@{time.time_ns()}"


@dataclass
class Tally:
    """What a set of subscribers saw (mergeable across processes)."""

    connected: int = 0
    failed: int = 0
    resyncs: int = 0
    received: int = 0  # (subscriber, change) pairs
    reads: int = 0  # socket reads that carried changes (about one per server write)
    hist: list[int] = field(default_factory=lambda: [0] * (_BUCKETS + 1))

    def add_latency(self, ms: float) -> None:
        """Count one delivery of `ms` milliseconds."""
        self.received += 1
        self.hist[min(max(int(ms), 0), _BUCKETS)] += 1

    def merge(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        self.connected += other.connected
        self.failed += other.failed
        self.resyncs += other.resyncs
        self.received += other.received
        self.reads += other.reads
        for i, n in enumerate(other.hist):
            if n:
                self.hist[i] += n

    def percentile(self, q: float) -> float | None:
        """Return the q-th percentile latency in ms (bucket upper bound), None when empty."""
        total = sum(self.hist)
        if not total:
            return None
        rank = q / 100 * total
        seen = 0
        for i, n in enumerate(self.hist):
            seen += n
            if seen >= rank:
                return float(i + 1)
        return float(_BUCKETS)


class Subscriber(asyncio.Protocol):
    """One SSE connection that counts markers and resync frames."""

    def __init__(self, request: bytes, tally: Tally, opened: asyncio.Future[bool]) -> None:
        self.request = request
        self.tally = tally
        self.opened = opened
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.started = False
        self.last = -1  # the highest marker seen (markers arrive in order)
        self.tail = b""
        self.resynced = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the GET."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        """Note markers (first arrival only) and a resync frame."""
        now_ns = time.time_ns()
        if not self.started:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            status = self.head.split(b" ", 2)[1] if b" " in self.head else b""
            data = self.head[end + 4 :]
            self.head = b""
            self.started = True
            if not self.opened.done():
                self.opened.set_result(status == b"200")
            if status != b"200":
                assert self.transport is not None
                self.transport.close()
                return
        buf = self.tail + data if self.tail else data
        self.tail = buf[-80:]
        # The load generator shares the server's cores: this is its whole cost per
        # write, so it stays small (one C scan; Python work per marker only).
        last = self.last
        hist = self.tally.hist
        got = 0
        for n_raw, sent_raw in MARK.findall(buf):
            n = int(n_raw)
            if n > last:
                last = n
                got += 1
                ms = (now_ns - int(sent_raw)) // 1_000_000  # as add_latency counts it
                hist[min(max(ms, 0), _BUCKETS)] += 1
        self.last = last
        if got:
            self.tally.received += got
            self.tally.reads += 1
        if not self.resynced and b"event: resync" in buf:
            self.resynced = True
            self.tally.resyncs += 1

    def connection_lost(self, exc: Exception | None) -> None:
        """Remember the end (a resync ends the stream)."""
        self.closed = True
        if not self.opened.done():
            self.opened.set_result(False)


def live_request(host: str, port: int, token: str) -> bytes:
    """Return the HTTP/1.1 request that opens the live feed with a token."""
    return (
        f"GET /api/v1/live?access_token={token} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()


class Swarm:
    """N subscribers on the running loop."""

    def __init__(self, host: str, port: int, tokens: Sequence[str]) -> None:
        self.host = host
        self.port = port
        self.tokens = tokens
        self.tally = Tally()
        self.subs: list[Subscriber] = []

    async def connect(self, n: int, *, concurrency: int = 200, timeout: float = 120.0) -> None:
        """Open n streams, at most `concurrency` handshakes at a time."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                opened: asyncio.Future[bool] = loop.create_future()
                req = live_request(self.host, self.port, self.tokens[i % len(self.tokens)])
                sub = Subscriber(req, self.tally, opened)
                try:
                    await loop.create_connection(lambda: sub, self.host, self.port)
                    ok = await asyncio.wait_for(opened, 30)
                except (OSError, TimeoutError):
                    ok = False
                if ok:
                    self.subs.append(sub)
                    self.tally.connected += 1
                else:
                    self.tally.failed += 1
                    if sub.transport is not None:
                        sub.transport.close()

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), timeout)

    def lagging(self, upto: int) -> int:
        """Return how many open subscribers have not yet seen marker `upto`."""
        return sum(1 for s in self.subs if s.last < upto and not s.closed)

    def close(self) -> None:
        """Close every connection."""
        for s in self.subs:
            if s.transport is not None:
                s.transport.close()


def stalled_reader(host: str, port: int, token: str, rcvbuf: int = 4096) -> socket.socket:
    """Open the live feed on a socket that never reads (a tiny receive window)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((host, port))
    sock.sendall(live_request(host, port, token))
    return sock


def read_until(sock: socket.socket, needle: bytes, timeout: float = 30.0) -> bytes:
    """Read a socket until `needle` appears or it closes; return what was read."""
    sock.settimeout(timeout)
    got = b""
    deadline = time.monotonic() + timeout
    while needle not in got and time.monotonic() < deadline:
        try:
            part = sock.recv(65536)
        except TimeoutError:
            break
        if not part:
            break
        got += part
    return got
