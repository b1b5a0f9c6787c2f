"""Hash-chain links for the event log and the audit log.

Each row carries the SHA-256 of the previous row's hash plus its own canonical
content; editing or deleting any row breaks every later link, and the stored
head (last seq and hash) catches a truncated tail.
"""

from __future__ import annotations

import hashlib

GENESIS = "0" * 64


def link(prev_hash: str, *parts: str | int | bytes | None) -> str:
    """Return the hash of a row given the previous hash and the row's fields in order."""
    h = hashlib.sha256(prev_hash.encode("ascii"))
    for part in parts:
        if part is None:
            data = b"\x00"
        elif isinstance(part, bytes):
            data = part
        else:
            data = str(part).encode("utf-8")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()
