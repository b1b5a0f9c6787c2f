"""HTTP endpoints of device ingest: registry, observations, NGSI-LD, stats, dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from vigil.api.schemas import Out
from vigil.api.security import Allow, AppDep, Principal
from vigil.audit.roles import SUPERVISORS, VIEWERS, Role
from vigil.core.errors import ForbiddenError, IngestError
from vigil.core.ids import DeviceId
from vigil.ingest.model import Device, DeviceKind
from vigil.ingest.monitor import DeviceState
from vigil.ingest.parse import RejectReason
from vigil.ingest.pipeline import CommitResult
from vigil.ingest.registry import DeviceIn, Gateway, GatewayIn
from vigil.ingest.service import DeviceStatus, Ingest

router = APIRouter(tags=["ingest"])

DEVICES = frozenset({Role.DEVICE})
STATS_READERS = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.ANALYST})


class LatestOut(Out):
    """The newest value of one stream."""

    stream: str
    value: float
    unit: str
    observed_at: datetime
    attrs: dict[str, str | float | bool]


class DeviceOut(BaseModel):
    """A registered device, its state and latest values."""

    id: str
    kind: DeviceKind
    lat: float
    lon: float
    zone: str | None
    site: str
    streams: dict[str, str]
    interval_s: float
    label: str
    state: DeviceState
    latest: list[LatestOut]

    @classmethod
    def of(cls, d: Device, status: DeviceStatus) -> DeviceOut:
        """Return the API form."""
        return cls(
            id=d.id,
            kind=d.kind,
            lat=d.location.lat,
            lon=d.location.lon,
            zone=d.zone,
            site=d.site,
            streams=d.streams,
            interval_s=d.interval_s,
            label=d.label,
            state=status.state,
            latest=[LatestOut.of(v) for v in status.latest],
        )


class RegisteredOut(BaseModel):
    """A registered device and its token (shown once)."""

    device: DeviceOut
    token: str


class RejectionOut(BaseModel):
    """One observation (or message) that was not stored."""

    reason: RejectReason
    field: str | None
    detail: str
    index: int | None


class ObservationsOut(BaseModel):
    """What a POST of observations did."""

    stored: int
    duplicates: int
    rejected: list[RejectionOut]


class StatsOut(BaseModel):
    """Ingest counters since the observation store was created."""

    stored: int
    rejected: int
    by_reason: dict[str, int]
    devices: int
    online: int
    offline: int


class DeadLetterOut(BaseModel):
    """A kept message that was rejected or a duplicate."""

    seq: int
    at: datetime
    source: str
    topic: str | None
    reason: str
    field: str | None
    detail: str
    device_id: DeviceId | None
    raw: str  # UTF-8 with invalid bytes replaced; the stored copy is byte-exact


def _ingest(app: AppDep) -> Ingest:
    return app.ingest


IngestDep = Annotated[Ingest, Depends(_ingest)]


@router.post("/devices", status_code=201)
def register_device(
    body: DeviceIn, ingest: IngestDep, who: Annotated[Principal, Depends(Allow(SUPERVISORS))]
) -> RegisteredOut:
    """Register (or redefine) a device; returns its API token once (older ones are revoked)."""
    device = body.to_domain()
    ingest.registry.register([device], actor=who.name)
    token = ingest.registry.issue_token(device.id, actor=who.name)
    return RegisteredOut(device=DeviceOut.of(device, ingest.status(device.id)), token=token)


class GatewayOut(BaseModel):
    """A gateway or context broker and the devices it may report for."""

    id: str
    login: str
    devices: list[str]
    label: str

    @classmethod
    def of(cls, g: Gateway) -> GatewayOut:
        """Return the API form."""
        return cls(id=g.id, login=f"gateway-{g.id}", devices=sorted(g.devices), label=g.label)


class GatewayRegisteredOut(BaseModel):
    """A registered gateway and its token (shown once)."""

    gateway: GatewayOut
    token: str


@router.post("/gateways", status_code=201)
def register_gateway(
    body: GatewayIn, ingest: IngestDep, who: Annotated[Principal, Depends(Allow(SUPERVISORS))]
) -> GatewayRegisteredOut:
    """Register (or rescope) a gateway or NGSI-LD context broker; returns its token once.

    One credential for every device its subscription covers: it may report for
    those devices only (over HTTP, NGSI-LD and its MQTT batch topic).
    """
    gateway = ingest.registry.register_gateway(
        body.id, body.devices, label=body.label, actor=who.name
    )
    token = ingest.registry.issue_gateway_token(gateway.id, actor=who.name)
    return GatewayRegisteredOut(gateway=GatewayOut.of(gateway), token=token)


@router.get("/gateways")
def list_gateways(
    ingest: IngestDep, _: Annotated[Principal, Depends(Allow(SUPERVISORS))]
) -> list[GatewayOut]:
    """List gateways and the devices each may report for."""
    return [GatewayOut.of(g) for g in sorted(ingest.registry.gateways.values(), key=lambda g: g.id)]


@router.get("/devices")
def list_devices(
    ingest: IngestDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS))],
    kind: Annotated[DeviceKind | None, Query()] = None,
    zone: Annotated[str | None, Query()] = None,
) -> list[DeviceOut]:
    """List devices with their online state and latest values."""
    statuses = ingest.statuses()
    return [
        DeviceOut.of(d, statuses[d.id])
        for d in ingest.registry.all()
        if (kind is None or d.kind is kind) and (zone is None or d.zone == zone)
    ]


@router.get("/devices/{device_id}")
def get_device(
    device_id: DeviceId, ingest: IngestDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> DeviceOut:
    """Return one device."""
    return DeviceOut.of(ingest.registry.get(device_id), ingest.status(device_id))


async def _body(request: Request, limit: int) -> bytes:
    """Read at most limit+1 bytes: enough to know a body is oversized and keep its head."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


def _answer(result: CommitResult) -> ObservationsOut:
    rejected = [
        RejectionOut(reason=r.reason, field=r.field, detail=r.detail, index=r.index)
        for r in result.rejections
    ]
    if rejected and not result.stored and not result.duplicates:
        first = result.rejections[0]
        if first.reason is RejectReason.FORBIDDEN and all(
            r.reason is RejectReason.FORBIDDEN for r in result.rejections
        ):
            raise ForbiddenError(first.detail, field=first.field)
        more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
        raise IngestError(first.detail + more, reason=first.reason.value, field=first.field)
    return ObservationsOut(
        stored=len(result.stored), duplicates=len(result.duplicates), rejected=rejected
    )


def _scope(ingest: Ingest, who: Principal) -> frozenset[str]:
    """Return the devices this login may report for: its own, or its gateway's."""
    return ingest.registry.scope_of_user(who.name)


@router.post("/observations")
async def post_observations(
    request: Request, ingest: IngestDep, who: Annotated[Principal, Depends(Allow(DEVICES))]
) -> ObservationsOut:
    """Report one observation (with device_id and stream) or {"observations": [...]}.

    A device login may report only its own observations, a gateway's only those
    of its devices (403 otherwise); every rejected one is counted and kept in the
    dead-letter store with its reason.
    """
    body = await _body(request, ingest.settings.max_payload_bytes)
    result = await run_in_threadpool(ingest.post, body, source="http", scope=_scope(ingest, who))
    return _answer(result)


@router.post("/ngsi-ld/notify")
async def ngsi_notify(
    request: Request, ingest: IngestDep, who: Annotated[Principal, Depends(Allow(DEVICES))]
) -> ObservationsOut:
    """Accept an NGSI-LD notification of NoiseLevelObserved, CrowdFlowObserved, Alert, ...."""
    body = await _body(request, ingest.settings.max_payload_bytes)
    result = await run_in_threadpool(ingest.notify, body, scope=_scope(ingest, who))
    return _answer(result)


@router.get("/ingest/stats")
def stats(ingest: IngestDep, _: Annotated[Principal, Depends(Allow(STATS_READERS))]) -> StatsOut:
    """Return counts: observations stored, and everything not stored, per reason."""
    s = ingest.stats()
    states = [ingest.monitor.state(d) for d in ingest.registry.devices]
    return StatsOut(
        stored=s.stored,
        rejected=s.rejected,
        by_reason=s.by_reason,
        devices=len(states),
        online=sum(1 for st in states if st is DeviceState.ONLINE),
        offline=sum(1 for st in states if st is DeviceState.OFFLINE),
    )


@router.get("/ingest/dead-letters")
def dead_letters(
    ingest: IngestDep,
    _: Annotated[Principal, Depends(Allow(SUPERVISORS))],
    reason: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterOut]:
    """Return kept rejected and duplicate messages, newest first."""
    return [
        DeadLetterOut(
            seq=d.seq,
            at=d.at,
            source=d.source,
            topic=d.topic,
            reason=d.reason,
            field=d.field,
            detail=d.detail,
            device_id=d.device_id,
            raw=d.raw.decode("utf-8", errors="replace"),
        )
        for d in ingest.observations.dead_letters(reason=reason, limit=limit)
    ]
