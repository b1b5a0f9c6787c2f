"""A worker's membership of its group: claim, renew and hand over partitions by lease.

One thread per worker runs a round every `ttl_s / 4`: renew its membership
lease, read the group's leases, `plan` (pure, `vigil.workers.balance`), then
release what it should give up and claim or renew the rest. Each partition
gained is handed to `on_acquire` (warm the windows, start consuming) and each
one lost or given up to `on_release` (stop consuming, forget its state).

Fencing: a partition is acted on only until `safe_until` of its last
successful claim (the lease's TTL less a margin, counted on the monotonic
clock from before the claim was sent). `holds` answers that for the bus
before each batch, so a worker that was paused, or cut off from the store,
stops handling a partition before its lease can pass to another worker; and
the partition's cursor is saved with `save_cursor_fenced`, which the store
refuses unless the lease in force is still this worker's with the same token.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from vigil.store.ports import Lease, Leases
from vigil.workers.balance import MEMBER, partition_name, plan, safe_until

log = logging.getLogger(__name__)


def member_id(name: str) -> str:
    """Return a member id unique to this process: its name, host, pid and a random tag."""
    return f"{name or 'worker'}.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(3)}"


@dataclass(slots=True)
class _Held:
    lease: Lease
    until: float  # monotonic: act on the partition only before this
    leaving: bool = False  # being handed over: no new batch is handled


class WorkerGroup:
    """This worker's partitions, held by lease in the store (see the module docstring)."""

    def __init__(
        self,
        leases: Leases,
        *,
        group: str,
        member: str,
        partitions: int,
        ttl_s: float,
        margin_s: float,
        on_acquire: Callable[[tuple[int, ...]], None],
        on_release: Callable[[int], None],
        on_round: Callable[[], None] | None = None,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < margin_s < ttl_s / 2:
            raise ValueError(f"lease margin {margin_s} s must be within (0, ttl/2 = {ttl_s / 2})")
        self.leases = leases
        self.group = group
        self.member = member
        self.partitions = partitions
        self.ttl_s = ttl_s
        self.margin_s = margin_s
        self.on_acquire = on_acquire
        self.on_release = on_release
        self.on_round = on_round
        self.wall = wall
        self.mono = mono
        self.interval_s = ttl_s / 4
        self._held: dict[int, _Held] = {}
        self._lock = threading.Lock()
        self._round_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.acquired = 0
        self.released = 0
        self.lost = 0
        self.members: tuple[str, ...] = ()

    # ------------------------------------------------------------- queries

    def holds(self, partition: int) -> bool:
        """Return whether this worker may act on `partition` now (its lease is safe)."""
        with self._lock:
            held = self._held.get(partition)
        return held is not None and not held.leaving and self.mono() < held.until

    def owned(self) -> frozenset[int]:
        """Return the partitions held now."""
        with self._lock:
            return frozenset(self._held)

    def save_cursor(self, partition: int, consumer: str, seq: int) -> bool:
        """Save a partition's cursor, fenced by its lease; False when the lease is gone."""
        with self._lock:
            held = self._held.get(partition)
        if held is None or self.mono() >= held.until:
            return False
        return self.leases.save_cursor_fenced(consumer, seq, lease=held.lease, now=self.wall())

    # -------------------------------------------------------------- rounds

    def round(self) -> None:
        """Run one round: membership, plan, releases, claims and renewals, hand-overs."""
        with self._round_lock:
            self._round()

    def _round(self) -> None:
        self.rounds += 1
        self._expire()
        sent, now = self.mono(), self.wall()
        self.leases.claim_lease(
            self.group, MEMBER + self.member, self.member, now=now, ttl_s=self.ttl_s
        )
        decided = plan(
            self.leases.leases(self.group), me=self.member, now=now, partitions=self.partitions
        )
        self.members = decided.members
        for k in decided.release:
            self._drop(k, give_up=True)
        for k in self.owned() - set(decided.claim):
            self._drop(k, give_up=False)  # the store says another worker holds it now
        gained: list[int] = []
        for k in decided.claim:
            sent, now = self.mono(), self.wall()
            lease = self.leases.claim_lease(
                self.group, partition_name(k), self.member, now=now, ttl_s=self.ttl_s
            )
            with self._lock:
                had = self._held.get(k)
            if lease is None:
                if had is not None:
                    self._drop(k, give_up=False)  # another worker has it: ours had expired
                continue
            if had is not None and had.lease.token != lease.token:
                # Our lease lapsed and was claimed again: what we hold is stale.
                self._drop(k, give_up=False)
                had = None
            with self._lock:
                self._held[k] = _Held(lease, safe_until(sent, self.ttl_s, self.margin_s))
            if had is None:
                gained.append(k)
        if gained:
            self._acquire(tuple(gained))
        if self.on_round is not None:
            try:
                self.on_round()  # checkpoints while the partitions are surely held
            except Exception:
                log.exception("worker %s: round hook failed", self.member)

    def _acquire(self, ks: tuple[int, ...]) -> None:
        log.info("worker %s takes partition(s) %s", self.member, ks)
        self.acquired += len(ks)
        try:
            self.on_acquire(ks)
        except Exception:
            log.exception("worker %s could not take partitions %s; giving up", self.member, ks)
            for k in ks:
                self._drop(k, give_up=True)

    def _expire(self) -> None:
        """Stop acting on partitions whose lease ran out without a renewal (store away)."""
        now = self.mono()
        with self._lock:
            gone = [k for k, h in self._held.items() if now >= h.until]
        for k in gone:
            log.warning("worker %s lost partition %d (lease not renewed in time)", self.member, k)
            self.lost += 1
            self._drop(k, give_up=False)

    def _drop(self, k: int, *, give_up: bool) -> None:
        with self._lock:
            held = self._held.get(k)
            if held is None:
                return
            held.leaving = True  # `holds` is False from now: the bus takes no new batch of k
        self.released += 1
        try:
            self.on_release(k)  # may still save k's cursor (fenced) before the lease goes
        except Exception:
            log.exception("worker %s: releasing partition %d failed", self.member, k)
        with self._lock:
            self._held.pop(k, None)
        if give_up:
            try:
                self.leases.release_lease(self.group, partition_name(k), self.member)
            except Exception:  # noqa: BLE001 - it expires by itself
                log.warning("worker %s could not release partition %d", self.member, k)
            else:
                log.info("worker %s released partition %d", self.member, k)

    # ----------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Join: run a first round now (partitions taken before this returns), then renew."""
        try:
            self.round()
        except Exception:
            log.exception("worker %s: first lease round failed; retrying", self.member)
        self._thread = threading.Thread(target=self._run, name="worker-group", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.round()
            except Exception:
                # The store is away: keep what is held until its safe time runs out.
                log.exception("worker %s: lease round failed", self.member)
                with self._round_lock:
                    self._expire()

    def close(self) -> None:
        """Stop renewing and give every partition up at once (a clean hand-over)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._round_lock:
            for k in sorted(self.owned()):
                self._drop(k, give_up=True)
            try:
                self.leases.release_lease(self.group, MEMBER + self.member, self.member)
            except Exception:  # noqa: BLE001 - it expires by itself
                log.warning("worker %s could not leave its group", self.member)
