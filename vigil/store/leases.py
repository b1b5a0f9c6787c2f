"""The one decision every lease adapter makes alike: may this owner have the lease now?"""

from __future__ import annotations

from vigil.store.ports import Lease


def claimed(
    held: Lease | None, *, group: str, name: str, owner: str, now: float, ttl_s: float
) -> Lease | None:
    """Return the lease `owner` holds after claiming at `now`, or None while another has it.

    A free name starts at token 1; an expired lease, or one that changes hands,
    takes the next token; the owner renewing an unexpired lease keeps its token
    (so its fenced writes stay valid). An expiry never moves back.
    """
    if ttl_s <= 0:
        raise ValueError(f"lease ttl must be positive, not {ttl_s}")
    expires = now + ttl_s
    if held is None:
        return Lease(group=group, name=name, owner=owner, expires=expires, token=1)
    live = held.expires > now
    if live and held.owner != owner:
        return None
    token = held.token if live else held.token + 1
    return Lease(
        group=group, name=name, owner=owner, expires=max(expires, held.expires), token=token
    )


def fenced(held: Lease | None, lease: Lease, now: float) -> bool:
    """Return whether `lease` (owner and token) is still the one in force at `now`."""
    return (
        held is not None
        and held.owner == lease.owner
        and held.token == lease.token
        and held.expires > now
    )
