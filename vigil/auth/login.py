"""Password login that a flood cannot turn against call-taking.

argon2id is deliberately expensive (about 64 MiB and tens of milliseconds per
check). Run in the request thread pool, 60 concurrent bad logins once took the
server from 208 to 2,453 MiB and `POST /calls` from 14 ms to 5.8 s. So:

- every attempt first passes two rate limits — per client address and per
  account (failures only) — answered 429 with Retry-After without hashing;
- hashing runs in its own small pool (`hash_workers` threads) with a bounded
  queue; when that is full the attempt is answered 503 at once, so memory and
  CPU spent on logins are bounded whatever arrives, and request handling keeps
  its own threads. Those hashing threads also run at a lower CPU priority
  (nice +10), so on a saturated host the kernel schedules call handling first;
- a refused attempt is answered only after `refusal_delay_s` (a tarpit, at most
  `max_delayed` at once): a flooding client waits for each refusal before it
  can send the next attempt, so 60 flooding connections cost the server about
  60 cheap answers a second instead of as many as its event loop can serve. A
  client already over its limit is refused before its body is read or parsed
  (`vigil.api.limits.LoginGate`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from vigil.auth.throttle import RateLimiter
from vigil.auth.users import Users
from vigil.core.errors import AuthError, BusyError, TooManyRequestsError


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginLimits:
    """How many login attempts are allowed, and how much hashing may run at once."""

    per_client: int = 20  # attempts in a burst from one address ...
    client_per_s: float = 20 / 60  # ... refilled at 20 a minute
    per_account: int = 5  # failed attempts in a burst on one account ...
    account_per_s: float = 5 / 300  # ... refilled at 5 every 5 minutes
    hash_workers: int = 1
    hash_queue: int = 8
    hash_nice: int = 10  # the hashing threads yield the CPU to request handling
    refusal_delay_s: float = 1.0  # a refused attempt is answered this much later ...
    max_delayed: int = 1000  # ... unless this many refusals are already waiting


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A successful login."""

    token: str
    name: str
    role: str


def _lower_priority(nice: int) -> None:
    """Lower this thread's CPU priority (Linux: a thread id is a PRIO_PROCESS target)."""
    if nice > 0 and sys.platform == "linux":
        with contextlib.suppress(OSError):  # a sandbox may forbid it; hashing still works
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


class Logins:
    """Rate-limited password login with hashing in a bounded pool of its own."""

    def __init__(self, users: Users, limits: LoginLimits) -> None:
        self._users = users
        self.limits = limits
        self._clients = RateLimiter(capacity=limits.per_client, per_s=limits.client_per_s)
        self._accounts = RateLimiter(capacity=limits.per_account, per_s=limits.account_per_s)
        self._pool = ThreadPoolExecutor(
            max_workers=limits.hash_workers,
            thread_name_prefix="vigil-login",
            initializer=_lower_priority,
            initargs=(limits.hash_nice,),
        )
        self._slots = threading.BoundedSemaphore(limits.hash_workers + limits.hash_queue)
        self.refused = {"client": 0, "account": 0, "busy": 0}

    def client_wait_s(self, client: str) -> float:
        """Return how long `client` must wait before its next attempt (counted if > 0).

        Consumes nothing: the cheap check made before a request body is even read.
        """
        wait = self._clients.wait_s(client)
        if wait > 0:
            self.refused["client"] += 1
        return wait

    def submit(self, name: str, password: str, *, client: str) -> Future[LoginResult]:
        """Start a login; raise at once when a limit refuses it (nothing is hashed then)."""
        account = name.strip().lower()
        wait = self._accounts.wait_s(account)
        if wait > 0:
            self.refused["account"] += 1
            raise TooManyRequestsError(
                "too many failed logins for this account; try again later",
                field="username",
                retry_after_s=wait,
            )
        wait = self._clients.take(client)
        if wait > 0:
            self.refused["client"] += 1
            raise TooManyRequestsError(
                "too many login attempts from this address; try again later",
                retry_after_s=wait,
            )
        if not self._slots.acquire(blocking=False):
            self.refused["busy"] += 1
            raise BusyError("too many logins are being checked; try again shortly", retry_after_s=1)
        try:
            future = self._pool.submit(self._check, name, password, account)
        except RuntimeError:  # the pool is shut down: the server is stopping
            self._slots.release()
            raise BusyError("the server is stopping", retry_after_s=5) from None
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def _check(self, name: str, password: str, account: str) -> LoginResult:
        try:
            token = self._users.login(name, password)
        except AuthError:
            self._accounts.take(account)
            raise
        user = self._users.authenticate(token)
        return LoginResult(token=token, name=user.name, role=user.role)

    def close(self) -> None:
        """Stop the hashing pool (waits for checks under way)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
