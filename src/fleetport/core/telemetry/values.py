"""Values of telemetry resources: checking and converting them to a format, the preprocess steps
applied as they arrive, and the datarules that turn an input series into an output series.

Everything here is pure: no storage, no clock (times are passed in).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleetport.core.errors import Invalid
from fleetport.core.validate import storable_text

FORMATS: tuple[str, ...] = ("float", "integer", "string", "binary")
VALUE_MAX = 64 * 1024  # characters of a string value
INT64 = 2**63

Value = float | int | str


def coerce(fmt: str, value: object) -> Value:
    """A value in the form a resource of format ``fmt`` stores; Invalid when it does not fit."""
    if isinstance(value, bool):
        raise Invalid(f"a {fmt} resource does not take a boolean")
    if fmt == "float":
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise Invalid(f"{value!r} is not a number") from None
        else:
            raise Invalid("a float resource takes numbers")
        if not math.isfinite(number):
            raise Invalid("a float resource takes finite numbers")
        return number
    if fmt == "integer":
        if isinstance(value, int):
            integer = value
        elif isinstance(value, float) and value.is_integer():
            integer = int(value)
        elif isinstance(value, str):
            try:
                integer = int(value.strip())
            except ValueError:
                raise Invalid(f"{value!r} is not an integer") from None
        else:
            raise Invalid("an integer resource takes integers")
        if not -INT64 <= integer < INT64:
            raise Invalid("an integer resource takes 64-bit integers")
        return integer
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        raise Invalid(f"a {fmt} resource takes strings")
    if len(value) > VALUE_MAX:
        raise Invalid(f"a value is longer than {VALUE_MAX} characters")
    return storable_text(value, "a value")


def timestamp(value: object, at: int) -> int:
    """A point's timestamp: negative means that many seconds before ``at``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("a timestamp is an integer number of Unix seconds")
    ts = at + value if value < 0 else value
    if ts < 0 or ts >= INT64:
        raise Invalid("a timestamp is out of range")
    return ts


# --- comparisons and preprocess -----------------------------------------------------------------

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "lt": operator.lt,
    "eq": operator.eq,
    "geq": operator.ge,
    "leq": operator.le,
    "neq": operator.ne,
}


def _arith(op: Callable[[float, float], float]) -> Callable[[Value, float], Value]:
    def apply(value: Value, operand: float) -> Value:
        if isinstance(value, str):
            raise Invalid("arithmetic preprocess steps need a numeric value")
        return op(value, operand)

    return apply


def _divide(value: float, operand: float) -> float:
    if operand == 0:
        raise Invalid("preprocess divides by zero")
    return value / operand


def _modulo(value: float, operand: float) -> float:
    if operand == 0:
        raise Invalid("preprocess takes a modulo by zero")
    return value % operand


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Value, Any], Value]:
    def apply(value: Value, operand: Any) -> Value:
        try:
            return 1 if op(value, operand) else 0
        except TypeError:
            raise Invalid("preprocess compares values of different kinds") from None

    return apply


PREPROCESS: dict[str, Callable[[Value, Any], Value]] = {
    "add": _arith(operator.add),
    "sub": _arith(operator.sub),
    "mul": _arith(operator.mul),
    "div": _arith(_divide),
    "mod": _arith(_modulo),
    "value": lambda _value, operand: operand,
    **{name: _compare(op) for name, op in COMPARISONS.items()},
}


def check_preprocess(steps: object) -> list[list[Any]]:
    """A preprocess list ``[[op, operand], ...]``; an operand is a constant or a resource (RID or
    alias object, resolved when a value arrives)."""
    if steps is None:
        return []
    if not isinstance(steps, list):
        raise Invalid("preprocess is a list of [operation, value] pairs")
    out: list[list[Any]] = []
    for step in steps:
        if not isinstance(step, list) or len(step) != 2 or step[0] not in PREPROCESS:
            raise Invalid(
                f"a preprocess step is [operation, value] with operation one of {', '.join(PREPROCESS)}"
            )
        operand = step[1]
        if isinstance(operand, bool) or not isinstance(operand, int | float | str | dict):
            raise Invalid("a preprocess operand is a number, a string or a resource")
        out.append([step[0], operand])
    return out


def apply_preprocess(steps: list[list[Any]], value: Value, operand_of: Callable[[Any], Any]) -> Value:
    """``value`` through the steps; ``operand_of`` turns an operand into a constant (the latest
    value of a resource operand)."""
    for op, operand in steps:
        value = PREPROCESS[op](value, operand_of(operand))
    return value


# --- datarules ---------------------------------------------------------------------------------

RULE_KINDS = ("simple", "timeout", "interval", "duration", "count")


@dataclass(frozen=True)
class Rule:
    kind: str
    comparison: str | None
    constant: Any
    timeout: int | None  # seconds
    count: int | None
    repeat: bool


class ScriptRule(Exception):
    """A rule given as a Lua script, which this server does not run."""


def _seconds(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise Invalid(f"{what} is a non-negative number of seconds")
    return int(value)


def parse_rule(spec: object) -> Rule:
    """A datarule's ``rule`` object: ``{kind: {comparison, constant, timeout, count, repeat}}``."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise Invalid(f"rule is an object with one key: {', '.join(RULE_KINDS)} or script")
    ((kind, body),) = spec.items()
    if kind == "script":
        raise ScriptRule("Lua script datarules are not supported by this server")
    if kind not in RULE_KINDS or not isinstance(body, dict):
        raise Invalid(f"rule is an object with one key: {', '.join(RULE_KINDS)} or script")
    repeat = body.get("repeat", False)
    if not isinstance(repeat, bool):
        raise Invalid("repeat is true or false")
    comparison = constant = timeout = count = None
    if kind != "timeout":
        comparison = body.get("comparison")
        if comparison not in COMPARISONS:
            raise Invalid(f"comparison is one of {', '.join(COMPARISONS)}")
        constant = body.get("constant")
        if isinstance(constant, bool) or not isinstance(constant, int | float | str):
            raise Invalid("constant is a number or a string")
    if kind != "simple":
        timeout = _seconds(body.get("timeout"), "timeout")
    if kind == "count":
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise Invalid("count is a positive integer")
    return Rule(kind, comparison, constant, timeout, count, repeat)


def _holds(rule: Rule, value: Value) -> bool:
    assert rule.comparison is not None
    try:
        return COMPARISONS[rule.comparison](value, rule.constant)
    except TypeError:
        return False  # a string against a number: never


@dataclass(frozen=True)
class Outcome:
    outputs: list[tuple[int, int]]  # (timestamp, 0 or 1) to record
    state: dict[str, Any]
    deadline: int | None  # when to call ``due`` without a new value


def _emit(state: dict[str, Any], rule: Rule, ts: int, value: int) -> list[tuple[int, int]]:
    """The output to record: every evaluation with repeat, else only changes."""
    if rule.repeat or state.get("last") != value:
        state["last"] = value
        return [(ts, value)]
    return []


def evaluate(rule: Rule, state: Mapping[str, Any] | None, ts: int, value: Value) -> Outcome:
    """The rule's reaction to a new input point.

    * simple: 1 while the value meets the comparison, else 0.
    * count: 1 once ``count`` values meeting the comparison arrived within ``timeout`` seconds.
    * interval: 1 once the comparison held for ``timeout`` seconds without a break (also fired by
      the clock through ``due``).
    * duration: like interval, but judged only as values arrive.
    * timeout: 0 when a value arrives; 1 when ``timeout`` seconds pass without one (``due``).
    """
    st: dict[str, Any] = dict(state or {})
    if rule.kind == "simple":
        return Outcome(_emit(st, rule, ts, int(_holds(rule, value))), st, None)
    if rule.kind == "timeout":
        assert rule.timeout is not None
        st["fired"] = False
        return Outcome(_emit(st, rule, ts, 0), st, ts + rule.timeout)
    if rule.kind == "count":
        assert rule.timeout is not None and rule.count is not None
        hits = [t for t in st.get("hits", []) if t > ts - rule.timeout]
        if _holds(rule, value):
            hits.append(ts)
        hits = hits[-rule.count :]
        st["hits"] = hits
        return Outcome(_emit(st, rule, ts, int(len(hits) >= rule.count)), st, None)
    assert rule.timeout is not None  # interval, duration
    if not _holds(rule, value):
        st.pop("since", None)
        return Outcome(_emit(st, rule, ts, 0), st, None)
    since = st.setdefault("since", ts)
    met = ts - since >= rule.timeout
    deadline = None if met or rule.kind == "duration" else since + rule.timeout
    return Outcome(_emit(st, rule, ts, int(met)), st, deadline)


def due(rule: Rule, state: Mapping[str, Any] | None, now: int) -> Outcome:
    """The rule's reaction to its deadline passing with no new value."""
    st: dict[str, Any] = dict(state or {})
    assert rule.timeout is not None
    if rule.kind == "timeout":
        outputs = _emit(st, rule, now, 1)
        return Outcome(outputs, st, now + rule.timeout if rule.repeat and rule.timeout > 0 else None)
    if rule.kind == "interval" and "since" in st:
        return Outcome(_emit(st, rule, now, 1), st, None)
    return Outcome([], st, None)
