"""Turn parsed TOML into the typed dataclasses of `app.schema`, collecting every problem.

A small structural binder instead of a validation framework: it reports *all* problems at once,
each as `field.path: message`, so the caller can prefix the file name.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Problem:
    field: str
    message: str


class _Missing:
    pass


_MISSING = _Missing()


def bind(cls: type[T], data: Any, path: str, problems: list[Problem]) -> T | None:
    """Build `cls` from `data`; append problems and return None where it cannot."""
    value = _bind_value(cls, data, path, problems)
    return typing.cast("T | None", value)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list,):
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin in (dict,):
        return "table"
    if dataclasses.is_dataclass(tp):
        return "table"
    return {str: "string", int: "integer", bool: "boolean", float: "number"}.get(tp, str(tp))


def _bind_value(tp: Any, data: Any, path: str, problems: list[Problem]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if data is None:
            return None
        return _bind_value(args[0], data, path, problems)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if data not in allowed:
            problems.append(Problem(path, f"must be one of {_type_name(tp)}, got {data!r}"))
            return None
        return data
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(data, list):
            problems.append(Problem(path, f"must be a {_type_name(tp)}, got {type(data).__name__}"))
            return None
        return [_bind_value(item_tp, item, f"{path}[{i}]", problems) for i, item in enumerate(data)]
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        if not isinstance(data, dict):
            problems.append(Problem(path, f"must be a table, got {type(data).__name__}"))
            return None
        return {k: _bind_value(val_tp, v, f"{path}.{k}", problems) for k, v in data.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _bind_dataclass(tp, data, path, problems)
    if tp is bool:
        if not isinstance(data, bool):
            problems.append(Problem(path, f"must be a boolean (true/false), got {data!r}"))
            return None
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            problems.append(Problem(path, f"must be an integer, got {data!r}"))
            return None
        return data
    if tp is str:
        if not isinstance(data, str):
            problems.append(Problem(path, f"must be a string, got {data!r}"))
            return None
        return data
    raise TypeError(f"unsupported schema type {tp!r} at {path}")  # programming error, not input


def _bind_dataclass(cls: type, data: Any, path: str, problems: list[Problem]) -> Any:
    prefix = f"{path}." if path else ""
    if not isinstance(data, dict):
        problems.append(Problem(path or "<root>", f"must be a table, got {type(data).__name__}"))
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields or key == "source":
            known = ", ".join(sorted(k for k in fields if k != "source"))
            problems.append(Problem(f"{prefix}{key}", f"unknown field (known fields: {known})"))
    kwargs: dict[str, Any] = {}
    ok = True
    for name, f in fields.items():
        if name == "source":
            continue
        raw = data.get(name, _MISSING)
        if isinstance(raw, _Missing):
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            if not has_default:
                problems.append(Problem(f"{prefix}{name}", "required field is missing"))
                ok = False
            continue
        before = len(problems)
        value = _bind_value(hints[name], raw, f"{prefix}{name}", problems)
        if len(problems) > before:
            ok = False
        kwargs[name] = value
    if not ok:
        return None
    return cls(**kwargs)
