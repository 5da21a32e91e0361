"""The one door from configuration to synthesis: every configured string becomes a Terraform literal.

Terraform evaluates `${...}` and `%{...}` in every string of the synthesized JSON, so a string from
an environment file that reached a construct verbatim could call `file()` or break out of a
local-exec command (issue 18, docs/adr/0018). `for_synthesis` returns a deep copy of the validated
configuration in which every `str` - model fields, list items, dict keys and values, at any depth,
found by walking the values rather than by naming fields - is escaped (`${` -> `$${`,
`%{` -> `%%{`), which Terraform reads back as exactly the original text. Stacks accept only its
result (`SynthesisConfig`, checked by mypy and at run time in `stacks.base.PlatformStack`), so
there is no way to hand them a raw string.

One kind of text cannot be made literal this way: cdktf's own token markers (`${TfToken[...]}`,
`#{TfToken[...]}`, `&{TfToken[...]}`), which cdktf swaps for references while it synthesizes, in
any string it is handed. `marker_problems` refuses them at validation, naming file and field, and
`for_synthesis` refuses them again, so none can reach a construct.

Only what enters the synthesized JSON goes through here: `platformctl` (scripts/) loads the
environment file itself and keeps using the raw values, and expressions that code builds (cdktf
tokens, `Fn.*`) never pass through this function.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from app.loader import Problem
from app.schema import EnvironmentConfig

__all__ = ["SynthesisConfig", "for_synthesis", "marker_problems", "terraform_literal"]

# cdktf's token marker (modules/cdk.py's library, tokens/private/encoding.js): `?{TfToken[<key>]}`.
TOKEN_MARKER = "TfToken["


class SynthesisConfig(EnvironmentConfig):
    """An `EnvironmentConfig` whose strings are all Terraform literals; only `for_synthesis` makes one."""


def terraform_literal(text: str) -> str:
    """TEXT as a Terraform template that evaluates to TEXT itself.

    Doubling the introducer is the whole escape language of Terraform templates, and it is exact:
    `$${` reads as `${` and `%%{` as `%{`, however many `$`/`%` precede (checked against the real
    `terraform` in tests/integration/app/test_config_literals_plan.py)."""
    return text.replace("${", "$${").replace("%{", "%%{")


def marker_problems(env: EnvironmentConfig) -> list[Problem]:
    """Every configured string that holds a cdktf token marker, by field path."""
    return [
        Problem(path, "must not contain 'TfToken[' (cdktf would read it as a reference)")
        for path, text in _strings(env, "")
        if TOKEN_MARKER in text
    ]


def for_synthesis(env: EnvironmentConfig) -> SynthesisConfig:
    """A deep copy of ENV with every string escaped; ENV itself is left as it is."""
    if isinstance(env, SynthesisConfig):
        return env  # escaping twice would put a visible `$` into the literal
    fields = {name: _escaped(getattr(env, name)) for name in type(env).model_fields}
    return SynthesisConfig.model_construct(_fields_set=set(env.model_fields_set), **fields)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field path, text) of every string in VALUE, keys included, in the loader's path style."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _strings(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k, path)  # a key is reported on its table
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        if TOKEN_MARKER in value:  # refused by validation; never handed to cdktf
            raise ValueError("a configuration string holds a cdktf token marker (see marker_problems)")
        return terraform_literal(value)
    if isinstance(value, BaseModel):
        # Every declared field, found by introspection: no list of names kept by hand.
        return value.model_copy(update={name: _escaped(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_escaped(v) for v in value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    # A new kind of value in the schema must be taught here, not silently passed through raw.
    raise TypeError(f"cannot make a Terraform literal of a {type(value).__name__} configuration value")
