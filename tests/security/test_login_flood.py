"""Item 2: a login flood must not starve call-taking.

Attack (before): 60 concurrent bad logins ran argon2 in the shared request
thread pool: server memory 208 -> 2,453 MiB, `POST /calls` 14 ms -> 5.8 s.
After: attempts are limited per client and per account (429 + Retry-After),
hashing runs in a pool of its own with a bounded queue (503 when full).
"""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, free_port
from tests.security.flood import CLIENTS, phases
from vigil.api.problems import status_of
from vigil.app import App
from vigil.audit.roles import Role
from vigil.auth.login import LoginLimits, Logins
from vigil.auth.throttle import RateLimiter
from vigil.core.errors import AuthError, BusyError, TooManyRequestsError


def _login(client: TestClient, name: str, password: str) -> int:
    body = {"username": name, "password": password}
    return client.post("/api/v1/auth/login", json=body).status_code


def test_failed_logins_lock_the_account_for_a_while(client: TestClient, app: App) -> None:
    app.users.add("ana", Role.DISPATCHER, PASSWORD, actor="t")
    assert _login(client, "ana", PASSWORD) == 200
    for _ in range(5):
        assert _login(client, "ana", "wrong password!") == 401
    r = client.post("/api/v1/auth/login", json={"username": "ANA", "password": PASSWORD})
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "username"


class _Instant:
    """A Users stand-in whose every check fails at once (the limit is under test, not argon2)."""

    def login(self, name: str, password: str) -> str:
        raise AuthError("wrong user name or password")

    def authenticate(self, token: str) -> object:
        raise AssertionError("never reached")


def test_one_client_is_limited_whatever_the_account() -> None:
    limits = LoginLimits(per_client=20, client_per_s=1e-6, per_account=100)
    logins = Logins(_Instant(), limits)  # type: ignore[arg-type]
    try:
        for i in range(20):
            with pytest.raises(AuthError):
                logins.submit(f"user{i}", "wrong", client="10.0.0.1").result(10)
        with pytest.raises(TooManyRequestsError) as refused:
            logins.submit("someone-else", "wrong", client="10.0.0.1")
        assert refused.value.retry_after_s > 0
        # Another address is not held back by the first one's flood.
        with pytest.raises(AuthError):
            logins.submit("user0", "wrong", client="10.0.0.2").result(10)
        assert logins.refused["client"] == 1
    finally:
        logins.close()


def test_hashing_pool_refuses_when_its_queue_is_full(app: App) -> None:
    gate = threading.Event()

    class Slow:
        def login(self, name: str, password: str) -> str:
            gate.wait(10)
            raise AuthError("wrong user name or password")

        def authenticate(self, token: str) -> object:
            raise AssertionError("never reached")

    logins = Logins(Slow(), LoginLimits(per_client=100, hash_workers=1, hash_queue=2))  # type: ignore[arg-type]
    try:
        running = [logins.submit("a", "b", client=f"c{i}") for i in range(3)]
        with pytest.raises(BusyError):
            logins.submit("a", "b", client="c9")
        assert logins.refused["busy"] == 1
        gate.set()
        for f in running:
            with pytest.raises(AuthError):
                f.result(10)
        # Slots are given back: the next attempt is accepted again.
        with pytest.raises(AuthError):
            logins.submit("a", "b", client="c10").result(10)
    finally:
        gate.set()
        logins.close()


def test_rate_limiter_refills_and_bounds_its_memory() -> None:
    t = [0.0]
    limiter = RateLimiter(capacity=2, per_s=1.0, max_keys=3, now=lambda: t[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(1.0)
    t[0] = 0.5
    assert limiter.wait_s("a") == pytest.approx(0.5)
    t[0] = 1.0
    assert limiter.take("a") == 0
    for key in "bcde":
        limiter.take(key)
    assert len(limiter._buckets) == 3


def test_too_many_requests_error_carries_retry_after() -> None:
    err = TooManyRequestsError("slow down", retry_after_s=2.5)
    assert status_of(err) == (429, "Too many requests") and err.retry_after_s == 2.5
    assert status_of(BusyError("full", retry_after_s=1))[0] == 503


@pytest.mark.slow
@pytest.mark.timeout(600)  # up to three attempts on a loaded host
@pytest.mark.parametrize("lifted", [False, True], ids=["default-limits", "limits-lifted"])
def test_calls_stay_fast_while_60_clients_hammer_login(lifted: bool) -> None:
    """POST /calls p99 < 100 ms during the flood (the issue's acceptance figure).

    Each attempt measures, back to back on one fresh server, the call-taker
    alone (baseline) and the call-taker under 60 flooding clients. It passes when,
    under the flood: p99 < 100 ms (the absolute target, unchanged), and the
    flood adds under a quarter of a CPU-second per second to the server's
    event loop compared with the baseline (CPU time is work done: others' load
    on the shared host does not inflate it as it inflates latency; measured
    at load average 18 on 2 cores the flood added nothing: 0.05-0.17 s/s
    with and without it). Each attempt prints both figures. With the limits lifted every
    attempt reaches the hashing pool, so this also shows that the pool and the
    tarpit, not the rate limit alone, protect call-taking. A host too loaded to
    measure (another suite's burst) gets up to three attempts, all reported.
    """
    attempts = []
    for _ in range(3):
        base, result = phases(floods=[False, True], lifted=lifted, seconds=5, port=free_port())
        attempts.append((base, result))
        counts = result["login_status_counts"]
        # The flood really happened: every client was answered, most of them more than
        # once (refusals come after the tarpit's delay, so ~1 answer per client-second).
        assert sum(counts.values()) >= 2 * CLIENTS, counts
        if lifted:
            assert counts.get("401", 0) >= 5 and counts.get("503", 0) > 0, counts
        else:
            assert counts.get("429", 0) > 0, counts
        assert result["calls"] >= 50, result
        assert result["server_rss_mib_peak"] < result["server_rss_mib_before"] + 400, result
        if result["p99_ms"] < 100 and result["loop_cpu_per_s"] - base["loop_cpu_per_s"] < 0.25:
            break
    summary = [
        {
            "p99_ms": (round(b["p99_ms"], 1), round(f["p99_ms"], 1)),
            "loop_cpu_per_s": (round(b["loop_cpu_per_s"], 3), round(f["loop_cpu_per_s"], 3)),
            "calls": (b["calls"], f["calls"]),
            "load_1m": round(f["load_average_1m"], 1),
        }
        for b, f in attempts
    ]
    print(f"login flood ({'limits lifted' if lifted else 'default limits'}): {summary}")
    base, result = attempts[-1]
    assert result["p99_ms"] < 100, summary
    assert result["loop_cpu_per_s"] - base["loop_cpu_per_s"] < 0.25, summary
