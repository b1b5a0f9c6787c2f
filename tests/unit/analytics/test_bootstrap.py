"""KPI intervals cover a known answer at (at least) their nominal rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from vigil.analytics.bootstrap import (
    Histograms,
    bootstrap_quantile_ci,
    mean_ci,
    quantile_ci,
    quantile_draws,
    share_ci,
)

DRAWS = 400
N = 300
# Response-time-like: lognormal seconds, recorded to the whole second.
DIST = stats.lognorm(s=0.6, scale=240.0)


def _samples(rng: np.random.Generator) -> list[np.ndarray]:
    return [np.ceil(DIST.rvs(size=N, random_state=rng)) for _ in range(DRAWS)]


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_quantile_ci_covers_the_true_quantile(q: float) -> None:
    rng = np.random.default_rng(1)
    # The q-quantile of ceil(X) is ceil of X's q-quantile (X continuous).
    truth = math.ceil(DIST.ppf(q))
    h = Histograms.of(_samples(rng))
    est, lo, hi = quantile_ci(h, q, 0.95)
    coverage = np.mean((lo <= truth) & (truth <= hi))
    assert coverage >= 0.93, coverage
    assert coverage <= 0.99, coverage  # not uselessly wide either
    assert abs(np.median(est) - truth) <= 0.03 * truth


def test_share_ci_covers_the_true_share() -> None:
    rng = np.random.default_rng(2)
    target = 400.0
    truth = DIST.cdf(target)
    hits = np.array([(s <= target).sum() for s in _samples(rng)])
    _, lo, hi = share_ci(hits, np.full(DRAWS, N), 0.95)
    coverage = np.mean((lo <= truth) & (truth <= hi))
    assert 0.93 <= coverage <= 0.995, coverage


def test_mean_ci_covers_the_true_mean_small_and_large_groups() -> None:
    rng = np.random.default_rng(3)
    truth = DIST.mean()
    samples = [DIST.rvs(size=N, random_state=rng) for _ in range(DRAWS)]
    # Two big groups exercise the normal branch (n > EXACT_MEAN_N).
    samples += [DIST.rvs(size=20_000, random_state=rng) for _ in range(40)]
    h = Histograms.of([np.round(s) for s in samples])
    means = np.array([s.mean() for s in samples])
    variances = np.array([s.var() for s in samples])
    lo, hi, mc = mean_ci(h, means, variances, 0.95, resamples=1000, rng=rng)
    covered = (lo <= truth) & (truth <= hi)
    assert mc[:DRAWS].all() and not mc[DRAWS:].any()
    assert np.mean(covered[:DRAWS]) >= 0.93, np.mean(covered[:DRAWS])
    assert np.mean(covered[DRAWS:]) >= 0.85  # 40 draws: a loose check of the normal branch


def test_quantile_ci_is_the_bootstrap_distribution() -> None:
    """The closed form agrees with brute-force resampling of one sample."""
    rng = np.random.default_rng(4)
    x = np.ceil(DIST.rvs(size=200, random_state=rng))
    lo, hi = bootstrap_quantile_ci(Histograms.of([x]), 0.9, 0.95)
    boot = np.sort(rng.choice(x, size=(20_000, 200), replace=True), axis=1)[:, 179]
    b_lo, b_hi = np.quantile(boot, [0.025, 0.975], method="inverted_cdf")
    assert abs(lo[0] - b_lo) <= 3 and abs(hi[0] - b_hi) <= 3
    draws = quantile_draws(np.sort(x), 0.9, 20_000, rng)
    assert abs(np.quantile(draws, 0.025) - b_lo) <= 3


def test_degenerate_groups() -> None:
    h = Histograms.of([[5.0], [1.0, 1.0, 1.0]])
    est, lo, hi = quantile_ci(h, 0.9, 0.95)
    assert list(est) == [5.0, 1.0] and list(lo) == [5.0, 1.0] and list(hi) == [5.0, 1.0]


def test_percentile_bootstrap_undercovers_the_p90_at_small_n() -> None:
    """Why KPIs use order-statistic intervals for percentiles (see the module doc)."""
    rng = np.random.default_rng(5)
    truth = math.ceil(DIST.ppf(0.9))
    h = Histograms.of([np.ceil(DIST.rvs(size=50, random_state=rng)) for _ in range(2000)])
    lo, hi = bootstrap_quantile_ci(h, 0.9, 0.95)
    _, o_lo, o_hi = quantile_ci(h, 0.9, 0.95)
    assert np.mean((lo <= truth) & (truth <= hi)) < 0.92
    assert np.mean((o_lo <= truth) & (truth <= o_hi)) >= 0.95
