"""Fit a simulated city to its own history: demand, mix, run cards and every interval.

Input is the analysis store's ``responses`` relation (one row per unit response, see
`vigil.history`), restricted to a period and to the calls inside the road network's
extent. Output is a `CityFit`: a scenario (what `vigil sim run` plays), the catalogue
it needs (incident and unit types as the city names them, run cards from how many
units actually responded) and diagnostics with the n behind every fitted quantity.

Methods, chosen to generalise rather than to reproduce one file:

* **Demand**: calls per hour follow a Poisson rate that is the product of an
  hour-of-day and a day-of-week profile. Three nested models — constant,
  hour-of-day, hour-of-day x day-of-week — are fitted by maximum likelihood
  (iterative proportional fitting) and the one with the lowest BIC is kept, so a
  short history does not get 168 free parameters. Over-dispersion is reported
  (negative-binomial alpha by the method of moments) so a reader can see whether
  Poisson is adequate.
* **Times** (call entry, dispatch delay, turnout, on scene, hospital handover) are
  empirical quantile tables per incident type; a type with fewer than `min_n`
  records uses the pooled table (partial pooling would be finer; this keeps every
  table backed by at least `min_n` records and says which were pooled).
  The tables run from the 1st to the 99th percentile so one broken record cannot
  set the simulated extreme.
* **Travel** is Vigil's own ETA times a factor drawn from the fitted distribution of
  real travel / ETA over responses that plausibly left their home station, so the
  simulator inherits the dispatcher's travel-time model and its measured error.

Records with a missing or negative interval, or one longer than `max_interval_s`,
are excluded from that interval and counted in the diagnostics.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.core.geometry import LatLon

# Quantile tables at 0, 2.5, ..., 100 %: `Empirical` reads point i as probability
# i / 40, so the table must hold exactly those (a table trimmed to the 1st..99th
# percentile but read as 0..100 % drew every tail short: p90 came from p89.2).
QUANTILE_STEPS = 40
BASE_DISPERSION_CUTOFF = 0.05
HOME_IDLE_S = 600.0

EtaFn = Callable[[LatLon, LatLon, str], float | None]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class FitOptions:
    """What part of the history to fit, and how."""

    start: datetime  # inclusive, aware
    end: datetime  # exclusive, aware
    tz: str  # the city's time zone, for hour-of-day and day-of-week
    bbox: tuple[float, float, float, float]  # min_lat, min_lon, max_lat, max_lon
    holdout: tuple[tuple[datetime, datetime], ...] = ()  # left out (validated on later)
    # Every station of the city (lat, lon, simulated?). When given, only calls whose
    # nearest station is a simulated one count: the first-due areas of the stations
    # inside the road network, not the edge where units from outside answer.
    area_stations: tuple[tuple[float, float, bool], ...] = ()
    min_n: int = 30
    max_interval_s: float = 7_200.0
    max_points: int = 2_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """An empirical distribution: quantiles at evenly spaced probabilities."""

    quantiles: tuple[float, ...]
    n: int
    source: str

    @property
    def at_median(self) -> float:
        """Return the median."""
        return self.quantiles[len(self.quantiles) // 2]

    def to_yaml(self) -> dict[str, Any]:
        """Return the scenario's `Empirical` shape."""
        return {
            # four significant digits: seconds to the second, a travel factor to 0.1 %
            "quantiles": [float(f"{q:.4g}") for q in self.quantiles],
            "n": self.n,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DemandFit:
    """The call-rate model."""

    model: str  # constant | hour | hour_x_weekday
    calls_per_hour: float
    hour_profile: tuple[float, ...]
    weekday_profile: tuple[float, ...]
    bic: dict[str, float]
    dispersion_alpha: float
    hours: int
    calls: int


@dataclass(slots=True, kw_only=True)
class CityFit:
    """Everything fitted, ready to be written as a scenario and a catalogue."""

    demand: DemandFit
    types: dict[str, dict[str, Any]]
    unit_types: dict[str, dict[str, Any]]
    tables: dict[str, dict[str, Table]]  # interval -> type ("*" = pooled) -> table
    travel_factor: dict[str, Table]  # incident kind (with pools) -> real travel / ETA
    floating_travel: dict[str, dict[str, Table]]  # unit type -> incident kind -> travel (s)
    floating_by_card: dict[str, dict[str, Table]]  # unit type -> "kind|mix" -> travel (s)
    turnout_by_unit: dict[str, dict[str, Table]]  # unit type -> incident kind -> turnout (s)
    dispatch_lag_by_unit: dict[str, dict[str, Table]]  # ... -> first dispatch -> its dispatch
    points: list[tuple[float, float]]
    fleet: list[dict[str, Any]]
    fleet_derivation: dict[str, Any]
    excluded: dict[str, dict[str, int]]


# The key of an incident kind, `slug(call_type) + "_p" + priority`, computed in SQL
# (slug as in `slug()`: lower case, runs of other characters as one underscore).
_KEY_SQL = """
    alter table sim_calls add column prio varchar;
    alter table sim_calls add column key varchar;
    update sim_calls set prio = lower(coalesce(nullif(trim(priority), ''), 'x'));
    update sim_calls set key = coalesce(
        nullif(trim(regexp_replace(lower(call_type), '[^a-z0-9]+', '_', 'g'), '_'), ''),
        'unknown') || '_p' || prio;
"""


def slug(text: str) -> str:
    """Return a catalogue name for a city's label ("Medical Incident" -> medical_incident)."""
    out = re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")
    return out or "unknown"


def variant(key: str, j: int) -> str:
    """Return the incident kind of a kind's `j`-th run card (the first keeps the key).

    ``medical_incident_p2`` with a second mix of units is ``medical_incident_v2_p2``;
    `vigil.sim.validate` maps it back to its kind when simulated and real calls are compared.
    """
    if j == 0:
        return key
    base, code = key.rsplit("_p", 1)
    return f"{base}_v{j + 1}_p{code}"


def table(values: Sequence[float] | FloatArray, *, source: str) -> Table:
    """Return the quantile table of samples at probabilities 0..1 (needs 2 values or more)."""
    arr = np.asarray(values, dtype=np.float64)
    probs = np.linspace(0.0, 1.0, QUANTILE_STEPS + 1)
    qs = np.quantile(arr, probs)
    return Table(quantiles=tuple(float(max(0.0, q)) for q in qs), n=int(arr.size), source=source)


# ------------------------------------------------------------------ demand


def _poisson_ll(y: FloatArray, mu: FloatArray) -> float:
    mu = np.maximum(mu, 1e-12)
    return float(np.sum(y * np.log(mu) - mu - np.array([math.lgamma(v + 1) for v in y])))


def fit_demand(hourly: Sequence[tuple[datetime, int]]) -> DemandFit:
    """Select and fit the hourly call-rate model by BIC (`hourly`: local hour start, count)."""
    if not hourly:
        raise ValueError("no hours of history to fit demand on")
    y = np.array([c for _, c in hourly], dtype=np.float64)
    hours = np.array([t.hour for t, _ in hourly])
    days = np.array([t.weekday() for t, _ in hourly])
    n = y.size
    mean = float(y.mean())
    fits: dict[str, tuple[FloatArray, FloatArray, float, int]] = {}
    ones_h, ones_d = np.ones(24), np.ones(7)
    fits["constant"] = (ones_h, ones_d, _poisson_ll(y, np.full(n, mean)), 1)
    h_prof = _profile(y, hours, 24, np.ones(n) * mean)
    fits["hour"] = (h_prof, ones_d, _poisson_ll(y, mean * h_prof[hours]), 24)
    if len(set(days.tolist())) >= 2:
        hp, dp = h_prof.copy(), ones_d.copy()
        for _ in range(50):  # iterative proportional fitting of mean * h[hour] * d[day]
            hp = _profile(y, hours, 24, mean * dp[days])
            dp = _profile(y, days, 7, mean * hp[hours])
        fits["hour_x_weekday"] = (hp, dp, _poisson_ll(y, mean * hp[hours] * dp[days]), 24 + 6)
    bic = {k: k_params * math.log(n) - 2 * ll for k, (_, _, ll, k_params) in fits.items()}
    best = min(bic, key=lambda k: bic[k])
    hp, dp, _, _ = fits[best]
    mu = mean * hp[hours] * dp[days]
    alpha = max(0.0, float(np.sum((y - mu) ** 2 - y) / max(np.sum(mu**2), 1e-12)))
    return DemandFit(
        model=best,
        calls_per_hour=round(mean, 4),
        hour_profile=tuple(round(float(v), 4) for v in hp),
        weekday_profile=tuple(round(float(v), 4) for v in dp),
        bic={k: round(v, 1) for k, v in bic.items()},
        dispersion_alpha=round(alpha, 4),
        hours=n,
        calls=int(y.sum()),
    )


def _profile(y: FloatArray, index: npt.NDArray[Any], size: int, base: FloatArray) -> FloatArray:
    """Return multiplicative factors (mean 1 over observed levels) so base*factor fits y."""
    out = np.ones(size)
    for level in range(size):
        mask = index == level
        if mask.any():
            expected = float(base[mask].sum())
            out[level] = float(y[mask].sum()) / expected if expected > 0 else 1.0
    seen = np.array([(index == level).any() for level in range(size)])
    scale = float(out[seen].mean()) if seen.any() else 1.0
    out = out / scale if scale > 0 else out
    out[~seen] = 1.0
    return np.asarray(out, dtype=np.float64)


# ------------------------------------------------------------------ the whole city


INTERVAL_SQL = {
    # per call (first row of the call carries the call's times)
    "call_entry": "epoch(c.entry_at) - epoch(c.received_at)",
    "dispatch_delay": "epoch(c.first_dispatch) - epoch(c.entry_at)",
    # per unit response
    "turnout": "epoch(r.en_route_at) - epoch(r.dispatch_at)",
    "on_scene": "epoch(coalesce(r.transport_at, r.available_at)) - epoch(r.on_scene_at)",
    "hospital_handover": "epoch(r.available_at) - epoch(r.hospital_at)",
}
PER_CALL = frozenset({"call_entry", "dispatch_delay"})


def fit_city(
    conn: Any,
    options: FitOptions,
    *,
    stations: Mapping[str, LatLon],
    eta: EtaFn | None = None,
    progress: Callable[[str], None] | None = None,
) -> CityFit:
    """Fit demand, mix, run cards, fleet, every interval and the travel factor from history.

    `stations` are the city's stations inside the road network's extent (id -> place).
    """
    say = progress or (lambda _m: None)
    _calls_view(conn, options)
    say("demand")
    demand = fit_demand(_hourly(conn, options))
    say("incident and unit types")
    types, unit_types = _types(conn, options.min_n)
    say("intervals")
    tables: dict[str, dict[str, Table]] = {}
    excluded: dict[str, dict[str, int]] = {}
    for name, expr in INTERVAL_SQL.items():
        tables[name], excluded[name] = _interval_tables(conn, name, expr, options)
    say("fleet")
    fleet, derivation = fit_fleet(conn, stations)
    travel: dict[str, Table] = {}
    if eta is not None and stations:
        say("travel factor")
        travel, excluded["travel_factor"] = _travel_factor(conn, eta, stations, options)
    # Where a unit starts from is unknown for ambulances that roam between calls and
    # hospitals, so no route can be modelled: their real en-route -> on-scene times
    # are the evidence of how long they take. Turnout differs by unit type (a crew in
    # quarters against one already in its vehicle), so it is fitted per unit type too.
    floating, excluded["floating_travel"] = _by_unit(
        conn,
        _FLOATING_TRAVEL_SQL,
        options,
        "travel",
        lambda u: u in unit_types and not unit_types[u]["housed"],
    )
    floating_by_card = _floating_by_card(conn, options, unit_types)
    turnout, excluded["turnout_by_unit"] = _by_unit(
        conn, _TURNOUT_BY_UNIT_SQL, options, "turnout", lambda u: u in unit_types
    )
    # Not every unit is sent with the first: an ambulance is often assigned when one
    # frees up, a chief after the first report. Who arrives first depends on it.
    lags, excluded["dispatch_lag_by_unit"] = _by_unit(
        conn, _DISPATCH_LAG_SQL, options, "dispatch lag", lambda u: u in unit_types
    )
    points = [
        (round(lat, 3), round(lon, 3))
        for lat, lon in conn.execute(
            "select lat, lon from sim_calls order by received_at limit ?", [options.max_points]
        ).fetchall()
    ]
    return CityFit(
        demand=demand,
        types=types,
        unit_types=unit_types,
        tables=tables,
        travel_factor=travel,
        floating_travel=floating,
        floating_by_card=floating_by_card,
        turnout_by_unit=turnout,
        dispatch_lag_by_unit=lags,
        points=points,
        fleet=fleet,
        fleet_derivation=derivation,
        excluded=excluded,
    )


def _calls_view(conn: Any, o: FitOptions) -> None:
    """Create temp tables of the period's responses and calls inside the extent."""
    min_lat, min_lon, max_lat, max_lon = o.bbox
    conn.execute("create or replace temp table sim_holdout (s timestamptz, e timestamptz)")
    for start, end in o.holdout:
        conn.execute("insert into sim_holdout values (?, ?)", [start, end])
    create_area(conn, o.area_stations)
    conn.execute(
        """
        create or replace temp table sim_responses as
        select * from responses
        where received_at >= ? and received_at < ?
          and lat between ? and ? and lon between ? and ?
          and not exists (
              select 1 from sim_holdout h where received_at >= h.s and received_at < h.e)
          and ((select count(*) from sim_area) = 0 or (
              select arg_min(a.simulated, (a.lat - responses.lat) ^ 2
                     + ((a.lon - responses.lon) * cos(radians(responses.lat))) ^ 2)
              from sim_area a))
        """,
        [o.start, o.end, min_lat, max_lat, min_lon, max_lon],
    )
    conn.execute(
        """
        create or replace temp table sim_calls as
        select call_id,
               min(received_at) as received_at,
               min(entry_at) as entry_at,
               min(dispatch_at) as first_dispatch,
               arg_min(call_type, coalesce(unit_sequence, 999999)) as call_type,
               arg_min(priority, coalesce(unit_sequence, 999999)) as priority,
               avg(lat) as lat, avg(lon) as lon,
               bool_or(transport_at is not null) as transported
        from sim_responses group by call_id
        """
    )
    # An incident kind of the fitted city is the city's call type at its priority:
    # SFFD's non-emergency medical calls draw an ambulance alone and are driven to
    # without lights, its emergencies draw an engine first (see docs/sim-fit.md).
    conn.execute(_KEY_SQL)


def create_area(conn: Any, stations: Sequence[tuple[float, float, bool]]) -> None:
    """Create the temp table of the city's stations (lat, lon, simulated) for the area test."""
    conn.execute(
        "create or replace temp table sim_area (lat double, lon double, simulated boolean)"
    )
    if stations:
        conn.executemany("insert into sim_area values (?, ?, ?)", [list(s) for s in stations])


def _hourly(conn: Any, o: FitOptions) -> list[tuple[datetime, int]]:
    """Return (local start of the hour, calls) for every real hour of the period, zeros too.

    Hours are counted on the UTC clock (a DST change adds or skips no hour) and then
    given their local hour of day and weekday.
    """
    rows = conn.execute(
        """
        with hours as (
            select unnest(generate_series(
                date_trunc('hour', ?::timestamptz),
                ?::timestamptz - interval 1 second,
                interval 1 hour)) as h
        ),
        counts as (
            select date_trunc('hour', received_at) as h, count(*) as n from sim_calls group by 1
        )
        select timezone(?, hours.h), coalesce(counts.n, 0)
        from hours left join counts using (h)
        where not exists (select 1 from sim_holdout x where hours.h >= x.s and hours.h < x.e)
        order by hours.h
        """,
        [o.start, o.end, o.tz],
    ).fetchall()
    return [(h, int(n)) for h, n in rows]


def _priority(raw: str | None) -> int:
    """Map a city priority code to Vigil's 1 (highest) .. 5 (SFFD: 3/E emergency, 2 not)."""
    code = (raw or "").strip().upper()
    return {"E": 1, "3": 1, "2": 3, "1": 4}.get(code, 3)


#: A dispatched mix of unit types (type -> how many) seen on one call.
Card = tuple[tuple[str, int], ...]


def _card_shares(cards: Sequence[Card], min_share: float) -> list[tuple[Card, float, int]]:
    """Return the mixes of units that made up at least `min_share` of the calls, with
    their shares renormalised to 1 (the rarer ones are too few to model on their own)."""
    counts: dict[Card, int] = {}
    for card in cards:
        counts[card] = counts.get(card, 0) + 1
    total = len(cards)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [(c, n) for c, n in ranked if n >= max(2.0, min_share * total)] or ranked[:1]
    mass = sum(n for _, n in kept)
    return [(c, n / mass, n) for c, n in kept]


def _types(
    conn: Any, min_n: int, min_card_share: float = 0.05
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Return incident kinds (share, priority, transport, run cards) and unit types.

    A kind's run cards are the mixes of units its calls really drew (an engine and a
    medic on most emergencies, a private ambulance on some), each with its share of
    the kind's calls, so the simulated city sends what the real one sent as often.
    A kind with fewer than `min_n` calls takes the mixes of its priority's pool.
    """
    calls = conn.execute(
        "select key, any_value(call_type), any_value(priority), count(*), "
        "avg(transported::int) from sim_calls where call_type is not null "
        "group by 1 order by 4 desc, 1"
    ).fetchall()
    total = sum(int(row[3]) for row in calls) or 1
    per_call = conn.execute(
        """
        select c.key, c.prio, c.call_id, list(r.unit_type order by r.unit_type)
        from sim_responses r join sim_calls c using (call_id)
        where r.dispatch_at is not null and r.unit_type is not null
        group by 1, 2, 3 order by 1, 3
        """
    ).fetchall()
    by_key: dict[str, list[Card]] = {}
    by_prio: dict[str, list[Card]] = {}
    for key, prio, _call, utypes in per_call:
        counts: dict[str, int] = {}
        for u in utypes:
            counts[slug(u)] = counts.get(slug(u), 0) + 1
        card = tuple(sorted(counts.items()))
        by_key.setdefault(key, []).append(card)
        by_prio.setdefault(prio, []).append(card)
    unit_rows = conn.execute(
        "select unit_type, count(distinct unit_id), bool_or(transport_at is not null), "
        "bool_or(origin_station is not null) "
        "from sim_responses where unit_type is not null group by 1 order by 1"
    ).fetchall()
    unit_types: dict[str, dict[str, Any]] = {}
    for utype, units, transports, housed in unit_rows:
        name = slug(utype)
        unit_types[name] = {
            "agency": "ems" if transports or "rescue_captain" in name else "fire",
            "capabilities": [name, "transport"] if transports else [name],
            "label": utype,
            "units_seen": int(units),
            "housed": bool(housed),
        }
    types: dict[str, dict[str, Any]] = {}
    for key, label, prio, n, transported in calls:
        code = key.rsplit("_p", 1)[1]
        seen = by_key.get(key, [])
        pool = seen if int(n) >= min_n and seen else by_prio.get(code, seen)
        cards = _card_shares(pool, min_card_share) if pool else []
        types[key] = {
            "label": f"{label} (priority {prio})",
            "share": round(int(n) / total, 5),
            "calls": int(n),
            "priority": _priority(prio),
            "transport_share": round(float(transported or 0.0), 4),
            "run_cards": [
                {
                    "share": round(share, 4),
                    "calls": k,
                    "run_card": [{"capability": u, "count": c} for u, c in card],
                }
                for card, share, k in cards
            ],
            "cards_from": "own calls" if pool is seen else f"priority {code} pool",
            "agency": "ems" if "medical" in key else "fire",
        }
    return types, unit_types


def _fallback_tables(
    by_key: Mapping[str, list[float]], *, min_n: int, what: str
) -> dict[str, Table]:
    """Return a table per key, falling back to its priority's pool, then to all.

    Keys are ``<type>_p<code>``; the pools are ``*_p<code>`` and ``*``.
    """
    pooled = [v for vs in by_key.values() for v in vs]
    if len(pooled) < max(2, min_n):
        return {}
    out = {"*": table(pooled, source=f"{what}, pooled over every kind")}
    by_prio: dict[str, list[float]] = {}
    for key, vs in by_key.items():
        by_prio.setdefault(key.rsplit("_p", 1)[-1], []).extend(vs)
    for code, vs in by_prio.items():
        out[f"*_p{code}"] = (
            table(vs, source=f"{what}, pooled at priority {code}") if len(vs) >= min_n else out["*"]
        )
    for key, vs in by_key.items():
        code = key.rsplit("_p", 1)[-1]
        out[key] = table(vs, source=f"{what}, {key}") if len(vs) >= min_n else out[f"*_p{code}"]
    return out


def _interval_tables(
    conn: Any, name: str, expr: str, o: FitOptions
) -> tuple[dict[str, Table], dict[str, int]]:
    """Return per-kind (with pooled fallbacks) quantile tables of one interval, and exclusions."""
    source = (
        "sim_calls c" if name in PER_CALL else "sim_responses r join sim_calls c using (call_id)"
    )
    rows = conn.execute(f"select c.key, {expr} from {source}").fetchall()  # noqa: S608 - expr is one of INTERVAL_SQL's constants
    by_key: dict[str, list[float]] = {}
    excluded = {"missing": 0, "negative": 0, "too_long": 0}
    for key, value in rows:
        if value is None:
            excluded["missing"] += 1
        elif value < 0:
            excluded["negative"] += 1
        elif value > o.max_interval_s:
            excluded["too_long"] += 1
        else:
            by_key.setdefault(key, []).append(float(value))
    return _fallback_tables(by_key, min_n=o.min_n, what=name), excluded


_TURNOUT_BY_UNIT_SQL = """
    select r.unit_type, c.key, epoch(r.en_route_at) - epoch(r.dispatch_at)
    from sim_responses r join sim_calls c using (call_id)
"""
_DISPATCH_LAG_SQL = """
    select r.unit_type, c.key, epoch(r.dispatch_at) - epoch(c.first_dispatch)
    from sim_responses r join sim_calls c using (call_id)
"""
_FLOATING_TRAVEL_SQL = """
    select r.unit_type, c.key, epoch(r.on_scene_at) - epoch(r.en_route_at)
    from sim_responses r join sim_calls c using (call_id)
    where r.origin_station is null
"""


def card_key(kind: str, run_card: Sequence[Mapping[str, Any]]) -> str:
    """Return "kind|type:count+..." for a kind's mix of units (as `_CARD_SQL` spells it)."""
    units = sorted((str(c["capability"]), int(c["count"])) for c in run_card)
    return kind + "|" + "+".join(f"{u}:{n}" for u, n in units)


_CARD_SQL = """
    create or replace temp table sim_cards as
    select call_id, string_agg(u || ':' || n, '+' order by u) as card
    from (select call_id,
                 coalesce(nullif(trim(regexp_replace(lower(unit_type), '[^a-z0-9]+', '_', 'g'),
                                      '_'), ''), 'unknown') as u,
                 count(*) as n
          from sim_responses where dispatch_at is not null and unit_type is not null
          group by 1, 2)
    group by call_id
"""


def _floating_by_card(
    conn: Any, o: FitOptions, unit_types: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Table]]:
    """Return roaming units' drive times per kind *and mix of units sent*.

    Where an ambulance is sent alone it is usually the only one free, from far away;
    where an engine goes too it was near. Drawing every drive of a type from one
    table diluted the long drives of the calls it answers alone.
    """
    conn.execute(_CARD_SQL)
    rows = conn.execute(
        """
        select r.unit_type, c.key || '|' || k.card, epoch(r.on_scene_at) - epoch(r.en_route_at)
        from sim_responses r join sim_calls c using (call_id) join sim_cards k using (call_id)
        where r.origin_station is null
        """
    ).fetchall()
    values: dict[str, dict[str, list[float]]] = {}
    for utype, key, value in rows:
        name = slug(utype or "")
        roaming = name in unit_types and not unit_types[name]["housed"]
        if roaming and value is not None and 0 <= value <= o.max_interval_s:
            values.setdefault(name, {}).setdefault(key, []).append(float(value))
    return {
        name: {
            key: table(vs, source=f"travel of {name}, {key}")
            for key, vs in by_key.items()
            if len(vs) >= o.min_n
        }
        for name, by_key in values.items()
    }


def _by_unit(
    conn: Any, sql: str, o: FitOptions, what: str, keep: Callable[[str], bool]
) -> tuple[dict[str, dict[str, Table]], dict[str, int]]:
    """Return per unit type, per incident kind (with pools), tables of one response time."""
    by_unit: dict[str, dict[str, list[float]]] = {}
    excluded = {"missing": 0, "out_of_range": 0}
    for utype, key, value in conn.execute(sql).fetchall():
        name = slug(utype or "")
        if not keep(name):
            continue
        if value is None:
            excluded["missing"] += 1
        elif not 0 <= value <= o.max_interval_s:
            excluded["out_of_range"] += 1
        else:
            by_unit.setdefault(name, {}).setdefault(key, []).append(float(value))
    tables = {
        name: _fallback_tables(by_key, min_n=o.min_n, what=f"{what} of {name}")
        for name, by_key in by_unit.items()
    }
    return {k: v for k, v in tables.items() if v}, excluded


def _travel_factor(
    conn: Any, eta: EtaFn, stations: Mapping[str, LatLon], o: FitOptions
) -> tuple[dict[str, Table], dict[str, int]]:
    """Return tables of real travel / ETA per incident kind, for responses from home.

    A response "left its home station" when the unit has a known home station (the
    import's ``origin_station``) and its previous record ended (available) at least
    `HOME_IDLE_S` before this dispatch, or it has none in the data: time enough to be
    back in quarters.
    """
    rows = conn.execute(
        """
        select r.origin_station, r.unit_type, r.lat, r.lon, c.key,
               epoch(r.on_scene_at) - epoch(r.en_route_at) as travel,
               epoch(r.dispatch_at) - epoch(lag(r.available_at) over (
                   partition by r.unit_id order by r.dispatch_at)) as idle
        from sim_responses r join sim_calls c using (call_id)
        where r.en_route_at is not null and r.on_scene_at is not null
        """
    ).fetchall()
    excluded = {"not_from_home": 0, "unsnappable": 0, "out_of_range": 0}
    ratios: dict[str, list[float]] = {}
    for station, unit_type, lat, lon, key, travel, idle in rows:
        if station is None or station not in stations or (idle is not None and idle < HOME_IDLE_S):
            excluded["not_from_home"] += 1
            continue
        if travel is None or not 0 < travel <= o.max_interval_s:
            excluded["out_of_range"] += 1
            continue
        seconds = eta(stations[station], LatLon(float(lat), float(lon)), slug(unit_type or ""))
        if seconds is None or seconds <= 0:
            excluded["unsnappable"] += 1
            continue
        ratios.setdefault(key, []).append(float(travel) / seconds)
    return _fallback_tables(ratios, min_n=o.min_n, what="real travel / Vigil ETA"), excluded


def _abbr(unit_type: str) -> str:
    words = re.findall(r"[A-Za-z]+", unit_type) or ["U"]
    return "".join(w[0] for w in words).upper()[:4]


def fit_fleet(
    conn: Any, stations: Mapping[str, LatLon], *, utilisation: float = 0.5
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return fleet lines for the scenario and how each was derived.

    Units with a home station inside the extent (engines, trucks) are placed there,
    one line per type and station, as many as distinct units were seen. Units with
    no fixed station (medics, chiefs) are counted by Little's law: the mean number
    of that type busy at once in the area (busy unit-hours / hours) divided by an
    assumed `utilisation`, spread round-robin over the stations in the extent.
    """
    lines: list[dict[str, Any]] = []
    derived: dict[str, Any] = {"utilisation_assumed": utilisation, "housed": {}, "floating": {}}
    housed = conn.execute(
        "select unit_type, origin_station, count(distinct unit_id) from sim_responses "
        "where origin_station is not null and unit_type is not null group by 1, 2 order by 1, 2"
    ).fetchall()
    for utype, station, units in housed:
        if station not in stations:
            continue
        lines.append(
            {
                "type": slug(utype),
                "count": int(units),
                "prefix": f"{_abbr(utype)}{station}U"[:12],
                "stations": [station],
            }
        )
        derived["housed"][f"{slug(utype)}@{station}"] = int(units)
    hours = conn.execute(
        "select (epoch(max(received_at)) - epoch(min(received_at))) / 3600.0 from sim_calls"
    ).fetchone()[0]
    floating = conn.execute(
        """
        select unit_type,
               sum(epoch(available_at) - epoch(dispatch_at)) / 3600.0 as busy_h,
               count(distinct unit_id)
        from sim_responses
        where origin_station is null and unit_type is not null
          and available_at > dispatch_at
        group by 1 order by 1
        """
    ).fetchall()
    homes = sorted(stations)
    for utype, busy_h, seen in floating:
        if not homes or not hours:
            break
        concurrent = float(busy_h) / float(hours)
        count = max(1, min(int(seen), math.ceil(concurrent / utilisation)))
        lines.append(
            {
                "type": slug(utype),
                "count": count,
                "prefix": f"{_abbr(utype)}F"[:12],
                "stations": homes,
            }
        )
        derived["floating"][slug(utype)] = {
            "mean_busy_at_once": round(concurrent, 2),
            "units_seen": int(seen),
            "count": count,
        }
    return lines, derived


# ------------------------------------------------------------------ output


def _dist(fit: CityFit, interval: str, itype: str) -> dict[str, Any] | None:
    t = fit.tables.get(interval, {}).get(itype)
    return t.to_yaml() if t is not None else None


def scenario_dict(
    fit: CityFit,
    *,
    name: str,
    start: datetime,
    duration_s: float,
    osm_file: str,
    catalogue_file: str,
    rules_file: str,
    site: str,
    travel_model: str | None = None,
    country: str | None = None,
    stations: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Return the fitted scenario as a YAML-ready mapping (`vigil sim run --scenario`)."""
    mix: dict[str, Any] = {}
    for t, info in fit.types.items():
        on_scene = _dist(fit, "on_scene", t)
        if on_scene is None:
            continue
        entry: dict[str, Any] = {
            "weight": 1.0,
            "priority": info["priority"],
            "on_scene": on_scene,
            "transport_share": info["transport_share"],
            "natures": [info["label"]],
        }
        for key in ("call_entry", "dispatch_delay", "turnout"):
            dist = _dist(fit, key, t)
            if dist is not None:
                entry[key] = dist
        factor = fit.travel_factor.get(t)
        if factor is not None:
            entry["travel_factor"] = factor.to_yaml()
        for field, by_unit in (
            ("travel", fit.floating_travel),
            ("turnout_by_unit", fit.turnout_by_unit),
            ("dispatch_lag_by_unit", fit.dispatch_lag_by_unit),
        ):
            # per unit type: a table that is all zeros (never sent later) is left out
            found = {
                unit: by_key[t].to_yaml()
                for unit, by_key in by_unit.items()
                if t in by_key and by_key[t].quantiles[-1] > 0
            }
            if found:
                entry[field] = found
        # One kind per mix of units the calls drew, sharing every time of the kind but
        # the roaming units' drives, which depend on who else was sent.
        for j, card in enumerate(info["run_cards"] or [{"share": 1.0, "run_card": []}]):
            key = card_key(t, card["run_card"])
            drives = {
                unit: by_key[key].to_yaml()
                for unit, by_key in fit.floating_by_card.items()
                if key in by_key
            }
            mix[variant(t, j)] = {
                **entry,
                "weight": max(info["share"] * card["share"], 1e-6),
                **({"travel": {**entry.get("travel", {}), **drives}} if drives else {}),
            }
    units: dict[str, Any] = {}
    handover = _dist(fit, "hospital_handover", "*")
    if handover is not None:
        units["hospital_handover"] = handover
    if "*" in fit.travel_factor:
        units["travel_factor"] = fit.travel_factor["*"].to_yaml()
    d = fit.demand
    demand: dict[str, Any] = {
        "calls_per_hour": d.calls_per_hour,
        "hour_profile": list(d.hour_profile),
        "weekday_profile": list(d.weekday_profile),
        "mix": mix,
        "spatial": {
            "points_share": 1.0 if fit.points else 0.0,
            "points": [{"lat": la, "lon": lo} for la, lo in fit.points],
        },
    }
    for key in ("call_entry", "dispatch_delay"):
        pooled = _dist(fit, key, "*")
        if pooled is not None:
            demand[key] = pooled
    return {
        "name": name,
        "description": "Fitted from the city's own records by `vigil sim fit`.",
        "start": start.isoformat(),
        "duration": duration_s,
        "city": {
            "osm_file": osm_file,
            "catalogue": catalogue_file,
            "rules": [rules_file],
            "site": site,
            **({"travel_model": travel_model} if travel_model else {}),
            **({"country": country} if country else {}),
        },
        "stations": {"from_osm": False, "extra": list(stations)},
        "fleet": fit.fleet,
        "units": units,
        "demand": demand,
    }


def catalogue_dict(fit: CityFit) -> dict[str, Any]:
    """Return the fitted catalogue (incident types, unit types, run cards)."""
    unit_types = {
        name: {"agency": u["agency"], "capabilities": u["capabilities"]}
        for name, u in fit.unit_types.items()
    }
    incident_types: dict[str, Any] = {}
    for name, t in fit.types.items():
        for j, mix in enumerate(t["run_cards"] or [{"run_card": []}]):
            card = [c for c in mix["run_card"] if c["capability"] in unit_types]
            if not card:
                card = [{"capability": next(iter(unit_types)), "count": 1}]
            units = " + ".join(f"{c['count']} {c['capability']}" for c in card)
            incident_types[variant(name, j)] = {
                "label": t["label"] if j == 0 else f"{t['label']}: {units}",
                "agency": t["agency"],
                "priority": t["priority"],
                "run_card": card,
            }
    return {"unit_types": unit_types, "incident_types": incident_types}


def diagnostics_dict(fit: CityFit, options: FitOptions) -> dict[str, Any]:
    """Return what was fitted on how many records, and what was excluded and why."""
    d = fit.demand
    return {
        "period": {"start": options.start.isoformat(), "end": options.end.isoformat()},
        "tz": options.tz,
        "bbox": list(options.bbox),
        "demand": {
            "model": d.model,
            "bic": d.bic,
            "hours": d.hours,
            "calls": d.calls,
            "calls_per_hour": d.calls_per_hour,
            "dispersion_alpha": d.dispersion_alpha,
            "poisson_adequate": d.dispersion_alpha < BASE_DISPERSION_CUTOFF,
        },
        "types": {
            t: {
                "calls": i["calls"],
                "share": i["share"],
                "run_cards": i["run_cards"],
                "run_cards_from": i["cards_from"],
            }
            for t, i in fit.types.items()
        },
        "intervals": {
            name: {t: {"n": tb.n, "source": tb.source} for t, tb in by_type.items()}
            for name, by_type in fit.tables.items()
        },
        "travel_factor": {
            k: {"n": t.n, "median": round(t.at_median, 3), "source": t.source}
            for k, t in fit.travel_factor.items()
        },
        "floating_travel": {
            unit: {k: {"n": t.n, "median_s": round(t.at_median, 1)} for k, t in by_key.items()}
            for unit, by_key in fit.floating_travel.items()
        },
        "dispatch_lag_by_unit": {
            unit: {
                k: {"n": t.n, "p90_s": round(t.quantiles[round(0.9 * (len(t.quantiles) - 1))], 1)}
                for k, t in by_key.items()
            }
            for unit, by_key in fit.dispatch_lag_by_unit.items()
        },
        "fleet": fit.fleet_derivation,
        "excluded": fit.excluded,
        "min_n": options.min_n,
    }
