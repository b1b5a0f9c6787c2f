"""CEL conditions: compiled closures agree with celpy, errors are CEL's, nothing unsafe runs."""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import celpy
import pytest
from celpy import celtypes
from celpy.evaluation import CELEvalError
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.rules.cel import CelCompileError, CelError, compile_condition, leading_threshold


def fact(**over: Any) -> SimpleNamespace:
    base: dict[str, Any] = {
        "value": 112.5,
        "kind": "acoustic_detector",
        "stream": "impulse",
        "device_id": "AC-1",
        "zone": "centre",
        "unit": "dB(A)",
        "id": "AC-1:impulse:7",
        "attrs": {"class": "gunshot", "confidence": 0.9, "indoor": False},
    }
    base.update(over)
    return SimpleNamespace(**base)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('value >= 110.0 && attrs["class"] == "gunshot"', True),
        ("attrs.class == 'gunshot' && attrs.confidence > 0.8", True),
        ("has(attrs.class) && !has(attrs.missing)", True),
        ('zone in ["harbour", "centre"]', True),
        ('kind == "acoustic_detector" && stream == "impulse"', True),
        ("3 < value && value < 200", True),  # int and double compare by value
        ("7 / 2 == 3 && -7 / 2 == -3 && -7 % 3 == -1", True),  # CEL truncates toward zero
        ("value - 12.5 == 100.0", True),
        ("size(device) == 4 && device.startsWith('AC') && unit.contains('dB')", True),
        ("id.endsWith(':7')", True),
        ("value > 200.0 ? false : true", True),
        ("int(value) == 112 && double(1) == 1.0 && string(2) == '2'", True),
        ("attrs.indoor == false", True),
        ('{"a": 1}["a"] == 1 && [1, 2, 3][1] == 2', True),
        ('"x" + "y" == "xy"', True),
        ("1 == 'a'", False),  # different types are unequal, not an error
        ("zone == null", False),
        ("attrs.missing == 1 || true", True),  # error absorbed by ||
        ("attrs.missing == 1 && false", False),  # error absorbed by &&
        ("false && attrs.missing == 1", False),
    ],
)
def test_examples(source: str, expected: bool) -> None:
    assert compile_condition(source)(fact()) is expected


@pytest.mark.parametrize(
    "source",
    [
        "attrs.missing == 1",  # no such key
        "attrs.missing == 1 || false",
        'value > "x"',  # no such overload
        "1 / 0 == 1",
        "value",  # not a bool
        "!value",
        "attrs.class + 1 == 2",
    ],
)
def test_runtime_errors_raise_cel_error(source: str) -> None:
    with pytest.raises(CelError):
        compile_condition(source)(fact())


def test_zone_null_compares_as_null() -> None:
    assert compile_condition("zone == null")(fact(zone=None)) is True


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("value >", "syntax error", 7),
        ("foo > 1", "unknown variable 'foo'", 1),
        ("attrs.x.exists(y, y)", "macro 'exists'", None),
        ("device.matches('^A')", "method 'matches'", None),
        ("eval('1')", "function 'eval'", None),
        ("", "empty", None),
        ("value > 1 &&& value < 2", "syntax error", None),
    ],
)
def test_compile_errors(source: str, message: str, column: int | None) -> None:
    with pytest.raises(CelCompileError) as err:
        compile_condition(source)
    assert message in err.value.message
    if column is not None:
        assert err.value.column == column


def test_multi_line_syntax_error_reports_its_line() -> None:
    with pytest.raises(CelCompileError) as err:
        compile_condition("value > 1 &&\n  value < < 2")
    assert err.value.line == 2


def test_constant_conditions_fold() -> None:
    cond = compile_condition("1 + 2 == 3 && 'a' in ['a', 'b']")
    assert cond(None) is True


# ------------------------------------------------- agreement with cel-python


_env = celpy.Environment()


@functools.cache
def _program(source: str) -> celpy.Runner:
    return _env.program(_env.compile(source))


def _celpy(source: str, value: float, zone: str, cls: str) -> object:
    program = _program(source)
    activation: dict[str, Any] = {
        "value": celtypes.DoubleType(value),
        "zone": celtypes.StringType(zone),
        "attrs": celtypes.MapType({celtypes.StringType("class"): celtypes.StringType(cls)}),
    }
    try:
        return program.evaluate(activation)
    except CELEvalError:
        return "error"


# Expressions where celpy 0.5 and cel-spec agree (celpy refuses e.g. `1 < 1.5`).
AGREEMENT = [
    "value > 3.2",
    "value >= 110.0 && attrs['class'] == 'gunshot'",
    "value < 0.0 || zone == 'harbour'",
    "!(value <= 50.0) && zone != 'centre'",
    "zone in ['harbour', 'centre'] ? value * 2.0 > 100.0 : value / 2.0 < 10.0",
    "has(attrs.class) && attrs.class.startsWith('gun')",
    "size(zone) > 5 || value - 1.5 == 0.0",
    "attrs['nope'] == 'x' || value > 0.0",
    "attrs['nope'] == 'x' && value > 0.0",
    "value > 0.0 && attrs['nope'] == 'x'",
]


_OURS = [compile_condition(s) for s in AGREEMENT]


@settings(max_examples=60, deadline=None)
@given(
    value=st.floats(min_value=-1000, max_value=1000, allow_nan=False),
    zone=st.sampled_from(["harbour", "centre", "kallio", ""]),
    cls=st.sampled_from(["gunshot", "firework", "impulse"]),
)
def test_agrees_with_celpy(value: float, zone: str, cls: str) -> None:
    f = fact(value=value, zone=zone, attrs={"class": cls})
    for source, condition in zip(AGREEMENT, _OURS, strict=True):
        expected = _celpy(source, value, zone, cls)
        try:
            got: object = condition(f)
        except CelError:
            got = "error"
        assert got == expected, source


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("value > 3", (">", 3)),
        ("value >= -2.5 && attrs.x == 1", (">=", -2.5)),
        ("value < 1e3 && zone == 'a' && kind == 'b'", ("<", 1000.0)),
        ("value <= 0", ("<=", 0)),
        ("value > 3 || zone == 'a'", None),  # || : the threshold alone does not decide
        ("zone == 'a' && value > 3", None),  # only the leading operand is read
        ("(value > 3) && zone == 'a'", None),
        ("value + 1 > 3", None),
        ("3 < value", None),
        ("value == 3", None),
        ("value > 0x10", None),
        ("value > 3 ? true : false", None),
        ("!(value > 3)", None),
        ("value > 1e999", None),
        ("value >", None),  # does not parse
    ],
)
def test_leading_threshold_reads_only_value_op_number(
    source: str, expected: tuple[str, float] | None
) -> None:
    assert leading_threshold(source) == expected


@pytest.mark.parametrize("source", ["value > 3", "value >= 3.5 && attrs['k'] > 1"])
@pytest.mark.parametrize("value", [-1.0, 0.0, 3.0, 3.5, 4.0, 99.0])
def test_condition_is_false_when_its_leading_threshold_is_not_met(
    source: str, value: float
) -> None:
    thr = leading_threshold(source)
    assert thr is not None
    op, number = thr
    met = {">": value > number, ">=": value >= number, "<": value < number, "<=": value <= number}
    fact = SimpleNamespace(value=value, attrs={"k": 5})
    if not met[op]:
        assert compile_condition(source)(fact) is False
