"""Serve the built apps: `/` the command centre, `/field/` the field unit app (a PWA:
manifest and service worker under `/field/`, so its scope is `/field/`), `/assets/*`
their hashed files."""

from __future__ import annotations

import gzip
import mimetypes
import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.staticfiles import NotModifiedResponse
from starlette.types import Scope

DIST = Path(__file__).resolve().parent / "dist"
# An asset's name carries a hash of its content: a new build is new names.
IMMUTABLE = "public, max-age=31536000, immutable"
COMPRESSIBLE = (".js", ".mjs", ".css", ".svg", ".json")


def precompress(directory: Path) -> list[Path]:
    """Write a gzip copy (`name.gz`, level 9) beside each compressible file; return them.

    Run once at build time (scripts/build-web), so the server sends the built apps
    compressed without compressing them again on every request (the map library
    alone is 1 MB: ~20 ms of the server's CPU per page load at gzip level 1).
    """
    written: list[Path] = []
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in COMPRESSIBLE:
            target = path.with_name(path.name + ".gz")
            target.write_bytes(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
            written.append(target)
    return written


class Assets(StaticFiles):
    """The apps' hashed files: cached for good, and sent as their gzip copy when built.

    A file's `.gz` copy (see precompress) is sent to a client that accepts gzip, with
    `Content-Encoding: gzip` and its own ETag; a copy older than its file is ignored.
    """

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """Return the file, or its gzip copy, with caching headers."""
        request = Headers(scope=scope)
        packed = Path(f"{os.fspath(full_path)}.gz")
        packed_stat = _stat(packed) if "gzip" in request.get("accept-encoding", "") else None
        response: Response
        if packed_stat is None or packed_stat.st_mtime < stat_result.st_mtime:
            response = super().file_response(full_path, stat_result, scope, status_code)
        else:
            response = FileResponse(
                packed,
                status_code=status_code,
                stat_result=packed_stat,
                media_type=mimetypes.guess_type(os.fspath(full_path))[0],
                headers={"Content-Encoding": "gzip"},
            )
            if self.is_not_modified(response.headers, request):
                response = NotModifiedResponse(response.headers)
        response.headers.update({"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"})
        return response


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


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
        api.mount("/assets", Assets(directory=dist / "assets"), name="ui-assets")
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
