"""Demand-forecast backtest on real SFFD calls, against the seasonal-naive baseline.

What the shared data can support (counts of incidents by first call, local time):

* ``sffd_calls_2016-12-31_to_2017-01-03.csv`` — every call type, 96 hours: hourly
  counts, daily season (a weekly season needs 2 x 168 + horizon hours);
  the model is the platform's (`vigil.analytics.forecast`: Poisson GLM on the
  hour-of-day effects it can estimate and a trend, negative-binomial interval),
  fitted on the 48 hours before each origin;
* ``sffd_calls_fires_2009_2019.csv`` — structure and outside fires of five station
  areas over ten years: daily counts, weekly season (the same model on day of week
  and trend, fitted on the 104 weeks before each origin).

    .venv/bin/python benchmarks/forecast_real.py   # writes benchmarks/results/forecast_real.json
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from vigil.analytics.forecast import Series, backtest
from vigil.history.store import HistoryStore

OUT = Path(__file__).resolve().parent / "results" / "forecast_real.json"
SHARED = Path(
    os.environ.get("VIGIL_SHARED_DATA", Path(__file__).resolve().parents[1] / "../shared/data")
)
TZ = "America/Los_Angeles"


def _store(name: str, root: Path) -> HistoryStore:
    store = HistoryStore(root / name)
    store.import_file(SHARED / "cad" / name, "sffd", tz=TZ, progress=False)
    return store


def _series(store: HistoryStore, unit: str) -> Series:
    """Return incidents per local hour or day, every step from the first to the last."""
    con = store.connect()
    try:
        con.execute(f"SET TimeZone = '{TZ}'")
        rows = con.execute(
            f"""SELECT date_trunc('{unit}', timezone('{TZ}', min(received_at))) AS t
                FROM responses WHERE received_at IS NOT NULL GROUP BY incident_id"""
        ).fetchall()
    finally:
        con.close()
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    times = sorted(r[0] for r in rows)
    start, end = times[0], times[-1]
    steps = int((end - start) / step) + 1
    counts = np.zeros(steps)
    for t in times:
        counts[int((t - start) / step)] += 1
    when = [start + i * step for i in range(steps)]
    return Series(
        start=start.replace(tzinfo=UTC),
        counts=counts,
        hour=np.array([w.hour if unit == "hour" else 0 for w in when], dtype=np.int64),
        # Under a week of hours cannot separate weekdays from the trend: hour effects only.
        weekday=np.array([0 if unit == "hour" else w.weekday() for w in when], dtype=np.int64),
        label=f"incidents per {unit}",
    )


def main() -> None:
    """Run the backtests and write the results."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        four_days = _series(_store("sffd_calls_2016-12-31_to_2017-01-03.csv", Path(tmp)), "hour")
        fires = _series(_store("sffd_calls_fires_2009_2019.csv", Path(tmp)), "day")
    hourly: dict[str, Any] = {
        "file": "sffd_calls_2016-12-31_to_2017-01-03.csv",
        "hours": len(four_days.counts),
        "incidents": int(four_days.counts.sum()),
        "mean_per_hour": round(float(four_days.counts.mean()), 2),
        "weekly_season_possible": False,
        "why": f"a weekly seasonal-naive baseline and a fitted week need 2 x 168 + horizon "
        f"hours; the file has {len(four_days.counts)}",
    }
    for horizon, step in ((6, 6), (24, 24)):
        origins = (len(four_days.counts) - 48 - horizon) // step + 1
        bt = backtest(four_days, horizon=horizon, origins=origins, window=48, season=24, step=step)
        hourly[f"horizon_{horizon}h"] = bt.to_json()
    daily: dict[str, Any] = {
        "file": "sffd_calls_fires_2009_2019.csv",
        "days": len(fires.counts),
        "incidents": int(fires.counts.sum()),
        "mean_per_day": round(float(fires.counts.mean()), 3),
        "zero_days_share": round(float(np.mean(fires.counts == 0)), 3),
    }
    # Origins every 28 days over the last two full years, 7 days ahead.
    end = len(fires.counts) - 60  # the file ends with a near-empty January 2019
    series = Series(
        start=fires.start,
        counts=fires.counts[:end],
        hour=fires.hour[:end],
        weekday=fires.weekday[:end],
        label=fires.label,
    )
    bt = backtest(series, horizon=7, origins=26, window=728, season=7, step=28)
    daily["horizon_7d"] = bt.to_json()
    out["hourly_all_calls"] = hourly
    out["daily_fires"] = daily
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
