"""Plot a run's response intervals: the distribution behind every percentile.

One panel per NFPA/NENA interval, each an empirical cumulative distribution
with its median and 90th percentile marked and the standard's target drawn in,
so a reader sees the whole tail, not only two numbers. Uses matplotlib's
object API (no pyplot global state) and the Agg renderer (no display needed).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vigil.sim.summary import Summary

# Targets a reader compares against (seconds, at the 90th percentile).
TARGETS: dict[str, tuple[float, str]] = {
    "call_processing": (60.0, "NFPA 1225: 60 s"),
    "turnout": (80.0, "NFPA 1710: 60 s EMS / 80 s fire"),
    "travel": (240.0, "NFPA 1710: 240 s first engine"),
    "total": (380.0, "60 + 80 + 240 s"),
}
ORDER = ("call_processing", "turnout", "travel", "total")


def plot_intervals(summary: Summary, path: Path, *, title: str = "") -> list[str]:
    """Draw the interval distributions to a PNG; return the panel titles."""
    fig = Figure(figsize=(11, 7.5), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    titles: list[str] = []
    for ax, name in zip(axes.flat, ORDER, strict=True):
        values = sorted(summary.samples.get(name, ()))
        stats = summary.intervals.get(name)
        target, target_label = TARGETS[name]
        label = name.replace("_", " ")
        if not values or stats is None or stats.p50_s is None or stats.p90_s is None:
            panel = f"{label}: no data"
            ax.text(0.5, 0.5, "no incidents reached this interval", ha="center", va="center")
        else:
            n = len(values)
            ax.step(values, [(i + 1) / n for i in range(n)], where="post", color="#0072B2")
            ax.axvline(
                stats.p50_s, color="#009E73", linestyle="--", label=f"p50 {stats.p50_s:.0f} s"
            )
            ax.axvline(
                stats.p90_s, color="#D55E00", linestyle="--", label=f"p90 {stats.p90_s:.0f} s"
            )
            ax.axvline(target, color="#555555", linestyle=":", label=target_label)
            ax.axhline(0.9, color="#BBBBBB", linewidth=0.8)
            ax.set_xlim(left=0)
            ax.set_ylim(0, 1.02)
            ax.legend(loc="lower right", fontsize=8)
            panel = f"{label} (n={n}, p50 {stats.p50_s:.0f} s, p90 {stats.p90_s:.0f} s)"
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("seconds")
        ax.set_ylabel("share of incidents")
        titles.append(panel)
    fig.suptitle(
        (title + "\n" if title else "")
        + "Response intervals from Vigil's event log (first-arriving unit per incident)",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return titles
