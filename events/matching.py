"""EventBridge event-pattern matching, so the local bus routes events exactly as the AWS stack will.

Semantics follow the EventBridge user guide ("Event patterns", "Arrays in event patterns", "Content
filtering") and the Event Ruler README, the library EventBridge matches with:

- a pattern object ANDs its keys; `$or` (a list of 2+ objects) ORs its branches, at any object level;
- a leaf is an array of matchers ORed together; an event array matches if any element matches;
- arrays of objects in the event are searched element by element, and all keys of one nested pattern
  must hold in the same element ("array-consistent" matching in Event Ruler);
- a field that is missing, or is an object (not a leaf), fails every matcher except `exists: false`;
- booleans are never numbers: `true` does not equal 1 and is not `> 0`.

Exact numbers compare numerically (5 matches 5.0), a deliberate choice: the AWS guide says exact
matching compares numbers by their JSON text (300 and 300.0 differ), which a parsed event cannot tell
apart; `numeric` matchers are unaffected.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

OR_KEY: Final = "$or"

_NUMERIC_OPS: Final = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}
_LOWER_OPS: Final = frozenset({">", ">="})
_UPPER_OPS: Final = frozenset({"<", "<="})
_STRING_OPS: Final = frozenset({"prefix", "suffix", "equals-ignore-case", "wildcard"})
_OPERATORS: Final = frozenset({*_STRING_OPS, "anything-but", "numeric", "exists", "cidr"})


class _Missing:
    """Marks a field the event does not have as a leaf (absent, or an object)."""


_MISSING: Final = _Missing()


# ---------------------------------------------------------------------------------------------------
# Validation


def validate_pattern(pattern: Any) -> None:
    """Raise ValueError naming the offending path if `pattern` is not a valid EventBridge pattern."""
    if not isinstance(pattern, Mapping):
        raise ValueError(f"pattern must be a JSON object, got {type(pattern).__name__}")
    _validate_object(pattern, "")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _validate_object(node: Mapping[str, Any], path: str) -> None:
    for key, value in node.items():
        if not isinstance(key, str):
            raise ValueError(f"{path or '<root>'}: field names must be strings, got {key!r}")
        where = _join(path, key)
        if key == OR_KEY:
            # Event Ruler only treats $or as OR with 2+ objects; otherwise it silently becomes a field
            # name, which is never what a pattern author meant.
            if not isinstance(value, list) or len(value) < 2:
                raise ValueError(f"{where}: $or must be an array of at least two objects")
            for i, branch in enumerate(value):
                if not isinstance(branch, Mapping) or not branch:
                    raise ValueError(f"{where}[{i}]: each $or branch must be a non-empty object")
                _validate_object(branch, path)
        elif isinstance(value, Mapping):
            if not value:
                raise ValueError(f"{where}: nested pattern must not be empty")
            _validate_object(value, where)
        elif isinstance(value, list):
            if not value:
                raise ValueError(f"{where}: empty arrays are not allowed")
            for i, matcher in enumerate(value):
                _validate_matcher(matcher, f"{where}[{i}]")
        else:
            raise ValueError(f"{where}: must be an object or an array of values, got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def _validate_matcher(matcher: Any, where: str) -> None:
    if _is_scalar(matcher):
        if isinstance(matcher, float) and not math.isfinite(matcher):
            raise ValueError(f"{where}: numbers must be finite")
        return
    if not isinstance(matcher, Mapping):
        raise ValueError(f"{where}: a matcher must be a string, number, boolean, null or operator object")
    if len(matcher) != 1:
        raise ValueError(f"{where}: an operator object must have exactly one key, got {sorted(matcher)}")
    ((op, arg),) = matcher.items()
    if op not in _OPERATORS:
        raise ValueError(f"{where}: unknown operator {op!r} (expected one of {sorted(_OPERATORS)})")
    where = f"{where}.{op}"
    if op in ("prefix", "suffix"):
        if isinstance(arg, Mapping) and set(arg) == {"equals-ignore-case"}:
            arg = arg["equals-ignore-case"]
        if not isinstance(arg, str):
            raise ValueError(f"{where}: expected a string or {{'equals-ignore-case': string}}")
    elif op == "equals-ignore-case":
        if not isinstance(arg, str):
            raise ValueError(f"{where}: expected a string")
    elif op == "wildcard":
        if not isinstance(arg, str):
            raise ValueError(f"{where}: expected a string")
        _wildcard_regex(arg)  # raises on bad escapes / consecutive stars
    elif op == "exists":
        if not isinstance(arg, bool):
            raise ValueError(f"{where}: expected true or false")
    elif op == "cidr":
        try:
            ipaddress.ip_network(arg, strict=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: not a CIDR block: {arg!r}") from exc
    elif op == "numeric":
        _validate_numeric(arg, where)
    else:
        _validate_anything_but(arg, where)


def _validate_numeric(arg: Any, where: str) -> None:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise ValueError(f"{where}: expected [op, number] or [op, number, op, number]")
    ops = arg[0::2]
    for op, bound in zip(ops, arg[1::2], strict=True):
        if op not in _NUMERIC_OPS:
            allowed = ", ".join(_NUMERIC_OPS)
            raise ValueError(f"{where}: unknown numeric operator {op!r} (expected one of {allowed})")
        if not _is_number(bound) or not math.isfinite(bound):
            raise ValueError(f"{where}: {op!r} needs a finite number, got {bound!r}")
    # A two-sided range is one lower bound and one upper bound ('=' cannot take part); anything else is
    # contradictory or redundant, and EventBridge rejects it.
    if len(ops) == 2 and not (set(ops) & _LOWER_OPS and set(ops) & _UPPER_OPS):
        raise ValueError(f"{where}: a range needs one of '>', '>=' and one of '<', '<=', got {ops}")


def _validate_anything_but(arg: Any, where: str) -> None:
    if isinstance(arg, Mapping):
        if len(arg) != 1 or next(iter(arg)) not in _STRING_OPS:
            raise ValueError(f"{where}: nested operator must be one of {sorted(_STRING_OPS)}")
        ((op, inner),) = arg.items()
        values = inner if isinstance(inner, list) and op in ("equals-ignore-case", "wildcard") else [inner]
        for value in values:
            if not isinstance(value, str):
                raise ValueError(f"{where}.{op}: expected a string")
            if op == "wildcard":
                _wildcard_regex(value)
        return
    values = arg if isinstance(arg, list) else [arg]
    if not values:
        raise ValueError(f"{where}: empty list")
    # The docs allow a list of only strings or only numbers, never a mix.
    if not (all(isinstance(v, str) for v in values) or all(_is_number(v) for v in values)):
        raise ValueError(f"{where}: expected a string, a number, or a list of only strings or only numbers")


@lru_cache(maxsize=512)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            nxt = pattern[i + 1] if i + 1 < len(pattern) else ""
            if nxt not in ("*", "\\"):
                raise ValueError(f"wildcard {pattern!r}: a backslash may only escape '*' or '\\'")
            out.append(re.escape(nxt))
            i += 2
            continue
        if char == "*":
            if i + 1 < len(pattern) and pattern[i + 1] == "*":
                raise ValueError(f"wildcard {pattern!r}: consecutive '*' are not allowed")
            out.append(".*")
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


# ---------------------------------------------------------------------------------------------------
# Matching


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether `event` (EventBridge JSON shape) matches `pattern`. An empty pattern matches everything."""
    return _match_object(pattern, event)


def _match_object(pattern: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    for key, expected in pattern.items():
        if key == OR_KEY and isinstance(expected, list):
            if not any(_match_object(branch, node) for branch in expected):
                return False
        elif isinstance(expected, Mapping):
            if not _match_nested(expected, node.get(key, _MISSING)):
                return False
        elif isinstance(expected, list):
            if not _match_leaf(expected, node.get(key, _MISSING)):
                return False
        else:
            raise ValueError(f"{key}: must be an object or an array of values, got {expected!r}")
    return True


def _objects_in(value: Any) -> list[Mapping[str, Any]]:
    """The objects a nested pattern is applied to: the value itself, or each object in (nested) arrays."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [obj for item in value for obj in _objects_in(item)]
    return []


def _match_nested(pattern: Mapping[str, Any], value: Any) -> bool:
    candidates = _objects_in(value)
    # With nothing to descend into, every leaf below is missing: only exists:false can still hold.
    return any(_match_object(pattern, obj) for obj in candidates or [{}])


def _scalars_in(value: list[Any]) -> list[Any]:
    flat = [s for item in value for s in (_scalars_in(item) if isinstance(item, list) else [item])]
    return [s for s in flat if _is_scalar(s)]


def _leaf_values(value: Any) -> list[Any] | _Missing:
    if value is _MISSING or isinstance(value, Mapping):
        return _MISSING
    if isinstance(value, list):
        scalars = _scalars_in(value)
        # An array holding only objects is an intermediate node, not a leaf. An empty array is still a
        # present field (that is how moto and the local bus have always treated it).
        if value and not scalars:
            return _MISSING
        return scalars
    return [value]


def _match_leaf(matchers: Sequence[Any], value: Any) -> bool:
    values = _leaf_values(value)
    return any(_match_one(matcher, values) for matcher in matchers)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def _match_one(matcher: Any, values: list[Any] | _Missing) -> bool:
    if not isinstance(matcher, Mapping):
        return not isinstance(values, _Missing) and any(_equal(v, matcher) for v in values)
    if len(matcher) != 1:
        raise ValueError(f"an operator object must have exactly one key, got {sorted(matcher)}")
    ((op, arg),) = matcher.items()
    if op == "exists":
        return (not isinstance(values, _Missing)) is bool(arg)
    if isinstance(values, _Missing):
        return False
    if op == "anything-but":
        return any(not _excluded(arg, v) for v in values)
    if op == "numeric":
        return any(_numeric(arg, v) for v in values)
    if op == "cidr":
        return any(_in_cidr(arg, v) for v in values)
    if op in _STRING_OPS:
        return any(_string_op(op, arg, v) for v in values)
    raise ValueError(f"unknown operator {op!r}")


def _string_op(op: str, arg: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if op == "wildcard":
        return _wildcard_regex(arg).fullmatch(value) is not None
    if op == "equals-ignore-case":
        return value.casefold() == str(arg).casefold()
    if isinstance(arg, Mapping):  # {"prefix": {"equals-ignore-case": "..."}}
        needle, value = str(arg["equals-ignore-case"]).casefold(), value.casefold()
    else:
        needle = str(arg)
    return value.startswith(needle) if op == "prefix" else value.endswith(needle)


def _excluded(arg: Any, value: Any) -> bool:
    if isinstance(arg, Mapping):
        ((op, inner),) = arg.items()
        options = inner if isinstance(inner, list) else [inner]
        return any(_string_op(op, option, value) for option in options)
    options = arg if isinstance(arg, list) else [arg]
    return any(_equal(value, option) for option in options)


def _numeric(arg: Sequence[Any], value: Any) -> bool:
    if not _is_number(value):
        return False
    return all(_NUMERIC_OPS[op](value, bound) for op, bound in zip(arg[0::2], arg[1::2], strict=True))


def _in_cidr(arg: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
    except ValueError:
        return False
