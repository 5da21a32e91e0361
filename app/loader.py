"""Bind parsed TOML to `app.schema` with pydantic, reporting every problem at once.

Pydantic collects all errors of a document; this turns each into a `Problem(field, message)` with
a dotted field path (`services.web.cpu`, `network.public_subnets[0]`) and a message in the
project's words. Input values are echoed only when they cannot be a secret (`shown`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from app.schema import EnvironmentConfig


@dataclasses.dataclass(frozen=True)
class Problem:
    field: str
    message: str


# What a pasted secret tends to look like: PEM blocks, credentials in URLs, names of secrets,
# long unbroken tokens.
_SECRETISH = re.compile(
    r"-----BEGIN|://[^/\s]*:[^/\s]*@|password|passwd|secret|token|private|apikey|api_key|[A-Za-z0-9+/_=-]{32,}",
    re.IGNORECASE,
)
_MAX_SHOWN = 60


def shown(value: Any) -> str:
    """A value for a message: its repr when short and harmless, otherwise a placeholder."""
    if isinstance(value, str) and (_SECRETISH.search(value) or len(value) > _MAX_SHOWN):
        return "<value not shown>"
    if isinstance(value, (dict, list)):
        return f"a {_TOML_TYPE.get(type(value), type(value).__name__)}"
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else "<value not shown>"


_TOML_TYPE = {str: "string", int: "integer", bool: "boolean", float: "number", list: "array", dict: "table"}


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def _known_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model holding the unknown key at `loc` (for the hint)."""
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", {})
        if isinstance(part, str) and part in fields:
            current = _inner_model(fields[part].annotation) or current
        # else: a list index or a table key (a service name): the model stays the same
    return sorted(k for k in getattr(current, "model_fields", {}) if k != "source")


def _inner_model(tp: Any) -> Any:
    """The BaseModel inside `X | None`, `list[X]`, `dict[str, X]` (or None)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in getattr(tp, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _message(err: Any, model: type[BaseModel]) -> str:
    kind = err["type"]
    value = err.get("input")
    got = f", got {shown(value)}"
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return f"unknown field (known fields: {', '.join(_known_fields(model, tuple(err['loc'])))})"
    if kind == "literal_error":
        return f"must be one of {err['ctx']['expected']}{got}"
    if kind == "int_type":
        return f"must be an integer{got}"
    if kind == "bool_type":
        return f"must be a boolean (true/false){got}"
    if kind == "string_type":
        return f"must be a string{got}"
    if kind in ("list_type",):
        return f"must be an array{got}"
    if kind in ("dict_type", "model_type", "dataclass_type"):
        return f"must be a table{got}"
    return f"{err['msg']}{got}"


def bind_environment(data: Any) -> tuple[EnvironmentConfig | None, list[Problem]]:
    """The bound model, or None and every structural problem."""
    problems: list[Problem] = []
    if isinstance(data, dict) and "source" in data:
        problems.append(Problem("source", "unknown field (set by the loader, not the file)"))
        data = {k: v for k, v in data.items() if k != "source"}
    try:
        env = EnvironmentConfig.model_validate(data)
    except ValidationError as exc:
        # include_input stays on for the type name; values pass through `shown` only.
        for err in exc.errors(include_url=False):
            problems.append(Problem(_path(tuple(err["loc"])), _message(err, EnvironmentConfig)))
        return None, problems
    return (None if problems else env), problems
