"""Serve the built single-page app: `/` is the page, `/assets/*` its hashed files."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DIST = Path(__file__).resolve().parent / "dist"

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vigil</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Vigil</h1>
<p>The command-centre UI has not been built in this installation.</p>
<p>Build it with <code>scripts/build-web</code> (runs <code>npm ci &amp;&amp; npm run build</code>
in <code>vigil/web</code>), then restart <code>vigil serve</code>.</p>
<p>The HTTP API is available: <a href="/docs">/docs</a>.</p>
</body></html>
"""


def built(dist: Path = DIST) -> bool:
    """Return whether the UI has been built."""
    return (dist / "index.html").is_file()


def install_ui(api: FastAPI, dist: Path = DIST) -> None:
    """Serve the UI at `/` (or a page saying how to build it)."""
    if built(dist):
        api.mount("/assets", StaticFiles(directory=dist / "assets"), name="ui-assets")
        index = dist / "index.html"

        def page() -> Response:
            # The page is tiny and names hashed assets: never cache it, cache them.
            return FileResponse(index, headers={"Cache-Control": "no-cache"})

    else:

        def page() -> Response:
            return HTMLResponse(_NOT_BUILT)

    api.add_api_route("/", page, methods=["GET"], include_in_schema=False)
