"""The acoustic worker that `vigil demo` runs beside the simulator, on a shipped recording."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from vigil.audio.settings import MicsFile
from vigil.audio.worker import Worker
from vigil.core.clock import Clock
from vigil.core.errors import ConfigError

RECORDING = Path(__file__).parent / "data" / "city-traffic.mp3"
MIC_ID = "audio-kruununhaka-1"
AT = (60.1725, 24.9580)  # a street in Kruununhaka (the night-noise rule's zone)


def demo_config(*, site: str, speed: float, mqtt_host: str, mqtt_port: int) -> MicsFile:
    """Return one microphone looping the shipped recording at the simulator's speed."""
    return MicsFile.model_validate(
        {
            "worker_id": f"audio-demo-{site}",
            "timezone": "Europe/Helsinki",
            "report_s": 60,
            "health_s": 10,
            "mqtt": {
                "host": mqtt_host,
                "port": mqtt_port,
                "site": site,
                "client_id": f"vigil-audio-{site}",
            },
            "mics": [
                {
                    "id": MIC_ID,
                    "lat": AT[0],
                    "lon": AT[1],
                    "input": {
                        "kind": "file",
                        "path": str(RECORDING),
                        "loop": True,
                        "realtime": True,
                        "speed": speed,
                    },
                    "calibration": {
                        "full_scale_db": 95
                    },  # reads about 55 dB(A): a busy street at night
                    "limits": [
                        {"start": "07:00", "end": "22:00", "period_s": 3600, "laeq_db": 65},
                        {"start": "22:00", "end": "07:00", "period_s": 900, "laeq_db": 55},
                    ],
                }
            ],
        }
    )


def register(api_url: str, admin_token: str, *, site: str) -> None:
    """Register the microphone's noise meter and acoustic detector through the API."""
    with httpx.Client(
        base_url=api_url + "/api/v1", headers={"Authorization": f"Bearer {admin_token}"}
    ) as api:
        for device, kind in ((MIC_ID, "noise_meter"), (f"{MIC_ID}-ac", "acoustic_detector")):
            r = api.post(
                "/devices",
                json={
                    "id": device,
                    "kind": kind,
                    "lat": AT[0],
                    "lon": AT[1],
                    "site": site,
                    "interval_s": 60,
                    "label": f"acoustic worker on a recording ({kind.replace('_', ' ')})",
                },
            )
            if r.status_code != 201:
                raise ConfigError(f"cannot register {device}: {r.status_code} {r.text}")


def start(cfg: MicsFile, clock: Clock) -> tuple[Worker, threading.Thread]:
    """Run the worker in a background thread; `worker.stop()` ends it."""
    worker = Worker(cfg, clock=clock)
    thread = threading.Thread(target=worker.run, name="audio-demo", daemon=True)
    thread.start()
    return worker, thread
