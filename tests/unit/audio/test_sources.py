"""Sources: RTP (L16) over UDP, WAV over HTTP, files; lost packets become counted silence."""

from __future__ import annotations

import builtins
import http.server
import io
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import free_port
from vigil.audio.publish import Message
from vigil.audio.settings import MicsFile
from vigil.audio.sources import (
    FileSource,
    HttpSource,
    LiveSource,
    RtpSource,
    SourceError,
    parse_rtp,
    parse_wav_header,
)
from vigil.audio.worker import Worker

FS = 16000


def rtp_packet(seq: int, samples: np.ndarray, *, csrc: int = 0, ext: bool = False) -> bytes:
    first = 0x80 | (0x10 if ext else 0) | csrc
    head = struct.pack("!BBHII", first, 96, seq & 0xFFFF, seq * len(samples), 0x1234)
    head += b"\0\0\0\1" * csrc
    if ext:
        head += struct.pack("!HH", 0xBEDE, 1) + b"\0\0\0\0"
    pcm = (np.clip(samples, -1, 1) * 32767).astype(">i2").tobytes()
    return bytes(head + pcm)


def test_parse_rtp_handles_csrc_and_extensions() -> None:
    x = np.linspace(-0.5, 0.5, 160)
    for csrc, ext in ((0, False), (2, False), (0, True)):
        seq, _, payload = parse_rtp(rtp_packet(7, x, csrc=csrc, ext=ext))
        assert seq == 7 and len(payload) == 320
    with pytest.raises(ValueError, match="RTP"):
        parse_rtp(b"\x00" * 20)


def test_rtp_source_receives_l16_and_fills_lost_packets_with_silence() -> None:
    port = free_port()
    src = RtpSource(host="127.0.0.1", port=port, fs=FS, idle_timeout_s=0.5)
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(FS) / FS)
    got: list[np.ndarray] = []
    t = threading.Thread(target=lambda: got.extend(src.blocks()))
    t.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for k in range(100):
            if k in (40, 41):  # two packets lost in the network
                continue
            tx.sendto(rtp_packet(k, tone[k * 160 : (k + 1) * 160]), ("127.0.0.1", port))
            time.sleep(0.001)
        tx.sendto(b"junk", ("127.0.0.1", port))
    t.join(5)
    assert not t.is_alive()
    x = np.concatenate(got)
    assert len(x) == 100 * 160
    assert src.lost_packets == 2 and src.bad_packets == 1
    assert np.all(x[40 * 160 : 42 * 160] == 0)
    assert np.allclose(x[:160], tone[:160], atol=1e-4)


def wav_bytes(x: np.ndarray, fs: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, fs, format="WAV", subtype="PCM_16")  # in memory: the test's own input
    return buf.getvalue()


@pytest.fixture
def http_wav() -> Iterator[tuple[str, np.ndarray]]:
    x = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(FS * 2) / FS)
    body = wav_bytes(x, FS)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.end_headers()
            for i in range(0, len(body), 1000):  # a stream arrives in pieces
                self.wfile.write(body[i : i + 1000])

        def log_message(self, *_args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/stream.wav", x
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_http_wav_stream_is_decoded(http_wav: tuple[str, np.ndarray]) -> None:
    url, x = http_wav
    src = HttpSource(url)
    y = np.concatenate(list(src.blocks()))
    assert src.fs == FS
    assert len(y) == len(x)
    assert np.allclose(y, x, atol=1e-4)


def test_wav_header_errors_are_clear() -> None:
    with pytest.raises(SourceError, match="RIFF"):
        parse_wav_header(b"OggS" + b"\0" * 40)
    rate, ch, fmt, offset = parse_wav_header(wav_bytes(np.zeros(10), 8000))
    assert (rate, ch, fmt, offset) == (8000, 1, "s16le", 44)


def test_file_source_loops_and_stops(tmp_path: Path) -> None:
    data = Path(__file__).resolve().parents[2] / "data" / "audio" / "gunshot_3.wav"
    src = FileSource(data, loop=True, max_s=10.0)
    total = sum(len(b) for b in src.blocks())
    assert total == 10 * 8000  # 2.5 loops of a 4 s clip
    with pytest.raises(SourceError) as err:
        FileSource(tmp_path / "missing.wav")
    assert err.value.field == "file"


def test_live_input_without_portaudio_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_sounddevice(name: str, *args: object, **kwargs: object) -> object:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_sounddevice)
    with pytest.raises(SourceError, match=r"vigil\[audio-live\]") as err:
        LiveSource(device=None, fs=48000)
    assert err.value.field == "device"


def test_worker_on_an_http_stream_learns_the_rate_from_the_header(
    http_wav: tuple[str, np.ndarray],
) -> None:
    url, _ = http_wav
    cfg = MicsFile.model_validate(
        {
            "report_s": 1,
            "health_s": 1,
            "mics": [
                {
                    "id": "m1",
                    "lat": 60.17,
                    "lon": 24.95,
                    "input": {"kind": "http", "url": url},
                    "calibration": {"full_scale_db": 100},
                }
            ],
        }
    )
    sent: list[Message] = []
    worker = Worker(cfg, send=sent.append)
    t = threading.Thread(target=worker.run)
    t.start()
    deadline = time.monotonic() + 20
    while worker.health.get("m1") is None or worker.health["m1"].frames < 16:
        assert time.monotonic() < deadline, worker.health
        time.sleep(0.05)
    worker.stop()
    t.join(20)
    assert not t.is_alive()
    laeq = [m for m in sent if m.topic.endswith("/m1/laeq")]
    assert len(laeq) == 2  # two seconds of a 1 kHz tone 0.3 of full scale: 89.5 dB
    assert all(b'"value": 89.5' in m.payload for m in laeq), laeq
