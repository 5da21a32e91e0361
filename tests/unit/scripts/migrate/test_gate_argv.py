"""The gate's command line and the `platformctl migrate` CLI agree, without running Terraform.

The service stack synthesizes `platformctl migrate run …` / `verify-rollout …` into local-exec
steps from app/contracts/gate.py; the click commands declare their options from the same tables.
Here the synthesized argv of every environment is parsed by the real commands' parsers: a renamed
or dropped option, on either side, fails this instead of the first deploy.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click
import pytest

from app.contracts import gate
from scripts.migrate.cli import TIMEOUT_ENV, migrate
from scripts.platformctl import cli
from tests.helpers.synth import Synth

REPO = Path(__file__).resolve().parents[4]
ENVIRONMENTS = ["prod", "staging", "dev", "local"]


@pytest.fixture(scope="module")
def root() -> click.Group:
    from scripts.commands import register_all

    register_all(cli)
    return cli


def steps(s: Synth, env: str) -> dict[str, list[str]]:
    """construct path -> argv (`interpreter` + `command`, as local-exec runs it) of every gate step."""
    found = {}
    for body in s.resources(f"{env}-service", "terraform_data").values():
        (prov,) = body["provisioner"]
        step = prov["local-exec"]
        found[body["//"]["metadata"]["path"]] = [*step["interpreter"], step["command"]]
    return found


def parse(root: click.Group, argv: list[str]) -> tuple[click.Command, dict[str, Any]]:
    """Resolve argv through `platformctl`'s command tree and parse it (nothing runs)."""
    assert argv[0] == gate.PLATFORMCTL
    command: click.Command = root
    args = argv[1:]
    while isinstance(command, click.Group):
        command, args = command.commands[args[0]], args[1:]
    return command, command.make_context(str(command.name), list(args)).params


def test_platformctl_is_the_console_script_the_gate_calls() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[gate.PLATFORMCTL] == "scripts.platformctl:main"


@pytest.mark.parametrize(
    ("name", "options"), [(gate.RUN, gate.RUN_OPTIONS), (gate.VERIFY_ROLLOUT, gate.VERIFY_OPTIONS)]
)
def test_every_declared_gate_option_is_an_option_of_the_command(name: str, options: dict[str, str]) -> None:
    command = migrate.commands[name]
    declared = {p.name: p.opts for p in command.params if isinstance(p, click.Option)}
    for param, flag in options.items():
        assert param in declared, f"`migrate {name}` has no option for {param}"
        assert flag in declared[param], f"`migrate {name}` spells {param} {declared[param]}, the gate {flag}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_synthesized_gate_parses_as_migrate_run(
    synthesized: Synth, root: click.Group, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    argv = steps(synthesized, env)[f"{env}-service/migration/gate"]
    command, params = parse(root, argv)
    assert command is migrate.commands[gate.RUN]
    assert params["command"] == ()  # no stray positional swallowed as the migration's command
    assert params["environment"] == env
    assert params["service"] == f"{env}-app"
    if params["local"]:
        assert params["cwd"] == Path("examples/webapp")
        assert params["cluster"] is None and params["task_definition"] is None
    else:
        assert params["task_definition"].startswith("${aws_ecs_task_definition.migration-task-definition")
        assert params["container"] == "app"
        assert params["cluster"].startswith("${aws_ecs_cluster.")
        assert "terraform_remote_state" in params["subnets"]
        assert "migration-client-sg" in params["security_groups"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_synthesized_rollout_check_parses_as_verify_rollout(
    synthesized: Synth, root: click.Group, env: str
) -> None:
    checks = {p: a for p, a in steps(synthesized, env).items() if "/migration/rollout-check-" in p}
    assert bool(checks) == (env != "local")  # the emulator never rolls a deployment forward: no check
    for path, argv in checks.items():
        service = path.rsplit("rollout-check-", 1)[1]
        command, params = parse(root, argv)
        assert command is migrate.commands[gate.VERIFY_ROLLOUT]
        assert params["service"] == f"{env}-{service}"
        assert params["task_definition"].startswith(f"${{aws_ecs_task_definition.{service}-task-definition")
        assert params["timeout_s"] == gate.DEFAULT_ROLLOUT_TIMEOUT_S


def test_a_misspelled_gate_option_fails_at_synthesis_not_at_deploy() -> None:
    with pytest.raises(ValueError, match="declares no option subnet"):
        gate.run_argv(service="prod-app", subnet="subnet-a")
