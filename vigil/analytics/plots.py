"""Plots of evaluations and KPIs (matplotlib, imported lazily by callers)."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

from vigil.analytics.evaluate import DidResult, SyntheticControlResult


def evaluation_plot(did: DidResult, sc: SyntheticControlResult | None, path: Path) -> Path:
    """Write the event-study plot (and the synthetic-control paths) to `path`."""
    panels = 2 if sc else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    ax = axes[0][0]
    ks = [e["k"] for e in did.event_study]
    est = [e["estimate"] for e in did.event_study]
    err = [
        [e["estimate"] - e["low"] for e in did.event_study],
        [e["high"] - e["estimate"] for e in did.event_study],
    ]
    ax.errorbar(ks, est, yerr=err, fmt="o", capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(-0.5, color="red", lw=0.8, ls="--")
    pre = "n/a" if did.pre_trend_p is None else f"{did.pre_trend_p:.3f}"
    ax.set_title(f"Event study (ref. period -1); pre-trend p = {pre}")
    ax.set_xlabel("periods since the intervention")
    ax.set_ylabel("effect (s), 95% CI")
    if sc:
        ax2 = axes[0][1]
        periods = [str(g["period"]) for g in sc.gaps]
        ax2.plot(periods, [g["treated"] for g in sc.gaps], label="treated")
        ax2.plot(periods, [g["synthetic"] for g in sc.gaps], label="synthetic", ls="--")
        ax2.set_title(
            f"Synthetic control: effect {sc.estimate:.1f} s, placebo p = {sc.p_value:.3f}"
        )
        ax2.tick_params(axis="x", rotation=90, labelsize=6)
        ax2.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
