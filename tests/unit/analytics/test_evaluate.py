"""DiD and synthetic control recover an injected effect and cover 0 when there is none."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.analytics.evaluate import Panel, did, synthetic_control

PERIODS = tuple(f"2023-{m:02d}-01" for m in range(1, 13)) + tuple(
    f"2024-{m:02d}-01" for m in range(1, 13)
)
START = "2024-01-01"


def _panel(areas: int, effect: float, treated: int, seed: int, factor: bool = False) -> Panel:
    """p90 travel per area-month: area level + common season + noise (+ a loading factor)."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(PERIODS))
    season = 20 * np.sin(t / 12 * 2 * np.pi)
    level = rng.normal(400, 40, areas)
    loading = rng.uniform(0.5, 1.5, areas) if factor else np.ones(areas)
    loading[0] = 1.0  # the treated area lies inside the donors' range (SC's premise)
    y = level[None, :] + season[:, None] * loading[None, :] + rng.normal(0, 8, (len(t), areas))
    post = np.array([p >= START for p in PERIODS])
    y[np.ix_(post, np.arange(treated))] += effect
    area_idx, period_idx = np.meshgrid(np.arange(areas), np.arange(len(t)))
    return Panel(
        areas=tuple(f"A{i:02d}" for i in range(areas)),
        periods=PERIODS,
        area=area_idx.ravel(),
        period=period_idx.ravel(),
        y=y.ravel(),
        n=np.full(y.size, 50),
        kpi="p90",
        interval="travel",
    )


def _treated(k: int) -> list[str]:
    return [f"A{i:02d}" for i in range(k)]


@pytest.mark.parametrize("areas", [40, 8])  # many clusters: CRVE; few: wild cluster bootstrap
def test_did_recovers_an_injected_effect(areas: int) -> None:
    res = did(_panel(areas, -30.0, areas // 4, seed=areas), _treated(areas // 4), START)
    assert res.low <= -30.0 <= res.high
    assert res.high < 0 and res.p_value < 0.05
    assert ("wild cluster" in res.method) == (areas < 30)
    assert res.pre_trend_p is not None and res.pre_trend_p > 0.01


def test_did_covers_zero_when_nothing_happened() -> None:
    # Over 20 panels with no effect, the 95% interval should cover 0 about 19 times.
    results = [did(_panel(40, 0.0, 10, seed=1000 + s), _treated(10), START) for s in range(20)]
    assert sum(r.low <= 0.0 <= r.high for r in results) >= 17


def test_wild_cluster_bootstrap_covers_zero_when_nothing_happened() -> None:
    res = did(_panel(8, 0.0, 2, seed=108), _treated(2), START)
    assert "wild cluster" in res.method
    assert res.low <= 0.0 <= res.high
    assert res.p_value > 0.05


def test_did_flags_diverging_pre_trends() -> None:
    p = _panel(40, 0.0, 10, seed=7)
    y = p.y.copy()
    treated = p.area < 10
    y[treated] += 4.0 * p.period[treated]  # the treated areas were drifting before
    drifting = Panel(**{**{f: getattr(p, f) for f in p.__dataclass_fields__}, "y": y})
    res = did(drifting, _treated(10), START)
    assert res.pre_trend_p is not None and res.pre_trend_p < 0.05
    assert any("pre-trends differ" in c for c in res.cannot_say)


def test_synthetic_control_recovers_an_injected_effect() -> None:
    res = synthetic_control(_panel(30, -40.0, 1, seed=3, factor=True), "A00", START)
    assert res.low is not None and res.high is not None
    assert res.low <= -40.0 <= res.high and res.high < 0
    assert res.p_value <= 0.05
    assert abs(sum(res.weights.values()) - 1) < 1e-3


def test_synthetic_control_covers_zero_when_nothing_happened() -> None:
    res = synthetic_control(_panel(30, 0.0, 1, seed=4, factor=True), "A00", START)
    assert res.low is not None and res.high is not None
    assert res.low <= 0.0 <= res.high
    assert res.p_value > 0.05


def test_synthetic_control_with_too_few_donors_says_so() -> None:
    res = synthetic_control(_panel(6, -40.0, 1, seed=5, factor=True), "A00", START)
    assert res.low is None and any("no effect size can be ruled out" in c for c in res.cannot_say)
