"""Issue 18: no configuration string becomes a live Terraform expression (docs/adr/0018).

Every string slot of the schema - found by walking the pydantic models, never listed here - gets
`${file("/proc/self/environ")}` and `%{ if true }x%{ endif }` planted into it, one at a time. Where
validation refuses the value, the refusal must name the file and that field. Everything accepted
is then planted at once and synthesized through the app's own composition root; the synthesized
JSON may hold the planted text only as escaped literals (`$${`, `%%{`), while the expressions code
writes (references, `Fn.*`) stay live.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import tomllib
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union

import pytest
from pydantic import BaseModel

from app.config import DEFAULT_CONFIG_DIR, ConfigError, parse_environment, safe_field
from app.literals import SynthesisConfig, for_synthesis, terraform_literal
from app.main import build_app
from app.schema import EnvironmentConfig
from modules.cdk import App
from stacks.state import StateStack
from tests.unit.app.test_config_database import existing_network

FILE = '${file("/proc/self/environ")}'
DIRECTIVE = "%{ if true }x%{ endif }"
COMPACT_DIRECTIVE = "%{if(true)}x%{endif}"  # the same without whitespace, which many fields refuse
VARIANTS = (0, 1)
KEY, VALUE = "<key>", "<value>"  # path steps: a table key itself / the value of a table entry
Step = str | int
SlotPath = tuple[Step, ...]


def planted(n: int, variant: int = 0) -> str:
    # The tag says which slot a text in the JSON came from; it starts like a path and a name.
    return f"/x-F{n}-{FILE}-{COMPACT_DIRECTIVE if variant else DIRECTIVE}"


# --- the schema's string slots, by introspection ------------------------------------------------


def _unwrap(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        assert len(args) == 1, f"teach this test the union {tp}"
        return args[0]
    return tp


def slots(model: type[BaseModel], prefix: SlotPath = ()) -> Iterator[SlotPath]:
    for name, info in model.model_fields.items():
        if info.exclude:  # not part of the file (`source`)
            continue
        yield from _slots_of(info.annotation, (*prefix, name))


def _slots_of(tp: Any, path: SlotPath) -> Iterator[SlotPath]:
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if tp is str:
        yield path
    elif origin is Literal or tp in (int, bool, float):
        return  # fixed words or numbers: nothing a file can smuggle an expression into
    elif origin is list:
        yield from _slots_of(typing.get_args(tp)[0], (*path, 0))
    elif origin is dict:
        key_type, value_type = typing.get_args(tp)
        yield from _slots_of(key_type, (*path, KEY))
        yield from _slots_of(value_type, (*path, VALUE))
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        yield from slots(tp, path)
    else:
        raise AssertionError(f"teach this test (and app.literals) the type {tp} at {path}")


def _container_type(model: type[BaseModel], path: SlotPath) -> Any:
    """The annotation at PATH (steps into models, lists and dicts)."""
    tp: Any = model
    for step in path:
        tp = _unwrap(tp)
        if isinstance(step, str) and step not in (KEY, VALUE):
            tp = tp.model_fields[step].annotation
        elif step == 0:
            tp = typing.get_args(tp)[0]
        elif step == VALUE:
            tp = typing.get_args(tp)[1]
    return _unwrap(tp)


def _minimal(tp: Any) -> Any:
    """A small value of type TP for a container the base file does not have."""
    tp = _unwrap(tp)
    if tp is str:
        return "reports"
    if typing.get_origin(tp) is list:
        return []
    if typing.get_origin(tp) is dict:
        return {}
    assert isinstance(tp, type) and issubclass(tp, BaseModel), tp
    return {n: _minimal(f.annotation) for n, f in tp.model_fields.items() if f.is_required()}


class NotHere(Exception):
    """The slot belongs to a section this base file does not use."""


def _required(path: SlotPath) -> bool:
    parent = _container_type(EnvironmentConfig, path[:-1])
    info = parent.model_fields[path[-1]]
    return bool(info.is_required() or info.default_factory is not None)


def plant(data: dict[str, Any], path: SlotPath, text: str) -> str:
    """Put TEXT at PATH in DATA (creating what is missing); returns the loader's field path."""
    node: Any = data
    shown = ""
    for i, step in enumerate(path):
        last = i == len(path) - 1
        inner = _container_type(EnvironmentConfig, path[: i + 1])
        if step == KEY:
            assert last
            value = (
                node.pop(next(iter(node))) if node else _minimal(_container_type(EnvironmentConfig, (*path[:i], VALUE)))
            )
            node[text] = value
            return shown  # a refused key is reported on its table (the key itself is not echoed)
        if step == VALUE:
            if not node:
                node["PLANTED"] = _minimal(inner)
            key = next(iter(node))
            shown += f".{key}"
            if last:
                node[key] = text
                return shown
            node = node[key]
        elif step == 0:
            if not node:
                node.append(_minimal(inner))
            shown += "[0]"
            if last:
                node[0] = text
                return shown
            node = node[0]
        else:
            assert isinstance(step, str)
            shown += f".{step}" if shown else step
            if last:
                node[step] = text
                return shown
            if node.get(step) is None:
                if isinstance(inner, type) and issubclass(inner, BaseModel) and not _required(path[: i + 1]):
                    raise NotHere  # an optional section switched off in this base (network.existing)
                node[step] = _minimal(inner)
            node = node[step]
    raise AssertionError(path)


# --- the base files: every slot is planted into each ---------------------------------------------


def _toml(name: str) -> dict[str, Any]:
    return tomllib.loads((DEFAULT_CONFIG_DIR / f"{name}.toml").read_text())


def _existing_network() -> dict[str, Any]:
    """dev with an existing VPC: the `network.existing` slots are real there."""
    data = _toml("dev")
    subnets = {f"subnet-0000000000000000{c}": f"eu-west-1{'a' if c in 'ace' else 'b'}" for c in "abcdef"}
    data["network"] = existing_network(subnets)
    return data


BASES = {
    "prod": lambda: _toml("prod"),  # production rules, self-hosted Vault, TLS load balancer
    "local": lambda: _toml("local"),  # local runner (migration.local_dir), emulator, external Vault
    "dev": _existing_network,  # an existing VPC
}
ALL_SLOTS = list(slots(EnvironmentConfig))


def test_the_walk_finds_the_fields_the_issue_names() -> None:
    found = {".".join(str(s) for s in p) for p in ALL_SLOTS}
    for expected in ("services.<value>.path_patterns.0", "services.<value>.environment.<value>",
                     "services.<value>.environment.<key>", "services.<value>.health_check_path",
                     "services.<value>.image", "migration.local_dir", "vault.image", "services.<key>"):  # fmt: skip
        assert expected in found
    assert len(found) > 40  # every str of every model, not a sample


class Outcome:
    def __init__(self, base: str, variant: int):
        self.base, self.variant = base, variant
        self.accepted: dict[int, str] = {}  # slot number -> loader field path
        self.rejected: dict[int, str] = {}
        self.not_here: set[int] = set()


def _try_each_slot(base: str, variant: int) -> Outcome:
    out = Outcome(base, variant)
    source = f"app/environments/{base}.toml"
    for n, path in enumerate(ALL_SLOTS):
        data = copy.deepcopy(BASES[base]())
        try:
            field = plant(data, path, planted(n, variant))
        except NotHere:
            out.not_here.add(n)
            continue
        try:
            parse_environment(data, source, expected_name=base)
        except ConfigError as exc:
            # Equally harmless - if the refusal says where: the file, and this field (or a part of it).
            assert exc.source == source and str(exc).startswith(f"{source}: "), str(exc)
            named = safe_field(field)
            assert any(_names(p.field, named) for p in exc.problems), (
                f"{base}: planting {field} was refused, but not naming it: {exc}"
            )
            out.rejected[n] = field
        else:
            out.accepted[n] = field
    return out


def _names(reported: str, field: str) -> bool:
    """REPORTED is FIELD, a part of it, or the array holding it (`x` for `x[0]`)."""
    return reported == field or reported.startswith((f"{field}.", f"{field}[")) or field.startswith(f"{reported}[")


@pytest.fixture(scope="module")
def outcomes() -> dict[tuple[str, int], Outcome]:
    return {(base, v): _try_each_slot(base, v) for base in BASES for v in VARIANTS}


def test_every_slot_is_planted_in_some_base(outcomes: dict[tuple[str, int], Outcome]) -> None:
    missing = set.intersection(*(o.not_here for o in outcomes.values()))
    assert not missing, [ALL_SLOTS[n] for n in sorted(missing)]


def _strings(doc: Any) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
        if doc[:1] in "[{":  # a JSON document inside a string (container definitions, policies)
            with contextlib.suppress(ValueError):
                yield from _strings(json.loads(doc))
    elif isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from _strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _strings(v)


def live_introducers(text: str) -> list[str]:
    """What Terraform's template scanner starts evaluating in TEXT: each `${`/`%{` not escaped by
    doubling its first character, with what follows it."""
    found, i = [], 0
    while i < len(text):
        if text.startswith(("$${", "%%{"), i):
            i += 3
        elif text.startswith(("${", "%{"), i):
            found.append(text[i : i + 60])
            i += 2
        else:
            i += 1
    return found


@pytest.fixture(scope="module")
def planted_synth(
    outcomes: dict[tuple[str, int], Outcome], tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, int], list[Any]]:
    """(base, variant) -> the synthesized documents with every accepted slot planted at once."""
    docs: dict[tuple[str, int], list[Any]] = {}
    for (base, variant), out in outcomes.items():
        data = copy.deepcopy(BASES[base]())
        for n in out.accepted:
            plant(data, ALL_SLOTS[n], planted(n, variant))
        env = parse_environment(data, f"app/environments/{base}.toml", expected_name=base)
        outdir = tmp_path_factory.mktemp(f"planted-{base}-{variant}")
        build_app([env], str(outdir)).synth()
        docs[(base, variant)] = [json.loads(p.read_text()) for p in sorted(outdir.glob("stacks/*/cdk.tf.json"))]
    return docs


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("base", list(BASES))
def test_planted_strings_reach_the_json_only_as_literals(
    base: str, variant: int, outcomes: dict[tuple[str, int], Outcome], planted_synth: dict[tuple[str, int], list[Any]]
) -> None:
    out = outcomes[(base, variant)]
    strings = [s for doc in planted_synth[(base, variant)] for s in _strings(doc)]
    live = [x for s in strings for x in live_introducers(s)]
    # Nothing planted is live: no file(), no directive, no tag after an unescaped introducer.
    assert not [x for x in live if x.startswith("%{") or "file(" in x or re.search(r"-F\d+-", x)], live
    # ... while code's own expressions are untouched (references between resources stay live).
    assert any(x.startswith("${aws_") for x in live)
    # Every planted text that reached the JSON is there as the escaped literal, in full.
    text = "\n".join(strings)
    reached = {int(n) for n in re.findall(r"/x-F(\d+)-", text)}
    for n in reached:
        assert terraform_literal(planted(n, variant)) in text, out.accepted.get(n)
    assert reached <= set(out.accepted)


def _reached(
    outcomes: dict[tuple[str, int], Outcome], planted_synth: dict[tuple[str, int], list[Any]], key: tuple[str, int]
) -> set[str]:
    text = "\n".join(s for doc in planted_synth[key] for s in _strings(doc))
    return {outcomes[key].accepted[int(n)] for n in re.findall(r"/x-F(\d+)-", text)}


def test_the_fields_of_the_reproductions_were_accepted_and_synthesized(
    outcomes: dict[tuple[str, int], Outcome], planted_synth: dict[tuple[str, int], list[Any]]
) -> None:
    """Not vacuous: the issue's reproductions pass validation and reach the JSON (escaped)."""
    prod = _reached(outcomes, planted_synth, ("prod", 0)) | _reached(outcomes, planted_synth, ("prod", 1))
    for field in ("services.app.path_patterns[0]", "services.app.environment.PLANTED",
                  "services.app.health_check_path"):  # fmt: skip
        assert field in prod, sorted(prod)
    assert "migration.local_dir" in _reached(outcomes, planted_synth, ("local", 0))


def test_the_copy_is_deep_and_the_raw_configuration_stays_raw() -> None:
    data = _toml("local")
    plant(data, ("services", VALUE, "environment", VALUE), planted(1))
    plant(data, ("migration", "local_dir"), planted(2))
    raw = parse_environment(data, "local.toml", expected_name="local")
    safe = for_synthesis(raw)
    assert isinstance(safe, SynthesisConfig) and not isinstance(raw, SynthesisConfig)
    assert raw.migration.local_dir == planted(2)  # what platformctl uses at run time
    assert safe.migration.local_dir == terraform_literal(planted(2))
    assert safe.services["app"].environment["PLANTED"] == terraform_literal(planted(1))
    assert safe.services["app"].environment is not raw.services["app"].environment
    assert for_synthesis(safe) is safe  # never escaped twice
    assert safe.model_dump() == {**for_synthesis(raw).model_dump()}


def test_a_stack_refuses_the_raw_configuration(tmp_path: Path) -> None:
    raw = parse_environment(_toml("dev"), "dev.toml", expected_name="dev")
    with pytest.raises(TypeError, match="for_synthesis"):
        StateStack(App(outdir=str(tmp_path)), raw)  # type: ignore[arg-type]


@pytest.mark.parametrize("marker", ["${TfToken[TOKEN.1]}", "#{TfToken[TOKEN.2]}", "&{TfToken[TOKEN.3]}"])
def test_cdktf_token_markers_are_refused_in_every_slot(marker: str) -> None:
    """cdktf would swap these for references (no Terraform escape reaches it): refused, by field."""
    for base, make in BASES.items():
        source = f"app/environments/{base}.toml"
        for path in ALL_SLOTS:
            data = copy.deepcopy(make())
            try:
                field = plant(data, path, f"/x{marker}")
            except NotHere:
                continue
            with pytest.raises(ConfigError) as exc:
                parse_environment(data, source, expected_name=base)
            assert str(exc.value).startswith(f"{source}: ")
            assert any(_names(p.field, safe_field(field)) for p in exc.value.problems), (field, str(exc.value))


def test_the_boundary_refuses_a_token_marker_that_skipped_validation() -> None:
    raw = parse_environment(_toml("local"), "local.toml", expected_name="local")
    sneaked = raw.model_copy(
        update={"migration": raw.migration.model_copy(update={"local_dir": "#{TfToken[TOKEN.2]}"})}
    )
    with pytest.raises(ValueError, match="token marker"):
        for_synthesis(sneaked)
