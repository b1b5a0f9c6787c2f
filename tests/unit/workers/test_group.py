"""A worker's lease rounds against an in-memory lease port, on a fake clock."""

from __future__ import annotations

import contextlib

from vigil.store.leases import claimed, fenced
from vigil.store.ports import Lease
from vigil.workers.group import WorkerGroup


class Clock:
    """Wall and monotonic time that move only when told."""

    def __init__(self) -> None:
        self.t = 1_000.0

    def wall(self) -> float:
        return self.t

    def mono(self) -> float:
        return self.t


class MemoryLeases:
    """The lease port over a dict (the same decisions the store adapters make)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Lease] = {}
        self.cursors: dict[str, int] = {}
        self.down = False

    def claim_lease(
        self, group: str, name: str, owner: str, *, now: float, ttl_s: float
    ) -> Lease | None:
        if self.down:
            raise OSError("store away")
        got = claimed(
            self.rows.get((group, name)), group=group, name=name, owner=owner, now=now, ttl_s=ttl_s
        )
        if got is not None:
            self.rows[group, name] = got
        return got

    def release_lease(self, group: str, name: str, owner: str) -> bool:
        held = self.rows.get((group, name))
        if held is None or held.owner != owner or held.expires <= 0:
            return False
        self.rows[group, name] = Lease(
            group=group, name=name, owner=owner, expires=0, token=held.token
        )
        return True

    def leases(self, group: str) -> list[Lease]:
        if self.down:
            raise OSError("store away")
        return sorted((x for (g, _), x in self.rows.items() if g == group), key=lambda x: x.name)

    def save_cursor_fenced(self, consumer: str, seq: int, *, lease: Lease, now: float) -> bool:
        if not fenced(self.rows.get((lease.group, lease.name)), lease, now):
            return False
        self.cursors[consumer] = max(seq, self.cursors.get(consumer, 0))
        return True


class Worker:
    def __init__(self, name: str, leases: MemoryLeases, clock: Clock, partitions: int = 4) -> None:
        self.events: list[tuple[str, int]] = []
        self.group = WorkerGroup(
            leases,
            group="g",
            member=name,
            partitions=partitions,
            ttl_s=6.0,
            margin_s=1.5,
            on_acquire=lambda ks: self.events.extend(("take", k) for k in ks),
            on_release=lambda k: self.events.append(("drop", k)),
            wall=clock.wall,
            mono=clock.mono,
        )


def test_two_workers_split_the_partitions_and_the_survivor_takes_over() -> None:
    leases, clock = MemoryLeases(), Clock()
    a, b = Worker("a", leases, clock), Worker("b", leases, clock)
    a.group.round()
    assert a.group.owned() == {0, 1, 2, 3}
    for _ in range(3):
        clock.t += 1
        b.group.round()
        a.group.round()
    assert a.group.owned() == {0, 1} and b.group.owned() == {2, 3}
    assert ("drop", 2) in a.events and ("take", 2) in b.events
    # b is killed (no more rounds): a takes its partitions once their leases expire.
    clock.t += 3
    a.group.round()
    assert a.group.owned() == {0, 1}
    clock.t += 4  # past b's expiry
    a.group.round()
    assert a.group.owned() == {0, 1, 2, 3}
    assert a.group.members == ("a",)


def test_a_paused_worker_stops_acting_before_its_lease_can_move() -> None:
    leases, clock = MemoryLeases(), Clock()
    a, b = Worker("a", leases, clock), Worker("b", leases, clock)
    a.group.round()
    assert a.group.holds(0)
    clock.t += 6.0 - 1.5  # ttl less margin: a may no longer act, nobody else may take it yet
    assert not a.group.holds(0)
    b.group.round()
    assert 0 not in b.group.owned()
    assert not a.group.save_cursor(0, "rules@observations/p0", 5)
    clock.t += 1.5
    b.group.round()
    assert b.group.owned() == {0, 1, 2, 3}
    # a wakes up: its round sees the leases are b's and lets go without acting.
    a.group.round()
    assert a.group.owned() == set()
    assert ("drop", 0) in a.events


def test_fenced_cursor_saves_need_the_lease_in_force() -> None:
    leases, clock = MemoryLeases(), Clock()
    a = Worker("a", leases, clock)
    a.group.round()
    assert a.group.save_cursor(1, "c@p1", 7)
    assert leases.cursors == {"c@p1": 7}
    assert not a.group.save_cursor(9, "c@p9", 1)  # not held


def test_a_store_outage_drops_partitions_when_their_safe_time_ends() -> None:
    leases, clock = MemoryLeases(), Clock()
    a = Worker("a", leases, clock)
    a.group.round()
    leases.down = True
    clock.t += 2
    with contextlib.suppress(OSError):
        a.group.round()
    assert a.group.owned() == {0, 1, 2, 3}  # still within the lease
    clock.t += 3
    with contextlib.suppress(OSError):
        a.group.round()
    assert a.group.owned() == set()
    assert a.group.lost == 4


def test_close_hands_over_at_once() -> None:
    leases, clock = MemoryLeases(), Clock()
    a, b = Worker("a", leases, clock), Worker("b", leases, clock)
    a.group.round()
    a.group.close()
    b.group.round()
    assert b.group.owned() == {0, 1, 2, 3}
    assert a.events.count(("drop", 0)) == 1


def test_a_failing_take_gives_the_partition_up() -> None:
    leases, clock = MemoryLeases(), Clock()

    def boom(ks: tuple[int, ...]) -> None:
        if 3 in ks:
            raise RuntimeError("warm failed")

    g = WorkerGroup(
        leases,
        group="g",
        member="a",
        partitions=4,
        ttl_s=6.0,
        margin_s=1.5,
        on_acquire=boom,
        on_release=lambda k: None,
        wall=clock.wall,
        mono=clock.mono,
    )
    g.round()
    assert g.owned() == set()  # taken together, given up together
    assert leases.rows["g", "p3"].expires == 0
    assert g.acquired == 4 and g.released == 4
