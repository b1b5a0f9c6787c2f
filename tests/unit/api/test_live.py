"""The live feed: one serialisation, order, resume from ring or store, roles, slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from vigil.api.live import HEARTBEAT, LiveFeed, encode_frame, visible
from vigil.api.routes.live import EventStream
from vigil.app import App
from vigil.audit.roles import Role
from vigil.core.geometry import LatLon

HELSINKI = LatLon(60.1699, 24.9384)
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh loop in its own thread, joined before returning.

    A thread, because another test's live Playwright session may own a running
    loop on the main thread.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-test") as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


def open_incidents(app: App, n: int) -> None:
    """Commit n incidents (one event each) through the real CAD service."""
    for i in range(n):
        app.cad.open_incident(
            actor="dispatcher", type="structure_fire", location=HELSINKI, description=f"#{i}"
        )


def split(chunk: bytes) -> list[bytes]:
    """Split one write (it may carry several frames) into its SSE frames."""
    return [part + b"\n\n" for part in chunk.split(b"\n\n") if part]


async def take(stream: AsyncIterator[bytes], n: int, timeout: float = 5.0) -> list[bytes]:
    """Read n event frames (skipping the retry line and heartbeats)."""
    out: list[bytes] = []

    async def read() -> None:
        async for chunk in stream:
            for frame in split(chunk):
                if frame.startswith((b"retry:", b":", b"event: clock")):
                    continue
                out.append(frame)
            if len(out) >= n:
                return

    await asyncio.wait_for(read(), timeout)
    assert len(out) == n
    return out


def event_type(frame: bytes) -> str:
    """Return the event: line of a frame."""
    line = next(x for x in frame.split(b"\n") if x.startswith(b"event: "))
    return line.removeprefix(b"event: ").decode()


def seqs(frames: list[bytes]) -> list[int]:
    """Return the id: line of each frame."""
    return [int(f.split(b"\n", 1)[0].removeprefix(b"id: ")) for f in frames]


async def settle(app: App) -> None:
    """Let the bus deliver what was committed, then the loop run its callbacks."""
    assert await asyncio.to_thread(app.bus.drain, 10)
    for _ in range(3):
        await asyncio.sleep(0)


# ------------------------------------------------------------------ framing


def test_frame_is_sse_with_id_type_and_json(app: App) -> None:
    open_incidents(app, 1)
    rec = next(iter(app.store.read()))
    frame = encode_frame(rec)
    lines = frame.data.decode().split("\n")
    assert lines[0] == f"id: {rec.seq}"
    assert lines[1] == "event: incident.opened"
    body = json.loads(lines[2].removeprefix("data: "))
    assert body["type"] == "incident.opened"
    assert body["data"]["incident_id"] == rec.stream.removeprefix("incident/")
    assert "event" not in body["data"]
    assert frame.data.endswith(b"\n\n")


def test_call_frames_carry_no_caller_identity(app: App) -> None:
    from vigil.cad.service import NewCall  # noqa: PLC0415

    app.cad.take_call(
        NewCall(
            location=HELSINKI,
            nature="smoke from a window",
            caller_name="Maija Meikäläinen",
            caller_phone="+358401234567",
            incident_type="structure_fire",
        ),
        actor="call-taker",
    )
    frames = [encode_frame(r).data for r in app.store.read()]
    assert frames
    for data in frames:
        assert b"Meik" not in data
        assert b"358401234567" not in data


# ---------------------------------------------------------- serialise once


def test_each_change_is_serialised_once_and_shared(app: App) -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], int]:
        feed = LiveFeed(app.store, app.bus)
        feed.start(asyncio.get_running_loop())
        try:
            a = feed.stream(Role.DISPATCHER, feed.head)
            b = feed.stream(Role.SUPERVISOR, feed.head)
            # Start both generators so they are subscribed before the commits.
            assert await anext(a) == b"retry: 1000\n\n"
            assert await anext(b) == b"retry: 1000\n\n"
            await asyncio.to_thread(open_incidents, app, 5)
            fa, fb = await take(a, 5), await take(b, 5)
            await a.aclose()
            await b.aclose()
            return fa, fb, feed.frames_encoded
        finally:
            feed.close()

    fa, fb, encoded = run(scenario())
    assert encoded == 5
    assert seqs(fa) == seqs(fb) == [1, 2, 3, 4, 5]
    assert fa == fb


def test_a_burst_is_fanned_out_once_and_sent_in_one_write(app: App) -> None:
    async def scenario() -> tuple[list[bytes], int, int]:
        feed = LiveFeed(app.store, app.bus)
        feed.start(asyncio.get_running_loop())
        try:
            streams = [feed.stream(Role.DISPATCHER, feed.head) for _ in range(50)]
            for s in streams:
                await anext(s)
            # Hold the loop (no await) while 20 changes commit and the bus hands them
            # over: they reach the loop as one burst.
            open_incidents(app, 20)
            assert app.bus.drain(10)
            chunks = [await asyncio.wait_for(anext(s), 5) for s in streams]
            for s in streams:
                await s.aclose()
            return chunks, feed.fanouts, feed.frames_encoded
        finally:
            feed.close()

    chunks, fanouts, encoded = run(scenario())
    assert encoded == 20
    assert fanouts == 1  # one fan-out for the burst, not one per change
    assert all(seqs(split(c))[0] == 1 for c in chunks)
    assert all(c == chunks[0] for c in chunks)


# ------------------------------------------------------------------- order


def test_an_event_appended_without_a_publish_still_reaches_the_feed(app: App) -> None:
    async def scenario() -> list[bytes]:
        feed = LiveFeed(app.store, app.bus)
        feed.start(asyncio.get_running_loop())
        try:
            s = feed.stream(Role.ADMIN, feed.head)
            await anext(s)
            # Adding a login appends to the log without publishing on the bus.
            await asyncio.to_thread(
                app.users.add, "new-dispatcher", Role.DISPATCHER, None, actor="admin"
            )
            await asyncio.to_thread(open_incidents, app, 1)
            got = await take(s, 2)
            await s.aclose()
            return got
        finally:
            feed.close()

    got = run(scenario())
    assert seqs(got) == [1, 2]  # the bus read the unpublished event from the log
    assert b"event: user.added" in got[0]
    assert b"event: incident.opened" in got[1]


# ------------------------------------------------------------------ resume


def test_resume_from_the_ring_then_live(app: App) -> None:
    async def scenario() -> list[int]:
        feed = LiveFeed(app.store, app.bus)
        feed.start(asyncio.get_running_loop())
        try:
            await asyncio.to_thread(open_incidents, app, 6)
            await settle(app)
            assert feed.head == 6
            s = feed.stream(Role.DISPATCHER, 2)  # the browser saw 1..2, then dropped
            first = await take(s, 4)
            await asyncio.to_thread(open_incidents, app, 2)
            more = await take(s, 2)
            await s.aclose()
            assert feed.store_reads == 0
            return seqs(first + more)
        finally:
            feed.close()

    assert run(scenario()) == [3, 4, 5, 6, 7, 8]


def test_resume_older_than_the_ring_is_served_from_the_store(app: App) -> None:
    async def scenario() -> tuple[list[int], int]:
        feed = LiveFeed(app.store, app.bus, ring_size=5)
        feed.start(asyncio.get_running_loop())
        try:
            await asyncio.to_thread(open_incidents, app, 20)
            await settle(app)
            s = feed.stream(Role.DISPATCHER, 3)
            got = await take(s, 17)
            await asyncio.to_thread(open_incidents, app, 1)
            got += await take(s, 1)
            await s.aclose()
            return seqs(got), feed.store_reads
        finally:
            feed.close()

    got, reads = run(scenario())
    assert got == list(range(4, 22))
    assert reads == 1


def test_events_committed_before_the_feed_started_are_resumable(app: App) -> None:
    open_incidents(app, 3)

    async def scenario() -> list[int]:
        feed = LiveFeed(app.store, app.bus)
        feed.start(asyncio.get_running_loop())
        try:
            s = feed.stream(Role.DISPATCHER, 0)
            got = await take(s, 3)
            await s.aclose()
            return seqs(got)
        finally:
            feed.close()

    assert run(scenario()) == [1, 2, 3]


# ------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("role", "event_type", "seen"),
    [
        (Role.DISPATCHER, "incident.opened", True),
        (Role.DISPATCHER, "user.added", False),
        (Role.ANALYST, "rule.fired", True),
        (Role.ANALYST, "user.token_issued", False),
        (Role.FIELD_UNIT, "unit.status_changed", True),
        (Role.FIELD_UNIT, "incident.updated", True),
        (Role.FIELD_UNIT, "rule.fired", False),
        (Role.FIELD_UNIT, "alert.drafted", False),
        (Role.FIELD_UNIT, "user.added", False),
        (Role.ADMIN, "user.added", True),
        (Role.DEVICE, "incident.opened", False),
    ],
)
def test_visibility_by_role(role: Role, event_type: str, seen: bool) -> None:
    assert visible(role, event_type) is seen


def test_stream_filters_by_role_server_side(app: App) -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        feed = LiveFeed(app.store, app.bus)
        feed.start(asyncio.get_running_loop())
        try:
            admin = feed.stream(Role.ADMIN, 0)
            field = feed.stream(Role.FIELD_UNIT, 0)
            await anext(admin)
            await anext(field)
            await asyncio.to_thread(app.users.add, "analyst-2", Role.ANALYST, None, actor="a")
            await asyncio.to_thread(open_incidents, app, 1)
            got_admin = await take(admin, 2)
            got_field = await take(field, 1)
            await admin.aclose()
            await field.aclose()
            return got_admin, got_field
        finally:
            feed.close()

    got_admin, got_field = run(scenario())
    assert [f.split(b"\n")[1] for f in got_admin] == [
        b"event: user.added",
        b"event: incident.opened",
    ]
    assert [f.split(b"\n")[1] for f in got_field] == [b"event: incident.opened"]


def test_one_burst_of_mixed_changes_reaches_each_role_only_as_it_may_see(app: App) -> None:
    """An attacker's view: every role on one fan-out; no frame crosses to a role it must not."""
    roles = [Role.ADMIN, Role.DISPATCHER, Role.ANALYST, Role.FIELD_UNIT, Role.SUPERVISOR]

    async def scenario() -> dict[Role, list[list[bytes]]]:
        feed = LiveFeed(app.store, app.bus, queue_size=3)
        feed.start(asyncio.get_running_loop())
        try:
            streams = {role: [feed.stream(role, feed.head) for _ in range(3)] for role in roles}
            for group in streams.values():
                for s in group:
                    await anext(s)
            # Held loop: logins, incidents and login changes interleaved, fanned out at once.
            for i in range(2):
                app.users.add(f"mixed-{i}", Role.ANALYST, None, actor="admin")
                open_incidents(app, 1)
            app.users.add("mixed-2", Role.ANALYST, None, actor="admin")
            assert app.bus.drain(10)
            await settle(app)
            got: dict[Role, list[list[bytes]]] = {}
            for role, group in streams.items():
                got[role] = []
                for s in group:
                    # Everything it is sent until its stream ends (queue_size=3: an admin
                    # overflows and gets a resync) or nothing more comes.
                    frames: list[bytes] = []
                    with contextlib.suppress(TimeoutError, StopAsyncIteration):
                        while True:
                            frames += split(await asyncio.wait_for(anext(s), 0.3))
                    got[role].append(frames)
                    await s.aclose()
            return got
        finally:
            feed.close()

    got = run(scenario())
    for role, per_client in got.items():
        for frames in per_client:
            types = [event_type(f) for f in frames]
            changes = [t for t in types if t not in ("resync", "clock")]
            assert all(visible(role, t) for t in changes), (role, types)
            if role is Role.ADMIN:  # 5 changes, room for 3: the first 3, then a resync
                assert changes == ["user.added", "incident.opened", "user.added"]
                assert types[-1] == "resync"
            else:
                assert changes == ["incident.opened", "incident.opened"], (role, types)
        assert per_client[0] == per_client[1] == per_client[2]  # the same shared bytes


def test_a_client_resuming_past_this_process_head_gets_nothing_twice(app: App) -> None:
    """Resumed from another process further on: the changes it saw there are skipped."""

    async def scenario() -> list[int]:
        feed = LiveFeed(app.store, app.bus, flush_s=5.0)
        feed.start(asyncio.get_running_loop())
        try:
            s = feed.stream(Role.DISPATCHER, feed.head + 2)  # saw 1..2 elsewhere
            await anext(s)
            open_incidents(app, 4)  # one burst: 1..4, of which 3..4 are new to it
            assert app.bus.drain(10)
            got = await take(s, 2)
            await s.aclose()
            return seqs(got)
        finally:
            feed.close()

    assert run(scenario()) == [3, 4]


# ------------------------------------------------------------ slow clients


def test_a_slow_subscriber_is_told_to_resync_and_resumes_without_loss(app: App) -> None:
    async def scenario() -> tuple[list[int], dict[str, Any], int, list[int]]:
        feed = LiveFeed(app.store, app.bus, queue_size=3)
        feed.start(asyncio.get_running_loop())
        try:
            slow = feed.stream(Role.DISPATCHER, 0)
            fast = feed.stream(Role.DISPATCHER, 0)
            await anext(slow)
            await anext(fast)
            fast_got: list[bytes] = []
            for _ in range(10):  # the fast one reads every change as it comes
                await asyncio.to_thread(open_incidents, app, 1)
                fast_got += await take(fast, 1)
            await settle(app)
            frames = [f for c in [c async for c in slow] for f in split(c)]
            assert feed.subscribers == 1  # the slow one's stream ended, the fast one's not
            *events, resync = frames
            assert resync.startswith(b"event: resync\n")
            body = json.loads(resync.split(b"data: ", 1)[1])
            again = feed.stream(Role.DISPATCHER, body["after"])
            rest = await take(again, 10 - body["after"])
            await again.aclose()
            await fast.aclose()
            return seqs(events + rest), body, feed.overflows, seqs(fast_got)
        finally:
            feed.close()

    got, body, overflows, fast = run(scenario())
    assert got == list(range(1, 11))
    assert body["after"] == 3  # the gap-free prefix it had buffered was sent first
    assert body["resume"] == "/api/v1/live?after=3"
    assert overflows == 1
    assert fast == list(range(1, 11))


def test_heartbeat_when_idle(app: App) -> None:
    async def scenario() -> bytes:
        feed = LiveFeed(app.store, app.bus, heartbeat_s=0.01)
        feed.start(asyncio.get_running_loop())
        try:
            s = feed.stream(Role.DISPATCHER, 0)
            await anext(s)
            beat = await asyncio.wait_for(anext(s), 2)
            await s.aclose()
            return beat
        finally:
            feed.close()

    assert run(scenario()) == HEARTBEAT


def test_close_ends_streams_and_unsubscribes(app: App) -> None:
    async def scenario() -> list[bytes]:
        feed = LiveFeed(app.store, app.bus)
        feed.start(asyncio.get_running_loop())
        s = feed.stream(Role.DISPATCHER, 0)
        await anext(s)
        await settle(app)
        feed.close()
        rest = [c async for c in s]
        open_incidents(app, 1)  # no handler left on the bus to call the closed loop
        return rest

    assert run(scenario()) == []


# ---------------------------------------------------------------- endpoint


def test_event_stream_sends_frames_and_ends_when_the_client_leaves(app: App) -> None:
    async def scenario() -> tuple[list[Message], int, int]:
        feed = LiveFeed(app.store, app.bus)
        feed.start(asyncio.get_running_loop())
        sent: list[Message] = []
        left = asyncio.Event()
        got_change = asyncio.Event()

        async def receive() -> Message:
            if not sent:
                return {"type": "http.request", "body": b"", "more_body": False}
            await left.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)
            if b"incident.opened" in message.get("body", b""):
                got_change.set()

        try:
            response = EventStream(*feed.open(Role.DISPATCHER, feed.head))
            served = asyncio.ensure_future(response({"type": "http"}, receive, send))
            while feed.subscribers == 0:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(open_incidents, app, 1)
            await asyncio.wait_for(got_change.wait(), 5)
            during = feed.subscribers
            left.set()  # the client goes away while the feed is idle
            await asyncio.wait_for(served, 2)
            return sent, during, feed.subscribers
        finally:
            feed.close()

    sent, during, after = run(scenario())
    head = sent[0]
    assert head["type"] == "http.response.start" and head["status"] == 200
    headers = dict(head["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert b"content-length" not in headers  # chunked: the stream has no length
    bodies = [m["body"] for m in sent[1:]]
    assert bodies[0] == b"retry: 1000\n\n"
    assert any(b"event: incident.opened" in b for b in bodies)
    assert (during, after) == (1, 0)  # it left the fan-out at once, not at its next write


def test_live_endpoint_requires_a_viewer(client: TestClient, tokens: dict[Role, str]) -> None:
    assert client.get("/api/v1/live").status_code == 401
    assert client.get(f"/api/v1/live?access_token={tokens[Role.AUDITOR]}").status_code == 403


def test_live_endpoint_rejects_a_bad_last_event_id(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    r = client.get(
        "/api/v1/live",
        headers={"Authorization": f"Bearer {tokens[Role.DISPATCHER]}", "Last-Event-ID": "x"},
    )
    assert r.status_code == 422
    assert "Last-Event-ID" in r.text


def test_a_clocked_feed_opens_with_the_server_time_and_repeats_it(app: App) -> None:
    ticks = iter(datetime(2031, 5, 1, 12, 0, s, tzinfo=UTC) for s in range(60))

    async def scenario() -> list[bytes]:
        feed = LiveFeed(app.store, app.bus, heartbeat_s=0.01, clock=lambda: next(ticks))
        feed.start(asyncio.get_running_loop())
        try:
            s = feed.stream(Role.DISPATCHER, 0)
            got = [await anext(s) for _ in range(3)]
            await s.aclose()
            return got
        finally:
            feed.close()

    retry, first, second = run(scenario())
    assert retry.startswith(b"retry:")
    assert first == b'event: clock\ndata: {"now":"2031-05-01T12:00:00Z"}\n\n'
    assert second == b'event: clock\ndata: {"now":"2031-05-01T12:00:01Z"}\n\n'


def test_stream_connects_look_a_token_up_once(
    client: TestClient, tokens: dict[Role, str], app: App
) -> None:
    calls: list[str] = []
    real = app.store.user_for_token

    def counted(token_hash: str, now: datetime) -> Any:
        calls.append(token_hash)
        return real(token_hash, now)

    app.store.user_for_token = counted  # type: ignore[method-assign]
    for _ in range(5):
        r = client.get(
            f"/api/v1/live?access_token={tokens[Role.DISPATCHER]}",
            headers={"Last-Event-ID": "x"},  # refused after authentication: no stream opens
        )
        assert r.status_code == 422
    assert len(calls) <= 1  # five connects, at most one store lookup


def test_a_flush_window_sends_its_changes_in_one_write(app: App) -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], int, float]:
        feed = LiveFeed(app.store, app.bus, flush_s=1.0)
        feed.start(asyncio.get_running_loop())
        loop = asyncio.get_running_loop()
        try:
            s = feed.stream(Role.DISPATCHER, feed.head)
            await anext(s)
            # The first change after a quiet spell goes out at once...
            await asyncio.to_thread(open_incidents, app, 1)
            first = await asyncio.wait_for(anext(s), 0.5)
            t0 = loop.time()
            for _ in range(3):  # ...the next ones, committed one by one, wait for the window
                await asyncio.to_thread(open_incidents, app, 1)
                await settle(app)
            chunk = await asyncio.wait_for(anext(s), 5)
            waited = loop.time() - t0
            await s.aclose()
            return split(first), split(chunk), feed.fanouts, waited
        finally:
            feed.close()

    first, rest, fanouts, waited = run(scenario())
    assert seqs(first) == [1]
    assert seqs(rest) == [2, 3, 4]
    assert fanouts == 2
    assert waited < 1.0 + 0.5  # one window after the first fan-out, not one per change
