"""`vigil audio run`: one process, one thread per microphone, readings to Vigil over MQTT.

Each microphone thread reads its source, runs its pipeline and publishes what
the pipeline emits. A live source that fails (a network stream dropping, a
card unplugged) is reopened with backoff; a file ends its thread. Health —
per microphone: state, frames measured, clipped samples, last LAeq, last error
— is published retained on ``vigil/<site>/audio/<worker>/health`` every
``health_s`` and when the worker stops.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import soundfile as sf

from vigil.audio.meter import Calibration
from vigil.audio.pipeline import MicPipeline, MicSpec
from vigil.audio.publish import Message, MicMessages, MqttPublisher
from vigil.audio.settings import CalibrationIn, FileInput, HttpInput, LiveInput, MicIn, MicsFile
from vigil.audio.sources import FileSource, HttpSource, LiveSource, RtpSource, Source, SourceError
from vigil.core.clock import Clock, SystemClock
from vigil.core.errors import ConfigError, VigilError

log = logging.getLogger(__name__)


def calibration_of(c: CalibrationIn) -> Calibration:
    """Return a microphone's calibration (a reference recording is read in memory, once)."""
    if c.full_scale_db is not None:
        return Calibration(c.full_scale_db)
    assert c.reference_file is not None
    try:
        x, _ = sf.read(str(c.reference_file), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise ConfigError(
            f"cannot read calibration tone: {err}", field="calibration.reference_file"
        ) from err
    return Calibration.from_reference_tone(x.mean(axis=1), reference_db=c.reference_db)


def open_source(mic: MicIn) -> Source:
    """Open a microphone's input."""
    i = mic.input
    if isinstance(i, FileInput):
        return FileSource(i.path, loop=i.loop, realtime=i.realtime, max_s=i.max_s, speed=i.speed)
    if isinstance(i, HttpInput):
        return HttpSource(i.url, sample_format=i.format, fs=i.fs, channels=i.channels)
    if isinstance(i, LiveInput):
        return LiveSource(device=i.device, fs=i.fs, channels=i.channels)
    return RtpSource(host=i.host, port=i.port, fs=i.fs, channels=i.channels)


@dataclass(slots=True)
class MicHealth:
    """What the worker knows about one microphone's input."""

    state: str = "starting"  # starting | running | reconnecting | ended | failed
    frames: int = 0
    clipped: int = 0
    restarts: int = 0
    last_laeq: float | None = None
    events: int = 0
    error: str | None = None
    readings: int = 0


@dataclass(slots=True)
class Worker:
    """Run every microphone of a MICS file until stopped (or until all files end)."""

    config: MicsFile
    clock: Clock = field(default_factory=SystemClock)
    send: Callable[[Message], None] | None = None  # replaces MQTT (tests)
    health: dict[str, MicHealth] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _sources: dict[str, Source] = field(default_factory=dict)
    _publisher: MqttPublisher | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, *, connect_timeout_s: float = 10.0) -> None:
        """Start one thread per microphone and return when they have all ended."""
        cfg = self.config
        calibrations = {m.id: calibration_of(m.calibration) for m in cfg.mics}
        send = self._sender(connect_timeout_s)
        threads = []
        for mic in cfg.mics:
            self.health[mic.id] = MicHealth()
            t = threading.Thread(
                target=self._mic,
                args=(mic, calibrations[mic.id], send),
                name=f"mic-{mic.id}",
                daemon=True,
            )
            threads.append(t)
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                self._publish_health(send)
                self._stop.wait(cfg.health_s)
                if self._stop.is_set():
                    with self._lock:
                        for s in self._sources.values():
                            s.stop()
                    for t in threads:
                        t.join(5.0)
                    break
        finally:
            self._publish_health(send)
            if self._publisher is not None:
                self._publisher.flush(10.0)
                self._publisher.stop()

    def stop(self) -> None:
        """Ask every microphone to stop."""
        self._stop.set()

    def _sender(self, timeout_s: float) -> Callable[[Message], None]:
        if self.send is not None:
            return self.send
        m = self.config.mqtt
        self._publisher = MqttPublisher(host=m.host, port=m.port, client_id=m.client_id)
        self._publisher.start()
        if not self._publisher.wait_connected(timeout_s):
            log.warning(
                "MQTT broker %s:%s not reachable yet; readings queue until it is", m.host, m.port
            )
        return self._publisher.send

    def _publish_health(self, send: Callable[[Message], None]) -> None:
        body = {
            "ts": self.clock.now().isoformat(),
            "worker": self.config.worker_id,
            "mics": {k: _health_json(h) for k, h in self.health.items()},
        }
        topic = f"vigil/{self.config.mqtt.site}/audio/{self.config.worker_id}/health"
        send(Message(topic, json.dumps(body).encode(), retain=True))

    def _mic(self, mic: MicIn, cal: Calibration, send: Callable[[Message], None]) -> None:
        h = self.health[mic.id]
        backoff = 1.0
        while not self._stop.is_set():
            try:
                source = open_source(mic)
            except VigilError as err:
                h.state, h.error = "failed", str(err)
                log.error("mic %s: %s", mic.id, err)
                if isinstance(mic.input, FileInput):
                    return
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)
                h.restarts += 1
                continue
            with self._lock:
                self._sources[mic.id] = source
            try:
                self._measure(mic, cal, source, send, h)
            except (SourceError, OSError) as err:
                h.state, h.error = "reconnecting", str(err)
                log.warning("mic %s input failed: %s", mic.id, err)
            except Exception as err:
                h.state, h.error = "failed", f"{type(err).__name__}: {err}"
                log.exception("mic %s stopped", mic.id)
                return
            if isinstance(mic.input, FileInput):
                h.state = "ended" if h.error is None else "failed"
                return
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 60.0)
            h.restarts += 1

    def _measure(
        self,
        mic: MicIn,
        cal: Calibration,
        source: Source,
        send: Callable[[Message], None],
        h: MicHealth,
    ) -> None:
        cfg = self.config
        acoustic = f"{mic.id}-ac" if mic.acoustic_device is None else (mic.acoustic_device or None)
        messages = MicMessages(
            site=cfg.mqtt.site,
            mic_id=mic.id,
            noise_device=mic.noise_device or mic.id,
            acoustic_device=acoustic,
            send=send,
            publish_features=mic.publish_features,
        )
        pipe: MicPipeline | None = None
        h.state, h.error = "running", None
        for block in source.blocks():
            if pipe is None:  # an HTTP WAV stream knows its sample rate only once it has begun
                spec = MicSpec(
                    fs=source.fs,
                    calibration=cal,
                    detector=mic.detector.to_domain(),
                    start=self.clock.now(),
                    report_s=cfg.report_s,
                    limits=tuple(lim.to_domain() for lim in mic.limits),
                    tz=ZoneInfo(cfg.timezone),
                )
                pipe = MicPipeline(spec, messages)
                messages.band_centres = pipe.meter.band_centres
            pipe.feed(block)
            h.frames, h.clipped = pipe.frames, pipe.clipped
            h.last_laeq, h.events, h.readings = messages.last_laeq, messages.events, messages.sent
        if pipe is None:
            return
        pipe.close()
        h.frames, h.last_laeq, h.events, h.readings = (
            pipe.frames,
            messages.last_laeq,
            messages.events,
            messages.sent,
        )


def _health_json(h: MicHealth) -> dict[str, object]:
    return {
        "state": h.state,
        "frames": h.frames,
        "clipped": h.clipped,
        "restarts": h.restarts,
        "last_laeq": None if h.last_laeq is None else round(h.last_laeq, 1),
        "events": h.events,
        "readings": h.readings,
        "error": h.error,
    }


def example_config(recording: Path) -> str:
    """Return a commented MICS.yaml for one recording (printed by `vigil audio example`)."""
    return f"""# MICS.yaml: one acoustic worker and its microphones (see docs/audio.md)
worker_id: audio-1
timezone: Europe/Helsinki
report_s: 60                # noise-meter readings (LAeq, LAFmax) once a minute
mqtt: {{host: 127.0.0.1, port: 1883, site: default}}
mics:
  - id: nm-kruununhaka-1      # the noise_meter device in Vigil; the detector is <id>-ac
    lat: 60.1725
    lon: 24.9580
    zone: kruununhaka-residential
    input: {{kind: file, path: {recording}, loop: true, realtime: true}}
    calibration: {{full_scale_db: 120}}   # SPL of a full-scale sine at this mic
    limits:
      - {{start: "07:00", end: "22:00", period_s: 3600, laeq_db: 65}}
      - {{start: "22:00", end: "07:00", period_s: 900, laeq_db: 55}}
"""
