"""Rule file validation: every problem reported with its line, field and rule."""

from __future__ import annotations

import textwrap

import pytest

from vigil.incidents.catalogue import Catalogue
from vigil.rules.load import RuleFileError, check_text, compile_texts, load_rules
from vigil.rules.rule import Fire, KeyBy

BAD = """\
timezone: Europe/Helsinki
zones:
  venue:
    polygon: [[60.17, 24.95], [60.17, 24.96], [60.16, 24.96]]
rules:
  - name: a
    version: 1
    match: {kind: flood_gauge, stream: levle}
    condition: value >
    window: {size: ten, aggregate: avg, threshold: 3}
    actions:
      - do: open_incident
        type: floood
  - name: b
    version: 1
    match: {kind: smoke_panel, stream: alarm}
    scope: {zone: nowhere}
    colour: red
    condition: |
      value > 1 &&
      foo == 2
    actions:
      - do: draft_alert
        headline: "x {nope}"
        event: E
        urgency: Immediate
        severity: Minor
        certainty: Observed
        area: {zone: venue}
  - name: a
    version: 1
    match: {event: call.received}
    key: device
    actions: [{do: recommend}]
"""


def problems(text: str, catalogue: Catalogue) -> list[tuple[int, str | None, str | None, str]]:
    return [
        (p.line, p.rule, p.field, p.message)
        for p in check_text(textwrap.dedent(text), "rules.yaml", catalogue)
    ]


def test_every_problem_has_its_line(catalogue: Catalogue) -> None:
    found = {(line, rule, field) for line, rule, field, _ in problems(BAD, catalogue)}
    assert found == {
        (8, "a", "match.stream"),
        (9, "a", "condition"),
        (10, "a", "window.size"),
        (13, "a", "actions[0].type"),
        (17, "b", "scope.zone"),
        (18, "b", "colour"),
        (21, "b", "condition"),  # second line of a block scalar
        (24, "b", "actions[0].headline"),
        (30, "a", "name"),
        (33, "a", "key"),
        (34, "a", "actions"),
    }


def test_messages_are_precise(catalogue: Catalogue) -> None:
    text = {(line, field): msg for line, _, field, msg in problems(BAD, catalogue)}
    assert "no stream 'levle' (known: alert, level)" in text[8, "match.stream"]
    assert "CEL syntax error" in text[9, "condition"]
    assert "'ten' is not a duration" in text[10, "window.size"]
    assert "unknown incident type 'floood'" in text[13, "actions[0].type"]
    assert "unknown zone 'nowhere' (known: venue)" in text[17, "scope.zone"]
    assert "unknown field" in text[18, "colour"]
    assert "unknown variable 'foo'" in text[21, "condition"]
    assert "unknown placeholder {nope}" in text[24, "actions[0].headline"]
    assert "already used" in text[30, "name"]
    assert "recommend needs an open_incident" in text[34, "actions"]


def test_error_string_format(catalogue: Catalogue) -> None:
    with pytest.raises(RuleFileError) as err:
        compile_texts([("city.yaml", BAD)], catalogue)
    first = str(err.value.problems[0])
    assert first.startswith("city.yaml:8: rule 'a': field 'match.stream': device kind")
    assert len(err.value.problems) == 11


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("rules:\n  - name: x\n    version: [1\n", 4, "not valid YAML"),
        ("", 1, "empty"),
        ("- 1\n- 2\n", 1, "top level must be a mapping"),
        ("rules:\n  - name: x\n    name: y\n", 3, "key given twice"),
        ("timezone: Mars/Olympus\nrules: []\n", 1, "unknown time zone"),
        (
            "zones:\n  z:\n    polygon: [[0, 0], [1, 1], [0, 1], [1, 0]]\nrules: []\n",
            3,
            "not valid",
        ),
        ("rules:\n  - name: Bad Name\n", 2, "should match pattern"),
        (
            "rules:\n  - name: x\n    version: 1\n    match: {kind: toaster, stream: x}\n"
            "    actions: [{do: recommend}]\n",
            4,
            "unknown device kind 'toaster'",
        ),
        (
            "rules:\n  - name: x\n    version: 1\n    match: {event: unit.assigned}\n"
            "    actions: [{do: recommend}]\n",
            4,
            "unknown event type",
        ),
        (
            "rules:\n  - name: x\n    version: 1\n    match: {event: call.received, kind: x}\n"
            "    actions: [{do: recommend}]\n",
            4,
            "either event",
        ),
        (
            "rules:\n  - name: x\n    version: 1\n    match: {event: call.received}\n"
            "    key: zone\n    hours: '07:00-07:00'\n    actions: [{do: recommend}]\n",
            6,
            "empty",
        ),
        (
            "rules:\n  - name: x\n    version: 1\n    match: {event: call.received}\n"
            "    key: zone\n    actions:\n      - {do: flood_the_city}\n",
            7,
            "does not match any",
        ),
        (
            "rules:\n  - name: x\n    version: 1\n    match: {event: call.received}\n"
            "    key: zone\n    actions:\n      - {do: draft_alert, headline: h, event: e,\n"
            "         urgency: Now, severity: Minor, certainty: Likely, area: {radius_m: 100}}\n",
            8,
            "Input should be",
        ),
    ],
)
def test_single_problems(text: str, line: int, needle: str, catalogue: Catalogue) -> None:
    found = problems(text, catalogue)
    assert found, "expected a problem"
    assert any(ln == line and needle in msg for ln, _, _, msg in found), found


def test_default_rules_are_valid_and_compiled(catalogue: Catalogue) -> None:
    rules = load_rules([], catalogue)
    names = {r.name for r in rules.rules}
    assert names == {
        "flood-market-square",
        "crowd-density-senate-square",
        "night-noise-kruununhaka",
        "shots-fired-impulse-calls",
        "smoke-panel-alarm",
        "camera-fall-detected",
        "camera-zone-intrusion",
        "camera-abandoned-object",
    }
    for rule in rules.rules:
        assert rule.version >= 1
        assert rule.digest
        for action in rule.actions:
            if action.kind == "open_incident":
                assert action.type in catalogue.incident_types
    flood = rules.get("flood-market-square")
    assert flood is not None and flood.fire is Fire.EDGE and flood.sustained_s == 600
    shots = rules.get("shots-fired-impulse-calls")
    assert shots is not None and shots.key is KeyBy.CELL and shots.correlate[0].at_least == 2
    noise = rules.get("night-noise-kruununhaka")
    assert noise is not None and noise.hours is not None and noise.hours.tz.key == "Europe/Helsinki"
    crowd = rules.get("crowd-density-senate-square")
    assert crowd is not None and crowd.scope_zone is not None
    c = crowd.scope_zone.centroid()
    assert 60.168 < c.lat < 60.171 and 24.950 < c.lon < 24.954  # the Senate Square


def test_disabled_rules_are_checked_but_not_loaded(catalogue: Catalogue) -> None:
    text = """
    rules:
      - name: dormant
        version: 1
        enabled: false
        match: {event: call.received}
        key: zone
        actions: [{do: recommend}]
    """
    assert problems(text, catalogue) == [
        (8, "dormant", "actions", "recommend needs an open_incident or attach before it")
    ]
    ok = text.replace("[{do: recommend}]", "[{do: open_incident, type: other}]")
    assert compile_texts([("f", textwrap.dedent(ok))], catalogue).rules == ()


def test_same_name_in_two_files_is_refused(catalogue: Catalogue) -> None:
    one = (
        "rules:\n  - {name: x, version: 1, match: {event: call.received}, key: zone,\n"
        "     actions: [{do: open_incident, type: other}]}\n"
    )
    with pytest.raises(RuleFileError, match=r"also defined in a\.yaml"):
        compile_texts([("a.yaml", one), ("b.yaml", one)], catalogue)


def test_digest_changes_with_the_zone_a_rule_uses(catalogue: Catalogue) -> None:
    text = """
    zones:
      z: {polygon: [[60.0, 24.0], [60.0, 24.1], [60.1, 24.1]]}
    rules:
      - name: x
        version: 1
        match: {kind: smoke_panel, stream: alarm}
        scope: {zone: z}
        actions: [{do: open_incident, type: alarm_fire}]
    """
    a = compile_texts([("f", textwrap.dedent(text))], catalogue).rules[0]
    b = compile_texts([("f", textwrap.dedent(text.replace("24.1]]", "24.2]]")))], catalogue)
    c = compile_texts([("f", textwrap.dedent(text.replace("version: 1", "version: 2")))], catalogue)
    assert a.digest != b.rules[0].digest
    assert a.digest == c.rules[0].digest  # the version is not part of what the rule does
