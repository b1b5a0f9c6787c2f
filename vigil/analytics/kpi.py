"""Response-interval KPIs by breakdown, with confidence intervals, in one columnar pass.

DuckDB measures every interval (see `vigil.analytics.intervals`) and builds, in
one GROUPING SETS query, the histogram of whole-second values of every
(interval, breakdown, group), with the exact sums for means and the count within
the standard's target. The statistics are then vectorised over all groups at
once (`vigil.analytics.bootstrap`). No Python loop touches a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np

from vigil.analytics import bootstrap
from vigil.analytics.intervals import (
    INTERVALS,
    NOT_MEASURABLE,
    STATUSES,
    UNKNOWN,
    measured_sql,
    prepare_dimensions,
)
from vigil.analytics.settings import AnalyticsSettings

BREAKDOWNS = ("all", "call_type", "priority", "area", "hour", "unit_type", "period")
BY_INDEX = {d.name: i for i, d in enumerate(INTERVALS)}
TOTAL = BY_INDEX["total"]  # the one interval without a standard target


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """A statistic with its confidence interval (None when it cannot be estimated)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def to_json(self) -> dict[str, float | None]:
        """Return a JSON-ready dict."""
        return {"value": self.value, "low": self.low, "high": self.high}

    def covers(self, x: float) -> bool:
        """Return whether x lies within the interval (False when there is none)."""
        return self.low is not None and self.high is not None and self.low <= x <= self.high


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiRow:
    """One interval in one group of one breakdown."""

    interval: str
    breakdown: str
    group: str
    n: int
    mean_s: Estimate
    p50_s: Estimate
    p90_s: Estimate
    compliance: Estimate | None  # share within the target; None when no target applies
    mean_method: str

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "interval": self.interval,
            "breakdown": self.breakdown,
            "group": self.group,
            "n": self.n,
            "mean_s": self.mean_s.to_json(),
            "p50_s": self.p50_s.to_json(),
            "p90_s": self.p90_s.to_json(),
            "compliance": self.compliance.to_json() if self.compliance else None,
            "mean_method": self.mean_method,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiReport:
    """Every interval by every breakdown, with the exclusions counted."""

    source: str
    first: datetime | None
    last: datetime | None
    confidence: float
    rows: tuple[KpiRow, ...]
    exclusions: dict[str, dict[str, int]]  # interval -> status -> count
    settings: AnalyticsSettings
    not_measurable: dict[str, str] = field(default_factory=lambda: dict(NOT_MEASURABLE))

    def select(self, *, interval: str, breakdown: str) -> list[KpiRow]:
        """Return the rows of one interval and breakdown, in group order."""
        return [r for r in self.rows if r.interval == interval and r.breakdown == breakdown]

    def overall(self, interval: str) -> KpiRow | None:
        """Return the all-incidents row of an interval."""
        rows = self.select(interval=interval, breakdown="all")
        return rows[0] if rows else None

    def method(self) -> str:
        """Describe how the figures were computed."""
        pct = round(self.confidence * 100)
        return (
            f"Intervals measured to the second between recorded timestamps (definitions below); "
            f"exclusions counted per interval. {pct}% confidence intervals: percentiles by the "
            f"distribution-free order-statistic interval (inverted-CDF percentiles); means by "
            f"percentile bootstrap ({self.settings.bootstrap_resamples} resamples, "
            f"n <= {bootstrap.EXACT_MEAN_N}) or its exact normal limit; compliance by the exact "
            f"binomial percentile bootstrap. Hours and periods in {self.settings.timezone}; "
            f"area = {self.settings.area}."
        )

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "source": self.source,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "confidence": self.confidence,
            "method": self.method(),
            "definitions": [
                {
                    "name": d.name,
                    "label": d.label,
                    "from": d.start,
                    "to": d.end,
                    "per": d.per,
                    "standard": d.standard,
                    "target_s": d.target_s,
                }
                for d in INTERVALS
            ],
            "not_measurable": self.not_measurable,
            "exclusions": self.exclusions,
            "rows": [r.to_json() for r in self.rows],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """Which measured rows a KPI covers: a period [since, until) and optional groups."""

    since: datetime | None = None
    until: datetime | None = None
    areas: tuple[str, ...] = ()
    call_types: tuple[str, ...] = ()
    intervals: tuple[str, ...] = ()

    def sql(self) -> tuple[str, list[object]]:
        """Return a WHERE clause over the response rows (``x``) and its parameters."""
        clause = (
            "(CAST(? AS TIMESTAMPTZ) IS NULL OR x.received_at >= ?)"
            " AND (CAST(? AS TIMESTAMPTZ) IS NULL OR x.received_at < ?)"
            " AND (len(CAST(? AS VARCHAR[])) = 0 OR list_contains(?, CAST(x.area AS VARCHAR)))"
            " AND (len(CAST(? AS VARCHAR[])) = 0"
            " OR list_contains(?, CAST(x.call_type AS VARCHAR)))"
        )
        params: list[object] = []
        for value in (self.since, self.until, list(self.areas), list(self.call_types)):
            params += [value, value]
        return clause, params


ALL = Selection()


def measure(
    con: duckdb.DuckDBPyConnection, settings: AnalyticsSettings, selection: Selection = ALL
) -> dict[str, list[str]]:
    """Materialise the selected measured rows as the temporary table ``measured``.

    Returns the labels of every coded breakdown (index = code).
    """
    con.execute("SET enable_progress_bar = false")
    labels = prepare_dimensions(con, settings)
    clause, params = selection.sql()
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE measured AS "  # noqa: S608 - built from allow-lists
        f"SELECT * FROM ({measured_sql(settings, labels=labels, where=clause)}) "
        f"WHERE list_contains(?, interval)",
        [*params, _wanted(selection)],
    )
    return labels


def _wanted(selection: Selection) -> list[int]:
    return [
        i
        for i, d in enumerate(INTERVALS)
        if not selection.intervals or d.name in selection.intervals
    ]


_DIMS = ("call_type", "priority", "area", "hour", "unit_type", "period")


def kpi_report(
    con: duckdb.DuckDBPyConnection,
    settings: AnalyticsSettings,
    *,
    source: str,
    selection: Selection = ALL,
    breakdowns: Sequence[str] = BREAKDOWNS,
) -> KpiReport:
    """Compute every interval's KPIs by each breakdown from the `responses` relation.

    One query measures every row and returns only small integers (status,
    interval, whole seconds, within target, the breakdown codes); exclusions and
    the histograms of every group are counted from them with numpy. ``first`` and
    ``last`` are the first and last call of the selection.
    """
    for b in breakdowns:
        if b not in BREAKDOWNS:
            raise ValueError(f"unknown breakdown {b!r}; choose from {', '.join(BREAKDOWNS)}")
    con.execute("SET enable_progress_bar = false")
    labels = prepare_dimensions(con, settings)
    clause, params = selection.sql()
    k = int(settings.max_interval_s) + 2  # whole seconds 0 .. max, and one spare bin
    # One small integer per row: status, interval and (for included rows) the whole
    # second and whether it is within target, as ((interval * k + second) * 2 + within)
    # * 8 + status, so the fetch is one column and every histogram key one multiply-add.
    cols = con.execute(
        f"""SELECT CAST((((interval * {k} + CASE WHEN status = 0
                      THEN least(round_even(value_s, 0), {k - 1}) ELSE 0 END) * 2
                    + CASE WHEN status = 0 AND value_s <= target_s THEN 1 ELSE 0 END) * 8
                    + status) AS BIGINT) AS key,
               {", ".join(_DIMS)}
        FROM ({measured_sql(settings, labels=labels, where=clause)})
        WHERE list_contains(?, interval)""",  # noqa: S608 - built from allow-lists
        [*params, _wanted(selection)],
    ).fetchnumpy()
    key = np.asarray(cols["key"], dtype=np.int64)
    status = key & 7
    counted = np.bincount(
        (key >> 3) // (2 * k) * len(STATUSES) + status, minlength=len(INTERVALS) * len(STATUSES)
    )
    exclusions = {
        d.name: {st: int(counted[i * len(STATUSES) + j]) for j, st in enumerate(STATUSES)}
        for i, d in enumerate(INTERVALS)
    }
    span_where, span_params = selection.sql()
    span = con.execute(
        f"SELECT min(received_at), max(received_at) FROM "  # noqa: S608 - built from allow-lists
        f"(SELECT *, {settings.area} AS area FROM responses) x WHERE {span_where}",
        span_params,
    ).fetchone()
    first, last = (span[0], span[1]) if span else (None, None)
    included = status == 0
    kept = {name: np.asarray(cols[name])[included] for name in _DIMS}
    rows = _rows(key[included] >> 3, kept, labels, breakdowns, settings)
    return KpiReport(
        source=source,
        first=first,
        last=last,
        confidence=settings.confidence,
        rows=rows,
        exclusions=exclusions,
        settings=settings,
    )


def _rows(
    base: Any,
    codes: dict[str, Any],
    labels: dict[str, list[str]],
    breakdowns: Sequence[str],
    settings: AnalyticsSettings,
) -> tuple[KpiRow, ...]:
    """Return the KPI rows from every included row's (interval * k + second) * 2 + within."""
    if not len(base):
        return ()
    k = int(settings.max_interval_s) + 2
    cells = len(INTERVALS) * k * 2  # histogram cells of one group
    out: list[KpiRow] = []
    rng = np.random.default_rng(settings.seed)
    seconds = np.arange(k, dtype=np.float64)
    for b in breakdowns:
        names = ["all"] if b == "all" else labels[b]
        g_count = len(names)
        if b == "all":
            counts = np.bincount(base, minlength=cells)
        else:
            counts = np.bincount(
                codes[b].astype(np.int64) * cells + base, minlength=g_count * cells
            )
        # (group, interval, second, within) -> (interval, group) rows of whole-second counts.
        full = counts.reshape(g_count, len(INTERVALS), k, 2).swapaxes(0, 1)
        hits_all = full[..., 1].sum(axis=2).reshape(-1)
        dense_all = full.sum(axis=3).reshape(len(INTERVALS) * g_count, k)
        n = dense_all.sum(axis=1)
        keep = np.flatnonzero(n)
        dense = dense_all[keep]
        rows, bins = np.nonzero(dense)
        starts = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=len(keep)))))
        h = bootstrap.Histograms(
            values=bins.astype(np.float64),
            counts=dense[rows, bins].astype(np.int64),
            starts=starts.astype(np.int64),
        )
        # Means and variances from the whole-second histogram (values are measured to the
        # second); the share within target from the rows counted within it.
        sums = _Sums(
            total=dense @ seconds,
            squares=dense @ (seconds * seconds),
            hits=hits_all[keep].astype(np.int64),
            targeted=np.where(keep // g_count == TOTAL, 0, n[keep]).astype(np.int64),
        )
        out += _group_rows(
            h, keep=keep, names=names, breakdown=b, sums=sums, settings=settings, rng=rng
        )
    order = {b: i for i, b in enumerate(BREAKDOWNS)}
    out.sort(key=lambda r: (BY_INDEX[r.interval], order[r.breakdown], _group_key(r.group)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Sums:
    total: Any
    squares: Any
    hits: Any
    targeted: Any


def _group_rows(
    h: bootstrap.Histograms,
    *,
    keep: Any,
    names: list[str],
    breakdown: str,
    sums: _Sums,
    settings: AnalyticsSettings,
    rng: np.random.Generator,
) -> list[KpiRow]:
    n = h.sizes()
    mean = sums.total / n
    var = np.maximum(sums.squares / n - mean * mean, 0.0)
    conf = settings.confidence
    m_lo, m_hi, mc = bootstrap.mean_ci(
        h, mean, var, conf, resamples=settings.bootstrap_resamples, rng=rng
    )
    p50 = bootstrap.quantile_ci(h, 0.5, conf)
    p90 = bootstrap.quantile_ci(h, 0.9, conf)
    share = bootstrap.share_ci(sums.hits, n, conf)
    out: list[KpiRow] = []
    for g, flat in enumerate(keep):
        size = int(n[g])
        ok = size >= settings.min_group_n

        def est(trio: tuple[Any, Any, Any], g: int = g, ok: bool = ok) -> Estimate:
            value, low, high = (float(x[g]) for x in trio)
            return Estimate(value=value, low=low if ok else None, high=high if ok else None)

        out.append(
            KpiRow(
                interval=INTERVALS[int(flat) // len(names)].name,
                breakdown=breakdown,
                group=names[int(flat) % len(names)],
                n=size,
                mean_s=est((mean, m_lo, m_hi)),
                p50_s=est(p50),
                p90_s=est(p90),
                compliance=est(share) if sums.targeted[g] == size else None,
                mean_method="bootstrap" if mc[g] else "normal (exact bootstrap variance)",
            )
        )
    return out


def _group_key(group: str) -> tuple[int, float, str]:
    try:
        return (0, float(group), "")
    except ValueError:
        return (1 if group != UNKNOWN else 2, 0.0, group)
