"""The worker's registration and snapshot upload against the real API, and the camera panel's data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.app import App
from vigil.audit.roles import Role
from vigil.video.config import CamerasFile
from vigil.video.model import Box
from vigil.video.privacy import blurred_snapshot
from vigil.video.worker import SnapshotUploader, register


class _Via(httpx.BaseTransport):
    """An httpx transport that sends requests to a Starlette TestClient."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        r = self._client.request(
            request.method, request.url.path, content=request.read(), headers=dict(request.headers)
        )
        return httpx.Response(r.status_code, content=r.content, headers=r.headers)


CAMERAS = {
    "registration": {"url": "http://vigil", "token_env": "VIGIL_TEST_VIDEO_TOKEN"},
    "cameras": [
        {
            "id": "cam-a",
            "source": "rtsp://10.0.0.1/stream",
            "lat": 60.17,
            "lon": 24.94,
            "zones": [{"name": "gate", "polygon": [[0, 0], [10, 0], [10, 10]]}],
            "lines": [{"name": "door", "a": [0, 5], "b": [10, 5]}],
        },
        {"id": "cam-b", "source": "rtsp://10.0.0.2/stream", "lat": 60.18, "lon": 24.95},
    ],
}


@pytest.fixture
def registered(
    app: App, client: TestClient, tokens: dict[Role, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.setenv("VIGIL_TEST_VIDEO_TOKEN", tokens[Role.SUPERVISOR])
    return register(CamerasFile.model_validate(CAMERAS), transport=_Via(client))


def test_registration_creates_camera_zone_and_line_devices(
    registered: dict[str, str], client: TestClient, tokens: dict[Role, str]
) -> None:
    assert sorted(registered) == ["cam-a", "cam-a.door", "cam-a.gate", "cam-b", "cam-b.frame"]
    cams = client.get("/api/v1/cameras", headers=auth(tokens[Role.DISPATCHER])).json()
    assert [c["id"] for c in cams] == ["cam-a", "cam-b"]
    assert [z["device_id"] for z in cams[0]["zones"]] == ["cam-a.door", "cam-a.gate"]
    assert cams[0]["snapshot_url"] is None


def test_snapshot_upload_and_counts_for_the_panel(
    registered: dict[str, str], app: App, client: TestClient, tokens: dict[Role, str]
) -> None:
    frame = np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    jpeg = blurred_snapshot(frame, [Box(10, 10, 60, 100)])
    up = SnapshotUploader("http://vigil", registered, transport=_Via(client))
    up("cam-a", jpeg)
    assert (up.sent, up.failed) == (1, 0)
    obs = {
        "device_id": "cam-a.gate",
        "stream": "count",
        "seq": 1,
        "value": 3,
        "unit": "people",
        "ts": app.clock.now().isoformat(),
        "attrs": {"class": "person"},
    }
    r = client.post(
        "/api/v1/observations", content=json.dumps(obs), headers=auth(registered["cam-a.gate"])
    )
    assert r.status_code == 200, r.text
    cam = client.get("/api/v1/cameras/cam-a", headers=auth(tokens[Role.DISPATCHER])).json()
    gate = next(z for z in cam["zones"] if z["device_id"] == "cam-a.gate")
    assert gate["counts"] == {"person": 3.0}
    assert cam["snapshot_url"] == "/api/v1/cameras/cam-a/snapshot"
    got = client.get(cam["snapshot_url"], headers=auth(tokens[Role.DISPATCHER]))
    assert got.status_code == 200 and got.content == jpeg
    assert got.headers["content-type"] == "image/jpeg"


def test_snapshot_upload_is_refused_when_not_a_jpeg_or_not_the_camera(
    registered: dict[str, str], client: TestClient
) -> None:
    r = client.post(
        "/api/v1/cameras/cam-a/snapshot", content=b"GIF89a", headers=auth(registered["cam-a"])
    )
    assert r.status_code == 422 and "JPEG" in r.text
    r = client.post(
        "/api/v1/cameras/cam-a/snapshot", content=b"\xff\xd8x", headers=auth(registered["cam-b"])
    )
    assert r.status_code == 403


def test_registration_needs_the_token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIL_TEST_VIDEO_TOKEN", raising=False)
    from vigil.core.errors import ConfigError  # noqa: PLC0415

    with pytest.raises(ConfigError, match="VIGIL_TEST_VIDEO_TOKEN"):
        register(CamerasFile.model_validate(CAMERAS))
    assert "VIGIL_TEST_VIDEO_TOKEN" not in os.environ


def test_snapshots_of_the_server_live_under_its_data_dir(
    registered: dict[str, str], app: App, client: TestClient
) -> None:
    jpeg = blurred_snapshot(np.zeros((40, 40, 3), np.uint8), [])
    client.post("/api/v1/cameras/cam-b/snapshot", content=jpeg, headers=auth(registered["cam-b"]))
    assert list(Path(app.settings.data_dir, "camera-snapshots", "cam-b").glob("*.jpg"))
