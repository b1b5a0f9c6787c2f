"""The worker's registration and snapshot upload against the real API, and the camera panel's data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import auth
from vigil.app import App
from vigil.audit.roles import Role
from vigil.video.config import CamerasFile
from vigil.video.layout import CameraLayoutIn
from vigil.video.model import Box
from vigil.video.privacy import blurred_snapshot
from vigil.video.publish import layout
from vigil.video.worker import SnapshotUploader, Worker, register


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


def _layout(cfg: CamerasFile, cam: int, width: int = 160, height: int = 120) -> CameraLayoutIn:
    return layout(cfg.cameras[cam], width=width, height=height)


def test_worker_layout_reaches_the_panel_with_kinds_points_and_frame_size(
    registered: dict[str, str], app: App, client: TestClient, tokens: dict[Role, str]
) -> None:
    cfg = CamerasFile.model_validate(CAMERAS)
    up = SnapshotUploader("http://vigil", registered, transport=_Via(client))
    up.describe("cam-a", _layout(cfg, 0))
    up.describe("cam-b", _layout(cfg, 1, 320, 180))
    assert (up.described, up.failed) == (2, 0)
    cams = client.get("/api/v1/cameras", headers=auth(tokens[Role.DISPATCHER])).json()
    a, b = cams
    assert (a["layout"]["width"], a["layout"]["height"]) == (160, 120)
    assert [(z["name"], z["device_id"], z["kind"]) for z in a["layout"]["zones"]] == [
        ("gate", "cam-a.gate", "counting"),
        ("door", "cam-a.door", "line"),
    ]
    assert a["layout"]["zones"][0]["points"] == [[0, 0], [10, 0], [10, 10]]
    assert a["layout"]["zones"][1]["points"] == [[0, 5], [10, 5]]
    assert [z["name"] for z in a["zones"]] == ["door", "gate"]
    # No zones configured: the whole frame is the zone "frame".
    assert b["layout"]["zones"] == [
        {
            "name": "frame",
            "device_id": "cam-b.frame",
            "kind": "counting",
            "points": [[0, 0], [320, 0], [320, 180], [0, 180]],
        }
    ]


def test_a_zone_with_intrusion_hours_is_restricted() -> None:
    cam = dict(CAMERAS["cameras"][0])  # type: ignore[index]
    cam["zones"] = [
        {"name": "gate", "polygon": [[0, 0], [10, 0], [10, 10]], "restricted": [
            {"start": "22:00", "end": "06:00"}]}
    ]  # fmt: skip
    cfg = CamerasFile.model_validate({"cameras": [cam]})
    assert [z.kind for z in _layout(cfg, 0).zones] == ["restricted", "line"]


def _put(client: TestClient, token: str, body: object, camera: str = "cam-a") -> httpx.Response:
    r = client.put(
        f"/api/v1/cameras/{camera}/layout",
        content=json.dumps(body),
        headers={**auth(token), "Content-Type": "application/json"},
    )
    return httpx.Response(r.status_code, content=r.content, headers=r.headers)


GOOD = {"name": "gate", "kind": "counting", "points": [[0, 0], [10, 0], [10, 10]]}


@pytest.mark.parametrize(
    ("zone", "field", "words"),
    [
        (
            {**GOOD, "points": [[0, 0], [10, 10], [10, 0], [0, 10]]},
            "zones.0.points",
            "edges 0 and 2 cross",
        ),
        ({**GOOD, "points": [[0, 0], [5, 5], [10, 10]]}, "zones.0.points", "fold back"),
        ({**GOOD, "points": [[0, 0], [0, 0], [10, 10]]}, "zones.0.points", "same point"),
        ({**GOOD, "points": [[0, 0], [10, 0], [10, 500]]}, "zones.0.points.2", "outside"),
        ({**GOOD, "points": [[0, 0], [10, 0]]}, "zones.0.points", "at least 3"),
        ({**GOOD, "points": [[-1, 0], [10, 0], [10, 10]]}, "zones.0.points.0", "outside"),
        ({**GOOD, "kind": "line", "name": "door"}, "zones.0.points", "exactly 2"),
        ({**GOOD, "name": "nowhere"}, "zones.0.name", "not a registered zone"),
    ],
)
def test_bad_layouts_are_refused_naming_the_zone(
    registered: dict[str, str],
    client: TestClient,
    zone: dict[str, object],
    field: str,
    words: str,
) -> None:
    r = _put(client, registered["cam-a"], {"width": 160, "height": 120, "zones": [zone]})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert words in problem["detail"], problem
    assert problem.get("field") == field, problem


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"width": 0, "height": 120, "zones": []}, "width"),
        ({"width": 160, "height": 99_999, "zones": []}, "height"),
        ({"width": 160, "height": 120, "zones": [{**GOOD, "kind": "oval"}]}, "zones.0.kind"),
        ({"width": 160, "height": 120, "zones": [{**GOOD, "name": "../x"}]}, "zones.0.name"),
        ({"width": 160, "height": 120, "zones": [{**GOOD, "colour": "red"}]}, "zones.0.colour"),
        (
            {"width": 160, "height": 120, "zones": [{**GOOD, "points": [[0, "a"]]}]},
            "zones.0.points",
        ),
        ({"width": 160, "height": 120}, "zones"),
    ],
)
def test_malformed_layouts_are_refused_by_field(
    registered: dict[str, str], client: TestClient, body: dict[str, object], field: str
) -> None:
    r = _put(client, registered["cam-a"], body)
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith(field), r.json()


def test_layout_with_nan_or_repeated_names_is_refused(
    registered: dict[str, str], client: TestClient
) -> None:
    raw = '{"width": 160, "height": 120, "zones": [{"name": "gate", "kind": "counting", '
    raw += '"points": [[0, 0], [NaN, 0], [10, 10]]}]}'
    r = client.put(
        "/api/v1/cameras/cam-a/layout",
        content=raw,
        headers={**auth(registered["cam-a"]), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    twice = {"width": 160, "height": 120, "zones": [GOOD, GOOD]}
    r2 = _put(client, registered["cam-a"], twice)
    assert r2.status_code == 422 and "repeated" in r2.json()["detail"], r2.text
    assert r2.json()["field"] == "zones.1.name"


def test_layout_only_from_the_camera_itself_and_only_for_a_camera(
    registered: dict[str, str], client: TestClient, tokens: dict[Role, str]
) -> None:
    body = {"width": 160, "height": 120, "zones": [GOOD]}
    assert _put(client, registered["cam-b"], body).status_code == 403
    assert _put(client, registered["cam-a.gate"], body).status_code == 403
    assert _put(client, tokens[Role.SUPERVISOR], body).status_code == 403
    assert _put(client, registered["cam-a.gate"], body, camera="cam-a.gate").status_code == 404
    assert _put(client, registered["cam-a"], body, camera="cam-zz").status_code == 404
    ok = _put(client, registered["cam-a"], body)
    assert ok.status_code == 200 and ok.json()["zones"][0]["device_id"] == "cam-a.gate"


def test_a_camera_without_a_layout_says_so_and_a_broken_file_is_not_a_500(
    registered: dict[str, str], app: App, client: TestClient, tokens: dict[Role, str]
) -> None:
    cam = client.get("/api/v1/cameras/cam-b", headers=auth(tokens[Role.DISPATCHER]))
    assert cam.status_code == 200 and cam.json()["layout"] is None
    folder = Path(app.settings.data_dir, "camera-layouts")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cam-b.json").write_text("{not json", "utf-8")
    cam = client.get("/api/v1/cameras/cam-b", headers=auth(tokens[Role.DISPATCHER]))
    assert cam.status_code == 200 and cam.json()["layout"] is None


def test_worker_describes_each_camera_once_with_its_frame_size(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        cv2.imwrite(str(frames / f"{i:03d}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    cfg = CamerasFile.model_validate(
        {
            "snapshots": {"dir": str(tmp_path / "snaps")},
            "cameras": [
                {"id": "cam-x", "source": str(frames), "lat": 60.1, "lon": 24.9, "fps": 10,
                 "realtime": False, "width": 96,
                 "zones": [{"name": "gate", "polygon": [[0, 0], [30, 0], [30, 30]]}]},
            ],
        }
    )  # fmt: skip
    described: list[tuple[str, CameraLayoutIn]] = []
    worker = Worker(cfg, publish=lambda r: None, describe=lambda c, b: described.append((c, b)))
    stats = worker.run()
    assert stats.frames == 4
    assert [(c, b.width, b.height, [z.name for z in b.zones]) for c, b in described] == [
        ("cam-x", 64, 48, ["gate"])
    ]
