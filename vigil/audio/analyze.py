"""`vigil audio analyze`: levels per second and events of one recording, without a broker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from vigil.audio.detect import AcousticEvent, DetectorSettings
from vigil.audio.levels import PeriodLevels
from vigil.audio.meter import Calibration
from vigil.audio.ordinance import Exceedance, Limit
from vigil.audio.pipeline import FeatureFrame, MicPipeline, MicSpec
from vigil.audio.sources import FileSource

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class Collected:
    """A sink that keeps everything in memory (levels and events only)."""

    start: datetime = EPOCH
    keep_features: bool = False
    seconds: list[PeriodLevels] = field(default_factory=list)
    reports: list[PeriodLevels] = field(default_factory=list)
    events: list[AcousticEvent] = field(default_factory=list)
    exceedances: list[Exceedance] = field(default_factory=list)
    feature_frames: list[FeatureFrame] = field(default_factory=list)

    def second(self, at: datetime, levels: PeriodLevels) -> None:
        """Keep one second's levels."""
        self.seconds.append(levels)

    def report(self, at: datetime, levels: PeriodLevels) -> None:
        """Keep one report period's levels."""
        self.reports.append(levels)

    def event(self, at: datetime, event: AcousticEvent) -> None:
        """Keep an event."""
        self.events.append(event)

    def exceedance(self, exceedance: Exceedance) -> None:
        """Keep an exceedance."""
        self.exceedances.append(exceedance)

    def features(self, at: datetime, features: FeatureFrame) -> None:
        """Keep a frame's features when asked to."""
        if self.keep_features:
            self.feature_frames.append(features)

    def to_json(self) -> dict[str, object]:
        """Return the report: levels per second and events (the CLI's JSON shape)."""
        return {
            "per_second": [
                {
                    "t": round(s.t, 3),
                    "laeq": round(s.laeq, 1),
                    "lafmax": round(s.lafmax, 1),
                    "lcpeak": round(s.lcpeak, 1),
                }
                for s in self.seconds
            ],
            "events": [
                {
                    "t": e.t,
                    "class": e.cls.value,
                    "confidence": e.confidence,
                    "lcpeak": e.lcpeak,
                    "background_laeq": e.background_laeq,
                    "features": e.features,
                }
                for e in self.events
            ],
            "periods": [
                {
                    "t": round(r.t, 3),
                    "duration_s": round(r.duration, 3),
                    "laeq": round(r.laeq, 1),
                    "lafmax": round(r.lafmax, 1),
                    "lasmax": round(r.lasmax, 1),
                    "lcpeak": round(r.lcpeak, 1),
                    "l10": round(r.l10, 1),
                    "l50": round(r.l50, 1),
                    "l90": round(r.l90, 1),
                }
                for r in self.reports
            ],
            "exceedances": [
                {
                    "start": x.start.isoformat(),
                    "duration_s": x.duration_s,
                    "laeq": x.laeq,
                    "limit_db": x.limit_db,
                }
                for x in self.exceedances
            ],
        }


def analyze_file(
    path: Path,
    *,
    full_scale_db: float,
    detector: DetectorSettings | None = None,
    report_s: float = 60.0,
    limits: tuple[Limit, ...] = (),
    keep_features: bool = False,
) -> Collected:
    """Run one microphone's pipeline over a recording and return what it produced."""
    source = FileSource(path)
    sink = Collected(keep_features=keep_features)
    spec = MicSpec(
        fs=source.fs,
        calibration=Calibration(full_scale_db),
        detector=detector or DetectorSettings(),
        start=EPOCH,
        report_s=report_s,
        limits=limits,
    )
    pipe = MicPipeline(spec, sink)
    for block in source.blocks():
        pipe.feed(block)
    pipe.close()
    return sink
