"""Webhook and MQTT notifications: queued, retried with backoff, never blocking."""

from __future__ import annotations

import json
import threading

import httpx

from vigil.rules.notify import Delivery, Outbox


def test_webhook_is_retried_until_it_succeeds() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503 if len(seen) < 3 else 204)

    box = Outbox(retries=3, backoff_s=0.01, transport=httpx.MockTransport(handler))
    try:
        body = json.dumps({"rule": "x", "version": 1}).encode()
        assert box.submit(Delivery("webhook", "http://hooks.test/in", body, "x@v1"))
        assert box.drain(5)
    finally:
        box.close()
    assert len(seen) == 3
    assert seen[-1].headers["content-type"] == "application/json"
    assert json.loads(seen[-1].content) == {"rule": "x", "version": 1}
    assert (box.stats.sent, box.stats.retried, box.stats.failed) == (1, 2, 0)


def test_webhook_gives_up_after_retries() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500)

    box = Outbox(retries=2, backoff_s=0.01, transport=httpx.MockTransport(handler))
    try:
        box.submit(Delivery("webhook", "http://hooks.test/in", b"{}", "x@v1"))
        assert box.drain(5)
    finally:
        box.close()
    assert len(calls) == 3
    assert box.stats.failed == 1
    assert box.stats.last_error is not None and "500" in box.stats.last_error


def test_full_queue_drops_and_counts_without_blocking() -> None:
    release = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        release.wait(5)
        return httpx.Response(200)

    box = Outbox(queue_size=2, retries=0, transport=httpx.MockTransport(handler))
    try:
        results = [
            box.submit(Delivery("webhook", "http://hooks.test/in", b"{}", "x@v1")) for _ in range(6)
        ]
        assert results.count(False) >= 3  # one in flight, two queued, the rest dropped
        assert box.stats.dropped == results.count(False)
    finally:
        release.set()
        box.close()


def test_close_interrupts_backoff() -> None:
    tried = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        tried.set()
        return httpx.Response(500)

    box = Outbox(retries=5, backoff_s=30, transport=httpx.MockTransport(handler))
    box.submit(Delivery("webhook", "http://hooks.test/in", b"{}", "x@v1"))
    assert tried.wait(5)
    box.close()  # must not wait for 30 s of backoff
    assert box.stats.failed == 1
