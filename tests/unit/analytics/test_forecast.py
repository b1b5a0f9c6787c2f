"""Forecasts beat the seasonal-naive baseline and their intervals cover at their level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from tests.unit.analytics.conftest import response, table
from tests.unit.rules.conftest import T0, Harness, ruleset
from vigil.analytics.events import ForecastIssued
from vigil.analytics.forecast import SEASON, Series, backtest, fit_forecast, hourly_series
from vigil.analytics.settings import AnalyticsSettings
from vigil.core.events import Recorded
from vigil.core.ids import EventId
from vigil.incidents.catalogue import load_catalogue
from vigil.rules.facts import fact_of

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def _series(weeks: int, seed: int, dispersion: float = 0.0) -> Series:
    rng = np.random.default_rng(seed)
    n = weeks * SEASON
    hour = np.arange(n) % 24
    weekday = (np.arange(n) // 24) % 7
    rate = 3.0 * (1 + 0.6 * np.sin((hour - 9) / 24 * 2 * np.pi)) * np.where(weekday >= 5, 1.3, 1.0)
    if dispersion:
        rate = rate * rng.gamma(1 / dispersion, dispersion, n)
    return Series(
        start=START,
        counts=rng.poisson(rate).astype(float),
        hour=hour,
        weekday=weekday,
        label="test",
    )


def test_backtest_beats_seasonal_naive_and_covers() -> None:
    bt = backtest(_series(10, seed=1), horizon=24, origins=10)
    assert bt.mase < bt.seasonal_naive_mase * 0.85
    assert 0.85 <= bt.coverage <= 0.96, bt.coverage


def test_overdispersed_counts_widen_the_interval() -> None:
    s = _series(10, seed=2, dispersion=0.3)
    bt = backtest(s, horizon=24, origins=10)
    assert 0.84 <= bt.coverage <= 0.985, bt.coverage  # discrete intervals err wide
    f = fit_forecast(
        s,
        upto=len(s.counts),
        horizon=2,
        future_hour=np.array([0, 1]),
        future_weekday=np.array([0, 0]),
    )
    assert f.alpha > 0.1
    mean, lo, hi = f.total(2)
    assert lo <= mean <= hi and hi > lo


def test_hourly_series_counts_incidents_once_in_local_time() -> None:
    rows = [
        response(incident_id="A", unit_id="E1", received_at=0, dispatch_at=50),
        response(incident_id="A", unit_id="E2", received_at=5, dispatch_at=60),  # same incident
        response(incident_id="B", unit_id="E1", received_at=3600 * 2 + 10, dispatch_at=3700 * 2),
    ]
    con = table(rows)
    t0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
    s = hourly_series(
        con,
        AnalyticsSettings(timezone="America/Los_Angeles"),
        since=t0,
        until=t0 + timedelta(hours=4),
    )
    con.close()
    assert list(s.counts) == [1.0, 0.0, 1.0, 0.0]
    assert list(s.hour) == [4, 5, 6, 7]  # 12:00 UTC = 04:00 PST


def test_rules_can_act_on_a_forecast() -> None:
    text = """\
rules:
  - name: medical-demand-above-capacity
    version: 1
    match: {event: forecast.issued}
    condition: attrs.call_type == "Medical Incident" && attrs.high > 6.0
    actions: [{do: notify_webhook, url: "http://127.0.0.1:9/supervisor"}]
"""
    h = Harness(ruleset(text, load_catalogue(None)))

    def issued(i: int, high: float) -> Recorded:
        ev = ForecastIssued(
            call_type="Medical Incident",
            area="",
            horizon_h=2,
            expected=high - 2,
            low=1.0,
            high=high,
            level=0.9,
            mase=0.8,
        )
        return Recorded(
            seq=i,
            id=EventId(f"FC-{i}"),
            at=T0,
            actor="forecast",
            cause=None,
            event=ev,
            prev_hash="",
            hash="",
        )

    quiet, busy = fact_of(issued(1, 5.0)), fact_of(issued(2, 9.0))
    assert quiet is not None and busy is not None
    assert busy.kind == "forecast.issued" and busy.value == 7.0
    assert h.feed(quiet) == []
    assert len(h.feed(busy)) == 1


def test_a_daily_season_backtest_on_a_short_hourly_series() -> None:
    """Four days of hours (the SFFD all-calls extract's length): daily season, hour effects only."""
    s = _series(1, seed=4)
    four_days = Series(
        start=s.start,
        counts=s.counts[:96],
        hour=s.hour[:96],
        weekday=np.zeros(96, dtype=np.int64),
        label="four days",
    )
    bt = backtest(four_days, horizon=6, origins=8, window=48, season=24, step=6)
    assert bt.origins == 8
    assert np.isfinite(bt.mase) and np.isfinite(bt.seasonal_naive_mase)
    assert 0.5 <= bt.coverage <= 1.0
    try:
        backtest(four_days, horizon=24, origins=3, window=48, season=24, step=24)
    except ValueError as err:
        assert "needs at least 120 steps" in str(err)
    else:
        raise AssertionError("three 24 h origins do not fit in 96 hours after 48 h of fit")
