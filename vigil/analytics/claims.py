"""Check a claim against the data: what the data say, with CIs, and a verdict.

A claim is checkable only with a place, two periods, a definition (which
interval, which statistic) and data covering both periods (DOMAIN.md). Two
kinds:

* ``interval``: "the <statistic> <interval> in <areas> went from <before> to
  <after> between period A and period B" (any of before / after / change may be
  stated). Each period's statistic gets its 95% interval (order statistics for
  percentiles, bootstrap for the mean); the change gets a bootstrap interval
  from independent draws of the two periods (exact bootstrap draws of the
  quantiles, see `vigil.analytics.bootstrap`).
* ``count``: "incidents of <types> in <areas> changed by <pct>% between A and
  B": the ratio of daily rates with the exact conditional (binomial)
  Clopper-Pearson interval for two Poisson counts.

Verdict: ``supported`` when every stated figure lies within its interval,
``not supported`` when one does not (each failure is listed), ``cannot be
checked`` when the claim lacks a definition or the data do not cover it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import duckdb
import numpy as np
from scipy import stats

from vigil.analytics import bootstrap
from vigil.analytics.intervals import BY_NAME, INTERVALS
from vigil.analytics.kpi import Estimate, Selection, measure
from vigil.analytics.settings import AnalyticsSettings

Statistic = Literal["p50", "p90", "mean"]
MIN_N = 10
DRAWS = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """A half-open period [since, until) in UTC."""

    since: datetime
    until: datetime

    def days(self) -> float:
        """Return its length in days."""
        return (self.until - self.since).total_seconds() / 86_400

    def label(self) -> str:
        """Return a readable label."""
        return f"{self.since.date()} to {self.until.date()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """A structured claim. Times in seconds; a change in percent (-46 = fell 46%)."""

    kind: Literal["interval", "count"]
    a: Period
    b: Period
    interval: str | None = None
    statistic: Statistic | None = None
    areas: tuple[str, ...] = ()
    call_types: tuple[str, ...] = ()
    before_s: float | None = None
    after_s: float | None = None
    change_pct: float | None = None
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimCheck:
    """What the data say about a claim, and the verdict."""

    claim: Claim
    verdict: Literal["supported", "not supported", "cannot be checked"]
    reasons: tuple[str, ...]
    a: Estimate | None = None
    b: Estimate | None = None
    change_pct: Estimate | None = None
    change_s: Estimate | None = None
    n_a: int = 0
    n_b: int = 0
    method: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        c = self.claim
        return {
            "claim": {
                "kind": c.kind,
                "text": c.text,
                "interval": c.interval,
                "statistic": c.statistic,
                "areas": list(c.areas),
                "call_types": list(c.call_types),
                "period_a": c.a.label(),
                "period_b": c.b.label(),
                "before_s": c.before_s,
                "after_s": c.after_s,
                "change_pct": c.change_pct,
            },
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "data": {
                "a": self.a.to_json() if self.a else None,
                "b": self.b.to_json() if self.b else None,
                "change_pct": self.change_pct.to_json() if self.change_pct else None,
                "change_s": self.change_s.to_json() if self.change_s else None,
                "n_a": self.n_a,
                "n_b": self.n_b,
            },
            "method": self.method,
        }


def check(con: duckdb.DuckDBPyConnection, settings: AnalyticsSettings, claim: Claim) -> ClaimCheck:
    """Test a claim against the ``responses`` relation."""
    missing = _undefined(claim)
    if missing:
        return ClaimCheck(claim=claim, verdict="cannot be checked", reasons=tuple(missing))
    if claim.kind == "count":
        return _check_count(con, settings, claim)
    return _check_interval(con, settings, claim)


def _undefined(claim: Claim) -> list[str]:
    out = []
    if claim.a.until <= claim.a.since or claim.b.until <= claim.b.since:
        out.append("a period ends before it starts")
    if claim.kind == "interval":
        if claim.interval not in BY_NAME:
            out.append(
                f"no interval defined (one of {', '.join(BY_NAME)}): 'response time' alone "
                "does not say which interval"
            )
        if claim.statistic is None:
            out.append("no statistic defined (median, 90th percentile or mean)")
        if claim.before_s is None and claim.after_s is None and claim.change_pct is None:
            out.append("the claim states no figure to check")
    elif claim.change_pct is None:
        out.append("a count claim needs a stated change in percent")
    return out


def _values(
    con: duckdb.DuckDBPyConnection, settings: AnalyticsSettings, claim: Claim, period: Period
) -> np.ndarray[Any, np.dtype[np.float64]]:
    assert claim.interval is not None
    selection = Selection(
        since=period.since,
        until=period.until,
        areas=claim.areas,
        call_types=claim.call_types,
        intervals=(claim.interval,),
    )
    measure(con, settings, selection)
    code = [d.name for d in INTERVALS].index(claim.interval)
    got = con.execute(
        "SELECT value_s FROM measured WHERE status = 0 AND interval = ? ORDER BY value_s", [code]
    ).fetchnumpy()["value_s"]
    return np.asarray(got, dtype=np.float64)


def _estimate(
    x: np.ndarray[Any, np.dtype[np.float64]],
    statistic: Statistic,
    conf: float,
    rng: np.random.Generator,
) -> tuple[Estimate, np.ndarray[Any, np.dtype[np.float64]]]:
    if statistic == "mean":
        draws = bootstrap.mean_draws(x, DRAWS, rng)
        alpha = 1 - conf
        lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
        return Estimate(value=float(x.mean()), low=float(lo), high=float(hi)), draws
    q = 0.5 if statistic == "p50" else 0.9
    h = bootstrap.Histograms.of([np.rint(x)])
    est, lo, hi = bootstrap.quantile_ci(h, q, conf)
    draws = bootstrap.quantile_draws(np.sort(np.rint(x)), q, DRAWS, rng)
    return Estimate(value=float(est[0]), low=float(lo[0]), high=float(hi[0])), draws


def _check_interval(
    con: duckdb.DuckDBPyConnection, settings: AnalyticsSettings, claim: Claim
) -> ClaimCheck:
    assert claim.statistic is not None
    xa = _values(con, settings, claim, claim.a)
    xb = _values(con, settings, claim, claim.b)
    method = (
        f"{claim.statistic} of {claim.interval} (definition in the KPI report); "
        f"{round(settings.confidence * 100)}% intervals per period "
        f"({'bootstrap' if claim.statistic == 'mean' else 'order statistics'}), change by "
        f"bootstrap ({DRAWS} independent draws per period)"
    )
    if len(xa) < MIN_N or len(xb) < MIN_N:
        return ClaimCheck(
            claim=claim,
            verdict="cannot be checked",
            reasons=(
                f"too few measured values (period A: {len(xa)}, period B: {len(xb)}; "
                f"at least {MIN_N} each are needed)",
            ),
            n_a=len(xa),
            n_b=len(xb),
            method=method,
        )
    rng = np.random.default_rng(settings.seed)
    conf = settings.confidence
    alpha = 1 - conf
    ea, da = _estimate(xa, claim.statistic, conf, rng)
    eb, db = _estimate(xb, claim.statistic, conf, rng)
    diff = db - da
    pct = 100 * diff / np.where(da != 0, da, np.nan)
    d_lo, d_hi = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
    p_lo, p_hi = np.nanquantile(pct, [alpha / 2, 1 - alpha / 2])
    assert ea.value is not None and eb.value is not None
    change_s = Estimate(value=eb.value - ea.value, low=float(d_lo), high=float(d_hi))
    change_pct = Estimate(
        value=100 * (eb.value - ea.value) / ea.value if ea.value else None,
        low=float(p_lo),
        high=float(p_hi),
    )
    failures: list[str] = []
    passes: list[str] = []

    def judge(name: str, stated: float | None, est: Estimate, unit: str) -> None:
        if stated is None:
            return
        line = (
            f"{name}: claimed {_fmt(stated, unit)}, data {_fmt(est.value, unit)} "
            f"({round(conf * 100)}% CI {_fmt(est.low, unit)} to {_fmt(est.high, unit)})"
        )
        (passes if est.covers(stated) else failures).append(line)

    judge("period A", claim.before_s, ea, "s")
    judge("period B", claim.after_s, eb, "s")
    stated_change = claim.change_pct
    if stated_change is None and claim.before_s and claim.after_s is not None:
        stated_change = 100 * (claim.after_s - claim.before_s) / claim.before_s
    judge("change", stated_change, change_pct, "%")
    verdict: Literal["supported", "not supported"] = "not supported" if failures else "supported"
    return ClaimCheck(
        claim=claim,
        verdict=verdict,
        reasons=tuple(failures + passes),
        a=ea,
        b=eb,
        change_pct=change_pct,
        change_s=change_s,
        n_a=len(xa),
        n_b=len(xb),
        method=method,
    )


def _check_count(
    con: duckdb.DuckDBPyConnection, settings: AnalyticsSettings, claim: Claim
) -> ClaimCheck:
    assert claim.change_pct is not None
    counts = []
    for period in (claim.a, claim.b):
        selection = Selection(
            since=period.since,
            until=period.until,
            areas=claim.areas,
            call_types=claim.call_types,
            intervals=("total",),
        )
        measure(con, settings, selection)
        row = con.execute("SELECT count(*) FROM measured").fetchone()
        counts.append(int(row[0]) if row else 0)
    na, nb = counts
    ta, tb = claim.a.days(), claim.b.days()
    conf = settings.confidence
    method = (
        "incidents counted per period (earliest call in the period); change of the daily rate; "
        f"{round(conf * 100)}% exact conditional (Clopper-Pearson) interval for two Poisson counts"
    )
    if na == 0 or na + nb < MIN_N:
        return ClaimCheck(
            claim=claim,
            verdict="cannot be checked",
            reasons=(f"too few incidents (period A: {na}, period B: {nb})",),
            n_a=na,
            n_b=nb,
            method=method,
        )
    alpha = 1 - conf
    total = na + nb
    lo_pi = stats.beta.ppf(alpha / 2, nb, na + 1) if nb > 0 else 0.0
    hi_pi = stats.beta.ppf(1 - alpha / 2, nb + 1, na) if na > 0 else 1.0

    def to_pct(pi: float) -> float:
        return 100 * ((pi / (1 - pi)) * (ta / tb) - 1) if pi < 1 else float("inf")

    rate_a, rate_b = na / ta, nb / tb
    change = Estimate(
        value=100 * (rate_b / rate_a - 1), low=float(to_pct(lo_pi)), high=float(to_pct(hi_pi))
    )
    ok = change.covers(claim.change_pct)
    line = (
        f"change: claimed {_fmt(claim.change_pct, '%')}, data {_fmt(change.value, '%')} "
        f"({round(conf * 100)}% CI {_fmt(change.low, '%')} to {_fmt(change.high, '%')}; "
        f"{na} incidents in {ta:.0f} days vs {nb} in {tb:.0f} days, {total} in all)"
    )
    return ClaimCheck(
        claim=claim,
        verdict="supported" if ok else "not supported",
        reasons=(line,),
        a=Estimate(value=rate_a),
        b=Estimate(value=rate_b),
        change_pct=change,
        n_a=na,
        n_b=nb,
        method=method,
    )


def _fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    if unit == "%":
        return f"{x:+.1f}%"
    return f"{x / 60:.2f} min" if abs(x) >= 120 else f"{x:.0f} s"
