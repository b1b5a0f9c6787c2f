"""Live subscribers on real sockets: 2,000 get every change; a stalled one is told to resync."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.servers import VigilServer
from tests.integration.swarm import MARK, Swarm, marker, read_until, stalled_reader

HELSINKI = {"lat": 60.17, "lon": 24.94}


def _marks(data: bytes) -> list[int]:
    """Return the change numbers in a stream's bytes, each once, in order of first sight."""
    seen: dict[int, None] = {}
    for m in MARK.finditer(data):
        seen.setdefault(int(m.group(1)), None)
    return list(seen)


async def _changes(server: VigilServer, incident: str, n: int, pad: str, gap_s: float) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers()) as http:
        for i in range(n):
            r = await http.patch(
                f"/api/v1/incidents/{incident}", json={"description": f"{marker(i)} {pad}"}
            )
            r.raise_for_status()
            await asyncio.sleep(gap_s)


def _incident(server: VigilServer) -> str:
    r = httpx.post(
        f"{server.url}/api/v1/incidents",
        json={"type": "medical", "location": HELSINKI},
        headers=server.headers(),
    )
    r.raise_for_status()
    incident: str = r.json()["id"]
    return incident


def _run(coro: object) -> dict[str, object]:
    # Its own thread and loop: another test's Playwright may own the main thread's loop.
    with ThreadPoolExecutor(1, thread_name_prefix="swarm") as pool:
        out: dict[str, object] = pool.submit(asyncio.run, coro).result(timeout=120)  # type: ignore[arg-type]
        return out


@pytest.mark.integration
def test_two_thousand_subscribers_get_every_change_beside_a_stalled_reader(
    tmp_path: Path,
) -> None:
    subscribers, changes = 2_000, 40
    server = VigilServer(tmp_path / "data")
    incident = _incident(server)

    async def scenario() -> dict[str, object]:
        swarm = Swarm("127.0.0.1", server.port, [server.token])
        await swarm.connect(subscribers)
        stalled = stalled_reader("127.0.0.1", server.port, server.token)
        try:
            await _changes(server, incident, changes, "", 0.05)
            deadline = time.monotonic() + 30
            while swarm.lagging(changes - 1) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            return {
                "connected": swarm.tally.connected,
                "failed": swarm.tally.failed,
                "received": swarm.tally.received,
                "resyncs": swarm.tally.resyncs,
                "lagging": swarm.lagging(changes - 1),
            }
        finally:
            stalled.close()
            swarm.close()

    try:
        out = _run(scenario())
    finally:
        server.stop()
    assert out["connected"] == subscribers and out["failed"] == 0
    assert out["lagging"] == 0
    # Each subscriber counts a change once and only after every earlier one: all got all.
    assert out["received"] == subscribers * changes
    assert out["resyncs"] == 0


@pytest.mark.integration
def test_a_stalled_reader_is_told_to_resync_and_resumes_without_loss(tmp_path: Path) -> None:
    server = VigilServer(tmp_path / "data", env={"VIGIL_SERVER__LIVE_BUFFER": "20"})
    incident = _incident(server)
    pad = "x" * 3_900  # big frames: the stalled socket's kernel buffers fill sooner

    async def scenario() -> dict[str, object]:
        swarm = Swarm("127.0.0.1", server.port, [server.token])
        await swarm.connect(20)
        stalled = stalled_reader("127.0.0.1", server.port, server.token)
        try:
            async with httpx.AsyncClient(base_url=server.url, headers=server.headers()) as http:
                sent = 0
                while sent < 3_000 and not any("resync" in line for line in server.output):
                    r = await http.patch(
                        f"/api/v1/incidents/{incident}",
                        json={"description": f"{marker(sent)} {pad}"},
                    )
                    r.raise_for_status()
                    sent += 1
            deadline = time.monotonic() + 30
            while swarm.lagging(sent - 1) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            lagging = swarm.lagging(sent - 1)  # while the stalled one has read nothing
            got = await asyncio.to_thread(read_until, stalled, b"event: resync", 30)
            got += await asyncio.to_thread(read_until, stalled, b"\n\n", 5)
            return {
                "sent": sent,
                "lagging": lagging,
                "received": swarm.tally.received,
                "resyncs": swarm.tally.resyncs,
                "stalled": got,
            }
        finally:
            stalled.close()
            swarm.close()

    try:
        out = _run(scenario())
        sent = out["sent"]
        assert isinstance(sent, int) and sent < 3_000, "the stalled reader never overflowed"
        assert out["lagging"] == 0 and out["received"] == 20 * sent
        assert out["resyncs"] == 0  # the readers that keep up are never told to resync
        stalled = out["stalled"]
        assert isinstance(stalled, bytes)
        head, _, resync = stalled.partition(b"event: resync\ndata: ")
        assert resync, stalled[-300:]
        body = json.loads(resync.split(b"\n", 1)[0])
        prefix = _marks(head)
        assert prefix == list(range(len(prefix)))  # gap-free up to the resync
        assert body["resume"] == f"/api/v1/live?after={body['after']}"
        # Reopening the feed where the resync says misses nothing.
        rest: list[int] = []
        with httpx.stream(
            "GET",
            f"{server.url}{body['resume']}&access_token={server.token}",
            timeout=30,
        ) as resumed:
            buf = b""
            for chunk in resumed.iter_bytes():
                buf += chunk
                rest = _marks(buf)
                if rest and rest[-1] == sent - 1:
                    break
        assert prefix + rest == list(range(sent))
    finally:
        server.stop()
