"""Cameras for the command centre: latest counts per zone and the latest blurred snapshot.

A camera is a registered ``camera_analytics`` device whose id has no dot; its
zones and lines are the devices ``<camera>.<name>`` (see vigil/video/publish.py).
The worker uploads a snapshot only after blurring every person, vehicle and
moving region (vigil/video/privacy.py); the server keeps the latest ones for
the personal-data retention period and serves them to operators. The worker
also describes each camera's zones and lines in the pixels of its frames
(`PUT .../layout`, vigil/video/layout.py), checked here and drawn by the panel
over the snapshot.
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
from vigil.core.ids import DeviceId
from vigil.ingest.model import Device, DeviceKind
from vigil.video.layout import CameraLayoutIn, LayoutStore, ZoneKind, check_layout
from vigil.video.privacy import SnapshotStore
from vigil.video.publish import zone_device

router = APIRouter(tags=["cameras"])
DEVICES = frozenset({Role.DEVICE})
MAX_SNAPSHOT = 2 * 1024 * 1024


class ZoneCountsOut(BaseModel):
    """The latest readings of one zone or line of a camera."""

    device_id: DeviceId
    name: str  # the zone's or line's name in its camera (the device id after the camera's)
    zone: str | None
    lat: float
    lon: float
    counts: dict[str, float]  # class -> latest count (most at once in the last interval)
    density: float | None
    behaviour: str | None  # kind of the latest behaviour reading while it is on
    observed_at: datetime | None


class ZoneShapeOut(BaseModel):
    """A zone's polygon or a line's two points, in pixels of the camera's frames."""

    name: str
    device_id: DeviceId
    kind: ZoneKind
    points: list[tuple[float, float]]


class CameraLayoutOut(BaseModel):
    """The camera's frame size (its snapshots' too) and its zones and lines on it."""

    width: int
    height: int
    zones: list[ZoneShapeOut]


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
    layout: CameraLayoutOut | None  # None until the worker described the camera


def _store(app: AppDep) -> SnapshotStore:
    return SnapshotStore(
        app.settings.data_dir / "camera-snapshots",
        retention_days=app.settings.audit.personal_data_retention_days,
    )


StoreDep = Annotated[SnapshotStore, Depends(_store)]


def _layouts(app: AppDep) -> LayoutStore:
    return LayoutStore(app.settings.data_dir / "camera-layouts")


LayoutsDep = Annotated[LayoutStore, Depends(_layouts)]


def _layout_out(camera: str, layout: CameraLayoutIn) -> CameraLayoutOut:
    return CameraLayoutOut(
        width=layout.width,
        height=layout.height,
        zones=[
            ZoneShapeOut(
                name=z.name, device_id=zone_device(camera, z.name), kind=z.kind, points=z.points
            )
            for z in layout.zones
        ],
    )


def _latest(store: SnapshotStore, camera: str) -> Path | None:
    folder = store.root / camera
    if not folder.is_dir():
        return None
    files = sorted(folder.glob("*.jpg"))
    return files[-1] if files else None


def _camera_device(app: AppDep, camera_id: DeviceId) -> Device:
    cam = app.ingest.registry.get(camera_id)
    if cam.kind is not DeviceKind.CAMERA_ANALYTICS or "." in cam.id:
        raise NotFoundError(f"{camera_id!r} is not a camera", field="camera_id")
    return cam


def _camera(
    app: AppDep, store: SnapshotStore, layouts: LayoutStore, camera_id: DeviceId
) -> CameraOut:
    ingest = app.ingest
    cam = _camera_device(app, camera_id)
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
                name=d.id[len(cam.id) + 1 :],
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
    layout = layouts.load(cam.id)
    return CameraOut(
        id=cam.id,
        label=cam.label,
        lat=cam.location.lat,
        lon=cam.location.lon,
        online=online,
        zones=zones,
        snapshot_url=None if snap is None else f"/api/v1/cameras/{cam.id}/snapshot",
        snapshot_at=None if snap is None else datetime.fromtimestamp(snap.stat().st_mtime, tz=UTC),
        layout=None if layout is None else _layout_out(cam.id, layout),
    )


@router.get("/cameras")
def list_cameras(
    app: AppDep,
    store: StoreDep,
    layouts: LayoutsDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS))],
) -> list[CameraOut]:
    """List cameras with their zones' latest counts and snapshot links."""
    ids = [
        d.id
        for d in app.ingest.registry.all()
        if d.kind is DeviceKind.CAMERA_ANALYTICS and "." not in d.id
    ]
    return [_camera(app, store, layouts, i) for i in ids]


@router.get("/cameras/{camera_id}")
def get_camera(
    camera_id: DeviceId,
    app: AppDep,
    store: StoreDep,
    layouts: LayoutsDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS))],
) -> CameraOut:
    """Return one camera."""
    return _camera(app, store, layouts, camera_id)


@router.put("/cameras/{camera_id}/layout")
def put_layout(
    camera_id: DeviceId,
    body: CameraLayoutIn,
    app: AppDep,
    layouts: LayoutsDep,
    who: Annotated[Principal, Depends(Allow(DEVICES))],
) -> CameraLayoutOut:
    """Set the camera's zones and lines in the pixels of its frames (from its worker).

    Every zone and line must be a registered device ``<camera>.<name>``; polygons
    must be simple, have an area and lie within the frame (422 naming the zone).
    """
    registry = app.ingest.registry
    cam = _camera_device(app, camera_id)
    if cam.id not in registry.scope_of_user(who.name):
        raise ForbiddenError(f"login {who.name!r} may not describe camera {cam.id!r}")
    check_layout(body)
    for i, z in enumerate(body.zones):
        if zone_device(cam.id, z.name) not in registry.devices:
            raise ValidationError(
                f"zones.{i}: {z.name!r} is not a registered zone or line of camera {cam.id!r} "
                f"(register the device {zone_device(cam.id, z.name)!r} first)",
                field=f"zones.{i}.name",
            )
    layouts.save(cam.id, body)
    return _layout_out(cam.id, body)


@router.get("/cameras/{camera_id}/snapshot", response_class=Response)
def get_snapshot(
    camera_id: DeviceId,
    app: AppDep,
    store: StoreDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS))],
) -> Response:
    """Return the camera's latest blurred snapshot (JPEG)."""
    app.ingest.registry.get(camera_id)
    snap = _latest(store, camera_id)
    if snap is None:
        raise NotFoundError(f"camera {camera_id!r} has no snapshot", field="camera_id")
    return Response(snap.read_bytes(), media_type="image/jpeg")


@router.post("/cameras/{camera_id}/snapshot", status_code=201)
async def post_snapshot(
    camera_id: DeviceId,
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
