"""Pure decisions of a worker group: who is alive, each one's fair share, what to claim or release.

A group's state is its leases (`vigil.store.ports.Lease`): ``member/<id>``
names the workers alive (each renews its own), ``p<k>`` the owner of device
partition k. Every worker runs `plan` on what it read, at its own pace; the
store's compare-and-set claim settles any race. The shares depend only on the
sorted list of live members, so all workers compute the same ones: with N
partitions and n workers, the first ``N mod n`` (by id) take ``N // n + 1``
and the others ``N // n``. A worker above its share releases the excess only
once no partition is free (others claim free ones first), so a worker joining
gets its share from the others within a round or two and nothing moves
otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vigil.store.ports import Lease

MEMBER = "member/"


def partition_name(k: int) -> str:
    """Return the lease name of device partition `k`."""
    return f"p{k}"


def partition_of_name(name: str) -> int | None:
    """Return the partition a lease name stands for (None: a membership or other lease)."""
    if name.startswith("p") and name[1:].isdigit():
        return int(name[1:])
    return None


def live_members(leases: Iterable[Lease], now: float, me: str) -> list[str]:
    """Return the ids of the workers whose membership lease is unexpired (and `me`), sorted."""
    alive = {x.owner for x in leases if x.name.startswith(MEMBER) and x.expires > now}
    alive.add(me)
    return sorted(alive)


def share(members: Sequence[str], me: str, partitions: int) -> int:
    """Return how many partitions `me` should hold among `members` (sorted, `me` in them)."""
    rank = members.index(me)
    base, extra = divmod(partitions, len(members))
    return base + (1 if rank < extra else 0)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one round does: claim (or renew) these partitions, release those."""

    claim: tuple[int, ...]
    release: tuple[int, ...]
    target: int
    members: tuple[str, ...]


def plan(leases: Sequence[Lease], *, me: str, now: float, partitions: int) -> Plan:
    """Decide this round's claims and releases for `me` from the group's leases."""
    members = live_members(leases, now, me)
    target = share(members, me, partitions)
    owner: dict[int, str] = {}
    for x in leases:
        k = partition_of_name(x.name)
        if k is not None and k < partitions and x.expires > now:
            owner[k] = x.owner
    mine = sorted(k for k, o in owner.items() if o == me)
    free = [k for k in range(partitions) if k not in owner]
    release: list[int] = []
    if len(mine) > target and not free:
        # Keep the lowest-numbered ones: which are released is the same every round.
        release = mine[target:]
    keep = [k for k in mine if k not in release]
    wanted = max(0, target - len(keep))
    # Start where this worker's share would start, so workers joining together try
    # different free partitions instead of all racing for the lowest.
    start = members.index(me) * partitions // len(members)
    free.sort(key=lambda k: (k - start) % partitions)
    return Plan(
        claim=tuple(keep + free[:wanted]),
        release=tuple(release),
        target=target,
        members=tuple(members),
    )


def safe_until(sent: float, ttl_s: float, margin_s: float) -> float:
    """Return until when (monotonic) a lease claimed by a request sent at `sent` may be acted on.

    The store dates the lease from the claimer's clock read before the request,
    so counting from `sent` is conservative; the margin covers clock skew between
    workers and one message in hand when the time runs out.
    """
    return sent + ttl_s - margin_s
