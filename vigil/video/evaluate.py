"""Compare an `analyze` report with hand labels (tests/data/video/*.yaml).

Per (second, zone "frame", class) the labelled count is the number of objects
visible at the second's middle frame. Count-level matching: a second with 2
labelled and 3 reported vehicles is 2 true positives and 1 false positive.
Precision = TP / reported, recall = TP / labelled, MAE = mean |reported -
labelled| over every (second, class) of the clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vigil.video.model import COUNTED, ObjectClass


@dataclass(frozen=True, slots=True)
class Labels:
    """One clip's labels."""

    clip: str
    fps: float
    frames: int
    objects: tuple[tuple[str, int, int], ...]  # (class, first frame, last frame)
    raw: dict[str, Any]

    def seconds(self) -> int:
        """Return the number of (started) seconds in the clip."""
        return math.ceil(self.frames / self.fps)

    def truth(self, second: int, cls: str) -> int:
        """Return the labelled count of a class at the middle of a second."""
        mid = min(self.frames - 1, math.floor((second + 0.5) * self.fps))
        return sum(1 for c, a, b in self.objects if c == cls and a <= mid <= b)


def load_labels(path: Path) -> Labels:
    """Read a labels file."""
    raw: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    objs = tuple((str(o["class"]), int(o["first"]), int(o["last"])) for o in raw["objects"])
    return Labels(raw["clip"], float(raw["fps"]), int(raw["frames"]), objs, raw)


@dataclass(frozen=True, slots=True)
class Score:
    """Count agreement over one or more clips."""

    tp: int
    fp: int
    fn: int
    abs_err: int
    cells: int

    @property
    def precision(self) -> float:
        """TP / reported (1.0 when nothing was reported)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """TP / labelled (1.0 when nothing was labelled)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def mae(self) -> float:
        """Mean absolute count error per (second, class)."""
        return self.abs_err / self.cells if self.cells else 0.0

    def __add__(self, other: Score) -> Score:
        """Pool two scores."""
        return Score(
            self.tp + other.tp,
            self.fp + other.fp,
            self.fn + other.fn,
            self.abs_err + other.abs_err,
            self.cells + other.cells,
        )


ZERO = Score(0, 0, 0, 0, 0)


def score(
    report: dict[str, Any],
    labels: Labels,
    *,
    zone: str = "frame",
    classes: tuple[ObjectClass, ...] = COUNTED,
) -> Score:
    """Score a report's per-second counts in `zone` against the labels (of `classes`)."""
    got: dict[int, dict[str, int]] = {
        int(r["t"]): r for r in report["per_second"] if r["zone"] == zone
    }
    tp = fp = fn = err = cells = 0
    for s in range(labels.seconds()):
        row = got.get(s, {})
        for c in classes:
            want = labels.truth(s, c.value)
            have = int(row.get(c.value, 0))
            tp += min(want, have)
            fp += max(0, have - want)
            fn += max(0, want - have)
            err += abs(have - want)
            cells += 1
    return Score(tp, fp, fn, err, cells)
