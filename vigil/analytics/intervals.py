"""Response-interval definitions (NFPA 1221/1225/1710, NENA STA-020) as columnar SQL.

Each interval is measured between two timestamps of the ``responses`` relation
(one row per unit response; see `vigil.analytics.source`). Per-incident
intervals use the incident's earliest call and its first dispatched / first
arriving unit; turnout is measured per unit response, as NFPA 1710 states it.

* call_processing, per incident: first call received → first unit dispatched;
  NFPA 1225 (2022), 90% within 60 s.
* turnout, per unit response: dispatched → en route; NFPA 1710, 90% within
  60 s for EMS units, 80 s for fire units.
* travel, per incident: first-arriving unit en route → on scene; NFPA 1710,
  90% within 240 s.
* total, per incident: first call received → first unit on scene; no single
  standard target.

Call answering (NENA STA-020: 90% within 15 s) needs the ring time, which
neither CAD history nor the live log records: it is listed as not measurable.

Every row gets exactly one status; only ``included`` values enter a KPI, and
every exclusion is counted:

* ``missing``: a timestamp at either end is absent;
* ``cancelled_en_route``: the unit (or, per incident, every unit) went en route
  but never arrived — not a travel time;
* ``negative``: the end precedes the start (out-of-order clocks or entries);
* ``too_long``: longer than ``max_interval_s`` (a recording error, e.g. a unit
  never marked en route until it cleared).
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.analytics.settings import AnalyticsSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalDefinition:
    """One response interval: its name, ends, unit of count and standard."""

    name: str
    label: str
    start: str
    end: str
    per: str  # "incident" or "unit response"
    standard: str
    target_s: float | None  # None when no standard sets one (or it depends on the unit)
    target_share: float = 0.9


INTERVALS: tuple[IntervalDefinition, ...] = (
    IntervalDefinition(
        name="call_processing",
        label="Call processing",
        start="first call received",
        end="first unit dispatched",
        per="incident",
        standard="NFPA 1225 (2022): 90% of alarms processed within 60 s",
        target_s=60.0,
    ),
    IntervalDefinition(
        name="turnout",
        label="Turnout",
        start="unit dispatched",
        end="unit en route",
        per="unit response",
        standard="NFPA 1710: 90% within 60 s (EMS units) / 80 s (fire units)",
        target_s=None,
    ),
    IntervalDefinition(
        name="travel",
        label="Travel (first arriving)",
        start="first-arriving unit en route",
        end="first unit on scene",
        per="incident",
        standard="NFPA 1710: 90% of first-arriving engines within 240 s",
        target_s=240.0,
    ),
    IntervalDefinition(
        name="total",
        label="Total response",
        start="first call received",
        end="first unit on scene",
        per="incident",
        standard="no single standard target (NFPA 1710 sums its parts)",
        target_s=None,
    ),
)
BY_NAME = {d.name: d for d in INTERVALS}
NOT_MEASURABLE = {
    "call_answering": (
        "NENA STA-020 call answering (90% within 15 s) needs the time the call rang; "
        "neither CAD history nor the live log records it"
    ),
}
STATUSES = ("included", "missing", "cancelled_en_route", "negative", "too_long")
EMS_TURNOUT_S = 60.0
FIRE_TURNOUT_S = 80.0


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _measure(name: str, start: str, end: str, *, cancelled: str, target: str, cap: float) -> str:
    seconds = f"(epoch_us({end}) - epoch_us({start})) / 1e6"
    return f"""
        CASE
          WHEN {start} IS NULL OR {end} IS NULL THEN
            CASE WHEN {cancelled} THEN 'cancelled_en_route' ELSE 'missing' END
          WHEN {end} < {start} THEN 'negative'
          WHEN {seconds} > {cap!r} THEN 'too_long'
          ELSE 'included'
        END AS status,
        {_quote(name)} AS interval,
        {seconds} AS value_s,
        {target} AS target_s"""


def measured_sql(settings: AnalyticsSettings, relation: str = "responses") -> str:
    """Return SQL yielding one row per (interval, incident or unit response) with its status.

    Columns: interval, status, value_s, target_s, call_type, priority, area,
    hour, unit_type, period, received_at.
    """
    tz = _quote(settings.timezone)
    cap = float(settings.max_interval_s)
    ems = ", ".join(_quote(t.upper()) for t in settings.ems_unit_types) or "''"
    period = _quote(settings.period)
    local = f"timezone({tz}, received_at)"
    dims = f"""
        call_type, priority, area,
        CAST(extract(hour FROM {local}) AS INTEGER) AS hour,
        unit_type,
        strftime(date_trunc({period}, {local}), '%Y-%m-%d') AS period,
        received_at"""
    turnout_target = (
        f"CASE WHEN upper(unit_type) IN ({ems}) THEN {EMS_TURNOUT_S!r} ELSE {FIRE_TURNOUT_S!r} END"
    )
    # Only allow-listed identifiers and quoted settings are interpolated.
    return f"""
    WITH r AS (
      SELECT incident_id, CAST(call_type AS VARCHAR) AS call_type,
             CAST(priority AS VARCHAR) AS priority,
             CAST({settings.area} AS VARCHAR) AS area, CAST(unit_type AS VARCHAR) AS unit_type,
             received_at, dispatch_at, en_route_at, on_scene_at
      FROM {relation}
    ),
    inc AS (
      SELECT incident_id,
             min(received_at) AS received_at,
             min(dispatch_at) AS first_dispatch_at,
             min(on_scene_at) AS first_on_scene_at,
             arg_min_null(en_route_at, on_scene_at) AS arriving_en_route_at,
             bool_or(en_route_at IS NOT NULL) AS any_en_route,
             arg_min(call_type, received_at) AS call_type,
             arg_min(priority, received_at) AS priority,
             arg_min(area, received_at) AS area,
             coalesce(arg_min(unit_type, on_scene_at), arg_min(unit_type, dispatch_at))
               AS unit_type,
             arg_min(unit_type, dispatch_at) AS dispatched_unit_type
      FROM r GROUP BY incident_id
    )
    SELECT {
        _measure(
            "call_processing",
            "received_at",
            "first_dispatch_at",
            cancelled="false",
            target="60.0",
            cap=cap,
        )
    },
           call_type, priority, area,
           CAST(extract(hour FROM {local}) AS INTEGER) AS hour,
           dispatched_unit_type AS unit_type,
           strftime(date_trunc({period}, {local}), '%Y-%m-%d') AS period, received_at
    FROM inc
    UNION ALL
    SELECT {
        _measure(
            "turnout",
            "dispatch_at",
            "en_route_at",
            cancelled="false",
            target=turnout_target,
            cap=cap,
        )
    }, {dims}
    FROM r
    UNION ALL
    SELECT {
        _measure(
            "travel",
            "arriving_en_route_at",
            "first_on_scene_at",
            cancelled="(first_on_scene_at IS NULL AND any_en_route)",
            target="240.0",
            cap=cap,
        )
    }, {dims}
    FROM inc
    UNION ALL
    SELECT {
        _measure(
            "total",
            "received_at",
            "first_on_scene_at",
            cancelled="(first_on_scene_at IS NULL AND any_en_route)",
            target="CAST(NULL AS DOUBLE)",
            cap=cap,
        )
    }, {dims}
    FROM inc
    """  # noqa: S608 - interpolates only allow-listed identifiers and quoted settings
