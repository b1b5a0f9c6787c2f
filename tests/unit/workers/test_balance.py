"""Pure decisions of a worker group: live members, fair shares, claims and releases."""

from __future__ import annotations

import pytest

from vigil.store.ports import Lease
from vigil.workers.balance import (
    live_members,
    partition_name,
    partition_of_name,
    plan,
    safe_until,
    share,
)

NOW = 1000.0


def lease(name: str, owner: str, *, expires: float = NOW + 5, token: int = 1) -> Lease:
    return Lease(group="g", name=name, owner=owner, expires=expires, token=token)


def member(owner: str, *, expires: float = NOW + 5) -> Lease:
    return lease(f"member/{owner}", owner, expires=expires)


def test_names_round_trip() -> None:
    assert partition_of_name(partition_name(7)) == 7
    assert partition_of_name("member/a") is None
    assert partition_of_name("px") is None


def test_live_members_are_the_unexpired_and_me() -> None:
    leases = [member("b"), member("c", expires=NOW), member("a", expires=NOW - 1)]
    assert live_members(leases, NOW, "z") == ["b", "z"]


@pytest.mark.parametrize(("partitions", "n"), [(4, 2), (16, 3), (5, 5), (3, 5), (1, 2)])
def test_shares_add_up_and_differ_by_at_most_one(partitions: int, n: int) -> None:
    members = [f"w{i}" for i in range(n)]
    shares = [share(members, m, partitions) for m in members]
    assert sum(shares) == partitions
    assert max(shares) - min(shares) <= 1


def test_a_lone_worker_claims_every_free_partition() -> None:
    p = plan([], me="a", now=NOW, partitions=4)
    assert sorted(p.claim) == [0, 1, 2, 3]
    assert p.release == ()


def test_a_worker_renews_what_it_holds_and_takes_expired_ones() -> None:
    leases = [
        member("a"),
        member("b", expires=NOW - 1),  # b is dead
        lease("p0", "a"),
        lease("p1", "a"),
        lease("p2", "b", expires=NOW - 1),
        lease("p3", "b", expires=NOW - 1),
    ]
    p = plan(leases, me="a", now=NOW, partitions=4)
    assert sorted(p.claim) == [0, 1, 2, 3]
    assert p.members == ("a",)


def test_a_joining_worker_claims_nothing_until_the_others_release() -> None:
    leases = [member("a"), member("b"), *(lease(partition_name(k), "a") for k in range(4))]
    joining = plan(leases, me="b", now=NOW, partitions=4)
    assert joining.claim == () and joining.target == 2
    holder = plan(leases, me="a", now=NOW, partitions=4)
    assert holder.release == (2, 3) and sorted(holder.claim) == [0, 1]
    # a released 2 and 3: b takes them next round.
    after = [member("a"), member("b"), lease("p0", "a"), lease("p1", "a")]
    assert sorted(plan(after, me="b", now=NOW, partitions=4).claim) == [2, 3]


def test_nothing_is_released_while_partitions_are_free() -> None:
    # c joined; a holds 3 of 6 with 2 free: the others claim the free ones first.
    leases = [member("a"), member("b"), member("c"), *(lease(f"p{k}", "a") for k in range(3))]
    assert plan(leases, me="a", now=NOW, partitions=6).release == ()
    claims_b = plan(leases, me="b", now=NOW, partitions=6).claim
    claims_c = plan(leases, me="c", now=NOW, partitions=6).claim
    assert len(claims_b) == 2 and len(claims_c) == 2
    assert set(claims_b) <= {3, 4, 5} and set(claims_c) <= {3, 4, 5}


def test_balanced_groups_are_stable() -> None:
    leases = [member("a"), member("b"), *(lease(f"p{k}", "a" if k < 2 else "b") for k in range(4))]
    for me, mine in (("a", [0, 1]), ("b", [2, 3])):
        p = plan(leases, me=me, now=NOW, partitions=4)
        assert sorted(p.claim) == mine and p.release == ()


def test_workers_joining_together_start_on_different_free_partitions() -> None:
    leases = [member("a"), member("b")]
    a = plan(leases, me="a", now=NOW, partitions=4).claim
    b = plan(leases, me="b", now=NOW, partitions=4).claim
    assert set(a).isdisjoint(b) and sorted(a + b) == [0, 1, 2, 3]


def test_simulated_rounds_converge_to_fair_shares_for_any_join_order() -> None:
    """Run whole rounds (a fake store of leases) as workers join and one dies."""
    partitions = 7
    store: dict[str, Lease] = {}

    def run_round(me: str, now: float) -> None:
        store[f"member/{me}"] = lease(f"member/{me}", me, expires=now + 5)
        p = plan(list(store.values()), me=me, now=now, partitions=partitions)
        for k in p.release:
            store[partition_name(k)] = lease(partition_name(k), me, expires=0)
        for k in p.claim:
            held = store.get(partition_name(k))
            if held is None or held.expires <= now or held.owner == me:
                store[partition_name(k)] = lease(partition_name(k), me, expires=now + 5)

    def owners(now: float) -> dict[str, int]:
        counts: dict[str, int] = {}
        for x in store.values():
            if x.name.startswith("p") and x.expires > now:
                counts[x.owner] = counts.get(x.owner, 0) + 1
        return counts

    now = NOW
    workers = ["a"]
    for joining in ("b", "c"):
        workers.append(joining)
        for _ in range(4):
            now += 1
            for w in workers:
                run_round(w, now)
        counts = owners(now)
        assert sum(counts.values()) == partitions
        assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == len(workers)
    workers.remove("b")  # killed: its leases run out
    for _ in range(8):
        now += 1
        for w in workers:
            run_round(w, now)
    counts = owners(now)
    assert set(counts) == {"a", "c"} and sum(counts.values()) == partitions
    assert sorted(counts.values()) == [3, 4]


def test_safe_until_is_the_ttl_less_the_margin_from_the_send() -> None:
    assert safe_until(100.0, 6.0, 1.5) == 104.5
