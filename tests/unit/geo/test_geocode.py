from __future__ import annotations

import pytest

from vigil.core.errors import GeoError
from vigil.core.geometry import LatLon, haversine_m
from vigil.geo.geocode import GeocodeMatch, Geocoder, is_ambiguous, normalise
from vigil.geo.network import RoadNetwork


@pytest.fixture(scope="module")
def helsinki_geocoder(helsinki: RoadNetwork) -> Geocoder:
    return Geocoder(helsinki)


@pytest.fixture(scope="module")
def monaco_geocoder(monaco: RoadNetwork) -> Geocoder:
    return Geocoder(monaco)


def test_normalise_folds_case_and_accents() -> None:
    assert normalise("  Rue  du Château ") == "rue du chateau"
    assert normalise("Säästöpankinranta") == "saastopankinranta"


@pytest.mark.parametrize("text", ["Mikonkatu 18", "mikonkatu 18", "MIKONKATU 18", "Mikonktu 18"])
def test_helsinki_address_tolerates_case_and_typos(helsinki_geocoder: Geocoder, text: str) -> None:
    best = helsinki_geocoder.geocode(text)[0]
    assert best.kind == "address"
    assert best.label == "Mikonkatu 18"
    # The address point mapped in OSM (building centroid), within a few metres.
    assert haversine_m(best.location, LatLon(60.1721106, 24.9449953)) < 5
    assert best.confidence > (0.99 if "kt" not in text else 0.85)


def test_helsinki_house_number_with_letter(helsinki_geocoder: Geocoder) -> None:
    best = helsinki_geocoder.geocode("Mannerheiminaukio 1 B")[0]
    assert (best.kind, best.label) == ("address", "Mannerheiminaukio 1 B")


def test_helsinki_intersection(helsinki_geocoder: Geocoder) -> None:
    for text in ("Mannerheimintie & Kaivokatu", "kaivokatu ja mannerheimintie"):
        best = helsinki_geocoder.geocode(text)[0]
        assert best.kind == "intersection"
        assert set(best.label.split(" & ")) == {"Mannerheimintie", "Kaivokatu"}
        assert haversine_m(best.location, LatLon(60.16987, 24.93874)) < 50


def test_helsinki_place_name(helsinki_geocoder: Geocoder) -> None:
    best = helsinki_geocoder.geocode("rautatieasema")[0]
    assert best.kind == "place"
    assert "Rautatieasema" in best.label


def test_unknown_house_number_falls_back_to_street_with_low_confidence(
    helsinki_geocoder: Geocoder,
) -> None:
    matches = helsinki_geocoder.geocode("Mikonkatu 999", limit=10)
    street = [m for m in matches if m.kind == "street" and m.label.startswith("Mikonkatu")]
    assert street
    assert street[0].confidence < 0.7
    assert all(m.kind != "address" for m in matches)


def test_nonsense_finds_nothing_and_empty_is_an_error(helsinki_geocoder: Geocoder) -> None:
    assert helsinki_geocoder.geocode("xyzzy qwerty") == []
    with pytest.raises(GeoError):
        helsinki_geocoder.geocode("   ")


def test_reverse_gives_nearest_address(helsinki_geocoder: Geocoder) -> None:
    match = helsinki_geocoder.reverse(LatLon(60.1721, 24.9450))
    assert match.kind == "address"
    assert match.label == "Mikonkatu 18"
    assert match.distance_m < 5


def test_reverse_far_from_addresses_gives_street(
    monaco_geocoder: Geocoder, monaco: RoadNetwork
) -> None:
    g = monaco.graph
    addresses = [LatLon(a.lat, a.lon) for a in monaco.data.addresses]
    for e in range(0, g.n_edges, 97):
        name = g.way_name[int(g.way[e])]
        point = LatLon(float(g.lat[g.src[e]]), float(g.lon[g.src[e]]))
        if name and min(haversine_m(point, a) for a in addresses) > 200:
            break
    else:
        pytest.fail("no named road far from every address")
    match = monaco_geocoder.reverse(point)
    assert match.kind == "street"
    assert match.label == monaco.snap(point).street
    assert match.distance_m < 1


@pytest.mark.parametrize(
    "text", ["24 Avenue de Fontvieille", "Avenue de Fontvieille 24", "24, avenue de fontvieille"]
)
def test_monaco_address_in_either_number_order(monaco_geocoder: Geocoder, text: str) -> None:
    best = monaco_geocoder.geocode(text)[0]
    assert (best.kind, best.label) == ("address", "Avenue de Fontvieille 24")
    assert haversine_m(best.location, LatLon(43.7288716, 7.4147931)) < 5


def test_monaco_street_name_holding_a_number(monaco_geocoder: Geocoder) -> None:
    best = monaco_geocoder.geocode("6 Quai Antoine 1er")[0]
    assert (best.kind, best.label) == ("address", "Quai Antoine 1er 6")


def test_monaco_intersection(monaco_geocoder: Geocoder) -> None:
    best = monaco_geocoder.geocode("Avenue de la Costa & Boulevard des Moulins")[0]
    assert best.kind == "intersection"
    assert best.confidence == pytest.approx(1.0)


def test_ambiguity_flag() -> None:
    a = GeocodeMatch(location=LatLon(0, 0), label="A", confidence=1.0, kind="address")
    b = GeocodeMatch(location=LatLon(0, 1), label="B", confidence=0.98, kind="address")
    c = GeocodeMatch(location=LatLon(0, 1), label="C", confidence=0.5, kind="street")
    assert is_ambiguous([a, b])
    assert not is_ambiguous([a, c])
    assert not is_ambiguous([a])
