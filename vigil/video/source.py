"""Frame sources: video files, RTSP/HTTP streams and image sequences, via OpenCV.

A source yields ``(t, frame)`` at the analysis rate: `t` is seconds of stream
time (the file's own clock for files and image sequences, the wall clock for
live streams). Frames between two analysed ones are skipped with `grab()` —
demuxed but not converted — which is where the cheap part of "decode at low
rate" comes from. Frames a live stream delivered while the worker was busy are
counted as `dropped`.

A live stream that drops (the camera reboots, the network fails, the server
stops) ends `frames()`; the worker reopens it after a `Backoff` delay and keeps
its stream clock running across the outage, so time never goes backwards and
the gap is visible. Open and read time-outs (FFmpeg back end) turn a stalled
stream into a drop instead of a hung worker.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
from numpy.typing import NDArray

from vigil.core.errors import ConfigError

Frame = NDArray[Any]
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp")


def is_live(source: str) -> bool:
    """Whether a source is a network stream (paced by the wall clock)."""
    return source.split("://", 1)[0].lower() in {"rtsp", "rtsps", "http", "https", "rtmp"}


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between attempts to reopen a dropped stream: doubling, capped."""

    first_s: float = 1.0
    max_s: float = 60.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """Return the wait before reopen attempt `attempt` (1 = the first after a drop)."""
        return float(min(self.max_s, self.first_s * self.factor ** max(0, attempt - 1)))


OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000


@dataclass(slots=True)
class SourceStats:
    """What the source has done so far."""

    read: int = 0  # frames demuxed
    analysed: int = 0  # frames handed to the pipeline
    dropped: int = 0  # live frames skipped because the worker was late
    reconnects: int = 0  # successful reopens after a drop
    outages: int = 0  # times a live stream that was open dropped
    online: bool = False
    width: int = 0
    height: int = 0
    fps: float = 0.0  # the source's own rate
    errors: list[str] = field(default_factory=list)


class FrameSource:
    """One camera's frames at `fps` analysed frames per second."""

    def __init__(self, source: str, *, fps: float, loop: bool = False) -> None:
        self.source = source
        self.fps = fps
        self.loop = loop
        self.live = is_live(source)
        self.stats = SourceStats()
        self._t0: float | None = None  # live: the stream clock's origin, kept across reopens
        self._opened_once = False
        self._images = self._image_list(source)
        if not self.live and self._images is None and not Path(source).is_file():
            raise ConfigError(f"video source {source!r} is not a file, folder or URL")

    @staticmethod
    def _image_list(source: str) -> list[str] | None:
        p = Path(source)
        if p.is_dir():
            files = sorted(str(f) for f in p.iterdir() if f.suffix.lower() in IMAGE_EXT)
        elif any(ch in source for ch in "*?["):
            parent, pattern = Path(source).parent, Path(source).name
            files = sorted(str(f) for f in parent.glob(pattern) if f.suffix.lower() in IMAGE_EXT)
        else:
            return None
        if not files:
            raise ConfigError(f"image sequence {source!r} has no images")
        return files

    def frames(self, *, image_fps: float = 10.0) -> Iterator[tuple[float, Frame]]:
        """Yield (stream time s, BGR frame) at the analysis rate until the source ends."""
        if self._images is not None:
            yield from self._sequence(image_fps)
            return
        offset = 0.0
        while True:
            last = yield from self._capture(offset)
            if not (self.loop and not self.live) or last is None:
                return
            offset = last + 1.0 / self.fps

    def _sequence(self, image_fps: float) -> Iterator[tuple[float, Frame]]:
        assert self._images is not None
        step = 1.0 / self.fps
        next_t = 0.0
        self.stats.online = True
        self.stats.fps = image_fps
        for i, f in enumerate(self._images):
            t = i / image_fps
            self.stats.read += 1
            if t + 1e-9 < next_t:
                continue
            img = cv2.imread(f, cv2.IMREAD_COLOR)
            if img is None:
                self.stats.errors.append(f"unreadable image {f}")
                continue
            next_t += step
            self.stats.analysed += 1
            self.stats.height, self.stats.width = img.shape[:2]
            yield t, img

    def _open(self) -> cv2.VideoCapture:
        if not self.live:
            return cv2.VideoCapture(self.source)
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            OPEN_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            READ_TIMEOUT_MS,
        ]
        return cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, params)

    def _capture(self, offset: float) -> Generator[tuple[float, Frame], None, float | None]:
        cap = self._open()
        if not cap.isOpened():
            cap.release()
            self.stats.online = False
            self.stats.errors = [*self.stats.errors[-9:], f"cannot open {self.source}"]
            return None
        if self.live and self._opened_once:
            self.stats.reconnects += 1
        self._opened_once = True
        self.stats.online = True
        src_fps = cap.get(cv2.CAP_PROP_FPS)
        src_fps = src_fps if 0 < src_fps < 240 else 25.0
        self.stats.fps = src_fps
        step = 1.0 / self.fps
        if self._t0 is None:
            self._t0 = time.monotonic()
        start = self._t0
        next_t = (time.monotonic() - start) if self.live else 0.0
        idx = 0
        last: float | None = None
        try:
            while True:
                if not cap.grab():
                    break
                self.stats.read += 1
                t = (time.monotonic() - start) if self.live else idx / src_fps
                idx += 1
                if t + 1e-9 < next_t:
                    continue
                missed = int((t - next_t) / step) if self.live else 0
                self.stats.dropped += max(0, missed)
                next_t = (next_t + (missed + 1) * step) if self.live else next_t + step
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    continue
                self.stats.analysed += 1
                self.stats.height, self.stats.width = frame.shape[:2]
                last = offset + t
                yield offset + t, frame
        finally:
            cap.release()
            if self.live:
                self.stats.online = False
                self.stats.outages += 1
        return last
