"""Demand forecasting: calls per hour (per area and type) with prediction intervals.

The model is deliberately simple and explainable: a log-linear count model
(statsmodels GLM, Poisson family) of hourly incident counts on hour-of-day and
day-of-week effects and a linear trend, fitted to a recent window. Counts are
usually over-dispersed, so the prediction interval is the negative binomial
with the fitted mean and a dispersion alpha estimated by the auxiliary
regression of Cameron & Trivedi (Var = mu + alpha mu^2; alpha = 0 gives
Poisson). Parameter uncertainty is not included in the interval (stated in
the output).

Every forecast is backtested against the seasonal-naive baseline (the same
hour one week earlier) on rolling origins: MASE (the model's mean absolute
error scaled by the in-sample error of the seasonal-naive forecast, Hyndman &
Koehler 2006), the baseline's own scaled error, and the coverage of the
prediction intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
from numpy.typing import NDArray
from scipy import stats

from vigil.analytics.kpi import Selection, measure
from vigil.analytics.settings import AnalyticsSettings

SEASON = 168  # hours in a week
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """Hourly incident counts from `start` (UTC, on the hour), with local hour and weekday."""

    start: datetime
    counts: F64
    hour: NDArray[np.int64]  # local hour of day per step
    weekday: NDArray[np.int64]  # local day of week per step (0 = Monday)
    label: str


def hourly_series(
    con: duckdb.DuckDBPyConnection,
    settings: AnalyticsSettings,
    *,
    since: datetime,
    until: datetime,
    areas: Sequence[str] = (),
    call_types: Sequence[str] = (),
) -> Series:
    """Count incidents per hour (earliest call) in [since, until) from ``responses``."""
    measure(
        con,
        settings,
        Selection(
            since=since,
            until=until,
            areas=tuple(areas),
            call_types=tuple(call_types),
            intervals=("total",),
        ),
    )
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    steps = int((until - start).total_seconds() // 3600)
    rows = con.execute(
        "SELECT CAST((epoch(received_at) - epoch(CAST(? AS TIMESTAMPTZ))) // 3600 AS BIGINT) AS h,"
        " count(*) FROM measured WHERE received_at IS NOT NULL GROUP BY h",
        [start],
    ).fetchall()
    counts = np.zeros(steps)
    for h, c in rows:
        if 0 <= h < steps:
            counts[int(h)] = c
    local = con.execute(
        "SELECT CAST(extract(hour FROM timezone(?, t)) AS BIGINT),"
        " CAST(extract(isodow FROM timezone(?, t)) AS BIGINT) - 1"
        " FROM (SELECT CAST(? AS TIMESTAMPTZ) + to_hours(CAST(i AS BIGINT)) AS t"
        " FROM range(?) r(i)) ORDER BY t",
        [settings.timezone, settings.timezone, start, steps],
    ).fetchall()
    label = " / ".join(x for x in (", ".join(call_types), ", ".join(areas)) if x) or "all calls"
    return Series(
        start=start,
        counts=counts,
        hour=np.array([r[0] for r in local], dtype=np.int64),
        weekday=np.array([r[1] for r in local], dtype=np.int64),
        label=label,
    )


def _design(hour: NDArray[np.int64], weekday: NDArray[np.int64], t: F64) -> F64:
    n = len(hour)
    x = np.zeros((n, 1 + 23 + 6 + 1))
    x[:, 0] = 1.0
    on = hour > 0
    x[np.flatnonzero(on), hour[on]] = 1.0
    on = weekday > 0
    x[np.flatnonzero(on), 23 + weekday[on]] = 1.0
    x[:, -1] = t
    return x


@dataclass(frozen=True, slots=True, kw_only=True)
class Forecast:
    """Expected calls per hour ahead with prediction intervals."""

    start: datetime  # first forecast hour (UTC)
    mean: F64
    low: F64
    high: F64
    level: float
    alpha: float  # negative-binomial dispersion (0 = Poisson)

    def to_json(self) -> list[dict[str, Any]]:
        """Return one row per hour."""
        return [
            {
                "at": (self.start + timedelta(hours=i)).isoformat(),
                "expected": round(float(m), 3),
                "low": float(lo),
                "high": float(hi),
            }
            for i, (m, lo, hi) in enumerate(zip(self.mean, self.low, self.high, strict=True))
        ]

    def total(self, hours: int) -> tuple[float, float, float]:
        """Return expected calls over the first `hours` and its interval (NB moment match)."""
        m = float(self.mean[:hours].sum())
        var = float((self.mean[:hours] + self.alpha * self.mean[:hours] ** 2).sum())
        lo, hi = _interval(np.array([m]), np.array([var]), self.level)
        return m, float(lo[0]), float(hi[0])


def _interval(mean: F64, var: F64, level: float) -> tuple[F64, F64]:
    tail = (1 - level) / 2
    over = var > mean * (1 + 1e-9)
    lo = stats.poisson.ppf(tail, mean)
    hi = stats.poisson.ppf(1 - tail, mean)
    if over.any():
        # NB(n, p) with mean m and variance v: p = m / v, n = m^2 / (v - m).
        m, v = mean[over], var[over]
        n, p = m * m / (v - m), m / v
        lo[over] = stats.nbinom.ppf(tail, n, p)
        hi[over] = stats.nbinom.ppf(1 - tail, n, p)
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def fit_forecast(
    s: Series,
    *,
    upto: int,
    horizon: int,
    window: int = 8 * SEASON,
    level: float = 0.9,
    future_hour: NDArray[np.int64] | None = None,
    future_weekday: NDArray[np.int64] | None = None,
) -> Forecast:
    """Fit on the `window` hours before step `upto` and forecast `horizon` hours."""
    import statsmodels.api as sm  # noqa: PLC0415 - heavy; only forecasts pay for it

    lo_i = max(0, upto - window)
    y = s.counts[lo_i:upto]
    t = np.arange(lo_i, upto, dtype=np.float64) / SEASON
    x = _design(s.hour[lo_i:upto], s.weekday[lo_i:upto], t)
    # Effects the window cannot estimate (an hour or weekday it never saw, every hour of a
    # daily series) are left out, in the fit and in the forecast alike.
    used = np.flatnonzero(np.any(x != 0, axis=0))
    fit = sm.GLM(y, x[:, used], family=sm.families.Poisson()).fit()
    mu_in = fit.mu
    # NB2 dispersion by the Cameron-Trivedi auxiliary regression (y - mu)^2 - y = alpha mu^2,
    # which weights by mu^2 so near-empty hours cannot blow it up; 0 when not over-dispersed.
    alpha = max(
        0.0, float(np.sum(mu_in**2 * ((y - mu_in) ** 2 - y)) / max(np.sum(mu_in**4), 1e-12))
    )
    hours = future_hour if future_hour is not None else s.hour[upto : upto + horizon]
    days = future_weekday if future_weekday is not None else s.weekday[upto : upto + horizon]
    tf = np.arange(upto, upto + len(hours), dtype=np.float64) / SEASON
    mean = np.asarray(fit.predict(_design(hours, days, tf)[:, used]), dtype=np.float64)
    low, high = _interval(mean, mean + alpha * mean * mean, level)
    return Forecast(
        start=s.start + timedelta(hours=upto),
        mean=mean,
        low=low,
        high=high,
        level=level,
        alpha=alpha,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Backtest:
    """Rolling-origin backtest of the model against the seasonal-naive baseline."""

    origins: int
    horizon: int
    mase: float
    seasonal_naive_mase: float
    mae: float
    seasonal_naive_mae: float
    coverage: float
    level: float

    def to_json(self) -> dict[str, float | int]:
        """Return a JSON-ready dict."""
        return {
            "origins": self.origins,
            "horizon_h": self.horizon,
            "mase": round(self.mase, 4),
            "seasonal_naive_mase": round(self.seasonal_naive_mase, 4),
            "mae": round(self.mae, 4),
            "seasonal_naive_mae": round(self.seasonal_naive_mae, 4),
            "interval_level": self.level,
            "interval_coverage": round(self.coverage, 4),
        }


def backtest(
    s: Series,
    *,
    horizon: int = 24,
    origins: int = 14,
    window: int = 8 * SEASON,
    level: float = 0.9,
    season: int = SEASON,
    step: int = 24,
) -> Backtest:
    """Forecast from `origins` origins `step` steps apart at the end of the series; score them.

    The baseline is the seasonal-naive forecast (the value `season` steps earlier; it
    needs horizon <= season); MASE divides by its in-sample error over each window.
    """
    n = len(s.counts)
    first = n - horizon - (origins - 1) * step
    if horizon > season or first < 2 * season:
        need = season * 2 + horizon + (origins - 1) * step
        raise ValueError(f"the backtest needs at least {need} steps of data (has {n})")
    errs, naive_errs, scales, hits, total = [], [], [], 0, 0
    for k in range(origins):
        upto = first + k * step
        f = fit_forecast(s, upto=upto, horizon=horizon, window=window, level=level)
        actual = s.counts[upto : upto + horizon]
        naive = s.counts[upto - season : upto - season + horizon]
        lo_i = max(season, upto - window)
        scales.append(
            np.mean(np.abs(s.counts[lo_i:upto] - s.counts[lo_i - season : upto - season]))
        )
        errs.append(np.abs(actual - f.mean))
        naive_errs.append(np.abs(actual - naive))
        hits += int(np.sum((actual >= f.low) & (actual <= f.high)))
        total += len(actual)
    scale = float(np.mean(scales)) or 1.0
    mae, nmae = float(np.mean(errs)), float(np.mean(naive_errs))
    return Backtest(
        origins=origins,
        horizon=horizon,
        mase=mae / scale,
        seasonal_naive_mase=nmae / scale,
        mae=mae,
        seasonal_naive_mae=nmae,
        coverage=hits / total,
        level=level,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DemandForecast:
    """A forecast of the next hours with the model's backtest."""

    label: str
    forecast: Forecast
    backtest: Backtest | None
    note: str

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "series": self.label,
            "model": "Poisson GLM on hour-of-day, day-of-week and trend; negative-binomial "
            f"interval (alpha {self.forecast.alpha:.3f}) without parameter uncertainty",
            "level": self.forecast.level,
            "hours": self.forecast.to_json(),
            "backtest": self.backtest.to_json() if self.backtest else None,
            "note": self.note,
        }


def forecast_demand(
    con: duckdb.DuckDBPyConnection,
    settings: AnalyticsSettings,
    *,
    now: datetime,
    horizon: int = 24,
    weeks: int = 10,
    call_types: Sequence[str] = (),
    areas: Sequence[str] = (),
    level: float = 0.9,
) -> DemandForecast:
    """Fit on the last `weeks` weeks before `now`, forecast `horizon` hours, and backtest."""
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    s = hourly_series(
        con,
        settings,
        since=end - timedelta(weeks=weeks),
        until=end,
        areas=areas,
        call_types=call_types,
    )
    if s.counts.sum() == 0:
        raise ValueError(f"no calls of {s.label} in the {weeks} weeks before {end.isoformat()}")
    future = hourly_series(
        con,
        settings,
        since=end,
        until=end + timedelta(hours=horizon),
        areas=areas,
        call_types=call_types,
    )
    f = fit_forecast(
        s,
        upto=len(s.counts),
        horizon=horizon,
        level=level,
        future_hour=future.hour,
        future_weekday=future.weekday,
    )
    note = ""
    bt: Backtest | None = None
    try:
        bt = backtest(
            s,
            horizon=horizon,
            origins=min(14, max(1, (len(s.counts) - 3 * SEASON) // 24)),
            level=level,
        )
    except ValueError as err:
        note = f"not backtested: {err}"
    return DemandForecast(label=s.label, forecast=f, backtest=bt, note=note)
