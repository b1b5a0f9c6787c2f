"""A JSON array kept as runs of elements, each run compressed once, so a list re-renders cheaply.

The active-incident list is polled by every board: thousands of incidents, of which a
few change between two polls. Gzipping the whole ~1 MB array again on each poll was
most of the poll's CPU (3 ms at 2,000 incidents, level 1). Here the array is cut
into runs at content-defined points (after an element whose key hashes to 0 modulo
`span`, once a run holds half a span), so a change, an insertion or a removal alters
only the run it falls in and the runs keep their boundaries around it. Each run is
compressed once on its own (raw deflate, byte-aligned, not final), and a response is
the runs' compressed bytes concatenated between a gzip header and trailer: one valid
gzip stream whose content is exactly the JSON array. Runs of ~100 incidents are ~40 kB,
beyond the 32 kB deflate window, so compressing them apart costs 5-10 % in size.

The gzip trailer needs the CRC-32 of the whole array; each run remembers the CRC it
produced from the CRC before it, so an unchanged prefix of runs costs a lookup each.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

GZIP_LEVEL = 1  # the API's gzip level (nginx's default), here and in its middleware
GZIP_MINIMUM_BYTES = 1024  # smaller bodies go out as they are

_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0


def _deflate(data: bytes, *, final: bool) -> bytes:
    """Compress `data` alone as raw deflate; byte-aligned and open unless `final`."""
    c = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


_OPEN = _deflate(b"[", final=False)
_CLOSE = _deflate(b"]", final=True)
_OPEN_CRC = zlib.crc32(b"[")


@dataclass(slots=True, eq=False)
class _Run(Generic[T]):
    """Consecutive elements, their JSON (comma-led unless first) and its deflate."""

    items: tuple[T, ...]
    payload: bytes
    deflated: bytes
    crcs: dict[int, int] = field(default_factory=dict)  # CRC before this run -> after it

    def crc_from(self, crc: int) -> int:
        after = self.crcs.get(crc)
        if after is None:
            after = zlib.crc32(self.payload, crc)
            if len(self.crcs) >= 8:
                self.crcs.clear()
            self.crcs[crc] = after
        return after


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendering of an array: its JSON and, on demand, the same JSON gzipped."""

    runs: tuple[_Run[Any], ...]

    @property
    def size(self) -> int:
        """Length of the JSON in bytes."""
        return 2 + sum(len(r.payload) for r in self.runs)

    def json(self) -> bytes:
        """Return the JSON array."""
        return b"[" + b"".join(r.payload for r in self.runs) + b"]"

    def gzip(self) -> bytes:
        """Return the JSON array as one gzip stream (RFC 1952)."""
        crc = _OPEN_CRC
        for r in self.runs:
            crc = r.crc_from(crc)
        crc = zlib.crc32(b"]", crc)
        trailer = struct.pack("<II", crc, self.size & 0xFFFFFFFF)
        return b"".join((_GZIP_HEADER, _OPEN, *(r.deflated for r in self.runs), _CLOSE, trailer))


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Return whether a request's Accept-Encoding takes gzip (as the gzip middleware reads it)."""
    return "gzip" in (accept_encoding or "")


class RunCache(Generic[T]):
    """Renders arrays of elements (each with a key and a JSON form) from cached runs.

    An element is reused while it is the same value (`==`, which is an identity check
    for the immutable values the CAD state holds); a run while all its elements are.
    Runs not used for `limit` new runs are dropped (two generations: bounded memory; a
    run of ~100 incidents holds ~45 kB, so the default keeps at most ~25 MB, and one
    generation covers lists of 25,000 incidents).
    """

    def __init__(
        self,
        *,
        key: Callable[[T], Hashable],
        form: Callable[[T], bytes],
        span: int = 64,
        limit: int = 256,
    ) -> None:
        if span < 1 or span & (span - 1):
            raise ValueError("span must be a power of two")
        self._key = key
        self._form = form
        self._mask = span - 1
        # Runs of at least half a span (no tiny runs to compress apart), at most four spans.
        self._min, self._max = max(1, span // 2), 4 * span
        self._limit = limit
        self._new: dict[tuple[bool, tuple[Hashable, ...]], _Run[T]] = {}
        self._old: dict[tuple[bool, tuple[Hashable, ...]], _Run[T]] = {}

    def render(self, items: Sequence[T]) -> Rendered:
        """Return the array of `items`' JSON forms, in order."""
        runs: list[_Run[T]] = []
        batch: list[T] = []
        keys: list[Hashable] = []
        mask, key_of, shortest, longest = self._mask, self._key, self._min, self._max
        for item in items:
            k = key_of(item)
            batch.append(item)
            keys.append(k)
            if (hash(k) & mask == 0 and len(batch) >= shortest) or len(batch) >= longest:
                runs.append(self._run(batch, keys, first=not runs))
                batch, keys = [], []
        if batch:
            runs.append(self._run(batch, keys, first=not runs))
        return Rendered(tuple(runs))

    def _run(self, batch: list[T], keys: list[Hashable], *, first: bool) -> _Run[T]:
        cache_key = (first, tuple(keys))
        items = tuple(batch)
        run = self._new.get(cache_key)
        if run is None:
            run = self._old.get(cache_key)
            if run is not None and run.items == items:
                self._store(cache_key, run)
        if run is not None and run.items == items:
            return run
        body = b",".join(self._form(i) for i in items)
        payload = body if first else b"," + body
        run = _Run(items=items, payload=payload, deflated=_deflate(payload, final=False))
        self._store(cache_key, run)
        return run

    def _store(self, cache_key: tuple[bool, tuple[Hashable, ...]], run: _Run[T]) -> None:
        if len(self._new) >= self._limit:
            self._old, self._new = self._new, {}
        self._new[cache_key] = run
