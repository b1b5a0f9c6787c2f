"""Synthetic unit responses with a realistic mix, for benchmarks and tests (not for figures).

Incidents arrive over a period with a daily cycle; each draws 1-4 units from a
run-card-like mix; intervals are lognormal around the SFFD medians in
DOMAIN.md; a small share of records are damaged the way real CAD records are
(missing times, out-of-order entries, cancellations en route).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

CALL_TYPES = (
    ("Medical Incident", 0.62, 1.3),
    ("Alarms", 0.12, 2.2),
    ("Structure Fire", 0.04, 3.6),
    ("Traffic Collision", 0.06, 1.8),
    ("Outside Fire", 0.03, 1.5),
    ("Citizen Assist / Service Call", 0.05, 1.1),
    ("Other", 0.08, 1.2),
)
UNIT_TYPES = ("MEDIC", "ENGINE", "TRUCK", "CHIEF", "PRIVATE", "RESCUE SQUAD")


def responses(
    incidents: int, *, seed: int = 1, areas: int = 40, days: int = 730
) -> dict[str, NDArray[np.generic]]:
    """Return columns of the responses relation (timestamps as UTC datetime64[us])."""
    rng = np.random.default_rng(seed)
    p = np.array([c[1] for c in CALL_TYPES])
    type_idx = rng.choice(len(CALL_TYPES), size=incidents, p=p / p.sum())
    mean_units = np.array([c[2] for c in CALL_TYPES])[type_idx]
    n_units = np.clip(rng.poisson(mean_units - 1) + 1, 1, 4)
    total = int(n_units.sum())
    inc = np.repeat(np.arange(incidents), n_units)
    seq = np.arange(total) - np.repeat(np.cumsum(n_units) - n_units, n_units) + 1
    start = np.datetime64(datetime(2023, 1, 1, tzinfo=UTC).replace(tzinfo=None), "us")
    # Daily cycle: fewer calls at night.
    day = rng.integers(0, days, size=incidents)
    hour = rng.choice(24, size=incidents, p=_hour_weights())
    received_inc = (
        day * 86_400_000_000 + hour * 3_600_000_000 + rng.integers(0, 3_600_000_000, incidents)
    )
    processing = np.round(rng.lognormal(np.log(95), 0.55, incidents)) * 1_000_000
    unit_type_idx = np.where(
        (type_idx[inc] == 0) & (seq == 1), 0, rng.choice(len(UNIT_TYPES), size=total)
    )
    received = start + received_inc[inc].astype("timedelta64[us]")
    stagger = (seq - 1) * rng.integers(5, 90, size=total) * 1_000_000
    dispatch = received + (processing[inc] + stagger).astype("timedelta64[us]")
    turnout = np.round(rng.lognormal(np.log(60), 0.45, total)) * 1_000_000
    en_route = dispatch + turnout.astype("timedelta64[us]")
    travel = np.round(rng.lognormal(np.log(200), 0.6, total)) * 1_000_000
    on_scene = en_route + travel.astype("timedelta64[us]")
    available = on_scene + (rng.lognormal(np.log(1500), 0.5, total) * 1e6).astype("timedelta64[us]")
    nat = np.datetime64("NaT")
    damage = rng.random(total)
    en_route = np.where(damage < 0.02, nat, en_route)  # never marked en route
    on_scene = np.where((damage >= 0.02) & (damage < 0.05), nat, on_scene)  # cancelled en route
    swap = (damage >= 0.05) & (damage < 0.055)  # en route keyed before dispatch
    en_route = np.where(swap, dispatch - np.timedelta64(20, "s"), en_route)
    area = rng.integers(0, areas, size=incidents)
    return {
        "response_id": np.char.add("R", np.arange(total).astype(str)),
        "call_id": np.char.add("C", inc.astype(str)),
        "incident_id": np.char.add("I", inc.astype(str)),
        "unit_id": np.char.add("U", rng.integers(0, 300, total).astype(str)),
        "unit_type": np.asarray(UNIT_TYPES)[unit_type_idx],
        "call_type": np.asarray([c[0] for c in CALL_TYPES])[type_idx][inc],
        "priority": np.where(type_idx[inc] == 0, "3", "2"),
        "unit_sequence": seq.astype(np.int32),
        "station_area": np.char.zfill(area[inc].astype(str), 2),
        "zone": np.char.add("Z", (area[inc] // 5).astype(str)),
        "received_at": received,
        "dispatch_at": dispatch,
        "en_route_at": en_route,
        "on_scene_at": on_scene,
        "available_at": available,
    }


def _hour_weights() -> NDArray[np.float64]:
    hours = np.arange(24)
    w = 1.0 + 0.6 * np.sin((hours - 9) / 24 * 2 * np.pi)
    return np.asarray(w / w.sum())
