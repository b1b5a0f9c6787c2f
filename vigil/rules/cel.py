"""Rule conditions in CEL (Common Expression Language), compiled once to Python closures.

The text is parsed by cel-python (``celpy``), so the grammar and the syntax
errors are CEL's own. The parse tree is then compiled, once per rule version,
into a tree of Python closures. celpy's own runners were measured at
~190 µs (transpiled) and ~880 µs (interpreted) per evaluation on this machine,
far too slow for 50,000 observations/s; the closures take well under 2 µs.
Nothing is ever passed to ``eval``/``exec``.

Supported subset (anything else is refused when the rule file is checked):

* literals: int, uint, double, string, bool, null, lists ``[..]``, maps ``{..}``
* variables: see ``VARIABLES`` (``value``, ``kind``, ``stream``, ``device``,
  ``zone``, ``unit``, ``id``, ``attrs``); ``attrs.x`` and ``attrs["x"]``
* ``== != < <= > >= in``, ``&& || !``, ``+ - * / %``, unary ``-``, ``c ? a : b``
* ``has(attrs.x)``, ``size(x)`` / ``x.size()``, ``int() double() string()``,
  ``s.startsWith(t) s.endsWith(t) s.contains(t)``

Semantics follow cel-spec, with two documented choices: ``&&``/``||`` absorb
errors as CEL requires (``false && error`` is false); int and double compare
and combine by value (cel-go's heterogeneous numeric comparison; celpy 0.5
refuses ``1 < 1.5`` but accepts ``1.5 > 1``), and values of other different
types are simply unequal. ``matches`` (regular expressions) is not offered:
Python's ``re`` backtracks, RE2 does not, and a rule file must not be able to
stall the engine. Runtime errors (a missing ``attrs`` key, ``"a" > 1``,
division by zero) raise ``CelError``; the engine counts them and treats the
condition as not met.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import celpy
import lark
from celpy.celparser import CELParseError
from celpy.evaluation import celstr

Fn = Callable[[Any], object]
Tree = lark.Tree[Any]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1


class CelError(Exception):
    """A condition could not be evaluated on one event (CEL's runtime error)."""


class CelCompileError(Exception):
    """A condition is not valid CEL or uses something rules do not offer."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def _attr(name: str) -> Fn:
    get: Fn = operator.attrgetter(name)
    return get


# Variable name -> attribute of the event (Observation or Fact) it reads.
VARIABLES: Mapping[str, str] = {
    "value": "value",
    "kind": "kind",
    "stream": "stream",
    "device": "device_id",
    "zone": "zone",
    "unit": "unit",
    "id": "id",
    "attrs": "attrs",
}


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition: its source and the closure that evaluates it."""

    source: str
    fn: Fn

    def __call__(self, fact: object) -> bool:
        """Return whether the condition holds for `fact`; raise CelError when it cannot tell."""
        result = self.fn(fact)
        if result is True or result is False:
            return result
        raise CelError(f"condition gave {_type_name(result)}, not bool")


_ENV: celpy.Environment | None = None


def _env() -> celpy.Environment:
    global _ENV  # noqa: PLW0603 - one parser for the process (celpy builds a lark parser)
    if _ENV is None:
        _ENV = celpy.Environment()
    return _ENV


def compile_condition(source: str, *, variables: Mapping[str, str] = VARIABLES) -> Condition:
    """Parse CEL text and compile it to a closure; raise CelCompileError on any problem."""
    if not source.strip():
        raise CelCompileError("the condition is empty")
    try:
        tree = _env().compile(source)
    except CELParseError as err:
        raise CelCompileError(
            _syntax_message(source, err.line, err.column), line=err.line, column=err.column
        ) from err
    node = _Compiler(variables).build(tree)
    if node.const:
        value = node.fn(None)
        return Condition(source, lambda _fact: value)
    return Condition(source, node.fn)


def _syntax_message(source: str, line: int | None, column: int | None) -> str:
    lines = source.splitlines() or [""]
    if line is None or column is None or not 1 <= line <= len(lines):
        return "CEL syntax error"
    text = lines[line - 1]
    near = text[column - 1 : column + 11].strip()
    where = f"line {line} column {column}" if len(lines) > 1 else f"column {column}"
    if not near:
        return f"CEL syntax error at {where}: the expression ends too early"
    return f"CEL syntax error at {where}, near {near!r}"


# ------------------------------------------------------------------ helpers


_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "bool"),  # before int: bool is an int in Python
    (int, "int"),
    (float, "double"),
    (str, "string"),
    (bytes, "bytes"),
    (list, "list"),
    (tuple, "list"),
    (dict, "map"),
)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    for cls, name in _TYPE_NAMES:
        if isinstance(value, cls):
            return name
    return type(value).__name__


def _is_num(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _eq(a: object, b: object) -> bool:
    if a.__class__ is b.__class__:
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
    return False


def _ordered(a: object, b: object, op: str) -> None:
    if _is_num(a) and _is_num(b):
        return
    if a.__class__ is b.__class__ and isinstance(a, str | bool | bytes):
        return
    if isinstance(a, str) and isinstance(b, str):
        return
    raise CelError(f"no such overload: {_type_name(a)} {op} {_type_name(b)}")


def _lt(a: Any, b: Any) -> bool:
    _ordered(a, b, "<")
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    _ordered(a, b, "<=")
    return bool(a <= b)


def _gt(a: Any, b: Any) -> bool:
    _ordered(a, b, ">")
    return bool(a > b)


def _ge(a: Any, b: Any) -> bool:
    _ordered(a, b, ">=")
    return bool(a >= b)


def _ne(a: object, b: object) -> bool:
    return not _eq(a, b)


def _in(a: object, b: object) -> bool:
    if isinstance(b, list | tuple):
        return any(_eq(a, x) for x in b)
    if isinstance(b, frozenset):
        if a.__class__ in (str, int, float) or isinstance(a, str):
            return a in b
        return False
    if isinstance(b, dict):
        return any(_eq(a, k) for k in b)
    raise CelError(f"no such overload: {_type_name(a)} in {_type_name(b)}")


def _int_result(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise CelError("int overflow")
    return value


def _add(a: Any, b: Any) -> object:
    if isinstance(a, bool) or isinstance(b, bool):
        raise CelError(f"no such overload: {_type_name(a)} + {_type_name(b)}")
    if isinstance(a, int) and isinstance(b, int):
        return _int_result(a + b)
    if _is_num(a) and _is_num(b):
        return float(a) + float(b)
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    raise CelError(f"no such overload: {_type_name(a)} + {_type_name(b)}")


def _num_op(symbol: str, op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], object]:
    def apply(a: Any, b: Any) -> object:
        if not (_is_num(a) and _is_num(b)):
            raise CelError(f"no such overload: {_type_name(a)} {symbol} {_type_name(b)}")
        if isinstance(a, int) and isinstance(b, int):
            return _int_result(op(a, b))
        return float(op(float(a), float(b)))

    return apply


def _div(a: Any, b: Any) -> object:
    if not (_is_num(a) and _is_num(b)):
        raise CelError(f"no such overload: {_type_name(a)} / {_type_name(b)}")
    if isinstance(a, int) and isinstance(b, int):
        if b == 0:
            raise CelError("divide by zero")
        q = abs(a) // abs(b)
        return _int_result(q if (a >= 0) == (b >= 0) else -q)
    fb = float(b)
    if fb == 0.0:
        fa = float(a)
        if fa == 0.0 or math.isnan(fa):
            return float("nan")
        return float("inf") if fa > 0 else float("-inf")
    return float(a) / fb


def _mod(a: Any, b: Any) -> object:
    if not (_is_num(a) and _is_num(b) and isinstance(a, int) and isinstance(b, int)):
        raise CelError(f"no such overload: {_type_name(a)} % {_type_name(b)}")
    if b == 0:
        raise CelError("modulus by zero")
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def _neg(a: Any) -> object:
    if isinstance(a, int) and not isinstance(a, bool):
        return _int_result(-a)
    if isinstance(a, float):
        return -a
    raise CelError(f"no such overload: -{_type_name(a)}")


def _not(a: object) -> bool:
    if a is True or a is False:
        return not a
    raise CelError(f"no such overload: !{_type_name(a)}")


def _index(container: object, key: object) -> object:
    if isinstance(container, dict):
        if isinstance(key, str | int | float | bool):
            try:
                return container[key]
            except KeyError:
                pass
        raise CelError(f"no such key: {key!r}")
    if isinstance(container, list | tuple):
        if not isinstance(key, int) or isinstance(key, bool):
            raise CelError(f"list index must be int, not {_type_name(key)}")
        if not 0 <= key < len(container):
            raise CelError(f"index {key} out of range")
        return container[key]
    raise CelError(f"cannot index {_type_name(container)}")


def _size(a: object) -> int:
    if isinstance(a, str | bytes | list | tuple | dict):
        return len(a)
    raise CelError(f"no such overload: size({_type_name(a)})")


def _to_int(a: object) -> int:
    if isinstance(a, bool):
        raise CelError("no such overload: int(bool)")
    if isinstance(a, int):
        return a
    if isinstance(a, float):
        if not math.isfinite(a):
            raise CelError("int() of a non-finite double")
        return _int_result(int(a))
    if isinstance(a, str):
        try:
            return _int_result(int(a))
        except ValueError:
            raise CelError(f"int() cannot parse {a!r}") from None
    raise CelError(f"no such overload: int({_type_name(a)})")


def _to_double(a: object) -> float:
    if isinstance(a, bool):
        raise CelError("no such overload: double(bool)")
    if isinstance(a, int | float):
        return float(a)
    if isinstance(a, str):
        try:
            return float(a)
        except ValueError:
            raise CelError(f"double() cannot parse {a!r}") from None
    raise CelError(f"no such overload: double({_type_name(a)})")


def _to_string(a: object) -> str:
    if isinstance(a, bool):
        return "true" if a else "false"
    if isinstance(a, str):
        return a
    if isinstance(a, int | float):
        return str(a)
    raise CelError(f"no such overload: string({_type_name(a)})")


def _str_method(name: str) -> Callable[[Any, Any], bool]:
    def apply(s: Any, t: Any) -> bool:
        if not (isinstance(s, str) and isinstance(t, str)):
            raise CelError(f"no such overload: {_type_name(s)}.{name}({_type_name(t)})")
        if name == "startsWith":
            return s.startswith(t)
        if name == "endsWith":
            return s.endswith(t)
        return t in s

    return apply


_BINARY: dict[str, Callable[[Any, Any], object]] = {
    "relation_lt": _lt,
    "relation_le": _le,
    "relation_gt": _gt,
    "relation_ge": _ge,
    "relation_eq": _eq,
    "relation_ne": _ne,
    "relation_in": _in,
    "addition_add": _add,
    "addition_sub": _num_op("-", lambda a, b: a - b),
    "multiplication_mul": _num_op("*", lambda a, b: a * b),
    "multiplication_div": _div,
    "multiplication_mod": _mod,
}
_FUNCTIONS: dict[str, Callable[[Any], object]] = {
    "size": _size,
    "int": _to_int,
    "double": _to_double,
    "string": _to_string,
}
_METHODS: dict[str, Callable[[Any, Any], object]] = {
    "startsWith": _str_method("startsWith"),
    "endsWith": _str_method("endsWith"),
    "contains": _str_method("contains"),
}
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


_PY_COMPARE: dict[Callable[[Any, Any], object], Callable[[Any, Any], bool]] = {
    _lt: operator.lt,
    _le: operator.le,
    _gt: operator.gt,
    _ge: operator.ge,
}


def _fast_compare(op: Callable[[Any, Any], object], constant: object, lf: Fn) -> Fn | None:
    """Specialise `x OP constant` for the common typed cases; fall back for the rest."""
    py = _PY_COMPARE.get(op)
    if py is not None and _is_num(constant):

        def num_compare(f: Any) -> object:
            a = lf(f)
            if a.__class__ is float or a.__class__ is int:
                return py(a, constant)
            return op(a, constant)

        return num_compare
    if op is _eq and isinstance(constant, str):

        def str_eq(f: Any) -> object:
            a = lf(f)
            return a == constant if isinstance(a, str) else False

        return str_eq
    return None


@dataclass(frozen=True, slots=True)
class _Node:
    fn: Fn
    const: bool = False


def _const(value: object) -> _Node:
    return _Node(lambda _f: value, const=True)


def _fold(fn: Fn, *parts: _Node) -> _Node:
    """Evaluate a node made only of constants now (errors stay for run time)."""
    if parts and all(p.const for p in parts):
        try:
            value = fn(None)
        except CelError:
            return _Node(fn)
        return _const(value)
    return _Node(fn)


class _Compiler:
    def __init__(self, variables: Mapping[str, str]) -> None:
        self._vars = variables

    def fail(self, tree: Tree | lark.Token, message: str) -> CelCompileError:
        line = getattr(tree, "line", None)
        column = getattr(tree, "column", None)
        meta = getattr(tree, "meta", None)
        if meta is not None and not getattr(meta, "empty", True):
            line, column = meta.line, meta.column
        return CelCompileError(message, line=line, column=column)

    def build(self, tree: Tree | lark.Token) -> _Node:
        if isinstance(tree, lark.Token):
            raise self.fail(tree, f"unexpected token {tree.value!r}")
        handler = getattr(self, f"n_{tree.data}", None)
        if handler is None:
            raise self.fail(tree, f"'{tree.data}' is not supported in rule conditions")
        node: _Node = handler(tree)
        return node

    def _pass_or(self, tree: Tree, combine: Callable[[Tree, Tree], _Node]) -> _Node:
        kids = [c for c in tree.children if c is not None]
        if len(kids) == 1:
            return self.build(kids[0])
        return combine(kids[0], kids[1])

    # expr: conditionalor ["?" conditionalor ":" expr]
    def n_expr(self, tree: Tree) -> _Node:
        kids = [c for c in tree.children if c is not None]
        if len(kids) == 1:
            return self.build(kids[0])
        cond, yes, no = (self.build(k) for k in kids)
        c, y, n = cond.fn, yes.fn, no.fn

        def ternary(f: Any) -> object:
            test = c(f)
            if test is True:
                return y(f)
            if test is False:
                return n(f)
            raise CelError(f"no such overload: {_type_name(test)} ? _ : _")

        return _fold(ternary, cond, yes, no)

    def n_conditionalor(self, tree: Tree) -> _Node:
        return self._pass_or(tree, lambda a, b: self._logic(a, b, absorbing=True))

    def n_conditionaland(self, tree: Tree) -> _Node:
        return self._pass_or(tree, lambda a, b: self._logic(a, b, absorbing=False))

    def _logic(self, left_tree: Tree, right_tree: Tree, *, absorbing: bool) -> _Node:
        left, right = self.build(left_tree), self.build(right_tree)
        lf, rf = left.fn, right.fn
        word = "||" if absorbing else "&&"

        # CEL: `true || error` is true and `false && error` is false, either side.
        def logic(f: Any) -> object:
            err: CelError | None = None
            try:
                a = lf(f)
            except CelError as e:
                err, a = e, None
            if a is absorbing:
                return absorbing
            if err is None and a is not (not absorbing):
                err = CelError(f"no such overload: {_type_name(a)} {word} _")
            b = rf(f)
            if b is absorbing:
                return absorbing
            if b is not (not absorbing):
                raise CelError(f"no such overload: _ {word} {_type_name(b)}")
            if err is not None:
                raise err
            return not absorbing

        return _fold(logic, left, right)

    def n_relation(self, tree: Tree) -> _Node:
        return self._binary(tree)

    def n_addition(self, tree: Tree) -> _Node:
        return self._binary(tree)

    def n_multiplication(self, tree: Tree) -> _Node:
        return self._binary(tree)

    def _binary(self, tree: Tree) -> _Node:
        kids = [c for c in tree.children if c is not None]
        if len(kids) == 1:
            return self.build(kids[0])
        op_tree, right_tree = kids
        assert isinstance(op_tree, lark.Tree)
        op = _BINARY.get(str(op_tree.data))
        if op is None:
            raise self.fail(op_tree, f"operator '{op_tree.data}' is not supported")
        left = self.build(op_tree.children[0])
        right = self.build(right_tree)
        lf, rf = left.fn, right.fn
        if op is _in and right.const:
            container = rf(None)
            if isinstance(container, list) and all(
                isinstance(x, str) and not isinstance(x, bool) for x in container
            ):
                members = frozenset(container)

                def in_strings(f: Any) -> object:
                    a = lf(f)
                    return isinstance(a, str) and a in members

                return _fold(in_strings, left)
        if right.const:
            constant = rf(None)
            fast = _fast_compare(op, constant, lf)
            if fast is not None:
                return _fold(fast, left)

            def binary_const(f: Any) -> object:
                return op(lf(f), constant)

            return _fold(binary_const, left)

        def binary(f: Any) -> object:
            return op(lf(f), rf(f))

        return _fold(binary, left, right)

    def n_unary(self, tree: Tree) -> _Node:
        kids = [c for c in tree.children if c is not None]
        if len(kids) == 1:
            return self.build(kids[0])
        op_tree, operand_tree = kids
        operand = self.build(operand_tree)
        of = operand.fn
        assert isinstance(op_tree, lark.Tree)
        if op_tree.data == "unary_not":
            return _fold(lambda f: _not(of(f)), operand)
        return _fold(lambda f: _neg(of(f)), operand)

    def n_member(self, tree: Tree) -> _Node:
        return self.build(tree.children[0])

    def n_primary(self, tree: Tree) -> _Node:
        return self.build(tree.children[0])

    def n_paren_expr(self, tree: Tree) -> _Node:
        return self.build(tree.children[0])

    def n_literal(self, tree: Tree) -> _Node:
        token = tree.children[0]
        assert isinstance(token, lark.Token)
        kind, text = token.type, str(token.value)
        try:
            if kind == "INT_LIT":
                return _const(_int_result(int(text, 0) if "x" in text.lower() else int(text)))
            if kind == "UINT_LIT":
                value = int(text[:-1], 0) if "x" in text.lower() else int(text[:-1])
                if not 0 <= value <= UINT64_MAX:
                    raise ValueError("uint out of range")
                return _const(value)
            if kind == "FLOAT_LIT":
                return _const(float(text))
            if kind in ("STRING_LIT", "MLSTRING_LIT"):
                return _const(str(celstr(token)))
            if kind == "BOOL_LIT":
                return _const(text == "true")
            if kind == "NULL_LIT":
                return _const(None)
        except (ValueError, CelError) as err:
            raise self.fail(token, f"bad literal {text!r}: {err}") from err
        raise self.fail(token, f"{kind.lower()} literals are not supported")

    def n_ident(self, tree: Tree) -> _Node:
        name = str(tree.children[0])
        attr = self._vars.get(name)
        if attr is None:
            known = ", ".join(sorted(self._vars))
            raise self.fail(tree, f"unknown variable {name!r} (known: {known})")
        return _Node(_attr(attr))

    def n_list_lit(self, tree: Tree) -> _Node:
        items = self._exprlist(tree.children[0] if tree.children else None)
        fns = [i.fn for i in items]
        return _fold(lambda f: [g(f) for g in fns], *items) if items else _const([])

    def n_map_lit(self, tree: Tree) -> _Node:
        if not tree.children or tree.children[0] is None:
            return _const({})
        inits = tree.children[0]
        assert isinstance(inits, lark.Tree)
        parts = [self.build(c) for c in inits.children]
        pairs = [(parts[i].fn, parts[i + 1].fn) for i in range(0, len(parts), 2)]

        def make(f: Any) -> object:
            out: dict[Any, object] = {}
            for k, v in pairs:
                key = k(f)
                if not isinstance(key, str | int | bool):
                    raise CelError(f"map keys must be string, int or bool, not {_type_name(key)}")
                out[key] = v(f)
            return out

        return _fold(make, *parts)

    def _exprlist(self, tree: Tree | lark.Token | None) -> list[_Node]:
        if tree is None:
            return []
        assert isinstance(tree, lark.Tree)
        return [self.build(c) for c in tree.children]

    def n_member_dot(self, tree: Tree) -> _Node:
        target = self.build(tree.children[0])
        name = str(tree.children[1])
        tf = target.fn

        def dot(f: Any) -> object:
            return _index(tf(f), name)

        return _fold(dot, target)

    def n_member_index(self, tree: Tree) -> _Node:
        target, key = self.build(tree.children[0]), self.build(tree.children[1])
        tf, kf = target.fn, key.fn
        return _fold(lambda f: _index(tf(f), kf(f)), target, key)

    def n_member_dot_arg(self, tree: Tree) -> _Node:
        target = self.build(tree.children[0])
        name = str(tree.children[1])
        if name in _MACROS:
            raise self.fail(tree, f"the CEL macro '{name}' is not supported in rule conditions")
        args = self._exprlist(tree.children[2] if len(tree.children) > 2 else None)
        tf = target.fn
        if name == "size" and not args:
            return _fold(lambda f: _size(tf(f)), target)
        method = _METHODS.get(name)
        if method is None or len(args) != 1:
            offered = ", ".join([*sorted(_METHODS), "size"])
            raise self.fail(tree, f"method '{name}' is not supported (offered: {offered})")
        af = args[0].fn
        return _fold(lambda f: method(tf(f), af(f)), target, args[0])

    def n_ident_arg(self, tree: Tree) -> _Node:
        name = str(tree.children[0])
        arg_tree = tree.children[1] if len(tree.children) > 1 else None
        if name == "has":
            return self._has(tree, arg_tree)
        args = self._exprlist(arg_tree)
        func = _FUNCTIONS.get(name)
        if func is None or len(args) != 1:
            offered = ", ".join([*sorted(_FUNCTIONS), "has"])
            raise self.fail(tree, f"function '{name}' is not supported (offered: {offered})")
        af = args[0].fn
        return _fold(lambda f: func(af(f)), args[0])

    def _has(self, tree: Tree, arg_tree: Tree | lark.Token | None) -> _Node:
        # has(x.f) is a macro: it tests presence, it does not read the field.
        node: Tree | lark.Token | None = arg_tree
        while isinstance(node, lark.Tree) and node.data != "member_dot":
            kids = [c for c in node.children if c is not None]
            if node.data == "exprlist" and len(kids) != 1:
                break
            if len(kids) != 1:
                break
            node = kids[0]
        if not (isinstance(node, lark.Tree) and node.data == "member_dot"):
            raise self.fail(tree, "has() takes one field selection, e.g. has(attrs.class)")
        target = self.build(node.children[0])
        name = str(node.children[1])
        tf = target.fn

        def has(f: Any) -> object:
            container = tf(f)
            if isinstance(container, dict):
                return name in container
            raise CelError(f"has() needs a map, not {_type_name(container)}")

        return _fold(has, target)


_THRESHOLD_OPS = {"relation_gt": ">", "relation_ge": ">=", "relation_lt": "<", "relation_le": "<="}
_CHAIN = frozenset({"relation", "addition", "multiplication", "unary", "member", "primary"})


def _leaf(node: Tree | lark.Token) -> Tree | None:
    """Follow a chain of single-child wrappers down to an ident or literal node."""
    while isinstance(node, lark.Tree) and node.data in _CHAIN and len(node.children) == 1:
        node = node.children[0]
    if isinstance(node, lark.Tree) and node.data in ("ident", "literal"):
        return node
    return None


def _only(node: Tree | lark.Token, data: str) -> Tree | lark.Token | None:
    """Return the single child of a `data` node, else None."""
    if isinstance(node, lark.Tree) and node.data == data and len(node.children) == 1:
        child: Tree | lark.Token = node.children[0]
        return child
    return None


def _first_conjunct(tree: Tree) -> Tree | None:
    """Return the leftmost operand of a top-level ``&&`` chain (or the whole expression)."""
    node = _only(tree, "expr")
    node = _only(node, "conditionalor") if node is not None else None
    while isinstance(node, lark.Tree) and node.data == "conditionaland" and len(node.children) == 2:
        node = node.children[0]
    rel = _only(node, "conditionaland") if node is not None else None
    if isinstance(rel, lark.Tree) and rel.data == "relation" and len(rel.children) == 2:
        return rel
    return None


def _number(lit: Tree) -> float | None:
    token = lit.children[0]
    if not isinstance(token, lark.Token):
        return None
    text = str(token.value)
    number: float | None = None
    if token.type == "INT_LIT" and "x" not in text.lower():
        number = int(text)
    elif token.type == "FLOAT_LIT":
        number = float(text)
    return number if number is not None and math.isfinite(number) else None


@functools.lru_cache(maxsize=4096)
def leading_threshold(source: str) -> tuple[str, float] | None:
    """Return (op, number) when `source` is ``value OP number`` or ``value OP number && ...``.

    OP is one of ``> >= < <=``. For a numeric ``value`` the condition is then
    false whenever ``value OP number`` is (``false && x`` is false in CEL, even
    when x is an error), which lets the evaluator skip rules without running
    them. Read from the CEL parse tree, so any other shape gives None.
    """
    try:
        rel = _first_conjunct(_env().compile(source))
    except (CELParseError, ValueError):
        return None
    if rel is None:
        return None
    op_node, right = rel.children
    if not isinstance(op_node, lark.Tree) or len(op_node.children) != 1:
        return None
    op = _THRESHOLD_OPS.get(str(op_node.data))
    left, lit = _leaf(op_node.children[0]), _leaf(right)
    if op is None or left is None or lit is None or lit.data != "literal":
        return None
    if left.data != "ident" or str(left.children[0]) != "value":
        return None
    number = _number(lit)
    return None if number is None else (op, number)
