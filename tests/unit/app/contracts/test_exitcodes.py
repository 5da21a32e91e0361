"""The one exit-code table (ADR 0019): declared once, one meaning per number, printed and documented
from the same source, and no command exits with a number the table does not declare."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import scripts
from app.contracts import exitcodes
from scripts.platformctl import _register, cli

REPO = Path(__file__).resolve().parents[4]
DOC = REPO / "docs" / "exit-codes.md"


@pytest.fixture(scope="module")
def root() -> click.Group:
    if "ci" not in cli.commands:
        _register()
    return cli


def test_no_number_has_two_meanings() -> None:
    codes = [c.code for c in exitcodes.TABLE]
    names = [c.name for c in exitcodes.TABLE]
    assert len(codes) == len(set(codes)) and len(names) == len(set(names))
    # The signal range (128+N) is apart from every single code, and no code is 2 by accident of click.
    assert all(0 <= code < exitcodes.SIGNAL_BASE for code in codes)
    assert exitcodes.MEANINGS[exitcodes.CHANGES].startswith("changes present (Terraform-compatible")
    assert exitcodes.USAGE == 64 != exitcodes.CHANGES


def test_the_command_prints_exactly_the_documented_table(root: click.Group) -> None:
    runner = CliRunner()
    markdown = runner.invoke(root, ["exit-codes", "--markdown"])
    assert markdown.exit_code == 0, markdown.output
    assert markdown.output == DOC.read_text(), "regenerate: platformctl exit-codes --markdown > docs/exit-codes.md"

    plain = runner.invoke(root, ["exit-codes"])
    assert plain.exit_code == 0
    for c in exitcodes.TABLE:
        assert f"{c.code:>4}  {c.name}" in plain.output and f"| {c.code} | {c.name} |" in DOC.read_text()

    rows = json.loads(runner.invoke(root, ["exit-codes", "--json"]).output)
    assert [r["code"] for r in rows[:-1]] == [c.code for c in exitcodes.TABLE]
    assert rows[-1]["code"] == "128+N"


def _project_modules() -> list[str]:
    found = []
    for info in pkgutil.walk_packages(scripts.__path__, "scripts."):
        if not info.name.startswith(("scripts.localtarget",)):
            found.append(info.name)
    return found


def test_every_code_any_command_uses_is_declared() -> None:
    """Every `exit_code` an error class carries and every code constant of a command is in the table."""
    used: dict[str, int] = {}
    for name in _project_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name:
                code = getattr(value, "exit_code", None)
                if isinstance(code, int):
                    used[f"{name}.{attr}"] = code
            elif attr.isupper() and ("EXIT" in attr or name.endswith("exitcodes")) and isinstance(value, int):
                used[f"{name}.{attr}"] = value
    from scripts.ci.exitcodes import GATE_CODES
    from scripts.rotation.model import ExitCode

    used.update({f"ExitCode.{m.name}": int(m) for m in ExitCode})
    used.update({f"GATE_CODES[{c}]": c for c in GATE_CODES})
    assert len(used) > 30  # the scan found the commands' codes, not nothing
    undeclared = {k: v for k, v in used.items() if v != exitcodes.SIGNAL_BASE and not exitcodes.is_declared(v)}
    assert undeclared == {}


def _bare_exit_numbers(path: Path) -> list[str]:
    """`sys.exit(N)`, `SystemExit(N)` and `exit_code = N` with a literal N other than 0."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        value = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"exit", "SystemExit"}:
                value = node.args[0]
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "exit_code" for t in node.targets):
            value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, int) and value.value != 0:
            found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_no_command_exits_with_a_bare_number() -> None:
    files = [p for p in (REPO / "scripts").rglob("*.py") if p.name != "exitcodes.py"]
    files += list((REPO / "app").glob("*.py"))
    assert [hit for p in files for hit in _bare_exit_numbers(p)] == []


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        ["ci", "plan"],  # --env missing
        ["state", "restore", "--bogus"],
        ["migrate", "run"],
        ["secrets", "rotate", "--env", "x", "--no-such-option"],
    ],
)
def test_click_usage_errors_exit_usage_not_2(root: click.Group, argv: list[str]) -> None:
    result = CliRunner().invoke(root, argv)
    assert result.exit_code == exitcodes.USAGE, result.output


def test_a_group_without_a_command_prints_its_help_and_exits_usage(root: click.Group) -> None:
    result = CliRunner().invoke(root, ["state"])
    assert result.exit_code == exitcodes.USAGE
    assert "Commands:" in result.output and "Error:" not in result.output


def test_the_runtime_entry_point_uses_the_same_usage_code() -> None:
    from scripts.runtime.cli import cli as runtime_cli

    assert CliRunner().invoke(runtime_cli, ["secrets", "exec"]).exit_code == exitcodes.USAGE


def test_one_lock_held_for_state_rotation_and_migrations() -> None:
    from scripts.migrate.outcome import MigrationAlreadyRunning
    from scripts.rotation import journal
    from scripts.state import errors

    assert journal.LockHeld is exitcodes.LockHeld and errors.LockHeld is exitcodes.LockHeld
    assert issubclass(MigrationAlreadyRunning, exitcodes.LockHeld)
    assert exitcodes.exit_code_for(MigrationAlreadyRunning("busy")) == exitcodes.LOCKED
    classes = [p for d in ("app", "scripts") for p in (REPO / d).rglob("*.py") if "class LockHeld" in p.read_text()]
    assert classes == [REPO / "app" / "contracts" / "exitcodes.py"]


def test_the_one_mapping_turns_unknown_codes_into_failed() -> None:
    class Odd(Exception):
        exit_code = 42

    assert exitcodes.exit_code_for(Odd()) == exitcodes.FAILED
    assert exitcodes.exit_code_for(ValueError()) == exitcodes.FAILED
    assert exitcodes.exit_code_for(exitcodes.LockHeld()) == exitcodes.LOCKED


def test_the_contract_layer_imports_only_the_standard_library() -> None:
    """The table and the names sit in the contract layer (docs/adr/0020): anything may import them,
    a container image included, so they import nothing but the standard library and each other."""
    for path in sorted((REPO / "app" / "contracts").glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        outside = {m for m in imported if not m.startswith("app.contracts")}
        assert {m.split(".")[0] for m in outside} <= set(sys.stdlib_module_names) | {"__future__"}, path
