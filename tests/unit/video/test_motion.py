"""Motion gating at a stream's start: moving things are seen from the second frame."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from vigil.video.motion import MotionGate

W, H = 320, 180


def _frame(rng: np.random.Generator, x: int | None) -> NDArray[np.uint8]:
    """A grey textured floor with sensor noise, and a dark 20x50 figure at column x."""
    img = np.full((H, W, 3), 120, np.int16)
    img += rng.normal(0, 3, img.shape).astype(np.int16)  # sensor noise, well under 30 levels
    if x is not None:
        img[100:150, x : x + 20] = (40, 50, 60)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_a_figure_moving_from_the_first_frame_is_found_from_the_second() -> None:
    rng = np.random.default_rng(3)
    gate = MotionGate(fps=10)
    found = []
    for i in range(6):
        m = gate.apply(_frame(rng, 40 + 8 * i))
        found.append(m.regions)
    assert found[0] == ()  # nothing to compare the first frame with
    for i in range(1, 6):
        assert found[i], f"frame {i}: the moving figure was not found"
        x = 40 + 8 * i
        assert any(r.x1 <= x + 10 <= r.x2 and r.y1 <= 125 <= r.y2 for r in found[i]), found[i]


def test_a_still_scene_gives_no_regions_while_the_background_is_learned() -> None:
    rng = np.random.default_rng(4)
    gate = MotionGate(fps=10)
    assert all(gate.apply(_frame(rng, 60)).regions == () for _ in range(15))
