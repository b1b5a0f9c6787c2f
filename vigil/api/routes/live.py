"""The live feed endpoint: Server-Sent Events with resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from vigil.api.live import LiveFeed, Subscriber
from vigil.api.security import MAX_SEQ, AllowStream, Principal
from vigil.audit.roles import VIEWERS
from vigil.core.errors import ValidationError


@asynccontextmanager
async def lifespan(api: FastAPI) -> AsyncIterator[None]:
    """Run one live feed per served API, bound to the server's event loop."""
    app = api.state.vigil
    # The server's time rides on the feed every few seconds: the UI's one clock.
    feed = LiveFeed(
        app.store,
        app.bus,
        queue_size=app.settings.server.live_buffer,
        heartbeat_s=5.0,
        flush_s=app.settings.server.live_flush_s,
        clock=app.clock.now,
    )
    feed.start(asyncio.get_running_loop())
    api.state.live = feed
    try:
        yield
    finally:
        feed.close()


router = APIRouter(tags=["live"], lifespan=lifespan)


class EventStream(Response):
    """An SSE response written with plain ASGI sends: one send per write, nothing between.

    (Starlette's StreamingResponse runs a task group per stream; at 10,000 streams
    the feed's cost is per write, so each write here is one ``send`` and nothing
    else.) A client that goes away ends its subscriber at once, not at its next write.
    """

    media_type = "text/event-stream"

    def __init__(self, sub: Subscriber, chunks: AsyncGenerator[bytes, None]) -> None:
        # No body, so no Content-Length: the server frames the stream as chunked.
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._sub = sub
        self._chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the head, then every chunk of the stream until it ends or the client leaves."""
        sub = self._sub
        gone = asyncio.ensure_future(_disconnect(receive))
        gone.add_done_callback(lambda _: sub.end())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for chunk in self._chunks:
                if gone.done():
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not gone.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()
            await self._chunks.aclose()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def live_feed(request: Request) -> LiveFeed:
    """Return the API's live feed."""
    feed: LiveFeed = request.app.state.live
    return feed


def _resume_point(last_event_id: str | None, after: int | None, request: Request) -> int:
    if last_event_id is not None and last_event_id.strip():
        try:
            value = int(last_event_id.strip())
        except ValueError:
            raise ValidationError(
                "Last-Event-ID must be an event sequence number", field="Last-Event-ID"
            ) from None
        if not 0 <= value <= MAX_SEQ:
            raise ValidationError(
                f"Last-Event-ID must be between 0 and {MAX_SEQ}", field="Last-Event-ID"
            )
        return value
    if after is not None:
        return after
    # No resume point: start from now (the feed's head: no store query on the loop).
    return live_feed(request).head


@router.get(
    "/live",
    response_class=EventStream,
    status_code=200,  # EventStream's __init__ takes no status_code for FastAPI to read
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE frames."}},
)
async def live(
    request: Request,
    who: Annotated[Principal, Depends(AllowStream(VIEWERS))],
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_SEQ, description="Resume after this event sequence number."),
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventStream:
    """Stream every change the caller's role may see; resume with Last-Event-ID or ?after=."""
    feed = live_feed(request)
    start = _resume_point(last_event_id, after, request)
    return EventStream(*feed.open(who.role, start))
