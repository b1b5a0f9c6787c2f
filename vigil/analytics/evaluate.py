"""Before/after evaluation of an intervention against comparison areas.

The unit of analysis is an (area, period) panel of one KPI (e.g. the 90th
percentile of travel time per station area per month), built from the
responses relation by `panel`.

* **Difference-in-differences** (`did`): two-way fixed effects (area, period)
  OLS with statsmodels, standard errors clustered by area. With fewer than
  `FEW_CLUSTERS` areas the cluster-robust t-test over-rejects, so the p-value
  and the 95% interval come from a restricted wild cluster bootstrap (WCR,
  Rademacher weights, Webb's six-point weights below 12 clusters; Cameron,
  Gelbach & Miller 2008, MacKinnon & Webb 2017), the interval by test inversion.
  The wild bootstrap is implemented here (a few vectorised lines) rather than
  taken from `wildboottest`, whose last release is from 2024 and which pins its
  own numba/pandas stack.
* **Event study** (`event_study`): leads and lags of the intervention (period -1
  the reference), cluster-robust CIs, and a joint Wald test that every lead is
  zero (parallel pre-trends).
* **Synthetic control** (`synthetic_control`): for one treated area, non-negative
  donor weights summing to one that best reproduce its pre-period KPI (Abadie,
  Diamond & Hainmueller 2010, outcome lags as predictors with V = I; demeaned,
  as Ferman & Pinto 2021, so a constant level difference is not a misfit), placebo
  runs on every donor, the permutation p-value of the post/pre RMSPE ratio, and
  a 95% interval by inverting that test. The few lines of constrained least
  squares are done with scipy's NNLS; pysyncon (maintained) was considered, but
  its nested optimisation of predictor weights buys nothing when the only
  predictors are the outcome's own lags, and the test inversion refits many
  times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats

from vigil.analytics.kpi import Selection, measure
from vigil.analytics.settings import AnalyticsSettings

FEW_CLUSTERS = 30
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Panel:
    """A balanced-or-not panel: one KPI value per (area, period), with its sample size."""

    areas: tuple[str, ...]
    periods: tuple[str, ...]  # sorted
    area: NDArray[np.int64]  # index into areas, per observation
    period: NDArray[np.int64]  # index into periods, per observation
    y: F64
    n: NDArray[np.int64]
    kpi: str
    interval: str

    def matrix(self) -> F64:
        """Return the (period × area) matrix of y, NaN where absent."""
        out = np.full((len(self.periods), len(self.areas)), np.nan)
        out[self.period, self.area] = self.y
        return out


STATISTICS = {
    "p90": "quantile_cont(value_s, 0.9)",
    "p50": "quantile_cont(value_s, 0.5)",
    "mean": "avg(value_s)",
    "count": "count(*)",
}


def panel(
    con: duckdb.DuckDBPyConnection,
    settings: AnalyticsSettings,
    *,
    interval: str,
    kpi: str = "p90",
    min_n: int = 5,
    selection: Selection = Selection(),  # noqa: B008 - frozen and immutable
) -> Panel:
    """Build the (area, period) panel of one KPI of one interval from ``responses``."""
    if kpi not in STATISTICS:
        raise ValueError(f"unknown KPI {kpi!r}; choose from {', '.join(STATISTICS)}")
    from vigil.analytics.intervals import BY_NAME, INTERVALS  # noqa: PLC0415 - cycle-free

    if interval not in BY_NAME:
        raise ValueError(f"unknown interval {interval!r}; choose from {', '.join(BY_NAME)}")
    labels = measure(con, settings, selection)
    code = [d.name for d in INTERVALS].index(interval)
    rows = con.execute(
        f"SELECT area, period, {STATISTICS[kpi]} AS y, count(*) AS n FROM measured "  # noqa: S608 - allow-listed
        "WHERE status = 0 AND interval = ? GROUP BY ALL HAVING count(*) >= ? ORDER BY ALL",
        [code, min_n],
    ).fetchall()
    area_labels = labels["area"]
    period_labels = labels["period"]
    used_areas = sorted({r[0] for r in rows})
    used_periods = sorted({r[1] for r in rows}, key=lambda p: period_labels[p])
    a_index = {a: i for i, a in enumerate(used_areas)}
    p_index = {p: i for i, p in enumerate(used_periods)}
    return Panel(
        areas=tuple(area_labels[a] for a in used_areas),
        periods=tuple(period_labels[p] for p in used_periods),
        area=np.array([a_index[r[0]] for r in rows], dtype=np.int64),
        period=np.array([p_index[r[1]] for r in rows], dtype=np.int64),
        y=np.array([float(r[2]) for r in rows]),
        n=np.array([int(r[3]) for r in rows], dtype=np.int64),
        kpi=kpi,
        interval=interval,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DidResult:
    """A difference-in-differences estimate with its uncertainty and checks."""

    estimate: float
    low: float
    high: float
    p_value: float
    method: str
    clusters: int
    treated: int
    observations: int
    pre_trend_p: float | None
    event_study: list[dict[str, float]] = field(default_factory=list)
    cannot_say: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "estimate": self.estimate,
            "ci": [self.low, self.high],
            "p_value": self.p_value,
            "method": self.method,
            "clusters": self.clusters,
            "treated_areas": self.treated,
            "observations": self.observations,
            "pre_trend_p": self.pre_trend_p,
            "parallel_pre_trends": None
            if self.pre_trend_p is None
            else bool(self.pre_trend_p >= 0.05),
            "event_study": self.event_study,
            "cannot_say": list(self.cannot_say),
        }


def _design(p: Panel, extra: F64) -> F64:
    """Return [extra | area dummies | period dummies (first dropped)]."""
    n = len(p.y)
    areas = np.zeros((n, len(p.areas)))
    areas[np.arange(n), p.area] = 1.0
    periods = np.zeros((n, max(len(p.periods) - 1, 0)))
    later = p.period > 0
    periods[np.flatnonzero(later), p.period[later] - 1] = 1.0
    return np.column_stack([extra.reshape(n, -1), areas, periods])


def _treated(p: Panel, treated_areas: Sequence[str], start_period: str) -> tuple[F64, F64]:
    unknown = [a for a in treated_areas if a not in p.areas]
    if unknown:
        raise ValueError(f"treated areas not in the data: {', '.join(unknown)}")
    treated_idx = [p.areas.index(a) for a in treated_areas]
    is_treated = np.isin(p.area, treated_idx).astype(np.float64)
    post = np.array([per >= start_period for per in p.periods])[p.period].astype(np.float64)
    return is_treated, post


def did(
    p: Panel,
    treated_areas: Sequence[str],
    start_period: str,
    *,
    confidence: float = 0.95,
    resamples: int = 999,
    seed: int = 12,
    leads_lags: int = 6,
) -> DidResult:
    """Estimate the intervention's effect on the KPI by two-way fixed-effects DiD."""
    import statsmodels.api as sm  # noqa: PLC0415 - heavy; only evaluations pay for it

    is_treated, post = _treated(p, treated_areas, start_period)
    d = is_treated * post
    if d.sum() == 0 or (is_treated * (1 - post)).sum() == 0:
        raise ValueError("the treated areas need observations both before and after the start")
    x = _design(p, d)
    fit = sm.OLS(p.y, x).fit(cov_type="cluster", cov_kwds={"groups": p.area})
    beta, se = float(fit.params[0]), float(fit.bse[0])
    clusters = len(p.areas)
    alpha = 1 - confidence
    cannot = [
        "the effect is an average over the treated areas and post periods; it says nothing "
        "about any single incident",
        "a causal reading needs parallel trends and no other change at the same time and place",
    ]
    if clusters < FEW_CLUSTERS:
        p_value, low, high = _wild_cluster(
            p, x, beta, se, confidence=confidence, resamples=resamples, seed=seed
        )
        method = (
            f"two-way FE DiD, wild cluster bootstrap (WCR, {resamples} draws, "
            f"{'Webb' if clusters < 12 else 'Rademacher'} weights, {clusters} clusters)"
        )
    else:
        df = clusters - 1
        t = stats.t.ppf(1 - alpha / 2, df)
        low, high = beta - t * se, beta + t * se
        p_value = float(2 * stats.t.sf(abs(beta / se), df)) if se > 0 else 0.0
        method = f"two-way FE DiD, standard errors clustered by area ({clusters} clusters)"
    es, pre_p = event_study(p, treated_areas, start_period, window=leads_lags)
    if pre_p is not None and pre_p < 0.05:
        cannot.append(
            f"pre-trends differ (joint test of leads p = {pre_p:.3f}): the comparison areas "
            "are not a credible counterfactual"
        )
    return DidResult(
        estimate=beta,
        low=float(low),
        high=float(high),
        p_value=float(p_value),
        method=method,
        clusters=clusters,
        treated=len(treated_areas),
        observations=len(p.y),
        pre_trend_p=pre_p,
        event_study=es,
        cannot_say=tuple(cannot),
    )


def _webb(rng: np.random.Generator, size: tuple[int, int]) -> F64:
    values = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
    return np.asarray(rng.choice(values, size=size))


def _wild_cluster(
    p: Panel, x: F64, beta: float, se: float, *, confidence: float, resamples: int, seed: int
) -> tuple[float, float, float]:
    """Return (p-value, low, high) by the restricted wild cluster bootstrap."""
    rng = np.random.default_rng(seed)
    g = len(p.areas)
    n, k = x.shape
    weights = _webb(rng, (g, resamples)) if g < 12 else rng.choice([-1.0, 1.0], size=(g, resamples))
    member = np.zeros((g, n))
    member[p.area, np.arange(n)] = 1.0
    pinv = np.linalg.pinv(x)
    xr = x[:, 1:]
    pinv_r = np.linalg.pinv(xr)
    c = pinv[0]  # beta_hat = c' y, so its cluster variance is sum_g (sum_{i in g} c_i e_i)^2
    scale = g / (g - 1) * (n - 1) / max(n - k, 1)

    def t_stats(beta0: float) -> tuple[float, F64]:
        y0 = p.y - beta0 * x[:, 0]
        fitted = xr @ (pinv_r @ y0)
        resid = y0 - fitted
        ystar = (fitted + beta0 * x[:, 0])[:, None] + resid[:, None] * weights[p.area]
        bstar = pinv[0] @ ystar
        estar = ystar - x @ (pinv @ ystar)
        sstar = np.sqrt(scale * ((member @ (c[:, None] * estar)) ** 2).sum(axis=0))
        t_obs = (beta - beta0) / se if se > 0 else 0.0
        return t_obs, (bstar - beta0) / np.where(sstar > 0, sstar, np.inf)

    def p_at(beta0: float) -> float:
        t_obs, tb = t_stats(beta0)
        return float(np.mean(np.abs(tb) >= abs(t_obs)))

    p0 = p_at(0.0)
    alpha = 1 - confidence
    span = 8 * se if se > 0 else 1.0

    def bound(far: float) -> float:
        # p is 1 at the estimate and falls off on each side: bisect for where it crosses alpha.
        near = beta
        if p_at(far) > alpha:
            return far
        for _ in range(14):
            mid = (near + far) / 2
            if p_at(mid) > alpha:
                near = mid
            else:
                far = mid
        return near

    return p0, bound(beta - span), bound(beta + span)


def event_study(
    p: Panel, treated_areas: Sequence[str], start_period: str, *, window: int = 6
) -> tuple[list[dict[str, float]], float | None]:
    """Return lead/lag effects (reference: the period before the start) and the pre-trend p."""
    import statsmodels.api as sm  # noqa: PLC0415 - heavy; only evaluations pay for it

    is_treated, _ = _treated(p, treated_areas, start_period)
    start = next((i for i, per in enumerate(p.periods) if per >= start_period), len(p.periods))
    # Periods beyond the window are binned into its end points, so that only period -1
    # is the reference (leaving them out would put post periods in the reference).
    rel = np.clip(p.period - start, -window, window)
    on = is_treated > 0
    ks = [k for k in range(-window, window + 1) if k != -1 and np.any((rel == k) & on)]
    if not ks:
        return [], None
    cols = np.column_stack([((rel == k) & on).astype(np.float64) for k in ks])
    x = _design(p, cols)
    fit = sm.OLS(p.y, x).fit(cov_type="cluster", cov_kwds={"groups": p.area})
    z = stats.norm.ppf(0.975)
    out = [
        {
            "k": float(k),
            "estimate": float(fit.params[i]),
            "low": float(fit.params[i] - z * fit.bse[i]),
            "high": float(fit.params[i] + z * fit.bse[i]),
        }
        for i, k in enumerate(ks)
    ]
    leads = [i for i, k in enumerate(ks) if k < -1]
    if not leads:
        return out, None
    r = np.zeros((len(leads), x.shape[1]))
    for row, i in enumerate(leads):
        r[row, i] = 1.0
    test = fit.wald_test(r, scalar=True)
    return out, float(test.pvalue)


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticControlResult:
    """A synthetic-control estimate with its placebo inference."""

    estimate: float
    low: float | None
    high: float | None
    p_value: float
    pre_rmspe: float
    weights: dict[str, float]
    gaps: list[dict[str, float | str]]
    placebo_ratios: dict[str, float]
    cannot_say: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "estimate": self.estimate,
            "ci": [self.low, self.high],
            "p_value": self.p_value,
            "pre_rmspe": self.pre_rmspe,
            "weights": self.weights,
            "gaps": self.gaps,
            "placebo_ratios": self.placebo_ratios,
            "cannot_say": list(self.cannot_say),
        }


def _weights(target: F64, donors: F64) -> F64:
    """Return w >= 0, sum 1, minimising ||target - donors w|| (NNLS with a heavy sum row)."""
    heavy = 1e3 * max(1.0, float(np.abs(donors).max()))
    a = np.vstack([donors, np.full(donors.shape[1], heavy)])
    b = np.concatenate([target, [heavy]])
    w, _ = optimize.nnls(a, b, maxiter=50 * donors.shape[1])
    return np.asarray(w / w.sum() if w.sum() > 0 else w)


def _ratio(y: F64, donors: F64, pre: NDArray[np.bool_]) -> tuple[float, F64, F64]:
    # Demeaned SC (Ferman & Pinto 2021): levels differ between areas for reasons that do not
    # change; the weights reproduce the treated area's pre-period movements, not its level.
    y = y - y[pre].mean()
    donors = donors - donors[pre].mean(axis=0)
    w = _weights(y[pre], donors[pre])
    gap = y - donors @ w
    pre_rmspe = float(np.sqrt(np.mean(gap[pre] ** 2)))
    post_rmspe = float(np.sqrt(np.mean(gap[~pre] ** 2)))
    return post_rmspe / max(pre_rmspe, 1e-9), gap, w


def synthetic_control(
    p: Panel, treated_area: str, start_period: str, *, confidence: float = 0.95
) -> SyntheticControlResult:
    """Estimate the effect on one treated area against a synthetic twin made of the others."""
    m = p.matrix()
    if treated_area not in p.areas:
        raise ValueError(f"treated area {treated_area!r} is not in the data")
    complete: NDArray[np.bool_] = np.asarray(~np.isnan(m).any(axis=0), dtype=bool)
    t_idx = p.areas.index(treated_area)
    if not complete[t_idx]:
        raise ValueError(f"area {treated_area!r} lacks the KPI in some periods (min n not met)")
    donors_idx = [j for j in np.flatnonzero(complete) if j != t_idx]
    if len(donors_idx) < 2:
        raise ValueError("synthetic control needs at least two complete comparison areas")
    pre: NDArray[np.bool_] = np.array([per < start_period for per in p.periods], dtype=bool)
    if pre.sum() < 3 or (~pre).sum() < 1:
        raise ValueError("synthetic control needs >= 3 periods before and >= 1 after the start")
    y1 = m[:, t_idx]
    y0 = m[:, donors_idx]
    ratio, gap, w = _ratio(y1, y0, pre)
    placebo: dict[str, float] = {}
    for j in range(len(donors_idx)):
        others = np.delete(y0, j, axis=1)
        placebo[p.areas[donors_idx[j]]] = _ratio(y0[:, j], others, pre)[0]
    ratios = np.array(list(placebo.values()))
    p_value = float((1 + np.sum(ratios >= ratio)) / (1 + len(ratios)))
    estimate = float(gap[~pre].mean())
    low, high = _invert(
        y1, y0=y0, pre=pre, ratios=ratios, estimate=estimate, gap=gap, alpha=1 - confidence
    )
    cannot = [
        "the synthetic twin reproduces the treated area's past, not its future without the "
        "intervention; a shock to the treated area alone at the same time is indistinguishable",
        f"the smallest attainable p-value is 1/{len(ratios) + 1}",
    ]
    if low is None:
        cannot.append(
            f"with {len(ratios)} comparison areas no effect size can be ruled out at the "
            f"{round(confidence * 100)}% level"
        )
    pre_rmspe = float(np.sqrt(np.mean(gap[pre] ** 2)))
    return SyntheticControlResult(
        estimate=estimate,
        low=low,
        high=high,
        p_value=p_value,
        pre_rmspe=pre_rmspe,
        weights={p.areas[donors_idx[j]]: round(float(w[j]), 4) for j in np.flatnonzero(w > 1e-4)},
        gaps=[
            {
                "period": per,
                "treated": float(y1[i]),
                "synthetic": float(y1[i] - gap[i]),
                "gap": float(gap[i]),
            }
            for i, per in enumerate(p.periods)
        ],
        placebo_ratios=placebo,
        cannot_say=tuple(cannot),
    )


def _invert(
    y1: F64,
    *,
    y0: F64,
    pre: NDArray[np.bool_],
    ratios: F64,
    estimate: float,
    gap: F64,
    alpha: float,
) -> tuple[float | None, float | None]:
    """Return the effects tau not rejected by the placebo test (treated post shifted by tau)."""
    if 1 / (1 + len(ratios)) > alpha:
        return None, None
    scale = max(float(np.std(gap)), float(np.std(y1)), 1e-6)
    grid = np.linspace(estimate - 8 * scale, estimate + 8 * scale, 161)
    accepted = []
    for tau in grid:
        shifted = y1 - np.where(pre, 0.0, tau)
        r = _ratio(shifted, y0, pre)[0]
        if (1 + np.sum(ratios >= r)) / (1 + len(ratios)) > alpha:
            accepted.append(float(tau))
    if not accepted:
        return estimate, estimate
    return min(accepted), max(accepted)


def period_of(when: datetime, settings: AnalyticsSettings) -> str:
    """Return the label of the period containing `when` (as the panel labels it)."""
    con = duckdb.connect()
    try:
        row = con.execute(
            "SELECT strftime(date_trunc(?, timezone(?, CAST(? AS TIMESTAMPTZ))), '%Y-%m-%d')",
            [settings.period, settings.timezone, when],
        ).fetchone()
    finally:
        con.close()
    return str(row[0]) if row else ""
