"""Dispatch service: recommendations and routes for an incident, on the road network."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from vigil.cad.service import Cad
from vigil.core.errors import GeoError, StoreError, ValidationError
from vigil.core.geometry import LatLon
from vigil.dispatch.recommend import Candidate, Choice, Shortfall, choose
from vigil.units.model import UnitStatus


class EtaLike(Protocol):
    """A drive time and road distance."""

    @property
    def seconds(self) -> float:
        """Drive time in seconds."""
        ...

    @property
    def metres(self) -> float:
        """Road distance in metres."""
        ...


class RouteLike(EtaLike, Protocol):
    """A route with its GeoJSON geometry."""

    @property
    def geometry(self) -> dict[str, Any]:
        """GeoJSON LineString."""
        ...


class Network(Protocol):
    """What dispatch needs from the road network."""

    def etas_to(
        self,
        target: LatLon,
        sources: Mapping[str, LatLon],
        *,
        speed_factor: Mapping[str, float] | None = None,
    ) -> Mapping[str, EtaLike]:
        """Drive times from every source to one target, in one search."""
        ...

    def route(self, origin: LatLon, target: LatLon, *, speed_factor: float = 1.0) -> RouteLike:
        """The fastest legal route."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommendation:
    """The units to send, what cannot be covered, and how it was computed."""

    incident_id: str
    incident_type: str
    run_card: tuple[tuple[str, int], ...]
    chosen: tuple[Choice, ...]
    shortfalls: tuple[Shortfall, ...]
    already_assigned: tuple[str, ...]
    considered: int
    unreachable: tuple[str, ...]
    no_position: tuple[str, ...]
    compute_ms: float
    method: str

    def uncovered_reasons(self) -> list[str]:
        """Plain-language reasons the run card is not fully covered."""
        return [f"{s.capability}: {s.covered}/{s.needed} ({s.why})" for s in self.shortfalls]


class Dispatcher:
    """Ranks every available unit by drive time and covers run cards."""

    def __init__(
        self, cad: Cad, network: Network | None, *, speed_factors: Mapping[str, float]
    ) -> None:
        self._cad = cad
        self._network = network
        self._factors = dict(speed_factors)

    def _need_network(self) -> Network:
        if self._network is None:
            raise StoreError("the road network is not loaded; recommendations are unavailable")
        return self._network

    def recommend(self, incident_id: str) -> Recommendation:
        """Recommend units for an incident's run card by real drive time."""
        started = time.perf_counter()
        network = self._need_network()
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
        etas = network.etas_to(
            inc.location,
            located,
            speed_factor={u.id: self._factors.get(u.type, 1.0) for u in available},
        )
        candidates = [
            Candidate(
                unit_id=u.id,
                callsign=u.callsign,
                type=u.type,
                capabilities=u.capabilities,
                eta_s=etas[u.id].seconds,
                metres=etas[u.id].metres,
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
            "optimal run-card cover (Hungarian method)",
        )

    def route(self, incident_id: str, unit_id: str) -> RouteLike:
        """Return the route a unit would drive to an incident."""
        network = self._need_network()
        inc = self._cad.incident(incident_id)
        unit = self._cad.unit(unit_id)
        if inc.location is None:
            raise GeoError("the incident has no location to route to", field="location")
        if unit.location is None:
            raise GeoError(f"unit {unit_id} has no known position", field="unit_id")
        return network.route(
            unit.location, inc.location, speed_factor=self._factors.get(unit.type, 1.0)
        )
