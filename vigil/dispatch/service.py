"""Dispatch service: recommendations and routes for an incident, on the road network."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from vigil.cad.service import Cad
from vigil.core.clock import Clock
from vigil.core.errors import GeoError, StoreError, ValidationError
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId, UnitId
from vigil.dispatch.recommend import Candidate, Choice, Shortfall, choose
from vigil.geo import RoadNetwork, Route, Snap
from vigil.geo.eta import TravelTimes
from vigil.geo.travel import TravelModel, posted_model
from vigil.units.model import UnitStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommendation:
    """The units to send, what cannot be covered, and how it was computed."""

    incident_id: IncidentId
    incident_type: str
    run_card: tuple[tuple[str, int], ...]
    chosen: tuple[Choice, ...]
    shortfalls: tuple[Shortfall, ...]
    already_assigned: tuple[UnitId, ...]
    considered: int
    unreachable: tuple[UnitId, ...]
    no_position: tuple[UnitId, ...]
    compute_ms: float
    method: str
    model: str = ""
    model_version: str = ""

    def uncovered_reasons(self) -> list[str]:
        """Plain-language reasons the run card is not fully covered."""
        return [f"{s.capability}: {s.covered}/{s.needed} ({s.why})" for s in self.shortfalls]


class Dispatcher:
    """Ranks every available unit by drive time and covers run cards."""

    def __init__(
        self,
        cad: Cad,
        network: RoadNetwork | None,
        *,
        speed_factors: Mapping[str, float],
        model: TravelModel | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._cad = cad
        # One travel model for every ETA and route; without a fitted or country model,
        # the posted limits and configured speed factors (Vigil before calibration).
        self.model = model or posted_model(speed_factors)
        self.travel = TravelTimes(network, self.model) if network is not None else None
        self._clock = clock
        # Each unit is snapped to the road once per position it reports, not once
        # per recommendation: snapping hundreds of points costs more than the search.
        self._snaps: dict[UnitId, tuple[LatLon, Snap | None]] = {}

    def _snap(self, network: RoadNetwork, unit_id: UnitId, where: LatLon) -> Snap | None:
        cached = self._snaps.get(unit_id)
        if cached is not None and cached[0] == where:
            return cached[1]
        try:
            snap: Snap | None = network.snap(where)
        except GeoError:
            snap = None  # too far from any road: reported as unreachable
        self._snaps[unit_id] = (where, snap)
        return snap

    def _need_travel(self) -> TravelTimes:
        if self.travel is None:
            raise StoreError("the road network is not loaded; recommendations are unavailable")
        return self.travel

    def recommend(self, incident_id: IncidentId) -> Recommendation:
        """Recommend units for an incident's run card by real drive time."""
        started = time.perf_counter()
        travel = self._need_travel()
        network = travel.network
        inc = self._cad.incident(incident_id)
        if not inc.active:
            raise ValidationError(f"incident {incident_id} is {inc.status}", field="incident_id")
        if inc.location is None:
            raise GeoError("the incident has no location to route to", field="location")
        itype = self._cad.catalogue.incident_type(inc.type)
        run_card = tuple((n.capability, n.count) for n in itype.run_card)
        available = self._cad.units(status=UnitStatus.AVAILABLE)
        located = {u.id: u.location for u in available if u.location is not None}
        no_position = tuple(sorted(u.id for u in available if u.location is None))
        snapped: dict[str, Snap] = {  # the road graph's ids are plain strings
            uid: snap
            for uid, where in located.items()
            if (snap := self._snap(network, uid, where)) is not None
        }
        etas = travel.etas_to_snapped(
            travel.snap(inc.location),
            snapped,
            {u.id: u.type for u in available},
            at=self._clock.now() if self._clock is not None else None,
        )
        candidates = [
            Candidate(
                unit_id=u.id,
                callsign=u.callsign,
                type=u.type,
                capabilities=u.capabilities,
                eta_s=etas[u.id].seconds,
                metres=etas[u.id].metres,
                eta_low_s=etas[u.id].low_s,
                eta_high_s=etas[u.id].high_s,
            )
            for u in available
            if u.id in etas
        ]
        assigned = [self._cad.unit(uid) for uid in inc.unit_ids]
        candidates += [
            Candidate(
                unit_id=u.id,
                callsign=u.callsign,
                type=u.type,
                capabilities=u.capabilities,
                eta_s=0.0,
                metres=0.0,
                already_assigned=True,
            )
            for u in assigned
        ]
        chosen, shortfalls = choose(run_card, candidates)
        return Recommendation(
            incident_id=inc.id,
            incident_type=inc.type,
            run_card=run_card,
            chosen=tuple(chosen),
            shortfalls=tuple(shortfalls),
            already_assigned=tuple(u.id for u in assigned),
            considered=len(available),
            unreachable=tuple(sorted(set(located) - set(etas))),
            no_position=no_position,
            compute_ms=(time.perf_counter() - started) * 1000,
            method="reverse one-to-all drive-time search on the OSM road graph; "
            f"optimal run-card cover (Hungarian method); ETAs from {self.model.describe()}",
            model=self.model.describe(),
            model_version=self.model.version,
        )

    def route(self, incident_id: IncidentId, unit_id: UnitId) -> Route:
        """Return the route a unit would drive to an incident."""
        travel = self._need_travel()
        inc = self._cad.incident(incident_id)
        unit = self._cad.unit(unit_id)
        if inc.location is None:
            raise GeoError("the incident has no location to route to", field="location")
        if unit.location is None:
            raise GeoError(f"unit {unit_id} has no known position", field="unit_id")
        return travel.route(
            unit.location,
            inc.location,
            unit.type,
            at=self._clock.now() if self._clock is not None else None,
        )
