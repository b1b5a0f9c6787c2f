"""The built apps are served where browsers and service workers expect them."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from vigil.web.static import install_ui


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
