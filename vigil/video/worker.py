"""`vigil video run`: many cameras in one process, events out over MQTT.

One thread runs every camera in turn (earliest frame due first), so one worker
process uses at most one core; run one process per core. Readings go to the
broker with QoS 1; a missing broker is retried by paho and readings published
meanwhile are queued in paho's outgoing buffer.

A live camera whose stream drops is not given up: the worker reports it at once
as a device status (`online` 0 on the camera device, then again every health
interval while it stays down), reopens it after a doubling back-off
(`reconnect_first_s` .. `reconnect_max_s`) without holding up the other
cameras, and reports `online` 1 when frames flow again. File sources end.
"""

from __future__ import annotations

import heapq
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.core.errors import ConfigError, VigilError
from vigil.ingest.mqtt import close_client
from vigil.video.behaviours import StepOut
from vigil.video.config import CameraIn, CamerasFile
from vigil.video.layout import CameraLayoutIn
from vigil.video.pipeline import CameraPipeline, FrameResult, PipelineConfig
from vigil.video.privacy import SnapshotStore, blurred_snapshot
from vigil.video.publish import (
    Reading,
    behaviour_reading,
    devices,
    health_readings,
    layout,
    line_readings,
    payload,
    topic,
    zone_readings,
)
from vigil.video.source import Backoff, Frame, FrameSource

log = logging.getLogger(__name__)


class Publisher:
    """Readings -> MQTT (QoS 1)."""

    def __init__(self, host: str, port: int, site: str, client_id: str) -> None:
        self.site = site
        self.sent = 0
        self._seq = 0
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    def publish(self, r: Reading) -> None:
        """Queue one reading."""
        # Microseconds of the reading time, made strictly increasing within this process.
        self._seq = max(self._seq + 1, int(r.at.timestamp() * 1e6))
        self._client.publish(topic(self.site, r), payload(r, self._seq), qos=1)
        self.sent += 1

    def close(self) -> None:
        """Flush briefly, then disconnect."""
        deadline = time.monotonic() + 5.0
        while self._client.want_write() and time.monotonic() < deadline:
            time.sleep(0.05)
        close_client(self._client)


def register(
    config: CamerasFile, *, transport: httpx.BaseTransport | None = None
) -> dict[str, str]:
    """Register every camera's devices with Vigil over HTTP; return each device's token."""
    reg = config.registration
    if reg is None:
        return {}
    token = os.environ.get(reg.token_env)
    if not token:
        raise ConfigError(f"environment variable {reg.token_env} (a supervisor token) is not set")
    tokens: dict[str, str] = {}
    with httpx.Client(base_url=reg.url, timeout=10.0, transport=transport) as http:
        for cam in config.cameras:
            for d in devices(cam, site=config.mqtt.site, interval_s=config.health_interval_s):
                resp = http.post(
                    "/api/v1/devices", json=d, headers={"Authorization": f"Bearer {token}"}
                )
                if resp.status_code != 201:
                    raise VigilError(
                        f"registering device {d['id']} failed: {resp.status_code} {resp.text[:300]}"
                    )
                tokens[str(d["id"])] = str(resp.json()["token"])
    return tokens


class SnapshotUploader:
    """Send a camera's blurred snapshots and its layout to Vigil with the camera's own token."""

    def __init__(
        self, url: str, tokens: dict[str, str], *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._tokens = tokens
        self._http = httpx.Client(base_url=url, timeout=10.0, transport=transport)
        self.sent = 0
        self.described = 0
        self.failed = 0

    def __call__(self, camera: str, jpeg: bytes) -> None:
        """Upload one snapshot; a failure is logged and counted, never fatal."""
        token = self._tokens.get(camera)
        if token is None:
            return
        try:
            resp = self._http.post(
                f"/api/v1/cameras/{camera}/snapshot",
                content=jpeg,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
            )
        except httpx.HTTPError as err:
            self.failed += 1
            log.warning("snapshot upload for %s failed: %s", camera, err)
            return
        if resp.status_code != 201:
            self.failed += 1
            log.warning("snapshot upload for %s refused: %s", camera, resp.status_code)
            return
        self.sent += 1

    def describe(self, camera: str, body: CameraLayoutIn) -> None:
        """Send the camera's zones and lines on its frames; a refusal is logged, never fatal."""
        token = self._tokens.get(camera)
        if token is None:
            return
        try:
            resp = self._http.put(
                f"/api/v1/cameras/{camera}/layout",
                content=body.model_dump_json(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
        except httpx.HTTPError as err:
            self.failed += 1
            log.warning("layout of %s not sent: %s", camera, err)
            return
        if resp.status_code != 200:
            self.failed += 1
            # The server names the zone and the reason (a point outside the frame, ...).
            log.warning("layout of %s refused: %s %s", camera, resp.status_code, resp.text[:300])
            return
        self.described += 1

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()


def pipeline_config(cam: CameraIn, start: datetime) -> PipelineConfig:
    """Return the pipeline configuration of a camera."""
    return PipelineConfig.of(
        cam.id,
        zones=cam.zones,
        lines=cam.lines,
        homography=cam.homography,
        metres_per_pixel=cam.metres_per_pixel,
        detector=cam.detector,
        fps=cam.fps,
        width=cam.width,
        interval_s=cam.interval_s,
        start=start,
        utc_offset_h=cam.utc_offset_h,
    )


@dataclass(slots=True)
class _Camera:
    cfg: CameraIn
    source: FrameSource
    pipe: CameraPipeline
    frames: Iterator[tuple[float, Frame]]
    start_wall: float
    last_t: float = 0.0
    analysed: int = 0
    last_health: float = 0.0
    analysed_at_health: int = 0
    done: bool = False
    backoff: Backoff = field(default_factory=Backoff)
    attempt: int = 0  # reopen attempts since the stream dropped
    described: tuple[int, int] | None = None  # frame size the layout was last sent for
    offline_since: float | None = None  # monotonic time the stream dropped


@dataclass(slots=True)
class WorkerStats:
    """What a run did."""

    frames: int = 0
    readings: int = 0
    events: int = 0
    snapshots: int = 0
    outages: int = 0
    reconnects: int = 0
    cpu_s: float = 0.0
    per_camera: dict[str, int] = field(default_factory=dict)


class Worker:
    """Run cameras until their sources end (files) or `stop` is set."""

    def __init__(
        self,
        config: CamerasFile,
        *,
        publish: Callable[[Reading], None],
        upload: Callable[[str, bytes], None] | None = None,
        describe: Callable[[str, CameraLayoutIn], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self._publish = publish
        self._now = now
        self._upload = upload
        self._describe = describe
        self.snapshots = SnapshotStore(
            config.snapshots.dir, retention_days=config.snapshots.retention_days
        )
        self.stop = threading.Event()
        self.stats = WorkerStats()

    def _open(self, cam: CameraIn) -> _Camera:
        start = self._now()
        source = FrameSource(cam.source, fps=cam.fps, loop=cam.loop)
        pipe = CameraPipeline(pipeline_config(cam, start))
        backoff = Backoff(first_s=cam.reconnect_first_s, max_s=cam.reconnect_max_s)
        return _Camera(cam, source, pipe, source.frames(), time.monotonic(), backoff=backoff)

    def run(self) -> WorkerStats:
        """Process frames, earliest due first, publishing as intervals close."""
        cpu0 = time.process_time()
        cams = [self._open(c) for c in self.config.cameras]
        self.snapshots.purge()
        heap: list[tuple[float, int]] = [(0.0, i) for i in range(len(cams))]
        heapq.heapify(heap)
        while heap and not self.stop.is_set():
            due, i = heapq.heappop(heap)
            cam = cams[i]
            if (cam.cfg.realtime and not cam.source.live) or cam.offline_since is not None:
                delay = cam.start_wall + due - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    break
            try:
                t, frame = next(cam.frames)
            except StopIteration:
                if cam.source.live and not self.stop.is_set():
                    heapq.heappush(heap, (self._dropped(cam), i))
                else:
                    self._end(cam)
                continue
            if cam.offline_since is not None:
                self._back_online(cam, t)
            self._frame(cam, t, frame)
            heapq.heappush(heap, (t + 1.0 / cam.cfg.fps, i))
        for cam in cams:
            if not cam.done:
                self._end(cam)
        self.stats.cpu_s = time.process_time() - cpu0
        return self.stats

    def _frame(self, cam: _Camera, t: float, frame: Frame) -> None:
        size = (int(frame.shape[1]), int(frame.shape[0]))
        if self._describe is not None and cam.described != size:
            # A stream's frame size is known only now (and may change on a reopen).
            cam.described = size
            self._describe(cam.cfg.id, layout(cam.cfg, width=size[0], height=size[1]))
        r = cam.pipe.process(t, frame)
        cam.last_t = t
        cam.analysed += 1
        self.stats.frames += 1
        self.stats.per_camera[cam.cfg.id] = cam.analysed
        at = cam.pipe.wall_time(t)
        self._emit(cam, r.out, at, frame, r)
        if time.monotonic() - cam.last_health >= self.config.health_interval_s:
            self._health(cam, at, online=True)

    def _emit(
        self,
        cam: _Camera,
        out: StepOut,
        at: datetime,
        frame: Frame | None,
        r: FrameResult | None,
    ) -> None:
        for zc in out.zone_counts:
            for reading in zone_readings(zc, at):
                self._send(reading)
        for lc in out.line_counts:
            for reading in line_readings(lc, at):
                self._send(reading)
        for e in out.started:
            self.stats.events += 1
            self._send(behaviour_reading(e, at, started=True))
            if frame is not None and r is not None:
                jpeg = blurred_snapshot(frame, r.blur_boxes())
                self.snapshots.save(cam.cfg.id, at, f"{e.zone}-{e.kind.value}", jpeg)
                self.stats.snapshots += 1
                if self._upload is not None:
                    self._upload(cam.cfg.id, jpeg)
        for e in out.ended:
            self._send(behaviour_reading(e, at, started=False))

    def _health(self, cam: _Camera, at: datetime, *, online: bool) -> None:
        now = time.monotonic()
        span = now - cam.last_health if cam.last_health else now - cam.start_wall
        fps = (cam.analysed - cam.analysed_at_health) / span if span > 0 else 0.0
        lag = (now - cam.start_wall) - cam.last_t if cam.cfg.realtime else 0.0
        for reading in health_readings(
            cam.cfg.id, at, fps=fps, lag_s=lag, dropped=cam.source.stats.dropped, online=online
        ):
            self._send(reading)
        cam.last_health = now
        cam.analysed_at_health = cam.analysed

    def _dropped(self, cam: _Camera) -> float:
        """A live stream ended or would not open: report it, return when to try again."""
        now = time.monotonic()
        at = cam.pipe.wall_time(now - cam.start_wall)
        if cam.offline_since is None:
            cam.offline_since = now
            self.stats.outages += 1
            log.warning("camera %s: stream %s dropped; reopening", cam.cfg.id, cam.source.source)
            self._health(cam, at, online=False)
        elif now - cam.last_health >= self.config.health_interval_s:
            self._health(cam, at, online=False)
        cam.attempt += 1
        cam.frames = cam.source.frames()
        return (now - cam.start_wall) + cam.backoff.delay(cam.attempt)

    def _back_online(self, cam: _Camera, t: float) -> None:
        assert cam.offline_since is not None
        log.info(
            "camera %s: stream back after %.1f s (%d attempts)",
            cam.cfg.id,
            time.monotonic() - cam.offline_since,
            cam.attempt,
        )
        cam.offline_since = None
        cam.attempt = 0
        self.stats.reconnects += 1
        self._health(cam, cam.pipe.wall_time(t), online=True)

    def _end(self, cam: _Camera) -> None:
        cam.done = True
        end_t = cam.last_t + 1.0 / cam.cfg.fps
        at = cam.pipe.wall_time(end_t)
        self._emit(cam, cam.pipe.finish(end_t), at, None, None)
        self._health(cam, at, online=False)

    def _send(self, r: Reading) -> None:
        self._publish(r)
        self.stats.readings += 1
