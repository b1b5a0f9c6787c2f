"""The built apps are served where browsers and service workers expect them."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.middleware.gzip import GZipMiddleware

from vigil.web.static import install_ui, precompress


def fake_dist(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "field").mkdir()
    (root / "index.html").write_text("<html>centre</html>")
    (root / "field.html").write_text("<html>field</html>")
    (root / "field" / "manifest.webmanifest").write_text('{"name": "x"}')
    (root / "field" / "sw.js").write_text("self.x = 1;")
    return root


def test_field_app_manifest_and_service_worker(tmp_path: Path) -> None:
    api = FastAPI()
    install_ui(api, fake_dist(tmp_path / "dist"))
    with TestClient(api) as c:
        r = c.get("/field", follow_redirects=False)
        assert r.status_code == 308
        assert r.headers["location"] == "/field/"  # the service worker's scope
        page = c.get("/field/")
        assert page.text == "<html>field</html>"
        assert page.headers["cache-control"] == "no-cache"
        m = c.get("/field/manifest.webmanifest")
        assert m.headers["content-type"].startswith("application/manifest+json")
        sw = c.get("/field/sw.js")
        assert sw.headers["content-type"].startswith("text/javascript")
        assert c.get("/field/icon-512.png").status_code == 404  # not in this fake build
        assert c.get("/").text == "<html>centre</html>"


def test_assets_are_sent_from_their_gzip_copy_and_cached_for_good(tmp_path: Path) -> None:
    dist = fake_dist(tmp_path / "dist")
    script = "console.log('map');" * 200
    (dist / "assets" / "map-abc123.js").write_text(script)
    (dist / "assets" / "worker-abc123.mjs").write_text(script)
    written = precompress(dist / "assets")
    assert sorted(p.name for p in written) == ["map-abc123.js.gz", "worker-abc123.mjs.gz"]
    api = FastAPI()
    api.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=1)  # as the API has
    install_ui(api, dist)
    with TestClient(api) as c:
        r = c.get("/assets/map-abc123.js", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["content-type"].startswith("text/javascript")
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert r.headers["vary"] == "Accept-Encoding"
        # The copy's bytes, not compressed again by the middleware.
        assert (
            int(r.headers["content-length"])
            == (dist / "assets" / "map-abc123.js.gz").stat().st_size
        )
        assert r.text == script
        worker = c.get("/assets/worker-abc123.mjs", headers={"Accept-Encoding": "gzip"})
        assert worker.headers["content-type"].startswith("text/javascript")  # a module worker
        again = c.get(
            "/assets/map-abc123.js",
            headers={"Accept-Encoding": "gzip", "If-None-Match": r.headers["etag"]},
        )
        assert again.status_code == 304
        assert again.headers["cache-control"] == "public, max-age=31536000, immutable"
        plain = c.get("/assets/map-abc123.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.text == script
        assert plain.headers["etag"] != r.headers["etag"]  # another representation


def test_a_gzip_copy_older_than_its_file_is_not_sent(tmp_path: Path) -> None:
    dist = fake_dist(tmp_path / "dist")
    asset = dist / "assets" / "app.css"
    asset.write_text("body { color: red; }" * 100)
    (packed,) = precompress(dist / "assets")
    asset.write_text("body { color: blue; }" * 100)
    os.utime(packed, (asset.stat().st_mtime - 10, asset.stat().st_mtime - 10))
    api = FastAPI()
    install_ui(api, dist)
    with TestClient(api) as c:
        r = c.get("/assets/app.css", headers={"Accept-Encoding": "gzip"})
        assert "blue" in r.text
        assert "content-encoding" not in r.headers
