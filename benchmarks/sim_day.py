"""One simulated day of a busy city in --fast mode, through Vigil's real inputs.

Busy means: >= 1,500 calls, >= 2,000 devices reporting every 30-60 s, >= 60 units,
on the central-Helsinki graph; calls over HTTP, readings over the real Mosquitto
(gateway batches of 100), unit status and AVL over HTTP, the recommender
dispatching. Prints a table and writes benchmarks/results/sim_day.json.

    .venv/bin/python benchmarks/sim_day.py            # a full day (takes a while)
    .venv/bin/python benchmarks/sim_day.py --hours 2  # a quick look
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from vigil.sim.runner import RunOptions, SimRun
from vigil.sim.scenario import Scenario, load_scenario
from vigil.sim.summary import percentile

RESULTS = Path(__file__).with_name("results") / "sim_day.json"


def busy_city() -> Scenario:
    """Return the default Helsinki scenario scaled up to a busy city."""
    base = load_scenario()
    data = base.model_dump(mode="json")
    data["name"] = "Busy city day (benchmark)"
    data["start"] = "2026-06-05T00:00:00+03:00"
    data["duration"] = 86_400
    # 64 units: three times the default fleet, plus patrols.
    scale = {
        "engine": 9,
        "ladder": 3,
        "chief": 2,
        "rescue": 3,
        "medic_als": 12,
        "medic_bls": 8,
        "patrol": 20,
        "supervisor_car": 2,
        "municipal_crew": 5,
    }
    for line in data["fleet"]:
        line["count"] = scale[line["type"]]
    # 1,500+ calls a day: the default profile averages ~1.0, so 66/h gives ~1,580.
    data["demand"]["calls_per_hour"] = 66
    # 2,000+ devices at 30-60 s.
    counts = {
        "noise": 600,
        "noise-kruununhaka": 40,
        "harbour-gauge": 20,
        "senate-crowd": 60,
        "smoke": 380,
        "smoke-esplanadi": 4,
        "acoustic": 300,
        "acoustic-kaisaniemi": 12,
        "camera": 400,
        "air": 200,
    }
    for group in data["devices"]:
        group["count"] = counts[group["name"]]
        lo, hi = group["interval_s"]
        group["interval_s"] = [max(30.0, lo), max(30.0, min(60.0, hi))]
    return Scenario.model_validate(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="Simulated hours.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    scenario = busy_city()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        started = time.perf_counter()
        result = SimRun(
            scenario,
            RunOptions(
                seed=args.seed, until_s=args.hours * 3600, data_dir=Path(tmp), progress=True
            ),
        ).run(on_stage=lambda m: print(f"... {m}", flush=True))
        total_wall = time.perf_counter() - started
    s = result.summary
    lat = result.latencies_ms
    c2r = lat.get("call_to_recommendation", [])
    platform_events = s.events + int(s.extra["observations_stored"])
    out: dict[str, Any] = {
        "sim_hours": round(result.sim_s / 3600, 3),
        "calls": s.calls,
        "devices": s.extra["devices"],
        "units": s.extra["units"],
        "wall_s": round(result.wall_s, 1),
        "speedup": round(result.sim_s / result.wall_s, 1),
        "call_to_recommendation_p99_ms": round(percentile(c2r, 99), 1) if c2r else None,
        "call_to_recommendation_p50_ms": round(percentile(c2r, 50), 1) if c2r else None,
        "events_per_s": round(platform_events / result.wall_s, 1),
        "observations_stored": s.extra["observations_stored"],
        "log_events": s.events,
        "incidents": s.incidents,
        "incidents_by_rule": s.incidents_by_rule,
        "rule_firings": s.rule_firings,
        "assignments": s.assignments,
        "setup_and_teardown_s": round(total_wall - result.wall_s, 1),
        "request_ms": {
            name: {
                "n": len(v),
                "p50": round(percentile(v, 50), 1),
                "p99": round(percentile(v, 99), 1),
            }
            for name, v in sorted(lat.items())
        },
        "intervals_s": s.to_json()["intervals"],
        "sim_errors": s.extra["sim_errors"],
        "machine": f"{platform.machine()} {platform.system()}, Python {platform.python_version()}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", "utf-8")
    print()
    print(s.render())
    print()
    for key in (
        "sim_hours",
        "calls",
        "devices",
        "units",
        "wall_s",
        "speedup",
        "events_per_s",
        "call_to_recommendation_p50_ms",
        "call_to_recommendation_p99_ms",
    ):
        print(f"{key:32} {out[key]}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
