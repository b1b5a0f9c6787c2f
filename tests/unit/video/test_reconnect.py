"""A live stream that drops is reopened with back-off, and the outage is a device status.

The stream is a real HTTP MJPEG camera stream (multipart/x-mixed-replace, as IP
cameras serve it) from a local server on a free port, which the test stops and
starts again on the same port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.video.config import CamerasFile
from vigil.video.publish import Reading
from vigil.video.source import Backoff
from vigil.video.worker import Worker

BOUNDARY = b"vigilframe"


def _jpeg(i: int) -> bytes:
    img = np.full((120, 160, 3), 90, np.uint8)
    x = 10 + (i * 7) % 120
    img[40:90, x : x + 20] = (30, 200, 240)  # something moving
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf)


class MjpegCamera:
    """An MJPEG-over-HTTP camera at 10 frames per second that can be switched off and on."""

    def __init__(self) -> None:
        self.up = threading.Event()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        up = self.up

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                del format, args

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header(
                    "Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}"
                )
                self.end_headers()
                i = 0
                try:
                    while up.is_set() and i < 3000:
                        jpg = _jpeg(i)
                        self.wfile.write(
                            b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\n"
                            b"Content-Length: "
                            + str(len(jpg)).encode()
                            + b"\r\n\r\n"
                            + jpg
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        i += 1
                        time.sleep(0.1)
                except (BrokenPipeError, ConnectionResetError):
                    return
                self.close_connection = True

        return Handler

    def start(self) -> None:
        self.up.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.up.clear()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        time.sleep(0.3)  # let the open response end


@pytest.fixture
def camera() -> Iterator[MjpegCamera]:
    cam = MjpegCamera()
    cam.start()
    yield cam
    if cam.up.is_set():
        cam.stop()


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_backoff_doubles_and_is_capped() -> None:
    b = Backoff(first_s=0.5, max_s=3.0)
    assert [b.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_dropped_http_stream_is_reported_offline_and_reopened(
    camera: MjpegCamera, tmp_path: Path
) -> None:
    config = CamerasFile.model_validate(
        {
            "cameras": [
                {
                    "id": "cam-live",
                    "source": f"http://127.0.0.1:{camera.port}/stream.mjpg",
                    "lat": 60.17,
                    "lon": 24.94,
                    "fps": 5,
                    "reconnect_first_s": 0.2,
                    "reconnect_max_s": 0.8,
                }
            ],
            "snapshots": {"dir": str(tmp_path / "snaps")},
            "health_interval_s": 1,
        }
    )
    sent: list[Reading] = []
    lock = threading.Lock()

    def publish(r: Reading) -> None:
        with lock:
            sent.append(r)

    def online() -> list[float]:
        with lock:
            return [r.value for r in sent if r.stream == "online"]

    worker = Worker(config, publish=publish)
    run = threading.Thread(target=worker.run, daemon=True)
    run.start()
    try:
        _wait(lambda: worker.stats.frames >= 5, 20, "frames from the live stream")
        before = worker.stats.frames
        camera.stop()
        _wait(lambda: 0.0 in online(), 20, "the outage to be reported")
        time.sleep(2.0)  # several failed reopen attempts, with back-off
        assert worker.stats.outages == 1
        assert worker.stats.reconnects == 0
        down = worker.stats.frames
        assert down - before <= 20  # nothing analysed while the camera is off (buffer only)
        camera.start()  # same port
        _wait(lambda: worker.stats.reconnects == 1, 20, "the stream to be reopened")
        _wait(lambda: worker.stats.frames >= down + 5, 20, "frames after the reconnect")
    finally:
        worker.stop.set()
        run.join(15)
    assert not run.is_alive()
    states = online()
    first_down = states.index(0.0)
    assert 1.0 in states[:first_down]  # online before
    assert 1.0 in states[first_down:]  # back online after
    # While down, the camera kept being reported offline every health interval.
    assert states[first_down:].count(0.0) >= 2
    assert worker.stats.outages == 1 and worker.stats.reconnects == 1
