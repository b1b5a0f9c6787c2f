"""Rules engine throughput: observations evaluated per second with 100 rules loaded.

Measures the engine's own work (matching, CEL, windows, sustained, correlation,
cooldown) with actions replaced by a counter: actions go through the CAD and
its fsync'd store, and are measured apart (``action_ms``) on a real App.

Scenarios:
  mixed    100 rules over 16 (kind, stream) pairs, 2,000 devices: each
           observation meets ~6 rules (the realistic case)
  hot      100 rules all on noise_meter/laeq: every observation meets all 100
           (the worst case)

Run: .venv/bin/python benchmarks/rules.py [--observations N]
Writes benchmarks/results/rules.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigil.app import build
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId
from vigil.incidents.catalogue import load_catalogue
from vigil.ingest.model import DeviceKind, Observation
from vigil.rules.actions import Result
from vigil.rules.engine import RulesEngine
from vigil.rules.evaluate import Firing

T0 = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)
RESULTS = Path(__file__).parent / "results" / "rules.json"
CENTRE = (60.170, 24.945)

PAIRS: list[tuple[DeviceKind, str, float, float]] = [  # kind, stream, typical, spread
    (DeviceKind.NOISE_METER, "laeq", 50, 8),
    (DeviceKind.NOISE_METER, "lamax", 65, 10),
    (DeviceKind.AIR_QUALITY, "pm25", 12, 6),
    (DeviceKind.AIR_QUALITY, "pm10", 20, 8),
    (DeviceKind.AIR_QUALITY, "no2", 30, 10),
    (DeviceKind.FLOOD_GAUGE, "level", 2.5, 0.4),
    (DeviceKind.CROWD_COUNTER, "count", 200, 80),
    (DeviceKind.CROWD_COUNTER, "density", 1.5, 1.0),
    (DeviceKind.SMOKE_PANEL, "alarm", 0, 0),
    (DeviceKind.ACOUSTIC_DETECTOR, "impulse", 95, 8),
    (DeviceKind.ACOUSTIC_DETECTOR, "laeq", 55, 6),
    (DeviceKind.CAMERA_ANALYTICS, "count", 10, 6),
    (DeviceKind.CAMERA_ANALYTICS, "behaviour", 1, 0),
    (DeviceKind.WEATHER_STATION, "rain_mm_h", 2, 3),
    (DeviceKind.WEATHER_STATION, "wind_ms", 6, 4),
    (DeviceKind.WEATHER_STATION, "temp_c", 15, 5),
]


def _zone() -> str:
    lat, lon = CENTRE
    d = 0.004
    return f"""
zones:
  centre:
    polygon: [[{lat - d}, {lon - 2 * d}], [{lat - d}, {lon + 2 * d}], [{lat + d}, {lon + 2 * d}],
              [{lat + d}, {lon - 2 * d}]]
"""


def _rule(i: int, kind: DeviceKind, stream: str, typical: float, spread: float) -> str:
    """One of five rule shapes, thresholds well above typical values (firings are rare)."""
    high = typical + 3.5 * spread + 1
    shape = i % 5
    head = f"""
  - name: r{i:03d}
    version: 1
    match: {{kind: {kind.value}, stream: {stream}}}
    cooldown: 10m
    actions: [{{do: open_incident, type: other}}]"""
    if shape == 0:
        return head + f"\n    condition: value > {high}"
    if shape == 1:
        return head + f"\n    condition: value > {high}\n    sustained: 5m"
    if shape == 2:
        return head + (
            f"\n    window: {{size: 15m, aggregate: avg, op: '>', threshold: {high}, min_count: 3}}"
        )
    if shape == 3:
        return head + (
            f"\n    key: cell\n    scope: {{zone: centre}}"
            f"\n    window: {{size: 5m, aggregate: max, op: '>=', threshold: {high}}}"
        )
    return head + (
        f"\n    condition: value >= {high} && (!has(attrs.class) || attrs['class'] != 'test')"
        "\n    correlate:"
        "\n      - {match: {event: call.received}, within_m: 300, within: 2m, at_least: 2}"
    )


def rule_file(hot: bool) -> str:
    rules = []
    for i in range(100):
        kind, stream, typical, spread = PAIRS[0] if hot else PAIRS[i % len(PAIRS)]
        rules.append(_rule(i, kind, stream, typical, spread))
    return _zone() + "rules:" + "".join(rules) + "\n"


def observations(n: int, *, hot: bool, devices: int = 2000, seed: int = 7) -> list[Observation]:
    rng = random.Random(seed)
    fleet = []
    for d in range(devices):
        kind, stream, typical, spread = PAIRS[0] if hot else PAIRS[d % len(PAIRS)]
        loc = LatLon(CENTRE[0] + rng.uniform(-0.01, 0.01), CENTRE[1] + rng.uniform(-0.02, 0.02))
        fleet.append((f"dev-{d}", kind, stream, typical, spread, loc))
    out = []
    step = timedelta(seconds=60 / max(1, devices))  # every device reports once a minute
    for i in range(n):
        dev, kind, stream, typical, spread, loc = fleet[i % devices]
        value = max(0.0, rng.gauss(typical, spread))
        if rng.random() < 0.001:
            value = typical + 6 * spread + 2  # a rare spike: some rules fire
        at = T0 + step * i
        out.append(
            Observation(
                id=f"{dev}:{stream}:{i}",
                device_id=DeviceId(dev),
                kind=kind,
                stream=stream,
                value=value,
                unit="",
                observed_at=at,
                received_at=at,
                location=loc,
                zone=None,
                attrs={"class": "impulse"} if stream == "impulse" else {},
            )
        )
    return out


def run(n: int, *, hot: bool, batch: int = 1000, repeats: int = 3) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(rule_file(hot), "utf-8")
        data = observations(n, hot=hot)
        rates: list[float] = []
        cpu_rates: list[float] = []
        firings = matched = 0
        for _ in range(repeats):
            fired: list[Firing] = []

            def execute(f: Firing, sink: list[Firing] = fired) -> Result:
                sink.append(f)
                return Result(incident_id=None, opened=False, outcomes=(), failures=0)

            clock = ManualClock(T0)
            engine = RulesEngine(
                paths=[path],
                catalogue=load_catalogue(),
                clock=clock,
                execute=execute,
                is_active=lambda _i: False,
            )
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(data), batch):
                engine.on_observations(data[i : i + batch])
                clock.advance(batch * 60 / 2000)  # keep the clock near event time
            elapsed = time.perf_counter() - started
            rates.append(len(data) / elapsed)
            cpu_rates.append(len(data) / (time.process_time() - cpu))
            firings = len(fired)
            matched = sum(r.stats.matched for r in engine.info())
        return {
            "scenario": "hot" if hot else "mixed",
            "rules": 100,
            "observations": n,
            "batch": batch,
            "obs_per_s_median": statistics.median(rates),
            "obs_per_s_runs": rates,
            "us_per_obs": 1e6 / statistics.median(rates),
            # the machine is shared: CPU time of this process is the steadier figure
            "obs_per_cpu_s_median": statistics.median(cpu_rates),
            "cpu_us_per_obs": 1e6 / statistics.median(cpu_rates),
            "rule_evaluations": matched,
            "rule_evaluations_per_obs": matched / n,
            "firings": firings,
        }


def action_cost(samples: int = 50) -> dict[str, float]:
    """Milliseconds for one firing's actions (open incident + note + rule.fired) on a real App."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.yaml"
        path.write_text(
            "rules:\n  - {name: smoke, version: 1, match: {kind: smoke_panel, stream: alarm},\n"
            "     cooldown: 0s, actions: [{do: open_incident, type: alarm_fire}]}\n",
            "utf-8",
        )
        settings = load_settings(data_dir=Path(tmp) / "data", rules={"files": [path]})
        app = build(settings, clock=ManualClock(T0))
        times = []
        try:
            for i in range(samples):
                o = Observation(
                    id=f"sp-{i}:alarm:1",
                    device_id=DeviceId(f"sp-{i}"),
                    kind=DeviceKind.SMOKE_PANEL,
                    stream="alarm",
                    value=1.0,
                    unit="",
                    observed_at=T0,
                    received_at=T0,
                    location=LatLon(*CENTRE),
                    zone=None,
                )
                started = time.perf_counter()
                app.rules.on_observations([o])
                times.append((time.perf_counter() - started) * 1000)
        finally:
            app.close()
        return {"median_ms": statistics.median(times), "max_ms": max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--observations", type=int, default=200_000)
    args = parser.parse_args()
    rows = [run(args.observations, hot=False), run(args.observations // 4, hot=True)]
    actions = action_cost()
    print(
        f"{'scenario':8} {'rules':>5} {'obs':>8} {'evals/obs':>9} {'obs/s wall':>10} "
        f"{'obs/s cpu':>10} {'cpu µs/obs':>10} {'firings':>7}"
    )
    for r in rows:
        print(
            f"{r['scenario']!s:8} {r['rules']:>5} {r['observations']:>8} "
            f"{r['rule_evaluations_per_obs']:>9.2f} {r['obs_per_s_median']:>10,.0f} "
            f"{r['obs_per_cpu_s_median']:>10,.0f} {r['cpu_us_per_obs']:>10.1f} {r['firings']:>7}"
        )
    print(
        f"actions of one firing (open incident + note + rule.fired, fsync'd SQLite): "
        f"median {actions['median_ms']:.1f} ms, max {actions['max_ms']:.1f} ms"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "rules engine throughput",
                "measured_at": datetime.now(UTC).isoformat(),
                "machine": {
                    "python": platform.python_version(),
                    "cpu": platform.processor(),
                    "cores": os.cpu_count(),
                    "load_avg_1m_at_end": os.getloadavg()[0],
                },
                "note": "actions replaced by a counter; action cost measured apart",
                "scenarios": rows,
                "actions_per_firing_ms": actions,
            },
            indent=2,
        ),
        "utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
