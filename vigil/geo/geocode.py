"""Offline geocoding from the same OSM data: addresses, intersections, places, streets.

Forward geocoding parses "Street 12" (Nordic order) and "12 Street" (French and
English order), "A & B" intersections and plain names, and matches names with
rapidfuzz, so case, accents and small typos are tolerated. Every match carries
a confidence in 0..1; an ambiguous text returns several candidates of similar
confidence (see ``is_ambiguous``). Reverse geocoding returns the nearest
address, or else the street the point snaps to.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz import fuzz, process
from scipy.spatial import cKDTree

from vigil.core.errors import GeoError
from vigil.core.geometry import LatLon
from vigil.geo.network import RoadNetwork

MatchKind = Literal["address", "intersection", "place", "street"]

# Below this rapidfuzz score (0..100) a name is not considered a match.
MIN_SCORE = 70.0
# A reverse lookup prefers an address within this distance over the street name.
ADDRESS_RADIUS_M = 60.0
# Labels of incident positions kept (lists of incidents ask for the same points again).
NEAREST_CACHE = 20_000
# Matches within this confidence of the best one make the answer ambiguous.
AMBIGUITY_MARGIN = 0.05

_INTERSECTION = re.compile(r"\s*(?:&|/|\+|\band\b|\bja\b|\bet\b|\bx\b)\s*", re.IGNORECASE)
_NUMBER_LAST = re.compile(
    r"^(?P<street>.*?\D)\s*(?P<num>\d+\s?[a-z]?(?:\s?[-\u2013]\s?\d+)?)$", re.I
)
_NUMBER_FIRST = re.compile(
    r"^(?P<num>\d+\s?[a-z]?(?:\s?[-\u2013]\s?\d+)?)(?:\s*,\s*|\s+)(?P<street>\D.*)$", re.I
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GeocodeMatch:
    """One candidate location for a text."""

    location: LatLon
    label: str
    confidence: float
    kind: MatchKind


@dataclass(frozen=True, slots=True, kw_only=True)
class ReverseMatch:
    """The nearest address (or street) to a point."""

    label: str
    distance_m: float
    location: LatLon
    kind: MatchKind


def normalise(text: str) -> str:
    """Return text case-folded, accent-free and with single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w\s-]", " ", plain).split())


def _norm_number(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold().replace("\u2013", "-")


def is_ambiguous(matches: list[GeocodeMatch]) -> bool:
    """Return whether the best matches are too close to pick one."""
    return len(matches) > 1 and matches[1].confidence >= matches[0].confidence - AMBIGUITY_MARGIN


class Geocoder:
    """Forward and reverse geocoder over a network's OSM names and addresses."""

    def __init__(self, network: RoadNetwork) -> None:
        self._network = network
        self._nearest: dict[tuple[float, float], ReverseMatch | None] = {}
        data = network.data
        street_points: dict[str, list[list[float]]] = defaultdict(list)
        street_label: dict[str, str] = {}
        by_coord: dict[tuple[float, float], set[str]] = defaultdict(set)
        for road in data.roads:
            if not road.name:
                continue
            key = normalise(road.name)
            street_label.setdefault(key, road.name)
            street_points[key].extend(road.coords)
            for lon, lat in road.coords:
                by_coord[(lat, lon)].add(key)
        self._street_label = street_label
        self._street_location: dict[str, LatLon] = {}
        for key, pts in street_points.items():
            arr = np.asarray(pts)
            centre = arr.mean(axis=0)
            # The street vertex nearest its centroid lies on the street itself.
            lon, lat = arr[int(np.argmin(((arr - centre) ** 2).sum(axis=1)))]
            self._street_location[key] = LatLon(float(lat), float(lon))
        self._intersections: dict[frozenset[str], list[LatLon]] = defaultdict(list)
        for (lat, lon), names in by_coord.items():
            if len(names) < 2:
                continue
            ordered = sorted(names)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1 :]:
                    self._intersections[frozenset((a, b))].append(LatLon(lat, lon))
        self._addresses: dict[str, dict[str, list[tuple[str, LatLon]]]] = defaultdict(dict)
        for rec in data.addresses:
            key = normalise(rec.street)
            street_label.setdefault(key, rec.street)
            label = f"{rec.street} {rec.housenumber}"
            self._addresses[key].setdefault(_norm_number(rec.housenumber), []).append(
                (label, LatLon(rec.lat, rec.lon))
            )
            self._street_location.setdefault(key, LatLon(rec.lat, rec.lon))
        self._street_keys = list(street_label)
        self._places: dict[str, list[tuple[str, LatLon]]] = defaultdict(list)
        for place in data.places:
            self._places[normalise(place.name)].append((place.name, LatLon(place.lat, place.lon)))
        self._place_keys = list(self._places)
        proj = network.snapper.projection
        self._addr_list = [
            (f"{a.street} {a.housenumber}", LatLon(a.lat, a.lon)) for a in data.addresses
        ]
        self._addr_tree = (
            cKDTree(
                proj.to_xy(
                    np.asarray([a.lat for a in data.addresses]),
                    np.asarray([a.lon for a in data.addresses]),
                )
            )
            if data.addresses
            else None
        )

    # ------------------------------------------------------------ forward
    def _streets(self, text: str, limit: int) -> list[tuple[str, float]]:
        found = process.extract(
            normalise(text),
            self._street_keys,
            scorer=fuzz.WRatio,
            limit=limit,
            score_cutoff=MIN_SCORE,
        )
        return [(key, score / 100.0) for key, score, _ in found]

    def _places_like(self, text: str, limit: int) -> list[GeocodeMatch]:
        # Whole-name similarity: WRatio's partial matching lets short names ("K&K") in.
        found = process.extract(
            normalise(text),
            self._place_keys,
            scorer=fuzz.token_sort_ratio,
            limit=limit,
            score_cutoff=80,
        )
        return [
            GeocodeMatch(location=loc, label=label, confidence=score / 100.0, kind="place")
            for key, score, _ in found
            for label, loc in self._places[key]
        ]

    def _intersection(self, a: str, b: str, limit: int) -> list[GeocodeMatch]:
        out: list[GeocodeMatch] = []
        for ka, sa in self._streets(a, 3):
            for kb, sb in self._streets(b, 3):
                for loc in self._intersections.get(frozenset((ka, kb)), [])[:1]:
                    label = f"{self._street_label[ka]} & {self._street_label[kb]}"
                    out.append(
                        GeocodeMatch(
                            location=loc, label=label, confidence=min(sa, sb), kind="intersection"
                        )
                    )
        return out[:limit]

    def _address(self, street: str, number: str, limit: int) -> list[GeocodeMatch]:
        out: list[GeocodeMatch] = []
        number = re.sub(r"\s+", " ", number.strip())
        wanted = _norm_number(number)
        for key, score in self._streets(street, limit):
            hits = self._addresses.get(key, {}).get(wanted)
            if hits:
                out.extend(
                    GeocodeMatch(location=loc, label=label, confidence=score, kind="address")
                    for label, loc in hits[:1]
                )
            else:
                # The street exists but not the number: point at the street, less sure.
                label = f"{self._street_label[key]} (no number {number})"
                out.append(
                    GeocodeMatch(
                        location=self._street_location[key],
                        label=label,
                        confidence=0.6 * score,
                        kind="street",
                    )
                )
        return out

    def geocode(self, text: str, *, limit: int = 5) -> list[GeocodeMatch]:
        """Return up to ``limit`` candidates for a text, best first (empty if none)."""
        text = text.strip()
        if not text:
            raise GeoError("nothing to geocode", field="text")
        head = text.split(",")[0].strip()
        # "12, Rue X" keeps its street after the comma.
        if re.fullmatch(r"\d+\s?[a-zA-Z]?", head) and "," in text:
            head = text.split(",", 2)[0] + " " + text.split(",", 2)[1]
        matches: list[GeocodeMatch] = []
        parts = [p for p in _INTERSECTION.split(head) if p.strip()]
        if len(parts) == 2:
            matches += self._intersection(parts[0], parts[1], limit)
        last = _NUMBER_LAST.match(head)
        first = _NUMBER_FIRST.match(head)
        if last:
            matches += self._address(last.group("street").strip(), last.group("num"), limit)
        if first:
            matches += self._address(first.group("street").strip(), first.group("num"), limit)
        if not (last or first):
            matches += [
                GeocodeMatch(
                    location=self._street_location[k],
                    label=self._street_label[k],
                    confidence=s,
                    kind="street",
                )
                for k, s in self._streets(head, limit)
            ]
        matches += self._places_like(head, limit)
        best: dict[str, GeocodeMatch] = {}
        for m in matches:
            key = f"{m.kind}:{m.label}:{m.location.lat:.5f},{m.location.lon:.5f}"
            if key not in best or best[key].confidence < m.confidence:
                best[key] = m
        ranked = sorted(best.values(), key=lambda m: (-m.confidence, m.kind != "address", m.label))
        return ranked[:limit]

    # ------------------------------------------------------------ reverse
    def nearest(self, point: LatLon) -> ReverseMatch | None:
        """Return the nearest address or street to show instead of raw coordinates,
        or None when nothing named is near (never raises: it is a label, not a fix)."""
        key = (round(point.lat, 6), round(point.lon, 6))
        if key in self._nearest:
            return self._nearest[key]
        try:
            found: ReverseMatch | None = self.reverse(point)
        except GeoError:
            found = None
        if len(self._nearest) >= NEAREST_CACHE:
            self._nearest.clear()
        self._nearest[key] = found
        return found

    def reverse(self, point: LatLon) -> ReverseMatch:
        """Return the nearest address, or the street the point snaps to."""
        if self._addr_tree is not None:
            xy = self._network.snapper.projection.to_xy(
                np.asarray([point.lat]), np.asarray([point.lon])
            )
            dist, idx = self._addr_tree.query(xy[0])
            if float(dist) <= ADDRESS_RADIUS_M:
                label, loc = self._addr_list[int(idx)]
                return ReverseMatch(
                    label=label, distance_m=float(dist), location=loc, kind="address"
                )
        snap = self._network.snap(point)
        if not snap.street:
            raise GeoError(
                f"no named street or address near {point.lat:.6f},{point.lon:.6f}", field="location"
            )
        return ReverseMatch(
            label=snap.street, distance_m=snap.distance_m, location=snap.on_road, kind="street"
        )
