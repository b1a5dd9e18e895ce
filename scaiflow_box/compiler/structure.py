"""A table-driven checker of JSON shapes that reports errors the way pydantic does.

A shape is an ``Obj`` of ``F`` fields (kind, required, nullable, integer bounds).
``check_object`` first runs a pass that only answers "valid?" (a function per
shape, written from the table: ``_validator``) and allocates nothing but the
bound ``get`` of each object; only when that fails does it walk again, building
locations, to report FastAPI style items ``{"loc", "msg", "type"}`` with
pydantic's messages and types. Used for the FlowGraph table (``flow_table``)
and the per-kind node configs (``node_config``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

Loc = tuple[str | int, ...]
ErrorItem = dict[str, Any]

# Value kinds of the table.
STR: Final = "str"
NUM: Final = "float"
INT: Final = "int"
BOOL: Final = "bool"
ANY: Final = "any"
DICT: Final = "dict"  # dict[str, Any]


@dataclass(frozen=True, slots=True)
class Lit:
    values: tuple[str, ...]

    @property
    def message(self) -> str:
        quoted = [f"'{v}'" for v in self.values]
        if len(quoted) == 1:
            return f"Input should be {quoted[0]}"
        return f"Input should be {', '.join(quoted[:-1])} or {quoted[-1]}"


@dataclass(frozen=True, slots=True)
class ListOf:
    item: Kind


@dataclass(frozen=True, slots=True)
class F:
    """One field: name, kind, required?, nullable?, integer bounds."""

    name: str
    kind: Kind
    required: bool = False
    nullable: bool = True
    ge: int | None = None
    le: int | None = None


# Fast-path codes of a field (see ``_check_obj`` and ``_validator``).
_C_STR, _C_NUM, _C_BOOL, _C_LIT, _C_OBJ, _C_OTHER, _C_LIST_OBJ, _C_DICT, _C_ANY_LIST = range(9)


def _code(kind: Kind) -> int:
    if isinstance(kind, Lit):
        return _C_LIT
    if isinstance(kind, Obj):
        return _C_OBJ
    if isinstance(kind, ListOf):
        if isinstance(kind.item, Obj):
            return _C_LIST_OBJ
        return _C_ANY_LIST if kind.item == ANY else _C_OTHER
    return {STR: _C_STR, NUM: _C_NUM, BOOL: _C_BOOL, DICT: _C_DICT}.get(kind, _C_OTHER)


@dataclass(frozen=True, slots=True)
class Obj:
    fields: tuple[F, ...]

    @property
    def plan(self) -> tuple[tuple[str, bool, bool, int, Kind, F], ...]:
        return tuple(
            (f.name, f.required, f.nullable, _code(f.kind), f.kind, f) for f in self.fields
        )


Kind = str | Lit | ListOf | Obj


_SIMPLE_MESSAGES: Final = {
    STR: ("string_type", "Input should be a valid string"),
    NUM: ("float_type", "Input should be a valid number"),
    INT: ("int_type", "Input should be a valid integer"),
    BOOL: ("bool_type", "Input should be a valid boolean"),
    DICT: ("dict_type", "Input should be a JSON object"),
}


def report(out: list[ErrorItem], loc: Loc, kind: str, msg: str) -> None:
    out.append({"loc": list(loc), "msg": msg, "type": kind})


def _is_number(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            return False
        return True
    return False


_MAX_FLOAT_INT: Final = 2**1023


def _fits_float(value: int) -> bool:
    if -_MAX_FLOAT_INT < value < _MAX_FLOAT_INT:
        return True
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _check_value(
    value: object, kind: Kind, loc: Loc, out: list[ErrorItem], field: F | None
) -> None:
    """Slow path: one value against ``kind``; ``loc`` is the value's location."""
    if kind == ANY:
        return
    if isinstance(kind, Obj):
        if isinstance(value, dict):
            _check_obj(value, kind, loc, out)
        else:
            report(out, loc, "model_type", "Input should be a JSON object")
        return
    if isinstance(kind, ListOf):
        if not isinstance(value, list):
            report(out, loc, "list_type", "Input should be a valid list")
            return
        item = kind.item
        if item == ANY:
            return
        if isinstance(item, Obj):
            for index, element in enumerate(value):
                if type(element) is dict:
                    _check_obj(element, item, (*loc, index), out)
                else:
                    _check_value(element, item, (*loc, index), out, None)
            return
        for index, element in enumerate(value):
            _check_value(element, item, (*loc, index), out, None)
        return
    if isinstance(kind, Lit):
        if not (isinstance(value, str) and value in kind.values):
            report(out, loc, "literal_error", kind.message)
        return
    ok: bool
    if kind == STR:
        ok = isinstance(value, str)
    elif kind == NUM:
        ok = isinstance(value, float) or (
            isinstance(value, int) and not isinstance(value, bool) and _fits_float(value)
        )
    elif kind == INT:  # JSON has one number type: 5.0 is the integer 5 (as in JSON Schema)
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    elif kind == BOOL:
        ok = isinstance(value, bool)
    elif isinstance(value, dict):  # DICT
        ok = True
        for key in value:
            if not isinstance(key, str):
                report(out, (*loc, str(key), "[key]"), *_SIMPLE_MESSAGES[STR])
    else:
        ok = False
    if not ok:
        report(out, loc, *_SIMPLE_MESSAGES[kind])
        return
    if field is not None and isinstance(value, (int, float)):
        if field.ge is not None and value < field.ge:
            report(
                out,
                loc,
                "greater_than_equal",
                f"Input should be greater than or equal to {field.ge}",
            )
        elif field.le is not None and value > field.le:
            report(out, loc, "less_than_equal", f"Input should be less than or equal to {field.le}")


_PLANS: dict[int, tuple[tuple[str, bool, bool, int, Kind, F], ...]] = {}


def _check_obj(value: dict[Any, Any], spec: Obj, loc: Loc, out: list[ErrorItem]) -> None:
    for name, required, nullable, code, kind, field in _plan(spec):
        if name not in value:
            if required:
                report(out, (*loc, name), "missing", "Field required")
            continue
        item = value[name]
        if item is None and nullable:
            continue
        # Fast paths for exact JSON types; anything else takes the slow path.
        if code == _C_STR:
            if type(item) is str:
                continue
        elif code == _C_NUM:
            t = type(item)
            if t is float or (t is int and -_MAX_FLOAT_INT < item < _MAX_FLOAT_INT):
                continue
        elif code == _C_LIT:
            if type(item) is str and item in kind.values:  # type: ignore[union-attr]
                continue
        elif code == _C_OBJ:
            if type(item) is dict:
                _check_obj(item, kind, (*loc, name), out)  # type: ignore[arg-type]
                continue
        elif code == _C_BOOL and type(item) is bool:
            continue
        _check_value(item, kind, (*loc, name), out, field)


def _plan(spec: Obj) -> tuple[tuple[str, bool, bool, int, Kind, F], ...]:
    plan = _PLANS.get(id(spec))
    if plan is None:
        plan = _PLANS[id(spec)] = spec.plan
    return plan


_MISSING: Final = object()
_VALIDATORS: dict[int, Callable[[dict[Any, Any]], bool]] = {}


def _other_ok(item: object, kind: Kind, field: F) -> bool:
    """The slow path's verdict on one value of a kind with no fast check (INT, lists of
    scalars)."""
    probe: list[ErrorItem] = []
    _check_value(item, kind, (), probe, field)
    return not probe


def _validator(spec: Obj) -> Callable[[dict[Any, Any]], bool]:
    """``spec``'s yes/no check as one straight-line function, written from the table once
    per shape (what a loop over the table's fields would do, without the loop: each field's
    name, kind and flags are constants in its code). Only when it says False does
    ``_check_obj`` walk the value to locate and explain the errors."""
    found = _VALIDATORS.get(id(spec))
    if found is not None:
        return found
    names: dict[str, object] = {"_MISSING": _MISSING, "_MAX": _MAX_FLOAT_INT,
                                "_other_ok": _other_ok}
    lines = ["def ok(value):", "    get = value.get"]
    for n, (name, required, nullable, code, kind, field) in enumerate(_plan(spec)):
        names[f"k{n}"], names[f"f{n}"] = kind, field
        if required:
            lines += [f"    x = get({name!r}, _MISSING)", "    if x is _MISSING:",
                      "        return False"]
            guard = "x is not None" if nullable else ""
        elif nullable:
            lines.append(f"    x = get({name!r})")
            guard = "x is not None"
        else:
            lines.append(f"    x = get({name!r}, _MISSING)")
            guard = "x is not _MISSING"
        pad = "    " if not guard else "        "
        if guard:
            lines.append(f"    if {guard}:")
        if code == _C_STR:
            test = ["type(x) is not str"]
        elif code == _C_NUM:
            test = ["not (type(x) is float or (type(x) is int and -_MAX < x < _MAX))"]
        elif code == _C_LIT:
            names[f"v{n}"] = frozenset(kind.values)  # type: ignore[union-attr]
            test = [f"type(x) is not str or x not in v{n}"]
        elif code == _C_OBJ:
            names[f"o{n}"] = _validator(kind)  # type: ignore[arg-type]
            test = [f"type(x) is not dict or not o{n}(x)"]
        elif code == _C_LIST_OBJ:
            names[f"o{n}"] = _validator(kind.item)  # type: ignore[union-attr,arg-type]
            lines += [f"{pad}if type(x) is not list:", f"{pad}    return False",
                      f"{pad}for e in x:",
                      f"{pad}    if type(e) is not dict or not o{n}(e):",
                      f"{pad}        return False"]
            test = []
        elif code == _C_DICT:
            lines += [f"{pad}if type(x) is not dict:", f"{pad}    return False",
                      f"{pad}for e in x:", f"{pad}    if type(e) is not str:",
                      f"{pad}        return False"]
            test = []
        elif code == _C_BOOL:
            test = ["type(x) is not bool"]
        elif code == _C_ANY_LIST:
            test = ["type(x) is not list"]
        else:
            test = [f"not _other_ok(x, k{n}, f{n})"]
        for condition in test:
            lines += [f"{pad}if {condition}:", f"{pad}    return False"]
    lines.append("    return True")
    # Built from the table above, never from input; named so profiles can tell it apart.
    exec(compile("\n".join(lines), f"<check of {__name__}>", "exec"), names)  # noqa: S102
    made: Callable[[dict[Any, Any]], bool] = names["ok"]  # type: ignore[assignment]
    _VALIDATORS[id(spec)] = made
    return made


def check_object(value: object, spec: Obj, loc: Loc) -> list[ErrorItem]:
    """Check one JSON object against ``spec`` (used for per-kind node config)."""
    if type(value) is dict and _validator(spec)(value):
        return []
    out: list[ErrorItem] = []
    if type(value) is dict:
        _check_obj(value, spec, loc, out)
    else:
        _check_value(value, spec, loc, out, None)
    return out
