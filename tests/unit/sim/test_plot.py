"""The interval plot shows each distribution with its percentiles, and survives empty data."""

from __future__ import annotations

from pathlib import Path

from vigil.sim.plot import plot_intervals
from vigil.sim.summary import IntervalStats, Summary


def _summary(samples: dict[str, tuple[float, ...]]) -> Summary:
    return Summary(
        events=0,
        calls=0,
        incidents=0,
        incidents_by_type={},
        incidents_by_rule={},
        incidents_closed=0,
        incidents_cancelled=0,
        incidents_active=0,
        rule_firings={},
        assignments=0,
        recommended_assignments=0,
        status_reports={},
        events_by_type={},
        intervals={k: IntervalStats.of(v) for k, v in samples.items()},
        samples=samples,
    )


def test_plot_marks_the_percentiles_of_each_interval(tmp_path: Path) -> None:
    travel = tuple(float(s) for s in range(60, 660, 6))  # 100 incidents, 60..654 s
    summary = _summary(
        {
            "call_processing": (30.0, 45.0, 90.0),
            "turnout": (50.0, 70.0),
            "travel": travel,
            "total": (),
        }
    )
    out = tmp_path / "intervals.png"
    titles = plot_intervals(summary, out, title="test run")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000
    stats = summary.intervals["travel"]
    assert stats.p90_s is not None
    assert titles[2] == f"travel (n=100, p50 {stats.p50_s:.0f} s, p90 {stats.p90_s:.0f} s)"
    assert titles[0].startswith("call processing (n=3")
    assert titles[3] == "total: no data"
