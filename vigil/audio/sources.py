"""Where samples come from: files (WAV/FLAC/… via libsndfile), HTTP streams, RTP, live input.

Every source yields mono float64 blocks at full scale ±1.0 (channels are
averaged) and knows its sample rate. Nothing here writes samples anywhere:
blocks go to the caller and are dropped once measured.
"""

from __future__ import annotations

import queue
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from vigil.core.errors import ConfigError, VigilError

Block = NDArray[np.float64]


class SourceError(VigilError):
    """An audio source cannot be opened or stopped delivering."""

    status = 502
    title = "Audio source failed"


class Source(Protocol):
    """A stream of sample blocks."""

    fs: int

    def blocks(self) -> Iterator[Block]:
        """Yield mono blocks until the source ends or is stopped."""
        ...

    def stop(self) -> None:
        """Ask the source to end (live sources block otherwise)."""
        ...


def _mono(x: NDArray[np.float64]) -> Block:
    if x.ndim == 2:
        return np.asarray(x.mean(axis=1), dtype=np.float64)
    return np.asarray(x, dtype=np.float64)


class FileSource:
    """A recording read in blocks; optionally looped and paced to real time."""

    def __init__(
        self,
        path: Path,
        *,
        block_s: float = 0.5,
        loop: bool = False,
        realtime: bool = False,
        max_s: float | None = None,
        speed: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            info = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError, OSError) as err:
            raise SourceError(f"cannot read audio file {path}: {err}", field="file") from err
        self.path = path
        self.fs = int(info.samplerate)
        self.channels = int(info.channels)
        self._block = max(1, int(block_s * self.fs))
        self._loop = loop
        self._realtime = realtime
        self._max = None if max_s is None else int(max_s * self.fs)
        self._sleep = sleep
        self._speed = speed
        self._stop = threading.Event()

    def stop(self) -> None:
        """End the stream at the next block."""
        self._stop.set()

    def blocks(self) -> Iterator[Block]:
        """Yield the file's samples (again and again with loop=True)."""
        sent = 0
        t0 = time.monotonic()
        while not self._stop.is_set():
            got_any = False
            with sf.SoundFile(str(self.path)) as f:
                for raw in f.blocks(blocksize=self._block, dtype="float64", always_2d=True):
                    if self._stop.is_set():
                        return
                    x = _mono(raw)
                    if self._max is not None:
                        x = x[: max(0, self._max - sent)]
                    if not len(x):
                        return
                    got_any = True
                    sent += len(x)
                    if self._realtime:
                        ahead = sent / self.fs / self._speed - (time.monotonic() - t0)
                        if ahead > 0:
                            self._sleep(ahead)
                    yield x
            if not self._loop or not got_any:
                return


def _pcm(data: bytes, sample_format: str, channels: int) -> Block:
    if sample_format == "s16le":
        x = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
    elif sample_format == "s16be":
        x = np.frombuffer(data, dtype=">i2").astype(np.float64) / 32768.0
    elif sample_format == "s32le":
        x = np.frombuffer(data, dtype="<i4").astype(np.float64) / 2147483648.0
    elif sample_format == "f32le":
        x = np.frombuffer(data, dtype="<f4").astype(np.float64)
    else:
        raise ConfigError(f"unsupported sample format {sample_format!r}", field="format")
    if channels > 1:
        x = x[: len(x) - len(x) % channels].reshape(-1, channels).mean(axis=1)
    return x


_WIDTH = {"s16le": 2, "s16be": 2, "s32le": 4, "f32le": 4}


def parse_wav_header(head: bytes) -> tuple[int, int, str, int]:
    """Return (sample rate, channels, sample format, offset of the data) of a streamed WAV."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise SourceError("the stream is not a RIFF/WAVE stream", field="url")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(head):
        cid, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            tag, ch, rate, _, _, bits = struct.unpack("<HHIIHH", head[body : body + 16])
            fmt = (tag, ch, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise SourceError("WAV data before its fmt chunk", field="url")
            tag, ch, rate, bits = fmt
            kinds = {(1, 16): "s16le", (1, 32): "s32le", (3, 32): "f32le", (0xFFFE, 16): "s16le"}
            if (tag, bits) not in kinds:
                raise SourceError(f"unsupported WAV encoding tag={tag} bits={bits}", field="url")
            return rate, ch, kinds[(tag, bits)], body
        pos = body + size + (size & 1)
    raise SourceError("no WAV data chunk in the first bytes of the stream", field="url")


class HttpSource:
    """A WAV or raw PCM stream over HTTP(S) (an encoder's or a gateway's live output)."""

    def __init__(
        self,
        url: str,
        *,
        sample_format: str = "wav",
        fs: int | None = None,
        channels: int = 1,
        timeout_s: float = 10.0,
    ) -> None:
        if sample_format != "wav" and fs is None:
            raise ConfigError("raw PCM over HTTP needs its sample rate", field="fs")
        self.url = url
        self.fs = fs or 0
        self._format = sample_format
        self._channels = channels
        self._timeout = timeout_s
        self._stop = threading.Event()

    def stop(self) -> None:
        """End the stream at the next chunk."""
        self._stop.set()

    def blocks(self) -> Iterator[Block]:
        """Yield decoded blocks as the server sends them."""
        import httpx  # noqa: PLC0415 - only HTTP sources need it

        try:
            with httpx.stream("GET", self.url, timeout=self._timeout) as resp:
                if resp.status_code != 200:
                    raise SourceError(f"{self.url} answered HTTP {resp.status_code}", field="url")
                yield from self._decode(resp.iter_bytes())
        except httpx.HTTPError as err:
            raise SourceError(f"{self.url}: {err}", field="url") from err

    def _decode(self, chunks: Iterator[bytes]) -> Iterator[Block]:
        buf = b""
        fmt, channels = self._format, self._channels
        header_done = fmt != "wav"
        for chunk in chunks:
            if self._stop.is_set():
                return
            buf += chunk
            if not header_done:
                if len(buf) < 4096 and b"data" not in buf:
                    continue
                self.fs, channels, fmt, offset = parse_wav_header(buf)
                buf = buf[offset:]
                header_done = True
            frame = _WIDTH[fmt] * channels
            usable = len(buf) - len(buf) % frame
            if usable:
                yield _pcm(buf[:usable], fmt, channels)
                buf = buf[usable:]


def parse_rtp(packet: bytes) -> tuple[int, int, bytes]:
    """Return (sequence number, timestamp, payload) of an RTP packet (RFC 3550)."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        raise ValueError("not an RTP version 2 packet")
    cc = packet[0] & 0x0F
    has_ext = bool(packet[0] & 0x10)
    padded = bool(packet[0] & 0x20)
    seq, ts = struct.unpack("!HI", packet[2:8])
    pos = 12 + 4 * cc
    if has_ext:
        if len(packet) < pos + 4:
            raise ValueError("truncated RTP header extension")
        words = struct.unpack("!H", packet[pos + 2 : pos + 4])[0]
        pos += 4 + 4 * words
    end = len(packet) - (packet[-1] if padded and packet else 0)
    if pos > end:
        raise ValueError("truncated RTP packet")
    return seq, ts, packet[pos:end]


class RtpSource:
    """L16 audio over RTP/UDP (RFC 3551: 16-bit big-endian PCM); lost packets become silence."""

    def __init__(
        self,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - a receiver listens where the operator says
        port: int,
        fs: int,
        channels: int = 1,
        idle_timeout_s: float | None = None,
    ) -> None:
        self.fs = fs
        self._channels = channels
        self._addr = (host, port)
        self._idle = idle_timeout_s
        self._stop = threading.Event()
        self.lost_packets = 0
        self.bad_packets = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind(self._addr)
        except OSError as err:
            self.sock.close()
            raise SourceError(
                f"cannot listen for RTP on {host}:{port}: {err}", field="port"
            ) from err
        self.sock.settimeout(0.2)

    def stop(self) -> None:
        """End the stream within 0.2 s."""
        self._stop.set()

    def blocks(self) -> Iterator[Block]:
        """Yield each packet's samples, with silence for lost packets."""
        expected: int | None = None
        last_len = 0
        idle_since = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    packet = self.sock.recv(65536)
                except TimeoutError:
                    if self._idle is not None and time.monotonic() - idle_since > self._idle:
                        return
                    continue
                idle_since = time.monotonic()
                try:
                    seq, _, payload = parse_rtp(packet)
                except ValueError:
                    self.bad_packets += 1
                    continue
                x = _pcm(payload, "s16be", self._channels)
                if expected is not None and seq != expected:
                    gap = (seq - expected) & 0xFFFF
                    if gap < 0x8000:  # lost packets (a late one, gap >= 0x8000, is dropped)
                        self.lost_packets += gap
                        if gap <= 50 and last_len:
                            yield np.zeros(gap * last_len)
                    else:
                        continue
                expected = (seq + 1) & 0xFFFF
                last_len = len(x)
                yield x
        finally:
            self.sock.close()


class LiveSource:
    """A sound card through PortAudio (ALSA on Linux); needs the `audio-live` extra."""

    def __init__(self, *, device: str | int | None, fs: int, channels: int = 1) -> None:
        try:
            import sounddevice  # noqa: PLC0415 - optional: only live input needs PortAudio
        except (ImportError, OSError) as err:
            raise SourceError(
                "live input needs PortAudio and the sounddevice package "
                "(pip install 'vigil[audio-live]')",
                field="device",
            ) from err
        self._sd = sounddevice
        self.fs = fs
        self._device = device
        self._channels = channels
        self._q: queue.Queue[Block] = queue.Queue(maxsize=64)
        self._stop = threading.Event()
        self.overflows = 0

    def stop(self) -> None:
        """End the stream."""
        self._stop.set()

    def blocks(self) -> Iterator[Block]:
        """Yield blocks as the card delivers them."""

        def callback(
            indata: NDArray[np.float32], _frames: int, _time: object, status: object
        ) -> None:
            if status:
                self.overflows += 1
            try:
                self._q.put_nowait(_mono(indata.astype(np.float64)))
            except queue.Full:
                self.overflows += 1

        try:
            stream = self._sd.InputStream(
                device=self._device, samplerate=self.fs, channels=self._channels, callback=callback
            )
        except Exception as err:  # PortAudio raises its own error types (re-raised as ours)
            raise SourceError(
                f"cannot open input device {self._device!r}: {err}", field="device"
            ) from err
        with stream:
            while not self._stop.is_set():
                try:
                    yield self._q.get(timeout=0.2)
                except queue.Empty:
                    continue
