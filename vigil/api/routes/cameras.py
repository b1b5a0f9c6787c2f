"""Cameras for the command centre: latest counts per zone and the latest blurred snapshot.

A camera is a registered ``camera_analytics`` device whose id has no dot; its
zones and lines are the devices ``<camera>.<name>`` (see vigil/video/publish.py).
The worker uploads a snapshot only after blurring every person, vehicle and
moving region (vigil/video/privacy.py); the server keeps the latest ones for
the personal-data retention period and serves them to operators.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from vigil.api.security import Allow, AppDep, Principal
from vigil.audit.roles import VIEWERS, Role
from vigil.core.errors import ForbiddenError, NotFoundError, ValidationError
from vigil.ingest.model import DeviceKind
from vigil.video.privacy import SnapshotStore

router = APIRouter(tags=["cameras"])
DEVICES = frozenset({Role.DEVICE})
MAX_SNAPSHOT = 2 * 1024 * 1024


class ZoneCountsOut(BaseModel):
    """The latest readings of one zone or line of a camera."""

    device_id: str
    zone: str | None
    lat: float
    lon: float
    counts: dict[str, float]  # class -> latest count (most at once in the last interval)
    density: float | None
    behaviour: str | None  # kind of the latest behaviour reading while it is on
    observed_at: datetime | None


class CameraOut(BaseModel):
    """A camera with its zones' latest counts."""

    id: str
    label: str
    lat: float
    lon: float
    online: bool | None
    zones: list[ZoneCountsOut]
    snapshot_url: str | None
    snapshot_at: datetime | None


def _store(app: AppDep) -> SnapshotStore:
    return SnapshotStore(
        app.settings.data_dir / "camera-snapshots",
        retention_days=app.settings.audit.personal_data_retention_days,
    )


StoreDep = Annotated[SnapshotStore, Depends(_store)]


def _latest(store: SnapshotStore, camera: str) -> Path | None:
    folder = store.root / camera
    if not folder.is_dir():
        return None
    files = sorted(folder.glob("*.jpg"))
    return files[-1] if files else None


def _camera(app: AppDep, store: SnapshotStore, camera_id: str) -> CameraOut:
    ingest = app.ingest
    cam = ingest.registry.get(camera_id)
    if cam.kind is not DeviceKind.CAMERA_ANALYTICS or "." in cam.id:
        raise NotFoundError(f"{camera_id!r} is not a camera", field="camera_id")
    zones: list[ZoneCountsOut] = []
    for d in ingest.registry.all():
        if not d.id.startswith(cam.id + "."):
            continue
        latest = ingest.status(d.id).latest
        counts = {
            str(v.attrs.get("class", v.stream)): v.value
            for v in latest
            if v.stream in {"count", "crossed_in", "crossed_out"}
        }
        density = next((v.value for v in latest if v.stream == "density"), None)
        behaviour = next(
            (str(v.attrs.get("kind")) for v in latest if v.stream == "behaviour" and v.value >= 1),
            None,
        )
        when = max((v.observed_at for v in latest), default=None)
        zones.append(
            ZoneCountsOut(
                device_id=d.id,
                zone=d.zone,
                lat=d.location.lat,
                lon=d.location.lon,
                counts=counts,
                density=density,
                behaviour=behaviour,
                observed_at=when,
            )
        )
    status = ingest.status(cam.id)
    online = next((v.value >= 1 for v in status.latest if v.stream == "online"), None)
    snap = _latest(store, cam.id)
    return CameraOut(
        id=cam.id,
        label=cam.label,
        lat=cam.location.lat,
        lon=cam.location.lon,
        online=online,
        zones=zones,
        snapshot_url=None if snap is None else f"/api/v1/cameras/{cam.id}/snapshot",
        snapshot_at=None if snap is None else datetime.fromtimestamp(snap.stat().st_mtime, tz=UTC),
    )


@router.get("/cameras")
def list_cameras(
    app: AppDep, store: StoreDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> list[CameraOut]:
    """List cameras with their zones' latest counts and snapshot links."""
    ids = [
        d.id
        for d in app.ingest.registry.all()
        if d.kind is DeviceKind.CAMERA_ANALYTICS and "." not in d.id
    ]
    return [_camera(app, store, i) for i in ids]


@router.get("/cameras/{camera_id}")
def get_camera(
    camera_id: str, app: AppDep, store: StoreDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> CameraOut:
    """Return one camera."""
    return _camera(app, store, camera_id)


@router.get("/cameras/{camera_id}/snapshot", response_class=Response)
def get_snapshot(
    camera_id: str, app: AppDep, store: StoreDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> Response:
    """Return the camera's latest blurred snapshot (JPEG)."""
    app.ingest.registry.get(camera_id)
    snap = _latest(store, camera_id)
    if snap is None:
        raise NotFoundError(f"camera {camera_id!r} has no snapshot", field="camera_id")
    return Response(snap.read_bytes(), media_type="image/jpeg")


@router.post("/cameras/{camera_id}/snapshot", status_code=201)
async def post_snapshot(
    camera_id: str,
    request: Request,
    app: AppDep,
    store: StoreDep,
    who: Annotated[Principal, Depends(Allow(DEVICES))],
) -> dict[str, str]:
    """Store a blurred snapshot from the camera's worker (a JPEG body)."""
    registry = app.ingest.registry
    cam = registry.get(camera_id)
    if cam.id not in registry.scope_of_user(who.name):
        raise ForbiddenError(f"login {who.name!r} may not post snapshots of {cam.id!r}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SNAPSHOT:
            raise ValidationError(f"snapshot over {MAX_SNAPSHOT} bytes", field="body")
    if not body.startswith(b"\xff\xd8"):
        raise ValidationError("a snapshot must be a JPEG image", field="body")
    at = app.clock.now()
    saved = await run_in_threadpool(store.save, cam.id, at, "snapshot", body)
    await run_in_threadpool(store.purge)
    return {"camera": cam.id, "at": at.isoformat(), "file": saved.path.name}
