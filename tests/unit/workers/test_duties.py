"""The once-per-deployment duties: started together, and moving with partition 0."""

from __future__ import annotations

import contextlib
import threading

from tests.unit.workers.test_group import Clock, MemoryLeases
from vigil.core.ticker import Ticker
from vigil.workers.duties import Duties, Stop, ticking
from vigil.workers.group import WorkerGroup


class Recorder:
    """Duties that note when they start and stop."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def duty(self, name: str) -> Duties:
        return self.add(Duties(), name)

    def add(self, duties: Duties, name: str) -> Duties:
        def start() -> Stop:
            self.log.append(f"start {name}")
            return lambda: self.log.append(f"stop {name}")

        duties.add(name, start)
        return duties


def test_duties_start_in_order_stop_in_reverse_and_both_are_idempotent() -> None:
    r = Recorder()
    duties = r.add(r.add(Duties(), "a"), "b")
    assert not duties.running
    duties.start()
    duties.start()
    assert duties.running and duties.starts == 1
    duties.stop()
    duties.stop()
    assert r.log == ["start a", "start b", "stop b", "stop a"]
    duties.start()  # they may start again (partition 0 came back)
    assert r.log[-2:] == ["start a", "start b"] and duties.starts == 2


def test_a_duty_that_fails_to_start_does_not_keep_the_others_from_running() -> None:
    r = Recorder()
    duties = Duties()

    def broken() -> Stop:
        raise RuntimeError("no channel")

    duties.add("broken", broken)
    r.add(duties, "ok")
    duties.start()
    assert duties.running and r.log == ["start ok"]
    duties.stop()
    assert r.log == ["start ok", "stop ok"]


def test_a_ticker_duty_ticks_again_after_a_restart() -> None:
    ticks = threading.Semaphore(0)
    ticker = Ticker("t", 0.01, ticks.release)
    duties = Duties()
    duties.add("t", ticking(ticker))
    for _ in range(2):
        duties.start()
        assert ticks.acquire(timeout=5)
        duties.stop()


class Worker:
    """A worker whose duties follow partition 0, as `vigil.app` wires them."""

    def __init__(self, name: str, leases: MemoryLeases, clock: Clock, r: Recorder) -> None:
        self.duties = r.duty(name)
        self.group = WorkerGroup(
            leases,
            group="g",
            member=name,
            partitions=4,
            ttl_s=6.0,
            margin_s=1.5,
            on_acquire=self.duties.on_acquire,
            on_release=self.duties.on_release,
            wall=clock.wall,
            mono=clock.mono,
        )


def test_duties_run_in_one_worker_and_move_with_partition_0() -> None:
    leases, clock, r = MemoryLeases(), Clock(), Recorder()
    a, b = Worker("a", leases, clock, r), Worker("b", leases, clock, r)
    a.group.round()
    assert a.duties.running
    for _ in range(3):  # b joins and takes half the partitions; partition 0 stays with a
        clock.t += 1
        b.group.round()
        a.group.round()
        assert [a.duties.running, b.duties.running].count(True) == 1
    assert a.group.owned() == {0, 1} and a.duties.running and not b.duties.running
    # a is cut off from the store: its duties stop when its lease's safe time ends,
    # before b can take partition 0.
    leases.down = True
    clock.t += 4.6
    with contextlib.suppress(OSError):
        a.group.round()  # it fails, but first lets go of what is no longer safe
    assert not a.duties.running and not b.duties.running
    leases.down = False
    clock.t += 1.5
    b.group.round()
    assert b.group.owned() == {0, 1, 2, 3} and b.duties.running
    assert r.log == ["start a", "stop a", "start b"]


def test_a_clean_shutdown_hands_the_duties_over() -> None:
    leases, clock, r = MemoryLeases(), Clock(), Recorder()
    a, b = Worker("a", leases, clock, r), Worker("b", leases, clock, r)
    a.group.round()
    b.group.round()
    a.group.close()  # gives every partition up at once
    assert not a.duties.running
    clock.t += 1
    b.group.round()
    assert b.duties.running
    assert r.log == ["start a", "stop a", "start b"]
