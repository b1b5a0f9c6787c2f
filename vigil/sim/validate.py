"""Is the simulated city like the real one? Real and simulated intervals, compared honestly.

For each response interval (NFPA 1710 / 1221, first-arriving unit, as in
`vigil.sim.summary`) the report gives the real and simulated p50 and p90 with
95 % bootstrap confidence intervals, the two-sample Kolmogorov–Smirnov distance
with its p-value, the Wasserstein (earth mover's) distance in seconds, and for both
distances their *noise floor*: the 95th percentile of the distance between two
samples of the same sizes drawn from one population (a permutation null), so a
reader can see whether a distance is larger than sampling alone makes it.
Verdict: *faithful* when the simulated p50 and p90 are within 10 % of the real
ones, *within noise* when they miss that but lie inside the real percentiles'
confidence intervals (the real sample is too small to tell), and *not faithful*
otherwise. Calls per hour are compared too, and every interval again per incident
kind with at least 30 records on each side.

The real intervals are computed from the analysis store with the same
definitions the simulator's summary applies to the platform's log:

* call processing: call received -> first unit dispatched;
* turnout: the first-arriving unit's dispatch -> its en route;
* travel: the first-arriving unit's en route -> on scene;
* total: call received -> first unit on scene.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from vigil.sim.fit import create_area
from vigil.sim.summary import INTERVALS

TOLERANCE = 0.10
MIN_PER_KIND = 30  # records on each side before a kind is compared on its own
BOOTSTRAP = 1000
PERMUTATIONS = 200  # for the distances' noise floor (each a full two-sample statistic)
FloatArray = npt.NDArray[np.float64]

_FIRST_UNIT_SQL = """
with r as (
    select * from responses
    where received_at >= ? and received_at < ?
      and lat between ? and ? and lon between ? and ?
      and ((select count(*) from sim_area) = 0 or (
          select arg_min(a.simulated, (a.lat - responses.lat) ^ 2
                 + ((a.lon - responses.lon) * cos(radians(responses.lat))) ^ 2)
          from sim_area a))
),
c as (
    select call_id, min(received_at) as rec, min(dispatch_at) as disp,
           arg_min(response_id, on_scene_at) as first,
           arg_min(call_type, coalesce(unit_sequence, 999999)) as call_type,
           arg_min(priority, coalesce(unit_sequence, 999999)) as priority
    from r where on_scene_at is not null group by call_id
)
select epoch(c.disp) - epoch(c.rec),
       epoch(x.en_route_at) - epoch(x.dispatch_at),
       epoch(x.on_scene_at) - epoch(x.en_route_at),
       epoch(x.on_scene_at) - epoch(c.rec),
       epoch(x.dispatch_at) - epoch(c.disp),
       lower(x.unit_type),
       -- the incident kind as `vigil.sim.fit` names it; a simulated log already does,
       -- maybe as a run-card variant (`vigil.sim.fit.variant`: kind_v2_p3 is kind_p3)
       case when regexp_matches(c.call_type, '_p[a-z0-9]+$')
            then regexp_replace(c.call_type, '_v[0-9]+(_p[a-z0-9]+)$', '\\1')
            else coalesce(nullif(trim(regexp_replace(lower(c.call_type), '[^a-z0-9]+', '_', 'g'),
                                      '_'), ''), 'unknown')
                 || '_p' || lower(coalesce(nullif(trim(c.priority), ''), 'x')) end
from c join r as x on x.response_id = c.first
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Intervals:
    """First-unit intervals of a set of responses, and who arrived first."""

    samples: dict[str, FloatArray]
    calls: int
    first_unit_types: dict[str, int]
    first_unit_sent_later: int  # calls whose first-arriving unit was not dispatched first
    by_kind: dict[str, dict[str, FloatArray]]


def first_unit_intervals(
    conns: Sequence[Any],
    windows: Sequence[tuple[datetime, datetime]],
    bbox: tuple[float, float, float, float],
    *,
    area_stations: Sequence[tuple[float, float, bool]] = (),
    max_interval_s: float = 7_200.0,
) -> Intervals:
    """Return the first-unit intervals of calls inside the extent, over connections.

    The same query reads the city's records and the simulated runs' own logs (exported
    to the same ``responses`` shape), so both sides share one definition by construction.
    """
    min_lat, min_lon, max_lat, max_lon = bbox
    columns: dict[str, list[float]] = {name: [] for name in INTERVALS}
    kinds: dict[str, dict[str, list[float]]] = {}
    types: dict[str, int] = {}
    calls = later = 0
    for conn in conns:
        create_area(conn, area_stations)
        for start, end in windows:
            rows = conn.execute(
                _FIRST_UNIT_SQL, [start, end, min_lat, max_lat, min_lon, max_lon]
            ).fetchall()
            calls += len(rows)
            for *values, lag, unit_type, kind in rows:
                types[str(unit_type)] = types.get(str(unit_type), 0) + 1
                later += lag is not None and lag > 0
                per_kind = kinds.setdefault(kind, {name: [] for name in INTERVALS})
                for name, value in zip(INTERVALS, values, strict=True):
                    if value is not None and 0 <= value <= max_interval_s:
                        columns[name].append(float(value))
                        per_kind[name].append(float(value))
    return Intervals(
        samples=_arrays(columns),
        calls=calls,
        first_unit_types=types,
        first_unit_sent_later=later,
        by_kind={k: _arrays(v) for k, v in kinds.items()},
    )


def _arrays(columns: Mapping[str, list[float]]) -> dict[str, FloatArray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """A statistic with its 95 % bootstrap confidence interval."""

    value: float
    low: float
    high: float

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"value": round(self.value, 1), "ci95": [round(self.low, 1), round(self.high, 1)]}


def _percentile_ci(values: FloatArray, q: float, rng: np.random.Generator) -> Estimate:
    idx = rng.integers(0, values.size, size=(BOOTSTRAP, values.size))
    boots = np.percentile(values[idx], q, axis=1)
    low, high = np.percentile(boots, [2.5, 97.5])
    return Estimate(value=float(np.percentile(values, q)), low=float(low), high=float(high))


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalComparison:
    """One interval, real against simulated."""

    name: str
    n_real: int
    n_sim: int
    real_p50: Estimate
    sim_p50: Estimate
    real_p90: Estimate
    sim_p90: Estimate
    ks: float
    ks_null_p95: float
    ks_p_value: float
    wasserstein_s: float
    wasserstein_null_p95_s: float

    @property
    def verdict(self) -> str:
        """Return faithful / within noise / not faithful (see the module docstring)."""
        pairs = ((self.real_p50, self.sim_p50), (self.real_p90, self.sim_p90))
        if all(abs(s.value - r.value) <= TOLERANCE * r.value for r, s in pairs):
            return "faithful"
        if all(r.low <= s.value <= r.high for r, s in pairs):
            return "within noise"
        return "not faithful"

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the benchmark's keys at the top)."""
        return {
            "real_p50": round(self.real_p50.value, 1),
            "sim_p50": round(self.sim_p50.value, 1),
            "real_p90": round(self.real_p90.value, 1),
            "sim_p90": round(self.sim_p90.value, 1),
            "ks": round(self.ks, 3),
            "ks_null_p95": round(self.ks_null_p95, 3),
            "ks_p_value": round(self.ks_p_value, 4),
            "wasserstein_s": round(self.wasserstein_s, 1),
            "wasserstein_null_p95_s": round(self.wasserstein_null_p95_s, 1),
            "n_real": self.n_real,
            "n_sim": self.n_sim,
            "ci95": {
                "real_p50": self.real_p50.to_json()["ci95"],
                "sim_p50": self.sim_p50.to_json()["ci95"],
                "real_p90": self.real_p90.to_json()["ci95"],
                "sim_p90": self.sim_p90.to_json()["ci95"],
            },
            "p50_error": round(self.sim_p50.value / self.real_p50.value - 1, 3)
            if self.real_p50.value
            else None,
            "p90_error": round(self.sim_p90.value / self.real_p90.value - 1, 3)
            if self.real_p90.value
            else None,
            "verdict": self.verdict,
        }


def compare(
    name: str, real: FloatArray, sim: FloatArray, *, seed: int = 0
) -> IntervalComparison | None:
    """Compare one interval's real and simulated samples (None when either is too small)."""
    if real.size < 5 or sim.size < 5:
        return None
    rng = np.random.default_rng(seed)
    ks = stats.ks_2samp(real, sim)
    pooled = np.concatenate([real, sim])
    ks_null, w_null = [], []
    for _ in range(PERMUTATIONS):
        perm = rng.permutation(pooled)
        a, b = perm[: real.size], perm[real.size :]
        ks_null.append(stats.ks_2samp(a, b).statistic)
        w_null.append(stats.wasserstein_distance(a, b))
    return IntervalComparison(
        name=name,
        n_real=int(real.size),
        n_sim=int(sim.size),
        real_p50=_percentile_ci(real, 50, rng),
        sim_p50=_percentile_ci(sim, 50, rng),
        real_p90=_percentile_ci(real, 90, rng),
        sim_p90=_percentile_ci(sim, 90, rng),
        ks=float(ks.statistic),
        ks_null_p95=float(np.percentile(ks_null, 95)),
        ks_p_value=float(ks.pvalue),
        wasserstein_s=float(stats.wasserstein_distance(real, sim)),
        wasserstein_null_p95_s=float(np.percentile(w_null, 95)),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    """Real against simulated, for every interval, over the held-out windows."""

    windows: tuple[tuple[datetime, datetime], ...]
    intervals: dict[str, IntervalComparison]
    real_calls_per_hour: float
    sim_calls_per_hour: float
    replications: int
    real_first_units: dict[str, float]
    sim_first_units: dict[str, float]
    real_first_sent_later: float
    sim_first_sent_later: float
    by_kind: dict[str, dict[str, IntervalComparison]]
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "windows": [[a.isoformat(), b.isoformat()] for a, b in self.windows],
            "replications": self.replications,
            "calls_per_hour": {
                "real": round(self.real_calls_per_hour, 3),
                "sim": round(self.sim_calls_per_hour, 3),
            },
            "first_arriving_unit_share": {
                "real": self.real_first_units,
                "sim": self.sim_first_units,
            },
            "first_arriving_unit_sent_later": {
                "real": round(self.real_first_sent_later, 3),
                "sim": round(self.sim_first_sent_later, 3),
            },
            **{name: c.to_json() for name, c in self.intervals.items()},
            "by_kind": {
                kind: {name: c.to_json() for name, c in by.items()}
                for kind, by in self.by_kind.items()
            },
            "notes": list(self.notes),
        }

    def render(self) -> str:
        """Return the report as text for the terminal."""
        lines = [
            f"held-out windows: {len(self.windows)}, replications per window: {self.replications}",
            f"calls per hour    real {self.real_calls_per_hour:.2f}   "
            f"simulated {self.sim_calls_per_hour:.2f}",
            "",
            f"{'interval':16}{'n real':>7}{'real p50':>10}{'sim p50':>9}{'real p90':>10}"
            f"{'sim p90':>9}{'KS':>7}{'floor':>7}{'W (s)':>8}  verdict",
        ]
        for name, c in self.intervals.items():
            lines.append(
                f"{name:16}{c.n_real:>7}{c.real_p50.value:>10.0f}{c.sim_p50.value:>9.0f}"
                f"{c.real_p90.value:>10.0f}{c.sim_p90.value:>9.0f}{c.ks:>7.2f}"
                f"{c.ks_null_p95:>7.2f}{c.wasserstein_s:>8.0f}  {c.verdict}"
            )
        for kind, by in self.by_kind.items():
            verdicts = ", ".join(f"{n} {c.verdict}" for n, c in by.items())
            lines.append(f"{kind} (n real {next(iter(by.values())).n_real}): {verdicts}")
        for side, shares in (("real", self.real_first_units), ("sim", self.sim_first_units)):
            top = ", ".join(f"{k} {v:.0%}" for k, v in list(shares.items())[:4])
            lines.append(f"first to arrive ({side}): {top}")
        lines.append(
            f"first to arrive but not sent first: real {self.real_first_sent_later:.0%}, "
            f"sim {self.sim_first_sent_later:.0%}"
        )
        lines += ["", *self.notes]
        return "\n".join(lines)


def _shares(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {k: round(v / total, 3) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


def build_report(
    real: Intervals,
    sim: Intervals,
    *,
    windows: Sequence[tuple[datetime, datetime]],
    replications: int,
) -> ValidationReport:
    """Compare every interval, the call rate and who arrives first."""
    hours = sum((b - a).total_seconds() for a, b in windows) / 3600.0 or 1.0
    out: dict[str, IntervalComparison] = {}
    notes: list[str] = []
    for i, name in enumerate(INTERVALS):
        c = compare(name, real.samples[name], sim.samples[name], seed=i)
        if c is None:
            notes.append(f"{name}: too few records to compare")
        else:
            out[name] = c
    by_kind: dict[str, dict[str, IntervalComparison]] = {}
    for kind in sorted(set(real.by_kind) & set(sim.by_kind)):
        r, m = real.by_kind[kind], sim.by_kind[kind]
        found = {
            name: c
            for i, name in enumerate(INTERVALS)
            if min(r[name].size, m[name].size) >= MIN_PER_KIND
            and (c := compare(name, r[name], m[name], seed=100 + i)) is not None
        }
        if found:
            by_kind[kind] = found
    faithful = [n for n, c in out.items() if c.verdict == "faithful"]
    missed = [n for n, c in out.items() if c.verdict == "not faithful"]
    notes.append("faithful (p50 and p90 within 10 %): " + (", ".join(faithful) or "none"))
    if missed:
        notes.append("not faithful: " + ", ".join(missed))
    return ValidationReport(
        windows=tuple(windows),
        intervals=out,
        real_calls_per_hour=real.calls / hours,
        sim_calls_per_hour=sim.calls / hours / max(1, replications),
        replications=replications,
        real_first_units=_shares(real.first_unit_types),
        sim_first_units=_shares(sim.first_unit_types),
        real_first_sent_later=real.first_unit_sent_later / max(1, real.calls),
        sim_first_sent_later=sim.first_unit_sent_later / max(1, sim.calls),
        by_kind=by_kind,
        notes=tuple(notes),
    )


def plot_report(report: ValidationReport, real: Intervals, sim: Intervals, path: Path) -> None:
    """Plot real against simulated distributions (empirical CDFs), one panel per interval."""
    import matplotlib as mpl  # noqa: PLC0415 - matplotlib is slow to import

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, len(INTERVALS), figsize=(4 * len(INTERVALS), 3.6))
    for ax, name in zip(axes, INTERVALS, strict=True):
        for label, values, style in (
            ("real", real.samples[name], "-"),
            ("simulated", sim.samples[name], "--"),
        ):
            if values.size:
                xs = np.sort(values)
                ax.step(xs, np.arange(1, xs.size + 1) / xs.size, style, where="post", label=label)
        c = report.intervals.get(name)
        title = name.replace("_", " ")
        if c is not None:
            title += f"\nKS {c.ks:.2f} (noise floor {c.ks_null_p95:.2f}) · {c.verdict}"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("seconds")
        ax.axhline(0.9, color="grey", lw=0.5)
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of incidents")
    axes[0].legend(loc="lower right")
    fig.suptitle("Real against simulated response intervals (held-out periods)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
