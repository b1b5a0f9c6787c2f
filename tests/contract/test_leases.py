"""The lease port (`vigil.store.ports.Leases`) on every store adapter: claims, fencing, expiry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.contract.conftest import StoreFactory
from vigil.store.ports import Store

T = 1_000_000.0  # epoch seconds: the tests pass the time in


def test_a_free_name_is_claimed_with_token_one_and_renewed_with_the_same(store: Store) -> None:
    first = store.claim_lease("g", "p0", "a", now=T, ttl_s=5)
    assert first is not None
    assert (first.owner, first.token, first.expires) == ("a", 1, T + 5)
    again = store.claim_lease("g", "p0", "a", now=T + 3, ttl_s=5)
    assert again is not None
    assert (again.token, again.expires) == (1, T + 8)
    assert store.leases("g") == [again]
    assert store.leases("other group") == []


def test_another_owner_waits_for_expiry_then_takes_the_next_token(store: Store) -> None:
    assert store.claim_lease("g", "p0", "a", now=T, ttl_s=5) is not None
    assert store.claim_lease("g", "p0", "b", now=T + 4.9, ttl_s=5) is None
    taken = store.claim_lease("g", "p0", "b", now=T + 5, ttl_s=5)
    assert taken is not None
    assert (taken.owner, taken.token) == ("b", 2)
    # The old owner comes back (it was paused): refused, the lease is b's.
    assert store.claim_lease("g", "p0", "a", now=T + 6, ttl_s=5) is None


def test_an_owner_reclaiming_its_expired_lease_gets_a_new_token(store: Store) -> None:
    assert store.claim_lease("g", "p0", "a", now=T, ttl_s=5) is not None
    late = store.claim_lease("g", "p0", "a", now=T + 10, ttl_s=5)
    assert late is not None and late.token == 2


def test_release_frees_the_name_at_once_and_keeps_the_token(store: Store) -> None:
    assert store.claim_lease("g", "p0", "a", now=T, ttl_s=60) is not None
    assert not store.release_lease("g", "p0", "b")  # not b's to release
    assert store.release_lease("g", "p0", "a")
    assert not store.release_lease("g", "p0", "a")  # already released
    taken = store.claim_lease("g", "p0", "b", now=T + 1, ttl_s=60)
    assert taken is not None and taken.token == 2


def test_a_fenced_cursor_moves_only_under_the_lease_in_force(store: Store) -> None:
    a = store.claim_lease("g", "p0", "a", now=T, ttl_s=5)
    assert a is not None
    assert store.save_cursor_fenced("rules@p0", 10, lease=a, now=T + 1)
    assert store.cursor("rules@p0") == 10
    # Expired: a's save is refused even before anyone else claims.
    assert not store.save_cursor_fenced("rules@p0", 11, lease=a, now=T + 5)
    b = store.claim_lease("g", "p0", "b", now=T + 6, ttl_s=5)
    assert b is not None
    assert not store.save_cursor_fenced("rules@p0", 12, lease=a, now=T + 6)
    assert store.save_cursor_fenced("rules@p0", 9, lease=b, now=T + 7)
    assert store.cursor("rules@p0") == 10  # a cursor never moves back
    assert store.save_cursor_fenced("rules@p0", 13, lease=b, now=T + 7)
    assert store.cursor("rules@p0") == 13


def test_leases_survive_a_reopen(open_store: StoreFactory) -> None:
    store = open_store()
    assert store.claim_lease("g", "p1", "a", now=T, ttl_s=5) is not None
    store.close()
    again = open_store()
    assert [(x.name, x.owner, x.token) for x in again.leases("g")] == [("p1", "a", 1)]
    assert again.claim_lease("g", "p1", "b", now=T + 1, ttl_s=5) is None


def test_concurrent_claims_of_a_free_name_have_one_winner(store: Store) -> None:
    def claim(owner: str) -> bool:
        return store.claim_lease("g", "p0", owner, now=T, ttl_s=5) is not None

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(claim, [f"w{i}" for i in range(8)]))
    assert won.count(True) == 1
    (lease,) = store.leases("g")
    assert lease.token == 1
