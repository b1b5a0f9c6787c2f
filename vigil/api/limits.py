"""Refuse oversized request bodies before they are read into memory."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.api.problems import problem


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
