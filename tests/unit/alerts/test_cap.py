"""CAP 1.2: what Vigil writes validates against the OASIS XSD; real alerts parse; bad ones fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.conftest import shared_file
from vigil.alerts import cap
from vigil.alerts.cap import CapAlert, CapArea, CapInfo, CapReference
from vigil.alerts.xmlsafe import parse_untrusted, read_untrusted

text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=80,
)
token = st.from_regex(r"[A-Za-z0-9._:@-]{1,40}", fullmatch=True)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]),
)  # fmt: skip


@st.composite
def polygons(draw: st.DrawFn) -> str:
    lat = draw(st.floats(-80, 80))
    lon = draw(st.floats(-170, 170))
    n = draw(st.integers(3, 8))
    pts = [(lat + 0.01 * (i % 3), lon + 0.01 * i) for i in range(n)]
    pts.append(pts[0])
    return " ".join(f"{a:.5f},{b:.5f}" for a, b in pts)


circles = st.builds(
    lambda lat, lon, r: f"{lat:.5f},{lon:.5f} {r:.3f}",
    st.floats(-90, 90), st.floats(-180, 180), st.floats(0, 500),
)  # fmt: skip

areas = st.builds(
    CapArea,
    desc=text.filter(str.strip),
    polygons=st.lists(polygons(), max_size=2).map(tuple),
    circles=st.lists(circles, max_size=2).map(tuple),
)
infos = st.builds(
    CapInfo,
    language=st.sampled_from(["en-US", "fi-FI", "sv", "fr-CA"]),
    categories=st.lists(st.sampled_from(cap.CATEGORIES), min_size=1, max_size=3).map(tuple),
    event=text.filter(str.strip),
    response_types=st.lists(st.sampled_from(cap.RESPONSE_TYPES), max_size=2).map(tuple),
    urgency=st.sampled_from(cap.URGENCIES),
    severity=st.sampled_from(cap.SEVERITIES),
    certainty=st.sampled_from(cap.CERTAINTIES),
    expires=st.none() | times,
    headline=text,
    description=text,
    instruction=text,
    web=st.none() | st.just("https://city.example/alerts/1"),
    areas=st.lists(areas, min_size=1, max_size=3).map(tuple),
)


@st.composite
def alerts(draw: st.DrawFn) -> CapAlert:
    msg_type = draw(st.sampled_from(["Alert", "Update", "Cancel"]))
    refs: tuple[CapReference, ...] = ()
    if msg_type != "Alert":
        refs = tuple(
            draw(
                st.lists(
                    st.builds(CapReference, sender=token, identifier=token, sent=times),
                    min_size=1,
                    max_size=3,
                )
            )
        )
    return CapAlert(
        identifier=draw(token),
        sender=draw(token),
        sent=draw(times),
        msg_type=msg_type,
        references=refs,
        note=draw(st.none() | text),
        infos=tuple(draw(st.lists(infos, min_size=1, max_size=3))),
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alert=alerts())
def test_every_document_vigil_writes_validates(
    alert: CapAlert, cap_schema: etree.XMLSchema
) -> None:
    xml = cap.build_xml(alert)
    root = parse_untrusted(xml)
    assert cap.check(root, cap_schema) == []
    back = cap.parse(root)
    assert back.identifier == alert.identifier
    assert back.msg_type == alert.msg_type
    assert len(back.infos) == len(alert.infos)
    # Parsing strips surrounding whitespace of text values, nothing else.
    assert [[(a.desc, a.polygons, a.circles) for a in i.areas] for i in back.infos] == [
        [(a.desc.strip(), a.polygons, a.circles) for a in i.areas] for i in alert.infos
    ]
    assert back.sent == alert.sent.replace(microsecond=0)


def test_utc_is_written_minus_zero() -> None:
    assert cap.cap_time(datetime(2026, 6, 1, 8, 0, 1, 5, tzinfo=UTC)) == "2026-06-01T08:00:01-00:00"


@pytest.mark.parametrize(
    "name",
    [
        "canada.cap",
        "australia.cap",
        "wcatwc-warning.cap",
        "earthquake.cap",
        "weather.cap",
        "no_optional_fields.cap",
    ],
)
def test_real_alerts_validate_and_parse(name: str, cap_schema: etree.XMLSchema) -> None:
    root = read_untrusted(shared_file(f"cap/{name}"))
    assert cap.check(root, cap_schema) == []
    alert = cap.parse(root)
    assert alert.identifier and alert.sender


def test_canada_bilingual_has_two_infos(cap_schema: etree.XMLSchema) -> None:
    alert = cap.parse(read_untrusted(shared_file("cap/canada.cap")))
    assert [i.language for i in alert.infos] == ["en-CA", "fr-CA"]
    assert all(i.areas and i.areas[0].polygons for i in alert.infos)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("invalid.cap", ["schema", "alert/scope: is required"]),
        (
            "canada_errors.cap",
            ["alert/references: is present but empty", "Update message must reference"],
        ),
        (
            "noaa_errors.cap",
            [
                "alert/references: is present but empty",
                "info[1]/urgency",
                "info[1]/severity",
                "info[1]/certainty",
                "polygon[1]",
            ],
        ),
    ],
)
def test_invalid_alerts_fail_for_the_right_reasons(
    name: str, expected: list[str], cap_schema: etree.XMLSchema
) -> None:
    problems = [str(p) for p in cap.check(read_untrusted(shared_file(f"cap/{name}")), cap_schema)]
    for reason in expected:
        assert any(reason in p for p in problems), (reason, problems)


def _one(**changes: object) -> bytes:
    info = CapInfo(
        categories=("Met",), event="Flood", urgency="Expected", severity="Severe", certainty="Likely",
        areas=(CapArea(desc="Riverside", polygons=("60.1,24.9 60.2,24.9 60.2,25.0 60.1,24.9",)),),
    )  # fmt: skip
    alert = CapAlert(
        identifier="A-1", sender="city", sent=datetime(2026, 6, 1, tzinfo=UTC), infos=(info,)
    )
    xml = cap.build_xml(alert).decode()
    for old, new in changes.items():
        xml = xml.replace(old.replace("_", " "), str(new))
    return xml.encode()


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("2026-06-01T00:00:00-00:00", "2026-06-01T00:00:00", "offset"),
        ("60.1,24.9 60.2,24.9 60.2,25.0 60.1,24.9", "60.1,24.9 60.2,24.9 60.2,25.0", "closed"),
        (
            "60.1,24.9 60.2,24.9 60.2,25.0 60.1,24.9",
            "95.1,24.9 60.2,24.9 60.2,25.0 95.1,24.9",
            "outside",
        ),
        ("<msgType>Alert</msgType>", "<msgType>Cancel</msgType>", "must reference"),
    ],
)
def test_profile_rules_the_schema_cannot_express(
    old: str, new: str, reason: str, cap_schema: etree.XMLSchema
) -> None:
    xml = cap.build_xml(
        CapAlert(
            identifier="A-1", sender="city", sent=datetime(2026, 6, 1, tzinfo=UTC),
            infos=(CapInfo(categories=("Met",), event="Flood", urgency="Expected", severity="Severe", certainty="Likely",
                           areas=(CapArea(desc="Riverside", polygons=("60.1,24.9 60.2,24.9 60.2,25.0 60.1,24.9",)),)),),
        )
    ).decode()  # fmt: skip
    assert old in xml
    problems = cap.check(parse_untrusted(xml.replace(old, new).encode()), cap_schema)
    assert any(reason in str(p) and p.check == "profile" for p in problems), problems


def test_public_alert_without_area_is_refused(cap_schema: etree.XMLSchema) -> None:
    info = CapInfo(
        categories=("Met",),
        event="Flood",
        urgency="Expected",
        severity="Severe",
        certainty="Likely",
    )
    alert = CapAlert(
        identifier="A-1", sender="city", sent=datetime(2026, 6, 1, tzinfo=UTC), infos=(info,)
    )
    problems = cap.check(parse_untrusted(cap.build_xml(alert)), cap_schema)
    assert [p.path for p in problems] == ["alert/info[1]/area"]


def test_circle_becomes_a_closed_ring() -> None:
    (geom,) = cap.area_geometries(CapArea(desc="x", circles=("60.17,24.94 1.0",)))
    ring = geom["coordinates"][0]  # type: ignore[index]
    assert ring[0] == ring[-1] and len(ring) == 33
