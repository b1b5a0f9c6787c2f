"""Read, check and compile rule files, reporting every problem with its line number.

The YAML is composed into nodes first (which carry their line), then
constructed; every value's path (``rules.0.window.size``) is mapped to the line
it was written on, so a pydantic or semantic error points at the right line:

    rules.yaml:14: rule 'flood-gauge-high': field 'window.size': 'ten' is not a duration

Each rule is validated on its own, so one bad rule does not hide the problems
of the next. Checks beyond the shape: CEL compiles, zones and incident types
exist, device kinds and streams are known, names are unique, placeholders in
texts are known.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from vigil.core.errors import ConfigError
from vigil.core.geometry import LatLon
from vigil.incidents.catalogue import Catalogue
from vigil.ingest.model import DeviceKind
from vigil.rules import schema
from vigil.rules.cel import CelCompileError, Condition, compile_condition
from vigil.rules.rule import (
    Action,
    Attach,
    Circle,
    Correlate,
    DraftAlert,
    Fire,
    Hours,
    KeyBy,
    NotifyMqtt,
    NotifyWebhook,
    OpenIncident,
    RaisePriority,
    Recommend,
    Rule,
    RuleSet,
    WindowSpec,
    Zone,
)
from vigil.rules.vocabulary import EVENT_TYPES, STREAMS

Path_ = tuple[str | int, ...]
PLACEHOLDERS = frozenset(
    {"rule", "value", "unit", "device", "zone", "kind", "stream", "window", "count"}
)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One problem in a rule file, with where it is."""

    file: str
    line: int
    rule: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}:"]
        if self.rule:
            parts.append(f"rule {self.rule!r}:")
        if self.field:
            parts.append(f"field {self.field!r}:")
        parts.append(self.message)
        return " ".join(parts)


class RuleFileError(ConfigError):
    """One or more rule files are invalid; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        self.problems = tuple(problems)
        first = str(self.problems[0]) if self.problems else "invalid rule file"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more)


def default_rules_text() -> str:
    """Return the built-in demo rule set (Helsinki)."""
    return resources.files("vigil.rules").joinpath("default_rules.yaml").read_text("utf-8")


DEFAULT_SOURCE = "<built-in default_rules.yaml>"


# ------------------------------------------------------------- YAML + lines


class _Lines:
    """Path -> line for one document (1-based)."""

    def __init__(self) -> None:
        self.at: dict[Path_, int] = {}
        self.text_at: dict[Path_, int] = {}  # line where a scalar's text begins

    def line(self, path: Sequence[str | int]) -> int:
        """Return the line of the deepest known prefix of `path`."""
        p = tuple(path)
        while p and p not in self.at:
            p = p[:-1]
        return self.at.get(p, 1)


def _walk(node: yaml.Node, path: Path_, lines: _Lines, dupes: list[tuple[Path_, int]]) -> None:
    lines.at.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                dupes.append(((*path, key), key_node.start_mark.line + 1))
            seen.add(key)
            lines.at[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, dupes)
    elif isinstance(node, yaml.ScalarNode):
        # A block scalar (| or >) starts on the line after its indicator.
        block = 1 if node.style in ("|", ">") else 0
        lines.text_at[path] = node.start_mark.line + 1 + block


def _parse(text: str, source: str) -> tuple[Any, _Lines, list[RuleProblem]]:
    lines = _Lines()
    dupes: list[tuple[Path_, int]] = []
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines, [RuleProblem(source, 1, None, None, "the file is empty")]
        _walk(node, (), lines, dupes)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        return (
            None,
            lines,
            [RuleProblem(source, line, None, None, f"not valid YAML: {err.problem}")],
        )
    except yaml.YAMLError as err:
        return None, lines, [RuleProblem(source, 1, None, None, f"not valid YAML: {err}")]
    finally:
        loader.dispose()
    problems = [
        RuleProblem(source, line, None, _dotted(path), "key given twice") for path, line in dupes
    ]
    return data, lines, problems


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# ------------------------------------------------------------------ checking


_RULE = TypeAdapter(schema.RuleModel)


class _Checker:
    """Collects problems of one file while compiling it."""

    def __init__(self, source: str, lines: _Lines, catalogue: Catalogue) -> None:
        self.source = source
        self.lines = lines
        self.catalogue = catalogue
        self.problems: list[RuleProblem] = []

    def add(self, path: Sequence[str | int], message: str, *, rule: str | None = None) -> None:
        # Inside a rule, name the field relative to the rule (e.g. 'window.size').
        shown = path[2:] if len(path) >= 2 and path[0] == "rules" else path
        self.problems.append(
            RuleProblem(self.source, self.lines.line(path), rule, _dotted(shown) or None, message)
        )

    def pydantic(
        self, err: PydanticValidationError, base: Path_, *, rule: str | None = None
    ) -> None:
        for e in err.errors():
            loc = [*base]
            for part in e["loc"]:
                # Discriminated unions add the tag to the location; the file has no such key.
                candidate = (*loc, part)
                if (
                    isinstance(part, str)
                    and part in _ACTION_TAGS
                    and candidate not in self.lines.at
                ):
                    continue
                loc.append(part)
            message = str(e["msg"]).removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                message = "unknown field (a typo?)"
            self.add(loc, message, rule=rule)

    def condition(self, text: str | None, path: Path_, rule: str) -> Condition | None:
        if text is None:
            return None
        try:
            return compile_condition(text)
        except CelCompileError as err:
            where = f" (column {err.column})" if err.column and "column" not in err.message else ""
            line_offset = (err.line - 1) if err.line and err.line > 1 else 0
            first = self.lines.text_at.get(path, self.lines.line(path))
            self.problems.append(
                RuleProblem(
                    self.source,
                    first + line_offset,
                    rule,
                    _dotted(path[2:]),
                    err.message + where,
                )
            )
            return None


_ACTION_TAGS = frozenset(
    {
        "open_incident",
        "raise_priority",
        "attach",
        "recommend",
        "draft_alert",
        "notify_webhook",
        "notify_mqtt",
    }
)


def _zone(name: str, model: schema.ZoneModel) -> Zone:
    ring = tuple((float(lat), float(lon)) for lat, lon in model.polygon)
    if len(ring) > 3 and ring[0] == ring[-1]:
        ring = ring[:-1]
    return Zone(name=name, label=model.label or name, ring=ring)


def _zone_problem(zone: Zone) -> str | None:
    import shapely  # noqa: PLC0415 - only needed when checking a file

    if len(set(zone.ring)) < 3:
        return "a polygon needs at least 3 distinct points"
    poly = shapely.Polygon([(lon, lat) for lat, lon in zone.ring])
    if not poly.is_valid:
        return f"the polygon is not valid ({shapely.is_valid_reason(poly)}); do its edges cross?"
    return None


def _match_key(
    match: schema.MatchModel, path: Path_, check: _Checker, rule: str
) -> tuple[str, str] | None:
    if match.event is not None:
        if match.event not in EVENT_TYPES:
            known = ", ".join(sorted(EVENT_TYPES))
            check.add(
                (*path, "event"), f"unknown event type {match.event!r} (known: {known})", rule=rule
            )
            return None
        return (match.event, "")
    assert match.kind is not None and match.stream is not None
    try:
        kind = DeviceKind(match.kind)
    except ValueError:
        known = ", ".join(k.value for k in DeviceKind)
        check.add(
            (*path, "kind"), f"unknown device kind {match.kind!r} (known: {known})", rule=rule
        )
        return None
    if match.stream not in STREAMS[kind]:
        known = ", ".join(sorted(STREAMS[kind]))
        check.add(
            (*path, "stream"),
            f"device kind {kind.value} has no stream {match.stream!r} (known: {known})",
            rule=rule,
        )
        return None
    return (kind.value, match.stream)


def _placeholders(text: str, path: Path_, check: _Checker, rule: str) -> None:
    for name in _PLACEHOLDER.findall(text):
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            check.add(path, f"unknown placeholder {{{name}}} (known: {known})", rule=rule)


def _hours(text: str | None, tz: ZoneInfo, path: Path_, check: _Checker, rule: str) -> Hours | None:
    if text is None:
        return None
    start, end = text.split("-")
    minutes: list[int] = []
    for part in (start, end):
        h, m = (int(x) for x in part.split(":"))
        if not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > 24 * 60:
            check.add(path, f"{part} is not a time of day", rule=rule)
            return None
        minutes.append(h * 60 + m)
    if minutes[0] == minutes[1]:
        check.add(path, "the span is empty (start equals end)", rule=rule)
        return None
    return Hours(start_min=minutes[0], end_min=minutes[1], tz=tz, text=text)


def _digest(
    model: schema.RuleModel, raw: Mapping[str, object], zones: Mapping[str, Zone], tz: str
) -> str:
    """Hash what the rule does: its text, the zones it uses and, with `hours`, the time zone."""
    body = {k: v for k, v in raw.items() if k != "version"}
    used = {model.scope.zone} if model.scope is not None and model.scope.zone else set()
    used |= {
        a.area.zone for a in model.actions if isinstance(a, schema.DraftAlertModel) and a.area.zone
    }
    payload = {
        "rule": body,
        "zones": {z: zones[z].ring for z in sorted(used) if z in zones},
        "tz": tz if model.hours else None,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _compile_rule(
    raw: object, index: int, *, zones: dict[str, Zone], tz: ZoneInfo, tz_name: str, check: _Checker
) -> Rule | None:
    base: Path_ = ("rules", index)
    name = raw.get("name") if isinstance(raw, dict) else None
    label = name if isinstance(name, str) else f"#{index + 1}"
    before = len(check.problems)
    if not isinstance(raw, dict):
        check.add(base, "a rule must be a mapping of fields", rule=label)
        return None
    try:
        model = _RULE.validate_python(raw)
    except PydanticValidationError as err:
        check.pydantic(err, base, rule=label)
        _salvage(raw, base, zones, check, label)
        return None
    match = _match_key(model.match, (*base, "match"), check, label)
    condition = check.condition(model.condition, (*base, "condition"), label)
    scope_zone: Zone | None = None
    scope_circle: Circle | None = None
    if model.scope is not None:
        if model.scope.zone is not None:
            scope_zone = zones.get(model.scope.zone)
            if scope_zone is None:
                check.add(
                    (*base, "scope", "zone"), _unknown_zone(model.scope.zone, zones), rule=label
                )
        elif model.scope.circle is not None:
            lat, lon = model.scope.circle.center
            scope_circle = Circle(LatLon(lat, lon), model.scope.circle.radius_m)
    is_event = model.match.event is not None
    key = KeyBy(model.key or ("none" if is_event else "device"))
    if key is KeyBy.DEVICE and is_event:
        check.add((*base, "key"), "CAD events have no device; use zone, cell or none", rule=label)
    correlates: list[Correlate] = []
    for i, c in enumerate(model.correlate):
        cpath: Path_ = (*base, "correlate", i)
        cmatch = _match_key(c.match, (*cpath, "match"), check, label)
        ccond = check.condition(c.condition, (*cpath, "condition"), label)
        if cmatch is not None:
            correlates.append(
                Correlate(
                    match=cmatch,
                    condition=ccond,
                    within_m=c.within_m,
                    within_s=c.within,
                    at_least=c.at_least,
                )
            )
        if c.within <= 0:
            check.add((*cpath, "within"), "must be more than 0 s", rule=label)
    hours = _hours(model.hours, tz, (*base, "hours"), check, label)
    actions = _actions(model, base, zones=zones, scope_zone=scope_zone, check=check, rule=label)
    window = None
    if model.window is not None:
        w = model.window
        window = WindowSpec(
            size_s=w.size,
            aggregate=w.aggregate,
            op=w.op,
            threshold=w.threshold,
            min_count=w.min_count,
        )
    fire = Fire(model.fire or ("edge" if window or model.sustained > 0 else "each"))
    if len(check.problems) > before or match is None:
        return None
    return Rule(
        name=model.name,
        version=model.version,
        description=model.description,
        file=check.source,
        match=match,
        condition=condition,
        scope_zone=scope_zone,
        scope_circle=scope_circle,
        key=key,
        cell_m=model.cell_m,
        window=window,
        sustained_s=model.sustained,
        hours=hours,
        fire=fire,
        cooldown_s=model.cooldown,
        correlate=tuple(correlates),
        actions=actions,
        zones=zones,
        digest=_digest(model, raw, zones, tz_name),
    )


def _salvage(
    raw: dict[str, object], base: Path_, zones: dict[str, Zone], check: _Checker, rule: str
) -> None:
    """Check the parts of an invalid rule that are valid on their own, to report more at once."""

    def part(model: Any, value: object) -> Any:
        try:
            return TypeAdapter(model).validate_python(value)
        except PydanticValidationError:
            return None  # already reported by the whole-rule validation

    match = part(schema.MatchModel, raw.get("match"))
    if match is not None:
        _match_key(match, (*base, "match"), check, rule)
    if isinstance(raw.get("condition"), str):
        check.condition(str(raw["condition"]), (*base, "condition"), rule)
    scope = part(schema.ScopeModel, raw.get("scope"))
    scope_zone = None
    if scope is not None and scope.zone is not None:
        scope_zone = zones.get(scope.zone)
        if scope_zone is None:
            check.add((*base, "scope", "zone"), _unknown_zone(scope.zone, zones), rule=rule)
    correlate = raw.get("correlate")
    for i, item in enumerate(correlate if isinstance(correlate, list) else []):
        c = part(schema.CorrelateModel, item)
        if c is not None:
            _match_key(c.match, (*base, "correlate", i, "match"), check, rule)
            check.condition(c.condition, (*base, "correlate", i, "condition"), rule)
    actions = raw.get("actions")
    for i, item in enumerate(actions if isinstance(actions, list) else []):
        a = part(schema.ActionModel, item)
        if a is not None:
            _action(
                a, (*base, "actions", i), zones=zones, scope_zone=scope_zone, check=check, rule=rule
            )


def _unknown_zone(name: str, zones: Mapping[str, Zone]) -> str:
    known = ", ".join(sorted(zones)) or "none defined in this file"
    return f"unknown zone {name!r} (known: {known})"


def _types(types: Iterable[str], path: Path_, check: _Checker, rule: str) -> tuple[str, ...]:
    for t in types:
        if t not in check.catalogue.incident_types:
            known = ", ".join(sorted(check.catalogue.incident_types))
            check.add(path, f"unknown incident type {t!r} (known: {known})", rule=rule)
    return tuple(types)


ActionModels = (
    schema.OpenIncidentModel
    | schema.RaisePriorityModel
    | schema.AttachModel
    | schema.RecommendModel
    | schema.DraftAlertModel
    | schema.NotifyWebhookModel
    | schema.NotifyMqttModel
)


def _action(  # noqa: PLR0911 - one return per action kind reads best
    a: ActionModels,
    path: Path_,
    *,
    zones: Mapping[str, Zone],
    scope_zone: Zone | None,
    check: _Checker,
    rule: str,
) -> Action:
    """Check one action's references and return its compiled form."""
    if isinstance(a, schema.OpenIncidentModel):
        _types([a.type], (*path, "type"), check, rule)
        if a.location == "zone" and scope_zone is None:
            check.add((*path, "location"), "location: zone needs scope.zone", rule=rule)
        _placeholders(a.description, (*path, "description"), check, rule)
        return OpenIncident(
            type=a.type, priority=a.priority, location=a.location, description=a.description
        )
    if isinstance(a, schema.RaisePriorityModel):
        types = _types(a.types, (*path, "types"), check, rule)
        return RaisePriority(to=a.to, within_m=a.within_m, types=types)
    if isinstance(a, schema.AttachModel):
        types = _types(a.types, (*path, "types"), check, rule)
        return Attach(within_m=a.within_m, raise_priority_to=a.raise_priority_to, types=types)
    if isinstance(a, schema.DraftAlertModel):
        if a.area.zone is not None and a.area.zone not in zones:
            check.add((*path, "area", "zone"), _unknown_zone(a.area.zone, zones), rule=rule)
        for name in ("headline", "description", "instruction"):
            _placeholders(getattr(a, name), (*path, name), check, rule)
        return DraftAlert(
            headline=a.headline,
            description=a.description,
            instruction=a.instruction,
            event=a.event,
            category=a.category,
            urgency=a.urgency,
            severity=a.severity,
            certainty=a.certainty,
            area_zone=a.area.zone,
            area_radius_m=a.area.radius_m,
        )
    if isinstance(a, schema.NotifyWebhookModel):
        return NotifyWebhook(url=a.url)
    if isinstance(a, schema.NotifyMqttModel):
        return NotifyMqtt(topic=a.topic)
    return Recommend()


def _actions(
    model: schema.RuleModel,
    base: Path_,
    *,
    zones: Mapping[str, Zone],
    scope_zone: Zone | None,
    check: _Checker,
    rule: str,
) -> tuple[Action, ...]:
    out = [
        _action(
            a, (*base, "actions", i), zones=zones, scope_zone=scope_zone, check=check, rule=rule
        )
        for i, a in enumerate(model.actions)
    ]
    kinds = [a.kind for a in out]
    if kinds.count("open_incident") > 1:
        check.add((*base, "actions"), "open_incident may appear once per rule", rule=rule)
    if "recommend" in kinds and not {"open_incident", "attach"} & set(
        kinds[: kinds.index("recommend")]
    ):
        check.add(
            (*base, "actions"), "recommend needs an open_incident or attach before it", rule=rule
        )
    return tuple(out)


def _compile_file(
    text: str, source: str, catalogue: Catalogue
) -> tuple[list[Rule], list[RuleProblem]]:
    data, lines, problems = _parse(text, source)
    if data is None:
        return [], problems
    check = _Checker(source, lines, catalogue)
    check.problems.extend(problems)
    if not isinstance(data, dict):
        check.add((), "the top level must be a mapping with 'rules' (and 'zones', 'timezone')")
        return [], check.problems
    try:
        file = schema.RuleFileModel.model_validate(data)
    except PydanticValidationError as err:
        check.pydantic(err, ())
        return [], check.problems
    try:
        tz = ZoneInfo(file.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        check.add(("timezone",), f"unknown time zone {file.timezone!r} (e.g. Europe/Helsinki)")
        tz = ZoneInfo("UTC")
    zones: dict[str, Zone] = {}
    for name, zmodel in file.zones.items():
        zone = _zone(name, zmodel)
        problem = _zone_problem(zone)
        if problem:
            check.add(("zones", name, "polygon"), problem)
        zones[name] = zone
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(file.rules):
        rule_name = raw.get("name")
        if isinstance(rule_name, str):
            if rule_name in seen:
                check.add(
                    ("rules", i, "name"),
                    f"rule name {rule_name!r} is already used by rule #{seen[rule_name] + 1}",
                    rule=rule_name,
                )
            seen.setdefault(rule_name, i)
        compiled = _compile_rule(raw, i, zones=zones, tz=tz, tz_name=file.timezone, check=check)
        if compiled is not None and raw.get("enabled", True) is not False:
            rules.append(compiled)
    return rules, sorted(check.problems, key=lambda p: p.line)


def check_text(text: str, source: str, catalogue: Catalogue) -> list[RuleProblem]:
    """Return every problem of one rule file's text (empty = valid)."""
    return _compile_file(text, source, catalogue)[1]


def compile_texts(texts: Sequence[tuple[str, str]], catalogue: Catalogue) -> RuleSet:
    """Compile (source, text) pairs into one rule set; raise RuleFileError listing every problem."""
    rules: list[Rule] = []
    problems: list[RuleProblem] = []
    for source, text in texts:
        found, file_problems = _compile_file(text, source, catalogue)
        rules.extend(found)
        problems.extend(file_problems)
    names: dict[str, Rule] = {}
    for rule in rules:
        other = names.get(rule.name)
        if other is not None and other.file != rule.file:
            problems.append(
                RuleProblem(rule.file, 1, rule.name, "name", f"also defined in {other.file}")
            )
        names[rule.name] = rule
    if problems:
        raise RuleFileError(problems)
    return RuleSet(rules=tuple(rules), files=tuple(s for s, _ in texts))


def read_rule_files(paths: Sequence[Path]) -> list[tuple[str, str]]:
    """Read rule files as (source, text); the built-in set when `paths` is empty."""
    if not paths:
        return [(DEFAULT_SOURCE, default_rules_text())]
    out: list[tuple[str, str]] = []
    for path in paths:
        try:
            out.append((str(path), path.read_text("utf-8")))
        except (OSError, UnicodeDecodeError) as err:
            raise RuleFileError(
                [RuleProblem(str(path), 1, None, None, f"cannot read: {err}")]
            ) from err
    return out


def load_rules(paths: Sequence[Path], catalogue: Catalogue) -> RuleSet:
    """Read and compile rule files (the built-in set when none are given)."""
    return compile_texts(read_rule_files(paths), catalogue)
