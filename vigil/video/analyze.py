"""`vigil video analyze FILE`: the whole pipeline on one file, no broker; a JSON report.

Output shape::

    {"per_second": [{"t": 0, "zone": "frame", "person": 0, "vehicle": 0, "bicycle": 0}, ...],
     "tracks": {"person": n, "vehicle": n, "bicycle": n},
     "events": [{"kind": "loitering", "zone": "...", "t_start": s, "t_end": s, ...}, ...],
     "lines": {"name": {"in": {"vehicle": n, ...}, "out": {...}}},
     "frames": {"analysed": n, "detector_runs": n, "fps": f, "width": w, "height": h}}

A second's count is the median, over the frames analysed in that second, of the
tracked objects of each class whose foot point is in the zone.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.video.behaviours import StepOut
from vigil.video.model import COUNTED, BehaviourEvent, ClassVotes, ObjectClass
from vigil.video.pipeline import CameraPipeline, FrameResult, PipelineConfig
from vigil.video.source import FrameSource

Json = dict[str, Any]


def event_json(e: BehaviourEvent) -> Json:
    """Return the JSON form of a behaviour event (track ids are camera-local, hourly)."""
    return {
        "kind": e.kind.value,
        "zone": e.zone,
        "place": e.place,
        "t_start": round(e.t_start, 2),
        "t_end": None if e.t_end is None else round(e.t_end, 2),
        "count": e.count,
        "confidence": e.confidence,
        "tracks": list(e.tracks),
    }


@dataclass(slots=True)
class _Collector:
    per_frame: dict[tuple[int, str], list[dict[ObjectClass, int]]]
    votes: dict[int, ClassVotes]  # as in Behaviours
    events: list[Json]
    lines: dict[str, dict[str, Counter[str]]]

    def add(self, out: StepOut, t: float | None) -> None:
        if t is not None:
            for zone, counts in out.counts.items():
                self.per_frame[(int(t), zone)].append(counts)
        self.events.extend(event_json(e) for e in out.ended)
        for c in out.crossings:
            self.lines[c.line][c.direction][c.cls.value] += 1
            self.events.append(
                {
                    "kind": "line_crossing",
                    "zone": c.line,
                    "t_start": round(c.t, 2),
                    "t_end": round(c.t, 2),
                    "direction": c.direction,
                    "class": c.cls.value,
                    "tracks": [c.track],
                }
            )


def analyze(
    path: Path,
    config: PipelineConfig,
    *,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> Json:
    """Run the pipeline over a file and return the report (see the module docstring)."""
    source = FrameSource(str(path), fps=config.fps)
    pipe = CameraPipeline(config)
    col = _Collector(
        defaultdict(list), defaultdict(ClassVotes), [], defaultdict(lambda: defaultdict(Counter))
    )
    last_t = 0.0
    for t, frame in source.frames():
        r = pipe.process(t, frame)
        last_t = t
        for o in r.objects:
            col.votes[o.track].add(o.cls, o.confidence)
        col.add(r.out, t)
        if on_frame is not None:
            on_frame(r)
    col.add(pipe.finish(last_t + 1.0 / config.fps), None)
    per_second = []
    for (sec, zone), frames in sorted(col.per_frame.items()):
        row: Json = {"t": sec, "zone": zone}
        for c in COUNTED:
            row[c.value] = round(float(statistics.median(f[c] for f in frames)))
        per_second.append(row)
    tracks = Counter(v.best().value for v in col.votes.values())
    w, h = pipe.size or (0, 0)
    col.events.sort(key=lambda e: (e["t_start"], e["kind"]))
    return {
        "per_second": per_second,
        "tracks": {c.value: tracks.get(c.value, 0) for c in COUNTED},
        "events": col.events,
        "lines": {
            name: {d: dict(counts) for d, counts in dirs.items()}
            for name, dirs in sorted(col.lines.items())
        },
        "frames": {
            "analysed": pipe.frames,
            "detector_runs": pipe.detector_runs,
            "fps": config.fps,
            "width": w,
            "height": h,
        },
    }
