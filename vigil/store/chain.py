"""Hash-chain links for the event log and the audit log.

Each row carries the SHA-256 of the previous row's hash plus its own canonical
content; editing or deleting any row breaks every later link, and the stored
head (last seq and hash) catches a truncated tail.
"""

from __future__ import annotations

import hashlib

GENESIS = "0" * 64


def link(prev_hash: str, *parts: str | int | bytes | None) -> str:
    """Return the hash of a row given the previous hash and the row's fields in order.

    Each field is framed as a type tag, a length and its bytes, so no two
    different rows hash alike: NULL (tag N, no bytes) differs from "" and from
    "\\x00", the integer 1 from the string "1", text from the same bytes.
    """
    h = hashlib.sha256(prev_hash.encode("ascii"))
    for part in parts:
        if part is None:
            tag, data = b"N", b""
        elif isinstance(part, bytes):
            tag, data = b"B", part
        elif isinstance(part, bool):
            raise TypeError("a hashed field is text, bytes, an integer or NULL, not a bool")
        elif isinstance(part, int):
            tag, data = b"I", str(part).encode("ascii")
        else:
            tag, data = b"S", part.encode("utf-8")
        h.update(tag)
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()
