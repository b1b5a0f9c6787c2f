"""Lists rendered from cached, separately compressed runs: same JSON, one valid gzip stream."""

from __future__ import annotations

import gzip
import json
import zlib

import httpx
import pytest

from vigil.api.runs import RunCache, accepts_gzip


def _cache(forms: list[str], span: int = 4) -> RunCache[tuple[str, int]]:
    def form(item: tuple[str, int]) -> bytes:
        forms.append(item[0])
        return json.dumps({"id": item[0], "v": item[1], "pad": "x" * 40}).encode()

    return RunCache(key=lambda item: item[0], form=form, span=span)


def _items(n: int, version: int = 0) -> list[tuple[str, int]]:
    return [(f"INC-{i:05d}", version) for i in range(n)]


def _plain(items: list[tuple[str, int]]) -> bytes:
    return (
        b"["
        + b",".join(json.dumps({"id": k, "v": v, "pad": "x" * 40}).encode() for k, v in items)
        + b"]"
    )


@pytest.mark.parametrize("span", [1, 4, 64])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 64, 700])
def test_json_and_gzip_are_the_array(n: int, span: int) -> None:
    items = _items(n)
    rendered = _cache([], span=span).render(items)
    assert rendered.json() == _plain(items)
    assert rendered.size == len(_plain(items))
    packed = rendered.gzip()
    assert gzip.decompress(packed) == _plain(items)  # checks the CRC-32 and the length
    assert zlib.decompress(packed, 16 + zlib.MAX_WBITS) == _plain(items)
    decoded = httpx.Response(200, content=packed, headers={"Content-Encoding": "gzip"})
    assert json.loads(decoded.content) == json.loads(_plain(items))


def test_a_change_re_renders_only_its_run() -> None:
    rendered: list[str] = []
    cache = _cache(rendered, span=8)
    items = _items(400)
    first = cache.render(items)
    assert sorted(rendered) == sorted(k for k, _ in items)
    rendered.clear()
    assert cache.render(items).gzip() == first.gzip()
    assert rendered == []  # nothing rendered or compressed again
    changed = list(items)
    changed[200] = (changed[200][0], 1)  # one element is another value now
    del changed[100]
    changed.insert(300, ("INC-new", 0))
    again = cache.render(changed)
    assert again.json() == _plain(changed)
    assert gzip.decompress(again.gzip()) == _plain(changed)
    assert {"INC-00200", "INC-new"} <= set(rendered)
    assert len(rendered) < 80  # the runs around the edits, not the 400


def test_old_runs_are_dropped_past_the_limit() -> None:
    cache: RunCache[tuple[str, int]] = RunCache(
        key=lambda item: item[0], form=lambda item: b"{}", span=1, limit=10
    )
    for version in range(50):
        assert cache.render(_items(5, version)).json() == b"[" + b",".join([b"{}"] * 5) + b"]"
    assert len(cache._new) <= 10 and len(cache._old) <= 10


def test_span_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        RunCache(key=lambda item: item, form=lambda item: b"1", span=3)


def test_accepts_gzip_reads_accept_encoding_as_the_middleware_does() -> None:
    assert accepts_gzip("gzip, deflate, br")
    assert not accepts_gzip("deflate")
    assert not accepts_gzip(None)
