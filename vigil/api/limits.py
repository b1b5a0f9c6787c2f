"""Refuse oversized bodies and over-limit logins before they are read into memory."""

from __future__ import annotations

import asyncio
import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.api.problems import problem
from vigil.auth.login import Logins


class BodyLimit:
    """ASGI middleware: 413 for bodies over `limit` bytes (declared or streamed)."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check Content-Length up front and count streamed bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit():
            # The server enforces that a declared length is the real one.
            if int(declared) > self.limit:
                await self._refuse(scope, receive, send, f"body of {int(declared)} bytes")
                return
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): buffer up to the limit, then replay.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._refuse(scope, receive, send, "streamed body")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, what: str) -> None:
        response = problem(
            413,
            "Payload too large",
            f"{what} exceeds the limit of {self.limit} bytes",
            kind="payload-too-large",
            instance=scope["path"],
            field="body",
        )
        await response(scope, receive, send)


class Tarpit:
    """Delay refusals (429, 503) so a closed-loop flood slows itself down.

    At most `max_delayed` refusals wait at once (each is one sleeping coroutine,
    no thread, no body); beyond that they are answered at once. Runs on the
    event loop only, so a plain counter is enough.
    """

    def __init__(self, *, delay_s: float, max_delayed: int) -> None:
        self.delay_s = delay_s
        self.max_delayed = max_delayed
        self.waiting = 0
        self.delayed = 0

    async def wait(self, retry_after_s: float | None = None) -> None:
        """Sleep before a refusal is sent (never longer than the client must wait)."""
        delay = self.delay_s if retry_after_s is None else min(self.delay_s, retry_after_s)
        if delay <= 0 or self.waiting >= self.max_delayed:
            return
        self.waiting += 1
        self.delayed += 1
        try:
            await asyncio.sleep(delay)
        finally:
            self.waiting -= 1


class LoginGate:
    """ASGI middleware: refuse a login from a client over its limit before any work.

    The check is one dictionary lookup: no body read, no JSON parsed, no route
    matched, no hashing; the 429 goes out after the tarpit's delay.
    """

    def __init__(self, app: ASGIApp, *, path: str, logins: Logins, tarpit: Tarpit) -> None:
        self.app = app
        self.path = path
        self.logins = logins
        self.tarpit = tarpit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through except an over-limit POST to the login path."""
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.logins.client_wait_s(client[0] if client else "unknown")
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        await self.tarpit.wait(wait)
        response = problem(
            429,
            "Too many requests",
            "too many login attempts from this address; try again later",
            kind="too-many-requests",
            instance=scope["path"],
        )
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        await response(scope, receive, send)
