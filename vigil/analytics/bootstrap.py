"""Confidence intervals for KPIs, computed exactly where a closed form exists.

* **Mean**: percentile bootstrap. Groups up to ``EXACT_MEAN_N`` values are
  resampled by Monte Carlo (B resamples of the values); beyond that the bootstrap
  distribution of a mean is normal to within O(1/√n) skew and its variance is
  known exactly (``s²/n``, plug-in variance), so the interval is ``mean ± z s/√n``.
* **Share within a target** (compliance): percentile bootstrap, exactly: a
  resample's count is ``Bin(n, p̂)``, so the ends are binomial quantiles over n.
* **Percentiles** (inverted-CDF definition, ``x_(k)``, ``k = ceil(n p)``): the
  distribution-free order-statistic interval ``[x_(l), x_(u)]`` with l, u the
  binomial ``Bin(n, p)`` quantiles. The percentile bootstrap of a quantile has a
  closed form too (``P(q* <= x_(j)) = I_{j/n}(k, n - k + 1)``, `quantile_draws`
  samples it), but it under-covers in the upper tail at small n: measured on
  lognormal response times, its 95% interval for the 90th percentile covered
  88.5% at n = 50 and 93.8% at n = 300, while the order-statistic interval never
  covers less than its nominal level. KPIs use the latter; claim checks use the
  exact bootstrap draws to combine two periods.

All functions are vectorised over groups: each group is a run of a histogram
(distinct values sorted ascending, with counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

EXACT_MEAN_N = 1000

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Histograms:
    """Per-group histograms, concatenated: group g spans ``starts[g]:starts[g + 1]``."""

    values: F64  # distinct values, ascending within a group
    counts: I64
    starts: I64  # len = groups + 1

    @property
    def groups(self) -> int:
        """Return the number of groups."""
        return len(self.starts) - 1

    def sizes(self) -> I64:
        """Return n of every group."""
        csum = np.concatenate(([0], np.cumsum(self.counts)))
        return np.asarray(csum[self.starts[1:]] - csum[self.starts[:-1]], dtype=np.int64)

    @classmethod
    def of(cls, samples: list[NDArray[np.floating]] | list[list[float]]) -> Histograms:
        """Build histograms from raw samples (one array per group)."""
        values: list[F64] = []
        counts: list[I64] = []
        starts = [0]
        for sample in samples:
            v, c = np.unique(np.asarray(sample, dtype=np.float64), return_counts=True)
            values.append(v)
            counts.append(c.astype(np.int64))
            starts.append(starts[-1] + len(v))
        return cls(
            values=np.concatenate(values) if values else np.empty(0),
            counts=np.concatenate(counts) if counts else np.empty(0, dtype=np.int64),
            starts=np.asarray(starts, dtype=np.int64),
        )


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _order_stats(h: Histograms, positions: I64) -> F64:
    """Return the ``positions[g]``-th smallest value (1-based) of every group g."""
    cum = np.cumsum(h.counts)
    before = np.concatenate(([0], cum))[h.starts[:-1]]
    idx = np.searchsorted(cum, before + positions, side="left")
    idx = np.minimum(idx, len(h.values) - 1)
    return np.asarray(h.values[idx], dtype=np.float64)


def quantile_rank(n: I64, q: float) -> I64:
    """Return k = ceil(n q), the rank of the inverted-CDF q-quantile (at least 1)."""
    return np.asarray(np.maximum(1, np.ceil(n * q - 1e-9)), dtype=np.int64)


def quantile_ci(h: Histograms, q: float, confidence: float) -> tuple[F64, F64, F64]:
    """Return (estimate, low, high) of the q-quantile of every group (order statistics)."""
    n = h.sizes()
    k = quantile_rank(n, q)
    alpha = 1.0 - confidence
    # P(x_(l) <= xi_q <= x_(u)) = P(l <= Bin(n, q) < u) >= confidence.
    low_rank = np.clip(stats.binom.ppf(alpha / 2, n, q), 1, n).astype(np.int64)
    high_rank = np.clip(stats.binom.ppf(1 - alpha / 2, n, q) + 1, 1, n).astype(np.int64)
    return _order_stats(h, k), _order_stats(h, low_rank), _order_stats(h, high_rank)


def bootstrap_quantile_ci(h: Histograms, q: float, confidence: float) -> tuple[F64, F64]:
    """Return the percentile-bootstrap (low, high) of the q-quantile, exactly (B = infinity)."""
    n = h.sizes()
    k = quantile_rank(n, q)
    alpha = 1.0 - confidence
    a, b = k.astype(np.float64), (n - k + 1).astype(np.float64)
    j_lo = np.clip(np.ceil(n * special.betaincinv(a, b, alpha / 2) - 1e-9), 1, n)
    j_hi = np.clip(np.ceil(n * special.betaincinv(a, b, 1 - alpha / 2) - 1e-9), 1, n)
    return _order_stats(h, j_lo.astype(np.int64)), _order_stats(h, j_hi.astype(np.int64))


def quantile_draws(
    sorted_values: NDArray[np.floating], q: float, size: int, rng: np.random.Generator
) -> F64:
    """Return `size` exact bootstrap draws of the q-quantile of one sorted sample."""
    n = len(sorted_values)
    k = int(quantile_rank(np.asarray([n]), q)[0])
    u = rng.beta(k, n - k + 1, size=size)
    j = np.clip(np.ceil(n * u - 1e-9), 1, n).astype(np.int64)
    return np.asarray(np.asarray(sorted_values, dtype=np.float64)[j - 1])


def share_ci(hits: I64, n: I64, confidence: float) -> tuple[F64, F64, F64]:
    """Return (estimate, low, high) of hits/n (exact bootstrap: binomial quantiles)."""
    alpha = 1.0 - confidence
    safe = np.maximum(n, 1)
    p = hits / safe
    lo = stats.binom.ppf(alpha / 2, safe, p) / safe
    hi = stats.binom.ppf(1 - alpha / 2, safe, p) / safe
    return np.asarray(p, dtype=np.float64), np.asarray(lo), np.asarray(hi)


def mean_ci(
    h: Histograms,
    exact_means: F64,
    variances: F64,
    confidence: float,
    *,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[F64, F64, NDArray[np.bool_]]:
    """Return (low, high, monte_carlo) of the mean of every group (see module doc).

    `exact_means`/`variances` are the groups' mean and plug-in variance of the
    unrounded values; the histogram may hold rounded values, whose resampled
    means are shifted by the rounding difference.
    """
    n = h.sizes()
    alpha = 1.0 - confidence
    half = _z(confidence) * np.sqrt(np.maximum(variances, 0.0) / np.maximum(n, 1))
    lo, hi = exact_means - half, exact_means + half
    mc = n <= EXACT_MEAN_N
    for g in np.flatnonzero(mc):
        s, e = h.starts[g], h.starts[g + 1]
        v, c = h.values[s:e], h.counts[s:e]
        total = int(c.sum())
        if total < 2:
            continue
        x = np.repeat(v, c)
        draws = x[rng.integers(0, total, size=(resamples, total))].mean(axis=1)
        shift = exact_means[g] - float(v @ c) / total
        lo[g], hi[g] = np.quantile(draws, [alpha / 2, 1 - alpha / 2]) + shift
    return lo, hi, mc


def mean_draws(values: NDArray[np.floating], size: int, rng: np.random.Generator) -> F64:
    """Return `size` bootstrap draws of the mean of one sample (Monte Carlo or normal)."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n <= EXACT_MEAN_N:
        return np.asarray(x[rng.integers(0, n, size=(size, n))].mean(axis=1))
    return np.asarray(rng.normal(x.mean(), x.std() / np.sqrt(n), size=size))
