"""Serve the built apps: `/` the command centre, `/field/` the field unit app (a PWA:
manifest and service worker under `/field/`, so its scope is `/field/`), `/assets/*`
their hashed files."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
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
    _install_field(api, dist)
    _install_report(api, dist)


_FIELD_FILES = {
    "manifest.webmanifest": "application/manifest+json",
    "sw.js": "text/javascript",
    "icon.svg": "image/svg+xml",
    "icon-192.png": "image/png",
    "icon-512.png": "image/png",
}


def _install_field(api: FastAPI, dist: Path) -> None:
    """Serve the field unit app at `/field/` with its manifest and service worker."""
    page_file = dist / "field.html"

    def field_page() -> Response:
        if not page_file.is_file():
            return HTMLResponse(_NOT_BUILT, status_code=503)
        return FileResponse(page_file, headers={"Cache-Control": "no-cache"})

    def to_slash() -> Response:
        return RedirectResponse("/field/", status_code=308)

    api.add_api_route("/field", to_slash, methods=["GET"], include_in_schema=False)
    api.add_api_route("/field/", field_page, methods=["GET"], include_in_schema=False)
    for name, media in _FIELD_FILES.items():
        path = dist / "field" / name

        def serve(path: Path = path, media: str = media) -> Response:
            if not path.is_file():
                return Response(status_code=404)
            # The service worker must be re-checked on every load to update.
            return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})

        api.add_api_route(f"/field/{name}", serve, methods=["GET"], include_in_schema=False)


def _install_report(api: FastAPI, dist: Path) -> None:
    """Serve the public citizen-report form (no login) at `/report`, a page of its own."""
    report = dist / "report.html"

    def report_page() -> Response:
        if not report.is_file():
            return HTMLResponse(_NOT_BUILT, status_code=503)
        return FileResponse(report, headers={"Cache-Control": "no-cache"})

    api.add_api_route("/report", report_page, methods=["GET"], include_in_schema=False)
