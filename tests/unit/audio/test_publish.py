"""Ordinance exceedances, and what the worker sends being accepted by Vigil's own parser."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from vigil.audio.detect import AcousticEvent, DetectorSettings, EventClass
from vigil.audio.meter import Calibration
from vigil.audio.ordinance import ExceedanceTracker, Limit, limit_at
from vigil.audio.pipeline import MicPipeline, MicSpec
from vigil.audio.publish import Message, MicMessages
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId
from vigil.ingest.model import DeviceKind
from vigil.ingest.parse import Parser
from vigil.ingest.registry import make_device

HEL = ZoneInfo("Europe/Helsinki")
NIGHT = Limit(start=time(22), end=time(7), period_s=900, laeq_db=55.0)
DAY = Limit(start=time(7), end=time(22), period_s=3600, laeq_db=65.0)
FS = 16000


def test_limits_by_time_of_day_over_midnight() -> None:
    lims = (DAY, NIGHT)
    assert limit_at(lims, datetime(2026, 6, 1, 20, 30, tzinfo=UTC), HEL) is NIGHT  # 23:30
    assert limit_at(lims, datetime(2026, 6, 1, 3, 59, tzinfo=UTC), HEL) is NIGHT  # 06:59
    assert limit_at(lims, datetime(2026, 6, 1, 4, 0, tzinfo=UTC), HEL) is DAY  # 07:00


def test_consecutive_periods_above_the_limit_make_one_exceedance() -> None:
    tr = ExceedanceTracker((NIGHT,), HEL)
    t0 = datetime(2026, 6, 1, 19, 30, tzinfo=UTC)  # 22:30 local
    q = timedelta(minutes=15)
    assert tr.period(t0, 900, 54.0) is None
    assert tr.period(t0 + q, 900, 60.0) is None
    assert tr.period(t0 + 2 * q, 900, 57.0) is None
    e = tr.period(t0 + 3 * q, 900, 50.0)
    assert e is not None
    assert e.start == t0 + q and e.duration_s == 1800
    assert e.laeq == pytest.approx(10 * np.log10((10**6 + 10**5.7) / 2), abs=0.05)
    assert e.limit_db == 55.0
    assert tr.flush() is None


def test_pipeline_reports_an_exceedance_with_level_and_duration() -> None:
    got: list[object] = []

    class Sink:
        def second(self, at: datetime, levels: object) -> None: ...
        def report(self, at: datetime, levels: object) -> None: ...
        def event(self, at: datetime, event: object) -> None: ...
        def features(self, at: datetime, features: object) -> None: ...
        def exceedance(self, exceedance: object) -> None:
            got.append(exceedance)

    short = Limit(start=time(22), end=time(7), period_s=10, laeq_db=55.0)
    spec = MicSpec(
        fs=FS,
        calibration=Calibration(100.0),
        detector=DetectorSettings(),
        start=datetime(2026, 6, 1, 20, 0, tzinfo=UTC),
        report_s=10,
        limits=(short,),
        tz=HEL,
    )
    pipe = MicPipeline(spec, Sink())
    quiet = 10 ** ((45 - 100) / 20) * np.sin(2 * np.pi * 1000 * np.arange(FS * 10) / FS)
    loud = 10 ** ((65 - 100) / 20) * np.sin(2 * np.pi * 1000 * np.arange(FS * 20) / FS)
    for x in (quiet, loud, quiet):
        pipe.feed(x)
    pipe.close()
    (e,) = got
    assert e.duration_s == pytest.approx(20.0)  # type: ignore[attr-defined]
    assert e.laeq == pytest.approx(65.0, abs=0.3)  # type: ignore[attr-defined]


def test_every_message_is_accepted_by_vigils_parser() -> None:
    at = LatLon(60.1725, 24.958)
    devices = {
        d.id: d
        for d in (
            make_device(
                id=DeviceId("nm-1"),
                kind=DeviceKind.NOISE_METER,
                location=at,
                zone=None,
                site="s",
                streams=None,
                interval_s=60,
            ),
            make_device(
                id=DeviceId("nm-1-ac"),
                kind=DeviceKind.ACOUSTIC_DETECTOR,
                location=at,
                zone=None,
                site="s",
                streams=None,
                interval_s=60,
            ),
        )
    }
    sent: list[Message] = []
    msgs = MicMessages(
        site="s", mic_id="nm-1", noise_device="nm-1", acoustic_device="nm-1-ac", send=sent.append
    )
    t0 = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)
    spec = MicSpec(
        fs=FS,
        calibration=Calibration(100.0),
        detector=DetectorSettings(),
        start=t0,
        report_s=5,
        limits=(Limit(start=time(0), end=time(23, 59), period_s=5, laeq_db=40.0),),
        tz=HEL,
    )
    pipe = MicPipeline(spec, msgs)
    pipe.feed(10 ** ((60 - 100) / 20) * np.sin(2 * np.pi * 500 * np.arange(FS * 12) / FS))
    msgs.event(
        t0,
        AcousticEvent(
            t=1.0, cls=EventClass.GUNSHOT_LIKE, confidence=0.8, lcpeak=118.0, background_laeq=50.0
        ),
    )
    pipe.close()
    parser = Parser(devices)
    streams = []
    for m in sent:
        parsed = parser.mqtt(m.topic, m.payload, t0 + timedelta(minutes=1))
        assert not parsed.rejections, (m.topic, m.payload, parsed.rejections)
        streams += [(o.device_id, o.stream, o.attrs.get("class")) for o in parsed.observations]
    assert ("nm-1", "laeq", None) in streams and ("nm-1", "lamax", None) in streams
    assert ("nm-1-ac", "impulse", "gunshot") in streams  # the rules' vocabulary
    assert ("nm-1", "alert", None) in streams  # the exceedance
    impulse = next(
        o
        for m in sent
        for o in parser.mqtt(m.topic, m.payload, t0).observations
        if o.stream == "impulse"
    )
    assert impulse.value == 118.0 and impulse.attrs["confidence"] == 0.8
