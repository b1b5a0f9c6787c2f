"""The pipeline: group commit, ack after commit, new observations only onto the bus."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from tests.unit.ingest.conftest import NOW, TS
from vigil.bus.log import LogBus
from vigil.core.clock import ManualClock
from vigil.core.errors import StoreError
from vigil.ingest.model import Observation
from vigil.ingest.parse import Parsed, Parser, Rejection
from vigil.ingest.pipeline import IngestPipeline
from vigil.ingest.store import ObservationStore, WriteResult
from vigil.store.sqlite import SqliteStore

TOPIC = "vigil/hel/devices/noise-meter/laeq"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ObservationStore]:
    s = ObservationStore(tmp_path / "obs.sqlite3")
    yield s
    s.close()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "log.sqlite3")
    yield s
    s.close()


@pytest.fixture
def bus(log: SqliteStore) -> Iterator[LogBus]:
    b = LogBus(log)
    yield b
    b.close()


def _parsed(parser: Parser, seq: int) -> Parsed:
    return parser.mqtt(TOPIC, json.dumps({"seq": seq, "ts": TS, "value": 50}).encode(), NOW)


def test_queued_messages_are_acked_after_commit_in_order(
    store: ObservationStore, parser: Parser, bus: LogBus
) -> None:
    pipeline = IngestPipeline(store, ManualClock(NOW), bus, max_batch_obs=7)
    seen: list[list[str]] = []
    acks: list[tuple[int, int]] = []

    def handler(batch: Sequence[Observation]) -> None:
        seen.append([o.id for o in batch])

    pipeline.subscribe("test", handler)

    def ack_of(i: int) -> Callable[[], None]:
        # When the ack runs, the message's row must already be committed.
        return lambda: acks.append((i, store.count()))

    for i in range(20):
        pipeline.submit(_parsed(parser, i % 15), ack_of(i))
    pipeline.start()
    try:
        assert pipeline.drain(10)
        assert bus.drain(10)
    finally:
        pipeline.close()
    assert [i for i, _ in acks] == list(range(20))
    for i, count in acks:
        assert count >= min(i, 14) + 1
    assert sorted(o for batch in seen for o in batch) == sorted(
        f"noise-meter:laeq:{i}" for i in range(15)
    )
    assert store.stats().by_reason == {"duplicate": 5}
    assert pipeline.commits >= 3  # batches of at most 7 observations


def test_failing_subscriber_does_not_undo_or_starve(
    store: ObservationStore, parser: Parser, bus: LogBus
) -> None:
    pipeline = IngestPipeline(store, ManualClock(NOW), bus)
    got: list[int] = []
    threads: list[str] = []

    def bad(_: Sequence[Observation]) -> None:
        raise RuntimeError("rules engine bug")

    def good(batch: Sequence[Observation]) -> None:
        threads.append(threading.current_thread().name)
        got.append(len(batch))

    pipeline.subscribe("bad", bad)
    unsubscribe = pipeline.subscribe("good", good)
    result = pipeline.commit(_parsed(parser, 1))
    assert len(result.stored) == 1
    assert bus.drain(10)
    assert got == [1]
    assert threads == ["bus-good"]  # never the committing thread
    assert bus.handler_errors == 1
    unsubscribe()
    pipeline.commit(_parsed(parser, 2))
    assert bus.drain(10)
    assert got == [1]


def test_store_failure_is_retried_and_nothing_acked_meanwhile(
    store: ObservationStore, parser: Parser, bus: LogBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = IngestPipeline(store, ManualClock(NOW), bus, retry_s=0.01)
    real = store.write
    failures = iter([True, True, False])
    acked: list[int] = []

    def flaky(
        observations: Sequence[Observation], rejections: Sequence[Rejection], at: datetime
    ) -> WriteResult:
        if next(failures):
            assert acked == []
            raise StoreError("disk unavailable")
        return real(observations, rejections, at)

    monkeypatch.setattr(store, "write", flaky)
    pipeline.start()
    try:
        pipeline.submit(_parsed(parser, 1), lambda: acked.append(store.count()))
        assert pipeline.drain(10)
    finally:
        pipeline.close()
    assert acked == [1]
    assert pipeline.store_failures == 2


def test_slow_subscribers_hold_back_acks_by_at_most_the_topic_depth(
    store: ObservationStore, parser: Parser, log: SqliteStore
) -> None:
    bus = LogBus(log, topic_depth=1)
    pipeline = IngestPipeline(store, ManualClock(NOW), bus, max_batch_obs=1)
    release = threading.Event()
    seen: list[str] = []
    watched: list[str] = []

    def slow(batch: Sequence[Observation]) -> None:
        release.wait(10)
        seen.extend(o.id for o in batch)

    pipeline.subscribe("slow", slow)
    pipeline.watch_commits(lambda b: watched.extend(o.id for o in b))
    acked: list[int] = []
    pipeline.start()
    try:
        for i in range(6):
            pipeline.submit(_parsed(parser, i), functools.partial(acked.append, i))
        # one batch in the listener, one in its queue, one committed and waiting to be sent
        deadline = time.monotonic() + 10
        while len(watched) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert acked == [0, 1]
        assert watched == [f"noise-meter:laeq:{i}" for i in range(3)]
        assert not pipeline.drain(0.05)  # committed is not yet handed over
        release.set()
        assert pipeline.drain(10)
        assert bus.drain(10)
    finally:
        release.set()
        pipeline.close()
        bus.close()
    assert acked == list(range(6))
    expected = [f"noise-meter:laeq:{i}" for i in range(6)]
    assert seen == expected  # in commit order
    assert watched == expected
